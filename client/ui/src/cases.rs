//! Cases in the app: the list, the form that opens one, and the changes of
//! members its owner makes from the case's conversation page.
//!
//! The rules are the agent's operations (`case-list`, `case-show`,
//! `case-new`, `case-add`, `case-remove`, `case-send`), the same the
//! command line uses: only the owner adds and removes members, every
//! change is a signed message every member sees, a member added later gets
//! nothing from before, a removed one nothing further.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use liaison_client::agent::api::{Request, Response as Answer};
use liaison_client::agent::views::{CaseView, RoleView};
use liaison_protocol::handling::Handling;
use liaison_protocol::{ConversationId, DirectoryId};

use crate::pages::{
    Ctx, DEFAULT_TLP, Form, Page, People, Pick, TLP_CHOICES, Tlp, Who, failed, html, not_found,
    picks, see_other, tlp, tlp_choices,
};
use crate::state::AppState;

/// The routes of this module.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/cases", get(list))
        .route("/cases/new", get(new_form).post(new))
        .route("/cases/member", post(member))
}

/// A row of the case list.
#[derive(Debug)]
pub struct CaseRow {
    /// Handle of its conversation.
    pub handle: String,
    /// Title.
    pub title: String,
    /// The national case number, if any.
    pub reference: Option<String>,
    /// Its default handling.
    pub tlp: Tlp,
    /// The owner.
    pub owner: Who,
    /// How many members.
    pub members: usize,
    /// This officer was removed from it.
    pub removed: bool,
    /// Received messages in it whose handling is not acknowledged yet.
    pub unread: usize,
}

/// What a case's conversation page shows of the case.
#[derive(Debug)]
pub struct CaseShown {
    /// Title.
    pub title: String,
    /// The national case number, if any.
    pub reference: Option<String>,
    /// The owner.
    pub owner: Who,
    /// This officer owns it (and may add and remove members).
    pub mine: bool,
    /// This officer was removed from it: nothing further reaches them.
    pub removed: bool,
    /// Members: (handle, who, whether it is a role).
    pub members: Vec<(String, Who, bool)>,
    /// Whom the owner may add (focal points and roles not members yet).
    pub addable: Vec<Pick>,
    /// Its default handling's label.
    pub tlp: String,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct ListTpl<'a> {
    p: Page<'a>,
    rows: Vec<CaseRow>,
}

#[derive(Template)]
#[template(path = "case_new.html")]
struct NewTpl<'a> {
    p: Page<'a>,
    query: String,
    picks: Vec<(Pick, bool)>,
    title: String,
    reference: String,
    tlps: Vec<(Tlp, bool, bool)>,
}

/// A focal point or role as a case shows them, and whether it is a role.
fn member_who(people: &People, roles: &[RoleView], id: &str) -> (Who, bool) {
    match roles.iter().find(|r| r.id == id) {
        Some(r) => (
            Who {
                name: if r.name.is_empty() {
                    id.to_owned()
                } else {
                    r.name.clone()
                },
                agency: String::new(),
                country: r.country.clone(),
            },
            true,
        ),
        None => (people.who(id), false),
    }
}

async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let cases = match c.ask(Request::CaseList).await {
        Ok(Answer::Cases { cases }) => cases,
        Ok(_) => Vec::new(),
        Err((_, e)) => return failed(c.tr, &e),
    };
    // Unread counts, from the conversation list (a case's conversation
    // has the case's id).
    let unread: std::collections::HashMap<String, usize> = match c.ask(Request::Conversations).await
    {
        Ok(Answer::Conversations { conversations }) => conversations
            .into_iter()
            .map(|v| (v.conversation, v.unread))
            .collect(),
        _ => Default::default(),
    };
    let rows = cases
        .iter()
        .map(|k| CaseRow {
            unread: unread.get(&k.id).copied().unwrap_or(0),
            handle: c.handle(&format!("c:{}", k.id)),
            title: k.title.clone(),
            reference: k.reference.clone(),
            tlp: tlp(c.tr, &k.handling.tlp),
            owner: people.who(&k.owner),
            members: k.members.len(),
            removed: k.removed,
        })
        .collect();
    let p = c.page_for(&people).await;
    html(StatusCode::OK, &ListTpl { p, rows })
}

async fn new_form(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let asked = Form::parse(uri.query().unwrap_or_default().as_bytes());
    let query = asked.one("q").unwrap_or_default().trim().to_owned();
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let draft = c.take_draft("/cases/new").unwrap_or_default();
    let picks = match picks(&c, &people, &query, &draft.to).await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    // The title and reference of a form that was refused come back in the
    // draft's text, one per line.
    let mut kept = draft.text.splitn(2, '\n');
    let title = kept.next().unwrap_or_default().to_owned();
    let reference = kept.next().unwrap_or_default().to_owned();
    let tlps = tlp_choices(
        c.tr,
        Some(if draft.tlp.is_empty() {
            "AMBER"
        } else {
            &draft.tlp
        }),
    );
    let p = c.page_for(&people).await;
    html(
        StatusCode::OK,
        &NewTpl {
            p,
            query,
            picks,
            title,
            reference,
            tlps,
        },
    )
}

/// The handling a form chose (one of the TLP labels offered).
fn chosen_handling(form: &Form) -> Option<Handling> {
    let label = form.one("tlp").unwrap_or(DEFAULT_TLP);
    TLP_CHOICES
        .iter()
        .find(|(l, _)| *l == label)
        .and_then(|(l, _)| Handling::parse_text(l).ok())
}

async fn new(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let back = "/cases/new";
    let keep = |c: &Ctx<'_>, form: &Form| {
        let title = form.one("title").unwrap_or_default().trim();
        let reference = form.one("reference").unwrap_or_default().trim();
        let kept = Form::from_pairs(
            std::iter::once(("text".to_owned(), format!("{title}\n{reference}")))
                .chain(form.all("to").map(|t| ("to".to_owned(), t.to_owned())))
                .chain(form.one("tlp").map(|t| ("tlp".to_owned(), t.to_owned())))
                .collect(),
        );
        c.keep_draft(back, &kept);
    };
    let title = form.one("title").unwrap_or_default().trim().to_owned();
    if title.is_empty() {
        c.flash(c.tr.t("cases-need-title"));
        keep(&c, &form);
        return see_other(back);
    }
    let Some(handling) = chosen_handling(&form) else {
        return c.refused();
    };
    let members: Vec<DirectoryId> = form
        .all("to")
        .filter_map(|h| c.resolve(h, 'p'))
        .filter_map(|id| DirectoryId::parse(&id).ok())
        .collect();
    if members.is_empty() {
        c.flash(c.tr.t("cases-need-member"));
        keep(&c, &form);
        return see_other(back);
    }
    let reference = form
        .one("reference")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    match c
        .ask(Request::CaseNew {
            title,
            reference,
            handling,
            members,
        })
        .await
    {
        Ok(Answer::CaseOpened { case }) => {
            c.flash(c.tr.t("cases-opened"));
            see_other(&format!("/c/{}", c.handle(&format!("c:{case}"))))
        }
        Ok(_) => see_other("/cases"),
        Err((_, e)) => {
            c.flash(c.tr.t1("cases-open-failed", "reason", &e));
            keep(&c, &form);
            see_other(back)
        }
    }
}

/// `POST /cases/member`: the owner adds (`add` = a focal point's or
/// role's handle) or removes (`remove` = a member's handle) a member.
async fn member(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let Some(h) = form.one("c").map(str::to_owned) else {
        return not_found().await;
    };
    let Some(case) = c
        .resolve(&h, 'c')
        .and_then(|id| ConversationId::from_hex(&id))
    else {
        return not_found().await;
    };
    let target = |name: &str| {
        form.one(name)
            .and_then(|p| c.resolve(p, 'p'))
            .and_then(|id| DirectoryId::parse(&id).ok())
    };
    let (request, done) = if let Some(id) = target("add") {
        (Request::CaseAdd { case, id }, "cases-member-added")
    } else if let Some(id) = target("remove") {
        (Request::CaseRemove { case, id }, "cases-member-removed")
    } else {
        c.flash(c.tr.t("cases-need-member"));
        return see_other(&format!("/c/{h}"));
    };
    match c.ask(request).await {
        Ok(_) => c.flash(c.tr.t(done)),
        Err((_, e)) => c.flash(c.tr.t1("cases-change-failed", "reason", &e)),
    }
    see_other(&format!("/c/{h}"))
}

/// The case whose conversation is `conv`, as its page shows it; `None`
/// when it is not a case's.
pub(crate) async fn shown(c: &Ctx<'_>, people: &People, conv: ConversationId) -> Option<CaseShown> {
    let case: CaseView = match c.ask(Request::CaseShow { case: conv }).await {
        Ok(Answer::Case { case }) => *case,
        _ => return None,
    };
    let roles = match c.ask(Request::Roles).await {
        Ok(Answer::Roles { roles }) => roles,
        _ => Vec::new(),
    };
    let mine = case.owner == people.me;
    let members = case
        .members
        .iter()
        .map(|id| {
            let (who, role) = member_who(people, &roles, id);
            (c.handle(&format!("p:{id}")), who, role)
        })
        .collect();
    let addable = if mine && !case.removed {
        let mut all = picks(c, people, "", &[]).await.unwrap_or_default();
        all.retain(|(k, _)| {
            c.resolve(&k.handle, 'p')
                .is_some_and(|id| !case.members.contains(&id))
        });
        all.into_iter().map(|(k, _)| k).collect()
    } else {
        Vec::new()
    };
    Some(CaseShown {
        title: case.title.clone(),
        reference: case.reference.clone(),
        owner: people.who(&case.owner),
        mine,
        removed: case.removed,
        members,
        addable,
        tlp: case.handling.tlp.clone(),
    })
}
