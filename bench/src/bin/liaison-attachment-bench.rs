//! `liaison-attachment-bench`: attachment throughput over loopback.
//!
//! It starts a relay of a fresh development network in this process (its
//! attachment limit and quota raised to fit the file if needed), enrols
//! two focal points with the client library, and for each of `--rounds`
//! rounds:
//!
//! - writes a fresh file of `--size-mb` MB (10^6 bytes) of random bytes;
//! - `upload`: the sender sends a message with that file attached, through
//!   the code `liaison send --attach` runs (sealed chunk by chunk, each
//!   confirmed durable by the relay, then the message and the recipients'
//!   grants);
//! - `download_save`: the recipient syncs (receives the message),
//!   acknowledges its handling and saves the attachment, through the code
//!   `liaison attachment save` runs (every chunk fetched and authenticated,
//!   the whole file checked against the signed SHA-256, synced to disk);
//! - compares the saved file with the original by SHA-256 (a mismatch is
//!   an error, not a figure).
//!
//! It prints one JSON object: per round the upload, download+save and
//! total seconds and the throughput (file size divided by the total time,
//! in MB/s), their median, minimum and maximum, the chunk size, and whether
//! the binary was built with debug assertions. Sender, relay and recipient
//! share the machine (and the disk of `--dir`). A benchmark to run by hand
//! (`cargo run --release -p liaison-bench --bin liaison-attachment-bench`),
//! never a timed test.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use clap::Parser;
use liaison_bench::devnet;
use liaison_client::Client;
use liaison_protocol::attachment::CHUNK_SIZE;
use liaison_protocol::handling::Handling;
use liaison_protocol::{DirectoryId, MessageId};
use sha2::{Digest, Sha256};

/// Attachment throughput over loopback, from the sender's send to the
/// recipient's save; prints one JSON object.
#[derive(Parser, Debug)]
#[command(name = "liaison-attachment-bench", version)]
struct Args {
    /// File size in MB (10^6 bytes).
    #[arg(long, default_value_t = 100)]
    size_mb: u64,
    /// Files sent and saved, one after the other (a fresh file each).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Working directory (development network, relay store, homes, files);
    /// default: a new directory under the system's temporary directory.
    /// Put it on the disk you want to measure: the relay and the recipient
    /// sync what they write.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the working directory afterwards.
    #[arg(long)]
    keep: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.size_mb == 0 || args.rounds == 0 {
        bail!("give --size-mb >= 1 and --rounds >= 1");
    }
    let dir = devnet::work_dir("liaison-attachment-bench", args.dir.as_deref())?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(&args, &dir));
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("{}", serde_json::to_string_pretty(&result?)?);
    Ok(())
}

/// Write `size` random bytes to `path`; returns their SHA-256.
fn random_file(path: &Path, size: u64) -> Result<[u8; 32]> {
    let mut file = std::fs::File::create(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64))?;
        let piece = buf.get_mut(..n).unwrap_or_default();
        getrandom::fill(piece).map_err(|e| anyhow!("no randomness: {e}"))?;
        hash.update(&*piece);
        file.write_all(piece)?;
        left -= n as u64;
    }
    file.sync_all()?;
    Ok(hash.finalize().into())
}

fn sha256_of(path: &Path) -> Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hash.finalize().into())
}

/// The recipient syncs until it holds message `id`.
async fn receive(client: &mut Client, id: MessageId) -> Result<()> {
    for _ in 0..10 {
        let report = client.sync().await?;
        if report.received.iter().any(|m| m.id == id) || client.message(id)?.is_some() {
            return Ok(());
        }
    }
    bail!("the recipient did not receive message {id}")
}

/// Median, minimum and maximum of `values`, rounded to `digits` decimals.
fn spread(values: &[f64], digits: i32) -> serde_json::Value {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let round = |x: f64| (x * 10f64.powi(digits)).round() / 10f64.powi(digits);
    let median = match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v.get(n / 2).copied().unwrap_or_default(),
        n => {
            (v.get(n / 2 - 1).copied().unwrap_or_default()
                + v.get(n / 2).copied().unwrap_or_default())
                / 2.0
        }
    };
    serde_json::json!({
        "median": round(median),
        "min": round(v.first().copied().unwrap_or_default()),
        "max": round(v.last().copied().unwrap_or_default()),
    })
}

async fn bench(args: &Args, dir: &Path) -> Result<serde_json::Value> {
    let size = args.size_mb * 1_000_000;
    let mut net = devnet::prepare(dir)?;
    let l = &mut net.config.limits;
    l.max_attachment_bytes = l.max_attachment_bytes.max(size);
    // Fetched files are deleted at once, but leave room for all of them.
    let rounds = u64::try_from(args.rounds)?;
    l.attachment_quota_bytes = l
        .attachment_quota_bytes
        .max(size.saturating_mul(rounds + 1).saturating_mul(2));
    let relay = devnet::InProcessRelay::start(&net)?;

    let (mut alice, _) = devnet::enrol(dir, "th.bench.alice", "Alice Bench").await?;
    let (mut bob, _) = devnet::enrol(dir, "ph.bench.bob", "Bob Bench").await?;
    alice.connect().await?;
    bob.connect().await?;
    let to: Vec<DirectoryId> = vec![bob.id().clone()];
    // Sessions warm: the first contact's prekey claims are not measured.
    let hello = alice
        .send_in(&to, "warm-up", Handling::default(), None)
        .await?;
    receive(&mut bob, hello).await?;

    let files = dir.join("files");
    std::fs::create_dir_all(&files)?;
    let mut per_round = Vec::new();
    let (mut uploads, mut downloads, mut totals, mut rates) = (vec![], vec![], vec![], vec![]);
    for round in 1..=args.rounds {
        let src = files.join(format!("round-{round}.bin"));
        let expected = random_file(&src, size)?;
        let out = dir.join("saved").join(format!("round-{round}"));
        std::fs::create_dir_all(&out)?;

        let start = Instant::now();
        let id = alice
            .send_attached(
                &to,
                &format!("round {round}"),
                Handling::default(),
                None,
                std::slice::from_ref(&src),
            )
            .await?;
        let uploaded = start.elapsed();
        receive(&mut bob, id).await?;
        bob.read(id, true).await?;
        let saved = bob.save_attached(id, &out).await?;
        let total = start.elapsed();

        let [file] = saved.as_slice() else {
            bail!("round {round}: {} files saved, not one", saved.len());
        };
        if sha256_of(file)? != expected {
            bail!("round {round}: the saved file differs from the one sent");
        }
        let (up, down, all) = (
            uploaded.as_secs_f64(),
            (total - uploaded).as_secs_f64(),
            total.as_secs_f64(),
        );
        let rate = size as f64 / 1e6 / all;
        per_round.push(serde_json::json!({
            "upload_secs": (up * 1000.0).round() / 1000.0,
            "download_save_secs": (down * 1000.0).round() / 1000.0,
            "total_secs": (all * 1000.0).round() / 1000.0,
            "mb_per_sec": (rate * 10.0).round() / 10.0,
        }));
        uploads.push(up);
        downloads.push(down);
        totals.push(all);
        rates.push(rate);
        std::fs::remove_file(&src)?;
        std::fs::remove_dir_all(&out)?;
    }

    alice.disconnect().await;
    bob.disconnect().await;
    relay.stop().await?;
    Ok(serde_json::json!({
        "benchmark": "liaison-attachment-bench",
        "size_bytes": size,
        "chunk_size_bytes": CHUNK_SIZE,
        "rounds": per_round,
        "upload_secs": spread(&uploads, 3),
        "download_save_secs": spread(&downloads, 3),
        "total_secs": spread(&totals, 3),
        "mb_per_sec": spread(&rates, 1),
        // Whether this binary was built with debug assertions (a plain
        // `cargo build`): its times are then not the release's.
        "debug_assertions": cfg!(debug_assertions),
    }))
}
