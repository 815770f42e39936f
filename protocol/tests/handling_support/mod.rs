//! Strategies shared by the `handling_*` tests.

#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use liaison_protocol::handling::{
    Dissemination, Handling, JudicialUse, MAX_RETAIN, Onward, Party, Purpose,
};
use liaison_protocol::{CountryCode, DirectoryId, Timestamp};
use proptest::prelude::*;

pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        ..ProptestConfig::default()
    }
}

pub fn dissemination() -> impl Strategy<Value = Dissemination> {
    proptest::sample::select(Dissemination::ALL.to_vec())
}

pub fn judicial() -> impl Strategy<Value = JudicialUse> {
    prop_oneof![
        Just(JudicialUse::Prohibited),
        Just(JudicialUse::WithConsent),
        Just(JudicialUse::Permitted)
    ]
}

pub fn onward() -> impl Strategy<Value = Onward> {
    prop_oneof![Just(Onward::WithConsent), Just(Onward::PerDissemination)]
}

pub fn purpose() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(Purpose::ALL.to_vec()).prop_map(|p| p.label().to_owned()),
        "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?"
            .prop_filter("not a well-known purpose", |s| Purpose::parse(s).is_none())
            .prop_map(|s| format!("other:{s}")),
    ]
}

pub fn purposes() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(purpose(), 0..6).prop_map(|mut v| {
        let mut seen = Vec::new();
        v.retain(|p| {
            let new = !seen.contains(p);
            seen.push(p.clone());
            new
        });
        v
    })
}

/// Any time up to [`MAX_RETAIN`], with dates, whole seconds and
/// milliseconds all likely.
pub fn time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (0u64..=2_932_896).prop_map(|d| Timestamp(d * 86_400_000)),
        (0u64..=253_402_300_799).prop_map(Timestamp::from_secs),
        (0u64..=MAX_RETAIN.0).prop_map(Timestamp),
        Just(MAX_RETAIN),
        Just(Timestamp(0)),
    ]
}

/// Text a person could put in conditions: any character except control
/// characters (newline allowed) and bidirectional overrides, with quotes,
/// backslashes and newlines likely.
pub fn conditions() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('"'),
            Just('\\'),
            Just('\n'),
            Just(' '),
            Just('='),
            "[a-z]".prop_map(|s| s.chars().next().unwrap()),
            any::<char>(),
        ],
        0..40,
    )
    .prop_map(|chars| {
        chars
            .into_iter()
            .map(|c| {
                let bidi = matches!(
                    c,
                    '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
                );
                if (c != '\n' && c.is_control()) || bidi {
                    'x'
                } else {
                    c
                }
            })
            .collect()
    })
}

pub fn evaluation() -> impl Strategy<Value = Option<(char, u8)>> {
    proptest::option::of((proptest::sample::select(vec!['A', 'B', 'C', 'X']), 1u8..=4))
}

/// Every well-formed handling.
pub fn handling() -> impl Strategy<Value = Handling> {
    (
        dissemination(),
        judicial(),
        onward(),
        purposes(),
        any::<bool>(),
        proptest::option::of(time()),
        conditions(),
        evaluation(),
    )
        .prop_map(
            |(d, j, o, purposes, pv, retain, conditions, evaluation)| Handling {
                dissemination: d,
                judicial_use: j,
                onward: o,
                purposes,
                protect_victims: pv || d < Dissemination::Green,
                retain_until: retain,
                conditions,
                evaluation,
            },
        )
}

/// A random tightening of `h` on any subset of fields.
pub fn tighten(h: Handling) -> impl Strategy<Value = Handling> {
    (any::<[bool; 8]>(), any::<u64>(), conditions(), time()).prop_map(
        move |(which, r, extra, t)| {
            let mut n = h.clone();
            if which[0] {
                n.dissemination = Dissemination::ALL[(r as usize) % (n.dissemination as usize + 1)];
            }
            if which[1] {
                n.judicial_use = match (n.judicial_use, r % 2) {
                    (JudicialUse::Permitted, 0) => JudicialUse::WithConsent,
                    _ => JudicialUse::Prohibited,
                };
            }
            if which[2] {
                n.onward = Onward::WithConsent;
            }
            if which[3] {
                if n.purposes.is_empty() {
                    n.purposes = vec!["rescue".into()];
                } else {
                    let keep = 1 + (r as usize) % n.purposes.len();
                    n.purposes.truncate(keep);
                    n.purposes.reverse();
                }
            }
            if which[4] || n.dissemination < Dissemination::Green {
                n.protect_victims = true;
            }
            if which[5] {
                n.retain_until = Some(match n.retain_until {
                    Some(old) => old.min(t),
                    None => t,
                });
            }
            if which[6] {
                let extra = extra.trim().replace('\n', " ");
                if !extra.is_empty() && n.conditions.len() + extra.len() < 2000 {
                    n.add_condition(&extra);
                }
            }
            n
        },
    )
}

pub fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

pub fn party(id_: &str, agency: &str) -> Party {
    let id = id(id_);
    Party {
        country: id.country(),
        id,
        agency: agency.into(),
    }
}

pub fn country(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}
