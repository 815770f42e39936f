//! Every home operation of the API, once: the agent runs these on the
//! client it holds; the command line runs the same functions on a client it
//! opened itself when no agent runs.

use super::api::{Mailbox, Request, Response};
use super::views::{
    AttachmentView, CaseView, ConsentView, ConversationView, DeviceView, ForwardCheckView,
    MessageView, RequestView, RoleView, SearchHitView, SyncView, WhoamiView, contact_views,
    receipt_rows,
};
use crate::client::{Client, Direction, MessageKind, Outgoing, now};
use crate::core::directory::OwnStanding;
use crate::error::{ClientError, NotFound, RecipientError};
use crate::outbox::SendOutcome;

/// Whether `req` needs a connection to the relay (the others only read or
/// change the home).
pub fn needs_relay(req: &Request) -> bool {
    match req {
        Request::Send { .. }
        | Request::Reply { .. }
        | Request::SaveAttachments { .. }
        | Request::OpenAttachment { .. }
        | Request::Sync
        | Request::Forward { .. }
        | Request::Export { .. }
        | Request::ConsentRequest { .. }
        | Request::ConsentGrant { .. }
        | Request::ConsentRefuse { .. }
        | Request::Handover { .. }
        | Request::CaseNew { .. }
        | Request::CaseAdd { .. }
        | Request::CaseRemove { .. }
        | Request::CaseSend { .. }
        | Request::RequestNew { .. }
        | Request::RequestStep { .. } => true,
        Request::Read { accept, .. } => *accept,
        _ => false,
    }
}

/// Whether `req` can be done without the relay when it cannot be reached
/// (a message is then kept and goes out at the next sync), rather than
/// failing.
pub fn works_offline(req: &Request) -> bool {
    match req {
        // An attachment is uploaded before the message is signed.
        Request::Send { attach, text, .. } | Request::CaseSend { attach, text, .. } => {
            attach.is_empty() && text.len() <= liaison_protocol::message::MAX_BODY
        }
        Request::Reply { .. } => true,
        // From the copy the home keeps once it was opened.
        Request::OpenAttachment { .. } => true,
        _ => false,
    }
}

/// The answer to a `send` or `reply`: sent, or kept to go out later.
fn sent_response(
    client: &Client,
    outcome: SendOutcome,
    to: Vec<liaison_protocol::DirectoryId>,
) -> Result<Response, ClientError> {
    let (SendOutcome::Accepted(id) | SendOutcome::Queued { id, .. }) = &outcome;
    let conversation = client.message(*id)?.map(|m| m.conversation);
    Ok(match outcome {
        SendOutcome::Accepted(id) => Response::Sent {
            id,
            to,
            conversation,
        },
        SendOutcome::Queued { id, reason } => Response::Queued {
            id,
            to,
            reason,
            conversation,
        },
    })
}

/// A stored message as shown, with the note about its sender's
/// revocation if there is one.
fn view_of(client: &Client, m: &crate::client::StoredMessage) -> MessageView {
    let mut v = MessageView::from(m);
    v.note = client.revocation_note(m);
    v.queued = m.direction == crate::client::Direction::Out
        && !m.accepted
        // A home that cannot be read says nothing was dropped.
        && client.is_queued(&m.id).unwrap_or(true);
    v
}

/// The title of the case whose conversation `m` is in, if any.
fn case_title(
    book: &crate::core::case::CaseBook,
    m: &crate::client::StoredMessage,
) -> Option<String> {
    book.get(&m.conversation).map(|c| c.info.title.clone())
}

/// A stored message as `messages` lists it: with its case's title, and
/// a consent request already decided no longer awaiting a decision.
fn listed(
    client: &Client,
    m: &crate::client::StoredMessage,
    decided: &std::collections::HashSet<liaison_protocol::MessageId>,
    book: &crate::core::case::CaseBook,
) -> MessageView {
    let mut v = view_of(client, m);
    v.awaiting_decision &= !decided.contains(&m.id);
    v.case = case_title(book, m);
    with_attachments(&mut v, m);
    v
}

/// List `m`'s files in its view `v`, when its content may be read.
fn with_attachments(v: &mut MessageView, m: &crate::client::StoredMessage) {
    if v.text.is_some() {
        v.attachments = crate::attachments::attachment_refs(m)
            .unwrap_or_default()
            .iter()
            .map(AttachmentView::from)
            .collect();
    }
}

/// A message as the event stream shows it as it arrives: with its case's
/// title and, once it may be read, its files.
pub fn arrived(client: &Client, m: &crate::client::StoredMessage) -> MessageView {
    let mut v = view_of(client, m);
    v.case = client
        .case_book()
        .ok()
        .and_then(|book| case_title(&book, m));
    with_attachments(&mut v, m);
    v
}

/// [`arrived`] for a caller that holds the case book but not the client
/// (`liaison listen` without an agent).
pub fn arrived_in(
    book: Option<&crate::core::case::CaseBook>,
    m: &crate::client::StoredMessage,
) -> MessageView {
    let mut v = MessageView::from(m);
    v.case = book.and_then(|b| case_title(b, m));
    with_attachments(&mut v, m);
    v
}

/// What the conversation list shows of a conversation.
fn conversation_view(
    ix: &crate::core::conversations::MessageIndex,
    book: &crate::core::case::CaseBook,
    s: &crate::core::conversations::Summary,
) -> ConversationView {
    let newest = ix.get(&s.newest);
    ConversationView {
        conversation: s.conversation.to_hex(),
        with: s.with.clone(),
        messages: s.messages,
        unread: s.unread,
        newest: s.newest.to_hex(),
        newest_at: s.newest_at.to_rfc3339(),
        newest_tlp: newest
            .map(|m| m.handling.dissemination.label().to_owned())
            .unwrap_or_default(),
        case: book.get(&s.conversation).map(|c| c.info.title.clone()),
    }
}

/// The view of a request: its fields only once the handling of the message
/// that brought it here is acknowledged (the same gate as its text).
fn request_view(
    client: &Client,
    r: &crate::core::request::RequestState,
) -> Result<RequestView, ClientError> {
    // Shown once the message that brought it here was read with its
    // handling acknowledged (never when it is missing, or destroyed).
    let withheld = match r.steps.first() {
        Some(s) => client.message(s.message)?.is_none_or(|m| {
            m.direction == crate::client::Direction::In
                && (m.acknowledged_at.is_none() || m.destroyed_at.is_some())
        }),
        None => true,
    };
    Ok(RequestView::new(r, client.id(), client.now(), withheld))
}

/// The view of a case, with the count of messages held in it.
fn case_view(client: &Client, c: &crate::core::case::CaseState) -> Result<CaseView, ClientError> {
    let messages = client
        .message_index()?
        .all()
        .iter()
        .filter(|m| m.conversation == c.id)
        .count();
    Ok(CaseView::new(c, messages))
}

/// How long a view waits for the relay before it shows the directory held.
const VIEW_REFRESH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether `req` shows the directory (whoami, contacts, roles, devices):
/// it is brought up to date first when the relay can be reached
/// ([`refresh_directory`]), so that a change just published (a role set, a
/// device added, a contact revoked) shows at once.
pub fn refreshes_directory(req: &Request) -> bool {
    matches!(
        req,
        Request::Whoami
            | Request::Contacts { .. }
            | Request::ContactShow { .. }
            | Request::Roles
            | Request::Devices
    )
}

/// Bring the directory up to date for a view ([`refreshes_directory`]).
/// When the relay cannot be reached, or refuses this device, the view
/// shows the copy held, and a warning says why; only a relay caught
/// showing an inconsistent history fails the view.
pub async fn refresh_directory(client: &mut Client) -> Result<(), ClientError> {
    // Each step of `connect` commits what it verified before the next, so
    // giving up midway loses nothing.
    let Ok(connected) = tokio::time::timeout(VIEW_REFRESH_WAIT, client.connect()).await else {
        client.warn(format!(
            "the relay did not answer within {} s; this shows the directory from your last sync",
            VIEW_REFRESH_WAIT.as_secs()
        ));
        return Ok(());
    };
    match connected {
        Ok(()) => Ok(()),
        Err(e) if e.is_log_inconsistency() => Err(e),
        Err(e @ ClientError::NotAdmitted { .. }) => {
            client.warn(e.to_string());
            Ok(())
        }
        Err(e) => {
            client.warn(format!(
                "could not bring the directory up to date ({}); this shows the directory from \
                 your last sync",
                liaison_net::tool::chain(&e)
            ));
            Ok(())
        }
    }
}

/// Run one home operation on `client` (connected first if
/// [`needs_relay`]). Requests about the agent itself (hello, unlock,
/// status, shutdown, subscribe) are not home operations and fail here.
pub async fn handle(client: &mut Client, req: Request) -> Result<Response, ClientError> {
    Ok(match req {
        Request::Send {
            to,
            text,
            handling,
            conversation,
            attach,
        } if !attach.is_empty() || text.len() > liaison_protocol::message::MAX_BODY => {
            let id = client
                .send_attached(&to, &text, handling, conversation, &attach)
                .await?;
            sent_response(client, SendOutcome::Accepted(id), to)?
        }
        Request::SaveAttachments { id, out } => Response::AttachmentsSaved {
            message: id,
            files: client.save_attached(id, &out).await?,
        },
        Request::OpenAttachment { id, index, out } => Response::AttachmentsSaved {
            message: id,
            files: vec![client.open_attachment(id, index, &out).await?],
        },
        Request::Send {
            to,
            text,
            handling,
            conversation,
            attach: _,
        } => {
            let out = Outgoing::text(&text, handling, conversation);
            let outcome = client.send_or_queue(&to, out).await?;
            sent_response(client, outcome, to)?
        }
        Request::Reply { id, text, handling } => {
            let (outcome, to) = client.reply(id, &text, handling).await?;
            sent_response(client, outcome, vec![to])?
        }
        Request::Sync => {
            let report = client.sync().await?;
            Response::Synced {
                report: SyncView::from(&report),
            }
        }
        Request::Messages { mailbox } => {
            let want = match mailbox {
                Mailbox::Inbox => Direction::In,
                Mailbox::Sent => Direction::Out,
            };
            let decided = decided_requests(client)?;
            let book = client.case_book()?;
            let messages = client
                .message_index()?
                .all()
                .iter()
                .filter(|m| m.direction == want && m.kind != MessageKind::Receipts)
                .map(|m| listed(client, m, &decided, &book))
                .collect();
            Response::Messages { messages }
        }
        Request::Message { id } => {
            let ix = client.message_index()?;
            let m = ix.get(&id).ok_or(NotFound::Message(id))?;
            let listed = listed(client, m, &decided_requests(client)?, &client.case_book()?);
            Response::Messages {
                messages: vec![listed],
            }
        }
        Request::Conversations => {
            let ix = client.message_index()?;
            let book = client.case_book()?;
            Response::Conversations {
                conversations: ix
                    .summaries(client.id().as_str())
                    .iter()
                    .map(|s| conversation_view(&ix, &book, s))
                    .collect(),
            }
        }
        Request::Conversation {
            conversation,
            limit,
        } => {
            let ix = client.message_index()?;
            let me = client.id().as_str();
            let summary = ix
                .summary(&conversation, me)
                .ok_or(NotFound::Conversation(conversation))?;
            let (page, earlier) = ix.page(&conversation, limit);
            let (decided, book) = (decided_requests(client)?, client.case_book()?);
            let receipts = client.receipt_index()?;
            let messages = page
                .into_iter()
                .map(|m| {
                    let mut v = listed(client, m, &decided, &book);
                    if m.direction == Direction::Out {
                        let got = receipts.get(&m.id).map(Vec::as_slice).unwrap_or_default();
                        v.receipts = receipt_rows(&m.to, got, me);
                    }
                    v
                })
                .collect();
            Response::Conversation {
                conversation: conversation_view(&ix, &book, &summary),
                messages,
                earlier,
            }
        }
        Request::Search { query, limit } => {
            let (hits, total, searched) = client.search(&query, limit)?;
            Response::SearchResults {
                hits: hits.iter().map(SearchHitView::from).collect(),
                total,
                searched,
            }
        }
        Request::Read { id, accept } => {
            let (m, handling_explained) = client.read(id, accept).await?;
            let message = listed(client, &m, &decided_requests(client)?, &client.case_book()?);
            Response::Read {
                message: Box::new(message),
                handling_explained,
            }
        }
        Request::Forward {
            id,
            to,
            handling,
            note,
        } => {
            let fid = client.forward(id, &to, handling, &note).await?;
            Response::Forwarded {
                id: fid,
                forwarded: id,
            }
        }
        Request::ForwardCheck { id, to } => Response::ForwardChecked {
            checks: client
                .check_forward_to(id, &to)?
                .into_iter()
                .map(|(recipient, refusal)| {
                    ForwardCheckView::new(recipient, refusal.as_deref(), id)
                })
                .collect(),
        },
        Request::Receipts { id } => {
            let m = client.message(id)?.ok_or(NotFound::Message(id))?;
            let records = client.receipt_records(id)?;
            Response::Receipts {
                receipts: receipt_rows(&m.to, &records, client.id().as_str()),
            }
        }
        Request::Export { id, case } => {
            let bundle = crate::evidence::export(client, id, &case).await?;
            Response::Exported {
                message: id,
                bundle: bundle.to_text(),
            }
        }
        Request::ConsentList => {
            let carriers = client.consent_request_messages()?;
            Response::Consents {
                consents: client
                    .consents()?
                    .iter()
                    .map(|c| ConsentView {
                        id: carriers.get(&c.request_id).map(|m| m.to_hex()),
                        ..ConsentView::from(c)
                    })
                    .collect(),
            }
        }
        Request::ConsentRequest { id, scope, reason } => {
            let request = client.request_consent(id, scope, &reason).await?;
            Response::ConsentRequested { request }
        }
        Request::ConsentGrant {
            request,
            conditions,
            valid_until,
        } => {
            client
                .decide_consent(request, true, &conditions, valid_until)
                .await?;
            Response::ConsentDecided {
                request,
                granted: true,
            }
        }
        Request::ConsentRefuse { request, reason } => {
            client.decide_consent(request, false, &reason, None).await?;
            Response::ConsentDecided {
                request,
                granted: false,
            }
        }
        Request::Whoami => {
            let standing = client.own_standing();
            Response::Whoami {
                whoami: WhoamiView {
                    id: client.id().to_string(),
                    identity_key: client.identity_key().to_hex(),
                    identity_fingerprint: client.identity_key().fingerprint().to_string(),
                    device_key: client.device_key().to_hex(),
                    enrolled: standing == OwnStanding::Active,
                    standing: standing.name().to_owned(),
                    standing_note: (standing != OwnStanding::Active)
                        .then(|| standing.describe(client.id())),
                    outbox: client.outbox_len()?,
                },
            }
        }
        Request::Contacts { filter } => Response::Contacts {
            contacts: contact_views(
                client.directory(),
                &client.contacts()?,
                &|id| client.revocation(id).and_then(|r| r.at()),
                &filter,
                now(),
            ),
            directory_problems: client.directory_problems().to_vec(),
        },
        Request::ContactShow { id } => {
            let contact = contact_views(
                client.directory(),
                &client.contacts()?,
                &|id| client.revocation(id).and_then(|r| r.at()),
                &Default::default(),
                now(),
            )
            .into_iter()
            .find(|c| c.id == id.as_str())
            .ok_or_else(|| RecipientError::NotInDirectory(id.clone(), client.near_ids(&id)))?;
            Response::Contact {
                contact: Box::new(contact),
            }
        }
        Request::ContactVerify { id, safety_number } => {
            client.verify_contact(&id, &safety_number)?;
            Response::ContactVerified { id }
        }
        Request::ContactAccept { id } => {
            client.accept_contact_key(&id)?;
            Response::ContactKeyAccepted { id }
        }
        Request::ContactDevicesSeen { id } => Response::ContactDevicesSeen {
            devices: client.note_new_devices(&id)?,
            id,
        },
        Request::SafetyNumber { id } => Response::SafetyNumber {
            safety_number: client.safety_number(&id)?,
            contact: id,
        },
        Request::Roles => {
            let ix = client.message_index()?;
            let received = |role: &str| {
                ix.all()
                    .iter()
                    .filter(|m| m.direction == Direction::In && m.kind != MessageKind::Receipts)
                    .filter(|m| m.to.iter().any(|t| t == role))
                    .count()
            };
            Response::Roles {
                roles: client
                    .directory()
                    .roles()
                    .map(|r| RoleView {
                        received: received(r.id.as_str()),
                        ..RoleView::from(r)
                    })
                    .collect(),
            }
        }
        Request::Devices => {
            let rec = client
                .directory()
                .record(client.id())
                .ok_or(RecipientError::NotEnrolled)?;
            let this = client.device_key();
            Response::Devices {
                devices: rec
                    .devices
                    .iter()
                    .map(|d| DeviceView {
                        device: d.signing.to_hex(),
                        fingerprint: d.signing.fingerprint().to_string(),
                        this_device: d.signing == this,
                    })
                    .collect(),
            }
        }
        Request::DeviceApprove { request, code } => Response::DeviceApproved {
            approval: client.approve_device(&request, &code)?,
        },
        Request::Handover { role, to } => {
            let (id, messages) = client.send_handover(&role, &to).await?;
            Response::HandedOver {
                id,
                role,
                to,
                messages,
            }
        }
        Request::CaseNew {
            title,
            reference,
            handling,
            members,
        } => Response::CaseOpened {
            case: client
                .case_new(&title, reference, handling, &members)
                .await?,
        },
        Request::CaseAdd { case, id } => Response::CaseChanged {
            case,
            id: client.case_change(case, true, &[id]).await?,
        },
        Request::CaseRemove { case, id } => Response::CaseChanged {
            case,
            id: client.case_change(case, false, &[id]).await?,
        },
        Request::CaseList => Response::Cases {
            cases: client
                .case_book()?
                .cases()
                .map(|c| case_view(client, c))
                .collect::<Result<_, _>>()?,
        },
        Request::CaseShow { case } => Response::Case {
            case: Box::new(case_view(client, &client.case(case)?)?),
        },
        Request::CaseSend {
            case,
            text,
            handling,
            attach,
            reply_to,
        } => {
            let (outcome, to) = client
                .case_send(case, &text, handling, &attach, reply_to)
                .await?;
            sent_response(client, outcome, to)?
        }
        Request::RequestNew {
            kind,
            to,
            priority,
            due,
            acknowledge_within_minutes,
            case,
            fields,
            text,
            handling,
            attach,
        } => {
            use crate::core::request::RequestError;
            use liaison_protocol::request::{Priority, RequestOpen, RequestType};
            let kind = RequestType::parse(&kind).ok_or(RequestError::UnknownType(kind))?;
            let priority = match priority {
                Some(p) => Priority::parse(&p).ok_or(RequestError::UnknownPriority(p))?,
                None => Priority::Normal,
            };
            let now = client.now();
            let due = due
                .unwrap_or(liaison_protocol::Timestamp(now.0.saturating_add(
                    priority.answer_within_secs().saturating_mul(1000),
                )));
            let handling = match (handling, case) {
                (Some(h), _) => h,
                (None, Some(c)) => client.case(c)?.info.handling,
                (None, None) => liaison_protocol::handling::Handling::default(),
            };
            let open = RequestOpen {
                kind,
                priority,
                due,
                acknowledge_within_secs: acknowledge_within_minutes
                    .map_or(priority.acknowledge_within_secs(), |m| m.saturating_mul(60)),
                to,
                fields,
                // Drawn by `request_new`.
                nonce: [0; 16],
            };
            let sent = client
                .request_new(open, &text, handling, case, &attach)
                .await?;
            Response::RequestSent {
                request: sent.request,
                message: sent.message,
                to: sent.to,
            }
        }
        Request::RequestStep {
            request,
            step,
            text,
            reason,
            attach,
        } => {
            let action = crate::core::request::action_named(&step, reason.as_deref())?;
            let name = action.name().to_owned();
            Response::RequestStepSent {
                request,
                message: client.request_step(request, action, &text, &attach).await?,
                step: name,
            }
        }
        Request::RequestList => {
            let mut requests = Vec::new();
            for r in client.request_book()?.requests() {
                requests.push(request_view(client, r)?);
            }
            requests.sort_by_key(RequestView::rank);
            Response::Requests { requests }
        }
        Request::RequestShow { request } => Response::RequestShown {
            request: Box::new(request_view(client, &client.request(request)?)?),
        },
        other @ (Request::Hello { .. }
        | Request::Unlock { .. }
        | Request::Status
        | Request::Shutdown
        | Request::Subscribe { .. }) => {
            return Err(ClientError::NotAHomeOperation(other.op()));
        }
    })
}

/// The messages carrying a consent request that was decided already.
fn decided_requests(
    client: &Client,
) -> Result<std::collections::HashSet<liaison_protocol::MessageId>, ClientError> {
    let carriers = client.consent_request_messages()?;
    Ok(client
        .consents()?
        .iter()
        .filter(|c| c.decision.is_some())
        .filter_map(|c| carriers.get(&c.request_id).copied())
        .collect())
}
