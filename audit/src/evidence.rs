//! The evidence report of `liaison-audit verify-message`: what a verified
//! evidence bundle proves, for a person (text) or a program (JSON).

use std::io::Read;
use std::path::{Path, PathBuf};

use liaison_protocol::consent::ReceiptKind;
use liaison_protocol::evidence::{
    EvidenceBundle, EvidenceError, EvidenceReport, JudicialBasis, Pins, content_kind,
    verify_evidence,
};
use liaison_protocol::log::event::EventKind;
use liaison_protocol::{DecodeError, DirectoryId, PublicKey, Timestamp};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why an evidence bundle proves nothing (a verdict: the tool exits 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceFailure {
    /// The file is not an evidence bundle.
    #[error("not an evidence bundle: {0}")]
    Malformed(DecodeError),
    /// A check of the bundle failed.
    #[error(transparent)]
    Invalid(#[from] EvidenceError),
    /// A file given as an attachment of the message is none of those the
    /// originator signed.
    #[error(
        "the file {file} ({size} bytes, SHA-256 {sha256}) is not an attachment the originator \
         signed: its content differs from every file the message names ({signed})"
    )]
    AttachmentMismatch {
        /// The file given.
        file: String,
        /// Its size.
        size: u64,
        /// Its SHA-256, in hex.
        sha256: String,
        /// The attachments the message names: name, size and SHA-256.
        signed: String,
    },
}

/// A file given to be checked against the message's attachments: its
/// path, size and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GivenFile {
    /// Where it was read.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// Read and hash a file given as an attachment of the message.
pub fn hash_file(path: &Path) -> std::io::Result<GivenFile> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        size += n as u64;
    }
    Ok(GivenFile {
        path: path.to_owned(),
        size,
        sha256: hasher.finalize().into(),
    })
}

/// For each attachment the verified message names (in order), the given
/// file whose size and SHA-256 are the signed ones, if any. Every given
/// file must be one of them, or the evidence fails.
pub fn match_attachments(
    r: &EvidenceReport,
    files: &[GivenFile],
) -> Result<Vec<Option<PathBuf>>, EvidenceFailure> {
    let signed = &r.payload.attachments;
    let mut matched: Vec<Option<PathBuf>> = vec![None; signed.len()];
    for f in files {
        let Some(i) = signed
            .iter()
            .position(|a| a.sha256 == f.sha256 && a.size == f.size)
        else {
            return Err(EvidenceFailure::AttachmentMismatch {
                file: f.path.display().to_string(),
                size: f.size,
                sha256: hex::encode(f.sha256),
                signed: if signed.is_empty() {
                    "none".to_owned()
                } else {
                    signed
                        .iter()
                        .map(|a| {
                            format!(
                                "{}: {} bytes, SHA-256 {}",
                                a.name.escape_debug(),
                                a.size,
                                hex::encode(a.sha256)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                },
            });
        };
        if let Some(slot) = matched.get_mut(i) {
            *slot = Some(f.path.clone());
        }
    }
    Ok(matched)
}

/// Parse an evidence bundle (binary or armoured) and verify it offline
/// against `pins` at `now`.
pub fn check_evidence(
    bytes: &[u8],
    pins: &Pins,
    now: Timestamp,
) -> Result<EvidenceReport, EvidenceFailure> {
    let bundle = EvidenceBundle::parse(bytes).map_err(EvidenceFailure::Malformed)?;
    Ok(verify_evidence(&bundle, pins, now)?)
}

/// The text shown for a bundle that does not verify.
pub fn render_failure(file: &Path, why: &EvidenceFailure) -> String {
    format!(
        "FAILED: evidence bundle {}: {why}\nVERIFICATION FAILED\n",
        file.display()
    )
}

/// The JSON shown for a bundle that does not verify.
pub fn failure_json(file: &Path, why: &EvidenceFailure) -> Value {
    json!({"verified": false, "file": file.display().to_string(), "error": why.to_string()})
}

fn receipt_kind(k: &ReceiptKind) -> &'static str {
    match k {
        ReceiptKind::Delivered => "delivered",
        ReceiptKind::HandlingAcknowledged { .. } => "handling-acknowledged",
        ReceiptKind::Deleted { .. } => "deleted",
    }
}

fn event_line(e: &liaison_protocol::evidence::EventSummary) -> String {
    let what = match &e.record.kind {
        EventKind::Accepted {
            recipient_devices,
            bytes,
            ..
        } => format!(
            "accepted by the relay for {} device(s), {bytes} bytes",
            recipient_devices.len()
        ),
        EventKind::Delivered {
            recipient_device, ..
        } => format!("delivered to device {}", recipient_device.fingerprint()),
        EventKind::Acknowledged {
            recipient_device, ..
        } => format!("acknowledged by device {}", recipient_device.fingerprint()),
        EventKind::Dropped {
            recipient_device,
            reason,
            ..
        } => format!(
            "dropped for device {} ({})",
            recipient_device.fingerprint(),
            reason.escape_debug()
        ),
        EventKind::Declared {
            kind, by_device, ..
        } => {
            let matched = match e.matches {
                Some((what, n)) => format!(" (the bundle's {what} {n})"),
                None => " (the signed object is not part of the evidence)".to_owned(),
            };
            format!(
                "{} declared by device {}{matched}",
                kind.name(),
                by_device.fingerprint()
            )
        }
    };
    format!("  #{:<8} {}  {what}", e.index, e.time)
}

/// "Name, agency, unit", leaving out empty parts.
fn who(p: &liaison_protocol::evidence::PartySummary) -> String {
    [&p.name, &p.agency, &p.unit]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.escape_debug().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report as text, for people. The message text is included only with
/// `show_content` (the handling comes first, as everywhere). `files` is
/// [`match_attachments`]'s answer (empty: no file was given).
pub fn render_report(r: &EvidenceReport, show_content: bool, files: &[Option<PathBuf>]) -> String {
    let p = &r.payload;
    let o = &r.originator;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "VERIFIED: evidence bundle for message {}",
        r.message_id
    ));
    line(format!(
        "Payload SHA-256:  {} ({}, {} bytes of text, {} attachment(s))",
        hex::encode(r.payload_hash),
        content_kind(&p.content),
        p.body.len(),
        p.attachments.len()
    ));
    for (i, a) in p.attachments.iter().enumerate() {
        let file = match files.get(i) {
            Some(Some(path)) => format!("the file {} matches", path.display()),
            _ => "file not checked (give it with --attachment)".to_owned(),
        };
        line(format!(
            "  attachment:     {} ({}, {} bytes, SHA-256 {}): {file}",
            a.name.escape_debug(),
            a.media_type.escape_debug(),
            a.size,
            hex::encode(a.sha256)
        ));
    }
    line(format!(
        "Originator:       {} — {} (record v{}, directory log #{}, certified by {})",
        o.id,
        who(o),
        o.version,
        o.record_index,
        o.authority.escape_debug()
    ));
    line(format!(
        "                  identity key fingerprint {}",
        o.identity_key.fingerprint()
    ));
    line(format!(
        "Created:          {} (originator's clock)",
        p.created_at
    ));
    line(format!(
        "Recipients:       {}",
        p.recipients
            .iter()
            .map(DirectoryId::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if p.resolved != p.recipients {
        line(format!(
            "  resolved to:    {}",
            p.resolved
                .iter()
                .map(DirectoryId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    line(format!("Handling:         {}", r.handling_text));
    for s in p.handling.explain() {
        line(format!("  - {s}"));
    }
    line(match &r.judicial_basis {
        JudicialBasis::PermittedByHandling => {
            "Judicial use:     permitted by the originator's handling (judicial=permitted)"
                .to_owned()
        }
        JudicialBasis::Consent { position, decision } => format!(
            "Judicial use:     granted by {} on {} for case {} (consent {position}){}",
            decision.decided_by,
            decision.decided_at,
            r.case_reference.as_deref().unwrap_or("?").escape_debug(),
            if decision.conditions.is_empty() {
                String::new()
            } else {
                format!("; conditions: {}", decision.conditions.escape_debug())
            }
        ),
    });
    line(format!(
        "Event log:        {} entries proven in {} at size {} (root {}, {} witness cosignature(s))",
        r.events.len(),
        r.event_checkpoint.origin,
        r.event_checkpoint.size,
        r.event_checkpoint.root.to_base64(),
        r.event_checkpoint.cosignatures.len()
    ));
    for e in &r.events {
        line(event_line(e));
    }
    line(format!("Receipts:         {}", r.receipts.len()));
    for rc in &r.receipts {
        line(format!(
            "  {} {} at {} (recipient's clock)",
            rc.by,
            receipt_kind(&rc.kind),
            rc.at
        ));
    }
    line(format!("Consents:         {}", r.consents.len()));
    for c in &r.consents {
        line(format!(
            "  {} {} on {}{}",
            if c.granted { "GRANTED" } else { "REFUSED" },
            c.scope.to_text().escape_debug(),
            c.decided_at,
            c.valid_until
                .map(|v| format!(", valid until {v}"))
                .unwrap_or_default()
        ));
    }
    line(format!(
        "Directory log:    records proven in {} at size {} (root {})",
        r.directory_checkpoint.origin,
        r.directory_checkpoint.size,
        r.directory_checkpoint.root.to_base64()
    ));
    line(format!(
        "Exported:         by {} ({}; the message's {}) at {}{}",
        r.exporter.id,
        who(&r.exporter),
        r.exporter_role,
        r.exported_at,
        r.case_reference
            .as_ref()
            .map(|c| format!(" for case {}", c.escape_debug()))
            .unwrap_or_default()
    ));
    if show_content {
        line("Content:".to_owned());
        for l in p.body.lines() {
            line(format!("  | {}", l.escape_debug()));
        }
    }
    out
}

/// The report as JSON. The message text is included only with
/// `show_content`; attachments show their signed name, type, size and
/// SHA-256 (never their key) and the given file that matched (`files`, as
/// for [`render_report`]).
pub fn report_json(r: &EvidenceReport, show_content: bool, files: &[Option<PathBuf>]) -> Value {
    let p = &r.payload;
    let party = |s: &liaison_protocol::evidence::PartySummary| {
        json!({
            "id": s.id.as_str(),
            "name": s.name,
            "agency": s.agency,
            "unit": s.unit,
            "identity_key": s.identity_key.to_hex(),
            "fingerprint": s.identity_key.fingerprint().to_string(),
            "record_version": s.version,
            "authority": s.authority,
            "directory_index": s.record_index,
        })
    };
    let checkpoint = |c: &liaison_protocol::evidence::CheckpointSummary| {
        json!({
            "origin": c.origin,
            "size": c.size,
            "root": c.root.to_base64(),
            "cosignatures": c.cosignatures.iter().map(|(w, t)| json!({"witness": w, "timestamp": t})).collect::<Vec<_>>(),
        })
    };
    let mut j = json!({
        "verified": true,
        "message_id": r.message_id.to_hex(),
        "payload_sha256": hex::encode(r.payload_hash),
        "content": content_kind(&p.content),
        "attachments": p.attachments.iter().enumerate().map(|(i, a)| json!({
            "name": a.name,
            "media_type": a.media_type,
            "size": a.size,
            "sha256": hex::encode(a.sha256),
            "file": files.get(i).cloned().flatten().map(|f| f.display().to_string()),
        })).collect::<Vec<_>>(),
        "originator": party(&r.originator),
        "created_at": p.created_at.to_rfc3339(),
        "recipients": p.recipients.iter().map(DirectoryId::as_str).collect::<Vec<_>>(),
        "resolved": p.resolved.iter().map(DirectoryId::as_str).collect::<Vec<_>>(),
        "handling": r.handling_text,
        "judicial_basis": match &r.judicial_basis {
            JudicialBasis::PermittedByHandling => json!({"permitted_by_handling": true}),
            JudicialBasis::Consent { position, decision } => json!({
                "consent": position,
                "decided_by": decision.decided_by.as_str(),
                "decided_at": decision.decided_at.to_rfc3339(),
                "conditions": decision.conditions,
            }),
        },
        "events": r.events.iter().map(|e| {
            let mut v = json!({
                "index": e.index,
                "time": e.time.to_rfc3339(),
                "kind": e.record.kind.name(),
            });
            if let Some(o) = v.as_object_mut() {
                match &e.record.kind {
                    EventKind::Accepted { sender_device, recipient_devices, bytes, .. } => {
                        o.insert("sender_device".into(), json!(sender_device.to_hex()));
                        o.insert("recipient_devices".into(), json!(recipient_devices.iter().map(PublicKey::to_hex).collect::<Vec<_>>()));
                        o.insert("bytes".into(), json!(bytes));
                    }
                    EventKind::Delivered { recipient_device, .. }
                    | EventKind::Acknowledged { recipient_device, .. } => {
                        o.insert("device".into(), json!(recipient_device.to_hex()));
                    }
                    EventKind::Dropped { recipient_device, reason, .. } => {
                        o.insert("device".into(), json!(recipient_device.to_hex()));
                        o.insert("reason".into(), json!(reason));
                    }
                    EventKind::Declared { message_id, kind, by_device, .. } => {
                        o.insert("declared".into(), json!(kind.name()));
                        o.insert("carrier".into(), json!(message_id.to_hex()));
                        o.insert("device".into(), json!(by_device.to_hex()));
                        o.insert("matches".into(), json!(e.matches.map(|(w, n)| format!("{w} {n}"))));
                    }
                }
            }
            v
        }).collect::<Vec<_>>(),
        "receipts": r.receipts.iter().map(|rc| json!({
            "by": rc.by.as_str(),
            "kind": receipt_kind(&rc.kind),
            "at": rc.at.to_rfc3339(),
        })).collect::<Vec<_>>(),
        "consents": r.consents.iter().map(|c| json!({
            "granted": c.granted,
            "scope": c.scope.to_text(),
            "decided_at": c.decided_at.to_rfc3339(),
            "valid_until": c.valid_until.map(Timestamp::to_rfc3339),
            "conditions": c.conditions,
        })).collect::<Vec<_>>(),
        "exporter": party(&r.exporter),
        "exporter_role": r.exporter_role,
        "exported_at": r.exported_at.to_rfc3339(),
        "case_reference": r.case_reference,
        "directory_checkpoint": checkpoint(&r.directory_checkpoint),
        "event_checkpoint": checkpoint(&r.event_checkpoint),
    });
    if show_content && let Some(o) = j.as_object_mut() {
        o.insert("body".into(), json!(p.body));
    }
    j
}
