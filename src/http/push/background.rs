//! Module implementing periodic pushing on a background thread. See [`BackgroundPusher`].

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{PushError, PushMethod, Pusher};
use crate::Registry;

/// The longest wait between pushes after failures, unless the interval itself is longer.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Default)]
struct State {
    stop: bool,
    successes: u64,
    failures: u64,
    consecutive_failures: u32,
    last_error: Option<PushError>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent whatever panicked while holding it (plain counters).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, result: &Result<(), PushError>) {
        let mut s = self.lock();
        match result {
            Ok(()) => {
                s.successes += 1;
                s.consecutive_failures = 0;
            }
            Err(e) => {
                s.failures += 1;
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                s.last_error = Some(e.clone());
            }
        }
    }
}

/// The wait before the next push: `interval`, doubled per consecutive failure up to
/// `max(interval, min(8 × interval, 5 min))`.
fn next_delay(interval: Duration, consecutive_failures: u32) -> Duration {
    let cap = interval.max((interval.saturating_mul(8)).min(MAX_BACKOFF));
    let factor = 1u32 << consecutive_failures.min(16);
    interval.saturating_mul(factor).min(cap)
}

/// Pushes a registry periodically from a background thread (see
/// [`Pusher::spawn_background`]).
///
/// It pushes (PUT) at once, then every interval (at least
/// [`MIN_INTERVAL`](Self::MIN_INTERVAL)). After a failure it waits twice as long per
/// consecutive failure (up to 8 × the interval, at most 5 minutes unless the interval is
/// longer), and goes back to the interval after a success; errors never stop it, and a
/// panicking [request hook](Pusher::request_hook) is one more failed push
/// ([`PushError::HookPanicked`]). Shutting
/// down (or dropping the handle) wakes it, makes a final push so the gateway holds the last
/// values, and joins the thread; that takes at most one request timeout per push in flight.
///
/// ```no_run
/// use std::time::Duration;
/// use tachymeter::{http::Pusher, Registry};
///
/// let registry = Registry::new();
/// let background = Pusher::new("localhost:9091", "worker")?
///     .header("X-BK-TOKEN", "s3cr3t")?
///     .spawn_background(&registry, Duration::from_secs(10));
/// // ... work ...
/// if let Some(e) = background.last_error() {
///     eprintln!("pushing failed: {e}");
/// }
/// background.shutdown()?; // final push
/// # Ok::<(), tachymeter::http::PushError>(())
/// ```
#[must_use = "the pusher stops (after a final push) when the handle is dropped"]
pub struct BackgroundPusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), PushError>>>,
    interval: Duration,
}

impl core::fmt::Debug for BackgroundPusher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.shared.lock();
        f.debug_struct("BackgroundPusher")
            .field("successes", &s.successes)
            .field("failures", &s.failures)
            .field("last_error", &s.last_error)
            .finish_non_exhaustive()
    }
}

impl BackgroundPusher {
    /// The shortest interval between pushes: 100 ms. A shorter one given to
    /// [`Pusher::spawn_background`] (`Duration::ZERO` included, which would push as fast as
    /// the gateway answers) is raised to it.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

    pub(super) fn spawn(pusher: Pusher, registry: Registry, interval: Duration) -> Self {
        let interval = interval.max(Self::MIN_INTERVAL);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let worker = shared.clone();
        let url = pusher.url();
        let body = move || run(&pusher, &registry, interval, &worker);
        let thread = std::thread::Builder::new()
            .name("tachymeter-push".to_owned())
            .spawn(body);
        match thread {
            Ok(t) => BackgroundPusher {
                shared,
                thread: Some(t),
                interval,
            },
            Err(e) => {
                // No thread: report it as the last error rather than panicking.
                shared.record(&Err(PushError::Transport {
                    url,
                    source: Arc::new(e),
                }));
                BackgroundPusher {
                    shared,
                    thread: None,
                    interval,
                }
            }
        }
    }

    /// The interval between pushes in effect (at least [`MIN_INTERVAL`](Self::MIN_INTERVAL)).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How many pushes succeeded.
    pub fn successes(&self) -> u64 {
        self.shared.lock().successes
    }

    /// How many pushes failed.
    pub fn failures(&self) -> u64 {
        self.shared.lock().failures
    }

    /// The error of the most recent failed push (kept after later successes; compare
    /// [`failures`](Self::failures) to tell whether it is new).
    pub fn last_error(&self) -> Option<PushError> {
        self.shared.lock().last_error.clone()
    }

    /// Stops the pusher: wakes it, makes a final push and joins the thread.
    ///
    /// # Errors
    ///
    /// The final push's error.
    pub fn shutdown(mut self) -> Result<(), PushError> {
        self.stop_and_join().unwrap_or(Ok(()))
    }

    fn stop_and_join(&mut self) -> Option<Result<(), PushError>> {
        let thread = self.thread.take()?;
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        // The thread returns the final push's result. A panicking request hook is caught in
        // `send`, so it only fails to join if a custom collector panicked while encoding.
        thread.join().ok()
    }
}

impl Drop for BackgroundPusher {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

fn run(
    pusher: &Pusher,
    registry: &Registry,
    interval: Duration,
    shared: &Shared,
) -> Result<(), PushError> {
    let mut body = Vec::new();
    loop {
        let result = pusher.send(PushMethod::Put, Some(registry), &mut body);
        shared.record(&result);
        let state = shared.lock();
        let delay = next_delay(interval, state.consecutive_failures);
        let (state, _) = shared
            .wake
            .wait_timeout_while(state, delay, |s| !s.stop)
            .unwrap_or_else(PoisonError::into_inner);
        if state.stop {
            break;
        }
    }
    let result = pusher.send(PushMethod::Put, Some(registry), &mut body);
    shared.record(&result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Duration::from_secs;
        let ten = s(10);
        let delays: Vec<_> = (0..6).map(|n| next_delay(ten, n)).collect();
        assert_eq!(delays, [s(10), s(20), s(40), s(80), s(80), s(80)]);
        assert_eq!(next_delay(s(60), 10), s(300));
        assert_eq!(next_delay(s(600), 10), s(600), "never below the interval");
        assert_eq!(next_delay(ten, u32::MAX), s(80));
        assert_eq!(next_delay(Duration::MAX, 3), Duration::MAX);
    }
}
