//! `liaison-ui-bench`: the web app with a full home, measured.
//!
//! It starts a relay of a fresh development network in this process,
//! enrols two focal points with the client library, fills the first one's
//! home with `--messages` messages (half sent by it, half received, in
//! `--conversations` conversations), then serves that home's web app as
//! `liaison ui` does (an agent and the app, in this process) and asks it
//! for every page over loopback HTTP. It prints one JSON object:
//!
//! - `pages`: per page, the server's time to answer (from the request to
//!   the last byte, over a fresh connection: `min_ms`, `median_ms`,
//!   `max_ms` of `--rounds` requests after one warm-up) and its size;
//! - `first_load`: the bytes a browser fetches to show the first page (the
//!   conversation list and its script and style sheet), as served: the app
//!   does not compress its answers, so this is also an upper bound of the
//!   compressed size;
//! - and the parameters.
//!
//! A benchmark to run by hand (`cargo run --release -p liaison-bench --bin
//! liaison-ui-bench`), never a timed test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use liaison_bench::devnet;
use liaison_client::Client;
use liaison_client::agent::api::Passphrase;
use liaison_client::agent::server::{Agent, AgentOptions, AgentSocket};
use liaison_protocol::ConversationId;
use liaison_protocol::handling::Handling;
use liaison_ui::{UiOptions, WebApp};

/// The web app's page times with a full home; prints one JSON object.
#[derive(Parser, Debug)]
#[command(name = "liaison-ui-bench", version)]
struct Args {
    /// Messages in the measured home (half sent, half received).
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Conversations they are spread over.
    #[arg(long, default_value_t = 100)]
    conversations: usize,
    /// Timed requests per page (after one warm-up).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Working directory; default: a new directory under the system's
    /// temporary directory.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the working directory afterwards.
    #[arg(long)]
    keep: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.conversations == 0 || args.messages < 2 * args.conversations || args.rounds == 0 {
        bail!("give --rounds >= 1 and --messages >= 2 x --conversations >= 2");
    }
    let dir = devnet::work_dir("liaison-ui-bench", args.dir.as_deref())?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(&args, &dir));
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("{}", serde_json::to_string_pretty(&result?)?);
    Ok(())
}

/// Half the messages from `a` to `b`, half back, round-robin over
/// `conversations`; then `a` receives.
async fn fill(a: &mut Client, b: &mut Client, messages: usize, conversations: usize) -> Result<()> {
    let (a_id, b_id) = (a.id().clone(), b.id().clone());
    let amber = Handling::parse_text("AMBER").map_err(|e| anyhow!("{e}"))?;
    let mut convs: Vec<ConversationId> = Vec::new();
    let half = messages / 2;
    for i in 0..half {
        let text = format!("message {i}: the boat leaves pier {} at 04:00", i % 50);
        let conv = convs.get(i % conversations).copied();
        let id = a
            .send_in(std::slice::from_ref(&b_id), &text, amber.clone(), conv)
            .await?;
        if conv.is_none() {
            let m = a
                .message(id)?
                .ok_or_else(|| anyhow!("a sent message is not held"))?;
            convs.push(m.conversation);
        }
    }
    for i in 0..(messages - half) {
        let text = format!("reply {i}: understood, team ready");
        let conv = convs.get(i % conversations).copied();
        b.send_in(std::slice::from_ref(&a_id), &text, amber.clone(), conv)
            .await?;
    }
    let mut received = 0;
    while received < messages - half {
        let report = a.sync().await?;
        let got = report.received.len();
        if got == 0 {
            bail!("the relay stopped handing out messages after {received}");
        }
        received += got;
    }
    Ok(())
}

/// One HTTP/1.1 request over a fresh connection: (status, headers, body,
/// time to the last byte).
fn get(addr: &str, path: &str, cookie: &str) -> Result<(u16, String, Vec<u8>, Duration)> {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let took = start.elapsed();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP answer for {path}"))?;
    let head = String::from_utf8_lossy(raw.get(..split).unwrap_or_default()).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, head, body, took))
}

/// The first `href="PREFIX..."` of `body`.
fn link(body: &[u8], prefix: &str) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let at = text.find(&format!("href=\"{prefix}"))? + 6;
    let rest = text.get(at..)?;
    Some(rest.get(..rest.find('"')?)?.to_owned())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn bench(args: &Args, dir: &Path) -> Result<serde_json::Value> {
    // The relay, in this process, rate limits off.
    let relay = devnet::InProcessRelay::start(&devnet::prepare(dir)?)?;

    let (mut alice, home) = devnet::enrol(dir, "th.bench.alice", "Alice Bench").await?;
    let (mut bob, _) = devnet::enrol(dir, "ph.bench.bob", "Bob Bench").await?;
    alice.connect().await?;
    bob.connect().await?;
    let filling = Instant::now();
    fill(&mut alice, &mut bob, args.messages, args.conversations).await?;
    let fill_secs = filling.elapsed().as_secs_f64();
    alice.disconnect().await;
    bob.disconnect().await;
    drop(alice);
    drop(bob);

    // The app, as `liaison ui` serves it.
    let socket = AgentSocket::bind(&home).await?;
    let mut agent = Agent::new(socket, AgentOptions::default());
    agent
        .unlock(Passphrase::new(devnet::PASSPHRASE.to_owned()))
        .await
        .map_err(|e| anyhow!("unlock: {e:?}"))?;
    let web = WebApp::bind(
        "127.0.0.1:0".parse()?,
        agent.handle(),
        UiOptions {
            lock_after: Duration::from_secs(3600),
            home: home.clone(),
        },
    )
    .await?;
    let url = web.url().to_owned();
    let (web_stop, web_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(web.serve(async move {
        let _ = web_stopped.await;
    }));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("an unexpected address {url}"))?;
    let (addr, login) = rest
        .split_once('/')
        .map(|(a, l)| (a.to_owned(), format!("/{l}")))
        .ok_or_else(|| anyhow!("an unexpected address {url}"))?;
    // The agent serves (on this task, as `liaison ui` does) until the
    // measuring thread is done.
    let rounds = args.rounds;
    let measuring = tokio::task::spawn_blocking(move || measure(&addr, &login, rounds));
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    agent
        .serve(async move {
            let _ = done_tx.send(measuring.await);
        })
        .await
        .map_err(|e| anyhow!("the agent: {e}"))?;
    let report = done_rx
        .try_recv()
        .context("the measuring thread")?
        .context("the measuring thread")??;

    let _ = web_stop.send(());
    let _ = server.await;
    relay.stop().await?;
    Ok(serde_json::json!({
        "messages": args.messages,
        "conversations": args.conversations,
        "rounds": args.rounds,
        "fill_secs": fill_secs,
        // Whether this binary was built with debug assertions (a plain
        // `cargo build`): its times are then not the release's.
        "debug_assertions": cfg!(debug_assertions),
        "pages": report.0,
        "first_load": report.1,
    }))
}

fn measure(
    addr: &str,
    login: &str,
    rounds: usize,
) -> Result<(serde_json::Value, serde_json::Value)> {
    let (status, head, _, _) = get(addr, login, "")?;
    if status != 200 {
        bail!("the login link answered {status}");
    }
    let cookie = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or_default().to_owned())
        })
        .ok_or_else(|| anyhow!("no session cookie"))?;
    // Wait until the agent answers with the full list.
    let (_, _, home_page, _) = get(addr, "/", &cookie)?;
    let conv = link(&home_page, "/c/").ok_or_else(|| anyhow!("no conversation listed"))?;
    let (_, _, conv_page, _) = get(addr, &conv, &cookie)?;
    let mut paths = vec![
        "/".to_owned(),
        conv.clone(),
        "/compose".to_owned(),
        "/directory".to_owned(),
        "/consents".to_owned(),
        "/settings".to_owned(),
        "/devices".to_owned(),
        "/roles".to_owned(),
    ];
    for prefix in ["/forward/", "/evidence/"] {
        if let Some(p) = link(&conv_page, prefix) {
            paths.push(p);
        }
    }
    let mut pages = serde_json::Map::new();
    for path in &paths {
        let (status, _, body, _) = get(addr, path, &cookie)?;
        if status != 200 {
            bail!("{path} answered {status}");
        }
        let mut times: Vec<f64> = Vec::new();
        for _ in 0..rounds {
            times.push(ms(get(addr, path, &cookie)?.3));
        }
        times.sort_by(f64::total_cmp);
        let name = if path.starts_with("/c/") {
            "/c/CONVERSATION".to_owned()
        } else if let Some(kind) = ["/forward/", "/evidence/"]
            .iter()
            .find(|k| path.starts_with(**k))
        {
            format!("{kind}MESSAGE")
        } else {
            path.clone()
        };
        pages.insert(
            name,
            serde_json::json!({
                "min_ms": times.first().copied().unwrap_or(0.0),
                "median_ms": times.get(times.len() / 2).copied().unwrap_or(0.0),
                "max_ms": times.last().copied().unwrap_or(0.0),
                "bytes": body.len(),
            }),
        );
    }
    let mut first = serde_json::Map::new();
    let mut total = 0usize;
    for path in [
        "/",
        "/static/htmx.min.js",
        "/static/app.css",
        "/static/app.js",
    ] {
        let (status, head, body, _) = get(addr, path, &cookie)?;
        if status != 200 {
            bail!("{path} answered {status}");
        }
        let n = head.len() + 4 + body.len();
        total += n;
        first.insert(path.to_owned(), serde_json::json!(n));
    }
    first.insert("total_bytes".into(), serde_json::json!(total));
    first.insert("compressed".into(), serde_json::json!(false));
    Ok((
        serde_json::Value::Object(pages),
        serde_json::Value::Object(first),
    ))
}
