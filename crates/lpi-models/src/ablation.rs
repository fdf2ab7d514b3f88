//! Zeroing chosen neurons and heads in the forward pass: the interventions that check what an
//! attribution claims (ablating important units should hurt) and that measure robustness.

use std::collections::BTreeSet;

use burn::tensor::{Device, Tensor, TensorData};
use lpi_attribution::UnitId;

use crate::transformer::{Ffn, Transformer};

/// A set of neurons and heads whose output is forced to zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ablation {
    units: BTreeSet<UnitId>,
}

impl Ablation {
    /// Ablates the given units.
    pub fn new(units: impl IntoIterator<Item = UnitId>) -> Self {
        Self {
            units: units.into_iter().collect(),
        }
    }

    /// The ablated units.
    pub fn units(&self) -> impl Iterator<Item = &UnitId> {
        self.units.iter()
    }

    /// Whether nothing is ablated.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The multiplicative masks of one layer (`None` where nothing in it is ablated).
    pub(crate) fn layer_masks(
        &self,
        layer: usize,
        model: &Transformer,
        device: &Device,
    ) -> LayerMasks {
        let block = &model.layers[layer];
        let heads = block.self_attn.n_heads;
        let (experts, neurons) = match &block.ffn {
            Ffn::Dense(ffn) => (1, ffn.gate_proj.weight.dims()[1]),
            Ffn::Moe(ffn) => {
                let [e, _, n] = ffn.gate_proj.dims();
                (e, n)
            }
        };
        // Masks are built only for a layer that has ablated units: the plain forward pass
        // (training) allocates nothing here.
        let mut head_mask: Option<Vec<f32>> = None;
        let mut neuron_mask: Option<Vec<f32>> = None;
        for unit in &self.units {
            match *unit {
                UnitId::Head { layer: l, head } if l == layer && head < heads => {
                    head_mask.get_or_insert_with(|| vec![1.0; heads])[head] = 0.0;
                }
                UnitId::Neuron {
                    layer: l,
                    expert,
                    index,
                } if l == layer && expert < experts && index < neurons => {
                    neuron_mask.get_or_insert_with(|| vec![1.0; experts * neurons])
                        [expert * neurons + index] = 0.0;
                }
                _ => {}
            }
        }
        LayerMasks {
            heads: head_mask.map(|m| Tensor::from_data(TensorData::new(m, [heads]), device)),
            neurons: neuron_mask
                .map(|m| Tensor::from_data(TensorData::new(m, [experts, neurons]), device)),
        }
    }
}

/// Multiplicative masks for one layer: heads `[H]`, neurons `[experts, d_ff]` (dense: one expert).
pub(crate) struct LayerMasks {
    pub(crate) heads: Option<Tensor<1>>,
    pub(crate) neurons: Option<Tensor<2>>,
}
