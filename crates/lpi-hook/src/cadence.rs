//! When the next probe run is due: the nominal every-N-steps cadence, stretched when an
//! overhead budget says the probe runs cost too much wall time.

use std::time::Duration;

/// The share of the overhead budget the cadence plans for. The rest covers what the training
/// thread cannot time: the first run (before any measurement), the worker's competition for
/// the cores and the caches a probe run leaves cold.
const BUDGET_HEADROOM: f64 = 0.8;

/// The probe schedule.
#[derive(Debug, Clone)]
pub(crate) struct Cadence {
    nominal: u64,
    budget: Option<f64>,
    current: u64,
    next_due: u64,
    /// The step of the previous run (or where counting started).
    last_run: u64,
}

impl Cadence {
    /// First run at step `every`, or `every` steps after `resume_after` (the last probed step
    /// of a continued series).
    pub(crate) fn new(every: u64, budget: Option<f64>, resume_after: Option<u64>) -> Self {
        let last_run = resume_after.unwrap_or(0);
        Self {
            nominal: every,
            budget,
            current: every,
            next_due: last_run.saturating_add(every),
            last_run,
        }
    }

    /// Counts from `step` again (training resumed at another step): the next run is one
    /// cadence later.
    pub(crate) fn reschedule(&mut self, step: u64) {
        self.last_run = step;
        self.next_due = step.saturating_add(self.current);
    }

    /// Whether a probe run is due at `step`.
    pub(crate) fn is_due(&self, step: u64) -> bool {
        step >= self.next_due
    }

    /// The cadence in effect, in steps.
    pub(crate) fn current(&self) -> u64 {
        self.current
    }

    /// Records a probe run at `step` that took `probe` of wall time, after `training` of wall
    /// time since the previous run, and schedules the next one. The steps trained in between
    /// are counted from the step numbers, so a caller that reports every k-th step (gradient
    /// accumulation) gets the same cadence.
    ///
    /// With a budget `b`, a probe run every `N` steps of length `s` costs `probe / (probe +
    /// N s)` of wall time, so `N >= probe (1 - b) / (b s)`; the cadence is the larger of that
    /// (for `b` = [`BUDGET_HEADROOM`] times the budget) and the nominal one. Returns the new
    /// cadence when it changed.
    pub(crate) fn record(&mut self, step: u64, probe: Duration, training: Duration) -> Option<u64> {
        let previous = self.current;
        let steps = step.saturating_sub(self.last_run);
        if let Some(budget) = self.budget
            && steps > 0
            && !training.is_zero()
        {
            let budget = budget * BUDGET_HEADROOM;
            let step_seconds = training.as_secs_f64() / steps as f64;
            let needed = probe.as_secs_f64() * (1.0 - budget) / (budget * step_seconds);
            // `as` saturates: an absurd need becomes u64::MAX, never a wrap.
            self.current = self.nominal.max(needed.ceil() as u64);
        }
        self.last_run = step;
        self.next_due = step.saturating_add(self.current);
        (self.current != previous).then_some(self.current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nominal_cadence_without_budget() {
        let mut c = Cadence::new(10, None, None);
        assert!(!c.is_due(9));
        assert!(c.is_due(10));
        assert_eq!(
            c.record(10, Duration::from_secs(5), Duration::from_secs(1)),
            None
        );
        assert!(!c.is_due(19));
        assert!(c.is_due(20));
    }

    #[test]
    fn budget_stretches_the_cadence_to_keep_the_fraction() {
        let mut c = Cadence::new(10, Some(0.05), None);
        // 10 steps took 1 s (0.1 s/step); planning for 0.8 * 5% = 4%, a 1 s probe run needs
        // N >= 1 * 0.96 / (0.04 * 0.1) = 240.
        assert_eq!(
            c.record(10, Duration::from_secs(1), Duration::from_secs(1)),
            Some(240)
        );
        assert!(!c.is_due(249));
        assert!(c.is_due(250));
        let fraction: f64 = 1.0 / (1.0 + 240.0 * 0.1);
        assert!((fraction - 0.04).abs() < 1e-12);
        // A cheap probe run brings the nominal cadence back.
        assert_eq!(
            c.record(250, Duration::from_millis(1), Duration::from_secs(24)),
            Some(10)
        );
    }

    #[test]
    fn steps_are_counted_from_step_numbers_not_calls() {
        // Called every 4th step (gradient accumulation): 40 steps in 1 s is 25 ms per step.
        let mut c = Cadence::new(40, Some(0.05), None);
        let every = c
            .record(40, Duration::from_millis(100), Duration::from_secs(1))
            .expect("stretched");
        // 0.1 * 0.96 / (0.04 * 0.025) = 96.
        assert_eq!(every, 96);
    }

    #[test]
    fn huge_cadences_saturate_instead_of_wrapping() {
        let mut c = Cadence::new(u64::MAX - 1, None, Some(10));
        assert!(!c.is_due(u64::MAX - 2));
        c.record(u64::MAX - 1, Duration::ZERO, Duration::ZERO);
        assert!(!c.is_due(u64::MAX - 1));
        c.reschedule(5);
        assert!(!c.is_due(1_000_000));
    }

    #[test]
    fn reschedule_counts_from_the_new_step() {
        let mut c = Cadence::new(100, None, Some(5000));
        c.reschedule(1200);
        assert!(!c.is_due(1299));
        assert!(c.is_due(1300));
    }

    #[test]
    fn resumes_after_the_last_probed_step() {
        let c = Cadence::new(50, None, Some(400));
        assert!(!c.is_due(449));
        assert!(c.is_due(450));
    }
}
