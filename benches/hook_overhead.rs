//! Hook overhead in a real training run, measured side by side in one process.
//!
//! Trains the tiny MoE (d=64, 2 layers, 4 experts top-2) on 256 synthetic facts three ways,
//! interleaved (order alternating) and repeated: without the hook; with the hook probing all 256 facts every 40
//! steps; and with the hook under a 5% overhead budget. Reports the medians:
//!
//! - added: wall time the hook adds beyond its probe runs' own device work (statistics,
//!   snapshots, history, hand-over, contention from the worker), as a fraction of the run;
//!   target at most 1%. Measured two ways: side by side (wall with hook - wall without - probe
//!   work; as noisy as the machine), and accounted by the hook itself (training-thread time
//!   outside the probe work plus the worker thread's CPU time, an upper bound of what the
//!   worker can take from training on these cores);
//! - budget: the whole hook's share of the run with `overhead_budget = 0.05`; target under 5%.
//!
//! ```text
//! cargo bench --bench hook_overhead
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use burn_lpi::hook::{LpiHook, ProbeRunReport, read_history};

mod common;
use common::Setup;

const STEPS: u64 = 1200;
const EVERY: u64 = 40;
const REPEATS: usize = 7;

struct Outcome {
    wall: Duration,
    /// Training-thread time of the probe runs (device work and the host copy).
    probe: Duration,
    /// Training-thread time in the hook beyond the probe work (bookkeeping, hand-over).
    bookkeeping: Duration,
    /// Worker CPU time (statistics, serialisation, writes), on the same two cores as training.
    worker: Duration,
    runs: usize,
    cadence: u64,
}

fn train(setup: &Setup, mut hook: Option<LpiHook>) -> Outcome {
    let started = Instant::now();
    setup.train(STEPS, |model| {
        if let Some(hook) = hook.as_mut() {
            hook.after_step(model);
        }
    });
    // Training ends here; the worker's remaining queue is drained inside the measured time.
    let Some(hook) = hook else {
        return Outcome {
            wall: started.elapsed(),
            probe: Duration::ZERO,
            bookkeeping: Duration::ZERO,
            worker: Duration::ZERO,
            runs: 0,
            cadence: 0,
        };
    };
    let dir = hook.run_dir().to_path_buf();
    let health = hook.finish();
    Outcome {
        wall: started.elapsed(),
        probe: health.probe_work,
        bookkeeping: health.training_thread - health.probe_work,
        worker: health.worker_cpu,
        runs: history(&dir).len(),
        cadence: health.every_n_steps,
    }
}

fn history(dir: &Path) -> Vec<ProbeRunReport> {
    read_history(dir).unwrap_or_default()
}

/// Median, min and max, in percent.
fn spread(mut xs: Vec<f64>) -> String {
    xs.sort_by(f64::total_cmp);
    format!(
        "{:.1}% (min {:.1}%, max {:.1}%)",
        100.0 * xs[xs.len() / 2],
        100.0 * xs[0],
        100.0 * xs[xs.len() - 1]
    )
}

fn main() {
    let setup = Setup::new();
    let shape = setup.model_config().init(&Device::flex());
    let hook = |name: String, budget: Option<f64>| {
        let config = setup.hook_config(&name, EVERY).with_overhead_budget(budget);
        LpiHook::with_tokenizer(config, &setup.tokenizer, &shape).expect("hook builds")
    };

    let _warm_up = train(&setup, None);
    let (mut added, mut whole, mut budget_share) = (Vec::new(), Vec::new(), Vec::new());
    let (mut accounted, mut budget_probe, mut cadences) = (Vec::new(), Vec::new(), Vec::new());
    let mut handover = Vec::new();
    let (mut runs, mut budget_runs) = (0, 0);
    for repeat in 0..REPEATS {
        // Alternate the order so drift in the machine's speed does not favour one variant.
        let (bare, with, budget) = if repeat % 2 == 0 {
            let bare = train(&setup, None);
            let with = train(&setup, Some(hook(format!("with-{repeat}"), None)));
            let budget = train(&setup, Some(hook(format!("budget-{repeat}"), Some(0.05))));
            (bare, with, budget)
        } else {
            let budget = train(&setup, Some(hook(format!("budget-{repeat}"), Some(0.05))));
            let with = train(&setup, Some(hook(format!("with-{repeat}"), None)));
            let bare = train(&setup, None);
            (bare, with, budget)
        };
        let base = bare.wall.as_secs_f64();
        added.push(
            (with.wall.as_secs_f64() - base - with.probe.as_secs_f64()) / with.wall.as_secs_f64(),
        );
        whole.push((with.wall.as_secs_f64() - base) / with.wall.as_secs_f64());
        handover.push(with.bookkeeping.as_secs_f64() / with.runs.max(1) as f64);
        accounted.push((with.bookkeeping + with.worker).as_secs_f64() / with.wall.as_secs_f64());
        budget_share.push((budget.wall.as_secs_f64() - base) / budget.wall.as_secs_f64());
        budget_probe.push(budget.probe.as_secs_f64() / budget.wall.as_secs_f64());
        cadences.push(budget.cadence);
        (runs, budget_runs) = (with.runs, budget.runs);
        println!(
            "repeat {repeat}: without {:.3} s | with {:.3} s ({} runs, probe work {:.3} s) | budget 5% {:.3} s ({} runs, probe work {:.3} s, every {} steps)",
            base,
            with.wall.as_secs_f64(),
            with.runs,
            with.probe.as_secs_f64(),
            budget.wall.as_secs_f64(),
            budget.runs,
            budget.probe.as_secs_f64(),
            budget.cadence
        );
    }
    println!();
    println!("{STEPS} steps, 256 probes, median of {REPEATS}:");
    println!(
        "  every {EVERY} steps ({runs} runs): hook share of wall time {}, added beyond probe work {} (target <= 1%)",
        spread(whole),
        spread(added)
    );
    handover.sort_by(f64::total_cmp);
    println!(
        "  training-thread cost per probe run beyond its device work (step counting, cadence, hand-over to the worker): {:.1} us median (target <= 1 ms)",
        1e6 * handover[handover.len() / 2]
    );
    println!(
        "  every {EVERY} steps, accounted by the hook: training-thread bookkeeping and hand-over plus worker CPU time {} of wall time (target <= 1%)",
        spread(accounted)
    );
    println!(
        "  overhead budget 5% ({budget_runs} runs, cadence stretched to {}..{} steps): hook share {} side by side, probe work {} by accounting (target < 5%)",
        cadences.iter().min().unwrap_or(&0),
        cadences.iter().max().unwrap_or(&0),
        spread(budget_share),
        spread(budget_probe)
    );
}
