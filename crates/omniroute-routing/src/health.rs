//! What the gateway remembers about each provider, connection and model, on three levels:
//!
//! - **connection cooldown** with exponential backoff (base × 2^level, capped, or the
//!   upstream's stated reset), plus pacing (requests per minute, minimum gap, concurrency) and
//!   quota windows;
//! - **model lockout** on one connection: a model that is rate-limited, failing or not available
//!   on that account, with its own backoff;
//! - **provider circuit breaker**: closed → open after `threshold` breaker failures within the
//!   window → half-open after the reset time, letting exactly one probe through → closed on
//!   its success, open again (for twice as long, up to 8×) on its failure.
//!
//! Every method takes `now_ms`; nothing here reads a clock.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::classify::{Cool, Verdict};

/// Thresholds and times for one kind of provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Breaker failures within `window_ms` that open the breaker.
    pub breaker_threshold: u32,
    pub breaker_window_ms: u64,
    /// How long the breaker stays open before a probe is let through.
    pub breaker_reset_ms: u64,
    /// First cooldown; doubles per consecutive failure.
    pub base_cooldown_ms: u64,
    /// Cap on the doubling.
    pub max_cooldown_ms: u64,
}

impl Profile {
    /// Providers called with an API key: 12 failures / 60 s open the breaker for 30 s.
    pub const API_KEY: Profile = Profile {
        breaker_threshold: 12,
        breaker_window_ms: 60_000,
        breaker_reset_ms: 30_000,
        base_cooldown_ms: 1_000,
        max_cooldown_ms: 120_000,
    };
    /// OAuth (subscription) providers: 8 failures / 15 min open it for 60 s.
    pub const OAUTH: Profile = Profile {
        breaker_threshold: 8,
        breaker_window_ms: 900_000,
        breaker_reset_ms: 60_000,
        base_cooldown_ms: 5_000,
        max_cooldown_ms: 300_000,
    };
    /// Local servers (no key): 2 failures / 5 min open it for 15 s.
    pub const LOCAL: Profile = Profile {
        breaker_threshold: 2,
        breaker_window_ms: 300_000,
        breaker_reset_ms: 15_000,
        base_cooldown_ms: 1_000,
        max_cooldown_ms: 15_000,
    };
}

/// Breaker states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Breaker {
    Closed,
    Open { until: u64 },
    HalfOpen { probing: bool },
}

#[derive(Debug, Clone)]
struct ProviderState {
    breaker: Breaker,
    /// Times of recent breaker failures.
    failures: VecDeque<u64>,
    /// Consecutive openings, for the escalating reset.
    openings: u32,
    latency: Latency,
    ok: u64,
    failed: u64,
}

impl Default for ProviderState {
    fn default() -> Self {
        ProviderState {
            breaker: Breaker::Closed,
            failures: VecDeque::new(),
            openings: 0,
            latency: Latency::default(),
            ok: 0,
            failed: 0,
        }
    }
}

/// Recent latencies (ms): a ring for the percentiles reports show, and an exponentially
/// weighted mean that routing reads on every request without sorting anything.
#[derive(Debug, Clone, Default)]
struct Latency {
    ring: VecDeque<u64>,
    ewma: Option<f64>,
}

const LATENCY_SAMPLES: usize = 512;

impl Latency {
    fn record(&mut self, ms: u64) {
        if self.ring.len() == LATENCY_SAMPLES {
            self.ring.pop_front();
        }
        self.ring.push_back(ms);
        self.ewma = Some(self.ewma.map_or(ms as f64, |e| e * 0.8 + ms as f64 * 0.2));
    }

    fn percentiles(&self) -> Option<[u64; 3]> {
        if self.ring.is_empty() {
            return None;
        }
        let mut v: Vec<u64> = self.ring.iter().copied().collect();
        v.sort_unstable();
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some([at(0.5), at(0.95), at(0.99)])
    }
}

/// Limits configured on a connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// At most this many requests in flight.
    pub max_concurrent: Option<u32>,
    /// Requests per minute (configured; else learned from rate-limit headers).
    pub rpm: Option<u32>,
    /// Minimum time between two requests.
    pub min_gap_ms: u64,
    /// Quota windows counted in tokens.
    pub quotas: Vec<QuotaLimit>,
    /// Skip the connection when a window is used above this fraction (default 0.9).
    pub quota_threshold: f64,
}

/// One quota window, e.g. 5 hours / 1M tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaLimit {
    pub name: String,
    pub window_ms: u64,
    pub tokens: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct QuotaUse {
    start: u64,
    used: u64,
}

#[derive(Debug, Clone, Default)]
struct ConnState {
    cooldown_until: u64,
    level: u32,
    reason: Option<String>,
    in_flight: u32,
    limits: Limits,
    ok: u64,
    failed: u64,
    /// Exponentially weighted success rate, starts at 1.
    success: Option<f64>,
    latency: Latency,
    // pacing
    learned_rpm: Option<u32>,
    bucket: f64,
    bucket_at: u64,
    last_sent: u64,
    paced_until: u64,
    /// Quota use per window name.
    quota: HashMap<String, QuotaUse>,
    /// Remaining fraction a provider reported, and when it resets.
    reported_headroom: Option<(f64, u64)>,
}

/// Why a target is skipped now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    BreakerOpen { until: u64 },
    ProbeInFlight,
    Cooling { until: u64, reason: String },
    ModelLocked { until: u64 },
    Busy { in_flight: u32 },
    OverQuota { window: String, until: u64 },
    Paced { until: u64 },
}

impl Skip {
    /// When the target may be free again (`None`: when a request finishes).
    pub fn until(&self) -> Option<u64> {
        match self {
            Skip::BreakerOpen { until }
            | Skip::Cooling { until, .. }
            | Skip::ModelLocked { until }
            | Skip::OverQuota { until, .. }
            | Skip::Paced { until } => Some(*until),
            Skip::ProbeInFlight | Skip::Busy { .. } => None,
        }
    }

    /// One line for route explanations.
    pub fn describe(&self, now_ms: u64) -> String {
        let left = |u: &u64| u.saturating_sub(now_ms).div_ceil(1000);
        match self {
            Skip::BreakerOpen { until } => format!("circuit breaker open ({}s left)", left(until)),
            Skip::ProbeInFlight => "circuit breaker half-open, its probe is in flight".into(),
            Skip::Cooling { until, reason } => {
                format!("connection cooling down after {reason} ({}s left)", left(until))
            }
            Skip::ModelLocked { until } => {
                format!("model locked out on this connection ({}s left)", left(until))
            }
            Skip::Busy { in_flight } => format!("at its concurrency limit ({in_flight} in flight)"),
            Skip::OverQuota { window, until } => {
                format!("quota window {window} above threshold ({}s to reset)", left(until))
            }
            Skip::Paced { until } => {
                format!("paced: next slot in {}ms", until.saturating_sub(now_ms))
            }
        }
    }
}

/// The retry budget: retries within the last 10 s may be at most 30 % of first attempts (and
/// 5 are always allowed), so a total outage adds at most 30 % to upstream traffic instead of
/// multiplying it.
#[derive(Debug, Clone, Default)]
struct RetryBudget {
    events: VecDeque<(u64, bool)>,
}

const RETRY_WINDOW_MS: u64 = 10_000;
/// Retries allowed per first attempt within the window, and the floor.
const RETRY_RATIO: f64 = 0.3;
const RETRY_FLOOR: usize = 5;

impl RetryBudget {
    fn trim(&mut self, now: u64) {
        while self.events.front().is_some_and(|(t, _)| t + RETRY_WINDOW_MS < now) {
            self.events.pop_front();
        }
    }
}

/// The whole memory. One instance per gateway, behind a mutex.
#[derive(Debug, Default)]
pub struct Health {
    providers: HashMap<String, ProviderState>,
    conns: HashMap<String, ConnState>,
    /// Until when, and the backoff level, per (provider, connection, model).
    locks: HashMap<String, (u64, u32)>,
    retries: RetryBudget,
}

/// Consecutive hint-less failures of a model on an account before it is locked out.
const LOCK_AFTER: u32 = 3;

fn conn_key(provider: &str, conn: &str) -> String {
    format!("{provider}\u{1f}{conn}")
}

fn lock_key(provider: &str, conn: &str, model: &str) -> String {
    format!("{provider}\u{1f}{conn}\u{1f}{model}")
}

impl Health {
    /// Sets a connection's configured limits (kept across calls; state is not reset).
    pub fn configure(&mut self, provider: &str, conn: &str, limits: Limits) {
        self.conns.entry(conn_key(provider, conn)).or_default().limits = limits;
    }

    /// Whether `model` on `conn` of `provider` can take a request now. Moves an open breaker
    /// whose time is up to half-open.
    pub fn check(&mut self, provider: &str, conn: &str, model: &str, now: u64) -> Result<(), Skip> {
        if let Some(p) = self.providers.get_mut(provider) {
            match p.breaker {
                Breaker::Open { until } if now < until => return Err(Skip::BreakerOpen { until }),
                Breaker::Open { .. } => p.breaker = Breaker::HalfOpen { probing: false },
                Breaker::HalfOpen { probing: true } => return Err(Skip::ProbeInFlight),
                _ => {}
            }
        }
        if let Some(&(until, _)) = self.locks.get(&lock_key(provider, conn, model))
            && now < until
        {
            return Err(Skip::ModelLocked { until });
        }
        let Some(c) = self.conns.get_mut(&conn_key(provider, conn)) else { return Ok(()) };
        if now < c.cooldown_until {
            let reason = c.reason.clone().unwrap_or_else(|| "a failure".into());
            return Err(Skip::Cooling { until: c.cooldown_until, reason });
        }
        if let Some(max) = c.limits.max_concurrent
            && c.in_flight >= max
        {
            return Err(Skip::Busy { in_flight: c.in_flight });
        }
        let threshold = if c.limits.quota_threshold > 0.0 { c.limits.quota_threshold } else { 0.9 };
        for q in &c.limits.quotas {
            if let Some(u) = c.quota.get(&q.name)
                && now < u.start + q.window_ms
                && u.used as f64 >= threshold * q.tokens as f64
            {
                return Err(Skip::OverQuota {
                    window: q.name.clone(),
                    until: u.start + q.window_ms,
                });
            }
        }
        if let Some((headroom, reset)) = c.reported_headroom
            && now < reset
            && headroom <= 1.0 - threshold
        {
            return Err(Skip::OverQuota { window: "reported".into(), until: reset });
        }
        pace(c, now).map_err(|until| Skip::Paced { until })
    }

    /// A request is being sent: counts it in flight, takes its pacing slot, and marks a
    /// half-open breaker's probe.
    pub fn begin(&mut self, provider: &str, conn: &str, now: u64) {
        let p = self.providers.entry(provider.to_owned()).or_default();
        if p.breaker == (Breaker::HalfOpen { probing: false }) {
            p.breaker = Breaker::HalfOpen { probing: true };
        }
        let c = self.conns.entry(conn_key(provider, conn)).or_default();
        c.in_flight += 1;
        refill(c, now);
        c.bucket -= 1.0;
        c.last_sent = now;
    }

    /// The request for `model` succeeded (headers received) after `latency_ms`.
    pub fn succeed(&mut self, provider: &str, conn: &str, model: &str, latency_ms: u64) {
        self.locks.remove(&lock_key(provider, conn, model));
        let p = self.providers.entry(provider.to_owned()).or_default();
        p.breaker = Breaker::Closed;
        p.failures.clear();
        p.openings = 0;
        p.ok += 1;
        p.latency.record(latency_ms);
        let c = self.conns.entry(conn_key(provider, conn)).or_default();
        c.in_flight = c.in_flight.saturating_sub(1);
        c.level = 0;
        c.ok += 1;
        c.success = Some(c.success.unwrap_or(1.0) * 0.9 + 0.1);
        c.latency.record(latency_ms);
    }

    /// The request failed as `v` says.
    pub fn fail(
        &mut self,
        provider: &str,
        conn: &str,
        model: &str,
        v: &Verdict,
        profile: &Profile,
        now: u64,
    ) {
        let p = self.providers.entry(provider.to_owned()).or_default();
        let probing = p.breaker == (Breaker::HalfOpen { probing: true });
        if v.breaker {
            p.failed += 1;
            p.failures.push_back(now);
            while p.failures.front().is_some_and(|t| t + profile.breaker_window_ms < now) {
                p.failures.pop_front();
            }
            if probing || p.failures.len() as u32 >= profile.breaker_threshold {
                p.openings = (p.openings + 1).min(4);
                let factor = 1u64 << (p.openings - 1);
                p.breaker = Breaker::Open { until: now + profile.breaker_reset_ms * factor };
                p.failures.clear();
            }
        } else if probing {
            // A probe that failed for a reason that says nothing about the provider
            // (a bad request, one account's quota) lets the next request probe again.
            p.breaker = Breaker::HalfOpen { probing: false };
        }
        let c = self.conns.entry(conn_key(provider, conn)).or_default();
        c.in_flight = c.in_flight.saturating_sub(1);
        if v.breaker || v.cool_connection.is_some() || v.lock_model.is_some() {
            c.failed += 1;
            c.success = Some(c.success.unwrap_or(1.0) * 0.9);
        }
        if let Some(cool) = v.cool_connection {
            let until = match cool {
                Cool::Until(t) => t,
                Cool::Backoff(Some(hint)) => hint.max(now + profile.base_cooldown_ms),
                Cool::Backoff(None) => {
                    let step = profile.base_cooldown_ms.saturating_mul(1u64 << c.level.min(20));
                    now + step.min(profile.max_cooldown_ms)
                }
            };
            c.cooldown_until = c.cooldown_until.max(until);
            c.level = (c.level + 1).min(20);
            c.reason = Some(v.class.label().to_owned());
        }
        if let Some(cool) = v.lock_model {
            let lock = self.locks.entry(lock_key(provider, conn, model)).or_insert((0, 0));
            let level = (lock.1 + 1).min(20 + LOCK_AFTER);
            let until = match cool {
                Cool::Until(t) => t,
                Cool::Backoff(Some(hint)) => hint.max(now + profile.base_cooldown_ms),
                // Without a hint, one failure of a model is noise: it is locked from the
                // third failure in a row on, then with a doubling backoff.
                Cool::Backoff(None) if level < LOCK_AFTER => 0,
                Cool::Backoff(None) => {
                    let step = profile
                        .base_cooldown_ms
                        .saturating_mul(1u64 << (level - LOCK_AFTER).min(20));
                    now + step.min(profile.max_cooldown_ms)
                }
            };
            *lock = (lock.0.max(until), level);
        }
    }

    /// The request ended without an upstream verdict (the client left first).
    pub fn abandon(&mut self, provider: &str, conn: &str) {
        if let Some(p) = self.providers.get_mut(provider)
            && p.breaker == (Breaker::HalfOpen { probing: true })
        {
            p.breaker = Breaker::HalfOpen { probing: false };
        }
        if let Some(c) = self.conns.get_mut(&conn_key(provider, conn)) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
    }

    /// Learns pacing and headroom from a response's rate-limit headers (lowercase names).
    pub fn learn(&mut self, provider: &str, conn: &str, headers: &[(String, String)], now: u64) {
        let get = |n: &str| {
            headers.iter().find(|(k, _)| k == n).and_then(|(_, v)| v.trim().parse::<f64>().ok())
        };
        let c = self.conns.entry(conn_key(provider, conn)).or_default();
        let limit =
            get("x-ratelimit-limit-requests").or_else(|| get("anthropic-ratelimit-requests-limit"));
        if let Some(l) = limit
            && l >= 1.0
        {
            c.learned_rpm = Some(l as u32);
        }
        let remaining = get("x-ratelimit-remaining-requests")
            .or_else(|| get("anthropic-ratelimit-requests-remaining"));
        if remaining.is_some_and(|r| r <= 0.0)
            && let Some(reset) = crate::classify::reset_hint(headers, now)
        {
            c.paced_until = c.paced_until.max(reset);
        }
        let tokens_limit =
            get("x-ratelimit-limit-tokens").or_else(|| get("anthropic-ratelimit-tokens-limit"));
        let tokens_left = get("x-ratelimit-remaining-tokens")
            .or_else(|| get("anthropic-ratelimit-tokens-remaining"));
        if let (Some(l), Some(r)) = (tokens_limit, tokens_left)
            && l > 0.0
        {
            let text = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
            let reset = text("x-ratelimit-reset-tokens")
                .and_then(crate::classify::parse_duration_ms)
                .map(|d| now + d)
                .or_else(|| {
                    text("anthropic-ratelimit-tokens-reset")
                        .and_then(crate::classify::parse_rfc3339_ms)
                })
                .unwrap_or(now + 60_000);
            c.reported_headroom = Some(((r / l).clamp(0.0, 1.0), reset));
        }
    }

    /// Counts tokens against the connection's quota windows.
    pub fn count_tokens(&mut self, provider: &str, conn: &str, tokens: u64, now: u64) {
        let c = self.conns.entry(conn_key(provider, conn)).or_default();
        let windows: Vec<(String, u64)> =
            c.limits.quotas.iter().map(|q| (q.name.clone(), q.window_ms)).collect();
        for (name, window) in windows {
            let u = c.quota.entry(name).or_default();
            if now >= u.start + window {
                *u = QuotaUse { start: now, used: 0 };
            }
            u.used += tokens;
        }
    }

    /// A health score in 0..=1: the recent success rate, discounted by the breaker state and
    /// by latency (1 s median halves the latency part).
    pub fn score(&self, provider: &str, conn: Option<&str>) -> f64 {
        let p = self.providers.get(provider);
        let breaker = match p.map(|p| p.breaker) {
            Some(Breaker::Open { .. }) => 0.0,
            Some(Breaker::HalfOpen { .. }) => 0.5,
            _ => 1.0,
        };
        let c = conn.and_then(|c| self.conns.get(&conn_key(provider, c)));
        let success = c.and_then(|c| c.success).unwrap_or(1.0);
        let typical = c.and_then(|c| c.latency.ewma).or_else(|| p.and_then(|p| p.latency.ewma));
        let speed = typical.map_or(1.0, |m| 1.0 / (1.0 + m / 1000.0));
        breaker * success * (0.7 + 0.3 * speed)
    }

    /// Typical latency (an exponentially weighted mean, in ms) of a connection, else of its
    /// provider.
    pub fn median_latency(&self, provider: &str, conn: &str) -> Option<f64> {
        self.conns
            .get(&conn_key(provider, conn))
            .and_then(|c| c.latency.ewma)
            .or_else(|| self.providers.get(provider).and_then(|p| p.latency.ewma))
    }

    /// Requests sent through a connection so far.
    pub fn uses(&self, provider: &str, conn: &str) -> u64 {
        self.conns
            .get(&conn_key(provider, conn))
            .map_or(0, |c| c.ok + c.failed + u64::from(c.in_flight))
    }

    /// Remaining quota fraction of a connection (lowest window) and when that window resets.
    pub fn headroom(&self, provider: &str, conn: &str, now: u64) -> (Option<f64>, Option<u64>) {
        let Some(c) = self.conns.get(&conn_key(provider, conn)) else { return (None, None) };
        let mut best: (Option<f64>, Option<u64>) = (None, None);
        let mut take = |h: f64, reset: u64| {
            if best.0.is_none_or(|b| h < b) {
                best = (Some(h), Some(reset.saturating_sub(now)));
            }
        };
        for q in &c.limits.quotas {
            match c.quota.get(&q.name) {
                Some(u) if now < u.start + q.window_ms && q.tokens > 0 => {
                    take(1.0 - (u.used as f64 / q.tokens as f64).min(1.0), u.start + q.window_ms);
                }
                _ => take(1.0, now + q.window_ms),
            }
        }
        if let Some((h, reset)) = c.reported_headroom
            && now < reset
        {
            take(h, reset);
        }
        best
    }

    /// Notes a first attempt for the retry budget.
    pub fn note_request(&mut self, now: u64) {
        self.retries.trim(now);
        self.retries.events.push_back((now, false));
    }

    /// Whether one more retry fits the budget; if so it is counted.
    pub fn try_retry(&mut self, now: u64) -> bool {
        self.retries.trim(now);
        let retries = self.retries.events.iter().filter(|(_, r)| *r).count();
        let firsts = self.retries.events.len() - retries;
        if retries < ((firsts as f64 * RETRY_RATIO) as usize).max(RETRY_FLOOR) {
            self.retries.events.push_back((now, true));
            true
        } else {
            false
        }
    }

    /// The state worth keeping across a restart.
    pub fn persist(&self) -> Persisted {
        Persisted {
            breakers: self
                .providers
                .iter()
                .filter(|(_, p)| p.breaker != Breaker::Closed)
                .map(|(id, p)| (id.clone(), p.breaker, p.openings))
                .collect(),
            cooldowns: self
                .conns
                .iter()
                .filter(|(_, c)| c.cooldown_until > 0 || !c.quota.is_empty())
                .map(|(k, c)| PersistedConn {
                    key: k.clone(),
                    cooldown_until: c.cooldown_until,
                    level: c.level,
                    reason: c.reason.clone(),
                    quota: c.quota.iter().map(|(n, u)| (n.clone(), u.start, u.used)).collect(),
                })
                .collect(),
            locks: self.locks.iter().map(|(k, (u, _))| (k.clone(), *u)).collect(),
        }
    }

    /// Restores what [`Health::persist`] kept, dropping what expired before `now`.
    pub fn restore(&mut self, p: Persisted, now: u64) {
        for (id, breaker, openings) in p.breakers {
            let s = self.providers.entry(id).or_default();
            s.breaker = match breaker {
                // A probe in flight when the process died is not in flight any more.
                Breaker::HalfOpen { .. } => Breaker::HalfOpen { probing: false },
                b => b,
            };
            s.openings = openings;
        }
        for c in p.cooldowns {
            let s = self.conns.entry(c.key).or_default();
            if c.cooldown_until > now {
                s.cooldown_until = c.cooldown_until;
                s.reason = c.reason;
            }
            s.level = c.level;
            for (name, start, used) in c.quota {
                s.quota.insert(name, QuotaUse { start, used });
            }
        }
        for (k, until) in p.locks {
            if until > now {
                self.locks.insert(k, (until, 1));
            }
        }
    }

    /// Everything, for `/api/health`.
    pub fn report(&self, now: u64) -> Report {
        let mut providers: Vec<ProviderReport> = self
            .providers
            .iter()
            .map(|(id, p)| ProviderReport {
                id: id.clone(),
                breaker: match p.breaker {
                    Breaker::Open { until } if now >= until => Breaker::HalfOpen { probing: false },
                    b => b,
                },
                recent_failures: p.failures.len() as u32,
                ok: p.ok,
                failed: p.failed,
                latency_ms: p.latency.percentiles(),
            })
            .collect();
        providers.sort_by(|a, b| a.id.cmp(&b.id));
        let mut connections: Vec<ConnReport> = self
            .conns
            .iter()
            .map(|(k, c)| {
                let (provider, name) = k.split_once('\u{1f}').unwrap_or((k, ""));
                ConnReport {
                    provider: provider.to_owned(),
                    name: name.to_owned(),
                    cooling_until: (c.cooldown_until > now).then_some(c.cooldown_until),
                    cooldown_reason: (c.cooldown_until > now).then(|| c.reason.clone()).flatten(),
                    backoff_level: c.level,
                    in_flight: c.in_flight,
                    ok: c.ok,
                    failed: c.failed,
                    latency_ms: c.latency.percentiles(),
                    quota: c
                        .limits
                        .quotas
                        .iter()
                        .map(|q| {
                            let u = c.quota.get(&q.name).filter(|u| now < u.start + q.window_ms);
                            QuotaReport {
                                window: q.name.clone(),
                                used: u.map_or(0, |u| u.used),
                                limit: q.tokens,
                                resets_at: u.map(|u| u.start + q.window_ms),
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        connections.sort_by(|a, b| (&a.provider, &a.name).cmp(&(&b.provider, &b.name)));
        let mut locks: Vec<LockReport> = self
            .locks
            .iter()
            .filter(|(_, (u, _))| *u > now)
            .map(|(k, (u, _))| {
                let mut parts = k.split('\u{1f}');
                LockReport {
                    provider: parts.next().unwrap_or_default().to_owned(),
                    connection: parts.next().unwrap_or_default().to_owned(),
                    model: parts.next().unwrap_or_default().to_owned(),
                    until: *u,
                }
            })
            .collect();
        locks.sort_by(|a, b| {
            (&a.provider, &a.connection, &a.model).cmp(&(&b.provider, &b.connection, &b.model))
        });
        Report { providers, connections, locks }
    }
}

/// Refills the connection's request bucket.
fn refill(c: &mut ConnState, now: u64) {
    let Some(rpm) = c.limits.rpm.or(c.learned_rpm) else {
        c.bucket = 1.0;
        c.bucket_at = now;
        return;
    };
    let cap = f64::from(rpm.max(1));
    if c.bucket_at == 0 {
        c.bucket = cap;
    } else {
        let per_ms = cap / 60_000.0;
        c.bucket = (c.bucket + now.saturating_sub(c.bucket_at) as f64 * per_ms).min(cap);
    }
    c.bucket_at = now;
}

/// `Err(until)` when the connection must wait for its next slot.
fn pace(c: &mut ConnState, now: u64) -> Result<(), u64> {
    if now < c.paced_until {
        return Err(c.paced_until);
    }
    if c.limits.min_gap_ms > 0 && c.last_sent > 0 && now < c.last_sent + c.limits.min_gap_ms {
        return Err(c.last_sent + c.limits.min_gap_ms);
    }
    if let Some(rpm) = c.limits.rpm.or(c.learned_rpm) {
        refill(c, now);
        if c.bucket < 1.0 {
            let per_ms = f64::from(rpm.max(1)) / 60_000.0;
            return Err(now + ((1.0 - c.bucket) / per_ms).ceil() as u64);
        }
    }
    Ok(())
}

/// Persisted state of one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedConn {
    pub key: String,
    pub cooldown_until: u64,
    pub level: u32,
    pub reason: Option<String>,
    /// (window, start, used)
    pub quota: Vec<(String, u64, u64)>,
}

/// What survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    pub breakers: Vec<(String, Breaker, u32)>,
    pub cooldowns: Vec<PersistedConn>,
    pub locks: Vec<(String, u64)>,
}

/// `/api/health` material.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub providers: Vec<ProviderReport>,
    pub connections: Vec<ConnReport>,
    pub locks: Vec<LockReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderReport {
    pub id: String,
    pub breaker: Breaker,
    pub recent_failures: u32,
    pub ok: u64,
    pub failed: u64,
    /// p50, p95, p99
    pub latency_ms: Option<[u64; 3]>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnReport {
    pub provider: String,
    pub name: String,
    pub cooling_until: Option<u64>,
    pub cooldown_reason: Option<String>,
    pub backoff_level: u32,
    pub in_flight: u32,
    pub ok: u64,
    pub failed: u64,
    pub latency_ms: Option<[u64; 3]>,
    pub quota: Vec<QuotaReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaReport {
    pub window: String,
    pub used: u64,
    pub limit: u64,
    pub resets_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockReport {
    pub provider: String,
    pub connection: String,
    pub model: String,
    pub until: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Class, Observed, classify};

    const T0: u64 = 1_795_600_000_000;

    fn verdict(status: Option<u16>, body: &str) -> Verdict {
        classify(&Observed { status, headers: &[], body }, T0)
    }

    #[test]
    fn the_breaker_opens_probes_once_and_closes() {
        let mut h = Health::default();
        let p = Profile { breaker_threshold: 3, ..Profile::API_KEY };
        let v = verdict(None, "");
        for i in 0..3 {
            assert!(h.check("x", "a", "m", T0 + i).is_ok() || i > 0);
            h.begin("x", "a", T0 + i);
            h.fail("x", "a", "m", &v, &p, T0 + i);
        }
        assert!(matches!(h.check("x", "b", "m", T0 + 10), Err(Skip::BreakerOpen { .. })));
        let reopen = T0 + 2 + p.breaker_reset_ms;
        assert!(h.check("x", "b", "m", reopen).is_ok(), "half-open lets one probe through");
        h.begin("x", "b", reopen);
        assert_eq!(h.check("x", "c", "m", reopen), Err(Skip::ProbeInFlight));
        h.fail("x", "b", "m", &v, &p, reopen);
        match h.check("x", "c", "m", reopen + 1) {
            Err(Skip::BreakerOpen { until }) => {
                assert_eq!(
                    until,
                    reopen + 2 * p.breaker_reset_ms,
                    "a failed probe doubles the wait"
                )
            }
            other => panic!("{other:?}"),
        }
        let again = reopen + 2 * p.breaker_reset_ms;
        assert!(h.check("x", "c", "m", again).is_ok());
        h.begin("x", "c", again);
        h.succeed("x", "c", "m", 100);
        assert_eq!(h.report(again).providers[0].breaker, Breaker::Closed);
        assert!(h.check("x", "d", "m", again).is_ok());
    }

    #[test]
    fn backoff_grows_caps_and_resets() {
        let mut h = Health::default();
        let p = Profile { breaker_threshold: 1000, ..Profile::API_KEY };
        // A network failure cools the account; a 500 locks only its model, each with its own
        // backoff.
        for (v, model_only) in [(verdict(None, ""), false), (verdict(Some(500), ""), true)] {
            let mut waits = Vec::new();
            let mut now = T0;
            let until_of = |h: &mut Health, now| match h.check("x", "a", "m", now) {
                Err(Skip::Cooling { until, .. }) if !model_only => until,
                Err(Skip::ModelLocked { until }) if model_only => until,
                other => panic!("{other:?}"),
            };
            if model_only {
                for _ in 1..LOCK_AFTER {
                    h.begin("x", "a", now);
                    h.fail("x", "a", "m", &v, &p, now);
                    assert!(h.check("x", "a", "m", now).is_ok(), "one failure is not a lockout");
                }
            }
            for _ in 0..10 {
                h.begin("x", "a", now);
                h.fail("x", "a", "m", &v, &p, now);
                let until = until_of(&mut h, now);
                waits.push(until - now);
                now = until;
            }
            assert_eq!(&waits[..4], &[1_000, 2_000, 4_000, 8_000]);
            assert_eq!(*waits.last().unwrap(), p.max_cooldown_ms);
            assert_eq!(h.check("x", "a", "other-model", now - 1).is_ok(), model_only);
            h.begin("x", "a", now);
            h.succeed("x", "a", "m", 10);
            let again = if model_only { LOCK_AFTER } else { 1 };
            for _ in 0..again {
                h.begin("x", "a", now);
                h.fail("x", "a", "m", &v, &p, now);
            }
            let until = until_of(&mut h, now);
            assert_eq!(until - now, 1_000, "success resets the backoff");
            h = Health::default();
        }
    }

    #[test]
    fn request_errors_cool_nothing() {
        let mut h = Health::default();
        for _ in 0..50 {
            h.begin("x", "a", T0);
            h.fail("x", "a", "m", &verdict(Some(400), "bad field"), &Profile::API_KEY, T0);
        }
        assert!(h.check("x", "a", "m", T0).is_ok());
        assert!(h.report(T0).connections[0].cooling_until.is_none());
    }

    #[test]
    fn quota_text_cools_until_the_stated_time_and_models_lock_alone() {
        let mut h = Health::default();
        let v = verdict(Some(429), "You exceeded your current quota (insufficient_quota)");
        assert_eq!(v.class, Class::Quota);
        h.fail("x", "a", "m", &v, &Profile::API_KEY, T0);
        assert!(matches!(h.check("x", "a", "m", T0 + 3_599_000), Err(Skip::Cooling { .. })));
        assert!(h.check("x", "a", "m", T0 + 3_600_000).is_ok());
        h.fail("x", "b", "gpt-9", &verdict(Some(404), "no such model"), &Profile::API_KEY, T0);
        assert!(matches!(h.check("x", "b", "gpt-9", T0 + 1), Err(Skip::ModelLocked { .. })));
        assert!(h.check("x", "b", "gpt-4o", T0 + 1).is_ok(), "other models on the account go on");
    }

    #[test]
    fn concurrency_pacing_and_quota_windows() {
        let mut h = Health::default();
        h.configure(
            "x",
            "a",
            Limits {
                max_concurrent: Some(2),
                rpm: Some(60),
                quotas: vec![QuotaLimit {
                    name: "5h".into(),
                    window_ms: 5 * 3_600_000,
                    tokens: 1000,
                }],
                ..Limits::default()
            },
        );
        h.begin("x", "a", T0);
        h.begin("x", "a", T0);
        assert_eq!(h.check("x", "a", "m", T0), Err(Skip::Busy { in_flight: 2 }));
        h.succeed("x", "a", "m", 5);
        h.succeed("x", "a", "m", 5);
        // 60 rpm: the bucket started full at 60; drain it.
        for _ in 0..58 {
            h.begin("x", "a", T0);
            h.succeed("x", "a", "m", 5);
        }
        assert!(matches!(h.check("x", "a", "m", T0), Err(Skip::Paced { until }) if until > T0));
        assert!(h.check("x", "a", "m", T0 + 1_000).is_ok(), "one slot per second comes back");
        h.count_tokens("x", "a", 950, T0);
        assert!(matches!(h.check("x", "a", "m", T0 + 2_000), Err(Skip::OverQuota { .. })));
        assert_eq!(h.headroom("x", "a", T0).0.map(|f| (f * 100.0).round()), Some(5.0));
        assert!(h.check("x", "a", "m", T0 + 5 * 3_600_000 + 1).is_ok(), "the window resets");
    }

    #[test]
    fn learned_limits_pace_the_connection() {
        let mut h = Health::default();
        let headers: Vec<(String, String)> = [
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "2s"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        h.learn("x", "a", &headers, T0);
        assert_eq!(h.check("x", "a", "m", T0), Err(Skip::Paced { until: T0 + 2_000 }));
        assert!(h.check("x", "a", "m", T0 + 2_000).is_ok());
    }

    #[test]
    fn the_retry_budget_stops_storms() {
        let mut h = Health::default();
        assert!((0..5).all(|_| h.try_retry(T0)), "a floor of 5");
        assert!(!h.try_retry(T0));
        for _ in 0..100 {
            h.note_request(T0);
        }
        let allowed = (0..100).filter(|_| h.try_retry(T0)).count();
        assert_eq!(allowed, 30 - 5, "30 % of first attempts");
        assert!(h.try_retry(T0 + 20_000), "the window moves on");
    }

    #[test]
    fn state_survives_persist_and_restore() {
        let mut h = Health::default();
        let p = Profile { breaker_threshold: 1, ..Profile::API_KEY };
        h.fail("x", "a", "m", &verdict(Some(503), ""), &p, T0);
        h.fail("y", "b", "m2", &verdict(Some(404), ""), &p, T0);
        let saved = h.persist();
        let json = serde_json::to_string(&saved).unwrap();
        let mut back = Health::default();
        back.restore(serde_json::from_str(&json).unwrap(), T0 + 1);
        assert!(matches!(back.check("x", "z", "m", T0 + 1), Err(Skip::BreakerOpen { .. })));
        assert!(matches!(back.check("y", "b", "m2", T0 + 1), Err(Skip::ModelLocked { .. })));
        let mut late = Health::default();
        late.restore(saved, T0 + 10 * 60_000);
        assert!(late.check("y", "b", "m2", T0 + 10 * 60_000).is_ok(), "expired state is dropped");
    }

    #[test]
    fn scores_follow_success_and_breakers() {
        let mut h = Health::default();
        h.begin("x", "a", T0);
        h.succeed("x", "a", "m", 100);
        let good = h.score("x", Some("a"));
        h.fail("x", "b", "m", &verdict(Some(500), ""), &Profile::API_KEY, T0);
        assert!(h.score("x", Some("b")) < good);
        let p = Profile { breaker_threshold: 1, ..Profile::API_KEY };
        h.fail("y", "c", "m", &verdict(Some(500), ""), &p, T0);
        assert_eq!(h.score("y", Some("c")), 0.0);
    }
}
