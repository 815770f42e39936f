//! Why a relay could not start, or stopped: the error of [`crate::run`],
//! [`crate::Relay::bind`] and [`crate::Relay::serve`].
//!
//! A peer's misbehaviour is never one of these: it is refused on the wire
//! with a [`liaison_protocol::frames::WireError`] (a code and a message),
//! counted in the metrics, and the relay goes on serving. These errors are
//! the operator's configuration and host (files, addresses, the disk), or
//! the API used wrongly ([`RelayError::NoRuntime`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::backup::BackupError;
use crate::checkpoints::LogKeyError;
use crate::config::ConfigError;
use crate::store::StoreError;
use crate::tls::TlsError;

/// Why the relay could not start, or why it stopped serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// [`crate::Relay::bind`] was called outside a Tokio runtime (API
    /// misuse: call it from within the runtime that will serve).
    #[error("the relay must be bound inside a Tokio runtime")]
    NoRuntime,
    /// The environment asks for test behaviour that this build does not
    /// have (it was built without the `test-hooks` feature).
    #[error(
        "{} set, but this relay has no test hooks: a production relay never misbehaves or shifts its clock on request. Unset {} and start the relay again",
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" }
    )]
    TestVariables {
        /// The variables that asked for it.
        names: Vec<String>,
    },
    /// The configuration, or a file it names, is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory could not be created.
    #[error("creating data directory {}", path.display())]
    DataDir {
        /// The data directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS certificate and key could not be loaded or generated.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The log signing keys could not be loaded or generated.
    #[error(transparent)]
    LogKeys(#[from] LogKeyError),
    /// The store could not be opened.
    #[error("opening the store {}", path.display())]
    OpenStore {
        /// The store file.
        path: PathBuf,
        /// The cause.
        source: StoreError,
    },
    /// The store's logs no longer give the roots the relay signed.
    #[error(
        "the store {} does not match what this relay signed: {mismatch}. Do not serve it. Keep a record of what is wrong: `liaison-relay check-store --store {}`. Then restore the newest backup that passes that check (the backup file in place of the dots): `liaison-relay restore --from ... --data-dir {} --force` (the damaged store is kept beside it)",
        path.display(),
        liaison_protocol::shell::quote_path(path),
        liaison_protocol::shell::quote_path(path.parent().unwrap_or(std::path::Path::new(".")))
    )]
    StoreMismatch {
        /// The store file.
        path: PathBuf,
        /// What no longer matches.
        mismatch: crate::store::check::Mismatch,
    },
    /// The checkpoints of the logs could not be signed at start.
    #[error("signing the initial checkpoint")]
    InitialCheckpoint(#[source] StoreError),
    /// The directory could not be loaded from the store.
    #[error("loading the directory from the store")]
    LoadDirectory(#[source] StoreError),
    /// The UDP socket for QUIC could not be bound (address in use, or not
    /// an address of this host).
    #[error("binding UDP {addr}")]
    BindUdp {
        /// The `listen` address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// QUIC could not start on the bound socket.
    #[error("starting QUIC on {addr}")]
    Quic {
        /// The `listen` address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The metrics and health listener could not be bound.
    #[error("binding the metrics listener TCP {addr}")]
    MetricsListener {
        /// The `[metrics] listen` address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The control socket for online backups could not be bound.
    #[error(transparent)]
    ControlSocket(BackupError),
    /// A socket's bound address could not be read back.
    #[error("reading the bound address")]
    LocalAddr(#[source] std::io::Error),
    /// The group-commit thread could not be started.
    #[error("starting the commit thread")]
    CommitThread(#[source] std::io::Error),
    /// The store failed while serving in a way that needs reopening it (an
    /// I/O error such as a full disk); the relay stopped gracefully so that
    /// its supervisor restarts it.
    #[error(
        "the store failed ({0}); the relay stopped so that it can be restarted \
         (check free disk space and the data directory)"
    )]
    StoreFailed(StoreError),
}
