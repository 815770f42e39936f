//! Sending while the relay cannot be reached. A message is then signed and
//! kept in the home (encrypted like everything in it) as *unsent*: the
//! relay is needed to set up sessions with devices never written to, so
//! encryption waits for the next connection. The next `sync` (or the agent,
//! as soon as its link is up again) encrypts it to the devices the
//! recipients have then, puts it in the outbox and submits it; the relay
//! deduplicates by message id, so it arrives exactly once.

use std::collections::BTreeMap;

use liaison_protocol::frames::Declaration;
use liaison_protocol::{DirectoryId, MessageId};
use serde::{Deserialize, Serialize};

use crate::client::{Client, OutboxItem, Outgoing, StoredMessage};
use crate::core::compose::Composed;
use crate::error::ClientError;
use crate::home::Table;

/// The home's singleton holding the messages signed but not yet encrypted.
const UNSENT: &str = "unsent";

/// A message signed while the relay could not be reached.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct UnsentItem {
    /// The message (its signed payload is kept with the sent messages).
    message_id: MessageId,
    /// The focal points its recipients resolved to when it was signed.
    resolved: Vec<DirectoryId>,
    /// What the relay's event log should declare about it.
    declare: Vec<Declaration>,
}

type Unsent = BTreeMap<[u8; 16], UnsentItem>;

/// What became of a message handed to [`Client::send_or_queue`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The relay durably accepted it.
    Accepted(MessageId),
    /// It is kept in the home and goes out at the next sync (or as soon as
    /// the agent reconnects); `reason` says why it could not go out now.
    Queued {
        /// The message.
        id: MessageId,
        /// Why the relay could not take it now.
        reason: String,
    },
}

impl Client {
    /// Send like [`Client::send_outgoing`]; when the relay cannot be reached
    /// (not connected, or the link failed on the way), keep the message
    /// instead of failing: signed and stored with the sent messages, it goes
    /// out at the next sync. Only the relay's own refusals and the checks of
    /// the message and its recipients fail it.
    pub(crate) async fn send_or_queue(
        &mut self,
        to: &[DirectoryId],
        out: Outgoing,
    ) -> Result<SendOutcome, ClientError> {
        if self.conn.is_none() {
            let reason = self
                .offline
                .clone()
                .unwrap_or_else(|| "not connected to the relay".to_owned());
            let id = self.queue_unsent(to, out)?;
            return Ok(SendOutcome::Queued { id, reason });
        }
        self.sending = None;
        match self.send_outgoing(to, out.clone()).await {
            Ok(id) => Ok(SendOutcome::Accepted(id)),
            Err(e) if e.is_unreachable() => {
                let reason = liaison_net::tool::chain(&e);
                // Kept in the outbox before the link failed: it is retried
                // as it is. Otherwise nothing of it was kept: keep it now.
                let id = match self.sending_kept()? {
                    Some(id) => id,
                    None => self.queue_unsent(to, out)?,
                };
                Ok(SendOutcome::Queued { id, reason })
            }
            Err(e) => Err(e),
        }
    }

    /// The message the last send started, if it was kept (accepted by the
    /// relay, in the outbox, or unsent); `None` if that send had not got
    /// that far (nothing of it was kept).
    pub fn sending_kept(&self) -> Result<Option<MessageId>, ClientError> {
        Ok(match self.sending {
            Some(id) if self.home.contains(Table::Messages, &id.0)? => Some(id),
            _ => None,
        })
    }

    /// Sign `out` for `to` against the directory held and keep it, unsent.
    fn queue_unsent(
        &mut self,
        to: &[DirectoryId],
        out: Outgoing,
    ) -> Result<MessageId, ClientError> {
        let message_id = MessageId(crate::client::random()?);
        self.sending = Some(message_id);
        let mut out = out;
        let keep_consent = out.keep_consent.take();
        let (composed, contacts, declare) = self.prepare(to, out, message_id)?;
        let Composed {
            payload, signed, ..
        } = composed;
        let stored = StoredMessage::outgoing(&payload, signed);
        let mut unsent = self.unsent()?;
        unsent.insert(
            message_id.0,
            UnsentItem {
                message_id,
                resolved: payload.resolved.clone(),
                declare,
            },
        );
        let mut w = self.home.write()?;
        w.put(Table::Messages, &message_id.0, &stored)?;
        w.put_secret(UNSENT, &unsent)?;
        w.put_secret("contacts", &contacts)?;
        if let Some(rec) = &keep_consent {
            w.put(Table::Consents, &rec.request_id, rec)?;
        }
        w.commit()?;
        Ok(message_id)
    }

    fn unsent(&self) -> Result<Unsent, ClientError> {
        Ok(self.home.get_secret(UNSENT)?.unwrap_or_default())
    }

    /// Messages signed while the relay could not be reached and not yet
    /// encrypted.
    pub fn unsent_len(&self) -> Result<usize, ClientError> {
        Ok(self.unsent()?.len())
    }

    /// Encrypt each unsent message to the devices its recipients have now
    /// and move it to the outbox (connected). A recipient whose key changed
    /// holds the message until the change is accepted; a recipient no
    /// longer active is left out, with a warning.
    pub(crate) async fn encrypt_unsent(&mut self) -> Result<usize, ClientError> {
        let unsent = self.unsent()?;
        if unsent.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let own_device = self.device.signing_key();
        let mut moved = 0;
        for (key, item) in unsent {
            let Some(stored) = self
                .home
                .get::<StoredMessage>(Table::Messages, &item.message_id.0)?
            else {
                self.forget_unsent(&key)?;
                continue;
            };
            let mut contacts = self.contacts()?;
            if let Some(changed) = item.resolved.iter().find(|id| {
                contacts
                    .get(id.as_str())
                    .is_some_and(|c| c.key_changed.is_some())
            }) {
                self.warnings.push(format!(
                    "message {} waits: {}. It goes out at the first sync after that",
                    item.message_id,
                    crate::error::RecipientError::KeyChanged(changed.clone())
                ));
                continue;
            }
            let mut devices = Vec::new();
            let mut gone = Vec::new();
            for id in &item.resolved {
                match self
                    .directory
                    .resolve(id, now)
                    .into_iter()
                    .find(|r| &r.id == id)
                {
                    Some(r) => devices.extend(
                        r.devices
                            .iter()
                            .filter(|d| d.signing != own_device)
                            .map(|d| (r.id.clone(), *d)),
                    ),
                    None => gone.push(id.to_string()),
                }
            }
            if !gone.is_empty() {
                self.warnings.push(format!(
                    "message {} is not sent to {}: no longer active in the directory (revoked or expired since you wrote it)",
                    item.message_id,
                    gone.join(", ")
                ));
            }
            if devices.is_empty() {
                self.warnings.push(format!(
                    "message {} was not sent: none of its recipients is active any more. It stays in `liaison sent`, marked not sent",
                    item.message_id
                ));
                self.forget_unsent(&key)?;
                continue;
            }
            let plaintext = zeroize::Zeroizing::new(stored.signed_payload.clone());
            let (envelopes, sessions) =
                match self.encrypt_to(&devices, &plaintext, item.message_id).await {
                    Ok(x) => x,
                    Err(e) if e.is_unreachable() => return Err(e),
                    // Refused (a device with no prekey left, say): it
                    // waits for a later sync, without holding up the rest.
                    Err(e) => {
                        self.warnings.push(format!(
                            "message {} waits: {}. The next sync tries again",
                            item.message_id,
                            liaison_net::tool::chain(&e)
                        ));
                        continue;
                    }
                };
            let out = OutboxItem {
                message_id: item.message_id,
                envelopes,
                declare: item.declare.clone(),
            };
            // Devices added since it was written: said, as for any send.
            for id in &item.resolved {
                if let Some(c) = contacts.get_mut(id.as_str()) {
                    for d in c.new_devices.drain(..) {
                        self.warnings.push(format!(
                            "encrypting also to the new device {} of {id}",
                            d.fingerprint()
                        ));
                    }
                }
            }
            let mut rest = self.unsent()?;
            rest.remove(&key);
            let mut w = self.home.write()?;
            self.keep_outbox_item(&mut w, &out, &sessions)?;
            w.put_secret(UNSENT, &rest)?;
            w.put_secret("contacts", &contacts)?;
            w.commit()?;
            moved += 1;
        }
        Ok(moved)
    }

    fn forget_unsent(&mut self, key: &[u8; 16]) -> Result<(), ClientError> {
        let mut rest = self.unsent()?;
        rest.remove(key);
        let mut w = self.home.write()?;
        w.put_secret(UNSENT, &rest)?;
        w.commit()?;
        Ok(())
    }

    /// Whether message `id` is kept to send (unsent, or in the outbox
    /// awaiting the relay's acceptance).
    pub fn is_queued(&self, id: &MessageId) -> Result<bool, ClientError> {
        Ok(self.unsent()?.contains_key(&id.0) || self.home.contains(Table::Outbox, &id.0)?)
    }
}
