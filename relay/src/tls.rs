//! The relay's TLS identity: a self-signed certificate that clients pin by
//! the SHA-256 of its DER encoding (the `relay_cert_sha256` of the bundle).
//!
//! The certificate names [`RELAY_SERVER_NAME`] only so TLS has a name to
//! check; trust comes from the pin, not from any CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use liaison_protocol::bundle::RELAY_SERVER_NAME;
use liaison_protocol::frames::ALPN;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// Why the relay's TLS identity or its QUIC server configuration could not
/// be set up. These are the operator's files or settings, never a peer's
/// doing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate exists without its key.
    #[error(
        "TLS certificate {} exists but its key {} does not; restore the key or remove the \
         certificate to generate a new pair (clients must then be given the new pin)",
        cert.display(),
        key.display()
    )]
    KeyMissing {
        /// The certificate file.
        cert: PathBuf,
        /// The missing key file.
        key: PathBuf,
    },
    /// The key exists without its certificate.
    #[error(
        "TLS key {} exists but its certificate {} does not; restore the certificate or \
         remove the key to generate a new pair (clients must then be given the new pin)",
        key.display(),
        cert.display()
    )]
    CertificateMissing {
        /// The missing certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// A PEM file could not be read, or holds no certificate or key.
    #[error("reading TLS {what} {}", path.display())]
    Read {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: rustls::pki_types::pem::Error,
    },
    /// Generating a new key or self-signed certificate failed.
    #[error("{what}")]
    Generate {
        /// The step, such as `generating the TLS key`.
        what: &'static str,
        /// The cause.
        source: rcgen::Error,
    },
    /// The freshly generated key could not be encoded.
    #[error("encoding the TLS key: {0}")]
    EncodeKey(&'static str),
    /// Writing a new certificate or key (or creating its directory) failed.
    #[error("{what} {}", path.display())]
    Write {
        /// The step, such as `writing TLS key`.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate and key do not match, or use an unsupported algorithm.
    #[error("TLS certificate and key do not match or are unsupported")]
    Unusable(#[source] rustls::Error),
    /// The *ring* provider offers no TLS 1.3 (cannot happen with a sound
    /// build of rustls).
    #[error("TLS 1.3 unavailable in the ring provider")]
    NoTls13(#[source] rustls::Error),
    /// No cipher suite fit for QUIC (cannot happen with the *ring* provider).
    #[error("no QUIC-capable cipher suite")]
    NoQuicSuite(#[source] quinn::crypto::rustls::NoInitialCipherSuite),
    /// `limits.idle_timeout_secs` does not fit a QUIC idle timeout.
    #[error("limits.idle_timeout_secs out of range")]
    IdleTimeout(#[source] quinn::VarIntBoundsExceeded),
}

/// A certificate and its private key.
pub struct TlsIdentity {
    /// The certificate (DER).
    pub cert: CertificateDer<'static>,
    /// Its private key.
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_sha256", &hex::encode(self.cert_sha256()))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl TlsIdentity {
    /// SHA-256 of the certificate DER: what clients pin.
    pub fn cert_sha256(&self) -> [u8; 32] {
        cert_der_sha256(&self.cert)
    }
}

/// SHA-256 of a certificate's DER encoding.
pub fn cert_der_sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// Load the certificate and key, generating both on first use. Refuses to
/// generate when only one of the two files exists (an operator mistake that
/// must not silently replace a pinned certificate).
pub fn load_or_generate(cert_path: &Path, key_path: &Path) -> Result<TlsIdentity, TlsError> {
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => load(cert_path, key_path),
        (false, false) => generate(cert_path, key_path),
        (true, false) => Err(TlsError::KeyMissing {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
        }),
        (false, true) => Err(TlsError::CertificateMissing {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
        }),
    }
}

/// Load an existing certificate (first PEM certificate of the file) and key.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<TlsIdentity, TlsError> {
    let cert = CertificateDer::from_pem_file(cert_path).map_err(|source| TlsError::Read {
        what: "certificate",
        path: cert_path.to_owned(),
        source,
    })?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|source| TlsError::Read {
        what: "key",
        path: key_path.to_owned(),
        source,
    })?;
    Ok(TlsIdentity { cert, key })
}

fn generate(cert_path: &Path, key_path: &Path) -> Result<TlsIdentity, TlsError> {
    let step = |what| move |source| TlsError::Generate { what, source };
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(step("generating the TLS key"))?;
    let mut params = rcgen::CertificateParams::new(vec![RELAY_SERVER_NAME.to_owned()])
        .map_err(step("TLS certificate parameters"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, RELAY_SERVER_NAME);
    let cert = params
        .self_signed(&key_pair)
        .map_err(step("self-signing the TLS certificate"))?;
    let write = |what, path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Write { what, path, source }
    };
    for p in [cert_path, key_path] {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write("creating directory", dir))?;
        }
    }
    crate::datadir::write_new_file(key_path, key_pair.serialize_pem().as_bytes(), true)
        .map_err(write("writing TLS key", key_path))?;
    crate::datadir::write_new_file(cert_path, cert.pem().as_bytes(), false)
        .map_err(write("writing TLS certificate", cert_path))?;
    tracing::info!(
        cert = %cert_path.display(),
        sha256 = %hex::encode(cert_der_sha256(cert.der())),
        "generated a new TLS certificate"
    );
    let key = PrivateKeyDer::try_from(key_pair.serialize_der()).map_err(TlsError::EncodeKey)?;
    Ok(TlsIdentity {
        cert: cert.der().clone(),
        key,
    })
}

/// The QUIC server configuration: TLS 1.3 only, the *ring* provider (never
/// the process default), ALPN `liaison/1`, no 0-RTT (requests must not be
/// replayable), and transport limits derived from the relay limits.
pub fn server_config(
    identity: &TlsIdentity,
    limits: &crate::limits::Limits,
) -> Result<quinn::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::NoTls13)?
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())
        .map_err(TlsError::Unusable)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let quic =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(TlsError::NoQuicSuite)?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));

    let mut transport = quinn::TransportConfig::default();
    let idle =
        quinn::IdleTimeout::try_from(std::time::Duration::from_secs(limits.idle_timeout_secs))
            .map_err(TlsError::IdleTimeout)?;
    transport.max_idle_timeout(Some(idle));
    transport.max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_STREAMS_PER_CONNECTION));
    transport.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    // A stream never needs more than one frame in flight; the connection
    // window bounds what one peer can make us buffer.
    let frame = u64::try_from(limits.max_frame.saturating_add(4)).unwrap_or(u64::MAX);
    transport.stream_receive_window(quinn::VarInt::from_u64(frame).unwrap_or(quinn::VarInt::MAX));
    transport.receive_window(
        quinn::VarInt::from_u64(frame.saturating_mul(2)).unwrap_or(quinn::VarInt::MAX),
    );
    transport.datagram_receive_buffer_size(None);
    server.transport_config(Arc::new(transport));
    Ok(server)
}

/// Concurrent request streams one connection may hold open.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 64;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generate_then_load_gives_the_same_pin() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("d/tls.crt");
        let k = dir.path().join("d/tls.key");
        let first = load_or_generate(&c, &k).unwrap();
        let again = load_or_generate(&c, &k).unwrap();
        assert_eq!(first.cert_sha256(), again.cert_sha256());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&k).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        server_config(&again, &crate::limits::Limits::default()).unwrap();
        std::fs::remove_file(&k).unwrap();
        assert!(load_or_generate(&c, &k).is_err());
    }
}
