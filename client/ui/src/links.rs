//! New login links while the app runs: `liaison --home H ui` run again
//! (after the browser lost its session cookie, or for a second browser)
//! asks the running app for a fresh one-time link on `H/ui.sock`, a Unix
//! socket of mode 0600 that serves only the user who owns the home.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::state::AppState;

/// File name of the socket inside the home.
pub const SOCKET_NAME: &str = "ui.sock";

/// Where the app of `home` hands out links.
pub fn socket_path(home: &Path) -> PathBuf {
    home.join(SOCKET_NAME)
}

/// Why the link socket could not be made or asked.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// No randomness.
    #[error("no randomness: {0}")]
    Random(getrandom::Error),
    /// The app answered something else than a link.
    #[error("the web app answered something else than a link")]
    Garbled,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> LinkError {
    move |source| LinkError::Io { what, source }
}

/// Mints new links for the running app.
#[derive(Clone)]
pub struct Minter {
    pub(crate) state: Arc<AppState>,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Minter")
    }
}

impl Minter {
    /// A new one-time login URL.
    pub fn url(&self) -> Result<String, LinkError> {
        let token = self
            .state
            .gate
            .new_launch_token()
            .map_err(LinkError::Random)?;
        Ok(format!(
            "http://127.0.0.1:{}/login?token={token}",
            self.state.port
        ))
    }
}

/// The bound link socket; removed when dropped.
#[derive(Debug)]
pub struct LinkSocket {
    listener: UnixListener,
    path: PathBuf,
    ino: u64,
    uid: u32,
}

impl Drop for LinkSocket {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl LinkSocket {
    /// Bind `HOME/ui.sock` (mode 0600, made in a private directory first).
    /// The agent's socket was bound just before by the same process, so
    /// a socket left here is a dead app's and is replaced.
    pub fn bind(home: &Path) -> Result<LinkSocket, LinkError> {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).map_err(LinkError::Random)?;
        let tmp = home.join(format!(".ui-{}", hex::encode(r)));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(io(format!("creating {}", tmp.display())))?;
        let res = Self::bind_via(home, &tmp);
        let _ = std::fs::remove_dir_all(&tmp);
        res
    }

    fn bind_via(home: &Path, tmp: &Path) -> Result<LinkSocket, LinkError> {
        let uid = std::fs::metadata(tmp)
            .map_err(io(format!("reading the owner of {}", tmp.display())))?
            .uid();
        let tmp_sock = tmp.join(SOCKET_NAME);
        let listener = UnixListener::bind(&tmp_sock)
            .map_err(io(format!("creating the socket {}", tmp_sock.display())))?;
        std::fs::set_permissions(&tmp_sock, std::fs::Permissions::from_mode(0o600))
            .map_err(io(format!("restricting {}", tmp_sock.display())))?;
        let path = socket_path(home);
        std::fs::rename(&tmp_sock, &path)
            .map_err(io(format!("moving the socket to {}", path.display())))?;
        let ino = std::fs::symlink_metadata(&path)
            .map_err(io(format!("checking {}", path.display())))?
            .ino();
        Ok(LinkSocket {
            listener,
            path,
            ino,
            uid,
        })
    }

    /// Hand a new link to every connection of this user, until dropped.
    pub async fn serve(&self, minter: Minter) {
        loop {
            let Ok((mut stream, _)) = self.listener.accept().await else {
                continue;
            };
            match stream.peer_cred() {
                Ok(c) if c.uid() == self.uid => {}
                _ => {
                    tracing::warn!("refused a request for a web app link from another user");
                    continue;
                }
            }
            let line = match minter.url() {
                Ok(url) => format!("{url}\n"),
                Err(e) => {
                    tracing::warn!("no new web app link: {e}");
                    continue;
                }
            };
            let _ = stream.write_all(line.as_bytes()).await;
        }
    }
}

/// Ask the app running for `home` for a new link: `None` if no app answers
/// there.
pub async fn request_link(home: &Path) -> Result<Option<String>, LinkError> {
    let path = socket_path(home);
    let mut stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(io(format!("connecting to {}", path.display()))(e)),
    };
    let mut buf = Vec::new();
    (&mut stream)
        .take(4096)
        .read_to_end(&mut buf)
        .await
        .map_err(io(format!("reading from {}", path.display())))?;
    let text = String::from_utf8(buf).map_err(|_| LinkError::Garbled)?;
    let url = text.trim();
    if !url.starts_with("http://127.0.0.1:") {
        return Err(LinkError::Garbled);
    }
    Ok(Some(url.to_owned()))
}
