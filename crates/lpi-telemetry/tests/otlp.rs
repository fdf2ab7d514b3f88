//! OTLP push against test-local receivers on loopback: OTLP/HTTP ones that answer (the pushed
//! protobuf is decoded and compared with `/metrics`), hang or refuse, and OTLP/gRPC ones (tonic
//! serving the collector's `MetricsService`) that answer or hang.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use lpi_hook::ProbeRunObserver;
use lpi_telemetry::catalogue::ALL;
use lpi_telemetry::{OtlpConfig, OtlpProtocol, Telemetry, TelemetryConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;

mod common;
use common::{http_get, parse, report};

/// How the test receiver treats a request.
#[derive(Clone, Copy)]
enum Mode {
    /// Answers 200 with an empty `ExportMetricsServiceResponse`.
    Answer,
    /// Reads the request and never answers (until the client gives up and closes).
    Hang,
}

/// One request the receiver got.
struct Received {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A minimal OTLP/HTTP receiver on loopback: a std `TcpListener`, a thread per connection,
/// HTTP/1.1 keep-alive, `Content-Length` bodies.
fn receiver(mode: Mode) -> (SocketAddr, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            thread::spawn(move || serve(stream, mode, tx));
        }
    });
    (addr, rx)
}

fn serve(stream: TcpStream, mode: Mode, tx: mpsc::Sender<Received>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let _ = tx.send(Received {
            path,
            headers,
            body,
        });
        match mode {
            Mode::Answer => {
                let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                              content-length: 0\r\n\r\n";
                if writer.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
            Mode::Hang => {
                // Never answer; returns once the client times out and closes.
                let _ = reader.read_to_end(&mut Vec::new());
                return;
            }
        }
    }
}

fn ephemeral(run: &str, arch: &str, otlp: OtlpConfig) -> TelemetryConfig {
    TelemetryConfig::new(run, arch)
        .with_listen("127.0.0.1:0".parse().unwrap())
        .with_otlp(otlp)
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

type Series = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// The request's data points keyed by the Prometheus name of their family (via the catalogue's
/// `otel_name`) and their attributes.
fn otlp_series(request: &ExportMetricsServiceRequest) -> Series {
    let mut out = Series::new();
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let def = ALL
                    .iter()
                    .find(|d| d.otel_name() == m.name)
                    .unwrap_or_else(|| panic!("OTLP metric {} is not in the catalogue", m.name));
                assert_eq!(m.unit, def.unit, "unit of {}", m.name);
                let points = match &m.data {
                    Some(metric::Data::Gauge(g)) => &g.data_points,
                    Some(metric::Data::Sum(s)) => {
                        assert!(s.is_monotonic, "{} is a counter", m.name);
                        &s.data_points
                    }
                    other => panic!("{}: unexpected data {other:?}", m.name),
                };
                for p in points {
                    let value = match p.value {
                        Some(number_data_point::Value::AsDouble(v)) => v,
                        Some(number_data_point::Value::AsInt(v)) => v as f64,
                        None => panic!("{}: a point without a value", m.name),
                    };
                    let key = (def.name.to_string(), attributes(&p.attributes));
                    assert!(out.insert(key, value).is_none(), "{} twice", m.name);
                }
            }
        }
    }
    out
}

fn pull_series(telemetry: &Telemetry) -> Series {
    let (status, _, body) = http_get(telemetry.local_addr(), "/metrics");
    assert!(status.contains("200"), "{status}");
    parse(&body)
        .into_iter()
        .map(|(name, labels, value)| ((name, labels), value))
        .collect()
}

fn export_errors(telemetry: &Telemetry) -> f64 {
    pull_series(telemetry)
        .into_iter()
        .find(|((name, _), _)| name == "lpi_export_errors_total")
        .map(|(_, v)| v)
        .expect("lpi_export_errors_total on /metrics")
}

/// Polls `/metrics` until `lpi_export_errors_total` reaches `at_least` (generous bound: 30 s).
fn wait_for_export_errors(telemetry: &Telemetry, at_least: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = export_errors(telemetry);
        if n >= at_least {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "export errors stayed at {n}, expected at least {at_least}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Shuts down and checks that it returns (generous bound: 30 s).
fn shutdown_returns(telemetry: Telemetry) {
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        telemetry.shutdown();
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("shutdown returned");
}

/// Checks the request's resource (`service_name`, the run and arch of [`report_run`]) and that
/// its series are exactly `/metrics`' `lpi_` series, with the same values.
fn assert_pushed_equals_pulled(
    request: &ExportMetricsServiceRequest,
    telemetry: &Telemetry,
    service_name: &str,
) {
    let resource = request.resource_metrics[0]
        .resource
        .as_ref()
        .expect("a resource");
    let resource = attributes(&resource.attributes);
    assert_eq!(resource["service.name"], service_name);
    assert_eq!(resource["lpi.run"], "otlp-run");
    assert_eq!(resource["lpi.arch"], "moe-4x8");

    let pushed = otlp_series(request);
    let pulled: Series = pull_series(telemetry)
        .into_iter()
        .filter(|((name, _), _)| name.starts_with("lpi_"))
        .collect();
    assert!(pushed.len() >= 50, "{} series pushed", pushed.len());
    let only_pushed: Vec<_> = pushed.keys().filter(|k| !pulled.contains_key(*k)).collect();
    let only_pulled: Vec<_> = pulled.keys().filter(|k| !pushed.contains_key(*k)).collect();
    assert!(
        only_pushed.is_empty(),
        "pushed, not on /metrics: {only_pushed:?}"
    );
    assert!(
        only_pulled.is_empty(),
        "on /metrics, not pushed: {only_pulled:?}"
    );
    for (key, value) in &pushed {
        let pull = pulled[key];
        assert!(
            value == &pull || (value.is_nan() && pull.is_nan()),
            "{key:?}: pushed {value}, /metrics {pull}"
        );
    }
    // Every family with a value in this report went both ways.
    for def in ALL {
        let pushed_family = pushed.keys().any(|(n, _)| n == def.name);
        let pulled_family = pulled.keys().any(|(n, _)| n == def.name);
        assert_eq!(pushed_family, pulled_family, "{}", def.name);
    }
}

/// Records one report (a 4-layer, 8-expert model) and waits for the first received push that
/// carries it; returns what was received and its decoded request (`request_of`).
fn report_run<T>(
    telemetry: &Telemetry,
    requests: &mpsc::Receiver<T>,
    request_of: impl Fn(&T) -> ExportMetricsServiceRequest,
) -> (T, ExportMetricsServiceRequest) {
    telemetry.observer().on_run(&report(4, 8, 3, 6));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let received = requests.recv_timeout(left).expect("an OTLP request");
        let request = request_of(&received);
        let runs = otlp_series(&request)
            .iter()
            .find(|((name, _), _)| name == "lpi_probe_runs_total")
            .map(|(_, v)| *v);
        if runs == Some(1.0) {
            return (received, request);
        }
    }
}

#[test]
fn pushed_metrics_equal_the_pull_side() {
    let (addr, requests) = receiver(Mode::Answer);
    let otlp = OtlpConfig::default()
        .with_endpoint(format!("http://{addr}"))
        .with_interval_ms(200)
        .with_timeout_ms(5_000)
        .with_header("x-lpi-test", "yes")
        .with_service_name("lpi-otlp-test");
    let telemetry = Telemetry::new(ephemeral("otlp-run", "moe-4x8", otlp)).unwrap();
    assert_eq!(
        telemetry.otlp_endpoint(),
        Some(format!("http://{addr}/v1/metrics").as_str())
    );
    let (received, request) = report_run(&telemetry, &requests, |received: &Received| {
        ExportMetricsServiceRequest::decode(received.body.as_slice())
            .expect("an ExportMetricsServiceRequest")
    });
    assert_eq!(received.path, "/v1/metrics");
    assert_eq!(
        received.headers.get("content-type").map(String::as_str),
        Some("application/x-protobuf")
    );
    assert_eq!(
        received.headers.get("x-lpi-test").map(String::as_str),
        Some("yes")
    );

    assert_pushed_equals_pulled(&request, &telemetry, "lpi-otlp-test");
    assert_eq!(export_errors(&telemetry), 0.0);
    shutdown_returns(telemetry);
}

#[test]
fn a_hung_collector_counts_errors_and_does_not_hang_shutdown() {
    let (addr, requests) = receiver(Mode::Hang);
    let otlp = OtlpConfig::default()
        .with_endpoint(format!("http://{addr}/v1/metrics"))
        .with_interval_ms(100)
        .with_timeout_ms(300);
    let telemetry = Telemetry::new(ephemeral("hung", "dense-2l", otlp)).unwrap();
    hung_collector_costs_only_errors(telemetry, &requests);
}

/// Records runs while the collector behind `telemetry` hangs: it receives a push and never
/// answers, the exports time out and are counted, and the observer and `/metrics` keep
/// working; shutdown returns.
fn hung_collector_costs_only_errors<T>(telemetry: Telemetry, requests: &mpsc::Receiver<T>) {
    let mut observer = telemetry.observer();
    for _ in 0..20 {
        observer.on_run(&report(2, 1, 2, 2));
    }
    if requests.recv_timeout(Duration::from_secs(30)).is_err() {
        panic!("the hung collector received no push");
    }
    wait_for_export_errors(&telemetry, 2.0);
    observer.on_run(&report(2, 1, 2, 2));
    let runs = pull_series(&telemetry)
        .into_iter()
        .find(|((name, _), _)| name == "lpi_probe_runs_total")
        .map(|(_, v)| v);
    assert_eq!(runs, Some(21.0));
    shutdown_returns(telemetry);
}

#[test]
fn a_refused_collector_counts_errors() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let otlp = OtlpConfig::default()
        .with_endpoint(format!("http://{closed}"))
        .with_interval_ms(100)
        .with_timeout_ms(1_000);
    let telemetry = Telemetry::new(ephemeral("refused", "dense-2l", otlp)).unwrap();
    telemetry.observer().on_run(&report(2, 1, 2, 2));
    wait_for_export_errors(&telemetry, 3.0);
    shutdown_returns(telemetry);
}

/// A test-local OTLP/gRPC receiver: the collector's `MetricsService`, served by tonic on
/// loopback, handing every request (metadata and message) to the test.
struct GrpcCollector {
    requests: Mutex<mpsc::Sender<(tonic::metadata::MetadataMap, ExportMetricsServiceRequest)>>,
    mode: Mode,
}

#[tonic::async_trait]
impl MetricsService for GrpcCollector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let (metadata, _, message) = request.into_parts();
        let _ = self.requests.lock().unwrap().send((metadata, message));
        if let Mode::Hang = self.mode {
            std::future::pending::<()>().await;
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

type GrpcRequests = mpsc::Receiver<(tonic::metadata::MetadataMap, ExportMetricsServiceRequest)>;

/// Starts a gRPC collector; it serves until the returned runtime is dropped.
fn grpc_receiver(mode: Mode) -> (SocketAddr, GrpcRequests, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the gRPC receiver");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let collector = GrpcCollector {
        requests: Mutex::new(tx),
        mode,
    };
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(MetricsServiceServer::new(collector))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (addr, rx, runtime)
}

#[test]
fn grpc_pushed_metrics_equal_the_pull_side() {
    let (addr, requests, _collector) = grpc_receiver(Mode::Answer);
    let otlp = OtlpConfig::default()
        .with_protocol(OtlpProtocol::Grpc)
        .with_endpoint(format!("http://{addr}"))
        .with_interval_ms(200)
        .with_timeout_ms(5_000)
        .with_header("x-lpi-test", "grpc")
        .with_service_name("lpi-grpc-test");
    let telemetry = Telemetry::new(ephemeral("otlp-run", "moe-4x8", otlp)).unwrap();
    assert_eq!(
        telemetry.otlp_endpoint(),
        Some(format!("http://{addr}").as_str())
    );
    let ((metadata, _), request) = report_run(&telemetry, &requests, |(_, r)| r.clone());
    assert_eq!(
        metadata.get("x-lpi-test").and_then(|v| v.to_str().ok()),
        Some("grpc")
    );
    assert_pushed_equals_pulled(&request, &telemetry, "lpi-grpc-test");
    assert_eq!(export_errors(&telemetry), 0.0);
    shutdown_returns(telemetry);
}

#[test]
fn a_hung_grpc_collector_counts_errors_and_does_not_hang_shutdown() {
    let (addr, requests, _collector) = grpc_receiver(Mode::Hang);
    let otlp = OtlpConfig::default()
        .with_protocol(OtlpProtocol::Grpc)
        .with_endpoint(format!("http://{addr}"))
        .with_interval_ms(100)
        .with_timeout_ms(300);
    let telemetry = Telemetry::new(ephemeral("hung-grpc", "dense-2l", otlp)).unwrap();
    hung_collector_costs_only_errors(telemetry, &requests);
}
