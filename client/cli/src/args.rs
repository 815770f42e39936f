//! The command line of `liaison`: what a person types, parsed and
//! validated by clap before any work is done.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use liaison_client::agent::views;
use liaison_protocol::DirectoryId;
use liaison_protocol::shell::{held_path, written};

/// Liaison: end-to-end encrypted, signed messaging for cross-border police
/// cooperation.
#[derive(Parser, Debug)]
#[command(name = "liaison", version)]
pub(crate) struct Cli {
    /// Home directory holding this focal point's keys and messages
    /// (encrypted at rest).
    #[arg(
        long,
        env = "LIAISON_HOME",
        hide_env_values = true,
        global = true,
        value_parser = held_path
    )]
    pub(crate) home: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Create keys and an enrolment request (HOME/enrolment.request) for your
    /// authority to sign.
    Init {
        /// Enrolment bundle from your network (bundle.toml).
        #[arg(long)]
        bundle: PathBuf,
        /// Your directory id, such as th.dsi.somchai.
        #[arg(value_parser = parse_id, long)]
        id: DirectoryId,
        /// Your full name.
        #[arg(long)]
        name: String,
        /// Your country (ISO 3166 two-letter code).
        #[arg(long)]
        country: String,
        /// Your agency, such as DSI or PNP.
        #[arg(long)]
        agency: String,
        /// Your unit.
        #[arg(long, default_value = "")]
        unit: String,
        /// Languages you work in (repeatable), such as th, en.
        #[arg(long = "language")]
        languages: Vec<String>,
        /// Your IANA time zone, such as Asia/Bangkok.
        #[arg(long, default_value = "")]
        time_zone: String,
    },
    /// Send an end-to-end encrypted, signed message. Prints the message id
    /// once the relay has durably accepted it.
    Send {
        /// Recipient directory id (repeatable).
        #[arg(value_parser = parse_id, long = "to", required_unless_present = "case")]
        to: Vec<DirectoryId>,
        /// The handling code, in quotes: a TLP 2.0 label (RED, AMBER+STRICT,
        /// AMBER, GREEN, CLEAR), then any of: judicial=prohibited|with-consent|permitted,
        /// onward=with-consent|per-tlp, purpose=P[,P...] (victim-identification, rescue, victim-support, missing-persons, investigation, prosecution, financial-investigation, intelligence-analysis, border-control, prevention),
        /// retain=YYYY-MM-DD (a future date: the recipients' copies are
        /// destroyed then), conditions="free text", protect-victims=yes|no
        /// (no only with GREEN or CLEAR). What is left out takes its most
        /// restrictive value; the default is "RED" (named recipients only,
        /// judicial use prohibited, onward transmission only with your
        /// consent). Example: --handling "AMBER purpose=investigation retain=2027-06-30"
        #[arg(long)]
        handling: Option<String>,
        /// Continue a conversation (its id in hex).
        #[arg(long)]
        conversation: Option<String>,
        /// Send to the members of a case (its id, from `liaison case
        /// list`), in its conversation, under its default handling unless
        /// --handling is given. Roles are sent to their current holders.
        #[arg(long, conflicts_with_all = ["to", "conversation"])]
        case: Option<String>,
        /// Attach a file (repeatable). Each is encrypted on this device and
        /// uploaded first; its name, size, type and SHA-256 are signed with
        /// the message. The relay's limit (100 MB unless its operator set
        /// another) is checked before anything is uploaded.
        #[arg(long = "attach", value_name = "FILE")]
        attach: Vec<PathBuf>,
        /// With --case: answer this message of the case (its id). The reply
        /// quotes its beginning when every member received it (a member
        /// added since gets the reference, not the words).
        #[arg(long = "reply-to", value_name = "MSG", requires = "case")]
        reply_to: Option<String>,
        /// The message text; `-` reads it from standard input.
        text: String,
    },
    /// Case conversations: open a case, add and remove its members, list
    /// and show cases.
    ///
    /// A case has a title, an optional reference, a default handling, an
    /// owner and members (focal points or roles, from any country). Only
    /// the owner adds and removes members; a member added later receives
    /// what is sent from then on, a removed member nothing further. Write
    /// to a case with `liaison send --case CASE`.
    Case {
        #[command(subcommand)]
        action: CaseCommand,
    },
    /// Structured requests: send one, list them, and take its steps
    /// (acknowledge, progress, answer, decline, withdraw, outcome).
    ///
    /// A request has a type with its fields (`liaison request types`
    /// lists them), a priority (urgent: an answer within 24 hours; high:
    /// 72 hours; normal: 14 days; or --due), and goes to a focal point or
    /// a role (its first holder on call). Every step is a signed message.
    /// When nobody acknowledges it in time (urgent: one hour), your next
    /// sync alerts you and sends it on to the next holder of the role, then
    /// to the agency's duty role.
    Request {
        #[command(subcommand)]
        action: RequestCommand,
    },
    /// Attachments of a received message.
    Attachment {
        #[command(subcommand)]
        action: AttachmentCommand,
    },
    /// Reply to a received message: to its sender, in the same
    /// conversation. Prints the new message's id (the conversation on
    /// standard error).
    Reply {
        /// The id of the message you answer (from `liaison inbox`).
        id: String,
        /// The reply text; `-` or nothing reads it from standard input.
        text: Option<String>,
        /// The handling (see `liaison send --help`); default: the handling
        /// of the message you answer. It may tighten that handling, never
        /// loosen it (a reply often quotes what it answers).
        #[arg(long)]
        handling: Option<String>,
    },
    /// Retry unconfirmed sends, then fetch, verify, store and acknowledge
    /// pending messages.
    Sync,
    /// List received messages, grouped by conversation (the conversation
    /// id continues one: `liaison reply ID` or `send --conversation`).
    Inbox {
        /// Only messages not read yet: their handling is not acknowledged
        /// yet, or they are consent requests waiting for your decision.
        #[arg(long)]
        unread: bool,
    },
    /// List sent messages and whether the relay accepted them.
    Sent,
    /// Search your messages for a text, newest first.
    ///
    /// Case is ignored and words are found inside longer text too, so it
    /// works for Thai, Khmer, Lao and Burmese. Only what you may read now
    /// is searched: a received message once its handling is acknowledged,
    /// until retention destroys it. Nothing is written to disk to search.
    Search {
        /// The text to find, or a sender's or recipient's id.
        #[arg(value_parser = written)]
        text: String,
        /// Most results to show.
        #[arg(long, default_value_t = liaison_client::agent::api::DEFAULT_SEARCH_LIMIT)]
        limit: usize,
    },
    /// Stay connected and print messages as they arrive.
    Listen {
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<usize>,
        /// Stop after this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Show this focal point's id, keys and fingerprints.
    Whoami,
    /// List and search the verified contacts; verify them in person.
    Contacts {
        #[command(subcommand)]
        action: Option<ContactsCommand>,
        #[command(flatten)]
        filter: ContactFilter,
    },
    /// List the roles in the directory and their current holders.
    Roles,
    /// Show a received message's handling in plain words; with --accept,
    /// acknowledge it (a signed receipt goes to the sender) and show the
    /// content.
    Read {
        /// Message id.
        id: String,
        /// Acknowledge the handling and show the content.
        #[arg(long)]
        accept: bool,
    },
    /// Forward a received message with its handling (tightened only),
    /// checked against the dissemination scope.
    Forward {
        /// Message id.
        id: String,
        /// Recipient (repeatable).
        #[arg(value_parser = parse_id, long = "to", required = true)]
        to: Vec<DirectoryId>,
        /// Tighter handling for the forward (text form); default: unchanged.
        #[arg(long)]
        handling: Option<String>,
        /// A note above the forwarded message.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Ask for, grant or refuse consent to lift a restriction.
    Consent {
        #[command(subcommand)]
        action: ConsentCommand,
    },
    /// Judicial export for one case: an evidence bundle (signed payload,
    /// the sender's record and its log proof, receipts, consents, event-log
    /// proofs), only if judicial use is permitted or the originator
    /// consented for that case.
    Export {
        /// Message id.
        id: String,
        /// Where to write the bundle (armoured text).
        #[arg(long)]
        out: PathBuf,
        /// The case the evidence is for, as the originator's consent names
        /// it (`liaison consent request ID --scope judicial:CASE`); written
        /// into the bundle.
        #[arg(long, value_parser = written)]
        case: String,
    },
    /// Delivery and acknowledgement receipts for a message you sent.
    Receipts {
        /// Message id.
        id: String,
    },
    /// Add a device to your identity (a second machine): request on the new
    /// device, approve on this one, have your authority countersign, link.
    Device {
        #[command(subcommand)]
        action: DeviceCommand,
    },
    /// Hand the messages addressed to a role you held over to a current
    /// holder of the role, in one signed, encrypted package.
    Handover {
        /// The role, such as th.dsi.tip-duty.
        #[arg(value_parser = parse_id, long)]
        role: DirectoryId,
        /// A current holder of the role (the incoming one).
        #[arg(value_parser = parse_id, long)]
        to: DirectoryId,
    },
    /// Show the safety number to compare in person with a contact.
    SafetyNumber {
        /// The contact's id.
        #[arg(value_parser = parse_id)]
        id: DirectoryId,
    },
    /// Keep this home connected in the background and serve the other
    /// `liaison` commands for it.
    ///
    /// Runs in the foreground: it keeps the relay connection (live push,
    /// reconnection), the outbox and the timers, and serves HOME/agent.sock,
    /// through which every other `liaison` command for this home then goes.
    /// Without LIAISON_PASSPHRASE it starts locked and the next command asks
    /// for the passphrase.
    Agent {
        #[command(subcommand)]
        action: Option<AgentCommand>,
        /// Seconds between the agent's periodic syncs (outbox, pending
        /// messages, retention, receipts, log checks).
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(5..))]
        sync_interval: u64,
    },
    /// Open the web app: start an agent for this home and serve the app
    /// on 127.0.0.1.
    ///
    /// Prints the address to open (with its one-time token) as the first
    /// line, opens it in the browser unless --no-browser, and serves in the
    /// foreground until stopped (Ctrl-C), which also stops the agent.
    /// Without LIAISON_PASSPHRASE the app asks for the passphrase. Run
    /// again while the app runs, it prints a new one-time link to it.
    Ui {
        /// Where to listen: 127.0.0.1 and a port (0: any free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Do not open a browser; only print the address.
        #[arg(long)]
        no_browser: bool,
        /// Minutes without use after which the app locks itself and asks
        /// for the passphrase again (the agent keeps receiving).
        #[arg(long, default_value_t = 15)]
        lock_after: u64,
        /// Seconds between the agent's periodic syncs.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(5..))]
        sync_interval: u64,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AgentCommand {
    /// Show whether an agent runs for this home, and its relay link.
    Status,
    /// Ask the agent of this home to stop.
    Stop,
}

#[derive(Subcommand, Debug)]
pub(crate) enum RequestCommand {
    /// Send a request. Prints its id.
    New {
        /// Its type: locate-person, verify-identity, records-check,
        /// statement, coordinate-rescue, victim-support, mla-advance-copy
        /// or feedback (`liaison request types` lists their fields).
        #[arg(long = "type")]
        kind: String,
        /// The focal point or role it goes to.
        #[arg(long, value_parser = parse_id)]
        to: DirectoryId,
        /// urgent (answer within 24 hours), high (72 hours) or normal
        /// (14 days, the default).
        #[arg(long)]
        priority: Option<String>,
        /// An explicit deadline for the answer (YYYY-MM-DD, or
        /// YYYY-MM-DDTHH:MM:SSZ) instead of the priority's.
        #[arg(long)]
        due: Option<String>,
        /// Minutes the addressee has to acknowledge before your client
        /// escalates it (default: 60 for urgent, 240 for high, 1440 for
        /// normal).
        #[arg(long = "ack-within", value_name = "MINUTES")]
        ack_within: Option<u64>,
        /// Send it in a case's conversation (the case id).
        #[arg(long)]
        case: Option<String>,
        /// A field of the type, NAME=VALUE (repeatable), for example
        /// --field name="Maria Santos" --field last-known-location="Pier 7".
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
        /// The handling (see `liaison send --help`); default: the case's,
        /// or "RED".
        #[arg(long)]
        handling: Option<String>,
        /// Attach a file (repeatable).
        #[arg(long = "attach", value_name = "FILE")]
        attach: Vec<PathBuf>,
        /// Free text: anything the fields do not say.
        #[arg(default_value = "")]
        text: String,
    },
    /// List the requests you sent and received: overdue first.
    List,
    /// Show a request: its fields and every step.
    Show {
        /// The request id (from `liaison request list`).
        request: String,
    },
    /// The request types and their fields.
    Types,
    /// Acknowledge a request addressed to you or your role: the requester
    /// knows someone took it, and it no longer escalates.
    Ack {
        /// The request id.
        request: String,
        /// Words for the requester.
        #[arg(default_value = "")]
        text: String,
    },
    /// Report progress on a request.
    Progress {
        /// The request id.
        request: String,
        /// What is under way.
        #[arg(value_parser = written)]
        text: String,
    },
    /// Answer a request (with --partial when more is to come).
    Answer {
        /// The request id.
        request: String,
        /// Only part of what was asked is answered.
        #[arg(long)]
        partial: bool,
        /// Attach a file (repeatable).
        #[arg(long = "attach", value_name = "FILE")]
        attach: Vec<PathBuf>,
        /// The answer.
        #[arg(value_parser = written)]
        text: String,
    },
    /// Decline a request, saying why.
    Decline {
        /// The request id.
        request: String,
        /// Why.
        #[arg(long, value_parser = written)]
        reason: String,
    },
    /// Withdraw a request you sent, saying why.
    Withdraw {
        /// The request id.
        request: String,
        /// Why.
        #[arg(long, value_parser = written)]
        reason: String,
    },
    /// After an answer: tell the addressees what came of it.
    Outcome {
        /// The request id.
        request: String,
        /// The outcome.
        #[arg(value_parser = written)]
        text: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum CaseCommand {
    /// Open a case that you own and send its opening to its members.
    /// Prints the case id. Its title and reference are shown to members
    /// before they acknowledge its handling: keep them short and general.
    New {
        /// What the case is about, in a few words.
        #[arg(long, value_parser = written)]
        title: String,
        /// A national case number or other reference.
        #[arg(long = "ref", value_parser = written)]
        reference: Option<String>,
        /// The default handling of its messages (see `liaison send --help`);
        /// default "RED".
        #[arg(long)]
        handling: Option<String>,
        /// A member: a focal point or role id (repeatable). You are a
        /// member as its owner.
        #[arg(value_parser = parse_id, long = "member", required = true)]
        members: Vec<DirectoryId>,
    },
    /// Add a member to a case you own: they receive what is sent from now
    /// on, not what was sent before.
    Add {
        /// The case id (from `liaison case list`).
        case: String,
        /// The focal point or role id.
        #[arg(value_parser = parse_id)]
        id: DirectoryId,
    },
    /// Remove a member from a case you own: they are told, then receive
    /// nothing further.
    Remove {
        /// The case id (from `liaison case list`).
        case: String,
        /// The focal point or role id.
        #[arg(value_parser = parse_id)]
        id: DirectoryId,
    },
    /// List the cases you are or were a member of.
    List,
    /// Show a case: its members and the changes you hold.
    Show {
        /// The case id (from `liaison case list`).
        case: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AttachmentCommand {
    /// Fetch, verify and save the attachments of a received message, once
    /// you have acknowledged its handling (`liaison read ID --accept`). A
    /// file is written only if every part of it matches what the sender
    /// signed, and never over an existing file.
    Save {
        /// Message id (from `liaison inbox`).
        id: String,
        /// The directory to save into (default: the current directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ConsentCommand {
    /// Ask the originator of a received message for consent.
    Request {
        /// Message id.
        id: String,
        /// What you ask for: forward:ID[,ID...], judicial:CASE, purpose:NAME or retain:DATE.
        #[arg(long)]
        scope: String,
        /// Why.
        #[arg(long, value_parser = written)]
        reason: String,
    },
    /// As originator: grant a request.
    Grant {
        /// The request: the id `liaison inbox` shows for it (or its request
        /// id from `liaison consent list`).
        request: String,
        /// Conditions attached to the grant.
        #[arg(long, default_value = "", value_parser = written)]
        conditions: String,
        /// The grant lapses at this date/time (UTC).
        #[arg(long)]
        valid_until: Option<String>,
    },
    /// As originator: refuse a request.
    Refuse {
        /// The request: the id `liaison inbox` shows for it (or its request
        /// id from `liaison consent list`).
        request: String,
        /// Reason given to the requester.
        #[arg(long, default_value = "", value_parser = written)]
        reason: String,
    },
    /// Consent requests and decisions, both directions.
    List,
}

#[derive(Subcommand, Debug)]
pub(crate) enum DeviceCommand {
    /// On the NEW device: create its home and HOME/device.request.
    Request {
        /// Enrolment bundle of your network.
        #[arg(long)]
        bundle: PathBuf,
        /// Your directory id (the identity this device joins).
        #[arg(value_parser = parse_id, long)]
        id: DirectoryId,
    },
    /// On a device holding your identity key: approve a device request and
    /// write the approval (give it to the new device, to link with).
    Approve {
        /// The device.request file from the new device.
        request: PathBuf,
        /// The confirmation code the new device printed when it made the
        /// request (such as 0412-7730-9281): the identity key goes only to
        /// the request that has it.
        #[arg(long)]
        code: String,
        /// Where to write the approval.
        #[arg(long, default_value = "device.approval")]
        out: PathBuf,
    },
    /// On the NEW device: take your identity key from the approval and write
    /// NEW_HOME/device.approval, with this device's proof, for your authority.
    Link {
        /// The device.approval file.
        approval: PathBuf,
    },
    /// Show the devices your directory record lists.
    List,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ContactsCommand {
    /// Everything known about one contact: who vouched for them and when,
    /// fingerprints, devices, verification.
    Show {
        /// The contact's id.
        #[arg(value_parser = parse_id)]
        id: DirectoryId,
    },
    /// Compare safety numbers in person: without --safety-number, print
    /// ours; with it, mark the contact verified only if they are equal.
    Verify {
        /// The contact's id.
        #[arg(value_parser = parse_id)]
        id: DirectoryId,
        /// The safety number the contact read to you.
        #[arg(long, value_parser = written)]
        safety_number: Option<String>,
    },
    /// Accept a contact's changed identity key without verifying it.
    Accept {
        /// The contact's id.
        #[arg(value_parser = parse_id)]
        id: DirectoryId,
    },
}

/// Filters for `liaison contacts` (all optional; case-insensitive).
#[derive(clap::Args, Debug, Default)]
pub(crate) struct ContactFilter {
    /// Only this country (TH, PH, ...).
    #[arg(long)]
    pub(crate) country: Option<String>,
    /// Only this agency.
    #[arg(long)]
    pub(crate) agency: Option<String>,
    /// Only holders of this role (role id).
    #[arg(long)]
    pub(crate) role: Option<String>,
    /// Only contacts working in this language.
    #[arg(long)]
    pub(crate) language: Option<String>,
    /// Only names or ids containing this text.
    #[arg(long)]
    pub(crate) name: Option<String>,
}

impl From<&ContactFilter> for views::ContactFilter {
    fn from(f: &ContactFilter) -> Self {
        views::ContactFilter {
            country: f.country.clone(),
            agency: f.agency.clone(),
            role: f.role.clone(),
            language: f.language.clone(),
            name: f.name.clone(),
        }
    }
}

/// A directory id as typed: case does not matter (`PH.PNP.BOB` is
/// `ph.pnp.bob`), and surrounding spaces are ignored.
fn parse_id(s: &str) -> Result<DirectoryId, String> {
    DirectoryId::parse(&s.trim().to_lowercase()).map_err(|e| e.to_string())
}
