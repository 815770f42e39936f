//! Why an authority or root operation was refused, and what to do about it.
//!
//! [`AdminError`] keeps three kinds of failure apart: the operator's input
//! or files (most variants: a rule of the directory, a certificate for
//! another key, a path that exists), the relay refusing a request
//! ([`AdminError::RelayRefused`], with its error code) or not being
//! reachable, and the relay answering what no honest relay answers
//! ([`RelayFault`]). Every variant that has a recovery hint gives it through
//! [`AdminError::hint`]; [`hint_of`] finds one anywhere in an error chain.

use std::error::Error as StdError;
use std::path::PathBuf;

use liaison_net::LinkError;
use liaison_protocol::armor::{ArmorError, ArmorKind};
use liaison_protocol::bundle::BundleError;
use liaison_protocol::frames::{ErrorCode, WireError};
use liaison_protocol::message::EnrolmentRequestError;
use liaison_protocol::{CountryCode, DecodeError, DirectoryId, PublicKey, Timestamp, VerifyError};

/// The relay answered what no honest relay answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayFault {
    /// An answer of the wrong kind.
    #[error("unexpected answer {to}: {answer}")]
    UnexpectedAnswer {
        /// The request, as "to GetDirectory" or "publishing record X".
        to: String,
        /// The kind of the answer.
        answer: &'static str,
    },
}

/// Why an operation of `liaison-admin` was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    // ----- Files
    /// A file could not be read.
    #[error("reading {what} {}", path.display())]
    Read {
        /// What the file is ("bundle", "authority key", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be created, written or replaced.
    #[error("{action} {}", path.display())]
    Write {
        /// "creating", "writing" or "replacing".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file to be written exists already: nothing is overwritten.
    #[error("{} already exists", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A path names no file.
    #[error("{} is not a file path", path.display())]
    NotAFilePath {
        /// The path.
        path: PathBuf,
    },
    /// A bundle file does not parse or validate.
    #[error("bundle {}", path.display())]
    BundleFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: BundleError,
    },
    /// An authority key file does not parse (or is not certified yet).
    #[error("authority key {}", path.display())]
    AuthorityKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: BundleError,
    },
    /// A root key is not 64 hex digits.
    #[error("a root key file holds 64 hex digits")]
    RootKey,
    /// A root key file is not 64 hex digits.
    #[error("root key {}: a root key file holds 64 hex digits", path.display())]
    RootKeyFile {
        /// The file.
        path: PathBuf,
    },
    /// A secret key file is in the clear and not marked as a development
    /// network's: `liaison-admin` uses only sealed keys.
    #[error("{} holds a secret key that is not encrypted", path.display())]
    Unsealed {
        /// The file.
        path: PathBuf,
    },
    /// A sealed key file did not open (wrong passphrase, altered, or not a
    /// sealed file this tool reads).
    #[error("{}: {source}", path.display())]
    Sealed {
        /// The file.
        path: PathBuf,
        /// Why.
        source: crate::sealed::SealError,
    },
    /// `key seal` on a key file that is sealed already.
    #[error("{} is already encrypted", path.display())]
    AlreadySealed {
        /// The file.
        path: PathBuf,
    },
    /// No passphrase could be had, or a new one is too weak.
    #[error("{0}")]
    Passphrase(String),
    /// The operating system's random generator failed.
    #[error("OS random generator failed: {0}")]
    Random(getrandom::Error),
    /// A bundle lacks what the operation needs, or is invalid.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A text is not the armoured file expected.
    #[error(transparent)]
    Armor(#[from] ArmorError),
    /// An enrolment request does not read or verify.
    #[error(transparent)]
    EnrolmentRequest(#[from] EnrolmentRequestError),
    /// A file's content does not decode.
    #[error("malformed {what}: {error}")]
    Malformed {
        /// What it should be.
        what: &'static str,
        /// What the decoder said.
        error: DecodeError,
    },
    /// A signed object's body does not decode.
    #[error("malformed {what}: {error}")]
    MalformedBody {
        /// What it should be.
        what: &'static str,
        /// What the decoder said.
        error: VerifyError,
    },
    /// Something just signed or fetched does not decode.
    #[error(transparent)]
    Body(#[from] VerifyError),

    // ----- The root ceremony and authority certificates
    /// An authority's name is unusable.
    #[error("authority name: {0}")]
    AuthorityName(BundleError),
    /// An authority request's self-signature does not verify.
    #[error("the authority request does not verify: {0}")]
    RequestSignature(VerifyError),
    /// An authority request is for the root key itself.
    #[error("the request is for the network root key itself; an authority needs its own key")]
    RequestForRoot,
    /// A file of another kind was given as a certificate.
    #[error("this file is {kind}, not an authority certificate or revocation")]
    NotACertificate {
        /// What the file is.
        kind: ArmorKind,
    },
    /// A certificate's armour label disagrees with its content.
    #[error("the file is labelled {kind} but its content says otherwise; it was edited")]
    Mislabelled {
        /// The label's kind.
        kind: ArmorKind,
    },
    /// A certificate is not signed by this network root.
    #[error("this certificate is not signed by this network root key")]
    NotSignedByRoot,
    /// A certificate's signature does not verify at all.
    #[error("the certificate's signature does not verify: {0}")]
    CertificateSignature(VerifyError),
    /// The authority's own certificate is not valid for this network now.
    #[error("your authority certificate is not valid for this network: {0}")]
    AuthorityNotValid(VerifyError),
    /// A revoked authority key cannot be renewed.
    #[error(
        "the {country} authority key {} is revoked; a revocation is final: certify a new key \
         instead",
        key.fingerprint()
    )]
    RevokedAuthority {
        /// The authority's country.
        country: CountryCode,
        /// The revoked key.
        key: PublicKey,
    },
    /// A revocation cannot be revoked again.
    #[error("this is already a revocation (serial {serial})")]
    AlreadyRevocation {
        /// Its serial.
        serial: u64,
    },
    /// A serial given must be higher than the current one.
    #[error("serial {serial} is not higher than the certificate's serial {current}")]
    SerialNotHigher {
        /// The serial given.
        serial: u64,
        /// The certificate's serial.
        current: u64,
    },
    /// There is no next serial.
    #[error("serial overflow")]
    SerialOverflow,
    /// A validity period out of range.
    #[error("validity must be between 1 and 3660 days (got {days})")]
    Validity {
        /// The days asked for.
        days: u64,
    },
    /// A file given as an authority key file is not one.
    #[error("not an authority key file: {0}")]
    NotAKeyFile(BundleError),
    /// The certificate installed in a key file does not decode.
    #[error("installed certificate: {0}")]
    InstalledCertificate(VerifyError),
    /// A certificate for another key than the key file's.
    #[error(
        "this certificate is for key {}, not for this key file's key {}",
        certified.fingerprint(),
        held.fingerprint()
    )]
    CertificateForAnotherKey {
        /// The certified key.
        certified: PublicKey,
        /// The key file's key.
        held: PublicKey,
    },
    /// A certificate for another country than the key file's.
    #[error("this certificate is for {certified}, but this key file is the {held} authority's")]
    CertificateForAnotherCountry {
        /// The certified country.
        certified: CountryCode,
        /// The key file's country.
        held: CountryCode,
    },
    /// A revocation given where a certificate was expected.
    #[error("this is a revocation, not a certificate: the key can no longer be used")]
    InstallingRevocation,
    /// An expired certificate.
    #[error("this certificate expired at {}", at.to_rfc3339())]
    CertificateExpired {
        /// When it expired.
        at: Timestamp,
    },
    /// A certificate not newer than the one installed.
    #[error(
        "this certificate (serial {serial}) is not newer than the installed one (serial \
         {installed})"
    )]
    CertificateNotNewer {
        /// The new certificate's serial.
        serial: u64,
        /// The installed certificate's serial.
        installed: u64,
    },
    /// A witness key with a comma (the bundle's separator).
    #[error("a witness key cannot contain a comma; repeat --witness for each")]
    WitnessComma,
    /// A bundle value the bundle format cannot hold.
    #[error("values cannot contain quotes, backslashes or line breaks")]
    BundleValue,

    // ----- Directory rules
    /// An authority signs directory entries of its own country only.
    #[error(
        "the {authority} authority cannot {action} {id}: only the {} authority can (an \
         authority signs directory entries of its own country only)",
        id.country()
    )]
    Jurisdiction {
        /// The authority's country.
        authority: CountryCode,
        /// What it tried: "enrol", "update", "add a device to", ...
        action: &'static str,
        /// The id of another country.
        id: DirectoryId,
    },
    /// A record would not pass the checks of the relay and clients.
    #[error("record would be invalid: {0}")]
    InvalidRecord(VerifyError),
    /// A role would not pass the checks of the relay and clients.
    #[error("role would be invalid: {0}")]
    InvalidRole(VerifyError),
    /// There is no next version.
    #[error("record version overflow")]
    VersionOverflow,
    /// A revoked focal point cannot be changed.
    #[error("{id} is revoked (\"{reason}\"); cannot {action} a revoked focal point")]
    Revoked {
        /// The focal point.
        id: DirectoryId,
        /// Why it was revoked.
        reason: String,
        /// Its current version.
        version: u64,
        /// What was tried.
        action: &'static str,
    },
    /// The id already has a record of this version or a newer one.
    #[error(
        "{id} is already enrolled at version {version}, so version {asked} cannot be published{}",
        replaces.map(|k| format!(
            "; its record has identity fingerprint {}, and this request another identity",
            k.fingerprint()
        )).unwrap_or_default()
    )]
    VersionExists {
        /// The focal point.
        id: DirectoryId,
        /// Its current version.
        version: u64,
        /// The version asked for.
        asked: u64,
        /// The identity the request would replace, if it is another one.
        replaces: Option<PublicKey>,
    },
    /// The request is the one the current record was made from.
    #[error("{id} is already enrolled with this request's identity and device (version {version})")]
    AlreadyEnrolled {
        /// The focal point.
        id: DirectoryId,
        /// Its current version.
        version: u64,
    },
    /// A new version with another identity key, not confirmed (or confirmed
    /// with another fingerprint than the current identity's).
    #[error(
        "enrolling this request as version {version} of {id} would replace its identity: the \
         current record has identity fingerprint {}, the request {}. Whoever holds the current \
         identity would lose access to {id}{}",
        current.fingerprint(),
        new.fingerprint(),
        given.as_ref().map(|g| format!(
            " (--replace-identity {g} is not the current identity's fingerprint)"
        )).unwrap_or_default()
    )]
    IdentityReplacement {
        /// The focal point.
        id: DirectoryId,
        /// The version asked for.
        version: u64,
        /// The identity key in force.
        current: PublicKey,
        /// The request's identity key.
        new: PublicKey,
        /// The confirmation given, if any.
        given: Option<String>,
    },
    /// `--replace-identity` with nothing to replace.
    #[error(
        "--replace-identity was given, but enrolling this request replaces no identity of {id}"
    )]
    NothingToReplace {
        /// The focal point.
        id: DirectoryId,
    },
    /// A focal point is revoked already.
    #[error("{id} is already revoked (version {version})")]
    AlreadyRevoked {
        /// The focal point.
        id: DirectoryId,
        /// Its current version.
        version: u64,
    },
    /// An update that changes nothing.
    #[error("nothing to change in {id}")]
    NothingToChange {
        /// The focal point.
        id: DirectoryId,
    },
    /// A record field longer than records allow.
    #[error("a field is longer than {max} bytes")]
    FieldTooLong {
        /// The limit.
        max: usize,
    },
    /// A revocation reason that is empty or too long.
    #[error("give a reason of 1 to {max} bytes (it is shown to everyone reading the directory)")]
    Reason {
        /// The limit.
        max: usize,
    },
    /// A device selector that is neither a key nor a fingerprint prefix.
    #[error("give the device's key in hex or its fingerprint (at least 8 hex digits)")]
    DeviceSelector,
    /// No device of the record matches.
    #[error("{id} has no device {selector}")]
    NoSuchDevice {
        /// The focal point.
        id: DirectoryId,
        /// The selector given.
        selector: String,
        /// The fingerprints of its devices.
        devices: Vec<String>,
    },
    /// More than one device matches.
    #[error("{selector} matches more than one device of {id}")]
    AmbiguousDevice {
        /// The focal point.
        id: DirectoryId,
        /// The selector given.
        selector: String,
    },
    /// The last device of a record cannot be removed.
    #[error("{selector} is the only device of {id}; a record needs at least one device")]
    LastDevice {
        /// The focal point.
        id: DirectoryId,
        /// The selector given.
        selector: String,
    },
    /// An approval the new device has not completed with its proof.
    #[error(
        "this approval for {id} has no proof from the new device: the new device must link \
         with it first"
    )]
    DeviceNotLinked {
        /// The focal point.
        id: DirectoryId,
    },
    /// The new device's proof of possession does not verify.
    #[error(
        "the proof of device {} does not verify for {id} and its identity key; refusing to add \
         the device",
        device.fingerprint()
    )]
    BadDeviceProof {
        /// The focal point.
        id: DirectoryId,
        /// The device.
        device: PublicKey,
    },
    /// The device request inside an approval does not verify.
    #[error("the device request inside the approval does not verify: {0}")]
    DeviceRequestSignature(VerifyError),
    /// An approval for another focal point.
    #[error("the approval is for {approved}, not for {id}")]
    ApprovalForAnother {
        /// Whom the approval is for.
        approved: DirectoryId,
        /// The record being changed.
        id: DirectoryId,
    },
    /// An approval made with another identity than the record's.
    #[error(
        "the approval was made with identity {}, but {id}'s current record has identity {}; \
         refusing to add the device",
        approved_by.fingerprint(),
        current.fingerprint()
    )]
    ApprovalIdentity {
        /// The focal point.
        id: DirectoryId,
        /// The identity the approval names.
        approved_by: PublicKey,
        /// The identity of the current record.
        current: PublicKey,
    },
    /// The endorsement does not verify under the record's identity key.
    #[error(
        "the approval is not endorsed by the identity key of {id}'s current record (identity \
         fingerprint {}); refusing to add the device",
        identity.fingerprint()
    )]
    NotEndorsed {
        /// The focal point.
        id: DirectoryId,
        /// The identity of the current record.
        identity: PublicKey,
    },
    /// A device request too old to countersign.
    #[error(
        "the device request was made on {}, more than {max_days} days ago",
        created_at.to_rfc3339()
    )]
    DeviceRequestTooOld {
        /// When it was made.
        created_at: Timestamp,
        /// The oldest accepted, in days.
        max_days: u64,
    },
    /// A device request dated in the future.
    #[error(
        "the device request claims to be made in the future ({}); check the clocks",
        created_at.to_rfc3339()
    )]
    DeviceRequestInFuture {
        /// The date it claims.
        created_at: Timestamp,
    },
    /// The device is already on the record.
    #[error(
        "device {} is already a device of {id} (version {version})",
        device.fingerprint()
    )]
    AlreadyADevice {
        /// The device's signing key.
        device: PublicKey,
        /// The focal point.
        id: DirectoryId,
        /// The record's version.
        version: u64,
    },
    /// The device belongs to another focal point.
    #[error(
        "device {} already belongs to {owner}; a device belongs to one focal point",
        device.fingerprint()
    )]
    DeviceOfAnother {
        /// The device's signing key.
        device: PublicKey,
        /// The focal point it belongs to.
        owner: DirectoryId,
    },
    /// The record lists as many devices as a record can.
    #[error("{id} already has {max} devices, the most a record can list")]
    TooManyDevices {
        /// The focal point.
        id: DirectoryId,
        /// The limit.
        max: usize,
    },
    /// A role holder of another country.
    #[error(
        "{holder} cannot hold the {country} role {role}: role holders are focal points of the \
         role's own country"
    )]
    ForeignHolder {
        /// The holder.
        holder: DirectoryId,
        /// The role's country.
        country: CountryCode,
        /// The role.
        role: DirectoryId,
    },
    /// A holder listed twice.
    #[error("{holder} is listed twice; give each holder once, in on-call order")]
    DuplicateHolder {
        /// The holder.
        holder: DirectoryId,
    },
    /// A role id that is a focal point's.
    #[error("{id} is a focal point's id; a role needs an id of its own")]
    RoleIdTaken {
        /// The id.
        id: DirectoryId,
    },
    /// A new role without a name.
    #[error("{id} is a new role")]
    RoleNeedsName {
        /// The role.
        id: DirectoryId,
    },
    /// No verified record of the id.
    #[error("{id} has no record in the directory")]
    NoRecord {
        /// The id.
        id: DirectoryId,
    },
    /// The id's record is in the directory but does not verify.
    #[error("{id}'s record in the directory does not verify: {reasons}")]
    RecordRejected {
        /// The id.
        id: DirectoryId,
        /// Why, joined.
        reasons: String,
    },
    /// No verified role record of the id.
    #[error("{id} has no role record in the directory")]
    NoRole {
        /// The id.
        id: DirectoryId,
    },

    // ----- The relay
    /// The relay could not be reached.
    #[error("{0}")]
    Connect(LinkError),
    /// The relay did not accept the authority key.
    #[error("{}", refused_key(.0))]
    AuthorityRefused(LinkError),
    /// The relay knows the key, but not as a country authority's.
    #[error("the relay did not recognise this key as a country authority (it answered {answer})")]
    NotAnAuthority {
        /// The kind of its answer.
        answer: &'static str,
    },
    /// The relay refused a request, with an error code.
    #[error("the relay refused {what}: {refusal}")]
    RelayRefused {
        /// What was asked, as "publishing record X version 2".
        what: String,
        /// The relay's code and message.
        refusal: WireError,
    },
    /// A request failed on the way (connection lost, timeout).
    #[error("{what} failed: {error}")]
    Link {
        /// What was asked.
        what: String,
        /// What failed.
        error: LinkError,
    },
    /// The relay misbehaved.
    #[error(transparent)]
    Relay(#[from] RelayFault),
}

fn refused_key(e: &LinkError) -> String {
    match e {
        LinkError::Refused(w) => format!(
            "the relay refused this key ({}): {}",
            w.code.code(),
            w.message
        ),
        other => other.to_string(),
    }
}

const REVOKED_FOR_GOOD: &str = "a revocation is final: the directory never uses a revoked id \
                                again; enrol the person under a new id";

/// A key's fingerprint as an argument to paste: its hex digits, no spaces.
fn fingerprint_arg(key: &PublicKey) -> String {
    key.fingerprint().to_string().replace(' ', "")
}

const CHECK_RELAY: &str =
    "check that the relay is running and that the bundle pins its current certificate";
const APPROVE_ON_IDENTITY: &str = "the focal point must approve the new device on a device that \
                                   holds its identity (liaison device approve)";

impl AdminError {
    /// A failed request: the relay's refusal, or the link's failure.
    pub(crate) fn request(what: impl Into<String>, e: LinkError) -> AdminError {
        match e {
            LinkError::Refused(refusal) => AdminError::RelayRefused {
                what: what.into(),
                refusal,
            },
            error => AdminError::Link {
                what: what.into(),
                error,
            },
        }
    }

    /// What to do about it, if there is a known way.
    pub fn hint(&self) -> Option<String> {
        use AdminError as E;
        let hint: String = match self {
            E::Read { source, .. } | E::Write { source, .. } => return io_hint(source),
            E::Exists { .. } => {
                "nothing is overwritten: remove it first or choose another --out".into()
            }
            E::BundleFile { source, .. }
            | E::AuthorityKeyFile { source, .. }
            | E::Bundle(source) => bundle_hint(source),
            E::Unsealed { path } => format!(
                "encrypt it under a passphrase first: liaison-admin key seal {}",
                liaison_protocol::shell::quote_path(path)
            ),
            E::Sealed {
                source: crate::sealed::SealError::WrongPassphraseOrAltered,
                ..
            } => "check the passphrase (LIAISON_ADMIN_PASSPHRASE, if set, is used instead of \
                  asking); if it is right, the file was altered: use your backup copy"
                .into(),
            E::AlreadySealed { path } => format!(
                "to change its passphrase: liaison-admin key change-passphrase {}",
                liaison_protocol::shell::quote_path(path)
            ),
            E::NotSignedByRoot => "check that you use the network's root key (compare its \
                                   fingerprint with the bundle)"
                .into(),
            E::AuthorityNotValid(_) => "have the network root renew it (`liaison-admin root \
                                        renew --help`), then install the new certificate \
                                        (`liaison-admin authority install --help`) and publish \
                                        it (`liaison-admin publish --help`)"
                .into(),
            E::SerialNotHigher { .. } => "leave out --serial to use the next one".into(),
            E::CertificateNotNewer { .. } => "nothing to do if it is already installed \
                                              (`liaison-admin authority show --help` says how \
                                              to check); otherwise install the root's latest \
                                              certificate"
                .into(),
            E::Jurisdiction { authority, id, .. } => format!(
                "ask the {} authority to do it; ids of your country start with \"{}.\"",
                id.country(),
                authority.as_str().to_ascii_lowercase()
            ),
            E::Revoked { .. } => REVOKED_FOR_GOOD.into(),
            E::AlreadyRevoked { .. } => format!("nothing to do; {REVOKED_FOR_GOOD}"),
            E::VersionExists {
                version, replaces, ..
            } => match replaces {
                None => format!(
                    "to publish this request as the record's next version, give --version {}",
                    version.saturating_add(1)
                ),
                Some(current) => format!(
                    "if the person lost the device that holds their identity and you checked \
                     this request with them, replace the identity with --version {} \
                     --replace-identity {}",
                    version.saturating_add(1),
                    fingerprint_arg(current)
                ),
            },
            E::AlreadyEnrolled { .. } => {
                "nothing to do: the focal point is enrolled and can sync".into()
            }
            E::IdentityReplacement { current, .. } => format!(
                "if the person lost the device that holds their identity and you checked this \
                 request with them, confirm the replacement: add --replace-identity {} (their \
                 client then warns them at the next sync). Otherwise enrol the request under \
                 another id",
                fingerprint_arg(current)
            ),
            E::NothingToReplace { .. } => "leave out --replace-identity".into(),
            E::NothingToChange { .. } => "give at least one of --name, --unit, --agency, \
                                          --language, --time-zone, --working-hours, --notes, \
                                          --roles, --valid-days"
                .into(),
            E::NoSuchDevice { devices, .. } => format!("its devices are: {}", devices.join("; ")),
            E::AmbiguousDevice { .. } => "give more digits of the fingerprint".into(),
            E::LastDevice { id, .. } => format!(
                "to take {id} out of service, revoke the whole record (write the reason in place of the dots): liaison-admin revoke --id {id} --reason \"...\""
            ),
            E::ApprovalIdentity { .. } | E::NotEndorsed { .. } => APPROVE_ON_IDENTITY.into(),
            E::DeviceNotLinked { .. } => "on the new device, `liaison device link` takes the \
                                          approval file made on the existing one; then \
                                          countersign the file it writes (device.approval in \
                                          the new device's home)"
                .into(),
            E::BadDeviceProof { .. } => {
                "ask the focal point for a new device request, approval and link".into()
            }
            E::DeviceRequestTooOld { .. } => {
                "ask the focal point for a new device request and approval".into()
            }
            E::AlreadyADevice { .. } => "nothing to do: the new device can sync".into(),
            E::TooManyDevices { .. } => {
                "remove a device first (see `liaison-admin revoke-device --help`)".into()
            }
            E::ForeignHolder { .. } => {
                "list only holders whose id starts with your country code".into()
            }
            E::RoleNeedsName { .. } => "give it a --name".into(),
            E::NoRecord { .. } => "check the id (`liaison-admin list`), or enrol it first \
                                   (see `liaison-admin enrol --help`)"
                .into(),
            E::NoRole { .. } => "create it first (see `liaison-admin role set --help`)".into(),
            E::Connect(_) | E::Link { .. } => CHECK_RELAY.into(),
            E::AuthorityRefused(_) => "is your authority certificate published (see \
                                       `liaison-admin publish --help`), current and not \
                                       revoked?"
                .into(),
            E::RelayRefused { refusal, .. } => refusal_hint(refusal.code).into(),
            _ => return None,
        };
        Some(hint)
    }
}

fn io_hint(e: &std::io::Error) -> Option<String> {
    match e.kind() {
        std::io::ErrorKind::NotFound => Some("check the path".into()),
        std::io::ErrorKind::AlreadyExists => {
            Some("nothing is overwritten: remove the file first or choose another --out".into())
        }
        std::io::ErrorKind::PermissionDenied => {
            Some("check the file's owner and permissions".into())
        }
        _ => None,
    }
}

fn bundle_hint(e: &BundleError) -> String {
    match e {
        BundleError::Uncertified => {
            "install your authority's certificate (see `liaison-admin authority install --help`)"
                .into()
        }
        _ => "check that the file is the one you meant and was not edited".into(),
    }
}

fn refusal_hint(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::StaleVersion => {
            "the relay already holds this version of the record or a newer one: see the current \
             version with liaison-admin list; update, revoke and the device commands read it \
             again when run again, enrol takes a higher --version"
        }
        ErrorCode::InvalidRecord | ErrorCode::InvalidSignature => {
            "the relay checks every signature, validity, the country rule and that no device \
             belongs to another record before storing anything; its message says which check \
             failed"
        }
        ErrorCode::RateLimited | ErrorCode::ShuttingDown | ErrorCode::Internal => "retry later",
        _ => "see the relay's message above",
    }
}

/// The recovery hint of an error, if any part of its chain carries one: an
/// [`AdminError`] with a hint, a bundle or key file problem, or an I/O
/// error of a kind with an obvious remedy.
pub fn hint_of(e: &(dyn StdError + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(cause) = next {
        if let Some(h) = cause
            .downcast_ref::<AdminError>()
            .and_then(AdminError::hint)
        {
            return Some(h);
        }
        if let Some(b) = cause.downcast_ref::<BundleError>() {
            return Some(bundle_hint(b));
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && let Some(h) = io_hint(io)
        {
            return Some(h);
        }
        next = cause.source();
    }
    None
}
