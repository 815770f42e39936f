//! The agent's local API: typed requests, replies and events.
//!
//! Every frame is JSON (see [`super::frame`]). A caller opens the socket,
//! sends [`Request::Hello`] with [`API_VERSION`] and gets
//! [`Response::Hello`] (or an error if the versions differ), then sends
//! requests and reads one [`Reply`] per request. [`Request::Subscribe`]
//! turns the connection into an event stream: one [`Reply`] carrying
//! [`Response::Subscribed`], then one carrying [`Response::Event`] per event
//! until either side closes.
//!
//! Ids, handling and consent scopes travel in their canonical text forms
//! (32 hex digits, the handling text of `liaison send --handling`, the scope
//! text of `liaison consent request --scope`), so the JSON is readable and
//! the same for the command line and the web app.

use liaison_protocol::consent::ConsentScope;
use liaison_protocol::handling::Handling;
use liaison_protocol::{ConversationId, DirectoryId, MessageId, Timestamp};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::core::compose::ComposeError;
use crate::error::ClientError;
use crate::home::HomeError;

use super::views::{
    AgentStatus, ConsentView, ContactFilter, ContactView, ConversationView, DeviceView, LinkState,
    MessageView, ReceiptRow, ReceiptView, RoleView, SyncView, WhoamiView,
};

/// Messages `conversation` gives when no limit is asked.
pub const DEFAULT_CONVERSATION_LIMIT: usize = 100;

fn default_conversation_limit() -> usize {
    DEFAULT_CONVERSATION_LIMIT
}

/// Results `search` gives when no limit is asked.
pub const DEFAULT_SEARCH_LIMIT: usize = 50;

fn default_search_limit() -> usize {
    DEFAULT_SEARCH_LIMIT
}

/// Version of this API. An agent answers [`Request::Hello`] only for its own
/// version; anything else gets [`ErrorCode::Version`].
pub const API_VERSION: u32 = 2;

/// A passphrase in transit: never printed, wiped from memory when dropped.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wrap a passphrase.
    pub fn new(p: String) -> Self {
        Passphrase(Zeroizing::new(p))
    }

    /// The passphrase text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(redacted)")
    }
}

impl Serialize for Passphrase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Passphrase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Passphrase::new(String::deserialize(d)?))
    }
}

/// Which stored messages to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mailbox {
    /// Received messages.
    Inbox,
    /// Sent messages.
    Sent,
}

/// A request to the agent. The JSON form is an object whose `op` names the
/// operation, such as `{"op": "read", "id": "…", "accept": true}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Request {
    /// The first request on every connection.
    Hello {
        /// The caller's [`API_VERSION`].
        version: u32,
        /// Who is calling, for the agent's log (such as `liaison 0.1.0`).
        client: String,
    },
    /// Unlock a locked agent with the home's passphrase.
    Unlock {
        /// The passphrase.
        passphrase: Passphrase,
    },
    /// The agent's state: locked or not, the relay link, the outbox.
    Status,
    /// Stop the agent (it closes the relay connection and its socket).
    Shutdown,
    /// Turn this connection into an event stream.
    Subscribe {
        /// Also fetch what the relay holds now (as `liaison listen` does),
        /// reporting it as events.
        #[serde(default)]
        catch_up: bool,
    },
    /// Send a message (`liaison send`).
    Send {
        /// Recipients (focal points or roles).
        to: Vec<DirectoryId>,
        /// The text.
        text: String,
        /// The handling (text form).
        #[serde(with = "handling_text")]
        handling: Handling,
        /// Continue a conversation.
        #[serde(default, with = "opt_conversation_hex")]
        conversation: Option<ConversationId>,
        /// Files to attach (absolute paths, read by whoever runs the
        /// request: the agent, or the command line on its own).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attach: Vec<std::path::PathBuf>,
    },
    /// Fetch, verify and save the attachments of a received message whose
    /// handling is acknowledged (`liaison attachment save`).
    SaveAttachments {
        /// The message.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// The directory to save into (an absolute path).
        out: std::path::PathBuf,
    },
    /// Open one attachment of a message into a new file, for showing it
    /// (the web app): the home keeps the sealed chunks from the first
    /// open, so it opens again after the relay deleted the blob; the same
    /// rules as `save-attachments`. Answered with `attachments-saved`.
    OpenAttachment {
        /// The message.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// Which attachment (from 0, as `attachments` lists them).
        index: usize,
        /// The file to create (an absolute path; it must not exist).
        out: std::path::PathBuf,
    },
    /// Retry unconfirmed sends, fetch, verify and store what is pending
    /// (`liaison sync`).
    Sync,
    /// List stored messages (`liaison inbox`, `liaison sent`).
    Messages {
        /// Received or sent.
        mailbox: Mailbox,
    },
    /// The conversation list: per conversation, who is in it, how many
    /// messages, how many unread, the newest; newest first.
    Conversations,
    /// One conversation: its newest messages (oldest first), each sent one
    /// with its receipts.
    Conversation {
        /// The conversation.
        #[serde(with = "conversation_hex")]
        conversation: ConversationId,
        /// Most messages (the newest).
        #[serde(default = "default_conversation_limit")]
        limit: usize,
    },
    /// One stored message, as `messages` lists it.
    Message {
        /// The message.
        #[serde(with = "message_hex")]
        id: MessageId,
    },
    /// Search the messages that may be read now (`liaison search`).
    Search {
        /// The text to find (case is ignored; found inside words too).
        query: String,
        /// Most results (newest first).
        #[serde(default = "default_search_limit")]
        limit: usize,
    },
    /// Show a message's handling; with `accept`, acknowledge it and show
    /// the content (`liaison read`).
    Read {
        /// The message.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// Acknowledge the handling (a signed receipt goes to the sender).
        #[serde(default)]
        accept: bool,
    },
    /// The scope check of a forward, without sending it: per recipient,
    /// allowed or the rule that refuses it (what `forward` would say).
    ForwardCheck {
        /// The message.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// Recipients.
        to: Vec<DirectoryId>,
    },
    /// Forward a received message (`liaison forward`).
    Forward {
        /// The message.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// Recipients.
        to: Vec<DirectoryId>,
        /// Tighter handling (text form); none keeps it unchanged.
        #[serde(default, with = "opt_handling_text")]
        handling: Option<Handling>,
        /// A note above the forwarded message.
        #[serde(default)]
        note: String,
    },
    /// Reply to a received message: to its sender, in its conversation
    /// (`liaison reply`).
    Reply {
        /// The message answered.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// The text.
        text: String,
        /// The handling (text form); none: the answered message's own.
        /// Never looser than the answered message's.
        #[serde(default, with = "opt_handling_text")]
        handling: Option<Handling>,
    },
    /// Delivery and acknowledgement receipts of a sent message
    /// (`liaison receipts`).
    Receipts {
        /// The message.
        #[serde(with = "message_hex")]
        id: MessageId,
    },
    /// Build a judicial evidence bundle (`liaison export`); the caller
    /// writes it where it wants.
    Export {
        /// The message.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// The case the evidence is for (required: a grant counts only for
        /// the case it names).
        case: String,
    },
    /// Consent requests and decisions, both directions.
    ConsentList,
    /// Ask the originator of a received message for consent.
    ConsentRequest {
        /// The message.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// What is asked for (scope text).
        #[serde(with = "scope_text")]
        scope: ConsentScope,
        /// Why.
        reason: String,
    },
    /// As originator, grant a consent request.
    ConsentGrant {
        /// The request id.
        #[serde(with = "request_hex")]
        request: [u8; 16],
        /// Conditions attached to the grant.
        #[serde(default)]
        conditions: String,
        /// The grant lapses at this time (UTC, RFC 3339).
        #[serde(default, with = "opt_time_text")]
        valid_until: Option<Timestamp>,
    },
    /// As originator, refuse a consent request.
    ConsentRefuse {
        /// The request id.
        #[serde(with = "request_hex")]
        request: [u8; 16],
        /// The reason given to the requester.
        #[serde(default)]
        reason: String,
    },
    /// This focal point's id, keys and fingerprints (`liaison whoami`).
    Whoami,
    /// The verified contacts, filtered (`liaison contacts`).
    Contacts {
        /// Filters; all optional.
        #[serde(default)]
        filter: ContactFilter,
    },
    /// Everything known about one contact.
    ContactShow {
        /// The contact.
        id: DirectoryId,
    },
    /// Mark a contact verified in person if the safety numbers are equal.
    ContactVerify {
        /// The contact.
        id: DirectoryId,
        /// The safety number the contact read out.
        safety_number: String,
    },
    /// Accept a contact's changed identity key without verifying it.
    ContactAccept {
        /// The contact.
        id: DirectoryId,
    },
    /// The person was told about a contact's new devices (the web app's
    /// banner): they are no longer announced. Sending to the contact never
    /// waited for this; the web app waits for it.
    ContactDevicesSeen {
        /// The contact.
        id: DirectoryId,
    },
    /// The safety number to compare with a contact.
    SafetyNumber {
        /// The contact.
        id: DirectoryId,
    },
    /// The roles in the directory and their holders.
    Roles,
    /// The devices of this focal point's directory record.
    Devices,
    /// Approve a new device of ours (its armoured request); the reply
    /// carries the armoured approval.
    DeviceApprove {
        /// The armoured device request.
        request: String,
        /// The confirmation code the new device showed.
        code: String,
    },
    /// Hand a role's conversations over to its new holder.
    Handover {
        /// The role.
        role: DirectoryId,
        /// The incoming holder.
        to: DirectoryId,
    },
    /// Open a case owned by this focal point (`liaison case new`).
    CaseNew {
        /// Title.
        title: String,
        /// Reference (a national case number).
        #[serde(default)]
        reference: Option<String>,
        /// The default handling of its messages (text form).
        #[serde(with = "handling_text")]
        handling: Handling,
        /// Members: focal point or role ids (this focal point is added).
        members: Vec<DirectoryId>,
    },
    /// Add a member to a case this focal point owns (`liaison case add`).
    CaseAdd {
        /// The case.
        #[serde(with = "conversation_hex")]
        case: ConversationId,
        /// The focal point or role.
        id: DirectoryId,
    },
    /// Remove a member from a case this focal point owns (`liaison case
    /// remove`).
    CaseRemove {
        /// The case.
        #[serde(with = "conversation_hex")]
        case: ConversationId,
        /// The focal point or role.
        id: DirectoryId,
    },
    /// The cases this home holds (`liaison case list`).
    CaseList,
    /// One case (`liaison case show`).
    CaseShow {
        /// The case.
        #[serde(with = "conversation_hex")]
        case: ConversationId,
    },
    /// Send a message to a case's members, in its conversation (`liaison
    /// send --case`).
    CaseSend {
        /// The case.
        #[serde(with = "conversation_hex")]
        case: ConversationId,
        /// The text.
        text: String,
        /// The handling (text form); none: the case's default handling.
        #[serde(default, with = "opt_handling_text")]
        handling: Option<Handling>,
        /// Files to attach (absolute paths).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attach: Vec<std::path::PathBuf>,
        /// A message of the case this answers (32 hex digits): the reply
        /// quotes it when every recipient received it.
        #[serde(
            default,
            with = "opt_message_hex",
            skip_serializing_if = "Option::is_none"
        )]
        reply_to: Option<MessageId>,
    },
    /// Send a structured request (`liaison request new`).
    RequestNew {
        /// Its type (`locate-person`, `verify-identity`, `records-check`,
        /// `statement`, `coordinate-rescue`, `victim-support`,
        /// `mla-advance-copy`, `feedback`).
        #[serde(rename = "type")]
        kind: String,
        /// The focal point or role it is addressed to.
        to: DirectoryId,
        /// `urgent`, `high` or `normal` (the default).
        #[serde(default)]
        priority: Option<String>,
        /// An explicit deadline; none: the priority's (24 hours, 72 hours,
        /// 14 days).
        #[serde(default, with = "opt_time_text")]
        due: Option<Timestamp>,
        /// Minutes the addressee has to acknowledge before it escalates;
        /// none: the priority's (60 for urgent, 240 for high, 1440 for
        /// normal).
        #[serde(default)]
        acknowledge_within_minutes: Option<u64>,
        /// The case whose conversation it goes in, if any.
        #[serde(default, with = "opt_conversation_hex")]
        case: Option<ConversationId>,
        /// The fields of its type's schema, as (name, value).
        #[serde(default)]
        fields: Vec<(String, String)>,
        /// Free text.
        #[serde(default)]
        text: String,
        /// The handling (text form); none: the case's, or RED.
        #[serde(default, with = "opt_handling_text")]
        handling: Option<Handling>,
        /// Files to attach (absolute paths).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attach: Vec<std::path::PathBuf>,
    },
    /// Take a step of a request (`liaison request ack`, `progress`,
    /// `answer`, `decline`, `withdraw`, `outcome`).
    RequestStep {
        /// The request id.
        #[serde(with = "request_hex")]
        request: [u8; 16],
        /// `acknowledge`, `progress`, `answer`, `partial-answer`,
        /// `decline`, `withdraw` or `outcome`.
        step: String,
        /// Free text (the answer, the outcome, what progress).
        #[serde(default)]
        text: String,
        /// Why (required to decline or withdraw).
        #[serde(default)]
        reason: Option<String>,
        /// Files to attach (absolute paths).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attach: Vec<std::path::PathBuf>,
    },
    /// The requests this home holds, sent and received
    /// (`liaison request list`).
    RequestList,
    /// One request and its steps (`liaison request show`).
    RequestShow {
        /// The request id.
        #[serde(with = "request_hex")]
        request: [u8; 16],
    },
}

impl Request {
    /// The operation's name (the JSON `op`), for logs and errors.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Unlock { .. } => "unlock",
            Request::Status => "status",
            Request::Shutdown => "shutdown",
            Request::Subscribe { .. } => "subscribe",
            Request::Send { .. } => "send",
            Request::SaveAttachments { .. } => "save-attachments",
            Request::OpenAttachment { .. } => "open-attachment",
            Request::Sync => "sync",
            Request::Messages { .. } => "messages",
            Request::Conversations => "conversations",
            Request::Conversation { .. } => "conversation",
            Request::Message { .. } => "message",
            Request::Search { .. } => "search",
            Request::Read { .. } => "read",
            Request::Forward { .. } => "forward",
            Request::ForwardCheck { .. } => "forward-check",
            Request::Reply { .. } => "reply",
            Request::Receipts { .. } => "receipts",
            Request::Export { .. } => "export",
            Request::ConsentList => "consent-list",
            Request::ConsentRequest { .. } => "consent-request",
            Request::ConsentGrant { .. } => "consent-grant",
            Request::ConsentRefuse { .. } => "consent-refuse",
            Request::Whoami => "whoami",
            Request::Contacts { .. } => "contacts",
            Request::ContactShow { .. } => "contact-show",
            Request::ContactVerify { .. } => "contact-verify",
            Request::ContactAccept { .. } => "contact-accept",
            Request::ContactDevicesSeen { .. } => "contact-devices-seen",
            Request::SafetyNumber { .. } => "safety-number",
            Request::Roles => "roles",
            Request::Devices => "devices",
            Request::DeviceApprove { .. } => "device-approve",
            Request::Handover { .. } => "handover",
            Request::CaseNew { .. } => "case-new",
            Request::CaseAdd { .. } => "case-add",
            Request::CaseRemove { .. } => "case-remove",
            Request::CaseList => "case-list",
            Request::CaseShow { .. } => "case-show",
            Request::CaseSend { .. } => "case-send",
            Request::RequestNew { .. } => "request-new",
            Request::RequestStep { .. } => "request-step",
            Request::RequestList => "request-list",
            Request::RequestShow { .. } => "request-show",
        }
    }
}

/// One frame from the agent: the answer to a request (or an event), and
/// the warnings gathered while producing it (key changes, new devices,
/// receipts not sent yet) for the caller to show.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reply {
    /// Warnings to show to the user.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The answer.
    pub response: Response,
}

impl Reply {
    /// A reply without warnings.
    pub fn new(response: Response) -> Self {
        Reply {
            warnings: Vec::new(),
            response,
        }
    }

    /// An error reply.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Reply::new(Response::Error(ApiError {
            code,
            message: message.into(),
        }))
    }
}

/// An answer. The JSON form is an object whose `type` names it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Response {
    /// Answer to [`Request::Hello`].
    Hello {
        /// The agent's [`API_VERSION`].
        version: u32,
        /// The agent's program and version.
        agent: String,
        /// Whether the agent waits for [`Request::Unlock`].
        locked: bool,
        /// The focal point's id (unknown while locked).
        id: Option<DirectoryId>,
    },
    /// The agent is unlocked.
    Unlocked {
        /// The focal point's id.
        id: DirectoryId,
    },
    /// Answer to [`Request::Status`].
    Status {
        /// The state.
        status: AgentStatus,
    },
    /// The agent is stopping.
    ShuttingDown,
    /// The connection is now an event stream.
    Subscribed {
        /// The relay link as the stream starts.
        link: LinkState,
        /// Why the link is not up, if a connection attempt failed.
        #[serde(default)]
        problem: Option<String>,
    },
    /// One event on a subscribed connection.
    Event {
        /// The event.
        event: Event,
    },
    /// The relay durably accepted the message.
    Sent {
        /// The new message's id.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// Its recipients, as given.
        to: Vec<DirectoryId>,
        /// Its conversation (absent from an agent of an earlier release).
        #[serde(default, with = "opt_conversation_hex")]
        conversation: Option<ConversationId>,
    },
    /// The relay could not be reached: the message is signed and kept,
    /// and goes out at the next sync (the agent syncs as soon as its link
    /// is up again).
    Queued {
        /// The new message's id.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// Its recipients, as given.
        to: Vec<DirectoryId>,
        /// Why it could not go out now.
        reason: String,
        /// Its conversation.
        #[serde(default, with = "opt_conversation_hex")]
        conversation: Option<ConversationId>,
    },
    /// What a sync did.
    Synced {
        /// The report.
        report: SyncView,
    },
    /// Stored messages, oldest first.
    Messages {
        /// The messages.
        messages: Vec<MessageView>,
    },
    /// The conversation list, newest first.
    Conversations {
        /// The conversations.
        conversations: Vec<ConversationView>,
    },
    /// One conversation's newest messages.
    Conversation {
        /// What the list shows of it.
        conversation: ConversationView,
        /// Its newest messages, oldest first; a sent one carries its
        /// receipts.
        messages: Vec<MessageView>,
        /// How many older messages it holds besides.
        earlier: usize,
    },
    /// Search results, newest first.
    SearchResults {
        /// The messages that matched (at most the limit asked).
        hits: Vec<crate::agent::views::SearchHitView>,
        /// How many matched in all.
        total: usize,
        /// How many messages were searched (those that may be read now).
        searched: usize,
    },
    /// A message and its handling in plain words; the text is withheld
    /// until the handling is acknowledged.
    Read {
        /// The message.
        message: Box<MessageView>,
        /// The handling, one sentence per line.
        handling_explained: Vec<String>,
    },
    /// The forward was accepted by the relay.
    Forwarded {
        /// The forward's message id.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// The message forwarded.
        #[serde(with = "message_hex")]
        forwarded: MessageId,
    },
    /// The scope check of a forward.
    ForwardChecked {
        /// One verdict per recipient.
        checks: Vec<super::views::ForwardCheckView>,
    },
    /// Receipts per recipient.
    Receipts {
        /// One row per recipient.
        receipts: Vec<ReceiptRow>,
    },
    /// An evidence bundle.
    Exported {
        /// The message.
        #[serde(with = "message_hex")]
        message: MessageId,
        /// The bundle (armoured text).
        bundle: String,
    },
    /// The attachments were verified and saved.
    AttachmentsSaved {
        /// The message.
        #[serde(with = "message_hex")]
        message: MessageId,
        /// The files written.
        files: Vec<std::path::PathBuf>,
    },
    /// Consent exchanges.
    Consents {
        /// Requests and decisions, both directions.
        consents: Vec<ConsentView>,
    },
    /// The consent request was sent.
    ConsentRequested {
        /// Its id.
        #[serde(with = "request_hex")]
        request: [u8; 16],
    },
    /// The consent decision was sent.
    ConsentDecided {
        /// The request decided.
        #[serde(with = "request_hex")]
        request: [u8; 16],
        /// Granted or refused.
        granted: bool,
    },
    /// Who this focal point is.
    Whoami {
        /// Ids, keys and fingerprints.
        whoami: WhoamiView,
    },
    /// Contacts matching a filter.
    Contacts {
        /// The contacts.
        contacts: Vec<ContactView>,
        /// Directory entries the relay served that did not verify.
        directory_problems: Vec<String>,
    },
    /// One contact.
    Contact {
        /// The contact.
        contact: Box<ContactView>,
    },
    /// The contact is now verified in person.
    ContactVerified {
        /// The contact.
        id: DirectoryId,
    },
    /// The contact's new identity key is accepted (not verified).
    ContactKeyAccepted {
        /// The contact.
        id: DirectoryId,
    },
    /// The contact's new devices were noted.
    ContactDevicesSeen {
        /// The contact.
        id: DirectoryId,
        /// How many devices were announced.
        devices: usize,
    },
    /// A safety number.
    SafetyNumber {
        /// The contact.
        contact: DirectoryId,
        /// The number to compare.
        safety_number: String,
    },
    /// The roles of the directory.
    Roles {
        /// The roles.
        roles: Vec<RoleView>,
    },
    /// The devices of our record.
    Devices {
        /// The devices.
        devices: Vec<DeviceView>,
    },
    /// A device approval.
    DeviceApproved {
        /// The armoured approval.
        approval: String,
    },
    /// A handover package was sent.
    HandedOver {
        /// The package's message id.
        #[serde(with = "message_hex")]
        id: MessageId,
        /// The role.
        role: DirectoryId,
        /// The incoming holder.
        to: DirectoryId,
        /// How many messages it carries.
        messages: usize,
    },
    /// A case was opened and its opening sent to its members.
    CaseOpened {
        /// The case id.
        #[serde(with = "conversation_hex")]
        case: ConversationId,
    },
    /// A member was added to or removed from a case, and the change sent.
    CaseChanged {
        /// The case.
        #[serde(with = "conversation_hex")]
        case: ConversationId,
        /// The message that carried the change.
        #[serde(with = "message_hex")]
        id: MessageId,
    },
    /// The cases held.
    Cases {
        /// The cases.
        cases: Vec<super::views::CaseView>,
    },
    /// One case.
    Case {
        /// The case.
        case: Box<super::views::CaseView>,
    },
    /// A request was sent.
    RequestSent {
        /// The request id.
        #[serde(with = "request_hex")]
        request: [u8; 16],
        /// The message that carried it.
        #[serde(with = "message_hex")]
        message: MessageId,
        /// The focal point it went to (the first holder on call, for a
        /// role).
        to: DirectoryId,
    },
    /// A step of a request was sent.
    RequestStepSent {
        /// The request id.
        #[serde(with = "request_hex")]
        request: [u8; 16],
        /// The message that carried it.
        #[serde(with = "message_hex")]
        message: MessageId,
        /// The step.
        step: String,
    },
    /// The requests held: overdue first, then late, then open ones by
    /// deadline, then the others newest first.
    Requests {
        /// The requests.
        requests: Vec<super::views::RequestView>,
    },
    /// One request.
    RequestShown {
        /// The request.
        request: Box<super::views::RequestView>,
    },
    /// The request failed.
    Error(ApiError),
}

impl Response {
    /// The answer's name (the JSON `type`), for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Response::Hello { .. } => "hello",
            Response::Unlocked { .. } => "unlocked",
            Response::Status { .. } => "status",
            Response::ShuttingDown => "shutting-down",
            Response::Subscribed { .. } => "subscribed",
            Response::Event { .. } => "event",
            Response::Sent { .. } => "sent",
            Response::Queued { .. } => "queued",
            Response::Synced { .. } => "synced",
            Response::Messages { .. } => "messages",
            Response::Conversations { .. } => "conversations",
            Response::Conversation { .. } => "conversation",
            Response::SearchResults { .. } => "search-results",
            Response::Read { .. } => "read",
            Response::Forwarded { .. } => "forwarded",
            Response::ForwardChecked { .. } => "forward-checked",
            Response::Receipts { .. } => "receipts",
            Response::Exported { .. } => "exported",
            Response::AttachmentsSaved { .. } => "attachments-saved",
            Response::Consents { .. } => "consents",
            Response::ConsentRequested { .. } => "consent-requested",
            Response::ConsentDecided { .. } => "consent-decided",
            Response::Whoami { .. } => "whoami",
            Response::Contacts { .. } => "contacts",
            Response::Contact { .. } => "contact",
            Response::ContactVerified { .. } => "contact-verified",
            Response::ContactKeyAccepted { .. } => "contact-key-accepted",
            Response::ContactDevicesSeen { .. } => "contact-devices-seen",
            Response::SafetyNumber { .. } => "safety-number",
            Response::Roles { .. } => "roles",
            Response::Devices { .. } => "devices",
            Response::DeviceApproved { .. } => "device-approved",
            Response::HandedOver { .. } => "handed-over",
            Response::CaseOpened { .. } => "case-opened",
            Response::CaseChanged { .. } => "case-changed",
            Response::Cases { .. } => "cases",
            Response::Case { .. } => "case",
            Response::RequestSent { .. } => "request-sent",
            Response::RequestStepSent { .. } => "request-step-sent",
            Response::Requests { .. } => "requests",
            Response::RequestShown { .. } => "request",
            Response::Error(_) => "error",
        }
    }
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What happened and what to do next, for a person.
    pub message: String,
}

/// Kinds of [`ApiError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not a request: not JSON, an unknown `op`, a missing or
    /// malformed field.
    BadRequest,
    /// The frame is larger than the agent accepts; the connection closes.
    FrameTooLarge,
    /// A request came before [`Request::Hello`].
    HelloFirst,
    /// The caller speaks another [`API_VERSION`].
    Version,
    /// The peer is not the user who owns the home; the connection closes.
    NotPermitted,
    /// The agent waits for [`Request::Unlock`].
    Locked,
    /// The passphrase does not unlock the home.
    WrongPassphrase,
    /// [`Request::Unlock`] on an agent that is already unlocked.
    AlreadyUnlocked,
    /// The agent cannot reach the relay now; it keeps retrying by itself.
    RelayUnreachable,
    /// The agent is busy with too many connections.
    Busy,
    /// The relay refused the request; the message gives its reason.
    RelayRefused,
    /// The relay showed a history inconsistent with the one held (evidence
    /// in `HOME/evidence/`); the agent stops reconnecting by itself.
    LogInconsistency,
    /// A recipient or contact cannot be used (unknown, not active, its key
    /// changed, not verified).
    Recipient,
    /// The message's handling does not allow it (not acknowledged yet, a
    /// forward that loosens it or leaves its scope, judicial use).
    HandlingRefused,
    /// No such message or consent request in the home.
    NotFound,
    /// The operation itself failed; the message says why. A code this
    /// release does not know (from a newer agent) reads as this one.
    #[serde(other)]
    Failed,
}

impl From<&ClientError> for ErrorCode {
    fn from(e: &ClientError) -> Self {
        if e.is_log_inconsistency() {
            return ErrorCode::LogInconsistency;
        }
        if e.is_unreachable() {
            return ErrorCode::RelayUnreachable;
        }
        if e.refusal().is_some() {
            return ErrorCode::RelayRefused;
        }
        match e {
            ClientError::Recipient(_)
            | ClientError::Handover(_)
            | ClientError::Compose(ComposeError::NoDevice) => ErrorCode::Recipient,
            ClientError::Handling(_) => ErrorCode::HandlingRefused,
            ClientError::NotFound(_) => ErrorCode::NotFound,
            ClientError::Home(HomeError::WrongPassphrase(_)) => ErrorCode::WrongPassphrase,
            _ => ErrorCode::Failed,
        }
    }
}

impl From<ClientError> for ApiError {
    /// The error's code, and its whole cause chain as the message.
    fn from(e: ClientError) -> Self {
        ApiError {
            code: ErrorCode::from(&e),
            message: liaison_net::tool::chain(&e),
        }
    }
}

/// Something that happened, for subscribers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// A new message was verified and stored (including receipt carriers
    /// and consent messages; see the message's `kind`).
    Message {
        /// The message.
        message: Box<MessageView>,
    },
    /// An envelope was rejected (altered, forged or undecryptable); a
    /// record is kept.
    Rejected {
        /// The message id from the envelope.
        id: String,
        /// Why.
        reason: String,
    },
    /// Receipts for messages we sent arrived.
    Receipts {
        /// How many receipt messages were processed.
        count: usize,
        /// The receipts known in detail (those pushed live; after a
        /// catch-up only the count is known: see `liaison receipts ID`).
        receipts: Vec<ReceiptView>,
    },
    /// Something the user should know.
    Warning {
        /// What kind of warning.
        category: WarningCategory,
        /// The warning, for a person.
        text: String,
        /// The contact concerned, if any.
        #[serde(default)]
        contact: Option<String>,
    },
    /// The relay link went up or down.
    Link {
        /// The new state.
        state: LinkState,
        /// Why it went down, or where it is connected.
        detail: String,
    },
    /// The agent was unlocked.
    Unlocked {
        /// The focal point's id.
        id: DirectoryId,
    },
    /// This subscriber fell behind and missed events: list the inbox again.
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
}

/// Kinds of [`Event::Warning`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WarningCategory {
    /// The relay showed an inconsistent history (fork or rollback);
    /// evidence is saved in `HOME/evidence/`. The agent stops reconnecting
    /// by itself until asked.
    LogInconsistency,
    /// The relay's event log omits or contradicts an event of one of our
    /// messages; evidence is saved in `HOME/evidence/`.
    LogOmission,
    /// A contact's identity key changed: compare safety numbers.
    KeyChanged,
    /// Something was not delivered yet (receipts, an outbox retry).
    Delivery,
    /// Other warnings from the client (new devices, our own record).
    General,
}

macro_rules! hex16_serde {
    ($name:ident, $t:ty, $to:expr, $from:expr, $what:literal) => {
        pub(crate) mod $name {
            use super::*;
            pub fn serialize<S: serde::Serializer>(v: &$t, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&($to)(v))
            }
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let s = String::deserialize(d)?;
                ($from)(&s).ok_or_else(|| serde::de::Error::custom($what))
            }
        }
    };
}

hex16_serde!(
    message_hex,
    MessageId,
    MessageId::to_hex,
    MessageId::from_hex,
    "a message id is 32 hex digits"
);
hex16_serde!(
    request_hex,
    [u8; 16],
    hex::encode,
    |s: &str| {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s.trim(), &mut out).ok().map(|()| out)
    },
    "a request id is 32 hex digits"
);

mod opt_message_hex {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &Option<MessageId>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(m) => s.serialize_some(&m.to_hex()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<MessageId>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => MessageId::from_hex(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("a message id is 32 hex digits")),
        }
    }
}

mod opt_conversation_hex {
    use super::*;
    pub fn serialize<S: serde::Serializer>(
        v: &Option<ConversationId>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(c) => s.serialize_some(&c.to_hex()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<ConversationId>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => ConversationId::from_hex(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("a conversation id is 32 hex digits")),
        }
    }
}

mod conversation_hex {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &ConversationId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_hex())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ConversationId, D::Error> {
        let s = String::deserialize(d)?;
        ConversationId::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("a case id is 32 hex digits"))
    }
}

mod handling_text {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &Handling, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_text())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Handling, D::Error> {
        let s = String::deserialize(d)?;
        Handling::parse_text(&s).map_err(|e| serde::de::Error::custom(format!("handling: {e}")))
    }
}

mod opt_handling_text {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &Option<Handling>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(h) => s.serialize_some(&h.to_text()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Handling>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => Handling::parse_text(&s)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("handling: {e}"))),
        }
    }
}

mod scope_text {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &ConsentScope, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_text())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ConsentScope, D::Error> {
        let s = String::deserialize(d)?;
        ConsentScope::parse_text(&s).map_err(|e| serde::de::Error::custom(format!("scope: {e}")))
    }
}

mod opt_time_text {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.serialize_some(&t.to_rfc3339()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => Timestamp::parse_rfc3339(&s).map(Some).ok_or_else(|| {
                serde::de::Error::custom("expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn client_errors_map_to_codes_a_caller_acts_on() {
        let fork = ClientError::Fork(crate::logs::ForkEvidence {
            log: "events",
            what: "a rollback".into(),
            ours: "a".into(),
            theirs: "b".into(),
            evidence: Err("no disk".into()),
        });
        let api = ApiError::from(fork);
        assert_eq!(api.code, ErrorCode::LogInconsistency);
        assert!(api.message.contains("RELAY LOG INCONSISTENCY"), "{api}");
        // Nested under the retention step's context, still a fork.
        let nested =
            ClientError::DeletionRecords(Box::new(ClientError::Fork(crate::logs::ForkEvidence {
                log: "events",
                what: "a fork".into(),
                ours: String::new(),
                theirs: String::new(),
                evidence: Err(String::new()),
            })));
        let api = ApiError::from(nested);
        assert_eq!(api.code, ErrorCode::LogInconsistency);
        assert!(
            api.message
                .starts_with("content destroyed, but the deletion records could not be sent yet: RELAY LOG INCONSISTENCY"),
            "{api}"
        );
        let to = DirectoryId::parse("th.dsi.alice").unwrap();
        let cases = [
            (
                ClientError::from(crate::error::RecipientError::KeyChanged(to.clone())),
                ErrorCode::Recipient,
            ),
            (
                crate::error::HandlingError::NotAcknowledged(MessageId([1; 16])).into(),
                ErrorCode::HandlingRefused,
            ),
            (
                crate::error::NotFound::Message(MessageId([1; 16])).into(),
                ErrorCode::NotFound,
            ),
            (
                ClientError::RelayRefused {
                    what: crate::error::Refused::Message(MessageId([1; 16])),
                    error: liaison_protocol::frames::WireError {
                        code: liaison_protocol::frames::ErrorCode::RateLimited,
                        message: "slow down".into(),
                    },
                },
                ErrorCode::RelayRefused,
            ),
            (ClientError::NotConnected, ErrorCode::RelayUnreachable),
            (ClientError::OwnConsentRequest, ErrorCode::Failed),
        ];
        for (e, code) in cases {
            assert_eq!(ErrorCode::from(&e), code, "{e}");
        }
    }

    #[test]
    fn an_unknown_error_code_reads_as_failed() {
        let e: ApiError =
            serde_json::from_str(r#"{"code": "some-future-code", "message": "m"}"#).unwrap();
        assert_eq!(e.code, ErrorCode::Failed);
        let e: ApiError = serde_json::from_str(r#"{"code": "not-found", "message": "m"}"#).unwrap();
        assert_eq!(e.code, ErrorCode::NotFound);
    }

    #[test]
    fn requests_round_trip_in_their_text_forms() {
        let id = MessageId([0xab; 16]);
        let reqs = vec![
            Request::Hello {
                version: API_VERSION,
                client: "test".into(),
            },
            Request::Send {
                to: vec![DirectoryId::parse("ph.pnp.bob").unwrap()],
                text: "hello".into(),
                handling: Handling::parse_text("AMBER+STRICT").unwrap(),
                conversation: Some(ConversationId([1; 16])),
                attach: vec!["/tmp/scan.pdf".into()],
            },
            Request::SaveAttachments {
                id,
                out: "/tmp/out".into(),
            },
            Request::Read { id, accept: true },
            Request::ConsentGrant {
                request: [2; 16],
                conditions: String::new(),
                valid_until: Timestamp::parse_rfc3339("2030-01-02"),
            },
            Request::ConsentRequest {
                id,
                scope: ConsentScope::parse_text("judicial:CASE-1").unwrap(),
                reason: "court".into(),
            },
        ];
        for r in reqs {
            let json = serde_json::to_string(&r).unwrap();
            let back: Request = serde_json::from_str(&json).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
        }
        let v: serde_json::Value =
            serde_json::to_value(Request::Read { id, accept: true }).unwrap();
        assert_eq!(v["op"], "read");
        assert_eq!(v["id"], "abababababababababababababababab");
    }

    /// The case operations in the JSON forms docs/AGENT.md documents.
    #[test]
    fn case_requests_read_their_documented_forms() {
        let case = "09".repeat(16);
        let new: Request = serde_json::from_str(
            r#"{"op":"case-new","title":"Pier 7 boat","reference":"TH-2026-114","handling":"AMBER","members":["ph.pnp.bob","th.dsi.tip-duty"]}"#,
        )
        .unwrap();
        assert!(
            matches!(&new, Request::CaseNew { members, handling, .. } if members.len() == 2 && handling.dissemination.label() == "AMBER"),
            "{new:?}"
        );
        let send: Request = serde_json::from_str(&format!(
            r#"{{"op":"case-send","case":"{case}","text":"seen at the pier"}}"#
        ))
        .unwrap();
        assert!(
            matches!(&send, Request::CaseSend { case: c, handling: None, attach, .. } if c.0 == [9; 16] && attach.is_empty()),
            "{send:?}"
        );
        for r in [
            new,
            send,
            Request::CaseAdd {
                case: ConversationId([9; 16]),
                id: DirectoryId::parse("vn.mps.van").unwrap(),
            },
            Request::CaseShow {
                case: ConversationId([9; 16]),
            },
        ] {
            let json = serde_json::to_string(&r).unwrap();
            let back: Request = serde_json::from_str(&json).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
            assert!(json.contains(&format!(r#""op":"{}""#, r.op())), "{json}");
        }
        assert!(serde_json::from_str::<Request>(r#"{"op":"case-show","case":"not hex"}"#).is_err());
    }

    #[test]
    fn malformed_requests_are_errors_not_panics() {
        for bad in [
            "",
            "{}",
            "[]",
            "null",
            r#"{"op":"launch"}"#,
            r#"{"op":"read","id":"xyz"}"#,
            r#"{"op":"send","to":["NOT AN ID"],"text":"x","handling":"RED"}"#,
            r#"{"op":"send","to":[],"text":"x","handling":"PURPLE"}"#,
            r#"{"op":"unlock","passphrase":7}"#,
            r#"{"op":"read","id":"abababababababababababababababab","extra":1}"#,
        ] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passphrase_is_redacted_in_debug() {
        let r = Request::Unlock {
            passphrase: Passphrase::new("correct horse battery".into()),
        };
        assert!(!format!("{r:?}").contains("horse"));
    }
}
