//! The text form of handling: round trips for every well-formed handling,
//! canonical re-rendering of every accepted spelling, and clear errors that
//! name the offending token.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod handling_support;

use handling_support::{config, handling};
use liaison_protocol::Timestamp;
use liaison_protocol::handling::{Dissemination, Handling, HandlingError, JudicialUse, Onward};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn text_round_trips(h in handling()) {
        prop_assert_eq!(h.check_wellformed(), Ok(()));
        let text = h.to_text();
        prop_assert_eq!(Handling::parse_text(&text), Ok(h.clone()), "{}", text);
        prop_assert_eq!(text.parse::<Handling>(), Ok(h.clone()));
        prop_assert_eq!(h.to_string(), text);
    }

    /// Every other accepted spelling of the same handling renders back to
    /// the canonical text.
    #[test]
    fn other_spellings_render_canonically(
        h in handling(),
        order in any::<u64>(),
        upper_keys in any::<bool>(),
        tlp_prefix in any::<bool>(),
        spaces in 1usize..4,
    ) {
        let canonical = h.to_text();
        let mut tokens = split_tokens(&canonical);
        let tlp = tokens.remove(0);
        let tlp = match (tlp_prefix, upper_keys) {
            (true, true) => format!("TLP:{tlp}"),
            (true, false) => format!("tlp:{}", tlp.to_lowercase()),
            (false, _) => tlp.to_lowercase(),
        };
        let mut fields: Vec<String> = tokens
            .into_iter()
            .filter(|t| !t.starts_with("judicial=prohibited") && !t.starts_with("onward=with-consent"))
            .map(|t| {
                let t = if t == "protect-victims" { "protect-victims=yes".to_owned() } else { t };
                if upper_keys {
                    match t.split_once('=') {
                        Some((k, v)) => format!("{}={v}", k.to_uppercase()),
                        None => t.to_uppercase(),
                    }
                } else {
                    t
                }
            })
            .collect();
        // A deterministic shuffle from the drawn seed.
        let mut seed = order;
        for i in (1..fields.len()).rev() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            fields.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let sep = " ".repeat(spaces);
        let variant = format!("  {tlp}{sep}{}\t", fields.join(&sep));
        let parsed = Handling::parse_text(&variant);
        prop_assert_eq!(parsed.as_ref().map(Handling::to_text), Ok(canonical), "{}", variant);
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,80}") {
        if let Ok(h) = Handling::parse_text(&s) {
            prop_assert_eq!(h.check_wellformed(), Ok(()));
            prop_assert_eq!(Handling::parse_text(&h.to_text()), Ok(h));
        }
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(prop_oneof![
        Just("RED"), Just("TLP:AMBER+STRICT"), Just("green"), Just("CLEAR"),
        Just("judicial=permitted"), Just("judicial="), Just("judicial"), Just("onward=per-tlp"),
        Just("purpose=rescue,prosecution"), Just("purpose=other:x"), Just("purpose=,"),
        Just("protect-victims=no"), Just("protect-victims"), Just("retain=2027-06-30"),
        Just("retain=2027-06-30T10:00:00.500Z"), Just("eval=x4"), Just("conditions=\"a b\""),
        Just("conditions=\"a\\\"b\\\\c\\nd\""), Just("\""), Just("="), Just("\\"), Just("é"),
        Just("conditions=\"open"),
    ], 0..7)) {
        let s = tokens.join(" ");
        if let Ok(h) = Handling::parse_text(&s) {
            prop_assert_eq!(h.check_wellformed(), Ok(()));
            prop_assert_eq!(Handling::parse_text(&h.to_text()), Ok(h));
        }
    }
}

/// Split canonical text into tokens, keeping a quoted value whole.
fn split_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for c in s.chars() {
        if in_quotes {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == ' ' {
            out.push(std::mem::take(&mut cur));
        } else {
            if c == '"' {
                in_quotes = true;
            }
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

#[test]
fn every_combination_of_codes_round_trips() {
    let purposes: [&[&str]; 3] = [&[], &["rescue"], &["investigation", "other:asset-tracing"]];
    let retains = [
        None,
        Timestamp::parse_rfc3339("2027-06-30"),
        Timestamp::parse_rfc3339("2027-06-30T08:15:00Z"),
        Some(Timestamp(1_814_400_000_123)),
    ];
    let evals = [None, Some(('A', 1)), Some(('X', 4))];
    let mut n = 0;
    for d in Dissemination::ALL {
        for j in [
            JudicialUse::Prohibited,
            JudicialUse::WithConsent,
            JudicialUse::Permitted,
        ] {
            for o in [Onward::WithConsent, Onward::PerDissemination] {
                for p in purposes {
                    for pv in [true, false] {
                        for r in retains {
                            for e in evals {
                                for c in ["", "do not contact the suspect", "a \"b\"\\\nline 2"] {
                                    let h = Handling {
                                        dissemination: d,
                                        judicial_use: j,
                                        onward: o,
                                        purposes: p.iter().map(|s| s.to_string()).collect(),
                                        protect_victims: pv,
                                        retain_until: r,
                                        conditions: c.into(),
                                        evaluation: e,
                                    };
                                    let text = h.to_text();
                                    if h.check_wellformed().is_ok() {
                                        assert_eq!(Handling::parse_text(&text), Ok(h), "{text}");
                                        n += 1;
                                    } else {
                                        // Only protect-victims=no outside GREEN/CLEAR.
                                        assert!(!pv && d < Dissemination::Green);
                                        assert!(matches!(
                                            Handling::parse_text(&text),
                                            Err(HandlingError::Contradiction { .. })
                                        ));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(n, 5 * 3 * 2 * 3 * 4 * 3 * 3 + 2 * 3 * 2 * 3 * 4 * 3 * 3);
}

#[test]
fn example_text() {
    let h = Handling::parse_text(
        "AMBER+STRICT judicial=with-consent purpose=rescue,investigation retain=2027-06-30",
    )
    .unwrap();
    assert_eq!(
        h,
        Handling {
            judicial_use: JudicialUse::WithConsent,
            purposes: vec!["rescue".into(), "investigation".into()],
            retain_until: Timestamp::parse_rfc3339("2027-06-30"),
            ..Handling::with_dissemination(Dissemination::AmberStrict)
        }
    );
    assert_eq!(
        h.to_text(),
        "AMBER+STRICT judicial=with-consent onward=with-consent purpose=rescue,investigation \
         protect-victims retain=2027-06-30"
    );
    assert_eq!(
        Handling::parse_text("TLP:CLEAR onward=per-tlp protect-victims=no")
            .unwrap()
            .to_text(),
        "CLEAR judicial=prohibited onward=per-tlp protect-victims=no"
    );
}

/// Known-answer negative vectors: the error, and the token it names.
#[test]
fn errors_name_the_bad_token() {
    let too_many: Vec<String> = (0..17).map(|i| format!("other:p{i}")).collect();
    let too_many = format!("RED purpose={}", too_many.join(","));
    let too_long = format!("RED conditions=\"{}\"", "x".repeat(2049));
    type Case<'a> = (&'a str, fn(&HandlingError) -> bool, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("", |e| matches!(e, HandlingError::Empty), "TLP level"),
        ("   ", |e| matches!(e, HandlingError::Empty), "TLP level"),
        (
            "PINK",
            |e| matches!(e, HandlingError::UnknownTlp { .. }),
            "\"PINK\"",
        ),
        (
            "judicial=permitted RED",
            |e| matches!(e, HandlingError::UnknownTlp { .. }),
            "\"judicial=permitted\"",
        ),
        (
            "RED foo=bar",
            |e| matches!(e, HandlingError::UnknownField { .. }),
            "\"foo=bar\"",
        ),
        (
            "RED H0",
            |e| matches!(e, HandlingError::UnknownField { .. }),
            "\"H0\"",
        ),
        (
            "RED judicial=maybe",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "\"judicial=maybe\"",
        ),
        (
            "RED judicial",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "\"judicial\"",
        ),
        (
            "RED judicial=",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "\"judicial=\"",
        ),
        (
            "RED onward=never",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "\"onward=never\"",
        ),
        (
            "RED judicial=permitted judicial=prohibited",
            |e| matches!(e, HandlingError::Duplicate { .. }),
            "\"judicial\"",
        ),
        (
            "RED AMBER",
            |e| matches!(e, HandlingError::Duplicate { .. }),
            "TLP level",
        ),
        (
            "RED purpose=rescue,fishing",
            |e| matches!(e, HandlingError::UnknownPurpose { .. }),
            "\"fishing\"",
        ),
        (
            "RED purpose=rescue,,investigation",
            |e| matches!(e, HandlingError::UnknownPurpose { .. }),
            "\"\"",
        ),
        (
            "RED purpose=rescue,Rescue",
            |e| matches!(e, HandlingError::Duplicate { .. }),
            "\"rescue\"",
        ),
        (
            "RED purpose=other:rescue",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "other:rescue",
        ),
        (
            "RED protect-victims=no",
            |e| matches!(e, HandlingError::Contradiction { .. }),
            "\"protect-victims=no\"",
        ),
        (
            "AMBER+STRICT protect-victims=no",
            |e| matches!(e, HandlingError::Contradiction { .. }),
            "GREEN or CLEAR",
        ),
        (
            "GREEN protect-victims=maybe",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "\"protect-victims=maybe\"",
        ),
        (
            "RED retain=2027-02-30",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "\"retain=2027-02-30\"",
        ),
        (
            "RED retain=30/06/2027",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "\"retain=30/06/2027\"",
        ),
        (
            "RED eval=D1",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "\"eval=D1\"",
        ),
        (
            "RED eval=A5",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "\"eval=A5\"",
        ),
        (
            "RED eval=A12",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "\"eval=A12\"",
        ),
        (
            "RED conditions=\"open",
            |e| matches!(e, HandlingError::Syntax { .. }),
            "conditions=\\\"open",
        ),
        (
            "RED conditions=\"a\"b",
            |e| matches!(e, HandlingError::Syntax { .. }),
            "conditions=\\\"a\\\"b",
        ),
        (
            "RED conditions=a\"b\"",
            |e| matches!(e, HandlingError::Syntax { .. }),
            "conditions=a\\\"b\\\"",
        ),
        (
            "RED conditions=\"tab\\there\"",
            |e| matches!(e, HandlingError::Syntax { .. }),
            "an escape other than",
        ),
        (
            "RED \"judicial\"=x",
            |e| matches!(e, HandlingError::Syntax { .. }),
            "judicial",
        ),
        (
            "RED conditions=\"\"",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "omit it for none",
        ),
        (
            "RED conditions=\"hidden \u{202E}text\"",
            |e| matches!(e, HandlingError::BadValue { .. }),
            "bidirectional",
        ),
        (
            &too_many,
            |e| matches!(e, HandlingError::Invalid(_)),
            "too many",
        ),
        (
            &too_long,
            |e| matches!(e, HandlingError::Invalid(_)),
            "conditions too long",
        ),
    ];
    for (input, is_expected, named) in cases {
        let err = Handling::parse_text(input).expect_err(input);
        assert!(is_expected(&err), "{input:?} gave {err:?}");
        let msg = format!("{err:?} / {err}");
        assert!(
            msg.contains(named),
            "{input:?}: {msg} does not name {named}"
        );
    }
}

#[test]
fn tlp_white_and_prefix_are_accepted() {
    assert_eq!(
        Handling::parse_text("TLP:WHITE").map(|h| h.dissemination),
        Ok(Dissemination::Clear)
    );
    assert_eq!(
        Handling::parse_text("tlp:amber+strict").map(|h| h.dissemination),
        Ok(Dissemination::AmberStrict)
    );
}
