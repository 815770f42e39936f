//! `liaison`: the focal point's command-line client.
//!
//! Exit codes: 0 success; 1 error; 2 usage error; 3 sync finished but some
//! messages were rejected (altered, forged or undecryptable); 4 the relay
//! was caught showing an inconsistent history (evidence in HOME/evidence/).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use liaison_client::client::{Direction, StoredMessage};
use liaison_client::home::KdfParams;
use liaison_client::{Client, InitParams, Received};
use liaison_protocol::handling::{Dissemination, Handling};
use liaison_protocol::{ConversationId, CountryCode, DirectoryId};
use serde_json::json;

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
    /// List the verified contacts in the directory.
    Contacts,
    /// Show the safety number to compare in person with a contact.
    SafetyNumber {
        /// The contact's id.
        id: DirectoryId,
    },
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
    })
}

fn print_message(m: &StoredMessage) {
    if m.verified {
        println!(
            "[{}] {} → {}  {}\n  handling: {} — {}\n  {}\n",
            m.sent_at,
            m.from,
            m.to.join(", "),
            m.id,
            m.handling.summary(),
            m.handling.dissemination.meaning(),
            m.text.replace('\n', "\n  ")
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
            let dissemination = Dissemination::parse(handling).ok_or_else(|| {
                anyhow!("--handling: unknown TLP level {handling:?} (use RED, AMBER+STRICT, AMBER, GREEN or CLEAR)")
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
            let id = client
                .send_in(
                    to,
                    &text,
                    Handling::with_dissemination(dissemination),
                    conversation,
                )
                .await;
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
                ExitCode::from(4)
            } else if report.rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
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
                .filter(|m| m.direction == want)
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
        Command::Contacts => {
            let client = Client::open(&home(&cli)?, &passphrase(false)?)?;
            let dir = client.directory();
            let mut rows = Vec::new();
            for r in dir.records() {
                let authority = dir
                    .signed_record(&r.id)
                    .and_then(|s| dir.authority(s.signer()))
                    .map(|a| a.name.clone())
                    .unwrap_or_default();
                rows.push(json!({
                    "id": r.id.to_string(),
                    "name": r.name,
                    "agency": r.agency,
                    "unit": r.unit,
                    "country": r.country.to_string(),
                    "languages": r.languages,
                    "version": r.version,
                    "active": r.is_active(liaison_client::client::now()),
                    "vouched_by": authority,
                    "identity_fingerprint": r.identity_key.fingerprint().to_string(),
                    "devices": r.devices.len(),
                }));
            }
            if cli.json {
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for r in dir.records() {
                    println!(
                        "{:<28} {:<24} {} {}  ({} device(s))",
                        r.id,
                        r.name,
                        r.country,
                        r.agency,
                        r.devices.len()
                    );
                }
                for p in client.directory_problems() {
                    eprintln!("liaison: directory entry rejected: {p}");
                }
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIAISON_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("liaison: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("liaison: {e:#}");
            ExitCode::FAILURE
        }
    }
}
