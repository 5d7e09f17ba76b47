//! The A2A agent of omniroute: protocol 0.3.0 of the Agent2Agent specification
//! (`a2aproject/A2A`, tag `v0.3.0`) over its JSON-RPC 2.0 transport, with skills that run the
//! gateway's control-plane tools.
//!
//! - [`A2a`] is the agent. The gateway serves [`A2a::agent_card`] at
//!   `GET /.well-known/agent-card.json` (and the older `/.well-known/agent.json`), passes the
//!   body of `POST /a2a` to [`A2a::handle_as`] with a [`ControlPlane`] bound to the caller's
//!   key, and mirrors [`A2a::status`], [`A2a::tasks`], [`A2a::task`] and [`A2a::cancel`] in its
//!   management API.
//! - Methods: `message/send`, `message/stream` (SSE), `tasks/get`, `tasks/cancel`,
//!   `tasks/resubscribe` (SSE). Push notifications and the extended card are not offered and
//!   answer with their A2A error codes; any other method is `-32601`.
//! - [`Skill`]s are chosen by `metadata.skill`; each run is a [`Task`] that goes `submitted`,
//!   `working`, then `completed`, `failed` or `canceled`.
//! - Tasks are kept through [`TaskStore`], which the gateway implements over its database;
//!   [`MemoryStore`] keeps them in memory. They expire 24 hours after their last change.
//!
//! This crate does no HTTP itself and knows nothing of the gateway beyond the
//! [`ControlPlane`] trait.

mod clock;
mod ids;
mod rpc;
mod skills;
mod store;
mod tasks;
mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use omniroute_control::ControlPlane;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};

pub use rpc::A2aError;
pub use skills::Skill;
pub use store::{MemoryStore, StoredTask, TaskStore, Transition};
pub use types::*;

use crate::clock::now_ms;
use crate::ids::uuid_v4;
use crate::rpc::Request;
use crate::tasks::{Event, Table, Viewer};

/// The path of the agent card, as protocol 0.3.0 recommends.
pub const AGENT_CARD_PATH: &str = "/.well-known/agent-card.json";
/// The path earlier protocol versions (and many clients) use for the card.
pub const LEGACY_AGENT_CARD_PATH: &str = "/.well-known/agent.json";
/// How long a task is kept after its last change.
pub const TASK_TTL: Duration = Duration::from_secs(24 * 3600);
/// How often a stream sends an SSE comment while it waits for the task.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// How often [`TaskStore::expire`] is called, at most.
const EXPIRE_EVERY_MS: i64 = 10 * 60 * 1000;
/// How many tasks [`A2a::status`] counts.
const STATUS_SCAN: usize = 10_000;
/// Frames a stream buffers before it waits for the client.
const STREAM_BUFFER: usize = 16;
/// The media types this agent takes and gives.
const MODES: &[&str] = &["text/plain", "application/json"];

/// What the agent says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct A2aConfig {
    /// The card's `name`.
    pub name: String,
    /// The card's `description`.
    pub description: String,
    /// The card's `version` (the agent's, not the protocol's).
    pub version: String,
    /// The model `smart-routing` uses when a message names none.
    pub default_model: Option<String>,
    /// The card's `url` when the gateway is reached under another address than it sees
    /// (a reverse proxy); otherwise `{base_url}/a2a`.
    pub public_url: Option<String>,
}

impl Default for A2aConfig {
    fn default() -> A2aConfig {
        A2aConfig {
            name: "omniroute".to_owned(),
            description:
                "An AI gateway: routes prompts across providers with fallback, quotas and \
                          budgets, and reports on its health, quotas, models and costs."
                    .to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            default_model: None,
            public_url: None,
        }
    }
}

/// The answer to one `POST` of the JSON-RPC endpoint. Either way the HTTP status is 200;
/// JSON-RPC errors travel in the body.
#[derive(Debug)]
pub enum A2aReply {
    /// One response object, sent as `application/json`.
    Json(Value),
    /// Server-Sent Events, sent as `text/event-stream`: complete frames (`data: {json}\n\n`,
    /// each a JSON-RPC response with the request's id, and `: ping\n\n` comments every
    /// [`HEARTBEAT`]). The channel closes after the final event. Dropping the receiver (the
    /// client went away) leaves the task running.
    Stream(mpsc::Receiver<Bytes>),
}

impl A2aReply {
    /// The `Content-Type` of the HTTP response.
    pub fn content_type(&self) -> &'static str {
        match self {
            A2aReply::Json(_) => "application/json",
            A2aReply::Stream(_) => "text/event-stream",
        }
    }
}

/// The agent. Cheap to clone; clones share their tasks.
#[derive(Clone)]
pub struct A2a {
    inner: Arc<Inner>,
}

struct Inner {
    config: A2aConfig,
    table: Arc<Table>,
    last_expire_ms: AtomicI64,
}

impl fmt::Debug for A2a {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("A2a").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl A2a {
    /// An agent keeping its tasks in `store`. One agent per store: a task left unfinished in
    /// the store by an earlier process is reported `failed` when next read.
    pub fn new(config: A2aConfig, store: Arc<dyn TaskStore>) -> A2a {
        A2a {
            inner: Arc::new(Inner {
                config,
                table: Arc::new(Table::new(store)),
                last_expire_ms: AtomicI64::new(i64::MIN),
            }),
        }
    }

    /// The agent card, for a gateway reached at `base_url` (e.g. `https://gw.example.com`).
    pub fn agent_card(&self, base_url: &str) -> AgentCard {
        let c = &self.inner.config;
        let url = match &c.public_url {
            Some(u) => u.clone(),
            None => format!("{}/a2a", base_url.trim_end_matches('/')),
        };
        let modes: Vec<String> = MODES.iter().map(|m| (*m).to_owned()).collect();
        AgentCard {
            protocol_version: PROTOCOL_VERSION.to_owned(),
            name: c.name.clone(),
            description: c.description.clone(),
            url: url.clone(),
            preferred_transport: "JSONRPC".to_owned(),
            additional_interfaces: vec![AgentInterface { url, transport: "JSONRPC".to_owned() }],
            provider: None,
            version: c.version.clone(),
            documentation_url: None,
            capabilities: AgentCapabilities {
                streaming: true,
                push_notifications: false,
                state_transition_history: true,
            },
            security_schemes: BTreeMap::from([(
                "bearer".to_owned(),
                SecurityScheme::Http {
                    scheme: "bearer".to_owned(),
                    bearer_format: None,
                    description: Some("An omniroute client API key.".to_owned()),
                },
            )]),
            security: vec![BTreeMap::from([("bearer".to_owned(), Vec::new())])],
            default_input_modes: modes.clone(),
            default_output_modes: modes,
            skills: Skill::ALL.iter().map(|s| s.card()).collect(),
            supports_authenticated_extended_card: None,
        }
    }

    /// Answers one JSON-RPC request from a caller without a key name (all its tasks are
    /// visible to every such caller). See [`A2a::handle_as`].
    pub async fn handle<C: ControlPlane>(&self, control: C, body: &[u8]) -> A2aReply {
        self.handle_as(control, None, body).await
    }

    /// Answers one JSON-RPC request. `control` runs the tools for the caller; `key_name` names
    /// the caller's client key, recorded with new tasks: a caller sees and cancels only the
    /// tasks of its own key (and those created without one). A blocking `message/send`
    /// returns when its task ends; other methods return at once.
    pub async fn handle_as<C: ControlPlane>(
        &self,
        control: C,
        key_name: Option<&str>,
        body: &[u8],
    ) -> A2aReply {
        self.expire_now_and_then();
        let req = match rpc::parse(body) {
            Ok(r) => r,
            Err((id, e)) => return A2aReply::Json(rpc::error(&id, &e)),
        };
        let viewer = Viewer::Client(key_name);
        let out = match req.method.as_str() {
            "message/send" => self.message_send(control, key_name, &req).await,
            "message/stream" => {
                return match self.message_stream(control, key_name, &req) {
                    Ok(rx) => A2aReply::Stream(rx),
                    Err(e) => A2aReply::Json(rpc::error(&req.id, &e)),
                };
            }
            "tasks/resubscribe" => {
                let stream = params::<TaskIdParams>(&req).and_then(|p| {
                    let (task, events) = self.inner.table.subscribe(&p.id, viewer)?;
                    Ok(stream(req.id.clone(), task, events))
                });
                return match stream {
                    Ok(rx) => A2aReply::Stream(rx),
                    Err(e) => A2aReply::Json(rpc::error(&req.id, &e)),
                };
            }
            "tasks/get" => params::<TaskQueryParams>(&req).and_then(|p| {
                let n = history_length(p.history_length)?;
                let t = self.inner.table.get(&p.id, viewer).ok_or(A2aError::TaskNotFound(p.id))?;
                Ok(task_json(t.task.with_history_length(n)))
            }),
            "tasks/cancel" => params::<TaskIdParams>(&req)
                .and_then(|p| self.inner.table.cancel(&p.id, viewer))
                .map(|t| task_json(t.task)),
            "tasks/pushNotificationConfig/set"
            | "tasks/pushNotificationConfig/get"
            | "tasks/pushNotificationConfig/list"
            | "tasks/pushNotificationConfig/delete" => Err(A2aError::PushNotificationNotSupported),
            "agent/getAuthenticatedExtendedCard" => Err(A2aError::ExtendedCardNotConfigured),
            other => Err(A2aError::MethodNotFound(other.to_owned())),
        };
        A2aReply::Json(match out {
            Ok(v) => rpc::result(&req.id, v),
            Err(e) => rpc::error(&req.id, &e),
        })
    }

    async fn message_send<C: ControlPlane>(
        &self,
        control: C,
        key_name: Option<&str>,
        req: &Request,
    ) -> Result<Value, A2aError> {
        let (p, skill) = self.send_params(req, key_name)?;
        let config = p.configuration.clone().unwrap_or_default();
        let n = history_length(config.history_length)?;
        let (task, events) = self.start(control, key_name, p, skill);
        if config.blocking == Some(false) {
            return Ok(task_json(task.with_history_length(n)));
        }
        tasks::wait_final(events).await;
        let done = self.inner.table.get(&task.id, Viewer::Admin).map_or(task, |t| t.task);
        Ok(task_json(done.with_history_length(n)))
    }

    fn message_stream<C: ControlPlane>(
        &self,
        control: C,
        key_name: Option<&str>,
        req: &Request,
    ) -> Result<mpsc::Receiver<Bytes>, A2aError> {
        let (p, skill) = self.send_params(req, key_name)?;
        let n = history_length(p.configuration.as_ref().and_then(|c| c.history_length))?;
        let (task, events) = self.start(control, key_name, p, skill);
        Ok(stream(req.id.clone(), task.with_history_length(n), events))
    }

    /// Reads and checks the params of `message/send` and `message/stream`.
    fn send_params(
        &self,
        req: &Request,
        key_name: Option<&str>,
    ) -> Result<(MessageSendParams, Skill), A2aError> {
        if let Some(p @ Value::Object(_)) = &req.params {
            check_message_shape(p)?;
        }
        let p: MessageSendParams = params(req)?;
        let config = p.configuration.clone().unwrap_or_default();
        if config.push_notification_config.as_ref().is_some_and(|c| !c.is_null()) {
            return Err(A2aError::PushNotificationNotSupported);
        }
        let m = &p.message;
        if m.role != Role::User {
            return Err(A2aError::InvalidParams(
                "`params.message.role` must be \"user\" for messages sent to the agent".into(),
            ));
        }
        if m.parts.is_empty() {
            return Err(A2aError::InvalidParams("`params.message.parts` is empty".into()));
        }
        if let Some(task_id) = &m.task_id {
            let Some(t) = self.inner.table.get(task_id, Viewer::Client(key_name)) else {
                return Err(A2aError::TaskNotFound(task_id.clone()));
            };
            return Err(A2aError::InvalidParams(if t.state().is_terminal() {
                format!(
                    "task {task_id} is in the terminal state `{}` and cannot be restarted; \
                     send the message without `taskId` to start a new task",
                    t.state().as_str()
                )
            } else {
                format!(
                    "task {task_id} is still running and takes no further messages; wait for it \
                     or cancel it"
                )
            }));
        }
        let metadata = merged_metadata(&p);
        let skill = match metadata.get("skill") {
            None | Some(Value::Null) => Skill::SmartRouting,
            Some(Value::String(s)) => Skill::parse(s).ok_or_else(|| {
                A2aError::InvalidParams(format!(
                    "unknown skill `{s}` in `metadata.skill` (skills: {})",
                    Skill::ALL.iter().map(|s| s.id()).collect::<Vec<_>>().join(", ")
                ))
            })?,
            Some(_) => {
                return Err(A2aError::InvalidParams("`metadata.skill` must be a string".into()));
            }
        };
        if skill == Skill::SmartRouting && m.text().trim().is_empty() {
            return Err(A2aError::InvalidParams(
                "skill smart-routing needs a non-empty text part in `params.message.parts`".into(),
            ));
        }
        Ok((p, skill))
    }

    /// Creates the task and starts its work; returns it as created (`submitted`) and a
    /// subscription to its events.
    fn start<C: ControlPlane>(
        &self,
        control: C,
        key_name: Option<&str>,
        p: MessageSendParams,
        skill: Skill,
    ) -> (Task, broadcast::Receiver<Event>) {
        let input = skills::Input {
            text: p.message.text(),
            metadata: merged_metadata(&p),
            default_model: self.inner.config.default_model.clone(),
        };
        let context_id = p.message.context_id.clone().unwrap_or_else(uuid_v4);
        let record =
            tasks::new_record(p.message, context_id, key_name.map(str::to_owned), skill.id());
        let task = record.task.clone();
        let table = Arc::clone(&self.inner.table);
        let id = task.id.clone();
        let work = async move {
            table.working(&id);
            let outcome = skills::run(skill, &control, &input).await;
            table.finish(&id, outcome);
        };
        let events = self.inner.table.start(record, work);
        (task, events)
    }

    /// `{"enabled": true, "tasks": {state: count}, "running", "last_task_at"}`: the counts
    /// over the most recent 10 000 tasks, the tasks running in this process, and when the
    /// newest task was created (Unix ms, or null).
    pub fn status(&self) -> Value {
        let all = self.inner.table.store().list(STATUS_SCAN);
        let mut counts: BTreeMap<&str, u64> = [
            TaskState::Submitted,
            TaskState::Working,
            TaskState::Completed,
            TaskState::Failed,
            TaskState::Canceled,
        ]
        .iter()
        .map(|s| (s.as_str(), 0))
        .collect();
        for t in &all {
            *counts.entry(t.state().as_str()).or_default() += 1;
        }
        json!({
            "enabled": true,
            "tasks": counts,
            "running": self.inner.table.running(),
            "last_task_at": all.iter().map(|t| t.created_ms).max(),
        })
    }

    /// `{"data": [StoredTask...]}`: the `limit` newest tasks.
    pub fn tasks(&self, limit: usize) -> Value {
        let data: Vec<Value> = self
            .inner
            .table
            .store()
            .list(limit)
            .into_iter()
            .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
            .collect();
        json!({"data": data})
    }

    /// One task as a [`StoredTask`] JSON, whoever created it.
    pub fn task(&self, id: &str) -> Option<Value> {
        self.inner
            .table
            .get(id, Viewer::Admin)
            .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
    }

    /// Cancels a task, as `tasks/cancel` does but for any key; returns it as a [`StoredTask`]
    /// JSON. Errors: [`A2aError::TaskNotFound`], [`A2aError::TaskNotCancelable`].
    pub fn cancel(&self, id: &str) -> Result<Value, A2aError> {
        let t = self.inner.table.cancel(id, Viewer::Admin)?;
        Ok(serde_json::to_value(t).unwrap_or(Value::Null))
    }

    /// Deletes expired tasks, at most every ten minutes.
    fn expire_now_and_then(&self) {
        let now = now_ms();
        let last = self.inner.last_expire_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < EXPIRE_EVERY_MS {
            return;
        }
        if self
            .inner
            .last_expire_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.inner.table.store().expire(now - TASK_TTL.as_millis() as i64);
        }
    }
}

/// Reads a method's params (a JSON object) as `T`.
fn params<T: DeserializeOwned>(req: &Request) -> Result<T, A2aError> {
    match &req.params {
        None => Err(A2aError::InvalidParams(format!("`params` is required for {}", req.method))),
        Some(Value::Object(_)) => serde_json::from_value(req.params.clone().unwrap_or_default())
            .map_err(|e| A2aError::InvalidParams(format!("`params` of {}: {e}", req.method))),
        Some(_) => {
            Err(A2aError::InvalidParams(format!("`params` of {} must be an object", req.method)))
        }
    }
}

/// Names the missing required fields of `params.message` before serde would, with their path.
fn check_message_shape(p: &Value) -> Result<(), A2aError> {
    let Some(m) = p.get("message") else {
        return Err(A2aError::InvalidParams("`params.message` is required (a Message)".into()));
    };
    if !m.is_object() {
        return Err(A2aError::InvalidParams(
            "`params.message` must be an object (a Message)".into(),
        ));
    }
    for (field, what) in [
        ("messageId", "a string, e.g. a UUID"),
        ("role", "\"user\""),
        ("parts", "a list of parts such as {\"kind\": \"text\", \"text\": \"...\"}"),
    ] {
        if m.get(field).is_none_or(Value::is_null) {
            return Err(A2aError::InvalidParams(format!(
                "`params.message.{field}` is required ({what})"
            )));
        }
    }
    Ok(())
}

/// `params.metadata` overlaid with `message.metadata`.
fn merged_metadata(p: &MessageSendParams) -> Map<String, Value> {
    let mut out = p.metadata.clone().unwrap_or_default();
    for (k, v) in p.message.metadata.iter().flatten() {
        out.insert(k.clone(), v.clone());
    }
    out
}

fn history_length(n: Option<i64>) -> Result<Option<usize>, A2aError> {
    match n {
        None => Ok(None),
        Some(n) => usize::try_from(n).map(Some).map_err(|_| {
            A2aError::InvalidParams(format!("`historyLength` must not be negative (got {n})"))
        }),
    }
}

fn task_json(t: Task) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// The SSE frames of a task: the task itself, then its events until the final one, with a
/// comment every [`HEARTBEAT`] while nothing happens.
fn stream(id: Value, first: Task, mut events: broadcast::Receiver<Event>) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        if tx.send(rpc::sse_frame(&rpc::result(&id, task_json(first)))).await.is_err() {
            return;
        }
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        loop {
            let frame = tokio::select! {
                event = events.recv() => match event {
                    Ok(e) => {
                        let frame = rpc::sse_frame(&rpc::result(&id, e.to_json()));
                        if e.is_final() {
                            let _ = tx.send(frame).await;
                            return;
                        }
                        frame
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick() => Bytes::from_static(rpc::SSE_PING),
            };
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    });
    rx
}
