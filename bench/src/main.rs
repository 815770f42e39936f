//! `liaison-bench`: capacity benchmark of a real relay over loopback QUIC.
//!
//! It starts a relay as a child process (this same binary, re-executed in
//! relay mode, on a fresh development network in `--dir`), enrols N sender
//! and M recipient focal points with the client library, subscribes the
//! recipients, and has the senders send messages of `--size` bytes of text,
//! each as fast as the previous one is acknowledged (closed loop) or at a
//! total `--rate`, for `--messages` messages or `--duration` seconds. It
//! prints one JSON object:
//!
//! - `accepted_per_sec`: messages durably accepted by the relay per second
//!   of the send phase;
//! - `delivered_per_sec`: messages held, decrypted and verified by their
//!   recipient per second (from the first send to the last delivery);
//! - `latency_ms`: end to end, from the start of the `send` call to the
//!   moment the recipient's client holds the decrypted, verified message
//!   (p50, p99, max, mean);
//! - `relay_cpu_ms_per_message`: user and system CPU time of the relay
//!   process (`/proc/PID/stat`) over the run, per accepted message;
//! - `relay_peak_memory_bytes`: the relay process's peak resident set
//!   (`VmHWM` of `/proc/PID/status`);
//! - and the parameters.
//!
//! Clients and relay share the machine: the figures are those of the whole
//! system on it, client encryption and client-side storage included. This
//! is a benchmark to run by hand (`cargo run --release -p liaison-bench`),
//! never a timed test.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use liaison_bench::devnet;
use liaison_client::client::Received;
use liaison_protocol::DirectoryId;
use liaison_protocol::handling::Handling;

/// Capacity benchmark: a real relay over loopback QUIC, N senders, M
/// recipients; prints one JSON object.
#[derive(Parser, Debug)]
#[command(name = "liaison-bench", version)]
struct Args {
    /// Sending focal points (one client and connection each).
    #[arg(long, default_value_t = 4)]
    senders: usize,
    /// Receiving focal points (subscribed; messages go round-robin).
    #[arg(long, default_value_t = 4)]
    recipients: usize,
    /// Message text size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Total messages to send (split evenly among senders).
    #[arg(long, default_value_t = 2000, conflicts_with = "duration")]
    messages: usize,
    /// Send for this many seconds instead of a count.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Target total send rate in messages per second (open loop, paced per
    /// sender); without it every sender sends as soon as its previous
    /// message is acknowledged (closed loop).
    #[arg(long, value_name = "MSGS_PER_SEC")]
    rate: Option<f64>,
    /// Seconds to wait, after the last send, for deliveries.
    #[arg(long, default_value_t = 120.0)]
    drain_timeout: f64,
    /// Working directory (development network, relay store, client homes);
    /// default: a new directory under the system's temporary directory.
    /// Put it on the disk you want to measure: the relay fsyncs each commit.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the working directory afterwards.
    #[arg(long)]
    keep: bool,
    /// Internal: run the relay (child process mode).
    #[arg(long, hide = true, value_name = "DIR")]
    relay_child: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match &args.relay_child {
        Some(dir) => relay_child(dir),
        None => run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liaison-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ------------------------------------------------------------ relay child

/// The relay side: a development network in `dir`, rate limits off, until
/// stdin closes. Prints `ready` once the bundle is written.
fn relay_child(dir: &Path) -> Result<()> {
    liaison_relay::logging::init(liaison_relay::logging::LogFormat::Text, "warn");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let net = devnet::prepare(dir)?;
        let relay = liaison_relay::Relay::bind(net.config.clone())?;
        liaison_relay::dev::write_bundle(&net, relay.local_addr(), relay.cert_sha256())?;
        println!("ready");
        std::io::stdout().flush()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            let _ = tx.send(());
        });
        relay
            .serve(async move {
                let _ = rx.await;
            })
            .await?;
        anyhow::Ok(())
    })
}

/// The relay child process; closing its stdin stops it gracefully.
struct RelayProcess {
    child: Child,
}

impl RelayProcess {
    fn start(dir: &Path) -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--relay-child")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the relay process")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "ready" {
            let _ = child.kill();
            bail!("the relay did not start");
        }
        Ok(RelayProcess { child })
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn stop(mut self) -> Result<()> {
        drop(self.child.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the relay exited with {status}");
        }
        Ok(())
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Message text: `b|SENDER|SEQ|MICROS|` then padding to `size` bytes, where
/// MICROS is the send start on the benchmark's clock.
fn message_text(sender: usize, seq: usize, micros: u64, size: usize) -> String {
    let mut text = format!("b|{sender}|{seq}|{micros}|");
    while text.len() < size {
        text.push('x');
    }
    text
}

fn sent_micros(text: &str) -> Option<u64> {
    text.strip_prefix("b|")?.split('|').nth(2)?.parse().ok()
}

#[derive(Default)]
struct Totals {
    accepted: AtomicU64,
    errors: AtomicU64,
    delivered: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    first_error: Mutex<Option<String>>,
    last_delivery_us: AtomicU64,
}

fn cpu_seconds(pid: &str) -> Result<f64> {
    liaison_relay::metrics::proc_stat(pid)
        .map(|s| s.cpu_seconds)
        .ok_or_else(|| anyhow!("cannot read /proc/{pid}/stat (Linux only)"))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(rank).copied().unwrap_or(0) as f64 / 1000.0
}

fn run(args: Args) -> Result<()> {
    if args.senders == 0 || args.recipients == 0 {
        bail!("--senders and --recipients must be at least 1");
    }
    if args.size < 32 {
        bail!("--size must be at least 32 bytes (the timing header)");
    }
    let dir = devnet::work_dir("liaison-bench", args.dir.as_deref())?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(&args, &dir));
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let report = result?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn bench(args: &Args, dir: &Path) -> Result<serde_json::Value> {
    let relay = RelayProcess::start(dir)?;
    let pid = relay.pid();

    let mut senders = Vec::new();
    for i in 0..args.senders {
        senders.push(
            devnet::enrol(dir, &format!("th.bench.s{i}"), "Benchmark")
                .await?
                .0,
        );
    }
    let mut recipients = Vec::new();
    for j in 0..args.recipients {
        recipients.push(
            devnet::enrol(dir, &format!("ph.bench.r{j}"), "Benchmark")
                .await?
                .0,
        );
    }
    for c in senders.iter_mut().chain(recipients.iter_mut()) {
        c.connect().await?;
    }
    // Sessions and directories are warm; prekeys claimed on first contact
    // are part of the measured sends.

    let clock = Instant::now();
    let totals = Arc::new(Totals::default());
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut listeners = Vec::new();
    let mut ready = Vec::new();
    for mut client in recipients {
        let (totals, stop) = (totals.clone(), stop.clone());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        ready.push(ready_rx);
        listeners.push(tokio::spawn(async move {
            let on = |r: &Received| {
                if let Received::Message(m) = r
                    && let Some(sent) = sent_micros(&m.text)
                {
                    let now = clock.elapsed().as_micros() as u64;
                    totals
                        .latencies_us
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(now.saturating_sub(sent));
                    totals.delivered.fetch_add(1, Ordering::SeqCst);
                    totals.last_delivery_us.fetch_max(now, Ordering::SeqCst);
                }
            };
            let outcome = tokio::select! {
                r = client.listen(None, None, move || { let _ = ready_tx.send(()); }, on) => r.map(|_| ()),
                () = stop.notified() => Ok(()),
            };
            client.disconnect().await;
            outcome
        }));
    }
    for r in ready {
        r.await
            .map_err(|_| anyhow!("a recipient failed to subscribe"))?;
    }

    let cpu_before = cpu_seconds(&pid)?;
    let send_start = clock.elapsed();
    let deadline = args
        .duration
        .map(|d| send_start + Duration::from_secs_f64(d));
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(args.senders as f64 / r.max(0.001)));
    let mut tasks = Vec::new();
    for (s, mut client) in senders.into_iter().enumerate() {
        let totals = totals.clone();
        let (size, recipients, total, senders_n) =
            (args.size, args.recipients, args.messages, args.senders);
        tasks.push(tokio::spawn(async move {
            // Counted runs send exactly `messages` in total.
            let quota = total / senders_n + usize::from(s < total % senders_n);
            let mut seq = 0usize;
            loop {
                let done = match deadline {
                    Some(d) => clock.elapsed() >= d,
                    None => seq >= quota,
                };
                if done {
                    break;
                }
                if let Some(iv) = interval {
                    let at = send_start + iv.mul_f64(seq as f64);
                    let wait = at.saturating_sub(clock.elapsed());
                    tokio::time::sleep(wait).await;
                }
                let to = DirectoryId::parse(&format!("ph.bench.r{}", (s + seq) % recipients))
                    .map_err(|e| anyhow!("{e}"))?;
                let started = clock.elapsed().as_micros() as u64;
                let text = message_text(s, seq, started, size);
                match client.send(&[to], &text, Handling::default()).await {
                    Ok(_) => {
                        totals.accepted.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        totals.errors.fetch_add(1, Ordering::SeqCst);
                        let mut first =
                            totals.first_error.lock().unwrap_or_else(|e| e.into_inner());
                        first.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
                seq += 1;
            }
            let finished = clock.elapsed();
            client.disconnect().await;
            anyhow::Ok(finished)
        }));
    }
    let mut send_end = send_start;
    for t in tasks {
        send_end = send_end.max(t.await??);
    }
    let accepted = totals.accepted.load(Ordering::SeqCst);

    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain_timeout);
    while totals.delivered.load(Ordering::SeqCst) < accepted && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cpu_after = cpu_seconds(&pid)?;
    let peak_kib = liaison_relay::metrics::proc_status_kib(&pid, "VmHWM:").unwrap_or(0);
    stop.notify_waiters();
    for l in listeners {
        match tokio::time::timeout(Duration::from_secs(10), l).await {
            Ok(Ok(Err(e))) => eprintln!("liaison-bench: a recipient stopped: {e:#}"),
            Ok(Err(e)) => eprintln!("liaison-bench: a recipient task failed: {e}"),
            _ => {}
        }
    }
    relay.stop()?;

    let delivered = totals.delivered.load(Ordering::SeqCst);
    let mut lat = totals
        .latencies_us
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    lat.sort_unstable();
    let send_secs = (send_end - send_start).as_secs_f64().max(1e-9);
    let last_delivery = Duration::from_micros(totals.last_delivery_us.load(Ordering::SeqCst));
    let deliver_secs = last_delivery
        .saturating_sub(send_start)
        .as_secs_f64()
        .max(1e-9);
    let cpu = (cpu_after - cpu_before).max(0.0);
    let mean = if lat.is_empty() {
        0.0
    } else {
        lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1000.0
    };
    let round = |x: f64, places: i32| {
        let f = 10f64.powi(places);
        (x * f).round() / f
    };
    let first_error = totals
        .first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(serde_json::json!({
        "accepted": accepted,
        "delivered": delivered,
        "send_errors": totals.errors.load(Ordering::SeqCst),
        "first_error": first_error,
        "accepted_per_sec": round(accepted as f64 / send_secs, 1),
        "delivered_per_sec": round(delivered as f64 / deliver_secs, 1),
        "latency_ms": {
            "p50": round(percentile(&lat, 0.50), 2),
            "p99": round(percentile(&lat, 0.99), 2),
            "max": round(lat.last().copied().unwrap_or(0) as f64 / 1000.0, 2),
            "mean": round(mean, 2),
        },
        "send_seconds": round(send_secs, 3),
        "relay_cpu_seconds": round(cpu, 3),
        "relay_cpu_ms_per_message": if accepted > 0 { round(cpu * 1000.0 / accepted as f64, 3) } else { 0.0 },
        "relay_peak_memory_bytes": peak_kib * 1024,
        "params": {
            "senders": args.senders,
            "recipients": args.recipients,
            "size_bytes": args.size,
            "mode": if args.rate.is_some() { "target-rate" } else { "closed-loop" },
            "target_rate_per_sec": args.rate,
            "messages": if args.duration.is_some() { None } else { Some(args.messages) },
            "duration_secs": args.duration,
            "relay": "child process (liaison-bench --relay-child), loopback QUIC",
            "data_dir": dir.display().to_string(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        },
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn text_carries_its_send_time_and_has_the_size() {
        let t = message_text(3, 7, 123_456, 100);
        assert_eq!(t.len(), 100);
        assert_eq!(sent_micros(&t), Some(123_456));
        assert_eq!(sent_micros("hello"), None);
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
