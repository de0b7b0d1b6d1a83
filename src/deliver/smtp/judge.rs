//! One failed try over SMTP, and how it is judged by where it happened: a refused recipient fails that
//! email, a refused login or sender stops the run, a connection lost after the message leaves it in
//! doubt.

/// Where in the SMTP exchange a try failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Connect, greeting, EHLO, STARTTLS, AUTH.
    Connect,
    /// MAIL FROM: the sender.
    Mail,
    /// RCPT TO: the recipient.
    Rcpt,
    /// The DATA command.
    Data,
    /// The message and its final dot: from here on the server may have the email.
    Message,
}

/// A failed try.
#[derive(Debug)]
pub(super) enum TryError {
    /// lettre's error (a reply, or the connection) at a stage.
    Smtp(Stage, lettre::transport::smtp::Error),
    /// No answer within the timeout at a stage.
    Timeout(Stage),
    /// Connecting failed.
    Connect(String),
    /// This email cannot go to this server (e.g. a non-ASCII address without SMTPUTF8).
    Unsendable(String),
    /// The run was asked to stop before the message was sent: the server has nothing of it.
    Stopped,
    /// The caller, asked when a connection was ready, withdrew the email: nothing was sent.
    Withdrawn,
    /// The connection failed under a write of ours (no reply to judge) at a stage.
    Lost(Stage, String),
    /// After 354, before the message went, the server closed the connection or said something
    /// (it is going away): nothing of the email reached it.
    OutOfTurn,
}

impl TryError {
    /// The connection was found gone before the message (no reply at all, `421`, or closed
    /// after 354): the server has nothing of the email.
    pub(super) fn connection_gone(&self) -> bool {
        match self {
            TryError::Smtp(Stage::Message, _) => false,
            TryError::Smtp(_, e) => e.status().is_none() || closing(e),
            TryError::OutOfTurn => true,
            _ => false,
        }
    }
}

/// `421`: the server is closing the connection.
pub(super) fn closing(e: &lettre::transport::smtp::Error) -> bool {
    e.status().is_some_and(|code| code.to_string() == "421")
}

impl std::fmt::Display for TryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryError::Smtp(_, e) => e.fmt(f),
            TryError::Timeout(stage) => write!(f, "no answer within the timeout ({stage:?})"),
            TryError::Connect(e) | TryError::Unsendable(e) => f.write_str(e),
            TryError::Lost(_, e) => write!(f, "network error: {e}"),
            TryError::Stopped => f.write_str("the run was asked to stop"),
            TryError::Withdrawn => f.write_str("withdrawn before its transaction"),
            TryError::OutOfTurn => f.write_str(
                "the server closed the connection after DATA, before the message was sent",
            ),
        }
    }
}

/// How one failed try is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// 5xx for this email (recipient, data): recorded as failed.
    Permanent,
    /// 4xx for this email: try again.
    Temporary,
    /// The server or the connection: try again, then stop the run.
    Server,
    /// The server refuses us (login, sender, 5xx before the recipient), or we cannot work with it
    /// (no common authentication mechanism, TLS): stop the run now.
    Refused,
    /// The connection was lost after the message was sent: the server may have accepted it.
    InDoubt,
    /// This email cannot go to this server.
    Unsendable,
    /// The run is stopping: this try ended before its message was sent.
    Stopped,
}

pub(super) fn classify(e: &TryError) -> Kind {
    let (stage, e) = match e {
        TryError::Smtp(stage, e) => (*stage, e),
        TryError::Timeout(Stage::Message) | TryError::Lost(Stage::Message, _) => {
            return Kind::InDoubt
        }
        TryError::Lost(_, _) => return Kind::Server,
        TryError::Timeout(_) | TryError::Connect(_) | TryError::OutOfTurn => return Kind::Server,
        TryError::Unsendable(_) => return Kind::Unsendable,
        TryError::Stopped | TryError::Withdrawn => return Kind::Stopped,
    };
    let code = e.status().map(|c| c.to_string());
    match (code.as_deref(), stage) {
        // Authentication required / failed / too weak / encryption required.
        (Some("530" | "534" | "535" | "538"), _) => Kind::Refused,
        // Service not available, closing the channel.
        (Some("421"), _) => Kind::Server,
        (Some(_), Stage::Connect | Stage::Mail) if e.is_permanent() => Kind::Refused,
        (Some(_), Stage::Connect | Stage::Mail) => Kind::Server,
        (Some(_), _) if e.is_permanent() => Kind::Permanent,
        (Some(_), _) => Kind::Temporary,
        (None, Stage::Message) => Kind::InDoubt,
        (None, _) if e.is_client() || e.is_tls() => Kind::Refused,
        (None, _) => Kind::Server,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_judged_by_where_they_happen() {
        // lettre's reply errors cannot be built outside lettre; replies at each stage (451, 421,
        // 535, 550 to MAIL and to RCPT) are covered by the fault-server tests in tests/it/smtp.rs.
        assert_eq!(classify(&TryError::Timeout(Stage::Message)), Kind::InDoubt);
        assert_eq!(classify(&TryError::Timeout(Stage::Rcpt)), Kind::Server);
        assert_eq!(classify(&TryError::Connect("refused".into())), Kind::Server);
        assert_eq!(classify(&TryError::Stopped), Kind::Stopped);
        assert_eq!(
            classify(&TryError::Unsendable("x".into())),
            Kind::Unsendable
        );
    }
}
