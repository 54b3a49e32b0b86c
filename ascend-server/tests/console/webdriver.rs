//! A minimal W3C WebDriver client (the dozen commands the console test uses) over reqwest,
//! driving a headless Chromium through chromedriver, both started here on 127.0.0.1.
//!
//! Why not fantoccini/thirtyfour: WebDriver is JSON over HTTP, reqwest is already a dependency,
//! and the crates would add the `webdriver` protocol crate (with ICU segmentation data),
//! `cookie` and another TLS stack to the build for these few calls.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where chromium and chromedriver are, if installed.
pub fn installed() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| {
                let path = std::env::var_os("PATH")?;
                std::env::split_paths(&path)
                    .find_map(|dir| names.iter().map(|n| dir.join(n)).find(|p| p.is_file()))
            })
    };
    let browser = find(&["/usr/bin/chromium", "chromium", "chromium-browser"])?;
    let driver = find(&["/usr/bin/chromedriver", "chromedriver"])?;
    Some((browser, driver))
}

/// A running chromedriver and one browser session.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    port: u16,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// A found element.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// Start chromedriver on a free loopback port and open a headless Chromium session.
    pub async fn start(browser: &Path, driver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ok
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            // Only the loopback server is reachable from this browser.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--window-size=1280,800",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": browser.display().to_string(), "args": args},
        }}});
        let mut b = Browser {
            http,
            base,
            port,
            session: String::new(),
            driver: child,
            _profile: profile,
        };
        let v = b.raw("POST", "/session", caps).await;
        let id = v["sessionId"]
            .as_str()
            .or_else(|| v["value"]["sessionId"].as_str())
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        b.base = format!("{}/session/{id}", b.base);
        b.session = id;
        b
    }

    async fn raw(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let resp = req.send().await.expect("webdriver request");
        resp.json::<Value>().await.expect("webdriver JSON")
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let v = self.raw(method, path, body).await;
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        match value.get("error").and_then(Value::as_str) {
            Some(e) => Err(format!(
                "{e}: {}",
                value.get("message").and_then(Value::as_str).unwrap_or("")
            )),
            None => Ok(value),
        }
    }

    /// Load a page (the test only ever loads the loopback server).
    pub async fn goto(&self, url: &str) {
        assert!(url.starts_with("http://127.0.0.1:"), "loopback only: {url}");
        self.cmd("POST", "/url", json!({"url": url}))
            .await
            .expect("navigate");
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        let v = self
            .cmd("GET", "/source", Value::Null)
            .await
            .expect("source");
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The current address.
    pub async fn url(&self) -> String {
        let v = self.cmd("GET", "/url", Value::Null).await.expect("url");
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Resize the window.
    pub async fn size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await
        .expect("resize");
    }

    /// The first element matching a CSS selector, if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let v = self
            .cmd(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await
            .ok()?;
        v.get(ELEMENT)
            .and_then(Value::as_str)
            .map(|s| Element(s.to_owned()))
    }

    /// Every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .cmd(
                "POST",
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await
            .unwrap_or(Value::Null);
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get(ELEMENT).and_then(Value::as_str))
                    .map(|s| Element(s.to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait (up to `within`) for an element matching `css`.
    pub async fn wait_for(&self, css: &str, within: Duration) -> Element {
        let deadline = Instant::now() + within;
        loop {
            if let Some(e) = self.find(css).await {
                return e;
            }
            if Instant::now() >= deadline {
                let src = self.cmd("GET", "/source", Value::Null).await;
                panic!("no {css:?} within {within:?}; page: {src:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait (up to `within`) until nothing matches `css`.
    pub async fn wait_gone(&self, css: &str, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.find(css).await.is_none() {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "{css:?} still there after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Click.
    pub async fn click(&self, e: &Element) {
        self.cmd("POST", &format!("/element/{}/click", e.0), json!({}))
            .await
            .expect("click");
    }

    /// Type into a field.
    pub async fn type_in(&self, e: &Element, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            json!({"text": text}),
        )
        .await
        .expect("type");
    }

    /// The rendered text of an element.
    pub async fn text(&self, e: &Element) -> String {
        let v = self
            .cmd("GET", &format!("/element/{}/text", e.0), Value::Null)
            .await
            .expect("text");
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The text of the first element matching `css` ("" when none). The page's script may
    /// replace the element meanwhile (live fragments): then it is looked up again.
    pub async fn text_of(&self, css: &str) -> String {
        for _ in 0..20 {
            let Some(e) = self.find(css).await else {
                return String::new();
            };
            match self
                .cmd("GET", &format!("/element/{}/text", e.0), Value::Null)
                .await
            {
                Ok(v) => return v.as_str().unwrap_or_default().to_owned(),
                Err(err) if err.contains("stale") => continue,
                Err(err) => panic!("text of {css:?}: {err}"),
            }
        }
        panic!("{css:?} kept being replaced")
    }

    /// Whether a form control is enabled.
    pub async fn enabled(&self, e: &Element) -> bool {
        let v = self
            .cmd("GET", &format!("/element/{}/enabled", e.0), Value::Null)
            .await
            .expect("enabled");
        v.as_bool().unwrap_or(false)
    }

    /// A cookie of the current page (HttpOnly ones included), as WebDriver describes it.
    pub async fn cookie(&self, name: &str) -> Option<Value> {
        self.cmd("GET", &format!("/cookie/{name}"), Value::Null)
            .await
            .ok()
    }

    /// Save a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let v = self
            .cmd("GET", "/screenshot", Value::Null)
            .await
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("base64 PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// End the session (chromedriver closes the browser) and chromedriver.
    pub async fn quit(mut self) {
        let _ = self.cmd("DELETE", "", Value::Null).await;
        self.session.clear();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Also when a test fails: end the session with a blocking request first (killing
        // chromedriver alone would leave its browser running), then chromedriver.
        if !self.session.is_empty()
            && let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", self.port))
        {
            use std::io::{Read, Write};
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
                self.session, self.port
            );
            if conn.write_all(req.as_bytes()).is_ok() {
                let _ = conn.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
