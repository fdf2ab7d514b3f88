//! Several series side by side: the summary table, the findings against the paper, and the
//! files a comparison writes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::series::{Architecture, Series, SeriesSummary};
use crate::{CompareError, markdown, plot};

/// Series compared side by side (the paper's setting: one MoE and one dense model, trained on
/// the same data and probed at the same steps).
#[derive(Debug, Clone)]
pub struct Comparison {
    series: Vec<Series>,
}

/// Everything a comparison concludes, as written to `comparison.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonReport {
    /// The top-q fraction of the concentration statistics (shared by all series).
    pub q: f64,
    /// The stability threshold of consolidation.
    pub tau: f64,
    /// Runs in a row at or above `tau` that make a profile consolidated.
    pub consolidation_window: usize,
    /// One summary per series, in the order given.
    pub series: Vec<SeriesSummary>,
    /// The paper's three patterns against what the series show (empty unless the comparison
    /// holds exactly one MoE and one dense series).
    pub findings: Vec<Finding>,
}

/// One of the paper's patterns, and whether these series show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The pattern's name.
    pub pattern: String,
    /// What the paper reports.
    pub paper: String,
    /// What the series show, in numbers.
    pub observed: String,
    /// Whether the series show the pattern (`None` when they cannot tell, for example no run
    /// measured masking).
    pub agrees: Option<bool>,
}

impl Finding {
    /// `shown`, `not shown` or `cannot tell`.
    pub fn verdict(&self) -> &'static str {
        match self.agrees {
            Some(true) => "shown",
            Some(false) => "not shown",
            None => "cannot tell",
        }
    }
}

impl std::fmt::Display for Finding {
    /// `Low-entropy backbone: shown. <observed>`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}. {}", self.pattern, self.verdict(), self.observed)
    }
}

/// The paper's threshold for the backbone: the top 1% of MoE neurons hold over 45% of the
/// positive updates.
pub const BACKBONE_SHARE: f64 = 0.45;
/// The paper's robustness thresholds: masking the top heads costs the MoE model under 10% of
/// its HIT@10 and the dense one over 50%.
pub const ROBUST_DROP: f64 = 0.10;
/// See [`ROBUST_DROP`].
pub const BRITTLE_DROP: f64 = 0.50;

/// The files [`Comparison::write`] writes into its directory.
pub const OUTPUT_FILES: [&str; 7] = [
    "comparison.md",
    "comparison.json",
    "comparison.png",
    "backbone.png",
    "consolidation.png",
    "robustness.png",
    "knowledge.png",
];

impl Comparison {
    /// Compares `series`: at least one, with distinct names, all probed with the same q, tau
    /// and consolidation window (else their numbers do not compare).
    pub fn new(series: Vec<Series>) -> Result<Self, CompareError> {
        let Some(first) = series.first() else {
            return Err(CompareError::Series(
                "nothing to compare; pass at least one run directory".into(),
            ));
        };
        for (i, other) in series.iter().enumerate().skip(1) {
            if series[..i].iter().any(|s| s.name == other.name) {
                return Err(CompareError::Series(format!(
                    "two series are named `{}`; name them apart (NAME=RUN_DIR)",
                    other.name
                )));
            }
            let mismatch = |field, a: String, b: String| CompareError::Mismatch {
                first: first.name.clone(),
                other: other.name.clone(),
                field,
                first_value: a,
                other_value: b,
            };
            if other.q != first.q {
                return Err(mismatch("q", first.q.to_string(), other.q.to_string()));
            }
            if other.tau != first.tau {
                return Err(mismatch(
                    "tau",
                    first.tau.to_string(),
                    other.tau.to_string(),
                ));
            }
            if other.consolidation_window != first.consolidation_window {
                return Err(mismatch(
                    "consolidation_window",
                    first.consolidation_window.to_string(),
                    other.consolidation_window.to_string(),
                ));
            }
        }
        Ok(Self { series })
    }

    /// The series, in the order given.
    pub fn series(&self) -> &[Series] {
        &self.series
    }

    /// The summaries and the findings.
    pub fn report(&self) -> ComparisonReport {
        let first = &self.series[0];
        let series: Vec<SeriesSummary> = self.series.iter().map(Series::summary).collect();
        ComparisonReport {
            q: first.q,
            tau: first.tau,
            consolidation_window: first.consolidation_window,
            findings: findings(&series, first.q, first.tau, first.consolidation_window),
            series,
        }
    }

    /// Writes [`OUTPUT_FILES`] into `dir` (created if missing): the Markdown table and findings,
    /// the same as JSON, and PNG plots over training steps (one per pattern, the knowledge
    /// readout, and all four in one figure). Returns the paths written.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>, CompareError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| CompareError::Write {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let report = self.report();
        let mut written = Vec::with_capacity(OUTPUT_FILES.len());
        let mut put = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| CompareError::Write {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            written.push(path);
            Ok::<_, CompareError>(())
        };
        put("comparison.md", markdown::render(self, &report).as_bytes())?;
        let json = serde_json::to_string_pretty(&report).expect("a report serialises");
        put("comparison.json", json.as_bytes())?;
        for (name, figure) in plot::FIGURES {
            let png = plot::render(&self.series, figure).map_err(|reason| CompareError::Write {
                path: dir.join(name),
                reason,
            })?;
            put(name, &png)?;
        }
        Ok(written)
    }
}

/// The paper's three patterns against one MoE and one dense series; empty for any other mix.
fn findings(series: &[SeriesSummary], q: f64, tau: f64, window: usize) -> Vec<Finding> {
    let of = |arch| {
        let mut matching = series.iter().filter(|s| s.architecture == arch);
        match (matching.next(), matching.next()) {
            (Some(s), None) => Some(s),
            _ => None,
        }
    };
    let (Some(moe), Some(dense)) = (of(Architecture::Moe), of(Architecture::Dense)) else {
        return Vec::new();
    };
    let top = markdown::top_q(q);
    let pct = |v: Option<f64>| v.map_or("n/a".to_string(), markdown::percent);

    let backbone = Finding {
        pattern: "Low-entropy backbone".into(),
        paper: format!(
            "the top 1% of MoE neurons capture over {} of positive updates; absent in the dense model",
            markdown::whole_percent(BACKBONE_SHARE)
        ),
        observed: format!(
            "the {top} of neurons hold {} of the positive updates in `{}` and {} in `{}`",
            pct(moe.positive_updates_top_share),
            moe.name,
            pct(dense.positive_updates_top_share),
            dense.name
        ),
        agrees: match (
            moe.positive_updates_top_share,
            dense.positive_updates_top_share,
        ) {
            (Some(m), Some(d)) => Some(m > BACKBONE_SHARE && d <= BACKBONE_SHARE),
            _ => None,
        },
    };

    let when = |s: &SeriesSummary| match s.consolidation_step {
        Some(step) => format!("consolidated at step {step}"),
        None => format!(
            "did not consolidate (highest stability {})",
            s.stability_max
                .map_or("n/a".to_string(), |v| format!("{v:.3}"))
        ),
    };
    let consolidation = Finding {
        pattern: "Early consolidation".into(),
        paper:
            "the MoE importance profile locks in early (< 100K steps); the dense one stays volatile"
                .into(),
        observed: format!(
            "with Spearman stability >= {tau} for {window} runs in a row: `{}` {}; `{}` {}",
            moe.name,
            when(moe),
            dense.name,
            when(dense)
        ),
        agrees: Some(match (moe.consolidation_step, dense.consolidation_step) {
            (Some(m), Some(d)) => m < d,
            (Some(_), None) => true,
            (None, _) => false,
        }),
    };

    let masked = |s: &SeriesSummary| match &s.masking {
        Some(m) => format!(
            "`{}` loses {} of its HIT@10 with its top {} heads masked ({} for as many random heads; mean over {} runs, last run at step {}: {} and {})",
            s.name,
            pct(m.mean_top_drop),
            m.heads_masked,
            pct(m.mean_random_drop),
            m.measured_runs,
            m.step,
            pct(m.top_drop),
            pct(m.random_drop),
        ),
        None => format!("`{}` never measured masking", s.name),
    };
    let drop = |s: &SeriesSummary| s.masking.as_ref().and_then(|m| m.mean_top_drop);
    let robustness = Finding {
        pattern: "Functional robustness".into(),
        paper: format!(
            "masking the 10 most important heads cuts relational HIT@10 by under {} in the MoE model, over {} in the dense one",
            markdown::whole_percent(ROBUST_DROP),
            markdown::whole_percent(BRITTLE_DROP)
        ),
        observed: format!("{}; {}", masked(moe), masked(dense)),
        agrees: match (drop(moe), drop(dense)) {
            (Some(m), Some(d)) => Some(m < ROBUST_DROP && d > BRITTLE_DROP),
            _ => None,
        },
    };
    vec![backbone, consolidation, robustness]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::MaskingSummary;

    fn summary(name: &str, architecture: Architecture) -> SeriesSummary {
        SeriesSummary {
            name: name.into(),
            architecture,
            neurons: 100,
            heads: 16,
            runs: 4,
            first_step: 10,
            last_step: 40,
            hit_at_10_first: 0.1,
            hit_at_10_last: 0.5,
            positive_updates_top_share: None,
            positive_top_share: 0.3,
            entropy: 0.7,
            consolidation_step: None,
            stability_last: None,
            stability_max: None,
            masking: None,
        }
    }

    fn masking(mean_top_drop: f64) -> Option<MaskingSummary> {
        Some(MaskingSummary {
            step: 40,
            heads_masked: 2,
            hit_at_10: 0.5,
            hit_at_10_top_masked: 0.4,
            hit_at_10_random_masked: 0.5,
            top_drop: Some(0.2),
            random_drop: Some(0.0),
            measured_runs: 4,
            mean_top_drop: Some(mean_top_drop),
            mean_random_drop: Some(0.0),
        })
    }

    fn verdicts(moe: &SeriesSummary, dense: &SeriesSummary) -> Vec<Option<bool>> {
        findings(&[moe.clone(), dense.clone()], 0.01, 0.9, 3)
            .iter()
            .map(|f| f.agrees)
            .collect()
    }

    #[test]
    fn each_pattern_follows_the_papers_thresholds() {
        let (mut moe, mut dense) = (
            summary("m", Architecture::Moe),
            summary("d", Architecture::Dense),
        );
        // Nothing measured: no backbone or robustness verdict; no consolidation is "not shown".
        assert_eq!(verdicts(&moe, &dense), [None, Some(false), None]);

        moe.positive_updates_top_share = Some(0.46);
        dense.positive_updates_top_share = Some(0.45);
        moe.consolidation_step = Some(30);
        moe.masking = masking(0.09);
        dense.masking = masking(0.51);
        assert_eq!(verdicts(&moe, &dense), [Some(true); 3]);

        // The dense model at the backbone threshold is still "absent"; above it, not.
        dense.positive_updates_top_share = Some(0.46);
        // Both consolidate, the dense model first.
        dense.consolidation_step = Some(20);
        // The MoE model as brittle as the paper's threshold allows, no more.
        moe.masking = masking(0.10);
        assert_eq!(verdicts(&moe, &dense), [Some(false); 3]);

        dense.consolidation_step = Some(40);
        assert_eq!(verdicts(&moe, &dense)[1], Some(true));
    }

    #[test]
    fn findings_need_exactly_one_moe_and_one_dense_series() {
        let moe = summary("m", Architecture::Moe);
        let dense = summary("d", Architecture::Dense);
        assert!(findings(std::slice::from_ref(&moe), 0.01, 0.9, 3).is_empty());
        assert!(findings(&[moe.clone(), moe.clone(), dense.clone()], 0.01, 0.9, 3).is_empty());
        assert_eq!(findings(&[dense, moe], 0.01, 0.9, 3).len(), 3);
    }
}
