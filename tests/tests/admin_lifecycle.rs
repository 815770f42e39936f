//! The directory lifecycle through the real `liaison-admin` binary against a
//! real relay: the network root's offline ceremony for a new country,
//! enrolment, updates, devices, roles and handovers, revocation of focal
//! points and of authorities, and the country rule enforced by the tool and,
//! for a record forged with the library, by the relay.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use liaison_admin::{self as admin, RecordChanges};
use liaison_net::LinkError;
use liaison_protocol::frames::ErrorCode;
use liaison_tests::{DevNet, admin_command, assert_success, bin, inproc};
use serde_json::Value;

fn admin_cmd(args: &[&str]) -> Output {
    admin_command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The command between backquotes in `out`'s output that starts with
/// `start`.
fn printed(out: &Output, start: &str) -> String {
    let said = liaison_tests::output_text(out);
    said.split('`')
        .find(|part| part.starts_with(start))
        .unwrap_or_else(|| panic!("no `{start}…` in:\n{said}"))
        .to_owned()
}

/// `command`, run as printed, is refused only because of the dots that
/// stand for a file the person holds.
fn assert_fails_for_the_dots(command: &str) {
    let out = liaison_tests::run_as_printed(command);
    let said = liaison_tests::output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{command}:\n{said}");
    assert!(
        said.contains("`...` stands for a file or directory"),
        "{command}:\n{said}"
    );
}

/// Run with `--json`, require success, parse stdout.
fn admin_json(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = admin_cmd(&all);
    assert_success(&out, &format!("liaison-admin {}", args.join(" ")));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "liaison-admin {} printed no JSON ({e}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Require exit code 1 and a message containing `needle`, with a hint.
fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a refusal (exit 1) mentioning {needle:?}; stdout: {}; stderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert!(stderr.contains("\nhint: "), "no hint in: {stderr}");
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn records(list: &Value) -> Vec<Value> {
    list["records"].as_array().unwrap().clone()
}

fn record<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
}

fn list(net: &DevNet, authority: &Path) -> Value {
    admin_json(&[
        "list",
        "--authority",
        p(authority),
        "--bundle",
        p(&net.bundle()),
    ])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn root_ceremony_certifies_a_third_country_that_then_enrols_updates_and_messages() {
    let net = DevNet::start();
    let d = net.dir.path();
    let bundle = net.bundle();
    let root = d.join("root.key");

    // The root key in D/root.key is the one the bundle pins.
    let shown = admin_json(&["root", "show", "--root", p(&root)]);
    let bundle_text = std::fs::read_to_string(&bundle).unwrap();
    assert!(bundle_text.contains(shown["public_key"].as_str().unwrap()));

    // The Vietnamese authority makes its key and request ...
    let vn_key = net.authority("VN");
    let name = "Bộ Công an — Cục Cảnh sát hình sự";
    let kg = admin_json(&[
        "authority",
        "keygen",
        "--country",
        "vn",
        "--name",
        name,
        "--out",
        p(&vn_key),
    ]);
    assert_eq!(kg["country"], "VN");
    let request = d.join("authorities").join("VN.key.request");
    assert!(request.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&vn_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is owner-only");
    }
    // ... which is of no use before certification.
    assert_refused(
        &admin_cmd(&["list", "--authority", p(&vn_key), "--bundle", p(&bundle)]),
        "not certified yet",
    );
    // Nothing is overwritten.
    assert_refused(
        &admin_cmd(&[
            "authority",
            "keygen",
            "--country",
            "VN",
            "--name",
            "x",
            "--out",
            p(&vn_key),
        ]),
        "already exists",
    );

    // The root, offline, checks and certifies it; the authority installs the
    // certificate and publishes it.
    let shown_req = admin_json(&["show", p(&request)]);
    assert_eq!(shown_req["fingerprint"], kg["fingerprint"]);
    assert_eq!(shown_req["self_signature_valid"], true);
    let cert = d.join("VN.cert");
    let certified = admin_json(&[
        "root",
        "certify",
        "--root",
        p(&root),
        "--request",
        p(&request),
        "--valid-days",
        "365",
        "--out",
        p(&cert),
    ]);
    assert_eq!(certified["kind"], "certificate");
    assert_eq!(certified["version"], 1);
    assert_eq!(certified["fingerprint"], kg["fingerprint"]);
    assert_eq!(certified["signer"], shown["fingerprint"]);
    assert!(
        std::fs::read_to_string(&cert)
            .unwrap()
            .starts_with("-----BEGIN LIAISON AUTHORITY CERTIFICATE-----\n")
    );
    let out = admin_cmd(&[
        "authority",
        "install",
        "--key",
        p(&vn_key),
        "--cert",
        p(&cert),
        "--bundle",
        p(&bundle),
    ]);
    assert_success(&out, "authority install");
    // The installed file is an ordinary authority key file.
    let vn = inproc::authority(&net, "VN");
    assert_eq!(vn.country.as_str(), "VN");
    // The install names the bundle it was given in the publication it
    // suggests, which runs as printed.
    let publish = printed(&out, "liaison-admin publish ");
    let published = liaison_tests::run_as_printed(&publish);
    assert_success(&published, &publish);
    assert!(
        String::from_utf8_lossy(&published.stdout).contains("ublished"),
        "{}",
        String::from_utf8_lossy(&published.stdout)
    );

    // VN enrols its focal point with the standard tooling, and updates it.
    let van = net.enrol("van", "vn.mps.van", "VN", "MPS");
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let updated = admin_json(&[
        "update",
        "--authority",
        p(&vn_key),
        "--bundle",
        p(&bundle),
        "--id",
        "vn.mps.van",
        "--unit",
        "Anti-trafficking Department",
        "--language",
        "vi",
        "--language",
        "en",
        "--working-hours",
        "Mon-Fri 07:30-16:30",
        "--time-zone",
        "Asia/Ho_Chi_Minh",
    ]);
    assert_eq!(updated["kind"], "record");
    assert_eq!(updated["subject"], "vn.mps.van");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["published"], true);
    assert_eq!(updated["signer"], kg["fingerprint"]);
    // Without any change there is nothing to sign.
    assert_refused(
        &admin_cmd(&[
            "update",
            "--authority",
            p(&vn_key),
            "--bundle",
            p(&bundle),
            "--id",
            "vn.mps.van",
        ]),
        "nothing to change",
    );

    // Another country's authority sees the new version, vouched for by VN.
    let seen = list(&net, &net.authority("TH"));
    assert_eq!(seen["authenticated_as"], "TH");
    let r = record(&seen, "vn.mps.van").expect("vn.mps.van is listed");
    assert_eq!(r["version"], 2);
    assert_eq!(r["unit"], "Anti-trafficking Department");
    assert_eq!(r["languages"], serde_json::json!(["vi", "en"]));
    assert_eq!(r["time_zone"], "Asia/Ho_Chi_Minh");
    assert_eq!(r["status"]["state"], "active");
    assert_eq!(r["vouched_by"]["country"], "VN");
    assert_eq!(r["vouched_by"]["name"], name);
    assert!(
        seen["authorities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["country"] == "VN" && a["name"] == name)
    );

    // Focal points of the new country are reachable end to end.
    let out = alice.run(&["send", "--to", "vn.mps.van", "Xin chào: case file follows"]);
    assert_success(&out, "alice sends to the VN focal point");
    assert_success(&van.run(&["sync"]), "van sync");
    let inbox = van.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["from"], "th.dsi.alice");
    assert_eq!(inbox[0]["verified"], true);

    // Renewal: the dev TH certificate is exported, renewed by the root,
    // installed and published; the key keeps working.
    let th_key = net.authority("TH");
    let th_cert = d.join("TH.cert");
    let th_renewed = d.join("TH.renewed.cert");
    admin_json(&[
        "authority",
        "export-cert",
        "--key",
        p(&th_key),
        "--out",
        p(&th_cert),
    ]);
    let out = admin_cmd(&[
        "root",
        "renew",
        "--root",
        p(&root),
        "--cert",
        p(&th_cert),
        "--valid-days",
        "400",
        "--out",
        p(&th_renewed),
    ]);
    assert_success(&out, "root renew");
    // What it says comes next runs as printed: the install's help, and the
    // publication, which only the dots standing for the bundle stop.
    let help = printed(&out, "liaison-admin authority install --help");
    assert_success(&liaison_tests::run_as_printed(&help), &help);
    assert_fails_for_the_dots(&printed(&out, "liaison-admin publish "));
    let renewed = admin_json(&["show", p(&th_renewed)]);
    assert_eq!(renewed["serial"], 2, "{renewed}");
    assert_eq!(renewed["revoked"], false, "{renewed}");
    let out = admin_cmd(&[
        "authority",
        "install",
        "--key",
        p(&th_key),
        "--cert",
        p(&th_renewed),
    ]);
    assert_success(&out, "authority install");
    // Given no bundle, the install's publication has the dots in its place.
    let publish = printed(&out, "liaison-admin publish ");
    assert_fails_for_the_dots(&publish);
    let publish = publish.replacen("...", p(&bundle), 1);
    assert_refused(
        &admin_cmd(&[
            "authority",
            "install",
            "--key",
            p(&th_key),
            "--cert",
            p(&th_renewed),
        ]),
        "not newer",
    );
    assert_success(&liaison_tests::run_as_printed(&publish), &publish);
    let seen = list(&net, &th_key);
    let th_auth: Vec<&Value> = seen["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["country"] == "TH")
        .collect();
    assert_eq!(th_auth.len(), 1);
    assert_eq!(th_auth[0]["serial"], 2);
    let updated = admin_json(&[
        "update",
        "--authority",
        p(&th_key),
        "--bundle",
        p(&bundle),
        "--id",
        "th.dsi.alice",
        "--notes",
        "Duty phone via DSI switchboard",
    ]);
    assert_eq!(updated["version"], 2);

    // A production bundle written from the same parameters is equivalent.
    let b = liaison_protocol::bundle::Bundle::from_toml(&bundle_text).unwrap();
    let prod = d.join("prod-bundle.toml");
    let mut args = vec![
        "bundle",
        "--network",
        "liaison-prod",
        "--root-key",
        &b.root_key,
        "--relay",
        &b.relay_addr,
        "--cert-sha256",
        &b.relay_cert_sha256,
        "--directory-log-key",
        &b.directory_log_key,
        "--event-log-key",
        &b.event_log_key,
    ];
    let witnesses: Vec<&str> = b
        .witness_keys
        .split(',')
        .filter(|w| !w.is_empty())
        .collect();
    for w in &witnesses {
        args.extend(["--witness", w]);
    }
    args.extend(["--quorum", "1", "--out", p(&prod)]);
    admin_json(&args);
    let written =
        liaison_protocol::bundle::Bundle::from_toml(&std::fs::read_to_string(&prod).unwrap())
            .unwrap();
    assert_eq!(written.network, "liaison-prod");
    assert_eq!(
        (
            &written.root_key,
            &written.relay_addr,
            &written.relay_cert_sha256
        ),
        (&b.root_key, &b.relay_addr, &b.relay_cert_sha256)
    );
    assert_eq!(written.directory_log_key, b.directory_log_key);
    assert_eq!(written.witness_keys, b.witness_keys);
    assert_eq!(written.quorum().unwrap(), 1);
    assert_refused(&admin_cmd(&args), "another --out");
}

#[test]
fn an_authority_cannot_touch_another_countrys_focal_points() {
    let net = DevNet::start();
    let bundle = net.bundle();
    let th_key = net.authority("TH");
    let ph_key = net.authority("PH");
    let _alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let _bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let b = p(&bundle);

    // The tool refuses, naming the rule, before signing anything.
    let out = admin_cmd(&[
        "update",
        "--authority",
        p(&ph_key),
        "--bundle",
        b,
        "--id",
        "th.dsi.alice",
        "--name",
        "Mallory",
    ]);
    assert_refused(
        &out,
        "the PH authority cannot update th.dsi.alice: only the TH authority can",
    );
    let out = admin_cmd(&[
        "revoke",
        "--authority",
        p(&ph_key),
        "--bundle",
        b,
        "--id",
        "th.dsi.alice",
        "--reason",
        "x",
    ]);
    assert_refused(
        &out,
        "the PH authority cannot revoke th.dsi.alice: only the TH authority can",
    );
    let out = admin_cmd(&[
        "revoke-device",
        "--authority",
        p(&ph_key),
        "--bundle",
        b,
        "--id",
        "th.dsi.alice",
        "--device",
        "0123456789",
    ]);
    assert_refused(
        &out,
        "the PH authority cannot revoke a device of th.dsi.alice",
    );
    let out = admin_cmd(&[
        "enrol",
        "--authority",
        p(&ph_key),
        "--bundle",
        b,
        p(&net.person("alice").home.join("enrolment.request")),
    ]);
    assert_refused(
        &out,
        "the PH authority cannot enrol th.dsi.alice: only the TH authority can",
    );
    let out = admin_cmd(&[
        "role",
        "set",
        "--authority",
        p(&ph_key),
        "--bundle",
        b,
        "--role",
        "th.dsi.tip-duty",
        "--name",
        "x",
        "--holders",
        "th.dsi.alice",
    ]);
    assert_refused(
        &out,
        "the PH authority cannot publish the role th.dsi.tip-duty",
    );
    let out = admin_cmd(&[
        "role",
        "set",
        "--authority",
        p(&th_key),
        "--bundle",
        b,
        "--role",
        "th.dsi.tip-duty",
        "--name",
        "x",
        "--holders",
        "th.dsi.alice,ph.pnp.bob",
    ]);
    assert_refused(&out, "ph.pnp.bob cannot hold the TH role th.dsi.tip-duty");

    // A record forged with the library (bypassing the tool's check) is
    // refused by the relay itself.
    let rt = runtime();
    let ph = inproc::authority(&net, "PH");
    let current = rt
        .block_on(inproc::current_record(&net, &ph, "th.dsi.alice"))
        .unwrap();
    let change = RecordChanges {
        name: Some("Mallory".into()),
        ..RecordChanges::default()
    };
    let e = admin::updated_record(&ph, &current, &change, admin::current_time()).unwrap_err();
    assert!(format!("{e:#}").contains("the PH authority cannot update th.dsi.alice"));
    let mut forged = current.clone();
    forged.version += 1;
    forged.name = "Mallory".into();
    match rt.block_on(inproc::publish(&net, &ph, &forged, Vec::new())) {
        Err(LinkError::Refused(w)) => {
            assert_eq!(w.code, ErrorCode::InvalidRecord, "{w}");
            assert!(w.message.contains("PH authority cannot sign for TH"), "{w}");
        }
        other => panic!("the relay accepted a TH record signed by PH: {other:?}"),
    }
    // Nothing changed.
    let seen = list(&net, &th_key);
    let alice = record(&seen, "th.dsi.alice").unwrap();
    assert_eq!(
        (alice["version"].as_u64(), alice["name"].as_str()),
        (Some(1), Some("alice"))
    );
    assert!(seen["rejected"].as_array().unwrap().is_empty());
}

#[test]
fn devices_are_added_from_the_focal_points_approval_and_removed_by_fingerprint() {
    let net = DevNet::start();
    let bundle = net.bundle();
    let b = p(&bundle);
    let th_key = net.authority("TH");
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    assert_success(&alice.run(&["sync"]), "alice sync");

    // The laptop asks; the desk machine approves.
    let laptop = net.person("alice-laptop");
    let out = laptop.run(&["device", "request", "--bundle", b, "--id", "th.dsi.alice"]);
    assert_success(&out, "liaison device request");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = said
        .lines()
        .find_map(|l| l.strip_prefix("Confirmation code: "))
        .unwrap_or_else(|| panic!("no confirmation code shown: {said}"))
        .to_owned();
    let approval = net.dir.path().join("alice-laptop.approval");
    let request = laptop.home.join("device.request");
    // A request swapped on its way (or a mistyped code) gets nothing.
    let out = alice.run(&[
        "device",
        "approve",
        p(&request),
        "--code",
        "1111-2222-3333",
        "--out",
        p(&approval),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("confirmation code does not match"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!approval.exists(), "nothing was sealed");
    let out = alice.run(&[
        "device",
        "approve",
        p(&request),
        "--code",
        &code,
        "--out",
        p(&approval),
    ]);
    assert_success(&out, "liaison device approve");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let link = said
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("liaison --home ... device link "))
        .unwrap_or_else(|| panic!("approve says how the new device links: {said}"))
        .to_owned();
    let shown = admin_json(&["show", p(&approval)]);
    assert_eq!(shown["kind"], "device-approval");
    assert_eq!(shown["id"], "th.dsi.alice");
    assert_eq!(shown["device_proof_valid"], false, "not linked yet");

    // The authority countersigns only an approval the new device completed
    // with its own proof of possession: that is what `device link` adds.
    assert_refused(
        &admin_cmd(&[
            "add-device",
            "--authority",
            p(&th_key),
            "--bundle",
            b,
            p(&approval),
        ]),
        "no proof from the new device",
    );
    // The command approve printed, as printed, fails only for the dots
    // that stand for the new device's home; with the home it links.
    let out = liaison_tests::run_as_printed(&link);
    assert_eq!(out.status.code(), Some(2), "{link}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`...` stands for a file or directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = link.replacen("...", p(&laptop.home), 1);
    let out = liaison_tests::run_as_printed(&link);
    assert_success(&out, &link);
    let linked = laptop.home.join("device.approval");
    assert_eq!(
        admin_json(&["show", p(&linked)])["device_proof_valid"],
        true
    );
    // Link says what the authority runs next: as printed it fails only for
    // the dots standing for their key and bundle.
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let countersign = said
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("liaison-admin add-device "))
        .unwrap_or_else(|| panic!("link says what the authority runs: {said}"))
        .to_owned();
    assert_eq!(
        countersign,
        format!(
            "liaison-admin add-device --authority ... --bundle ... {}",
            linked.display()
        )
    );
    let out = liaison_tests::run_as_printed(&countersign);
    assert_eq!(out.status.code(), Some(2), "{countersign}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`...` stands for a file or directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let countersign = countersign
        .replacen("...", p(&th_key), 1)
        .replacen("...", b, 1);

    // Only Alice's own authority countersigns it.
    assert_refused(
        &admin_cmd(&[
            "add-device",
            "--authority",
            p(&net.authority("PH")),
            "--bundle",
            b,
            p(&linked),
        ]),
        "the PH authority cannot add a device to th.dsi.alice: only the TH authority can",
    );
    let out = liaison_tests::run_as_printed(&format!("{countersign} --json"));
    assert_success(&out, &countersign);
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["version"], 2);
    assert_eq!(added["added_device"], shown["device_fingerprint"]);
    // The same approval cannot add it twice.
    assert_refused(
        &admin_cmd(&[
            "add-device",
            "--authority",
            p(&th_key),
            "--bundle",
            b,
            p(&linked),
        ]),
        "already a device",
    );
    let seen = list(&net, &th_key);
    let devices = record(&seen, "th.dsi.alice").unwrap()["devices"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(devices.len(), 2);
    // The linked device connects, and writes to Bob.
    assert_success(&laptop.run(&["sync"]), "laptop sync");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(
        &laptop.run(&["send", "--to", "ph.pnp.bob", "sent from the laptop"]),
        "laptop send",
    );

    // The laptop is lost: remove it by a fingerprint prefix.
    let fp = shown["device_fingerprint"].as_str().unwrap();
    let removed = admin_json(&[
        "revoke-device",
        "--authority",
        p(&th_key),
        "--bundle",
        b,
        "--id",
        "th.dsi.alice",
        "--device",
        &fp[..14],
    ]);
    assert_eq!(removed["version"], 3);
    assert_eq!(removed["removed_device"], fp);
    let out = laptop.run(&["sync"]);
    assert!(
        !out.status.success(),
        "a removed device is no longer admitted"
    );
    // What the laptop sent before its removal is judged by the record in
    // force when the relay accepted it, and shown with a note saying so.
    assert_success(&bob.run(&["sync"]), "bob sync");
    let inbox = bob.inbox();
    let from_laptop = inbox
        .iter()
        .find(|m| m["from"] == "th.dsi.alice")
        .unwrap_or_else(|| panic!("the laptop's message: {inbox:?}"));
    assert_eq!(from_laptop["verified"], true, "{from_laptop}");
    let note = from_laptop["note"].as_str().unwrap_or_default();
    assert!(
        note.starts_with("sent from a device that th.dsi.alice's authority removed on 20"),
        "{from_laptop}"
    );
    // The last device is not removed: that is what revoke is for.
    let seen = list(&net, &th_key);
    let last = record(&seen, "th.dsi.alice").unwrap()["devices"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = admin_cmd(&[
        "revoke-device",
        "--authority",
        p(&th_key),
        "--bundle",
        b,
        "--id",
        "th.dsi.alice",
        "--device",
        &last,
    ]);
    assert_refused(&out, "liaison-admin revoke");
    // The hint's command, as printed, fails only for the reason still to
    // be written; with a reason it would revoke (not run: Alice stays).
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let hint = err.lines().find_map(|l| l.strip_prefix("hint: ")).unwrap();
    let command = &hint[hint.find("liaison-admin revoke").unwrap()..];
    let printed = liaison_tests::run_as_printed(command);
    assert_eq!(printed.status.code(), Some(2), "{command}: {printed:?}");
    assert!(
        String::from_utf8_lossy(&printed.stderr).contains("`...` stands for text you write"),
        "{printed:?}"
    );
    assert_success(&alice.run(&["sync"]), "the desk machine still works");
}

#[test]
fn roles_hand_over_and_revocations_take_effect_on_the_relay() {
    let net = DevNet::start();
    let d = net.dir.path();
    let bundle = net.bundle();
    let b = p(&bundle);
    let th_key = net.authority("TH");
    let ph_key = net.authority("PH");
    let _alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let carol = net.enrol("carol", "th.dsi.carol", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");

    // A new role; a holder not yet enrolled draws a warning.
    let out = admin_cmd(&[
        "--json",
        "role",
        "set",
        "--authority",
        p(&th_key),
        "--bundle",
        b,
        "--role",
        "th.dsi.tip-duty",
        "--name",
        "DSI trafficking duty desk",
        "--description",
        "24/7",
        "--holders",
        "th.dsi.alice,th.dsi.dave",
    ]);
    assert_success(&out, "role set");
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: th.dsi.dave has no record"));
    let v1: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v1["kind"].as_str(), v1["version"].as_u64()),
        (Some("role"), Some(1))
    );
    let role = admin_json(&[
        "role",
        "show",
        "--authority",
        p(&th_key),
        "--bundle",
        b,
        "--role",
        "th.dsi.tip-duty",
    ]);
    assert_eq!(role["reaches"], serde_json::json!(["th.dsi.alice"]));
    assert_eq!(role["holders"][1]["state"], "missing");

    // Handover: a new version with the other holder; the name is kept.
    let v2 = admin_json(&[
        "role",
        "set",
        "--authority",
        p(&th_key),
        "--bundle",
        b,
        "--role",
        "th.dsi.tip-duty",
        "--holders",
        "th.dsi.carol",
    ]);
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["holders"], serde_json::json!(["th.dsi.carol"]));
    let role = admin_json(&[
        "role",
        "show",
        "--authority",
        p(&ph_key),
        "--bundle",
        b,
        "--role",
        "th.dsi.tip-duty",
    ]);
    assert_eq!(role["version"], 2);
    assert_eq!(role["name"], "DSI trafficking duty desk");
    assert_eq!(role["reaches"], serde_json::json!(["th.dsi.carol"]));

    // Revoking a focal point: a new version; the relay stops admitting it
    // and the role reaches nobody.
    let revoked = admin_json(&[
        "revoke",
        "--authority",
        p(&th_key),
        "--bundle",
        b,
        "--id",
        "th.dsi.carol",
        "--reason",
        "rotated to another unit",
    ]);
    assert_eq!(revoked["version"], 2);
    assert!(
        !carol.run(&["sync"]).status.success(),
        "a revoked focal point is refused"
    );
    let seen = list(&net, &th_key);
    let c = record(&seen, "th.dsi.carol").unwrap();
    assert_eq!(c["status"]["state"], "revoked");
    assert_eq!(c["status"]["reason"], "rotated to another unit");
    let role = seen["roles"][0].clone();
    assert_eq!(role["reaches"], serde_json::json!([]));
    assert_refused(
        &admin_cmd(&[
            "revoke",
            "--authority",
            p(&th_key),
            "--bundle",
            b,
            "--id",
            "th.dsi.carol",
            "--reason",
            "again",
        ]),
        "already revoked",
    );

    // The root revokes the PH authority key: from then on the relay refuses
    // it and everything it signs.
    let ph_cert = d.join("PH.cert");
    let ph_revocation = d.join("PH.revocation");
    admin_json(&[
        "authority",
        "export-cert",
        "--key",
        p(&ph_key),
        "--out",
        p(&ph_cert),
    ]);
    let out = admin_cmd(&[
        "root",
        "revoke-authority",
        "--root",
        p(&d.join("root.key")),
        "--cert",
        p(&ph_cert),
        "--out",
        p(&ph_revocation),
    ]);
    assert_success(&out, "root revoke-authority");
    let rv = admin_json(&["show", p(&ph_revocation)]);
    assert_eq!(
        (rv["kind"].as_str(), rv["serial"].as_u64(), &rv["revoked"]),
        (Some("authority-revocation"), Some(2), &Value::Bool(true)),
        "{rv}"
    );
    assert!(
        std::fs::read_to_string(&ph_revocation)
            .unwrap()
            .starts_with("-----BEGIN LIAISON AUTHORITY REVOCATION-----\n")
    );
    // It says to publish at once: as printed, only the dots standing for
    // the bundle stop the command; with the bundle it publishes.
    let publish = printed(&out, "liaison-admin publish ");
    assert_fails_for_the_dots(&publish);
    let publish = publish.replacen("...", b, 1);
    let published = liaison_tests::run_as_printed(&format!("{publish} --json"));
    assert_success(&published, &publish);
    let published: Value = serde_json::from_slice(&published.stdout).unwrap();
    assert_eq!(published[0]["revoked"], true);

    let rt = runtime();
    let ph = inproc::authority(&net, "PH");
    let th = inproc::authority(&net, "TH");
    let mut bobs = rt
        .block_on(inproc::current_record(&net, &th, "ph.pnp.bob"))
        .unwrap();
    bobs.version += 1;
    bobs.notes = "signed by a revoked key".into();
    match rt.block_on(inproc::publish(&net, &ph, &bobs, Vec::new())) {
        Err(LinkError::Refused(w)) => assert!(
            matches!(
                w.code,
                ErrorCode::InvalidSignature | ErrorCode::InvalidRecord
            ),
            "{w}"
        ),
        other => panic!("a record signed by a revoked authority: {other:?}"),
    }
    assert_refused(
        &admin_cmd(&[
            "update",
            "--authority",
            p(&ph_key),
            "--bundle",
            b,
            "--id",
            "ph.pnp.bob",
            "--notes",
            "x",
        ]),
        "the relay refused",
    );
    // The revocation is final: the old certificate is not taken back.
    assert_refused(
        &admin_cmd(&["publish", "--bundle", b, p(&ph_cert)]),
        "final",
    );
    // Clients no longer see the PH authority nor what it signed.
    let seen = list(&net, &th_key);
    assert!(
        seen["authorities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["country"] != "PH")
    );
    assert!(record(&seen, "ph.pnp.bob").is_none());
    assert!(records(&seen).iter().all(|r| r["country"] != "PH"));
    assert!(!bob.run(&["sync"]).status.success());
}

/// A stolen root or authority key file is of no use without its passphrase:
/// `liaison-admin` writes them sealed (Argon2id, XChaCha20-Poly1305), refuses
/// a wrong passphrase or an altered file, refuses a key kept in the clear
/// (an earlier release's) until `key seal` encrypts it, and changes the
/// passphrase in place.
#[test]
fn key_files_are_sealed_and_useless_without_the_passphrase() {
    let dir = liaison_tests::TempDir::new("sealed-keys");
    let root = dir.path().join("root.key");
    let made = admin_json(&["root", "init", "--out", p(&root)]);
    // In words, it says where the public key goes; that help runs.
    let out = admin_cmd(&["root", "init", "--out", p(&dir.path().join("root2.key"))]);
    assert_success(&out, "root init");
    let help = printed(&out, "liaison-admin bundle --help");
    let out = liaison_tests::run_as_printed(&help);
    assert_success(&out, &help);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--root-key"));
    let text = std::fs::read_to_string(&root).unwrap();
    assert!(text.contains("kind = \"liaison-sealed-key\""), "{text}");
    assert!(!text.contains("secret_key"), "{text}");
    let shown = admin_json(&["root", "show", "--root", p(&root)]);
    assert_eq!(shown["public_key"], made["public_key"]);

    // A thief with the file but not the passphrase gets nothing.
    let wrong = admin_command()
        .args(["root", "show", "--root", p(&root)])
        .env("LIAISON_ADMIN_PASSPHRASE", "a guessed passphrase")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_refused(&wrong, "wrong passphrase, or the file was altered");
    // Nor by making the passphrase cheaper to guess: the costs are
    // authenticated with the key.
    let cheaper = dir.path().join("cheaper.key");
    std::fs::write(&cheaper, text.replace("t_cost = \"3\"", "t_cost = \"1\"")).unwrap();
    assert_refused(
        &admin_cmd(&["root", "show", "--root", p(&cheaper)]),
        "wrong passphrase, or the file was altered",
    );
    // Without a terminal and without the variable, it says how to give it.
    let no_tty = Command::new(bin("liaison-admin"))
        .args(["root", "show", "--root", p(&root)])
        .env_remove("LIAISON_ADMIN_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(no_tty.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&no_tty.stderr).contains("set LIAISON_ADMIN_PASSPHRASE"),
        "{}",
        String::from_utf8_lossy(&no_tty.stderr)
    );

    // A key in the clear, as an earlier release wrote it, is refused with
    // the command that seals it; sealed, it works.
    let clear = dir.path().join("clear.key");
    std::fs::write(&clear, format!("{}\n", "ab".repeat(32))).unwrap();
    let out = admin_cmd(&["root", "show", "--root", p(&clear)]);
    let seal = format!("liaison-admin key seal {}", p(&clear));
    assert_refused(&out, &seal);
    assert_success(&liaison_tests::run_as_printed(&seal), &seal);
    let sealed = std::fs::read_to_string(&clear).unwrap();
    assert!(!sealed.contains(&"ab".repeat(32)), "{sealed}");
    let before = admin_json(&["root", "show", "--root", p(&clear)]);
    // Sealed again: refused, with the command that changes the passphrase,
    // which runs as printed (the new passphrase typed at its prompt).
    let out = admin_cmd(&["key", "seal", p(&clear)]);
    let change = format!("liaison-admin key change-passphrase {}", p(&clear));
    assert_refused(&out, "already encrypted");
    assert_refused(&out, &change);
    let changed = liaison_tests::run_as_printed_with(
        Path::new("."),
        &change,
        &[("LIAISON_ADMIN_NEW_PASSPHRASE", "an interim passphrase")],
    );
    assert_success(&changed, &change);
    let back = admin_command()
        .args(["key", "change-passphrase", p(&clear)])
        .env("LIAISON_ADMIN_PASSPHRASE", "an interim passphrase")
        .env(
            "LIAISON_ADMIN_NEW_PASSPHRASE",
            liaison_tests::ADMIN_PASSPHRASE,
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_success(&back, "key change-passphrase back");

    // A new passphrase replaces the old one; a short one is refused.
    let short = admin_command()
        .args(["key", "change-passphrase", p(&clear)])
        .env("LIAISON_ADMIN_NEW_PASSPHRASE", "short")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("too short"));
    let changed = admin_command()
        .args(["--json", "key", "change-passphrase", p(&clear)])
        .env("LIAISON_ADMIN_NEW_PASSPHRASE", "a brand new passphrase")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_success(&changed, "key change-passphrase");
    assert_refused(
        &admin_cmd(&["root", "show", "--root", p(&clear)]),
        "wrong passphrase",
    );
    let after = admin_command()
        .args(["--json", "root", "show", "--root", p(&clear)])
        .env("LIAISON_ADMIN_PASSPHRASE", "a brand new passphrase")
        .output()
        .unwrap();
    assert_success(&after, "root show with the new passphrase");
    let after: Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(after["public_key"], before["public_key"]);
}

/// The commands an authority's hints suggest carry the `--authority` and
/// `--bundle` the failing command was given, and run as printed.
#[test]
fn an_authoritys_hints_run_as_printed() {
    let net = DevNet::start();
    let th_key = net.authority("TH");
    let bundle = net.bundle();
    let out = admin_cmd(&[
        "revoke",
        "--authority",
        p(&th_key),
        "--bundle",
        p(&bundle),
        "--id",
        "th.dsi.nobody",
        "--reason",
        "left the unit",
    ]);
    assert_refused(&out, "th.dsi.nobody");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let hint = err.lines().find_map(|l| l.strip_prefix("hint: ")).unwrap();
    let commands: Vec<&str> = hint
        .split('`')
        .filter(|part| part.starts_with("liaison-admin "))
        .collect();
    assert_eq!(commands.len(), 2, "{hint}");
    for command in commands {
        assert!(
            command.contains("--authority") && command.contains("--bundle"),
            "{command}"
        );
        let out = liaison_tests::run_as_printed(command);
        assert_success(&out, command);
    }
}
