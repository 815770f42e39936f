//! The officer's settings (time zone; the language is chosen on every
//! page), this identity's devices (and approving a new one), and the roles
//! the officer holds or held (with the handover of a role's messages).
//!
//! The rules are the agent's operations (`devices`, `device-approve`,
//! `roles`, `handover`), the same the command line uses.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use liaison_client::agent::api::{Request, Response as Answer};
use liaison_protocol::DirectoryId;

use crate::pages::{Ctx, Page, Pick, TZ_COOKIE, Who, failed, html, not_found, see_other};
use crate::state::AppState;
use crate::time::{REGION_ZONES, all_zones, known_zone};

/// The routes of this module.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/settings", get(settings))
        .route("/settings/time-zone", post(time_zone))
        .route("/devices", get(devices))
        .route("/devices/approve", post(approve))
        .route("/roles", get(roles))
        .route("/roles/handover", post(handover))
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsTpl<'a> {
    p: Page<'a>,
    /// The zone times are shown in now.
    current: String,
    /// It comes from the officer's directory record (no choice made).
    from_record: bool,
    region: Vec<(String, bool)>,
    others: Vec<(String, bool)>,
}

async fn settings(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let current = people.tz.clone();
    let from_record = c.tz.is_none();
    let region = REGION_ZONES
        .iter()
        .map(|z| ((*z).to_owned(), !from_record && *z == current))
        .collect();
    let others = all_zones()
        .into_iter()
        .filter(|z| !REGION_ZONES.contains(&z.as_str()))
        .map(|z| {
            let on = !from_record && z == current;
            (z, on)
        })
        .collect();
    let p = c.page_for(&people).await;
    html(
        StatusCode::OK,
        &SettingsTpl {
            p,
            current,
            from_record,
            region,
            others,
        },
    )
}

/// Show times in another zone (a cookie, like the language), or again in
/// the zone of the officer's directory record.
async fn time_zone(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let zone = form.one("tz").unwrap_or_default().trim();
    let cookie = if zone.is_empty() {
        c.flash(c.tr.t("settings-tz-record"));
        format!("{TZ_COOKIE}=; Path=/; SameSite=Strict; Max-Age=0")
    } else if known_zone(zone) {
        c.flash(c.tr.t1("settings-tz-set", "zone", zone));
        format!("{TZ_COOKIE}={zone}; Path=/; SameSite=Strict")
    } else {
        return c.refused();
    };
    let mut r = see_other("/settings");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesTpl<'a> {
    p: Page<'a>,
    /// (fingerprint, this device) of each device the record lists.
    devices: Vec<(String, bool)>,
    /// Why the last approval made nothing.
    error: Option<String>,
    code: String,
    /// This officer's id (the new device asks for it).
    me: String,
}

async fn devices_page(
    c: &mut Ctx<'_>,
    error: Option<String>,
    code: String,
    status: StatusCode,
) -> Response {
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let devices = match c.ask(Request::Devices).await {
        Ok(Answer::Devices { devices }) => devices
            .into_iter()
            .map(|d| (d.fingerprint, d.this_device))
            .collect(),
        Ok(_) => Vec::new(),
        Err((_, e)) => return failed(c.tr, &e),
    };
    let me = people.me.clone();
    let p = c.page_for(&people).await;
    html(
        status,
        &DevicesTpl {
            p,
            devices,
            error,
            code,
            me,
        },
    )
}

async fn devices(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    devices_page(&mut c, None, String::new(), StatusCode::OK).await
}

/// Approve a new device of this officer (the same operation as `liaison
/// device approve REQUEST --code CODE`): the approval is a file to save
/// and take to the new device.
async fn approve(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (mut c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let request = form.one("request").unwrap_or_default().trim().to_owned();
    let code = form.one("code").unwrap_or_default().trim().to_owned();
    if request.is_empty() || code.is_empty() {
        let why = c.tr.t("devices-need-request");
        return devices_page(&mut c, Some(why), code, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match c
        .ask(Request::DeviceApprove {
            request: format!("{request}\n"),
            code: code.clone(),
        })
        .await
    {
        Ok(Answer::DeviceApproved { approval }) => {
            tracing::info!("web app: a device request approved");
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"device.approval\"",
                    ),
                ],
                approval,
            )
                .into_response()
        }
        Ok(_) => see_other("/devices"),
        Err((_, e)) => {
            let why = c.tr.t1("devices-approve-failed", "reason", &e);
            devices_page(&mut c, Some(why), code, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// A role as the roles page shows it.
#[derive(Debug)]
pub struct RoleRow {
    /// Handle of the role.
    pub handle: String,
    /// Name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Country.
    pub country: String,
    /// Holders in on-call order, with whether it is this officer.
    pub holders: Vec<(Who, bool)>,
    /// This officer holds it now.
    pub mine: bool,
    /// Current holders (not this officer) its messages can be handed to.
    pub successors: Vec<Pick>,
}

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesTpl<'a> {
    p: Page<'a>,
    roles: Vec<RoleRow>,
}

#[derive(Template)]
#[template(path = "handover.html")]
struct HandoverTpl<'a> {
    p: Page<'a>,
    confirm: String,
    button: String,
    role_handle: String,
    to_handle: String,
}

/// The roles this officer holds, and those whose messages they received
/// (held before): their holders in on-call order.
async fn roles(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let all = match c.ask(Request::Roles).await {
        Ok(Answer::Roles { roles }) => roles,
        Ok(_) => Vec::new(),
        Err((_, e)) => return failed(c.tr, &e),
    };
    let mut rows = Vec::new();
    for r in all {
        let mine = r.holders.contains(&people.me);
        let held = r.received > 0;
        if !mine && !held {
            continue;
        }
        rows.push(RoleRow {
            handle: c.handle(&format!("r:{}", r.id)),
            name: r.name.clone(),
            description: r.description.clone(),
            country: r.country.clone(),
            holders: r
                .holders
                .iter()
                .map(|h| (people.who(h), *h == people.me))
                .collect(),
            mine,
            successors: r
                .holders
                .iter()
                .filter(|h| **h != people.me)
                .map(|h| Pick {
                    handle: c.handle(&format!("p:{h}")),
                    who: people.who(h),
                })
                .collect(),
        });
    }
    rows.sort_by(|a, b| b.mine.cmp(&a.mine).then(a.name.cmp(&b.name)));
    let p = c.page_for(&people).await;
    html(StatusCode::OK, &RolesTpl { p, roles: rows })
}

/// Hand the messages addressed to a role over to a current holder (the
/// same operation as `liaison handover --role ROLE --to ID`), once the
/// officer confirmed.
async fn handover(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (mut c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let (Some(rh), Some(th)) = (form.one("r"), form.one("to")) else {
        return not_found().await;
    };
    let (Some(role), Some(to)) = (
        c.resolve(rh, 'r').and_then(|r| DirectoryId::parse(&r).ok()),
        c.resolve(th, 'p').and_then(|p| DirectoryId::parse(&p).ok()),
    ) else {
        return not_found().await;
    };
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let role_name = match c.ask(Request::Roles).await {
        Ok(Answer::Roles { roles }) => roles
            .into_iter()
            .find(|r| r.id == role.as_str())
            .map(|r| r.name)
            .unwrap_or_else(|| role.to_string()),
        _ => role.to_string(),
    };
    let who = people.who(to.as_str());
    if form.one("confirm") != Some("yes") {
        let (rh, th) = (rh.to_owned(), th.to_owned());
        let confirm = c.tr.args(
            "roles-confirm",
            &[("role", &role_name), ("name", &who.name)],
        );
        let button = c.tr.t1("roles-confirm-button", "name", &who.name);
        let p = c.page_for(&people).await;
        return html(
            StatusCode::OK,
            &HandoverTpl {
                p,
                confirm,
                button,
                role_handle: rh,
                to_handle: th,
            },
        );
    }
    match c.ask(Request::Handover { role, to }).await {
        Ok(Answer::HandedOver { messages, .. }) => c.flash(c.tr.args(
            "roles-handed-over",
            &[
                ("count", &messages.to_string()),
                ("role", &role_name),
                ("name", &who.name),
            ],
        )),
        Ok(_) => {}
        Err((_, e)) => c.flash(c.tr.t1("roles-handover-failed", "reason", &e)),
    }
    see_other("/roles")
}
