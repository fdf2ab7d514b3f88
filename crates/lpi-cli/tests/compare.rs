//! Runs the built `lpi compare` on run directories written by the hook.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use lpi_hook::{LpiHook, LpiHookConfig};
use lpi_models::synthetic::SyntheticFacts;
use lpi_models::{MoeConfig, TransformerConfig};
use lpi_probes::WordTokenizer;

mod common;
use common::lpi;

/// Probes an untrained model three times into `dir` (a MoE one when `moe`).
fn run_dir(root: &Path, name: &str, moe: bool) -> PathBuf {
    let facts = SyntheticFacts::new(8, 2, 6, 3);
    let probes = root.join("probes.jsonl");
    std::fs::write(&probes, facts.probe_jsonl()).unwrap();
    let config = TransformerConfig::new(facts.vocab_size(), 16, 1, 4, 16, 8)
        .with_moe(moe.then(|| MoeConfig::new(2, 1)));
    let device = Device::flex();
    let model = config.init(&device);
    let dir = root.join(name);
    let hook_config = LpiHookConfig::new(probes, dir.clone())
        .with_every_n_steps(1)
        .with_masked_heads(1)
        .with_robustness_every(1)
        .with_leading_space(false);
    let tokenizer = WordTokenizer::new(facts.vocabulary());
    let mut hook = LpiHook::with_tokenizer(hook_config, &tokenizer, &model).unwrap();
    for step in 1..=3 {
        hook.after_step_at(step, &model);
    }
    assert_eq!(hook.finish().runs, 3);
    dir
}

fn lpi_compare(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let mut all = vec!["compare".as_ref()];
    all.extend_from_slice(args);
    lpi(&all)
}

#[test]
fn compares_named_and_unnamed_run_directories() {
    let root = tempfile::tempdir().unwrap();
    let moe = run_dir(root.path(), "moe-run", true);
    let dense = run_dir(root.path(), "dense-run", false);
    let out = root.path().join("out");
    let named = format!("sparse={}", moe.display());
    let (code, text) = lpi_compare(&[
        named.as_ref(),
        dense.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(code, 0, "{text}");
    // One MoE and one dense series: the three findings are printed, then the files.
    for pattern in [
        "Low-entropy backbone",
        "Early consolidation",
        "Functional robustness",
    ] {
        assert!(text.contains(pattern), "{text}");
    }
    for file in lpi_compare::OUTPUT_FILES {
        assert!(out.join(file).is_file(), "{file} missing; {text}");
        assert!(
            text.contains(&format!("wrote {}", out.join(file).display())),
            "{text}"
        );
    }
    // Named `sparse`, and the unnamed one after its directory.
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(
        md.contains("`sparse`") && md.contains("`dense-run`"),
        "{md}"
    );
}

#[test]
fn a_directory_the_hook_did_not_write_exits_one_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let (code, text) = lpi_compare(&[
        root.path().as_os_str(),
        "--out".as_ref(),
        root.path().join("out").as_os_str(),
    ]);
    assert_eq!(code, 1, "{text}");
    let config = root.path().join("hook-config.json");
    assert!(text.contains(&config.display().to_string()), "{text}");
    assert!(
        !root.path().join("out").exists(),
        "nothing written on error"
    );
}
