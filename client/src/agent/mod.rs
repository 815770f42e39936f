//! The agent: the one process that owns a home while it runs.
//!
//! `liaison --home H agent` keeps one connection to the relay with live push
//! and reconnects with capped, jittered exponential backoff when the relay
//! restarts or the link drops; it flushes the outbox after reconnecting and
//! runs the client's periodic work (retention, receipts, log verification:
//! [`Client::sync`](crate::Client::sync)). It serves a typed local API on a
//! Unix socket in the home (`H/agent.sock`, mode 0600, peer credentials
//! checked) that the `liaison` command line uses instead of opening the home
//! while an agent runs; the focal points' web app (crate `liaison-ui`) runs
//! in the agent's process and asks it through [`server::AgentHandle`].
//!
//! - [`api`]: the versioned requests, replies and events.
//! - [`frame`]: length-prefixed JSON framing with a maximum frame size.
//! - [`views`]: what the API shows of messages, contacts, roles and so on.
//! - [`ops`]: one implementation of every home operation, used by the agent
//!   and by the command line when no agent runs.
//! - [`server`]: the agent itself (socket, relay link, timers, events).
//! - [`remote`]: the caller's side of the socket.
//! - [`error`]: why an agent could not start, or a caller not talk to it.
//!
//! Non-features: the API is local only (no TCP); it does not stream large
//! answers in pieces (one reply is at most [`frame::MAX_REPLY_FRAME`]); only
//! a plain `send` or `reply` is kept for later when the relay is
//! unreachable (the others fail and say so, as without an agent).

use std::path::{Path, PathBuf};

pub mod api;
pub mod error;
pub mod frame;
pub mod ops;
pub mod remote;
pub mod server;
pub mod views;

/// File name of the agent's socket inside the home.
pub const SOCKET_NAME: &str = "agent.sock";

/// Where the agent of `home` listens.
pub fn socket_path(home: &Path) -> PathBuf {
    home.join(SOCKET_NAME)
}
