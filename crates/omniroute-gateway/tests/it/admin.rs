//! The management API over real sockets: credentials, runtime changes, persistence, budgets,
//! secrets that never leak.

use serde_json::{Value, json};

use super::{ADMIN, PASSWORD, chat, data_dir, start, start_at};

/// Waits until `f` holds (usage rows are written in batches).
async fn eventually(mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("condition never held");
}

#[tokio::test]
async fn the_management_api_needs_its_own_credential() {
    let env = start("[[api_keys]]\nname = \"client\"\nkey = \"sk-client-key\"\n").await;
    let (s, _, b) = env.send("GET", "/api/combos", &[], "").await;
    assert_eq!(s, 401);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["error"]["type"], "unauthorized");
    let (s, _, _) =
        env.send("GET", "/api/combos", &[("authorization", "Bearer sk-client-key")], "").await;
    assert_eq!(s, 401, "a client key is not an admin credential");
    let (s, v) = env.api("GET", "/api/combos", None).await;
    assert_eq!(s, 200);
    assert!(v["data"].as_array().unwrap().iter().any(|c| c["name"] == "fallback"));
    // /api/health takes either.
    let (s, _, _) =
        env.send("GET", "/api/health", &[("authorization", "Bearer sk-client-key")], "").await;
    assert_eq!(s, 200);
    let (s, _, _) =
        env.send("GET", "/api/health", &[("authorization", &format!("Bearer {ADMIN}"))], "").await;
    assert_eq!(s, 200);
    let (s, _, _) = env.send("GET", "/api/health", &[], "").await;
    assert_eq!(s, 401);
    let (s, v) = env.api("GET", "/api/nope", None).await;
    assert_eq!((s, v["error"]["type"].as_str()), (404, Some("not_found")));
    let (s, _, b) = env.send("GET", "/api/openapi.json", &[], "").await;
    assert_eq!(s, 200);
    let doc: Value = serde_json::from_slice(&b).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[tokio::test]
async fn password_login_uses_an_http_only_cookie_and_csrf() {
    let env = start("").await;
    let (s, _, _) =
        env.send("POST", "/api/auth/login", &[], json!({"password": "wrong"}).to_string()).await;
    assert_eq!(s, 401);
    let (s, h, b) =
        env.send("POST", "/api/auth/login", &[], json!({"password": PASSWORD}).to_string()).await;
    assert_eq!(s, 200);
    let cookie = h["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let csrf =
        serde_json::from_slice::<Value>(&b).unwrap()["csrf_token"].as_str().unwrap().to_owned();

    let (s, _, b) = env.send("GET", "/api/auth/session", &[("cookie", &session)], "").await;
    assert_eq!(s, 200);
    assert_eq!(serde_json::from_slice::<Value>(&b).unwrap()["csrf_token"], csrf.as_str());
    let body = json!({"target": "mo/gpt-mock"}).to_string();
    let (s, _, _) =
        env.send("PUT", "/api/aliases/quick", &[("cookie", &session)], body.clone()).await;
    assert_eq!(s, 403, "a cookie alone cannot change anything");
    let (s, _, _) = env
        .send("PUT", "/api/aliases/quick", &[("cookie", &session), ("x-csrf-token", &csrf)], body)
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = env.send("POST", "/api/auth/logout", &[("cookie", &session)], "").await;
    assert_eq!(s, 204);
    let (s, _, _) = env.send("GET", "/api/aliases", &[("cookie", &session)], "").await;
    assert_eq!(s, 401);

    // The CLI's login: a token for the password, usable at once.
    let (s, _, b) = env
        .send(
            "POST",
            "/api/auth/tokens",
            &[],
            json!({"name": "laptop", "password": PASSWORD}).to_string(),
        )
        .await;
    assert_eq!(s, 201);
    let token = serde_json::from_slice::<Value>(&b).unwrap()["token"].as_str().unwrap().to_owned();
    let (s, _, _) =
        env.send("GET", "/api/keys", &[("authorization", &format!("Bearer {token}"))], "").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn runtime_changes_apply_at_once_and_are_audited() {
    let env = start("").await;
    // A combo and an alias made at runtime route immediately.
    let (s, v) = env
        .api("PUT", "/api/combos/runtime", Some(json!({"targets": ["mc/fail-503", "mo/gpt-mock"]})))
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = env.post("/v1/chat/completions", chat("runtime", false)).await;
    assert_eq!(s, 200, "{v}");
    let (s, _) =
        env.api("PUT", "/api/aliases/fast", Some(json!({"target": "mc/claude-mock"}))).await;
    assert_eq!(s, 200);
    let (s, _) = env.post("/v1/chat/completions", chat("fast", false)).await;
    assert_eq!(s, 200);
    let (s, v) = env.api("PUT", "/api/combos/bad", Some(json!({"targets": []}))).await;
    assert_eq!((s, v["error"]["type"].as_str()), (400, Some("invalid_request")));

    // The first client key switches authentication on; the key is shown once.
    let (s, v) =
        env.api("POST", "/api/keys", Some(json!({"name": "ci", "models": ["mo/*"]}))).await;
    assert_eq!(s, 201, "{v}");
    let key = v["key"].as_str().unwrap().to_owned();
    let (s, _) = env.post("/v1/chat/completions", chat("mo/gpt-mock", false)).await;
    assert_eq!(s, 401);
    let auth = format!("Bearer {key}");
    let call = |model: &'static str| {
        let auth = auth.clone();
        let env = &env;
        async move {
            let h = [("authorization", auth.as_str()), ("content-type", "application/json")];
            env.send("POST", "/v1/chat/completions", &h, chat(model, false).to_string()).await.0
        }
    };
    assert_eq!(call("mo/gpt-mock").await, 200);
    assert_eq!(call("mc/claude-mock").await, 403, "outside the key's model patterns");
    let (_, v) = env.api("GET", "/api/keys", None).await;
    let listed = v.to_string();
    assert!(!listed.contains(&key), "keys are never listed");
    assert!(listed.contains(&key[..8]), "but their prefix is");
    let (s, v) = env.api("POST", "/api/keys/ci/rotate", None).await;
    assert_eq!(s, 200);
    assert_eq!(call("mo/gpt-mock").await, 401, "the old key stops working");
    let new_auth = format!("Bearer {}", v["key"].as_str().unwrap());
    let h = [("authorization", new_auth.as_str()), ("content-type", "application/json")];
    let (s, _, _) =
        env.send("POST", "/v1/chat/completions", &h, chat("mo/gpt-mock", false).to_string()).await;
    assert_eq!(s, 200);
    let (s, _) = env.api("DELETE", "/api/combos/runtime", None).await;
    assert_eq!(s, 204);
    let (s, _) = env.api("DELETE", "/api/combos/runtime", None).await;
    assert_eq!(s, 404);

    let (_, v) = env.api("GET", "/api/audit?limit=100", None).await;
    let actions: Vec<&str> =
        v["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in
        ["combo.create", "alias.put", "key.create", "key.rotate", "combo.delete", "config.apply"]
    {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "token:env" || e["actor"] == "config-file")
    );
    assert!(!v.to_string().contains(&key[8..]), "no secret in the audit trail");
}

#[tokio::test]
async fn upstream_credentials_never_leave_the_database_in_clear() {
    const CANARY: &str = "sk-canary-7f3a9c1e5b";
    let env = start("").await;
    let (s, v) = env
        .api(
            "POST",
            "/api/connections",
            Some(json!({"provider": "mock-openai", "name": "canary", "api_key": CANARY, "priority": 5})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["has_api_key"], true);
    let id = v["id"].as_i64().unwrap();
    let (s, v) = env.api("POST", &format!("/api/connections/{id}/test"), Some(json!({}))).await;
    assert_eq!((s, v["ok"].as_bool()), (200, Some(true)), "{v}");
    let seen = env.mock.requests();
    assert!(
        seen.iter()
            .any(|r| r.headers.iter().any(|(k, val)| k == "authorization" && val.contains(CANARY))),
        "the test went upstream with the stored key"
    );
    let (s, v) = env
        .api(
            "PATCH",
            &format!("/api/connections/{id}"),
            Some(json!({"priority": 7, "enabled": false})),
        )
        .await;
    assert_eq!((s, v["priority"].as_i64(), v["enabled"].as_bool()), (200, Some(7), Some(false)));

    let mut everything = String::new();
    for path in ["/api/connections", "/api/audit?limit=1000", "/api/providers", "/api/health"] {
        let (s, v) = env.api("GET", path, None).await;
        assert_eq!(s, 200, "{path}");
        everything.push_str(&v.to_string());
    }
    let (s, _, export) = env
        .send("GET", "/api/config/export", &[("authorization", &format!("Bearer {ADMIN}"))], "")
        .await;
    assert_eq!(s, 200);
    everything.push_str(&String::from_utf8_lossy(&export));
    assert!(!everything.contains(CANARY), "an API response carried the credential");
    let (_, _, with) = env
        .send(
            "GET",
            "/api/config/export?secrets=true",
            &[("authorization", &format!("Bearer {ADMIN}"))],
            "",
        )
        .await;
    assert!(String::from_utf8_lossy(&with).contains(CANARY), "asked for, it is exported");

    // On disk: the database (and its WAL) hold it only encrypted.
    for f in ["omniroute.db", "omniroute.db-wal"] {
        if let Ok(bytes) = std::fs::read(env.dir.join(f)) {
            assert!(!bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()), "{f}");
        }
    }
}

#[tokio::test]
async fn state_survives_a_restart_and_the_file_wins_only_for_what_it_names() {
    let dir = data_dir();
    let env = start_at(dir.clone(), "", "").await;
    env.api("PUT", "/api/combos/kept", Some(json!({"targets": ["mo/gpt-mock"]}))).await;
    env.api("PUT", "/api/combos/fallback", Some(json!({"targets": ["mc/claude-mock"]}))).await;
    env.api("PUT", "/api/pricing/mock-openai/gpt-mock", Some(json!({"input": 1.5, "output": 2})))
        .await;
    let (s, v) = env.api("POST", "/api/keys", Some(json!({"name": "persist"}))).await;
    assert_eq!(s, 201);
    let key = v["key"].as_str().unwrap().to_owned();
    drop(env);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let env = start_at(dir, "", "").await;
    let (_, v) = env.api("GET", "/api/combos", None).await;
    let combo = |n: &str| v["data"].as_array().unwrap().iter().find(|c| c["name"] == n).cloned();
    assert_eq!(combo("kept").unwrap()["targets"], json!(["mo/gpt-mock"]));
    assert_eq!(
        combo("fallback").unwrap()["targets"],
        json!(["mc/fail-503", "mo/gpt-mock"]),
        "the config file names `fallback`, so its version wins at start"
    );
    let (_, v) = env.api("GET", "/api/pricing", None).await;
    let price = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == "mock-openai/gpt-mock")
        .unwrap()
        .clone();
    assert_eq!((price["input"].as_f64(), price["cached"].as_f64()), (Some(1.5), Some(1.5)));
    assert!(v["data"].as_array().unwrap().iter().any(|p| p["model"] == "openai/gpt-4o"), "seeded");
    let h =
        [("authorization", format!("Bearer {key}")), ("content-type", "application/json".into())];
    let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let (s, _, _) =
        env.send("POST", "/v1/chat/completions", &h, chat("kept", false).to_string()).await;
    assert_eq!(s, 200, "the key made before the restart still works");
}

#[tokio::test]
async fn config_export_applies_back_and_backups_restore() {
    let env = start("").await;
    env.api(
        "PUT",
        "/api/combos/exported",
        Some(json!({"targets": ["mo/gpt-mock"], "enabled": false})),
    )
    .await;
    env.api("POST", "/api/keys", Some(json!({"name": "k1", "daily_budget_usd": 2.5}))).await;
    let auth = format!("Bearer {ADMIN}");
    let (_, _, toml) = env.send("GET", "/api/config/export", &[("authorization", &auth)], "").await;
    let toml = String::from_utf8(toml.to_vec()).unwrap();
    assert!(
        toml.contains("name = \"exported\"") && toml.contains("daily_budget_usd = 2.5"),
        "{toml}"
    );

    let (_, _, backup) = env.send("GET", "/api/backup", &[("authorization", &auth)], "").await;
    assert!(backup.starts_with(b"SQLite format 3\0"));
    env.api("DELETE", "/api/combos/exported", None).await;
    env.api("DELETE", "/api/keys/k1", None).await;
    let (s, _, b) = env
        .send(
            "POST",
            "/api/config/apply",
            &[("authorization", &auth), ("content-type", "application/toml")],
            toml.clone(),
        )
        .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(s, 200, "{v}");
    let (_, v) = env.api("GET", "/api/combos", None).await;
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "exported" && c["enabled"] == false)
    );
    let (_, v) = env.api("GET", "/api/keys", None).await;
    assert_eq!(v["data"][0]["daily_budget_usd"], 2.5);
    let (s, _, b) = env
        .send("POST", "/api/config/apply", &[("authorization", &auth)], "[[combos]]\nname = 1\n")
        .await;
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&b));

    env.api("DELETE", "/api/combos/exported", None).await;
    let (s, _, b) = env
        .send(
            "POST",
            "/api/restore",
            &[("authorization", &auth), ("content-type", "application/vnd.sqlite3")],
            backup,
        )
        .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let (_, v) = env.api("GET", "/api/combos", None).await;
    assert!(v["data"].as_array().unwrap().iter().any(|c| c["name"] == "exported"), "restored");
    let (s, _, _) =
        env.send("POST", "/api/restore", &[("authorization", &auth)], "not a database").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn usage_queries_group_and_page() {
    let env = start("").await;
    env.api("PUT", "/api/pricing/mock-openai/gpt-mock", Some(json!({"input": 10, "output": 20})))
        .await;
    for _ in 0..5 {
        env.post("/v1/chat/completions", chat("mo/gpt-mock", false)).await;
    }
    env.post("/v1/chat/completions", chat("mc/fail-400", false)).await;
    eventually(async || {
        env.api("GET", "/api/logs?limit=10", None).await.1["data"].as_array().unwrap().len() == 6
    })
    .await;
    let (s, v) = env.api("GET", "/api/usage?group_by=model", None).await;
    assert_eq!(s, 200, "{v}");
    let g =
        v["data"].as_array().unwrap().iter().find(|g| g["group"] == "mo/gpt-mock").unwrap().clone();
    assert_eq!(g["requests"], 5);
    assert!(g["cost_usd"].as_f64().unwrap() > 0.0, "{g}");
    assert!(g["latency_ms"]["p99"].as_u64().unwrap() >= g["latency_ms"]["p50"].as_u64().unwrap());
    assert_eq!(v["total"]["requests"], 6);
    assert_eq!(v["total"]["errors"], 1);
    let (s, v) = env.api("GET", "/api/usage?group_by=provider&since=2000-01-01", None).await;
    assert_eq!(s, 200);
    assert!(v["data"].as_array().unwrap().iter().any(|g| g["group"] == "mock-openai"));
    let (s, _) = env.api("GET", "/api/usage?group_by=color", None).await;
    assert_eq!(s, 400);

    let (_, page) = env.api("GET", "/api/logs?limit=4", None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 4);
    let next = page["next_before"].as_i64().unwrap();
    let (_, rest) = env.api("GET", &format!("/api/logs?limit=4&before={next}"), None).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    let (_, errs) = env.api("GET", "/api/logs?errors=true", None).await;
    assert_eq!(errs["data"][0]["status"], 400);
    assert_eq!(errs["data"][0]["requested_model"], "mc/fail-400");
}

#[tokio::test]
async fn budgets_hold_under_200_concurrent_requests() {
    let env = std::sync::Arc::new(start("").await);
    // $100 per million tokens both ways: 100 micro-dollars a token.
    env.api("PUT", "/api/pricing/mock-openai/gpt-mock", Some(json!({"input": 100, "output": 100})))
        .await;
    let (_, v) = env
        .api("POST", "/api/keys", Some(json!({"name": "capped", "daily_budget_usd": 0.05})))
        .await;
    let auth = format!("Bearer {}", v["key"].as_str().unwrap());
    let body = json!({"model": "mo/gpt-mock", "max_tokens": 10, "messages": [{"role": "user", "content": "hi there"}]}).to_string();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let env = env.clone();
        let (auth, body) = (auth.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let h = [("authorization", auth.as_str()), ("content-type", "application/json")];
            let (s, _, b) = env.send("POST", "/v1/chat/completions", &h, body).await;
            (s, b)
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        let (s, b) = t.await.unwrap();
        match s {
            200 => ok += 1,
            429 => {
                refused += 1;
                let v: Value = serde_json::from_slice(&b).unwrap();
                assert!(v["error"]["message"].as_str().unwrap().contains("daily budget"), "{v}");
            }
            other => panic!("unexpected status {other}: {}", String::from_utf8_lossy(&b)),
        }
    }
    assert!(ok > 0 && refused > 0, "ok {ok}, refused {refused}");
    let path = env.dir.join("omniroute.db");
    let sum = || {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.query_row(
            "SELECT count(*), coalesce(sum(cost_micros), 0) FROM usage WHERE api_key = 'capped'",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
        .unwrap()
    };
    eventually(async || sum().0 == 200).await;
    let (rows, spent) = sum();
    assert_eq!(rows, 200, "one row per request, refused ones included");
    assert!(spent > 0 && spent <= 50_000, "spent {spent} micro-dollars of a 50000 budget");
    let (_, v) = env.api("GET", "/api/keys", None).await;
    let shown = v["data"][0]["spent_today_usd"].as_f64().unwrap();
    assert!((shown - spent as f64 / 1e6).abs() < 1e-9, "{shown} vs {spent}");
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let env = start("").await;
    let doc: Value = serde_json::from_str(include_str!("../../src/admin/openapi.json")).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            // Placeholders get values that exist or are harmless to act on.
            let concrete = path
                .replace("{provider}/{model}", "nobody/nothing")
                .replace("{id}", "999999")
                .replace("{name}", "missing-name")
                .replace("{alias}", "missing-alias");
            let (s, v) = env.api(&method.to_uppercase(), &concrete, None).await;
            let routed =
                !v["error"]["message"].as_str().unwrap_or("").contains("no management route");
            assert!(routed && s != 405, "{method} {path} -> {s} {v}");
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked}");
}

fn captured_files(dir: &std::path::Path) -> Vec<Value> {
    let Ok(days) = std::fs::read_dir(dir.join("call_logs")) else { return Vec::new() };
    let mut out = Vec::new();
    for day in days {
        for f in std::fs::read_dir(day.unwrap().path()).unwrap() {
            out.push(serde_json::from_slice(&std::fs::read(f.unwrap().path()).unwrap()).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn payload_capture_is_off_until_switched_on() {
    let env = start("").await;
    env.post("/v1/chat/completions", chat("mo/gpt-mock", false)).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(captured_files(&env.dir).is_empty(), "nothing is captured by default");

    let (s, v) =
        env.api("PUT", "/api/settings/capture_payloads", Some(json!({"value": true}))).await;
    assert_eq!(s, 200, "{v}");
    let (s, _) =
        env.api("PUT", "/api/settings/capture_max_mb", Some(json!({"value": "lots"}))).await;
    assert_eq!(s, 400);
    env.post("/v1/chat/completions", chat("mc/claude-mock", false)).await;
    env.post_raw("/v1/chat/completions", chat("mo/gpt-mock", true)).await;
    let mut files = Vec::new();
    eventually(async || {
        files = captured_files(&env.dir);
        files.len() == 2
    })
    .await;
    let plain = files.iter().find(|f| f["response"].is_object()).unwrap();
    assert_eq!(plain["request"]["model"], "mc/claude-mock");
    assert_eq!(plain["response"]["choices"][0]["message"]["content"], "Hello from mock: hi there");
    let streamed = files.iter().find(|f| f["response"].is_string()).unwrap();
    assert!(streamed["response"].as_str().unwrap().ends_with("data: [DONE]\n\n"), "{streamed}");
    assert_eq!(streamed["status"], 200);
}
