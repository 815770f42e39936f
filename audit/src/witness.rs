//! Witness.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::{LogId, Request};
use liaison_protocol::log::note::MAX_NOTE_LEN;
use liaison_protocol::log::{CosignatureSigner, LogPolicy, Note, NoteVerifier};

use liaison_net::{Link, LinkError};
use liaison_protocol::log::explain_checkpoint_error;

use crate::*;

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

pub(crate) fn write_evidence(
    state: &Path,
    log: LogId,
    what: &str,
    held: &str,
    served: &str,
    now: u64,
) -> Result<PathBuf> {
    let dir = state.join("evidence");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!("{}-{now}", log.name());
    write_atomic(
        &dir.join(format!("{stem}.held.note")),
        held.as_bytes(),
        true,
    )?;
    write_atomic(
        &dir.join(format!("{stem}.served.note")),
        served.as_bytes(),
        true,
    )?;
    let text = format!(
        "Liaison witness refusal\nlog: {}\nwhat: {what}\n\n--- checkpoint this witness cosigned before ---\n{held}\n--- checkpoint the relay served ---\n{served}",
        log.name()
    );
    let path = dir.join(format!("{stem}.txt"));
    write_atomic(&path, text.as_bytes(), true)?;
    Ok(path)
}

impl Witness<'_> {
    /// One round over both logs at `now` (seconds since the epoch, the
    /// cosignature timestamp). `Err` for usage, state, network and relay
    /// problems; a refusal (rollback, fork, failed consistency proof, bad
    /// log signature) is a failure in the report, with both checkpoints kept
    /// in `state/evidence/`.
    pub async fn round(&self, now: u64) -> Result<Report> {
        std::fs::create_dir_all(self.state)
            .with_context(|| format!("creating {}", self.state.display()))?;
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
    ) -> Result<()> {
        let name = log.name();
        let key = NoteVerifier::from_vkey(bundle_log_key(self.bundle, log).trim())
            .map_err(|e| anyhow!("the bundle has no usable {name} log key: {e}"))?;
        let log_only = LogPolicy::new(key.clone()).map_err(|e| anyhow!("{e}"))?;
        let with_me = LogPolicy::with_witnesses(key, vec![self.signer.verifier()], 0)
            .map_err(|e| anyhow!("{e}"))?;
        let state_path = witness_state_path(self.state, log);
        let held = match read_bounded(&state_path, MAX_NOTE_LEN as u64, false) {
            Ok(bytes) => {
                let sc = log_only.open(&bytes).map_err(|e| {
                    anyhow!(
                        "witness state {} does not verify under the {name} log key: {e}; \
                         restore it from a backup",
                        state_path.display()
                    )
                })?;
                Some(sc)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
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
        if let Some(h) = &held {
            let old = h.checkpoint();
            let refusal = if new.size() < old.size() {
                Some(format!(
                    "rollback: the relay serves size {} after this witness cosigned size {}",
                    new.size(),
                    old.size()
                ))
            } else if new.size() == old.size() {
                (new.root() != old.root()).then(|| {
                    format!(
                        "inconsistent checkpoints (fork): size {} with root {}, but this witness \
                         cosigned root {}",
                        new.size(),
                        new.root().to_base64(),
                        old.root().to_base64()
                    )
                })
            } else if old.size() == 0 {
                None
            } else {
                match conn.consistency(log, old.size(), new.size()).await {
                    Ok(p) => old.verify_consistency(new, &p).err().map(|e| {
                        format!(
                            "inconsistent checkpoints: the relay's proof that size {} extends the \
                             cosigned size {} does not verify ({e})",
                            new.size(),
                            old.size()
                        )
                    }),
                    Err(LinkError::Refused(e)) => Some(format!(
                        "inconsistent checkpoints: the relay cannot prove that size {} extends \
                         the cosigned size {} ({})",
                        new.size(),
                        old.size(),
                        e.message
                    )),
                    Err(e) => return Err(e.into()),
                }
            };
            if let Some(what) = refusal {
                let ev = write_evidence(self.state, log, &what, h.signed_note(), &note, now)?;
                report.fail(format!(
                    "REFUSED to cosign the {name} log: {what}; both signed checkpoints kept as \
                     evidence in {}",
                    ev.display()
                ));
                return Ok(());
            }
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
        let cosig = self
            .signer
            .cosign(new, now)
            .map_err(|e| anyhow!("cosigning: {e}"))?;
        let mut cosigned = Note::parse(note.as_bytes()).map_err(|e| anyhow!("{e}"))?;
        cosigned.add_signature(cosig).map_err(|e| anyhow!("{e}"))?;
        let cosigned = cosigned.encode().map_err(|e| anyhow!("{e}"))?;
        // Remember what was signed before anyone can see it: the state must
        // never lag behind a cosignature given out.
        write_atomic(&state_path, cosigned.as_bytes(), true)
            .with_context(|| format!("writing {}", state_path.display()))?;
        match conn
            .call_ok(&Request::AddCosignature {
                log,
                note: cosigned,
            })
            .await
        {
            Ok(()) => {}
            Err(e) => {
                return Err(anyhow!(e).context(format!(
                    "the relay did not take the cosignature of the {name} checkpoint of size {}",
                    new.size()
                )));
            }
        }
        report.note(format!(
            "{name}: cosigned size {} (root {}) at {now}",
            new.size(),
            new.root().to_base64()
        ));
        Ok(())
    }
}
