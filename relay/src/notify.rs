//! systemd readiness notification (`Type=notify`), without libsystemd.
//!
//! The protocol (sd_notify(3)): when systemd starts a `Type=notify` service
//! it sets `NOTIFY_SOCKET` to the path of a Unix datagram socket (or, with
//! a leading `@`, a Linux abstract socket name); the service sends
//! newline-separated `KEY=VALUE` assignments to it in one datagram. The
//! relay sends `READY=1` once it listens and `STOPPING=1` when it begins a
//! graceful shutdown, each with a `STATUS=` line for `systemctl status`.
//! Without `NOTIFY_SOCKET` (not under systemd) nothing is sent.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// Where notifications go, if anywhere.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    target: Option<Target>,
}

#[derive(Clone, Debug)]
enum Target {
    Path(PathBuf),
    #[cfg(target_os = "linux")]
    Abstract(Vec<u8>),
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; a no-op notifier if it is unset or empty.
    pub fn from_env() -> Self {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(s) if !s.is_empty() => Self::to_socket(&s.to_string_lossy()),
            _ => Notifier::default(),
        }
    }

    /// Notify the socket named as in `NOTIFY_SOCKET` (`@name` is abstract).
    pub fn to_socket(name: &str) -> Self {
        let target = match name.strip_prefix('@') {
            #[cfg(target_os = "linux")]
            Some(abs) => Target::Abstract(abs.as_bytes().to_vec()),
            #[cfg(not(target_os = "linux"))]
            Some(_) => return Notifier::default(),
            None => Target::Path(PathBuf::from(name)),
        };
        Notifier {
            target: Some(target),
        }
    }

    /// Whether notifications are sent anywhere.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Send `state` (newline-separated assignments) in one datagram.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let socket = UnixDatagram::unbound()?;
        match target {
            Target::Path(p) => socket.send_to(state.as_bytes(), p)?,
            #[cfg(target_os = "linux")]
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(state.as_bytes(), &addr)?
            }
        };
        Ok(())
    }

    /// `READY=1` with a status line; failures are logged, not fatal.
    pub fn ready(&self, status: &str) {
        self.send_logged(&format!(
            "READY=1\nSTATUS={status}\nMAINPID={}\n",
            std::process::id()
        ));
    }

    /// `STOPPING=1` with a status line; failures are logged, not fatal.
    pub fn stopping(&self, status: &str) {
        self.send_logged(&format!("STOPPING=1\nSTATUS={status}\n"));
    }

    fn send_logged(&self, state: &str) {
        if let Err(e) = self.notify(state) {
            tracing::warn!(error = %e, "could not notify systemd (NOTIFY_SOCKET)");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sends_ready_and_stopping_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::to_socket(path.to_str().unwrap());
        assert!(n.enabled());
        n.ready("serving");
        n.stopping("draining");
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        let first = std::str::from_utf8(&buf[..len]).unwrap().to_owned();
        assert!(
            first.starts_with("READY=1\nSTATUS=serving\nMAINPID="),
            "{first}"
        );
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..len]).unwrap(),
            "STOPPING=1\nSTATUS=draining\n"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("liaison-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::to_socket(&format!("@{name}"))
            .notify("READY=1\n")
            .unwrap();
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\n");
    }

    #[test]
    fn without_a_socket_nothing_happens() {
        let n = Notifier::default();
        assert!(!n.enabled());
        n.notify("READY=1\n").unwrap();
    }
}
