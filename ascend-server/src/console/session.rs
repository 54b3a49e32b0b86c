//! Sign-in, sessions and CSRF.
//!
//! A reviewer, admin or operator key is exchanged once for a session: a random 256-bit token in
//! an `HttpOnly; SameSite=Strict` cookie (`Secure` behind TLS) limited to `/console`. The
//! server keeps only the token's SHA-256 and the key's id (never the key), so a revoked or
//! expired key ends its sessions at their next request. Sessions end after 30 minutes idle or
//! 8 hours in all. Each session has its own CSRF token, sent back in a hidden field of every
//! form and compared in constant time on every POST (the sign-in form itself is protected by a
//! double-submit token in a short-lived cookie); a POST whose `Origin` names another site is
//! refused as well. Agent keys cannot sign in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Console;
use super::layout;
use crate::error::Error;
use crate::model::{Principal, Role, now};
use crate::serve::OverTls;

/// Name of the session cookie.
pub const COOKIE: &str = "ascend_console";
/// Name of the sign-in form's double-submit cookie.
pub const SIGN_IN_COOKIE: &str = "ascend_console_signin";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in whatever happens.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
const MAX_SESSIONS: usize = 10_000;

/// A message shown once on the next page (the result of a vote, a refusal).
#[derive(Debug, Clone)]
pub struct Flash {
    /// Success (true) or refusal / error (false).
    pub ok: bool,
    /// The sentence.
    pub text: String,
}

struct Session {
    key_id: String,
    csrf: String,
    started: Instant,
    seen: Instant,
    flash: Option<Flash>,
}

impl Session {
    fn live(&self, at: Instant) -> bool {
        at.duration_since(self.seen) < IDLE && at.duration_since(self.started) < LIFETIME
    }
}

/// The server-side session store (in memory: a restart signs everybody out).
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// 32 random bytes as hex.
fn random_token() -> Result<String, Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(b))
}

impl Sessions {
    /// Open a session for `key_id`; returns the cookie token.
    fn open(&self, key_id: &str) -> Result<String, Error> {
        let token = random_token()?;
        let at = Instant::now();
        let session = Session {
            key_id: key_id.to_owned(),
            csrf: random_token()?,
            started: at,
            seen: at,
            flash: None,
        };
        let mut map = self
            .map
            .lock()
            .map_err(|_| Error::Internal("session store poisoned".into()))?;
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.live(at));
        }
        if map.len() >= MAX_SESSIONS {
            return Err(Error::StoreUnavailable("too many console sessions".into()));
        }
        map.insert(digest(&token), session);
        Ok(token)
    }

    /// The live session of `token`: (its id, key id, CSRF token). Touches it.
    fn find(&self, token: &str) -> Option<([u8; 32], String, String)> {
        let id = digest(token);
        let at = Instant::now();
        let mut map = self.map.lock().ok()?;
        let s = map.get_mut(&id)?;
        if !s.live(at) {
            map.remove(&id);
            return None;
        }
        s.seen = at;
        Some((id, s.key_id.clone(), s.csrf.clone()))
    }

    fn close(&self, id: &[u8; 32]) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(id);
        }
    }

    fn take_flash(&self, id: &[u8; 32]) -> Option<Flash> {
        self.map.lock().ok()?.get_mut(id)?.flash.take()
    }

    fn flash(&self, id: &[u8; 32], flash: Flash) {
        if let Ok(mut map) = self.map.lock()
            && let Some(s) = map.get_mut(id)
        {
            s.flash = Some(flash);
        }
    }
}

/// The value of cookie `name` in the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the browser talks to us over TLS (directly or through a proxy that says so).
/// Served over TLS: by this process, or by a proxy in front of it that says so.
fn over_tls(headers: &HeaderMap, tls: Option<Extension<OverTls>>) -> bool {
    tls.is_some()
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A POST whose `Origin` is another site is refused (browsers send it on form posts).
fn foreign_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let bare = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("\u{0}");
    bare != host
}

/// A signed-in reviewer, admin or operator (the extractor of every console page).
pub struct Signed {
    /// Who.
    pub principal: Principal,
    /// The session's CSRF token (put in every form).
    pub csrf: String,
    id: [u8; 32],
}

impl Signed {
    /// The refusal (403) of a POST unless `presented` is this session's CSRF token and the
    /// request comes from this site.
    pub fn forged(&self, headers: &HeaderMap, presented: &str) -> Option<Response> {
        (foreign_origin(headers) || !same(presented, &self.csrf)).then(|| {
            refused(
                StatusCode::FORBIDDEN,
                "The form's security token is missing or wrong (reload the page and try again).",
            )
        })
    }

    /// The message left for this page, if any (only whole pages take it: the script's
    /// fragment requests must not swallow it).
    pub fn take_flash(&self, c: &Console) -> Option<Flash> {
        c.sessions.take_flash(&self.id)
    }

    /// Leave `flash` for the next page of this session.
    pub fn leave(&self, c: &Console, flash: Flash) {
        c.sessions.flash(&self.id, flash);
    }
}

/// The principal behind a session's key id, while the key is usable and may use the console.
fn principal_of(c: &Console, key_id: &str) -> Option<Principal> {
    let record = c.gov.state().keys.get(key_id)?;
    if !record.is_usable(now()) || record.role < Role::Reviewer {
        return None;
    }
    Some(Principal {
        key_id: record.key_id.clone(),
        org_id: record.org_id,
        role: record.role,
        agent_id: record.agent_id.clone(),
        people: record.people(),
        name: record.name,
    })
}

impl FromRequestParts<Console> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, Response> {
        let found = cookie(&parts.headers, COOKIE).and_then(|t| c.sessions.find(t));
        let signed = found.and_then(|(id, key_id, csrf)| match principal_of(c, &key_id) {
            Some(principal) => Some(Signed {
                principal,
                csrf,
                id,
            }),
            None => {
                c.sessions.close(&id);
                None
            }
        });
        match signed {
            Some(s) => Ok(s),
            None if parts.method == Method::GET => {
                Err(Redirect::to("/console/sign-in").into_response())
            }
            None => Err(refused(
                StatusCode::UNAUTHORIZED,
                "You are not signed in (or your session ended).",
            )),
        }
    }
}

/// A small page saying why a request was refused.
pub fn refused(status: StatusCode, text: &str) -> Response {
    let body = html! {
        main class="narrow" {
            h1 { "Refused" }
            p role="alert" class="flash bad" { (text) }
            p { a href="/console/queue" { "Back to the console" } }
        }
    };
    (status, layout::bare("Refused", body)).into_response()
}

fn sign_in_form(token: &str, error: Option<&str>) -> Markup {
    html! {
        main class="narrow" {
            h1 { "Ascend console" }
            p { "Sign in with a reviewer or admin API key. The key is exchanged for a session; \
                 it is not kept in the browser." }
            @if let Some(e) = error {
                p role="alert" class="flash bad" id="sign-in-error" { (e) }
            }
            form method="post" action="/console/sign-in" class="card" {
                input type="hidden" name="csrf" value=(token);
                label for="key" { "API key" }
                input type="password" id="key" name="key" required autocomplete="off"
                    spellcheck="false" autofocus;
                button type="submit" id="sign-in" { "Sign in" }
            }
        }
    }
}

fn sign_in_response(status: StatusCode, secure: bool, error: Option<&str>) -> Response {
    let Ok(token) = random_token() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let page = layout::bare("Sign in", sign_in_form(&token, error));
    let cookie = set_cookie(SIGN_IN_COOKIE, &token, Duration::from_secs(900), secure);
    (status, [(header::SET_COOKIE, cookie)], page).into_response()
}

/// `GET /console/sign-in`.
pub async fn sign_in_page(headers: HeaderMap, tls: Option<Extension<OverTls>>) -> Response {
    sign_in_response(StatusCode::OK, over_tls(&headers, tls), None)
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    key: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /console/sign-in`.
pub async fn sign_in(
    State(c): State<Console>,
    headers: HeaderMap,
    tls: Option<Extension<OverTls>>,
    Form(form): Form<SignInForm>,
) -> Response {
    let secure = over_tls(&headers, tls);
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if foreign_origin(&headers) || expected.is_empty() || !same(&form.csrf, expected) {
        let msg = "The sign-in form expired; please try again.";
        return sign_in_response(StatusCode::FORBIDDEN, secure, Some(msg));
    }
    let principal = match c.gov.authenticate(form.key.trim()).await {
        Ok(p) => p,
        Err(_) => {
            let msg = "This key is not valid (unknown, revoked or expired).";
            return sign_in_response(StatusCode::UNAUTHORIZED, secure, Some(msg));
        }
    };
    if principal.role < Role::Reviewer {
        let msg = "Agent keys cannot sign in to the console: use a reviewer or admin key.";
        return sign_in_response(StatusCode::FORBIDDEN, secure, Some(msg));
    }
    let token = match c.sessions.open(&principal.key_id) {
        Ok(t) => t,
        Err(e) => return refused(e.status(), &e.to_string()),
    };
    tracing::info!(key = %principal.key_id, role = %principal.role, "console sign-in");
    let mut resp = Redirect::to("/console/queue").into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(COOKIE, &token, LIFETIME, secure),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(SIGN_IN_COOKIE, "", Duration::ZERO, secure),
    );
    resp
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/sign-out`.
pub async fn sign_out(
    State(c): State<Console>,
    s: Signed,
    headers: HeaderMap,
    tls: Option<Extension<OverTls>>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(r) = s.forged(&headers, &form.csrf) {
        return r;
    }
    c.sessions.close(&s.id);
    let mut resp = Redirect::to("/console/sign-in").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(COOKIE, "", Duration::ZERO, over_tls(&headers, tls)),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("ascend_console_signin=a; ascend_console=b"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("b"));
        assert_eq!(cookie(&h, SIGN_IN_COOKIE), Some("a"));
        assert_eq!(cookie(&h, "other"), None);
    }

    #[test]
    fn sessions_open_find_close() {
        let s = Sessions::default();
        let token = s.open("k1").unwrap();
        let (id, key, csrf) = s.find(&token).unwrap();
        assert_eq!(key, "k1");
        assert_eq!(csrf.len(), 64);
        assert!(s.find("nope").is_none());
        s.close(&id);
        assert!(s.find(&token).is_none());
    }

    #[test]
    fn origin_must_be_this_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9"));
        assert!(!foreign_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:9"),
        );
        assert!(!foreign_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8"),
        );
        assert!(foreign_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(foreign_origin(&h));
    }
}
