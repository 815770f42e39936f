use super::*;
use crate::directory::{RecordFormat, endorse_device, prove_device};
use crate::keys::{SecretKey, Signature};

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap_or_else(|_| unreachable!())
}

fn cert(country: &str, k: &SecretKey) -> AuthorityCertificate {
    AuthorityCertificate {
        country: CountryCode::parse(country).unwrap_or_else(|_| unreachable!()),
        name: format!("{country} authority"),
        key: k.public_key(),
        serial: 1,
        not_before: Timestamp(0),
        not_after: Timestamp(1_000),
        revoked: false,
    }
}

fn keys_of(device: &SecretKey) -> DeviceKeys {
    DeviceKeys {
        signing: device.public_key(),
        agreement: device.public_key().0,
    }
}

/// A record of `id_` whose devices all proved possession.
fn record(id_: &str, identity: &SecretKey, devices: &[&SecretKey]) -> FocalPointRecord {
    let i = id(id_);
    let keys: Vec<DeviceKeys> = devices.iter().map(|d| keys_of(d)).collect();
    FocalPointRecord {
        country: i.country(),
        version: 1,
        name: "N".into(),
        agency: "A".into(),
        unit: "U".into(),
        roles: vec![],
        languages: vec![],
        time_zone: "UTC".into(),
        working_hours: String::new(),
        notes: String::new(),
        identity_key: identity.public_key(),
        device_endorsements: keys
            .iter()
            .map(|k| endorse_device(identity, &i, k))
            .collect(),
        device_proofs: devices
            .iter()
            .zip(&keys)
            .map(|(d, k)| Some(prove_device(d, &i, &identity.public_key(), k)))
            .collect(),
        devices: keys,
        not_before: Timestamp(0),
        not_after: Timestamp(1_000),
        status: RecordStatus::Active,
        format: RecordFormat::Proofs,
        id: i,
    }
}

/// Re-endorse after editing the devices (the identity key is `identity`).
fn endorse(r: &mut FocalPointRecord, identity: &SecretKey) {
    r.device_endorsements = r
        .devices
        .iter()
        .map(|d| endorse_device(identity, &r.id, d))
        .collect();
}

struct Net {
    root: SecretKey,
    th: SecretKey,
    ph: SecretKey,
    state: DirectoryState,
}

impl Net {
    fn new() -> Self {
        let (root, th, ph) = (key(1), key(2), key(3));
        let mut state = DirectoryState::new(root.public_key());
        for (c, k) in [("TH", &th), ("PH", &ph)] {
            let applied = state.apply(&DirectoryEntry::Authority(Signed::sign(&cert(c, k), &root)));
            assert!(applied.is_ok(), "{applied:?}");
        }
        Net {
            root,
            th,
            ph,
            state,
        }
    }

    fn apply(&mut self, r: &FocalPointRecord, by: &SecretKey) -> Result<Applied, Refused> {
        self.state
            .apply(&DirectoryEntry::Record(Signed::sign(r, by)))
    }

    fn admit(&self, r: &FocalPointRecord, by: &SecretKey) -> Result<(), Refused> {
        self.state
            .admit(&DirectoryEntry::Record(Signed::sign(r, by)))
    }

    fn in_force(&self, id_: &str) -> Option<u64> {
        let (dir, _) = self.state.directory(Timestamp(10));
        dir.record(&id(id_)).map(|r| r.version)
    }
}

#[test]
fn the_first_record_in_log_order_keeps_a_device_whatever_the_ids() {
    let mut net = Net::new();
    let alice = record("th.dsi.alice", &key(10), &[&key(11)]);
    assert!(net.apply(&alice, &net.th.clone()).is_ok());
    // A PH record listing Alice's device, with the device's proof made for
    // her id copied over: the proof does not verify for the PH id.
    let mut squat = record("ph.pnp.mallory", &key(20), &[&key(11)]);
    squat.device_proofs = alice.device_proofs.clone();
    let err = net.apply(&squat, &net.ph.clone()).unwrap_err();
    assert!(
        matches!(err.error, Refusal::Invalid(VerifyError::Inconsistent(m)) if m.contains("proof")),
        "{err}"
    );
    // Without a proof (as a record of the previous release would be): the
    // device is held by Alice, first in log order, although "ph" sorts first.
    let mut legacy = squat.clone();
    legacy.device_proofs = vec![None];
    legacy.format = RecordFormat::Legacy;
    let err = net.apply(&legacy, &net.ph.clone()).unwrap_err();
    assert_eq!(err.subject, "ph.pnp.mallory");
    assert!(
        matches!(&err.error, Refusal::DeviceTaken { holder, kind: DeviceKeyKind::Signing, .. } if holder.as_str() == "th.dsi.alice"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("if this person changed country, revoke the old record first")
    );
    assert_eq!(net.in_force("th.dsi.alice"), Some(1));
    assert_eq!(net.in_force("ph.pnp.mallory"), None);
    let (dir, _) = net.state.directory(Timestamp(10));
    assert_eq!(
        dir.device_owner(&key(11).public_key())
            .map(|r| r.id.as_str()),
        Some("th.dsi.alice")
    );
}

#[test]
fn agreement_keys_are_unique_too() {
    let mut net = Net::new();
    let alice = record("th.dsi.alice", &key(10), &[&key(11)]);
    assert!(net.apply(&alice, &net.th.clone()).is_ok());
    // Mallory's own device, but with Alice's agreement key (the device can
    // sign a proof: it is Mallory's device).
    let mut m = record("ph.pnp.mallory", &key(20), &[&key(21)]);
    m.devices[0].agreement = alice.devices[0].agreement;
    endorse(&mut m, &key(20));
    m.device_proofs = vec![Some(prove_device(
        &key(21),
        &m.id,
        &m.identity_key,
        &m.devices[0],
    ))];
    let err = net.apply(&m, &net.ph.clone()).unwrap_err();
    assert!(
        matches!(&err.error, Refusal::DeviceTaken { kind: DeviceKeyKind::Agreement, holder, .. } if holder.as_str() == "th.dsi.alice"),
        "{err}"
    );
}

#[test]
fn a_conflicting_update_is_refused_and_the_previous_version_stays() {
    let mut net = Net::new();
    let alice = record("th.dsi.alice", &key(10), &[&key(11)]);
    let bob = record("ph.pnp.bob", &key(20), &[&key(21)]);
    assert!(net.apply(&alice, &net.th.clone()).is_ok());
    assert!(net.apply(&bob, &net.ph.clone()).is_ok());
    // Bob's authority tries to add Alice's device to Bob's record.
    let mut bob2 = record("ph.pnp.bob", &key(20), &[&key(21), &key(11)]);
    bob2.version = 2;
    assert!(net.apply(&bob2, &net.ph.clone()).is_err());
    assert_eq!(net.in_force("ph.pnp.bob"), Some(1));
    assert_eq!(net.in_force("th.dsi.alice"), Some(1));
}

#[test]
fn versions_only_go_up_and_revocations_are_final() {
    let mut net = Net::new();
    let th = net.th.clone();
    let v1 = record("th.dsi.alice", &key(10), &[&key(11)]);
    assert!(net.apply(&v1, &th).is_ok());
    assert!(matches!(
        net.apply(&v1, &th).unwrap_err().error,
        Refusal::Stale {
            offered: 1,
            held: 1
        }
    ));
    let mut revoked = v1.clone();
    revoked.version = 2;
    revoked.status = RecordStatus::Revoked {
        reason: "moved to PH".into(),
    };
    assert!(net.apply(&revoked, &th).is_ok());
    let mut back = v1.clone();
    back.version = 3;
    assert!(matches!(
        net.apply(&back, &th).unwrap_err().error,
        Refusal::RecordRevoked { version: 2, .. }
    ));
    // A revoked record releases its devices: the officer who moved is
    // enrolled by the new country with the same device (a new proof for the
    // new id).
    let moved = record("ph.pnp.alice", &key(30), &[&key(11)]);
    assert!(net.apply(&moved, &net.ph.clone()).is_ok());
    assert_eq!(net.in_force("ph.pnp.alice"), Some(1));
}

#[test]
fn a_removed_device_is_retired_for_every_record() {
    let mut net = Net::new();
    let th = net.th.clone();
    let v1 = record("th.dsi.alice", &key(10), &[&key(11), &key(12)]);
    assert!(net.apply(&v1, &th).is_ok());
    let mut v2 = record("th.dsi.alice", &key(10), &[&key(11)]);
    v2.version = 2;
    assert!(net.apply(&v2, &th).is_ok());
    // Not back into Alice's record, nor into anyone else's.
    let mut v3 = v1.clone();
    v3.version = 3;
    assert!(matches!(
        net.apply(&v3, &th).unwrap_err().error,
        Refusal::DeviceRetired { .. }
    ));
    let other = record("th.dsi.eve", &key(40), &[&key(12)]);
    assert!(matches!(
        net.apply(&other, &th).unwrap_err().error,
        Refusal::DeviceRetired { .. }
    ));
    let (dir, _) = net.state.directory(Timestamp(10));
    assert!(dir.device_owner(&key(12).public_key()).is_none());
}

#[test]
fn a_revoked_authority_stays_revoked_and_its_records_leave_force() {
    let mut net = Net::new();
    let th = net.th.clone();
    assert!(
        net.apply(&record("th.dsi.alice", &key(10), &[&key(11)]), &th)
            .is_ok()
    );
    let mut rev = cert("TH", &th);
    rev.serial = 2;
    rev.revoked = true;
    let root = net.root.clone();
    assert!(
        net.state
            .apply(&DirectoryEntry::Authority(Signed::sign(&rev, &root)))
            .is_ok()
    );
    let mut again = cert("TH", &th);
    again.serial = 3;
    assert!(matches!(
        net.state
            .apply(&DirectoryEntry::Authority(Signed::sign(&again, &root)))
            .unwrap_err()
            .error,
        Refusal::AuthorityRevoked
    ));
    assert_eq!(net.in_force("th.dsi.alice"), None);
    let (_, refused) = net.state.directory(Timestamp(10));
    assert!(refused.iter().any(|r| r.subject == "th.dsi.alice"));
    // Nothing new signed by the revoked key is applied.
    let mut v2 = record("th.dsi.alice", &key(10), &[&key(11)]);
    v2.version = 2;
    assert!(net.apply(&v2, &th).is_err());
}

#[test]
fn an_authority_cannot_sign_for_another_country() {
    let mut net = Net::new();
    let forged = record("th.dsi.alice", &key(10), &[&key(11)]);
    let err = net.apply(&forged, &net.ph.clone()).unwrap_err();
    assert!(matches!(
        err.error,
        Refusal::Invalid(VerifyError::CountryMismatch { .. })
    ));
}

#[test]
fn unproven_devices_replay_but_are_only_admitted_when_already_held() {
    let mut net = Net::new();
    let th = net.th.clone();
    // A record of the previous release, replayed from the log: accepted.
    let mut legacy = record("th.dsi.alice", &key(10), &[&key(11)]);
    legacy.device_proofs = vec![None];
    legacy.format = RecordFormat::Legacy;
    let other = record("th.dsi.carol", &key(50), &[&key(51)]);
    // But not admitted as something new.
    assert!(matches!(
        net.admit(&legacy, &th).unwrap_err().error,
        Refusal::UnprovenDevice { .. }
    ));
    assert!(matches!(
        net.apply(&legacy, &th),
        Ok(Applied::Record {
            unproven_devices: 1,
            ..
        })
    ));
    assert!(net.apply(&other, &th).is_ok());
    // Its next version (re-signed in format 2) may carry the device over
    // without a proof, and add a proven one; not add an unproven one.
    let mut v2 = record("th.dsi.alice", &key(10), &[&key(11), &key(12)]);
    v2.version = 2;
    v2.device_proofs[0] = None;
    assert_eq!(net.admit(&v2, &th), Ok(()));
    let mut sneaky = v2.clone();
    sneaky.device_proofs[1] = None;
    assert!(matches!(
        net.admit(&sneaky, &th).unwrap_err().error,
        Refusal::UnprovenDevice { .. }
    ));
    // Admission changes nothing; applying does.
    assert_eq!(net.in_force("th.dsi.alice"), Some(1));
    assert!(net.apply(&v2, &th).is_ok());
    assert_eq!(net.in_force("th.dsi.alice"), Some(2));
}

#[test]
fn a_forged_proof_is_refused_by_admit_and_apply() {
    let mut net = Net::new();
    let mut r = record("ph.pnp.mallory", &key(20), &[&key(11)]);
    r.device_proofs = vec![Some(Signature([7; 64]))];
    let ph = net.ph.clone();
    assert!(net.admit(&r, &ph).is_err());
    assert!(net.apply(&r, &ph).is_err());
    assert_eq!(net.in_force("ph.pnp.mallory"), None);
}

#[test]
fn build_never_lets_an_unproven_record_take_a_proven_device() {
    let net = Net::new();
    let auths: Vec<_> = net
        .state
        .signed_authorities()
        .into_iter()
        .cloned()
        .collect();
    let alice = record("th.dsi.alice", &key(10), &[&key(11)]);
    let mut squat = record("ph.pnp.mallory", &key(20), &[&key(11)]);
    squat.device_proofs = vec![None];
    // Served first, as a hostile relay would.
    let recs = [Signed::sign(&squat, &net.ph), Signed::sign(&alice, &net.th)];
    let (dir, refused) =
        Directory::build(&net.root.public_key(), &auths, &recs, &[], Timestamp(10));
    assert_eq!(
        dir.device_owner(&key(11).public_key())
            .map(|r| r.id.as_str()),
        Some("th.dsi.alice")
    );
    assert!(
        matches!(&refused[..], [r] if r.subject == "ph.pnp.mallory"
            && matches!(r.error, Refusal::DeviceTaken { .. })),
        "{refused:?}"
    );
}

#[test]
fn build_follows_the_order_given_not_the_ids() {
    let net = Net::new();
    let root = net.root.public_key();
    let auths = net
        .state
        .signed_authorities()
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    let mut alice = record("th.dsi.alice", &key(10), &[&key(11)]);
    alice.device_proofs = vec![None];
    alice.format = RecordFormat::Legacy;
    let mut squat = record("ph.pnp.mallory", &key(20), &[&key(11)]);
    squat.device_proofs = vec![None];
    squat.format = RecordFormat::Legacy;
    let recs = [Signed::sign(&alice, &net.th), Signed::sign(&squat, &net.ph)];
    let (dir, refused) = Directory::build(&root, &auths, &recs, &[], Timestamp(10));
    assert!(dir.record(&id("th.dsi.alice")).is_some());
    assert!(dir.record(&id("ph.pnp.mallory")).is_none());
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].subject, "ph.pnp.mallory");
}
