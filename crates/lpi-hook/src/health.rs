//! Counters of the hook's own health, shared by the training thread and the worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Live counters; read them with [`HookHealth::snapshot`].
#[derive(Debug, Default)]
pub struct HookHealth {
    runs: AtomicU64,
    failures: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
    last_step: AtomicU64,
    every_n_steps: AtomicU64,
    observer_panics: AtomicU64,
    probe_work_ns: AtomicU64,
    training_thread_ns: AtomicU64,
    worker_busy_ns: AtomicU64,
    worker_cpu_ns: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthSnapshot {
    /// Probe runs analysed by the worker.
    pub runs: u64,
    /// Probe runs that failed (non-finite values, attribution errors).
    pub failures: u64,
    /// Probe runs dropped because the worker's queue was full.
    pub dropped: u64,
    /// Failed writes to the run directory (state, history, snapshots).
    pub write_errors: u64,
    /// The last step probed successfully (0 before the first run).
    pub last_step: u64,
    /// The cadence in effect, in steps.
    pub every_n_steps: u64,
    /// Observers that panicked (they are removed; the hook goes on).
    pub observer_panics: u64,
    /// Training-thread time of the probe runs: the device work and the copy to the host.
    pub probe_work: Duration,
    /// All training-thread time spent in the hook: the probe work plus step counting, cadence
    /// and hand-over to the worker.
    pub training_thread: Duration,
    /// Time the worker spent on statistics, writes and observers (off the training thread),
    /// including waits for the disk.
    pub worker_busy: Duration,
    /// CPU time of the worker thread: what it can take from training on the same cores (zero
    /// where the platform does not report thread CPU time).
    pub worker_cpu: Duration,
}

impl HookHealth {
    /// The counters now.
    pub fn snapshot(&self) -> HealthSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HealthSnapshot {
            runs: get(&self.runs),
            failures: get(&self.failures),
            dropped: get(&self.dropped),
            write_errors: get(&self.write_errors),
            last_step: get(&self.last_step),
            every_n_steps: get(&self.every_n_steps),
            observer_panics: get(&self.observer_panics),
            probe_work: Duration::from_nanos(get(&self.probe_work_ns)),
            training_thread: Duration::from_nanos(get(&self.training_thread_ns)),
            worker_busy: Duration::from_nanos(get(&self.worker_busy_ns)),
            worker_cpu: Duration::from_nanos(get(&self.worker_cpu_ns)),
        }
    }

    pub(crate) fn count_run(&self, step: u64) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.last_step.fetch_max(step, Ordering::Relaxed);
    }

    pub(crate) fn count_failure(&self) -> u64 {
        self.failures.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn count_drop(&self) -> u64 {
        self.dropped.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn count_write_error(&self) -> u64 {
        self.write_errors.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn count_observer_panic(&self) {
        self.observer_panics.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_probe_work(&self, spent: Duration) {
        add_nanos(&self.probe_work_ns, spent);
    }

    pub(crate) fn add_training_thread(&self, spent: Duration) {
        add_nanos(&self.training_thread_ns, spent);
    }

    pub(crate) fn add_worker_busy(&self, spent: Duration) {
        add_nanos(&self.worker_busy_ns, spent);
    }

    /// Records the calling (worker) thread's CPU time so far.
    pub(crate) fn record_worker_cpu(&self) {
        if let Some(cpu) = thread_cpu_time() {
            self.worker_cpu_ns.store(
                u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
    }

    pub(crate) fn set_cadence(&self, every: u64) {
        self.every_n_steps.store(every, Ordering::Relaxed);
    }

    pub(crate) fn restore(&self, runs: u64, last_step: u64) {
        self.runs.store(runs, Ordering::Relaxed);
        self.last_step.store(last_step, Ordering::Relaxed);
    }
}

/// CPU time consumed by the calling thread, where the platform tells.
#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// CPU time consumed by the calling thread, where the platform tells.
#[cfg(not(unix))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

fn add_nanos(counter: &AtomicU64, spent: Duration) {
    let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
    counter.fetch_add(nanos, Ordering::Relaxed);
}

/// Whether the `n`-th occurrence of a repeated error should be logged: the first ten, then
/// every power of ten, so a persistent fault cannot flood the log.
pub(crate) fn should_log(n: u64) -> bool {
    n <= 10 || is_power_of_ten(n)
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logging_thins_out_repeated_errors() {
        let logged: Vec<u64> = (1..=2000).filter(|&n| should_log(n)).collect();
        assert_eq!(logged[..10], (1..=10).collect::<Vec<_>>()[..]);
        assert_eq!(logged[10..], [100, 1000]);
    }
}
