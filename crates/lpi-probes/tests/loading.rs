//! Loading probe files: every problem class, strict and lenient mode, LAMA rendering.

use std::path::{Path, PathBuf};

use lpi_probes::{Origin, Probe, ProbeProblem, ProbeSet, ProbeSetError, ProblemKind, Strictness};

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// The problems of a load that must fail.
fn problems_of(
    result: Result<(ProbeSet, lpi_probes::ProbeReport), ProbeSetError>,
) -> Vec<ProbeProblem> {
    match result {
        Err(ProbeSetError::Invalid(report)) => report.problems,
        Err(other) => panic!("expected invalid input, got {other}"),
        Ok((set, _)) => panic!("expected invalid input, loaded {} probes", set.len()),
    }
}

/// The only problem of a one-problem file: (line, field, kind).
fn single_problem(content: &str) -> (usize, Option<String>, ProblemKind) {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "p.jsonl", content);
    let problems = problems_of(ProbeSet::load_jsonl(&file, Strictness::Strict));
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = problems.into_iter().next().unwrap();
    assert_eq!(p.file, file);
    (p.line, p.field, p.kind)
}

const GOOD: &str = r#"{"prompt": "The capital of France is", "target": "Paris", "relation": "capital", "subject": "France", "id": "fr"}"#;

#[test]
fn good_file_loads_with_all_fields_and_ignores_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let content = format!(
        "{GOOD}\n\n   \n{}\r\n{}\n",
        r#"{"prompt": "Dante was born in", "target": "Florence", "id": 7, "extra": [1]}"#,
        r#"{"prompt": "Rome is in", "target": "Italy", "relation": "country", "subject": null}"#
    );
    let file = write(dir.path(), "good.jsonl", content);
    let (set, report) = ProbeSet::load_jsonl(&file, Strictness::Strict).unwrap();
    assert!(report.is_clean());
    assert_eq!(
        (report.lines_read, report.probes, report.skipped),
        (3, 3, 0)
    );
    let p = &set.probes()[0];
    assert_eq!(
        p,
        &Probe {
            id: "fr".into(),
            prompt: "The capital of France is".into(),
            target: "Paris".into(),
            relation: Some("capital".into()),
            subject: Some("France".into()),
            origin: Origin::new(&file, 1),
        }
    );
    // Line numbers count the blank lines; an integer id becomes a string; no id: file name and line.
    assert_eq!(set.probes()[1].origin.line, 4);
    assert_eq!(set.probes()[1].id, "7");
    assert_eq!(set.probes()[1].relation, None);
    assert_eq!(set.probes()[2].id, "good.jsonl:5");
    assert_eq!(set.probes()[2].subject, None);
    assert_eq!(set.relations(), ["capital", "country"]);
    assert_eq!(
        set.relation_counts(),
        vec![("capital".to_string(), 1), ("country".to_string(), 1)]
    );
    assert_eq!(set.unlabelled(), 1);
}

#[test]
fn invalid_json_is_reported_at_its_line() {
    let (line, field, kind) =
        single_problem(&format!("{GOOD}\n{{\"prompt\": \"x\", \"target\": \n"));
    assert_eq!((line, field), (2, None));
    assert!(matches!(kind, ProblemKind::InvalidJson { .. }), "{kind:?}");
}

#[test]
fn missing_field() {
    let (line, field, kind) = single_problem(r#"{"prompt": "The capital of France is"}"#);
    assert_eq!(
        (line, field.as_deref(), kind),
        (1, Some("target"), ProblemKind::MissingField)
    );
    let (line, field, kind) = single_problem(r#"{"prompt": null, "target": "Paris"}"#);
    assert_eq!(
        (line, field.as_deref(), kind),
        (1, Some("prompt"), ProblemKind::MissingField)
    );
}

#[test]
fn empty_field() {
    let (line, field, kind) =
        single_problem(&format!("{GOOD}\n{}", r#"{"prompt": "x", "target": "  "}"#));
    assert_eq!(
        (line, field.as_deref(), kind),
        (2, Some("target"), ProblemKind::EmptyField)
    );
    let (_, field, kind) = single_problem(r#"{"prompt": "x", "target": "y", "relation": ""}"#);
    assert_eq!(
        (field.as_deref(), kind),
        (Some("relation"), ProblemKind::EmptyField)
    );
}

#[test]
fn wrong_type() {
    let (line, field, kind) = single_problem(r#"{"prompt": 3, "target": "y"}"#);
    let expected = ProblemKind::WrongType {
        expected: "string",
        found: "number",
    };
    assert_eq!(
        (line, field.as_deref(), kind),
        (1, Some("prompt"), expected)
    );
    let (_, field, kind) = single_problem(r#"{"prompt": "x", "target": "y", "id": ["a"]}"#);
    assert_eq!(field.as_deref(), Some("id"));
    assert!(matches!(
        kind,
        ProblemKind::WrongType { found: "array", .. }
    ));
    let (_, field, kind) = single_problem(r#"["prompt", "target"]"#);
    assert_eq!(field, None);
    assert_eq!(
        kind,
        ProblemKind::WrongType {
            expected: "object",
            found: "array"
        }
    );
}

#[test]
fn duplicate_id_names_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let second = r#"{"prompt": "Paris is the capital of", "target": "France", "id": "fr"}"#;
    let file = write(dir.path(), "dup.jsonl", format!("{GOOD}\n\n{second}\n"));
    let problems = problems_of(ProbeSet::load_jsonl(&file, Strictness::Strict));
    assert_eq!(problems.len(), 1);
    assert_eq!(
        (problems[0].line, problems[0].field.as_deref()),
        (3, Some("id"))
    );
    assert_eq!(
        problems[0].kind,
        ProblemKind::DuplicateId {
            id: "fr".into(),
            first: Origin::new(&file, 1)
        }
    );
    let text = problems[0].to_string();
    assert!(
        text.starts_with(&format!(
            "{}:3: field `id`: duplicate id `fr`",
            file.display()
        )),
        "{text}"
    );
    assert!(text.contains(&format!("{}:1", file.display())), "{text}");
}

#[test]
fn non_utf8_bytes_are_reported_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut content = format!("{GOOD}\n\n").into_bytes();
    content.extend_from_slice(b"{\"prompt\": \"caf\xe9\", \"target\": \"x\"}\n");
    let file = write(dir.path(), "latin1.jsonl", content);
    let problems = problems_of(ProbeSet::load_jsonl(&file, Strictness::Strict));
    assert_eq!(problems.len(), 1);
    assert_eq!((problems[0].line, problems[0].field.as_ref()), (3, None));
    assert_eq!(problems[0].kind, ProblemKind::NotUtf8 { byte: 15 });
}

#[test]
fn empty_file_fails_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [("empty.jsonl", ""), ("blank.jsonl", "\n  \n\n")] {
        let file = write(dir.path(), name, content);
        for strictness in [Strictness::Strict, Strictness::Lenient] {
            let problems = problems_of(ProbeSet::load_jsonl(&file, strictness));
            assert_eq!(
                problems,
                vec![ProbeProblem::whole_file(&file, ProblemKind::EmptyFile)]
            );
        }
    }
}

#[test]
fn unreadable_file_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    match ProbeSet::load_jsonl(&missing, Strictness::Lenient) {
        Err(ProbeSetError::Io { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an io error, got {other:?}"),
    }
    let err = ProbeSet::load_jsonl(&missing, Strictness::Strict).unwrap_err();
    assert!(err.to_string().contains("missing.jsonl"), "{err}");
}

/// Five lines, three of them bad in different ways, one blank.
fn mixed_file(dir: &Path) -> PathBuf {
    let lines = [
        GOOD,
        r#"{"prompt": "x"}"#,
        "",
        "not json",
        r#"{"prompt": "Dante was born in", "target": "Florence", "relation": "birthplace"}"#,
        r#"{"prompt": "", "target": 5}"#,
    ];
    write(dir, "mixed.jsonl", lines.join("\n"))
}

#[test]
fn strict_mode_lists_every_problem_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = mixed_file(dir.path());
    let err = ProbeSet::load_jsonl(&file, Strictness::Strict).unwrap_err();
    let message = err.to_string();
    let ProbeSetError::Invalid(report) = err else {
        panic!("expected invalid input")
    };
    let found: Vec<(usize, Option<&str>)> = report
        .problems
        .iter()
        .map(|p| (p.line, p.field.as_deref()))
        .collect();
    assert_eq!(
        found,
        vec![
            (2, Some("target")),
            (4, None),
            (6, Some("prompt")),
            (6, Some("target"))
        ]
    );
    assert_eq!((report.probes, report.skipped), (0, 0));
    for p in &report.problems {
        assert!(message.contains(&p.to_string()), "{message}");
    }
    assert!(
        message.contains(&format!("{}:6: field `target`: wrong type", file.display())),
        "{message}"
    );
}

#[test]
fn lenient_mode_skips_exactly_the_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = mixed_file(dir.path());
    let (set, report) = ProbeSet::load_jsonl(&file, Strictness::Lenient).unwrap();
    let kept: Vec<usize> = set.probes().iter().map(|p| p.origin.line).collect();
    assert_eq!(kept, vec![1, 5]);
    assert_eq!(
        (report.lines_read, report.probes, report.skipped),
        (5, 2, 3)
    );
    assert_eq!(report.problems.len(), 4);
    assert_eq!(set.relations(), ["capital", "birthplace"]);
}

#[test]
fn lenient_mode_with_only_bad_lines_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.jsonl", "{}\n");
    let problems = problems_of(ProbeSet::load_jsonl(&file, Strictness::Lenient));
    assert_eq!(problems.len(), 3);
    assert_eq!(
        problems[2],
        ProbeProblem::whole_file(&file, ProblemKind::NoProbes)
    );
}

const TEMPLATES: &str = r#"{"relation": "P36", "template": "The capital of [X] is [Y] .", "label": "capital"}
{"relation": "P19", "template": "[X] was born in [Y]."}
"#;

#[test]
fn lama_renders_prompts_from_templates() {
    let dir = tempfile::tempdir().unwrap();
    let templates = write(dir.path(), "relations.jsonl", TEMPLATES);
    let triples = write(
        dir.path(),
        "triples.jsonl",
        r#"{"sub_label": "France", "obj_label": "Paris", "predicate_id": "P36", "uuid": "u1"}

{"sub_label": "Dante", "obj_label": "Florence", "predicate_id": "P19", "evidences": []}
"#,
    );
    let (set, report) = ProbeSet::load_lama(&triples, &templates, Strictness::Strict).unwrap();
    assert!(report.is_clean());
    assert_eq!((report.lines_read, report.probes), (4, 2));
    let p = &set.probes()[0];
    assert_eq!(p.prompt, "The capital of France is");
    assert_eq!(p.target, "Paris");
    assert_eq!(p.relation.as_deref(), Some("P36"));
    assert_eq!(p.subject.as_deref(), Some("France"));
    assert_eq!(p.id, "u1");
    assert_eq!(p.origin, Origin::new(&triples, 1));
    let q = &set.probes()[1];
    assert_eq!(q.prompt, "Dante was born in");
    assert_eq!(q.id, "triples.jsonl:3");
    assert_eq!(set.relations(), ["P36", "P19"]);
}

#[test]
fn lama_unknown_relation_and_bad_templates() {
    let dir = tempfile::tempdir().unwrap();
    let templates = write(
        dir.path(),
        "relations.jsonl",
        format!(
            "{TEMPLATES}{}\n{}\n{}\n",
            r#"{"relation": "P1", "template": "[X] is a thing ."}"#,
            r#"{"relation": "P2", "template": "[Y] is the capital of [X] ."}"#,
            r#"{"relation": "P36", "template": "[X] has capital [Y] ."}"#
        ),
    );
    let triples = write(
        dir.path(),
        "triples.jsonl",
        r#"{"sub_label": "France", "obj_label": "Paris", "predicate_id": "P36"}
{"sub_label": "France", "obj_label": "Europe", "predicate_id": "P30"}
{"sub_label": "France", "obj_label": "French"}
"#,
    );
    let problems = problems_of(ProbeSet::load_lama(
        &triples,
        &templates,
        Strictness::Strict,
    ));
    let found: Vec<(&Path, usize, Option<&str>, &ProblemKind)> = problems
        .iter()
        .map(|p| (p.file.as_path(), p.line, p.field.as_deref(), &p.kind))
        .collect();
    let duplicate = ProblemKind::DuplicateRelation {
        relation: "P36".into(),
        first: Origin::new(&templates, 1),
    };
    let unknown = ProblemKind::UnknownRelation {
        relation: "P30".into(),
    };
    assert_eq!(
        found,
        vec![
            (
                templates.as_path(),
                3,
                Some("template"),
                &ProblemKind::MissingPlaceholder { placeholder: "[Y]" }
            ),
            (
                templates.as_path(),
                4,
                Some("template"),
                &ProblemKind::SubjectAfterObject
            ),
            (templates.as_path(), 5, Some("relation"), &duplicate),
            (triples.as_path(), 2, Some("predicate_id"), &unknown),
            (
                triples.as_path(),
                3,
                Some("predicate_id"),
                &ProblemKind::MissingField
            ),
        ]
    );
    // Lenient: the good triple survives with the first P36 template.
    let (set, report) = ProbeSet::load_lama(&triples, &templates, Strictness::Lenient).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.probes()[0].prompt, "The capital of France is");
    assert_eq!((report.skipped, report.problems.len()), (5, 5));
}

#[test]
fn lama_template_without_subject_placeholder() {
    let dir = tempfile::tempdir().unwrap();
    let templates = write(
        dir.path(),
        "t.jsonl",
        r#"{"relation": "P1", "template": "It is [Y] ."}"#,
    );
    let triples = write(
        dir.path(),
        "x.jsonl",
        r#"{"sub_label": "a", "obj_label": "b", "predicate_id": "P1"}"#,
    );
    let problems = problems_of(ProbeSet::load_lama(
        &triples,
        &templates,
        Strictness::Strict,
    ));
    assert_eq!(
        problems[0].kind,
        ProblemKind::MissingPlaceholder { placeholder: "[X]" }
    );
    assert_eq!(
        (problems[0].line, problems[0].file.as_path()),
        (1, templates.as_path())
    );
}

#[test]
fn lama_empty_triples_file() {
    let dir = tempfile::tempdir().unwrap();
    let templates = write(dir.path(), "t.jsonl", TEMPLATES);
    let triples = write(dir.path(), "x.jsonl", "\n");
    let problems = problems_of(ProbeSet::load_lama(
        &triples,
        &templates,
        Strictness::Lenient,
    ));
    assert_eq!(
        problems,
        vec![ProbeProblem::whole_file(&triples, ProblemKind::EmptyFile)]
    );
}

#[test]
fn from_probes_validates_like_the_loaders() {
    let probe = |id: &str, target: &str, index: usize| Probe {
        id: id.into(),
        prompt: "The capital of France is".into(),
        target: target.into(),
        relation: None,
        subject: Some("France".into()),
        origin: Origin::programmatic(index),
    };
    let set = ProbeSet::from_probes(vec![probe("a", "Paris", 0), probe("b", "Paris", 1)]).unwrap();
    assert_eq!(set.len(), 2);
    assert!(set.relations().is_empty());

    let err = ProbeSet::from_probes(vec![probe("a", "Paris", 0), probe("a", " ", 1)]).unwrap_err();
    let ProbeSetError::Invalid(report) = err else {
        panic!("expected invalid input")
    };
    let kinds: Vec<(usize, Option<&str>, &ProblemKind)> = report
        .problems
        .iter()
        .map(|p| (p.line, p.field.as_deref(), &p.kind))
        .collect();
    let duplicate = ProblemKind::DuplicateId {
        id: "a".into(),
        first: Origin::programmatic(0),
    };
    assert_eq!(
        kinds,
        vec![
            (2, Some("target"), &ProblemKind::EmptyField),
            (2, Some("id"), &duplicate)
        ]
    );
    assert!(matches!(
        ProbeSet::from_probes(Vec::new()),
        Err(ProbeSetError::Invalid(_))
    ));
}
