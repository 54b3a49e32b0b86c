//! HTTPS serving (`--tls-cert` / `--tls-key`): the API over TLS with a private CA, refusals of
//! plain HTTP and of clients that do not trust the certificate, `Secure` console cookies, and
//! the command line (`ascend serve` printing an https URL, `--ca-cert` for the client commands).
//! Certificates: `tests/data/tls` (test-only CA and server certificate for 127.0.0.1).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ascend_server::tls::TlsFiles;
use common::{harness_with, low_action, tls};
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

fn files() -> TlsFiles {
    TlsFiles {
        cert: data("server.pem"),
        key: data("server.key"),
    }
}

/// A client that trusts the test CA only.
fn trusting_client() -> reqwest::Client {
    tls();
    let mut roots = rustls::RootCertStore::empty();
    for cert in ascend_server::tls::read_certificates(&data("ca.pem")).unwrap() {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_served_over_tls() {
    let h = harness_with(|c| c.tls = Some(files())).await;
    let base = h.server.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let client = trusting_client();

    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // A governed decision over TLS.
    let resp = client
        .post(format!("{base}/api/v1/actions/submit"))
        .header("x-api-key", &h.agent)
        .json(&low_action("tls-agent"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "approved", "{body}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let addr = h.server.addr();
    let r = plain.get(format!("http://{addr}/health")).send().await;
    assert!(r.is_err(), "plain HTTP was answered: {r:?}");

    // A client that does not trust the private CA fails the handshake.
    let r = h.http.get(format!("{base}/health")).send().await;
    let e = r.expect_err("an untrusted certificate was accepted");
    assert!(e.is_connect(), "{e:?}");

    // The server still answers after those failed handshakes.
    let again = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(again.status(), 200);
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_cookies_are_secure_over_tls() {
    let h = harness_with(|c| c.tls = Some(files())).await;
    let client = trusting_client();
    let resp = client
        .get(format!("{}/console/sign-in", h.server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookies: Vec<_> = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(!cookies.is_empty());
    assert!(
        cookies.iter().all(|c| c.contains("; Secure")),
        "{cookies:?}"
    );
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_stops_the_start() {
    tls();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.tls = Some(TlsFiles {
        cert: data("server.pem"),
        key: data("other.key"),
    });
    let e = ascend_server::start(config).await.unwrap_err().to_string();
    assert!(e.contains("do not make a usable certificate"), "{e}");
    assert!(
        !dir.path().join("ascend.db").exists(),
        "nothing is opened before the certificate loads"
    );
}

/// `ascend serve` with the flags prints an https URL; `ascend --ca-cert` commands reach it.
#[test]
fn the_command_line_serves_and_reaches_https() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("a.db"))
        .arg("--tls-cert")
        .arg(data("server.pem"))
        .arg("--tls-key")
        .arg(data("server.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = None;
    let mut key = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("ascend server listening on ") {
            url = Some(u.to_owned());
        }
        if let Some(k) = line.strip_prefix("admin key (shown once, store it now): ") {
            key = Some(k.to_owned());
        }
        if line.starts_with("database: ") {
            break;
        }
    }
    let (url, key) = (url.unwrap(), key.unwrap());
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let run = |ca: Option<PathBuf>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ascend"));
        c.args(["actions", "list"])
            .env("ASCEND_API_URL", &url)
            .env("ASCEND_API_KEY", &key)
            .env_remove("ASCEND_CA_CERT");
        if let Some(ca) = ca {
            c.arg("--ca-cert").arg(ca);
        }
        c.output().unwrap()
    };
    let trusted = run(Some(data("ca.pem")));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let untrusted = run(None);
    assert!(!untrusted.status.success());
    let err = String::from_utf8_lossy(&untrusted.stderr);
    assert!(err.contains("cannot reach the server"), "{err}");
    let _ = child.kill();
    let _ = child.wait();

    // One of the two files alone is refused with a message naming the other.
    let o = Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("b.db"))
        .arg("--tls-cert")
        .arg(data("server.pem"))
        .env_remove("ASCEND_TLS_KEY")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("tls_key"), "{err}");
}

/// The Rust runtime over HTTPS: a private CA trusted with `ca_certificate_file`, refused (a TLS
/// error, never a fail-open decision) without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_client_trusts_a_private_ca_when_told() {
    use ascend_runtime::{AgentAction, AscendClient, Error, EvaluateOptions, FailMode};
    let h = harness_with(|c| c.tls = Some(files())).await;
    let builder = || {
        AscendClient::builder()
            .ignore_env()
            .api_url(h.server.base_url())
            .api_key(h.agent.clone())
            .agent_id("tls-runtime")
            .max_retries(0)
    };
    let trusted = builder()
        .ca_certificate_file(data("ca.pem"))
        .build()
        .unwrap();
    let action = || AgentAction::new("database.read", "product_catalog");
    let d = trusted
        .authorize(action(), EvaluateOptions::no_wait())
        .await
        .expect("allowed over TLS");
    assert!(d.is_allowed());

    // Without the CA the handshake fails; even a fail-open client does not run the action.
    let untrusted = builder().fail_mode(FailMode::Open).build().unwrap();
    let e = untrusted
        .authorize(action(), EvaluateOptions::no_wait())
        .await
        .expect_err("an untrusted certificate was accepted");
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");

    // A CA file that is not PEM is a configuration error when the client is built.
    let e = builder()
        .ca_certificate_file(data("README.md"))
        .build()
        .expect_err("a non-PEM CA file was accepted");
    assert!(matches!(e, Error::Configuration(_)), "{e:?}");
    assert!(e.to_string().contains("README.md"), "{e}");
    h.server.shutdown().await.unwrap();
}
