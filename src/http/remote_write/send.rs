//! Module implementing how one batch is sent: the request (headers, hook, `ureq`), the
//! answer's classification, and the retry loop with exponential backoff, jitter and
//! `Retry-After`.

use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ureq::http;

use super::protocol::{downgrade, protocol_headers, written, WRITTEN_HEADERS};
use super::queue::Queue;
use super::retry_after::parse_retry_after;
use super::stats::Counters;
use super::{RemoteWriteError, RemoteWriter};
use crate::encode::remote_write::Batch;
use crate::http::push::{check_header, panic_message, MAX_ERROR_BODY};
use crate::http::{PushMethod, PushRequest};

/// The wait before retry number `retry` (0-based): `min × 2^retry`, capped at `max`, then
/// jittered down by up to half ("equal jitter"), so writers that failed together do not
/// retry together.
pub(super) fn backoff(min: Duration, max: Duration, retry: u32, unit_random: f64) -> Duration {
    let base = min.saturating_mul(1u32 << retry.min(20)).min(max);
    base.mul_f64(0.5 + 0.5 * unit_random.clamp(0.0, 1.0))
}

/// A number in [0, 1) from the standard library's per-instance random hash keys.
pub(super) fn unit_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Counts the `n` samples of a batch as failed for good, records `e` and gives it back.
fn failed(counters: &Counters, n: u64, e: RemoteWriteError) -> RemoteWriteError {
    Counters::add(&counters.samples_failed, n);
    counters.error(&e);
    e
}

/// A failed attempt: the error and the receiver's `Retry-After`, if it sent one.
type Failure = (RemoteWriteError, Option<Duration>);

impl RemoteWriter {
    /// Sends `batch`, retrying retryable failures. `queue` (background mode) supplies the
    /// shutdown deadline and an interruptible sleep; without it, sleeps are plain.
    pub(super) fn send_batch(
        &self,
        batch: &mut Batch,
        queue: Option<&Queue>,
        counters: &Counters,
    ) -> Result<(), RemoteWriteError> {
        let n = batch.samples as u64;
        let mut retries = 0u32;
        loop {
            let mut timeout = self.timeout;
            if let Some(d) = queue.and_then(Queue::deadline) {
                timeout = timeout.min(d.saturating_duration_since(Instant::now()));
                if timeout.is_zero() {
                    counters.give_up(n);
                    return Err(RemoteWriteError::ShutdownTimeout { unsent: n });
                }
            }
            if batch.v2 && counters.on_v1() {
                // Queued before the writer fell back to 1.0.
                downgrade(batch).map_err(|e| failed(counters, n, e))?;
            }
            Counters::add(&counters.requests, 1);
            let (e, retry_after) = match self.attempt(batch, timeout, retries) {
                Ok(None) if batch.v2 => {
                    // A 1.0 receiver: it stored nothing. Send the same series again as 1.0.
                    counters
                        .fall_back(batch)
                        .map_err(|e| failed(counters, n, e))?;
                    continue;
                }
                Ok(Some(w)) if batch.v2 && w < n => {
                    counters.success(w);
                    Counters::add(&counters.samples_failed, n - w);
                    Counters::add(&counters.partial_writes, 1);
                    let e = RemoteWriteError::PartialWrite {
                        sent: n,
                        written: w,
                    };
                    counters.error(&e);
                    return Err(e);
                }
                Ok(_) => {
                    counters.success(n);
                    return Ok(());
                }
                Err((e, _)) if batch.v2 && e.status() == Some(415) => {
                    Counters::add(&counters.request_failures, 1);
                    counters
                        .fall_back(batch)
                        .map_err(|e| failed(counters, n, e))?;
                    continue;
                }
                Err(f) => f,
            };
            Counters::add(&counters.request_failures, 1);
            counters.error(&e);
            if !e.is_retryable() || retries >= self.max_retries {
                Counters::add(&counters.samples_failed, n);
                return Err(e);
            }
            let delay = retry_after.unwrap_or_else(|| {
                backoff(self.min_backoff, self.max_backoff, retries, unit_random())
            });
            let slept = match queue {
                Some(q) => q.sleep(delay),
                None => {
                    std::thread::sleep(delay);
                    true
                }
            };
            if !slept {
                counters.give_up(n);
                return Err(RemoteWriteError::ShutdownTimeout { unsent: n });
            }
            retries += 1;
            Counters::add(&counters.samples_retried, n);
        }
    }

    /// One request with `batch`'s body (given back afterwards, whatever the hook did).
    /// A 2xx gives what its written headers say ([`written`]).
    fn attempt(
        &self,
        batch: &mut Batch,
        timeout: Duration,
        retries: u32,
    ) -> Result<Option<u64>, Failure> {
        let body = &mut batch.body;
        let protocol = protocol_headers(batch.v2);
        let mut headers = Vec::with_capacity(protocol.len() + self.headers.len());
        headers.extend(
            protocol
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        headers.extend(self.headers.iter().cloned());
        let mut req = PushRequest {
            method: PushMethod::Post,
            url: self.url.clone(),
            headers,
            body: core::mem::take(body),
        };
        let hooked = match &self.hook {
            // AssertUnwindSafe: after a panic `req` is only read back for its body buffer and
            // nothing is sent, so a half-edited request is never observed.
            Some(hook) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&mut req)))
                .map_err(|payload| {
                    let message = panic_message(&*payload);
                    (RemoteWriteError::HookPanicked { message }, None)
                }),
            None => Ok(()),
        };
        let result = hooked.and_then(|()| self.execute(&req, timeout, retries));
        *body = req.body;
        result
    }

    fn execute(
        &self,
        req: &PushRequest,
        timeout: Duration,
        retries: u32,
    ) -> Result<Option<u64>, Failure> {
        let fail = |e| (e, None);
        let bad_url = || {
            fail(RemoteWriteError::InvalidUrl {
                url: req.url.clone(),
                problem: None,
            })
        };
        let uri = match http::Uri::try_from(req.url.as_str()) {
            Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => u,
            _ => return Err(bad_url()),
        };
        if uri.scheme_str() == Some("https") && !cfg!(feature = "push-tls") {
            return Err(fail(RemoteWriteError::TlsNotEnabled {
                url: req.url.clone(),
            }));
        }
        let mut builder = http::Request::builder()
            .method(req.method.as_str())
            .uri(uri);
        for (n, v) in &req.headers {
            check_header(n, v)
                .map_err(|_| fail(RemoteWriteError::InvalidHeader { name: n.clone() }))?;
            builder = builder.header(n.as_str(), v.as_str());
        }
        let request = builder.body(&req.body[..]).map_err(|_| bad_url())?;
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build();
        let mut response = self.agent.run(request).map_err(|e| {
            fail(match e {
                ureq::Error::Timeout(_) => RemoteWriteError::Timeout {
                    url: req.url.clone(),
                    after: timeout,
                },
                ureq::Error::BadUri(_) | ureq::Error::Http(_) => RemoteWriteError::InvalidUrl {
                    url: req.url.clone(),
                    problem: None,
                },
                ureq::Error::TlsRequired => RemoteWriteError::TlsNotEnabled {
                    url: req.url.clone(),
                },
                e => RemoteWriteError::Transport {
                    url: req.url.clone(),
                    source: Arc::new(e),
                },
            })
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let wrote = written(|h| {
            debug_assert!(WRITTEN_HEADERS.contains(&h));
            response.headers().get(h).and_then(|v| v.to_str().ok())
        });
        let mut answer = Vec::new();
        // Informative only; the status decides.
        let _ = response
            .body_mut()
            .as_reader()
            .take(MAX_ERROR_BODY)
            .read_to_end(&mut answer);
        if (200..300).contains(&status) {
            return Ok(wrote);
        }
        let e = RemoteWriteError::Status {
            status,
            body: String::from_utf8_lossy(&answer).into_owned(),
            retries,
        };
        // Retry-After only means something on the answers that are retried.
        Err((e, retry_after.filter(|_| status == 429 || status >= 500)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_down_by_half_at_most() {
        let ms = Duration::from_millis;
        let (min, max) = (ms(100), ms(1000));
        let top: Vec<_> = (0..6).map(|r| backoff(min, max, r, 1.0)).collect();
        assert_eq!(
            top,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(backoff(min, max, 2, 0.0), ms(200));
        assert_eq!(backoff(min, max, u32::MAX, 1.0), ms(1000));
        for _ in 0..100 {
            let r = unit_random();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
