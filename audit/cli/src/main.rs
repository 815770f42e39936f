//! `liaison-audit`: the auditor's tool for the relay's transparency logs
//! and for judicial evidence bundles (`verify-message`). Everything it
//! decides is decided by the `liaison-audit` library; this binary parses the
//! arguments, calls it and prints.
//!
//! Exit codes ([`EXIT_VERIFIED`], [`EXIT_FAILED`], [`EXIT_USAGE`]): 0
//! everything verified; 1 a verification failed (the report names the file,
//! index or checkpoint and what failed); 2 usage or I/O error (nothing was
//! decided).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand, ValueEnum};
use liaison_audit::{self as audit, ExportOptions, Report, Trust, Witness, evidence};
use liaison_net::clock::{now, unix_now};
use liaison_protocol::MessageId;
use liaison_protocol::evidence::MAX_EVIDENCE_TEXT;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::proof::MAX_TLOG_PROOF_LEN;
use liaison_protocol::shell::{held_path, quote_path, written};

/// Exit code: everything verified.
const EXIT_VERIFIED: u8 = 0;
/// Exit code: a verification failed (the report says what and where).
const EXIT_FAILED: u8 = 1;
/// Exit code: usage or I/O error; nothing was decided (clap uses it too).
const EXIT_USAGE: u8 = 2;

/// Verify a Liaison relay's transparency logs: export them, check an export
/// or a per-event proof offline, compare checkpoints, or run a witness; and
/// verify a judicial evidence bundle offline.
///
/// Exit codes: 0 all verified; 1 verification failed (with a report naming
/// the file, index or checkpoint and what failed); 2 usage or I/O error.
#[derive(Parser, Debug)]
#[command(name = "liaison-audit", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Keys to pin. Flags override the bundle.
#[derive(clap::Args, Debug)]
struct KeyArgs {
    /// Take the log keys, witness keys, quorum and network root from this
    /// enrolment bundle.
    #[arg(long, value_parser = held_path)]
    bundle: Option<PathBuf>,
    /// A log's C2SP verifier key (`<network>/<log>+hex8+base64`); repeat for
    /// both logs. Its name tells which log it is for.
    #[arg(long = "log-key", value_name = "VKEY", value_parser = written)]
    log_key: Vec<String>,
    /// A trusted witness's C2SP cosignature verifier key; repeatable.
    #[arg(long = "witness", value_name = "VKEY")]
    witness: Vec<String>,
    /// Witness cosignatures every checkpoint must carry (default: 1 with
    /// --witness, else the bundle's quorum).
    #[arg(long)]
    quorum: Option<usize>,
    /// The network root key (64 hex digits), to chain directory records to
    /// it (default: the bundle's).
    #[arg(long = "root-key", value_name = "HEX")]
    root_key: Option<String>,
}

impl KeyArgs {
    fn trust(&self) -> Result<Trust> {
        let bundle = self.bundle.as_deref().map(audit::load_bundle).transpose()?;
        Ok(Trust::from_args(
            bundle.as_ref(),
            &self.log_key,
            &self.witness,
            self.quorum,
            self.root_key.as_deref(),
        )?)
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogChoice {
    Directory,
    Events,
    Both,
}

impl LogChoice {
    fn logs(self) -> &'static [LogId] {
        match self {
            LogChoice::Directory => &[LogId::Directory],
            LogChoice::Events => &[LogId::Events],
            LogChoice::Both => &LogId::ALL,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fetch the relay's checkpoints, consistency proofs and every entry into
    /// DIR (authenticating as an auditor). An earlier export in DIR is
    /// extended: its checkpoints are kept, so the history grows. The layout
    /// is described in DIR/README.txt.
    Export {
        /// The network's enrolment bundle (relay address, certificate pin,
        /// log keys).
        #[arg(long, value_parser = held_path)]
        bundle: PathBuf,
        /// The auditor key file (hex Ed25519 seed) registered in the relay's
        /// `[logs] auditors`.
        #[arg(long)]
        key: PathBuf,
        /// The export directory.
        #[arg(long)]
        out: PathBuf,
        /// Which log(s) to export.
        #[arg(long, value_enum, default_value = "both")]
        log: LogChoice,
    },
    /// Verify an export offline: checkpoint signatures (and witness quorum),
    /// roots recomputed from the entries at every checkpoint, consistency
    /// and forks, canonical encoding, the directory chain and the event
    /// log's semantics.
    Verify {
        /// The export directory.
        dir: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Verify an export (as `verify`), then show the focal point records in
    /// force at a size of its directory log: each id's version, identity key
    /// and device fingerprints and status, as every client applies them
    /// (versions only go up, revocations and device removals are final).
    /// Exit 1 if the export does not verify.
    Records {
        /// The export directory.
        dir: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// The directory log size to show (default: the largest size a
        /// verified checkpoint's root covers).
        #[arg(long, value_name = "SIZE")]
        at: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify one per-event proof bundle (c2sp.org/tlog-proof whose `extra`
    /// line carries the disclosed entry) against pinned keys, and print the
    /// event.
    VerifyProof {
        /// The proof bundle file.
        file: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify a judicial evidence bundle (written by `liaison export`)
    /// offline: the exporter's signature, the originator's record and
    /// authority certificate (chained to the pinned root and proven in the
    /// pinned directory log), the originator's signature on the message, the
    /// event-log proofs of its acceptance and delivery, the receipts, and
    /// that its handling permits judicial use or the originator consented.
    /// Prints what the bundle shows (exit 0) or the precise failure (exit 1).
    VerifyMessage {
        /// The evidence bundle file (binary or armoured text).
        file: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also print the message text (it is in the bundle; by default the
        /// report shows only its hash and size).
        #[arg(long)]
        show_content: bool,
        /// A file saved from the message (`liaison attachment save`): it
        /// must have the size and SHA-256 the originator signed for one of
        /// its attachments, or the verification fails. Repeat for each file.
        #[arg(long = "attachment", value_name = "FILE")]
        attachments: Vec<PathBuf>,
    },
    /// Fetch the events of one message with inclusion proofs and write one
    /// verified proof bundle per event into OUT (a directory).
    Proof {
        /// The network's enrolment bundle.
        #[arg(long, value_parser = held_path)]
        bundle: PathBuf,
        /// The auditor key file.
        #[arg(long)]
        key: PathBuf,
        /// The message id (32 hex digits).
        #[arg(long)]
        message: String,
        /// Directory for the proof files
        /// (`<message>-<index>-<kind>.tlog-proof`).
        #[arg(long)]
        out: PathBuf,
        /// Seconds to wait for a checkpoint that covers the events.
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// Compare two checkpoints of one log. Same size and different roots is
    /// a fork; with --bundle and different sizes, the relay must prove that
    /// the larger extends the smaller.
    Compare {
        /// First signed checkpoint.
        a: PathBuf,
        /// Second signed checkpoint.
        b: PathBuf,
        /// The log's C2SP verifier key (default: from --bundle, by origin).
        #[arg(long = "log-key", value_name = "VKEY")]
        log_key: Option<String>,
        /// Bundle of the relay to ask for a consistency proof.
        #[arg(long, value_parser = held_path)]
        bundle: Option<PathBuf>,
        /// An export of the log (`liaison-audit export`): its entries prove
        /// the two checkpoints consistent offline, with no relay.
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
    },
    /// Run a witness: verify each log's latest checkpoint and its
    /// consistency with the last one this witness cosigned, then cosign it
    /// and give the cosignature to the relay. Refuses (exit 1, evidence in
    /// STATE/evidence/) on a rollback or an inconsistency.
    Witness {
        /// The network's enrolment bundle.
        #[arg(long, value_parser = held_path)]
        bundle: PathBuf,
        /// The witness key file (C2SP cosignature signer key,
        /// `PRIVATE+KEY+name+...`).
        #[arg(long)]
        key: PathBuf,
        /// State directory: `<log>.note` is the last checkpoint cosigned.
        #[arg(long)]
        state: PathBuf,
        /// Do one round and exit.
        #[arg(long)]
        once: bool,
        /// Seconds between rounds.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        interval: u64,
    },
}

/// A failure to act (exit 2) or a verification verdict.
enum Outcome {
    Verified,
    Failed,
}

/// Write to stdout; a closed pipe ends the program successfully (ripgrep).
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

impl Outcome {
    fn of(report: &Report) -> Outcome {
        if report.is_ok() {
            Outcome::Verified
        } else {
            Outcome::Failed
        }
    }
}

fn verdict(report: &Report) -> Outcome {
    emit(&report.render());
    Outcome::of(report)
}

async fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Export {
            bundle,
            key,
            out,
            log,
        } => {
            let bundle_path = bundle;
            let bundle = audit::load_bundle(&bundle_path)?;
            let key = audit::load_auditor_key(&key)?;
            let report = audit::export(&ExportOptions {
                bundle: &bundle,
                key: &key,
                out: &out,
                logs: log.logs(),
            })
            .await?;
            emit(&report.render_as(&format!(
                "EXPORTED to {}: the relay's checkpoints verify and extend the held history; \
                 run `liaison-audit verify {} --bundle {}` for the full offline check",
                out.display(),
                quote_path(&out),
                quote_path(&bundle_path)
            )));
            Ok(Outcome::of(&report))
        }
        Command::Verify { dir, keys } => {
            let trust = keys.trust()?;
            let (report, _) = audit::verify_export(&dir, &trust)?;
            Ok(verdict(&report))
        }
        Command::Records {
            dir,
            keys,
            at,
            json,
        } => {
            let trust = keys.trust()?;
            match audit::records_at(&dir, &trust, at, now())? {
                (_, Some(records)) if json => {
                    emit(&format!("{}\n", records.to_json()));
                    Ok(Outcome::Verified)
                }
                (_, Some(records)) => {
                    emit(&records.render());
                    Ok(Outcome::Verified)
                }
                (report, None) => Ok(verdict(&report)),
            }
        }
        Command::VerifyProof { file, keys, json } => {
            let trust = keys.trust()?;
            let bytes = audit::read_file(&file, MAX_TLOG_PROOF_LEN as u64)?;
            match audit::verify_proof_bundle(&bytes, &trust) {
                Ok(v) => {
                    let summary = v.summary();
                    if json {
                        emit(&format!("{}\n", summary.to_json()));
                    } else {
                        emit(&summary.render());
                    }
                    Ok(Outcome::Verified)
                }
                Err(why) => {
                    emit(&audit::render_proof_failure(&file, &why));
                    Ok(Outcome::Failed)
                }
            }
        }
        Command::VerifyMessage {
            file,
            keys,
            json,
            show_content,
            attachments,
        } => verify_message(&file, &keys, json, show_content, &attachments),
        Command::Proof {
            bundle,
            key,
            message,
            out,
            wait,
        } => {
            let bundle = audit::load_bundle(&bundle)?;
            let key = audit::load_auditor_key(&key)?;
            let message = MessageId::from_hex(&message)
                .ok_or_else(|| anyhow!("--message: expected 32 hex digits"))?;
            let written =
                audit::message_proofs(&bundle, &key, message, &out, Duration::from_secs(wait))
                    .await?;
            for (path, record) in &written {
                emit(&format!(
                    "{}\n  {}\n",
                    path.display(),
                    audit::describe_event(record)
                ));
            }
            Ok(Outcome::Verified)
        }
        Command::Compare {
            a,
            b,
            log_key,
            bundle,
            export,
        } => {
            let bundle = bundle.as_deref().map(audit::load_bundle).transpose()?;
            let report = audit::compare_checkpoint_files(
                &a,
                &b,
                log_key.as_deref(),
                bundle.as_ref(),
                export.as_deref(),
            )
            .await?;
            Ok(verdict(&report))
        }
        Command::Witness {
            bundle,
            key,
            state,
            once,
            interval,
        } => {
            let bundle = audit::load_bundle(&bundle)?;
            let signer = audit::load_witness_key(&key)?;
            let witness = Witness {
                bundle: &bundle,
                signer: &signer,
                state: &state,
            };
            if !witness.is_listed() {
                eprintln!(
                    "liaison-audit: note: witness key {} is not listed in the bundle's \
                     witness_keys; clients will not count its cosignatures",
                    signer.verifier().to_vkey()
                );
            }
            loop {
                match witness.round(unix_now()).await {
                    Ok(report) => {
                        for n in report.notes() {
                            emit(&format!("{n}\n"));
                        }
                        for f in report.failures() {
                            eprintln!("liaison-audit: WITNESS {f}");
                        }
                        if once {
                            return Ok(Outcome::of(&report));
                        }
                    }
                    Err(e) if once => return Err(e.into()),
                    Err(e) => eprintln!(
                        "liaison-audit: witness round failed: {}",
                        liaison_net::tool::chain(&e)
                    ),
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(interval)) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(Outcome::Verified),
                }
            }
        }
    }
}

fn verify_message(
    file: &Path,
    keys: &KeyArgs,
    json: bool,
    show_content: bool,
    attachments: &[PathBuf],
) -> Result<Outcome> {
    let pins = keys.trust()?.evidence_pins()?;
    let bytes = audit::read_file(file, MAX_EVIDENCE_TEXT as u64)?;
    let given = attachments
        .iter()
        .map(|p| {
            evidence::hash_file(p)
                .with_context(|| format!("cannot read the attachment file {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let checked = evidence::check_evidence(&bytes, &pins, now())
        .and_then(|report| Ok((evidence::match_attachments(&report, &given)?, report)));
    match checked {
        Ok((files, report)) => {
            if json {
                emit(&format!(
                    "{}\n",
                    evidence::report_json(&report, show_content, &files)
                ));
            } else {
                emit(&evidence::render_report(&report, show_content, &files));
            }
            Ok(Outcome::Verified)
        }
        Err(why) => {
            if json {
                emit(&format!("{}\n", evidence::failure_json(file, &why)));
            } else {
                emit(&evidence::render_failure(file, &why));
            }
            Ok(Outcome::Failed)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    liaison_net::tool::main_with(
        "liaison-audit",
        EXIT_USAGE,
        run(cli),
        |outcome| match outcome {
            Outcome::Verified => ExitCode::from(EXIT_VERIFIED),
            Outcome::Failed => ExitCode::from(EXIT_FAILED),
        },
        // A relay error reported as itself (no cause chain of its own).
        |e| {
            e.chain()
                .find_map(|c| match c.downcast_ref::<liaison_audit::AuditError>() {
                    Some(liaison_audit::AuditError::Link(l)) => {
                        liaison_net::tool::link_retry_hint(l)
                    }
                    _ => None,
                })
        },
    )
}
