//! Outgoing e-mail over SMTP (lettre): invitations and password resets.
//! Plain text only; one connection per message (a few a day), each bounded
//! by `[mail] timeout_secs`. Without `[mail] smtp_host` there is no
//! [`Mailer`], and whoever made a link is shown it to send.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::configuration::{MailSecurity, MailSettings};

/// Sends messages through the configured SMTP server; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail settings: {0}")]
    Settings(String),
    #[error("invalid recipient {0:?}")]
    Recipient(String),
    #[error("the SMTP server did not take the message: {0}")]
    Send(String),
}

impl Mailer {
    /// The mailer `settings` describe, or `None` when no SMTP server is
    /// configured.
    pub fn from_settings(settings: &MailSettings) -> Result<Option<Mailer>, MailError> {
        let Some(host) = settings.smtp_host.as_deref() else {
            return Ok(None);
        };
        let settings_error = |e: lettre::transport::smtp::Error| MailError::Settings(e.to_string());
        let builder = match settings.security {
            MailSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(settings_error)?,
            MailSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(settings_error)?
            }
            MailSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder
            .port(settings.smtp_port)
            .timeout(Some(settings.timeout));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|e| MailError::Settings(format!("mail.from: {e}")))?;
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
        }))
    }

    /// Sends `body` (plain text) to `to`.
    pub async fn send(
        &self,
        to_name: &str,
        to: &str,
        subject: &str,
        body: String,
    ) -> Result<(), MailError> {
        let address = to
            .parse()
            .map_err(|_| MailError::Recipient(to.to_owned()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(Some(to_name.to_owned()), address))
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Send(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Send(e.to_string()))?;
        Ok(())
    }
}
