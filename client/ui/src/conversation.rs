//! A conversation's page (its messages, each with its handling gate,
//! receipts and files; a case's members and their changes) and what it
//! sends: a reply, or a message to a case, with the files attached.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use liaison_client::agent::api::{ErrorCode, Request, Response as Answer};
use liaison_client::agent::views::MessageView;
use liaison_protocol::handling::Handling;
use liaison_protocol::{ConversationId, DirectoryId, MessageId};

use crate::pages::{
    Ctx, DEFAULT_TLP, Form, Grants, Page, People, TLP_CHOICES, Tlp, Who, exportable, failed,
    held_by_key_change, held_by_new_device, html, judicial_grants, not_found, see_other,
    shown_kind, tlp, tlp_choices,
};
use crate::state::AppState;
use crate::time::{Shown, show};

/// The routes of this module.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/c/{h}", get(conversation)).route(
        "/send",
        post(send).layer(axum::extract::DefaultBodyLimit::max(
            crate::files::MAX_UPLOAD,
        )),
    )
}

/// A message in a conversation.
#[derive(Debug)]
pub struct MsgRow {
    /// Handle of the message.
    pub handle: String,
    /// Sender.
    pub from: Who,
    /// Sent by this officer.
    pub mine: bool,
    /// When.
    pub time: Shown,
    /// Handling.
    pub tlp: Tlp,
    /// Content held until the handling is acknowledged.
    pub withheld: bool,
    /// What the handling asks, one rule per line.
    pub explained: Vec<String>,
    /// The text, once acknowledged.
    pub text: Option<String>,
    /// Why there is no text (rejected, destroyed).
    pub note: Option<String>,
    /// For sent messages: each recipient's receipts.
    pub receipts: Vec<ReceiptShown>,
    /// A forward that came with the originator's consent: (who granted
    /// it, their conditions, when the grant lapses).
    pub grants: Vec<(String, String, Option<Shown>)>,
    /// It can be forwarded from here (received, read).
    pub forwardable: bool,
    /// For a received message: whether it can be exported as evidence now
    /// for some case (judicial use permitted, or granted), or only once
    /// the originator consents.
    pub evidence: Option<bool>,
    /// The files it carries (once its content may be read).
    pub files: Vec<crate::files::FileShown>,
    /// It can be answered with a quote (its text may be read).
    pub replyable: bool,
}

/// A recipient's receipts of a sent message, with times.
#[derive(Debug)]
pub struct ReceiptShown {
    /// The recipient.
    pub name: String,
    /// When their client received it.
    pub delivered: Option<Shown>,
    /// When they acknowledged the handling.
    pub acknowledged: Option<Shown>,
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct ConversationTpl<'a> {
    p: Page<'a>,
    /// What the live region reloads (this page, as many messages).
    live: String,
    /// The link to show more earlier messages, and how many are hidden.
    more: Option<(String, usize)>,
    handle: String,
    with: Vec<Who>,
    messages: Vec<MsgRow>,
    /// The text of a kept draft of the reply.
    draft: String,
    tlps: Vec<(Tlp, bool, bool)>,
    /// The case, when the conversation is a case's.
    case: Option<crate::cases::CaseShown>,
    /// This officer was removed from the case: no reply form.
    removed: bool,
    /// The message the form answers: (its handle, its sender's name, its
    /// first words).
    reply_to: Option<(String, String, String)>,
}

/// Messages a conversation's page shows at first, and how many more each
/// "show earlier messages" adds.
const PAGE_MESSAGES: usize = 100;

async fn conversation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(h): Path<String>,
    uri: Uri,
) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Some(conv) = c
        .resolve(&h, 'c')
        .and_then(|id| ConversationId::from_hex(&id))
    else {
        return not_found().await;
    };
    let query = Form::parse(uri.query().unwrap_or_default().as_bytes());
    // `?reply=HANDLE`: the message the reply form answers (a handle).
    let replying = query.one("reply").map(str::to_owned);
    // `?show=N`: how many of the newest messages (a count, never an id).
    let limit = query
        .one("show")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(PAGE_MESSAGES)
        .clamp(PAGE_MESSAGES, 100 * PAGE_MESSAGES);
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let case = crate::cases::shown(&c, &people, conv).await;
    let (with, ms, earlier) = match c
        .ask(Request::Conversation {
            conversation: conv,
            limit,
        })
        .await
    {
        Ok(Answer::Conversation {
            conversation,
            messages,
            earlier,
        }) => (conversation.with, messages, earlier),
        // A case just opened has no message to show yet.
        Err((ErrorCode::NotFound, _)) if case.is_some() => (Vec::new(), Vec::new(), 0),
        Ok(_) | Err((ErrorCode::NotFound, _)) => return not_found().await,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let with = with.iter().map(|id| people.who(id)).collect();
    let judicial = judicial_grants(&c).await;
    let rows: Vec<MsgRow> = ms
        .iter()
        .map(|m| msg_row(&c, &people, &judicial, m))
        .collect();
    // The message answered, when it is one shown here and may be read: its
    // sender and first words, above the reply form.
    let reply_to = replying.and_then(|r| {
        let m = rows.iter().find(|m| m.handle == r && m.replyable)?;
        let text = m.text.as_deref().unwrap_or_default();
        let first: String = text.chars().take(140).collect();
        Some((r, m.from.name.clone(), first))
    });
    let draft = c.take_draft(&format!("/c/{h}")).unwrap_or_default();
    // A case's messages take its handling unless the officer picks another.
    let chosen = match (&case, draft.tlp.is_empty()) {
        (Some(k), true) => k.tlp.clone(),
        _ => draft.tlp.clone(),
    };
    let tlps = tlp_choices(c.tr, Some(&chosen));
    let p = c.page_for(&people).await;
    html(
        StatusCode::OK,
        &ConversationTpl {
            p,
            live: if limit == PAGE_MESSAGES {
                format!("/c/{h}")
            } else {
                format!("/c/{h}?show={limit}")
            },
            more: (earlier > 0)
                .then(|| (format!("/c/{h}?show={}", limit + PAGE_MESSAGES), earlier)),
            handle: h,
            with,
            messages: rows,
            draft: draft.text,
            tlps,
            removed: case.as_ref().is_some_and(|k| k.removed),
            reply_to,
            case,
        },
    )
}

/// How a conversation's page shows message `m`.
fn msg_row(c: &Ctx<'_>, people: &People, judicial: &Grants, m: &MessageView) -> MsgRow {
    let note = if let Some(e) = &m.error {
        Some(c.tr.t1("msg-rejected", "reason", e))
    } else if m.destroyed_at.is_some() {
        Some(c.tr.t("msg-destroyed"))
    } else {
        None
    };
    MsgRow {
        handle: c.handle(&format!("m:{}", m.id)),
        from: people.who(&m.from),
        mine: !m.is_incoming(),
        time: show(&m.sent_at, &people.tz),
        tlp: tlp(c.tr, &m.handling.tlp),
        withheld: m.withheld,
        explained: m.handling.explained.clone(),
        text: m.text.clone(),
        note,
        receipts: m
            .receipts
            .iter()
            .map(|r| ReceiptShown {
                name: people.who(&r.recipient).name,
                delivered: r.delivered_at.as_deref().map(|t| show(t, &people.tz)),
                acknowledged: r.acknowledged_at.as_deref().map(|t| show(t, &people.tz)),
            })
            .collect(),
        grants: m
            .forwarded_with_consent
            .iter()
            .map(|g| {
                (
                    people.who(&g.by).name,
                    g.conditions.trim().to_owned(),
                    g.valid_until.as_deref().map(|t| show(t, &people.tz)),
                )
            })
            .collect(),
        forwardable: m.is_incoming() && m.text.is_some() && m.verified,
        evidence: (m.is_incoming() && m.verified && m.kind == "text")
            .then(|| exportable(m, judicial)),
        files: crate::files::shown(&m.attachments),
        replyable: m.verified && m.text.is_some() && shown_kind(&m.kind),
    }
}

async fn send(State(state): State<Arc<AppState>>, req: axum::extract::Request) -> Response {
    let (c, posted) = match crate::files::posted(&state, req).await {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let form = &posted.form;
    let attach = posted.files.clone();
    let conversation = form
        .one("c")
        .filter(|h| !h.is_empty())
        .map(|h| (h, c.resolve(h, 'c')));
    let back = match conversation {
        Some((h, _)) => format!("/c/{h}"),
        None => "/compose".to_owned(),
    };
    let text = form.one("text").unwrap_or_default().to_owned();
    if text.trim().is_empty() && attach.is_empty() {
        c.flash(c.tr.t("compose-need-text"));
        return see_other(&back);
    }
    let label = form.one("tlp").unwrap_or(DEFAULT_TLP);
    let Some(handling) = TLP_CHOICES
        .iter()
        .find(|(l, _)| *l == label)
        .and_then(|(l, _)| Handling::parse_text(l).ok())
    else {
        return c.refused();
    };
    let mut to = Vec::new();
    let mut conv_id = None;
    match conversation {
        Some((_, Some(conv)))
            if let Some(case) = ConversationId::from_hex(&conv)
                && matches!(
                    c.ask(Request::CaseShow { case }).await,
                    Ok(Answer::Case { .. })
                ) =>
        {
            // A case's message goes to its members, as the agent knows
            // them (it refuses if this officer is no longer one); a reply
            // quotes the message it answers when every member got it.
            let reply_to = form
                .one("r")
                .filter(|r| !r.is_empty())
                .and_then(|r| c.resolve(r, 'm'))
                .and_then(|id| MessageId::from_hex(&id));
            let request = Request::CaseSend {
                case,
                text,
                handling: Some(handling),
                attach,
                reply_to,
            };
            return case_send(&c, form, &back, request).await;
        }
        Some((_, Some(conv))) => {
            // A reply goes to everyone else in the conversation.
            let Some(conv) = ConversationId::from_hex(&conv) else {
                return not_found().await;
            };
            match c
                .ask(Request::Conversation {
                    conversation: conv,
                    limit: 0,
                })
                .await
            {
                Ok(Answer::Conversation { conversation, .. }) => to.extend(
                    conversation
                        .with
                        .iter()
                        .filter_map(|id| DirectoryId::parse(id).ok()),
                ),
                Ok(_) | Err((ErrorCode::NotFound, _)) => return not_found().await,
                Err((_, e)) => return failed(c.tr, &e),
            }
            conv_id = Some(conv);
        }
        Some((_, None)) => return not_found().await,
        None => to.extend(
            form.all("to")
                .filter_map(|h| c.resolve(h, 'p'))
                .filter_map(|id| DirectoryId::parse(&id).ok()),
        ),
    }
    if to.is_empty() {
        c.flash(c.tr.t("compose-need-recipient"));
        c.keep_draft(&back, form);
        return see_other(&back);
    }
    if let Some(held) = held_by_new_device(&c, &to).await {
        c.flash(held);
        c.keep_draft(&back, form);
        return see_other(&back);
    }
    let (conv, flash) = match c
        .ask(Request::Send {
            to: to.clone(),
            text,
            handling,
            conversation: conv_id,
            attach,
        })
        .await
    {
        Ok(Answer::Sent { conversation, .. }) => (conversation, c.tr.t("msg-sent")),
        Ok(Answer::Queued { conversation, .. }) => (conversation, c.tr.t("msg-queued")),
        Ok(_) => return see_other("/"),
        Err((code, e)) => {
            c.flash(
                held_by_key_change(&c, code, &to)
                    .await
                    .unwrap_or_else(|| c.tr.t1("send-failed", "reason", &e)),
            );
            c.keep_draft(&back, form);
            return see_other(&back);
        }
    };
    c.flash(flash);
    match conv {
        Some(conv) => see_other(&format!("/c/{}", c.handle(&format!("c:{conv}")))),
        None => see_other("/"),
    }
}

/// Send `request` (a `case-send`) and go back to the case, saying how it went.
async fn case_send(c: &Ctx<'_>, form: &Form, back: &str, request: Request) -> Response {
    match c.ask(request).await {
        Ok(Answer::Queued { .. }) => c.flash(c.tr.t("msg-queued")),
        Ok(_) => c.flash(c.tr.t("msg-sent")),
        Err((_, e)) => {
            c.flash(c.tr.t1("send-failed", "reason", &e));
            c.keep_draft(back, form);
        }
    }
    see_other(back)
}
