//! `liaison-admin`: tools for country authorities and the network authority.
//!
//! Exit codes: 0 success; 1 error; 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand};
use liaison_client::admin::{
    DEFAULT_VALIDITY_DAYS, current_time, publish_record, record_from_request,
};
use liaison_client::client::parse_request;
use liaison_protocol::bundle::{AuthorityKeyFile, Bundle};
use serde_json::json;

/// Liaison administration: enrol focal points with a country authority key.
#[derive(Parser, Debug)]
#[command(name = "liaison-admin", version)]
struct Cli {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify an enrolment request, sign a focal point record with your
    /// authority key and publish it to the relay.
    Enrol {
        /// Your authority key file (country.key).
        #[arg(long)]
        authority: PathBuf,
        /// The network's enrolment bundle.
        #[arg(long)]
        bundle: PathBuf,
        /// Record version (1 for a new focal point; higher to supersede).
        #[arg(long, default_value_t = 1)]
        version: u64,
        /// Days the record stays valid.
        #[arg(long, default_value_t = DEFAULT_VALIDITY_DAYS)]
        valid_days: u64,
        /// The focal point's enrolment.request file.
        request: PathBuf,
    },
    /// Show what an enrolment request contains, and its fingerprint, without
    /// signing anything.
    ShowRequest {
        /// The enrolment.request file.
        request: PathBuf,
    },
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Enrol {
            authority,
            bundle,
            version,
            valid_days,
            request,
        } => {
            let auth_text = std::fs::read_to_string(&authority)
                .with_context(|| format!("reading authority key {}", authority.display()))?;
            let auth = AuthorityKeyFile::from_toml(&auth_text)
                .map_err(|e| anyhow!("{}: {e}", authority.display()))?;
            let bundle_text = std::fs::read_to_string(&bundle)
                .with_context(|| format!("reading bundle {}", bundle.display()))?;
            let bundle = Bundle::from_toml(&bundle_text)
                .map_err(|e| anyhow!("{}: {e}", bundle.display()))?;
            let root = bundle.root().map_err(|e| anyhow!("{e}"))?;
            liaison_protocol::directory::verify_authority(&root, &auth.certificate, current_time())
                .map_err(|e| {
                    anyhow!("your authority certificate is not valid for this network: {e}")
                })?;
            let req_text = std::fs::read_to_string(&request)
                .with_context(|| format!("reading {}", request.display()))?;
            let (_, req) = parse_request(&req_text)?;
            let record = record_from_request(&auth, &req, version, valid_days, current_time())?;
            publish_record(&bundle, record, &req).await?;
            if cli.json {
                println!(
                    "{}",
                    json!({"id": req.id.to_string(), "version": version, "published": true,
                           "identity_fingerprint": req.identity_key.fingerprint().to_string()})
                );
            } else {
                println!(
                    "Enrolled {} ({}, {} {}) version {version}; identity fingerprint {}",
                    req.id,
                    req.name,
                    req.country,
                    req.agency,
                    req.identity_key.fingerprint()
                );
            }
            Ok(())
        }
        Command::ShowRequest { request } => {
            let req_text = std::fs::read_to_string(&request)
                .with_context(|| format!("reading {}", request.display()))?;
            let (_, req) = parse_request(&req_text)?;
            if cli.json {
                println!(
                    "{}",
                    json!({"id": req.id.to_string(), "name": req.name, "country": req.country.to_string(),
                           "agency": req.agency, "identity_fingerprint": req.identity_key.fingerprint().to_string(),
                           "created_at": req.created_at.to_rfc3339()})
                );
            } else {
                println!("id:                   {}", req.id);
                println!("name:                 {}", req.name);
                println!("country / agency:     {} / {}", req.country, req.agency);
                println!("identity fingerprint: {}", req.identity_key.fingerprint());
                println!("created:              {}", req.created_at);
            }
            Ok(())
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
            eprintln!("liaison-admin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liaison-admin: {e:#}");
            ExitCode::FAILURE
        }
    }
}
