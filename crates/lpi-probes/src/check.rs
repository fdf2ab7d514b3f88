//! One call that runs every check on a probe file and reports all problems: what `lpi probes check` prints, and
//! what a training hook can run before the first probe run.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::probe::{ProbeSet, Strictness};
use crate::problem::{ProbeReport, ProbeSetError, plural};
use crate::tokenize::{HfTokenizer, ProbeTokenizer, TargetPolicy};

/// What [`check`] checks besides the structure of the probe file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// A LAMA templates file; when given, the probe file is read as LAMA triples.
    pub templates: Option<PathBuf>,
    /// A `tokenizer.json`; without it only the structural checks run.
    pub tokenizer: Option<PathBuf>,
    /// The model's context length; without it prompt lengths are not limited. Needs a tokenizer.
    pub context_length: Option<usize>,
    /// How targets are tokenised.
    pub policy: TargetPolicy,
}

/// The result of [`check`]: every problem found and what the probe set holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// The probe file.
    pub file: PathBuf,
    /// The templates file, in LAMA mode.
    pub templates: Option<PathBuf>,
    /// Every problem, structural first, then from tokenisation; counts are those of the final probe set.
    pub report: ProbeReport,
    /// Each relation of the kept probes with its number of probes, in order of first appearance.
    pub relations: Vec<(String, usize)>,
    /// Kept probes without a relation.
    pub unlabelled: usize,
    /// Whether the probes were tokenised (a tokenizer was given and some probe passed the structural checks).
    pub tokenized: bool,
    /// Whether a tokenizer was given.
    pub tokenizer_given: bool,
    /// The context length the prompts were checked against, if any.
    pub context_length: Option<usize>,
}

impl CheckOutcome {
    /// Whether the probe file passed every check.
    pub fn is_clean(&self) -> bool {
        self.report.is_clean()
    }
}

/// Checks a probe file: loads it leniently (so that every problem is found, not just the first), then, given a
/// tokenizer, tokenises the structurally valid probes leniently under `options.policy` and the context length.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("probes.jsonl");
/// std::fs::write(&file, "{\"prompt\": \"The capital of France is\", \"target\": \"Paris\"}\n{\"prompt\": \"x\"}\n")?;
/// let outcome = lpi_probes::check(&file, &lpi_probes::CheckOptions::default())?;
/// assert!(!outcome.is_clean());
/// assert_eq!(outcome.report.problems[0].line, 2);
/// assert_eq!(outcome.report.probes, 1);
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`ProbeSetError::Io`] or [`ProbeSetError::Tokenizer`] when a file cannot be read or the tokenizer not loaded;
/// problems in the probes themselves are in the outcome's report, never an error.
pub fn check(
    file: impl AsRef<Path>,
    options: &CheckOptions,
) -> Result<CheckOutcome, ProbeSetError> {
    let file = file.as_ref();
    let tokenizer = options
        .tokenizer
        .as_ref()
        .map(HfTokenizer::from_file)
        .transpose()?;
    let loaded = match &options.templates {
        Some(templates) => ProbeSet::load_lama(file, templates, Strictness::Lenient),
        None => ProbeSet::load_jsonl(file, Strictness::Lenient),
    };
    let mut outcome = CheckOutcome {
        file: file.to_owned(),
        templates: options.templates.clone(),
        report: ProbeReport::default(),
        relations: Vec::new(),
        unlabelled: 0,
        tokenized: false,
        tokenizer_given: tokenizer.is_some(),
        context_length: options.context_length.filter(|_| tokenizer.is_some()),
    };
    let set = match loaded {
        Ok((set, report)) => {
            outcome.report = report;
            set
        }
        Err(ProbeSetError::Invalid(report)) => {
            outcome.report = report;
            return Ok(outcome);
        }
        Err(e) => return Err(e),
    };
    outcome.relations = set.relation_counts();
    outcome.unlabelled = set.unlabelled();
    let Some(tokenizer) = tokenizer else {
        return Ok(outcome);
    };
    let context_length = options.context_length.unwrap_or(usize::MAX);
    let tokenized = set.tokenize(
        &tokenizer as &dyn ProbeTokenizer,
        &options.policy,
        context_length,
        Strictness::Lenient,
    );
    let tokenization_report = match tokenized {
        Ok((probes, report)) => {
            outcome.tokenized = true;
            let mut counts = vec![0usize; probes.relations.len()];
            for r in probes.relation_of.iter().flatten() {
                counts[*r] += 1;
            }
            outcome.relations = probes.relations.iter().cloned().zip(counts).collect();
            outcome.unlabelled = probes.relation_of.iter().filter(|r| r.is_none()).count();
            report
        }
        Err(ProbeSetError::Invalid(report)) => {
            outcome.tokenized = true;
            outcome.relations.clear();
            outcome.unlabelled = 0;
            report
        }
        Err(e) => return Err(e),
    };
    let report = &mut outcome.report;
    report.problems.extend(tokenization_report.problems);
    report.probes = tokenization_report.probes;
    report.skipped += tokenization_report.skipped;
    report.multi_token_targets = tokenization_report.multi_token_targets;
    report.dropped_multi_token = tokenization_report.dropped_multi_token;
    report.multi_token = tokenization_report.multi_token;
    Ok(outcome)
}

/// The human report: the file, every problem (`file:line: field `name`: reason; hint`), the counts, the relations,
/// what was not checked, and a last line `OK` or `FAILED: n problems`.
impl fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.templates {
            Some(templates) => writeln!(
                f,
                "checking {} (LAMA triples, templates {})",
                self.file.display(),
                templates.display()
            )?,
            None => writeln!(f, "checking {} (JSONL probes)", self.file.display())?,
        }
        writeln!(f, "{}", self.report)?;
        if !self.relations.is_empty() || self.unlabelled > 0 {
            let relations: Vec<String> = self
                .relations
                .iter()
                .map(|(r, n)| format!("{r} ({n})"))
                .collect();
            writeln!(
                f,
                "{} relation{}: {}; {} probe{} without a relation",
                self.relations.len(),
                plural(self.relations.len()),
                if relations.is_empty() {
                    "-".to_owned()
                } else {
                    relations.join(", ")
                },
                self.unlabelled,
                plural(self.unlabelled)
            )?;
        }
        if !self.tokenizer_given {
            writeln!(
                f,
                "tokenisation not checked: no tokenizer given, only the structural checks ran"
            )?;
        } else if !self.tokenized {
            writeln!(
                f,
                "tokenisation not checked: no probe passed the structural checks"
            )?;
        } else if self.context_length.is_none() {
            writeln!(f, "prompt lengths not checked: no context length given")?;
        }
        let n = self.report.problems.len();
        if n == 0 {
            write!(f, "OK")
        } else {
            write!(f, "FAILED: {n} problem{}", plural(n))
        }
    }
}
