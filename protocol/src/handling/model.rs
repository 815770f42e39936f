//! The handling model: its codes, limits and checks.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::Timestamp;

use super::time::format_time;

/// TLP 2.0 dissemination level.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub enum Dissemination {
    /// TLP:RED — named recipients only.
    #[default]
    Red,
    /// TLP:AMBER+STRICT — the recipient's own agency only.
    AmberStrict,
    /// TLP:AMBER — own agency and, on a need-to-know basis, national partners.
    Amber,
    /// TLP:GREEN — the network community.
    Green,
    /// TLP:CLEAR — no restriction on disclosure.
    Clear,
}

impl Dissemination {
    /// Every level, strictest first (the derived `Ord` is strictness).
    pub const ALL: [Dissemination; 5] = [
        Dissemination::Red,
        Dissemination::AmberStrict,
        Dissemination::Amber,
        Dissemination::Green,
        Dissemination::Clear,
    ];

    /// The TLP 2.0 label.
    pub fn label(self) -> &'static str {
        match self {
            Dissemination::Red => "RED",
            Dissemination::AmberStrict => "AMBER+STRICT",
            Dissemination::Amber => "AMBER",
            Dissemination::Green => "GREEN",
            Dissemination::Clear => "CLEAR",
        }
    }

    /// Parse a TLP label, with or without the `TLP:` prefix, in any case.
    /// `WHITE` (TLP 1.0) is read as `CLEAR`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = match s.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("TLP:") => s.get(4..).unwrap_or(""),
            _ => s,
        };
        Some(match s.to_ascii_uppercase().as_str() {
            "RED" => Dissemination::Red,
            "AMBER+STRICT" => Dissemination::AmberStrict,
            "AMBER" => Dissemination::Amber,
            "GREEN" => Dissemination::Green,
            "CLEAR" | "WHITE" => Dissemination::Clear,
            _ => return None,
        })
    }

    /// Plain-words meaning for the recipient.
    pub fn meaning(self) -> &'static str {
        match self {
            Dissemination::Red => "for the named recipients only; do not share further",
            Dissemination::AmberStrict => "may be shared inside your own agency only",
            Dissemination::Amber => {
                "may be shared inside your agency and, on a need-to-know basis, with national partners"
            }
            Dissemination::Green => "may be shared inside the Liaison network community",
            Dissemination::Clear => "no restriction on disclosure",
        }
    }
}

impl fmt::Display for Dissemination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Whether the information may be used in judicial proceedings (SIENA H1;
/// the speciality principle of mutual legal assistance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum JudicialUse {
    /// Not to be used as evidence.
    #[default]
    Prohibited,
    /// Only with the originator's signed consent.
    WithConsent,
    /// Permitted.
    Permitted,
}

impl JudicialUse {
    /// The code as written in the text form.
    pub fn label(self) -> &'static str {
        match self {
            JudicialUse::Prohibited => "prohibited",
            JudicialUse::WithConsent => "with-consent",
            JudicialUse::Permitted => "permitted",
        }
    }

    /// Parse a text-form code, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "prohibited" => JudicialUse::Prohibited,
            "with-consent" => JudicialUse::WithConsent,
            "permitted" => JudicialUse::Permitted,
            _ => return None,
        })
    }

    /// 0 is the strictest.
    pub(crate) fn looseness(self) -> u8 {
        match self {
            JudicialUse::Prohibited => 0,
            JudicialUse::WithConsent => 1,
            JudicialUse::Permitted => 2,
        }
    }
}

/// Onward transmission (SIENA H2).
///
/// `WithConsent` is the third-party rule of police cooperation: the recipient
/// may pass the information on inside its own agency as the TLP level allows,
/// but to anyone outside it (another agency or country) only with the
/// originator's consent. `PerDissemination` lets the TLP level alone decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Onward {
    /// Only with the originator's signed consent.
    #[default]
    WithConsent,
    /// As the dissemination level allows.
    PerDissemination,
}

impl Onward {
    /// The code as written in the text form.
    pub fn label(self) -> &'static str {
        match self {
            Onward::WithConsent => "with-consent",
            Onward::PerDissemination => "per-tlp",
        }
    }

    /// Parse a text-form code, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "with-consent" => Onward::WithConsent,
            "per-tlp" => Onward::PerDissemination,
            _ => return None,
        })
    }

    /// 0 is the strictest.
    pub(crate) fn looseness(self) -> u8 {
        match self {
            Onward::WithConsent => 0,
            Onward::PerDissemination => 1,
        }
    }
}

/// The well-known purposes. A purpose outside this list is written
/// `other:<words-with-dashes>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// Identifying victims of trafficking.
    VictimIdentification,
    /// Rescuing victims and removing them from danger.
    Rescue,
    /// Assisting and protecting victims, including their safe return.
    VictimSupport,
    /// Searching for missing persons.
    MissingPersons,
    /// Criminal investigation.
    Investigation,
    /// Prosecuting offenders.
    Prosecution,
    /// Tracing, freezing and confiscating criminal assets.
    FinancialInvestigation,
    /// Criminal intelligence analysis.
    IntelligenceAnalysis,
    /// Border and migration checks.
    BorderControl,
    /// Prevention and awareness work.
    Prevention,
}

/// Prefix of a purpose outside the well-known vocabulary.
pub const OTHER_PURPOSE: &str = "other:";
/// Most purposes in one handling.
pub const MAX_PURPOSES: usize = 16;
/// Longest purpose, `other:` prefix included.
pub const MAX_PURPOSE_LEN: usize = 64;
/// Longest conditions text, in bytes.
pub const MAX_CONDITIONS: usize = 2048;
/// The latest representable retention deadline, 9999-12-31T23:59:59.999Z.
pub const MAX_RETAIN: Timestamp = Timestamp(253_402_300_799_999);

impl Purpose {
    /// Every well-known purpose, in the order tools list them.
    pub const ALL: [Purpose; 10] = [
        Purpose::VictimIdentification,
        Purpose::Rescue,
        Purpose::VictimSupport,
        Purpose::MissingPersons,
        Purpose::Investigation,
        Purpose::Prosecution,
        Purpose::FinancialInvestigation,
        Purpose::IntelligenceAnalysis,
        Purpose::BorderControl,
        Purpose::Prevention,
    ];

    /// The label used in the text form and on the wire.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::VictimIdentification => "victim-identification",
            Purpose::Rescue => "rescue",
            Purpose::VictimSupport => "victim-support",
            Purpose::MissingPersons => "missing-persons",
            Purpose::Investigation => "investigation",
            Purpose::Prosecution => "prosecution",
            Purpose::FinancialInvestigation => "financial-investigation",
            Purpose::IntelligenceAnalysis => "intelligence-analysis",
            Purpose::BorderControl => "border-control",
            Purpose::Prevention => "prevention",
        }
    }

    /// Parse an exact (lower-case) label.
    pub fn parse(s: &str) -> Option<Self> {
        Purpose::ALL.into_iter().find(|p| p.label() == s)
    }

    /// Plain-words meaning.
    pub fn meaning(self) -> &'static str {
        match self {
            Purpose::VictimIdentification => "identifying victims of trafficking",
            Purpose::Rescue => "rescuing victims and removing them from danger",
            Purpose::VictimSupport => {
                "assisting and protecting victims, including their safe return"
            }
            Purpose::MissingPersons => "searching for missing persons",
            Purpose::Investigation => "criminal investigation",
            Purpose::Prosecution => "prosecuting offenders",
            Purpose::FinancialInvestigation => "tracing, freezing and confiscating criminal assets",
            Purpose::IntelligenceAnalysis => "criminal intelligence analysis",
            Purpose::BorderControl => "border and migration checks",
            Purpose::Prevention => "prevention and awareness work",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Whether `s` is a purpose in canonical form: a well-known label or
/// `other:` followed by 1 to 58 of `a-z`, `0-9`, `-`, not starting or ending
/// with `-`.
pub fn is_valid_purpose(s: &str) -> bool {
    if Purpose::parse(s).is_some() {
        return true;
    }
    let Some(rest) = s.strip_prefix(OTHER_PURPOSE) else {
        return false;
    };
    !rest.is_empty()
        && s.len() <= MAX_PURPOSE_LEN
        && !rest.starts_with('-')
        && !rest.ends_with('-')
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        // `other:rescue` would be a second spelling of `rescue`.
        && Purpose::parse(rest).is_none()
}

/// Normalise a purpose typed by a person (case-folded, trimmed) and check it.
pub fn parse_purpose(s: &str) -> Result<String, HandlingError> {
    let p = s.trim().to_ascii_lowercase();
    if is_valid_purpose(&p) {
        return Ok(p);
    }
    if let Some(rest) = p.strip_prefix(OTHER_PURPOSE)
        && Purpose::parse(rest).is_some()
    {
        return Err(HandlingError::BadValue {
            token: s.to_owned(),
            expected: "a well-known purpose is written without the other: prefix",
        });
    }
    Err(HandlingError::UnknownPurpose {
        purpose: s.to_owned(),
    })
}

/// Whether free text shown to people is acceptable: no control characters
/// other than newline and no bidirectional-override characters, so what a
/// terminal shows is what was signed.
pub(crate) fn is_display_safe(s: &str) -> bool {
    s.chars().all(|c| {
        (c == '\n' || !c.is_control())
            && !matches!(
                c,
                '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            )
    })
}

/// The restrictions on one message. Bound into the sender's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handling {
    /// TLP 2.0 dissemination.
    pub dissemination: Dissemination,
    /// Use in judicial proceedings.
    pub judicial_use: JudicialUse,
    /// Onward transmission.
    pub onward: Onward,
    /// Purposes the information may be used for (empty: as agreed in the
    /// conversation; tools display that as "unspecified"). Each is a
    /// [`Purpose`] label or `other:<words-with-dashes>`.
    pub purposes: Vec<String>,
    /// Non-punishment principle: must not be used to punish trafficked
    /// persons for acts committed as a result of being trafficked. May be
    /// off only for TLP:GREEN and TLP:CLEAR.
    pub protect_victims: bool,
    /// After this time the recipient's client destroys the content.
    pub retain_until: Option<Timestamp>,
    /// Free-text conditions (SIENA H3), one per line. A forward may only
    /// append lines.
    pub conditions: String,
    /// Optional source and information evaluation (Europol 4x4: A/B/C/X, 1-4).
    pub evaluation: Option<(char, u8)>,
}

impl Default for Handling {
    fn default() -> Self {
        Handling {
            dissemination: Dissemination::Red,
            judicial_use: JudicialUse::Prohibited,
            onward: Onward::WithConsent,
            purposes: Vec::new(),
            protect_victims: true,
            retain_until: None,
            conditions: String::new(),
            evaluation: None,
        }
    }
}

/// Why a handling text or value was refused. Every message names the
/// offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandlingError {
    /// Nothing was given.
    #[error("empty handling: start with a TLP level (RED, AMBER+STRICT, AMBER, GREEN or CLEAR)")]
    Empty,
    /// The first token is not a TLP level.
    #[error(
        "\"{token}\" is not a TLP level: handling starts with RED, AMBER+STRICT, AMBER, GREEN or CLEAR"
    )]
    UnknownTlp {
        /// The token found.
        token: String,
    },
    /// A field name that is not part of the text form.
    #[error(
        "unknown handling field \"{token}\": expected judicial=, onward=, purpose=, \
         protect-victims, retain=, eval= or conditions="
    )]
    UnknownField {
        /// The token found.
        token: String,
    },
    /// A known field with a value it does not accept.
    #[error("\"{token}\": {expected}")]
    BadValue {
        /// The token found.
        token: String,
        /// What is accepted instead.
        expected: &'static str,
    },
    /// A purpose outside the vocabulary.
    #[error(
        "unknown purpose \"{purpose}\": use victim-identification, rescue, victim-support, \
         missing-persons, investigation, prosecution, financial-investigation, \
         intelligence-analysis, border-control, prevention, or other:<words-with-dashes>"
    )]
    UnknownPurpose {
        /// The purpose found.
        purpose: String,
    },
    /// A field (or the TLP level, or a purpose) given twice.
    #[error("\"{key}\" is given twice")]
    Duplicate {
        /// The repeated key, level or purpose.
        key: String,
    },
    /// Malformed quoting or escaping.
    #[error("\"{token}\": {problem}")]
    Syntax {
        /// The token (or the rest of the input) involved.
        token: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// Two codes that cannot hold together.
    #[error("\"{token}\": {reason}")]
    Contradiction {
        /// The token that contradicts another.
        token: String,
        /// Why.
        reason: &'static str,
    },
    /// A structural limit of [`Handling::check_wellformed`].
    #[error("{0}")]
    Invalid(&'static str),
}

impl Handling {
    /// Handling with the given dissemination and every other field at its
    /// most restrictive default.
    pub fn with_dissemination(dissemination: Dissemination) -> Self {
        Handling {
            dissemination,
            ..Handling::default()
        }
    }

    /// Structural and consistency limits, checked on decode and before
    /// signing. Every well-formed handling has a text form that parses back
    /// to it.
    pub fn check_wellformed(&self) -> Result<(), &'static str> {
        if self.purposes.len() > MAX_PURPOSES || self.purposes.iter().any(|p| p.len() > 64) {
            return Err("too many or too long purposes");
        }
        if !self.purposes.iter().all(|p| is_valid_purpose(p)) {
            return Err("a purpose is a well-known purpose or other:<words-with-dashes>");
        }
        for (i, p) in self.purposes.iter().enumerate() {
            if self.purposes.iter().skip(i + 1).any(|q| q == p) {
                return Err("a purpose is listed twice");
            }
        }
        if self.conditions.len() > MAX_CONDITIONS {
            return Err("conditions too long");
        }
        if !is_display_safe(&self.conditions) {
            return Err("conditions contain control or bidirectional-override characters");
        }
        if let Some((s, i)) = self.evaluation
            && (!matches!(s, 'A' | 'B' | 'C' | 'X') || !(1..=4).contains(&i))
        {
            return Err("evaluation is A/B/C/X and 1-4");
        }
        if self.retain_until.is_some_and(|t| t > MAX_RETAIN) {
            return Err("retention deadline after the year 9999");
        }
        if !self.protect_victims
            && !matches!(
                self.dissemination,
                Dissemination::Green | Dissemination::Clear
            )
        {
            return Err(
                "the non-punishment protection may be switched off only for TLP:GREEN or TLP:CLEAR",
            );
        }
        Ok(())
    }

    /// Short one-line summary, for lists.
    pub fn summary(&self) -> String {
        let mut s = format!("TLP:{}", self.dissemination.label());
        s.push_str(" judicial=");
        s.push_str(self.judicial_use.label());
        if !self.purposes.is_empty() {
            s.push_str(" purpose=");
            s.push_str(&self.purposes.join(","));
        }
        if let Some(t) = self.retain_until {
            s.push_str(" retain=");
            s.push_str(&format_time(t));
        }
        s
    }

    /// Whether the retention period has ended at `now` (the content must be
    /// destroyed). Pass the `consent::effective_handling`
    /// so that retention grants count.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.retain_until.is_some_and(|t| now >= t)
    }

    /// Append one condition line (the only way a forward may change
    /// conditions). Empty input changes nothing.
    pub fn add_condition(&mut self, condition: &str) {
        let condition = condition.trim();
        if condition.is_empty() {
            return;
        }
        if !self.conditions.is_empty() {
            self.conditions.push('\n');
        }
        self.conditions.push_str(condition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_most_restrictive() {
        let h = Handling::default();
        assert_eq!(h.dissemination, Dissemination::Red);
        assert_eq!(h.judicial_use, JudicialUse::Prohibited);
        assert_eq!(h.onward, Onward::WithConsent);
        assert!(h.protect_victims);
        assert_eq!(h.check_wellformed(), Ok(()));
        for d in Dissemination::ALL {
            let w = Handling::with_dissemination(d);
            assert_eq!(w.check_wellformed(), Ok(()));
            for other in Dissemination::ALL {
                assert!(
                    Handling::default()
                        .is_at_least_as_strict_as(&Handling::with_dissemination(other))
                );
            }
        }
    }

    #[test]
    fn tlp_labels_round_trip() {
        for d in Dissemination::ALL {
            assert_eq!(Dissemination::parse(d.label()), Some(d));
            assert_eq!(Dissemination::parse(&format!("TLP:{}", d.label())), Some(d));
            assert_eq!(
                Dissemination::parse(&format!("tlp:{}", d.label().to_lowercase())),
                Some(d)
            );
        }
        assert_eq!(Dissemination::parse("PINK"), None);
        assert_eq!(Dissemination::parse("TLP:"), None);
    }

    #[test]
    fn purposes() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.label()), Some(p));
            assert!(is_valid_purpose(p.label()));
        }
        assert!(is_valid_purpose("other:asset-tracing"));
        assert!(!is_valid_purpose("other:"));
        assert!(!is_valid_purpose("other:-x"));
        assert!(!is_valid_purpose("other:Asset"));
        assert!(!is_valid_purpose("other:rescue"));
        assert!(!is_valid_purpose("fishing"));
        assert_eq!(parse_purpose(" Rescue "), Ok("rescue".into()));
        assert_eq!(
            parse_purpose("OTHER:Asset-Tracing"),
            Ok("other:asset-tracing".into())
        );
        assert!(matches!(
            parse_purpose("fishing"),
            Err(HandlingError::UnknownPurpose { .. })
        ));
        assert!(matches!(
            parse_purpose("other:rescue"),
            Err(HandlingError::BadValue { .. })
        ));
    }

    #[test]
    fn wellformed_limits() {
        let ok = Handling::default();
        let bad = [
            Handling {
                purposes: vec!["fishing".into()],
                ..ok.clone()
            },
            Handling {
                purposes: vec!["rescue".into(), "rescue".into()],
                ..ok.clone()
            },
            Handling {
                conditions: "a\u{1b}[2Jb".into(),
                ..ok.clone()
            },
            Handling {
                conditions: "abc\u{202E}def".into(),
                ..ok.clone()
            },
            Handling {
                evaluation: Some(('D', 1)),
                ..ok.clone()
            },
            Handling {
                retain_until: Some(Timestamp(MAX_RETAIN.0 + 1)),
                ..ok.clone()
            },
            Handling {
                protect_victims: false,
                ..Handling::with_dissemination(Dissemination::Amber)
            },
        ];
        for h in bad {
            assert!(h.check_wellformed().is_err(), "{h:?}");
        }
        assert_eq!(
            Timestamp::parse_rfc3339("9999-12-31T23:59:59Z").map(|t| t.plus_millis(999)),
            Some(MAX_RETAIN)
        );
        let green = Handling {
            protect_victims: false,
            conditions: "line one\nline two".into(),
            retain_until: Some(MAX_RETAIN),
            ..Handling::with_dissemination(Dissemination::Green)
        };
        assert_eq!(green.check_wellformed(), Ok(()));
    }

    #[test]
    fn conditions_append() {
        let mut h = Handling::default();
        h.add_condition("  ");
        assert_eq!(h.conditions, "");
        h.add_condition("do not contact the suspect");
        h.add_condition("inform DSI before any arrest");
        assert_eq!(
            h.conditions,
            "do not contact the suspect\ninform DSI before any arrest"
        );
    }

    #[test]
    fn expiry() {
        let mut h = Handling::default();
        assert!(!h.is_expired(Timestamp(u64::MAX)));
        h.retain_until = Some(Timestamp(1000));
        assert!(!h.is_expired(Timestamp(999)));
        assert!(h.is_expired(Timestamp(1000)));
    }
}
