//! What one probe run tells: the record appended to the run's history and handed to observers
//! (telemetry) on the background worker.

use lpi_probes::Readouts;
use lpi_stats::{ProfileSummary, Stability};
use serde::{Deserialize, Serialize};

/// Every statistic of one probe run (DESIGN.md 2.4). Serialised as one line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRunReport {
    /// 1-based index of the run in the series (continues across restarts).
    pub run: u64,
    /// Optimizer step the model was probed at.
    pub step: u64,
    /// Wall-clock time of the run, seconds since the Unix epoch.
    pub unix_time_s: f64,
    /// Wall time the training thread spent on the run (device work and the host copy).
    pub probe_seconds: f64,
    /// Wall time the background worker spent on statistics (not on the training thread).
    pub analysis_seconds: f64,
    /// The cadence in effect after this run, in steps (stretched by the overhead budget).
    pub every_n_steps: u64,
    /// Probes scored.
    pub probes: usize,
    /// Knowledge readouts: HIT@1, HIT@10, MRR and mean gold log-probability, overall and per
    /// relation.
    pub readouts: Readouts,
    /// Concentration of the neuron profile.
    pub neurons: ProfileSummary,
    /// Concentration of the head profile.
    pub heads: ProfileSummary,
    /// Top-q share of the positive updates accumulated so far (`None` on the first run of a
    /// series: there is nothing to compare with yet).
    pub positive_updates_top_share: Option<f64>,
    /// Rank stability of the neuron profile against the previous run.
    pub vs_previous: Option<Stability>,
    /// Rank stability of the neuron profile against the reference run.
    pub vs_reference: Option<Stability>,
    /// The step of the reference run.
    pub reference_step: Option<u64>,
    /// Spearman stability of each layer's neurons against the previous run.
    pub layer_stability: Option<Vec<f64>>,
    /// Each layer's share of the positive neuron mass.
    pub layer_share: Vec<f64>,
    /// Each expert's share of the positive neuron mass, `[layer][expert]` flattened layer-major
    /// (`None` for dense models).
    pub expert_share: Option<Vec<f64>>,
    /// Each layer's share of the positive head mass.
    pub head_layer_share: Vec<f64>,
    /// The most important heads, most important first.
    pub top_heads: Vec<UnitScore>,
    /// The most important neurons, most important first.
    pub top_neurons: Vec<UnitScore>,
    /// Lorenz curve of the positive neuron mass: `(population, mass)` fractions.
    pub lorenz: Vec<(f64, f64)>,
    /// First step after which stability vs the previous run stayed at or above `tau` for
    /// `consolidation_window` runs.
    pub consolidation_step: Option<u64>,
    /// Consecutive runs (ending with this one) at or above `tau`.
    pub stability_streak: usize,
    /// Consolidated earlier, and this run fell below `tau`.
    pub drifted: bool,
    /// Head-masking robustness, on the runs that measured it.
    pub robustness: Option<Robustness>,
}

/// A unit and its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitScore {
    /// Canonical id, `l3.e5.n17` or `l3.h2`.
    pub unit: String,
    /// Gated-LPI, reduced over probes.
    pub score: f32,
}

/// HIT@10 with the most important heads zeroed, next to the same number of random heads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Robustness {
    /// Heads zeroed: the top ones by head importance.
    pub top_heads: Vec<String>,
    /// Heads zeroed: a fixed-seed random draw.
    pub random_heads: Vec<String>,
    /// HIT@10 of the intact model.
    pub hit_at_10: f64,
    /// HIT@10 with the top heads zeroed.
    pub hit_at_10_top_masked: f64,
    /// HIT@10 with the random heads zeroed.
    pub hit_at_10_random_masked: f64,
    /// Relative HIT@10 drop for the top heads, `(base - masked) / base` (`None` when the intact
    /// model hits nothing).
    pub top_drop: Option<f64>,
    /// Relative HIT@10 drop for the random heads.
    pub random_drop: Option<f64>,
}

impl Robustness {
    /// Relative drop from `base` to `masked`; `None` when `base` is 0.
    pub fn relative_drop(base: f64, masked: f64) -> Option<f64> {
        (base > 0.0).then(|| (base - masked) / base)
    }
}

/// A probe run that produced no profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRunFailure {
    /// Optimizer step of the attempt.
    pub step: u64,
    /// Why it failed (for example non-finite activations after divergence).
    pub reason: String,
}
