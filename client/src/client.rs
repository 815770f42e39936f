//! The focal point's client: enrolment request, directory, sending and
//! receiving end-to-end encrypted, signed messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use liaison_protocol::bundle::Bundle;
use liaison_protocol::directory::{DeviceKeys, Directory, FocalPointRecord, endorse_device};
use liaison_protocol::directory_state::Refusal;
use liaison_protocol::frames::{ErrorCode, Queued, Request, Response};
use liaison_protocol::handling::Handling;
use liaison_protocol::message::{
    Content, EnrolmentRequest, Envelope, Payload, SignedPayload, verify_payload,
};
use liaison_protocol::{
    ConversationId, CountryCode, DirectoryId, MessageId, PublicKey, SecretKey, Signed, Timestamp,
    Wire,
};
use serde::{Deserialize, Serialize};
use vodozemac::olm::Session;

use crate::contacts;
use crate::core::checkpoints::{self, Source, Step};
use crate::core::clock::Clock;
use crate::core::compose::{Composed, Draft, compose};
use crate::core::directory::{
    DirectoryLog, OwnStanding, Revocation, Served, Wait, compare_served, wait_for_checkpoint,
};
use crate::core::handover;
use crate::core::logged::{self, Expected, Verdict, Watch, Watched};
pub use crate::core::message::{Direction, MessageKind, StoredMessage};
use crate::core::open::open_content;
use crate::devices::{self, DeviceError};
use crate::directory_log::{self, Loaded};
use crate::error::{ClientError, ReceiveError, RecipientError, Refused};
use crate::home::{Home, HomeTxn, KdfParams, Table};
use crate::logs::{self, EventOmission, LogError};
use crate::olm::{self, Device};
use liaison_net::{Link, LinkError};
use liaison_protocol::armor::{ArmorKind, armor_wire, dearmor_wire};
use liaison_protocol::frames::{Declaration, LogId};
use liaison_protocol::log::event::{DisclosedEvent, EventKind};
use liaison_protocol::log::{LogPolicy, SignedCheckpoint};
use liaison_protocol::message::{DeviceApproval, DeviceRequest};
use zeroize::Zeroizing;

/// File name of the enrolment request written by `init`.
pub const ENROLMENT_REQUEST: &str = "enrolment.request";
/// The completed device approval `liaison device link` writes in the new
/// device's home, for the authority to countersign.
pub const DEVICE_APPROVAL: &str = "device.approval";
/// One-time keys published at enrolment and kept topped up.
const PREKEY_TARGET: usize = 50;
/// Refill when the relay holds fewer than this many.
const PREKEY_LOW_WATER: u32 = 20;

/// The current wall-clock time.
pub use liaison_net::clock::now;

type Result<T, E = ClientError> = std::result::Result<T, E>;

pub(crate) fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(ClientError::Random)?;
    Ok(b)
}

/// What `init` records about the local focal point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    /// Requested directory id.
    pub id: DirectoryId,
    /// Country.
    pub country: CountryCode,
    /// Name.
    pub name: String,
    /// Agency.
    pub agency: String,
    /// The enrolment bundle (TOML).
    pub bundle: String,
}

/// Fields of a new focal point.
#[derive(Clone, Debug)]
pub struct InitParams {
    /// Requested id.
    pub id: DirectoryId,
    /// Full name.
    pub name: String,
    /// Country.
    pub country: CountryCode,
    /// Agency.
    pub agency: String,
    /// Unit.
    pub unit: String,
    /// Languages.
    pub languages: Vec<String>,
    /// IANA time zone.
    pub time_zone: String,
}

/// The home key under which the previous release kept the relay's
/// directory answer; it is no longer read, and removed at the first sync
/// of the directory log.
const LEGACY_DIRECTORY_CACHE: &str = "directory";
/// How long a sync waits, by default, for a checkpoint covering directory
/// entries the relay appended but has not signed yet.
const DIRECTORY_WAIT: Duration = Duration::from_secs(10);
/// Between two requests for such a checkpoint.
const DIRECTORY_POLL: Duration = Duration::from_millis(250);

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OutboxItem {
    pub(crate) message_id: MessageId,
    pub(crate) envelopes: Vec<Envelope>,
    pub(crate) declare: Vec<Declaration>,
}

/// What to send: the signed payload's text, handling, conversation and
/// content, and what the relay's event log should declare about it.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    /// The text (the note, for a forward).
    pub text: String,
    /// Handling set by this sender.
    pub handling: Handling,
    /// An existing conversation, or a new one.
    pub conversation: Option<ConversationId>,
    /// Text, forward, handover, receipts or consent.
    pub content: Content,
    /// Declarations for the relay's event log (receipts, consents).
    pub declare: Vec<Declaration>,
    /// A consent exchange to keep in the same write as the message, so that
    /// a decision is recorded if and only if it is kept to go out.
    pub keep_consent: Option<crate::core::records::ConsentRecord>,
    /// Attachments already uploaded, named in the signed payload; the
    /// relay is asked to let the recipients fetch them once it accepted the
    /// message (owed in the same write as the message, so never forgotten).
    pub attachments: Vec<liaison_protocol::message::AttachmentRef>,
}

impl Outgoing {
    /// A plain text message.
    pub fn text(text: &str, handling: Handling, conversation: Option<ConversationId>) -> Self {
        Outgoing {
            text: text.to_owned(),
            handling,
            conversation,
            content: Content::Text,
            declare: Vec::new(),
            keep_consent: None,
            attachments: Vec::new(),
        }
    }

    /// A message carrying `content`, in a new conversation.
    pub fn content(text: &str, handling: Handling, content: Content) -> Self {
        Outgoing {
            content,
            ..Outgoing::text(text, handling, None)
        }
    }
}

/// Fault injection for tests that play a misbehaving sender or network
/// (see [`Client::send_with_faults`]). Compiled only with the `test-hooks`
/// feature, which the tools never enable.
#[cfg(feature = "test-hooks")]
#[derive(Default)]
#[allow(clippy::type_complexity)]
pub struct Faults {
    /// Change the encoded signed payload after signing, before encryption.
    pub alter_signed_payload: Option<Box<dyn FnMut(&mut Vec<u8>) + Send>>,
    /// Change each envelope after encryption.
    pub alter_envelope: Option<Box<dyn FnMut(&mut Envelope) + Send>>,
    /// Send this content instead of plain text, unchecked (e.g. a forward
    /// whose original was tampered with).
    pub content: Option<Content>,
    /// Declare these events to the relay's event log, unchecked (a device
    /// trying to bloat the log).
    pub declare: Option<Vec<Declaration>>,
}

#[cfg(feature = "test-hooks")]
impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Faults")
    }
}

/// Outcome of processing one envelope.
#[derive(Debug)]
pub enum Received {
    /// A new, verified message.
    Message(Box<StoredMessage>),
    /// Already stored (a redelivery); acknowledged again.
    Duplicate(MessageId),
    /// Rejected; kept as a record and acknowledged.
    Rejected {
        /// The message id from the envelope.
        id: MessageId,
        /// Why.
        reason: String,
    },
}

/// Summary of a sync.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// New verified messages.
    pub received: Vec<StoredMessage>,
    /// Rejected envelopes (id, reason).
    pub rejected: Vec<(MessageId, String)>,
    /// Redeliveries of messages already held.
    pub duplicates: usize,
    /// Outbox items delivered to the relay during this sync.
    pub flushed: usize,
    /// Relay log inconsistencies detected (with evidence paths).
    pub forks: Vec<String>,
    /// The relay's event log omits or contradicts events of our messages
    /// (with evidence paths); each is reported once.
    pub log_omissions: Vec<String>,
    /// Messages whose content was destroyed because retention ended.
    pub destroyed: Vec<MessageId>,
    /// Receipt messages processed (receipts for our messages).
    pub receipts: usize,
}

/// The home's singleton holding the messages whose events are watched.
const WATCHED: &str = "log-watch";

/// A message's events as the relay served them, judged against a
/// checkpoint.
struct IncludedEvents {
    /// The signed events checkpoint they were judged against.
    checkpoint: String,
    /// The events proven included in it.
    included: Vec<EventKind>,
    /// Every event served: index and disclosed event.
    served: Vec<(u64, Vec<u8>)>,
}

/// An open client.
pub struct Client {
    pub(crate) home: Home,
    pub(crate) profile: Profile,
    pub(crate) identity: SecretKey,
    pub(crate) device: Device,
    pub(crate) bundle: Bundle,
    pub(crate) conn: Option<Link>,
    pub(crate) directory: Directory,
    pub(crate) directory_problems: Vec<String>,
    /// The directory log as verified and applied: the only source of
    /// `directory`.
    pub(crate) directory_log: DirectoryLog,
    /// What the relay's last directory answer held that the log does not:
    /// the id, what happened, and whether it is the relay's doing against
    /// its own signed log (rather than a record that does not verify).
    pub(crate) served_problems: Vec<(String, String, bool)>,
    pub(crate) directory_wait: Duration,
    pub(crate) request_timeout: Option<Duration>,
    /// Why the last attempt to reach the relay failed, while not connected.
    pub(crate) offline: Option<String>,
    /// The id of the message being sent (drawn before it is signed).
    pub(crate) sending: Option<MessageId>,
    pub(crate) warnings: Vec<String>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Told how far each attachment transfer got, when someone watches.
    pub(crate) progress: Option<ProgressHook>,
    /// The search index of the messages (in memory only), and the home's
    /// count of message commits it was built at.
    pub(crate) search_index: Option<(u64, crate::core::search::SearchIndex)>,
    /// The messages and receipts held in memory ([`crate::memo`]).
    pub(crate) memo: std::sync::Mutex<crate::core::conversations::Memo>,
}

/// A progress watcher kept by the client (`Client::set_progress`), told how
/// far every attachment transfer run through `agent::ops` got: the file's
/// name, bytes done, bytes in all.
pub type ProgressHook = Box<dyn FnMut(&str, u64, u64) + Send + Sync>;

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.profile.id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Create a home, keys and an enrolment request. Returns the path of the
    /// request file and the identity fingerprint to confirm with the authority.
    pub fn init(
        dir: &Path,
        passphrase: &str,
        bundle_text: &str,
        params: InitParams,
        kdf: KdfParams,
    ) -> Result<(PathBuf, String)> {
        let bundle = Bundle::from_toml(bundle_text).map_err(ClientError::Bundle)?;
        if params.id.country() != params.country {
            return Err(ClientError::IdCountry {
                id: params.id,
                country: params.country,
            });
        }
        let home = Home::create(dir, passphrase, kdf)?;
        let identity = SecretKey::from_seed(&random::<32>()?);
        let mut device = Device::generate();
        let prekeys = device.new_prekeys(PREKEY_TARGET, true);
        let device_keys = DeviceKeys {
            signing: device.signing_key(),
            agreement: device.agreement_key(),
        };
        let request = EnrolmentRequest {
            id: params.id.clone(),
            country: params.country,
            name: params.name.clone(),
            agency: params.agency.clone(),
            unit: params.unit,
            languages: params.languages,
            time_zone: params.time_zone,
            identity_key: identity.public_key(),
            device: device_keys,
            device_proof: device.sign(
                liaison_protocol::directory::DEVICE_PROOF_DOMAIN,
                &liaison_protocol::directory::device_proof_message(
                    &params.id,
                    &identity.public_key(),
                    &device_keys,
                ),
            ),
            device_endorsement: endorse_device(&identity, &params.id, &device_keys),
            prekeys,
            created_at: now(),
        };
        let signed = Signed::sign(&request, &identity);
        let profile = Profile {
            id: params.id,
            country: params.country,
            name: params.name,
            agency: params.agency,
            bundle: bundle.to_toml(),
        };
        let mut w = home.write()?;
        w.put_secret("identity", &*identity.to_seed())?;
        w.put_secret("account", &device.pickle()?)?;
        w.put_secret("profile", &profile)?;
        w.commit()?;
        let path = dir.join(ENROLMENT_REQUEST);
        std::fs::write(&path, EnrolmentRequest::armor(&signed)).map_err(|source| {
            ClientError::Write {
                path: path.clone(),
                source,
            }
        })?;
        Ok((path, identity.public_key().fingerprint().to_string()))
    }

    /// Start a new device of an existing focal point: create its home and
    /// write `HOME/device.request` for approval on a device that holds the
    /// identity key (see [`crate::devices`]).
    pub fn device_request(
        dir: &Path,
        passphrase: &str,
        bundle_text: &str,
        id: DirectoryId,
        kdf: KdfParams,
    ) -> Result<(PathBuf, String)> {
        let bundle = Bundle::from_toml(bundle_text).map_err(ClientError::Bundle)?;
        let home = Home::create(dir, passphrase, kdf)?;
        let mut device = Device::generate();
        let prekeys = device.new_prekeys(PREKEY_TARGET, true);
        let (transfer_secret, transfer_key) = devices::transfer_keypair()?;
        let request = DeviceRequest {
            id: id.clone(),
            device: DeviceKeys {
                signing: device.signing_key(),
                agreement: device.agreement_key(),
            },
            transfer_key,
            prekeys,
            created_at: now(),
        };
        let body = liaison_protocol::codec::encode_body(&request);
        let signature = device.sign(
            <DeviceRequest as liaison_protocol::SignedBody>::DOMAIN,
            &body,
        );
        let signed = Signed::<DeviceRequest>::from_parts(body, device.signing_key(), signature);
        DeviceRequest::verify(&signed).map_err(DeviceError::RequestInvalid)?;
        let profile = Profile {
            country: id.country(),
            id,
            name: String::new(),
            agency: String::new(),
            bundle: bundle.to_toml(),
        };
        let mut w = home.write()?;
        w.put_secret("account", &device.pickle()?)?;
        w.put_secret("profile", &profile)?;
        w.put_secret("transfer-secret", &*transfer_secret)?;
        w.commit()?;
        let path = dir.join("device.request");
        std::fs::write(&path, armor_wire(ArmorKind::DeviceRequest, &signed)).map_err(|source| {
            ClientError::Write {
                path: path.clone(),
                source,
            }
        })?;
        Ok((
            path,
            liaison_protocol::message::device_request_code(&signed),
        ))
    }

    /// Approve a new device of ours: endorse it with the identity key and
    /// seal the identity key to it. Returns the armoured approval for the
    /// authority to countersign and the new device to link with.
    ///
    /// `code` is the confirmation code the new device showed when it made
    /// the request ([`liaison_protocol::message::device_request_code`]):
    /// without it matching, nothing is sealed, so a request swapped on its
    /// way never receives the identity key.
    pub fn approve_device(&mut self, request_text: &str, code: &str) -> Result<String> {
        let signed: Signed<DeviceRequest> = dearmor_wire(ArmorKind::DeviceRequest, request_text)
            .map_err(DeviceError::NotARequest)?;
        if !liaison_protocol::message::device_code_matches(
            &liaison_protocol::message::device_request_code(&signed),
            code,
        ) {
            return Err(DeviceError::CodeMismatch.into());
        }
        let req = DeviceRequest::verify(&signed).map_err(DeviceError::RequestInvalid)?;
        if req.id != self.profile.id {
            return Err(DeviceError::NotYours {
                request: req.id,
                you: self.profile.id.clone(),
            }
            .into());
        }
        let endorsement = endorse_device(&self.identity, &req.id, &req.device);
        let (ephemeral, sealed_identity) = devices::seal_identity(
            &self.identity,
            &req.transfer_key,
            &self.identity.public_key(),
        )?;
        let approval = DeviceApproval {
            request: signed,
            identity_key: self.identity.public_key(),
            known_devices: {
                let mut v = self.own_devices()?;
                v.push(req.device.signing);
                v
            },
            endorsement,
            ephemeral,
            sealed_identity,
            device_proof: None,
        };
        let mut own: Vec<PublicKey> = self.own_devices()?;
        if !own.contains(&req.device.signing) {
            own.push(req.device.signing);
        }
        let mut w = self.home.write()?;
        w.put_secret("own-devices", &own)?;
        w.commit()?;
        Ok(armor_wire(ArmorKind::DeviceApproval, &approval))
    }

    /// On a new device: take the identity key out of an approval made for
    /// it, and complete the approval with this device's proof of possession
    /// (over the id, the identity key and this device's keys). Writes the
    /// completed approval to `HOME/device.approval` for the authority to
    /// countersign and returns its path. The device can send once its
    /// authority has countersigned.
    pub fn link_device(dir: &Path, passphrase: &str, approval_text: &str) -> Result<PathBuf> {
        let home = Home::open(dir, passphrase)?;
        if home.get_secret::<[u8; 32]>("identity")?.is_some() {
            return Err(DeviceError::AlreadyLinked.into());
        }
        let mut approval: DeviceApproval = dearmor_wire(ArmorKind::DeviceApproval, approval_text)
            .map_err(DeviceError::NotAnApproval)?;
        let req = DeviceRequest::verify(&approval.request)
            .map_err(DeviceError::ApprovalRequestInvalid)?;
        let pickle: String = home
            .get_secret("account")?
            .ok_or(ClientError::Incomplete("Olm account"))?;
        let device = Device::from_pickle(&pickle)?;
        if req.device.signing != device.signing_key() {
            return Err(DeviceError::OtherDevice.into());
        }
        let secret: [u8; 32] = home
            .get_secret("transfer-secret")?
            .ok_or(DeviceError::NoRequest)?;
        let secret = Zeroizing::new(secret);
        let identity = devices::open_identity(&approval, &secret, &approval.identity_key)?;
        identity
            .public_key()
            .verify(
                liaison_protocol::directory::DEVICE_ENDORSEMENT_DOMAIN,
                &liaison_protocol::directory::device_endorsement_message(&req.id, &req.device),
                &approval.endorsement,
            )
            .map_err(|_| DeviceError::Endorsement)?;
        approval.device_proof = Some(device.sign(
            liaison_protocol::directory::DEVICE_PROOF_DOMAIN,
            &liaison_protocol::directory::device_proof_message(
                &req.id,
                &identity.public_key(),
                &req.device,
            ),
        ));
        let path = dir.join(DEVICE_APPROVAL);
        std::fs::write(&path, armor_wire(ArmorKind::DeviceApproval, &approval)).map_err(
            |source| ClientError::Write {
                path: path.clone(),
                source,
            },
        )?;
        let mut w = home.write()?;
        w.put_secret("identity", &*identity.to_seed())?;
        w.put_secret("own-devices", &approval.known_devices)?;
        w.remove(Table::Secrets, b"transfer-secret")?;
        w.commit()?;
        Ok(path)
    }

    /// Open an existing home.
    pub fn open(dir: &Path, passphrase: &str) -> Result<Client> {
        let home = Home::open(dir, passphrase)?;
        let seed: [u8; 32] = home.get_secret("identity")?.ok_or(ClientError::NotLinked)?;
        let identity = SecretKey::from_seed(&seed);
        let pickle: String = home
            .get_secret("account")?
            .ok_or(ClientError::Incomplete("Olm account"))?;
        let device = Device::from_pickle(&pickle)?;
        let profile: Profile = home
            .get_secret("profile")?
            .ok_or(ClientError::Incomplete("profile"))?;
        let bundle = Bundle::from_toml(&profile.bundle).map_err(ClientError::StoredBundle)?;
        let root = bundle.root().map_err(ClientError::StoredBundle)?;
        let mut warnings = Vec::new();
        let directory_log = match directory_log::load(&home, root)? {
            Loaded::Log(log) => *log,
            Loaded::Nothing => DirectoryLog::new(root),
            Loaded::Damaged => {
                warnings.push(
                    "the copy of the directory log kept in this home is damaged; it is fetched \
                     again from the relay at the next sync (run `liaison sync`)"
                        .to_owned(),
                );
                DirectoryLog::new(root)
            }
        };
        let mut client = Client {
            home,
            profile,
            identity,
            device,
            bundle,
            conn: None,
            directory: Directory::default(),
            directory_problems: Vec::new(),
            directory_log,
            served_problems: Vec::new(),
            directory_wait: DIRECTORY_WAIT,
            request_timeout: None,
            offline: None,
            sending: None,
            warnings,
            clock: Arc::new(SystemClock),
            progress: None,
            search_index: None,
            memo: Default::default(),
        };
        client.apply_directory();
        Ok(client)
    }

    /// Abandon relay requests that take longer than `t` (default 30 s).
    pub fn set_request_timeout(&mut self, t: Duration) {
        self.request_timeout = Some(t);
        if let Some(c) = self.conn.as_mut() {
            c.set_timeout(t);
        }
    }

    /// The time as this client sees it (the system clock unless
    /// [`Client::set_clock`] replaced it).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Read the time from `clock` from now on (tests move a
    /// [`crate::core::clock::ManualClock`] instead of waiting).
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// This focal point's directory id.
    pub fn id(&self) -> &DirectoryId {
        &self.profile.id
    }

    /// This device's key.
    pub fn device_key(&self) -> PublicKey {
        self.device.signing_key()
    }

    /// The identity public key.
    pub fn identity_key(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// The verified directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Directory entries not in force (refused by the directory rules, or
    /// whose authority is not in force), and what the relay's last
    /// directory answer held that its signed log does not, as `id: why`.
    pub fn directory_problems(&self) -> &[String] {
        &self.directory_problems
    }

    /// How long [`Client::sync_directory`] waits for a checkpoint covering
    /// directory entries the relay appended but has not signed yet
    /// (default 10 s).
    pub fn set_directory_wait(&mut self, t: Duration) {
        self.directory_wait = t;
    }

    /// The size of the directory log this client verified and applied.
    pub fn directory_log_size(&self) -> u64 {
        self.directory_log.size()
    }

    /// Recompute what is in force now from the applied directory log.
    fn apply_directory(&mut self) {
        let (dir, not_in_force) = self.directory_log.directory(self.now());
        self.directory = dir;
        self.directory_problems = self
            .directory_log
            .refused()
            .iter()
            .map(|(_, r)| r)
            .filter(|r| !matches!(r.error, Refusal::Stale { .. } | Refusal::AuthorityRevoked))
            .chain(&not_in_force)
            .map(|r| format!("{}: {}", r.subject, r.error))
            .chain(
                self.served_problems
                    .iter()
                    .map(|(id, why, _)| format!("{id}: {why}")),
            )
            .collect();
    }

    pub(crate) fn conn(&self) -> Result<&Link> {
        self.conn.as_ref().ok_or(ClientError::NotConnected)
    }

    /// Connect to the relay, authenticate this device, refresh the directory
    /// and keep prekeys topped up.
    pub async fn connect(&mut self) -> Result<()> {
        match self.connect_and_refresh().await {
            Ok(()) => {
                self.offline = None;
                Ok(())
            }
            Err(e) => {
                if e.is_unreachable() {
                    self.offline = Some(liaison_net::tool::chain(&e));
                }
                Err(e)
            }
        }
    }

    async fn connect_and_refresh(&mut self) -> Result<()> {
        let pin = self
            .bundle
            .cert_pins()
            .map_err(ClientError::BundleSettings)?;
        let mut conn = Link::connect(&self.bundle.relay_addr, pin).await?;
        if let Some(t) = self.request_timeout {
            conn.set_timeout(t);
        }
        let device = &self.device;
        match conn
            .authenticate(device.signing_key(), |msg| device.sign_raw(msg))
            .await
        {
            Ok(_) => {}
            Err(LinkError::Refused(error)) if error.code == ErrorCode::UnknownDevice => {
                self.conn = Some(conn);
                let learned = self.learn_refusal().await;
                self.disconnect().await;
                learned?;
                let standing = self.own_standing();
                return Err(match standing {
                    OwnStanding::Active | OwnStanding::NotEnrolled => ClientError::RelayRefused {
                        what: Refused::Device,
                        error,
                    },
                    standing => ClientError::NotAdmitted {
                        id: self.profile.id.clone(),
                        standing,
                        error,
                    },
                });
            }
            Err(LinkError::Refused(error)) => {
                return Err(ClientError::RelayRefused {
                    what: Refused::Device,
                    error,
                });
            }
            Err(other) => return Err(other.into()),
        }
        self.conn = Some(conn);
        self.sync_checkpoints().await?;
        self.sync_directory().await?;
        self.replenish_prekeys().await?;
        Ok(())
    }

    /// After the relay refused this device as out of force: read the
    /// directory log (a relay lets such a device read it, and nothing
    /// else), so that the user learns from the signed log what happened to
    /// their record, and an alert about it is raised as at any sync. A
    /// relay that does not serve it leaves the home's copy as it was.
    async fn learn_refusal(&mut self) -> Result<()> {
        match self.sync_checkpoints().await {
            Ok(()) => {}
            Err(e) if e.is_log_inconsistency() => return Err(e),
            Err(_) => return Ok(()),
        }
        match self.fetch_directory_log().await {
            Ok(()) => {}
            Err(e) if e.is_log_inconsistency() => return Err(e),
            Err(_) => return Ok(()),
        }
        self.apply_directory();
        self.reconcile_contacts()
    }

    /// Where this focal point and device stand in the directory log
    /// applied.
    pub fn own_standing(&self) -> OwnStanding {
        OwnStanding::of(
            &self.directory_log,
            &self.profile.id,
            &self.identity.public_key(),
            &self.device.signing_key(),
            self.now(),
        )
    }

    /// The revocation of `id`'s record in the directory log applied, if
    /// it was revoked.
    pub fn revocation(&self, id: &DirectoryId) -> Option<&Revocation> {
        self.directory_log.revocation(id)
    }

    /// The latest verified checkpoint note of `log`, if any.
    pub fn checkpoint(&self, log: LogId) -> Result<Option<String>> {
        Ok(self
            .home
            .get_secret(&format!("checkpoint-{}", log.name()))?)
    }

    fn checkpoint_notes(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for log in LogId::ALL {
            if let Some(n) = self.checkpoint(log)? {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Fetch each log's latest checkpoint (with the bundle's witness quorum),
    /// verify it, and prove it consistent with the one held. Refuses a
    /// rollback or a fork, keeping both checkpoints as evidence.
    pub async fn sync_checkpoints(&mut self) -> Result<()> {
        let quorum = self.bundle.quorum().map_err(ClientError::BundleSettings)?;
        for log in LogId::ALL {
            let policy = logs::policy(&self.bundle, log)?;
            let min_cosignatures = u8::try_from(quorum).unwrap_or(u8::MAX);
            let note = match self.conn()?.checkpoint(log, min_cosignatures).await {
                Ok(note) => note,
                Err(LinkError::Refused(error)) if quorum > 0 => {
                    return Err(ClientError::RelayRefused {
                        what: Refused::Checkpoint {
                            log: log.name(),
                            quorum,
                        },
                        error,
                    });
                }
                Err(e) => return Err(e.into()),
            };
            let theirs =
                policy
                    .open(note.as_bytes())
                    .map_err(|error| LogError::RelayCheckpoint {
                        log: log.name(),
                        error,
                    })?;
            self.accept_checkpoint(log, &policy, theirs, &note, true)
                .await?;
        }
        Ok(())
    }

    /// Compare a verified checkpoint with the one held ([`checkpoints`]
    /// decides); adopt it if the relay served it (`adopt`) and it is a
    /// proven extension, record and fail on a fork or rollback.
    async fn accept_checkpoint(
        &mut self,
        log: LogId,
        policy: &LogPolicy,
        theirs: SignedCheckpoint,
        note: &str,
        adopt: bool,
    ) -> Result<()> {
        let source = if adopt { Source::Relay } else { Source::Peer };
        let ours_note = self.checkpoint(log)?;
        let ours = match &ours_note {
            None => None,
            Some(held) => Some(logs::open(
                &LogPolicy::new(policy.log().clone()).map_err(LogError::Policy)?,
                held,
            )?),
        };
        let held = ours.as_ref().map(|o| o.checkpoint());
        let shown = theirs.checkpoint();
        let mut step = checkpoints::judge(held, shown, source);
        if let (Step::Prove(ext), Some(held)) = (&step, held) {
            step = match self.conn()?.consistency(log, ext.old, ext.new).await {
                Ok(proof) => checkpoints::judge_proof(held, shown, source, Ok(&proof)),
                Err(LinkError::Refused(e)) => {
                    checkpoints::judge_proof(held, shown, source, Err(&e.message))
                }
                Err(e) => return Err(e.into()),
            };
        }
        match step {
            Step::Adopt => {
                let mut w = self.home.write()?;
                w.put_secret(&format!("checkpoint-{}", log.name()), &note.to_owned())?;
                w.commit()?;
                Ok(())
            }
            Step::Keep => Ok(()),
            Step::Inconsistent(what) => Err(logs::record_fork(
                self.home.dir(),
                log,
                what,
                ours_note.as_deref().unwrap_or_default(),
                note,
                self.now(),
            )
            .into()),
            Step::Prove(_) => Err(LogError::NotJudged(log.name()).into()),
        }
    }

    /// Check the checkpoints a peer carried in its payload against our own
    /// view: a relay showing the peer another history is caught here.
    pub async fn check_peer_view(&mut self, notes: &[String]) -> Result<()> {
        for note in notes {
            for log in LogId::ALL {
                let policy = logs::policy(&self.bundle, log)?;
                let Ok(base) = LogPolicy::new(policy.log().clone()) else {
                    continue;
                };
                let Ok(theirs) = base.open(note.as_bytes()) else {
                    continue;
                };
                // Bring our own view up to date first, so a peer that is
                // simply ahead is not mistaken for a fork.
                if self
                    .checkpoint(log)?
                    .and_then(|n| base.open(n.as_bytes()).ok())
                    .is_some_and(|o| o.checkpoint().size() < theirs.checkpoint().size())
                {
                    self.sync_checkpoints().await?;
                }
                self.accept_checkpoint(log, &policy, theirs, note, false)
                    .await?;
            }
        }
        Ok(())
    }

    /// The events of message `id` the relay serves, and those of them
    /// proven included in our verified events checkpoint (returned too).
    /// `None` when no events checkpoint is held yet. A relay that refuses
    /// to show them (it answers so when it holds no event naming this
    /// device) serves none.
    async fn included_events(&self, id: MessageId) -> Result<Option<IncludedEvents>> {
        let Some(note) = self.checkpoint(LogId::Events)? else {
            return Ok(None);
        };
        let base = logs::base_policy(&self.bundle, LogId::Events)?;
        let cp = logs::open(&base, &note)?;
        let size = cp.checkpoint().size();
        let events = match self.conn()?.message_events(id).await {
            Ok(events) => events,
            Err(LinkError::Refused(e)) if e.code == ErrorCode::Forbidden => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let mut included = Vec::new();
        let mut served = Vec::new();
        for e in events {
            served.push((e.index, e.event.clone()));
            let disclosed =
                DisclosedEvent::decode(&e.event).map_err(|_| LogError::MalformedEvent)?;
            let record = disclosed
                .decode_record()
                .map_err(|_| LogError::MalformedEventRecord)?;
            if record.kind.message_id() != &id || record.seq != e.index {
                return Err(LogError::EventNotAbout { index: e.index, id }.into());
            }
            if e.index >= size {
                continue;
            }
            let proof = self.conn()?.inclusion(LogId::Events, e.index, size).await?;
            cp.checkpoint()
                .verify_inclusion(&disclosed.leaf_hash(), e.index, &proof)
                .map_err(|error| LogError::EventInclusion { id, error })?;
            included.push(record.kind);
        }
        Ok(Some(IncludedEvents {
            checkpoint: note,
            included,
            served,
        }))
    }

    /// Judge message `m`'s events ([`logged::judge`]) against our verified
    /// events checkpoint, obtained from the relay at `checkpoint_at`; mark
    /// it `logged` when they are all there and say what we know.
    async fn judge_logged(
        &mut self,
        m: &StoredMessage,
        watched: &Watched,
        checkpoint_at: Timestamp,
    ) -> Result<Option<(Verdict, IncludedEvents)>> {
        let Some(events) = self.included_events(m.id).await? else {
            return Ok(None);
        };
        let expected = watched.expected(m.id, m.direction, self.device.signing_key());
        let verdict = logged::judge(&expected, &events.included, m.stored_at, checkpoint_at);
        if verdict == Verdict::Logged {
            let mut m = m.clone();
            m.logged = true;
            let mut watched = self.watched()?;
            watched.messages.remove(&m.id.0);
            let mut w = self.home.write()?;
            w.put(Table::Messages, &m.id.0, &m)?;
            w.put_secret(WATCHED, &watched)?;
            w.commit()?;
        }
        Ok(Some((verdict, events)))
    }

    /// Check that the relay's event log, as of our verified checkpoint,
    /// includes this message's events as we know them (its acceptance; and
    /// its delivery to us for received messages). Returns false while the
    /// checkpoint does not cover them, or when they differ.
    pub async fn verify_logged(&mut self, id: MessageId) -> Result<bool> {
        let Some(m) = self.home.get::<StoredMessage>(Table::Messages, &id.0)? else {
            return Ok(false);
        };
        let watched = self.watched()?;
        let now = self.now();
        Ok(matches!(
            self.judge_logged(&m, &watched, now).await?,
            Some((Verdict::Logged, _))
        ))
    }

    /// Check the events of stored messages not yet `logged` (at most
    /// `limit` per call) against the relay's newest events checkpoint,
    /// obtained at `checkpoint_at`. Returns the omissions and altered
    /// events found, each reported once, with its evidence saved in
    /// `HOME/evidence/`.
    pub async fn verify_pending_logs(
        &mut self,
        limit: usize,
        checkpoint_at: Timestamp,
    ) -> Result<Vec<EventOmission>> {
        let watched = self.watched()?;
        // Those not yet reported first; then those reported already, which
        // are judged again so that one logged late (or judged by a clock
        // running ahead of the relay's) is marked logged when it appears.
        let (fresh, reported): (Vec<StoredMessage>, Vec<StoredMessage>) = self
            .messages()?
            .into_iter()
            .filter(|m| {
                !m.logged
                    && m.verified
                    && m.via_handover.is_none()
                    && (m.accepted || m.direction == Direction::In)
            })
            .partition(|m| !watched.reported(m.id));
        let mut found = Vec::new();
        for m in fresh.into_iter().chain(reported).take(limit) {
            if watched.reported(m.id) {
                if let Ok(Some((Verdict::Logged, _))) =
                    self.judge_logged(&m, &watched, checkpoint_at).await
                {
                    self.warnings.push(format!(
                        "message {} is now in the relay's event log: it was reported missing \
                         earlier and has been logged late (the evidence kept stays in {})",
                        m.id,
                        self.home.dir().join("evidence").display()
                    ));
                }
                continue;
            }
            let what = match self.judge_logged(&m, &watched, checkpoint_at).await {
                Ok(Some((Verdict::Altered(why), events))) => (why, events),
                Ok(Some((Verdict::Missing(which), events))) => (
                    format!(
                        "its {} event(s) are still missing from the relay's newest checkpoint, \
                         taken more than {} minutes after they were due",
                        which.join(" and "),
                        logged::OMISSION_GRACE_MS / 60_000
                    ),
                    events,
                ),
                Ok(_) => continue,
                // The relay refused for another reason: try again later.
                Err(ClientError::Link(LinkError::Refused(_))) => continue,
                Err(e) => return Err(e),
            };
            let ((why, events), at) = (what, self.now());
            let omission = logs::record_omission(
                self.home.dir(),
                m.id,
                why,
                &events.checkpoint,
                &events.served,
                at,
            );
            let mut watched = self.watched()?;
            let expected = watched.expected(m.id, m.direction, self.device.signing_key());
            watched
                .messages
                .entry(m.id.0)
                .or_insert(Watch {
                    expected,
                    reported: false,
                })
                .reported = true;
            let mut w = self.home.write()?;
            w.put_secret(WATCHED, &watched)?;
            w.commit()?;
            found.push(omission);
        }
        Ok(found)
    }

    /// The messages whose events are watched.
    fn watched(&self) -> Result<Watched> {
        Ok(self.home.get_secret(WATCHED)?.unwrap_or_default())
    }

    /// Open a push subscription on the authenticated connection without
    /// fetching or acknowledging anything (tools and tests).
    pub async fn subscribe_raw(&self) -> Result<liaison_net::Subscription> {
        Ok(self.conn()?.subscribe().await?)
    }

    /// Send a raw request on the authenticated connection (for tools and
    /// tests that need a relay query the client has no method for).
    pub async fn conn_request(&self, req: &Request) -> Result<Response> {
        Ok(self.conn()?.call(req).await?)
    }

    /// Close the connection.
    pub async fn disconnect(&mut self) {
        if let Some(c) = self.conn.take() {
            c.close().await;
        }
    }

    /// Bring the directory up to date from the relay's directory log: fetch
    /// the entries the held directory checkpoint covers beyond those
    /// applied, prove each batch against it and apply it. The relay's
    /// directory answer is only compared with the result: a record it
    /// serves that the log does not hold is never used, and is reported
    /// (with evidence kept in `HOME/evidence/`). When the relay's log has
    /// entries no checkpoint covers yet, wait up to the directory wait for
    /// one that does.
    /// On a connection already open: the relay's newest checkpoints, then
    /// the directory up to them. A change published since the connection
    /// opened (a role handed to someone else, a device added) is seen, even
    /// one the relay's directory answer does not show.
    pub async fn refresh_directory(&mut self) -> Result<()> {
        self.sync_checkpoints().await?;
        self.sync_directory().await
    }

    pub async fn sync_directory(&mut self) -> Result<()> {
        let mut waited = Duration::ZERO;
        let (found, records, pending) = loop {
            self.fetch_directory_log().await?;
            let (_, records, _) = self.conn()?.directory().await?;
            let found = compare_served(self.directory_log.state(), &records, self.now());
            let unlogged = found.iter().any(|s| matches!(s, Served::NotInLog { .. }));
            let uncovered = unlogged
                && !self
                    .conn()?
                    .entries(LogId::Directory, self.directory_log.size(), 1)
                    .await?
                    .is_empty();
            if !uncovered {
                break (found, records, false);
            }
            let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            let bound_ms = u64::try_from(self.directory_wait.as_millis()).unwrap_or(u64::MAX);
            match wait_for_checkpoint(waited_ms, bound_ms) {
                Wait::GiveUp => break (found, records, true),
                Wait::Retry => {
                    tokio::time::sleep(DIRECTORY_POLL).await;
                    waited += DIRECTORY_POLL;
                    self.sync_checkpoints().await?;
                }
            }
        };
        self.report_served(&found, &records, pending, waited)?;
        self.apply_directory();
        if self.directory_log.size() > 0 && self.directory.authorities().next().is_none() {
            // The log holds entries, yet no country authority is in force
            // under the root this home pins: the bundle is not this
            // network's, or its root key is wrong.
            let root = self
                .bundle
                .root()
                .map(|r| r.fingerprint().to_string())
                .unwrap_or_else(|_| "unreadable".into());
            self.warnings.push(format!(
                "none of the {} entries of the relay's directory chains to the network root pinned in your bundle (root key fingerprint {root}): you can reach nobody. The bundle may be another network's, or its root key wrong. Ask your authority for the network's bundle, compare its root fingerprint with the one they give you, and make a new home with it (`liaison init --help` says how)",
                self.directory_log.size()
            ));
        }
        self.reconcile_contacts()
    }

    /// Compare the directory with what was remembered of each contact and
    /// of our own record; keep the changes as warnings.
    fn reconcile_contacts(&mut self) -> Result<()> {
        let mut contacts = self.contacts()?;
        let changes = contacts::reconcile(
            &mut contacts,
            &self.directory,
            &self.profile.id,
            &self.identity.public_key(),
            &self.own_devices()?,
            self.now(),
        );
        self.warnings
            .extend(changes.iter().map(ToString::to_string));
        let mut w = self.home.write()?;
        w.put_secret("contacts", &contacts)?;
        w.remove(Table::Secrets, LEGACY_DIRECTORY_CACHE.as_bytes())?;
        w.commit()?;
        Ok(())
    }

    /// Fetch, prove and apply the directory log entries up to the held
    /// directory checkpoint, committing each batch to the home.
    async fn fetch_directory_log(&mut self) -> Result<()> {
        let Some(note) = self.checkpoint(LogId::Directory)? else {
            return Ok(());
        };
        let base = logs::base_policy(&self.bundle, LogId::Directory)?;
        let signed = logs::open(&base, &note)?;
        let cp = signed.checkpoint();
        while let Some((start, count)) = self.directory_log.next_batch(cp) {
            let served = self.conn()?.entries(LogId::Directory, start, count).await?;
            let mut batch = Vec::with_capacity(served.len());
            for (i, e) in served.into_iter().enumerate() {
                match e {
                    liaison_protocol::frames::LogEntry::Directory(bytes) => batch.push(bytes),
                    _ => {
                        let error = crate::core::directory::BatchError::Malformed {
                            index: start + i as u64,
                            error: "the relay served an event log entry instead".into(),
                        };
                        return Err(directory_log::record_mismatch(
                            self.home.dir(),
                            error,
                            &note,
                            start,
                            &batch,
                            self.now(),
                        )
                        .into());
                    }
                }
            }
            // A refused proof is passed on as the relay's refusal (it may be
            // busy); a proof that does not verify is an inconsistency.
            let proof = match self.directory_log.proof_from(batch.len(), cp) {
                Some(end) => Some(
                    self.conn()?
                        .consistency(LogId::Directory, end, cp.size())
                        .await?,
                ),
                None => None,
            };
            let mut next = self.directory_log.clone();
            if let Err(error) = next.extend(&batch, cp, proof.as_deref()) {
                return Err(directory_log::record_mismatch(
                    self.home.dir(),
                    error,
                    &note,
                    start,
                    &batch,
                    self.now(),
                )
                .into());
            }
            let mut w = self.home.write()?;
            directory_log::store(&mut w, &next, start, &batch)?;
            w.commit()?;
            self.directory_log = next;
        }
        Ok(())
    }

    /// Turn what the relay served outside its signed log into problems,
    /// warnings and evidence files.
    fn report_served(
        &mut self,
        found: &[Served],
        records: &[Signed<FocalPointRecord>],
        pending: bool,
        waited: Duration,
    ) -> Result<()> {
        let note = self.checkpoint(LogId::Directory)?;
        let mut problems = Vec::new();
        for s in found {
            let id = s.id();
            if let Served::Invalid { problem, .. } = s {
                self.warnings.push(format!(
                    "the relay served a record for {id} that does not verify ({problem}); it is \
                     not used. The relay may be substituting keys: report this to your authority"
                ));
                problems.push((id, problem.clone(), false));
                continue;
            }
            if pending && let Served::NotInLog { version, .. } = s {
                let why = format!(
                    "the relay served version {version} of {id}, but no checkpoint of its \
                     directory log covers it yet (waited {} s); it is not used until one does: \
                     run `liaison sync` again in a minute, and report it to your authority if \
                     this lasts",
                    waited.as_secs()
                );
                self.warnings.push(why.clone());
                problems.push((id, why, true));
                continue;
            }
            let held = DirectoryId::parse(&id)
                .ok()
                .and_then(|i| self.directory_log.state().signed_record(&i).cloned());
            let record = records.iter().find(|r| {
                r.decode_unverified().is_ok_and(|v| v.id.as_str() == id)
                    && Some(*r) != held.as_ref()
            });
            let evidence = directory_log::save_evidence(
                self.home.dir(),
                s,
                record,
                held.as_ref(),
                note.as_deref(),
                self.now(),
            );
            let why = match evidence {
                Ok(path) => format!(
                    "{}. Evidence kept in {}; report it to your authority",
                    s.describe(),
                    path.display()
                ),
                Err(e) => format!(
                    "{}. The evidence could NOT be saved ({e}); report this to your authority",
                    s.describe()
                ),
            };
            tracing::warn!(id = %id, kind = s.kind(), "the relay served a directory record outside its signed log");
            self.warnings.push(why.clone());
            problems.push((id, why, true));
        }
        self.served_problems = problems;
        Ok(())
    }

    /// Add a warning for the user.
    pub(crate) fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// Warnings gathered since the last call (key changes, new devices,
    /// alerts about our own record): show them to the user.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// What is remembered about every contact.
    pub fn contacts(&self) -> Result<contacts::Contacts> {
        Ok(self.home.get_secret("contacts")?.unwrap_or_default())
    }

    /// The person was told about `id`'s new devices: stop announcing them.
    /// Returns how many there were.
    pub fn note_new_devices(&mut self, id: &DirectoryId) -> Result<usize> {
        let mut all = self.contacts()?;
        let c = all
            .get_mut(id.as_str())
            .ok_or_else(|| RecipientError::NoContact(id.clone()))?;
        let n = std::mem::take(&mut c.new_devices).len();
        if n > 0 {
            let mut w = self.home.write()?;
            w.put_secret("contacts", &all)?;
            w.commit()?;
        }
        Ok(n)
    }

    /// Our own devices: this one and those we approved.
    pub fn own_devices(&self) -> Result<Vec<PublicKey>> {
        let mut v: Vec<PublicKey> = self.home.get_secret("own-devices")?.unwrap_or_default();
        if !v.contains(&self.device.signing_key()) {
            v.push(self.device.signing_key());
        }
        Ok(v)
    }

    /// The safety number with contact `id` (from the verified directory).
    pub fn safety_number(&self, id: &DirectoryId) -> Result<String> {
        let rec = self
            .directory
            .record(id)
            .ok_or_else(|| RecipientError::NotInDirectory(id.clone(), self.near_ids(id)))?;
        Ok(liaison_protocol::keys::safety_number(
            self.profile.id.as_str(),
            &self.identity.public_key(),
            rec.id.as_str(),
            &rec.identity_key,
        ))
    }

    /// Mark `id` verified in person if `compared` (as read out by the
    /// contact) equals our safety number; accepts a pending key change.
    pub fn verify_contact(&mut self, id: &DirectoryId, compared: &str) -> Result<()> {
        let ours = self.safety_number(id)?;
        if contacts::normalize_safety_number(&ours) != contacts::normalize_safety_number(compared) {
            return Err(RecipientError::SafetyNumbersDiffer(id.clone()).into());
        }
        let rec = self
            .directory
            .record(id)
            .cloned()
            .ok_or_else(|| RecipientError::NotInDirectory(id.clone(), self.near_ids(id)))?;
        let mut all = self.contacts()?;
        let c = all
            .entry(id.to_string())
            .or_insert_with(|| contacts::ContactState {
                identity_key: rec.identity_key,
                devices: rec.devices.iter().map(|d| d.signing).collect(),
                version: rec.version,
                verified_in_person: false,
                key_changed: None,
                new_devices: Vec::new(),
                first_seen: self.now(),
            });
        c.identity_key = rec.identity_key;
        c.key_changed = None;
        c.verified_in_person = true;
        let mut w = self.home.write()?;
        w.put_secret("contacts", &all)?;
        w.commit()?;
        self.release_held(id)?;
        Ok(())
    }

    /// Accept a contact's changed identity key without in-person
    /// verification (it stays unverified).
    pub fn accept_contact_key(&mut self, id: &DirectoryId) -> Result<()> {
        let mut all = self.contacts()?;
        let c = all
            .get_mut(id.as_str())
            .ok_or_else(|| RecipientError::NoContact(id.clone()))?;
        match c.key_changed.take() {
            Some(k) => c.identity_key = k,
            None => return Err(RecipientError::KeyNotChanged(id.clone()).into()),
        }
        // The devices that came with the new identity were accepted with
        // it: they are not announced again.
        c.new_devices.clear();
        let mut w = self.home.write()?;
        w.put_secret("contacts", &all)?;
        w.commit()?;
        self.release_held(id)?;
        Ok(())
    }

    /// Open the messages held because `id`'s identity key had changed, now
    /// that the user accepted the key: each is verified again against the
    /// current record and stored as received; their delivery receipts are
    /// owed (they go at the next sync). Returns how many were released.
    pub fn release_held(&mut self, id: &DirectoryId) -> Result<usize> {
        let Some(sender) = self.directory.record(id).cloned() else {
            return Ok(0);
        };
        let held: Vec<StoredMessage> = self
            .home
            .all::<StoredMessage>(Table::Messages)?
            .into_iter()
            .map(|(_, m)| m)
            .filter(|m| {
                !m.verified
                    && m.from == id.as_str()
                    && !m.signed_payload.is_empty()
                    && m.error
                        .as_deref()
                        .is_some_and(|e| e.starts_with(crate::core::message::HELD))
            })
            .collect();
        let me = self.profile.id.clone();
        let mut released = Vec::new();
        let mut cases = self.case_book()?;
        let mut cases_changed = false;
        let mut requests = self.request_book()?;
        let mut requests_changed = false;
        let mut w = self.home.write()?;
        for m in held {
            let Ok(signed) = SignedPayload::decode(&m.signed_payload) else {
                continue;
            };
            let Ok(claimed) = signed.decode_unverified() else {
                continue;
            };
            let directory = &self.directory;
            let Ok(payload) =
                verify_payload(&signed, &sender, &claimed.sender_device, &m.id, |to| {
                    *to == me || directory.role(to).is_some_and(|r| r.holders.contains(&me))
                })
            else {
                continue;
            };
            let mut msg = StoredMessage::received(&payload, m.signed_payload.clone(), m.stored_at);
            let fx = open_content(&self.directory, &self.home, &me, &mut msg, &payload)?;
            cases_changed |= self.case_rules_in(&mut cases, &mut msg, &payload);
            requests_changed |= self.request_rules_in(&mut requests, &mut msg, &payload);
            w.put(Table::Messages, &msg.id.0, &msg)?;
            for (k, r) in &fx.receipts {
                w.put(Table::Receipts, k, r)?;
            }
            for c in &fx.consents {
                w.put(Table::Consents, &c.request_id, c)?;
            }
            released.push(msg);
        }
        if cases_changed {
            Self::keep_case_book(&mut w, &cases)?;
        }
        if requests_changed {
            Self::keep_request_book(&mut w, &requests)?;
        }
        self.owe_receipts(&mut w, &released, |_| {
            liaison_protocol::consent::ReceiptKind::Delivered
        })?;
        w.commit()?;
        Ok(released.len())
    }

    async fn replenish_prekeys(&mut self) -> Result<()> {
        let (count, fallback) = self.conn()?.prekey_count().await?;
        if count >= PREKEY_LOW_WATER && fallback {
            return Ok(());
        }
        let want = PREKEY_TARGET.saturating_sub(count as usize);
        let prekeys = self.device.new_prekeys(want, !fallback);
        // Persist the private halves before the public halves leave.
        let mut w = self.home.write()?;
        w.put_secret("account", &self.device.pickle()?)?;
        w.commit()?;
        self.conn()?.call(&Request::UploadPrekeys(prekeys)).await?;
        Ok(())
    }

    fn load_sessions(&self, device: &PublicKey) -> Result<Vec<Session>> {
        let pickles: Vec<String> = self
            .home
            .get(Table::Sessions, &device.0)?
            .unwrap_or_default();
        Ok(olm::unpickle_sessions(&pickles)?)
    }

    /// The ids of the verified directory (focal points and roles) closest
    /// to `id`, for a "did you mean" (see [`crate::core::spelling`]).
    pub fn near_ids(&self, id: &DirectoryId) -> Vec<DirectoryId> {
        let known = self
            .directory
            .records()
            .map(|r| r.id.as_str())
            .chain(self.directory.roles().map(|r| r.id.as_str()));
        crate::core::spelling::closest(id.as_str(), known)
            .iter()
            .filter_map(|s| DirectoryId::parse(s).ok())
            .collect()
    }

    /// Resolve recipients (focal points or roles) to active, verified
    /// records, deduplicated. Refuses, saying why, anything that is not in
    /// the verified directory.
    pub fn resolve(&self, to: &[DirectoryId]) -> Result<Vec<FocalPointRecord>> {
        let now = self.now();
        let mut out: Vec<FocalPointRecord> = Vec::new();
        for id in to {
            if self.directory.record(id).is_none() && self.directory.role(id).is_none() {
                if let Some((_, why, _)) = self
                    .served_problems
                    .iter()
                    .find(|(p, _, relay)| *relay && p == id.as_str())
                {
                    return Err(RecipientError::NotInLog {
                        id: id.clone(),
                        problem: why.clone(),
                    }
                    .into());
                }
                let problem = self
                    .directory_problems
                    .iter()
                    .find(|p| p.split(':').next() == Some(id.as_str()));
                if let Some(p) = problem {
                    return Err(RecipientError::EntryInvalid {
                        id: id.clone(),
                        problem: p.split_once(": ").map(|x| x.1).unwrap_or(p).to_owned(),
                    }
                    .into());
                }
                return Err(RecipientError::Unknown(id.clone(), self.near_ids(id)).into());
            }
            let reached = self.directory.resolve(id, now);
            if reached.is_empty() {
                return Err(RecipientError::NotActive(id.clone()).into());
            }
            for r in reached {
                if !out.iter().any(|o| o.id == r.id) {
                    out.push(r.clone());
                }
            }
        }
        Ok(out)
    }

    /// Encrypt and send a message; returns once the relay has durably
    /// accepted it.
    pub async fn send(
        &mut self,
        to: &[DirectoryId],
        text: &str,
        handling: Handling,
    ) -> Result<MessageId> {
        self.send_in(to, text, handling, None).await
    }

    /// Like [`Client::send`], in an existing conversation.
    pub async fn send_in(
        &mut self,
        to: &[DirectoryId],
        text: &str,
        handling: Handling,
        conversation: Option<ConversationId>,
    ) -> Result<MessageId> {
        self.send_outgoing(to, Outgoing::text(text, handling, conversation))
            .await
    }

    /// Send with faults injected. Only for tests that play a misbehaving
    /// sender or network.
    #[cfg(feature = "test-hooks")]
    pub async fn send_with_faults(
        &mut self,
        to: &[DirectoryId],
        text: &str,
        handling: Handling,
        conversation: Option<ConversationId>,
        mut faults: Faults,
    ) -> Result<MessageId> {
        let mut out = Outgoing::text(text, handling, conversation);
        if let Some(content) = faults.content.take() {
            out.content = content;
        }
        if let Some(declare) = faults.declare.take() {
            out.declare = declare;
        }
        self.compose_and_submit(to, out, &mut faults).await
    }

    /// Sign, encrypt to every device of every recipient, keep durably and
    /// submit.
    pub(crate) async fn send_outgoing(
        &mut self,
        to: &[DirectoryId],
        out: Outgoing,
    ) -> Result<MessageId> {
        self.compose_and_submit(
            to,
            out,
            #[cfg(feature = "test-hooks")]
            &mut Faults::default(),
        )
        .await
    }

    async fn compose_and_submit(
        &mut self,
        to: &[DirectoryId],
        mut out: Outgoing,
        #[cfg(feature = "test-hooks")] faults: &mut Faults,
    ) -> Result<MessageId> {
        self.flush_outbox().await?;
        let message_id = MessageId(random()?);
        self.sending = Some(message_id);
        let keep_consent = out.keep_consent.take();
        let grants: Vec<[u8; 32]> = out.attachments.iter().map(|a| a.blob).collect();
        let (composed, contacts, declare) = self.prepare(to, out, message_id)?;
        let Composed {
            payload,
            signed: signed_payload,
            devices,
        } = composed;
        #[cfg_attr(not(feature = "test-hooks"), allow(unused_mut))]
        let mut plaintext = zeroize::Zeroizing::new(signed_payload.clone());
        #[cfg(feature = "test-hooks")]
        if let Some(f) = faults.alter_signed_payload.as_mut() {
            f(&mut plaintext);
        }
        #[cfg_attr(not(feature = "test-hooks"), allow(unused_mut))]
        let (mut envelopes, sessions) = self.encrypt_to(&devices, &plaintext, message_id).await?;
        #[cfg(feature = "test-hooks")]
        if let Some(f) = faults.alter_envelope.as_mut() {
            envelopes.iter_mut().for_each(f);
        }
        // Ratchet state, outbox and our copy become durable together before
        // anything leaves, so a crash can never reuse a message key.
        let stored = StoredMessage::outgoing(&payload, signed_payload);
        let item = OutboxItem {
            message_id,
            envelopes,
            declare,
        };
        let mut w = self.home.write()?;
        self.keep_own_case_change(&mut w, &payload, stored.payload_hash)?;
        self.keep_own_request_step(&mut w, &payload, message_id)?;
        self.keep_outbox_item(&mut w, &item, &sessions)?;
        w.put(Table::Messages, &message_id.0, &stored)?;
        w.put_secret("contacts", &contacts)?;
        if let Some(rec) = &keep_consent {
            w.put(Table::Consents, &rec.request_id, rec)?;
        }
        self.owe_grants(&mut w, message_id, &grants)?;
        w.commit()?;
        self.submit(&item).await?;
        Ok(message_id)
    }

    /// Check the recipients against the directory held, sign the payload
    /// and list the devices to encrypt it to. Returns the contacts with the
    /// new devices announced (to keep with the message) and the
    /// declarations for the relay's event log.
    pub(crate) fn prepare(
        &mut self,
        to: &[DirectoryId],
        out: Outgoing,
        message_id: MessageId,
    ) -> Result<(Composed, contacts::Contacts, Vec<Declaration>)> {
        let Outgoing {
            text,
            handling,
            conversation,
            content,
            declare,
            attachments,
            ..
        } = out;
        if to.is_empty() {
            return Err(RecipientError::NoRecipient.into());
        }
        let records = self.resolve(to)?;
        let mut all = self.contacts()?;
        for r in &records {
            if let Some(c) = all.get_mut(r.id.as_str()) {
                if c.key_changed.is_some() {
                    return Err(RecipientError::KeyChanged(r.id.clone()).into());
                }
                for d in c.new_devices.drain(..) {
                    self.warnings.push(format!(
                        "encrypting also to the new device {} of {}",
                        d.fingerprint(),
                        r.id
                    ));
                }
            }
        }
        let conversation = match conversation {
            Some(c) => c,
            None => ConversationId(random()?),
        };
        let composed = compose(Draft {
            sender: &self.profile.id,
            identity: &self.identity,
            device: self.device.signing_key(),
            to,
            records: &records,
            message_id,
            conversation,
            now: self.now(),
            handling,
            text,
            content,
            attachments,
            checkpoints: self.checkpoint_notes()?,
        })?;
        Ok((composed, all, declare))
    }

    /// Encrypt `plaintext` to each of `devices`, claiming a prekey from the
    /// relay for a device without a session. Returns the envelopes and the
    /// advanced sessions, to keep before anything leaves.
    pub(crate) async fn encrypt_to(
        &mut self,
        devices: &[(DirectoryId, DeviceKeys)],
        plaintext: &[u8],
        message_id: MessageId,
    ) -> Result<(Vec<Envelope>, BTreeMap<PublicKey, Vec<Session>>)> {
        let mut envelopes = Vec::new();
        let mut changed: BTreeMap<PublicKey, Vec<Session>> = BTreeMap::new();
        for (owner, dev) in devices {
            let mut sessions = self.load_sessions(&dev.signing)?;
            if sessions.is_empty() {
                let claim = Request::ClaimPrekey {
                    device: dev.signing,
                };
                let prekey = match self.conn()?.claim_prekey(&claim).await {
                    Ok(p) => p,
                    Err(error) => {
                        return Err(ClientError::PrekeyClaim {
                            device: dev.signing.fingerprint().to_string(),
                            id: owner.clone(),
                            error,
                        });
                    }
                };
                if prekey.device != dev.signing {
                    return Err(ClientError::WrongPrekey(owner.clone()));
                }
                sessions.push(self.device.outbound(dev.agreement, &prekey)?);
            }
            let session = sessions.first_mut().ok_or(olm::OlmError::Encrypt(
                "no session with the device".to_owned(),
            ))?;
            let (kind, ciphertext) = olm::encrypt(session, plaintext)?;
            envelopes.push(Envelope {
                message_id,
                sender_device: self.device.signing_key(),
                recipient_device: dev.signing,
                kind,
                ciphertext,
            });
            changed.insert(dev.signing, sessions);
        }
        Ok((envelopes, changed))
    }

    /// Add to the write `w` the advanced sessions, the outbox item and the
    /// events to watch for it.
    pub(crate) fn keep_outbox_item(
        &self,
        w: &mut HomeTxn<'_>,
        item: &OutboxItem,
        sessions: &BTreeMap<PublicKey, Vec<Session>>,
    ) -> Result<()> {
        for (dev, sessions) in sessions {
            w.put(Table::Sessions, &dev.0, &olm::pickle_sessions(sessions)?)?;
        }
        let sent: Vec<(PublicKey, u64)> = item
            .envelopes
            .iter()
            .map(|e| (e.recipient_device, e.ciphertext.len() as u64))
            .collect();
        let mut watched = self.watched()?;
        watched.insert(
            item.message_id,
            Expected::sent(self.device.signing_key(), &sent),
        );
        w.put(Table::Outbox, &item.message_id.0, item)?;
        w.put_secret(WATCHED, &watched)?;
        Ok(())
    }

    async fn submit(&mut self, item: &OutboxItem) -> Result<()> {
        let req = Request::Send {
            message_id: item.message_id,
            envelopes: item.envelopes.clone(),
            declare: item.declare.clone(),
        };
        match self.conn()?.submit(&req).await {
            Ok((accepted, _)) if accepted == item.message_id => {}
            Ok((accepted, _)) => {
                return Err(ClientError::WrongAcknowledgement {
                    sent: item.message_id,
                    acked: accepted,
                });
            }
            Err(LinkError::Refused(e)) => {
                if !e.code.is_retryable() {
                    // Not retryable: drop it from the outbox so it does not block.
                    let mut w = self.home.write()?;
                    w.remove(Table::Outbox, &item.message_id.0)?;
                    w.commit()?;
                }
                return Err(ClientError::RelayRefused {
                    what: Refused::Message(item.message_id),
                    error: e,
                });
            }
            Err(error) => {
                return Err(ClientError::NotConfirmed {
                    id: item.message_id,
                    error,
                });
            }
        }
        let mut w = self.home.write()?;
        w.remove(Table::Outbox, &item.message_id.0)?;
        if let Some(mut m) = self
            .home
            .get::<StoredMessage>(Table::Messages, &item.message_id.0)?
        {
            m.accepted = true;
            m.stored_at = self.now();
            w.put(Table::Messages, &item.message_id.0, &m)?;
        }
        w.commit()?;
        Ok(())
    }

    /// Retry every message whose acceptance was not confirmed. The same
    /// envelope bytes are resent; the relay deduplicates by message id.
    pub async fn flush_outbox(&mut self) -> Result<usize> {
        self.encrypt_unsent().await?;
        let items: Vec<(Vec<u8>, OutboxItem)> = self.home.all(Table::Outbox)?;
        let n = items.len();
        for (_, item) in items {
            self.submit(&item).await?;
        }
        Ok(n)
    }

    /// Messages still waiting for the relay's acceptance.
    pub fn outbox_len(&self) -> Result<usize> {
        Ok(self.home.all::<OutboxItem>(Table::Outbox)?.len() + self.unsent_len()?)
    }

    /// Process one queued envelope: decrypt, verify and store it. Does not
    /// acknowledge it to the relay.
    pub fn process(&mut self, q: &Queued) -> Result<Received> {
        let env = &q.envelope;
        if self.home.contains(Table::Messages, &env.message_id.0)? {
            return Ok(Received::Duplicate(env.message_id));
        }
        let (sender, sessions, plaintext) = match self.decrypt_envelope(env, q.accepted_at) {
            Ok(opened) => opened,
            Err(reason) => {
                // Reload the account: a failed attempt must not leave
                // half-applied state in memory.
                if let Some(p) = self.home.get_secret::<String>("account")? {
                    self.device = Device::from_pickle(&p)?;
                }
                let mut w = self.home.write()?;
                let r = self.store_rejected(&mut w, q, reason)?;
                w.commit()?;
                return Ok(r);
            }
        };
        // Decrypted: the Olm state moved on (a new inbound session, a
        // ratchet step) and is kept whatever the payload turns out to be,
        // so that the sender's next messages still decrypt.
        let mut w = self.home.write()?;
        w.put(
            Table::Sessions,
            &env.sender_device.0,
            &olm::pickle_sessions(&sessions)?,
        )?;
        w.put_secret("account", &self.device.pickle()?)?;
        match self.verify_envelope(env, &sender, &plaintext, Timestamp(q.accepted_at)) {
            Ok((msg, fx)) => {
                w.put(Table::Messages, &msg.id.0, &msg)?;
                let mut watched = self.watched()?;
                watched.insert(
                    msg.id,
                    Expected::received(
                        self.device.signing_key(),
                        env.sender_device,
                        env.ciphertext.len() as u64,
                    ),
                );
                w.put_secret(WATCHED, &watched)?;
                for (k, r) in &fx.receipts {
                    w.put(Table::Receipts, k, r)?;
                }
                for c in &fx.consents {
                    w.put(Table::Consents, &c.request_id, c)?;
                }
                if let Some(book) = &fx.cases {
                    Self::keep_case_book(&mut w, book)?;
                }
                if let Some(book) = &fx.requests {
                    Self::keep_request_book(&mut w, book)?;
                }
                for (key, item) in self.handover_items(&msg)? {
                    if !self.home.contains(Table::Messages, &key)? {
                        w.put(Table::Messages, &key, &item)?;
                    }
                }
                w.commit()?;
                Ok(Received::Message(Box::new(msg)))
            }
            Err(reason) => {
                let r = self.store_rejected(&mut w, q, reason)?;
                w.commit()?;
                Ok(r)
            }
        }
    }

    /// Keep the record of a rejected envelope in `w`. It is stored under a
    /// key the relay cannot choose (the hash of the whole envelope), never
    /// under the envelope's message id: otherwise a relay could send a
    /// forged envelope with the id of a genuine message still to come, and
    /// the genuine one would then be taken for a duplicate and dropped.
    fn store_rejected(
        &self,
        w: &mut crate::home::HomeTxn<'_>,
        q: &Queued,
        reason: ClientError,
    ) -> Result<Received> {
        let env = &q.envelope;
        let reason = liaison_net::tool::chain(&reason);
        let from = self
            .directory
            .device_owner(&env.sender_device)
            .map(|r| r.id.to_string())
            .unwrap_or_else(|| format!("device {}", env.sender_device.fingerprint()));
        let record = StoredMessage::rejected(
            env.message_id,
            from,
            &self.profile.id,
            Timestamp(q.accepted_at),
            self.now(),
            reason.clone(),
        );
        w.put(Table::Messages, &rejected_key(env), &record)?;
        Ok(Received::Rejected {
            id: env.message_id,
            reason,
        })
    }

    /// The messages inside a verified handover package, each with the home
    /// key it is kept under: its own id when [`handover::check_item`] takes
    /// it as verified, a key of its own ([`handover::apart_key`]) when it is
    /// kept apart as unverified, with the reason.
    fn handover_items(&self, package: &StoredMessage) -> Result<Vec<(Vec<u8>, StoredMessage)>> {
        let Ok(payload) = SignedPayload::decode(&package.signed_payload).and_then(|s| {
            s.decode_unverified()
                .map_err(|_| liaison_protocol::DecodeError::Malformed)
        }) else {
            return Ok(Vec::new());
        };
        let Content::Handover { role, messages } = payload.content else {
            return Ok(Vec::new());
        };
        let now = self.now();
        let ctx = handover::Receiving {
            role: &role,
            sender: &payload.sender,
            me: &self.profile.id,
            record: self.directory.role(&role),
            now,
        };
        let mut out = Vec::new();
        for bytes in messages {
            let Ok(signed) = SignedPayload::decode(&bytes) else {
                continue;
            };
            let Ok(claimed) = signed.decode_unverified() else {
                continue;
            };
            let check = handover::check_item(
                &ctx,
                &claimed,
                &signed,
                self.directory.record(&claimed.sender),
            );
            let key = match &check {
                Ok(()) => claimed.message_id.0.to_vec(),
                Err(_) => handover::apart_key(package.id, claimed.message_id).to_vec(),
            };
            let item = StoredMessage::handed_over(
                claimed,
                bytes,
                &payload.sender,
                check.map_err(|e| e.to_string()),
                now,
            );
            out.push((key, item));
        }
        Ok(out)
    }

    /// Hand the messages addressed to `role` over to `to`, a current holder
    /// of the role, in one signed, encrypted package: those that show this
    /// focal point held the role ([`handover::plan`]). Refused before
    /// anything is encrypted unless `to` holds the role now and this focal
    /// point is shown to have held it. Returns the package's message id and
    /// how many messages it carries.
    pub async fn send_handover(
        &mut self,
        role: &DirectoryId,
        to: &DirectoryId,
    ) -> Result<(MessageId, usize)> {
        let all = self.messages()?;
        let held: Vec<(Payload, Vec<u8>)> = all
            .into_iter()
            // Handed-over messages too: the next holder's client checks
            // each item again.
            .filter(|m| m.verified && !m.signed_payload.is_empty())
            .filter_map(|m| {
                let p = SignedPayload::decode(&m.signed_payload)
                    .ok()?
                    .decode_unverified()
                    .ok()?;
                Some((p, m.signed_payload))
            })
            .collect();
        let items: Vec<Vec<u8>> = handover::plan(
            role,
            self.directory.role(role),
            &self.profile.id,
            to,
            self.now(),
            held.iter().map(|(p, b)| (p, b.as_slice())),
        )?
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
        let n = items.len();
        let text = format!("Handover of role {role}: {n} message(s) addressed to the role.");
        let content = Content::Handover {
            role: role.clone(),
            messages: items,
        };
        let id = self
            .send_outgoing(
                std::slice::from_ref(to),
                Outgoing::content(&text, Handling::default(), content),
            )
            .await?;
        Ok((id, n))
    }

    /// Decrypt `env` with the Olm session state of its sending device: the
    /// sender's record, the sessions after decryption and the plaintext.
    ///
    /// A device no longer in the directory because its record was revoked,
    /// the device removed or the identity replaced is taken as the
    /// sender's if the relay accepted the envelope (`accepted_at`, the
    /// relay's clock) before then, by the record in force then
    /// ([`Revocation::in_force_before`]).
    fn decrypt_envelope(
        &mut self,
        env: &Envelope,
        accepted_at: u64,
    ) -> Result<(FocalPointRecord, Vec<Session>, zeroize::Zeroizing<Vec<u8>>)> {
        if env.recipient_device != self.device.signing_key() {
            return Err(ReceiveError::OtherDevice.into());
        }
        let sender = match self.directory.device_owner(&env.sender_device) {
            Some(r) => r.clone(),
            None => self
                .directory_log
                .retirements_of_device(&env.sender_device)
                .find_map(|r| r.in_force_before(&env.sender_device, Timestamp(accepted_at)))
                .cloned()
                .ok_or_else(|| self.unknown_sender(&env.sender_device, accepted_at))?,
        };
        let agreement = sender
            .devices
            .iter()
            .find(|d| d.signing == env.sender_device)
            .map(|d| d.agreement)
            .ok_or(ReceiveError::DeviceNotInRecord)?;
        let mut sessions = self.load_sessions(&env.sender_device)?;
        let plaintext = zeroize::Zeroizing::new(
            self.device
                .decrypt(agreement, env.kind, &env.ciphertext, &mut sessions)
                .map_err(|_| ReceiveError::Decrypt)?,
        );
        Ok((sender, sessions, plaintext))
    }

    /// Verify a decrypted payload against its sender's record and open its
    /// content. A payload signed by a contact whose identity key changed
    /// since the user last accepted it is held (not verified, content
    /// hidden, no side effects) until the user accepts or verifies the new
    /// key, exactly as sending to that contact is held.
    fn verify_envelope(
        &self,
        env: &Envelope,
        sender: &FocalPointRecord,
        plaintext: &[u8],
        accepted_at: Timestamp,
    ) -> Result<(StoredMessage, crate::core::records::SideEffects)> {
        let signed = SignedPayload::decode(plaintext).map_err(ReceiveError::Malformed)?;
        let me = self.profile.id.clone();
        let directory = &self.directory;
        let payload = verify_payload(&signed, sender, &env.sender_device, &env.message_id, |id| {
            *id == me || directory.role(id).is_some_and(|r| r.holders.contains(&me))
        })
        .map_err(|error| ReceiveError::Payload {
            from: sender.id.clone(),
            error,
        })?;
        let mut msg = StoredMessage::received(&payload, plaintext.to_vec(), accepted_at);
        if self
            .contacts()?
            .get(sender.id.as_str())
            .is_some_and(|c| c.key_changed == Some(sender.identity_key))
        {
            msg.verified = false;
            msg.error = Some(self.held_reason(&sender.id));
            return Ok((msg, crate::core::records::SideEffects::default()));
        }
        let mut fx = crate::core::open::open_content_by(
            &self.directory,
            &self.home,
            &me,
            &mut msg,
            &payload,
            Some(sender),
        )?;
        fx.cases = self.case_rules(&mut msg, &payload)?;
        fx.requests = self.request_rules(&mut msg, &payload)?;
        Ok((msg, fx))
    }

    /// Why a sending device is not taken: unknown, or its record revoked
    /// before the relay accepted the message.
    fn unknown_sender(&self, device: &PublicKey, accepted_at: u64) -> ClientError {
        let Some(r) = self.directory_log.retirements_of_device(device).last() else {
            return ReceiveError::UnknownDevice(device.fingerprint().to_string()).into();
        };
        if !r.revokes_record() {
            return ReceiveError::SentAfterRemoval {
                id: r.revoked.id.clone(),
                replaced: r.revoked.identity_key != r.before.identity_key,
                removed_at: r.at(),
                accepted_at: Timestamp(accepted_at),
            }
            .into();
        }
        ReceiveError::SentAfterRevocation {
            id: r.revoked.id.clone(),
            revoked_at: r.at(),
            reason: r.reason().to_owned(),
            accepted_at: Timestamp(accepted_at),
        }
        .into()
    }

    /// The note shown with a received message whose sender's record was
    /// revoked after the relay accepted it: it was judged by the record in
    /// force then.
    pub fn revocation_note(&self, m: &StoredMessage) -> Option<String> {
        if m.direction != Direction::In || !m.verified {
            return None;
        }
        let id = DirectoryId::parse(&m.from).ok()?;
        if let Some(r) = self.directory_log.revocation(&id)
            && let Some(at) = r.at()
            && m.stored_at < at
        {
            return Some(format!(
                "sent before {id}'s device was revoked on {} ({})",
                at.to_rfc3339(),
                r.reason()
            ));
        }
        // Sent from a device since dropped from the record.
        let device = SignedPayload::decode(&m.signed_payload)
            .ok()?
            .decode_unverified()
            .ok()?
            .sender_device;
        let r = self.directory_log.removal_of_device(&device)?;
        let at = r.at()?;
        (m.stored_at < at).then(|| {
            if r.revoked.identity_key != r.before.identity_key {
                format!(
                    "sent before {id}'s identity was replaced on {}: judged by the record in force then",
                    at.to_rfc3339()
                )
            } else {
                format!(
                    "sent from a device that {id}'s authority removed on {}, before the removal: \
                     judged by the record in force then",
                    at.to_rfc3339()
                )
            }
        })
    }

    /// Why a message from `id` is held, and the commands that release it.
    fn held_reason(&self, id: &DirectoryId) -> String {
        let home = liaison_protocol::shell::quote_path(self.home.dir());
        let held = crate::core::message::HELD;
        format!(
            "{held}: {id}'s identity key changed since you last accepted it. Compare \
             safety numbers with them (`liaison --home {home} safety-number {id}`), then run \
             `liaison --home {home} contacts verify {id} --safety-number \"...\"` (the number \
             they read to you in place of the dots) or `liaison --home {home} contacts accept \
             {id}` to read it"
        )
    }

    /// Acknowledge queued envelopes (by sequence number) to the relay.
    pub(crate) async fn ack(&self, seqs: Vec<u64>) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.conn()?.call(&Request::Ack { seqs }).await?;
        Ok(())
    }

    /// Retry the outbox, then fetch, verify, store and acknowledge every
    /// pending envelope.
    pub async fn sync(&mut self) -> Result<SyncReport> {
        let mut report = SyncReport {
            flushed: self.flush_outbox().await?,
            ..SyncReport::default()
        };
        self.flush_grants().await?;
        report.destroyed = self.enforce_retention().await?;
        let mut after = 0u64;
        loop {
            let (items, more) = self.conn()?.fetch(after, 256).await?;
            let mut seqs = Vec::with_capacity(items.len());
            for q in &items {
                after = after.max(q.seq);
                let r = self.process(q)?;
                Self::record(r, &mut report);
                seqs.push(q.seq);
            }
            self.ack(seqs).await?;
            if !more || items.is_empty() {
                break;
            }
        }
        // Compare the histories our peers saw with ours.
        let received: Vec<Vec<u8>> = report
            .received
            .iter()
            .map(|m| m.signed_payload.clone())
            .collect();
        for bytes in received {
            if let Err(e) = self.check_payload_view(&bytes).await {
                report.forks.push(liaison_net::tool::chain(&e));
            }
        }
        // Automatic delivery receipts to the senders of what arrived, and
        // every receipt still owed from before. One that cannot go now
        // (rate limit, relay busy) stays owed in the home and must not fail
        // the sync: what arrived is stored; the user is told.
        let received = report.received.clone();
        if let Err(e) = self
            .send_receipts(&received, |_| {
                liaison_protocol::consent::ReceiptKind::Delivered
            })
            .await
        {
            self.warnings.push(format!(
                "some receipts are kept and go at the next sync: {}",
                liaison_net::tool::chain(&e)
            ));
        }
        // Requests of ours that nobody acknowledged in time go on to the
        // next addressee (each escalation gives its own alert).
        if let Err(e) = self.escalate_overdue().await {
            self.warnings.push(format!(
                "your overdue requests could not be escalated now ({}); the next sync tries again",
                liaison_net::tool::chain(&e)
            ));
        }
        if report.forks.is_empty() {
            self.sync_checkpoints().await?;
            // The relay's newest checkpoints were obtained just now.
            let checkpoint_at = self.now();
            report.log_omissions = self
                .verify_pending_logs(256, checkpoint_at)
                .await?
                .iter()
                .map(ToString::to_string)
                .collect();
            self.verify_receipt_events().await?;
        }
        Ok(report)
    }

    /// Check the checkpoints a received payload carries against our view.
    pub(crate) async fn check_payload_view(&mut self, signed_payload: &[u8]) -> Result<()> {
        let notes = SignedPayload::decode(signed_payload)
            .ok()
            .and_then(|s| s.decode_unverified().ok())
            .map(|p| p.checkpoints)
            .unwrap_or_default();
        self.check_peer_view(&notes).await
    }

    fn record(r: Received, report: &mut SyncReport) {
        match r {
            Received::Message(m) if m.kind == MessageKind::Receipts => report.receipts += 1,
            Received::Message(m) => report.received.push(*m),
            Received::Duplicate(_) => report.duplicates += 1,
            Received::Rejected { id, reason } => report.rejected.push((id, reason)),
        }
    }

    /// Stay connected and process pushed envelopes as they arrive, calling
    /// `on` for each, until `count` messages were handled or `timeout`
    /// passed. Pending envelopes are fetched first.
    pub async fn listen(
        &mut self,
        count: Option<usize>,
        timeout: Option<Duration>,
        on_ready: impl FnOnce(),
        mut on: impl FnMut(&Received),
    ) -> Result<usize> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        // Subscribe first, then fetch what is already queued: nothing
        // committed in between can be missed (duplicates are dropped by id).
        let mut sub = self.conn()?.subscribe().await?;
        on_ready();
        let mut handled = 0usize;
        let initial = self.sync().await?;
        self.warnings.extend(initial.log_omissions);
        for m in initial.received {
            handled += 1;
            on(&Received::Message(Box::new(m)));
        }
        for (id, reason) in initial.rejected {
            on(&Received::Rejected { id, reason });
        }
        while count.is_none_or(|c| handled < c) {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, sub.next()).await {
                    Ok(n) => n,
                    Err(_) => break,
                },
                None => sub.next().await,
            };
            match next? {
                None => return Err(ClientError::SubscriptionClosed),
                Some(Response::Push(q)) => {
                    let r = self.process(&q)?;
                    if let Received::Message(m) = &r {
                        self.check_payload_view(&m.signed_payload.clone()).await?;
                    }
                    if matches!(r, Received::Message(_)) {
                        handled += 1;
                    }
                    on(&r);
                    self.ack(vec![q.seq]).await?;
                }
                Some(other) => return Err(ClientError::UnexpectedFrame(format!("{other:?}"))),
            }
        }
        Ok(handled)
    }

    /// Every stored message, oldest first (a copy of
    /// [`Client::message_index`]).
    pub fn messages(&self) -> Result<Vec<StoredMessage>> {
        Ok(self.message_index()?.all().to_vec())
    }

    /// Search this home's messages that may be read now for `query`
    /// ([`crate::core::search`]): newest first, at most `limit`, with how
    /// many matched and how many were searched. The index is built in
    /// memory on the first search and again only after messages changed.
    pub fn search(
        &mut self,
        query: &str,
        limit: usize,
    ) -> Result<(Vec<crate::core::search::Hit>, usize, usize)> {
        let commits = self.home.message_commits();
        let index = match self.search_index.take() {
            Some((at, index)) if at == commits => index,
            _ => crate::core::search::SearchIndex::build(self.message_index()?.all()),
        };
        let found = index.search(query, limit);
        let searched = index.len();
        self.search_index = Some((commits, index));
        let (hits, total) = found?;
        Ok((hits, total, searched))
    }

    /// Received messages, oldest first.
    pub fn inbox(&self) -> Result<Vec<StoredMessage>> {
        Ok(self
            .messages()?
            .into_iter()
            .filter(|m| m.direction == Direction::In)
            .collect())
    }
}

/// The key of a rejected envelope's record: a hash of the whole envelope,
/// which the relay cannot make collide with a message id.
fn rejected_key(env: &Envelope) -> Vec<u8> {
    use sha2::Digest as _;
    let mut key = b"rejected/".to_vec();
    key.extend_from_slice(&sha2::Sha256::digest(
        liaison_protocol::codec::encode_versioned(env),
    ));
    key
}
