//! How a CRM answer is read when it is not a success: temporary (try again
//! later) or permanent (stop, and show managers the CRM's own message).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use serde_json::Value;

/// Longest CRM message kept (the rest of an error page is noise).
const MAX_MESSAGE_CHARS: usize = 300;
/// Longest `Retry-After` obeyed: a bigger one (a broken proxy, a typo) must
/// not stop a tenant's notes for years.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrmError {
    /// Worth retrying: the network, a timeout, 5xx, an HTML error page, 429,
    /// a temporary redirect.
    #[error("{message}")]
    Temporary {
        message: String,
        /// The CRM's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// A 429: the whole connection should slow down, not just this note.
        rate_limited: bool,
    },
    /// Retrying the same request cannot help (301, 308, 401, 403, 404, 422...).
    #[error("{message}")]
    Permanent { status: u16, message: String },
    /// Nothing was sent: the tenant's connection is at its request limit
    /// (or paused by a 429) for `wait` more. Not a failure.
    #[error("aguardando o limite de requisições do RD Station")]
    Wait { wait: Duration },
}

impl CrmError {
    pub fn temporary(message: impl Into<String>) -> CrmError {
        CrmError::Temporary {
            message: message.into(),
            retry_after: None,
            rate_limited: false,
        }
    }

    /// A request that got no answer. The URL (which carries v1's token) is
    /// left out of the message.
    pub fn network(e: reqwest::Error) -> CrmError {
        let what = if e.is_timeout() {
            "o RD Station não respondeu a tempo"
        } else if e.is_connect() {
            "não foi possível conectar ao RD Station"
        } else {
            "a conexão com o RD Station falhou"
        };
        CrmError::temporary(format!("{what} ({})", e.without_url()))
    }

    /// An answer that is not a success, read by status and body.
    pub fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> CrmError {
        let crm_message = message_of(body);
        let said = |default: &str| crm_message.clone().unwrap_or_else(|| default.to_owned());
        if status == StatusCode::TOO_MANY_REQUESTS {
            return CrmError::Temporary {
                message: format!(
                    "RD Station limitou as requisições (HTTP 429): {}",
                    said("limite de requisições por minuto")
                ),
                retry_after: retry_after(headers),
                rate_limited: true,
            };
        }
        if status.is_redirection() {
            return redirect(status, headers);
        }
        if status.is_server_error() || crm_message.is_none() && !status.is_client_error() {
            let body = match &crm_message {
                Some(m) => m.clone(),
                None if looks_like_html(body) => "página de erro em HTML".to_owned(),
                None => "resposta sem detalhes".to_owned(),
            };
            return CrmError::Temporary {
                message: format!("RD Station com erro (HTTP {}): {body}", status.as_u16()),
                retry_after: retry_after(headers),
                rate_limited: false,
            };
        }
        // 408 and 425 are about timing, not about the request.
        if matches!(status.as_u16(), 408 | 425) {
            return CrmError::temporary(format!(
                "RD Station não concluiu o pedido (HTTP {})",
                status.as_u16()
            ));
        }
        CrmError::Permanent {
            status: status.as_u16(),
            message: format!(
                "RD Station recusou (HTTP {}): {}",
                status.as_u16(),
                said("sem mensagem")
            ),
        }
    }
}

/// A redirect, which is never followed (v1's token is in the URL). A
/// permanent one (301, 308) says the configured address is wrong: retrying
/// it cannot help, so it stops the note until a manager fixes the address
/// and queues it again. Any other (302, 303, 307: the address is right but
/// busy elsewhere for now, as during a migration or behind a proxy) is
/// temporary and retried with the usual backoff. The target is shown
/// without its query, where the token may be copied.
fn redirect(status: StatusCode, headers: &HeaderMap) -> CrmError {
    let target = headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(redirect_target)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "um endereço não informado".to_owned());
    let code = status.as_u16();
    if matches!(
        status,
        StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
    ) {
        CrmError::Permanent {
            status: code,
            message: format!(
                "O RD Station respondeu com um redirecionamento permanente (HTTP {code}) para \
                 {target}; confira o endereço da API configurado para o RD Station."
            ),
        }
    } else {
        CrmError::Temporary {
            message: format!(
                "O RD Station respondeu com um redirecionamento temporário (HTTP {code}) para \
                 {target}; nova tentativa mais tarde."
            ),
            retry_after: retry_after(headers),
            rate_limited: false,
        }
    }
}

/// A `Location` without its query, fragment and credentials, printable
/// and short.
fn redirect_target(location: &str) -> String {
    let without_query = match reqwest::Url::parse(location) {
        Ok(mut url) => {
            url.set_query(None);
            url.set_fragment(None);
            // Only fails for URLs that cannot have credentials.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => location
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_owned(),
    };
    without_query
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The human part of an error body, in any of RD Station's shapes:
/// `{"error": "..."}`, `{"errors": {"error_message": "..."}}`,
/// `{"errors": {"field": ["..."]}}`, `{"errors": [{"detail": "..."}]}`,
/// OAuth2's `{"error_description": "..."}`.
fn message_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let text = if let Some(d) = value.get("error_description").and_then(Value::as_str) {
        d.to_owned()
    } else if let Some(e) = value.get("error").and_then(Value::as_str) {
        e.to_owned()
    } else {
        match value.get("errors")? {
            Value::Array(list) => list
                .iter()
                .filter_map(|e| {
                    e.get("detail")
                        .or_else(|| e.get("title"))
                        .and_then(Value::as_str)
                })
                .collect::<Vec<_>>()
                .join("; "),
            Value::Object(map) => match map.get("error_message").and_then(Value::as_str) {
                Some(m) => m.to_owned(),
                None => map
                    .iter()
                    .filter(|(k, _)| *k != "error_type")
                    .map(|(field, v)| {
                        let messages: Vec<&str> = match v {
                            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                            Value::String(s) => vec![s.as_str()],
                            _ => Vec::new(),
                        };
                        format!("{field} {}", messages.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            },
            Value::String(s) => s.clone(),
            _ => return None,
        }
    };
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    let clean = clean.trim().to_owned();
    (!clean.is_empty()).then_some(clean)
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&body[..body.len().min(256)]).to_ascii_lowercase();
    start.trim_start().starts_with('<')
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn read(status: u16, body: &str) -> CrmError {
        CrmError::from_response(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        )
    }

    #[test]
    fn permanent_redirects_stop_temporary_ones_are_retried() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LOCATION,
            HeaderValue::from_static(
                "https://user:pw@api.moved.example/api/v1/activities?token=abc123#x",
            ),
        );
        for status in [301, 308] {
            let error =
                CrmError::from_response(StatusCode::from_u16(status).unwrap(), &headers, b"{}");
            let CrmError::Permanent { status: s, message } = error else {
                panic!("{status}: {error:?}");
            };
            assert_eq!(s, status);
            assert_eq!(
                message,
                format!(
                    "O RD Station respondeu com um redirecionamento permanente (HTTP {status}) \
                     para https://api.moved.example/api/v1/activities; confira o endereço da \
                     API configurado para o RD Station."
                )
            );
        }
        for status in [302, 303, 307] {
            let error =
                CrmError::from_response(StatusCode::from_u16(status).unwrap(), &headers, b"");
            assert!(
                matches!(&error, CrmError::Temporary { message, rate_limited: false, .. }
                    if message.contains("redirecionamento temporário") && !message.contains("abc123")),
                "{status}: {error:?}"
            );
        }
        assert_eq!(redirect_target("/api/v1/x?token=abc"), "/api/v1/x");
        assert!(
            read(301, "")
                .to_string()
                .contains("para um endereço não informado;")
        );
    }

    #[test]
    fn rd_station_errors_are_sorted_and_keep_their_words() {
        assert_eq!(
            read(401, r#"{"error": "Permission denied."}"#),
            CrmError::Permanent {
                status: 401,
                message: "RD Station recusou (HTTP 401): Permission denied.".into()
            }
        );
        assert_eq!(
            read(404, r#"{"errors": {"error_type": "RESOURCE_NOT_FOUND", "error_message": "Deal not found."}}"#).to_string(),
            "RD Station recusou (HTTP 404): Deal not found."
        );
        assert_eq!(
            read(422, r#"{"errors": {"user_id": ["não é válido"]}}"#).to_string(),
            "RD Station recusou (HTTP 422): user_id não é válido"
        );
        assert_eq!(
            read(404, r#"{"errors": [{"status": "404", "code": "RESOURCE_NOT_FOUND", "detail": "The deal could not be found."}]}"#).to_string(),
            "RD Station recusou (HTTP 404): The deal could not be found."
        );
        assert!(matches!(
            read(403, r#"{"error": "forbidden"}"#),
            CrmError::Permanent { status: 403, .. }
        ));
        let html = read(500, "<!DOCTYPE html><html><body>We're sorry</body></html>");
        assert_eq!(
            html.to_string(),
            "RD Station com erro (HTTP 500): página de erro em HTML"
        );
        assert!(matches!(
            html,
            CrmError::Temporary {
                rate_limited: false,
                ..
            }
        ));
        assert!(matches!(read(503, ""), CrmError::Temporary { .. }));
    }

    #[test]
    fn a_429_slows_everything_down_for_as_long_as_asked() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let e = CrmError::from_response(
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            br#"{"errors": {"error_type": "RATE_LIMIT_EXCEDDED", "error_message": "API rate limit exceeded"}}"#,
        );
        assert_eq!(
            e,
            CrmError::Temporary {
                message: "RD Station limitou as requisições (HTTP 429): API rate limit exceeded"
                    .into(),
                retry_after: Some(Duration::from_secs(7)),
                rate_limited: true,
            }
        );
        let in_a_while = std::time::SystemTime::now() + Duration::from_secs(30);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(in_a_while)).unwrap(),
        );
        let CrmError::Temporary {
            retry_after: Some(wait),
            ..
        } = CrmError::from_response(StatusCode::TOO_MANY_REQUESTS, &headers, b"")
        else {
            panic!("a 429 is temporary");
        };
        assert!((28..=30).contains(&wait.as_secs()), "{wait:?}");
        headers.insert(RETRY_AFTER, HeaderValue::from_static("999999999999"));
        let CrmError::Temporary { retry_after, .. } =
            CrmError::from_response(StatusCode::TOO_MANY_REQUESTS, &headers, b"")
        else {
            panic!("a 429 is temporary");
        };
        assert_eq!(
            retry_after,
            Some(MAX_RETRY_AFTER),
            "absurd waits are capped"
        );
    }

    #[test]
    fn messages_are_one_short_clean_line() {
        let long = format!(r#"{{"error": "a\r\nb{}"}}"#, "x".repeat(1000));
        let e = read(400, &long);
        assert!(!e.to_string().contains('\n'));
        assert!(e.to_string().chars().count() < MAX_MESSAGE_CHARS + 40);
    }
}
