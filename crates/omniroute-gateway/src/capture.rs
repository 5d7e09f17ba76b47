//! Optional full payload capture (setting `capture_payloads`, off by default): each finished
//! generation request is written as one JSON file under `DATA_DIR/call_logs/<UTC day>/`, by a
//! writer thread fed through a bounded channel (a full channel drops the capture, never delays
//! the request). The writer keeps the directory within the configured age and total size,
//! deleting the oldest files first.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Largest response kept per request; the rest is cut and marked.
pub(crate) const MAX_RESPONSE: usize = 8 << 20;

/// Retention limits, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_bytes: u64,
    pub(crate) max_age_days: u64,
}

/// One finished request.
pub(crate) struct Entry {
    pub(crate) request_id: String,
    pub(crate) ts_ms: i64,
    pub(crate) status: u16,
    pub(crate) request: Bytes,
    pub(crate) response: Vec<u8>,
    pub(crate) truncated: bool,
    pub(crate) limits: Limits,
}

/// The handle requests use.
#[derive(Debug)]
pub(crate) struct Capture {
    tx: SyncSender<Entry>,
    pub(crate) dropped: AtomicU64,
}

impl Capture {
    /// Starts the writer thread for `DATA_DIR/call_logs`.
    pub(crate) fn start(dir: PathBuf) -> std::io::Result<Capture> {
        let (tx, rx) = sync_channel(256);
        std::thread::Builder::new()
            .name("omniroute-capture".into())
            .spawn(move || run(&dir, &rx))?;
        Ok(Capture { tx, dropped: AtomicU64::new(0) })
    }

    /// Hands an entry over without waiting.
    pub(crate) fn record(&self, e: Entry) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(e) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn run(dir: &Path, rx: &Receiver<Entry>) {
    let mut last_prune = Instant::now();
    let mut since_prune = 0u32;
    while let Ok(e) = rx.recv() {
        let limits = e.limits;
        let _ = write(dir, e);
        since_prune += 1;
        if since_prune >= 100 || last_prune.elapsed() > Duration::from_secs(60) {
            prune(dir, limits, crate::apply::now_ms());
            since_prune = 0;
            last_prune = Instant::now();
        }
    }
}

/// JSON text stays JSON in the file; anything else (SSE) is kept as a string.
fn embed(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn write(dir: &Path, e: Entry) -> std::io::Result<()> {
    let day = crate::budget::day_of(e.ts_ms);
    let (y, m) = crate::budget::civil(day);
    let d = day - crate::budget::first_of_month(y, m) + 1;
    let folder = dir.join(format!("{y:04}-{m:02}-{d:02}"));
    std::fs::create_dir_all(&folder)?;
    let doc = serde_json::json!({
        "request_id": e.request_id,
        "ts_ms": e.ts_ms,
        "status": e.status,
        "request": embed(&e.request),
        "response": embed(&e.response),
        "response_truncated": e.truncated,
    });
    let name: String =
        e.request_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    std::fs::write(folder.join(format!("{name}.json")), doc.to_string())
}

/// Deletes day folders older than the age limit, then the oldest files until the rest fits.
pub(crate) fn prune(dir: &Path, limits: Limits, now_ms: i64) {
    let Ok(days) = std::fs::read_dir(dir) else { return };
    let mut days: Vec<PathBuf> = days.filter_map(|d| d.ok().map(|d| d.path())).collect();
    days.sort();
    let oldest_kept = crate::budget::day_of(now_ms) - limits.max_age_days as i64;
    let mut files: Vec<(PathBuf, u64)> = Vec::new();
    for day in days {
        let name = day.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let parsed = parse_day(&name);
        if parsed.is_some_and(|d| d < oldest_kept) {
            let _ = std::fs::remove_dir_all(&day);
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&day) else { continue };
        let mut in_day: Vec<(PathBuf, u64)> = entries
            .filter_map(|f| {
                let f = f.ok()?;
                Some((f.path(), f.metadata().ok()?.len()))
            })
            .collect();
        in_day.sort();
        files.extend(in_day);
    }
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    for (path, len) in files {
        if total <= limits.max_bytes {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}

fn parse_day(name: &str) -> Option<i64> {
    let mut it = name.split('-');
    let (y, m, d) =
        (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse::<i64>().ok()?);
    Some(crate::budget::first_of_month(y, m) + d - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_age_and_size_limits() {
        let dir = std::env::temp_dir().join(format!("omniroute-capture-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let now = 1_795_564_800_000; // 2026-11-25
        for (day, file, len) in [
            ("2026-11-01", "a.json", 10),
            ("2026-11-24", "b.json", 100),
            ("2026-11-25", "c.json", 100),
            ("2026-11-25", "d.json", 100),
        ] {
            std::fs::create_dir_all(dir.join(day)).unwrap();
            std::fs::write(dir.join(day).join(file), vec![b'x'; len]).unwrap();
        }
        prune(&dir, Limits { max_bytes: 250, max_age_days: 7 }, now);
        assert!(!dir.join("2026-11-01").exists(), "older than a week");
        assert!(!dir.join("2026-11-24/b.json").exists(), "the oldest goes first when over size");
        assert!(dir.join("2026-11-25/c.json").exists() && dir.join("2026-11-25/d.json").exists());
        assert_eq!(parse_day("2026-11-25"), Some(crate::budget::day_of(now)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
