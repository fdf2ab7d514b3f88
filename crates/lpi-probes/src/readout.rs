//! Knowledge readouts: how well the model knows the probed facts (DESIGN.md 2.4).

use serde::{Deserialize, Serialize};

/// Readouts over a group of probes, from the 0-based rank of each probe's gold token (the number of vocabulary
/// tokens with a strictly larger logit) and its log-probability.
///
/// - `hit_at_1`, `hit_at_10`: the fraction of probes with rank < 1, < 10 (gold token among the top-k predictions);
/// - `mrr`: mean reciprocal rank, the mean of 1 / (rank + 1);
/// - `mean_gold_logprob`: the mean log-probability of the gold token.
///
/// An empty group has `probes == 0` and all values 0 (JSON has no NaN).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct KnowledgeReadout {
    /// The number of probes in the group.
    pub probes: usize,
    /// Fraction of probes whose gold token is the top prediction.
    pub hit_at_1: f64,
    /// Fraction of probes whose gold token is among the 10 top predictions.
    pub hit_at_10: f64,
    /// Mean of 1 / (rank + 1).
    pub mrr: f64,
    /// Mean gold-token log-probability (natural log).
    pub mean_gold_logprob: f64,
}

impl KnowledgeReadout {
    /// The readout of one group, from its probes' ranks and gold log-probabilities.
    ///
    /// # Panics
    /// When the slices differ in length.
    pub fn from_results(ranks: &[u32], gold_logprobs: &[f32]) -> Self {
        assert_eq!(
            ranks.len(),
            gold_logprobs.len(),
            "one rank and one log-probability per probe"
        );
        let mut sums = Sums::default();
        for (&rank, &logprob) in ranks.iter().zip(gold_logprobs) {
            sums.add(rank, logprob);
        }
        sums.readout()
    }
}

/// Readouts over all probes and per relation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Readouts {
    /// Over every probe, with or without a relation.
    pub overall: KnowledgeReadout,
    /// Per relation, in order of the relation's first appearance among the probes. Probes without a relation are
    /// in the overall readout only; relations without probes are left out.
    pub per_relation: Vec<(String, KnowledgeReadout)>,
}

impl Readouts {
    /// The readout of `relation`, if it had probes.
    pub fn relation(&self, relation: &str) -> Option<&KnowledgeReadout> {
        self.per_relation
            .iter()
            .find(|(r, _)| r == relation)
            .map(|(_, readout)| readout)
    }
}

/// Computes the readouts of a probe run, overall and per relation.
///
/// `ranks[i]` is the 0-based rank of probe `i`'s gold token (the number of tokens with a strictly larger logit),
/// `gold_logprobs[i]` its log-probability, `relation_of[i]` its index into `relations` (as in
/// [`crate::TokenizedProbes`]).
///
/// ```
/// use lpi_probes::readouts;
/// let relations = vec!["capital".to_string()];
/// let r = readouts(&[0, 4], &[-0.1, -2.0], &[Some(0), None], &relations);
/// assert_eq!(r.overall.hit_at_1, 0.5);
/// assert_eq!(r.overall.mrr, (1.0 + 0.2) / 2.0);
/// assert_eq!(r.per_relation[0].1.probes, 1);
/// ```
///
/// # Panics
/// When the three per-probe slices differ in length, or a relation index is out of range of `relations`.
pub fn readouts(
    ranks: &[u32],
    gold_logprobs: &[f32],
    relation_of: &[Option<usize>],
    relations: &[String],
) -> Readouts {
    assert_eq!(
        ranks.len(),
        gold_logprobs.len(),
        "one rank and one log-probability per probe"
    );
    assert_eq!(
        ranks.len(),
        relation_of.len(),
        "one relation entry per probe"
    );
    let mut overall = Sums::default();
    let mut per_relation = vec![Sums::default(); relations.len()];
    let mut order = Vec::new();
    for ((&rank, &logprob), &relation) in ranks.iter().zip(gold_logprobs).zip(relation_of) {
        overall.add(rank, logprob);
        if let Some(r) = relation {
            assert!(
                r < relations.len(),
                "relation index {r} out of range ({} relations)",
                relations.len()
            );
            if per_relation[r].probes == 0 {
                order.push(r);
            }
            per_relation[r].add(rank, logprob);
        }
    }
    Readouts {
        overall: overall.readout(),
        per_relation: order
            .into_iter()
            .map(|r| (relations[r].clone(), per_relation[r].readout()))
            .collect(),
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    probes: usize,
    hit_at_1: usize,
    hit_at_10: usize,
    reciprocal_rank: f64,
    gold_logprob: f64,
}

impl Sums {
    fn add(&mut self, rank: u32, logprob: f32) {
        self.probes += 1;
        self.hit_at_1 += usize::from(rank < 1);
        self.hit_at_10 += usize::from(rank < 10);
        self.reciprocal_rank += 1.0 / (f64::from(rank) + 1.0);
        self.gold_logprob += f64::from(logprob);
    }

    fn readout(&self) -> KnowledgeReadout {
        if self.probes == 0 {
            return KnowledgeReadout::default();
        }
        let n = self.probes as f64;
        KnowledgeReadout {
            probes: self.probes,
            hit_at_1: self.hit_at_1 as f64 / n,
            hit_at_10: self.hit_at_10 as f64 / n,
            mrr: self.reciprocal_rank / n,
            mean_gold_logprob: self.gold_logprob / n,
        }
    }
}
