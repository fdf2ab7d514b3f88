//! A real Prometheus scrapes a real training run with the hook and its telemetry: every metric
//! family of the catalogue, and every panel query of the Grafana dashboards, returns data for
//! that run.
//!
//! Needs Debian's `prometheus` (installed by `tests/run.sh`); fails, never skips, without it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use burn_lpi::LpiConfig;
use burn_lpi::hook::LpiHookConfig;
use burn_lpi::models::synthetic::SyntheticFacts;
use burn_lpi::models::{MoeConfig, TransformerConfig};
use burn_lpi::probes::WordTokenizer;
use burn_lpi::telemetry::{TelemetryConfig, catalogue};

mod common;
use common::{free_port, http_get, train};

const RUN: &str = "scrape-test";
const ARCH: &str = "moe";
const Q: f64 = 0.02;

/// A Prometheus server on loopback, stopped when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Prometheus {
    fn start(dir: &Path, target: SocketAddr) -> Self {
        let addr = free_port();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: lpi\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run `prometheus` (Debian package `prometheus`; tests/run.sh installs it)");
        Self { child, addr }
    }

    /// The result vector of an instant query (empty when the query has no data).
    fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        let Some(body) = http_get(self.addr, &path) else {
            return Vec::new();
        };
        let reply: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("Prometheus answered {body:?} to {promql}: {e}"));
        assert_eq!(reply["status"], "success", "{promql}: {body}");
        reply["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every `expr` of every panel of every dashboard, with the `$run`/`$arch` variables and the
/// `$__rate_interval`/`$__interval` macros filled in.
fn dashboard_queries(dir: &Path) -> Vec<String> {
    fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                        ("templating", _) => {}
                        _ => collect(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut queries = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return queries;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("read dashboard");
            let json: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
            let mut exprs = Vec::new();
            collect(&json, &mut exprs);
            for e in exprs {
                let e = e
                    .replace("$__rate_interval", "1m")
                    .replace("$__interval", "15s")
                    .replace("$__range", "5m")
                    .replace("${run}", RUN)
                    .replace("$run", RUN)
                    .replace("${arch}", ARCH)
                    .replace("$arch", ARCH);
                queries.push(e);
            }
        }
    }
    queries
}

/// Queries each expression until it returns data or a minute has passed; returns those that
/// never did.
fn until_all_have_data(prometheus: &Prometheus, mut pending: Vec<String>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|q| prometheus.query(q).is_empty());
        std::thread::sleep(Duration::from_millis(500));
    }
    pending
}

#[test]
fn prometheus_scrapes_every_family_and_every_dashboard_query_has_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let facts = SyntheticFacts::new(16, 4, 12, 2026);
    let probes = dir.path().join("probes.jsonl");
    std::fs::write(&probes, facts.probe_jsonl()).expect("write probes");

    let device = Device::flex().autodiff();
    device.seed(3);
    let model = TransformerConfig::new(facts.vocab_size(), 32, 2, 8, 32, 8)
        .with_moe(Some(MoeConfig::new(4, 2)))
        .init(&device);
    // Built the documented way, from one LpiConfig: the `run` label comes from the run
    // directory's name and the `q` label from the hook's q.
    let hook_config = LpiHookConfig::new(probes, dir.path().join(RUN))
        .with_every_n_steps(5)
        .with_robustness_every(2)
        .with_masked_heads(4)
        // Every run counts toward consolidation, so the consolidation panels have data.
        .with_tau(-1.0)
        .with_consolidation_window(2)
        .with_q(Q)
        .with_leading_space(false);
    let listen = free_port();
    let telemetry = TelemetryConfig {
        arch: ARCH.into(),
        ..TelemetryConfig::default()
    }
    .with_listen(listen);
    let mut hook = LpiConfig::new(hook_config)
        .with_telemetry(Some(telemetry))
        .build_with_tokenizer(&WordTokenizer::new(facts.vocabulary()), &model)
        .expect("hook and telemetry build");
    let prometheus = Prometheus::start(dir.path(), listen);

    train(&facts, model, 0, 40, |_, m| hook.after_step(m));
    hook.flush();
    assert_eq!(hook.health().runs, 8);

    // Every family of the catalogue, for this run.
    let selector = |name: &str| format!("{name}{{run=\"{RUN}\",arch=\"{ARCH}\"}}");
    let missing = until_all_have_data(
        &prometheus,
        catalogue::ALL.iter().map(|m| selector(m.name)).collect(),
    );
    assert!(missing.is_empty(), "no data in Prometheus for {missing:?}");
    let runs = prometheus.query(&selector("lpi_probe_runs_total"));
    assert_eq!(
        runs[0]["value"][1], "8",
        "the scraped run counter is the hook's"
    );
    let top_share = prometheus.query(&selector("lpi_top_share_ratio"));
    let q = Q.to_string();
    assert!(
        !top_share.is_empty() && top_share.iter().all(|s| s["metric"]["q"] == q.as_str()),
        "the q label is the hook's q: {top_share:?}"
    );

    // Every panel query of every dashboard.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/grafana");
    let queries = dashboard_queries(&root);
    assert!(
        !queries.is_empty(),
        "no panel queries in {}",
        root.display()
    );
    // rate() and increase() need two scrapes inside their window: retry until they have them.
    let empty = until_all_have_data(&prometheus, queries);
    assert!(
        empty.is_empty(),
        "dashboard queries without data: {empty:#?}"
    );
    // The telemetry stops with the hook.
    hook.finish();
    assert!(
        std::net::TcpStream::connect(listen).is_err(),
        "/metrics still served after the hook finished"
    );
}
