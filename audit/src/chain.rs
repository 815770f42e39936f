//! The directory log's chain of trust, checked entry by entry.

use std::collections::BTreeMap;

use liaison_protocol::directory::{AuthorityCertificate, verify_record, verify_role};
use liaison_protocol::log::event::DirectoryEntry;
use liaison_protocol::{PublicKey, VerifyError};

use crate::report::Report;

/// Checks the directory chain entry by entry: authority certificates signed
/// by the pinned root (when pinned), records signed by an authority that an
/// earlier entry certified and did not revoke, for its own country, with
/// versions that only increase.
#[derive(Debug)]
pub(crate) struct DirectoryChain<'a> {
    root: Option<&'a PublicKey>,
    authorities: BTreeMap<PublicKey, (AuthorityCertificate, u64)>,
    revoked: BTreeMap<PublicKey, u64>,
    versions: BTreeMap<String, (u64, u64)>,
}

impl<'a> DirectoryChain<'a> {
    pub(crate) fn new(root: Option<&'a PublicKey>) -> Self {
        DirectoryChain {
            root,
            authorities: BTreeMap::new(),
            revoked: BTreeMap::new(),
            versions: BTreeMap::new(),
        }
    }

    /// Check entry `index`, the next one of the chain.
    pub(crate) fn check(&mut self, index: u64, entry: &DirectoryEntry, report: &mut Report) {
        match entry {
            DirectoryEntry::Authority(signed) => {
                let subject = signed
                    .decode_unverified()
                    .map(|c| c.country.to_string())
                    .unwrap_or_else(|_| "?".into());
                let cert = match self.root {
                    Some(root) => signed.verify_by(root),
                    None => signed.verify(),
                };
                let cert = match cert {
                    Ok(c) => c,
                    Err(e) => {
                        report.fail(format!(
                            "directory entry {index}: authority certificate for {subject} does not \
                             verify{}: {e}",
                            if self.root.is_some() {
                                " against the pinned network root"
                            } else {
                                ""
                            }
                        ));
                        return;
                    }
                };
                if let Some(at) = self.revoked.get(&cert.key) {
                    report.fail(format!(
                        "directory entry {index}: certificate for the {subject} authority key \
                         {} after its revocation at entry {at}",
                        cert.key.fingerprint()
                    ));
                    return;
                }
                if let Some((prev, at)) = self.authorities.get(&cert.key)
                    && !cert.revoked
                    && cert.serial <= prev.serial
                {
                    report.fail(format!(
                        "directory entry {index}: {subject} authority certificate serial {} does \
                         not supersede serial {} of entry {at}",
                        cert.serial, prev.serial
                    ));
                }
                if cert.revoked {
                    self.revoked.insert(cert.key, index);
                }
                self.authorities.insert(cert.key, (cert, index));
            }
            DirectoryEntry::Record(signed) => {
                let subject = signed
                    .decode_unverified()
                    .map(|r| r.id.to_string())
                    .unwrap_or_else(|_| "?".into());
                let verified = self
                    .authority_of(index, "record", &subject, signed.signer(), report)
                    .map(|a| verify_record(a, signed).map(|r| (r.id.to_string(), r.version)));
                self.check_version(index, "record", &subject, verified, report);
            }
            DirectoryEntry::Role(signed) => {
                let subject = signed
                    .decode_unverified()
                    .map(|r| r.id.to_string())
                    .unwrap_or_else(|_| "?".into());
                let verified = self
                    .authority_of(index, "role", &subject, signed.signer(), report)
                    .map(|a| verify_role(a, signed).map(|r| (format!("role {}", r.id), r.version)));
                self.check_version(index, "role", &subject, verified, report);
            }
        }
    }

    /// The certificate of the authority that signed entry `index`, if an
    /// earlier entry certified it and did not revoke it.
    fn authority_of(
        &self,
        index: u64,
        kind: &str,
        subject: &str,
        signer: &PublicKey,
        report: &mut Report,
    ) -> Option<&AuthorityCertificate> {
        if let Some(at) = self.revoked.get(signer) {
            report.fail(format!(
                "directory entry {index}: {kind} {subject} is signed by an authority key revoked \
                 at entry {at}"
            ));
            return None;
        }
        let found = self.authorities.get(signer).map(|(a, _)| a);
        if found.is_none() {
            report.fail(format!(
                "directory entry {index}: {kind} {subject} is signed by key {}, which no earlier \
                 entry certifies as an authority",
                signer.fingerprint()
            ));
        }
        found
    }

    fn check_version(
        &mut self,
        index: u64,
        kind: &str,
        subject: &str,
        verified: Option<Result<(String, u64), VerifyError>>,
        report: &mut Report,
    ) {
        match verified {
            None => {}
            Some(Err(e)) => report.fail(format!(
                "directory entry {index}: {kind} {subject} does not verify: {e}"
            )),
            Some(Ok((key, version))) => {
                if let Some((v, at)) = self.versions.get(&key)
                    && version <= *v
                {
                    report.fail(format!(
                        "directory entry {index}: {kind} {subject} version {version} does not \
                         supersede version {v} of entry {at}"
                    ));
                }
                self.versions.insert(key, (version, index));
            }
        }
    }
}
