//! tachymeter against `prometheus`, `prometheus-client`, `metrics` and `measured` (and, for
//! summaries, `metrics-util` and `quantiles`), in one
//! process, for every operation of DESIGN §8. Run with
//! `cargo bench --bench compare` in `benches/compare/`, then `cargo run --release --bin report`.
//!
//! Every benchmark uses `iter_custom` and runs its loop on fresh threads (1 or 2) that start
//! together behind a barrier, so the reported time is per operation per thread, and the
//! criterion main thread never registers with tachymeter (each measured thread does).
//! Handles go through `black_box` on every iteration so no loop folds into one add.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tachymeter_compare::peers::*;
use tachymeter_compare::*;

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Registers `work` as benchmark `name` in `g`, run on `threads` threads.
fn on<F: Fn(u64) + Sync>(g: &mut Group<'_>, name: &str, threads: usize, work: F) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| run_threads(threads, iters, &work))
    });
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    g
}

fn counter_inc(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut g = group(c, &format!("counter_inc_{threads}t"));
        on(&mut g, "baseline", threads, baseline_counter);
        let t = tachymeter::Counter::new();
        on(&mut g, "tachymeter", threads, |n| {
            for _ in 0..n {
                black_box(&t).inc();
            }
        });
        if threads == 2 {
            // A third registered thread (e.g. a main thread that recorded at start-up): on a
            // 2-core machine tachymeter has 2 shards, so one of the two bench threads gets an
            // index past them and takes the shared overflow slot.
            let holder = IndexHolder::new();
            let t3 = tachymeter::Counter::new();
            on(&mut g, "tachymeter_3rd_thread_registered", threads, |n| {
                for _ in 0..n {
                    black_box(&t3).inc();
                }
            });
            drop(holder);
        }
        let p = prometheus::IntCounter::new("c", "c").unwrap();
        on(&mut g, "prometheus", threads, |n| {
            for _ in 0..n {
                black_box(&p).inc();
            }
        });
        let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
        on(&mut g, "prometheus-client", threads, |n| {
            for _ in 0..n {
                black_box(&pc).inc();
            }
        });
        metrics_global();
        let m = metrics::counter!(format!("bench_counter_{threads}t_total"));
        on(&mut g, "metrics", threads, |n| {
            for _ in 0..n {
                black_box(&m).increment(1);
            }
        });
        let me = measured::Counter::new();
        on(&mut g, "measured", threads, |n| {
            for _ in 0..n {
                black_box(&me).get_metric().inc();
            }
        });
        g.finish();
    }
}

fn f64_counter_add(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut g = group(c, &format!("f64_counter_add_{threads}t"));
        let t = tachymeter::Counter::new();
        on(&mut g, "tachymeter", threads, |n| {
            for _ in 0..n {
                black_box(&t).inc_by_f64(black_box(0.5));
            }
        });
        let p = prometheus::Counter::new("c", "c").unwrap();
        on(&mut g, "prometheus", threads, |n| {
            for _ in 0..n {
                black_box(&p).inc_by(black_box(0.5));
            }
        });
        let pc = prometheus_client::metrics::counter::Counter::<f64, AtomicU64>::default();
        on(&mut g, "prometheus-client", threads, |n| {
            for _ in 0..n {
                black_box(&pc).inc_by(black_box(0.5));
            }
        });
        // `metrics` counters and `measured` counters are u64-only: no f64 add to compare.
        g.finish();
    }
}

fn gauge_add(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut g = group(c, &format!("gauge_add_{threads}t"));
        let t = tachymeter::Gauge::new();
        on(&mut g, "tachymeter", threads, |n| {
            for _ in 0..n {
                black_box(&t).add(black_box(0.5));
            }
        });
        let p = prometheus::Gauge::new("g", "g").unwrap();
        on(&mut g, "prometheus", threads, |n| {
            for _ in 0..n {
                black_box(&p).add(black_box(0.5));
            }
        });
        let pc = prometheus_client::metrics::gauge::Gauge::<f64, AtomicU64>::default();
        on(&mut g, "prometheus-client", threads, |n| {
            for _ in 0..n {
                black_box(&pc).inc_by(black_box(0.5));
            }
        });
        metrics_global();
        let m = metrics::gauge!(format!("bench_gauge_{threads}t"));
        on(&mut g, "metrics", threads, |n| {
            for _ in 0..n {
                black_box(&m).increment(black_box(0.5));
            }
        });
        let me = measured::FloatGauge::new();
        on(&mut g, "measured", threads, |n| {
            for _ in 0..n {
                black_box(&me).get_metric().inc_by(black_box(0.5));
            }
        });
        g.finish();
    }
}

/// `set` at 1 thread (the bar: ≤ 1 ns) and at 2 threads (every design stores to one shared
/// word there: tachymeter's era word, the peers' value). `baseline` is one relaxed store of
/// the value's bits, which is what tachymeter's `set` was before gauges were sharded.
fn gauge_set(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut g = group(c, &format!("gauge_set_{threads}t"));
        let cell = AtomicU64::new(0);
        on(&mut g, "baseline", threads, |n| {
            for _ in 0..n {
                black_box(&cell).store(black_box(0.5f64).to_bits(), Relaxed);
            }
        });
        let t = tachymeter::Gauge::new();
        on(&mut g, "tachymeter", threads, |n| {
            for _ in 0..n {
                black_box(&t).set(black_box(0.5));
            }
        });
        let p = prometheus::Gauge::new("g", "g").unwrap();
        on(&mut g, "prometheus", threads, |n| {
            for _ in 0..n {
                black_box(&p).set(black_box(0.5));
            }
        });
        let pc = prometheus_client::metrics::gauge::Gauge::<f64, AtomicU64>::default();
        on(&mut g, "prometheus-client", threads, |n| {
            for _ in 0..n {
                black_box(&pc).set(black_box(0.5));
            }
        });
        metrics_global();
        let m = metrics::gauge!(format!("bench_gauge_set_{threads}t"));
        on(&mut g, "metrics", threads, |n| {
            for _ in 0..n {
                black_box(&m).set(black_box(0.5));
            }
        });
        let me = measured::FloatGauge::new();
        on(&mut g, "measured", threads, |n| {
            for _ in 0..n {
                black_box(&me).get_metric().set(black_box(0.5));
            }
        });
        g.finish();
    }
}

fn labeled_lookup(c: &mut Criterion) {
    let pairs = label_pairs();
    let mut g = group(c, "labeled_lookup_1t");

    let fam = tachymeter::Counter::builder("lookup", "Lookups.")
        .labels(["method", "route"])
        .build()
        .unwrap();
    for &(a, b) in pairs {
        let _ = fam.with_label_values(&[a, b]);
    }
    let t_with = |n| {
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            black_box(&fam)
                .with(&[black_box(a), black_box(b)], |c| c.inc())
                .unwrap();
        }
    };
    let t_wlv = |n| {
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            black_box(&fam)
                .with_label_values(&[black_box(a), black_box(b)])
                .inc();
        }
    };
    on(&mut g, "tachymeter_with", 1, t_with);
    on(&mut g, "tachymeter_with_label_values", 1, t_wlv);

    let p = prometheus::IntCounterVec::new(prometheus::Opts::new("l", "l"), &["method", "route"])
        .unwrap();
    for &(a, b) in pairs {
        let _ = p.with_label_values(&[a, b]);
    }
    let p_wlv = |n| {
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            black_box(&p)
                .with_label_values(&[black_box(a), black_box(b)])
                .inc();
        }
    };
    on(&mut g, "prometheus", 1, p_wlv);

    let pc = prometheus_client::metrics::family::Family::<
        PcStr,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let keys = pc_str_keys();
    for k in &keys {
        let _ = pc.get_or_create(k);
    }
    on(&mut g, "prometheus-client", 1, |n| {
        let mut i = 0;
        for _ in 0..n {
            let k = &keys[next100(&mut i)];
            black_box(&pc).get_or_create(black_box(k)).inc();
        }
    });

    metrics_global();
    for &(a, b) in pairs {
        metrics::counter!("bench_lookup_total", "method" => a, "route" => b).increment(0);
    }
    on(&mut g, "metrics", 1, |n| {
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            metrics::counter!("bench_lookup_total", "method" => black_box(a), "route" => black_box(b))
                .increment(1);
        }
    });

    let me = measured_str_counters();
    on(&mut g, "measured", 1, |n| {
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            black_box(&me).inc(MeasuredStr {
                method: black_box(a),
                route: black_box(b),
            });
        }
    });
    g.finish();

    // The same lookups from two threads at once over the same 100 children (issue 13: flat).
    let mut g = group(c, "labeled_lookup_2t");
    on(&mut g, "tachymeter_with", 2, t_with);
    on(&mut g, "tachymeter_with_label_values", 2, t_wlv);
    on(&mut g, "prometheus", 2, p_wlv);
    g.finish();

    // Typed or pre-resolved labels: each library's fastest way to reach one of 100 children.
    let mut g = group(c, "typed_lookup_1t");
    let handles: Vec<tachymeter::Counter> = pairs
        .iter()
        .map(|&(a, b)| fam.with_label_values(&[a, b]).handle())
        .collect();
    on(&mut g, "tachymeter_handle", 1, |n| {
        let mut i = 0;
        for _ in 0..n {
            black_box(&handles[next100(&mut i)]).inc();
        }
    });
    let typed = typed_pairs();
    let met = measured_typed_counters();
    on(&mut g, "measured_enum", 1, |n| {
        let mut i = 0;
        for _ in 0..n {
            let (method, route) = typed[next100(&mut i)];
            black_box(&met).inc(MeasuredTyped {
                method: black_box(method),
                route: black_box(route),
            });
        }
    });
    let pct = prometheus_client::metrics::family::Family::<
        PcTyped,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let tkeys: Vec<PcTyped> = typed
        .iter()
        .map(|&(method, route)| PcTyped { method, route })
        .collect();
    on(&mut g, "prometheus-client_enum", 1, |n| {
        let mut i = 0;
        for _ in 0..n {
            black_box(&pct)
                .get_or_create(black_box(&tkeys[next100(&mut i)]))
                .inc();
        }
    });
    let ph: Vec<prometheus::IntCounter> = pairs
        .iter()
        .map(|&(a, b)| p.with_label_values(&[a, b]))
        .collect();
    on(&mut g, "prometheus_handle", 1, |n| {
        let mut i = 0;
        for _ in 0..n {
            black_box(&ph[next100(&mut i)]).inc();
        }
    });
    let mh: Vec<metrics::Counter> = pairs
        .iter()
        .map(|&(a, b)| metrics::counter!("bench_lookup_total", "method" => a, "route" => b))
        .collect();
    on(&mut g, "metrics_handle", 1, |n| {
        let mut i = 0;
        for _ in 0..n {
            black_box(&mh[next100(&mut i)]).increment(1);
        }
    });
    g.finish();
}

fn histogram_observe(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut g = group(c, &format!("histogram_observe_{threads}t"));
        on(&mut g, "baseline", threads, baseline_histogram);
        let t = tachymeter::Histogram::new(std::sync::Arc::new(
            tachymeter::Buckets::new(DEFAULT_BUCKETS).unwrap(),
        ));
        on(&mut g, "tachymeter", threads, |n| {
            let mut o = 0;
            for _ in 0..n {
                black_box(&t).observe(next_obs(&mut o));
            }
        });
        let p = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("h", "h")).unwrap();
        on(&mut g, "prometheus", threads, |n| {
            let mut o = 0;
            for _ in 0..n {
                black_box(&p).observe(next_obs(&mut o));
            }
        });
        let pc = prometheus_client::metrics::histogram::Histogram::new(DEFAULT_BUCKETS);
        on(&mut g, "prometheus-client", threads, |n| {
            let mut o = 0;
            for _ in 0..n {
                black_box(&pc).observe(next_obs(&mut o));
            }
        });
        let handle = metrics_global();
        let m = metrics::histogram!(format!("bench_histogram_{threads}t"));
        g.bench_function("metrics", |b| {
            b.iter_custom(|iters| {
                let d = run_threads(threads, iters, &|n| {
                    let mut o = 0;
                    for _ in 0..n {
                        black_box(&m).record(next_obs(&mut o));
                    }
                });
                // Untimed: fold the recorded values into buckets so memory stays bounded
                // (the exporter's upkeep task does this in production).
                handle.run_upkeep();
                d
            })
        });
        let me = measured::Histogram::<11>::with_metadata(
            measured::metric::histogram::Thresholds::with_buckets(DEFAULT_BUCKETS),
        );
        on(&mut g, "measured", threads, |n| {
            let mut o = 0;
            for _ in 0..n {
                black_box(&me).get_metric().observe(next_obs(&mut o));
            }
        });
        g.finish();
    }
}

/// Native histograms (growth factor ≤ 1.1, schema 3) against tachymeter's classic 11-bucket
/// histogram and `prometheus-client`'s native histogram, on the same stream.
fn native_observe(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut g = group(c, &format!("native_observe_{threads}t"));
        let classic = tachymeter::Histogram::new(std::sync::Arc::new(
            tachymeter::Buckets::new(DEFAULT_BUCKETS).unwrap(),
        ));
        on(&mut g, "tachymeter-classic", threads, |n| {
            let mut o = 0;
            for _ in 0..n {
                black_box(&classic).observe(next_obs(&mut o));
            }
        });
        let native = tachymeter::Histogram::builder("n", "N.")
            .native(1.1)
            .unwrap()
            .build()
            .unwrap()
            .try_with_label_values(&[])
            .unwrap()
            .handle();
        on(&mut g, "tachymeter-native", threads, |n| {
            let mut o = 0;
            for _ in 0..n {
                black_box(&native).observe(next_obs(&mut o));
            }
        });
        let pc = prometheus_client::metrics::histogram::Histogram::new_native(
            prometheus_client::metrics::histogram::NativeHistogramConfig::new(1.1),
        );
        on(&mut g, "prometheus-client-native", threads, |n| {
            let mut o = 0;
            for _ in 0..n {
                black_box(&pc).observe(next_obs(&mut o));
            }
        });
        g.finish();
    }
}

/// A cheap, varied observation stream for the summaries (the 16-value histogram table would
/// let every quantile sketch collapse to 16 points): xorshift64 mapped to [0, 1).
#[inline(always)]
fn next_val(x: &mut u64) -> f64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    (*x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

const READ_PHIS: [f64; 3] = [0.5, 0.9, 0.99];

fn go_summary() -> tachymeter::Summary {
    tachymeter::Summary::builder("s", "S.")
        .objectives(&tachymeter::Summary::GO_OBJECTIVES)
        .unwrap()
        .register(&tachymeter::Registry::new())
        .unwrap()
}

/// Quantile summaries, 1 thread: tachymeter (Go objectives, 10 min / 5 buckets window) against
/// `metrics-util`'s DDSketch-based `Summary` and the `quantiles` crate's CKMS (ε = 0.001).
/// The peers take `&mut self`, so each timed call builds its own and fills it with `n` values;
/// tachymeter's is shared across calls (its steady state: batches merged as they fill).
fn summary(c: &mut Criterion) {
    let mut g = group(c, "summary_observe_1t");
    let t = go_summary();
    on(&mut g, "tachymeter", 1, |n| {
        let mut x = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..n {
            black_box(&t).observe(next_val(&mut x));
        }
    });
    on(&mut g, "metrics-util", 1, |n| {
        let mut s = metrics_util::storage::Summary::with_defaults();
        let mut x = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..n {
            black_box(&mut s).add(next_val(&mut x));
        }
        black_box(&s);
    });
    on(&mut g, "quantiles", 1, |n| {
        let mut s = quantiles::ckms::CKMS::<f64>::new(0.001);
        let mut x = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..n {
            black_box(&mut s).insert(next_val(&mut x));
        }
        black_box(&s);
    });
    g.finish();

    // Reading 3 quantiles after 10^5 observations (filled untimed, on another thread so the
    // criterion thread never registers with tachymeter).
    const FILL: u64 = 100_000;
    let mut g = c.benchmark_group("summary_read_3q_after_1e5");
    let t = go_summary();
    run_threads(1, FILL, &|n| {
        let mut x = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..n {
            t.observe(next_val(&mut x));
        }
    });
    g.bench_function("tachymeter", |b| {
        b.iter(|| READ_PHIS.map(|q| black_box(&t).quantile(q)))
    });
    let mut m = metrics_util::storage::Summary::with_defaults();
    let mut q = quantiles::ckms::CKMS::<f64>::new(0.001);
    let mut x = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..FILL {
        let v = next_val(&mut x);
        m.add(v);
        q.insert(v);
    }
    g.bench_function("metrics-util", |b| {
        b.iter(|| READ_PHIS.map(|p| black_box(&m).quantile(p)))
    });
    g.bench_function("quantiles", |b| {
        b.iter(|| READ_PHIS.map(|p| black_box(&q).query(p)))
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_1050_series");
    for (name, mut enc) in tachymeter_compare::encode::all() {
        let bytes = enc();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(name, |b| b.iter(&mut enc));
    }
    g.finish();
    // The same series as delimited protobuf `MetricFamily` messages.
    let mut g = c.benchmark_group("encode_1050_series_protobuf");
    for (name, mut enc) in tachymeter_compare::encode::protobuf_all() {
        let bytes = enc();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(name, |b| b.iter(&mut enc));
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = counter_inc, f64_counter_add, gauge_add, gauge_set, labeled_lookup, histogram_observe, native_observe, summary, encode
}
criterion_main!(benches);
