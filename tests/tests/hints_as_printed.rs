//! The commands that `liaison`'s errors point to, run exactly as printed:
//! each names the home it was printed for and does what the error says
//! it will (issue 11, acceptance 4). The hints with their own flows
//! (consent, forward, export, key change, devices, queued sends) are run
//! as printed where those flows are tested; these are the rest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use liaison_tests::{DevNet, Person, assert_success, output_text, run_as_printed};

/// The command between backquotes in `out`'s output that starts with
/// `liaison --home` and contains `needle`.
fn printed(out: &Output, needle: &str) -> String {
    let said = output_text(out);
    said.split('`')
        .find(|part| part.starts_with("liaison --home ") && part.contains(needle))
        .unwrap_or_else(|| panic!("no `liaison --home … {needle}…` in:\n{said}"))
        .to_owned()
}

fn refused(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what} should be refused:\n{}",
        output_text(out)
    );
}

/// Runs `command` as printed, requires success, and returns its output.
fn runs(command: &str) -> String {
    let out = run_as_printed(command);
    assert_success(&out, command);
    output_text(&out)
}

fn sent_id(person: &Person, to: &str, text: &str) -> String {
    let out = person.run(&["send", "--to", to, text]);
    assert_success(&out, "send");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_commands_liaisons_errors_suggest_run_as_printed() {
    let net = DevNet::start();
    let alice = net.enrol("my alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("my bob", "ph.pnp.bob", "PH", "PNP");
    let home = alice.home.to_str().unwrap().to_owned();

    // A contact the directory does not have: sync first.
    let out = alice.run(&["safety-number", "th.dsi.nobody"]);
    refused(&out, "an unknown contact");
    let sync = printed(&out, "sync");
    assert!(sync.contains(&home), "{sync}");
    runs(&sync);

    // A message id this home does not hold: the inbox lists those it does.
    let out = alice.run(&["read", "00112233445566778899aabbccddeeff"]);
    refused(&out, "an unknown message");
    runs(&printed(&out, "inbox"));

    // A consent request this home does not hold: the list shows them.
    let out = alice.run(&["consent", "grant", "00112233445566778899aabbccddeeff"]);
    refused(&out, "an unknown consent request");
    runs(&printed(&out, "consent list"));

    // A reply to one's own message: how to continue the conversation.
    let own = sent_id(&alice, "ph.pnp.bob", "the boat leaves at 0400");
    let out = alice.run(&["reply", &own, "and returns at noon"]);
    refused(&out, "a reply to one's own message");
    let help = printed(&out, "send --help");
    assert!(runs(&help).contains("--conversation"));

    // A hand-over of a role that is not one: the roles are listed.
    let out = bob.run(&["handover", "--role", "ph.pnp.nothing", "--to", "ph.pnp.bob"]);
    refused(&out, "a hand-over of no role");
    runs(&printed(&out, "roles"));
}

/// `liaison ui` while an agent already runs for the home says to stop it
/// and run `ui` again: the stop command, as printed, stops it.
#[test]
fn ui_beside_a_running_agent_says_how_to_stop_it_as_printed() {
    let net = DevNet::start();
    let alice = net.enrol("my alice", "th.dsi.alice", "TH", "DSI");
    let mut agent = alice.start_agent(true);
    let out = alice.run(&["ui", "--no-browser", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success(), "{}", output_text(&out));
    let stop = printed(&out, "agent stop");
    runs(&stop);
    let status = agent
        .wait_exit(Duration::from_secs(30))
        .expect("the agent stops when asked");
    assert!(status.success(), "the agent stopped cleanly: {status}");

    // Then `ui` again, as printed, serves the app: it prints the address
    // to open first. The browser it opens is a stand-in that does nothing.
    let ui = printed(&out, " ui");
    assert!(ui.ends_with(" ui"), "{ui}");
    let fake = liaison_tests::TempDir::new("no-browser");
    let opener = fake.path().join("xdg-open");
    std::fs::write(&opener, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}:{}",
        fake.path().display(),
        liaison_tests::bin("liaison").parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&ui)
        .env("PATH", path)
        .env("LIAISON_PASSPHRASE", liaison_tests::PASSPHRASE)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // Ctrl-C to the whole command stops the app and its agent.
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-INT", "--", &group]).status();
    let status = child.wait().unwrap();
    assert!(
        first.starts_with("http://127.0.0.1:"),
        "{ui} printed {first:?} first ({status})"
    );
}

/// A message from a contact whose identity key changed is held; the
/// commands its reason gives run as printed: the safety number, the
/// verification (refused only for the dots standing for the number they
/// read), and the acceptance, after which the message opens.
#[test]
fn a_held_messages_commands_run_as_printed() {
    let net = DevNet::start();
    let alice = net.enrol("my alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("my bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let who: serde_json::Value =
        serde_json::from_slice(&bob.run(&["whoami", "--json"]).stdout).unwrap();
    let old = who["identity_fingerprint"]
        .as_str()
        .unwrap()
        .replace(' ', "");
    // Bob's phone is replaced: a new identity, enrolled as version 2.
    let bob2 = net.init("my bob 2", "ph.pnp.bob", "PH", "PNP");
    let out = liaison_tests::admin_command()
        .arg("enrol")
        .arg("--authority")
        .arg(net.authority("PH"))
        .arg("--bundle")
        .arg(net.bundle())
        .args(["--version", "2", "--replace-identity", &old])
        .arg(bob2.home.join("enrolment.request"))
        .output()
        .unwrap();
    assert_success(&out, "enrol --replace-identity");
    let id = sent_id(&bob2, "th.dsi.alice", "after the reinstall");
    let out = alice.run(&["sync"]);
    assert_success(&out, "alice sync (the message is held, not rejected)");
    let held = alice
        .inbox()
        .into_iter()
        .find(|m| m["id"] == id.as_str())
        .expect("the message is kept");
    assert_eq!(held["verified"], false, "{held}");
    let why = held["error"].as_str().unwrap().to_owned();
    let command = |needle: &str| {
        why.split('`')
            .find(|p| p.starts_with("liaison --home ") && p.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in: {why}"))
            .to_owned()
    };
    let number = runs(&command("safety-number"));
    assert!(!number.trim().is_empty());
    let verify = command("contacts verify");
    let out = run_as_printed(&verify);
    assert_eq!(out.status.code(), Some(2), "{verify}");
    assert!(
        output_text(&out).contains("`...` stands for text you write yourself"),
        "{}",
        output_text(&out)
    );
    runs(&command("contacts accept"));
    let opened = alice
        .inbox()
        .into_iter()
        .find(|m| m["id"] == id.as_str())
        .unwrap();
    assert_eq!(opened["verified"], true, "{opened}");
}

/// The agent's own hints run as printed: a second agent for the same home
/// is told how to stop the first; with none running, `agent stop` says how
/// to start one, which starts it; a command the agent cannot do without
/// the relay names `agent status`, which shows the link.
#[test]
fn the_agents_hints_run_as_printed() {
    let mut net = DevNet::start();
    let alice = net.enrol("my alice", "th.dsi.alice", "TH", "DSI");
    let mut agent = alice.start_agent(true);
    let out = alice.run(&["agent"]);
    assert!(!out.status.success(), "{}", output_text(&out));
    let stop = output_text(&out)
        .split('`')
        .find(|p| p.starts_with("liaison --home ") && p.ends_with(" agent stop"))
        .unwrap_or_else(|| panic!("no agent stop in: {}", output_text(&out)))
        .to_owned();
    runs(&stop);
    let stopped = agent
        .wait_exit(Duration::from_secs(30))
        .expect("the agent stops when asked");
    assert!(stopped.success(), "{stopped}");

    // No agent now: `agent stop` says how to start one; as printed, that
    // starts it (in the foreground, until stopped).
    let out = alice.run(&["agent", "stop"]);
    assert!(!out.status.success(), "{}", output_text(&out));
    let start = printed(&out, " agent");
    assert!(start.ends_with(" agent"), "{start}");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&start)
        .env(
            "PATH",
            format!(
                "{}:{}",
                liaison_tests::bin("liaison").parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("LIAISON_PASSPHRASE", liaison_tests::PASSPHRASE)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap());
    while !ready.contains(" ready on ") {
        ready.clear();
        assert!(
            lines.read_line(&mut ready).unwrap() > 0,
            "{start} ended early"
        );
    }

    // The relay goes away: a command that needs it names `agent status`.
    net.kill();
    let out = alice.run(&["sync"]);
    assert!(!out.status.success(), "{}", output_text(&out));
    let status = runs(&printed(&out, "agent status"));
    assert!(status.contains("down"), "{status}");
    runs(&stop);
    assert!(child.wait().unwrap().success());
}

/// Every `--help` a message of the tools points to (`liaison-admin publish
/// --help`, say) exists: found in the sources of the four tools, each is
/// run as printed and must succeed.
#[test]
fn every_help_a_message_points_to_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut dirs: Vec<PathBuf> = ["client", "admin", "audit", "relay"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && !p.ends_with("tests") && !p.ends_with("target") {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut commands = std::collections::BTreeSet::new();
    for f in &files {
        // Join Rust string continuations ("…\<newline>   …") as printed.
        let text = std::fs::read_to_string(f).unwrap();
        let mut joined = String::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            match line.strip_suffix('\\') {
                Some(head) => {
                    joined.push_str(head);
                    if let Some(next) = lines.peek_mut() {
                        *next = next.trim_start();
                    }
                }
                None => {
                    joined.push_str(line);
                    joined.push('\n');
                }
            }
        }
        for part in joined.split('`') {
            let is_help = part.ends_with(" --help")
                && [
                    "liaison ",
                    "liaison-admin ",
                    "liaison-audit ",
                    "liaison-relay ",
                ]
                .iter()
                .any(|t| part.starts_with(t))
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == ' ' || c == '-');
            if is_help {
                commands.insert(part.to_owned());
            }
        }
    }
    assert!(
        commands.len() >= 10,
        "the scan found too few: {commands:?} in {} files",
        files.len()
    );
    for command in &commands {
        runs(command);
    }
}
