//! The hook inside a real burn training loop: probe runs on cadence, reports that agree with
//! an independent computation on the same model, state that survives a restart, and faults
//! (diverged model, full disk, busy worker) that never stop training.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use burn::module::{Module, Param};
use burn::tensor::Device;
use burn_lpi::hook::{
    LpiHook, LpiHookConfig, ProbeRunObserver, ProbeRunReport, SharedHook, read_history,
    read_snapshot,
};
use burn_lpi::models::synthetic::SyntheticFacts;
use burn_lpi::models::{MoeConfig, Transformer, TransformerConfig};
use burn_lpi::probes::WordTokenizer;
use burn_lpi::{GatedLpiConfig, HeadMasking, UnitId};

fn model_config(facts: &SyntheticFacts) -> TransformerConfig {
    // 2 layers x 8 heads: enough heads for a top-4 vs random-4 masking comparison.
    TransformerConfig::new(facts.vocab_size(), 32, 2, 8, 32, 8).with_moe(Some(MoeConfig::new(4, 2)))
}

mod common;
use common::{Fixture, train};

impl Fixture {
    fn config(&self, run: &str) -> LpiHookConfig {
        LpiHookConfig::new(self.probes.clone(), self.dir.path().join(run))
            .with_every_n_steps(10)
            .with_batch_size(24)
            .with_masked_heads(4)
            .with_robustness_every(2)
            .with_leading_space(false)
    }

    fn hook(&self, config: LpiHookConfig, model: &Transformer) -> LpiHook {
        let tokenizer = WordTokenizer::new(self.facts.vocabulary());
        LpiHook::with_tokenizer(config, &tokenizer, model).expect("hook builds")
    }
}

fn new_model(facts: &SyntheticFacts, seed: u64) -> Transformer {
    let device = Device::flex().autodiff();
    device.seed(seed);
    model_config(facts).init(&device)
}

fn history(run_dir: &Path) -> Vec<ProbeRunReport> {
    read_history(run_dir).expect("history reads")
}

/// HIT@10 of the model on every fact, from a plain forward pass.
fn hit_at_10(facts: &SyntheticFacts, model: &Transformer) -> f64 {
    let model = model.valid();
    let device = Device::flex();
    let logits = model.forward(facts.batch(0, facts.len(), &device));
    let [b, s, v] = logits.dims();
    let rows: Vec<f32> = logits
        .narrow(1, s - 2, 1)
        .reshape([b, v])
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 logits");
    let hits = (0..facts.len())
        .filter(|&i| {
            let row = &rows[i * v..(i + 1) * v];
            let gold = row[facts.fact(i).1 as usize];
            row.iter().filter(|&&x| x > gold).count() < 10
        })
        .count();
    hits as f64 / facts.len() as f64
}

#[test]
fn probes_on_cadence_and_agrees_with_a_direct_computation() {
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 7);
    let config = fx.config("run");
    let run_dir = config.run_dir.clone();
    let mut hook = fx.hook(config, &model);
    assert_eq!(hook.probes(), fx.facts.len());
    let model = train(&fx.facts, model, 0, 60, |_, m| hook.after_step(m));
    hook.flush();
    let health = hook.health();
    assert_eq!((health.runs, health.failures, health.dropped), (6, 0, 0));
    assert_eq!(health.last_step, 60);
    assert!(health.probe_work > std::time::Duration::ZERO);
    assert!(health.training_thread >= health.probe_work);
    assert!(health.worker_busy > std::time::Duration::ZERO);
    assert!(health.worker_cpu > std::time::Duration::ZERO);

    let runs = history(&run_dir);
    let steps: Vec<u64> = runs.iter().map(|r| r.step).collect();
    assert_eq!(steps, [10, 20, 30, 40, 50, 60]);
    assert!(runs[0].vs_previous.is_none() && runs[1].vs_previous.is_some());
    // Robustness every 2nd run.
    let measured: Vec<bool> = runs.iter().map(|r| r.robustness.is_some()).collect();
    assert_eq!(measured, [false, true, false, true, false, true]);

    // The last report and snapshot against an independent computation on the final model.
    let last = runs.last().unwrap();
    let direct_hit = hit_at_10(&fx.facts, &model);
    assert!(
        (last.readouts.overall.hit_at_10 - direct_hit).abs() < 1e-9,
        "hook HIT@10 {} vs forward pass {direct_hit}",
        last.readouts.overall.hit_at_10
    );
    assert!(
        last.readouts.overall.hit_at_10 > runs[0].readouts.overall.hit_at_10,
        "the model learns between the first and last run"
    );
    let snapshot = read_snapshot(run_dir.join("snapshots/step-0000000060.safetensors"))
        .expect("snapshot reads back");
    let direct = GatedLpiConfig::new()
        .init()
        .attribute(&model.valid(), &fx.facts.probes().unwrap(), &Device::flex())
        .unwrap();
    assert_eq!(snapshot.layout, direct.layout);
    let max_diff = snapshot
        .neurons
        .iter()
        .zip(direct.neuron_profile())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff < 1e-5, "snapshot vs direct Gated-LPI: {max_diff}");
    assert!(snapshot.neurons.iter().any(|&x| x.abs() > 1e-3));

    // Robustness: the masked heads are the top heads of the snapshot's head profile.
    let robustness = last.robustness.as_ref().unwrap();
    let mut order: Vec<usize> = (0..snapshot.heads.len()).collect();
    order.sort_by(|&a, &b| snapshot.heads[b].total_cmp(&snapshot.heads[a]));
    let expected: Vec<String> = order[..4]
        .iter()
        .map(|&i| snapshot.layout.head(i).to_string())
        .collect();
    assert_eq!(robustness.top_heads, expected);
    assert_eq!(robustness.random_heads.len(), 4);
    let masked: Vec<UnitId> = expected.iter().map(|h| h.parse().unwrap()).collect();
    let probes = fx.facts.probes().unwrap();
    let logits = model.valid().logits_without_heads(
        probes.tokens(&Device::flex()),
        probes.positions(),
        &masked,
    );
    let gold = burn_lpi::attribution::GoldReadout::from_logits(logits, probes.targets());
    assert!((robustness.hit_at_10_top_masked - gold.hit_at(10)).abs() < 1e-9);
    hook.finish();
}

/// Records every report it sees.
struct Collect(mpsc::Sender<ProbeRunReport>);

impl ProbeRunObserver for Collect {
    fn on_run(&mut self, report: &ProbeRunReport) {
        let _ = self.0.send(report.clone());
    }
}

#[test]
fn a_restarted_hook_continues_the_series_exactly() {
    let fx = Fixture::new();
    // One training run, replayed into two hooks: one that runs throughout, one that is
    // dropped after step 30 and rebuilt on the same directory (as after a restart).
    let mut models = Vec::new();
    train(&fx.facts, new_model(&fx.facts, 11), 0, 60, |step, m| {
        models.push((step, m.clone()))
    });

    let through = fx.config("through").with_robustness_every(0);
    let mut hook = fx.hook(through.clone(), &models[0].1);
    let (tx, rx) = mpsc::channel();
    hook.add_observer(Collect(tx));
    for (step, m) in &models {
        hook.after_step_at(*step, m);
    }
    hook.finish();
    let expected: Vec<ProbeRunReport> = rx.try_iter().collect();
    assert_eq!(expected.len(), 6);

    let restarted = fx.config("restarted").with_robustness_every(0);
    let mut first = fx.hook(restarted.clone(), &models[0].1);
    for (step, m) in &models[..30] {
        first.after_step_at(*step, m);
    }
    first.finish();
    let mut second = fx.hook(restarted.clone(), &models[0].1);
    assert_eq!(second.step(), 30, "resumes from the last probed step");
    for (step, m) in &models[30..] {
        second.after_step(m);
        assert_eq!(second.step(), *step);
    }
    second.finish();

    let got = history(&restarted.run_dir);
    assert_eq!(got.len(), expected.len());
    for (a, b) in got.iter().zip(&expected) {
        assert_eq!(a.run, b.run);
        assert_eq!(a.step, b.step);
        assert_eq!(a.vs_previous, b.vs_previous, "run {}", a.run);
        assert_eq!(a.vs_reference, b.vs_reference, "run {}", a.run);
        assert_eq!(a.positive_updates_top_share, b.positive_updates_top_share);
        assert_eq!(a.consolidation_step, b.consolidation_step);
        assert_eq!(a.stability_streak, b.stability_streak);
        assert_eq!(a.readouts, b.readouts);
    }
}

#[test]
fn a_diverged_model_fails_the_run_and_training_goes_on() {
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 3);
    let mut hook = fx.hook(fx.config("diverged"), &model);
    // Diverged training, as the hook meets it: NaN in the weights.
    let mut broken = model.valid();
    let weight = broken.embed_tokens.weight.val();
    broken.embed_tokens.weight = Param::from_tensor(weight * f32::NAN);
    hook.probe_now(1, &broken);
    hook.probe_now(2, &model);
    hook.flush();
    let health = hook.health();
    assert_eq!((health.failures, health.runs), (1, 1));
    let runs = history(hook.run_dir());
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].step, 2);
}

#[test]
fn a_full_disk_is_counted_not_fatal() {
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 5);
    let config = fx.config("full-disk");
    let run_dir = config.run_dir.clone();
    let mut hook = fx.hook(config, &model);
    // Every write of the run fails: history hits a full device, the state's temporary file
    // and the snapshot directory are in the way.
    std::os::unix::fs::symlink("/dev/full", run_dir.join("history.jsonl")).unwrap();
    std::fs::create_dir(run_dir.join("state.tmp")).unwrap();
    std::fs::remove_dir(run_dir.join("snapshots")).unwrap();
    std::fs::write(run_dir.join("snapshots"), b"in the way").unwrap();
    hook.probe_now(1, &model);
    hook.probe_now(2, &model);
    hook.flush();
    let health = hook.health();
    assert_eq!(
        health.runs, 2,
        "the analysis still runs and reaches observers"
    );
    assert_eq!(health.write_errors, 6, "state, history and snapshot, twice");
}

#[test]
fn an_unwritable_run_directory_is_refused_before_training() {
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 5);
    let config = LpiHookConfig::new(fx.probes.clone(), "/dev/null/run".into());
    let tokenizer = WordTokenizer::new(fx.facts.vocabulary());
    let error = LpiHook::with_tokenizer(config, &tokenizer, &model).expect_err("refused");
    assert!(error.to_string().contains("/dev/null/run"), "{error}");
}

/// Blocks the worker until released.
struct Stall(mpsc::Receiver<()>);

impl ProbeRunObserver for Stall {
    fn on_run(&mut self, _: &ProbeRunReport) {
        let _ = self.0.recv_timeout(Duration::from_secs(60));
    }
}

#[test]
fn a_busy_worker_drops_runs_instead_of_blocking_training() {
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 9);
    let mut hook = fx.hook(fx.config("busy").with_queue_capacity(1), &model);
    let (release, stalled) = mpsc::channel();
    hook.add_observer(Stall(stalled));
    for step in 1..=6 {
        hook.probe_now(step, &model);
    }
    // The worker holds run 1 in the observer, run 2 waits in the queue; the rest were dropped.
    let health = hook.health();
    assert!(health.dropped >= 3, "{health:?}");
    for _ in 0..6 {
        let _ = release.send(());
    }
    hook.flush();
    let health = hook.health();
    assert_eq!(health.runs + health.dropped, 6, "{health:?}");
}

#[test]
fn the_overhead_budget_stretches_the_cadence() {
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 13);
    // A probe run costs far more than 1% of a few training steps: the cadence must stretch.
    let config = fx
        .config("budget")
        .with_every_n_steps(2)
        .with_overhead_budget(Some(0.01))
        .with_robustness_every(0);
    let run_dir = config.run_dir.clone();
    let mut hook = fx.hook(config, &model);
    train(&fx.facts, model, 0, 40, |_, m| hook.after_step(m));
    hook.flush();
    let health = hook.health();
    assert!(health.every_n_steps > 2, "{health:?}");
    let runs = history(&run_dir);
    assert_eq!(runs[0].step, 2);
    assert_eq!(runs.last().unwrap().every_n_steps, health.every_n_steps);
    // Each gap between runs is the cadence reported by the run before it.
    for pair in runs.windows(2) {
        assert_eq!(pair[1].step - pair[0].step, pair[0].every_n_steps);
    }
    assert!(
        runs.len() < 20,
        "fewer runs than the nominal cadence gives: {}",
        runs.len()
    );
}

#[test]
fn bad_probe_files_are_refused_with_their_lines_and_lenient_mode_skips_them() {
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 1);
    let bad = fx.dir.path().join("bad.jsonl");
    let good = fx.facts.probe_jsonl();
    let mut lines: Vec<&str> = good.lines().collect();
    lines[2] = r#"{"prompt": "<bos> s0 r2"}"#;
    lines[4] = "not json";
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let tokenizer = WordTokenizer::new(fx.facts.vocabulary());
    let strict =
        LpiHookConfig::new(bad.clone(), fx.dir.path().join("strict")).with_leading_space(false);
    let error =
        LpiHook::with_tokenizer(strict, &tokenizer, &model).expect_err("strict mode refuses");
    let message = error.to_string();
    assert!(message.contains("bad.jsonl:3"), "{message}");
    assert!(message.contains("bad.jsonl:5"), "{message}");

    let lenient = LpiHookConfig::new(bad, fx.dir.path().join("lenient"))
        .with_leading_space(false)
        .with_lenient(true);
    let hook = LpiHook::with_tokenizer(lenient, &tokenizer, &model).expect("lenient builds");
    assert_eq!(hook.probes(), fx.facts.len() - 2);
    assert_eq!(hook.probe_report().skipped, 2);
}

#[test]
fn a_fresh_hook_starts_a_new_series_in_an_old_directory() {
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 2);
    let config = fx.config("fresh").with_robustness_every(0);
    let mut first = fx.hook(config.clone(), &model);
    first.probe_now(5, &model);
    first.probe_now(6, &model);
    first.finish();
    let mut again = fx.hook(config.clone().with_fresh(true), &model);
    assert_eq!(again.step(), 0);
    again.probe_now(7, &model);
    again.finish();
    let runs = history(&config.run_dir);
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].run, runs[0].step), (1, 7));
    assert!(runs[0].vs_previous.is_none());
}

#[test]
fn a_shared_hook_on_the_training_device_is_driven_by_every_clone() {
    // Devices compare as hardware: the autodiff model lives on the plain flex device. (A CPU
    // build has one device only, so models elsewhere, which are ignored, cannot be made here.)
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 4);
    let shared = SharedHook::on_device(
        fx.hook(fx.config("shared").with_every_n_steps(2), &model),
        Device::flex(),
    );
    let clone = shared.clone();
    for _ in 0..3 {
        shared.after_step(&model);
        clone.after_step(&model.valid());
    }
    shared.with(|hook| {
        hook.flush();
        assert_eq!(hook.step(), 6, "both clones count steps on the one hook");
        assert_eq!(hook.health().runs, 3);
    });
}

#[test]
fn a_model_with_other_units_cannot_continue_a_series() {
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 6);
    let config = fx.config("other-units");
    let mut hook = fx.hook(config.clone(), &model);
    hook.probe_now(1, &model);
    hook.finish();
    let device = Device::flex().autodiff();
    let dense = TransformerConfig::new(fx.facts.vocab_size(), 32, 2, 8, 64, 8).init(&device);
    let tokenizer = WordTokenizer::new(fx.facts.vocabulary());
    let error = LpiHook::with_tokenizer(config.clone(), &tokenizer, &dense).expect_err("refused");
    assert!(error.to_string().contains("fresh"), "{error}");
    // With `fresh`, the same model starts a new series there.
    LpiHook::with_tokenizer(config.with_fresh(true), &tokenizer, &dense).expect("fresh builds");
}

#[test]
fn history_reading_drops_a_torn_last_line_and_names_a_bad_one() {
    let fx = Fixture::new();
    let model = new_model(&fx.facts, 8);
    let config = fx.config("torn").with_robustness_every(0);
    let run_dir = config.run_dir.clone();
    let mut hook = fx.hook(config, &model);
    for step in 1..=3 {
        hook.probe_now(step, &model);
    }
    hook.finish();
    let path = run_dir.join("history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    // A crash in the middle of the last append.
    let torn = format!(
        "{}\n{}\n{}",
        lines[0],
        lines[1],
        &lines[2][..lines[2].len() / 2]
    );
    std::fs::write(&path, torn).unwrap();
    assert_eq!(history(&run_dir).len(), 2);

    // Anything else unreadable is an error that names the line.
    let bad = format!("{}\nnot a report\n{}\n", lines[0], lines[2]);
    std::fs::write(&path, bad).unwrap();
    let error = read_history(&run_dir).expect_err("refused");
    assert!(error.to_string().contains("line 2"), "{error}");
}
