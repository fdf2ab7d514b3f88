//! Gated-LPI throughput on the shapes of issue #2: L=4, d=256, n=1024 neurons per layer
//! (or per expert), V=8192, P=64 probes; a dense model and a MoE with E=8, top-2.
//!
//! Groups:
//! - `gated_lpi`: the whole batched attribution from a capture (dense, MoE);
//! - `vs_naive`: batched against the naive per-unit reference, side by side on a shape small
//!   enough for the reference (one layer, two probes);
//! - `floor`: the irreducible parts: the column precompute `diag(gamma) W_U` x `W_down` for all
//!   layers, and the exact log-sum-exp on one core (fused kernel) against burn's generic
//!   `exp().sum_dim()` on the same terms.
//!
//! Run with `cargo bench --bench gated_lpi`.

use std::hint::black_box;

use burn::tensor::{Device, Distribution, Tensor};
use burn_lpi::attribution::lse::{BaselineRow, UnitColumn, lse_affine};
use burn_lpi::attribution::{GatedLpiConfig, ModelCapture, naive_gated_lpi};
use burn_lpi::models::{MoeConfig, TransformerConfig};
use burn_lpi::{Attributable, ProbeBatch};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const VOCAB: usize = 8192;
const D_MODEL: usize = 256;
const NEURONS: usize = 1024;
const HEADS: usize = 8;

fn capture(layers: usize, probes: usize, moe: Option<MoeConfig>) -> (ModelCapture, Vec<u32>) {
    let device = Device::flex();
    device.seed(1);
    let model = TransformerConfig::new(VOCAB, D_MODEL, layers, HEADS, NEURONS, 16)
        .with_moe(moe)
        .init(&device);
    let prompts: Vec<Vec<u32>> = (0..probes)
        .map(|p| {
            (0..8)
                .map(|t| ((p * 131 + t * 17) % VOCAB) as u32)
                .collect()
        })
        .collect();
    let targets: Vec<u32> = (0..probes).map(|p| ((p * 7919) % VOCAB) as u32).collect();
    let batch = ProbeBatch::from_prompts(prompts, targets.clone()).unwrap();
    (
        model.capture(batch.tokens(&device), batch.positions()),
        targets,
    )
}

fn gated_lpi(c: &mut Criterion) {
    let mut group = c.benchmark_group("gated_lpi");
    group.sample_size(10);
    let lpi = GatedLpiConfig::new().init();
    for (name, moe) in [("dense", None), ("moe_e8_top2", Some(MoeConfig::new(8, 2)))] {
        let (capture, targets) = capture(4, 64, moe);
        group.bench_function(name, |b| {
            b.iter(|| black_box(lpi.attribute_capture(&capture, &targets).unwrap()))
        });
    }
    group.finish();
}

fn vs_naive(c: &mut Criterion) {
    let mut group = c.benchmark_group("vs_naive");
    group.sample_size(10);
    let config = GatedLpiConfig::new();
    let lpi = config.init();
    let (capture, targets) = capture(1, 2, None);
    group.bench_function("batched", |b| {
        b.iter(|| black_box(lpi.attribute_capture(&capture, &targets).unwrap()))
    });
    group.bench_function("naive", |b| {
        b.iter(|| black_box(naive_gated_lpi(&capture, &targets, &config).unwrap()))
    });
    group.finish();
}

fn floor(c: &mut Criterion) {
    let device = Device::flex();
    let mut group = c.benchmark_group("floor");
    group.sample_size(10);
    let unembedding = Tensor::<2>::random([D_MODEL, VOCAB], Distribution::Default, &device);
    let write_out: Vec<Tensor<2>> = (0..4)
        .map(|_| Tensor::random([NEURONS, D_MODEL], Distribution::Default, &device))
        .collect();
    group.bench_function("columns_matmul_4_layers", |b| {
        b.iter(|| {
            for w in &write_out {
                black_box(w.clone().matmul(unembedding.clone()).into_data());
            }
        })
    });

    // Exact LSE terms: 64 probes x 64 units x V.
    let (probes, units) = (64, 64);
    let z: Vec<f32> = (0..probes * VOCAB)
        .map(|i| ((i * 2_654_435_761) % 1000) as f32 / 100.0)
        .collect();
    let m: Vec<f32> = (0..units * VOCAB)
        .map(|i| ((i * 40_503) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let rows: Vec<BaselineRow<'_>> = z.chunks(VOCAB).map(BaselineRow::new).collect();
    let (a, bcoef) = (vec![0.5f32; probes], vec![0.3f32; probes]);
    group.throughput(Throughput::Elements((probes * units * VOCAB) as u64));
    group.bench_function("lse_fused_one_core", |b| {
        let mut out = vec![0.0f32; probes];
        b.iter(|| {
            for column in m.chunks(VOCAB) {
                lse_affine(UnitColumn::new(column), &rows, &a, &bcoef, &mut out);
                black_box(&out);
            }
        })
    });
    let zt = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(z.clone(), [probes, VOCAB]),
        &device,
    );
    let mt = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(m.clone(), [units, VOCAB]),
        &device,
    );
    group.bench_function("lse_burn_exp_sum_dim", |b| {
        b.iter(|| {
            let logits =
                zt.clone().unsqueeze_dim::<3>(1) * 0.5 + mt.clone().unsqueeze_dim::<3>(0) * 0.3;
            let max = logits.clone().max_dim(2);
            black_box((max.clone() + (logits - max).exp().sum_dim(2).log()).into_data())
        })
    });
    group.finish();
}

criterion_group!(benches, gated_lpi, vs_naive, floor);
criterion_main!(benches);
