//! The seed program: registers the user's metrics on a registry, records a few values and
//! prints the exposition to stdout.
//!
//! ```text
//! cargo run --example seed_metrics                         # Prometheus text 0.0.4
//! cargo run --example seed_metrics -- --format openmetrics # OpenMetrics 1.0
//! ```

use tachymeter::{Counter, Format, Gauge, Histogram, Registry, Summary};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let format = match std::env::args()
        .skip_while(|a| a != "--format")
        .nth(1)
        .as_deref()
    {
        None | Some("text") => Format::Text,
        Some("openmetrics") => Format::OpenMetrics,
        Some(other) => {
            return Err(format!("unknown --format {other:?}: use text or openmetrics").into())
        }
    };

    let registry = Registry::new();
    let counter = Counter::builder("api_called_total", "How many is the api called")
        .labels(["inner_ip"])
        .register(&registry)?;
    let gauge = Gauge::builder("cpu_usage", "simulate the cpu usage metric")
        .labels(["inner_ip"])
        .register(&registry)?;
    let histogram = Histogram::builder(
        "task_time_histogram",
        "analyze the time of task with histogram",
    )
    .buckets([1.0, 2.0, 3.0, 4.0, 5.0])?
    .register(&registry)?;
    let summary = Summary::builder("task_time_summary", "analyze the time of task with summary")
        .objectives(&[(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)])?
        .register(&registry)?;

    counter.with_label_values(&["10.0.0.1"]).inc();
    counter.with_label_values(&["10.0.0.2"]).inc_by(3);
    gauge.with_label_values(&["10.0.0.1"]).set(0.3);
    gauge.with_label_values(&["10.0.0.2"]).set(0.75);
    for v in [0.5, 1.5, 3.0, 3.0, 4.2, 7.0] {
        histogram.observe(v);
        summary.observe(v);
    }

    let mut out = Vec::new();
    registry.encode(format, &mut out)?;
    use std::io::Write as _;
    std::io::stdout().write_all(&out)?;
    Ok(())
}
