//! Invariants of the statistics on arbitrary profiles (proptest).
//!
//! Values are multiples of 1/8 so that ties are common and scaling by powers of two is exact.

use std::ops::Range;

use lpi_stats::{
    Consolidation, PositiveUpdates, RankedProfile, group_shares, lorenz_curve, spearman, stability,
    summarize,
};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        1 => Just(0.0_f32),
        2 => (-1000_i32..1000).prop_map(|v| v as f32 / 8.0),
    ]
}

fn profile() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(value(), 1..200)
}

fn profile_pair() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (1_usize..200).prop_flat_map(|n| {
        (
            prop::collection::vec(value(), n),
            prop::collection::vec(value(), n),
        )
    })
}

/// Two profiles of distinct values (shuffled 0..n, shifted) and a permutation of the units.
fn distinct_pair_and_permutation() -> impl Strategy<Value = (Vec<f32>, Vec<f32>, Vec<usize>)> {
    (2_usize..200).prop_flat_map(|n| {
        let units: Vec<usize> = (0..n).collect();
        (
            Just(units.clone()).prop_shuffle(),
            Just(units.clone()).prop_shuffle(),
            Just(units).prop_shuffle(),
        )
            .prop_map(|(a, b, perm)| {
                let to_values = |v: Vec<usize>| -> Vec<f32> {
                    v.into_iter().map(|x| x as f32 - 40.0).collect()
                };
                (to_values(a), to_values(b), perm)
            })
    })
}

/// Contiguous disjoint groups covering `0..n` (at most 4).
fn even_groups(n: usize) -> Vec<Range<usize>> {
    let count = n.min(4);
    (0..count)
        .map(|g| g * n / count..(g + 1) * n / count)
        .collect()
}

const K: usize = 5;
const P: f64 = 0.8;

proptest! {
    #[test]
    fn concentration_statistics_are_bounded(profile in profile(), q in 0.0_f64..=1.0) {
        let s = summarize(&profile, q);
        for v in [s.top_share, s.entropy, s.gini] {
            prop_assert!((0.0..=1.0).contains(&v), "{s:?}");
        }
        let shares = group_shares(&profile, &even_groups(profile.len()));
        prop_assert!(shares.iter().all(|v| (0.0..=1.0).contains(v)));
        let total: f64 = shares.iter().sum();
        prop_assert!(total == 0.0 || (total - 1.0).abs() < 1e-12, "shares sum to {total}");
        let curve = lorenz_curve(&profile, 21);
        prop_assert_eq!((curve[0].population, curve[0].mass), (0.0, 0.0));
        prop_assert_eq!((curve[20].population, curve[20].mass), (1.0, 1.0));
        for pair in curve.windows(2) {
            prop_assert!(pair[0].mass <= pair[1].mass + 1e-15);
            prop_assert!(pair[1].mass <= pair[1].population + 1e-12, "Lorenz curve above equality");
        }
    }

    #[test]
    fn top_share_is_non_decreasing_in_q(profile in profile(), q1 in 0.0_f64..=1.0, q2 in 0.0_f64..=1.0) {
        let (low, high) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
        let ranked = RankedProfile::new(&profile);
        prop_assert!(ranked.summary(low).top_share <= ranked.summary(high).top_share);
    }

    #[test]
    fn stability_is_bounded_and_symmetric((a, b) in profile_pair(), k in 0_usize..250, p in 0.0_f64..0.999) {
        let (ra, rb) = (RankedProfile::new(&a), RankedProfile::new(&b));
        let ab = stability(&ra, &rb, k, p);
        prop_assert!((-1.0..=1.0).contains(&ab.spearman));
        prop_assert!((0.0..=1.0).contains(&ab.jaccard));
        prop_assert!((0.0..=1.0).contains(&ab.rbo));
        prop_assert_eq!(ab, stability(&rb, &ra, k, p));
        let groups = even_groups(a.len());
        let per_group = lpi_stats::group_spearman(&ra.group_ranks(&groups), &rb.group_ranks(&groups));
        prop_assert!(per_group.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn identical_profiles_are_perfectly_stable(a in profile(), k in 1_usize..250, p in 0.0_f64..0.999) {
        let ranked = RankedProfile::new(&a);
        let s = stability(&ranked, &ranked.clone(), k, p);
        prop_assert_eq!(s.spearman, 1.0);
        prop_assert_eq!(s.jaccard, 1.0);
        // The geometric weights p^d are formed by repeated multiplication: 1 up to rounding.
        prop_assert!((s.rbo - 1.0).abs() < 1e-12, "rbo {}", s.rbo);
    }

    #[test]
    fn permuting_units_consistently_keeps_stability((a, b, perm) in distinct_pair_and_permutation()) {
        let permute = |v: &[f32]| -> Vec<f32> { perm.iter().map(|&i| v[i]).collect() };
        let before = stability(&RankedProfile::new(&a), &RankedProfile::new(&b), K, P);
        let after = stability(&RankedProfile::new(&permute(&a)), &RankedProfile::new(&permute(&b)), K, P);
        prop_assert_eq!(before, after);
    }

    #[test]
    fn spearman_with_ties_ignores_unit_order((a, b) in profile_pair(), seed in any::<u64>()) {
        // Average ranks do not depend on the index tie-break, so Spearman is permutation invariant
        // even with ties (Jaccard and RBO are not: the tie-break decides the top-k set).
        let n = a.len();
        let perm: Vec<usize> = (0..n).map(|i| (i * 7 + seed as usize % n) % n).collect();
        let mut unique = perm.clone();
        unique.sort_unstable();
        unique.dedup();
        prop_assume!(unique.len() == n);
        let permute = |v: &[f32]| -> Vec<f32> { perm.iter().map(|&i| v[i]).collect() };
        let before = spearman(&RankedProfile::new(&a), &RankedProfile::new(&b));
        let after = spearman(&RankedProfile::new(&permute(&a)), &RankedProfile::new(&permute(&b)));
        prop_assert_eq!(before, after);
    }

    #[test]
    fn positive_scaling_changes_nothing((a, b) in profile_pair(), exponent in -4_i32..=4, q in 0.0_f64..=1.0) {
        let scale = 2.0_f32.powi(exponent);
        let scaled: Vec<f32> = a.iter().map(|&x| x * scale).collect();
        let (sa, ss) = (summarize(&a, q), summarize(&scaled, q));
        prop_assert_eq!(
            (sa.units, sa.positive_units, sa.top_share, sa.entropy, sa.gini),
            (ss.units, ss.positive_units, ss.top_share, ss.entropy, ss.gini)
        );
        prop_assert_eq!(lorenz_curve(&a, 11), lorenz_curve(&scaled, 11));
        let groups = even_groups(a.len());
        prop_assert_eq!(group_shares(&a, &groups), group_shares(&scaled, &groups));
        let rb = RankedProfile::new(&b);
        prop_assert_eq!(
            stability(&RankedProfile::new(&a), &rb, K, P),
            stability(&RankedProfile::new(&scaled), &rb, K, P)
        );
    }

    #[test]
    fn reversed_distinct_ranking_has_spearman_minus_one((a, _, _) in distinct_pair_and_permutation()) {
        let reversed: Vec<f32> = a.iter().map(|&x| -x).collect();
        prop_assert_eq!(spearman(&RankedProfile::new(&a), &RankedProfile::new(&reversed)), -1.0);
    }

    #[test]
    fn positive_updates_accumulate_increments(
        runs in (1_usize..30).prop_flat_map(|n| prop::collection::vec(prop::collection::vec(value(), n), 1..6)),
    ) {
        let mut updates = PositiveUpdates::new();
        for profile in &runs {
            updates.update(profile);
        }
        let n = runs[0].len();
        for unit in 0..n {
            let expected: f64 = runs
                .windows(2)
                .map(|w| (f64::from(w[1][unit]) - f64::from(w[0][unit])).max(0.0))
                .sum();
            prop_assert!(updates.accumulated()[unit] >= 0.0);
            prop_assert_eq!(updates.accumulated()[unit], expected);
        }
        prop_assert_eq!(updates.runs(), runs.len() as u64);
        prop_assert_eq!(updates.previous(), &runs[runs.len() - 1][..]);
        let share = updates.top_share(0.1);
        prop_assert!((0.0..=1.0).contains(&share));
    }

    #[test]
    fn consolidation_never_reports_early_and_never_moves(
        tau in 0.0_f64..1.0,
        window in 1_usize..6,
        stabilities in prop::collection::vec(0.0_f64..1.0, 0..40),
    ) {
        let mut c = Consolidation::new(tau, window).unwrap();
        let mut first = None;
        for (i, &s) in stabilities.iter().enumerate() {
            let step = 10 * i as u64 + 3;
            let reported = c.observe(step, s);
            if i + 1 < window {
                prop_assert_eq!(reported, None);
            }
            if let Some(at) = reported {
                prop_assert!(at + 10 * (window as u64 - 1) <= step);
                prop_assert!(first.is_none() || first == Some(at));
                first = Some(at);
            }
            prop_assert!(c.streak() <= i + 1);
        }
    }
}
