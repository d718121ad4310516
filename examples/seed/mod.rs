//! The seed program's metrics, shared by the `seed_metrics`, `pull_demo` and `push_demo`
//! examples: what the user's Python program registers, in tachymeter.

use tachymeter::{Counter, Family, Gauge, Histogram, Registry, Summary};

/// The seed's four metrics.
pub(crate) struct Seed {
    /// `api_called_total{inner_ip}`.
    pub(crate) api_called: Family<Counter>,
    /// `cpu_usage{inner_ip}`.
    pub(crate) cpu_usage: Family<Gauge>,
    /// `task_time_histogram`, buckets 1..5.
    pub(crate) task_time: Histogram,
    /// `task_time_summary`, Go's default objectives.
    pub(crate) task_summary: Summary,
}

impl Seed {
    /// Registers the seed's metrics on `registry`.
    pub(crate) fn register(registry: &Registry) -> Result<Seed, Box<dyn std::error::Error>> {
        Ok(Seed {
            api_called: Counter::builder("api_called_total", "How many is the api called")
                .labels(["inner_ip"])
                .register(registry)?,
            cpu_usage: Gauge::builder("cpu_usage", "simulate the cpu usage metric")
                .labels(["inner_ip"])
                .register(registry)?,
            task_time: Histogram::builder(
                "task_time_histogram",
                "analyze the time of task with histogram",
            )
            .buckets([1.0, 2.0, 3.0, 4.0, 5.0])?
            .register(registry)?,
            task_summary: Summary::builder(
                "task_time_summary",
                "analyze the time of task with summary",
            )
            .objectives(&Summary::GO_OBJECTIVES)?
            .register(registry)?,
        })
    }

    /// Records one task that took `seconds`.
    pub(crate) fn observe_task(&self, seconds: f64) {
        self.task_time.observe(seconds);
        self.task_summary.observe(seconds);
    }
}
