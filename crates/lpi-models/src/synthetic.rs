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
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
