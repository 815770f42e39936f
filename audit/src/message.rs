//! Proofs for one message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::Checkpoint;
use liaison_protocol::log::event::EventRecord;
use liaison_protocol::{MessageId, SecretKey};

use liaison_net::{LinkError, event_proofs};
use liaison_protocol::log::explain_checkpoint_error;

use crate::*;

/// Fetch the events of `message`, wait (up to `wait`) until a checkpoint of
/// the event log covers them, and write one verified tlog-proof per event
/// into `out_dir` as `<message>-<index>-<kind>.tlog-proof`.
pub async fn message_proofs(
    bundle: &Bundle,
    key: &SecretKey,
    message: MessageId,
    out_dir: &Path,
    wait: Duration,
) -> Result<Vec<(PathBuf, EventRecord)>> {
    let conn = connect(bundle).await?;
    authenticate_auditor(&conn, key).await?;
    let events = conn.message_events(message).await?;
    if events.is_empty() {
        bail!("the relay's event log holds no event of message {message}");
    }
    let policy = bundle
        .log_policy(LogId::Events)
        .map_err(|e| anyhow!("bundle: {e}"))?;
    let quorum = u8::try_from(policy.min_cosignatures()).unwrap_or(u8::MAX);
    let last = events.iter().map(|e| e.index).max().unwrap_or(0);
    let deadline = tokio::time::Instant::now() + wait;
    let note = loop {
        if let Some(note) = fetch_checkpoint(&conn, LogId::Events, quorum).await? {
            let signed = policy.open(note.as_bytes()).map_err(|e| {
                anyhow!(
                    "the relay's events checkpoint: {}",
                    explain_checkpoint_error(&e, note.as_bytes(), &policy)
                )
            })?;
            if signed.checkpoint().size() > last {
                break note;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "no events checkpoint covering index {last} within {} s; retry later",
                wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let proofs = event_proofs(&conn, &events, &note, &policy).await?;
    let mut written = Vec::new();
    for (proof, record) in proofs {
        let path = out_dir.join(format!(
            "{message}-{}-{}.tlog-proof",
            proof.index(),
            record.kind.name()
        ));
        write_atomic(&path, proof.encode().as_bytes(), false)?;
        written.push((path, record));
    }
    conn.close().await;
    Ok(written)
}

/// Compare two checkpoints whose sizes differ by asking the relay for a
/// consistency proof (RFC 9162 §2.1.4). `Ok(Ok(()))`: the larger extends the
/// smaller; `Ok(Err(why))`: proven or unprovable inconsistency.
pub async fn compare_with_relay(
    bundle: &Bundle,
    log: LogId,
    a: &Checkpoint,
    b: &Checkpoint,
) -> Result<std::result::Result<(), String>> {
    let (old, new) = if a.size() <= b.size() { (a, b) } else { (b, a) };
    let conn = connect(bundle).await?;
    let proof = conn.consistency(log, old.size(), new.size()).await;
    conn.close().await;
    match proof {
        Ok(p) => Ok(old.verify_consistency(new, &p).map_err(|e| {
            format!(
                "the relay's consistency proof from size {} to {} does not verify ({e})",
                old.size(),
                new.size()
            )
        })),
        Err(LinkError::Refused(e)) => Ok(Err(format!(
            "the relay cannot prove that size {} extends size {} ({})",
            new.size(),
            old.size(),
            e.message
        ))),
        Err(e) => Err(e.into()),
    }
}
