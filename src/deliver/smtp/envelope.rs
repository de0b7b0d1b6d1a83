//! The envelope of one email: MAIL, RCPT and DATA, up to the point where the server waits for the
//! message (354). Pipelined (RFC 2920) when the server offers it: the three commands go in one
//! write and their replies are read in order, one round trip instead of three; otherwise step by
//! step, each command waiting for its reply.
//!
//! Every reply of a pipelined group is read, even after a refusal, so that the connection stays in
//! step; the first refusal is the email's. A server that answers 354 to DATA although it refused
//! the sender or every recipient gets a lone `.` (an empty message with no recipient, which it
//! refuses or drops), as RFC 2920 section 3.1 says.

use std::fmt;
use std::sync::Arc;

use lettre::address::Envelope;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{Extension, MailParameter};

use super::connections::{Conn, Connections};
use super::judge::{closing, Stage, TryError};

/// MAIL, each RCPT and DATA, written as one.
struct Group {
    mail: Mail,
    rcpts: Vec<Rcpt>,
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each command ends with its own CRLF.
        write!(f, "{}", self.mail)?;
        for rcpt in &self.rcpts {
            write!(f, "{rcpt}")?;
        }
        write!(f, "{Data}")
    }
}

/// The end of an empty message, after a 354 that should not have come.
struct LoneDot;

impl fmt::Display for LoneDot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(".\r\n")
    }
}

impl Connections {
    /// MAIL, RCPT and DATA: up to the point where the server waits for the message.
    pub(super) async fn envelope(
        &self,
        conn: &mut Conn,
        envelope: &Envelope,
    ) -> Result<(), TryError> {
        let mut params = Vec::new();
        let non_ascii = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|a: &lettre::Address| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii {
            if !conn
                .smtp
                .server_info()
                .supports_feature(Extension::SmtpUtfEight)
            {
                return Err(TryError::Unsendable(
                    "the address is not ASCII and the server does not support SMTPUTF8".into(),
                ));
            }
            params.push(MailParameter::SmtpUtfEight);
        }
        let mail = Mail::new(envelope.from().cloned(), params);
        let rcpts: Vec<Rcpt> = envelope
            .to()
            .iter()
            .map(|to| Rcpt::new(to.clone(), Vec::new()))
            .collect();
        if conn.pipelining {
            return self.pipelined(conn, Group { mail, rcpts }).await;
        }
        self.step(Stage::Mail, conn.smtp.command(mail)).await?;
        for rcpt in rcpts {
            self.step(Stage::Rcpt, conn.smtp.command(rcpt)).await?;
        }
        self.step(Stage::Data, conn.smtp.command(Data)).await?;
        Ok(())
    }

    /// The group in one write, then its replies in order.
    async fn pipelined(&self, conn: &mut Conn, group: Group) -> Result<(), TryError> {
        let replies: Vec<Stage> = std::iter::repeat_n(Stage::Rcpt, group.rcpts.len())
            .chain([Stage::Data])
            .collect();
        // The write, then MAIL's reply.
        let mut refused = None;
        match self.step(Stage::Mail, conn.smtp.command(group)).await {
            Ok(_) => {}
            Err(e) if out_of_step(&e) => return Err(e),
            Err(e) => refused = Some(e),
        }
        for stage in replies {
            match self.step(stage, conn.smtp.read_response()).await {
                // 354 after a refusal: the server waits for a message that must not come.
                Ok(_) if stage == Stage::Data && refused.is_some() => {
                    match self.step(Stage::Data, conn.smtp.command(LoneDot)).await {
                        Err(e) if out_of_step(&e) => return Err(e),
                        _ => {}
                    }
                }
                Ok(_) => {}
                Err(e) if out_of_step(&e) => return Err(e),
                Err(e) => {
                    refused.get_or_insert(e);
                }
            }
        }
        refused.map_or(Ok(()), Err)
    }
}

/// No reply (the connection is gone or silent) or `421` (the server is closing it): the replies
/// that follow will not come, so the group is not read further.
fn out_of_step(e: &TryError) -> bool {
    match e {
        TryError::Smtp(_, e) => e.status().is_none() || closing(e),
        _ => true,
    }
}

/// Text written as it is, as one command (the stuffed message on a TLS connection).
pub(super) struct Verbatim<'a>(pub(super) &'a str);

impl fmt::Display for Verbatim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A message ready to go, dot-stuffed and ended ([`stuffed`]), as the connection writes it.
pub(super) enum Body {
    /// No TLS: written to the socket by us, in one write.
    Plain(Vec<u8>),
    /// Over TLS, as text: one command of lettre's.
    Text(String),
    /// Over TLS, 8-bit data that is not UTF-8 (unstuffed): lettre's own (slower) way.
    Raw(Arc<Vec<u8>>),
}

impl Body {
    /// `bytes`, the message, for a connection with TLS or without (`plain`).
    pub(super) fn of(plain: bool, bytes: Arc<Vec<u8>>) -> Body {
        let data = stuffed(&bytes);
        if plain {
            return Body::Plain(data);
        }
        match String::from_utf8(data) {
            Ok(text) => Body::Text(text),
            Err(_) => Body::Raw(bytes),
        }
    }
}

/// A message with its dots stuffed (RFC 5321 4.5.2: a line that starts with `.` gets another) and
/// the end of the data after it, to be written as one (lettre's `message` stuffs byte by byte, a
/// tenth of a run's time on loopback, and writes the end apart). The same bytes as lettre's.
pub(super) fn stuffed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 8);
    let mut from = 0;
    for dot in memchr::memchr_iter(b'.', body) {
        if dot == 0 || body[..dot].ends_with(b"\r\n") {
            out.extend_from_slice(&body[from..=dot]);
            out.push(b'.');
            from = dot + 1;
        }
    }
    out.extend_from_slice(&body[from..]);
    out.extend_from_slice(b"\r\n.\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::stuffed;

    #[test]
    fn dots_at_line_starts_are_doubled_and_the_end_follows() {
        let cases = [
            ("a.b\r\n.c\r\n..d\r\n", "a.b\r\n..c\r\n...d\r\n\r\n.\r\n"),
            (".x", "..x\r\n.\r\n"),
            ("x\n.y\r.z", "x\n.y\r.z\r\n.\r\n"),
            ("", "\r\n.\r\n"),
            ("\r\n.", "\r\n..\r\n.\r\n"),
        ];
        for (body, wire) in cases {
            assert_eq!(stuffed(body.as_bytes()), wire.as_bytes(), "{body:?}");
        }
    }
}
