//! `liaison-relay`: the Liaison QUIC relay.
//!
//! It authenticates devices by a challenge bound to the TLS session, keeps
//! the directory (authority certificates and focal point records, each
//! verified against the pinned network root before it is stored), stores Olm
//! prekeys and hands out each one-time key once, and queues envelopes per
//! recipient device durably: a Send is acknowledged only after its group
//! commit reached the disk, is deduplicated by message id, delivered live to
//! subscribers and deleted only when the recipient acknowledges it.
//!
//! Non-features: the relay never sees plaintext, cannot forge or alter a
//! message (payloads are signed inside the ciphertext) and cannot substitute
//! a key (records are signed by country authorities). It does see metadata:
//! which device sends to which, when, and how many bytes.
//!
//! For the operator: rate limits per focal point and per address, and
//! connection limits ([`ratelimit`]); a Prometheus and health endpoint
//! ([`metrics`]); online backup and restore over a local control socket
//! ([`backup`]); systemd readiness ([`notify`]); structured logs
//! ([`logging`]). See `deploy/OPERATIONS.md`.
//!
//! Library shape (as mini-redis): [`run`] takes the configuration and a
//! shutdown future; [`Relay::bind`] lets tests bind `127.0.0.1:0` first and
//! read [`Relay::local_addr`] and [`Relay::cert_sha256`]. Errors are typed
//! per boundary ([`RelayError`], [`ConfigError`], [`tls::TlsError`],
//! [`dev::DevError`], [`backup::BackupError`], [`store::StoreError`]); a
//! peer's misbehaviour is never one of them but a
//! [`WireError`](liaison_protocol::frames::WireError) sent back to it. The
//! `liaison-relay` binary is a package of its own (`relay/cli`,
//! `liaison-relay-cli`): the command line, `anyhow` reports and the client
//! side of backups and restores; this library depends on neither `anyhow`
//! nor `clap`.
//!
//! The relay reads the wall clock only through `liaison-clock` (at the
//! edges: a request, a group commit, a directory rebuild); the store and the
//! logic below take the time as an argument.
//!
//! # Module layering
//!
//! Each module uses only modules below it (no import loops;
//! `scripts/check-module-cycles` checks):
//!
//! ```text
//! lib          run, cert_sha256, re-exports
//! server       QUIC front end: connections, streams, frames, shutdown
//! ops          operator services around serving: admission, /metrics,
//!              the control socket, readiness
//! dev          throwaway development network
//! error        RelayError (what bind and serve report)
//! config       RelayConfig: the TOML file, parsed into the sections below
//! service      request handling (auth, directory, prekeys, queues, logs,
//!              attachment blobs)
//! backup       online snapshots, store checks, the control socket
//! commit       group commit
//! uploads      attachment chunks in flight: waiting for the chunks
//!              before them, one commit for those that wait together
//! checkpoints  log keys, checkpoint signing, cosignatures; [logs]
//! ratelimit    token buckets and connection limits
//! tls          the TLS identity and QUIC server configuration
//! logging      [logging] and the subscriber
//! store        the Store trait and redb (store::logs, store::format,
//!              store::error, store::blobs: sealed attachment chunks)
//! limits       [limits]
//! metrics      counters, the exposition, the HTTP endpoint; [metrics]
//! notify       systemd readiness
//! datadir      the data directory's files
//! setting      InvalidSetting: a key and why its value is refused
//! test_hooks   (feature `test-hooks` only) misbehaviour for tests
//! test_env     refusing test-hook variables in a build without the hooks
//! ```
//!
//! Test hooks: built with the cargo feature `test-hooks` (never by a
//! release build; `.ci/run` checks), the relay can be told through the
//! environment to misbehave ([`test_hooks`]) and its clock can be shifted
//! (`LIAISON_TEST_CLOCK_OFFSET_MS`, see `liaison-clock`). [`TEST_HOOKS`]
//! says whether this build has them.

use std::future::Future;

pub mod backup;
pub mod checkpoints;
pub mod commit;
pub mod config;
pub mod datadir;
pub mod dev;
mod error;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod notify;
mod ops;
pub mod ratelimit;
mod server;
mod service;
pub mod setting;
pub mod store;
mod test_env;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
pub mod tls;
pub mod uploads;

#[cfg(test)]
mod test_support;

pub use config::{ConfigError, RelayConfig};
pub use error::RelayError;
pub use limits::Limits;
pub use server::{Relay, RelayHandle};
pub use test_env::{check_test_environment, refused_test_variables};

/// Whether this build has the test hooks (the cargo feature `test-hooks`,
/// which also shifts the relay's clock by `LIAISON_TEST_CLOCK_OFFSET_MS`).
/// Release builds never do.
pub const TEST_HOOKS: bool = cfg!(feature = "test-hooks");

/// Bind with `config` and serve until `shutdown` resolves (see
/// [`Relay::serve`] for what a graceful shutdown does).
pub async fn run(
    config: RelayConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RelayError> {
    let relay = Relay::bind(config)?;
    relay.serve(shutdown).await
}

/// SHA-256 of the relay's TLS certificate (DER), as clients pin it in the
/// bundle. Reads the certificate named by `config`; generates the
/// certificate and key first if neither exists yet.
pub fn cert_sha256(config: &RelayConfig) -> Result<[u8; 32], tls::TlsError> {
    Ok(tls::load_or_generate(&config.tls_cert, &config.tls_key)?.cert_sha256())
}
