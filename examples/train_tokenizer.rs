//! Trains the demo's byte-level BPE tokenizer on the corpus files in `data/` (read from disk, not
//! the copy embedded at build time, so that it sees freshly rebuilt data) and writes
//! `data/tokenizer.json` (GPT-2 style: byte-level pre-tokenizer without a prefix space, so a
//! word after a space is its own token, " Paris"). The prose is used once and the fact sentences
//! ten times, about the balance the demo trains on (half of its windows are facts); with 6144
//! tokens every fact object is then one token after a space. Deterministic: the same data gives
//! the same file. `data/build/build.sh` runs it after rebuilding the data.
//!
//! ```text
//! cargo run --release --example train_tokenizer [-- --vocab 6144 --data data --out data/tokenizer.json]
//! ```

use std::path::PathBuf;

use burn_lpi::corpus::Corpus;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;

/// How often the fact sentences are repeated in the training text.
const FACT_REPEATS: usize = 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut vocab = 6144;
    let mut data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--vocab", Some(v)) => vocab = v.parse()?,
            ("--data", Some(dir)) => data = dir.into(),
            ("--out", Some(path)) => out = Some(PathBuf::from(path)),
            _ => {
                return Err(format!(
                    "usage: train_tokenizer [--vocab N] [--data DIR] [--out FILE] (got `{arg}`)"
                )
                .into());
            }
        }
    }
    let out = out.unwrap_or_else(|| data.join("tokenizer.json"));
    let read = |name: &str| {
        let path = data.join(name);
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let corpus = Corpus::parse(
        &read("facts.jsonl")?,
        &read("train_templates.jsonl")?,
        &read("text.txt")?,
    )?;
    let mut tokenizer = tokenizers::Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevel::new(false, true, true)));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab)
        .min_frequency(2)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    tokenizer
        .train(
            &mut trainer,
            corpus.tokenizer_training_text(FACT_REPEATS).into_iter(),
        )
        .map_err(|e| format!("training failed: {e}"))?;
    tokenizer
        .save(&out, false)
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;

    let objects: std::collections::BTreeSet<&str> =
        corpus.facts().iter().map(|f| f.object.as_str()).collect();
    let single = objects
        .iter()
        .filter(|o| {
            tokenizer
                .encode(format!(" {o}"), false)
                .is_ok_and(|e| e.get_ids().len() == 1)
        })
        .count();
    println!(
        "wrote {} ({} tokens); {single} of {} distinct fact objects are one token after a space",
        out.display(),
        tokenizer.get_vocab_size(true),
        objects.len()
    );
    Ok(())
}
