//! A fresh development network for a benchmark: its working directory, a
//! relay with the rate limits off (in this process, or configured for a
//! child process), and focal points enrolled with the client library.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use liaison_admin::{publish_record, record_from_request};
use liaison_client::Client;
use liaison_client::client::{InitParams, now};
use liaison_client::home::KdfParams;
use liaison_protocol::DirectoryId;
use liaison_protocol::bundle::{AuthorityKeyFile, Bundle};
use liaison_protocol::message::EnrolmentRequest;
use liaison_relay::dev::DevNetwork;

/// The passphrase of every benchmark home.
pub const PASSPHRASE: &str = "liaison-bench passphrase";

/// A cheap KDF: the homes are throwaway (the tools use 64 MiB Argon2id).
pub fn bench_kdf() -> KdfParams {
    KdfParams {
        m_cost: 256,
        t_cost: 1,
        p_cost: 1,
        salt: [7; 16],
    }
}

/// The working directory of benchmark `name`: `given`, or a new directory
/// under the system's temporary directory; created, and refused if it
/// already holds a network.
pub fn work_dir(name: &str, given: Option<&Path>) -> Result<PathBuf> {
    let dir = match given {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!("{name}-{}", std::process::id())),
    };
    if dir.join("root.key").exists() {
        bail!(
            "{} already holds a network; give an empty --dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A development network in `dir` whose relay listens on a free loopback
/// port, rate limits and per-address limits off, no metrics listener.
pub fn prepare(dir: &Path) -> Result<DevNetwork> {
    let mut net = liaison_relay::dev::prepare(dir, "127.0.0.1:0".parse()?)?;
    let l = &mut net.config.limits;
    l.sends_per_minute = 0;
    l.requests_per_minute = 0;
    l.unauthenticated_requests_per_minute = 0;
    l.max_queue_depth = 10_000_000;
    l.max_connections_per_ip = l.max_connections;
    l.max_unauthenticated_per_ip = l.max_connections;
    net.config.metrics.listen = None;
    Ok(net)
}

/// A relay serving `net` in this process, until [`InProcessRelay::stop`].
#[derive(Debug)]
pub struct InProcessRelay {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), liaison_relay::RelayError>>,
}

impl InProcessRelay {
    /// Bind the relay of `net`, write the network's bundle naming its
    /// address, and serve.
    pub fn start(net: &DevNetwork) -> Result<Self> {
        let relay = liaison_relay::Relay::bind(net.config.clone())?;
        liaison_relay::dev::write_bundle(net, relay.local_addr(), relay.cert_sha256())?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(relay.serve(async move {
            let _ = stopped.await;
        }));
        Ok(InProcessRelay { stop, task })
    }

    /// Stop serving and wait for the relay to finish.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

/// Enrol focal point `id` (named `name`) on the network in `dir`: a new
/// home under `dir/homes/`, its record signed by the country's authority
/// and published. Returns the opened client (not connected) and its home.
pub async fn enrol(dir: &Path, id: &str, name: &str) -> Result<(Client, PathBuf)> {
    let id = DirectoryId::parse(id)?;
    let country = id.country();
    let home = dir.join("homes").join(id.to_string());
    let bundle_text = std::fs::read_to_string(dir.join("bundle.toml"))?;
    let params = InitParams {
        id,
        name: name.into(),
        country,
        agency: "BENCH".into(),
        unit: String::new(),
        languages: vec!["en".into()],
        time_zone: "Asia/Bangkok".into(),
    };
    let (req_path, _) = Client::init(&home, PASSPHRASE, &bundle_text, params, bench_kdf())?;
    let auth_path = dir
        .join("authorities")
        .join(format!("{}.key", country.as_str()));
    let auth = AuthorityKeyFile::from_toml(&std::fs::read_to_string(auth_path)?)
        .map_err(|e| anyhow!("{e}"))?;
    let (_, req) = EnrolmentRequest::from_armored(&std::fs::read_to_string(req_path)?)?;
    let record = record_from_request(&auth, &req, 1, 30, now())?;
    let bundle = Bundle::from_toml(&bundle_text).map_err(|e| anyhow!("{e}"))?;
    publish_record(&bundle, record, &req).await?;
    let mut client = Client::open(&home, PASSPHRASE)?;
    client.set_request_timeout(Duration::from_secs(60));
    Ok((client, home))
}
