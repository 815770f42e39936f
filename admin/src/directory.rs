//! The verified directory as an authority sees it, and the lookups the
//! directory commands make in it.

use liaison_protocol::directory::{Directory, FocalPointRecord, RoleRecord};
use liaison_protocol::directory_state::Rejected;
use liaison_protocol::{CountryCode, DirectoryId};

use crate::error::AdminError;

/// The verified directory as an authority sees it.
#[derive(Debug)]
pub struct AuthorityView {
    /// Everything that verified against the pinned root.
    pub directory: Directory,
    /// What did not, and why.
    pub rejected: Vec<Rejected>,
    /// The country the relay recognised the key for.
    pub country: CountryCode,
}

impl AuthorityView {
    /// The current verified record of `id`, or an error saying why there
    /// is none.
    pub fn record(&self, id: &DirectoryId) -> Result<&FocalPointRecord, AdminError> {
        if let Some(r) = self.directory.record(id) {
            return Ok(r);
        }
        let why: Vec<String> = self
            .rejected
            .iter()
            .filter(|r| r.subject == id.as_str())
            .map(|r| r.error.to_string())
            .collect();
        if why.is_empty() {
            Err(AdminError::NoRecord { id: id.clone() })
        } else {
            Err(AdminError::RecordRejected {
                id: id.clone(),
                reasons: why.join("; "),
            })
        }
    }

    /// The current verified role record of `id`.
    pub fn role(&self, id: &DirectoryId) -> Result<&RoleRecord, AdminError> {
        self.directory
            .role(id)
            .ok_or_else(|| AdminError::NoRole { id: id.clone() })
    }
}
