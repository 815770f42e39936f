//! Dissemination scope rules (TLP 2.0, SIENA H2): each rule with its
//! allowed and refused cases, consent grants unlocking exactly their
//! recipients, and tightening never widening who may receive a forward.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod handling_support;

use handling_support::{config, handling, id, party, tighten};
use liaison_protocol::consent::{ConsentDecision, ConsentScope, PriorDecision};
use liaison_protocol::handling::{Handling, Onward, Party};
use liaison_protocol::scope::{
    ForwardContext, ForwardRefusal, ForwardRule, check_forward, check_forward_all,
};
use liaison_protocol::{DirectoryId, MessageId, Timestamp};
use proptest::prelude::*;

const MSG: MessageId = MessageId([7; 16]);
const NOW: Timestamp = Timestamp(1_800_000_000_000);

struct Cast {
    alice: Party,   // originator, DSI Thailand
    somchai: Party, // original recipient, DSI Thailand
    niran: Party,   // DSI colleague, not a recipient
    kanya: Party,   // Royal Thai Police: a national partner
    bob: Party,     // Philippine National Police
    lan: Party,     // Vietnam Ministry of Public Security
    carlos: Party,  // "DSI" of another country
}

fn cast() -> Cast {
    Cast {
        alice: party("th.dsi.alice", "DSI"),
        somchai: party("th.dsi.somchai", "DSI"),
        niran: party("th.dsi.niran", "dsi "),
        kanya: party("th.rtp.kanya", "RTP"),
        bob: party("ph.pnp.bob", "PNP"),
        lan: party("vn.mps.lan", "MPS"),
        carlos: party("ph.dsi.carlos", "DSI"),
    }
}

fn grant(scope: &str, valid_until: Option<Timestamp>) -> ConsentDecision {
    ConsentDecision {
        request_id: [1; 16],
        message_id: MSG,
        scope: ConsentScope::parse_text(scope).unwrap(),
        granted: true,
        conditions: String::new(),
        decided_by: id("th.dsi.alice"),
        decided_at: Timestamp(NOW.0 - 1000),
        valid_until,
    }
}

fn check(
    h: &Handling,
    grants: &[ConsentDecision],
    forwarder: &Party,
    to: &Party,
) -> Result<(), Box<ForwardRefusal>> {
    let c = cast();
    let originals = [c.somchai.id.clone()];
    let ctx = ForwardContext {
        message_id: MSG,
        handling: h,
        originator: &c.alice,
        original_recipients: &originals,
        grants,
        now: NOW,
    };
    check_forward(&ctx, forwarder, to)
}

fn rule(r: Result<(), Box<ForwardRefusal>>) -> Option<ForwardRule> {
    r.err().map(|e| e.rule)
}

fn h(text: &str) -> Handling {
    Handling::parse_text(text).unwrap()
}

#[test]
fn red_forward_to_anyone_is_refused() {
    let c = cast();
    let red = h("RED onward=per-tlp");
    for to in [&c.niran, &c.kanya, &c.bob, &c.lan, &c.carlos] {
        assert_eq!(
            rule(check(&red, &[], &c.somchai, to)),
            Some(ForwardRule::Red),
            "{to}"
        );
    }
    // Back to the originator, or to an original recipient: not dissemination.
    assert_eq!(check(&red, &[], &c.somchai, &c.alice), Ok(()));
    assert_eq!(check(&red, &[], &c.niran, &c.somchai), Ok(()));
    // The originator may do as it likes with its own message.
    assert_eq!(check(&red, &[], &c.alice, &c.bob), Ok(()));
    let e = check(&red, &[], &c.somchai, &c.bob).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "TLP:RED allows sharing only with the named recipients; ph.pnp.bob was not one of them. \
             Ask the originator th.dsi.alice: liaison consent request {} --scope forward:ph.pnp.bob --reason \"...\"",
            MSG.to_hex()
        )
    );
}

#[test]
fn amber_strict_inside_the_same_agency_is_allowed_and_outside_refused() {
    let c = cast();
    for onward in ["with-consent", "per-tlp"] {
        let hs = h(&format!("AMBER+STRICT onward={onward}"));
        assert_eq!(check(&hs, &[], &c.somchai, &c.niran), Ok(()), "{onward}");
        for to in [&c.kanya, &c.bob, &c.lan, &c.carlos] {
            assert_eq!(
                rule(check(&hs, &[], &c.somchai, to)),
                Some(ForwardRule::AmberStrict),
                "{onward} {to}"
            );
        }
    }
    let e = check(&h("AMBER+STRICT"), &[], &c.somchai, &c.bob).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "TLP:AMBER+STRICT allows sharing only inside DSI (TH); ph.pnp.bob is PNP (PH). \
             Ask the originator th.dsi.alice: liaison consent request {} --scope forward:ph.pnp.bob --reason \"...\"",
            MSG.to_hex()
        )
    );
    assert_eq!(
        e.consent_command(&MSG),
        Some(format!(
            "liaison consent request {} --scope forward:ph.pnp.bob --reason \"...\"",
            MSG.to_hex()
        ))
    );
    assert_eq!(e.rule.code(), "tlp-amber-strict");
}

#[test]
fn amber_national_partners_only_per_tlp() {
    let c = cast();
    let consent = h("AMBER");
    assert_eq!(check(&consent, &[], &c.somchai, &c.niran), Ok(()));
    assert_eq!(
        rule(check(&consent, &[], &c.somchai, &c.kanya)),
        Some(ForwardRule::OnwardWithConsent)
    );
    assert_eq!(
        rule(check(&consent, &[], &c.somchai, &c.bob)),
        Some(ForwardRule::Amber)
    );

    let per_tlp = h("AMBER onward=per-tlp");
    assert_eq!(check(&per_tlp, &[], &c.somchai, &c.niran), Ok(()));
    assert_eq!(check(&per_tlp, &[], &c.somchai, &c.kanya), Ok(()));
    for to in [&c.bob, &c.lan, &c.carlos] {
        assert_eq!(
            rule(check(&per_tlp, &[], &c.somchai, to)),
            Some(ForwardRule::Amber)
        );
    }
    let e = check(&consent, &[], &c.somchai, &c.kanya).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "The originator requires consent for passing this outside DSI (TH) (onward=with-consent); \
             th.rtp.kanya is RTP (TH). Ask the originator th.dsi.alice: liaison consent request"
        ),
        "{e}"
    );
}

#[test]
fn green_and_clear_reach_the_network_only_per_tlp() {
    let c = cast();
    for level in ["GREEN", "CLEAR"] {
        let consent = h(level);
        assert_eq!(check(&consent, &[], &c.somchai, &c.niran), Ok(()));
        for to in [&c.kanya, &c.bob, &c.lan] {
            assert_eq!(
                rule(check(&consent, &[], &c.somchai, to)),
                Some(ForwardRule::OnwardWithConsent),
                "{level} {to}"
            );
        }
        let open = h(&format!("{level} onward=per-tlp"));
        for to in [&c.niran, &c.kanya, &c.bob, &c.lan, &c.carlos] {
            assert_eq!(check(&open, &[], &c.somchai, to), Ok(()), "{level} {to}");
        }
    }
}

#[test]
fn a_grant_for_x_does_not_unlock_y() {
    let c = cast();
    let grants = [grant("forward:ph.pnp.bob", None)];
    for level in ["RED", "AMBER+STRICT", "AMBER", "GREEN"] {
        let hh = h(level);
        assert_eq!(check(&hh, &grants, &c.somchai, &c.bob), Ok(()), "{level}");
        assert!(check(&hh, &grants, &c.somchai, &c.lan).is_err(), "{level}");
    }
    let both = [grant("forward:ph.pnp.bob,vn.mps.lan", None)];
    assert_eq!(check(&h("RED"), &both, &c.somchai, &c.lan), Ok(()));
    let refusals = check_forward_all(
        &ForwardContext {
            message_id: MSG,
            handling: &h("RED"),
            originator: &c.alice,
            original_recipients: std::slice::from_ref(&c.somchai.id),
            grants: &grants,
            now: NOW,
        },
        &c.somchai,
        &[c.bob.clone(), c.lan.clone(), c.kanya.clone()],
    )
    .unwrap_err();
    let refused: Vec<&DirectoryId> = refusals.iter().map(|r| &r.recipient.id).collect();
    assert_eq!(refused, [&c.lan.id, &c.kanya.id]);
}

#[test]
fn expired_refused_and_foreign_grants_unlock_nothing() {
    let c = cast();
    let red = h("RED");
    // Lapsed at exactly NOW: valid_until is exclusive.
    let lapsed = [grant("forward:ph.pnp.bob", Some(NOW))];
    let e = check(&red, &lapsed, &c.somchai, &c.bob).unwrap_err();
    assert_eq!(e.prior, PriorDecision::Lapsed(NOW));
    assert!(
        e.to_string()
            .contains("consent to forwarding to ph.pnp.bob lapsed at"),
        "{e}"
    );
    // Still valid a millisecond earlier.
    let valid = [grant("forward:ph.pnp.bob", Some(Timestamp(NOW.0 + 1)))];
    assert_eq!(check(&red, &valid, &c.somchai, &c.bob), Ok(()));

    let mut refusal = grant("forward:ph.pnp.bob", None);
    refusal.granted = false;
    let e = check(&red, &[refusal], &c.somchai, &c.bob).unwrap_err();
    assert!(matches!(e.prior, PriorDecision::Refused(_)));
    assert!(
        e.to_string()
            .contains("refused consent to forwarding to ph.pnp.bob"),
        "{e}"
    );

    let mut by_someone_else = grant("forward:ph.pnp.bob", None);
    by_someone_else.decided_by = id("th.dsi.somchai");
    assert!(check(&red, &[by_someone_else], &c.somchai, &c.bob).is_err());

    let mut other_message = grant("forward:ph.pnp.bob", None);
    other_message.message_id = MessageId([8; 16]);
    assert!(check(&red, &[other_message], &c.somchai, &c.bob).is_err());

    let wrong_kind = grant("judicial:CASE-1", None);
    assert!(check(&red, &[wrong_kind], &c.somchai, &c.bob).is_err());
}

#[test]
fn nothing_is_forwarded_after_retention_ends() {
    let c = cast();
    let mut hh = h("CLEAR onward=per-tlp");
    hh.retain_until = Some(NOW);
    let e = check(&hh, &[], &c.somchai, &c.niran).unwrap_err();
    assert_eq!(e.rule, ForwardRule::Expired { at: NOW });
    assert_eq!(e.needed_scope(), None);
    assert!(e.to_string().contains("retention period"), "{e}");
    // A retention grant extends it.
    let extended = [grant("retain:2030-01-01", None)];
    assert_eq!(check(&hh, &extended, &c.somchai, &c.niran), Ok(()));
    hh.retain_until = Some(Timestamp(NOW.0 + 1));
    assert_eq!(check(&hh, &[], &c.somchai, &c.niran), Ok(()));
}

#[test]
fn an_unknown_agency_is_never_your_own() {
    let c = cast();
    let nobody = party("th.dsi.nobody", "");
    let hs = h("AMBER+STRICT");
    assert!(check(&hs, &[], &nobody, &party("th.dsi.x", "")).is_err());
    assert!(check(&hs, &[], &c.somchai, &nobody).is_err());
}

fn any_party() -> impl Strategy<Value = Party> {
    proptest::sample::select(vec![
        party("th.dsi.alice", "DSI"),
        party("th.dsi.somchai", "DSI"),
        party("th.dsi.niran", "DSI"),
        party("th.rtp.kanya", "RTP"),
        party("ph.pnp.bob", "PNP"),
        party("ph.dsi.carlos", "DSI"),
        party("vn.mps.lan", "MPS"),
    ])
}

proptest! {
    #![proptest_config(config(512))]

    /// Tightening never lets a forward through that the original would
    /// have refused.
    #[test]
    fn tightening_never_widens_scope(
        (original, tighter) in handling().prop_flat_map(|h| (Just(h.clone()), tighten(h))),
        forwarder in any_party(),
        to in any_party(),
        grant_bob in any::<bool>(),
    ) {
        let grants = if grant_bob { vec![grant("forward:ph.pnp.bob", None)] } else { vec![] };
        if check(&tighter, &grants, &forwarder, &to).is_ok() {
            prop_assert!(check(&original, &grants, &forwarder, &to).is_ok());
        }
    }

    /// Every refusal names a rule, the recipient, and (unless retention
    /// ended) a consent command for exactly that recipient; a grant for
    /// that scope then lets it through.
    #[test]
    fn refusals_are_actionable(hh in handling(), forwarder in any_party(), to in any_party()) {
        if let Err(e) = check(&hh, &[], &forwarder, &to) {
            let text = e.to_string();
            let expired = matches!(e.rule, ForwardRule::Expired { .. });
            prop_assert!(text.contains(to.id.as_str()) || expired, "{}", text);
            if let Some(scope) = e.needed_scope() {
                let wanted = format!("--scope {}", scope.to_text());
                prop_assert!(text.contains(&wanted), "{}", text);
                let g = grant(&scope.to_text(), None);
                prop_assert_eq!(check(&hh, &[g], &forwarder, &to), Ok(()));
            }
        }
    }

    /// Under onward=per-tlp the TLP level alone decides; with-consent
    /// only ever refuses more.
    #[test]
    fn with_consent_only_refuses_more(hh in handling(), forwarder in any_party(), to in any_party()) {
        let mut consent = hh.clone();
        consent.onward = Onward::WithConsent;
        if check(&consent, &[], &forwarder, &to).is_ok() {
            let mut per = hh.clone();
            per.onward = Onward::PerDissemination;
            prop_assert!(check(&per, &[], &forwarder, &to).is_ok());
        }
    }
}
