//! Recordings: `GET /manager/calls/{id}/recording` streams the call's file
//! from the monitor spool of the PBX the call was placed on (its
//! `recordings_dir`, or `crm.recordings_dir` for the default PBX), with
//! `Range` support for seeking. Only the manager's tenant's calls; the file is the
//! one stored with the call, and only when that is a plain file name (no
//! folder, no `..`) of a regular file, so nothing outside the spool can be
//! reached. The file is opened with `O_NOFOLLOW` and what was opened is
//! checked (`fstat`: a regular file with a single link) and served from
//! that descriptor, so a symbolic or hard link put in the spool, even
//! swapped in after a check, is refused.

use std::collections::{HashMap, HashSet};
use std::io::SeekFrom;
use std::path::{Component, Path as FsPath, PathBuf};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::ManagerConfig;
use super::api::tenant_call_and_pbx;
use super::session::PageManager;
use crate::api::{ApiError, AppState};
use crate::domain::{Call, PbxName};
use crate::storage::{Actor, AuditAction, AuditEntry};

/// Requests for one recording by one person within this time are one
/// listening in the audit log.
const LISTENING: time::Duration = time::Duration::minutes(10);

/// Bytes read from the file per chunk of the response body.
const CHUNK: usize = 64 * 1024;

pub async fn recording(
    State(state): State<AppState>,
    PageManager(user): PageManager,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (call, pbx) = tenant_call_and_pbx(&state, &user, &id).await?;
    if state.store.recording_expired(&call.id).await? {
        return Ok(expired_page());
    }
    let dir = state
        .manager
        .recordings_dirs
        .get(&pbx)
        .ok_or_else(ApiError::recordings_not_configured)?;
    let name = call
        .recording_file
        .as_deref()
        .ok_or_else(ApiError::no_recording)?;
    let path = spool_path(dir, name).ok_or_else(ApiError::no_recording)?;
    let opened = tokio::task::spawn_blocking(move || open_recording(&path))
        .await
        .ok()
        .flatten();
    let Some((file, len)) = opened else {
        return Err(ApiError::recording_missing());
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, len));
    // Who listened to or downloaded which recording (LGPD): every request
    // counts, a player's many range requests within LISTENING as one.
    let entry = AuditEntry {
        action: AuditAction::RecordingPlayed,
        target: call.id.clone(),
        detail: format!(
            "Gravação da ligação para {}",
            crate::domain::phone::national_format(&call.to)
        ),
    };
    state
        .store
        .record_audit_once_within(
            user.tenant.slug.as_str(),
            &Actor::admin(&user),
            &entry,
            LISTENING,
        )
        .await?;
    let mut response = match range {
        Some(Range::Unsatisfiable) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            r
        }
        Some(Range::Bytes(start, end)) => {
            let mut r = body_response(file, start, end - start + 1, StatusCode::PARTIAL_CONTENT);
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).expect("ascii"),
            );
            r
        }
        Some(Range::Whole) | None => body_response(file, 0, len, StatusCode::OK),
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_TYPE, content_type(name));
    // Private: a shared cache must not keep it.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}

/// The answer for a recording deleted at the end of its tenant's
/// retention (its link may still be in a CRM note): fixed words only.
fn expired_page() -> Response {
    super::page::notice(
        StatusCode::GONE,
        "Gravação expirada",
        "Esta gravação foi apagada ao fim do prazo de guarda definido pela sua empresa (LGPD). \
         Os dados da ligação continuam na página do gestor.",
        ("/manager", "Ligações da equipe"),
    )
}

/// Opens `path` without following a symbolic link in its last component
/// (`O_NOFOLLOW`) and checks what was opened, not what the name pointed
/// to a moment earlier: a regular file with one link only (a hard link
/// would let a file from outside the spool be read through it). The file
/// and its length; `None` otherwise.
fn open_recording(path: &FsPath) -> Option<(std::fs::File, u64)> {
    use rustix::fs::{FileType, Mode, OFlags};
    // NONBLOCK: opening a FIFO put in the spool must not hang the task; it
    // changes nothing for a regular file.
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    let regular = FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile;
    if !regular || stat.st_nlink != 1 {
        return None;
    }
    Some((std::fs::File::from(fd), u64::try_from(stat.st_size).ok()?))
}

/// A response whose body is `len` bytes of `file` from `start`.
fn body_response(file: std::fs::File, start: u64, len: u64, status: StatusCode) -> Response {
    let mut response = Body::from_stream(read_from(file, start, len)).into_response();
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// `len` bytes of `file` from `start`, in chunks.
fn read_from(
    file: std::fs::File,
    start: u64,
    len: u64,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let mut file = tokio::fs::File::from_std(file);
    async_stream::try_stream! {
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await?;
        }
        let mut left = len;
        let mut buffer = vec![0u8; CHUNK];
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
            let read = file.read(&mut buffer[..want]).await?;
            if read == 0 {
                // The file shrank after it was opened: end early; the
                // client sees fewer bytes than announced.
                Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
            }
            left -= read as u64;
            yield Bytes::copy_from_slice(&buffer[..read]);
        }
    }
}

fn content_type(name: &str) -> HeaderValue {
    let lower = name.to_ascii_lowercase();
    HeaderValue::from_static(if lower.ends_with(".wav") {
        "audio/wav"
    } else if lower.ends_with(".mp3") {
        "audio/mpeg"
    } else if lower.ends_with(".ogg") {
        "audio/ogg"
    } else {
        "application/octet-stream"
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// Inclusive first and last byte.
    Bytes(u64, u64),
    /// A range outside the file: 416.
    Unsatisfiable,
    /// Something else (several ranges, another unit, garbage): the whole
    /// file, as RFC 9110 lets a server ignore `Range`.
    Whole,
}

/// One `bytes=` range (`a-b`, `a-`, `-n`) against a file of `len` bytes.
fn parse_range(value: &str, len: u64) -> Range {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Range::Whole;
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Range::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // `-n`: the last n bytes.
        (true, false) => match number(last) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if len == 0 => Range::Unsatisfiable,
            Some(n) => Range::Bytes(len.saturating_sub(n), len - 1),
            None => Range::Whole,
        },
        (false, _) => {
            let Some(start) = number(first) else {
                return Range::Whole;
            };
            let end = if last.trim().is_empty() {
                None
            } else {
                match number(last) {
                    Some(end) if end >= start => Some(end),
                    _ => return Range::Whole,
                }
            };
            if start >= len {
                return Range::Unsatisfiable;
            }
            Range::Bytes(start, end.map_or(len - 1, |e| e.min(len - 1)))
        }
        (true, true) => Range::Whole,
    }
}

/// The ids of `calls` whose recording file is on the server, in the folder
/// of the PBX each was placed on (`pbxs`, by call id).
pub async fn recorded(
    config: &ManagerConfig,
    calls: &[Call],
    pbxs: &HashMap<String, PbxName>,
) -> HashSet<String> {
    let candidates: Vec<(String, PathBuf)> = calls
        .iter()
        .filter_map(|call| {
            let name = call.recording_file.as_deref()?;
            let dir = config.recordings_dirs.get(pbxs.get(&call.id)?)?;
            Some((call.id.clone(), spool_path(dir, name)?))
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

/// A regular file with one link, not a symbolic link, a folder nor a hard
/// link (what [`open_recording`] will serve).
fn is_regular_file(path: &FsPath) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file() && m.nlink() == 1)
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
        std::fs::write(dir.path().join("outside"), b"secret").unwrap();
        std::fs::hard_link(dir.path().join("outside"), dir.path().join("hard.wav")).unwrap();
        assert!(is_regular_file(&dir.path().join("real.wav")));
        assert!(open_recording(&dir.path().join("real.wav")).is_some_and(|(_, len)| len == 4));
        for refused in ["folder.wav", "link.wav", "hard.wav", "absent.wav"] {
            let path = dir.path().join(refused);
            assert!(!is_regular_file(&path), "{refused}");
            assert!(open_recording(&path).is_none(), "{refused}");
        }
    }

    #[test]
    fn single_byte_ranges() {
        use Range::*;
        for (value, expected) in [
            ("bytes=0-99", Bytes(0, 99)),
            ("bytes=100-199", Bytes(100, 199)),
            ("bytes=4000-", Bytes(4000, 4095)),
            ("bytes=4000-9999", Bytes(4000, 4095)),
            ("bytes=-96", Bytes(4000, 4095)),
            ("bytes=-9999", Bytes(0, 4095)),
            ("bytes=4096-", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=0-1,5-6", Whole),
            ("bytes=9-3", Whole),
            ("bytes=a-b", Whole),
            ("bytes=-", Whole),
            ("items=0-1", Whole),
            ("bytes=+1-2", Whole),
        ] {
            assert_eq!(parse_range(value, 4096), expected, "{value}");
        }
    }
}
