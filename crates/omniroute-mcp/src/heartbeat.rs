//! The heartbeat file: how the gateway knows an MCP server runs beside it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

/// How often the file is rewritten.
const PERIOD: Duration = Duration::from_secs(5);

/// `DATA_DIR/runtime/mcp-heartbeat.json`: `{"pid", "started_at", "last_beat", "transport",
/// "tool_count", "scope_mode"}`, times in Unix milliseconds, rewritten every 5 s.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub path: PathBuf,
}

/// The task rewriting the file; dropping it stops the beats (the file stays, its `last_beat`
/// ageing).
#[derive(Debug)]
pub struct HeartbeatTask {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HeartbeatTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Heartbeat {
    /// The heartbeat of data directory `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Heartbeat {
        Heartbeat { path: data_dir.join("runtime").join("mcp-heartbeat.json") }
    }

    /// Writes the file now (creating its directory), then every 5 s on a tokio task.
    /// `scope_mode` describes what the server may do, e.g. the key's scopes joined with `,`,
    /// or `full`. Fails if the first write fails; later failures are skipped silently, the
    /// next beat tries again.
    pub fn start(
        &self,
        transport: &str,
        tool_count: usize,
        scope_mode: &str,
    ) -> std::io::Result<HeartbeatTask> {
        let started_at = unix_ms();
        let beat = Beat {
            path: self.path.clone(),
            pid: std::process::id(),
            started_at,
            transport: transport.to_owned(),
            tool_count,
            scope_mode: scope_mode.to_owned(),
        };
        beat.write(started_at)?;
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval_at(tokio::time::Instant::now() + PERIOD, PERIOD);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let _ = beat.write(unix_ms());
            }
        });
        Ok(HeartbeatTask { task })
    }
}

struct Beat {
    path: PathBuf,
    pid: u32,
    started_at: u64,
    transport: String,
    tool_count: usize,
    scope_mode: String,
}

impl Beat {
    /// Writes a temporary file beside the target and renames it over, so a reader never sees
    /// half a file.
    fn write(&self, now: u64) -> std::io::Result<()> {
        let v = json!({
            "pid": self.pid,
            "started_at": self.started_at,
            "last_beat": now,
            "transport": self.transport,
            "tool_count": self.tool_count,
            "scope_mode": self.scope_mode,
        });
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".{}.tmp", self.pid));
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, v.to_string())?;
        std::fs::rename(&tmp, &self.path)
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
