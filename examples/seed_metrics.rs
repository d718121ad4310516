//! The seed program: registers the user's metrics on a registry, records a few values and
//! prints the exposition to stdout.
//!
//! ```text
//! cargo run --example seed_metrics                         # Prometheus text 0.0.4
//! cargo run --example seed_metrics -- --format openmetrics # OpenMetrics 1.0
//! ```

mod seed;

use seed::Seed;
use tachymeter::{Format, Registry};

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
    let seed = Seed::register(&registry)?;
    seed.api_called.with_label_values(&["10.0.0.1"]).inc();
    seed.api_called.with_label_values(&["10.0.0.2"]).inc_by(3);
    seed.cpu_usage.with_label_values(&["10.0.0.1"]).set(0.3);
    seed.cpu_usage.with_label_values(&["10.0.0.2"]).set(0.75);
    for v in [0.5, 1.5, 3.0, 3.0, 4.2, 7.0] {
        seed.observe_task(v);
    }

    let mut out = Vec::new();
    registry.encode(format, &mut out)?;
    use std::io::Write as _;
    std::io::stdout().write_all(&out)?;
    Ok(())
}
