//! Trains a tiny MoE (or, with `--dense`, a dense) language model on a synthetic fact corpus
//! with the Gated-LPI hook attached the custom-loop way (`hook.after_step_at(step, &model)`
//! after every optimizer step). Every 25 steps the hook probes all facts and prints one status
//! line; the run directory `runs/pretrain-moe` (or `runs/pretrain-dense`; a new series on every
//! start) gets the history, the state and one snapshot per probe run, and Prometheus can scrape
//! every run's statistics at `http://127.0.0.1:9464/metrics` while it trains.
//!
//! ```text
//! cargo run --release --example pretrain            # MoE: 4 experts, top-2
//! cargo run --release --example pretrain -- --dense # dense SwiGLU, same active width
//! cargo run --release --example pretrain -- --steps 600 --listen 127.0.0.1:9465
//! cargo run --release --example pretrain -- --no-metrics
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use burn_lpi::LpiConfig;
use burn_lpi::hook::{LpiHookConfig, ProbeRunObserver, ProbeRunReport};
use burn_lpi::models::synthetic::SyntheticFacts;
use burn_lpi::models::{MoeConfig, TransformerConfig};
use burn_lpi::probes::WordTokenizer;
use burn_lpi::telemetry::{DEFAULT_LISTEN, TelemetryConfig};

struct Args {
    dense: bool,
    steps: u64,
    /// Where to serve /metrics; `None` with `--no-metrics`.
    listen: Option<SocketAddr>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dense: false,
        steps: 300,
        listen: Some(DEFAULT_LISTEN),
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
            "--listen" => {
                let value = it
                    .next()
                    .ok_or("--listen needs an address, e.g. --listen 127.0.0.1:9465")?;
                args.listen = Some(value.parse().map_err(|_| {
                    format!("--listen {value}: not an address like 127.0.0.1:9465")
                })?);
            }
            "--no-metrics" => args.listen = None,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; use --dense, --steps N, --listen ADDR, --no-metrics"
                ));
            }
        }
    }
    Ok(args)
}

/// Prints one line per probe run (on the hook's worker thread) and keeps the last report.
struct StatusLine(mpsc::Sender<ProbeRunReport>);

impl ProbeRunObserver for StatusLine {
    fn on_run(&mut self, r: &ProbeRunReport) {
        let stability = r
            .vs_previous
            .map_or("     -".to_string(), |s| format!("{:6.3}", s.spearman));
        let robustness = r.robustness.as_ref().map_or(String::new(), |rb| {
            format!(
                "  head masking: HIT@10 -{:.0}% (top) vs -{:.0}% (random)",
                100.0 * rb.top_drop.unwrap_or(0.0),
                100.0 * rb.random_drop.unwrap_or(0.0)
            )
        });
        println!(
            "probe @ step {:>4}  HIT@10 {:5.1}%  top-1% share {:5.1}%  entropy {:.3}  stability {stability}{}{robustness}",
            r.step,
            100.0 * r.readouts.overall.hit_at_10,
            100.0 * r.neurons.top_share,
            r.neurons.entropy,
            r.consolidation_step
                .map_or(String::new(), |s| format!("  consolidated @ {s}")),
        );
        let _ = self.0.send(r.clone());
    }
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
    let (config, kind, name) = if args.dense {
        (
            TransformerConfig::new(facts.vocab_size(), 64, 2, 4, 128, 8),
            "dense",
            "dense",
        )
    } else {
        // Top-2 of 4 experts of 64 neurons: the same active FFN width as the dense model.
        (
            TransformerConfig::new(facts.vocab_size(), 64, 2, 4, 64, 8)
                .with_moe(Some(MoeConfig::new(4, 2))),
            "MoE (4 experts, top-2)",
            "moe",
        )
    };
    let run_dir = PathBuf::from(format!("runs/pretrain-{name}"));
    if let Err(e) = prepare_run_dir(&run_dir, &facts) {
        eprintln!("error: cannot prepare {}: {e}", run_dir.display());
        std::process::exit(1);
    }
    println!(
        "training a {kind} model on {} facts for {} steps; hook output in {}",
        facts.len(),
        args.steps,
        run_dir.display()
    );

    let device = Device::flex().autodiff();
    device.seed(42);
    let mut model = config.init(&device);
    let hook_config = LpiHookConfig::new(run_dir.join("probes.jsonl"), run_dir.clone())
        .with_every_n_steps(25)
        .with_robustness_every(4)
        .with_leading_space(false)
        .with_fresh(true);
    let telemetry = args.listen.map(|listen| {
        let arch = if args.dense { "dense-2l" } else { "moe-2lx4e" };
        TelemetryConfig::new(format!("pretrain-{name}"), arch).with_listen(listen)
    });
    let tokenizer = WordTokenizer::new(facts.vocabulary());
    let config = LpiConfig::new(hook_config).with_telemetry(telemetry);
    let mut hook = match config.build_with_tokenizer(&tokenizer, &model) {
        Ok(hook) => hook,
        Err(e) => {
            eprintln!("error: {e}");
            if args.listen.is_some() {
                eprintln!("(--listen ADDR serves /metrics elsewhere, --no-metrics not at all)");
            }
            std::process::exit(1);
        }
    };
    if let Some(listen) = args.listen {
        println!("Prometheus can scrape http://{listen}/metrics");
    }
    let (reports, last) = mpsc::channel();
    hook.add_observer(StatusLine(reports));

    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
    let started = Instant::now();
    for step in 1..=args.steps {
        let loss = model.next_token_loss(facts.batch(step as usize * 32, 32, &device));
        if step % 50 == 0 || step == args.steps {
            println!(
                "step {step:>4}  loss {:.4}",
                loss.clone().into_scalar::<f32>()
            );
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
        hook.after_step_at(step, &model);
    }
    let health = hook.finish();
    println!(
        "trained in {:.1} s; {} probe runs ({} failed, {} dropped)",
        started.elapsed().as_secs_f32(),
        health.runs,
        health.failures,
        health.dropped
    );
    if let Some(report) = last.try_iter().last() {
        print_final(&report);
    }
}

/// Writes the probe set (every fact) into the run directory.
fn prepare_run_dir(dir: &PathBuf, facts: &SyntheticFacts) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("probes.jsonl"), facts.probe_jsonl())
}

fn print_final(r: &ProbeRunReport) {
    let o = &r.readouts.overall;
    println!(
        "last probe run (step {}): HIT@1 {:.1}%  HIT@10 {:.1}%  MRR {:.3}  mean log p(gold) {:.3}",
        r.step,
        100.0 * o.hit_at_1,
        100.0 * o.hit_at_10,
        o.mrr,
        o.mean_gold_logprob
    );
    println!(
        "top 1% of {} neurons hold {:.1}% of the positive mass; Gini {:.3}",
        r.neurons.units,
        100.0 * r.neurons.top_share,
        r.neurons.gini
    );
    println!("top neurons by mean Gated-LPI:");
    for u in r.top_neurons.iter().take(5) {
        println!("  {:<12} {:>8.4}", u.unit, u.score);
    }
    println!("top heads:");
    for u in r.top_heads.iter().take(5) {
        println!("  {:<8} {:>8.4}", u.unit, u.score);
    }
}
