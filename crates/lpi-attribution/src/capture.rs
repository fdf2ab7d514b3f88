//! What a model hands over for attribution: the [`Attributable`] trait and its [`ModelCapture`].
//!
//! burn has no forward hooks, so attribution needs the model to say what happened inside it at
//! the probe positions. The reference models in `lpi-models` implement [`Attributable`]; any other
//! decoder-only model can too (see the trait's documentation).

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::AttributionError;
use crate::unit::{UnitId, UnitLayout};

/// A batch of probes: prompts, the position read out in each, and the gold target token.
///
/// The usual probe reads the next-token prediction at the prompt's last token; use
/// [`ProbeBatch::from_prompts`] for that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeBatch {
    prompts: Vec<Vec<u32>>,
    positions: Vec<usize>,
    targets: Vec<u32>,
}

impl ProbeBatch {
    /// Probes read out at the last token of each prompt.
    pub fn from_prompts(
        prompts: Vec<Vec<u32>>,
        targets: Vec<u32>,
    ) -> Result<Self, AttributionError> {
        let positions = prompts.iter().map(|p| p.len().saturating_sub(1)).collect();
        Self::new(prompts, positions, targets)
    }

    /// Probes read out at explicit positions. Checks that every position lies in its prompt.
    pub fn new(
        prompts: Vec<Vec<u32>>,
        positions: Vec<usize>,
        targets: Vec<u32>,
    ) -> Result<Self, AttributionError> {
        if prompts.is_empty() {
            return Err(AttributionError::EmptyBatch);
        }
        if prompts.len() != positions.len() || prompts.len() != targets.len() {
            return Err(AttributionError::LengthMismatch {
                prompts: prompts.len(),
                positions: positions.len(),
                targets: targets.len(),
            });
        }
        for (probe, (prompt, &position)) in prompts.iter().zip(&positions).enumerate() {
            if prompt.is_empty() {
                return Err(AttributionError::EmptyPrompt { probe });
            }
            if position >= prompt.len() {
                return Err(AttributionError::PositionOutOfRange {
                    probe,
                    position,
                    len: prompt.len(),
                });
            }
        }
        Ok(Self {
            prompts,
            positions,
            targets,
        })
    }

    /// Number of probes.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// Always false: a batch is never empty.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    /// The prompts' token ids.
    pub fn prompts(&self) -> &[Vec<u32>] {
        &self.prompts
    }

    /// The read-out position of each probe.
    pub fn positions(&self) -> &[usize] {
        &self.positions
    }

    /// The gold target token of each probe.
    pub fn targets(&self) -> &[u32] {
        &self.targets
    }

    /// Length of the longest prompt.
    pub fn max_len(&self) -> usize {
        self.prompts.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// Checks the batch against a model's vocabulary and context window.
    pub fn check_fits(&self, vocab: usize, context: usize) -> Result<(), AttributionError> {
        for (probe, (prompt, &target)) in self.prompts.iter().zip(&self.targets).enumerate() {
            if prompt.len() > context {
                return Err(AttributionError::PromptTooLong {
                    probe,
                    len: prompt.len(),
                    context,
                });
            }
            let out_of_vocab = |what, token: u32| AttributionError::TokenOutOfVocabulary {
                probe,
                what,
                token,
                vocab,
            };
            if target as usize >= vocab {
                return Err(out_of_vocab("target", target));
            }
            if let Some(&token) = prompt.iter().find(|&&t| t as usize >= vocab) {
                return Err(out_of_vocab("prompt", token));
            }
        }
        Ok(())
    }

    /// The prompts as a `[batch, max_len]` token tensor, right-padded with token 0.
    ///
    /// Right padding never changes the captured positions: attention is causal, so a position
    /// never sees the padding after it.
    pub fn tokens(&self, device: &Device) -> Tensor<2, Int> {
        let width = self.max_len();
        let mut ids = Vec::with_capacity(self.len() * width);
        for prompt in &self.prompts {
            ids.extend(prompt.iter().map(|&t| t as i64));
            ids.extend(std::iter::repeat_n(0i64, width - prompt.len()));
        }
        Tensor::from_data(TensorData::new(ids, [self.len(), width]), device)
    }
}

/// A decoder-only language model whose neurons and heads can be attributed.
///
/// # Implementing it for your own architecture
///
/// Run the same forward pass as training (in evaluation mode, on `model.valid()`), and at the read-out
/// position of each batch row record the sites of [`ModelCapture`]. Everything is taken *at the
/// position*, so each site is a `[probes, ...]` tensor:
///
/// - per layer, the residual entering the layer (`layer_input`) and after the attention sub-layer
///   (`post_attention`);
/// - each head's contribution to the residual: the head's context vector times its slice of the
///   output projection (`[probes, heads, d_model]`; their sum plus any output bias is the attention
///   output);
/// - the FFN's intermediate coefficients (for SwiGLU `silu(x W_gate) * (x W_up)`) and its write-out
///   matrix `W_down` as `[neurons, d_model]` (burn's `Linear` layout); for a MoE, the router's softmax
///   over all experts, the chosen experts, the gate each chosen expert is multiplied by (after any
///   renormalisation the architecture does) and the chosen experts' coefficients;
/// - the final residual (before the final norm) and the read-out: the final norm's kind and gain,
///   and the unembedding as `[d_model, vocab]`.
///
/// Models with parallel attention and FFN (GPT-J style) use `post_attention = layer_input`. A
/// FFN that is not gated still has one coefficient per neuron (its activation). Bias terms of
/// the FFN write-out belong to no neuron and are left out.
pub trait Attributable {
    /// Runs the model on `tokens` (`[batch, seq]`) and captures every site at `positions[b]` of
    /// row `b`. Called on the inference (non-autodiff) model.
    fn capture(&self, tokens: Tensor<2, Int>, positions: &[usize]) -> ModelCapture;

    /// Tokens of the vocabulary (rows of the unembedding).
    fn vocab_size(&self) -> usize;

    /// The longest sequence the model accepts.
    fn context_length(&self) -> usize;
}

/// A model whose attention heads can be silenced, for the functional-robustness readout
/// (DESIGN.md 2.4): HIT@10 with the most important heads zeroed against random ones.
pub trait HeadMasking: Attributable {
    /// Next-token logits `[batch, vocab]` at `positions[b]` of row `b`, with the outputs of the
    /// listed heads zeroed before the output projection in every position. Every id is a
    /// [`UnitId::Head`] of this model. Called on the inference model.
    fn logits_without_heads(
        &self,
        tokens: Tensor<2, Int>,
        positions: &[usize],
        heads: &[UnitId],
    ) -> Tensor<2>;
}

/// The final norm, whose statistic LPI freezes (DESIGN.md 2.1). Biases are dropped by LPI's
/// convention, so none is carried.
#[derive(Debug, Clone)]
pub enum FinalNorm {
    /// `gain * x / sqrt(mean(x^2) + epsilon)`.
    Rms {
        /// Learned gain, `[d_model]`.
        gain: Tensor<1>,
        /// Added to the mean square.
        epsilon: f64,
    },
    /// `gain * (x - mean(x)) / sqrt(var(x) + epsilon)`; OLMo's non-parametric LayerNorm has no gain.
    LayerNorm {
        /// Learned gain, `[d_model]`, or `None` for a non-parametric LayerNorm.
        gain: Option<Tensor<1>>,
        /// Added to the variance.
        epsilon: f64,
    },
}

impl FinalNorm {
    /// Whether the norm centres its input (LayerNorm) before scaling.
    pub fn centres(&self) -> bool {
        matches!(self, FinalNorm::LayerNorm { .. })
    }

    /// The epsilon added under the square root.
    pub fn epsilon(&self) -> f64 {
        match self {
            FinalNorm::Rms { epsilon, .. } | FinalNorm::LayerNorm { epsilon, .. } => *epsilon,
        }
    }

    /// The gain, if the norm has one.
    pub fn gain(&self) -> Option<&Tensor<1>> {
        match self {
            FinalNorm::Rms { gain, .. } => Some(gain),
            FinalNorm::LayerNorm { gain, .. } => gain.as_ref(),
        }
    }
}

/// How the final residual becomes logits.
#[derive(Debug, Clone)]
pub struct Readout {
    /// The final norm.
    pub norm: FinalNorm,
    /// The unembedding, `[d_model, vocab]`.
    pub unembedding: Tensor<2>,
}

/// The FFN sites of one layer at the probe positions.
// Both variants hold only tensor handles; boxing the larger one would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FfnCapture {
    /// A dense FFN: every neuron writes with gate 1.
    Dense {
        /// Intermediate coefficients, `[probes, neurons]`.
        coefficients: Tensor<2>,
        /// Write-out matrix `W_down`, `[neurons, d_model]`.
        write_out: Tensor<2>,
    },
    /// A Mixture-of-Experts FFN.
    Moe {
        /// Router softmax over all experts, `[probes, experts]`.
        router_probs: Tensor<2>,
        /// The chosen experts, `[probes, top_k]`.
        experts: Tensor<2, Int>,
        /// The gate each chosen expert's output is multiplied by, `[probes, top_k]`.
        gates: Tensor<2>,
        /// The chosen experts' coefficients, `[probes, top_k, neurons_per_expert]`.
        coefficients: Tensor<3>,
        /// Write-out matrices of all experts, `[experts, neurons_per_expert, d_model]`.
        write_out: Tensor<3>,
    },
}

/// The sites of one decoder layer at the probe positions.
#[derive(Debug, Clone)]
pub struct LayerCapture {
    /// Residual entering the layer, `[probes, d_model]`.
    pub layer_input: Tensor<2>,
    /// Residual after the attention sub-layer, `[probes, d_model]`.
    pub post_attention: Tensor<2>,
    /// Each head's output after the output projection, `[probes, heads, d_model]`.
    pub head_outputs: Tensor<3>,
    /// The FFN sites.
    pub ffn: FfnCapture,
}

/// Everything attribution needs from one forward pass over a probe batch.
#[derive(Debug, Clone)]
pub struct ModelCapture {
    /// One entry per decoder layer, in order.
    pub layers: Vec<LayerCapture>,
    /// The residual after the last layer, before the final norm, `[probes, d_model]`.
    pub final_residual: Tensor<2>,
    /// The final norm and unembedding.
    pub readout: Readout,
}

impl ModelCapture {
    /// Checks every site's shape against the others and against `probes`, and that no site holds
    /// NaN or infinity. Returns the model's unit layout.
    pub fn validate(&self, probes: usize) -> Result<UnitLayout, AttributionError> {
        let [d_model, _vocab] = self.readout.unembedding.dims();
        expect_shape(
            "final_residual",
            &self.final_residual.dims(),
            &[probes, d_model],
        )?;
        if let Some(gain) = self.readout.norm.gain() {
            expect_shape("readout.norm.gain", &gain.dims(), &[d_model])?;
        }
        let first = self
            .layers
            .first()
            .ok_or_else(|| AttributionError::ShapeMismatch {
                site: "layers".into(),
                expected: vec![1],
                found: vec![0],
            })?;
        let heads = first.head_outputs.dims()[1];
        let (experts, neurons_per_expert) = match &first.ffn {
            FfnCapture::Dense { write_out, .. } => (1, write_out.dims()[0]),
            FfnCapture::Moe { write_out, .. } => {
                let [e, n, _] = write_out.dims();
                (e, n)
            }
        };
        for (l, layer) in self.layers.iter().enumerate() {
            let site = |name: &str| format!("layers.{l}.{name}");
            expect_shape(
                &site("layer_input"),
                &layer.layer_input.dims(),
                &[probes, d_model],
            )?;
            expect_shape(
                &site("post_attention"),
                &layer.post_attention.dims(),
                &[probes, d_model],
            )?;
            expect_shape(
                &site("head_outputs"),
                &layer.head_outputs.dims(),
                &[probes, heads, d_model],
            )?;
            check_finite(&site("layer_input"), layer.layer_input.clone())?;
            check_finite(&site("post_attention"), layer.post_attention.clone())?;
            check_finite(&site("head_outputs"), layer.head_outputs.clone())?;
            match &layer.ffn {
                FfnCapture::Dense {
                    coefficients,
                    write_out,
                } => {
                    if experts != 1 {
                        return Err(AttributionError::InvalidRouting {
                            site: site("ffn"),
                            reason: "a dense FFN in a model whose first layer is a MoE; every layer must have the same FFN kind".into(),
                        });
                    }
                    expect_shape(
                        &site("ffn.coefficients"),
                        &coefficients.dims(),
                        &[probes, neurons_per_expert],
                    )?;
                    expect_shape(
                        &site("ffn.write_out"),
                        &write_out.dims(),
                        &[neurons_per_expert, d_model],
                    )?;
                    check_finite(&site("ffn.coefficients"), coefficients.clone())?;
                    check_finite(&site("ffn.write_out"), write_out.clone())?;
                }
                FfnCapture::Moe {
                    router_probs,
                    experts: chosen,
                    gates,
                    coefficients,
                    write_out,
                } => {
                    let top_k = chosen.dims()[1];
                    expect_shape(
                        &site("ffn.router_probs"),
                        &router_probs.dims(),
                        &[probes, experts],
                    )?;
                    expect_shape(&site("ffn.experts"), &chosen.dims(), &[probes, top_k])?;
                    expect_shape(&site("ffn.gates"), &gates.dims(), &[probes, top_k])?;
                    expect_shape(
                        &site("ffn.coefficients"),
                        &coefficients.dims(),
                        &[probes, top_k, neurons_per_expert],
                    )?;
                    expect_shape(
                        &site("ffn.write_out"),
                        &write_out.dims(),
                        &[experts, neurons_per_expert, d_model],
                    )?;
                    check_finite(&site("ffn.router_probs"), router_probs.clone())?;
                    check_finite(&site("ffn.gates"), gates.clone())?;
                    check_finite(&site("ffn.coefficients"), coefficients.clone())?;
                    check_finite(&site("ffn.write_out"), write_out.clone())?;
                    let ids = int_values(chosen.clone());
                    for (p, row) in ids.chunks(top_k.max(1)).enumerate() {
                        if let Some(&bad) = row.iter().find(|&&e| e < 0 || e as usize >= experts) {
                            return Err(AttributionError::InvalidRouting {
                                site: site("ffn.experts"),
                                reason: format!(
                                    "probe {p} routes to expert {bad}, but the layer has {experts} experts"
                                ),
                            });
                        }
                        let mut sorted = row.to_vec();
                        sorted.sort_unstable();
                        if sorted.windows(2).any(|w| w[0] == w[1]) {
                            return Err(AttributionError::InvalidRouting {
                                site: site("ffn.experts"),
                                reason: format!(
                                    "probe {p} chooses an expert twice ({row:?}); top-k experts must be distinct"
                                ),
                            });
                        }
                    }
                }
            }
        }
        check_finite("final_residual", self.final_residual.clone())?;
        check_finite("readout.unembedding", self.readout.unembedding.clone())?;
        if let Some(gain) = self.readout.norm.gain() {
            check_finite("readout.norm.gain", gain.clone())?;
        }
        Ok(UnitLayout {
            layers: self.layers.len(),
            experts,
            neurons_per_expert,
            heads,
        })
    }
}

fn expect_shape(site: &str, found: &[usize], expected: &[usize]) -> Result<(), AttributionError> {
    if found == expected {
        Ok(())
    } else {
        Err(AttributionError::ShapeMismatch {
            site: site.to_string(),
            expected: expected.to_vec(),
            found: found.to_vec(),
        })
    }
}

fn check_finite<const D: usize>(site: &str, tensor: Tensor<D>) -> Result<(), AttributionError> {
    let all_finite: bool = tensor.is_finite().all().into_scalar::<bool>();
    if all_finite {
        Ok(())
    } else {
        Err(AttributionError::NonFinite {
            site: site.to_string(),
        })
    }
}

/// Reads an integer tensor back to the host.
pub(crate) fn int_values<const D: usize>(tensor: Tensor<D, Int>) -> Vec<i64> {
    tensor
        .into_data()
        .try_into_vec_as::<i64>()
        .expect("integer tensors convert to i64")
}

/// Reads a float tensor back to the host.
pub(crate) fn float_values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("float tensors convert to f32")
}
