//! Authority and network-root operations behind `liaison-admin`.
//!
//! Two kinds of operation live here:
//! - the **root ceremony**, done on an air-gapped machine and never touching
//!   the network: making the root key, certifying, renewing and revoking
//!   country authority keys ([`certify`], [`renew`], [`revoke_authority`]),
//!   and installing a certificate in an authority's key file ([`install`]);
//! - the **directory lifecycle** of an authority, online: enrolling,
//!   updating, revoking focal points, adding and removing their devices,
//!   and publishing role records. The record construction is pure
//!   ([`updated_record`], [`revoked_record`], [`record_without_device`],
//!   [`record_with_device`], [`role_record`]); the `async` functions fetch
//!   the directory as the authority sees it and publish the result.
//!
//! Every signing function refuses an id of another country than the
//! authority's ([`check_jurisdiction`]) before doing anything else: the relay
//! and every client would refuse the result anyway, and saying so early names
//! the rule.

use std::fmt;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use liaison_protocol::bundle::{
    AuthorityKeyFile, AuthorityRequest, Bundle, BundleError, PendingAuthorityKey,
    check_authority_name,
};
use liaison_protocol::directory::{
    AuthorityCertificate, DEVICE_ENDORSEMENT_DOMAIN, DeviceKeys, Directory, FocalPointRecord,
    MAX_DEVICES, MAX_TEXT, RecordStatus, Rejected, RoleRecord, device_endorsement_message,
    verify_authority,
};
use liaison_protocol::frames::{ErrorCode, LogId, Request, Response};
use liaison_protocol::message::{DeviceApproval, DeviceRequest, EnrolmentRequest, Prekey};
use liaison_protocol::{CountryCode, DirectoryId, PublicKey, SecretKey, Signed, Timestamp, Wire};
use serde_json::{Value, json};

use liaison_net::clock::now;
use liaison_net::{Link, LinkError};
use liaison_protocol::armor::{ArmorKind, dearmor};

/// Validity of a new record.
pub const DEFAULT_VALIDITY_DAYS: u64 = 730;
/// Validity of a new or renewed authority certificate.
pub const DEFAULT_AUTHORITY_VALIDITY_DAYS: u64 = 730;
/// Oldest device request an authority countersigns, so an old approval file
/// found on a disk cannot quietly bring back a device.
pub const MAX_DEVICE_REQUEST_AGE_DAYS: u64 = 14;

const DAY_MS: u64 = 86_400_000;
/// Records start a minute before signing, for clock skew between machines.
const RECORD_SKEW_MS: u64 = 60_000;
/// Certificates start a day before signing: the root is offline and its
/// clock may be off; the relays check `not_before`.
const CERTIFICATE_SKEW_MS: u64 = DAY_MS;

// ---------------------------------------------------------------------------
// Errors with a recovery hint

/// An error that carries what to do about it. The CLI prints the message,
/// then `hint: ...`.
#[derive(Debug)]
pub struct Hinted {
    message: String,
    hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Build an error with a recovery hint.
pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.into(),
        hint: hint.into(),
    })
}

/// The recovery hint of an error, if any part of its chain carries one.
pub fn hint_of(e: &anyhow::Error) -> Option<String> {
    for cause in e.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            return Some(h.hint.clone());
        }
        if let Some(b) = cause.downcast_ref::<BundleError>() {
            return Some(match b {
                BundleError::Uncertified => {
                    "liaison-admin authority install --key KEY --cert CERT".into()
                }
                _ => "check that the file is the one you meant and was not edited".into(),
            });
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::NotFound => Some("check the path".into()),
                std::io::ErrorKind::AlreadyExists => Some(
                    "nothing is overwritten: remove the file first or choose another --out".into(),
                ),
                std::io::ErrorKind::PermissionDenied => {
                    Some("check the file's owner and permissions".into())
                }
                _ => None,
            };
        }
    }
    None
}

// ---------------------------------------------------------------------------
// The country rule

/// The rule every authority signature obeys: an authority signs only for its
/// own country. `action` is the verb shown ("enrol", "update", ...).
pub fn check_jurisdiction(authority: CountryCode, action: &str, id: &DirectoryId) -> Result<()> {
    if id.country() != authority {
        return Err(hinted(
            format!(
                "the {authority} authority cannot {action} {id}: only the {} authority can \
                 (an authority signs directory entries of its own country only)",
                id.country()
            ),
            format!(
                "ask the {} authority to do it; ids of your country start with \"{}.\"",
                id.country(),
                authority.as_str().to_ascii_lowercase()
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Files

/// Read a text file, naming it in the error.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {what} {}", path.display()))
}

/// Create `path` (never overwriting) with `text`; owner-only (0600) if
/// `secret`. Synced before returning.
pub fn write_new_file(path: &Path, text: &str, secret: bool) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Replace the secret file `path` with `text` atomically (a 0600 temporary
/// file beside it, synced, then renamed over it).
pub fn replace_secret_file(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file path", path.display()))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".new");
    let tmp = path.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    write_new_file(&tmp, text, true)?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Load a bundle.
pub fn load_bundle(path: &Path) -> Result<Bundle> {
    Bundle::from_toml(&read_text(path, "bundle")?)
        .with_context(|| format!("bundle {}", path.display()))
}

/// Load an authority key file (certified).
pub fn load_authority(path: &Path) -> Result<AuthorityKeyFile> {
    let text = zeroize::Zeroizing::new(read_text(path, "authority key")?);
    AuthorityKeyFile::from_toml(&text).with_context(|| format!("authority key {}", path.display()))
}

/// Check the authority's certificate against the bundle's pinned root at
/// `at`: an authority never signs with a key the network would not accept.
pub fn check_authority(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    at: Timestamp,
) -> Result<AuthorityCertificate> {
    let root = bundle.root()?;
    verify_authority(&root, &auth.certificate, at).map_err(|e| {
        hinted(
            format!("your authority certificate is not valid for this network: {e}"),
            "have the network root renew it (liaison-admin root renew), then run liaison-admin \
             authority install and publish the new certificate",
        )
    })
}

/// Fresh key material from the operating system.
pub fn new_secret_key() -> Result<SecretKey> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| anyhow!("OS random generator failed: {e}"))?;
    Ok(SecretKey::from_seed(&seed))
}

/// The root key file: the hex seed and a newline (as `liaison-relay dev`
/// writes `root.key`).
pub fn root_key_text(root: &SecretKey) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(format!("{}\n", hex::encode(*root.to_seed())))
}

/// Parse [`root_key_text`].
pub fn parse_root_key(text: &str) -> Result<SecretKey> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), seed.as_mut())
        .map_err(|_| anyhow!("a root key file holds 64 hex digits"))?;
    Ok(SecretKey::from_seed(&seed))
}

/// Load the root key.
pub fn load_root(path: &Path) -> Result<SecretKey> {
    let text = zeroize::Zeroizing::new(read_text(path, "root key")?);
    parse_root_key(&text).with_context(|| format!("root key {}", path.display()))
}

// ---------------------------------------------------------------------------
// Root ceremony (offline)

/// A new, uncertified authority key for `country`.
pub fn keygen(country: CountryCode, name: &str, key: SecretKey) -> Result<PendingAuthorityKey> {
    check_authority_name(name).map_err(|e| anyhow!("authority name: {e}"))?;
    Ok(PendingAuthorityKey {
        key,
        country,
        name: name.to_owned(),
    })
}

/// Read an authority request file and verify its self-signature.
pub fn parse_authority_request(text: &str) -> Result<(Signed<AuthorityRequest>, AuthorityRequest)> {
    let bytes = liaison_protocol::armor::dearmor_as(ArmorKind::AuthorityRequest, text)?;
    let signed = Signed::<AuthorityRequest>::decode(&bytes)
        .map_err(|e| anyhow!("malformed authority request: {e}"))?;
    let req = AuthorityRequest::verify(&signed)
        .map_err(|e| anyhow!("the authority request does not verify: {e}"))?;
    Ok((signed, req))
}

/// Read a certificate or revocation file (the signature is not checked
/// here; see [`verify_certificate_file`]). The armour label must agree with
/// the `revoked` flag.
pub fn parse_certificate_file(
    text: &str,
) -> Result<(Signed<AuthorityCertificate>, AuthorityCertificate)> {
    let (kind, bytes) = dearmor(text)?;
    if !matches!(
        kind,
        ArmorKind::AuthorityCertificate | ArmorKind::AuthorityRevocation
    ) {
        bail!("this file is {kind}, not an authority certificate or revocation");
    }
    let signed = Signed::<AuthorityCertificate>::decode(&bytes)
        .map_err(|e| anyhow!("malformed authority certificate: {e}"))?;
    let cert = signed
        .decode_unverified()
        .map_err(|e| anyhow!("malformed authority certificate: {e}"))?;
    if cert.revoked != (kind == ArmorKind::AuthorityRevocation) {
        bail!("the file is labelled {kind} but its content says otherwise; it was edited");
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
    liaison_protocol::armor::armor_wire(kind, signed)
}

/// Check that `root` signed a certificate.
pub fn verify_certificate_signature(
    root: &PublicKey,
    signed: &Signed<AuthorityCertificate>,
) -> Result<AuthorityCertificate> {
    signed.verify_by(root).map_err(|_| {
        hinted(
            "this certificate is not signed by this network root key",
            "check that you use the network's root key (compare its fingerprint with the bundle)",
        )
    })
}

/// Sign a certificate for a verified authority request.
pub fn certify(
    root: &SecretKey,
    request: &Signed<AuthorityRequest>,
    serial: u64,
    valid_days: u64,
    at: Timestamp,
) -> Result<(Signed<AuthorityCertificate>, AuthorityCertificate)> {
    let req = AuthorityRequest::verify(request)
        .map_err(|e| anyhow!("the authority request does not verify: {e}"))?;
    if req.key == root.public_key() {
        bail!("the request is for the network root key itself; an authority needs its own key");
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
) -> Result<(Signed<AuthorityCertificate>, AuthorityCertificate)> {
    let old = verify_certificate_signature(&root.public_key(), current)?;
    if old.revoked {
        bail!(
            "the {} authority key {} is revoked; a revocation is final: certify a new key instead",
            old.country,
            old.key.fingerprint()
        );
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
) -> Result<(Signed<AuthorityCertificate>, AuthorityCertificate)> {
    let old = verify_certificate_signature(&root.public_key(), current)?;
    if old.revoked {
        bail!("this is already a revocation (serial {})", old.serial);
    }
    let cert = AuthorityCertificate {
        serial: next_serial(&old, serial)?,
        revoked: true,
        ..old
    };
    Ok((Signed::sign(&cert, root), cert))
}

fn next_serial(old: &AuthorityCertificate, serial: Option<u64>) -> Result<u64> {
    match serial {
        Some(s) if s > old.serial => Ok(s),
        Some(s) => Err(hinted(
            format!(
                "serial {s} is not higher than the certificate's serial {}",
                old.serial
            ),
            "leave out --serial to use the next one",
        )),
        None => old
            .serial
            .checked_add(1)
            .ok_or_else(|| anyhow!("serial overflow")),
    }
}

fn validity_end(at: Timestamp, valid_days: u64) -> Result<Timestamp> {
    if valid_days == 0 || valid_days > 3660 {
        bail!("validity must be between 1 and 3660 days (got {valid_days})");
    }
    Ok(at.plus_millis(valid_days * DAY_MS))
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
) -> Result<AuthorityKeyFile> {
    let (key, country, installed) = match PendingAuthorityKey::from_toml(key_text) {
        Ok(p) => (p.key, p.country, None),
        Err(_) => {
            let f = AuthorityKeyFile::from_toml(key_text)
                .map_err(|e| anyhow!("not an authority key file: {e}"))?;
            let serial = f
                .certificate
                .decode_unverified()
                .map(|c| c.serial)
                .map_err(|e| anyhow!("installed certificate: {e}"))?;
            (f.key, f.country, Some(serial))
        }
    };
    let cert = match root {
        Some(root) => verify_certificate_signature(root, signed)?,
        None => signed
            .verify()
            .map_err(|e| anyhow!("the certificate's signature does not verify: {e}"))?,
    };
    if cert.key != key.public_key() {
        bail!(
            "this certificate is for key {}, not for this key file's key {}",
            cert.key.fingerprint(),
            key.public_key().fingerprint()
        );
    }
    if cert.country != country {
        bail!(
            "this certificate is for {}, but this key file is the {country} authority's",
            cert.country
        );
    }
    if cert.revoked {
        bail!("this is a revocation, not a certificate: the key can no longer be used");
    }
    if at >= cert.not_after {
        bail!(
            "this certificate expired at {}",
            cert.not_after.to_rfc3339()
        );
    }
    if let Some(old) = installed
        && cert.serial <= old
    {
        return Err(hinted(
            format!(
                "this certificate (serial {}) is not newer than the installed one (serial {old})",
                cert.serial
            ),
            "nothing to do if it is already installed (liaison-admin authority show); otherwise \
             install the root's latest certificate",
        ));
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
pub fn make_bundle(p: &BundleParams) -> Result<Bundle> {
    if p.witnesses.iter().any(|w| w.contains(',')) {
        bail!("a witness key cannot contain a comma; repeat --witness for each");
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
        bail!("values cannot contain quotes, backslashes or line breaks");
    }
    let parsed = Bundle::from_toml(&bundle.to_toml())?;
    for log in LogId::ALL {
        parsed.log_policy(log)?;
    }
    Ok(parsed)
}

// ---------------------------------------------------------------------------
// Records (pure)

/// Build and sign a focal point record from a verified enrolment request.
/// Refuses requests for another country than the authority's.
pub fn record_from_request(
    authority: &AuthorityKeyFile,
    req: &EnrolmentRequest,
    version: u64,
    valid_days: u64,
    at: Timestamp,
) -> Result<Signed<FocalPointRecord>> {
    check_jurisdiction(authority.country, "enrol", &req.id)?;
    let record = FocalPointRecord {
        id: req.id.clone(),
        version,
        country: req.country,
        name: req.name.clone(),
        agency: req.agency.clone(),
        unit: req.unit.clone(),
        roles: Vec::new(),
        languages: req.languages.clone(),
        time_zone: req.time_zone.clone(),
        working_hours: String::new(),
        notes: String::new(),
        identity_key: req.identity_key,
        devices: vec![req.device],
        device_endorsements: vec![req.device_endorsement],
        not_before: Timestamp(at.0.saturating_sub(RECORD_SKEW_MS)),
        not_after: at.plus_millis(valid_days.saturating_mul(DAY_MS)),
        status: RecordStatus::Active,
    };
    sign_record(authority, &record)
}

/// Check a record the way the relay and clients will, then sign it.
fn sign_record(
    authority: &AuthorityKeyFile,
    record: &FocalPointRecord,
) -> Result<Signed<FocalPointRecord>> {
    check_jurisdiction(authority.country, "sign", &record.id)?;
    record
        .check_wellformed()
        .and_then(|()| record.verify_endorsements())
        .map_err(|e| anyhow!("record would be invalid: {e}"))?;
    Ok(Signed::sign(record, &authority.key))
}

fn next_version(current: u64) -> Result<u64> {
    current
        .checked_add(1)
        .ok_or_else(|| anyhow!("record version overflow"))
}

fn require_active_status(current: &FocalPointRecord, action: &str) -> Result<()> {
    if let RecordStatus::Revoked { reason } = &current.status {
        return Err(hinted(
            format!(
                "{} is revoked (\"{reason}\"); cannot {action} a revoked focal point",
                current.id
            ),
            format!(
                "to bring it back, enrol a new request with liaison-admin enrol --version {}",
                current.version.saturating_add(1)
            ),
        ));
    }
    Ok(())
}

/// Changes to a focal point record; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct RecordChanges {
    /// Full name.
    pub name: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// Agency.
    pub agency: Option<String>,
    /// Languages (replace the list).
    pub languages: Option<Vec<String>>,
    /// IANA time zone.
    pub time_zone: Option<String>,
    /// Working hours.
    pub working_hours: Option<String>,
    /// Contact notes.
    pub notes: Option<String>,
    /// Roles held (replace the list).
    pub roles: Option<Vec<String>>,
    /// New validity from now, in days.
    pub valid_days: Option<u64>,
}

impl RecordChanges {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.unit.is_none()
            && self.agency.is_none()
            && self.languages.is_none()
            && self.time_zone.is_none()
            && self.working_hours.is_none()
            && self.notes.is_none()
            && self.roles.is_none()
            && self.valid_days.is_none()
    }
}

/// The next version of `current` with `changes` applied, signed.
pub fn updated_record(
    authority: &AuthorityKeyFile,
    current: &FocalPointRecord,
    changes: &RecordChanges,
    at: Timestamp,
) -> Result<Signed<FocalPointRecord>> {
    check_jurisdiction(authority.country, "update", &current.id)?;
    require_active_status(current, "update")?;
    if changes.is_empty() {
        return Err(hinted(
            format!("nothing to change in {}", current.id),
            "give at least one of --name, --unit, --agency, --language, --time-zone, \
             --working-hours, --notes, --roles, --valid-days",
        ));
    }
    let mut r = current.clone();
    r.version = next_version(current.version)?;
    let set = |field: &mut String, v: &Option<String>| {
        if let Some(v) = v {
            field.clone_from(v);
        }
    };
    set(&mut r.name, &changes.name);
    set(&mut r.unit, &changes.unit);
    set(&mut r.agency, &changes.agency);
    set(&mut r.time_zone, &changes.time_zone);
    set(&mut r.working_hours, &changes.working_hours);
    set(&mut r.notes, &changes.notes);
    if let Some(l) = &changes.languages {
        r.languages.clone_from(l);
    }
    if let Some(roles) = &changes.roles {
        r.roles.clone_from(roles);
    }
    if let Some(days) = changes.valid_days {
        r.not_before = Timestamp(at.0.saturating_sub(RECORD_SKEW_MS));
        r.not_after = validity_end(at, days)?;
    }
    let mut texts = vec![
        &r.name,
        &r.agency,
        &r.unit,
        &r.time_zone,
        &r.working_hours,
        &r.notes,
    ];
    texts.extend(&r.languages);
    texts.extend(&r.roles);
    if texts.iter().any(|t| t.len() > MAX_TEXT) {
        bail!("a field is longer than {MAX_TEXT} bytes");
    }
    sign_record(authority, &r)
}

/// The next version of `current`, revoked for `reason`.
pub fn revoked_record(
    authority: &AuthorityKeyFile,
    current: &FocalPointRecord,
    reason: &str,
) -> Result<Signed<FocalPointRecord>> {
    check_jurisdiction(authority.country, "revoke", &current.id)?;
    if matches!(current.status, RecordStatus::Revoked { .. }) {
        return Err(hinted(
            format!(
                "{} is already revoked (version {})",
                current.id, current.version
            ),
            format!(
                "nothing to do; to bring it back, enrol a new request with liaison-admin enrol \
                 --version {}",
                current.version.saturating_add(1)
            ),
        ));
    }
    if reason.trim().is_empty() || reason.len() > MAX_TEXT {
        bail!(
            "give a reason of 1 to {MAX_TEXT} bytes (it is shown to everyone reading the directory)"
        );
    }
    let mut r = current.clone();
    r.version = next_version(current.version)?;
    r.status = RecordStatus::Revoked {
        reason: reason.to_owned(),
    };
    sign_record(authority, &r)
}

/// Find a device of `record` by its signing key (hex) or its fingerprint
/// (with or without spaces, or a unique prefix of at least 8 hex digits).
pub fn find_device(record: &FocalPointRecord, selector: &str) -> Result<usize> {
    let want: String = selector
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if want.len() < 8 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("give the device's key in hex or its fingerprint (at least 8 hex digits)");
    }
    let matches: Vec<usize> = record
        .devices
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            let fp: String = d
                .signing
                .fingerprint()
                .to_string()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            d.signing.to_hex() == want || fp.starts_with(&want)
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [i] => Ok(*i),
        [] => Err(hinted(
            format!("{} has no device {selector}", record.id),
            format!(
                "its devices are: {}",
                record
                    .devices
                    .iter()
                    .map(|d| d.signing.fingerprint().to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )),
        _ => Err(hinted(
            format!("{selector} matches more than one device of {}", record.id),
            "give more digits of the fingerprint",
        )),
    }
}

/// The next version of `current` without the device `selector` names.
/// Refuses to remove the last device: that is a revocation.
pub fn record_without_device(
    authority: &AuthorityKeyFile,
    current: &FocalPointRecord,
    selector: &str,
) -> Result<(Signed<FocalPointRecord>, DeviceKeys)> {
    check_jurisdiction(authority.country, "revoke a device of", &current.id)?;
    require_active_status(current, "remove a device of")?;
    let i = find_device(current, selector)?;
    if current.devices.len() == 1 {
        return Err(hinted(
            format!(
                "{selector} is the only device of {}; a record needs at least one device",
                current.id
            ),
            format!(
                "to take {} out of service use: liaison-admin revoke --id {} --reason TEXT",
                current.id, current.id
            ),
        ));
    }
    let mut r = current.clone();
    r.version = next_version(current.version)?;
    let device = r.devices.remove(i);
    if i < r.device_endorsements.len() {
        r.device_endorsements.remove(i);
    }
    Ok((sign_record(authority, &r)?, device))
}

/// Read a device approval file.
pub fn parse_device_approval(text: &str) -> Result<DeviceApproval> {
    Ok(liaison_protocol::armor::dearmor_wire::<DeviceApproval>(
        ArmorKind::DeviceApproval,
        text,
    )?)
}

/// Check a device approval against the focal point's current record and
/// build the next version with the device added. Returns the record and the
/// new device's prekeys, to publish with it.
///
/// The authority countersigns only what the focal point's own identity key
/// endorsed: the request is signed by the new device, and the endorsement
/// verifies under the identity key of the *current* record, so neither a
/// stolen device request nor an endorsement by another key adds a device.
pub fn record_with_device(
    authority: &AuthorityKeyFile,
    current: &FocalPointRecord,
    approval: &DeviceApproval,
    at: Timestamp,
) -> Result<(Signed<FocalPointRecord>, DeviceRequest)> {
    let request = DeviceRequest::verify(&approval.request)
        .map_err(|e| anyhow!("the device request inside the approval does not verify: {e}"))?;
    check_jurisdiction(authority.country, "add a device to", &request.id)?;
    if request.id != current.id {
        bail!("the approval is for {}, not for {}", request.id, current.id);
    }
    require_active_status(current, "add a device to")?;
    // The endorsement check below is what counts; the declared key only
    // makes the refusal say which identity approved.
    if approval.identity_key != current.identity_key {
        return Err(hinted(
            format!(
                "the approval was made with identity {}, but {}'s current record has identity {}; \
                 refusing to add the device",
                approval.identity_key.fingerprint(),
                current.id,
                current.identity_key.fingerprint()
            ),
            "the focal point must approve the new device on a device that holds its \
             identity (liaison device approve)",
        ));
    }
    current
        .identity_key
        .verify(
            DEVICE_ENDORSEMENT_DOMAIN,
            &device_endorsement_message(&request.id, &request.device),
            &approval.endorsement,
        )
        .map_err(|_| {
            hinted(
                format!(
                    "the approval is not endorsed by the identity key of {}'s current record \
                     (identity fingerprint {}); refusing to add the device",
                    current.id,
                    current.identity_key.fingerprint()
                ),
                "the focal point must approve the new device on a device that holds its \
                 identity (liaison device approve)",
            )
        })?;
    let max_age = MAX_DEVICE_REQUEST_AGE_DAYS * DAY_MS;
    if request.created_at.0.saturating_add(max_age) < at.0 {
        return Err(hinted(
            format!(
                "the device request was made on {}, more than {MAX_DEVICE_REQUEST_AGE_DAYS} days ago",
                request.created_at.to_rfc3339()
            ),
            "ask the focal point for a new device request and approval",
        ));
    }
    if request.created_at.0 > at.0.saturating_add(DAY_MS) {
        bail!(
            "the device request claims to be made in the future ({}); check the clocks",
            request.created_at.to_rfc3339()
        );
    }
    if current
        .devices
        .iter()
        .any(|d| d.signing == request.device.signing)
    {
        return Err(hinted(
            format!(
                "device {} is already a device of {} (version {})",
                request.device.signing.fingerprint(),
                current.id,
                current.version
            ),
            "nothing to do: the new device can link (liaison device link) and sync",
        ));
    }
    if current.devices.len() >= MAX_DEVICES {
        return Err(hinted(
            format!(
                "{} already has {MAX_DEVICES} devices, the most a record can list",
                current.id
            ),
            "remove a device first (liaison-admin revoke-device)",
        ));
    }
    let mut r = current.clone();
    r.version = next_version(current.version)?;
    r.devices.push(request.device);
    r.device_endorsements.push(approval.endorsement);
    Ok((sign_record(authority, &r)?, request))
}

/// What `role set` is asked to publish.
#[derive(Clone, Debug)]
pub struct RoleParams {
    /// Role id.
    pub id: DirectoryId,
    /// Name; required for a new role, kept if `None`.
    pub name: Option<String>,
    /// Description; kept (or empty for a new role) if `None`.
    pub description: Option<String>,
    /// Holders in on-call order.
    pub holders: Vec<DirectoryId>,
    /// Validity from now in days; a new role gets the default, an existing
    /// one keeps its validity if `None`.
    pub valid_days: Option<u64>,
}

/// Build and sign a role record: version 1, or the next version of
/// `current` (a handover). Holders must be of the authority's country;
/// holders with no active record in `dir` produce warnings (the role would
/// not reach them).
pub fn role_record(
    authority: &AuthorityKeyFile,
    current: Option<&RoleRecord>,
    params: &RoleParams,
    dir: &Directory,
    at: Timestamp,
) -> Result<(Signed<RoleRecord>, Vec<String>)> {
    check_jurisdiction(authority.country, "publish the role", &params.id)?;
    for h in &params.holders {
        if h.country() != authority.country {
            return Err(hinted(
                format!(
                    "{h} cannot hold the {} role {}: role holders are focal points of the \
                     role's own country",
                    authority.country, params.id
                ),
                "list only holders whose id starts with your country code",
            ));
        }
    }
    for (i, h) in params.holders.iter().enumerate() {
        if params.holders.iter().take(i).any(|x| x == h) {
            bail!("{h} is listed twice; give each holder once, in on-call order");
        }
    }
    if dir.record(&params.id).is_some() {
        bail!(
            "{} is a focal point's id; a role needs an id of its own",
            params.id
        );
    }
    let mut warnings = Vec::new();
    for h in &params.holders {
        match dir.record(h) {
            None => warnings.push(format!(
                "{h} has no record in the directory: the role will not reach it until it is enrolled"
            )),
            Some(r) if !r.is_active(at) => warnings.push(format!(
                "{h} is not active (revoked or expired): the role will not reach it"
            )),
            Some(_) => {}
        }
    }
    if params.holders.is_empty() {
        warnings.push(format!(
            "{} has no holders: messages to it will reach nobody",
            params.id
        ));
    }
    let role = match current {
        Some(cur) => RoleRecord {
            id: params.id.clone(),
            version: next_version(cur.version)?,
            country: authority.country,
            name: params.name.clone().unwrap_or_else(|| cur.name.clone()),
            description: params
                .description
                .clone()
                .unwrap_or_else(|| cur.description.clone()),
            holders: params.holders.clone(),
            not_before: match params.valid_days {
                Some(_) => Timestamp(at.0.saturating_sub(RECORD_SKEW_MS)),
                None => cur.not_before,
            },
            not_after: match params.valid_days {
                Some(days) => validity_end(at, days)?,
                None => cur.not_after,
            },
        },
        None => RoleRecord {
            id: params.id.clone(),
            version: 1,
            country: authority.country,
            name: params.name.clone().ok_or_else(|| {
                hinted(format!("{} is a new role", params.id), "give it a --name")
            })?,
            description: params.description.clone().unwrap_or_default(),
            holders: params.holders.clone(),
            not_before: Timestamp(at.0.saturating_sub(RECORD_SKEW_MS)),
            not_after: validity_end(at, params.valid_days.unwrap_or(DEFAULT_VALIDITY_DAYS))?,
        },
    };
    role.check_wellformed()
        .map_err(|e| anyhow!("role would be invalid: {e}"))?;
    Ok((Signed::sign(&role, &authority.key), warnings))
}

// ---------------------------------------------------------------------------
// What was signed, for the operator

/// A summary of something just signed, printed by every signing command.
#[derive(Clone, Debug)]
pub struct Signing {
    /// "record", "role", "certificate" or "revocation".
    pub kind: &'static str,
    /// Id, or the authority's country for certificates.
    pub subject: String,
    /// Version (serial for certificates).
    pub version: u64,
    /// The fingerprint the subject is known by: the identity key of a
    /// record, the authority key of a certificate, empty for roles.
    pub fingerprint: String,
    /// The signing key's fingerprint.
    pub signer: String,
}

impl Signing {
    /// For a signed record.
    pub fn record(r: &FocalPointRecord, signed: &Signed<FocalPointRecord>) -> Self {
        Signing {
            kind: "record",
            subject: r.id.to_string(),
            version: r.version,
            fingerprint: r.identity_key.fingerprint().to_string(),
            signer: signed.signer().fingerprint().to_string(),
        }
    }

    /// For a signed role.
    pub fn role(r: &RoleRecord, signed: &Signed<RoleRecord>) -> Self {
        Signing {
            kind: "role",
            subject: r.id.to_string(),
            version: r.version,
            fingerprint: String::new(),
            signer: signed.signer().fingerprint().to_string(),
        }
    }

    /// For a signed certificate or revocation.
    pub fn certificate(c: &AuthorityCertificate, signed: &Signed<AuthorityCertificate>) -> Self {
        Signing {
            kind: if c.revoked {
                "revocation"
            } else {
                "certificate"
            },
            subject: c.country.to_string(),
            version: c.serial,
            fingerprint: c.key.fingerprint().to_string(),
            signer: signed.signer().fingerprint().to_string(),
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "kind": self.kind,
            "subject": self.subject,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "signer": self.signer,
        })
    }
}

impl fmt::Display for Signing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if matches!(self.kind, "certificate" | "revocation") {
            "serial"
        } else {
            "version"
        };
        write!(
            f,
            "signed {} {} {v} {}",
            self.kind, self.subject, self.version
        )?;
        if !self.fingerprint.is_empty() {
            let what = if self.kind == "record" {
                "identity"
            } else {
                "key"
            };
            write!(f, ", {what} fingerprint {}", self.fingerprint)?;
        }
        write!(f, ", signed by {}", self.signer)
    }
}

// ---------------------------------------------------------------------------
// Online: the directory as the authority sees it, and publishing

/// The verified directory as an authority sees it.
#[derive(Debug)]
pub struct AuthorityView {
    /// Everything that verified against the pinned root.
    pub directory: Directory,
    /// What did not, and why.
    pub rejected: Vec<Rejected>,
    /// The country the relay recognised the key for.
    pub country: CountryCode,
}

impl AuthorityView {
    /// The current verified record of `id`, or an error saying why there
    /// is none.
    pub fn record(&self, id: &DirectoryId) -> Result<&FocalPointRecord> {
        if let Some(r) = self.directory.record(id) {
            return Ok(r);
        }
        let why: Vec<String> = self
            .rejected
            .iter()
            .filter(|r| r.subject == id.as_str())
            .map(|r| r.error.to_string())
            .collect();
        if why.is_empty() {
            Err(hinted(
                format!("{id} has no record in the directory"),
                "check the id (liaison-admin list), or enrol it first (liaison-admin enrol)",
            ))
        } else {
            bail!(
                "{id}'s record in the directory does not verify: {}",
                why.join("; ")
            )
        }
    }
}

fn relay_error(e: LinkError, what: &str) -> anyhow::Error {
    match e {
        LinkError::Refused(w) => {
            let hint = match w.code {
                ErrorCode::StaleVersion => {
                    "a newer version was published meanwhile: run the command again"
                }
                ErrorCode::InvalidRecord | ErrorCode::InvalidSignature => {
                    "the relay checks every signature, validity and the country rule before \
                     storing anything; its message says which check failed"
                }
                ErrorCode::RateLimited | ErrorCode::ShuttingDown | ErrorCode::Internal => {
                    "retry later"
                }
                _ => "see the relay's message above",
            };
            hinted(format!("the relay refused {what}: {w}"), hint)
        }
        other => hinted(
            format!("{what} failed: {other}"),
            "check that the relay is running and that the bundle pins its current certificate",
        ),
    }
}

async fn connect(bundle: &Bundle) -> Result<Link> {
    let pin = bundle.cert_pins()?;
    Link::connect(&bundle.relay_addr, pin).await.map_err(|e| {
        hinted(
            format!("{e:#}"),
            "check that the relay is running and that the bundle pins its current certificate",
        )
    })
}

/// Authenticate with the authority key and fetch and verify the directory.
pub async fn fetch_directory(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    at: Timestamp,
) -> Result<AuthorityView> {
    let root = bundle.root()?;
    let conn = connect(bundle).await?;
    let result = async {
        let country = match conn.authenticate_with_key(&auth.key).await.map_err(|e| {
            let what = match &e {
                LinkError::Refused(w) => format!(
                    "the relay refused this key ({}): {}",
                    w.code.code(),
                    w.message
                ),
                other => other.to_string(),
            };
            hinted(
                what,
                "is your authority certificate published (liaison-admin publish), current and \
                 not revoked?",
            )
        })? {
            Response::AuthorityAuthenticated { country } => country,
            other => bail!(
                "the relay did not recognise this key as a country authority (it answered {})",
                other.name()
            ),
        };
        let answer = conn
            .call(&Request::GetDirectory)
            .await
            .map_err(|e| relay_error(e, "reading the directory"))?;
        let Response::Directory {
            authorities,
            records,
            roles,
        } = answer
        else {
            bail!("unexpected answer to GetDirectory: {answer:?}");
        };
        let (directory, rejected) = Directory::build(&root, &authorities, &records, &roles, at);
        Ok(AuthorityView {
            directory,
            rejected,
            country,
        })
    }
    .await;
    conn.close().await;
    result
}

async fn publish(bundle: &Bundle, request: Request, what: &str) -> Result<()> {
    let conn = connect(bundle).await?;
    let res = conn.call(&request).await;
    conn.close().await;
    match res {
        Ok(Response::Ok) => Ok(()),
        Ok(other) => bail!("unexpected answer publishing {what}: {other:?}"),
        Err(e) => Err(relay_error(e, &format!("publishing {what}"))),
    }
}

/// Publish a signed record (with the request's prekeys) to the relay.
pub async fn publish_record(
    bundle: &Bundle,
    record: Signed<FocalPointRecord>,
    req: &EnrolmentRequest,
) -> Result<()> {
    publish_signed_record(bundle, record, req.prekeys.clone()).await
}

/// Publish a signed record with prekeys of its devices.
pub async fn publish_signed_record(
    bundle: &Bundle,
    record: Signed<FocalPointRecord>,
    prekeys: Vec<Prekey>,
) -> Result<()> {
    let what = record
        .decode_unverified()
        .map(|r| format!("record {} version {}", r.id, r.version))
        .unwrap_or_else(|_| "the record".into());
    publish(bundle, Request::PublishRecord { record, prekeys }, &what).await
}

/// Publish a signed role record.
pub async fn publish_role(bundle: &Bundle, role: Signed<RoleRecord>) -> Result<()> {
    let what = role
        .decode_unverified()
        .map(|r| format!("role {} version {}", r.id, r.version))
        .unwrap_or_else(|_| "the role".into());
    publish(bundle, Request::PublishRole(role), &what).await
}

/// Publish a root-signed certificate or revocation, after checking it
/// against the bundle's root.
pub async fn publish_authority(
    bundle: &Bundle,
    signed: Signed<AuthorityCertificate>,
) -> Result<AuthorityCertificate> {
    let cert = verify_certificate_signature(&bundle.root()?, &signed)?;
    let what = format!(
        "the {} authority {} (serial {})",
        cert.country,
        if cert.revoked {
            "revocation"
        } else {
            "certificate"
        },
        cert.serial
    );
    publish(bundle, Request::PublishAuthority(signed), &what).await?;
    Ok(cert)
}

/// `update`: fetch, change, sign, publish.
pub async fn update(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    id: &DirectoryId,
    changes: &RecordChanges,
    at: Timestamp,
) -> Result<Signing> {
    check_jurisdiction(auth.country, "update", id)?;
    check_authority(bundle, auth, at)?;
    let view = fetch_directory(bundle, auth, at).await?;
    let signed = updated_record(auth, view.record(id)?, changes, at)?;
    finish_record(bundle, signed, Vec::new()).await
}

/// `revoke`: fetch, revoke, sign, publish.
pub async fn revoke(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    id: &DirectoryId,
    reason: &str,
    at: Timestamp,
) -> Result<Signing> {
    check_jurisdiction(auth.country, "revoke", id)?;
    check_authority(bundle, auth, at)?;
    let view = fetch_directory(bundle, auth, at).await?;
    let signed = revoked_record(auth, view.record(id)?, reason)?;
    finish_record(bundle, signed, Vec::new()).await
}

/// `revoke-device`: fetch, remove the device, sign, publish.
pub async fn revoke_device(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    id: &DirectoryId,
    device: &str,
    at: Timestamp,
) -> Result<(Signing, DeviceKeys)> {
    check_jurisdiction(auth.country, "revoke a device of", id)?;
    check_authority(bundle, auth, at)?;
    let view = fetch_directory(bundle, auth, at).await?;
    let (signed, removed) = record_without_device(auth, view.record(id)?, device)?;
    Ok((finish_record(bundle, signed, Vec::new()).await?, removed))
}

/// `add-device`: check the approval against the current record, add the
/// device, sign, publish with the device's prekeys.
pub async fn add_device(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    approval: &DeviceApproval,
    at: Timestamp,
) -> Result<(Signing, DeviceKeys)> {
    let request = DeviceRequest::verify(&approval.request)
        .map_err(|e| anyhow!("the device request inside the approval does not verify: {e}"))?;
    check_jurisdiction(auth.country, "add a device to", &request.id)?;
    check_authority(bundle, auth, at)?;
    let view = fetch_directory(bundle, auth, at).await?;
    if let Some(owner) = view.directory.device_owner(&request.device.signing)
        && owner.id != request.id
    {
        bail!(
            "device {} already belongs to {}; a device belongs to one focal point",
            request.device.signing.fingerprint(),
            owner.id
        );
    }
    let (signed, request) = record_with_device(auth, view.record(&request.id)?, approval, at)?;
    let device = request.device;
    Ok((
        finish_record(bundle, signed, request.prekeys).await?,
        device,
    ))
}

async fn finish_record(
    bundle: &Bundle,
    signed: Signed<FocalPointRecord>,
    prekeys: Vec<Prekey>,
) -> Result<Signing> {
    let r = signed.decode_unverified()?;
    let summary = Signing::record(&r, &signed);
    publish_signed_record(bundle, signed, prekeys).await?;
    Ok(summary)
}

/// `role set`: create or hand over a role. Returns what was signed and the
/// warnings about holders.
pub async fn set_role(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    params: &RoleParams,
    at: Timestamp,
) -> Result<(Signing, Vec<String>)> {
    check_jurisdiction(auth.country, "publish the role", &params.id)?;
    check_authority(bundle, auth, at)?;
    let view = fetch_directory(bundle, auth, at).await?;
    let current = view.directory.role(&params.id);
    let (signed, warnings) = role_record(auth, current, params, &view.directory, at)?;
    let r = signed.decode_unverified()?;
    let summary = Signing::role(&r, &signed);
    publish_role(bundle, signed).await?;
    Ok((summary, warnings))
}

// ---------------------------------------------------------------------------
// Display

fn status_json(r: &FocalPointRecord, at: Timestamp) -> Value {
    match &r.status {
        RecordStatus::Revoked { reason } => json!({"state": "revoked", "reason": reason}),
        RecordStatus::Active if r.is_active(at) => json!({"state": "active"}),
        RecordStatus::Active => json!({"state": "expired"}),
    }
}

/// A record as JSON (what `list --json` shows).
pub fn record_json(dir: &Directory, r: &FocalPointRecord, at: Timestamp) -> Value {
    let vouched_by = dir
        .signed_record(&r.id)
        .and_then(|s| dir.authority(s.signer()))
        .map(|a| json!({"country": a.country.to_string(), "name": a.name, "fingerprint": a.key.fingerprint().to_string()}));
    json!({
        "id": r.id.to_string(),
        "version": r.version,
        "country": r.country.to_string(),
        "name": r.name,
        "agency": r.agency,
        "unit": r.unit,
        "roles": r.roles,
        "languages": r.languages,
        "time_zone": r.time_zone,
        "working_hours": r.working_hours,
        "notes": r.notes,
        "identity_fingerprint": r.identity_key.fingerprint().to_string(),
        "identity_key": r.identity_key.to_hex(),
        "devices": r.devices.iter().map(|d| json!({
            "fingerprint": d.signing.fingerprint().to_string(),
            "key": d.signing.to_hex(),
        })).collect::<Vec<_>>(),
        "not_before": r.not_before.to_rfc3339(),
        "not_after": r.not_after.to_rfc3339(),
        "status": status_json(r, at),
        "vouched_by": vouched_by,
    })
}

/// A role as JSON, with each holder's state.
pub fn role_json(dir: &Directory, r: &RoleRecord, at: Timestamp) -> Value {
    json!({
        "id": r.id.to_string(),
        "version": r.version,
        "country": r.country.to_string(),
        "name": r.name,
        "description": r.description,
        "holders": r.holders.iter().map(|h| {
            let state = match dir.record(h) {
                None => "missing",
                Some(rec) if rec.is_active(at) => "active",
                Some(rec) if matches!(rec.status, RecordStatus::Revoked { .. }) => "revoked",
                Some(_) => "expired",
            };
            json!({"id": h.to_string(), "state": state})
        }).collect::<Vec<_>>(),
        "reaches": dir.resolve(&r.id, at).iter().map(|rec| rec.id.to_string()).collect::<Vec<_>>(),
        "not_before": r.not_before.to_rfc3339(),
        "not_after": r.not_after.to_rfc3339(),
        "active": r.is_active(at),
    })
}

/// An authority certificate as JSON.
pub fn authority_json(c: &AuthorityCertificate) -> Value {
    json!({
        "country": c.country.to_string(),
        "name": c.name,
        "fingerprint": c.key.fingerprint().to_string(),
        "key": c.key.to_hex(),
        "serial": c.serial,
        "not_before": c.not_before.to_rfc3339(),
        "not_after": c.not_after.to_rfc3339(),
        "revoked": c.revoked,
    })
}

/// The whole directory as the authority sees it.
pub fn directory_json(view: &AuthorityView, at: Timestamp) -> Value {
    let d = &view.directory;
    let mut authorities: Vec<&AuthorityCertificate> = d.authorities().collect();
    authorities.sort_by_key(|a| (a.country, a.not_before));
    json!({
        "as_of": at.to_rfc3339(),
        "authenticated_as": view.country.to_string(),
        "authorities": authorities.into_iter().map(authority_json).collect::<Vec<_>>(),
        "records": d.records().map(|r| record_json(d, r, at)).collect::<Vec<_>>(),
        "roles": d.roles().map(|r| role_json(d, r, at)).collect::<Vec<_>>(),
        "rejected": view.rejected.iter().map(|r| json!({"subject": r.subject, "error": r.error.to_string()})).collect::<Vec<_>>(),
    })
}

/// Describe any armoured Liaison file (for `liaison-admin show`): what it
/// is, what it says and whether its own signatures hold. Trust in the
/// signer is not established here.
pub fn describe_file(text: &str) -> Result<Value> {
    let (kind, bytes) = dearmor(text)?;
    let malformed = |e: liaison_protocol::DecodeError| anyhow!("malformed {kind}: {e}");
    Ok(match kind {
        ArmorKind::AuthorityRequest => {
            let signed = Signed::<AuthorityRequest>::decode(&bytes).map_err(malformed)?;
            let r = signed.decode_unverified()?;
            json!({
                "kind": "authority-request",
                "country": r.country.to_string(),
                "name": r.name,
                "fingerprint": r.key.fingerprint().to_string(),
                "key": r.key.to_hex(),
                "created_at": r.created_at.to_rfc3339(),
                "self_signature_valid": AuthorityRequest::verify(&signed).is_ok(),
            })
        }
        ArmorKind::AuthorityCertificate | ArmorKind::AuthorityRevocation => {
            let (signed, c) = parse_certificate_file(text)?;
            let mut v = authority_json(&c);
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "kind".into(),
                    json!(if c.revoked {
                        "authority-revocation"
                    } else {
                        "authority-certificate"
                    }),
                );
                o.insert(
                    "signed_by".into(),
                    json!(signed.signer().fingerprint().to_string()),
                );
                o.insert("signed_by_key".into(), json!(signed.signer().to_hex()));
                o.insert("signature_valid".into(), json!(signed.verify().is_ok()));
            }
            v
        }
        ArmorKind::DeviceApproval => {
            let a = DeviceApproval::decode(&bytes).map_err(malformed)?;
            let r = a.request.decode_unverified()?;
            json!({
                "kind": "device-approval",
                "id": r.id.to_string(),
                "device_fingerprint": r.device.signing.fingerprint().to_string(),
                "created_at": r.created_at.to_rfc3339(),
                "prekeys": r.prekeys.len(),
                "request_signature_valid": DeviceRequest::verify(&a.request).is_ok(),
            })
        }
        ArmorKind::DeviceRequest => {
            let s = Signed::<DeviceRequest>::decode(&bytes).map_err(malformed)?;
            let r = s.decode_unverified()?;
            json!({
                "kind": "device-request",
                "id": r.id.to_string(),
                "device_fingerprint": r.device.signing.fingerprint().to_string(),
                "created_at": r.created_at.to_rfc3339(),
                "signature_valid": DeviceRequest::verify(&s).is_ok(),
            })
        }
        ArmorKind::EnrolmentRequest => {
            let s = Signed::<EnrolmentRequest>::decode(&bytes).map_err(malformed)?;
            let r = s.decode_unverified()?;
            json!({
                "kind": "enrolment-request",
                "id": r.id.to_string(),
                "name": r.name,
                "country": r.country.to_string(),
                "agency": r.agency,
                "identity_fingerprint": r.identity_key.fingerprint().to_string(),
                "created_at": r.created_at.to_rfc3339(),
                "signatures_valid": EnrolmentRequest::verify(&s).is_ok(),
            })
        }
    })
}

/// The current time, re-exported for the CLI.
pub fn current_time() -> Timestamp {
    now()
}

#[cfg(test)]
mod tests {
    use liaison_protocol::directory::{endorse_device, verify_record};

    use super::*;

    const T0: Timestamp = Timestamp(1_750_000_000_000);

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    fn id(s: &str) -> DirectoryId {
        DirectoryId::parse(s).unwrap()
    }

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    /// An authority certified by `root` through the real ceremony functions.
    fn authority(root: &SecretKey, country: &str, seed: u8) -> AuthorityKeyFile {
        let pending = keygen(cc(country), &format!("{country} authority"), key(seed)).unwrap();
        let (signed, _) = certify(root, &pending.request(T0), 1, 730, T0).unwrap();
        install(&pending.to_toml(), &signed, Some(&root.public_key()), T0).unwrap()
    }

    fn device(n: u8) -> DeviceKeys {
        DeviceKeys {
            signing: key(n).public_key(),
            agreement: [n; 32],
        }
    }

    fn record(id_: &str, identity: &SecretKey, dev: u8) -> FocalPointRecord {
        let i = id(id_);
        FocalPointRecord {
            country: i.country(),
            version: 1,
            name: "Somchai".into(),
            agency: "DSI".into(),
            unit: "TIP".into(),
            roles: vec![],
            languages: vec!["th".into()],
            time_zone: "Asia/Bangkok".into(),
            working_hours: String::new(),
            notes: String::new(),
            identity_key: identity.public_key(),
            device_endorsements: vec![endorse_device(identity, &i, &device(dev))],
            devices: vec![device(dev)],
            not_before: Timestamp(0),
            not_after: T0.plus_millis(1000 * DAY_MS),
            status: RecordStatus::Active,
            id: i,
        }
    }

    fn approval(id_: &str, identity: &SecretKey, dev: u8, at: Timestamp) -> DeviceApproval {
        let dk = key(dev);
        let prekey_key = [42u8; 32];
        let prekey = Prekey {
            device: dk.public_key(),
            key: prekey_key,
            fallback: true,
            signature: dk.sign(
                Prekey::DOMAIN,
                &Prekey::signed_bytes(&dk.public_key(), &prekey_key, true),
            ),
        };
        let request = DeviceRequest {
            id: id(id_),
            device: device(dev),
            transfer_key: [1; 32],
            prekeys: vec![prekey],
            created_at: at,
        };
        DeviceApproval {
            identity_key: identity.public_key(),
            known_devices: vec![],
            endorsement: endorse_device(identity, &id(id_), &device(dev)),
            request: Signed::sign(&request, &dk),
            ephemeral: [2; 32],
            sealed_identity: vec![3; 48],
        }
    }

    fn err_text<T>(r: Result<T>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn certification_round_trip() {
        let root = key(1);
        let pending = keygen(cc("vn"), "Bộ Công an — Cục Cảnh sát hình sự", key(2)).unwrap();
        // The pending file survives its TOML, and the full-file parser says
        // what is missing.
        let text = pending.to_toml();
        let back = PendingAuthorityKey::from_toml(&text).unwrap();
        assert_eq!(back.key.public_key(), key(2).public_key());
        assert_eq!(back.name, pending.name);
        assert!(matches!(
            AuthorityKeyFile::from_toml(&text),
            Err(BundleError::Uncertified)
        ));

        // Request file: armoured, self-signed.
        let req_text =
            liaison_protocol::armor::armor_wire(ArmorKind::AuthorityRequest, &pending.request(T0));
        let (signed_req, req) = parse_authority_request(&req_text).unwrap();
        assert_eq!(req.country, cc("VN"));
        assert_eq!(req.key, key(2).public_key());

        let (signed, cert) = certify(&root, &signed_req, 1, 730, T0).unwrap();
        assert_eq!(
            (cert.serial, cert.revoked, cert.country),
            (1, false, cc("VN"))
        );
        assert_eq!(cert.not_after, T0.plus_millis(730 * DAY_MS));
        let cert_text = armor_certificate(&signed, &cert);
        assert!(cert_text.starts_with("-----BEGIN LIAISON AUTHORITY CERTIFICATE-----"));
        let (parsed, _) = parse_certificate_file(&cert_text).unwrap();
        assert_eq!(parsed, signed);

        let full = install(&text, &parsed, Some(&root.public_key()), T0).unwrap();
        let reparsed = AuthorityKeyFile::from_toml(&full.to_toml()).unwrap();
        assert_eq!(reparsed.country, cc("VN"));
        assert_eq!(reparsed.key.public_key(), key(2).public_key());
        assert_eq!(
            verify_authority(&root.public_key(), &reparsed.certificate, T0).unwrap(),
            cert
        );

        // A certificate for another key, another country or another root
        // is not installed.
        let other = keygen(cc("VN"), "VN", key(3)).unwrap();
        let (other_cert, _) = certify(&root, &other.request(T0), 1, 730, T0).unwrap();
        assert!(err_text(install(&text, &other_cert, None, T0)).contains("not for this key file"));
        let wrong_country = keygen(cc("LA"), "LA", key(2)).unwrap();
        let (la_cert, _) = certify(&root, &wrong_country.request(T0), 1, 730, T0).unwrap();
        assert!(err_text(install(&text, &la_cert, None, T0)).contains("for LA"));
        let rogue = key(9).public_key();
        assert!(
            err_text(install(&text, &signed, Some(&rogue), T0))
                .contains("not signed by this network root")
        );
        // Installing the same certificate twice is refused; expired ones too.
        assert!(err_text(install(&full.to_toml(), &signed, None, T0)).contains("not newer"));
        assert!(
            err_text(install(&text, &signed, None, T0.plus_millis(731 * DAY_MS)))
                .contains("expired")
        );
        // A request whose self-signature is by another key does not verify.
        let forged = Signed::sign(&req, &key(7));
        assert!(err_text(certify(&root, &forged, 1, 730, T0)).contains("does not verify"));
        assert!(keygen(cc("VN"), "say \"hi\"", key(4)).is_err());
    }

    #[test]
    fn renew_and_revoke_serials() {
        let root = key(1);
        let th = authority(&root, "TH", 2);
        let (renewed, rc) =
            renew(&root, &th.certificate, None, 365, T0.plus_millis(DAY_MS)).unwrap();
        assert_eq!(rc.serial, 2);
        assert_eq!(rc.key, th.key.public_key());
        assert_eq!(rc.not_after, T0.plus_millis(366 * DAY_MS));
        // The renewed certificate installs over the current one.
        let after = install(&th.to_toml(), &renewed, Some(&root.public_key()), T0).unwrap();
        assert_eq!(after.certificate, renewed);
        assert!(err_text(renew(&root, &renewed, Some(2), 365, T0)).contains("not higher"));
        let (_, rc5) = renew(&root, &renewed, Some(5), 365, T0).unwrap();
        assert_eq!(rc5.serial, 5);

        let (revocation, rv) = revoke_authority(&root, &renewed, None).unwrap();
        assert_eq!((rv.serial, rv.revoked), (3, true));
        let text = armor_certificate(&revocation, &rv);
        assert!(text.starts_with("-----BEGIN LIAISON AUTHORITY REVOCATION-----"));
        assert_eq!(parse_certificate_file(&text).unwrap().1, rv);
        // A relabelled revocation is caught.
        let relabelled = text.replace("REVOCATION", "CERTIFICATE");
        assert!(err_text(parse_certificate_file(&relabelled)).contains("edited"));
        assert!(err_text(renew(&root, &revocation, None, 365, T0)).contains("revocation is final"));
        assert!(err_text(revoke_authority(&root, &revocation, None)).contains("already"));
        assert!(err_text(install(&th.to_toml(), &revocation, None, T0)).contains("revocation"));
        // Only the root signs them.
        assert!(renew(&key(8), &th.certificate, None, 365, T0).is_err());

        // Clients drop the revoked key and everything it signs.
        let rec = Signed::sign(&record("th.dsi.somchai", &key(20), 21), &th.key);
        let (dir, _) = Directory::build(
            &root.public_key(),
            &[th.certificate.clone(), renewed, revocation],
            &[rec],
            &[],
            T0,
        );
        assert_eq!(dir.authorities().count(), 0);
        assert_eq!(dir.records().count(), 0);
    }

    #[test]
    fn update_bumps_the_version_and_applies_changes() {
        let root = key(1);
        let th = authority(&root, "TH", 2);
        let cur = record("th.dsi.somchai", &key(20), 21);
        let changes = RecordChanges {
            name: Some("Somchai P.".into()),
            languages: Some(vec!["th".into(), "en".into()]),
            working_hours: Some("Mon-Fri 08:30-16:30".into()),
            roles: Some(vec!["th.dsi.tip-duty".into()]),
            ..RecordChanges::default()
        };
        let signed = updated_record(&th, &cur, &changes, T0).unwrap();
        let cert = th.certificate.decode_unverified().unwrap();
        let r = verify_record(&cert, &signed).unwrap();
        assert_eq!(r.version, 2);
        assert_eq!(r.name, "Somchai P.");
        assert_eq!(r.languages, ["th", "en"]);
        assert_eq!(r.roles, ["th.dsi.tip-duty"]);
        assert_eq!(
            (&r.agency, &r.devices, r.not_after),
            (&cur.agency, &cur.devices, cur.not_after)
        );
        // New validity only when asked.
        let renewed = updated_record(
            &th,
            &r,
            &RecordChanges {
                valid_days: Some(10),
                ..RecordChanges::default()
            },
            T0,
        )
        .unwrap();
        let r3 = renewed.decode_unverified().unwrap();
        assert_eq!((r3.version, r3.not_after), (3, T0.plus_millis(10 * DAY_MS)));
        assert!(
            err_text(updated_record(&th, &cur, &RecordChanges::default(), T0))
                .contains("nothing to change")
        );
        let too_long = RecordChanges {
            notes: Some("x".repeat(MAX_TEXT + 1)),
            ..RecordChanges::default()
        };
        assert!(updated_record(&th, &cur, &too_long, T0).is_err());
    }

    #[test]
    fn revocation_is_a_new_version_and_final_for_updates() {
        let root = key(1);
        let th = authority(&root, "TH", 2);
        let cur = record("th.dsi.somchai", &key(20), 21);
        let signed = revoked_record(&th, &cur, "left the unit").unwrap();
        let r = signed.decode_unverified().unwrap();
        assert_eq!(r.version, 2);
        assert_eq!(
            r.status,
            RecordStatus::Revoked {
                reason: "left the unit".into()
            }
        );
        assert!(!r.is_active(T0));
        assert!(err_text(revoked_record(&th, &r, "again")).contains("already revoked"));
        assert!(revoked_record(&th, &cur, " ").is_err());
        let change = RecordChanges {
            name: Some("x".into()),
            ..RecordChanges::default()
        };
        assert!(err_text(updated_record(&th, &r, &change, T0)).contains("revoked"));
        // Clients see the revocation supersede version 1.
        let (dir, _) = Directory::build(
            &root.public_key(),
            std::slice::from_ref(&th.certificate),
            &[Signed::sign(&cur, &th.key), signed],
            &[],
            T0,
        );
        assert!(dir.device_owner(&key(21).public_key()).is_none());
    }

    #[test]
    fn devices_are_added_only_with_the_identity_endorsement_and_removed_by_fingerprint() {
        let root = key(1);
        let th = authority(&root, "TH", 2);
        let identity = key(20);
        let cur = record("th.dsi.somchai", &identity, 21);
        let ok = approval("th.dsi.somchai", &identity, 22, T0);
        let (signed, req) = record_with_device(&th, &cur, &ok, T0).unwrap();
        assert_eq!(req.prekeys.len(), 1);
        let cert = th.certificate.decode_unverified().unwrap();
        let two = verify_record(&cert, &signed).unwrap();
        assert_eq!(two.version, 2);
        assert_eq!(two.devices, [device(21), device(22)]);
        assert_eq!(two.device_endorsements.len(), 2);

        // Endorsed by another key (say, the new device's owner pretending),
        // for another id, already present, too old: refused.
        let mut forged = approval("th.dsi.somchai", &key(30), 22, T0);
        assert!(
            err_text(record_with_device(&th, &cur, &forged, T0)).contains("was made with identity")
        );
        forged.identity_key = identity.public_key();
        assert!(
            err_text(record_with_device(&th, &cur, &forged, T0))
                .contains("not endorsed by the identity key")
        );
        let other = approval("th.dsi.other", &identity, 22, T0);
        assert!(
            err_text(record_with_device(&th, &cur, &other, T0)).contains("not for th.dsi.somchai")
        );
        assert!(err_text(record_with_device(&th, &two, &ok, T0)).contains("already a device"));
        let late = T0.plus_millis((MAX_DEVICE_REQUEST_AGE_DAYS + 1) * DAY_MS);
        assert!(err_text(record_with_device(&th, &cur, &ok, late)).contains("days ago"));
        // A request signed by a key other than its device's.
        let mut bad = ok.clone();
        let inner = bad.request.decode_unverified().unwrap();
        bad.request = Signed::sign(&inner, &key(31));
        assert!(err_text(record_with_device(&th, &cur, &bad, T0)).contains("does not verify"));
        // The approval file round-trips through its armour.
        let text = liaison_protocol::armor::armor_wire(ArmorKind::DeviceApproval, &ok);
        assert_eq!(parse_device_approval(&text).unwrap(), ok);

        // Remove the first device by a fingerprint prefix with spaces.
        let fp = key(21).public_key().fingerprint().to_string();
        let prefix = fp.get(..14).unwrap();
        let (signed, removed) = record_without_device(&th, &two, prefix).unwrap();
        assert_eq!(removed, device(21));
        let one = verify_record(&cert, &signed).unwrap();
        assert_eq!((one.version, one.devices.clone()), (3, vec![device(22)]));
        // ... and by the hex key; the last device is not removed.
        let last = err_text(record_without_device(
            &th,
            &one,
            &key(22).public_key().to_hex(),
        ));
        assert!(last.contains("only device"), "{last}");
        assert!(err_text(record_without_device(&th, &one, "deadbeef")).contains("no device"));
        assert!(record_without_device(&th, &one, "xyz").is_err());
    }

    #[test]
    fn roles_are_built_and_handed_over() {
        let root = key(1);
        let th = authority(&root, "TH", 2);
        let recs = [
            Signed::sign(&record("th.dsi.a", &key(20), 21), &th.key),
            Signed::sign(&record("th.dsi.b", &key(22), 23), &th.key),
        ];
        let (dir, _) = Directory::build(
            &root.public_key(),
            std::slice::from_ref(&th.certificate),
            &recs,
            &[],
            T0,
        );
        let mut params = RoleParams {
            id: id("th.dsi.tip-duty"),
            name: None,
            description: Some("24/7 TIP desk".into()),
            holders: vec![id("th.dsi.a")],
            valid_days: None,
        };
        assert!(err_text(role_record(&th, None, &params, &dir, T0)).contains("new role"));
        params.name = Some("DSI TIP duty".into());
        let (v1, warnings) = role_record(&th, None, &params, &dir, T0).unwrap();
        assert!(warnings.is_empty());
        let r1 = v1.decode_unverified().unwrap();
        assert_eq!((r1.version, r1.holders.clone()), (1, vec![id("th.dsi.a")]));

        // Handover: a new version, other holders, name kept.
        let handover = RoleParams {
            name: None,
            description: None,
            holders: vec![id("th.dsi.b"), id("th.dsi.ghost")],
            ..params.clone()
        };
        let (v2, warnings) = role_record(&th, Some(&r1), &handover, &dir, T0).unwrap();
        let r2 = v2.decode_unverified().unwrap();
        assert_eq!(r2.version, 2);
        assert_eq!(r2.name, "DSI TIP duty");
        assert_eq!(r2.description, "24/7 TIP desk");
        assert_eq!(r2.holders, [id("th.dsi.b"), id("th.dsi.ghost")]);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("th.dsi.ghost"));
        let (dir2, rejected) = Directory::build(
            &root.public_key(),
            std::slice::from_ref(&th.certificate),
            &recs,
            &[v1, v2],
            T0,
        );
        assert!(rejected.is_empty(), "{rejected:?}");
        let reach: Vec<_> = dir2
            .resolve(&id("th.dsi.tip-duty"), T0)
            .iter()
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(reach, [id("th.dsi.b")]);

        // Holders of another country, duplicates, a focal point's id.
        let foreign = RoleParams {
            holders: vec![id("ph.pnp.bob")],
            ..params.clone()
        };
        let e = err_text(role_record(&th, None, &foreign, &dir, T0));
        assert!(e.contains("ph.pnp.bob cannot hold the TH role"), "{e}");
        let dup = RoleParams {
            holders: vec![id("th.dsi.a"), id("th.dsi.a")],
            ..params.clone()
        };
        assert!(err_text(role_record(&th, None, &dup, &dir, T0)).contains("twice"));
        let clash = RoleParams {
            id: id("th.dsi.a"),
            ..params.clone()
        };
        assert!(err_text(role_record(&th, None, &clash, &dir, T0)).contains("focal point's id"));
        let empty = RoleParams {
            holders: vec![],
            ..params
        };
        let (_, w) = role_record(&th, None, &empty, &dir, T0).unwrap();
        assert!(w[0].contains("reach nobody"));
    }

    #[test]
    fn another_countrys_authority_is_refused_naming_the_rule() {
        let root = key(1);
        let ph = authority(&root, "PH", 3);
        let th_rec = record("th.dsi.x", &key(20), 21);
        let rule = "the PH authority cannot update th.dsi.x: only the TH authority can";
        let change = RecordChanges {
            name: Some("Mallory".into()),
            ..RecordChanges::default()
        };
        assert!(err_text(updated_record(&ph, &th_rec, &change, T0)).contains(rule));
        assert!(
            err_text(revoked_record(&ph, &th_rec, "because"))
                .contains("the PH authority cannot revoke th.dsi.x: only the TH authority can")
        );
        assert!(
            err_text(record_without_device(&ph, &th_rec, "deadbeef00"))
                .contains("the PH authority cannot")
        );
        let a = approval("th.dsi.x", &key(20), 22, T0);
        assert!(
            err_text(record_with_device(&ph, &th_rec, &a, T0))
                .contains("the PH authority cannot add a device to th.dsi.x")
        );
        let params = RoleParams {
            id: id("th.dsi.duty"),
            name: Some("x".into()),
            description: None,
            holders: vec![],
            valid_days: None,
        };
        assert!(
            err_text(role_record(&ph, None, &params, &Directory::default(), T0))
                .contains("the PH authority cannot publish the role th.dsi.duty")
        );
        let e = check_jurisdiction(cc("PH"), "enrol", &id("th.dsi.x")).unwrap_err();
        assert!(
            format!("{e:#}")
                .contains("the PH authority cannot enrol th.dsi.x: only the TH authority can")
        );
        assert!(hint_of(&e).unwrap().contains("ask the TH authority"));
        assert!(check_jurisdiction(cc("TH"), "enrol", &id("th.dsi.x")).is_ok());
    }

    #[test]
    fn bundles_are_validated() {
        use liaison_protocol::log::{CosignatureSigner, NoteSigner};
        let dir_log = NoteSigner::from_seed("liaison.example/directory", &[5; 32]).unwrap();
        let ev_log = NoteSigner::from_seed("liaison.example/events", &[6; 32]).unwrap();
        let witness = CosignatureSigner::from_seed("witness.th.example", &[7; 32]).unwrap();
        let mut p = BundleParams {
            network: "liaison".into(),
            root_key: key(1).public_key().to_hex().to_ascii_uppercase(),
            relay_addr: "relay.example:7443".into(),
            cert_sha256: hex::encode([9u8; 32]),
            directory_log_key: dir_log.verifier().to_vkey(),
            event_log_key: ev_log.verifier().to_vkey(),
            witnesses: vec![witness.verifier().to_vkey()],
            quorum: 1,
        };
        let b = make_bundle(&p).unwrap();
        assert_eq!(b.root().unwrap(), key(1).public_key());
        assert_eq!(Bundle::from_toml(&b.to_toml()).unwrap(), b);
        assert_eq!(b.quorum().unwrap(), 1);
        p.quorum = 2;
        assert!(
            make_bundle(&p).is_err(),
            "quorum above the number of witnesses"
        );
        p.quorum = 1;
        p.event_log_key = "not a key".into();
        assert!(make_bundle(&p).is_err());
        p.event_log_key = ev_log.verifier().to_vkey();
        p.cert_sha256 = "abcd".into();
        assert!(make_bundle(&p).is_err());
    }

    #[test]
    fn root_key_file_round_trip_and_hints() {
        let root = key(1);
        let text = root_key_text(&root);
        assert_eq!(
            parse_root_key(&text).unwrap().public_key(),
            root.public_key()
        );
        assert!(parse_root_key("zz").is_err());
        let e = hinted("boom", "do this");
        assert_eq!(
            hint_of(&e.context("while testing")).as_deref(),
            Some("do this")
        );
        let io = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
        assert!(hint_of(&io).unwrap().contains("another --out"));
    }
}
