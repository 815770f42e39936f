//! The web app in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`; `.ci/run` installs them when
//! absent). Ignored by a plain `cargo test`; `scripts/test` runs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use liaison_tests::web::PHOTO;
use liaison_tests::{DevNet, PASSPHRASE, TempDir, admin_command, assert_success, wait_until};

/// axe-core (see tests/browser/VENDORED.md).
const AXE: &str = include_str!("../browser/axe.min.js");

/// Long enough for an agent to connect, sync and receive a push.
const ARRIVE: Duration = Duration::from_secs(60);

/// A running chromedriver, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver (Debian package chromium-driver)");
    let addr = format!("127.0.0.1:{port}");
    wait_until("chromedriver to listen", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&addr).is_ok()
    });
    Driver {
        child,
        url: format!("http://{addr}"),
    }
}

/// A headless Chromium with a profile of its own.
async fn browser(driver: &Driver, profile: &TempDir) -> Client {
    browser_with(driver, profile, &[]).await
}

/// [`browser`], with more command-line switches.
async fn browser_with(driver: &Driver, profile: &TempDir, more: &[String]) -> Client {
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    args.extend(more.iter().cloned());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": args,
        }),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session");
    c.set_window_size(1000, 760).await.expect("a window size");
    c
}

async fn body(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .expect("a body")
        .text()
        .await
        .expect("its text")
}

/// Run axe-core on the page shown: no serious or critical accessibility
/// violation. With `LIAISON_SCREENSHOTS=DIR` set, also save the page as
/// `DIR/NAME.png` (the README's screenshots are made so).
async fn check_page(c: &Client, name: &str) {
    c.execute(AXE, vec![]).await.expect("axe-core loads");
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document).then(r => done({
               passes: r.passes.length,
               violations: r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))
             }), e => done({ passes: 0, violations: ['axe failed: ' + e] }));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    let violations: Vec<String> =
        serde_json::from_value(found["violations"].clone()).expect("a list");
    assert!(
        violations.is_empty(),
        "{name}: accessibility violations: {violations:#?}"
    );
    // axe really looked at the page.
    assert!(found["passes"].as_u64() > Some(5), "{name}: {found}");
    if let Some(dir) = std::env::var_os("LIAISON_SCREENSHOTS") {
        let png = c.screenshot().await.expect("a screenshot");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png)
            .expect("write the screenshot");
    }
}

/// Reload `url` until `css` is on the page.
async fn reload_until(c: &Client, url: &str, css: &str) {
    let deadline = std::time::Instant::now() + ARRIVE;
    loop {
        c.goto(url).await.unwrap();
        if c.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} never appeared on {url}: {}",
            body(c).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs chromium and chromium-driver (Debian); scripts/test runs it"]
async fn unlock_send_and_read_through_the_gate_in_chromium() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let alice_ui = alice.start_ui(false, &[]);
    let bob_ui = bob.start_ui(true, &[]);
    let driver = chromedriver();
    let (pa, pb) = (TempDir::new("chromium-a"), TempDir::new("chromium-b"));
    let a = browser(&driver, &pa).await;
    let b = browser(&driver, &pb).await;
    let alice_base = format!("http://{}", alice_ui.addr);

    // The printed link logs in and lands on the unlock page; htmx runs
    // under the CSP with its inline styles off.
    a.goto(&alice_ui.url).await.unwrap();
    let pass = a
        .wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css("#passphrase"))
        .await
        .expect("the unlock page");
    let htmx = a
        .execute(
            "return typeof htmx === 'object' && htmx.config.includeIndicatorStyles === false \
             && htmx.config.allowEval === false && !document.querySelector('style')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(htmx, serde_json::json!(true), "htmx loaded and configured");
    check_page(&a, "unlock").await;
    pass.send_keys("not the passphrase").await.unwrap();
    a.find(Locator::Css("form.stack button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let err = a
        .wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css("#unlock-error"))
        .await
        .expect("a wrong passphrase is named");
    assert!(err.text().await.unwrap().contains("Wrong passphrase"));
    check_page(&a, "unlock-wrong-passphrase").await;
    a.find(Locator::Css("#passphrase"))
        .await
        .unwrap()
        .send_keys(PASSPHRASE)
        .await
        .unwrap();
    a.find(Locator::Css("form.stack button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    a.wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css("nav"))
        .await
        .expect("unlocked");
    check_page(&a, "conversations-empty").await;

    // Alice picks Bob by name and sends the default RED handling.
    reload_until(&a, &format!("{alice_base}/compose?q=bob"), "input[name=to]").await;
    check_page(&a, "compose").await;
    a.find(Locator::Css("input[name=to]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    a.find(Locator::Css("textarea#text"))
        .await
        .unwrap()
        .send_keys("Pier 7 at 0400")
        .await
        .unwrap();
    a.find(Locator::Css("form[action='/send'] > button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    a.wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css("p.text"))
        .await
        .expect("the sent message");
    check_page(&a, "conversation-sent").await;
    let url = a.current_url().await.unwrap();
    assert!(url.path().starts_with("/c/"), "{url}");
    assert!(!url.as_str().contains("ph.pnp.bob"));
    // Alice keeps this page open; a reload would clear the marker.
    a.execute("window.liaisonMarker = 42; return true;", vec![])
        .await
        .unwrap();

    // Bob sees the gate, acknowledges, reads.
    b.goto(&bob_ui.url).await.unwrap();
    b.wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css("nav"))
        .await
        .expect("Bob's app, unlocked by LIAISON_PASSPHRASE");
    reload_until(&b, &format!("http://{}/", bob_ui.addr), ".unread").await;
    check_page(&b, "conversations").await;
    b.find(Locator::Css("a.conversation"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let gate = b
        .wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css(".gate button"))
        .await
        .expect("the handling gate");
    assert!(
        !body(&b).await.contains("Pier 7"),
        "content before acknowledging"
    );
    check_page(&b, "handling-gate").await;
    gate.click().await.unwrap();
    let text = b
        .wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css("p.text"))
        .await
        .expect("the text once acknowledged");
    assert_eq!(text.text().await.unwrap(), "Pier 7 at 0400");
    check_page(&b, "conversation-read").await;
    // Its handling (RED) does not allow use in court: the evidence page
    // explains and offers to ask Alice for a case.
    click(&b, "a.evidence-ask").await;
    let rule = text_of(&b, ".judicial-rule").await;
    assert!(rule.contains("unless alice consents"), "{rule}");
    check_page(&b, "evidence").await;
    b.back().await.unwrap();

    // Alice's open page shows Bob's acknowledgement without reloading (the
    // event stream tells it to refresh its messages).
    let deadline = std::time::Instant::now() + ARRIVE;
    while !body(&a).await.contains("acknowledged") {
        if std::time::Instant::now() >= deadline {
            let live = body(&a).await;
            a.refresh().await.unwrap();
            panic!(
                "no acknowledgement on Alice's open page: {live}\nafter reloading: {}",
                body(&a).await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let marker = a
        .execute("return window.liaisonMarker;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, serde_json::json!(42), "Alice's page was reloaded");

    // Switching to Thai shows Thai labels; TLP labels stay in English.
    b.find(Locator::Css("select#lang"))
        .await
        .unwrap()
        .select_by_value("th")
        .await
        .unwrap();
    b.find(Locator::Css("form.lang button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css("html[lang=th]"))
        .await
        .expect("the Thai page");
    let page = body(&b).await;
    assert!(page.contains("การสนทนา"), "{page}");
    check_page(&b, "conversations-thai").await;

    // A page of another origin cannot make Bob's app do anything: its form
    // post is refused (no cookie goes with it, and its Origin is foreign).
    let form = format!(
        "data:text/html,<form method=post action='http://{}/lock'><button id=go>go</button></form>",
        bob_ui.addr
    );
    b.goto(&form).await.unwrap();
    b.find(Locator::Css("#go"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css("body"))
        .await
        .unwrap();
    let refused = body(&b).await;
    assert!(refused.contains("refused"), "{refused}");
    b.goto(&format!("http://{}/", bob_ui.addr)).await.unwrap();
    assert!(
        b.find(Locator::Css("nav")).await.is_ok(),
        "Bob's app is still unlocked"
    );

    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// Log `c` into the app at `login_url` (unlocked by LIAISON_PASSPHRASE).
async fn log_in(c: &Client, login_url: &str) {
    c.goto(login_url).await.unwrap();
    c.wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css("nav"))
        .await
        .expect("the app, unlocked by LIAISON_PASSPHRASE");
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Wait (without reloading: the page updates itself) until `css` shows.
async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(ARRIVE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs chromium and chromium-driver (Debian); scripts/test runs it"]
async fn a_refused_forward_goes_through_once_the_originator_consents_in_chromium() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let carol = net.enrol("carol", "ph.nbi.carol", "PH", "NBI");
    let (alice_ui, bob_ui, carol_ui) = (
        alice.start_ui(true, &[]),
        bob.start_ui(true, &[]),
        carol.start_ui(true, &[]),
    );
    let driver = chromedriver();
    let profile = TempDir::new("chromium-fwd");
    // One browser for the three officers: each app's session cookie is
    // named after its port.
    let w = browser(&driver, &profile).await;
    let (alice_base, bob_base, carol_base) = (
        format!("http://{}", alice_ui.addr),
        format!("http://{}", bob_ui.addr),
        format!("http://{}", carol_ui.addr),
    );
    log_in(&w, &alice_ui.url).await;
    log_in(&w, &bob_ui.url).await;
    log_in(&w, &carol_ui.url).await;

    // Alice sends Bob a RED message (TLP:RED: named recipients only).
    wait_until("Alice's send to Bob", ARRIVE, || {
        alice
            .run(&["send", "--to", "ph.pnp.bob", "Pier 7 at 0400"])
            .status
            .success()
    });

    // Bob reads it and chooses Carol, of another agency: the live check
    // names the rule and offers to ask Alice.
    reload_until(&w, &format!("{bob_base}/"), ".unread").await;
    click(&w, "a.conversation").await;
    click(&w, ".gate button").await;
    click(&w, "a.forward").await;
    let forward_url = w.current_url().await.unwrap();
    assert!(forward_url.path().starts_with("/forward/"), "{forward_url}");
    check_page(&w, "forward").await;
    reload_until(&w, &format!("{forward_url}?q=carol"), "input[name=to]").await;
    click(&w, "input[name=to]").await;
    let refused = text_of(&w, ".scope-refused").await;
    assert!(
        refused.contains("TLP:RED allows sharing only with the named recipients"),
        "{refused}"
    );
    assert!(refused.contains("carol"), "{refused}");
    let ask = text_of(&w, "#ask-consent").await;
    assert!(ask.contains("Ask alice for consent"), "{ask}");
    check_page(&w, "forward-refused").await;
    // Forwarding anyway is refused with the same rule, and nothing goes.
    click(&w, "#forward-send").await;
    let deadline = std::time::Instant::now() + ARRIVE;
    while w.current_url().await.unwrap().path() != "/forward" {
        assert!(
            std::time::Instant::now() < deadline,
            "the forward was not posted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = text_of(&w, ".scope-refused").await;
    assert!(again.contains("TLP:RED"), "{again}");
    w.find(Locator::Css("#reason"))
        .await
        .unwrap()
        .send_keys("Carol's unit holds the suspect; she needs the meeting point")
        .await
        .unwrap();
    click(&w, "#ask-consent").await;
    let flash = text_of(&w, ".flash").await;
    assert!(flash.contains("Consent asked"), "{flash}");
    let mine = body(&w).await;
    assert!(mine.contains("Forward to carol (NBI, PH)"), "{mine}");
    assert!(mine.contains("Waiting for a decision"), "{mine}");

    // Alice finds the request in her consent inbox and grants it with a
    // condition.
    reload_until(&w, &format!("{alice_base}/consents"), "button.grant").await;
    let inbox = body(&w).await;
    assert!(inbox.contains("she needs the meeting point"), "{inbox}");
    check_page(&w, "consent-inbox").await;
    w.find(Locator::Css("textarea[name=conditions]"))
        .await
        .unwrap()
        .send_keys("For case 2026-114 only; do not pass it on")
        .await
        .unwrap();
    click(&w, "button.grant").await;
    let done = text_of(&w, ".flash").await;
    assert!(done.contains("Consent granted"), "{done}");

    // Bob sees the grant, and the forward to Carol now goes through.
    let deadline = std::time::Instant::now() + ARRIVE;
    loop {
        w.goto(&format!("{bob_base}/consents")).await.unwrap();
        if body(&w).await.contains("Granted") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", body(&w).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    w.goto(&format!("{forward_url}?q=carol")).await.unwrap();
    click(&w, "input[name=to]").await;
    let ok = text_of(&w, ".scope-ok").await;
    assert!(ok.contains("allows forwarding"), "{ok}");
    click(&w, "#forward-send").await;
    let flash = text_of(&w, ".flash").await;
    assert!(flash.contains("Forwarded"), "{flash}");

    // Carol sees Alice's condition next to the forwarded message, before
    // and after acknowledging its handling.
    reload_until(&w, &format!("{carol_base}/"), ".unread").await;
    click(&w, "a.conversation").await;
    let grant = text_of(&w, "p.grant").await;
    assert!(grant.contains("consent of alice"), "{grant}");
    assert!(
        grant.contains("For case 2026-114 only; do not pass it on"),
        "{grant}"
    );
    click(&w, ".gate button").await;
    let text = text_of(&w, "p.text").await;
    assert!(text.contains("Pier 7 at 0400"), "{text}");
    let grant = text_of(&w, "p.grant").await;
    assert!(grant.contains("For case 2026-114"), "{grant}");
    check_page(&w, "conversation-forwarded").await;

    // Carol finds Alice in the directory by country and opens her card.
    w.goto(&format!("{carol_base}/directory?country=TH"))
        .await
        .unwrap();
    let listed = text_of(&w, "ul.directory").await;
    assert!(
        listed.contains("alice") && !listed.contains("bob"),
        "{listed}"
    );
    check_page(&w, "directory").await;
    click(&w, "a.contact").await;
    let vouched = text_of(&w, "dd.vouched-by").await;
    assert!(vouched.contains("Thailand"), "{vouched}");
    check_page(&w, "contact-card").await;
    w.close().await.unwrap();
}

/// Wait (without reloading) until an element `css` contains `what` (the
/// page may still be the one before a click).
async fn css_text(c: &Client, css: &str, what: &str) {
    let deadline = std::time::Instant::now() + ARRIVE;
    loop {
        let now = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if now.contains(what) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what:?} never appeared in {css}: {}",
            body(c).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait (without reloading) until the page's text contains `what`.
async fn until_text(c: &Client, what: &str) {
    let deadline = std::time::Instant::now() + ARRIVE;
    loop {
        let now = match c.find(Locator::Css("body")).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if now.contains(what) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what:?} never appeared: {now}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs chromium and chromium-driver (Debian); scripts/test runs it"]
async fn a_changed_key_holds_the_send_and_a_stopped_relay_keeps_it_in_chromium() {
    let mut net = DevNet::start();
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
    let alice_ui = alice.start_ui(true, &[]);
    let driver = chromedriver();
    let profile = TempDir::new("chromium-key");
    let a = browser(&driver, &profile).await;
    let base = format!("http://{}", alice_ui.addr);
    log_in(&a, &alice_ui.url).await;
    reload_until(&a, &format!("{base}/compose?q=bob"), "input[name=to]").await;

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

    // The warning shows on Alice's page, with the safety number to compare.
    reload_until(&a, &format!("{base}/compose?q=bob"), ".key-change").await;
    let banner = text_of(&a, ".key-change").await;
    assert!(
        banner.contains("The identity key of bob-new has changed"),
        "{banner}"
    );
    let theirs = bob2.run(&["--json", "safety-number", "th.dsi.alice"]);
    assert_success(&theirs, "bob's safety number");
    let theirs: serde_json::Value = serde_json::from_slice(&theirs.stdout).unwrap();
    let number = theirs["safety_number"].as_str().unwrap();
    assert!(banner.contains(number), "{number}: {banner}");
    check_page(&a, "key-changed").await;

    // Alice sends anyway: the send is held and the page says why.
    click(&a, "input[name=to]").await;
    a.find(Locator::Css("textarea#text"))
        .await
        .unwrap()
        .send_keys("Pier 7 at 0400")
        .await
        .unwrap();
    click(&a, "form[action='/send'] > button").await;
    css_text(
        &a,
        ".flash",
        "Nothing was sent: the identity key of bob-new has changed",
    )
    .await;
    assert!(bob2.inbox().is_empty(), "nothing reached Bob");

    // "I have checked": the warning goes, and the send goes through.
    click(&a, "button.accept-key").await;
    css_text(&a, ".flash", "The new key of bob-new is accepted").await;
    assert!(a.find(Locator::Css(".key-change")).await.is_err());
    reload_until(&a, &format!("{base}/compose?q=bob"), "input[name=to]").await;
    click(&a, "input[name=to]").await;
    a.find(Locator::Css("textarea#text"))
        .await
        .unwrap()
        .send_keys("Pier 7 at 0400")
        .await
        .unwrap();
    click(&a, "form[action='/send'] > button").await;
    css_text(&a, ".flash", "Sent.").await;
    wait_until("the message at Bob's new home", ARRIVE, || {
        bob2.run(&["sync"]);
        bob2.inbox().iter().any(|m| m["from"] == "th.dsi.alice")
    });
    let conversation = a.current_url().await.unwrap();
    assert!(conversation.path().starts_with("/c/"), "{conversation}");

    // Settings, devices and roles pass axe-core too.
    for (path, name, css) in [
        ("/settings", "settings", "select#tz"),
        ("/devices", "devices", ".this-device"),
        ("/roles", "roles", "h1"),
    ] {
        a.goto(&format!("{base}{path}")).await.unwrap();
        text_of(&a, css).await;
        check_page(&a, name).await;
    }
    a.goto(conversation.as_str()).await.unwrap();
    text_of(&a, "p.text").await;

    // The relay stops: the open page says so by itself, and a reply is
    // kept, then goes out once the relay is back.
    net.kill();
    until_text(&a, "The relay cannot be reached").await;
    check_page(&a, "relay-down").await;
    a.find(Locator::Css("textarea#text"))
        .await
        .unwrap()
        .send_keys("Are you there?")
        .await
        .unwrap();
    click(&a, "section.reply button").await;
    css_text(&a, ".flash", "Kept: the relay cannot be reached").await;
    net.restart();
    wait_until("the kept message at Bob's new home", ARRIVE, || {
        bob2.run(&["sync"]);
        bob2.inbox()
            .iter()
            .filter(|m| m["from"] == "th.dsi.alice")
            .count()
            == 2
    });
    // The banner goes by itself too.
    let deadline = std::time::Instant::now() + ARRIVE;
    while a.find(Locator::Css(".relay-down")).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the banner stayed: {}",
            body(&a).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.close().await.unwrap();
}

/// A video (YUV4MPEG2, 4:2:0) of `text`'s QR code in black on white, as a
/// phone held up to the camera would show it: what Chromium's fake camera
/// plays in a loop.
fn qr_video(text: &str) -> Vec<u8> {
    let code = qrcode::QrCode::new(text).unwrap();
    let n = code.width();
    let colors = code.to_colors();
    let (w, h) = (640usize, 480usize);
    let scale = (h - 40) / (n + 8);
    let (x0, y0) = ((w - n * scale) / 2, (h - n * scale) / 2);
    let mut luma = vec![235u8; w * h];
    for y in 0..n * scale {
        for x in 0..n * scale {
            if colors[(y / scale) * n + x / scale] == qrcode::Color::Dark {
                luma[(y0 + y) * w + x0 + x] = 16;
            }
        }
    }
    let mut out = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..5 {
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(&luma);
        out.extend(std::iter::repeat_n(128u8, w * h / 2));
    }
    out
}

/// Bob holds Alice's screen up to his camera: his app reads the QR code
/// of their safety number, the agent compares it, and Alice is marked
/// verified in person. The camera is Chromium's fake one, playing a video
/// of the code Alice's card shows.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs chromium and chromium-driver (Debian); scripts/test runs it"]
async fn a_contacts_code_scanned_with_the_camera_marks_them_verified_in_chromium() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["sync"]), "alice sync");
    // What Alice's card for Bob shows as a QR code.
    let out = alice.run(&["--json", "safety-number", "ph.pnp.bob"]);
    assert_success(&out, "alice's safety number");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digits: String = v["safety_number"]
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let profile = TempDir::new("chromium-scan");
    let video = profile.path().join("alice-screen.y4m");
    // As Alice's app shows it on her screen: her id, then the digits.
    std::fs::write(
        &video,
        qr_video(&format!("liaison-safety-number:th.dsi.alice:{digits}")),
    )
    .unwrap();

    let bob_ui = bob.start_ui(true, &[]);
    let driver = chromedriver();
    let b = browser_with(
        &driver,
        &TempDir::new("chromium-scan-profile"),
        &[
            "--use-fake-ui-for-media-stream".to_owned(),
            "--use-fake-device-for-media-stream".to_owned(),
            format!("--use-file-for-fake-video-capture={}", video.display()),
        ],
    )
    .await;
    let base = format!("http://{}", bob_ui.addr);
    log_in(&b, &bob_ui.url).await;
    reload_until(
        &b,
        &format!("{base}/directory?q=alice"),
        "a[href^='/contact/']",
    )
    .await;
    click(&b, "a[href^='/contact/']").await;
    assert!(
        text_of(&b, ".card").await.contains("Not compared yet"),
        "not verified before"
    );
    check_page(&b, "contact-verify").await;
    click(&b, "#scan-start").await;
    css_text(
        &b,
        ".flash",
        "alice is verified in person: the safety numbers match.",
    )
    .await;
    assert!(
        text_of(&b, ".card")
            .await
            .contains("You compared it with them in person")
    );
    let out = bob.run(&["--json", "contacts", "--name", "alice"]);
    assert_success(&out, "bob contacts");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["verified_in_person"], true, "{v}");
}

/// Bob answers an urgent request in Chromium: it is in his requests list,
/// he acknowledges the handling to see it, takes it, answers it; the
/// requester's client holds the answer. axe-core checks each page.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs chromium and chromium-driver (Debian); scripts/test runs it"]
async fn an_urgent_request_is_answered_in_chromium() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "ph.pnp.alice", "PH", "PNP");
    let bob = net.enrol("bob", "th.dsi.bob", "TH", "DSI");
    assert_success(&alice.run(&["sync"]), "alice sync");
    let out = alice.run(&[
        "--json",
        "request",
        "new",
        "--type",
        "locate-person",
        "--to",
        "th.dsi.bob",
        "--priority",
        "urgent",
        "--field",
        "name=Maria Santos",
        "--field",
        "last-known-location=Pier 7",
    ]);
    assert_success(&out, "request new");
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let req = sent["request"].as_str().unwrap().to_owned();

    let bob_ui = bob.start_ui(true, &[]);
    let driver = chromedriver();
    let profile = TempDir::new("chromium-request");
    let b = browser(&driver, &profile).await;
    let base = format!("http://{}", bob_ui.addr);
    log_in(&b, &bob_ui.url).await;
    reload_until(&b, &format!("{base}/requests"), "a[href^='/q/']").await;
    assert!(
        text_of(&b, ".requests")
            .await
            .contains("Locate a person or victim")
    );
    check_page(&b, "requests").await;
    click(&b, "a[href^='/q/']").await;
    click(&b, "form[action='/requests/read'] button").await;
    css_text(&b, ".fields", "Maria Santos").await;
    check_page(&b, "request").await;
    click(&b, "#request-ack").await;
    css_text(&b, ".status", "Acknowledged").await;
    b.find(Locator::Css("textarea#answer-text"))
        .await
        .unwrap()
        .send_keys("Found, safe, at the Baan Kred shelter.")
        .await
        .unwrap();
    click(&b, "#request-answer").await;
    css_text(&b, ".status", "Answered").await;

    wait_until("the answer at Alice's", ARRIVE, || {
        alice.run(&["sync"]);
        let out = alice.run(&["--json", "request", "show", &req]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .is_ok_and(|v| v["status"] == "answered")
    });
}

/// Alice opens a case in Chromium with Bob and a role, sends a photo and a
/// drawing to it, sees the photo in the page (the drawing, which could
/// hold script, only as a download, served so that nothing in it runs),
/// and adds Carol, who holds the case from then on. Bob's client gets
/// both files, verified, byte for byte. axe-core checks each page.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs chromium and chromium-driver (Debian); scripts/test runs it"]
async fn a_case_is_opened_and_a_photo_sent_to_it_in_chromium() {
    let net = DevNet::start();
    let alice = net.enrol("Alice Reyes", "ph.pnp.alice", "PH", "PNP");
    let bob = net.enrol("Bob Chai", "th.dsi.bob", "TH", "DSI");
    let carol = net.enrol("Carol Lim", "th.dsi.carol", "TH", "DSI");
    let dan = net.enrol("Dan Som", "th.dsi.dan", "TH", "DSI");
    let out = admin_command()
        .args(["role", "set", "--authority"])
        .arg(net.authority("TH"))
        .arg("--bundle")
        .arg(net.bundle())
        .args([
            "--role",
            "th.dsi.duty",
            "--name",
            "DSI duty desk",
            "--holders",
            "th.dsi.dan",
        ])
        .output()
        .unwrap();
    assert_success(&out, "role set");
    for p in [&alice, &bob, &carol, &dan] {
        assert_success(&p.run(&["sync"]), "sync");
    }
    let alice_ui = alice.start_ui(true, &[]);
    let driver = chromedriver();
    let profile = TempDir::new("chromium-case");
    let a = browser(&driver, &profile).await;
    let base = format!("http://{}", alice_ui.addr);
    log_in(&a, &alice_ui.url).await;

    // No case yet; the form opens one with Bob and the duty desk.
    a.goto(&format!("{base}/cases")).await.unwrap();
    css_text(&a, "main", "not in any case yet").await;
    check_page(&a, "cases-empty").await;
    click(&a, "a.new-case").await;
    reload_until(&a, &format!("{base}/cases/new"), "input[name=to]").await;
    check_page(&a, "case-new").await;
    a.find(Locator::Css("#title"))
        .await
        .unwrap()
        .send_keys("Pier 7 recruitment ring")
        .await
        .unwrap();
    a.find(Locator::Css("#reference"))
        .await
        .unwrap()
        .send_keys("PNP-2026-114")
        .await
        .unwrap();
    for name in ["Bob Chai", "DSI duty desk"] {
        let labels = a.find_all(Locator::Css("label.pick")).await.unwrap();
        let mut found = false;
        for l in labels {
            if l.text().await.unwrap().contains(name) {
                l.find(Locator::Css("input"))
                    .await
                    .unwrap()
                    .click()
                    .await
                    .unwrap();
                found = true;
            }
        }
        assert!(found, "{name} is offered: {}", body(&a).await);
    }
    click(&a, "#case-open").await;
    css_text(&a, "h1.case-title", "Pier 7 recruitment ring").await;
    css_text(&a, ".case-info", "Bob Chai").await;
    css_text(&a, ".case-info", "DSI duty desk").await;

    // A photo and a drawing that holds a script, with a line of text.
    let files = TempDir::new("case-files");
    let photo = files.path().join("pier7.png");
    std::fs::write(&photo, PHOTO).unwrap();
    let drawing = files.path().join("map.svg");
    std::fs::write(
        &drawing,
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>document.title='ran'</script></svg>",
    )
    .unwrap();
    a.find(Locator::Css("textarea#text"))
        .await
        .unwrap()
        .send_keys("The boat at pier 7, this morning.")
        .await
        .unwrap();
    let input = a.find(Locator::Css("input#files")).await.unwrap();
    input.send_keys(&photo.display().to_string()).await.unwrap();
    input
        .send_keys(&drawing.display().to_string())
        .await
        .unwrap();
    // The app's script sends a form with files itself, with a progress
    // bar: note when it does (the note outlives the page, in this tab).
    a.execute(
        "const open = XMLHttpRequest.prototype.open;
         XMLHttpRequest.prototype.open = function () {
           const form = document.querySelector('form[enctype]');
           sessionStorage.setItem('upload', form && form.querySelector('progress') ? 'bar' : 'none');
           return open.apply(this, arguments);
         };",
        vec![],
    )
    .await
    .unwrap();
    click(&a, "form[action='/send'] > button").await;
    css_text(&a, ".flash", "Sent").await;
    let upload = a
        .execute("return sessionStorage.getItem('upload');", vec![])
        .await
        .unwrap();
    assert_eq!(upload, "bar", "sent by the script, with its progress bar");
    css_text(&a, ".files", "pier7.png").await;
    css_text(&a, ".files", "map.svg").await;
    // The photo shows; the drawing is never put in the page.
    let shown = a
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const imgs = [...document.querySelectorAll('img.preview')];
             Promise.all(imgs.map(i => i.decode().then(() => i.naturalWidth, () => -1)))
               .then(w => done({ count: imgs.length, widths: w, alt: imgs.map(i => i.alt) }));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown["count"], 1, "{shown}");
    assert_eq!(shown["widths"][0], 8, "{shown}");
    assert_eq!(shown["alt"][0], "pier7.png", "{shown}");
    a.execute(
        "document.querySelector('.message:last-child').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    check_page(&a, "case-photo").await;
    // Asked to show the drawing, the app offers it as a download that may
    // run nothing.
    let served = a
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const link = [...document.querySelectorAll('a.download')]
               .find(l => l.textContent.includes('map.svg'));
             fetch(link.getAttribute('href') + '?view=1').then(r => done({
               status: r.status,
               type: r.headers.get('content-type'),
               disposition: r.headers.get('content-disposition'),
               csp: r.headers.get('content-security-policy'),
               nosniff: r.headers.get('x-content-type-options'),
             }), e => done({ error: String(e) }));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(served["status"], 200, "{served}");
    assert_eq!(served["type"], "application/octet-stream", "{served}");
    assert!(
        served["disposition"]
            .as_str()
            .is_some_and(|d| d.starts_with("attachment;")),
        "{served}"
    );
    assert!(
        served["csp"]
            .as_str()
            .is_some_and(|c| c.contains("sandbox")),
        "{served}"
    );
    assert_eq!(served["nosniff"], "nosniff", "{served}");

    // Alice adds Carol; she holds the case from then on.
    a.find(Locator::Css("select#add"))
        .await
        .unwrap()
        .select_by_label("Carol Lim (DSI, TH)")
        .await
        .unwrap();
    click(&a, "form.add-member button").await;
    css_text(&a, ".flash", "member was added").await;
    css_text(&a, ".case-info .members", "Carol Lim").await;
    let case_id = {
        let out = alice.run(&["case", "list", "--json"]);
        assert_success(&out, "case list");
        let cases: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        cases[0]["id"].as_str().unwrap().to_owned()
    };
    wait_until("Carol holds the case", ARRIVE, || {
        carol.run(&["sync"]);
        let out = carol.run(&["case", "show", &case_id, "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok_and(|v| {
            v["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|x| x == "th.dsi.carol"))
        })
    });

    // Bob gets the message with both files, and saves them once he has
    // acknowledged the handling: byte for byte what Alice attached.
    let mut with_files = None;
    wait_until("the photo at Bob's", ARRIVE, || {
        bob.run(&["sync"]);
        let out = bob.run(&["inbox", "--json"]);
        let inbox: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        with_files = inbox.as_array().and_then(|ms| {
            ms.iter()
                .find(|m| m["case"] == "Pier 7 recruitment ring" && m["withheld"] == true)
                .map(|m| m["id"].as_str().unwrap().to_owned())
        });
        with_files.is_some()
    });
    let id = with_files.unwrap();
    assert_success(&bob.run(&["read", &id, "--accept"]), "read --accept");
    let saved = TempDir::new("bob-saved");
    let out = bob.run(&[
        "attachment",
        "save",
        &id,
        "--out",
        &saved.path().display().to_string(),
    ]);
    assert_success(&out, "attachment save");
    assert_eq!(
        std::fs::read(saved.path().join("pier7.png")).unwrap(),
        PHOTO
    );
    assert_eq!(
        std::fs::read(saved.path().join("map.svg")).unwrap(),
        std::fs::read(&drawing).unwrap()
    );
    a.close().await.unwrap();
}
