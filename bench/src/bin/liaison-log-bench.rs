//! `liaison-log-bench`: the cost of the relay's log proofs at scale.
//!
//! It builds a log of `--leaves` entries in a relay store in a new temporary
//! directory, through the store's own append path (leaf hashes, interior
//! hashes, compact range), `--batch` entries per durable transaction; warms
//! the cache with `--proofs` proofs; then times `--proofs` inclusion proofs
//! of random leaves in the whole tree and `--proofs` consistency proofs from
//! random earlier sizes to the whole tree, each through the store as the
//! relay serves them, and verifies every inclusion proof against the root.
//! It prints one JSON object (times in microseconds: p50, p90, p99, max) and
//! removes the directory.
//!
//! A benchmark to run by hand, never a timed test:
//! `cargo run --release -p liaison-bench --bin liaison-log-bench`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::{leaf_hash, verify_inclusion};
use liaison_relay::store::{RedbStore, Store};

/// Cost of the relay's log proofs: builds a large log in a temporary relay
/// store and times proofs through the store; prints one JSON object.
#[derive(Parser, Debug)]
#[command(name = "liaison-log-bench", version)]
struct Args {
    /// Entries in the log.
    #[arg(long, default_value_t = 10_000_000)]
    leaves: u64,
    /// Timed proofs of each kind (and as many untimed ones first, to warm
    /// the cache).
    #[arg(long, default_value_t = 1000)]
    proofs: usize,
    /// Entries appended per durable transaction while building the log.
    #[arg(long, default_value_t = 100_000)]
    batch: u64,
    /// Where to create the temporary directory (default: the system's
    /// temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liaison-log-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A directory removed when dropped, whatever happened.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn work_dir(parent: &Path) -> Result<WorkDir> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = parent.join(format!("liaison-log-bench-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(WorkDir(path))
}

/// xorshift64*: reproducible positions without a dependency.
struct Positions(u64);

impl Positions {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn entry(i: u64) -> Vec<u8> {
    i.to_be_bytes().to_vec()
}

fn summary(mut micros: Vec<f64>) -> serde_json::Value {
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((micros.len() as f64 - 1.0) * q).round() as usize;
        micros.get(i).copied().unwrap_or(0.0)
    };
    serde_json::json!({
        "p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0),
    })
}

fn run(args: Args) -> Result<()> {
    if args.leaves < 2 || args.batch == 0 || args.proofs == 0 {
        bail!("--leaves must be at least 2, --batch and --proofs at least 1");
    }
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = work_dir(&parent)?;
    let path = dir.0.join("relay.redb");
    let store = RedbStore::open(&path).context("opening the store")?;
    let log = LogId::Events;

    let started = Instant::now();
    let mut next = 0u64;
    while next < args.leaves {
        let n = args.batch.min(args.leaves - next);
        let entries: Vec<Vec<u8>> = (next..next + n).map(entry).collect();
        store.append_raw_entries(log, &entries)?;
        next += n;
    }
    let build_seconds = started.elapsed().as_secs_f64();
    let (size, root) = store.log_head(log)?;
    if size != args.leaves {
        bail!("the log holds {size} entries, not {}", args.leaves);
    }

    let mut positions = Positions(0x9e37_79b9_7f4a_7c15);
    for _ in 0..args.proofs {
        store.inclusion_proof(log, positions.below(size), size)?;
        store.consistency_proof(log, 1 + positions.below(size - 1), size)?;
    }

    let mut inclusion = Vec::with_capacity(args.proofs);
    let mut hashes = 0usize;
    for _ in 0..args.proofs {
        let index = positions.below(size);
        let t = Instant::now();
        let proof = store
            .inclusion_proof(log, index, size)?
            .context("no inclusion proof")?;
        inclusion.push(t.elapsed().as_secs_f64() * 1e6);
        hashes += proof.len();
        verify_inclusion(&leaf_hash(&entry(index)), index, size, &proof, &root)
            .context("an inclusion proof does not verify")?;
    }
    let mut consistency = Vec::with_capacity(args.proofs);
    for _ in 0..args.proofs {
        let old = 1 + positions.below(size - 1);
        let t = Instant::now();
        store
            .consistency_proof(log, old, size)?
            .context("no consistency proof")?;
        consistency.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let store_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    drop(store);
    drop(dir);

    let out = serde_json::json!({
        "leaves": size,
        "proofs": args.proofs,
        "batch": args.batch,
        "build_seconds": build_seconds,
        "store_bytes": store_bytes,
        "inclusion_proof_us": summary(inclusion),
        "inclusion_proof_mean_hashes": hashes as f64 / args.proofs as f64,
        "consistency_proof_us": summary(consistency),
    });
    println!("{out}");
    Ok(())
}
