//! A focal point as the handling rules see it.

use std::fmt;

use crate::directory::FocalPointRecord;
use crate::ids::{CountryCode, DirectoryId};

/// A focal point as the dissemination rules see it. Build it from the
/// verified directory record ([`Party::from_record`]), never from what a
/// message claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    /// Directory id.
    pub id: DirectoryId,
    /// Country of the vouching authority.
    pub country: CountryCode,
    /// Agency, as in the directory record (DSI, PNP, ...).
    pub agency: String,
}

impl Party {
    /// From a verified directory record.
    pub fn from_record(record: &FocalPointRecord) -> Party {
        Party {
            id: record.id.clone(),
            country: record.country,
            agency: record.agency.clone(),
        }
    }

    /// Same country and same agency (names compared without surrounding
    /// space and ASCII case). An empty agency matches nothing: an unknown
    /// agency is never "your own".
    pub fn same_agency(&self, other: &Party) -> bool {
        let (a, b) = (self.agency.trim(), other.agency.trim());
        self.country == other.country && !a.is_empty() && a.eq_ignore_ascii_case(b)
    }

    pub(crate) fn agency_label(&self) -> &str {
        match self.agency.trim() {
            "" => "an unnamed agency",
            a => a,
        }
    }
}

impl fmt::Display for Party {
    /// `ph.pnp.bob (PNP, PH)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.id, self.agency_label(), self.country)
    }
}
