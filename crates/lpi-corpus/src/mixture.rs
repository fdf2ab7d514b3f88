//! Training batches that mix fact sentences into prose.

use burn::tensor::{Device, Int, Tensor, TensorData};
use tokenizers::Tokenizer;

use crate::{Corpus, CorpusError};

/// An endless stream of training windows from a [`Corpus`]: each window is, with probability
/// `fact_share`, a run of randomly drawn fact sentences, one per line and the first at position
/// 0 (as probe prompts are), and otherwise a random slice of the prose. Deterministic for a
/// seed.
#[derive(Debug, Clone)]
pub struct Mixture {
    text: Vec<u32>,
    sentences: Vec<Vec<u32>>,
    newline: Vec<u32>,
    window: usize,
    fact_share: f64,
    state: u64,
}

fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, CorpusError> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| CorpusError::Tokenizer(e.to_string()))
}

impl Mixture {
    /// Tokenizes the corpus (the prose line by line, every fact sentence once) for windows of
    /// `window` tokens.
    ///
    /// # Errors
    /// The tokenizer fails, or the prose is shorter than one window.
    ///
    /// # Panics
    /// When `fact_share` is outside 0..=1 or `window` is 0.
    pub fn new(
        corpus: &Corpus,
        tokenizer: &Tokenizer,
        window: usize,
        fact_share: f64,
        seed: u64,
    ) -> Result<Self, CorpusError> {
        assert!((0.0..=1.0).contains(&fact_share), "fact_share in 0..=1");
        assert!(window > 0, "window > 0");
        let newline = encode(tokenizer, "\n")?;
        let mut text = Vec::new();
        for line in corpus.text().lines() {
            text.extend(encode(tokenizer, line)?);
            text.extend(&newline);
        }
        if text.len() <= window {
            return Err(CorpusError::TextTooShort {
                tokens: text.len(),
                window,
            });
        }
        let sentences = corpus
            .fact_sentences()
            .iter()
            .map(|s| encode(tokenizer, s))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text,
            sentences,
            newline,
            window,
            fact_share,
            state: seed,
        })
    }

    /// Tokens in one window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Tokens of prose.
    pub fn text_tokens(&self) -> usize {
        self.text.len()
    }

    /// SplitMix64.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// The next window's tokens.
    pub fn next_window(&mut self) -> Vec<u32> {
        let facts = (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= self.fact_share;
        if facts && !self.sentences.is_empty() {
            let mut out = Vec::with_capacity(self.window + 32);
            while out.len() < self.window {
                let i = self.below(self.sentences.len());
                out.extend_from_slice(&self.sentences[i]);
                out.extend_from_slice(&self.newline);
            }
            out.truncate(self.window);
            out
        } else {
            let start = self.below(self.text.len() - self.window);
            self.text[start..start + self.window].to_vec()
        }
    }

    /// `rows` windows as a `[rows, window]` batch of token ids.
    pub fn batch(&mut self, rows: usize, device: &Device) -> Tensor<2, Int> {
        let ids: Vec<i64> = (0..rows)
            .flat_map(|_| self.next_window())
            .map(i64::from)
            .collect();
        Tensor::from_data(TensorData::new(ids, [rows, self.window]), device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TOKENIZER_JSON;

    fn mixture(share: f64) -> Mixture {
        let tokenizer: Tokenizer = TOKENIZER_JSON.parse().unwrap();
        Mixture::new(&Corpus::embedded(), &tokenizer, 48, share, 7).unwrap()
    }

    #[test]
    fn fact_windows_start_with_a_whole_sentence_and_prose_windows_are_prose() {
        let tokenizer: Tokenizer = TOKENIZER_JSON.parse().unwrap();
        let corpus = Corpus::embedded();
        let sentences = corpus.fact_sentences();
        let mut facts = mixture(1.0);
        for _ in 0..20 {
            let window = facts.next_window();
            assert_eq!(window.len(), 48);
            let text = tokenizer.decode(&window, false).unwrap();
            let first = text.lines().next().unwrap();
            assert!(sentences.iter().any(|s| s == first), "{first:?}");
        }
        let mut prose = mixture(0.0);
        for _ in 0..20 {
            let text = tokenizer.decode(&prose.next_window(), false).unwrap();
            assert!(corpus.text().contains(text.trim()), "{text:?}");
        }
    }

    #[test]
    fn the_share_of_fact_windows_is_the_configured_one() {
        let tokenizer: Tokenizer = TOKENIZER_JSON.parse().unwrap();
        let sentences = Corpus::embedded().fact_sentences();
        let mut mixed = mixture(0.3);
        let n = 2000;
        let facts = (0..n)
            .filter(|_| {
                let text = tokenizer.decode(&mixed.next_window(), false).unwrap();
                let first = text.lines().next().unwrap_or("");
                sentences.iter().any(|s| s == first)
            })
            .count();
        let share = facts as f64 / n as f64;
        // Binomial(2000, 0.3): sd 0.0102; 5 sd.
        assert!((share - 0.3).abs() < 0.051, "{share}");
    }
}
