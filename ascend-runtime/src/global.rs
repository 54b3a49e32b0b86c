//! The global client the `#[governed]` macro uses.
//!
//! [`global()`] looks, in order, at: the client installed for the current task
//! ([`MockGovernance::scope`](crate::testing::MockGovernance::scope) or [`scope`]), the client
//! installed for the current thread ([`install_for_thread`]), the client given to [`init`], and
//! finally a client built once from the environment. If the environment is incomplete, every
//! call returns the same [`Error::Configuration`] naming what to set — governed calls fail
//! closed.

use std::cell::RefCell;
use std::future::Future;
use std::sync::OnceLock;

use crate::client::AscendClient;
use crate::error::{Error, Result};

static INSTALLED: OnceLock<AscendClient> = OnceLock::new();
static FROM_ENV: OnceLock<std::result::Result<AscendClient, Error>> = OnceLock::new();

tokio::task_local! {
    static TASK_CLIENT: AscendClient;
}

thread_local! {
    static THREAD_CLIENTS: RefCell<Vec<AscendClient>> = const { RefCell::new(Vec::new()) };
}

/// Install `client` as the process-wide client. Fails if one was installed already.
///
/// ```no_run
/// let client = ascend_runtime::AscendClient::from_env()?;
/// ascend_runtime::init(client)?;
/// # Ok::<(), ascend_runtime::Error>(())
/// ```
pub fn init(client: AscendClient) -> Result<()> {
    INSTALLED.set(client).map_err(|_| {
        Error::Configuration("ascend_runtime::init was already called in this process".to_owned())
    })
}

/// The client governed calls use (see the module docs for the lookup order).
pub fn global() -> Result<AscendClient> {
    if let Ok(c) = TASK_CLIENT.try_with(AscendClient::clone) {
        return Ok(c);
    }
    if let Some(c) = THREAD_CLIENTS.with(|s| s.borrow().last().cloned()) {
        return Ok(c);
    }
    if let Some(c) = INSTALLED.get() {
        return Ok(c.clone());
    }
    FROM_ENV
        .get_or_init(|| {
            AscendClient::from_env().map_err(|e| match e {
                Error::Configuration(m) => Error::Configuration(format!(
                    "no governance client: call ascend_runtime::init(..) or set the environment ({m})"
                )),
                other => other,
            })
        })
        .clone()
}

/// Run `fut` with `client` as the global client of that task only.
pub async fn scope<F: Future>(client: AscendClient, fut: F) -> F::Output {
    TASK_CLIENT.scope(client, fut).await
}

/// Restores the previous thread client when dropped. Returned by [`install_for_thread`].
#[must_use = "the client is uninstalled when the guard is dropped"]
#[derive(Debug)]
pub struct ThreadGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        THREAD_CLIENTS.with(|s| {
            s.borrow_mut().pop();
        });
    }
}

/// Make `client` the global client of the current thread until the guard is dropped.
pub fn install_for_thread(client: AscendClient) -> ThreadGuard {
    THREAD_CLIENTS.with(|s| s.borrow_mut().push(client));
    ThreadGuard {
        _not_send: std::marker::PhantomData,
    }
}
