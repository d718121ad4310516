//! Module implementing the background remote writer: a collecting thread and a sending
//! thread joined by the bounded [`Queue`]. See [`RemoteWriteHandle`].

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::queue::Queue;
use super::stats::Counters;
use super::{RemoteWriteError, RemoteWriteStats, RemoteWriter};

/// How long past the shutdown deadline [`RemoteWriteHandle::shutdown`] waits for the sender
/// to notice it.
const SENDER_GRACE: Duration = Duration::from_millis(200);

/// The collector's stop flag.
#[derive(Default)]
struct Control {
    stop: Mutex<bool>,
    wake: Condvar,
}

/// A running background [`RemoteWriter`] (see [`RemoteWriter::spawn`]).
///
/// The collecting thread reads the registries now and then every interval (on a fixed
/// schedule; a collection that runs late skips the missed ticks), and queues the batches; the
/// sending thread sends them oldest first, one at a time, so each series' samples arrive in
/// time order. [`shutdown`](Self::shutdown) (or dropping the handle) makes a final
/// collection, then lets the sender drain the queue until the shutdown timeout: requests
/// started after shutdown began get only the time left, a request already in flight is
/// waited for only until the deadline (the sending thread is then left to finish it
/// detached), and whatever is left is counted as dropped.
#[must_use = "the writer stops (after a final flush) when the handle is dropped"]
pub struct RemoteWriteHandle {
    control: Arc<Control>,
    queue: Arc<Queue>,
    writer: Arc<RemoteWriter>,
    collector: Option<JoinHandle<()>>,
    sender: Option<JoinHandle<()>>,
}

impl core::fmt::Debug for RemoteWriteHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RemoteWriteHandle")
            .field("url", &self.writer.url)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl RemoteWriteHandle {
    pub(super) fn spawn(writer: RemoteWriter) -> RemoteWriteHandle {
        let queue = Arc::new(Queue::new(writer.capacity));
        let writer = Arc::new(writer);
        let control = Arc::new(Control::default());
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(body)
                .map_err(|e| {
                    writer.counters.error(&RemoteWriteError::Transport {
                        url: writer.url.clone(),
                        source: Arc::new(e),
                    });
                })
                .ok()
        };
        let (w, q) = (writer.clone(), queue.clone());
        let sender = spawn("tachymeter-rw-send", Box::new(move || send_loop(&w, &q)));
        let (w, q, c) = (writer.clone(), queue.clone(), control.clone());
        let collector = match sender {
            Some(_) => spawn(
                "tachymeter-rw-collect",
                Box::new(move || collect_loop(&w, &q, &c)),
            ),
            None => None,
        };
        if sender.is_none() {
            queue.sender_done();
        }
        if collector.is_none() {
            queue.close();
        }
        RemoteWriteHandle {
            control,
            queue,
            writer,
            collector,
            sender,
        }
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> RemoteWriteStats {
        self.writer.stats()
    }

    /// Stops the writer: a final collection, then the queue is sent until the
    /// [shutdown timeout](RemoteWriter::shutdown_timeout), and both threads are joined.
    /// Returns the final stats.
    ///
    /// # Errors
    ///
    /// [`RemoteWriteError::ShutdownTimeout`] when samples were left unsent (counted as
    /// dropped).
    pub fn shutdown(mut self) -> Result<RemoteWriteStats, RemoteWriteError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<RemoteWriteStats, RemoteWriteError> {
        let deadline = Instant::now() + self.writer.shutdown_timeout;
        self.queue.set_deadline(deadline);
        *self
            .control
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.control.wake.notify_all();
        // A panic in a thread (only possible outside our catch_unwinds) just ends it.
        if let Some(t) = self.collector.take() {
            let _ = t.join();
        }
        self.queue.close();
        let counters = &self.writer.counters;
        // A request that began before the deadline runs under its own timeout: wait for the
        // sender only until the deadline (plus a moment to notice it), then leave it
        // detached. Its batch counts as unsent; should it still be accepted later, it is
        // counted as sent too.
        let in_flight = self.queue.wait_sender(deadline + SENDER_GRACE);
        match self.sender.take() {
            Some(t) if in_flight.is_none() => {
                let _ = t.join();
            }
            _ => counters.give_up(in_flight.unwrap_or(0)),
        }
        let left = self.queue.clear();
        counters.queued.store(0, Relaxed); // Relaxed: a statistic.
        counters.give_up(left);
        // Relaxed: a statistic; the threads that wrote it were joined above.
        let unsent = counters.unsent_at_shutdown.load(Relaxed);
        if unsent > 0 {
            let e = RemoteWriteError::ShutdownTimeout { unsent };
            counters.error(&e);
            return Err(e);
        }
        Ok(self.writer.stats())
    }
}

impl Drop for RemoteWriteHandle {
    fn drop(&mut self) {
        if self.collector.is_some() || self.sender.is_some() {
            let _ = self.stop();
        }
    }
}

fn collect_loop(writer: &RemoteWriter, queue: &Queue, control: &Control) {
    let Ok(mut enc) = writer.encoder() else {
        writer.counters.error(&RemoteWriteError::NoRegistry);
        return;
    };
    let mut next = Instant::now();
    loop {
        let stopping = {
            let stop = control.stop.lock().unwrap_or_else(PoisonError::into_inner);
            let wait = next.saturating_duration_since(Instant::now());
            let (stop, _) = control
                .wake
                .wait_timeout_while(stop, wait, |s| !*s)
                .unwrap_or_else(PoisonError::into_inner);
            *stop
        };
        if enc.is_v2() && writer.counters.on_v1() {
            // The sender fell back to 1.0: collect 1.0 from now on.
            if let Ok(v1) = writer.encoder() {
                enc = v1;
            }
        }
        while let Some(buf) = queue.take_free() {
            enc.recycle(buf);
        }
        if writer.collect(&mut enc).is_ok() {
            let mut dropped = 0;
            for batch in enc.take_batches() {
                dropped += queue.push(batch);
            }
            if dropped > 0 {
                Counters::add(&writer.counters.samples_dropped, dropped);
                writer
                    .counters
                    .error(&RemoteWriteError::QueueFull { dropped });
            }
            // Relaxed: a statistic.
            writer
                .counters
                .queued
                .store(queue.samples() as u64, Relaxed);
        }
        if stopping {
            return;
        }
        next += writer.interval;
        let now = Instant::now();
        if next < now {
            // Late (a slow collection): skip the missed ticks rather than burst.
            next = now + writer.interval;
        }
    }
}

fn send_loop(writer: &RemoteWriter, queue: &Queue) {
    // Tells `shutdown` when this thread is done, however it ends.
    struct Done<'q>(&'q Queue);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.sender_done();
        }
    }
    let _done = Done(queue);
    while let Some(mut batch) = queue.pop() {
        // Relaxed: a statistic.
        writer
            .counters
            .queued
            .store(queue.samples() as u64, Relaxed);
        // The outcome is counted and its error recorded by `send_batch`.
        let _ = writer.send_batch(&mut batch, Some(queue), &writer.counters);
        queue.sent(batch.body);
    }
}
