//! Talking to the relay as an auditor.

use liaison_net::{Link, LinkError};
use liaison_protocol::SecretKey;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::{ErrorCode, LogEntry, LogId, Response};

use crate::error::{AuditError, RelayFault};

/// Connect to the bundle's relay, pinning its certificate.
pub async fn connect(bundle: &Bundle) -> Result<Link, AuditError> {
    let pin = bundle.cert_pins().map_err(AuditError::Bundle)?;
    Ok(Link::connect(&bundle.relay_addr, pin).await?)
}

/// Authenticate as an auditor: sign the relay's challenge, bound to this TLS
/// session, with the auditor's Ed25519 key.
pub async fn authenticate_auditor(conn: &Link, key: &SecretKey) -> Result<(), AuditError> {
    match conn.authenticate_with_key(key).await {
        Ok(Response::AuditorAuthenticated) => Ok(()),
        Ok(Response::Authenticated { id }) => Err(AuditError::DeviceKey { id }),
        Ok(other) => Err(RelayFault::AuthenticationAnswer {
            answer: other.name(),
            key: key.public_key(),
        }
        .into()),
        Err(source) => Err(AuditError::AuditorRefused {
            key: key.public_key(),
            source,
        }),
    }
}

/// The relay's newest checkpoint of `log` with at least `min` cosignatures,
/// or `None` if it has none.
pub async fn fetch_checkpoint(
    conn: &Link,
    log: LogId,
    min: u8,
) -> Result<Option<String>, AuditError> {
    match conn.checkpoint(log, min).await {
        Ok(note) => Ok(Some(note)),
        Err(LinkError::Refused(e)) if e.code == ErrorCode::NotFound => Ok(None),
        Err(source) => Err(AuditError::FetchCheckpoint { log, source }),
    }
}

/// Up to `count` entries of `log` from `start`.
pub(crate) async fn fetch_entries(
    conn: &Link,
    log: LogId,
    start: u64,
    count: u32,
) -> Result<Vec<LogEntry>, AuditError> {
    conn.entries(log, start, count)
        .await
        .map_err(|source| AuditError::FetchEntries { log, start, source })
}

/// The bytes of an entry of `log` as the relay discloses it to an auditor:
/// the entry itself, never only its commitment.
pub(crate) fn entry_bytes(log: LogId, entry: LogEntry) -> Result<Vec<u8>, AuditError> {
    match (log, entry) {
        (LogId::Directory, LogEntry::Directory(b)) | (LogId::Events, LogEntry::Event(b)) => Ok(b),
        (_, LogEntry::Commitment(_)) => Err(AuditError::CommitmentsOnly { log }),
        _ => Err(RelayFault::WrongLog.into()),
    }
}
