//! What the telemetry serves and how it labels it.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// The default `/metrics` address, `127.0.0.1:9464` (the port Prometheus' registry assigns to
/// OpenTelemetry's Prometheus exporter).
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

/// The `run` label of [`TelemetryConfig::default`]. `burn_lpi::LpiConfig` replaces it with
/// the run directory's name.
pub const DEFAULT_RUN_LABEL: &str = "default";

/// The most series the telemetry puts in one family; the OpenTelemetry SDK folds everything
/// beyond 2000 label sets per instrument into `otel_metric_overflow="true"`, so the dynamic
/// families (layers, experts, heads, relations) are cut to stay under this bound.
pub const MAX_SERIES_PER_FAMILY: usize = 1900;

/// Configuration of [`crate::Telemetry`]. A plain serde struct: every field has a default
/// (`#[serde(default)]`), so `{}` or a partial JSON/TOML table is a valid config.
///
/// ```
/// use lpi_telemetry::TelemetryConfig;
/// let config = TelemetryConfig::new("pretrain-7", "moe-64x64")
///     .with_listen("127.0.0.1:0".parse().unwrap())
///     .with_q(0.01);
/// assert_eq!(config.run, "pretrain-7");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// Address of the `/metrics` endpoint; port 0 picks a free port (read it back with
    /// [`crate::Telemetry::local_addr`]). Default [`DEFAULT_LISTEN`].
    pub listen: SocketAddr,
    /// Value of the `run` label on every series. Default [`DEFAULT_RUN_LABEL`].
    pub run: String,
    /// Value of the `arch` label on every series. Default `"unknown"`.
    pub arch: String,
    /// The hook's `q` (`LpiHookConfig::q`): the `q` label of the top-q shares and the source of
    /// the Jaccard `k` label. Default 0.01, the hook's default.
    pub q: f64,
    /// Experts per layer exported in `lpi_expert_share_ratio` (the largest shares of each
    /// layer); cut further so that layers x experts stays under [`MAX_SERIES_PER_FAMILY`].
    /// Default 8.
    pub top_experts_per_layer: usize,
    /// Heads exported in `lpi_top_head_importance` (at most the report's top heads). Default 20.
    pub top_heads: usize,
    /// Relations exported in the per-relation readouts, in the report's order. Default 500.
    pub max_relations: usize,
    /// OTLP push ([`crate::OtlpConfig`]). `None` (the default): push only when the standard
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` is set or
    /// `OTEL_METRICS_EXPORTER` names `otlp`; `Some`: push, each unset field taken from the
    /// `OTEL_*` environment, then the defaults.
    pub otlp: Option<crate::OtlpConfig>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            run: DEFAULT_RUN_LABEL.into(),
            arch: "unknown".into(),
            q: 0.01,
            top_experts_per_layer: 8,
            top_heads: 20,
            max_relations: 500,
            otlp: None,
        }
    }
}

impl TelemetryConfig {
    /// The defaults with the given `run` and `arch` labels.
    pub fn new(run: impl Into<String>, arch: impl Into<String>) -> Self {
        Self {
            run: run.into(),
            arch: arch.into(),
            ..Self::default()
        }
    }

    /// Sets [`Self::listen`].
    pub fn with_listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// Sets [`Self::q`].
    pub fn with_q(mut self, q: f64) -> Self {
        self.q = q;
        self
    }

    /// Sets [`Self::top_experts_per_layer`].
    pub fn with_top_experts_per_layer(mut self, experts: usize) -> Self {
        self.top_experts_per_layer = experts;
        self
    }

    /// Sets [`Self::top_heads`].
    pub fn with_top_heads(mut self, heads: usize) -> Self {
        self.top_heads = heads;
        self
    }

    /// Sets [`Self::otlp`], turning OTLP push on.
    pub fn with_otlp(mut self, otlp: crate::OtlpConfig) -> Self {
        self.otlp = Some(otlp);
        self
    }

    /// Sets [`Self::max_relations`].
    pub fn with_max_relations(mut self, relations: usize) -> Self {
        self.max_relations = relations;
        self
    }
}
