//! The proofs of one message's events, fetched from the relay.

use std::path::{Path, PathBuf};
use std::time::Duration;

use liaison_net::event_proofs;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::EventRecord;
use liaison_protocol::log::explain_checkpoint_error;
use liaison_protocol::{MessageId, SecretKey};

use crate::error::{AuditError, RelayFault};
use crate::files::write_atomic;
use crate::relay::{authenticate_auditor, connect, fetch_checkpoint};

/// How often to ask again for a checkpoint that covers the events.
const POLL: Duration = Duration::from_millis(500);

/// Fetch the events of `message`, wait (up to `wait`) until a checkpoint of
/// the event log covers them, and write one verified tlog-proof per event
/// into `out_dir` as `<message>-<index>-<kind>.tlog-proof`.
pub async fn message_proofs(
    bundle: &Bundle,
    key: &SecretKey,
    message: MessageId,
    out_dir: &Path,
    wait: Duration,
) -> Result<Vec<(PathBuf, EventRecord)>, AuditError> {
    let conn = connect(bundle).await?;
    authenticate_auditor(&conn, key).await?;
    let events = conn.message_events(message).await?;
    if events.is_empty() {
        return Err(AuditError::NoEvents(message));
    }
    let policy = bundle
        .log_policy(LogId::Events)
        .map_err(AuditError::Bundle)?;
    let quorum = u8::try_from(policy.min_cosignatures()).unwrap_or(u8::MAX);
    let last = events.iter().map(|e| e.index).max().unwrap_or(0);
    let deadline = tokio::time::Instant::now() + wait;
    let note = loop {
        if let Some(note) = fetch_checkpoint(&conn, LogId::Events, quorum).await? {
            let signed = policy
                .open(note.as_bytes())
                .map_err(|e| RelayFault::Checkpoint {
                    log: LogId::Events,
                    reason: explain_checkpoint_error(&e, note.as_bytes(), &policy),
                })?;
            if signed.checkpoint().size() > last {
                break note;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AuditError::NotCovered { index: last, wait });
        }
        tokio::time::sleep(POLL).await;
    };
    std::fs::create_dir_all(out_dir).map_err(AuditError::io("creating", out_dir))?;
    let proofs = event_proofs(&conn, &events, &note, &policy).await?;
    let mut written = Vec::new();
    for (proof, record) in proofs {
        let path = out_dir.join(format!(
            "{message}-{}-{}.tlog-proof",
            proof.index(),
            record.kind.name()
        ));
        write_atomic(&path, proof.encode().as_bytes(), false)
            .map_err(AuditError::io("writing", &path))?;
        written.push((path, record));
    }
    conn.close().await;
    Ok(written)
}
