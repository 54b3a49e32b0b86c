//! The console (`/console`), against a real server on 127.0.0.1:
//!
//! - `console_refuses_...`: over plain HTTP, a request without a session, with a wrong CSRF
//!   token, or signed in with an agent key is refused; the cookie and security headers are set.
//! - `console_in_a_real_browser`: a headless Chromium driven over WebDriver signs in, sees a
//!   pending action appear live, approves it (the waiting governed call resumes), denies
//!   another with a comment, sees an action decided elsewhere leave the queue within a second,
//!   is refused separation of duties, triggers and releases the kill switch (a governed call is
//!   refused meanwhile), reads history, detail, audit and insights, and signs out. A screenshot
//!   of each page goes to `tests/screenshots/` (git-ignored).
//!
//! The browser test needs `chromium` and `chromedriver`; without them it is skipped with a
//! notice, unless `ASCEND_BROWSER_TESTS=1` (CI) makes their absence a failure.

mod common;
#[path = "console/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ascend_runtime::{AgentAction, AscendClient, EvaluateOptions, Outcome};
use reqwest::header;
use serde_json::json;

use common::Harness;
use webdriver::Browser;

// ─── helpers ───────────────────────────────────────────────────────────────────────────────

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn form(fields: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The value of cookie `name` in a response's Set-Cookie headers, and the whole header.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=')?;
            (k == name).then(|| (val.to_owned(), v.to_owned()))
        })
}

/// The first hidden `csrf` value in a page.
fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn post_form(
    http: &reqwest::Client,
    url: &str,
    cookie: &str,
    body: String,
) -> reqwest::Response {
    http.post(url)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Sign in over plain HTTP; returns the `Cookie` header value of the session, or the status.
async fn sign_in(h: &Harness, key: &str) -> Result<String, u16> {
    let http = no_redirects();
    let page = http.get(h.url("/console/sign-in")).send().await.unwrap();
    let (pre, _) = set_cookie(&page, "ascend_console_signin").expect("sign-in cookie");
    let html = page.text().await.unwrap();
    assert_eq!(csrf_in(&html), pre, "double-submit token");
    let resp = post_form(
        &http,
        &h.url("/console/sign-in"),
        &format!("ascend_console_signin={pre}"),
        form(&[("key", key), ("csrf", &pre)]),
    )
    .await;
    if resp.status() != 303 {
        return Err(resp.status().as_u16());
    }
    let (token, _) = set_cookie(&resp, "ascend_console").expect("session cookie");
    Ok(format!("ascend_console={token}"))
}

fn client(h: &Harness, agent: &str) -> AscendClient {
    AscendClient::builder()
        .api_key(h.agent.clone())
        .api_url(h.server.base_url())
        .agent_id(agent)
        .agent_name("Billing agent")
        .poll_interval(Duration::from_millis(100))
        .build()
        .expect("client")
}

/// A governed call: ask, wait for a human when needed, run the body, report the outcome.
async fn governed_write(c: AscendClient, customer: String) -> Result<String, String> {
    let action = AgentAction::new("database.write", "customers")
        .with_resource_id(customer.clone())
        .with_tool_name("crm.update_address")
        .with_parameter("address", json!("1 Main St"))
        .with_parameter("api_key", json!("sk_live_should_never_show"))
        .with_risk_indicator("pii_involved", json!(true))
        .with_risk_indicator("data_classification", json!("pii"));
    let d = c
        .authorize(action, EvaluateOptions::wait(Duration::from_secs(60)))
        .await
        .map_err(|e| e.code().to_owned())?;
    let started = Instant::now();
    let result = format!("updated {customer}");
    c.report_outcome(
        &d.action_id,
        Outcome::Completed {
            duration: started.elapsed() + Duration::from_millis(12),
        },
    );
    Ok(result)
}

/// A low-risk governed call (allowed at once unless halted).
async fn governed_read(c: &AscendClient) -> Result<(), String> {
    let action = AgentAction::new("database.read", "product_categories")
        .with_risk_indicator("data_classification", json!("public"));
    c.authorize(action, EvaluateOptions::no_wait())
        .await
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", e.code()))
}

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/screenshots")
}

// ─── refusals over plain HTTP ──────────────────────────────────────────────────────────────

#[tokio::test]
async fn console_refuses_without_session_csrf_or_reviewer_key() {
    let h = common::harness().await;
    let http = no_redirects();

    // No session: pages send you to sign in, posts are refused.
    let r = http.get(h.url("/console/queue")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[header::LOCATION], "/console/sign-in");
    let r = post_form(
        &http,
        &h.url("/console/actions/1/vote"),
        "",
        form(&[("decision", "approve")]),
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = post_form(
        &http,
        &h.url("/console/kill-switch"),
        "ascend_console=forged",
        form(&[("active", "on")]),
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = http.get(h.url("/console/events")).send().await.unwrap();
    assert_eq!(r.status(), 303);

    // The sign-in form without its double-submit cookie is refused.
    let r = post_form(
        &http,
        &h.url("/console/sign-in"),
        "",
        form(&[("key", &h.reviewer), ("csrf", "x")]),
    )
    .await;
    assert_eq!(r.status(), 403);

    // Agent keys and bad keys cannot sign in; API keys do not open console pages.
    assert_eq!(sign_in(&h, &h.agent).await, Err(403));
    assert_eq!(sign_in(&h, "ascend_nope_nope").await, Err(401));
    let r = http
        .get(h.url("/console/queue"))
        .header("x-api-key", &h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "an API key is not a session");

    // A reviewer signs in: the cookie is HttpOnly, SameSite=Strict, limited to /console.
    let page = http.get(h.url("/console/sign-in")).send().await.unwrap();
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    let (pre, _) = set_cookie(&page, "ascend_console_signin").unwrap();
    let r = post_form(
        &http,
        &h.url("/console/sign-in"),
        &format!("ascend_console_signin={pre}"),
        form(&[("key", &h.reviewer), ("csrf", &pre)]),
    )
    .await;
    assert_eq!(r.status(), 303);
    let (token, whole) = set_cookie(&r, "ascend_console").unwrap();
    assert_eq!(token.len(), 64);
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(whole.contains(attr), "{whole}");
    }
    assert!(!whole.contains("Secure"), "no TLS in this test");
    let cookie = format!("ascend_console={token}");
    let queue = http
        .get(h.url("/console/queue"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(queue.status(), 200);
    assert_eq!(queue.headers()[header::CACHE_CONTROL], "no-store");
    let html = queue.text().await.unwrap();
    assert!(
        !html.contains(&h.reviewer),
        "the key never reaches the page"
    );
    let csrf = csrf_in(&html);

    // Submit a pending action, then try to vote with a wrong or missing CSRF token.
    let (_, body) = h
        .send(
            reqwest::Method::POST,
            "/api/v1/actions/submit",
            Some(&h.agent),
            Some(
                json!({"agent_id": "a1", "action_type": "database.write", "resource": "customers",
                        "risk_indicators": {"pii_involved": true, "data_classification": "pii"}}),
            ),
        )
        .await;
    assert_eq!(body["decision"], "pending", "{body}");
    let id = body["id"].as_i64().unwrap();
    let vote_url = h.url(&format!("/console/actions/{id}/vote"));
    for bad in ["", "0000", &"a".repeat(64)] {
        let r = post_form(
            &http,
            &vote_url,
            &cookie,
            form(&[("decision", "approve"), ("csrf", bad)]),
        )
        .await;
        assert_eq!(r.status(), 403, "csrf {bad:?}");
    }
    // The right token but another site's Origin is refused too.
    let r = http
        .post(&vote_url)
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, "http://127.0.0.1:1")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("decision", "approve"), ("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (_, status) = h
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/actions/{id}/status"),
            Some(&h.reviewer),
            None,
        )
        .await;
    assert_eq!(
        status["decision"], "pending",
        "no refused request changed anything"
    );

    // A reviewer may vote but not halt: the governance refusal is shown as such.
    let r = post_form(
        &http,
        &h.url("/console/kill-switch"),
        &cookie,
        form(&[
            ("csrf", &csrf),
            ("active", "on"),
            ("reason", "x"),
            ("confirm", "yes"),
        ]),
    )
    .await;
    assert_eq!(r.status(), 303);
    let ops = http
        .get(h.url("/console/operators"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ops.contains("Refused (403)"), "{ops}");
    let (_, ks) = h
        .send(
            reqwest::Method::GET,
            "/api/v1/kill-switch/status",
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(ks["blocked"], false);

    // A deny without a comment is refused by the governance rule; with one it works.
    let r = post_form(
        &http,
        &vote_url,
        &cookie,
        form(&[("decision", "deny"), ("csrf", &csrf)]),
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post_form(
        &http,
        &vote_url,
        &cookie,
        form(&[
            ("decision", "deny"),
            ("csrf", &csrf),
            ("comment", "not today"),
        ]),
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, status) = h
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/actions/{id}/status"),
            Some(&h.reviewer),
            None,
        )
        .await;
    assert_eq!(status["decision"], "denied");
    assert_eq!(status["comments"], "not today");

    // A revoked key ends its sessions at their next request.
    let keys = h
        .send(reqwest::Method::GET, "/api/v1/keys", Some(&h.admin), None)
        .await
        .1;
    let reviewer_id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "reviewer")
        .and_then(|k| k["key_id"].as_str())
        .unwrap()
        .to_owned();
    let (code, _) = h
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/keys/{reviewer_id}/revoke"),
            Some(&h.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(code, 200);
    let r = http
        .get(h.url("/console/queue"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "revoked key, session gone");

    h.server.shutdown().await.unwrap();
}

// ─── the browser ───────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser() {
    let Some((chromium, driver)) = webdriver::installed() else {
        if std::env::var("ASCEND_BROWSER_TESTS").as_deref() == Ok("1") {
            panic!("ASCEND_BROWSER_TESTS=1 but chromium/chromedriver are not installed");
        }
        eprintln!(
            "NOTICE: console browser test SKIPPED: chromium and chromedriver are not installed \
             (apt-get install chromium chromium-driver; CI sets ASCEND_BROWSER_TESTS=1)"
        );
        return;
    };
    let h = common::harness().await;
    let b = Browser::start(&chromium, &driver).await;
    let shots = shots();
    let url = |p: &str| h.url(p);
    let wait = Duration::from_secs(10);

    // Sign in: an agent key is refused, the reviewer key works.
    b.goto(&url("/console/queue")).await;
    assert!(b.url().await.ends_with("/console/sign-in"));
    b.type_in(&b.wait_for("#key", wait).await, &h.agent).await;
    b.click(&b.find("#sign-in").await.unwrap()).await;
    let err = b.text(&b.wait_for("#sign-in-error", wait).await).await;
    assert!(err.contains("Agent keys cannot sign in"), "{err}");
    b.screenshot(&shots.join("01-sign-in-agent-refused.png"))
        .await;
    b.type_in(&b.wait_for("#key", wait).await, &h.reviewer)
        .await;
    b.click(&b.find("#sign-in").await.unwrap()).await;
    b.wait_for("#queue-items", wait).await;
    assert!(b.url().await.ends_with("/console/queue"));
    let cookie = b.cookie("ascend_console").await.expect("session cookie");
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    assert!(b.text_of("#who").await.contains("reviewer"));
    assert!(b.text_of("#kill-state").await.contains("off"));
    // The push stream is connected before anything is submitted.
    let deadline = Instant::now() + wait;
    while b.text_of("#live-state").await != "live" {
        assert!(Instant::now() < deadline, "the queue never went live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A governed call waits for a human: its action appears in the open page by itself.
    let agent = client(&h, "billing-agent");
    let first = tokio::spawn(governed_write(agent.clone(), "cust_1".into()));
    let card = b.wait_for("article[data-action-id]", wait).await;
    let text = b.text(&card).await;
    for needle in [
        "billing-agent",
        "database.write",
        "customers",
        "crm.update_address",
        "CVSS:3.1/",
        "likelihood",
        "high",
        "Expires",
    ] {
        assert!(
            text.contains(needle),
            "{needle:?} missing from the card:\n{text}"
        );
    }
    let html = b.source().await;
    assert!(html.contains("1 Main St"), "parameters are shown");
    assert!(
        !html.contains("sk_live_should_never_show"),
        "secrets in parameters are redacted"
    );
    assert!(
        b.find("table.factors td.num").await.is_some(),
        "risk factors with points"
    );
    b.screenshot(&shots.join("02-queue.png")).await;
    b.size(390, 844).await;
    b.screenshot(&shots.join("02-queue-phone.png")).await;
    b.size(1280, 800).await;

    // Approve: the waiting call resumes and runs.
    let id1 = card_id(&b).await;
    b.click(&b.find(&format!("#approve-{id1}")).await.unwrap())
        .await;
    let flash = b.text(&b.wait_for("#flash", wait).await).await;
    assert!(flash.contains("approved"), "{flash}");
    let r = tokio::time::timeout(Duration::from_secs(20), first)
        .await
        .expect("the call resumed");
    assert_eq!(r.expect("join"), Ok("updated cust_1".into()));

    // Deny another with a comment: the call gets the denial.
    let second = tokio::spawn(governed_write(agent.clone(), "cust_2".into()));
    let card = b.wait_for("article[data-action-id]", wait).await;
    let id2 = card_id_of(&b.text(&card).await);
    b.type_in(
        &b.find(&format!("#comment-{id2}")).await.unwrap(),
        "address change not requested by the customer",
    )
    .await;
    b.click(&b.find(&format!("#deny-{id2}")).await.unwrap())
        .await;
    let flash = b.text(&b.wait_for("#flash", wait).await).await;
    assert!(flash.contains("denied"), "{flash}");
    let r = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("the call ended");
    assert_eq!(r.expect("join"), Err("AUTHZ_DENIED".into()));

    // Decided elsewhere (the API, another reviewer): it leaves the open queue within a second.
    let third = tokio::spawn(governed_write(agent.clone(), "cust_3".into()));
    b.wait_for("article[data-action-id]", wait).await;
    let id3 = card_id(&b).await;
    let (code, _) = h
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/actions/{id3}/deny"),
            Some(&h.admin),
            Some(json!({"reason": "by the CLI"})),
        )
        .await;
    assert_eq!(code, 200);
    let gone = b
        .wait_gone(&format!("#action-{id3}"), Duration::from_secs(1))
        .await;
    eprintln!("an action decided elsewhere left the queue after {gone:?}");
    assert!(third.await.expect("join").is_err());

    // History and the detail page with the whole timeline.
    b.goto(&url("/console/history?decision=denied")).await;
    let rows = b.find_all("#history tbody tr").await;
    assert_eq!(rows.len(), 2, "two denials");
    b.screenshot(&shots.join("03-history.png")).await;
    b.goto(&url(&format!("/console/actions/{id1}"))).await;
    let deadline = Instant::now() + wait;
    loop {
        let t = b.text_of("#timeline").await;
        if t.contains("Completed") {
            for step in ["Submitted", "Approved by", "Decided: allowed", "ms"] {
                assert!(t.contains(step), "{step:?} missing:\n{t}");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no outcome in the timeline:\n{t}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.goto(&url(&format!("/console/actions/{id1}"))).await;
    }
    b.screenshot(&shots.join("04-detail.png")).await;

    // A reviewer sees the kill switch but cannot use it.
    b.goto(&url("/console/operators")).await;
    assert!(!b.enabled(&b.find("#halt-org").await.unwrap()).await);

    // Sign out; the old session no longer works.
    b.click(&b.find("#sign-out").await.unwrap()).await;
    b.wait_for("#key", wait).await;
    let old = format!("ascend_console={}", cookie["value"].as_str().unwrap());
    let r = no_redirects()
        .get(url("/console/queue"))
        .header(header::COOKIE, old)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed out");

    // The admin: separation of duties refuses approving one's own submission.
    b.type_in(&b.find("#key").await.unwrap(), &h.admin).await;
    b.click(&b.find("#sign-in").await.unwrap()).await;
    b.wait_for("#queue-items", wait).await;
    let (_, own) = h
        .send(
            reqwest::Method::POST,
            "/api/v1/actions/submit",
            Some(&h.admin),
            Some(json!({"agent_id": "ops-agent", "action_type": "database.write", "resource": "customers",
                        "risk_indicators": {"pii_involved": true, "data_classification": "pii"}})),
        )
        .await;
    let own_id = own["id"].as_i64().expect("submitted");
    b.click(&b.wait_for(&format!("#approve-{own_id}"), wait).await)
        .await;
    let flash = b.text(&b.wait_for("#flash", wait).await).await;
    assert!(flash.starts_with("Refused (403)"), "{flash}");
    b.screenshot(&shots.join("05-refused.png")).await;

    // Kill switch: halt the organisation (reason + confirmation); a governed call is refused;
    // every page shows it; release; calls run again.
    let watcher = client(&h, "billing-agent");
    assert_eq!(governed_read(&watcher).await, Ok(()));
    b.goto(&url("/console/operators")).await;
    b.type_in(&b.find("#reason-halt-org").await.unwrap(), "incident 42")
        .await;
    b.click(&b.find("#confirm-halt-org").await.unwrap()).await;
    b.click(&b.find("#halt-org").await.unwrap()).await;
    let flash = b.text(&b.wait_for("#flash", wait).await).await;
    assert!(flash.contains("halted"), "{flash}");
    b.wait_for("#kill-state[data-halted=true]", wait).await;
    assert!(b.text_of("#kill-banner").await.contains("incident 42"));
    let refused = governed_read(&watcher).await.expect_err("halted");
    assert!(
        refused.contains("kill switch active: incident 42"),
        "{refused}"
    );
    b.screenshot(&shots.join("06-operators-halted.png")).await;
    b.goto(&url("/console/history")).await;
    assert!(
        b.text_of("#kill-banner").await.contains("HALTED"),
        "visible on every page"
    );
    b.goto(&url("/console/operators")).await;
    b.click(&b.find("#confirm-release-org").await.unwrap())
        .await;
    b.click(&b.find("#release-org").await.unwrap()).await;
    let flash = b.text(&b.wait_for("#flash", wait).await).await;
    assert!(flash.contains("runs again"), "{flash}");
    b.wait_for("#kill-state[data-halted=false]", wait).await;
    assert_eq!(governed_read(&watcher).await, Ok(()));
    let agents = b.text_of("#agents").await;
    assert!(agents.contains("billing-agent"), "{agents}");

    // Audit: the chain verifies; entries are listed. Insights: the pictures are there.
    b.goto(&url("/console/audit")).await;
    let v = b.wait_for("#verify-status", wait).await;
    assert!(b.text(&v).await.starts_with("Verified"));
    assert!(b.find("#checkpoint-status").await.is_some());
    assert!(b.find_all("#audit-entries tbody tr").await.len() > 5);
    b.screenshot(&shots.join("07-audit.png")).await;
    b.goto(&url("/console/insights")).await;
    for chart in [
        "#chart-hours",
        "#chart-risk",
        "#chart-agents",
        "#chart-types",
    ] {
        assert!(b.find(chart).await.is_some(), "{chart}");
    }
    assert!(b.find_all("#chart-hours rect.bar").await.len() >= 2);
    b.screenshot(&shots.join("08-insights.png")).await;

    b.quit().await;
    h.server.shutdown().await.unwrap();
}

/// The audit page says which entry the last signed checkpoint covers (plain HTTP).
#[tokio::test]
async fn the_audit_page_shows_the_last_signed_checkpoint() {
    // A checkpoint after every entry, so one is due as soon as anything is written.
    let h = common::harness_with(|c| c.audit.every = 1).await;
    let (status, _) = h.submit(&h.agent, common::low_action("cp-agent")).await;
    assert_eq!(status, 200);
    let cookie = sign_in(&h, &h.reviewer).await.expect("reviewer signs in");
    let html = no_redirects()
        .get(h.url("/console/audit"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = html
        .find("id=\"checkpoint-status\" data-signed-through=\"")
        .unwrap_or_else(|| panic!("no signed checkpoint shown: {html}"));
    let rest = &html[at..];
    let n: i64 = rest
        .split('"')
        .nth(3)
        .and_then(|v| v.parse().ok())
        .expect("a sequence number");
    assert!(n >= 1, "{n}");
    assert!(rest.contains("Signed through entry"), "{rest}");
    assert!(!html.contains("not available on this server"));
    h.server.shutdown().await.unwrap();
}

async fn card_id(b: &Browser) -> i64 {
    let card = b.find("article[data-action-id]").await.expect("a card");
    card_id_of(&b.text(&card).await)
}

/// The id in a card's title ("#12 database.write ...").
fn card_id_of(text: &str) -> i64 {
    let at = text.find('#').expect("an id") + 1;
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a number")
}
