//! Recordings: `GET /manager/calls/{id}/recording` streams the call's file
//! from Asterisk's monitor spool (`crm.recordings_dir`), with `Range`
//! support for seeking. Only the manager's tenant's calls; the file is the
//! one stored with the call, and only when that is a plain file name (no
//! folder, no `..`) of a regular file (no symbolic link), so nothing
//! outside the spool can be reached.

use std::collections::HashSet;
use std::path::{Component, Path as FsPath, PathBuf};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower_http::services::ServeFile;

use super::ManagerConfig;
use super::api::tenant_call;
use super::session::PageManager;
use crate::api::{ApiError, AppState};
use crate::domain::Call;

pub async fn recording(
    State(state): State<AppState>,
    PageManager(user): PageManager,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let call = tenant_call(&state, &user, &id).await?;
    let dir = state
        .manager
        .recordings_dir
        .as_deref()
        .ok_or_else(ApiError::recordings_not_configured)?;
    let name = call
        .recording_file
        .as_deref()
        .ok_or_else(ApiError::no_recording)?;
    let path = spool_path(dir, name).ok_or_else(ApiError::no_recording)?;
    let exists = tokio::task::spawn_blocking({
        let path = path.clone();
        move || is_regular_file(&path)
    })
    .await
    .unwrap_or(false);
    if !exists {
        return Err(ApiError::recording_missing());
    }
    let response = ServeFile::new(&path).try_call(request).await.map_err(|e| {
        tracing::error!(call_id = %call.id, error = %e, "cannot read a recording");
        ApiError::recording_missing()
    })?;
    let mut response = response.map(Body::new).into_response();
    // Private: a shared cache must not keep it.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}

/// The ids of `calls` whose recording file is on the server.
pub async fn recorded(config: &ManagerConfig, calls: &[Call]) -> HashSet<String> {
    let Some(dir) = config.recordings_dir.clone() else {
        return HashSet::new();
    };
    let candidates: Vec<(String, PathBuf)> = calls
        .iter()
        .filter_map(|call| {
            let name = call.recording_file.as_deref()?;
            Some((call.id.clone(), spool_path(&dir, name)?))
        })
        .collect();
    if candidates.is_empty() {
        return HashSet::new();
    }
    tokio::task::spawn_blocking(move || {
        candidates
            .into_iter()
            .filter(|(_, path)| is_regular_file(path))
            .map(|(id, _)| id)
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// `dir/name` when `name` is a plain file name; `None` otherwise.
fn spool_path(dir: &FsPath, name: &str) -> Option<PathBuf> {
    is_plain_file_name(name).then(|| dir.join(name))
}

/// One path component, not hidden, with no separator, control character
/// or `..`: `acme-0193a1b2-….wav`.
fn is_plain_file_name(name: &str) -> bool {
    let mut components = FsPath::new(name).components();
    (1..=255).contains(&name.len())
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
        && matches!(components.next(), Some(Component::Normal(n)) if n == name)
        && components.next().is_none()
}

/// A regular file, not a symbolic link nor a folder.
fn is_regular_file(path: &FsPath) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_reach_the_spool() {
        for good in ["acme-0193a1b2-0000-7000-8000-000000000001.wav", "a.WAV"] {
            assert!(is_plain_file_name(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../secret.wav",
            "/etc/passwd",
            "sub/dir.wav",
            "..\\x.wav",
            ".hidden.wav",
            "a\0b.wav",
            "a\nb.wav",
            &"a".repeat(256),
        ] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn links_and_folders_are_not_recordings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real.wav"), b"RIFF").unwrap();
        std::fs::create_dir(dir.path().join("folder.wav")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.wav")).unwrap();
        assert!(is_regular_file(&dir.path().join("real.wav")));
        assert!(!is_regular_file(&dir.path().join("folder.wav")));
        assert!(!is_regular_file(&dir.path().join("link.wav")));
        assert!(!is_regular_file(&dir.path().join("absent.wav")));
    }
}
