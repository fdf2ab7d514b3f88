//! One probe-run series (a model's run directory) and the numbers the comparison reads from it.

use std::path::{Path, PathBuf};

use burn::config::Config;
use lpi_hook::{CONFIG_FILE, HISTORY_FILE, HookError, LpiHookConfig, ProbeRunReport, read_history};
use serde::{Deserialize, Serialize};

use crate::CompareError;

/// One model's probe-run series: its name, the hook settings that shape its statistics, and the
/// report of every probe run.
#[derive(Debug, Clone)]
pub struct Series {
    /// The name shown in the table and the plots' legends (`moe`, `dense`).
    pub name: String,
    /// The run directory it was read from, if any.
    pub run_dir: Option<PathBuf>,
    /// The top-q fraction of the concentration statistics.
    pub q: f64,
    /// The stability threshold of consolidation.
    pub tau: f64,
    /// Runs in a row at or above `tau` that make the profile consolidated.
    pub consolidation_window: usize,
    /// One report per probe run, in step order.
    pub history: Vec<ProbeRunReport>,
}

impl Series {
    /// Reads the series in `run_dir`: the hook's config (`hook-config.json`, for q, tau and the
    /// consolidation window) and its history (`history.jsonl`).
    pub fn load(name: impl Into<String>, run_dir: impl AsRef<Path>) -> Result<Self, CompareError> {
        let run_dir = run_dir.as_ref();
        let config_path = run_dir.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(CompareError::Config {
                path: config_path,
                reason: "no such file".into(),
            });
        }
        let config = LpiHookConfig::load(&config_path).map_err(|e| CompareError::Config {
            path: config_path.clone(),
            reason: e.to_string(),
        })?;
        let history = read_history(run_dir).map_err(|e| match e {
            HookError::State { path, reason } => CompareError::History { path, reason },
            other => CompareError::History {
                path: run_dir.join(HISTORY_FILE),
                reason: other.to_string(),
            },
        })?;
        let name = name.into();
        if history.is_empty() {
            return Err(CompareError::Empty {
                name,
                run_dir: Some(run_dir.to_path_buf()),
            });
        }
        let mut series = Self::new(name, &config, history)?;
        series.run_dir = Some(run_dir.to_path_buf());
        Ok(series)
    }

    /// A series from reports in hand (for example collected by an observer while training).
    pub fn new(
        name: impl Into<String>,
        config: &LpiHookConfig,
        history: Vec<ProbeRunReport>,
    ) -> Result<Self, CompareError> {
        let name = name.into();
        if history.is_empty() {
            return Err(CompareError::Empty {
                name,
                run_dir: None,
            });
        }
        Ok(Self {
            name,
            run_dir: None,
            q: config.q,
            tau: config.tau,
            consolidation_window: config.consolidation_window,
            history,
        })
    }
}

/// A model family, told apart by the reports: a MoE model's carry expert shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Mixture-of-Experts FFN layers.
    Moe,
    /// Dense FFN layers.
    Dense,
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Moe => "MoE",
            Self::Dense => "dense",
        })
    }
}

/// What one series shows of the paper's three patterns, with the readouts that give them
/// context. Fractions are in 0..=1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSummary {
    /// The series' name.
    pub name: String,
    /// MoE or dense.
    pub architecture: Architecture,
    /// FFN/expert neurons scored per probe run.
    pub neurons: usize,
    /// Attention heads scored per probe run.
    pub heads: usize,
    /// Probe runs in the series.
    pub runs: usize,
    /// Step of the first probe run.
    pub first_step: u64,
    /// Step of the last probe run.
    pub last_step: u64,
    /// HIT@10 at the first probe run.
    pub hit_at_10_first: f64,
    /// HIT@10 at the last probe run.
    pub hit_at_10_last: f64,
    /// Pattern 1, low-entropy backbone: the top-q share of the positive updates accumulated
    /// over the whole series (at the last run; `None` for a one-run series).
    pub positive_updates_top_share: Option<f64>,
    /// The top-q share of the positive importance itself, at the last run.
    pub positive_top_share: f64,
    /// Normalised entropy of the positive importance at the last run.
    pub entropy: f64,
    /// Pattern 2, early consolidation: the first step after which Spearman stability against
    /// the previous run stayed at or above tau for the consolidation window (`None`: never).
    pub consolidation_step: Option<u64>,
    /// Spearman stability against the previous run, at the last run.
    pub stability_last: Option<f64>,
    /// The highest Spearman stability against the previous run in the series.
    pub stability_max: Option<f64>,
    /// Pattern 3, functional robustness, at the last run that measured it.
    pub masking: Option<MaskingSummary>,
}

/// HIT@10 with the most important heads zeroed, next to as many random heads, at one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskingSummary {
    /// The step measured.
    pub step: u64,
    /// Heads zeroed (top ones, and as many random ones).
    pub heads_masked: usize,
    /// HIT@10 of the intact model.
    pub hit_at_10: f64,
    /// HIT@10 with the top heads zeroed.
    pub hit_at_10_top_masked: f64,
    /// HIT@10 with the random heads zeroed.
    pub hit_at_10_random_masked: f64,
    /// Relative HIT@10 drop for the top heads (`None` when the intact model hits nothing).
    pub top_drop: Option<f64>,
    /// Relative HIT@10 drop for the random heads.
    pub random_drop: Option<f64>,
    /// Runs in the series that measured masking.
    pub measured_runs: usize,
    /// Mean relative HIT@10 drop for the top heads over the runs that measured it (one run's
    /// drop is noisy in a small model; the mean is the steadier reading).
    pub mean_top_drop: Option<f64>,
    /// Mean relative HIT@10 drop for the random heads over the runs that measured it.
    pub mean_random_drop: Option<f64>,
}

/// The mean of the values present (`None` when there are none).
fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let (sum, n) = values
        .flatten()
        .fold((0.0, 0usize), |(sum, n), v| (sum + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

impl Series {
    /// MoE or dense, from the first report.
    pub fn architecture(&self) -> Architecture {
        if self.history[0].expert_share.is_some() {
            Architecture::Moe
        } else {
            Architecture::Dense
        }
    }

    /// The last probe run's report.
    pub fn last(&self) -> &ProbeRunReport {
        self.history.last().expect("a series is never empty")
    }

    /// The three patterns and their context, read from the reports.
    pub fn summary(&self) -> SeriesSummary {
        let (first, last) = (&self.history[0], self.last());
        let stabilities = self.history.iter().filter_map(|r| r.vs_previous);
        let measured: Vec<(u64, &lpi_hook::Robustness)> = self
            .history
            .iter()
            .filter_map(|r| r.robustness.as_ref().map(|rb| (r.step, rb)))
            .collect();
        SeriesSummary {
            name: self.name.clone(),
            architecture: self.architecture(),
            neurons: last.neurons.units,
            heads: last.heads.units,
            runs: self.history.len(),
            first_step: first.step,
            last_step: last.step,
            hit_at_10_first: first.readouts.overall.hit_at_10,
            hit_at_10_last: last.readouts.overall.hit_at_10,
            positive_updates_top_share: last.positive_updates_top_share,
            positive_top_share: last.neurons.top_share,
            entropy: last.neurons.entropy,
            consolidation_step: last.consolidation_step,
            stability_last: last.vs_previous.map(|s| s.spearman),
            stability_max: stabilities.map(|s| s.spearman).reduce(f64::max),
            masking: measured.last().map(|&(step, rb)| MaskingSummary {
                step,
                heads_masked: rb.top_heads.len(),
                hit_at_10: rb.hit_at_10,
                hit_at_10_top_masked: rb.hit_at_10_top_masked,
                hit_at_10_random_masked: rb.hit_at_10_random_masked,
                top_drop: rb.top_drop,
                random_drop: rb.random_drop,
                measured_runs: measured.len(),
                mean_top_drop: mean(measured.iter().map(|(_, rb)| rb.top_drop)),
                mean_random_drop: mean(measured.iter().map(|(_, rb)| rb.random_drop)),
            }),
        }
    }
}
