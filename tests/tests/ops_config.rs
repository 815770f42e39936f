//! Operations, configuration side: the example configurations in `deploy/`
//! pass `liaison-relay check-config`; a bad file is refused with the key and
//! its line; a key file others can read is refused; `run` tells systemd it
//! is ready (`READY=1` on `$NOTIFY_SOCKET`) and stopping, and exits 0 on
//! SIGTERM; the systemd unit carries the sandboxing the guide promises.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use liaison_tests::{TempDir, assert_success, bin, http_get};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("deploy")
        .join(file)
}

fn check_config(path: &Path) -> std::process::Output {
    Command::new(bin("liaison-relay"))
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap()
}

/// A network root key of no network, for the tests' configurations.
const TEST_ROOT: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// `deploy/NAME` with its example root key replaced by [`TEST_ROOT`], as an
/// operator fills it in, written into `dir`.
fn filled_in(dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(deploy(name)).unwrap();
    let path = dir.join(name);
    std::fs::write(
        &path,
        text.replace(liaison_relay::config::EXAMPLE_ROOT_KEY, TEST_ROOT),
    )
    .unwrap();
    path
}

#[test]
fn the_example_root_key_is_refused_with_what_to_put_there() {
    let out = check_config(&deploy("relay.prod.toml"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("root_key"), "{err}");
    assert!(err.contains("belongs to no network"), "{err}");
    // The command it names, as printed, fails only for the dots standing
    // for the root key file; with the file it prints the key to put there.
    let show = err
        .split('`')
        .find(|part| part.starts_with("liaison-admin root show "))
        .unwrap_or_else(|| panic!("no root show command in: {err}"));
    let out = liaison_tests::run_as_printed(show);
    assert_eq!(out.status.code(), Some(2), "{show}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`...` stands for a file or directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = TempDir::new("root-show");
    let root = dir.path().join("root.key");
    let made = liaison_tests::admin_command()
        .args(["root", "init", "--out"])
        .arg(&root)
        .output()
        .unwrap();
    liaison_tests::assert_success(&made, "root init");
    let show = show.replacen("...", root.to_str().unwrap(), 1);
    let out = liaison_tests::run_as_printed(&show);
    liaison_tests::assert_success(&out, &show);
    assert!(String::from_utf8_lossy(&out.stdout).contains("public key:"));
}

#[test]
fn example_configurations_pass_check_config() {
    let dir = TempDir::new("examples");
    for name in ["relay.prod.toml", "relay.dev.toml"] {
        let out = check_config(&filled_in(dir.path(), name));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(": ok"), "{stdout}");
    }
    // Production: metrics off and JSON logs; development: metrics on.
    let prod =
        String::from_utf8(check_config(&filled_in(dir.path(), "relay.prod.toml")).stdout).unwrap();
    assert!(prod.contains("metrics: off"), "{prod}");
    assert!(prod.contains("log format: Json"), "{prod}");
    assert!(
        prod.contains("queues of lapsed devices: kept 30 days"),
        "{prod}"
    );
    // The grace period of lapsed queues is set and checked like any limit.
    let text = std::fs::read_to_string(filled_in(dir.path(), "relay.prod.toml")).unwrap();
    for (value, ok) in [("7", true), ("0", false), ("3651", false)] {
        let path = dir.path().join(format!("grace-{value}.toml"));
        std::fs::write(
            &path,
            text.replace(
                "# lapsed_queue_grace_days = 30",
                &format!("lapsed_queue_grace_days = {value}"),
            ),
        )
        .unwrap();
        let out = check_config(&path);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        if ok {
            assert!(stdout.contains("kept 7 days"), "{stdout}{stderr}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{stdout}");
            assert!(
                stderr.contains("limits.lapsed_queue_grace_days: must be between 1 and 3650 days"),
                "{stderr}"
            );
        }
    }
    let dev =
        String::from_utf8(check_config(&filled_in(dir.path(), "relay.dev.toml")).stdout).unwrap();
    assert!(
        dev.contains("metrics: http://127.0.0.1:9464/metrics"),
        "{dev}"
    );
}

#[test]
fn check_config_names_the_key_and_the_line() {
    let dir = TempDir::new("cfg");
    let base = std::fs::read_to_string(filled_in(dir.path(), "relay.prod.toml")).unwrap();
    let cases = [
        (
            "[limits]\nmax_frame = 999999999\n",
            "[limits]",
            "limits.max_frame",
        ),
        (
            "[limits]\nsend_brust = 3\n",
            "[limits]",
            "limits.send_brust",
        ),
        (
            "[metrics]\nlisten = \"everywhere\"\n",
            "[metrics]",
            "metrics.listen",
        ),
    ];
    for (i, (replacement, header, key)) in cases.into_iter().enumerate() {
        // Put the bad setting right after the table's header.
        let text = base.replacen(header, replacement.trim_end(), 1);
        let inserted = replacement.lines().nth(1).unwrap();
        let line = text.lines().position(|l| l == inserted).unwrap() + 1;
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, &text).unwrap();
        let out = check_config(&path);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key}: {err}");
        assert!(
            err.contains(&format!("line {line}")),
            "{key} at {line}: {err}"
        );
    }
}

fn dev_like_config(dir: &Path, extra: &str) -> PathBuf {
    let data = dir.join("data");
    let path = dir.join("relay.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nroot_key = \"{TEST_ROOT}\"\n{extra}",
            data.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_readable_tls_key_is_refused() {
    let dir = TempDir::new("perm");
    let config = dev_like_config(dir.path(), "");
    // First start generates the pair (0600); cert-fingerprint does that too.
    let out = Command::new(bin("liaison-relay"))
        .args(["cert-fingerprint", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(check_config(&config).status.success());
    let key = dir.path().join("data").join("tls.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check_config(&config);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tls_key") && err.contains("chmod 600"),
        "{err}"
    );
    // `run` refuses to start with it too.
    let out = Command::new(bin("liaison-relay"))
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

/// `run` under a simulated systemd: READY=1 once it serves, STOPPING=1 on
/// SIGTERM, exit status 0. Flags override the file (--metrics-listen).
#[test]
fn run_notifies_systemd_and_stops_cleanly_on_sigterm() {
    let dir = TempDir::new("notify");
    let config = dev_like_config(dir.path(), "[logging]\nformat = \"text\"\n");
    let socket_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&socket_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut child = Command::new(bin("liaison-relay"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(&config)
        .args(["--metrics-listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let n = recv_notify(&notify, &mut buf).expect("READY=1 within 60 s");
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    assert!(
        ready.contains(&format!("MAINPID={}", child.id())),
        "{ready}"
    );

    // Ready means serving: the health endpoints answer.
    let stdout = child.stdout.take().unwrap();
    let mut metrics = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(m) = line.strip_prefix("liaison-relay: metrics on http://") {
            metrics = m.strip_suffix("/metrics").map(str::to_owned);
        }
        if line.contains("listening on") {
            break;
        }
    }
    let metrics = metrics.expect("--metrics-listen enabled the endpoint");
    assert_eq!(http_get(&metrics, "/readyz").0, 200);
    assert_eq!(http_get(&metrics, "/healthz").0, 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let n = recv_notify(&notify, &mut buf).expect("STOPPING=1");
    let stopping = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "graceful shutdown exits 0");
    // --log-format json: every log line is a JSON object.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{l}"
        );
    }
    assert!(!dir.path().join("data").join("control.sock").exists());
}

#[test]
fn systemd_unit_is_sandboxed_and_notifies() {
    let unit = std::fs::read_to_string(deploy("liaison-relay.service")).unwrap();
    let settings: Vec<(&str, &str)> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .collect();
    let has = |k: &str, v: &str| settings.iter().any(|(a, b)| *a == k && b.trim() == v);
    for (k, v) in [
        ("Type", "notify"),
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("StateDirectory", "liaison-relay"),
        ("UMask", "0077"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert!(has(k, v), "the unit lacks {k}={v}");
    }
    for k in ["LimitNOFILE", "MemoryMax", "TasksMax", "TimeoutStopSec"] {
        assert!(settings.iter().any(|(a, _)| *a == k), "the unit lacks {k}");
    }
    // The command lines it runs exist in this binary's CLI.
    for (k, v) in &settings {
        if k.starts_with("ExecStart") {
            let args: Vec<&str> = v.split_whitespace().skip(1).collect();
            let sub = args[0];
            let out = Command::new(bin("liaison-relay"))
                .args([sub, "--help"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{k}: unknown subcommand {sub}");
        }
    }
    let container = std::fs::read_to_string(deploy("Containerfile")).unwrap();
    assert!(container.matches("FROM ").count() >= 2, "multi-stage");
    assert!(container.contains("USER "), "non-root");
}

/// One sd_notify datagram; a signal interrupting the wait (EINTR) is not a
/// failure of the relay, so the wait goes on.
fn recv_notify(socket: &UnixDatagram, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match socket.recv(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// What `cert-fingerprint` and `log-keys` print goes into `liaison-admin
/// bundle` as printed: the pin as the value of --cert-sha256, the log keys
/// as the whole option words.
#[test]
fn log_keys_and_the_pin_paste_into_liaison_admin_bundle() {
    let dir = TempDir::new("bundle-from-relay");
    let config = dev_like_config(dir.path(), "");
    let run = |args: &[&str]| {
        let out = Command::new(bin("liaison-relay"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_success(&out, &format!("liaison-relay {}", args.join(" ")));
        String::from_utf8(out.stdout).unwrap()
    };
    let pin = run(&["cert-fingerprint"]);
    let keys = run(&["log-keys"]);
    let words: Vec<&str> = keys.split_whitespace().collect();
    assert_eq!(words.len(), 4, "{keys}");
    assert_eq!(
        (words[0], words[2]),
        ("--directory-log-key", "--event-log-key")
    );
    let bundle = dir.path().join("bundle.toml");
    let out = Command::new(bin("liaison-admin"))
        .args([
            "bundle",
            "--root-key",
            TEST_ROOT,
            "--relay",
            "127.0.0.1:7443",
        ])
        .args(["--cert-sha256", pin.trim()])
        .args(&words)
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap();
    assert_success(&out, "liaison-admin bundle");
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert!(text.contains(words[1]) && text.contains(words[3]), "{text}");
}

/// The note of `check-config` about a certificate not made yet names the
/// command that pins it with this configuration, which runs as printed and
/// prints the pin.
#[test]
fn the_pin_command_check_config_suggests_runs_as_printed() {
    let dir = TempDir::new("pin-note");
    let config = dev_like_config(dir.path(), "");
    let out = check_config(&config);
    assert_success(&out, "check-config");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let cmd = said
        .split('`')
        .find(|p| p.starts_with("liaison-relay cert-fingerprint"))
        .unwrap_or_else(|| panic!("no pin command: {said}"))
        .to_owned();
    assert!(cmd.contains("--config"), "{cmd}");
    let out = liaison_tests::run_as_printed(&cmd);
    assert_success(&out, &cmd);
    let pin = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(pin.len(), 64, "{pin}");
    assert!(pin.bytes().all(|b| b.is_ascii_hexdigit()), "{pin}");
}
