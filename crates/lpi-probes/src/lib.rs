//! Probe sets of relational facts for Gated-LPI: loading, validation, tokenisation and knowledge readouts.
//!
//! A probe is a prompt and the fact's object that should come next ("The capital of France is" -> "Paris"). The
//! training hook runs the model on every probe, scores the gold token (the first token of the target), and turns
//! the results into importance profiles and knowledge readouts (HIT@1, HIT@10, MRR, mean gold log-probability).
//! This crate holds everything about probes that does not need a tensor library.
//!
//! - Load: [`ProbeSet::load_jsonl`] (one `{"prompt", "target", "relation"?, "subject"?, "id"?}` per line),
//!   [`ProbeSet::load_lama`] (LAMA / T-REx triples plus relation templates), [`ProbeSet::from_probes`] (in code).
//!   Every problem is reported with its file, line and field and what to do ([`ProbeReport`]); [`Strictness`]
//!   says whether a problem fails the load (default) or skips the line. Blank lines are ignored.
//! - Tokenise: [`ProbeSet::tokenize`] with any [`ProbeTokenizer`]: [`HfTokenizer`] (a `tokenizer.json`) or
//!   [`WordTokenizer`] (synthetic worlds); [`TargetPolicy`] explains the leading-space rule for targets and
//!   multi-token targets.
//! - Read out: [`readouts`] over per-probe gold ranks and log-probabilities, overall and per relation.
//! - Check: [`check`] runs all of it on a file and reports every problem (the `lpi probes check` command).
//!
//! ```
//! use lpi_probes::{readouts, ProbeSet, Strictness, TargetPolicy, WordTokenizer};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("probes.jsonl");
//! std::fs::write(
//!     &file,
//!     r#"{"prompt": "the capital of France is", "target": "Paris", "relation": "capital"}
//!
//! {"prompt": "Dante was born in", "target": "Florence", "relation": "birthplace", "id": "dante"}
//! "#,
//! )?;
//! let (set, report) = ProbeSet::load_jsonl(&file, Strictness::Strict)?;
//! assert_eq!(report.probes, 2);
//! assert_eq!(set.relations(), ["capital", "birthplace"]);
//! assert_eq!(set.probes()[0].id, "probes.jsonl:1"); // no id: file name and line
//!
//! let vocab = ["the", "capital", "of", "France", "is", "Paris", "Dante", "was", "born", "in", "Florence"];
//! let tokenizer = WordTokenizer::new(vocab);
//! let (tokens, _) = set.tokenize(&tokenizer, &TargetPolicy::default(), 16, Strictness::Strict)?;
//! assert_eq!(tokens.targets, [5, 10]);
//!
//! // Ranks and log-probabilities come from the model; here the model knows the first fact only.
//! let r = readouts(&[0, 37], &[-0.2, -6.0], &tokens.relation_of, &tokens.relations);
//! assert_eq!(r.overall.hit_at_1, 0.5);
//! assert_eq!(r.relation("capital").unwrap().mrr, 1.0);
//! # Ok(()) }
//! ```

mod check;
mod probe;
mod problem;
mod readout;
mod tokenize;

pub use check::{CheckOptions, CheckOutcome, check};
pub use probe::{Probe, ProbeSet, Strictness};
pub use problem::{
    MultiTokenTarget, Origin, PROGRAMMATIC_FILE, ProbeProblem, ProbeReport, ProbeSetError,
    ProblemKind,
};
pub use readout::{KnowledgeReadout, Readouts, readouts};
pub use tokenize::{HfTokenizer, ProbeTokenizer, TargetPolicy, TokenizedProbes, WordTokenizer};
