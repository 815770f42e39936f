//! The caller's side of the agent's socket: find a running agent, greet it,
//! unlock it, send requests and read replies or events.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use liaison_protocol::DirectoryId;
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::api::{API_VERSION, ErrorCode, Passphrase, Reply, Request, Response};
use super::frame::{MAX_REPLY_FRAME, MAX_REQUEST_FRAME, read_frame, write_frame};
use super::socket_path;

/// How long a caller waits for the agent to answer its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to a running agent.
#[derive(Debug)]
pub struct AgentClient {
    socket: PathBuf,
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    locked: bool,
    id: Option<DirectoryId>,
    agent: String,
}

/// Whether an agent answers on `socket`: `Ok(None)` when there is no socket
/// or nobody listens on it (a stale socket left by an agent that was
/// killed).
pub async fn probe(socket: &Path) -> Result<Option<UnixStream>> {
    match UnixStream::connect(socket).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            Ok(None)
        }
        Err(e) => Err(anyhow!(
            "cannot reach the agent at {}: {e} (is the home yours?)",
            socket.display()
        )),
    }
}

impl AgentClient {
    /// Connect to the agent of `home` and say hello. `Ok(None)` when no
    /// agent runs for this home.
    pub async fn connect(home: &Path, client: &str) -> Result<Option<AgentClient>> {
        let socket = socket_path(home);
        let Some(stream) = probe(&socket).await? else {
            return Ok(None);
        };
        let (rd, wr) = stream.into_split();
        let mut c = AgentClient {
            socket,
            rd: BufReader::new(rd),
            wr,
            locked: true,
            id: None,
            agent: String::new(),
        };
        let hello = Request::Hello {
            version: API_VERSION,
            client: client.to_owned(),
        };
        let reply = tokio::time::timeout(HELLO_TIMEOUT, c.call(&hello))
            .await
            .map_err(|_| {
                anyhow!(
                    "the agent at {} does not answer; if it is stuck, stop it and start it again",
                    c.socket.display()
                )
            })??;
        match reply.response {
            Response::Hello {
                locked, id, agent, ..
            } => {
                c.locked = locked;
                c.id = id;
                c.agent = agent;
                Ok(Some(c))
            }
            Response::Error(e) if e.code == ErrorCode::Version => Err(anyhow!(
                "{} (this liaison speaks agent API version {API_VERSION}); restart the agent with this version of liaison",
                e.message
            )),
            Response::Error(e) => Err(anyhow!("the agent refused this connection: {e}")),
            other => bail!(
                "the agent answered `{}` to hello; is {} an agent's socket?",
                other.kind(),
                c.socket.display()
            ),
        }
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Whether the agent waits for the passphrase.
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// The focal point's id, once unlocked.
    pub fn id(&self) -> Option<&DirectoryId> {
        self.id.as_ref()
    }

    /// The agent's program and version.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Unlock the agent if it is locked, asking `passphrase` for the
    /// passphrase only then.
    pub async fn unlock_with(&mut self, passphrase: impl FnOnce() -> Result<String>) -> Result<()> {
        if !self.locked {
            return Ok(());
        }
        let p = Passphrase::new(passphrase()?);
        let reply = self.call(&Request::Unlock { passphrase: p }).await?;
        match reply.response {
            Response::Unlocked { id } => {
                self.id = Some(id);
            }
            Response::Error(e) if e.code == ErrorCode::AlreadyUnlocked => {}
            Response::Error(e) => return Err(e.into()),
            other => bail!("the agent answered `{}` to unlock", other.kind()),
        }
        self.locked = false;
        if self.id.is_none()
            && let Response::Hello { id, .. } = self
                .call(&Request::Hello {
                    version: API_VERSION,
                    client: "liaison".into(),
                })
                .await?
                .response
        {
            self.id = id;
        }
        Ok(())
    }

    /// Send one request and read its reply.
    pub async fn call(&mut self, req: &Request) -> Result<Reply> {
        let sent = self.send(req).await;
        // An agent that refused this connection has already answered why
        // and closed it: its answer says more than the failed write.
        match self.next().await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(sent.err().unwrap_or_else(|| {
                anyhow!("the agent closed the connection without answering (it may have stopped)")
            })),
            Err(e) => Err(sent.err().unwrap_or(e)),
        }
    }

    /// Send one request without waiting (see [`AgentClient::next`]).
    pub async fn send(&mut self, req: &Request) -> Result<()> {
        // The error is flattened to text on purpose: a broken pipe here is
        // the agent going away, not this program's output being closed.
        write_frame(&mut self.wr, req, MAX_REQUEST_FRAME)
            .await
            .map_err(|e| anyhow!("writing to the agent at {}: {e}", self.socket.display()))
    }

    /// The next reply or event; `None` when the agent closed the
    /// connection.
    pub async fn next(&mut self) -> Result<Option<Reply>> {
        let Some(frame) = read_frame(&mut self.rd, MAX_REPLY_FRAME)
            .await
            .map_err(|e| anyhow!("reading from the agent at {}: {e}", self.socket.display()))?
        else {
            return Ok(None);
        };
        let reply = serde_json::from_slice(&frame)
            .context("the agent sent a reply this liaison does not understand")?;
        Ok(Some(reply))
    }
}
