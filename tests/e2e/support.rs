//! Helpers shared by the end-to-end tests: the binary, the repo's folders, and the shared
//! Sentry fixtures when they are present.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repo's top folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `herald` with the given arguments, run from the repo's top folder.
pub fn herald(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .output()
        .expect("the herald binary runs")
}

/// `herald check` of an example config in `config/`, run from a temporary folder holding the
/// files it reads secrets from: `config/compose.yaml` and `config/compose-cluster.yaml` take
/// their credentials from `secrets/{client_secret,legacy_token,admin_token,postgres_password}`
/// under herald's working directory (the
/// compose file's `secrets` service writes them in the container), so the check gets
/// stand-ins here.
pub fn check_example(config: &Path) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    for name in [
        "client_secret",
        "legacy_token",
        "admin_token",
        "postgres_password",
    ] {
        std::fs::write(dir.path().join("secrets").join(name), "stand-in\n").unwrap();
    }
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["check", "--config"])
        .arg(repo().join(config))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .output()
        .expect("the herald binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Sentry's published payloads, beside the repo as CI lays them out; `None` (with a notice)
/// when the folder is not there.
pub fn shared_fixtures() -> Option<PathBuf> {
    let dir = repo().join("../shared/fixtures/sentry");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "NOTICE: {} is absent; the conformance checks against Sentry's published payloads were skipped",
            dir.display()
        );
        None
    }
}
