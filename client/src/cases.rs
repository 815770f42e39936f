//! Case conversations (see [`crate::core::case`] for the rules): the case
//! book kept in the home under its own secret key, the owner's changes
//! signed and sent to every member, and messages sent to a case's members
//! in its conversation.
//!
//! Every case message is one signed payload encrypted pairwise with Olm to
//! every device of every member (roles resolved to their holders when it
//! is sent), as any message: there is no group key.

use std::path::PathBuf;

use liaison_protocol::case::CaseAction;
use liaison_protocol::handling::Handling;
use liaison_protocol::message::{Content, Payload};
use liaison_protocol::{ConversationId, DirectoryId, MessageId};

use crate::client::{Client, Outgoing, random};
use crate::core::case::{CaseBook, CaseError, CaseState, opening};
use crate::error::{ClientError, NotFound};
use crate::home::HomeTxn;
use crate::outbox::SendOutcome;

type Result<T, E = ClientError> = std::result::Result<T, E>;

/// The home's secret key holding the case book (added with cases: a home
/// written before has none, and holds no case).
const CASES: &str = "cases";

impl Client {
    /// Every case this home holds.
    pub fn case_book(&self) -> Result<CaseBook> {
        match self.home.get_secret::<Vec<u8>>(CASES)? {
            Some(bytes) => Ok(CaseBook::decode(&bytes)?),
            None => Ok(CaseBook::default()),
        }
    }

    /// A case held.
    pub fn case(&self, id: ConversationId) -> Result<CaseState> {
        self.case_book()?
            .get(&id)
            .cloned()
            .ok_or_else(|| NotFound::Case(id).into())
    }

    /// Whether member id `m` is this focal point or a role it holds.
    fn is_me(&self, m: &DirectoryId) -> bool {
        let me = &self.profile.id;
        m == me
            || self
                .directory
                .role(m)
                .is_some_and(|r| r.holders.contains(me))
    }

    /// Whether `who` holds the role `role` in the verified directory (the
    /// case and request rules judge role members by it).
    pub(crate) fn holds_role(&self, role: &DirectoryId, who: &DirectoryId) -> bool {
        self.directory
            .role(role)
            .is_some_and(|r| r.holders.contains(who))
    }

    /// Apply the case rules to a message this home just verified (sent by
    /// another focal point or another device of this one): a case change
    /// updates the book, a message in a case from a non-member is flagged
    /// (not verified, the reason kept, the text not kept). Returns the book
    /// to keep with the message, if it changed.
    pub(crate) fn case_rules(
        &self,
        msg: &mut crate::client::StoredMessage,
        payload: &Payload,
    ) -> Result<Option<CaseBook>> {
        let mut book = self.case_book()?;
        Ok(self.case_rules_in(&mut book, msg, payload).then_some(book))
    }

    /// [`Client::case_rules`] against `book` (for several messages kept in
    /// one write); returns whether it changed.
    pub(crate) fn case_rules_in(
        &self,
        book: &mut CaseBook,
        msg: &mut crate::client::StoredMessage,
        payload: &Payload,
    ) -> bool {
        if !msg.verified {
            return false;
        }
        let outcome = match &payload.content {
            Content::Case(_) => book
                .apply(payload, msg.payload_hash, &|m| self.is_me(m))
                .map(|_| true),
            _ => book
                .check_message(payload, &|role, who| self.holds_role(role, who))
                .map(|()| false),
        };
        match outcome {
            Ok(changed) => changed,
            Err(e) => {
                msg.verified = false;
                msg.error = Some(e.to_string());
                msg.text.clear();
                false
            }
        }
    }

    /// Keep in `w` the case change this home signs (the same rules as a
    /// member applying it), before it leaves.
    pub(crate) fn keep_own_case_change(
        &self,
        w: &mut HomeTxn<'_>,
        payload: &Payload,
        hash: [u8; 32],
    ) -> Result<()> {
        if !matches!(payload.content, Content::Case(_)) {
            return Ok(());
        }
        let mut book = self.case_book()?;
        book.apply(payload, hash, &|m| self.is_me(m))?;
        Self::keep_case_book(w, &book)
    }

    /// Keep the case book in `w`.
    pub(crate) fn keep_case_book(w: &mut HomeTxn<'_>, book: &CaseBook) -> Result<()> {
        w.put_secret(CASES, &book.encode()?)?;
        Ok(())
    }

    /// Open a case owned by this focal point with `members` (focal point or
    /// role ids; this focal point is added) and send the opening to them.
    /// Returns the case id.
    pub async fn case_new(
        &mut self,
        title: &str,
        reference: Option<String>,
        handling: Handling,
        members: &[DirectoryId],
    ) -> Result<ConversationId> {
        let me = self.profile.id.clone();
        let change = opening(title, reference, handling.clone(), &me, members)?;
        let to: Vec<DirectoryId> = change
            .case
            .members
            .iter()
            .filter(|m| **m != me)
            .cloned()
            .collect();
        let id = ConversationId(random()?);
        let out = Outgoing {
            conversation: Some(id),
            ..Outgoing::content("", handling, Content::Case(change))
        };
        self.send_outgoing(&to, out).await?;
        Ok(id)
    }

    /// Add (`add`) or remove members of a case this focal point owns, and
    /// send the change to the members after it and to those removed (who
    /// learn of their removal, then receive nothing further). Returns the
    /// message that carries the change.
    pub async fn case_change(
        &mut self,
        id: ConversationId,
        add: bool,
        ids: &[DirectoryId],
    ) -> Result<MessageId> {
        let case = self.case(id)?;
        let me = self.profile.id.clone();
        let action = if add {
            CaseAction::Add(ids.to_vec())
        } else {
            CaseAction::Remove(ids.to_vec())
        };
        let change = case.next_change(&me, action)?;
        let mut to: Vec<DirectoryId> = change.members_before();
        to.extend(change.case.members.iter().cloned());
        let mut seen = Vec::new();
        to.retain(|m| {
            *m != me && !seen.contains(m) && {
                seen.push(m.clone());
                true
            }
        });
        if to.is_empty() {
            return Err(CaseError::NoOtherMember(case.info.title).into());
        }
        let out = Outgoing {
            conversation: Some(id),
            ..Outgoing::content("", case.info.handling.clone(), Content::Case(change))
        };
        self.send_outgoing(&to, out).await
    }

    /// Send `text` (and `files`) to the members of a case, in its
    /// conversation, under the case's handling unless `handling` is given;
    /// as a reply to message `reply_to` of the case when given (quoting it
    /// only when every recipient received it: a member added since gets
    /// the reference, not the words). Without files it is kept to go out
    /// later when the relay cannot be reached. Returns the outcome and the
    /// recipients as addressed.
    pub async fn case_send(
        &mut self,
        id: ConversationId,
        text: &str,
        handling: Option<Handling>,
        files: &[PathBuf],
        reply_to: Option<MessageId>,
    ) -> Result<(SendOutcome, Vec<DirectoryId>)> {
        let case = self.case(id)?;
        let to = case.send_to(&self.profile.id)?;
        let handling = handling.unwrap_or_else(|| case.info.handling.clone());
        let content = match reply_to {
            None => Content::Text,
            Some(r) => {
                let m = self
                    .message(r)?
                    .filter(|m| m.conversation == id)
                    .ok_or(NotFound::Message(r))?;
                let everyone_had_it = to
                    .iter()
                    .all(|t| t.as_str() == m.from || m.to.iter().any(|x| x == t.as_str()));
                let quote = m
                    .visible_text()
                    .filter(|_| everyone_had_it)
                    .map(crate::core::message::quote_of)
                    .unwrap_or_default();
                Content::Reply { to: r, quote }
            }
        };
        let out = Outgoing {
            conversation: Some(id),
            ..Outgoing::content(text, handling, content)
        };
        if files.is_empty() && text.len() <= liaison_protocol::message::MAX_BODY {
            Ok((self.send_or_queue(&to, out).await?, to))
        } else {
            let mid = self.send_outgoing_attached(&to, out, files).await?;
            Ok((SendOutcome::Accepted(mid), to))
        }
    }
}
