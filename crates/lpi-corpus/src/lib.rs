//! The demo's training data, embedded in the binary: relational facts about real countries and
//! cities, rendered into sentences by several templates and mixed into public-domain English
//! prose, with the byte-level BPE tokenizer trained on that mixture. Where every file comes
//! from, and under which licence, is in `data/README.md`; `data/build/` rebuilds them.
//!
//! The probes ask for the same facts through templates the model never trains on
//! ([`PROBE_TEMPLATES_JSONL`], one per relation), so a rising HIT@k is knowledge, not template
//! recall. [`FACTS_JSONL`] and [`PROBE_TEMPLATES_JSONL`] are together a probe set in the hook's
//! LAMA format.
//!
//! ```
//! use lpi_corpus::Corpus;
//!
//! let corpus = Corpus::embedded();
//! assert!(corpus.facts().len() > 1000);
//! let sentences = corpus.fact_sentences();
//! assert!(sentences.iter().any(|s| s == "The capital of France is Paris."));
//! ```

#![warn(missing_docs)]

mod mixture;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use mixture::Mixture;

/// Every fact, one per line: `{"sub_label", "predicate_id", "obj_label"}` (LAMA/T-REx style).
pub const FACTS_JSONL: &str = include_str!("../../../data/facts.jsonl");
/// The held-out probe templates, one per relation: `{"relation", "template"}` with `[X]` for the
/// subject and `[Y]` (last) for the object.
pub const PROBE_TEMPLATES_JSONL: &str = include_str!("../../../data/probe_templates.jsonl");
/// The templates that render the facts into training sentences, several per relation.
pub const TRAIN_TEMPLATES_JSONL: &str = include_str!("../../../data/train_templates.jsonl");
/// Public-domain English prose (King James Bible, Genesis onwards), one chapter per line.
pub const TEXT: &str = include_str!("../../../data/text.txt");
/// The byte-level BPE tokenizer trained on the mixture (`cargo run --release --example
/// train_tokenizer`), in the `tokenizers` JSON format.
pub const TOKENIZER_JSON: &str = include_str!("../../../data/tokenizer.json");

/// Why corpus data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A line of a JSONL file is not the expected object.
    #[error("{file}:{line}: {reason}")]
    Line {
        /// The file's name.
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A fact's relation has no training template.
    #[error(
        "{file}:{line}: relation `{relation}` has no training template; add one to train_templates.jsonl"
    )]
    NoTemplate {
        /// The facts file.
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// The relation.
        relation: String,
    },
    /// The tokenizer cannot be loaded or fails to encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The text is too short for one training window.
    #[error("the text has {tokens} tokens, fewer than one window of {window}")]
    TextTooShort {
        /// Tokens in the text.
        tokens: usize,
        /// Tokens in a window.
        window: usize,
    },
}

/// One relational fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// The subject (`France`).
    pub subject: String,
    /// The relation (`capital`).
    pub relation: String,
    /// The object (`Paris`).
    pub object: String,
}

/// The facts, the training templates and the prose.
#[derive(Debug, Clone)]
pub struct Corpus {
    facts: Vec<Fact>,
    templates: BTreeMap<String, Vec<String>>,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactLine {
    sub_label: String,
    predicate_id: String,
    obj_label: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateLine {
    relation: String,
    template: String,
}

fn parse_lines<T: for<'de> Deserialize<'de>>(
    file: &'static str,
    text: &str,
) -> Result<Vec<(usize, T)>, CorpusError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map(|row| (i + 1, row))
                .map_err(|e| CorpusError::Line {
                    file,
                    line: i + 1,
                    reason: e.to_string(),
                })
        })
        .collect()
}

impl Corpus {
    /// The data embedded in this crate.
    ///
    /// # Panics
    /// Never for the embedded files (the crate's tests parse them).
    pub fn embedded() -> Self {
        Self::parse(FACTS_JSONL, TRAIN_TEMPLATES_JSONL, TEXT)
            .expect("the embedded corpus parses (tested)")
    }

    /// Parses facts (`facts.jsonl` lines), training templates (`train_templates.jsonl` lines)
    /// and prose.
    ///
    /// # Errors
    /// A line that is not the expected JSON object, a template without `[X]` and `[Y]`, or a
    /// fact whose relation has no template; each names the file and line.
    pub fn parse(facts: &str, templates: &str, text: &str) -> Result<Self, CorpusError> {
        let mut by_relation: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (line, row) in parse_lines::<TemplateLine>("train_templates.jsonl", templates)? {
            if !(row.template.contains("[X]") && row.template.contains("[Y]")) {
                return Err(CorpusError::Line {
                    file: "train_templates.jsonl",
                    line,
                    reason: format!(
                        "template `{}` needs both [X] (subject) and [Y] (object)",
                        row.template
                    ),
                });
            }
            by_relation
                .entry(row.relation)
                .or_default()
                .push(row.template);
        }
        let facts = parse_lines::<FactLine>("facts.jsonl", facts)?
            .into_iter()
            .map(|(line, row)| {
                if by_relation.contains_key(&row.predicate_id) {
                    Ok(Fact {
                        subject: row.sub_label,
                        relation: row.predicate_id,
                        object: row.obj_label,
                    })
                } else {
                    Err(CorpusError::NoTemplate {
                        file: "facts.jsonl",
                        line,
                        relation: row.predicate_id,
                    })
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            facts,
            templates: by_relation,
            text: text.to_string(),
        })
    }

    /// The facts, in file order.
    pub fn facts(&self) -> &[Fact] {
        &self.facts
    }

    /// The relations, with their training templates.
    pub fn templates(&self) -> &BTreeMap<String, Vec<String>> {
        &self.templates
    }

    /// The prose.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every fact rendered by every training template of its relation, fact by fact.
    pub fn fact_sentences(&self) -> Vec<String> {
        self.facts
            .iter()
            .flat_map(|fact| {
                self.templates[&fact.relation].iter().map(|template| {
                    template
                        .replace("[X]", &fact.subject)
                        .replace("[Y]", &fact.object)
                })
            })
            .collect()
    }

    /// What the tokenizer is trained on: the prose's lines and the fact sentences, the latter
    /// `fact_repeats` times (the training mixture shows facts far more often than the prose
    /// holds them, and the tokenizer should see the same balance).
    pub fn tokenizer_training_text(&self, fact_repeats: usize) -> Vec<String> {
        let sentences = self.fact_sentences();
        let mut texts: Vec<String> = self.text.lines().map(str::to_string).collect();
        for _ in 0..fact_repeats {
            texts.extend(sentences.iter().cloned());
        }
        texts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_data_parses_and_every_relation_has_a_probe_template() {
        let corpus = Corpus::embedded();
        assert!(corpus.facts().len() > 1000);
        let probe_relations: Vec<String> =
            parse_lines::<TemplateLine>("probe_templates.jsonl", PROBE_TEMPLATES_JSONL)
                .unwrap()
                .into_iter()
                .map(|(_, row)| row.relation)
                .collect();
        for relation in corpus.templates().keys() {
            assert!(probe_relations.contains(relation), "{relation}");
        }
    }

    #[test]
    fn probe_templates_are_held_out() {
        let corpus = Corpus::embedded();
        for (_, row) in
            parse_lines::<TemplateLine>("probe_templates.jsonl", PROBE_TEMPLATES_JSONL).unwrap()
        {
            let prefix = row.template.split("[Y]").next().unwrap();
            for template in &corpus.templates()[&row.relation] {
                assert!(
                    !template.starts_with(prefix),
                    "probe template `{}` is a training template's prefix: `{template}`",
                    row.template
                );
            }
        }
    }

    #[test]
    fn every_fact_object_is_one_token_after_a_space() {
        let tokenizer: tokenizers::Tokenizer = TOKENIZER_JSON.parse().unwrap();
        let corpus = Corpus::embedded();
        let long: Vec<&str> = corpus
            .facts()
            .iter()
            .map(|f| f.object.as_str())
            .filter(|o| tokenizer.encode(format!(" {o}"), false).unwrap().len() != 1)
            .collect();
        assert!(long.is_empty(), "more than one token: {long:?}");
    }

    #[test]
    fn the_facts_and_probe_templates_are_a_valid_probe_set() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        let (set, report) = lpi_probes::ProbeSet::load_lama(
            data.join("facts.jsonl"),
            data.join("probe_templates.jsonl"),
            lpi_probes::Strictness::Strict,
        )
        .unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(set.len(), Corpus::embedded().facts().len());
    }

    #[test]
    fn bad_lines_are_named() {
        let err = Corpus::parse(
            "{\"sub_label\":\"A\",\"predicate_id\":\"r\",\"obj_label\":\"B\"}\n{oops}\n",
            "{\"relation\":\"r\",\"template\":\"[X] r [Y].\"}\n",
            "",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("facts.jsonl:2:"), "{err}");
        let err = Corpus::parse(
            "{\"sub_label\":\"A\",\"predicate_id\":\"s\",\"obj_label\":\"B\"}\n",
            "{\"relation\":\"r\",\"template\":\"[X] r [Y].\"}\n",
            "",
        )
        .unwrap_err();
        assert!(
            matches!(err, CorpusError::NoTemplate { line: 1, ref relation, .. } if relation == "s"),
            "{err}"
        );
        let err =
            Corpus::parse("", "{\"relation\":\"r\",\"template\":\"[X] r.\"}\n", "").unwrap_err();
        assert!(err.to_string().contains("train_templates.jsonl:1"), "{err}");
    }
}
