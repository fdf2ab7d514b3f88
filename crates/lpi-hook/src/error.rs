//! What can stop the hook from being built. Once built, the hook never returns an error into
//! the training loop: failures are counted in [`crate::HookHealth`] and logged.

use std::path::PathBuf;

use lpi_attribution::AttributionError;
use lpi_probes::ProbeSetError;

/// Why the hook could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The probe set has problems (each with file:line); fix them or set `lenient`.
    #[error("probe set rejected: {0}")]
    Probes(#[from] ProbeSetError),
    /// The probes do not fit the model (token out of vocabulary, prompt too long).
    #[error("probes do not fit the model: {0}")]
    Attribution(#[from] AttributionError),
    /// A configuration value is out of range.
    #[error("invalid hook config: field `{field}`: {reason}")]
    Config {
        /// The [`crate::LpiHookConfig`] field.
        field: &'static str,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The run directory cannot be created or written.
    #[error("run directory {path}: {source}; choose a writable `run_dir`")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Saved state in the run directory cannot be read back.
    #[error(
        "cannot continue from {path}: {reason}; set `fresh` or move the run directory aside to start afresh"
    )]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The worker thread could not be started.
    #[error("cannot start the hook's worker thread: {0}")]
    Worker(std::io::Error),
    /// The hook needs a tokenizer: set `tokenizer` in the config or use `with_tokenizer`.
    #[error(
        "no tokenizer: set `tokenizer` (a tokenizer.json) in the hook config or build the hook with `LpiHook::with_tokenizer`"
    )]
    NoTokenizer,
}
