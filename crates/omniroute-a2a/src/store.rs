//! Where tasks live between requests: the [`TaskStore`] trait the gateway implements over its
//! database, the [`StoredTask`] record it keeps, and [`MemoryStore`] for tests and embedding.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::types::{Task, TaskState};

/// One state change of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub state: TaskState,
    /// ISO 8601, UTC.
    pub timestamp: String,
    /// The same instant as Unix milliseconds.
    pub at_ms: i64,
}

/// A task with what the agent keeps beside it. Its JSON (snake_case outside the A2A `task`) is
/// also the management view: `{"task", "transitions", "created_ms", "updated_ms", "key_name",
/// "skill"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTask {
    /// The task as A2A clients see it, with its full history.
    pub task: Task,
    /// Every state the task went through, oldest first.
    pub transitions: Vec<Transition>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The client key that created the task; only that key sees it over A2A.
    #[serde(default)]
    pub key_name: Option<String>,
    /// The skill id the task runs.
    pub skill: String,
}

impl StoredTask {
    /// The task's id.
    pub fn id(&self) -> &str {
        &self.task.id
    }

    /// Its current state.
    pub fn state(&self) -> TaskState {
        self.task.status.state
    }

    /// The record as one JSON text, for a database column.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads [`StoredTask::to_json`].
    pub fn from_json(text: &str) -> Result<StoredTask, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Persistence of tasks. Calls are synchronous and short; the agent saves a task on every
/// state change and artifact.
pub trait TaskStore: Send + Sync + 'static {
    /// Inserts or replaces the task with this id.
    fn save(&self, task: &StoredTask);
    /// The task with this id.
    fn load(&self, id: &str) -> Option<StoredTask>;
    /// The `limit` most recently created tasks, newest first.
    fn list(&self, limit: usize) -> Vec<StoredTask>;
    /// Deletes the tasks last updated before `before_ms` (Unix milliseconds).
    fn expire(&self, before_ms: i64);
}

/// A [`TaskStore`] in a map; everything is lost with the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tasks: Mutex<HashMap<String, StoredTask>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// How many tasks it holds.
    pub fn len(&self) -> usize {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TaskStore for MemoryStore {
    fn save(&self, task: &StoredTask) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.insert(task.task.id.clone(), task.clone());
    }

    fn load(&self, id: &str) -> Option<StoredTask> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
    }

    fn list(&self, limit: usize) -> Vec<StoredTask> {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<StoredTask> = tasks.values().cloned().collect();
        all.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then_with(|| a.task.id.cmp(&b.task.id)));
        all.truncate(limit);
        all
    }

    fn expire(&self, before_ms: i64) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|_, t| t.updated_ms >= before_ms);
    }
}
