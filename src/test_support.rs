//! Helpers shared by the crate's unit tests.

use std::sync::mpsc;
use std::time::Duration;

use crate::{Format, Registry};

/// Encodes `registry` in `format` on another thread while this one keeps `held` (a lock
/// guard), then lets `held` go: the body if the encode finished within 10 s, `Err` if it
/// waited for the lock. Dropping `held` after the wait lets an encode that blocked finish, so
/// the thread scope always joins.
pub(crate) fn encode_while_held<G>(
    registry: &Registry,
    format: Format,
    held: G,
) -> Result<String, mpsc::RecvTimeoutError> {
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        s.spawn(move || {
            let _ = tx.send(registry.encode_to_string(format));
        });
        let body = rx.recv_timeout(Duration::from_secs(10));
        drop(held);
        body
    })
}
