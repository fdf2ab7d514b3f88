//! Agreement with an independent numpy/scipy implementation (`tests/golden/make_golden.py`, whose
//! output `tests/golden/golden.json` is committed, so no Python is needed here).
//!
//! Tolerance: 1e-9 relative plus 1e-12 absolute. Both sides accumulate in f64 over at most 2000
//! terms, in different orders and by different formulas (e.g. Gini from sorted values here, from all
//! pairwise differences there), so agreement is expected near 1e-13; 1e-9 leaves margin and still
//! catches any real mistake (an off-by-one rank or depth moves values by far more).

use std::ops::Range;

use lpi_stats::{
    Consolidation, PositiveUpdates, RankedProfile, group_shares, group_spearman,
    group_spearman_slices, lorenz_curve, rank_biased_overlap, spearman, stability, summarize,
    top_k_count, top_k_jaccard,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
    consolidation: Vec<ConsolidationCase>,
    top_k_count: Vec<(usize, f64, usize)>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    profiles: Vec<Vec<f64>>,
    groups: Vec<(usize, usize)>,
    summaries: Vec<Vec<Summary>>,
    lorenz: Vec<Vec<Lorenz>>,
    group_shares: Vec<Vec<f64>>,
    orders: Vec<Vec<usize>>,
    pairs: Vec<Pair>,
    updates: Updates,
}

#[derive(Deserialize)]
struct Summary {
    q: f64,
    units: usize,
    positive_mass: f64,
    positive_units: usize,
    top_share: f64,
    entropy: f64,
    gini: f64,
}

#[derive(Deserialize)]
struct Lorenz {
    points: usize,
    population: Vec<f64>,
    mass: Vec<f64>,
}

#[derive(Deserialize)]
struct Pair {
    a: usize,
    b: usize,
    spearman: f64,
    group_spearman: Vec<f64>,
    jaccard: Vec<AtK>,
    rbo: Vec<AtP>,
}

#[derive(Deserialize)]
struct AtK {
    k: usize,
    value: f64,
}

#[derive(Deserialize)]
struct AtP {
    p: f64,
    value: f64,
}

#[derive(Deserialize)]
struct AtQ {
    q: f64,
    value: f64,
}

#[derive(Deserialize)]
struct Updates {
    accumulated: Vec<f64>,
    runs: u64,
    top_share: Vec<AtQ>,
}

#[derive(Deserialize)]
struct ConsolidationCase {
    tau: f64,
    window: usize,
    steps: Vec<u64>,
    stabilities: Vec<f64>,
    consolidated_at: Vec<Option<u64>>,
    streak: Vec<usize>,
    drifted: Vec<bool>,
}

fn golden() -> Golden {
    let text = include_str!("golden/golden.json");
    serde_json::from_str(text).expect("tests/golden/golden.json: regenerate with make_golden.py")
}

#[track_caller]
fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs() + 1e-12;
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: got {actual:e}, expected {expected:e} (diff {:e})",
        (actual - expected).abs()
    );
}

fn profiles(case: &Case) -> Vec<Vec<f32>> {
    case.profiles
        .iter()
        .map(|p| {
            p.iter()
                .map(|&v| {
                    let x = v as f32;
                    assert_eq!(
                        f64::from(x),
                        v,
                        "{}: golden values must be exact in f32",
                        case.name
                    );
                    x
                })
                .collect()
        })
        .collect()
}

fn groups(case: &Case) -> Vec<Range<usize>> {
    case.groups.iter().map(|&(s, e)| s..e).collect()
}

#[test]
fn top_k_count_matches_exact_decimal_ceiling() {
    for (n, q, k) in golden().top_k_count {
        assert_eq!(top_k_count(n, q), k, "top_k_count({n}, {q})");
    }
}

#[test]
fn summaries_match() {
    for case in golden().cases {
        for (t, (profile, expected)) in profiles(&case).iter().zip(&case.summaries).enumerate() {
            let ranked = RankedProfile::new(profile);
            for e in expected {
                for (how, s) in [
                    ("summarize", summarize(profile, e.q)),
                    ("ranked", ranked.summary(e.q)),
                ] {
                    let what = format!("{} profile {t} q={} {how}", case.name, e.q);
                    assert_eq!(s.units, e.units, "{what} units");
                    assert_eq!(s.positive_units, e.positive_units, "{what} positive_units");
                    assert_close(s.positive_mass, e.positive_mass, &format!("{what} mass"));
                    assert_close(s.top_share, e.top_share, &format!("{what} top_share"));
                    assert_close(s.entropy, e.entropy, &format!("{what} entropy"));
                    assert_close(s.gini, e.gini, &format!("{what} gini"));
                }
            }
        }
    }
}

#[test]
fn lorenz_curves_match() {
    for case in golden().cases {
        for (t, (profile, curves)) in profiles(&case).iter().zip(&case.lorenz).enumerate() {
            let ranked = RankedProfile::new(profile);
            for e in curves {
                for (how, curve) in [
                    ("slice", lorenz_curve(profile, e.points)),
                    ("ranked", ranked.lorenz_curve(e.points)),
                ] {
                    assert_eq!(curve.len(), e.points);
                    for (j, point) in curve.iter().enumerate() {
                        let what = format!("{} profile {t} lorenz {how} point {j}", case.name);
                        assert_close(point.population, e.population[j], &what);
                        assert_close(point.mass, e.mass[j], &what);
                    }
                }
            }
        }
    }
}

#[test]
fn group_shares_match() {
    for case in golden().cases {
        let groups = groups(&case);
        for (t, (profile, expected)) in profiles(&case).iter().zip(&case.group_shares).enumerate() {
            let shares = group_shares(profile, &groups);
            for (g, (&s, &e)) in shares.iter().zip(expected).enumerate() {
                assert_close(s, e, &format!("{} profile {t} group {g} share", case.name));
            }
        }
    }
}

#[test]
fn orders_match() {
    for case in golden().cases {
        for (profile, expected) in profiles(&case).iter().zip(&case.orders) {
            let order: Vec<usize> = RankedProfile::new(profile)
                .order()
                .take(expected.len())
                .collect();
            assert_eq!(&order, expected, "{} order", case.name);
        }
    }
}

#[test]
fn rank_stability_matches() {
    for case in golden().cases {
        let profiles = profiles(&case);
        let groups = groups(&case);
        let ranked: Vec<RankedProfile> = profiles.iter().map(|p| RankedProfile::new(p)).collect();
        let group_ranks: Vec<_> = ranked.iter().map(|r| r.group_ranks(&groups)).collect();
        for pair in &case.pairs {
            let (a, b) = (&ranked[pair.a], &ranked[pair.b]);
            let what = format!("{} pair ({}, {})", case.name, pair.a, pair.b);
            assert_close(spearman(a, b), pair.spearman, &format!("{what} spearman"));
            let per_group = group_spearman(&group_ranks[pair.a], &group_ranks[pair.b]);
            let from_slices = group_spearman_slices(&profiles[pair.a], &profiles[pair.b], &groups);
            assert_eq!(per_group, from_slices);
            for (g, (&s, &e)) in per_group.iter().zip(&pair.group_spearman).enumerate() {
                assert_close(s, e, &format!("{what} group {g} spearman"));
            }
            for j in &pair.jaccard {
                assert_close(
                    top_k_jaccard(a, b, j.k),
                    j.value,
                    &format!("{what} jaccard k={}", j.k),
                );
            }
            for r in &pair.rbo {
                let rbo = rank_biased_overlap(a, b, r.p);
                assert_close(rbo, r.value, &format!("{what} rbo p={}", r.p));
                for j in &pair.jaccard {
                    let s = stability(a, b, j.k, r.p);
                    assert_eq!(s.rbo, rbo, "{what}: stability's RBO must not depend on k");
                    assert_close(s.jaccard, j.value, &format!("{what} stability jaccard"));
                    assert_close(
                        s.spearman,
                        pair.spearman,
                        &format!("{what} stability spearman"),
                    );
                }
            }
        }
    }
}

#[test]
fn positive_updates_match() {
    for case in golden().cases {
        let mut updates = PositiveUpdates::new();
        for profile in profiles(&case) {
            updates.update(&profile);
        }
        assert_eq!(updates.runs(), case.updates.runs);
        for (i, (&a, &e)) in updates
            .accumulated()
            .iter()
            .zip(&case.updates.accumulated)
            .enumerate()
        {
            assert_close(a, e, &format!("{} accumulated unit {i}", case.name));
        }
        for t in &case.updates.top_share {
            assert_close(
                updates.top_share(t.q),
                t.value,
                &format!("{} updates top_share q={}", case.name, t.q),
            );
        }
        // Persist and restore mid-way gives the same state.
        let restored = PositiveUpdates::from_parts(
            updates.accumulated().to_vec(),
            updates.previous().to_vec(),
            updates.runs(),
        )
        .unwrap();
        assert_eq!(restored, updates);
        let json = serde_json::to_string(&updates).unwrap();
        assert_eq!(
            serde_json::from_str::<PositiveUpdates>(&json).unwrap(),
            updates
        );
    }
}

#[test]
fn consolidation_matches() {
    for case in golden().consolidation {
        let mut c = Consolidation::new(case.tau, case.window).unwrap();
        for (t, (&step, &s)) in case.steps.iter().zip(&case.stabilities).enumerate() {
            let what = format!("tau={} window={} run {t}", case.tau, case.window);
            assert_eq!(
                c.observe(step, s),
                case.consolidated_at[t],
                "{what} consolidated_at"
            );
            assert_eq!(c.consolidated_at(), case.consolidated_at[t], "{what}");
            assert_eq!(c.streak(), case.streak[t], "{what} streak");
            assert_eq!(c.drifted(), case.drifted[t], "{what} drifted");
        }
    }
}

#[test]
fn golden_file_covers_the_degenerate_cases() {
    let names: Vec<String> = golden().cases.into_iter().map(|c| c.name).collect();
    for required in [
        "all_negative",
        "constant",
        "all_zero",
        "small_ties",
        "heavy_2000",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "golden.json lacks case {required}"
        );
    }
}
