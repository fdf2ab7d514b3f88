//! Statistics of one probe run for an OLMoE-sized profile: 16 layers x 64 experts x 1024 neurons
//! = 1,048,576 units, on one core. Target: the full per-run analysis in at most 100 ms.
//!
//! Run: `cargo bench -p lpi-stats --bench profile_stats -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::ops::Range;

use criterion::{Criterion, criterion_group, criterion_main};
use lpi_stats::{
    PositiveUpdates, RankedProfile, default_rbo_persistence, group_shares, group_spearman,
    rank_biased_overlap, spearman, stability, summarize, top_k_count, top_k_jaccard,
};

const LAYERS: usize = 16;
const EXPERTS: usize = 64;
const NEURONS: usize = 1024;
const UNITS: usize = LAYERS * EXPERTS * NEURONS;
const Q: f64 = 0.01;
const LORENZ_POINTS: usize = 101;

/// splitmix64: a seeded generator without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A heavy-tailed MoE-like profile: about 70% of experts unrouted (exact zeros), log-normal
/// magnitudes with 15% negatives elsewhere. `base` (if any) is perturbed instead, as the next probe
/// run of the same model would be: the same zero experts, values jittered multiplicatively.
fn profile(seed: u64, base: Option<&[f32]>, jitter: f64) -> Vec<f32> {
    let mut rng = SplitMix(seed);
    match base {
        None => {
            let mut values = vec![0.0_f32; UNITS];
            for expert in values.chunks_mut(NEURONS) {
                if rng.uniform() < 0.7 {
                    continue;
                }
                for x in expert {
                    let magnitude = (2.0 * rng.normal() - 6.0).exp();
                    let sign = if rng.uniform() < 0.15 { -1.0 } else { 1.0 };
                    *x = (sign * magnitude) as f32;
                }
            }
            values
        }
        Some(base) => base
            .iter()
            .map(|&x| {
                if x == 0.0 {
                    0.0
                } else {
                    (f64::from(x) * (jitter * rng.normal()).exp()) as f32
                }
            })
            .collect(),
    }
}

fn layers() -> Vec<Range<usize>> {
    let per_layer = EXPERTS * NEURONS;
    (0..LAYERS)
        .map(|l| l * per_layer..(l + 1) * per_layer)
        .collect()
}

fn experts() -> Vec<Range<usize>> {
    (0..LAYERS * EXPERTS)
        .map(|e| e * NEURONS..(e + 1) * NEURONS)
        .collect()
}

fn bench_profile_stats(c: &mut Criterion) {
    let reference = profile(1, None, 0.0);
    let previous = profile(2, Some(&reference), 0.5);
    let current = profile(3, Some(&previous), 0.2);
    let (layers, experts) = (layers(), experts());
    let k = top_k_count(UNITS, Q);
    let p = default_rbo_persistence(k);

    let reference_ranked = RankedProfile::new(&reference);
    let previous_ranked = RankedProfile::new(&previous);
    let previous_layer_ranks = previous_ranked.group_ranks(&layers);
    let current_ranked = RankedProfile::new(&current);
    let mut updates = PositiveUpdates::new();
    updates.update(&reference);
    updates.update(&previous);

    let mut group = c.benchmark_group("profile_stats_1m");
    group.sample_size(20);

    // Everything one probe run computes, given the cached previous and reference rankings.
    group.bench_function("full_run", |bench| {
        bench.iter(|| {
            let ranked = RankedProfile::new(black_box(&current));
            let summary = ranked.summary(Q);
            let vs_previous = stability(&ranked, &previous_ranked, k, p);
            let vs_reference = stability(&ranked, &reference_ranked, k, p);
            let layer_ranks = ranked.group_ranks(&layers);
            let per_layer = group_spearman(&layer_ranks, &previous_layer_ranks);
            let layer_shares = group_shares(&current, &layers);
            let expert_shares = group_shares(&current, &experts);
            updates.update(&current);
            let update_share = updates.top_share(Q);
            let lorenz = ranked.lorenz_curve(LORENZ_POINTS);
            black_box((
                summary,
                vs_previous,
                vs_reference,
                per_layer,
                layer_shares,
                expert_shares,
                update_share,
                lorenz,
            ))
        })
    });

    group.bench_function("ranked_profile_new", |bench| {
        bench.iter(|| RankedProfile::new(black_box(&current)))
    });
    group.bench_function("summary_from_ranked", |bench| {
        bench.iter(|| current_ranked.summary(black_box(Q)))
    });
    group.bench_function("summarize_from_slice", |bench| {
        bench.iter(|| summarize(black_box(&current), Q))
    });
    group.bench_function("lorenz_from_ranked", |bench| {
        bench.iter(|| current_ranked.lorenz_curve(black_box(LORENZ_POINTS)))
    });
    group.bench_function("stability", |bench| {
        bench.iter(|| stability(&current_ranked, &previous_ranked, black_box(k), p))
    });
    group.bench_function("spearman", |bench| {
        bench.iter(|| spearman(black_box(&current_ranked), &previous_ranked))
    });
    group.bench_function("top_k_jaccard", |bench| {
        bench.iter(|| top_k_jaccard(black_box(&current_ranked), &previous_ranked, k))
    });
    group.bench_function("rank_biased_overlap", |bench| {
        bench.iter(|| rank_biased_overlap(black_box(&current_ranked), &previous_ranked, p))
    });
    group.bench_function("group_ranks_16_layers", |bench| {
        bench.iter(|| black_box(&current_ranked).group_ranks(&layers))
    });
    let current_layer_ranks = current_ranked.group_ranks(&layers);
    group.bench_function("group_spearman_16_layers", |bench| {
        bench.iter(|| group_spearman(black_box(&current_layer_ranks), &previous_layer_ranks))
    });
    group.bench_function("group_shares_16_layers_1024_experts", |bench| {
        bench.iter(|| {
            (
                group_shares(black_box(&current), &layers),
                group_shares(&current, &experts),
            )
        })
    });
    group.bench_function("positive_updates_update", |bench| {
        bench.iter(|| updates.update(black_box(&current)))
    });
    group.bench_function("positive_updates_top_share", |bench| {
        bench.iter(|| updates.top_share(black_box(Q)))
    });
    group.finish();
}

criterion_group!(benches, bench_profile_stats);
criterion_main!(benches);
