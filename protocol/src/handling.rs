//! Handling codes: the restrictions an originator places on the use of what
//! it sends (UN Trafficking in Persons Protocol, Article 10(3)), modelled on
//! Europol SIENA handling codes and FIRST TLP 2.0.
//!
//! A `Handling` travels inside the signed payload, so it cannot be altered
//! without breaking the originator's signature. Every default is the most
//! restrictive choice.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::Timestamp;

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

    /// Parse a TLP label, with or without the `TLP:` prefix.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s.strip_prefix("TLP:").unwrap_or(s);
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

/// Onward transmission (SIENA H2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Onward {
    /// Only with the originator's signed consent.
    #[default]
    WithConsent,
    /// As the dissemination level allows.
    PerDissemination,
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
    /// conversation; tools display that as "unspecified").
    pub purposes: Vec<String>,
    /// Non-punishment principle: must not be used to punish trafficked
    /// persons for acts committed as a result of being trafficked.
    pub protect_victims: bool,
    /// After this time the recipient's client destroys the content.
    pub retain_until: Option<Timestamp>,
    /// Free-text conditions (SIENA H3).
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

impl Handling {
    /// Handling with the given dissemination and every other field at its
    /// most restrictive default.
    pub fn with_dissemination(dissemination: Dissemination) -> Self {
        Handling {
            dissemination,
            ..Handling::default()
        }
    }

    /// Structural limits checked on decode.
    pub fn check_wellformed(&self) -> Result<(), &'static str> {
        if self.purposes.len() > 16 || self.purposes.iter().any(|p| p.len() > 64) {
            return Err("too many or too long purposes");
        }
        if self.conditions.len() > 2048 {
            return Err("conditions too long");
        }
        if let Some((s, i)) = self.evaluation
            && (!matches!(s, 'A' | 'B' | 'C' | 'X') || !(1..=4).contains(&i))
        {
            return Err("evaluation is A/B/C/X and 1-4");
        }
        Ok(())
    }

    /// Short one-line summary, for lists.
    pub fn summary(&self) -> String {
        let mut s = format!("TLP:{}", self.dissemination.label());
        s.push_str(match self.judicial_use {
            JudicialUse::Prohibited => " judicial=prohibited",
            JudicialUse::WithConsent => " judicial=with-consent",
            JudicialUse::Permitted => " judicial=permitted",
        });
        if !self.purposes.is_empty() {
            s.push_str(" purpose=");
            s.push_str(&self.purposes.join(","));
        }
        if let Some(t) = self.retain_until {
            s.push_str(" retain=");
            s.push_str(&t.to_rfc3339());
        }
        s
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
    }

    #[test]
    fn tlp_labels_round_trip() {
        for d in [
            Dissemination::Red,
            Dissemination::AmberStrict,
            Dissemination::Amber,
            Dissemination::Green,
            Dissemination::Clear,
        ] {
            assert_eq!(Dissemination::parse(d.label()), Some(d));
            assert_eq!(Dissemination::parse(&format!("TLP:{}", d.label())), Some(d));
        }
        assert_eq!(Dissemination::parse("PINK"), None);
    }
}
