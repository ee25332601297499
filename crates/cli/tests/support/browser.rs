//! The browser of the UI tests (`ui_browser.rs`, `oauth.rs`): Debian's headless Chromium
//! driven over WebDriver (chromedriver, fantoccini), and the page helpers (open, fill, click,
//! read, wait for). A browser that cannot start fails the test (scripts/test.sh installs
//! `chromium` and `chromium-driver`).
#![allow(dead_code)] // each test binary uses a part

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running chromedriver on a free port, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub fn start() -> Driver {
        let port = postern_testkit::free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver, installed by scripts/test.sh)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session (no sandbox: the tests may run as root).
pub async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("Chromium did not start through chromedriver: {e}"))
}

/// Where this run's screenshots go.
pub fn screenshot_dir() -> PathBuf {
    let dir = match std::env::var_os("POSTERN_SCREENSHOT_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            let run = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            target.join("screenshots").join(format!("run-{run}"))
        }
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The page driven, and where its screenshots go.
pub struct Ui {
    pub c: Client,
    pub base: String,
    pub shots: PathBuf,
}

impl Ui {
    pub async fn open(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    pub async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.c.find(Locator::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// The text of the first element matching `css`, waiting up to 10 s for it (found again
    /// when htmx or a navigation replaced it meanwhile).
    pub async fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .c
                .wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css(css))
                .await;
            let e = match found {
                Ok(e) => e,
                Err(e) => {
                    let url = self.c.current_url().await.unwrap();
                    let source = self.c.source().await.unwrap_or_default();
                    panic!("no {css} on {url}: {e}\n{source}")
                }
            };
            match e.text().await {
                Ok(t) => return t,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("{css}: {e}; again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{css}: {e}"),
            }
        }
    }

    /// Reloads `path` until its page holds `needle` (at most `limit`); the page's source.
    pub async fn until(&self, path: &str, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            self.open(path).await;
            let source = self.c.source().await.unwrap();
            if source.contains(needle) {
                return source;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never showed {needle}:\n{source}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Creates an item with the form of a list page: `fields` are (name, value) of text inputs
    /// and selects (`select:` prefix).
    pub async fn create(&self, kind: &str, fields: &[(&str, &str)]) {
        self.open(&format!("/{kind}")).await;
        for (name, value) in fields {
            match name.strip_prefix("select:") {
                Some(n) => {
                    let css = format!("#create select[name={n}]");
                    let e = self.c.find(Locator::Css(&css)).await.unwrap();
                    e.select_by_value(value).await.unwrap();
                }
                None => self.fill(&format!("#create [name={name}]"), value).await,
            }
        }
        self.click("#create button[type=submit]").await;
        let notice = self.text("#notice").await;
        assert!(notice.starts_with("Created"), "{kind}: {notice}");
    }
}
