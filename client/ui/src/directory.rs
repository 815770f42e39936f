//! The directory: focal points found by name and country, and a contact's
//! card (who vouched for them and since when, roles held and their place
//! in the on-call order, working hours and local time now, the safety
//! number to compare in person, read out or as a QR code the other
//! officer's app scans, and the in-person check that marks the contact
//! verified).
//!
//! Everything comes from the agent's `contacts`, `roles` and
//! `safety-number` operations (`liaison contacts`, `roles`,
//! `safety-number`).

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use liaison_client::agent::api::{ErrorCode, Request, Response as Answer};
use liaison_client::agent::views::{ContactFilter, ContactView};
use liaison_protocol::DirectoryId;

use crate::pages::{Ctx, Form, Page, Who, failed, html, not_found, see_other};
use crate::state::AppState;
use crate::time::{Shown, show};

/// The routes of this module.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/directory", get(directory))
        .route("/contact/{h}", get(card))
        .route("/contact/verify", post(verify))
}

/// A row of the directory.
#[derive(Debug)]
pub struct Row {
    /// Handle of the contact.
    pub handle: String,
    /// Who.
    pub who: Who,
    /// Their unit.
    pub unit: String,
    /// Names of the roles they hold.
    pub roles: Vec<String>,
    /// Not active (revoked, expired): the status in words.
    pub inactive: Option<String>,
}

#[derive(Template)]
#[template(path = "directory.html")]
struct DirectoryTpl<'a> {
    p: Page<'a>,
    query: String,
    countries: Vec<(String, bool)>,
    agencies: Vec<(String, bool)>,
    /// (role id, name, chosen).
    roles: Vec<(String, String, bool)>,
    languages: Vec<(String, bool)>,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "contact.html")]
struct CardTpl<'a> {
    p: Page<'a>,
    c: ContactView,
    who: Who,
    vouched_since: Shown,
    valid_until: Shown,
    local_now: Option<String>,
    /// The roles held, each with the place in its on-call order.
    roles: Vec<String>,
    safety_number: String,
    /// The safety number as a QR code (an SVG element drawn here).
    qr: String,
    /// The contact's handle (the verification form names them by it).
    handle: String,
    compose: String,
}

/// What a QR code of ours holds first: then the id of the officer whose
/// app shows it, `:`, and the safety number's digits. An app that scans
/// another code says it is not one of ours; one that scans its own (the
/// safety number is the same on both sides) says so too, so a photo of
/// one's own screen never stands for meeting the contact.
pub const QR_PREFIX: &str = "liaison-safety-number:";

/// The QR code `me` shows of `safety_number` ([`QR_PREFIX`], `me`, `:`,
/// the digits) as an SVG element, drawn with attributes only (the CSP
/// allows no inline style); empty if it cannot be drawn.
fn qr_svg(me: &str, safety_number: &str) -> String {
    let digits: String = safety_number.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return String::new();
    }
    let Ok(code) = qrcode::QrCode::new(format!("{QR_PREFIX}{me}:{digits}")) else {
        return String::new();
    };
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(232, 232)
        .quiet_zone(true)
        .build();
    // The element alone, without the XML declaration before it.
    svg.find("<svg")
        .map(|at| svg[at..].to_owned())
        .unwrap_or_default()
}

/// Why a scanned code is not compared.
enum NotCompared {
    /// Not one of ours (a web address, another app's, another person's).
    NotOurs,
    /// The officer's own code, shown by their own app.
    OwnCode,
}

/// What was compared for `contact`, seen by `me`: the digits read out
/// (spaces and dashes ignored), or those of a code the contact's app
/// shows.
fn compared(text: &str, contact: &str, me: &str) -> Result<String, NotCompared> {
    let text = text.trim();
    match text.strip_prefix(QR_PREFIX) {
        Some(rest) => match rest.rsplit_once(':') {
            Some((shown_by, digits)) if shown_by == contact => Ok(digits.to_owned()),
            Some((shown_by, _)) if shown_by == me => Err(NotCompared::OwnCode),
            _ => Err(NotCompared::NotOurs),
        },
        // Any other scanned code (a web address, another app's) is refused
        // as such, not compared as digits.
        None if text.contains(':') => Err(NotCompared::NotOurs),
        None => Ok(text.to_owned()),
    }
}

/// The in-person check (`liaison contacts verify ID --safety-number`): the
/// number the contact read out, or their code scanned, is compared by the
/// agent with the safety number of this pair; only an equal one marks them
/// verified (and accepts a changed key).
async fn verify(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let h = form.one("p").unwrap_or_default().to_owned();
    let Some(id) = c
        .resolve(&h, 'p')
        .and_then(|id| DirectoryId::parse(&id).ok())
    else {
        return not_found().await;
    };
    let (name, me) = match c.people().await {
        Ok(people) => (people.who(id.as_str()).name, people.me),
        Err(_) => (id.to_string(), String::new()),
    };
    let back = format!("/contact/{h}");
    let number = match compared(form.one("sn").unwrap_or_default(), id.as_str(), &me) {
        Ok(n) => n,
        Err(NotCompared::NotOurs) => {
            c.flash(c.tr.t("verify-not-ours"));
            return see_other(&back);
        }
        Err(NotCompared::OwnCode) => {
            c.flash(c.tr.t1("verify-own-code", "name", &name));
            return see_other(&back);
        }
    };
    if number.trim().is_empty() {
        c.flash(c.tr.t1("verify-empty", "name", &name));
        return see_other(&back);
    }
    let asked = c
        .ask(Request::ContactVerify {
            id,
            safety_number: number,
        })
        .await;
    c.flash(match asked {
        Ok(_) => c.tr.t1("verify-done", "name", &name),
        Err((ErrorCode::Recipient, _)) => c.tr.t1("verify-differs", "name", &name),
        Err((_, e)) => c.tr.t1("fwd-failed", "reason", &e),
    });
    see_other(&back)
}

async fn directory(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let form = Form::parse(uri.query().unwrap_or_default().as_bytes());
    let query = form.one("q").unwrap_or_default().trim().to_owned();
    let country = form
        .one("country")
        .unwrap_or_default()
        .trim()
        .to_uppercase();
    let chosen = |name: &str| {
        Some(form.one(name).unwrap_or_default().trim().to_owned()).filter(|v| !v.is_empty())
    };
    let (agency, role, language) = (chosen("agency"), chosen("role"), chosen("language"));
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let filter = ContactFilter {
        name: (!query.is_empty()).then(|| query.clone()),
        country: (!country.is_empty()).then(|| country.clone()),
        agency: agency.clone(),
        role: role.clone(),
        language: language.clone(),
    };
    let contacts = match c.ask(Request::Contacts { filter }).await {
        Ok(Answer::Contacts { contacts, .. }) => contacts,
        Ok(_) => Vec::new(),
        Err((_, e)) => return failed(c.tr, &e),
    };
    let role_names = role_names(&c).await;
    let mut rows: Vec<Row> = contacts
        .iter()
        .filter(|x| x.id != people.me)
        .map(|x| Row {
            handle: c.handle(&format!("p:{}", x.id)),
            who: people.who(&x.id),
            unit: x.unit.clone(),
            roles: x.roles.iter().map(|r| role_names.name(r)).collect(),
            inactive: (!x.active).then(|| x.status.clone()),
        })
        .collect();
    rows.sort_by(|a, b| a.who.name.cmp(&b.who.name));
    let all: BTreeSet<String> = people
        .by_id
        .values()
        .map(|x| x.country.clone())
        .filter(|x| !x.is_empty())
        .collect();
    let countries = all
        .into_iter()
        .map(|x| {
            let chosen = x == country;
            (x, chosen)
        })
        .collect();
    // The choices of each filter: what the directory holds.
    let options = |values: BTreeSet<String>, picked: &Option<String>| -> Vec<(String, bool)> {
        values
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(|v| {
                let on = picked.as_deref() == Some(v.as_str());
                (v, on)
            })
            .collect()
    };
    let agencies = options(
        people.by_id.values().map(|x| x.agency.clone()).collect(),
        &agency,
    );
    let languages = options(
        people
            .by_id
            .values()
            .flat_map(|x| x.languages.iter().cloned())
            .collect(),
        &language,
    );
    let roles: Vec<(String, String, bool)> = role_names
        .0
        .iter()
        .map(|r| {
            let name = if r.name.is_empty() { &r.id } else { &r.name };
            (
                r.id.clone(),
                format!("{name} ({})", r.country),
                role.as_deref() == Some(r.id.as_str()),
            )
        })
        .collect();
    let p = c.page_for(&people).await;
    html(
        StatusCode::OK,
        &DirectoryTpl {
            p,
            query,
            countries,
            agencies,
            roles,
            languages,
            rows,
        },
    )
}

/// Role ids and their names and holders.
struct Roles(Vec<liaison_client::agent::views::RoleView>);

impl Roles {
    fn name(&self, id: &str) -> String {
        self.0
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.to_owned())
    }
}

async fn role_names(c: &Ctx<'_>) -> Roles {
    match c.ask(Request::Roles).await {
        Ok(Answer::Roles { roles }) => Roles(roles),
        _ => Roles(Vec::new()),
    }
}

async fn card(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(h): Path<String>,
) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Some(id) = c
        .resolve(&h, 'p')
        .and_then(|id| DirectoryId::parse(&id).ok())
    else {
        return not_found().await;
    };
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let contact = match c.ask(Request::ContactShow { id: id.clone() }).await {
        Ok(Answer::Contact { contact }) => *contact,
        Ok(_) => return not_found().await,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let safety_number = match c.ask(Request::SafetyNumber { id: id.clone() }).await {
        Ok(Answer::SafetyNumber { safety_number, .. }) => safety_number,
        _ => String::new(),
    };
    let roles = role_names(&c)
        .await
        .0
        .into_iter()
        .filter_map(|r| {
            let at = r.holders.iter().position(|x| x == id.as_str())?;
            let name = if r.name.is_empty() { &r.id } else { &r.name };
            Some(c.tr.args(
                "card-role-order",
                &[
                    ("role", name),
                    ("country", &r.country),
                    ("order", &(at + 1).to_string()),
                    ("of", &r.holders.len().to_string()),
                ],
            ))
        })
        .collect();
    let local_now = (!contact.time_zone.is_empty())
        .then(|| show(&jiff::Timestamp::now().to_string(), &contact.time_zone).local);
    let who = people.who(id.as_str());
    let compose = format!(
        "/compose?q={}",
        form_urlencoded::byte_serialize(who.name.as_bytes()).collect::<String>()
    );
    let p = c.page_for(&people).await;
    html(
        StatusCode::OK,
        &CardTpl {
            vouched_since: show(&contact.vouched_since, &people.tz),
            valid_until: show(&contact.valid_until, &people.tz),
            c: contact,
            who,
            p,
            local_now,
            roles,
            qr: qr_svg(&people.me, &safety_number),
            handle: h,
            safety_number,
            compose,
        },
    )
}
