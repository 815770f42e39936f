//! The text form of [`Handling`] (grammar in the [module docs](super#text-form)).

use super::model::{
    Dissemination, Handling, HandlingError, JudicialUse, Onward, is_display_safe, parse_purpose,
};
use super::time::{format_time, parse_time};

/// One `key[=value]` token of the text form.
struct Token<'a> {
    /// The token as written (for error messages).
    raw: &'a str,
    key: &'a str,
    value: Option<String>,
}

fn tokenize(s: &str) -> Result<Vec<Token<'_>>, HandlingError> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        let start = rest;
        let key_end = rest
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(rest.len());
        let key = rest.get(..key_end).unwrap_or("");
        rest = rest.get(key_end..).unwrap_or("");
        if key.contains('"') {
            let raw = start.split(char::is_whitespace).next().unwrap_or(start);
            return Err(HandlingError::Syntax {
                token: raw.to_owned(),
                problem: "quotes are allowed only around a value, as in conditions=\"...\"",
            });
        }
        let value = match rest.strip_prefix('=') {
            None => None,
            Some(after) => {
                if let Some(quoted) = after.strip_prefix('"') {
                    let (v, remaining) = unquote(quoted).ok_or_else(|| HandlingError::Syntax {
                        token: start.to_owned(),
                        problem: "unterminated quotes or an escape other than \\\", \\\\ or \\n",
                    })?;
                    if remaining.chars().next().is_some_and(|c| !c.is_whitespace()) {
                        let used = start.len() - remaining.len();
                        let raw = start.get(..used).unwrap_or(start).to_owned()
                            + remaining.split(char::is_whitespace).next().unwrap_or("");
                        return Err(HandlingError::Syntax {
                            token: raw,
                            problem: "a closing quote must be followed by a space",
                        });
                    }
                    rest = remaining;
                    Some(v)
                } else {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    let v = after.get(..end).unwrap_or("");
                    rest = after.get(end..).unwrap_or("");
                    if v.contains('"') {
                        let used = start.len() - rest.len();
                        return Err(HandlingError::Syntax {
                            token: start.get(..used).unwrap_or(start).to_owned(),
                            problem: "quote the whole value, as in conditions=\"...\"",
                        });
                    }
                    Some(v.to_owned())
                }
            }
        };
        let used = start.len() - rest.len();
        out.push(Token {
            raw: start.get(..used).unwrap_or(start),
            key,
            value,
        });
    }
}

/// Read a quoted string after its opening quote; return it and the input
/// after the closing quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, s.get(i + 1..).unwrap_or(""))),
            '\\' => match chars.next()?.1 {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn bad(token: &Token<'_>, expected: &'static str) -> HandlingError {
    HandlingError::BadValue {
        token: token.raw.to_owned(),
        expected,
    }
}

/// The value of a `key=value` token, refusing a bare key or an empty value.
fn value<'t>(token: &'t Token<'_>, expected: &'static str) -> Result<&'t str, HandlingError> {
    match token.value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(bad(token, expected)),
    }
}

impl Handling {
    /// Parse the text form (see the [module docs](super#text-form)).
    ///
    /// Omitted fields take their most restrictive defaults; anything unknown,
    /// repeated or contradictory is an error naming the token.
    pub fn parse_text(s: &str) -> Result<Handling, HandlingError> {
        let tokens = tokenize(s)?;
        let mut tokens = tokens.iter();
        let first = tokens.next().ok_or(HandlingError::Empty)?;
        let dissemination = match (&first.value, Dissemination::parse(first.raw)) {
            (None, Some(d)) => d,
            _ => {
                return Err(HandlingError::UnknownTlp {
                    token: first.raw.to_owned(),
                });
            }
        };
        let mut h = Handling::with_dissemination(dissemination);
        let mut seen: Vec<&'static str> = Vec::new();
        let mut protect_victims_token = None;
        for t in tokens {
            let key = t.key.to_ascii_lowercase();
            let canonical_key: &'static str = match key.as_str() {
                "judicial" => "judicial",
                "onward" => "onward",
                "purpose" | "purposes" => "purpose",
                "protect-victims" => "protect-victims",
                "retain" => "retain",
                "eval" => "eval",
                "conditions" => "conditions",
                _ if t.value.is_none() && Dissemination::parse(t.raw).is_some() => {
                    return Err(HandlingError::Duplicate {
                        key: "TLP level".into(),
                    });
                }
                _ => {
                    return Err(HandlingError::UnknownField {
                        token: t.raw.to_owned(),
                    });
                }
            };
            if seen.contains(&canonical_key) {
                return Err(HandlingError::Duplicate {
                    key: canonical_key.to_owned(),
                });
            }
            seen.push(canonical_key);
            match canonical_key {
                "judicial" => {
                    const E: &str = "judicial= takes prohibited, with-consent or permitted";
                    h.judicial_use = JudicialUse::parse(value(t, E)?).ok_or_else(|| bad(t, E))?;
                }
                "onward" => {
                    const E: &str = "onward= takes with-consent or per-tlp";
                    h.onward = Onward::parse(value(t, E)?).ok_or_else(|| bad(t, E))?;
                }
                "purpose" => {
                    let v = value(t, "purpose= takes a comma-separated list of purposes")?;
                    for p in v.split(',') {
                        let p = parse_purpose(p)?;
                        if h.purposes.contains(&p) {
                            return Err(HandlingError::Duplicate { key: p });
                        }
                        h.purposes.push(p);
                    }
                }
                "protect-victims" => {
                    h.protect_victims = match t.value.as_deref().map(str::to_ascii_lowercase) {
                        None => true,
                        Some(v) if v == "yes" => true,
                        Some(v) if v == "no" => false,
                        Some(_) => {
                            return Err(bad(t, "protect-victims takes no value, =yes or =no"));
                        }
                    };
                    protect_victims_token = Some(t.raw);
                }
                "retain" => {
                    const E: &str =
                        "retain= takes a UTC date YYYY-MM-DD or time YYYY-MM-DDTHH:MM:SSZ";
                    h.retain_until = Some(parse_time(value(t, E)?).ok_or_else(|| bad(t, E))?);
                }
                "eval" => {
                    const E: &str = "eval= takes a source code A, B, C or X and an information code 1 to 4, as in eval=B2";
                    let v = value(t, E)?.to_ascii_uppercase();
                    let mut c = v.chars();
                    h.evaluation = match (c.next(), c.next(), c.next()) {
                        (Some(s @ ('A' | 'B' | 'C' | 'X')), Some(i @ '1'..='4'), None) => {
                            Some((s, i as u8 - b'0'))
                        }
                        _ => return Err(bad(t, E)),
                    };
                }
                _ => {
                    let v = value(t, "conditions= takes quoted text; omit it for none")?;
                    if !is_display_safe(v) {
                        return Err(bad(
                            t,
                            "conditions may not contain control or bidirectional-override characters",
                        ));
                    }
                    h.conditions = v.to_owned();
                }
            }
        }
        if let Some(token) = protect_victims_token
            && !h.protect_victims
            && !matches!(h.dissemination, Dissemination::Green | Dissemination::Clear)
        {
            return Err(HandlingError::Contradiction {
                token: token.to_owned(),
                reason: "protect-victims=no is allowed only with GREEN or CLEAR: information \
                         restricted to named recipients or agencies may concern victims",
            });
        }
        h.check_wellformed().map_err(HandlingError::Invalid)?;
        Ok(h)
    }

    /// The canonical text form. For every well-formed handling `h`,
    /// `Handling::parse_text(&h.to_text()) == Ok(h)`.
    pub fn to_text(&self) -> String {
        let mut s = String::from(self.dissemination.label());
        s.push_str(" judicial=");
        s.push_str(self.judicial_use.label());
        s.push_str(" onward=");
        s.push_str(self.onward.label());
        if !self.purposes.is_empty() {
            s.push_str(" purpose=");
            s.push_str(&self.purposes.join(","));
        }
        s.push_str(if self.protect_victims {
            " protect-victims"
        } else {
            " protect-victims=no"
        });
        if let Some(t) = self.retain_until {
            s.push_str(" retain=");
            s.push_str(&format_time(t));
        }
        if let Some((src, info)) = self.evaluation {
            s.push_str(" eval=");
            s.push(src);
            s.push_str(&info.to_string());
        }
        if !self.conditions.is_empty() {
            s.push_str(" conditions=");
            s.push_str(&quote(&self.conditions));
        }
        s
    }
}

impl std::str::FromStr for Handling {
    type Err = HandlingError;
    fn from_str(s: &str) -> Result<Self, HandlingError> {
        Handling::parse_text(s)
    }
}

impl std::fmt::Display for Handling {
    /// The canonical text form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Timestamp;

    fn t(s: &str) -> Timestamp {
        parse_time(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn times() {
        assert_eq!(format_time(t("2027-06-30")), "2027-06-30");
        assert_eq!(format_time(t("2027-06-30T00:00:00Z")), "2027-06-30");
        assert_eq!(
            format_time(t("2027-06-30T12:00:01Z")),
            "2027-06-30T12:00:01Z"
        );
        assert_eq!(
            format_time(t("2027-06-30T12:00:01.020Z")),
            "2027-06-30T12:00:01.020Z"
        );
        assert_eq!(format_time(Timestamp(1)), "1970-01-01T00:00:00.001Z");
        for bad in [
            "2027-02-31",
            "2027-6-30",
            "2027-06-30T23:59:60Z",
            "2027-06-30T12:00:01.1Z",
            "2027-06-30T12:00:01.0001Z",
            "2027-06-30T12:00:01.abcZ",
            "2027-06-30T12:00:01",
            "10000-01-01",
            "",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn example_from_the_brief() {
        let s = "AMBER+STRICT judicial=with-consent onward=with-consent purpose=rescue,investigation \
                 protect-victims retain=2027-06-30 eval=B2 conditions=\"do not contact the suspect\"";
        let h = Handling::parse_text(s).unwrap_or_default();
        assert_eq!(h.dissemination, Dissemination::AmberStrict);
        assert_eq!(h.judicial_use, JudicialUse::WithConsent);
        assert_eq!(h.purposes, ["rescue", "investigation"]);
        assert_eq!(h.evaluation, Some(('B', 2)));
        assert_eq!(h.conditions, "do not contact the suspect");
        assert_eq!(
            h.to_text(),
            s.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }

    #[test]
    fn omitted_fields_are_most_restrictive() {
        for d in Dissemination::ALL {
            assert_eq!(
                Handling::parse_text(d.label()),
                Ok(Handling::with_dissemination(d))
            );
        }
        assert_eq!(
            Handling::parse_text("RED").map(|h| h.to_text()),
            Ok("RED judicial=prohibited onward=with-consent protect-victims".into())
        );
    }

    #[test]
    fn quoting() {
        let h = Handling {
            conditions: "say \"no\"\nC:\\path".into(),
            ..Handling::default()
        };
        let s = h.to_text();
        assert!(s.ends_with(r#"conditions="say \"no\"\nC:\\path""#), "{s}");
        assert_eq!(Handling::parse_text(&s), Ok(h));
        assert_eq!(
            Handling::parse_text("RED conditions=single-word").map(|h| h.conditions),
            Ok("single-word".into())
        );
        assert_eq!(
            Handling::parse_text("RED purpose=\"rescue\"").map(|h| h.purposes),
            Ok(vec!["rescue".into()])
        );
    }
}
