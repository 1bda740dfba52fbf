//! The deployment files stay honest: the Dockerfile's build steps are the README's "Building
//! from source" steps, word for word; the compose file's config and fixture exist and the
//! config passes `herald check`; and, where Debian's `docker-compose` is installed (CI installs
//! it), `docker-compose config -q` accepts the compose file.

use std::process::Command;

use crate::support::{check_example, repo, stderr, stdout};

/// The `RUN` commands of the Dockerfile's first stage, continuation lines joined.
fn build_steps(dockerfile: &str) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    let mut stage = 0;
    let mut continued = false;
    for line in dockerfile.lines().map(str::trim) {
        if line.starts_with("FROM ") {
            stage += 1;
        }
        if stage != 1 {
            continue;
        }
        let text = match (continued, line.strip_prefix("RUN ")) {
            (true, _) => line,
            (false, Some(run)) => {
                steps.push(String::new());
                run
            }
            (false, None) => continue,
        };
        continued = text.ends_with('\\');
        let step = steps.last_mut().expect("a RUN step was started");
        if !step.is_empty() {
            step.push(' ');
        }
        step.push_str(text.trim_end_matches('\\').trim());
    }
    steps
}

/// The commands of the first `sh` block after the README's "Building from source" heading.
fn readme_steps(readme: &str) -> Vec<String> {
    let section = readme
        .split("### Building from source")
        .nth(1)
        .expect("README has a \"### Building from source\" section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section has a ```sh block");
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_dockerfile_builds_with_the_readme_steps() {
    let root = repo();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let steps = build_steps(&dockerfile);
    assert!(
        !steps.is_empty(),
        "the Dockerfile's build stage has no RUN step"
    );
    assert_eq!(steps, readme_steps(&readme));
    assert!(
        dockerfile.contains("\nUSER herald\n"),
        "the runtime image must not run as root"
    );
    assert!(
        dockerfile.contains("HEALTHCHECK"),
        "the image needs a health check"
    );
}

#[test]
fn the_compose_file_is_wired_to_files_that_exist() {
    let root = repo();
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    assert!(compose.contains("/etc/herald/compose.yaml"));
    assert!(compose.contains("axllent/mailpit"));
    assert!(compose.contains("legacy.payments.json"));
    assert!(
        root.join("tests/fixtures/sentry/legacy.payments.json")
            .is_file()
    );
    // The compose file gives herald its secrets in files, none of them written in the repo.
    assert!(compose.contains("herald-secrets:/var/lib/herald/secrets:ro"));
    let out = check_example(std::path::Path::new("config/compose.yaml"));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // `--profile cluster`: PostgreSQL and two replicas on config/compose-cluster.yaml, whose
    // database password comes from the same secrets volume.
    for wanted in [
        "profiles: [\"cluster\"]",
        "image: postgres:16",
        "/etc/herald/compose-cluster.yaml",
        "herald-b:",
        "POSTGRES_PASSWORD_FILE",
    ] {
        assert!(
            compose.contains(wanted),
            "docker-compose.yml lacks {wanted}"
        );
    }
    let out = check_example(std::path::Path::new("config/compose-cluster.yaml"));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    match Command::new("docker-compose")
        .args(["config", "-q"])
        .current_dir(&root)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "docker-compose config -q: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => eprintln!(
            "notice: docker-compose is not installed; skipping `docker-compose config -q` (.ci/run installs it)"
        ),
    }
}
