//! Pushgateway grouping-key path encoding round-trips: whatever the job and values (any
//! UTF-8, `/`, spaces, `+`, empty values), decoding the path the way the gateway does gives
//! them back, and the path never uses `+` for a space.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachymeter::http::{decode_push_path, encode_push_path};

/// Label names the client accepts, picked by the input (the path rules concern values).
const NAMES: [&str; 4] = ["instance", "path", "a", "_x9"];

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // Fields separated by NUL: job, then values for NAMES in order.
    let mut fields = s.split('\0');
    let job = fields.next().unwrap_or("");
    if job.is_empty() {
        return; // the client rejects an empty job before encoding
    }
    let key: Vec<(String, String)> = NAMES
        .iter()
        .zip(fields)
        .map(|(n, v)| ((*n).to_owned(), v.to_owned()))
        .collect();
    let path = encode_push_path(job, &key);
    assert!(!path.contains('+'), "{path}");
    assert!(path.is_ascii(), "{path}");
    assert_eq!(
        decode_push_path(&path),
        Some((job.to_owned(), key.clone())),
        "{path}"
    );
});
