//! [`LpiHook`]: what the training loop calls after every optimizer step.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;
use crossbeam_channel::{Sender, TrySendError, bounded};
use lpi_attribution::{GatedLpi, HeadMasking, ProbeBatch, ProbeReduction};
use lpi_probes::{
    HfTokenizer, ProbeReport, ProbeSet, ProbeTokenizer, Strictness, TargetPolicy, TokenizedProbes,
};
use lpi_stats::Consolidation;

use crate::analysis::AnalysisSettings;
use crate::cadence::Cadence;
use crate::config::LpiHookConfig;
use crate::error::HookError;
use crate::health::{HealthSnapshot, HookHealth, should_log};
use crate::probe_run::{
    ProbeFailure, ProbeRunRecord, attribute_all, measure_robustness, model_device, model_layout,
};
use crate::report::ProbeRunFailure;
use crate::run_dir::RunDir;
use crate::worker::{Message, ProbeRunObserver, Worker};

/// The hook's configuration as saved in the run directory (the latest start's).
pub const CONFIG_FILE: &str = "hook-config.json";

/// A model the hook can probe: a burn [`Module`] that hands over Gated-LPI captures and can
/// silence heads. Implemented for every such type.
pub trait ProbedModel: Module + HeadMasking {}

impl<M: Module + HeadMasking> ProbedModel for M {}

/// Watches knowledge form while a model trains.
///
/// Every `every_n_steps` optimizer steps it runs the model (`model.valid()`, on the training
/// device) on the probe set, computes Gated-LPI for every neuron and head and the knowledge
/// readouts, and hands one host copy of the result to a background worker, which computes the
/// statistics, writes the run directory and notifies observers (telemetry). The training thread
/// never waits on the worker: when its queue is full the run is dropped and counted.
///
/// Two ways to attach it:
/// - burn-train: override `TrainStep::optimize` with
///   `let model = optim.step(lr, self, grads); hook.after_step(&model); model`
///   (see `examples/burn_train_hook.rs`); the hook counts optimizer steps itself.
/// - custom loops: `hook.after_step_at(step, &model)` after each optimizer step.
///
/// With several devices or data-parallel ranks, build the hook on one rank only: the probe run
/// needs the whole model and one copy of the telemetry.
pub struct LpiHook {
    config: LpiHookConfig,
    attribution: GatedLpi,
    batches: Vec<ProbeBatch>,
    probe_report: ProbeReport,
    step: u64,
    cadence: Cadence,
    runs_started: u64,
    robustness_requested: bool,
    /// The last probed step of a continued series, until the first step is seen.
    resumed_at: Option<u64>,
    last_mark: Instant,
    health: Arc<HookHealth>,
    sender: Option<Sender<Message>>,
    worker: Option<JoinHandle<()>>,
}

impl LpiHook {
    /// Builds the hook with the tokenizer named in the config (`tokenizer`). Loads and checks
    /// the probe set against the model's vocabulary and context, prepares the run directory
    /// (continuing a series found there) and starts the worker.
    pub fn new<M: ProbedModel>(config: LpiHookConfig, model: &M) -> Result<Self, HookError> {
        let path = config.tokenizer.clone().ok_or(HookError::NoTokenizer)?;
        let tokenizer = HfTokenizer::from_file(&path)?;
        Self::with_tokenizer(config, &tokenizer, model)
    }

    /// Builds the hook with the caller's tokenizer.
    pub fn with_tokenizer<M: ProbedModel>(
        config: LpiHookConfig,
        tokenizer: &dyn ProbeTokenizer,
        model: &M,
    ) -> Result<Self, HookError> {
        let strictness = if config.lenient {
            Strictness::Lenient
        } else {
            Strictness::Strict
        };
        let (set, load_report) = match &config.templates {
            Some(templates) => ProbeSet::load_lama(&config.probes, templates, strictness)?,
            None => ProbeSet::load_jsonl(&config.probes, strictness)?,
        };
        let policy = TargetPolicy {
            leading_space: config.leading_space,
            drop_multi_token: config.drop_multi_token,
        };
        let (probes, mut report) =
            set.tokenize(tokenizer, &policy, model.context_length(), strictness)?;
        report.problems.splice(0..0, load_report.problems);
        report.skipped += load_report.skipped;
        report.lines_read = load_report.lines_read;
        Self::from_tokenized(config, probes, report, model)
    }

    /// Builds the hook from probes tokenised by the caller.
    pub fn from_tokenized<M: ProbedModel>(
        config: LpiHookConfig,
        probes: TokenizedProbes,
        probe_report: ProbeReport,
        model: &M,
    ) -> Result<Self, HookError> {
        check_config(&config)?;
        check_probes(&probes)?;
        let batches = probes
            .prompts
            .chunks(config.batch_size)
            .zip(probes.targets.chunks(config.batch_size))
            .enumerate()
            .map(|(b, (prompts, targets))| {
                let batch = ProbeBatch::from_prompts(prompts.to_vec(), targets.to_vec())?;
                batch
                    .check_fits(model.vocab_size(), model.context_length())
                    .map_err(|e| misfit(e, &probes.ids, b * config.batch_size, &config))?;
                Ok(batch)
            })
            .collect::<Result<Vec<_>, HookError>>()?;
        if batches.is_empty() {
            return Err(HookError::Config {
                field: "probes",
                reason: format!(
                    "no probe left to run in {}; check it with `lpi probes check`",
                    config.probes.display()
                ),
            });
        }

        let run_dir = RunDir::create(&config.run_dir)?;
        // The configuration of the latest start, for whoever reads the run directory later.
        config
            .save(config.run_dir.join(CONFIG_FILE))
            .map_err(|source| HookError::RunDir {
                path: config.run_dir.clone(),
                source,
            })?;
        let consolidation =
            Consolidation::new(config.tau, config.consolidation_window).map_err(|e| {
                HookError::Config {
                    field: "tau",
                    reason: e.to_string(),
                }
            })?;
        if config.fresh {
            run_dir.clear()?;
        }
        let mut series = run_dir.load_series()?;
        if let Some(saved) = &series {
            let layout = model_layout(model, &batches[0])?;
            if saved.layout != layout {
                return Err(HookError::State {
                    path: config.run_dir.clone(),
                    reason: format!(
                        "it holds the series of a model with other units ({:?}; this model: \
                         {:?}); set `fresh` or use another `run_dir`",
                        saved.layout, layout
                    ),
                });
            }
        }
        let health = Arc::new(HookHealth::default());
        let resumed_at = series
            .as_ref()
            .and_then(|s| s.previous.as_ref().map(|p| p.step));
        if let Some(series) = &mut series {
            let history = run_dir.load_history(series.runs)?;
            let saved = &series.consolidation;
            if (saved.tau(), saved.window()) != (config.tau, config.consolidation_window) {
                // New threshold or window: replay the series' stability under them.
                let mut replayed = consolidation.clone();
                for report in &history {
                    if let Some(s) = report.vs_previous {
                        replayed.observe(report.step, s.spearman);
                    }
                }
                series.consolidation = replayed;
            }
            health.restore(series.runs, resumed_at.unwrap_or(0));
            tracing::info!(
                dir = %config.run_dir.display(),
                runs = series.runs,
                history = history.len(),
                last_step = resumed_at,
                "continuing the probe series"
            );
        }
        let cadence = Cadence::new(config.every_n_steps, config.overhead_budget, resumed_at);
        health.set_cadence(cadence.current());

        let (sender, inbox) = bounded(config.queue_capacity);
        let worker = Worker {
            settings: AnalysisSettings {
                q: config.q,
                consolidation,
                reference_step: config.reference_step,
                relation_of: probes.relation_of,
                relations: probes.relations,
            },
            run_dir,
            series,
            health: health.clone(),
            snapshot_every: config.snapshot_every,
            reduction: match config.attribution.reduction {
                ProbeReduction::Mean => "mean",
                ProbeReduction::Sum => "sum",
            },
            observers: Vec::new(),
        };
        let worker = std::thread::Builder::new()
            .name("lpi-hook-worker".into())
            .spawn(move || worker.run(inbox))
            .map_err(HookError::Worker)?;

        Ok(Self {
            attribution: config.attribution.init(),
            batches,
            probe_report,
            step: resumed_at.unwrap_or(0),
            cadence,
            runs_started: 0,
            robustness_requested: false,
            resumed_at,
            last_mark: Instant::now(),
            health,
            sender: Some(sender),
            worker: Some(worker),
            config,
        })
    }

    /// Adds an observer that receives every probe run's report on the worker thread.
    pub fn add_observer(&mut self, observer: impl ProbeRunObserver) {
        if let Some(sender) = &self.sender {
            // Blocking is fine here: this is set-up, not the training loop.
            let _ = sender.send(Message::Observer(Box::new(observer)));
        }
    }

    /// Call after every optimizer step with the updated model; the hook counts the steps.
    pub fn after_step<M: ProbedModel>(&mut self, model: &M) {
        self.after_step_at(self.step + 1, model);
    }

    /// Call after the optimizer step numbered `step` (custom loops that count steps
    /// themselves). Probes when a run is due.
    pub fn after_step_at<M: ProbedModel>(&mut self, step: u64, model: &M) {
        let entered = Instant::now();
        if let Some(last) = self.resumed_at.take()
            && step <= last
        {
            self.warn_step_went_back(step, last);
        }
        self.step = step;
        if self.cadence.is_due(step) {
            self.probe(step, model, false);
        }
        self.health.add_training_thread(entered.elapsed());
    }

    /// Probes now, with the head-masking robustness readout, whatever the cadence says.
    pub fn probe_now<M: ProbedModel>(&mut self, step: u64, model: &M) {
        let entered = Instant::now();
        self.step = step;
        self.probe(step, model, true);
        self.health.add_training_thread(entered.elapsed());
    }

    /// Adds the head-masking robustness readout to the next probe run.
    pub fn request_robustness(&mut self) {
        self.robustness_requested = true;
    }

    /// The last optimizer step seen. After a restart it starts from the last probed step of
    /// the continued series; set it with [`Self::set_step`] when resuming from another step.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Sets the step counter (for example to the step of the checkpoint training resumed from)
    /// and schedules the next probe run one cadence after it.
    pub fn set_step(&mut self, step: u64) {
        self.step = step;
        self.cadence.reschedule(step);
    }

    /// The hook's counters.
    pub fn health(&self) -> HealthSnapshot {
        self.health.snapshot()
    }

    /// A handle on the live counters, for exporters on other threads.
    pub fn health_handle(&self) -> Arc<HookHealth> {
        self.health.clone()
    }

    /// What loading and tokenising the probe set found (skipped lines, multi-token targets).
    pub fn probe_report(&self) -> &ProbeReport {
        &self.probe_report
    }

    /// Probes per run.
    pub fn probes(&self) -> usize {
        self.batches.iter().map(ProbeBatch::len).sum()
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.config.run_dir
    }

    /// The configuration.
    pub fn config(&self) -> &LpiHookConfig {
        &self.config
    }

    /// Waits until the worker has handled every run handed over so far (for tests and before
    /// reading the run directory; never needed in a training loop).
    pub fn flush(&self) {
        if let Some(sender) = &self.sender {
            let (done, wait) = bounded(1);
            if sender.send(Message::Flush(done)).is_ok() {
                let _ = wait.recv();
            }
        }
    }

    /// Stops the worker after it has handled every run handed over, and returns the counters.
    pub fn finish(mut self) -> HealthSnapshot {
        self.stop_worker();
        self.health.snapshot()
    }

    /// The first step after a restart is at or before the series' last probed step: training
    /// resumed from an earlier checkpoint, or an unrelated run continues this directory's series.
    fn warn_step_went_back(&self, step: u64, last_probed: u64) {
        tracing::warn!(
            step,
            last_probed,
            dir = %self.config.run_dir.display(),
            "training restarted at or before the last probed step of this run directory's \
             series; the series goes on from there (set `fresh` to start a new one)"
        );
    }

    fn stop_worker(&mut self) {
        self.sender.take();
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("the hook's worker thread panicked");
        }
    }

    fn probe<M: ProbedModel>(&mut self, step: u64, model: &M, force_robustness: bool) {
        let started = Instant::now();
        let training = started.duration_since(self.last_mark);
        self.runs_started += 1;
        let robustness = force_robustness
            || std::mem::take(&mut self.robustness_requested)
            || (self.config.robustness_every > 0
                && self
                    .runs_started
                    .is_multiple_of(self.config.robustness_every));

        // The probe run works on a `valid()` copy of the model: a panic inside the backend
        // (out of memory, a shape assertion) fails the run, not the training.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.device_work(step, model, robustness)
        }))
        .unwrap_or_else(|panic| Err(ProbeFailure::Panic(panic_message(&panic))));
        let probe = started.elapsed();
        self.health.add_probe_work(probe);
        if let Some(every) = self.cadence.record(step, probe, training) {
            self.health.set_cadence(every);
            tracing::debug!(
                every_n_steps = every,
                probe_seconds = probe.as_secs_f64(),
                "probe cadence adjusted to the overhead budget"
            );
        }
        let message = match outcome {
            Ok(mut record) => {
                record.probe_seconds = probe.as_secs_f64();
                record.every_n_steps = self.cadence.current();
                Message::Run(Box::new(record))
            }
            Err(error) => {
                let n = self.health.count_failure();
                if should_log(n) {
                    tracing::warn!(step, %error, count = n, "probe run failed; training goes on");
                }
                Message::Failure(ProbeRunFailure {
                    step,
                    reason: error.to_string(),
                })
            }
        };
        if let Some(sender) = &self.sender {
            match sender.try_send(message) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    let n = self.health.count_drop();
                    if should_log(n) {
                        tracing::warn!(step, count = n, "hook worker busy; probe run dropped");
                    }
                }
                Err(TrySendError::Disconnected(_)) => {
                    let n = self.health.count_drop();
                    if should_log(n) {
                        tracing::error!(step, count = n, "hook worker stopped; probe run dropped");
                    }
                }
            }
        }
        self.last_mark = Instant::now();
    }

    fn device_work<M: ProbedModel>(
        &self,
        step: u64,
        model: &M,
        robustness: bool,
    ) -> Result<ProbeRunRecord, ProbeFailure> {
        let model = model.valid();
        let device = model_device(&model);
        let scores = attribute_all(&model, &self.batches, &self.attribution, &device)?;
        let neurons = scores.neuron_profile();
        let heads = scores.head_profile();
        let robustness = if robustness {
            measure_robustness(
                &model,
                &self.batches,
                &scores,
                self.config.masked_heads,
                self.config.seed,
                &device,
            )
        } else {
            None
        };
        Ok(ProbeRunRecord {
            step,
            unix_time_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            probe_seconds: 0.0,
            every_n_steps: 0,
            layout: scores.layout,
            neurons,
            heads,
            gold: scores.gold,
            robustness,
        })
    }
}

impl std::fmt::Debug for LpiHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LpiHook")
            .field("run_dir", &self.config.run_dir)
            .field("probes", &self.probes())
            .field("step", &self.step)
            .field("runs_started", &self.runs_started)
            .field("running", &self.worker.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for LpiHook {
    fn drop(&mut self) {
        self.stop_worker();
    }
}

/// Tokenised probes whose parts agree: one target, id and relation per prompt.
fn check_probes(probes: &TokenizedProbes) -> Result<(), HookError> {
    let n = probes.prompts.len();
    let bad = |reason: String| {
        Err(HookError::Config {
            field: "probes",
            reason,
        })
    };
    if probes.targets.len() != n || probes.ids.len() != n || probes.relation_of.len() != n {
        return bad(format!(
            "tokenised probes disagree: {n} prompts, {} targets, {} ids, {} relation indices; \
             give one of each per probe",
            probes.targets.len(),
            probes.ids.len(),
            probes.relation_of.len()
        ));
    }
    if let Some((i, r)) = probes
        .relation_of
        .iter()
        .enumerate()
        .find_map(|(i, r)| r.filter(|&r| r >= probes.relations.len()).map(|r| (i, r)))
    {
        return bad(format!(
            "probe `{}` names relation {r}, but only {} relations are listed",
            probes.ids[i],
            probes.relations.len()
        ));
    }
    Ok(())
}

/// A probe that does not fit the model, named by its id instead of its index in the batch.
fn misfit(
    error: lpi_attribution::AttributionError,
    ids: &[String],
    offset: usize,
    config: &LpiHookConfig,
) -> HookError {
    use lpi_attribution::AttributionError as E;
    let probe = match &error {
        E::TokenOutOfVocabulary { probe, .. }
        | E::PromptTooLong { probe, .. }
        | E::EmptyPrompt { probe }
        | E::PositionOutOfRange { probe, .. } => Some(offset + probe),
        _ => None,
    };
    match probe.and_then(|p| ids.get(p)) {
        Some(id) => HookError::Config {
            field: "probes",
            reason: format!(
                "probe `{id}` in {} does not fit the model: {error}; check the tokenizer \
                 matches the model",
                config.probes.display()
            ),
        },
        None => HookError::Attribution(error),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

fn check_config(config: &LpiHookConfig) -> Result<(), HookError> {
    let bad = |field, reason: &str| {
        Err(HookError::Config {
            field,
            reason: reason.to_string(),
        })
    };
    if config.every_n_steps == 0 {
        return bad("every_n_steps", "must be at least 1");
    }
    if config.batch_size == 0 {
        return bad("batch_size", "must be at least 1");
    }
    if !(config.q > 0.0 && config.q <= 1.0) {
        return bad("q", "must lie in (0, 1], e.g. 0.01 for the top 1%");
    }
    if !(-1.0..=1.0).contains(&config.tau) {
        return bad("tau", "is a Spearman threshold and must lie in [-1, 1]");
    }
    if config.consolidation_window == 0 {
        return bad("consolidation_window", "must be at least 1");
    }
    if config.queue_capacity == 0 {
        return bad("queue_capacity", "must be at least 1");
    }
    if let Some(b) = config.overhead_budget
        && !(b > 0.0 && b < 1.0)
    {
        return bad(
            "overhead_budget",
            "is a fraction of wall time in (0, 1), e.g. 0.05",
        );
    }
    Ok(())
}

/// A clonable handle on one hook, for places that only get `&self` or a clone of the model,
/// such as burn-train's `TrainStep::optimize`: keep it in a `#[module(skip)]` field of the
/// model. Every clone drives the same hook.
///
/// Under data-parallel training (burn-train's DDP) every rank gets a clone of the model, and so
/// of this handle; build it with [`Self::on_device`] so that only the rank whose model lives on
/// that device drives the hook.
#[derive(Clone)]
pub struct SharedHook {
    hook: Arc<Mutex<LpiHook>>,
    device: Option<Device>,
}

impl SharedHook {
    /// Shares `hook`; every model passed to it drives it.
    pub fn new(hook: LpiHook) -> Self {
        Self {
            hook: Arc::new(Mutex::new(hook)),
            device: None,
        }
    }

    /// Shares `hook`, driven only by models on `device` (compared as hardware: an autodiff
    /// device equals the device it wraps); calls with models elsewhere return at once.
    pub fn on_device(hook: LpiHook, device: Device) -> Self {
        Self {
            device: Some(device),
            ..Self::new(hook)
        }
    }

    /// [`LpiHook::after_step`] on the shared hook.
    pub fn after_step<M: ProbedModel>(&self, model: &M) {
        if self.drives(model) {
            self.lock().after_step(model);
        }
    }

    /// [`LpiHook::after_step_at`] on the shared hook.
    pub fn after_step_at<M: ProbedModel>(&self, step: u64, model: &M) {
        if self.drives(model) {
            self.lock().after_step_at(step, model);
        }
    }

    fn drives<M: ProbedModel>(&self, model: &M) -> bool {
        self.device
            .as_ref()
            .is_none_or(|device| model.devices().contains(device))
    }

    /// Runs `f` on the hook (to read its health, add observers, flush). Never call it from an
    /// observer of the same hook: the worker would wait for itself.
    pub fn with<R>(&self, f: impl FnOnce(&mut LpiHook) -> R) -> R {
        f(&mut self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, LpiHook> {
        // A panic while probing cannot leave the hook inconsistent in a way that matters more
        // than stopping training would: keep going.
        self.hook
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for SharedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedHook")
    }
}
