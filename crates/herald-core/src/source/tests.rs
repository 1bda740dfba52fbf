//! The source registry: a configured source is built by the factory of its `type`, an unknown
//! `type` is a located error listing the registered kinds, and the credentials a factory finds
//! written in the file are collected.

use std::sync::Arc;

use async_trait::async_trait;

use super::*;
use crate::config::{Config, Env, PublicCredential};

/// A source kind that takes nothing; enough to see what the registry does with it.
#[derive(Debug)]
struct Quiet;

#[async_trait]
impl Source for Quiet {
    fn kind(&self) -> &'static str {
        "quiet"
    }
    fn precheck(&self, _: &Head<'_>) -> Result<(), Refusal> {
        Ok(())
    }
    async fn take(&self, _: &Head<'_>, _: &[u8]) -> Result<Intake, Refusal> {
        Ok(Intake::default())
    }
    fn accepted(&self, _: &Head<'_>, _: &[Stored], _: &[Ignored]) -> Answer {
        http::Response::new(Vec::new())
    }
}

struct QuietFactory;

impl SourceFactory for QuietFactory {
    fn kind(&self) -> &'static str {
        "quiet"
    }
    fn endpoints(&self) -> Vec<Endpoint> {
        vec![Endpoint::new("in", http::Method::POST, "/quiet/{source}")]
    }
    fn build(&self, ctx: SourceContext<'_>) -> Option<Arc<dyn Source>> {
        ctx.diag
            .unknown_keys(ctx.node, &["type", "key"], "a quiet source");
        Some(Arc::new(Quiet))
    }
    fn public_credentials(
        &self,
        name: &str,
        node: &Node,
        diag: &Diagnostics,
    ) -> Vec<PublicCredential> {
        PublicCredential::find(diag, node, "key", &format!("sources.{name}.key"))
            .into_iter()
            .collect()
    }
    fn refuse(&self, refusal: &Refusal) -> Answer {
        let mut answer = http::Response::new(refusal.message.clone().into_bytes());
        *answer.status_mut() = refusal.status;
        answer
    }
}

/// Builds the sources of `yaml` with a registry of `quiet` alone: the built names, the errors
/// as `herald check` prints them, and the paths of the credentials written in the file.
fn build(yaml: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let config = Config::parse_lenient(yaml, "h.yaml", &Env::from_pairs(vec![("KEY", "k")]))
        .expect("the YAML parses");
    let mut registry = SourceRegistry::new();
    registry.register(QuietFactory);
    let mut diag = Diagnostics::new("h.yaml");
    let mut public = Vec::new();
    let built = registry.build_all(&config.sources, &mut diag, &mut public);
    let errors = match diag.into_result(()) {
        Ok(_) => vec![],
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    };
    let public = public.iter().map(|c| c.key.clone()).collect();
    (built.into_keys().collect(), errors, public)
}

#[test]
fn a_source_is_built_by_the_factory_of_its_type() {
    let (built, errors, _) = build("sources:\n  a: {type: quiet}\n  b: {type: quiet}\n");
    assert_eq!(built, ["a", "b"]);
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn an_unknown_type_is_located_and_lists_the_registered_kinds() {
    let (built, errors, _) = build("sources:\n  a: {type: quite}\n  b: {type: sentry_sdk}\n");
    assert!(built.is_empty());
    expect_test::expect![[r#"
        [
            "h.yaml:2:13: source \"a\" has unknown type \"quite\" (hint: did you mean \"quiet\"? (source types: quiet))",
            "h.yaml:3:13: source \"b\" has unknown type \"sentry_sdk\" (hint: source types: quiet)",
        ]
    "#]]
    .assert_debug_eq(&errors);
}

#[test]
fn the_factorys_own_problems_are_reported_with_their_place() {
    let (_, errors, _) = build("sources:\n  a: {type: quiet, kee: x}\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("h.yaml:2:"), "{errors:?}");
    assert!(errors[0].contains("\"kee\""), "{errors:?}");
}

#[test]
fn credentials_written_in_the_file_are_collected_and_substituted_ones_are_not() {
    let (_, _, public) =
        build("sources:\n  a: {type: quiet, key: written}\n  b: {type: quiet, key: \"${KEY}\"}\n");
    assert_eq!(public, ["sources.a.key"]);
}

#[test]
fn a_header_that_is_not_text_is_a_400_naming_it() {
    let endpoint = Endpoint::new("in", http::Method::POST, "/quiet/{source}");
    let mut headers = http::HeaderMap::new();
    headers.insert("X-Token", http::HeaderValue::from_bytes(b"\xff").unwrap());
    headers.insert("X-Other", http::HeaderValue::from_static("  v "));
    let params = [("source".to_owned(), "a".to_owned())];
    let head = Head {
        endpoint: &endpoint,
        headers: &headers,
        query: None,
        params: &params,
        now: jiff::Timestamp::UNIX_EPOCH,
    };
    let refusal = head.header("X-Token").unwrap_err();
    assert_eq!(refusal.status, http::StatusCode::BAD_REQUEST);
    assert_eq!(refusal.message, "the X-Token header is not plain text");
    assert_eq!(head.header("X-Other").unwrap(), Some("v"));
    assert_eq!(head.header("X-None").unwrap(), None);
    assert_eq!(head.param("source"), Some("a"));
    assert!(endpoint.names_source());
}
