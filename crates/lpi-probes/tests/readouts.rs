//! Knowledge readouts against hand-computed values and invariants.

use lpi_probes::{KnowledgeReadout, Readouts, readouts};
use proptest::prelude::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn assert_readout(actual: &KnowledgeReadout, expected: (usize, f64, f64, f64, f64)) {
    let (probes, hit1, hit10, mrr, logprob) = expected;
    assert_eq!(actual.probes, probes, "{actual:?}");
    assert!(close(actual.hit_at_1, hit1), "hit@1 {actual:?}");
    assert!(close(actual.hit_at_10, hit10), "hit@10 {actual:?}");
    assert!(close(actual.mrr, mrr), "mrr {actual:?}");
    assert!(
        (actual.mean_gold_logprob - logprob).abs() < 1e-6,
        "logprob {actual:?}"
    );
}

#[test]
fn two_relations_and_an_unlabelled_probe() {
    // Relation "birthplace" appears first in the probes although it is listed second.
    let relations = vec!["capital".to_string(), "birthplace".to_string()];
    let ranks = [3, 0, 12, 9, 0];
    let logprobs = [-2.0f32, -0.5, -7.0, -3.0, -0.25];
    let relation_of = [Some(1), Some(0), Some(1), None, Some(0)];
    let r = readouts(&ranks, &logprobs, &relation_of, &relations);

    // Overall: ranks 3, 0, 12, 9, 0. Top-1: two probes; top-10: ranks 3, 0, 9, 0 -> four.
    let mrr = (1.0 / 4.0 + 1.0 + 1.0 / 13.0 + 1.0 / 10.0 + 1.0) / 5.0;
    assert_readout(
        &r.overall,
        (
            5,
            2.0 / 5.0,
            4.0 / 5.0,
            mrr,
            (-2.0 - 0.5 - 7.0 - 3.0 - 0.25) / 5.0,
        ),
    );

    let names: Vec<&str> = r.per_relation.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["birthplace", "capital"]);
    // birthplace: ranks 3 and 12.
    assert_readout(
        &r.per_relation[0].1,
        (2, 0.0, 0.5, (1.0 / 4.0 + 1.0 / 13.0) / 2.0, -4.5),
    );
    // capital: ranks 0 and 0.
    assert_readout(r.relation("capital").unwrap(), (2, 1.0, 1.0, 1.0, -0.375));
    // The unlabelled probe (rank 9) is only in the overall readout.
    let labelled: usize = r.per_relation.iter().map(|(_, k)| k.probes).sum();
    assert_eq!(labelled, 4);
}

#[test]
fn relations_without_probes_are_left_out_and_empty_input_is_zero() {
    let relations = vec!["a".to_string(), "b".to_string()];
    let r = readouts(&[1], &[-1.0], &[Some(1)], &relations);
    assert_eq!(r.per_relation.len(), 1);
    assert_eq!(r.per_relation[0].0, "b");
    assert!(r.relation("a").is_none());
    let empty = readouts(&[], &[], &[], &relations);
    assert_eq!(empty, Readouts::default());
}

#[test]
fn readouts_round_trip_through_json() {
    let relations = vec!["capital".to_string()];
    let r = readouts(&[0, 5], &[-0.1, -3.5], &[Some(0), None], &relations);
    let json = serde_json::to_string(&r).unwrap();
    let back: Readouts = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    assert!(json.contains("\"hit_at_10\""), "{json}");
}

#[test]
#[should_panic(expected = "relation index 2 out of range")]
fn relation_index_out_of_range_panics() {
    readouts(&[0], &[0.0], &[Some(2)], &["a".to_string()]);
}

proptest! {
    #[test]
    fn readout_invariants(results in prop::collection::vec((0u32..50_000, -30.0f32..0.0), 1..64)) {
        let (ranks, logprobs): (Vec<u32>, Vec<f32>) = results.into_iter().unzip();
        let k = KnowledgeReadout::from_results(&ranks, &logprobs);
        prop_assert!(k.hit_at_1 <= k.hit_at_10);
        prop_assert!(k.mrr > 0.0 && k.mrr <= 1.0);
        prop_assert!(k.hit_at_1 <= k.mrr + 1e-12);
        prop_assert!(k.mean_gold_logprob <= 0.0);
        let relation_of = vec![None; ranks.len()];
        prop_assert_eq!(readouts(&ranks, &logprobs, &relation_of, &[]).overall, k);
    }
}
