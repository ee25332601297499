//! A small POP3 client (RFC 1939, STLS of RFC 2595, AUTH of RFC 5034 with PLAIN and XOAUTH2).
//!
//! Why our own: the one POP3 crate for tokio, `async-pop` (1.1), has no `STLS` command and ties TLS
//! to `async-native-tls` or the deprecated `async-rustls` (rustls 0.21), so it cannot do the
//! `starttls` variants nor share our rustls. POP3 is a handful of line commands, so this client
//! is a thin layer on a tested line codec (`tokio_util::codec::AnyDelimiterCodec`, lines up to
//! 1 MiB, bytes not UTF-8): the pure parts (status lines, multi-line answers and their
//! dot-unstuffing, `STAT`, `UIDL`) are functions with unit tests below.
//!
//! How it fails: `-ERR` answers become [`FetchError::Protocol`] (or [`FetchError::Auth`] during
//! login) with the server's text; a closed connection or a timeout is [`FetchError::Connect`].
//! Deletions (`DELE`) only take effect at `QUIT`: a connection lost before it deletes nothing.

use crate::tls::{Stream, TlsSettings};
use crate::{Credentials, FetchError};
use base64::Engine;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use postern_model::{Encryption, FetchAuth};
use std::time::Duration;
use tokio_util::codec::{AnyDelimiterCodec, Framed};

/// Longest line accepted (the reference allows 64 KiB; some mailers write longer lines).
const MAX_LINE: usize = 1 << 20;
/// One command and its answer must complete within this time.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// A logged-in POP3 session.
pub(crate) struct Pop3 {
    conn: Framed<Stream, AnyDelimiterCodec>,
    host: String,
}

fn codec() -> AnyDelimiterCodec {
    AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\r\n".to_vec(), MAX_LINE)
}

impl Pop3 {
    /// Connects, secures the connection as `encryption` says, and logs in.
    pub(crate) async fn connect(
        host: &str,
        port: u16,
        encryption: Encryption,
        tls: &TlsSettings,
        creds: Credentials,
    ) -> Result<Pop3, FetchError> {
        let (stream, starttls) = tls.open(host, port, encryption).await?;
        let mut pop = Pop3 {
            conn: Framed::new(stream, codec()),
            host: host.to_owned(),
        };
        pop.status().await?; // greeting
        if let Some(verify) = starttls {
            pop = pop.stls(tls, verify).await?;
        }
        pop.login(&creds).await?;
        Ok(pop)
    }

    async fn stls(self, tls: &TlsSettings, verify: bool) -> Result<Pop3, FetchError> {
        let mut pop = self;
        pop.command("STLS").await?;
        let parts = pop.conn.into_parts();
        if !parts.read_buf.is_empty() {
            return Err(FetchError::Protocol(
                "the server sent data after STLS, before the TLS handshake".into(),
            ));
        }
        let Stream::Plain(tcp) = parts.io else {
            return Err(FetchError::Protocol(
                "STLS on an encrypted connection".into(),
            ));
        };
        let stream = tls.handshake(tcp, &pop.host, verify).await?;
        Ok(Pop3 {
            conn: Framed::new(stream, codec()),
            host: pop.host,
        })
    }

    async fn login(&mut self, creds: &Credentials) -> Result<(), FetchError> {
        let refused = |e: FetchError| match e {
            FetchError::Protocol(m) => FetchError::Auth(m),
            other => other,
        };
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        match creds.auth {
            FetchAuth::Login => {
                self.command(&format!("USER {}", creds.username))
                    .await
                    .map_err(refused)?;
                self.command(&format!("PASS {}", creds.secret.expose()))
                    .await
                    .map_err(refused)?;
            }
            FetchAuth::Plain => {
                let ir = b64(format!("\0{}\0{}", creds.username, creds.secret.expose()).as_bytes());
                self.command(&format!("AUTH PLAIN {ir}"))
                    .await
                    .map_err(refused)?;
            }
            FetchAuth::Xoauth2 | FetchAuth::Oauth => {
                let ir = b64(creds.xoauth2().as_bytes());
                self.send(&format!("AUTH XOAUTH2 {ir}")).await?;
                let mut line = self.line().await?;
                if is_challenge(&line) {
                    // the error details as a challenge: answer empty to get the final -ERR
                    self.send("").await?;
                    line = self.line().await?;
                }
                status_of(&line).map_err(refused)?;
            }
        }
        Ok(())
    }

    /// `(count, size)` of the mailbox.
    pub(crate) async fn stat(&mut self) -> Result<(u32, u64), FetchError> {
        let line = self.command("STAT").await?;
        parse_pair(&line, "STAT answer")
    }

    /// The unique id of every message, by message number.
    pub(crate) async fn uidl(&mut self) -> Result<Vec<(u32, String)>, FetchError> {
        self.command("UIDL").await?;
        let lines = self.multiline().await?;
        lines.iter().map(|l| parse_uidl_line(l)).collect()
    }

    /// The size of every message, by message number (`LIST`), in one command.
    pub(crate) async fn list(&mut self) -> Result<Vec<(u32, u64)>, FetchError> {
        self.command("LIST").await?;
        let lines = self.multiline().await?;
        lines
            .iter()
            .map(|l| parse_pair(&String::from_utf8_lossy(l), "LIST line"))
            .collect()
    }

    /// The message `n`, with CRLF line ends.
    pub(crate) async fn retr(&mut self, n: u32) -> Result<Vec<u8>, FetchError> {
        self.command(&format!("RETR {n}")).await?;
        let lines = self.multiline().await?;
        Ok(join_lines(&lines))
    }

    /// Marks message `n` deleted (done at [`Pop3::quit`]).
    pub(crate) async fn dele(&mut self, n: u32) -> Result<(), FetchError> {
        self.command(&format!("DELE {n}")).await.map(drop)
    }

    /// Ends the session: the server deletes the messages marked.
    pub(crate) async fn quit(mut self) -> Result<(), FetchError> {
        self.command("QUIT").await.map(drop)
    }

    async fn send(&mut self, line: &str) -> Result<(), FetchError> {
        tokio::time::timeout(COMMAND_TIMEOUT, self.conn.send(line))
            .await
            .map_err(|_| self.lost("timed out writing"))?
            .map_err(|e| self.lost(&e.to_string()))
    }

    async fn line(&mut self) -> Result<Bytes, FetchError> {
        match tokio::time::timeout(COMMAND_TIMEOUT, self.conn.next()).await {
            Err(_) => Err(self.lost("timed out waiting for the server")),
            Ok(None) => Err(self.lost("connection closed by the server")),
            Ok(Some(Err(e))) => Err(self.lost(&e.to_string())),
            Ok(Some(Ok(line))) => Ok(line),
        }
    }

    fn lost(&self, what: &str) -> FetchError {
        FetchError::Connect(format!("POP3 {}: {what}", self.host))
    }

    /// Reads a status line; `-ERR` is an error with the server's text.
    async fn status(&mut self) -> Result<String, FetchError> {
        let line = self.line().await?;
        status_of(&line)
    }

    async fn command(&mut self, command: &str) -> Result<String, FetchError> {
        self.send(command).await?;
        self.status().await
    }

    async fn multiline(&mut self) -> Result<Vec<Bytes>, FetchError> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            match unstuff(&line) {
                None => return Ok(lines),
                Some(l) => lines.push(l),
            }
        }
    }
}

/// The text after `+OK`, or the `-ERR` line as an error.
fn status_of(line: &[u8]) -> Result<String, FetchError> {
    let text = String::from_utf8_lossy(trim_cr(line)).into_owned();
    if let Some(rest) = text.strip_prefix("+OK") {
        Ok(rest.trim_start().to_owned())
    } else if text.starts_with("-ERR") {
        Err(FetchError::Protocol(text))
    } else {
        Err(FetchError::Protocol(format!(
            "unexpected answer `{}`",
            text.chars().take(200).collect::<String>()
        )))
    }
}

/// A SASL continuation (`+ data` or a bare `+`), not `+OK`.
fn is_challenge(line: &[u8]) -> bool {
    let l = trim_cr(line);
    l == b"+" || l.starts_with(b"+ ")
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One line of a multi-line answer without its line end and dot-stuffing; `None` for the
/// terminating `.`.
fn unstuff(line: &Bytes) -> Option<Bytes> {
    let l = trim_cr(line);
    if l == b"." {
        return None;
    }
    let start = usize::from(l.starts_with(b".."));
    Some(line.slice(start..l.len()))
}

fn join_lines(lines: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 2).sum());
    for l in lines {
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `STAT`'s answer (`count size`) or a `LIST` line (`n size`).
fn parse_pair(text: &str, what: &str) -> Result<(u32, u64), FetchError> {
    let mut it = text.split_whitespace();
    let n = it.next().and_then(|c| c.parse().ok());
    let size = it.next().and_then(|s| s.parse().ok());
    match (n, size) {
        (Some(n), Some(s)) => Ok((n, s)),
        _ => Err(FetchError::Protocol(format!("bad {what} `{text}`"))),
    }
}

fn parse_uidl_line(line: &[u8]) -> Result<(u32, String), FetchError> {
    let text = String::from_utf8_lossy(line);
    let mut it = text.split_whitespace();
    match (it.next().and_then(|n| n.parse().ok()), it.next()) {
        (Some(n), Some(uid)) => Ok((n, uid.to_owned())),
        _ => Err(FetchError::Protocol(format!("bad UIDL line `{text}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::Decoder;

    fn decode_all(input: &[u8]) -> Vec<Bytes> {
        let mut codec = codec();
        let mut buf = bytes::BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(line) = codec.decode(&mut buf).unwrap() {
            out.push(line);
        }
        out
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_of(b"+OK Dovecot ready.\r").unwrap(),
            "Dovecot ready."
        );
        assert_eq!(status_of(b"+OK").unwrap(), "");
        let e = status_of(b"-ERR [AUTH] Authentication failed.\r").unwrap_err();
        assert!(
            matches!(&e, FetchError::Protocol(m) if m == "-ERR [AUTH] Authentication failed."),
            "{e:?}"
        );
        assert!(status_of(b"* OK imap").is_err());
        assert!(is_challenge(b"+ eyJzdGF0dXMiOiI0MDEifQ==\r"));
        assert!(is_challenge(b"+\r"));
        assert!(!is_challenge(b"+OK Logged in.\r"));
    }

    #[test]
    fn multiline_answers_are_unstuffed_and_end_at_the_dot() {
        let wire = b"Subject: x\r\n\r\n..hidden dot\r\n.\r\n...\r\nbare lf line\n.\r\n+OK next\r\n";
        let lines = decode_all(wire);
        let mut got = Vec::new();
        for l in &lines {
            match unstuff(l) {
                Some(l) => got.push(l),
                None => break,
            }
        }
        assert_eq!(join_lines(&got), b"Subject: x\r\n\r\n.hidden dot\r\n");
        // after the first terminator come the rest: `...` unstuffs to `..`
        assert_eq!(unstuff(&lines[4]).unwrap().as_ref(), b"..");
        assert_eq!(unstuff(&lines[5]).unwrap().as_ref(), b"bare lf line");
        assert!(unstuff(&lines[6]).is_none());
    }

    #[test]
    fn lines_are_bytes_not_text() {
        let lines = decode_all(b"caf\xe9 latin-1\r\n");
        assert_eq!(unstuff(&lines[0]).unwrap().as_ref(), b"caf\xe9 latin-1");
    }

    #[test]
    fn too_long_lines_are_an_error() {
        let mut codec = codec();
        let mut buf = bytes::BytesMut::from(&vec![b'a'; MAX_LINE + 10][..]);
        assert!(codec.decode(&mut buf).is_err());
    }

    #[test]
    fn stat_and_uidl() {
        assert_eq!(parse_pair("2 320", "STAT answer").unwrap(), (2, 320));
        assert!(parse_pair("two", "STAT answer").is_err());
        assert_eq!(parse_pair("3 1200", "LIST line").unwrap(), (3, 1200));
        assert!(parse_pair("3", "LIST line").is_err());
        assert_eq!(
            parse_uidl_line(b"1 00000001abc").unwrap(),
            (1, "00000001abc".to_owned())
        );
        assert!(parse_uidl_line(b"x").is_err());
    }
}
