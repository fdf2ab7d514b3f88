//! Runs the built `lpi` binary on probe files.

use std::path::Path;

mod common;
use common::lpi;

fn check(file: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["probes".as_ref(), "check".as_ref(), file.as_os_str()];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    lpi(&args)
}

#[test]
fn good_file_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("good.jsonl");
    std::fs::write(
        &file,
        r#"{"prompt": "The capital of France is", "target": "Paris", "relation": "capital"}

{"prompt": "The capital of Italy is", "target": "Rome", "relation": "capital"}
{"prompt": "Dante was born in", "target": "Florence"}
"#,
    )
    .unwrap();
    let (code, out) = check(&file, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 probes kept"), "{out}");
    assert!(out.contains("capital (2)"), "{out}");
    assert!(out.contains("1 probe without a relation"), "{out}");
    assert!(out.contains("only the structural checks ran"), "{out}");
    assert!(out.trim_end().ends_with("OK"), "{out}");
}

#[test]
fn bad_file_exits_one_and_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        r#"{"prompt": "The capital of France is", "target": "Paris"}
{"prompt": "The capital of Italy is"}
{"prompt": "x", "target": "y"
"#,
    )
    .unwrap();
    let (code, out) = check(&file, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{}:2: field `target`: missing", file.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}:3: invalid JSON", file.display())),
        "{out}"
    );
    assert!(out.contains("FAILED: 2 problems"), "{out}");
}

#[test]
fn lama_mode_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let triples = dir.path().join("triples.jsonl");
    let templates = dir.path().join("relations.jsonl");
    std::fs::write(
        &templates,
        r#"{"relation": "P36", "template": "The capital of [X] is [Y] ."}"#,
    )
    .unwrap();
    std::fs::write(
        &triples,
        r#"{"sub_label": "France", "obj_label": "Paris", "predicate_id": "P36"}
{"sub_label": "France", "obj_label": "Europe", "predicate_id": "P30"}
"#,
    )
    .unwrap();
    let templates_arg = templates.to_str().unwrap();
    let (code, out) = check(&triples, &["--templates", templates_arg]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{}:2: field `predicate_id`: unknown relation `P30`",
            triples.display()
        )),
        "{out}"
    );

    let (code, out) = check(&dir.path().join("missing.jsonl"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing.jsonl"), "{out}");
    let (code, out) = check(
        &triples,
        &[
            "--tokenizer",
            dir.path().join("none.json").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("none.json"), "{out}");
}

#[test]
fn usage_errors_exit_two() {
    let (code, out) = lpi(&["probes".as_ref(), "check".as_ref()]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = lpi(&[
        "probes".as_ref(),
        "check".as_ref(),
        "x.jsonl".as_ref(),
        "--context".as_ref(),
        "many".as_ref(),
    ]);
    assert_eq!(code, 2, "{out}");
}
