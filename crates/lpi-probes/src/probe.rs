//! Probes, probe sets and their loaders (JSONL and LAMA / T-REx).

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::problem::{Origin, ProbeProblem, ProbeReport, ProbeSetError, ProblemKind};

/// One relational fact to probe: the model reads `prompt` and should predict `target` next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Unique id within the set. JSONL: the `id` field, or `<file name>:<line>` when absent. LAMA: the triple's
    /// `uuid`, or `<file name>:<line>`.
    pub id: String,
    /// The text the model reads, e.g. `The capital of France is`.
    pub prompt: String,
    /// The expected continuation, e.g. `Paris`. Only its first token is scored (see [`crate::TargetPolicy`]).
    pub target: String,
    /// The relation, e.g. `P36` or `capital`, used for per-relation readouts.
    pub relation: Option<String>,
    /// The subject, e.g. `France`.
    pub subject: Option<String>,
    /// Where the probe came from.
    pub origin: Origin,
}

/// What to do with bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strictness {
    /// Fail with an error that lists every problem; nothing is skipped.
    #[default]
    Strict,
    /// Skip bad lines (or probes) and count them; the problems are still in the report. Problems that no skipping
    /// can fix (an empty file, nothing left) still fail.
    Lenient,
}

/// A validated set of probes: non-empty, every probe with a non-empty id, prompt and target, ids unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSet {
    probes: Vec<Probe>,
    relations: Vec<String>,
}

impl ProbeSet {
    /// Loads a JSONL probe file: one JSON object per line with string fields `prompt` and `target` (required,
    /// non-empty) and `relation`, `subject`, `id` (optional; `id` may also be an integer). `null` counts as
    /// absent; other fields are ignored. Blank lines (empty or only whitespace) are allowed and ignored; line
    /// numbers in the report still count them.
    ///
    /// # Errors
    /// [`ProbeSetError::Io`] when the file cannot be read; [`ProbeSetError::Invalid`] listing every problem in
    /// strict mode, or in lenient mode when the file is empty or no probe is left.
    pub fn load_jsonl(
        path: impl AsRef<Path>,
        strictness: Strictness,
    ) -> Result<(ProbeSet, ProbeReport), ProbeSetError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| ProbeSetError::io(path, e))?;
        let mut report = ProbeReport::default();
        let lines = parse_object_lines(path, &bytes, &mut report);
        if report.lines_read == 0 {
            report
                .problems
                .push(ProbeProblem::whole_file(path, ProblemKind::EmptyFile));
            return Err(ProbeSetError::Invalid(report));
        }
        let mut ids = IdRegistry::default();
        let mut probes = Vec::new();
        for line in lines {
            let ParsedLine { origin, object } = match line {
                Ok(line) => line,
                Err(problem) => {
                    skip_unparsed(problem, &mut report);
                    continue;
                }
            };
            let mut problems = Vec::new();
            let prompt = take_string(&object, "prompt", true, &origin, &mut problems);
            let target = take_string(&object, "target", true, &origin, &mut problems);
            let relation = take_string(&object, "relation", false, &origin, &mut problems);
            let subject = take_string(&object, "subject", false, &origin, &mut problems);
            let id = take_id(&object, "id", &origin, &mut problems);
            if let (Some(prompt), Some(target), true) = (prompt, target, problems.is_empty()) {
                let id = id.unwrap_or_else(|| default_id(&origin));
                if ids.register(&id, &origin, &mut problems) {
                    probes.push(Probe {
                        id,
                        prompt,
                        target,
                        relation,
                        subject,
                        origin,
                    });
                }
            }
            if !problems.is_empty() {
                report.skipped += 1;
                report.problems.extend(problems);
            }
        }
        finish(path, probes, report, strictness)
    }

    /// Loads a LAMA / T-REx probe set from a triples JSONL file (`sub_label`, `obj_label`, `predicate_id`, optional
    /// `uuid` used as the id) and a templates JSONL file (`relation`, `template` with `[X]` and `[Y]`, e.g.
    /// `The capital of [X] is [Y] .`). Each triple becomes a probe whose prompt is the template text before `[Y]`
    /// with `[X]` replaced by `sub_label` and trailing whitespace trimmed; target = `obj_label`, relation =
    /// `predicate_id`, subject = `sub_label`. Other fields (LAMA's `label`, `evidences`, ...) are ignored; blank
    /// lines are ignored as in [`ProbeSet::load_jsonl`].
    ///
    /// # Errors
    /// As [`ProbeSet::load_jsonl`]; problems of both files are listed together. In lenient mode a bad template is
    /// skipped, and the triples of its relation are then reported as unknown relations and skipped too.
    pub fn load_lama(
        triples: impl AsRef<Path>,
        templates: impl AsRef<Path>,
        strictness: Strictness,
    ) -> Result<(ProbeSet, ProbeReport), ProbeSetError> {
        let (triples, templates) = (triples.as_ref(), templates.as_ref());
        let template_bytes =
            std::fs::read(templates).map_err(|e| ProbeSetError::io(templates, e))?;
        let triple_bytes = std::fs::read(triples).map_err(|e| ProbeSetError::io(triples, e))?;
        let mut report = ProbeReport::default();

        let template_lines = parse_object_lines(templates, &template_bytes, &mut report);
        let template_lines_read = report.lines_read;
        if template_lines_read == 0 {
            report
                .problems
                .push(ProbeProblem::whole_file(templates, ProblemKind::EmptyFile));
        }
        let mut by_relation: HashMap<String, (String, Origin)> = HashMap::new();
        for line in template_lines {
            let ParsedLine { origin, object } = match line {
                Ok(line) => line,
                Err(problem) => {
                    skip_unparsed(problem, &mut report);
                    continue;
                }
            };
            let mut problems = Vec::new();
            let relation = take_string(&object, "relation", true, &origin, &mut problems);
            let template = take_string(&object, "template", true, &origin, &mut problems);
            if let Some(template) = &template {
                check_template(template, &origin, &mut problems);
            }
            if let (Some(relation), Some(template), true) =
                (relation, template, problems.is_empty())
            {
                if let Some((_, first)) = by_relation.get(&relation) {
                    let kind = ProblemKind::DuplicateRelation {
                        relation,
                        first: first.clone(),
                    };
                    problems.push(ProbeProblem::at(&origin, Some("relation"), kind));
                } else {
                    by_relation.insert(relation, (template, origin.clone()));
                }
            }
            if !problems.is_empty() {
                report.skipped += 1;
                report.problems.extend(problems);
            }
        }

        let triple_lines = parse_object_lines(triples, &triple_bytes, &mut report);
        if report.lines_read == template_lines_read {
            report
                .problems
                .push(ProbeProblem::whole_file(triples, ProblemKind::EmptyFile));
        }
        let mut ids = IdRegistry::default();
        let mut probes = Vec::new();
        for line in triple_lines {
            let ParsedLine { origin, object } = match line {
                Ok(line) => line,
                Err(problem) => {
                    skip_unparsed(problem, &mut report);
                    continue;
                }
            };
            let mut problems = Vec::new();
            let subject = take_string(&object, "sub_label", true, &origin, &mut problems);
            let object_label = take_string(&object, "obj_label", true, &origin, &mut problems);
            let relation = take_string(&object, "predicate_id", true, &origin, &mut problems);
            let id = take_id(&object, "uuid", &origin, &mut problems);
            let template = relation
                .as_ref()
                .and_then(|relation| match by_relation.get(relation) {
                    Some((template, _)) => Some(template),
                    None => {
                        let kind = ProblemKind::UnknownRelation {
                            relation: relation.clone(),
                        };
                        problems.push(ProbeProblem::at(&origin, Some("predicate_id"), kind));
                        None
                    }
                });
            if let (Some(subject), Some(target), Some(template), true) =
                (subject, object_label, template, problems.is_empty())
            {
                let id = id.unwrap_or_else(|| default_id(&origin));
                if ids.register(&id, &origin, &mut problems) {
                    probes.push(Probe {
                        id,
                        prompt: render_template(template, &subject),
                        target,
                        relation,
                        subject: Some(subject),
                        origin,
                    });
                }
            }
            if !problems.is_empty() {
                report.skipped += 1;
                report.problems.extend(problems);
            }
        }
        if report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::EmptyFile)
        {
            return Err(ProbeSetError::Invalid(report));
        }
        finish(triples, probes, report, strictness)
    }

    /// Builds a probe set from probes made in code, validating it as the loaders do (always strictly): the vector
    /// is not empty; ids, prompts and targets are non-empty; relation and subject, when given, are non-empty; ids
    /// are unique. Problems are located by each probe's [`Origin`] (see [`Origin::programmatic`]).
    ///
    /// # Errors
    /// [`ProbeSetError::Invalid`] listing every problem.
    pub fn from_probes(probes: Vec<Probe>) -> Result<ProbeSet, ProbeSetError> {
        let mut report = ProbeReport::default();
        if probes.is_empty() {
            let problem =
                ProbeProblem::whole_file(crate::problem::PROGRAMMATIC_FILE, ProblemKind::NoProbes);
            report.problems.push(problem);
            return Err(ProbeSetError::Invalid(report));
        }
        let mut ids = IdRegistry::default();
        for probe in &probes {
            let origin = &probe.origin;
            let fields = [
                ("id", Some(&probe.id)),
                ("prompt", Some(&probe.prompt)),
                ("target", Some(&probe.target)),
                ("relation", probe.relation.as_ref()),
                ("subject", probe.subject.as_ref()),
            ];
            for (name, value) in fields {
                if value.is_some_and(|v| v.trim().is_empty()) {
                    let problem = ProbeProblem::at(origin, Some(name), ProblemKind::EmptyField);
                    report.problems.push(problem);
                }
            }
            if !probe.id.trim().is_empty() {
                ids.register(&probe.id, origin, &mut report.problems);
            }
        }
        if !report.problems.is_empty() {
            return Err(ProbeSetError::Invalid(report));
        }
        Ok(ProbeSet::new_unchecked(probes))
    }

    fn new_unchecked(probes: Vec<Probe>) -> Self {
        let mut relations: Vec<String> = Vec::new();
        for relation in probes.iter().filter_map(|p| p.relation.as_ref()) {
            if !relations.contains(relation) {
                relations.push(relation.clone());
            }
        }
        Self { probes, relations }
    }

    /// The probes, in file order.
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    /// The number of probes (never 0).
    pub fn len(&self) -> usize {
        self.probes.len()
    }

    /// Always false: a probe set holds at least one probe. Here for API convention.
    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }

    /// The distinct relations, in order of first appearance.
    pub fn relations(&self) -> &[String] {
        &self.relations
    }

    /// Each relation with its number of probes, in order of first appearance.
    pub fn relation_counts(&self) -> Vec<(String, usize)> {
        self.relations
            .iter()
            .map(|r| {
                let n = self
                    .probes
                    .iter()
                    .filter(|p| p.relation.as_ref() == Some(r))
                    .count();
                (r.clone(), n)
            })
            .collect()
    }

    /// The number of probes without a relation.
    pub fn unlabelled(&self) -> usize {
        self.probes.iter().filter(|p| p.relation.is_none()).count()
    }
}

/// Ends a load: fails in strict mode on any problem, and in any mode when no probe is left.
fn finish(
    path: &Path,
    probes: Vec<Probe>,
    mut report: ProbeReport,
    strictness: Strictness,
) -> Result<(ProbeSet, ProbeReport), ProbeSetError> {
    if strictness == Strictness::Strict && !report.problems.is_empty() {
        // Strict mode loads nothing, so nothing was skipped either.
        report.skipped = 0;
        return Err(ProbeSetError::Invalid(report));
    }
    if probes.is_empty() {
        report
            .problems
            .push(ProbeProblem::whole_file(path, ProblemKind::NoProbes));
        return Err(ProbeSetError::Invalid(report));
    }
    report.probes = probes.len();
    Ok((ProbeSet::new_unchecked(probes), report))
}

/// The prompt of a LAMA template (already checked): the text before `[Y]`, `[X]` replaced, trailing space trimmed.
pub(crate) fn render_template(template: &str, subject: &str) -> String {
    let end = template.find("[Y]").unwrap_or(template.len());
    template[..end]
        .replace("[X]", subject)
        .trim_end()
        .to_owned()
}

fn check_template(template: &str, origin: &Origin, problems: &mut Vec<ProbeProblem>) {
    let x = template.find("[X]");
    let y = template.find("[Y]");
    for (found, placeholder) in [(x, "[X]"), (y, "[Y]")] {
        if found.is_none() {
            let kind = ProblemKind::MissingPlaceholder { placeholder };
            problems.push(ProbeProblem::at(origin, Some("template"), kind));
        }
    }
    if let (Some(x), Some(y)) = (x, y)
        && x > y
    {
        problems.push(ProbeProblem::at(
            origin,
            Some("template"),
            ProblemKind::SubjectAfterObject,
        ));
    }
}

fn default_id(origin: &Origin) -> String {
    let name = origin.file.file_name().map_or_else(
        || origin.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    format!("{name}:{}", origin.line)
}

/// First use of every id, to report duplicates naming both places.
#[derive(Default)]
struct IdRegistry {
    first: HashMap<String, Origin>,
}

impl IdRegistry {
    /// Records `id` at `origin`; returns false (and reports the problem) when it was used before.
    fn register(&mut self, id: &str, origin: &Origin, problems: &mut Vec<ProbeProblem>) -> bool {
        if let Some(first) = self.first.get(id) {
            let kind = ProblemKind::DuplicateId {
                id: id.to_owned(),
                first: first.clone(),
            };
            problems.push(ProbeProblem::at(origin, Some("id"), kind));
            false
        } else {
            self.first.insert(id.to_owned(), origin.clone());
            true
        }
    }
}

struct ParsedLine {
    origin: Origin,
    object: Map<String, Value>,
}

/// Splits `bytes` into lines and parses each non-blank one as a JSON object. Lines that are not UTF-8, not JSON or
/// not an object come back as problems, in line order with the parsed ones; `report.lines_read` counts every
/// non-blank line.
fn parse_object_lines(
    path: &Path,
    bytes: &[u8],
    report: &mut ProbeReport,
) -> Vec<Result<ParsedLine, ProbeProblem>> {
    let mut parsed = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let origin = Origin::new(path, index + 1);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = match std::str::from_utf8(raw) {
            Ok(text) => text,
            Err(e) => {
                report.lines_read += 1;
                let kind = ProblemKind::NotUtf8 {
                    byte: e.valid_up_to(),
                };
                parsed.push(Err(ProbeProblem::at(&origin, None, kind)));
                continue;
            }
        };
        // A byte-order mark at the start of the file is not content.
        let text = if index == 0 {
            text.trim_start_matches('\u{feff}')
        } else {
            text
        };
        if text.trim().is_empty() {
            continue;
        }
        report.lines_read += 1;
        parsed.push(match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => Ok(ParsedLine { origin, object }),
            Ok(other) => {
                let kind = ProblemKind::WrongType {
                    expected: "object",
                    found: json_type(&other),
                };
                Err(ProbeProblem::at(&origin, None, kind))
            }
            Err(e) => {
                // serde_json's message ends with "at line 1 column N": the line is ours, only the column is news.
                let full = e.to_string();
                let reason = full
                    .rfind(" at line ")
                    .map_or(full.as_str(), |at| &full[..at]);
                let message = format!("{reason} (column {})", e.column());
                Err(ProbeProblem::at(
                    &origin,
                    None,
                    ProblemKind::InvalidJson { message },
                ))
            }
        });
    }
    parsed
}

/// Records a line that could not be parsed: reported and counted as skipped.
fn skip_unparsed(problem: ProbeProblem, report: &mut ProbeReport) {
    report.skipped += 1;
    report.problems.push(problem);
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Reads a string field. Absent or `null`: a problem if `required`, else `None`. Empty (or only whitespace) or not
/// a string: a problem.
fn take_string(
    object: &Map<String, Value>,
    name: &str,
    required: bool,
    origin: &Origin,
    problems: &mut Vec<ProbeProblem>,
) -> Option<String> {
    let kind = match object.get(name) {
        None | Some(Value::Null) if !required => return None,
        None | Some(Value::Null) => ProblemKind::MissingField,
        Some(Value::String(s)) if s.trim().is_empty() => ProblemKind::EmptyField,
        Some(Value::String(s)) => return Some(s.clone()),
        Some(other) => ProblemKind::WrongType {
            expected: "string",
            found: json_type(other),
        },
    };
    problems.push(ProbeProblem::at(origin, Some(name), kind));
    None
}

/// Reads an optional id: a non-empty string or an integer.
fn take_id(
    object: &Map<String, Value>,
    name: &str,
    origin: &Origin,
    problems: &mut Vec<ProbeProblem>,
) -> Option<String> {
    match object.get(name) {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => take_string(object, name, false, origin, problems),
    }
}
