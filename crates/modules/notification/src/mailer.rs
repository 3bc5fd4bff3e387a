//! Sending a stored message to the configured SMTP server, with `lettre`. Plain SMTP without TLS:
//! the connection, and the credentials if any, are not encrypted.

use std::time::Duration;

use comptoir_contracts::notification::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::SmtpConfig;

/// A server that accepts the connection but stops answering must not hold a handler for long.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

impl Mailer {
    /// Prepares the transport; nothing connects until a message is sent.
    pub(crate) fn new(smtp: &SmtpConfig, from: &str) -> Mailer {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .timeout(Some(SEND_TIMEOUT));
        if let Some(username) = &smtp.username {
            builder =
                builder.credentials(Credentials::new(username.clone(), smtp.password.clone().unwrap_or_default()));
        }
        Mailer { transport: builder.build(), from: from.to_string() }
    }

    /// Sends one message; the error is the reason it was not accepted, to keep with the message.
    pub(crate) async fn send(&self, message: &Message) -> Result<(), String> {
        let from: Mailbox =
            self.from.parse().map_err(|e| format!("the sender address {:?} is not valid: {e}", self.from))?;
        let to: Mailbox =
            message.to.parse().map_err(|e| format!("the recipient address {:?} is not valid: {e}", message.to))?;
        // The message id ties what the recipient got to the mailbox row.
        let message_id = format!("<{}@{}>", message.id, from.email.domain());
        let email = lettre::Message::builder()
            .message_id(Some(message_id))
            .from(from)
            .to(to)
            .subject(message.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone())
            .map_err(|e| format!("the message could not be written: {e}"))?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| format!("SMTP delivery failed: {e}"))
    }
}
