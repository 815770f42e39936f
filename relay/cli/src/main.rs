//! `liaison-relay`: run a Liaison relay.
//!
//! The command line over the `liaison_relay` library, and what only it
//! needs: the client side of `backup` and `restore` ([`backup`]), `anyhow`
//! reports with their causes.
//!
//! Exit codes: 0 success (including a graceful shutdown on SIGTERM or
//! SIGINT), 1 error (configuration, I/O, bind, a store failure), 2 usage.
//! Logs go to stderr (`--log-format text|json`, `[logging]` in the
//! configuration, `RUST_LOG` filters); stdout carries only what a user or
//! script asks for.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use liaison_protocol::shell::{held_path, quote_path};
use liaison_relay::config::Overrides;
use liaison_relay::logging::{self, LogFormat};
use liaison_relay::{Relay, RelayConfig, dev};

mod backup;

/// The Liaison relay: durable, end-to-end-encrypted message queues for focal
/// points, over QUIC.
#[derive(Parser, Debug)]
#[command(name = "liaison-relay", version)]
struct Cli {
    /// Log line format on stderr (overrides `[logging] format`).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "LIAISON_LOG_FORMAT",
        hide_env_values = true
    )]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written to stderr (the library's [`LogFormat`], as a
/// command-line value).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormatArg {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line (for journald, Loki, Elasticsearch, ...).
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(f: LogFormatArg) -> Self {
        match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a relay from a configuration file (production). Flags override
    /// the file. Tells systemd when it is ready (Type=notify) and shuts down
    /// gracefully on SIGTERM.
    Run {
        /// The relay configuration (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// UDP address to listen on (overrides `listen`).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// TCP address of the metrics and health endpoint (overrides
        /// `[metrics] listen`).
        #[arg(long, value_name = "ADDR", conflicts_with = "no_metrics")]
        metrics_listen: Option<SocketAddr>,
        /// No metrics endpoint, whatever the file says.
        #[arg(long)]
        no_metrics: bool,
    },
    /// Run a relay on a throwaway development network kept in DIR, creating
    /// the network (root key, TH and PH authorities, bundle) on first use.
    Dev {
        /// Directory of the development network.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// UDP address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7443")]
        listen: SocketAddr,
        /// TCP address of the metrics and health endpoint (default: a free
        /// loopback port, printed at start).
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<SocketAddr>,
    },
    /// Validate a configuration file and the files it names: exit 0 if
    /// valid, else print the error (key and line) and exit 1.
    CheckConfig {
        /// The relay configuration (TOML).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the hex SHA-256 of the relay's TLS certificate, which clients
    /// pin (generating the certificate and key if neither exists yet).
    CertFingerprint {
        /// The relay configuration (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the C2SP verifier keys of the relay's two transparency logs as
    /// the options of `liaison-admin bundle` (--directory-log-key K
    /// --event-log-key K), generating the log signing keys if they do not
    /// exist yet.
    LogKeys {
        /// The relay configuration (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Write a consistent backup of the relay's store to a new file. Asks
    /// the running relay over its control socket (writes pause for the
    /// length of a local file copy, clients stay connected); if no relay is
    /// running, opens the store directly. The backup is integrity-checked
    /// before it is kept. Key files are not included: back them up
    /// separately.
    Backup {
        /// The relay configuration (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The backup file to create (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a stopped relay's store (or a backup): every page checksum,
    /// every log entry against its leaf hash, every leaf into the root, and
    /// every checkpoint the relay signed. Exit 0 if the store holds exactly
    /// what the relay signed, 1 (naming what differs) if not. Every start
    /// runs the quick part of this check.
    CheckStore {
        /// The relay configuration (TOML), which names the data directory.
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "store",
            conflicts_with = "store"
        )]
        config: Option<PathBuf>,
        /// The store file itself (a backup, for instance).
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
    },
    /// Install a backup as the store of a data directory, after checking
    /// it. The relay must be stopped. Restore the TLS and log keys into the
    /// data directory separately.
    Restore {
        /// The backup file.
        #[arg(long, value_name = "FILE", value_parser = held_path)]
        from: PathBuf,
        /// The relay's data directory (created 0700 if missing).
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Replace an existing store (it is kept, renamed
        /// relay.redb.replaced-UNIXTIME).
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liaison-relay: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Print to stdout; a closed pipe is not an error (the reader has gone).
fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn load(path: &std::path::Path) -> anyhow::Result<RelayConfig> {
    RelayConfig::load(path).with_context(|| format!("in {}", path.display()))
}

/// The first line of the readiness output of a build with test hooks
/// (never a release build; `.ci/run` checks). The integration tests look
/// for it before they rely on a hook.
const TEST_HOOKS_LINE: &str = "liaison-relay: built with test hooks (misbehaviour on demand, a shifted clock): never use in production\n";

/// Announce on stdout what the relay serves, once it is ready (scripts and
/// tests wait for the "listening on" line, which comes last).
fn announce(relay: &Relay, dial: SocketAddr) {
    let mut text = String::new();
    if liaison_relay::TEST_HOOKS || liaison_clock::TEST_HOOKS {
        text.push_str(TEST_HOOKS_LINE);
    }
    if let Some(m) = relay.metrics_addr() {
        text.push_str(&format!("liaison-relay: metrics on http://{m}/metrics\n"));
    }
    text.push_str(&format!(
        "liaison-relay: control socket {}\n",
        relay.control_socket().display()
    ));
    text.push_str(&format!("liaison-relay: listening on {dial}\n"));
    relay.on_ready(move || {
        let _ = out(&text);
    });
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if matches!(cli.command, Command::Run { .. } | Command::Dev { .. }) {
        liaison_relay::check_test_environment()?;
    }
    let flag_format = cli.log_format.map(LogFormat::from);
    let init_default = || logging::init(flag_format.unwrap_or_default(), "info");
    match cli.command {
        Command::Run {
            config,
            listen,
            metrics_listen,
            no_metrics,
        } => {
            let mut config = load(&config)?;
            config.apply(&Overrides {
                listen,
                metrics_listen,
                no_metrics,
                log_format: flag_format,
            })?;
            logging::init(config.logging.format, &config.logging.level);
            runtime()?.block_on(async {
                let shutdown = shutdown_signal();
                let relay = Relay::bind(config)?;
                announce(&relay, relay.local_addr());
                relay.serve(shutdown).await?;
                anyhow::Ok(())
            })
        }
        Command::Dev {
            dir,
            listen,
            metrics_listen,
        } => {
            init_default();
            runtime()?.block_on(async {
                let shutdown = shutdown_signal();
                let mut net = dev::prepare(&dir, listen)?;
                net.config.apply(&Overrides {
                    metrics_listen,
                    ..Overrides::default()
                })?;
                let relay = Relay::bind(net.config.clone())?;
                let bound = relay.local_addr();
                dev::write_bundle(&net, bound, relay.cert_sha256())?;
                out(&dev::instructions(&net))?;
                out("\n")?;
                announce(&relay, dev::dial_addr(bound));
                relay.serve(shutdown).await?;
                anyhow::Ok(())
            })
        }
        Command::CheckConfig { file } => {
            init_default();
            let config = load(&file)?;
            let pin = liaison_relay::config::PIN_COMMAND;
            let notes: Vec<String> = config
                .check_files()
                .with_context(|| format!("in {}", file.display()))?
                .into_iter()
                .map(|n| {
                    n.replace(
                        pin,
                        &format!(
                            "{pin} --config {}",
                            liaison_protocol::shell::quote_path(&file)
                        ),
                    )
                })
                .collect();
            let mut text = format!(
                "{}: ok (listen {}, data_dir {})\n  metrics: {}\n  control socket: {}\n  log format: {:?}\n  \
                 queues of lapsed devices: kept {} days\n",
                file.display(),
                config.listen,
                config.data_dir.display(),
                config
                    .metrics
                    .listen
                    .map(|a| format!("http://{a}/metrics"))
                    .unwrap_or_else(|| "off".into()),
                config.control_socket.display(),
                config.logging.format,
                config.limits.lapsed_queue_grace_days,
            );
            for n in notes {
                text.push_str(&format!("  note: {n}\n"));
            }
            out(&text)
        }
        Command::CertFingerprint { config } => {
            init_default();
            let config = load(&config)?;
            let pin = liaison_relay::cert_sha256(&config)?;
            out(&format!("{}\n", hex::encode(pin)))
        }
        Command::LogKeys { config } => {
            init_default();
            let config = load(&config)?;
            if !config.data_dir.exists() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&config.data_dir)
                    .with_context(|| format!("creating {}", config.data_dir.display()))?;
            }
            let keys =
                liaison_relay::checkpoints::load_or_generate_keys(&config.data_dir, &config.logs)?;
            // Exactly the options `liaison-admin bundle` takes, so the line
            // can be pasted (or substituted with $(...)) into that command.
            // Verifier keys are name+hex+base64: no character a shell splits.
            out(&format!(
                "--directory-log-key {} --event-log-key {}\n",
                keys.vkey(liaison_protocol::frames::LogId::Directory),
                keys.vkey(liaison_protocol::frames::LogId::Events)
            ))
        }
        Command::Backup { config, out: file } => {
            init_default();
            let config = load(&config)?;
            let report = backup::backup(&config.control_socket, &config.store_path(), &file)?;
            out(&format!(
                "liaison-relay: backup written to {} ({} bytes, sha256 {}, taken {})\n  tables: {}\n",
                report.path.display(),
                report.bytes,
                hex::encode(report.sha256),
                if report.online {
                    "online from the running relay"
                } else {
                    "offline: no relay was running"
                },
                report.summary
            ))
        }
        Command::CheckStore { config, store } => {
            init_default();
            let path = match (store, &config) {
                (Some(p), _) => p,
                (None, Some(c)) => load(c)?.store_path(),
                (None, None) => anyhow::bail!("give --config FILE or --store FILE"),
            };
            if !path.is_file() {
                anyhow::bail!("{} is not a store file (no such file)", path.display());
            }
            let opened = liaison_relay::store::RedbStore::open(&path);
            let db = match opened {
                Ok(db) => db,
                Err(e) if e.to_string().contains("already open") => {
                    anyhow::bail!("{} is in use by a running relay: {}", path.display(), match &config {
                        Some(config) => {
                            let copy = quote_path(Path::new(&format!(
                                "./relay-copy-{}.redb",
                                liaison_clock::now().as_secs()
                            )));
                            format!(
                                "stop it first, or check a copy taken while it runs: `liaison-relay backup --config {} --out {copy} && liaison-relay check-store --store {copy}`",
                                quote_path(config)
                            )
                        }
                        None => "stop it first, or check a copy taken while it runs (see `liaison-relay backup --help`)".to_owned(),
                    })
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("{} failed its integrity check", path.display())));
                }
            };
            match db.check(liaison_relay::store::check::Depth::Full)? {
                Ok(logs) => {
                    let mut text = format!(
                        "liaison-relay: {}: every page, entry and signed checkpoint checks out
",
                        path.display()
                    );
                    for l in logs {
                        text.push_str(&format!(
                            "  {} log: {} entries, newest signed checkpoint at size {}, {} checkpoints recomputed
",
                            l.log, l.size, l.checkpoint, l.checkpoints_checked
                        ));
                    }
                    let blobs = db.check_blobs()?;
                    if !blobs.problems.is_empty() {
                        anyhow::bail!(
                            "{}: the logs check out, but the attachment tables disagree: {}; \
                             quotas may be wrong until this is fixed: keep this output and \
                             restore the newest backup that passes this check",
                            path.display(),
                            blobs.problems.join("; ")
                        );
                    }
                    text.push_str(&format!(
                        "  attachments: {} held, {} sealed chunks, {} bytes reserved against quotas
",
                        blobs.blobs, blobs.chunks, blobs.reserved
                    ));
                    out(&text)
                }
                Err(mismatch) => anyhow::bail!(
                    "{} does not hold what the relay signed: {mismatch}; restore the newest backup that passes this check",
                    path.display()
                ),
            }
        }
        Command::Restore {
            from,
            data_dir,
            force,
        } => {
            init_default();
            let report = backup::restore(&from, &data_dir, force)?;
            let mut text = format!(
                "liaison-relay: restored {} into {}\n  tables: {}\n",
                from.display(),
                report.store.display(),
                report.summary
            );
            if let Some(old) = report.replaced {
                text.push_str(&format!(
                    "  the previous store was kept as {}\n",
                    old.display()
                ));
            }
            text.push_str(
                "  next: put the relay's TLS certificate and key and its log keys back in the data \
                 directory (from your key backup), then start the relay\n",
            );
            out(&text)
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called, not when the future is first polled, so a signal that
/// arrives as soon as the relay reports ready is not lost (nor fatal).
/// Must be called inside the runtime.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (term, int) = handlers;
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {}
                () = wait(int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown signal received");
    }
}
