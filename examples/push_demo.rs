//! Pushes the seed metrics to a Pushgateway with grouping key `instance=ID` and header
//! `X-BK-TOKEN: TOKEN`, once or every interval.
//!
//! ```text
//! cargo run --release --example push_demo -- --gateway HOST:PORT --job NAME --instance ID \
//!     --token TOKEN [--interval 10s] [--once]
//! ```

use std::time::Duration;

mod seed;

use seed::Seed;
use tachymeter::{Pusher, Registry};

fn usage(why: &str) -> ! {
    eprintln!("push_demo: {why}");
    eprintln!(
        "usage: push_demo --gateway HOST:PORT --job NAME --instance ID --token TOKEN \
         [--interval 10s] [--once]"
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
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

fn main() {
    let (mut gateway, mut job, mut instance, mut token) = (None, None, None, None);
    let mut interval = Duration::from_secs(10);
    let mut once = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--gateway" => gateway = Some(value()),
            "--job" => job = Some(value()),
            "--instance" => instance = Some(value()),
            "--token" => token = Some(value()),
            "--interval" => {
                let v = value();
                interval =
                    parse_duration(&v).unwrap_or_else(|| usage(&format!("bad interval {v:?}")));
            }
            "--once" => once = true,
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let gateway = gateway.unwrap_or_else(|| usage("--gateway is required"));
    let job = job.unwrap_or_else(|| usage("--job is required"));
    let instance = instance.unwrap_or_else(|| usage("--instance is required"));
    let token = token.unwrap_or_else(|| usage("--token is required"));
    if let Err(e) = run(&gateway, &job, &instance, &token, interval, once) {
        eprintln!("push_demo: {e}");
        std::process::exit(1);
    }
}

fn run(
    gateway: &str,
    job: &str,
    instance: &str,
    token: &str,
    interval: Duration,
    once: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new();
    let seed = Seed::register(&registry)?;

    let pusher = Pusher::new(gateway, job)?
        .grouping_key("instance", instance)?
        .header("X-BK-TOKEN", token)?;
    println!("pushing to {}", pusher.url());

    let update = |tick: u64| {
        seed.api_called.with_label_values(&[instance]).inc();
        seed.cpu_usage
            .with_label_values(&[instance])
            .set(((tick * 37) % 100) as f64 / 100.0);
        seed.observe_task(((tick * 7) % 60) as f64 / 10.0);
    };

    if once {
        update(1);
        pusher.push(&registry)?;
        println!("pushed once");
        return Ok(());
    }
    // Push in the background every interval; the main thread just updates the metrics.
    let background = pusher.spawn_background(&registry, interval);
    let mut reported = 0;
    for tick in 1.. {
        update(tick);
        std::thread::sleep(Duration::from_secs(1));
        let failures = background.failures();
        if failures > reported {
            reported = failures;
            if let Some(e) = background.last_error() {
                eprintln!("push failed ({failures} so far): {e}");
            }
        }
    }
    background.shutdown()?;
    Ok(())
}
