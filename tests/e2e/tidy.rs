//! House rules checked on the whole tree (crates, tests and the fuzz targets): every Rust
//! file opens with a `//!` paragraph saying what it is for, and the README installs `herald`
//! before it calls it. Also the seams ARCHITECTURE.md promises, as absences: herald-core
//! depends on no HTTP framework, database or sink; no crate but the binary depends on a sink
//! or source crate; no code outside a sink crate names that sink; herald-core's modules form
//! no cycle.

use std::path::Path;

use crate::support::repo;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let mut files = Vec::new();
    for top in ["crates", "tests", "fuzz"] {
        rust_files(&repo().join(top), &mut files);
    }
    assert!(
        files.len() > 10,
        "found too few Rust files: {}",
        files.len()
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! paragraph: {missing:#?}"
    );
}

/// The quick start builds herald with cargo, which puts nothing on `PATH`; every later command
/// in the README says `herald ...`, so the quick start must say how that name comes to work
/// before the first command that uses it.
#[test]
fn the_readme_puts_herald_on_the_path_before_it_calls_herald() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let install = readme
        .find("cargo install --locked --path crates/herald")
        .expect("the README says how to put herald on PATH");
    let mut in_block = false;
    let mut offset = 0;
    let mut first_use = None;
    for line in readme.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        } else if in_block && line.trim_start().starts_with("herald ") {
            first_use = Some(offset);
            break;
        }
        offset += line.len();
    }
    let first_use = first_use.expect("the README runs herald in a code block");
    assert!(
        install < first_use,
        "the README calls `herald` (at byte {first_use}) before it says how to install it (at byte {install})"
    );
}

/// Each workspace crate with the names of its normal (not dev or build) dependencies, as
/// cargo itself reads the manifests (so `foo.workspace = true` and renames count).
fn normal_dependencies() -> Vec<(String, Vec<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(repo())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

fn is_sink_crate(name: &str) -> bool {
    name.starts_with("herald-sink-") || name == "herald-example-sink"
}

/// Source crates: the ones that turn a provider's requests into alerts.
const SOURCE_CRATES: &[&str] = &["herald-sentry"];

#[test]
fn herald_core_depends_on_no_http_framework_database_or_sink() {
    let crates = normal_dependencies();
    let (_, deps) = crates
        .iter()
        .find(|(name, _)| name == "herald-core")
        .expect("herald-core is a workspace member");
    const FORBIDDEN: &[&str] = &[
        "axum",
        "hyper",
        "hyper-util",
        "reqwest",
        "tower",
        "tower-http",
        "sqlx",
        "rusqlite",
    ];
    let bad: Vec<&String> = deps
        .iter()
        .filter(|d| FORBIDDEN.contains(&d.as_str()) || is_sink_crate(d) || d.starts_with("herald-"))
        .collect();
    assert!(bad.is_empty(), "herald-core depends on {bad:?}");
}

#[test]
fn only_the_binary_depends_on_sink_and_source_crates() {
    let crates = normal_dependencies();
    assert!(crates.len() > 5, "found too few crates: {}", crates.len());
    let mut bad = Vec::new();
    for (name, deps) in &crates {
        if name == "herald" {
            continue;
        }
        for dep in deps {
            if is_sink_crate(dep) || SOURCE_CRATES.contains(&dep.as_str()) {
                bad.push(format!("{name} -> {dep}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "crates other than the binary depend on {bad:#?}"
    );
}

/// Sink names that are also ordinary words in herald's own vocabulary, so their mention says
/// nothing about the seam: `line` (line numbers of a config error), `log` (logging),
/// `webhook` (Sentry's webhooks, herald's input), `example` (examples everywhere).
const COMMON_WORD_SINKS: &[&str] = &["line", "log", "webhook", "example"];

/// Files outside a sink crate that may name a sink for good: the binary registers every sink
/// and describes them to the user.
const SINK_NAMES_ALLOWED: &[&str] = &[
    // The one registration line per sink.
    "crates/herald/src/sinks.rs",
    // `herald --help` says where alerts can go.
    "crates/herald/src/main.rs",
];

/// The checked sink names (from the sink crates' folder names), each with its crate folder.
fn named_sinks() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("crates")).unwrap() {
        let folder = entry.unwrap().file_name().to_string_lossy().into_owned();
        let name = match folder.strip_prefix("herald-sink-") {
            Some(n) => n.to_owned(),
            None if folder == "herald-example-sink" => "example".to_owned(),
            None => continue,
        };
        if !COMMON_WORD_SINKS.contains(&name.as_str()) {
            out.push((name, folder));
        }
    }
    out
}

/// Non-test source files of every crate: `src/` files other than `tests.rs` and the files
/// under a `tests/` folder.
fn non_test_sources() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo().join("crates")).unwrap() {
        let src = entry.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    files.retain(|f| {
        f.file_name().is_some_and(|n| n != "tests.rs")
            && !f.components().any(|c| c.as_os_str() == "tests")
    });
    files
}

/// Which checked sinks a file names, case-insensitively.
fn sinks_named_in(file: &Path, sinks: &[(String, String)]) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap().to_lowercase();
    let rel = file.strip_prefix(repo()).unwrap();
    sinks
        .iter()
        .filter(|(name, folder)| {
            !rel.starts_with(Path::new("crates").join(folder)) && text.contains(name.as_str())
        })
        .map(|(name, _)| name.clone())
        .collect()
}

#[test]
fn no_code_outside_a_sink_crate_names_that_sink() {
    let sinks = named_sinks();
    assert!(
        sinks.iter().any(|(n, _)| n == "slack"),
        "the slack sink is checked: {sinks:?}"
    );
    let mut bad = Vec::new();
    for file in non_test_sources() {
        let rel = file
            .strip_prefix(repo())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if SINK_NAMES_ALLOWED.contains(&rel.as_str()) {
            continue;
        }
        let named = sinks_named_in(&file, &sinks);
        if !named.is_empty() {
            bad.push(format!("{rel} names {}", named.join(", ")));
        }
    }
    assert!(
        bad.is_empty(),
        "code outside a sink crate names a sink: {bad:#?}"
    );
}

#[test]
fn the_sink_name_allow_list_names_files_that_exist_and_still_need_it() {
    let sinks = named_sinks();
    for file in SINK_NAMES_ALLOWED {
        let path = repo().join(file);
        assert!(path.is_file(), "{file} is allowed but does not exist");
        assert!(
            !sinks_named_in(&path, &sinks).is_empty(),
            "{file} names no sink any more: remove it from SINK_NAMES_ALLOWED"
        );
    }
}

/// herald-core's modules and the modules each one uses (through `crate::`, `super::` or a
/// child's name), from the non-test source files.
fn core_module_uses() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = repo().join("crates/herald-core/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| f.file_name().is_some_and(|n| n != "tests.rs"));
    let module_of = |f: &Path| -> String {
        let rel = f.strip_prefix(&src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
            parts.pop();
        }
        parts.join("::")
    };
    let modules: std::collections::BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    // The longest known module that `path` (segments from the crate root) starts with.
    let resolve = |path: &[&str]| -> Option<String> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|m| modules.contains(m))
    };
    let mut uses = std::collections::BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        let parent: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
        let parent = &parent[..parent.len().saturating_sub(1)];
        let text = std::fs::read_to_string(file).unwrap();
        let mut targets = std::collections::BTreeSet::new();
        let words: Vec<&str> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .collect();
        for word in words {
            let segments: Vec<&str> = word.split("::").filter(|s| !s.is_empty()).collect();
            let path: Vec<&str> = match segments.first() {
                Some(&"crate") => segments[1..].to_vec(),
                Some(&"super") => parent
                    .iter()
                    .copied()
                    .chain(segments[1..].iter().copied())
                    .collect(),
                // A child module named by itself (`pub use decide::...` in noise.rs).
                Some(first) if segments.len() > 1 && !module.is_empty() => {
                    let child = format!("{module}::{first}");
                    if !modules.contains(&child) {
                        continue;
                    }
                    module.split("::").chain(segments.iter().copied()).collect()
                }
                Some(first) if segments.len() > 1 && modules.contains(*first) => segments.clone(),
                _ => continue,
            };
            if let Some(target) = resolve(&path).filter(|t| *t != module) {
                targets.insert(target);
            }
        }
        uses.insert(module, targets);
    }
    uses
}

#[test]
fn herald_core_modules_form_no_cycle() {
    let uses = core_module_uses();
    assert!(uses.len() > 10, "found too few modules: {uses:?}");
    assert!(
        uses["route::parse"].contains("noise::policy"),
        "the reader sees uses: {uses:?}"
    );
    // Depth-first search; a module met again while still on the path closes a cycle.
    fn visit(
        m: &str,
        uses: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in uses.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, uses, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for m in uses.keys() {
        if let Some(cycle) = visit(m, &uses, &mut Vec::new(), &mut done) {
            panic!(
                "herald-core's modules use each other in a cycle: {}",
                cycle.join(" -> ")
            );
        }
    }
}

/// Two branches that each add a migration can pick the same number; sqlx then refuses to
/// open any database ("UNIQUE constraint failed: _sqlx_migrations.version").
#[test]
fn every_migration_has_a_version_of_its_own() {
    for dir in [
        "crates/herald-store/migrations",
        "crates/herald-store/migrations_pg",
    ] {
        let mut seen = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let version: String = name.chars().take_while(char::is_ascii_digit).collect();
            assert!(!version.is_empty(), "{dir}/{name} has no version number");
            let version: u64 = version.parse().unwrap();
            if let Some(other) = seen.insert(version, name.clone()) {
                panic!("{dir}: {name} and {other} share version {version}");
            }
        }
        assert!(seen.len() > 3, "{dir} read too few migrations");
    }
}
