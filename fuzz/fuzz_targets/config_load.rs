//! Fuzzes the config loader the way `herald check` and every reload run it: YAML text through
//! `Config::parse` (located node tree, `${VAR}` substitution, routes, noise settings), then the
//! Sentry sources and every built-in sink from their sections, with diagnostics collected.
//! Besides "never panics", every error must print as one located sentence.

#![no_main]

use herald_core::SinkRegistry;
use herald_core::config::{Config, ConfigErrors, Diagnostics, Env};
use libfuzzer_sys::fuzz_target;

fn registry() -> SinkRegistry {
    let mut registry = SinkRegistry::new();
    registry
        .register(herald_sink_log::LogSinkFactory)
        .register(herald_sink_slack::SlackFactory)
        .register(herald_sink_line::LineFactory)
        .register(herald_sink_line::LineNotifyFactory)
        .register(herald_sink_email::EmailFactory)
        .register(herald_sink_webhook::WebhookFactory);
    registry
}

fn check_errors(errors: &ConfigErrors) {
    for e in errors.errors.iter().chain(&errors.warnings) {
        let shown = e.to_string();
        assert!(shown.starts_with("fuzz.yaml"), "unlocated error: {shown}");
    }
}

/// Errors show values as written (`${SECRET}`), never as substituted; a text that spells the
/// value out itself may of course see it quoted back.
fn no_secret(text: &str, errors: &ConfigErrors) {
    if text.contains(SECRET) {
        return;
    }
    for e in &errors.errors {
        assert!(!e.to_string().contains(SECRET), "a secret in an error: {e}");
    }
}

const SECRET: &str = "s3cret-value";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A fixed environment: `${SECRET}` and `${EMPTY:-default}` resolve, `${UNSET}` does not.
    let env = Env::from_pairs([("SECRET", SECRET), ("EMPTY", "")]);
    let config = match Config::parse(text, "fuzz.yaml", &env) {
        Ok((config, warnings)) => {
            check_errors(&ConfigErrors {
                errors: vec![],
                warnings,
            });
            Some(config)
        }
        Err(errors) => {
            check_errors(&errors);
            no_secret(text, &errors);
            Config::parse_lenient(text, "fuzz.yaml", &env)
        }
    };
    let Some(config) = config else { return };
    let mut diag = Diagnostics::new("fuzz.yaml");
    for spec in &config.sources {
        let _ = diag.typed::<herald_sentry::SourceConfig>(&spec.node);
    }
    let _sinks = registry().build_all(&config.sinks, &mut diag);
    match diag.into_result(()) {
        Ok((_, warnings)) => check_errors(&ConfigErrors {
            errors: vec![],
            warnings,
        }),
        Err(errors) => {
            check_errors(&errors);
            no_secret(text, &errors);
        }
    }
});
