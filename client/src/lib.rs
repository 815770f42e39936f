//! `liaison-client`: the focal point's client library, behind the `liaison`
//! command-line tool (the package `liaison-cli`).
//!
//! It keeps keys, Olm sessions and messages in an encrypted home
//! ([`home`]), talks to the relay over pinned QUIC ([`transport`]), verifies
//! the directory against the pinned network root, encrypts every message to
//! every device of every recipient with Olm ([`olm`]) and verifies the inner
//! signature and the sender's record on receipt ([`client`]). The
//! [`agent`] keeps a home connected and serves it to the command line (and
//! later the web app) over a local socket.
//!
//! Attachments ([`attachments`]) are sealed on this device, uploaded to
//! the relay's blob store and saved by a recipient only after the handling
//! is acknowledged (`liaison send --attach`, `liaison attachment save`).
//!
//! Case conversations ([`cases`]) keep a signed membership (an owner, its
//! members, focal points or roles) and address every message in a case to
//! its members as they stand; each message is still encrypted pairwise.
//!
//! Non-features (for now): handling enforcement beyond display (see the
//! handling issue).

pub mod accountability;
pub mod agent;
pub mod attachments;
pub mod cases;
pub mod client;
pub mod contacts;
pub mod core;
pub mod devices;
pub mod directory_log;
pub mod error;
pub mod evidence;
pub mod home;
pub mod logs;
pub mod memo;
pub mod olm;
pub mod outbox;
pub mod requests;

pub use client::{Client, InitParams, Received, StoredMessage, SyncReport};
pub use error::ClientError;
