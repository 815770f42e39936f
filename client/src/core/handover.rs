//! Role handover: whom a handover may go to, which held messages it
//! carries, and which handed-over items the receiving client takes as
//! verified.
//!
//! A handover moves the messages addressed to a role from a focal point who
//! held it to one who holds it now. Conversation ids are chosen by whoever
//! sends a message, so they never decide what a handover carries: only
//! being addressed to the role does. The receiving client takes an item as
//! verified only if it is addressed to the role, the package's sender is
//! shown to have held the role, the receiver holds it now and the
//! originator's signature verifies; anything else is kept apart, unverified,
//! with the reason.
//!
//! Who held a role is shown by the current verified role record, or by a
//! message addressed to the role whose originator's client resolved the
//! role to that focal point (the payload's signed `resolved` list) without
//! naming them directly.

use liaison_protocol::directory::{FocalPointRecord, RoleRecord};
use liaison_protocol::message::{Payload, SignedPayload};
use liaison_protocol::{DirectoryId, MessageId, Timestamp, VerifyError};

/// Why a handover is refused before anything is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandoverError {
    /// The id is not a role of the verified directory.
    #[error("{0} is not a role in the verified directory (`liaison roles` lists the roles)")]
    NotARole(DirectoryId),
    /// The incoming focal point does not hold the role now.
    #[error(
        "{to} does not hold role {role} in the verified directory, so nothing was sent: \
         a handover goes only to a current holder of the role (`liaison roles` shows them; if \
         your authority has just named {to}, run `liaison sync` and try again)"
    )]
    NotAHolder {
        /// The role.
        role: DirectoryId,
        /// The intended recipient.
        to: DirectoryId,
    },
    /// Nothing shows that this focal point held the role.
    #[error(
        "you are not shown to have held role {0}: neither the verified directory nor any \
         message addressed to the role names you as its holder, so nothing was sent"
    )]
    NeverHeld(DirectoryId),
}

/// Why a handed-over item is kept apart as unverified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemRefused {
    /// This focal point does not hold the role now.
    #[error("handed over for role {0}, which you do not hold")]
    NotAHolder(DirectoryId),
    /// The item is not addressed to the role.
    #[error("not addressed to role {0}: a handover carries only messages addressed to the role")]
    NotAddressedToRole(DirectoryId),
    /// Nothing shows that the package's sender held the role.
    #[error("{sender} is not shown to have held role {role}")]
    SenderNeverHeld {
        /// The package's sender.
        sender: DirectoryId,
        /// The role.
        role: DirectoryId,
    },
    /// The originator is not in the verified directory.
    #[error("originator {0} is not in the verified directory")]
    UnknownOriginator(DirectoryId),
    /// The originator's signature does not verify.
    #[error("originator's signature does not verify ({0})")]
    Signature(VerifyError),
}

/// Whether `id` holds `role` now, by its current verified record.
pub fn holds_now(role: Option<&RoleRecord>, id: &DirectoryId, now: Timestamp) -> bool {
    role.is_some_and(|r| r.is_active(now) && r.holders.contains(id))
}

/// Whether `payload` is addressed to `role`.
pub fn addressed_to(payload: &Payload, role: &DirectoryId) -> bool {
    payload.recipients.contains(role)
}

/// Whether `payload`, addressed to `role`, shows `holder` as a holder of
/// the role: its originator's client resolved the recipients to `holder`,
/// who is not named directly.
pub fn shows_holder(payload: &Payload, role: &DirectoryId, holder: &DirectoryId) -> bool {
    addressed_to(payload, role)
        && payload.resolved.contains(holder)
        && !payload.recipients.contains(holder)
}

/// Whether `who` held `role`: the current record names them, or `payload`
/// shows it.
fn held(
    role: &DirectoryId,
    record: Option<&RoleRecord>,
    who: &DirectoryId,
    payload: &Payload,
    now: Timestamp,
) -> bool {
    holds_now(record, who, now) || shows_holder(payload, role, who)
}

/// What `me` hands over of `role` to `to`: of the verified messages held
/// (`(payload, signed bytes)`), those addressed to the role that show `me`
/// held it (or all of them while `me` holds it now). Refused unless `to`
/// holds the role now and `me` is shown to have held it.
pub fn plan<'a>(
    role: &DirectoryId,
    record: Option<&RoleRecord>,
    me: &DirectoryId,
    to: &DirectoryId,
    now: Timestamp,
    held_messages: impl IntoIterator<Item = (&'a Payload, &'a [u8])>,
) -> Result<Vec<&'a [u8]>, HandoverError> {
    if record.is_none() {
        return Err(HandoverError::NotARole(role.clone()));
    }
    if !holds_now(record, to, now) {
        return Err(HandoverError::NotAHolder {
            role: role.clone(),
            to: to.clone(),
        });
    }
    let items: Vec<&[u8]> = held_messages
        .into_iter()
        .filter(|(p, _)| addressed_to(p, role) && held(role, record, me, p, now))
        .map(|(_, bytes)| bytes)
        .collect();
    if items.is_empty() && !holds_now(record, me, now) {
        return Err(HandoverError::NeverHeld(role.clone()));
    }
    Ok(items)
}

/// Who received a handover package and what it names.
#[derive(Clone, Copy, Debug)]
pub struct Receiving<'a> {
    /// The role the package hands over.
    pub role: &'a DirectoryId,
    /// The package's verified sender.
    pub sender: &'a DirectoryId,
    /// This focal point.
    pub me: &'a DirectoryId,
    /// The role's current verified record, if any.
    pub record: Option<&'a RoleRecord>,
    /// Now.
    pub now: Timestamp,
}

/// Whether a handed-over item (its signed bytes, decoded as `claimed`) is
/// taken as verified; `originator` is the claimed sender's current
/// verified record.
pub fn check_item(
    ctx: &Receiving<'_>,
    claimed: &Payload,
    signed: &SignedPayload,
    originator: Option<&FocalPointRecord>,
) -> Result<(), ItemRefused> {
    if !holds_now(ctx.record, ctx.me, ctx.now) {
        return Err(ItemRefused::NotAHolder(ctx.role.clone()));
    }
    if !addressed_to(claimed, ctx.role) {
        return Err(ItemRefused::NotAddressedToRole(ctx.role.clone()));
    }
    if !held(ctx.role, ctx.record, ctx.sender, claimed, ctx.now) {
        return Err(ItemRefused::SenderNeverHeld {
            sender: ctx.sender.clone(),
            role: ctx.role.clone(),
        });
    }
    let Some(originator) = originator.filter(|r| r.id == claimed.sender) else {
        return Err(ItemRefused::UnknownOriginator(claimed.sender.clone()));
    };
    let verified = signed
        .verify_by(&originator.identity_key)
        .map_err(ItemRefused::Signature)?;
    if verified != *claimed {
        return Err(ItemRefused::Signature(VerifyError::Inconsistent(
            "the signed body is not the item",
        )));
    }
    Ok(())
}

/// The home key of a handed-over item kept apart (refused): never the
/// item's own message id, so that a refused copy cannot stand in for, or
/// block, the genuine message when it arrives.
pub fn apart_key(package: MessageId, item: MessageId) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(&package.0);
    k[16..].copy_from_slice(&item.0);
    k
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use liaison_protocol::handling::Handling;
    use liaison_protocol::message::Content;
    use liaison_protocol::{ConversationId, CountryCode, SecretKey, Signed, Wire};

    use super::*;
    use crate::core::testing::{key, rec};

    fn id(s: &str) -> DirectoryId {
        DirectoryId::parse(s).unwrap()
    }

    fn role(holders: &[&str]) -> RoleRecord {
        RoleRecord {
            id: id("th.dsi.tip-duty"),
            version: 2,
            country: CountryCode::parse("TH").unwrap(),
            name: "duty".into(),
            description: String::new(),
            holders: holders.iter().map(|h| id(h)).collect(),
            not_before: Timestamp(0),
            not_after: Timestamp(10_000),
        }
    }

    /// A payload from `from` (signed with `identity`) to `to`, resolved to
    /// `resolved`.
    fn item(
        identity: &SecretKey,
        from: &str,
        to: &[&str],
        resolved: &[&str],
    ) -> (Payload, Vec<u8>) {
        let p = Payload {
            message_id: MessageId([3; 16]),
            sender: id(from),
            sender_device: key(11).public_key(),
            recipients: to.iter().map(|t| id(t)).collect(),
            resolved: resolved.iter().map(|t| id(t)).collect(),
            conversation_id: ConversationId([4; 16]),
            created_at: Timestamp(100),
            handling: Handling::default(),
            body: "pier 7".into(),
            content: Content::Text,
            attachments: Vec::new(),
            checkpoints: Vec::new(),
        };
        let signed = Signed::sign(&p, identity).encode();
        (p, signed)
    }

    const ROLE: &str = "th.dsi.tip-duty";
    const OLD: &str = "th.dsi.somchai";
    const NEW: &str = "th.dsi.niran";

    #[test]
    fn the_sender_refuses_unless_the_recipient_holds_the_role_now() {
        let alice = key(10);
        let (p, b) = item(&alice, "ph.pnp.alice", &[ROLE], &[OLD]);
        let held = [(&p, b.as_slice())];
        let r = role(&[NEW]);
        // To a focal point who does not hold the role: refused.
        let err = plan(
            &id(ROLE),
            Some(&r),
            &id(OLD),
            &id("ph.pnp.eve"),
            Timestamp(5),
            held,
        )
        .unwrap_err();
        assert!(matches!(err, HandoverError::NotAHolder { .. }), "{err}");
        // Not a role at all.
        let err = plan(&id(ROLE), None, &id(OLD), &id(NEW), Timestamp(5), held).unwrap_err();
        assert_eq!(err, HandoverError::NotARole(id(ROLE)));
        // A role out of force has no holder now.
        let err = plan(
            &id(ROLE),
            Some(&r),
            &id(OLD),
            &id(NEW),
            Timestamp(20_000),
            held,
        )
        .unwrap_err();
        assert!(matches!(err, HandoverError::NotAHolder { .. }), "{err}");
        // To the current holder, from the one the message resolved to.
        let items = plan(&id(ROLE), Some(&r), &id(OLD), &id(NEW), Timestamp(5), held).unwrap();
        assert_eq!(items, [b.as_slice()]);
    }

    #[test]
    fn the_sender_refuses_a_role_it_never_held() {
        let alice = key(10);
        // Eve was named directly beside the role: that does not make her a
        // holder of it.
        let (p, b) = item(
            &alice,
            "ph.pnp.alice",
            &[ROLE, "th.dsi.eve"],
            &[OLD, "th.dsi.eve"],
        );
        let r = role(&[NEW]);
        let err = plan(
            &id(ROLE),
            Some(&r),
            &id("th.dsi.eve"),
            &id(NEW),
            Timestamp(5),
            [(&p, b.as_slice())],
        )
        .unwrap_err();
        assert_eq!(err, HandoverError::NeverHeld(id(ROLE)));
    }

    #[test]
    fn a_handover_carries_only_messages_addressed_to_the_role() {
        let alice = key(10);
        let (to_role, a) = item(&alice, "ph.pnp.alice", &[ROLE], &[OLD]);
        // Same conversation id, addressed to the holder in person: stays.
        let (to_person, b) = item(&alice, "ph.pnp.alice", &[OLD], &[OLD]);
        assert_eq!(to_role.conversation_id, to_person.conversation_id);
        let r = role(&[NEW]);
        let items = plan(
            &id(ROLE),
            Some(&r),
            &id(OLD),
            &id(NEW),
            Timestamp(5),
            [(&to_role, a.as_slice()), (&to_person, b.as_slice())],
        )
        .unwrap();
        assert_eq!(items, [a.as_slice()]);
    }

    fn receiving<'a>(
        r: Option<&'a RoleRecord>,
        role: &'a DirectoryId,
        sender: &'a DirectoryId,
        me: &'a DirectoryId,
    ) -> Receiving<'a> {
        Receiving {
            role,
            sender,
            me,
            record: r,
            now: Timestamp(5),
        }
    }

    #[test]
    fn the_receiver_verifies_only_role_messages_from_a_past_holder() {
        let alice = key(10);
        let alice_rec = rec("th.dsi.alice", &alice, &[11]);
        let (role_id, old, new) = (id(ROLE), id(OLD), id(NEW));
        let r = role(&[NEW]);
        let ctx = receiving(Some(&r), &role_id, &old, &new);
        let check = |p: &Payload, b: &[u8], orig: Option<&FocalPointRecord>| {
            check_item(&ctx, p, &SignedPayload::decode(b).unwrap(), orig)
        };

        let (p, b) = item(&alice, "th.dsi.alice", &[ROLE], &[OLD]);
        assert_eq!(check(&p, &b, Some(&alice_rec)), Ok(()));

        // A message addressed to the sender in person (a RED message they
        // received): kept apart.
        let (p, b) = item(&alice, "th.dsi.alice", &[OLD], &[OLD]);
        assert_eq!(
            check(&p, &b, Some(&alice_rec)),
            Err(ItemRefused::NotAddressedToRole(id(ROLE)))
        );

        // Addressed to the role, but resolved to others: the sender is not
        // shown to have held it.
        let (p, b) = item(&alice, "th.dsi.alice", &[ROLE], &["th.dsi.other"]);
        assert!(matches!(
            check(&p, &b, Some(&alice_rec)),
            Err(ItemRefused::SenderNeverHeld { .. })
        ));

        // Unknown originator, or a signature by someone else.
        let (p, b) = item(&alice, "th.dsi.alice", &[ROLE], &[OLD]);
        assert_eq!(
            check(&p, &b, None),
            Err(ItemRefused::UnknownOriginator(id("th.dsi.alice")))
        );
        let (p, b) = item(&key(66), "th.dsi.alice", &[ROLE], &[OLD]);
        assert!(matches!(
            check(&p, &b, Some(&alice_rec)),
            Err(ItemRefused::Signature(_))
        ));
        // A signed body other than the item shown.
        let (mut p, b) = item(&alice, "th.dsi.alice", &[ROLE], &[OLD]);
        p.body = "another text".into();
        assert!(matches!(
            check(&p, &b, Some(&alice_rec)),
            Err(ItemRefused::Signature(_))
        ));
    }

    #[test]
    fn the_receiver_must_hold_the_role_now() {
        let alice = key(10);
        let alice_rec = rec("th.dsi.alice", &alice, &[11]);
        let (role_id, old) = (id(ROLE), id(OLD));
        let third = id("th.dsi.third");
        let (p, b) = item(&alice, "th.dsi.alice", &[ROLE], &[OLD]);
        let s = SignedPayload::decode(&b).unwrap();
        let r = role(&[NEW]);
        assert_eq!(
            check_item(
                &receiving(Some(&r), &role_id, &old, &third),
                &p,
                &s,
                Some(&alice_rec)
            ),
            Err(ItemRefused::NotAHolder(id(ROLE)))
        );
        assert_eq!(
            check_item(
                &receiving(None, &role_id, &old, &third),
                &p,
                &s,
                Some(&alice_rec)
            ),
            Err(ItemRefused::NotAHolder(id(ROLE)))
        );
        // A co-holder named in the current record needs no message to show it.
        let both = role(&[OLD, NEW]);
        let new = id(NEW);
        let (p, b) = item(&alice, "th.dsi.alice", &[ROLE], &["th.dsi.someone"]);
        let s = SignedPayload::decode(&b).unwrap();
        assert_eq!(
            check_item(
                &receiving(Some(&both), &role_id, &old, &new),
                &p,
                &s,
                Some(&alice_rec)
            ),
            Ok(())
        );
    }

    #[test]
    fn items_kept_apart_never_take_a_message_id_as_their_key() {
        let k = apart_key(MessageId([1; 16]), MessageId([2; 16]));
        assert_eq!(k.len(), 32);
        assert_ne!(&k[..16], &[2; 16]);
    }
}
