//! Attachments: files sealed on this device (`liaison_protocol::attachment`),
//! uploaded to the relay's blob store chunk by chunk, named with their key
//! and SHA-256 in the signed payload, and saved by a recipient only after
//! the handling is acknowledged and every chunk and the whole file check
//! out against what the sender signed.
//!
//! An upload cut short by a lost link reconnects and resumes from the last
//! chunk the relay confirmed (sealing is deterministic under the file's
//! key, so the chunks sent again are the same bytes). The file's key and
//! blob id are kept in the home until the message naming it is kept, so a
//! send run again after the program itself was stopped resumes the same
//! upload, provided the file still has the size and modification time it
//! had (otherwise it starts afresh under a new key: a key never seals two
//! contents).
//!
//! A saved file is written under a temporary name in the target directory
//! (`.NAME.BLOB.partial`) and takes its final name only once every chunk
//! authenticated and the whole file matched the signed SHA-256, so a
//! half-written or refused file never appears under its final name. A save
//! cut short by a lost link or a stopped program keeps that partial file
//! and, beside it (`.NAME.BLOB.tags`), the STREAM tag that authenticated
//! each chunk. The next save keeps a whole chunk only if sealing it again
//! under the file's key gives its kept tag (so a chunk altered on disk is
//! fetched again, from that chunk on), never the final chunk, and the kept
//! chunks still count towards the whole file's hash.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use liaison_net::LinkError;
use liaison_protocol::attachment::{CHUNK_SIZE, Opener, Sealer, TAG_SIZE, chunk_count};
use liaison_protocol::frames::ErrorCode;
use liaison_protocol::handling::Handling;
use liaison_protocol::message::{AttachmentRef, MAX_BODY, SignedPayload};
use liaison_protocol::{ConversationId, DirectoryId, MessageId, Wire};

use crate::client::{Client, Direction, Outgoing, random};
use crate::error::{ClientError, HandlingError, NotFound};

type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Sealed chunks asked for in one fetch (the relay sends fewer if its frame
/// limit comes first).
const FETCH_BATCH: u32 = 3;

/// Times a transfer reconnects after a lost link before giving up.
const RECONNECTS: u32 = 3;

/// Sealed chunks of an upload sent before the relay confirmed the ones
/// before them, each on its own stream: the relay commits those that
/// arrive together in one transaction. A relay that takes only the next
/// chunk (an earlier release) refuses the others; the upload then goes on
/// one chunk at a time from what it confirmed.
const UPLOAD_WINDOW: usize = 8;

/// Progress of one file: its name, bytes done, bytes in all.
pub type Progress<'a> = &'a mut dyn FnMut(&str, u64, u64);

pub use crate::client::ProgressHook;

fn file_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ClientError {
    let path = path.display().to_string();
    move |source| ClientError::AttachmentFile { what, path, source }
}

/// The media type shown for a file, from its extension.
pub fn media_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "ogg" | "oga" => "audio/ogg",
        "mp4" => "video/mp4",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

/// The longest file name (in bytes) a saved attachment gets: room under
/// the 255 bytes most file systems allow, for a prefix that tells two
/// files of the same name apart.
const MAX_SAVED_NAME: usize = 200;

/// A name from a sender that is safe to create in a directory: its last
/// path component, without control characters, not hidden, not empty, at
/// most [`MAX_SAVED_NAME`] bytes (a longer one keeps its extension).
pub fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        return "attachment".to_owned();
    }
    if cleaned.len() <= MAX_SAVED_NAME {
        return cleaned;
    }
    let ext = cleaned
        .rfind('.')
        .and_then(|i| cleaned.get(i..))
        .filter(|e| e.len() <= 16)
        .unwrap_or("");
    let mut cut = MAX_SAVED_NAME - ext.len();
    while !cleaned.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", cleaned.get(..cut).unwrap_or_default())
}

/// The home's singleton holding the attachment grants owed to the relay:
/// (blob, message) pairs, asked for once the relay accepted the message.
const OWED_GRANTS: &str = "owed-blob-grants";

/// The home's singleton holding the uploads begun for a message not yet
/// kept ([`PendingUpload`]), so that a send run again resumes them.
const PENDING_UPLOADS: &str = "pending-blob-uploads";

/// An upload begun: the file as it was, and the key and blob id it is
/// sealed and stored under.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct PendingUpload {
    /// The file's absolute path.
    path: String,
    /// Its size in bytes.
    size: u64,
    /// Its modification time, in nanoseconds since the epoch (0 if the
    /// system does not tell).
    modified_ns: u128,
    key: [u8; 32],
    blob: [u8; 32],
}

/// A file as it is now: (absolute path, size, modification time).
fn file_state(path: &Path) -> Result<(String, u64, u128)> {
    let absolute = std::fs::canonicalize(path).map_err(file_error("cannot read", path))?;
    let meta = std::fs::metadata(&absolute).map_err(file_error("cannot read", path))?;
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok((absolute.display().to_string(), meta.len(), modified_ns))
}

impl Client {
    /// Watch the progress of attachment transfers run through
    /// [`crate::agent::ops`] (the command line draws progress bars).
    pub fn set_progress(&mut self, hook: Option<ProgressHook>) {
        self.progress = hook;
    }

    /// Upload each of `files` (reporting to the progress hook), then send
    /// `out` naming them to `to`.
    pub(crate) async fn send_outgoing_attached(
        &mut self,
        to: &[DirectoryId],
        mut out: Outgoing,
        files: &[PathBuf],
    ) -> Result<MessageId> {
        if files.is_empty() && out.text.len() <= MAX_BODY {
            return self.send_outgoing(to, out).await;
        }
        let (body, long) = self.carry_long_text(&out.text)?;
        out.text = body;
        let mut hook = self.progress.take();
        let mut uploaded = Ok(());
        for f in files.iter().chain(long.as_ref().map(|l| &l.path)) {
            match self
                .upload_attachment(f, &mut |n, d, t| {
                    if let Some(h) = hook.as_mut() {
                        h(n, d, t)
                    }
                })
                .await
            {
                Ok(a) => out.attachments.push(a),
                Err(e) => {
                    uploaded = Err(e);
                    break;
                }
            }
        }
        self.progress = hook;
        uploaded?;
        let id = self.send_outgoing(to, out).await?;
        self.flush_grants().await?;
        Ok(id)
    }

    /// [`Client::send_with_attachments`] reporting to the progress hook.
    pub async fn send_attached(
        &mut self,
        to: &[DirectoryId],
        text: &str,
        handling: Handling,
        conversation: Option<ConversationId>,
        files: &[PathBuf],
    ) -> Result<MessageId> {
        let mut hook = self.progress.take();
        let r = self
            .send_with_attachments(to, text, handling, conversation, files, &mut |n, d, t| {
                if let Some(h) = hook.as_mut() {
                    h(n, d, t)
                }
            })
            .await;
        self.progress = hook;
        r
    }

    /// [`Client::save_attachments`] reporting to the progress hook.
    pub async fn save_attached(&mut self, id: MessageId, out_dir: &Path) -> Result<Vec<PathBuf>> {
        let mut hook = self.progress.take();
        let r = self
            .save_attachments(id, out_dir, &mut |n, d, t| {
                if let Some(h) = hook.as_mut() {
                    h(n, d, t)
                }
            })
            .await;
        self.progress = hook;
        r
    }

    /// Seal `path` under a fresh key and upload it to the relay, resuming
    /// after a lost link; returns the reference to sign.
    pub async fn upload_attachment(
        &mut self,
        path: &Path,
        progress: Progress<'_>,
    ) -> Result<AttachmentRef> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".to_owned());
        let (key, blob, size) = self.begin_upload(path)?;
        let mut reconnects = 0;
        let mut window = UPLOAD_WINDOW;
        loop {
            match self
                .upload_from(path, &name, size, (&key, blob), window, progress)
                .await
            {
                Ok(reference) => return Ok(reference),
                Err(ClientError::Link(liaison_net::LinkError::Refused(e)))
                    if window > 1 && e.code == ErrorCode::Malformed =>
                {
                    // A chunk sent ahead was refused (a relay that takes
                    // one at a time, or one whose predecessor came too
                    // late): go on one at a time; a chunk refused for
                    // itself is refused again and reported.
                    window = 1;
                }
                Err(e) if e.is_unreachable() && reconnects < RECONNECTS => {
                    reconnects += 1;
                    self.connect().await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The key, blob id and size to upload `path` under: those of an upload
    /// of the same unchanged file begun before (resumed), or fresh ones,
    /// kept in the home before any chunk leaves.
    fn begin_upload(&mut self, path: &Path) -> Result<([u8; 32], [u8; 32], u64)> {
        let (absolute, size, modified_ns) = file_state(path)?;
        let mut pending: Vec<PendingUpload> =
            self.home.get_secret(PENDING_UPLOADS)?.unwrap_or_default();
        if let Some(p) = pending.iter().find(|p| {
            p.path == absolute && p.size == size && p.modified_ns == modified_ns && modified_ns != 0
        }) {
            return Ok((p.key, p.blob, size));
        }
        let key: [u8; 32] = random()?;
        let blob: [u8; 32] = random()?;
        // An earlier upload of this path is of another content: it is not
        // resumed (its partial blob ends with the relay's retention). Nor
        // is one whose file is gone (a copy made only for one send, such
        // as a file attached in the web app or a long text).
        pending.retain(|p| p.path != absolute && Path::new(&p.path).is_file());
        pending.push(PendingUpload {
            path: absolute,
            size,
            modified_ns,
            key,
            blob,
        });
        let mut w = self.home.write()?;
        w.put_secret(PENDING_UPLOADS, &pending)?;
        w.commit()?;
        Ok((key, blob, size))
    }

    /// Upload `path` (sealed under `key` as blob `blob`) from the chunk the
    /// relay confirmed, with at most `window` chunks awaiting confirmation.
    async fn upload_from(
        &mut self,
        path: &Path,
        name: &str,
        size: u64,
        (key, blob): (&[u8; 32], [u8; 32]),
        window: usize,
        progress: Progress<'_>,
    ) -> Result<AttachmentRef> {
        let seal_error = |source| ClientError::AttachmentSeal {
            path: path.display().to_string(),
            source,
        };
        // The relay checks its size limit and the quota here, before any
        // chunk, and says where a resumed upload starts.
        let (confirmed, chunks) = self.conn()?.blob_begin(blob, size).await?;
        let expected = chunk_count(size)
            .ok_or_else(|| seal_error(liaison_protocol::attachment::SealError::TooLarge))?;
        if chunks != expected {
            return Err(ClientError::UnexpectedFrame(format!(
                "the relay counts {chunks} chunks for an attachment of {expected}"
            )));
        }
        let file = File::open(path).map_err(file_error("cannot read", path))?;
        let mut source = ChunkSource {
            path: path.to_path_buf(),
            file,
            sealer: Sealer::new(key),
            key: *key,
            buf: vec![0u8; CHUNK_SIZE],
            left: size,
        };
        // Each chunk is read and sealed on a blocking thread while those
        // before it travel to the relay and are made durable there; up to
        // `window` are sent before the first of them is confirmed.
        let mut ahead = Some(tokio::task::spawn_blocking(move || {
            let sealed = source.next(chunks == 1);
            (source, sealed)
        }));
        let mut sent = Sent {
            link: self.conn()?.clone(),
            blob,
            waiting: std::collections::VecDeque::new(),
        };
        for index in 0..chunks {
            let Some(job) = ahead.take() else { break };
            let (mut source, sealed) = job.await.map_err(|e| ClientError::AttachmentFile {
                what: "cannot read",
                path: path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
            let sealed = sealed?;
            if index + 1 < chunks {
                let last = index + 2 == chunks;
                ahead = Some(tokio::task::spawn_blocking(move || {
                    let sealed = source.next(last);
                    (source, sealed)
                }));
            }
            let done = |i: u64| (i + 1).saturating_mul(CHUNK_SIZE as u64).min(size);
            match sealed {
                SealedChunk::Next(sealed) => {
                    if index >= confirmed {
                        sent.send(index, sealed);
                    }
                    while sent.waiting.len() >= window {
                        let i = sent.confirmed().await?;
                        progress(name, done(i), size);
                    }
                    if index < confirmed {
                        progress(name, done(index), size);
                    }
                }
                SealedChunk::Last(sealed, summary) => {
                    if index >= confirmed {
                        sent.send(index, sealed);
                    }
                    while !sent.waiting.is_empty() {
                        let i = sent.confirmed().await?;
                        progress(name, done(i), size);
                    }
                    progress(name, size, size);
                    return Ok(AttachmentRef {
                        name: name.to_owned(),
                        media_type: media_type(path).to_owned(),
                        size: summary.size,
                        sha256: summary.sha256,
                        key: *key,
                        blob,
                    });
                }
            }
        }
        // chunk_count is at least 1, so the loop returned at its last chunk.
        Err(ClientError::Incomplete("attachment upload"))
    }

    /// Upload each of `files`, then send `text` naming them to `to`, and let
    /// the recipients' devices fetch them.
    pub async fn send_with_attachments(
        &mut self,
        to: &[DirectoryId],
        text: &str,
        handling: Handling,
        conversation: Option<ConversationId>,
        files: &[PathBuf],
        progress: Progress<'_>,
    ) -> Result<MessageId> {
        let (body, long) = self.carry_long_text(text)?;
        let mut attachments = Vec::with_capacity(files.len() + 1);
        for f in files.iter().chain(long.as_ref().map(|l| &l.path)) {
            attachments.push(self.upload_attachment(f, progress).await?);
        }
        let out = Outgoing {
            attachments,
            ..Outgoing::text(&body, handling, conversation)
        };
        let id = self.send_outgoing(to, out).await?;
        self.flush_grants().await?;
        Ok(id)
    }

    /// In the write `w` that keeps message `id` to send: owe the relay's
    /// grants of `blobs` to its recipients.
    pub(crate) fn owe_grants(
        &self,
        w: &mut crate::home::HomeTxn<'_>,
        id: MessageId,
        blobs: &[[u8; 32]],
    ) -> Result<()> {
        if blobs.is_empty() {
            return Ok(());
        }
        let mut owed = self.owed_grants()?;
        owed.extend(blobs.iter().map(|b| (*b, id)));
        w.put_secret(OWED_GRANTS, &owed)?;
        // The message now names these uploads: a later send of the same
        // file is a new attachment.
        let mut pending: Vec<PendingUpload> =
            self.home.get_secret(PENDING_UPLOADS)?.unwrap_or_default();
        let before = pending.len();
        pending.retain(|p| !blobs.contains(&p.blob));
        if pending.len() != before {
            w.put_secret(PENDING_UPLOADS, &pending)?;
        }
        Ok(())
    }

    fn owed_grants(&self) -> Result<Vec<([u8; 32], MessageId)>> {
        Ok(self.home.get_secret(OWED_GRANTS)?.unwrap_or_default())
    }

    /// Ask the relay for every grant owed for a message it accepted (the
    /// others wait for the outbox). A grant the relay refuses for good is
    /// dropped with a warning; a lost link leaves the rest owed.
    pub(crate) async fn flush_grants(&mut self) -> Result<()> {
        let owed = self.owed_grants()?;
        if owed.is_empty() {
            return Ok(());
        }
        let mut left = Vec::new();
        let mut failure = None;
        for (blob, id) in owed {
            let accepted = self.message(id)?.is_some_and(|m| m.accepted);
            if !accepted || failure.is_some() {
                left.push((blob, id));
                continue;
            }
            match self.conn()?.blob_grant(blob, id).await {
                Ok(()) => {}
                Err(liaison_net::LinkError::Refused(e)) if !e.code.is_retryable() => {
                    self.warnings.push(format!(
                        "the relay refused to let the recipients of message {id} fetch an attachment: {e}"
                    ));
                }
                Err(e) => {
                    left.push((blob, id));
                    failure = Some(e);
                }
            }
        }
        let mut w = self.home.write()?;
        w.put_secret(OWED_GRANTS, &left)?;
        w.commit()?;
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// The attachments message `id` names (empty if none).
    pub fn attachments_of(&self, id: MessageId) -> Result<Vec<AttachmentRef>> {
        let m = self.message(id)?.ok_or(NotFound::Message(id))?;
        attachment_refs(&m)
    }

    /// The attachments of message `id`, under the handling gate: a received
    /// message's only once it verified, its handling is acknowledged and
    /// its content was not destroyed.
    fn readable_attachments(&self, id: MessageId) -> Result<Vec<AttachmentRef>> {
        let m = self.message(id)?.ok_or(NotFound::Message(id))?;
        if m.direction == Direction::In {
            if !m.verified {
                return Err(ClientError::Rejected {
                    id,
                    reason: m.error.clone().unwrap_or_default(),
                });
            }
            if let Some(at) = m.destroyed_at {
                return Err(ClientError::Destroyed { id, at });
            }
            if m.acknowledged_at.is_none() {
                return Err(HandlingError::NotAcknowledged(id).into());
            }
        }
        attachment_refs(&m)
    }

    /// Fetch, verify and save every attachment of received message `id`
    /// into `out_dir`, once its handling is acknowledged. Returns the files
    /// written.
    pub async fn save_attachments(
        &mut self,
        id: MessageId,
        out_dir: &Path,
        progress: Progress<'_>,
    ) -> Result<Vec<PathBuf>> {
        let attachments = self.readable_attachments(id)?;
        if attachments.is_empty() {
            return Err(NotFound::Attachment(id).into());
        }
        let mut saved = Vec::new();
        for (index, a) in attachments.iter().enumerate() {
            let target = out_dir.join(safe_file_name(&a.name));
            if target.exists() {
                return Err(ClientError::AttachmentExists {
                    path: target.display().to_string(),
                });
            }
            let partial = out_dir.join(format!(
                ".{}.{}.partial",
                safe_file_name(&a.name),
                hex::encode(a.blob.get(..8).unwrap_or_default())
            ));
            // Opened in the web app before: the relay may have deleted it
            // since, and the home's sealed copy is checked the same way.
            let kept = sealed_copy(self.home.dir(), id, index);
            let fetched = if kept.is_file() {
                let _ = std::fs::remove_file(&partial);
                let _ = std::fs::remove_file(tags_of(&partial));
                let r = open_sealed_copy(id, a, &kept, &partial);
                progress(&a.name, a.size, a.size);
                r
            } else {
                self.fetch_into(id, a, &partial, progress).await
            };
            match fetched {
                Ok(()) => {
                    // Refuses to replace a file that appeared meanwhile.
                    std::fs::hard_link(&partial, &target).map_err(|e| {
                        let _ = std::fs::remove_file(&partial);
                        let _ = std::fs::remove_file(tags_of(&partial));
                        if e.kind() == std::io::ErrorKind::AlreadyExists {
                            ClientError::AttachmentExists {
                                path: target.display().to_string(),
                            }
                        } else {
                            file_error("cannot write", &target)(e)
                        }
                    })?;
                    let _ = std::fs::remove_file(&partial);
                    let _ = std::fs::remove_file(tags_of(&partial));
                    saved.push(target);
                }
                // A lost link keeps what verified so far for the next save.
                Err(e) if e.is_unreachable() => return Err(e),
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    let _ = std::fs::remove_file(tags_of(&partial));
                    return Err(e);
                }
            }
        }
        Ok(saved)
    }

    /// Open attachment `index` of message `id` into the file `out` (which
    /// must not exist), for the web app to show or hand to the officer,
    /// under the same rules as [`Client::save_attachments`].
    ///
    /// The relay deletes a blob once every recipient device has fetched
    /// it, so the first open keeps the sealed chunks, exactly as served,
    /// in `HOME/attachments/` (encrypted under the file's key, which only
    /// the home holds); every open, the first included, decrypts from that
    /// copy and checks every chunk and the signed SHA-256 again. The copy
    /// goes when retention destroys the message
    /// ([`Client::forget_attachments`]).
    pub async fn open_attachment(
        &mut self,
        id: MessageId,
        index: usize,
        out: &Path,
    ) -> Result<PathBuf> {
        let a = self
            .readable_attachments(id)?
            .into_iter()
            .nth(index)
            .ok_or(NotFound::Attachment(id))?;
        let kept = sealed_copy(self.home.dir(), id, index);
        if !kept.is_file() {
            self.fetch_sealed(id, &a, &kept).await.map_err(|e| {
                let gone = matches!(
                    &e,
                    ClientError::Link(l) if l.refusal().is_some_and(|w| {
                        w.code == liaison_protocol::frames::ErrorCode::NotFound
                    })
                );
                if gone {
                    ClientError::AttachmentGone {
                        id,
                        name: a.name.clone(),
                    }
                } else {
                    e
                }
            })?;
        }
        if let Err(e) = open_sealed_copy(id, &a, &kept, out) {
            // A copy altered or cut short on disk never opens: it goes, so
            // that the next open fetches the file again while the relay
            // still holds it (or says that it no longer does).
            if matches!(
                e,
                ClientError::AttachmentRejected { .. }
                    | ClientError::AttachmentFile {
                        what: "cannot read",
                        ..
                    }
            ) {
                let _ = std::fs::remove_file(&kept);
            }
            return Err(e);
        }
        Ok(out.to_path_buf())
    }

    /// Delete the sealed copies kept of the attachments of `ids`
    /// (retention destroyed those messages).
    pub fn forget_attachments(&self, ids: &[MessageId]) {
        let dir = self.home.dir().join(SEALED_DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let prefixes: Vec<String> = ids.iter().map(|id| format!("{}-", id.to_hex())).collect();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Fetch every sealed chunk of `a` from the relay, checking each opens
    /// (nothing decrypted is kept), and keep them at `kept` only if the
    /// whole file matched the signed SHA-256.
    async fn fetch_sealed(&mut self, id: MessageId, a: &AttachmentRef, kept: &Path) -> Result<()> {
        let rejected = |source| ClientError::AttachmentRejected {
            id,
            name: a.name.clone(),
            source,
        };
        let dir = self.home.dir().join(SEALED_DIR);
        create_private_dir(&dir)?;
        let partial = kept.with_extension("partial");
        let mut file = File::create(&partial).map_err(file_error("cannot write", &partial))?;
        let mut opener = Opener::new(a).map_err(rejected)?;
        let total = opener.chunk_count();
        let mut reconnects = 0;
        let fetched: Result<()> = async {
            while opener.next_index() < total {
                let start = opener.next_index();
                let chunks = match self.conn()?.blob_fetch(a.blob, start, FETCH_BATCH).await {
                    Ok(c) => c,
                    Err(e) if e.is_transient() && reconnects < RECONNECTS => {
                        reconnects += 1;
                        self.connect().await?;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                if chunks.is_empty() {
                    return Err(rejected(
                        liaison_protocol::attachment::AttachmentError::Truncated {
                            received: start,
                            expected: total,
                        },
                    ));
                }
                for chunk in chunks {
                    opener.open_chunk(&chunk).map_err(rejected)?;
                    file.write_all(&chunk)
                        .map_err(file_error("cannot write", &partial))?;
                }
            }
            opener.finish().map_err(rejected)?;
            file.sync_all()
                .map_err(file_error("cannot write", &partial))?;
            std::fs::rename(&partial, kept).map_err(file_error("cannot write", kept))
        }
        .await;
        if fetched.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        fetched
    }

    async fn fetch_into(
        &mut self,
        id: MessageId,
        a: &AttachmentRef,
        partial: &Path,
        progress: Progress<'_>,
    ) -> Result<()> {
        let rejected = |source| ClientError::AttachmentRejected {
            id,
            name: a.name.clone(),
            source,
        };
        let mut opener = Opener::new(a).map_err(rejected)?;
        let (mut file, kept) = open_partial(partial)?;
        let tags_path = tags_of(partial);
        let (mut tags, tags_len) = open_partial(&tags_path)?;
        let total = opener.chunk_count();
        // Whole chunks kept by an earlier save, never the final one (which
        // must authenticate as final), each kept only if sealing it again
        // under the file's key gives the tag the relay served for it (kept
        // beside it): the first that does not, and all after it, are
        // fetched again.
        let candidates = (kept / CHUNK_SIZE as u64)
            .min(tags_len / TAG_SIZE as u64)
            .min(total.saturating_sub(1));
        let mut done = 0u64;
        if candidates > 0 {
            let mut served = Vec::new();
            tags.read_to_end(&mut served)
                .map_err(file_error("cannot read", &tags_path))?;
            let mut sealer = Sealer::new(&a.key);
            let mut buf = vec![0u8; CHUNK_SIZE];
            for tag in served.chunks_exact(TAG_SIZE).take(candidates as usize) {
                file.read_exact(&mut buf)
                    .map_err(file_error("cannot read", partial))?;
                let Ok(sealed) = sealer.seal_chunk(&buf) else {
                    break;
                };
                if sealed.get(CHUNK_SIZE..) != Some(tag) {
                    break;
                }
                opener.resume_chunk(&buf).map_err(rejected)?;
                done += CHUNK_SIZE as u64;
            }
            progress(&a.name, done, a.size);
        }
        let resumed = opener.next_index();
        file.set_len(done)
            .map_err(file_error("cannot write", partial))?;
        file.seek(SeekFrom::Start(done))
            .map_err(file_error("cannot write", partial))?;
        let tags_kept = resumed * TAG_SIZE as u64;
        tags.set_len(tags_kept)
            .map_err(file_error("cannot write", &tags_path))?;
        tags.seek(SeekFrom::Start(tags_kept))
            .map_err(file_error("cannot write", &tags_path))?;
        let mut reconnects = 0;
        // The next batch is asked for as soon as one arrives, and travels
        // while this one is opened and written (asked for only then, so
        // the relay serves the batches in order and counts each).
        let mut next = Ahead(None);
        while opener.next_index() < total {
            let start = opener.next_index();
            let fetched = match next.0.take() {
                Some((from, call)) if from == start => call
                    .await
                    .unwrap_or_else(|e| Err(LinkError::Quic(e.to_string()))),
                _ => self.conn()?.blob_fetch(a.blob, start, FETCH_BATCH).await,
            };
            let chunks = match fetched {
                Ok(c) => c,
                Err(e) if e.is_transient() && reconnects < RECONNECTS => {
                    reconnects += 1;
                    self.connect().await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if chunks.is_empty() {
                return Err(rejected(
                    liaison_protocol::attachment::AttachmentError::Truncated {
                        received: start,
                        expected: total,
                    },
                ));
            }
            let following = start.saturating_add(chunks.len() as u64);
            if following < total {
                let (link, blob) = (self.conn()?.clone(), a.blob);
                next.0 = Some((
                    following,
                    tokio::spawn(
                        async move { link.blob_fetch(blob, following, FETCH_BATCH).await },
                    ),
                ));
            }
            for chunk in chunks {
                let plain = opener.open_chunk(&chunk).map_err(rejected)?;
                file.write_all(&plain)
                    .map_err(file_error("cannot write", partial))?;
                // The tag that authenticated it, for a save resumed later.
                let tag = chunk.get(chunk.len().saturating_sub(TAG_SIZE)..);
                tags.write_all(tag.unwrap_or_default())
                    .map_err(file_error("cannot write", &tags_path))?;
                done += plain.len() as u64;
                progress(&a.name, done, a.size);
            }
        }
        opener.finish().map_err(rejected)?;
        file.sync_all()
            .map_err(file_error("cannot write", partial))?;
        Ok(())
    }
}

/// The chunks of an upload sent and not confirmed yet, oldest first.
struct Sent {
    link: liaison_net::Link,
    blob: [u8; 32],
    waiting: std::collections::VecDeque<(u64, tokio::task::JoinHandle<Result<(), LinkError>>)>,
}

impl Sent {
    /// Send chunk `index` on a stream of its own.
    fn send(&mut self, index: u64, sealed: Vec<u8>) {
        let (link, blob) = (self.link.clone(), self.blob);
        let call =
            tokio::spawn(async move { link.blob_chunk(blob, index, sealed).await.map(drop) });
        self.waiting.push_back((index, call));
    }

    /// Wait for the oldest chunk sent to be confirmed; its index.
    async fn confirmed(&mut self) -> Result<u64> {
        let Some((index, call)) = self.waiting.pop_front() else {
            return Err(ClientError::Incomplete("attachment upload"));
        };
        match call.await {
            Ok(Ok(())) => Ok(index),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(ClientError::Link(LinkError::Quic(e.to_string()))),
        }
    }
}

impl Drop for Sent {
    /// An upload given up (an error, or the caller gone) stops the chunks
    /// still in flight.
    fn drop(&mut self) {
        for (_, call) in &self.waiting {
            call.abort();
        }
    }
}

/// The fetch of the next batch of a save, from its first chunk, while the
/// current one is opened; stopped if the save ends first.
struct Ahead(Option<(u64, Fetching)>);

/// A fetch of chunks under way.
type Fetching = tokio::task::JoinHandle<Result<Vec<Vec<u8>>, LinkError>>;

impl Drop for Ahead {
    fn drop(&mut self) {
        if let Some((_, call)) = &self.0 {
            call.abort();
        }
    }
}

/// A file being uploaded, read and sealed one chunk at a time (on a
/// blocking thread: see [`Client::upload_attachment`]).
struct ChunkSource {
    path: PathBuf,
    file: File,
    sealer: Sealer,
    key: [u8; 32],
    buf: Vec<u8>,
    /// Bytes not read yet.
    left: u64,
}

/// One sealed chunk, and for the last one what the whole file sealed to.
enum SealedChunk {
    Next(Vec<u8>),
    Last(Vec<u8>, liaison_protocol::attachment::Sealed),
}

impl ChunkSource {
    /// Read and seal the next chunk; `last` if it is the file's final one
    /// (the file must then end with it).
    fn next(&mut self, last: bool) -> Result<SealedChunk> {
        let path = self.path.as_path();
        let seal_error = |source| ClientError::AttachmentSeal {
            path: path.display().to_string(),
            source,
        };
        let n = usize::try_from(self.left.min(CHUNK_SIZE as u64)).unwrap_or(CHUNK_SIZE);
        let piece = self.buf.get_mut(..n).unwrap_or_default();
        self.file.read_exact(piece).map_err(file_error(
            "cannot read (did it change while sending?)",
            path,
        ))?;
        self.left -= n as u64;
        if !last {
            return Ok(SealedChunk::Next(
                self.sealer.seal_chunk(piece).map_err(seal_error)?,
            ));
        }
        let (sealed, summary) = std::mem::replace(&mut self.sealer, Sealer::new(&self.key))
            .seal_last(piece)
            .map_err(seal_error)?;
        let mut extra = [0u8; 1];
        if self
            .file
            .read(&mut extra)
            .map_err(file_error("cannot read", path))?
            != 0
        {
            return Err(ClientError::AttachmentFile {
                what: "grew while it was being sent:",
                path: path.display().to_string(),
                source: std::io::Error::other("the file is longer than when sending began"),
            });
        }
        Ok(SealedChunk::Last(sealed, summary))
    }
}

/// The longest text a message takes. Beyond [`MAX_BODY`] (64 KiB), the
/// whole text goes as an attachment, [`LONG_TEXT_FILE`], and the body
/// holds its beginning with a note saying so.
pub const MAX_TEXT: usize = 512 * 1024;

/// The name of the attachment that carries a text too long for a body.
pub const LONG_TEXT_FILE: &str = "message.txt";

/// A directory of its own under `HOME/uploads/`, readable by this user
/// alone, for files needed only while one send or one open runs (a file
/// attached in the web app, a long text, a file being shown); removed with
/// what it holds when dropped, and by the next opening of the home if a
/// killed program could not.
#[derive(Debug)]
pub struct ScratchDir {
    dir: PathBuf,
}

impl ScratchDir {
    /// A new, empty directory under `home`'s `uploads/`.
    pub fn new(home: &Path) -> std::io::Result<ScratchDir> {
        let mut name = [0u8; 12];
        getrandom::fill(&mut name).map_err(std::io::Error::other)?;
        let dir = std::path::absolute(home)?
            .join(crate::home::UPLOADS_DIR)
            .join(hex::encode(name));
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)?;
        Ok(ScratchDir { dir })
    }

    /// Where a file named `name` (by whoever sent it) goes in it.
    pub fn path_for(&self, name: &str) -> PathBuf {
        self.dir.join(safe_file_name(name))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A text too long for a message body, written to a file of its own to go
/// as an attachment; the file goes when this is dropped.
pub(crate) struct LongText {
    _scratch: ScratchDir,
    path: PathBuf,
}

/// The beginning of `text` that fits a body with the note that the whole
/// text is attached.
fn long_text_body(text: &str) -> String {
    let note = format!(
        "\n\n[... The message goes on: the whole text ({} bytes) is the attached file {LONG_TEXT_FILE}.]",
        text.len()
    );
    let mut cut = MAX_BODY.saturating_sub(note.len() + 16);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{note}", text.get(..cut).unwrap_or_default())
}

impl Client {
    /// `text` as a body: itself when it fits; otherwise its beginning with
    /// a note, and the whole text in a file to attach. A text over
    /// [`MAX_TEXT`] is refused.
    pub(crate) fn carry_long_text(&self, text: &str) -> Result<(String, Option<LongText>)> {
        if text.len() <= MAX_BODY {
            return Ok((text.to_owned(), None));
        }
        if text.len() > MAX_TEXT {
            return Err(ClientError::TextTooLong {
                len: text.len(),
                limit: MAX_TEXT,
                pages: MAX_TEXT / 3000,
            });
        }
        let scratch = ScratchDir::new(self.home.dir()).map_err(file_error(
            "cannot create a file for the long text in",
            self.home.dir(),
        ))?;
        let long = LongText {
            path: scratch.path_for(LONG_TEXT_FILE),
            _scratch: scratch,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options
            .open(&long.path)
            .map_err(file_error("cannot write", &long.path))?;
        f.write_all(text.as_bytes())
            .map_err(file_error("cannot write", &long.path))?;
        Ok((long_text_body(text), Some(long)))
    }
}

/// The attachments stored message `m` names (empty if none, or once its
/// content was destroyed).
pub fn attachment_refs(m: &crate::client::StoredMessage) -> Result<Vec<AttachmentRef>> {
    if m.signed_payload.is_empty() {
        return Ok(Vec::new());
    }
    let payload = SignedPayload::decode(&m.signed_payload)?.decode_unverified()?;
    Ok(payload.attachments)
}

/// The home's directory of sealed attachment copies.
const SEALED_DIR: &str = "attachments";

/// Where the sealed copy of attachment `index` of message `id` is kept.
fn sealed_copy(home: &Path, id: MessageId, index: usize) -> PathBuf {
    home.join(SEALED_DIR)
        .join(format!("{}-{index}.sealed", id.to_hex()))
}

/// A directory only this user may read.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(file_error("cannot create", dir))
}

/// Decrypt the sealed copy `kept` of `a` into the new file `out`, checking
/// every chunk and the whole file again; `out` is removed if any fails.
fn open_sealed_copy(id: MessageId, a: &AttachmentRef, kept: &Path, out: &Path) -> Result<()> {
    let rejected = |source| ClientError::AttachmentRejected {
        id,
        name: a.name.clone(),
        source,
    };
    let mut opener = Opener::new(a).map_err(rejected)?;
    let mut sealed = File::open(kept).map_err(file_error("cannot read", kept))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ClientError::AttachmentExists {
                path: out.display().to_string(),
            }
        } else {
            file_error("cannot write", out)(e)
        }
    })?;
    let opened: Result<()> = (|| {
        let mut buf = vec![0u8; CHUNK_SIZE + TAG_SIZE];
        while opener.next_index() < opener.chunk_count() {
            let index = opener.next_index();
            let len = liaison_protocol::attachment::chunk_plain_len(a.size, index)
                .map(|n| n + TAG_SIZE)
                .ok_or(rejected(
                    liaison_protocol::attachment::AttachmentError::ChunkRejected { index },
                ))?;
            let piece = buf.get_mut(..len).unwrap_or_default();
            sealed
                .read_exact(piece)
                .map_err(file_error("cannot read", kept))?;
            let plain = opener.open_chunk(piece).map_err(rejected)?;
            file.write_all(&plain)
                .map_err(file_error("cannot write", out))?;
        }
        opener.finish().map_err(rejected)
    })();
    if opened.is_err() {
        drop(file);
        let _ = std::fs::remove_file(out);
    }
    opened
}

/// Beside a save's partial file, the tags the relay served for its chunks
/// (16 bytes each, in order).
fn tags_of(partial: &Path) -> PathBuf {
    partial.with_extension("tags")
}

/// The partial file of a save: created, or opened to resume if an
/// earlier save left one (a plain file, never a link); with its length.
fn open_partial(partial: &Path) -> Result<(File, u64)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    match std::fs::symlink_metadata(partial) {
        Ok(meta) if meta.file_type().is_file() => {
            let file = options
                .open(partial)
                .map_err(file_error("cannot write", partial))?;
            let len = file
                .metadata()
                .map_err(file_error("cannot read", partial))?
                .len();
            Ok((file, len))
        }
        Ok(_) => Err(ClientError::AttachmentFile {
            what: "is in the way (not a plain file; remove it and save again):",
            path: partial.display().to_string(),
            source: std::io::Error::other("not a plain file"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let file = options
                .create_new(true)
                .open(partial)
                .map_err(file_error("cannot write", partial))?;
            Ok((file, 0))
        }
        Err(e) => Err(file_error("cannot read", partial)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_names_cannot_leave_the_directory_or_hide() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\x\\scan.pdf"), "scan.pdf");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name(".."), "attachment");
        assert_eq!(safe_file_name(""), "attachment");
        assert_eq!(safe_file_name("a\nb.txt"), "a_b.txt");
        assert_eq!(safe_file_name("passport scan.pdf"), "passport scan.pdf");
        let long = format!("{}.jpg", "ภ".repeat(100));
        let short = safe_file_name(&long);
        assert!(short.len() <= 200 && short.ends_with(".jpg"), "{short}");
        assert!(long.starts_with(short.trim_end_matches(".jpg")));
    }

    /// A [`ChunkSource`] over a new file holding `content`, expecting
    /// `size` bytes.
    fn source(name: &str, content: &[u8], size: u64, key: &[u8; 32]) -> ChunkSource {
        let path = std::env::temp_dir().join(format!(
            "liaison-chunk-source-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, content).unwrap();
        let file = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        ChunkSource {
            path,
            file,
            sealer: Sealer::new(key),
            key: *key,
            buf: vec![0u8; CHUNK_SIZE],
            left: size,
        }
    }

    #[test]
    fn chunks_read_and_sealed_ahead_are_the_sealers_own() {
        let key = [3u8; 32];
        let content: Vec<u8> = (0..2 * CHUNK_SIZE + 100).map(|i| (i % 251) as u8).collect();
        let mut ahead = source("same", &content, content.len() as u64, &key);
        let mut sealer = Sealer::new(&key);
        let pieces: Vec<&[u8]> = content.chunks(CHUNK_SIZE).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let last = i + 1 == pieces.len();
            match ahead.next(last).unwrap() {
                SealedChunk::Next(sealed) => {
                    assert!(!last);
                    assert_eq!(sealed, sealer.seal_chunk(piece).unwrap());
                }
                SealedChunk::Last(sealed, summary) => {
                    assert!(last);
                    let (expected, whole) = std::mem::replace(&mut sealer, Sealer::new(&key))
                        .seal_last(piece)
                        .unwrap();
                    assert_eq!(sealed, expected);
                    assert_eq!(summary.sha256, whole.sha256);
                    assert_eq!(summary.size, content.len() as u64);
                }
            }
        }
    }

    #[test]
    fn a_file_that_grew_or_shrank_while_sending_is_refused() {
        let key = [5u8; 32];
        let content = vec![7u8; CHUNK_SIZE + 10];
        // Longer than when sending began: refused at its last chunk.
        let mut grew = source("grew", &content, CHUNK_SIZE as u64 + 5, &key);
        assert!(matches!(grew.next(false), Ok(SealedChunk::Next(_))));
        let refused = grew.next(true);
        assert!(
            matches!(&refused, Err(ClientError::AttachmentFile { what, .. }) if what.starts_with("grew")),
            "{:?}",
            refused.as_ref().err()
        );
        // Shorter: its last chunk cannot be read whole.
        let mut shrank = source("shrank", &content, CHUNK_SIZE as u64 + 20, &key);
        assert!(matches!(shrank.next(false), Ok(SealedChunk::Next(_))));
        let refused = shrank.next(true);
        assert!(
            matches!(&refused, Err(ClientError::AttachmentFile { what, .. }) if what.contains("change")),
            "{:?}",
            refused.as_ref().err()
        );
    }

    #[test]
    fn media_types_by_extension() {
        assert_eq!(media_type(Path::new("a.PDF")), "application/pdf");
        assert_eq!(media_type(Path::new("a")), "application/octet-stream");
    }
}
