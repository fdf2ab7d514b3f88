//! The background worker: statistics, state, history, snapshots and observers, off the
//! training thread. Fed by a bounded channel that the training thread never waits on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::analysis::{AnalysisSettings, Series};
use crate::health::{HookHealth, should_log};
use crate::probe_run::ProbeRunRecord;
use crate::report::{ProbeRunFailure, ProbeRunReport};
use crate::run_dir::{RunDir, Snapshot};

/// Receives every probe run's report on the hook's worker thread (telemetry exporters, custom
/// logging). It must not block for long: the queue in front of the worker is bounded and full
/// queues drop runs. A panicking observer is removed and counted; the hook goes on.
pub trait ProbeRunObserver: Send + 'static {
    /// Called once per analysed probe run, in order.
    fn on_run(&mut self, report: &ProbeRunReport);

    /// Called when a probe run failed (diverged model, attribution error).
    fn on_failure(&mut self, failure: &ProbeRunFailure) {
        let _ = failure;
    }
}

/// What the training thread sends.
pub(crate) enum Message {
    Run(Box<ProbeRunRecord>),
    Failure(ProbeRunFailure),
    Observer(Box<dyn ProbeRunObserver>),
    /// Answered once everything sent before it is done.
    Flush(Sender<()>),
}

pub(crate) struct Worker {
    pub settings: AnalysisSettings,
    pub run_dir: RunDir,
    pub series: Option<Series>,
    pub health: Arc<HookHealth>,
    pub snapshot_every: u64,
    pub reduction: &'static str,
    pub observers: Vec<Box<dyn ProbeRunObserver>>,
}

impl Worker {
    pub(crate) fn run(mut self, inbox: Receiver<Message>) {
        for message in inbox {
            let started = Instant::now();
            match message {
                Message::Run(record) => self.analyse(*record),
                Message::Failure(failure) => {
                    self.notify(|o| o.on_failure(&failure));
                }
                Message::Observer(observer) => self.observers.push(observer),
                Message::Flush(done) => {
                    let _ = done.send(());
                }
            }
            self.health.add_worker_busy(started.elapsed());
            self.health.record_worker_cpu();
        }
    }

    fn analyse(&mut self, record: ProbeRunRecord) {
        let layout = record.layout;
        let series = match &mut self.series {
            Some(series) if series.layout == layout => series,
            slot => {
                if let Some(old) = slot {
                    tracing::warn!(
                        old = ?old.layout,
                        new = ?layout,
                        "the model's units changed; starting a new series"
                    );
                }
                slot.insert(Series::new(layout, &self.settings))
            }
        };
        let step = record.step;
        let report = series.analyse(record, &self.settings);
        let snapshot_due = self.snapshot_every > 0 && report.run % self.snapshot_every == 0;
        let snapshot = snapshot_due.then(|| {
            let kept = series
                .previous
                .as_ref()
                .expect("analyse keeps the run's profile");
            Snapshot {
                step,
                run: report.run,
                layout,
                neurons: kept.neurons.clone(),
                heads: kept.heads.clone(),
            }
        });
        let mut writes = vec![
            self.run_dir.save_series(series),
            self.run_dir.append_history(&report),
        ];
        if let Some(snapshot) = snapshot {
            writes.push(
                self.run_dir
                    .write_snapshot(&snapshot, report.probes, self.reduction)
                    .map(|_| ()),
            );
        }
        for error in writes.into_iter().filter_map(Result::err) {
            let n = self.health.count_write_error();
            if should_log(n) {
                tracing::error!(
                    dir = %self.run_dir.path().display(),
                    %error,
                    count = n,
                    "cannot write the hook's run directory; training goes on"
                );
            }
        }
        self.health.count_run(step);
        self.notify(|o| o.on_run(&report));
    }

    fn notify(&mut self, mut call: impl FnMut(&mut dyn ProbeRunObserver)) {
        let health = &self.health;
        self.observers.retain_mut(|observer| {
            let ok = catch_unwind(AssertUnwindSafe(|| call(observer.as_mut()))).is_ok();
            if !ok {
                health.count_observer_panic();
                tracing::error!("a probe-run observer panicked and was removed");
            }
            ok
        });
    }
}
