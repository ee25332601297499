//! A running `postern serve`.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `postern serve` on loopback ports (HTTP and SMTP on port 0, read back from the
/// banner), stopped with SIGTERM when dropped (killed if it does not stop in 10 s).
pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The SMTP listener, `127.0.0.1:PORT`.
    pub smtp: String,
    /// The banner's lines.
    pub banner: Vec<String>,
    token: Option<String>,
    http: reqwest::Client,
}

/// The banner's lines up to `Stop with`, the URL of its `browser` line and the address of its
/// `smtp` line.
fn read_banner(stdout: ChildStdout) -> (Vec<String>, Option<String>, Option<String>) {
    let (mut banner, mut base, mut smtp) = (Vec::new(), None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read the banner");
        if let Some(rest) = line.trim_start().strip_prefix("browser") {
            let url = rest.split_whitespace().next().unwrap();
            base = Some(
                url.trim_end_matches("/healthz")
                    .trim_end_matches('/')
                    .to_owned(),
            );
        }
        if let Some(rest) = line.trim_start().strip_prefix("smtp") {
            smtp = rest.split_whitespace().next().map(str::to_owned);
        }
        let done = line.starts_with("Stop with");
        banner.push(line);
        if done {
            break;
        }
    }
    (banner, base, smtp)
}

impl Serve {
    /// Starts `bin serve --data-dir DIR` with `args` before `serve` (e.g. `--config FILE`),
    /// the environment cleaned of Postern's variables, then `envs`; the API token is `token`.
    pub fn start(
        bin: &str,
        dir: &Path,
        token: &str,
        envs: &[(&str, &str)],
        args: &[&str],
    ) -> Serve {
        Serve::spawn(bin, dir, Some(token), envs, args)
    }

    /// [`Serve::start`] without an API token in the environment, as on a first start: `serve`
    /// makes one in the data directory (and prints it); [`Serve::call`] sends none.
    pub fn start_without_token(
        bin: &str,
        dir: &Path,
        envs: &[(&str, &str)],
        args: &[&str],
    ) -> Serve {
        Serve::spawn(bin, dir, None, envs, args)
    }

    fn spawn(
        bin: &str,
        dir: &Path,
        token: Option<&str>,
        envs: &[(&str, &str)],
        args: &[&str],
    ) -> Serve {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .args([
                "serve",
                "--http-listen",
                "127.0.0.1:0",
                "--smtp-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(dir)
            .env_remove("POSTERN_DATABASE_URL")
            .env_remove("POSTERN_CONFIG")
            .env_remove("POSTERN_API_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(token) = token {
            cmd.env("POSTERN_API_TOKEN", token);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn postern serve");
        let stdout = child.stdout.take().unwrap();
        let (banner, base, smtp) = read_banner(stdout);
        Serve {
            child,
            base: base.unwrap_or_else(|| panic!("no URL in the banner: {banner:?}")),
            smtp: smtp.unwrap_or_else(|| panic!("no SMTP address in the banner: {banner:?}")),
            banner,
            token: token.map(str::to_owned),
            http: reqwest::Client::new(),
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The HTTP client (for requests without the token, or with another one).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The API token it was started with.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A request to `path` with the token, to be finished by the caller (a body that is not
    /// JSON, headers of its own).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// Calls the API with the token; the status and the JSON answer (a string when not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("HTTP request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Feeds `raw` to `POST /api/v1/ingest?rcpt=RCPT`; the outcome JSON (an error's JSON too).
    pub async fn ingest(&self, rcpt: &str, raw: impl Into<String>) -> Value {
        let resp = self
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/ingest?rcpt={rcpt}"),
            )
            .header("Content-Type", "message/rfc822")
            .body(raw.into())
            .send()
            .await
            .expect("HTTP request");
        resp.json().await.expect("a JSON answer")
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit status (within 10 s).
    pub fn stop(&mut self) -> ExitStatus {
        self.terminate().expect("postern did not stop on SIGTERM")
    }

    /// SIGKILL, as a crash: no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (unless it has ended already), then its exit status if it ends within 10 s.
    fn terminate(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.terminate().is_none() {
            self.kill();
        }
    }
}
