//! How `liaison` shows what a command returned, human or `--json`. The same
//! code renders a reply from the agent and one computed in this process, so
//! the output does not depend on whether an agent runs.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use liaison_client::ClientError;
use liaison_client::agent::api::{ApiError, ErrorCode, Event, Reply, Response, WarningCategory};
use liaison_client::agent::error::AgentError;
use liaison_client::agent::views::{AgentStatus, LinkState, MessageView};
use liaison_protocol::PublicKey;

use crate::args::{CaseCommand, Cli, Command, ConsentCommand, ContactsCommand, DeviceCommand};

/// Exit code: the command failed (the message says why).
pub const EXIT_ERROR: u8 = 1;
/// Exit code: some messages of a sync were rejected (altered, forged or
/// undecryptable).
pub const EXIT_REJECTED: u8 = 3;
/// Exit code: the relay showed an inconsistent history (evidence in
/// HOME/evidence/).
pub const EXIT_LOG_INCONSISTENCY: u8 = 4;
/// Exit code: the relay could not be reached, so the message is kept on
/// this device and goes out at the next sync.
pub const EXIT_QUEUED: u8 = 5;
/// Exit code: interrupted (Ctrl-C) before anything was kept.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A command interrupted with Ctrl-C, saying what became of its work
/// (exit code [`EXIT_INTERRUPTED`]).
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// The exit code of a command that failed with `e`: the relay caught
/// showing an inconsistent history has its own ([`EXIT_LOG_INCONSISTENCY`]),
/// whether the home was opened here or by an agent; anything else is
/// [`EXIT_ERROR`].
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let api = |a: &ApiError| a.code == ErrorCode::LogInconsistency;
    let fork = e.chain().any(|cause| {
        cause
            .downcast_ref::<ClientError>()
            .is_some_and(ClientError::is_log_inconsistency)
            || cause.downcast_ref::<ApiError>().is_some_and(api)
            || cause
                .downcast_ref::<AgentError>()
                .is_some_and(|a| matches!(a, AgentError::Api(x) | AgentError::Refused(x) if api(x)))
    });
    if fork {
        EXIT_LOG_INCONSISTENCY
    } else if e.downcast_ref::<Interrupted>().is_some() {
        EXIT_INTERRUPTED
    } else {
        EXIT_ERROR
    }
}

/// Say on standard error which handling a `send` without `--handling` got.
fn default_handling_notice() {
    eprintln!(
        "liaison: no --handling given, so the default applies: {} (for the named recipients only; no judicial use and no passing it on without your consent). Choose another with --handling (see liaison send --help).",
        liaison_protocol::handling::Handling::default().to_text()
    );
}

/// Print a JSON value the way `--json` always has (object keys sorted).
fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_value(v)?);
    Ok(())
}

/// Show `reply` as the output of `cli`'s command: its warnings on standard
/// error, then the answer (or the error).
/// The home the command runs for, as a shell word, for the commands the
/// output suggests (set once by `main`).
static HOME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Remember the home for suggested commands.
pub fn set_home(home: Option<&std::path::Path>) {
    if let Some(h) = home {
        let _ = HOME.set(liaison_protocol::shell::quote_path(h));
    }
}

/// `text` (an error, a warning) for a person: its UTC times in local time,
/// and the home named in every `liaison` command it suggests, so the
/// command works when pasted: the client library and the agent write them
/// without the home, which only this process knows as the person typed it.
pub fn with_home(text: &str) -> String {
    let localized = localize_times(text);
    let text = localized.as_str();
    let Some(home) = HOME.get() else {
        return text.to_owned();
    };
    let command = <Cli as clap::CommandFactory>::command();
    let subcommands: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("liaison ") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let starts_word = before
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || "-_./".contains(c)));
        let tail = after.get("liaison ".len()..).unwrap_or_default();
        let word = tail
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .next()
            .unwrap_or_default();
        out.push_str("liaison ");
        if starts_word && subcommands.contains(&word) {
            out.push_str("--home ");
            out.push_str(home);
            out.push(' ');
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// For an error that offers known ids instead of a mistyped one ("Did you
/// mean …?"): the command as typed with the first id offered in place of
/// the mistyped one, ready to paste.
pub fn corrected_command(error: &str) -> Option<String> {
    let offered = liaison_client::core::spelling::offered(error);
    let first = offered.first()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mistyped = |a: &str| {
        let id = a.trim().to_lowercase();
        liaison_protocol::DirectoryId::parse(&id).is_ok()
            && (error.contains(&format!("recipient {id}:"))
                || error.contains(&format!("{id} is not in the verified directory")))
    };
    let mut replaced = false;
    let mut words: Vec<String> = Vec::new();
    for a in &args {
        let word = if a.strip_prefix("--to=").is_some_and(mistyped) {
            replaced = true;
            format!("--to={first}")
        } else if mistyped(a) {
            replaced = true;
            first.clone()
        } else {
            a.clone()
        };
        words.push(liaison_protocol::shell::quote(&word));
    }
    if !replaced {
        return None;
    }
    let named_home = args
        .iter()
        .any(|a| a == "--home" || a.starts_with("--home="));
    let line = words.join(" ");
    Some(format!(
        "to use {first} instead, run: {}",
        if named_home {
            format!("liaison {line}")
        } else {
            suggest(&line)
        }
    ))
}

/// An RFC 3339 time (UTC) as local time, for a person: in the zone of
/// `TZ`, or the system's; `--json` keeps UTC.
pub fn local_time(rfc3339: &str) -> String {
    match rfc3339.parse::<jiff::Timestamp>() {
        Ok(t) => t
            .to_zoned_datetime(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

/// `text` with every UTC time in it (`YYYY-MM-DDTHH:MM:SSZ`, as the
/// client library writes them into sentences) shown as [`local_time`].
pub fn localize_times(text: &str) -> String {
    const LEN: usize = "2026-01-01T00:00:00Z".len();
    let is_stamp = |w: &[u8]| {
        w.len() == LEN
            && w.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                10 => *b == b'T',
                13 | 16 => *b == b':',
                19 => *b == b'Z',
                _ => b.is_ascii_digit(),
            })
    };
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i..i + LEN) {
            Some(w) if is_stamp(w) => {
                out.push_str(&local_time(&text[i..i + LEN]));
                i += LEN;
            }
            _ => {
                let c = text[i..].chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    out
}

/// `liaison --home H REST`, as a person pastes it.
pub fn suggest(rest: &str) -> String {
    match HOME.get() {
        Some(h) => format!("liaison --home {h} {rest}"),
        None => format!("liaison {rest}"),
    }
}

pub fn render(cli: &Cli, reply: Reply) -> Result<ExitCode> {
    for w in &reply.warnings {
        eprintln!("liaison: warning: {}", with_home(w));
    }
    let json = cli.json;
    match (&cli.command, reply.response) {
        (_, Response::Error(e)) => return Err(e.into()),
        (
            Command::Send { .. } | Command::Reply { .. },
            Response::Queued {
                id,
                to,
                reason,
                conversation,
            },
        ) => {
            if matches!(
                &cli.command,
                Command::Send {
                    handling: None,
                    case: None,
                    ..
                }
            ) {
                default_handling_notice();
            }
            eprintln!(
                "liaison: the relay cannot be reached ({reason}). Your message {id} is signed and kept on this device; it goes out at the next `{}` (an agent running for this home sends it as soon as the relay is back). Exit code {EXIT_QUEUED}: queued, not sent yet.",
                suggest("sync")
            );
            if json {
                let mut v = serde_json::json!({
                    "id": id.to_hex(),
                    "to": to.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "accepted": false,
                    "queued": true,
                    "reason": reason,
                });
                if let (Some(c), Some(obj)) = (conversation, v.as_object_mut()) {
                    obj.insert("conversation".into(), c.to_hex().into());
                }
                print_json(&v)?;
            } else {
                println!("{id}");
            }
            return Ok(ExitCode::from(EXIT_QUEUED));
        }
        (
            Command::Reply { .. },
            Response::Sent {
                id,
                to,
                conversation,
            },
        ) => {
            print_sent(id, &to, conversation, json)?;
        }
        (
            Command::Send { handling, case, .. },
            Response::Sent {
                id,
                to,
                conversation,
            },
        ) => {
            if handling.is_none() && case.is_none() {
                default_handling_notice();
            }
            print_sent(id, &to, conversation, json)?;
        }
        (Command::Sync, Response::Synced { report }) => {
            for r in &report.rejected {
                eprintln!(
                    "liaison: rejected message {}: {}",
                    r.id,
                    with_home(&r.error)
                );
            }
            for f in &report.log_inconsistencies {
                eprintln!("liaison: {}", with_home(f));
            }
            for o in &report.log_omissions {
                eprintln!("liaison: warning: {}", with_home(o));
            }
            if json {
                print_json(&report)?;
            } else {
                println!(
                    "{} new message(s), {} rejected{}",
                    report.received.len(),
                    report.rejected.len(),
                    if report.resent > 0 {
                        format!(", {} unconfirmed send(s) retried", report.resent)
                    } else {
                        String::new()
                    }
                );
            }
            return Ok(if !report.log_inconsistencies.is_empty() {
                ExitCode::from(EXIT_LOG_INCONSISTENCY)
            } else if report.rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_REJECTED)
            });
        }
        (Command::Sent, Response::Messages { messages }) => {
            print_messages(&messages, json, "No messages.")?;
        }
        (
            Command::Search { text, .. },
            Response::SearchResults {
                hits,
                total,
                searched,
            },
        ) => {
            if json {
                print_json(&serde_json::json!({
                    "hits": hits,
                    "total": total,
                    "searched": searched,
                }))?;
            } else {
                print_search(text, &hits, total, searched);
            }
        }
        (Command::Inbox { unread }, Response::Messages { messages }) => {
            if *unread {
                let unread: Vec<MessageView> = messages.into_iter().filter(is_unread).collect();
                print_messages(&unread, json, "No unread messages.")?;
            } else {
                print_messages(&messages, json, "No messages.")?;
            }
        }
        (Command::Whoami, Response::Whoami { whoami: w }) => {
            if json {
                print_json(&w)?;
            } else {
                let device = PublicKey::from_hex(&w.device_key)
                    .map(|k| k.fingerprint().to_string())
                    .unwrap_or_default();
                println!("id:                   {}", w.id);
                println!("identity fingerprint: {}", w.identity_fingerprint);
                println!("device fingerprint:   {device}");
                let enrolled = match (w.enrolled, &w.standing_note) {
                    (true, _) => "yes".to_owned(),
                    (false, Some(note)) if w.standing != "not-enrolled" => {
                        format!("no: {}", localize_times(note))
                    }
                    (false, _) => "not yet seen in the directory".to_owned(),
                };
                println!("enrolled:             {enrolled}");
                println!("unconfirmed sends:    {}", w.outbox);
            }
        }
        (
            Command::Contacts { action: None, .. },
            Response::Contacts {
                contacts,
                directory_problems,
            },
        ) => {
            if json {
                print_json(&contacts)?;
            } else {
                if contacts.is_empty() {
                    println!("No contacts match.");
                }
                for c in &contacts {
                    let status = localize_times(&c.status_mark());
                    println!(
                        "{:<28} {:<22} {} {:<8} {}{}{}",
                        c.id,
                        c.name,
                        c.country,
                        c.agency,
                        c.kind,
                        if c.verified_in_person {
                            "  [verified in person]"
                        } else if c.key_changed {
                            "  [KEY CHANGED]"
                        } else {
                            ""
                        },
                        if status.is_empty() {
                            String::new()
                        } else {
                            format!("  {status}")
                        }
                    );
                }
                for p in &directory_problems {
                    eprintln!("liaison: directory entry rejected: {p}");
                }
            }
        }
        (
            Command::Contacts {
                action: Some(ContactsCommand::Show { .. }),
                ..
            },
            Response::Contact { contact },
        ) => {
            if json {
                print_json(&contact)?;
            } else {
                print_contact(&contact);
            }
        }
        (
            Command::Contacts {
                action: Some(ContactsCommand::Verify { id, .. }),
                ..
            },
            Response::SafetyNumber { safety_number, .. },
        ) => {
            println!(
                "Safety number with {id}:\n  {safety_number}\nRead it to {id} in person or on a trusted call; if \
                 theirs is the same, run:\n  {}",
                suggest(&format!(
                    "contacts verify {id} --safety-number \"{safety_number}\""
                ))
            );
        }
        (
            Command::Contacts {
                action: Some(ContactsCommand::Verify { .. }),
                ..
            },
            Response::ContactVerified { id },
        ) => {
            if json {
                print_json(&serde_json::json!({"id": id.to_string(), "verified_in_person": true}))?;
            } else {
                println!("{id} is now marked as verified in person.");
            }
        }
        (
            Command::Contacts {
                action: Some(ContactsCommand::Accept { .. }),
                ..
            },
            Response::ContactKeyAccepted { id },
        ) => {
            println!("Accepted the new identity key of {id} (not verified in person).");
        }
        (
            Command::SafetyNumber { .. },
            Response::SafetyNumber {
                contact,
                safety_number,
            },
        ) => {
            if json {
                print_json(&serde_json::json!({
                    "contact": contact.to_string(),
                    "safety_number": safety_number,
                }))?;
            } else {
                println!(
                    "Safety number with {contact}:\n  {safety_number}\nCompare it with {contact} in person or by a trusted call."
                );
            }
        }
        (Command::Roles, Response::Roles { roles }) => {
            if json {
                print_json(&roles)?;
            } else {
                if roles.is_empty() {
                    println!("No roles in the directory.");
                }
                for r in &roles {
                    println!(
                        "{:<28} {:<30} holders (on-call order): {}",
                        r.id,
                        r.name,
                        r.holders.join(", ")
                    );
                }
            }
        }
        (
            Command::Read { .. },
            Response::Read {
                message: m,
                handling_explained,
            },
        ) => {
            if json {
                print_json(&serde_json::json!({
                    "message": m,
                    "handling_explained": handling_explained,
                }))?;
            } else {
                println!(
                    "Message {} from {}{}",
                    m.id,
                    m.from,
                    m.original_from
                        .as_ref()
                        .map(|o| format!(" (originally from {o})"))
                        .unwrap_or_default()
                );
                println!(
                    "Sent {} in conversation {}",
                    local_time(&m.sent_at),
                    m.conversation
                );
                println!("Handling set by the originator:");
                for line in &handling_explained {
                    println!("  * {line}");
                }
                if let Some(text) = &m.text {
                    println!("\n{text}");
                    if m.awaiting_decision {
                        println!("\n{}", answer_hint(&m.id));
                    }
                } else {
                    println!(
                        "\nRun `{}` to acknowledge this handling (a signed receipt goes to the sender) and read the content.",
                        suggest(&format!("read {} --accept", m.id))
                    );
                }
            }
        }
        (Command::Forward { .. }, Response::Forwarded { id, forwarded }) => {
            if json {
                print_json(
                    &serde_json::json!({"id": id.to_hex(), "forwarded": forwarded.to_hex()}),
                )?;
            } else {
                println!("{id}");
            }
        }
        (
            Command::Consent {
                action: ConsentCommand::List,
            },
            Response::Consents { consents },
        ) => {
            if json {
                print_json(&consents)?;
            } else if consents.is_empty() {
                println!("No consent requests.");
            } else {
                for c in &consents {
                    print_consent(c);
                }
            }
        }
        (Command::Consent { .. }, Response::ConsentRequested { request }) => {
            println!("{}", hex::encode(request));
        }
        (Command::Consent { .. }, Response::ConsentDecided { granted, .. }) => {
            println!("{}", if granted { "Granted." } else { "Refused." });
        }
        (Command::Export { out, .. }, Response::Exported { message, bundle }) => {
            write_new(out, &bundle)?;
            if json {
                print_json(&serde_json::json!({
                    "message": message.to_hex(),
                    "out": out.display().to_string(),
                }))?;
            } else {
                println!(
                    "Evidence bundle for {message} written to {}.",
                    out.display()
                );
                println!(
                    "Verify it offline (the network's bundle.toml in place of the dots): \
                     liaison-audit verify-message {} --bundle ...",
                    liaison_protocol::shell::quote_path(out)
                );
            }
        }
        (Command::Attachment { .. }, Response::AttachmentsSaved { message, files }) => {
            if json {
                print_json(&serde_json::json!({
                    "message": message.to_hex(),
                    "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                }))?;
            } else {
                for f in &files {
                    println!("{}", f.display());
                }
                eprintln!(
                    "liaison: {} attachment(s) of {message} verified against what the sender signed and saved.",
                    files.len()
                );
            }
        }
        (Command::Receipts { .. }, Response::Receipts { receipts }) => {
            if json {
                print_json(&receipts)?;
            } else {
                for r in &receipts {
                    println!(
                        "{:<24} delivered: {:<25} acknowledged: {:<25} deleted: {}",
                        r.recipient,
                        r.delivered_at.as_deref().map_or("-".into(), local_time),
                        r.acknowledged_at.as_deref().map_or("-".into(), local_time),
                        r.deleted_at.as_deref().map_or("-".into(), local_time)
                    );
                }
            }
        }
        (
            Command::Device {
                action: DeviceCommand::List,
            },
            Response::Devices { devices },
        ) => {
            if json {
                print_json(&devices)?;
            } else {
                for d in &devices {
                    println!(
                        "{}{}",
                        d.fingerprint,
                        if d.this_device { "  (this device)" } else { "" }
                    );
                }
            }
        }
        (
            Command::Device {
                action: DeviceCommand::Approve { out, .. },
            },
            Response::DeviceApproved { approval },
        ) => {
            write_new(out, &approval)?;
            println!("Approval written to {}.", out.display());
            println!(
                "1. Copy it to the new device, which links with it (its home in place of the \
                 dots):"
            );
            println!(
                "   liaison --home ... device link {}",
                liaison_protocol::shell::quote_path(out)
            );
            println!(
                "2. Your authority countersigns the file the new device then writes (the link \
                 prints their command)."
            );
        }
        (
            Command::Handover { .. },
            Response::HandedOver {
                id,
                role,
                to,
                messages,
            },
        ) => {
            if json {
                print_json(&serde_json::json!({
                    "id": id.to_hex(),
                    "role": role.to_string(),
                    "to": to.to_string(),
                    "messages": messages,
                }))?;
            } else {
                println!("Handed over {messages} message(s) of {role} to {to} in message {id}.");
            }
        }
        (Command::Agent { .. }, Response::Status { status }) => {
            if json {
                print_json(&status)?;
            } else {
                print_status(&status);
            }
        }
        (Command::Agent { .. }, Response::ShuttingDown) => {}
        (Command::Case { .. }, Response::CaseOpened { case }) => {
            if json {
                print_json(&serde_json::json!({ "case": case.to_hex() }))?;
            } else {
                println!("{case}");
                eprintln!(
                    "liaison: case opened and sent to its members. To write to them: `{}`",
                    suggest(&format!("send --case {case} \"...\""))
                );
            }
        }
        (Command::Case { action }, Response::CaseChanged { case, id }) => {
            if json {
                print_json(&serde_json::json!({ "case": case.to_hex(), "id": id.to_hex() }))?;
            } else {
                let what = match action {
                    CaseCommand::Add { id: who, .. } => {
                        format!("{who} added: they receive what is sent to the case from now on")
                    }
                    CaseCommand::Remove { id: who, .. } => {
                        format!("{who} removed: they were told, and receive nothing further")
                    }
                    _ => "changed".to_owned(),
                };
                println!("{id}");
                eprintln!("liaison: case {case}: {what}.");
            }
        }
        (Command::Case { .. }, Response::Cases { cases }) => {
            if json {
                print_json(&cases)?;
            } else if cases.is_empty() {
                println!(
                    "No cases. Open one with `{}`",
                    suggest("case new --title \"...\" --member ...")
                );
            } else {
                for c in &cases {
                    print_case_line(c);
                }
            }
        }
        (Command::Case { .. }, Response::Case { case }) => {
            if json {
                print_json(&case)?;
            } else {
                print_case(&case);
            }
        }
        (
            Command::Request { .. },
            Response::RequestSent {
                request,
                message,
                to,
            },
        ) => {
            let request = hex::encode(request);
            if json {
                print_json(&serde_json::json!({
                    "request": request,
                    "id": message.to_hex(),
                    "to": to.to_string(),
                }))?;
            } else {
                println!("{request}");
                eprintln!(
                    "liaison: request sent to {to}; if nobody acknowledges it in time, your next sync alerts you and sends it on. Follow it with `{}`",
                    suggest(&format!("request show {request}"))
                );
            }
        }
        (
            Command::Request { .. },
            Response::RequestStepSent {
                request,
                message,
                step,
            },
        ) => {
            let request = hex::encode(request);
            if json {
                print_json(&serde_json::json!({
                    "request": request,
                    "id": message.to_hex(),
                    "step": step,
                }))?;
            } else {
                println!("{message}");
                eprintln!("liaison: {step} of request {request} sent.");
            }
        }
        (Command::Request { .. }, Response::Requests { requests }) => {
            if json {
                print_json(&requests)?;
            } else if requests.is_empty() {
                println!(
                    "No requests. `{}` lists what you can ask.",
                    suggest("request types")
                );
            } else {
                for r in &requests {
                    print_request_line(r);
                }
            }
        }
        (Command::Request { .. }, Response::RequestShown { request }) => {
            if json {
                print_json(&request)?;
            } else {
                print_request(&request);
            }
        }
        (_, other) => bail!(
            "the agent answered `{}` to this command; are the agent and this liaison the same version?",
            other.kind()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Write `text` to `out`, refusing to replace an existing file. The file is
/// owner-only (0600) whatever the umask: it holds message content (an
/// evidence bundle) or key material (a device approval).
fn write_new(out: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} exists; choose another --out", out.display())
        }
        Err(e) => return Err(e).with_context(|| format!("writing {}", out.display())),
    };
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", out.display()))
}

/// A contact, as `contacts show` prints it.
fn print_contact(c: &liaison_client::agent::views::ContactView) {
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    println!(
        "{} — {} ({}{}), {}",
        c.id,
        c.name,
        c.agency,
        if c.unit.is_empty() {
            String::new()
        } else {
            format!(", {}", c.unit)
        },
        c.country
    );
    println!(
        "  languages: {}   time zone: {}   working hours: {}",
        or_dash(&c.languages.join(", ")),
        or_dash(&c.time_zone),
        or_dash(&c.working_hours)
    );
    if !c.roles.is_empty() {
        println!("  roles: {}", c.roles.join(", "));
    }
    let status = localize_times(&c.status_mark());
    println!(
        "  record version {}, {}; vouched for by {} from {} to {}",
        c.version,
        if c.active {
            "in force".to_owned()
        } else if status.is_empty() {
            "NOT in force (its authority's certificate is not)".to_owned()
        } else {
            format!("NOT in force {status}")
        },
        c.vouched_by,
        local_time(&c.vouched_since),
        local_time(&c.valid_until)
    );
    println!("  identity fingerprint: {}", c.identity_fingerprint);
    println!("  devices: {}", or_dash(&c.devices.join(", ")));
    if c.key_changed {
        println!(
            "  IDENTITY KEY CHANGED: compare safety numbers ({}), then `{}`",
            suggest(&format!("safety-number {}", c.id)),
            suggest(&format!("contacts accept {}", c.id))
        );
    } else {
        println!(
            "  verified in person: {}",
            if c.verified_in_person {
                "yes".to_owned()
            } else {
                format!(
                    "no (compare safety numbers: {})",
                    suggest(&format!("safety-number {}", c.id))
                )
            }
        );
    }
}

/// The commands that answer consent request `id` (the id `inbox` shows).
fn answer_hint(id: &str) -> String {
    format!(
        "To answer: `{}` (add --conditions \"...\" to set conditions) or `{}`",
        suggest(&format!("consent grant {id}")),
        suggest(&format!("consent refuse {id} --reason \"...\""))
    )
}

/// A consent exchange, as `consent list` prints it.
fn print_consent(c: &liaison_client::agent::views::ConsentView) {
    let who = if c.we_asked {
        "you asked".to_owned()
    } else {
        format!("asked by {}", c.requested_by.as_deref().unwrap_or("?"))
    };
    // The id `inbox` shows for the request, where the home holds the
    // message that carried it.
    let id = c.id.as_deref().unwrap_or(&c.request);
    println!(
        "request {id} about message {} ({who}): {}",
        c.message,
        c.scope.as_deref().unwrap_or("-")
    );
    if let Some(r) = &c.reason {
        println!("  reason: \"{}\"", liaison_client::core::open::one_line(r));
    }
    match (&c.decision, c.we_asked) {
        (Some(d), _) => {
            let when = c
                .decided_at
                .as_deref()
                .map(|t| format!(" on {}", local_time(t)))
                .unwrap_or_default();
            let until = match c.valid_until.as_deref() {
                Some(t) if d == "granted" => {
                    let now = i64::try_from(liaison_client::client::now().0).unwrap_or(i64::MAX);
                    let lapsed = t
                        .parse::<jiff::Timestamp>()
                        .is_ok_and(|t| t.as_millisecond() <= now);
                    format!(
                        ", valid until {}{}",
                        local_time(t),
                        if lapsed {
                            " (LAPSED: it no longer allows anything)"
                        } else {
                            ""
                        }
                    )
                }
                _ => String::new(),
            };
            println!("  decision: {d}{when}{until}");
            if let Some(cond) = c.conditions.as_deref().filter(|s| !s.is_empty()) {
                println!(
                    "  conditions: \"{}\"",
                    liaison_client::core::open::one_line(cond)
                );
            }
        }
        (None, true) => println!("  decision: waiting for the originator"),
        (None, false) => println!(
            "  to answer: `{}` or `{}`",
            suggest(&format!("consent grant {id}")),
            suggest(&format!("consent refuse {id} --reason \"...\""))
        ),
    }
}

/// Search results, newest first: when, who, and the text around the match.
fn print_search(
    text: &str,
    hits: &[liaison_client::agent::views::SearchHitView],
    total: usize,
    searched: usize,
) {
    let what = liaison_client::core::open::one_line(text);
    if hits.is_empty() {
        println!("No message you may read contains \"{what}\" ({searched} searched).");
        return;
    }
    println!(
        "{total} message(s) contain \"{what}\"{} ({searched} searched):",
        if hits.len() < total {
            format!(", the newest {} shown (more with --limit)", hits.len())
        } else {
            String::new()
        }
    );
    for h in hits {
        let who = if h.direction == "in" {
            format!("from {}", h.from)
        } else {
            format!("to {}", h.to.join(", "))
        };
        println!("{}  {who}  [{}]", local_time(&h.sent_at), h.id);
        if !h.snippet.is_empty() {
            println!("  {}", h.snippet);
        }
    }
    if let Some(newest) = hits.first() {
        println!(
            "To read the newest: `{}`",
            suggest(&format!("read {}", newest.id))
        );
    }
}

/// A message sent (by `send` or `reply`): its id on standard output, its
/// conversation on standard error.
fn print_sent(
    id: liaison_protocol::MessageId,
    to: &[liaison_protocol::DirectoryId],
    conversation: Option<liaison_protocol::ConversationId>,
    json: bool,
) -> Result<()> {
    if json {
        let mut v = serde_json::json!({
            "id": id.to_hex(),
            "to": to.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "accepted": true,
        });
        if let (Some(c), Some(obj)) = (conversation, v.as_object_mut()) {
            obj.insert("conversation".into(), c.to_hex().into());
        }
        print_json(&v)?;
    } else {
        println!("{id}");
        if let Some(c) = conversation {
            eprintln!("liaison: sent to {} in conversation {c}", join(to));
        }
    }
    Ok(())
}

fn join(ids: &[liaison_protocol::DirectoryId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Not read yet: the handling is not acknowledged, or a consent request
/// waits for a decision.
fn is_unread(m: &MessageView) -> bool {
    m.withheld || m.awaiting_decision || m.held
}

/// `inbox` and `sent`: JSON as stored, or text grouped by conversation
/// (the conversations in the order of their first message listed).
fn print_messages(messages: &[MessageView], json: bool, none: &str) -> Result<()> {
    if json {
        return print_json(&messages);
    }
    if messages.is_empty() {
        println!("{none}");
        return Ok(());
    }
    let mut order: Vec<&str> = Vec::new();
    for m in messages {
        if !order.contains(&m.conversation.as_str()) {
            order.push(&m.conversation);
        }
    }
    for conversation in order {
        let in_it: Vec<&MessageView> = messages
            .iter()
            .filter(|m| m.conversation == conversation)
            .collect();
        let mut people: Vec<&str> = Vec::new();
        for m in &in_it {
            for p in std::iter::once(&m.from).chain(&m.to) {
                if !people.contains(&p.as_str()) {
                    people.push(p);
                }
            }
        }
        match in_it.iter().find_map(|m| m.case.as_deref()) {
            Some(title) => println!(
                "=== case \"{}\" {conversation} ({} message(s); {})",
                liaison_client::core::open::one_line(title),
                in_it.len(),
                people.join(", ")
            ),
            None => println!(
                "=== conversation {conversation} ({} message(s); {})",
                in_it.len(),
                people.join(", ")
            ),
        }
        for m in in_it {
            print_message(m);
        }
    }
    Ok(())
}

/// A case on one line, as `case list` shows it.
fn print_case_line(c: &liaison_client::agent::views::CaseView) {
    let one = liaison_client::core::open::one_line;
    println!(
        "{}  \"{}\"{}  owner {}, {} member(s), {} message(s){}",
        c.id,
        one(&c.title),
        c.reference
            .as_deref()
            .map(|r| format!(" (ref {})", one(r)))
            .unwrap_or_default(),
        c.owner,
        c.members.len(),
        c.messages,
        if c.removed { "; you were removed" } else { "" }
    );
}

/// A request in one line, as `request list` prints it.
fn print_request_line(r: &liaison_client::agent::views::RequestView) {
    let flag = if r.overdue {
        "[NOT ACKNOWLEDGED IN TIME] "
    } else if r.late {
        "[LATE] "
    } else {
        ""
    };
    let who = if r.mine {
        format!("to {}", r.to)
    } else {
        format!("from {}", r.requester)
    };
    println!(
        "{}  {flag}{} {} {who}: {}, answer due {}{}",
        r.request,
        r.priority,
        r.kind,
        r.status,
        r.due,
        if r.outcome { ", outcome sent" } else { "" }
    );
}

/// A request, as `request show` prints it.
fn print_request(r: &liaison_client::agent::views::RequestView) {
    print_request_line(r);
    if r.withheld {
        println!(
            "  its fields are shown once you acknowledge its handling: `{}`",
            suggest(&format!("read {} --accept", r.message))
        );
    }
    for (name, value) in &r.fields {
        println!("  {name}: {}", liaison_client::core::open::one_line(value));
    }
    if let Some(by) = &r.acknowledge_by {
        println!("  to be acknowledged by {by}, or it escalates");
    }
    println!("  addressed to: {}", r.addressees.join(", "));
    for s in &r.steps {
        println!(
            "  {}  {} by {} (message {})",
            s.at, s.action, s.by, s.message
        );
    }
}

/// A case, as `case show` prints it.
fn print_case(c: &liaison_client::agent::views::CaseView) {
    print_case_line(c);
    println!("  handling: {}", c.handling.text);
    println!("  members: {}", c.members.join(", "));
    if c.held_since_change > 0 {
        println!(
            "  you hold it from change {} on (you were added then; nothing from before)",
            c.held_since_change
        );
    }
    for e in &c.history {
        println!(
            "  change {}: {} {} {} ({})",
            e.seq,
            e.by,
            match e.action.as_str() {
                "open" => "opened it with",
                "add" => "added",
                _ => "removed",
            },
            e.ids.join(", "),
            local_time(&e.at)
        );
    }
    if !c.removed {
        println!(
            "  to write to the members: `{}`",
            suggest(&format!("send --case {} \"...\"", c.id))
        );
    }
}

/// One message, as `inbox`, `sent` and `listen` show it.
pub fn print_message(m: &MessageView) {
    if m.verified {
        let origin = match &m.original_from {
            Some(o) => format!(" (forwarded; originally from {o})"),
            None => String::new(),
        };
        let body = if m.destroyed_at.is_some() {
            "[content destroyed: retention ended; only its hash is kept]".to_owned()
        } else if m.withheld {
            format!(
                "[handling not yet acknowledged: run `{}` to see it, then `{}`]",
                suggest(&format!("read {}", m.id)),
                suggest(&format!("read {} --accept", m.id))
            )
        } else {
            m.text.as_deref().unwrap_or_default().replace('\n', "\n  ")
        };
        let skew = match m.clock_skew_secs {
            Some(s) => format!(
                "\n  note: the sender's clock says {}, the relay accepted it at {} ({} minutes apart: a wrong clock, or a message kept on the sender's device until the relay could be reached)",
                local_time(&m.sent_at),
                local_time(&m.stored_at),
                (s + 30) / 60
            ),
            None => String::new(),
        };
        let skew = match (m.direction == "out" && !m.accepted, m.queued) {
            (true, true) => format!(
                "{skew}\n  NOT SENT YET: kept on this device; it goes out at the next `{}`",
                suggest("sync")
            ),
            (true, false) => format!(
                "{skew}\n  NOT SENT: it is no longer kept to go out (none of its recipients was \
                 still active, or the relay refused it: the warning given then said which). \
                 Write again if it still has to reach someone"
            ),
            (false, _) => skew,
        };
        let skew = match &m.note {
            Some(note) => format!("{skew}\n  note: {}", localize_times(note)),
            None => skew,
        };
        let mut consent = String::new();
        for g in &m.forwarded_with_consent {
            consent.push_str(&format!(
                "\n  forwarded with the consent of {} ({}, {}){}",
                g.by,
                g.scope,
                local_time(&g.decided_at),
                if g.conditions.trim().is_empty() {
                    ", no conditions".to_owned()
                } else {
                    format!(
                        "; conditions: \"{}\"",
                        liaison_client::core::open::one_line(&g.conditions)
                    )
                }
            ));
        }
        let mut answer = if m.awaiting_decision {
            format!("\n  {}", answer_hint(&m.id))
        } else {
            String::new()
        };
        if !m.attachments.is_empty() {
            let files: Vec<String> = m
                .attachments
                .iter()
                .map(|a| format!("{} ({} bytes)", a.name, a.size))
                .collect();
            answer.push_str(&format!(
                "\n  files: {}; save them here with `{}`",
                files.join(", "),
                suggest(&format!("attachment save {}", m.id))
            ));
        }
        println!(
            "[{}] {} → {}{origin}  {}\n  handling: {}{consent}{skew}\n  {}{answer}\n",
            local_time(&m.sent_at),
            m.from,
            m.to.join(", "),
            m.id,
            m.handling.text,
            body
        );
    } else if m.held {
        println!(
            "[{}] HELD {} from {}: {}\n",
            local_time(&m.sent_at),
            m.id,
            m.from,
            with_home(m.error.as_deref().unwrap_or_default())
        );
    } else {
        println!(
            "[{}] REJECTED {} from {}: {}\n",
            local_time(&m.stored_at),
            m.id,
            m.from,
            with_home(m.error.as_deref().unwrap_or("unverified"))
        );
    }
}

/// A message `listen` received.
pub fn print_listened(m: &MessageView, json: bool) -> Result<()> {
    if json {
        print_json(m)
    } else {
        if let Some(t) = &m.case {
            println!("=== case \"{t}\"");
        }
        print_message(m);
        Ok(())
    }
}

/// An event on `listen` through the agent. Returns whether it counts as a
/// message for `--count`.
pub fn print_event(event: &Event, json: bool) -> Result<bool> {
    match event {
        Event::Message { message } => {
            print_listened(message, json)?;
            return Ok(true);
        }
        Event::Rejected { id, reason } => {
            eprintln!("liaison: rejected message {id}: {}", with_home(reason))
        }
        // A key change also arrives as the client's own (general) warning.
        Event::Warning {
            category: WarningCategory::KeyChanged,
            ..
        } => {}
        Event::Warning { text, .. } => eprintln!("liaison: warning: {}", with_home(text)),
        Event::Link {
            state: LinkState::Up,
            detail,
        } => eprintln!("liaison: the agent is {detail}"),
        Event::Link {
            state: LinkState::Halted,
            detail,
        } => eprintln!("liaison: warning: the agent stopped reconnecting to the relay: {detail}"),
        Event::Link { detail, .. } => eprintln!(
            "liaison: warning: the agent lost its connection to the relay ({detail}); it reconnects by itself"
        ),
        Event::Lagged { missed } => eprintln!(
            "liaison: warning: {missed} event(s) were missed; run `{}` to see every message",
            suggest("inbox")
        ),
        // The receipt carrier was already shown as a message, as without
        // an agent.
        Event::Receipts { .. } | Event::Unlocked { .. } => {}
        _ => {}
    }
    Ok(false)
}

fn print_status(s: &AgentStatus) {
    println!("agent:              {} (pid {})", s.agent, s.pid);
    println!("home:               {}", s.home);
    println!("socket:             {}", s.socket);
    match &s.id {
        Some(id) if !s.locked => println!("state:              unlocked, serving {id}"),
        _ => println!(
            "state:              locked (any liaison command for this home asks for the passphrase)"
        ),
    }
    if let Some(relay) = &s.relay {
        println!("relay:              {relay}");
    }
    let since = s
        .link_since
        .as_deref()
        .map(|t| format!(" since {}", local_time(t)))
        .unwrap_or_default();
    match s.link {
        LinkState::Locked => println!("link:               none while locked"),
        LinkState::Up => println!("link:               up{since}"),
        LinkState::Down => println!(
            "link:               down{since}; next attempt in {} s ({} failed)",
            s.next_attempt_in_secs.unwrap_or(0),
            s.attempts
        ),
        LinkState::Halted => println!(
            "link:               halted{since}: not reconnecting by itself (a command that needs the relay tries again)"
        ),
    }
    if let Some(e) = &s.last_error {
        println!("last link problem:  {e}");
    }
    if let Some(n) = s.outbox {
        println!("unconfirmed sends:  {n}");
    }
    println!("event streams:      {}", s.subscribers);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn written_files_are_owner_only_and_never_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("liaison-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("evidence.txt");
        let _ = std::fs::remove_file(&file);
        super::write_new(&file, "bundle").unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(super::write_new(&file, "other").is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "bundle");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn times_in_sentences_are_shown_as_local_time() {
        let stamp = "2026-05-01T08:30:00Z";
        let text = format!("revoked on {stamp} (left — the unit)");
        assert_eq!(
            super::localize_times(&text),
            format!("revoked on {} (left — the unit)", super::local_time(stamp))
        );
        assert_eq!(
            super::localize_times("no time: 2026-05-01"),
            "no time: 2026-05-01"
        );
    }
}
