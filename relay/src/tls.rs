//! The relay's TLS identity: a self-signed certificate that clients pin by
//! the SHA-256 of its DER encoding (the `relay_cert_sha256` of the bundle).
//!
//! The certificate names [`RELAY_SERVER_NAME`] only so TLS has a name to
//! check; trust comes from the pin, not from any CA.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use liaison_protocol::bundle::RELAY_SERVER_NAME;
use liaison_protocol::frames::ALPN;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

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
pub fn load_or_generate(cert_path: &Path, key_path: &Path) -> Result<TlsIdentity> {
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => load(cert_path, key_path),
        (false, false) => generate(cert_path, key_path),
        (true, false) => bail!(
            "TLS certificate {} exists but its key {} does not; restore the key or remove the \
             certificate to generate a new pair (clients must then be given the new pin)",
            cert_path.display(),
            key_path.display()
        ),
        (false, true) => bail!(
            "TLS key {} exists but its certificate {} does not; restore the certificate or \
             remove the key to generate a new pair (clients must then be given the new pin)",
            key_path.display(),
            cert_path.display()
        ),
    }
}

/// Load an existing certificate (first PEM certificate of the file) and key.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<TlsIdentity> {
    let cert = CertificateDer::from_pem_file(cert_path)
        .with_context(|| format!("reading TLS certificate {}", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .with_context(|| format!("reading TLS key {}", key_path.display()))?;
    Ok(TlsIdentity { cert, key })
}

fn generate(cert_path: &Path, key_path: &Path) -> Result<TlsIdentity> {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating the TLS key")?;
    let mut params = rcgen::CertificateParams::new(vec![RELAY_SERVER_NAME.to_owned()])
        .context("TLS certificate parameters")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, RELAY_SERVER_NAME);
    let cert = params
        .self_signed(&key_pair)
        .context("self-signing the TLS certificate")?;
    for p in [cert_path, key_path] {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
    }
    crate::datadir::write_new_file(key_path, key_pair.serialize_pem().as_bytes(), true)
        .with_context(|| format!("writing TLS key {}", key_path.display()))?;
    crate::datadir::write_new_file(cert_path, cert.pem().as_bytes(), false)
        .with_context(|| format!("writing TLS certificate {}", cert_path.display()))?;
    tracing::info!(
        cert = %cert_path.display(),
        sha256 = %hex::encode(cert_der_sha256(cert.der())),
        "generated a new TLS certificate"
    );
    let key = PrivateKeyDer::try_from(key_pair.serialize_der())
        .map_err(|e| anyhow::anyhow!("encoding the TLS key: {e}"))?;
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
) -> Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 unavailable in the ring provider")?
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())
        .context("TLS certificate and key do not match or are unsupported")?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .context("no QUIC-capable cipher suite")?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));

    let mut transport = quinn::TransportConfig::default();
    let idle =
        quinn::IdleTimeout::try_from(std::time::Duration::from_secs(limits.idle_timeout_secs))
            .context("limits.idle_timeout_secs out of range")?;
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
