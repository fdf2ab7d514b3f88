//! Turning a probe set into token ids: tokenizers, the target policy, and the tokenised set.

use std::collections::HashMap;
use std::path::Path;

use crate::probe::{ProbeSet, Strictness};
use crate::problem::{MultiTokenTarget, ProbeProblem, ProbeReport, ProbeSetError, ProblemKind};

/// A tokenizer that can encode probe text. Implement it to use your own tokenizer.
///
/// `encode` must not add special tokens (BOS/EOS): the probe is scored at the last prompt token, and a target
/// must start with its first real token. A model that needs a BOS token should get it from the caller.
pub trait ProbeTokenizer {
    /// Encodes `text` into token ids, or says why it cannot.
    ///
    /// # Errors
    /// A message naming the reason (an unknown word, say); it is reported against the probe's file, line and field.
    fn encode(&self, text: &str) -> Result<Vec<u32>, String>;

    /// The number of token ids; every id `encode` returns is below it.
    fn vocab_size(&self) -> usize;
}

/// A Hugging Face `tokenizers` tokenizer (a `tokenizer.json`), encoding without special tokens.
#[derive(Debug, Clone)]
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
}

impl HfTokenizer {
    /// Loads a `tokenizer.json`.
    ///
    /// # Errors
    /// [`ProbeSetError::Io`] when the file cannot be read, [`ProbeSetError::Tokenizer`] when it is not a valid
    /// tokenizer.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ProbeSetError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| ProbeSetError::io(path, e))?;
        let inner =
            tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| ProbeSetError::Tokenizer {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Self { inner })
    }

    /// Wraps a tokenizer built in code.
    pub fn new(inner: tokenizers::Tokenizer) -> Self {
        Self { inner }
    }

    /// The wrapped tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

impl ProbeTokenizer for HfTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        self.inner
            .encode(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|e| e.to_string())
    }

    fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

/// Whitespace-separated words over a fixed vocabulary: word `i` of the vocabulary is token `i`. An unknown word is
/// an error. Meant for synthetic worlds and tests, where every word is a token.
///
/// ```
/// use lpi_probes::{ProbeTokenizer, WordTokenizer};
/// let tokenizer = WordTokenizer::new(["the", "capital", "of", "France", "is", "Paris"]);
/// assert_eq!(tokenizer.encode(" the capital of France is").unwrap(), vec![0, 1, 2, 3, 4]);
/// assert!(tokenizer.encode("Rome").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordTokenizer {
    vocab: Vec<String>,
    ids: HashMap<String, u32>,
}

impl WordTokenizer {
    /// A tokenizer over `vocab`; a repeated word keeps its first id.
    ///
    /// # Panics
    /// When the vocabulary has more than `u32::MAX` words.
    pub fn new<S: Into<String>>(vocab: impl IntoIterator<Item = S>) -> Self {
        let vocab: Vec<String> = vocab.into_iter().map(Into::into).collect();
        let mut ids = HashMap::with_capacity(vocab.len());
        for (i, word) in vocab.iter().enumerate() {
            let id = u32::try_from(i).expect("vocabulary larger than u32::MAX");
            ids.entry(word.clone()).or_insert(id);
        }
        Self { vocab, ids }
    }

    /// The id of `word`, if it is in the vocabulary.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.ids.get(word).copied()
    }

    /// The vocabulary, indexed by token id.
    pub fn vocab(&self) -> &[String] {
        &self.vocab
    }
}

impl ProbeTokenizer for WordTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        text.split_whitespace()
            .map(|word| {
                self.id(word)
                    .ok_or_else(|| format!("unknown word `{word}`"))
            })
            .collect()
    }

    fn vocab_size(&self) -> usize {
        self.vocab.len()
    }
}

/// How targets become the gold token.
///
/// The gold token is the first token of the encoded target. With `leading_space` (the default) the target is
/// encoded as `" " + target.trim_start()`, because in running text the target follows the prompt after a space,
/// and byte-level BPE tokenizers (GPT-2, OLMo, Llama 3) give a word after a space its own token (`ĠParis`),
/// different from the word's tokens at the start of a text. Turn it off for tokenizers that have no such
/// distinction, or when the prompts already end with the space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Encode the target as `" " + target.trim_start()` (default true).
    pub leading_space: bool,
    /// Drop probes whose target is more than one token (default false: keep them and score the first token).
    pub drop_multi_token: bool,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        Self {
            leading_space: true,
            drop_multi_token: false,
        }
    }
}

impl TargetPolicy {
    /// The text that is encoded for `target`.
    pub fn target_text(&self, target: &str) -> String {
        if self.leading_space {
            format!(" {}", target.trim_start())
        } else {
            target.to_owned()
        }
    }
}

/// A probe set as token ids, ready for a model: probe `i` reads `prompts[i]` and its gold next token is
/// `targets[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedProbes {
    /// Prompt token ids per probe (never empty, at most the context length).
    pub prompts: Vec<Vec<u32>>,
    /// Gold token per probe: the first token of the target.
    pub targets: Vec<u32>,
    /// Index into `relations` per probe, `None` for probes without a relation.
    pub relation_of: Vec<Option<usize>>,
    /// The relations of the kept probes, in order of first appearance.
    pub relations: Vec<String>,
    /// Probe id per probe.
    pub ids: Vec<String>,
    /// Kept probes whose target is more than one token long.
    pub multi_token_targets: usize,
}

impl TokenizedProbes {
    /// The number of probes.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no probes (never, for a set from [`ProbeSet::tokenize`]).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The length of the longest prompt.
    pub fn max_prompt_len(&self) -> usize {
        self.prompts.iter().map(Vec::len).max().unwrap_or(0)
    }
}

impl ProbeSet {
    /// Tokenises every probe: the prompt, and the target under `policy` (see [`TargetPolicy`]). Problems: the
    /// tokenizer fails, a prompt or target encodes to no token, a prompt is longer than `context_length` tokens,
    /// an id is outside the tokenizer's vocabulary. Multi-token targets are not problems; they are counted and
    /// listed in the report, and dropped if the policy says so.
    ///
    /// # Errors
    /// [`ProbeSetError::Invalid`] listing every problem in strict mode, or in lenient mode when no probe is left.
    pub fn tokenize(
        &self,
        tokenizer: &dyn ProbeTokenizer,
        policy: &TargetPolicy,
        context_length: usize,
        strictness: Strictness,
    ) -> Result<(TokenizedProbes, ProbeReport), ProbeSetError> {
        let vocab_size = tokenizer.vocab_size();
        let mut report = ProbeReport::default();
        let mut out = TokenizedProbes {
            prompts: Vec::with_capacity(self.len()),
            targets: Vec::with_capacity(self.len()),
            relation_of: Vec::with_capacity(self.len()),
            relations: Vec::new(),
            ids: Vec::with_capacity(self.len()),
            multi_token_targets: 0,
        };
        for probe in self.probes() {
            let mut problems = Vec::new();
            let mut encode = |field: &str, text: &str, empty: ProblemKind| -> Option<Vec<u32>> {
                let kind = match tokenizer.encode(text) {
                    Err(message) => ProblemKind::TokenizerFailed { message },
                    Ok(ids) if ids.is_empty() => empty,
                    Ok(ids) => match ids.iter().find(|&&id| id as usize >= vocab_size) {
                        Some(&token) => ProblemKind::TokenOutOfVocab { token, vocab_size },
                        None => return Some(ids),
                    },
                };
                problems.push(ProbeProblem::at(&probe.origin, Some(field), kind));
                None
            };
            let prompt = encode(
                "prompt",
                &probe.prompt,
                ProblemKind::PromptTokenizesToNothing,
            );
            let target = encode(
                "target",
                &policy.target_text(&probe.target),
                ProblemKind::TargetTokenizesToNothing,
            );
            if let Some(prompt) = &prompt
                && prompt.len() > context_length
            {
                let kind = ProblemKind::PromptTooLong {
                    tokens: prompt.len(),
                    context_length,
                };
                problems.push(ProbeProblem::at(&probe.origin, Some("prompt"), kind));
            }
            if !problems.is_empty() {
                report.skipped += 1;
                report.problems.extend(problems);
                continue;
            }
            let (Some(prompt), Some(target)) = (prompt, target) else {
                unreachable!("a probe without problems has both encodings");
            };
            if target.len() > 1 {
                report.multi_token_targets += 1;
                report.multi_token.push(MultiTokenTarget {
                    id: probe.id.clone(),
                    origin: probe.origin.clone(),
                    tokens: target.len(),
                });
                if policy.drop_multi_token {
                    report.dropped_multi_token += 1;
                    continue;
                }
                out.multi_token_targets += 1;
            }
            let relation = probe.relation.as_ref().map(|r| {
                out.relations
                    .iter()
                    .position(|known| known == r)
                    .unwrap_or_else(|| {
                        out.relations.push(r.clone());
                        out.relations.len() - 1
                    })
            });
            out.prompts.push(prompt);
            out.targets.push(target[0]);
            out.relation_of.push(relation);
            out.ids.push(probe.id.clone());
        }
        if strictness == Strictness::Strict && !report.problems.is_empty() {
            report.skipped = 0;
            return Err(ProbeSetError::Invalid(report));
        }
        if out.is_empty() {
            let file = self.probes()[0].origin.file.clone();
            report
                .problems
                .push(ProbeProblem::whole_file(file, ProblemKind::NoProbes));
            return Err(ProbeSetError::Invalid(report));
        }
        report.probes = out.len();
        Ok((out, report))
    }
}
