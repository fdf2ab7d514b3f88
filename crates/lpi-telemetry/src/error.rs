//! Why the telemetry could not start.

use std::net::SocketAddr;

/// An error building [`crate::Telemetry`]; all of them happen at construction, before training.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The `/metrics` address is taken.
    #[error(
        "cannot serve /metrics on {addr}: the address is already in use (another process, or \
         another telemetry in this one, listens there); stop it, or set `listen` in the \
         telemetry config to a free port (port 0 picks one)"
    )]
    AddrInUse {
        /// The address asked for.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure to bind the `/metrics` address (no such interface, no permission).
    #[error(
        "cannot serve /metrics on {addr}: {source}; set `listen` in the telemetry config to an address this machine can bind"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// The config is unusable.
    #[error("invalid telemetry config: {0}")]
    Config(String),
    /// The tokio runtime or its thread could not be started.
    #[error("cannot start the telemetry runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The Prometheus exporter could not be built.
    #[error("cannot build the Prometheus exporter: {0}")]
    Exporter(String),
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter: {0}")]
    Otlp(String),
}
