//! Attribution that means something: on a small model trained on a fact corpus, zeroing the 20
//! neurons with the highest Gated-LPI lowers the gold log-probability more than zeroing 20 random
//! neurons.

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_lpi::models::synthetic::SyntheticFacts;
use burn_lpi::models::{Ablation, MoeConfig, Transformer, TransformerConfig};
use burn_lpi::{GatedLpiConfig, ProbeBatch, UnitId};

fn train(config: TransformerConfig, facts: &SyntheticFacts, steps: usize) -> Transformer {
    let device = Device::flex().autodiff();
    device.seed(17);
    let mut model = config.init(&device);
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
    for step in 0..steps {
        let loss = model.next_token_loss(facts.batch(step * 32, 32, &device));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    model.valid()
}

/// Mean gold log-probability over the probes with `ablation` applied, and top-1 accuracy.
fn gold_logprob(model: &Transformer, probes: &ProbeBatch, ablation: &Ablation) -> (f32, f32) {
    let device = Device::flex();
    let logits = model.forward_ablated(probes.tokens(&device), ablation);
    let [b, s, v] = logits.dims();
    let rows: Vec<i64> = (0..b)
        .map(|i| (i * s + probes.positions()[i]) as i64)
        .collect();
    let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [b]), &device);
    let last = log_softmax(logits.reshape([b * s, v]).select(0, rows), 1);
    let targets: Vec<i64> = probes.targets().iter().map(|&t| t as i64).collect();
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets.clone(), [b, 1]), &device);
    let predicted = last
        .clone()
        .argmax(1)
        .reshape([b])
        .into_data()
        .convert::<i64>();
    let hits = predicted
        .iter::<i64>()
        .zip(targets.to_data().iter::<i64>())
        .filter(|(p, t)| p == t)
        .count();
    let mean = last.gather(1, targets).mean().into_scalar::<f32>();
    (mean, hits as f32 / b as f32)
}

fn check(config: impl Fn(usize) -> TransformerConfig, label: &str) {
    let facts = SyntheticFacts::new(24, 3, 16, 5);
    let model = train(config(facts.vocab_size()), &facts, 400);
    let probes = facts.probes().unwrap();
    let (clean, accuracy) = gold_logprob(&model, &probes, &Ablation::default());
    assert!(
        accuracy > 0.5,
        "{label}: the model did not learn the facts (accuracy {accuracy})"
    );

    let scores = GatedLpiConfig::new()
        .init()
        .attribute(&model, &probes, &Device::flex())
        .unwrap();
    let profile = scores.neuron_profile();
    let mut order: Vec<usize> = (0..profile.len()).collect();
    order.sort_by(|&a, &b| profile[b].total_cmp(&profile[a]));
    let top = Ablation::new(order[..20].iter().map(|&i| scores.layout.neuron(i)));
    let (top_ablated, _) = gold_logprob(&model, &probes, &top);
    let top_drop = clean - top_ablated;

    // Mean drop over several random draws of 20 distinct neurons (fixed seed).
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let draws = 5;
    let mut random_drop = 0.0;
    for _ in 0..draws {
        let mut picked: Vec<UnitId> = Vec::new();
        while picked.len() < 20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = scores
                .layout
                .neuron((state % profile.len() as u64) as usize);
            if !picked.contains(&unit) {
                picked.push(unit);
            }
        }
        random_drop += clean - gold_logprob(&model, &probes, &Ablation::new(picked)).0;
    }
    random_drop /= draws as f32;
    eprintln!("{label}: accuracy {accuracy}, top-20 drop {top_drop}, random-20 drop {random_drop}");
    assert!(
        top_drop > random_drop && top_drop > 0.0,
        "{label}: ablating the top-20 neurons dropped log p(gold) by {top_drop}, 20 random by {random_drop}"
    );
}

#[test]
fn ablating_top_gated_lpi_neurons_hurts_more_than_random_dense() {
    check(
        |vocab| TransformerConfig::new(vocab, 32, 2, 4, 64, 8),
        "dense",
    );
}

#[test]
fn ablating_top_gated_lpi_neurons_hurts_more_than_random_moe() {
    check(
        |vocab| TransformerConfig::new(vocab, 32, 2, 4, 32, 8).with_moe(Some(MoeConfig::new(4, 2))),
        "moe",
    );
}
