//! What the browser tests share (`ui.rs`, `ui_deploy.rs`): Debian's Chromium headless under
//! chromedriver (skipped when they are not installed, unless `KILN_TEST_REQUIRE_TOOLS=1`), a
//! visit that fails on any console error or warning and saves a screenshot in
//! `target/ui-screenshots/`, and the real `kiln ui` binary on a free port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};

pub fn screenshots() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ---- the browser ----

pub fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `POST /session/{id}/se/log {"type": "browser"}`: the console messages so far (chromedriver).
#[derive(Debug)]
pub struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or("")))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Chromium headless under chromedriver on a loopback port, or `None` (skip) when they are not
/// installed, unless `KILN_TEST_REQUIRE_TOOLS=1`.
pub async fn browser() -> Option<Browser> {
    let (chromium, driver) = match (tool("chromium"), tool("chromedriver")) {
        (Some(c), Some(d)) => (c, d),
        _ => {
            assert!(std::env::var("KILN_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"), "chromium and chromedriver are required (apt-get install chromium chromium-driver; scripts/test does it as root)");
            eprintln!("skipped: chromium and chromium-driver are not installed");
            return None;
        }
    };
    // A free port can be taken between picking it and chromedriver binding it (tests run in
    // parallel, each with its own chromedriver), and a chromedriver that just started can reset
    // the first connection: a failed start is retried with a new port and a new chromedriver.
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port();
        let mut child = Command::new(&driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1300,1700",
        ];
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps: Capabilities = serde_json::from_value(serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }))
        .unwrap();
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new()).capabilities(caps).connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(client) => return Some(Browser { client, driver: child, _profile: profile }),
            Err(e) => {
                last_error = format!("{e:?}");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    panic!("no WebDriver session after 3 chromedriver starts: {last_error}");
}

impl Browser {
    /// Open `url`, check the console has no error, save a screenshot as `name.png`, return the
    /// page's text.
    pub async fn visit(&self, url: &str, name: &str) -> String {
        self.client.goto(url).await.unwrap();
        self.settle(name).await
    }

    pub async fn settle(&self, name: &str) -> String {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let log = self.client.issue_cmd(BrowserLog).await.unwrap();
        let errors: Vec<&serde_json::Value> = log.as_array().map(|a| a.iter().filter(|m| m["level"] == "SEVERE" || m["level"] == "WARNING").collect()).unwrap_or_default();
        assert!(errors.is_empty(), "{name}: console messages: {errors:?}");
        std::fs::write(screenshots().join(format!("{name}.png")), self.client.screenshot().await.unwrap()).unwrap();
        self.client.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
    }
}

pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kiln ui --port 0 --dir DIR EXTRA...` with HOME=`home`, once it has printed its address.
pub fn kiln_ui_at(dir: &Path, home: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("kiln"))
        .args(["ui", "--port", "0", "--dir"])
        .arg(dir)
        .args(extra)
        .env("HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.by_ref().map_while(Result::ok).find_map(|l| l.trim().strip_prefix("http://").map(|u| format!("http://{u}"))).expect("kiln ui prints its address");
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/?token="), "{url}");
    // Keep reading what it prints after the address, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, url }
}

