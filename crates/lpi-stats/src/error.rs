//! Typed errors for state restored from outside (persisted snapshots, configuration).

/// Why a statistics state could not be built from the given parts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// [`crate::PositiveUpdates`] parts whose vectors disagree in length.
    #[error(
        "positive updates: `accumulated` has {accumulated} units but `previous` has {previous}; \
         both must hold one value per unit of the same profile (was the snapshot written by another model?)"
    )]
    UpdatesLengthMismatch {
        /// Length of the accumulated vector.
        accumulated: usize,
        /// Length of the previous profile.
        previous: usize,
    },
    /// [`crate::PositiveUpdates`] parts with `runs == 0` but non-empty vectors, or the reverse.
    #[error(
        "positive updates: `runs` is {runs} but `previous` has {previous} units; \
         `runs` must be 0 exactly when no profile has been seen (empty vectors)"
    )]
    UpdatesRunsMismatch {
        /// The given run count.
        runs: u64,
        /// Length of the previous profile.
        previous: usize,
    },
    /// [`crate::PositiveUpdates`] parts with a negative or non-finite accumulated value.
    #[error(
        "positive updates: accumulated value {value} at unit {unit} is negative or not finite; \
         accumulated positive updates are sums of max(difference, 0)"
    )]
    UpdatesInvalidValue {
        /// Unit index of the offending value.
        unit: usize,
        /// The offending value.
        value: f64,
    },
    /// A [`crate::Consolidation`] window of zero runs.
    #[error("consolidation: `window` must be at least 1 run, got 0")]
    ZeroWindow,
    /// A non-finite [`crate::Consolidation`] threshold.
    #[error("consolidation: threshold `tau` must be finite, got {0}")]
    InvalidThreshold(f64),
    /// [`crate::Consolidation`] parts that contradict each other.
    #[error("consolidation: inconsistent state: {0}")]
    InconsistentConsolidation(&'static str),
}
