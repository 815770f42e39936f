//! The tightening order is a preorder (a partial order up to the order of
//! purposes), every tightening passes and every single loosening is
//! detected and named.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod handling_support;

use handling_support::{config, handling, purpose, tighten};
use liaison_protocol::Timestamp;
use liaison_protocol::handling::{
    Dissemination, Handling, JudicialUse, Loosening, MAX_RETAIN, Onward,
};
use proptest::prelude::*;

/// Equal up to the order of purposes.
fn same(a: &Handling, b: &Handling) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.purposes.sort();
    b.purposes.sort();
    a == b
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn reflexive(h in handling()) {
        prop_assert!(h.is_at_least_as_strict_as(&h));
        prop_assert_eq!(h.loosenings(&h), vec![]);
    }

    #[test]
    fn tightenings_pass_and_compose(
        (a, b, c) in handling()
            .prop_flat_map(|a| (Just(a.clone()), tighten(a)))
            .prop_flat_map(|(a, b)| (Just(a), Just(b.clone()), tighten(b)))
    ) {
        prop_assert_eq!(b.check_wellformed(), Ok(()));
        prop_assert_eq!(c.check_wellformed(), Ok(()));
        prop_assert_eq!(b.loosenings(&a), vec![]);
        prop_assert_eq!(c.loosenings(&b), vec![]);
        // Transitive.
        prop_assert!(c.is_at_least_as_strict_as(&a));
        // Antisymmetric up to purpose order.
        if a.is_at_least_as_strict_as(&b) {
            prop_assert!(same(&a, &b), "{:?} vs {:?}", a, b);
        }
    }

    #[test]
    fn agrees_with_loosenings(a in handling(), b in handling()) {
        prop_assert_eq!(a.is_at_least_as_strict_as(&b), a.loosenings(&b).is_empty());
        if a.is_at_least_as_strict_as(&b) && b.is_at_least_as_strict_as(&a) {
            prop_assert!(same(&a, &b));
        }
    }

    /// Loosen exactly one field (where it can be loosened); exactly that
    /// loosening is reported.
    #[test]
    fn any_single_loosening_is_detected(h in handling(), field in 0usize..10, p in purpose(), later in 1u64..1_000_000) {
        let mut l = h.clone();
        let expected = match field {
            0 if h.dissemination != Dissemination::Clear => {
                l.dissemination = Dissemination::Clear;
                Loosening::Dissemination { original: h.dissemination, proposed: Dissemination::Clear }
            }
            1 if h.judicial_use != JudicialUse::Permitted => {
                l.judicial_use = JudicialUse::Permitted;
                Loosening::JudicialUse { original: h.judicial_use, proposed: JudicialUse::Permitted }
            }
            2 if h.onward == Onward::WithConsent => {
                l.onward = Onward::PerDissemination;
                Loosening::Onward { original: Onward::WithConsent, proposed: Onward::PerDissemination }
            }
            3 if !h.purposes.is_empty() && !h.purposes.contains(&p) => {
                l.purposes.insert(0, p.clone());
                Loosening::PurposesAdded { added: vec![p] }
            }
            4 if !h.purposes.is_empty() => {
                l.purposes.clear();
                Loosening::PurposesRemoved
            }
            5 if h.protect_victims => {
                l.protect_victims = false;
                Loosening::ProtectVictimsOff
            }
            6 if h.retain_until.is_some_and(|t| t < MAX_RETAIN) => {
                let o = h.retain_until.unwrap();
                let n = Timestamp(o.0.saturating_add(later).min(MAX_RETAIN.0));
                l.retain_until = Some(n);
                Loosening::RetentionExtended { original: o, proposed: n }
            }
            7 if h.retain_until.is_some() => {
                l.retain_until = None;
                Loosening::RetentionRemoved { original: h.retain_until.unwrap() }
            }
            8 if !h.conditions.is_empty() => {
                l.conditions.clear();
                Loosening::ConditionsChanged
            }
            9 => {
                l.evaluation = match h.evaluation {
                    Some(('A', 1)) => Some(('B', 1)),
                    _ => Some(('A', 1)),
                };
                Loosening::EvaluationChanged
            }
            _ => return Ok(()),
        };
        prop_assert_eq!(l.loosenings(&h), vec![expected]);
        prop_assert!(!l.is_at_least_as_strict_as(&h));
        if field != 9 {
            prop_assert!(h.is_at_least_as_strict_as(&l));
        }
    }
}

#[test]
fn default_is_strictest_of_its_conditions() {
    let d = Handling::default();
    for t in Dissemination::ALL {
        for j in [
            JudicialUse::Prohibited,
            JudicialUse::WithConsent,
            JudicialUse::Permitted,
        ] {
            for o in [Onward::WithConsent, Onward::PerDissemination] {
                let other = Handling {
                    dissemination: t,
                    judicial_use: j,
                    onward: o,
                    protect_victims: t < Dissemination::Green,
                    ..Handling::default()
                };
                assert!(d.is_at_least_as_strict_as(&other), "{other:?}");
            }
        }
    }
}

#[test]
fn several_loosenings_are_all_named() {
    let original = Handling::parse_text(
        "AMBER+STRICT judicial=with-consent purpose=rescue retain=2027-06-30 conditions=\"no arrests\"",
    )
    .unwrap();
    let forward = Handling::parse_text(
        "GREEN judicial=permitted purpose=rescue,prosecution protect-victims=no",
    )
    .unwrap();
    let l = forward.loosenings(&original);
    let words: Vec<String> = l.iter().map(ToString::to_string).collect();
    assert_eq!(
        words,
        [
            "dissemination widened from TLP:AMBER+STRICT to TLP:GREEN",
            "judicial use loosened from with-consent to permitted",
            "purposes added: prosecution",
            "non-punishment protection of victims switched off",
            "retention deadline 2027-06-30 removed",
            "conditions removed or rewritten (they may only be added to)",
        ]
    );
    // Appending a condition line and shortening retention is fine.
    let mut tighter = original.clone();
    tighter.add_condition("inform DSI first");
    tighter.retain_until = Timestamp::parse_rfc3339("2027-01-01");
    tighter.purposes.clear();
    tighter.purposes.push("rescue".into());
    assert!(tighter.is_at_least_as_strict_as(&original));
}
