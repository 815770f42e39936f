//! Comparing two signed checkpoints of one log, offline or with a
//! consistency proof from the relay. The decision itself is the protocol's
//! [`compare_checkpoints`]; this module opens the files, asks the relay when
//! a proof is needed, and words the verdict.

use std::path::Path;

use liaison_net::LinkError;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::note::MAX_NOTE_LEN;
use liaison_protocol::log::{
    Checkpoint, CheckpointRelation, Extension, LogPolicy, Note, SignedCheckpoint,
    compare_checkpoints, explain_checkpoint_error, judge_consistency, key_label,
};

use crate::error::AuditError;
use crate::files::read_bounded;
use crate::relay::connect;
use crate::report::Report;
use crate::trust::Trust;
use crate::verify::{read_log_export, verify_log};

/// One checkpoint file to compare.
struct CheckpointFile<'a> {
    path: &'a Path,
    bytes: Vec<u8>,
}

impl<'a> CheckpointFile<'a> {
    fn read(path: &'a Path) -> Result<Self, AuditError> {
        let bytes = read_bounded(path, MAX_NOTE_LEN as u64, true)
            .map_err(AuditError::io("reading", path))?;
        Ok(CheckpointFile { path, bytes })
    }

    /// The origin it claims, before any signature is checked.
    fn origin(&self) -> Result<String, AuditError> {
        let note = Note::parse(&self.bytes).map_err(|error| AuditError::NotANote {
            path: self.path.to_owned(),
            error,
        })?;
        let cp =
            Checkpoint::from_text(note.text()).map_err(|error| AuditError::NotACheckpoint {
                path: self.path.to_owned(),
                error,
            })?;
        Ok(cp.origin().to_owned())
    }

    /// Open it under `policy`, or report why it does not verify.
    fn open(&self, policy: &LogPolicy, report: &mut Report) -> Option<SignedCheckpoint> {
        match policy.open(&self.bytes) {
            Ok(sc) => Some(sc),
            Err(e) => {
                report.fail(format!(
                    "checkpoint {}: {}",
                    self.path.display(),
                    explain_checkpoint_error(&e, &self.bytes, policy)
                ));
                None
            }
        }
    }
}

/// Compare the signed checkpoints in files `a` and `b`. The log key is
/// `log_key` or the bundle's key named after their origin; cosignatures are
/// not required. Same size and different roots is a fork; different sizes
/// need a proof of consistency: offline from `export` (an audit export of
/// the log: its entries give both roots, and any consistency proof it kept
/// is checked), else from the relay of `bundle` (without either, a usage
/// error). `Err` for usage, I/O and network problems; the verdict is in the
/// report.
pub async fn compare_checkpoint_files(
    a: &Path,
    b: &Path,
    log_key: Option<&str>,
    bundle: Option<&Bundle>,
    export: Option<&Path>,
) -> Result<Report, AuditError> {
    let (fa, fb) = (CheckpointFile::read(a)?, CheckpointFile::read(b)?);
    let log_keys: Vec<String> = log_key.map(str::to_owned).into_iter().collect();
    let trust = Trust::from_args(bundle, &log_keys, &[], Some(0), None)?;
    let (oa, ob) = (fa.origin()?, fb.origin()?);
    if oa != ob {
        return Err(AuditError::DifferentLogs {
            a: a.to_owned(),
            a_origin: oa,
            b: b.to_owned(),
            b_origin: ob,
        });
    }
    let (log, policy) = trust
        .policy_for_origin(&oa)
        .ok_or(AuditError::UnpinnedOrigin { origin: oa })?;
    let mut report = Report::default();
    let (sa, sb) = (fa.open(policy, &mut report), fb.open(policy, &mut report));
    let (Some(sa), Some(sb)) = (sa, sb) else {
        return Ok(report);
    };
    let (ca, cb) = (sa.checkpoint(), sb.checkpoint());
    let evidence = || {
        format!(
            "evidence: {} (size {}, root {}) and {} (size {}, root {}), both signed by {}",
            a.display(),
            ca.size(),
            ca.root().to_base64(),
            b.display(),
            cb.size(),
            cb.root().to_base64(),
            key_label(policy.log())
        )
    };
    match compare_checkpoints(ca, cb) {
        CheckpointRelation::DifferentOrigins => {
            // Both opened under one log key, whose name is the origin.
            return Err(AuditError::UnpinnedOrigin {
                origin: cb.origin().to_owned(),
            });
        }
        CheckpointRelation::Identical => report.note("the two checkpoints are identical"),
        CheckpointRelation::Fork { size } => report.fail(format!(
            "FORK: inconsistent checkpoints of the {} log: two different roots for size {size}; {}",
            log.name(),
            evidence()
        )),
        CheckpointRelation::Newer(e) | CheckpointRelation::Older(e) if !e.needs_proof() => {
            report.note("one checkpoint is the empty tree: consistent");
        }
        CheckpointRelation::Newer(e) | CheckpointRelation::Older(e) if export.is_some() => {
            let dir = export.unwrap_or(Path::new(""));
            let mut ex = read_log_export(&dir.join(log.name()), log)?;
            // Verify the two given checkpoints (and nothing else) against
            // the export's entries and kept proofs.
            let (small, large) = if ca.size() < cb.size() {
                (&fa, &fb)
            } else {
                (&fb, &fa)
            };
            ex.checkpoints = vec![
                (format!("{}.note", e.old), small.bytes.clone()),
                (format!("{}.note", e.new), large.bytes.clone()),
            ];
            let mut checked = Report::default();
            let summary = verify_log(log, &ex, policy, trust.root(), &mut checked);
            if checked.is_ok() && summary.verified_size == e.new && summary.roots_matched == 2 {
                report.note(format!(
                    "consistent: the {} log's entries in {} give both roots (sizes {} and {}), so                      size {} extends size {}",
                    log.name(),
                    dir.display(),
                    e.old,
                    e.new,
                    e.new,
                    e.old
                ));
            } else {
                report.absorb(checked);
                report.fail(format!(
                    "the {} log's entries in {} do not show that size {} extends size {} (see                      above); {}",
                    log.name(),
                    dir.display(),
                    e.new,
                    e.old,
                    evidence()
                ));
            }
        }
        CheckpointRelation::Newer(e) | CheckpointRelation::Older(e) => {
            let Some(bundle) = bundle else {
                return Err(AuditError::NeedsProof {
                    old: e.old,
                    new: e.new,
                });
            };
            match prove_with_relay(bundle, log, ca, cb, e).await? {
                Ok(()) => report.note(format!(
                    "consistent: the relay proved that size {} extends size {} (RFC 9162 \
                     consistency proof verified)",
                    e.new, e.old
                )),
                Err(why) => report.fail(format!(
                    "INCONSISTENT checkpoints of the {} log: {why}; {}",
                    log.name(),
                    evidence()
                )),
            }
        }
        _ => {}
    }
    Ok(report)
}

/// Ask the relay of `bundle` for the consistency proof `e` between `a` and
/// `b` (RFC 9162 §2.1.4) and judge it. `Ok(Err(why))`: proven or unprovable
/// inconsistency.
async fn prove_with_relay(
    bundle: &Bundle,
    log: LogId,
    a: &Checkpoint,
    b: &Checkpoint,
    e: Extension,
) -> Result<Result<(), String>, AuditError> {
    let conn = connect(bundle).await?;
    let proof = conn.consistency(log, e.old, e.new).await;
    conn.close().await;
    match proof {
        Ok(p) => Ok(judge_consistency(a, b, &p).map_err(|why| {
            format!(
                "the relay's consistency proof from size {} to {} does not verify ({why})",
                e.old, e.new
            )
        })),
        Err(LinkError::Refused(refusal)) => Ok(Err(format!(
            "the relay cannot prove that size {} extends size {} ({})",
            e.new, e.old, refusal.message
        ))),
        Err(other) => Err(other.into()),
    }
}
