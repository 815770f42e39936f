//! `liaison-admin`: tools for country authorities and the network authority.
//!
//! The root ceremony commands (`root ...`, `authority keygen`, `authority
//! install`, `bundle`, `show`) never touch the network: run them on an
//! air-gapped machine and carry the files. The authority commands (`enrol`,
//! `update`, `revoke`, `revoke-device`, `add-device`, `role ...`, `list`)
//! talk to the relay named in the bundle.
//!
//! Exit codes ([`EXIT_ERROR`], [`EXIT_USAGE`]): 0 success; 1 error (the
//! message, then a hint); 2 usage error.
//!
//! What is signed, checked and shown is decided by the `liaison-admin`
//! library; this binary parses the arguments, calls it and prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use liaison_admin::views::{CertificateView, DirectoryView, RoleView, render_fields};
use liaison_admin::{
    self as admin, BundleParams, CertificateFile, DEFAULT_AUTHORITY_VALIDITY_DAYS,
    DEFAULT_VALIDITY_DAYS, RecordChanges, RoleParams, Signing, current_time,
};
use liaison_protocol::armor::{ArmorKind, armor_wire};
use liaison_protocol::bundle::{AuthorityKeyFile, Bundle};
use liaison_protocol::directory::AuthorityCertificate;
use liaison_protocol::shell::{held_path, quote_path, written};
use liaison_protocol::{CountryCode, DirectoryId, Signed};
use serde_json::{Value, json};

/// Exit code: the operation was refused or failed (the message says why,
/// and a hint what to do).
const EXIT_ERROR: u8 = 1;
/// Exit code: the command line is wrong.
const EXIT_USAGE: u8 = 2;

/// Liaison administration: the network root's offline ceremony and each
/// country authority's directory (focal points, devices, roles).
///
/// The root and authority keys are kept encrypted under a passphrase, asked
/// for when a key is used (or taken from LIAISON_ADMIN_PASSPHRASE, for
/// scripts). A development network's keys (liaison-relay dev) are the one
/// exception: written in the clear and marked so.
#[derive(Parser, Debug)]
#[command(name = "liaison-admin", version)]
struct Cli {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// The authority key and the network it acts in.
#[derive(Args, Debug)]
struct Authority {
    /// Your authority key file (such as TH.key).
    #[arg(long, value_parser = held_path)]
    authority: PathBuf,
    /// The network's enrolment bundle.
    #[arg(long, value_parser = held_path)]
    bundle: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify an enrolment request, sign a focal point record with your
    /// authority key and publish it to the relay.
    Enrol {
        /// Your authority key file (country.key).
        #[arg(long, value_parser = held_path)]
        authority: PathBuf,
        /// The network's enrolment bundle.
        #[arg(long, value_parser = held_path)]
        bundle: PathBuf,
        /// Record version (1 for a new focal point; higher to supersede).
        #[arg(long, default_value_t = 1)]
        version: u64,
        /// Days the record stays valid.
        #[arg(long, default_value_t = DEFAULT_VALIDITY_DAYS)]
        valid_days: u64,
        /// Confirm that this request replaces the identity of an enrolled
        /// focal point (one who lost the device holding it): the fingerprint
        /// of the identity being replaced, as the refusal without it prints.
        /// Its devices are dropped and its client raises an alert.
        #[arg(long, value_name = "FINGERPRINT")]
        replace_identity: Option<String>,
        /// The focal point's enrolment.request file.
        request: PathBuf,
    },
    /// Show what an enrolment request contains, and its fingerprint, without
    /// signing anything.
    ShowRequest {
        /// The enrolment.request file.
        request: PathBuf,
    },
    /// Show any Liaison file (authority request, certificate, revocation,
    /// device approval, enrolment request) and whether its own signatures
    /// hold. Signs nothing, needs no network.
    Show {
        /// The file.
        file: PathBuf,
    },
    /// The network root's offline ceremony.
    #[command(subcommand)]
    Root(RootCommand),
    /// A country authority's own key: create it, install its certificate.
    #[command(subcommand)]
    Authority(AuthorityCommand),
    /// Encrypt a key file kept in the clear, or change a key's passphrase.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Publish root-signed authority certificates and revocations to the
    /// relay (carried from the offline root machine).
    Publish {
        /// The network's enrolment bundle.
        #[arg(long, value_parser = held_path)]
        bundle: PathBuf,
        /// Certificate (.cert) and revocation (.revocation) files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write a production enrolment bundle (no secret in it).
    Bundle {
        /// Network name, for display.
        #[arg(long, default_value = "liaison")]
        network: String,
        /// The network root's public key in hex (printed by `root init`).
        #[arg(long)]
        root_key: String,
        /// The relay's address, host:port.
        #[arg(long)]
        relay: String,
        /// SHA-256 of the relay's TLS certificate in hex
        /// (`liaison-relay cert-fingerprint`).
        #[arg(long)]
        cert_sha256: String,
        /// C2SP verifier key of the relay's directory log.
        #[arg(long)]
        directory_log_key: String,
        /// C2SP verifier key of the relay's event log.
        #[arg(long)]
        event_log_key: String,
        /// C2SP cosignature verifier key of a trusted witness (repeat for each).
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// Witness cosignatures clients require on every checkpoint.
        #[arg(long, default_value_t = 0)]
        quorum: usize,
        /// Where to write the bundle (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Publish a new version of a focal point's record with the given
    /// changes (fields not given are kept).
    Update {
        #[command(flatten)]
        auth: Authority,
        /// The focal point's id.
        #[arg(long, value_parser = parse_id)]
        id: DirectoryId,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        /// Unit.
        #[arg(long)]
        unit: Option<String>,
        /// Agency.
        #[arg(long)]
        agency: Option<String>,
        /// Language (BCP 47); repeat for each; replaces the list.
        #[arg(long = "language")]
        languages: Vec<String>,
        /// IANA time zone, such as Asia/Bangkok.
        #[arg(long)]
        time_zone: Option<String>,
        /// Working hours, such as "Mon-Fri 08:30-16:30".
        #[arg(long)]
        working_hours: Option<String>,
        /// Contact notes.
        #[arg(long)]
        notes: Option<String>,
        /// Roles held, comma-separated (informational); "" clears them.
        #[arg(long)]
        roles: Option<String>,
        /// Renew: the record is valid for this many days from now.
        #[arg(long)]
        valid_days: Option<u64>,
    },
    /// Revoke a focal point: a new record version nobody encrypts to and the
    /// relay no longer admits.
    Revoke {
        #[command(flatten)]
        auth: Authority,
        /// The focal point's id.
        #[arg(long, value_parser = parse_id)]
        id: DirectoryId,
        /// Why, shown to everyone reading the directory.
        #[arg(long, value_parser = written)]
        reason: String,
    },
    /// Remove one device from a focal point's record (a lost laptop).
    RevokeDevice {
        #[command(flatten)]
        auth: Authority,
        /// The focal point's id.
        #[arg(long, value_parser = parse_id)]
        id: DirectoryId,
        /// The device's fingerprint (or a unique prefix of 8+ hex digits) or
        /// its key in hex, as `list` shows them.
        #[arg(long)]
        device: String,
    },
    /// Countersign a new device of a focal point: the approval made on one
    /// of its existing devices (`liaison device approve`) and completed by
    /// the new device with its proof (`liaison device link`).
    AddDevice {
        #[command(flatten)]
        auth: Authority,
        /// The completed device approval (NEW_HOME/device.approval).
        approval: PathBuf,
    },
    /// Role records: who is on call for a duty desk.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Show the directory as your authority sees it: authorities, focal
    /// points, roles, and anything that failed verification.
    List {
        #[command(flatten)]
        auth: Authority,
    },
}

#[derive(Subcommand, Debug)]
enum RootCommand {
    /// Create the network root key, encrypted under a new passphrase
    /// (owner-only). Prints the public key that goes in every bundle.
    Init {
        /// Where to write the root key (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the root key's public key and fingerprint.
    Show {
        /// The root key file.
        #[arg(long, value_parser = held_path)]
        root: PathBuf,
    },
    /// Certify a country authority's key from its request file.
    Certify {
        /// The root key file.
        #[arg(long, value_parser = held_path)]
        root: PathBuf,
        /// The authority's request (COUNTRY.key.request).
        #[arg(long)]
        request: PathBuf,
        /// Days the certificate stays valid.
        #[arg(long, default_value_t = DEFAULT_AUTHORITY_VALIDITY_DAYS)]
        valid_days: u64,
        /// Serial number.
        #[arg(long, default_value_t = 1)]
        serial: u64,
        /// Where to write the certificate (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Renew an authority certificate: same key, next serial, new validity.
    Renew {
        /// The root key file.
        #[arg(long, value_parser = held_path)]
        root: PathBuf,
        /// The authority's current certificate.
        #[arg(long)]
        cert: PathBuf,
        /// Days the new certificate stays valid.
        #[arg(long, default_value_t = DEFAULT_AUTHORITY_VALIDITY_DAYS)]
        valid_days: u64,
        /// Serial number (default: the current one plus one).
        #[arg(long)]
        serial: Option<u64>,
        /// Where to write the new certificate (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke an authority key for good: its certificate with the next
    /// serial and the revoked flag. Publish it with `publish`.
    RevokeAuthority {
        /// The root key file.
        #[arg(long, value_parser = held_path)]
        root: PathBuf,
        /// The authority's latest certificate.
        #[arg(long)]
        cert: PathBuf,
        /// Serial number (default: the certificate's plus one).
        #[arg(long)]
        serial: Option<u64>,
        /// Where to write the revocation (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum AuthorityCommand {
    /// Create a new authority key, encrypted under a new passphrase
    /// (owner-only), and the request file to carry to the network root,
    /// KEY.request.
    Keygen {
        /// The country the authority speaks for (ISO 3166-1 alpha-2).
        #[arg(long, value_parser = parse_country)]
        country: CountryCode,
        /// The authority's name, as it will appear in its certificate.
        #[arg(long)]
        name: String,
        /// Where to write the key (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Install the root's certificate in the key file (replacing an older
    /// certificate on renewal).
    Install {
        /// The authority key file.
        #[arg(long)]
        key: PathBuf,
        /// The certificate from the root.
        #[arg(long)]
        cert: PathBuf,
        /// Also check the certificate against this bundle's root key.
        #[arg(long)]
        bundle: Option<PathBuf>,
    },
    /// Show an authority key file's public part and certificate.
    Show {
        /// The authority key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Write the certificate installed in a key file as a certificate file
    /// (to have it renewed or revoked by the root).
    ExportCert {
        /// The authority key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the certificate (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Encrypt a root or authority key file that is in the clear (written
    /// by an earlier release, or a development network's) under a new
    /// passphrase, in place.
    Seal {
        /// The key file.
        file: PathBuf,
    },
    /// Change the passphrase of an encrypted key file, in place. Without a
    /// terminal, the current passphrase is taken from
    /// LIAISON_ADMIN_PASSPHRASE and the new one from
    /// LIAISON_ADMIN_NEW_PASSPHRASE.
    ChangePassphrase {
        /// The key file.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum RoleCommand {
    /// Create a role, or hand it over: publish its next version with these
    /// holders in on-call order.
    Set {
        #[command(flatten)]
        auth: Authority,
        /// The role's id, such as th.dsi.tip-duty.
        #[arg(long, value_parser = parse_id)]
        role: DirectoryId,
        /// Human name (required for a new role; kept otherwise).
        #[arg(long)]
        name: Option<String>,
        /// What the role is for, hours, escalation (kept if not given).
        #[arg(long)]
        description: Option<String>,
        /// Holders' ids in on-call order, comma-separated ("" for none).
        #[arg(long, value_parser = parse_id_list)]
        holders: IdList,
        /// Days the role record stays valid from now (a new role: 730;
        /// otherwise kept if not given).
        #[arg(long)]
        valid_days: Option<u64>,
    },
    /// Show one role: its holders and whom it reaches now.
    Show {
        #[command(flatten)]
        auth: Authority,
        /// The role's id.
        #[arg(long, value_parser = parse_id)]
        role: DirectoryId,
    },
}

/// Comma-separated ids.
#[derive(Clone, Debug)]
struct IdList(Vec<DirectoryId>);

fn parse_id(s: &str) -> Result<DirectoryId, String> {
    DirectoryId::parse(s).map_err(|e| e.to_string())
}

fn parse_id_list(s: &str) -> Result<IdList, String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(parse_id)
        .collect::<Result<Vec<_>, _>>()
        .map(IdList)
}

fn parse_country(s: &str) -> Result<CountryCode, String> {
    CountryCode::parse(s).map_err(|_| "expected a two-letter country code such as TH".to_owned())
}

/// Print `text` as is to stdout; a closed pipe (`| head`) ends the program
/// successfully.
fn emit_raw(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("liaison-admin: writing output: {e}");
        std::process::exit(i32::from(EXIT_ERROR));
    }
}

/// Print a line.
fn emit(text: &str) {
    emit_raw(&format!("{text}\n"));
}

fn emit_json(v: &Value) {
    emit(&v.to_string());
}

fn warn(text: &str) {
    eprintln!("warning: {text}");
}

/// The authority key and bundle, checked against each other.
fn load(auth: &Authority) -> Result<(AuthorityKeyFile, Bundle)> {
    let key = admin::load_authority(&auth.authority, &mut ask_passphrase)?;
    let bundle = admin::load_bundle(&auth.bundle)?;
    Ok((key, bundle))
}

fn print_signing(json: bool, s: &Signing, details: Value) {
    if json {
        emit_json(&s.published_json(&details));
    } else {
        emit(&s.published_text());
    }
}

async fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Enrol {
            authority,
            bundle,
            version,
            valid_days,
            replace_identity,
            request,
        } => {
            let auth = admin::load_authority(&authority, &mut ask_passphrase)?;
            let bundle_path = bundle;
            let bundle = admin::load_bundle(&bundle_path)?;
            let (_, req) = admin::load_enrolment_request(&request)?;
            admin::enrol(
                &bundle,
                &auth,
                &req,
                version,
                valid_days,
                replace_identity.as_deref(),
                current_time(),
            )
            .await
            .map_err(|error| {
                EnrolRefused::wrap(error, &authority, &bundle_path, valid_days, &request)
            })?;
            if json {
                emit_json(
                    &json!({"id": req.id.to_string(), "version": version, "published": true,
                           "identity_fingerprint": req.identity_key.fingerprint().to_string()}),
                );
            } else {
                emit(&format!(
                    "Enrolled {} ({}, {} {}) version {version}; identity fingerprint {}",
                    req.id,
                    req.name,
                    req.country,
                    req.agency,
                    req.identity_key.fingerprint()
                ));
            }
            Ok(())
        }
        Command::ShowRequest { request } => {
            let (_, req) = admin::load_enrolment_request(&request)?;
            if json {
                emit_json(
                    &json!({"id": req.id.to_string(), "name": req.name, "country": req.country.to_string(),
                           "agency": req.agency, "identity_fingerprint": req.identity_key.fingerprint().to_string(),
                           "created_at": req.created_at.to_rfc3339()}),
                );
            } else {
                emit(&format!("id:                   {}", req.id));
                emit(&format!("name:                 {}", req.name));
                emit(&format!(
                    "country / agency:     {} / {}",
                    req.country, req.agency
                ));
                emit(&format!(
                    "identity fingerprint: {}",
                    req.identity_key.fingerprint()
                ));
                emit(&format!("created:              {}", req.created_at));
            }
            Ok(())
        }
        Command::Show { file } => {
            let text = admin::read_text(&file, "file")?;
            let v =
                admin::views::describe_file(&text).with_context(|| file.display().to_string())?;
            if json {
                emit_json(&v);
            } else {
                emit_raw(&render_fields(&v));
            }
            Ok(())
        }
        Command::Root(cmd) => root(json, cmd),
        Command::Authority(cmd) => authority(json, cmd),
        Command::Key(cmd) => key(json, cmd),
        Command::Publish { bundle, files } => {
            let bundle = admin::load_bundle(&bundle)?;
            let mut done = Vec::new();
            for f in &files {
                let text = admin::read_text(f, "certificate")?;
                let (signed, _) = admin::parse_certificate_file(&text)
                    .with_context(|| f.display().to_string())?;
                let cert = admin::publish_authority(&bundle, signed)
                    .await
                    .with_context(|| f.display().to_string())?;
                let what = if cert.revoked {
                    "revocation"
                } else {
                    "certificate"
                };
                if json {
                    done.push(
                        CertificateView::new(&cert)
                            .with(&json!({"file": f.display().to_string(), "published": true})),
                    );
                } else {
                    emit(&format!(
                        "Published the {} authority {what} (serial {}, key fingerprint {}) from {}",
                        cert.country,
                        cert.serial,
                        cert.key.fingerprint(),
                        f.display()
                    ));
                }
            }
            if json {
                emit_json(&Value::Array(done));
            }
            Ok(())
        }
        Command::Bundle {
            network,
            root_key,
            relay,
            cert_sha256,
            directory_log_key,
            event_log_key,
            witnesses,
            quorum,
            out,
        } => {
            let b = admin::make_bundle(&BundleParams {
                network,
                root_key,
                relay_addr: relay,
                cert_sha256,
                directory_log_key,
                event_log_key,
                witnesses,
                quorum,
            })?;
            admin::write_new_file(&out, &b.to_toml(), false)?;
            let root = b.root()?;
            if json {
                emit_json(
                    &json!({"file": out.display().to_string(), "network": b.network,
                    "root_key": b.root_key, "root_fingerprint": root.fingerprint().to_string(),
                    "relay_addr": b.relay_addr}),
                );
            } else {
                emit(&format!(
                    "Wrote {} for network {:?}: relay {}, root fingerprint {}",
                    out.display(),
                    b.network,
                    b.relay_addr,
                    root.fingerprint()
                ));
            }
            Ok(())
        }
        Command::Update {
            auth,
            id,
            name,
            unit,
            agency,
            languages,
            time_zone,
            working_hours,
            notes,
            roles,
            valid_days,
        } => {
            let changes = RecordChanges {
                name,
                unit,
                agency,
                languages: (!languages.is_empty()).then_some(languages),
                time_zone,
                working_hours,
                notes,
                roles: roles.map(|r| {
                    r.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect()
                }),
                valid_days,
            };
            let (key, bundle) = load(&auth)?;
            let s = admin::update(&bundle, &key, &id, &changes, current_time()).await?;
            print_signing(json, &s, json!({}));
            Ok(())
        }
        Command::Revoke { auth, id, reason } => {
            let (key, bundle) = load(&auth)?;
            let s = admin::revoke(&bundle, &key, &id, &reason, current_time()).await?;
            print_signing(json, &s, json!({"reason": reason}));
            Ok(())
        }
        Command::RevokeDevice { auth, id, device } => {
            let (key, bundle) = load(&auth)?;
            let (s, removed) =
                admin::revoke_device(&bundle, &key, &id, &device, current_time()).await?;
            let fp = removed.signing.fingerprint().to_string();
            if !json {
                emit(&format!("Removed device {fp} from {id}"));
            }
            print_signing(json, &s, json!({"removed_device": fp}));
            Ok(())
        }
        Command::AddDevice { auth, approval } => {
            let text = admin::read_text(&approval, "device approval")?;
            let approval = admin::parse_device_approval(&text)
                .with_context(|| approval.display().to_string())?;
            let (key, bundle) = load(&auth)?;
            let (s, added) = admin::add_device(&bundle, &key, &approval, current_time()).await?;
            let fp = added.signing.fingerprint().to_string();
            if !json {
                emit(&format!("Added device {fp} to {}", s.subject));
            }
            print_signing(json, &s, json!({"added_device": fp}));
            Ok(())
        }
        Command::Role(RoleCommand::Set {
            auth,
            role,
            name,
            description,
            holders,
            valid_days,
        }) => {
            let (key, bundle) = load(&auth)?;
            let params = RoleParams {
                id: role,
                name,
                description,
                holders: holders.0,
                valid_days,
            };
            let (s, warnings) = admin::set_role(&bundle, &key, &params, current_time()).await?;
            for w in &warnings {
                warn(w);
            }
            let holders: Vec<String> = params.holders.iter().map(ToString::to_string).collect();
            if !json {
                emit(&format!(
                    "Holders of {} in on-call order: {}",
                    s.subject,
                    if holders.is_empty() {
                        "(none)".to_owned()
                    } else {
                        holders.join(", ")
                    }
                ));
            }
            print_signing(json, &s, json!({"holders": holders, "warnings": warnings}));
            Ok(())
        }
        Command::Role(RoleCommand::Show { auth, role }) => {
            let (key, bundle) = load(&auth)?;
            let at = current_time();
            let view = admin::fetch_directory(&bundle, &key, at).await?;
            let shown = RoleView::new(&view.directory, view.role(&role)?, at);
            if json {
                emit_json(&shown.to_json());
            } else {
                emit_raw(&shown.render());
            }
            Ok(())
        }
        Command::List { auth } => {
            let (key, bundle) = load(&auth)?;
            let at = current_time();
            let view = admin::fetch_directory(&bundle, &key, at).await?;
            let shown = DirectoryView::new(&view, at);
            if json {
                emit_json(&shown.to_json());
            } else {
                emit_raw(&shown.render());
            }
            Ok(())
        }
    }
}

fn root(json: bool, cmd: RootCommand) -> Result<()> {
    let at = current_time();
    match cmd {
        RootCommand::Init { out } => {
            admin::check_absent(&[&out])?;
            let root = admin::new_secret_key()?;
            let passphrase = new_passphrase(&out, PASSPHRASE_ENV)?;
            let sealed = admin::seal_key_text(&admin::root_key_text(&root), &passphrase)?;
            admin::write_new_file(&out, &sealed, true)?;
            let pk = root.public_key();
            if json {
                emit_json(
                    &json!({"file": out.display().to_string(), "public_key": pk.to_hex(),
                    "fingerprint": pk.fingerprint().to_string()}),
                );
            } else {
                emit(&format!(
                    "Wrote the network root key to {} (encrypted under your passphrase, owner-only). Keep it offline, and the passphrase apart from it.",
                    out.display()
                ));
                emit(&format!("public key:  {}", pk.to_hex()));
                emit(&format!("fingerprint: {}", pk.fingerprint()));
                emit(
                    "Put the public key in every bundle (its --root-key: see `liaison-admin bundle --help`) and publish the fingerprint.",
                );
            }
            Ok(())
        }
        RootCommand::Show { root } => {
            let pk = admin::load_root(&root, &mut ask_passphrase)?.public_key();
            if json {
                emit_json(
                    &json!({"public_key": pk.to_hex(), "fingerprint": pk.fingerprint().to_string()}),
                );
            } else {
                emit(&format!("public key:  {}", pk.to_hex()));
                emit(&format!("fingerprint: {}", pk.fingerprint()));
            }
            Ok(())
        }
        RootCommand::Certify {
            root,
            request,
            valid_days,
            serial,
            out,
        } => {
            let root = admin::load_root(&root, &mut ask_passphrase)?;
            let text = admin::read_text(&request, "authority request")?;
            let (signed_req, _) = admin::parse_authority_request(&text)
                .with_context(|| request.display().to_string())?;
            let (signed, cert) = admin::certify(&root, &signed_req, serial, valid_days, at)?;
            write_certificate(&out, &signed, &cert)?;
            report_certificate(
                json,
                &out,
                &signed,
                &cert,
                "Compare the key fingerprint with the one the authority gave you out of band before handing the certificate over.",
            );
            Ok(())
        }
        RootCommand::Renew {
            root,
            cert,
            valid_days,
            serial,
            out,
        } => {
            let root = admin::load_root(&root, &mut ask_passphrase)?;
            let (current, _) = read_certificate(&cert)?;
            let (signed, c) = admin::renew(&root, &current, serial, valid_days, at)?;
            write_certificate(&out, &signed, &c)?;
            report_certificate(
                json,
                &out,
                &signed,
                &c,
                &format!(
                    "The authority installs it (see `liaison-admin authority install --help`), then it is published (the network's bundle in place of the dots): `liaison-admin publish --bundle ... {}`",
                    quote_path(&out)
                ),
            );
            Ok(())
        }
        RootCommand::RevokeAuthority {
            root,
            cert,
            serial,
            out,
        } => {
            let root = admin::load_root(&root, &mut ask_passphrase)?;
            let (current, _) = read_certificate(&cert)?;
            let (signed, c) = admin::revoke_authority(&root, &current, serial)?;
            write_certificate(&out, &signed, &c)?;
            report_certificate(
                json,
                &out,
                &signed,
                &c,
                &format!(
                    "Publish it at once (the network's bundle in place of the dots): `liaison-admin publish --bundle ... {}`; the relay then refuses everything this key signs.",
                    quote_path(&out)
                ),
            );
            Ok(())
        }
    }
}

fn read_certificate(path: &Path) -> Result<CertificateFile> {
    let text = admin::read_text(path, "certificate")?;
    admin::parse_certificate_file(&text).with_context(|| path.display().to_string())
}

fn write_certificate(
    out: &Path,
    signed: &Signed<AuthorityCertificate>,
    cert: &AuthorityCertificate,
) -> Result<()> {
    Ok(admin::write_new_file(
        out,
        &admin::armor_certificate(signed, cert),
        false,
    )?)
}

fn report_certificate(
    json: bool,
    out: &Path,
    signed: &Signed<AuthorityCertificate>,
    cert: &AuthorityCertificate,
    next: &str,
) {
    let s = Signing::certificate(cert, signed);
    if json {
        emit_json(&s.certificate_json(cert, &json!({"file": out.display().to_string()})));
    } else {
        emit(&format!("{} ({:?})", s.sentence(), cert.name));
        emit(&format!(
            "valid {} to {}; written to {}",
            cert.not_before.to_rfc3339(),
            cert.not_after.to_rfc3339(),
            out.display()
        ));
        emit(next);
    }
}

/// The passphrase of the key files, for scripts (else asked on the terminal).
const PASSPHRASE_ENV: &str = "LIAISON_ADMIN_PASSPHRASE";
/// The new passphrase for `key change-passphrase`, for scripts.
const NEW_PASSPHRASE_ENV: &str = "LIAISON_ADMIN_NEW_PASSPHRASE";
/// The shortest new passphrase accepted, in characters.
const MIN_PASSPHRASE_CHARS: usize = 12;

/// The passphrase of the sealed key file `path`.
fn ask_passphrase(path: &Path) -> Result<zeroize::Zeroizing<String>, admin::AdminError> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(zeroize::Zeroizing::new(p));
    }
    rpassword::prompt_password(format!("Passphrase for {}: ", path.display()))
        .map(zeroize::Zeroizing::new)
        .map_err(|_| {
            admin::AdminError::Passphrase(format!(
                "{} is encrypted: run this in a terminal to be asked for its passphrase, or set {PASSPHRASE_ENV}",
                path.display()
            ))
        })
}

/// A new passphrase for the key file `path`: from `env` if set, else asked
/// twice on the terminal.
fn new_passphrase(path: &Path, env: &str) -> Result<zeroize::Zeroizing<String>> {
    let p = match std::env::var(env) {
        Ok(p) => zeroize::Zeroizing::new(p),
        Err(_) => {
            let ask = |prompt: String| {
                rpassword::prompt_password(prompt).map(zeroize::Zeroizing::new).map_err(|_| {
                    admin::AdminError::Passphrase(format!(
                        "{} is to be encrypted under a new passphrase: run this in a terminal to be asked for it, or set {env}",
                        path.display()
                    ))
                })
            };
            let p = ask(format!("New passphrase for {}: ", path.display()))?;
            let again = ask("Repeat the new passphrase: ".to_owned())?;
            if *p != *again {
                return Err(admin::AdminError::Passphrase(
                    "the two passphrases differ; nothing was written".into(),
                )
                .into());
            }
            p
        }
    };
    if p.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(admin::AdminError::Passphrase(format!(
            "the new passphrase is too short: use at least {MIN_PASSPHRASE_CHARS} characters (a few unrelated words are easy to remember); nothing was written"
        ))
        .into());
    }
    Ok(p)
}

fn key(json: bool, cmd: KeyCommand) -> Result<()> {
    let (file, sealed_before) = match cmd {
        KeyCommand::Seal { file } => {
            let mut refuse = |_: &Path| -> Result<zeroize::Zeroizing<String>, admin::AdminError> {
                Err(admin::AdminError::AlreadySealed { path: file.clone() })
            };
            let current = admin::read_key_text(&file, "key", &mut refuse)?;
            let plain = admin::canonical_key_text(&current.text).with_context(|| {
                format!("{} is not a root or authority key file", file.display())
            })?;
            let passphrase = new_passphrase(&file, PASSPHRASE_ENV)?;
            let sealed = admin::seal_key_text(&plain, &passphrase)?;
            admin::replace_secret_file(&file, &zeroize::Zeroizing::new(sealed))?;
            (file, false)
        }
        KeyCommand::ChangePassphrase { file } => {
            let current = admin::read_key_text(&file, "key", &mut ask_passphrase)?;
            if current.passphrase().is_none() {
                return Err(admin::AdminError::Unsealed { path: file }.into());
            }
            let passphrase = new_passphrase(&file, NEW_PASSPHRASE_ENV)?;
            let sealed = admin::seal_key_text(&current.text, &passphrase)?;
            admin::replace_secret_file(&file, &zeroize::Zeroizing::new(sealed))?;
            (file, true)
        }
    };
    if json {
        emit_json(&json!({"file": file.display().to_string(), "sealed": true}));
    } else if sealed_before {
        emit(&format!("Changed the passphrase of {}.", file.display()));
    } else {
        emit(&format!(
            "Encrypted {} under the new passphrase. Delete any copy kept in the clear (backups included).",
            file.display()
        ));
    }
    Ok(())
}

fn authority(json: bool, cmd: AuthorityCommand) -> Result<()> {
    let at = current_time();
    match cmd {
        AuthorityCommand::Keygen { country, name, out } => {
            let req_path = admin::request_path(&out);
            admin::check_absent(&[&out, &req_path])?;
            let pending = admin::keygen(country, &name, admin::new_secret_key()?)?;
            let request = pending.request(at);
            let passphrase = new_passphrase(&out, PASSPHRASE_ENV)?;
            let sealed =
                admin::seal_key_text(&zeroize::Zeroizing::new(pending.to_toml()), &passphrase)?;
            admin::write_new_file(&out, &sealed, true)?;
            admin::write_new_file(
                &req_path,
                &armor_wire(ArmorKind::AuthorityRequest, &request),
                false,
            )?;
            let fp = pending.key.public_key().fingerprint().to_string();
            if json {
                emit_json(
                    &json!({"key_file": out.display().to_string(), "request_file": req_path.display().to_string(),
                    "country": country.to_string(), "name": name, "fingerprint": fp}),
                );
            } else {
                emit(&format!(
                    "Wrote the {country} authority key to {} (encrypted under your passphrase, owner-only, not yet certified)",
                    out.display()
                ));
                emit(&format!(
                    "and the request for the network root to {}",
                    req_path.display()
                ));
                emit(&format!("key fingerprint: {fp}"));
                emit(
                    "Give the root this fingerprint by another channel (in person or by phone), so it can check the request it receives.",
                );
            }
            Ok(())
        }
        AuthorityCommand::Install { key, cert, bundle } => {
            let key_text = admin::read_key_text(&key, "authority key", &mut ask_passphrase)?;
            let (signed, _) = read_certificate(&cert)?;
            let root = match &bundle {
                Some(b) => Some(admin::load_bundle(b)?.root()?),
                None => None,
            };
            let file = admin::install(&key_text.text, &signed, root.as_ref(), at)
                .with_context(|| format!("installing {} in {}", cert.display(), key.display()))?;
            // The key stays as it was kept: sealed under the same passphrase,
            // or a development network's in the clear; a clear key of an
            // earlier release is sealed now.
            let text = match &key_text.protection {
                admin::Protection::Sealed(p) => {
                    admin::seal_key_text(&zeroize::Zeroizing::new(file.to_toml()), p)?
                }
                admin::Protection::Development => file.to_development_toml(),
                admin::Protection::Clear => admin::seal_key_text(
                    &zeroize::Zeroizing::new(file.to_toml()),
                    &new_passphrase(&key, PASSPHRASE_ENV)?,
                )?,
            };
            admin::replace_secret_file(&key, &zeroize::Zeroizing::new(text))?;
            let c = file.certificate.decode_unverified()?;
            if json {
                emit_json(&CertificateView::new(&c).with(
                    &json!({"key_file": key.display().to_string(), "root_checked": root.is_some()}),
                ));
            } else {
                emit(&format!(
                    "Installed the {} authority certificate serial {} (valid to {}) in {}",
                    c.country,
                    c.serial,
                    c.not_after.to_rfc3339(),
                    key.display()
                ));
                if root.is_none() {
                    warn(
                        "the certificate was not checked against a bundle's root key (give --bundle to check)",
                    );
                }
                emit(&match &bundle {
                    Some(bundle) => format!(
                        "Publish the certificate: `liaison-admin publish --bundle {} {}`",
                        quote_path(bundle),
                        quote_path(&cert)
                    ),
                    None => format!(
                        "Publish the certificate (the network's bundle in place of the dots): `liaison-admin publish --bundle ... {}`",
                        quote_path(&cert)
                    ),
                });
            }
            Ok(())
        }
        AuthorityCommand::Show { key } => {
            let f = admin::load_authority(&key, &mut ask_passphrase)?;
            let c = f.certificate.decode_unverified()?;
            let v = CertificateView::new(&c)
                .with(&json!({"certified_by": f.certificate.signer().fingerprint().to_string()}));
            if json {
                emit_json(&v);
            } else {
                emit_raw(&render_fields(&v));
            }
            Ok(())
        }
        AuthorityCommand::ExportCert { key, out } => {
            let f = admin::load_authority(&key, &mut ask_passphrase)?;
            let c = f.certificate.decode_unverified()?;
            write_certificate(&out, &f.certificate, &c)?;
            if json {
                emit_json(
                    &json!({"file": out.display().to_string(), "country": c.country.to_string(), "serial": c.serial}),
                );
            } else {
                emit(&format!(
                    "Wrote the {} authority certificate serial {} to {}",
                    c.country,
                    c.serial,
                    out.display()
                ));
            }
            Ok(())
        }
    }
}

/// An enrolment refused because the id is enrolled already, with the
/// whole command that publishes the request as its next version (or
/// replaces the identity), built from the paths given, to paste; also
/// other refusals whose hint needs the paths given.
#[derive(Debug)]
struct EnrolRefused {
    error: admin::AdminError,
    hint: String,
}

impl EnrolRefused {
    /// `error`, with the command to paste when there is one.
    fn wrap(
        error: admin::AdminError,
        authority: &Path,
        bundle: &Path,
        valid_days: u64,
        request: &Path,
    ) -> anyhow::Error {
        use admin::AdminError as E;
        let command = |version: u64, replace: Option<&liaison_protocol::PublicKey>| {
            let q = liaison_protocol::shell::quote_path;
            let mut c = format!(
                "liaison-admin enrol --authority {} --bundle {} --version {version}",
                q(authority),
                q(bundle)
            );
            if valid_days != DEFAULT_VALIDITY_DAYS {
                c.push_str(&format!(" --valid-days {valid_days}"));
            }
            if let Some(k) = replace {
                c.push_str(&format!(
                    " --replace-identity {}",
                    k.fingerprint().to_string().replace(' ', "")
                ));
            }
            format!("{c} {}", q(request))
        };
        let replace = |cmd: String| {
            format!(
                "if the person lost the device that holds their identity and you checked this \
                 request with them, replace it (their client then alerts them at its next \
                 sync): {cmd}; otherwise enrol the request under another id"
            )
        };
        let hint = match &error {
            E::VersionExists {
                version,
                replaces: None,
                ..
            } => Some(format!(
                "to publish this request as the record's next version: {}",
                command(version.saturating_add(1), None)
            )),
            E::VersionExists {
                version,
                replaces: Some(current),
                ..
            } => Some(replace(command(version.saturating_add(1), Some(current)))),
            E::IdentityReplacement {
                version, current, ..
            } => Some(replace(command(*version, Some(current)))),
            _ => None,
        };
        match hint {
            Some(hint) => EnrolRefused { error, hint }.into(),
            None => error.into(),
        }
    }
}

impl std::fmt::Display for EnrolRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for EnrolRefused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// The authority key and bundle the command was given, for the commands
/// its hints suggest.
fn auth_of(command: &Command) -> Option<(PathBuf, PathBuf)> {
    let pair = |a: &Authority| Some((a.authority.clone(), a.bundle.clone()));
    match command {
        Command::Enrol {
            authority, bundle, ..
        } => Some((authority.clone(), bundle.clone())),
        Command::Update { auth, .. }
        | Command::Revoke { auth, .. }
        | Command::RevokeDevice { auth, .. }
        | Command::AddDevice { auth, .. }
        | Command::List { auth }
        | Command::Role(RoleCommand::Set { auth, .. } | RoleCommand::Show { auth, .. }) => {
            pair(auth)
        }
        _ => None,
    }
}

/// `hint` with `--authority` and `--bundle`, as this command was given
/// them, in every `liaison-admin` command it suggests that takes them and
/// lacks them, so that it works when pasted.
fn with_auth(hint: &str, auth: Option<&(PathBuf, PathBuf)>) -> String {
    const TAKES: [&str; 8] = [
        "enrol",
        "update",
        "revoke-device",
        "revoke",
        "add-device",
        "list",
        "role set",
        "role show",
    ];
    let Some((authority, bundle)) = auth else {
        return hint.to_owned();
    };
    let q = liaison_protocol::shell::quote_path;
    let flags = format!(" --authority {} --bundle {}", q(authority), q(bundle));
    let mut out = String::with_capacity(hint.len() + flags.len());
    let mut rest = hint;
    while let Some(at) = rest.find("liaison-admin ") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let tail = after.get("liaison-admin ".len()..).unwrap_or_default();
        out.push_str("liaison-admin ");
        // The command runs to the end of its quote, parenthesis or clause.
        let end = tail.find(['`', ')', ';']).unwrap_or(tail.len());
        let command = tail.get(..end).unwrap_or_default();
        let sub = TAKES.iter().find(|s| {
            command.starts_with(*s)
                && command
                    .get(s.len()..)
                    .is_some_and(|r| r.is_empty() || r.starts_with(' '))
        });
        match sub {
            Some(sub) if !command.contains("--authority") => {
                out.push_str(sub);
                out.push_str(&flags);
                rest = tail.get(sub.len()..).unwrap_or_default();
            }
            _ => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` are not errors.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let auth = auth_of(&cli.command);
    liaison_net::tool::main_with(
        "liaison-admin",
        EXIT_ERROR,
        run(cli),
        |()| ExitCode::SUCCESS,
        |e| {
            e.downcast_ref::<EnrolRefused>()
                .map(|r| r.hint.clone())
                .or_else(|| admin::hint_of(e.as_ref()))
                .map(|h| with_auth(&h, auth.as_ref()))
        },
    )
}
