//! The errors of attribution: bad probes, captures that do not fit the model, diverged values.

/// Why a Gated-LPI computation could not run. Every variant names the probe or capture site at
/// fault and what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttributionError {
    /// The probe batch holds no probe.
    #[error("the probe batch is empty: pass at least one (prompt, target) probe")]
    EmptyBatch,

    /// The prompts, positions and targets of a batch differ in number.
    #[error(
        "the probe batch has {prompts} prompts, {positions} positions and {targets} targets: give one position and one target per prompt"
    )]
    LengthMismatch {
        /// Prompts given.
        prompts: usize,
        /// Positions given.
        positions: usize,
        /// Targets given.
        targets: usize,
    },

    /// A prompt has no tokens.
    #[error("probe {probe}: the prompt has no tokens; every probe needs at least one prompt token")]
    EmptyPrompt {
        /// Index of the probe in the batch.
        probe: usize,
    },

    /// The read-out position is not a token of the prompt.
    #[error(
        "probe {probe}: position {position} is outside the prompt of {len} tokens; use a position in 0..{len} (usually the last, {last})",
        last = len.saturating_sub(1)
    )]
    PositionOutOfRange {
        /// Index of the probe in the batch.
        probe: usize,
        /// The position asked for.
        position: usize,
        /// Tokens in the prompt.
        len: usize,
    },

    /// The prompt does not fit the model's context window.
    #[error(
        "probe {probe}: the prompt has {len} tokens but the model's context holds {context}; shorten the prompt"
    )]
    PromptTooLong {
        /// Index of the probe in the batch.
        probe: usize,
        /// Tokens in the prompt.
        len: usize,
        /// The model's maximum sequence length.
        context: usize,
    },

    /// A token id (prompt or target) is not in the model's vocabulary.
    #[error(
        "probe {probe}: {what} token id {token} is outside the vocabulary of {vocab} tokens; check that the probes were tokenised with the model's tokenizer"
    )]
    TokenOutOfVocabulary {
        /// Index of the probe in the batch.
        probe: usize,
        /// `"target"` or `"prompt"`.
        what: &'static str,
        /// The offending id.
        token: u32,
        /// Vocabulary size of the model's unembedding.
        vocab: usize,
    },

    /// A captured tensor does not have the shape the rest of the capture implies.
    #[error(
        "capture site `{site}` has shape {found:?}, expected {expected:?}; the model's `Attributable::capture` must follow the shapes documented on `ModelCapture`"
    )]
    ShapeMismatch {
        /// Canonical site name, e.g. `layers.2.ffn.coefficients`.
        site: String,
        /// The shape implied by the other sites.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },

    /// A captured tensor holds NaN or infinity.
    #[error(
        "capture site `{site}` holds NaN or infinite values: the model has diverged (or its weights are corrupt), so no attribution is possible at this step"
    )]
    NonFinite {
        /// Canonical site name, e.g. `final_residual`.
        site: String,
    },

    /// The capture's routing information is inconsistent.
    #[error("capture site `{site}`: {reason}")]
    InvalidRouting {
        /// Canonical site name.
        site: String,
        /// What is wrong.
        reason: String,
    },
}
