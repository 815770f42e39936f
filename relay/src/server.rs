//! The QUIC front end: connections, streams, frames, limits and shutdown.
//!
//! Every request arrives on its own bidirectional stream as one frame; the
//! answer is one frame on the same stream, after which the stream is
//! finished. A Subscribe stream instead stays open and carries Push frames.
//! Nothing a peer sends can panic the relay: every read is bounded in size
//! and time, every decode failure becomes an error frame.
//!
//! QUIC application close codes are the numeric [`ErrorCode`] values:
//! 503 too many connections, 504 shutting down (reconnect later), 401 not
//! authenticated in time, 0 normal close.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use liaison_protocol::frames::{
    EXPORTER_LABEL, ErrorCode, FrameError, Request, Response, WireError, decode_frame,
    encode_frame, frame_len,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tracing::Instrument;

use crate::commit::{CommitStats, Committer};
use crate::config::{ConfigError, RelayConfig};
use crate::error::RelayError;
use crate::metrics::Timeout;
use crate::ops::Ops;
use crate::ratelimit::ConnectionGuard;
use crate::service::{Service, Session, Subscribers};
use crate::store::{QueueLimits, RedbStore, Store, StoreHealth};
use crate::tls;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Over-limit connections being told "too many connections" at once; beyond
/// this they are refused at the QUIC level without a handshake.
const MAX_REFUSING: usize = 64;
/// Request bytes one connection may have buffered at once, in frames.
const READ_BUDGET_FRAMES: usize = 4;
/// How often the directory is rebuilt so that validity periods take effect.
const DIRECTORY_REFRESH: Duration = Duration::from_secs(60);

fn close_code(code: ErrorCode) -> quinn::VarInt {
    quinn::VarInt::from_u32(u32::from(code.code()))
}

/// Counters and state a running relay exposes (for tests and metrics).
#[derive(Clone, Debug)]
pub struct RelayHandle {
    service: Arc<Service>,
}

impl RelayHandle {
    /// Group-commit counters.
    pub fn commit_stats(&self) -> Arc<CommitStats> {
        self.service.committer().stats().clone()
    }

    /// Open Subscribe streams.
    pub fn subscribers(&self) -> usize {
        self.service.subscribers().count()
    }
}

/// A bound, not yet serving relay.
pub struct Relay {
    endpoint: quinn::Endpoint,
    checkpoint_interval: Duration,
    service: Arc<Service>,
    commit_thread: std::thread::JoinHandle<()>,
    cert_sha256: [u8; 32],
    local_addr: SocketAddr,
    health: Arc<StoreHealth>,
    ops: Arc<Ops>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("local_addr", &self.local_addr)
            .field("cert_sha256", &hex::encode(self.cert_sha256))
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Open the store, load (or generate) the TLS identity and bind the UDP
    /// socket. Must be called inside a Tokio runtime
    /// ([`RelayError::NoRuntime`] otherwise).
    pub fn bind(config: RelayConfig) -> Result<Relay, RelayError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RelayError::NoRuntime);
        }
        crate::test_env::check_test_environment()?;
        crate::datadir::create_private_dir(&config.data_dir).map_err(|source| {
            RelayError::DataDir {
                path: config.data_dir.clone(),
                source,
            }
        })?;
        config.check_files()?;
        let identity = tls::load_or_generate(&config.tls_cert, &config.tls_key)?;
        let server_config = tls::server_config(&identity, &config.limits)?;
        let store_path = config.store_path();
        let redb =
            Arc::new(
                RedbStore::open(&store_path).map_err(|source| RelayError::OpenStore {
                    path: store_path.clone(),
                    source,
                })?,
            );
        // Serve only the history the relay signed: a store whose logs no
        // longer give the signed roots is refused, with what to do.
        match redb
            .check(crate::store::check::Depth::Quick)
            .map_err(|source| RelayError::OpenStore {
                path: store_path.clone(),
                source,
            })? {
            Ok(_) => {}
            Err(mismatch) => {
                return Err(RelayError::StoreMismatch {
                    path: store_path.clone(),
                    mismatch,
                });
            }
        }
        let store: Arc<dyn Store> = redb.clone();
        let subscribers = Arc::new(Subscribers::default());
        let notify_to = subscribers.clone();
        let health = Arc::new(StoreHealth::default());
        let (committer, worker) = Committer::new(
            store.clone(),
            QueueLimits {
                depth: config.limits.max_queue_depth,
                per_sender: config.limits.max_queued_per_sender(),
            },
            Arc::new(move |q| notify_to.notify(q)),
        );
        let worker = worker.with_health(health.clone());
        let log_keys = crate::checkpoints::load_or_generate_keys(&config.data_dir, &config.logs)?;
        let witnesses = config.logs.witness_verifiers().map_err(ConfigError::from)?;
        let auditors = config.logs.auditor_keys().map_err(ConfigError::from)?;
        let checkpointer = Arc::new(crate::checkpoints::Checkpointer::new(log_keys, witnesses));
        for log in liaison_protocol::frames::LogId::ALL {
            checkpointer
                .sign_if_grown(store.as_ref(), log)
                .map_err(RelayError::InitialCheckpoint)?;
        }
        let checkpoint_interval = Duration::from_millis(config.logs.checkpoint_interval_ms);
        let service = Arc::new(
            Service::new(
                config.limits.clone(),
                config.root_key,
                store,
                committer,
                subscribers,
                health.clone(),
                checkpointer,
                auditors,
            )
            .map_err(RelayError::LoadDirectory)?,
        );
        // The stateless-reset key is derived from the TLS private key, so a
        // restarted relay can reset its previous incarnation's connections:
        // clients notice a restart at once instead of after an idle timeout.
        let reset_key = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(b"liaison/1 quic stateless reset\0");
            h.update(identity.key.secret_der());
            let seed: [u8; 32] = h.finalize().into();
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &seed)
        };
        let addr = config.listen;
        let socket = std::net::UdpSocket::bind(addr)
            .map_err(|source| RelayError::BindUdp { addr, source })?;
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::new(Arc::new(reset_key)),
            Some(server_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|source| RelayError::Quic { addr, source })?;
        let local_addr = endpoint.local_addr().map_err(RelayError::LocalAddr)?;
        let ops = Ops::bind(&config, service.clone(), redb, health.clone())?;
        let commit_thread = worker.spawn().map_err(RelayError::CommitThread)?;
        Ok(Relay {
            endpoint,
            checkpoint_interval,
            service,
            commit_thread,
            cert_sha256: identity.cert_sha256(),
            local_addr,
            health,
            ops,
        })
    }

    /// The bound metrics and health endpoint, if `[metrics] listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.ops.metrics_addr()
    }

    /// Run `f` once [`Relay::serve`] serves: the relay is then ready
    /// (`/readyz` answers 200) and has told systemd (`READY=1`).
    pub fn on_ready(&self, f: impl FnOnce() + Send + 'static) {
        self.ops.on_ready(Box::new(f));
    }

    /// The control socket `liaison-relay backup` talks to.
    pub fn control_socket(&self) -> &std::path::Path {
        self.ops.control_path()
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// SHA-256 of the TLS certificate (what clients pin).
    pub fn cert_sha256(&self) -> [u8; 32] {
        self.cert_sha256
    }

    /// A handle to observe the relay while it serves.
    pub fn handle(&self) -> RelayHandle {
        RelayHandle {
            service: self.service.clone(),
        }
    }

    /// Serve until `shutdown` resolves, then stop accepting, let requests in
    /// flight (and their commits) finish, close every connection with code
    /// 504 ("shutting down, reconnect later") and return. If the store fails
    /// in a way that needs reopening (an I/O error such as a full disk), the
    /// relay shuts down the same way and returns the error, so that its
    /// supervisor restarts it.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), RelayError> {
        let Relay {
            endpoint,
            service,
            commit_thread,
            local_addr,
            health,
            checkpoint_interval,
            ops,
            ..
        } = self;
        let ops_tasks = ops.start(local_addr);
        let mut store_failed = health.subscribe();
        tracing::info!(addr = %local_addr, "relay serving");
        let (stop_tx, stop_rx) = watch::channel(false);
        // Every task holds a clone; when all are dropped, nothing is in flight.
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        let connections = Arc::new(Semaphore::new(service.limits().max_connections));
        let refusing = Arc::new(Semaphore::new(MAX_REFUSING));

        tokio::spawn(refresh_directory(service.clone(), stop_rx.clone()));
        tokio::spawn(sign_checkpoints(
            service.clone(),
            checkpoint_interval,
            stop_rx.clone(),
        ));

        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = store_failed.wait_for(Option::is_some) => {
                    tracing::error!("the store needs reopening after an I/O error; stopping the relay");
                    break;
                }
                incoming = endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    match connections.clone().try_acquire_owned() {
                        Ok(permit) => match ops.admit_connection(&incoming) {
                            Some(guard) => {
                                tokio::spawn(handle_connection(
                                    incoming,
                                    service.clone(),
                                    permit,
                                    stop_rx.clone(),
                                    alive_tx.clone(),
                                    (ops.clone(), guard),
                                ));
                            }
                            None => refuse_busy(incoming, &refusing),
                        },
                        Err(_) => {
                            ops.refused_max_connections();
                            refuse_busy(incoming, &refusing);
                        }
                    }
                }
            }
        }

        tracing::info!("shutting down: no new connections; finishing requests in flight");
        ops.stopping();
        endpoint.set_server_config(None);
        let _ = stop_tx.send(true);
        drop(alive_tx);
        if tokio::time::timeout(SHUTDOWN_GRACE, alive_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight after the grace period; closing anyway");
        }
        endpoint.close(
            close_code(ErrorCode::ShuttingDown),
            b"shutting down, reconnect later",
        );
        let _ = tokio::time::timeout(Duration::from_secs(5), alive_rx.recv()).await;
        service.committer().close();
        drop(service);
        let joined = tokio::task::spawn_blocking(move || commit_thread.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            tracing::error!("the commit thread ended abnormally");
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), endpoint.wait_idle()).await;
        ops_tasks.finish().await;
        drop(ops);
        if let Some(why) = health.failure() {
            return Err(RelayError::StoreFailed(why));
        }
        tracing::info!("relay stopped");
        Ok(())
    }
}

async fn wait_stop(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Sign a checkpoint of every log that grew, every `interval`.
async fn sign_checkpoints(
    service: Arc<Service>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = wait_stop(&mut stop) => return,
        }
        service.sign_checkpoints().await;
    }
}

async fn refresh_directory(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(DIRECTORY_REFRESH);
    tick.tick().await;
    loop {
        tokio::select! {
            () = wait_stop(&mut stop) => return,
            _ = tick.tick() => {
                if let Err(e) = service.refresh_directory().await {
                    tracing::error!(error = %e, "directory refresh failed");
                }
            }
        }
    }
}

/// Tell an over-limit client why it cannot connect: complete the handshake,
/// then close with 503. If too many are already being told, refuse outright.
fn refuse_busy(incoming: quinn::Incoming, refusing: &Arc<Semaphore>) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        incoming.refuse();
        return;
    };
    let remote = incoming.remote_address();
    tracing::warn!(%remote, "connection limit reached; refusing");
    tokio::spawn(async move {
        let _permit = permit;
        if let Ok(connecting) = incoming.accept()
            && let Ok(Ok(conn)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await
        {
            conn.close(
                close_code(ErrorCode::TooManyConnections),
                b"too many connections, retry later",
            );
        }
    });
}

async fn handle_connection(
    incoming: quinn::Incoming,
    service: Arc<Service>,
    _permit: OwnedSemaphorePermit,
    stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
    (ops, guard): (Arc<Ops>, ConnectionGuard),
) {
    let remote = incoming.remote_address();
    let connecting = match incoming.accept() {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%remote, error = %e, "handshake refused");
            return;
        }
    };
    let conn = match tokio::time::timeout(ops.handshake_timeout(), connecting).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "handshake timed out");
            ops.timed_out(Timeout::Handshake);
            return;
        }
    };
    let span = tracing::info_span!("conn", id = conn.stable_id(), %remote);
    serve_connection(conn, service, stop, alive, (ops, Arc::new(guard)))
        .instrument(span)
        .await;
}

async fn serve_connection(
    conn: quinn::Connection,
    service: Arc<Service>,
    mut stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
    (ops, guard): (Arc<Ops>, Arc<ConnectionGuard>),
) {
    tracing::debug!("connection open");
    let exporter_conn = conn.clone();
    let session = Arc::new(Session::new(Box::new(move |nonce: &[u8; 32]| {
        let mut out = [0u8; 32];
        exporter_conn
            .export_keying_material(&mut out, EXPORTER_LABEL, nonce)
            .ok()
            .map(|()| out)
    })));
    let limits = service.limits().clone();
    let budget = Arc::new(Semaphore::new(
        READ_BUDGET_FRAMES.saturating_mul(limits.max_frame.saturating_add(4)),
    ));
    let auth_deadline = tokio::time::sleep(Duration::from_secs(limits.auth_timeout_secs));
    tokio::pin!(auth_deadline);
    let mut auth_checked = false;
    let mut directory_changes = service.directory_changes();
    loop {
        tokio::select! {
            Ok(()) = directory_changes.changed() => {
                // Revocation and lapse take effect at once: a device no
                // longer in force loses its connection (a lapsed device's
                // queue stays at the relay).
                if session.device().is_some() && service.require_device(&session).is_err() {
                    tracing::info!("device left the directory; closing its connection");
                    conn.close(close_code(ErrorCode::UnknownDevice), b"device revoked, or its record no longer in force");
                    break;
                }
            }
            () = wait_stop(&mut stop) => {
                // Keep the connection open (dropping the last handle would
                // close it with code 0) until the relay closes every
                // connection with "shutting down"; in-flight streams finish
                // meanwhile.
                drop(alive);
                let _ = tokio::time::timeout(SHUTDOWN_GRACE * 2, conn.closed()).await;
                return;
            }
            () = &mut auth_deadline, if !auth_checked => {
                auth_checked = true;
                if !session.is_authenticated() {
                    tracing::info!("not authenticated in time; closing");
                    ops.timed_out(Timeout::Authentication);
                    conn.close(close_code(ErrorCode::Unauthenticated), b"not authenticated in time");
                    break;
                }
            }
            stream = conn.accept_bi() => match stream {
                Ok((send, recv)) => {
                    let task = handle_stream(
                        service.clone(),
                        session.clone(),
                        send,
                        recv,
                        budget.clone(),
                        stop.clone(),
                        alive.clone(),
                        (ops.clone(), guard.clone()),
                    );
                    tokio::spawn(task.instrument(tracing::Span::current()));
                }
                Err(e) => {
                    tracing::debug!(reason = %e, "connection closed");
                    break;
                }
            },
        }
    }
}

/// Why a request could not be read.
enum ReadFailure {
    /// Tell the peer, with this error.
    Respond(WireError),
    /// The stream or connection is gone; nobody to answer.
    Gone,
}

/// Read one request frame and the end of its stream: the 4-byte length is
/// checked against the limit before any body byte is read or buffered, and
/// the body is accumulated only as it arrives (never pre-allocated from the
/// declared length), so at most `max_frame + 5` bytes are ever held.
async fn read_request(
    recv: &mut quinn::RecvStream,
    max_frame: usize,
    budget: &Arc<Semaphore>,
) -> Result<(Request, OwnedSemaphorePermit), ReadFailure> {
    let mut header = [0u8; 4];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(n)) => {
            return Err(ReadFailure::Respond(WireError::new(
                ErrorCode::Malformed,
                format!("truncated frame: the stream ended after {n} of 4 length bytes"),
            )));
        }
        Err(quinn::ReadExactError::ReadError(_)) => return Err(ReadFailure::Gone),
    }
    let len = frame_len(header, max_frame).map_err(|e| {
        ReadFailure::Respond(WireError::new(
            ErrorCode::FrameTooLarge,
            format!("{e}; the relay accepts frames of at most {max_frame} bytes"),
        ))
    })?;
    let permit = budget
        .clone()
        .acquire_many_owned(u32::try_from(len.saturating_add(4)).unwrap_or(u32::MAX))
        .await
        .map_err(|_| ReadFailure::Gone)?;
    // The peer finishes its side after the frame: read to the end of the
    // stream, accepting at most one byte beyond the declared frame so that
    // trailing bytes are detected without buffering them.
    let total = len.saturating_add(4);
    let mut frame = header.to_vec();
    loop {
        let room = total.saturating_add(1).saturating_sub(frame.len()).max(1);
        match recv.read_chunk(room, true).await {
            Ok(Some(chunk)) => {
                frame.extend_from_slice(&chunk.bytes);
                if frame.len() > total {
                    return Err(ReadFailure::Respond(WireError::new(
                        ErrorCode::Malformed,
                        "trailing bytes after the request frame (one frame per stream)",
                    )));
                }
            }
            Ok(None) => break,
            Err(_) => return Err(ReadFailure::Gone),
        }
    }
    if frame.len() < total {
        return Err(ReadFailure::Respond(WireError::new(
            ErrorCode::Malformed,
            format!(
                "truncated frame: the stream ended after {} of {len} body bytes",
                frame.len().saturating_sub(4)
            ),
        )));
    }
    match decode_frame::<Request>(&frame, max_frame) {
        Ok(req) => Ok((req, permit)),
        Err(FrameError::TooLarge { .. }) => Err(ReadFailure::Respond(WireError::new(
            ErrorCode::FrameTooLarge,
            format!("the relay accepts frames of at most {max_frame} bytes"),
        ))),
        Err(e) => Err(ReadFailure::Respond(WireError::new(
            ErrorCode::Malformed,
            format!("{e}"),
        ))),
    }
}

/// Write `response`; false if the peer is gone or did not take it within
/// `timeout` (a slow client, counted in the metrics).
async fn write_frame(
    send: &mut quinn::SendStream,
    response: &Response,
    timeout: Duration,
    ops: &Ops,
) -> bool {
    match tokio::time::timeout(timeout, send.write_all(&encode_frame(response))).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::info!("client too slow to take a response; dropping the stream");
            ops.timed_out(Timeout::Response);
            false
        }
    }
}

fn request_kind(r: &Request) -> &'static str {
    match r {
        Request::Challenge => "challenge",
        Request::Authenticate { .. } => "authenticate",
        Request::Ping => "ping",
        Request::GetDirectory => "get-directory",
        Request::PublishAuthority(_) => "publish-authority",
        Request::PublishRecord { .. } => "publish-record",
        Request::PublishRole(_) => "publish-role",
        Request::UploadPrekeys(_) => "upload-prekeys",
        Request::PrekeyCount => "prekey-count",
        Request::ClaimPrekey { .. } => "claim-prekey",
        Request::Send { .. } => "send",
        Request::Fetch { .. } => "fetch",
        Request::Ack { .. } => "ack",
        Request::Subscribe => "subscribe",
        Request::GetCheckpoint { .. } => "get-checkpoint",
        Request::GetConsistency { .. } => "get-consistency",
        Request::GetInclusion { .. } => "get-inclusion",
        Request::GetEntries { .. } => "get-entries",
        Request::GetMessageEvents { .. } => "get-message-events",
        Request::AddCosignature { .. } => "add-cosignature",
        Request::BlobBegin { .. } => "blob-begin",
        Request::BlobChunk { .. } => "blob-chunk",
        Request::BlobGrant { .. } => "blob-grant",
        Request::BlobFetch { .. } => "blob-fetch",
    }
}

#[allow(clippy::too_many_arguments)]
async fn handle_stream(
    service: Arc<Service>,
    session: Arc<Session>,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    budget: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
    (ops, guard): (Arc<Ops>, Arc<ConnectionGuard>),
) {
    let limits = service.limits().clone();
    let io_timeout = Duration::from_secs(limits.request_timeout_secs);
    let read = tokio::select! {
        () = wait_stop(&mut stop) => return,
        r = tokio::time::timeout(io_timeout, read_request(&mut recv, limits.max_frame, &budget)) => r,
    };
    let timed_out = read.is_err();
    let read = read.unwrap_or_else(|_| {
        Err(ReadFailure::Respond(WireError::new(
            ErrorCode::Malformed,
            format!(
                "the request frame did not arrive within {} s",
                limits.request_timeout_secs
            ),
        )))
    });
    match read {
        Ok((Request::Subscribe, permit)) => {
            drop(permit);
            if let Err(e) = ops.admit_subscribe(&session, &guard) {
                if write_frame(&mut send, &Response::Error(e), io_timeout, &ops).await {
                    let _ = send.finish();
                }
                return;
            }
            subscribe(&service, &session, send, stop, io_timeout, &ops).await;
        }
        Ok((request, permit)) => {
            let kind = request_kind(&request);
            tracing::debug!(request = kind, "request");
            // Once read, a request runs to completion even during shutdown,
            // so a commit in progress is answered.
            let response = ops.handle(&session, &guard, kind, request).await;
            drop(permit);
            if write_frame(&mut send, &response, io_timeout, &ops).await {
                let _ = send.finish();
            }
        }
        Err(ReadFailure::Respond(e)) => {
            tracing::info!(code = e.code.code(), reason = %e.message, "refused a frame");
            ops.frame_refused(&e, timed_out);
            let _ = recv.stop(quinn::VarInt::from_u32(u32::from(e.code.code())));
            if write_frame(&mut send, &Response::Error(e), io_timeout, &ops).await {
                let _ = send.finish();
            }
        }
        Err(ReadFailure::Gone) => {}
    }
}

/// Push envelopes committed for the session's device until the peer stops
/// the stream, the connection ends or the relay shuts down. Entries
/// committed before the subscription are left to Fetch. A subscriber that
/// falls behind catches up from the store, so nothing is skipped.
async fn subscribe(
    service: &Arc<Service>,
    session: &Session,
    mut send: quinn::SendStream,
    mut stop: watch::Receiver<bool>,
    io_timeout: Duration,
    ops: &Ops,
) {
    let device = match service.require_device(session) {
        Ok(d) => d,
        Err(e) => {
            if write_frame(&mut send, &Response::Error(e), io_timeout, ops).await {
                let _ = send.finish();
            }
            return;
        }
    };
    let mut rx = service.subscribers().subscribe(device);
    let mut last = match service.last_seq(device).await {
        Ok(s) => s,
        Err(e) => {
            if write_frame(&mut send, &Response::Error(e), io_timeout, ops).await {
                let _ = send.finish();
            }
            service.subscribers().release(&device);
            return;
        }
    };
    tracing::debug!(after = last, "subscribed");
    let stopped = send.stopped();
    tokio::pin!(stopped);
    'outer: loop {
        tokio::select! {
            () = wait_stop(&mut stop) => break,
            _ = &mut stopped => break,
            item = rx.recv() => match item {
                Ok(q) => {
                    if q.seq > last {
                        last = q.seq;
                        if !write_frame(&mut send, &Response::Push((*q).clone()), io_timeout, ops).await {
                            break;
                        }
                        ops.pushed(1);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "subscriber lagged; catching up from the store");
                    loop {
                        let (items, more) = match service.fetch(device, last).await {
                            Ok(x) => x,
                            Err(_) => break 'outer,
                        };
                        for q in items {
                            last = q.seq;
                            if !write_frame(&mut send, &Response::Push(q), io_timeout, ops).await {
                                break 'outer;
                            }
                            ops.pushed(1);
                        }
                        if !more {
                            break;
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    drop(rx);
    service.subscribers().release(&device);
    let _ = send.finish();
    tracing::debug!("subscription ended");
}
