//! Harness for cross-crate integration tests: starts real `liaison-relay`
//! processes on loopback, drives the real `liaison` and `liaison-admin`
//! binaries, opens raw QUIC connections ([`raw`]) for tests that play a
//! misbehaving client, and cleans up after itself.
//!
//! The binaries are found next to the test executable's target directory
//! (`target/<profile>/`); `scripts/test` builds them, with the test hooks
//! (cargo features `liaison-relay/test-hooks` and `liaison-clock/test-hooks`),
//! before running tests.
//!
//! Time: no test sleeps until a time-based rule applies. A relay or a
//! command runs with its clock shifted instead ([`CLOCK_OFFSET_ENV`],
//! [`DevNet::restart_with_clock_offset`]); code inside the test process
//! takes the time as an argument or an injected clock. Waiting for
//! something observable (a checkpoint signed, a process up) polls with a
//! deadline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Passphrase used for every test home.
pub const PASSPHRASE: &str = "integration-test passphrase";

/// The environment variable that shifts the clock of a relay, agent or
/// command built with the test hooks (milliseconds, signed).
pub const CLOCK_OFFSET_ENV: &str = liaison_clock::OFFSET_ENV;

/// Directory holding the workspace binaries.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test-binary>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    for b in ["liaison-relay", "liaison", "liaison-admin"] {
        assert!(
            dir.join(b).exists(),
            "{} is missing: build the binaries first (scripts/test does: cargo build --workspace --bins)",
            dir.join(b).display()
        );
    }
    dir
}

/// Path of one binary.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A fresh temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Create one.
    pub fn new(tag: &str) -> TempDir {
        let mut r = [0u8; 6];
        getrandom_fill(&mut r);
        let p = std::env::temp_dir().join(format!("liaison-{tag}-{}", hex(&r)));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("LIAISON_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn getrandom_fill(buf: &mut [u8]) {
    // Good enough for unique test paths: time and a per-process counter.
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let v = t
        ^ (u64::from(std::process::id()) << 32)
        ^ N.fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (v >> ((i % 8) * 8)) as u8;
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What a relay built with the test hooks says first when it is ready.
const TEST_HOOKS_LINE: &str = "liaison-relay: built with test hooks";

/// What the relay printed when it was ready.
struct Ready {
    addr: String,
    metrics: Option<String>,
    test_hooks: bool,
}

/// A development network served by a real `liaison-relay dev` process.
#[derive(Debug)]
pub struct DevNet {
    /// The network directory (bundle, authority keys, relay data).
    pub dir: TempDir,
    /// The relay's listen address: the port the relay bound at its first
    /// start (it binds port 0 and reports the port it got, so no other
    /// process can take it in between), kept across restarts because the
    /// enrolled homes' bundles name it.
    pub addr: String,
    /// The relay's metrics and health endpoint (`host:port`), as it printed
    /// at its last start.
    pub metrics: Option<String>,
    relay: Option<Child>,
}

impl DevNet {
    /// Create a network in a new directory and start its relay on a port
    /// of its own choosing.
    pub fn start() -> DevNet {
        let dir = TempDir::new("net");
        let mut net = DevNet {
            dir,
            addr: "127.0.0.1:0".to_owned(),
            metrics: None,
            relay: None,
        };
        net.restart();
        net
    }

    /// Bundle path.
    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle.toml")
    }

    /// Authority key of a country (TH or PH).
    pub fn authority(&self, country: &str) -> PathBuf {
        self.dir
            .path()
            .join("authorities")
            .join(format!("{country}.key"))
    }

    /// The relay's data directory.
    pub fn relay_data(&self) -> PathBuf {
        self.dir.path().join("relay")
    }

    /// (Re)start the relay process and wait until it listens.
    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    /// (Re)start the relay with extra environment variables (the relay's
    /// test hooks, `LIAISON_RELAY_TEST_*`, or [`CLOCK_OFFSET_ENV`]) and wait
    /// until it listens.
    pub fn restart_with(&mut self, env: &[(&str, &str)]) {
        let mut child = Command::new(bin("liaison-relay"))
            .args(["dev", "--dir"])
            .arg(self.dir.path())
            .args(["--listen", &self.addr])
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn liaison-relay");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let (mut metrics, mut test_hooks) = (None, false);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                test_hooks |= line.starts_with(TEST_HOOKS_LINE);
                if let Some(m) = line
                    .strip_prefix("liaison-relay: metrics on http://")
                    .and_then(|m| m.strip_suffix("/metrics"))
                {
                    metrics = Some(m.to_owned());
                }
                if let Some(addr) = line.strip_prefix("liaison-relay: listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(Ready {
                        addr: addr.trim().to_owned(),
                        metrics: metrics.take(),
                        test_hooks,
                    });
                }
            }
        });
        let ready = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(ready) => ready,
            Err(_) => {
                let _ = child.kill();
                panic!("liaison-relay did not report listening within 60 s");
            }
        };
        // The port the relay bound (the first start asks for any).
        self.addr = ready.addr;
        self.metrics = ready.metrics;
        self.relay = Some(child);
        assert!(
            env.is_empty() || ready.test_hooks,
            "{} was built without the test hooks this test needs ({env:?}): build it with \
             `cargo build --workspace --bins --features liaison-relay/test-hooks,liaison-clock/test-hooks` \
             (scripts/test does)",
            bin("liaison-relay").display()
        );
    }

    /// (Re)start the relay with its clock shifted by `offset_ms`
    /// milliseconds (negative: in the past), plus `env`, as a relay
    /// running that much later (or earlier) would be.
    pub fn restart_with_clock_offset(&mut self, offset_ms: i64, env: &[(&str, &str)]) {
        let offset = offset_ms.to_string();
        let mut all = vec![(CLOCK_OFFSET_ENV, offset.as_str())];
        all.extend_from_slice(env);
        self.restart_with(&all);
    }

    /// Restart the relay serving `record` in its directory answer as well,
    /// although it is not in the directory log (the test hook
    /// `LIAISON_RELAY_TEST_INJECT_RECORD`, through the file `name` in the
    /// network directory): a relay, or a stolen authority key, trying to
    /// slip a record past the log.
    pub fn restart_serving_record(
        &mut self,
        name: &str,
        record: &liaison_protocol::Signed<liaison_protocol::directory::FocalPointRecord>,
    ) {
        let file = self.dir.path().join(name);
        std::fs::write(&file, liaison_protocol::codec::encode_versioned(record)).unwrap();
        self.kill();
        self.restart_with(&[("LIAISON_RELAY_TEST_INJECT_RECORD", file.to_str().unwrap())]);
    }

    /// A raw QUIC connection to the relay, pinned to its certificate.
    pub async fn raw_connect(&self) -> raw::RawConnection {
        let bundle = liaison_protocol::bundle::Bundle::from_toml(
            &std::fs::read_to_string(self.bundle()).expect("the dev network's bundle"),
        )
        .expect("the dev network's bundle parses");
        raw::connect(
            self.addr.parse().expect("the relay's address"),
            bundle.cert_pin().expect("the bundle pins a certificate"),
        )
        .await
        .expect("a QUIC connection to the relay")
    }

    /// SIGKILL the relay (no graceful shutdown) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.relay.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM the relay (graceful shutdown) and wait for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.relay.take().expect("the relay is not running");
        let status = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        c.wait().expect("wait for the relay")
    }

    /// The process id of the running relay.
    pub fn relay_pid(&self) -> Option<u32> {
        self.relay.as_ref().map(Child::id)
    }

    /// The relay configuration written by `liaison-relay dev`.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("relay.toml")
    }

    /// Set `key = value` (a TOML value) in table `table` of the relay
    /// configuration (the top level if `table` is empty), replacing an
    /// existing setting. Takes effect at the next (re)start.
    pub fn set_config(&self, table: &str, key: &str, value: &str) {
        let text = std::fs::read_to_string(self.config()).unwrap();
        let mut out: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut done = false;
        let header = format!("[{table}]");
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                if current == table && !done {
                    out.push(format!("{key} = {value}"));
                    done = true;
                }
                current = t.trim_matches(|c| c == '[' || c == ']').to_owned();
            }
            let is_key = t
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == key && !t.starts_with('#'));
            if current == table && is_key {
                if !done {
                    out.push(format!("{key} = {value}"));
                    done = true;
                }
                continue;
            }
            out.push(line.to_owned());
        }
        if !done {
            if current != table {
                if table.is_empty() {
                    out.insert(0, format!("{key} = {value}"));
                    done = true;
                } else {
                    out.push(header);
                }
            }
            if !done {
                out.push(format!("{key} = {value}"));
            }
        }
        std::fs::write(self.config(), out.join("\n") + "\n").unwrap();
    }

    /// Whether the relay process is still running.
    pub fn relay_alive(&mut self) -> bool {
        match self.relay.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// A focal point home in this network's directory.
    pub fn person(&self, name: &str) -> Person {
        Person {
            home: self.dir.path().join("homes").join(name),
        }
    }

    /// `liaison init` then `liaison-admin enrol` for a new focal point.
    pub fn enrol(&self, name: &str, id: &str, country: &str, agency: &str) -> Person {
        let p = self.init(name, id, country, agency);
        let out = admin_command()
            .arg("enrol")
            .arg("--authority")
            .arg(self.authority(country))
            .arg("--bundle")
            .arg(self.bundle())
            .arg(p.home.join("enrolment.request"))
            .output()
            .unwrap();
        assert_success(&out, "liaison-admin enrol");
        p
    }

    /// `liaison init` only: a home whose focal point is not enrolled.
    pub fn init(&self, name: &str, id: &str, country: &str, agency: &str) -> Person {
        let p = self.person(name);
        let out = p.run(&[
            "init",
            "--bundle",
            self.bundle().to_str().unwrap(),
            "--id",
            id,
            "--name",
            name,
            "--country",
            country,
            "--agency",
            agency,
        ]);
        assert_success(&out, "liaison init");
        p
    }
}

impl Drop for DevNet {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Raw QUIC connections to a relay: the pinned TLS a client uses, without
/// the client, for tests that send what no honest client would.
pub mod web;

pub mod raw {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use liaison_protocol::bundle::RELAY_SERVER_NAME;

    /// A connection and the endpoint that keeps it alive.
    #[derive(Debug)]
    pub struct RawConnection {
        /// The client endpoint (bound to an ephemeral loopback port).
        pub endpoint: quinn::Endpoint,
        /// The connection.
        pub conn: quinn::Connection,
    }

    impl std::ops::Deref for RawConnection {
        type Target = quinn::Connection;

        fn deref(&self) -> &quinn::Connection {
            &self.conn
        }
    }

    /// Connect to the relay at `addr` whose certificate hashes to `pin`.
    /// An error is the handshake's (a wrong pin, or a relay that closed the
    /// connection at once, such as one over its connection limit).
    pub async fn connect(
        addr: SocketAddr,
        pin: [u8; 32],
    ) -> Result<RawConnection, quinn::ConnectionError> {
        // The client's own pinned configuration: the same TLS a focal point uses.
        let tls = liaison_net::client_tls_config(pin).expect("the pinned TLS configuration");
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .expect("a QUIC-capable TLS configuration");
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("an address"))
            .expect("a client endpoint on loopback");
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
        let conn = endpoint
            .connect(addr, RELAY_SERVER_NAME)
            .expect("a valid server name and address")
            .await?;
        Ok(RawConnection { endpoint, conn })
    }
}

/// One focal point's home, driven through the `liaison` binary.
#[derive(Debug, Clone)]
pub struct Person {
    /// Home directory.
    pub home: PathBuf,
}

impl Person {
    /// A `liaison` command for this home.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("liaison"));
        c.arg("--home")
            .arg(&self.home)
            .args(args)
            .env("LIAISON_PASSPHRASE", PASSPHRASE)
            .stdin(Stdio::null());
        c
    }

    /// Run `liaison --home H ARGS...`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `inbox --json`, parsed.
    pub fn inbox(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["inbox", "--json"]);
        assert_success(&out, "liaison inbox --json");
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
            .expect("inbox --json is a JSON array")
    }
}

impl Person {
    /// Start `liaison --home H agent` for this home (unlocked with the test
    /// passphrase, or locked) and wait until it says it is ready.
    pub fn start_agent(&self, unlocked: bool) -> AgentProcess {
        let mut cmd = self.command(&["agent"]);
        if !unlocked {
            cmd.env_remove("LIAISON_PASSPHRASE");
        }
        let mut child = cmd
            .env("LIAISON_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn liaison agent");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let shared = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[agent] {line}");
                let ready = line.contains(" ready on ");
                shared.lock().unwrap().push(line);
                if ready && let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
        });
        let mut agent = AgentProcess { child, log };
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            agent.kill();
            panic!(
                "liaison agent did not report ready within 60 s:\n{}",
                agent.log().join("\n")
            );
        }
        agent
    }

    /// Start `liaison listen --json` and wait until it is subscribed.
    pub fn listen(&self) -> Listener {
        let mut child = self
            .command(&["listen", "--json", "--timeout", "600"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn liaison listen");
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(v) => {
                        let _ = tx.send(v);
                    }
                    Err(_) => eprintln!("[listen stdout] {line}"),
                }
            }
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        let (ready_tx, ready) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[listen] {line}");
                let is_ready = line.contains("listening for messages");
                shared.lock().unwrap().push(line);
                if is_ready && let Some(tx) = ready_tx.take() {
                    let _ = tx.send(());
                }
            }
        });
        let mut l = Listener {
            child,
            messages,
            seen: Vec::new(),
            log,
        };
        if ready.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = l.child.kill();
            panic!(
                "liaison listen did not subscribe within 60 s:\n{}",
                l.log.lock().unwrap().join("\n")
            );
        }
        l
    }
}

/// A running `liaison agent` process, killed on drop.
#[derive(Debug)]
pub struct AgentProcess {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl AgentProcess {
    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL it and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Wait (at most `timeout`) for it to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What it wrote to standard error so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `liaison listen --json`, killed on drop.
#[derive(Debug)]
pub struct Listener {
    child: Child,
    messages: mpsc::Receiver<serde_json::Value>,
    /// Every message printed so far.
    pub seen: Vec<serde_json::Value>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    /// Wait (at most `timeout`) until a message with id `id` was printed;
    /// returns it.
    pub fn wait_for(&mut self, id: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.seen.iter().find(|m| m["id"] == id) {
                return m.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(m) => self.seen.push(m),
                Err(_) => panic!(
                    "listen did not print message {id} within {timeout:?}; it printed {:?}; its log:\n{}",
                    self.seen,
                    self.stderr().join("\n")
                ),
            }
        }
    }

    /// What it wrote to standard error so far.
    pub fn stderr(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `cond` every 100 ms until it holds; fail the test with `what` if it
/// still does not after `timeout`. For waiting on an observable outcome,
/// never on a timer.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Run `command`, a `liaison …` or `liaison-admin …` command line as the
/// tool printed it for a person to paste, through `sh -c`, with the built
/// binaries first on the PATH and the test passphrases: a suggested
/// command must work as printed.
pub fn run_as_printed(command: &str) -> Output {
    run_as_printed_in(Path::new("."), command)
}

/// [`run_as_printed`] in the working directory `dir` (for a command that
/// names paths relative to where it was printed).
pub fn run_as_printed_in(dir: &Path, command: &str) -> Output {
    run_as_printed_with(dir, command, &[])
}

/// [`run_as_printed_in`] with `env` set too: what a person would type at
/// a prompt (a new passphrase), for commands that read it from the
/// environment when there is no terminal.
pub fn run_as_printed_with(dir: &Path, command: &str, env: &[(&str, &str)]) -> Output {
    let bins = bin("liaison");
    let path = format!(
        "{}:{}",
        bins.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("PATH", path)
        .env("LIAISON_PASSPHRASE", PASSPHRASE)
        .env("LIAISON_ADMIN_PASSPHRASE", ADMIN_PASSPHRASE)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Send SIGINT (Ctrl-C) to process `pid`.
pub fn interrupt(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT failed");
}

impl DevNet {
    /// Restart the relay holding, without an answer, every message
    /// `person`'s device sends (the test hook
    /// `LIAISON_RELAY_TEST_HOLD_SEND`): a link that dies mid-request.
    /// Returns the file the relay creates when it holds one.
    pub fn restart_holding_sends_of(&mut self, person: &Person) -> PathBuf {
        let out = person.run(&["whoami", "--json"]);
        assert_success(&out, "liaison whoami --json");
        let who: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let device = who["device_key"].as_str().unwrap().to_owned();
        let marker = self.dir.path().join("held");
        self.kill();
        self.restart_with(&[
            ("LIAISON_RELAY_TEST_HOLD_SEND", device.as_str()),
            (
                "LIAISON_RELAY_TEST_HOLD_SEND_MARKER",
                marker.to_str().unwrap(),
            ),
        ]);
        marker
    }
}

impl Person {
    /// Run `liaison ARGS` until the relay holds what it sends (`marker`,
    /// from [`DevNet::restart_holding_sends_of`]), then press Ctrl-C; its
    /// output.
    pub fn interrupted_when_held(&self, args: &[&str], marker: &Path) -> Output {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_until(
            "the relay holds what was sent",
            Duration::from_secs(60),
            || marker.exists(),
        );
        interrupt(child.id());
        child.wait_with_output().unwrap()
    }
}

/// The passphrase of the key files the tests make with `liaison-admin`.
pub const ADMIN_PASSPHRASE: &str = "test admin passphrase";

/// `liaison-admin`, with [`ADMIN_PASSPHRASE`] for the keys it makes and
/// opens.
pub fn admin_command() -> Command {
    let mut cmd = Command::new(bin("liaison-admin"));
    cmd.env("LIAISON_ADMIN_PASSPHRASE", ADMIN_PASSPHRASE);
    cmd
}

/// Panic with both output streams unless the command succeeded.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `GET path` from an HTTP/1.1 endpoint such as the relay's metrics
/// listener: (status code, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the HTTP endpoint");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the HTTP answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("an HTTP status line");
    (status, body.to_owned())
}

/// The value of the first sample of `metric` whose labels contain every
/// `labels` pair (`name="value"`), in a Prometheus text exposition.
pub fn metric_value(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let name_end = l.find(['{', ' ']).unwrap_or(l.len());
            &l[..name_end] == metric && labels.iter().all(|p| l.contains(p))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A command's standard output followed by its standard error, as text.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Search every file under `dir` for `needle`.
pub fn dir_contains(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                return Some(p);
            }
        }
    }
    None
}

/// In-process clients against a real relay process, for tests that need to
/// play a misbehaving party or drive many sends.
pub mod inproc {
    use liaison_admin::{publish_record, record_from_request};
    use liaison_client::Client;
    use liaison_client::client::{InitParams, now};
    use liaison_client::home::KdfParams;
    use liaison_protocol::bundle::{AuthorityKeyFile, Bundle};
    use liaison_protocol::message::EnrolmentRequest;
    use liaison_protocol::{CountryCode, DirectoryId};

    use super::{DevNet, PASSPHRASE};

    /// A cheap KDF for tests (the tools use 64 MiB Argon2id).
    pub fn test_kdf() -> KdfParams {
        KdfParams {
            m_cost: 256,
            t_cost: 1,
            p_cost: 1,
            salt: [7; 16],
        }
    }

    /// Create a home for `id`, enrol it with its country's authority, open it.
    pub async fn enrol(net: &DevNet, name: &str, id: &str, agency: &str) -> anyhow::Result<Client> {
        let id = DirectoryId::parse(id)?;
        let country = id.country();
        let home = net.dir.path().join("homes").join(name);
        let bundle_text = std::fs::read_to_string(net.bundle())?;
        let params = InitParams {
            id,
            name: name.to_owned(),
            country,
            agency: agency.to_owned(),
            unit: String::new(),
            languages: vec!["en".into()],
            time_zone: "UTC".into(),
        };
        let (req_path, _) = Client::init(&home, PASSPHRASE, &bundle_text, params, test_kdf())?;
        let auth =
            AuthorityKeyFile::from_toml(&std::fs::read_to_string(net.authority(country.as_str()))?)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (_, req) = EnrolmentRequest::from_armored(&std::fs::read_to_string(req_path)?)?;
        let record = record_from_request(&auth, &req, 1, 30, now())?;
        let bundle = Bundle::from_toml(&bundle_text).map_err(|e| anyhow::anyhow!("{e}"))?;
        publish_record(&bundle, record, &req).await?;
        Ok(Client::open(&home, PASSPHRASE)?)
    }

    /// The two focal points most tests use: `th.dsi.alice` (DSI) and
    /// `ph.pnp.bob` (PNP), enrolled by their own countries' authorities.
    pub async fn alice_and_bob(net: &DevNet) -> (Client, Client) {
        let alice = enrol(net, "alice", "th.dsi.alice", "DSI")
            .await
            .expect("enrol alice");
        let bob = enrol(net, "bob", "ph.pnp.bob", "PNP")
            .await
            .expect("enrol bob");
        (alice, bob)
    }

    /// A relay connection (no authentication) for publishing.
    pub async fn connect(net: &DevNet) -> Result<liaison_net::Link, liaison_net::LinkError> {
        let bundle = Bundle::from_toml(
            &std::fs::read_to_string(net.bundle()).expect("the dev network's bundle"),
        )
        .expect("the dev network's bundle parses");
        liaison_net::Link::connect(
            &bundle.relay_addr,
            bundle.cert_pin().expect("the bundle pins a certificate"),
        )
        .await
    }

    /// Send one request on a fresh connection.
    pub async fn request(
        net: &DevNet,
        req: &liaison_protocol::frames::Request,
    ) -> Result<liaison_protocol::frames::Response, liaison_net::LinkError> {
        let conn = connect(net).await?;
        let r = conn.call(req).await;
        conn.close().await;
        r
    }

    /// The authority key of a country: a development network's (TH, PH,
    /// in the clear) or one made by `liaison-admin` (sealed under
    /// [`super::ADMIN_PASSPHRASE`]).
    pub fn authority(net: &DevNet, country: &str) -> AuthorityKeyFile {
        let mut ask =
            |_: &std::path::Path| Ok(zeroize::Zeroizing::new(super::ADMIN_PASSPHRASE.to_owned()));
        liaison_admin::load_authority(&net.authority(country), &mut ask)
            .expect("authority key file")
    }

    /// Certify and publish a new authority for `country` with the dev
    /// network's root key.
    pub async fn new_authority(
        net: &DevNet,
        country: &str,
        name: &str,
    ) -> anyhow::Result<AuthorityKeyFile> {
        use liaison_protocol::directory::AuthorityCertificate;
        use liaison_protocol::{SecretKey, Signed, Timestamp};
        let root = liaison_protocol::bundle::parse_root_key_file(&std::fs::read_to_string(
            net.dir.path().join("root.key"),
        )?)?;
        let key = SecretKey::from_seed(&[country.as_bytes()[0]; 32]);
        let c = CountryCode::parse(country)?;
        let at = now();
        let cert = AuthorityCertificate {
            country: c,
            name: name.to_owned(),
            key: key.public_key(),
            serial: 1,
            not_before: Timestamp(at.0 - 60_000),
            not_after: at.plus_millis(86_400_000),
            revoked: false,
        };
        let signed = Signed::sign(&cert, &root);
        match request(
            net,
            &liaison_protocol::frames::Request::PublishAuthority(signed.clone()),
        )
        .await
        {
            Ok(liaison_protocol::frames::Response::Ok) => {}
            other => anyhow::bail!("publishing the authority failed: {other:?}"),
        }
        Ok(AuthorityKeyFile {
            key,
            certificate: signed,
            country: c,
        })
    }

    /// Like [`enrol`], with a given authority.
    pub async fn enrol_with(
        net: &DevNet,
        auth: &AuthorityKeyFile,
        name: &str,
        id: &str,
        agency: &str,
    ) -> anyhow::Result<Client> {
        enrol_version(net, auth, name, id, agency, 1).await
    }

    /// A new home `name` for `id`, enrolled by `auth` as record `version`:
    /// with a version above the current one, a reinstall (a new identity
    /// key and device for the same focal point).
    pub async fn enrol_version(
        net: &DevNet,
        auth: &AuthorityKeyFile,
        name: &str,
        id: &str,
        agency: &str,
        version: u64,
    ) -> anyhow::Result<Client> {
        let id = DirectoryId::parse(id)?;
        let home = net.dir.path().join("homes").join(name);
        let bundle_text = std::fs::read_to_string(net.bundle())?;
        let params = InitParams {
            country: id.country(),
            id,
            name: name.to_owned(),
            agency: agency.to_owned(),
            unit: String::new(),
            languages: vec!["en".into()],
            time_zone: "UTC".into(),
        };
        let (req_path, _) = Client::init(&home, PASSPHRASE, &bundle_text, params, test_kdf())?;
        let (_, req) = EnrolmentRequest::from_armored(&std::fs::read_to_string(req_path)?)?;
        let record = record_from_request(auth, &req, version, 30, now())?;
        let bundle = Bundle::from_toml(&bundle_text).map_err(|e| anyhow::anyhow!("{e}"))?;
        publish_record(&bundle, record, &req).await?;
        Ok(Client::open(&home, PASSPHRASE)?)
    }

    /// The current record of `id`, read as `auth` (an authenticated
    /// authority may read the directory).
    pub async fn current_record(
        net: &DevNet,
        auth: &AuthorityKeyFile,
        id: &str,
    ) -> anyhow::Result<liaison_protocol::directory::FocalPointRecord> {
        use liaison_protocol::frames::{Request, Response};
        let conn = connect(net).await?;
        conn.authenticate_with_key(&auth.key).await?;
        let r = conn.call(&Request::GetDirectory).await;
        conn.close().await;
        match r? {
            Response::Directory { records, .. } => records
                .iter()
                .filter_map(|r| r.decode_unverified().ok())
                .find(|r| r.id.as_str() == id)
                .ok_or_else(|| anyhow::anyhow!("no record {id}")),
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }

    /// Sign `record` with `auth` and publish it (with `prekeys`).
    pub async fn publish(
        net: &DevNet,
        auth: &AuthorityKeyFile,
        record: &liaison_protocol::directory::FocalPointRecord,
        prekeys: Vec<liaison_protocol::message::Prekey>,
    ) -> Result<liaison_protocol::frames::Response, liaison_net::LinkError> {
        let signed = liaison_protocol::Signed::sign(record, &auth.key);
        request(
            net,
            &liaison_protocol::frames::Request::PublishRecord {
                record: signed,
                prekeys,
            },
        )
        .await
    }

    /// Country code helper.
    pub fn country(s: &str) -> CountryCode {
        CountryCode::parse(s).expect("country")
    }
}
