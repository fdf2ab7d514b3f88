//! What the model knows about each probe: the gold token's rank and log-probability, computed on
//! the device from next-token logits, so only two short vectors cross to the host.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

use crate::capture::{float_values, int_values};

/// The gold token's standing in each probe's next-token distribution.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GoldReadout {
    /// 0-based rank of the gold token: how many vocabulary tokens have a strictly larger logit
    /// (ties count in the gold token's favour). HIT@k is `rank < k`.
    pub ranks: Vec<u32>,
    /// `log p(gold)` under the full-vocabulary softmax.
    pub logprobs: Vec<f32>,
}

impl GoldReadout {
    /// Reads the gold tokens out of next-token logits `[P, V]`. Gold ids must lie in the
    /// vocabulary (callers check it with [`crate::ProbeBatch::check_fits`]).
    pub fn from_logits(logits: Tensor<2>, gold: &[u32]) -> Self {
        let device = logits.device();
        let [probes, _] = logits.dims();
        assert_eq!(probes, gold.len(), "one gold token per logits row");
        let ids = Tensor::<2, Int>::from_data(
            TensorData::new(gold.iter().map(|&t| t as i64).collect(), [probes, 1]),
            &device,
        );
        let gold_logit = logits.clone().gather(1, ids.clone());
        let ranks = logits
            .clone()
            .greater(gold_logit)
            .int()
            .sum_dim(1)
            .squeeze_dim::<1>(1);
        let logprobs = log_softmax(logits, 1).gather(1, ids).squeeze_dim::<1>(1);
        Self {
            ranks: int_values(ranks).into_iter().map(|r| r as u32).collect(),
            logprobs: float_values(logprobs),
        }
    }

    /// Number of probes.
    pub fn len(&self) -> usize {
        self.ranks.len()
    }

    /// Whether no probe was read.
    pub fn is_empty(&self) -> bool {
        self.ranks.is_empty()
    }

    /// Fraction of probes whose gold token is among the top `k` predictions.
    pub fn hit_at(&self, k: u32) -> f64 {
        if self.ranks.is_empty() {
            return 0.0;
        }
        self.ranks.iter().filter(|&&r| r < k).count() as f64 / self.ranks.len() as f64
    }

    /// Appends another batch's readout.
    pub fn extend(&mut self, other: GoldReadout) {
        self.ranks.extend(other.ranks);
        self.logprobs.extend(other.logprobs);
    }
}
