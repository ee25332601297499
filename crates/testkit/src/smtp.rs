//! A plain SMTP client that says exactly what a test tells it to (no EHLO of its own, no
//! dot-stuffing it was not asked for): for tests of what a listener answers to a client that
//! misbehaves, or to mail that a library would refuse to send.

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The longest wait for one reply: a guard against a hung test, not a measure.
const WAIT: Duration = Duration::from_secs(120);

/// One connection.
pub struct Smtp {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Smtp {
    /// Connects to `addr` and reads the greeting (or the refusal of the connection).
    pub async fn connect(addr: &str) -> (Smtp, String) {
        let stream = TcpStream::connect(addr).await.expect("connect to SMTP");
        let (read, write) = stream.into_split();
        let mut c = Smtp {
            read: BufReader::new(read),
            write,
        };
        let greeting = c.reply().await;
        (c, greeting)
    }

    /// Connects and says `EHLO client.test`.
    pub async fn ehlo(addr: &str) -> Smtp {
        let (mut c, greeting) = Smtp::connect(addr).await;
        assert!(greeting.starts_with("220"), "{greeting}");
        let ehlo = c.command("EHLO client.test").await;
        assert!(ehlo.starts_with("250"), "{ehlo}");
        c
    }

    /// The next reply, all its lines joined with `\n`; `""` when the server closed.
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(WAIT, self.read.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap_or(0);
            if n == 0 {
                return lines.join("\n");
            }
            let line = line.trim_end().to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Sends `line` and CRLF.
    pub async fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\r\n").as_bytes()).await;
    }

    /// Sends bytes as they are (a write error is ignored: the server may have closed).
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = self.write.write_all(bytes).await;
    }

    /// Sends `line`, then reads the reply.
    pub async fn command(&mut self, line: &str) -> String {
        self.send_line(line).await;
        self.reply().await
    }

    /// `MAIL FROM`, each `RCPT TO` (each must be accepted), `DATA`, the message dot-stuffed and
    /// its end: the reply to the data.
    pub async fn mail(&mut self, from: &str, to: &[&str], raw: &[u8]) -> String {
        let r = self.command(&format!("MAIL FROM:<{from}>")).await;
        assert!(r.starts_with("250"), "MAIL: {r}");
        for rcpt in to {
            let r = self.command(&format!("RCPT TO:<{rcpt}>")).await;
            assert!(r.starts_with("250"), "RCPT {rcpt}: {r}");
        }
        let r = self.command("DATA").await;
        assert!(r.starts_with("354"), "DATA: {r}");
        self.send(&dot_stuffed(raw)).await;
        self.reply().await
    }
}

/// `raw` as DATA sends it: every line starting with a dot gets another, CRLF line ends, and
/// the end of data.
pub fn dot_stuffed(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut line_start = true;
    for &b in raw {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        line_start = b == b'\n';
        out.push(b);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
