//! The gate of the local web server.
//!
//! A TCP port on 127.0.0.1 is open to every local user and to every page
//! the browser shows (which may send requests to it, or reach it under
//! another name through DNS rebinding). So:
//!
//! - each launch draws a random token, printed in the URL to open; the
//!   first request with it gets a session cookie (HttpOnly, SameSite=Strict,
//!   named after the port), and the token is spent;
//! - every request must name the server as `127.0.0.1:PORT` or
//!   `localhost:PORT` in its Host header (DNS rebinding);
//! - every request that is not GET or HEAD must come from the app's own
//!   origin (Origin header) and carry the session's CSRF token (form field
//!   `csrf` or header `X-CSRF-Token`);
//! - every response forbids caching, framing, inline script and styles,
//!   and anything loaded from elsewhere (Content-Security-Policy).
//!
//! A session is unlocked once the passphrase was given (or the agent was
//! unlocked when the session began); locking, on demand or after
//! [`UiOptions::lock_after`](crate::UiOptions) without a request, locks
//! it again.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of every response: nothing but this origin,
/// no inline script or style, no eval, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The header htmx requests carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Sessions open at once (a browser that loses its cookie gets a new one
/// only with a new launch token, so this is never reached in normal use).
const MAX_SESSIONS: usize = 64;

/// Opaque handles per session (conversations, messages, contacts).
const MAX_HANDLES: usize = 100_000;

/// One browser's session.
#[derive(Debug)]
struct Session {
    csrf: String,
    unlocked: bool,
    last_seen: Instant,
    flash: Option<String>,
    /// What the officer wrote in a send that did not go out.
    draft: Option<Draft>,
    /// Opaque handle → what it stands for (`c:<conversation>`, ...).
    handles: HashMap<String, String>,
    /// What → its handle.
    targets: HashMap<String, String>,
}

#[derive(Debug, Default)]
struct Inner {
    launch_token: Option<String>,
    sessions: HashMap<String, Session>,
}

/// The launch token and the sessions.
#[derive(Debug)]
pub struct Gate {
    token: String,
    inner: Mutex<Inner>,
}

/// What a request's session allows.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// The session id (the cookie's value).
    pub id: String,
    /// Its CSRF token.
    pub csrf: String,
    /// Whether it may see the home.
    pub unlocked: bool,
    /// A one-time notice to show.
    pub flash: Option<String>,
    /// The request is the officer's (not a live update of a page).
    pub active: bool,
}

/// What the officer wrote in a send that did not go out (held by a
/// contact's changed key or new device, or refused), kept in memory to
/// fill the same page again: never in a URL, forgotten when the session
/// locks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Draft {
    /// The page it was written on (`/compose`, `/c/HANDLE`).
    pub page: String,
    /// The text.
    pub text: String,
    /// The recipients chosen (their handles).
    pub to: Vec<String>,
    /// The TLP label chosen.
    pub tlp: String,
}

fn random_hex() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(hex::encode(b))
}

/// Compare secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Gate {
    /// A gate with a fresh launch token.
    pub fn new() -> Result<Gate, getrandom::Error> {
        let token = random_hex()?;
        Ok(Gate {
            token: token.clone(),
            inner: Mutex::new(Inner {
                launch_token: Some(token),
                sessions: HashMap::new(),
            }),
        })
    }

    /// The launch token (for the URL printed at start).
    pub fn launch_token(&self) -> &str {
        &self.token
    }

    /// A new launch token (for `liaison ui` run again while the app runs):
    /// it replaces one not spent yet.
    pub fn new_launch_token(&self) -> Result<String, getrandom::Error> {
        let token = random_hex()?;
        self.lock().launch_token = Some(token.clone());
        Ok(token)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spend the launch token: a new session (unlocked if `unlocked`), or
    /// `None` if the token is wrong or already spent.
    pub fn redeem(&self, token: &str, unlocked: bool) -> Option<String> {
        let mut g = self.lock();
        let ok = g
            .launch_token
            .as_deref()
            .is_some_and(|t| same_secret(t, token));
        if !ok || g.sessions.len() >= MAX_SESSIONS {
            return None;
        }
        let id = random_hex().ok()?;
        let csrf = random_hex().ok()?;
        g.launch_token = None;
        g.sessions.insert(
            id.clone(),
            Session {
                csrf,
                unlocked,
                last_seen: Instant::now(),
                flash: None,
                draft: None,
                handles: HashMap::new(),
                targets: HashMap::new(),
            },
        );
        Some(id)
    }

    /// The session `id`, seen now: locked if it was idle for `lock_after`
    /// or more. A request of the officer's (`active`) counts as use and
    /// takes the session's flash; a live update (the event stream, a part
    /// of a page refreshed by it) does neither, so a busy inbox does not
    /// keep an unattended app unlocked.
    pub fn visit(&self, id: &str, lock_after: Duration, active: bool) -> Option<SessionInfo> {
        let mut g = self.lock();
        let s = g.sessions.get_mut(id)?;
        let now = Instant::now();
        if now.saturating_duration_since(s.last_seen) >= lock_after {
            s.unlocked = false;
        }
        if active {
            s.last_seen = now;
        }
        Some(SessionInfo {
            id: id.to_owned(),
            csrf: s.csrf.clone(),
            unlocked: s.unlocked,
            flash: if active { s.flash.take() } else { None },
            active,
        })
    }

    /// Mark the session unlocked (the passphrase was given).
    pub fn unlock(&self, id: &str) {
        if let Some(s) = self.lock().sessions.get_mut(id) {
            s.unlocked = true;
            s.last_seen = Instant::now();
        }
    }

    /// Lock every session: each needs the passphrase again. Their handles
    /// are forgotten.
    pub fn lock_all(&self) {
        for s in self.lock().sessions.values_mut() {
            s.unlocked = false;
            s.draft = None;
            s.handles.clear();
            s.targets.clear();
        }
    }

    /// Lock one session (its page found it idle).
    pub fn lock_session(&self, id: &str) {
        if let Some(s) = self.lock().sessions.get_mut(id) {
            s.unlocked = false;
            s.draft = None;
            s.handles.clear();
            s.targets.clear();
        }
    }

    /// Show `text` once on the session's next page (after what is already
    /// waiting to be shown).
    pub fn flash(&self, id: &str, text: String) {
        if let Some(s) = self.lock().sessions.get_mut(id) {
            s.flash = Some(match s.flash.take() {
                Some(before) => format!("{before} {text}"),
                None => text,
            });
        }
    }

    /// Keep `draft` for the session's next visit to its page (in place of
    /// any draft kept before).
    pub fn keep_draft(&self, id: &str, draft: Draft) {
        if let Some(s) = self.lock().sessions.get_mut(id) {
            s.draft = Some(draft);
        }
    }

    /// The draft kept for `page`, taken (a draft of another page stays).
    pub fn take_draft(&self, id: &str, page: &str) -> Option<Draft> {
        let mut g = self.lock();
        let s = g.sessions.get_mut(id)?;
        if s.draft.as_ref().is_some_and(|d| d.page == page) {
            s.draft.take()
        } else {
            None
        }
    }

    /// The session's opaque handle for `target` (stable within the
    /// session), so ids never appear in URLs or pages.
    pub fn handle_for(&self, id: &str, target: &str) -> String {
        let mut g = self.lock();
        let Some(s) = g.sessions.get_mut(id) else {
            return String::new();
        };
        if let Some(h) = s.targets.get(target) {
            return h.clone();
        }
        if s.handles.len() >= MAX_HANDLES {
            s.handles.clear();
            s.targets.clear();
        }
        let mut b = [0u8; 12];
        if getrandom::fill(&mut b).is_err() {
            return String::new();
        }
        let h = hex::encode(b);
        s.handles.insert(h.clone(), target.to_owned());
        s.targets.insert(target.to_owned(), h.clone());
        h
    }

    /// What the session's handle `h` stands for.
    pub fn resolve(&self, id: &str, h: &str) -> Option<String> {
        self.lock().sessions.get(id)?.handles.get(h).cloned()
    }
}

/// The name of the session cookie of the server on `port` (cookies are
/// shared by every port of a host, so two officers' apps on one machine
/// need different names).
pub fn cookie_name(port: u16) -> String {
    format!("liaison_session_{port}")
}

/// The `Set-Cookie` value of a new session.
pub fn session_cookie(port: u16, id: &str) -> String {
    format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict",
        cookie_name(port)
    )
}

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Whether `host` (a Host header) names this server.
pub fn host_allowed(host: &str, port: u16) -> bool {
    host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}")
}

/// Whether `origin` (an Origin header) is this app.
pub fn origin_allowed(origin: &str, port: u16) -> bool {
    origin == format!("http://127.0.0.1:{port}") || origin == format!("http://localhost:{port}")
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why,
    )
        .into_response()
}

/// The middleware in front of every route: Host and Origin checks, then
/// the security headers on whatever the route answered.
pub async fn guard(State(port): State<u16>, req: Request<Body>, next: Next) -> Response {
    let headers = req.headers();
    // A form sent by the app's script with a progress bar (static/app.js):
    // where to go next is told in a header, not by a redirect that the
    // script's request would follow by itself.
    let scripted_upload = headers.contains_key("x-liaison-upload");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let mut resp = if !host_allowed(host, port) {
        refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "refused: this server answers only requests addressed to 127.0.0.1 or localhost with its port",
        )
    } else if req.method() != Method::GET
        && req.method() != Method::HEAD
        && !headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| origin_allowed(o, port))
    {
        refuse(
            StatusCode::FORBIDDEN,
            "refused: a change may come only from the Liaison app's own pages",
        )
    } else if headers
        .get("sec-fetch-site")
        .and_then(|o| o.to_str().ok())
        .is_some_and(|s| s == "cross-site" || s == "same-site")
        && req.uri().path() != "/login"
    {
        refuse(
            StatusCode::FORBIDDEN,
            "refused: another site may not use the Liaison app",
        )
    } else {
        next.run(req).await
    };
    if scripted_upload
        && resp.status() == StatusCode::SEE_OTHER
        && let Some(to) = resp.headers_mut().remove(header::LOCATION)
    {
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut().insert("x-liaison-location", to);
    }
    let h = resp.headers_mut();
    // A route may set a stricter policy of its own (a file: `sandbox`).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: with it a browser sends `Origin: null` on form
        // posts, which the Origin check must refuse. `same-origin` still
        // sends nothing to another site.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launch_token_is_spent_by_its_first_use() {
        let g = Gate::new().expect("randomness");
        let token = g.launch_token().to_owned();
        assert!(g.redeem("wrong", true).is_none());
        let id = g.redeem(&token, false).expect("the token opens a session");
        assert!(g.redeem(&token, false).is_none(), "spent");
        let s = g
            .visit(&id, Duration::from_secs(60), true)
            .expect("a session");
        assert!(!s.unlocked);
        g.unlock(&id);
        assert!(
            g.visit(&id, Duration::from_secs(60), true)
                .expect("a session")
                .unlocked
        );
        // Idle for at least zero seconds: locked.
        assert!(
            !g.visit(&id, Duration::ZERO, true)
                .expect("a session")
                .unlocked
        );
        // Notices add up until shown.
        g.flash(&id, "one.".into());
        g.flash(&id, "two.".into());
        let s = g
            .visit(&id, Duration::from_secs(60), true)
            .expect("a session");
        assert_eq!(s.flash.as_deref(), Some("one. two."));
        // One session locks alone.
        g.unlock(&id);
        g.lock_session(&id);
        assert!(
            !g.visit(&id, Duration::from_secs(60), true)
                .expect("a session")
                .unlocked
        );
        // A new link opens a second session; an older unspent one is void.
        let t1 = g.new_launch_token().expect("randomness");
        let t2 = g.new_launch_token().expect("randomness");
        assert!(g.redeem(&t1, false).is_none());
        assert!(g.redeem(&t2, false).is_some());
        assert!(g.redeem(&t2, false).is_none());
    }

    #[test]
    fn locking_forgets_handles() {
        let g = Gate::new().expect("randomness");
        let id = g.redeem(g.launch_token(), true).expect("a session");
        let h = g.handle_for(&id, "c:1");
        assert_eq!(g.handle_for(&id, "c:1"), h);
        assert_eq!(g.resolve(&id, &h).as_deref(), Some("c:1"));
        assert_eq!(g.resolve("other", &h), None);
        g.lock_all();
        assert_eq!(g.resolve(&id, &h), None);
    }

    #[test]
    fn a_draft_fills_its_own_page_once_and_goes_with_the_lock() {
        let g = Gate::new().expect("randomness");
        let id = g.redeem(g.launch_token(), true).expect("a session");
        let draft = Draft {
            page: "/compose".into(),
            text: "Pier 7 at 0400".into(),
            to: vec!["h1".into()],
            tlp: "AMBER".into(),
        };
        g.keep_draft(&id, draft.clone());
        assert_eq!(g.take_draft(&id, "/c/abc"), None, "another page");
        assert_eq!(g.take_draft("other", "/compose"), None, "another session");
        assert_eq!(g.take_draft(&id, "/compose"), Some(draft.clone()));
        assert_eq!(g.take_draft(&id, "/compose"), None, "taken once");
        g.keep_draft(&id, draft.clone());
        g.lock_session(&id);
        assert_eq!(g.take_draft(&id, "/compose"), None, "forgotten when locked");
        g.keep_draft(&id, draft);
        g.lock_all();
        assert_eq!(
            g.take_draft(&id, "/compose"),
            None,
            "forgotten when all lock"
        );
    }

    #[test]
    fn host_and_origin() {
        assert!(host_allowed("127.0.0.1:8080", 8080));
        assert!(host_allowed("localhost:8080", 8080));
        assert!(!host_allowed("evil.example:8080", 8080));
        assert!(!host_allowed("127.0.0.1:8081", 8080));
        assert!(origin_allowed("http://127.0.0.1:8080", 8080));
        assert!(!origin_allowed("http://evil.example", 8080));
        assert!(!origin_allowed("null", 8080));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; liaison_session_9=abc; b=2"),
        );
        assert_eq!(cookie(&h, &cookie_name(9)).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, &cookie_name(10)), None);
    }
}
