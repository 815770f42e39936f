//! The directory lifecycle online: fetch the directory as the authority
//! sees it, change a record or role, sign and publish it.

use liaison_net::Link;
use liaison_protocol::bundle::{AuthorityKeyFile, Bundle};
use liaison_protocol::directory::{
    AuthorityCertificate, DeviceKeys, Directory, FocalPointRecord, RoleRecord,
};
use liaison_protocol::frames::{Request, Response};
use liaison_protocol::message::{DeviceApproval, DeviceRequest, EnrolmentRequest, Prekey};
use liaison_protocol::{DirectoryId, Signed, Timestamp};

use crate::ceremony::{check_authority, verify_certificate_signature};
use crate::directory::AuthorityView;
use crate::error::{AdminError, RelayFault};
use crate::records::{
    RecordChanges, RoleParams, check_jurisdiction, check_reenrolment, record_from_request,
    record_with_device, record_without_device, revoked_record, role_record, updated_record,
};
use crate::views::Signing;

async fn connect(bundle: &Bundle) -> Result<Link, AdminError> {
    let pin = bundle.cert_pins()?;
    Link::connect(&bundle.relay_addr, pin)
        .await
        .map_err(AdminError::Connect)
}

/// Authenticate with the authority key and fetch and verify the directory.
pub async fn fetch_directory(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    at: Timestamp,
) -> Result<AuthorityView, AdminError> {
    let root = bundle.root()?;
    let conn = connect(bundle).await?;
    let result = async {
        let country = match conn
            .authenticate_with_key(&auth.key)
            .await
            .map_err(AdminError::AuthorityRefused)?
        {
            Response::AuthorityAuthenticated { country } => country,
            other => {
                return Err(AdminError::NotAnAuthority {
                    answer: other.name(),
                });
            }
        };
        let answer = conn
            .call(&Request::GetDirectory)
            .await
            .map_err(|e| AdminError::request("reading the directory", e))?;
        let Response::Directory {
            authorities,
            records,
            roles,
        } = answer
        else {
            return Err(RelayFault::UnexpectedAnswer {
                to: "to GetDirectory".into(),
                answer: answer.name(),
            }
            .into());
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

async fn publish(bundle: &Bundle, request: Request, what: &str) -> Result<(), AdminError> {
    let conn = connect(bundle).await?;
    let res = conn.call(&request).await;
    conn.close().await;
    match res {
        Ok(Response::Ok) => Ok(()),
        Ok(other) => Err(RelayFault::UnexpectedAnswer {
            to: format!("publishing {what}"),
            answer: other.name(),
        }
        .into()),
        Err(e) => Err(AdminError::request(format!("publishing {what}"), e)),
    }
}

/// Publish a signed record (with the request's prekeys) to the relay.
pub async fn publish_record(
    bundle: &Bundle,
    record: Signed<FocalPointRecord>,
    req: &EnrolmentRequest,
) -> Result<(), AdminError> {
    publish_signed_record(bundle, record, req.prekeys.clone()).await
}

/// Publish a signed record with prekeys of its devices.
pub async fn publish_signed_record(
    bundle: &Bundle,
    record: Signed<FocalPointRecord>,
    prekeys: Vec<Prekey>,
) -> Result<(), AdminError> {
    let what = record
        .decode_unverified()
        .map(|r| format!("record {} version {}", r.id, r.version))
        .unwrap_or_else(|_| "the record".into());
    publish(bundle, Request::PublishRecord { record, prekeys }, &what).await
}

/// Publish a signed role record.
pub async fn publish_role(bundle: &Bundle, role: Signed<RoleRecord>) -> Result<(), AdminError> {
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
) -> Result<AuthorityCertificate, AdminError> {
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

/// `enrol`: check the request against the rules and against the id's
/// current record ([`check_reenrolment`]: a version the id already has is
/// refused, and replacing its identity key takes `replace_identity`, the
/// current identity's fingerprint), sign its record and publish it with
/// the request's prekeys.
pub async fn enrol(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    req: &EnrolmentRequest,
    version: u64,
    valid_days: u64,
    replace_identity: Option<&str>,
    at: Timestamp,
) -> Result<(), AdminError> {
    check_jurisdiction(auth.country, "enrol", &req.id)?;
    check_authority(bundle, auth, at)?;
    let view = fetch_directory(bundle, auth, at).await?;
    check_reenrolment(
        view.directory.record(&req.id),
        req,
        version,
        replace_identity,
    )?;
    let record = record_from_request(auth, req, version, valid_days, at)?;
    publish_record(bundle, record, req).await
}

/// `update`: fetch, change, sign, publish.
pub async fn update(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    id: &DirectoryId,
    changes: &RecordChanges,
    at: Timestamp,
) -> Result<Signing, AdminError> {
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
) -> Result<Signing, AdminError> {
    check_jurisdiction(auth.country, "revoke", id)?;
    check_authority(bundle, auth, at)?;
    let view = fetch_directory(bundle, auth, at).await?;
    let signed = revoked_record(auth, view.record(id)?, reason, at)?;
    finish_record(bundle, signed, Vec::new()).await
}

/// `revoke-device`: fetch, remove the device, sign, publish.
pub async fn revoke_device(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    id: &DirectoryId,
    device: &str,
    at: Timestamp,
) -> Result<(Signing, DeviceKeys), AdminError> {
    check_jurisdiction(auth.country, "revoke a device of", id)?;
    check_authority(bundle, auth, at)?;
    let view = fetch_directory(bundle, auth, at).await?;
    let (signed, removed) = record_without_device(auth, view.record(id)?, device, at)?;
    Ok((finish_record(bundle, signed, Vec::new()).await?, removed))
}

/// `add-device`: check the approval against the current record, add the
/// device, sign, publish with the device's prekeys.
pub async fn add_device(
    bundle: &Bundle,
    auth: &AuthorityKeyFile,
    approval: &DeviceApproval,
    at: Timestamp,
) -> Result<(Signing, DeviceKeys), AdminError> {
    let request =
        DeviceRequest::verify(&approval.request).map_err(AdminError::DeviceRequestSignature)?;
    check_jurisdiction(auth.country, "add a device to", &request.id)?;
    check_authority(bundle, auth, at)?;
    let view = fetch_directory(bundle, auth, at).await?;
    if let Some(owner) = view.directory.device_owner(&request.device.signing)
        && owner.id != request.id
    {
        return Err(AdminError::DeviceOfAnother {
            device: request.device.signing,
            owner: owner.id.clone(),
        });
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
) -> Result<Signing, AdminError> {
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
) -> Result<(Signing, Vec<String>), AdminError> {
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
