//! Issue 10: this tree (`new`) vs an older commit (`old`, bd750b4 unless `OLD_REV` says), interleaved
//! in one process; see run.sh.
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE",
];
const ROUTES: [&str; 10] = [
    "/api/v1/users",
    "/api/v1/users/:id",
    "/api/v1/products",
    "/api/v1/products/:id",
    "/api/v1/products/:id/owner",
    "/api/v1/products/:id/purchase",
    "/api/v1/orders",
    "/api/v1/orders/:id",
    "/healthz",
    "/metrics",
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

macro_rules! suite {
    ($m:ident, $krate:ident) => {
        mod $m {
            use super::*;
            use $krate::{Counter, Family, Format, Registry};

            pub struct Hit {
                fam: Family<Counter>,
                pairs: Vec<(&'static str, &'static str)>,
            }
            impl Hit {
                pub fn new() -> Self {
                    let pairs: Vec<_> = (0..100).map(|i| (METHODS[i / 10], ROUTES[i % 10])).collect();
                    let fam = Counter::builder("requests", "Requests.")
                        .labels(["method", "route"])
                        .build()
                        .unwrap();
                    for &(a, b) in &pairs {
                        fam.with_label_values(&[a, b]).inc();
                    }
                    Hit { fam, pairs }
                }
                /// ns per op
                pub fn with(&self, n: usize) -> f64 {
                    let values: Vec<[&str; 2]> = self.pairs.iter().map(|&(a, b)| [a, b]).collect();
                    let t = Instant::now();
                    for i in 0..n {
                        let v = black_box(&values[i % 100]);
                        black_box(&self.fam).with(v, |c| c.inc()).unwrap();
                    }
                    t.elapsed().as_nanos() as f64 / n as f64
                }
                pub fn wlv(&self, n: usize) -> f64 {
                    // The values as one array behind `black_box` (two `black_box`ed halves made
                    // one side's code stall on store forwarding, depending on layout).
                    let values: Vec<[&str; 2]> = self.pairs.iter().map(|&(a, b)| [a, b]).collect();
                    let t = Instant::now();
                    for i in 0..n {
                        let v = black_box(&values[i % 100]);
                        black_box(&self.fam).with_label_values(v).inc();
                    }
                    t.elapsed().as_nanos() as f64 / n as f64
                }
            }

            /// ns per op: a kept counter handle's `inc` on `threads` threads at once (all on one
            /// counter, so at 2 threads each writes its own slot), and a histogram's `observe`.
            pub fn inc(threads: usize, n: usize) -> f64 {
                let c = Counter::new();
                let barrier = std::sync::Barrier::new(threads);
                let ns: Vec<f64> = std::thread::scope(|s| {
                    let hs: Vec<_> = (0..threads)
                        .map(|_| {
                            s.spawn(|| {
                                let c = c.clone();
                                c.inc(); // first write outside the timing
                                barrier.wait();
                                let t = Instant::now();
                                for _ in 0..n {
                                    black_box(&c).inc();
                                }
                                t.elapsed().as_nanos() as f64 / n as f64
                            })
                        })
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap()).collect()
                });
                assert_eq!(c.get(), (threads * (n + 1)) as f64);
                ns.iter().sum::<f64>() / threads as f64
            }
            /// ns per op of `Gauge::add` / `Counter::inc_by_f64` on a kept handle, 1 thread.
            pub fn gauge_add(n: usize) -> f64 {
                let g = $krate::Gauge::new();
                g.add(1.0);
                let t = Instant::now();
                for _ in 0..n {
                    black_box(&g).add(black_box(1.0));
                }
                t.elapsed().as_nanos() as f64 / n as f64
            }
            pub fn f64_add(n: usize) -> f64 {
                let c = Counter::new();
                c.inc_by_f64(1.0);
                let t = Instant::now();
                for _ in 0..n {
                    black_box(&c).inc_by_f64(black_box(1.0));
                }
                t.elapsed().as_nanos() as f64 / n as f64
            }
            pub fn gauge_set(n: usize) -> f64 {
                let g = $krate::Gauge::new();
                g.set(1.0);
                let t = Instant::now();
                for i in 0..n {
                    black_box(&g).set(black_box(i as f64));
                }
                t.elapsed().as_nanos() as f64 / n as f64
            }
            pub fn observe(n: usize) -> f64 {
                let h = $krate::Histogram::new(Arc::new(
                    $krate::Buckets::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]).unwrap(),
                ));
                h.observe(0.3);
                let t = Instant::now();
                for i in 0..n {
                    black_box(&h).observe(black_box((i & 1023) as f64 * 0.01));
                }
                t.elapsed().as_nanos() as f64 / n as f64
            }

            /// ns per op per thread of `with_label_values(..).inc()` (or `with`) over one
            /// family's 100 children from `threads` threads at once.
            pub fn wlv_threads(threads: usize, n: usize, with: bool) -> f64 {
                let hit = Hit::new();
                let values: Vec<[&str; 2]> = hit.pairs.iter().map(|&(a, b)| [a, b]).collect();
                let barrier = std::sync::Barrier::new(threads);
                let ns: Vec<f64> = std::thread::scope(|s| {
                    let hs: Vec<_> = (0..threads)
                        .map(|_| {
                            s.spawn(|| {
                                for v in &values {
                                    hit.fam.with_label_values(v).inc(); // warm the cache
                                }
                                barrier.wait();
                                let t = Instant::now();
                                for i in 0..n {
                                    let v = black_box(&values[i % 100]);
                                    if with {
                                        black_box(&hit.fam).with(v, |c| c.inc()).unwrap();
                                    } else {
                                        black_box(&hit.fam).with_label_values(v).inc();
                                    }
                                }
                                t.elapsed().as_nanos() as f64 / n as f64
                            })
                        })
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap()).collect()
                });
                ns.iter().sum::<f64>() / threads as f64
            }

            /// benches/common/workload.rs (1,050 series), with this suite's crate.
            pub fn workload() -> Registry {
                const LABELS: [&str; 6] = ["service", "endpoint", "method", "status", "instance", "pod"];
                let r = Registry::new();
                let values = |j: usize| {
                    [
                        "checkout-service-production-eu-west-1-blue-canary-shard-0042-of-0128-general-purpose-pool".to_owned(),
                        format!("/api/v2/customers/{{customer_id}}/orders/{{order_id}}/line-items/{j:02}/details"),
                        "POST".to_owned(),
                        "200".to_owned(),
                        "ip-10-20-30-40.eu-west-1.compute.internal:9100".to_owned(),
                        "checkout-service-deployment-7f9c8d6b5d-xk2lp".to_owned(),
                    ]
                };
                for k in 0..50 {
                    let fam = Counter::builder(
                        &format!("shop_checkout_component_{k:02}_requests_handled"),
                        &format!("Number of requests handled by checkout component {k}, by endpoint and status."),
                    )
                    .labels(LABELS)
                    .register(&r)
                    .unwrap();
                    for j in 0..20 {
                        let v = values(j);
                        let v: Vec<&str> = v.iter().map(String::as_str).collect();
                        fam.with_label_values(&v).inc_by((k as u64 + 1) * 1_000_003 + j as u64 * 7919);
                    }
                }
                for k in 0..50 {
                    let fam = $krate::Gauge::builder(
                        &format!("shop_checkout_component_{k:02}_queue_depth_current"),
                        &format!("Jobs currently waiting in the queue of checkout component {k}."),
                    )
                    .labels(LABELS)
                    .register(&r)
                    .unwrap();
                    let v = values(0);
                    let v: Vec<&str> = v.iter().map(String::as_str).collect();
                    fam.with_label_values(&v).set(k as f64 * 12.375 + 0.125);
                }
                r
            }

            /// µs per text encode of `r` into a warm buffer (median of `rounds` × 200).
            pub fn encode_us(r: &Registry, out: &mut Vec<u8>) -> f64 {
                let t = Instant::now();
                for _ in 0..200 {
                    out.clear();
                    r.encode(Format::Text, out).unwrap();
                }
                t.elapsed().as_secs_f64() * 1e6 / 200.0
            }

            pub struct Big {
                pub reg: Registry,
                pub fam: Family<Counter>,
                pub n: usize,
                next: usize,
            }
            impl Big {
                pub fn new(n: usize) -> Self {
                    let reg = Registry::builder().created_samples(false).build();
                    let fam = Counter::builder("c", "C.").labels(["k"]).register(&reg).unwrap();
                    let mut b = itoa_buf();
                    for i in 0..n {
                        fam.with_label_values(&[fmt(&mut b, i)]).inc();
                    }
                    Big { reg, fam, n, next: n }
                }
                /// mean µs per remove (each removed key re-created, untimed).
                pub fn remove(&mut self, count: usize) -> f64 {
                    let mut b = itoa_buf();
                    let mut total = Duration::ZERO;
                    let mut k = 0usize;
                    for _ in 0..count {
                        // Spread over the family.
                        k = (k + 7_919) % self.n;
                        let key = fmt(&mut b, k).to_owned();
                        let t = Instant::now();
                        let removed = self.fam.remove(&[&key]).unwrap();
                        total += t.elapsed();
                        assert!(removed);
                        self.fam.with_label_values(&[&key]).inc();
                    }
                    total.as_secs_f64() * 1e6 / count as f64
                }
                /// (mean µs per creation, worst µs) for `count` new children.
                /// (median µs, worst µs, mean µs) per creation.
                pub fn create(&mut self, count: usize) -> (f64, f64, f64) {
                    let mut b = itoa_buf();
                    let mut all = Vec::with_capacity(count);
                    for _ in 0..count {
                        self.next += 1;
                        let key = fmt(&mut b, self.next);
                        let t = Instant::now();
                        self.fam.with_label_values(&[key]).inc();
                        all.push(t.elapsed().as_secs_f64() * 1e6);
                    }
                    let worst = all.iter().cloned().fold(0.0, f64::max);
                    let mean = all.iter().sum::<f64>() / all.len() as f64;
                    let slow = all.iter().filter(|&&t| t > 1_000.0).count();
                    let fast: Vec<f64> = all.iter().cloned().filter(|&t| t <= 1_000.0).collect();
                    let tmean = fast.iter().sum::<f64>() / fast.len().max(1) as f64;
                    SLOW.with(|s| s.set((slow, tmean)));
                    (median(all), worst, mean)
                }
                /// Creation while another thread encodes the registry in a loop.
                pub fn create_during_encode(&mut self, count: usize, reg: &Registry) -> (f64, f64, u32, f64) {
                    let stop = Arc::new(AtomicBool::new(false));
                    let enc = {
                        let (reg, stop) = (reg.clone(), stop.clone());
                        std::thread::spawn(move || {
                            let mut out = Vec::new();
                            let mut n = 0;
                            while !stop.load(Ordering::Relaxed) {
                                out.clear();
                                reg.encode(Format::Text, &mut out).unwrap();
                                n += 1;
                            }
                            n
                        })
                    };
                    // Let the first scrape start.
                    std::thread::sleep(Duration::from_millis(5));
                    let r = self.create(count);
                    stop.store(true, Ordering::Relaxed);
                    let scrapes = enc.join().unwrap();
                    (r.0, r.1, scrapes, r.2)
                }
                pub fn encode_ms(&self) -> f64 {
                    let mut out = Vec::new();
                    let t = Instant::now();
                    self.reg.encode(Format::Text, &mut out).unwrap();
                    t.elapsed().as_secs_f64() * 1e3
                }
            }
        }
    };
}

std::thread_local! {
    /// (creations over 1 ms, mean of the others) of the last `create`.
    static SLOW: std::cell::Cell<(usize, f64)> = const { std::cell::Cell::new((0, 0.0)) };
}
fn slow() -> (usize, f64) {
    SLOW.with(|s| s.get())
}

/// glibc's `struct mallinfo2` (all `size_t`).
#[repr(C)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}
extern "C" {
    fn mallinfo2() -> MallInfo2;
}
/// Heap bytes in use (glibc's count of allocated chunk bytes, mmapped blocks included).
fn heap_in_use() -> usize {
    // SAFETY: mallinfo2 takes no arguments and returns a plain struct by value.
    let m = unsafe { mallinfo2() };
    m.uordblks + m.hblkhd
}

fn itoa_buf() -> String {
    String::new()
}
fn fmt(b: &mut String, i: usize) -> &str {
    use std::fmt::Write;
    b.clear();
    write!(b, "k{i}").unwrap();
    b
}

suite!(o, old);
suite!(n, new);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("all");
    if what == "hit" || what == "all" {
        let (ho, hn) = (o::Hit::new(), n::Hit::new());
        let (mut wo, mut wn, mut lo, mut ln) = (vec![], vec![], vec![], vec![]);
        for _ in 0..5 {
            ho.with(1_000_000);
            hn.with(1_000_000);
        }
        for _ in 0..41 {
            wo.push(ho.with(1_000_000));
            wn.push(hn.with(1_000_000));
            lo.push(ho.wlv(1_000_000));
            ln.push(hn.wlv(1_000_000));
        }
        let (wo, wn, lo, ln) = (median(wo), median(wn), median(lo), median(ln));
        println!(
            "hit with():              old {wo:.2} ns  new {wn:.2} ns  new/old {:.3}",
            wn / wo
        );
        println!(
            "hit with_label_values(): old {lo:.2} ns  new {ln:.2} ns  new/old {:.3}",
            ln / lo
        );
    }
    if what == "hit2" {
        for (label, with) in [("with_label_values", false), ("with", true)] {
            let (mut v1, mut v2) = (vec![], vec![]);
            for _ in 0..9 {
                v1.push(n::wlv_threads(1, 2_000_000, with));
                v2.push(n::wlv_threads(2, 2_000_000, with));
            }
            let (m1, m2) = (median(v1), median(v2));
            println!("new {label} over 100 children: 1 thread {m1:.2} ns, 2 threads {m2:.2} ns per op per thread ({:.2}x)", m2 / m1);
        }
    }
    if matches!(what, "wlv-new" | "wlv-old" | "with-new" | "with-old") {
        // One side alone, for a profiler.
        let r = match what {
            "wlv-new" => n::Hit::new().wlv(100_000_000),
            "wlv-old" => o::Hit::new().wlv(100_000_000),
            "with-new" => n::Hit::new().with(100_000_000),
            _ => o::Hit::new().with(100_000_000),
        };
        println!("{what}: {r:.2} ns");
    }
    if what == "inc" {
        // (label, old, new) per row; rounds interleaved.
        let rows: [(&str, fn() -> f64, fn() -> f64); 6] = [
            (
                "gauge add, 1 thread",
                || o::gauge_add(20_000_000),
                || n::gauge_add(20_000_000),
            ),
            (
                "gauge set, 1 thread",
                || o::gauge_set(20_000_000),
                || n::gauge_set(20_000_000),
            ),
            (
                "counter inc_by_f64, 1 thread",
                || o::f64_add(20_000_000),
                || n::f64_add(20_000_000),
            ),
            (
                "counter inc, kept handle, 1 thread",
                || o::inc(1, 20_000_000),
                || n::inc(1, 20_000_000),
            ),
            (
                "counter inc, kept handle, 2 threads",
                || o::inc(2, 20_000_000),
                || n::inc(2, 20_000_000),
            ),
            (
                "histogram observe, 1 thread",
                || o::observe(20_000_000),
                || n::observe(20_000_000),
            ),
        ];
        for (label, old, new) in rows {
            let (mut vo, mut vn) = (vec![], vec![]);
            for _ in 0..15 {
                vo.push(old());
                vn.push(new());
            }
            let min = |v: &[f64]| v.iter().cloned().fold(f64::MAX, f64::min);
            let (fo, fn_) = (min(&vo), min(&vn));
            let (mo, mn) = (median(vo), median(vn));
            println!("{label}: median old {mo:.3} new {mn:.3} ns new/old {:.3}; fastest old {fo:.3} new {fn_:.3} new/old {:.3}", mn / mo, fn_ / fo);
        }
    }
    let size: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    if what == "enc1050" {
        let (ro, rn) = (o::workload(), n::workload());
        let (mut bo, mut bn) = (Vec::new(), Vec::new());
        let (mut eo, mut en) = (vec![], vec![]);
        for _ in 0..5 {
            o::encode_us(&ro, &mut bo);
            n::encode_us(&rn, &mut bn);
        }
        assert_eq!(bo.len(), bn.len());
        for _ in 0..41 {
            eo.push(o::encode_us(&ro, &mut bo));
            en.push(n::encode_us(&rn, &mut bn));
        }
        let (eo, en) = (median(eo), median(en));
        println!(
            "encode 1,050 series (text, {} B): old {eo:.1} us new {en:.1} us new/old {:.3}",
            bn.len(),
            en / eo
        );
    }
    if what == "mem" {
        for round in 0..2 {
            let before = heap_in_use();
            let b = o::Big::new(size);
            let old = (heap_in_use() - before) as f64 / size as f64;
            drop(b);
            let before = heap_in_use();
            let b = n::Big::new(size);
            let new = (heap_in_use() - before) as f64 / size as f64;
            drop(b);
            println!("heap per child, {size} counter children, r{round}: old {old:.1} B new {new:.1} B (+{:.1} B)", new - old);
        }
    }
    if what == "encnew" {
        let bn = n::Big::new(size);
        for _ in 0..30 {
            bn.encode_ms();
        }
    }
    if what == "encold" {
        let bn = o::Big::new(size);
        for _ in 0..30 {
            bn.encode_ms();
        }
    }
    if what == "enc" || what == "enc2" {
        let (bn, bo) = if what == "enc" {
            let bn = n::Big::new(size);
            (bn, o::Big::new(size))
        } else {
            let bo = o::Big::new(size);
            (n::Big::new(size), bo)
        };
        let (mut eo, mut en) = (vec![], vec![]);
        for _ in 0..15 {
            eo.push(bo.encode_ms());
            en.push(bn.encode_ms());
        }
        let (eo, en) = (median(eo), median(en));
        println!(
            "encode {size}: old {eo:.1} ms new {en:.1} ms new/old {:.3}",
            en / eo
        );
    }
    if what == "big" || what == "all" {
        let count = 20_000;
        let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
        for round in 0..rounds {
            macro_rules! run {
                ($m:ident, $tag:expr, $rm:expr) => {{
                    let mut b = $m::Big::new(size);
                    let other = $m::Big::new(size);
                    let enc = b.encode_ms();
                    let rm = b.remove($rm);
                    let idle = b.create(count);
                    let idle_slow = slow();
                    let ctrl = b.create_during_encode(count, &other.reg);
                    let ctrl_slow = slow();
                    let own = b.create(count);
                    let own = {
                        let _ = own;
                        let reg = b.reg.clone();
                        b.create_during_encode(count, &reg)
                    };
                    let own_slow = slow();
                    let ctrl2 = b.create_during_encode(count, &other.reg);
                    let c = (ctrl.0 + ctrl2.0) / 2.0;
                    let cm = (ctrl.3 + ctrl2.3) / 2.0;
                    println!(
                        "{} r{round} {size}: encode {enc:.1} ms; remove {rm:.2} us; create (median): idle {:.3} us (worst {:.0}), while another family encodes {c:.3} us (worst {:.0}), while its own family encodes {:.3} us (worst {:.0} us, {} scrapes); own/idle {:.2}, own/other {:.2}",
                        $tag, idle.0, idle.1, ctrl.1.max(ctrl2.1), own.0, own.1, own.2, own.0 / idle.0, own.0 / c
                    );
                    println!(
                        "{} r{round} {size}: create (mean): idle {:.3} us, while another family encodes {cm:.3} us, while its own family encodes {:.3} us; own/idle {:.2}, own/other {:.2}",
                        $tag, idle.2, own.3, own.3 / idle.2, own.3 / cm
                    );
                    println!(
                        "{} r{round} {size}: creations over 1 ms (of {count}): idle {}, other {}, own {}; mean of the rest: idle {:.3} us, other {:.3} us, own {:.3} us; own/idle {:.2}",
                        $tag, idle_slow.0, ctrl_slow.0, own_slow.0, idle_slow.1, ctrl_slow.1, own_slow.1, own_slow.1 / idle_slow.1
                    );
                }};
            }
            run!(n, "new", 20_000);
            if args.get(4).map(String::as_str) != Some("new-only") {
                run!(o, "old", 20);
            }
        }
    }
}
