//! The witness a country authority runs: it cosigns a log's checkpoint
//! only once it is proven to extend the last one it cosigned, and keeps the
//! evidence when it is not.

use std::path::{Path, PathBuf};

use liaison_net::{Link, LinkError};
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::{LogId, Request};
use liaison_protocol::log::note::MAX_NOTE_LEN;
use liaison_protocol::log::{
    CheckpointRelation, CosignatureSigner, LogPolicy, Note, SignedCheckpoint, compare_checkpoints,
    explain_checkpoint_error, judge_consistency,
};

use crate::error::AuditError;
use crate::files::{read_bounded, write_atomic};
use crate::relay::{connect, fetch_checkpoint};
use crate::report::Report;
use crate::trust::bundle_log_key;

/// A witness's configuration.
#[derive(Debug)]
pub struct Witness<'a> {
    /// The bundle: relay address, pin, log keys.
    pub bundle: &'a Bundle,
    /// The witness's cosigning key.
    pub signer: &'a CosignatureSigner,
    /// The state directory: `<log>.note` holds the last checkpoint this
    /// witness cosigned, `evidence/` what it refused.
    pub state: &'a Path,
}

/// The state file of `log` in a witness state directory.
pub fn witness_state_path(state: &Path, log: LogId) -> PathBuf {
    state.join(format!("{}.note", log.name()))
}

/// Keep both checkpoints of a refusal in `state/evidence/`, with a text
/// saying what was wrong; returns the text file's path.
fn write_evidence(
    state: &Path,
    log: LogId,
    what: &str,
    held: &str,
    served: &str,
    now: u64,
) -> Result<PathBuf, AuditError> {
    let dir = state.join("evidence");
    std::fs::create_dir_all(&dir).map_err(AuditError::io("creating", &dir))?;
    let stem = format!("{}-{now}", log.name());
    let write = |path: PathBuf, text: &str| {
        write_atomic(&path, text.as_bytes(), true).map_err(AuditError::io("writing", &path))
    };
    write(dir.join(format!("{stem}.held.note")), held)?;
    write(dir.join(format!("{stem}.served.note")), served)?;
    let text = format!(
        "Liaison witness refusal\nlog: {}\nwhat: {what}\n\n--- checkpoint this witness cosigned before ---\n{held}\n--- checkpoint the relay served ---\n{served}",
        log.name()
    );
    let path = dir.join(format!("{stem}.txt"));
    write(path.clone(), &text)?;
    Ok(path)
}

impl Witness<'_> {
    /// Whether the bundle lists this witness's key: clients count only the
    /// cosignatures of witnesses their bundle lists.
    pub fn is_listed(&self) -> bool {
        let mine = self.signer.verifier().to_vkey();
        self.bundle
            .witness_keys
            .split(',')
            .any(|w| w.trim() == mine)
    }

    /// One round over both logs at `now` (seconds since the epoch, the
    /// cosignature timestamp). `Err` for usage, state, network and relay
    /// problems; a refusal (rollback, fork, failed consistency proof, bad
    /// log signature) is a failure in the report, with both checkpoints kept
    /// in `state/evidence/`.
    pub async fn round(&self, now: u64) -> Result<Report, AuditError> {
        std::fs::create_dir_all(self.state).map_err(AuditError::io("creating", self.state))?;
        let conn = connect(self.bundle).await?;
        let mut report = Report::default();
        for log in LogId::ALL {
            self.witness_log(&conn, log, now, &mut report).await?;
        }
        conn.close().await;
        Ok(report)
    }

    async fn witness_log(
        &self,
        conn: &Link,
        log: LogId,
        now: u64,
        report: &mut Report,
    ) -> Result<(), AuditError> {
        let name = log.name();
        let key = bundle_log_key(self.bundle, log)?;
        let log_only = LogPolicy::new(key.clone())?;
        let with_me = LogPolicy::with_witnesses(key, vec![self.signer.verifier()], 0)?;
        let state_path = witness_state_path(self.state, log);
        let held = match read_bounded(&state_path, MAX_NOTE_LEN as u64, false) {
            Ok(bytes) => Some(
                log_only
                    .open(&bytes)
                    .map_err(|error| AuditError::WitnessState {
                        path: state_path.clone(),
                        log,
                        error,
                    })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AuditError::io("reading", &state_path)(e)),
        };
        let Some(note) = fetch_checkpoint(conn, log, 0).await? else {
            report.note(format!("{name}: the relay has no checkpoint yet"));
            return Ok(());
        };
        let served = match with_me.open(note.as_bytes()) {
            Ok(sc) => sc,
            Err(e) => {
                let what = format!(
                    "the served checkpoint {}",
                    explain_checkpoint_error(&e, note.as_bytes(), &with_me)
                );
                let held_note = held.as_ref().map(|h| h.signed_note()).unwrap_or("");
                let ev = write_evidence(self.state, log, &what, held_note, &note, now)?;
                report.fail(format!(
                    "REFUSED to cosign the {name} log: {what}; evidence in {}",
                    ev.display()
                ));
                return Ok(());
            }
        };
        let new = served.checkpoint();
        if let Some(h) = &held
            && let Some(what) = refusal(conn, log, h, &served).await?
        {
            let ev = write_evidence(self.state, log, &what, h.signed_note(), &note, now)?;
            report.fail(format!(
                "REFUSED to cosign the {name} log: {what}; both signed checkpoints kept as \
                 evidence in {}",
                ev.display()
            ));
            return Ok(());
        }
        if !served.cosignatures().is_empty()
            && held
                .as_ref()
                .is_some_and(|h| h.checkpoint() == served.checkpoint())
        {
            report.note(format!(
                "{name}: size {} already cosigned by this witness",
                new.size()
            ));
            return Ok(());
        }
        let cosig = self.signer.cosign(new, now).map_err(AuditError::Cosign)?;
        let mut cosigned = Note::parse(note.as_bytes())?;
        cosigned.add_signature(cosig)?;
        let cosigned = cosigned.encode()?;
        // Remember what was signed before anyone can see it: the state must
        // never lag behind a cosignature given out.
        write_atomic(&state_path, cosigned.as_bytes(), true)
            .map_err(AuditError::io("writing", &state_path))?;
        conn.call_ok(&Request::AddCosignature {
            log,
            note: cosigned,
        })
        .await
        .map_err(|source| AuditError::CosignatureRefused {
            log,
            size: new.size(),
            source,
        })?;
        report.note(format!(
            "{name}: cosigned size {} (root {}) at {}",
            new.size(),
            new.root().to_base64(),
            liaison_protocol::Timestamp(now.saturating_mul(1000)).to_rfc3339()
        ));
        Ok(())
    }
}

/// Why the witness must not cosign `served` after cosigning `held`, if it
/// must not: a rollback, a fork, or a consistency proof the relay cannot
/// give or that does not verify (RFC 9162 §2.1.4.2).
async fn refusal(
    conn: &Link,
    log: LogId,
    held: &SignedCheckpoint,
    served: &SignedCheckpoint,
) -> Result<Option<String>, AuditError> {
    let (old, new) = (held.checkpoint(), served.checkpoint());
    Ok(match compare_checkpoints(old, new) {
        CheckpointRelation::Identical => None,
        CheckpointRelation::Older(e) => Some(format!(
            "rollback: the relay serves size {} after this witness cosigned size {}",
            e.old, e.new
        )),
        CheckpointRelation::Fork { size } => Some(format!(
            "inconsistent checkpoints (fork): size {size} with root {}, but this witness \
             cosigned root {}",
            new.root().to_base64(),
            old.root().to_base64()
        )),
        CheckpointRelation::Newer(e) if !e.needs_proof() => None,
        CheckpointRelation::Newer(e) => match conn.consistency(log, e.old, e.new).await {
            Ok(p) => judge_consistency(old, new, &p).err().map(|why| {
                format!(
                    "inconsistent checkpoints: the relay's proof that size {} extends the \
                     cosigned size {} does not verify ({why})",
                    e.new, e.old
                )
            }),
            Err(LinkError::Refused(w)) => Some(format!(
                "inconsistent checkpoints: the relay cannot prove that size {} extends the \
                 cosigned size {} ({})",
                e.new, e.old, w.message
            )),
            Err(other) => return Err(other.into()),
        },
        // Different origins: not possible for two checkpoints opened under
        // one log key, whose name is the origin; refuse all the same.
        _ => Some(format!(
            "the served checkpoint names origin {}, not {}",
            new.origin(),
            old.origin()
        )),
    })
}
