//! `liaison-relay`: run a Liaison relay.
//!
//! Exit codes: 0 success, 1 error (configuration, I/O, bind), 2 usage.
//! Logs go to stderr (`RUST_LOG` filters, default `info`); stdout carries
//! only what a user or script asks for.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use liaison_relay::{Relay, RelayConfig, dev};

/// The Liaison relay: durable, end-to-end-encrypted message queues for focal
/// points, over QUIC.
#[derive(Parser, Debug)]
#[command(name = "liaison-relay", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a relay from a configuration file (production).
    Run {
        /// The relay configuration (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
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
    },
    /// Validate a configuration file: exit 0 if valid, else print the error
    /// and exit 1.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
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

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { config } => {
            let config = RelayConfig::load(&config)?;
            runtime()?.block_on(async {
                let relay = Relay::bind(config)?;
                out(&format!(
                    "liaison-relay: listening on {}\n",
                    relay.local_addr()
                ))?;
                relay.serve(shutdown_signal()).await
            })
        }
        Command::Dev { dir, listen } => runtime()?.block_on(async {
            let net = dev::prepare(&dir, listen)?;
            let relay = Relay::bind(net.config.clone())?;
            let bound = relay.local_addr();
            dev::write_bundle(&net, bound, relay.cert_sha256())?;
            out(&dev::instructions(&net))?;
            out(&format!(
                "\nliaison-relay: listening on {}\n",
                dev::dial_addr(bound)
            ))?;
            relay.serve(shutdown_signal()).await
        }),
        Command::CheckConfig { file } => {
            let config = RelayConfig::load(&file)?;
            out(&format!(
                "{}: ok (listen {}, data_dir {})\n",
                file.display(),
                config.listen,
                config.data_dir.display()
            ))
        }
        Command::CertFingerprint { config } => {
            let config = RelayConfig::load(&config)?;
            let pin = liaison_relay::cert_sha256(&config)?;
            out(&format!("{}\n", hex::encode(pin)))
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received");
}
