//! Writes the seed metrics to a Prometheus Remote-Write receiver with header
//! `X-BK-TOKEN: TOKEN` and external labels `job="remote_write_demo"`, `instance=ID`: once, or
//! every interval until killed.
//!
//! ```text
//! cargo run --release --example remote_write_demo --features remote-write -- \
//!     --url http://127.0.0.1:8428/api/v1/write --token TOKEN [--instance ID] \
//!     [--interval 10s] [--once]
//! ```
//!
//! Receivers: Prometheus with `--web.enable-remote-write-receiver` (`/api/v1/write`),
//! VictoriaMetrics (`/api/v1/write`), Mimir (`/api/v1/push`), Thanos Receive
//! (`/api/v1/receive`).

use std::time::Duration;

mod seed;

use seed::Seed;
use tachymeter::{Registry, RemoteWriter};

fn usage(why: &str) -> ! {
    eprintln!("remote_write_demo: {why}");
    eprintln!(
        "usage: remote_write_demo --url URL --token TOKEN [--instance ID] [--interval 10s] [--once]"
    );
    std::process::exit(2);
}

/// `10s`, `500ms`, `2m` or a bare number of seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let (n, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = n.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

fn main() {
    let (mut url, mut token) = (None, None);
    let mut instance = "demo".to_owned();
    let mut interval = Duration::from_secs(10);
    let mut once = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--url" => url = Some(value()),
            "--token" => token = Some(value()),
            "--instance" => instance = value(),
            "--interval" => {
                let v = value();
                interval =
                    parse_duration(&v).unwrap_or_else(|| usage(&format!("bad interval {v:?}")));
            }
            "--once" => once = true,
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let url = url.unwrap_or_else(|| usage("--url is required"));
    let token = token.unwrap_or_else(|| usage("--token is required"));
    if let Err(e) = run(&url, &token, &instance, interval, once) {
        eprintln!("remote_write_demo: {e}");
        std::process::exit(1);
    }
}

fn run(
    url: &str,
    token: &str,
    instance: &str,
    interval: Duration,
    once: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new();
    let seed = Seed::register(&registry)?;
    // The same values as the `seed_metrics` example.
    seed.api_called.with_label_values(&["10.0.0.1"]).inc();
    seed.api_called.with_label_values(&["10.0.0.2"]).inc_by(3);
    seed.cpu_usage.with_label_values(&["10.0.0.1"]).set(0.3);
    seed.cpu_usage.with_label_values(&["10.0.0.2"]).set(0.75);
    for v in [0.5, 1.5, 3.0, 3.0, 4.2, 7.0] {
        seed.observe_task(v);
    }

    let writer = RemoteWriter::new(url)?
        .registry(&registry)
        .external_label("job", "remote_write_demo")?
        .external_label("instance", instance)?
        .header("X-BK-TOKEN", token)?
        .interval(interval);
    println!("writing to {}", writer.url());
    if once {
        writer.write_once()?;
        let stats = writer.stats();
        println!("wrote {} samples once", stats.samples_sent);
        return Ok(());
    }
    let handle = writer.spawn();
    let mut reported = 0;
    for tick in 1u64.. {
        seed.api_called.with_label_values(&["10.0.0.1"]).inc();
        seed.observe_task(((tick * 7) % 60) as f64 / 10.0);
        std::thread::sleep(Duration::from_secs(1));
        let stats = handle.stats();
        if stats.request_failures > reported {
            reported = stats.request_failures;
            if let Some(e) = stats.last_error() {
                eprintln!("remote write failed ({reported} so far): {e}");
            }
        }
    }
    handle.shutdown()?;
    Ok(())
}
