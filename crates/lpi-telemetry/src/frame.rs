//! A probe run's values as series, ready for the instruments' callbacks.

use std::collections::HashMap;

use lpi_hook::{ProbeRunReport, ProfileSummary, Stability};
use opentelemetry::KeyValue;

use crate::catalogue::{self as c, MetricDef};
use crate::config::{MAX_SERIES_PER_FAMILY, TelemetryConfig};

/// One series: its labels (run and arch first) and its value.
pub(crate) type Series = (Vec<KeyValue>, f64);

/// The series of the latest probe run, by family name.
#[derive(Debug, Default)]
pub(crate) struct Frame {
    pub series: HashMap<&'static str, Vec<Series>>,
}

/// What the frame needs from the config.
#[derive(Debug, Clone)]
pub(crate) struct Labelling {
    pub base: Vec<KeyValue>,
    pub q: String,
    pub q_value: f64,
    pub top_experts_per_layer: usize,
    pub top_heads: usize,
    pub max_relations: usize,
}

impl Labelling {
    pub fn new(config: &TelemetryConfig) -> Self {
        Self {
            base: vec![
                KeyValue::new(c::RUN, config.run.clone()),
                KeyValue::new(c::ARCH, config.arch.clone()),
            ],
            q: format!("{}", config.q),
            q_value: config.q,
            top_experts_per_layer: config.top_experts_per_layer,
            top_heads: config.top_heads.min(MAX_SERIES_PER_FAMILY),
            // Two series per relation in lpi_relation_hit_ratio (k = 1 and 10).
            max_relations: config.max_relations.min(MAX_SERIES_PER_FAMILY / 2),
        }
    }

    /// The base labels followed by `extra`.
    pub fn labels<const N: usize>(&self, extra: [(&'static str, String); N]) -> Vec<KeyValue> {
        let mut labels = self.base.clone();
        labels.extend(extra.into_iter().map(|(k, v)| KeyValue::new(k, v)));
        labels
    }
}

impl Frame {
    fn push(&mut self, def: MetricDef, labels: Vec<KeyValue>, value: f64) {
        debug_assert_eq!(labels.len(), def.labels.len(), "{}", def.name);
        self.series
            .entry(def.name)
            .or_default()
            .push((labels, value));
    }

    /// The series of `report`.
    pub fn from_report(report: &ProbeRunReport, l: &Labelling) -> Self {
        let mut f = Frame::default();
        let s = |v: &str| v.to_string();

        for (profile, summary) in [("neurons", &report.neurons), ("heads", &report.heads)] {
            f.summary(l, profile, summary);
        }
        if let Some(share) = report.positive_updates_top_share {
            f.push(
                c::POSITIVE_UPDATES_TOP_SHARE,
                l.labels([(c::Q, l.q.clone())]),
                share,
            );
        }
        let k = lpi_stats::top_k_count(report.neurons.units, l.q_value).to_string();
        for (baseline, stability) in [
            ("previous", &report.vs_previous),
            ("reference", &report.vs_reference),
        ] {
            if let Some(st) = stability {
                f.stability(l, baseline, &k, st);
            }
        }
        if let Some(step) = report.reference_step {
            f.push(c::REFERENCE_STEP, l.labels([]), step as f64);
        }
        for (profile, shares) in [
            ("neurons", &report.layer_share),
            ("heads", &report.head_layer_share),
        ] {
            for (layer, &share) in shares.iter().enumerate().take(MAX_SERIES_PER_FAMILY / 2) {
                f.push(
                    c::LAYER_SHARE,
                    l.labels([(c::PROFILE, s(profile)), (c::LAYER, layer.to_string())]),
                    share,
                );
            }
        }
        if let Some(stabilities) = &report.layer_stability {
            for (layer, &rho) in stabilities.iter().enumerate().take(MAX_SERIES_PER_FAMILY) {
                f.push(
                    c::LAYER_STABILITY_SPEARMAN,
                    l.labels([(c::BASELINE, s("previous")), (c::LAYER, layer.to_string())]),
                    rho,
                );
            }
        }
        if let Some(shares) = &report.expert_share {
            f.experts(l, shares, report.layer_share.len());
        }
        for (rank, head) in report.top_heads.iter().take(l.top_heads).enumerate() {
            f.push(
                c::TOP_HEAD_IMPORTANCE,
                l.labels([
                    (c::RANK, (rank + 1).to_string()),
                    (c::HEAD, head.unit.clone()),
                ]),
                f64::from(head.score),
            );
        }

        let overall = &report.readouts.overall;
        f.push(c::HIT, l.labels([(c::K, s("1"))]), overall.hit_at_1);
        f.push(c::HIT, l.labels([(c::K, s("10"))]), overall.hit_at_10);
        f.push(c::MRR, l.labels([]), overall.mrr);
        f.push(c::GOLD_LOGPROB, l.labels([]), overall.mean_gold_logprob);
        f.push(c::PROBES, l.labels([]), report.probes as f64);
        for (relation, r) in report.readouts.per_relation.iter().take(l.max_relations) {
            let rel = || (c::RELATION, relation.clone());
            f.push(
                c::RELATION_HIT,
                l.labels([rel(), (c::K, s("1"))]),
                r.hit_at_1,
            );
            f.push(
                c::RELATION_HIT,
                l.labels([rel(), (c::K, s("10"))]),
                r.hit_at_10,
            );
            f.push(c::RELATION_MRR, l.labels([rel()]), r.mrr);
            f.push(
                c::RELATION_GOLD_LOGPROB,
                l.labels([rel()]),
                r.mean_gold_logprob,
            );
            f.push(c::RELATION_PROBES, l.labels([rel()]), r.probes as f64);
        }

        if let Some(rob) = &report.robustness {
            for (masked, hit) in [
                ("none", rob.hit_at_10),
                ("top", rob.hit_at_10_top_masked),
                ("random", rob.hit_at_10_random_masked),
            ] {
                f.push(
                    c::MASKED_HIT,
                    l.labels([(c::K, s("10")), (c::MASKED, s(masked))]),
                    hit,
                );
            }
            for (masked, drop) in [("top", rob.top_drop), ("random", rob.random_drop)] {
                if let Some(drop) = drop {
                    f.push(
                        c::MASKED_HIT_DROP,
                        l.labels([(c::K, s("10")), (c::MASKED, s(masked))]),
                        drop,
                    );
                }
            }
        }
        if let Some(step) = report.consolidation_step {
            f.push(c::CONSOLIDATION_STEP, l.labels([]), step as f64);
        }
        f.push(
            c::STABILITY_STREAK,
            l.labels([]),
            report.stability_streak as f64,
        );
        f.push(
            c::DRIFTED,
            l.labels([]),
            if report.drifted { 1.0 } else { 0.0 },
        );
        f.push(
            c::PROBE_RUN_DURATION,
            l.labels([(c::PHASE, s("probe"))]),
            report.probe_seconds,
        );
        f.push(
            c::PROBE_RUN_DURATION,
            l.labels([(c::PHASE, s("analysis"))]),
            report.analysis_seconds,
        );
        f.push(c::LAST_REPORT_TIMESTAMP, l.labels([]), report.unix_time_s);
        f.push(c::LAST_PROBED_STEP, l.labels([]), report.step as f64);
        f.push(
            c::PROBE_INTERVAL_STEPS,
            l.labels([]),
            report.every_n_steps as f64,
        );
        f
    }

    fn summary(&mut self, l: &Labelling, profile: &str, summary: &ProfileSummary) {
        let p = || (c::PROFILE, profile.to_string());
        self.push(
            c::TOP_SHARE,
            l.labels([p(), (c::Q, l.q.clone())]),
            summary.top_share,
        );
        self.push(c::ENTROPY, l.labels([p()]), summary.entropy);
        self.push(c::GINI, l.labels([p()]), summary.gini);
    }

    fn stability(&mut self, l: &Labelling, baseline: &str, k: &str, st: &Stability) {
        let b = || (c::BASELINE, baseline.to_string());
        self.push(c::STABILITY_SPEARMAN, l.labels([b()]), st.spearman);
        self.push(
            c::STABILITY_JACCARD,
            l.labels([b(), (c::K, k.to_string())]),
            st.jaccard,
        );
        self.push(c::STABILITY_RBO, l.labels([b()]), st.rbo);
    }

    /// The largest expert shares of each layer, cut so that the family stays under
    /// [`MAX_SERIES_PER_FAMILY`] (64 layers: at most 29 experts each).
    fn experts(&mut self, l: &Labelling, shares: &[f64], layers: usize) {
        if layers == 0 || shares.is_empty() || !shares.len().is_multiple_of(layers) {
            return;
        }
        let experts = shares.len() / layers;
        let layers = layers.min(MAX_SERIES_PER_FAMILY);
        let per_layer = l
            .top_experts_per_layer
            .min(experts)
            .min(MAX_SERIES_PER_FAMILY / layers);
        for (layer, row) in shares.chunks_exact(experts).take(layers).enumerate() {
            let mut order: Vec<usize> = (0..experts).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            for &expert in &order[..per_layer] {
                self.push(
                    c::EXPERT_SHARE,
                    l.labels([
                        (c::LAYER, layer.to_string()),
                        (c::EXPERT, expert.to_string()),
                    ]),
                    row[expert],
                );
            }
        }
    }
}
