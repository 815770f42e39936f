//! Times in the handling's text form.

use crate::ids::Timestamp;

const MS_PER_DAY: u64 = 86_400_000;

/// Canonical text of a time: `YYYY-MM-DD` at midnight UTC, otherwise
/// `YYYY-MM-DDTHH:MM:SSZ`, with `.mmm` before the `Z` when the milliseconds
/// are not zero.
pub(crate) fn format_time(t: Timestamp) -> String {
    let full = t.to_rfc3339();
    if t.0.is_multiple_of(MS_PER_DAY) {
        return full.get(..10).unwrap_or(&full).to_owned();
    }
    let ms = t.0 % 1000;
    if ms == 0 {
        return full;
    }
    let base = full.strip_suffix('Z').unwrap_or(&full);
    format!("{base}.{ms:03}Z")
}

/// Parse the forms [`format_time`] writes, plus `YYYY-MM-DDTHH:MM:SSZ` at
/// midnight. Strict: zero-padded fields, a real calendar date, no leap
/// second, at most year 9999.
pub(crate) fn parse_time(s: &str) -> Option<Timestamp> {
    let (main, ms) = match s.strip_suffix('Z').and_then(|r| r.split_once('.')) {
        Some((main, frac)) => {
            if frac.len() != 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (format!("{main}Z"), frac.parse::<u64>().ok()?)
        }
        None => (s.to_owned(), 0),
    };
    let t = Timestamp::parse_rfc3339(&main)?;
    // Timestamp::parse_rfc3339 rolls 2027-02-31 over to March and accepts
    // unpadded numbers; insist on the one spelling that renders back.
    let expected = if main.len() == 10 {
        format!("{main}T00:00:00Z")
    } else {
        main
    };
    if t.to_rfc3339() != expected {
        return None;
    }
    Some(t.plus_millis(ms))
}
