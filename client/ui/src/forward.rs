//! Forwarding a received message, with the dissemination scope checked
//! live as recipients are chosen; asking the originator for consent when
//! the scope refuses; and the consent inbox where an originator grants
//! (with conditions and a validity) or refuses.
//!
//! The rules live in the agent's operations (`forward-check`, `forward`,
//! `consent-request`, `consent-grant`, `consent-refuse`), the same the
//! command line uses: this module only asks and shows.

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use liaison_client::agent::api::{Request, Response as Answer};
use liaison_client::agent::views::{ContactFilter, ForwardCheckView};
use liaison_protocol::consent::ConsentScope;
use liaison_protocol::{DirectoryId, MessageId, Timestamp};

use crate::i18n::Tr;
use crate::pages::{
    Ctx, Form, Page, People, Pick, Tlp, Who, failed, held_by_new_device, html, not_found,
    see_other, tlp,
};
use crate::state::AppState;
use crate::time::{Shown, show};

/// The routes of this module.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/forward/{h}", get(forward_page))
        .route("/forward/check", post(check))
        .route("/forward", post(forward))
        .route("/consent/ask", post(ask_consent))
        .route("/consents", get(consents))
        .route("/consent/grant", post(grant))
        .route("/consent/refuse", post(refuse))
        .route("/contact/accept", post(accept_key))
        .route("/contact/devices-seen", post(devices_seen))
}

/// A recipient the scope refuses, and why in plain words.
#[derive(Debug)]
pub struct Refused {
    /// Who.
    pub who: Who,
    /// The rule, in words.
    pub rule: String,
}

/// The scope check of the recipients chosen so far.
#[derive(Debug, Default)]
pub struct Verdict {
    /// A check ran (some recipients are chosen).
    pub ran: bool,
    /// Allowed recipients.
    pub allowed: Vec<Who>,
    /// Refused ones.
    pub refused: Vec<Refused>,
    /// The originator, who can consent (when a consent would help).
    pub originator: Option<Who>,
}

#[derive(Template)]
#[template(path = "forward.html")]
struct ForwardTpl<'a> {
    p: Page<'a>,
    handle: String,
    from: Who,
    tlp: Tlp,
    text: String,
    query: String,
    picks: Vec<(Pick, bool)>,
    verdict: Verdict,
    note: String,
}

/// A consent request as the inbox shows it.
#[derive(Debug)]
pub struct ConsentRow {
    /// Handle of the request.
    pub handle: String,
    /// Who asked (or whom we asked).
    pub who: Who,
    /// What is asked for, in words.
    pub scope: String,
    /// Why.
    pub reason: String,
    /// The message concerned, if held: its handling and time.
    pub about: Option<(Tlp, Shown)>,
    /// `granted`/`refused` in words, once decided.
    pub decision: Option<String>,
    /// The decision's conditions or reason.
    pub conditions: String,
}

#[derive(Template)]
#[template(path = "consents.html")]
struct ConsentsTpl<'a> {
    p: Page<'a>,
    asked_of_me: Vec<ConsentRow>,
    decided: Vec<ConsentRow>,
    mine: Vec<ConsentRow>,
}

/// The message behind handle `h`, if this session knows it.
fn message_of(c: &Ctx<'_>, h: &str) -> Option<MessageId> {
    c.resolve(h, 'm').and_then(|id| MessageId::from_hex(&id))
}

/// The chosen recipients (handles and ids), in the order given.
fn chosen(c: &Ctx<'_>, form: &Form) -> Vec<(String, DirectoryId)> {
    let mut seen = BTreeSet::new();
    form.all("to")
        .filter(|h| seen.insert(h.to_owned()))
        .filter_map(|h| {
            let id = c.resolve(h, 'p')?;
            Some((h.to_owned(), DirectoryId::parse(&id).ok()?))
        })
        .collect()
}

/// The refusal rule in the officer's language.
fn rule_words(tr: Tr<'_>, people: &People, v: &ForwardCheckView) -> String {
    let who = people.who(&v.recipient);
    let (fa, fc) = v.forwarder.clone().unwrap_or_default();
    let (ra, rc) = v.recipient_agency.clone().unwrap_or_default();
    let key = match v.rule.as_deref() {
        Some("tlp-red") => "fwd-rule-red",
        Some("tlp-amber-strict") => "fwd-rule-amber-strict",
        Some("tlp-amber") => "fwd-rule-amber",
        Some("onward-with-consent") => "fwd-rule-onward",
        Some("retention-ended") => "fwd-rule-expired",
        _ => "fwd-rule-other",
    };
    tr.args(
        key,
        &[
            ("name", &who.name),
            ("my_agency", &fa),
            ("my_country", &fc),
            ("their_agency", &ra),
            ("their_country", &rc),
        ],
    )
}

/// Run the scope check of forwarding `id` to `to`.
async fn verdict(
    c: &Ctx<'_>,
    people: &People,
    id: MessageId,
    to: Vec<DirectoryId>,
) -> Result<(Verdict, Vec<ForwardCheckView>), String> {
    if to.is_empty() {
        return Ok((Verdict::default(), Vec::new()));
    }
    let checks = match c.ask(Request::ForwardCheck { id, to }).await {
        Ok(Answer::ForwardChecked { checks }) => checks,
        Ok(_) => Vec::new(),
        Err((_, e)) => return Err(e),
    };
    let mut v = Verdict {
        ran: true,
        ..Verdict::default()
    };
    for x in &checks {
        if x.allowed {
            v.allowed.push(people.who(&x.recipient));
        } else {
            v.refused.push(Refused {
                who: people.who(&x.recipient),
                rule: rule_words(c.tr, people, x),
            });
            if x.consent_scope.is_some() {
                v.originator = x.originator.as_deref().map(|o| people.who(o));
            }
        }
    }
    Ok((v, checks))
}

/// Render the forward page of the message behind `h`.
async fn render(
    c: &mut Ctx<'_>,
    h: &str,
    query: &str,
    form: Option<&Form>,
    status: StatusCode,
) -> Response {
    let Some(id) = message_of(c, h) else {
        return not_found().await;
    };
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let message = match c.message(id).await {
        Ok(m) => m,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let Some(m) = message else {
        return not_found().await;
    };
    let to = form.map(|f| chosen(c, f)).unwrap_or_default();
    let (verdict, _) = match verdict(
        c,
        &people,
        id,
        to.iter().map(|(_, id)| id.clone()).collect(),
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return failed(c.tr, &e),
    };
    let filter = ContactFilter {
        name: (!query.is_empty()).then(|| query.to_owned()),
        ..ContactFilter::default()
    };
    let contacts = match c.ask(Request::Contacts { filter }).await {
        Ok(Answer::Contacts { contacts, .. }) => contacts,
        Ok(_) => Vec::new(),
        Err((_, e)) => return failed(c.tr, &e),
    };
    let chosen_ids: BTreeSet<String> = to.iter().map(|(_, id)| id.to_string()).collect();
    let mut picks: Vec<(Pick, bool)> = contacts
        .iter()
        .filter(|x| x.id != people.me && x.active)
        .map(|x| {
            (
                Pick {
                    handle: c.handle(&format!("p:{}", x.id)),
                    who: people.who(&x.id),
                },
                chosen_ids.contains(&x.id),
            )
        })
        .collect();
    // Chosen recipients a new search no longer matches stay chosen.
    for id in &chosen_ids {
        if !picks
            .iter()
            .any(|(p, _)| c.resolve(&p.handle, 'p').as_ref() == Some(id))
        {
            picks.push((
                Pick {
                    handle: c.handle(&format!("p:{id}")),
                    who: people.who(id),
                },
                true,
            ));
        }
    }
    picks.sort_by(|a, b| a.0.who.name.cmp(&b.0.who.name));
    let note = form
        .and_then(|f| f.one("note"))
        .unwrap_or_default()
        .to_owned();
    let p = c.page_for(&people).await;
    html(
        status,
        &ForwardTpl {
            tlp: tlp(p.tr, &m.handling.tlp),
            from: people.who(m.original_from.as_deref().unwrap_or(&m.from)),
            text: m.text.clone().unwrap_or_default(),
            p,
            handle: h.to_owned(),
            query: query.to_owned(),
            picks,
            verdict,
            note,
        },
    )
}

async fn forward_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(h): Path<String>,
    uri: Uri,
) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let query = Form::parse(uri.query().unwrap_or_default().as_bytes())
        .one("q")
        .unwrap_or_default()
        .trim()
        .to_owned();
    render(&mut c, &h, &query, None, StatusCode::OK).await
}

/// The live scope check: the forward page with the verdict for the
/// recipients chosen so far (htmx swaps in its `#scope`).
async fn check(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (mut c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let h = form.one("m").unwrap_or_default().to_owned();
    render(&mut c, &h, "", Some(&form), StatusCode::OK).await
}

async fn forward(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (mut c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let h = form.one("m").unwrap_or_default().to_owned();
    let Some(id) = message_of(&c, &h) else {
        return not_found().await;
    };
    let to: Vec<DirectoryId> = chosen(&c, &form).into_iter().map(|(_, id)| id).collect();
    if to.is_empty() {
        c.flash(c.tr.t("compose-need-recipient"));
        return render(
            &mut c,
            &h,
            "",
            Some(&form),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    if let Some(held) = held_by_new_device(&c, &to).await {
        c.flash(held);
        return render(&mut c, &h, "", Some(&form), StatusCode::CONFLICT).await;
    }
    // The same check the forward makes: a refusal shows the rule and the
    // way to ask for consent, rather than an error.
    let refused = match c.ask(Request::ForwardCheck { id, to: to.clone() }).await {
        Ok(Answer::ForwardChecked { checks }) => checks.iter().any(|x| !x.allowed),
        Ok(_) => false,
        Err((_, e)) => return failed(c.tr, &e),
    };
    if refused {
        return render(&mut c, &h, "", Some(&form), StatusCode::CONFLICT).await;
    }
    let note = form.one("note").unwrap_or_default().to_owned();
    match c
        .ask(Request::Forward {
            id,
            to,
            handling: None,
            note,
        })
        .await
    {
        Ok(_) => {
            c.flash(c.tr.t("fwd-done"));
            back_to_conversation(&c, id).await
        }
        Err((_, e)) => {
            c.flash(c.tr.t1("fwd-failed", "reason", &e));
            render(&mut c, &h, "", Some(&form), StatusCode::BAD_GATEWAY).await
        }
    }
}

/// The conversation of message `id`, or the list.
async fn back_to_conversation(c: &Ctx<'_>, id: MessageId) -> Response {
    let conv = c.message(id).await.ok().flatten().map(|m| m.conversation);
    match conv {
        Some(conv) => see_other(&format!("/c/{}", c.handle(&format!("c:{conv}")))),
        None => see_other("/"),
    }
}

/// Ask the originator for the consent the refused recipients need (the
/// same request as `liaison consent request ID --scope forward:...`).
async fn ask_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (mut c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let h = form.one("m").unwrap_or_default().to_owned();
    let Some(id) = message_of(&c, &h) else {
        return not_found().await;
    };
    let reason = form.one("reason").unwrap_or_default().trim().to_owned();
    if reason.is_empty() {
        c.flash(c.tr.t("consent-need-reason"));
        return render(
            &mut c,
            &h,
            "",
            Some(&form),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let to: Vec<DirectoryId> = chosen(&c, &form).into_iter().map(|(_, id)| id).collect();
    let checks = match c.ask(Request::ForwardCheck { id, to }).await {
        Ok(Answer::ForwardChecked { checks }) => checks,
        Ok(_) => Vec::new(),
        Err((_, e)) => return failed(c.tr, &e),
    };
    // The scope each refusal names, merged into one request.
    let mut recipients = Vec::new();
    for x in &checks {
        if let Some(ConsentScope::Forward { recipients: r }) = x
            .consent_scope
            .as_deref()
            .and_then(|s| ConsentScope::parse_text(s).ok())
        {
            recipients.extend(r);
        }
    }
    if recipients.is_empty() {
        return render(&mut c, &h, "", Some(&form), StatusCode::CONFLICT).await;
    }
    let scope = ConsentScope::Forward { recipients };
    match c.ask(Request::ConsentRequest { id, scope, reason }).await {
        Ok(_) => {
            c.flash(c.tr.t("consent-asked"));
            see_other("/consents")
        }
        Err((_, e)) => {
            c.flash(c.tr.t1("fwd-failed", "reason", &e));
            render(&mut c, &h, "", Some(&form), StatusCode::BAD_GATEWAY).await
        }
    }
}

/// A consent scope in words.
fn scope_words(tr: Tr<'_>, people: &People, scope: &str) -> String {
    match ConsentScope::parse_text(scope) {
        Ok(ConsentScope::Forward { recipients }) => {
            let names: Vec<String> = recipients
                .iter()
                .map(|r| people.who(r.as_str()).labelled())
                .collect();
            tr.t1("consent-scope-forward", "names", &names.join(", "))
        }
        Ok(ConsentScope::JudicialUse { case_reference }) => {
            tr.t1("consent-scope-judicial", "case", &case_reference)
        }
        _ => scope.to_owned(),
    }
}

async fn consents(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let list = match c.ask(Request::ConsentList).await {
        Ok(Answer::Consents { consents }) => consents,
        Ok(_) => Vec::new(),
        Err((_, e)) => return failed(c.tr, &e),
    };
    let (mut asked_of_me, mut decided, mut mine) = (Vec::new(), Vec::new(), Vec::new());
    for x in list {
        let message = match MessageId::from_hex(&x.message) {
            Some(id) => c.message(id).await.ok().flatten(),
            None => None,
        };
        let about = message
            .as_ref()
            .map(|m| (tlp(c.tr, &m.handling.tlp), show(&m.sent_at, &people.tz)));
        let who = if x.we_asked {
            // We asked the originator: the sender of the message (a
            // request about a forward we hold names no one here).
            message
                .as_ref()
                .map(|m| people.who(m.original_from.as_deref().unwrap_or(&m.from)))
                .unwrap_or_else(|| people.who(""))
        } else {
            people.who(x.requested_by.as_deref().unwrap_or_default())
        };
        let row = ConsentRow {
            handle: c.handle(&format!("r:{}", x.request)),
            who,
            scope: scope_words(c.tr, &people, x.scope.as_deref().unwrap_or_default()),
            reason: x.reason.clone().unwrap_or_default(),
            about,
            decision: x.decision.as_deref().map(|d| {
                if d == "granted" {
                    c.tr.t("consent-granted")
                } else {
                    c.tr.t("consent-refused")
                }
            }),
            conditions: x.conditions.clone().unwrap_or_default(),
        };
        match (x.we_asked, x.decision.is_some()) {
            (true, _) => mine.push(row),
            (false, false) => asked_of_me.push(row),
            (false, true) => decided.push(row),
        }
    }
    let p = c.page_for(&people).await;
    html(
        StatusCode::OK,
        &ConsentsTpl {
            p,
            asked_of_me,
            decided,
            mine,
        },
    )
}

/// The request behind handle `h`.
fn request_of(c: &Ctx<'_>, h: &str) -> Option<[u8; 16]> {
    let hex = c.resolve(h, 'r')?;
    let bytes = hex::decode(hex).ok()?;
    bytes.try_into().ok()
}

async fn grant(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    decide(state, headers, body, true).await
}

async fn refuse(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    decide(state, headers, body, false).await
}

/// Grant or refuse a consent request (`liaison consent grant` or
/// `consent refuse`).
async fn decide(state: Arc<AppState>, headers: HeaderMap, body: Bytes, granted: bool) -> Response {
    let (c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let Some(request) = form.one("r").and_then(|h| request_of(&c, h)) else {
        return not_found().await;
    };
    let words = form
        .one(if granted { "conditions" } else { "reason" })
        .unwrap_or_default()
        .trim()
        .to_owned();
    let req = if granted {
        let valid_until = match form.one("valid_until").map(str::trim) {
            None | Some("") => None,
            Some(t) => match Timestamp::parse_rfc3339(t) {
                Some(t) => Some(t),
                None => {
                    c.flash(c.tr.t("consent-bad-date"));
                    return see_other("/consents");
                }
            },
        };
        Request::ConsentGrant {
            request,
            conditions: words,
            valid_until,
        }
    } else {
        Request::ConsentRefuse {
            request,
            reason: words,
        }
    };
    match c.ask(req).await {
        Ok(_) => c.flash(c.tr.t(if granted {
            "consent-grant-sent"
        } else {
            "consent-refuse-sent"
        })),
        Err((_, e)) => c.flash(c.tr.t1("fwd-failed", "reason", &e)),
    }
    see_other("/consents")
}

/// "I have checked": accept a contact's changed identity key, as
/// `liaison contacts accept ID` does; sending to them works again and the
/// messages held from them are opened.
async fn accept_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    on_contact(&state, &headers, &body, "key-changed-accepted", |id| {
        Request::ContactAccept { id }
    })
    .await
}

/// The officer noted a contact's new devices (the banner's button): the
/// app sends to them again.
async fn devices_seen(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    on_contact(&state, &headers, &body, "device-new-noted", |id| {
        Request::ContactDevicesSeen { id }
    })
    .await
}

/// A banner's button about the contact of form field `p`: ask the agent
/// `op` for them, say `done` (with their name) or why it failed, and go
/// back to the page the banner was on.
async fn on_contact(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    done: &str,
    op: impl FnOnce(DirectoryId) -> Request,
) -> Response {
    let (c, form) = match Ctx::posted(state, headers, body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let Some(id) = form
        .one("p")
        .and_then(|h| c.resolve(h, 'p'))
        .and_then(|id| DirectoryId::parse(&id).ok())
    else {
        return not_found().await;
    };
    let name = match c.people().await {
        Ok(people) => people.who(id.as_str()).name,
        Err(_) => id.to_string(),
    };
    match c.ask(op(id)).await {
        Ok(_) => c.flash(c.tr.t1(done, "name", &name)),
        Err((_, e)) => c.flash(c.tr.t1("fwd-failed", "reason", &e)),
    }
    see_other(&back_to_referrer(headers))
}

/// The path of the page a form was posted from (same origin: the Origin
/// check passed), or the conversation list.
fn back_to_referrer(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.parse::<Uri>().ok())
        .map(|u| u.path().to_owned())
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/".to_owned())
}
