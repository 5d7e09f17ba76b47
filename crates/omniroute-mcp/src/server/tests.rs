use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{
    AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf,
};

use super::*;
use crate::fake::Fake;

/// A JSON-RPC client speaking newline-delimited JSON, as on stdio, to a server in this test.
struct Client {
    lines: Lines<BufReader<ReadHalf<DuplexStream>>>,
    write: WriteHalf<DuplexStream>,
}

impl Client {
    async fn start(fake: &Fake) -> Client {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let server = McpServer::new(Arc::new(fake.clone()));
        tokio::spawn(async move {
            let running = server.serve(theirs).await.unwrap();
            let _ = running.waiting().await;
        });
        let (read, write) = tokio::io::split(ours);
        let mut c = Client { lines: BufReader::new(read).lines(), write };
        let init = c
            .request(
                0,
                "initialize",
                json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}),
            )
            .await;
        assert_eq!(init["result"]["serverInfo"]["name"], "omniroute", "{init}");
        assert_eq!(init["result"]["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(init["result"]["capabilities"]["tools"].is_object(), "{init}");
        assert!(init["result"]["instructions"].as_str().unwrap().contains("scopes"));
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        c
    }

    async fn send(&mut self, v: Value) {
        self.write.write_all(format!("{v}\n").as_bytes()).await.unwrap();
    }

    async fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn lists_the_catalog_with_schemas_and_hints() {
    let fake = Fake::default();
    let mut c = Client::start(&fake).await;
    let r = c.request(1, "tools/list", json!({})).await;
    let tools = r["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 21);
    for (t, ours) in tools.iter().zip(TOOLS) {
        assert_eq!(t["name"], ours.name);
        assert_eq!(t["description"], ours.description);
        assert_eq!(t["inputSchema"], (ours.input)(), "{}", ours.name);
        assert_eq!(t["outputSchema"], (ours.output)(), "{}", ours.name);
        assert!(t["annotations"]["readOnlyHint"].is_boolean(), "{t}");
    }
    let hint = |name: &str| {
        tools.iter().find(|t| t["name"] == name).unwrap()["annotations"]["readOnlyHint"].clone()
    };
    assert_eq!(hint("omniroute_get_health"), true);
    assert_eq!(hint("omniroute_get_combo_metrics"), true);
    assert_eq!(hint("omniroute_switch_combo"), false);
    assert_eq!(hint("omniroute_route_request"), false);
    assert_eq!(hint("omniroute_test_combo"), false, "read:combos + execute:completions");
    assert_eq!(hint("omniroute_sync_pricing"), false, "pricing:write");
}

#[tokio::test]
async fn a_call_returns_structured_content_and_the_same_json_as_text() {
    let fake = Fake::default();
    let mut c = Client::start(&fake).await;
    let args = json!({"model": "combo-x"});
    let r = c
        .request(2, "tools/call", json!({"name": "omniroute_explain_route", "arguments": args}))
        .await;
    let result = &r["result"];
    let expected = json!({"tool": "omniroute_explain_route", "args": args});
    assert_eq!(result["structuredContent"], expected, "{r}");
    assert_eq!(result["isError"], false);
    let text = result["content"][0]["text"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), expected);
    // On stdio there are no request parts; missing arguments become an empty object.
    let r = c.request(3, "tools/call", json!({"name": "omniroute_get_health"})).await;
    assert_eq!(r["result"]["structuredContent"]["args"], json!({}));
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| !s.had_parts && s.auth.is_none()));
}

#[tokio::test]
async fn a_control_error_is_a_tool_error_with_its_code() {
    let fake = Fake::default();
    let mut c = Client::start(&fake).await;
    let r = c
        .request(
            4,
            "tools/call",
            json!({"name": "omniroute_switch_combo", "arguments": {"name": "c", "enabled": false}}),
        )
        .await;
    let result = &r["result"];
    assert_eq!(result["isError"], true, "{r}");
    assert_eq!(
        result["content"][0]["text"],
        "forbidden: this API key lacks the scope write:combos"
    );
    assert_eq!(
        result["structuredContent"],
        json!({"error": {"code": "forbidden", "message": "this API key lacks the scope write:combos"}})
    );
}

#[tokio::test]
async fn an_unknown_tool_is_invalid_params() {
    let fake = Fake::default();
    let mut c = Client::start(&fake).await;
    let r = c.request(5, "tools/call", json!({"name": "omniroute_rm_rf", "arguments": {}})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("omniroute_rm_rf"));
    assert!(fake.seen().is_empty());
}

#[test]
fn tool_errors_render_code_and_message() {
    let e = ControlError::new(omniroute_control::ErrorCode::Unavailable, "gateway down");
    let r = tool_error(&e);
    assert_eq!(r.is_error, Some(true));
    assert_eq!(r.structured_content, Some(e.to_json()));
    let text = serde_json::to_value(&r.content[0]).unwrap();
    assert_eq!(text["text"], "unavailable: gateway down");
}
