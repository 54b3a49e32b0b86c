//! The HTTP accept loop: HTTP/1 connections served by hyper with a header timeout (which is also
//! the keep-alive idle timeout), a deadline on reading each request body, a cap on open
//! connections, and graceful shutdown.
//!
//! Connection cap: at most [`ConnLimits::max_connections`] connections are open at once (and never
//! more than the process's file-descriptor limit allows, keeping a quarter of it for the
//! database, webhooks and the listener). When the cap is reached, the *oldest connection with no
//! request in flight* is closed to admit the new one: idle keep-alive sockets and slow clients
//! still sending their headers cannot keep a fresh request (such as `/health`) out. When every
//! open connection has a request in flight, the new connection is closed at once.
//!
//! Timeouts: hyper starts the header timer when a connection waits for a request head (on a
//! fresh connection and after each response on a kept-alive one), so one setting bounds both a
//! slowloris client and an idle keep-alive socket. The body deadline runs from the moment the
//! request head was read; a body not complete by then fails the read (HTTP 408 for JSON bodies).
//!
//! TLS: with an acceptor (see [`crate::tls`]) every connection first completes a TLS handshake,
//! bounded by the header timeout and counted under the connection cap; a client that does not
//! speak TLS is dropped after its first bytes fail the handshake.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Connection-level limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time a client has to send a complete request head (also the idle keep-alive timeout).
    pub header_timeout: Duration,
    /// Time a client has to send a request body, from the end of its head.
    pub body_timeout: Duration,
}

/// Request extension present on every request that arrived over TLS (the console marks its
/// cookies `Secure` then).
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// The body deadline passed (see [`DeadlineBody`]).
#[derive(Debug, thiserror::Error)]
#[error("request body not received in time")]
pub struct BodyTimeout;

/// The cap actually applied: `configured`, lowered to three quarters of the soft
/// file-descriptor limit when that is known (Linux `/proc/self/limits`).
pub fn effective_max_connections(configured: usize) -> usize {
    let configured = configured.max(1);
    match fd_soft_limit() {
        Some(soft) => {
            let reserve = (soft / 4).max(32);
            configured.min(soft.saturating_sub(reserve).max(8))
        }
        None => configured,
    }
}

fn fd_soft_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One open connection as the cap sees it.
#[derive(Default)]
struct Conn {
    in_flight: AtomicUsize,
    evict: Notify,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    open: BTreeMap<u64, Arc<Conn>>,
}

/// The open connections, oldest first.
struct Tracker {
    max: usize,
    registry: Mutex<Registry>,
}

impl Tracker {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admit a new connection (closing the oldest idle one when full); None when every open
    /// connection is busy.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut reg = self.lock();
        if reg.open.len() >= self.max && !Self::evict_oldest_idle(&mut reg) {
            return None;
        }
        let id = reg.next_id;
        reg.next_id += 1;
        let conn = Arc::new(Conn::default());
        reg.open.insert(id, conn.clone());
        Some(Slot {
            tracker: self.clone(),
            id,
            conn,
        })
    }

    /// Ask the oldest connection with no request in flight to close; false when there is none.
    fn evict_oldest_idle(reg: &mut Registry) -> bool {
        let victim = reg
            .open
            .iter()
            .find(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match victim.and_then(|id| reg.open.remove(&id)) {
            Some(conn) => {
                conn.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A connection's place under the cap, given back when the connection task ends.
struct Slot {
    tracker: Arc<Tracker>,
    id: u64,
    conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.tracker.lock().open.remove(&self.id);
    }
}

/// Counts a request as in flight until its response body is dropped (sent or abandoned).
struct InFlight(Arc<Conn>);

impl InFlight {
    fn new(conn: &Arc<Conn>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(conn.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails with [`BodyTimeout`] once its deadline passes.
pub struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Instant::now() + timeout,
            sleep: None,
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        // The timer is created only for bodies that make a reader wait.
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serve `app` on `listener` (over TLS when `tls` is given) until `stop` becomes true, then
/// finish the open requests (the caller bounds how long that may take).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let tracker = Arc::new(Tracker {
        max: effective_max_connections(limits.max_connections),
        registry: Mutex::new(Registry::default()),
    });
    // Every connection task holds a receiver; `closed()` resolves when all have ended.
    let (done_tx, done_rx) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|v| *v) => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                // Out of file descriptors (EMFILE, ENFILE): free one from an idle connection.
                if matches!(e.raw_os_error(), Some(23 | 24)) {
                    Tracker::evict_oldest_idle(&mut tracker.lock());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let Some(slot) = tracker.admit() else {
            tracing::debug!("connection cap reached with every connection busy; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(accepted_connection(
            stream,
            tls.clone(),
            app.clone(),
            limits,
            slot,
            stop.clone(),
            done_rx.clone(),
        ));
    }
    drop(done_rx);
    drop(listener);
    done_tx.closed().await;
}

/// Complete the TLS handshake when there is an acceptor (within the header timeout), then serve.
async fn accepted_connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: ConnLimits,
    slot: Slot,
    stop: watch::Receiver<bool>,
    done: watch::Receiver<()>,
) {
    let Some(acceptor) = tls else {
        return connection(stream, false, app, limits, slot, stop, done).await;
    };
    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => connection(stream, true, app, limits, slot, stop, done).await,
        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!("TLS handshake not completed within the header timeout"),
    }
}

async fn connection<S>(
    stream: S,
    over_tls: bool,
    app: Router,
    limits: ConnLimits,
    slot: Slot,
    stop: watch::Receiver<bool>,
    _done: watch::Receiver<()>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = slot.conn.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let in_flight = InFlight::new(&conn);
        let mut req = req.map(|b| Body::new(DeadlineBody::new(b, limits.body_timeout)));
        if over_tls {
            req.extensions_mut().insert(OverTls);
        }
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await?;
            Ok::<_, std::convert::Infallible>(resp.map(|inner| TrackedBody {
                inner,
                _in_flight: in_flight,
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut http = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let mut stopped = pin!(async move {
        let mut stop = stop;
        let _ = stop.wait_for(|v| *v).await;
    });
    let mut evicted = pin!(slot.conn.evict.notified());
    let mut closing = false;
    loop {
        tokio::select! {
            r = http.as_mut() => {
                if let Err(e) = r {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = &mut stopped, if !closing => {
                closing = true;
                http.as_mut().graceful_shutdown();
            }
            _ = &mut evicted, if !closing => {
                if slot.conn.in_flight.load(Ordering::Acquire) == 0 {
                    break;
                }
                closing = true;
                http.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(max: usize) -> Arc<Tracker> {
        Arc::new(Tracker {
            max,
            registry: Mutex::new(Registry::default()),
        })
    }

    #[test]
    fn a_full_tracker_evicts_the_oldest_idle_connection() {
        let t = tracker(2);
        let a = t.admit().unwrap();
        let b = t.admit().unwrap();
        let busy = InFlight::new(&a.conn);
        let c = t.admit().expect("b is idle and gets evicted");
        assert!(!t.lock().open.contains_key(&b.id));
        assert!(t.lock().open.contains_key(&a.id));
        let _busy_c = InFlight::new(&c.conn);
        assert!(t.admit().is_none(), "every open connection is busy");
        drop(busy);
        assert!(t.admit().is_some());
    }

    #[test]
    fn cap_stays_below_the_descriptor_limit() {
        let cap = effective_max_connections(usize::MAX);
        if let Some(soft) = fd_soft_limit() {
            assert!(cap < soft);
        }
        assert!(effective_max_connections(1) == 1);
    }
}
