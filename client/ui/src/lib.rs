//! The focal points' web app, served by the agent on 127.0.0.1.
//!
//! `liaison --home H ui` starts an agent and this server in the same
//! process, on the agent's tokio runtime. Every page asks the agent through
//! its [`AgentHandle`], with the same requests as the command line, so the
//! rules (the handling gate, the send, the outbox) live once, in
//! `liaison_client::agent::ops`; this crate only renders and guards.
//!
//! - [`security`]: the launch token, sessions and their cookie, the Host,
//!   Origin and CSRF checks and the headers of every response.
//! - [`i18n`]: every string, from Project Fluent files.
//! - [`pages`]: the pages (askama templates) and what they ask the agent.
//! - [`time`]: times in the officer's time zone.
//! - [`state`]: what the handlers share; [`server`]: binding and serving;
//!   [`links`]: new login links for `liaison ui` run again.
//!
//! - [`forward`]: forwarding with the live scope check, asking the
//!   originator for consent, and the consent inbox.
//!
//! - [`directory`]: the directory, a contact's card and the in-person
//!   verification (safety number typed, or its QR code scanned).
//! - [`evidence`]: a received message's evidence bundle, downloaded.
//! - [`settings`]: the time zone, this identity's devices (approving a
//!   new one) and the roles held (handing one over).
//! - [`requests`]: structured requests (the list, one request, a new one,
//!   and the steps an officer takes).
//! - [`conversation`]: a conversation's page and what it sends.
//! - [`cases`]: cases (the list, opening one, adding and removing members
//!   from its conversation page).
//! - [`files`]: files attached to a message (uploaded with the form) and
//!   the files a message carries (saved, or a photo shown in the page).
//!
//! Non-features so far: removing a device (the authority does it).

pub mod cases;
pub mod conversation;
pub mod directory;
pub mod evidence;
pub mod files;
pub mod forward;
pub mod i18n;
pub mod links;
pub mod pages;
pub mod requests;
pub mod security;
pub mod server;
pub mod settings;
pub mod state;
pub mod time;

pub use server::{UiError, WebApp};
pub use state::UiOptions;
