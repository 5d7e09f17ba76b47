//! One usage row per finished request, handed to the storage writer off the request path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use omniroute_storage::{Price, UsageRow, UsageWriter};
use omniroute_translate::{Format, TokenUsage};

use crate::apply::now_ms;
use crate::budget::{Budgets, cost_micros};
use crate::capture::{Capture, Entry, Limits, MAX_RESPONSE};
use crate::plan::RouterState;
use crate::routes::Candidate;
use omniroute_routing::health::Health;
use std::sync::Mutex;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// What is known about a request from its start; completed into a row when it ends.
pub(crate) struct Ledger {
    writer: Option<Arc<UsageWriter>>,
    started: Instant,
    row: UsageRow,
    /// The price of the candidate that answered.
    price: Option<Price>,
    /// The key's spending account, and what this request reserved on it.
    budget: Option<(Arc<Budgets>, i64)>,
    /// Payload capture, when on: the writer, the request, the response so far.
    capture: Option<Captured>,
    /// The health state and the account, to count tokens against its quota windows.
    quota: Option<(Arc<Mutex<Health>>, String, String)>,
    /// A combo target's in-flight slot, released when the request ends.
    slot: Option<(Arc<Mutex<RouterState>>, String)>,
}

struct Captured {
    writer: Arc<Capture>,
    limits: Limits,
    request: bytes::Bytes,
    response: Vec<u8>,
    truncated: bool,
}

impl Ledger {
    pub(crate) fn new(
        writer: Option<Arc<UsageWriter>>,
        key: Option<&str>,
        model: &str,
        f: Format,
        stream: bool,
    ) -> Ledger {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Ledger {
            writer,
            started: Instant::now(),
            row: UsageRow {
                request_id: format!("{:x}-{:x}-{n:x}", now.as_micros(), std::process::id()),
                api_key: key.map(str::to_owned),
                requested_model: model.to_owned(),
                client_format: f.id().to_owned(),
                stream,
                ..UsageRow::default()
            },
            price: None,
            budget: None,
            capture: None,
            quota: None,
            slot: None,
        }
    }

    /// Holds one of the target's in-flight slots until the request ends.
    pub(crate) fn hold_model_slot(&mut self, router: Arc<Mutex<RouterState>>, target: String) {
        self.release_slot();
        *lock(&router).model_in_flight.entry(target.clone()).or_default() += 1;
        self.slot = Some((router, target));
    }

    fn release_slot(&mut self) {
        if let Some((router, target)) = self.slot.take()
            && let Some(n) = lock(&router).model_in_flight.get_mut(&target)
        {
            *n = n.saturating_sub(1);
        }
    }

    /// Keeps the request and (from now on) the response for the payload capture.
    pub(crate) fn capture(&mut self, writer: Arc<Capture>, limits: Limits, request: bytes::Bytes) {
        self.capture =
            Some(Captured { writer, limits, request, response: Vec::new(), truncated: false });
    }

    /// Response bytes as the client receives them.
    pub(crate) fn captured(&mut self, bytes: &[u8]) {
        if let Some(c) = self.capture.as_mut() {
            let room = MAX_RESPONSE.saturating_sub(c.response.len());
            c.response.extend_from_slice(&bytes[..bytes.len().min(room)]);
            c.truncated |= bytes.len() > room;
        }
    }

    /// Counts this request's cost against its key; `reserved` was already reserved.
    pub(crate) fn charge_to(&mut self, budgets: Arc<Budgets>, reserved: i64) {
        self.budget = Some((budgets, reserved));
    }

    /// The candidate that answered (or failed last).
    pub(crate) fn target(
        &mut self,
        c: &Candidate,
        price: Option<Price>,
        health: Arc<Mutex<Health>>,
    ) {
        self.price = price;
        self.quota = Some((health, c.provider.id.clone(), c.connection.name.clone()));
        self.row.provider = Some(c.provider.id.clone());
        self.row.model = Some(c.model.clone());
        self.row.connection = Some(c.connection.name.clone());
        self.row.upstream_format = Some(c.provider.format.id().to_owned());
    }

    /// The first byte is about to go to the client.
    pub(crate) fn first_byte(&mut self) {
        if self.row.ttfb_ms.is_none() {
            self.row.ttfb_ms = Some(self.started.elapsed().as_millis() as u64);
        }
    }

    /// Writes the row: status, tokens, and a failure label if any.
    pub(crate) fn finish(
        mut self,
        status: u16,
        usage: Option<TokenUsage>,
        estimated: bool,
        error: Option<&str>,
    ) {
        let cost = match (self.price, &usage) {
            (Some(p), Some(u)) => cost_micros(p, u),
            _ => 0,
        };
        if let (Some((budgets, reserved)), Some(key)) = (self.budget.take(), &self.row.api_key) {
            budgets.settle(key, reserved, cost, now_ms());
        }
        self.release_slot();
        if let (Some((health, provider, conn)), Some(u)) = (self.quota.take(), &usage) {
            let now = u64::try_from(now_ms()).unwrap_or(0);
            lock(&health).count_tokens(&provider, &conn, u.input + u.output, now);
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let ts_ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
        if let Some(c) = self.capture.take() {
            c.writer.record(Entry {
                request_id: self.row.request_id.clone(),
                ts_ms,
                status,
                request: c.request,
                response: c.response,
                truncated: c.truncated,
                limits: c.limits,
            });
        }
        let Some(writer) = self.writer.take() else { return };
        let r = &mut self.row;
        r.cost_micros = cost;
        r.ts_ms = ts_ms;
        r.status = status;
        r.latency_ms = self.started.elapsed().as_millis() as u64;
        if let Some(u) = usage {
            r.input_tokens = u.input;
            r.output_tokens = u.output;
            r.cached_tokens = u.cache_read.unwrap_or(0);
            r.reasoning_tokens = u.reasoning.unwrap_or(0);
            r.usage_estimated = estimated;
        }
        r.error_class = error.map(str::to_owned);
        writer.record(std::mem::take(r));
    }
}

impl Drop for Ledger {
    /// A request dropped without finishing (its task was cancelled) gives its reservation back.
    fn drop(&mut self) {
        if let (Some((budgets, reserved)), Some(key)) = (self.budget.take(), &self.row.api_key) {
            budgets.settle(key, reserved, 0, now_ms());
        }
        self.release_slot();
    }
}
