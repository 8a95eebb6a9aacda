//! Tasks ("tarefas") created on deals, as stored: one list in creation
//! order, whichever API created them. v1 takes a date and an hour (São
//! Paulo), v2 a due date; both are kept as sent and as an instant.

use std::sync::Mutex;

use serde::Serialize;
use time::OffsetDateTime;

use crate::faults::Api;

/// The task types RD Station CRM knows.
pub const TYPES: [&str; 7] = [
    "call", "email", "meeting", "task", "lunch", "visit", "whatsapp",
];

/// A stored task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// 24 lowercase hex characters.
    pub id: String,
    pub deal_id: String,
    /// `subject` in v1, `name` in v2.
    pub subject: String,
    /// `call`, `email`...
    pub kind: String,
    /// When it is due (v1: `date` and `hour` in São Paulo).
    #[serde(serialize_with = "crate::clock::serialize")]
    pub due_at: OffsetDateTime,
    /// `user_ids` in v1, `owner_ids` in v2.
    pub owner_ids: Vec<String>,
    /// `notes` in v1, `description` in v2.
    pub notes: String,
    pub done: bool,
    /// The user whose token created it.
    pub created_by: String,
    #[serde(serialize_with = "crate::clock::serialize")]
    pub created_at: OffsetDateTime,
    pub via: Api,
}

#[derive(Default)]
pub(crate) struct TaskStore {
    tasks: Mutex<Vec<Task>>,
}

impl TaskStore {
    pub fn push(&self, task: Task) {
        self.lock().push(task);
    }

    /// The tasks for which `keep` holds, oldest first.
    pub fn filtered(&self, keep: impl Fn(&Task) -> bool) -> Vec<Task> {
        self.lock().iter().filter(|t| keep(t)).cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Task>> {
        // A panic while holding the lock cannot leave the list half-written.
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }
}
