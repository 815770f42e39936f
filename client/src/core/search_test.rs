#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use liaison_protocol::DirectoryId;
use liaison_protocol::handling::Handling;
use liaison_protocol::message::{Content, Payload};

use super::*;

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

/// A received message `n` from `from`, acknowledged (its text visible).
fn received(n: u8, from: &str, text: &str) -> StoredMessage {
    let p = Payload {
        message_id: MessageId([n; 16]),
        sender: id(from),
        sender_device: crate::core::testing::key(n).public_key(),
        recipients: vec![id("th.dsi.alice")],
        resolved: vec![id("th.dsi.alice")],
        conversation_id: ConversationId([n; 16]),
        created_at: Timestamp(u64::from(n) * 1_000),
        handling: Handling::default(),
        body: text.into(),
        content: Content::Text,
        attachments: Vec::new(),
        checkpoints: Vec::new(),
    };
    let mut m = StoredMessage::received(&p, Vec::new(), Timestamp(u64::from(n) * 1_000));
    m.acknowledged_at = Some(Timestamp(u64::from(n) * 1_000 + 1));
    m
}

fn ids(hits: &[Hit]) -> Vec<u8> {
    hits.iter().map(|h| h.id.0[0]).collect()
}

#[test]
fn matches_by_substring_ignoring_case_newest_first() {
    let all = [
        received(1, "ph.pnp.bob", "Boat leaves RANONG at 0300"),
        received(2, "ph.pnp.bob", "nothing about boats"),
        received(3, "vn.mps.van", "the boat was seen off Ranong pier"),
    ];
    let index = SearchIndex::build(&all);
    let (hits, total) = index.search("ranong", 10).unwrap();
    assert_eq!((ids(&hits), total), (vec![3, 1], 2));
    assert_eq!(hits[1].snippet, "Boat leaves RANONG at 0300");
    // A limit keeps the newest and still counts them all.
    let (hits, total) = index.search("BOAT", 1).unwrap();
    assert_eq!((ids(&hits), total), (vec![3], 3));
    // An id matches, with no text to show.
    let (hits, _) = index.search("vn.mps", 10).unwrap();
    assert_eq!(ids(&hits), vec![3]);
    assert!(index.search("pattaya", 10).unwrap().0.is_empty());
}

/// Thai, Khmer, Lao and Burmese are written without spaces between words:
/// a word is found inside a run of text.
#[test]
fn scripts_without_spaces_between_words_are_found_by_substring() {
    let all = [
        received(1, "th.dsi.somchai", "เรือออกจากระนองเวลาตีสาม"),
        received(2, "kh.cnp.dara", "ទូកចាកចេញពីកំពង់ផែ"),
        received(3, "la.mps.kham", "ເຮືອອອກຈາກທ່າເຮືອ"),
        received(4, "mm.mpf.aung", "လှေသည်ဆိပ်ကမ်းမှထွက်ခွာသည်"),
    ];
    let index = SearchIndex::build(&all);
    for (word, n) in [("ระนอง", 1), ("កំពង់ផែ", 2), ("ທ່າເຮືອ", 3), ("ဆိပ်ကမ်း", 4)]
    {
        let (hits, total) = index.search(word, 10).unwrap();
        assert_eq!((ids(&hits), total), (vec![n], 1), "{word}");
        assert!(
            hits[0].snippet.contains(word),
            "{word}: {}",
            hits[0].snippet
        );
    }
}

/// Only what the officer may read now is searched: not a message whose
/// handling is not acknowledged, nor one whose content retention
/// destroyed, nor a rejected one.
#[test]
fn nothing_the_officer_may_not_read_now_is_searched() {
    let mut unread = received(1, "ph.pnp.bob", "secret location pier 7");
    unread.acknowledged_at = None;
    let mut destroyed = received(2, "ph.pnp.bob", "secret location pier 7");
    destroyed.destroyed_at = Some(Timestamp(9_000));
    let mut rejected = received(3, "ph.pnp.bob", "secret location pier 7");
    rejected.verified = false;
    let read = received(4, "ph.pnp.bob", "secret location pier 7");
    let all = [unread, destroyed, rejected, read];
    let index = SearchIndex::build(&all);
    assert_eq!(index.len(), 1);
    assert_eq!(ids(&index.search("pier 7", 10).unwrap().0), vec![4]);
}

#[test]
fn the_snippet_is_cut_around_the_match_on_characters() {
    let long = format!("{}ระนอง{}", "ก".repeat(100), "ข".repeat(100));
    let all = [received(1, "th.dsi.somchai", &long)];
    let (hits, _) = SearchIndex::build(&all).search("ระนอง", 10).unwrap();
    let s = &hits[0].snippet;
    assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
    assert_eq!(s.chars().count(), 2 + 40 + 5 + 40, "{s}");
    // Folding that changes lengths (İ lower-cases to two characters)
    // still cuts on the original's characters.
    let all = [received(1, "ph.pnp.bob", "İİİ Kapal berangkat")];
    let (hits, _) = SearchIndex::build(&all).search("kapal", 10).unwrap();
    assert_eq!(hits[0].snippet, "İİİ Kapal berangkat");
}

#[test]
fn an_empty_or_overlong_query_is_refused() {
    let index = SearchIndex::default();
    assert_eq!(index.search("  ", 10).unwrap_err(), QueryError::Empty);
    assert_eq!(
        index
            .search(&"a".repeat(MAX_QUERY_CHARS + 1), 10)
            .unwrap_err(),
        QueryError::TooLong
    );
    assert_eq!(index.search("a", 10).unwrap(), (Vec::new(), 0));
}
