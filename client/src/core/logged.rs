//! Whether the relay's event log shows a message as this client knows it.
//!
//! A message is `logged` once the events it must have are proven included
//! in a verified checkpoint and say what the client knows: for a message
//! sent from this device, an `accepted` event from this device to exactly
//! the devices it encrypted to, with the ciphertext size it sent; for a
//! received one, an `accepted` event from the sending device that lists
//! this device (with at least the size of its envelope) and a `delivered`
//! event to this device. An included event that says otherwise is an
//! altered event; an event still missing from a checkpoint the relay
//! served [`OMISSION_GRACE_MS`] after it should have been logged is an
//! omission. Both are the relay's misbehaviour: the driver warns and keeps
//! evidence.

use std::collections::BTreeMap;

use liaison_protocol::log::event::EventKind;
use liaison_protocol::{MessageId, PublicKey, Timestamp};
use serde::{Deserialize, Serialize};

use crate::core::message::Direction;

/// How long after a message was accepted or received its events may be
/// missing from the relay's newest checkpoint. A relay signs a checkpoint
/// within a minute at most (its `checkpoint_interval_ms`); ten minutes
/// leave room for clocks and restarts.
pub const OMISSION_GRACE_MS: u64 = 10 * 60 * 1000;

/// What this client knows of a message's passage through the relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// Sent or received.
    pub direction: Direction,
    /// This device.
    pub device: PublicKey,
    /// The device that sent it, when known.
    pub sender_device: Option<PublicKey>,
    /// For a sent message, every device it was encrypted to.
    pub recipient_devices: Option<Vec<PublicKey>>,
    /// For a sent message, the total ciphertext size; for a received one,
    /// the size of this device's envelope.
    pub bytes: Option<u64>,
}

impl Expected {
    /// A message this device sent: its envelopes' recipients and sizes.
    pub fn sent(device: PublicKey, envelopes: &[(PublicKey, u64)]) -> Expected {
        Expected {
            direction: Direction::Out,
            device,
            sender_device: Some(device),
            recipient_devices: Some(envelopes.iter().map(|(d, _)| *d).collect()),
            bytes: Some(envelopes.iter().map(|(_, n)| *n).sum()),
        }
    }

    /// A message this device received in an envelope of `bytes` from
    /// `sender_device`.
    pub fn received(device: PublicKey, sender_device: PublicKey, bytes: u64) -> Expected {
        Expected {
            direction: Direction::In,
            device,
            sender_device: Some(sender_device),
            recipient_devices: None,
            bytes: Some(bytes),
        }
    }

    /// What is known of a message stored before the client kept these
    /// details: its direction, and that it went from or to this device.
    pub fn stored_earlier(direction: Direction, device: PublicKey) -> Expected {
        Expected {
            direction,
            device,
            sender_device: (direction == Direction::Out).then_some(device),
            recipient_devices: None,
            bytes: None,
        }
    }
}

/// The messages whose events are still watched, as the home keeps them
/// (one sealed singleton; a message leaves it once logged).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// By message id.
    pub messages: BTreeMap<[u8; 16], Watch>,
}

/// One watched message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    /// What the client knows of it.
    pub expected: Expected,
    /// The relay's omission or altered event was reported (once).
    pub reported: bool,
}

impl Watched {
    /// Start watching `id`.
    pub fn insert(&mut self, id: MessageId, expected: Expected) {
        self.messages.insert(
            id.0,
            Watch {
                expected,
                reported: false,
            },
        );
    }

    /// What is known of `id`: what was kept when it was sent or received,
    /// else what every message stored earlier shows.
    pub fn expected(&self, id: MessageId, direction: Direction, device: PublicKey) -> Expected {
        self.messages
            .get(&id.0)
            .map(|w| w.expected.clone())
            .unwrap_or_else(|| Expected::stored_earlier(direction, device))
    }

    /// Whether a misbehaviour about `id` was reported already.
    pub fn reported(&self, id: MessageId) -> bool {
        self.messages.get(&id.0).is_some_and(|w| w.reported)
    }
}

/// What the event log shows of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every event it must have is included and says what the client knows.
    Logged,
    /// Not all included yet, and not overdue.
    Pending,
    /// An included event says otherwise than the client knows.
    Altered(String),
    /// Events still missing from a checkpoint served well after they were
    /// due: which ones.
    Missing(Vec<&'static str>),
}

/// Judge a message's events. `included` are the message's events proven
/// included in the newest verified checkpoint, `due` is when the client
/// accepted or received the message (its own clock), `checkpoint_at` when
/// it obtained that checkpoint from the relay.
pub fn judge(
    expected: &Expected,
    included: &[EventKind],
    due: Timestamp,
    checkpoint_at: Timestamp,
) -> Verdict {
    let mut accepted = false;
    let mut delivered = false;
    for kind in included {
        match kind {
            EventKind::Accepted {
                sender_device,
                recipient_devices,
                bytes,
                ..
            } => {
                if let Some(why) =
                    accepted_differs(expected, sender_device, recipient_devices, *bytes)
                {
                    return Verdict::Altered(why);
                }
                accepted = true;
            }
            EventKind::Delivered {
                recipient_device, ..
            } if *recipient_device == expected.device => delivered = true,
            _ => {}
        }
    }
    let mut missing = Vec::new();
    if !accepted {
        missing.push("accepted");
    }
    if expected.direction == Direction::In && !delivered {
        missing.push("delivered");
    }
    if missing.is_empty() {
        Verdict::Logged
    } else if overdue(due, checkpoint_at) {
        Verdict::Missing(missing)
    } else {
        Verdict::Pending
    }
}

/// Whether a checkpoint obtained at `checkpoint_at` should include events
/// due at `due`.
pub fn overdue(due: Timestamp, checkpoint_at: Timestamp) -> bool {
    checkpoint_at.0 >= due.0.saturating_add(OMISSION_GRACE_MS)
}

fn accepted_differs(
    expected: &Expected,
    sender_device: &PublicKey,
    recipient_devices: &[PublicKey],
    bytes: u64,
) -> Option<String> {
    if let Some(d) = &expected.sender_device
        && d != sender_device
    {
        return Some(format!(
            "the accepted event names sending device {}, not {}",
            sender_device.fingerprint(),
            d.fingerprint()
        ));
    }
    match expected.direction {
        Direction::Out => {
            if let Some(sent) = &expected.recipient_devices {
                let mut sent = sent.clone();
                let mut logged = recipient_devices.to_vec();
                sent.sort();
                logged.sort();
                if sent != logged {
                    return Some(format!(
                        "the accepted event lists {} recipient device(s), not the {} it was sent to",
                        logged.len(),
                        sent.len()
                    ));
                }
            }
            if let Some(n) = expected.bytes
                && n != bytes
            {
                return Some(format!(
                    "the accepted event records {bytes} bytes, not the {n} sent"
                ));
            }
        }
        Direction::In => {
            if !recipient_devices.contains(&expected.device) {
                return Some("the accepted event does not list this device".into());
            }
            if let Some(n) = expected.bytes
                && bytes < n
            {
                return Some(format!(
                    "the accepted event records {bytes} bytes, less than the {n} received"
                ));
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use liaison_protocol::MessageId;

    use super::*;
    use crate::core::testing::key;

    const M: MessageId = MessageId([1; 16]);

    fn accepted(sender: u8, recipients: &[u8], bytes: u64) -> EventKind {
        EventKind::Accepted {
            message_id: M,
            sender_device: key(sender).public_key(),
            recipient_devices: recipients.iter().map(|n| key(*n).public_key()).collect(),
            bytes,
        }
    }

    fn delivered(to: u8) -> EventKind {
        EventKind::Delivered {
            message_id: M,
            recipient_device: key(to).public_key(),
        }
    }

    fn sent() -> Expected {
        Expected::sent(
            key(1).public_key(),
            &[(key(2).public_key(), 100), (key(3).public_key(), 120)],
        )
    }

    fn received() -> Expected {
        Expected::received(key(2).public_key(), key(1).public_key(), 100)
    }

    const DUE: Timestamp = Timestamp(1_000_000);
    const SOON: Timestamp = Timestamp(1_000_500);
    const LATE: Timestamp = Timestamp(1_000_000 + OMISSION_GRACE_MS);

    #[test]
    fn a_sent_message_is_logged_when_its_accepted_event_matches() {
        assert_eq!(
            judge(&sent(), &[accepted(1, &[3, 2], 220)], DUE, SOON),
            Verdict::Logged
        );
    }

    #[test]
    fn an_accepted_event_that_differs_is_altered() {
        for (event, what) in [
            (accepted(9, &[2, 3], 220), "sending device"),
            (accepted(1, &[2], 100), "1 recipient device(s), not the 2"),
            (accepted(1, &[2, 3, 4], 220), "3 recipient device(s)"),
            (accepted(1, &[2, 3], 221), "221 bytes, not the 220"),
        ] {
            match judge(&sent(), &[event], DUE, SOON) {
                Verdict::Altered(why) => assert!(why.contains(what), "{why}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_received_message_needs_its_accepted_and_delivered_events() {
        let ok = [accepted(1, &[2, 3], 220), delivered(2)];
        assert_eq!(judge(&received(), &ok, DUE, SOON), Verdict::Logged);
        // Delivered to another device only: not yet.
        let other = [accepted(1, &[2, 3], 220), delivered(3)];
        assert_eq!(judge(&received(), &other, DUE, SOON), Verdict::Pending);
        assert_eq!(
            judge(&received(), &other, DUE, LATE),
            Verdict::Missing(vec!["delivered"])
        );
        // An accepted event that leaves this device out, or is too small.
        for event in [
            accepted(1, &[3], 220),
            accepted(1, &[2], 99),
            accepted(4, &[2], 220),
        ] {
            assert!(matches!(
                judge(&received(), &[event, delivered(2)], DUE, SOON),
                Verdict::Altered(_)
            ));
        }
    }

    #[test]
    fn a_missing_event_is_an_omission_only_once_overdue() {
        assert_eq!(judge(&sent(), &[], DUE, SOON), Verdict::Pending);
        assert_eq!(
            judge(&sent(), &[], DUE, Timestamp(LATE.0 - 1)),
            Verdict::Pending
        );
        assert_eq!(
            judge(&sent(), &[], DUE, LATE),
            Verdict::Missing(vec!["accepted"])
        );
        assert_eq!(
            judge(&received(), &[], DUE, LATE),
            Verdict::Missing(vec!["accepted", "delivered"])
        );
        // A checkpoint obtained before the message is never overdue.
        assert!(!overdue(DUE, Timestamp(0)));
    }

    #[test]
    fn the_watch_falls_back_to_what_every_message_shows() {
        let mut w = Watched::default();
        w.insert(M, sent());
        assert_eq!(w.expected(M, Direction::Out, key(1).public_key()), sent());
        let other = MessageId([2; 16]);
        assert_eq!(
            w.expected(other, Direction::In, key(2).public_key()),
            Expected::stored_earlier(Direction::In, key(2).public_key())
        );
        assert!(!w.reported(M));
        w.messages.get_mut(&M.0).unwrap().reported = true;
        assert!(w.reported(M) && !w.reported(other));
    }

    #[test]
    fn messages_stored_earlier_are_checked_for_what_is_known() {
        let out = Expected::stored_earlier(Direction::Out, key(1).public_key());
        assert_eq!(
            judge(&out, &[accepted(1, &[5], 7)], DUE, SOON),
            Verdict::Logged
        );
        assert!(matches!(
            judge(&out, &[accepted(2, &[5], 7)], DUE, SOON),
            Verdict::Altered(_)
        ));
        let inc = Expected::stored_earlier(Direction::In, key(2).public_key());
        assert_eq!(
            judge(&inc, &[accepted(9, &[2], 7), delivered(2)], DUE, SOON),
            Verdict::Logged
        );
    }
}
