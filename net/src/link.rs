//! One QUIC connection to the relay: a request per bidirectional stream,
//! length-prefixed frames, a deadline on every call.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use liaison_protocol::bundle::RELAY_SERVER_NAME;
use liaison_protocol::frames::{
    AUTH_DOMAIN, DEFAULT_MAX_FRAME, EXPORTER_LABEL, FrameError, Request, Response, WireError,
    auth_message, decode_frame, encode_frame, frame_len,
};
use liaison_protocol::{DecodeError, PublicKey, SecretKey, Signature, Wire};

use crate::tls::{Pins, client_tls_config};

/// Maximum response frame the client accepts.
pub const MAX_RESPONSE: usize = 16 * DEFAULT_MAX_FRAME;

/// Default time a request may take before it is abandoned.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the QUIC handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A failure talking to the relay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The relay address did not resolve.
    #[error("cannot resolve the relay address {addr}: {error}")]
    Resolve {
        /// The address as configured.
        addr: String,
        /// Why.
        error: std::io::Error,
    },
    /// The relay address resolved to no address at all.
    #[error("the relay address {addr} resolves to nothing")]
    NoAddress {
        /// The address as configured.
        addr: String,
    },
    /// No local UDP socket could be opened.
    #[error("cannot open a UDP socket: {0}")]
    Socket(std::io::Error),
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(rustls::Error),
    /// The QUIC configuration could not be built.
    #[error("QUIC configuration: {0}")]
    Quic(String),
    /// The handshake could not start or did not complete.
    #[error(
        "cannot connect to the relay at {addr}: {reason} (is it running, and does the bundle pin its current certificate?)"
    )]
    Connect {
        /// The address.
        addr: String,
        /// What QUIC reported.
        reason: String,
    },
    /// The handshake did not complete in time.
    #[error("timed out connecting to the relay at {addr} (is it running and reachable?)")]
    ConnectTimeout {
        /// The address.
        addr: String,
    },
    /// The connection was lost or closed.
    #[error("connection to the relay failed: {0}")]
    Connection(quinn::ConnectionError),
    /// A request could not be written.
    #[error("connection to the relay failed while sending: {0}")]
    Write(quinn::WriteError),
    /// The request stream was already closed.
    #[error("connection to the relay failed: {0}")]
    ClosedStream(quinn::ClosedStream),
    /// A response could not be read.
    #[error("connection to the relay failed while reading: {0}")]
    Read(quinn::ReadToEndError),
    /// A pushed frame could not be read.
    #[error("connection to the relay failed while reading: {0}")]
    ReadPush(quinn::ReadExactError),
    /// The relay did not answer in time.
    #[error("no answer from the relay within {} s", .0.as_secs_f32())]
    Timeout(Duration),
    /// The relay refused the request with an error code.
    #[error("{0}")]
    Refused(WireError),
    /// The relay sent bytes that are not a valid response frame.
    #[error("the relay sent an invalid response: {0}")]
    Malformed(FrameError),
    /// The relay answered with a response of the wrong kind.
    #[error("the relay answered {response} to {request}")]
    Unexpected {
        /// The request's kind.
        request: &'static str,
        /// The response's kind.
        response: &'static str,
    },
    /// The TLS exporter needed for authentication is unavailable.
    #[error("the TLS session cannot export keying material for authentication")]
    Exporter,
}

// The cause is part of each message, so it is not also exposed as the
// error's source (a report would print it twice).
macro_rules! from_cause {
    ($($variant:ident($cause:ty)),* $(,)?) => {$(
        impl From<$cause> for LinkError {
            fn from(e: $cause) -> Self {
                LinkError::$variant(e)
            }
        }
    )*};
}
from_cause!(
    Tls(rustls::Error),
    Connection(quinn::ConnectionError),
    Write(quinn::WriteError),
    ClosedStream(quinn::ClosedStream),
    Read(quinn::ReadToEndError),
    ReadPush(quinn::ReadExactError),
    Malformed(FrameError),
);

impl LinkError {
    /// The relay's refusal, if this is one.
    pub fn refusal(&self) -> Option<&WireError> {
        match self {
            LinkError::Refused(w) => Some(w),
            _ => None,
        }
    }

    /// Whether the failure is the link's (lost connection, timeout) rather
    /// than an answer from the relay: such a call may be retried later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LinkError::Connect { .. }
                | LinkError::ConnectTimeout { .. }
                | LinkError::Connection(_)
                | LinkError::Write(_)
                | LinkError::ClosedStream(_)
                | LinkError::Read(_)
                | LinkError::ReadPush(_)
                | LinkError::Timeout(_)
        )
    }

    /// The error for a response of the wrong kind.
    pub fn unexpected(request: &Request, response: &Response) -> LinkError {
        LinkError::Unexpected {
            request: request.name(),
            response: response.name(),
        }
    }
}

/// Resolve `host:port`.
pub fn resolve(addr: &str) -> Result<SocketAddr, LinkError> {
    addr.to_socket_addrs()
        .map_err(|error| LinkError::Resolve {
            addr: addr.to_owned(),
            error,
        })?
        .next()
        .ok_or_else(|| LinkError::NoAddress {
            addr: addr.to_owned(),
        })
}

/// A connection to the relay. A clone is another handle on the same
/// connection (requests from several tasks at once, each on its own
/// stream).
#[derive(Clone, Debug)]
pub struct Link {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    timeout: Duration,
}

impl Link {
    /// Connect to `addr`, pinning the certificate hashes `pins`.
    pub async fn connect(addr: &str, pins: impl Into<Pins>) -> Result<Link, LinkError> {
        let remote = resolve(addr)?;
        let bind = if remote.is_ipv6() {
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
        };
        let mut endpoint = quinn::Endpoint::client(bind).map_err(LinkError::Socket)?;
        let tls = client_tls_config(pins)?;
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| LinkError::Quic(e.to_string()))?;
        let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(Duration::from_secs(10)));
        let idle = quinn::IdleTimeout::try_from(Duration::from_secs(60))
            .map_err(|e| LinkError::Quic(e.to_string()))?;
        transport.max_idle_timeout(Some(idle));
        cfg.transport_config(Arc::new(transport));
        endpoint.set_default_client_config(cfg);
        let connecting =
            endpoint
                .connect(remote, RELAY_SERVER_NAME)
                .map_err(|e| LinkError::Connect {
                    addr: addr.to_owned(),
                    reason: e.to_string(),
                })?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| LinkError::ConnectTimeout {
                addr: addr.to_owned(),
            })?
            .map_err(|e| LinkError::Connect {
                addr: addr.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Link {
            endpoint,
            conn,
            timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// Send one request and read its response. A relay refusal becomes
    /// [`LinkError::Refused`]; any other response is returned as is.
    pub async fn call(&self, req: &Request) -> Result<Response, LinkError> {
        match tokio::time::timeout(self.timeout, self.call_inner(req)).await {
            Ok(r) => r,
            Err(_) => Err(LinkError::Timeout(self.timeout)),
        }
    }

    /// Send one request and map the response with `pick`, which returns the
    /// response's name when it is not the kind the request asks for.
    pub async fn call_expect<T>(
        &self,
        req: &Request,
        pick: impl FnOnce(Response) -> Result<T, &'static str>,
    ) -> Result<T, LinkError> {
        let response = self.call(req).await?;
        pick(response).map_err(|response| LinkError::Unexpected {
            request: req.name(),
            response,
        })
    }

    /// Change the per-request timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    async fn call_inner(&self, req: &Request) -> Result<Response, LinkError> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        send.write_all(&encode_frame(req)).await?;
        send.finish()?;
        let bytes = recv.read_to_end(MAX_RESPONSE + 4).await?;
        match decode_frame::<Response>(&bytes, MAX_RESPONSE)? {
            Response::Error(e) => Err(LinkError::Refused(e)),
            r => Ok(r),
        }
    }

    /// The message to sign for authentication: the relay's nonce bound to
    /// this TLS session through the keying-material exporter.
    async fn challenge(&self) -> Result<Vec<u8>, LinkError> {
        let req = Request::Challenge;
        let nonce = self
            .call_expect(&req, |r| match r {
                Response::Challenge { nonce } => Ok(nonce),
                other => Err(other.name()),
            })
            .await?;
        let mut exporter = [0u8; 32];
        self.conn
            .export_keying_material(&mut exporter, EXPORTER_LABEL, &nonce)
            .map_err(|_| LinkError::Exporter)?;
        Ok(auth_message(&nonce, &exporter))
    }

    /// Authenticate as `device`, signing the relay's challenge with `sign`
    /// (which receives the domain-separated message). Returns the
    /// directory id the relay admitted the device as.
    pub async fn authenticate(
        &self,
        device: PublicKey,
        sign: impl FnOnce(&[u8]) -> Signature,
    ) -> Result<String, LinkError> {
        let msg = liaison_protocol::keys::domain_message(AUTH_DOMAIN, &self.challenge().await?);
        let signature = sign(&msg);
        let req = Request::Authenticate { device, signature };
        self.call_expect(&req, |r| match r {
            Response::Authenticated { id } => Ok(id.to_string()),
            other => Err(other.name()),
        })
        .await
    }

    /// Authenticate with a plain Ed25519 key (a country authority or an
    /// auditor key). Returns the relay's answer (`AuthorityAuthenticated`,
    /// `AuditorAuthenticated`, or `Authenticated` for a device key).
    pub async fn authenticate_with_key(&self, key: &SecretKey) -> Result<Response, LinkError> {
        let signature = key.sign(AUTH_DOMAIN, &self.challenge().await?);
        self.call(&Request::Authenticate {
            device: key.public_key(),
            signature,
        })
        .await
    }

    /// Open a Subscribe stream; pushed frames are read with
    /// [`Subscription::next`].
    pub async fn subscribe(&self) -> Result<Subscription, LinkError> {
        let (mut send, recv) = self.conn.open_bi().await?;
        send.write_all(&encode_frame(&Request::Subscribe)).await?;
        send.finish()?;
        Ok(Subscription { recv })
    }

    /// Resolves when the connection is closed, by either side or by loss.
    pub async fn closed(&self) -> quinn::ConnectionError {
        self.conn.closed().await
    }

    /// Close politely.
    pub async fn close(self) {
        self.conn.close(0u32.into(), b"bye");
        self.endpoint.wait_idle().await;
    }
}

/// A stream of pushed envelopes.
#[derive(Debug)]
pub struct Subscription {
    recv: quinn::RecvStream,
}

impl Subscription {
    /// The next pushed frame, or `None` when the relay ends the stream.
    pub async fn next(&mut self) -> Result<Option<Response>, LinkError> {
        let mut header = [0u8; 4];
        match self.recv.read_exact(&mut header).await {
            Ok(()) => {}
            Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let len = frame_len(header, MAX_RESPONSE)?;
        let mut body = vec![0u8; len];
        self.recv.read_exact(&mut body).await?;
        match Response::decode(&body).map_err(|e: DecodeError| FrameError::Decode(e))? {
            Response::Error(e) => Err(LinkError::Refused(e)),
            r => Ok(Some(r)),
        }
    }
}
