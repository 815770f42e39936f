//! Why the agent could not start or serve, or why talking to one failed.

use std::path::PathBuf;

use super::api::{API_VERSION, ApiError};
use super::frame::FrameError;
use crate::home::HomeError;

/// Why the agent could not start or serve ([`super::server`]), or why a
/// caller could not talk to one ([`super::remote`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    // ----- Starting an agent
    /// The home.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// A file system operation on the home or the socket failed.
    #[error("{what}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The operating system's random generator failed.
    #[error("OS random generator failed: {0}")]
    Random(getrandom::Error),
    /// The home belongs to another user.
    #[error(
        "the home {} belongs to another user (uid {owner}, not {uid}); run the agent as that user",
        home.display()
    )]
    OtherUser {
        /// The home.
        home: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's user.
        uid: u32,
    },
    /// The home is open to other users.
    #[error(
        "the home {} is open to other users (mode {mode:o}); run `chmod 700 {}` and start the agent again",
        home.display(),
        home.display()
    )]
    OpenToOthers {
        /// The home.
        home: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Something else than a socket has the socket's name.
    #[error("{} exists and is not a socket; move it away and start the agent again", .0.display())]
    NotASocket(PathBuf),
    /// An agent answers on the socket already.
    #[error(
        "an agent is already running for the home {} (it answers on {}); \
         use it, or stop it first with `liaison --home {} agent stop`",
        home.display(),
        socket.display(),
        liaison_protocol::shell::quote_path(home)
    )]
    AlreadyRunning {
        /// The home.
        home: PathBuf,
        /// Its socket.
        socket: PathBuf,
    },
    /// Another agent took the socket while this one started.
    #[error("an agent is already running for the home {} (another one just started)", .0.display())]
    JustStarted(PathBuf),
    /// Something that is not an agent listens on the socket.
    #[error(
        "something listens on {} but does not answer as an agent ({error}); \
         stop it and start the agent again",
        socket.display()
    )]
    NotAnAgent {
        /// The socket.
        socket: PathBuf,
        /// What answering it did.
        error: String,
    },
    /// The socket did not get owner-only permissions.
    #[error("the socket {} did not get owner-only permissions; not serving on it", .0.display())]
    SocketPermissions(PathBuf),
    /// [`super::server::Agent::serve`] was called twice.
    #[error("the agent is already serving")]
    AlreadyServing,

    // ----- Talking to an agent
    /// The socket exists but cannot be connected to.
    #[error("cannot reach the agent at {}: {error} (is the home yours?)", socket.display())]
    Unreachable {
        /// The socket.
        socket: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The agent does not answer its hello.
    #[error(
        "the agent at {} does not answer; if it is stuck, stop it and start it again",
        .0.display()
    )]
    NoAnswer(PathBuf),
    /// The agent speaks another API version.
    #[error(
        "{0} (this liaison speaks agent API version {API_VERSION}); restart the agent with this version of liaison"
    )]
    Version(String),
    /// The agent refused the connection.
    #[error("the agent refused this connection: {0}")]
    Refused(ApiError),
    /// The agent answered a request with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The agent answered with something else than what was asked for.
    #[error("the agent answered `{answer}` to {request}{}", match socket {
        Some(s) => format!("; is {} an agent's socket?", s.display()),
        None => String::new(),
    })]
    Unexpected {
        /// The request.
        request: &'static str,
        /// The kind of the answer.
        answer: &'static str,
        /// The socket, when the answer suggests it is no agent's.
        socket: Option<PathBuf>,
    },
    /// The passphrase could not be had.
    #[error(transparent)]
    Passphrase(Box<dyn std::error::Error + Send + Sync>),
    /// The agent closed the connection without answering.
    #[error("the agent closed the connection without answering (it may have stopped)")]
    Closed,
    /// Writing to the agent failed.
    #[error("writing to the agent at {}: {error}", socket.display())]
    Write {
        /// The socket.
        socket: PathBuf,
        /// Why.
        error: FrameError,
    },
    /// Reading from the agent failed.
    #[error("reading from the agent at {}: {error}", socket.display())]
    Read {
        /// The socket.
        socket: PathBuf,
        /// Why.
        error: FrameError,
    },
    /// The agent's reply is not one this program understands.
    #[error("the agent sent a reply this liaison does not understand")]
    Reply(#[source] serde_json::Error),
}
