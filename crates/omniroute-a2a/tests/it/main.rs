//! The agent through its public API, with a fake control plane: the card, every JSON-RPC
//! method and error code, the SSE frames, cancellation, and the management views.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omniroute_a2a::{
    A2a, A2aConfig, A2aReply, AgentCard, MemoryStore, StoredTask, Task, TaskState, TaskStore,
};
use omniroute_control::{ControlError, ControlPlane, ErrorCode};
use serde_json::{Value, json};

/// Answers every tool with canned JSON, after `delay`; or fails.
#[derive(Clone, Default)]
struct Fake {
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    fail: bool,
    delay: Option<Duration>,
    finished: Arc<AtomicBool>,
}

impl Fake {
    fn failing() -> Fake {
        Fake { fail: true, ..Fake::default() }
    }

    fn slow(delay: Duration) -> Fake {
        Fake { delay: Some(delay), ..Fake::default() }
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

impl ControlPlane for Fake {
    async fn call(&self, tool: &str, args: Value) -> Result<Value, ControlError> {
        self.calls.lock().unwrap().push((tool.to_owned(), args.clone()));
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        self.finished.store(true, Ordering::SeqCst);
        if self.fail {
            return Err(ControlError::new(
                ErrorCode::Upstream,
                "every provider refused the request",
            ));
        }
        Ok(match tool {
            "omniroute_route_request" => json!({
                "content": format!("Hello from fake: {}", args["messages"][0]["content"].as_str().unwrap()),
                "model": args["model"],
                "served_by": "fake-openai/acct-1",
                "usage": {"prompt_tokens": 3, "completion_tokens": 5},
                "cost_usd": 0.0012
            }),
            "omniroute_check_quota" => {
                json!({"connections": [{"provider": "openai", "cooldown_ms": 0}], "keys": [{"name": "k"}]})
            }
            "omniroute_list_models_catalog" => {
                json!({"models": [{"id": "openai/gpt-4o", "owned_by": "openai"}]})
            }
            "omniroute_get_provider_metrics" => {
                json!({"providers": [{"provider": "openai", "p50_ms": 120}]})
            }
            "omniroute_cost_report" => {
                json!({"group_by": "model", "data": [], "total": {"cost_usd": 1.5, "requests": 10}})
            }
            "omniroute_get_health" => {
                json!({"status": "ok", "providers": [{"provider": "openai"}]})
            }
            other => {
                return Err(ControlError::new(ErrorCode::NotFound, format!("no tool {other}")));
            }
        })
    }
}

fn agent() -> A2a {
    agent_with(Some("fast-combo"), Arc::new(MemoryStore::new()))
}

fn agent_with(default_model: Option<&str>, store: Arc<dyn TaskStore>) -> A2a {
    let config = A2aConfig {
        name: "omniroute".into(),
        description: "test agent".into(),
        version: "9.9.9".into(),
        default_model: default_model.map(str::to_owned),
        public_url: None,
    };
    A2a::new(config, store)
}

fn user_message(text: &str) -> Value {
    json!({"kind": "message", "messageId": "m-1", "role": "user", "parts": [{"kind": "text", "text": text}]})
}

fn request(method: &str, params: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": "r1", "method": method, "params": params})
        .to_string()
        .into_bytes()
}

async fn json_reply(a2a: &A2a, control: Fake, body: &[u8]) -> Value {
    match a2a.handle(control, body).await {
        A2aReply::Json(v) => v,
        A2aReply::Stream(_) => panic!("expected one JSON response"),
    }
}

async fn rpc(a2a: &A2a, control: Fake, method: &str, params: Value) -> Value {
    json_reply(a2a, control, &request(method, params)).await
}

fn error_code(v: &Value) -> i64 {
    assert_eq!(v["jsonrpc"], "2.0");
    assert!(v.get("result").is_none(), "{v}");
    v["error"]["code"].as_i64().unwrap_or_else(|| panic!("no error code in {v}"))
}

fn result(v: &Value) -> &Value {
    assert_eq!(v["jsonrpc"], "2.0");
    assert!(v.get("error").is_none(), "{v}");
    &v["result"]
}

/// Every frame of a stream until it closes.
async fn frames(reply: A2aReply) -> Vec<String> {
    let A2aReply::Stream(mut rx) = reply else { panic!("expected a stream") };
    let mut out = Vec::new();
    while let Some(b) = rx.recv().await {
        out.push(String::from_utf8(b.to_vec()).unwrap());
    }
    out
}

/// The JSON of every `data:` frame.
fn data_frames(frames: &[String]) -> Vec<Value> {
    frames
        .iter()
        .filter_map(|f| f.strip_prefix("data: "))
        .map(|d| {
            assert!(d.ends_with("\n\n"));
            serde_json::from_str(d.trim_end()).unwrap()
        })
        .collect()
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

async fn wait_for_state(a2a: &A2a, id: &str, state: &str) {
    for _ in 0..1000 {
        if a2a.task(id).unwrap()["task"]["status"]["state"] == state {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("task {id} never reached {state}");
}

#[test]
fn the_card_has_the_shape_of_the_spec() {
    let card = serde_json::to_value(agent().agent_card("http://gw.test/")).unwrap();
    assert_eq!(
        keys(&card),
        BTreeSet::from([
            "protocolVersion",
            "name",
            "description",
            "url",
            "preferredTransport",
            "additionalInterfaces",
            "version",
            "capabilities",
            "securitySchemes",
            "security",
            "defaultInputModes",
            "defaultOutputModes",
            "skills",
        ])
    );
    assert_eq!(card["protocolVersion"], "0.3.0");
    assert_eq!(card["url"], "http://gw.test/a2a");
    assert_eq!(card["preferredTransport"], "JSONRPC");
    assert_eq!(
        card["additionalInterfaces"],
        json!([{"url": "http://gw.test/a2a", "transport": "JSONRPC"}])
    );
    assert_eq!(card["version"], "9.9.9");
    assert_eq!(
        card["capabilities"],
        json!({"streaming": true, "pushNotifications": false, "stateTransitionHistory": true})
    );
    assert_eq!(card["securitySchemes"]["bearer"]["type"], "http");
    assert_eq!(card["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(card["security"], json!([{"bearer": []}]));
    assert_eq!(card["defaultInputModes"], json!(["text/plain", "application/json"]));
    assert_eq!(card["defaultOutputModes"], json!(["text/plain", "application/json"]));
    let ids: Vec<&str> =
        card["skills"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "smart-routing",
            "quota-management",
            "provider-discovery",
            "cost-analysis",
            "health-report",
            "list-capabilities"
        ]
    );
    for s in card["skills"].as_array().unwrap() {
        let k = keys(s);
        for required in ["id", "name", "description", "tags"] {
            assert!(k.contains(required), "{s}");
        }
        assert!(k.is_subset(&BTreeSet::from([
            "id",
            "name",
            "description",
            "tags",
            "examples",
            "inputModes",
            "outputModes"
        ])));
        assert!(
            !s["tags"].as_array().unwrap().is_empty()
                && !s["examples"].as_array().unwrap().is_empty()
        );
    }
    // It reads back, and a public URL wins over the base URL.
    let back: AgentCard = serde_json::from_value(card).unwrap();
    assert_eq!(back.skills.len(), 6);
    let config = A2aConfig {
        public_url: Some("https://agents.example.com/omniroute".into()),
        ..A2aConfig::default()
    };
    let card = A2a::new(config, Arc::new(MemoryStore::new())).agent_card("http://127.0.0.1:20128");
    assert_eq!(card.url, "https://agents.example.com/omniroute");
}

#[tokio::test]
async fn message_send_blocks_until_the_task_completes() {
    let a2a = agent();
    let fake = Fake::default();
    let out =
        rpc(&a2a, fake.clone(), "message/send", json!({"message": user_message("hello agent")}))
            .await;
    assert_eq!(keys(&out), BTreeSet::from(["jsonrpc", "id", "result"]));
    assert_eq!(out["id"], "r1");
    let task = result(&out);
    assert_eq!(
        keys(task),
        BTreeSet::from(["kind", "id", "contextId", "status", "history", "artifacts"])
    );
    assert_eq!(task["kind"], "task");
    assert_eq!(task["status"]["state"], "completed");
    let ts = task["status"]["timestamp"].as_str().unwrap();
    assert!(ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
    // The answer: the status message, the last history entry and the `answer` artifact.
    let answer = "Hello from fake: hello agent";
    let status_message = &task["status"]["message"];
    assert_eq!(status_message["kind"], "message");
    assert_eq!(status_message["role"], "agent");
    assert_eq!(status_message["parts"], json!([{"kind": "text", "text": answer}]));
    assert_eq!(status_message["taskId"], task["id"]);
    assert_eq!(status_message["contextId"], task["contextId"]);
    let history = task["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["role"], "user");
    assert_eq!(history[0]["messageId"], "m-1");
    assert_eq!(history[0]["taskId"], task["id"]);
    assert_eq!(&history[1], status_message);
    let artifacts = task["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(artifacts[0]["name"], "answer");
    assert_eq!(artifacts[0]["artifactId"].as_str().unwrap().len(), 36);
    assert_eq!(artifacts[0]["parts"][0], json!({"kind": "text", "text": answer}));
    assert_eq!(artifacts[0]["parts"][1]["kind"], "data");
    assert_eq!(
        artifacts[0]["parts"][1]["data"],
        json!({"served_by": "fake-openai/acct-1", "model": "fast-combo", "cost_usd": 0.0012, "usage": {"prompt_tokens": 3, "completion_tokens": 5}})
    );
    // The task reads back as the A2A type.
    let typed: Task = serde_json::from_value(task.clone()).unwrap();
    assert_eq!(typed.status.state, TaskState::Completed);
    // The control plane got the default model and the text.
    assert_eq!(
        fake.calls(),
        vec![(
            "omniroute_route_request".to_owned(),
            json!({"model": "fast-combo", "messages": [{"role": "user", "content": "hello agent"}]})
        )]
    );
    // tasks/get finds it, and the management view has the transitions.
    let got = rpc(&a2a, Fake::default(), "tasks/get", json!({"id": task["id"]})).await;
    assert_eq!(result(&got), task);
    let view = a2a.task(task["id"].as_str().unwrap()).unwrap();
    let states: Vec<&str> = view["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["submitted", "working", "completed"]);
    assert_eq!(view["skill"], "smart-routing");
    assert_eq!(view["key_name"], Value::Null);
}

#[tokio::test]
async fn metadata_picks_the_model_and_the_skill() {
    let a2a = agent();
    let fake = Fake::default();
    let mut message = user_message("hi");
    message["metadata"] = json!({"model": "openai/gpt-4o"});
    let out = rpc(
        &a2a,
        fake.clone(),
        "message/send",
        json!({"message": message, "metadata": {"model": "ignored"}}),
    )
    .await;
    assert_eq!(result(&out)["status"]["state"], "completed");
    assert_eq!(fake.calls()[0].1["model"], "openai/gpt-4o");

    let fake = Fake::default();
    let params = json!({"message": user_message("how are my quotas?"), "metadata": {"skill": "quota-management", "provider": "openai"}});
    let task = rpc(&a2a, fake.clone(), "message/send", params).await["result"].clone();
    assert_eq!(task["status"]["state"], "completed");
    assert_eq!(
        fake.calls(),
        vec![("omniroute_check_quota".to_owned(), json!({"provider": "openai"}))]
    );
    let parts = &task["artifacts"][0]["parts"];
    assert_eq!(task["artifacts"][0]["name"], "quota");
    assert_eq!(parts[0]["kind"], "text");
    assert!(parts[0]["text"].as_str().unwrap().contains("1 provider connections"));
    assert_eq!(parts[1]["data"]["connections"][0]["provider"], "openai");
    assert_eq!(parts[1]["metadata"], json!({"tool": "omniroute_check_quota"}));

    let fake = Fake::default();
    let mut message = user_message("models?");
    message["metadata"] = json!({"skill": "provider-discovery"});
    let task = rpc(&a2a, fake.clone(), "message/send", json!({"message": message})).await["result"]
        .clone();
    let tools: Vec<String> = fake.calls().into_iter().map(|(t, _)| t).collect();
    assert_eq!(tools, ["omniroute_list_models_catalog", "omniroute_get_provider_metrics"]);
    assert_eq!(task["artifacts"][0]["parts"].as_array().unwrap().len(), 3);

    for (skill, tool) in
        [("cost-analysis", "omniroute_cost_report"), ("health-report", "omniroute_get_health")]
    {
        let fake = Fake::default();
        let mut message = user_message("report");
        message["metadata"] = json!({"skill": skill, "since": 1_700_000_000_000_i64});
        let task =
            rpc(&a2a, fake.clone(), "message/send", json!({"message": message})).await["result"]
                .clone();
        assert_eq!(task["status"]["state"], "completed", "{skill}");
        assert_eq!(fake.calls()[0].0, tool);
        assert!(!task["status"]["message"]["parts"][0]["text"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        {
            let fake = Fake::default();
            let mut message = user_message("costs");
            message["metadata"] = json!({"skill": "cost-analysis", "since": 1_700_000_000_000_i64, "group_by": "day"});
            rpc(&a2a, fake.clone(), "message/send", json!({"message": message})).await;
            fake.calls()[0].1.clone()
        },
        json!({"group_by": "day", "since": "1700000000000"})
    );

    // list-capabilities calls nothing, and needs no text.
    let fake = Fake::default();
    let message = json!({"kind": "message", "messageId": "m-2", "role": "user", "parts": [{"kind": "data", "data": {}}], "metadata": {"skill": "list-capabilities"}});
    let task = rpc(&a2a, fake.clone(), "message/send", json!({"message": message})).await["result"]
        .clone();
    assert_eq!(task["status"]["state"], "completed");
    assert!(fake.calls().is_empty());
    let data = &task["artifacts"][0]["parts"][1]["data"];
    assert_eq!(data["skills"].as_array().unwrap().len(), 6);
    assert!(data["tools"].as_array().unwrap().iter().any(|t| t == "omniroute_route_request"));
}

#[tokio::test]
async fn a_failing_control_plane_fails_the_task() {
    let a2a = agent();
    let out =
        rpc(&a2a, Fake::failing(), "message/send", json!({"message": user_message("hello")})).await;
    let task = result(&out);
    assert_eq!(task["status"]["state"], "failed");
    let text = task["status"]["message"]["parts"][0]["text"].as_str().unwrap();
    assert_eq!(
        text,
        "omniroute_route_request failed (upstream_error): every provider refused the request"
    );
    assert_eq!(task["artifacts"], json!([]));

    // No default model and none in the metadata: failed, saying what to do.
    let a2a = agent_with(None, Arc::new(MemoryStore::new()));
    let fake = Fake::default();
    let task = rpc(&a2a, fake.clone(), "message/send", json!({"message": user_message("hello")}))
        .await["result"]
        .clone();
    assert_eq!(task["status"]["state"], "failed");
    assert!(
        task["status"]["message"]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("set `metadata.model`")
    );
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn message_stream_sends_the_task_then_its_events() {
    let a2a = agent();
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "message/stream", "params": {"message": user_message("stream me")}});
    let reply = a2a.handle(Fake::default(), body.to_string().as_bytes()).await;
    assert_eq!(reply.content_type(), "text/event-stream");
    let frames = frames(reply).await;
    assert!(frames.iter().all(|f| f.starts_with("data: ")), "{frames:?}");
    let events = data_frames(&frames);
    for e in &events {
        assert_eq!(keys(e), BTreeSet::from(["jsonrpc", "id", "result"]));
        assert_eq!(e["jsonrpc"], "2.0");
        assert_eq!(e["id"], 7);
    }
    let results: Vec<&Value> = events.iter().map(|e| &e["result"]).collect();
    let kinds: Vec<&str> = results.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["task", "status-update", "artifact-update", "status-update"]);
    let task = results[0];
    assert_eq!(task["status"]["state"], "submitted");
    assert_eq!(task["history"][0]["messageId"], "m-1");
    let id = &task["id"];
    let context = &task["contextId"];
    for r in &results[1..] {
        assert_eq!(&r["taskId"], id);
        assert_eq!(&r["contextId"], context);
    }
    assert_eq!(results[1]["status"]["state"], "working");
    assert_eq!(results[1]["final"], false);
    assert_eq!(results[2]["artifact"]["name"], "answer");
    assert_eq!(results[2]["artifact"]["parts"][0]["text"], "Hello from fake: stream me");
    assert_eq!(results[2]["lastChunk"], true);
    let last = results[3];
    assert_eq!(keys(last), BTreeSet::from(["kind", "taskId", "contextId", "status", "final"]));
    assert_eq!(last["final"], true);
    assert_eq!(last["status"]["state"], "completed");
    assert_eq!(last["status"]["message"]["parts"][0]["text"], "Hello from fake: stream me");
    // The stored task agrees.
    let got = rpc(&a2a, Fake::default(), "tasks/get", json!({"id": id})).await;
    assert_eq!(result(&got)["status"]["state"], "completed");
}

#[tokio::test(start_paused = true)]
async fn a_stream_pings_while_the_task_runs() {
    let a2a = agent();
    let reply = a2a
        .handle(
            Fake::slow(Duration::from_secs(40)),
            &request("message/stream", json!({"message": user_message("slow")})),
        )
        .await;
    let frames = frames(reply).await;
    let pings = frames.iter().filter(|f| *f == ": ping\n\n").count();
    assert_eq!(pings, 2, "{frames:?}");
    let events = data_frames(&frames);
    assert_eq!(events.len(), 4);
    assert_eq!(events[3]["result"]["final"], true);
    // The pings come while the task works: after the working event, before the artifact.
    assert!(frames[2] == ": ping\n\n" && frames[3] == ": ping\n\n", "{frames:?}");
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_the_running_work() {
    let a2a = agent();
    let fake = Fake::slow(Duration::from_secs(5));
    let params = json!({"message": user_message("wait"), "configuration": {"blocking": false}});
    let out = rpc(&a2a, fake.clone(), "message/send", params).await;
    let task = result(&out).clone();
    assert_eq!(task["status"]["state"], "submitted");
    let id = task["id"].as_str().unwrap().to_owned();
    wait_for_state(&a2a, &id, "working").await;
    assert_eq!(a2a.status()["running"], 1);

    let out = rpc(&a2a, Fake::default(), "tasks/cancel", json!({"id": id})).await;
    let canceled = result(&out);
    assert_eq!(canceled["kind"], "task");
    assert_eq!(canceled["id"], id.as_str());
    assert_eq!(canceled["status"]["state"], "canceled");
    // The tool call was dropped: it never finishes, and the task stays canceled.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!fake.finished.load(Ordering::SeqCst));
    assert_eq!(fake.calls().len(), 1);
    let got = rpc(&a2a, Fake::default(), "tasks/get", json!({"id": id})).await;
    assert_eq!(result(&got)["status"]["state"], "canceled");
    assert_eq!(result(&got)["artifacts"], json!([]));
    assert_eq!(a2a.status()["running"], 0);
    let states: Vec<String> = a2a.task(&id).unwrap()["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["submitted", "working", "canceled"]);
    // Canceling again: already final.
    let again = rpc(&a2a, Fake::default(), "tasks/cancel", json!({"id": id})).await;
    assert_eq!(error_code(&again), -32002);
}

#[tokio::test(start_paused = true)]
async fn a_blocking_send_returns_when_its_task_is_canceled() {
    let a2a = agent();
    let fake = Fake::slow(Duration::from_secs(60));
    let sender = {
        let a2a = a2a.clone();
        let fake = fake.clone();
        tokio::spawn(async move {
            rpc(&a2a, fake, "message/send", json!({"message": user_message("long")})).await
        })
    };
    let id = loop {
        if let Some(t) = a2a.tasks(1)["data"].as_array().unwrap().first() {
            break t["task"]["id"].as_str().unwrap().to_owned();
        }
        tokio::task::yield_now().await;
    };
    wait_for_state(&a2a, &id, "working").await;
    let view = a2a.cancel(&id).unwrap();
    assert_eq!(view["task"]["status"]["state"], "canceled");
    let out = sender.await.unwrap();
    assert_eq!(result(&out)["status"]["state"], "canceled");
    assert!(!fake.finished.load(Ordering::SeqCst));
    assert!(matches!(a2a.cancel(&id), Err(omniroute_a2a::A2aError::TaskNotCancelable { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_stream_ends_with_the_cancel() {
    let a2a = agent();
    let reply = a2a
        .handle(
            Fake::slow(Duration::from_secs(30)),
            &request("message/stream", json!({"message": user_message("x")})),
        )
        .await;
    let A2aReply::Stream(mut rx) = reply else { panic!() };
    let first: Value = serde_json::from_str(
        String::from_utf8(rx.recv().await.unwrap().to_vec()).unwrap()[6..].trim(),
    )
    .unwrap();
    let id = first["result"]["id"].as_str().unwrap().to_owned();
    wait_for_state(&a2a, &id, "working").await;
    a2a.cancel(&id).unwrap();
    let mut rest = Vec::new();
    while let Some(b) = rx.recv().await {
        rest.push(String::from_utf8(b.to_vec()).unwrap());
    }
    let events = data_frames(&rest);
    let last = &events.last().unwrap()["result"];
    assert_eq!(last["kind"], "status-update");
    assert_eq!(last["final"], true);
    assert_eq!(last["status"]["state"], "canceled");
}

#[tokio::test(start_paused = true)]
async fn resubscribe_follows_a_running_task() {
    let a2a = agent();
    let params = json!({"message": user_message("wait"), "configuration": {"blocking": false}});
    let out = rpc(&a2a, Fake::slow(Duration::from_secs(5)), "message/send", params).await;
    let id = result(&out)["id"].as_str().unwrap().to_owned();
    wait_for_state(&a2a, &id, "working").await;
    let reply = a2a.handle(Fake::default(), &request("tasks/resubscribe", json!({"id": id}))).await;
    let events = data_frames(&frames(reply).await);
    let kinds: Vec<&str> = events.iter().map(|e| e["result"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["task", "artifact-update", "status-update"]);
    assert_eq!(events[0]["result"]["status"]["state"], "working");
    assert_eq!(events[2]["result"]["status"]["state"], "completed");
    // A finished task has nothing to resubscribe to; an unknown one is not found.
    let again =
        json_reply(&a2a, Fake::default(), &request("tasks/resubscribe", json!({"id": id}))).await;
    assert_eq!(error_code(&again), -32602);
    let unknown =
        json_reply(&a2a, Fake::default(), &request("tasks/resubscribe", json!({"id": "nope"})))
            .await;
    assert_eq!(error_code(&unknown), -32001);
}

#[tokio::test]
async fn tasks_get_and_cancel_errors() {
    let a2a = agent();
    let task = rpc(&a2a, Fake::default(), "message/send", json!({"message": user_message("hi")}))
        .await["result"]
        .clone();
    // Cancel of a completed task.
    let out = rpc(&a2a, Fake::default(), "tasks/cancel", json!({"id": task["id"]})).await;
    assert_eq!(error_code(&out), -32002);
    assert_eq!(out["id"], "r1");
    assert!(out["error"]["message"].as_str().unwrap().contains("completed"));
    // Unknown tasks.
    let out = rpc(&a2a, Fake::default(), "tasks/get", json!({"id": "no-such-task"})).await;
    assert_eq!(error_code(&out), -32001);
    let out = rpc(&a2a, Fake::default(), "tasks/cancel", json!({"id": "no-such-task"})).await;
    assert_eq!(error_code(&out), -32001);
    // historyLength keeps the newest messages.
    let out =
        rpc(&a2a, Fake::default(), "tasks/get", json!({"id": task["id"], "historyLength": 1}))
            .await;
    let history = result(&out)["history"].as_array().unwrap().clone();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["role"], "agent");
    let out =
        rpc(&a2a, Fake::default(), "tasks/get", json!({"id": task["id"], "historyLength": 0}))
            .await;
    assert_eq!(result(&out)["history"], json!([]));
    let out =
        rpc(&a2a, Fake::default(), "tasks/get", json!({"id": task["id"], "historyLength": -1}))
            .await;
    assert_eq!(error_code(&out), -32602);
    // A message for a finished task cannot restart it; one for an unknown task is not found.
    let mut message = user_message("more");
    message["taskId"] = task["id"].clone();
    let out = rpc(&a2a, Fake::default(), "message/send", json!({"message": message})).await;
    assert_eq!(error_code(&out), -32602);
    assert!(out["error"]["message"].as_str().unwrap().contains("terminal state `completed`"));
    let mut message = user_message("more");
    message["taskId"] = json!("nope");
    let out = rpc(&a2a, Fake::default(), "message/send", json!({"message": message})).await;
    assert_eq!(error_code(&out), -32001);
}

#[tokio::test]
async fn protocol_errors_use_the_spec_codes() {
    let a2a = agent();
    // Not JSON: -32700 with a null id.
    let out = json_reply(&a2a, Fake::default(), b"{not json").await;
    assert_eq!(keys(&out), BTreeSet::from(["jsonrpc", "id", "error"]));
    assert_eq!(error_code(&out), -32700);
    assert_eq!(out["id"], Value::Null);
    assert!(out["error"]["message"].is_string());
    // JSON but not a request object: -32600.
    for body in [
        &b"[]"[..],
        b"42",
        br#"{"id": 3, "method": "tasks/get"}"#,
        br#"{"jsonrpc": "2.0", "id": 3}"#,
        br#"{"jsonrpc": "2.0", "id": {}, "method": "tasks/get"}"#,
    ] {
        let out = json_reply(&a2a, Fake::default(), body).await;
        assert_eq!(error_code(&out), -32600, "{}", String::from_utf8_lossy(body));
    }
    let out = json_reply(&a2a, Fake::default(), br#"{"id": 3, "method": "tasks/get"}"#).await;
    assert_eq!(out["id"], 3);
    // Unknown methods: -32601; push notifications: -32003; the extended card: -32007.
    let out = rpc(&a2a, Fake::default(), "tasks/pushNotificationConfig/nope", json!({})).await;
    assert_eq!(error_code(&out), -32601);
    let out = rpc(&a2a, Fake::default(), "tasks/pushNotificationConfig/set", json!({})).await;
    assert_eq!(error_code(&out), -32003);
    let out = rpc(&a2a, Fake::default(), "agent/getAuthenticatedExtendedCard", json!({})).await;
    assert_eq!(error_code(&out), -32007);
    // Bad params: -32602 with a message that says what is wrong.
    for (method, params, needle) in [
        (
            "message/send",
            json!({"message": {"role": "user"}}),
            "`params.message.messageId` is required",
        ),
        ("message/send", json!({}), "`params.message` is required"),
        ("message/send", Value::Null, "`params` is required"),
        ("message/send", json!([1]), "must be an object"),
        (
            "message/send",
            json!({"message": {"messageId": "m", "role": "robot", "parts": []}}),
            "unknown variant `robot`",
        ),
        (
            "message/send",
            json!({"message": {"messageId": "m", "role": "user", "parts": [{"kind": "video", "url": "x"}]}}),
            "unknown variant `video`",
        ),
        (
            "message/send",
            json!({"message": {"messageId": "m", "role": "user", "parts": []}}),
            "`params.message.parts` is empty",
        ),
        (
            "message/send",
            json!({"message": {"messageId": "m", "role": "agent", "parts": [{"kind": "text", "text": "x"}]}}),
            "must be \"user\"",
        ),
        (
            "message/send",
            json!({"message": user_message("x"), "metadata": {"skill": "juggling"}}),
            "unknown skill `juggling`",
        ),
        ("message/send", json!({"message": user_message("  ")}), "needs a non-empty text part"),
        ("message/stream", json!({"message": {"role": "user", "parts": []}}), "messageId"),
        ("tasks/get", json!({}), "missing field `id`"),
        ("tasks/cancel", json!({"id": 5}), "invalid type"),
    ] {
        let out = rpc(&a2a, Fake::default(), method, params.clone()).await;
        assert_eq!(error_code(&out), -32602, "{method} {params}: {out}");
        let message = out["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{method} {params}: {message}");
    }
    // Push notification configuration is refused, not ignored.
    let params = json!({"message": user_message("x"), "configuration": {"pushNotificationConfig": {"url": "https://hook"}}});
    let out = rpc(&a2a, Fake::default(), "message/send", params).await;
    assert_eq!(error_code(&out), -32003);
    // Nothing above created a task.
    assert_eq!(a2a.tasks(100)["data"], json!([]));
}

#[tokio::test]
async fn unknown_fields_are_accepted() {
    let a2a = agent();
    let message = json!({
        "kind": "message", "messageId": "m-9", "role": "user", "futureField": {"x": 1},
        "parts": [{"kind": "text", "text": "hi", "metadata": {"a": 1}, "extra": true}],
        "extensions": ["https://example.com/ext"], "referenceTaskIds": []
    });
    let params = json!({"message": message, "configuration": {"acceptedOutputModes": ["text/plain"], "blocking": true, "somethingNew": 1}});
    let out = rpc(&a2a, Fake::default(), "message/send", params).await;
    assert_eq!(result(&out)["status"]["state"], "completed");
    // A message without `kind` is read as a message; a contextId is kept.
    let mut message = user_message("again");
    message.as_object_mut().unwrap().remove("kind");
    message["contextId"] = json!("ctx-1");
    let out = rpc(&a2a, Fake::default(), "message/send", json!({"message": message})).await;
    assert_eq!(result(&out)["contextId"], "ctx-1");
}

#[tokio::test]
async fn a_key_sees_only_its_own_tasks() {
    let a2a = agent();
    let body = request("message/send", json!({"message": user_message("mine")}));
    let A2aReply::Json(out) = a2a.handle_as(Fake::default(), Some("alice"), &body).await else {
        panic!()
    };
    let id = out["result"]["id"].clone();
    let get = request("tasks/get", json!({"id": id}));
    let A2aReply::Json(bob) = a2a.handle_as(Fake::default(), Some("bob"), &get).await else {
        panic!()
    };
    assert_eq!(error_code(&bob), -32001);
    let A2aReply::Json(anon) = a2a.handle(Fake::default(), &get).await else { panic!() };
    assert_eq!(error_code(&anon), -32001);
    let A2aReply::Json(alice) = a2a.handle_as(Fake::default(), Some("alice"), &get).await else {
        panic!()
    };
    assert_eq!(result(&alice)["id"], id);
    assert_eq!(a2a.task(id.as_str().unwrap()).unwrap()["key_name"], "alice");
}

#[tokio::test]
async fn management_views() {
    let a2a = agent();
    let status = a2a.status();
    assert_eq!(status["enabled"], true);
    assert_eq!(status["running"], 0);
    assert_eq!(status["last_task_at"], Value::Null);
    rpc(&a2a, Fake::default(), "message/send", json!({"message": user_message("a")})).await;
    rpc(&a2a, Fake::failing(), "message/send", json!({"message": user_message("b")})).await;
    let status = a2a.status();
    assert_eq!(status["tasks"]["completed"], 1);
    assert_eq!(status["tasks"]["failed"], 1);
    assert_eq!(status["tasks"]["canceled"], 0);
    assert!(status["last_task_at"].as_i64().unwrap() > 1_700_000_000_000);
    let list = a2a.tasks(10);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for t in data {
        assert_eq!(
            keys(t),
            BTreeSet::from([
                "task",
                "transitions",
                "created_ms",
                "updated_ms",
                "key_name",
                "skill"
            ])
        );
        assert_eq!(
            t["transitions"][0],
            json!({"state": "submitted", "timestamp": t["transitions"][0]["timestamp"], "at_ms": t["created_ms"]})
        );
    }
    assert_eq!(a2a.tasks(1)["data"].as_array().unwrap().len(), 1);
    let id = data[0]["task"]["id"].as_str().unwrap();
    assert_eq!(a2a.task(id).unwrap()["task"]["id"], id);
    assert!(a2a.task("nope").is_none());
    assert!(matches!(a2a.cancel("nope"), Err(omniroute_a2a::A2aError::TaskNotFound(_))));
    let err = a2a.cancel(id).unwrap_err();
    assert_eq!(err.code(), -32002);
}

#[tokio::test]
async fn stored_tasks_round_trip_expire_and_recover() {
    let store = Arc::new(MemoryStore::new());
    let a2a = agent_with(Some("m"), store.clone());
    let task = rpc(&a2a, Fake::default(), "message/send", json!({"message": user_message("a")}))
        .await["result"]
        .clone();
    let stored = store.load(task["id"].as_str().unwrap()).unwrap();
    assert_eq!(StoredTask::from_json(&stored.to_json()).unwrap(), stored);

    // A task left `working` by an earlier process reads as failed.
    let mut orphan = stored.clone();
    orphan.task.id = "orphan".into();
    orphan.task.status.state = TaskState::Working;
    orphan.updated_ms -= 60_000;
    store.save(&orphan);
    let got = rpc(&a2a, Fake::default(), "tasks/get", json!({"id": "orphan"})).await;
    assert_eq!(result(&got)["status"]["state"], "failed");
    assert!(
        result(&got)["status"]["message"]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("restarted")
    );

    // Expiry drops tasks by their last change.
    store.expire(stored.updated_ms - 1);
    assert_eq!(store.len(), 2);
    store.expire(i64::MAX);
    assert!(store.is_empty());

    // The agent expires 24-hour-old tasks by itself on its next request.
    let store = Arc::new(MemoryStore::new());
    let mut old = stored.clone();
    old.updated_ms -= 25 * 3600 * 1000;
    store.save(&old);
    let a2a = agent_with(Some("m"), store.clone());
    rpc(&a2a, Fake::default(), "tasks/get", json!({"id": "x"})).await;
    assert!(store.load(&old.task.id).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_keep_their_order_on_a_multi_threaded_runtime() {
    let a2a = agent();
    let mut handles = Vec::new();
    for i in 0..40 {
        let a2a = a2a.clone();
        handles.push(tokio::spawn(async move {
            let body = json!({"jsonrpc": "2.0", "id": i, "method": "message/stream", "params": {"message": user_message("x")}});
            let events = data_frames(&frames(a2a.handle(Fake::default(), body.to_string().as_bytes()).await).await);
            let kinds: Vec<String> = events.iter().map(|e| e["result"]["kind"].as_str().unwrap().to_owned()).collect();
            assert_eq!(kinds, ["task", "status-update", "artifact-update", "status-update"]);
            assert!(events.iter().all(|e| e["id"] == i));
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(a2a.status()["tasks"]["completed"], 40);
    assert_eq!(a2a.status()["running"], 0);
}
