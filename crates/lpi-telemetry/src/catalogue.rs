//! The metric catalogue: the single source of truth for every metric family this crate exposes.
//!
//! Every [`MetricDef`] names the family exactly as it appears in the Prometheus exposition
//! (`/metrics`). The OpenTelemetry instrument behind it is named [`MetricDef::otel_name`]: the
//! Prometheus name without the unit suffix and without `_total`, because the
//! opentelemetry-prometheus exporter appends both (from the instrument's unit and for monotonic
//! sums) without checking whether they are already there. Registering `x_ratio` with unit `"1"`
//! would expose `x_ratio_ratio`; registering `x` with unit `"1"` exposes `x_ratio`.
//!
//! Conventions (Prometheus): one prefix `lpi_`, base units (seconds), `_ratio` for values in
//! 0..1 (unit `"1"`), `_total` for counters, bounded labels only. Dimensionless values that are
//! not 0..1 ratios (Spearman correlation in -1..1, log-probabilities, step numbers, Gated-LPI
//! scores) carry no unit and no suffix.

/// Whether a family is a gauge or a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A value that goes up and down; the latest probe run's value.
    Gauge,
    /// A monotonic count since the telemetry (or the hook) started; the name ends in `_total`.
    Counter,
}

impl MetricKind {
    /// The Prometheus `# TYPE` of the family.
    pub const fn prometheus_type(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        }
    }
}

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The exposed Prometheus name (prefix, unit suffix and `_total` included).
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// The UCUM unit given to the OpenTelemetry instrument: `"1"` for ratios, `"s"` for
    /// seconds, `""` for dimensionless values without a unit.
    pub unit: &'static str,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// The label keys of every series of the family, in order.
    pub labels: &'static [&'static str],
}

impl MetricDef {
    /// The suffix the exporter appends for [`Self::unit`] (`None` for no unit).
    pub const fn unit_suffix(&self) -> Option<&'static str> {
        match self.unit.as_bytes() {
            b"1" => Some("ratio"),
            b"s" => Some("seconds"),
            _ => None,
        }
    }

    /// The OpenTelemetry instrument name: [`Self::name`] without `_total` (counters) and
    /// without the unit suffix; the exporter puts both back.
    pub fn otel_name(&self) -> &'static str {
        let mut name = self.name;
        if self.kind == MetricKind::Counter {
            name = name.strip_suffix("_total").unwrap_or(name);
        }
        if let Some(suffix) = self.unit_suffix() {
            name = name
                .strip_suffix(suffix)
                .and_then(|n| n.strip_suffix('_'))
                .unwrap_or(name);
        }
        name
    }
}

/// Label key: the run name from the config.
pub const RUN: &str = "run";
/// Label key: the model architecture from the config.
pub const ARCH: &str = "arch";
/// Label key: which profile, `neurons` or `heads`.
pub const PROFILE: &str = "profile";
/// Label key: the top fraction `q` of the top-q share (as configured in the hook).
pub const Q: &str = "q";
/// Label key: a top-k size (Jaccard's k, HIT@k's k).
pub const K: &str = "k";
/// Label key: what a stability compares against, `previous` or `reference`.
pub const BASELINE: &str = "baseline";
/// Label key: 0-based layer index.
pub const LAYER: &str = "layer";
/// Label key: 0-based expert index within its layer.
pub const EXPERT: &str = "expert";
/// Label key: probe relation name.
pub const RELATION: &str = "relation";
/// Label key: 1-based rank among the top heads.
pub const RANK: &str = "rank";
/// Label key: canonical head id, `l3.h2`.
pub const HEAD: &str = "head";
/// Label key: which heads were zeroed, `none`, `top` or `random`.
pub const MASKED: &str = "masked";
/// Label key: which part of a probe run, `probe` (training thread) or `analysis` (worker).
pub const PHASE: &str = "phase";

const RA: &[&str] = &[RUN, ARCH];

macro_rules! def {
    ($id:ident, $name:literal, $kind:ident, $unit:literal, $labels:expr, $help:literal) => {
        #[doc = concat!("`", $name, "`: ", $help)]
        pub const $id: MetricDef = MetricDef {
            name: $name,
            help: $help,
            unit: $unit,
            kind: MetricKind::$kind,
            labels: $labels,
        };
    };
}

def!(
    TOP_SHARE,
    "lpi_top_share_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, PROFILE, Q],
    "Share of the positive Gated-LPI mass held by the top-q fraction of units."
);
def!(
    POSITIVE_UPDATES_TOP_SHARE,
    "lpi_positive_updates_top_share_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, Q],
    "Top-q share of the positive importance updates accumulated over the series."
);
def!(
    ENTROPY,
    "lpi_entropy_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, PROFILE],
    "Normalised entropy of the positive importance mass (1 = spread evenly over all units)."
);
def!(
    GINI,
    "lpi_gini_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, PROFILE],
    "Gini coefficient of the positive importance mass over all units."
);
def!(
    STABILITY_SPEARMAN,
    "lpi_stability_spearman",
    Gauge,
    "",
    &[RUN, ARCH, BASELINE],
    "Spearman rank correlation (-1..1) of the neuron profile against a baseline run."
);
def!(
    STABILITY_JACCARD,
    "lpi_stability_jaccard_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, BASELINE, K],
    "Jaccard overlap of the top-k neuron sets against a baseline run."
);
def!(
    STABILITY_RBO,
    "lpi_stability_rbo_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, BASELINE],
    "Rank-biased overlap of the neuron rankings against a baseline run."
);
def!(
    REFERENCE_STEP,
    "lpi_reference_step",
    Gauge,
    "",
    RA,
    "Optimizer step of the reference run the reference stability compares against."
);
def!(
    LAYER_SHARE,
    "lpi_layer_share_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, PROFILE, LAYER],
    "Each layer's share of the positive importance mass."
);
def!(
    LAYER_STABILITY_SPEARMAN,
    "lpi_layer_stability_spearman",
    Gauge,
    "",
    &[RUN, ARCH, BASELINE, LAYER],
    "Spearman rank correlation (-1..1) of each layer's neurons against the previous run."
);
def!(
    EXPERT_SHARE,
    "lpi_expert_share_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, LAYER, EXPERT],
    "Share of the positive neuron mass held by an expert, for the top experts of each layer (MoE only)."
);
def!(
    TOP_HEAD_IMPORTANCE,
    "lpi_top_head_importance",
    Gauge,
    "",
    &[RUN, ARCH, RANK, HEAD],
    "Gated-LPI importance of the most important heads, by rank."
);
def!(
    HIT,
    "lpi_hit_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, K],
    "Fraction of probes whose gold token is among the top-k predictions (HIT@k), over all probes."
);
def!(
    MRR,
    "lpi_mrr_ratio",
    Gauge,
    "1",
    RA,
    "Mean reciprocal rank of the gold token, over all probes."
);
def!(
    GOLD_LOGPROB,
    "lpi_gold_logprob",
    Gauge,
    "",
    RA,
    "Mean natural-log probability of the gold token, over all probes."
);
def!(
    PROBES,
    "lpi_probes",
    Gauge,
    "",
    RA,
    "Probes scored in the latest probe run."
);
def!(
    RELATION_HIT,
    "lpi_relation_hit_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, RELATION, K],
    "HIT@k of the probes of one relation."
);
def!(
    RELATION_MRR,
    "lpi_relation_mrr_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, RELATION],
    "Mean reciprocal rank of the gold token for the probes of one relation."
);
def!(
    RELATION_GOLD_LOGPROB,
    "lpi_relation_gold_logprob",
    Gauge,
    "",
    &[RUN, ARCH, RELATION],
    "Mean natural-log probability of the gold token for the probes of one relation."
);
def!(
    RELATION_PROBES,
    "lpi_relation_probes",
    Gauge,
    "",
    &[RUN, ARCH, RELATION],
    "Probes of one relation scored in the latest probe run."
);
def!(
    MASKED_HIT,
    "lpi_masked_hit_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, K, MASKED],
    "HIT@10 of the latest head-masking check: intact (none), top heads zeroed, random heads zeroed."
);
def!(
    MASKED_HIT_DROP,
    "lpi_masked_hit_drop_ratio",
    Gauge,
    "1",
    &[RUN, ARCH, K, MASKED],
    "Relative HIT@10 drop when the top or the random heads are zeroed, (intact - masked) / intact."
);
def!(
    CONSOLIDATION_STEP,
    "lpi_consolidation_step",
    Gauge,
    "",
    RA,
    "First step after which stability against the previous run stayed at or above tau (absent before)."
);
def!(
    STABILITY_STREAK,
    "lpi_stability_streak",
    Gauge,
    "",
    RA,
    "Consecutive probe runs, ending with the latest, at or above the consolidation threshold tau."
);
def!(
    DRIFTED,
    "lpi_drifted",
    Gauge,
    "",
    RA,
    "1 when the profile had consolidated and the latest run fell below tau, else 0."
);
def!(
    PROBE_RUN_DURATION,
    "lpi_probe_run_duration_seconds",
    Gauge,
    "s",
    &[RUN, ARCH, PHASE],
    "Wall time of the latest probe run: probe (training thread) and analysis (background worker)."
);
def!(
    LAST_REPORT_TIMESTAMP,
    "lpi_last_report_timestamp_seconds",
    Gauge,
    "s",
    RA,
    "Unix time of the latest probe run."
);
def!(
    LAST_PROBED_STEP,
    "lpi_last_probed_step",
    Gauge,
    "",
    RA,
    "The last optimizer step probed successfully."
);
def!(
    PROBE_INTERVAL_STEPS,
    "lpi_probe_interval_steps",
    Gauge,
    "",
    RA,
    "Probe cadence in effect, in optimizer steps."
);
def!(
    RUNS,
    "lpi_probe_runs_total",
    Counter,
    "",
    RA,
    "Probe runs analysed and received by the telemetry."
);
def!(
    FAILURES,
    "lpi_probe_failures_total",
    Counter,
    "",
    RA,
    "Probe runs that failed (diverged model, attribution error)."
);
def!(
    DROPPED_RUNS,
    "lpi_dropped_runs_total",
    Counter,
    "",
    RA,
    "Probe runs dropped because the hook's worker queue was full."
);
def!(
    WRITE_ERRORS,
    "lpi_write_errors_total",
    Counter,
    "",
    RA,
    "Failed writes to the hook's run directory."
);
def!(
    OBSERVER_PANICS,
    "lpi_observer_panics_total",
    Counter,
    "",
    RA,
    "Observers of the hook that panicked and were removed."
);
def!(
    EXPORT_ERRORS,
    "lpi_export_errors_total",
    Counter,
    "",
    RA,
    "Telemetry export errors: failed OTLP pushes, failed /metrics encodings or server, and probe runs that could not be recorded."
);
def!(
    HOOK_TRAINING_THREAD,
    "lpi_hook_training_thread_seconds_total",
    Counter,
    "s",
    RA,
    "Training-thread time spent in the hook (probe work and hand-over)."
);
def!(
    HOOK_WORKER_BUSY,
    "lpi_hook_worker_busy_seconds_total",
    Counter,
    "s",
    RA,
    "Time the hook's background worker spent on statistics, writes and observers."
);

/// Every family, in exposition-table order.
pub const ALL: &[MetricDef] = &[
    TOP_SHARE,
    POSITIVE_UPDATES_TOP_SHARE,
    ENTROPY,
    GINI,
    STABILITY_SPEARMAN,
    STABILITY_JACCARD,
    STABILITY_RBO,
    REFERENCE_STEP,
    LAYER_SHARE,
    LAYER_STABILITY_SPEARMAN,
    EXPERT_SHARE,
    TOP_HEAD_IMPORTANCE,
    HIT,
    MRR,
    GOLD_LOGPROB,
    PROBES,
    RELATION_HIT,
    RELATION_MRR,
    RELATION_GOLD_LOGPROB,
    RELATION_PROBES,
    MASKED_HIT,
    MASKED_HIT_DROP,
    CONSOLIDATION_STEP,
    STABILITY_STREAK,
    DRIFTED,
    PROBE_RUN_DURATION,
    LAST_REPORT_TIMESTAMP,
    LAST_PROBED_STEP,
    PROBE_INTERVAL_STEPS,
    RUNS,
    FAILURES,
    DROPPED_RUNS,
    WRITE_ERRORS,
    OBSERVER_PANICS,
    EXPORT_ERRORS,
    HOOK_TRAINING_THREAD,
    HOOK_WORKER_BUSY,
];

/// The catalogue as a Markdown table (name, type, unit, labels, help), for the README.
pub fn markdown_table() -> String {
    let mut out = String::from("| Name | Type | Unit | Labels | Help |\n|---|---|---|---|---|\n");
    for def in ALL {
        let unit = if def.unit.is_empty() { "-" } else { def.unit };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            def.name,
            def.kind.prometheus_type(),
            unit,
            def.labels.join(", "),
            def.help
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_follow_the_conventions() {
        let mut seen = HashSet::new();
        for def in ALL {
            assert!(seen.insert(def.name), "{} twice", def.name);
            assert!(def.name.starts_with("lpi_"), "{}", def.name);
            assert!(
                def.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                def.name
            );
            assert_eq!(
                def.kind == MetricKind::Counter,
                def.name.ends_with("_total"),
                "{}",
                def.name
            );
            assert_eq!(def.unit == "1", def.name.contains("_ratio"), "{}", def.name);
            if let Some(suffix) = def.unit_suffix() {
                let stem = def.name.strip_suffix("_total").unwrap_or(def.name);
                assert!(stem.ends_with(&format!("_{suffix}")), "{}", def.name);
            }
            assert_eq!(&def.labels[..2], &[RUN, ARCH], "{}", def.name);
            assert!(!def.help.is_empty());
        }
    }

    #[test]
    fn otel_names_strip_what_the_exporter_appends() {
        assert_eq!(TOP_SHARE.otel_name(), "lpi_top_share");
        assert_eq!(HOOK_TRAINING_THREAD.otel_name(), "lpi_hook_training_thread");
        assert_eq!(RUNS.otel_name(), "lpi_probe_runs");
        assert_eq!(STABILITY_SPEARMAN.otel_name(), "lpi_stability_spearman");
        for def in ALL {
            let mut exposed = def.otel_name().to_string();
            if let Some(s) = def.unit_suffix() {
                exposed = format!("{exposed}_{s}");
            }
            if def.kind == MetricKind::Counter {
                exposed.push_str("_total");
            }
            assert_eq!(exposed, def.name);
        }
    }

    #[test]
    fn the_table_lists_every_family() {
        let table = markdown_table();
        assert_eq!(table.lines().count(), ALL.len() + 2);
        for def in ALL {
            assert!(table.contains(&format!("`{}`", def.name)));
        }
    }
}
