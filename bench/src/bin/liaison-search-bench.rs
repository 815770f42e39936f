//! `liaison-search-bench`: the cost of `liaison search` over a large home.
//!
//! It fills a new home (in a temporary directory, sealed like any other)
//! with `--messages` received, acknowledged messages of about `--size`
//! bytes of text, in English, Thai, Khmer, Lao, Burmese and Vietnamese,
//! `--batch` per durable transaction; then measures, through the client's
//! own code:
//!
//! - `index_build_ms`: reading and opening every message of the home and
//!   building the in-memory index: what the first search costs, and the
//!   next one after messages changed (`--rounds` times, p50 and max);
//! - `search_us`: a search over the built index, the agent's case, for
//!   words found in few, many and no messages in each script
//!   (`--rounds` times each: p50, p99, max), with the number of hits.
//!
//! It prints one JSON object and removes the directory. A benchmark to run
//! by hand, never a timed test:
//! `cargo run --release -p liaison-bench --bin liaison-search-bench`.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use liaison_client::client::StoredMessage;
use liaison_client::core::search::SearchIndex;
use liaison_client::home::{Home, KdfParams, Table};
use liaison_protocol::handling::Handling;
use liaison_protocol::message::{Content, Payload};
use liaison_protocol::{ConversationId, DirectoryId, MessageId, SecretKey, Timestamp};

/// Cost of `liaison search` over a home of many messages; prints one JSON
/// object.
#[derive(Parser, Debug)]
#[command(name = "liaison-search-bench", version)]
struct Args {
    /// Messages in the home.
    #[arg(long, default_value_t = 100_000)]
    messages: u32,
    /// Bytes of text per message (about).
    #[arg(long, default_value_t = 600)]
    size: usize,
    /// Messages stored per durable transaction while filling the home.
    #[arg(long, default_value_t = 2_000)]
    batch: u32,
    /// Times each measurement is repeated.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
}

/// Phrases the texts are made of, in the languages of the network.
const PHRASES: &[&str] = &[
    "The boat leaves the pier at dawn with nine people on board; ",
    "Please confirm the passport numbers of the victims before noon. ",
    "เรือออกจากท่าเรือตอนเช้ามืดพร้อมผู้โดยสารเก้าคน",
    "กรุณายืนยันหมายเลขหนังสือเดินทางของผู้เสียหาย",
    "ទូកចាកចេញពីកំពង់ផែនៅពេលព្រឹកព្រលឹម",
    "ເຮືອອອກຈາກທ່າເຮືອໃນຕອນເຊົ້າມືດ",
    "လှေသည်မနက်စောစောဆိပ်ကမ်းမှထွက်ခွာသည်",
    "Tàu rời bến lúc bình minh với chín người trên tàu. ",
];

/// Words searched for, and where they are: in one message, in a share of
/// them, or nowhere.
const RARE: &str = "case-7f3a9";
const QUERIES: &[(&str, &str)] = &[
    ("rare", RARE),
    ("english", "passport numbers"),
    ("thai", "หนังสือเดินทาง"),
    ("khmer", "កំពង់ផែ"),
    ("lao", "ທ່າເຮືອ"),
    ("burmese", "ဆိပ်ကမ်း"),
    ("vietnamese", "bình minh"),
    ("absent", "no such words anywhere"),
];

fn text_of(n: u32, size: usize) -> String {
    let mut s = String::with_capacity(size + 64);
    let mut i = n as usize;
    while s.len() < size {
        s.push_str(PHRASES.get(i % PHRASES.len()).copied().unwrap_or_default());
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    if n == 4_242 {
        s.push_str(RARE);
    }
    s
}

fn message(n: u32, size: usize, sender: &SecretKey) -> StoredMessage {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    let alice = DirectoryId::parse("th.dsi.alice").unwrap_or_else(|_| unreachable!());
    let bob = DirectoryId::parse("ph.pnp.bob").unwrap_or_else(|_| unreachable!());
    let p = Payload {
        message_id: MessageId(id),
        sender: bob,
        sender_device: sender.public_key(),
        recipients: vec![alice.clone()],
        resolved: vec![alice],
        conversation_id: ConversationId(id),
        created_at: Timestamp(1_700_000_000_000 + u64::from(n) * 1_000),
        handling: Handling::default(),
        body: text_of(n, size),
        content: Content::Text,
        attachments: Vec::new(),
        checkpoints: Vec::new(),
    };
    let mut m = StoredMessage::received(&p, Vec::new(), p.created_at);
    m.acknowledged_at = Some(p.created_at);
    m
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liaison-search-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let home_dir = dir.path().join("home");
    let kdf = KdfParams {
        m_cost: 256,
        t_cost: 1,
        p_cost: 1,
        salt: [7; 16],
    };
    let home = Home::create(&home_dir, "liaison-search-bench passphrase", kdf)?;
    let sender = SecretKey::from_seed(&[9; 32]);
    let fill = Instant::now();
    let mut n = 0;
    while n < args.messages {
        let mut w = home.write()?;
        for _ in 0..args.batch.min(args.messages - n) {
            let m = message(n, args.size, &sender);
            w.put(Table::Messages, &m.id.0, &m)?;
            n += 1;
        }
        w.commit()?;
    }
    let fill_secs = fill.elapsed().as_secs_f64();

    let mut builds = Vec::new();
    let mut index = SearchIndex::default();
    for _ in 0..args.rounds.max(1) {
        let t = Instant::now();
        let all: Vec<StoredMessage> = home
            .all::<StoredMessage>(Table::Messages)?
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        index = SearchIndex::build(&all);
        builds.push(t.elapsed().as_secs_f64() * 1e3);
    }
    builds.sort_by(f64::total_cmp);

    let mut searches = serde_json::Map::new();
    for (name, query) in QUERIES {
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..args.rounds.max(1) {
            let t = Instant::now();
            let (_, n) = index.search(query, 50)?;
            times.push(t.elapsed().as_secs_f64() * 1e6);
            total = n;
        }
        times.sort_by(f64::total_cmp);
        searches.insert(
            (*name).to_owned(),
            serde_json::json!({
                "query": query,
                "hits": total,
                "p50": percentile(&times, 0.5).round(),
                "p99": percentile(&times, 0.99).round(),
                "max": times.last().copied().unwrap_or_default().round(),
            }),
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "benchmark": "liaison-search-bench",
            "messages": args.messages,
            "indexed": index.len(),
            "text_bytes_per_message": args.size,
            "fill_secs": (fill_secs * 10.0).round() / 10.0,
            "index_build_ms": {
                "p50": percentile(&builds, 0.5).round(),
                "max": builds.last().copied().unwrap_or_default().round(),
            },
            "search_us": searches,
        })
    );
    Ok(())
}
