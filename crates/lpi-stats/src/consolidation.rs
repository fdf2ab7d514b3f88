//! The consolidation step: the first step after which stability against the previous probe run
//! stays at or above `tau` for `window` runs in a row (DESIGN.md section 2.4).

use serde::{Deserialize, Serialize};

use crate::StatsError;

/// Tracks stability-vs-previous over probe runs and finds the consolidation step.
///
/// The consolidation step is the step of the first run of the first streak of `window`
/// consecutive runs with stability `>= tau`. It is reported from the run that completes the streak
/// on and never changes afterwards; a later dip below `tau` shows up as [`Self::drifted`] instead.
/// A NaN stability counts as below `tau`. Serialisable for persistence; deserialising validates.
///
/// ```
/// use lpi_stats::Consolidation;
/// let mut c = Consolidation::new(0.9, 2).unwrap();
/// assert_eq!(c.observe(100, 0.95), None);
/// assert_eq!(c.observe(200, 0.80), None);
/// assert_eq!(c.observe(300, 0.91), None);
/// assert_eq!(c.observe(400, 0.97), Some(300)); // streak 300, 400
/// assert_eq!(c.observe(500, 0.50), Some(300));
/// assert!(c.drifted());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ConsolidationParts")]
pub struct Consolidation {
    tau: f64,
    window: usize,
    /// Length of the current run of stabilities `>= tau`.
    streak: usize,
    /// Step of the first run of the current streak.
    streak_start: Option<u64>,
    consolidated_at: Option<u64>,
    /// Whether the latest observed stability was `>= tau`.
    latest_stable: Option<bool>,
}

/// Unvalidated serialised form of [`Consolidation`].
#[derive(Deserialize)]
struct ConsolidationParts {
    tau: f64,
    window: usize,
    streak: usize,
    streak_start: Option<u64>,
    consolidated_at: Option<u64>,
    latest_stable: Option<bool>,
}

impl TryFrom<ConsolidationParts> for Consolidation {
    type Error = StatsError;

    fn try_from(p: ConsolidationParts) -> Result<Self, StatsError> {
        let mut c = Self::new(p.tau, p.window)?;
        if (p.streak == 0) != p.streak_start.is_none() {
            return Err(StatsError::InconsistentConsolidation(
                "`streak_start` must be set exactly when `streak` > 0",
            ));
        }
        if p.streak > 0 && p.latest_stable != Some(true) {
            return Err(StatsError::InconsistentConsolidation(
                "a non-empty streak needs `latest_stable` = true",
            ));
        }
        if p.streak >= p.window && p.consolidated_at.is_none() {
            return Err(StatsError::InconsistentConsolidation(
                "a streak of `window` runs must have set `consolidated_at`",
            ));
        }
        c.streak = p.streak;
        c.streak_start = p.streak_start;
        c.consolidated_at = p.consolidated_at;
        c.latest_stable = p.latest_stable;
        Ok(c)
    }
}

impl Consolidation {
    /// A tracker for threshold `tau` (e.g. 0.9 on Spearman vs the previous run) and `window` runs.
    ///
    /// # Errors
    /// If `window` is 0 or `tau` is not finite.
    pub fn new(tau: f64, window: usize) -> Result<Self, StatsError> {
        if window == 0 {
            return Err(StatsError::ZeroWindow);
        }
        if !tau.is_finite() {
            return Err(StatsError::InvalidThreshold(tau));
        }
        Ok(Self {
            tau,
            window,
            streak: 0,
            streak_start: None,
            consolidated_at: None,
            latest_stable: None,
        })
    }

    /// Records the stability vs the previous probe run measured at `step` (steps increase from call
    /// to call) and returns the consolidation step, once known.
    pub fn observe(&mut self, step: u64, stability_vs_previous: f64) -> Option<u64> {
        let stable = stability_vs_previous >= self.tau;
        self.latest_stable = Some(stable);
        if stable {
            if self.streak == 0 {
                self.streak_start = Some(step);
            }
            self.streak += 1;
            if self.consolidated_at.is_none() && self.streak >= self.window {
                self.consolidated_at = self.streak_start;
            }
        } else {
            self.streak = 0;
            self.streak_start = None;
        }
        self.consolidated_at
    }

    /// The consolidation step, once a streak of `window` stable runs has been seen.
    pub fn consolidated_at(&self) -> Option<u64> {
        self.consolidated_at
    }

    /// Length of the current streak of runs with stability `>= tau` (0 after an unstable run).
    pub fn streak(&self) -> usize {
        self.streak
    }

    /// Whether the profile consolidated earlier but the latest run fell below `tau`.
    pub fn drifted(&self) -> bool {
        self.consolidated_at.is_some() && self.latest_stable == Some(false)
    }

    /// The stability threshold.
    pub fn tau(&self) -> f64 {
        self.tau
    }

    /// The number of consecutive stable runs required.
    pub fn window(&self) -> usize {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_configuration() {
        assert_eq!(Consolidation::new(0.9, 0), Err(StatsError::ZeroWindow));
        assert!(matches!(
            Consolidation::new(f64::NAN, 3),
            Err(StatsError::InvalidThreshold(_))
        ));
    }

    #[test]
    fn window_one_consolidates_at_the_first_stable_run() {
        let mut c = Consolidation::new(0.5, 1).unwrap();
        assert_eq!(c.observe(1, 0.4), None);
        assert!(!c.drifted());
        assert_eq!(c.observe(2, f64::NAN), None);
        assert_eq!(c.observe(3, 0.5), Some(3));
        assert_eq!(c.streak(), 1);
        assert!(!c.drifted());
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let mut c = Consolidation::new(0.9, 3).unwrap();
        c.observe(10, 0.95);
        c.observe(20, 0.99);
        let json = serde_json::to_string(&c).unwrap();
        let back: Consolidation = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let bad = json.replace("\"window\":3", "\"window\":0");
        assert!(serde_json::from_str::<Consolidation>(&bad).is_err());
        let bad = json.replace("\"streak\":2", "\"streak\":0");
        assert!(serde_json::from_str::<Consolidation>(&bad).is_err());
    }
}
