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
use crate::run_dir::RunDir;

/// Receives every probe run's report on the hook's worker thread (telemetry exporters, custom
/// logging). It must not block for long: the queue in front of the worker is bounded and full
/// queues drop runs, and [`crate::LpiHook::finish`] (or dropping the hook) waits for the worker.
/// A panicking observer is removed and counted; the hook goes on. An observer must not hold a
/// [`crate::SharedHook`] of its own hook: calling into the hook from the worker deadlocks, and the
/// reference cycle keeps the worker alive.
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
                Message::Run(record) => {
                    let step = record.step;
                    if catch_unwind(AssertUnwindSafe(|| self.analyse(*record))).is_err() {
                        let n = self.health.count_failure();
                        if should_log(n) {
                            tracing::error!(step, count = n, "probe run analysis panicked");
                        }
                    }
                }
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
            Some(series) => {
                // The build checked a continued series against the model; a model whose units
                // change during training cannot continue a series.
                let n = self.health.count_failure();
                if should_log(n) {
                    tracing::error!(
                        series = ?series.layout,
                        model = ?layout,
                        count = n,
                        "the model's units changed during training; probe run not recorded"
                    );
                }
                return;
            }
            slot => slot.insert(Series::new(layout, &self.settings)),
        };
        let step = record.step;
        let report = series.analyse(record, &self.settings);
        // History first: a crash before the state is saved leaves a history line beyond the
        // state's run count, which a restart drops; the other order would lose the line.
        let mut writes = vec![
            self.run_dir.append_history(&report),
            self.run_dir.save_series(series),
        ];
        if self.snapshot_every > 0 && report.run % self.snapshot_every == 0 {
            let kept = series
                .previous
                .as_ref()
                .expect("analyse keeps the run's profile");
            writes.push(
                self.run_dir
                    .write_snapshot(report.run, kept, layout, report.probes, self.reduction)
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
