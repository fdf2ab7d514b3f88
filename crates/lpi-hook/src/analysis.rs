//! The worker half of a probe run: every statistic of DESIGN.md 2.4 from the host profile and
//! the series so far.

use std::ops::Range;
use std::time::Instant;

use lpi_attribution::UnitLayout;
use lpi_probes::readouts;
use lpi_stats::{
    Consolidation, GroupRanks, PositiveUpdates, RankedProfile, default_rbo_persistence,
    group_shares, group_spearman, stability, summarize, top_k_count,
};

use crate::probe_run::{ProbeRunRecord, top_order};
use crate::report::{ProbeRunReport, Robustness, UnitScore};

/// Units listed in a report's top neurons and heads.
const TOP_UNITS: usize = 10;
/// Points of the reported Lorenz curve.
const LORENZ_POINTS: usize = 21;

/// Parameters of the statistics, from the hook config.
#[derive(Debug, Clone)]
pub(crate) struct AnalysisSettings {
    pub q: f64,
    /// A fresh tracker with the configured threshold and window.
    pub consolidation: Consolidation,
    pub reference_step: Option<u64>,
    pub relation_of: Vec<Option<usize>>,
    pub relations: Vec<String>,
}

/// One profile kept for comparisons, ranked once.
#[derive(Clone)]
pub(crate) struct KeptProfile {
    pub step: u64,
    pub neurons: Vec<f32>,
    pub heads: Vec<f32>,
    pub ranked: RankedProfile,
    /// Ranks within each layer.
    pub layer_ranks: GroupRanks,
}

impl KeptProfile {
    pub(crate) fn new(step: u64, neurons: Vec<f32>, heads: Vec<f32>, layout: &UnitLayout) -> Self {
        let ranked = RankedProfile::new(&neurons);
        let layer_ranks = ranked.group_ranks(&layer_groups(layout));
        Self {
            step,
            neurons,
            heads,
            ranked,
            layer_ranks,
        }
    }
}

/// The series: what each run is compared with, and what accumulates over runs.
pub(crate) struct Series {
    pub layout: UnitLayout,
    pub runs: u64,
    pub previous: Option<KeptProfile>,
    pub reference: Option<KeptProfile>,
    pub updates: PositiveUpdates,
    pub consolidation: Consolidation,
}

impl Series {
    pub(crate) fn new(layout: UnitLayout, settings: &AnalysisSettings) -> Self {
        Self {
            layout,
            runs: 0,
            previous: None,
            reference: None,
            updates: PositiveUpdates::new(),
            consolidation: settings.consolidation.clone(),
        }
    }

    /// Computes the run's report and moves the series on by one run.
    pub(crate) fn analyse(
        &mut self,
        record: ProbeRunRecord,
        settings: &AnalysisSettings,
    ) -> ProbeRunReport {
        let started = Instant::now();
        let layout = self.layout;
        let neurons = &record.neurons;
        let current = RankedProfile::new(neurons);
        let k = top_k_count(neurons.len(), settings.q);
        let p = default_rbo_persistence(k);
        let compare = |other: &KeptProfile| stability(&current, &other.ranked, k, p);
        let vs_previous = self.previous.as_ref().map(compare);
        let vs_reference = self.reference.as_ref().map(compare);
        let layers = layer_groups(&layout);
        let layer_ranks = current.group_ranks(&layers);
        let layer_stability = self
            .previous
            .as_ref()
            .map(|prev| group_spearman(&layer_ranks, &prev.layer_ranks));

        self.updates.update(neurons);
        let positive_updates_top_share =
            (self.updates.runs() > 1).then(|| self.updates.top_share(settings.q));
        let consolidation_step = match vs_previous {
            Some(s) => self.consolidation.observe(record.step, s.spearman),
            None => self.consolidation.consolidated_at(),
        };

        let expert_share = (layout.experts > 1).then(|| {
            group_shares(
                neurons,
                &groups(layout.layers * layout.experts, layout.neurons_per_expert),
            )
        });
        let robustness = record.robustness.as_ref().map(|hits| Robustness {
            top_heads: hits.top_heads.iter().map(|u| u.to_string()).collect(),
            random_heads: hits.random_heads.iter().map(|u| u.to_string()).collect(),
            hit_at_10: hits.base,
            hit_at_10_top_masked: hits.top_masked,
            hit_at_10_random_masked: hits.random_masked,
            top_drop: Robustness::relative_drop(hits.base, hits.top_masked),
            random_drop: Robustness::relative_drop(hits.base, hits.random_masked),
        });
        let report = ProbeRunReport {
            run: self.runs + 1,
            step: record.step,
            unix_time_s: record.unix_time_s,
            probe_seconds: record.probe_seconds,
            analysis_seconds: 0.0,
            every_n_steps: record.every_n_steps,
            probes: record.gold.len(),
            readouts: readouts(
                &record.gold.ranks,
                &record.gold.logprobs,
                &settings.relation_of,
                &settings.relations,
            ),
            neurons: current.summary(settings.q),
            heads: summarize(&record.heads, settings.q),
            positive_updates_top_share,
            vs_previous,
            vs_reference,
            reference_step: None,
            layer_stability,
            layer_share: group_shares(neurons, &layers),
            expert_share,
            head_layer_share: group_shares(&record.heads, &groups(layout.layers, layout.heads)),
            top_heads: top_units(&record.heads, |i| layout.head(i).to_string()),
            top_neurons: top_units(neurons, |i| layout.neuron(i).to_string()),
            lorenz: current
                .lorenz_curve(LORENZ_POINTS)
                .into_iter()
                .map(|pt| (pt.population, pt.mass))
                .collect(),
            consolidation_step,
            stability_streak: self.consolidation.streak(),
            drifted: self.consolidation.drifted(),
            robustness,
        };

        self.runs += 1;
        let kept = KeptProfile {
            step: record.step,
            neurons: record.neurons,
            heads: record.heads,
            ranked: current,
            layer_ranks,
        };
        let becomes_reference =
            self.reference.is_none() && settings.reference_step.is_none_or(|at| record.step >= at);
        if becomes_reference {
            self.reference = Some(kept.clone());
        }
        self.previous = Some(kept);
        ProbeRunReport {
            reference_step: self.reference.as_ref().map(|r| r.step),
            analysis_seconds: started.elapsed().as_secs_f64(),
            ..report
        }
    }
}

/// `count` consecutive ranges of `size` units.
fn groups(count: usize, size: usize) -> Vec<Range<usize>> {
    (0..count).map(|g| g * size..(g + 1) * size).collect()
}

/// Each layer's neurons.
fn layer_groups(layout: &UnitLayout) -> Vec<Range<usize>> {
    groups(layout.layers, layout.experts * layout.neurons_per_expert)
}

/// The [`TOP_UNITS`] largest scores, largest first (ties: lower index first).
fn top_units(profile: &[f32], name: impl Fn(usize) -> String) -> Vec<UnitScore> {
    top_order(profile, TOP_UNITS)
        .into_iter()
        .map(|i| UnitScore {
            unit: name(i),
            score: profile[i],
        })
        .collect()
}
