//! The literal definition of Gated-LPI, one unit at a time, in f64 on the host.
//!
//! For every probe and unit it builds the unit's vector, adds it to the residual, applies the final
//! norm and the unembedding, takes the log-softmax and subtracts the unperturbed log-probability.
//! It shares no algebra with [`crate::GatedLpi`] (no affine readout, no precomputed columns), which
//! makes it the reference the batched path is tested against. It is far too slow for real models.

use crate::capture::{FfnCapture, ModelCapture, float_values, int_values};
use crate::config::{GatePlacement, GatedLpiConfig, NeuronBaseline, NormStatistic, TargetChoice};
use crate::error::AttributionError;
use crate::gated_lpi::PerProbeScores;
use crate::unit::UnitLayout;

/// The reference scores of every probe and unit, plus the scored targets.
#[derive(Debug, Clone, PartialEq)]
pub struct NaiveScores {
    /// The model's units.
    pub layout: UnitLayout,
    /// The token scored for each probe.
    pub targets: Vec<u32>,
    /// Every probe's scores.
    pub scores: PerProbeScores,
}

/// Computes Gated-LPI by its definition. `config.kernel`, `max_chunk_bytes`, `keep_per_probe`
/// and `reduction` do not apply.
pub fn naive_gated_lpi(
    capture: &ModelCapture,
    gold_targets: &[u32],
    config: &GatedLpiConfig,
) -> Result<NaiveScores, AttributionError> {
    let probes = gold_targets.len();
    if probes == 0 {
        return Err(AttributionError::EmptyBatch);
    }
    let layout = capture.validate(probes)?;
    let readout = HostReadout::new(capture);
    let d = readout.d_model;
    let final_residual = to_f64(float_values(capture.final_residual.clone()));

    let mut targets = Vec::with_capacity(probes);
    let mut fixed_stat = Vec::with_capacity(probes);
    for (p, &gold) in gold_targets.iter().enumerate() {
        let h = &final_residual[p * d..(p + 1) * d];
        let stat = readout.statistic(h);
        fixed_stat.push(stat);
        targets.push(match config.target {
            TargetChoice::Gold => gold,
            TargetChoice::ModelTop1 => argmax(&readout.logits(h, stat)) as u32,
        });
    }
    let logprob = |x: &[f64], p: usize| -> f64 {
        let stat = match config.norm_statistic {
            NormStatistic::Fixed => fixed_stat[p],
            NormStatistic::Recomputed => readout.statistic(x),
        };
        log_softmax_at(&readout.logits(x, stat), targets[p] as usize)
    };
    // LPI of adding `v` to `base` for probe p.
    let increase = |base: &[f64], v: &[f64], p: usize| -> f64 {
        let perturbed: Vec<f64> = base.iter().zip(v).map(|(h, u)| h + u).collect();
        logprob(&perturbed, p) - logprob(base, p)
    };

    let mut neurons = vec![0.0f32; probes * layout.num_neurons()];
    let mut heads = vec![0.0f32; probes * layout.num_heads()];
    for (l, layer) in capture.layers.iter().enumerate() {
        let layer_input = to_f64(float_values(layer.layer_input.clone()));
        let post_attention = to_f64(float_values(layer.post_attention.clone()));
        let head_outputs = to_f64(float_values(layer.head_outputs.clone()));
        let neuron_base = match config.baseline {
            NeuronBaseline::PostAttention => &post_attention,
            NeuronBaseline::LayerInput => &layer_input,
        };
        for p in 0..probes {
            let h_in = &layer_input[p * d..(p + 1) * d];
            for h in 0..layout.heads {
                let v = &head_outputs[(p * layout.heads + h) * d..(p * layout.heads + h + 1) * d];
                heads[p * layout.num_heads() + layout.head_index(l, h)] =
                    increase(h_in, v, p) as f32;
            }
        }

        let n = layout.neurons_per_expert;
        let (routes, write_out): (Vec<Vec<Route>>, Vec<f64>) = match &layer.ffn {
            FfnCapture::Dense {
                coefficients,
                write_out,
            } => {
                let c = to_f64(float_values(coefficients.clone()));
                let routes = (0..probes)
                    .map(|p| vec![(0, 1.0, c[p * n..(p + 1) * n].to_vec())])
                    .collect();
                (routes, to_f64(float_values(write_out.clone())))
            }
            FfnCapture::Moe {
                experts,
                gates,
                coefficients,
                write_out,
                ..
            } => {
                let k = experts.dims()[1];
                let chosen = int_values(experts.clone());
                let g = to_f64(float_values(gates.clone()));
                let c = to_f64(float_values(coefficients.clone()));
                let routes = (0..probes)
                    .map(|p| {
                        (0..k)
                            .map(|s| {
                                let slot = p * k + s;
                                (
                                    chosen[slot] as usize,
                                    g[slot],
                                    c[slot * n..(slot + 1) * n].to_vec(),
                                )
                            })
                            .collect()
                    })
                    .collect();
                (routes, to_f64(float_values(write_out.clone())))
            }
        };
        for (p, probe_routes) in routes.iter().enumerate() {
            let base = &neuron_base[p * d..(p + 1) * d];
            for (expert, gate, coefficients) in probe_routes {
                for (i, &a) in coefficients.iter().enumerate() {
                    let w = &write_out[(expert * n + i) * d..(expert * n + i + 1) * d];
                    let score = match config.gate {
                        GatePlacement::InsidePerturbation => {
                            let v: Vec<f64> = w.iter().map(|x| gate * a * x).collect();
                            increase(base, &v, p)
                        }
                        GatePlacement::OutsideLog => {
                            let v: Vec<f64> = w.iter().map(|x| a * x).collect();
                            gate * increase(base, &v, p)
                        }
                    };
                    neurons[p * layout.num_neurons() + layout.neuron_index(l, *expert, i)] =
                        score as f32;
                }
            }
        }
    }
    Ok(NaiveScores {
        layout,
        targets,
        scores: PerProbeScores { neurons, heads },
    })
}

/// One routed expert of one probe: (expert, gate, that expert's coefficients).
type Route = (usize, f64, Vec<f64>);

/// The final norm and unembedding in f64.
struct HostReadout {
    /// `[d_model, vocab]`.
    unembedding: Vec<f64>,
    gain: Vec<f64>,
    centres: bool,
    epsilon: f64,
    d_model: usize,
    vocab: usize,
}

impl HostReadout {
    fn new(capture: &ModelCapture) -> Self {
        let [d_model, vocab] = capture.readout.unembedding.dims();
        let norm = &capture.readout.norm;
        Self {
            unembedding: to_f64(float_values(capture.readout.unembedding.clone())),
            gain: match norm.gain() {
                Some(g) => to_f64(float_values(g.clone())),
                None => vec![1.0; d_model],
            },
            centres: norm.centres(),
            epsilon: norm.epsilon(),
            d_model,
            vocab,
        }
    }

    fn centred(&self, x: &[f64]) -> Vec<f64> {
        let mean = if self.centres {
            x.iter().sum::<f64>() / x.len() as f64
        } else {
            0.0
        };
        x.iter().map(|v| v - mean).collect()
    }

    fn statistic(&self, x: &[f64]) -> f64 {
        let c = self.centred(x);
        (c.iter().map(|v| v * v).sum::<f64>() / self.d_model as f64 + self.epsilon).sqrt()
    }

    /// `W_U (gamma * C(x) / stat)`.
    fn logits(&self, x: &[f64], stat: f64) -> Vec<f64> {
        let normed: Vec<f64> = self
            .centred(x)
            .iter()
            .zip(&self.gain)
            .map(|(v, g)| g * v / stat)
            .collect();
        let mut logits = vec![0.0; self.vocab];
        for (k, &x) in normed.iter().enumerate() {
            let row = &self.unembedding[k * self.vocab..(k + 1) * self.vocab];
            for (l, &w) in logits.iter_mut().zip(row) {
                *l += x * w;
            }
        }
        logits
    }
}

fn log_softmax_at(logits: &[f64], target: usize) -> f64 {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
    logits[target] - lse
}

fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

fn to_f64(values: Vec<f32>) -> Vec<f64> {
    values.into_iter().map(f64::from).collect()
}
