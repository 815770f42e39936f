//! A home's messages arranged as its conversations: the index the agent
//! keeps in memory to answer the conversation list and one conversation's
//! page without reading, decrypting or viewing every message again.
//!
//! Only the kinds a person reads in a conversation count ([`shown`]):
//! receipt carriers, consent traffic and case changes travel in
//! conversations too but are shown elsewhere.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use liaison_protocol::{ConversationId, MessageId, Timestamp};

use super::message::StoredMessage;
use super::records::ReceiptRecord;

/// Whether a conversation shows `m` (text, forwards, handed-over messages
/// and the steps of requests).
pub fn shown(m: &StoredMessage) -> bool {
    m.kind.is_readable()
}

/// What the conversation list shows of one conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The conversation.
    pub conversation: ConversationId,
    /// Everyone in it but this focal point, in order of first appearance.
    pub with: Vec<String>,
    /// Messages shown in it.
    pub messages: usize,
    /// Received messages whose handling is not acknowledged yet.
    pub unread: usize,
    /// The newest message (by the sender's time, then id).
    pub newest: MessageId,
    /// Its sender's time.
    pub newest_at: Timestamp,
}

/// The messages of a home, oldest first (by the sender's time, then id),
/// with where each message and each conversation's messages are.
#[derive(Debug, Default)]
pub struct MessageIndex {
    all: Vec<StoredMessage>,
    by_id: HashMap<MessageId, usize>,
    /// Per conversation, the positions in `all` of the messages it shows,
    /// oldest first.
    by_conversation: HashMap<ConversationId, Vec<usize>>,
}

impl MessageIndex {
    /// Index `messages` (in any order).
    pub fn new(mut messages: Vec<StoredMessage>) -> Self {
        messages.sort_by_key(|m| (m.sent_at, m.id));
        let mut by_id = HashMap::with_capacity(messages.len());
        let mut by_conversation: HashMap<ConversationId, Vec<usize>> = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            by_id.insert(m.id, i);
            if shown(m) {
                by_conversation.entry(m.conversation).or_default().push(i);
            }
        }
        MessageIndex {
            all: messages,
            by_id,
            by_conversation,
        }
    }

    /// Every message, oldest first.
    pub fn all(&self) -> &[StoredMessage] {
        &self.all
    }

    /// The message `id`.
    pub fn get(&self, id: &MessageId) -> Option<&StoredMessage> {
        self.by_id.get(id).and_then(|&i| self.all.get(i))
    }

    /// The messages at positions `at` (all of them: the positions were
    /// taken from `all` when the index was made).
    fn at<'a>(&'a self, at: &'a [usize]) -> impl Iterator<Item = &'a StoredMessage> + 'a {
        at.iter().filter_map(|&i| self.all.get(i))
    }

    /// The conversation list, newest first, seen by focal point `me`.
    pub fn summaries(&self, me: &str) -> Vec<Summary> {
        let mut out: Vec<Summary> = self
            .by_conversation
            .keys()
            .filter_map(|conv| self.summary(conv, me))
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse((s.newest_at, s.newest)));
        out
    }

    /// The summary of conversation `conv` alone.
    pub fn summary(&self, conv: &ConversationId, me: &str) -> Option<Summary> {
        let at = self.by_conversation.get(conv)?;
        let newest = self.at(at).last()?;
        Some(Summary {
            conversation: *conv,
            with: participants(self.at(at), me),
            messages: at.len(),
            unread: self.at(at).filter(|m| m.withheld()).count(),
            newest: newest.id,
            newest_at: newest.sent_at,
        })
    }

    /// The newest `limit` messages conversation `conv` shows, oldest
    /// first, and how many older ones it holds besides.
    pub fn page(&self, conv: &ConversationId, limit: usize) -> (Vec<&StoredMessage>, usize) {
        let at = self
            .by_conversation
            .get(conv)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let earlier = at.len().saturating_sub(limit);
        (self.at(at).skip(earlier).collect(), earlier)
    }
}

/// The receipts held, by the message they are about (in the order of
/// their keys in the home).
pub type ReceiptIndex = HashMap<MessageId, Vec<ReceiptRecord>>;

/// A copy kept in memory, with the home's count of commits to its table it
/// was read at.
pub type Kept<T> = Option<(u64, Arc<T>)>;

/// The client's in-memory copies (`crate::memo`), each with the home's count of commits to its
/// table it was read at.
#[derive(Debug, Default)]
pub struct Memo {
    pub(crate) messages: Kept<MessageIndex>,
    pub(crate) receipts: Kept<ReceiptIndex>,
}

/// Everyone who sent or received one of `ms` but `me`, in order of first
/// appearance.
fn participants<'a>(ms: impl Iterator<Item = &'a StoredMessage>, me: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for m in ms {
        for id in std::iter::once(&m.from).chain(m.to.iter()) {
            if id != me && seen.insert(id.as_str()) {
                out.push(id.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::{Direction, MessageKind};
    use liaison_protocol::handling::Handling;

    fn msg(id: u8, conv: u8, at: u64, from: &str, to: &[&str], kind: MessageKind) -> StoredMessage {
        let incoming = from != "me";
        StoredMessage {
            id: MessageId([id; 16]),
            direction: if incoming {
                Direction::In
            } else {
                Direction::Out
            },
            from: from.to_owned(),
            to: to.iter().map(|s| (*s).to_owned()).collect(),
            sent_at: Timestamp(at),
            stored_at: Timestamp(at),
            conversation: ConversationId([conv; 16]),
            text: format!("text {id}"),
            handling: Handling::default(),
            verified: true,
            error: None,
            signed_payload: Vec::new(),
            logged: false,
            via_handover: None,
            kind,
            original_from: None,
            acknowledged_at: None,
            destroyed_at: None,
            payload_hash: [0; 32],
            accepted: true,
        }
    }

    fn sample() -> MessageIndex {
        MessageIndex::new(vec![
            msg(3, 1, 30, "bob", &["me"], MessageKind::Text),
            msg(1, 1, 10, "me", &["bob"], MessageKind::Text),
            msg(2, 2, 20, "me", &["carol", "dan"], MessageKind::Text),
            // Receipts and consent traffic are not shown in conversations.
            msg(4, 2, 40, "carol", &["me"], MessageKind::Receipts),
            msg(5, 2, 25, "dan", &["me"], MessageKind::Forward),
            msg(6, 3, 50, "erin", &["me"], MessageKind::ConsentRequest),
        ])
    }

    #[test]
    fn the_list_is_newest_first_with_only_shown_messages_counted() {
        let ix = sample();
        let s = ix.summaries("me");
        assert_eq!(
            s.len(),
            2,
            "a conversation of consent traffic only is not listed"
        );
        assert_eq!(s[0].conversation, ConversationId([1; 16]));
        assert_eq!(s[0].newest, MessageId([3; 16]));
        assert_eq!(s[0].with, vec!["bob".to_owned()]);
        assert_eq!((s[0].messages, s[0].unread), (2, 1));
        assert_eq!(s[1].conversation, ConversationId([2; 16]));
        assert_eq!(
            s[1].newest,
            MessageId([5; 16]),
            "the receipt carrier is not the newest"
        );
        assert_eq!(s[1].with, vec!["carol".to_owned(), "dan".to_owned()]);
        assert_eq!(s[1].messages, 2);
        assert_eq!(
            ix.summary(&ConversationId([2; 16]), "me"),
            Some(s[1].clone())
        );
        assert_eq!(ix.summary(&ConversationId([3; 16]), "me"), None);
    }

    #[test]
    fn acknowledged_messages_are_not_unread() {
        let mut m = msg(3, 1, 30, "bob", &["me"], MessageKind::Text);
        m.acknowledged_at = Some(Timestamp(31));
        let ix = MessageIndex::new(vec![m, msg(1, 1, 10, "me", &["bob"], MessageKind::Text)]);
        assert_eq!(ix.summaries("me")[0].unread, 0);
    }

    #[test]
    fn a_page_is_the_newest_messages_oldest_first_with_the_count_before() {
        let ix = MessageIndex::new(
            (1..=10)
                .map(|i| msg(i, 1, u64::from(i), "bob", &["me"], MessageKind::Text))
                .collect(),
        );
        let conv = ConversationId([1; 16]);
        let (page, earlier) = ix.page(&conv, 3);
        assert_eq!(earlier, 7);
        let ids: Vec<u8> = page.iter().map(|m| m.id.0[0]).collect();
        assert_eq!(ids, vec![8, 9, 10]);
        let (page, earlier) = ix.page(&conv, 50);
        assert_eq!((page.len(), earlier), (10, 0));
        let (page, earlier) = ix.page(&ConversationId([9; 16]), 5);
        assert_eq!((page.len(), earlier), (0, 0));
        assert_eq!(
            ix.get(&MessageId([4; 16])).map(|m| m.sent_at),
            Some(Timestamp(4))
        );
        assert_eq!(ix.all().len(), 10);
    }
}
