//! Why a comparison could not be made or written.

use std::path::PathBuf;

/// Why a comparison could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The run directory has no `hook-config.json`, or it cannot be read.
    #[error(
        "{path}: {reason}; pass a run directory written by the hook (it holds hook-config.json and history.jsonl)"
    )]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The run directory's history cannot be read.
    #[error("{path}: {reason}; compare run directories as the hook wrote them")]
    History {
        /// The history file.
        path: PathBuf,
        /// What is wrong, with the line number.
        reason: String,
    },
    /// A series has no probe runs to compare.
    #[error("series `{name}` has no probe runs{}; train until the hook has probed at least once", .run_dir.as_ref().map(|d| format!(" ({}/history.jsonl is empty or missing)", d.display())).unwrap_or_default())]
    Empty {
        /// The series.
        name: String,
        /// Its run directory, when loaded from one.
        run_dir: Option<PathBuf>,
    },
    /// The series were measured with settings that make their numbers incomparable.
    #[error(
        "series `{first}` and `{other}` differ in `{field}` ({first_value} vs {other_value}); probe both with the same hook settings"
    )]
    Mismatch {
        /// The first series.
        first: String,
        /// The series that differs from it.
        other: String,
        /// The [`lpi_hook::LpiHookConfig`] field.
        field: &'static str,
        /// The first series' value.
        first_value: String,
        /// The other series' value.
        other_value: String,
    },
    /// Nothing to compare, or two series share a name.
    #[error("{0}")]
    Series(String),
    /// An output file cannot be written.
    #[error("cannot write {path}: {reason}; choose a writable output directory")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O or encoding error.
        reason: String,
    },
}
