//! The hook's configuration.

use std::path::PathBuf;

use burn::config::Config;
use lpi_attribution::GatedLpiConfig;

/// Everything the hook needs to know, in one burn [`Config`] (saveable as JSON next to the run).
///
/// Only the probe file and the run directory are required:
///
/// ```
/// use lpi_hook::LpiHookConfig;
///
/// let config = LpiHookConfig::new("probes.jsonl".into(), "runs/moe-1".into())
///     .with_every_n_steps(200)
///     .with_overhead_budget(Some(0.05));
/// assert_eq!(config.q, 0.01);
/// ```
#[derive(Config, Debug)]
pub struct LpiHookConfig {
    /// Probe file: JSONL probes (`prompt`, `target`, optional `relation`, `subject`, `id`), or
    /// LAMA-style triples when [`Self::templates`] is set.
    pub probes: PathBuf,
    /// Directory for the history, state and snapshots. Created if missing; a run directory
    /// with state in it is continued.
    pub run_dir: PathBuf,
    /// LAMA-style templates JSONL (`relation`, `template` with `[X]` and `[Y]`); makes
    /// [`Self::probes`] a triples file.
    #[config(default = "None")]
    pub templates: Option<PathBuf>,
    /// A `tokenizer.json` for the probes. Without it, pass a tokenizer to
    /// [`crate::LpiHook::with_tokenizer`].
    #[config(default = "None")]
    pub tokenizer: Option<PathBuf>,
    /// Start a new series even if the run directory holds one (its state, history and
    /// snapshots are removed). By default a series found there is continued.
    #[config(default = false)]
    pub fresh: bool,
    /// Probe every this many optimizer steps (the nominal cadence).
    #[config(default = 100)]
    pub every_n_steps: u64,
    /// Probes per forward pass.
    #[config(default = 64)]
    pub batch_size: usize,
    /// Fraction of units in the "top" set: the top-q positive share and the top-k of the
    /// Jaccard stability (k = ceil(q * units)).
    #[config(default = 0.01)]
    pub q: f64,
    /// Stability (Spearman vs the previous run) at or above which a run counts toward
    /// consolidation.
    #[config(default = 0.9)]
    pub tau: f64,
    /// Runs in a row at or above `tau` that make the profile consolidated.
    #[config(default = 3)]
    pub consolidation_window: usize,
    /// Head-masking robustness every this many probe runs (0: only on request).
    #[config(default = 10)]
    pub robustness_every: u64,
    /// Heads zeroed for robustness, both the top ones and the random ones (drawn from all
    /// heads, so they may include top ones). Capped at half the model's heads.
    #[config(default = 10)]
    pub masked_heads: usize,
    /// Seed of the random heads (the same draw at every run, so runs compare).
    #[config(default = 2026)]
    pub seed: u64,
    /// Largest fraction of wall time the hook may take; when probe runs cost more, the cadence
    /// is stretched (and reported). The cadence plans for 80% of it, leaving the rest for what
    /// the training thread cannot time (the first run, the worker, cold caches). `None`: always
    /// the nominal cadence.
    #[config(default = "None")]
    pub overhead_budget: Option<f64>,
    /// The first run at or after this step is the reference profile (default: the first run).
    #[config(default = "None")]
    pub reference_step: Option<u64>,
    /// Skip and count bad probe lines instead of refusing to start.
    #[config(default = false)]
    pub lenient: bool,
    /// Encode targets with a leading space (" Paris"), as byte-level BPE tokenizers expect for
    /// a word that follows a space.
    #[config(default = true)]
    pub leading_space: bool,
    /// Drop probes whose target is more than one token (they are counted either way).
    #[config(default = false)]
    pub drop_multi_token: bool,
    /// Probe runs that may wait for the background worker; when full, runs are dropped and
    /// counted, never waited for.
    #[config(default = 8)]
    pub queue_capacity: usize,
    /// Write a full-profile snapshot every this many runs (0: never).
    #[config(default = 1)]
    pub snapshot_every: u64,
    /// How Gated-LPI is computed.
    #[config(default = "GatedLpiConfig::new()")]
    pub attribution: GatedLpiConfig,
}
