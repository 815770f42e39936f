//! Talking to the relay.

use anyhow::{Context, Result, anyhow, bail};
use liaison_protocol::SecretKey;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::{ErrorCode, LogEntry, LogId, Response};

use liaison_net::{Link, LinkError};

/// Connect to the bundle's relay, pinning its certificate.
pub async fn connect(bundle: &Bundle) -> Result<Link> {
    let pin = bundle.cert_pins().map_err(|e| anyhow!("bundle: {e}"))?;
    Ok(Link::connect(&bundle.relay_addr, pin).await?)
}

/// Authenticate as an auditor: sign the relay's challenge, bound to this TLS
/// session, with the auditor's Ed25519 key.
pub async fn authenticate_auditor(conn: &Link, key: &SecretKey) -> Result<()> {
    match conn.authenticate_with_key(key).await {
        Ok(Response::AuditorAuthenticated) => Ok(()),
        Ok(Response::Authenticated { id }) => bail!(
            "the relay authenticated this key as a device of {id}, not as an auditor: use a key \
             listed in the relay's [logs] auditors"
        ),
        Ok(other) => bail!(
            "the relay answered {} to auditor key {}: use a key listed in the relay's [logs] \
             auditors",
            other.name(),
            key.public_key().to_hex()
        ),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "the relay did not accept auditor key {} (is it listed in the relay's [logs] \
             auditors?)",
            key.public_key().to_hex()
        ))),
    }
}

/// The relay's newest checkpoint of `log` with at least `min` cosignatures,
/// or `None` if it has none.
pub async fn fetch_checkpoint(conn: &Link, log: LogId, min: u8) -> Result<Option<String>> {
    match conn.checkpoint(log, min).await {
        Ok(note) => Ok(Some(note)),
        Err(LinkError::Refused(e)) if e.code == ErrorCode::NotFound => Ok(None),
        Err(e) => {
            Err(anyhow::Error::new(e).context(format!("fetching the {} checkpoint", log.name())))
        }
    }
}

pub(crate) async fn fetch_entries(
    conn: &Link,
    log: LogId,
    start: u64,
    count: u32,
) -> Result<Vec<LogEntry>> {
    conn.entries(log, start, count)
        .await
        .with_context(|| format!("fetching {} entries from {start}", log.name()))
}
