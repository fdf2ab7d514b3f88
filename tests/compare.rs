//! A MoE and a dense model trained with the hook, then compared: the table, the JSON and the
//! findings agree with the runs' histories read as plain JSON (an independent reading, with an
//! independent consolidation step), the plots are PNGs with both series drawn and text rendered,
//! and run directories that cannot be compared are refused with the file at fault.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use burn_lpi::compare::{
    BACKBONE_SHARE, BRITTLE_DROP, CompareError, Comparison, ComparisonReport, OUTPUT_FILES,
    ROBUST_DROP, Series,
};
use burn_lpi::hook::{LpiHook, LpiHookConfig};
use burn_lpi::models::{MoeConfig, TransformerConfig};
use burn_lpi::probes::WordTokenizer;
use serde_json::Value;

mod common;
use common::{Fixture, train};

const TAU: f64 = 0.5;
const WINDOW: usize = 2;
const MASKED: usize = 2;

/// Trains a 2-layer, 8-head model (MoE: 4 experts of 16, top-2; dense: 32 neurons) for 60 steps
/// with the hook probing every 10 and measuring masking every run; returns the run directory.
fn trained_run(fx: &Fixture, name: &str, moe: bool) -> PathBuf {
    let d_ff = if moe { 16 } else { 32 };
    let config = TransformerConfig::new(fx.facts.vocab_size(), 32, 2, 8, d_ff, 8)
        .with_moe(moe.then(|| MoeConfig::new(4, 2)));
    let device = Device::flex().autodiff();
    device.seed(7);
    let model = config.init(&device);
    let dir = fx.dir.path().join(name);
    let hook_config = LpiHookConfig::new(fx.probes.clone(), dir.clone())
        .with_every_n_steps(10)
        .with_batch_size(24)
        .with_masked_heads(MASKED)
        .with_robustness_every(1)
        .with_tau(TAU)
        .with_consolidation_window(WINDOW)
        .with_leading_space(false);
    let tokenizer = WordTokenizer::new(fx.facts.vocabulary());
    let mut hook = LpiHook::with_tokenizer(hook_config, &tokenizer, &model).expect("hook builds");
    train(&fx.facts, model, 0, 60, |_, m| hook.after_step(m));
    assert_eq!(hook.finish().runs, 6);
    dir
}

/// The history as plain JSON values, one per line.
fn history_json(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .expect("history")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The consolidation step computed here: the step of the first run of the first `WINDOW`
/// consecutive runs whose Spearman stability against the previous run is at least `TAU`.
fn consolidation_step(history: &[Value]) -> Option<u64> {
    let mut streak: Vec<u64> = Vec::new();
    for run in history {
        match run["vs_previous"]["spearman"].as_f64() {
            Some(rho) if rho >= TAU => streak.push(run["step"].as_u64().unwrap()),
            _ => streak.clear(),
        }
        if streak.len() == WINDOW {
            return Some(streak[0]);
        }
    }
    None
}

fn f64_at(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_f64)
}

/// What the comparison must say about one series, read from its history here.
struct Expected {
    moe: bool,
    runs: usize,
    hit_at_10: f64,
    updates_share: Option<f64>,
    top_share: f64,
    stability_max: Option<f64>,
    consolidation: Option<u64>,
    top_drop: Option<f64>,
    random_drop: Option<f64>,
    mean_top_drop: f64,
    steps: Vec<u64>,
}

fn expected(dir: &Path) -> Expected {
    let history = history_json(dir);
    let last = history.last().expect("runs");
    let masked = history
        .iter()
        .rev()
        .find(|r| !r["robustness"].is_null())
        .expect("masking measured");
    assert_eq!(
        masked["robustness"]["top_heads"].as_array().unwrap().len(),
        MASKED
    );
    Expected {
        moe: !last["expert_share"].is_null(),
        runs: history.len(),
        hit_at_10: f64_at(last, &["readouts", "overall", "hit_at_10"]).unwrap(),
        updates_share: last["positive_updates_top_share"].as_f64(),
        top_share: f64_at(last, &["neurons", "top_share"]).unwrap(),
        stability_max: history
            .iter()
            .filter_map(|r| f64_at(r, &["vs_previous", "spearman"]))
            .reduce(f64::max),
        consolidation: consolidation_step(&history),
        top_drop: f64_at(masked, &["robustness", "top_drop"]),
        random_drop: f64_at(masked, &["robustness", "random_drop"]),
        mean_top_drop: {
            let drops: Vec<f64> = history
                .iter()
                .filter_map(|r| f64_at(r, &["robustness", "top_drop"]))
                .collect();
            drops.iter().sum::<f64>() / drops.len() as f64
        },
        steps: history
            .iter()
            .map(|r| r["step"].as_u64().unwrap())
            .collect(),
    }
}

/// Decodes a PNG into (width, height, RGB pixels).
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("png opens"),
    ));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

#[test]
fn the_comparison_agrees_with_the_histories_and_draws_both_series() {
    let fx = Fixture::new();
    let (moe_dir, dense_dir) = (
        trained_run(&fx, "moe", true),
        trained_run(&fx, "dense", false),
    );
    let comparison = Comparison::new(vec![
        Series::load("moe", &moe_dir).expect("moe loads"),
        Series::load("dense", &dense_dir).expect("dense loads"),
    ])
    .expect("comparable");
    let out = fx.dir.path().join("comparison");
    let written = comparison.write(&out).expect("written");
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, OUTPUT_FILES);

    // The JSON report, against the histories.
    let report: ComparisonReport =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap())
            .expect("comparison.json parses");
    assert_eq!((report.tau, report.consolidation_window), (TAU, WINDOW));
    let expect = [expected(&moe_dir), expected(&dense_dir)];
    for (summary, e) in report.series.iter().zip(&expect) {
        let name = &summary.name;
        assert_eq!(
            summary.architecture == burn_lpi::compare::Architecture::Moe,
            e.moe,
            "{name}"
        );
        assert_eq!(summary.runs, e.runs, "{name}");
        assert_eq!(summary.hit_at_10_last, e.hit_at_10, "{name}");
        assert_eq!(
            summary.positive_updates_top_share, e.updates_share,
            "{name}"
        );
        assert_eq!(summary.positive_top_share, e.top_share, "{name}");
        assert_eq!(summary.stability_max, e.stability_max, "{name}");
        assert_eq!(summary.consolidation_step, e.consolidation, "{name}");
        let masking = summary.masking.as_ref().expect("masking");
        assert_eq!(masking.heads_masked, MASKED);
        assert_eq!(masking.measured_runs, e.runs, "{name}: masking every run");
        assert_eq!(
            (masking.top_drop, masking.random_drop),
            (e.top_drop, e.random_drop)
        );
        let mean = masking.mean_top_drop.expect("a mean drop");
        assert!(
            (mean - e.mean_top_drop).abs() < 1e-12,
            "{name}: {mean} vs {}",
            e.mean_top_drop
        );
    }

    // The findings follow from the numbers and the paper's thresholds.
    let [moe, dense] = &expect;
    let findings = &report.findings;
    assert_eq!(findings.len(), 3);
    let backbone = moe.updates_share.unwrap() > BACKBONE_SHARE
        && dense.updates_share.unwrap() <= BACKBONE_SHARE;
    assert_eq!(findings[0].agrees, Some(backbone), "{}", findings[0]);
    let early = match (moe.consolidation, dense.consolidation) {
        (Some(m), Some(d)) => m < d,
        (m, _) => m.is_some(),
    };
    assert_eq!(findings[1].agrees, Some(early), "{}", findings[1]);
    let robust = moe.mean_top_drop < ROBUST_DROP && dense.mean_top_drop > BRITTLE_DROP;
    assert_eq!(findings[2].agrees, Some(robust), "{}", findings[2]);
    assert!(
        findings[0]
            .observed
            .contains(&format!("{:.1}%", 100.0 * moe.updates_share.unwrap())),
        "{}",
        findings[0]
    );

    // The Markdown: the summary rows carry the same numbers, and every probe run has a row.
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    let row = |label: &str| {
        md.lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no row `{label}` in\n{md}"))
            .to_string()
    };
    let backbone_row = row("share of positive updates");
    for e in &expect {
        let cell = format!("| {:.1}%", 100.0 * e.updates_share.unwrap());
        assert!(backbone_row.contains(&cell), "{backbone_row} lacks {cell}");
    }
    let steps: std::collections::BTreeSet<u64> = expect
        .iter()
        .flat_map(|e| e.steps.iter().copied())
        .collect();
    for step in steps {
        let starts = format!("| {step} | ");
        assert_eq!(
            md.lines().filter(|l| l.starts_with(&starts)).count(),
            1,
            "one row for step {step}"
        );
    }

    // The plots: PNGs of the promised size, both series' colours drawn, text rendered.
    for (file, size) in [
        ("comparison.png", (1600, 1100)),
        ("backbone.png", (900, 560)),
        ("consolidation.png", (900, 560)),
        ("robustness.png", (900, 560)),
        ("knowledge.png", (900, 560)),
    ] {
        let (w, h, pixels) = decode_png(&out.join(file));
        assert_eq!((w, h), size, "{file}");
        for (colour, series) in [([0, 114, 178], "moe"), ([213, 94, 0], "dense")] {
            let drawn = pixels.iter().filter(|&&p| p == colour).count();
            assert!(drawn > 200, "{file}: {series}'s colour on {drawn} pixels");
        }
        // The title is dark text in the top band of a white image.
        let title_band = &pixels[..(w * 30) as usize];
        let dark = title_band
            .iter()
            .filter(|p| p.iter().all(|&c| c < 90))
            .count();
        assert!(
            dark > 100,
            "{file}: {dark} dark pixels where the title goes"
        );
    }

    refusals(fx.dir.path(), &moe_dir, &dense_dir);
}

fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["hook-config.json", "history.jsonl"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

/// Run directories that cannot be compared, each refused with the file at fault.
fn refusals(root: &Path, moe_dir: &Path, dense_dir: &Path) {
    // A directory the hook never wrote.
    let empty_dir = root.join("not-a-run");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let e = Series::load("x", &empty_dir).unwrap_err();
    assert!(
        matches!(&e, CompareError::Config { path, .. } if path.ends_with("hook-config.json")),
        "{e}"
    );

    // A history with a bad middle line: the line is named.
    let torn = root.join("torn");
    copy_run(moe_dir, &torn);
    let history = std::fs::read_to_string(torn.join("history.jsonl")).unwrap();
    let mut lines: Vec<&str> = history.lines().collect();
    lines[1] = "{\"run\": 2, \"step\": ";
    std::fs::write(torn.join("history.jsonl"), lines.join("\n") + "\n").unwrap();
    let e = Series::load("torn", &torn).unwrap_err();
    assert!(
        matches!(e, CompareError::History { .. }) && e.to_string().contains("line 2"),
        "{e}"
    );

    // No probe runs yet.
    let fresh = root.join("fresh");
    copy_run(moe_dir, &fresh);
    std::fs::write(fresh.join("history.jsonl"), "").unwrap();
    let e = Series::load("fresh", &fresh).unwrap_err();
    assert!(
        matches!(&e, CompareError::Empty { run_dir: Some(d), .. } if d == &fresh),
        "{e}"
    );

    // Probed with another q: the shares do not compare.
    let other_q = root.join("other-q");
    copy_run(dense_dir, &other_q);
    let config = std::fs::read_to_string(other_q.join("hook-config.json")).unwrap();
    let mut config: Value = serde_json::from_str(&config).unwrap();
    config["q"] = Value::from(0.05);
    std::fs::write(other_q.join("hook-config.json"), config.to_string()).unwrap();
    let e = Comparison::new(vec![
        Series::load("moe", moe_dir).unwrap(),
        Series::load("dense", &other_q).unwrap(),
    ])
    .unwrap_err();
    assert!(
        matches!(e, CompareError::Mismatch { field: "q", .. }),
        "{e}"
    );

    // Two series of one name, and nothing at all.
    let twice = vec![
        Series::load("a", moe_dir).unwrap(),
        Series::load("a", dense_dir).unwrap(),
    ];
    assert!(matches!(
        Comparison::new(twice),
        Err(CompareError::Series(_))
    ));
    assert!(matches!(
        Comparison::new(Vec::new()),
        Err(CompareError::Series(_))
    ));

    // An output directory that is a file.
    let file = root.join("a-file");
    std::fs::write(&file, "").unwrap();
    let one = Comparison::new(vec![Series::load("moe", moe_dir).unwrap()]).unwrap();
    let e = one.write(&file).unwrap_err();
    assert!(
        matches!(&e, CompareError::Write { path, .. } if path == &file),
        "{e}"
    );
    // One series (or two of a kind) is a table without findings.
    assert!(one.report().findings.is_empty());
}
