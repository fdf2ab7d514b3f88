//! The training-thread half of a probe run: the device work and one copy to the host.

use std::time::Instant;

use burn::tensor::Device;
use lpi_attribution::{
    AttributionError, GatedLpi, GatedLpiScores, GoldReadout, HeadMasking, ProbeBatch, UnitId,
    UnitLayout,
};

use crate::hook::ProbedModel;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Why a probe run produced no profile.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeFailure {
    /// Non-finite values, a misfit probe, inconsistent capture.
    #[error(transparent)]
    Attribution(#[from] AttributionError),
    /// The backend panicked during the probe forward (out of memory, a shape assertion).
    #[error("the probe run panicked: {0}")]
    Panic(String),
}

/// The model's units, from a capture of one probe (at build time, to compare with a saved
/// series).
pub(crate) fn model_layout<M: ProbedModel>(
    model: &M,
    batch: &ProbeBatch,
) -> Result<UnitLayout, AttributionError> {
    let one = ProbeBatch::new(
        batch.prompts()[..1].to_vec(),
        batch.positions()[..1].to_vec(),
        batch.targets()[..1].to_vec(),
    )?;
    let model = model.valid();
    let device = model_device(&model);
    model
        .capture(one.tokens(&device), one.positions())
        .validate(1)
}

/// The device the model's weights live on.
pub(crate) fn model_device<M: ProbedModel>(model: &M) -> Device {
    model.devices().into_iter().next().unwrap_or_default()
}

/// HIT@k of the robustness readout.
const ROBUSTNESS_K: u32 = 10;

/// What the training thread hands to the worker: host vectors only.
#[derive(Debug, Clone)]
pub(crate) struct ProbeRunRecord {
    pub step: u64,
    pub unix_time_s: f64,
    pub probe_seconds: f64,
    pub every_n_steps: u64,
    pub layout: UnitLayout,
    /// Neuron profile (reduced over probes), canonical order.
    pub neurons: Vec<f32>,
    /// Head profile (reduced over probes), canonical order.
    pub heads: Vec<f32>,
    pub gold: GoldReadout,
    pub robustness: Option<MaskedHits>,
}

/// HIT@10 of the intact model and with two sets of heads zeroed.
#[derive(Debug, Clone)]
pub(crate) struct MaskedHits {
    pub top_heads: Vec<UnitId>,
    pub random_heads: Vec<UnitId>,
    pub base: f64,
    pub top_masked: f64,
    pub random_masked: f64,
}

/// Scores every probe batch and sums the scores into one profile.
pub(crate) fn attribute_all<M: HeadMasking>(
    model: &M,
    batches: &[ProbeBatch],
    attribution: &GatedLpi,
    device: &Device,
) -> Result<GatedLpiScores, AttributionError> {
    let mut total: Option<GatedLpiScores> = None;
    for batch in batches {
        let scores = attribution.attribute(model, batch, device)?;
        match total.as_mut() {
            None => total = Some(scores),
            Some(total) => total.merge(scores)?,
        }
    }
    let total = total.ok_or(AttributionError::EmptyBatch)?;
    let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
    if !finite(&total.neuron_sum) || !finite(&total.head_sum) {
        return Err(AttributionError::NonFinite {
            site: "gated-lpi scores".into(),
        });
    }
    Ok(total)
}

/// HIT@10 over all batches with `heads` zeroed.
pub(crate) fn masked_hit_at_10<M: HeadMasking>(
    model: &M,
    batches: &[ProbeBatch],
    heads: &[UnitId],
    device: &Device,
) -> f64 {
    let mut gold = GoldReadout::default();
    for batch in batches {
        let logits = model.logits_without_heads(batch.tokens(device), batch.positions(), heads);
        gold.extend(GoldReadout::from_logits(logits, batch.targets()));
    }
    gold.hit_at(ROBUSTNESS_K)
}

/// The robustness readout: the `count` most important heads by the head profile of `scores`
/// (the same probes, intact model), against a fixed-seed random draw of as many heads, capped
/// at half the model's heads.
pub(crate) fn measure_robustness<M: HeadMasking>(
    model: &M,
    batches: &[ProbeBatch],
    scores: &GatedLpiScores,
    count: usize,
    seed: u64,
    device: &Device,
) -> Option<MaskedHits> {
    let layout = &scores.layout;
    let head_profile = scores.head_profile();
    let total = layout.num_heads();
    let count = count.min(total / 2);
    if count == 0 {
        return None;
    }
    let top_heads: Vec<UnitId> = top_order(&head_profile, count)
        .into_iter()
        .map(|i| layout.head(i))
        .collect();
    let random_heads = random_heads(layout, count, seed);
    let started = Instant::now();
    // All three through the model's own forward pass (LPI's readout drops biases), so the drop
    // compares like with like.
    let hits = MaskedHits {
        base: masked_hit_at_10(model, batches, &[], device),
        top_masked: masked_hit_at_10(model, batches, &top_heads, device),
        random_masked: masked_hit_at_10(model, batches, &random_heads, device),
        top_heads,
        random_heads,
    };
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "head masking measured"
    );
    Some(hits)
}

/// Indices of the `k` largest values, largest first; ties go to the lower index.
pub(crate) fn top_order(values: &[f32], k: usize) -> Vec<usize> {
    let k = k.min(values.len());
    if k == 0 {
        return Vec::new();
    }
    let by_value = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]).then(a.cmp(b));
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.select_nth_unstable_by(k - 1, by_value);
    order.truncate(k);
    order.sort_by(by_value);
    order
}

/// `count` distinct heads drawn with `seed`: the same heads at every run of a series.
pub(crate) fn random_heads(layout: &UnitLayout, count: usize, seed: u64) -> Vec<UnitId> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, layout.num_heads(), count).into_vec();
    picked.sort_unstable();
    picked.into_iter().map(|i| layout.head(i)).collect()
}
