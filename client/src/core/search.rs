//! Searching an officer's own history: the messages this home holds whose
//! text the officer may see now ([`StoredMessage::visible_text`]: never a
//! message whose handling is not acknowledged yet, nor one whose content
//! retention destroyed, nor a rejected one).
//!
//! Matching is by substring of the case-folded text, so it works for the
//! scripts written without spaces between words (Thai, Khmer, Lao,
//! Burmese) as for the others, and on the sender's and recipients' ids.
//! The index lives in memory only (the agent's, or the command's): it is
//! never written anywhere, and its text is wiped when it is dropped.
//!
//! Pure: the driver hands it the stored messages.

use liaison_protocol::{ConversationId, MessageId, Timestamp};
use zeroize::Zeroizing;

use crate::core::message::{Direction, MessageKind, StoredMessage};

/// Most characters a query may have.
pub const MAX_QUERY_CHARS: usize = 200;
/// Characters of context shown on each side of a match.
const CONTEXT_CHARS: usize = 40;

/// A query that cannot be searched for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// Only spaces.
    #[error("say what to search for: the text is empty")]
    Empty,
    /// Longer than [`MAX_QUERY_CHARS`].
    #[error("the text to search for is longer than {MAX_QUERY_CHARS} characters")]
    TooLong,
}

/// A message that matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The message.
    pub id: MessageId,
    /// Its sender.
    pub from: String,
    /// Its recipients.
    pub to: Vec<String>,
    /// `In` (received) or `Out` (sent).
    pub direction: Direction,
    /// The sender's time.
    pub sent_at: Timestamp,
    /// Its conversation.
    pub conversation: ConversationId,
    /// The match with some text around it, on one line, as written (not
    /// folded); empty when only an id matched.
    pub snippet: String,
}

struct Entry {
    id: MessageId,
    from: String,
    to: Vec<String>,
    direction: Direction,
    sent_at: Timestamp,
    conversation: ConversationId,
    text: Zeroizing<String>,
    folded: Zeroizing<String>,
    ids: String,
}

/// The searchable messages of a home, newest first.
#[derive(Default)]
pub struct SearchIndex {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("messages", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// `s` case-folded for matching: lower case, character by character (the
/// scripts without case are left as they are).
pub fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

impl SearchIndex {
    /// The index of `messages`: those whose text may be seen now.
    pub fn build<'a>(messages: impl IntoIterator<Item = &'a StoredMessage>) -> SearchIndex {
        let mut entries: Vec<Entry> = messages
            .into_iter()
            .filter_map(|m| {
                // Receipt carriers hold no one's words, only "N receipt(s)".
                if m.kind == MessageKind::Receipts {
                    return None;
                }
                let text = m.visible_text().filter(|t| !t.is_empty())?;
                Some(Entry {
                    id: m.id,
                    from: m.from.clone(),
                    to: m.to.clone(),
                    direction: m.direction,
                    sent_at: m.sent_at,
                    conversation: m.conversation,
                    folded: Zeroizing::new(fold(text)),
                    text: Zeroizing::new(text.to_owned()),
                    ids: fold(&format!("{} {}", m.from, m.to.join(" "))),
                })
            })
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse((e.sent_at, e.id)));
        SearchIndex { entries }
    }

    /// Messages indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no message is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The messages whose text (or sender's or a recipient's id) contains
    /// `query`, ignoring case: newest first, at most `limit`, and how many
    /// matched in all.
    pub fn search(&self, query: &str, limit: usize) -> Result<(Vec<Hit>, usize), QueryError> {
        let query = query.trim();
        if query.is_empty() {
            return Err(QueryError::Empty);
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong);
        }
        let q = fold(query);
        let mut hits = Vec::new();
        let mut total = 0;
        for e in &self.entries {
            let at = e.folded.find(&q);
            if at.is_none() && !e.ids.contains(&q) {
                continue;
            }
            total += 1;
            if hits.len() < limit {
                hits.push(Hit {
                    id: e.id,
                    from: e.from.clone(),
                    to: e.to.clone(),
                    direction: e.direction,
                    sent_at: e.sent_at,
                    conversation: e.conversation,
                    snippet: at
                        .map(|at| snippet(&e.text, &e.folded, at, q.len()))
                        .unwrap_or_default(),
                });
            }
        }
        Ok((hits, total))
    }
}

/// The original text around the match at byte `at` (length `len`) of its
/// folded form, on one line, with "…" where it was cut.
fn snippet(text: &str, folded: &str, at: usize, len: usize) -> String {
    // Characters of `text` before the match: fold character by character
    // until the folded length reaches `at` (folding may change lengths).
    let (mut folded_len, mut start_char) = (0usize, 0usize);
    for c in text.chars() {
        if folded_len >= at {
            break;
        }
        folded_len += c.to_lowercase().map(char::len_utf8).sum::<usize>();
        start_char += 1;
    }
    let match_chars = folded
        .get(at..at.saturating_add(len))
        .map_or(0, |m| m.chars().count());
    let chars: Vec<char> = text.chars().collect();
    let from = start_char.saturating_sub(CONTEXT_CHARS);
    let to = (start_char + match_chars + CONTEXT_CHARS).min(chars.len());
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    out.extend(chars.get(from..to).unwrap_or_default());
    if to < chars.len() {
        out.push('…');
    }
    crate::core::open::one_line(&out)
}

#[cfg(test)]
#[path = "search_test.rs"]
mod tests;
