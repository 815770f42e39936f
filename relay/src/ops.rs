//! What the relay does for its operator around serving clients: admission
//! (connection limits, rate limits), metrics, the health endpoints, the
//! control socket for online backups, and systemd notifications. The QUIC
//! front end ([`crate::server`]) calls in here at a few points; the
//! request handling itself ([`crate::service`]) knows nothing of it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use liaison_protocol::frames::{LogId, Request, Response, WireError};
use tokio::sync::watch;

use crate::config::RelayConfig;
use crate::error::RelayError;
use crate::metrics::{ConnRefusal, Endpoint, Exposition, LogGauge, Metrics, Timeout};
use crate::notify::Notifier;
use crate::ratelimit::{ConnectionGuard, ConnectionTable, RateLimits, RequestCost};
use crate::service::{Service, Session};
use crate::store::{RedbStore, Store, StoreError, StoreHealth};

/// Operator-facing state of one relay.
pub(crate) struct Ops {
    pub(crate) metrics: Arc<Metrics>,
    rate: RateLimits,
    conns: Arc<ConnectionTable>,
    service: Arc<Service>,
    store: Arc<RedbStore>,
    store_path: PathBuf,
    health: Arc<StoreHealth>,
    notifier: Notifier,
    control_path: PathBuf,
    metrics_addr: Option<SocketAddr>,
    listeners: Mutex<Option<Listeners>>,
    handshake_timeout: Duration,
    /// Per log: size of the latest checkpoint and when it was first seen.
    checkpoints_seen: Mutex<HashMap<LogId, (u64, u64)>>,
    /// Called once the relay serves (see [`Ops::on_ready`]).
    ready_hook: Mutex<Option<ReadyHook>>,
}

type ReadyHook = Box<dyn FnOnce() + Send>;

struct Listeners {
    metrics: Option<std::net::TcpListener>,
    control: std::os::unix::net::UnixListener,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field("metrics_addr", &self.metrics_addr)
            .field("control_path", &self.control_path)
            .finish_non_exhaustive()
    }
}

/// Tasks started by [`Ops::start`]; [`OpsTasks::finish`] ends them.
pub(crate) struct OpsTasks {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    ops: Arc<Ops>,
}

impl Ops {
    /// Bind the metrics listener and the control socket (so that a bad
    /// address fails the start, before anything is served).
    pub(crate) fn bind(
        config: &RelayConfig,
        service: Arc<Service>,
        store: Arc<RedbStore>,
        health: Arc<StoreHealth>,
    ) -> Result<Arc<Ops>, RelayError> {
        let metrics = Arc::new(Metrics::default());
        let metrics_listener = match config.metrics.listen {
            Some(addr) => {
                let l = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|source| RelayError::MetricsListener { addr, source })?;
                Some(l)
            }
            None => None,
        };
        let metrics_addr = match &metrics_listener {
            Some(l) => Some(l.local_addr().map_err(RelayError::LocalAddr)?),
            None => None,
        };
        let control = crate::backup::bind_control(&config.control_socket)
            .map_err(RelayError::ControlSocket)?;
        Ok(Arc::new(Ops {
            rate: RateLimits::new(&config.limits),
            conns: ConnectionTable::new(&config.limits, metrics.clone()),
            metrics,
            service,
            store,
            store_path: config.store_path(),
            health,
            notifier: Notifier::from_env(),
            control_path: config.control_socket.clone(),
            metrics_addr,
            listeners: Mutex::new(Some(Listeners {
                metrics: metrics_listener,
                control,
            })),
            handshake_timeout: Duration::from_secs(config.limits.handshake_timeout_secs),
            checkpoints_seen: Mutex::new(HashMap::new()),
            ready_hook: Mutex::new(None),
        }))
    }

    /// Run `hook` once the relay serves: after it is marked ready and has
    /// told systemd.
    pub(crate) fn on_ready(&self, hook: ReadyHook) {
        *self.ready_hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// The bound metrics address, if the endpoint is enabled.
    pub(crate) fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The control socket's path.
    pub(crate) fn control_path(&self) -> &Path {
        &self.control_path
    }

    /// How long a TLS handshake may take.
    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Start the metrics and control servers, mark the relay ready and tell
    /// systemd.
    pub(crate) fn start(self: &Arc<Self>, quic_addr: SocketAddr) -> OpsTasks {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(Listeners { metrics, control }) = listeners {
            if let Some(l) = metrics {
                match tokio::net::TcpListener::from_std(l) {
                    Ok(l) => tasks.push(tokio::spawn(crate::metrics::serve_http(
                        l,
                        self.clone(),
                        stop_rx.clone(),
                    ))),
                    Err(e) => tracing::error!(error = %e, "metrics listener unusable"),
                }
            }
            match tokio::net::UnixListener::from_std(control) {
                Ok(l) => tasks.push(tokio::spawn(crate::backup::serve_control(
                    l,
                    self.store.clone(),
                    self.store_path.clone(),
                    self.metrics.clone(),
                    stop_rx,
                ))),
                Err(e) => tracing::error!(error = %e, "control socket unusable"),
            }
        }
        tasks.push(tokio::spawn(watch_logs(self.clone(), stop.subscribe())));
        self.metrics.set_ready(true);
        self.notifier.ready(&format!("serving on {quic_addr}"));
        let hook = self
            .ready_hook
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(hook) = hook {
            hook();
        }
        OpsTasks {
            stop,
            tasks,
            ops: self.clone(),
        }
    }

    /// Read each log's size and latest checkpoint into the metrics
    /// (blocking: store reads).
    fn poll_logs(&self) {
        for log in LogId::ALL {
            let Ok((entries, _)) = self.store.log_head(log) else {
                continue;
            };
            let checkpoint = self
                .store
                .recent_checkpoints(log, 1)
                .ok()
                .and_then(|v| v.into_iter().next())
                .map(|(size, _)| size);
            let seen_at = checkpoint.map(|size| {
                let mut seen = self
                    .checkpoints_seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let now = liaison_clock::now().0;
                let entry = seen.entry(log).or_insert((size, now));
                if entry.0 != size {
                    *entry = (size, now);
                }
                entry.1
            });
            self.metrics.set_log(
                log.name(),
                LogGauge {
                    entries,
                    checkpoint_size: checkpoint,
                    checkpoint_unix_ms: seen_at,
                },
            );
        }
    }

    /// A graceful shutdown begins: no longer ready.
    pub(crate) fn stopping(&self) {
        self.metrics.set_ready(false);
        self.notifier
            .stopping("shutting down: finishing requests in flight");
    }

    /// Admit a new connection from its address, or record why not.
    pub(crate) fn admit_connection(&self, incoming: &quinn::Incoming) -> Option<ConnectionGuard> {
        match self.conns.open(incoming.remote_address().ip()) {
            Ok(g) => Some(g),
            Err(why) => {
                tracing::warn!(remote = %incoming.remote_address(), limit = why.name(), "connection refused");
                self.metrics.connection_refused(why);
                None
            }
        }
    }

    /// Record a refusal for `limits.max_connections`.
    pub(crate) fn refused_max_connections(&self) {
        self.metrics.connection_refused(ConnRefusal::MaxConnections);
    }

    fn identity(&self, session: &Session) -> Option<String> {
        let device = session.device()?;
        let dir = self.service.directory();
        Some(match dir.directory.device_owner(&device) {
            Some(owner) => owner.id.to_string(),
            // Refused by the service anyway; limit it by device meanwhile.
            None => device.fingerprint().to_string(),
        })
    }

    fn rate_limit(
        &self,
        session: &Session,
        conn: &ConnectionGuard,
        cost: RequestCost,
    ) -> Result<(), WireError> {
        let identity = self.identity(session);
        self.rate
            .admit(identity.as_deref(), conn.ip(), cost, Instant::now())
            .map_err(|(which, e)| {
                tracing::info!(
                    limit = which.name(),
                    id = identity.as_deref().unwrap_or("-"),
                    "rate limited"
                );
                self.metrics.rate_limited(which);
                self.metrics.refused(e.code);
                e
            })
    }

    /// Answer one request (not Subscribe): rate limits, then the service,
    /// with the metrics of both.
    pub(crate) async fn handle(
        &self,
        session: &Session,
        conn: &ConnectionGuard,
        kind: &'static str,
        request: Request,
    ) -> Response {
        self.metrics.request(kind);
        let is_send = matches!(request, Request::Send { .. });
        // Every Send is paid for, and each event it declares too: declared
        // events are permanent log entries.
        let cost = match &request {
            Request::Send { declare, .. } => RequestCost::Send {
                declarations: declare.len(),
            },
            Request::GetCheckpoint { .. }
            | Request::GetConsistency { .. }
            | Request::GetInclusion { .. }
            | Request::GetEntries { .. }
            | Request::GetMessageEvents { .. }
            | Request::AddCosignature { .. } => RequestCost::LogRead,
            _ => RequestCost::Request,
        };
        if let Err(e) = self.rate_limit(session, conn, cost) {
            return Response::Error(e);
        }
        let envelopes = match &request {
            Request::Send { envelopes, .. } => envelopes.len(),
            _ => 0,
        };
        let acks = match &request {
            Request::Ack { seqs } => seqs.len() as u64,
            _ => 0,
        };
        let is_chunk = matches!(request, Request::BlobChunk { .. });
        let started = Instant::now();
        let response = self.service.handle(session, request).await;
        if is_send {
            self.metrics.send_latency.observe(started.elapsed());
        }
        match &response {
            Response::Accepted { duplicate, .. } => self.metrics.accepted(envelopes, *duplicate),
            Response::Messages { items, .. } => self.metrics.delivered_fetch(items.len() as u64),
            Response::Ok if acks > 0 => self.metrics.acknowledged(acks),
            Response::BlobProgress { .. } if is_chunk => self.metrics.blob_chunk_received(),
            Response::BlobChunks { chunks, .. } => {
                self.metrics.blob_chunks_served(chunks.len() as u64)
            }
            Response::Error(e) => self.metrics.refused(e.code),
            _ => {}
        }
        if let Some(device) = session.device() {
            conn.authenticated(device);
        }
        response
    }

    /// Admit a Subscribe request (rate limits and metrics).
    pub(crate) fn admit_subscribe(
        &self,
        session: &Session,
        conn: &ConnectionGuard,
    ) -> Result<(), WireError> {
        self.metrics.request("subscribe");
        self.rate_limit(session, conn, RequestCost::Request)
    }

    /// A frame refused before it reached the service.
    pub(crate) fn frame_refused(&self, e: &WireError, timed_out: bool) {
        self.metrics.refused(e.code);
        if timed_out {
            self.metrics.timed_out(Timeout::Request);
        }
    }

    /// A slow or silent client was cut off.
    pub(crate) fn timed_out(&self, which: Timeout) {
        self.metrics.timed_out(which);
    }

    /// Envelopes pushed to a subscriber.
    pub(crate) fn pushed(&self, n: u64) {
        self.metrics.delivered_push(n);
    }
}

/// Follow the logs' checkpoints every second, for the checkpoint-age metric.
async fn watch_logs(ops: Arc<Ops>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = crate::metrics::stopped(&mut stop) => return,
            _ = tick.tick() => {
                let ops = ops.clone();
                let _ = tokio::task::spawn_blocking(move || ops.poll_logs()).await;
            }
        }
    }
}

impl Endpoint for Ops {
    async fn scrape(self: Arc<Self>) -> String {
        let store = self.store.clone();
        let path = self.store_path.clone();
        let ops = self.clone();
        let from_store = tokio::task::spawn_blocking(move || {
            ops.poll_logs();
            let depth = crate::store::total_queued(&store).ok();
            let oldest = crate::store::oldest_queued(&store).ok();
            let lapsed = store.lapsed_devices().map(|l| l.len()).ok();
            let bytes = std::fs::metadata(&path).map(|m| m.len()).ok();
            (depth, oldest, lapsed, bytes)
        })
        .await
        .unwrap_or((None, None, None, None));
        let (depth, oldest, lapsed, bytes) = from_store;
        let mut out = Exposition::default();
        self.metrics.write(&mut out);
        out.single(
            "liaison_store_healthy",
            "gauge",
            "1 while the store works, 0 after a failure that needs a restart.",
            u8::from(self.health.failure().is_none()),
        );
        out.single(
            "liaison_subscribers",
            "gauge",
            "Open Subscribe streams (devices receiving pushes).",
            self.service.subscribers().count(),
        );
        if let Some(depth) = depth {
            out.single(
                "liaison_queue_depth",
                "gauge",
                "Envelopes queued for all devices, not yet acknowledged.",
                depth,
            );
        }
        if let Some(oldest) = oldest {
            let now = liaison_clock::now().0;
            let age = oldest
                .map(|t| now.saturating_sub(t) as f64 / 1000.0)
                .unwrap_or(0.0);
            out.single(
                "liaison_queue_oldest_age_seconds",
                "gauge",
                "Age of the oldest queued envelope (0 when every queue is empty).",
                age,
            );
        }
        if let Some(lapsed) = lapsed {
            out.single(
                "liaison_lapsed_queues",
                "gauge",
                "Devices out of force without a revocation (record or authority lapsed) whose \
                 queue is kept for limits.lapsed_queue_grace_days.",
                lapsed,
            );
        }
        if let Some(bytes) = bytes {
            out.single(
                "liaison_store_bytes",
                "gauge",
                "Size of the store file.",
                bytes,
            );
        }
        let committer = self.service.committer();
        let stats = committer.stats();
        out.single(
            "liaison_commits_total",
            "counter",
            "Group commits (one durable transaction each).",
            stats.commits(),
        );
        out.single(
            "liaison_commit_sends_total",
            "counter",
            "Sends answered from group commits (sends / commits = batching).",
            stats.sends(),
        );
        out.single(
            "liaison_commit_failures_total",
            "counter",
            "Group commits that failed in the store (nothing of them was stored).",
            stats.failures(),
        );
        out.single(
            "liaison_commit_pending",
            "gauge",
            "Sends waiting for the group committer.",
            committer.pending(),
        );
        stats.latency.write(
            &mut out,
            "liaison_commit_latency_seconds",
            "Duration of each group commit transaction, fsync included.",
        );
        crate::metrics::write_process(&mut out);
        out.finish()
    }

    type Unavailable = Unavailable;

    fn healthy(&self) -> Result<(), Unavailable> {
        match self.health.failure() {
            None => Ok(()),
            Some(why) => Err(Unavailable::StoreFailed(why)),
        }
    }

    fn ready(&self) -> Result<(), Unavailable> {
        self.healthy()?;
        if self.metrics.is_ready() {
            Ok(())
        } else {
            Err(Unavailable::NotServing)
        }
    }
}

/// Why `/healthz` or `/readyz` answers 503.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unavailable {
    /// The store failed and needs reopening: the relay is stopping.
    #[error(transparent)]
    StoreFailed(StoreError),
    /// Not serving clients: starting, or shutting down.
    #[error("not serving (starting or shutting down)")]
    NotServing,
}

impl OpsTasks {
    /// Stop the metrics and control servers, wait for them, remove the
    /// control socket.
    pub(crate) async fn finish(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        let _ = std::fs::remove_file(&self.ops.control_path);
    }
}
