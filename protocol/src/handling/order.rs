//! The tightening order: a forward carries the original handling and may
//! only make it stricter (DESIGN "Handling codes": handling is sticky).

use std::fmt;

use super::model::{Dissemination, Handling, JudicialUse, Onward};
use super::time::format_time;
use crate::ids::Timestamp;

/// One way a proposed handling is looser than the original.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loosening {
    /// Dissemination widened.
    Dissemination {
        /// Level of the original.
        original: Dissemination,
        /// Wider level proposed.
        proposed: Dissemination,
    },
    /// Judicial use less restricted.
    JudicialUse {
        /// Code of the original.
        original: JudicialUse,
        /// Looser code proposed.
        proposed: JudicialUse,
    },
    /// Onward transmission less restricted.
    Onward {
        /// Code of the original.
        original: Onward,
        /// Looser code proposed.
        proposed: Onward,
    },
    /// Purposes the original does not allow.
    PurposesAdded {
        /// The added purposes, in the proposed order.
        added: Vec<String>,
    },
    /// The original lists purposes; the proposal lists none (which means
    /// "as agreed in the conversation", i.e. unrestricted by handling).
    PurposesRemoved,
    /// The non-punishment protection switched off.
    ProtectVictimsOff,
    /// The retention deadline moved later.
    RetentionExtended {
        /// Deadline of the original.
        original: Timestamp,
        /// Later deadline proposed.
        proposed: Timestamp,
    },
    /// The retention deadline removed.
    RetentionRemoved {
        /// Deadline of the original.
        original: Timestamp,
    },
    /// Conditions of the original removed or rewritten (a forward may only
    /// append lines).
    ConditionsChanged,
    /// The source and information evaluation changed. It is the
    /// originator's assessment, so a forward carries it unchanged.
    EvaluationChanged,
}

impl fmt::Display for Loosening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loosening::Dissemination { original, proposed } => write!(
                f,
                "dissemination widened from TLP:{original} to TLP:{proposed}"
            ),
            Loosening::JudicialUse { original, proposed } => write!(
                f,
                "judicial use loosened from {} to {}",
                original.label(),
                proposed.label()
            ),
            Loosening::Onward { original, proposed } => write!(
                f,
                "onward transmission loosened from {} to {}",
                original.label(),
                proposed.label()
            ),
            Loosening::PurposesAdded { added } => {
                write!(f, "purposes added: {}", added.join(","))
            }
            Loosening::PurposesRemoved => f.write_str("purpose restriction removed"),
            Loosening::ProtectVictimsOff => {
                f.write_str("non-punishment protection of victims switched off")
            }
            Loosening::RetentionExtended { original, proposed } => write!(
                f,
                "retention extended from {} to {}",
                format_time(*original),
                format_time(*proposed)
            ),
            Loosening::RetentionRemoved { original } => {
                write!(f, "retention deadline {} removed", format_time(*original))
            }
            Loosening::ConditionsChanged => {
                f.write_str("conditions removed or rewritten (they may only be added to)")
            }
            Loosening::EvaluationChanged => f.write_str("evaluation changed"),
        }
    }
}

/// Whether `proposed` conditions keep every line of `original` in place and
/// only append.
fn conditions_extend(proposed: &str, original: &str) -> bool {
    original.is_empty()
        || proposed == original
        || proposed
            .strip_prefix(original)
            .is_some_and(|rest| rest.starts_with('\n'))
}

impl Handling {
    /// Whether `self` restricts at least as much as `original` on every
    /// field: the test a forward's handling must pass.
    pub fn is_at_least_as_strict_as(&self, original: &Handling) -> bool {
        self.loosenings(original).is_empty()
    }

    /// Every field on which `self` is looser than `original` (empty: `self`
    /// only tightens).
    ///
    /// The order, field by field (stricter first): RED < AMBER+STRICT <
    /// AMBER < GREEN < CLEAR; judicial prohibited < with-consent <
    /// permitted; onward with-consent < per-tlp; purposes compare as sets,
    /// a subset is stricter and any list is stricter than none;
    /// protect-victims on < off; an earlier retention deadline < a later one
    /// < none; conditions may only gain lines; the evaluation must not
    /// change.
    pub fn loosenings(&self, original: &Handling) -> Vec<Loosening> {
        let mut out = Vec::new();
        if self.dissemination > original.dissemination {
            out.push(Loosening::Dissemination {
                original: original.dissemination,
                proposed: self.dissemination,
            });
        }
        if self.judicial_use.looseness() > original.judicial_use.looseness() {
            out.push(Loosening::JudicialUse {
                original: original.judicial_use,
                proposed: self.judicial_use,
            });
        }
        if self.onward.looseness() > original.onward.looseness() {
            out.push(Loosening::Onward {
                original: original.onward,
                proposed: self.onward,
            });
        }
        if !original.purposes.is_empty() {
            if self.purposes.is_empty() {
                out.push(Loosening::PurposesRemoved);
            } else {
                let added: Vec<String> = self
                    .purposes
                    .iter()
                    .filter(|p| !original.purposes.contains(p))
                    .cloned()
                    .collect();
                if !added.is_empty() {
                    out.push(Loosening::PurposesAdded { added });
                }
            }
        }
        if original.protect_victims && !self.protect_victims {
            out.push(Loosening::ProtectVictimsOff);
        }
        match (original.retain_until, self.retain_until) {
            (Some(o), None) => out.push(Loosening::RetentionRemoved { original: o }),
            (Some(o), Some(p)) if p > o => out.push(Loosening::RetentionExtended {
                original: o,
                proposed: p,
            }),
            _ => {}
        }
        if !conditions_extend(&self.conditions, &original.conditions) {
            out.push(Loosening::ConditionsChanged);
        }
        if self.evaluation != original.evaluation {
            out.push(Loosening::EvaluationChanged);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_only_grow() {
        assert!(conditions_extend("a", ""));
        assert!(conditions_extend("a", "a"));
        assert!(conditions_extend("a\nb", "a"));
        assert!(!conditions_extend("ab", "a"));
        assert!(!conditions_extend("", "a"));
        assert!(!conditions_extend("b\na", "a"));
    }

    #[test]
    fn each_field() {
        let strict = Handling {
            purposes: vec!["rescue".into()],
            retain_until: Some(Timestamp(10)),
            conditions: "x".into(),
            ..Handling::default()
        };
        let cases: Vec<(Handling, Loosening)> = vec![
            (
                Handling {
                    dissemination: Dissemination::Amber,
                    ..strict.clone()
                },
                Loosening::Dissemination {
                    original: Dissemination::Red,
                    proposed: Dissemination::Amber,
                },
            ),
            (
                Handling {
                    judicial_use: JudicialUse::WithConsent,
                    ..strict.clone()
                },
                Loosening::JudicialUse {
                    original: JudicialUse::Prohibited,
                    proposed: JudicialUse::WithConsent,
                },
            ),
            (
                Handling {
                    onward: Onward::PerDissemination,
                    ..strict.clone()
                },
                Loosening::Onward {
                    original: Onward::WithConsent,
                    proposed: Onward::PerDissemination,
                },
            ),
            (
                Handling {
                    purposes: vec!["rescue".into(), "prosecution".into()],
                    ..strict.clone()
                },
                Loosening::PurposesAdded {
                    added: vec!["prosecution".into()],
                },
            ),
            (
                Handling {
                    purposes: vec![],
                    ..strict.clone()
                },
                Loosening::PurposesRemoved,
            ),
            (
                Handling {
                    protect_victims: false,
                    ..strict.clone()
                },
                Loosening::ProtectVictimsOff,
            ),
            (
                Handling {
                    retain_until: Some(Timestamp(11)),
                    ..strict.clone()
                },
                Loosening::RetentionExtended {
                    original: Timestamp(10),
                    proposed: Timestamp(11),
                },
            ),
            (
                Handling {
                    retain_until: None,
                    ..strict.clone()
                },
                Loosening::RetentionRemoved {
                    original: Timestamp(10),
                },
            ),
            (
                Handling {
                    conditions: String::new(),
                    ..strict.clone()
                },
                Loosening::ConditionsChanged,
            ),
            (
                Handling {
                    evaluation: Some(('A', 1)),
                    ..strict.clone()
                },
                Loosening::EvaluationChanged,
            ),
        ];
        for (looser, expected) in cases {
            assert_eq!(looser.loosenings(&strict), vec![expected.clone()]);
            assert!(!expected.to_string().is_empty());
            assert!(
                strict.is_at_least_as_strict_as(&looser)
                    || expected == Loosening::EvaluationChanged
            );
        }
    }
}
