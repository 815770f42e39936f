//! The pages: what each asks the agent and how it shows the answer.
//!
//! Every id stays on the server: pages and URLs carry per-session handles
//! ([`Gate::handle_for`](crate::security::Gate::handle_for)), and whatever
//! changes something is a POST whose body carries the CSRF token.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use liaison_client::agent::api::{ErrorCode, Passphrase, Request, Response as Answer};
use liaison_client::agent::views::{ContactFilter, ContactView, LinkState, MessageView};
use liaison_protocol::{DirectoryId, MessageId};

use crate::i18n::{LOCALES, Tr, known_locale};
use crate::security::{self, CSRF_HEADER, Draft, SessionInfo, same_secret};
use crate::state::AppState;
use crate::time::{Shown, show};

/// The header of a part of a page refreshed because of a live event (not
/// the officer's doing: it does not count as use for the idle lock).
pub const LIVE_HEADER: &str = "x-liaison-live";

/// The cookie holding the chosen language.
pub const LANG_COOKIE: &str = "liaison_lang";

/// The cookie holding the chosen time zone (an IANA name).
pub const TZ_COOKIE: &str = "liaison_tz";

/// The TLP labels the compose form offers, in order, with the key of their
/// explanation. The labels stay in English capitals in every language (TLP
/// 2.0); the explanations are translated.
pub const TLP_CHOICES: &[(&str, &str)] = &[
    ("CLEAR", "tlp-clear"),
    ("GREEN", "tlp-green"),
    ("AMBER", "tlp-amber"),
    ("AMBER+STRICT", "tlp-amber-strict"),
    ("RED", "tlp-red"),
];

/// The handling a new message has unless the officer picks another (the
/// same default as `liaison send`).
pub const DEFAULT_TLP: &str = "RED";

static HTMX: &str = include_str!("../static/htmx.min.js");
static CSS: &str = include_str!("../static/app.css");
static JS: &str = include_str!("../static/app.js");
static VERIFY_JS: &str = include_str!("../static/verify.js");
static JSQR: &str = include_str!("../static/jsqr.js");

pub(crate) fn router(state: Arc<AppState>, more: Router<Arc<AppState>>) -> Router {
    Router::new()
        .merge(more)
        .route("/login", get(login))
        .route("/", get(conversations))
        .route("/unlock", get(unlock_page).post(unlock))
        .route("/lock", post(lock))
        .route("/alive", post(alive))
        .route("/read", post(read))
        .route("/compose", get(compose))
        .route("/language", post(language))
        .route("/static/htmx.min.js", get(|| script(HTMX)))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(|| script(JS)))
        .route("/static/verify.js", get(|| script(VERIFY_JS)))
        .route("/static/jsqr.js", get(|| script(JSQR)))
        .route("/events", get(events))
        .route("/relay-state", get(relay_state))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.port, security::guard))
        .with_state(state)
}

/// What every page shows around its content.
#[derive(Debug)]
pub struct Page<'a> {
    /// The strings.
    pub tr: Tr<'a>,
    /// The session's CSRF token.
    pub csrf: String,
    /// The relay cannot be reached.
    pub relay_down: bool,
    /// A one-time notice.
    pub flash: Option<String>,
    /// The navigation is shown (the session is unlocked).
    pub unlocked: bool,
    /// (code, name, chosen) of every locale.
    pub locales: Vec<(&'static str, &'static str, bool)>,
    /// Seconds without use after which the open page locks itself.
    pub lock_after: u64,
    /// Contacts whose identity key changed: sending to them is held until
    /// the officer checks it.
    pub key_changes: Vec<KeyChange>,
    /// Contacts who added devices not yet noted: the app sends to them
    /// once the officer has noted it.
    pub new_devices: Vec<NewDevices>,
}

/// A contact's devices added since the officer was last told.
#[derive(Debug)]
pub struct NewDevices {
    /// Handle of the contact.
    pub handle: String,
    /// Who.
    pub who: Who,
    /// The new devices' fingerprints.
    pub devices: Vec<String>,
}

/// A contact whose identity key changed and was not accepted yet.
#[derive(Debug)]
pub struct KeyChange {
    /// Handle of the contact.
    pub handle: String,
    /// Who.
    pub who: Who,
    /// The safety number to compare with them.
    pub safety_number: String,
}

/// A focal point as pages show them.
#[derive(Clone, Debug)]
pub struct Who {
    /// Name (the id if the directory has no record).
    pub name: String,
    /// Agency.
    pub agency: String,
    /// Country code.
    pub country: String,
}

impl Who {
    /// "NAME (AGENCY, COUNTRY)", or the name alone when the directory has
    /// no agency for them.
    pub fn labelled(self) -> String {
        if self.agency.is_empty() {
            self.name
        } else {
            format!("{} ({}, {})", self.name, self.agency, self.country)
        }
    }
}

/// A TLP label with its colour class and meaning.
#[derive(Clone, Debug)]
pub struct Tlp {
    /// `RED`, `AMBER+STRICT`, ...
    pub label: String,
    /// CSS class.
    pub class: String,
    /// Translated meaning.
    pub meaning: String,
}

/// A row of the conversation list.
#[derive(Debug)]
pub struct ConvRow {
    /// Handle of the conversation.
    pub handle: String,
    /// The other participants.
    pub with: Vec<Who>,
    /// Time of the newest message.
    pub last: Shown,
    /// Received messages whose handling is not acknowledged yet.
    pub unread: usize,
    /// Handling of the newest message.
    pub tlp: Tlp,
    /// The title of its case, if it is a case's.
    pub case: Option<String>,
}

/// A recipient the compose page offers.
#[derive(Debug)]
pub struct Pick {
    /// Handle of the focal point.
    pub handle: String,
    /// Who.
    pub who: Who,
}

#[derive(Template)]
#[template(path = "unlock.html")]
struct UnlockTpl<'a> {
    p: Page<'a>,
    error: Option<String>,
    agent_running: bool,
}

#[derive(Template)]
#[template(path = "conversations.html")]
struct ConversationsTpl<'a> {
    p: Page<'a>,
    rows: Vec<ConvRow>,
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposeTpl<'a> {
    p: Page<'a>,
    query: String,
    /// Each focal point found, and whether a kept draft chose them.
    picks: Vec<(Pick, bool)>,
    /// The text of a kept draft.
    draft: String,
    tlps: Vec<(Tlp, bool, bool)>,
}

#[derive(Template)]
#[template(path = "relay_state.html")]
struct RelayStateTpl<'a> {
    p: Page<'a>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginTpl<'a> {
    tr: Tr<'a>,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticeTpl<'a> {
    p: Page<'a>,
    title: String,
    text: String,
}

pub(crate) fn html<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("rendering a page failed: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the page failed",
            )
                .into_response()
        }
    }
}

pub(crate) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

fn lang_of(headers: &HeaderMap) -> &'static str {
    security::cookie(headers, LANG_COOKIE)
        .and_then(|l| known_locale(&l))
        .unwrap_or(crate::i18n::DEFAULT_LOCALE)
}

pub(crate) fn tlp(tr: Tr<'_>, label: &str) -> Tlp {
    let key = TLP_CHOICES
        .iter()
        .find(|(l, _)| *l == label)
        .map(|(_, k)| *k)
        .unwrap_or("tlp-red");
    Tlp {
        label: label.to_owned(),
        class: format!("tlp-{}", label.to_lowercase().replace('+', "-")),
        meaning: tr.t(key),
    }
}

/// The TLP picker: each label, whether it is the default, and whether it
/// is chosen (`chosen`, or the default when `chosen` is none of them).
pub(crate) fn tlp_choices(tr: Tr<'_>, chosen: Option<&str>) -> Vec<(Tlp, bool, bool)> {
    let chosen = chosen
        .filter(|c| TLP_CHOICES.iter().any(|(l, _)| l == c))
        .unwrap_or(DEFAULT_TLP);
    TLP_CHOICES
        .iter()
        .map(|(l, _)| (tlp(tr, l), *l == DEFAULT_TLP, *l == chosen))
        .collect()
}

/// One request's session and strings.
pub(crate) struct Ctx<'a> {
    pub(crate) state: &'a AppState,
    pub(crate) session: SessionInfo,
    pub(crate) tr: Tr<'a>,
    /// The time zone the officer chose in the settings, if any (else their
    /// directory record's).
    pub(crate) tz: Option<String>,
}

impl<'a> Ctx<'a> {
    /// The request's session, or the page saying there is none.
    pub(crate) fn begin(
        state: &'a AppState,
        headers: &HeaderMap,
    ) -> Result<Ctx<'a>, Box<Response>> {
        let tr = state.i18n.tr(lang_of(headers));
        let session =
            security::cookie(headers, &security::cookie_name(state.port)).and_then(|id| {
                state.gate.visit(
                    &id,
                    state.options.lock_after,
                    !headers.contains_key(LIVE_HEADER),
                )
            });
        match session {
            Some(session) => Ok(Ctx {
                state,
                session,
                tr,
                tz: security::cookie(headers, TZ_COOKIE).filter(|z| crate::time::known_zone(z)),
            }),
            None => Err(Box::new(notice(
                tr,
                StatusCode::FORBIDDEN,
                tr.t("error-title"),
                tr.t1(
                    "session-missing",
                    "home",
                    &state.options.home.display().to_string(),
                ),
            ))),
        }
    }

    /// The same, for a page that shows the home: the unlock page if the
    /// session (or the agent) is locked.
    pub(crate) fn unlocked(
        state: &'a AppState,
        headers: &HeaderMap,
    ) -> Result<Ctx<'a>, Box<Response>> {
        let c = Self::begin(state, headers)?;
        if !c.session.unlocked || state.agent.status().locked {
            // A part of a page htmx asked for: the whole page goes to the
            // unlock page (a redirect would be followed inside the part).
            if headers.contains_key("hx-request") {
                return Err(Box::new(
                    (StatusCode::OK, [("hx-redirect", "/unlock")]).into_response(),
                ));
            }
            return Err(Box::new(see_other("/unlock")));
        }
        Ok(c)
    }

    pub(crate) fn page(&mut self) -> Page<'a> {
        let chosen = self.tr.code();
        Page {
            tr: self.tr,
            csrf: self.session.csrf.clone(),
            relay_down: !matches!(self.state.agent.status().link, LinkState::Up),
            flash: self.session.flash.take(),
            unlocked: self.session.unlocked,
            locales: LOCALES
                .iter()
                .map(|(c, n, _)| (*c, *n, *c == chosen))
                .collect(),
            lock_after: self.state.options.lock_after.as_secs(),
            key_changes: Vec::new(),
            new_devices: Vec::new(),
        }
    }

    /// [`Ctx::page`] with a banner per contact whose identity key changed
    /// (the agent holds sending to them until the key is accepted, as the
    /// command line does), and one per contact who added a device (the
    /// app sends to them once the officer noted it).
    pub(crate) async fn page_for(&mut self, people: &People) -> Page<'a> {
        let mut changed: Vec<&ContactView> =
            people.by_id.values().filter(|c| c.key_changed).collect();
        changed.sort_by(|a, b| a.name.cmp(&b.name));
        let mut key_changes = Vec::new();
        for contact in changed {
            let Ok(id) = DirectoryId::parse(&contact.id) else {
                continue;
            };
            let safety_number = match self.ask(Request::SafetyNumber { id }).await {
                Ok(Answer::SafetyNumber { safety_number, .. }) => safety_number,
                _ => String::new(),
            };
            key_changes.push(KeyChange {
                handle: self.handle(&format!("p:{}", contact.id)),
                who: people.who(&contact.id),
                safety_number,
            });
        }
        let mut added: Vec<&ContactView> = people
            .by_id
            .values()
            // A changed key's banner covers the devices that came with it.
            .filter(|c| !c.new_devices.is_empty() && !c.key_changed)
            .collect();
        added.sort_by(|a, b| a.name.cmp(&b.name));
        let mut p = self.page();
        p.key_changes = key_changes;
        p.new_devices = added
            .into_iter()
            .map(|c| NewDevices {
                handle: self.handle(&format!("p:{}", c.id)),
                who: people.who(&c.id),
                devices: c.new_devices.clone(),
            })
            .collect();
        p
    }

    pub(crate) fn handle(&self, target: &str) -> String {
        self.state.gate.handle_for(&self.session.id, target)
    }

    pub(crate) fn resolve(&self, h: &str, kind: char) -> Option<String> {
        let t = self.state.gate.resolve(&self.session.id, h)?;
        let (k, v) = t.split_once(':')?;
        (k.len() == 1 && k.starts_with(kind)).then(|| v.to_owned())
    }

    /// Keep what the officer wrote in a send that did not go out, to fill
    /// `page` again on their next visit.
    pub(crate) fn keep_draft(&self, page: &str, form: &Form) {
        self.state.gate.keep_draft(
            &self.session.id,
            Draft {
                page: page.to_owned(),
                text: form.one("text").unwrap_or_default().to_owned(),
                to: form.all("to").map(str::to_owned).collect(),
                tlp: form.one("tlp").unwrap_or_default().to_owned(),
            },
        );
    }

    /// The draft kept for `page`, when the officer (not a live update)
    /// opens it.
    pub(crate) fn take_draft(&self, page: &str) -> Option<Draft> {
        if !self.session.active {
            return None;
        }
        self.state.gate.take_draft(&self.session.id, page)
    }

    pub(crate) fn flash(&self, text: String) {
        self.state.gate.flash(&self.session.id, text);
    }

    /// Whether a POST carries the session's CSRF token.
    /// A state-changing request (a POST): an unlocked session whose form
    /// carries its CSRF token (or header); otherwise the answer to give.
    pub(crate) fn posted(
        state: &'a AppState,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Ctx<'a>, Form), Box<Response>> {
        let c = Self::unlocked(state, headers)?;
        let form = Form::parse(body);
        if !c.csrf_ok(headers, &form) {
            return Err(Box::new(c.refused()));
        }
        Ok((c, form))
    }

    pub(crate) fn csrf_ok(&self, headers: &HeaderMap, form: &Form) -> bool {
        let given = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| form.one("csrf").map(str::to_owned));
        given.is_some_and(|g| same_secret(&g, &self.session.csrf))
    }

    pub(crate) fn refused(&self) -> Response {
        notice(
            self.tr,
            StatusCode::FORBIDDEN,
            self.tr.t("error-title"),
            self.tr.t("error-forbidden"),
        )
    }

    /// Ask the agent; its error message if it refused.
    pub(crate) async fn ask(&self, request: Request) -> Result<Answer, (ErrorCode, String)> {
        match self.state.agent.call(request).await {
            None => Err((ErrorCode::Failed, "the agent stopped".to_owned())),
            Some(reply) => {
                // What the agent warns about (a receipt kept for later, a
                // changed key) is shown on the next page.
                if !reply.warnings.is_empty() {
                    self.flash(reply.warnings.join(" "));
                }
                match reply.response {
                    Answer::Error(e) => Err((e.code, e.message)),
                    other => Ok(other),
                }
            }
        }
    }

    /// Everything the pages need about people and this officer.
    pub(crate) async fn people(&self) -> Result<People, (ErrorCode, String)> {
        let me = match self.ask(Request::Whoami).await? {
            Answer::Whoami { whoami } => whoami.id,
            _ => String::new(),
        };
        let contacts = match self
            .ask(Request::Contacts {
                filter: ContactFilter::default(),
            })
            .await?
        {
            Answer::Contacts { contacts, .. } => contacts,
            _ => Vec::new(),
        };
        let tz = self.tz.clone().unwrap_or_else(|| {
            contacts
                .iter()
                .find(|c| c.id == me)
                .map(|c| c.time_zone.clone())
                .unwrap_or_else(|| "UTC".to_owned())
        });
        Ok(People {
            by_id: contacts.into_iter().map(|c| (c.id.clone(), c)).collect(),
            me,
            tz,
        })
    }

    /// The stored message `id` as the agent lists it; `None` when this
    /// home holds no such message.
    pub(crate) async fn message(
        &self,
        id: MessageId,
    ) -> Result<Option<MessageView>, (ErrorCode, String)> {
        match self.ask(Request::Message { id }).await {
            Ok(Answer::Messages { messages }) => Ok(messages.into_iter().next()),
            Ok(_) | Err((ErrorCode::NotFound, _)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Judicial use granted to this officer, by message id: (case, conditions).
pub(crate) type Grants = HashMap<String, Vec<(String, String)>>;

/// The originators' grants of judicial use this home holds (the consent
/// records `liaison consent list` shows).
pub(crate) async fn judicial_grants(c: &Ctx<'_>) -> Grants {
    let mut out = Grants::new();
    if let Ok(Answer::Consents { consents }) = c.ask(Request::ConsentList).await {
        for x in consents {
            if !x.we_asked || x.decision.as_deref() != Some("granted") {
                continue;
            }
            if let Some(Ok(liaison_protocol::consent::ConsentScope::JudicialUse {
                case_reference,
            })) = x
                .scope
                .as_deref()
                .map(liaison_protocol::consent::ConsentScope::parse_text)
            {
                out.entry(x.message).or_default().push((
                    case_reference,
                    x.conditions.unwrap_or_default().trim().to_owned(),
                ));
            }
        }
    }
    out
}

/// Whether `m` can be exported now for some case: its handling permits
/// judicial use, or its originator granted it. (The agent's `export`
/// decides, for the case named.)
pub(crate) fn exportable(m: &MessageView, grants: &Grants) -> bool {
    m.handling.judicial_use == "permitted" || grants.contains_key(&m.id)
}

pub(crate) struct People {
    pub(crate) by_id: HashMap<String, ContactView>,
    pub(crate) me: String,
    pub(crate) tz: String,
}

impl People {
    pub(crate) fn who(&self, id: &str) -> Who {
        match self.by_id.get(id) {
            Some(c) => Who {
                name: c.name.clone(),
                agency: c.agency.clone(),
                country: c.country.clone(),
            },
            None => Who {
                name: id.to_owned(),
                agency: String::new(),
                country: String::new(),
            },
        }
    }
}

pub(crate) fn notice(tr: Tr<'_>, status: StatusCode, title: String, text: String) -> Response {
    let page = Page {
        tr,
        csrf: String::new(),
        relay_down: false,
        flash: None,
        unlocked: false,
        locales: Vec::new(),
        lock_after: 0,
        key_changes: Vec::new(),
        new_devices: Vec::new(),
    };
    html(
        status,
        &NoticeTpl {
            p: page,
            title,
            text,
        },
    )
}

/// A form body: every (name, value), repeated names kept.
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Form {
        Form(pairs)
    }

    pub(crate) fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn failed(tr: Tr<'_>, message: &str) -> Response {
    notice(
        tr,
        StatusCode::BAD_GATEWAY,
        tr.t("error-title"),
        message.to_owned(),
    )
}

async fn login(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let tr = state.i18n.tr(lang_of(&headers));
    let token = Form::parse(uri.query().unwrap_or_default().as_bytes())
        .one("token")
        .map(str::to_owned)
        .unwrap_or_default();
    match state.gate.redeem(&token, !state.agent.status().locked) {
        // A page of the app's own that moves on to "/", not a redirect: a
        // SameSite=Strict cookie is not sent along a redirect chain that
        // began on another site (the launch page in the home, a link in a
        // mail or chat program), so the first page would find no session.
        Some(id) => {
            let mut r = html(StatusCode::OK, &LoginTpl { tr });
            if let Ok(v) = header::HeaderValue::from_str(&security::session_cookie(state.port, &id))
            {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        None => notice(
            tr,
            StatusCode::FORBIDDEN,
            tr.t("error-title"),
            tr.t1(
                "link-used",
                "home",
                &state.options.home.display().to_string(),
            ),
        ),
    }
}

async fn unlock_page(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut c = match Ctx::begin(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    // The page the officer left open found the app idle (static/app.js):
    // lock this session, so its content leaves the screen.
    if Form::parse(uri.query().unwrap_or_default().as_bytes())
        .one("idle")
        .is_some()
    {
        state.gate.lock_session(&c.session.id);
        c.session.unlocked = false;
    }
    let agent_locked = state.agent.status().locked;
    if c.session.unlocked && !agent_locked {
        return see_other("/");
    }
    let p = c.page();
    html(
        StatusCode::OK,
        &UnlockTpl {
            p,
            error: None,
            agent_running: !agent_locked,
        },
    )
}

async fn unlock(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut c = match Ctx::begin(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let form = Form::parse(&body);
    if !c.csrf_ok(&headers, &form) {
        return c.refused();
    }
    let passphrase = Passphrase::new(form.one("passphrase").unwrap_or_default().to_owned());
    let error = if state.agent.status().locked {
        match c
            .ask(Request::Unlock {
                passphrase: passphrase.clone(),
            })
            .await
        {
            Ok(_) => None,
            // Unlocked meanwhile (by another session or command): check
            // the passphrase below.
            Err((ErrorCode::AlreadyUnlocked, _)) => check(&state, c.tr, passphrase).await,
            Err((ErrorCode::WrongPassphrase, _)) => Some(c.tr.t("unlock-wrong")),
            Err((_, m)) => Some(c.tr.t1("unlock-failed", "reason", &m)),
        }
    } else {
        check(&state, c.tr, passphrase).await
    };
    match error {
        None => {
            state.gate.unlock(&c.session.id);
            see_other("/")
        }
        Some(e) => {
            let p = c.page();
            html(
                StatusCode::UNAUTHORIZED,
                &UnlockTpl {
                    p,
                    error: Some(e),
                    agent_running: !state.agent.status().locked,
                },
            )
        }
    }
}

/// Check `passphrase` against the home the agent holds open: `None` if it
/// opens it, else what to say.
async fn check(state: &AppState, tr: Tr<'_>, passphrase: Passphrase) -> Option<String> {
    let Some(check) = state.agent.passphrase_check().await else {
        return Some(tr.t1("unlock-failed", "reason", "the agent is not unlocked"));
    };
    let ok = tokio::task::spawn_blocking(move || check.matches(passphrase.expose()))
        .await
        .unwrap_or(false);
    if ok {
        None
    } else {
        tracing::warn!("web app unlock refused: wrong passphrase");
        Some(tr.t("unlock-wrong"))
    }
}

async fn lock(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let c = match Ctx::begin(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if !c.csrf_ok(&headers, &Form::parse(&body)) {
        return c.refused();
    }
    state.gate.lock_all();
    see_other("/unlock")
}

/// The officer is using the open page (typing a long reply, reading):
/// counts as use for the idle lock. Sent by static/app.js at most once a
/// minute while there is activity.
async fn alive(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = Ctx::posted(&state, &headers, &body) {
        return *r;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn language(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let c = match Ctx::begin(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let form = Form::parse(&body);
    if !c.csrf_ok(&headers, &form) {
        return c.refused();
    }
    let Some(lang) = form.one("lang").and_then(known_locale) else {
        return c.refused();
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_owned()),
            (
                header::SET_COOKIE,
                format!("{LANG_COOKIE}={lang}; Path=/; SameSite=Strict"),
            ),
        ],
    )
        .into_response()
}

async fn conversations(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let (people, list) = match (c.people().await, c.ask(Request::Conversations).await) {
        (Ok(p), Ok(Answer::Conversations { conversations })) => (p, conversations),
        (Ok(p), Ok(_)) => (p, Vec::new()),
        (Err((_, e)), _) | (_, Err((_, e))) => return failed(c.tr, &e),
    };
    let rows = list
        .iter()
        .map(|v| ConvRow {
            handle: c.handle(&format!("c:{}", v.conversation)),
            with: v.with.iter().map(|id| people.who(id)).collect(),
            last: show(&v.newest_at, &people.tz),
            unread: v.unread,
            tlp: tlp(c.tr, &v.newest_tlp),
            case: v.case.clone(),
        })
        .collect();
    let p = c.page_for(&people).await;
    html(StatusCode::OK, &ConversationsTpl { p, rows })
}

/// When the agent refused a send because a recipient's identity key
/// changed (the rule is the agent's): the refusal in plain words.
pub(crate) async fn held_by_key_change(
    c: &Ctx<'_>,
    code: ErrorCode,
    to: &[DirectoryId],
) -> Option<String> {
    if code != ErrorCode::Recipient {
        return None;
    }
    let people = c.people().await.ok()?;
    let held = to
        .iter()
        .find(|id| people.by_id.get(id.as_str()).is_some_and(|x| x.key_changed))?;
    Some(c.tr.t1(
        "key-changed-send-held",
        "name",
        &people.who(held.as_str()).name,
    ))
}

/// The app sends nothing to a contact who added a device the officer has
/// not noted yet (the banner at the top of every page): the refusal in
/// plain words, naming the first such recipient.
pub(crate) async fn held_by_new_device(c: &Ctx<'_>, to: &[DirectoryId]) -> Option<String> {
    let people = c.people().await.ok()?;
    // A role reaches its holders.
    let roles = match c.ask(Request::Roles).await {
        Ok(Answer::Roles { roles }) => roles,
        _ => Vec::new(),
    };
    let reached: Vec<&str> = to
        .iter()
        .flat_map(|id| match roles.iter().find(|r| r.id == id.as_str()) {
            Some(r) => r.holders.iter().map(String::as_str).collect::<Vec<_>>(),
            None => vec![id.as_str()],
        })
        .collect();
    let held = reached.into_iter().find(|id| {
        people
            .by_id
            .get(*id)
            .is_some_and(|x| !x.new_devices.is_empty() && !x.key_changed)
    })?;
    Some(c.tr.t1("device-new-send-held", "name", &people.who(held).name))
}

async fn read(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, form) = match Ctx::posted(&state, &headers, &body) {
        Ok(posted) => posted,
        Err(r) => return *r,
    };
    let Some(id) = form
        .one("m")
        .and_then(|h| c.resolve(h, 'm'))
        .and_then(|id| MessageId::from_hex(&id))
    else {
        return not_found().await;
    };
    // The same operation as `liaison read ID --accept`: the agent shows the
    // content only once the handling is acknowledged, and sends the signed
    // receipt.
    match c.ask(Request::Read { id, accept: true }).await {
        Ok(Answer::Read { message, .. }) => see_other(&format!(
            "/c/{}",
            c.handle(&format!("c:{}", message.conversation))
        )),
        Ok(_) => see_other("/"),
        Err((_, e)) => failed(c.tr, &e),
    }
}

async fn compose(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let query = Form::parse(uri.query().unwrap_or_default().as_bytes())
        .one("q")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let people = match c.people().await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let draft = c.take_draft("/compose").unwrap_or_default();
    let picks = match picks(&c, &people, &query, &draft.to).await {
        Ok(p) => p,
        Err((_, e)) => return failed(c.tr, &e),
    };
    let tlps = tlp_choices(c.tr, Some(&draft.tlp));
    let p = c.page_for(&people).await;
    html(
        StatusCode::OK,
        &ComposeTpl {
            p,
            query,
            picks,
            draft: draft.text,
            tlps,
        },
    )
}

/// The focal points (active, not this officer) and roles whose name or id
/// holds `query` (all when it is empty), by name, each with whether its
/// handle is among `chosen`.
pub(crate) async fn picks(
    c: &Ctx<'_>,
    people: &People,
    query: &str,
    chosen: &[String],
) -> Result<Vec<(Pick, bool)>, (ErrorCode, String)> {
    let filter = ContactFilter {
        name: (!query.is_empty()).then(|| query.to_owned()),
        ..ContactFilter::default()
    };
    let contacts = match c.ask(Request::Contacts { filter }).await? {
        Answer::Contacts { contacts, .. } => contacts,
        _ => Vec::new(),
    };
    let mut picks: Vec<(Pick, bool)> = contacts
        .iter()
        .filter(|x| x.id != people.me && x.active)
        .map(|x| {
            let handle = c.handle(&format!("p:{}", x.id));
            let is_chosen = chosen.contains(&handle);
            let who = people.who(&x.id);
            (Pick { handle, who }, is_chosen)
        })
        .collect();
    // Roles too (a message to a role reaches its current holders).
    if let Ok(Answer::Roles { roles }) = c.ask(Request::Roles).await {
        let q = query.to_lowercase();
        for r in roles {
            let name = if r.name.is_empty() {
                r.id.clone()
            } else {
                r.name.clone()
            };
            if !q.is_empty() && !name.to_lowercase().contains(&q) && !r.id.contains(&q) {
                continue;
            }
            let handle = c.handle(&format!("p:{}", r.id));
            let is_chosen = chosen.contains(&handle);
            let who = Who {
                name,
                agency: c.tr.t("dir-role"),
                country: r.country.clone(),
            };
            picks.push((Pick { handle, who }, is_chosen));
        }
    }
    picks.sort_by(|a, b| a.0.who.name.cmp(&b.0.who.name));
    Ok(picks)
}

/// A script of the app, as served.
async fn script(text: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The kinds of stored message a conversation shows (receipt carriers and
/// consent traffic are not conversation messages), as the agent counts
/// them.
pub(crate) fn shown_kind(kind: &str) -> bool {
    matches!(kind, "text" | "forward" | "handover" | "request")
}

/// The desktop notification of a new received message: who sent it, never
/// what it says ("New message from NAME (AGENCY)"); `None` for what is not
/// a conversation message.
async fn notification(state: &AppState, lang: &str, m: &MessageView) -> Option<String> {
    if !m.is_incoming() || !shown_kind(&m.kind) {
        return None;
    }
    let contact = match state
        .agent
        .call(Request::Contacts {
            filter: ContactFilter::default(),
        })
        .await
        .map(|r| r.response)
    {
        Some(Answer::Contacts { contacts, .. }) => contacts.into_iter().find(|c| c.id == m.from),
        _ => None,
    };
    let (name, agency) = match contact {
        Some(c) => (c.name, c.agency),
        None => (m.from.clone(), String::new()),
    };
    Some(state.i18n.tr(lang).args(
        "notify-new-message",
        &[("name", &name), ("agency", &agency)],
    ))
}

/// How long the event stream waits for the agent's published state to
/// show a link change it announced.
const LINK_SETTLES: std::time::Duration = std::time::Duration::from_secs(10);

/// Server-sent events: the name of what happened (`message`, `receipts`,
/// `rejected`, `link`, `warning`, `lagged`), never a message's content or
/// id, for the pages to refresh their live parts. The stream ends when the
/// session locks or the agent stops.
async fn events(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
    use liaison_client::agent::api::Event;
    use tokio::sync::broadcast::error::RecvError;

    let sid = match security::cookie(&headers, &security::cookie_name(state.port)) {
        Some(sid) => sid,
        None => return StatusCode::FORBIDDEN.into_response(),
    };
    let open = |state: &AppState, sid: &str| {
        state
            .gate
            .visit(sid, state.options.lock_after, false)
            .is_some_and(|s| s.unlocked)
            && !state.agent.status().locked
    };
    if !open(&state, &sid) {
        // EventSource does not reconnect after a 204.
        return StatusCode::NO_CONTENT.into_response();
    }
    let rx = state.agent.events();
    let lang = lang_of(&headers);
    let stream =
        futures_util::stream::unfold((rx, state, sid), move |(mut rx, state, sid)| async move {
            loop {
                let mut data = None;
                let kind = match rx.recv().await {
                    Ok(Event::Message { message }) => {
                        data = notification(&state, lang, &message).await;
                        "message"
                    }
                    Ok(Event::Receipts { .. }) => "receipts",
                    Ok(Event::Rejected { .. }) => "rejected",
                    Ok(Event::Link { state: link, .. }) => {
                        // The agent tells before it publishes the state
                        // the banner is drawn from.
                        state
                            .agent
                            .status_until(LINK_SETTLES, |s| s.link == link)
                            .await;
                        "link"
                    }
                    Ok(Event::Warning { .. }) => "warning",
                    Ok(Event::Lagged { .. }) | Err(RecvError::Lagged(_)) => "lagged",
                    Ok(_) => continue,
                    Err(RecvError::Closed) => return None,
                };
                if !open(&state, &sid) {
                    return None;
                }
                // A browser drops an event without data: the kind again,
                // or for a new message the desktop notification's text.
                let event = SseEvent::default()
                    .event(kind)
                    .data(data.unwrap_or_else(|| kind.to_owned()));
                return Some((Ok::<_, std::convert::Infallible>(event), (rx, state, sid)));
            }
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The banner saying whether the relay can be reached, refreshed by the
/// page when the event stream reports the link went down or up.
async fn relay_state(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let mut c = match Ctx::unlocked(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let p = c.page();
    html(StatusCode::OK, &RelayStateTpl { p })
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

pub(crate) async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found",
    )
        .into_response()
}
