//! `liaison`: the focal point's command-line client.
//!
//! Exit codes: 0 success; 1 error; 2 usage error; 3 sync finished but some
//! messages were rejected (altered, forged or undecryptable); 4 the relay
//! was caught showing an inconsistent history (evidence in HOME/evidence/).
//!
//! While `liaison --home H agent` runs, every other command for H goes
//! through the agent's socket instead of opening the home; otherwise it
//! opens the home itself. Both paths run the same operation
//! (`liaison_client::agent::ops`) and print through the same code
//! ([`render`]).

/// Every line the tool prints on stdout goes through [`out::line`]: a
/// reader that stops early (`liaison inbox | head -1`) ends the command
/// quietly with exit 0, instead of a panic about a broken pipe.
macro_rules! println {
    () => {
        $crate::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}

mod args;
mod out;
mod render;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use liaison_client::agent::api::{ApiError, Mailbox, Passphrase, Reply, Request, Response};
use liaison_client::agent::remote::AgentClient;
use liaison_client::agent::server::{Agent, AgentOptions, AgentSocket};
use liaison_client::agent::views::LinkState;
use liaison_client::agent::{ops, socket_path};
use liaison_client::home::{Home, HomeError, KdfParams};
use liaison_client::{Client, InitParams, Received};
use liaison_protocol::consent::ConsentScope;
use liaison_protocol::handling::Handling;
use liaison_protocol::{ConversationId, CountryCode, Timestamp};
use serde_json::json;

use args::{
    AgentCommand, AttachmentCommand, CaseCommand, Cli, Command, ConsentCommand, ContactsCommand,
    DeviceCommand, RequestCommand,
};

/// How this program introduces itself to an agent.
const CLIENT_NAME: &str = concat!("liaison ", env!("CARGO_PKG_VERSION"));

fn parse_message_id(s: &str) -> Result<liaison_protocol::MessageId> {
    liaison_protocol::MessageId::from_hex(s).ok_or_else(|| anyhow!("a message id is 32 hex digits"))
}

fn parse_request_id(s: &str) -> Result<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s.trim(), &mut out)
        .map_err(|_| anyhow!("a request id is 32 hex digits"))?;
    Ok(out)
}

/// Open the home at `dir`, asking for the passphrase only once it is clear
/// there is a home to unlock.
fn open_home(dir: &std::path::Path) -> Result<Client> {
    if !Home::exists(dir) {
        return Err(HomeError::Missing(dir.to_owned()).into());
    }
    Ok(Client::open(dir, &passphrase(false)?)?)
}

fn passphrase(confirm: bool) -> Result<String> {
    if let Ok(p) = std::env::var("LIAISON_PASSPHRASE") {
        if p.is_empty() {
            bail!("LIAISON_PASSPHRASE is set but empty");
        }
        return Ok(p);
    }
    let p = rpassword::prompt_password("Passphrase: ")
        .context("no LIAISON_PASSPHRASE set and no terminal to ask for the passphrase")?;
    if confirm {
        let q = rpassword::prompt_password("Repeat passphrase: ")?;
        if p != q {
            bail!("the passphrases differ; nothing was created");
        }
    }
    Ok(p)
}

/// The shortest passphrase a new home takes, in characters.
const MIN_PASSPHRASE_CHARS: usize = 12;

/// The passphrase of a new home: [`passphrase`], at least
/// [`MIN_PASSPHRASE_CHARS`] long (from the terminal or LIAISON_PASSPHRASE).
fn new_passphrase() -> Result<String> {
    let p = passphrase(true)?;
    if p.chars().count() < MIN_PASSPHRASE_CHARS {
        bail!(
            "the passphrase is too short: use at least {MIN_PASSPHRASE_CHARS} characters (a few unrelated words are easy to remember and hard to guess); nothing was created"
        );
    }
    Ok(p)
}

fn home(cli: &Cli) -> Result<PathBuf> {
    cli.home
        .clone()
        .ok_or_else(|| anyhow!("no home directory: pass --home DIR or set LIAISON_HOME"))
}

/// The text of a message to send: `text`, or standard input for `-` (or
/// none), not empty and within the size limit of a message body.
fn message_text(text: Option<&String>) -> Result<String> {
    message_text_within(text, liaison_protocol::message::MAX_BODY)
}

/// [`message_text`] within `limit` bytes (a `send`: beyond a body's 64
/// KiB, the whole text goes as an attached file).
fn message_text_within(text: Option<&String>, limit: usize) -> Result<String> {
    let text = match text.map(String::as_str) {
        Some("-") | None => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading the message from stdin")?;
            s
        }
        Some(t) => t.to_owned(),
    };
    if text.trim().is_empty() {
        bail!("the message is empty: nothing was sent");
    }
    if text.len() > limit {
        bail!(
            "the message is {} bytes long, over the limit of {limit} bytes (about {} pages of text): nothing was sent; split it, or send the long part as a file",
            text.len(),
            limit / 3000
        );
    }
    Ok(text)
}

/// The API request a command stands for, its arguments validated; `None`
/// for the commands that do not run on an existing home through the API
/// (init, device request and link, listen, agent).
fn request_for(cli: &Cli) -> Result<Option<Request>> {
    Ok(Some(match &cli.command {
        Command::Send {
            case: Some(case),
            handling,
            attach,
            text,
            reply_to,
            ..
        } => Request::CaseSend {
            case: parse_case_id(case)?,
            handling: match handling {
                Some(h) => Some(parse_handling(h)?),
                None => None,
            },
            attach: attached_files(attach)?,
            text: message_text_within(Some(text), liaison_client::attachments::MAX_TEXT)?,
            reply_to: reply_to.as_deref().map(parse_message_id).transpose()?,
        },
        Command::Case { action } => match action {
            CaseCommand::New {
                title,
                reference,
                handling,
                members,
            } => Request::CaseNew {
                title: title.clone(),
                reference: reference.clone(),
                handling: parse_handling(handling.as_deref().unwrap_or("RED"))?,
                members: members.clone(),
            },
            CaseCommand::Add { case, id } => Request::CaseAdd {
                case: parse_case_id(case)?,
                id: id.clone(),
            },
            CaseCommand::Remove { case, id } => Request::CaseRemove {
                case: parse_case_id(case)?,
                id: id.clone(),
            },
            CaseCommand::List => Request::CaseList,
            CaseCommand::Show { case } => Request::CaseShow {
                case: parse_case_id(case)?,
            },
        },
        Command::Send {
            to,
            handling,
            conversation,
            attach,
            text,
            case: None,
            reply_to: _,
        } => {
            let handling = Handling::parse_text(handling.as_deref().unwrap_or("RED")).map_err(|e| {
                anyhow!("--handling: {e} (for example: \"AMBER+STRICT judicial=with-consent purpose=rescue retain=2027-06-30\")")
            })?;
            let conversation = match conversation {
                Some(c) => Some(
                    ConversationId::from_hex(c)
                        .ok_or_else(|| anyhow!("--conversation: expected 32 hex digits"))?,
                ),
                None => None,
            };
            let text = message_text_within(Some(text), liaison_client::attachments::MAX_TEXT)?;
            if let Some(until) = handling.retain_until
                && until <= liaison_client::client::now()
            {
                bail!(
                    "--handling: retain={} is already past: the recipients would destroy the message at once. Give a future date; nothing was sent",
                    until.to_rfc3339()
                );
            }
            let mut files = Vec::with_capacity(attach.len());
            for f in attach {
                let meta = std::fs::metadata(f)
                    .map_err(|e| anyhow!("--attach {}: {e}; nothing was sent", f.display()))?;
                if !meta.is_file() {
                    bail!("--attach {}: not a file; nothing was sent", f.display());
                }
                files.push(
                    std::path::absolute(f)
                        .map_err(|e| anyhow!("--attach {}: {e}; nothing was sent", f.display()))?,
                );
            }
            Request::Send {
                to: to.clone(),
                text,
                handling,
                conversation,
                attach: files,
            }
        }
        Command::Attachment {
            action: AttachmentCommand::Save { id, out },
        } => {
            let out = match out {
                Some(o) => o.clone(),
                None => PathBuf::from("."),
            };
            if !out.is_dir() {
                bail!(
                    "--out {}: not a directory; create it first, or leave --out out to save into the current directory",
                    out.display()
                );
            }
            Request::SaveAttachments {
                id: parse_message_id(id)?,
                out: std::path::absolute(&out)
                    .map_err(|e| anyhow!("--out {}: {e}", out.display()))?,
            }
        }
        Command::Reply { id, text, handling } => Request::Reply {
            id: parse_message_id(id)?,
            handling: match handling {
                Some(h) => Some(Handling::parse_text(h).map_err(|e| anyhow!("--handling: {e}"))?),
                None => None,
            },
            text: message_text(text.as_ref())?,
        },
        Command::Sync => Request::Sync,
        Command::Inbox { .. } => Request::Messages {
            mailbox: Mailbox::Inbox,
        },
        Command::Sent => Request::Messages {
            mailbox: Mailbox::Sent,
        },
        Command::Search { text, limit } => Request::Search {
            query: text.clone(),
            limit: *limit,
        },
        Command::Whoami => Request::Whoami,
        Command::Contacts { action, filter } => match action {
            None => Request::Contacts {
                filter: filter.into(),
            },
            Some(ContactsCommand::Show { id }) => Request::ContactShow { id: id.clone() },
            Some(ContactsCommand::Verify {
                id,
                safety_number: None,
            }) => Request::SafetyNumber { id: id.clone() },
            Some(ContactsCommand::Verify {
                id,
                safety_number: Some(n),
            }) => Request::ContactVerify {
                id: id.clone(),
                safety_number: n.clone(),
            },
            Some(ContactsCommand::Accept { id }) => Request::ContactAccept { id: id.clone() },
        },
        Command::Roles => Request::Roles,
        Command::Read { id, accept } => Request::Read {
            id: parse_message_id(id)?,
            accept: *accept,
        },
        Command::Forward {
            id,
            to,
            handling,
            note,
        } => Request::Forward {
            id: parse_message_id(id)?,
            to: to.clone(),
            handling: match handling {
                Some(h) => Some(Handling::parse_text(h).map_err(|e| anyhow!("--handling: {e}"))?),
                None => None,
            },
            note: note.clone(),
        },
        Command::Consent { action } => match action {
            ConsentCommand::List => Request::ConsentList,
            ConsentCommand::Request { id, scope, reason } => Request::ConsentRequest {
                id: parse_message_id(id)?,
                scope: ConsentScope::parse_text(scope).map_err(|e| anyhow!("--scope: {e}"))?,
                reason: reason.clone(),
            },
            ConsentCommand::Grant {
                request,
                conditions,
                valid_until,
            } => Request::ConsentGrant {
                request: parse_request_id(request)?,
                conditions: conditions.clone(),
                valid_until: match valid_until {
                    Some(t) => Some(Timestamp::parse_rfc3339(t).ok_or_else(|| {
                        anyhow!("--valid-until: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
                    })?),
                    None => None,
                },
            },
            ConsentCommand::Refuse { request, reason } => Request::ConsentRefuse {
                request: parse_request_id(request)?,
                reason: reason.clone(),
            },
        },
        Command::Export { id, out, case } => {
            let id = parse_message_id(id)?;
            if out.exists() {
                bail!("{} exists; choose another --out", out.display());
            }
            Request::Export {
                id,
                case: case.clone(),
            }
        }
        Command::Receipts { id } => Request::Receipts {
            id: parse_message_id(id)?,
        },
        Command::Device { action } => match action {
            DeviceCommand::Approve { request, code, .. } => Request::DeviceApprove {
                request: std::fs::read_to_string(request)
                    .with_context(|| format!("reading {}", request.display()))?,
                code: code.clone(),
            },
            DeviceCommand::List => Request::Devices,
            DeviceCommand::Request { .. } | DeviceCommand::Link { .. } => return Ok(None),
        },
        Command::Handover { role, to } => Request::Handover {
            role: role.clone(),
            to: to.clone(),
        },
        Command::SafetyNumber { id } => Request::SafetyNumber { id: id.clone() },
        Command::Request { action } => match request_command(action)? {
            Some(r) => r,
            None => return Ok(None),
        },
        Command::Init { .. }
        | Command::Listen { .. }
        | Command::Agent { .. }
        | Command::Ui { .. } => return Ok(None),
    }))
}

/// The API request of a `liaison request` subcommand; `None` for `types`
/// (answered here).
fn request_command(action: &RequestCommand) -> Result<Option<Request>> {
    let step = |request: &str, step: &str, text: &str, reason: Option<&String>| {
        Ok::<_, anyhow::Error>(Request::RequestStep {
            request: parse_request_id(request)?,
            step: step.to_owned(),
            text: text.to_owned(),
            reason: reason.cloned(),
            attach: Vec::new(),
        })
    };
    Ok(Some(match action {
        RequestCommand::New {
            kind,
            to,
            priority,
            due,
            ack_within,
            case,
            fields,
            handling,
            attach,
            text,
        } => Request::RequestNew {
            kind: kind.clone(),
            to: to.clone(),
            priority: priority.clone(),
            due: match due {
                Some(d) => Some(Timestamp::parse_rfc3339(d).ok_or_else(|| {
                    anyhow!("--due {d:?}: give a date, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
                })?),
                None => None,
            },
            acknowledge_within_minutes: *ack_within,
            case: case.as_deref().map(parse_case_id).transpose()?,
            fields: fields
                .iter()
                .map(|f| {
                    f.split_once('=')
                        .map(|(n, v)| (n.trim().to_owned(), v.to_owned()))
                        .ok_or_else(|| {
                            anyhow!("--field {f:?}: give NAME=VALUE, for example --field name=\"Maria Santos\"")
                        })
                })
                .collect::<Result<_>>()?,
            text: text.clone(),
            handling: handling.as_deref().map(parse_handling).transpose()?,
            attach: attached_files(attach)?,
        },
        RequestCommand::List => Request::RequestList,
        RequestCommand::Show { request } => Request::RequestShow {
            request: parse_request_id(request)?,
        },
        RequestCommand::Types => return Ok(None),
        RequestCommand::Ack { request, text } => step(request, "acknowledge", text, None)?,
        RequestCommand::Progress { request, text } => step(request, "progress", text, None)?,
        RequestCommand::Answer {
            request,
            partial,
            attach,
            text,
        } => Request::RequestStep {
            request: parse_request_id(request)?,
            step: if *partial { "partial-answer" } else { "answer" }.to_owned(),
            text: text.clone(),
            reason: None,
            attach: attached_files(attach)?,
        },
        RequestCommand::Decline { request, reason } => {
            step(request, "decline", "", Some(reason))?
        }
        RequestCommand::Withdraw { request, reason } => {
            step(request, "withdraw", "", Some(reason))?
        }
        RequestCommand::Outcome { request, text } => step(request, "outcome", text, None)?,
    }))
}

/// `liaison request types`: every type and its fields.
fn print_request_types() {
    for t in liaison_protocol::request::RequestType::ALL {
        let fields: Vec<String> = t
            .fields()
            .iter()
            .map(|f| {
                if f.required {
                    format!("{} (required)", f.name)
                } else {
                    f.name.to_owned()
                }
            })
            .collect();
        println!("{}: {}", t.name(), fields.join(", "));
    }
}

/// A case id as typed (32 hex digits).
fn parse_case_id(s: &str) -> Result<ConversationId> {
    ConversationId::from_hex(s).ok_or_else(|| {
        anyhow!(
            "{s:?} is not a case id (32 hex digits); `{}` lists yours",
            render::suggest("case list")
        )
    })
}

/// A handling in its text form, checked as `send` checks it.
fn parse_handling(text: &str) -> Result<Handling> {
    let handling = Handling::parse_text(text).map_err(|e| {
        anyhow!("--handling: {e} (for example: \"AMBER+STRICT judicial=with-consent purpose=rescue retain=2027-06-30\")")
    })?;
    if let Some(until) = handling.retain_until
        && until <= liaison_client::client::now()
    {
        bail!(
            "--handling: retain={} is already past: the recipients would destroy the message at once. Give a future date; nothing was sent",
            until.to_rfc3339()
        );
    }
    Ok(handling)
}

/// The files of `--attach`, each an existing file, as absolute paths.
fn attached_files(attach: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::with_capacity(attach.len());
    for f in attach {
        let meta = std::fs::metadata(f)
            .map_err(|e| anyhow!("--attach {}: {e}; nothing was sent", f.display()))?;
        if !meta.is_file() {
            bail!("--attach {}: not a file; nothing was sent", f.display());
        }
        files.push(
            std::path::absolute(f)
                .map_err(|e| anyhow!("--attach {}: {e}; nothing was sent", f.display()))?,
        );
    }
    Ok(files)
}

/// The agent running for the home, unlocked (asking for the passphrase as
/// a command without an agent would); `None` when no agent runs.
async fn running_agent(dir: &std::path::Path) -> Result<Option<AgentClient>> {
    let Some(mut agent) = AgentClient::connect(dir, CLIENT_NAME).await? else {
        return Ok(None);
    };
    agent
        .unlock_with(|| {
            passphrase(false).with_context(|| {
                format!(
                    "the agent for {} is locked and needs the passphrase",
                    dir.display()
                )
            })
        })
        .await?;
    Ok(Some(agent))
}

/// After Ctrl-C during a `send` on the home opened here: whether the
/// message went out (the relay accepted it), is kept to go out at the next
/// sync, or was never kept (nothing was sent).
async fn interrupted_send(client: &mut Client, request: &Request) -> Result<Reply> {
    let kept = match client.sending_kept()? {
        Some(id) => client.message(id)?,
        None => None,
    };
    let to = match (request, &kept) {
        (Request::Send { to, .. }, _) => to.clone(),
        (_, Some(m)) => {
            m.to.iter()
                .filter_map(|t| liaison_protocol::DirectoryId::parse(t).ok())
                .collect()
        }
        _ => Vec::new(),
    };
    client.disconnect().await;
    let Some(m) = kept else {
        return Err(render::Interrupted(
            "interrupted (Ctrl-C) before the message was kept: nothing was sent. Run the command again to send it".to_owned(),
        )
        .into());
    };
    if m.accepted {
        return Ok(Reply {
            warnings: vec![
                "interrupted (Ctrl-C), but the relay had already accepted the message: it went out"
                    .to_owned(),
            ],
            response: Response::Sent {
                id: m.id,
                to,
                conversation: Some(m.conversation),
            },
        });
    }
    Ok(Reply {
        warnings: Vec::new(),
        response: Response::Queued {
            id: m.id,
            to,
            reason: "interrupted (Ctrl-C) before the relay confirmed it".to_owned(),
            conversation: Some(m.conversation),
        },
    })
}

/// Progress bars on standard error, one per attachment as it is uploaded
/// or saved.
fn progress_bars() -> liaison_client::attachments::ProgressHook {
    let style = indicatif::ProgressStyle::with_template(
        "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    let mut current: Option<(String, indicatif::ProgressBar)> = None;
    Box::new(move |name, done, total| {
        if current.as_ref().is_none_or(|(n, _)| n != name) {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            let bar = indicatif::ProgressBar::new(total)
                .with_style(style.clone())
                .with_message(name.to_owned());
            current = Some((name.to_owned(), bar));
        }
        if let Some((_, bar)) = &current {
            bar.set_position(done);
            if done >= total {
                bar.finish();
            }
        }
    })
}

/// Run `request` through the home's agent if one runs, else on the home
/// directly. A `send` interrupted with Ctrl-C says whether the message went
/// out, is kept to go out at the next sync, or was not kept at all.
async fn execute(cli: &Cli, request: Request) -> Result<Reply> {
    let dir = home(cli)?;
    let sending = matches!(
        request,
        Request::Send { .. } | Request::Reply { .. } | Request::CaseSend { .. }
    );
    if let Some(mut agent) = running_agent(&dir).await? {
        if !sending {
            return Ok(agent.call(&request).await?);
        }
        return tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => Err(render::Interrupted(format!(
                "interrupted (Ctrl-C); the agent for this home finishes the send by itself: the message goes out, or is kept until the relay can be reached. `{}` shows it",
                render::suggest("sent")
            )).into()),
            r = agent.call(&request) => Ok(r?),
        };
    }
    let mut client = open_home(&dir)?;
    let transfers = matches!(&request, Request::Send { attach, .. } | Request::CaseSend { attach, .. } if !attach.is_empty())
        || matches!(request, Request::SaveAttachments { .. });
    if transfers && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        client.set_progress(Some(progress_bars()));
    }
    let work = async {
        if ops::needs_relay(&request) {
            if let Err(e) = client.connect().await {
                // A message is kept and goes out at the next sync when the
                // relay cannot be reached; anything else needs the relay.
                if !(e.is_unreachable() && ops::works_offline(&request)) {
                    return Err(e);
                }
                client.disconnect().await;
            }
        } else if ops::refreshes_directory(&request) {
            ops::refresh_directory(&mut client).await?;
        }
        Ok(ops::handle(&mut client, request.clone()).await)
    };
    let res = if sending {
        tokio::select! {
            // Listening for Ctrl-C before anything starts.
            biased;
            _ = tokio::signal::ctrl_c() => None,
            r = work => Some(r),
        }
    } else {
        Some(work.await)
    };
    let res = match res {
        None => return interrupted_send(&mut client, &request).await,
        Some(Err(connecting)) => {
            // What the client learned on the way (an alert about our own
            // record, above all) is shown with the error.
            return Ok(Reply {
                warnings: client.take_warnings(),
                response: Response::Error(ApiError::from(connecting)),
            });
        }
        Some(Ok(res)) => res,
    };
    let warnings = client.take_warnings();
    client.disconnect().await;
    Ok(Reply {
        warnings,
        response: res.unwrap_or_else(|e| Response::Error(ApiError::from(e))),
    })
}

async fn listen(cli: &Cli, count: Option<usize>, timeout: Option<u64>) -> Result<ExitCode> {
    let dir = home(cli)?;
    let timeout = timeout.map(Duration::from_secs);
    let json_out = cli.json;
    if let Some(agent) = running_agent(&dir).await? {
        return listen_via_agent(agent, count, timeout, json_out).await;
    }
    let mut client = open_home(&dir)?;
    client.connect().await?;
    let me = client.id().clone();
    // The cases held when listening began name the messages in them.
    let book = client.case_book().ok();
    let mut shown = Ok(());
    let res = client
        .listen(
            count,
            timeout,
            || eprintln!("liaison: listening for messages to {me} (Ctrl-C to stop)"),
            |r| match r {
                Received::Message(m) => {
                    if let Err(e) = render::print_listened(
                        &liaison_client::agent::ops::arrived_in(book.as_ref(), m),
                        json_out,
                    ) {
                        shown = Err(e);
                    }
                }
                Received::Rejected { id, reason } => {
                    eprintln!("liaison: rejected message {id}: {reason}")
                }
                Received::Duplicate(_) => {}
            },
        )
        .await;
    for w in client.take_warnings() {
        eprintln!("liaison: warning: {w}");
    }
    client.disconnect().await;
    res?;
    shown?;
    Ok(ExitCode::SUCCESS)
}

/// `listen` through the agent: its event stream, with the same output.
async fn listen_via_agent(
    mut agent: AgentClient,
    count: Option<usize>,
    timeout: Option<Duration>,
    json_out: bool,
) -> Result<ExitCode> {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let me = agent.id().map(ToString::to_string).unwrap_or_default();
    agent.send(&Request::Subscribe { catch_up: true }).await?;
    let first = agent
        .next()
        .await?
        .ok_or_else(|| anyhow!("the agent closed the connection (it may have stopped)"))?;
    match first.response {
        Response::Subscribed { link, problem } => {
            eprintln!("liaison: listening for messages to {me} (Ctrl-C to stop)");
            match (link, problem) {
                (LinkState::Up, _) => {}
                (LinkState::Halted, Some(p)) => eprintln!(
                    "liaison: warning: the agent does not reconnect to the relay by itself: {p}"
                ),
                (_, Some(p)) => eprintln!(
                    "liaison: warning: the agent is not connected to the relay right now ({p}); it reconnects by itself"
                ),
                // Still making its first connection: it reports when it is up.
                (_, None) => {}
            }
        }
        Response::Error(e) => return Err(e.into()),
        other => bail!("the agent answered `{}` to subscribe", other.kind()),
    }
    let mut handled = 0usize;
    while count.is_none_or(|c| handled < c) {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, agent.next()).await {
                Ok(n) => n,
                Err(_) => break,
            },
            None => agent.next().await,
        };
        let Some(reply) = next? else {
            bail!("the agent stopped; run the command again");
        };
        if let Response::Event { event } = &reply.response
            && render::print_event(event, json_out)?
        {
            handled += 1;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

async fn agent_command(
    cli: &Cli,
    action: Option<&AgentCommand>,
    sync_interval: u64,
) -> Result<ExitCode> {
    let dir = home(cli)?;
    let not_running = || {
        anyhow!(
            "no agent runs for the home {} (start one with `liaison --home {} agent`)",
            dir.display(),
            liaison_protocol::shell::quote_path(&dir)
        )
    };
    match action {
        None => {
            let socket = AgentSocket::bind(&dir).await?;
            let path = socket.path().to_owned();
            let mut agent = Agent::new(
                socket,
                AgentOptions {
                    sync_interval: Duration::from_secs(sync_interval),
                    ..AgentOptions::default()
                },
            );
            match std::env::var("LIAISON_PASSPHRASE") {
                Ok(p) if p.is_empty() => bail!("LIAISON_PASSPHRASE is set but empty"),
                Ok(p) => {
                    let id = agent.unlock(Passphrase::new(p)).await?;
                    eprintln!(
                        "liaison: agent for {id} ready on {} (Ctrl-C or `liaison --home {} agent stop` stops it)",
                        path.display(),
                        liaison_protocol::shell::quote_path(&dir)
                    );
                }
                Err(_) => eprintln!(
                    "liaison: agent ready on {} and locked: the next liaison command for this home asks for the passphrase",
                    path.display()
                ),
            }
            agent.serve(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(AgentCommand::Status) => {
            let mut agent = AgentClient::connect(&dir, CLIENT_NAME)
                .await?
                .ok_or_else(not_running)?;
            let reply = agent.call(&Request::Status).await?;
            render::render(cli, reply)
        }
        Some(AgentCommand::Stop) => {
            let mut agent = AgentClient::connect(&dir, CLIENT_NAME)
                .await?
                .ok_or_else(not_running)?;
            let reply = agent.call(&Request::Shutdown).await?;
            render::render(cli, reply)?;
            // Gone once nothing answers on the socket any more.
            let socket = socket_path(&dir);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while liaison_client::agent::remote::probe(&socket)
                .await?
                .is_some()
            {
                if tokio::time::Instant::now() > deadline {
                    bail!(
                        "the agent was asked to stop but still answers on {}",
                        socket.display()
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            eprintln!("liaison: the agent for {} stopped", dir.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(request) = request_for(&cli)? {
        let reply = execute(&cli, request).await?;
        return render::render(&cli, reply);
    }
    match &cli.command {
        Command::Init {
            bundle,
            id,
            name,
            country,
            agency,
            unit,
            languages,
            time_zone,
        } => {
            let dir = home(&cli)?;
            let bundle_text = std::fs::read_to_string(bundle)
                .with_context(|| format!("reading bundle {}", bundle.display()))?;
            let country = CountryCode::parse(country).map_err(|e| anyhow!("--country: {e}"))?;
            let pass = new_passphrase()?;
            let params = InitParams {
                id: id.clone(),
                name: name.clone(),
                country,
                agency: agency.clone(),
                unit: unit.clone(),
                languages: languages.clone(),
                time_zone: time_zone.clone(),
            };
            let (path, fingerprint) =
                Client::init(&dir, &pass, &bundle_text, params, KdfParams::new_default()?)?;
            if cli.json {
                println!(
                    "{}",
                    json!({"id": id.to_string(), "request": path.display().to_string(), "identity_fingerprint": fingerprint})
                );
            } else {
                println!("Created home {} for {id}.", dir.display());
                println!("Enrolment request: {}", path.display());
                println!("Identity fingerprint: {fingerprint}");
                println!(
                    "Give the request to your {country} authority and confirm this fingerprint with them by phone or in person."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Device {
            action: DeviceCommand::Request { bundle, id },
        } => {
            let dir = home(&cli)?;
            let text = std::fs::read_to_string(bundle)
                .with_context(|| format!("reading bundle {}", bundle.display()))?;
            let pass = new_passphrase()?;
            let (path, code) =
                Client::device_request(&dir, &pass, &text, id.clone(), KdfParams::new_default()?)?;
            println!("Device request written to {}.", path.display());
            println!("Confirmation code: {code}");
            println!(
                "Approve it on a device that already holds your identity, typing this code there yourself (do not send it with the file), with that device's home in place of the dots:"
            );
            println!(
                "  liaison --home ... device approve {} --code {code}",
                liaison_protocol::shell::quote_path(&path)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Device {
            action: DeviceCommand::Link { approval },
        } => {
            let dir = home(&cli)?;
            let text = std::fs::read_to_string(approval)
                .with_context(|| format!("reading {}", approval.display()))?;
            let path = Client::link_device(&dir, &passphrase(false)?, &text)?;
            println!("Linked: this device now holds your identity key.");
            println!(
                "Give {} to your authority to countersign; they run (their authority key file \
                 and the network's bundle in place of the dots):",
                path.display()
            );
            println!(
                "  liaison-admin add-device --authority ... --bundle ... {}",
                liaison_protocol::shell::quote_path(&path)
            );
            println!(
                "Once it is countersigned, run `liaison --home {} sync` on this device.",
                liaison_protocol::shell::quote_path(&dir)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Listen { count, timeout } => listen(&cli, *count, *timeout).await,
        Command::Request { .. } => {
            print_request_types();
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent {
            action,
            sync_interval,
        } => agent_command(&cli, action.as_ref(), *sync_interval).await,
        Command::Ui {
            listen,
            no_browser,
            lock_after,
            sync_interval,
        } => {
            let dir = home(&cli)?;
            ui::run(
                ui::UiArgs {
                    home: dir,
                    listen: *listen,
                    browser: !*no_browser,
                    lock_after: Duration::from_secs(lock_after.saturating_mul(60)),
                    sync_interval: Duration::from_secs(*sync_interval),
                },
                shutdown_signal(),
            )
            .await
        }
        other => bail!("internal: `{other:?}` has no implementation"),
    }
}

/// [`run`], with the failures reported here that have an exit code of
/// their own, or suggest commands (which name the home, so they work when
/// pasted), or offer ids for a mistyped one; the others are reported by
/// `main_with`, with [`render::EXIT_ERROR`].
async fn run_to_exit(cli: Cli) -> Result<ExitCode> {
    match run(cli).await {
        Err(e) => {
            let said = liaison_net::tool::chain(e.as_ref());
            let shown = render::with_home(&said);
            let instead = render::corrected_command(&said);
            let code = render::exit_code(&e);
            if code == render::EXIT_ERROR && shown == said && instead.is_none() {
                return Err(e);
            }
            eprintln!("liaison: {shown}");
            if let Some(cmd) = instead {
                eprintln!("hint: {cmd}");
            } else if let Some(h) = liaison_net::tool::retry_hint(e.as_ref()) {
                eprintln!("hint: {h}");
            }
            Ok(ExitCode::from(code))
        }
        ok => ok,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    render::set_home(cli.home.as_deref());
    liaison_net::tool::main_with(
        "liaison",
        render::EXIT_ERROR,
        run_to_exit(cli),
        |code| code,
        |_| None,
    )
}
