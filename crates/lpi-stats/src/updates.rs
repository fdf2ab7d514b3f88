//! Accumulated positive updates: per unit `U_i += max(I_t,i - I_prev,i, 0)` over successive probe
//! runs (DESIGN.md section 2.4). Its top-q share is the paper's "top 1% of neurons receive >45% of
//! positive updates" reading.

use serde::{Deserialize, Serialize};

use crate::StatsError;
use crate::concentration::top_k_count;

/// Per-unit sum of the positive increments of a profile over successive probe runs.
///
/// The first profile only becomes the previous one; each later one adds `max(I_t - I_prev, 0)` (in
/// `f64`, so long runs do not lose small increments) and becomes the previous one. Serialises to
/// `{accumulated, previous, runs}`; deserialising validates like [`Self::from_parts`].
///
/// ```
/// use lpi_stats::PositiveUpdates;
/// let mut updates = PositiveUpdates::new();
/// updates.update(&[1.0, 2.0]);
/// updates.update(&[1.5, 1.0]);
/// updates.update(&[1.0, 3.0]);
/// assert_eq!(updates.accumulated(), &[0.5, 2.0]);
/// assert_eq!(updates.runs(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PositiveUpdatesParts")]
pub struct PositiveUpdates {
    accumulated: Vec<f64>,
    previous: Vec<f32>,
    runs: u64,
}

/// Unvalidated serialised form of [`PositiveUpdates`].
#[derive(Deserialize)]
struct PositiveUpdatesParts {
    accumulated: Vec<f64>,
    previous: Vec<f32>,
    runs: u64,
}

impl TryFrom<PositiveUpdatesParts> for PositiveUpdates {
    type Error = StatsError;

    fn try_from(parts: PositiveUpdatesParts) -> Result<Self, StatsError> {
        Self::from_parts(parts.accumulated, parts.previous, parts.runs)
    }
}

impl PositiveUpdates {
    /// No profile seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores a state saved from [`Self::accumulated`], [`Self::previous`] and [`Self::runs`].
    ///
    /// # Errors
    /// If the vectors differ in length, if `runs` is 0 while they are non-empty (or the reverse), or
    /// if an accumulated value is negative or not finite.
    pub fn from_parts(
        accumulated: Vec<f64>,
        previous: Vec<f32>,
        runs: u64,
    ) -> Result<Self, StatsError> {
        if accumulated.len() != previous.len() {
            return Err(StatsError::UpdatesLengthMismatch {
                accumulated: accumulated.len(),
                previous: previous.len(),
            });
        }
        // A run over an empty profile is legal, so only a non-empty profile without runs is wrong;
        // runs >= 1 with empty vectors is a profile of zero units.
        if runs == 0 && !previous.is_empty() {
            return Err(StatsError::UpdatesRunsMismatch {
                runs,
                previous: previous.len(),
            });
        }
        if let Some((unit, &value)) = accumulated
            .iter()
            .enumerate()
            .find(|&(_, &v)| !(v.is_finite() && v >= 0.0))
        {
            return Err(StatsError::UpdatesInvalidValue { unit, value });
        }
        Ok(Self {
            accumulated,
            previous,
            runs,
        })
    }

    /// Adds the positive increments of `profile` over the previous profile (the first call only
    /// stores it). Values must be finite (checked in debug builds only).
    ///
    /// # Panics
    /// If `profile` has a different number of units than the previous one.
    pub fn update(&mut self, profile: &[f32]) {
        debug_assert!(
            profile.iter().all(|x| x.is_finite()),
            "profile must be finite"
        );
        if self.runs == 0 {
            self.accumulated = vec![0.0; profile.len()];
            self.previous = profile.to_vec();
        } else {
            assert_eq!(
                profile.len(),
                self.previous.len(),
                "positive updates: profile has {} units, previous had {}",
                profile.len(),
                self.previous.len()
            );
            for ((acc, prev), &x) in self
                .accumulated
                .iter_mut()
                .zip(self.previous.iter_mut())
                .zip(profile)
            {
                *acc += (f64::from(x) - f64::from(*prev)).max(0.0);
                *prev = x;
            }
        }
        self.runs += 1;
    }

    /// Accumulated positive updates per unit (all `>= 0`; zeros before the second run).
    pub fn accumulated(&self) -> &[f64] {
        &self.accumulated
    }

    /// The last profile passed to [`Self::update`] (empty before the first).
    pub fn previous(&self) -> &[f32] {
        &self.previous
    }

    /// Number of profiles seen, the first included.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// Share of the accumulated positive updates held by the top-`q` fraction of units
    /// ([`top_k_count`]); 0 when nothing has accumulated. `O(n)` (selection, no full sort).
    pub fn top_share(&self, q: f64) -> f64 {
        let total: f64 = self.accumulated.iter().sum();
        if total <= 0.0 {
            return 0.0;
        }
        let k = top_k_count(self.accumulated.len(), q);
        let mut values = self.accumulated.clone();
        let top: f64 = if k < values.len() {
            values.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
            values[..k].iter().sum()
        } else {
            total
        };
        (top / total).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_profile_only_sets_previous() {
        let mut updates = PositiveUpdates::new();
        assert_eq!(updates.top_share(0.5), 0.0);
        updates.update(&[3.0, -1.0]);
        assert_eq!(updates.accumulated(), &[0.0, 0.0]);
        assert_eq!(updates.previous(), &[3.0, -1.0]);
        assert_eq!(updates.runs(), 1);
        assert_eq!(updates.top_share(0.5), 0.0);
    }

    #[test]
    fn from_parts_validates() {
        assert!(matches!(
            PositiveUpdates::from_parts(vec![0.0], vec![], 1),
            Err(StatsError::UpdatesLengthMismatch { .. })
        ));
        assert!(matches!(
            PositiveUpdates::from_parts(vec![0.0], vec![1.0], 0),
            Err(StatsError::UpdatesRunsMismatch { .. })
        ));
        assert!(matches!(
            PositiveUpdates::from_parts(vec![-1.0], vec![1.0], 2),
            Err(StatsError::UpdatesInvalidValue { unit: 0, .. })
        ));
        assert!(PositiveUpdates::from_parts(vec![], vec![], 0).is_ok());
    }

    #[test]
    #[should_panic(expected = "units")]
    fn update_rejects_a_different_length() {
        let mut updates = PositiveUpdates::new();
        updates.update(&[1.0]);
        updates.update(&[1.0, 2.0]);
    }
}
