//! `liaison`: the focal point's command-line client.
//!
//! Exit codes: 0 success; 1 error; 2 usage error; 3 sync finished but some
//! messages were rejected (altered, forged or undecryptable); 4 the relay
//! was caught showing an inconsistent history (evidence in HOME/evidence/).

// Indexing here is only `serde_json::Value[&str]`, which yields Null for a
// missing key and never panics.
#![allow(clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use liaison_client::client::{Direction, MessageKind, StoredMessage};
use liaison_client::home::KdfParams;
use liaison_client::{Client, InitParams, Received};
use liaison_protocol::handling::Handling;
use liaison_protocol::{ConversationId, CountryCode, DirectoryId};
use serde_json::json;

/// Exit code: the command failed (the message says why).
const EXIT_ERROR: u8 = 1;
/// Exit code: `sync` finished, but some messages were rejected (altered,
/// forged or undecryptable).
const EXIT_REJECTED: u8 = 3;
/// Exit code: the relay was caught showing an inconsistent history
/// (evidence in HOME/evidence/).
const EXIT_LOG_INCONSISTENT: u8 = 4;

/// Liaison: end-to-end encrypted, signed messaging for cross-border police
/// cooperation.
#[derive(Parser, Debug)]
#[command(name = "liaison", version)]
struct Cli {
    /// Home directory holding this focal point's keys and messages
    /// (encrypted at rest).
    #[arg(long, env = "LIAISON_HOME", global = true)]
    home: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create keys and an enrolment request (HOME/enrolment.request) for your
    /// authority to sign.
    Init {
        /// Enrolment bundle from your network (bundle.toml).
        #[arg(long)]
        bundle: PathBuf,
        /// Your directory id, such as th.dsi.somchai.
        #[arg(long)]
        id: DirectoryId,
        /// Your full name.
        #[arg(long)]
        name: String,
        /// Your country (ISO 3166 two-letter code).
        #[arg(long)]
        country: String,
        /// Your agency, such as DSI or PNP.
        #[arg(long)]
        agency: String,
        /// Your unit.
        #[arg(long, default_value = "")]
        unit: String,
        /// Languages you work in (repeatable), such as th, en.
        #[arg(long = "language")]
        languages: Vec<String>,
        /// Your IANA time zone, such as Asia/Bangkok.
        #[arg(long, default_value = "")]
        time_zone: String,
    },
    /// Send an end-to-end encrypted, signed message. Prints the message id
    /// once the relay has durably accepted it.
    Send {
        /// Recipient directory id (repeatable).
        #[arg(long = "to", required = true)]
        to: Vec<DirectoryId>,
        /// TLP 2.0 dissemination: RED (default), AMBER+STRICT, AMBER, GREEN, CLEAR.
        #[arg(long, default_value = "RED")]
        handling: String,
        /// Continue a conversation (its id in hex).
        #[arg(long)]
        conversation: Option<String>,
        /// The message text; `-` reads it from standard input.
        text: String,
    },
    /// Retry unconfirmed sends, then fetch, verify, store and acknowledge
    /// pending messages.
    Sync,
    /// List received messages.
    Inbox,
    /// List sent messages and whether the relay accepted them.
    Sent,
    /// Stay connected and print messages as they arrive.
    Listen {
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<usize>,
        /// Stop after this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Show this focal point's id, keys and fingerprints.
    Whoami,
    /// List and search the verified contacts; verify them in person.
    Contacts {
        #[command(subcommand)]
        action: Option<ContactsCommand>,
        #[command(flatten)]
        filter: ContactFilter,
    },
    /// List the roles in the directory and their current holders.
    Roles,
    /// Show a received message's handling in plain words; with --accept,
    /// acknowledge it (a signed receipt goes to the sender) and show the
    /// content.
    Read {
        /// Message id.
        id: String,
        /// Acknowledge the handling and show the content.
        #[arg(long)]
        accept: bool,
    },
    /// Forward a received message with its handling (tightened only),
    /// checked against the dissemination scope.
    Forward {
        /// Message id.
        id: String,
        /// Recipient (repeatable).
        #[arg(long = "to", required = true)]
        to: Vec<DirectoryId>,
        /// Tighter handling for the forward (text form); default: unchanged.
        #[arg(long)]
        handling: Option<String>,
        /// A note above the forwarded message.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Ask for, grant or refuse consent to lift a restriction.
    Consent {
        #[command(subcommand)]
        action: ConsentCommand,
    },
    /// Judicial export: an evidence bundle (signed payload, the sender's
    /// record and its log proof, receipts, consents, event-log proofs),
    /// only if judicial use is permitted or consented.
    Export {
        /// Message id.
        id: String,
        /// Where to write the bundle (armoured text).
        #[arg(long)]
        out: PathBuf,
        /// The case the evidence is for (must match a judicial consent
        /// that names a case).
        #[arg(long)]
        case: Option<String>,
    },
    /// Delivery and acknowledgement receipts for a message you sent.
    Receipts {
        /// Message id.
        id: String,
    },
    /// Add a device to your identity (a second machine): request on the new
    /// device, approve on this one, have your authority countersign, link.
    Device {
        #[command(subcommand)]
        action: DeviceCommand,
    },
    /// Hand the conversations of a role you held over to its new holder,
    /// in one signed, encrypted package.
    Handover {
        /// The role, such as th.dsi.tip-duty.
        #[arg(long)]
        role: DirectoryId,
        /// The incoming holder.
        #[arg(long)]
        to: DirectoryId,
    },
    /// Show the safety number to compare in person with a contact.
    SafetyNumber {
        /// The contact's id.
        id: DirectoryId,
    },
}

#[derive(Subcommand, Debug)]
enum ConsentCommand {
    /// Ask the originator of a received message for consent.
    Request {
        /// Message id.
        id: String,
        /// What you ask for: forward:ID[,ID...], judicial:CASE, purpose:NAME or retain:DATE.
        #[arg(long)]
        scope: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// As originator: grant a request.
    Grant {
        /// Request id (from `liaison consent list`).
        request: String,
        /// Conditions attached to the grant.
        #[arg(long, default_value = "")]
        conditions: String,
        /// The grant lapses at this date/time (UTC).
        #[arg(long)]
        valid_until: Option<String>,
    },
    /// As originator: refuse a request.
    Refuse {
        /// Request id.
        request: String,
        /// Reason given to the requester.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Consent requests and decisions, both directions.
    List,
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// On the NEW device: create its home and HOME/device.request.
    Request {
        /// Enrolment bundle of your network.
        #[arg(long)]
        bundle: PathBuf,
        /// Your directory id (the identity this device joins).
        #[arg(long)]
        id: DirectoryId,
    },
    /// On a device holding your identity key: approve a device request and
    /// write the approval (give it to your authority and to the new device).
    Approve {
        /// The device.request file from the new device.
        request: PathBuf,
        /// Where to write the approval.
        #[arg(long, default_value = "device.approval")]
        out: PathBuf,
    },
    /// On the NEW device: take your identity key from the approval.
    Link {
        /// The device.approval file.
        approval: PathBuf,
    },
    /// Show the devices your directory record lists.
    List,
}

#[derive(Subcommand, Debug)]
enum ContactsCommand {
    /// Everything known about one contact: who vouched for them and when,
    /// fingerprints, devices, verification.
    Show {
        /// The contact's id.
        id: DirectoryId,
    },
    /// Compare safety numbers in person: without --safety-number, print
    /// ours; with it, mark the contact verified only if they are equal.
    Verify {
        /// The contact's id.
        id: DirectoryId,
        /// The safety number the contact read to you.
        #[arg(long)]
        safety_number: Option<String>,
    },
    /// Accept a contact's changed identity key without verifying it.
    Accept {
        /// The contact's id.
        id: DirectoryId,
    },
}

/// Filters for `liaison contacts` (all optional; case-insensitive).
#[derive(clap::Args, Debug, Default)]
struct ContactFilter {
    /// Only this country (TH, PH, ...).
    #[arg(long)]
    country: Option<String>,
    /// Only this agency.
    #[arg(long)]
    agency: Option<String>,
    /// Only holders of this role (role id).
    #[arg(long)]
    role: Option<String>,
    /// Only contacts working in this language.
    #[arg(long)]
    language: Option<String>,
    /// Only names or ids containing this text.
    #[arg(long)]
    name: Option<String>,
}

fn contact_rows(client: &Client, f: &ContactFilter) -> Result<Vec<serde_json::Value>> {
    let dir = client.directory();
    let known = client.contacts()?;
    let now = liaison_client::client::now();
    let eq = |a: &str, b: &Option<String>| b.as_ref().is_none_or(|b| a.eq_ignore_ascii_case(b));
    let mut rows = Vec::new();
    for r in dir.records() {
        let holds: Vec<String> = dir
            .roles()
            .filter(|role| role.holders.contains(&r.id))
            .map(|role| role.id.to_string())
            .collect();
        if !eq(r.country.as_str(), &f.country)
            || !eq(&r.agency, &f.agency)
            || f.role
                .as_ref()
                .is_some_and(|x| !holds.iter().any(|h| h.eq_ignore_ascii_case(x)))
            || f.language
                .as_ref()
                .is_some_and(|x| !r.languages.iter().any(|l| l.eq_ignore_ascii_case(x)))
            || f.name.as_ref().is_some_and(|x| {
                let x = x.to_lowercase();
                !r.name.to_lowercase().contains(&x) && !r.id.as_str().contains(&x)
            })
        {
            continue;
        }
        let authority = dir
            .signed_record(&r.id)
            .and_then(|s| dir.authority(s.signer()))
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let state = known.get(r.id.as_str());
        rows.push(json!({
            "id": r.id.to_string(),
            "kind": "focal-point",
            "name": r.name,
            "agency": r.agency,
            "unit": r.unit,
            "country": r.country.to_string(),
            "languages": r.languages,
            "time_zone": r.time_zone,
            "working_hours": r.working_hours,
            "roles": holds,
            "version": r.version,
            "active": r.is_active(now),
            "vouched_by": authority,
            "vouched_since": r.not_before.to_rfc3339(),
            "valid_until": r.not_after.to_rfc3339(),
            "identity_fingerprint": r.identity_key.fingerprint().to_string(),
            "devices": r.devices.iter().map(|d| d.signing.fingerprint().to_string()).collect::<Vec<_>>(),
            "verified_in_person": state.is_some_and(|s| s.verified_in_person),
            "key_changed": state.is_some_and(|s| s.key_changed.is_some()),
        }));
    }
    Ok(rows)
}

fn parse_message_id(s: &str) -> Result<liaison_protocol::MessageId> {
    liaison_protocol::MessageId::from_hex(s).ok_or_else(|| anyhow!("a message id is 32 hex digits"))
}

fn parse_request_id(s: &str) -> Result<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s.trim(), &mut out)
        .map_err(|_| anyhow!("a request id is 32 hex digits"))?;
    Ok(out)
}

fn print_warnings(client: &mut Client) {
    for w in client.take_warnings() {
        eprintln!("liaison: warning: {w}");
    }
}

fn passphrase(confirm: bool) -> Result<String> {
    if let Ok(p) = std::env::var("LIAISON_PASSPHRASE") {
        if p.is_empty() {
            bail!("LIAISON_PASSPHRASE is set but empty");
        }
        return Ok(p);
    }
    let p = rpassword::prompt_password("Passphrase: ")
        .context("no LIAISON_PASSPHRASE set and no terminal to ask for the passphrase")?;
    if confirm {
        let q = rpassword::prompt_password("Repeat passphrase: ")?;
        if p != q {
            bail!("the passphrases differ");
        }
        if p.chars().count() < 8 {
            bail!("choose a passphrase of at least 8 characters");
        }
    }
    Ok(p)
}

fn home(cli: &Cli) -> Result<PathBuf> {
    cli.home
        .clone()
        .ok_or_else(|| anyhow!("no home directory: pass --home DIR or set LIAISON_HOME"))
}

fn handling_json(h: &Handling) -> serde_json::Value {
    json!({
        "tlp": h.dissemination.label(),
        "judicial_use": format!("{:?}", h.judicial_use).to_lowercase(),
        "protect_victims": h.protect_victims,
        "retain_until": h.retain_until.map(|t| t.to_rfc3339()),
        "purposes": h.purposes,
        "conditions": h.conditions,
                "summary": h.summary(),
        "text": h.to_text(),
    })
}

fn message_json(m: &StoredMessage) -> serde_json::Value {
    json!({
        "id": m.id.to_hex(),
        "from": m.from,
        "to": m.to,
        "sent_at": m.sent_at.to_rfc3339(),
        "stored_at": m.stored_at.to_rfc3339(),
        "conversation": m.conversation.to_hex(),
        "text": m.text,
        "verified": m.verified,
        "error": m.error,
        "handling": handling_json(&m.handling),
        "direction": if m.direction == Direction::In { "in" } else { "out" },
                "accepted": m.accepted,
        "logged": m.logged,
        "kind": m.kind,
        "original_from": m.original_from,
        "acknowledged_at": m.acknowledged_at.map(|t| t.to_rfc3339()),
        "destroyed_at": m.destroyed_at.map(|t| t.to_rfc3339()),
        "handed_over_by": m.via_handover,
    })
}

fn print_message(m: &StoredMessage) {
    if m.verified {
        let origin = match &m.original_from {
            Some(o) => format!(" (forwarded; originally from {o})"),
            None => String::new(),
        };
        let body = if m.destroyed_at.is_some() {
            "[content destroyed: retention ended; only its hash is kept]".to_owned()
        } else if m.direction == Direction::In
            && m.acknowledged_at.is_none()
            && m.kind != MessageKind::ConsentRequest
            && m.kind != MessageKind::ConsentDecision
        {
            format!(
                "[handling not yet acknowledged: run `liaison read {}` to see it, then `liaison read {} --accept`]",
                m.id, m.id
            )
        } else {
            m.text.replace('\n', "\n  ")
        };
        println!(
            "[{}] {} → {}{origin}  {}\n  handling: {}\n  {}\n",
            m.sent_at,
            m.from,
            m.to.join(", "),
            m.id,
            m.handling.to_text(),
            body
        );
    } else {
        println!(
            "[{}] REJECTED {} from {}: {}\n",
            m.stored_at,
            m.id,
            m.from,
            m.error.as_deref().unwrap_or("unverified")
        );
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Init {
            bundle,
            id,
            name,
            country,
            agency,
            unit,
            languages,
            time_zone,
        } => {
            let dir = home(&cli)?;
            let bundle_text = std::fs::read_to_string(bundle)
                .with_context(|| format!("reading bundle {}", bundle.display()))?;
            let country = CountryCode::parse(country).map_err(|e| anyhow!("--country: {e}"))?;
            let pass = passphrase(true)?;
            let params = InitParams {
                id: id.clone(),
                name: name.clone(),
                country,
                agency: agency.clone(),
                unit: unit.clone(),
                languages: languages.clone(),
                time_zone: time_zone.clone(),
            };
            let (path, fingerprint) =
                Client::init(&dir, &pass, &bundle_text, params, KdfParams::new_default()?)?;
            if cli.json {
                println!(
                    "{}",
                    json!({"id": id.to_string(), "request": path.display().to_string(), "identity_fingerprint": fingerprint})
                );
            } else {
                println!("Created home {} for {id}.", dir.display());
                println!("Enrolment request: {}", path.display());
                println!("Identity fingerprint: {fingerprint}");
                println!(
                    "Give the request to your {country} authority and confirm this fingerprint with them by phone or in person."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Send {
            to,
            handling,
            conversation,
            text,
        } => {
            let handling = Handling::parse_text(handling).map_err(|e| {
                anyhow!("--handling: {e} (for example: \"AMBER+STRICT judicial=with-consent purpose=rescue retain=2027-06-30\")")
            })?;
            let conversation = match conversation {
                Some(c) => Some(
                    ConversationId::from_hex(c)
                        .ok_or_else(|| anyhow!("--conversation: expected 32 hex digits"))?,
                ),
                None => None,
            };
            let text = if text == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .context("reading the message from stdin")?;
                s
            } else {
                text.clone()
            };
            let mut client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            client.connect().await?;
            let id = client.send_in(to, &text, handling, conversation).await;
            print_warnings(&mut client);
            client.disconnect().await;
            let id = id?;
            if cli.json {
                println!(
                    "{}",
                    json!({"id": id.to_hex(), "to": to.iter().map(ToString::to_string).collect::<Vec<_>>(), "accepted": true})
                );
            } else {
                println!("{id}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync => {
            let mut client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            client.connect().await?;
            let report = client.sync().await;
            print_warnings(&mut client);
            client.disconnect().await;
            let report = report?;
            for (id, reason) in &report.rejected {
                eprintln!("liaison: rejected message {id}: {reason}");
            }
            for f in &report.forks {
                eprintln!("liaison: {f}");
            }
            if cli.json {
                println!(
                    "{}",
                    json!({
                        "received": report.received.iter().map(message_json).collect::<Vec<_>>(),
                        "rejected": report.rejected.iter().map(|(id, r)| json!({"id": id.to_hex(), "error": r})).collect::<Vec<_>>(),
                        "duplicates": report.duplicates,
                        "resent": report.flushed,
                        "log_inconsistencies": report.forks,
                    })
                );
            } else {
                println!(
                    "{} new message(s), {} rejected{}",
                    report.received.len(),
                    report.rejected.len(),
                    if report.flushed > 0 {
                        format!(", {} unconfirmed send(s) retried", report.flushed)
                    } else {
                        String::new()
                    }
                );
            }
            Ok(if !report.forks.is_empty() {
                ExitCode::from(EXIT_LOG_INCONSISTENT)
            } else if report.rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_REJECTED)
            })
        }
        Command::Inbox | Command::Sent => {
            let client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            let want = if matches!(cli.command, Command::Inbox) {
                Direction::In
            } else {
                Direction::Out
            };
            let msgs: Vec<StoredMessage> = client
                .messages()?
                .into_iter()
                .filter(|m| m.direction == want && m.kind != MessageKind::Receipts)
                .collect();
            if cli.json {
                println!(
                    "{}",
                    serde_json::Value::Array(msgs.iter().map(message_json).collect())
                );
            } else if msgs.is_empty() {
                println!("No messages.");
            } else {
                for m in &msgs {
                    print_message(m);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Listen { count, timeout } => {
            let mut client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            client.connect().await?;
            let json_out = cli.json;
            let me = client.id().clone();
            let res = client
                .listen(
                    *count,
                    timeout.map(Duration::from_secs),
                    || eprintln!("liaison: listening for messages to {me} (Ctrl-C to stop)"),
                    |r| match r {
                        Received::Message(m) => {
                            if json_out {
                                println!("{}", message_json(m));
                            } else {
                                print_message(m);
                            }
                        }
                        Received::Rejected { id, reason } => {
                            eprintln!("liaison: rejected message {id}: {reason}")
                        }
                        Received::Duplicate(_) => {}
                    },
                )
                .await;
            print_warnings(&mut client);
            client.disconnect().await;
            res?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Whoami => {
            let client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            let enrolled = client.directory().record(client.id()).is_some();
            if cli.json {
                println!(
                    "{}",
                    json!({
                        "id": client.id().to_string(),
                        "identity_key": client.identity_key().to_hex(),
                        "identity_fingerprint": client.identity_key().fingerprint().to_string(),
                        "device_key": client.device_key().to_hex(),
                        "enrolled": enrolled,
                        "outbox": client.outbox_len()?,
                    })
                );
            } else {
                println!("id:                   {}", client.id());
                println!(
                    "identity fingerprint: {}",
                    client.identity_key().fingerprint()
                );
                println!(
                    "device fingerprint:   {}",
                    client.device_key().fingerprint()
                );
                println!(
                    "enrolled:             {}",
                    if enrolled {
                        "yes"
                    } else {
                        "not yet seen in the directory"
                    }
                );
                println!("unconfirmed sends:    {}", client.outbox_len()?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Contacts { action, filter } => {
            let mut client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            match action {
                None => {
                    let rows = contact_rows(&client, filter)?;
                    if cli.json {
                        println!("{}", serde_json::Value::Array(rows));
                    } else {
                        if rows.is_empty() {
                            println!("No contacts match.");
                        }
                        for r in &rows {
                            println!(
                                "{:<28} {:<22} {} {:<8} {}{}",
                                r["id"].as_str().unwrap_or(""),
                                r["name"].as_str().unwrap_or(""),
                                r["country"].as_str().unwrap_or(""),
                                r["agency"].as_str().unwrap_or(""),
                                r["kind"].as_str().unwrap_or(""),
                                if r["verified_in_person"] == true {
                                    "  [verified in person]"
                                } else if r["key_changed"] == true {
                                    "  [KEY CHANGED]"
                                } else {
                                    ""
                                }
                            );
                        }
                        for p in client.directory_problems() {
                            eprintln!("liaison: directory entry rejected: {p}");
                        }
                    }
                }
                Some(ContactsCommand::Show { id }) => {
                    let rows = contact_rows(&client, &ContactFilter::default())?;
                    let row = rows
                        .into_iter()
                        .find(|r| r["id"] == id.as_str())
                        .ok_or_else(|| {
                            anyhow!("{id} is not in the verified directory (run `liaison sync`)")
                        })?;
                    if cli.json {
                        println!("{row}");
                    } else {
                        println!("{}", serde_json::to_string_pretty(&row)?);
                    }
                }
                Some(ContactsCommand::Verify { id, safety_number }) => {
                    let ours = client.safety_number(id)?;
                    let Some(theirs) = safety_number else {
                        println!(
                            "Safety number with {id}:\n  {ours}\nRead it to {id} in person or on a trusted call; if \
                             theirs is the same, run:\n  liaison contacts verify {id} --safety-number \"{ours}\""
                        );
                        return Ok(ExitCode::SUCCESS);
                    };
                    client.verify_contact(id, theirs)?;
                    if cli.json {
                        println!(
                            "{}",
                            json!({"id": id.to_string(), "verified_in_person": true})
                        );
                    } else {
                        println!("{id} is now marked as verified in person.");
                    }
                }
                Some(ContactsCommand::Accept { id }) => {
                    client.accept_contact_key(id)?;
                    println!("Accepted the new identity key of {id} (not verified in person).");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Device { action } => {
            let dir = home(&cli)?;
            match action {
                DeviceCommand::Request { bundle, id } => {
                    let text = std::fs::read_to_string(bundle)
                        .with_context(|| format!("reading bundle {}", bundle.display()))?;
                    let pass = passphrase(true)?;
                    let path = Client::device_request(
                        &dir,
                        &pass,
                        &text,
                        id.clone(),
                        KdfParams::new_default()?,
                    )?;
                    println!("Device request written to {}.", path.display());
                    println!("Approve it on a device that already holds your identity:");
                    println!(
                        "  liaison --home OTHER_HOME device approve {}",
                        path.display()
                    );
                }
                DeviceCommand::Approve { request, out } => {
                    let text = std::fs::read_to_string(request)
                        .with_context(|| format!("reading {}", request.display()))?;
                    let mut client = Client::open(&dir, &passphrase(false)?)?;
                    let approval = client.approve_device(&text)?;
                    std::fs::write(out, approval)
                        .with_context(|| format!("writing {}", out.display()))?;
                    println!("Approval written to {}.", out.display());
                    println!(
                        "1. Your authority countersigns it:  liaison-admin add-device --authority KEY --bundle BUNDLE {}",
                        out.display()
                    );
                    println!(
                        "2. The new device links with it:     liaison --home NEW_HOME device link {}",
                        out.display()
                    );
                }
                DeviceCommand::Link { approval } => {
                    let text = std::fs::read_to_string(approval)
                        .with_context(|| format!("reading {}", approval.display()))?;
                    Client::link_device(&dir, &passphrase(false)?, &text)?;
                    println!(
                        "Linked: this device now holds your identity key. Once your authority has countersigned, run `liaison sync`."
                    );
                }
                DeviceCommand::List => {
                    let client = Client::open(&dir, &passphrase(false)?)?;
                    let rec = client.directory().record(client.id()).ok_or_else(|| {
                        anyhow!("your record is not in the directory yet (run `liaison sync`)")
                    })?;
                    let rows: Vec<_> = rec
                        .devices
                        .iter()
                        .map(|d| json!({"device": d.signing.to_hex(), "fingerprint": d.signing.fingerprint().to_string(), "this_device": d.signing == client.device_key()}))
                        .collect();
                    if cli.json {
                        println!("{}", serde_json::Value::Array(rows));
                    } else {
                        for r in rows {
                            println!(
                                "{}{}",
                                r["fingerprint"].as_str().unwrap_or(""),
                                if r["this_device"] == true {
                                    "  (this device)"
                                } else {
                                    ""
                                }
                            );
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Read { id, accept } => {
            let id = parse_message_id(id)?;
            let mut client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            if *accept {
                client.connect().await?;
            }
            let res = client.read(id, *accept).await;
            print_warnings(&mut client);
            client.disconnect().await;
            let (m, explain) = res?;
            if cli.json {
                println!(
                    "{}",
                    json!({"message": message_json(&m), "handling_explained": explain})
                );
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
                println!("Handling set by the originator:");
                for line in &explain {
                    println!("  * {line}");
                }
                if m.acknowledged_at.is_some() || m.direction == Direction::Out {
                    println!("\n{}", m.text);
                } else {
                    println!(
                        "\nRun `liaison read {} --accept` to acknowledge this handling (a signed receipt goes to the sender) and read the content.",
                        m.id
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Forward {
            id,
            to,
            handling,
            note,
        } => {
            let id = parse_message_id(id)?;
            let handling = match handling {
                Some(h) => Some(Handling::parse_text(h).map_err(|e| anyhow!("--handling: {e}"))?),
                None => None,
            };
            let mut client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            client.connect().await?;
            let res = client.forward(id, to, handling, note).await;
            print_warnings(&mut client);
            client.disconnect().await;
            let fid = res?;
            if cli.json {
                println!("{}", json!({"id": fid.to_hex(), "forwarded": id.to_hex()}));
            } else {
                println!("{fid}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Consent { action } => {
            let mut client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            match action {
                ConsentCommand::List => {
                    let rows: Vec<_> = client
                        .consents()?
                        .iter()
                        .map(|c| {
                            let req = c.request.as_ref().and_then(|b| {
                                <liaison_protocol::Signed<liaison_protocol::consent::ConsentRequest> as liaison_protocol::Wire>::decode(b).ok()
                            }).and_then(|s| s.decode_unverified().ok());
                            let dec = c.decision.as_ref().and_then(|b| {
                                <liaison_protocol::Signed<liaison_protocol::consent::ConsentDecision> as liaison_protocol::Wire>::decode(b).ok()
                            }).and_then(|s| s.decode_unverified().ok());
                            json!({
                                "request": hex::encode(c.request_id),
                                "message": c.message_id.to_hex(),
                                "we_asked": c.we_asked,
                                "scope": req.as_ref().map(|r| r.scope.to_text()),
                                "requested_by": req.as_ref().map(|r| r.requested_by.to_string()),
                                "reason": req.as_ref().map(|r| r.reason.clone()),
                                "decision": dec.as_ref().map(|d| if d.granted { "granted" } else { "refused" }),
                                "conditions": dec.as_ref().map(|d| d.conditions.clone()),
                            })
                        })
                        .collect();
                    if cli.json {
                        println!("{}", serde_json::Value::Array(rows));
                    } else if rows.is_empty() {
                        println!("No consent requests.");
                    } else {
                        for r in rows {
                            println!("{r}");
                        }
                    }
                }
                ConsentCommand::Request { id, scope, reason } => {
                    let id = parse_message_id(id)?;
                    let scope = liaison_protocol::consent::ConsentScope::parse_text(scope)
                        .map_err(|e| anyhow!("--scope: {e}"))?;
                    client.connect().await?;
                    let res = client.request_consent(id, scope, reason).await;
                    client.disconnect().await;
                    let rid = res?;
                    println!("{}", hex::encode(rid));
                }
                ConsentCommand::Grant {
                    request,
                    conditions,
                    valid_until,
                } => {
                    let rid = parse_request_id(request)?;
                    let until = match valid_until {
                        Some(t) => Some(liaison_protocol::Timestamp::parse_rfc3339(t).ok_or_else(
                            || {
                                anyhow!(
                                    "--valid-until: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
                                )
                            },
                        )?),
                        None => None,
                    };
                    client.connect().await?;
                    let res = client.decide_consent(rid, true, conditions, until).await;
                    client.disconnect().await;
                    res?;
                    println!("Granted.");
                }
                ConsentCommand::Refuse { request, reason } => {
                    let rid = parse_request_id(request)?;
                    client.connect().await?;
                    let res = client.decide_consent(rid, false, reason, None).await;
                    client.disconnect().await;
                    res?;
                    println!("Refused.");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { id, out, case } => {
            let id = parse_message_id(id)?;
            let mut client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            client.connect().await?;
            let res = liaison_client::evidence::export(&mut client, id, case.as_deref()).await;
            client.disconnect().await;
            let bundle = res?;
            if out.exists() {
                bail!("{} exists; choose another --out", out.display());
            }
            std::fs::write(out, bundle.to_text())
                .with_context(|| format!("writing {}", out.display()))?;
            if cli.json {
                println!(
                    "{}",
                    json!({"message": id.to_hex(), "out": out.display().to_string()})
                );
            } else {
                println!("Evidence bundle for {id} written to {}.", out.display());
                println!(
                    "Verify it offline: liaison-audit verify-message {} --bundle BUNDLE.toml",
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Receipts { id } => {
            let id = parse_message_id(id)?;
            let client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            let m = client
                .message(id)?
                .ok_or_else(|| anyhow!("no message {id}"))?;
            let records = client.receipt_records(id)?;
            let mut per: std::collections::BTreeMap<String, serde_json::Value> =
                std::collections::BTreeMap::new();
            for to in &m.to {
                per.insert(to.clone(), json!({"recipient": to}));
            }
            for r in records.iter().filter(|r| r.by != client.id().as_str()) {
                let e = per
                    .entry(r.by.clone())
                    .or_insert_with(|| json!({"recipient": r.by}));
                if let Some(o) = e.as_object_mut() {
                    o.insert(format!("{}_at", r.kind), json!(r.at.to_rfc3339()));
                    o.insert(format!("{}_logged", r.kind), json!(r.logged));
                }
            }
            let rows: Vec<_> = per.into_values().collect();
            if cli.json {
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for r in rows {
                    println!(
                        "{:<24} delivered: {:<22} acknowledged: {:<22} deleted: {}",
                        r["recipient"].as_str().unwrap_or(""),
                        r["delivered_at"].as_str().unwrap_or("-"),
                        r["acknowledged_at"].as_str().unwrap_or("-"),
                        r["deleted_at"].as_str().unwrap_or("-")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Roles => {
            let client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            let dir = client.directory();
            let mut rows = Vec::new();
            for r in dir.roles() {
                rows.push(json!({
                    "id": r.id.to_string(),
                    "name": r.name,
                    "description": r.description,
                    "country": r.country.to_string(),
                    "version": r.version,
                    "holders": r.holders.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }));
            }
            if cli.json {
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for r in dir.roles() {
                    let holders: Vec<String> = r.holders.iter().map(ToString::to_string).collect();
                    println!(
                        "{:<28} {:<30} holders (on-call order): {}",
                        r.id,
                        r.name,
                        holders.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Handover { role, to } => {
            let mut client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            client.connect().await?;
            let res = client.send_handover(role, to).await;
            print_warnings(&mut client);
            client.disconnect().await;
            let (id, n) = res?;
            if cli.json {
                println!(
                    "{}",
                    json!({"id": id.to_hex(), "role": role.to_string(), "to": to.to_string(), "messages": n})
                );
            } else {
                println!("Handed over {n} message(s) of {role} to {to} in message {id}.");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::SafetyNumber { id } => {
            let client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            let rec = client.directory().record(id).ok_or_else(|| {
                anyhow!("{id} is not in the verified directory (run `liaison sync` first)")
            })?;
            let n = liaison_protocol::keys::safety_number(
                client.id().as_str(),
                &client.identity_key(),
                rec.id.as_str(),
                &rec.identity_key,
            );
            if cli.json {
                println!("{}", json!({"contact": id.to_string(), "safety_number": n}));
            } else {
                println!(
                    "Safety number with {id}:\n  {n}\nCompare it with {id} in person or by a trusted call."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    liaison_net::tool::main_with("liaison", EXIT_ERROR, run(cli), |code| code, |_| None)
}
