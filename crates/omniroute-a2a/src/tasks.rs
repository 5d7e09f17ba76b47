//! The task table: tasks that run in this process (with the handle that aborts their work and
//! the channel their events go out on) in front of the [`TaskStore`] that keeps every task.
//!
//! Every change of a task happens under one lock, is saved to the store and is sent to the
//! task's subscribers in that order, so a subscriber taken under the lock misses nothing and
//! the store never lags behind what a client saw. The lock is never held across an `.await`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use crate::clock::{iso8601, now_ms};
use crate::ids::uuid_v4;
use crate::rpc::A2aError;
use crate::skills::Outcome;
use crate::store::{StoredTask, TaskStore, Transition};
use crate::types::{
    ArtifactUpdateKind, Message, StatusUpdateKind, Task, TaskArtifactUpdateEvent, TaskState,
    TaskStatus, TaskStatusUpdateEvent,
};

/// How many events a slow subscriber may fall behind; a task sends a handful.
const EVENT_BUFFER: usize = 64;

/// An update of a running task, as streamed to clients.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    Status(TaskStatusUpdateEvent),
    Artifact(TaskArtifactUpdateEvent),
}

impl Event {
    /// The last event of the task.
    pub(crate) fn is_final(&self) -> bool {
        matches!(self, Event::Status(s) if s.is_final)
    }

    /// The event as a JSON-RPC `result`.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Event::Status(s) => serde_json::to_value(s),
            Event::Artifact(a) => serde_json::to_value(a),
        }
        .unwrap_or(Value::Null)
    }
}

/// Who asks: an A2A client (by key name; it sees only its own tasks) or the management API.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Viewer<'a> {
    Client(Option<&'a str>),
    Admin,
}

impl Viewer<'_> {
    fn sees(self, t: &StoredTask) -> bool {
        match self {
            Viewer::Admin => true,
            Viewer::Client(key) => t.key_name.is_none() || t.key_name.as_deref() == key,
        }
    }
}

struct Live {
    record: StoredTask,
    abort: Option<AbortHandle>,
    events: broadcast::Sender<Event>,
}

pub(crate) struct Table {
    store: Arc<dyn TaskStore>,
    live: Mutex<HashMap<String, Live>>,
    /// When this table was made: a task not running here and not updated since is an orphan
    /// of an earlier process.
    started_ms: i64,
}

impl Table {
    pub(crate) fn new(store: Arc<dyn TaskStore>) -> Table {
        Table { store, live: Mutex::new(HashMap::new()), started_ms: now_ms() }
    }

    pub(crate) fn store(&self) -> &dyn TaskStore {
        &*self.store
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Saves a new task, subscribes to it, and spawns `work` for it. The work cannot change
    /// the task before this returns, so the subscription sees every event.
    pub(crate) fn start<F>(
        self: &Arc<Self>,
        record: StoredTask,
        work: F,
    ) -> broadcast::Receiver<Event>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let id = record.task.id.clone();
        let mut live = self.lock();
        self.store.save(&record);
        let (events, rx) = broadcast::channel(EVENT_BUFFER);
        live.insert(id.clone(), Live { record, abort: None, events });
        let handle = tokio::spawn(work);
        if let Some(l) = live.get_mut(&id) {
            l.abort = Some(handle.abort_handle());
        }
        drop(live);
        // A panic in the work must not leave the task running forever.
        let table = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = handle.await
                && e.is_panic()
            {
                table.finish(&id, Err("The task stopped on an internal error.".to_owned()));
            }
        });
        rx
    }

    /// Marks a running task `working`.
    pub(crate) fn working(&self, id: &str) {
        let mut live = self.lock();
        let Some(l) = live.get_mut(id) else { return };
        let now = now_ms();
        set_state(&mut l.record, TaskState::Working, None, now);
        self.store.save(&l.record);
        let _ = l.events.send(Event::Status(status_event(&l.record.task, false)));
    }

    /// Ends a running task with its outcome: `completed` with the artifacts and the reply in
    /// the history, or `failed` with the error as the status message. Nothing happens when the
    /// task is no longer running (it was canceled).
    pub(crate) fn finish(&self, id: &str, outcome: Result<Outcome, String>) {
        let mut live = self.lock();
        let Some(mut l) = live.remove(id) else { return };
        let now = now_ms();
        let task = &mut l.record.task;
        let (state, reply) = match outcome {
            Ok(o) => {
                for artifact in o.artifacts {
                    task.artifacts.push(artifact.clone());
                    let _ = l.events.send(Event::Artifact(TaskArtifactUpdateEvent {
                        kind: ArtifactUpdateKind,
                        task_id: task.id.clone(),
                        context_id: task.context_id.clone(),
                        artifact,
                        append: Some(false),
                        last_chunk: Some(true),
                        metadata: None,
                    }));
                }
                (TaskState::Completed, o.reply)
            }
            Err(e) => (TaskState::Failed, e),
        };
        let message = agent_message(task, reply);
        task.history.push(message.clone());
        set_state(&mut l.record, state, Some(message), now);
        self.store.save(&l.record);
        let _ = l.events.send(Event::Status(status_event(&l.record.task, true)));
    }

    /// Cancels a task: aborts its work if it runs here, and records it `canceled`.
    pub(crate) fn cancel(&self, id: &str, viewer: Viewer<'_>) -> Result<StoredTask, A2aError> {
        let mut live = self.lock();
        let now = now_ms();
        if live.get(id).is_some_and(|l| viewer.sees(&l.record))
            && let Some(mut l) = live.remove(id)
        {
            // Dropping the work's future at its next `.await` drops the tool call in flight.
            if let Some(abort) = &l.abort {
                abort.abort();
            }
            let message = agent_message(&l.record.task, "The task was canceled.".to_owned());
            set_state(&mut l.record, TaskState::Canceled, Some(message), now);
            self.store.save(&l.record);
            let _ = l.events.send(Event::Status(status_event(&l.record.task, true)));
            return Ok(l.record);
        }
        let Some(mut record) = self.store.load(id).filter(|t| viewer.sees(t)) else {
            return Err(A2aError::TaskNotFound(id.to_owned()));
        };
        if record.state().is_terminal() {
            return Err(A2aError::TaskNotCancelable { id: id.to_owned(), state: record.state() });
        }
        // Not terminal and not running here: its process is gone. Record the cancel.
        let message = agent_message(&record.task, "The task was canceled.".to_owned());
        set_state(&mut record, TaskState::Canceled, Some(message), now);
        self.store.save(&record);
        Ok(record)
    }

    /// The task as it is now.
    pub(crate) fn get(&self, id: &str, viewer: Viewer<'_>) -> Option<StoredTask> {
        let live = self.lock();
        if let Some(l) = live.get(id) {
            return viewer.sees(&l.record).then(|| l.record.clone());
        }
        let mut record = self.store.load(id).filter(|t| viewer.sees(t))?;
        if !record.state().is_terminal() && record.updated_ms < self.started_ms {
            let message = agent_message(
                &record.task,
                "The task was interrupted: the gateway restarted while it ran.".to_owned(),
            );
            set_state(&mut record, TaskState::Failed, Some(message), now_ms());
            self.store.save(&record);
        }
        Some(record)
    }

    /// The task and a subscription to its further events, if it is still running.
    pub(crate) fn subscribe(
        &self,
        id: &str,
        viewer: Viewer<'_>,
    ) -> Result<(Task, broadcast::Receiver<Event>), A2aError> {
        {
            let live = self.lock();
            if let Some(l) = live.get(id).filter(|l| viewer.sees(&l.record)) {
                return Ok((l.record.task.clone(), l.events.subscribe()));
            }
        }
        match self.get(id, viewer) {
            None => Err(A2aError::TaskNotFound(id.to_owned())),
            Some(t) => Err(A2aError::InvalidParams(format!(
                "task {id} is in the terminal state `{}`; there is nothing to resubscribe to",
                t.state().as_str()
            ))),
        }
    }

    /// How many tasks run in this process.
    pub(crate) fn running(&self) -> usize {
        self.lock().len()
    }
}

/// Waits until the subscription sees its task's final event (or the task is gone).
pub(crate) async fn wait_final(mut rx: broadcast::Receiver<Event>) {
    loop {
        match rx.recv().await {
            Ok(e) if e.is_final() => return,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// A new task record in state `submitted`, `message` first in its history.
pub(crate) fn new_record(
    mut message: Message,
    context_id: String,
    key_name: Option<String>,
    skill: &str,
) -> StoredTask {
    let now = now_ms();
    let id = uuid_v4();
    message.task_id = Some(id.clone());
    message.context_id = Some(context_id.clone());
    let timestamp = iso8601(now);
    StoredTask {
        task: Task {
            kind: crate::types::TaskKind,
            id,
            context_id,
            status: TaskStatus {
                state: TaskState::Submitted,
                message: None,
                timestamp: Some(timestamp.clone()),
            },
            history: vec![message],
            artifacts: Vec::new(),
            metadata: None,
        },
        transitions: vec![Transition { state: TaskState::Submitted, timestamp, at_ms: now }],
        created_ms: now,
        updated_ms: now,
        key_name,
        skill: skill.to_owned(),
    }
}

fn set_state(record: &mut StoredTask, state: TaskState, message: Option<Message>, now: i64) {
    let timestamp = iso8601(now);
    record.task.status = TaskStatus { state, message, timestamp: Some(timestamp.clone()) };
    record.transitions.push(Transition { state, timestamp, at_ms: now });
    record.updated_ms = now;
}

fn agent_message(task: &Task, text: String) -> Message {
    let mut m = Message::agent_text(uuid_v4(), text);
    m.task_id = Some(task.id.clone());
    m.context_id = Some(task.context_id.clone());
    m
}

fn status_event(task: &Task, is_final: bool) -> TaskStatusUpdateEvent {
    TaskStatusUpdateEvent {
        kind: StatusUpdateKind,
        task_id: task.id.clone(),
        context_id: task.context_id.clone(),
        status: task.status.clone(),
        is_final,
        metadata: None,
    }
}
