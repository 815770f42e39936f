//! What every request handler shares, and how the app behaves.

use std::path::PathBuf;
use std::time::Duration;

use liaison_client::agent::server::AgentHandle;

use crate::i18n::I18n;
use crate::security::Gate;

/// How the web app behaves.
#[derive(Clone, Debug)]
pub struct UiOptions {
    /// Lock every browser session after this long without a request.
    pub lock_after: Duration,
    /// The home, as the officer named it (for messages that suggest a
    /// command).
    pub home: PathBuf,
}

/// What every request handler shares.
pub(crate) struct AppState {
    pub(crate) agent: AgentHandle,
    pub(crate) port: u16,
    pub(crate) i18n: I18n,
    pub(crate) gate: Gate,
    pub(crate) options: UiOptions,
}
