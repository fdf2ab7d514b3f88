//! The training hook: every N optimizer steps, Gated-LPI of every neuron and head over a probe
//! set of relational facts, on the training device; statistics, state and snapshots on a
//! background worker that never blocks training.
//!
//! A custom training loop attaches it with one call after each optimizer step:
//!
//! ```no_run
//! use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
//! use burn::tensor::Device;
//! use lpi_hook::{LpiHook, LpiHookConfig};
//! use lpi_models::synthetic::SyntheticFacts;
//! use lpi_models::TransformerConfig;
//!
//! # fn main() -> Result<(), lpi_hook::HookError> {
//! let facts = SyntheticFacts::new(32, 4, 24, 2026);
//! let device = Device::flex().autodiff();
//! let mut model = TransformerConfig::new(facts.vocab_size(), 64, 2, 4, 128, 8).init(&device);
//! let config = LpiHookConfig::new("probes.jsonl".into(), "runs/dense".into())
//!     .with_tokenizer(Some("tokenizer.json".into()))
//!     .with_every_n_steps(50);
//! let mut hook = LpiHook::new(config, &model)?;
//! let mut optim = AdamWConfig::new().init();
//! for step in 1..=1000 {
//!     let loss = model.next_token_loss(facts.batch(step * 32, 32, &device));
//!     let grads = GradientsParams::from_grads(loss.backward(), &model);
//!     model = optim.step(3e-3, model, grads);
//!     hook.after_step_at(step as u64, &model);
//! }
//! let health = hook.finish();
//! println!("{} probe runs, {} failed", health.runs, health.failures);
//! # Ok(())
//! # }
//! ```
//!
//! What a run produces is a [`ProbeRunReport`], appended to `history.jsonl` in the run
//! directory and handed to every [`ProbeRunObserver`].
//!
//! # The run directory
//!
//! ```text
//! run_dir/
//!   hook-config.json      the LpiHookConfig of the latest start.
//!   state.safetensors     previous and reference profiles, positive updates; the series
//!                         counters as JSON in the metadata key "state". Replaced atomically
//!                         (write to a temporary file, fsync, rename) after every run.
//!   history.jsonl         one ProbeRunReport per line, appended after every run. A line torn
//!                         by a crash, or lines beyond the state's run count, are dropped when
//!                         the series is continued.
//!   snapshots/step-0000001200.safetensors
//!                         the full profiles of the run at step 1200 (format below).
//! ```
//!
//! Snapshot format (safetensors, little-endian f32): tensor `neurons` of shape
//! `[layers, experts, neurons_per_expert]` (unit `l{l}.e{e}.n{i}` at `[l, e, i]`; dense models
//! have one expert) and tensor `heads` of shape `[layers, heads]` (unit `l{l}.h{h}`); metadata
//! `format` = `lpi-profile/1`, `step`, `run`, `probes` and `reduction` (`mean` or `sum` over
//! probes).
//! [`read_history`] and [`read_snapshot`] read them back.

#![warn(missing_docs)]

mod analysis;
mod cadence;
mod config;
mod error;
mod health;
mod hook;
mod probe_run;
mod report;
mod run_dir;
mod worker;

pub use config::LpiHookConfig;
pub use error::HookError;
pub use health::{HealthSnapshot, HookHealth};
pub use hook::{CONFIG_FILE, LpiHook, ProbedModel, SharedHook};
pub use lpi_stats::{ProfileSummary, Stability};
pub use report::{ProbeRunFailure, ProbeRunReport, Robustness, UnitScore};
pub use run_dir::{HISTORY_FILE, SNAPSHOT_FORMAT, Snapshot, read_history, read_snapshot};
pub use worker::ProbeRunObserver;
