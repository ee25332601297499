//! One SMTP or LMTP session: reads what the client sends, lets smtp-proto's receivers parse it
//! (`RequestReceiver` for commands, `DataReceiver` for DATA, `BdatReceiver` for CHUNKING,
//! `DummyDataReceiver` to drain what is refused), and answers.
//!
//! Actors: the client (trusted for nothing), the gateway (asked at `RCPT` whether the address
//! is ours, and given the message after the data; its answer is the reply, so a `250` means
//! stored), the server loop (a shutdown signal).
//!
//! Pipelining (RFC 2920): every reply to the commands of one read is collected and written in
//! one go before the next read; nothing is written while there is input left to process.
//!
//! How it fails: every error is a reply. A timeout or a shutdown while waiting for a command
//! is `421` and the connection is closed; a client that disconnects during the data leaves
//! nothing behind (the message is handed to the gateway only once complete). Settings read:
//! everything in [`SmtpConfig`].

use crate::config::SmtpConfig;
use crate::reply::{self, Reply};
use crate::spool::Spool;
use crate::trace;
use postern_gateway::{AcceptError, DsnRequest, Envelope};
use postern_gateway::{Gateway, RcptVerdict, Received};
use postern_model::Source;
use smtp_proto::request::receiver::{
    BdatReceiver, DataReceiver, DummyDataReceiver, MAX_LINE_LENGTH, RequestReceiver,
};
use smtp_proto::{MAIL_BODY_BINARYMIME, MAIL_REQUIRETLS, MAIL_SMTPUTF8, Request};
use std::io;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::slice::Iter;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Duration, Instant, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

/// Checking recipients against the store, logged once per outage (each RCPT at info).
static RCPT_CHECK: postern_store::Outage = postern_store::Outage::new("checking recipients");

/// Spooling a large message's data to the data directory, logged once per outage.
static SPOOLING: postern_store::Outage = postern_store::Outage::new("spooling message data");

/// Bytes read at once.
const READ_BUFFER: usize = 64 * 1024;

/// What every session of one listener shares.
pub(crate) struct Shared {
    pub config: SmtpConfig,
    pub gateway: Gateway,
    pub budget: crate::spool::Budget,
    pub tls: Option<TlsAcceptor>,
}

/// Who is on the other end.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// The IP address (TCP).
    pub ip: Option<IpAddr>,
    /// For the log and the stored raw message: the IP address, or `unix`.
    pub text: String,
}

/// Serves one connection until it ends; never panics on input, never returns an error (an
/// I/O error ends the session and is logged).
pub(crate) async fn serve<S>(
    shared: Arc<Shared>,
    stream: S,
    peer: Peer,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let span = tracing::info_span!("session", peer = %peer.text);
    async move {
        tracing::debug!("connected");
        let mut session = Session::new(&shared, &peer, shutdown);
        if let Err(e) = session.run(stream).await {
            tracing::debug!(error = %e, "connection error");
        }
        tracing::debug!("disconnected");
    }
    .instrument(span)
    .await
}

/// What the session does after a batch of input.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
    StartTls,
}

/// What the bytes that arrive are.
enum Mode {
    /// Commands.
    Command,
    /// The rest of a line already refused (too long, or a syntax error before its end).
    SkipLine,
    /// DATA.
    Data(DataReceiver),
    /// DATA that cannot be taken (over the size limit, or the spool failed): read to its end,
    /// thrown away, then answered with this reply.
    DataDrain(DummyDataReceiver, Reply),
    /// A BDAT chunk.
    Bdat(BdatReceiver),
    /// A refused BDAT chunk, thrown away; then this reply (`bool`: it was the last).
    BdatDrain(DummyDataReceiver, Reply, bool),
}

/// One mail transaction: from `MAIL` to the end of the data (or `RSET`).
#[derive(Default)]
struct Transaction {
    /// `MAIL FROM` (`""` for the null sender); `None` before `MAIL`.
    mail_from: Option<String>,
    /// The accepted recipients, in order (LMTP answers each after the data).
    rcpt_to: Vec<String>,
    /// `SMTPUTF8` was given.
    smtputf8: bool,
    /// The message so far.
    spool: Spool,
    /// BDAT was used (DATA is then out of sequence).
    bdat: bool,
    /// The size the message will have at the end of the current BDAT chunk.
    bdat_end: usize,
    /// A BDAT chunk was refused: the reply every later chunk of this message gets.
    bdat_failed: Option<Reply>,
    /// What the client asked of delivery status notifications (RFC 3461).
    dsn: DsnRequest,
}

struct Session<'a> {
    shared: &'a Shared,
    config: &'a SmtpConfig,
    peer: &'a Peer,
    shutdown: watch::Receiver<bool>,
    requests: RequestReceiver,
    mode: Mode,
    helo: Option<String>,
    esmtp: bool,
    tls: bool,
    tx: Transaction,
    bad_commands: usize,
    /// Command lines read, good or bad, since the session began or the last message's data
    /// arrived (see `SmtpConfig::max_commands`).
    commands: usize,
    deadline: Instant,
}

/// What a wait for input gave.
enum Input {
    Bytes(usize),
    Eof,
    Timeout,
    Shutdown,
}

impl<'a> Session<'a> {
    fn new(shared: &'a Shared, peer: &'a Peer, shutdown: watch::Receiver<bool>) -> Session<'a> {
        Session {
            shared,
            config: &shared.config,
            peer,
            shutdown,
            requests: RequestReceiver::default(),
            mode: Mode::Command,
            helo: None,
            esmtp: false,
            tls: false,
            tx: Transaction::default(),
            bad_commands: 0,
            commands: 0,
            deadline: Instant::now() + shared.config.session_timeout,
        }
    }

    /// Greeting, commands, maybe STARTTLS and commands again, then close.
    async fn run<S>(&mut self, mut stream: S) -> io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let word = if self.config.lmtp { "LMTP" } else { "ESMTP" };
        let greeting = Reply::plain(220, format!("{} {word} Postern", self.config.hostname));
        let mut out = Vec::new();
        greeting.write_to(&mut out);
        self.write(&mut stream, &out).await?;
        if self.drive(&mut stream).await? != Flow::StartTls {
            close(&mut stream).await;
            return Ok(());
        }
        let Some(acceptor) = self.shared.tls.clone() else {
            return Ok(());
        };
        let handshake = timeout_at(self.input_deadline(), acceptor.accept(stream)).await;
        let mut stream = match handshake {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::info!(error = %e, "TLS handshake failed");
                return Ok(());
            }
            Err(_) => {
                tracing::info!("TLS handshake timed out");
                return Ok(());
            }
        };
        self.start_over_tls();
        self.drive(&mut stream).await?;
        close(&mut stream).await;
        Ok(())
    }

    /// RFC 3207 §4.2: after the handshake the client starts again from EHLO, and nothing it
    /// said before counts.
    fn start_over_tls(&mut self) {
        tracing::debug!("TLS established");
        self.tls = true;
        self.helo = None;
        self.esmtp = false;
        self.tx = Transaction::default();
        self.requests = RequestReceiver::default();
        self.mode = Mode::Command;
    }

    /// Reads and answers batch after batch until the session ends or asks for TLS.
    async fn drive<S>(&mut self, stream: &mut S) -> io::Result<Flow>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            let n = match self.read(stream, &mut buf).await? {
                Input::Bytes(n) => n,
                Input::Eof => {
                    if self.in_data() {
                        tracing::info!(
                            size = self.tx.spool.len(),
                            "client disconnected during the data: nothing stored"
                        );
                    }
                    return Ok(Flow::Close);
                }
                Input::Timeout => {
                    let why = if Instant::now() >= self.deadline {
                        "session too long"
                    } else {
                        "timeout waiting for input"
                    };
                    tracing::info!(in_data = self.in_data(), "{why}: closing");
                    let text = format!("{} {why}, closing connection", self.config.hostname);
                    self.send_and_close(stream, Reply::new(421, (4, 4, 2), text))
                        .await;
                    return Ok(Flow::Close);
                }
                Input::Shutdown => {
                    let text = format!("{} shutting down, try again later", self.config.hostname);
                    self.send_and_close(stream, Reply::new(421, (4, 3, 2), text))
                        .await;
                    return Ok(Flow::Close);
                }
            };
            let mut out = Vec::new();
            let flow = self.ingest(&buf[..n], &mut out).await;
            self.write(stream, &out).await?;
            if flow != Flow::Continue {
                // After STARTTLS anything the client sent in the same batch is dropped
                // (RFC 3207 §5, command injection): `buf` goes out of scope here.
                return Ok(flow);
            }
        }
    }

    fn in_data(&self) -> bool {
        !matches!(self.mode, Mode::Command | Mode::SkipLine)
    }

    /// The earlier of the per-command and the per-session deadlines.
    fn input_deadline(&self) -> Instant {
        (Instant::now() + self.config.command_timeout).min(self.deadline)
    }

    /// Waits for input. A shutdown interrupts the wait between commands only: a message whose
    /// data is arriving is finished first.
    async fn read<S>(&mut self, stream: &mut S, buf: &mut [u8]) -> io::Result<Input>
    where
        S: AsyncRead + Unpin,
    {
        let idle = !self.in_data();
        if idle && *self.shutdown.borrow() {
            return Ok(Input::Shutdown);
        }
        let deadline = self.input_deadline();
        tokio::select! {
            r = timeout_at(deadline, stream.read(buf)) => match r {
                Err(_) => Ok(Input::Timeout),
                Ok(Ok(0)) => Ok(Input::Eof),
                Ok(Ok(n)) => Ok(Input::Bytes(n)),
                Ok(Err(e)) => Err(e),
            },
            _ = self.shutdown.changed(), if idle => Ok(Input::Shutdown),
        }
    }

    async fn write<S>(&self, stream: &mut S, out: &[u8]) -> io::Result<()>
    where
        S: AsyncWrite + Unpin,
    {
        if out.is_empty() {
            return Ok(());
        }
        let write = async {
            stream.write_all(out).await?;
            stream.flush().await
        };
        match timeout(self.config.command_timeout, write).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    async fn send_and_close<S>(&self, stream: &mut S, reply: Reply)
    where
        S: AsyncWrite + Unpin,
    {
        let mut out = Vec::new();
        reply.write_to(&mut out);
        let _ = timeout(Duration::from_secs(5), self.write(stream, &out)).await;
    }

    /// Processes one batch of input; the replies go to `out`.
    ///
    /// Each step takes the mode out of the session (leaving [`Mode::Command`]), reads what it
    /// can in that mode and sets the mode that follows, putting its receiver back when it
    /// needs more input; it breaks with the flow to return when the batch is done with.
    async fn ingest(&mut self, input: &[u8], out: &mut Vec<u8>) -> Flow {
        let mut bytes = input.iter();
        loop {
            let step = match std::mem::replace(&mut self.mode, Mode::Command) {
                Mode::SkipLine => self.skip_line(&mut bytes),
                Mode::Data(receiver) => self.ingest_data(receiver, &mut bytes, out).await,
                Mode::DataDrain(receiver, reply) => {
                    self.drain_data(receiver, reply, &mut bytes, out)
                }
                Mode::Bdat(receiver) => self.ingest_bdat(receiver, &mut bytes, out).await,
                Mode::BdatDrain(receiver, reply, last) => {
                    self.drain_bdat(receiver, reply, last, &mut bytes, out)
                }
                Mode::Command => self.ingest_command(&mut bytes, out).await,
            };
            if let ControlFlow::Break(flow) = step {
                return flow;
            }
        }
    }

    /// Throws away the rest of a refused line, then reads commands again.
    fn skip_line(&mut self, bytes: &mut Iter<'_, u8>) -> ControlFlow<Flow> {
        let rest = bytes.as_slice();
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            self.mode = Mode::SkipLine;
            return ControlFlow::Break(Flow::Continue);
        };
        *bytes = rest[end + 1..].iter();
        ControlFlow::Continue(())
    }

    /// Spools DATA; over the size limit, or when the spool fails, the rest is drained and
    /// refused; at the end of the data the message is delivered.
    async fn ingest_data(
        &mut self,
        mut receiver: DataReceiver,
        bytes: &mut Iter<'_, u8>,
        out: &mut Vec<u8>,
    ) -> ControlFlow<Flow> {
        let done = receiver.ingest(bytes, self.tx.spool.buf());
        if done && self.tx.spool.buf().last() == Some(&b'\r') {
            return self.bare_cr_end(out);
        }
        let failed = if self.tx.spool.len() > self.config.max_message_size {
            Some(too_big(self.config))
        } else {
            spill(&mut self.tx.spool, self.config).await
        };
        if let Some(reply) = failed {
            let drain = DummyDataReceiver::new_data(&receiver);
            self.tx.spool = Spool::default();
            if done {
                self.end_refused(&reply, out);
            } else {
                self.mode = Mode::DataDrain(drain, reply);
            }
            return ControlFlow::Continue(());
        }
        if !done {
            self.mode = Mode::Data(receiver);
            return ControlFlow::Break(Flow::Continue);
        }
        self.deliver(out).await;
        ControlFlow::Continue(())
    }

    /// smtp-proto ends DATA at CRLF `.` CR... CRLF as well as at CRLF `.` CRLF, and then leaves
    /// the last CR in the message (found by the fuzz target `smtp_data`). RFC 5321 §4.1.1.4
    /// ends data at CRLF `.` CRLF only: a sender and Postern that disagree on where a message
    /// ends are the ground of SMTP smuggling, so the message is refused and nothing after it
    /// is read as commands (the session ends).
    fn bare_cr_end(&mut self, out: &mut Vec<u8>) -> ControlFlow<Flow> {
        tracing::warn!("end of data with a bare carriage return: refused, closing");
        self.tx = Transaction::default();
        let text = format!(
            "{} a bare CR before the end of data (CRLF . CR CRLF) ends no message: refused, \
             closing connection",
            self.config.hostname
        );
        Reply::new(554, (5, 5, 2), text).write_to(out);
        ControlFlow::Break(Flow::Close)
    }

    /// Throws away refused DATA; at its end, the refusal.
    fn drain_data(
        &mut self,
        mut receiver: DummyDataReceiver,
        reply: Reply,
        bytes: &mut Iter<'_, u8>,
        out: &mut Vec<u8>,
    ) -> ControlFlow<Flow> {
        if !receiver.ingest(bytes) {
            self.mode = Mode::DataDrain(receiver, reply);
            return ControlFlow::Break(Flow::Continue);
        }
        self.end_refused(&reply, out);
        ControlFlow::Continue(())
    }

    /// Spools a BDAT chunk; when the spool fails, the rest of the chunk is drained and
    /// refused; at the end of the chunk, its reply (the message delivered after the last).
    async fn ingest_bdat(
        &mut self,
        mut receiver: BdatReceiver,
        bytes: &mut Iter<'_, u8>,
        out: &mut Vec<u8>,
    ) -> ControlFlow<Flow> {
        let done = receiver.ingest(bytes, self.tx.spool.buf());
        let last = receiver.is_last;
        if let Some(reply) = spill(&mut self.tx.spool, self.config).await {
            // The rest of this chunk is read and thrown away; the reply (and that of every
            // later chunk) is the failure.
            let rest = self.tx.bdat_end.saturating_sub(self.tx.spool.len());
            self.tx.bdat_failed = Some(reply.clone());
            self.tx.spool = Spool::default();
            self.mode = Mode::BdatDrain(DummyDataReceiver::new_bdat(rest), reply, last);
            return ControlFlow::Continue(());
        }
        if !done {
            self.mode = Mode::Bdat(receiver);
            return ControlFlow::Break(Flow::Continue);
        }
        if last {
            self.deliver(out).await;
        } else {
            let text = format!("{} octets received", self.tx.spool.len());
            Reply::new(250, (2, 0, 0), text).write_to(out);
        }
        ControlFlow::Continue(())
    }

    /// Throws away a refused BDAT chunk; at its end, the refusal (of the whole message after
    /// the last chunk of a transaction).
    fn drain_bdat(
        &mut self,
        mut receiver: DummyDataReceiver,
        reply: Reply,
        last: bool,
        bytes: &mut Iter<'_, u8>,
        out: &mut Vec<u8>,
    ) -> ControlFlow<Flow> {
        if !receiver.ingest(bytes) {
            self.mode = Mode::BdatDrain(receiver, reply, last);
            return ControlFlow::Break(Flow::Continue);
        }
        if last && self.tx.mail_from.is_some() {
            self.end_refused(&reply, out);
        } else {
            reply.write_to(out);
        }
        ControlFlow::Continue(())
    }

    /// Parses and answers one command; a line that cannot be parsed is refused (and its rest
    /// skipped when it is not complete yet).
    async fn ingest_command(
        &mut self,
        bytes: &mut Iter<'_, u8>,
        out: &mut Vec<u8>,
    ) -> ControlFlow<Flow> {
        let before = bytes.as_slice();
        if before.is_empty() {
            return ControlFlow::Break(Flow::Continue);
        }
        let parsed = self.requests.ingest(bytes).map(Request::into_owned);
        let consumed = &before[..before.len() - bytes.as_slice().len()];
        if !matches!(parsed, Err(smtp_proto::Error::NeedsMoreData { .. })) {
            self.commands += 1;
            if self.commands > self.config.max_commands {
                tracing::info!(count = self.commands, "too many commands: closing");
                let text = format!(
                    "{} too many commands in one session, closing connection",
                    self.config.hostname
                );
                Reply::new(421, (4, 7, 0), text).write_to(out);
                return ControlFlow::Break(Flow::Close);
            }
        }
        let flow = match parsed {
            Err(smtp_proto::Error::NeedsMoreData { .. }) => {
                return ControlFlow::Break(Flow::Continue);
            }
            Err(e) => {
                if consumed.last() != Some(&b'\n') {
                    self.mode = Mode::SkipLine;
                }
                self.refuse(reply::parse_error(&e), out)
            }
            // A whole line in one read escapes smtp-proto's buffer limit.
            Ok(_) if consumed.len() > MAX_LINE_LENGTH => {
                self.refuse(reply::parse_error(&smtp_proto::Error::ResponseTooLong), out)
            }
            // smtp-proto gives `<>` as it gives `<Postmaster>`: an empty address.
            Ok(Request::Rcpt { to })
                if to.address.is_empty() && consumed.windows(2).any(|w| w == b"<>") =>
            {
                self.refuse(
                    Reply::new(501, (5, 1, 3), "a null path is not a recipient"),
                    out,
                )
            }
            Ok(request) => self.command(request, out).await,
        };
        if flow == Flow::Continue {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(flow)
        }
    }

    /// Writes a refusal of a command and counts it; past the limit, the session ends.
    fn refuse(&mut self, reply: Reply, out: &mut Vec<u8>) -> Flow {
        reply.write_to(out);
        self.bad_commands += 1;
        if self.bad_commands >= self.config.max_bad_commands {
            tracing::info!(count = self.bad_commands, "too many bad commands: closing");
            let text = format!(
                "{} too many errors, closing connection",
                self.config.hostname
            );
            Reply::new(421, (4, 7, 0), text).write_to(out);
            return Flow::Close;
        }
        Flow::Continue
    }

    async fn command(&mut self, request: Request<String>, out: &mut Vec<u8>) -> Flow {
        match request {
            Request::Ehlo { .. } | Request::Helo { .. } if self.config.lmtp => self.refuse(
                Reply::new(500, (5, 5, 1), "this is an LMTP server: use LHLO"),
                out,
            ),
            Request::Lhlo { .. } if !self.config.lmtp => self.refuse(
                Reply::new(500, (5, 5, 1), "this is an SMTP server: use EHLO"),
                out,
            ),
            Request::Ehlo { host } | Request::Lhlo { host } => {
                self.hello(host, true);
                out.extend_from_slice(self.ehlo_reply().as_bytes());
                Flow::Continue
            }
            Request::Helo { host } => {
                self.hello(host, false);
                Reply::plain(250, self.config.hostname.clone()).write_to(out);
                Flow::Continue
            }
            Request::Mail { from } => self.mail(from, out),
            Request::Rcpt { to } => {
                let success = to.flags & smtp_proto::RCPT_NOTIFY_SUCCESS != 0;
                let orcpt = to.orcpt.map(|o| format!("rfc822;{o}"));
                let accepted = self.tx.rcpt_to.len();
                let flow = self.rcpt(to.address, out).await;
                if success && self.tx.rcpt_to.len() > accepted {
                    let rcpt = self.tx.rcpt_to[accepted].clone();
                    self.tx.dsn.success.push((rcpt, orcpt));
                }
                flow
            }
            Request::Data => self.data(out),
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last),
            Request::StartTls => self.start_tls(out),
            Request::Rset => {
                self.tx = Transaction::default();
                Reply::new(250, (2, 0, 0), "OK").write_to(out);
                Flow::Continue
            }
            Request::Noop { .. } => {
                Reply::new(250, (2, 0, 0), "OK").write_to(out);
                Flow::Continue
            }
            Request::Quit => {
                Reply::new(
                    221,
                    (2, 0, 0),
                    format!("{} closing connection", self.config.hostname),
                )
                .write_to(out);
                Flow::Close
            }
            Request::Vrfy { .. } => {
                Reply::new(252, (2, 5, 0), "cannot VRFY, but will accept the message")
                    .write_to(out);
                Flow::Continue
            }
            Request::Help { .. } => {
                Reply::new(214, (2, 0, 0), "Postern, an e-mail gateway: see RFC 5321")
                    .write_to(out);
                Flow::Continue
            }
            Request::Auth { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => {
                self.refuse(Reply::new(502, (5, 5, 1), "command not implemented"), out)
            }
        }
    }

    fn hello(&mut self, host: String, esmtp: bool) {
        self.helo = Some(host);
        self.esmtp = esmtp;
        self.tx = Transaction::default();
    }

    /// The EHLO/LHLO reply: what we offer.
    fn ehlo_reply(&self) -> String {
        let mut lines = vec![
            format!("{} Postern", self.config.hostname),
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.config.max_message_size),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
            "CHUNKING".to_owned(),
            // RFC 3461: NOTIFY, ORCPT, ENVID and RET are taken; a recipient that asks for
            // SUCCESS gets a "delivered" report once the message is stored.
            "DSN".to_owned(),
        ];
        if self.shared.tls.is_some() && !self.tls {
            lines.push("STARTTLS".to_owned());
        }
        let last = lines.len() - 1;
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
            .collect()
    }

    fn mail(&mut self, from: smtp_proto::MailFrom<String>, out: &mut Vec<u8>) -> Flow {
        if self.helo.is_none() {
            let hello = if self.config.lmtp { "LHLO" } else { "EHLO" };
            return self.refuse(
                Reply::new(503, (5, 5, 1), format!("send {hello} first")),
                out,
            );
        }
        if self.tx.mail_from.is_some() {
            return self.refuse(Reply::new(503, (5, 5, 1), "sender already given"), out);
        }
        if from.size > self.config.max_message_size {
            Reply::new(
                552,
                (5, 3, 4),
                format!(
                    "message size exceeds the maximum of {} bytes",
                    self.config.max_message_size
                ),
            )
            .write_to(out);
            return Flow::Continue;
        }
        if from.flags & (MAIL_BODY_BINARYMIME | MAIL_REQUIRETLS) != 0 {
            return self.refuse(
                Reply::new(
                    555,
                    (5, 5, 4),
                    "BODY=BINARYMIME and REQUIRETLS are not supported",
                ),
                out,
            );
        }
        let smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
        if !smtputf8 && !from.address.is_ascii() {
            return self.refuse(
                Reply::new(553, (5, 6, 7), "a non-ASCII address needs SMTPUTF8"),
                out,
            );
        }
        self.tx = Transaction {
            mail_from: Some(from.address),
            smtputf8,
            dsn: DsnRequest {
                env_id: from.env_id,
                success: Vec::new(),
            },
            ..Transaction::default()
        };
        Reply::new(250, (2, 1, 0), "sender OK").write_to(out);
        Flow::Continue
    }

    async fn rcpt(&mut self, address: String, out: &mut Vec<u8>) -> Flow {
        if self.tx.mail_from.is_none() {
            return self.refuse(Reply::new(503, (5, 5, 1), "need MAIL before RCPT"), out);
        }
        if self.tx.bdat {
            return self.refuse(Reply::new(503, (5, 5, 1), "RCPT after BDAT"), out);
        }
        if self.tx.rcpt_to.len() >= self.config.max_recipients {
            Reply::new(452, (4, 5, 3), "too many recipients").write_to(out);
            return Flow::Continue;
        }
        if !self.tx.smtputf8 && !address.is_ascii() {
            return self.refuse(
                Reply::new(553, (5, 6, 7), "a non-ASCII address needs SMTPUTF8"),
                out,
            );
        }
        let logged = address.clone();
        let gateway = &self.shared.gateway;
        // smtp-proto gives `<Postmaster>` without a domain (RFC 5321 §4.5.1: to be accepted) as
        // an empty address (`<>`, which it gives the same way, is refused before).
        let checked = async {
            let address = match address.is_empty() {
                true => gateway
                    .postmaster()
                    .await?
                    .unwrap_or_else(|| "postmaster".into()),
                false => address,
            };
            let verdict = gateway
                .check_recipient(&address, self.config.recipient_check)
                .await;
            verdict.map(|v| (address, v))
        }
        .await;
        if checked.is_ok() {
            RCPT_CHECK.ok();
        }
        match checked {
            Ok((address, RcptVerdict::Accept)) => {
                self.tx.rcpt_to.push(address);
                Reply::new(250, (2, 1, 5), "recipient OK").write_to(out);
                Flow::Continue
            }
            Ok((address, RcptVerdict::NotOurs)) => {
                tracing::info!(rcpt = %address, "relaying denied");
                self.refuse(Reply::new(550, (5, 7, 1), "relaying denied"), out)
            }
            Ok((address, RcptVerdict::NoSuchUser)) => {
                tracing::info!(rcpt = %address, "no such recipient");
                self.refuse(Reply::new(550, (5, 1, 1), "no such recipient here"), out)
            }
            Err(e) => {
                // the store failing is said once (`RCPT_CHECK`); each recipient at info
                RCPT_CHECK.failed(&e);
                tracing::info!(error = %e, rcpt = %logged, "recipient check failed");
                Reply::new(451, (4, 3, 0), "temporary failure, try again later").write_to(out);
                Flow::Continue
            }
        }
    }

    /// Checks that a message may start (DATA or the first BDAT).
    fn message_may_start(&self) -> Option<Reply> {
        if self.tx.mail_from.is_none() {
            return Some(Reply::new(503, (5, 5, 1), "need MAIL first"));
        }
        if self.tx.rcpt_to.is_empty() {
            return Some(Reply::new(554, (5, 5, 1), "no valid recipients"));
        }
        None
    }

    fn data(&mut self, out: &mut Vec<u8>) -> Flow {
        if let Some(reply) = self.message_may_start() {
            return self.refuse(reply, out);
        }
        if self.tx.bdat {
            return self.refuse(Reply::new(503, (5, 5, 1), "DATA after BDAT"), out);
        }
        let (receiver, primer) = start_data();
        let skip = primer.len();
        self.tx.spool = Spool::primed(primer, skip);
        self.mode = Mode::Data(receiver);
        Reply::plain(354, "end data with <CR><LF>.<CR><LF>").write_to(out);
        Flow::Continue
    }

    /// BDAT (RFC 3030): the chunk is read whatever happens; a refused one is thrown away.
    fn bdat(&mut self, chunk_size: usize, is_last: bool) -> Flow {
        let refusal = self
            .message_may_start()
            .or_else(|| self.tx.bdat_failed.clone())
            .or_else(|| {
                let total = self.tx.spool.len().saturating_add(chunk_size);
                (total > self.config.max_message_size).then(|| size_reply(self.config))
            });
        match refusal {
            Some(reply) => {
                if self.tx.mail_from.is_some() && !self.tx.rcpt_to.is_empty() {
                    self.tx.bdat_failed = Some(reply.clone());
                    self.tx.spool = Spool::default();
                } else {
                    self.bad_commands += 1;
                }
                let drain = DummyDataReceiver::new_bdat(chunk_size);
                self.mode = Mode::BdatDrain(drain, reply, is_last);
            }
            None => {
                self.tx.bdat = true;
                self.tx.bdat_end = self.tx.spool.len() + chunk_size;
                self.mode = Mode::Bdat(BdatReceiver::new(chunk_size, is_last));
            }
        }
        Flow::Continue
    }

    fn start_tls(&mut self, out: &mut Vec<u8>) -> Flow {
        if self.tls {
            return self.refuse(Reply::new(503, (5, 5, 1), "TLS already active"), out);
        }
        if self.shared.tls.is_none() {
            return self.refuse(Reply::new(502, (5, 5, 1), "STARTTLS not available"), out);
        }
        Reply::new(220, (2, 0, 0), "ready to start TLS").write_to(out);
        Flow::StartTls
    }

    /// A message that was read to its end and dropped gets its refusal.
    fn end_refused(&mut self, reply: &Reply, out: &mut Vec<u8>) {
        let rcpts = self.tx.rcpt_to.len();
        self.tx = Transaction::default();
        message_reply(reply, self.config.lmtp, rcpts, out);
    }
}

fn size_reply(config: &SmtpConfig) -> Reply {
    Reply::new(
        552,
        (5, 3, 4),
        format!(
            "message exceeds the maximum size of {} bytes",
            config.max_message_size
        ),
    )
}

/// The message went over the size limit: the reply it will get once read to its end.
fn too_big(config: &SmtpConfig) -> Reply {
    tracing::info!(
        max = config.max_message_size,
        "message over the size limit: refused"
    );
    size_reply(config)
}

/// Moves a message's data to its spool file when it has grown large; `Some` reply (`451`, the
/// sender retries) when that fails.
async fn spill(spool: &mut Spool, config: &SmtpConfig) -> Option<Reply> {
    let dir = config.spool_dir();
    match spool.spill(&dir).await {
        Ok(()) => {
            SPOOLING.ok();
            None
        }
        Err(e) => {
            // a full disk: said once per outage, each message at info
            SPOOLING.failed(&e);
            tracing::info!(error = %e, dir = %dir.display(), "cannot spool the message's data");
            Some(Reply::new(
                451,
                (4, 3, 0),
                "temporary failure storing the data, try again later",
            ))
        }
    }
}

/// The reply to a whole message: once in SMTP, once per accepted recipient in LMTP (RFC 2033
/// §4.2).
///
/// LMTP choice: the message is given to the gateway **once**, with every recipient in its
/// envelope, and each recipient gets the reply of that one call. The gateway routes a message
/// as a whole (all its recipients together decide the records, as for a message that came
/// through a pipe or a mailbox) and deduplicates by Message-ID, so a call per recipient would
/// store the message for the first one and make every later one a "duplicate" that routes
/// nowhere.
fn message_reply(reply: &Reply, lmtp: bool, rcpts: usize, out: &mut Vec<u8>) {
    let times = if lmtp { rcpts.max(1) } else { 1 };
    for _ in 0..times {
        reply.write_to(out);
    }
}

/// A `DataReceiver` primed with the CRLF that ended the DATA command line.
///
/// smtp-proto's receiver starts as if in the middle of a line, so on its own it would neither
/// end an empty message (`.` CRLF right after DATA) nor un-stuff a first line that begins with
/// a dot. The CRLF it is primed with lands at the start of the body; `ingest` removes it.
fn start_data() -> (DataReceiver, Vec<u8>) {
    let mut receiver = DataReceiver::new();
    let mut body = Vec::new();
    let done = receiver.ingest(&mut b"\r\n".iter(), &mut body);
    debug_assert!(!done && body == b"\r\n");
    (receiver, body)
}

/// Our id of a message (the `id` of `Received:`, the log, the 250 reply).
fn queue_id() -> String {
    postern_store::random_hex(8).to_ascii_uppercase()
}

/// Ends the connection politely (TLS close_notify), without waiting long for a peer that does
/// not read.
async fn close<S: AsyncWrite + Unpin>(stream: &mut S) {
    let _ = timeout(Duration::from_secs(5), stream.shutdown()).await;
}

mod deliver;
#[cfg(test)]
mod tests;
