//! Observability: the metrics endpoint of a real relay process, scraped
//! while messages flow, exposes every metric the operator guide documents,
//! with values that follow the traffic; health and readiness answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use liaison_protocol::DirectoryId;
use liaison_protocol::handling::Handling;
use liaison_tests::{DevNet, http_get, inproc, metric_value};

const MESSAGES: usize = 20;

fn scrape(addr: &str) -> String {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

fn value(text: &str, metric: &str, labels: &[&str]) -> f64 {
    metric_value(text, metric, labels)
        .unwrap_or_else(|| panic!("{metric}{labels:?} missing from:\n{text}"))
}

/// Metric names the operator guide documents (backticked `liaison_*` and
/// `process_*` names in deploy/OPERATIONS.md).
fn documented_metrics() -> BTreeSet<String> {
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/OPERATIONS.md"),
    )
    .unwrap();
    guide
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            (s.starts_with("liaison_") || s.starts_with("process_"))
                && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_traffic_and_match_the_guide() {
    let net = DevNet::start();
    let addr = net.metrics.clone().expect("a dev relay serves metrics");
    assert_eq!(http_get(&addr, "/healthz"), (200, "ok\n".into()));
    assert_eq!(http_get(&addr, "/readyz"), (200, "ready\n".into()));
    assert_eq!(http_get(&addr, "/nothing").0, 404);

    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    alice.connect().await.unwrap();
    bob.connect().await.unwrap();

    // Scrape continuously while Alice sends.
    let done = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicUsize::new(0));
    let scraper = {
        let (addr, done, scrapes) = (addr.clone(), done.clone(), scrapes.clone());
        std::thread::spawn(move || {
            let mut last = String::new();
            while !done.load(Ordering::SeqCst) {
                last = scrape(&addr);
                scrapes.fetch_add(1, Ordering::SeqCst);
            }
            last
        })
    };
    let to = [DirectoryId::parse("ph.pnp.bob").unwrap()];
    for i in 0..MESSAGES {
        alice
            .send(&to, &format!("report {i}"), Handling::default())
            .await
            .unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let during = scraper.join().unwrap();
    assert!(scrapes.load(Ordering::SeqCst) >= 1);
    assert!(during.contains("# TYPE liaison_messages_accepted_total counter"));

    // Everything sent is queued for Bob, who has not fetched yet.
    let text = scrape(&addr);
    let n = MESSAGES as f64;
    assert_eq!(value(&text, "liaison_ready", &[]), 1.0);
    assert_eq!(value(&text, "liaison_store_healthy", &[]), 1.0);
    assert!(value(&text, "liaison_connections", &[]) >= 2.0);
    assert!(value(&text, "liaison_connections_accepted_total", &[]) >= 2.0);
    assert_eq!(value(&text, "liaison_authenticated_devices", &[]), 2.0);
    assert_eq!(value(&text, "liaison_messages_accepted_total", &[]), n);
    assert_eq!(value(&text, "liaison_envelopes_accepted_total", &[]), n);
    assert!(value(&text, "liaison_requests_total", &["kind=\"send\""]) >= n);
    assert!(value(&text, "liaison_queue_depth", &[]) >= n);
    let age = value(&text, "liaison_queue_oldest_age_seconds", &[]);
    assert!((0.0..3600.0).contains(&age), "{age}");
    assert!(value(&text, "liaison_store_bytes", &[]) > 0.0);
    assert!(value(&text, "liaison_commits_total", &[]) >= 1.0);
    assert!(value(&text, "liaison_commit_sends_total", &[]) >= n);
    assert!(value(&text, "liaison_commit_latency_seconds_count", &[]) >= 1.0);
    assert!(
        value(
            &text,
            "liaison_commit_latency_seconds_bucket",
            &["le=\"+Inf\""]
        ) >= 1.0
    );
    assert_eq!(value(&text, "liaison_send_latency_seconds_count", &[]), n);
    // Each accepted message is an event-log entry; directory entries exist.
    assert!(value(&text, "liaison_log_entries", &["log=\"events\""]) >= n);
    assert!(value(&text, "liaison_log_entries", &["log=\"directory\""]) >= 2.0);
    assert!(value(&text, "liaison_rate_limited_total", &["limit=\"sends\""]) == 0.0);
    assert!(value(&text, "process_resident_memory_bytes", &[]) > 0.0);

    // Bob fetches and acknowledges everything; whatever his client sends
    // back (receipts) Alice fetches in turn, until every queue is empty.
    let report = bob.sync().await.unwrap();
    assert_eq!(report.received.len(), MESSAGES);
    let mut text = scrape(&addr);
    for _ in 0..3 {
        if value(&text, "liaison_queue_depth", &[]) == 0.0 {
            break;
        }
        alice.sync().await.unwrap();
        bob.sync().await.unwrap();
        text = scrape(&addr);
    }
    assert_eq!(value(&text, "liaison_queue_depth", &[]), 0.0);
    assert_eq!(value(&text, "liaison_queue_oldest_age_seconds", &[]), 0.0);
    assert!(
        value(
            &text,
            "liaison_envelopes_delivered_total",
            &["via=\"fetch\""]
        ) >= n
    );
    assert!(value(&text, "liaison_envelopes_acknowledged_total", &[]) >= n);

    // Every metric the guide documents is exposed.
    let documented = documented_metrics();
    assert!(documented.len() >= 30, "{documented:?}");
    let exposed: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let missing: Vec<&String> = documented
        .iter()
        .filter(|m| !exposed.contains(m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "documented but not exposed: {missing:?}"
    );
    let undocumented: Vec<&&str> = exposed
        .iter()
        .filter(|m| !documented.contains(**m))
        .collect();
    assert!(
        undocumented.is_empty(),
        "exposed but not documented: {undocumented:?}"
    );

    alice.disconnect().await;
    bob.disconnect().await;
}
