//! Offline-verifiable per-entry proof bundles (<https://c2sp.org/tlog-proof>).
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64 opaque data>]
//! index <decimal>
//! <base64 inclusion proof hash, leaf's sibling first>
//! ...
//!
//! <signed checkpoint note, verbatim>
//! ```
//!
//! [`TlogProof::parse`] checks syntax only (including that the embedded note
//! is a syntactically valid checkpoint); [`TlogProof::verify`] checks the
//! checkpoint under a [`LogPolicy`] and the inclusion of a leaf hash. The
//! `extra` data is not authenticated and is returned as is.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::checkpoint::{Checkpoint, CheckpointError, LogPolicy, SignedCheckpoint};
use super::merkle::{Hash, MAX_PROOF_LEN};
use super::note::parse_decimal;
use super::note::{MAX_NOTE_LEN, Note};

/// The first line of a v1 proof bundle.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Largest `extra` payload accepted, in bytes (a disclosed event record
/// with its salt fits).
pub const MAX_EXTRA_LEN: usize = 40 * 1024;

/// Largest encoded proof bundle accepted, in bytes.
pub const MAX_TLOG_PROOF_LEN: usize = MAX_NOTE_LEN + 16 * 1024;

/// A proof that a leaf is included in a log, with the signed checkpoint it
/// is relative to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    index: u64,
    extra: Option<Vec<u8>>,
    proof: Vec<Hash>,
    checkpoint: String,
}

impl TlogProof {
    /// A bundle for the leaf at `index`, its inclusion `proof` and the signed
    /// checkpoint note it is relative to (which must at least parse).
    pub fn new(
        index: u64,
        proof: Vec<Hash>,
        signed_checkpoint: &str,
    ) -> Result<Self, CheckpointError> {
        if proof.len() > MAX_PROOF_LEN {
            return Err(CheckpointError::MalformedProof("inclusion proof too long"));
        }
        check_checkpoint_syntax(signed_checkpoint)?;
        Ok(TlogProof {
            index,
            extra: None,
            proof,
            checkpoint: signed_checkpoint.to_owned(),
        })
    }

    /// Attach opaque, unauthenticated extra data (non-empty, at most
    /// [`MAX_EXTRA_LEN`] bytes).
    pub fn with_extra(mut self, extra: Vec<u8>) -> Result<Self, CheckpointError> {
        if extra.is_empty() || extra.len() > MAX_EXTRA_LEN {
            return Err(CheckpointError::MalformedProof(
                "extra data must be 1 to 4096 bytes",
            ));
        }
        self.extra = Some(extra);
        Ok(self)
    }

    /// The leaf index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The unauthenticated extra data, if any.
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// The inclusion proof hashes.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The signed checkpoint note, verbatim.
    pub fn signed_checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The text encoding.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(64 + self.proof.len() * 45 + self.checkpoint.len());
        out.push_str(TLOG_PROOF_HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Strictly parse the text encoding (c2sp.org/tlog-proof "Format").
    pub fn parse(bytes: &[u8]) -> Result<Self, CheckpointError> {
        if bytes.len() > MAX_TLOG_PROOF_LEN {
            return Err(CheckpointError::MalformedProof("proof bundle too long"));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| CheckpointError::MalformedProof("not valid UTF-8"))?;
        let mut rest = text;
        let mut next_line = || -> Result<&str, CheckpointError> {
            let (line, tail) = rest
                .split_once('\n')
                .ok_or(CheckpointError::MalformedProof("truncated"))?;
            rest = tail;
            Ok(line)
        };
        if next_line()? != TLOG_PROOF_HEADER {
            return Err(CheckpointError::MalformedProof(
                "missing c2sp.org/tlog-proof@v1 header",
            ));
        }
        let mut line = next_line()?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            if b64.is_empty() || b64.len() > MAX_EXTRA_LEN.div_ceil(3) * 4 {
                return Err(CheckpointError::MalformedProof(
                    "extra data must be 1 to 4096 bytes",
                ));
            }
            let data = STANDARD
                .decode(b64)
                .map_err(|_| CheckpointError::MalformedProof("extra data is not base64"))?;
            if data.len() > MAX_EXTRA_LEN {
                return Err(CheckpointError::MalformedProof(
                    "extra data must be 1 to 4096 bytes",
                ));
            }
            extra = Some(data);
            line = next_line()?;
        }
        let index = line.strip_prefix("index ").and_then(parse_decimal).ok_or(
            CheckpointError::MalformedProof("index must be a decimal without leading zeros"),
        )?;
        let mut proof = Vec::new();
        loop {
            let line = next_line()?;
            if line.is_empty() {
                break;
            }
            if proof.len() >= MAX_PROOF_LEN {
                return Err(CheckpointError::MalformedProof("inclusion proof too long"));
            }
            proof.push(
                Hash::from_base64(line).ok_or(CheckpointError::MalformedProof(
                    "proof hash must be base64 of 32 bytes",
                ))?,
            );
        }
        let checkpoint = rest;
        check_checkpoint_syntax(checkpoint)?;
        Ok(TlogProof {
            index,
            extra,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Verify the bundle: the checkpoint under `policy`, then the inclusion
    /// of `leaf` at [`TlogProof::index`] in it. Returns the verified
    /// checkpoint.
    pub fn verify(
        &self,
        leaf: &Hash,
        policy: &LogPolicy,
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let signed = policy.open(self.checkpoint.as_bytes())?;
        signed
            .checkpoint()
            .verify_inclusion(leaf, self.index, &self.proof)?;
        Ok(signed)
    }
}

fn check_checkpoint_syntax(signed: &str) -> Result<(), CheckpointError> {
    let note = Note::parse(signed.as_bytes())?;
    Checkpoint::from_text(note.text())?;
    Ok(())
}
