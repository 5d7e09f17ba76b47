//! The usage writer: one thread owns the inserts; requests hand rows over a bounded channel
//! and go on. Rows are committed in batches, at the latest one batch window after they were
//! handed over; dropping the writer (graceful shutdown) commits everything still queued.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::db::{Db, StorageError};

/// One finished request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRow {
    /// Unix milliseconds when the request finished.
    pub ts_ms: i64,
    /// Unique per request: a replayed row is ignored, never counted twice.
    pub request_id: String,
    /// The client key's name, if any.
    pub api_key: Option<String>,
    /// The model the client asked for.
    pub requested_model: String,
    /// What served it.
    pub provider: Option<String>,
    /// The upstream model.
    pub model: Option<String>,
    /// The connection (account) used.
    pub connection: Option<String>,
    /// The client's API format.
    pub client_format: String,
    /// The upstream's API format.
    pub upstream_format: Option<String>,
    /// The HTTP status the client got.
    pub status: u16,
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Completion tokens, reasoning included.
    pub output_tokens: u64,
    /// Prompt tokens read from a cache.
    pub cached_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// The counts are an estimate (the upstream reported none).
    pub usage_estimated: bool,
    /// Cost in micro-dollars.
    pub cost_micros: i64,
    /// Total time.
    pub latency_ms: u64,
    /// Time to the first byte sent to the client.
    pub ttfb_ms: Option<u64>,
    /// Streamed or not.
    pub stream: bool,
    /// A low-cardinality failure label.
    pub error_class: Option<String>,
}

/// Writer settings.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Longest a handed-over row waits before its batch is committed.
    pub batch_window: Duration,
    /// Largest batch.
    pub max_batch: usize,
    /// Rows that may wait in the channel; past this, handing over blocks (back-pressure
    /// rather than loss).
    pub capacity: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self { batch_window: Duration::from_millis(250), max_batch: 1024, capacity: 65_536 }
    }
}

enum Msg {
    Row(Box<UsageRow>),
    Flush(SyncSender<()>),
}

/// The handle requests use. Dropping it commits what is queued and stops the thread.
#[derive(Debug)]
pub struct UsageWriter {
    tx: Option<SyncSender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl UsageWriter {
    /// Starts the writer thread on `db`.
    pub fn start(db: Db, config: WriterConfig) -> Result<UsageWriter, StorageError> {
        let (tx, rx) = sync_channel(config.capacity);
        let thread = std::thread::Builder::new()
            .name("omniroute-usage".into())
            .spawn(move || run(&db, &rx, config))
            .map_err(|e| StorageError::Pool {
                path: "usage writer".into(),
                reason: e.to_string(),
            })?;
        Ok(UsageWriter { tx: Some(tx), thread: Some(thread) })
    }

    /// Hands a row over. Never touches the disk; blocks only if `capacity` rows are waiting.
    pub fn record(&self, row: UsageRow) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Row(Box::new(row)));
        }
    }

    /// Waits until everything handed over so far is committed.
    pub fn flush(&self) {
        if let Some(tx) = &self.tx {
            let (ack, done) = sync_channel(1);
            if tx.send(Msg::Flush(ack)).is_ok() {
                let _ = done.recv();
            }
        }
    }
}

impl Drop for UsageWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(db: &Db, rx: &Receiver<Msg>, config: WriterConfig) {
    let mut batch: Vec<UsageRow> = Vec::with_capacity(config.max_batch);
    let mut deadline: Option<Instant> = None;
    loop {
        let msg = match deadline {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
        };
        match msg {
            Ok(Msg::Row(row)) => {
                batch.push(*row);
                deadline.get_or_insert_with(|| Instant::now() + config.batch_window);
                if batch.len() >= config.max_batch {
                    commit(db, &mut batch);
                    deadline = None;
                }
            }
            Ok(Msg::Flush(ack)) => {
                commit(db, &mut batch);
                deadline = None;
                let _ = ack.send(());
            }
            Err(RecvTimeoutError::Timeout) => {
                commit(db, &mut batch);
                deadline = None;
            }
            Err(RecvTimeoutError::Disconnected) => {
                commit(db, &mut batch);
                return;
            }
        }
    }
}

fn commit(db: &Db, batch: &mut Vec<UsageRow>) {
    if batch.is_empty() {
        return;
    }
    // A failed commit is retried a few times (the file may be busy), then the batch is kept
    // for the next round rather than dropped.
    for attempt in 0..5 {
        match insert(db, batch) {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20 << attempt)),
        }
    }
}

fn insert(db: &Db, batch: &[UsageRow]) -> Result<(), StorageError> {
    let mut conn = db.conn()?;
    let wrap = |e: rusqlite::Error| StorageError::Sqlite { path: "usage".into(), source: e };
    let tx = conn.transaction().map_err(wrap)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO usage (ts_ms, request_id, api_key, requested_model, provider, model, connection,
                 client_format, upstream_format, status, input_tokens, output_tokens, cached_tokens, reasoning_tokens,
                 usage_estimated, cost_micros, latency_ms, ttfb_ms, stream, error_class)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            )
            .map_err(wrap)?;
        for r in batch {
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            stmt.execute(rusqlite::params![
                r.ts_ms,
                r.request_id,
                r.api_key,
                r.requested_model,
                r.provider,
                r.model,
                r.connection,
                r.client_format,
                r.upstream_format,
                r.status,
                n(r.input_tokens),
                n(r.output_tokens),
                n(r.cached_tokens),
                n(r.reasoning_tokens),
                r.usage_estimated,
                r.cost_micros,
                n(r.latency_ms),
                r.ttfb_ms.map(n),
                r.stream,
                r.error_class,
            ])
            .map_err(wrap)?;
        }
    }
    tx.commit().map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(name: &str) -> Db {
        let dir =
            std::env::temp_dir().join(format!("omniroute-usage-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Db::open(&dir.join("omniroute.db")).unwrap()
    }

    fn row(i: usize) -> UsageRow {
        UsageRow {
            ts_ms: 1,
            request_id: format!("req-{i}"),
            requested_model: "m".into(),
            client_format: "openai".into(),
            status: 200,
            input_tokens: 10,
            output_tokens: 5,
            latency_ms: 3,
            ..UsageRow::default()
        }
    }

    fn count(db: &Db) -> i64 {
        db.conn().unwrap().query_row("SELECT count(*) FROM usage", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn rows_are_committed_within_the_window_and_on_drop() {
        let db = db("window");
        let w = UsageWriter::start(
            db.clone(),
            WriterConfig { batch_window: Duration::from_millis(50), max_batch: 1000, capacity: 16 },
        )
        .unwrap();
        for i in 0..100 {
            w.record(row(i));
        }
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(count(&db), 100, "committed within the batch window");
        for i in 100..150 {
            w.record(row(i));
        }
        drop(w);
        assert_eq!(count(&db), 150, "drop commits what is queued");
    }

    #[test]
    fn a_request_id_is_counted_once() {
        let db = db("dedupe");
        let w = UsageWriter::start(db.clone(), WriterConfig::default()).unwrap();
        w.record(row(1));
        w.record(row(1));
        w.flush();
        assert_eq!(count(&db), 1);
    }
}
