//! `liaison ui`: an agent and the web app it serves, in this process.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use liaison_client::agent::api::Passphrase;
use liaison_client::agent::server::{Agent, AgentOptions, AgentSocket};
use liaison_client::agent::socket_path;
use liaison_ui::links::LinkSocket;
use liaison_ui::{UiOptions, WebApp};

/// How long the web server may take to finish its requests at the end.
const WEB_STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// What `liaison ui` was asked.
pub(crate) struct UiArgs {
    pub(crate) home: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) browser: bool,
    pub(crate) lock_after: Duration,
    pub(crate) sync_interval: Duration,
}

/// Serve until `shutdown` completes (or the agent is asked to stop).
pub(crate) async fn run(
    a: UiArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<ExitCode> {
    let home = &a.home;
    if liaison_client::agent::remote::probe(&socket_path(home))
        .await?
        .is_some()
    {
        // The app may run already (its agent answers): a new link to it.
        if let Some(url) = liaison_ui::links::request_link(home).await? {
            println!("{url}");
            std::io::stdout().flush().context("writing the address")?;
            eprintln!(
                "liaison: the web app for {} already runs; above is a new one-time link to it",
                home.display()
            );
            if a.browser {
                // The page stays for the browser to read; the next launch
                // overwrites it.
                let _ = open_browser(home, &url);
            }
            return Ok(ExitCode::SUCCESS);
        }
        bail!(
            "an agent already runs for the home {}, and the web app is served by the agent that `liaison ui` starts: stop it (`liaison --home {h} agent stop`), then run `liaison --home {h} ui` again",
            home.display(),
            h = liaison_protocol::shell::quote_path(home)
        );
    }
    let socket = AgentSocket::bind(home).await?;
    let mut agent = Agent::new(
        socket,
        AgentOptions {
            sync_interval: a.sync_interval,
            ..AgentOptions::default()
        },
    );
    match std::env::var("LIAISON_PASSPHRASE") {
        Ok(p) if p.is_empty() => bail!("LIAISON_PASSPHRASE is set but empty"),
        Ok(p) => {
            agent.unlock(Passphrase::new(p)).await?;
        }
        Err(_) => {}
    }
    let web = WebApp::bind(
        a.listen,
        agent.handle(),
        UiOptions {
            lock_after: a.lock_after,
            home: home.clone(),
        },
    )
    .await?;
    // The contract for scripts: the first line on stdout is the address.
    println!("{}", web.url());
    std::io::stdout().flush().context("writing the address")?;
    eprintln!(
        "liaison: the web app for {} is served at the address above; Ctrl-C stops it and its agent",
        home.display()
    );
    let opener = if a.browser {
        open_browser(home, web.url())
    } else {
        None
    };
    let links = LinkSocket::bind(home)?;
    let minter = web.minter();
    let link_task = tokio::spawn(async move { links.serve(minter).await });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(web.serve(async {
        let _ = stop_rx.await;
    }));
    let served = agent.serve(shutdown).await;
    link_task.abort();
    // Its end drops the socket, which removes HOME/ui.sock.
    let _ = link_task.await;
    let _ = stop_tx.send(());
    match tokio::time::timeout(WEB_STOP_TIMEOUT, server).await {
        Ok(Ok(Err(e))) => eprintln!("liaison: {e}"),
        Ok(_) => {}
        Err(_) => eprintln!("liaison: the web server did not finish its requests in time"),
    }
    if let Some(f) = opener {
        let _ = std::fs::remove_file(f);
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Open `url` in the user's browser through a page in the home (mode
/// 0600), so the one-time token never appears in a command line that other
/// local users could read. Returns that page, to remove at the end.
fn open_browser(home: &Path, url: &str) -> Option<PathBuf> {
    let page = home.join("ui-open.html");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&page)
        .and_then(|mut f| {
            write!(
                f,
                "<!DOCTYPE html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={url}\"><title>Liaison</title>"
            )
        });
    if let Err(e) = written {
        eprintln!("liaison: could not prepare the browser ({e}); open the address above yourself");
        return None;
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener)
        .arg(&page)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            // Reap it when it exits.
            std::thread::spawn(move || child.wait());
        }
        Err(e) => eprintln!(
            "liaison: could not start a browser with {opener} ({e}); open the address above yourself"
        ),
    }
    Some(page)
}
