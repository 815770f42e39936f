//! Judicial export (`liaison export`): an evidence bundle for one message.
//!
//! [`export`] refuses unless the message's handling permits judicial use or
//! the originator granted it (a signed consent decision held in this home),
//! then gathers from the relay what an offline verifier needs: inclusion
//! proofs in the directory log of the originator's record, of every receipt
//! signer's and of the exporter's (found by scanning the directory log, which
//! an authenticated device may read), and inclusion proofs in the event log
//! of the message's events, all against the checkpoints this client verified.
//! It signs the bundle with the exporter's identity key and verifies it with
//! [`verify_evidence`] before handing it out.
//!
//! The bundle format and the verification rules are in
//! [`liaison_protocol::evidence`]; the auditor's report of a bundle is
//! `liaison-audit verify-message`.

use std::collections::BTreeMap;
use std::time::Duration;

use liaison_protocol::codec::Wire;
use liaison_protocol::consent::{
    ConsentDecision, ConsentScope, Receipt, ReceiptKind, check_judicial_use,
};
use liaison_protocol::directory::{
    AuthorityCertificate, FocalPointRecord, RecordStatus, verify_authority, verify_record,
};
use liaison_protocol::evidence::{Evidence, EvidenceBundle, LoggedRecord, Pins, verify_evidence};
use liaison_protocol::frames::{IndexedEvent, LogEntry, LogId};
use liaison_protocol::log::event::{DirectoryEntry, DisclosedEvent, EventKind};
use liaison_protocol::log::{LogPolicy, SignedCheckpoint, TlogProof, leaf_hash};
use liaison_protocol::message::payload_hash;
use liaison_protocol::message::{Content, SignedPayload};
use liaison_protocol::{DirectoryId, MessageId, PublicKey, Signed, Timestamp};

use crate::client::Client;
use crate::error::{ClientError, EvidenceError, HandlingError, NotFound};

type Result<T, E = ClientError> = std::result::Result<T, E>;

/// How long [`export`] waits for the relay to sign checkpoints that cover
/// the entries it needs (the relay signs at most about once a second while
/// a log grows).
const COVERAGE_WAIT: Duration = Duration::from_secs(30);
/// Directory entries asked for per request.
const ENTRY_BATCH: u32 = 512;

/// Build, sign and self-verify an evidence bundle for message `id`.
///
/// Refuses, naming the rule and the command that asks for consent
/// (`liaison consent request ID --scope judicial:CASE`), unless the
/// message's handling says `judicial=permitted` or this home holds the
/// originator's grant for judicial use in force now for `case_reference`
/// (a grant for another case does not count). The case is written into the
/// bundle. Connects to the relay if needed.
pub async fn export(
    client: &mut Client,
    id: MessageId,
    case_reference: &str,
) -> Result<EvidenceBundle> {
    if case_reference.trim().is_empty() {
        return Err(EvidenceError::NoCase(id).into());
    }
    let msg = client.message(id)?.ok_or(NotFound::Message(id))?;
    if !msg.verified || msg.signed_payload.is_empty() {
        return Err(EvidenceError::NotHeld {
            id,
            reason: msg
                .error
                .as_deref()
                .unwrap_or("its signed payload is not held (rejected, or destroyed at the end of its retention)")
                .to_owned(),
        }
        .into());
    }
    let malformed = |e: &dyn std::fmt::Display| EvidenceError::Malformed {
        id,
        error: e.to_string(),
    };
    let signed = SignedPayload::decode(&msg.signed_payload).map_err(|e| malformed(&e))?;
    let payload = signed.decode_unverified().map_err(|e| malformed(&e))?;
    if payload.message_id != id {
        return Err(EvidenceError::Copy {
            id,
            of: payload.message_id,
        }
        .into());
    }
    if let Some(original) = payload.content.forwarded() {
        let from = SignedPayload::decode(original)
            .ok()
            .and_then(|s| s.decode_unverified().ok())
            .map(|p| format!("message {} of {}", p.message_id, p.sender))
            .unwrap_or_else(|| "another message".to_owned());
        return Err(EvidenceError::Forward { id, from }.into());
    }
    if let Content::Handover { .. } = &payload.content {
        return Err(EvidenceError::Handover(id).into());
    }
    let originator_key = *signed.signer();
    let now = client.now();

    // The rule first: nothing leaves, and the relay is not even asked,
    // without permission.
    let decisions = judicial_decisions(client, &payload.sender, &originator_key, id)?;
    let plain: Vec<ConsentDecision> = decisions.iter().map(|(_, d)| d.clone()).collect();
    check_judicial_use(
        &payload.handling,
        &id,
        &payload.sender,
        Some(case_reference),
        &plain,
        now,
    )
    .map_err(|source| HandlingError::JudicialUse { id, source })?;
    let case = Some(case_reference.to_owned());
    let consents: Vec<Signed<ConsentDecision>> = decisions
        .into_iter()
        .filter(|(_, d)| {
            matches!(&d.scope, ConsentScope::JudicialUse { case_reference: c } if c == case_reference)
        })
        .map(|(s, _)| s)
        .collect();

    if client.conn.is_none() {
        client.connect().await?;
    }
    let pins = Pins::from_bundle(client.bundle()).map_err(EvidenceError::Bundle)?;

    // Receipts by recipients, each with its signer's directory record.
    let hash = payload_hash(&signed);
    let mut receipts: Vec<(Signed<Receipt>, Receipt)> = Vec::new();
    for s in client.receipts(id)? {
        let Ok(r) = s.decode_unverified() else {
            continue;
        };
        let addressed = payload
            .recipients
            .iter()
            .chain(&payload.resolved)
            .any(|x| x == &r.by);
        let binds = match &r.kind {
            ReceiptKind::Delivered => true,
            ReceiptKind::HandlingAcknowledged { payload_hash }
            | ReceiptKind::Deleted { payload_hash } => payload_hash == &hash,
        };
        if r.message_id == id && addressed && binds && !receipts.iter().any(|(t, _)| t == &s) {
            receipts.push((s, r));
        }
    }

    receipts.sort_by_key(|(_, r)| (r.at, r.by.clone()));

    // Events.
    let events = message_events(client, id).await?;
    let Some(last) = events.keys().next_back().copied() else {
        return Err(EvidenceError::NoEvents(id).into());
    };
    let has_acceptance = events.values().any(|e| {
        DisclosedEvent::decode(&e.event)
            .ok()
            .and_then(|d| d.decode_record().ok())
            .is_some_and(
                |r| matches!(r.kind, EventKind::Accepted { message_id, .. } if message_id == id),
            )
    });
    if !has_acceptance {
        return Err(EvidenceError::NoAcceptance(id).into());
    }
    let events_note = covering_checkpoint(client, LogId::Events, &pins.event_log, last).await?;
    let event_list: Vec<IndexedEvent> = events.into_values().collect();
    let proofs =
        liaison_net::event_proofs(client.conn()?, &event_list, &events_note, &pins.event_log)
            .await
            .map_err(EvidenceError::EventProofs)?;
    let event_proofs: Vec<String> = proofs.iter().map(|(p, _)| p.encode()).collect();

    // Directory records: the originator when it signed, each receipt
    // signer when it signed, and ourselves now.
    let mut needs = vec![Need {
        role: Role::Originator,
        id: payload.sender.clone(),
        key: originator_key,
        at: payload.created_at,
        device: Some(payload.sender_device),
        what: format!("the originator {}", payload.sender),
    }];
    for (s, r) in &receipts {
        needs.push(Need {
            role: Role::ReceiptSigner,
            id: r.by.clone(),
            key: *s.signer(),
            at: r.at,
            device: None,
            what: format!("{}'s receipt", r.by),
        });
    }
    let exported_at = now;
    needs.push(Need {
        role: Role::Exporter,
        id: client.id().clone(),
        key: client.identity_key(),
        at: exported_at,
        device: None,
        what: "this focal point (the exporter)".to_owned(),
    });
    let found = find_records(client, &pins, &needs).await?;

    // Assign a logged record to each need the way the verifier looks them
    // up: for the exporter the originator's record if it fits, else the
    // first signer record that fits, else a new one.
    let mut originator: Option<Found> = None;
    let mut signers: Vec<Found> = Vec::new();
    let mut kept = Vec::new();
    for (n, f) in needs.iter().zip(found) {
        let Some(f) = f else {
            continue;
        };
        let fits = |g: &Found| g.fits(n, &pins.root);
        match n.role {
            Role::Originator => {
                originator = Some(f);
                continue;
            }
            Role::Exporter if originator.as_ref().is_some_and(fits) => continue,
            Role::ReceiptSigner => kept.push((n.id.clone(), n.key, n.at)),
            Role::Exporter => {}
        }
        if !signers.iter().any(fits) {
            signers.push(f);
        }
    }
    receipts.retain(|(s, r)| kept.contains(&(r.by.clone(), *s.signer(), r.at)));
    let originator = originator.ok_or(EvidenceError::NoOriginator)?;
    let evidence = Evidence {
        signed_payload: msg.signed_payload.clone(),
        originator: originator.logged(),
        events: event_proofs,
        receipts: receipts.into_iter().map(|(s, _)| s).collect(),
        consents,
        signers: signers.iter().map(Found::logged).collect(),
        exporter: client.id().clone(),
        exported_at,
        case_reference: case,
    };
    let bundle = EvidenceBundle::sign(&evidence, &client.identity);
    verify_evidence(&bundle, &pins, now).map_err(|e| EvidenceError::SelfCheck {
        id,
        error: e.to_string(),
    })?;
    Ok(bundle)
}

/// The originator's judicial-use decisions about `id` held in this home,
/// verified: signed by the identity key that signed the message and naming
/// the originator. (A decision signed after the originator changed identity
/// keys would need that record version in the bundle too; it is not
/// collected.)
fn judicial_decisions(
    client: &Client,
    originator: &DirectoryId,
    originator_key: &PublicKey,
    id: MessageId,
) -> Result<Vec<(Signed<ConsentDecision>, ConsentDecision)>> {
    let mut out: Vec<(Signed<ConsentDecision>, ConsentDecision)> = Vec::new();
    for s in client.consent_decisions(id)? {
        let Ok(d) = s.verify_by(originator_key) else {
            continue;
        };
        if &d.decided_by != originator
            || d.message_id != id
            || d.check_wellformed().is_err()
            || !matches!(d.scope, ConsentScope::JudicialUse { .. })
            || out.iter().any(|(t, _)| t == &s)
        {
            continue;
        }
        out.push((s, d));
    }
    Ok(out)
}

/// The message's event-log entries: its own (accepted, delivered,
/// acknowledged, ...) and the `declared` entries of accountability messages
/// referring to it, found through the carriers this home holds.
async fn message_events(client: &Client, id: MessageId) -> Result<BTreeMap<u64, IndexedEvent>> {
    let mut out = BTreeMap::new();
    let mut add = |events: Vec<IndexedEvent>, carrier: bool| -> Result<()> {
        for e in events {
            let record = DisclosedEvent::decode(&e.event)
                .ok()
                .and_then(|d| d.decode_record().ok())
                .ok_or(EvidenceError::MalformedEvent(e.index))?;
            if record.seq != e.index {
                return Err(EvidenceError::EventSequence {
                    index: e.index,
                    seq: record.seq,
                }
                .into());
            }
            let about = match &record.kind {
                EventKind::Declared { refers_to, .. } => *refers_to == id,
                k => !carrier && *k.message_id() == id,
            };
            if about {
                out.insert(e.index, e);
            }
        }
        Ok(())
    };
    let own = fetch_events(client, id)
        .await
        .map_err(|e| EvidenceError::ReadingEvents {
            id,
            source: Box::new(e),
        })?;
    add(own, false)?;
    for carrier in carriers(client, id)? {
        // The relay shows a carrier's events only to its sender and
        // recipients; a carrier we cannot read is skipped.
        if let Ok(events) = fetch_events(client, carrier).await {
            add(events, true)?;
        }
    }
    Ok(out)
}

async fn fetch_events(client: &Client, id: MessageId) -> Result<Vec<IndexedEvent>> {
    Ok(client.conn()?.message_events(id).await?)
}

/// Stored accountability messages (receipts, consent requests and
/// decisions) about `id`.
fn carriers(client: &Client, id: MessageId) -> Result<Vec<MessageId>> {
    let mut out = Vec::new();
    for m in client.messages()? {
        if m.id == id || m.signed_payload.is_empty() {
            continue;
        }
        let Some(p) = SignedPayload::decode(&m.signed_payload)
            .ok()
            .and_then(|s| s.decode_unverified().ok())
        else {
            continue;
        };
        let about = match &p.content {
            Content::Receipts(rs) => rs
                .iter()
                .any(|r| r.decode_unverified().is_ok_and(|r| r.message_id == id)),
            Content::ConsentRequest(r) => r.decode_unverified().is_ok_and(|r| r.message_id == id),
            Content::ConsentDecision(d) => d.decode_unverified().is_ok_and(|d| d.message_id == id),
            _ => false,
        };
        if about {
            out.push(p.message_id);
        }
    }
    Ok(out)
}

/// This client's verified checkpoint of `log` once it covers index `last`,
/// refreshing it from the relay (and proving it consistent with the one
/// held) while it does not.
async fn covering_checkpoint(
    client: &mut Client,
    log: LogId,
    policy: &LogPolicy,
    last: u64,
) -> Result<String> {
    let deadline = tokio::time::Instant::now() + COVERAGE_WAIT;
    loop {
        if let Some((note, cp)) = held_checkpoint(client, log, policy)?
            && cp.checkpoint().size() > last
        {
            return Ok(note);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(EvidenceError::NotCovered {
                log: log.name(),
                last,
                secs: COVERAGE_WAIT.as_secs(),
            }
            .into());
        }
        client.sync_checkpoints().await?;
        if held_checkpoint(client, log, policy)?
            .is_some_and(|(_, cp)| cp.checkpoint().size() > last)
        {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn held_checkpoint(
    client: &Client,
    log: LogId,
    policy: &LogPolicy,
) -> Result<Option<(String, SignedCheckpoint)>> {
    let Some(note) = client.checkpoint(log)? else {
        return Ok(None);
    };
    let cp = policy
        .open(note.as_bytes())
        .map_err(|error| EvidenceError::HeldCheckpoint {
            log: log.name(),
            error,
        })?;
    Ok(Some((note, cp)))
}

/// Who a [`Need`] is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Originator,
    ReceiptSigner,
    Exporter,
}

/// A directory record a signature in the bundle needs.
struct Need {
    role: Role,
    id: DirectoryId,
    key: PublicKey,
    at: Timestamp,
    /// For the originator: the device the message was sent from.
    device: Option<PublicKey>,
    what: String,
}

/// A logged record (and its authority) that satisfies a [`Need`], with
/// directory-log proofs.
#[derive(Clone)]
struct Found {
    authority: Signed<AuthorityCertificate>,
    authority_proof: String,
    record: Signed<FocalPointRecord>,
    record_proof: String,
    decoded: FocalPointRecord,
}

impl Found {
    fn logged(&self) -> LoggedRecord {
        LoggedRecord {
            authority: self.authority.clone(),
            authority_proof: self.authority_proof.clone(),
            record: self.record.clone(),
            record_proof: self.record_proof.clone(),
        }
    }

    /// Whether the verifier would accept this record for `need`.
    fn fits(&self, need: &Need, root: &PublicKey) -> bool {
        self.decoded.id == need.id
            && self.decoded.identity_key == need.key
            && in_force(root, &self.authority, &self.decoded, need.at)
    }
}

fn in_force(
    root: &PublicKey,
    authority: &Signed<AuthorityCertificate>,
    record: &FocalPointRecord,
    at: Timestamp,
) -> bool {
    verify_authority(root, authority, at).is_ok()
        && record.status == RecordStatus::Active
        && record.not_before <= at
        && at < record.not_after
}

/// Scan the directory log (up to this client's verified checkpoint, which
/// is refreshed while a needed record is not yet covered) for the newest
/// record version satisfying each need, and prove each and its authority's
/// certificate included. Returns one [`Found`] per need, in order; `None`
/// for a receipt signer whose record the log does not hold.
async fn find_records(
    client: &mut Client,
    pins: &Pins,
    needs: &[Need],
) -> Result<Vec<Option<Found>>> {
    let deadline = tokio::time::Instant::now() + COVERAGE_WAIT;
    let mut authorities: Vec<(u64, Signed<AuthorityCertificate>)> = Vec::new();
    let mut records: Vec<(u64, Signed<FocalPointRecord>, FocalPointRecord)> = Vec::new();
    let mut scanned = 0u64;
    loop {
        let (note, cp) = held_checkpoint(client, LogId::Directory, &pins.directory_log)?
            .ok_or(EvidenceError::NoDirectoryCheckpoint)?;
        let size = cp.checkpoint().size();
        while scanned < size {
            let count = u32::try_from(size - scanned)
                .unwrap_or(u32::MAX)
                .min(ENTRY_BATCH);
            let entries = client
                .conn()?
                .entries(LogId::Directory, scanned, count)
                .await?;
            if entries.is_empty() {
                return Err(EvidenceError::MissingEntry {
                    index: scanned,
                    size,
                }
                .into());
            }
            for e in entries {
                let LogEntry::Directory(bytes) = e else {
                    return Err(EvidenceError::NotADirectoryEntry.into());
                };
                let entry = DirectoryEntry::decode(&bytes).map_err(|error| {
                    EvidenceError::MalformedEntry {
                        index: scanned,
                        error,
                    }
                })?;
                match entry {
                    DirectoryEntry::Authority(a) => authorities.push((scanned, a)),
                    DirectoryEntry::Record(r) => {
                        if let Ok(d) = r.decode_unverified()
                            && needs.iter().any(|n| n.id == d.id)
                        {
                            records.push((scanned, r, d));
                        }
                    }
                    DirectoryEntry::Role(_) => {}
                }
                scanned += 1;
                if scanned >= size {
                    break;
                }
            }
        }
        let found: Vec<Option<Candidate>> = needs
            .iter()
            .map(|n| best_record(&pins.root, &authorities, &records, n))
            .collect();
        // Receipts are supporting evidence: one whose signer's record is
        // not in the log is left out rather than failing the export.
        let missing = needs
            .iter()
            .zip(&found)
            .find(|(n, f)| f.is_none() && n.role != Role::ReceiptSigner);
        if let Some((n, _)) = missing {
            if tokio::time::Instant::now() >= deadline {
                return Err(EvidenceError::NoRecord {
                    size,
                    what: n.what.clone(),
                    key: n.key.fingerprint().to_string(),
                    at: n.at,
                }
                .into());
            }
            client.sync_checkpoints().await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let mut out = Vec::new();
        for (n, f) in needs.iter().zip(found) {
            let Some((a_idx, r_idx, authority, record, decoded)) = f else {
                tracing::warn!(signer = %n.id, "receipt left out of the evidence: its signer's record is not in the directory log");
                out.push(None);
                continue;
            };
            let authority_proof = directory_proof(
                client,
                &note,
                &pins.directory_log,
                a_idx,
                &DirectoryEntry::Authority(authority.clone()),
            )
            .await?;
            let record_proof = directory_proof(
                client,
                &note,
                &pins.directory_log,
                r_idx,
                &DirectoryEntry::Record(record.clone()),
            )
            .await?;
            out.push(Some(Found {
                authority,
                authority_proof,
                record,
                record_proof,
                decoded,
            }));
        }
        return Ok(out);
    }
}

type Candidate = (
    u64,
    u64,
    Signed<AuthorityCertificate>,
    Signed<FocalPointRecord>,
    FocalPointRecord,
);

/// The newest logged record version (and a logged certificate of its
/// authority) that the verifier will accept for `need`.
fn best_record(
    root: &PublicKey,
    authorities: &[(u64, Signed<AuthorityCertificate>)],
    records: &[(u64, Signed<FocalPointRecord>, FocalPointRecord)],
    need: &Need,
) -> Option<Candidate> {
    records
        .iter()
        .rev()
        .filter(|(_, _, d)| {
            d.id == need.id
                && d.identity_key == need.key
                && need
                    .device
                    .is_none_or(|dev| d.devices.iter().any(|x| x.signing == dev))
        })
        .find_map(|(r_idx, r, d)| {
            authorities
                .iter()
                .rev()
                .filter(|(_, a)| a.decode_unverified().is_ok_and(|c| &c.key == r.signer()))
                .find_map(|(a_idx, a)| {
                    let cert = verify_authority(root, a, need.at).ok()?;
                    verify_record(&cert, r).ok()?;
                    in_force(root, a, d, need.at)
                        .then(|| (*a_idx, *r_idx, a.clone(), r.clone(), d.clone()))
                })
        })
}

async fn directory_proof(
    client: &Client,
    note: &str,
    policy: &LogPolicy,
    index: u64,
    entry: &DirectoryEntry,
) -> Result<String> {
    let cp = policy
        .open(note.as_bytes())
        .map_err(EvidenceError::DirectoryCheckpoint)?;
    let hashes = client
        .conn()?
        .inclusion(LogId::Directory, index, cp.checkpoint().size())
        .await?;
    let proof = TlogProof::new(index, hashes, note).map_err(|e| EvidenceError::BuildProof {
        index,
        error: e.to_string(),
    })?;
    proof
        .verify(&leaf_hash(&entry.encode()), policy)
        .map_err(|e| EvidenceError::DirectoryInclusion {
            index,
            error: e.to_string(),
        })?;
    Ok(proof.encode())
}
