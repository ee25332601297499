//! A capture SMTP server over real sockets on 127.0.0.1, built on smtp-proto's receivers (the
//! feature `sink`). It can refuse chosen recipients (550 5.1.1), answer 451 or drop the
//! connection for the first transactions, stall (greet, then never answer), answer 421 and
//! close, or close the connection once the data is in but before answering it; offer STARTTLS
//! or speak TLS at once (self-signed), require AUTH (PLAIN, LOGIN, XOAUTH2) and announce a
//! SIZE.

use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN, AUTH_XOAUTH2, Request};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// What the sink does.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Recipients refused with `550 5.1.1`.
    pub reject_rcpt: Vec<String>,
    /// The first N `MAIL FROM` get `451 4.3.0`.
    pub tempfail_first: usize,
    /// The first N connections are closed right after the greeting.
    pub drop_first: usize,
    /// The first N connections get the greeting, then no answer at all (the client's timeout).
    pub stall_first: usize,
    /// The first N `MAIL FROM` get `421 4.3.2`, and the connection is closed.
    pub close_421_first: usize,
    /// The first N messages are read to their end, then the connection is closed without an
    /// answer to the data (the client cannot know whether they were taken: not captured).
    pub drop_in_data_first: usize,
    /// STARTTLS offered (and AUTH only after it).
    pub starttls: bool,
    /// TLS at once (port-465 style).
    pub implicit_tls: bool,
    /// AUTH required: (user, secret).
    pub auth: Option<(String, String)>,
    /// SIZE announced.
    pub size: Option<usize>,
    /// The answer to the data (default `250 2.0.0 queued`), e.g. Amazon SES's `250 Ok <id>`.
    pub data_reply: Option<String>,
}

/// One message received.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients accepted.
    pub rcpts: Vec<String>,
    /// The message, as sent after `DATA`.
    pub data: String,
    /// Whether it came over TLS.
    pub tls: bool,
    /// The user authenticated, if any.
    pub user: Option<String>,
}

/// A running sink (it runs as long as the test's runtime).
pub struct Sink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The messages received so far.
    pub messages: Arc<Mutex<Vec<Captured>>>,
    /// The connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

impl Sink {
    /// The messages received so far.
    pub fn messages(&self) -> Vec<Captured> {
        self.messages.lock().unwrap().clone()
    }
}

fn acceptor() -> TlsAcceptor {
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// Starts a sink that behaves as `b`, on a free port.
pub async fn start(b: Behaviour) -> Sink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let mails = Arc::new(AtomicUsize::new(0));
    let datas = Arc::new(AtomicUsize::new(0));
    let tls = acceptor();
    let (m, c) = (messages.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let n = c.fetch_add(1, Ordering::SeqCst);
            let st = State {
                drop: n < b.drop_first,
                stall: n >= b.drop_first && n < b.drop_first + b.stall_first,
                b: b.clone(),
                messages: m.clone(),
                mails: mails.clone(),
                datas: datas.clone(),
                tls: false,
                user: None,
            };
            tokio::spawn(serve(tcp, st, tls.clone()));
        }
    });
    Sink {
        port,
        messages,
        connections,
    }
}

/// One connection: TLS at once, or plain text upgraded by STARTTLS.
async fn serve(tcp: TcpStream, mut st: State, tls: TlsAcceptor) {
    if st.b.implicit_tls {
        let Ok(s) = tls.accept(tcp).await else { return };
        st.tls = true;
        let _ = session(s, &mut st, true).await;
    } else if let Ok(Some(tcp)) = session(tcp, &mut st, true).await {
        let Ok(s) = tls.accept(tcp).await else { return };
        st.tls = true;
        let _ = session(s, &mut st, false).await;
    }
}

/// A connection's state, kept across STARTTLS.
struct State {
    b: Behaviour,
    messages: Arc<Mutex<Vec<Captured>>>,
    mails: Arc<AtomicUsize>,
    /// Messages whose data came in, all connections together.
    datas: Arc<AtomicUsize>,
    tls: bool,
    user: Option<String>,
    drop: bool,
    stall: bool,
}

/// One session's transaction (reset by STARTTLS).
#[derive(Default)]
struct Transaction {
    from: String,
    rcpts: Vec<String>,
    /// AUTH LOGIN in progress: 0 waits for the user, 1 for the password.
    login: Option<u8>,
    login_user: String,
}

/// What to do after a command.
enum Next {
    Reply(Vec<u8>),
    Data,
    StartTls,
    Quit,
    /// Answer, then close the connection.
    Close(&'static [u8]),
}

fn b64(s: &str) -> String {
    use base64::Engine;
    String::from_utf8_lossy(
        &base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .unwrap_or_default(),
    )
    .into_owned()
}

/// Serves until QUIT; returns the stream when the client asked for STARTTLS.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    st: &mut State,
    greet: bool,
) -> std::io::Result<Option<S>> {
    if greet && !greeted(&mut s, st).await? {
        return Ok(None);
    }
    let mut rx = RequestReceiver::default();
    let mut data: Option<(DataReceiver, Vec<u8>)> = None;
    let mut t = Transaction::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        let mut it = buf[..n].iter();
        let mut out = Vec::new();
        loop {
            if let Some((d, body)) = data.as_mut() {
                if !d.ingest(&mut it, body) {
                    break;
                }
                if st.datas.fetch_add(1, Ordering::SeqCst) < st.b.drop_in_data_first {
                    return Ok(None);
                }
                st.capture(&mut t, &body[2..]);
                data = None;
                match &st.b.data_reply {
                    Some(r) => out.extend(format!("{r}\r\n").into_bytes()),
                    None => out.extend(b"250 2.0.0 queued\r\n"),
                }
                continue;
            }
            if t.login.is_some() {
                let line: Vec<u8> = it.by_ref().take_while(|c| **c != b'\n').copied().collect();
                if line.is_empty() {
                    break;
                }
                out.extend(st.login_line(&mut t, &String::from_utf8_lossy(&line)));
                continue;
            }
            let next = match rx.ingest(&mut it).map(Request::into_owned) {
                Ok(request) => st.command(&mut t, request),
                Err(smtp_proto::Error::NeedsMoreData { .. }) => break,
                Err(_) => Next::Reply(b"500 5.5.2 syntax error\r\n".to_vec()),
            };
            match next {
                Next::Reply(r) => out.extend(r),
                Next::Data => {
                    let mut d = DataReceiver::new();
                    let mut body = Vec::new();
                    d.ingest(&mut b"\r\n".iter(), &mut body);
                    data = Some((d, body));
                    out.extend(b"354 go ahead\r\n");
                }
                Next::StartTls => {
                    s.write_all(b"220 2.0.0 go ahead\r\n").await?;
                    return Ok(Some(s));
                }
                Next::Quit => {
                    out.extend(b"221 2.0.0 bye\r\n");
                    s.write_all(&out).await?;
                    return Ok(None);
                }
                Next::Close(reply) => {
                    out.extend(reply);
                    s.write_all(&out).await?;
                    return Ok(None);
                }
            }
        }
        s.write_all(&out).await?;
    }
}

/// The greeting; then false when the behaviour drops the connection, or stalls until the
/// client gives up.
async fn greeted<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    st: &State,
) -> std::io::Result<bool> {
    s.write_all(b"220 sink ESMTP\r\n").await?;
    if st.drop {
        return Ok(false);
    }
    if st.stall {
        let mut buf = vec![0u8; 4096];
        while s.read(&mut buf).await? > 0 {}
        return Ok(false);
    }
    Ok(true)
}

impl State {
    /// Keeps the message of the transaction.
    fn capture(&mut self, t: &mut Transaction, body: &[u8]) {
        self.messages.lock().unwrap().push(Captured {
            mail_from: t.from.clone(),
            rcpts: std::mem::take(&mut t.rcpts),
            data: String::from_utf8_lossy(body).into_owned(),
            tls: self.tls,
            user: self.user.clone(),
        });
    }

    /// AUTH LOGIN: the user, then the password, one base64 line each.
    fn login_line(&mut self, t: &mut Transaction, line: &str) -> Vec<u8> {
        let v = b64(line);
        if t.login == Some(0) {
            t.login_user = v;
            t.login = Some(1);
            b"334 UGFzc3dvcmQ6\r\n".to_vec()
        } else {
            t.login = None;
            let user = std::mem::take(&mut t.login_user);
            self.check(&user, &v).to_vec()
        }
    }

    fn command(&mut self, t: &mut Transaction, request: Request<String>) -> Next {
        let reply: &[u8] = match request {
            Request::Ehlo { .. } => return Next::Reply(self.ehlo()),
            Request::StartTls => return Next::StartTls,
            Request::Auth {
                mechanism,
                initial_response,
            } => return Next::Reply(self.auth(t, mechanism, &initial_response)),
            Request::Mail { from } => return self.mail(t, from.address),
            Request::Rcpt { to } => self.rcpt(t, to.address),
            Request::Data if t.rcpts.is_empty() => b"554 5.5.1 no valid recipients\r\n",
            Request::Data => return Next::Data,
            Request::Rset => {
                t.from.clear();
                t.rcpts.clear();
                b"250 2.0.0 ok\r\n"
            }
            Request::Quit => return Next::Quit,
            _ => b"250 2.0.0 ok\r\n",
        };
        Next::Reply(reply.to_vec())
    }

    /// `MAIL FROM`: 530 without the AUTH required, else the faults asked for the first ones.
    fn mail(&mut self, t: &mut Transaction, from: String) -> Next {
        if self.b.auth.is_some() && self.user.is_none() {
            return Next::Reply(b"530 5.7.0 authentication required\r\n".to_vec());
        }
        let n = self.mails.fetch_add(1, Ordering::SeqCst);
        if n < self.b.close_421_first {
            return Next::Close(b"421 4.3.2 service shutting down\r\n");
        }
        if n - self.b.close_421_first < self.b.tempfail_first {
            return Next::Reply(b"451 4.3.0 try again later\r\n".to_vec());
        }
        t.from = from;
        t.rcpts.clear();
        Next::Reply(b"250 2.1.0 ok\r\n".to_vec())
    }

    fn ehlo(&self) -> Vec<u8> {
        let mut r = String::from("250-sink\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n");
        if let Some(sz) = self.b.size {
            r.push_str(&format!("250-SIZE {sz}\r\n"));
        }
        if self.b.starttls && !self.tls {
            r.push_str("250-STARTTLS\r\n");
        }
        if self.b.auth.is_some() && (self.tls || !self.b.starttls) {
            r.push_str("250-AUTH PLAIN LOGIN XOAUTH2\r\n");
        }
        r.push_str("250 8BITMIME\r\n");
        r.into_bytes()
    }

    fn auth(&mut self, t: &mut Transaction, mechanism: u64, initial: &str) -> Vec<u8> {
        if mechanism == AUTH_PLAIN {
            let v = b64(initial);
            let parts: Vec<&str> = v.split('\0').collect();
            let (user, secret) = (parts.get(1).unwrap_or(&""), parts.get(2).unwrap_or(&""));
            self.check(user, secret).to_vec()
        } else if mechanism == AUTH_XOAUTH2 {
            let v = b64(initial);
            let user = v
                .split('\x01')
                .next()
                .unwrap_or("")
                .trim_start_matches("user=")
                .to_owned();
            let token = v
                .split("auth=Bearer ")
                .nth(1)
                .unwrap_or("")
                .trim_end_matches('\x01')
                .to_owned();
            self.check(&user, &token).to_vec()
        } else if mechanism == AUTH_LOGIN {
            t.login = Some(0);
            b"334 VXNlcm5hbWU6\r\n".to_vec()
        } else {
            b"504 5.5.4 mechanism not supported\r\n".to_vec()
        }
    }

    fn rcpt(&self, t: &mut Transaction, to: String) -> &'static [u8] {
        if self
            .b
            .reject_rcpt
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&to))
        {
            b"550 5.1.1 no such user here\r\n"
        } else if t.from.is_empty()
            && t.rcpts.is_empty()
            && self.user.is_none()
            && self.b.auth.is_some()
        {
            b"503 5.5.1 MAIL first\r\n"
        } else {
            t.rcpts.push(to);
            b"250 2.1.5 ok\r\n"
        }
    }

    fn check(&mut self, user: &str, secret: &str) -> &'static [u8] {
        match &self.b.auth {
            Some((u, p)) if u == user && p == secret => {
                self.user = Some(user.to_owned());
                b"235 2.7.0 authenticated\r\n"
            }
            _ => b"535 5.7.8 authentication credentials invalid\r\n",
        }
    }
}
