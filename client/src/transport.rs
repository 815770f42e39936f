//! QUIC transport to the relay: a pinned TLS 1.3 connection, one
//! bidirectional stream per request, length-prefixed frames.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use liaison_protocol::bundle::RELAY_SERVER_NAME;
use liaison_protocol::frames::{
    ALPN, DEFAULT_MAX_FRAME, EXPORTER_LABEL, Request, Response, WireError, decode_frame,
    encode_frame, frame_len,
};
use liaison_protocol::{PublicKey, Signature, Wire};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// Maximum response frame the client accepts.
pub const MAX_RESPONSE: usize = 16 * DEFAULT_MAX_FRAME;

/// Accepts exactly one certificate: the one whose SHA-256 (of the DER) is
/// pinned in the enrolment bundle. Handshake signatures are still verified,
/// so only the holder of that certificate's key can complete TLS.
#[derive(Debug)]
struct PinnedVerifier {
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

/// The certificate hashes a client accepts (usually one; two while the
/// relay's TLS key is being rotated).
#[derive(Clone, Debug)]
pub struct Pins(pub Vec<[u8; 32]>);

impl From<[u8; 32]> for Pins {
    fn from(p: [u8; 32]) -> Self {
        Pins(vec![p])
    }
}

impl From<Vec<[u8; 32]>> for Pins {
    fn from(p: Vec<[u8; 32]>) -> Self {
        Pins(p)
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if self.pins.contains(&got) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        // QUIC is TLS 1.3 only.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A rustls client configuration that pins `pin` and speaks ALPN `liaison/1`.
pub fn client_tls_config(pins: impl Into<Pins>) -> Result<rustls::ClientConfig> {
    let pins = pins.into().0;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 is unavailable")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedVerifier { pins, provider }))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

/// Resolve `host:port`.
pub fn resolve(addr: &str) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("resolving relay address {addr}"))?
        .next()
        .ok_or_else(|| anyhow!("relay address {addr} resolves to nothing"))
}

/// A connection to the relay.
#[derive(Debug)]
pub struct Connection {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    timeout: Duration,
}

/// Default time a request may take before it is abandoned.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure talking to the relay.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The relay refused the request with an error code.
    #[error("{0}")]
    Refused(WireError),
    /// The connection or stream failed.
    #[error("connection to the relay failed: {0}")]
    Transport(String),
    /// The relay sent something that is not a valid response.
    #[error("the relay sent an invalid response: {0}")]
    Protocol(String),
}

impl Connection {
    /// Connect to `addr`, pinning the certificate hash `pin`.
    pub async fn connect(addr: &str, pin: impl Into<Pins>) -> Result<Connection> {
        let remote = resolve(addr)?;
        let bind: SocketAddr = if remote.is_ipv6() {
            "[::]:0".parse()?
        } else {
            "0.0.0.0:0".parse()?
        };
        let mut endpoint = quinn::Endpoint::client(bind).context("opening a UDP socket")?;
        let tls = client_tls_config(pin)?;
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .context("QUIC TLS configuration")?;
        let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(Duration::from_secs(10)));
        transport.max_idle_timeout(Some(Duration::from_secs(60).try_into()?));
        cfg.transport_config(Arc::new(transport));
        endpoint.set_default_client_config(cfg);
        let connecting = endpoint
            .connect(remote, RELAY_SERVER_NAME)
            .with_context(|| format!("connecting to relay {addr}"))?;
        let conn = tokio::time::timeout(Duration::from_secs(15), connecting)
            .await
            .map_err(|_| anyhow!("timed out connecting to relay {addr}"))?
            .map_err(|e| anyhow!("cannot connect to relay {addr}: {e} (is it running, and does the bundle pin its current certificate?)"))?;
        Ok(Connection {
            endpoint,
            conn,
            timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// Send one request and read its response. A relay refusal becomes
    /// [`RelayError::Refused`].
    pub async fn request(&self, req: &Request) -> std::result::Result<Response, RelayError> {
        match tokio::time::timeout(self.timeout, self.request_inner(req)).await {
            Ok(r) => r,
            Err(_) => Err(RelayError::Transport(format!(
                "no answer from the relay within {} s",
                self.timeout.as_secs_f32()
            ))),
        }
    }

    /// Change the per-request timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    async fn request_inner(&self, req: &Request) -> std::result::Result<Response, RelayError> {
        let (mut send, mut recv) = self
            .conn
            .open_bi()
            .await
            .map_err(|e| RelayError::Transport(e.to_string()))?;
        send.write_all(&encode_frame(req))
            .await
            .map_err(|e| RelayError::Transport(e.to_string()))?;
        send.finish()
            .map_err(|e| RelayError::Transport(e.to_string()))?;
        let bytes = recv
            .read_to_end(MAX_RESPONSE + 4)
            .await
            .map_err(|e| RelayError::Transport(e.to_string()))?;
        match decode_frame::<Response>(&bytes, MAX_RESPONSE) {
            Ok(Response::Error(e)) => Err(RelayError::Refused(e)),
            Ok(r) => Ok(r),
            Err(e) => Err(RelayError::Protocol(e.to_string())),
        }
    }

    /// Authenticate as `device`, signing the relay's challenge bound to this
    /// TLS session with `sign`.
    pub async fn authenticate(
        &self,
        device: PublicKey,
        sign: impl FnOnce(&[u8]) -> Signature,
    ) -> Result<String> {
        let nonce = match self.request(&Request::Challenge).await? {
            Response::Challenge { nonce } => nonce,
            other => bail!("unexpected answer to Challenge: {other:?}"),
        };
        let mut exporter = [0u8; 32];
        self.conn
            .export_keying_material(&mut exporter, EXPORTER_LABEL, &nonce)
            .map_err(|_| anyhow!("TLS exporter unavailable"))?;
        let msg = liaison_protocol::keys::domain_message(
            liaison_protocol::frames::AUTH_DOMAIN,
            &liaison_protocol::frames::auth_message(&nonce, &exporter),
        );
        let signature = sign(&msg);
        match self
            .request(&Request::Authenticate { device, signature })
            .await
        {
            Ok(Response::Authenticated { id }) => Ok(id.to_string()),
            Ok(other) => bail!("unexpected answer to Authenticate: {other:?}"),
            Err(RelayError::Refused(e)) => Err(anyhow!(
                "the relay refused this device ({}): {} — has your authority enrolled you, and is this device still in the directory?",
                e.code.code(),
                e.message
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Authenticate with a plain Ed25519 key (a country authority or an
    /// auditor key). Returns the relay's answer (`AuthorityAuthenticated`,
    /// `AuditorAuthenticated`, or `Authenticated` for a device key).
    pub async fn authenticate_with_key(
        &self,
        key: &liaison_protocol::SecretKey,
    ) -> Result<Response> {
        let nonce = match self.request(&Request::Challenge).await? {
            Response::Challenge { nonce } => nonce,
            other => bail!("unexpected answer to Challenge: {other:?}"),
        };
        let mut exporter = [0u8; 32];
        self.conn
            .export_keying_material(&mut exporter, EXPORTER_LABEL, &nonce)
            .map_err(|_| anyhow!("TLS exporter unavailable"))?;
        let signature = key.sign(
            liaison_protocol::frames::AUTH_DOMAIN,
            &liaison_protocol::frames::auth_message(&nonce, &exporter),
        );
        match self
            .request(&Request::Authenticate {
                device: key.public_key(),
                signature,
            })
            .await
        {
            Ok(r) => Ok(r),
            Err(RelayError::Refused(e)) => Err(anyhow!(
                "the relay refused this key ({}): {}",
                e.code.code(),
                e.message
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Open a Subscribe stream; pushed frames are read with [`Subscription::next`].
    pub async fn subscribe(&self) -> Result<Subscription> {
        let (mut send, recv) = self.conn.open_bi().await?;
        send.write_all(&encode_frame(&Request::Subscribe)).await?;
        send.finish()?;
        Ok(Subscription { recv })
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
    pub async fn next(&mut self) -> std::result::Result<Option<Response>, RelayError> {
        let mut header = [0u8; 4];
        match self.recv.read_exact(&mut header).await {
            Ok(()) => {}
            Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
            Err(e) => return Err(RelayError::Transport(e.to_string())),
        }
        let len =
            frame_len(header, MAX_RESPONSE).map_err(|e| RelayError::Protocol(e.to_string()))?;
        let mut body = vec![0u8; len];
        self.recv
            .read_exact(&mut body)
            .await
            .map_err(|e| RelayError::Transport(e.to_string()))?;
        match Response::decode(&body) {
            Ok(Response::Error(e)) => Err(RelayError::Refused(e)),
            Ok(r) => Ok(Some(r)),
            Err(e) => Err(RelayError::Protocol(e.to_string())),
        }
    }
}
