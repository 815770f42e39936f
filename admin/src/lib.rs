//! Authority and network-root operations behind `liaison-admin`.
//!
//! Two kinds of operation live here:
//! - the **root ceremony**, done on an air-gapped machine and never touching
//!   the network: making the root key, certifying, renewing and revoking
//!   country authority keys ([`certify`], [`renew`], [`revoke_authority`]),
//!   and installing a certificate in an authority's key file ([`install`]);
//! - the **directory lifecycle** of an authority, online: enrolling,
//!   updating, revoking focal points, adding and removing their devices,
//!   and publishing role records. The record construction is pure
//!   ([`updated_record`], [`revoked_record`], [`record_without_device`],
//!   [`record_with_device`], [`role_record`]); the `async` functions fetch
//!   the directory as the authority sees it and publish the result.
//!
//! Every signing function refuses an id of another country than the
//! authority's ([`check_jurisdiction`]) before doing anything else: the relay
//! and every client would refuse the result anyway, and saying so early names
//! the rule.
//!
//! Every failure is an [`AdminError`]; what to do about it is its
//! [`hint`](AdminError::hint) (the tool prints it after the message). What
//! the tool shows is built here too ([`views`]), as JSON and as text.
//!
//! Modules, each depending only on those above it:
//!
//! ```text
//! error                    AdminError, RelayFault, hints
//! validity, files          validity periods and the clock; key and bundle files
//! ceremony, records,       the root's offline ceremony; records an authority
//! directory                signs; the directory as the authority sees it
//! views                    what is shown, as JSON and text
//! online                   fetching the directory and publishing to the relay
//! ```
//!
//! Non-features: no state between calls (the key files and the relay's
//! directory are the state), and no network in the ceremony functions.

mod ceremony;
mod directory;
mod error;
mod files;
mod online;
mod records;
pub mod sealed;
#[cfg(test)]
mod tests;
mod validity;
pub mod views;

pub use ceremony::{
    BundleParams, CertificateFile, armor_certificate, certify, check_authority, install, keygen,
    make_bundle, parse_authority_request, parse_certificate_file, renew, revoke_authority,
    verify_certificate_signature,
};
pub use directory::AuthorityView;
pub use error::{AdminError, RelayFault, hint_of};
pub use files::{
    AskPassphrase, KeyText, Protection, canonical_key_text, check_absent, load_authority,
    load_bundle, load_enrolment_request, load_root, new_secret_key, parse_root_key, read_key_text,
    read_text, replace_secret_file, request_path, root_key_text, seal_key_text, write_new_file,
};
pub use online::{
    add_device, enrol, fetch_directory, publish_authority, publish_record, publish_role,
    publish_signed_record, revoke, revoke_device, set_role, update,
};
pub use records::{
    RecordChanges, RoleParams, check_jurisdiction, check_reenrolment, find_device,
    parse_device_approval, record_from_request, record_with_device, record_without_device,
    revoked_record, role_record, updated_record,
};
pub use validity::{
    DEFAULT_AUTHORITY_VALIDITY_DAYS, DEFAULT_VALIDITY_DAYS, MAX_DEVICE_REQUEST_AGE_DAYS,
    current_time,
};
pub use views::Signing;
