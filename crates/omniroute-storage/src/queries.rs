//! Reading usage back: grouped summaries with latency percentiles, the paged request log, and
//! what each client key has spent (budgets start from it).

use std::collections::HashMap;

use rusqlite::params;
use serde::Serialize;

use crate::db::{Db, StorageError};

/// What usage is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// Client key name.
    Key,
    /// The model the client asked for.
    Model,
    /// The provider that served it.
    Provider,
    /// The connection (account) used.
    Connection,
    /// UTC day, `YYYY-MM-DD`.
    Day,
}

impl GroupBy {
    /// Parses `key`, `model`, `provider`, `connection` or `day`.
    pub fn parse(s: &str) -> Option<GroupBy> {
        Some(match s {
            "key" => GroupBy::Key,
            "model" => GroupBy::Model,
            "provider" => GroupBy::Provider,
            "connection" => GroupBy::Connection,
            "day" => GroupBy::Day,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            GroupBy::Key => "coalesce(api_key, '')",
            GroupBy::Model => "requested_model",
            GroupBy::Provider => "coalesce(provider, '')",
            GroupBy::Connection => "coalesce(provider || '/' || connection, '')",
            GroupBy::Day => "date(ts_ms / 1000, 'unixepoch')",
        }
    }
}

/// Latency percentiles in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
}

impl Percentiles {
    /// From latencies sorted ascending.
    pub fn of_sorted(sorted: &[u64]) -> Percentiles {
        let at = |q: f64| -> u64 {
            if sorted.is_empty() {
                return 0;
            }
            let rank = (q * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        };
        Percentiles { p50: at(0.50), p95: at(0.95), p99: at(0.99) }
    }
}

/// One group of a usage summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageGroup {
    /// The group's value (empty: none, e.g. requests without a key).
    pub group: String,
    /// Requests finished.
    pub requests: u64,
    /// Requests that did not end with a 2xx.
    pub errors: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cached prompt tokens.
    pub cached_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Cost in micro-dollars.
    #[serde(skip)]
    pub cost_micros: i64,
    /// Total latency percentiles.
    pub latency_ms: Percentiles,
}

/// A request log entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogRow {
    /// Increasing id; page with `before`.
    pub id: i64,
    /// Unix ms.
    pub ts_ms: i64,
    /// Unique per request.
    pub request_id: String,
    /// Client key name.
    pub key: Option<String>,
    /// The model asked for.
    pub requested_model: String,
    /// What served it.
    pub provider: Option<String>,
    /// Upstream model.
    pub model: Option<String>,
    /// Connection name.
    pub connection: Option<String>,
    /// Client format.
    pub client_format: String,
    /// Upstream format.
    pub upstream_format: Option<String>,
    /// HTTP status sent to the client.
    pub status: u16,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cached prompt tokens.
    pub cached_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// The counts are estimates.
    pub usage_estimated: bool,
    /// Cost in micro-dollars.
    #[serde(skip)]
    pub cost_micros: i64,
    /// Total time.
    pub latency_ms: u64,
    /// Time to first byte.
    pub ttfb_ms: Option<u64>,
    /// Streamed.
    pub stream: bool,
    /// Failure label.
    pub error: Option<String>,
}

/// Filters for [`Db::logs`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Requested model.
    pub model: Option<String>,
    /// Provider.
    pub provider: Option<String>,
    /// Key name.
    pub key: Option<String>,
    /// Exact status.
    pub status: Option<u16>,
    /// Only non-2xx.
    pub errors_only: bool,
    /// Rows with an id below this.
    pub before: Option<i64>,
    /// Page size.
    pub limit: u32,
}

impl Db {
    /// Usage between `since` and `until` (Unix ms, inclusive start, exclusive end), grouped.
    pub fn usage_summary(
        &self,
        by: GroupBy,
        since: i64,
        until: i64,
    ) -> Result<Vec<UsageGroup>, StorageError> {
        self.summarize(by.column(), since, until)
    }

    /// Groups by the SQL expression `g` (a constant: one total).
    fn summarize(&self, g: &str, since: i64, until: i64) -> Result<Vec<UsageGroup>, StorageError> {
        let sql = format!(
            "SELECT {g}, status, input_tokens, output_tokens, cached_tokens, reasoning_tokens,
                    cost_micros, latency_ms
             FROM usage WHERE ts_ms >= ?1 AND ts_ms < ?2 ORDER BY 1, latency_ms"
        );
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&sql).map_err(|e| self.sqlite(e))?;
        let mut rows = stmt.query(params![since, until]).map_err(|e| self.sqlite(e))?;
        let mut out: Vec<UsageGroup> = Vec::new();
        let mut latencies: Vec<u64> = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.sqlite(e))? {
            let group: String = r.get(0).map_err(|e| self.sqlite(e))?;
            let get =
                |i: usize| -> Result<i64, StorageError> { r.get(i).map_err(|e| self.sqlite(e)) };
            if out.last().is_none_or(|g| g.group != group) {
                if let Some(last) = out.last_mut() {
                    last.latency_ms = Percentiles::of_sorted(&latencies);
                }
                latencies.clear();
                out.push(UsageGroup { group, ..UsageGroup::default() });
            }
            let Some(g) = out.last_mut() else { continue };
            g.requests += 1;
            if !(200..300).contains(&get(1)?) {
                g.errors += 1;
            }
            g.input_tokens += get(2)?.max(0) as u64;
            g.output_tokens += get(3)?.max(0) as u64;
            g.cached_tokens += get(4)?.max(0) as u64;
            g.reasoning_tokens += get(5)?.max(0) as u64;
            g.cost_micros += get(6)?;
            latencies.push(get(7)?.max(0) as u64);
        }
        if let Some(last) = out.last_mut() {
            last.latency_ms = Percentiles::of_sorted(&latencies);
        }
        Ok(out)
    }

    /// The totals and percentiles over the same window.
    pub fn usage_total(&self, since: i64, until: i64) -> Result<UsageGroup, StorageError> {
        let mut groups = self.summarize("''", since, until)?;
        Ok(groups.pop().unwrap_or_default())
    }

    /// The request log, newest first.
    pub fn logs(&self, f: &LogFilter) -> Result<Vec<LogRow>, StorageError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, ts_ms, request_id, api_key, requested_model, provider, model, connection,
                        client_format, upstream_format, status, input_tokens, output_tokens,
                        cached_tokens, reasoning_tokens, usage_estimated, cost_micros, latency_ms,
                        ttfb_ms, stream, error_class
                 FROM usage
                 WHERE id < ?1
                   AND (?2 IS NULL OR requested_model = ?2)
                   AND (?3 IS NULL OR provider = ?3)
                   AND (?4 IS NULL OR api_key = ?4)
                   AND (?5 IS NULL OR status = ?5)
                   AND (?6 = 0 OR status < 200 OR status >= 300)
                 ORDER BY id DESC LIMIT ?7",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(
                params![
                    f.before.unwrap_or(i64::MAX),
                    f.model,
                    f.provider,
                    f.key,
                    f.status,
                    f.errors_only,
                    f.limit
                ],
                |r| {
                    Ok(LogRow {
                        id: r.get(0)?,
                        ts_ms: r.get(1)?,
                        request_id: r.get(2)?,
                        key: r.get(3)?,
                        requested_model: r.get(4)?,
                        provider: r.get(5)?,
                        model: r.get(6)?,
                        connection: r.get(7)?,
                        client_format: r.get(8)?,
                        upstream_format: r.get(9)?,
                        status: r.get(10)?,
                        input_tokens: r.get(11)?,
                        output_tokens: r.get(12)?,
                        cached_tokens: r.get(13)?,
                        reasoning_tokens: r.get(14)?,
                        usage_estimated: r.get(15)?,
                        cost_micros: r.get(16)?,
                        latency_ms: r.get(17)?,
                        ttfb_ms: r.get(18)?,
                        stream: r.get(19)?,
                        error: r.get(20)?,
                    })
                },
            )
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.sqlite(e))
    }

    /// Micro-dollars spent per key name since `since` (Unix ms).
    pub fn spend_by_key(&self, since: i64) -> Result<HashMap<String, i64>, StorageError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(
                "SELECT api_key, sum(cost_micros) FROM usage
                 WHERE ts_ms >= ?1 AND api_key IS NOT NULL GROUP BY api_key",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([since], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<HashMap<_, _>, _>>().map_err(|e| self.sqlite(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::temp_db;
    use crate::usage::{UsageRow, UsageWriter, WriterConfig};

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(Percentiles::of_sorted(&v), Percentiles { p50: 50, p95: 95, p99: 99 });
        assert_eq!(Percentiles::of_sorted(&[7]), Percentiles { p50: 7, p95: 7, p99: 7 });
        assert_eq!(Percentiles::of_sorted(&[]), Percentiles::default());
    }

    #[test]
    fn summaries_logs_and_spend() {
        let db = Db::open(&temp_db("queries")).unwrap();
        let w = UsageWriter::start(db.clone(), WriterConfig::default()).unwrap();
        for i in 0..10u64 {
            w.record(UsageRow {
                ts_ms: 1_000 + i as i64,
                request_id: format!("r{i}"),
                api_key: Some(if i % 2 == 0 { "even" } else { "odd" }.into()),
                requested_model: "m".into(),
                provider: Some("p".into()),
                status: if i == 9 { 502 } else { 200 },
                input_tokens: 10,
                cost_micros: 5,
                latency_ms: i * 10,
                ..UsageRow::default()
            });
        }
        drop(w);
        let g = db.usage_summary(GroupBy::Key, 0, 2_000).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].group.as_str(), g[0].requests, g[0].cost_micros), ("even", 5, 25));
        assert_eq!(g[0].latency_ms.p50, 40);
        assert_eq!((g[1].group.as_str(), g[1].errors), ("odd", 1));
        let t = db.usage_total(0, 2_000).unwrap();
        assert_eq!((t.requests, t.input_tokens, t.latency_ms.p99), (10, 100, 90));
        assert!(db.usage_summary(GroupBy::Day, 0, 1_000).unwrap().is_empty(), "window excludes");

        let page = db.logs(&LogFilter { limit: 3, ..LogFilter::default() }).unwrap();
        assert_eq!(
            page.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>(),
            ["r9", "r8", "r7"]
        );
        let errs =
            db.logs(&LogFilter { limit: 10, errors_only: true, ..LogFilter::default() }).unwrap();
        assert_eq!(errs.len(), 1);
        let odd = db
            .logs(&LogFilter {
                limit: 10,
                key: Some("odd".into()),
                before: Some(page[2].id),
                ..LogFilter::default()
            })
            .unwrap();
        assert_eq!(
            odd.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>(),
            ["r5", "r3", "r1"]
        );
        assert_eq!(db.spend_by_key(1_005).unwrap()["odd"], 15);
    }
}
