//! What the client keeps in memory of its home: the messages and the
//! receipts, read and decrypted once and again only after a commit changed
//! their table. The agent answers every view from these (the web app's
//! pages list conversations many times a minute), so a page costs work in
//! proportion to what it shows, not to the size of the home.
//!
//! The copies hold what the open home already yields to this process; they
//! live as long as the client and are never written anywhere.

use std::sync::{Arc, PoisonError};

use crate::client::{Client, StoredMessage};
use crate::core::conversations::{Kept, Memo, MessageIndex, ReceiptIndex};
use crate::core::records::ReceiptRecord;
use crate::home::{HomeError, Table};

type Result<T> = std::result::Result<T, HomeError>;

impl Client {
    /// The home's messages, oldest first, by id and by conversation.
    pub fn message_index(&self) -> Result<Arc<MessageIndex>> {
        self.kept(
            Table::Messages,
            |m| &mut m.messages,
            || {
                let all = self
                    .home
                    .all::<StoredMessage>(Table::Messages)?
                    .into_iter()
                    .map(|(_, m)| m)
                    .collect();
                Ok(MessageIndex::new(all))
            },
        )
    }

    /// The receipts held, by message.
    pub fn receipt_index(&self) -> Result<Arc<ReceiptIndex>> {
        self.kept(
            Table::Receipts,
            |m| &mut m.receipts,
            || {
                let mut ix = ReceiptIndex::new();
                for (_, r) in self.home.all::<ReceiptRecord>(Table::Receipts)? {
                    ix.entry(r.message_id).or_default().push(r);
                }
                Ok(ix)
            },
        )
    }

    /// The copy in `slot` of the memo, if it was read at the home's
    /// current count of commits to `table`; otherwise `read` again, kept.
    fn kept<T>(
        &self,
        table: Table,
        slot: fn(&mut Memo) -> &mut Kept<T>,
        read: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        // Counted before reading: a commit in between makes the copy look
        // older than it is, and it is read again next time.
        let commits = self.home.commits(table);
        if let Some((at, copy)) = slot(&mut self.memo())
            && *at == commits
        {
            return Ok(Arc::clone(copy));
        }
        let copy = Arc::new(read()?);
        *slot(&mut self.memo()) = Some((commits, Arc::clone(&copy)));
        Ok(copy)
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        // The copies are rebuilt from the home: one left by a panic is
        // still a complete copy of some commit.
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
