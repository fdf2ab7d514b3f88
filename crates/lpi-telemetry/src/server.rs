//! The `/metrics` HTTP server: axum on a current-thread tokio runtime on its own thread.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};

use crate::{Fingerprint, Shared, TelemetryError};

/// How long open connections may take to finish once the server is told to stop.
const GRACE: Duration = Duration::from_secs(1);

/// How long a rendered exposition is served again while only the hook's time counters moved.
/// A probe run, a failure, an export error or any other counter renders afresh at once.
pub(crate) const MAX_RENDER_AGE: Duration = Duration::from_secs(5);

/// One rendering of the exposition.
#[derive(Debug)]
pub(crate) struct Rendered {
    from: Fingerprint,
    at: Instant,
    text: Bytes,
}

/// Binds `addr` now, so that a taken port is an error at construction.
pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener, TelemetryError> {
    let listener = TcpListener::bind(addr).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            TelemetryError::AddrInUse { addr, source }
        } else {
            TelemetryError::Bind { addr, source }
        }
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| TelemetryError::Bind { addr, source })?;
    Ok(listener)
}

/// The exposition text of `registry`: the last rendering while it is current (nothing but the
/// hook's time counters changed, for at most [`MAX_RENDER_AGE`]), else a new one. Gathering
/// runs every instrument's callback through the SDK and costs milliseconds for a large model;
/// a dashboard polling `/metrics` directly then costs one rendering per change, not per request.
pub(crate) fn render(registry: &Registry, shared: &Shared) -> Result<Bytes, prometheus::Error> {
    let from = shared.fingerprint();
    let mut cached = shared
        .exposition
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(rendered) = cached.as_ref()
        && rendered.from == from
        && rendered.at.elapsed() < MAX_RENDER_AGE
    {
        return Ok(rendered.text.clone());
    }
    let families = registry.gather();
    let mut text = String::new();
    TextEncoder::new()
        .encode_utf8(&families, &mut text)
        .inspect_err(|e| {
            shared.export_error(&format!("cannot encode /metrics: {e}"));
        })?;
    let text = Bytes::from(text);
    *cached = Some(Rendered {
        from,
        at: Instant::now(),
        text: text.clone(),
    });
    Ok(text)
}

#[derive(Clone)]
struct AppState {
    registry: Registry,
    shared: Arc<Shared>,
}

async fn metrics(State(state): State<AppState>) -> Response {
    match render(&state.registry, &state.shared) {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                TextEncoder::new().format_type().to_string(),
            )],
            text,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}\n"),
        )
            .into_response(),
    }
}

/// The running server.
pub(crate) struct Server {
    stop: tokio::sync::watch::Sender<bool>,
    thread: JoinHandle<()>,
}

impl Server {
    pub(crate) fn start(
        listener: TcpListener,
        registry: Registry,
        shared: Arc<Shared>,
    ) -> Result<Self, TelemetryError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(TelemetryError::Runtime)?;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let app = Router::new()
            .route("/metrics", get(metrics))
            .with_state(AppState {
                registry,
                shared: shared.clone(),
            });
        let thread = std::thread::Builder::new()
            .name("lpi-telemetry".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            shared.export_error(&format!("cannot serve /metrics: {e}"));
                            return;
                        }
                    };
                    let mut graceful = stopped.clone();
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                        let _ = graceful.wait_for(|stop| *stop).await;
                    });
                    tokio::select! {
                        served = serve => {
                            if let Err(e) = served {
                                shared.export_error(&format!("the /metrics server failed: {e}"));
                            }
                        }
                        _ = async {
                            let _ = stopped.wait_for(|stop| *stop).await;
                            tokio::time::sleep(GRACE).await;
                        } => {
                            tracing::debug!("lpi telemetry: closing /metrics connections still open after {GRACE:?}");
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(TelemetryError::Runtime)?;
        Ok(Self { stop, thread })
    }

    /// Stops accepting, lets open connections finish (at most [`GRACE`]) and joins the thread.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(true);
        if self.thread.join().is_err() {
            tracing::error!("lpi telemetry: the server thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use lpi_hook::{ProbeRunFailure, ProbeRunObserver};

    use super::*;
    use crate::{Telemetry, TelemetryConfig};

    #[test]
    fn a_rendering_is_served_again_until_a_counter_or_the_frame_changes() {
        let telemetry = Telemetry::new(
            TelemetryConfig::new("cache", "dense").with_listen("127.0.0.1:0".parse().unwrap()),
        )
        .unwrap();
        let render = || render(&telemetry.registry, &telemetry.shared).unwrap();
        let first = render();
        assert_eq!(
            render().as_ptr(),
            first.as_ptr(),
            "nothing changed: the same text"
        );

        telemetry.observer().on_failure(&ProbeRunFailure {
            step: 3,
            reason: "diverged".into(),
        });
        let after_failure = render();
        assert_ne!(after_failure.as_ptr(), first.as_ptr());
        let text = std::str::from_utf8(&after_failure).unwrap();
        assert!(
            text.lines()
                .any(|l| l.starts_with("lpi_probe_failures_total{") && l.ends_with(" 1")),
            "the failure shows at once:\n{text}"
        );

        // An old rendering is not served past its age even when nothing changed.
        telemetry
            .shared
            .exposition
            .lock()
            .unwrap()
            .as_mut()
            .unwrap()
            .at -= MAX_RENDER_AGE;
        assert_ne!(render().as_ptr(), after_failure.as_ptr());
    }
}
