//! Files in the app: the files an officer attaches to a message (a form
//! posted as `multipart/form-data`), and the files a message carries,
//! opened for the officer to save or, for a photo, to see.
//!
//! An attached file is written, as it arrives, to a directory of its own
//! under `HOME/uploads/` (readable by this user alone), handed to the agent
//! by path, and removed with its directory once the send is over, sent or
//! not. A received file is opened by the agent (`open-attachment`: it
//! checks every chunk and the signed SHA-256, and only once the handling is
//! acknowledged) into such a directory, sent to the browser and removed.
//!
//! A file is shown in the page only when it is a PNG, JPEG, GIF or WebP
//! picture by its first bytes, whatever the sender called it; anything
//! else (an SVG drawing, which may hold script, or HTML) is only ever
//! offered as a download. Every file goes out with a policy that lets it
//! run nothing (`sandbox`) and with `nosniff`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use liaison_client::agent::api::{Request, Response as Answer};
use liaison_client::agent::views::AttachmentView;
use liaison_client::attachments::ScratchDir;
use liaison_protocol::MessageId;

use crate::pages::{Ctx, Form, failed, not_found, notice};
use crate::state::AppState;

/// The most one form may upload, all files together. The relay refuses a
/// file over its own limit (100 MB unless its operator set another) before
/// any of it is sent, saying so.
pub const MAX_UPLOAD: usize = 256 * 1024 * 1024;

/// The most files one message carries (the protocol's limit).
const MAX_FILES: usize = liaison_protocol::message::MAX_ATTACHMENTS;

/// The policy a file is served with: it may show, never run or load
/// anything.
const FILE_CSP: &str = "default-src 'none'; img-src 'self'; sandbox";

/// The routes of this module.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/file/{h}/{i}", get(file))
}

/// A posted form with the files it attached (kept until this is dropped).
pub(crate) struct Posted {
    /// The form's other fields.
    pub(crate) form: Form,
    /// The files, in the order chosen.
    pub(crate) files: Vec<PathBuf>,
    _scratch: Option<ScratchDir>,
}

/// A state-changing request that may attach files: an unlocked session
/// whose form carries its CSRF token. A `multipart/form-data` body has its
/// files written to a scratch directory as they arrive; any other body is
/// a plain form. Otherwise the answer to give.
pub(crate) async fn posted<'a>(
    state: &'a AppState,
    req: axum::extract::Request,
) -> Result<(Ctx<'a>, Posted), Box<Response>> {
    let headers = req.headers().clone();
    let c = Ctx::unlocked(state, &headers)?;
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("multipart/form-data"));
    let posted = if multipart {
        read_multipart(&c, req).await?
    } else {
        let body = axum::body::to_bytes(req.into_body(), MAX_UPLOAD)
            .await
            .map_err(|_| Box::new(c.refused()))?;
        Posted {
            form: Form::parse(&body),
            files: Vec::new(),
            _scratch: None,
        }
    };
    if !c.csrf_ok(&headers, &posted.form) {
        return Err(Box::new(c.refused()));
    }
    Ok((c, posted))
}

async fn read_multipart<'a>(
    c: &Ctx<'a>,
    req: axum::extract::Request,
) -> Result<Posted, Box<Response>> {
    let cannot_keep = |e: std::io::Error| {
        Box::new(failed(
            c.tr,
            &c.tr.t1("files-cannot-keep", "reason", &e.to_string()),
        ))
    };
    let too_large = || {
        Box::new(notice(
            c.tr,
            StatusCode::PAYLOAD_TOO_LARGE,
            c.tr.t("error-title"),
            c.tr.t1(
                "files-too-large",
                "size",
                &(MAX_UPLOAD / (1024 * 1024)).to_string(),
            ),
        ))
    };
    let mut parts = Multipart::from_request(req, &())
        .await
        .map_err(|_| Box::new(c.refused()))?;
    let mut fields = Vec::new();
    let mut files = Vec::new();
    let mut scratch: Option<ScratchDir> = None;
    loop {
        let mut part = match parts.next_field().await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(_) => return Err(Box::new(c.refused())),
        };
        let name = part.name().unwrap_or_default().to_owned();
        match part.file_name().map(str::to_owned) {
            // A file input left empty sends a part with no file name.
            Some(file_name) if !file_name.is_empty() => {
                if files.len() >= MAX_FILES {
                    return Err(Box::new(notice(
                        c.tr,
                        StatusCode::BAD_REQUEST,
                        c.tr.t("error-title"),
                        c.tr.t1("files-too-many", "count", &MAX_FILES.to_string()),
                    )));
                }
                if scratch.is_none() {
                    scratch = Some(ScratchDir::new(&c.state.options.home).map_err(cannot_keep)?);
                }
                let Some(s) = scratch.as_ref() else {
                    return Err(Box::new(c.refused()));
                };
                let mut path = s.path_for(&file_name);
                // Two files of the same name: the second gets a number.
                let mut n = 1;
                while path.exists() || files.contains(&path) {
                    n += 1;
                    path = s.path_for(&format!("{n}-{file_name}"));
                }
                let mut out = tokio::fs::File::create(&path).await.map_err(cannot_keep)?;
                loop {
                    match part.chunk().await {
                        Ok(Some(bytes)) => {
                            tokio::io::AsyncWriteExt::write_all(&mut out, &bytes)
                                .await
                                .map_err(cannot_keep)?;
                        }
                        Ok(None) => break,
                        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                            return Err(too_large());
                        }
                        Err(_) => return Err(Box::new(c.refused())),
                    }
                }
                tokio::io::AsyncWriteExt::flush(&mut out)
                    .await
                    .map_err(cannot_keep)?;
                files.push(path);
            }
            Some(_) => {}
            None => {
                let value = part.text().await.map_err(|_| Box::new(c.refused()))?;
                fields.push((name, value));
            }
        }
    }
    Ok(Posted {
        form: Form::from_pairs(fields),
        files,
        _scratch: scratch,
    })
}

/// A file a message carries, as a page shows it.
#[derive(Debug)]
pub struct FileShown {
    /// Its place among the message's files (from 0).
    pub index: usize,
    /// Its name, as the sender gave it.
    pub name: String,
    /// Its size, in words ("2.5 MB").
    pub size: String,
    /// The page shows it (a photo of at most [`PREVIEW_MAX`] bytes).
    pub preview: bool,
}

/// The largest photo a conversation shows in the page (larger ones are
/// offered as a download only).
pub const PREVIEW_MAX: u64 = 10_000_000;

/// A size in bytes as people read it (decimal units, as the relay's
/// limits are stated).
pub(crate) fn size_text(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.1} GB", bytes as f64 / 1e9),
    }
}

/// How a page shows a message's files.
pub(crate) fn shown(attachments: &[AttachmentView]) -> Vec<FileShown> {
    attachments
        .iter()
        .enumerate()
        .map(|(index, a)| FileShown {
            index,
            name: a.name.clone(),
            size: size_text(a.size),
            preview: previewable(&a.media_type) && a.size <= PREVIEW_MAX,
        })
        .collect()
}

/// The kinds of picture shown in the page, told by their first bytes.
fn picture_type(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]) {
        Some("image/png")
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else {
        None
    }
}

/// Whether the app offers to show a file the sender called `media_type`
/// in the page (it is still shown only if its bytes are such a picture).
pub(crate) fn previewable(media_type: &str) -> bool {
    matches!(
        media_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// `GET /file/{message}/{index}`: the file, opened by the agent; shown
/// inline (`?view`) only when it is a picture, else offered as a
/// download.
async fn file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((h, i)): Path<(String, usize)>,
    uri: Uri,
) -> Response {
    let c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Some(id) = c.resolve(&h, 'm').and_then(|id| MessageId::from_hex(&id)) else {
        return not_found().await;
    };
    let Some(shown) = c.message(id).await.ok().flatten() else {
        return not_found().await;
    };
    // Its files, like its text, open only once the handling is
    // acknowledged (the agent would refuse too).
    if shown.withheld {
        return notice(
            c.tr,
            StatusCode::FORBIDDEN,
            c.tr.t("error-title"),
            c.tr.t("msg-gate-title"),
        );
    }
    let Some(a) = shown.attachments.get(i) else {
        return not_found().await;
    };
    let scratch = match ScratchDir::new(&state.options.home) {
        Ok(s) => s,
        Err(e) => {
            return failed(
                c.tr,
                &c.tr.t1("files-cannot-keep", "reason", &e.to_string()),
            );
        }
    };
    let out = scratch.path_for(&a.name);
    match c
        .ask(Request::OpenAttachment {
            id,
            index: i,
            out: out.clone(),
        })
        .await
    {
        Ok(Answer::AttachmentsSaved { .. }) => {}
        Ok(_) => return not_found().await,
        Err((_, e)) => return failed(c.tr, &c.tr.t1("files-cannot-open", "reason", &e)),
    }
    // Read whole: the scratch directory goes when this returns. (A file is
    // at most what the relay accepts, 100 MB unless its operator set more.)
    let bytes = match tokio::fs::read(&out).await {
        Ok(b) => b,
        Err(e) => {
            return failed(
                c.tr,
                &c.tr.t1("files-cannot-open", "reason", &e.to_string()),
            );
        }
    };
    drop(scratch);
    let view = Form::parse(uri.query().unwrap_or_default().as_bytes())
        .one("view")
        .is_some();
    let picture = picture_type(bytes.get(..16).unwrap_or(&bytes));
    let (content_type, disposition) = match picture {
        Some(t) if view && previewable(&a.media_type) => (t, "inline"),
        _ => ("application/octet-stream", "attachment"),
    };
    let mut r = (StatusCode::OK, Body::from(bytes)).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{disposition}; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_name(&a.name),
        percent_encoded(&liaison_client::attachments::safe_file_name(&a.name))
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FILE_CSP),
    );
    r
}

/// A file name for the plain `filename=` parameter: ASCII letters, digits
/// and `.-_` kept, anything else `_`.
fn ascii_name(name: &str) -> String {
    liaison_client::attachments::safe_file_name(name)
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_') {
                ch
            } else {
                '_'
            }
        })
        .collect()
}

/// RFC 8187 encoding of a file name (UTF-8, percent-encoded).
fn percent_encoded(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_raster_pictures_are_shown_by_their_bytes() {
        assert_eq!(
            picture_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("image/png")
        );
        assert_eq!(picture_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(picture_type(b"GIF89a\x01\x00"), Some("image/gif"));
        assert_eq!(picture_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        // A drawing that may hold script, whatever it is called.
        assert_eq!(
            picture_type(b"<svg xmlns=\"http://www.w3.org/2000/svg\">"),
            None
        );
        assert_eq!(picture_type(b"<html><script>"), None);
        assert_eq!(picture_type(b""), None);
        assert!(!previewable("image/svg+xml"));
        assert!(previewable("image/jpeg"));
    }

    #[test]
    fn file_names_in_headers_cannot_break_out() {
        assert_eq!(ascii_name("a\"b;\r\n.jpg"), "a_b___.jpg");
        assert_eq!(
            percent_encoded("ภาพ 1.jpg"),
            "%E0%B8%A0%E0%B8%B2%E0%B8%9E%201.jpg"
        );
        assert_eq!(ascii_name("../../etc/passwd"), "passwd");
    }
}
