//! The set-up the hook benchmarks share: the tiny MoE, 256 synthetic facts as a probe set, and a
//! training loop.

use std::path::PathBuf;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use burn_lpi::hook::LpiHookConfig;
use burn_lpi::models::synthetic::SyntheticFacts;
use burn_lpi::models::{MoeConfig, Transformer, TransformerConfig};
use burn_lpi::probes::WordTokenizer;

/// 64 subjects x 4 relations = 256 facts, written as a probe set into a temporary directory
/// that also holds the runs.
pub struct Setup {
    pub facts: SyntheticFacts,
    pub tokenizer: WordTokenizer,
    dir: tempfile::TempDir,
    probes: PathBuf,
}

impl Setup {
    pub fn new() -> Self {
        let facts = SyntheticFacts::new(64, 4, 24, 2026);
        let dir = tempfile::tempdir().expect("temp dir");
        let probes = dir.path().join("probes.jsonl");
        std::fs::write(&probes, facts.probe_jsonl()).expect("write probes");
        let tokenizer = WordTokenizer::new(facts.vocabulary());
        Self {
            facts,
            tokenizer,
            dir,
            probes,
        }
    }

    /// The tiny MoE: d=64, 2 layers, 4 heads, 4 experts of 64 neurons, top-2.
    pub fn model_config(&self) -> TransformerConfig {
        TransformerConfig::new(self.facts.vocab_size(), 64, 2, 4, 64, 8)
            .with_moe(Some(MoeConfig::new(4, 2)))
    }

    /// A hook probing all 256 facts in one batch every `every` steps, into run directory `name`.
    pub fn hook_config(&self, name: &str, every: u64) -> LpiHookConfig {
        LpiHookConfig::new(self.probes.clone(), self.dir.path().join(name))
            .with_every_n_steps(every)
            .with_batch_size(256)
            .with_leading_space(false)
    }

    /// Trains the tiny MoE for `steps` AdamW steps from seed 42, calling `after_step` after each
    /// optimizer step.
    pub fn train(&self, steps: u64, mut after_step: impl FnMut(&Transformer)) {
        let device = Device::flex().autodiff();
        device.seed(42);
        let mut model: Transformer = self.model_config().init(&device);
        let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
        for step in 1..=steps {
            let loss = model.next_token_loss(self.facts.batch(step as usize * 32, 32, &device));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(3e-3, model, grads);
            after_step(&model);
        }
    }
}
