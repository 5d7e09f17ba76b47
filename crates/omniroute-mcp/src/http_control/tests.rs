use std::sync::{Arc, Mutex};

use http::Response;
use http_body_util::Full;
use serde_json::json;

use super::*;
use crate::fake::loopback;

const KEY: &str = "sk-test-secret-4f2a";

#[derive(Debug, Clone)]
struct Got {
    method: String,
    path: String,
    auth: Option<String>,
    transport: Option<String>,
    body: Value,
}

/// A stand-in for the gateway's control endpoint.
async fn gateway() -> (String, Arc<Mutex<Vec<Got>>>) {
    let log: Arc<Mutex<Vec<Got>>> = Arc::default();
    let seen = log.clone();
    let addr = loopback(move |req: http::Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            let header = |n: &str| {
                parts.headers.get(n).map(|v| v.to_str().unwrap().to_owned())
            };
            seen.lock().unwrap().push(Got {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                auth: header("authorization"),
                transport: header("x-omniroute-transport"),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            });
            let (status, body) = match parts.uri.path() {
                "/api/control" => (
                    200,
                    json!({"key": "agent", "scopes": ["read:health"], "tools": ["omniroute_get_health"]})
                        .to_string(),
                ),
                "/api/control/omniroute_get_health" => (200, json!({"status": "ok"}).to_string()),
                "/api/control/omniroute_switch_combo" => (
                    403,
                    json!({"error": {"code": "forbidden", "message": "this API key lacks the scope write:combos"}})
                        .to_string(),
                ),
                "/api/control/omniroute_cache_flush" => (
                    500,
                    json!({"error": {"code": "internal", "message": format!("key {KEY} broke something")}})
                        .to_string(),
                ),
                "/api/control/omniroute_cache_stats" => (502, "bad gateway".to_owned()),
                _ => (
                    404,
                    json!({"error": {"code": "not_found", "message": "no tool named `x`"}}).to_string(),
                ),
            };
            Response::builder().status(status).body(Full::new(Bytes::from(body))).unwrap()
        }
    })
    .await;
    (format!("http://{addr}/"), log)
}

#[tokio::test]
async fn a_call_posts_the_args_with_the_key_and_returns_the_json() {
    let (url, log) = gateway().await;
    let c = HttpControl::new(&url, Some(KEY)).unwrap();
    assert_eq!(c.url(), url.trim_end_matches('/'));
    let v = c.call("omniroute_get_health", json!({"verbose": true})).await.unwrap();
    assert_eq!(v, json!({"status": "ok"}));
    let got = log.lock().unwrap()[0].clone();
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/api/control/omniroute_get_health");
    assert_eq!(got.auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(got.transport.as_deref(), Some("stdio"));
    assert_eq!(got.body, json!({"verbose": true}));
}

#[tokio::test]
async fn whoami_gets_the_key_and_its_tools() {
    let (url, log) = gateway().await;
    let c = HttpControl::new(&url, None).unwrap();
    let who = c.whoami().await.unwrap();
    assert_eq!(who["key"], "agent");
    assert_eq!(who["tools"], json!(["omniroute_get_health"]));
    let got = log.lock().unwrap()[0].clone();
    assert_eq!((got.method.as_str(), got.path.as_str()), ("GET", "/api/control"));
    assert_eq!(got.auth, None, "no key, no header");
}

#[tokio::test]
async fn error_answers_become_control_errors() {
    let (url, _) = gateway().await;
    let c = HttpControl::new(&url, Some(KEY)).unwrap();
    let e = c.call("omniroute_switch_combo", json!({"name": "x"})).await.unwrap_err();
    assert_eq!(
        e,
        ControlError::new(ErrorCode::Forbidden, "this API key lacks the scope write:combos")
    );
    let e = c.call("omniroute_nope", json!({})).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = c.call("omniroute_cache_stats", json!({})).await.unwrap_err();
    assert_eq!(e, ControlError::new(ErrorCode::Upstream, "the gateway answered HTTP 502"));
    // Even if the gateway repeated the key, the MCP client would not see it.
    let e = c.call("omniroute_cache_flush", json!({})).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Internal);
    assert!(!e.message.contains(KEY), "{}", e.message);
    assert!(e.message.contains("[redacted]"), "{}", e.message);
    // A name that cannot be a path segment never leaves the process.
    let e = c.call("../admin", json!({})).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn an_unreachable_gateway_is_unavailable_and_the_key_stays_secret() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let c = HttpControl::new(&url, Some(KEY)).unwrap();
    for e in [c.call("omniroute_get_health", json!({})).await, c.whoami().await] {
        let e = e.unwrap_err();
        assert_eq!(e.code, ErrorCode::Unavailable);
        assert!(e.message.contains(&url), "{}", e.message);
        assert!(!e.message.contains(KEY), "{}", e.message);
    }
    assert!(!format!("{c:?}").contains(KEY));
}

#[test]
fn bad_urls_and_keys_are_refused_up_front() {
    for url in ["", "127.0.0.1:20128", "ftp://host", "http://"] {
        let e = HttpControl::new(url, None).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArguments, "{url}");
    }
    let e = HttpControl::new("http://127.0.0.1:1", Some("sk-bad\nkey")).unwrap_err();
    assert!(!e.message.contains("sk-bad"));
    assert!(HttpControl::new("https://gw.example.com/", Some("sk")).is_ok());
}
