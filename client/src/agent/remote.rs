//! The caller's side of the agent's socket: find a running agent, greet it,
//! unlock it, send requests and read replies or events.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use liaison_protocol::DirectoryId;
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::api::{API_VERSION, ErrorCode, Passphrase, Reply, Request, Response};
use super::error::AgentError;
use super::frame::{MAX_REPLY_FRAME, MAX_REQUEST_FRAME, read_frame, write_frame};
use super::socket_path;

type Result<T, E = AgentError> = std::result::Result<T, E>;

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
        Err(error) => Err(AgentError::Unreachable {
            socket: socket.to_owned(),
            error,
        }),
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
            .map_err(|_| AgentError::NoAnswer(c.socket.clone()))??;
        match reply.response {
            Response::Hello {
                locked, id, agent, ..
            } => {
                c.locked = locked;
                c.id = id;
                c.agent = agent;
                Ok(Some(c))
            }
            Response::Error(e) if e.code == ErrorCode::Version => {
                Err(AgentError::Version(e.message))
            }
            Response::Error(e) => Err(AgentError::Refused(e)),
            other => Err(AgentError::Unexpected {
                request: "hello",
                answer: other.kind(),
                socket: Some(c.socket.clone()),
            }),
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
    pub async fn unlock_with<E>(
        &mut self,
        passphrase: impl FnOnce() -> Result<String, E>,
    ) -> Result<()>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !self.locked {
            return Ok(());
        }
        let p = Passphrase::new(passphrase().map_err(|e| AgentError::Passphrase(e.into()))?);
        let reply = self.call(&Request::Unlock { passphrase: p }).await?;
        match reply.response {
            Response::Unlocked { id } => {
                self.id = Some(id);
            }
            Response::Error(e) if e.code == ErrorCode::AlreadyUnlocked => {}
            Response::Error(e) => return Err(e.into()),
            other => {
                return Err(AgentError::Unexpected {
                    request: "unlock",
                    answer: other.kind(),
                    socket: None,
                });
            }
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
            Ok(None) => Err(sent.err().unwrap_or(AgentError::Closed)),
            Err(e) => Err(sent.err().unwrap_or(e)),
        }
    }

    /// Send one request without waiting (see [`AgentClient::next`]).
    pub async fn send(&mut self, req: &Request) -> Result<()> {
        // The error is flattened to text on purpose: a broken pipe here is
        // the agent going away, not this program's output being closed.
        write_frame(&mut self.wr, req, MAX_REQUEST_FRAME)
            .await
            .map_err(|error| AgentError::Write {
                socket: self.socket.clone(),
                error,
            })
    }

    /// The next reply or event; `None` when the agent closed the
    /// connection.
    pub async fn next(&mut self) -> Result<Option<Reply>> {
        let Some(frame) = read_frame(&mut self.rd, MAX_REPLY_FRAME)
            .await
            .map_err(|error| AgentError::Read {
                socket: self.socket.clone(),
                error,
            })?
        else {
            return Ok(None);
        };
        let reply = serde_json::from_slice(&frame).map_err(AgentError::Reply)?;
        Ok(Some(reply))
    }
}
