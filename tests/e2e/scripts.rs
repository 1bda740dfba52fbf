//! The README's test command, `scripts/test`, on a machine that lacks what the tests need: it
//! installs what it can and otherwise names what is missing and how to get it, instead of
//! leaving the email tests to fail; `.ci/run` calls it rather than installing on its own.
//! Stand-in Python interpreters (small shell scripts) play the machine's, so nothing is
//! installed for real.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{repo, stderr};

/// `scripts/test --deps-only` with `PYTHON` pointing at `python`.
fn deps_only(python: &Path) -> Output {
    Command::new(repo().join("scripts/test"))
        .arg("--deps-only")
        .env("PYTHON", python)
        .output()
        .expect("scripts/test runs")
}

/// An executable shell script standing in for Python.
fn stand_in(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("python3");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_missing_python_is_named_with_how_to_get_it() {
    let out = deps_only(Path::new("/nonexistent/python3"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "/nonexistent/python3, for the SMTP server of the email tests (install Python 3, then: /nonexistent/python3 -m pip install aiosmtpd)"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_aiosmtpd_is_installed_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    // Python without aiosmtpd, whose pip succeeds: afterwards the import works.
    let python = stand_in(
        dir.path(),
        &format!(
            "echo \"$*\" >> {log}\ncase \"$*\" in\n  *pip*) touch {ok}; exit 0 ;;\n  *) [ -e {ok} ] ;;\nesac",
            log = log.display(),
            ok = dir.path().join("installed").display()
        ),
    );
    let out = deps_only(&python);
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("-m pip install --quiet --disable-pip-version-check aiosmtpd"),
        "{calls}"
    );
    assert_eq!(
        stderr(&out),
        "== installing aiosmtpd (SMTP server for the email tests)\n"
    );
    // Run again: already there, so nothing is installed and nothing printed.
    let again = deps_only(&python);
    assert!(again.status.success());
    assert_eq!(stderr(&again), "");
    assert_eq!(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .filter(|l| l.contains("-m pip"))
            .count(),
        1
    );
}

#[test]
fn an_aiosmtpd_pip_cannot_install_is_named_with_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let python = stand_in(dir.path(), "exit 1");
    let out = deps_only(&python);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the tests need what this machine lacks:")
            && stderr(&out).contains("aiosmtpd for ")
            && stderr(&out).contains("pip could not install it (try: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ci_leaves_the_tests_needs_to_the_test_command() {
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(ci.contains("scripts/test --deps-only") && ci.contains("\nscripts/test\n"));
    assert!(
        !ci.contains("pip install") && !ci.contains("aiosmtpd"),
        ".ci/run installs a test need itself; put it in scripts/test"
    );
}

#[test]
fn the_sdk_tests_python_packages_are_installed_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    let have = dir.path().join("have");
    std::fs::create_dir(&have).unwrap();
    std::fs::write(have.join("aiosmtpd"), "").unwrap();
    // A Python whose `import X` works when `have/X` exists and whose pip creates it (named
    // after the module the package provides).
    let python = stand_in(
        dir.path(),
        &format!(
            "echo \"$*\" >> {log}\ncase \"$*\" in\n  *pip*install*sentry-sdk*) touch {have}/sentry_sdk ;;\n  *pip*install*) for p; do :; done; touch {have}/$p ;;\n  *import*) m=${{2#import }}; [ -e {have}/$m ] ;;\nesac",
            log = log.display(),
            have = have.display()
        ),
    );
    let out = deps_only(&python);
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = std::fs::read_to_string(&log).unwrap();
    for package in ["sentry-sdk", "flask", "brotli"] {
        assert!(
            calls.contains(&format!(
                "-m pip install --quiet --disable-pip-version-check {package}"
            )),
            "{calls}"
        );
    }
    assert!(!calls.contains("install --quiet --disable-pip-version-check aiosmtpd"));
    let again = deps_only(&python);
    assert!(again.status.success());
    assert_eq!(stderr(&again), "");
}
