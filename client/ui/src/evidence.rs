//! Evidence export: a received message's evidence bundle for a court,
//! downloaded as a file.
//!
//! The rule (judicial use permitted by the handling, or granted by the
//! originator for the case named) is the agent's `export` operation's, the
//! same as `liaison export`: this module only asks, hands the bundle over
//! as a download, and, when the agent refuses, says so in plain words and
//! offers to ask the originator (`consent-request` with the scope
//! `judicial:CASE`).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use liaison_client::agent::api::{ErrorCode, Request, Response as Answer};
use liaison_client::agent::views::MessageView;
use liaison_protocol::MessageId;
use liaison_protocol::consent::ConsentScope;

use crate::pages::{
    Ctx, Form, Page, Tlp, Who, exportable, failed, html, judicial_grants, not_found, see_other, tlp,
};
use crate::state::AppState;
use crate::time::{Shown, show};

/// The routes of this module.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/evidence/{h}", get(evidence_page))
        .route("/evidence", post(export))
        .route("/evidence/ask", post(ask))
}

#[derive(Template)]
#[template(path = "evidence.html")]
struct EvidenceTpl<'a> {
    p: Page<'a>,
    handle: String,
    from: Who,
    time: Shown,
    tlp: Tlp,
    /// What the handling says about use in court, in plain words.
    rule: String,
    /// The cases the originator granted, with their conditions.
    cases: Vec<(String, String)>,
    /// A download is offered (else only the consent request).
    allowed: bool,
    /// The case reference to fill in.
    case: String,
    /// Why the last attempt made no file.
    refusal: Option<String>,
    reason: String,
}

/// The message behind handle `h` and its view, if this session knows it.
async fn message(c: &Ctx<'_>, h: &str) -> Option<MessageView> {
    let id = MessageId::from_hex(&c.resolve(h, 'm')?)?;
    c.message(id).await.ok()?.filter(MessageView::is_incoming)
}

async fn render(
    c: &mut Ctx<'_>,
    h: &str,
    m: &MessageView,
    form: Option<&Form>,
    refusal: Option<String>,
    status: StatusCode,
) -> Response {
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let grants = judicial_grants(c).await;
    let from = people.who(&m.from);
    let rule = match m.handling.judicial_use.as_str() {
        "permitted" => c.tr.t("evidence-permitted"),
        "withconsent" => c.tr.t1("evidence-with-consent", "name", &from.name),
        _ => c.tr.t1("evidence-prohibited", "name", &from.name),
    };
    let cases = grants.get(&m.id).cloned().unwrap_or_default();
    let case = form
        .and_then(|f| f.one("case"))
        .map(|s| s.trim().to_owned())
        .or_else(|| match cases.as_slice() {
            [(only, _)] => Some(only.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let reason = form
        .and_then(|f| f.one("reason"))
        .unwrap_or_default()
        .to_owned();
    let allowed = exportable(m, &grants);
    let time = show(&m.sent_at, &people.tz);
    let t = tlp(c.tr, &m.handling.tlp);
    let p = c.page_for(&people).await;
    html(
        status,
        &EvidenceTpl {
            p,
            handle: h.to_owned(),
            from,
            time,
            tlp: t,
            rule,
            cases,
            allowed,
            case,
            refusal,
            reason,
        },
    )
}

async fn evidence_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(h): Path<String>,
) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Some(m) = message(&c, &h).await else {
        return not_found().await;
    };
    render(&mut c, &h, &m, None, None, StatusCode::OK).await
}

/// A case reference as part of a file name: letters, digits, `-` and `_`.
fn file_name(case: &str) -> String {
    let safe: String = case
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' {
                ch
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("evidence-{safe}.txt")
}

/// Build the evidence bundle (the same operation as `liaison export ID
/// --case CASE`) and hand it over as a file to save.
async fn export(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (mut c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let h = form.one("m").unwrap_or_default().to_owned();
    let Some(m) = message(&c, &h).await else {
        return not_found().await;
    };
    let Some(id) = MessageId::from_hex(&m.id) else {
        return not_found().await;
    };
    let case = form.one("case").unwrap_or_default().trim().to_owned();
    if case.is_empty() {
        let why = c.tr.t("evidence-need-case");
        return render(
            &mut c,
            &h,
            &m,
            Some(&form),
            Some(why),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    match c
        .ask(Request::Export {
            id,
            case: case.clone(),
        })
        .await
    {
        Ok(Answer::Exported { bundle, .. }) => {
            tracing::info!("web app: evidence exported");
            let mut r = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                bundle,
            )
                .into_response();
            if let Ok(v) =
                HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file_name(&case)))
            {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Ok(_) => see_other("/"),
        Err((ErrorCode::HandlingRefused, _)) => {
            let who = match c.people().await {
                Ok(p) => p.who(&m.from).name,
                Err(_) => m.from.clone(),
            };
            let why =
                c.tr.args("evidence-refused", &[("name", &who), ("case", &case)]);
            render(
                &mut c,
                &h,
                &m,
                Some(&form),
                Some(why),
                StatusCode::FORBIDDEN,
            )
            .await
        }
        Err((_, e)) => {
            let why = c.tr.t1("evidence-failed", "reason", &e);
            render(
                &mut c,
                &h,
                &m,
                Some(&form),
                Some(why),
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
    }
}

/// Ask the originator for judicial use for a case (the same request as
/// `liaison consent request ID --scope judicial:CASE`).
async fn ask(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (mut c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let h = form.one("m").unwrap_or_default().to_owned();
    let Some(m) = message(&c, &h).await else {
        return not_found().await;
    };
    let Some(id) = MessageId::from_hex(&m.id) else {
        return not_found().await;
    };
    let case = form.one("case").unwrap_or_default().trim().to_owned();
    let reason = form.one("reason").unwrap_or_default().trim().to_owned();
    if case.is_empty() || reason.is_empty() {
        let why = c.tr.t("evidence-need-case-and-reason");
        return render(
            &mut c,
            &h,
            &m,
            Some(&form),
            Some(why),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let scope = ConsentScope::JudicialUse {
        case_reference: case,
    };
    match c.ask(Request::ConsentRequest { id, scope, reason }).await {
        Ok(_) => {
            c.flash(c.tr.t("consent-asked"));
            see_other("/consents")
        }
        Err((_, e)) => {
            let why = c.tr.t1("evidence-failed", "reason", &e);
            render(
                &mut c,
                &h,
                &m,
                Some(&form),
                Some(why),
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn a_case_reference_makes_a_plain_file_name() {
        assert_eq!(file_name("PH-NBI-2026-114"), "evidence-PH-NBI-2026-114.txt");
        assert_eq!(file_name("a/../b \"c\"\r\n"), "evidence-a____b__c___.txt");
    }
}
