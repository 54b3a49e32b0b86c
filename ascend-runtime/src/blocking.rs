//! The sync facade: `_blocking` versions of the client's operations. Each runs the async
//! operation on the runtime's own background runtime and waits on a channel, so it works from
//! `main`, from a plain thread, and from inside a tokio runtime of either flavour without
//! panicking (it never calls `block_on` on the caller's runtime, and never uses
//! `reqwest::blocking`). The calling thread is blocked meanwhile: inside a current-thread
//! runtime, that runtime's other tasks wait until the call returns (prefer the async methods
//! in async code).
//!
//! One case cannot work and fails at once instead of stalling: a blocking call on a
//! **current-thread** tokio runtime to a control plane that runs on that same runtime (a test
//! or an app serving `ascend-server` in-process): it cannot answer while this thread is
//! blocked. Before such a call to a loopback URL the thread sends the server a one-line probe
//! (plain TCP, 300 ms); a server elsewhere — another thread, another process — answers it and
//! the call proceeds; a server on this runtime cannot, and the call fails with
//! [`Error::Configuration`](crate::Error::Configuration) saying what to do: a multi-thread
//! runtime, `tokio::task::spawn_blocking`, an async fn, or the embedded backend (which answers
//! on the calling thread).
//!
//! ```no_run
//! use ascend_runtime::{AgentAction, AscendClient, EvaluateOptions};
//!
//! let client = AscendClient::from_env()?;
//! let decision = client.authorize_blocking(
//!     AgentAction::new("file.delete", "/tmp/report.csv"),
//!     EvaluateOptions::default(),
//! )?;
//! println!("allowed: {}", decision.action_id);
//! # Ok::<(), ascend_runtime::Error>(())
//! ```

use std::future::Future;
use std::time::Duration;

use crate::action::AgentAction;
use crate::client::{AscendClient, EvaluateOptions};
use crate::decision::AuthorizationDecision;
use crate::error::Result;

/// Run any future to completion on the background runtime, blocking the current thread.
///
/// ```
/// let n = ascend_runtime::blocking::block_on(async { Ok::<_, ascend_runtime::Error>(40 + 2) })?;
/// assert_eq!(n, 42);
/// # Ok::<(), ascend_runtime::Error>(())
/// ```
pub fn block_on<F, T>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    crate::background::block_on(fut)
}

impl AscendClient {
    /// Run `f(client)` on the background runtime and wait for it: the sync form of any async
    /// operation, e.g. `client.run_blocking(|c| async move { c.list_actions(Default::default()).await })`.
    pub fn run_blocking<F, Fut, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(AscendClient) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.refuse_stall()?;
        block_on(f(self.clone()))
    }

    /// Fail at once where blocking would stall (see the [module docs](self)).
    fn refuse_stall(&self) -> Result<()> {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return Ok(());
        };
        let current_thread =
            handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread;
        if !current_thread
            || crate::background::on_background()
            || self.inner.backend.answers_inline()
        {
            return Ok(());
        }
        let url = &self.inner.config.api_url;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        if !loopback || server_answers_while_blocked(url) {
            return Ok(());
        }
        Err(crate::Error::Configuration(format!(
            "a sync governed call (or a *_blocking method) was made on a current-thread tokio \
             runtime, and the control plane at {url} does not answer while this thread is \
             blocked (it runs on this very runtime). Use a multi-thread runtime (#[tokio::main], \
             #[tokio::test(flavor = \"multi_thread\")]), call the function inside \
             tokio::task::spawn_blocking, make it async, or use the embedded backend \
             (ascend_server::Embedded), which answers on the calling thread"
        )))
    }

    /// [`AscendClient::authorize`] from sync code. The kill switch is checked on the calling
    /// thread first (no thread hop when blocked).
    pub fn authorize_blocking(
        &self,
        action: AgentAction,
        opts: EvaluateOptions,
    ) -> Result<AuthorizationDecision> {
        self.check_kill_switch()?;
        if self.inner.backend.answers_inline() {
            // In-process backend: submit on this thread; only a wait for a human hops (and a
            // human decides on another thread, so that wait cannot stall this runtime).
            let decision = crate::background::run_here(
                self.evaluate_action(action, EvaluateOptions::no_wait()),
            )?;
            if decision.is_pending() && opts.wait_for_approval {
                let id = decision.action_id.clone();
                let timeout = opts.approval_timeout;
                let d =
                    self.run_blocking(
                        move |c| async move { c.wait_for_decision(&id, timeout).await },
                    )?;
                return crate::client::settle(d);
            }
            return crate::client::settle(decision);
        }
        self.run_blocking(move |c| async move { c.authorize(action, opts).await })
    }

    /// [`AscendClient::evaluate_action`] from sync code.
    pub fn evaluate_action_blocking(
        &self,
        action: AgentAction,
        opts: EvaluateOptions,
    ) -> Result<AuthorizationDecision> {
        self.check_kill_switch()?;
        self.run_blocking(move |c| async move { c.evaluate_action(action, opts).await })
    }

    /// [`AscendClient::submit_action`] from sync code.
    pub fn submit_action_blocking(&self, action: AgentAction) -> Result<AuthorizationDecision> {
        self.run_blocking(move |c| async move { c.submit_action(action).await })
    }

    /// [`AscendClient::get_action_status`] from sync code.
    pub fn get_action_status_blocking(&self, action_id: &str) -> Result<AuthorizationDecision> {
        let id = action_id.to_owned();
        self.run_blocking(move |c| async move { c.get_action_status(&id).await })
    }

    /// [`AscendClient::wait_for_decision`] from sync code.
    pub fn wait_for_decision_blocking(
        &self,
        action_id: &str,
        timeout: Duration,
    ) -> Result<AuthorizationDecision> {
        let id = action_id.to_owned();
        self.run_blocking(move |c| async move { c.wait_for_decision(&id, timeout).await })
    }
}

/// Whether the server behind a loopback `url` answers while the calling thread is blocked: a
/// plain TCP connection and one request line, any answer (bytes or a close) within 300 ms. The
/// kernel accepts the connection even when the server's accept loop cannot run, so only the
/// answer tells.
fn server_answers_while_blocked(url: &url::Url) -> bool {
    use std::io::{Read, Write};
    const WAIT: Duration = Duration::from_millis(300);
    let Ok(addrs) = url.socket_addrs(|| None) else {
        return true; // not ours to judge: the call itself will report the problem
    };
    let Some(addr) = addrs.into_iter().next() else {
        return true;
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, WAIT) else {
        return true; // nothing listening: the call fails on its own, quickly
    };
    let _ = stream.set_read_timeout(Some(WAIT));
    let _ = stream.set_write_timeout(Some(WAIT));
    if stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return true;
    }
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        // Some bytes, or 0 (a close): someone is serving either way.
        Ok(_n) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}
