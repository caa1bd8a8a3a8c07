//! Docs that match the code: every `cairn` command in `docs/DEPLOY.md`
//! names flags its subcommand has (by its `--help`), and every other
//! `--flag` the page mentions belongs to some `cairn` command, unless the
//! line is another tool's command.

use std::{collections::BTreeSet, process::Command};

use crate::harness::repo_root;

/// Tools whose own flags a line may show.
const OTHER_TOOLS: [&str; 6] = [
    "ipfs-cluster-ctl",
    "curl",
    "openssl",
    "pg_dump",
    "pg_restore",
    "systemd-analyze",
];

/// Commands whose lines (starting with them) show their own flags.
const SHELL_COMMANDS: [&str; 3] = ["useradd", "install", "systemctl"];

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .arg("--help")
        .output()
        .expect("cairn runs");
    assert!(out.status.success(), "cairn {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

fn flags(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("--") {
        let start = i + at;
        let mut end = start + 2;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'-')
        {
            end += 1;
        }
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if end > start + 2 && before_ok && bytes[start + 2].is_ascii_lowercase() {
            found.insert(text[start..end].to_string());
        }
        i = end;
    }
    found
}

/// The `cairn …` commands of `doc`, continuation lines joined.
fn commands(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        let trimmed = line.trim();
        if let Some(command) = current.as_mut() {
            command.push(' ');
            command.push_str(trimmed.trim_end_matches('\\'));
            if !trimmed.ends_with('\\') {
                out.push(current.take().unwrap());
            }
            continue;
        }
        // A command line, possibly after environment assignments.
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| !w.contains('=')) else {
            continue;
        };
        if words[at] != "cairn" || line.len() - line.trim_start().len() < 4 {
            continue;
        }
        let command = words[at..].join(" ");
        if trimmed.ends_with('\\') {
            current = Some(command.trim_end_matches('\\').to_string());
        } else {
            out.push(command);
        }
    }
    out
}

#[test]
fn every_flag_in_the_deployment_guide_exists() {
    let doc = std::fs::read_to_string(repo_root().join("docs/DEPLOY.md")).unwrap();
    let subcommands = [
        "serve", "gateway", "index", "send", "outbox", "watch", "inbox", "key",
    ];
    let mut all = flags(&help(&[]));
    for sub in subcommands {
        all.extend(flags(&help(&[sub])));
    }
    let commands = commands(&doc);
    assert!(
        commands.len() >= 3,
        "the guide's commands were not found: {commands:?}"
    );
    for command in &commands {
        let sub = command.split_whitespace().nth(1).expect("a subcommand");
        let known = flags(&help(&[sub]));
        for flag in flags(command) {
            assert!(
                known.contains(&flag),
                "`{command}` in docs/DEPLOY.md: cairn {sub} has no {flag}"
            );
        }
    }
    for line in doc.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if OTHER_TOOLS.iter().any(|tool| line.contains(tool)) || SHELL_COMMANDS.contains(&first) {
            continue;
        }
        for flag in flags(line) {
            assert!(
                all.contains(&flag),
                "docs/DEPLOY.md names {flag}, which no cairn command has: {line}"
            );
        }
    }
}

#[test]
fn the_flag_reader_finds_flags_and_commands() {
    assert_eq!(
        flags("use `--tls-cert` and --x-y2, not a--b or ---"),
        ["--tls-cert", "--x-y2"].map(String::from).into()
    );
    let doc = "    A=1 cairn serve --listen x \\\n        --tls-key k\n\n    cairn index\nprose cairn serve --nope\n";
    assert_eq!(
        commands(doc),
        ["cairn serve --listen x  --tls-key k", "cairn index"].map(String::from)
    );
}

/// The systemd units of `deploy/systemd/` (there is no container image:
/// docs/DEPLOY.md says why): `systemd-analyze verify` has nothing to say
/// about them, `systemd-analyze security` rates each exposure at most 2.0
/// of 10, each restarts on failure, and each `ExecStart` names only flags
/// its `cairn` subcommand has.
#[test]
fn the_systemd_units_verify_and_start_real_commands() {
    let dir = tempfile::tempdir().unwrap();
    let units: Vec<_> = std::fs::read_dir(repo_root().join("deploy/systemd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    assert_eq!(units.len(), 3, "{units:?}");
    for unit in units {
        let name = unit.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&unit).unwrap();
        assert!(text.contains("\nRestart=on-failure\n"), "{name}");
        // Verified against the binary built here, where the unit names
        // the installed one.
        let local = dir.path().join(&name);
        let binary = env!("CARGO_BIN_EXE_cairn");
        std::fs::write(&local, text.replace("/usr/local/bin/cairn", binary)).unwrap();
        let verify = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&local)
            .output()
            .expect("systemd-analyze runs (tools/install.sh installs systemd)");
        let said = String::from_utf8_lossy(&verify.stderr).into_owned()
            + &String::from_utf8_lossy(&verify.stdout);
        let about_it: Vec<&str> = said.lines().filter(|l| l.contains(&name)).collect();
        assert!(
            verify.status.success() && about_it.is_empty(),
            "{name}: {said}"
        );
        let security = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--threshold=20"])
            .arg(&local)
            .output()
            .unwrap();
        assert!(
            security.status.success(),
            "{name} is exposed: {}",
            String::from_utf8_lossy(&security.stdout)
        );
        // ExecStart, its continuation lines joined.
        let exec = text
            .split("\nExecStart=")
            .nth(1)
            .expect("an ExecStart")
            .split("\n")
            .scan(true, |more, line| {
                let keep = *more;
                *more = line.trim_end().ends_with('\\');
                keep.then(|| line.trim_end().trim_end_matches('\\').to_string())
            })
            .collect::<Vec<_>>()
            .join(" ");
        let sub = exec.split_whitespace().nth(1).expect("a subcommand");
        let known = flags(&help(&[sub]));
        for flag in flags(&exec) {
            assert!(known.contains(&flag), "{name}: cairn {sub} has no {flag}");
        }
    }
}
