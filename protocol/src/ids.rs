//! Validated identifiers and time.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC). Time always enters this crate as
/// an argument.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Seconds since the epoch.
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// From seconds since the epoch.
    pub fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// `self + ms`, saturating.
    pub fn plus_millis(self, ms: u64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// RFC 3339 rendering (UTC, second precision), for humans and JSON.
    pub fn to_rfc3339(self) -> String {
        let secs = self.as_secs();
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days as i64);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }

    /// Parse `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let s = s.trim();
        let (date, time) = match s.split_once('T') {
            Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
            None => (s, None),
        };
        let mut it = date.split('-');
        let y: i64 = it.next()?.parse().ok()?;
        let m: u32 = it.next()?.parse().ok()?;
        let d: u32 = it.next()?.parse().ok()?;
        if it.next().is_some()
            || !(1970..=9999).contains(&y)
            || !(1..=12).contains(&m)
            || !(1..=31).contains(&d)
        {
            return None;
        }
        let mut secs = u64::try_from(days_from_civil(y, m, d))
            .ok()?
            .checked_mul(86_400)?;
        if let Some(t) = time {
            let mut it = t.split(':');
            let hh: u64 = it.next()?.parse().ok()?;
            let mm: u64 = it.next()?.parse().ok()?;
            let ss: u64 = it.next()?.parse().ok()?;
            if it.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
                return None;
            }
            secs += hh * 3600 + mm * 60 + ss;
        }
        Some(Timestamp::from_secs(secs))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

// Howard Hinnant's civil-calendar algorithms.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An ISO 3166-1 alpha-2 country code, upper case (`TH`, `PH`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parse two ASCII letters; lower case is accepted and normalised.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        match b {
            [a, c] if a.is_ascii_alphabetic() && c.is_ascii_alphabetic() => Ok(CountryCode([
                a.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ])),
            _ => Err(IdError::Country),
        }
    }

    /// The code as `&str`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl TryFrom<String> for CountryCode {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        CountryCode::parse(&s).and_then(|c| {
            if c.as_str() == s {
                Ok(c)
            } else {
                Err(IdError::Country)
            }
        })
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

/// Why an identifier is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not a two-letter country code.
    #[error("a country code is two letters, such as TH or PH")]
    Country,
    /// Not a valid directory id.
    #[error(
        "a directory id is 2 to 5 dot-separated labels of a-z, 0-9 and '-', starting with the \
         lower-case country code, at most 64 characters (for example th.dsi.somchai)"
    )]
    DirectoryId,
}

/// Maximum length of a directory id.
pub const MAX_ID_LEN: usize = 64;

/// A stable directory id for a focal point or a role, such as
/// `th.dsi.somchai` or `th.dsi.tip-duty`. The first label is the lower-case
/// country code of the State whose authority vouches for it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DirectoryId(String);

impl DirectoryId {
    /// Parse and validate.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > MAX_ID_LEN {
            return Err(IdError::DirectoryId);
        }
        let labels: Vec<&str> = s.split('.').collect();
        if !(2..=5).contains(&labels.len()) {
            return Err(IdError::DirectoryId);
        }
        for l in &labels {
            let ok = !l.is_empty()
                && l.len() <= 32
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(IdError::DirectoryId);
            }
        }
        match labels.first() {
            Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_lowercase()) => {}
            _ => return Err(IdError::DirectoryId),
        }
        Ok(DirectoryId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The country whose authority may sign for this id.
    pub fn country(&self) -> CountryCode {
        CountryCode::parse(self.0.get(..2).unwrap_or("")).unwrap_or(CountryCode(*b"ZZ"))
    }
}

impl TryFrom<String> for DirectoryId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        DirectoryId::parse(&s)
    }
}

impl From<DirectoryId> for String {
    fn from(c: DirectoryId) -> String {
        c.0
    }
}

impl std::str::FromStr for DirectoryId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        DirectoryId::parse(s)
    }
}

impl fmt::Display for DirectoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DirectoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DirectoryId({})", self.0)
    }
}

/// A 128-bit random message id, chosen by the sender.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(pub [u8; 16]);

/// A 128-bit conversation id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConversationId(pub [u8; 16]);

macro_rules! hex_id {
    ($t:ident) => {
        impl $t {
            /// Lower-case hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// Parse 32 hex digits.
            pub fn from_hex(s: &str) -> Option<Self> {
                let mut out = [0u8; 16];
                hex::decode_to_slice(s.trim(), &mut out).ok()?;
                Some($t(out))
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "({})"), self.to_hex())
            }
        }
    };
}
hex_id!(MessageId);
hex_id!(ConversationId);

/// A 32-byte value carried as raw bytes (hashes, Curve25519 keys, nonces).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Bytes32(pub [u8; 32]);

impl fmt::Debug for Bytes32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(DirectoryId::parse("th.dsi.somchai").is_ok());
        assert!(DirectoryId::parse("th.dsi.tip-duty").is_ok());
        assert_eq!(
            DirectoryId::parse("th.dsi.x").map(|i| i.country()),
            Ok(CountryCode::parse("TH").unwrap_or_else(|_| unreachable!()))
        );
        for bad in [
            "",
            "th",
            "TH.dsi.a",
            "thai.dsi.a",
            "th..a",
            "th.-a",
            "th.a b",
            "t1.x",
        ] {
            assert!(DirectoryId::parse(bad).is_err(), "{bad}");
        }
        assert!(CountryCode::try_from("th".to_owned()).is_err());
        assert!(CountryCode::try_from("TH".to_owned()).is_ok());
    }

    #[test]
    fn time_round_trip() {
        let t = Timestamp::parse_rfc3339("2027-06-30").unwrap_or_default();
        assert_eq!(t.to_rfc3339(), "2027-06-30T00:00:00Z");
        let t = Timestamp::parse_rfc3339("2026-11-28T17:26:20Z").unwrap_or_default();
        assert_eq!(t.to_rfc3339(), "2026-11-28T17:26:20Z");
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert!(Timestamp::parse_rfc3339("2026-13-01").is_none());
    }
}
