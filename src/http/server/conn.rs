//! Module implementing per-connection deadlines and the table of open connections.
//!
//! hyper bounds what it parses (header bytes and count) but not time, except one header
//! timer that also covers idle keep-alive. [`TimedIo`] wraps each socket and enforces the
//! server's three clocks from the connection's [`Phase`]:
//!
//! * `Idle` (between requests): no byte for `idle_timeout` closes the connection;
//! * `Head` (a request has started arriving): its head must be complete within
//!   `header_read_timeout` of its first byte, however slowly it trickles in;
//! * writing: a response must be fully handed to the kernel within `write_timeout` of its
//!   first byte, so a client that stops reading cannot hold the connection.
//!
//! The service moves a connection to `Busy` when hyper hands it a parsed request, and the
//! end of a response (a completed flush after the service answered) moves it back to `Idle`.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// Locks a std mutex, recovering a poisoned one. The server runs on tokio, outside the loom
/// models (they build the crate without `http-server`), so it uses std's `Mutex` directly
/// rather than `crate::sync`'s, which is loom's under `--cfg tachymeter_loom`.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a connection is in its request cycle (stored in [`ConnState::phase`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Phase {
    /// Waiting for the next request (or the first).
    Idle = 0,
    /// Some bytes of a request head arrived; the head is not complete.
    Head = 1,
    /// The service has the request; its answer is being produced or written.
    Busy = 2,
    /// The service answered; the next completed flush ends the response.
    Answered = 3,
}

/// What the server shares with one connection's task.
#[derive(Debug)]
pub(super) struct ConnState {
    phase: AtomicU8,
    /// Set once the connection is chosen for eviction, so it is not chosen twice.
    doomed: AtomicBool,
    /// Notified to drop the connection at once (eviction).
    pub(super) evict: Notify,
    /// Notified to close the connection after its current response (shutdown).
    pub(super) close: Notify,
}

impl ConnState {
    pub(super) fn new() -> ConnState {
        ConnState {
            phase: AtomicU8::new(Phase::Idle as u8),
            doomed: AtomicBool::new(false),
            evict: Notify::new(),
            close: Notify::new(),
        }
    }

    pub(super) fn phase(&self) -> Phase {
        // Relaxed: the phase is advisory (timers and eviction choice); each value is written
        // by the connection's own task, and a stale read by the accept loop only picks a
        // different eviction victim.
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Idle,
            1 => Phase::Head,
            2 => Phase::Busy,
            _ => Phase::Answered,
        }
    }

    pub(super) fn set_phase(&self, p: Phase) {
        // Relaxed: see `phase`.
        self.phase.store(p as u8, Ordering::Relaxed);
    }
}

/// The three clocks of [`TimedIo`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Deadlines {
    pub(super) header_read: Duration,
    pub(super) idle: Duration,
    pub(super) write: Duration,
}

/// A socket that fails with `TimedOut` when its connection's clock runs out (see the
/// module docs). Wraps the TCP stream below TLS, so the handshake counts as reading a head.
pub(super) struct TimedIo<T> {
    inner: T,
    state: Arc<ConnState>,
    limits: Deadlines,
    /// When the current idle period or request head started.
    read_since: Instant,
    /// When the response being written started (`None`: nothing unflushed).
    write_since: Option<Instant>,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl<T> TimedIo<T> {
    pub(super) fn new(inner: T, state: Arc<ConnState>, limits: Deadlines) -> TimedIo<T> {
        let now = Instant::now();
        TimedIo {
            inner,
            state,
            limits,
            read_since: now,
            write_since: None,
            sleep: Box::pin(tokio::time::sleep_until(now + limits.idle)),
            armed: None,
        }
    }

    /// The deadline that applies now, if any.
    fn deadline(&self) -> Option<Instant> {
        let read = match self.state.phase() {
            Phase::Idle => Some(self.read_since + self.limits.idle),
            Phase::Head => Some(self.read_since + self.limits.header_read),
            Phase::Busy | Phase::Answered => None,
        };
        let write = self.write_since.map(|t| t + self.limits.write);
        match (read, write) {
            (Some(r), Some(w)) => Some(r.min(w)),
            (r, w) => r.or(w),
        }
    }

    /// Called when an operation is pending: arms the timer for the current deadline and
    /// reports whether it has already passed.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.deadline() else {
            return false;
        };
        if self.armed != Some(deadline) {
            self.sleep.as_mut().reset(deadline);
            self.armed = Some(deadline);
        }
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection deadline passed")
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.state.phase() == Phase::Idle {
                    this.state.set_phase(Phase::Head);
                    this.read_since = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> TimedIo<T> {
    fn on_write<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if self.write_since.is_none() {
            self.write_since = Some(Instant::now());
        }
        match r {
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            r => r,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.on_write(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.on_write(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                // hyper flushes the socket only once its own buffer is written out.
                this.write_since = None;
                if this.state.phase() == Phase::Answered {
                    this.state.set_phase(Phase::Idle);
                    this.read_since = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            r => r,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.on_write(cx, r)
    }
}

/// The open connections, so that the accept loop can evict one and shutdown can close all.
#[derive(Debug, Default)]
pub(super) struct Conns {
    inner: Mutex<ConnsInner>,
    /// Notified whenever a connection leaves the table.
    pub(super) left: Notify,
}

#[derive(Debug, Default)]
struct ConnsInner {
    next_id: u64,
    open: HashMap<u64, Arc<ConnState>>,
}

impl Conns {
    pub(super) fn len(&self) -> usize {
        lock(&self.inner).open.len()
    }

    /// Adds a connection; returns its id (for [`remove`](Self::remove)) and state.
    pub(super) fn insert(&self) -> (u64, Arc<ConnState>) {
        let mut g = lock(&self.inner);
        let id = g.next_id;
        g.next_id += 1;
        let state = Arc::new(ConnState::new());
        g.open.insert(id, state.clone());
        (id, state)
    }

    pub(super) fn remove(&self, id: u64) {
        lock(&self.inner).open.remove(&id);
        self.left.notify_waiters();
    }

    /// Asks the oldest connection that holds no request (idle first, then one still sending
    /// its head) to close. Returns false if every connection is answering a request.
    pub(super) fn evict_one(&self) -> bool {
        let g = lock(&self.inner);
        let pick = |want: Phase| {
            g.open
                .iter()
                // Relaxed: `doomed` is only read and written under the table's lock.
                .filter(|(_, s)| s.phase() == want && !s.doomed.load(Ordering::Relaxed))
                .min_by_key(|(id, _)| **id)
                .map(|(_, s)| s.clone())
        };
        match pick(Phase::Idle).or_else(|| pick(Phase::Head)) {
            Some(victim) => {
                // The victim leaves the table when its task ends; until then the flag makes
                // later evictions pick another. Relaxed: written under the table's lock.
                victim.doomed.store(true, Ordering::Relaxed);
                victim.evict.notify_one();
                true
            }
            None => false,
        }
    }

    /// Asks every connection to close once its current response is written.
    pub(super) fn close_all(&self) {
        for s in lock(&self.inner).open.values() {
            s.close.notify_one();
        }
    }
}
