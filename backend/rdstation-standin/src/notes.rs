//! Notes ("anotações") written to deals, as stored: one list in creation
//! order, whichever API wrote them. Notes cannot be edited or deleted.

use std::sync::Mutex;

use serde::Serialize;
use time::OffsetDateTime;

use crate::faults::Api;

/// A stored note, with everything either API can show about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// 24 lowercase hex characters (`_id`/`id` in v1, `id` in v2).
    pub id: String,
    pub deal_id: String,
    /// The note's author (`user_id`): v1 takes it from the body, v2 from the token.
    pub user_id: String,
    /// The user whose token wrote the note.
    pub created_by: String,
    /// `text` in v1, `description` in v2.
    pub text: String,
    /// The deal's first contact when the note was written.
    pub contact_id: Option<String>,
    /// The deal's stage when the note was written.
    pub deal_stage_id: String,
    #[serde(serialize_with = "crate::clock::serialize")]
    pub created_at: OffsetDateTime,
    /// The API that wrote it.
    pub via: Api,
}

#[derive(Default)]
pub(crate) struct NoteStore {
    notes: Mutex<Vec<Note>>,
}

impl NoteStore {
    pub fn push(&self, note: Note) {
        self.lock().push(note);
    }

    /// The notes for which `keep` holds, oldest first.
    pub fn filtered(&self, keep: impl Fn(&Note) -> bool) -> Vec<Note> {
        self.lock().iter().filter(|n| keep(n)).cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Note>> {
        // A panic while holding the lock cannot leave the list half-written.
        self.notes.lock().unwrap_or_else(|e| e.into_inner())
    }
}
