//! Opening a connection and logging in with the MD5 challenge, so the secret never
//! crosses the wire.

use futures::{SinkExt, StreamExt};
use md5::{Digest, Md5};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::action::Action;
use crate::client::{Config, Shared};
use crate::codec::AmiCodec;
use crate::error::AmiError;
use crate::message::{Message, MessageKind};

/// A connection that is logged in.
pub(crate) type Connection = Framed<TcpStream, AmiCodec>;

/// Connects to `config.addr` and logs in: `Challenge` (`AuthType: MD5`), then `Login`
/// with `Key = lowercase hex md5(challenge + secret)`.
pub(crate) async fn connect(shared: &Shared) -> Result<Connection, AmiError> {
    let config = &shared.config;
    let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(&config.addr))
        .await
        .map_err(|_| AmiError::Timeout)??;
    stream.set_nodelay(true)?;
    let mut connection = Framed::new(stream, AmiCodec::new());

    let challenge = Action::new("Challenge")?.header("AuthType", "MD5")?;
    let response = exchange(&mut connection, shared, challenge).await?;
    let challenge = response
        .get("Challenge")
        .ok_or_else(|| AmiError::Protocol("Challenge answered without a challenge".into()))?;

    let login = Action::new("Login")?
        .header("AuthType", "MD5")?
        .header("Username", &config.username)?
        .header("Key", &challenge_key(challenge, &config.secret))?;
    exchange(&mut connection, shared, login).await?;
    Ok(connection)
}

/// `Key` of the MD5 login.
pub(crate) fn challenge_key(challenge: &str, secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(challenge.as_bytes());
    md5.update(secret.as_bytes());
    hex::encode(md5.finalize())
}

/// Sends `action` and reads until its response; before login Asterisk sends nothing else.
async fn exchange(
    connection: &mut Connection,
    shared: &Shared,
    action: Action,
) -> Result<Message, AmiError> {
    let id = shared.next_action_id();
    connection.send(action.action_id(&id)?).await?;
    let config: &Config = &shared.config;
    let read = async {
        while let Some(message) = connection.next().await {
            let message = message?;
            if message.kind() == MessageKind::Response && message.action_id() == Some(&id) {
                return Ok(message);
            }
            tracing::debug!(?message, "AMI message before login ignored");
        }
        Err(AmiError::Disconnected)
    };
    let response = tokio::time::timeout(config.response_timeout, read)
        .await
        .map_err(|_| AmiError::Timeout)??;
    if response
        .response()
        .is_some_and(|r| r.eq_ignore_ascii_case("Success"))
    {
        Ok(response)
    } else {
        Err(AmiError::Rejected {
            message: response.get("Message").unwrap_or_default().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_lowercase_hex_md5_of_challenge_then_secret() {
        // md5("123456789mysecret")
        assert_eq!(
            challenge_key("123456789", "mysecret"),
            "aba26d296bb0ae595d7c90fb8e38e67e"
        );
    }
}
