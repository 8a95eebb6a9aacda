//! The host as Chrome runs it: `disca-host chrome-extension://<id>/` with the
//! port on stdin/stdout. stdout carries frames only; logs go to a file.
//!
//! Frames are read one after another; a malformed one gets an `error` reply
//! naming the problem and the next is read. Requests that need the backend
//! run concurrently, so a slow backend never delays `status.get`. The port
//! closing (stdin at its end) ends the process.

use std::sync::Arc;
use std::time::Duration;

use disca_protocol::native::{Envelope, ErrorCode, HostError, HostMessage, Request, RequestBody};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::config::{HostConfig, MachineConfig, Paths};
use crate::framing::{EncodeError, FrameProblem, Incoming, NativeMessagingCodec};
use crate::relay;
use crate::session::Session;
use crate::telemetry::LogThrottle;

/// Requests needing the backend that may run at once; more are refused (an
/// extension in a loop must not turn the host into a flood).
const MAX_IN_FLIGHT: usize = 16;

/// Longest wait for a first request before the relay starts anyway.
const RELAY_DELAY: Duration = Duration::from_millis(100);

/// How long, after the port closed, replies still in progress may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Log lines about malformed or refused input per minute; the rest are
/// counted and summed up in one line.
const MALFORMED_LOGS_PER_MINUTE: u32 = 20;
const MINUTE: Duration = Duration::from_secs(60);

/// Why serving ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The browser closed the port.
    PortClosed,
    /// The caller is not the extension this host was installed for.
    OriginRefused,
    /// stdin or stdout failed.
    Io,
}

/// Serves one port until it closes.
pub async fn serve<R, W>(origin: &str, paths: Paths, input: R, output: W) -> Ended
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (outbox, outgoing) = mpsc::unbounded_channel();
    let first_written = Arc::new(tokio::sync::Notify::new());
    let writer = tokio::spawn(write_frames(outgoing, output, first_written.clone()));
    let config = match HostConfig::load(&paths) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the host settings");
            HostConfig::default()
        }
    };
    let machine = MachineConfig::load();
    if !config.allows(origin) && !machine.allows(origin) {
        tracing::error!(origin, allowed = ?config.allowed_origins, machine = ?machine.allowed_origins, "refusing a caller this host was not installed for");
        let _ = outbox.send(HostMessage::Error {
            id: None,
            error: HostError {
                code: ErrorCode::OriginNotAllowed,
                message: "Este disca-host não foi instalado para esta extensão. Rode: disca-host install --extension-id <id da extensão>".into(),
            },
        });
        drop(outbox);
        let _ = writer.await;
        return Ended::OriginRefused;
    }
    tracing::info!(origin, "port opened");
    let session = Arc::new(Session::new(paths, &config, machine.backend_url, outbox));
    // Also when nobody is logged in yet: the relay tells the extension so,
    // and picks up a `login` made while the port is open. It starts once the
    // first frame is written (or after RELAY_DELAY): building the backend
    // client (the system's root certificates) takes a few milliseconds of
    // CPU that the answer to the extension's first request should not
    // compete with.
    let relay = {
        let session = session.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(RELAY_DELAY, first_written.notified()).await;
            relay::follow(&session).await
        })
    };

    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut frames = FramedRead::new(input, NativeMessagingCodec::default());
    // The browser side can send malformed messages as fast as it likes:
    // each gets its error reply, but only a few get a log line.
    let mut malformed = LogThrottle::new("malformed messages", MALFORMED_LOGS_PER_MINUTE, MINUTE);
    let ended = loop {
        match frames.next().await {
            None => break Ended::PortClosed,
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot read stdin");
                break Ended::Io;
            }
            Some(Ok(Incoming::Invalid(problem))) => {
                if malformed.allow() {
                    tracing::warn!(%problem, "malformed frame");
                }
                session.send(HostMessage::Error {
                    id: None,
                    error: frame_error(&problem),
                });
            }
            Some(Ok(Incoming::Message(value))) => match Request::parse(value) {
                Err(refused) => {
                    if malformed.allow() {
                        tracing::warn!(code = ?refused.code, detail = %refused.detail, "request refused");
                    }
                    session.send(HostMessage::Error {
                        id: refused.id,
                        error: HostError {
                            code: refused.code,
                            message: format!("Mensagem inválida: {}", refused.detail),
                        },
                    });
                }
                Ok(request) if request.body == RequestBody::StatusGet => {
                    session.handle(request).await;
                }
                Ok(request) => match in_flight.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let session = session.clone();
                        tokio::spawn(async move {
                            session.handle(request).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        if malformed.allow() {
                            tracing::warn!("too many requests in flight; refusing one");
                        }
                        session.send(HostMessage::Error {
                            id: Some(request.id),
                            error: HostError {
                                code: ErrorCode::RateLimited,
                                message: "Muitas solicitações ao mesmo tempo. Aguarde um instante e tente de novo.".into(),
                            },
                        });
                    }
                },
            },
        }
    };
    malformed.finish();
    tracing::info!(?ended, "port closed");
    relay.abort();
    // Let the writer send what is queued (replies still being computed get a
    // moment to finish); it stops once every sender is gone.
    drop(session);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, writer).await;
    ended
}

fn frame_error(problem: &FrameProblem) -> HostError {
    let (code, message) = match problem {
        FrameProblem::TooLarge { len, max } => (
            ErrorCode::FrameTooLarge,
            format!("Mensagem grande demais: {len} bytes, o limite é {max}."),
        ),
        FrameProblem::InvalidUtf8 { valid_up_to } => (
            ErrorCode::InvalidUtf8,
            format!("Mensagem não é UTF-8 válido (byte {valid_up_to})."),
        ),
        FrameProblem::InvalidJson(detail) => (
            ErrorCode::InvalidJson,
            format!("Mensagem não é JSON válido: {detail}"),
        ),
        FrameProblem::Truncated { got, expected } => (
            ErrorCode::TruncatedFrame,
            format!("A entrada terminou no meio de uma mensagem ({got} de {expected} bytes)."),
        ),
    };
    HostError { code, message }
}

/// Writes each message as one frame, flushed at once. A message over the
/// browser's limit is replaced by an error reply (Chrome would close the
/// port on it). Each frame written is signalled on `first_written` (only the
/// first matters).
async fn write_frames<W: AsyncWrite + Unpin>(
    mut outgoing: mpsc::UnboundedReceiver<HostMessage>,
    output: W,
    first_written: Arc<tokio::sync::Notify>,
) {
    let mut frames = FramedWrite::new(output, NativeMessagingCodec::default());
    while let Some(message) = outgoing.recv().await {
        let envelope = Envelope::from(message);
        match frames.send(&envelope).await {
            // notify_one keeps the permit if nobody waits yet.
            Ok(()) => first_written.notify_one(),
            Err(problem @ (EncodeError::TooLarge { .. } | EncodeError::Serialize(_))) => {
                tracing::error!(%problem, "message not sent");
                let id = match envelope.message {
                    HostMessage::CallStarted { id, .. }
                    | HostMessage::HangupRequested { id, .. }
                    | HostMessage::Status { id, .. }
                    | HostMessage::RecentCalls { id, .. } => Some(id),
                    HostMessage::Error { id, .. } => id,
                    _ => continue,
                };
                let message = match problem {
                    EncodeError::TooLarge { .. } => {
                        "A resposta passou do limite de 1 MB do navegador."
                    }
                    _ => "A resposta do disca-host não pôde ser enviada.",
                };
                let error = Envelope::from(HostMessage::Error {
                    id,
                    error: HostError {
                        code: ErrorCode::ReplyTooLarge,
                        message: message.into(),
                    },
                });
                if frames.send(&error).await.is_err() {
                    return;
                }
            }
            Err(EncodeError::Io(e)) => {
                // The browser is gone; stdin ends next.
                tracing::error!(error = %e, "cannot write stdout");
                return;
            }
        }
    }
}
