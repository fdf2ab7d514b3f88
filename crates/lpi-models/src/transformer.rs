//! A decoder-only transformer with a dense SwiGLU or a Mixture-of-Experts FFN, readable top to
//! bottom and named like the HF OLMo / OLMoE code (`q_proj`, `q_norm`, `gate_proj`, `up_proj`,
//! `down_proj`, `router`, `lm_head`).
//!
//! ```text
//! h_0   = embed_tokens(tokens)
//! h_mid = h_l + o_proj(attention(rope(q_norm(q_proj(attn_norm(h_l)))), rope(k_norm(k_proj(..))), v_proj(..)))
//! h_l+1 = h_mid + ffn(ffn_norm(h_mid))
//! logits = lm_head(final_norm(h_L))
//! ```
//!
//! The MoE FFN follows OLMoE: a softmax router over all experts, the top-k experts' SwiGLU outputs
//! weighted by their router probability, renormalised over the top-k only when configured (OLMoE:
//! 64 experts, top-8, no renormalisation). For clarity on small models every expert is evaluated
//! on every token and the non-chosen ones are weighted by zero, which is mathematically the sparse
//! dispatch.

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::ablation::{Ablation, LayerMasks};

/// Which normalisation every norm of the model uses.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm with a learned gain (Llama, OLMoE).
    Rms,
    /// LayerNorm without gain or bias (OLMo-7B).
    NonParametricLayerNorm,
}

/// The Mixture-of-Experts FFN of every layer.
#[derive(Config, Debug)]
pub struct MoeConfig {
    /// Experts per layer (OLMoE: 64).
    pub num_experts: usize,
    /// Experts chosen per token (OLMoE: 8).
    pub top_k: usize,
    /// Renormalise the chosen experts' router probabilities to sum to 1 (OLMoE: false).
    #[config(default = false)]
    pub norm_topk_prob: bool,
}

/// Configuration of a [`Transformer`].
#[derive(Config, Debug)]
pub struct TransformerConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Residual width.
    pub d_model: usize,
    /// Decoder layers.
    pub n_layers: usize,
    /// Attention heads per layer; must divide `d_model`.
    pub n_heads: usize,
    /// Intermediate neurons of the dense FFN, or of each expert.
    pub d_ff: usize,
    /// Longest sequence the model accepts.
    pub max_seq_len: usize,
    /// `None` for a dense SwiGLU FFN, the MoE settings otherwise.
    #[config(default = "None")]
    pub moe: Option<MoeConfig>,
    /// The norm used everywhere.
    #[config(default = "NormKind::Rms")]
    pub norm: NormKind,
    /// RMSNorm on the query and key projections (OLMoE, OLMo 2).
    #[config(default = false)]
    pub qk_norm: bool,
    /// Norm epsilon.
    #[config(default = 1e-5)]
    pub norm_eps: f64,
    /// RoPE base.
    #[config(default = 10000.0)]
    pub rope_theta: f64,
    /// Standard deviation of the normal initialisation of the expert weights.
    #[config(default = 0.02)]
    pub init_std: f64,
}

impl TransformerConfig {
    /// Builds the model on `device`.
    ///
    /// # Panics
    /// If `n_heads` does not divide `d_model`, the head width is odd (RoPE needs pairs) or `top_k`
    /// exceeds the number of experts.
    pub fn init(&self, device: &Device) -> Transformer {
        assert!(
            self.d_model.is_multiple_of(self.n_heads),
            "n_heads ({}) must divide d_model ({})",
            self.n_heads,
            self.d_model
        );
        assert!(
            (self.d_model / self.n_heads).is_multiple_of(2),
            "the head width d_model / n_heads must be even for RoPE"
        );
        if let Some(moe) = &self.moe {
            assert!(
                moe.top_k >= 1 && moe.top_k <= moe.num_experts,
                "top_k ({}) must be in 1..={} experts",
                moe.top_k,
                moe.num_experts
            );
        }
        let layers = (0..self.n_layers)
            .map(|_| DecoderLayer {
                attn_norm: self.norm(self.d_model, device),
                self_attn: self.attention(device),
                ffn_norm: self.norm(self.d_model, device),
                ffn: self.ffn(device),
            })
            .collect();
        Transformer {
            embed_tokens: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            layers,
            final_norm: self.norm(self.d_model, device),
            lm_head: LinearConfig::new(self.d_model, self.vocab_size)
                .with_bias(false)
                .init(device),
            max_seq_len: self.max_seq_len,
            rope_theta: self.rope_theta,
        }
    }

    fn norm(&self, d: usize, device: &Device) -> Norm {
        match self.norm {
            NormKind::Rms => Norm::Rms(
                RmsNormConfig::new(d)
                    .with_epsilon(self.norm_eps)
                    .init(device),
            ),
            NormKind::NonParametricLayerNorm => Norm::LayerNorm(NonParametricLayerNorm {
                epsilon: self.norm_eps,
            }),
        }
    }

    fn attention(&self, device: &Device) -> Attention {
        let proj = || {
            LinearConfig::new(self.d_model, self.d_model)
                .with_bias(false)
                .init(device)
        };
        let qk_norm = || {
            self.qk_norm.then(|| {
                RmsNormConfig::new(self.d_model)
                    .with_epsilon(self.norm_eps)
                    .init(device)
            })
        };
        Attention {
            q_proj: proj(),
            k_proj: proj(),
            v_proj: proj(),
            o_proj: proj(),
            q_norm: qk_norm(),
            k_norm: qk_norm(),
            n_heads: self.n_heads,
        }
    }

    fn ffn(&self, device: &Device) -> Ffn {
        let (d, n) = (self.d_model, self.d_ff);
        match &self.moe {
            None => {
                let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
                Ffn::Dense(SwiGlu {
                    gate_proj: linear(d, n),
                    up_proj: linear(d, n),
                    down_proj: linear(n, d),
                })
            }
            Some(moe) => {
                let e = moe.num_experts;
                let init = Initializer::Normal {
                    mean: 0.0,
                    std: self.init_std,
                };
                Ffn::Moe(MoeFfn {
                    router: LinearConfig::new(d, e).with_bias(false).init(device),
                    gate_proj: init.init([e, d, n], device),
                    up_proj: init.init([e, d, n], device),
                    down_proj: init.init([e, n, d], device),
                    top_k: moe.top_k,
                    norm_topk_prob: moe.norm_topk_prob,
                })
            }
        }
    }
}

/// LayerNorm without learned parameters: `(x - mean) / sqrt(var + eps)`.
#[derive(Module, Debug)]
pub struct NonParametricLayerNorm {
    /// Added to the variance.
    pub epsilon: f64,
}

impl NonParametricLayerNorm {
    /// Normalises over the last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let centred = x.clone() - x.mean_dim(D - 1);
        let var = centred.clone().square().mean_dim(D - 1);
        centred / (var + self.epsilon).sqrt()
    }
}

/// A norm of either kind.
#[derive(Module, Debug)]
pub enum Norm {
    /// RMSNorm with gain.
    Rms(RmsNorm),
    /// Non-parametric LayerNorm.
    LayerNorm(NonParametricLayerNorm),
}

impl Norm {
    /// Normalises over the last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Norm::Rms(norm) => norm.forward(x),
            Norm::LayerNorm(norm) => norm.forward(x),
        }
    }
}

/// Causal multi-head self-attention with rotary position embeddings and optional QK-norm.
#[derive(Module, Debug)]
pub struct Attention {
    /// Query projection, `[d_model, d_model]`.
    pub q_proj: Linear,
    /// Key projection.
    pub k_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection; rows `h * head_dim .. (h + 1) * head_dim` belong to head `h`.
    pub o_proj: Linear,
    /// RMSNorm of the queries over `d_model` (OLMoE's QK-norm).
    pub q_norm: Option<RmsNorm>,
    /// RMSNorm of the keys over `d_model`.
    pub k_norm: Option<RmsNorm>,
    /// Heads.
    pub n_heads: usize,
}

impl Attention {
    /// Returns the attention output `[B, S, d]` and the per-head context `[B, H, S, head_dim]`.
    /// `rope` holds the position tables for `S` positions; `head_mask` (`[H]`, 1 keeps and 0
    /// zeroes a head) scales each head's context.
    pub fn forward(
        &self,
        x: Tensor<3>,
        rope: &RopeTables,
        head_mask: Option<Tensor<1>>,
    ) -> (Tensor<3>, Tensor<4>) {
        let [b, s, d] = x.dims();
        let (h, dh) = (self.n_heads, d / self.n_heads);
        let mut q = self.q_proj.forward(x.clone());
        let mut k = self.k_proj.forward(x.clone());
        let v = self.v_proj.forward(x);
        if let Some(norm) = &self.q_norm {
            q = norm.forward(q);
        }
        if let Some(norm) = &self.k_norm {
            k = norm.forward(k);
        }
        let heads = |t: Tensor<3>| t.reshape([b, s, h, dh]).swap_dims(1, 2);
        let q = rope.apply(heads(q));
        let k = rope.apply(heads(k));
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: true,
        };
        let mut context = attention(q, k, heads(v), None, None, options);
        if let Some(mask) = head_mask {
            context = context * mask.reshape([1, h, 1, 1]);
        }
        let merged = context.clone().swap_dims(1, 2).reshape([b, s, d]);
        (self.o_proj.forward(merged), context)
    }
}

/// `cos` and `sin` tables `[S, head_dim]` for the rotate-half RoPE convention of HF Llama/OLMo,
/// computed once per forward pass and shared by every layer.
#[derive(Debug, Clone)]
pub struct RopeTables {
    cos: Tensor<2>,
    sin: Tensor<2>,
}

impl RopeTables {
    /// Tables for positions `0..seq` of heads of width `head_dim` with base `theta`.
    pub fn new(seq: usize, head_dim: usize, theta: f64, device: &Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(seq * head_dim);
        let mut sin = Vec::with_capacity(seq * head_dim);
        for pos in 0..seq {
            let angles: Vec<f64> = (0..half)
                .map(|i| pos as f64 * theta.powf(-2.0 * i as f64 / head_dim as f64))
                .collect();
            for _ in 0..2 {
                cos.extend(angles.iter().map(|a| a.cos() as f32));
                sin.extend(angles.iter().map(|a| a.sin() as f32));
            }
        }
        Self {
            cos: Tensor::from_data(TensorData::new(cos, [seq, head_dim]), device),
            sin: Tensor::from_data(TensorData::new(sin, [seq, head_dim]), device),
        }
    }

    /// `x * cos + rotate_half(x) * sin` for `x` of shape `[B, H, S, head_dim]`.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, h, s, dh] = x.dims();
        let half = dh / 2;
        let x1 = x.clone().slice([0..b, 0..h, 0..s, 0..half]);
        let x2 = x.clone().slice([0..b, 0..h, 0..s, half..dh]);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * self.cos.clone().unsqueeze::<4>() + rotated * self.sin.clone().unsqueeze::<4>()
    }
}

/// A dense SwiGLU FFN: `down_proj(silu(gate_proj(x)) * up_proj(x))`.
#[derive(Module, Debug)]
pub struct SwiGlu {
    /// `[d_model, d_ff]`.
    pub gate_proj: Linear,
    /// `[d_model, d_ff]`.
    pub up_proj: Linear,
    /// `[d_ff, d_model]`: row `i` is neuron `i`'s write-out vector.
    pub down_proj: Linear,
}

impl SwiGlu {
    /// The intermediate coefficients `silu(x W_gate) * (x W_up)`.
    pub fn coefficients<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        silu(self.gate_proj.forward(x.clone())) * self.up_proj.forward(x)
    }
}

/// A Mixture-of-Experts FFN of SwiGLU experts with a softmax top-k router.
#[derive(Module, Debug)]
pub struct MoeFfn {
    /// Router, `[d_model, experts]`.
    pub router: Linear,
    /// Expert gate projections, `[experts, d_model, d_ff]`.
    pub gate_proj: Param<Tensor<3>>,
    /// Expert up projections, `[experts, d_model, d_ff]`.
    pub up_proj: Param<Tensor<3>>,
    /// Expert down projections, `[experts, d_ff, d_model]`.
    pub down_proj: Param<Tensor<3>>,
    /// Experts per token.
    pub top_k: usize,
    /// Renormalise the chosen probabilities.
    pub norm_topk_prob: bool,
}

impl MoeFfn {
    /// Router softmax over all experts, `[N, d] -> [N, E]`.
    pub fn router_probs(&self, x: Tensor<2>) -> Tensor<2> {
        softmax(self.router.forward(x), 1)
    }

    /// The chosen experts and their gates, `([N, k], [N, k])`.
    pub fn route(&self, probs: Tensor<2>) -> (Tensor<2, Int>, Tensor<2>) {
        let (gates, experts) = probs.topk_with_indices(self.top_k, 1);
        let gates = if self.norm_topk_prob {
            gates.clone() / gates.sum_dim(1)
        } else {
            gates
        };
        (experts, gates)
    }

    /// Every expert's coefficients, `[N, d] -> [E, N, d_ff]`.
    pub fn coefficients(&self, x: Tensor<2>) -> Tensor<3> {
        let [e, _, _] = self.gate_proj.dims();
        let [n, d] = x.dims();
        let x = x.unsqueeze::<3>().expand([e, n, d]);
        silu(x.clone().matmul(self.gate_proj.val())) * x.matmul(self.up_proj.val())
    }

    /// The FFN output. `neuron_mask` (`[E, d_ff]`) scales the coefficients.
    pub fn forward(&self, x: Tensor<2>, neuron_mask: Option<Tensor<2>>) -> Tensor<2> {
        let probs = self.router_probs(x.clone());
        let (experts, gates) = self.route(probs.clone());
        // Dense gate matrix [N, E]: the chosen experts' gates, zero elsewhere.
        let weights =
            probs
                .zeros_like()
                .scatter(1, experts, gates, burn::tensor::IndexingUpdateOp::Add);
        let mut coefficients = self.coefficients(x);
        if let Some(mask) = neuron_mask {
            coefficients = coefficients * mask.unsqueeze_dim(1);
        }
        let outputs = coefficients.matmul(self.down_proj.val()); // [E, N, d]
        let weights = weights.transpose().unsqueeze_dim::<3>(2); // [E, N, 1]
        (outputs * weights).sum_dim(0).squeeze_dim(0)
    }
}

/// The FFN of a layer.
#[derive(Module, Debug)]
pub enum Ffn {
    /// Dense SwiGLU.
    Dense(SwiGlu),
    /// Mixture of SwiGLU experts.
    Moe(MoeFfn),
}

/// One pre-norm decoder layer.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Norm before attention.
    pub attn_norm: Norm,
    /// Self-attention.
    pub self_attn: Attention,
    /// Norm before the FFN.
    pub ffn_norm: Norm,
    /// The FFN.
    pub ffn: Ffn,
}

/// What one layer's forward pass produced, for capture.
pub(crate) struct LayerTrace {
    pub(crate) layer_input: Tensor<3>,
    pub(crate) post_attention: Tensor<3>,
    pub(crate) context: Tensor<4>,
}

impl DecoderLayer {
    /// Runs the layer on `[B, S, d]`, returning the output and its trace.
    pub(crate) fn forward_traced(
        &self,
        x: Tensor<3>,
        rope: &RopeTables,
        masks: &LayerMasks,
    ) -> (Tensor<3>, LayerTrace) {
        let [b, s, d] = x.dims();
        let (attn_out, context) =
            self.self_attn
                .forward(self.attn_norm.forward(x.clone()), rope, masks.heads.clone());
        let h_mid = x.clone() + attn_out;
        let normed = self.ffn_norm.forward(h_mid.clone());
        let ffn_out = match &self.ffn {
            Ffn::Dense(ffn) => {
                let mut coefficients = ffn.coefficients(normed);
                if let Some(mask) = &masks.neurons {
                    let n = mask.dims()[1];
                    coefficients = coefficients * mask.clone().reshape([1, 1, n]);
                }
                ffn.down_proj.forward(coefficients)
            }
            Ffn::Moe(ffn) => ffn
                .forward(normed.reshape([b * s, d]), masks.neurons.clone())
                .reshape([b, s, d]),
        };
        let out = h_mid.clone() + ffn_out;
        let trace = LayerTrace {
            layer_input: x,
            post_attention: h_mid,
            context,
        };
        (out, trace)
    }
}

/// The reference decoder-only transformer.
#[derive(Module, Debug)]
pub struct Transformer {
    /// Token embedding.
    pub embed_tokens: Embedding,
    /// Decoder layers.
    pub layers: Vec<DecoderLayer>,
    /// Final norm.
    pub final_norm: Norm,
    /// Untied unembedding, `[d_model, vocab]`.
    pub lm_head: Linear,
    /// Longest sequence the model accepts.
    pub max_seq_len: usize,
    /// RoPE base.
    pub rope_theta: f64,
}

impl Transformer {
    /// Next-token logits, `[B, S] -> [B, S, V]`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.forward_ablated(tokens, &Ablation::default())
    }

    /// Next-token logits with the neurons and heads of `ablation` zeroed.
    pub fn forward_ablated(&self, tokens: Tensor<2, Int>, ablation: &Ablation) -> Tensor<3> {
        let (residual, _) = self.forward_residual(tokens, ablation, false);
        self.lm_head.forward(self.final_norm.forward(residual))
    }

    /// Mean next-token cross-entropy of a `[B, S]` batch (predicting tokens `1..S`).
    pub fn next_token_loss(&self, tokens: Tensor<2, Int>) -> Tensor<1> {
        let [b, s] = tokens.dims();
        let logits = self.forward(tokens.clone().slice([0..b, 0..s - 1]));
        let targets = tokens.slice([0..b, 1..s]).reshape([b * (s - 1), 1]);
        let vocab = logits.dims()[2];
        let logprobs =
            burn::tensor::activation::log_softmax(logits.reshape([b * (s - 1), vocab]), 1);
        logprobs.gather(1, targets).mean().neg()
    }

    /// The final residual and, when `trace` is set, every layer's trace.
    pub(crate) fn forward_residual(
        &self,
        tokens: Tensor<2, Int>,
        ablation: &Ablation,
        trace: bool,
    ) -> (Tensor<3>, Vec<LayerTrace>) {
        let device = tokens.device();
        let mut x = self.embed_tokens.forward(tokens);
        let [_, seq, d] = x.dims();
        let head_dim = d / self.layers.first().map_or(1, |l| l.self_attn.n_heads);
        let rope = RopeTables::new(seq, head_dim, self.rope_theta, &device);
        let mut traces = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            let masks = ablation.layer_masks(l, self, &device);
            let (out, layer_trace) = layer.forward_traced(x, &rope, &masks);
            if trace {
                traces.push(layer_trace);
            }
            x = out;
        }
        (x, traces)
    }
}
