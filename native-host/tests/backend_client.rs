//! The backend client against a scripted server: which failures are retried,
//! that a retried call creation carries the same Idempotency-Key, and how
//! answers that did not come from the Disca backend are reported.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use disca_host::backend::{BackendClient, BackendError, BackendUrl};
use disca_protocol::CallContext;
use disca_protocol::api::CreateCallRequest;
use serde_json::json;
use zeroize::Zeroizing;

/// Serves `POST /v1/calls` with `script`'s answers in turn, recording each
/// request's Idempotency-Key.
async fn scripted(script: Vec<Response>) -> (BackendClient, Arc<Mutex<Vec<String>>>) {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(script.into_iter()));
    let seen = keys.clone();
    let app = Router::new().route(
        "/v1/calls",
        post(move |headers: HeaderMap| {
            let (script, seen) = (script.clone(), seen.clone());
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().unwrap().push(key);
                script
                    .lock()
                    .unwrap()
                    .next()
                    .unwrap_or_else(|| StatusCode::GONE.into_response())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = BackendClient::new(
        BackendUrl::parse(&base).unwrap(),
        &Zeroizing::new(format!("disca_{}", "ab".repeat(32))),
    )
    .unwrap();
    (client, keys)
}

fn call() -> serde_json::Value {
    json!({"id": "0193a1b2-0000-7000-8000-000000000001", "tenant": "acme", "user_id": "u1",
        "agent_endpoint": "acme-1001", "to": "+5511987654321", "state": "queued",
        "created_at": "2026-11-21T12:00:00Z", "context": {}})
}

fn request() -> CreateCallRequest {
    CreateCallRequest {
        to: "+5511987654321".into(),
        context: CallContext::default(),
    }
}

#[tokio::test]
async fn a_gateway_error_is_retried_with_the_same_idempotency_key() {
    let (client, keys) = scripted(vec![
        (StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>").into_response(),
        (StatusCode::SERVICE_UNAVAILABLE, "<html>restarting</html>").into_response(),
        (StatusCode::CREATED, axum::Json(call())).into_response(),
    ])
    .await;
    let placed = client.start_call(&request(), "click-1").await.unwrap();
    assert_eq!(placed.id, "0193a1b2-0000-7000-8000-000000000001");
    assert_eq!(*keys.lock().unwrap(), vec!["click-1"; 3]);
}

#[tokio::test]
async fn the_backends_own_errors_are_final_and_keep_their_message() {
    let pbx_down = json!({"error": {"code": "pbx_unavailable",
        "message": "A central telefônica está fora do ar. Tente novamente em instantes."}});
    let (client, keys) = scripted(vec![
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(pbx_down)).into_response(),
    ])
    .await;
    let error = client.start_call(&request(), "click-2").await.unwrap_err();
    let BackendError::Api { status, detail } = &error else {
        panic!("{error:?}")
    };
    assert_eq!((*status, detail.code.as_str()), (503, "pbx_unavailable"));
    assert!(error.to_host_error().message.contains("central telefônica"));
    assert_eq!(keys.lock().unwrap().len(), 1, "a final answer was retried");
}

#[tokio::test]
async fn answers_not_from_the_backend_are_reported_as_unreachable() {
    let (client, keys) = scripted(vec![
        (StatusCode::BAD_GATEWAY, "<html>1</html>").into_response(),
        (StatusCode::BAD_GATEWAY, "<html>2</html>").into_response(),
        (StatusCode::GATEWAY_TIMEOUT, "<html>3</html>").into_response(),
        (StatusCode::CREATED, axum::Json(call())).into_response(),
    ])
    .await;
    let error = client.start_call(&request(), "click-3").await.unwrap_err();
    assert!(matches!(error, BackendError::Unreachable(_)), "{error:?}");
    assert_eq!(
        keys.lock().unwrap().len(),
        3,
        "three attempts, then give up"
    );

    let (client, _) = scripted(vec![
        (StatusCode::INTERNAL_SERVER_ERROR, "<html>oops</html>").into_response(),
    ])
    .await;
    let error = client.start_call(&request(), "click-4").await.unwrap_err();
    assert!(matches!(error, BackendError::Unreachable(_)), "{error:?}");

    let (client, _) = scripted(vec![(StatusCode::UNAUTHORIZED, "").into_response()]).await;
    let error = client.start_call(&request(), "click-5").await.unwrap_err();
    assert!(matches!(error, BackendError::Unauthorized), "{error:?}");
}
