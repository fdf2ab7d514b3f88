//! [`Attributable`] for the reference [`Transformer`]: every capture site at the probe positions.

use burn::tensor::{Device, Int, Tensor, TensorData};
use lpi_attribution::{
    Attributable, FfnCapture, FinalNorm, HeadMasking, LayerCapture, ModelCapture, Readout, UnitId,
};

use crate::ablation::Ablation;
use crate::transformer::{Ffn, Norm, Transformer};

impl Attributable for Transformer {
    fn capture(&self, tokens: Tensor<2, Int>, positions: &[usize]) -> ModelCapture {
        let device = tokens.device();
        let [b, s] = tokens.dims();
        let d = self.lm_head.weight.dims()[0];
        let rows = position_rows(positions, s, &device);
        let at = |x: Tensor<3>| x.reshape([b * s, d]).select(0, rows.clone());

        let (residual, traces) = self.forward_residual(tokens, &Ablation::default(), true);
        let layers = self
            .layers
            .iter()
            .zip(traces)
            .map(|(layer, trace)| {
                let [_, h, _, dh] = trace.context.dims();
                // Each head's context times its rows of o_proj: [H, P, dh] x [H, dh, d].
                let context = trace
                    .context
                    .swap_dims(1, 2)
                    .reshape([b * s, h, dh])
                    .select(0, rows.clone())
                    .swap_dims(0, 1);
                let o_proj = layer.self_attn.o_proj.weight.val().reshape([h, dh, d]);
                let head_outputs = context.matmul(o_proj).swap_dims(0, 1);

                let post_attention = at(trace.post_attention);
                let normed = layer.ffn_norm.forward(post_attention.clone());
                let ffn = match &layer.ffn {
                    Ffn::Dense(ffn) => FfnCapture::Dense {
                        coefficients: ffn.coefficients(normed),
                        write_out: ffn.down_proj.weight.val(),
                    },
                    Ffn::Moe(ffn) => {
                        let router_probs = ffn.router_probs(normed.clone());
                        let (experts, gates) = ffn.route(router_probs.clone());
                        let all = ffn.coefficients(normed).swap_dims(0, 1); // [P, E, n]
                        let [_, _, n] = all.dims();
                        let k = ffn.top_k;
                        let index = experts.clone().reshape([b, k, 1]).expand([b, k, n]);
                        FfnCapture::Moe {
                            router_probs,
                            experts,
                            gates,
                            coefficients: all.gather(1, index),
                            write_out: ffn.down_proj.val(),
                        }
                    }
                };
                LayerCapture {
                    layer_input: at(trace.layer_input),
                    post_attention,
                    head_outputs,
                    ffn,
                }
            })
            .collect();
        let norm = match &self.final_norm {
            Norm::Rms(norm) => FinalNorm::Rms {
                gain: norm.gamma.val(),
                epsilon: norm.epsilon,
            },
            Norm::LayerNorm(norm) => FinalNorm::LayerNorm {
                gain: None,
                epsilon: norm.epsilon,
            },
        };
        ModelCapture {
            layers,
            final_residual: at(residual),
            readout: Readout {
                norm,
                unembedding: self.lm_head.weight.val(),
            },
        }
    }

    fn vocab_size(&self) -> usize {
        self.lm_head.weight.dims()[1]
    }

    fn context_length(&self) -> usize {
        self.max_seq_len
    }
}

impl HeadMasking for Transformer {
    fn logits_without_heads(
        &self,
        tokens: Tensor<2, Int>,
        positions: &[usize],
        heads: &[UnitId],
    ) -> Tensor<2> {
        let device = tokens.device();
        let [b, s] = tokens.dims();
        let logits = self.forward_ablated(tokens, &Ablation::new(heads.iter().copied()));
        let vocab = logits.dims()[2];
        let rows = position_rows(positions, s, &device);
        logits.reshape([b * s, vocab]).select(0, rows)
    }
}

/// Row `i * seq + positions[i]` of each sequence `i`, to pick probe positions out of a
/// `[batch * seq, ..]` flattening.
fn position_rows(positions: &[usize], seq: usize, device: &Device) -> Tensor<1, Int> {
    let rows: Vec<i64> = positions
        .iter()
        .enumerate()
        .map(|(i, &p)| (i * seq + p) as i64)
        .collect();
    Tensor::from_data(TensorData::new(rows, [positions.len()]), device)
}
