//! The settings of a `type: sentry_sdk` source: its projects (slug, numeric id, public key),
//! their optional rate limit, and whether events are scrubbed before they are stored. The
//! config loader hands the whole mapping over (its `type` key included) and
//! [`SdkSourceConfig::load`] turns it into [`SdkSourceConfig`], reporting every problem with
//! its line and column; [`unique_project_ids`] checks the ids across all such sources, since
//! the request path (`/api/{id}/envelope/`) names a project by id alone.

use std::collections::BTreeMap;

use herald_core::Secret;
use herald_core::config::{ConfigError, Diagnostics, Location, Node, PublicCredential};
use serde::Deserialize;

/// `sources.<name>` with `type: sentry_sdk`, for example
///
/// ```yaml
/// apps:
///   type: sentry_sdk
///   scrub: true                  # the default
///   rate_limit_per_minute: 600   # for every project without its own; off when absent
///   projects:
///     linebot: { id: 42, public_key: "${LINEBOT_SENTRY_KEY}" }
///     shop: { id: 43, public_key: "${SHOP_SENTRY_KEY}", rate_limit_per_minute: 120 }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkSourceConfig {
    /// The configured source name (`apps` above), which every alert carries as `source`.
    pub name: String,
    /// Whether events are scrubbed as Sentry's server does by default (see [`crate::scrub`]).
    pub scrub: bool,
    /// The projects in the order the file lists them.
    pub projects: Vec<Project>,
}

/// One project of a source: what its SDKs put in their DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The key under `projects:`; alerts carry it as `project`.
    pub slug: String,
    /// The number at the end of the DSN and in `/api/{id}/envelope/`.
    pub id: u64,
    /// The DSN's user part, which authenticates the SDK. herald treats it as a secret, though
    /// a browser SDK's DSN is visible to anyone who loads the page.
    pub public_key: Secret,
    /// Events accepted per minute, the project's own setting or else the source's; `None`
    /// means no limit.
    pub rate_limit_per_minute: Option<u32>,
    /// Where the id is written, for errors about it.
    pub id_at: Location,
}

/// The raw shape, before the checks that need more than serde.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "type", default)]
    _kind: Option<String>,
    #[serde(default = "yes")]
    scrub: bool,
    #[serde(default, deserialize_with = "herald_core::config::number::opt_u64")]
    rate_limit_per_minute: Option<u64>,
    projects: BTreeMap<String, RawProject>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    #[serde(deserialize_with = "herald_core::config::number::u64")]
    id: u64,
    public_key: Secret,
    #[serde(default, deserialize_with = "herald_core::config::number::opt_u64")]
    rate_limit_per_minute: Option<u64>,
}

fn yes() -> bool {
    true
}

/// What a DSN's user part may hold without escaping, and what Sentry's own keys are made of.
fn key_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Shorter keys can be guessed; Sentry's are 32 hex digits.
const MIN_KEY_CHARS: usize = 16;

impl SdkSourceConfig {
    /// Reads `sources.<name>`, reporting at their location: unknown keys, a missing or empty
    /// `projects`, an id that is not a positive whole number or repeats within the source, a
    /// missing or empty public key or one a DSN cannot carry, and a rate limit of 0. A short
    /// public key is a warning. Values are never shown substituted, so a key from the
    /// environment stays out of every message.
    pub fn load(name: &str, node: &Node, diag: &mut Diagnostics) -> Option<SdkSourceConfig> {
        let raw = diag.typed::<Raw>(node)?;
        let projects_at = node.get("projects").unwrap_or(node);
        let at = |slug: &str, key: &str| -> Node {
            let project = projects_at.get(slug).unwrap_or(projects_at);
            project.get(key).unwrap_or(project).clone()
        };
        let mut ok = true;
        if raw.projects.is_empty() {
            diag.error(
                projects_at,
                format!("source \"{name}\" has no projects, so every SDK request would be refused"),
                Some("add one: `projects: { my-app: { id: 1, public_key: \"${MY_APP_SENTRY_KEY}\" } }`".into()),
            );
            ok = false;
        }
        if raw.rate_limit_per_minute == Some(0) {
            diag.error(
                node.get("rate_limit_per_minute").unwrap_or(node),
                format!(
                    "source \"{name}\": rate_limit_per_minute is 0, which would refuse every event"
                ),
                Some("remove the key for no limit, or give the events per minute to accept".into()),
            );
            ok = false;
        }
        let source_limit = raw.rate_limit_per_minute.filter(|n| *n > 0);
        let mut projects = Vec::with_capacity(raw.projects.len());
        // The file's order, not the map's, so messages and `herald dsn` follow the file.
        let order: Vec<String> = projects_at
            .as_map()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|(k, _)| k.scalar_text())
                    .collect()
            })
            .unwrap_or_default();
        let mut seen: BTreeMap<u64, (String, Location)> = BTreeMap::new();
        let mut raw_projects = raw.projects;
        for slug in order {
            let Some(project) = raw_projects.remove(&slug) else {
                continue;
            };
            let id_node = at(&slug, "id");
            if slug.trim().is_empty() {
                diag.error(
                    projects_at.key_node(&slug).unwrap_or(projects_at),
                    format!("source \"{name}\" has a project with an empty name"),
                    Some(
                        "name it by its slug, such as `shop`; alerts carry it as `project`".into(),
                    ),
                );
                ok = false;
            }
            if project.id == 0 {
                diag.error(
                    &id_node,
                    format!("project \"{slug}\" of source \"{name}\" has id 0"),
                    Some("use a positive number; it is the last part of the project's DSN".into()),
                );
                ok = false;
            } else if let Some((other, first)) = seen.get(&project.id) {
                diag.error(
                    &id_node,
                    format!(
                        "project \"{slug}\" of source \"{name}\" has id {}, which project \"{other}\" already has ({first})",
                        project.id
                    ),
                    Some("each project needs its own id: the DSN names a project by its id alone".into()),
                );
                ok = false;
            } else {
                seen.insert(project.id, (slug.clone(), diag.location(&id_node)));
            }
            let key = project.public_key.expose();
            let key_node = at(&slug, "public_key");
            if key.is_empty() {
                diag.error(
                    &key_node,
                    format!("project \"{slug}\" of source \"{name}\" has an empty public_key, so its SDKs could not authenticate"),
                    Some("set it, for example from the environment: public_key: \"${SHOP_SENTRY_KEY}\"; `openssl rand -hex 16` makes one".into()),
                );
                ok = false;
            } else if !key.chars().all(key_char_ok) {
                diag.error(
                    &key_node,
                    format!(
                        "the public_key of project \"{slug}\" of source \"{name}\" ({}) has characters a DSN cannot carry",
                        key_node.shown()
                    ),
                    Some("use letters, digits, - and _ only; `openssl rand -hex 16` makes one".into()),
                );
                ok = false;
            } else if key.chars().count() < MIN_KEY_CHARS {
                diag.warning(
                    &key_node,
                    format!(
                        "the public_key of project \"{slug}\" of source \"{name}\" ({}) is shorter than {MIN_KEY_CHARS} characters, so it can be guessed",
                        key_node.shown()
                    ),
                    Some("`openssl rand -hex 16` makes one as long as Sentry's".into()),
                );
            }
            let limit = match project.rate_limit_per_minute {
                Some(0) => {
                    diag.error(
                        &at(&slug, "rate_limit_per_minute"),
                        format!("project \"{slug}\" of source \"{name}\": rate_limit_per_minute is 0, which would refuse every event"),
                        Some("remove the key for the source's setting (no limit by default), or give the events per minute to accept".into()),
                    );
                    ok = false;
                    None
                }
                Some(n) => Some(n),
                None => source_limit,
            };
            let limit = match limit.map(u32::try_from) {
                None => None,
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => {
                    diag.error(
                        &at(&slug, "rate_limit_per_minute"),
                        format!("project \"{slug}\" of source \"{name}\": rate_limit_per_minute is too large"),
                        Some("remove the key for no limit".into()),
                    );
                    ok = false;
                    None
                }
            };
            projects.push(Project {
                slug,
                id: project.id,
                public_key: project.public_key,
                rate_limit_per_minute: limit,
                id_at: diag.location(&id_node),
            });
        }
        ok.then(|| SdkSourceConfig {
            name: name.to_owned(),
            scrub: raw.scrub,
            projects,
        })
    }

    /// The public keys of `sources.<name>` whose value is written in the config file (see
    /// [`PublicCredential`]): the binary refuses them while herald listens beyond loopback.
    pub fn public_credentials(
        name: &str,
        node: &Node,
        diag: &Diagnostics,
    ) -> Vec<PublicCredential> {
        let Some(projects) = node.get("projects").and_then(Node::as_map) else {
            return vec![];
        };
        projects
            .iter()
            .filter_map(|(slug, project)| {
                let slug = slug.scalar_text()?;
                PublicCredential::find(
                    diag,
                    project,
                    "public_key",
                    &format!("sources.{name}.projects.{slug}.public_key"),
                )
            })
            .collect()
    }

    /// The project a request's path names.
    pub fn project(&self, id: u64) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }
}

/// Checks that no two projects of the given `sentry_sdk` sources share an id (within one
/// source, [`SdkSourceConfig::load`] reports it already): one error per repeat, at the later
/// id, naming the first. The binary calls it over all such sources after loading them.
pub fn unique_project_ids<'a>(
    sources: impl IntoIterator<Item = &'a SdkSourceConfig>,
) -> Vec<ConfigError> {
    let mut seen: BTreeMap<u64, (&str, &str, &Location)> = BTreeMap::new();
    let mut errors = vec![];
    for source in sources {
        for project in &source.projects {
            match seen.get(&project.id) {
                Some((other_source, other, first)) if *other_source != source.name => {
                    errors.push(
                        ConfigError::new(
                            project.id_at.clone(),
                            format!(
                                "project \"{}\" of source \"{}\" has id {}, which project \"{other}\" of source \"{other_source}\" already has ({first})",
                                project.slug, source.name, project.id
                            ),
                        )
                        .with_hint("each project needs its own id across all sources: the DSN names a project by its id alone"),
                    );
                }
                Some(_) => {}
                None => {
                    seen.insert(project.id, (&source.name, &project.slug, &project.id_at));
                }
            }
        }
    }
    errors
}

/// A base URL `herald dsn` cannot make a DSN of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error(
        "\"{0}\" is not a URL (hint: give herald's address as SDKs reach it, such as https://herald.example.com)"
    )]
    NotAUrl(String),
    #[error("\"{0}\" is not an http or https URL (hint: SDKs send over http or https)")]
    Scheme(String),
    #[error(
        "\"{0}\" carries a user name, password, query or fragment (hint: give only scheme, host, port and an optional path)"
    )]
    Extra(String),
}

impl Project {
    /// The DSN an SDK of this project is given: `base_url` (herald as the SDK reaches it,
    /// perhaps with a path prefix behind a proxy) with the public key as user and the project
    /// id as last path segment, such as `https://KEY@herald.example.com/42`. It holds the key,
    /// so it is for printing to the operator who asked, never for a log line.
    pub fn dsn(&self, base_url: &str) -> Result<String, DsnError> {
        let mut url =
            url::Url::parse(base_url).map_err(|_| DsnError::NotAUrl(base_url.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(DsnError::Scheme(base_url.to_owned()));
        }
        if !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(DsnError::Extra(base_url.to_owned()));
        }
        let path = format!("{}/{}", url.path().trim_end_matches('/'), self.id);
        url.set_path(&path);
        // Cannot fail: the URL has a host, and the key is checked at load to need no escaping.
        let _ = url.set_username(self.public_key.expose());
        Ok(url.to_string())
    }
}

#[cfg(test)]
mod tests;
