//! The network root's offline ceremony: certifying, renewing and revoking
//! country authority keys, installing a certificate in an authority's key
//! file, and writing the bundle. Nothing here touches the network.

use liaison_protocol::armor::{ArmorKind, armor_wire, dearmor, dearmor_as};
use liaison_protocol::bundle::{
    AuthorityKeyFile, AuthorityRequest, Bundle, PendingAuthorityKey, check_authority_name,
};
use liaison_protocol::directory::{AuthorityCertificate, verify_authority};
use liaison_protocol::frames::LogId;
use liaison_protocol::{CountryCode, PublicKey, SecretKey, Signed, Timestamp, Wire};

use crate::error::AdminError;
use crate::validity::{CERTIFICATE_SKEW_MS, validity_end};

/// A certificate or revocation and what it says.
pub type CertificateFile = (Signed<AuthorityCertificate>, AuthorityCertificate);

/// A new, uncertified authority key for `country`.
pub fn keygen(
    country: CountryCode,
    name: &str,
    key: SecretKey,
) -> Result<PendingAuthorityKey, AdminError> {
    check_authority_name(name).map_err(AdminError::AuthorityName)?;
    Ok(PendingAuthorityKey {
        key,
        country,
        name: name.to_owned(),
    })
}

/// Read an authority request file and verify its self-signature.
pub fn parse_authority_request(
    text: &str,
) -> Result<(Signed<AuthorityRequest>, AuthorityRequest), AdminError> {
    let bytes = dearmor_as(ArmorKind::AuthorityRequest, text)?;
    let signed =
        Signed::<AuthorityRequest>::decode(&bytes).map_err(|error| AdminError::Malformed {
            what: "authority request",
            error,
        })?;
    let req = AuthorityRequest::verify(&signed).map_err(AdminError::RequestSignature)?;
    Ok((signed, req))
}

/// Read a certificate or revocation file (the signature is not checked
/// here; see [`verify_certificate_signature`]). The armour label must agree
/// with the `revoked` flag.
pub fn parse_certificate_file(text: &str) -> Result<CertificateFile, AdminError> {
    let (kind, bytes) = dearmor(text)?;
    if !matches!(
        kind,
        ArmorKind::AuthorityCertificate | ArmorKind::AuthorityRevocation
    ) {
        return Err(AdminError::NotACertificate { kind });
    }
    let what = "authority certificate";
    let signed = Signed::<AuthorityCertificate>::decode(&bytes)
        .map_err(|error| AdminError::Malformed { what, error })?;
    let cert = signed
        .decode_unverified()
        .map_err(|error| AdminError::MalformedBody { what, error })?;
    if cert.revoked != (kind == ArmorKind::AuthorityRevocation) {
        return Err(AdminError::Mislabelled { kind });
    }
    Ok((signed, cert))
}

/// Armour a certificate (or a revocation, by its flag).
pub fn armor_certificate(
    signed: &Signed<AuthorityCertificate>,
    cert: &AuthorityCertificate,
) -> String {
    let kind = if cert.revoked {
        ArmorKind::AuthorityRevocation
    } else {
        ArmorKind::AuthorityCertificate
    };
    armor_wire(kind, signed)
}

/// Check that `root` signed a certificate.
pub fn verify_certificate_signature(
    root: &PublicKey,
    signed: &Signed<AuthorityCertificate>,
) -> Result<AuthorityCertificate, AdminError> {
    signed
        .verify_by(root)
        .map_err(|_| AdminError::NotSignedByRoot)
}

/// Check the authority's certificate against the bundle's pinned root at
/// `at`: an authority never signs with a key the network would not accept.
pub fn check_authority(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    at: Timestamp,
) -> Result<AuthorityCertificate, AdminError> {
    let root = bundle.root()?;
    verify_authority(&root, &auth.certificate, at).map_err(AdminError::AuthorityNotValid)
}

/// Sign a certificate for a verified authority request.
pub fn certify(
    root: &SecretKey,
    request: &Signed<AuthorityRequest>,
    serial: u64,
    valid_days: u64,
    at: Timestamp,
) -> Result<CertificateFile, AdminError> {
    let req = AuthorityRequest::verify(request).map_err(AdminError::RequestSignature)?;
    if req.key == root.public_key() {
        return Err(AdminError::RequestForRoot);
    }
    let cert = AuthorityCertificate {
        country: req.country,
        name: req.name,
        key: req.key,
        serial,
        not_before: Timestamp(at.0.saturating_sub(CERTIFICATE_SKEW_MS)),
        not_after: validity_end(at, valid_days)?,
        revoked: false,
    };
    Ok((Signed::sign(&cert, root), cert))
}

/// A new certificate for the same key and country: serial + 1 (or `serial`,
/// which must be higher), validity from `at` for `valid_days`.
pub fn renew(
    root: &SecretKey,
    current: &Signed<AuthorityCertificate>,
    serial: Option<u64>,
    valid_days: u64,
    at: Timestamp,
) -> Result<CertificateFile, AdminError> {
    let old = verify_certificate_signature(&root.public_key(), current)?;
    if old.revoked {
        return Err(AdminError::RevokedAuthority {
            country: old.country,
            key: old.key,
        });
    }
    let cert = AuthorityCertificate {
        serial: next_serial(&old, serial)?,
        not_before: Timestamp(at.0.saturating_sub(CERTIFICATE_SKEW_MS)),
        not_after: validity_end(at, valid_days)?,
        ..old
    };
    Ok((Signed::sign(&cert, root), cert))
}

/// The root's revocation of an authority key: the certificate with serial
/// + 1 (or `serial`, which must be higher) and `revoked` set.
pub fn revoke_authority(
    root: &SecretKey,
    current: &Signed<AuthorityCertificate>,
    serial: Option<u64>,
) -> Result<CertificateFile, AdminError> {
    let old = verify_certificate_signature(&root.public_key(), current)?;
    if old.revoked {
        return Err(AdminError::AlreadyRevocation { serial: old.serial });
    }
    let cert = AuthorityCertificate {
        serial: next_serial(&old, serial)?,
        revoked: true,
        ..old
    };
    Ok((Signed::sign(&cert, root), cert))
}

fn next_serial(old: &AuthorityCertificate, serial: Option<u64>) -> Result<u64, AdminError> {
    match serial {
        Some(s) if s > old.serial => Ok(s),
        Some(s) => Err(AdminError::SerialNotHigher {
            serial: s,
            current: old.serial,
        }),
        None => old.serial.checked_add(1).ok_or(AdminError::SerialOverflow),
    }
}

/// Install a certificate in an authority key file (uncertified, or already
/// certified and being renewed). Checks that the certificate is for this
/// key and country, signed correctly (and by `root` when given), not
/// revoked, not expired at `at`, and newer than an installed one.
pub fn install(
    key_text: &str,
    signed: &Signed<AuthorityCertificate>,
    root: Option<&PublicKey>,
    at: Timestamp,
) -> Result<AuthorityKeyFile, AdminError> {
    let (key, country, installed) = match PendingAuthorityKey::from_toml(key_text) {
        Ok(p) => (p.key, p.country, None),
        Err(_) => {
            let f = AuthorityKeyFile::from_toml(key_text).map_err(AdminError::NotAKeyFile)?;
            let serial = f
                .certificate
                .decode_unverified()
                .map(|c| c.serial)
                .map_err(AdminError::InstalledCertificate)?;
            (f.key, f.country, Some(serial))
        }
    };
    let cert = match root {
        Some(root) => verify_certificate_signature(root, signed)?,
        None => signed.verify().map_err(AdminError::CertificateSignature)?,
    };
    if cert.key != key.public_key() {
        return Err(AdminError::CertificateForAnotherKey {
            certified: cert.key,
            held: key.public_key(),
        });
    }
    if cert.country != country {
        return Err(AdminError::CertificateForAnotherCountry {
            certified: cert.country,
            held: country,
        });
    }
    if cert.revoked {
        return Err(AdminError::InstallingRevocation);
    }
    if at >= cert.not_after {
        return Err(AdminError::CertificateExpired { at: cert.not_after });
    }
    if let Some(old) = installed
        && cert.serial <= old
    {
        return Err(AdminError::CertificateNotNewer {
            serial: cert.serial,
            installed: old,
        });
    }
    Ok(AuthorityKeyFile {
        key,
        certificate: signed.clone(),
        country,
    })
}

/// What `liaison-admin bundle` needs.
#[derive(Clone, Debug)]
pub struct BundleParams {
    /// Network name, for display.
    pub network: String,
    /// Hex root public key.
    pub root_key: String,
    /// Relay `host:port`.
    pub relay_addr: String,
    /// Hex SHA-256 of the relay's TLS certificate.
    pub cert_sha256: String,
    /// C2SP verifier key of the directory log.
    pub directory_log_key: String,
    /// C2SP verifier key of the event log.
    pub event_log_key: String,
    /// C2SP cosignature verifier keys of witnesses.
    pub witnesses: Vec<String>,
    /// Witness cosignatures required.
    pub quorum: usize,
}

/// Build and validate a production bundle (every key parses, the quorum is
/// reachable).
pub fn make_bundle(p: &BundleParams) -> Result<Bundle, AdminError> {
    if p.witnesses.iter().any(|w| w.contains(',')) {
        return Err(AdminError::WitnessComma);
    }
    let bundle = Bundle {
        network: p.network.clone(),
        root_key: p.root_key.trim().to_ascii_lowercase(),
        relay_addr: p.relay_addr.clone(),
        relay_cert_sha256: p.cert_sha256.trim().to_ascii_lowercase(),
        directory_log_key: p.directory_log_key.clone(),
        event_log_key: p.event_log_key.clone(),
        witness_keys: p.witnesses.join(","),
        witness_quorum: p.quorum.to_string(),
    };
    let mut values = vec![
        &bundle.network,
        &bundle.relay_addr,
        &bundle.directory_log_key,
        &bundle.event_log_key,
    ];
    values.extend(&p.witnesses);
    if values.iter().any(|v| v.contains(['"', '\\', '\n'])) {
        return Err(AdminError::BundleValue);
    }
    let parsed = Bundle::from_toml(&bundle.to_toml())?;
    for log in LogId::ALL {
        parsed.log_policy(log)?;
    }
    Ok(parsed)
}
