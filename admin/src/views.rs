//! What the tool shows: typed views of what was signed and of the
//! directory, each rendered as JSON (`--json`, for scripts) and as text
//! (for people) from the same values.
//!
//! JSON objects are printed with their keys in sorted order, as they always
//! have been: [`to_json`] goes through `serde_json::Value`.

use std::fmt;

use liaison_protocol::armor::{ArmorKind, dearmor};
use liaison_protocol::bundle::AuthorityRequest;
use liaison_protocol::directory::{
    AuthorityCertificate, Directory, FocalPointRecord, RecordStatus, RoleRecord,
};
use liaison_protocol::message::{DeviceApproval, DeviceRequest, EnrolmentRequest};
use liaison_protocol::{DecodeError, Signed, Timestamp, Wire};
use serde::Serialize;
use serde_json::{Value, json};

use crate::ceremony::parse_certificate_file;
use crate::directory::AuthorityView;
use crate::error::AdminError;

/// `value` as JSON.
pub fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// A summary of something just signed, printed by every signing command.
#[derive(Clone, Debug, Serialize)]
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
        to_json(self)
    }

    /// As JSON once published, with what the command adds (`details`, an
    /// object such as `{"reason": ...}`).
    pub fn published_json(&self, details: &impl Serialize) -> Value {
        #[derive(Serialize)]
        struct Published<'a, D> {
            #[serde(flatten)]
            signing: &'a Signing,
            published: bool,
            #[serde(flatten)]
            details: D,
        }
        to_json(&Published {
            signing: self,
            published: true,
            details,
        })
    }

    /// As JSON together with the certificate it is about (`root certify`,
    /// `renew`, `revoke-authority`) and what the command adds.
    pub fn certificate_json(&self, cert: &AuthorityCertificate, details: &impl Serialize) -> Value {
        #[derive(Serialize)]
        struct WithCertificate<'a, D> {
            #[serde(flatten)]
            signing: &'a Signing,
            // Its `fingerprint` is the signing's: the authority key's.
            #[serde(flatten)]
            certificate: CertificateView,
            #[serde(flatten)]
            details: D,
        }
        to_json(&WithCertificate {
            signing: self,
            certificate: CertificateView::new(cert),
            details,
        })
    }

    /// The sentence saying it was signed and published.
    pub fn published_text(&self) -> String {
        format!("{}; published", self.sentence())
    }

    /// The summary as a sentence (capitalised).
    pub fn sentence(&self) -> String {
        let text = self.to_string();
        let mut c = text.chars();
        match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => String::new(),
        }
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

/// An authority certificate (or revocation), as shown.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateView {
    /// The authority's country.
    pub country: String,
    /// The authority's name.
    pub name: String,
    /// The authority key's fingerprint.
    pub fingerprint: String,
    /// The authority key, hex.
    pub key: String,
    /// The serial.
    pub serial: u64,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whether this is a revocation.
    pub revoked: bool,
}

impl CertificateView {
    /// The view of `c`.
    pub fn new(c: &AuthorityCertificate) -> Self {
        CertificateView {
            country: c.country.to_string(),
            name: c.name.clone(),
            fingerprint: c.key.fingerprint().to_string(),
            key: c.key.to_hex(),
            serial: c.serial,
            not_before: c.not_before.to_rfc3339(),
            not_after: c.not_after.to_rfc3339(),
            revoked: c.revoked,
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        to_json(self)
    }

    /// As JSON, with what the command adds (`details`, an object).
    pub fn with(&self, details: &impl Serialize) -> Value {
        #[derive(Serialize)]
        struct With<'a, D> {
            #[serde(flatten)]
            certificate: &'a CertificateView,
            #[serde(flatten)]
            details: D,
        }
        to_json(&With {
            certificate: self,
            details,
        })
    }
}

/// A device of a record, as shown.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceView {
    /// The signing key's fingerprint.
    pub fingerprint: String,
    /// The signing key, hex.
    pub key: String,
}

/// A record's state at the time of showing.
#[derive(Clone, Debug, Serialize)]
pub struct StatusView {
    /// "active", "expired" or "revoked".
    pub state: &'static str,
    /// Why it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The authority whose signature vouches for a record.
#[derive(Clone, Debug, Serialize)]
pub struct VoucherView {
    /// Its country.
    pub country: String,
    /// Its name.
    pub name: String,
    /// Its key's fingerprint.
    pub fingerprint: String,
}

/// A focal point's record, as `list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordView {
    /// The id.
    pub id: String,
    /// The version.
    pub version: u64,
    /// The country.
    pub country: String,
    /// Full name.
    pub name: String,
    /// Agency.
    pub agency: String,
    /// Unit.
    pub unit: String,
    /// Roles held (informational).
    pub roles: Vec<String>,
    /// Languages.
    pub languages: Vec<String>,
    /// IANA time zone.
    pub time_zone: String,
    /// Working hours.
    pub working_hours: String,
    /// Contact notes.
    pub notes: String,
    /// The identity key's fingerprint.
    pub identity_fingerprint: String,
    /// The identity key, hex.
    pub identity_key: String,
    /// The devices.
    pub devices: Vec<DeviceView>,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// The state now.
    pub status: StatusView,
    /// The authority that signed it, if known.
    pub vouched_by: Option<VoucherView>,
}

impl RecordView {
    /// The view of `r` in `dir` at `at`.
    pub fn new(dir: &Directory, r: &FocalPointRecord, at: Timestamp) -> Self {
        let vouched_by = dir
            .signed_record(&r.id)
            .and_then(|s| dir.authority(s.signer()))
            .map(|a| VoucherView {
                country: a.country.to_string(),
                name: a.name.clone(),
                fingerprint: a.key.fingerprint().to_string(),
            });
        let status = match &r.status {
            RecordStatus::Revoked { reason } => StatusView {
                state: "revoked",
                reason: Some(reason.clone()),
            },
            RecordStatus::Active if r.is_active(at) => StatusView {
                state: "active",
                reason: None,
            },
            RecordStatus::Active => StatusView {
                state: "expired",
                reason: None,
            },
        };
        RecordView {
            id: r.id.to_string(),
            version: r.version,
            country: r.country.to_string(),
            name: r.name.clone(),
            agency: r.agency.clone(),
            unit: r.unit.clone(),
            roles: r.roles.clone(),
            languages: r.languages.clone(),
            time_zone: r.time_zone.clone(),
            working_hours: r.working_hours.clone(),
            notes: r.notes.clone(),
            identity_fingerprint: r.identity_key.fingerprint().to_string(),
            identity_key: r.identity_key.to_hex(),
            devices: r
                .devices
                .iter()
                .map(|d| DeviceView {
                    fingerprint: d.signing.fingerprint().to_string(),
                    key: d.signing.to_hex(),
                })
                .collect(),
            not_before: r.not_before.to_rfc3339(),
            not_after: r.not_after.to_rfc3339(),
            status,
            vouched_by,
        }
    }

    /// As text lines, as `list` shows a focal point.
    fn render(&self, out: &mut Lines) {
        let state = match &self.status.reason {
            None => self.status.state.to_owned(),
            Some(reason) => format!("{} ({reason})", self.status.state),
        };
        out.line(format!(
            "  {}  version {}  {}  {:?}  {} {}",
            self.id, self.version, state, self.name, self.agency, self.unit
        ));
        out.line(format!("      identity {}", self.identity_fingerprint));
        for d in &self.devices {
            out.line(format!("      device   {}", d.fingerprint));
        }
    }
}

/// A role holder and its record's state.
#[derive(Clone, Debug, Serialize)]
pub struct HolderView {
    /// The holder's id.
    pub id: String,
    /// "active", "expired", "revoked" or "missing".
    pub state: &'static str,
}

/// A role record, with its holders' states and whom it reaches now.
#[derive(Clone, Debug, Serialize)]
pub struct RoleView {
    /// The role's id.
    pub id: String,
    /// The version.
    pub version: u64,
    /// The country.
    pub country: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Holders in on-call order.
    pub holders: Vec<HolderView>,
    /// The focal points a message to the role reaches now.
    pub reaches: Vec<String>,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whether the role record is in force.
    pub active: bool,
}

impl RoleView {
    /// The view of `r` in `dir` at `at`.
    pub fn new(dir: &Directory, r: &RoleRecord, at: Timestamp) -> Self {
        RoleView {
            id: r.id.to_string(),
            version: r.version,
            country: r.country.to_string(),
            name: r.name.clone(),
            description: r.description.clone(),
            holders: r
                .holders
                .iter()
                .map(|h| HolderView {
                    id: h.to_string(),
                    state: match dir.record(h) {
                        None => "missing",
                        Some(rec) if rec.is_active(at) => "active",
                        Some(rec) if matches!(rec.status, RecordStatus::Revoked { .. }) => {
                            "revoked"
                        }
                        Some(_) => "expired",
                    },
                })
                .collect(),
            reaches: dir
                .resolve(&r.id, at)
                .iter()
                .map(|rec| rec.id.to_string())
                .collect(),
            not_before: r.not_before.to_rfc3339(),
            not_after: r.not_after.to_rfc3339(),
            active: r.is_active(at),
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        to_json(self)
    }

    /// As text, as `role show` prints it.
    pub fn render(&self) -> String {
        let mut out = Lines::default();
        self.render_into("", &mut out);
        out.0
    }

    fn render_into(&self, indent: &str, out: &mut Lines) {
        out.line(format!(
            "{indent}{}  version {}  {:?}{}",
            self.id,
            self.version,
            self.name,
            if self.active { "" } else { "  (not in force)" }
        ));
        if !self.description.is_empty() {
            out.line(format!("{indent}  {}", self.description));
        }
        let holders: Vec<String> = self
            .holders
            .iter()
            .map(|h| format!("{} ({})", h.id, h.state))
            .collect();
        out.line(format!(
            "{indent}  holders, on-call order: {}",
            holders.join(", ")
        ));
        out.line(format!(
            "{indent}  a message now reaches: {}",
            if self.reaches.is_empty() {
                "nobody".to_owned()
            } else {
                self.reaches.join(", ")
            }
        ));
        // Not indented with the role: the text has always been so.
        out.line(format!("  valid {} to {}", self.not_before, self.not_after));
    }
}

/// A directory entry that failed verification.
#[derive(Clone, Debug, Serialize)]
pub struct RejectedView {
    /// What was rejected.
    pub subject: String,
    /// Why.
    pub error: String,
}

/// The whole directory as the authority sees it (`list`).
#[derive(Clone, Debug, Serialize)]
pub struct DirectoryView {
    /// When, RFC 3339.
    pub as_of: String,
    /// The country the relay recognised the authority for.
    pub authenticated_as: String,
    /// Authority certificates, by country and start of validity.
    pub authorities: Vec<CertificateView>,
    /// Focal points.
    pub records: Vec<RecordView>,
    /// Roles.
    pub roles: Vec<RoleView>,
    /// What failed verification.
    pub rejected: Vec<RejectedView>,
}

impl DirectoryView {
    /// The view of `view` at `at`.
    pub fn new(view: &AuthorityView, at: Timestamp) -> Self {
        let d = &view.directory;
        let mut authorities: Vec<&AuthorityCertificate> = d.authorities().collect();
        authorities.sort_by_key(|a| (a.country, a.not_before));
        DirectoryView {
            as_of: at.to_rfc3339(),
            authenticated_as: view.country.to_string(),
            authorities: authorities.into_iter().map(CertificateView::new).collect(),
            records: d.records().map(|r| RecordView::new(d, r, at)).collect(),
            roles: d.roles().map(|r| RoleView::new(d, r, at)).collect(),
            rejected: view
                .rejected
                .iter()
                .map(|r| RejectedView {
                    subject: r.subject.clone(),
                    error: r.error.to_string(),
                })
                .collect(),
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        to_json(self)
    }

    /// As text, for people.
    pub fn render(&self) -> String {
        let mut out = Lines::default();
        out.line(format!(
            "Directory as of {}, as the {} authority sees it",
            self.as_of, self.authenticated_as
        ));
        out.line("\nAuthorities".into());
        for a in &self.authorities {
            out.line(format!(
                "  {}  {:?}  serial {}  key {}  valid to {}",
                a.country, a.name, a.serial, a.fingerprint, a.not_after
            ));
        }
        out.line("\nFocal points".into());
        if self.records.is_empty() {
            out.line("  (none)".into());
        }
        for r in &self.records {
            r.render(&mut out);
        }
        out.line("\nRoles".into());
        if self.roles.is_empty() {
            out.line("  (none)".into());
        }
        for r in &self.roles {
            r.render_into("  ", &mut out);
        }
        if !self.rejected.is_empty() {
            out.line("\nRejected (failed verification; left out)".into());
            for r in &self.rejected {
                out.line(format!("  {}: {}", r.subject, r.error));
            }
        }
        out.0
    }
}

/// Text built line by line.
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn line(&mut self, s: String) {
        self.0.push_str(&s);
        self.0.push('\n');
    }
}

/// A JSON object as aligned `key: value` lines, keys in order (`show`,
/// `authority show`).
pub fn render_fields(v: &Value) -> String {
    let mut out = Lines::default();
    if let Some(o) = v.as_object() {
        let width = o.keys().map(String::len).max().unwrap_or(0) + 1;
        for (k, val) in o {
            let shown = match val {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.line(format!("{:width$} {shown}", format!("{k}:")));
        }
    }
    out.0
}

/// Describe any armoured Liaison file (for `liaison-admin show`): what it
/// is, what it says and whether its own signatures hold. Trust in the
/// signer is not established here.
pub fn describe_file(text: &str) -> Result<Value, AdminError> {
    let (kind, bytes) = dearmor(text)?;
    let malformed = |error: DecodeError| AdminError::Malformed {
        what: noun(kind),
        error,
    };
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
            CertificateView::new(&c).with(&json!({
                "kind": if c.revoked {
                    "authority-revocation"
                } else {
                    "authority-certificate"
                },
                "signed_by": signed.signer().fingerprint().to_string(),
                "signed_by_key": signed.signer().to_hex(),
                "signature_valid": signed.verify().is_ok(),
            }))
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
                "device_proof_valid": a.device_proof.is_some_and(|proof| {
                    liaison_protocol::directory::verify_device_proof(
                        &r.id,
                        &a.identity_key,
                        &r.device,
                        &proof,
                    )
                    .is_ok()
                }),
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

/// What a file of `kind` is, for "malformed ..." messages.
fn noun(kind: ArmorKind) -> &'static str {
    match kind {
        ArmorKind::EnrolmentRequest => "enrolment request",
        ArmorKind::DeviceRequest => "device request",
        ArmorKind::DeviceApproval => "device approval",
        ArmorKind::AuthorityRequest => "authority request",
        ArmorKind::AuthorityCertificate => "authority certificate",
        ArmorKind::AuthorityRevocation => "authority revocation",
    }
}
