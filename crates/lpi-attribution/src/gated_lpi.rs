//! Exact, batched Gated-LPI on burn tensors (DESIGN.md 2.2 and 2.3).
//!
//! For a unit that adds `c u` to a residual `h` (a neuron: `c` its coefficient, times the router
//! gate inside the perturbation, `u` its `W_down` row; a head: `c = 1`, `u` its output), read out
//! through the final norm `N` and unembedding `W_U`:
//!
//! ```text
//! logits(h + c u) = a z + b m,   z = W_U (gamma * C(h)),   m = W_U (gamma * C(u)),
//! a = 1 / r,   b = c / r
//! ```
//!
//! with `C` the norm's centring (identity for RMSNorm) and `r` the norm statistic: frozen at the
//! real final residual's (`NormStatistic::Fixed`) or recomputed on `h + c u`, which only needs
//! `|C(h)|^2`, `C(h).C(u)` and `|C(u)|^2`. So
//!
//! `Gated-LPI = a z[y] + b m[y] - LSE(a z + b m) - (log p(y | h))`
//!
//! where the `m` columns of a layer's neurons (`W_U diag(gamma) W_down`) are computed once per
//! chunk of neurons and shared by every probe, and the log-sum-exp runs on the fused kernel of
//! [`crate::lse`] or on burn tensor operations. Nothing loops over single neurons.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rayon::prelude::*;

use crate::capture::{
    Attributable, FfnCapture, ModelCapture, ProbeBatch, Readout, float_values, int_values,
};
use crate::config::{
    GatePlacement, GatedLpiConfig, LseKernel, NeuronBaseline, NormStatistic, ProbeReduction,
    TargetChoice,
};
use crate::error::AttributionError;
use crate::knowledge::GoldReadout;
use crate::lse::{BaselineRow, UnitColumn, lse_affine};
use crate::unit::UnitLayout;

/// Per-probe scores, `[probes, units]` row-major in canonical unit order.
#[derive(Debug, Clone, PartialEq)]
pub struct PerProbeScores {
    /// Neuron scores, `probes x layout.num_neurons()`.
    pub neurons: Vec<f32>,
    /// Head scores, `probes x layout.num_heads()`.
    pub heads: Vec<f32>,
}

/// The Gated-LPI scores of one probe batch.
#[derive(Debug, Clone, PartialEq)]
pub struct GatedLpiScores {
    /// The model's units.
    pub layout: UnitLayout,
    /// Probes scored.
    pub probes: usize,
    /// The token scored for each probe (gold or the model's top-1).
    pub targets: Vec<u32>,
    /// The model's log-probability of each probe's scored token.
    pub target_logprobs: Vec<f32>,
    /// Sum over probes of every neuron's score, canonical order.
    pub neuron_sum: Vec<f32>,
    /// Sum over probes of every head's score, canonical order.
    pub head_sum: Vec<f32>,
    /// The gold token's rank and log-probability per probe (knowledge readouts), whatever
    /// token is scored.
    pub gold: GoldReadout,
    /// Every probe's scores, when `keep_per_probe` was set.
    pub per_probe: Option<PerProbeScores>,
    /// How [`Self::neuron_profile`] and [`Self::head_profile`] reduce over probes.
    pub reduction: ProbeReduction,
}

impl GatedLpiScores {
    /// One signed score per neuron, reduced over probes as configured.
    pub fn neuron_profile(&self) -> Vec<f32> {
        self.reduce(&self.neuron_sum)
    }

    /// One signed score per head, reduced over probes as configured.
    pub fn head_profile(&self) -> Vec<f32> {
        self.reduce(&self.head_sum)
    }

    /// Adds the scores of another batch of probes over the same model, as if both batches had
    /// been scored together.
    pub fn merge(&mut self, other: GatedLpiScores) -> Result<(), AttributionError> {
        if other.layout != self.layout {
            return Err(AttributionError::ShapeMismatch {
                site: "merged scores (neurons, heads)".into(),
                expected: vec![self.layout.num_neurons(), self.layout.num_heads()],
                found: vec![other.layout.num_neurons(), other.layout.num_heads()],
            });
        }
        self.probes += other.probes;
        self.targets.extend(other.targets);
        self.target_logprobs.extend(other.target_logprobs);
        self.gold.extend(other.gold);
        for (a, b) in self.neuron_sum.iter_mut().zip(&other.neuron_sum) {
            *a += b;
        }
        for (a, b) in self.head_sum.iter_mut().zip(&other.head_sum) {
            *a += b;
        }
        self.per_probe = match (self.per_probe.take(), other.per_probe) {
            (Some(mut a), Some(b)) => {
                a.neurons.extend(b.neurons);
                a.heads.extend(b.heads);
                Some(a)
            }
            _ => None,
        };
        Ok(())
    }

    fn reduce(&self, sums: &[f32]) -> Vec<f32> {
        match self.reduction {
            ProbeReduction::Sum => sums.to_vec(),
            ProbeReduction::Mean => {
                let n = self.probes as f32;
                sums.iter().map(|s| s / n).collect()
            }
        }
    }
}

/// Computes Gated-LPI for every neuron and head of a model over a probe batch.
#[derive(Debug, Clone)]
pub struct GatedLpi {
    config: GatedLpiConfig,
}

impl GatedLpiConfig {
    /// Builds the attribution engine.
    pub fn init(&self) -> GatedLpi {
        GatedLpi {
            config: self.clone(),
        }
    }
}

impl GatedLpi {
    /// The configuration in use.
    pub fn config(&self) -> &GatedLpiConfig {
        &self.config
    }

    /// Runs the model on the probes and scores every unit.
    ///
    /// `model` is the inference model (`model.valid()` during training); `device` is where its
    /// weights live.
    pub fn attribute<M: Attributable>(
        &self,
        model: &M,
        probes: &ProbeBatch,
        device: &Device,
    ) -> Result<GatedLpiScores, AttributionError> {
        probes.check_fits(model.vocab_size(), model.context_length())?;
        let capture = model.capture(probes.tokens(device), probes.positions());
        self.attribute_capture(&capture, probes.targets())
    }

    /// Scores every unit from an existing capture with the given gold targets.
    pub fn attribute_capture(
        &self,
        capture: &ModelCapture,
        gold_targets: &[u32],
    ) -> Result<GatedLpiScores, AttributionError> {
        let probes = gold_targets.len();
        if probes == 0 {
            return Err(AttributionError::EmptyBatch);
        }
        let layout = capture.validate(probes)?;
        let readout = ReadoutMap::new(&capture.readout);
        let device = capture.final_residual.device();
        for (probe, &t) in gold_targets.iter().enumerate() {
            if t as usize >= readout.vocab {
                return Err(AttributionError::TokenOutOfVocabulary {
                    probe,
                    what: "target",
                    token: t,
                    vocab: readout.vocab,
                });
            }
        }

        let final_stat = readout.statistic(capture.final_residual.clone());
        let final_logits =
            readout.project(capture.final_residual.clone()) / final_stat.clone().unsqueeze_dim(1);
        let targets: Vec<u32> = match self.config.target {
            TargetChoice::Gold => gold_targets.to_vec(),
            TargetChoice::ModelTop1 => int_values(final_logits.clone().argmax(1))
                .into_iter()
                .map(|t| t as u32)
                .collect(),
        };
        let target_ids = Tensor::<1, Int>::from_data(
            TensorData::new(targets.iter().map(|&t| t as i64).collect(), [probes]),
            &device,
        );
        let gold = GoldReadout::from_logits(final_logits.clone(), gold_targets);
        let target_logprobs = match self.config.target {
            // The gold readout already holds them: no second softmax over the vocabulary.
            TargetChoice::Gold => gold.logprobs.clone(),
            TargetChoice::ModelTop1 => float_values(
                log_softmax(final_logits, 1)
                    .gather(1, target_ids.clone().unsqueeze_dim(1))
                    .squeeze_dim::<1>(1),
            ),
        };

        let mut out = ScoreAccumulator::new(layout, probes, self.config.keep_per_probe);
        let scorer = Scorer {
            config: &self.config,
            readout: &readout,
            target_ids: &target_ids,
            final_stat: &final_stat,
            fused: self.uses_fused_kernel(&device),
        };
        for (l, layer) in capture.layers.iter().enumerate() {
            let head_base = scorer.baseline(layer.layer_input.clone());
            let heads = scorer.score_heads(&head_base, layer.head_outputs.clone());
            out.add_heads(l, &heads);

            let neuron_base = match self.config.baseline {
                NeuronBaseline::PostAttention => scorer.baseline(layer.post_attention.clone()),
                NeuronBaseline::LayerInput => head_base,
            };
            match &layer.ffn {
                FfnCapture::Dense {
                    coefficients,
                    write_out,
                } => {
                    let all: Vec<usize> = (0..probes).collect();
                    scorer.score_expert(
                        &neuron_base,
                        &all,
                        coefficients.clone(),
                        None,
                        write_out.clone(),
                        |start, rows, scores| out.add_neurons(l, 0, start, rows, scores),
                    );
                }
                FfnCapture::Moe {
                    experts,
                    gates,
                    coefficients,
                    write_out,
                    ..
                } => {
                    let [_, top_k] = experts.dims();
                    let [_, _, n] = coefficients.dims();
                    let chosen = int_values(experts.clone());
                    let flat_coefficients = coefficients.clone().reshape([probes * top_k, n]);
                    let flat_gates = gates.clone().reshape([probes * top_k]);
                    for e in 0..layout.experts {
                        // (probe, slot) pairs routed to expert e, as rows of the flat tensors.
                        let slots: Vec<usize> = chosen
                            .iter()
                            .enumerate()
                            .filter(|&(_, &c)| c as usize == e)
                            .map(|(slot, _)| slot)
                            .collect();
                        if slots.is_empty() {
                            continue; // non-routed expert: every score is exactly 0
                        }
                        let rows: Vec<usize> = slots.iter().map(|s| s / top_k).collect();
                        let slot_ids = index_tensor(&slots, &device);
                        let w = write_out
                            .clone()
                            .narrow(0, e, 1)
                            .reshape([n, readout.d_model]);
                        scorer.score_expert(
                            &neuron_base,
                            &rows,
                            flat_coefficients.clone().select(0, slot_ids.clone()),
                            Some(flat_gates.clone().select(0, slot_ids)),
                            w,
                            |start, rows, scores| out.add_neurons(l, e, start, rows, scores),
                        );
                    }
                }
            }
        }

        Ok(out.finish(targets, target_logprobs, gold, self.config.reduction))
    }

    fn uses_fused_kernel(&self, device: &Device) -> bool {
        match self.config.kernel {
            LseKernel::Fused => true,
            LseKernel::Tensor => false,
            LseKernel::Auto => device.clone().inner() == Device::flex(),
        }
    }
}

/// The final norm and unembedding, in the `z = W_U (gamma * C(x))` form.
pub(crate) struct ReadoutMap {
    /// `diag(gamma) W_U`, `[d_model, vocab]`: one matmul maps a centred vector to raw logits.
    scaled_unembedding: Tensor<2>,
    centres: bool,
    epsilon: f64,
    d_model: usize,
    vocab: usize,
}

impl ReadoutMap {
    fn new(readout: &Readout) -> Self {
        let [d_model, vocab] = readout.unembedding.dims();
        let scaled_unembedding = match readout.norm.gain() {
            Some(gain) => readout.unembedding.clone() * gain.clone().unsqueeze_dim(1),
            None => readout.unembedding.clone(),
        };
        Self {
            scaled_unembedding,
            centres: readout.norm.centres(),
            epsilon: readout.norm.epsilon(),
            d_model,
            vocab,
        }
    }

    /// `C(x)` over the last dimension.
    fn centre<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.centres {
            let mean = x.clone().mean_dim(D - 1);
            x - mean
        } else {
            x
        }
    }

    /// Raw logits `W_U (gamma * C(x))` of rows `[R, d] -> [R, V]`.
    fn project(&self, x: Tensor<2>) -> Tensor<2> {
        self.centre(x).matmul(self.scaled_unembedding.clone())
    }

    /// Norm statistic `sqrt(mean(C(x)^2) + eps)` of rows `[R, d] -> [R]`.
    fn statistic(&self, x: Tensor<2>) -> Tensor<1> {
        (self.centre(x).square().mean_dim(1) + self.epsilon)
            .sqrt()
            .squeeze_dim(1)
    }
}

/// The residual a group of units writes into, read out once per layer.
struct Baseline {
    /// `C(h)`, `[P, d]`.
    centred: Tensor<2>,
    /// `|C(h)|^2`, `[P]`.
    sq_norm: Tensor<1>,
    /// Raw logits `z`, `[P, V]`.
    logits: Tensor<2>,
    /// The same on the host, for the fused kernel.
    host_logits: Option<Vec<f32>>,
    /// The statistic that reads the unperturbed residual out, `[P]`.
    statistic: Tensor<1>,
    /// `z[y]` per probe, `[P]`.
    target_logit: Tensor<1>,
    /// `log p(y | h)`, `[P]`.
    logprob: Tensor<1>,
}

struct Scorer<'a> {
    config: &'a GatedLpiConfig,
    readout: &'a ReadoutMap,
    target_ids: &'a Tensor<1, Int>,
    final_stat: &'a Tensor<1>,
    fused: bool,
}

impl Scorer<'_> {
    fn baseline(&self, h: Tensor<2>) -> Baseline {
        let centred = self.readout.centre(h);
        let sq_norm = centred.clone().square().sum_dim(1).squeeze_dim(1);
        let logits = centred
            .clone()
            .matmul(self.readout.scaled_unembedding.clone());
        let statistic = match self.config.norm_statistic {
            NormStatistic::Fixed => self.final_stat.clone(),
            NormStatistic::Recomputed => {
                (sq_norm.clone() / self.readout.d_model as f64 + self.readout.epsilon).sqrt()
            }
        };
        let target_logit = logits
            .clone()
            .gather(1, self.target_ids.clone().unsqueeze_dim(1))
            .squeeze_dim(1);
        let scaled = logits.clone() / statistic.clone().unsqueeze_dim(1);
        let logprob = target_logit.clone() / statistic.clone() - log_sum_exp_rows(scaled);
        let host_logits = self.fused.then(|| float_values(logits.clone()));
        Baseline {
            centred,
            sq_norm,
            logits,
            host_logits,
            statistic,
            target_logit,
            logprob,
        }
    }

    /// Scores the neurons of one expert (or a dense FFN) for the probes in `rows`, in chunks of
    /// neurons; `emit(first_neuron, rows, scores)` receives each chunk's `[rows, chunk]` scores.
    fn score_expert(
        &self,
        base: &Baseline,
        rows: &[usize],
        coefficients: Tensor<2>,
        gates: Option<Tensor<1>>,
        write_out: Tensor<2>,
        mut emit: impl FnMut(usize, &[usize], &[f32]),
    ) {
        let device = write_out.device();
        let [n, _] = write_out.dims();
        let row_ids = index_tensor(rows, &device);
        let (coefficients, outside_gates) = match (gates, self.config.gate) {
            (None, _) => (coefficients, None),
            (Some(g), GatePlacement::InsidePerturbation) => {
                (coefficients * g.unsqueeze_dim(1), None)
            }
            (Some(g), GatePlacement::OutsideLog) => (coefficients, Some(g)),
        };
        let chunk = self.units_per_chunk(rows.len());
        for start in (0..n).step_by(chunk) {
            let end = (start + chunk).min(n);
            let units = self
                .readout
                .centre(write_out.clone().narrow(0, start, end - start));
            let columns = units
                .clone()
                .matmul(self.readout.scaled_unembedding.clone());
            let c = coefficients.clone().slice([0..rows.len(), start..end]);
            let dot = base
                .centred
                .clone()
                .select(0, row_ids.clone())
                .matmul(units.clone().transpose());
            let unit_sq = units.square().sum_dim(1).transpose(); // [1, chunk]
            let scores = self.score(
                base,
                rows,
                &row_ids,
                c,
                dot,
                unit_sq,
                Columns::Shared(columns),
            );
            let scores = match &outside_gates {
                Some(g) => scores * g.clone().unsqueeze_dim(1),
                None => scores,
            };
            emit(start, rows, &float_values(scores));
        }
    }

    /// Scores every head of one layer for every probe, `[P, H]`, in chunks of probes: each probe
    /// has its own head columns (`H x V` floats), plus their host copy or perturbed logits.
    fn score_heads(&self, base: &Baseline, head_outputs: Tensor<3>) -> Vec<f32> {
        let [p, h, d] = head_outputs.dims();
        let device = head_outputs.device();
        let per_probe = 2 * 4 * h * self.readout.vocab;
        let chunk = (self.config.max_chunk_bytes / per_probe).max(1);
        let mut scores = Vec::with_capacity(p * h);
        for start in (0..p).step_by(chunk) {
            let end = (start + chunk).min(p);
            let rows: Vec<usize> = (start..end).collect();
            let row_ids = index_tensor(&rows, &device);
            let centred = self
                .readout
                .centre(head_outputs.clone().narrow(0, start, end - start));
            let columns = centred
                .clone()
                .reshape([rows.len() * h, d])
                .matmul(self.readout.scaled_unembedding.clone())
                .reshape([rows.len(), h, self.readout.vocab]);
            let dot = centred
                .clone()
                .matmul(
                    base.centred
                        .clone()
                        .select(0, row_ids.clone())
                        .unsqueeze_dim(2),
                )
                .reshape([rows.len(), h]);
            let unit_sq = centred.square().sum_dim(2).reshape([rows.len(), h]);
            let ones = Tensor::ones([rows.len(), h], &device);
            scores.extend(float_values(self.score(
                base,
                &rows,
                &row_ids,
                ones,
                dot,
                unit_sq,
                Columns::PerProbe(columns),
            )));
        }
        scores
    }

    /// The common tail: `a`, `b`, the exact log-sum-exp and the log-probability increase,
    /// `[rows, units]`. `unit_sq` broadcasts against `coefficients`.
    #[allow(clippy::too_many_arguments)]
    fn score(
        &self,
        base: &Baseline,
        rows: &[usize],
        row_ids: &Tensor<1, Int>,
        coefficients: Tensor<2>,
        dot: Tensor<2>,
        unit_sq: Tensor<2>,
        columns: Columns,
    ) -> Tensor<2> {
        let select = |t: &Tensor<1>| t.clone().select(0, row_ids.clone()).unsqueeze_dim::<2>(1);
        let statistic = match self.config.norm_statistic {
            NormStatistic::Fixed => select(&base.statistic).expand(coefficients.dims()),
            NormStatistic::Recomputed => {
                // mean(C(h + c u)^2) = (|C h|^2 + 2 c C(h).C(u) + c^2 |C u|^2) / d
                let sq = select(&base.sq_norm)
                    + coefficients.clone() * dot * 2.0
                    + coefficients.clone().square() * unit_sq;
                (sq / self.readout.d_model as f64 + self.readout.epsilon).sqrt()
            }
        };
        let a = statistic.clone().recip();
        let b = coefficients.clone() / statistic;
        let lse = self.log_sum_exp(base, rows, row_ids, &a, &b, &columns);
        let targets = self.target_ids.clone().select(0, row_ids.clone());
        let column_target = columns.at_targets(targets, rows.len());
        let target_logit = a * select(&base.target_logit) + b * column_target;
        let increase = target_logit - lse - select(&base.logprob);
        // A unit that adds nothing changes nothing: exactly 0, not rounding noise.
        let zero = coefficients.equal_elem(0.0);
        increase.mask_fill(zero, 0.0)
    }

    /// `LSE(a z + b m)` of every (row, unit) pair, `[rows, units]`. The callers chunk units (and,
    /// for heads, probes) so the columns and perturbed logits fit in `max_chunk_bytes`.
    fn log_sum_exp(
        &self,
        base: &Baseline,
        rows: &[usize],
        row_ids: &Tensor<1, Int>,
        a: &Tensor<2>,
        b: &Tensor<2>,
        columns: &Columns,
    ) -> Tensor<2> {
        let device = a.device();
        if let (true, Some(z)) = (self.fused, &base.host_logits) {
            let v = self.readout.vocab;
            let baseline_rows: Vec<BaselineRow<'_>> = rows
                .iter()
                .map(|&r| BaselineRow::new(&z[r * v..(r + 1) * v]))
                .collect();
            return match columns {
                Columns::Shared(m) => {
                    // Unit-major so each thread owns whole columns: [units, rows].
                    let by_unit = fused_shared(
                        &float_values(m.clone()),
                        v,
                        &baseline_rows,
                        &float_values(a.clone().transpose()),
                        &float_values(b.clone().transpose()),
                    );
                    let [p, n] = a.dims();
                    Tensor::<2>::from_data(TensorData::new(by_unit, [n, p]), &device).transpose()
                }
                Columns::PerProbe(m) => {
                    let out = fused_per_probe(
                        &float_values(m.clone()),
                        v,
                        &baseline_rows,
                        &float_values(a.clone()),
                        &float_values(b.clone()),
                    );
                    Tensor::from_data(TensorData::new(out, a.dims()), &device)
                }
            };
        }
        let z = base
            .logits
            .clone()
            .select(0, row_ids.clone())
            .unsqueeze_dim::<3>(1);
        let m: Tensor<3> = match columns {
            Columns::Shared(m) => m.clone().unsqueeze_dim(0),
            Columns::PerProbe(m) => m.clone(),
        };
        log_sum_exp_rows(a.clone().unsqueeze_dim(2) * z + b.clone().unsqueeze_dim(2) * m)
    }

    /// Units per chunk so the columns plus their host copy (fused kernel) or plus the perturbed
    /// logits of `rows` probes (tensor kernel) stay within `max_chunk_bytes`.
    fn units_per_chunk(&self, rows: usize) -> usize {
        let per_unit = 4 * self.readout.vocab * if self.fused { 2 } else { rows + 1 };
        (self.config.max_chunk_bytes / per_unit).max(1)
    }
}

/// The raw write-out logits of a group of units.
enum Columns {
    /// Shared by all probes (neurons): `[units, V]`.
    Shared(Tensor<2>),
    /// One set per probe (heads): `[P, units, V]`.
    PerProbe(Tensor<3>),
}

impl Columns {
    /// `m[y_p]` for each probe row and unit, `[rows, units]`.
    fn at_targets(&self, targets: Tensor<1, Int>, rows: usize) -> Tensor<2> {
        match self {
            Columns::Shared(m) => m.clone().select(1, targets).transpose(),
            Columns::PerProbe(m) => {
                let [_, n, _] = m.dims();
                let idx = targets.reshape([rows, 1, 1]).expand([rows, n, 1]);
                m.clone().gather(2, idx).reshape([rows, n])
            }
        }
    }
}

/// Fused log-sum-exp for neuron columns shared by all rows; parallel over neurons. `a` and `b`
/// are unit-major (`[units, rows]`), and so is the result.
fn fused_shared(m: &[f32], v: usize, rows: &[BaselineRow<'_>], a: &[f32], b: &[f32]) -> Vec<f32> {
    let p = rows.len();
    let mut out = vec![0.0f32; a.len()];
    out.par_chunks_mut(p)
        .zip(m.par_chunks(v))
        .zip(a.par_chunks(p).zip(b.par_chunks(p)))
        .for_each(|((out, column), (a, b))| {
            lse_affine(UnitColumn::new(column), rows, a, b, out);
        });
    out
}

/// Fused log-sum-exp for head columns, one set per probe row; parallel over probes.
fn fused_per_probe(
    m: &[f32],
    v: usize,
    rows: &[BaselineRow<'_>],
    a: &[f32],
    b: &[f32],
) -> Vec<f32> {
    let p = rows.len();
    let n = m.len() / (v * p);
    let mut out = vec![0.0f32; p * n];
    out.par_chunks_mut(n).enumerate().for_each(|(r, out)| {
        for i in 0..n {
            let column = &m[(r * n + i) * v..(r * n + i + 1) * v];
            let k = r * n + i;
            lse_affine(
                UnitColumn::new(column),
                std::slice::from_ref(&rows[r]),
                &a[k..k + 1],
                &b[k..k + 1],
                &mut out[i..i + 1],
            );
        }
    });
    out
}

/// Numerically safe log-sum-exp over the last dimension, dropping it.
fn log_sum_exp_rows<const D: usize, const R: usize>(x: Tensor<D>) -> Tensor<R> {
    let max = x.clone().max_dim(D - 1);
    let sum = (x - max.clone()).exp().sum_dim(D - 1);
    (max + sum.log()).squeeze_dim(D - 1)
}

fn index_tensor(indices: &[usize], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(
        TensorData::new(indices.iter().map(|&i| i as i64).collect(), [indices.len()]),
        device,
    )
}

/// Collects chunk scores into sums and optional per-probe rows in canonical order.
struct ScoreAccumulator {
    layout: UnitLayout,
    probes: usize,
    neuron_sum: Vec<f32>,
    head_sum: Vec<f32>,
    per_probe: Option<PerProbeScores>,
}

impl ScoreAccumulator {
    fn new(layout: UnitLayout, probes: usize, keep_per_probe: bool) -> Self {
        Self {
            layout,
            probes,
            neuron_sum: vec![0.0; layout.num_neurons()],
            head_sum: vec![0.0; layout.num_heads()],
            per_probe: keep_per_probe.then(|| PerProbeScores {
                neurons: vec![0.0; probes * layout.num_neurons()],
                heads: vec![0.0; probes * layout.num_heads()],
            }),
        }
    }

    fn add_neurons(
        &mut self,
        layer: usize,
        expert: usize,
        start: usize,
        rows: &[usize],
        scores: &[f32],
    ) {
        let chunk = scores.len() / rows.len();
        let first = self.layout.neuron_index(layer, expert, start);
        let total = self.layout.num_neurons();
        for (r, &probe) in rows.iter().enumerate() {
            let row = &scores[r * chunk..(r + 1) * chunk];
            for (sum, s) in self.neuron_sum[first..first + chunk].iter_mut().zip(row) {
                *sum += s;
            }
            if let Some(per) = &mut self.per_probe {
                per.neurons[probe * total + first..probe * total + first + chunk]
                    .copy_from_slice(row);
            }
        }
    }

    fn add_heads(&mut self, layer: usize, scores: &[f32]) {
        let heads = self.layout.heads;
        let first = self.layout.head_index(layer, 0);
        let total = self.layout.num_heads();
        for probe in 0..self.probes {
            let row = &scores[probe * heads..(probe + 1) * heads];
            for (sum, s) in self.head_sum[first..first + heads].iter_mut().zip(row) {
                *sum += s;
            }
            if let Some(per) = &mut self.per_probe {
                per.heads[probe * total + first..probe * total + first + heads]
                    .copy_from_slice(row);
            }
        }
    }

    fn finish(
        self,
        targets: Vec<u32>,
        target_logprobs: Vec<f32>,
        gold: GoldReadout,
        reduction: ProbeReduction,
    ) -> GatedLpiScores {
        GatedLpiScores {
            layout: self.layout,
            probes: self.probes,
            targets,
            target_logprobs,
            neuron_sum: self.neuron_sum,
            head_sum: self.head_sum,
            gold,
            per_probe: self.per_probe,
            reduction,
        }
    }
}
