//! C2SP transparency log checkpoints (<https://c2sp.org/tlog-checkpoint>) and
//! the trust policy used to open them.
//!
//! A checkpoint is a signed note whose text is
//!
//! ```text
//! <origin>
//! <tree size, decimal, no leading zeros>
//! <base64 root hash>
//! [extension lines]
//! ```
//!
//! Parsing is strict: the text is rebuilt byte for byte by
//! [`Checkpoint::to_text`], so a parsed checkpoint has exactly one encoding.
//! Stricter than the spec: the origin must be a valid key name (Liaison
//! requires the log's key name to equal the origin, and key names cannot
//! contain spaces or `+`), and a size-0 checkpoint must carry the empty-tree
//! root.

use super::cosigned::Cosignature;
use super::merkle::{self, Hash, ProofError};
use super::note::parse_decimal;
use super::note::{self, Note, NoteError, NoteSigner, NoteVerifier, SignatureType, VerifiedNote};

/// Why a checkpoint, a cosignature or a proof bundle was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note itself was rejected.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A Merkle proof did not verify.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The checkpoint text does not follow c2sp.org/tlog-checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The proof bundle does not follow c2sp.org/tlog-proof.
    #[error("malformed proof bundle: {0}")]
    MalformedProof(&'static str),
    /// The log key's name differs from the checkpoint origin.
    #[error("checkpoint origin does not match the log key name")]
    OriginMismatch,
    /// The note verified, but not with the log's own key (for example only
    /// witness cosignatures verified).
    #[error("checkpoint is not signed by the log key")]
    MissingLogSignature,
    /// Fewer trusted witnesses cosigned than the policy requires.
    #[error("{got} trusted cosignatures, policy requires {need}")]
    InsufficientCosignatures {
        /// Distinct trusted witnesses whose cosignature verified.
        got: usize,
        /// Required by the policy.
        need: usize,
    },
    /// A cosignature timestamp above `2^63 - 1` was requested.
    #[error("cosignature timestamp {0} exceeds 2^63 - 1")]
    TimestampOutOfRange(u64),
    /// The trust policy is unusable (API misuse, not peer misbehaviour).
    #[error("invalid log policy: {0}")]
    InvalidPolicy(&'static str),
}

/// A transparency log tree head: origin, size and root hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        Checkpoint::with_extensions(origin, size, root, Vec::new())
    }

    /// A checkpoint with extension lines (NOT RECOMMENDED by the spec, as
    /// monitors cannot audit them). Each line must be non-empty, without
    /// newlines or other control characters.
    pub fn with_extensions(
        origin: &str,
        size: u64,
        root: Hash,
        extensions: Vec<String>,
    ) -> Result<Self, CheckpointError> {
        if !note::is_valid_key_name(origin) || has_control(origin) {
            return Err(CheckpointError::Malformed(
                "origin must be a valid key name",
            ));
        }
        if size == 0 && root != merkle::empty_root() {
            return Err(CheckpointError::Malformed(
                "empty tree with a non-empty root",
            ));
        }
        if extensions.iter().any(|e| e.is_empty() || has_control(e)) {
            return Err(CheckpointError::Malformed(
                "extension lines must be non-empty text",
            ));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The log identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root hash at [`Checkpoint::size`].
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The opaque extension lines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: origin, size, root and extension lines, each ending in
    /// a newline.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Strictly parse a checkpoint note text (c2sp.org/tlog-checkpoint
    /// "Note text"). The caller must have verified the note's signature.
    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > note::MAX_NOTE_LEN {
            return Err(CheckpointError::Malformed("checkpoint too long"));
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("text must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing tree size"))?;
        let root = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing root hash"))?;
        if origin.is_empty() {
            return Err(CheckpointError::Malformed("empty origin"));
        }
        let size = parse_decimal(size).ok_or(CheckpointError::Malformed(
            "tree size must be a decimal without leading zeros",
        ))?;
        let root = Hash::from_base64(root).ok_or(CheckpointError::Malformed(
            "root must be base64 of 32 bytes",
        ))?;
        let extensions = lines.map(str::to_owned).collect();
        Checkpoint::with_extensions(origin, size, root, extensions)
    }

    /// Sign as the log. The signer's key name must equal the origin.
    pub fn sign(&self, log: &NoteSigner) -> Result<Note, CheckpointError> {
        if log.name() != self.origin {
            return Err(CheckpointError::OriginMismatch);
        }
        let mut n = Note::new(&self.to_text())?;
        n.sign(log)?;
        Ok(n)
    }

    /// Verify that `leaf` is at `index` in this tree (RFC 9162 §2.1.3.2).
    pub fn verify_inclusion(
        &self,
        leaf: &Hash,
        index: u64,
        proof: &[Hash],
    ) -> Result<(), CheckpointError> {
        Ok(merkle::verify_inclusion(
            leaf, index, self.size, proof, &self.root,
        )?)
    }

    /// Verify that `newer` extends this checkpoint of the same log
    /// (RFC 9162 §2.1.4.2). A smaller `newer` (a rollback) is rejected, and
    /// so is a different root at the same size (a fork).
    pub fn verify_consistency(
        &self,
        newer: &Checkpoint,
        proof: &[Hash],
    ) -> Result<(), CheckpointError> {
        if self.origin != newer.origin {
            return Err(CheckpointError::OriginMismatch);
        }
        if self.size == 0 {
            // Every tree extends the empty tree; there is nothing to prove.
            return if proof.is_empty() {
                Ok(())
            } else {
                Err(ProofError::WrongProofLength {
                    got: proof.len(),
                    want: 0,
                }
                .into())
            };
        }
        Ok(merkle::verify_consistency(
            self.size,
            newer.size,
            proof,
            &self.root,
            &newer.root,
        )?)
    }
}

fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20)
}

/// Which keys a client trusts for one log: the log's own key (whose name is
/// the origin), witness cosigning keys, and how many distinct witnesses must
/// have cosigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPolicy {
    log: NoteVerifier,
    witnesses: Vec<NoteVerifier>,
    min_cosignatures: usize,
}

impl LogPolicy {
    /// Trust `log` (an Ed25519 key named after the origin) and no witnesses.
    pub fn new(log: NoteVerifier) -> Result<Self, CheckpointError> {
        LogPolicy::with_witnesses(log, Vec::new(), 0)
    }

    /// Trust `log` and require `min_cosignatures` of `witnesses` (type
    /// `0x04` keys).
    pub fn with_witnesses(
        log: NoteVerifier,
        witnesses: Vec<NoteVerifier>,
        min_cosignatures: usize,
    ) -> Result<Self, CheckpointError> {
        if log.signature_type() != SignatureType::Ed25519 {
            return Err(CheckpointError::InvalidPolicy(
                "log key must be an ed25519 key",
            ));
        }
        if witnesses
            .iter()
            .any(|w| w.signature_type() != SignatureType::CosignatureV1)
        {
            return Err(CheckpointError::InvalidPolicy(
                "witness keys must be cosignature/v1 keys",
            ));
        }
        for (i, w) in witnesses.iter().enumerate() {
            let clash = w.matches(log.name(), log.key_id())
                || witnesses
                    .iter()
                    .skip(i + 1)
                    .any(|x| x.matches(w.name(), w.key_id()));
            if clash {
                return Err(CheckpointError::InvalidPolicy(
                    "duplicate key name and key id",
                ));
            }
        }
        if min_cosignatures > witnesses.len() {
            return Err(CheckpointError::InvalidPolicy(
                "more cosignatures required than witnesses",
            ));
        }
        Ok(LogPolicy {
            log,
            witnesses,
            min_cosignatures,
        })
    }

    /// The log key.
    pub fn log(&self) -> &NoteVerifier {
        &self.log
    }

    /// The witness keys.
    pub fn witnesses(&self) -> &[NoteVerifier] {
        &self.witnesses
    }

    /// Distinct witness cosignatures required.
    pub fn min_cosignatures(&self) -> usize {
        self.min_cosignatures
    }

    /// Verify a signed checkpoint note under this policy: the log key must
    /// have signed it, its origin must be the log key's name, every signature
    /// by a known key must verify, and enough witnesses must have cosigned.
    pub fn open(&self, msg: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
        let mut verifiers = Vec::with_capacity(1 + self.witnesses.len());
        verifiers.push(self.log.clone());
        verifiers.extend(self.witnesses.iter().cloned());
        let verified = note::open_note(msg, &verifiers)?;
        if verified.signature_by(&self.log).is_none() {
            return Err(CheckpointError::MissingLogSignature);
        }
        let checkpoint = Checkpoint::from_text(verified.text())?;
        if checkpoint.origin != self.log.name() {
            return Err(CheckpointError::OriginMismatch);
        }
        let cosignatures: Vec<Cosignature> = self
            .witnesses
            .iter()
            .filter_map(|w| verified.signature_by(w))
            .filter_map(|s| Cosignature::from_verified(s.name(), s.key_id(), s.signature()))
            .collect();
        if cosignatures.len() < self.min_cosignatures {
            return Err(CheckpointError::InsufficientCosignatures {
                got: cosignatures.len(),
                need: self.min_cosignatures,
            });
        }
        // Keep the exact bytes: a verified note is the evidence an auditor
        // presents. open_note succeeded, so they are UTF-8.
        let signed_note = String::from_utf8_lossy(msg).into_owned();
        Ok(SignedCheckpoint {
            checkpoint,
            cosignatures,
            note: verified,
            signed_note,
        })
    }
}

/// A checkpoint whose note verified under a [`LogPolicy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    cosignatures: Vec<Cosignature>,
    note: VerifiedNote,
    signed_note: String,
}

impl SignedCheckpoint {
    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Verified cosignatures by the policy's witnesses, one per witness.
    pub fn cosignatures(&self) -> &[Cosignature] {
        &self.cosignatures
    }

    /// The verified note (signatures by known and unknown keys).
    pub fn note(&self) -> &VerifiedNote {
        &self.note
    }

    /// The signed note exactly as received, for use as evidence.
    pub fn signed_note(&self) -> &str {
        &self.signed_note
    }
}

/// Verify a signed checkpoint under `policy`; see [`LogPolicy::open`].
pub fn open_checkpoint(
    msg: &[u8],
    policy: &LogPolicy,
) -> Result<SignedCheckpoint, CheckpointError> {
    policy.open(msg)
}

/// `name+hex8`, how reports name a key.
pub fn key_label(v: &NoteVerifier) -> String {
    format!("{}+{:08x}", v.name(), v.key_id())
}

/// Why a checkpoint did not open, in words that say what to look at.
pub fn explain_checkpoint_error(e: &CheckpointError, note: &[u8], policy: &LogPolicy) -> String {
    let pinned = key_label(policy.log());
    let signers = || {
        Note::parse(note)
            .map(|n| {
                n.signatures()
                    .iter()
                    .map(|s| format!("{}+{:08x}", s.name(), s.key_id()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|_| "unparseable".into())
    };
    match e {
        CheckpointError::Note(NoteError::Unverified) => format!(
            "signature by unknown key ({}): not signed by the pinned log key {pinned}",
            signers()
        ),
        CheckpointError::MissingLogSignature => format!(
            "signed only by witnesses ({}), not by the pinned log key {pinned}",
            signers()
        ),
        CheckpointError::Note(NoteError::BadSignature) => format!(
            "a signature by a pinned key ({pinned} or a pinned witness) does not verify: the \
             note was altered or forged"
        ),
        other => format!("does not verify under the pinned log key {pinned}: {other}"),
    }
}
