//! The main job: pre-trains a small MoE language model (or, with `--dense`, its dense twin) on
//! the embedded corpus (real-entity facts mixed into public-domain prose, `data/README.md`) with
//! the Gated-LPI hook attached, and watches it learn the facts: every `--every` steps the hook
//! probes all 1,099 facts through held-out templates and prints a status line (HIT@10, the
//! top-1% share, entropy, stability), Prometheus can scrape every run's statistics at
//! `http://127.0.0.1:9464/metrics`, and `runs/pretrain-moe/` (or `runs/pretrain-dense/`; a new
//! series on every start) gets the hook's history, state and snapshots.
//!
//! `--compare` trains both models on the same data, one after the other, into `runs/compare/moe`
//! and `runs/compare/dense`, and writes the paper's three patterns side by side into
//! `runs/compare/`: `comparison.md` (a table, the findings against the paper, every probe run),
//! `comparison.json` and PNG plots over training steps (`comparison.png` and one per pattern).
//!
//! ```text
//! cargo run --release --example pretrain                  # MoE: 4 experts of 256, top-2
//! cargo run --release --example pretrain -- --dense       # dense, the same active parameters
//! cargo run --release --example pretrain -- --compare     # both, then the comparison
//! cargo run --release --example pretrain -- --steps 400 --every 50 --masked-heads 4
//! cargo run --release --example pretrain -- --listen 127.0.0.1:9465
//! cargo run --release --example pretrain -- --no-metrics
//! cargo run --release --features cuda --example pretrain -- --device cuda
//! cargo run --release --features wgpu --example pretrain -- --device wgpu
//! ```
//!
//! The device is `--device`, else the `LPI_DEVICE` environment variable, else `flex` (burn's CPU
//! backend); `cuda` and `wgpu` need the crate's feature of that name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use burn_lpi::LpiConfig;
use burn_lpi::compare::{Comparison, Series};
use burn_lpi::corpus::{Corpus, FACTS_JSONL, Mixture, PROBE_TEMPLATES_JSONL, TOKENIZER_JSON};
use burn_lpi::hook::{LpiHookConfig, ProbeRunObserver, ProbeRunReport};
use burn_lpi::models::{MoeConfig, TransformerConfig};
use burn_lpi::probes::HfTokenizer;
use burn_lpi::telemetry::{DEFAULT_LISTEN, TelemetryConfig};
use indicatif::{ProgressBar, ProgressStyle};

/// Tokens per training window, and the model's context.
const WINDOW: usize = 64;
/// Windows per optimizer step.
const BATCH: usize = 16;
/// Share of the windows made of fact sentences (the rest is prose).
const FACT_SHARE: f64 = 0.7;
/// Peak learning rate (AdamW), after a linear warm-up of `WARMUP` steps.
const LR: f64 = 2e-3;
const WARMUP: u64 = 100;
/// Heads zeroed for robustness. The paper masks 10 of OLMoE's 256 heads (4%); 10 of these
/// models' 16 would silence most of their attention, so the demo masks 2 (12.5%).
const MASKED_HEADS: usize = 2;

struct Args {
    dense: bool,
    compare: bool,
    /// Heads zeroed (top ones, and as many random ones) when measuring robustness.
    masked_heads: usize,
    /// `flex`, `cuda` or `wgpu`.
    device: String,
    steps: u64,
    every: u64,
    seed: u64,
    /// Where to serve /metrics; `None` with `--no-metrics`.
    listen: Option<SocketAddr>,
}

const USAGE: &str = "usage: pretrain [--dense | --compare] [--steps N] [--every N] [--seed N] \
                     [--masked-heads N] [--listen ADDR | --no-metrics] [--device flex|cuda|wgpu]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dense: false,
        compare: false,
        masked_heads: MASKED_HEADS,
        device: std::env::var("LPI_DEVICE").unwrap_or_else(|_| "flex".into()),
        steps: 1200,
        every: 100,
        seed: 42,
        listen: Some(DEFAULT_LISTEN),
    };
    let mut it = std::env::args().skip(1);
    let number = |flag: &str, value: Option<String>| -> Result<u64, String> {
        let value = value.ok_or(format!("{flag} needs a number; {USAGE}"))?;
        value
            .parse()
            .map_err(|_| format!("{flag} {value}: not a whole number; {USAGE}"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dense" => args.dense = true,
            "--compare" => args.compare = true,
            "--masked-heads" => {
                args.masked_heads = number("--masked-heads", it.next())?.max(1) as usize
            }
            "--steps" => args.steps = number("--steps", it.next())?,
            "--every" => args.every = number("--every", it.next())?.max(1),
            "--seed" => args.seed = number("--seed", it.next())?,
            "--listen" => {
                let value = it
                    .next()
                    .ok_or(format!("--listen needs an address; {USAGE}"))?;
                args.listen = Some(value.parse().map_err(|_| {
                    format!("--listen {value}: not an address like 127.0.0.1:9465")
                })?);
            }
            "--no-metrics" => args.listen = None,
            "--device" => {
                args.device = it.next().ok_or(format!("--device needs a name; {USAGE}"))?
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument `{other}`; {USAGE}")),
        }
    }
    if args.dense && args.compare {
        return Err(format!(
            "--compare trains both models; drop --dense. {USAGE}"
        ));
    }
    Ok(args)
}

/// The two architectures, matched on active parameters: 4 layers of d=128 with 4 heads; the
/// dense FFN has 512 neurons, the MoE layer 4 experts of 256 neurons of which each token uses 2.
fn model_config(dense: bool, vocab: usize) -> (TransformerConfig, &'static str) {
    let base = |d_ff| TransformerConfig::new(vocab, 128, 4, 4, d_ff, WINDOW);
    if dense {
        (base(512), "dense-4l")
    } else {
        (
            base(256).with_moe(Some(MoeConfig::new(4, 2))),
            "moe-4l-4e-top2",
        )
    }
}

/// Why a GPU device of a binary built without its feature cannot be used.
#[allow(dead_code)] // Unused when both GPU features are on.
fn not_built(name: &str) -> String {
    format!(
        "device `{name}`: this binary was built without the `{name}` feature; run \
         `cargo run --release --features {name} --example pretrain -- --device {name}`"
    )
}

/// The training device named `name` (`flex`, `cuda`, `wgpu`), with autodiff.
fn training_device(name: &str) -> Result<Device, String> {
    let device = match name {
        "flex" | "cpu" => Device::flex(),
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(not(feature = "cuda"))]
        "cuda" => return Err(not_built(name)),
        #[cfg(not(feature = "wgpu"))]
        "wgpu" => return Err(not_built(name)),
        other => {
            return Err(format!(
                "unknown device `{other}` (from --device or LPI_DEVICE); use flex, cuda or wgpu"
            ));
        }
    };
    Ok(device.autodiff())
}

/// Prints one line per probe run above the progress bar (on the hook's worker thread) and
/// passes the report on.
struct StatusLine {
    bar: ProgressBar,
    loss: std::sync::Arc<std::sync::Mutex<f32>>,
    reports: mpsc::Sender<ProbeRunReport>,
}

impl ProbeRunObserver for StatusLine {
    fn on_run(&mut self, r: &ProbeRunReport) {
        let stability = r
            .vs_previous
            .map_or("    -".to_string(), |s| format!("{:5.3}", s.spearman));
        let robustness = r.robustness.as_ref().map_or(String::new(), |rb| {
            let change = |drop: Option<f64>| {
                drop.map_or("-".to_string(), |d| format!("{:+.0}%", -100.0 * d))
            };
            format!(
                "  HIT@10 with top heads masked {}, random heads {}",
                change(rb.top_drop),
                change(rb.random_drop)
            )
        });
        let consolidated = r
            .consolidation_step
            .map_or(String::new(), |s| format!("  consolidated @ {s}"));
        let loss = *self.loss.lock().unwrap_or_else(|p| p.into_inner());
        let line = format!(
            "step {:>5}  loss {loss:6.3}  HIT@10 {:5.1}%  top-1% share {:5.1}%  entropy {:.3}  stability {stability}{consolidated}{robustness}",
            r.step,
            100.0 * r.readouts.overall.hit_at_10,
            100.0 * r.neurons.top_share,
            r.neurons.entropy,
        );
        // Without a terminal the bar is hidden, and so is what it prints.
        if self.bar.is_hidden() {
            println!("{line}");
        } else {
            self.bar.println(line);
        }
        let _ = self.reports.send(r.clone());
    }
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    if let Err(message) = run(&args) {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let device = training_device(&args.device)?;
    let tokenizer: tokenizers::Tokenizer = TOKENIZER_JSON
        .parse()
        .map_err(|e| format!("the embedded tokenizer: {e}"))?;
    let corpus = Corpus::embedded();
    if !args.compare {
        let name = if args.dense { "dense" } else { "moe" };
        let run = Run {
            dense: args.dense,
            dir: PathBuf::from(format!("runs/pretrain-{name}")),
            label: format!("pretrain-{name}"),
        };
        return train(args, &device, &tokenizer, &corpus, &run);
    }

    // Both models on the same windows (the mixture is seeded) and probed at the same steps.
    let root = Path::new("runs/compare");
    let mut series = Vec::new();
    for (dense, name) in [(false, "moe"), (true, "dense")] {
        let run = Run {
            dense,
            dir: root.join(name),
            label: format!("compare-{name}"),
        };
        train(args, &device, &tokenizer, &corpus, &run)?;
        series.push(Series::load(name, &run.dir).map_err(|e| e.to_string())?);
        println!();
    }
    let comparison = Comparison::new(series).map_err(|e| e.to_string())?;
    let written = comparison.write(root).map_err(|e| e.to_string())?;
    for finding in comparison.report().findings {
        println!("{finding}");
    }
    println!(
        "the comparison (table, findings, PNG plots) is in {}: {}",
        root.display(),
        written
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// One training run: which model, where the hook writes, the telemetry's run label.
struct Run {
    dense: bool,
    dir: PathBuf,
    label: String,
}

fn train(
    args: &Args,
    device: &Device,
    tokenizer: &tokenizers::Tokenizer,
    corpus: &Corpus,
    run: &Run,
) -> Result<(), String> {
    let mut data = Mixture::new(corpus, tokenizer, WINDOW, FACT_SHARE, args.seed)
        .map_err(|e| e.to_string())?;
    let (config, arch) = model_config(run.dense, tokenizer.get_vocab_size(true));
    let run_dir = &run.dir;
    let (probes, templates) = write_probes(run_dir)
        .map_err(|e| format!("cannot write the probe set into {}: {e}", run_dir.display()))?;

    device.seed(args.seed);
    let mut model = config.init(device);
    println!(
        "{arch} on {}: {} parameters; {} facts probed through held-out templates; {} prose tokens, \
         {:.0}% of the windows are fact sentences",
        args.device,
        model.num_params(),
        corpus.facts().len(),
        data.text_tokens(),
        100.0 * FACT_SHARE
    );

    let hook_config = LpiHookConfig::new(probes, run_dir.clone())
        .with_templates(Some(templates))
        .with_every_n_steps(args.every)
        // Masking every run: one run's drop is noisy in a small model (about 2 s a run here).
        .with_robustness_every(1)
        .with_masked_heads(args.masked_heads)
        .with_fresh(true);
    let telemetry = args
        .listen
        .map(|listen| TelemetryConfig::new(run.label.clone(), arch).with_listen(listen));
    let mut hook = LpiConfig::new(hook_config)
        .with_telemetry(telemetry)
        .build_with_tokenizer(&HfTokenizer::new(tokenizer.clone()), &model)
        .map_err(|e| {
            let hint = if args.listen.is_some() {
                " (--listen ADDR serves /metrics elsewhere, --no-metrics not at all)"
            } else {
                ""
            };
            format!("{e}{hint}")
        })?;
    if let Some(listen) = args.listen {
        println!("Prometheus can scrape http://{listen}/metrics");
    }
    println!("hook output in {}", run_dir.display());

    let bar = ProgressBar::new(args.steps).with_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  {per_sec}  eta {eta}  loss {msg}",
        )
        .expect("a valid template"),
    );
    let loss_now = std::sync::Arc::new(std::sync::Mutex::new(f32::NAN));
    let (reports, last) = mpsc::channel();
    hook.add_observer(StatusLine {
        bar: bar.clone(),
        loss: loss_now.clone(),
        reports,
    });

    let mut optim = AdamWConfig::new().with_weight_decay(0.01).init();
    let started = Instant::now();
    let mut training = Duration::ZERO;
    for step in 1..=args.steps {
        let step_started = Instant::now();
        let loss = model.next_token_loss(data.batch(BATCH, device));
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = LR * (step.min(WARMUP) as f64 / WARMUP as f64);
        model = optim.step(lr, model, grads);
        training += step_started.elapsed();
        *loss_now.lock().unwrap_or_else(|p| p.into_inner()) = value;
        bar.set_message(format!("{value:.3}"));
        bar.inc(1);
        hook.after_step_at(step, &model);
    }
    bar.finish_and_clear();
    let health = hook.finish();
    let wall = started.elapsed();
    let tokens = args.steps as f64 * (BATCH * (WINDOW - 1)) as f64;
    println!(
        "trained {} steps in {:.0} s ({:.0} tokens/s of training); {} probe runs took {:.0} s \
         ({} failed, {} dropped)",
        args.steps,
        wall.as_secs_f64(),
        tokens / training.as_secs_f64(),
        health.runs,
        health.probe_work.as_secs_f64(),
        health.failures,
        health.dropped
    );
    if let Some(report) = last.try_iter().last() {
        print_final(&report, corpus.facts().len());
    }
    Ok(())
}

/// Writes the embedded probe set (facts and held-out templates) into the run directory.
fn write_probes(dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let (facts, templates) = (dir.join("facts.jsonl"), dir.join("probe_templates.jsonl"));
    std::fs::write(&facts, FACTS_JSONL)?;
    std::fs::write(&templates, PROBE_TEMPLATES_JSONL)?;
    Ok((facts, templates))
}

fn print_final(r: &ProbeRunReport, facts: usize) {
    let o = &r.readouts.overall;
    println!(
        "last probe run (step {}), {facts} facts: HIT@1 {:.1}%  HIT@10 {:.1}%  MRR {:.3}  mean log p(gold) {:.2}",
        r.step,
        100.0 * o.hit_at_1,
        100.0 * o.hit_at_10,
        o.mrr,
        o.mean_gold_logprob
    );
    for (relation, readout) in &r.readouts.per_relation {
        println!(
            "  {relation:<13} HIT@1 {:5.1}%  HIT@10 {:5.1}%  ({} probes)",
            100.0 * readout.hit_at_1,
            100.0 * readout.hit_at_10,
            readout.probes
        );
    }
    println!(
        "top 1% of {} neurons hold {:.1}% of the positive mass; Gini {:.3}",
        r.neurons.units,
        100.0 * r.neurons.top_share,
        r.neurons.gini
    );
    let heads: Vec<String> = r
        .top_heads
        .iter()
        .take(5)
        .map(|u| format!("{} {:.3}", u.unit, u.score))
        .collect();
    println!("top heads: {}", heads.join(", "));
}
