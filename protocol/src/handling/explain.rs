//! Plain-words rendering of a handling, shown to the recipient before the
//! content.

use super::model::{Dissemination, Handling, JudicialUse, OTHER_PURPOSE, Onward, Purpose};
use super::party::Party;
use super::time::format_time;

const ASK: &str = "`liaison consent request --help` says how to ask for it";

impl Handling {
    /// Each restriction as one sentence, in the order a recipient should
    /// read them: dissemination, onward transmission, judicial use,
    /// purposes, non-punishment, retention, evaluation, conditions.
    ///
    /// Pass the `consent::effective_handling`
    /// so that granted purposes and retention show.
    pub fn explain(&self) -> Vec<String> {
        self.sentences(None)
    }

    /// [`Handling::explain`] for a particular reader, naming their agency
    /// and country.
    pub fn explain_for(&self, reader: &Party) -> Vec<String> {
        self.sentences(Some(reader))
    }

    fn sentences(&self, reader: Option<&Party>) -> Vec<String> {
        let agency = match reader {
            Some(r) => format!("your own agency ({})", r.agency_label()),
            None => "your own agency".to_owned(),
        };
        let country = match reader {
            Some(r) => format!("other agencies in your country ({})", r.country),
            None => "other agencies in your country".to_owned(),
        };
        let mut out = Vec::new();
        out.push(match self.dissemination {
            Dissemination::Red => "TLP:RED — for the named recipients only; do not share it with \
                                   anyone else, not even inside your agency."
                .to_owned(),
            Dissemination::AmberStrict => {
                format!("TLP:AMBER+STRICT — you may share this only inside {agency}, with people who need to know.")
            }
            Dissemination::Amber => format!(
                "TLP:AMBER — you may share this inside {agency} and, on a need-to-know basis, with {country}."
            ),
            Dissemination::Green => "TLP:GREEN — you may share this with members of the Liaison \
                                     network, but not publicly."
                .to_owned(),
            Dissemination::Clear => "TLP:CLEAR — no restriction on disclosure.".to_owned(),
        });
        out.push(match (self.dissemination, self.onward) {
            (Dissemination::Red, _) => format!(
                "Onward transmission: passing it to anyone who was not a named recipient needs the \
                 originator's written consent ({ASK})."
            ),
            (Dissemination::AmberStrict, _) => format!(
                "Onward transmission: passing it outside {agency} needs the originator's written \
                 consent ({ASK})."
            ),
            (_, Onward::WithConsent) => format!(
                "Onward transmission: passing it outside {agency} needs the originator's written \
                 consent, even where the TLP level would allow it ({ASK})."
            ),
            (_, Onward::PerDissemination) => format!(
                "Onward transmission: as the TLP level allows; beyond that only with the \
                 originator's written consent ({ASK})."
            ),
        });
        out.push(match self.judicial_use {
            JudicialUse::Prohibited => format!(
                "Judicial use: prohibited — do not use this as evidence or in any judicial \
                 proceedings; only the originator's written consent can lift this ({ASK})."
            ),
            JudicialUse::WithConsent => {
                format!("Judicial use: only with the originator's written consent ({ASK}).")
            }
            JudicialUse::Permitted => {
                "Judicial use: permitted, including as evidence in judicial proceedings.".to_owned()
            }
        });
        if self.purposes.is_empty() {
            out.push(
                "Purpose: not stated by the originator — use it only for the purposes agreed in \
                 this conversation."
                    .to_owned(),
            );
        } else {
            let list: Vec<String> = self
                .purposes
                .iter()
                .map(|p| match Purpose::parse(p) {
                    Some(k) => k.meaning().to_owned(),
                    None => p.strip_prefix(OTHER_PURPOSE).unwrap_or(p).replace('-', " "),
                })
                .collect();
            out.push(format!(
                "Use it only for: {}. Any other use needs the originator's written consent ({ASK}).",
                list.join("; ")
            ));
        }
        if self.protect_victims {
            out.push(
                "Do not use this to punish trafficked persons for acts committed as a result of \
                 being trafficked (non-punishment principle)."
                    .to_owned(),
            );
        }
        if let Some(t) = self.retain_until {
            out.push(format!(
                "Destroy by {}; after that only a deletion record is kept.",
                format_time(t)
            ));
        }
        if let Some((source, info)) = self.evaluation {
            out.push(format!(
                "Evaluation {source}{info}: source {}; information {}.",
                source_meaning(source),
                info_meaning(info)
            ));
        }
        for line in self.conditions.lines().filter(|l| !l.trim().is_empty()) {
            out.push(format!("Condition set on this message: {}", line.trim()));
        }
        out
    }
}

/// Europol 4x4 source evaluation.
fn source_meaning(c: char) -> &'static str {
    match c {
        'A' => "reliable: no doubt of its authenticity, trustworthiness and competence",
        'B' => "usually reliable: its information has mostly proved reliable",
        'C' => "not usually reliable: its information has mostly proved unreliable",
        _ => "reliability cannot be assessed",
    }
}

/// Europol 4x4 information evaluation.
fn info_meaning(i: u8) -> &'static str {
    match i {
        1 => "known to be true without reservation",
        2 => "known personally to the source but not to the officer passing it on",
        3 => "not known personally to the source but corroborated by information already recorded",
        _ => "not known personally to the source and cannot be corroborated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CountryCode, DirectoryId, Timestamp};

    #[test]
    fn sentences_from_the_brief() {
        let h = Handling {
            judicial_use: JudicialUse::WithConsent,
            retain_until: Timestamp::parse_rfc3339("2027-06-30"),
            ..Handling::with_dissemination(Dissemination::AmberStrict)
        };
        let reader = Party {
            id: DirectoryId::parse("th.dsi.somchai").unwrap_or_else(|_| unreachable!()),
            country: CountryCode::parse("TH").unwrap_or_else(|_| unreachable!()),
            agency: "DSI".into(),
        };
        let s = h.explain_for(&reader);
        assert_eq!(
            s.first().map(String::as_str),
            Some(
                "TLP:AMBER+STRICT — you may share this only inside your own agency (DSI), with people who need to know."
            )
        );
        assert!(s.contains(&"Judicial use: only with the originator's written consent (`liaison consent request --help` says how to ask for it).".to_owned()));
        assert!(s.contains(&"Do not use this to punish trafficked persons for acts committed as a result of being trafficked (non-punishment principle).".to_owned()));
        assert!(s.contains(
            &"Destroy by 2027-06-30; after that only a deletion record is kept.".to_owned()
        ));
        assert!(h.explain().iter().all(|l| !l.contains("DSI")));
    }

    #[test]
    fn every_field_is_shown() {
        let h = Handling {
            purposes: vec!["rescue".into(), "other:asset-tracing".into()],
            evaluation: Some(('B', 2)),
            conditions: "do not contact the suspect\ninform DSI before arrest".into(),
            ..Handling::default()
        };
        let s = h.explain().join("\n");
        assert!(s.contains("rescuing victims"), "{s}");
        assert!(s.contains("asset tracing"), "{s}");
        assert!(s.contains("Evaluation B2"), "{s}");
        assert!(s.contains("do not contact the suspect"), "{s}");
        assert!(s.contains("inform DSI before arrest"), "{s}");
    }
}
