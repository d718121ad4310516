//! Accuracy of `tachymeter::quantile::Ckms` against the exact nearest-rank checker
//! (QUANTILES.md §3.1, §5): 16 stream families × 6 target sets at every prefix up to 20 and
//! ×1.5 steps to 1e5, 400 random target sets, peer-bug regressions, and (release mode,
//! `--ignored`) 1e6 / 1e7.

mod support_quantile;

use support_quantile::*;
use tachymeter::quantile::Ckms;

/// Stream length for the default (debug-mode) matrix.
const N_MATRIX: usize = 100_000;

fn run_matrix(n: usize, points: &[usize], sets: &[&[(f64, f64)]]) -> Report {
    let mut total = Report::default();
    for (i, family) in Family::ALL.into_iter().enumerate() {
        let values = family.generate(n, 1 + i as u64);
        // Alternate the feeding path so both `insert` and `insert_batch` are covered.
        let feed = if i % 2 == 0 {
            Feed::Single
        } else {
            Feed::Batches(0xBA7C + i as u64)
        };
        total.absorb(run_stream(
            &format!("{family:?}"),
            &values,
            sets,
            points,
            feed,
        ));
    }
    total
}

fn named_sets() -> Vec<&'static [(f64, f64)]> {
    NAMED_SETS.iter().map(|&(_, s)| s).collect()
}

// --- the checker itself --------------------------------------------------------------------

#[test]
fn checker_flags_planted_wrong_answers() {
    let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
    // (0.5 ± 0.05)·100: band ranks [45, 55]; (0.5 + 0.05)·100 = 55.00000000000001 in f64.
    assert!(check(&sorted, 0.5, 0.05, 45.0).is_ok());
    assert!(check(&sorted, 0.5, 0.05, 55.0).is_ok());
    assert_eq!(check(&sorted, 0.5, 0.05, 50.0), Ok(0.0));
    let v = check(&sorted, 0.5, 0.05, 56.0).unwrap_err();
    assert_eq!((v.k_lo, v.k_hi), (45, 55));
    assert!(check(&sorted, 0.5, 0.05, 44.0).is_err());
    assert_eq!(
        check(&sorted, 0.5, 0.05, 50.5).unwrap_err().reason,
        "not an observed value"
    );
    assert!(check(&sorted, 0.5, 0.05, f64::NAN).is_err());
    // Error measured in ε: 55 is Q(φ') for φ' ∈ (0.54, 0.55], 0.04 away from 0.5.
    let e = check(&sorted, 0.5, 0.05, 55.0).unwrap();
    assert!((e - 0.8).abs() < 1e-9, "{e}");
    // n = 6, φ = 0.9, ε = 0.01: εn < 1 forces the exact nearest rank (x(6)).
    let six = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    assert!(check(&six, 0.9, 0.01, 6.0).is_ok());
    assert!(check(&six, 0.9, 0.01, 5.0).is_err());
    // Extremes with ε = 0.
    assert!(check(&six, 0.0, 0.0, 1.0).is_ok());
    assert!(check(&six, 0.0, 0.0, 2.0).is_err());
    assert!(check(&six, 1.0, 0.0, 5.0).is_err());
    // Empty: NaN only.
    assert!(check(&[], 0.5, 0.05, f64::NAN).is_ok());
    assert!(check(&[], 0.5, 0.05, 1.0).is_err());
    // Ties: any position holding the value counts.
    let ties = [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 9.0];
    assert_eq!(check(&ties, 0.9, 0.0, 2.0), Ok(0.0));
    assert!(check(&ties, 1.0, 0.0, 2.0).is_err());
    // Signed zeros are distinct under total_cmp: -0.0 is not +0.0's position.
    let zeros = [-1.0, 0.0, 0.0, 1.0];
    assert!(check(&zeros, 0.5, 0.0, -0.0).is_err());
    assert!(check(&zeros, 0.5, 0.0, 0.0).is_ok());
}

#[test]
fn driver_flags_a_planted_bad_estimator() {
    // Feed the checker answers from a deliberately wrong source: the minimum.
    let values = Family::ShuffledInts.generate(1000, 7);
    let mut sorted = values.clone();
    sorted.sort_unstable_by(f64::total_cmp);
    assert!(check(&sorted, 0.9, 0.05, sorted[0]).is_err());
    assert!(check(&sorted, 0.9, 0.05, sorted[899]).is_ok());
}

#[test]
fn generators_are_deterministic_and_cover_special_values() {
    for family in Family::ALL {
        assert_eq!(
            family
                .generate(1000, 3)
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            family
                .generate(1000, 3)
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            "{family:?}"
        );
    }
    let all: Vec<f64> = Family::ALL
        .iter()
        .flat_map(|f| f.generate(5000, 1))
        .collect();
    assert!(all.iter().any(|v| *v == 0.0 && v.is_sign_negative()));
    assert!(all.iter().any(|v| *v == 0.0 && v.is_sign_positive()));
    assert!(all.contains(&f64::INFINITY));
    assert!(all.contains(&f64::NEG_INFINITY));
    assert!(all.iter().any(|v| *v < 0.0));
    assert!(!all.iter().any(|v| v.is_nan()));
}

// --- the matrix ----------------------------------------------------------------------------

#[test]
fn all_families_named_sets_to_1e5() {
    let report = run_matrix(N_MATRIX, &checkpoints(N_MATRIX), &named_sets());
    eprintln!(
        "16 families x 6 sets to {N_MATRIX}: {} checks, worst {:.3} eps at {}",
        report.checks, report.worst, report.worst_at
    );
    report.assert_clean("matrix to 1e5");
}

#[test]
fn random_target_sets() {
    // 400 seeded configurations at moderate n (larger in release builds).
    let n = if cfg!(debug_assertions) {
        10_000
    } else {
        100_000
    };
    let mut rng = Rng::new(2024);
    let mut total = Report::default();
    for cfg in 0..400u64 {
        let set = random_targets(&mut rng);
        let family = Family::ALL[(cfg % 16) as usize];
        let values = family.generate(n, 100 + cfg);
        let feed = if cfg % 3 == 0 {
            Feed::Single
        } else {
            Feed::Batches(cfg)
        };
        let label = format!("cfg#{cfg} {family:?}");
        total.absorb(run_stream(&label, &values, &[&set], &checkpoints(n), feed));
    }
    eprintln!(
        "400 random sets to {n}: {} checks, worst {:.3} eps at {}",
        total.checks, total.worst, total.worst_at
    );
    total.assert_clean("random target sets");
}

// --- regressions named after peer bugs -----------------------------------------------------

/// client_java#2292: with {0.9: 0.05, 0.99: 0.005} the paper's invariant reports the minimum
/// for every quantile on 1..1e5 shuffled.
#[test]
fn client_java_2292_collapse() {
    let values = Family::ShuffledInts.generate(100_000, 2292);
    let mut c = Ckms::new(JAVA_2292).unwrap();
    for &v in &values {
        c.insert(v);
    }
    let (p90, p99) = (c.query(0.9), c.query(0.99));
    assert!((85_000.0..=95_000.0).contains(&p90), "p90 = {p90}");
    assert!((98_500.0..=99_500.0).contains(&p99), "p99 = {p99}");
    c.audit().unwrap();
}

/// Sitnikov (umbrant/QuantileEstimation#2): 0, n−1, 1..n−2 with (0.9, 0.04); the paper's
/// invariant returns the 0.7-quantile.
#[test]
fn sitnikov_counterexample() {
    for n in [1_000usize, 10_000, 100_000] {
        let values = Family::Sitnikov.generate(n, 0);
        let mut c = Ckms::new(SITNIKOV).unwrap();
        for &v in &values {
            c.insert(v);
        }
        let got = c.query(0.9);
        let mut sorted = values.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        let err = check(&sorted, 0.9, 0.04, got).unwrap_or_else(|v| panic!("{v}"));
        assert!(err <= 1.0);
        c.audit().unwrap();
    }
}

/// beorn7/perks#2: [1..5] with Go's objectives must give 3, 5, 5.
#[test]
fn perks_2_small_n() {
    let mut c = Ckms::new(GO).unwrap();
    for v in 1..=5 {
        c.insert(f64::from(v));
    }
    assert_eq!(c.query(0.5), 3.0);
    assert_eq!(c.query(0.9), 5.0);
    assert_eq!(c.query(0.99), 5.0);
    let mut batch: Vec<f64> = (1..=5).rev().map(f64::from).collect();
    let mut c = Ckms::new(GO).unwrap();
    c.insert_batch(&mut batch);
    assert_eq!((c.query(0.5), c.query(0.9), c.query(0.99)), (3.0, 5.0, 5.0));
}

/// bmizerany/perks#24: six values, 0.5/0.9/0.95/0.99 at ε = 0.01 (εn < 1: exact answers).
/// perks answered 6.16e9 for the upper quantiles instead of the maximum.
#[test]
fn perks_24_six_values() {
    let values = [5.34e9, 5.75e9, 5.93e9, 6.16e9, 6.56e9, 1.156e9];
    let mut c = Ckms::new(&[(0.5, 0.01), (0.9, 0.01), (0.95, 0.01), (0.99, 0.01)]).unwrap();
    for v in values {
        c.insert(v);
    }
    assert_eq!(c.query(0.5), 5.75e9);
    assert_eq!(c.query(0.9), 6.56e9);
    assert_eq!(c.query(0.95), 6.56e9);
    assert_eq!(c.query(0.99), 6.56e9);
    assert_eq!(c.min(), 1.156e9);
}

/// NaN is dropped from the ranking and counted apart, in both insert paths.
#[test]
fn nan_observations_are_counted_not_ranked() {
    let mut c = Ckms::new(GO).unwrap();
    for i in 0..1000 {
        c.insert(if i % 10 == 0 { f64::NAN } else { f64::from(i) });
    }
    let mut batch = vec![f64::NAN, -f64::NAN, 5.0];
    c.insert_batch(&mut batch);
    assert_eq!(c.nan_count(), 102);
    assert_eq!(c.count(), 901);
    assert!(!c.query(0.5).is_nan());
    c.audit().unwrap();
}

// --- release-mode scale --------------------------------------------------------------------

/// Every family to 1e6 with Go's objectives and {0.9:0.05, 0.99:0.005}, checked at ×2 steps.
#[test]
#[ignore = "release-mode: run with cargo test --release -- --ignored"]
fn all_families_to_1e6() {
    let n = 1_000_000;
    let points = [
        0, 1, 10, 100, 1_000, 10_000, 100_000, 200_000, 400_000, 800_000, n,
    ];
    let report = run_matrix(n, &points, &[GO, JAVA_2292]);
    eprintln!(
        "16 families to 1e6: {} checks, worst {:.3} eps at {}",
        report.checks, report.worst, report.worst_at
    );
    report.assert_clean("families to 1e6");
}

/// Every family to 1e7 with Go's objectives and {0.9:0.05, 0.99:0.005}, checked at 1e6, ×2
/// steps and 1e7.
#[test]
#[ignore = "release-mode: run with cargo test --release -- --ignored"]
fn all_families_to_1e7() {
    let n = 10_000_000;
    let points = [0, 1_000_000, 2_000_000, 4_000_000, 8_000_000, n];
    let report = run_matrix(n, &points, &[GO, JAVA_2292]);
    eprintln!(
        "16 families to 1e7: {} checks, worst {:.3} eps at {}",
        report.checks, report.worst, report.worst_at
    );
    report.assert_clean("families to 1e7");
}
