use liaison_protocol::armor::ArmorKind;
use liaison_protocol::bundle::{AuthorityKeyFile, Bundle, BundleError, PendingAuthorityKey};
use liaison_protocol::directory::{
    DeviceKeys, Directory, FocalPointRecord, MAX_TEXT, RecordFormat, RecordStatus, endorse_device,
    prove_device, verify_authority, verify_record,
};
use liaison_protocol::message::{DeviceApproval, DeviceRequest, Prekey};
use liaison_protocol::{CountryCode, DirectoryId, SecretKey, Signed, Timestamp};

use crate::ceremony::{
    BundleParams, armor_certificate, certify, install, keygen, make_bundle,
    parse_authority_request, parse_certificate_file, renew, revoke_authority,
};
use crate::error::{AdminError, hint_of};
use crate::files::{parse_root_key, root_key_text};
use crate::records::{
    RecordChanges, RoleParams, check_jurisdiction, parse_device_approval, record_with_device,
    record_without_device, revoked_record, role_record, updated_record,
};
use crate::validity::{DAY_MS, MAX_DEVICE_REQUEST_AGE_DAYS};

const T0: Timestamp = Timestamp(1_750_000_000_000);

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

/// An authority certified by `root` through the real ceremony functions.
fn authority(root: &SecretKey, country: &str, seed: u8) -> AuthorityKeyFile {
    let pending = keygen(cc(country), &format!("{country} authority"), key(seed)).unwrap();
    let (signed, _) = certify(root, &pending.request(T0), 1, 730, T0).unwrap();
    install(&pending.to_toml(), &signed, Some(&root.public_key()), T0).unwrap()
}

fn device(n: u8) -> DeviceKeys {
    DeviceKeys {
        signing: key(n).public_key(),
        agreement: [n; 32],
    }
}

fn record(id_: &str, identity: &SecretKey, dev: u8) -> FocalPointRecord {
    let i = id(id_);
    FocalPointRecord {
        country: i.country(),
        version: 1,
        name: "Somchai".into(),
        agency: "DSI".into(),
        unit: "TIP".into(),
        roles: vec![],
        languages: vec!["th".into()],
        time_zone: "Asia/Bangkok".into(),
        working_hours: String::new(),
        notes: String::new(),
        identity_key: identity.public_key(),
        device_endorsements: vec![endorse_device(identity, &i, &device(dev))],
        device_proofs: vec![Some(prove_device(
            &key(dev),
            &i,
            &identity.public_key(),
            &device(dev),
        ))],
        devices: vec![device(dev)],
        format: RecordFormat::Proofs,
        not_before: Timestamp(0),
        not_after: T0.plus_millis(1000 * DAY_MS),
        status: RecordStatus::Active,
        id: i,
    }
}

fn approval(id_: &str, identity: &SecretKey, dev: u8, at: Timestamp) -> DeviceApproval {
    let dk = key(dev);
    let prekey_key = [42u8; 32];
    let prekey = Prekey {
        device: dk.public_key(),
        key: prekey_key,
        fallback: true,
        signature: dk.sign(
            Prekey::DOMAIN,
            &Prekey::signed_bytes(&dk.public_key(), &prekey_key, true),
        ),
    };
    let request = DeviceRequest {
        id: id(id_),
        device: device(dev),
        transfer_key: [1; 32],
        prekeys: vec![prekey],
        created_at: at,
    };
    DeviceApproval {
        identity_key: identity.public_key(),
        known_devices: vec![],
        endorsement: endorse_device(identity, &id(id_), &device(dev)),
        request: Signed::sign(&request, &dk),
        ephemeral: [2; 32],
        sealed_identity: vec![3; 48],
        device_proof: Some(prove_device(
            &dk,
            &id(id_),
            &identity.public_key(),
            &device(dev),
        )),
    }
}

fn err_text<T>(r: Result<T, AdminError>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn certification_round_trip() {
    let root = key(1);
    let pending = keygen(cc("vn"), "Bộ Công an — Cục Cảnh sát hình sự", key(2)).unwrap();
    // The pending file survives its TOML, and the full-file parser says
    // what is missing.
    let text = pending.to_toml();
    let back = PendingAuthorityKey::from_toml(&text).unwrap();
    assert_eq!(back.key.public_key(), key(2).public_key());
    assert_eq!(back.name, pending.name);
    assert!(matches!(
        AuthorityKeyFile::from_toml(&text),
        Err(BundleError::Uncertified)
    ));

    // Request file: armoured, self-signed.
    let req_text =
        liaison_protocol::armor::armor_wire(ArmorKind::AuthorityRequest, &pending.request(T0));
    let (signed_req, req) = parse_authority_request(&req_text).unwrap();
    assert_eq!(req.country, cc("VN"));
    assert_eq!(req.key, key(2).public_key());

    let (signed, cert) = certify(&root, &signed_req, 1, 730, T0).unwrap();
    assert_eq!(
        (cert.serial, cert.revoked, cert.country),
        (1, false, cc("VN"))
    );
    assert_eq!(cert.not_after, T0.plus_millis(730 * DAY_MS));
    let cert_text = armor_certificate(&signed, &cert);
    assert!(cert_text.starts_with("-----BEGIN LIAISON AUTHORITY CERTIFICATE-----"));
    let (parsed, _) = parse_certificate_file(&cert_text).unwrap();
    assert_eq!(parsed, signed);

    let full = install(&text, &parsed, Some(&root.public_key()), T0).unwrap();
    let reparsed = AuthorityKeyFile::from_toml(&full.to_toml()).unwrap();
    assert_eq!(reparsed.country, cc("VN"));
    assert_eq!(reparsed.key.public_key(), key(2).public_key());
    assert_eq!(
        verify_authority(&root.public_key(), &reparsed.certificate, T0).unwrap(),
        cert
    );

    // A certificate for another key, another country or another root
    // is not installed.
    let other = keygen(cc("VN"), "VN", key(3)).unwrap();
    let (other_cert, _) = certify(&root, &other.request(T0), 1, 730, T0).unwrap();
    assert!(err_text(install(&text, &other_cert, None, T0)).contains("not for this key file"));
    let wrong_country = keygen(cc("LA"), "LA", key(2)).unwrap();
    let (la_cert, _) = certify(&root, &wrong_country.request(T0), 1, 730, T0).unwrap();
    assert!(err_text(install(&text, &la_cert, None, T0)).contains("for LA"));
    let rogue = key(9).public_key();
    assert!(
        err_text(install(&text, &signed, Some(&rogue), T0))
            .contains("not signed by this network root")
    );
    // Installing the same certificate twice is refused; expired ones too.
    assert!(err_text(install(&full.to_toml(), &signed, None, T0)).contains("not newer"));
    assert!(
        err_text(install(&text, &signed, None, T0.plus_millis(731 * DAY_MS))).contains("expired")
    );
    // A request whose self-signature is by another key does not verify.
    let forged = Signed::sign(&req, &key(7));
    assert!(err_text(certify(&root, &forged, 1, 730, T0)).contains("does not verify"));
    assert!(keygen(cc("VN"), "say \"hi\"", key(4)).is_err());
}

#[test]
fn renew_and_revoke_serials() {
    let root = key(1);
    let th = authority(&root, "TH", 2);
    let (renewed, rc) = renew(&root, &th.certificate, None, 365, T0.plus_millis(DAY_MS)).unwrap();
    assert_eq!(rc.serial, 2);
    assert_eq!(rc.key, th.key.public_key());
    assert_eq!(rc.not_after, T0.plus_millis(366 * DAY_MS));
    // The renewed certificate installs over the current one.
    let after = install(&th.to_toml(), &renewed, Some(&root.public_key()), T0).unwrap();
    assert_eq!(after.certificate, renewed);
    assert!(err_text(renew(&root, &renewed, Some(2), 365, T0)).contains("not higher"));
    let (_, rc5) = renew(&root, &renewed, Some(5), 365, T0).unwrap();
    assert_eq!(rc5.serial, 5);

    let (revocation, rv) = revoke_authority(&root, &renewed, None).unwrap();
    assert_eq!((rv.serial, rv.revoked), (3, true));
    let text = armor_certificate(&revocation, &rv);
    assert!(text.starts_with("-----BEGIN LIAISON AUTHORITY REVOCATION-----"));
    assert_eq!(parse_certificate_file(&text).unwrap().1, rv);
    // A relabelled revocation is caught.
    let relabelled = text.replace("REVOCATION", "CERTIFICATE");
    assert!(err_text(parse_certificate_file(&relabelled)).contains("edited"));
    assert!(err_text(renew(&root, &revocation, None, 365, T0)).contains("revocation is final"));
    assert!(err_text(revoke_authority(&root, &revocation, None)).contains("already"));
    assert!(err_text(install(&th.to_toml(), &revocation, None, T0)).contains("revocation"));
    // Only the root signs them.
    assert!(renew(&key(8), &th.certificate, None, 365, T0).is_err());

    // Clients drop the revoked key and everything it signs.
    let rec = Signed::sign(&record("th.dsi.somchai", &key(20), 21), &th.key);
    let (dir, _) = Directory::build(
        &root.public_key(),
        &[th.certificate.clone(), renewed, revocation],
        &[rec],
        &[],
        T0,
    );
    assert_eq!(dir.authorities().count(), 0);
    assert_eq!(dir.records().count(), 0);
}

#[test]
fn update_bumps_the_version_and_applies_changes() {
    let root = key(1);
    let th = authority(&root, "TH", 2);
    let cur = record("th.dsi.somchai", &key(20), 21);
    let changes = RecordChanges {
        name: Some("Somchai P.".into()),
        languages: Some(vec!["th".into(), "en".into()]),
        working_hours: Some("Mon-Fri 08:30-16:30".into()),
        roles: Some(vec!["th.dsi.tip-duty".into()]),
        ..RecordChanges::default()
    };
    let signed = updated_record(&th, &cur, &changes, T0).unwrap();
    let cert = th.certificate.decode_unverified().unwrap();
    let r = verify_record(&cert, &signed).unwrap();
    assert_eq!(r.version, 2);
    assert_eq!(r.name, "Somchai P.");
    assert_eq!(r.languages, ["th", "en"]);
    assert_eq!(r.roles, ["th.dsi.tip-duty"]);
    assert_eq!(
        (&r.agency, &r.devices, r.not_after),
        (&cur.agency, &cur.devices, cur.not_after)
    );
    // New validity only when asked.
    let renewed = updated_record(
        &th,
        &r,
        &RecordChanges {
            valid_days: Some(10),
            ..RecordChanges::default()
        },
        T0,
    )
    .unwrap();
    let r3 = renewed.decode_unverified().unwrap();
    assert_eq!((r3.version, r3.not_after), (3, T0.plus_millis(10 * DAY_MS)));
    assert!(
        err_text(updated_record(&th, &cur, &RecordChanges::default(), T0))
            .contains("nothing to change")
    );
    let too_long = RecordChanges {
        notes: Some("x".repeat(MAX_TEXT + 1)),
        ..RecordChanges::default()
    };
    assert!(updated_record(&th, &cur, &too_long, T0).is_err());
}

#[test]
fn revocation_is_a_new_version_and_final_for_updates() {
    let root = key(1);
    let th = authority(&root, "TH", 2);
    let cur = record("th.dsi.somchai", &key(20), 21);
    let revoked_at = Timestamp(T0.0 + 3_600_000);
    let signed = revoked_record(&th, &cur, "left the unit", revoked_at).unwrap();
    let r = signed.decode_unverified().unwrap();
    assert_eq!(r.version, 2);
    // The revoking version dates the revocation.
    assert_eq!(r.not_before, revoked_at);
    assert_eq!(
        r.status,
        RecordStatus::Revoked {
            reason: "left the unit".into()
        }
    );
    assert!(!r.is_active(T0));
    assert!(err_text(revoked_record(&th, &r, "again", T0)).contains("already revoked"));
    assert!(revoked_record(&th, &cur, " ", T0).is_err());
    let change = RecordChanges {
        name: Some("x".into()),
        ..RecordChanges::default()
    };
    assert!(err_text(updated_record(&th, &r, &change, T0)).contains("revoked"));
    // Clients see the revocation supersede version 1.
    let (dir, _) = Directory::build(
        &root.public_key(),
        std::slice::from_ref(&th.certificate),
        &[Signed::sign(&cur, &th.key), signed],
        &[],
        T0,
    );
    assert!(dir.device_owner(&key(21).public_key()).is_none());
}

#[test]
fn devices_are_added_only_with_the_identity_endorsement_and_removed_by_fingerprint() {
    let root = key(1);
    let th = authority(&root, "TH", 2);
    let identity = key(20);
    let cur = record("th.dsi.somchai", &identity, 21);
    let ok = approval("th.dsi.somchai", &identity, 22, T0);
    let (signed, req) = record_with_device(&th, &cur, &ok, T0).unwrap();
    assert_eq!(req.prekeys.len(), 1);
    let cert = th.certificate.decode_unverified().unwrap();
    let two = verify_record(&cert, &signed).unwrap();
    assert_eq!(two.version, 2);
    assert_eq!(two.devices, [device(21), device(22)]);
    assert_eq!(two.device_endorsements.len(), 2);

    // Endorsed by another key (say, the new device's owner pretending),
    // for another id, already present, too old: refused.
    let mut forged = approval("th.dsi.somchai", &key(30), 22, T0);
    assert!(
        err_text(record_with_device(&th, &cur, &forged, T0)).contains("was made with identity")
    );
    forged.identity_key = identity.public_key();
    assert!(
        err_text(record_with_device(&th, &cur, &forged, T0))
            .contains("not endorsed by the identity key")
    );
    let other = approval("th.dsi.other", &identity, 22, T0);
    assert!(err_text(record_with_device(&th, &cur, &other, T0)).contains("not for th.dsi.somchai"));
    assert!(err_text(record_with_device(&th, &two, &ok, T0)).contains("already a device"));
    let late = T0.plus_millis((MAX_DEVICE_REQUEST_AGE_DAYS + 1) * DAY_MS);
    assert!(err_text(record_with_device(&th, &cur, &ok, late)).contains("days ago"));
    // A request signed by a key other than its device's.
    let mut bad = ok.clone();
    let inner = bad.request.decode_unverified().unwrap();
    bad.request = Signed::sign(&inner, &key(31));
    assert!(err_text(record_with_device(&th, &cur, &bad, T0)).contains("does not verify"));
    // The approval file round-trips through its armour.
    let text = liaison_protocol::armor::armor_wire(ArmorKind::DeviceApproval, &ok);
    assert_eq!(parse_device_approval(&text).unwrap(), ok);

    // Remove the first device by a fingerprint prefix with spaces.
    let fp = key(21).public_key().fingerprint().to_string();
    let prefix = fp.get(..14).unwrap();
    let removed_at = Timestamp(two.not_before.0 + 10 * DAY_MS);
    let (signed, removed) = record_without_device(&th, &two, prefix, removed_at).unwrap();
    assert_eq!(removed, device(21));
    let one = verify_record(&cert, &signed).unwrap();
    assert_eq!((one.version, one.devices.clone()), (3, vec![device(22)]));
    // The new version dates the removal (a minute early, for clock skew),
    // and keeps the end of the record's validity.
    assert_eq!(one.not_before, Timestamp(removed_at.0 - 60_000));
    assert_eq!(one.not_after, two.not_after);
    // ... and by the hex key; the last device is not removed.
    let last = err_text(record_without_device(
        &th,
        &one,
        &key(22).public_key().to_hex(),
        T0,
    ));
    assert!(last.contains("only device"), "{last}");
    assert!(err_text(record_without_device(&th, &one, "deadbeef", T0)).contains("no device"));
    assert!(record_without_device(&th, &one, "xyz", T0).is_err());
}

#[test]
fn roles_are_built_and_handed_over() {
    let root = key(1);
    let th = authority(&root, "TH", 2);
    let recs = [
        Signed::sign(&record("th.dsi.a", &key(20), 21), &th.key),
        Signed::sign(&record("th.dsi.b", &key(22), 23), &th.key),
    ];
    let (dir, _) = Directory::build(
        &root.public_key(),
        std::slice::from_ref(&th.certificate),
        &recs,
        &[],
        T0,
    );
    let mut params = RoleParams {
        id: id("th.dsi.tip-duty"),
        name: None,
        description: Some("24/7 TIP desk".into()),
        holders: vec![id("th.dsi.a")],
        valid_days: None,
    };
    assert!(err_text(role_record(&th, None, &params, &dir, T0)).contains("new role"));
    params.name = Some("DSI TIP duty".into());
    let (v1, warnings) = role_record(&th, None, &params, &dir, T0).unwrap();
    assert!(warnings.is_empty());
    let r1 = v1.decode_unverified().unwrap();
    assert_eq!((r1.version, r1.holders.clone()), (1, vec![id("th.dsi.a")]));

    // Handover: a new version, other holders, name kept.
    let handover = RoleParams {
        name: None,
        description: None,
        holders: vec![id("th.dsi.b"), id("th.dsi.ghost")],
        ..params.clone()
    };
    let (v2, warnings) = role_record(&th, Some(&r1), &handover, &dir, T0).unwrap();
    let r2 = v2.decode_unverified().unwrap();
    assert_eq!(r2.version, 2);
    assert_eq!(r2.name, "DSI TIP duty");
    assert_eq!(r2.description, "24/7 TIP desk");
    assert_eq!(r2.holders, [id("th.dsi.b"), id("th.dsi.ghost")]);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("th.dsi.ghost"));
    let (dir2, rejected) = Directory::build(
        &root.public_key(),
        std::slice::from_ref(&th.certificate),
        &recs,
        &[v1, v2],
        T0,
    );
    assert!(rejected.is_empty(), "{rejected:?}");
    let reach: Vec<_> = dir2
        .resolve(&id("th.dsi.tip-duty"), T0)
        .iter()
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(reach, [id("th.dsi.b")]);

    // Holders of another country, duplicates, a focal point's id.
    let foreign = RoleParams {
        holders: vec![id("ph.pnp.bob")],
        ..params.clone()
    };
    let e = err_text(role_record(&th, None, &foreign, &dir, T0));
    assert!(e.contains("ph.pnp.bob cannot hold the TH role"), "{e}");
    let dup = RoleParams {
        holders: vec![id("th.dsi.a"), id("th.dsi.a")],
        ..params.clone()
    };
    assert!(err_text(role_record(&th, None, &dup, &dir, T0)).contains("twice"));
    let clash = RoleParams {
        id: id("th.dsi.a"),
        ..params.clone()
    };
    assert!(err_text(role_record(&th, None, &clash, &dir, T0)).contains("focal point's id"));
    let empty = RoleParams {
        holders: vec![],
        ..params
    };
    let (_, w) = role_record(&th, None, &empty, &dir, T0).unwrap();
    assert!(w[0].contains("reach nobody"));
}

#[test]
fn another_countrys_authority_is_refused_naming_the_rule() {
    let root = key(1);
    let ph = authority(&root, "PH", 3);
    let th_rec = record("th.dsi.x", &key(20), 21);
    let rule = "the PH authority cannot update th.dsi.x: only the TH authority can";
    let change = RecordChanges {
        name: Some("Mallory".into()),
        ..RecordChanges::default()
    };
    assert!(err_text(updated_record(&ph, &th_rec, &change, T0)).contains(rule));
    assert!(
        err_text(revoked_record(&ph, &th_rec, "because", T0))
            .contains("the PH authority cannot revoke th.dsi.x: only the TH authority can")
    );
    assert!(
        err_text(record_without_device(&ph, &th_rec, "deadbeef00", T0))
            .contains("the PH authority cannot")
    );
    let a = approval("th.dsi.x", &key(20), 22, T0);
    assert!(
        err_text(record_with_device(&ph, &th_rec, &a, T0))
            .contains("the PH authority cannot add a device to th.dsi.x")
    );
    let params = RoleParams {
        id: id("th.dsi.duty"),
        name: Some("x".into()),
        description: None,
        holders: vec![],
        valid_days: None,
    };
    assert!(
        err_text(role_record(&ph, None, &params, &Directory::default(), T0))
            .contains("the PH authority cannot publish the role th.dsi.duty")
    );
    let e = check_jurisdiction(cc("PH"), "enrol", &id("th.dsi.x")).unwrap_err();
    assert!(
        format!("{e:#}")
            .contains("the PH authority cannot enrol th.dsi.x: only the TH authority can")
    );
    assert!(hint_of(&e).unwrap().contains("ask the TH authority"));
    assert!(check_jurisdiction(cc("TH"), "enrol", &id("th.dsi.x")).is_ok());
}

#[test]
fn bundles_are_validated() {
    use liaison_protocol::log::{CosignatureSigner, NoteSigner};
    let dir_log = NoteSigner::from_seed("liaison.example/directory", &[5; 32]).unwrap();
    let ev_log = NoteSigner::from_seed("liaison.example/events", &[6; 32]).unwrap();
    let witness = CosignatureSigner::from_seed("witness.th.example", &[7; 32]).unwrap();
    let mut p = BundleParams {
        network: "liaison".into(),
        root_key: key(1).public_key().to_hex().to_ascii_uppercase(),
        relay_addr: "relay.example:7443".into(),
        cert_sha256: hex::encode([9u8; 32]),
        directory_log_key: dir_log.verifier().to_vkey(),
        event_log_key: ev_log.verifier().to_vkey(),
        witnesses: vec![witness.verifier().to_vkey()],
        quorum: 1,
    };
    let b = make_bundle(&p).unwrap();
    assert_eq!(b.root().unwrap(), key(1).public_key());
    assert_eq!(Bundle::from_toml(&b.to_toml()).unwrap(), b);
    assert_eq!(b.quorum().unwrap(), 1);
    p.quorum = 2;
    assert!(
        make_bundle(&p).is_err(),
        "quorum above the number of witnesses"
    );
    p.quorum = 1;
    p.event_log_key = "not a key".into();
    assert!(make_bundle(&p).is_err());
    p.event_log_key = ev_log.verifier().to_vkey();
    p.cert_sha256 = "abcd".into();
    assert!(make_bundle(&p).is_err());
}

#[test]
fn root_key_file_round_trip_and_hints() {
    let root = key(1);
    let text = root_key_text(&root);
    assert_eq!(
        parse_root_key(&text).unwrap().public_key(),
        root.public_key()
    );
    assert!(parse_root_key("zz").is_err());
    // A hint survives the context a binary adds.
    let e = anyhow::Error::new(AdminError::NoRole {
        id: id("th.dsi.duty"),
    })
    .context("while testing");
    assert_eq!(
        hint_of(e.as_ref()).as_deref(),
        Some("create it first (see `liaison-admin role set --help`)")
    );
    let io = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
    assert!(hint_of(io.as_ref()).unwrap().contains("another --out"));
}
