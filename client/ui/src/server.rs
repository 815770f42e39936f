//! The web server: bound on 127.0.0.1, serving the pages.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use liaison_client::agent::server::AgentHandle;
use tokio::net::TcpListener;

use crate::state::{AppState, UiOptions};
use crate::{
    cases, conversation, directory, evidence, files, forward, i18n, pages, requests, security,
    settings,
};

/// Why the web app could not start.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// Only 127.0.0.1 is served.
    #[error(
        "the web app listens on 127.0.0.1 only, not on {0}: give --listen 127.0.0.1:PORT (or 127.0.0.1:0 for any free port)"
    )]
    NotLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("listening on {addr} failed: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the web server stopped: {0}")]
    Serve(std::io::Error),
    /// The translations do not load.
    #[error(transparent)]
    I18n(#[from] i18n::I18nError),
    /// No randomness for the launch token.
    #[error("no randomness for the launch token: {0}")]
    Random(getrandom::Error),
}

/// A bound, not yet serving web app.
pub struct WebApp {
    listener: TcpListener,
    state: Arc<AppState>,
    url: String,
}

impl std::fmt::Debug for WebApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebApp")
            .field("port", &self.state.port)
            .finish_non_exhaustive()
    }
}

impl WebApp {
    /// Listen on `addr` (127.0.0.1 only) for the agent behind `agent`.
    pub async fn bind(
        addr: SocketAddr,
        agent: AgentHandle,
        options: UiOptions,
    ) -> Result<WebApp, UiError> {
        if addr.ip() != IpAddr::V4(Ipv4Addr::LOCALHOST) {
            return Err(UiError::NotLoopback(addr));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| UiError::Bind { addr, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| UiError::Bind { addr, source })?
            .port();
        let gate = security::Gate::new().map_err(UiError::Random)?;
        let url = format!(
            "http://127.0.0.1:{port}/login?token={}",
            gate.launch_token()
        );
        let state = Arc::new(AppState {
            agent,
            port,
            i18n: i18n::I18n::load()?,
            gate,
            options,
        });
        Ok(WebApp {
            listener,
            state,
            url,
        })
    }

    /// What mints new login links while the app runs.
    pub fn minter(&self) -> crate::links::Minter {
        crate::links::Minter {
            state: self.state.clone(),
        }
    }

    /// The URL to open, with its one-time token.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serve until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), UiError> {
        let app = pages::router(
            self.state,
            forward::routes()
                .merge(directory::routes())
                .merge(evidence::routes())
                .merge(settings::routes())
                .merge(requests::routes())
                .merge(cases::routes())
                .merge(conversation::routes())
                .merge(files::routes()),
        );
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(UiError::Serve)
    }
}
