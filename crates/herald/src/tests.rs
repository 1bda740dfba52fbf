//! The command line as a whole: every flag and argument of every subcommand says what it is
//! for in `--help`, and every list command takes the same `--format text|json`.

use clap::CommandFactory;

use super::Cli;

/// Every subcommand, with its path (`herald deliveries list`).
fn commands(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
    out.push((path.clone(), cmd.clone()));
    // clap's own `help` subcommand explains itself.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        commands(sub, format!("{path} {}", sub.get_name()), out);
    }
}

fn all() -> Vec<(String, clap::Command)> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    commands(&cmd, "herald".into(), &mut out);
    out
}

#[test]
fn every_flag_of_every_subcommand_has_a_help_line() {
    let mut missing = Vec::new();
    for (path, cmd) in all() {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            // clap's own --help and --version explain themselves.
            if matches!(id, "help" | "version") {
                continue;
            }
            if arg
                .get_help()
                .is_none_or(|h| h.to_string().trim().is_empty())
            {
                missing.push(format!("{path}: {id}"));
            }
        }
        if !path.contains(' ') || cmd.get_about().is_some() {
            continue;
        }
        missing.push(format!("{path}: (the command itself)"));
    }
    assert!(missing.is_empty(), "no help line: {missing:#?}");
}

#[test]
fn every_list_command_takes_format_text_or_json() {
    let lists: Vec<(String, clap::Command)> = all()
        .into_iter()
        .filter(|(path, _)| path.ends_with(" list"))
        .collect();
    assert!(lists.len() >= 2, "found {} list commands", lists.len());
    for (path, cmd) in lists {
        let format = cmd
            .get_arguments()
            .find(|a| a.get_id() == "format")
            .unwrap_or_else(|| panic!("{path} has no --format"));
        let values: Vec<String> = format
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_owned())
            .collect();
        assert_eq!(values, ["text", "json"], "{path}");
        assert_eq!(
            format
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
            ["text"],
            "{path}"
        );
    }
}

#[test]
fn silence_list_keeps_json_as_an_alias_of_format_json() {
    use clap::Parser;
    for args in [
        &["herald", "silence", "list", "--json"][..],
        &["herald", "silence", "list", "--format", "json"][..],
    ] {
        let cli = Cli::try_parse_from(args).unwrap();
        let super::Command::Silence {
            command: crate::silence::Command::List { format, json, .. },
        } = cli.command
        else {
            panic!("parsed as another command: {args:?}");
        };
        assert!(json || format == super::Format::Json, "{args:?}");
    }
}
