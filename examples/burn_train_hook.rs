//! The training hook under burn-train's `Learner`: a tiny MoE language model learns a synthetic
//! world of facts with `SupervisedTraining`, and the hook probes it every 16 optimizer steps.
//!
//! ```text
//! cargo run --release --example burn_train_hook
//! ```
//!
//! What it shows:
//! - the one place to attach the hook under burn-train: `TrainStep::optimize`, overridden to call
//!   [`SharedHook::after_step`] on the freshly updated model (burn-train gives metrics, renderers,
//!   loggers and checkpointers no access to the model; `optimize` is called once per optimizer
//!   step, after gradient accumulation, by the single-device, multi-device and DDP strategies,
//!   and `optimize_multi` instead by the multi-device strategy with sharded optimisation);
//! - the hook travelling inside the model as a `#[module(skip)]` field: burn-train clones the
//!   model freely, and every clone of a [`SharedHook`] drives the same hook, which counts the
//!   optimizer steps itself (burn's iteration counter restarts every epoch);
//! - burn-train run non-interactively: a small renderer prints one line per epoch and split
//!   instead of the per-batch progress of the default CLI renderer (the TUI is not built, as
//!   the crate depends on burn without default features);
//! - probes for a synthetic vocabulary: a JSONL probe file and a [`WordTokenizer`];
//! - knowledge forming while it trains: one line per probe run (HIT@1, HIT@10, the share of
//!   the positive Gated-LPI mass held by the top 1% of neurons, rank stability against the
//!   previous run), printed by a [`ProbeRunObserver`] on the hook's worker thread, and the run
//!   directory the hook writes (`history.jsonl`, `state.safetensors`, `snapshots/`).
//!
//! Everything is written under `$TMPDIR/burn-lpi-burn-train-hook/`: `probes.jsonl`, the hook's
//! run directory `lpi/` (started afresh on every run with `with_fresh(true)`; by default a
//! series found there is continued) and burn-train's artifacts `burn-train/` (metric logs and
//! `experiment.log`, where burn-train's application logger also sends the hook's `tracing`
//! warnings).
//!
//! Several devices: with burn-train's multi-device strategy `optimize` (or `optimize_multi`)
//! runs once per step on the main device and needs nothing more. With DDP every rank has its
//! own learner and calls `optimize` on its own clone of the model, hook handle included; the
//! handle is built with `SharedHook::on_device`, so only the rank on that device probes. The
//! probe run needs the whole model and one copy of the telemetry.

use std::collections::HashMap;
use std::error::Error;
use std::time::Instant;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::module::Module;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{
    AccuracyMetric, LossMetric, MetricAttributes, MetricDefinition, MetricId, NumericEntry,
};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::{
    InferenceStep, Learner, SequenceOutput, SupervisedTraining, TrainOutput, TrainStep,
};
use burn_lpi::hook::{
    LpiHook, LpiHookConfig, ProbeRunFailure, ProbeRunObserver, ProbeRunReport, SharedHook,
    read_history,
};
use burn_lpi::models::synthetic::SyntheticFacts;
use burn_lpi::models::{MoeConfig, Transformer, TransformerConfig};
use burn_lpi::probes::WordTokenizer;

/// The synthetic world: 32 subjects x 4 relations = 128 facts over 24 objects.
const SUBJECTS: usize = 32;
const RELATIONS: usize = 4;
const OBJECTS: usize = 24;
/// Each epoch shows every fact this many times (shuffled): 32 optimizer steps per epoch.
const REPEATS: usize = 8;
const BATCH: usize = 32;
const EPOCHS: usize = 8;
const PROBE_EVERY: u64 = 16;

/// The user's model: the language model plus a handle on the hook. `#[module(skip)]` keeps the
/// handle out of the parameters, records and device moves; burn only needs it to be
/// `Clone + Debug + Send`, which [`SharedHook`] is.
#[derive(Module, Debug)]
struct FactModel {
    lm: Transformer,
    #[module(skip)]
    hook: SharedHook,
}

impl FactModel {
    /// Next-token loss over `<bos> subject relation object`, and for the metrics the logits
    /// and targets at the one position that carries a fact: predicting the object.
    fn forward_facts(&self, tokens: Tensor<2, Int>) -> SequenceOutput {
        let [batch, seq] = tokens.dims();
        let logits = self
            .lm
            .forward(tokens.clone().slice([0..batch, 0..seq - 1]));
        let [_, positions, vocab] = logits.dims();
        let targets = tokens.slice([0..batch, 1..seq]);
        let loss = log_softmax(logits.clone().reshape([batch * positions, vocab]), 1)
            .gather(1, targets.clone().reshape([batch * positions, 1]))
            .mean()
            .neg();
        let last = positions - 1;
        SequenceOutput::new(
            loss,
            logits.slice([0..batch, last..positions, 0..vocab]),
            None,
            targets.slice([0..batch, last..positions]),
        )
    }
}

impl TrainStep for FactModel {
    type Input = Tensor<2, Int>;
    type Output = SequenceOutput;

    fn step(&self, tokens: Tensor<2, Int>) -> TrainOutput<SequenceOutput> {
        let output = self.forward_facts(tokens);
        let grads = output.loss.backward();
        TrainOutput::new(self, grads, output)
    }

    /// The hook point: the optimizer step as burn does it, then the hook on the updated model.
    fn optimize(
        self,
        optim: &mut ModuleOptimizer,
        lr_module: ModuleLearningRate,
        grads: GradientsParams,
    ) -> Self {
        let model = optim.step(lr_module, self, grads);
        model.hook.after_step(&model.lm);
        model
    }

    /// The same for the multi-device strategy's optimizer step over gradients from several
    /// devices (`MultiDeviceOptim::OptimSharded`).
    fn optimize_multi(
        self,
        optim: &mut ModuleOptimizer,
        lr_module: ModuleLearningRate,
        grads: MultiGradientsParams,
    ) -> Self {
        let model = optim.step_multi(lr_module, self, grads);
        model.hook.after_step(&model.lm);
        model
    }
}

impl InferenceStep for FactModel {
    type Input = Tensor<2, Int>;
    type Output = SequenceOutput;

    fn step(&self, tokens: Tensor<2, Int>) -> SequenceOutput {
        self.forward_facts(tokens)
    }
}

/// Stacks `[bos, subject, relation, object]` rows into a `[batch, 4]` tensor.
#[derive(Clone)]
struct FactBatcher;

impl Batcher<[u32; 4], Tensor<2, Int>> for FactBatcher {
    fn batch(&self, items: Vec<[u32; 4]>, device: &Device) -> Tensor<2, Int> {
        let rows = items.len();
        let ids: Vec<i64> = items.into_iter().flatten().map(i64::from).collect();
        Tensor::from_data(TensorData::new(ids, [rows, 4]), device)
    }
}

/// Prints each probe run as the hook's worker finishes it.
struct PrintRuns;

impl ProbeRunObserver for PrintRuns {
    fn on_run(&mut self, report: &ProbeRunReport) {
        println!("  [lpi] {}", summary(report));
    }

    fn on_failure(&mut self, failure: &ProbeRunFailure) {
        println!(
            "  [lpi] probe run at step {} failed: {}",
            failure.step, failure.reason
        );
    }
}

fn summary(report: &ProbeRunReport) -> String {
    let overall = &report.readouts.overall;
    let mut line = format!(
        "run {:>2} step {:>3}: HIT@1 {:.2}  HIT@10 {:.2}  top-1% neurons hold {:>4.1}% of the mass",
        report.run,
        report.step,
        overall.hit_at_1,
        overall.hit_at_10,
        100.0 * report.neurons.top_share,
    );
    if let Some(previous) = &report.vs_previous {
        line += &format!("  spearman vs previous {:.2}", previous.spearman);
    }
    line += &format!("  ({:.0} ms)", 1e3 * report.probe_seconds);
    line
}

/// A renderer for logs and CI: one line per epoch and split with the epoch's metrics, nothing
/// per batch.
#[derive(Default)]
struct EpochLines {
    /// Name and unit of each metric.
    names: HashMap<MetricId, (String, String)>,
    epoch: usize,
    epochs: usize,
    split: String,
    line: Vec<String>,
}

impl EpochLines {
    fn record(&mut self, state: MetricState) {
        if let MetricState::Numeric(entry, Some(NumericEntry::Final(value))) = state {
            let (name, unit) = self
                .names
                .get(&entry.metric_id)
                .cloned()
                .unwrap_or_default();
            self.line.push(format!("{name} {value:.3}{unit}"));
        }
    }
}

impl MetricsRendererTraining for EpochLines {
    fn update_train(&mut self, state: MetricState) {
        self.record(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(state);
    }
}

impl MetricsRendererEvaluation for EpochLines {
    fn update_test(&mut self, _name: EvaluationName, state: MetricState) {
        self.record(state);
    }
}

impl TrainingProgressLogger for EpochLines {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.epochs = total_epochs;
        self.epoch = starting_epoch;
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch + 1;
    }

    fn start_split(&mut self, split: &str, _total_items: usize) {
        self.split = split.to_string();
        self.line.clear();
    }

    fn update_split(&mut self, _items_processed: usize) {}

    fn end_split(&mut self) {
        println!(
            "epoch {}/{} {:<5} {}",
            self.epoch,
            self.epochs,
            self.split,
            self.line.join("  ")
        );
        self.line.clear();
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for EpochLines {
    fn start_global_progress(&mut self, _total_tests: usize) {}

    fn start_test(&mut self, name: &str, total_items: usize) {
        self.start_split(name, total_items);
    }

    fn update_test_progress(&mut self, _items_processed: usize) {}

    fn end_test(&mut self) {
        self.end_split();
    }

    fn end_global_progress(&mut self) {}

    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for EpochLines {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        let unit = match definition.attributes {
            MetricAttributes::Numeric(numeric) => numeric.unit.unwrap_or_default(),
            MetricAttributes::None => String::new(),
        };
        self.names
            .insert(definition.metric_id, (definition.name.to_string(), unit));
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join("burn-lpi-burn-train-hook");
    std::fs::create_dir_all(&dir)?;
    let facts = SyntheticFacts::new(SUBJECTS, RELATIONS, OBJECTS, 2026);
    let probes = dir.join("probes.jsonl");
    std::fs::write(&probes, facts.probe_jsonl())?;

    let device = Device::flex().autodiff();
    device.seed(42);
    // Top-2 of 4 experts of 64 neurons, 2 layers of 4 heads (as in examples/pretrain.rs).
    let lm = TransformerConfig::new(facts.vocab_size(), 64, 2, 4, 64, 8)
        .with_moe(Some(MoeConfig::new(4, 2)))
        .init(&device);

    let run_dir = dir.join("lpi");
    let config = LpiHookConfig::new(probes, run_dir.clone())
        .with_every_n_steps(PROBE_EVERY)
        .with_robustness_every(8)
        .with_leading_space(false)
        .with_fresh(true);
    let tokenizer = WordTokenizer::new(facts.vocabulary());
    let mut hook = LpiHook::with_tokenizer(config, &tokenizer, &lm)?;
    hook.add_observer(PrintRuns);
    // Driven only by the model on the training device: under DDP, the other ranks' clones of
    // the handle do nothing.
    let hook = SharedHook::on_device(hook, device.clone());
    let model = FactModel {
        lm,
        hook: hook.clone(),
    };

    let all_facts: Vec<[u32; 4]> = (0..facts.len())
        .map(|i| {
            let (prompt, object) = facts.fact(i);
            [prompt[0], prompt[1], prompt[2], object]
        })
        .collect();
    let train = DataLoaderBuilder::new(FactBatcher)
        .batch_size(BATCH)
        .shuffle(7)
        .build(InMemDataset::new(all_facts.repeat(REPEATS)));
    let valid = DataLoaderBuilder::new(FactBatcher)
        .batch_size(BATCH)
        .build(InMemDataset::new(all_facts));

    let learner = Learner::new(
        model,
        AdamWConfig::new().with_weight_decay(0.0).init(),
        3e-3,
    );
    let training = SupervisedTraining::new(dir.join("burn-train"), train, valid)
        .metrics((LossMetric::new(), AccuracyMetric::new()))
        .renderer(Box::new(EpochLines::default()))
        .num_epochs(EPOCHS);

    println!(
        "training a MoE model (4 experts, top-2) on {} facts with burn-train's Learner: \
         {EPOCHS} epochs of {} steps; the hook probes every {PROBE_EVERY} steps \
         (accuracy: the object of each fact)",
        facts.len(),
        facts.len() * REPEATS / BATCH
    );
    let started = Instant::now();
    let result = training.launch(learner);
    let seconds = started.elapsed().as_secs_f64();
    if let Some(error) = &result.error {
        return Err(format!("training failed: {error}").into());
    }

    // The worker analyses runs in the background; wait for it before reading the run directory.
    let health = hook.with(|h| {
        h.flush();
        h.health()
    });
    println!("trained in {seconds:.1} s (probe runs included)");
    println!("hook health: {health:?}");
    let history = read_history(&run_dir)?;
    println!(
        "{}: {} probe runs",
        run_dir.join("history.jsonl").display(),
        history.len()
    );
    match history.last() {
        Some(report) => {
            println!("last line: {}", summary(report));
            if let Some(robustness) = &report.robustness {
                println!(
                    "  HIT@10 with the top {} heads zeroed: {:.2}, \
                     with {} random heads zeroed: {:.2} (intact {:.2})",
                    robustness.top_heads.len(),
                    robustness.hit_at_10_top_masked,
                    robustness.random_heads.len(),
                    robustness.hit_at_10_random_masked,
                    robustness.hit_at_10
                );
            }
            if let Some(step) = report.consolidation_step {
                println!("  the neuron profile consolidated after step {step}");
            }
        }
        None => println!("no probe run finished"),
    }
    Ok(())
}
