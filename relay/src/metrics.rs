//! Prometheus metrics and the health endpoints, on a separate TCP listener.
//!
//! ```toml
//! [metrics]
//! listen = "127.0.0.1:9464"   # absent (the default): no listener at all
//! ```
//!
//! The listener answers three paths, over plain HTTP/1.1 with one request
//! per connection:
//! - `GET /metrics`: the Prometheus text exposition format (version 0.0.4);
//! - `GET /healthz`: 200 while the process is up and its store usable, 503
//!   once the store failed (the relay then stops, for its supervisor to
//!   restart it);
//! - `GET /readyz`: 200 while the relay accepts clients, 503 before it
//!   serves and from the moment it starts shutting down.
//!
//! The exposition is written by hand (a few dozen series need no client
//! library), and the HTTP responder is a deliberately small one: requests
//! are bounded in size (8 KiB) and time (5 s), at most
//! [`MAX_SCRAPES`] are served at once, and nothing but the three paths
//! exists. It carries no secrets, but it does reveal traffic volumes: bind
//! it to loopback or a monitoring network, never to the Internet.
//!
//! Metric names are listed in `deploy/OPERATIONS.md` ("Monitoring"); the
//! integration test `ops_metrics` checks that every one of them is exposed.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use liaison_protocol::PublicKey;
use liaison_protocol::frames::ErrorCode;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, watch};

/// Scrapes served at once; more wait for a slot.
pub const MAX_SCRAPES: usize = 8;
/// Largest HTTP request head accepted.
const MAX_REQUEST: usize = 8 * 1024;
/// Time a scraper gets to send its request and read the answer.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// The `[metrics]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// TCP address of the metrics and health endpoint. Absent by default:
    /// no listener is opened. `--metrics-listen` overrides it.
    pub listen: Option<SocketAddr>,
}

/// Upper bounds (seconds) of the latency histograms' buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram with fixed buckets ([`LATENCY_BUCKETS`]), lock-free.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Record one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b)
            && let Some(b) = self.buckets.get(i)
        {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Write the histogram as the family `name`.
    pub fn write(&self, out: &mut Exposition, name: &str, help: &str) {
        out.family(name, "histogram", help);
        let mut cumulative = 0u64;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative = cumulative.saturating_add(n.load(Ordering::Relaxed));
            out.sample(
                &format!("{name}_bucket"),
                &[("le", &bound.to_string())],
                cumulative,
            );
        }
        let count = self.count();
        out.sample(&format!("{name}_bucket"), &[("le", "+Inf")], count);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        out.sample(&format!("{name}_sum"), &[], sum);
        out.sample(&format!("{name}_count"), &[], count);
    }
}

/// A Prometheus text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Start a metric family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The text.
    pub fn finish(self) -> String {
        self.text
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The snake_case name of an error code, as used in the `reason` label.
pub fn code_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Malformed => "malformed",
        ErrorCode::FrameTooLarge => "frame_too_large",
        ErrorCode::Unauthenticated => "unauthenticated",
        ErrorCode::AuthFailed => "auth_failed",
        ErrorCode::UnknownDevice => "unknown_device",
        ErrorCode::UnknownRecipient => "unknown_recipient",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::InvalidSignature => "invalid_signature",
        ErrorCode::InvalidRecord => "invalid_record",
        ErrorCode::QueueFull => "queue_full",
        ErrorCode::MessageTooLarge => "message_too_large",
        ErrorCode::TooManyEnvelopes => "too_many_envelopes",
        ErrorCode::RateLimited => "rate_limited",
        ErrorCode::NoPrekey => "no_prekey",
        ErrorCode::TooManyConnections => "too_many_connections",
        ErrorCode::ShuttingDown => "shutting_down",
        ErrorCode::Internal => "internal",
        ErrorCode::StaleVersion => "stale_version",
        ErrorCode::NotFound => "not_found",
        ErrorCode::BlobTooLarge => "blob_too_large",
        ErrorCode::QuotaExceeded => "quota_exceeded",
        _ => "other",
    }
}

/// Why a connection was refused before it was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConnRefusal {
    /// `limits.max_connections` reached.
    MaxConnections,
    /// `limits.max_connections_per_ip` reached for the peer's address.
    PerIp,
    /// `limits.max_unauthenticated_per_ip` reached for the peer's address.
    UnauthenticatedPerIp,
}

impl ConnRefusal {
    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            ConnRefusal::MaxConnections => "max_connections",
            ConnRefusal::PerIp => "per_ip",
            ConnRefusal::UnauthenticatedPerIp => "unauthenticated_per_ip",
        }
    }
}

/// Which rate limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RateLimit {
    /// `limits.sends_per_minute`, per focal point.
    Sends,
    /// `limits.requests_per_minute`, per focal point.
    Requests,
    /// `limits.unauthenticated_requests_per_minute`, per IP address.
    Unauthenticated,
    /// `limits.log_reads_per_minute`, per IP address, before
    /// authentication.
    LogReads,
}

impl RateLimit {
    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            RateLimit::Sends => "sends",
            RateLimit::Requests => "requests",
            RateLimit::Unauthenticated => "unauthenticated",
            RateLimit::LogReads => "log_reads",
        }
    }
}

/// Where a slow or silent client was cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timeout {
    /// The TLS handshake did not complete in `limits.handshake_timeout_secs`.
    Handshake,
    /// No authentication within `limits.auth_timeout_secs`.
    Authentication,
    /// A request frame did not arrive within `limits.request_timeout_secs`.
    Request,
    /// A response or pushed message was not taken within
    /// `limits.request_timeout_secs`.
    Response,
}

impl Timeout {
    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            Timeout::Handshake => "handshake",
            Timeout::Authentication => "authentication",
            Timeout::Request => "request",
            Timeout::Response => "response",
        }
    }
}

/// State of one transparency log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogGauge {
    /// Entries (tree size).
    pub entries: u64,
    /// Tree size of the latest signed checkpoint, if any.
    pub checkpoint_size: Option<u64>,
    /// Unix time (ms) the latest signed checkpoint was first seen, if any.
    pub checkpoint_unix_ms: Option<u64>,
}

/// Counters and gauges updated by the relay as it works. Values read from
/// the store (queue depth, store size) are computed at scrape time instead.
#[derive(Debug)]
pub struct Metrics {
    start_unix: f64,
    ready: AtomicBool,
    connections: AtomicU64,
    connections_accepted: AtomicU64,
    connections_refused: Mutex<BTreeMap<ConnRefusal, u64>>,
    devices: Mutex<HashMap<PublicKey, u32>>,
    requests: Mutex<BTreeMap<&'static str, u64>>,
    refused: Mutex<BTreeMap<(u16, &'static str), u64>>,
    rate_limited: Mutex<BTreeMap<RateLimit, u64>>,
    timeouts: Mutex<BTreeMap<Timeout, u64>>,
    messages_accepted: AtomicU64,
    envelopes_accepted: AtomicU64,
    messages_duplicate: AtomicU64,
    delivered_push: AtomicU64,
    delivered_fetch: AtomicU64,
    acknowledged: AtomicU64,
    blob_chunks_received: AtomicU64,
    blob_chunks_served: AtomicU64,
    /// Time to answer a Send: validation, queueing for and completing the
    /// group commit.
    pub send_latency: Histogram,
    backups_ok: AtomicU64,
    backups_failed: AtomicU64,
    backup_last_unix: AtomicU64,
    backup_last_pause_nanos: AtomicU64,
    logs: Mutex<BTreeMap<String, LogGauge>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_now_secs() -> f64 {
    liaison_clock::now().0 as f64 / 1000.0
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            start_unix: unix_now_secs(),
            ready: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            connections_refused: Mutex::default(),
            devices: Mutex::default(),
            requests: Mutex::default(),
            refused: Mutex::default(),
            rate_limited: Mutex::default(),
            timeouts: Mutex::default(),
            messages_accepted: AtomicU64::new(0),
            envelopes_accepted: AtomicU64::new(0),
            messages_duplicate: AtomicU64::new(0),
            delivered_push: AtomicU64::new(0),
            delivered_fetch: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            blob_chunks_received: AtomicU64::new(0),
            blob_chunks_served: AtomicU64::new(0),
            send_latency: Histogram::default(),
            backups_ok: AtomicU64::new(0),
            backups_failed: AtomicU64::new(0),
            backup_last_unix: AtomicU64::new(0),
            backup_last_pause_nanos: AtomicU64::new(0),
            logs: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Whether the relay accepts clients (`/readyz`).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// See [`Metrics::set_ready`].
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// A connection was admitted.
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// An admitted connection ended.
    pub fn connection_closed(&self) {
        let _ = self
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// Connections currently open.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// A connection was refused before being served.
    pub fn connection_refused(&self, why: ConnRefusal) {
        *lock(&self.connections_refused).entry(why).or_default() += 1;
    }

    /// A connection authenticated as `device`.
    pub fn device_authenticated(&self, device: PublicKey) {
        *lock(&self.devices).entry(device).or_default() += 1;
    }

    /// A connection authenticated as `device` ended.
    pub fn device_gone(&self, device: &PublicKey) {
        let mut map = lock(&self.devices);
        if let Some(n) = map.get_mut(device) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(device);
            }
        }
    }

    /// Distinct devices with at least one authenticated connection.
    pub fn authenticated_devices(&self) -> usize {
        lock(&self.devices).len()
    }

    /// A decoded request of `kind`.
    pub fn request(&self, kind: &'static str) {
        *lock(&self.requests).entry(kind).or_default() += 1;
    }

    /// A refusal sent to a peer.
    pub fn refused(&self, code: ErrorCode) {
        *lock(&self.refused)
            .entry((code.code(), code_name(code)))
            .or_default() += 1;
    }

    /// Refusals with `code` so far.
    pub fn refused_count(&self, code: ErrorCode) -> u64 {
        lock(&self.refused)
            .get(&(code.code(), code_name(code)))
            .copied()
            .unwrap_or(0)
    }

    /// A request refused by a rate limit (also counted by [`Metrics::refused`]).
    pub fn rate_limited(&self, which: RateLimit) {
        *lock(&self.rate_limited).entry(which).or_default() += 1;
    }

    /// A slow or silent client was cut off.
    pub fn timed_out(&self, which: Timeout) {
        *lock(&self.timeouts).entry(which).or_default() += 1;
    }

    /// A Send was accepted (`duplicate`: it had been accepted before).
    pub fn accepted(&self, envelopes: usize, duplicate: bool) {
        if duplicate {
            self.messages_duplicate.fetch_add(1, Ordering::Relaxed);
        } else {
            self.messages_accepted.fetch_add(1, Ordering::Relaxed);
            self.envelopes_accepted
                .fetch_add(envelopes as u64, Ordering::Relaxed);
        }
    }

    /// Messages accepted (not counting duplicates).
    pub fn messages_accepted(&self) -> u64 {
        self.messages_accepted.load(Ordering::Relaxed)
    }

    /// Envelopes handed to their recipient device on a subscription.
    pub fn delivered_push(&self, n: u64) {
        self.delivered_push.fetch_add(n, Ordering::Relaxed);
    }

    /// Envelopes handed to their recipient device in answer to a Fetch.
    pub fn delivered_fetch(&self, n: u64) {
        self.delivered_fetch.fetch_add(n, Ordering::Relaxed);
    }

    /// Sequence numbers acknowledged by recipients.
    pub fn acknowledged(&self, n: u64) {
        self.acknowledged.fetch_add(n, Ordering::Relaxed);
    }

    /// A sealed attachment chunk received from its uploader (stored, or
    /// already held: a chunk sent again counts again).
    pub fn blob_chunk_received(&self) {
        self.blob_chunks_received.fetch_add(1, Ordering::Relaxed);
    }

    /// Sealed attachment chunks sent to a device.
    pub fn blob_chunks_served(&self, n: u64) {
        self.blob_chunks_served.fetch_add(n, Ordering::Relaxed);
    }

    /// Sealed attachment chunks received so far.
    pub fn blob_chunks_received_count(&self) -> u64 {
        self.blob_chunks_received.load(Ordering::Relaxed)
    }

    /// A backup finished (`pause`: how long writes were held).
    pub fn backup_done(&self, ok: bool, pause: Duration) {
        if ok {
            self.backups_ok.fetch_add(1, Ordering::Relaxed);
            self.backup_last_unix
                .store(unix_now_secs() as u64, Ordering::Relaxed);
            self.backup_last_pause_nanos.store(
                u64::try_from(pause.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        } else {
            self.backups_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Report the size and last checkpoint of a transparency log (`log` is
    /// its short name, such as `directory` or `events`).
    pub fn set_log(&self, log: &str, gauge: LogGauge) {
        lock(&self.logs).insert(log.to_owned(), gauge);
    }

    /// Write every counter kept here.
    pub fn write(&self, out: &mut Exposition) {
        out.single(
            "liaison_up",
            "gauge",
            "Always 1 while the relay process answers.",
            1,
        );
        out.family(
            "liaison_build_info",
            "gauge",
            "The relay's version, as a label.",
        );
        out.sample(
            "liaison_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        out.single(
            "liaison_start_time_seconds",
            "gauge",
            "Unix time the relay started.",
            self.start_unix,
        );
        out.single(
            "liaison_ready",
            "gauge",
            "1 while the relay accepts clients, 0 before it serves and while it shuts down.",
            u8::from(self.is_ready()),
        );
        out.single(
            "liaison_connections",
            "gauge",
            "QUIC connections currently open.",
            self.connections(),
        );
        out.single(
            "liaison_connections_accepted_total",
            "counter",
            "QUIC connections admitted.",
            self.connections_accepted.load(Ordering::Relaxed),
        );
        out.family(
            "liaison_connections_refused_total",
            "counter",
            "Connections refused before being served, by limit.",
        );
        let refused = lock(&self.connections_refused).clone();
        for why in [
            ConnRefusal::MaxConnections,
            ConnRefusal::PerIp,
            ConnRefusal::UnauthenticatedPerIp,
        ] {
            out.sample(
                "liaison_connections_refused_total",
                &[("reason", why.name())],
                refused.get(&why).copied().unwrap_or(0),
            );
        }
        out.single(
            "liaison_authenticated_devices",
            "gauge",
            "Distinct devices with at least one authenticated connection.",
            self.authenticated_devices(),
        );
        out.family(
            "liaison_requests_total",
            "counter",
            "Requests decoded, by kind.",
        );
        for (kind, n) in lock(&self.requests).iter() {
            out.sample("liaison_requests_total", &[("kind", kind)], n);
        }
        out.family(
            "liaison_refused_total",
            "counter",
            "Refusals sent to peers, by error code.",
        );
        let refused = lock(&self.refused).clone();
        // Always expose the codes an operator alerts on, even at zero.
        let mut codes: BTreeMap<(u16, &'static str), u64> = [
            ErrorCode::RateLimited,
            ErrorCode::QueueFull,
            ErrorCode::Internal,
            ErrorCode::ShuttingDown,
        ]
        .iter()
        .map(|c| ((c.code(), code_name(*c)), 0))
        .collect();
        codes.extend(refused);
        for ((code, name), n) in &codes {
            out.sample(
                "liaison_refused_total",
                &[("reason", name), ("code", &code.to_string())],
                n,
            );
        }
        out.family(
            "liaison_rate_limited_total",
            "counter",
            "Requests refused with RateLimited (429), by limit.",
        );
        let limited = lock(&self.rate_limited).clone();
        for which in [
            RateLimit::Sends,
            RateLimit::Requests,
            RateLimit::Unauthenticated,
            RateLimit::LogReads,
        ] {
            out.sample(
                "liaison_rate_limited_total",
                &[("limit", which.name())],
                limited.get(&which).copied().unwrap_or(0),
            );
        }
        out.family(
            "liaison_client_timeouts_total",
            "counter",
            "Slow or silent clients cut off, by phase.",
        );
        let timeouts = lock(&self.timeouts).clone();
        for which in [
            Timeout::Handshake,
            Timeout::Authentication,
            Timeout::Request,
            Timeout::Response,
        ] {
            out.sample(
                "liaison_client_timeouts_total",
                &[("phase", which.name())],
                timeouts.get(&which).copied().unwrap_or(0),
            );
        }
        out.single(
            "liaison_messages_accepted_total",
            "counter",
            "Messages durably accepted (acknowledged to their sender), retries not counted.",
            self.messages_accepted(),
        );
        out.single(
            "liaison_envelopes_accepted_total",
            "counter",
            "Envelopes (one per recipient device) durably queued.",
            self.envelopes_accepted.load(Ordering::Relaxed),
        );
        out.single(
            "liaison_messages_duplicate_total",
            "counter",
            "Sends of a message id already accepted (client retries), answered without storing.",
            self.messages_duplicate.load(Ordering::Relaxed),
        );
        out.family(
            "liaison_envelopes_delivered_total",
            "counter",
            "Envelopes handed to their recipient device, by path.",
        );
        out.sample(
            "liaison_envelopes_delivered_total",
            &[("via", "push")],
            self.delivered_push.load(Ordering::Relaxed),
        );
        out.sample(
            "liaison_envelopes_delivered_total",
            &[("via", "fetch")],
            self.delivered_fetch.load(Ordering::Relaxed),
        );
        out.single(
            "liaison_envelopes_acknowledged_total",
            "counter",
            "Queue entries recipients acknowledged (and the relay deleted).",
            self.acknowledged.load(Ordering::Relaxed),
        );
        out.single(
            "liaison_attachment_chunks_received_total",
            "counter",
            "Sealed attachment chunks received from uploaders, a chunk sent again counted again.",
            self.blob_chunks_received.load(Ordering::Relaxed),
        );
        out.single(
            "liaison_attachment_chunks_served_total",
            "counter",
            "Sealed attachment chunks sent to devices.",
            self.blob_chunks_served.load(Ordering::Relaxed),
        );
        self.send_latency.write(
            out,
            "liaison_send_latency_seconds",
            "Time to answer a Send: checks, waiting for and completing its group commit.",
        );
        out.single(
            "liaison_backups_total",
            "counter",
            "Online backups taken through the control socket.",
            self.backups_ok.load(Ordering::Relaxed),
        );
        out.single(
            "liaison_backup_failures_total",
            "counter",
            "Online backups that failed.",
            self.backups_failed.load(Ordering::Relaxed),
        );
        out.single(
            "liaison_backup_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful backup (0: none since start).",
            self.backup_last_unix.load(Ordering::Relaxed),
        );
        out.single(
            "liaison_backup_last_pause_seconds",
            "gauge",
            "How long the last backup held writes while copying the store.",
            self.backup_last_pause_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        );
        let logs = lock(&self.logs).clone();
        out.family(
            "liaison_log_entries",
            "gauge",
            "Entries in each transparency log.",
        );
        for (log, g) in &logs {
            out.sample("liaison_log_entries", &[("log", log)], g.entries);
        }
        out.family(
            "liaison_log_checkpoint_size",
            "gauge",
            "Tree size of each log's latest signed checkpoint (entries minus this: not yet covered).",
        );
        for (log, g) in &logs {
            if let Some(size) = g.checkpoint_size {
                out.sample("liaison_log_checkpoint_size", &[("log", log)], size);
            }
        }
        out.family(
            "liaison_log_checkpoint_age_seconds",
            "gauge",
            "Seconds since each log's latest signed checkpoint appeared (1 s resolution).",
        );
        let now_ms = unix_now_secs() * 1000.0;
        for (log, g) in &logs {
            if let Some(ms) = g.checkpoint_unix_ms {
                let age = ((now_ms - ms as f64) / 1000.0).max(0.0);
                out.sample("liaison_log_checkpoint_age_seconds", &[("log", log)], age);
            }
        }
    }
}

/// Process metrics from `/proc/self` (Linux only; nothing elsewhere), with
/// the conventional `process_` names.
pub fn write_process(out: &mut Exposition) {
    #[cfg(target_os = "linux")]
    {
        if let Some(p) = proc_stat("self") {
            out.single(
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time of the relay process.",
                p.cpu_seconds,
            );
        }
        if let Some(kib) = proc_status_kib("self", "VmRSS:") {
            out.single(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory of the relay process.",
                kib.saturating_mul(1024),
            );
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            out.single(
                "process_open_fds",
                "gauge",
                "Open file descriptors (sockets included).",
                fds.count(),
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

/// CPU time of a process, read from `/proc/PID/stat`.
#[derive(Clone, Copy, Debug)]
pub struct ProcStat {
    /// utime + stime, in seconds.
    pub cpu_seconds: f64,
}

/// Clock ticks per second of `/proc/PID/stat` times (Linux's `USER_HZ`,
/// which is 100 on every architecture Linux exposes to user space here).
pub const USER_HZ: f64 = 100.0;

/// Read `/proc/PID/stat` (`pid` may be `self`).
pub fn proc_stat(pid: &str) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces:
    // count fields after the last ')'. utime and stime are fields 14, 15.
    let rest = text.get(text.rfind(')')?.checked_add(1)?..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(ProcStat {
        cpu_seconds: (utime + stime) / USER_HZ,
    })
}

/// A `kB` field of `/proc/PID/status`, such as `VmRSS:` or `VmHWM:`.
pub fn proc_status_kib(pid: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// What the HTTP listener asks of the relay.
pub trait Endpoint: Send + Sync + 'static {
    /// Why the relay is unhealthy or not ready, as the endpoints say it.
    type Unavailable: std::fmt::Display + Send;
    /// The full exposition for `/metrics`.
    fn scrape(self: Arc<Self>) -> impl std::future::Future<Output = String> + Send;
    /// `Ok` if healthy, else why not (`/healthz`).
    fn healthy(&self) -> Result<(), Self::Unavailable>;
    /// `Ok` if ready, else why not (`/readyz`).
    fn ready(&self) -> Result<(), Self::Unavailable>;
}

/// Resolves once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serve the endpoint on `listener` until `stop` becomes true.
pub async fn serve_http<E: Endpoint>(
    listener: tokio::net::TcpListener,
    endpoint: Arc<E>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_SCRAPES));
    loop {
        tokio::select! {
            () = stopped(&mut stop) => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let Ok(permit) = slots.clone().acquire_owned().await else { return };
                let endpoint = endpoint.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let _ = tokio::time::timeout(HTTP_TIMEOUT, answer(stream, endpoint)).await;
                });
            }
        }
    }
}

async fn answer<E: Endpoint>(
    mut stream: tokio::net::TcpStream,
    endpoint: Arc<E>,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() > MAX_REQUEST {
            return respond(&mut stream, 431, "text/plain", "request too large\n", false).await;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return respond(&mut stream, 405, "text/plain", "only GET\n", false).await;
    }
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/metrics" => {
            let body = endpoint.scrape().await;
            respond(
                &mut stream,
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
                head_only,
            )
            .await
        }
        "/healthz" => match endpoint.healthy() {
            Ok(()) => respond(&mut stream, 200, "text/plain", "ok\n", head_only).await,
            Err(why) => {
                let body = format!("unhealthy: {why}\n");
                respond(&mut stream, 503, "text/plain", &body, head_only).await
            }
        },
        "/readyz" => match endpoint.ready() {
            Ok(()) => respond(&mut stream, 200, "text/plain", "ready\n", head_only).await,
            Err(why) => {
                let body = format!("not ready: {why}\n");
                respond(&mut stream, 503, "text/plain", &body, head_only).await
            }
        },
        _ => {
            respond(
                &mut stream,
                404,
                "text/plain",
                "not found: try /metrics, /healthz or /readyz\n",
                head_only,
            )
            .await
        }
    }
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut out = Exposition::default();
        h.write(&mut out, "x_seconds", "test");
        let text = out.finish();
        assert!(
            text.contains("x_seconds_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{le=\"0.005\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("x_seconds_bucket{le=\"10\"} 2\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("x_seconds_count 3\n"), "{text}");
        assert!(text.contains("# TYPE x_seconds histogram\n"), "{text}");
    }

    #[test]
    fn labels_are_escaped() {
        let mut out = Exposition::default();
        out.sample("m", &[("a", "x\"y\\z\nw")], 1);
        assert_eq!(out.finish(), "m{a=\"x\\\"y\\\\z\\nw\"} 1\n");
    }

    #[test]
    fn every_family_is_declared_once() {
        let m = Metrics::default();
        m.refused(ErrorCode::RateLimited);
        m.set_log(
            "directory",
            LogGauge {
                entries: 3,
                checkpoint_size: Some(2),
                checkpoint_unix_ms: Some(1),
            },
        );
        let mut out = Exposition::default();
        m.write(&mut out);
        let text = out.finish();
        let mut seen = std::collections::HashSet::new();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split_whitespace().nth(2).unwrap();
            assert!(seen.insert(name.to_owned()), "{name} declared twice");
        }
        assert!(text.contains("liaison_refused_total{reason=\"rate_limited\",code=\"429\"} 1"));
        assert!(text.contains("liaison_log_entries{log=\"directory\"} 3"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_its_own_process() {
        assert!(proc_stat("self").is_some());
        assert!(proc_status_kib("self", "VmHWM:").unwrap() > 0);
    }
}
