//! Tokenisation with a real `tokenizers` byte-level BPE, trained here offline and loaded from tokenizer.json.

use std::path::{Path, PathBuf};

use lpi_probes::{
    HfTokenizer, Origin, Probe, ProbeSet, ProbeSetError, ProbeTokenizer, ProblemKind, Strictness,
    TargetPolicy, WordTokenizer,
};
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;

/// Trains a GPT-2-style byte-level BPE (no prefix space) on a few sentences and saves it as tokenizer.json.
fn train_tokenizer(dir: &Path) -> PathBuf {
    let sentences = [
        "The capital of France is Paris.",
        "The capital of Italy is Rome.",
        "The capital of Spain is Madrid.",
        "Dante was born in Florence.",
        "Paris is a city. Rome is a city. Madrid is a city.",
        "The capital of Germany is Berlin. Berlin is large.",
    ];
    let corpus: Vec<String> = sentences
        .iter()
        .cycle()
        .take(sentences.len() * 20)
        .map(|s| s.to_string())
        .collect();
    let mut tokenizer = tokenizers::Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevel::new(false, true, true)));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(400)
        .min_frequency(2)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    tokenizer.train(&mut trainer, corpus.into_iter()).unwrap();
    let path = dir.join("tokenizer.json");
    tokenizer.save(&path, false).unwrap();
    path
}

fn probe(id: &str, prompt: &str, target: &str, relation: Option<&str>, index: usize) -> Probe {
    Probe {
        id: id.into(),
        prompt: prompt.into(),
        target: target.into(),
        relation: relation.map(Into::into),
        subject: None,
        origin: Origin::programmatic(index),
    }
}

#[test]
fn leading_space_rule_picks_the_word_start_token() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = HfTokenizer::from_file(train_tokenizer(dir.path())).unwrap();
    let with_space = tokenizer.encode(" Paris").unwrap();
    let without_space = tokenizer.encode("Paris").unwrap();
    // The corpus only has "Paris" after a space or at a sentence start: the two encodings differ.
    assert_ne!(with_space[0], without_space[0]);
    assert_eq!(with_space.len(), 1, "` Paris` is one token in this corpus");

    let set = ProbeSet::from_probes(vec![probe(
        "fr",
        "The capital of France is",
        "Paris",
        Some("capital"),
        0,
    )])
    .unwrap();
    let (tokens, report) = set
        .tokenize(&tokenizer, &TargetPolicy::default(), 64, Strictness::Strict)
        .unwrap();
    assert!(report.is_clean());
    assert_eq!(tokens.targets, vec![with_space[0]]);
    assert_eq!(
        tokens.prompts[0],
        tokenizer.encode("The capital of France is").unwrap()
    );
    // A target written with its own space gets the same token under the default policy.
    let spaced = ProbeSet::from_probes(vec![probe(
        "fr",
        "The capital of France is",
        " Paris",
        None,
        0,
    )])
    .unwrap();
    let (spaced_tokens, _) = spaced
        .tokenize(&tokenizer, &TargetPolicy::default(), 64, Strictness::Strict)
        .unwrap();
    assert_eq!(spaced_tokens.targets, vec![with_space[0]]);

    let off = TargetPolicy {
        leading_space: false,
        ..TargetPolicy::default()
    };
    let (tokens, _) = set
        .tokenize(&tokenizer, &off, 64, Strictness::Strict)
        .unwrap();
    assert_eq!(tokens.targets, vec![without_space[0]]);
}

#[test]
fn multi_token_targets_are_counted_and_optionally_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = HfTokenizer::from_file(train_tokenizer(dir.path())).unwrap();
    // A word the corpus never saw splits into several tokens.
    let long = " Ouagadougou";
    let long_tokens = tokenizer.encode(long).unwrap();
    assert!(long_tokens.len() > 1);
    let set = ProbeSet::from_probes(vec![
        probe(
            "fr",
            "The capital of France is",
            "Paris",
            Some("capital"),
            0,
        ),
        probe(
            "bf",
            "The capital of Burkina Faso is",
            long,
            Some("capital"),
            1,
        ),
        probe("it", "The capital of Italy is", "Rome", None, 2),
    ])
    .unwrap();

    let (kept, report) = set
        .tokenize(&tokenizer, &TargetPolicy::default(), 64, Strictness::Strict)
        .unwrap();
    assert_eq!((kept.len(), kept.multi_token_targets), (3, 1));
    assert_eq!(
        (report.multi_token_targets, report.dropped_multi_token),
        (1, 0)
    );
    assert_eq!(report.multi_token[0].id, "bf");
    assert_eq!(report.multi_token[0].tokens, long_tokens.len());
    assert_eq!(kept.targets[1], long_tokens[0]);
    assert_eq!(kept.relation_of, vec![Some(0), Some(0), None]);
    assert_eq!(kept.relations, vec!["capital".to_string()]);
    assert!(
        report.to_string().contains("1 multi-token target"),
        "{report}"
    );

    let drop = TargetPolicy {
        drop_multi_token: true,
        ..TargetPolicy::default()
    };
    let (kept, report) = set
        .tokenize(&tokenizer, &drop, 64, Strictness::Strict)
        .unwrap();
    assert_eq!(kept.ids, vec!["fr".to_string(), "it".to_string()]);
    assert_eq!(kept.multi_token_targets, 0);
    assert_eq!(
        (
            report.multi_token_targets,
            report.dropped_multi_token,
            report.probes
        ),
        (1, 1, 2)
    );
    assert!(report.is_clean());
}

#[test]
fn prompt_too_long_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = HfTokenizer::from_file(train_tokenizer(dir.path())).unwrap();
    let long_prompt =
        "The capital of France is Paris. The capital of Italy is Rome. The capital of Spain is";
    let long_len = tokenizer.encode(long_prompt).unwrap().len();
    let short_len = tokenizer.encode("Dante was born in").unwrap().len();
    assert!(short_len < long_len);
    let set = ProbeSet::from_probes(vec![
        probe("dante", "Dante was born in", "Florence", None, 0),
        probe("long", long_prompt, "Madrid", None, 1),
    ])
    .unwrap();
    let context = short_len;
    let err = set
        .tokenize(
            &tokenizer,
            &TargetPolicy::default(),
            context,
            Strictness::Strict,
        )
        .unwrap_err();
    let ProbeSetError::Invalid(report) = err else {
        panic!("expected invalid input")
    };
    assert_eq!(report.problems.len(), 1);
    let p = &report.problems[0];
    assert_eq!((p.line, p.field.as_deref()), (2, Some("prompt")));
    assert_eq!(
        p.kind,
        ProblemKind::PromptTooLong {
            tokens: long_len,
            context_length: context
        }
    );
    let (kept, report) = set
        .tokenize(
            &tokenizer,
            &TargetPolicy::default(),
            context,
            Strictness::Lenient,
        )
        .unwrap();
    assert_eq!(
        (kept.ids.as_slice(), report.skipped, report.probes),
        (["dante".to_string()].as_slice(), 1, 1)
    );
}

/// Drops every word it does not know, the way a normaliser can strip characters: the target can vanish.
struct DroppingTokenizer(WordTokenizer);

impl ProbeTokenizer for DroppingTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        Ok(text
            .split_whitespace()
            .filter_map(|w| self.0.id(w))
            .collect())
    }
    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }
}

/// Returns an id outside its vocabulary for one word.
struct BrokenTokenizer;

impl ProbeTokenizer for BrokenTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        Ok(text
            .split_whitespace()
            .map(|w| if w == "bad" { 99 } else { 0 })
            .collect())
    }
    fn vocab_size(&self) -> usize {
        3
    }
}

#[test]
fn target_to_nothing_prompt_to_nothing_and_tokenizer_errors() {
    let words = WordTokenizer::new(["the", "capital", "of", "France", "is", "Paris"]);
    let set = ProbeSet::from_probes(vec![
        probe("ok", "the capital of France is", "Paris", None, 0),
        probe("gone", "the capital of France is", "Lutetia", None, 1),
        probe("silent", "Lutetia", "Paris", None, 2),
    ])
    .unwrap();
    let dropping = DroppingTokenizer(words.clone());
    let err = set
        .tokenize(&dropping, &TargetPolicy::default(), 16, Strictness::Strict)
        .unwrap_err();
    let ProbeSetError::Invalid(report) = err else {
        panic!("expected invalid input")
    };
    let found: Vec<(usize, Option<&str>, &ProblemKind)> = report
        .problems
        .iter()
        .map(|p| (p.line, p.field.as_deref(), &p.kind))
        .collect();
    assert_eq!(
        found,
        vec![
            (2, Some("target"), &ProblemKind::TargetTokenizesToNothing),
            (3, Some("prompt"), &ProblemKind::PromptTokenizesToNothing),
        ]
    );

    let err = set
        .tokenize(&words, &TargetPolicy::default(), 16, Strictness::Strict)
        .unwrap_err();
    let ProbeSetError::Invalid(report) = err else {
        panic!("expected invalid input")
    };
    assert_eq!(report.problems.len(), 2);
    assert_eq!(
        report.problems[0].kind,
        ProblemKind::TokenizerFailed {
            message: "unknown word `Lutetia`".into()
        }
    );

    let set = ProbeSet::from_probes(vec![probe("x", "a bad prompt", "b", None, 0)]).unwrap();
    let err = set
        .tokenize(
            &BrokenTokenizer,
            &TargetPolicy::default(),
            16,
            Strictness::Lenient,
        )
        .unwrap_err();
    let ProbeSetError::Invalid(report) = err else {
        panic!("expected invalid input")
    };
    assert_eq!(
        report.problems[0].kind,
        ProblemKind::TokenOutOfVocab {
            token: 99,
            vocab_size: 3
        }
    );
    assert_eq!(report.problems.last().unwrap().kind, ProblemKind::NoProbes);
}

#[test]
fn tokenizer_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    assert!(
        matches!(HfTokenizer::from_file(&missing), Err(ProbeSetError::Io { path, .. }) if path == missing)
    );
    let garbage = dir.path().join("tokenizer.json");
    std::fs::write(&garbage, "{\"not\": \"a tokenizer\"}").unwrap();
    assert!(
        matches!(HfTokenizer::from_file(&garbage), Err(ProbeSetError::Tokenizer { path, .. }) if path == garbage)
    );
}
