//! Hook overhead in a real training run, measured side by side in one process.
//!
//! Trains the tiny MoE (d=64, 2 layers, 4 experts top-2) on 256 synthetic facts three ways,
//! interleaved and repeated: without the hook; with the hook probing all 256 facts every 40
//! steps; and with the hook under a 5% overhead budget. Reports the medians:
//!
//! - added: wall time the hook adds beyond its probe runs' own device work (statistics,
//!   snapshots, history, hand-over, contention from the worker), as a fraction of the run;
//!   target at most 1%;
//! - budget: the whole hook's share of the run with `overhead_budget = 0.05`; target under 5%.
//!
//! ```text
//! cargo bench --bench hook_overhead
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use burn_lpi::hook::{LpiHook, LpiHookConfig, ProbeRunReport};
use burn_lpi::models::synthetic::SyntheticFacts;
use burn_lpi::models::{MoeConfig, Transformer, TransformerConfig};
use burn_lpi::probes::WordTokenizer;

const STEPS: u64 = 1200;
const EVERY: u64 = 40;
const REPEATS: usize = 5;

struct Outcome {
    wall: Duration,
    /// Training-thread time of the probe runs (device work and the host copy).
    probe: Duration,
    runs: usize,
    cadence: u64,
}

fn train(facts: &SyntheticFacts, mut hook: Option<LpiHook>) -> Outcome {
    let device = Device::flex().autodiff();
    device.seed(42);
    let config = TransformerConfig::new(facts.vocab_size(), 64, 2, 4, 64, 8)
        .with_moe(Some(MoeConfig::new(4, 2)));
    let mut model: Transformer = config.init(&device);
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
    let started = Instant::now();
    for step in 1..=STEPS {
        let loss = model.next_token_loss(facts.batch(step as usize * 32, 32, &device));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
        if let Some(hook) = hook.as_mut() {
            hook.after_step(&model);
        }
    }
    // Training ends here; the worker's remaining queue is drained inside the measured time.
    let (runs, probe, cadence) = match hook {
        Some(hook) => {
            let dir = hook.run_dir().to_path_buf();
            let health = hook.finish();
            let history = history(&dir);
            let probe = history.iter().map(|r| r.probe_seconds).sum::<f64>();
            (
                history.len(),
                Duration::from_secs_f64(probe),
                health.every_n_steps,
            )
        }
        None => (0, Duration::ZERO, 0),
    };
    Outcome {
        wall: started.elapsed(),
        probe,
        runs,
        cadence,
    }
}

fn history(dir: &Path) -> Vec<ProbeRunReport> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    // 64 subjects x 4 relations = 256 probes.
    let facts = SyntheticFacts::new(64, 4, 24, 2026);
    let dir = tempfile::tempdir().expect("temp dir");
    let probes = dir.path().join("probes.jsonl");
    std::fs::write(&probes, facts.probe_jsonl()).expect("write probes");
    let tokenizer = WordTokenizer::new(facts.vocabulary());
    let hook = |name: String, budget: Option<f64>| {
        let config = LpiHookConfig::new(probes.clone(), dir.path().join(name))
            .with_every_n_steps(EVERY)
            .with_batch_size(256)
            .with_leading_space(false)
            .with_overhead_budget(budget);
        let device = Device::flex();
        let shape = TransformerConfig::new(facts.vocab_size(), 64, 2, 4, 64, 8)
            .with_moe(Some(MoeConfig::new(4, 2)))
            .init(&device);
        LpiHook::with_tokenizer(config, &tokenizer, &shape).expect("hook builds")
    };

    let _warm_up = train(&facts, None);
    let (mut added, mut whole, mut budget_share) = (Vec::new(), Vec::new(), Vec::new());
    let (mut runs, mut budget_runs, mut cadence) = (0, 0, 0);
    for repeat in 0..REPEATS {
        let bare = train(&facts, None);
        let with = train(&facts, Some(hook(format!("with-{repeat}"), None)));
        let budget = train(&facts, Some(hook(format!("budget-{repeat}"), Some(0.05))));
        let base = bare.wall.as_secs_f64();
        added.push(
            (with.wall.as_secs_f64() - base - with.probe.as_secs_f64()) / with.wall.as_secs_f64(),
        );
        whole.push((with.wall.as_secs_f64() - base) / with.wall.as_secs_f64());
        budget_share.push((budget.wall.as_secs_f64() - base) / budget.wall.as_secs_f64());
        (runs, budget_runs, cadence) = (with.runs, budget.runs, budget.cadence);
        println!(
            "repeat {repeat}: without {:.3} s | with {:.3} s ({} runs, probe work {:.3} s) | budget 5% {:.3} s ({} runs, every {} steps)",
            base,
            with.wall.as_secs_f64(),
            with.runs,
            with.probe.as_secs_f64(),
            budget.wall.as_secs_f64(),
            budget.runs,
            budget.cadence
        );
    }
    println!();
    println!("{STEPS} steps, 256 probes, median of {REPEATS}:");
    println!(
        "  every {EVERY} steps ({runs} runs): hook share of wall time {:.1}%, added beyond probe work {:.2}% (target <= 1%)",
        100.0 * median(whole),
        100.0 * median(added)
    );
    println!(
        "  overhead budget 5% ({budget_runs} runs, cadence stretched to {cadence} steps): hook share {:.1}% (target < 5%)",
        100.0 * median(budget_share)
    );
}
