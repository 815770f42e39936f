//! Times as the officer reads them: in their time zone, with UTC kept for
//! the hover text.

use jiff::tz::TimeZone;

/// A time to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// In the officer's time zone, such as `2026-11-29 21:05 +07`.
    pub local: String,
    /// In UTC, such as `2026-11-29 14:05 UTC`.
    pub utc: String,
    /// The machine-readable form (RFC 3339, UTC) for `<time datetime>`.
    pub iso: String,
}

/// `rfc3339` (as the agent's views give times) in the zone `tz` (an IANA
/// name; UTC if the system does not know it). An unreadable time is shown
/// as it is.
pub fn show(rfc3339: &str, tz: &str) -> Shown {
    let Ok(ts) = rfc3339.parse::<jiff::Timestamp>() else {
        return Shown {
            local: rfc3339.to_owned(),
            utc: rfc3339.to_owned(),
            iso: rfc3339.to_owned(),
        };
    };
    let zone = TimeZone::get(tz).unwrap_or(TimeZone::UTC);
    Shown {
        local: ts.to_zoned(zone).strftime("%Y-%m-%d %H:%M %Z").to_string(),
        utc: ts
            .to_zoned(TimeZone::UTC)
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string(),
        iso: rfc3339.to_owned(),
    }
}

/// The zones the settings offer first: those of the ten countries, then
/// UTC.
pub const REGION_ZONES: &[&str] = &[
    "Asia/Bangkok",
    "Asia/Brunei",
    "Asia/Ho_Chi_Minh",
    "Asia/Jakarta",
    "Asia/Makassar",
    "Asia/Jayapura",
    "Asia/Kuala_Lumpur",
    "Asia/Manila",
    "Asia/Phnom_Penh",
    "Asia/Singapore",
    "Asia/Vientiane",
    "Asia/Yangon",
    "UTC",
];

/// Whether `name` is a time zone this system knows (an IANA name).
pub fn known_zone(name: &str) -> bool {
    name.len() <= 64 && TimeZone::get(name).is_ok()
}

/// Every time zone this system knows, sorted.
pub fn all_zones() -> Vec<String> {
    let mut all: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_owned())
        .collect();
    all.sort();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_local_time_and_keeps_utc() {
        let s = show("2026-11-29T14:05:00Z", "Etc/GMT-7");
        assert_eq!(s.utc, "2026-11-29 14:05 UTC");
        assert!(s.local.starts_with("2026-11-29 21:05"), "{}", s.local);
        let s = show("2026-11-29T14:05:00Z", "No/Such_Zone");
        assert!(s.local.starts_with("2026-11-29 14:05"), "{}", s.local);
        assert_eq!(show("garbage", "UTC").local, "garbage");
    }

    #[test]
    fn knows_the_region_zones_and_no_made_up_one() {
        for z in REGION_ZONES {
            assert!(known_zone(z), "{z}");
        }
        assert!(!known_zone("No/Such_Zone"));
        assert!(!known_zone("../../etc/passwd"));
        assert!(all_zones().iter().any(|z| z == "Asia/Bangkok"));
    }
}
