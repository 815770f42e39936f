//! Abuse limits: token-bucket rate limits per focal point and per IP
//! address, and connection limits per IP address.
//!
//! - Every request of an authenticated connection takes a token from its
//!   focal point's `requests` bucket, and every Send also from its `sends`
//!   bucket: one token, or one per declared event if it declares more
//!   (receipts and consent decisions write to the permanent event log, so
//!   they are paid for like messages). The buckets belong to the focal point
//!   (the directory id owning the device), not to the connection or the
//!   device, so that opening more connections or enrolling more devices
//!   does not multiply the allowance.
//! - Requests before authentication take a token from their IP address's
//!   bucket: log reads (checkpoints, proofs, entries, cosignatures: what
//!   auditors and witnesses fetch without a device key) from the
//!   `log_reads` bucket, everything else (Challenge, Authenticate, Ping, the
//!   authorities' Publish requests) from the `unauthenticated` one, so a
//!   flood of log reads never locks an address's focal points out.
//! - A refused request gets [`ErrorCode::RateLimited`] (429, retryable) with
//!   a message naming the limit and when a token will be available.
//! - Connections per IP address, and not-yet-authenticated connections per
//!   IP address, are counted; beyond the limits a new connection is closed
//!   with `TooManyConnections` (503) right after its handshake.
//!
//! Buckets are in memory: a restart refills them. Idle, full buckets are
//! dropped so the tables stay small. Time is an argument ([`Instant`]), so
//! the arithmetic is tested without sleeping.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use liaison_protocol::PublicKey;
use liaison_protocol::frames::{ErrorCode, WireError};

use crate::limits::Limits;
use crate::metrics::{ConnRefusal, Metrics, RateLimit};

/// Buckets kept before idle ones are swept.
const SWEEP_AT: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// One token bucket per key: `per_minute` tokens a minute, at most `burst`
/// held. A `per_minute` of 0 disables the limit.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<(HashMap<K, Bucket>, usize)>,
}

impl<K: Eq + Hash + Clone> KeyedLimiter<K> {
    /// A limiter; `burst` is raised to 1 if 0.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        KeyedLimiter {
            per_sec: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new((HashMap::new(), SWEEP_AT)),
        }
    }

    /// Whether the limit is in force.
    pub fn enabled(&self) -> bool {
        self.per_sec > 0.0
    }

    /// Take one token for `key` at `now`, or say how long until one is
    /// available.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.check_n(key, 1, now)
    }

    /// Take `n` tokens (at most a full burst) for `key` at `now`, or say how
    /// long until they are available; nothing is taken then.
    pub fn check_n(&self, key: &K, n: u32, now: Instant) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (map, sweep_at) = &mut *guard;
        if map.len() >= *sweep_at {
            let (per_sec, burst) = (self.per_sec, self.burst);
            map.retain(|_, b| refill(b, now, per_sec, burst) < burst);
            *sweep_at = map.len().saturating_mul(2).max(SWEEP_AT);
        }
        let bucket = map.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let tokens = refill(bucket, now, self.per_sec, self.burst);
        let want = f64::from(n.max(1)).min(self.burst);
        if tokens >= want {
            bucket.tokens = tokens - want;
            Ok(())
        } else {
            bucket.tokens = tokens;
            Err(Duration::from_secs_f64((want - tokens) / self.per_sec))
        }
    }

    /// Keys currently tracked.
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .len()
    }
}

fn refill(b: &mut Bucket, now: Instant, per_sec: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
    b.last = b.last.max(now);
    (b.tokens + elapsed * per_sec).min(burst)
}

fn retry_text(d: Duration) -> String {
    let ms = d.as_millis().max(1);
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", ms.div_ceil(1000))
    }
}

/// What a request costs, for the rate limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestCost {
    /// One request.
    Request,
    /// A Send declaring `declarations` events.
    Send {
        /// Events the Send declares.
        declarations: usize,
    },
    /// A read of the public logs (checkpoint, proof, entries) or a
    /// witness's cosignature.
    LogRead,
}

/// The relay's request rate limits.
#[derive(Debug)]
pub struct RateLimits {
    sends: KeyedLimiter<String>,
    requests: KeyedLimiter<String>,
    unauthenticated: KeyedLimiter<IpAddr>,
    log_reads: KeyedLimiter<IpAddr>,
    limits: Limits,
}

impl RateLimits {
    /// Limits from the configuration.
    pub fn new(limits: &Limits) -> Self {
        RateLimits {
            sends: KeyedLimiter::new(limits.sends_per_minute, limits.send_burst),
            requests: KeyedLimiter::new(limits.requests_per_minute, limits.request_burst),
            unauthenticated: KeyedLimiter::new(
                limits.unauthenticated_requests_per_minute,
                limits.unauthenticated_burst,
            ),
            log_reads: KeyedLimiter::new(limits.log_reads_per_minute, limits.log_read_burst),
            limits: limits.clone(),
        }
    }

    /// Admit one request of focal point `identity` (`None`: not
    /// authenticated, limited by `ip`) that costs `cost`.
    pub fn admit(
        &self,
        identity: Option<&str>,
        ip: IpAddr,
        cost: RequestCost,
        now: Instant,
    ) -> Result<(), (RateLimit, WireError)> {
        let refuse = |which: RateLimit, who: &str, rate: u32, burst: u32, wait: Duration| {
            let what = match which {
                RateLimit::Sends => "messages",
                RateLimit::Requests => "requests",
                RateLimit::Unauthenticated => "unauthenticated requests",
                RateLimit::LogReads => "log reads before authenticating",
            };
            (
                which,
                WireError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "rate limit: {who} may make {rate} {what} a minute (bursts of {burst}); \
                         retry in {}",
                        retry_text(wait)
                    ),
                ),
            )
        };
        let l = &self.limits;
        match identity {
            Some(id) => {
                let key = id.to_owned();
                self.requests.check(&key, now).map_err(|w| {
                    refuse(
                        RateLimit::Requests,
                        id,
                        l.requests_per_minute,
                        l.request_burst,
                        w,
                    )
                })?;
                if let RequestCost::Send { declarations } = cost {
                    let n = u32::try_from(declarations).unwrap_or(u32::MAX);
                    self.sends.check_n(&key, n, now).map_err(|w| {
                        refuse(RateLimit::Sends, id, l.sends_per_minute, l.send_burst, w)
                    })?;
                }
                Ok(())
            }
            None if cost == RequestCost::LogRead => self.log_reads.check(&ip, now).map_err(|w| {
                refuse(
                    RateLimit::LogReads,
                    &format!("address {ip}"),
                    l.log_reads_per_minute,
                    l.log_read_burst,
                    w,
                )
            }),
            None => self.unauthenticated.check(&ip, now).map_err(|w| {
                refuse(
                    RateLimit::Unauthenticated,
                    &format!("address {ip}"),
                    l.unauthenticated_requests_per_minute,
                    l.unauthenticated_burst,
                    w,
                )
            }),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct IpCount {
    open: usize,
    unauthenticated: usize,
}

/// Open connections per IP address.
#[derive(Debug)]
pub struct ConnectionTable {
    per_ip: Mutex<HashMap<IpAddr, IpCount>>,
    max_per_ip: usize,
    max_unauthenticated_per_ip: usize,
    metrics: Arc<Metrics>,
}

impl ConnectionTable {
    /// A table enforcing `limits`.
    pub fn new(limits: &Limits, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(ConnectionTable {
            per_ip: Mutex::new(HashMap::new()),
            max_per_ip: limits.max_connections_per_ip,
            max_unauthenticated_per_ip: limits.max_unauthenticated_per_ip,
            metrics,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, IpCount>> {
        self.per_ip.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admit a new (unauthenticated) connection from `ip`.
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionGuard, ConnRefusal> {
        let mut map = self.lock();
        let c = map.entry(ip).or_default();
        if c.open >= self.max_per_ip {
            return Err(ConnRefusal::PerIp);
        }
        if c.unauthenticated >= self.max_unauthenticated_per_ip {
            return Err(ConnRefusal::UnauthenticatedPerIp);
        }
        c.open += 1;
        c.unauthenticated += 1;
        drop(map);
        self.metrics.connection_opened();
        Ok(ConnectionGuard {
            table: self.clone(),
            ip,
            device: Mutex::new(None),
        })
    }

    /// Connections open from `ip`.
    pub fn open_from(&self, ip: &IpAddr) -> usize {
        self.lock().get(ip).map(|c| c.open).unwrap_or(0)
    }
}

/// One admitted connection; dropping it releases its slots and gauges.
#[derive(Debug)]
pub struct ConnectionGuard {
    table: Arc<ConnectionTable>,
    ip: IpAddr,
    device: Mutex<Option<PublicKey>>,
}

impl ConnectionGuard {
    /// The peer's address.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Note that the connection is authenticated as `device` (idempotent;
    /// a re-authentication as another device moves the gauge).
    pub fn authenticated(&self, device: PublicKey) {
        let mut current = self.device.lock().unwrap_or_else(|e| e.into_inner());
        match *current {
            Some(d) if d == device => return,
            Some(d) => self.table.metrics.device_gone(&d),
            None => {
                let mut map = self.table.lock();
                if let Some(c) = map.get_mut(&self.ip) {
                    c.unauthenticated = c.unauthenticated.saturating_sub(1);
                }
            }
        }
        *current = Some(device);
        self.table.metrics.device_authenticated(device);
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let device = self.device.lock().unwrap_or_else(|e| e.into_inner()).take();
        {
            let mut map = self.table.lock();
            if let Some(c) = map.get_mut(&self.ip) {
                c.open = c.open.saturating_sub(1);
                if device.is_none() {
                    c.unauthenticated = c.unauthenticated.saturating_sub(1);
                }
                if c.open == 0 {
                    map.remove(&self.ip);
                }
            }
        }
        if let Some(d) = device {
            self.table.metrics.device_gone(&d);
        }
        self.table.metrics.connection_closed();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let l = KeyedLimiter::new(60, 3); // one a second, bursts of three
        let t0 = Instant::now();
        let k = "a".to_owned();
        for _ in 0..3 {
            l.check(&k, t0).unwrap();
        }
        let wait = l.check(&k, t0).unwrap_err();
        assert!(wait > Duration::from_millis(990) && wait <= Duration::from_secs(1));
        // Another key is unaffected.
        l.check(&"b".to_owned(), t0).unwrap();
        // Half a second later: still nothing; a second later: one.
        assert!(l.check(&k, t0 + Duration::from_millis(500)).is_err());
        l.check(&k, t0 + Duration::from_millis(1000)).unwrap();
        assert!(l.check(&k, t0 + Duration::from_millis(1001)).is_err());
        // Long idle: back to a full burst, never more.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            l.check(&k, later).unwrap();
        }
        assert!(l.check(&k, later).is_err());
    }

    #[test]
    fn zero_rate_disables() {
        let l = KeyedLimiter::new(0, 0);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            l.check(&1u32, t0).unwrap();
        }
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn idle_buckets_are_swept() {
        let l = KeyedLimiter::new(60, 1);
        let t0 = Instant::now();
        for i in 0..SWEEP_AT {
            l.check(&i, t0).unwrap();
        }
        // Every bucket is full again an hour later, so all but the new one go.
        l.check(&usize::MAX, t0 + Duration::from_secs(3600))
            .unwrap();
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn sends_and_requests_are_per_identity() {
        let limits = Limits {
            sends_per_minute: 1,
            send_burst: 2,
            requests_per_minute: 1,
            request_burst: 5,
            unauthenticated_requests_per_minute: 1,
            unauthenticated_burst: 1,
            ..Limits::default()
        };
        let r = RateLimits::new(&limits);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Instant::now();
        r.admit(Some("th.dsi.a"), ip, SEND, t).unwrap();
        r.admit(Some("th.dsi.a"), ip, SEND, t).unwrap();
        let (which, e) = r.admit(Some("th.dsi.a"), ip, SEND, t).unwrap_err();
        assert_eq!(which, RateLimit::Sends);
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert!(e.code.is_retryable());
        assert!(
            e.message.contains("th.dsi.a") && e.message.contains("retry in"),
            "{e}"
        );
        // Non-send requests still pass until their own bucket is empty.
        r.admit(Some("th.dsi.a"), ip, REQ, t).unwrap();
        r.admit(Some("th.dsi.a"), ip, REQ, t).unwrap();
        let (which, _) = r.admit(Some("th.dsi.a"), ip, REQ, t).unwrap_err();
        assert_eq!(which, RateLimit::Requests);
        // Another focal point on the same address is unaffected.
        r.admit(Some("ph.pnp.b"), ip, SEND, t).unwrap();
        // Unauthenticated: per address.
        r.admit(None, ip, REQ, t).unwrap();
        let (which, _) = r.admit(None, ip, REQ, t).unwrap_err();
        assert_eq!(which, RateLimit::Unauthenticated);
        r.admit(None, "192.0.2.2".parse().unwrap(), REQ, t).unwrap();
    }

    const SEND: RequestCost = RequestCost::Send { declarations: 0 };
    const REQ: RequestCost = RequestCost::Request;

    #[test]
    fn declarations_are_paid_for_like_messages() {
        let limits = Limits {
            sends_per_minute: 60,
            send_burst: 10,
            ..Limits::default()
        };
        let r = RateLimits::new(&limits);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Instant::now();
        let receipts = RequestCost::Send { declarations: 4 };
        r.admit(Some("th.dsi.a"), ip, receipts, t).unwrap();
        r.admit(Some("th.dsi.a"), ip, receipts, t).unwrap();
        // Two tokens left: four declarations wait, a plain message passes.
        let (which, e) = r.admit(Some("th.dsi.a"), ip, receipts, t).unwrap_err();
        assert_eq!(which, RateLimit::Sends);
        assert!(e.message.contains("retry in 2.0 s"), "{e}");
        r.admit(Some("th.dsi.a"), ip, SEND, t).unwrap();
        // More declarations than a burst cost a whole burst, never forever.
        let later = t + Duration::from_secs(3600);
        r.admit(
            Some("th.dsi.a"),
            ip,
            RequestCost::Send { declarations: 1000 },
            later,
        )
        .unwrap();
        assert!(r.admit(Some("th.dsi.a"), ip, SEND, later).is_err());
    }

    #[test]
    fn log_reads_before_authentication_have_their_own_bucket() {
        let limits = Limits {
            unauthenticated_requests_per_minute: 1,
            unauthenticated_burst: 2,
            log_reads_per_minute: 1,
            log_read_burst: 3,
            ..Limits::default()
        };
        let r = RateLimits::new(&limits);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Instant::now();
        for _ in 0..3 {
            r.admit(None, ip, RequestCost::LogRead, t).unwrap();
        }
        let (which, e) = r.admit(None, ip, RequestCost::LogRead, t).unwrap_err();
        assert_eq!(which, RateLimit::LogReads);
        assert!(e.message.contains("retry in"), "{e}");
        // The address can still authenticate.
        r.admit(None, ip, REQ, t).unwrap();
        r.admit(None, ip, REQ, t).unwrap();
        assert!(r.admit(None, ip, REQ, t).is_err());
        // Once authenticated, log reads count against the focal point.
        r.admit(Some("th.dsi.a"), ip, RequestCost::LogRead, t)
            .unwrap();
    }

    #[test]
    fn connections_per_ip() {
        let limits = Limits {
            max_connections_per_ip: 3,
            max_unauthenticated_per_ip: 2,
            ..Limits::default()
        };
        let metrics = Arc::new(Metrics::default());
        let table = ConnectionTable::new(&limits, metrics.clone());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = table.open(ip).unwrap();
        let b = table.open(ip).unwrap();
        assert_eq!(
            table.open(ip).unwrap_err(),
            ConnRefusal::UnauthenticatedPerIp
        );
        a.authenticated(PublicKey([1; 32]));
        a.authenticated(PublicKey([1; 32]));
        assert_eq!(metrics.authenticated_devices(), 1);
        let c = table.open(ip).unwrap();
        assert_eq!(table.open(ip).unwrap_err(), ConnRefusal::PerIp);
        // Another address is unaffected.
        let other = table.open("192.0.2.9".parse().unwrap()).unwrap();
        assert_eq!(metrics.connections(), 4);
        drop((a, b, c, other));
        assert_eq!(metrics.connections(), 0);
        assert_eq!(metrics.authenticated_devices(), 0);
        assert_eq!(table.open_from(&ip), 0);
    }
}
