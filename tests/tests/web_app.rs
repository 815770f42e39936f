//! The web app (`liaison --home H ui`) over HTTP, against real agents and a
//! real relay: unlock, send from one officer's app, read through the
//! handling gate in the other's, and every security refusal of the local
//! server (token, cookie, Host, Origin, CSRF, CSP, no-store, idle lock).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use liaison_tests::web::{Browser, HttpResponse, PHOTO, request};
use liaison_tests::{DevNet, PASSPHRASE, admin_command, assert_success, wait_until};

/// Long enough for an agent to connect, sync and receive a push.
const ARRIVE: Duration = Duration::from_secs(60);

/// The first `/c/HANDLE` link of a page.
fn conversation_link(r: &HttpResponse) -> Option<String> {
    let at = r.body.find("href=\"/c/")?;
    let rest = &r.body[at + 6..];
    Some(rest[..rest.find('"')?].to_owned())
}

fn location(r: &HttpResponse) -> String {
    r.header("location")
        .unwrap_or_else(|| panic!("a redirect, got {} {}", r.status, r.body))
        .to_owned()
}

/// Log in with the launch URL: the session cookie is set, with its flags.
fn login(addr: &str, login_path: &str) -> Browser {
    let mut b = Browser::new(addr);
    let r = b.get(login_path);
    assert_eq!(r.status, 200, "{}", r.body);
    // It moves on to the app from a page of its own (no redirect, which
    // would carry no SameSite=Strict cookie after a cross-site start).
    assert!(r.body.contains("content=\"0;url=/\""), "{}", r.body);
    let cookie = r.header("set-cookie").expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(b.session.is_some());
    b
}

#[test]
fn alice_sends_from_her_app_and_bob_reads_through_the_handling_gate() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    // Alice's app starts locked; Bob's agent is unlocked by LIAISON_PASSPHRASE.
    let alice_ui = alice.start_ui(false, &[]);
    let bob_ui = bob.start_ui(true, &[]);
    assert!(
        alice_ui.url.starts_with("http://127.0.0.1:"),
        "{}",
        alice_ui.url
    );

    // Alice: the launch link gives a session; the home is locked, so every
    // page leads to the unlock page.
    let mut a = login(&alice_ui.addr, &alice_ui.login_path());
    let r = a.get("/");
    assert_eq!((r.status, location(&r).as_str()), (303, "/unlock"));
    let page = a.get("/unlock");
    assert_eq!(page.status, 200);
    let csrf = page.input_value("csrf").expect("a CSRF field");
    let r = a.post(
        "/unlock",
        &[("csrf", &csrf), ("passphrase", "not the passphrase")],
    );
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Wrong passphrase"), "{}", r.body);
    let r = a.post("/unlock", &[("csrf", &csrf), ("passphrase", PASSPHRASE)]);
    assert_eq!((r.status, location(&r).as_str()), (303, "/"), "{}", r.body);
    let r = a.get("/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("No conversations yet"), "{}", r.body);

    // She finds Bob by name (no id typed) once her agent has synced the
    // directory, and sends him a RED message, the default.
    let mut compose = a.get("/compose?q=bo");
    wait_until("Bob in Alice's directory", ARRIVE, || {
        compose = a.get("/compose?q=bo");
        compose.body.contains("PNP, PH")
    });
    assert!(
        compose.body.contains("value=\"RED\" checked"),
        "{}",
        compose.body
    );
    assert!(!compose.body.contains("ph.pnp.bob"), "no ids in the page");
    let to = compose.input_values("to");
    assert_eq!(to.len(), 1, "only Bob matches: {to:?}");
    let r = a.post(
        "/send",
        &[
            ("csrf", &csrf),
            ("to", &to[0]),
            ("tlp", "RED"),
            ("text", "Pier 7 at 0400"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let alice_conv = location(&r);
    assert!(alice_conv.starts_with("/c/"), "{alice_conv}");
    let r = a.get(&alice_conv);
    assert!(r.body.contains("Sent."), "{}", r.body);
    assert!(r.body.contains("Pier 7 at 0400"), "{}", r.body);
    assert!(r.body.contains("TLP:RED"), "{}", r.body);

    // Bob's app lists the conversation with one unread message, from
    // Alice of DSI, Thailand.
    let mut b = login(&bob_ui.addr, &bob_ui.login_path());
    let mut list = b.get("/");
    wait_until("Alice's message in Bob's app", ARRIVE, || {
        list = b.get("/");
        list.body.contains("1 unread")
    });
    assert!(list.body.contains("alice"), "{}", list.body);
    assert!(list.body.contains("DSI, TH"), "{}", list.body);
    let conv = conversation_link(&list).expect("a link to the conversation");

    // The handling gate: the text stays hidden until Bob acknowledges.
    let r = b.get(&conv);
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains("Acknowledge the handling to read this message"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("Pier 7"), "content before acknowledging");
    let ids: Vec<String> = bob
        .inbox()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(!r.body.contains(&ids[0]), "the message id is in the page");
    let m = r.input_value("m").expect("the acknowledge form");
    let bcsrf = r.input_value("csrf").expect("a CSRF field");
    let r = b.post("/read", &[("csrf", &bcsrf), ("m", &m)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!location(&r).contains(&ids[0]));
    let r = b.get(&location(&r));
    assert!(r.body.contains("Pier 7 at 0400"), "{}", r.body);
    // The same operation as `read --accept`: the CLI sees it acknowledged.
    assert!(bob.inbox()[0]["acknowledged_at"].is_string());

    // Alice's app shows Bob's signed acknowledgement.
    wait_until("the acknowledgement in Alice's app", ARRIVE, || {
        a.get(&alice_conv).body.contains("acknowledged")
    });

    // Bob replies in the conversation, without choosing anyone.
    let r = b.post(
        "/send",
        &[
            ("csrf", &bcsrf),
            ("c", &conv["/c/".len()..]),
            ("tlp", "AMBER"),
            ("text", "Understood, team ready"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(location(&r), conv, "the reply stays in the conversation");

    // With the relay gone, the app says so and a send is kept.
    net.kill();
    let r = a.post(
        "/send",
        &[
            ("csrf", &csrf),
            ("c", &alice_conv["/c/".len()..]),
            ("tlp", "RED"),
            ("text", "Are you there?"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a.get(&location(&r));
    assert!(
        r.body.contains("Kept: the relay cannot be reached"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("The relay cannot be reached"),
        "the banner: {}",
        r.body
    );

    // Once the relay is back, the kept message goes out by itself: Bob's
    // agent receives it and Alice's banner goes.
    net.restart();
    wait_until("the kept message at Bob's", ARRIVE, || {
        bob.inbox().len() == 2
    });
    wait_until("the banner gone from Alice's app", ARRIVE, || {
        !a.get(&alice_conv)
            .body
            .contains("The relay cannot be reached")
    });
}

#[test]
fn the_local_server_refuses_what_a_browser_page_or_another_user_could_forge() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let ui = alice.start_ui(true, &[]);
    let addr = ui.addr.as_str();
    let port = addr.rsplit(':').next().unwrap();

    // No session: refused, and no page of the home.
    let r = request(addr, "GET", "/", &[], None);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("no session"), "{}", r.body);
    // A wrong token opens nothing.
    let r = request(addr, "GET", "/login?token=00", &[], None);
    assert_eq!(r.status, 403);
    assert!(r.header("set-cookie").is_none());
    // The right one opens one session, once.
    let mut b = login(addr, &ui.login_path());
    let r = request(addr, "GET", &ui.login_path(), &[], None);
    assert_eq!(r.status, 403, "the launch token works only once");
    assert!(r.header("set-cookie").is_none());
    assert!(r.body.contains("already used"), "{}", r.body);
    // A cookie that is not a session's.
    let fake = format!("liaison_session_{port}=0000");
    let r = request(addr, "GET", "/", &[("Cookie", &fake)], None);
    assert_eq!(r.status, 403);

    let page = b.get("/");
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input_value("csrf").expect("a CSRF field");
    let cookie = b.session.clone().unwrap();

    // DNS rebinding: the same socket under another name is refused, even
    // with the session cookie.
    for host in [
        "evil.example",
        "evil.example:80",
        &format!("attacker.test:{port}"),
    ] {
        let r = request(
            addr,
            "GET",
            "/",
            &[("Host", host), ("Cookie", &cookie)],
            None,
        );
        assert_eq!(r.status, 421, "Host {host}: {}", r.body);
    }
    let r = request(
        addr,
        "GET",
        "/",
        &[("Host", &format!("localhost:{port}")), ("Cookie", &cookie)],
        None,
    );
    assert_eq!(r.status, 200);

    // A change from another origin, or without one, is refused; so is one
    // without the session's CSRF token; the session stays unlocked.
    let form = format!("csrf={csrf}");
    for origin in [
        None,
        Some("http://evil.example"),
        Some("null"),
        Some(&*format!("http://127.0.0.1:{}", 1)),
    ] {
        let mut h = vec![
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        let r = request(addr, "POST", "/lock", &h, Some(&form));
        assert_eq!(r.status, 403, "Origin {origin:?}: {}", r.body);
    }
    let r = request(
        addr,
        "POST",
        "/lock",
        &[
            ("Cookie", &cookie),
            ("Origin", &format!("http://{addr}")),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        Some(&form),
    );
    assert_eq!(r.status, 403, "a cross-site fetch");
    for fields in [vec![], vec![("csrf", "0000")]] {
        let r = b.post("/lock", &fields);
        assert_eq!(r.status, 403, "CSRF {fields:?}: {}", r.body);
    }
    // So is every other change: a forward, its scope check, a consent
    // request or decision.
    for path in [
        "/forward",
        "/forward/check",
        "/consent/ask",
        "/consent/grant",
        "/consent/refuse",
    ] {
        let r = b.post(path, &[("csrf", "0000"), ("m", "x"), ("r", "x")]);
        assert_eq!(r.status, 403, "{path} without the CSRF token: {}", r.body);
        // With it, a handle this session was not given names nothing.
        let r = b.post(path, &[("csrf", &csrf), ("m", "x"), ("r", "x")]);
        assert_eq!(r.status, 404, "{path} with a made-up handle: {}", r.body);
    }
    assert_eq!(b.get("/").status, 200, "still unlocked");
    // The token also works as a header (htmx sends it so).
    let r = request(
        addr,
        "POST",
        "/lock",
        &[
            ("Cookie", &cookie),
            ("Origin", &format!("http://{addr}")),
            ("X-CSRF-Token", &csrf),
        ],
        Some(""),
    );
    assert_eq!((r.status, location(&r).as_str()), (303, "/unlock"));

    // Locked on demand: every page leads to the unlock page, which says the
    // agent keeps receiving; the passphrase opens it again.
    let r = b.get("/compose");
    assert_eq!((r.status, location(&r).as_str()), (303, "/unlock"));
    let r = b.get("/unlock");
    assert!(r.body.contains("keeps receiving"), "{}", r.body);
    // The event stream is closed to a locked session, and to no session.
    assert_eq!(b.get("/events").status, 204);
    assert_eq!(request(addr, "GET", "/events", &[], None).status, 403);
    let r = b.post("/unlock", &[("csrf", &csrf), ("passphrase", "guess")]);
    assert_eq!(r.status, 401);
    let r = b.post("/unlock", &[("csrf", &csrf), ("passphrase", PASSPHRASE)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(b.get("/").status, 200);

    // The page's script keeps the session alive while the officer types
    // (with the CSRF token only), and locks it when the page found itself
    // idle; a part htmx asks for then sends the whole page to unlock.
    assert_eq!(b.post("/alive", &[]).status, 403);
    assert_eq!(b.post("/alive", &[("csrf", &csrf)]).status, 204);
    let r = b.get("/unlock?idle=1");
    assert!(r.body.contains("id=\"passphrase\""), "{}", r.body);
    let r = b.get("/");
    assert_eq!((r.status, location(&r).as_str()), (303, "/unlock"));
    let r = request(
        addr,
        "GET",
        "/",
        &[("Cookie", &cookie), ("HX-Request", "true")],
        None,
    );
    assert_eq!((r.status, r.header("hx-redirect")), (200, Some("/unlock")));
    let r = b.post("/unlock", &[("csrf", &csrf), ("passphrase", PASSPHRASE)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b.get("/");
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("data-lock-after=\"900\""),
        "15 minutes by default"
    );

    // Every response: a strict CSP, no caching; pages have no inline
    // script or style.
    for path in [
        "/",
        "/compose",
        "/static/htmx.min.js",
        "/static/app.css",
        "/nowhere",
    ] {
        let r = b.get(path);
        let csp = r.header("content-security-policy").expect("a CSP");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{path}");
    }
    for path in ["/", "/compose", "/unlock"] {
        let r = b.get(path);
        assert!(!r.body.contains("<script>"), "{path}: inline script");
        assert!(!r.body.contains(" style="), "{path}: inline style");
        assert!(!r.body.contains("<style"), "{path}: inline style");
    }
    let r = request(addr, "GET", "/", &[("Host", "evil.example")], None);
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // Switching to Thai: Thai labels, TLP labels still in English capitals.
    let r = b.post("/language", &[("csrf", &csrf), ("lang", "th")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b.get("/compose");
    assert!(r.body.contains("lang=\"th\""), "{}", r.body);
    assert!(r.body.contains("ข้อความใหม่"), "{}", r.body);
    assert!(r.body.contains("TLP:AMBER+STRICT"), "{}", r.body);
}

#[test]
fn the_app_locks_itself_when_idle_and_listens_on_loopback_only() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");

    // Not on another address.
    let out = alice.run(&["ui", "--listen", "0.0.0.0:0", "--no-browser"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1 only"), "{err}");
    // The refused launch left no agent behind.
    assert!(!alice.home.join("agent.sock").exists());

    // Locked after zero minutes without use: the next request already
    // finds it idle.
    let ui = alice.start_ui(true, &["--lock-after", "0"]);
    let mut b = login(&ui.addr, &ui.login_path());
    let r = b.get("/");
    assert_eq!((r.status, location(&r).as_str()), (303, "/unlock"));
    let r = b.get("/unlock");
    assert!(r.body.contains("keeps receiving"), "{}", r.body);

    // While the app runs, the command line goes through its agent.
    let out = alice.run(&["agent", "status", "--json"]);
    assert_success(&out, "agent status while the app runs");

    // Run again (a browser lost its cookie): a new one-time link to the
    // running app, which opens a session of its own.
    let out = alice.run(&["ui", "--no-browser"]);
    assert_success(&out, "liaison ui while the app runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let url = stdout.lines().next().expect("a link");
    assert!(
        url.starts_with(&format!("http://{}/login?token=", ui.addr)),
        "{url}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already runs"));
    let path = &url[url.find("/login").unwrap()..];
    let mut b2 = login(&ui.addr, path);
    assert_ne!(b2.session, b.session);
    assert_eq!(
        b2.get("/").status,
        303,
        "locked when idle, like any session"
    );
    let r = request(&ui.addr, "GET", path, &[], None);
    assert_eq!(r.status, 403, "the new link works once too");
    // The link socket is the owner's only.
    let mode = std::fs::metadata(alice.home.join("ui.sock")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // Stopped, it takes its agent along and leaves neither socket behind.
    let mut ui = ui;
    assert!(ui.terminate().success(), "{:?}", ui.log());
    assert!(!alice.home.join("agent.sock").exists());
    assert!(!alice.home.join("ui.sock").exists());
    let out = alice.run(&["agent", "status"]);
    assert!(!out.status.success(), "no agent runs any more");
}

#[test]
fn a_changed_key_holds_sending_until_the_officer_has_checked_it() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "th.dsi.bob", "TH", "DSI");
    assert_success(&bob.run(&["sync"]), "bob sync");
    let whoami = bob.run(&["--json", "whoami"]);
    assert_success(&whoami, "bob whoami");
    let whoami: serde_json::Value = serde_json::from_slice(&whoami.stdout).unwrap();
    let old_identity = whoami["identity_fingerprint"]
        .as_str()
        .unwrap()
        .replace(' ', "");
    let ui = alice.start_ui(true, &[]);
    let mut a = login(&ui.addr, &ui.login_path());
    let mut compose = a.get("/compose?q=bob");
    wait_until("Bob in Alice's directory", ARRIVE, || {
        compose = a.get("/compose?q=bob");
        compose.body.contains("DSI, TH")
    });
    let csrf = compose.input_value("csrf").unwrap();
    let to = compose.input_values("to");
    assert_eq!(to.len(), 1, "{to:?}");
    assert!(!compose.body.contains("has changed"), "{}", compose.body);

    // Bob reinstalls (his new home's name is bob-new): a new identity for
    // his id, confirmed by his authority.
    let bob2 = net.init("bob-new", "th.dsi.bob", "TH", "DSI");
    let out = admin_command()
        .arg("enrol")
        .arg("--authority")
        .arg(net.authority("TH"))
        .arg("--bundle")
        .arg(net.bundle())
        .args(["--version", "2", "--replace-identity", &old_identity])
        .arg(bob2.home.join("enrolment.request"))
        .output()
        .unwrap();
    assert_success(&out, "enrol --replace-identity");
    assert_success(&bob2.run(&["sync"]), "bob's new home syncs");

    // Alice's pages show the change as a warning with the safety number
    // to compare, the same Bob's new home shows.
    let mut page = a.get("/compose?q=bob");
    let deadline = std::time::Instant::now() + ARRIVE;
    while !page
        .body
        .contains("The identity key of bob-new has changed")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no key change in Alice's app: {}\n{}",
            page.body,
            String::from_utf8_lossy(&alice.run(&["--json", "contacts"]).stdout)
        );
        std::thread::sleep(Duration::from_millis(300));
        page = a.get("/compose?q=bob");
    }
    let theirs = bob2.run(&["--json", "safety-number", "th.dsi.alice"]);
    assert_success(&theirs, "bob's safety number");
    let theirs: serde_json::Value = serde_json::from_slice(&theirs.stdout).unwrap();
    let number = theirs["safety_number"].as_str().unwrap();
    assert!(page.body.contains(number), "{number}: {}", page.body);
    assert!(!page.body.contains("th.dsi.bob"), "no ids in the page");

    // Sending to Bob is held, and the app says why in plain words.
    let send = |a: &mut Browser, text: &str| {
        a.post(
            "/send",
            &[
                ("csrf", &csrf),
                ("to", &to[0]),
                ("tlp", "RED"),
                ("text", text),
            ],
        )
    };
    let r = send(&mut a, "held?");
    assert_eq!((r.status, location(&r).as_str()), (303, "/compose"));
    let r = a.get("/compose");
    assert!(
        r.body
            .contains("Nothing was sent: the identity key of bob-new has changed"),
        "{}",
        r.body
    );
    assert!(
        !r.body.contains("liaison "),
        "no command for an officer: {}",
        r.body
    );
    assert!(bob2.inbox().is_empty());

    // "I have checked" does what `liaison contacts accept` does: the
    // warning goes and sending works again.
    let accept = r.input_value("p").expect("the I-have-checked form");
    let r = a.post("/contact/accept", &[("csrf", "0000"), ("p", &accept)]);
    assert_eq!(r.status, 403, "without the CSRF token: {}", r.body);
    let r = a.post("/contact/accept", &[("csrf", &csrf), ("p", &accept)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a.get(&location(&r));
    assert!(
        r.body.contains("The new key of bob-new is accepted"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("has changed"), "{}", r.body);
    let contacts = alice.run(&["--json", "contacts"]);
    assert_success(&contacts, "alice contacts");
    let contacts: serde_json::Value = serde_json::from_slice(&contacts.stdout).unwrap();
    let row = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "th.dsi.bob")
        .unwrap();
    assert_eq!(row["key_changed"], false, "{row}");
    let r = send(&mut a, "after checking");
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a.get(&location(&r));
    assert!(r.body.contains("Sent."), "{}", r.body);
    wait_until("the message at Bob's new home", ARRIVE, || {
        bob2.run(&["sync"]);
        bob2.inbox().iter().any(|m| m["from"] == "th.dsi.alice")
    });
}

/// A contact's new device (approved by them, countersigned by their
/// authority) is announced as a banner on every page, with its
/// fingerprint; the app sends nothing to that contact until the officer
/// has noted it, and then the message goes to both devices.
#[test]
fn a_contacts_new_device_is_announced_and_noted_before_the_app_sends() {
    let net = DevNet::start();
    let bundle = net.bundle();
    let b = bundle.to_str().unwrap();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "th.dsi.bob", "TH", "DSI");
    assert_success(&alice.run(&["sync"]), "alice sync");
    assert_success(&bob.run(&["sync"]), "bob sync");
    let ui = bob.start_ui(true, &[]);
    let mut page = login(&ui.addr, &ui.login_path());
    let mut compose = page.get("/compose?q=alice");
    wait_until("Alice in Bob's directory", ARRIVE, || {
        compose = page.get("/compose?q=alice");
        compose.body.contains("DSI, TH")
    });
    let csrf = compose.input_value("csrf").unwrap();
    let to = compose.input_values("to");
    assert_eq!(to.len(), 1, "{to:?}");
    assert!(
        !compose.body.contains("has a new device"),
        "{}",
        compose.body
    );

    // Alice's laptop joins: her desk machine approves, her authority
    // countersigns.
    let laptop = net.person("alice-laptop");
    let out = laptop.run(&["device", "request", "--bundle", b, "--id", "th.dsi.alice"]);
    assert_success(&out, "device request");
    let code = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Confirmation code: "))
        .unwrap()
        .to_owned();
    let approval = net.dir.path().join("alice-laptop.approval");
    let request = laptop.home.join("device.request");
    assert_success(
        &alice.run(&[
            "device",
            "approve",
            request.to_str().unwrap(),
            "--code",
            &code,
            "--out",
            approval.to_str().unwrap(),
        ]),
        "device approve",
    );
    assert_success(
        &laptop.run(&["device", "link", approval.to_str().unwrap()]),
        "device link",
    );
    let linked = laptop.home.join("device.approval");
    let out = admin_command()
        .arg("add-device")
        .arg("--authority")
        .arg(net.authority("TH"))
        .args(["--bundle", b, "--json"])
        .arg(&linked)
        .output()
        .unwrap();
    assert_success(&out, "add-device");
    let added: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fingerprint = added["added_device"].as_str().unwrap().to_owned();

    // Every page of Bob's app announces it, with the fingerprint.
    let mut r = page.get("/");
    let deadline = std::time::Instant::now() + ARRIVE;
    while !r.body.contains("alice has a new device") {
        assert!(
            std::time::Instant::now() < deadline,
            "no new device banner: {}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(300));
        r = page.get("/");
    }
    assert!(r.body.contains(&fingerprint), "{fingerprint}: {}", r.body);
    assert!(!r.body.contains("th.dsi.alice"), "no ids in the page");

    // Sending to Alice is held, and the app says why.
    let send = |page: &mut Browser, text: &str| {
        page.post(
            "/send",
            &[
                ("csrf", &csrf),
                ("to", &to[0]),
                ("tlp", "AMBER"),
                ("text", text),
            ],
        )
    };
    let r = send(&mut page, "held until noted");
    assert_eq!((r.status, location(&r).as_str()), (303, "/compose"));
    let r = page.get("/compose");
    assert!(
        r.body.contains("Nothing was sent: alice has a new device"),
        "{}",
        r.body
    );
    // What Bob wrote is still there, with Alice chosen and the TLP he
    // picked, to send once he has dealt with the notice; and only once.
    assert!(
        r.body.contains(">held until noted</textarea>"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(&format!("value=\"{}\" checked", to[0])),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"AMBER\" checked"), "{}", r.body);
    assert!(!page.get("/compose").body.contains("held until noted"));

    // Noting it: the banner goes and sending works; both of Alice's
    // devices receive the message, and nothing held was sent.
    let noted = r.input_value("p").expect("the noted form");
    let r = page.post("/contact/devices-seen", &[("csrf", "0000"), ("p", &noted)]);
    assert_eq!(r.status, 403, "without the CSRF token: {}", r.body);
    let r = page.post("/contact/devices-seen", &[("csrf", &csrf), ("p", &noted)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = page.get(&location(&r));
    assert!(
        r.body
            .contains("Noted: your messages to alice go to all of their devices."),
        "{}",
        r.body
    );
    assert!(!r.body.contains("has a new device"), "{}", r.body);
    let r = send(&mut page, "to both devices");
    assert_eq!(r.status, 303, "{}", r.body);
    let r = page.get(&location(&r));
    assert!(r.body.contains("Sent."), "{}", r.body);
    for home in [&alice, &laptop] {
        wait_until("the message on each of Alice's devices", ARRIVE, || {
            home.run(&["sync"]);
            let texts: Vec<String> = home
                .inbox()
                .iter()
                .filter(|m| m["from"] == "th.dsi.bob")
                .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
                .collect();
            texts.len() == 1
        });
    }
}

#[test]
fn the_directory_finds_people_by_name_and_country_and_shows_their_card() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    // Dan gives his unit, language and time zone.
    let dan = net.person("dan");
    let out = dan.run(&[
        "init",
        "--bundle",
        net.bundle().to_str().unwrap(),
        "--id",
        "th.dsi.dan",
        "--name",
        "Dan Srisuk",
        "--country",
        "TH",
        "--agency",
        "DSI",
        "--unit",
        "Cyber Crime",
        "--language",
        "th",
        "--time-zone",
        "Asia/Bangkok",
    ]);
    assert_success(&out, "dan init");
    let out = admin_command()
        .arg("enrol")
        .arg("--authority")
        .arg(net.authority("TH"))
        .arg("--bundle")
        .arg(net.bundle())
        .arg(dan.home.join("enrolment.request"))
        .output()
        .unwrap();
    assert_success(&out, "dan enrol");
    let ui = alice.start_ui(true, &[]);
    let mut a = login(&ui.addr, &ui.login_path());

    // By country: Thailand lists Dan, not Bob (the Philippines).
    let mut page = a.get("/directory?country=TH");
    wait_until("Dan in Alice's directory", ARRIVE, || {
        page = a.get("/directory?country=TH");
        page.body.contains("Dan Srisuk")
    });
    assert!(!page.body.contains(">bob<"), "{}", page.body);
    assert!(page.body.contains("Cyber Crime"), "{}", page.body);
    assert!(!page.body.contains("th.dsi.dan"), "no ids in the page");
    let r = a.get("/directory?country=PH");
    assert!(r.body.contains(">bob<"), "{}", r.body);
    assert!(!r.body.contains("Dan Srisuk"), "{}", r.body);
    // By name, across countries.
    let r = a.get("/directory?q=srisuk");
    assert!(
        r.body.contains("Dan Srisuk") && !r.body.contains(">bob<"),
        "{}",
        r.body
    );

    // Dan's card: who vouched and since when, his local time now, and the
    // safety number he sees for Alice.
    let at = page
        .body
        .find("href=\"/contact/")
        .expect("a link to a card");
    let rest = &page.body[at + 6..];
    let card = a.get(&rest[..rest.find('"').unwrap()]);
    assert_eq!(card.status, 200, "{}", card.body);
    assert!(card.body.contains("Dan Srisuk"), "{}", card.body);
    assert!(card.body.contains("Vouched for by"), "{}", card.body);
    assert!(card.body.contains("Thailand"), "{}", card.body);
    assert!(card.body.contains("+07"), "Bangkok time now: {}", card.body);
    assert_success(&dan.run(&["sync"]), "dan sync");
    let theirs = dan.run(&["--json", "safety-number", "th.dsi.alice"]);
    assert_success(&theirs, "dan's safety number");
    let theirs: serde_json::Value = serde_json::from_slice(&theirs.stdout).unwrap();
    let number = theirs["safety_number"].as_str().unwrap();
    assert!(card.body.contains(number), "{number}: {}", card.body);
    // A card handle this session was not given shows nothing.
    assert_eq!(a.get("/contact/0000").status, 404);
    // Filters by agency and language as well as country and name.
    let pnp = a.get("/directory?agency=PNP");
    assert!(pnp.body.contains(">bob</a>"), "{}", pnp.body);
    assert!(!pnp.body.contains("Dan Srisuk</a>"), "{}", pnp.body);
    let dsi = a.get("/directory?agency=DSI");
    assert!(dsi.body.contains("Dan Srisuk</a>"), "{}", dsi.body);
    assert!(!dsi.body.contains(">bob</a>"), "{}", dsi.body);

    // In person: the card shows the number as a QR code for Dan's app to
    // scan, and takes the number Dan reads out or his code scanned.
    assert!(card.body.contains("<svg"), "a QR code: {}", card.body);
    assert!(card.body.contains("Not compared yet"), "{}", card.body);
    let csrf = card.input_value("csrf").unwrap();
    let who = card.input_value("p").expect("the verification form");
    let verify = |a: &mut Browser, sn: &str| {
        let r = a.post(
            "/contact/verify",
            &[("csrf", csrf.as_str()), ("p", who.as_str()), ("sn", sn)],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        a.get(&location(&r))
    };
    let verified = || {
        let out = alice.run(&["--json", "contacts", "--name", "Dan"]);
        assert_success(&out, "alice contacts");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["verified_in_person"].as_bool().unwrap()
    };
    // A number that differs in one digit (an impostor's key) is refused,
    // and says what to do.
    let mut wrong: Vec<char> = number.chars().collect();
    wrong[0] = if wrong[0] == '1' { '2' } else { '1' };
    let r = verify(&mut a, &wrong.iter().collect::<String>());
    assert!(r.body.contains("The numbers do not match"), "{}", r.body);
    assert!(r.body.contains("Tell your authority"), "{}", r.body);
    assert!(!verified());
    // Another app's code (a web address) is not compared as a number.
    let r = verify(&mut a, "https://example.org/12345");
    assert!(r.body.contains("not a Liaison safety number"), "{}", r.body);
    assert!(!verified());
    // Without the CSRF token, nothing is marked.
    let r = a.post(
        "/contact/verify",
        &[("csrf", "0000"), ("p", who.as_str()), ("sn", number)],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!verified());
    // Alice's own code (the number is the same on both sides: a photo of
    // her own screen) is not Dan's, and says so; another person's neither.
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let r = verify(
        &mut a,
        &format!("liaison-safety-number:th.dsi.alice:{digits}"),
    );
    assert!(
        r.body.contains("That is the code your own app shows"),
        "{}",
        r.body
    );
    let r = verify(
        &mut a,
        &format!("liaison-safety-number:ph.pnp.bob:{digits}"),
    );
    assert!(r.body.contains("not a Liaison safety number"), "{}", r.body);
    assert!(!verified());
    // Alice's card shows her own code, naming her.
    assert!(card.body.contains("<svg"), "{}", card.body);
    // Dan's code as his app shows it (what the camera reads) marks him.
    let r = verify(
        &mut a,
        &format!("liaison-safety-number:th.dsi.dan:{digits}"),
    );
    assert!(
        r.body
            .contains("Dan Srisuk is verified in person: the safety numbers match."),
        "{}",
        r.body
    );
    assert!(verified());
}

/// The first link of `r` that starts with `prefix`.
fn link_to(r: &HttpResponse, prefix: &str) -> Option<String> {
    let at = r.body.find(&format!("href=\"{prefix}"))?;
    let rest = &r.body[at + 6..];
    Some(rest[..rest.find('"')?].to_owned())
}

#[test]
fn evidence_downloads_as_a_file_that_verifies_once_judicial_use_is_granted() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let alice_ui = alice.start_ui(true, &[]);
    let bob_ui = bob.start_ui(true, &[]);
    let mut a = login(&alice_ui.addr, &alice_ui.login_path());
    let mut b = login(&bob_ui.addr, &bob_ui.login_path());
    // RED: judicial use prohibited unless Alice consents.
    wait_until("Alice's send to Bob", ARRIVE, || {
        alice
            .run(&["send", "--to", "ph.pnp.bob", "names of the recruiters"])
            .status
            .success()
    });
    let mut list = b.get("/");
    wait_until("Alice's message in Bob's app", ARRIVE, || {
        list = b.get("/");
        list.body.contains("1 unread")
    });
    let conv = conversation_link(&list).unwrap();
    let page = b.get(&conv);
    let csrf = page.input_value("csrf").unwrap();
    let m = page.input_value("m").unwrap();
    let r = b.post("/read", &[("csrf", &csrf), ("m", &m)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let page = b.get(&conv);
    assert!(
        page.body.contains("Ask for use as evidence"),
        "{}",
        page.body
    );
    let evidence = link_to(&page, "/evidence/").expect("a link to the evidence page");
    let page = b.get(&evidence);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("does not allow use as evidence in court, unless alice consents"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("evidence-download"), "{}", page.body);

    // Posted anyway: refused in plain words, with the consent offer, and
    // no file.
    let case = "PH-NBI-2026-114";
    let export = |b: &mut Browser, case: &str| {
        b.post("/evidence", &[("csrf", &csrf), ("m", &m), ("case", case)])
    };
    let r = b.post("/evidence", &[("csrf", "0000"), ("m", &m), ("case", case)]);
    assert_eq!(r.status, 403, "without the CSRF token");
    let r = export(&mut b, case);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.header("content-disposition").is_none());
    assert!(
        r.body.contains(
            "No evidence file was made: alice has not consented to use this message as evidence for case PH-NBI-2026-114"
        ),
        "{}",
        r.body
    );
    assert!(r.body.contains("Ask alice for consent"), "{}", r.body);
    assert!(!r.body.contains("liaison "), "no command: {}", r.body);

    // Bob asks; Alice grants (on the command line, through her agent).
    let r = b.post(
        "/evidence/ask",
        &[
            ("csrf", &csrf),
            ("m", &m),
            ("case", case),
            ("reason", "prosecution of the recruiters"),
        ],
    );
    assert_eq!((r.status, location(&r).as_str()), (303, "/consents"));
    let r = b.get("/consents");
    assert!(
        r.body
            .contains("Use as evidence in court, for case PH-NBI-2026-114"),
        "{}",
        r.body
    );
    let mut request = None;
    wait_until("Bob's request at Alice's", ARRIVE, || {
        request = alice
            .inbox()
            .into_iter()
            .find(|m| m["kind"] == "consent-request" && m["awaiting_decision"] == true);
        request.is_some()
    });
    let request = request.unwrap()["id"].as_str().unwrap().to_owned();
    assert_success(&alice.run(&["consent", "grant", &request]), "consent grant");
    let mut page = b.get(&evidence);
    wait_until("the grant in Bob's app", ARRIVE, || {
        page = b.get(&evidence);
        page.body.contains("evidence-download")
    });
    assert!(
        page.body
            .contains("Consented to its use as evidence for case PH-NBI-2026-114"),
        "{}",
        page.body
    );
    assert_eq!(page.input_value("case").as_deref(), Some(case));

    // Another case is still refused; this one downloads, not cached, and
    // the file verifies offline.
    let r = export(&mut b, "PH-NBI-2026-999");
    assert_eq!(r.status, 403, "{}", r.body);
    let r = export(&mut b, case);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"evidence-PH-NBI-2026-114.txt\"")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let file = bob.home.join("downloaded-evidence.txt");
    std::fs::write(&file, &r.body).unwrap();
    let out = std::process::Command::new(liaison_tests::bin("liaison-audit"))
        .arg("verify-message")
        .arg(&file)
        .arg("--bundle")
        .arg(net.bundle())
        .output()
        .unwrap();
    assert_success(&out, "liaison-audit verify-message on the download");

    // Alice's app shows Bob's receipts with their times (UTC on hover).
    let list = a.get("/");
    let conv = conversation_link(&list).unwrap();
    let page = a.get(&conv);
    let receipts = &page.body[page.body.find("class=\"receipts\"").expect("receipts")..];
    let receipts = &receipts[..receipts.find("</ul>").unwrap()];
    assert!(receipts.contains("bob"), "{receipts}");
    assert!(receipts.contains("acknowledged <time"), "{receipts}");
    assert!(receipts.contains("delivered <time"), "{receipts}");
    assert!(receipts.contains(" UTC\""), "{receipts}");
}

#[test]
fn settings_devices_and_roles_in_the_app() {
    let net = DevNet::start();
    let bundle = net.bundle();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let niran = net.enrol("niran", "th.dsi.niran", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let set_role = |holders: &str| {
        let out = admin_command()
            .args(["role", "set", "--authority"])
            .arg(net.authority("TH"))
            .arg("--bundle")
            .arg(&bundle)
            .args([
                "--role",
                "th.dsi.duty",
                "--name",
                "Duty desk",
                "--holders",
                holders,
            ])
            .output()
            .unwrap();
        assert_success(&out, "role set");
    };
    set_role("th.dsi.alice");
    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_success(
        &bob.run(&["send", "--to", "th.dsi.duty", "tip for the duty desk"]),
        "bob sends to the role",
    );
    // Alice receives it while she holds the role; then the authority gives
    // the role to Niran.
    assert_success(&alice.run(&["sync"]), "alice sync");
    set_role("th.dsi.niran");
    let ui = alice.start_ui(true, &[]);
    let mut a = login(&ui.addr, &ui.login_path());
    let mut list = a.get("/");
    wait_until("Bob's message in Alice's app", ARRIVE, || {
        list = a.get("/");
        list.body.contains("1 unread")
    });
    let csrf = list.input_value("csrf").unwrap();
    let conv = conversation_link(&list).unwrap();

    // Time zone: the record's by default; another chosen from the list
    // shows every time in it (UTC on hover); an unknown one is refused.
    let r = a.get("/settings");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("the time zone of your directory record"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("<option value=\"Asia/Tokyo\">"),
        "{}",
        r.body
    );
    let r = a.post(
        "/settings/time-zone",
        &[("csrf", &csrf), ("tz", "Not/A_Zone")],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = a.post(
        "/settings/time-zone",
        &[("csrf", "0000"), ("tz", "Asia/Tokyo")],
    );
    assert_eq!(r.status, 403, "without the CSRF token");
    let r = a.post(
        "/settings/time-zone",
        &[("csrf", &csrf), ("tz", "Asia/Tokyo")],
    );
    assert_eq!((r.status, location(&r).as_str()), (303, "/settings"));
    assert_eq!(a.tz.as_deref(), Some("liaison_tz=Asia/Tokyo"));
    let r = a.get("/settings");
    assert!(
        r.body.contains("Times are now shown in Asia/Tokyo"),
        "{}",
        r.body
    );
    let r = a.get(&conv);
    assert!(r.body.contains(" JST</time>"), "{}", r.body);
    assert!(r.body.contains(" UTC\">"), "UTC on hover: {}", r.body);
    let r = a.post("/settings/time-zone", &[("csrf", &csrf), ("tz", "")]);
    assert_eq!(r.status, 303);
    assert_eq!(a.tz, None);
    assert!(!a.get(&conv).body.contains(" JST</time>"));

    // Devices: this one, marked; a new one approved from the app with the
    // code it showed, which then links with the downloaded approval.
    let r = a.get("/devices");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.matches("class=\"fingerprint\"").count(), 1);
    assert!(r.body.contains("this computer"), "{}", r.body);
    assert!(r.body.contains("--id th.dsi.alice"), "{}", r.body);
    let laptop = net.person("alice-laptop");
    let out = laptop.run(&[
        "device",
        "request",
        "--bundle",
        bundle.to_str().unwrap(),
        "--id",
        "th.dsi.alice",
    ]);
    assert_success(&out, "device request");
    let code = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Confirmation code: "))
        .unwrap()
        .to_owned();
    let request_text = std::fs::read_to_string(laptop.home.join("device.request")).unwrap();
    let r = a.post(
        "/devices/approve",
        &[
            ("csrf", &csrf),
            ("request", &request_text),
            ("code", "1111-2222-3333"),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("Nothing was approved"), "{}", r.body);
    assert!(r.header("content-disposition").is_none());
    let r = a.post(
        "/devices/approve",
        &[("csrf", &csrf), ("request", &request_text), ("code", &code)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"device.approval\"")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let approval = net.dir.path().join("laptop.approval");
    std::fs::write(&approval, &r.body).unwrap();
    assert_success(
        &laptop.run(&["device", "link", approval.to_str().unwrap()]),
        "device link with the downloaded approval",
    );

    // Roles: the authority gave the duty desk to Niran; Alice, who held it,
    // hands its messages over to him, after confirming.
    // A role is a recipient in a new message too.
    let compose = a.get("/compose?q=duty");
    assert!(compose.body.contains("Duty desk"), "{}", compose.body);
    let r = a.get("/roles");
    assert!(r.body.contains("Duty desk"), "{}", r.body);
    assert!(
        r.body.contains("You no longer hold this role"),
        "{}",
        r.body
    );
    assert!(r.body.contains("niran"), "{}", r.body);
    let role = r.input_value("r").expect("a handover form");
    let to = r.input_values("to");
    assert_eq!(to.len(), 1, "only Niran: {to:?}");
    let r = a.post(
        "/roles/handover",
        &[("csrf", &csrf), ("r", &role), ("to", &to[0])],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("Hand every message addressed to Duty desk that you received over to niran?"),
        "{}",
        r.body
    );
    assert!(niran.inbox().is_empty(), "nothing before confirming");
    let r = a.post(
        "/roles/handover",
        &[
            ("csrf", &csrf),
            ("r", &role),
            ("to", &to[0]),
            ("confirm", "yes"),
        ],
    );
    assert_eq!((r.status, location(&r).as_str()), (303, "/roles"));
    let r = a.get("/roles");
    assert!(
        r.body
            .contains("Handed over to niran: 1 message(s) addressed to Duty desk."),
        "{}",
        r.body
    );
    wait_until("the handover at Niran's", ARRIVE, || {
        niran.run(&["sync"]);
        niran.inbox().iter().any(|m| m["kind"] == "handover")
    });
}

/// Open the event stream with `cookie` and read it until `until` shows, or
/// give up after `ARRIVE`; what was read.
fn read_events(addr: &str, cookie: &str, until: &str, mut meanwhile: impl FnMut()) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = std::time::Instant::now() + ARRIVE;
    let mut seen = Vec::new();
    let mut started = false;
    while std::time::Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        let text = String::from_utf8_lossy(&seen).into_owned();
        if text.contains(until) {
            return text;
        }
        if !started && text.contains("text/event-stream") {
            started = true;
            meanwhile();
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn the_event_stream_names_the_sender_of_a_new_message_never_its_content() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let ui = bob.start_ui(true, &[]);
    let b = login(&ui.addr, &ui.login_path());
    let cookie = b.session.clone().unwrap();
    let page = request(&ui.addr, "GET", "/", &[("Cookie", &cookie)], None);
    assert!(
        page.body.contains("id=\"notify-on\" hidden"),
        "the button, shown by the page's script: {}",
        page.body
    );
    let said = read_events(&ui.addr, &cookie, "New message from", || {
        wait_until("Alice's send to Bob", ARRIVE, || {
            alice
                .run(&["send", "--to", "ph.pnp.bob", "Pier 7 at 0400"])
                .status
                .success()
        });
    });
    assert!(
        said.contains("event: message\ndata: New message from alice (DSI)"),
        "{said}"
    );
    assert!(!said.contains("Pier 7"), "content in the stream: {said}");
    let ids: Vec<String> = bob
        .inbox()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !ids.iter().any(|id| said.contains(id.as_str())),
        "an id in the stream: {said}"
    );
}

/// Structured requests in the app: Alice (PH) asks Bob (TH) to locate a
/// person, urgently, from a form with the type's fields; Bob's app lists
/// it, shows its fields only once he acknowledges the handling, labelled
/// in his language; he acknowledges and answers; Alice's app shows the
/// answer and prompts her for the outcome, which Bob then sees.
#[test]
fn a_request_is_sent_acknowledged_answered_and_closed_with_its_outcome_in_the_app() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "ph.pnp.alice", "PH", "PNP");
    let bob = net.enrol("bob", "th.dsi.bob", "TH", "DSI");
    let alice_ui = alice.start_ui(true, &[]);
    let bob_ui = bob.start_ui(true, &[]);
    let mut a = login(&alice_ui.addr, &alice_ui.login_path());
    let mut b = login(&bob_ui.addr, &bob_ui.login_path());

    let mut form = a.get("/requests/new?type=locate-person");
    wait_until("Bob in Alice's directory", ARRIVE, || {
        form = a.get("/requests/new?type=locate-person");
        form.body.contains("bob (DSI, TH)")
    });
    assert!(form.body.contains("Last known location"), "{}", form.body);
    assert!(form.body.contains("Name (required)"), "{}", form.body);
    let csrf = form.input_value("csrf").unwrap();
    let at = form.body.find("bob (DSI, TH)").unwrap();
    let before = &form.body[..at];
    let value = before.rfind("value=\"").unwrap();
    let to = before[value + 7..].split('"').next().unwrap().to_owned();
    // A required field left out: nothing is sent, and the app says why.
    let r = a.post(
        "/requests/new",
        &[
            ("csrf", &csrf),
            ("type", "locate-person"),
            ("to", &to),
            ("priority", "urgent"),
            ("f-name", " "),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a.get(&location(&r));
    assert!(r.body.contains("needs the field name"), "{}", r.body);
    let r = a.post(
        "/requests/new",
        &[
            ("csrf", &csrf),
            ("type", "locate-person"),
            ("to", &to),
            ("priority", "urgent"),
            ("f-name", "Maria Santos"),
            ("f-last-known-location", "Pier 7"),
            ("text", "She called her sister from Bangkok."),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let mine = location(&r);
    assert!(mine.starts_with("/q/"), "{mine}");
    let r = a.get(&mine);
    assert!(
        r.body.contains("Request sent to bob (DSI, TH)."),
        "{}",
        r.body
    );
    assert!(r.body.contains("Waiting for acknowledgement"), "{}", r.body);
    assert!(r.body.contains("Maria Santos"), "{}", r.body);

    // Bob's list shows it; its page hides the fields until he acknowledges
    // the handling; then they show with their labels, in Thai if he
    // chooses Thai.
    let mut list = b.get("/requests");
    wait_until("the request in Bob's app", ARRIVE, || {
        list = b.get("/requests");
        list.body.contains("Locate a person or victim")
    });
    assert!(list.body.contains("From alice (PNP, PH)"), "{}", list.body);
    let theirs = link_to(&list, "/q/").unwrap();
    let page = b.get(&theirs);
    assert!(!page.body.contains("Maria Santos"), "{}", page.body);
    assert!(
        page.body.contains("Acknowledge the handling"),
        "{}",
        page.body
    );
    let bcsrf = page.input_value("csrf").unwrap();
    let m = page.input_value("m").unwrap();
    let q = page.input_value("q").unwrap();
    let r = b.post("/requests/read", &[("csrf", &bcsrf), ("q", &q), ("m", &m)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let page = b.get(&location(&r));
    assert!(page.body.contains("Maria Santos"), "{}", page.body);
    assert!(page.body.contains("Last known location"), "{}", page.body);
    let r = b.post("/language", &[("csrf", &bcsrf), ("lang", "th")]);
    assert_eq!(r.status, 303);
    let thai = b.get(&theirs);
    assert!(thai.body.contains("Maria Santos"), "{}", thai.body);
    let r = b.post("/language", &[("csrf", &bcsrf), ("lang", "en")]);
    assert_eq!(r.status, 303);

    // Acknowledge, then answer.
    let step = |b: &mut Browser, fields: &[(&str, &str)]| {
        let mut all = vec![("csrf", bcsrf.as_str()), ("q", q.as_str())];
        all.extend_from_slice(fields);
        let r = b.post("/requests/step", &all);
        assert_eq!(r.status, 303, "{}", r.body);
        b.get(&location(&r))
    };
    let r = step(&mut b, &[("step", "acknowledge")]);
    assert!(r.body.contains("Sent."), "{}", r.body);
    assert!(r.body.contains("Acknowledged"), "{}", r.body);
    // The answer carries a photo, posted with the form.
    let r = b.post_files(
        "/requests/step",
        &[
            ("csrf", &bcsrf),
            ("q", &q),
            ("step", "answer"),
            ("text", "Found, safe, at the Baan Kred shelter."),
        ],
        &[("files", "shelter.png", PHOTO)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b.get(&location(&r));
    assert!(r.body.contains("Answered"), "{}", r.body);
    // The request's page shows each step's words and files.
    assert!(
        r.body.contains("Found, safe, at the Baan Kred shelter."),
        "{}",
        r.body
    );
    assert!(r.body.contains("Save shelter.png"), "{}", r.body);
    // A step that is not one is refused.
    let r = b.post(
        "/requests/step",
        &[("csrf", &bcsrf), ("q", &q), ("step", "open")],
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // Alice sees the answer, and is asked for the outcome.
    let mut page = a.get(&mine);
    wait_until("the answer in Alice's app", ARRIVE, || {
        page = a.get(&mine);
        page.body.contains("Tell bob (DSI, TH) what came of it.")
    });
    // Its words and photo wait for her to acknowledge the answer's
    // handling, in its conversation; then the request's page shows them,
    // and the photo, byte for byte.
    assert!(!page.body.contains("Baan Kred"), "{}", page.body);
    let mut conv = a.get("/");
    wait_until("the answer's conversation", ARRIVE, || {
        let home = a.get("/");
        let Some(link) = conversation_link(&home) else {
            return false;
        };
        conv = a.get(&link);
        conv.body.contains("Acknowledge the handling")
    });
    for m in conv.input_values("m") {
        let r = a.post("/read", &[("csrf", &csrf), ("m", &m)]);
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let page = a.get(&mine);
    assert!(page.body.contains("Baan Kred"), "{}", page.body);
    let at = page.body.find("/file/").unwrap();
    let href = page.body[at..].split('"').next().unwrap().to_owned();
    let photo = a.get(&href);
    assert_eq!(photo.status, 200, "{}", photo.body);
    assert_eq!(photo.bytes, PHOTO);
    let r = a.post(
        "/requests/step",
        &[
            ("csrf", &csrf),
            ("q", &page.input_value("q").unwrap()),
            ("step", "outcome"),
            ("text", "She is back home in Cebu."),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a.get(&location(&r));
    assert!(r.body.contains("Outcome shared"), "{}", r.body);
    assert!(!r.body.contains("what came of it"), "{}", r.body);
    let mut page = b.get(&theirs);
    wait_until("the outcome in Bob's app", ARRIVE, || {
        page = b.get(&theirs);
        page.body.contains("Outcome shared")
    });
}

/// Alice opens a case in her app and posts files to it; Bob's app opens
/// them only once he acknowledged the handling, shows the photo, serves a
/// drawing posing as a photo and a page only as downloads that run
/// nothing, names a file its sender called `../../x` by its last part,
/// and opens the photo again from the sealed copy his home keeps after
/// the relay deleted it. Nothing the form uploaded stays behind.
#[test]
fn files_in_a_case_open_through_the_gate_and_again_after_the_relay_deleted_them() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "ph.pnp.alice", "PH", "PNP");
    let bob = net.enrol("bob", "th.dsi.bob", "TH", "DSI");
    let alice_ui = alice.start_ui(true, &[]);
    let bob_ui = bob.start_ui(true, &[]);
    let mut a = login(&alice_ui.addr, &alice_ui.login_path());
    let mut b = login(&bob_ui.addr, &bob_ui.login_path());

    let mut form = a.get("/cases/new");
    wait_until("Bob in Alice's directory", ARRIVE, || {
        form = a.get("/cases/new");
        form.body
            .contains("bob <span class=\"agency\">DSI, TH</span>")
    });
    let csrf = form.input_value("csrf").unwrap();
    let at = form.body.find("> bob <span").unwrap();
    let before = &form.body[..at];
    let value = before.rfind("value=\"").unwrap();
    let to = before[value + 7..].split('"').next().unwrap().to_owned();
    // No title: nothing is opened, and the app says why.
    let r = a.post(
        "/cases/new",
        &[
            ("csrf", &csrf),
            ("title", " "),
            ("to", &to),
            ("tlp", "AMBER"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a.get(&location(&r));
    assert!(r.body.contains("Give the case a title."), "{}", r.body);
    let r = a.post(
        "/cases/new",
        &[
            ("csrf", &csrf),
            ("title", "Pier 7"),
            ("reference", "PNP-2026-114"),
            ("to", &to),
            ("tlp", "AMBER"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let case_page = location(&r);
    assert!(case_page.starts_with("/c/"), "{case_page}");
    let r = a.get(&case_page);
    assert!(r.body.contains("The case is open."), "{}", r.body);
    assert!(r.body.contains("PNP-2026-114"), "{}", r.body);
    // The case's handling is the reply form's default.
    assert!(r.body.contains("value=\"AMBER\" checked"), "{}", r.body);
    let list = a.get("/cases");
    assert!(list.body.contains("Pier 7"), "{}", list.body);
    assert!(list.body.contains("Members: 2"), "{}", list.body);

    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
    let r = a.post_files(
        "/send",
        &[
            ("csrf", &csrf),
            ("c", &case_page[3..]),
            ("tlp", "AMBER"),
            ("text", "The boat, this morning."),
        ],
        &[
            ("files", "boat.png", PHOTO),
            ("files", "boat-too.png", svg),
            ("files", "../../escape.html", b"<script>alert(2)</script>"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a.get(&location(&r));
    assert!(r.body.contains("Sent."), "{}", r.body);
    assert!(r.body.contains("boat.png"), "{}", r.body);
    // The uploaded copies are gone once sent.
    let uploads = alice.home.join("uploads");
    let left: Vec<_> = std::fs::read_dir(&uploads)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");

    // Bob: the message is behind the handling gate; its files do not open.
    let mut home = b.get("/");
    wait_until("the case in Bob's app", ARRIVE, || {
        home = b.get("/");
        conversation_link(&home).is_some()
    });
    // The conversation list names the case; the case list counts what
    // waits for Bob.
    assert!(
        home.body
            .contains("<strong class=\"case-name\">Pier 7</strong>"),
        "{}",
        home.body
    );
    let cases = b.get("/cases");
    assert!(cases.body.contains("1 unread"), "{}", cases.body);
    let page = b.get(&conversation_link(&home).unwrap());
    assert!(!page.body.contains("/file/"), "{}", page.body);
    let m = page.input_value("m").unwrap();
    let refused = b.get(&format!("/file/{m}/0?view=1"));
    assert_ne!(refused.status, 200, "{}", refused.body);
    assert!(
        refused.body.contains("Acknowledge the handling"),
        "{}",
        refused.body
    );
    let bcsrf = page.input_value("csrf").unwrap();
    let r = b.post("/read", &[("csrf", &bcsrf), ("m", &m)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let page = b.get(&location(&r));
    assert!(
        page.body.contains(&format!("src=\"/file/{m}/0?view=1\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains("Pier 7"), "{}", page.body);
    // The page asks to show the drawing too (its sender called it .png);
    // what is served is judged by its bytes, below.

    let photo = b.get(&format!("/file/{m}/0?view=1"));
    assert_eq!(photo.status, 200, "{}", photo.body);
    assert_eq!(photo.bytes, PHOTO);
    assert_eq!(photo.header("content-type"), Some("image/png"));
    assert!(
        photo
            .header("content-disposition")
            .unwrap()
            .starts_with("inline;")
    );
    assert!(
        photo
            .header("content-security-policy")
            .unwrap()
            .contains("sandbox")
    );
    for (i, what) in [(1, &svg[..]), (2, &b"<script>alert(2)</script>"[..])] {
        let r = b.get(&format!("/file/{m}/{i}?view=1"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.bytes, what);
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert!(
            r.header("content-disposition")
                .unwrap()
                .starts_with("attachment;")
        );
        assert!(
            r.header("content-security-policy")
                .unwrap()
                .contains("sandbox")
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    let r = b.get(&format!("/file/{m}/2"));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .contains("filename=\"escape.html\""),
        "{:?}",
        r.headers
    );

    // The command line saves the files from the sealed copies the app
    // kept (the relay may have deleted them since).
    let out = bob.run(&["inbox", "--json"]);
    assert_success(&out, "inbox");
    let inbox: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["case"] == "Pier 7" && x["kind"] == "text")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let saved = liaison_tests::TempDir::new("bob-saved");
    let out = bob.run(&[
        "attachment",
        "save",
        &id,
        "--out",
        &saved.path().display().to_string(),
    ]);
    assert_success(&out, "attachment save, from the kept copies");
    assert_eq!(std::fs::read(saved.path().join("boat.png")).unwrap(), PHOTO);
    assert_eq!(
        std::fs::read(saved.path().join("boat-too.png")).unwrap(),
        svg
    );

    // A file saved with the command line first (no copy kept): the relay
    // deleted it once Bob's only device had it, and the app says so in
    // plain words. (Sent as the app's script sends a form with files, with
    // a progress bar: told where to go next, not redirected.)
    let r = a.post_files_with(
        "/send",
        &[
            ("csrf", &csrf),
            ("c", &case_page[3..]),
            ("tlp", "AMBER"),
            ("text", "The skipper's card."),
        ],
        &[("files", "card.png", PHOTO)],
        &[("X-Liaison-Upload", "1")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-liaison-location"), Some(case_page.as_str()));
    assert!(r.header("location").is_none());
    let mut second = String::new();
    wait_until("the second file at Bob's", ARRIVE, || {
        let out = bob.run(&["inbox", "--json"]);
        let inbox: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(m) = inbox.as_array().and_then(|ms| {
            ms.iter()
                .find(|x| x["case"] == "Pier 7" && x["id"] != id.as_str() && x["kind"] == "text")
        }) {
            second = m["id"].as_str().unwrap().to_owned();
        }
        !second.is_empty()
    });
    assert_success(&bob.run(&["read", &second, "--accept"]), "read --accept");
    let saved2 = liaison_tests::TempDir::new("bob-saved2");
    let out = bob.run(&[
        "attachment",
        "save",
        &second,
        "--out",
        &saved2.path().display().to_string(),
    ]);
    assert_success(&out, "attachment save, from the relay");
    let link = conversation_link(&b.get("/")).unwrap();
    let page = b.get(&link);
    let other = page
        .body
        .match_indices("href=\"/file/")
        .map(|(at, _)| page.body[at + 12..].split('/').next().unwrap().to_owned())
        .find(|h| *h != m)
        .unwrap_or_else(|| panic!("{}", page.body));
    let gone = b.get(&format!("/file/{other}/0"));
    assert_ne!(gone.status, 200);
    assert!(
        gone.body.contains("the relay no longer holds") && gone.body.contains("attachment save"),
        "{}",
        gone.body
    );

    let again = b.get(&format!("/file/{m}/0?view=1"));
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.bytes, PHOTO);
    let kept: Vec<_> = std::fs::read_dir(bob.home.join("attachments"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    for k in &kept {
        let bytes = std::fs::read(k).unwrap();
        assert!(
            !bytes.windows(8).any(|w| w == &PHOTO[..8])
                && !bytes.windows(6).any(|w| w == b"script"),
            "{} holds plaintext",
            k.display()
        );
    }
    let scratch: Vec<_> = std::fs::read_dir(bob.home.join("uploads"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(scratch.is_empty(), "{scratch:?}");

    // Bob replies, quoting Alice's message; her app shows the quote.
    let conv = conversation_link(&b.get("/")).unwrap();
    let page = b.get(&format!("{conv}?reply={m}"));
    assert!(
        page.body.contains("Your reply quotes alice:"),
        "{}",
        page.body
    );
    assert_eq!(page.input_value("r").as_deref(), Some(m.as_str()));
    let r = b.post_files(
        "/send",
        &[
            ("csrf", &bcsrf),
            ("c", &conv[3..]),
            ("r", &m),
            ("tlp", "AMBER"),
            ("text", "Same boat as in March."),
        ],
        &[],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(b.get(&location(&r)).body.contains("Sent."));
    let mut page = a.get(&case_page);
    wait_until("Bob's reply in Alice's app", ARRIVE, || {
        page = a.get(&case_page);
        page.body.contains("Same boat as in March.")
            || page.body.contains("Acknowledge the handling")
    });
    for read in page.input_values("m") {
        a.post("/read", &[("csrf", &csrf), ("m", &read)]);
    }
    let page = a.get(&case_page);
    assert!(
        page.body
            .contains("<p class=\"text\">&#62; The boat, this morning.\n\nSame boat as in March."),
        "{}",
        page.body
    );

    // A kept copy altered on disk does not open, and goes: the next open
    // asks the relay again, which no longer holds the file, and says so.
    let copy = bob.home.join("attachments").join(format!("{id}-1.sealed"));
    let mut bytes = std::fs::read(&copy).unwrap();
    bytes[10] ^= 0x40;
    std::fs::write(&copy, &bytes).unwrap();
    let r = b.get(&format!("/file/{m}/1"));
    assert_ne!(r.status, 200);
    assert!(
        r.body.contains("does not match what its sender signed"),
        "{}",
        r.body
    );
    assert!(!copy.exists());
    let r = b.get(&format!("/file/{m}/1"));
    assert!(r.body.contains("the relay no longer holds"), "{}", r.body);
}
