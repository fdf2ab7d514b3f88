//! Problems found in probe input, the report that collects them, and the crate's error type.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a probe came from: a file and a 1-based line number.
///
/// Probes built in code (see [`crate::ProbeSet::from_probes`]) use [`Origin::programmatic`], whose file is
/// `<programmatic>` and whose line is the 1-based position in the vector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file the probe was read from.
    pub file: PathBuf,
    /// The 1-based line of that file.
    pub line: usize,
}

impl Origin {
    /// An origin in `file` at the 1-based `line`.
    pub fn new(file: impl Into<PathBuf>, line: usize) -> Self {
        Self {
            file: file.into(),
            line,
        }
    }

    /// The origin of the probe at 0-based `index` of a probe vector built in code.
    pub fn programmatic(index: usize) -> Self {
        Self::new(PROGRAMMATIC_FILE, index + 1)
    }
}

/// The file name that [`Origin::programmatic`] uses.
pub const PROGRAMMATIC_FILE: &str = "<programmatic>";

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// What is wrong with a piece of probe input: one variant per class of problem.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file could not be read as text: the line holds bytes that are not UTF-8.
    NotUtf8 {
        /// 0-based byte offset within the line of the first invalid byte.
        byte: usize,
    },
    /// The line is not valid JSON.
    InvalidJson {
        /// The parser's message.
        message: String,
    },
    /// A required field is absent (or `null`).
    MissingField,
    /// A field is present but empty or only whitespace.
    EmptyField,
    /// A field (or the whole line, when the problem has no field) has the wrong JSON type.
    WrongType {
        /// The type that was expected, e.g. `string`.
        expected: &'static str,
        /// The type that was found, e.g. `number`.
        found: &'static str,
    },
    /// A triple's `predicate_id` has no template in the templates file.
    UnknownRelation {
        /// The relation named by the triple.
        relation: String,
    },
    /// A LAMA template lacks one of its placeholders.
    MissingPlaceholder {
        /// `[X]` (the subject) or `[Y]` (the object).
        placeholder: &'static str,
    },
    /// A LAMA template puts `[X]` after `[Y]`, so the prompt (the text before `[Y]`) would not mention the subject.
    SubjectAfterObject,
    /// Two templates for the same relation.
    DuplicateRelation {
        /// The relation.
        relation: String,
        /// Where its first template is.
        first: Origin,
    },
    /// Two probes with the same id.
    DuplicateId {
        /// The id.
        id: String,
        /// Where the id was first used.
        first: Origin,
    },
    /// The file holds no probe (it is empty or only blank lines).
    EmptyFile,
    /// No probe is left (every line was bad and skipped, or an empty probe vector was given).
    NoProbes,
    /// The tokenizer turned the prompt into no tokens at all.
    PromptTokenizesToNothing,
    /// The tokenizer turned the target into no tokens at all.
    TargetTokenizesToNothing,
    /// The prompt has more tokens than the model's context.
    PromptTooLong {
        /// Tokens in the prompt.
        tokens: usize,
        /// The model's context length.
        context_length: usize,
    },
    /// The tokenizer returned an error for this text.
    TokenizerFailed {
        /// The tokenizer's message.
        message: String,
    },
    /// The tokenizer produced a token id outside its own vocabulary.
    TokenOutOfVocab {
        /// The token id.
        token: u32,
        /// The tokenizer's vocabulary size.
        vocab_size: usize,
    },
}

impl ProblemKind {
    /// What to do about the problem, in a few words.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::NotUtf8 { .. } => "save the file as UTF-8",
            Self::InvalidJson { .. } => "write one JSON object per line",
            Self::MissingField => "add the field with a non-empty string",
            Self::EmptyField => "give the field a non-empty string",
            Self::WrongType {
                expected: "object", ..
            } => "write one JSON object per line",
            Self::WrongType { .. } => "use a JSON string",
            Self::UnknownRelation { .. } => "add a template for this relation or remove the triple",
            Self::MissingPlaceholder { .. } => {
                "write the template with both [X] (subject) and [Y] (object)"
            }
            Self::SubjectAfterObject => "rephrase the template so [X] comes before [Y]",
            Self::DuplicateRelation { .. } => "keep one template per relation",
            Self::DuplicateId { .. } => "give every probe a unique id",
            Self::EmptyFile => "add probes, one JSON object per line",
            Self::NoProbes => "fix the problems above",
            Self::PromptTokenizesToNothing => {
                "check the prompt and that the tokenizer matches the model"
            }
            Self::TargetTokenizesToNothing => {
                "check the target and that the tokenizer matches the model"
            }
            Self::PromptTooLong { .. } => "shorten the prompt or drop the probe",
            Self::TokenizerFailed { .. } => {
                "check the text and that the tokenizer matches the model"
            }
            Self::TokenOutOfVocab { .. } => {
                "fix the tokenizer: its ids must be below its vocabulary size"
            }
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotUtf8 { byte } => write!(f, "not UTF-8 (invalid byte at column {})", byte + 1),
            Self::InvalidJson { message } => write!(f, "invalid JSON: {message}"),
            Self::MissingField => write!(f, "missing"),
            Self::EmptyField => write!(f, "empty"),
            Self::WrongType { expected, found } => {
                write!(f, "wrong type: expected {expected}, found {found}")
            }
            Self::UnknownRelation { relation } => {
                write!(f, "unknown relation `{relation}` (no template for it)")
            }
            Self::MissingPlaceholder { placeholder } => write!(f, "template without {placeholder}"),
            Self::SubjectAfterObject => write!(
                f,
                "[X] comes after [Y], so the prompt would not name the subject"
            ),
            Self::DuplicateRelation { relation, first } => {
                write!(
                    f,
                    "duplicate template for relation `{relation}` (first at {first})"
                )
            }
            Self::DuplicateId { id, first } => {
                write!(f, "duplicate id `{id}` (first used at {first})")
            }
            Self::EmptyFile => write!(f, "empty file: no probes"),
            Self::NoProbes => write!(f, "no valid probes left"),
            Self::PromptTokenizesToNothing => write!(f, "tokenises to nothing"),
            Self::TargetTokenizesToNothing => write!(f, "tokenises to nothing"),
            Self::PromptTooLong {
                tokens,
                context_length,
            } => write!(
                f,
                "too long: {tokens} tokens, the model's context is {context_length}"
            ),
            Self::TokenizerFailed { message } => write!(f, "tokenizer failed: {message}"),
            Self::TokenOutOfVocab { token, vocab_size } => {
                write!(
                    f,
                    "token id {token} is outside the vocabulary (size {vocab_size})"
                )
            }
        }
    }
}

/// One problem: where it is (file, 1-based line, field) and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeProblem {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    /// The JSON field concerned, if any.
    pub field: Option<String>,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl ProbeProblem {
    /// A problem at `file:line`, in `field` if given.
    pub fn new(
        file: impl Into<PathBuf>,
        line: usize,
        field: Option<&str>,
        kind: ProblemKind,
    ) -> Self {
        Self {
            file: file.into(),
            line,
            field: field.map(str::to_owned),
            kind,
        }
    }

    /// A problem concerning the whole file (line 0, no field).
    pub fn whole_file(file: impl Into<PathBuf>, kind: ProblemKind) -> Self {
        Self::new(file, 0, None, kind)
    }

    pub(crate) fn at(origin: &Origin, field: Option<&str>, kind: ProblemKind) -> Self {
        Self::new(origin.file.clone(), origin.line, field, kind)
    }
}

/// Formats as `file:line: field `name`: reason; hint` (the line is left out when it is 0, the field when absent).
impl fmt::Display for ProbeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}; {}", self.kind, self.kind.hint())
    }
}

/// A probe whose target is more than one token long. Only its first token is scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiTokenTarget {
    /// The probe's id.
    pub id: String,
    /// Where the probe came from.
    pub origin: Origin,
    /// How many tokens the target encodes to.
    pub tokens: usize,
}

/// What loading or tokenising a probe set found: every problem, and counts.
///
/// `Display` writes one problem per line (`file:line: field `target`: reason; hint`), then the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// Every problem found, in file order.
    pub problems: Vec<ProbeProblem>,
    /// Non-blank lines read, over both files for LAMA; 0 in a tokenisation report.
    pub lines_read: usize,
    /// Probes kept.
    pub probes: usize,
    /// Lines or probes skipped because they had problems (lenient mode only; strict mode fails instead).
    pub skipped: usize,
    /// Probes whose target is more than one token long (dropped or not).
    pub multi_token_targets: usize,
    /// Multi-token probes dropped because [`crate::TargetPolicy::drop_multi_token`] was set.
    pub dropped_multi_token: usize,
    /// The multi-token probes, in probe order.
    pub multi_token: Vec<MultiTokenTarget>,
}

impl ProbeReport {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How many multi-token probes [`ProbeReport`]'s `Display` names before summarising the rest.
const MULTI_TOKEN_SHOWN: usize = 10;

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            writeln!(f, "{problem}")?;
        }
        write!(
            f,
            "{} problem{}; ",
            self.problems.len(),
            plural(self.problems.len())
        )?;
        if self.lines_read > 0 {
            write!(
                f,
                "{} line{} read, ",
                self.lines_read,
                plural(self.lines_read)
            )?;
        }
        write!(
            f,
            "{} probe{} kept, {} skipped",
            self.probes,
            plural(self.probes),
            self.skipped
        )?;
        if self.multi_token_targets > 0 {
            write!(
                f,
                "\n{} multi-token target{} (only the first token is scored), {} dropped",
                self.multi_token_targets,
                plural(self.multi_token_targets),
                self.dropped_multi_token
            )?;
            for m in self.multi_token.iter().take(MULTI_TOKEN_SHOWN) {
                write!(f, "\n  {}: id `{}`: {} tokens", m.origin, m.id, m.tokens)?;
            }
            if self.multi_token.len() > MULTI_TOKEN_SHOWN {
                write!(
                    f,
                    "\n  ... and {} more",
                    self.multi_token.len() - MULTI_TOKEN_SHOWN
                )?;
            }
        }
        Ok(())
    }
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Why a probe set could not be loaded or tokenised.
#[derive(Debug, thiserror::Error)]
pub enum ProbeSetError {
    /// The input has problems (strict mode: all of them are listed; lenient mode: problems that no skipping fixes,
    /// such as an empty file).
    #[error("invalid probe input:\n{0}")]
    Invalid(ProbeReport),
    /// A file could not be read.
    #[error("cannot read {}: {source}; check the path and its permissions", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A tokenizer file could not be loaded.
    #[error("cannot load tokenizer {}: {message}; give a Hugging Face tokenizer.json", path.display())]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
}

impl ProbeSetError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
