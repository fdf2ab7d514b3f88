//! Live telemetry of the LPI hook: every probe run's statistics as OpenTelemetry instruments,
//! exposed to Prometheus at `/metrics` and optionally pushed over OTLP.
//!
//! One OpenTelemetry [`SdkMeterProvider`] with an opentelemetry-prometheus reader fills a
//! prometheus [`Registry`]; a small axum server on a tokio runtime owned by [`Telemetry`] (one
//! current-thread runtime on its own thread, `lpi-telemetry`) serves it at
//! `http://<listen>/metrics`. The address (default `127.0.0.1:9464`) is bound synchronously in
//! [`Telemetry::new`], so a port already in use is a [`TelemetryError::AddrInUse`] before
//! training starts.
//!
//! [`TelemetryObserver`] is the hook's [`lpi_hook::ProbeRunObserver`]: on the hook's worker
//! thread it turns each [`lpi_hook::ProbeRunReport`] into series and swaps them in (one short
//! lock, no I/O); the instruments are observable and read the latest run at scrape time, so a
//! series that disappears from the report (an expert leaving a layer's top experts) disappears
//! from `/metrics` too. The hook's own counters come from its [`HookHealth`] once
//! [`Telemetry::attach_health`] is called.
//!
//! The same provider can also push every instrument over OTLP (http/protobuf or gRPC) to a
//! collector:
//! set [`TelemetryConfig::otlp`] ([`OtlpConfig`]) or the standard `OTEL_EXPORTER_OTLP_*`
//! environment variables (explicit config > environment > defaults; see the README). A
//! `PeriodicReader` exports on its own thread with a short timeout (default 2 s), one attempt
//! per interval; a collector that refuses, hangs or is slow costs that thread a timeout and
//! counts one `lpi_export_errors_total`, never training time.
//!
//! Every family is listed in [`catalogue`] (name, help, unit, labels); the exposed names are
//! exactly the catalogue's names, and every family stays under the SDK's 2000 label sets per
//! instrument (see [`MAX_SERIES_PER_FAMILY`]).
//!
//! ```no_run
//! use lpi_telemetry::{Telemetry, TelemetryConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Before building the hook: a taken port fails here, before training starts.
//! let telemetry = Telemetry::new(TelemetryConfig::new("pretrain-7", "dense-12l"))?;
//! println!("Prometheus can scrape http://{}/metrics", telemetry.local_addr());
//! // let mut hook = LpiHook::new(config, &model)?;
//! // telemetry.attach(&mut hook); // stops when the hook finishes
//! // ... training ...
//! // hook.finish();
//! # telemetry.shutdown();
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod catalogue;
mod config;
mod error;
mod frame;
mod otlp;
mod server;

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lpi_hook::{
    HealthSnapshot, HookHealth, LpiHook, ProbeRunFailure, ProbeRunObserver, ProbeRunReport,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, Meter, MeterProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::Registry;

use catalogue::{MetricDef, MetricKind};
pub use config::{DEFAULT_LISTEN, DEFAULT_RUN_LABEL, MAX_SERIES_PER_FAMILY, TelemetryConfig};
pub use error::TelemetryError;
use frame::{Frame, Labelling};
pub use otlp::{
    DEFAULT_OTLP_ENDPOINT, DEFAULT_OTLP_INTERVAL, DEFAULT_OTLP_TIMEOUT, DEFAULT_SERVICE_NAME,
    OtlpConfig, OtlpProtocol,
};

/// The running telemetry: the meter provider, the registry and the `/metrics` server. Stops on
/// [`Telemetry::shutdown`] or when dropped.
pub struct Telemetry {
    shared: Arc<Shared>,
    registry: Registry,
    provider: Option<SdkMeterProvider>,
    server: Option<server::Server>,
    local_addr: SocketAddr,
    otlp_endpoint: Option<String>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("local_addr", &self.local_addr)
            .field("running", &self.server.is_some())
            .field("otlp_endpoint", &self.otlp_endpoint)
            .finish_non_exhaustive()
    }
}

/// State shared by the observer, the instruments' callbacks and the server.
#[derive(Debug)]
pub(crate) struct Shared {
    labelling: Labelling,
    latest: Mutex<Option<Arc<Frame>>>,
    health: Mutex<Option<Arc<HookHealth>>>,
    runs: AtomicU64,
    failures: AtomicU64,
    export_errors: AtomicU64,
    /// The last `/metrics` text and what it was rendered from.
    exposition: Mutex<Option<server::Rendered>>,
}

/// What the exposition is rendered from, but for the hook's time counters (which move on every
/// optimizer step): when it is unchanged, a recent rendering is served again.
#[derive(Debug, Clone)]
pub(crate) struct Fingerprint {
    frame: Option<Arc<Frame>>,
    counters: [u64; 3],
    health: Option<HealthSnapshot>,
}

impl PartialEq for Fingerprint {
    fn eq(&self, other: &Self) -> bool {
        let same_frame = match (&self.frame, &other.frame) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_frame && self.counters == other.counters && self.health == other.health
    }
}

impl Shared {
    /// What the exposition would be rendered from now.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        let health = self
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|h| HealthSnapshot {
                probe_work: Duration::ZERO,
                training_thread: Duration::ZERO,
                worker_busy: Duration::ZERO,
                worker_cpu: Duration::ZERO,
                ..h.snapshot()
            });
        Fingerprint {
            frame: self
                .latest
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            counters: [&self.runs, &self.failures, &self.export_errors]
                .map(|c| c.load(Ordering::Relaxed)),
            health,
        }
    }

    /// Counts one export error and logs it (the first ten, then every power of ten).
    pub(crate) fn export_error(&self, what: &str) {
        let n = self.export_errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 10 || is_power_of_ten(n) {
            tracing::warn!(errors = n, "lpi telemetry: {what}");
        }
    }

    /// The series of `def` now.
    fn observe(&self, def: &MetricDef, out: &mut dyn FnMut(f64, &[KeyValue])) {
        let base = &self.labelling.base;
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        let health = self
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|h| h.snapshot());
        let from_health = health.and_then(|h| {
            Some(match def.name {
                n if n == catalogue::LAST_PROBED_STEP.name => h.last_step as f64,
                n if n == catalogue::PROBE_INTERVAL_STEPS.name => h.every_n_steps as f64,
                n if n == catalogue::DROPPED_RUNS.name => h.dropped as f64,
                n if n == catalogue::WRITE_ERRORS.name => h.write_errors as f64,
                n if n == catalogue::OBSERVER_PANICS.name => h.observer_panics as f64,
                n if n == catalogue::HOOK_TRAINING_THREAD.name => h.training_thread.as_secs_f64(),
                n if n == catalogue::HOOK_WORKER_BUSY.name => h.worker_busy.as_secs_f64(),
                _ => return None,
            })
        });
        let own = match def.name {
            n if n == catalogue::RUNS.name => Some(count(&self.runs)),
            n if n == catalogue::FAILURES.name => Some(count(&self.failures)),
            n if n == catalogue::EXPORT_ERRORS.name => Some(count(&self.export_errors)),
            _ => None,
        };
        if let Some(value) = own.or(from_health) {
            out(value, base);
            return;
        }
        let frame = self
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(series) = frame.as_ref().and_then(|f| f.series.get(def.name)) {
            for (labels, value) in series {
                out(*value, labels);
            }
        }
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

impl Telemetry {
    /// Binds the `/metrics` address, builds the meter provider and its instruments and starts
    /// the server.
    ///
    /// # Errors
    /// [`TelemetryError::AddrInUse`] when the address is taken, [`TelemetryError::Bind`] for
    /// other bind failures, [`TelemetryError::Config`] for an empty run or arch label, a `q`
    /// outside (0, 1] or unusable OTLP settings (a bad `OTEL_*` value, an `https://` gRPC
    /// endpoint),
    /// [`TelemetryError::Otlp`] when the OTLP exporter cannot be built, and runtime or
    /// exporter failures. An unreachable OTLP collector is not an error here: failed pushes
    /// are counted in `lpi_export_errors_total`.
    pub fn new(config: TelemetryConfig) -> Result<Self, TelemetryError> {
        if config.run.is_empty() || config.arch.is_empty() {
            return Err(TelemetryError::Config(
                "`run` and `arch` must not be empty".into(),
            ));
        }
        if !(config.q > 0.0 && config.q <= 1.0) {
            return Err(TelemetryError::Config(format!(
                "`q` must be in (0, 1], got {}",
                config.q
            )));
        }
        let listener = server::bind(config.listen)?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| TelemetryError::Bind {
                addr: config.listen,
                source,
            })?;

        let registry = Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .without_target_info()
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let shared = Arc::new(Shared {
            labelling: Labelling::new(&config),
            latest: Mutex::new(None),
            health: Mutex::new(None),
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            export_errors: AtomicU64::new(0),
            exposition: Mutex::new(None),
        });
        let otlp = otlp::resolve(config.otlp.as_ref(), &|key| std::env::var(key).ok())?;
        let mut builder = SdkMeterProvider::builder()
            .with_resource(otlp::resource(&config))
            .with_reader(exporter);
        if let Some(settings) = &otlp {
            builder = builder.with_reader(otlp::reader(settings, shared.clone())?);
            tracing::info!(
                endpoint = %settings.endpoint,
                interval = ?settings.interval,
                timeout = ?settings.timeout,
                "lpi telemetry pushing OTLP metrics"
            );
        }
        let provider = builder.build();
        register_instruments(&provider.meter("lpi-telemetry"), &shared);

        let server = server::Server::start(listener, registry.clone(), shared.clone())?;
        tracing::info!(%local_addr, "lpi telemetry serving /metrics");
        Ok(Self {
            shared,
            registry,
            provider: Some(provider),
            server: Some(server),
            local_addr,
            otlp_endpoint: otlp.map(|settings| settings.endpoint),
        })
    }

    /// The address the server listens on (the actual port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The OTLP/HTTP URL metrics are pushed to, or `None` when OTLP push is off (no
    /// [`TelemetryConfig::otlp`] and no `OTEL_*` variable asking for it).
    pub fn otlp_endpoint(&self) -> Option<&str> {
        self.otlp_endpoint.as_deref()
    }

    /// An observer to hand to the hook; all observers of one telemetry feed the same series.
    pub fn observer(&self) -> TelemetryObserver {
        TelemetryObserver {
            shared: self.shared.clone(),
        }
    }

    /// Reads the hook's health counters (`lpi_dropped_runs_total`, `lpi_write_errors_total`,
    /// `lpi_last_probed_step`, ...) from `health` at every scrape (`hook.health_handle()`).
    pub fn attach_health(&self, health: Arc<HookHealth>) {
        *self
            .shared
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(health);
    }

    /// Hands this telemetry to `hook` for the rest of its life: every probe run and failure is
    /// recorded, the hook's health counters are read at every scrape, and the telemetry stops
    /// (one last OTLP push included) when the hook finishes or is dropped. Use
    /// [`Telemetry::observer`] and [`Telemetry::attach_health`] instead to keep the telemetry
    /// running after the hook (a final scrape, several hooks feeding one endpoint).
    pub fn attach(self, hook: &mut LpiHook) {
        self.attach_health(hook.health_handle());
        hook.add_observer(Owned {
            observer: self.observer(),
            _telemetry: self,
        });
    }

    /// The exposition text `/metrics` would serve now.
    ///
    /// # Errors
    /// When the prometheus encoder fails (counted in `lpi_export_errors_total`).
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let text = server::render(&self.registry, &self.shared)?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    }

    /// Stops the server (open connections get a second to finish), then the runtime and the
    /// meter provider; with OTLP push on, the provider makes one last export, bounded by the
    /// OTLP timeout (and by the SDK's 5 s wait for its reader thread), so a hung collector
    /// cannot hang shutdown. Dropping the telemetry does the same.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::debug!("lpi telemetry: meter provider shutdown: {e}");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn register_instruments(meter: &Meter, shared: &Arc<Shared>) {
    for def in catalogue::ALL {
        let shared = shared.clone();
        let callback = move |obs: &dyn AsyncInstrument<f64>| {
            shared.observe(def, &mut |value, labels| obs.observe(value, labels));
        };
        // The SDK keeps the callbacks registered for the provider's lifetime; the handles
        // need not be kept.
        match def.kind {
            MetricKind::Gauge => {
                meter
                    .f64_observable_gauge(def.otel_name())
                    .with_description(def.help)
                    .with_unit(def.unit)
                    .with_callback(callback)
                    .build();
            }
            MetricKind::Counter => {
                meter
                    .f64_observable_counter(def.otel_name())
                    .with_description(def.help)
                    .with_unit(def.unit)
                    .with_callback(callback)
                    .build();
            }
        }
    }
}

/// The hook observer that records every probe run into the telemetry's instruments. Cheap to
/// clone; never blocks beyond one short lock and never panics into the hook's worker.
#[derive(Debug, Clone)]
pub struct TelemetryObserver {
    shared: Arc<Shared>,
}

impl ProbeRunObserver for TelemetryObserver {
    fn on_run(&mut self, report: &ProbeRunReport) {
        let labelling = &self.shared.labelling;
        match catch_unwind(AssertUnwindSafe(|| Frame::from_report(report, labelling))) {
            Ok(frame) => {
                let frame = Arc::new(frame);
                let previous = self
                    .shared
                    .latest
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .replace(frame);
                // Drop the previous frame outside the lock.
                drop(previous);
            }
            Err(_) => self.shared.export_error(&format!(
                "could not record probe run {} (step {})",
                report.run, report.step
            )),
        }
        self.shared.runs.fetch_add(1, Ordering::Relaxed);
    }

    fn on_failure(&mut self, failure: &ProbeRunFailure) {
        let _ = failure;
        self.shared.failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// The observer [`Telemetry::attach`] gives the hook: records like [`TelemetryObserver`] and
/// owns the telemetry, which stops when the hook's worker drops its observers.
struct Owned {
    observer: TelemetryObserver,
    /// Kept alive (serving, pushing) as long as the hook's worker keeps its observers.
    _telemetry: Telemetry,
}

impl ProbeRunObserver for Owned {
    fn on_run(&mut self, report: &ProbeRunReport) {
        self.observer.on_run(report);
    }

    fn on_failure(&mut self, failure: &ProbeRunFailure) {
        self.observer.on_failure(failure);
    }
}
