//! What the client remembers about each contact between directory syncs:
//! the identity key and devices last seen, whether the safety number was
//! compared in person, and changes still to be shown to the user.
//!
//! Like Signal's safety-number changes: when a contact's identity key
//! changes, the in-person mark is cleared and sending to them is held until
//! the user accepts or re-verifies the new key; a new device of an unchanged
//! identity (endorsed by that identity and countersigned by the authority) is
//! announced but does not block. A record for one's own id that one did not
//! make (another identity key, or a device one never approved) raises an
//! alert.

use std::collections::BTreeMap;

use liaison_protocol::directory::{Directory, FocalPointRecord};
use liaison_protocol::{DirectoryId, PublicKey, Timestamp};
use serde::{Deserialize, Serialize};

/// Remembered state of one contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactState {
    /// Identity key last seen (and accepted).
    pub identity_key: PublicKey,
    /// Devices last seen.
    pub devices: Vec<PublicKey>,
    /// Record version last seen.
    pub version: u64,
    /// Safety number compared in person for `identity_key`.
    pub verified_in_person: bool,
    /// The identity key changed and the user has not accepted it yet;
    /// sending is held.
    pub key_changed: Option<PublicKey>,
    /// Devices added since the user was last told.
    pub new_devices: Vec<PublicKey>,
    /// First seen.
    pub first_seen: Timestamp,
}

/// All contacts' states, keyed by id.
pub type Contacts = BTreeMap<String, ContactState>;

/// A change worth telling the user about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A contact's identity key changed (held until accepted).
    KeyChanged {
        /// Who.
        id: DirectoryId,
        /// Whether they had been verified in person before.
        was_verified: bool,
    },
    /// A contact added a device.
    NewDevice {
        /// Who.
        id: DirectoryId,
        /// The device's key.
        device: PublicKey,
    },
    /// Our own record names another identity key or a device we never
    /// approved.
    OwnRecordAlert {
        /// What is wrong.
        what: String,
    },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::KeyChanged { id, was_verified } => write!(
                f,
                "the identity key of {id} has changed{}. Sending to {id} is held: compare the new safety \
                 number (`liaison safety-number {id}`) with them, then `liaison contacts verify {id} \
                 --safety-number \"...\"` (the number they read to you in place of the dots) or `liaison contacts accept {id}`",
                if *was_verified {
                    " and your in-person verification no longer applies"
                } else {
                    ""
                }
            ),
            Change::NewDevice { id, device } => write!(
                f,
                "{id} added a new device ({}), endorsed by their identity key and countersigned by their authority",
                device.fingerprint()
            ),
            Change::OwnRecordAlert { what } => write!(
                f,
                "ALERT: your own directory record {what}. If you did not ask for this, your identity may be \
                 being impersonated: contact your authority now"
            ),
        }
    }
}

/// Compare the verified directory with what was remembered; update the
/// memory and return the changes. `me`, `my_identity` and `my_devices` (our
/// device and those we approved) identify our own record.
pub fn reconcile(
    contacts: &mut Contacts,
    directory: &Directory,
    me: &DirectoryId,
    my_identity: &PublicKey,
    my_devices: &[PublicKey],
    now: Timestamp,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for r in directory.records() {
        if &r.id == me {
            own_record(r, my_identity, my_devices, &mut changes);
            continue;
        }
        let devices: Vec<PublicKey> = r.devices.iter().map(|d| d.signing).collect();
        match contacts.get_mut(r.id.as_str()) {
            None => {
                contacts.insert(
                    r.id.to_string(),
                    ContactState {
                        identity_key: r.identity_key,
                        devices,
                        version: r.version,
                        verified_in_person: false,
                        key_changed: None,
                        new_devices: Vec::new(),
                        first_seen: now,
                    },
                );
            }
            Some(c) => {
                if r.identity_key != c.identity_key && c.key_changed != Some(r.identity_key) {
                    changes.push(Change::KeyChanged {
                        id: r.id.clone(),
                        was_verified: c.verified_in_person,
                    });
                    c.verified_in_person = false;
                    c.key_changed = Some(r.identity_key);
                } else if r.identity_key == c.identity_key && c.key_changed.is_some() {
                    // Changed back to the accepted key.
                    c.key_changed = None;
                }
                for d in &devices {
                    if !c.devices.contains(d) && !c.new_devices.contains(d) {
                        changes.push(Change::NewDevice {
                            id: r.id.clone(),
                            device: *d,
                        });
                        c.new_devices.push(*d);
                    }
                }
                c.devices = devices;
                c.version = r.version;
            }
        }
    }
    changes
}

fn own_record(
    r: &FocalPointRecord,
    my_identity: &PublicKey,
    my_devices: &[PublicKey],
    changes: &mut Vec<Change>,
) {
    if &r.identity_key != my_identity {
        changes.push(Change::OwnRecordAlert {
            what: format!(
                "now names identity key {} instead of yours ({})",
                r.identity_key.fingerprint(),
                my_identity.fingerprint()
            ),
        });
    }
    for d in &r.devices {
        if !my_devices.contains(&d.signing) {
            changes.push(Change::OwnRecordAlert {
                what: format!(
                    "lists a device you never approved ({})",
                    d.signing.fingerprint()
                ),
            });
        }
    }
}

/// Digits only, so "12345 67890" and "1234567890" compare equal.
pub fn normalize_safety_number(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{dir, key, rec};

    #[test]
    fn key_change_clears_verification_and_new_device_is_announced() {
        let me = DirectoryId::parse("th.dsi.me").unwrap_or_else(|_| unreachable!());
        let my = key(10);
        let mut contacts = Contacts::new();
        let d1 = dir(vec![
            rec("th.dsi.me", &my, &[11]),
            rec("th.dsi.bob", &key(20), &[21]),
        ]);
        let c = reconcile(
            &mut contacts,
            &d1,
            &me,
            &my.public_key(),
            &[key(11).public_key()],
            Timestamp(1),
        );
        assert!(c.is_empty(), "{c:?}");
        if let Some(b) = contacts.get_mut("th.dsi.bob") {
            b.verified_in_person = true;
        }
        // Bob adds a device: announced, not blocking, mark kept.
        let d2 = dir(vec![
            rec("th.dsi.me", &my, &[11]),
            rec("th.dsi.bob", &key(20), &[21, 22]),
        ]);
        let c = reconcile(
            &mut contacts,
            &d2,
            &me,
            &my.public_key(),
            &[key(11).public_key()],
            Timestamp(2),
        );
        assert!(matches!(c.as_slice(), [Change::NewDevice { .. }]), "{c:?}");
        assert!(contacts["th.dsi.bob"].verified_in_person);
        // Bob's identity key changes: mark cleared, sending held.
        let d3 = dir(vec![
            rec("th.dsi.me", &my, &[11]),
            rec("th.dsi.bob", &key(30), &[21, 22]),
        ]);
        let c = reconcile(
            &mut contacts,
            &d3,
            &me,
            &my.public_key(),
            &[key(11).public_key()],
            Timestamp(3),
        );
        assert!(
            matches!(
                c.as_slice(),
                [Change::KeyChanged {
                    was_verified: true,
                    ..
                }]
            ),
            "{c:?}"
        );
        assert!(!contacts["th.dsi.bob"].verified_in_person);
        assert_eq!(
            contacts["th.dsi.bob"].key_changed,
            Some(key(30).public_key())
        );
        // Seen again: not announced twice.
        let c = reconcile(
            &mut contacts,
            &d3,
            &me,
            &my.public_key(),
            &[key(11).public_key()],
            Timestamp(4),
        );
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn own_record_with_foreign_device_or_key_alerts() {
        let me = DirectoryId::parse("th.dsi.me").unwrap_or_else(|_| unreachable!());
        let my = key(10);
        let mut contacts = Contacts::new();
        let d = dir(vec![rec("th.dsi.me", &my, &[11, 66])]);
        let c = reconcile(
            &mut contacts,
            &d,
            &me,
            &my.public_key(),
            &[key(11).public_key()],
            Timestamp(1),
        );
        assert!(
            matches!(c.as_slice(), [Change::OwnRecordAlert { .. }]),
            "{c:?}"
        );
        let d = dir(vec![rec("th.dsi.me", &key(99), &[11])]);
        let c = reconcile(
            &mut contacts,
            &d,
            &me,
            &my.public_key(),
            &[key(11).public_key()],
            Timestamp(1),
        );
        assert!(
            matches!(c.as_slice(), [Change::OwnRecordAlert { .. }]),
            "{c:?}"
        );
    }

    #[test]
    fn safety_numbers_compare_digits_only() {
        assert_eq!(normalize_safety_number("12345 67890\n"), "1234567890");
    }
}
