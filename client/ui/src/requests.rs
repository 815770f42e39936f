//! Structured requests in the app: the list (overdue first), a request
//! with its fields labelled in the officer's language and every step, the
//! form of a new request (its type's fields), and the steps an officer
//! takes (acknowledge, report progress, answer, decline; withdraw, share
//! the outcome).
//!
//! The rules are the agent's operations (`request-list`, `request-show`,
//! `request-new`, `request-step`), the same the command line uses; a
//! received request's fields stay hidden until its handling is
//! acknowledged (the agent leaves them out until then).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use liaison_client::agent::api::{Request, Response as Answer};
use liaison_client::agent::views::{ContactFilter, RequestView, RoleView};
use liaison_protocol::request::{Priority, RequestType};
use liaison_protocol::{DirectoryId, MessageId};

use crate::pages::{Ctx, Form, Page, People, failed, html, not_found, see_other};
use crate::state::AppState;
use crate::time::{Shown, show};

/// The routes of this module.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/requests", get(list))
        .route(
            "/requests/new",
            get(new_form)
                .post(new)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::files::MAX_UPLOAD,
                )),
        )
        .route("/q/{h}", get(one))
        .route(
            "/requests/step",
            post(step).layer(axum::extract::DefaultBodyLimit::max(
                crate::files::MAX_UPLOAD,
            )),
        )
        .route("/requests/read", post(read))
}

/// The label key of a request type.
fn type_key(t: RequestType) -> &'static str {
    match t {
        RequestType::LocatePerson => "req-type-locate-person",
        RequestType::VerifyIdentity => "req-type-verify-identity",
        RequestType::RecordsCheck => "req-type-records-check",
        RequestType::Statement => "req-type-statement",
        RequestType::CoordinateRescue => "req-type-coordinate-rescue",
        RequestType::VictimSupport => "req-type-victim-support",
        RequestType::MlaAdvanceCopy => "req-type-mla-advance-copy",
        RequestType::Feedback => "req-type-feedback",
    }
}

/// The label key of a field (by its name in the schema).
fn field_key(name: &str) -> Option<&'static str> {
    Some(match name {
        "name" => "req-field-name",
        "date-of-birth" => "req-field-date-of-birth",
        "nationality" => "req-field-nationality",
        "last-known-location" => "req-field-last-known-location",
        "details" => "req-field-details",
        "document-type" => "req-field-document-type",
        "document-number" => "req-field-document-number",
        "subject" => "req-field-subject",
        "record-type" => "req-field-record-type",
        "identifiers" => "req-field-identifiers",
        "period" => "req-field-period",
        "person" => "req-field-person",
        "topic" => "req-field-topic",
        "language" => "req-field-language",
        "location" => "req-field-location",
        "when" => "req-field-when",
        "victims" => "req-field-victims",
        "risks" => "req-field-risks",
        "contact-on-site" => "req-field-contact-on-site",
        "victim" => "req-field-victim",
        "needs" => "req-field-needs",
        "return-to" => "req-field-return-to",
        "case-reference" => "req-field-case-reference",
        "requesting-authority" => "req-field-requesting-authority",
        "measures" => "req-field-measures",
        "offences" => "req-field-offences",
        "about" => "req-field-about",
        _ => return None,
    })
}

/// The label key of a status.
fn status_key(status: &str) -> &'static str {
    match status {
        "acknowledged" => "req-status-acknowledged",
        "in-progress" => "req-status-in-progress",
        "partly-answered" => "req-status-partly-answered",
        "answered" => "req-status-answered",
        "declined" => "req-status-declined",
        "withdrawn" => "req-status-withdrawn",
        _ => "req-status-open",
    }
}

/// The label key of a step.
fn step_key(step: &str) -> &'static str {
    match step {
        "escalate" => "req-step-escalate",
        "acknowledge" => "req-step-acknowledge",
        "progress" => "req-step-progress",
        "answer" => "req-step-answer",
        "partial-answer" => "req-step-partial-answer",
        "decline" => "req-step-decline",
        "withdraw" => "req-step-withdraw",
        "outcome" => "req-step-outcome",
        _ => "req-step-open",
    }
}

/// The label key of a priority.
fn priority_key(p: Priority) -> &'static str {
    match p {
        Priority::Urgent => "req-priority-urgent",
        Priority::High => "req-priority-high",
        Priority::Normal => "req-priority-normal",
    }
}

/// A request as the pages show it.
#[derive(Debug)]
pub struct Row {
    /// Its handle.
    pub handle: String,
    /// "From NAME" or "To NAME".
    pub who: String,
    /// The type, in words.
    pub kind: String,
    /// `urgent`, `high`, `normal` (a class) and the priority in words.
    pub priority: (String, String),
    /// The status, in words.
    pub status: String,
    /// Not acknowledged in time / late, in words.
    pub flag: Option<String>,
    /// When the answer is due, in the officer's time zone.
    pub due: Shown,
}

#[derive(Template)]
#[template(path = "requests.html")]
struct ListTpl<'a> {
    p: Page<'a>,
    rows: Vec<Row>,
}

/// Names for ids: the directory's, a role's, or the id.
struct Names {
    people: People,
    roles: Vec<RoleView>,
}

impl Names {
    async fn load(c: &Ctx<'_>) -> Result<Names, Response> {
        let people = c.people().await.map_err(|(_, e)| failed(c.tr, &e))?;
        let roles = match c.ask(Request::Roles).await {
            Ok(Answer::Roles { roles }) => roles,
            _ => Vec::new(),
        };
        Ok(Names { people, roles })
    }

    fn of(&self, id: &str) -> String {
        match self.roles.iter().find(|r| r.id == id) {
            Some(r) if !r.name.is_empty() => format!("{} ({})", r.name, r.country),
            _ => self.people.who(id).labelled(),
        }
    }
}

fn row(c: &Ctx<'_>, names: &Names, r: &RequestView) -> Row {
    let kind = RequestType::parse(&r.kind);
    let priority = Priority::parse(&r.priority).unwrap_or(Priority::Normal);
    Row {
        handle: c.handle(&format!("q:{}", r.request)),
        who: if r.mine {
            c.tr.t1("req-to-who", "name", &names.of(&r.to))
        } else {
            c.tr.t1("req-from", "name", &names.of(&r.requester))
        },
        kind: kind.map_or_else(|| r.kind.clone(), |t| c.tr.t(type_key(t))),
        priority: (r.priority.clone(), c.tr.t(priority_key(priority))),
        status: c.tr.t(status_key(&r.status)),
        flag: if r.overdue {
            Some(c.tr.t("req-overdue"))
        } else if r.late {
            Some(c.tr.t("req-late"))
        } else {
            None
        },
        due: show(&r.due, &names.people.tz),
    }
}

async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let names = match Names::load(&c).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let requests = match c.ask(Request::RequestList).await {
        Ok(Answer::Requests { requests }) => requests,
        Ok(_) => Vec::new(),
        Err((_, e)) => return failed(c.tr, &e),
    };
    let rows = requests.iter().map(|r| row(&c, &names, r)).collect();
    let p = c.page_for(&names.people).await;
    html(StatusCode::OK, &ListTpl { p, rows })
}

/// A field of the new request form.
#[derive(Debug)]
pub struct FieldInput {
    /// Its name (the form's field is `f-NAME`).
    pub name: String,
    /// Its label.
    pub label: String,
    /// Whether it must be given.
    pub required: bool,
}

#[derive(Template)]
#[template(path = "request_new.html")]
struct NewTpl<'a> {
    p: Page<'a>,
    /// Each type: (name, label, chosen).
    types: Vec<(String, String, bool)>,
    /// The chosen type's name, and its fields.
    chosen: Option<(String, Vec<FieldInput>)>,
    /// Whom to send it to: (handle, name).
    to: Vec<(String, String)>,
    /// (name, label, default) of each priority.
    priorities: Vec<(String, String, bool)>,
}

async fn new_form(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let names = match Names::load(&c).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let query = Form::parse(uri.query().unwrap_or_default().as_bytes());
    let chosen = query.one("type").and_then(RequestType::parse);
    let types = RequestType::ALL
        .iter()
        .map(|t| {
            (
                t.name().to_owned(),
                c.tr.t(type_key(*t)),
                Some(*t) == chosen,
            )
        })
        .collect();
    let chosen = chosen.map(|t| {
        let fields = t
            .fields()
            .iter()
            .map(|f| FieldInput {
                name: f.name.to_owned(),
                label: field_key(f.name).map_or_else(|| f.name.to_owned(), |k| c.tr.t(k)),
                required: f.required,
            })
            .collect();
        (t.name().to_owned(), fields)
    });
    let contacts = match c
        .ask(Request::Contacts {
            filter: ContactFilter::default(),
        })
        .await
    {
        Ok(Answer::Contacts { contacts, .. }) => contacts,
        _ => Vec::new(),
    };
    let mut to: Vec<(String, String)> = names
        .roles
        .iter()
        .map(|r| (c.handle(&format!("p:{}", r.id)), names.of(&r.id)))
        .chain(
            contacts
                .iter()
                .filter(|x| x.id != names.people.me && x.active)
                .map(|x| (c.handle(&format!("p:{}", x.id)), names.of(&x.id))),
        )
        .collect();
    to.sort_by(|a, b| a.1.cmp(&b.1));
    let priorities = Priority::ALL
        .iter()
        .map(|p| {
            (
                p.name().to_owned(),
                c.tr.t(priority_key(*p)),
                *p == Priority::Normal,
            )
        })
        .collect();
    let p = c.page_for(&names.people).await;
    html(
        StatusCode::OK,
        &NewTpl {
            p,
            types,
            chosen,
            to,
            priorities,
        },
    )
}

async fn new(State(state): State<Arc<AppState>>, req: axum::extract::Request) -> Response {
    let (c, posted) = match crate::files::posted(&state, req).await {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let form = &posted.form;
    let Some(kind) = form.one("type").and_then(RequestType::parse) else {
        return c.refused();
    };
    let back = format!("/requests/new?type={}", kind.name());
    let Some(to) = form
        .one("to")
        .and_then(|h| c.resolve(h, 'p'))
        .and_then(|id| DirectoryId::parse(&id).ok())
    else {
        c.flash(c.tr.t("compose-need-recipient"));
        return see_other(&back);
    };
    let fields = kind
        .fields()
        .iter()
        .filter_map(|f| {
            let v = form.one(&format!("f-{}", f.name))?.trim();
            (!v.is_empty()).then(|| (f.name.to_owned(), v.to_owned()))
        })
        .collect();
    if let Some(held) = crate::pages::held_by_new_device(&c, std::slice::from_ref(&to)).await {
        c.flash(held);
        return see_other(&back);
    }
    let names = match Names::load(&c).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let asked = c
        .ask(Request::RequestNew {
            kind: kind.name().to_owned(),
            to: to.clone(),
            priority: form.one("priority").map(str::to_owned),
            due: None,
            acknowledge_within_minutes: None,
            case: None,
            fields,
            text: form.one("text").unwrap_or_default().to_owned(),
            handling: None,
            attach: posted.files.clone(),
        })
        .await;
    match asked {
        Ok(Answer::RequestSent { request, .. }) => {
            c.flash(c.tr.t1("req-sent", "name", &names.of(to.as_str())));
            see_other(&format!(
                "/q/{}",
                c.handle(&format!("q:{}", hex::encode(request)))
            ))
        }
        Ok(_) => see_other("/requests"),
        Err((_, e)) => {
            c.flash(c.tr.t1("req-step-failed", "reason", &e));
            see_other(&back)
        }
    }
}

/// A step as the request's page shows it.
#[derive(Debug)]
pub struct StepRow {
    /// What, in words.
    pub what: String,
    /// Who.
    pub by: String,
    /// When.
    pub at: Shown,
    /// Handle of the message that carried it.
    pub handle: String,
    /// Its words, once the message's handling is acknowledged.
    pub text: Option<String>,
    /// Its files, likewise.
    pub files: Vec<crate::files::FileShown>,
}

#[derive(Template)]
#[template(path = "request.html")]
struct OneTpl<'a> {
    p: Page<'a>,
    handle: String,
    row: Row,
    /// The due time in the other party's time zone, with their name.
    due_theirs: Option<String>,
    /// (label, value) of each field given.
    fields: Vec<(String, String)>,
    /// The fields wait for the handling to be acknowledged: the handle of
    /// the message to accept.
    withheld: Option<String>,
    steps: Vec<StepRow>,
    /// This officer may acknowledge / answer ... (the addressee's side).
    can_ack: bool,
    can_answer: bool,
    /// The requester's side.
    can_withdraw: bool,
    /// After an answer, no outcome yet: the requester is prompted.
    outcome_prompt: Option<String>,
}

async fn one(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(h): Path<String>,
) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Some(request) = c.resolve(&h, 'q').and_then(|id| parse_request(&id)) else {
        return not_found().await;
    };
    let names = match Names::load(&c).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let r = match c.ask(Request::RequestShow { request }).await {
        Ok(Answer::RequestShown { request }) => *request,
        Ok(_) => return not_found().await,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let other = if r.mine { &r.to } else { &r.requester };
    let due_theirs = names
        .people
        .by_id
        .get(other.as_str())
        .filter(|x| !x.time_zone.is_empty() && x.time_zone != names.people.tz)
        .map(|x| {
            c.tr.args(
                "req-due-theirs",
                &[
                    ("when", &show(&r.due, &x.time_zone).local),
                    ("name", &names.of(other)),
                ],
            )
        });
    let fields = r
        .fields
        .iter()
        .map(|(n, v)| {
            (
                field_key(n).map_or_else(|| n.clone(), |k| c.tr.t(k)),
                v.clone(),
            )
        })
        .collect();
    let closed = matches!(r.status.as_str(), "answered" | "declined" | "withdrawn");
    let mut steps = Vec::with_capacity(r.steps.len());
    for s in &r.steps {
        // What the step's message says and carries, as its conversation
        // shows it (nothing while its handling is not acknowledged).
        let shown = match MessageId::from_hex(&s.message) {
            Some(id) => c.message(id).await.ok().flatten(),
            None => None,
        };
        steps.push(StepRow {
            what: c.tr.t(step_key(&s.action)),
            by: names.of(&s.by),
            at: show(&s.at, &names.people.tz),
            handle: c.handle(&format!("m:{}", s.message)),
            text: shown.as_ref().and_then(|m| m.text.clone()),
            files: shown
                .as_ref()
                .map(|m| crate::files::shown(&m.attachments))
                .unwrap_or_default(),
        });
    }
    let withheld = r.withheld.then(|| c.handle(&format!("m:{}", r.message)));
    let answered = matches!(r.status.as_str(), "answered" | "partly-answered");
    let page = OneTpl {
        row: row(&c, &names, &r),
        due_theirs,
        fields,
        withheld,
        steps,
        can_ack: !r.mine && r.status == "open",
        can_answer: !r.mine && !closed,
        can_withdraw: r.mine && !closed,
        outcome_prompt: (r.mine && answered && !r.outcome)
            .then(|| c.tr.t1("req-outcome-prompt", "name", &names.of(&r.to))),
        handle: h,
        p: c.page_for(&names.people).await,
    };
    html(StatusCode::OK, &page)
}

fn parse_request(id: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(id, &mut out).ok()?;
    Some(out)
}

/// A step from the request's page: `step` (`acknowledge`, `progress`,
/// `answer`, `decline`, `withdraw`, `outcome`), with `text`, `reason` and
/// `partial`.
async fn step(State(state): State<Arc<AppState>>, req: axum::extract::Request) -> Response {
    let (c, posted) = match crate::files::posted(&state, req).await {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let form = &posted.form;
    let h = form.one("q").unwrap_or_default().to_owned();
    let Some(request) = c.resolve(&h, 'q').and_then(|id| parse_request(&id)) else {
        return not_found().await;
    };
    let mut name = form.one("step").unwrap_or_default().to_owned();
    if name == "answer" && form.one("partial").is_some() {
        name = "partial-answer".to_owned();
    }
    if !matches!(
        name.as_str(),
        "acknowledge"
            | "progress"
            | "answer"
            | "partial-answer"
            | "decline"
            | "withdraw"
            | "outcome"
    ) {
        return c.refused();
    }
    let asked = c
        .ask(Request::RequestStep {
            request,
            step: name,
            text: form.one("text").unwrap_or_default().to_owned(),
            reason: form.one("reason").map(str::to_owned),
            attach: posted.files.clone(),
        })
        .await;
    c.flash(match asked {
        Ok(_) => c.tr.t("req-step-sent"),
        Err((_, e)) => c.tr.t1("req-step-failed", "reason", &e),
    });
    see_other(&format!("/q/{h}"))
}

/// "I acknowledge the handling" on a received request: the same as
/// reading its message with the handling accepted (a signed receipt goes
/// to the requester); back to the request, now showing its fields.
async fn read(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let h = form.one("q").unwrap_or_default().to_owned();
    if c.resolve(&h, 'q').is_none() {
        return not_found().await;
    }
    let Some(id) = form
        .one("m")
        .and_then(|m| c.resolve(m, 'm'))
        .and_then(|id| MessageId::from_hex(&id))
    else {
        return not_found().await;
    };
    if let Err((_, e)) = c.ask(Request::Read { id, accept: true }).await {
        c.flash(c.tr.t1("req-step-failed", "reason", &e));
    }
    see_other(&format!("/q/{h}"))
}
