//! Human renderings of the management API's answers, one per resource. Each takes the answer's
//! JSON and returns the text to print; fields the server leaves out show as `-`.

use serde_json::Value;

use crate::table::{Table, money, truncate, wrap};

/// The items of a list answer (`{"data": [...]}`), or the answer itself when it is one item.
pub(crate) fn items(v: &Value) -> &[Value] {
    match v.get("data") {
        Some(Value::Array(a)) => a,
        _ => std::slice::from_ref(v),
    }
}

pub(crate) fn health(v: &Value) -> String {
    let mut t = Table::new(&["PROVIDER", "FORMAT", "STATUS", "CONNECTIONS", "OK", "FAILED"]);
    for p in v.get("providers").and_then(Value::as_array).into_iter().flatten() {
        t.row(cells(
            p,
            &["id", "format", "status", "connections", "requests_ok", "requests_failed"],
        ));
    }
    let now = v.get("now").and_then(Value::as_i64).unwrap_or(0);
    let left = |until: Option<&Value>| {
        until
            .and_then(Value::as_i64)
            .map_or("-".to_owned(), |u| format!("{}s", ((u - now).max(0) + 999) / 1000))
    };
    let latency = |l: Option<&Value>| match l.and_then(Value::as_array) {
        Some(p) if p.len() == 3 => format!("{}/{}/{} ms", p[0], p[1], p[2]),
        _ => "-".to_owned(),
    };
    let mut b = Table::new(&["PROVIDER", "BREAKER", "OPEN FOR", "RECENT FAILURES", "P50/P95/P99"]);
    for x in v.get("breakers").and_then(Value::as_array).into_iter().flatten() {
        let state = match x.pointer("/breaker/state").and_then(Value::as_str) {
            Some("half_open") if x.pointer("/breaker/probing") == Some(&Value::Bool(true)) => {
                "half-open, probing".to_owned()
            }
            Some("half_open") => "half-open".to_owned(),
            other => other.unwrap_or("-").to_owned(),
        };
        b.row(vec![
            text(x.get("id")),
            state,
            left(x.pointer("/breaker/until")),
            text(x.get("recent_failures")),
            latency(x.get("latency_ms")),
        ]);
    }
    let mut c =
        Table::new(&["CONNECTION", "COOLING", "IN FLIGHT", "OK/FAILED", "P50/P95/P99", "QUOTA"]);
    for x in v.get("connections").and_then(Value::as_array).into_iter().flatten() {
        let cooling = match x.get("cooling_until").filter(|u| !u.is_null()) {
            Some(u) => format!("{} ({})", left(Some(u)), text(x.get("cooldown_reason"))),
            None => "-".to_owned(),
        };
        let quota: Vec<String> = x
            .get("quota")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|q| {
                format!(
                    "{} {}/{}",
                    text(q.get("window")),
                    text(q.get("used")),
                    text(q.get("limit"))
                )
            })
            .collect();
        c.row(vec![
            format!("{}/{}", text(x.get("provider")), text(x.get("name"))),
            cooling,
            text(x.get("in_flight")),
            format!("{}/{}", text(x.get("ok")), text(x.get("failed"))),
            latency(x.get("latency_ms")),
            if quota.is_empty() { "-".to_owned() } else { quota.join(", ") },
        ]);
    }
    let mut l = Table::new(&["CONNECTION", "MODEL", "LOCKED FOR"]);
    for x in v.get("model_locks").and_then(Value::as_array).into_iter().flatten() {
        l.row(vec![
            format!("{}/{}", text(x.get("provider")), text(x.get("connection"))),
            text(x.get("model")),
            left(x.get("until")),
        ]);
    }
    format!(
        "status: {}\n{}\nBreakers\n{}\nConnections\n{}\nModel lockouts\n{}",
        text(v.get("status")),
        t.render(),
        b.render(),
        c.render(),
        l.render()
    )
}

/// A route explanation: the combo and its strategy, the targets in the strategy's order with
/// its reasons, the candidates in try order, and what is skipped and why.
pub(crate) fn explain(v: &Value) -> String {
    let list = |k: &str| v.get(k).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut out = format!("model: {}\n", text(v.get("model")));
    if let Some(c) = v.get("combo").filter(|c| !c.is_null()) {
        out.push_str(&format!(
            "combo {} (strategy {})\n",
            text(c.get("name")),
            text(c.get("strategy"))
        ));
    }
    out.push_str("\nOrder\n");
    out.push_str(&numbered(
        list("order").iter().map(|o| (text(o.get("target")), text(o.get("why")))).collect(),
    ));
    out.push_str("\nCandidates, in try order\n");
    out.push_str(&numbered(
        list("candidates")
            .iter()
            .map(|c| (text(c.get("target")), format!("via {}", text(c.get("connection")))))
            .collect(),
    ));
    out.push_str("\nSkipped\n");
    let skipped = list("skipped");
    if skipped.is_empty() {
        out.push_str("  (none)\n");
    }
    for s in skipped {
        let via = s
            .get("connection")
            .filter(|c| !c.is_null())
            .map(|c| format!(" ({})", text(Some(c))))
            .unwrap_or_default();
        out.push_str(&format!("  {}{via}: {}\n", text(s.get("target")), text(s.get("reason"))));
    }
    out
}

/// `  1. first  rest` lines, the first column padded to its widest cell; `  (none)` if empty.
fn numbered(rows: Vec<(String, String)>) -> String {
    if rows.is_empty() {
        return "  (none)\n".to_owned();
    }
    let width = rows.iter().map(|(a, _)| a.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (i, (a, b)) in rows.iter().enumerate() {
        let line = format!("  {}. {a:<width$}  {b}", i + 1);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Strategies: each id with its description wrapped beside it, a blank line between them.
pub(crate) fn strategies(items: &[Value]) -> String {
    const WIDTH: usize = 80;
    if items.is_empty() {
        return "(none)\n".to_owned();
    }
    let ids: Vec<String> = items.iter().map(|s| text(s.get("id"))).collect();
    let col = ids.iter().map(|i| i.chars().count()).max().unwrap_or(0) + 2;
    let mut out = String::new();
    for (id, s) in ids.iter().zip(items) {
        if !out.is_empty() {
            out.push('\n');
        }
        let lines = wrap(&text(s.get("description")), WIDTH.saturating_sub(col).max(30));
        for (i, line) in lines.iter().enumerate() {
            let head = if i == 0 { id.as_str() } else { "" };
            out.push_str(format!("{head:<col$}{line}").trim_end());
            out.push('\n');
        }
    }
    out
}

/// MCP tool calls.
pub(crate) fn tool_calls(items: &[Value]) -> String {
    let mut t = Table::new(&["ID", "WHEN", "TOOL", "KEY", "TRANSPORT", "OK", "ERROR", "MS"]);
    for c in items {
        t.row(cells(
            c,
            &["id", "ts_ms", "tool", "key", "transport", "success", "error_code", "duration_ms"],
        ));
    }
    t.render()
}

/// A2A tasks.
pub(crate) fn a2a_tasks(items: &[Value]) -> String {
    let mut t = Table::new(&["TASK", "STATE", "SKILL", "KEY", "UPDATED"]);
    for x in items {
        t.row(vec![
            text(x.pointer("/task/id")),
            text(x.pointer("/task/status/state")),
            text(x.get("skill")),
            text(x.get("key_name")),
            text(x.get("updated_ms")),
        ]);
    }
    t.render()
}

/// Any JSON, indented.
pub(crate) fn pretty(v: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

pub(crate) fn providers(items: &[Value]) -> String {
    let mut t =
        Table::new(&["ID", "PREFIX", "FORMAT", "BUILTIN", "CONNECTIONS", "BASE URL", "MODELS"]);
    for p in items {
        let mut row = cells(p, &["id", "prefix", "format", "builtin", "connections", "base_url"]);
        row.push(short_list(p.get("models"), 3));
        t.row(row);
    }
    t.render()
}

pub(crate) fn connections(items: &[Value]) -> String {
    let mut t = Table::new(&[
        "ID", "PROVIDER", "NAME", "ENABLED", "PRIORITY", "API KEY", "BASE URL", "ACCOUNT", "LIMITS",
    ]);
    for c in items {
        let mut row = cells(
            c,
            &[
                "id",
                "provider",
                "name",
                "enabled",
                "priority",
                "has_api_key",
                "base_url",
                "account_id",
            ],
        );
        let num = |k: &str| c.get(k).filter(|v| !v.is_null()).map(|v| text(Some(v)));
        let mut limits: Vec<String> = [
            num("max_concurrent").map(|n| format!("max {n}")),
            num("rpm").map(|n| format!("{n} rpm")),
            num("min_gap_ms").map(|n| format!("gap {n}ms")),
        ]
        .into_iter()
        .flatten()
        .collect();
        for q in c.get("quotas").and_then(Value::as_array).into_iter().flatten() {
            limits.push(format!(
                "quota {} {} tok/{}h",
                text(q.get("name")),
                text(q.get("tokens")),
                text(q.get("hours"))
            ));
        }
        row.push(if limits.is_empty() { "-".to_owned() } else { limits.join(", ") });
        t.row(row);
    }
    t.render()
}

pub(crate) fn connection_test(v: &Value) -> String {
    let verdict = if v.get("ok").and_then(Value::as_bool) == Some(true) { "ok" } else { "failed" };
    let mut line = verdict.to_owned();
    if let Some(s) = v.get("status").filter(|s| !s.is_null() && s.as_u64() != Some(0)) {
        line.push_str(&format!(": HTTP {}", text(Some(s))));
    }
    if let Some(ms) = v.get("latency_ms").filter(|s| !s.is_null()) {
        line.push_str(&format!(" in {} ms", text(Some(ms))));
    }
    if let Some(m) = v.get("message").and_then(Value::as_str).filter(|m| !m.is_empty()) {
        line.push_str(&format!(" ({m})"));
    }
    line + "\n"
}

/// Keys: never the key itself (the API does not return it after creation anyway).
pub(crate) fn keys(items: &[Value]) -> String {
    let mut t = Table::new(&[
        "NAME",
        "PREFIX",
        "ENABLED",
        "MODELS",
        "DAILY BUDGET",
        "MONTHLY BUDGET",
        "SPENT TODAY",
        "SPENT MONTH",
        "CREATED",
    ]);
    for k in items {
        let models = match k.get("models") {
            Some(Value::Array(a)) if !a.is_empty() => short_list(k.get("models"), 3),
            _ => "(all)".to_owned(),
        };
        t.row(vec![
            text(k.get("name")),
            text(k.get("prefix")),
            text(k.get("enabled")),
            models,
            usd(k.get("daily_budget_usd")),
            usd(k.get("monthly_budget_usd")),
            usd(k.get("spent_today_usd")),
            usd(k.get("spent_month_usd")),
            time(k.get("created_at")),
        ]);
    }
    t.render()
}

pub(crate) fn combos(items: &[Value]) -> String {
    let mut t = Table::new(&["NAME", "STRATEGY", "ENABLED", "TARGETS", "CONFIG"]);
    for c in items {
        let targets: Vec<String> = c
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| match (t.get("model"), t.get("weight").and_then(Value::as_u64)) {
                (Some(m), Some(w)) if w != 1 => format!("{}@{w}", text(Some(m))),
                (Some(m), _) => text(Some(m)),
                _ => text(Some(t)),
            })
            .collect();
        let config: Vec<String> = c
            .get("config")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}={}", text(Some(v))))
            .collect();
        let mut row = cells(c, &["name", "strategy", "enabled"]);
        row.push(targets.join(", "));
        row.push(if config.is_empty() { "-".to_owned() } else { config.join(" ") });
        t.row(row);
    }
    t.render()
}

pub(crate) fn aliases(items: &[Value]) -> String {
    let mut t = Table::new(&["ALIAS", "TARGET"]);
    for a in items {
        t.row(cells(a, &["alias", "target"]));
    }
    t.render()
}

/// `{"settings": {name: value}}`, values as JSON.
pub(crate) fn settings(v: &Value) -> String {
    let mut t = Table::new(&["NAME", "VALUE"]);
    for (name, value) in v.get("settings").and_then(Value::as_object).into_iter().flatten() {
        t.row(vec![name.clone(), value.to_string()]);
    }
    t.render()
}

pub(crate) fn prices(items: &[Value]) -> String {
    let mut t = Table::new(&["MODEL", "INPUT $/1M", "OUTPUT $/1M", "CACHED $/1M"]);
    for p in items {
        t.row(vec![
            text(p.get("model")),
            usd(p.get("input")),
            usd(p.get("output")),
            usd(p.get("cached")),
        ]);
    }
    t.render()
}

pub(crate) fn usage(v: &Value) -> String {
    let group = text(v.get("group_by")).to_uppercase();
    let mut t = Table::new(&[
        &group,
        "REQUESTS",
        "ERRORS",
        "IN TOKENS",
        "OUT TOKENS",
        "CACHED",
        "COST",
        "P50 MS",
        "P95 MS",
        "P99 MS",
    ]);
    let row = |g: &Value, name: String| {
        let lat = g.get("latency_ms");
        let p = |k| text(lat.and_then(|l| l.get(k)));
        let mut row = vec![name];
        row.extend(cells(
            g,
            &["requests", "errors", "input_tokens", "output_tokens", "cached_tokens"],
        ));
        row.extend([usd(g.get("cost_usd")), p("p50"), p("p95"), p("p99")]);
        row
    };
    let data = v.get("data").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    for g in data {
        t.row(row(g, text(g.get("group"))));
    }
    let mut out = format!("from {} until {}\n", time(v.get("since")), time(v.get("until")));
    if data.is_empty() {
        out.push_str("(none)\n");
        return out;
    }
    if let Some(total) = v.get("total") {
        t.row(row(total, "(total)".to_owned()));
    }
    out.push_str(&t.render());
    out
}

pub(crate) fn logs(v: &Value) -> String {
    let mut t = Table::new(&[
        "ID",
        "TIME (UTC)",
        "STATUS",
        "KEY",
        "MODEL",
        "PROVIDER",
        "IN",
        "OUT",
        "COST",
        "MS",
        "ERROR",
    ]);
    for r in items_only(v) {
        t.row(vec![
            text(r.get("id")),
            time(r.get("ts_ms")),
            text(r.get("status")),
            text(r.get("key")),
            text(r.get("requested_model")),
            text(r.get("provider")),
            text(r.get("input_tokens")),
            text(r.get("output_tokens")),
            usd(r.get("cost_usd")),
            text(r.get("latency_ms")),
            r.get("error")
                .filter(|e| !e.is_null())
                .map_or_else(String::new, |e| truncate(&text(Some(e)), 60)),
        ]);
    }
    t.render()
}

pub(crate) fn audit(v: &Value) -> String {
    let mut t = Table::new(&["ID", "TIME (UTC)", "ACTOR", "ACTION", "TARGET", "DETAIL"]);
    for e in items_only(v) {
        let mut row = vec![text(e.get("id")), time(e.get("ts_ms"))];
        row.extend(cells(e, &["actor", "action", "target"]));
        row.push(
            e.get("detail")
                .filter(|d| !d.is_null())
                .map_or_else(String::new, |d| truncate(&text(Some(d)), 80)),
        );
        t.row(row);
    }
    t.render()
}

/// The hint for the next page of `logs`/`audit`, if there is one.
pub(crate) fn next_page(v: &Value) -> Option<String> {
    v.get("next_before")
        .filter(|n| !n.is_null())
        .map(|n| format!("more: --before {}", text(Some(n))))
}

/// `{"applied": {"providers": 2, ...}}` as `applied: 2 providers, ...`.
pub(crate) fn applied(v: &Value) -> String {
    let parts: Vec<String> = v
        .get("applied")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, n)| format!("{} {}", text(Some(n)), k.replace('_', " ")))
        .collect();
    format!("applied: {}\n", if parts.is_empty() { "nothing".to_owned() } else { parts.join(", ") })
}

fn items_only(v: &Value) -> &[Value] {
    v.get("data").and_then(Value::as_array).map_or(&[][..], Vec::as_slice)
}

fn cells(v: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| text(v.get(*k))).collect()
}

/// A value as a cell: strings as they are, booleans as yes/no, lists joined, missing as `-`.
pub(crate) fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(a)) => a.iter().map(|x| text(Some(x))).collect::<Vec<_>>().join(", "),
        Some(o @ Value::Object(_)) => o.to_string(),
    }
}

/// A list cut after `max` items: `a, b, c, +4`.
fn short_list(v: Option<&Value>, max: usize) -> String {
    match v {
        Some(Value::Array(a)) if a.len() > max => {
            let shown: Vec<String> = a[..max].iter().map(|x| text(Some(x))).collect();
            format!("{}, +{}", shown.join(", "), a.len() - max)
        }
        Some(Value::Array(a)) if a.is_empty() => "-".to_owned(),
        other => text(other),
    }
}

fn usd(v: Option<&Value>) -> String {
    v.and_then(Value::as_f64).map_or_else(|| "-".to_owned(), money)
}

/// A time: Unix milliseconds (or seconds, when small enough to be seconds) as UTC; strings as
/// they are.
fn time(v: Option<&Value>) -> String {
    match v.and_then(Value::as_i64) {
        // Before 1973 in milliseconds, or after the year 5000 in seconds: take it as seconds.
        Some(n) if n.abs() < 100_000_000_000 => utc(n * 1000),
        Some(ms) => utc(ms),
        None => text(v),
    }
}

/// `YYYY-MM-DD HH:MM:SS`, UTC.
pub(crate) fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", sod / 3600, sod % 3600 / 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_718_454_896_789), "2024-06-15 12:34:56");
        assert_eq!(utc(-1000), "1969-12-31 23:59:59");
        // Seconds are recognised as seconds.
        assert_eq!(time(Some(&json!(1_718_454_896))), "2024-06-15 12:34:56");
        assert_eq!(time(Some(&json!("2024-06-15"))), "2024-06-15");
        assert_eq!(time(None), "-");
    }

    #[test]
    fn lists_and_single_items() {
        let list = json!({"data": [{"alias": "a", "target": "x"}]});
        assert_eq!(items(&list).len(), 1);
        let one = json!({"alias": "b", "target": "y"});
        assert_eq!(aliases(items(&one)), "ALIAS  TARGET\nb      y\n");
        assert_eq!(aliases(items(&json!({"data": []}))), "(none)\n");
    }

    #[test]
    fn keys_show_money_and_no_secret() {
        let v = json!({"data": [{"name": "ci", "prefix": "sk-abcde", "models": null,
            "daily_budget_usd": 5, "monthly_budget_usd": null, "enabled": true,
            "created_at": 1_718_454_896_789_i64, "spent_today_usd": 0.0123, "spent_month_usd": 1.5,
            "key": "sk-abcdefghijklmnop"}]});
        let out = keys(items(&v));
        assert!(!out.contains("sk-abcdefghijklmnop"), "{out}");
        let row = out.lines().nth(1).unwrap();
        for cell in [
            "ci",
            "sk-abcde",
            "yes",
            "(all)",
            "$5.0000",
            "$0.0123",
            "$1.5000",
            "2024-06-15 12:34:56",
        ] {
            assert!(row.contains(cell), "{cell} missing from {row}");
        }
    }

    #[test]
    fn usage_has_a_total_row() {
        let g = |name: &str, n: u64| {
            json!({"group": name, "requests": n, "errors": 0, "input_tokens": 10, "output_tokens": 5,
                "cached_tokens": 0, "reasoning_tokens": 0, "cost_usd": 0.5,
                "latency_ms": {"p50": 12, "p95": 30, "p99": 31}})
        };
        let v = json!({"group_by": "key", "since": "2024-06-01", "until": 1_718_454_896_789_i64,
            "data": [g("ci", 2), g("e2e", 1)], "total": g("", 3)});
        let out = usage(&v);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "from 2024-06-01 until 2024-06-15 12:34:56");
        assert!(lines[1].starts_with("KEY      REQUESTS"), "{out}");
        assert!(lines[4].starts_with("(total)  3"), "{out}");
        assert!(lines[4].contains("$0.5000") && lines[4].ends_with("12      30      31"), "{out}");
        let empty = json!({"group_by": "key", "data": [], "total": g("", 0)});
        assert!(usage(&empty).ends_with("(none)\n"));
    }

    #[test]
    fn pages_and_applied() {
        let v = json!({"data": [{"id": 9, "ts_ms": 0, "actor": "token:env", "action": "key.create",
            "target": "ci", "detail": {"models": null}}], "next_before": 9});
        assert!(
            audit(&v).contains("token:env  key.create  ci      {\"models\":null}"),
            "{}",
            audit(&v)
        );
        assert_eq!(next_page(&v).as_deref(), Some("more: --before 9"));
        assert_eq!(next_page(&json!({"data": [], "next_before": null})), None);
        assert_eq!(
            applied(&json!({"applied": {"providers": 1, "api_keys": 2}})),
            "applied: 1 providers, 2 api keys\n"
        );
    }

    #[test]
    fn connection_tests_read_plainly() {
        let v = json!({"ok": true, "status": 200, "latency_ms": 42, "message": ""});
        assert_eq!(connection_test(&v), "ok: HTTP 200 in 42 ms\n");
        let v =
            json!({"ok": false, "status": null, "latency_ms": 3, "message": "connection refused"});
        assert_eq!(connection_test(&v), "failed in 3 ms (connection refused)\n");
    }

    #[test]
    fn health_lists_providers() {
        let v = json!({"status": "ok", "providers": [{"id": "mock-openai", "format": "openai",
            "status": "idle", "connections": 1, "requests_ok": 0, "requests_failed": 0}]});
        assert_eq!(
            health(&v),
            "status: ok\nPROVIDER     FORMAT  STATUS  CONNECTIONS  OK  FAILED\nmock-openai  openai  idle    1            0   0\n\nBreakers\n(none)\n\nConnections\n(none)\n\nModel lockouts\n(none)\n"
        );
    }

    fn health_sample() -> Value {
        json!({
            "status": "ok",
            "now": 1_000_000,
            "providers": [{"id": "mock-openai", "format": "openai", "status": "ok",
                "connections": 2, "requests_ok": 5, "requests_failed": 1, "last_failure": null}],
            "breakers": [
                {"id": "mock-claude", "breaker": {"state": "open", "until": 1_030_000},
                    "recent_failures": 5, "ok": 0, "failed": 5, "latency_ms": null},
                {"id": "mock-openai", "breaker": {"state": "closed"},
                    "recent_failures": 0, "ok": 5, "failed": 1, "latency_ms": [12, 40, 95]},
                {"id": "mock-gemini", "breaker": {"state": "half_open", "probing": true},
                    "recent_failures": 3, "ok": 0, "failed": 3, "latency_ms": null},
            ],
            "connections": [
                {"provider": "mock-claude", "name": "default", "cooling_until": 1_004_500,
                    "cooldown_reason": "rate_limited", "backoff_level": 2, "in_flight": 0,
                    "ok": 0, "failed": 5, "latency_ms": null, "quota": []},
                {"provider": "mock-openai", "name": "canary", "cooling_until": null,
                    "cooldown_reason": null, "backoff_level": 0, "in_flight": 1, "ok": 5,
                    "failed": 1, "latency_ms": [12, 40, 95], "quota": [
                        {"window": "5h", "used": 120_000, "limit": 1_000_000, "resets_at": 9_000_000},
                        {"window": "week", "used": 5, "limit": 10, "resets_at": null},
                    ]},
            ],
            "model_locks": [{"provider": "mock-openai", "connection": "canary",
                "model": "gpt-mock", "until": 1_060_000}],
        })
    }

    fn explain_sample() -> Value {
        json!({
            "model": "fallback",
            "combo": {"name": "fallback", "strategy": "priority", "description": "Tries ..."},
            "order": [
                {"target": "mock-claude/fail-503", "why": "1st in the combo's order"},
                {"target": "mock-openai/gpt-mock", "why": "2nd in the combo's order"},
            ],
            "candidates": [
                {"target": "mock-openai/gpt-mock", "connection": "default"},
                {"target": "mock-openai/gpt-mock", "connection": "canary"},
            ],
            "skipped": [
                {"target": "mock-claude/fail-503", "connection": "default",
                    "reason": "connection cooling down after server_error (4s left)",
                    "until": 1_004_500},
                {"target": "big/model", "connection": null,
                    "reason": "the prompt (~9000 tokens) exceeds its context window (8192)",
                    "until": null},
            ],
        })
    }

    #[test]
    fn health_shows_breakers_connections_and_lockouts() {
        assert_eq!(
            health(&health_sample()),
            "\
status: ok
PROVIDER     FORMAT  STATUS  CONNECTIONS  OK  FAILED
mock-openai  openai  ok      2            5   1

Breakers
PROVIDER     BREAKER             OPEN FOR  RECENT FAILURES  P50/P95/P99
mock-claude  open                30s       5                -
mock-openai  closed              -         0                12/40/95 ms
mock-gemini  half-open, probing  -         3                -

Connections
CONNECTION           COOLING            IN FLIGHT  OK/FAILED  P50/P95/P99  QUOTA
mock-claude/default  5s (rate_limited)  0          0/5        -            -
mock-openai/canary   -                  1          5/1        12/40/95 ms  5h 120000/1000000, week 5/10

Model lockouts
CONNECTION          MODEL     LOCKED FOR
mock-openai/canary  gpt-mock  60s
"
        );
    }

    #[test]
    fn explain_lists_order_candidates_and_skips() {
        assert_eq!(
            explain(&explain_sample()),
            "\
model: fallback
combo fallback (strategy priority)

Order
  1. mock-claude/fail-503  1st in the combo's order
  2. mock-openai/gpt-mock  2nd in the combo's order

Candidates, in try order
  1. mock-openai/gpt-mock  via default
  2. mock-openai/gpt-mock  via canary

Skipped
  mock-claude/fail-503 (default): connection cooling down after server_error (4s left)
  big/model: the prompt (~9000 tokens) exceeds its context window (8192)
"
        );
        let single = json!({"model": "mo/gpt-mock", "combo": null,
            "order": [{"target": "mock-openai/gpt-mock", "why": "the only target"}],
            "candidates": [], "skipped": []});
        assert_eq!(
            explain(&single),
            "model: mo/gpt-mock\n\nOrder\n  1. mock-openai/gpt-mock  the only target\n\n\
             Candidates, in try order\n  (none)\n\nSkipped\n  (none)\n"
        );
    }

    #[test]
    fn strategies_wrap_beside_their_ids() {
        let v = json!({"data": [
            {"id": "priority", "description": "Tries the targets in the order the combo lists \
                them: the first one gets every request, and the next one is used only when the \
                ones before it fail or are unavailable."},
            {"id": "strict-random", "description": "Deals the targets like a shuffled deck."},
        ]});
        let out = strategies(items(&v));
        assert_eq!(
            out,
            "\
priority       Tries the targets in the order the combo lists them: the first
               one gets every request, and the next one is used only when the
               ones before it fail or are unavailable.

strict-random  Deals the targets like a shuffled deck.
"
        );
        assert!(out.lines().all(|l| l.chars().count() <= 80));
        assert_eq!(strategies(items(&json!({"data": []}))), "(none)\n");
    }

    #[test]
    fn combos_show_weights_and_config() {
        let v = json!({"data": [
            {"name": "w", "strategy": "weighted", "enabled": true, "targets": [
                {"model": "mo/gpt-mock", "weight": 3}, {"model": "mc/claude-mock", "weight": 1},
                "groq/*"], "config": {"sticky_limit": 2, "handoff_model": "mo/gpt-mock"}},
            {"name": "fallback", "strategy": "priority", "enabled": false,
                "targets": ["mc/fail-503", "mo/gpt-mock"], "config": {}},
        ]});
        let out = combos(items(&v));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "NAME      STRATEGY  ENABLED  TARGETS                                CONFIG"
        );
        assert_eq!(
            lines[1],
            "w         weighted  yes      mo/gpt-mock@3, mc/claude-mock, groq/*  \
             sticky_limit=2 handoff_model=mo/gpt-mock"
        );
        assert_eq!(
            lines[2],
            "fallback  priority  no       mc/fail-503, mo/gpt-mock               -"
        );
    }

    #[test]
    fn connections_show_limits_compactly() {
        let v = json!({"data": [
            {"id": 1, "provider": "openai", "name": "main", "enabled": true, "priority": 0,
                "has_api_key": true, "base_url": null, "account_id": null, "max_concurrent": 4,
                "rpm": 60, "min_gap_ms": 250,
                "quotas": [{"name": "5h", "hours": 5, "tokens": 2_000_000}]},
            {"id": 2, "provider": "openai", "name": "spare", "enabled": true, "priority": 1,
                "has_api_key": false, "max_concurrent": null, "rpm": null, "min_gap_ms": null,
                "quotas": []},
        ]});
        let out = connections(items(&v));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].ends_with("max 4, 60 rpm, gap 250ms, quota 5h 2000000 tok/5h"), "{out}");
        assert!(lines[2].ends_with("  -"), "{out}");
    }
}
