//! The batched Gated-LPI equals its literal definition on small random dense and MoE models, for
//! every combination of the method's switches and both log-sum-exp kernels.

use burn::tensor::Device;
use burn_lpi::attribution::{
    FfnCapture, GatePlacement, GatedLpiConfig, LseKernel, NeuronBaseline, NormStatistic,
    ProbeReduction, TargetChoice, naive_gated_lpi,
};
use burn_lpi::models::{MoeConfig, NormKind, Transformer, TransformerConfig};
use burn_lpi::{Attributable, ProbeBatch};

const VOCAB: usize = 61;

fn model(moe: Option<MoeConfig>, norm: NormKind, qk_norm: bool, seed: u64) -> Transformer {
    let device = Device::flex();
    device.seed(seed);
    TransformerConfig::new(VOCAB, 24, 2, 4, 20, 16)
        .with_moe(moe)
        .with_norm(norm)
        .with_qk_norm(qk_norm)
        .with_init_std(0.3)
        .init(&device)
}

fn probes() -> ProbeBatch {
    let prompts = vec![
        vec![1, 5, 9, 13],
        vec![2, 7],
        vec![60, 3, 3, 8, 21, 34],
        vec![11],
        vec![4, 40, 50],
    ];
    ProbeBatch::from_prompts(prompts, vec![7, 0, 33, 60, 12]).unwrap()
}

fn all_configs() -> Vec<GatedLpiConfig> {
    let mut configs = Vec::new();
    for gate in [GatePlacement::InsidePerturbation, GatePlacement::OutsideLog] {
        for norm in [NormStatistic::Fixed, NormStatistic::Recomputed] {
            for target in [TargetChoice::Gold, TargetChoice::ModelTop1] {
                for baseline in [NeuronBaseline::PostAttention, NeuronBaseline::LayerInput] {
                    for kernel in [LseKernel::Fused, LseKernel::Tensor] {
                        configs.push(
                            GatedLpiConfig::new()
                                .with_gate(gate)
                                .with_norm_statistic(norm)
                                .with_target(target)
                                .with_baseline(baseline)
                                .with_kernel(kernel)
                                // Small chunks so the chunking itself is exercised.
                                .with_max_chunk_bytes(4 * VOCAB * 7)
                                .with_keep_per_probe(true),
                        );
                    }
                }
            }
        }
    }
    configs
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().map(|x| x.abs()).fold(0.0, f32::max)
}

fn check_against_naive(model: &Transformer, label: &str) {
    let device = Device::flex();
    let probes = probes();
    let capture = model.capture(probes.tokens(&device), probes.positions());
    for config in all_configs() {
        let batched = config
            .init()
            .attribute_capture(&capture, probes.targets())
            .unwrap();
        let naive = naive_gated_lpi(&capture, probes.targets(), &config).unwrap();
        let per_probe = batched.per_probe.as_ref().unwrap();
        assert_eq!(batched.targets, naive.targets, "{label} {config:?}");
        let neuron_err = max_abs_diff(&per_probe.neurons, &naive.scores.neurons);
        let head_err = max_abs_diff(&per_probe.heads, &naive.scores.heads);
        assert!(
            neuron_err < 1e-4,
            "{label} neurons off by {neuron_err} with {config:?}"
        );
        assert!(
            head_err < 1e-4,
            "{label} heads off by {head_err} with {config:?}"
        );
        // The comparison means something only if the scores are far from zero.
        assert!(
            max_abs(&naive.scores.neurons) > 1e-2,
            "{label}: neuron scores vanish"
        );
        assert!(
            max_abs(&naive.scores.heads) > 1e-2,
            "{label}: head scores vanish"
        );
    }
}

#[test]
fn dense_rmsnorm_batched_equals_naive_for_every_switch() {
    check_against_naive(&model(None, NormKind::Rms, false, 1), "dense rms");
}

#[test]
fn dense_layernorm_with_qk_norm_batched_equals_naive_for_every_switch() {
    check_against_naive(
        &model(None, NormKind::NonParametricLayerNorm, true, 2),
        "dense layernorm",
    );
}

#[test]
fn moe_batched_equals_naive_for_every_switch() {
    check_against_naive(
        &model(Some(MoeConfig::new(4, 2)), NormKind::Rms, true, 3),
        "moe",
    );
    check_against_naive(
        &model(
            Some(MoeConfig::new(5, 3).with_norm_topk_prob(true)),
            NormKind::NonParametricLayerNorm,
            false,
            4,
        ),
        "moe renormalised",
    );
}

#[test]
fn non_routed_experts_score_exactly_zero_and_routed_ones_do_not() {
    let device = Device::flex();
    let model = model(Some(MoeConfig::new(6, 2)), NormKind::Rms, false, 5);
    let probes = probes();
    let capture = model.capture(probes.tokens(&device), probes.positions());
    let scores = GatedLpiConfig::new()
        .with_keep_per_probe(true)
        .init()
        .attribute_capture(&capture, probes.targets())
        .unwrap();
    let layout = scores.layout;
    let per_probe = scores.per_probe.unwrap();
    for (l, layer) in capture.layers.iter().enumerate() {
        let FfnCapture::Moe { experts, .. } = &layer.ffn else {
            panic!("MoE model captured a dense FFN")
        };
        let chosen: Vec<i64> = experts.to_data().convert::<i64>().iter::<i64>().collect();
        for p in 0..probes.len() {
            let row = &per_probe.neurons[p * layout.num_neurons()..(p + 1) * layout.num_neurons()];
            for e in 0..layout.experts {
                let first = layout.neuron_index(l, e, 0);
                let block = &row[first..first + layout.neurons_per_expert];
                if chosen[p * 2..p * 2 + 2].contains(&(e as i64)) {
                    assert!(
                        block.iter().any(|&s| s != 0.0),
                        "routed l{l}.e{e} all zero for probe {p}"
                    );
                } else {
                    assert!(
                        block.iter().all(|&s| s == 0.0),
                        "non-routed l{l}.e{e} scored for probe {p}"
                    );
                }
            }
        }
    }
}

#[test]
fn profiles_reduce_per_probe_scores_by_mean_or_sum() {
    let device = Device::flex();
    let model = model(None, NormKind::Rms, false, 6);
    let probes = probes();
    for reduction in [ProbeReduction::Mean, ProbeReduction::Sum] {
        let scores = GatedLpiConfig::new()
            .with_reduction(reduction)
            .with_keep_per_probe(true)
            .init()
            .attribute(&model, &probes, &device)
            .unwrap();
        let per_probe = scores.per_probe.as_ref().unwrap();
        let n = scores.layout.num_neurons();
        let divisor = match reduction {
            ProbeReduction::Mean => probes.len() as f32,
            ProbeReduction::Sum => 1.0,
        };
        let expected: Vec<f32> = (0..n)
            .map(|i| {
                (0..probes.len())
                    .map(|p| per_probe.neurons[p * n + i])
                    .sum::<f32>()
                    / divisor
            })
            .collect();
        assert!(max_abs_diff(&scores.neuron_profile(), &expected) < 1e-5);
    }
}
