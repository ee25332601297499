//! A capture SMTP server for the delivery tests, over real sockets on 127.0.0.1, built on
//! smtp-proto's receivers. It can refuse chosen recipients (550 5.1.1), answer 451 or drop the
//! connection for the first transactions, offer STARTTLS or speak TLS at once (self-signed),
//! require AUTH (PLAIN, LOGIN, XOAUTH2) and announce a SIZE.

use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN, AUTH_XOAUTH2, Request};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
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
    /// STARTTLS offered (and AUTH only after it).
    pub starttls: bool,
    /// TLS at once (port-465 style).
    pub implicit_tls: bool,
    /// AUTH required: (user, secret).
    pub auth: Option<(String, String)>,
    /// SIZE announced.
    pub size: Option<usize>,
}

/// One message received.
#[derive(Debug, Clone)]
pub struct Captured {
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub data: String,
    pub tls: bool,
    pub user: Option<String>,
}

pub struct Sink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<Captured>>>,
    pub connections: Arc<AtomicUsize>,
}

impl Sink {
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

pub async fn start(b: Behaviour) -> Sink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let mails = Arc::new(AtomicUsize::new(0));
    let tls = acceptor();
    let (m, c) = (messages.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let n = c.fetch_add(1, Ordering::SeqCst);
            let (b, m, mails, tls) = (b.clone(), m.clone(), mails.clone(), tls.clone());
            tokio::spawn(async move {
                let drop = n < b.drop_first;
                let mut st = State {
                    b,
                    messages: m,
                    mails,
                    tls: false,
                    user: None,
                    drop,
                };
                if st.b.implicit_tls {
                    let Ok(s) = tls.accept(tcp).await else { return };
                    st.tls = true;
                    let _ = session(s, &mut st, true).await;
                } else if let Ok(Some(tcp)) = session(tcp, &mut st, true).await {
                    let Ok(s) = tls.accept(tcp).await else { return };
                    st.tls = true;
                    let _ = session(s, &mut st, false).await;
                }
            });
        }
    });
    Sink {
        port,
        messages,
        connections,
    }
}

struct State {
    b: Behaviour,
    messages: Arc<Mutex<Vec<Captured>>>,
    mails: Arc<AtomicUsize>,
    tls: bool,
    user: Option<String>,
    drop: bool,
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
    if greet {
        s.write_all(b"220 sink ESMTP\r\n").await?;
        if st.drop {
            return Ok(None);
        }
    }
    let mut rx = RequestReceiver::default();
    let mut data: Option<(DataReceiver, Vec<u8>)> = None;
    let mut login: Option<u8> = None;
    let mut login_user = String::new();
    let (mut from, mut rcpts) = (String::new(), Vec::<String>::new());
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
                if d.ingest(&mut it, body) {
                    let text = String::from_utf8_lossy(&body[2..]).into_owned();
                    st.messages.lock().unwrap().push(Captured {
                        mail_from: from.clone(),
                        rcpts: std::mem::take(&mut rcpts),
                        data: text,
                        tls: st.tls,
                        user: st.user.clone(),
                    });
                    data = None;
                    out.extend(b"250 2.0.0 queued\r\n");
                    continue;
                }
                break;
            }
            if let Some(step) = login {
                // AUTH LOGIN: the user, then the password, one base64 line each.
                let line: Vec<u8> = it.by_ref().take_while(|c| **c != b'\n').copied().collect();
                if line.is_empty() {
                    break;
                }
                let v = b64(&String::from_utf8_lossy(&line));
                if step == 0 {
                    login_user = v;
                    login = Some(1);
                    out.extend(b"334 UGFzc3dvcmQ6\r\n");
                } else {
                    login = None;
                    out.extend(check(st, &login_user, &v));
                }
                continue;
            }
            match rx.ingest(&mut it).map(Request::into_owned) {
                Ok(Request::Ehlo { .. }) => {
                    let mut r =
                        String::from("250-sink\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n");
                    if let Some(sz) = st.b.size {
                        r.push_str(&format!("250-SIZE {sz}\r\n"));
                    }
                    if st.b.starttls && !st.tls {
                        r.push_str("250-STARTTLS\r\n");
                    }
                    if st.b.auth.is_some() && (st.tls || !st.b.starttls) {
                        r.push_str("250-AUTH PLAIN LOGIN XOAUTH2\r\n");
                    }
                    r.push_str("250 8BITMIME\r\n");
                    out.extend(r.as_bytes());
                }
                Ok(Request::StartTls) => {
                    s.write_all(b"220 2.0.0 go ahead\r\n").await?;
                    return Ok(Some(s));
                }
                Ok(Request::Auth {
                    mechanism,
                    initial_response,
                }) => {
                    if mechanism == AUTH_PLAIN {
                        let v = b64(&initial_response);
                        let parts: Vec<&str> = v.split('\0').collect();
                        out.extend(check(
                            st,
                            parts.get(1).unwrap_or(&""),
                            parts.get(2).unwrap_or(&""),
                        ));
                    } else if mechanism == AUTH_XOAUTH2 {
                        let v = b64(&initial_response);
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
                        out.extend(check(st, &user, &token));
                    } else if mechanism == AUTH_LOGIN {
                        login = Some(0);
                        out.extend(b"334 VXNlcm5hbWU6\r\n");
                    } else {
                        out.extend(b"504 5.5.4 mechanism not supported\r\n");
                    }
                }
                Ok(Request::Mail { from: f }) => {
                    if st.b.auth.is_some() && st.user.is_none() {
                        out.extend(b"530 5.7.0 authentication required\r\n");
                    } else if st.mails.fetch_add(1, Ordering::SeqCst) < st.b.tempfail_first {
                        out.extend(b"451 4.3.0 try again later\r\n");
                    } else {
                        from = f.address;
                        rcpts.clear();
                        out.extend(b"250 2.1.0 ok\r\n");
                    }
                }
                Ok(Request::Rcpt { to }) => {
                    if st
                        .b
                        .reject_rcpt
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(&to.address))
                    {
                        out.extend(b"550 5.1.1 no such user here\r\n");
                    } else if from.is_empty()
                        && rcpts.is_empty()
                        && st.user.is_none()
                        && st.b.auth.is_some()
                    {
                        out.extend(b"503 5.5.1 MAIL first\r\n");
                    } else {
                        rcpts.push(to.address);
                        out.extend(b"250 2.1.5 ok\r\n");
                    }
                }
                Ok(Request::Data) => {
                    if rcpts.is_empty() {
                        out.extend(b"554 5.5.1 no valid recipients\r\n");
                    } else {
                        let mut d = DataReceiver::new();
                        let mut body = Vec::new();
                        d.ingest(&mut b"\r\n".iter(), &mut body);
                        data = Some((d, body));
                        out.extend(b"354 go ahead\r\n");
                    }
                }
                Ok(Request::Rset) => {
                    from.clear();
                    rcpts.clear();
                    out.extend(b"250 2.0.0 ok\r\n");
                }
                Ok(Request::Quit) => {
                    out.extend(b"221 2.0.0 bye\r\n");
                    s.write_all(&out).await?;
                    return Ok(None);
                }
                Ok(_) => out.extend(b"250 2.0.0 ok\r\n"),
                Err(smtp_proto::Error::NeedsMoreData { .. }) => break,
                Err(_) => out.extend(b"500 5.5.2 syntax error\r\n"),
            }
        }
        s.write_all(&out).await?;
    }
}

fn check(st: &mut State, user: &str, secret: &str) -> &'static [u8] {
    match &st.b.auth {
        Some((u, p)) if u == user && p == secret => {
            st.user = Some(user.to_owned());
            b"235 2.7.0 authenticated\r\n"
        }
        _ => b"535 5.7.8 authentication credentials invalid\r\n",
    }
}
