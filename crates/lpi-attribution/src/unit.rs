//! Canonical identifiers for every attributable unit.
//!
//! One naming scheme is used everywhere a unit appears: in profiles, snapshots, metric labels and
//! command output. A neuron is `l{layer}.e{expert}.n{index}` (dense models have one expert, `e0`);
//! a head is `l{layer}.h{head}`.

use std::fmt;
use std::str::FromStr;

/// One FFN/expert neuron or attention head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitId {
    /// Neuron `index` of expert `expert` in the FFN of layer `layer` (dense: expert 0).
    Neuron {
        /// Decoder layer, from 0.
        layer: usize,
        /// Expert within the layer's MoE FFN; 0 for a dense FFN.
        expert: usize,
        /// Intermediate neuron within the expert.
        index: usize,
    },
    /// Attention head `head` of layer `layer`.
    Head {
        /// Decoder layer, from 0.
        layer: usize,
        /// Head within the layer.
        head: usize,
    },
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitId::Neuron {
                layer,
                expert,
                index,
            } => write!(f, "l{layer}.e{expert}.n{index}"),
            UnitId::Head { layer, head } => write!(f, "l{layer}.h{head}"),
        }
    }
}

/// A string that is not a canonical unit id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a unit id: expected `l<layer>.e<expert>.n<neuron>` or `l<layer>.h<head>`, e.g. `l3.e5.n17` or `l3.h2`"
)]
pub struct ParseUnitIdError(String);

impl FromStr for UnitId {
    type Err = ParseUnitIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseUnitIdError(s.to_string());
        let number = |part: &str, prefix: char| -> Result<usize, ParseUnitIdError> {
            part.strip_prefix(prefix)
                .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse().ok())
                .ok_or_else(err)
        };
        let parts: Vec<&str> = s.split('.').collect();
        match parts.as_slice() {
            [l, e, n] => Ok(UnitId::Neuron {
                layer: number(l, 'l')?,
                expert: number(e, 'e')?,
                index: number(n, 'n')?,
            }),
            [l, h] => Ok(UnitId::Head {
                layer: number(l, 'l')?,
                head: number(h, 'h')?,
            }),
            _ => Err(err()),
        }
    }
}

/// The shape of a model's attributable units and their flat order.
///
/// Neurons are ordered layer-major, then expert, then index; heads layer-major, then head. Flat
/// neuron vectors (profiles, scores) follow this order; so do flat head vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnitLayout {
    /// Decoder layers.
    pub layers: usize,
    /// Experts per layer (1 for a dense FFN).
    pub experts: usize,
    /// Intermediate neurons per expert.
    pub neurons_per_expert: usize,
    /// Attention heads per layer.
    pub heads: usize,
}

impl UnitLayout {
    /// Neurons in the whole model.
    pub fn num_neurons(&self) -> usize {
        self.layers * self.experts * self.neurons_per_expert
    }

    /// Neurons in one layer (all experts).
    pub fn neurons_per_layer(&self) -> usize {
        self.experts * self.neurons_per_expert
    }

    /// Heads in the whole model.
    pub fn num_heads(&self) -> usize {
        self.layers * self.heads
    }

    /// Flat position of a neuron.
    pub fn neuron_index(&self, layer: usize, expert: usize, index: usize) -> usize {
        debug_assert!(layer < self.layers && expert < self.experts);
        debug_assert!(index < self.neurons_per_expert);
        (layer * self.experts + expert) * self.neurons_per_expert + index
    }

    /// Flat position of a head.
    pub fn head_index(&self, layer: usize, head: usize) -> usize {
        debug_assert!(layer < self.layers && head < self.heads);
        layer * self.heads + head
    }

    /// The neuron at a flat position.
    pub fn neuron(&self, flat: usize) -> UnitId {
        let index = flat % self.neurons_per_expert;
        let expert = (flat / self.neurons_per_expert) % self.experts;
        let layer = flat / self.neurons_per_layer();
        UnitId::Neuron {
            layer,
            expert,
            index,
        }
    }

    /// The head at a flat position.
    pub fn head(&self, flat: usize) -> UnitId {
        UnitId::Head {
            layer: flat / self.heads,
            head: flat % self.heads,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        for id in [
            UnitId::Neuron {
                layer: 3,
                expert: 5,
                index: 1023,
            },
            UnitId::Head { layer: 0, head: 7 },
        ] {
            assert_eq!(id.to_string().parse::<UnitId>(), Ok(id));
        }
        assert_eq!(
            UnitId::Neuron {
                layer: 3,
                expert: 5,
                index: 17
            }
            .to_string(),
            "l3.e5.n17"
        );
        for bad in [
            "",
            "l3",
            "l3.e5",
            "l3.x5.n1",
            "l.e1.n1",
            "l3.h-1",
            "l3.e5.n1.z",
        ] {
            assert!(bad.parse::<UnitId>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn flat_order_inverts() {
        let layout = UnitLayout {
            layers: 3,
            experts: 4,
            neurons_per_expert: 5,
            heads: 2,
        };
        for flat in 0..layout.num_neurons() {
            let UnitId::Neuron {
                layer,
                expert,
                index,
            } = layout.neuron(flat)
            else {
                unreachable!()
            };
            assert_eq!(layout.neuron_index(layer, expert, index), flat);
        }
        for flat in 0..layout.num_heads() {
            let UnitId::Head { layer, head } = layout.head(flat) else {
                unreachable!()
            };
            assert_eq!(layout.head_index(layer, head), flat);
        }
    }
}
