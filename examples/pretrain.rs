//! Trains a tiny MoE (or, with `--dense`, a dense) language model on a synthetic fact corpus for a
//! few hundred AdamW steps, then attributes its knowledge with Gated-LPI: prints the probes'
//! readouts and the neurons and heads that carry the facts.
//!
//! ```text
//! cargo run --release --example pretrain            # MoE: 4 experts, top-2
//! cargo run --release --example pretrain -- --dense # dense SwiGLU, same active width
//! cargo run --release --example pretrain -- --steps 600
//! ```

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use burn_lpi::models::synthetic::SyntheticFacts;
use burn_lpi::models::{MoeConfig, TransformerConfig};
use burn_lpi::{GatedLpiConfig, GatedLpiScores};

struct Args {
    dense: bool,
    steps: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dense: false,
        steps: 300,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dense" => args.dense = true,
            "--steps" => {
                let value = it
                    .next()
                    .ok_or("--steps needs a number, e.g. --steps 300")?;
                args.steps = value
                    .parse()
                    .map_err(|_| format!("--steps {value}: not a whole number of steps"))?;
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; use --dense and/or --steps N"
                ));
            }
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    let facts = SyntheticFacts::new(32, 4, 24, 2026);
    let config = if args.dense {
        TransformerConfig::new(facts.vocab_size(), 64, 2, 4, 128, 8)
    } else {
        // Top-2 of 4 experts of 64 neurons: the same active FFN width as the dense model.
        TransformerConfig::new(facts.vocab_size(), 64, 2, 4, 64, 8)
            .with_moe(Some(MoeConfig::new(4, 2)))
    };
    let kind = if args.dense {
        "dense"
    } else {
        "MoE (4 experts, top-2)"
    };
    println!(
        "training a {kind} model on {} facts for {} steps",
        facts.len(),
        args.steps
    );

    let device = Device::flex().autodiff();
    device.seed(42);
    let mut model = config.init(&device);
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
    let started = Instant::now();
    for step in 0..args.steps {
        let loss = model.next_token_loss(facts.batch(step * 32, 32, &device));
        if step % 50 == 0 || step + 1 == args.steps {
            println!(
                "step {step:>4}  loss {:.4}",
                loss.clone().into_scalar::<f32>()
            );
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    println!("trained in {:.1} s", started.elapsed().as_secs_f32());

    let model = model.valid();
    let probes = facts
        .probes()
        .expect("the synthetic facts make valid probes");
    let started = Instant::now();
    let scores = GatedLpiConfig::new()
        .init()
        .attribute(&model, &probes, &Device::flex())
        .unwrap_or_else(|e| panic!("attribution failed: {e}"));
    println!(
        "Gated-LPI of {} neurons and {} heads over {} probes in {:.0} ms",
        scores.layout.num_neurons(),
        scores.layout.num_heads(),
        probes.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    report(&scores);
}

fn report(scores: &GatedLpiScores) {
    let known = scores
        .target_logprobs
        .iter()
        .filter(|&&lp| lp > (0.5f32).ln())
        .count();
    let mean_lp = scores.target_logprobs.iter().sum::<f32>() / scores.probes as f32;
    println!(
        "probes with p(gold) > 0.5: {known}/{}   mean log p(gold): {mean_lp:.3}",
        scores.probes
    );

    let neurons = scores.neuron_profile();
    let positive: f32 = neurons.iter().map(|&s| s.max(0.0)).sum();
    let mut order: Vec<usize> = (0..neurons.len()).collect();
    order.sort_by(|&a, &b| neurons[b].total_cmp(&neurons[a]));
    println!("top neurons by mean Gated-LPI (share of positive mass):");
    for &i in &order[..10] {
        println!(
            "  {:<12} {:>8.4}  {:>5.1}%",
            scores.layout.neuron(i).to_string(),
            neurons[i],
            100.0 * neurons[i].max(0.0) / positive
        );
    }
    let top_1pct = (neurons.len() / 100).max(1);
    let top_share: f32 = order[..top_1pct]
        .iter()
        .map(|&i| neurons[i].max(0.0))
        .sum::<f32>()
        / positive;
    println!(
        "top 1% of neurons ({top_1pct}) hold {:.1}% of the positive mass",
        100.0 * top_share
    );

    let heads = scores.head_profile();
    let mut order: Vec<usize> = (0..heads.len()).collect();
    order.sort_by(|&a, &b| heads[b].total_cmp(&heads[a]));
    println!("heads by mean Gated-LPI:");
    for &h in order.iter().take(5) {
        println!(
            "  {:<8} {:>8.4}",
            scores.layout.head(h).to_string(),
            heads[h]
        );
    }
}
