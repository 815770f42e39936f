//! The agent process: the socket, the relay link, the timers and the event
//! stream.
//!
//! One task owns the [`Client`] and does everything that touches the home
//! or the relay, one thing at a time: requests from the socket, pushed
//! envelopes, reconnection and the periodic sync. Other tasks only carry
//! bytes (one per socket connection, one reading the relay's push stream,
//! one probing whether the relay is back) and talk to the owner through a
//! channel, so nothing waits on a lock and a slow socket peer never holds up
//! the relay link.

use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use liaison_protocol::frames::{Request as RelayRequest, Response as RelayResponse};
use liaison_protocol::message::{Content, SignedPayload};
use liaison_protocol::{DirectoryId, Timestamp, Wire};
use tokio::io::BufReader;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::api::{
    API_VERSION, ApiError, ErrorCode, Event, Passphrase, Reply, Request, Response, WarningCategory,
};
use super::error::AgentError;
use super::frame::{FrameError, MAX_REPLY_FRAME, MAX_REQUEST_FRAME, read_frame, write_frame};
use super::remote::AgentClient;
use super::views::{AgentStatus, LinkState, ReceiptView, SyncView};
use super::{SOCKET_NAME, ops, socket_path};
use crate::client::{Client, MessageKind, Received, StoredMessage, SyncReport, now};
use crate::contacts::Contacts;
use crate::error::ClientError;
use crate::home::{Home, HomeError, PassphraseCheck};
use liaison_net::{LinkError, Subscription};

/// First reconnection delay; it doubles per failed attempt.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// Longest reconnection delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// How long pushed messages wait so their delivery receipts go together.
const RECEIPT_DELAY: Duration = Duration::from_secs(2);
/// How long a liveness check of the relay link may take.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// How long closing the relay connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Socket connections served at once.
const MAX_CONNECTIONS: usize = 64;
/// Events buffered per subscriber before it is told it lagged.
const EVENT_BUFFER: usize = 1024;

/// How the agent behaves.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// How often the periodic sync runs while connected (outbox, pending
    /// envelopes, retention, receipts, log verification).
    pub sync_interval: Duration,
    /// How long one relay request may take.
    pub request_timeout: Duration,
    /// How often the agent checks that the relay still answers. QUIC's
    /// own keep-alives do not notice a relay that was restarted until the
    /// idle timeout (a minute); a request does at once.
    pub heartbeat_interval: Duration,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            sync_interval: Duration::from_secs(300),
            request_timeout: Duration::from_secs(15),
            heartbeat_interval: Duration::from_secs(15),
        }
    }
}

/// The agent's program name and version, as it reports them.
pub fn agent_name() -> String {
    format!("liaison-agent {}", env!("CARGO_PKG_VERSION"))
}

/// The agent's listening socket in a home: created mode 0600 inside a
/// private directory, then linked into place, so it is never reachable with
/// wider permissions.
#[derive(Debug)]
pub struct AgentSocket {
    listener: UnixListener,
    home: PathBuf,
    path: PathBuf,
    ino: u64,
    uid: u32,
}

impl AgentSocket {
    /// Bind `HOME/agent.sock`. Refuses if an agent already answers there,
    /// if the home is not this user's or is open to other users; replaces a
    /// stale socket left by an agent that was killed.
    pub async fn bind(home: &Path) -> Result<AgentSocket, AgentError> {
        if !Home::exists(home) {
            return Err(HomeError::Missing(home.to_owned()).into());
        }
        let meta = std::fs::metadata(home)
            .map_err(io(format!("reading the permissions of {}", home.display())))?;
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).map_err(AgentError::Random)?;
        let tmp = home.join(format!(".agent-{}", hex::encode(r)));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(io(format!("creating {}", tmp.display())))?;
        let res = Self::bind_via(home, &tmp, &meta).await;
        let _ = std::fs::remove_dir_all(&tmp);
        res
    }

    async fn bind_via(
        home: &Path,
        tmp: &Path,
        home_meta: &std::fs::Metadata,
    ) -> Result<Self, AgentError> {
        // What we create is ours: its owner is this process's user.
        let uid = std::fs::metadata(tmp)
            .map_err(io(format!("reading the owner of {}", tmp.display())))?
            .uid();
        if home_meta.uid() != uid {
            return Err(AgentError::OtherUser {
                home: home.to_owned(),
                owner: home_meta.uid(),
                uid,
            });
        }
        let mode = home_meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(AgentError::OpenToOthers {
                home: home.to_owned(),
                mode,
            });
        }
        let path = socket_path(home);
        let stale = match std::fs::symlink_metadata(&path) {
            Ok(m) if !m.file_type().is_socket() => return Err(AgentError::NotASocket(path)),
            Ok(m) => match AgentClient::connect(home, "liaison agent (start-up check)").await {
                Ok(Some(_)) => {
                    return Err(AgentError::AlreadyRunning {
                        home: home.to_owned(),
                        socket: path,
                    });
                }
                Ok(None) => Some(m.ino()),
                Err(e) => {
                    return Err(AgentError::NotAnAgent {
                        socket: path,
                        error: liaison_net::tool::chain(&e),
                    });
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(format!("checking {}", path.display()))(e)),
        };
        let tmp_sock = tmp.join(SOCKET_NAME);
        let listener = UnixListener::bind(&tmp_sock)
            .map_err(io(format!("creating the socket {}", tmp_sock.display())))?;
        std::fs::set_permissions(&tmp_sock, std::fs::Permissions::from_mode(0o600))
            .map_err(io(format!("restricting {}", tmp_sock.display())))?;
        // Replace the stale socket only if it is still the one found dead.
        if let Some(ino) = stale
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.ino() == ino)
        {
            let _ = std::fs::remove_file(&path);
        }
        match std::fs::hard_link(&tmp_sock, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(AgentError::JustStarted(home.to_owned()));
            }
            Err(_) => std::fs::rename(&tmp_sock, &path)
                .map_err(io(format!("moving the socket to {}", path.display())))?,
        }
        let m =
            std::fs::symlink_metadata(&path).map_err(io(format!("checking {}", path.display())))?;
        if !m.file_type().is_socket() || m.permissions().mode() & 0o777 != 0o600 || m.uid() != uid {
            let _ = std::fs::remove_file(&path);
            return Err(AgentError::SocketPermissions(path));
        }
        Ok(AgentSocket {
            listener,
            home: home.to_owned(),
            path,
            ino: m.ino(),
            uid,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Remove `path` if it is still the socket with inode `ino` (a newer
/// agent's socket is left alone).
fn remove_socket(path: &Path, ino: u64) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.ino() == ino) {
        let _ = std::fs::remove_file(path);
    }
}

/// What reaches the owner task.
enum Input {
    /// A request from a socket connection.
    Call {
        request: Request,
        reply: oneshot::Sender<Reply>,
    },
    /// A new subscriber asked to fetch what the relay holds now.
    CatchUp,
    /// A frame (or the end) of the relay's push stream.
    Push {
        generation: u64,
        frame: Result<Option<RelayResponse>, LinkError>,
    },
    /// Whether the relay answered a connection attempt.
    Probe { result: Result<(), String> },
    /// The reply to a shutdown request was delivered: stop now.
    Stop,
    /// What checks the passphrase of the open home (`None` while locked).
    PassphraseCheck {
        reply: oneshot::Sender<Option<PassphraseCheck>>,
    },
}

/// What connections answer `hello` and `status` from without waiting for
/// the owner, which may be busy with the relay for a while.
#[derive(Clone, Debug)]
struct Snapshot {
    status: AgentStatus,
    id: Option<DirectoryId>,
    next_attempt: Option<Instant>,
}

impl Snapshot {
    fn status(&self, events: &broadcast::Sender<Event>) -> AgentStatus {
        let mut s = self.status.clone();
        s.next_attempt_in_secs = self
            .next_attempt
            .map(|t| t.saturating_duration_since(Instant::now()).as_secs());
        s.subscribers = events.receiver_count();
        s
    }
}

/// What the owner shares with its sessions: the event stream and the way
/// back to itself for spawned tasks.
struct Shared {
    home: PathBuf,
    socket: PathBuf,
    options: AgentOptions,
    events: broadcast::Sender<Event>,
    inputs: mpsc::Sender<Input>,
    generation: u64,
}

impl Shared {
    fn emit(&self, event: Event) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    fn warn(&self, category: WarningCategory, text: String, contact: Option<String>) {
        tracing::warn!(category = ?category, "{text}");
        self.emit(Event::Warning {
            category,
            text,
            contact,
        });
    }
}

enum Link {
    Up,
    /// `next_attempt` is `None` when halted (log inconsistency).
    Down {
        failures: u32,
        next_attempt: Option<Instant>,
        probing: bool,
    },
}

/// An unlocked home and its relay link.
struct Session {
    client: Client,
    link: Link,
    link_since: Timestamp,
    last_error: Option<String>,
    next_sync: Instant,
    next_heartbeat: Instant,
    reader: Option<JoinHandle<()>>,
    receipts_pending: Vec<StoredMessage>,
    receipts_due: Option<Instant>,
    /// Warnings already shown to subscribers, so that a reconnection loop
    /// does not repeat the same one at every attempt.
    shown: WarningGate,
}

/// How long a warning shown to subscribers is not shown again.
const WARNING_REPEAT_AFTER: Duration = Duration::from_secs(60 * 60);

/// Which warnings to show to subscribers: a warning is shown again only
/// once [`WARNING_REPEAT_AFTER`] has passed since it was last shown (an
/// ALERT about the own record comes back then, not at every reconnection
/// attempt), or as soon as it is raised again after someone new
/// subscribed (who has not seen it). Replies to a request carry all their
/// warnings regardless.
#[derive(Default)]
struct WarningGate {
    last: std::collections::BTreeMap<String, Instant>,
    /// Subscribers when a warning was last admitted.
    audience: usize,
}

impl WarningGate {
    /// Most distinct warnings remembered.
    const MAX: usize = 256;

    /// Whether to show `warning` now, to `audience` subscribers.
    fn admit(&mut self, warning: &str, now: Instant, audience: usize) -> bool {
        if audience > self.audience {
            self.last.clear();
        }
        self.audience = audience;
        if self
            .last
            .get(warning)
            .is_some_and(|t| now.saturating_duration_since(*t) < WARNING_REPEAT_AFTER)
        {
            return false;
        }
        if self.last.len() >= Self::MAX {
            self.last
                .retain(|_, t| now.saturating_duration_since(*t) < WARNING_REPEAT_AFTER);
            if self.last.len() >= Self::MAX {
                self.last.clear();
            }
        }
        self.last.insert(warning.to_owned(), now);
        true
    }
}

enum State {
    Locked,
    Open(Box<Session>),
}

/// A running agent (see the module documentation).
pub struct Agent {
    shared: Shared,
    state: State,
    inputs: mpsc::Receiver<Input>,
    listener: Option<UnixListener>,
    socket_ino: u64,
    uid: u32,
    snapshot: watch::Sender<Snapshot>,
    stop: bool,
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Also when it never served (a wrong passphrase at start).
        remove_socket(&self.shared.socket, self.socket_ino);
    }
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("home", &self.shared.home)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// A locked agent serving on `socket`.
    pub fn new(socket: AgentSocket, options: AgentOptions) -> Agent {
        let (tx, rx) = mpsc::channel(256);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (snapshot, _) = watch::channel(Snapshot {
            status: AgentStatus {
                agent: agent_name(),
                pid: std::process::id(),
                home: socket.home.display().to_string(),
                socket: socket.path.display().to_string(),
                locked: true,
                id: None,
                relay: None,
                link: LinkState::Locked,
                link_since: None,
                last_error: None,
                attempts: 0,
                next_attempt_in_secs: None,
                outbox: None,
                subscribers: 0,
            },
            id: None,
            next_attempt: None,
        });
        Agent {
            shared: Shared {
                home: socket.home.clone(),
                socket: socket.path.clone(),
                options,
                events,
                inputs: tx,
                generation: 0,
            },
            state: State::Locked,
            inputs: rx,
            listener: Some(socket.listener),
            socket_ino: socket.ino,
            uid: socket.uid,
            snapshot,
            stop: false,
        }
    }

    /// A way for other tasks of this process (the web app) to call the
    /// agent as a socket connection does.
    pub fn handle(&self) -> AgentHandle {
        AgentHandle {
            ch: Channels {
                inputs: self.shared.inputs.clone(),
                events: self.shared.events.clone(),
                snapshot: self.snapshot.subscribe(),
            },
        }
    }

    /// Open the home with `passphrase`. The relay link comes up in the
    /// background.
    pub async fn unlock(&mut self, passphrase: Passphrase) -> Result<DirectoryId, ApiError> {
        if matches!(self.state, State::Open(_)) {
            return Err(ApiError {
                code: ErrorCode::AlreadyUnlocked,
                message: "the agent is already unlocked".into(),
            });
        }
        let home = self.shared.home.clone();
        let opened = tokio::task::spawn_blocking(move || Client::open(&home, passphrase.expose()))
            .await
            .map_err(|e| ApiError {
                code: ErrorCode::Failed,
                message: format!("unlocking failed: {e}"),
            })?;
        let mut client = opened.map_err(|e| {
            let message = liaison_net::tool::chain(&e);
            let wrong = matches!(e, ClientError::Home(HomeError::WrongPassphrase(_)));
            if wrong {
                tracing::warn!("unlock refused: wrong passphrase");
                ApiError {
                    code: ErrorCode::WrongPassphrase,
                    message: format!("{message}; the agent stays locked: try again"),
                }
            } else {
                ApiError {
                    code: ErrorCode::Failed,
                    message,
                }
            }
        })?;
        client.set_request_timeout(self.shared.options.request_timeout);
        let id = client.id().clone();
        self.state = State::Open(Box::new(Session {
            client,
            link: Link::Down {
                failures: 0,
                next_attempt: Some(Instant::now()),
                probing: false,
            },
            link_since: now(),
            last_error: None,
            next_sync: Instant::now() + self.shared.options.sync_interval,
            next_heartbeat: Instant::now() + self.shared.options.heartbeat_interval,
            reader: None,
            receipts_pending: Vec::new(),
            receipts_due: None,
            shown: WarningGate::default(),
        }));
        tracing::info!(id = %id, "unlocked");
        self.shared.emit(Event::Unlocked { id: id.clone() });
        Ok(id)
    }

    /// Whether the agent waits for the passphrase.
    pub fn is_locked(&self) -> bool {
        matches!(self.state, State::Locked)
    }

    /// The agent's state.
    pub fn status(&self) -> AgentStatus {
        let (id, relay, link, last_error, attempts, next, outbox, since) = match &self.state {
            State::Locked => (None, None, LinkState::Locked, None, 0, None, None, None),
            State::Open(s) => {
                let (link, attempts, next) = match &s.link {
                    Link::Up => (LinkState::Up, 0, None),
                    Link::Down {
                        failures,
                        next_attempt: Some(t),
                        ..
                    } => (
                        LinkState::Down,
                        *failures,
                        Some(t.saturating_duration_since(Instant::now()).as_secs()),
                    ),
                    Link::Down { failures, .. } => (LinkState::Halted, *failures, None),
                };
                (
                    Some(s.client.id().to_string()),
                    Some(s.client.bundle().relay_addr.clone()),
                    link,
                    s.last_error.clone(),
                    attempts,
                    next,
                    s.client.outbox_len().ok(),
                    Some(s.link_since.to_rfc3339()),
                )
            }
        };
        AgentStatus {
            agent: agent_name(),
            pid: std::process::id(),
            home: self.shared.home.display().to_string(),
            socket: self.shared.socket.display().to_string(),
            locked: self.is_locked(),
            id,
            relay,
            link,
            link_since: since,
            last_error,
            attempts,
            next_attempt_in_secs: next,
            outbox,
            subscribers: self.shared.events.receiver_count(),
        }
    }

    /// Refresh what connections answer `hello` and `status` from.
    fn publish(&self) {
        let (id, next_attempt) = match &self.state {
            State::Locked => (None, None),
            State::Open(s) => (
                Some(s.client.id().clone()),
                match s.link {
                    Link::Down { next_attempt, .. } => next_attempt,
                    Link::Up => None,
                },
            ),
        };
        self.snapshot.send_replace(Snapshot {
            status: self.status(),
            id,
            next_attempt,
        });
    }

    /// Serve until `shutdown` completes or a caller asks the agent to stop;
    /// then close the relay connection and remove the socket.
    pub async fn serve(mut self, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let listener = self.listener.take().ok_or(AgentError::AlreadyServing)?;
        let path = self.shared.socket.clone();
        self.publish();
        let accept = tokio::spawn(accept_loop(
            listener,
            self.uid,
            Channels {
                inputs: self.shared.inputs.clone(),
                events: self.shared.events.clone(),
                snapshot: self.snapshot.subscribe(),
            },
            limit,
        ));
        tracing::info!(socket = %path.display(), "agent serving");
        tokio::pin!(shutdown);
        while !self.stop {
            let wake = self.next_wake();
            tokio::select! {
                () = &mut shutdown => break,
                input = self.inputs.recv() => match input {
                    Some(i) => self.on_input(i).await,
                    None => break,
                },
                () = sleep_until(wake) => self.on_timer().await,
            }
            self.publish();
        }
        accept.abort();
        remove_socket(&path, self.socket_ino);
        if let State::Open(s) = &mut self.state {
            s.stop_reader();
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, s.client.disconnect()).await;
        }
        tracing::info!("agent stopped");
        Ok(())
    }

    fn next_wake(&self) -> Option<Instant> {
        let State::Open(s) = &self.state else {
            return None;
        };
        match &s.link {
            Link::Up => {
                let t = s.next_sync.min(s.next_heartbeat);
                Some(s.receipts_due.map_or(t, |d| d.min(t)))
            }
            Link::Down {
                next_attempt: Some(t),
                probing: false,
                ..
            } => Some(*t),
            Link::Down { .. } => None,
        }
    }

    async fn on_timer(&mut self) {
        let State::Open(s) = &mut self.state else {
            return;
        };
        let sh = &mut self.shared;
        let at = Instant::now();
        match s.link {
            Link::Down {
                next_attempt: Some(t),
                probing: false,
                ..
            } if t <= at => s.start_probe(sh),
            Link::Up => {
                if s.receipts_due.is_some_and(|d| d <= at) {
                    s.flush_receipts(sh).await;
                }
                if matches!(s.link, Link::Up) && s.next_sync <= at {
                    s.next_sync = at + sh.options.sync_interval;
                    let _ = s.sync_and_publish(sh).await;
                    s.publish_warnings(sh);
                }
                if matches!(s.link, Link::Up) && s.next_heartbeat <= at {
                    s.next_heartbeat = Instant::now() + sh.options.heartbeat_interval;
                    s.check_link(sh).await;
                }
            }
            Link::Down { .. } => {}
        }
    }

    async fn on_input(&mut self, input: Input) {
        match input {
            Input::Call { request, reply } => {
                let r = self.call(request).await;
                // Callers that act on the reply see the state it reports.
                self.publish();
                let _ = reply.send(r);
            }
            Input::Stop => self.stop = true,
            Input::PassphraseCheck { reply } => {
                let check = match &self.state {
                    State::Open(s) => s.client.home.passphrase_check().ok(),
                    State::Locked => None,
                };
                let _ = reply.send(check);
            }
            Input::CatchUp => {
                if let State::Open(s) = &mut self.state
                    && matches!(s.link, Link::Up)
                {
                    let _ = s.sync_and_publish(&mut self.shared).await;
                    s.publish_warnings(&self.shared);
                }
            }
            Input::Push { generation, frame } => {
                if let State::Open(s) = &mut self.state
                    && generation == self.shared.generation
                    && matches!(s.link, Link::Up)
                {
                    s.on_push(&mut self.shared, frame).await;
                }
            }
            Input::Probe { result } => {
                if let State::Open(s) = &mut self.state
                    && let Link::Down { probing: true, .. } = s.link
                {
                    if let Link::Down { probing, .. } = &mut s.link {
                        *probing = false;
                    }
                    match result {
                        Ok(()) => {
                            let _ = s.bring_up(&mut self.shared).await;
                        }
                        Err(e) => s.attempt_failed(e),
                    }
                }
            }
        }
    }

    async fn call(&mut self, request: Request) -> Reply {
        match request {
            Request::Hello { version, client } => {
                if version != API_VERSION {
                    return Reply::error(
                        ErrorCode::Version,
                        format!(
                            "the agent speaks API version {API_VERSION}, the caller ({client}) version {version}"
                        ),
                    );
                }
                let id = match &self.state {
                    State::Open(s) => Some(s.client.id().clone()),
                    State::Locked => None,
                };
                Reply::new(Response::Hello {
                    version: API_VERSION,
                    agent: agent_name(),
                    locked: self.is_locked(),
                    id,
                })
            }
            Request::Status => Reply::new(Response::Status {
                status: self.status(),
            }),
            // The connection sends `Input::Stop` once the reply is out.
            Request::Shutdown => {
                tracing::info!("asked to stop");
                Reply::new(Response::ShuttingDown)
            }
            Request::Unlock { passphrase } => match self.unlock(passphrase).await {
                Ok(id) => Reply::new(Response::Unlocked { id }),
                Err(e) => Reply::new(Response::Error(e)),
            },
            Request::Subscribe { .. } => Reply::error(
                ErrorCode::BadRequest,
                "subscribe is answered by the connection, not here",
            ),
            request => {
                let State::Open(s) = &mut self.state else {
                    return Reply::error(
                        ErrorCode::Locked,
                        format!(
                            "the agent for {} is locked: unlock it with the home's passphrase \
                             (any liaison command for this home asks for it)",
                            self.shared.home.display()
                        ),
                    );
                };
                s.operate(&mut self.shared, request).await
            }
        }
    }
}

impl Session {
    async fn operate(&mut self, sh: &mut Shared, request: Request) -> Reply {
        let relay = ops::needs_relay(&request);
        if relay
            && !matches!(self.link, Link::Up)
            && let Err(e) = self.bring_up(sh).await
            && !(e.is_unreachable() && ops::works_offline(&request))
        {
            let warnings = self.publish_warnings(sh);
            return Reply {
                warnings,
                response: Response::Error(ApiError {
                    code: if e.is_log_inconsistency() {
                        ErrorCode::LogInconsistency
                    } else {
                        ErrorCode::RelayUnreachable
                    },
                    message: format!(
                        "{} (the agent {}; `liaison --home {} agent status` shows the link)",
                        liaison_net::tool::chain(&e),
                        if e.is_log_inconsistency() {
                            "no longer reconnects to this relay by itself"
                        } else {
                            "keeps retrying by itself"
                        },
                        liaison_protocol::shell::quote_path(&sh.home)
                    ),
                }),
            };
        }
        if ops::refreshes_directory(&request) {
            if matches!(self.link, Link::Up) {
                if let Err(e) = self.client.refresh_directory().await {
                    self.check_link(sh).await;
                    self.client.warn(format!(
                        "could not bring the directory up to date ({}); this shows the directory \
                         from the last sync",
                        liaison_net::tool::chain(&e)
                    ));
                }
            } else {
                self.client.warn(
                    "the agent is not connected to the relay; this shows the directory from the \
                     last sync"
                        .to_owned(),
                );
            }
        }
        tracing::debug!(op = request.op(), "request");
        let result = match request {
            Request::Sync => self.sync_and_publish(sh).await.map(|r| Response::Synced {
                report: SyncView::from(&r),
            }),
            request => ops::handle(&mut self.client, request).await,
        };
        if relay && (result.is_err() || matches!(result, Ok(Response::Queued { .. }))) {
            self.check_link(sh).await;
        }
        let warnings = self.publish_warnings(sh);
        Reply {
            warnings,
            response: match result {
                Ok(r) => r,
                Err(e) => Response::Error(ApiError::from(e)),
            },
        }
    }

    /// Show the client's warnings to subscribers; return them for a reply.
    fn publish_warnings(&mut self, sh: &Shared) -> Vec<String> {
        let mut warnings = self.client.take_warnings();
        // The same warning raised at each of several attempts is said once.
        let mut seen = std::collections::BTreeSet::new();
        warnings.retain(|w| seen.insert(w.clone()));
        let now = Instant::now();
        let audience = sh.events.receiver_count();
        for w in &warnings {
            if self.shown.admit(w, now, audience) {
                sh.warn(WarningCategory::General, w.clone(), None);
            }
        }
        warnings
    }

    fn start_probe(&mut self, sh: &Shared) {
        let addr = self.client.bundle().relay_addr.clone();
        let pins = match self.client.bundle().cert_pins() {
            Ok(p) => p,
            Err(e) => {
                self.attempt_failed(format!("the bundle's relay pin is unusable: {e}"));
                return;
            }
        };
        if let Link::Down { probing, .. } = &mut self.link {
            *probing = true;
        }
        let tx = sh.inputs.clone();
        tokio::spawn(async move {
            let result = match liaison_net::Link::connect(&addr, pins).await {
                Ok(c) => {
                    c.close().await;
                    Ok(())
                }
                Err(e) => Err(format!("{e:#}")),
            };
            let _ = tx.send(Input::Probe { result }).await;
        });
    }

    fn attempt_failed(&mut self, reason: String) {
        let failures = match self.link {
            Link::Down { failures, .. } => failures.saturating_add(1),
            Link::Up => 1,
        };
        let delay = backoff(failures);
        tracing::info!(
            failures,
            retry_in_ms = delay.as_millis() as u64,
            "relay unreachable: {reason}"
        );
        self.link = Link::Down {
            failures,
            next_attempt: Some(Instant::now() + delay),
            probing: false,
        };
        self.last_error = Some(reason);
    }

    /// Connect, subscribe to push, then catch up (outbox, pending
    /// envelopes, retention, receipts, logs).
    async fn bring_up(&mut self, sh: &mut Shared) -> Result<(), ClientError> {
        self.stop_reader();
        let before = self.client.contacts().unwrap_or_default();
        let connected = async {
            self.client.connect().await?;
            self.client.subscribe_raw().await
        }
        .await;
        let sub = match connected {
            Ok(sub) => sub,
            Err(e) => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.client.disconnect()).await;
                if e.is_log_inconsistency() {
                    self.halt(sh, &e);
                } else {
                    self.attempt_failed(liaison_net::tool::chain(&e));
                }
                self.report_key_changes(sh, &before);
                return Err(e);
            }
        };
        sh.generation += 1;
        self.reader = Some(tokio::spawn(read_pushes(
            sub,
            sh.generation,
            sh.inputs.clone(),
        )));
        self.link = Link::Up;
        self.link_since = now();
        let relay = self.client.bundle().relay_addr.clone();
        tracing::info!(relay = %relay, "relay link up");
        sh.emit(Event::Link {
            state: LinkState::Up,
            detail: format!("connected to the relay at {relay}"),
        });
        self.report_key_changes(sh, &before);
        self.next_sync = Instant::now() + sh.options.sync_interval;
        self.next_heartbeat = Instant::now() + sh.options.heartbeat_interval;
        let _ = self.sync_and_publish(sh).await;
        if matches!(self.link, Link::Up) && !self.receipts_pending.is_empty() {
            self.receipts_due = Some(Instant::now());
        }
        Ok(())
    }

    /// Stop reconnecting by itself: the relay showed an inconsistent
    /// history. A request that needs the relay tries again.
    fn halt(&mut self, sh: &Shared, e: &ClientError) {
        let e = liaison_net::tool::chain(e);
        self.stop_reader();
        let failures = match self.link {
            Link::Down { failures, .. } => failures,
            Link::Up => 0,
        };
        self.link = Link::Down {
            failures,
            next_attempt: None,
            probing: false,
        };
        self.link_since = now();
        self.last_error = Some(e.clone());
        sh.warn(
            WarningCategory::LogInconsistency,
            format!("{e} The agent stops reconnecting to this relay by itself."),
            None,
        );
        sh.emit(Event::Link {
            state: LinkState::Halted,
            detail: e,
        });
    }

    /// The link failed while up: close it and retry soon.
    async fn go_down(&mut self, sh: &Shared, reason: String) {
        if !matches!(self.link, Link::Up) {
            return;
        }
        self.stop_reader();
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.client.disconnect()).await;
        let delay = backoff(0);
        tracing::warn!("relay link down: {reason}");
        self.link = Link::Down {
            failures: 0,
            next_attempt: Some(Instant::now() + delay),
            probing: false,
        };
        self.link_since = now();
        self.last_error = Some(reason.clone());
        sh.emit(Event::Link {
            state: LinkState::Down,
            detail: reason,
        });
    }

    /// After a failed relay operation: is the link still alive?
    async fn check_link(&mut self, sh: &Shared) {
        if !matches!(self.link, Link::Up) {
            return;
        }
        let ping =
            tokio::time::timeout(PING_TIMEOUT, self.client.conn_request(&RelayRequest::Ping)).await;
        match ping {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.go_down(sh, liaison_net::tool::chain(&e)).await,
            Err(_) => {
                self.go_down(
                    sh,
                    format!(
                        "the relay did not answer within {} s",
                        PING_TIMEOUT.as_secs()
                    ),
                )
                .await
            }
        }
    }

    fn stop_reader(&mut self) {
        if let Some(r) = self.reader.take() {
            r.abort();
        }
    }

    async fn on_push(&mut self, sh: &mut Shared, frame: Result<Option<RelayResponse>, LinkError>) {
        let q = match frame {
            Ok(Some(RelayResponse::Push(q))) => q,
            Ok(Some(_)) => {
                return self
                    .go_down(sh, "the relay sent something else than a push".into())
                    .await;
            }
            Ok(None) => {
                return self
                    .go_down(
                        sh,
                        "the relay closed the push stream (it may be restarting)".into(),
                    )
                    .await;
            }
            Err(e) => return self.go_down(sh, e.to_string()).await,
        };
        let received = match self.client.process(&q) {
            Ok(r) => r,
            Err(e) => {
                sh.warn(
                    WarningCategory::General,
                    format!(
                        "a pushed message could not be stored ({}); it stays at the relay",
                        liaison_net::tool::chain(&e)
                    ),
                    None,
                );
                return;
            }
        };
        let mut ack = true;
        match received {
            Received::Message(m) => {
                let m = *m;
                if let Err(e) = self.client.check_payload_view(&m.signed_payload).await {
                    // As `liaison listen` does: leave it unacknowledged; the
                    // next sync acknowledges it as a redelivery.
                    ack = false;
                    let text = liaison_net::tool::chain(&e);
                    if e.is_log_inconsistency() {
                        sh.warn(WarningCategory::LogInconsistency, text, None);
                    } else {
                        sh.warn(
                            WarningCategory::General,
                            format!("checking the history {} saw failed: {text}", m.from),
                            None,
                        );
                        self.check_link(sh).await;
                    }
                }
                sh.emit(Event::Message {
                    message: Box::new(ops::arrived(&self.client, &m)),
                });
                if m.kind == MessageKind::Receipts {
                    self.publish_receipts(sh, &m);
                } else if matches!(m.kind.as_str(), "text" | "forward" | "handover") {
                    self.receipts_pending.push(m);
                    self.receipts_due
                        .get_or_insert_with(|| Instant::now() + RECEIPT_DELAY);
                }
            }
            Received::Duplicate(_) => {}
            Received::Rejected { id, reason } => sh.emit(Event::Rejected {
                id: id.to_hex(),
                reason,
            }),
        }
        if ack
            && matches!(self.link, Link::Up)
            && let Err(e) = self.client.ack(vec![q.seq]).await
        {
            tracing::info!(
                "acknowledging a push failed: {}",
                liaison_net::tool::chain(&e)
            );
            self.check_link(sh).await;
        }
        self.publish_warnings(sh);
    }

    fn publish_receipts(&self, sh: &Shared, carrier: &StoredMessage) {
        let mut receipts = Vec::new();
        let about = SignedPayload::decode(&carrier.signed_payload)
            .ok()
            .and_then(|s| s.decode_unverified().ok())
            .map(|p| match p.content {
                Content::Receipts(list) => list
                    .iter()
                    .filter_map(|s| s.decode_unverified().ok())
                    .map(|r| r.message_id)
                    .collect(),
                _ => Vec::new(),
            })
            .unwrap_or_default();
        for id in dedup(about) {
            if let Ok(records) = self.client.receipt_records(id) {
                receipts.extend(
                    records
                        .iter()
                        .filter(|r| r.carrier == carrier.id)
                        .map(ReceiptView::from),
                );
            }
        }
        sh.emit(Event::Receipts { count: 1, receipts });
    }

    async fn flush_receipts(&mut self, sh: &Shared) {
        self.receipts_due = None;
        let pending = std::mem::take(&mut self.receipts_pending);
        if pending.is_empty() {
            return;
        }
        let sent = self
            .client
            .send_receipts(&pending, |_| {
                liaison_protocol::consent::ReceiptKind::Delivered
            })
            .await;
        if let Err(e) = sent {
            sh.warn(
                WarningCategory::Delivery,
                format!(
                    "delivery receipts are kept and go once the relay accepts them: {}",
                    liaison_net::tool::chain(&e)
                ),
                None,
            );
            self.check_link(sh).await;
            if !matches!(self.link, Link::Up) {
                // Lost with the link: send them once it is back.
                self.receipts_pending = pending;
            }
        }
    }

    /// Run the client's sync and tell subscribers what it brought.
    async fn sync_and_publish(&mut self, sh: &mut Shared) -> Result<SyncReport, ClientError> {
        let before = self.client.contacts().unwrap_or_default();
        let res = self.client.sync().await;
        self.report_key_changes(sh, &before);
        match res {
            Ok(report) => {
                for m in &report.received {
                    sh.emit(Event::Message {
                        message: Box::new(ops::arrived(&self.client, m)),
                    });
                }
                for (id, reason) in &report.rejected {
                    sh.emit(Event::Rejected {
                        id: id.to_hex(),
                        reason: reason.clone(),
                    });
                }
                for f in &report.forks {
                    sh.warn(WarningCategory::LogInconsistency, f.clone(), None);
                }
                for o in &report.log_omissions {
                    sh.warn(WarningCategory::LogOmission, o.clone(), None);
                }
                if report.receipts > 0 {
                    sh.emit(Event::Receipts {
                        count: report.receipts,
                        receipts: Vec::new(),
                    });
                }
                if !report.destroyed.is_empty() {
                    sh.warn(
                        WarningCategory::General,
                        format!(
                            "the content of {} message(s) was destroyed: their retention ended",
                            report.destroyed.len()
                        ),
                        None,
                    );
                }
                Ok(report)
            }
            Err(e) => {
                if e.is_log_inconsistency() {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.client.disconnect()).await;
                    self.halt(sh, &e);
                } else {
                    self.check_link(sh).await;
                    if matches!(self.link, Link::Up) {
                        sh.warn(
                            WarningCategory::General,
                            format!("sync failed: {}", liaison_net::tool::chain(&e)),
                            None,
                        );
                    }
                }
                Err(e)
            }
        }
    }

    fn report_key_changes(&self, sh: &Shared, before: &Contacts) {
        let Ok(after) = self.client.contacts() else {
            return;
        };
        for (id, state) in &after {
            let was = before.get(id).and_then(|b| b.key_changed);
            if state.key_changed.is_some() && state.key_changed != was {
                sh.warn(
                    WarningCategory::KeyChanged,
                    format!(
                        "the identity key of {id} changed: sending to {id} is held until you compare \
                         safety numbers (`liaison contacts verify {id}`) or accept the new key"
                    ),
                    Some(id.clone()),
                );
            }
        }
    }
}

fn dedup<T: PartialEq>(v: Vec<T>) -> Vec<T> {
    let mut out = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// An [`AgentError::Io`] saying what was being done.
fn io(what: String) -> impl FnOnce(std::io::Error) -> AgentError {
    move |source| AgentError::Io { what, source }
}

/// The delay before reconnection attempt `failures` + 1: doubling from
/// [`BACKOFF_FIRST`], capped at [`BACKOFF_CAP`], with full jitter over its
/// upper half so many clients do not return to a restarted relay at once.
pub fn backoff(failures: u32) -> Duration {
    let base = BACKOFF_FIRST
        .saturating_mul(1u32 << failures.min(16))
        .min(BACKOFF_CAP);
    let mut r = [0u8; 4];
    let jitter = if getrandom::fill(&mut r).is_ok() {
        f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX)
    } else {
        1.0
    };
    base.mul_f64(0.5 + 0.5 * jitter)
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Forward the relay's push stream to the owner until it ends.
async fn read_pushes(mut sub: Subscription, generation: u64, tx: mpsc::Sender<Input>) {
    loop {
        let frame = sub.next().await;
        let end = !matches!(frame, Ok(Some(_)));
        if tx.send(Input::Push { generation, frame }).await.is_err() || end {
            return;
        }
    }
}

/// What a connection task needs from the owner.
#[derive(Clone)]
struct Channels {
    inputs: mpsc::Sender<Input>,
    events: broadcast::Sender<Event>,
    snapshot: watch::Receiver<Snapshot>,
}

impl Channels {
    /// Hand a request to the owner and wait for its reply.
    async fn ask(&self, request: Request) -> Option<Reply> {
        let (tx, rx) = oneshot::channel();
        self.inputs
            .send(Input::Call { request, reply: tx })
            .await
            .ok()?;
        rx.await.ok()
    }
}

/// The agent as seen from another task of its process (the web app): the
/// same requests, replies and events as a socket connection, run by the
/// same owner task, so every rule stays in [`ops`].
#[derive(Clone)]
pub struct AgentHandle {
    ch: Channels,
}

impl std::fmt::Debug for AgentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentHandle")
    }
}

impl AgentHandle {
    /// Run `request` as the agent runs a socket request. `None` once the
    /// agent stopped. `subscribe` and `shutdown` are for sockets only
    /// (use [`AgentHandle::events`]).
    pub async fn call(&self, request: Request) -> Option<Reply> {
        match request {
            Request::Hello { version, client } => {
                Some(hello(&self.ch.snapshot.borrow(), version, &client))
            }
            Request::Status => Some(Reply::new(Response::Status {
                status: self.status(),
            })),
            Request::Subscribe { .. } | Request::Shutdown => Some(Reply::error(
                ErrorCode::BadRequest,
                "subscribe and shutdown are served on the agent's socket only",
            )),
            request => self.ch.ask(request).await,
        }
    }

    /// The agent's state now, without waiting for it.
    pub fn status(&self) -> AgentStatus {
        self.ch.snapshot.borrow().status(&self.ch.events)
    }

    /// Wait until the state [`AgentHandle::status`] reports satisfies
    /// `done`, at most `within`: an event can arrive before the status it
    /// announces is published. Whether it got there.
    pub async fn status_until(
        &self,
        within: Duration,
        mut done: impl FnMut(&AgentStatus) -> bool,
    ) -> bool {
        let mut rx = self.ch.snapshot.clone();
        let events = self.ch.events.clone();
        tokio::time::timeout(within, async move {
            loop {
                if done(&rx.borrow_and_update().status(&events)) {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await
        .unwrap_or(false)
    }

    /// The agent's events from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.ch.events.subscribe()
    }

    /// What checks the home's passphrase while the agent holds it open;
    /// `None` while the agent is locked or stopped.
    pub async fn passphrase_check(&self) -> Option<PassphraseCheck> {
        let (tx, rx) = oneshot::channel();
        self.ch
            .inputs
            .send(Input::PassphraseCheck { reply: tx })
            .await
            .ok()?;
        rx.await.ok().flatten()
    }
}

async fn accept_loop(listener: UnixListener, uid: u32, ch: Channels, limit: Arc<Semaphore>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match stream.peer_cred() {
            Ok(c) if c.uid() == uid => {}
            Ok(c) => {
                tracing::warn!(peer_uid = c.uid(), "refused a connection from another user");
                tokio::spawn(refuse(
                    stream,
                    ErrorCode::NotPermitted,
                    "this agent serves only the user who owns its home".into(),
                ));
                continue;
            }
            Err(e) => {
                tracing::warn!("refused a connection whose peer is unknown: {e}");
                continue;
            }
        }
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tokio::spawn(refuse(
                stream,
                ErrorCode::Busy,
                format!(
                    "the agent already serves {MAX_CONNECTIONS} connections; close some and try again"
                ),
            ));
            continue;
        };
        let ch = ch.clone();
        tokio::spawn(async move {
            serve_connection(stream, ch).await;
            drop(permit);
        });
    }
}

async fn refuse(mut stream: UnixStream, code: ErrorCode, message: String) {
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        write_frame(&mut stream, &Reply::error(code, message), MAX_REPLY_FRAME),
    )
    .await;
}

/// Answer `hello` from the snapshot.
fn hello(snapshot: &Snapshot, version: u32, client: &str) -> Reply {
    if version != API_VERSION {
        return Reply::error(
            ErrorCode::Version,
            format!(
                "the agent speaks API version {API_VERSION}, the caller ({client}) version {version}"
            ),
        );
    }
    Reply::new(Response::Hello {
        version: API_VERSION,
        agent: agent_name(),
        locked: snapshot.status.locked,
        id: snapshot.id.clone(),
    })
}

/// Serve one socket connection: requests and replies, or an event stream
/// after `subscribe`.
async fn serve_connection(stream: UnixStream, ch: Channels) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut greeted = false;
    loop {
        let frame = match read_frame(&mut rd, MAX_REQUEST_FRAME).await {
            Ok(Some(f)) => zeroize::Zeroizing::new(f),
            Ok(None) => return,
            Err(FrameError::TooLarge { len, max }) => {
                let _ = write_frame(
                    &mut wr,
                    &Reply::error(
                        ErrorCode::FrameTooLarge,
                        format!(
                            "a request of {len} bytes exceeds the agent's limit of {max} bytes; closing this connection"
                        ),
                    ),
                    MAX_REPLY_FRAME,
                )
                .await;
                return;
            }
            Err(e) => {
                tracing::debug!("connection ended: {e}");
                return;
            }
        };
        let request: Request = match serde_json::from_slice(&frame) {
            Ok(r) => r,
            Err(e) => {
                let reply =
                    Reply::error(ErrorCode::BadRequest, format!("not a valid request: {e}"));
                if write_frame(&mut wr, &reply, MAX_REPLY_FRAME).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let reply = match request {
            Request::Hello { version, client } => {
                let reply = hello(&ch.snapshot.borrow(), version, &client);
                greeted |= !matches!(reply.response, Response::Error(_));
                reply
            }
            _ if !greeted => Reply::error(
                ErrorCode::HelloFirst,
                format!("the first request must be hello with version {API_VERSION}"),
            ),
            Request::Status => Reply::new(Response::Status {
                status: ch.snapshot.borrow().status(&ch.events),
            }),
            Request::Subscribe { catch_up } => return stream_events(rd, wr, ch, catch_up).await,
            Request::Shutdown => {
                let reply = ch.ask(Request::Shutdown).await;
                if let Some(reply) = reply {
                    let _ = write_frame(&mut wr, &reply, MAX_REPLY_FRAME).await;
                }
                let _ = ch.inputs.send(Input::Stop).await;
                return;
            }
            request => match ch.ask(request).await {
                Some(reply) => reply,
                None => return,
            },
        };
        let reply = match write_frame(&mut wr, &reply, MAX_REPLY_FRAME).await {
            Ok(()) => continue,
            Err(FrameError::TooLarge { len, max }) => Reply::error(
                ErrorCode::Failed,
                format!("the answer ({len} bytes) exceeds the API's limit of {max} bytes"),
            ),
            Err(_) => return,
        };
        if write_frame(&mut wr, &reply, MAX_REPLY_FRAME).await.is_err() {
            return;
        }
    }
}

async fn stream_events(
    mut rd: BufReader<tokio::net::unix::OwnedReadHalf>,
    mut wr: tokio::net::unix::OwnedWriteHalf,
    ch: Channels,
    catch_up: bool,
) {
    // Receive before anything can happen, so nothing is missed.
    let mut rx = ch.events.subscribe();
    let (link, problem) = {
        let s = ch.snapshot.borrow();
        let problem = match s.status.link {
            LinkState::Up => None,
            _ => s.status.last_error.clone(),
        };
        (s.status.link, problem)
    };
    if write_frame(
        &mut wr,
        &Reply::new(Response::Subscribed { link, problem }),
        MAX_REPLY_FRAME,
    )
    .await
    .is_err()
    {
        return;
    }
    if catch_up {
        let _ = ch.inputs.send(Input::CatchUp).await;
    }
    // The caller sends nothing more; notice when it goes away.
    let (gone_tx, mut gone) = oneshot::channel::<()>();
    let drain = tokio::spawn(async move {
        while let Ok(Some(_)) = read_frame(&mut rd, MAX_REQUEST_FRAME).await {}
        let _ = gone_tx.send(());
    });
    loop {
        let event = tokio::select! {
            _ = &mut gone => break,
            e = rx.recv() => e,
        };
        let event = match event {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(missed)) => Event::Lagged { missed },
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if write_frame(
            &mut wr,
            &Reply::new(Response::Event { event }),
            MAX_REPLY_FRAME,
        )
        .await
        .is_err()
        {
            break;
        }
    }
    drain.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for failures in 0..40 {
            let d = backoff(failures);
            let base = BACKOFF_FIRST
                .saturating_mul(1u32 << failures.min(16))
                .min(BACKOFF_CAP);
            assert!(d >= base / 2 && d <= base, "{failures}: {d:?} vs {base:?}");
            assert!(d <= BACKOFF_CAP);
        }
    }

    #[test]
    fn a_warning_is_shown_once_an_hour_however_often_it_is_raised() {
        let mut gate = WarningGate::default();
        let t0 = Instant::now();
        let alert = "ALERT: your own directory record now names identity key …";
        assert!(gate.admit(alert, t0, 1));
        // Every reconnection attempt of the next hour raises it again.
        for s in [1, 30, 600, 3_599] {
            assert!(!gate.admit(alert, t0 + Duration::from_secs(s), 1), "{s}");
        }
        assert!(gate.admit("another warning", t0 + Duration::from_secs(5), 1));
        assert!(gate.admit(alert, t0 + WARNING_REPEAT_AFTER, 1));
        // Someone new subscribes: the next time it is raised, they see it.
        assert!(gate.admit(alert, t0 + WARNING_REPEAT_AFTER + Duration::from_secs(1), 2));
        assert!(!gate.admit(alert, t0 + WARNING_REPEAT_AFTER + Duration::from_secs(2), 2));
        // Raised while no one listens, then a subscriber comes: shown.
        assert!(gate.admit("raised alone", t0, 0));
        assert!(!gate.admit("raised alone", t0, 0));
        assert!(gate.admit("raised alone", t0 + Duration::from_secs(15), 1));
        // Many distinct warnings do not grow it without bound.
        for i in 0..(3 * WarningGate::MAX) {
            assert!(gate.admit(&format!("warning {i}"), t0 + Duration::from_secs(7_200), 1));
        }
        assert!(gate.last.len() <= WarningGate::MAX);
    }
}
