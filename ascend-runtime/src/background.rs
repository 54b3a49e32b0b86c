//! The runtime's own background tokio runtime: HTTP exchanges, outcome reporting, the
//! kill-switch watch and the sync facade all run here, so the client works the same from any
//! executor, from plain threads, and from inside the caller's tokio runtimes of either flavour.

use std::cell::Cell;
use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

thread_local! {
    static ON_BACKGROUND: Cell<bool> = const { Cell::new(false) };
}

fn runtime() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("ascend-runtime")
                .enable_all()
                .on_thread_start(|| ON_BACKGROUND.with(|f| f.set(true)))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Configuration(format!("cannot start the background runtime: {e}")))
}

/// Whether the current thread is one of the background runtime's workers.
pub(crate) fn on_background() -> bool {
    ON_BACKGROUND.with(Cell::get)
}

/// Spawn a task on the background runtime.
pub(crate) fn spawn<F>(fut: F) -> Result<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(runtime()?.spawn(fut))
}

/// Run `fut` on the background runtime and await its result from any executor.
/// On a background worker it runs in place.
pub(crate) async fn run<F, T>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    if on_background() {
        return fut.await;
    }
    match spawn(fut)?.await {
        Ok(r) => r,
        Err(e) => Err(Error::Connection {
            message: format!("background task failed: {e}"),
        }),
    }
}

/// Block the current thread until `fut`, run on the background runtime, finishes.
/// Safe from `main`, plain threads and inside any tokio runtime (it never calls
/// `Runtime::block_on` on the caller's runtime).
pub(crate) fn block_on<F, T>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime()?;
    if on_background() {
        // A worker of our own runtime: let tokio move other tasks away first.
        return tokio::task::block_in_place(|| rt.handle().block_on(fut));
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    match rx.recv() {
        Ok(r) => r,
        Err(_) => Err(Error::Connection {
            message: "background task ended without an answer".to_owned(),
        }),
    }
}

/// Wakes the thread that polls [`run_here`]'s future.
struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Poll `fut` to completion on the calling thread, parking it between polls. For futures that
/// need no runtime of their own (an in-process backend whose answer comes from another thread
/// over a channel): no thread hop, no runtime entered.
pub(crate) fn run_here<F: Future>(fut: F) -> F::Output {
    let waker = std::task::Waker::from(std::sync::Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}
