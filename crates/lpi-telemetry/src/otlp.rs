//! OTLP push: a [`PeriodicReader`] over an opentelemetry-otlp `MetricExporter` on the same
//! meter provider as the Prometheus reader, over http/protobuf (blocking reqwest client) or
//! gRPC (tonic, on a one-thread tokio runtime owned by the exporter).
//!
//! The reader exports on its own thread (`OpenTelemetry.Metrics.PeriodicReader`), never on the
//! training thread or the hook's worker. Every export is one attempt bounded by the timeout
//! (no retries: the next interval is the retry), and a failed export is counted in
//! `lpi_export_errors_total` and logged with `tracing` (rate-limited) by [`CountingExporter`].

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{Key, KeyValue};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    MetricExporter, Protocol, RetryPolicy, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, Temporality};
use opentelemetry_sdk::resource::{EnvResourceDetector, ResourceDetector};
use serde::{Deserialize, Serialize};

use crate::{Shared, TelemetryConfig, TelemetryError};

/// The default `service.name` resource attribute, when neither the config nor
/// `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` name the service.
pub const DEFAULT_SERVICE_NAME: &str = "burn-lpi";
/// The default OTLP/HTTP metrics endpoint (the OpenTelemetry default).
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4318/v1/metrics";
/// The default OTLP/gRPC endpoint (the OpenTelemetry default).
pub const DEFAULT_OTLP_GRPC_ENDPOINT: &str = "http://localhost:4317";
/// The default time one OTLP export may take before it is abandoned and counted as an error.
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(2);
/// The default time between two OTLP exports.
pub const DEFAULT_OTLP_INTERVAL: Duration = Duration::from_secs(15);

/// The OTLP wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum OtlpProtocol {
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`), sent by a blocking reqwest client on
    /// the reader's thread. The default.
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/gRPC (`grpc`), sent by tonic over plaintext HTTP/2 (`http://` endpoints; TLS is
    /// not built in: put a local collector or proxy in front of a TLS endpoint). The client
    /// runs on a one-thread tokio runtime owned by the exporter (`lpi-otlp-grpc`).
    #[serde(rename = "grpc")]
    Grpc,
}

impl OtlpProtocol {
    fn parse(value: &str, source: &str) -> Result<Self, TelemetryError> {
        match value.trim() {
            "http/protobuf" => Ok(Self::HttpProtobuf),
            "grpc" => Ok(Self::Grpc),
            other => Err(TelemetryError::Config(format!(
                "{source}: unsupported OTLP protocol `{other}` (supported: http/protobuf, grpc)"
            ))),
        }
    }
}

/// OTLP push settings ([`TelemetryConfig::otlp`]). Every field is optional; an unset field
/// falls back to the standard `OTEL_*` environment variable, then to the default (see the
/// crate README, "OTLP push", for the table).
///
/// ```
/// use lpi_telemetry::{OtlpConfig, TelemetryConfig};
/// let config = TelemetryConfig::new("pretrain-7", "dense-12l").with_otlp(
///     OtlpConfig::default()
///         .with_endpoint("http://collector:4318")
///         .with_header("authorization", "Bearer xyz")
///         .with_interval_ms(10_000),
/// );
/// assert!(config.otlp.is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OtlpConfig {
    /// Where to push. Over HTTP a URL without a path (`http://collector:4318`) gets
    /// `/v1/metrics` appended and a URL with a path is used as is; over gRPC the URL is used as
    /// is. Unset: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (as is), then
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/metrics` over HTTP), then
    /// [`DEFAULT_OTLP_ENDPOINT`] or [`DEFAULT_OTLP_GRPC_ENDPOINT`].
    pub endpoint: Option<String>,
    /// Extra request headers (authentication). The exporter also adds
    /// `OTEL_EXPORTER_OTLP_METRICS_HEADERS` or else `OTEL_EXPORTER_OTLP_HEADERS`
    /// (`k1=v1,k2=v2`); for a key in both, the exporter lets the environment win.
    pub headers: BTreeMap<String, String>,
    /// Milliseconds between exports. Unset: `OTEL_METRIC_EXPORT_INTERVAL`, then
    /// [`DEFAULT_OTLP_INTERVAL`].
    pub interval_ms: Option<u64>,
    /// Milliseconds one export may take (connect, send, answer). Unset:
    /// `OTEL_EXPORTER_OTLP_METRICS_TIMEOUT`, then `OTEL_EXPORTER_OTLP_TIMEOUT`, then
    /// [`DEFAULT_OTLP_TIMEOUT`] (short on purpose: a hung collector costs one timeout per
    /// interval on the reader's thread, and bounds shutdown).
    pub timeout_ms: Option<u64>,
    /// The wire protocol. Unset: `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, then
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, then http/protobuf.
    pub protocol: Option<OtlpProtocol>,
    /// The `service.name` resource attribute. Unset: `OTEL_SERVICE_NAME`, then `service.name`
    /// in `OTEL_RESOURCE_ATTRIBUTES`, then [`DEFAULT_SERVICE_NAME`].
    pub service_name: Option<String>,
}

impl OtlpConfig {
    /// Sets [`Self::endpoint`].
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Adds one of [`Self::headers`].
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// Sets [`Self::interval_ms`].
    pub fn with_interval_ms(mut self, interval_ms: u64) -> Self {
        self.interval_ms = Some(interval_ms);
        self
    }

    /// Sets [`Self::timeout_ms`].
    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }

    /// Sets [`Self::protocol`].
    pub fn with_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Sets [`Self::service_name`].
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }
}

/// The OTLP settings in effect once config, environment and defaults are combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) protocol: OtlpProtocol,
    pub(crate) endpoint: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

fn non_empty(env: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<String> {
    env(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn millis(
    env: &dyn Fn(&str) -> Option<String>,
    keys: &[&str],
) -> Result<Option<Duration>, TelemetryError> {
    for key in keys {
        if let Some(value) = non_empty(env, key) {
            return value
                .parse::<u64>()
                .map(|ms| Some(Duration::from_millis(ms)))
                .map_err(|_| {
                    TelemetryError::Config(format!(
                        "{key}={value}: expected a whole number of milliseconds"
                    ))
                });
        }
    }
    Ok(None)
}

/// Appends `/v1/metrics` to a URL without a path.
fn metrics_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim();
    let after_scheme = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) if after_scheme[i..] != *"/" => endpoint.to_string(),
        _ => format!("{}/v1/metrics", endpoint.trim_end_matches('/')),
    }
}

/// Whether OTLP push is on and with what settings: explicit config > `env` > defaults. With no
/// [`OtlpConfig`], push is on when `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set or `OTEL_METRICS_EXPORTER` names `otlp`, unless
/// `OTEL_SDK_DISABLED=true` or `OTEL_METRICS_EXPORTER=none`.
pub(crate) fn resolve(
    config: Option<&OtlpConfig>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Resolved>, TelemetryError> {
    let default = OtlpConfig::default();
    let config = match config {
        Some(config) => config,
        None => {
            let disabled = non_empty(env, "OTEL_SDK_DISABLED")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                || non_empty(env, "OTEL_METRICS_EXPORTER")
                    .is_some_and(|v| v.eq_ignore_ascii_case("none"));
            let wanted = non_empty(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").is_some()
                || non_empty(env, "OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || non_empty(env, "OTEL_METRICS_EXPORTER")
                    .is_some_and(|v| v.split(',').any(|e| e.trim() == "otlp"));
            if disabled || !wanted {
                return Ok(None);
            }
            &default
        }
    };
    let protocol = match config.protocol {
        Some(p) => p,
        None => match non_empty(env, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") {
            Some(v) => OtlpProtocol::parse(&v, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")?,
            None => match non_empty(env, "OTEL_EXPORTER_OTLP_PROTOCOL") {
                Some(v) => OtlpProtocol::parse(&v, "OTEL_EXPORTER_OTLP_PROTOCOL")?,
                None => OtlpProtocol::HttpProtobuf,
            },
        },
    };
    let grpc = protocol == OtlpProtocol::Grpc;
    let base_url = |endpoint: &str| match grpc {
        true => endpoint.trim().to_string(),
        false => metrics_url(endpoint),
    };
    let endpoint = match config.endpoint.as_deref().filter(|e| !e.trim().is_empty()) {
        Some(endpoint) => base_url(endpoint),
        None => non_empty(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
            .or_else(|| non_empty(env, "OTEL_EXPORTER_OTLP_ENDPOINT").map(|e| base_url(&e)))
            .unwrap_or_else(|| match grpc {
                true => DEFAULT_OTLP_GRPC_ENDPOINT.to_string(),
                false => DEFAULT_OTLP_ENDPOINT.to_string(),
            }),
    };
    if grpc && !endpoint.starts_with("http://") {
        return Err(TelemetryError::Config(format!(
            "OTLP/gRPC endpoint `{endpoint}` must be a plaintext http:// URL (TLS is not built \
             in; send to a local collector, or use http/protobuf)"
        )));
    }
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(TelemetryError::Config(format!(
            "OTLP endpoint `{endpoint}` must be an http:// or https:// URL"
        )));
    }
    if grpc
        && let Some((key, _)) = config
            .headers
            .iter()
            .find(|(k, v)| metadata_entry(k, v).is_none())
    {
        return Err(TelemetryError::Config(format!(
            "OTLP header `{key}` cannot be sent as gRPC metadata (keys: ASCII letters, digits, \
             `-`, `_`, `.`; values: visible ASCII)"
        )));
    }
    let timeout = match config.timeout_ms {
        Some(ms) => Duration::from_millis(ms),
        None => millis(
            env,
            &[
                "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ],
        )?
        .unwrap_or(DEFAULT_OTLP_TIMEOUT),
    };
    let interval = match config.interval_ms {
        Some(ms) => Duration::from_millis(ms),
        None => millis(env, &["OTEL_METRIC_EXPORT_INTERVAL"])?.unwrap_or(DEFAULT_OTLP_INTERVAL),
    };
    if timeout.is_zero() || interval.is_zero() {
        return Err(TelemetryError::Config(
            "OTLP interval and timeout must be positive".into(),
        ));
    }
    Ok(Some(Resolved {
        protocol,
        endpoint,
        headers: config.headers.clone(),
        interval,
        timeout,
    }))
}

/// The provider's resource: `service.name` (config > `OTEL_SERVICE_NAME` > `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES` > [`DEFAULT_SERVICE_NAME`]), the other `OTEL_RESOURCE_ATTRIBUTES`,
/// the SDK's `telemetry.sdk.*`, and `lpi.run` / `lpi.arch` from the config (these two win over
/// the environment).
pub(crate) fn resource(config: &TelemetryConfig) -> Resource {
    let service_name = config
        .otlp
        .as_ref()
        .and_then(|o| o.service_name.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::env::var("OTEL_SERVICE_NAME")
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
        .or_else(|| {
            EnvResourceDetector::new()
                .detect()
                .get(&Key::from_static_str("service.name"))
                .map(|v| v.to_string())
        })
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
    Resource::builder()
        .with_service_name(service_name)
        .with_attributes([
            KeyValue::new("lpi.run", config.run.clone()),
            KeyValue::new("lpi.arch", config.arch.clone()),
        ])
        .build()
}

/// One header as an HTTP/2 header (gRPC metadata), or `None` when the key or value cannot be.
fn metadata_entry(key: &str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_bytes(key.as_bytes()).ok()?,
        HeaderValue::from_str(value).ok()?,
    ))
}

/// Builds the periodic OTLP reader for `settings`; its export failures count into `shared`.
pub(crate) fn reader(
    settings: &Resolved,
    shared: Arc<Shared>,
) -> Result<PeriodicReader<CountingExporter>, TelemetryError> {
    let failed = |e: opentelemetry_otlp::ExporterBuildError| TelemetryError::Otlp(e.to_string());
    let (inner, runtime) = match settings.protocol {
        OtlpProtocol::HttpProtobuf => {
            let exporter = MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .with_headers(settings.headers.clone().into_iter().collect())
                .with_retry_policy(RetryPolicy::disabled())
                .build()
                .map_err(failed)?;
            (exporter, None)
        }
        OtlpProtocol::Grpc => {
            let runtime = GrpcRuntime::start()?;
            // Every header was checked in `resolve`.
            let headers: HeaderMap = settings
                .headers
                .iter()
                .filter_map(|(key, value)| metadata_entry(key, value))
                .collect();
            // tonic's lazy channel spawns its connection task on the runtime it is built in.
            let _entered = runtime.handle().enter();
            let exporter = MetricExporter::builder()
                .with_tonic()
                .with_endpoint(settings.endpoint.clone())
                .with_timeout(settings.timeout)
                .with_metadata(MetadataMap::from_headers(headers))
                .with_retry_policy(RetryPolicy::disabled())
                .build()
                .map_err(failed)?;
            (exporter, Some(runtime))
        }
    };
    let exporter = CountingExporter {
        inner,
        runtime,
        shared,
        endpoint: settings.endpoint.clone(),
    };
    Ok(PeriodicReader::builder(exporter)
        .with_interval(settings.interval)
        .build())
}

/// The tokio runtime of the gRPC client: one worker thread that drives tonic's connection.
/// Shut down in the background when the exporter is dropped (a runtime must not be dropped
/// where blocking is not allowed).
#[derive(Debug)]
struct GrpcRuntime(Option<tokio::runtime::Runtime>);

impl GrpcRuntime {
    fn start() -> Result<Self, TelemetryError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lpi-otlp-grpc")
            .enable_io()
            .enable_time()
            .build()
            .map(|runtime| Self(Some(runtime)))
            .map_err(TelemetryError::Runtime)
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("the runtime lives until drop")
            .handle()
    }
}

impl Drop for GrpcRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Polls a future inside a tokio runtime's context (tonic's timers and I/O need one), from the
/// reader's own thread.
struct InRuntime<'a, F> {
    handle: &'a tokio::runtime::Handle,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for InRuntime<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = self.handle.enter();
        self.future.as_mut().poll(cx)
    }
}

/// Delegates to the OTLP exporter and counts every failed export (refused, timed out, a
/// non-2xx answer or gRPC error status) in `lpi_export_errors_total`, logging it with
/// `tracing` (rate-limited).
#[derive(Debug)]
pub(crate) struct CountingExporter {
    inner: MetricExporter,
    runtime: Option<GrpcRuntime>,
    shared: Arc<Shared>,
    endpoint: String,
}

impl PushMetricExporter for CountingExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let export = self.inner.export(metrics);
        let result = match &self.runtime {
            Some(runtime) => {
                InRuntime {
                    handle: runtime.handle(),
                    future: Box::pin(export),
                }
                .await
            }
            None => export.await,
        };
        if let Err(e) = &result {
            self.shared
                .export_error(&format!("OTLP push to {} failed: {e}", self.endpoint));
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn off_without_config_or_env() {
        assert_eq!(resolve(None, &env_of(&[])).unwrap(), None);
        let disabled = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ]);
        assert_eq!(resolve(None, &disabled).unwrap(), None);
        let none = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]);
        assert_eq!(resolve(None, &none).unwrap(), None);
    }

    #[test]
    fn env_endpoint_turns_push_on_with_defaults() {
        let env = env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")]);
        let r = resolve(None, &env).unwrap().unwrap();
        assert_eq!(r.endpoint, "http://c:4318/v1/metrics");
        assert_eq!(r.timeout, DEFAULT_OTLP_TIMEOUT);
        assert_eq!(r.interval, DEFAULT_OTLP_INTERVAL);
        let signal = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9/custom"),
        ]);
        assert_eq!(
            resolve(None, &signal).unwrap().unwrap().endpoint,
            "http://m:9/custom"
        );
        let exporter = env_of(&[("OTEL_METRICS_EXPORTER", "prometheus,otlp")]);
        assert_eq!(
            resolve(None, &exporter).unwrap().unwrap().endpoint,
            DEFAULT_OTLP_ENDPOINT
        );
    }

    #[test]
    fn config_beats_env_beats_defaults() {
        let env = env_of(&[
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://env:4318/v1/metrics",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "700"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "900"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "5000"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]);
        let from_env = resolve(Some(&OtlpConfig::default()), &env)
            .unwrap()
            .unwrap();
        assert_eq!(from_env.endpoint, "http://env:4318/v1/metrics");
        assert_eq!(from_env.timeout, Duration::from_millis(900));
        assert_eq!(from_env.interval, Duration::from_millis(5000));
        let explicit = OtlpConfig::default()
            .with_endpoint("https://cfg:4318")
            .with_timeout_ms(100)
            .with_interval_ms(250);
        let r = resolve(Some(&explicit), &env).unwrap().unwrap();
        assert_eq!(r.endpoint, "https://cfg:4318/v1/metrics");
        assert_eq!(r.timeout, Duration::from_millis(100));
        assert_eq!(r.interval, Duration::from_millis(250));
    }

    #[test]
    fn grpc_uses_its_own_default_port_and_urls_as_given() {
        let grpc = OtlpConfig::default().with_protocol(OtlpProtocol::Grpc);
        let r = resolve(Some(&grpc), &env_of(&[])).unwrap().unwrap();
        assert_eq!(r.protocol, OtlpProtocol::Grpc);
        assert_eq!(r.endpoint, DEFAULT_OTLP_GRPC_ENDPOINT);
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        let r = resolve(None, &env).unwrap().unwrap();
        assert_eq!(
            (r.protocol, r.endpoint.as_str()),
            (OtlpProtocol::Grpc, "http://c:4317")
        );
        let tls = grpc.clone().with_endpoint("https://c:4317");
        assert!(matches!(
            resolve(Some(&tls), &env_of(&[])),
            Err(TelemetryError::Config(m)) if m.contains("plaintext")
        ));
        let header = grpc.with_header("bad header", "x");
        assert!(matches!(
            resolve(Some(&header), &env_of(&[])),
            Err(TelemetryError::Config(m)) if m.contains("`bad header`")
        ));
    }

    #[test]
    fn json_and_bad_values_are_config_errors() {
        let json = env_of(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert!(resolve(Some(&OtlpConfig::default()), &json).is_err());
        let bad = env_of(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2s")]);
        assert!(resolve(Some(&OtlpConfig::default()), &bad).is_err());
        let scheme = OtlpConfig::default().with_endpoint("collector:4318");
        assert!(resolve(Some(&scheme), &env_of(&[])).is_err());
    }

    #[test]
    fn metrics_url_appends_only_without_a_path() {
        assert_eq!(metrics_url("http://a:1"), "http://a:1/v1/metrics");
        assert_eq!(metrics_url("http://a:1/"), "http://a:1/v1/metrics");
        assert_eq!(
            metrics_url("http://a:1/otlp/v1/metrics"),
            "http://a:1/otlp/v1/metrics"
        );
    }
}
