//! A thread-safe circuit breaker.
//!
//! Closed: requests flow; consecutive failures (5xx, timeouts, connection errors) are counted and
//! the breaker opens at the threshold. Open: every request is refused with
//! [`Error::CircuitOpen`] without touching the network, until the recovery time has passed.
//! Half-open: one probe at a time is let through; enough consecutive probe successes close the
//! breaker, any probe failure reopens it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;

/// The three states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Requests flow.
    Closed,
    /// Requests are refused locally.
    Open,
    /// Probes are let through one at a time.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    state: CircuitState,
    failures: u32,
    probe_successes: u32,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
}

/// The breaker. `threshold == 0` disables it.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    recovery: Duration,
    probes_to_close: u32,
    /// Fast path for the "open" check: set while the state is Open or HalfOpen.
    tripped: AtomicBool,
    inner: Mutex<Inner>,
}

/// Permission to send one request. Dropping it without recording releases a half-open probe
/// slot (for example when the caller's future is cancelled).
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    done: bool,
}

impl Permit<'_> {
    /// The request reached the server and the server is healthy enough (any status below 500).
    pub fn success(mut self) {
        self.done = true;
        self.breaker.on_success(self.probe);
    }
    /// The request failed in a way that counts (5xx, timeout, connection).
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.on_failure(self.probe);
    }
    /// The outcome says nothing about the server's health (e.g. 429, TLS, cancelled).
    pub fn neutral(self) {}
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done && self.probe {
            self.breaker.lock().probe_in_flight = false;
        }
    }
}

impl CircuitBreaker {
    /// A breaker that opens after `threshold` consecutive failures, half-opens after `recovery`,
    /// and closes after `probes_to_close` consecutive probe successes.
    pub fn new(threshold: u32, recovery: Duration, probes_to_close: u32) -> Self {
        CircuitBreaker {
            threshold,
            recovery,
            probes_to_close: probes_to_close.max(1),
            tripped: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                state: CircuitState::Closed,
                failures: 0,
                probe_successes: 0,
                opened_at: None,
                probe_in_flight: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere while holding it; the data is still a
        // consistent set of counters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state (moving Open → HalfOpen when the recovery time has passed).
    pub fn state(&self) -> CircuitState {
        let mut g = self.lock();
        self.advance(&mut g);
        g.state
    }

    fn advance(&self, g: &mut Inner) {
        if g.state == CircuitState::Open
            && g.opened_at.is_some_and(|t| t.elapsed() >= self.recovery)
        {
            g.state = CircuitState::HalfOpen;
            g.probe_successes = 0;
            g.probe_in_flight = false;
        }
    }

    /// Refuse fast when open; cheap (one atomic load) while closed.
    pub fn check(&self) -> Result<(), Error> {
        if self.threshold == 0 || !self.tripped.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut g = self.lock();
        self.advance(&mut g);
        match g.state {
            CircuitState::Open => Err(Error::CircuitOpen {
                retry_in: self.retry_in(&g),
            }),
            _ => Ok(()),
        }
    }

    fn retry_in(&self, g: &Inner) -> Duration {
        g.opened_at
            .map(|t| self.recovery.saturating_sub(t.elapsed()))
            .unwrap_or(self.recovery)
    }

    /// Ask to send one request.
    pub(crate) fn acquire(&self) -> Result<Permit<'_>, Error> {
        if self.threshold == 0 || !self.tripped.load(Ordering::Acquire) {
            return Ok(Permit {
                breaker: self,
                probe: false,
                done: false,
            });
        }
        let mut g = self.lock();
        self.advance(&mut g);
        match g.state {
            CircuitState::Closed => Ok(Permit {
                breaker: self,
                probe: false,
                done: false,
            }),
            CircuitState::Open => Err(Error::CircuitOpen {
                retry_in: self.retry_in(&g),
            }),
            CircuitState::HalfOpen if g.probe_in_flight => Err(Error::CircuitOpen {
                retry_in: Duration::ZERO,
            }),
            CircuitState::HalfOpen => {
                g.probe_in_flight = true;
                Ok(Permit {
                    breaker: self,
                    probe: true,
                    done: false,
                })
            }
        }
    }

    fn on_success(&self, probe: bool) {
        if self.threshold == 0 {
            return;
        }
        if !probe && !self.tripped.load(Ordering::Acquire) {
            // Closed fast path: reset the count only when there is one.
            let mut g = self.lock();
            g.failures = 0;
            return;
        }
        let mut g = self.lock();
        if probe {
            g.probe_in_flight = false;
        }
        if g.state == CircuitState::HalfOpen {
            g.probe_successes += 1;
            if g.probe_successes >= self.probes_to_close {
                g.state = CircuitState::Closed;
                g.failures = 0;
                g.opened_at = None;
                self.tripped.store(false, Ordering::Release);
                tracing::info!("circuit breaker closed: the service answers again");
            }
        } else if g.state == CircuitState::Closed {
            g.failures = 0;
        }
    }

    fn on_failure(&self, probe: bool) {
        if self.threshold == 0 {
            return;
        }
        let mut g = self.lock();
        if probe {
            g.probe_in_flight = false;
        }
        match g.state {
            CircuitState::HalfOpen => {
                g.state = CircuitState::Open;
                g.opened_at = Some(Instant::now());
                tracing::warn!("circuit breaker reopened: a probe failed");
            }
            CircuitState::Closed => {
                g.failures += 1;
                if g.failures >= self.threshold {
                    g.state = CircuitState::Open;
                    g.opened_at = Some(Instant::now());
                    self.tripped.store(true, Ordering::Release);
                    tracing::warn!(
                        failures = g.failures,
                        recovery = ?self.recovery,
                        "circuit breaker opened: governance service failing"
                    );
                }
            }
            CircuitState::Open => {
                g.opened_at = Some(Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        let b = CircuitBreaker::new(3, Duration::from_millis(50), 2);
        for _ in 0..2 {
            b.acquire().unwrap().failure();
        }
        assert_eq!(b.state(), CircuitState::Closed);
        b.acquire().unwrap().success(); // resets
        for _ in 0..3 {
            b.acquire().unwrap().failure();
        }
        assert_eq!(b.state(), CircuitState::Open);
        assert!(
            matches!(b.check(), Err(Error::CircuitOpen { retry_in }) if retry_in <= Duration::from_millis(50))
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.state(), CircuitState::HalfOpen);
        let probe = b.acquire().unwrap();
        // only one probe at a time
        assert!(b.acquire().is_err());
        probe.success();
        assert_eq!(b.state(), CircuitState::HalfOpen);
        b.acquire().unwrap().success();
        assert_eq!(b.state(), CircuitState::Closed);

        for _ in 0..3 {
            b.acquire().unwrap().failure();
        }
        std::thread::sleep(Duration::from_millis(60));
        b.acquire().unwrap().failure();
        assert_eq!(b.state(), CircuitState::Open);

        // A dropped probe releases its slot.
        std::thread::sleep(Duration::from_millis(60));
        drop(b.acquire().unwrap());
        assert!(b.acquire().is_ok());
    }

    #[test]
    fn disabled_with_zero_threshold() {
        let b = CircuitBreaker::new(0, Duration::from_secs(1), 1);
        for _ in 0..10 {
            b.acquire().unwrap().failure();
        }
        assert!(b.check().is_ok());
    }
}
