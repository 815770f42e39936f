//! Authority operations: turning an enrolment request into a signed focal
//! point record and publishing it.

use anyhow::{Result, anyhow, bail};
use liaison_protocol::bundle::{AuthorityKeyFile, Bundle};
use liaison_protocol::directory::{FocalPointRecord, RecordStatus};
use liaison_protocol::frames::{Request, Response};
use liaison_protocol::message::EnrolmentRequest;
use liaison_protocol::{Signed, Timestamp};

use crate::client::now;
use crate::transport::Connection;

/// Validity of a new record.
pub const DEFAULT_VALIDITY_DAYS: u64 = 730;

/// Build and sign a focal point record from a verified enrolment request.
/// Refuses requests for another country than the authority's.
pub fn record_from_request(
    authority: &AuthorityKeyFile,
    req: &EnrolmentRequest,
    version: u64,
    valid_days: u64,
    at: Timestamp,
) -> Result<Signed<FocalPointRecord>> {
    if req.country != authority.country {
        bail!(
            "this is the {} authority key; it cannot enrol {} (country {}): only that State's authority can",
            authority.country,
            req.id,
            req.country
        );
    }
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
        not_before: Timestamp(at.0.saturating_sub(60_000)),
        not_after: at.plus_millis(valid_days.saturating_mul(86_400_000)),
        status: RecordStatus::Active,
    };
    record
        .check_wellformed()
        .map_err(|e| anyhow!("record would be invalid: {e}"))?;
    Ok(Signed::sign(&record, &authority.key))
}

/// Publish a signed record (with the request's prekeys) to the relay.
pub async fn publish_record(
    bundle: &Bundle,
    record: Signed<FocalPointRecord>,
    req: &EnrolmentRequest,
) -> Result<()> {
    let pin = bundle.cert_pin().map_err(|e| anyhow!("{e}"))?;
    let conn = Connection::connect(&bundle.relay_addr, pin).await?;
    let res = conn
        .request(&Request::PublishRecord {
            record,
            prekeys: req.prekeys.clone(),
        })
        .await;
    conn.close().await;
    match res {
        Ok(Response::Ok) => Ok(()),
        Ok(other) => bail!("unexpected answer to PublishRecord: {other:?}"),
        Err(e) => bail!("the relay did not publish the record: {e}"),
    }
}

/// The current time, re-exported for the CLI.
pub fn current_time() -> Timestamp {
    now()
}
