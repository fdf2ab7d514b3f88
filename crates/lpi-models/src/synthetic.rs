//! A deterministic world of relational facts for tests, examples and benchmarks: every
//! (subject, relation) pair has one object, and sequences read `<bos> subject relation object`.

use burn::tensor::{Device, Int, Tensor, TensorData};
use lpi_attribution::{AttributionError, ProbeBatch};

/// Token 0 begins every sequence.
pub const BOS: u32 = 0;

/// A fixed table of `subjects x relations` facts over a small token vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticFacts {
    subjects: usize,
    relations: usize,
    objects: usize,
    /// `object[s * relations + r]`, as an object index.
    table: Vec<usize>,
}

impl SyntheticFacts {
    /// A world whose objects are drawn by a seeded hash, so the same seed gives the same facts.
    pub fn new(subjects: usize, relations: usize, objects: usize, seed: u64) -> Self {
        let table = (0..subjects * relations)
            .map(|i| {
                (splitmix64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9)) % objects as u64) as usize
            })
            .collect();
        Self {
            subjects,
            relations,
            objects,
            table,
        }
    }

    /// Tokens needed: `<bos>`, subjects, relations, objects.
    pub fn vocab_size(&self) -> usize {
        1 + self.subjects + self.relations + self.objects
    }

    /// Number of facts.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the world has no facts.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The `(prompt, object)` tokens of fact `i`.
    pub fn fact(&self, i: usize) -> ([u32; 3], u32) {
        let (s, r) = (i / self.relations, i % self.relations);
        let subject = 1 + s as u32;
        let relation = 1 + (self.subjects + r) as u32;
        let object = 1 + (self.subjects + self.relations + self.table[i]) as u32;
        ([BOS, subject, relation], object)
    }

    /// A `[batch, 4]` training batch of facts starting at fact `offset`, wrapping around.
    pub fn batch(&self, offset: usize, batch: usize, device: &Device) -> Tensor<2, Int> {
        let ids: Vec<i64> = (0..batch)
            .flat_map(|k| {
                let (prompt, object) = self.fact((offset + k) % self.len());
                prompt.into_iter().chain([object]).map(i64::from)
            })
            .collect();
        Tensor::from_data(TensorData::new(ids, [batch, 4]), device)
    }

    /// Every fact as a probe: prompt `<bos> subject relation`, target the object.
    pub fn probes(&self) -> Result<ProbeBatch, AttributionError> {
        let (prompts, targets) = (0..self.len())
            .map(|i| {
                let (prompt, object) = self.fact(i);
                (prompt.to_vec(), object)
            })
            .unzip();
        ProbeBatch::from_prompts(prompts, targets)
    }

    /// A name for every token id, in id order: `<bos>`, `s0..`, `r0..`, `o0..`. A whitespace
    /// word tokenizer over these names turns [`Self::probe_jsonl`] back into token ids.
    pub fn vocabulary(&self) -> Vec<String> {
        std::iter::once("<bos>".to_string())
            .chain((0..self.subjects).map(|s| format!("s{s}")))
            .chain((0..self.relations).map(|r| format!("r{r}")))
            .chain((0..self.objects).map(|o| format!("o{o}")))
            .collect()
    }

    /// Every fact as a line of a JSONL probe file: `{"id": "f12", "prompt": "<bos> s3 r0",
    /// "target": "o7", "relation": "r0", "subject": "s3"}`.
    pub fn probe_jsonl(&self) -> String {
        let names = self.vocabulary();
        (0..self.len())
            .map(|i| {
                let ([bos, subject, relation], object) = self.fact(i);
                let name = |t: u32| &names[t as usize];
                format!(
                    "{{\"id\": \"f{i}\", \"prompt\": \"{} {} {}\", \"target\": \"{}\", \"relation\": \"{}\", \"subject\": \"{}\"}}\n",
                    name(bos),
                    name(subject),
                    name(relation),
                    name(object),
                    name(relation),
                    name(subject)
                )
            })
            .collect()
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines_name_the_fact_tokens() {
        let facts = SyntheticFacts::new(3, 2, 4, 7);
        let names = facts.vocabulary();
        assert_eq!(names.len(), facts.vocab_size());
        let jsonl = facts.probe_jsonl();
        let lines: Vec<&str> = jsonl.lines().collect();
        assert_eq!(lines.len(), facts.len());
        for (i, line) in lines.iter().enumerate() {
            let ([_, s, r], o) = facts.fact(i);
            let expected_prompt = format!(
                "\"prompt\": \"<bos> {} {}\"",
                names[s as usize], names[r as usize]
            );
            assert!(line.contains(&expected_prompt), "{line}");
            assert!(
                line.contains(&format!("\"target\": \"{}\"", names[o as usize])),
                "{line}"
            );
        }
    }
}
