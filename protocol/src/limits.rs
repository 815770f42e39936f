//! Limits that several formats share.

/// Maximum number of recipients (focal points) of one message, and of the
/// parties one consent may name.
pub const MAX_RECIPIENTS: usize = 64;
