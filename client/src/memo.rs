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
use crate::core::conversations::{Memo, MessageIndex, ReceiptIndex};
use crate::core::records::ReceiptRecord;
use crate::home::{HomeError, Table};

type Result<T> = std::result::Result<T, HomeError>;

impl Client {
    /// The home's messages, oldest first, by id and by conversation.
    pub fn message_index(&self) -> Result<Arc<MessageIndex>> {
        // Counted before reading: a commit in between makes the copy look
        // older than it is, and it is read again next time.
        let commits = self.home.commits(Table::Messages);
        if let Some((at, ix)) = &self.memo().messages
            && *at == commits
        {
            return Ok(Arc::clone(ix));
        }
        let all = self
            .home
            .all::<StoredMessage>(Table::Messages)?
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        let ix = Arc::new(MessageIndex::new(all));
        self.memo().messages = Some((commits, Arc::clone(&ix)));
        Ok(ix)
    }

    /// The receipts held, by message.
    pub fn receipt_index(&self) -> Result<Arc<ReceiptIndex>> {
        let commits = self.home.commits(Table::Receipts);
        if let Some((at, ix)) = &self.memo().receipts
            && *at == commits
        {
            return Ok(Arc::clone(ix));
        }
        let mut ix = ReceiptIndex::new();
        for (_, r) in self.home.all::<ReceiptRecord>(Table::Receipts)? {
            ix.entry(r.message_id).or_default().push(r);
        }
        let ix = Arc::new(ix);
        self.memo().receipts = Some((commits, Arc::clone(&ix)));
        Ok(ix)
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        // The copies are rebuilt from the home: one left by a panic is
        // still a complete copy of some commit.
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
