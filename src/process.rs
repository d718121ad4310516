//! Module implementing the [`ProcessCollector`]: the process metrics the Python and Go
//! clients expose, read from `/proc` at scrape time.

use crate::encode::{Descriptor, MetricType, MetricWriter};
use crate::error::EncodeError;
use crate::registry::Collector;

/// Linux's `USER_HZ`: the unit of the CPU times in `/proc/self/stat`. It is 100 on every
/// architecture Prometheus runs on (the kernel fixes it for user space, whatever `HZ` is).
#[cfg(target_os = "linux")]
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Process metrics, like the Python client's `ProcessCollector`, read from `/proc/self` at
/// each scrape:
///
/// | family | type | source |
/// | --- | --- | --- |
/// | `process_cpu_seconds_total` | counter | user + system time, `/proc/self/stat` |
/// | `process_resident_memory_bytes` | gauge | `VmRSS`, `/proc/self/status` |
/// | `process_virtual_memory_bytes` | gauge | `vsize`, `/proc/self/stat` |
/// | `process_start_time_seconds` | gauge | start time after boot + `btime` of `/proc/stat` |
/// | `process_open_fds` | gauge | entries of `/proc/self/fd` |
/// | `process_max_fds` | gauge | soft `Max open files`, `/proc/self/limits` |
/// | `process_threads` | gauge | `num_threads`, `/proc/self/stat` |
///
/// [`default_registry`](crate::default_registry) has one registered; other registries opt
/// in with `registry.register(ProcessCollector::new())`. Where `/proc` cannot be read (a
/// sandbox, another OS) the affected families are left out of the scrape rather than failing
/// it; on other operating systems the collector describes and writes nothing. Files are read
/// into a buffer kept between scrapes; listing `/proc/self/fd` allocates (the standard
/// library's directory iterator does).
///
/// ```
/// use tachymeter::{Format, ProcessCollector, Registry};
/// let registry = Registry::new();
/// registry.register(ProcessCollector::new())?;
/// let body = registry.encode_to_string(Format::Text);
/// if cfg!(target_os = "linux") {
///     assert!(body.contains("\nprocess_cpu_seconds_total "));
///     assert!(body.contains("\nprocess_open_fds "));
/// }
/// # Ok::<(), tachymeter::RegistrationError>(())
/// ```
#[derive(Debug)]
pub struct ProcessCollector {
    descs: Vec<Descriptor>,
    #[cfg(target_os = "linux")]
    buf: crate::sync::Mutex<Vec<u8>>,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        Self::new()
    }
}

/// The families, in exposition order: (name, help, type, unit).
#[cfg(target_os = "linux")]
const FAMILIES: [(&str, &str, MetricType, &str); 7] = [
    (
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        MetricType::Counter,
        "seconds",
    ),
    (
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        MetricType::Gauge,
        "bytes",
    ),
    (
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        MetricType::Gauge,
        "bytes",
    ),
    (
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        MetricType::Gauge,
        "seconds",
    ),
    (
        "process_open_fds",
        "Number of open file descriptors.",
        MetricType::Gauge,
        "",
    ),
    (
        "process_max_fds",
        "Maximum number of open file descriptors.",
        MetricType::Gauge,
        "",
    ),
    (
        "process_threads",
        "Number of OS threads in the process.",
        MetricType::Gauge,
        "",
    ),
];

impl ProcessCollector {
    /// A collector for the current process.
    pub fn new() -> ProcessCollector {
        #[cfg(target_os = "linux")]
        {
            let descs = FAMILIES
                .iter()
                .filter_map(|&(name, help, t, unit)| {
                    let d = Descriptor::new(name, help, t, &[]).ok()?;
                    if unit.is_empty() {
                        Some(d)
                    } else {
                        d.with_unit(unit).ok()
                    }
                })
                .collect();
            ProcessCollector {
                descs,
                buf: crate::sync::Mutex::new(Vec::with_capacity(4096)),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            ProcessCollector { descs: Vec::new() }
        }
    }
}

/// What one scrape read; `None` where the source could not be read.
#[cfg(target_os = "linux")]
#[derive(Debug, Default)]
struct Readings {
    values: [Option<f64>; 7],
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::Read;

    /// Reads `path` into `buf` (cleared first), reusing its capacity.
    pub(super) fn read(path: &str, buf: &mut Vec<u8>) -> Option<()> {
        buf.clear();
        std::fs::File::open(path).ok()?.read_to_end(buf).ok()?;
        Some(())
    }

    /// `(cpu seconds, virtual bytes, threads, start ticks after boot)` from `/proc/self/stat`.
    pub(super) fn stat(buf: &[u8]) -> Option<(f64, f64, f64, f64)> {
        let s = std::str::from_utf8(buf).ok()?;
        // The command name (field 2) may hold spaces and parentheses: fields resume after
        // the last `)`. `rest` starts at field 3 (state), so field k is `rest[k - 3]`.
        let (_, rest) = s.rsplit_once(')')?;
        let mut f = rest.split_ascii_whitespace();
        let mut nth = |skip: usize| -> Option<f64> { f.nth(skip)?.parse::<f64>().ok() };
        let utime = nth(11)?; // field 14
        let stime = nth(0)?; // 15
        let threads = nth(4)?; // 20
        let start = nth(1)?; // 22
        let vsize = nth(0)?; // 23
        Some((
            (utime + stime) / super::CLOCK_TICKS_PER_SECOND,
            vsize,
            threads,
            start,
        ))
    }

    /// The number after `key` on the line that starts with it.
    pub(super) fn field(buf: &[u8], key: &str) -> Option<f64> {
        let s = std::str::from_utf8(buf).ok()?;
        let line = s.lines().find(|l| l.starts_with(key))?;
        let v = line[key.len()..].split_ascii_whitespace().next()?;
        if v == "unlimited" {
            return Some(f64::INFINITY);
        }
        v.parse().ok()
    }

    pub(super) fn open_fds() -> Option<f64> {
        Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as f64)
    }
}

#[cfg(target_os = "linux")]
impl ProcessCollector {
    fn read(&self) -> Readings {
        let mut r = Readings::default();
        let mut buf = crate::sync::lock(&self.buf);
        if linux::read("/proc/self/stat", &mut buf).is_some() {
            if let Some((cpu, vsize, threads, start_ticks)) = linux::stat(&buf) {
                r.values[0] = Some(cpu);
                r.values[2] = Some(vsize);
                r.values[6] = Some(threads);
                if linux::read("/proc/stat", &mut buf).is_some() {
                    r.values[3] = linux::field(&buf, "btime")
                        .map(|boot| boot + start_ticks / CLOCK_TICKS_PER_SECOND);
                }
            }
        }
        if linux::read("/proc/self/status", &mut buf).is_some() {
            r.values[1] = linux::field(&buf, "VmRSS:").map(|kb| kb * 1024.0);
        }
        r.values[4] = linux::open_fds();
        if linux::read("/proc/self/limits", &mut buf).is_some() {
            r.values[5] = linux::field(&buf, "Max open files");
        }
        r
    }
}

impl Collector for ProcessCollector {
    fn describe(&self) -> Vec<Descriptor> {
        self.descs.clone()
    }

    fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
        #[cfg(target_os = "linux")]
        {
            let r = self.read();
            for (desc, value) in self.descs.iter().zip(r.values) {
                // Unreadable: leave the family out rather than fail the scrape.
                let Some(v) = value else { continue };
                let suffix = if desc.metric_type() == MetricType::Counter {
                    "_total"
                } else {
                    ""
                };
                if let Some(mut f) = w.family(desc) {
                    f.sample(suffix, &[], v)?;
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = w;
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line =
            b"123 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 250 150 11 12 13 14 6 0 5000 104857600 300 \
                     18446744073709551615 0 0 0\n";
        let (cpu, vsize, threads, start) = linux::stat(line).unwrap();
        assert_eq!(cpu, 4.0);
        assert_eq!(vsize, 104857600.0);
        assert_eq!(threads, 6.0);
        assert_eq!(start, 5000.0);
        assert_eq!(linux::stat(b"garbage"), None);
    }

    #[test]
    fn reads_this_process() {
        let r = ProcessCollector::new().read();
        for (i, v) in r.values.iter().enumerate() {
            let v = v.unwrap_or_else(|| panic!("value {i} unreadable"));
            assert!(v > 0.0 || i == 0, "value {i} = {v}");
        }
        assert_eq!(
            linux::field(
                b"Limit  Soft\nMax open files            1024     4096   files\n",
                "Max open files"
            ),
            Some(1024.0)
        );
    }
}
