//! The SMTP client used for delivery and for the connection test (behaviour reference §9.6).
//!
//! Built on mail-send's low-level `SmtpClient` rather than lettre (rust-stack.md §3): mail-send
//! exposes the whole EHLO answer (SIZE, PIPELINING), every AUTH mechanism including XOAUTH2, a
//! rustls connector we can choose (strict or lax certificate checks), and commands one by one,
//! so a refused recipient does not abort the message for the others. lettre's `send_raw`
//! aborts the whole message on the first refused RCPT and knows neither SIZE nor PIPELINING.
//!
//! What this file adds, and why it is not left to the crate: the TCP stream is opened here with
//! `TCP_NODELAY` (without it every message waits ~40 ms on Nagle plus delayed ACK: 23 mails/s
//! per connection, measured in rust-stack.md §3) and wrapped in a buffer so a message is written
//! in a few large segments; MAIL FROM and every RCPT TO go in one pipelined flight when the
//! server offers PIPELINING; the message is checked against the server's SIZE before anything
//! is sent; each recipient gets its own result.
//!
//! Encryption: `none`, `starttls` and `ssl` accept any certificate (as Odoo does); the `_strict`
//! variants verify the certificate and the host name against the system's roots. Timeouts: one
//! for the connection and one per command (Odoo: 60 s). Secrets are never logged.

use mail_send::SmtpClient;
use postern_model::{Encryption, Secret};
use smtp_proto::{EXT_DSN, EXT_PIPELINING, EXT_SIZE, EXT_START_TLS, EhloResponse, Response};
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How to log in.
#[derive(Clone)]
pub enum Credentials {
    /// AUTH PLAIN or LOGIN (or CRAM-MD5 when offered), the strongest the server offers.
    Password {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// AUTH XOAUTH2 with an OAuth2 access token (Gmail, Microsoft 365).
    XOAuth2 {
        /// User name (the mailbox address).
        username: String,
        /// Access token.
        token: Secret,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password { username, .. } => write!(f, "Password({username}, ***)"),
            Credentials::XOAuth2 { username, .. } => write!(f, "XOAuth2({username}, ***)"),
        }
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Transport security.
    pub encryption: Encryption,
    /// Login, if any.
    pub credentials: Option<Credentials>,
    /// Timeout of the connection and of each command.
    pub timeout: Duration,
    /// Our name in EHLO.
    pub helo: String,
    /// Connect to this address instead of resolving `host` (direct delivery: the MX host's
    /// address from Postern's resolver; `host` stays the name TLS checks).
    pub address: Option<std::net::IpAddr>,
    /// With encryption `none`: STARTTLS when the server offers it (certificate not checked),
    /// plain text otherwise — opportunistic TLS, as MTAs deliver to MX hosts (RFC 3207).
    pub opportunistic_tls: bool,
}

/// One reply of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Basic code (250, 451, 550...).
    pub code: u16,
    /// Enhanced status code and text, as received (`5.1.1 User unknown`).
    pub text: String,
}

impl Reply {
    fn from_response(r: &Response<String>) -> Reply {
        let text = if r.esc[0] != 0 {
            format!("{}.{}.{} {}", r.esc[0], r.esc[1], r.esc[2], r.message)
        } else {
            r.message.clone()
        };
        Reply {
            code: r.code,
            text: text.trim().to_owned(),
        }
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 5xx: do not try again.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// Why talking to a server failed. Every kind is temporary for delivery (the mail is tried
/// again until its maximum age); the texts are what `server test` shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The host name does not resolve, or the TCP connection was refused.
    #[error("could not connect to {0}: {1}. Check the host name and the port")]
    Connect(String, String),
    /// No answer in time.
    #[error(
        "no response received from {0} within {1} s (while {2}). Check the host and port; many networks block port 25 (465, 587 or 2525 are the usual choices)"
    )]
    Timeout(String, u64, &'static str),
    /// The server closed the connection.
    #[error(
        "the server has closed the connection unexpectedly (while {0}). Check the encryption: a port expecting TLS (465) closes plain connections, and the other way round"
    )]
    Closed(&'static str),
    /// The TLS handshake failed (certificate not trusted, wrong host name, not TLS at all).
    #[error(
        "TLS handshake failed: {0}. With a `_strict` encryption the certificate must be valid for the host name; with `ssl` the port must speak TLS at once (usually 465)"
    )]
    Tls(String),
    /// `starttls` was asked for and the server does not offer it.
    #[error(
        "the server does not offer STARTTLS. Use `ssl` if the port speaks TLS at once (465), or `none`"
    )]
    NoStartTls,
    /// The login was refused.
    #[error("authentication failed: {0}. Check the user name and the password (or token)")]
    Auth(String),
    /// A reply that makes no sense at this point.
    #[error("unexpected answer while {0}: {1}")]
    Protocol(&'static str, String),
}

impl ClientError {
    fn from_mail_send(
        e: mail_send::Error,
        peer: &str,
        timeout: Duration,
        stage: &'static str,
    ) -> ClientError {
        match e {
            mail_send::Error::Io(io) => match io.kind() {
                std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted => ClientError::Closed(stage),
                _ => ClientError::Protocol(stage, io.to_string()),
            },
            // mail-send reports a connection closed while reading a reply as an unparseable reply.
            mail_send::Error::UnparseableReply => ClientError::Closed(stage),
            mail_send::Error::Timeout => ClientError::Timeout(peer.to_owned(), timeout.as_secs(), stage),
            mail_send::Error::Tls(t) => ClientError::Tls(t.to_string()),
            mail_send::Error::InvalidTLSName => ClientError::Tls(format!("`{peer}` is not a valid TLS name")),
            mail_send::Error::MissingStartTls => ClientError::NoStartTls,
            mail_send::Error::AuthenticationFailed(r) => ClientError::Auth(Reply::from_response(&r).to_string()),
            mail_send::Error::UnsupportedAuthMechanism => {
                ClientError::Auth("the server offers no AUTH mechanism we can use (is AUTH offered only after STARTTLS?)".into())
            }
            mail_send::Error::Auth(a) => ClientError::Auth(a.to_string()),
            mail_send::Error::UnexpectedReply(r) => ClientError::Protocol(stage, Reply::from_response(&r).to_string()),
            other => ClientError::Protocol(stage, other.to_string()),
        }
    }
}

/// What happened to one recipient of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptOutcome {
    /// Accepted at RCPT and the data accepted.
    Delivered(Reply),
    /// Refused (at MAIL FROM, RCPT TO or after the data): permanent when 5xx.
    Refused(Reply),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open, greeted, (TLS-protected and) authenticated SMTP session.
pub struct Connection {
    client: SmtpClient<BufStream<Box<dyn Io>>>,
    caps: EhloResponse<String>,
    peer: String,
    timeout: Duration,
    dirty: bool,
}

fn connector(strict: bool) -> Result<TlsConnector, ClientError> {
    static STRICT: OnceLock<Result<TlsConnector, String>> = OnceLock::new();
    static LAX: OnceLock<Result<TlsConnector, String>> = OnceLock::new();
    let cell = if strict { &STRICT } else { &LAX };
    cell.get_or_init(|| {
        // mail-send builds its configuration with rustls's process-wide provider. Two are
        // compiled in (aws-lc-rs, ours; ring, which reqwest brings), so none is chosen
        // unless one is installed: install ours first (a no-op when one already is).
        let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
        mail_send::smtp::tls::build_tls_connector(!strict)
    })
    .clone()
    .map_err(ClientError::Tls)
}

impl Connection {
    /// Connects, reads the greeting, says EHLO, starts TLS as asked and logs in.
    pub async fn open(s: &ClientSettings) -> Result<Connection, ClientError> {
        let peer = peer_of(s);
        let err = |stage| settings_error(s, stage);
        let tcp = connect_tcp(s, &peer).await?;
        let implicit = matches!(s.encryption, Encryption::Ssl | Encryption::SslStrict);
        let starttls = matches!(
            s.encryption,
            Encryption::Starttls | Encryption::StarttlsStrict
        );
        let strict = matches!(
            s.encryption,
            Encryption::SslStrict | Encryption::StarttlsStrict
        );
        let plain = SmtpClient {
            stream: tcp,
            timeout: s.timeout,
        };
        let (stream, caps) = if implicit {
            let mut tls = SmtpClient {
                stream: tls_handshake(plain, s, strict).await?,
                timeout: s.timeout,
            };
            read_greeting(&mut tls)
                .await
                .map_err(err("reading the greeting"))?;
            (tls.stream, None)
        } else if starttls || s.opportunistic_tls {
            match start_tls(plain, s, strict, starttls).await? {
                Upgrade::Tls(t) => (t, None),
                Upgrade::Plain(p, caps) => (Box::new(p.stream) as Box<dyn Io>, Some(caps)),
            }
        } else {
            let mut plain = plain;
            read_greeting(&mut plain)
                .await
                .map_err(err("reading the greeting"))?;
            (Box::new(plain.stream) as Box<dyn Io>, None)
        };
        let mut client = SmtpClient {
            stream: BufStream::new(stream),
            timeout: s.timeout,
        };
        let caps = match caps {
            Some(c) => c,
            None => client.ehlo(&s.helo).await.map_err(err("saying EHLO"))?,
        };
        if let Some(c) = &s.credentials {
            client
                .authenticate(&login(c), &caps)
                .await
                .map_err(err("logging in"))?;
        }
        Ok(Connection {
            client,
            caps,
            peer,
            timeout: s.timeout,
            dirty: false,
        })
    }

    /// The largest message the server takes (its SIZE), if it says.
    pub fn max_size(&self) -> Option<usize> {
        (self.caps.has_capability(EXT_SIZE) && self.caps.size > 0).then_some(self.caps.size)
    }

    fn err(&self, stage: &'static str) -> impl Fn(mail_send::Error) -> ClientError + '_ {
        move |e| ClientError::from_mail_send(e, &self.peer, self.timeout, stage)
    }

    /// Sends one message to `rcpts` from `mail_from` (`""`: the null sender). Each recipient
    /// gets an outcome; an `Err` means the connection is no longer usable (nothing was
    /// delivered by this call to the recipients without an outcome: try them again).
    pub async fn send(
        &mut self,
        mail_from: &str,
        rcpts: &[String],
        message: &[u8],
    ) -> Result<Vec<(String, RcptOutcome)>, ClientError> {
        if self.dirty {
            self.reset().await?;
        }
        if let Some(r) = self.too_large(message.len()) {
            return Ok(refuse_all(rcpts, &r));
        }
        self.dirty = true;
        let replies = self.envelope(mail_from, rcpts, message.len()).await?;
        let mail = replies[0].clone();
        if !mail.is_positive() {
            return Ok(refuse_all(rcpts, &mail));
        }
        let refusals = rcpt_refusals(rcpts, &replies[1..]);
        if refusals.iter().all(|(_, refused)| refused.is_some()) {
            return Ok(refusals
                .into_iter()
                .map(|(a, r)| (a, RcptOutcome::Refused(r.unwrap_or_else(|| mail.clone()))))
                .collect());
        }
        let data = self.data(message).await?;
        self.dirty = !data.is_positive();
        Ok(refusals
            .into_iter()
            .map(|(a, refused)| {
                let outcome = match refused {
                    Some(r) => RcptOutcome::Refused(r),
                    None if data.is_positive() => RcptOutcome::Delivered(data.clone()),
                    None => RcptOutcome::Refused(data.clone()),
                };
                (a, outcome)
            })
            .collect())
    }

    /// The refusal of a message larger than the server's SIZE, before anything is sent.
    fn too_large(&self, len: usize) -> Option<Reply> {
        let max = self.max_size().filter(|&max| len > max)?;
        Some(Reply {
            code: 552,
            text: format!(
                "5.3.4 message of {len} bytes is larger than the server takes (SIZE {max})"
            ),
        })
    }

    /// Sends MAIL FROM (with SIZE when offered) and every RCPT TO, in one pipelined flight
    /// when the server offers PIPELINING, else one by one, stopping when MAIL FROM is
    /// refused: the replies in order, MAIL FROM's first.
    async fn envelope(
        &mut self,
        mail_from: &str,
        rcpts: &[String],
        len: usize,
    ) -> Result<Vec<Reply>, ClientError> {
        let size = if self.caps.has_capability(EXT_SIZE) {
            format!(" SIZE={len}")
        } else {
            String::new()
        };
        // DSN (RFC 3461), when offered: a failure report names each recipient as we gave it
        // (ORCPT) and returns only the headers (RET=HDRS), and a delay is reported too; none
        // for the null sender, to which no report goes.
        let dsn = self.caps.has_capability(EXT_DSN) && !mail_from.is_empty();
        let ret = if dsn { " RET=HDRS" } else { "" };
        let mut cmds = vec![format!("MAIL FROM:<{}>{size}{ret}\r\n", clean(mail_from))];
        cmds.extend(rcpts.iter().map(|r| {
            let r = clean(r);
            match dsn && r.is_ascii() {
                true => format!(
                    "RCPT TO:<{r}> NOTIFY=FAILURE,DELAY ORCPT=rfc822;{}\r\n",
                    postern_model::address::xtext(&r)
                ),
                false => format!("RCPT TO:<{r}>\r\n"),
            }
        }));
        let replies = if self.caps.has_capability(EXT_PIPELINING) {
            self.client
                .cmds(cmds.iter())
                .await
                .map_err(self.err("sending MAIL FROM and RCPT TO"))?
        } else {
            let mut v = Vec::with_capacity(cmds.len());
            for (i, c) in cmds.iter().enumerate() {
                let r = self
                    .client
                    .cmd(c.as_bytes())
                    .await
                    .map_err(self.err("sending MAIL FROM and RCPT TO"))?;
                let stop = i == 0 && !(200..300).contains(&r.code);
                v.push(r);
                if stop {
                    break;
                }
            }
            v
        };
        Ok(replies.iter().map(Reply::from_response).collect())
    }

    async fn data(&mut self, message: &[u8]) -> Result<Reply, ClientError> {
        let r = self
            .client
            .cmd(b"DATA\r\n")
            .await
            .map_err(self.err("sending DATA"))?;
        if r.code != 354 {
            return Ok(Reply::from_response(&r));
        }
        let write = async {
            self.client
                .write_message(message)
                .await
                .map_err(mail_send::Error::Io)?;
            self.client.read().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => Err(ClientError::Timeout(
                self.peer.clone(),
                self.timeout.as_secs(),
                "sending the message",
            )),
            Ok(r) => Ok(Reply::from_response(
                &r.map_err(self.err("sending the message"))?,
            )),
        }
    }

    async fn reset(&mut self) -> Result<(), ClientError> {
        let r = self
            .client
            .cmd(b"RSET\r\n")
            .await
            .map_err(self.err("sending RSET"))?;
        if r.code != 250 {
            return Err(ClientError::Protocol(
                "sending RSET",
                Reply::from_response(&r).to_string(),
            ));
        }
        self.dirty = false;
        Ok(())
    }

    /// The connection test's transaction (§9.6): MAIL FROM must be accepted, RCPT TO accepted
    /// (250 or 251), DATA answered 354; nothing is sent.
    pub async fn test_transaction(
        &mut self,
        mail_from: &str,
        rcpt: &str,
    ) -> Result<[Reply; 3], TestFailure> {
        let mail = self
            .client
            .cmd(format!("MAIL FROM:<{}>\r\n", clean(mail_from)).as_bytes())
            .await
            .map_err(|e| TestFailure::Client(self.err("sending MAIL FROM")(e)))?;
        if mail.code != 250 {
            return Err(TestFailure::SenderRefused(
                mail_from.to_owned(),
                Reply::from_response(&mail),
            ));
        }
        let r = self
            .client
            .cmd(format!("RCPT TO:<{}>\r\n", clean(rcpt)).as_bytes())
            .await
            .map_err(|e| TestFailure::Client(self.err("sending RCPT TO")(e)))?;
        if r.code != 250 && r.code != 251 {
            return Err(TestFailure::RecipientRefused(
                rcpt.to_owned(),
                Reply::from_response(&r),
            ));
        }
        let d = self
            .client
            .cmd(b"DATA\r\n")
            .await
            .map_err(|e| TestFailure::Client(self.err("sending DATA")(e)))?;
        if d.code != 354 {
            return Err(TestFailure::DataRefused(Reply::from_response(&d)));
        }
        Ok([
            Reply::from_response(&mail),
            Reply::from_response(&r),
            Reply::from_response(&d),
        ])
    }

    /// Says QUIT (best effort) and closes.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.cmd(b"QUIT\r\n")).await;
    }
}

/// Why a connection test failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestFailure {
    /// Connecting, TLS or login failed.
    #[error("{0}")]
    Client(ClientError),
    /// MAIL FROM refused.
    #[error(
        "the server refused the sender <{0}>: {1}. The server may not allow this address (check from_filter and the account's allowed senders)"
    )]
    SenderRefused(String, Reply),
    /// RCPT TO refused.
    #[error(
        "the server refused the recipient <{0}>: {1}. It may not relay for us (check the login)"
    )]
    RecipientRefused(String, Reply),
    /// DATA not accepted.
    #[error("the server did not accept DATA: {0}")]
    DataRefused(Reply),
}

/// Opens the TCP connection within the timeout, with `TCP_NODELAY`.
async fn connect_tcp(s: &ClientSettings, peer: &str) -> Result<TcpStream, ClientError> {
    let connect = async {
        match s.address {
            Some(ip) => TcpStream::connect((ip, s.port)).await,
            None => TcpStream::connect((s.host.as_str(), s.port)).await,
        }
    };
    let tcp = match tokio::time::timeout(s.timeout, connect).await {
        Err(_) => {
            return Err(ClientError::Timeout(
                peer.to_owned(),
                s.timeout.as_secs(),
                "connecting",
            ));
        }
        Ok(Err(e)) => return Err(ClientError::Connect(peer.to_owned(), e.to_string())),
        Ok(Ok(t)) => t,
    };
    tcp.set_nodelay(true)
        .map_err(|e| ClientError::Connect(peer.to_owned(), e.to_string()))?;
    Ok(tcp)
}

/// The TLS handshake on the plain connection, checking the certificate when `strict`.
async fn tls_handshake(
    plain: SmtpClient<TcpStream>,
    s: &ClientSettings,
    strict: bool,
) -> Result<Box<dyn Io>, ClientError> {
    let tls = plain
        .into_tls(&connector(strict)?, &s.host)
        .await
        .map_err(settings_error(s, "starting TLS"))?;
    Ok(Box::new(tls.stream))
}

/// Where STARTTLS left a connection: secured, or (when TLS was not required and the server
/// does not offer it) plain text, greeted, with the server's EHLO answer.
enum Upgrade {
    Tls(Box<dyn Io>),
    Plain(SmtpClient<TcpStream>, EhloResponse<String>),
}

/// STARTTLS (RFC 3207): the greeting, EHLO, STARTTLS if offered, then the TLS handshake. Not
/// offered: an error when `required`, else the plain connection as it is.
async fn start_tls(
    mut plain: SmtpClient<TcpStream>,
    s: &ClientSettings,
    strict: bool,
    required: bool,
) -> Result<Upgrade, ClientError> {
    let err = |stage| settings_error(s, stage);
    read_greeting(&mut plain)
        .await
        .map_err(err("reading the greeting"))?;
    let caps = plain.ehlo(&s.helo).await.map_err(err("saying EHLO"))?;
    if !caps.has_capability(EXT_START_TLS) {
        if !required {
            return Ok(Upgrade::Plain(plain, caps));
        }
        return Err(ClientError::NoStartTls);
    }
    let r = plain
        .cmd(b"STARTTLS\r\n")
        .await
        .map_err(err("asking for STARTTLS"))?;
    if r.code != 220 {
        return Err(ClientError::Protocol(
            "asking for STARTTLS",
            Reply::from_response(&r).to_string(),
        ));
    }
    tls_handshake(plain, s, strict).await.map(Upgrade::Tls)
}

/// mail-send's credentials for ours, the user name's domain IDNA-encoded.
fn login(c: &Credentials) -> mail_send::Credentials<String> {
    match c {
        Credentials::Password { username, password } => mail_send::Credentials::Plain {
            username: idna_user(username),
            secret: password.expose().to_owned(),
        },
        Credentials::XOAuth2 { username, token } => mail_send::Credentials::XOauth2 {
            username: idna_user(username),
            secret: token.expose().to_owned(),
        },
    }
}

/// The [`ClientError`] of a mail-send error at `stage` of opening a connection to `s`.
fn settings_error<'s>(
    s: &'s ClientSettings,
    stage: &'static str,
) -> impl Fn(mail_send::Error) -> ClientError + 's {
    move |e| ClientError::from_mail_send(e, &peer_of(s), s.timeout, stage)
}

/// Every recipient refused with the same reply.
fn refuse_all(rcpts: &[String], reply: &Reply) -> Vec<(String, RcptOutcome)> {
    rcpts
        .iter()
        .map(|a| (a.clone(), RcptOutcome::Refused(reply.clone())))
        .collect()
}

/// Each recipient with its RCPT TO refusal, `None` when accepted (`451 no reply` when the
/// server gave no reply for it).
fn rcpt_refusals(rcpts: &[String], replies: &[Reply]) -> Vec<(String, Option<Reply>)> {
    let mut out: Vec<(String, Option<Reply>)> = Vec::with_capacity(rcpts.len());
    for (i, a) in rcpts.iter().enumerate() {
        let r = replies.get(i).cloned().unwrap_or(Reply {
            code: 451,
            text: "no reply".into(),
        });
        out.push((a.clone(), (!r.is_positive()).then_some(r)));
    }
    out
}

fn peer_of(s: &ClientSettings) -> String {
    match s.address {
        Some(ip) => format!("{} ({ip}) port {}", s.host, s.port),
        None => format!("{}:{}", s.host, s.port),
    }
}

/// No CR, LF or angle brackets in an address put on a command line.
fn clean(addr: &str) -> String {
    addr.chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '<' | '>'))
        .collect()
}

/// The login's domain IDNA-encoded (as Odoo does).
fn idna_user(user: &str) -> String {
    match user.rsplit_once('@') {
        Some((local, domain)) if !domain.is_ascii() => match idna::domain_to_ascii(domain) {
            Ok(d) => format!("{local}@{d}"),
            Err(_) => user.to_owned(),
        },
        _ => user.to_owned(),
    }
}

async fn read_greeting<T: AsyncRead + AsyncWrite + Unpin>(
    c: &mut SmtpClient<T>,
) -> Result<(), mail_send::Error> {
    let timeout = c.timeout;
    let r = tokio::time::timeout(timeout, c.read())
        .await
        .map_err(|_| mail_send::Error::Timeout)??;
    if r.code == 220 {
        Ok(())
    } else {
        Err(mail_send::Error::UnexpectedReply(r))
    }
}

/// Runs the connection test of an outgoing server (§9.6): connect, EHLO, STARTTLS/TLS, AUTH,
/// MAIL FROM `test_from`, RCPT TO `rcpt`, DATA → 354, close without sending anything.
pub async fn test_connection(
    s: &ClientSettings,
    test_from: &str,
    rcpt: &str,
) -> Result<TestReport, TestFailure> {
    let mut c = Connection::open(s).await.map_err(TestFailure::Client)?;
    let max_size = c.max_size();
    let result = c.test_transaction(test_from, rcpt).await;
    // After 354 the server waits for data: closing is the only clean way out (as Odoo does).
    drop(c);
    result.map(|replies| TestReport { max_size, replies })
}

/// What a successful connection test learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    /// The server's SIZE, if it says.
    pub max_size: Option<usize>,
    /// The server's replies to `MAIL FROM`, `RCPT TO` and `DATA`.
    pub replies: [Reply; 3],
}

/// Ports people usually mean, and a word about port 25.
pub fn port_warning(port: u16) -> Option<String> {
    (port == 25).then(|| {
        "port 25 is blocked by many hosting providers and home networks; submission ports 465 (ssl), \
         587 (starttls) or 2525 are the usual choices"
            .to_owned()
    })
}

// The client is tested over sockets by its callers' suites: against a private Postfix
// (crates/smtp/tests/peers.rs), Postfix's smtp-sink (crates/cli/tests/e2e.rs) and the servers of
// crates/delivery/tests.
