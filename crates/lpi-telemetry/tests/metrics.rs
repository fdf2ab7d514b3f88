//! Real-parts tests: a real /metrics server on loopback, fetched over real HTTP, checked by
//! promtool.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use lpi_hook::{HookHealth, ProbeRunFailure, ProbeRunObserver};
use lpi_telemetry::catalogue::{self, ALL};
use lpi_telemetry::{Telemetry, TelemetryConfig, TelemetryError};

mod common;
use common::{Sample, http_get, parse, report};

fn ephemeral(run: &str, arch: &str) -> TelemetryConfig {
    TelemetryConfig::new(run, arch).with_listen("127.0.0.1:0".parse().unwrap())
}

/// The one value of `name` whose labels include `want`.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    let hits: Vec<f64> = samples
        .iter()
        .filter(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
        .collect();
    assert_eq!(hits.len(), 1, "{name} {want:?}: {hits:?}");
    hits[0]
}

fn scrape(telemetry: &Telemetry) -> String {
    let (status, headers, body) = http_get(telemetry.local_addr(), "/metrics");
    assert!(status.contains("200"), "{status}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{headers}"
    );
    body
}

#[test]
fn metrics_over_http_equal_the_report() {
    let telemetry = Telemetry::new(ephemeral("run-a", "moe-4x8")).unwrap();
    assert_ne!(telemetry.local_addr().port(), 0);
    let health = Arc::new(HookHealth::default());
    telemetry.attach_health(health.clone());
    let r = report(4, 8, 3, 5);
    let mut observer = telemetry.observer();
    observer.on_failure(&ProbeRunFailure {
        step: 1200,
        reason: "non-finite activations".into(),
    });
    observer.on_run(&r);

    let text = scrape(&telemetry);
    let s = parse(&text);
    // Every catalogue family, verbatim, with its type; no doubled suffixes, no scope labels.
    for def in ALL {
        assert!(
            text.contains(&format!(
                "# TYPE {} {}\n",
                def.name,
                def.kind.prometheus_type()
            )),
            "{} missing:\n{text}",
            def.name
        );
        assert!(
            s.iter().any(|(n, _, _)| n == def.name),
            "{} has no sample",
            def.name
        );
    }
    for bad in [
        "_ratio_ratio",
        "_seconds_seconds",
        "_total_total",
        "otel_scope",
        "target_info",
        "otel_metric_overflow",
    ] {
        assert!(!text.contains(bad), "{bad} in:\n{text}");
    }
    for (name, labels, _) in &s {
        let def = ALL
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the catalogue"));
        let keys: Vec<&str> = labels.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = def.labels.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want, "{name}");
        assert_eq!(labels["run"], "run-a");
        assert_eq!(labels["arch"], "moe-4x8");
    }

    let v = |name: &str, want: &[(&str, &str)]| value(&s, name, want);
    assert_eq!(
        v(
            "lpi_top_share_ratio",
            &[("profile", "neurons"), ("q", "0.01")]
        ),
        r.neurons.top_share
    );
    assert_eq!(
        v("lpi_top_share_ratio", &[("profile", "heads")]),
        r.heads.top_share
    );
    assert_eq!(
        v("lpi_positive_updates_top_share_ratio", &[("q", "0.01")]),
        0.21875
    );
    assert_eq!(
        v("lpi_entropy_ratio", &[("profile", "neurons")]),
        r.neurons.entropy
    );
    assert_eq!(v("lpi_gini_ratio", &[("profile", "heads")]), r.heads.gini);
    let prev = r.vs_previous.unwrap();
    let refr = r.vs_reference.unwrap();
    // k = ceil(0.01 * 4096) = 41.
    assert_eq!(
        v("lpi_stability_spearman", &[("baseline", "previous")]),
        prev.spearman
    );
    assert_eq!(
        v("lpi_stability_spearman", &[("baseline", "reference")]),
        refr.spearman
    );
    assert_eq!(
        v(
            "lpi_stability_jaccard_ratio",
            &[("baseline", "previous"), ("k", "41")]
        ),
        prev.jaccard
    );
    assert_eq!(
        v("lpi_stability_rbo_ratio", &[("baseline", "reference")]),
        refr.rbo
    );
    assert_eq!(v("lpi_reference_step", &[]), 600.0);
    for layer in 0..4 {
        let l = layer.to_string();
        assert_eq!(
            v(
                "lpi_layer_share_ratio",
                &[("profile", "neurons"), ("layer", &l)]
            ),
            r.layer_share[layer]
        );
        assert_eq!(
            v(
                "lpi_layer_share_ratio",
                &[("profile", "heads"), ("layer", &l)]
            ),
            r.head_layer_share[layer]
        );
        assert_eq!(
            v("lpi_layer_stability_spearman", &[("layer", &l)]),
            r.layer_stability.as_ref().unwrap()[layer]
        );
    }
    // Top 8 of 8 experts per layer: every expert.
    let shares = r.expert_share.as_ref().unwrap();
    for layer in 0..4 {
        for expert in 0..8 {
            let got = v(
                "lpi_expert_share_ratio",
                &[
                    ("layer", &layer.to_string()),
                    ("expert", &expert.to_string()),
                ],
            );
            assert_eq!(got, shares[layer * 8 + expert]);
        }
    }
    for (rank, head) in r.top_heads.iter().enumerate() {
        let got = v(
            "lpi_top_head_importance",
            &[("rank", &(rank + 1).to_string()), ("head", &head.unit)],
        );
        assert_eq!(got, f64::from(head.score));
    }
    let o = r.readouts.overall;
    assert_eq!(v("lpi_hit_ratio", &[("k", "1")]), o.hit_at_1);
    assert_eq!(v("lpi_hit_ratio", &[("k", "10")]), o.hit_at_10);
    assert_eq!(v("lpi_mrr_ratio", &[]), o.mrr);
    assert_eq!(v("lpi_gold_logprob", &[]), o.mean_gold_logprob);
    assert_eq!(v("lpi_probes", &[]), 96.0);
    for (relation, ro) in &r.readouts.per_relation {
        let rel = ("relation", relation.as_str());
        assert_eq!(v("lpi_relation_hit_ratio", &[rel, ("k", "1")]), ro.hit_at_1);
        assert_eq!(
            v("lpi_relation_hit_ratio", &[rel, ("k", "10")]),
            ro.hit_at_10
        );
        assert_eq!(v("lpi_relation_mrr_ratio", &[rel]), ro.mrr);
        assert_eq!(v("lpi_relation_gold_logprob", &[rel]), ro.mean_gold_logprob);
        assert_eq!(v("lpi_relation_probes", &[rel]), ro.probes as f64);
    }
    let rob = r.robustness.as_ref().unwrap();
    assert_eq!(
        v("lpi_masked_hit_ratio", &[("k", "10"), ("masked", "none")]),
        rob.hit_at_10
    );
    assert_eq!(
        v("lpi_masked_hit_ratio", &[("masked", "top")]),
        rob.hit_at_10_top_masked
    );
    assert_eq!(
        v("lpi_masked_hit_ratio", &[("masked", "random")]),
        rob.hit_at_10_random_masked
    );
    assert_eq!(
        v("lpi_masked_hit_drop_ratio", &[("masked", "top")]),
        rob.top_drop.unwrap()
    );
    assert_eq!(
        v("lpi_masked_hit_drop_ratio", &[("masked", "random")]),
        rob.random_drop.unwrap()
    );
    assert_eq!(v("lpi_consolidation_step", &[]), 1000.0);
    assert_eq!(v("lpi_stability_streak", &[]), 4.0);
    assert_eq!(v("lpi_drifted", &[]), 0.0);
    assert_eq!(
        v("lpi_probe_run_duration_seconds", &[("phase", "probe")]),
        r.probe_seconds
    );
    assert_eq!(
        v("lpi_probe_run_duration_seconds", &[("phase", "analysis")]),
        r.analysis_seconds
    );
    assert_eq!(v("lpi_last_report_timestamp_seconds", &[]), r.unix_time_s);
    assert_eq!(v("lpi_probe_runs_total", &[]), 1.0);
    assert_eq!(v("lpi_probe_failures_total", &[]), 1.0);
    assert_eq!(v("lpi_export_errors_total", &[]), 0.0);
    // Health: from the attached HookHealth (a fresh one: all zero).
    for name in [
        "lpi_last_probed_step",
        "lpi_probe_interval_steps",
        "lpi_dropped_runs_total",
        "lpi_write_errors_total",
        "lpi_observer_panics_total",
        "lpi_hook_training_thread_seconds_total",
        "lpi_hook_worker_busy_seconds_total",
    ] {
        assert_eq!(v(name, &[]), 0.0, "{name}");
    }

    // A second run replaces the values; series missing from it disappear.
    let mut second = report(4, 8, 1, 2);
    second.readouts.overall.hit_at_1 = 0.5;
    second.robustness = None;
    observer.on_run(&second);
    let s2 = parse(&scrape(&telemetry));
    assert_eq!(value(&s2, "lpi_hit_ratio", &[("k", "1")]), 0.5);
    assert_eq!(value(&s2, "lpi_probe_runs_total", &[]), 2.0);
    assert_eq!(
        s2.iter()
            .filter(|x| x.0 == "lpi_relation_mrr_ratio")
            .count(),
        1
    );
    assert_eq!(
        s2.iter()
            .filter(|x| x.0 == "lpi_top_head_importance")
            .count(),
        2
    );
    assert!(!s2.iter().any(|x| x.0 == "lpi_masked_hit_ratio"));

    // Unknown paths are 404; shutdown closes the port.
    let (status, _, _) = http_get(telemetry.local_addr(), "/nope");
    assert!(status.contains("404"), "{status}");
    let addr = telemetry.local_addr();
    telemetry.shutdown();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    // The port is free again.
    drop(TcpListener::bind(addr).expect("port released after shutdown"));
}

#[test]
fn health_counters_come_from_the_hook() {
    // Without a report: only the counters and the (attached) health families.
    let telemetry = Telemetry::new(ephemeral("run-h", "dense")).unwrap();
    let health = Arc::new(HookHealth::default());
    telemetry.attach_health(health);
    let s = parse(&scrape(&telemetry));
    assert_eq!(value(&s, "lpi_probe_runs_total", &[]), 0.0);
    assert_eq!(value(&s, "lpi_dropped_runs_total", &[]), 0.0);
    assert!(!s.iter().any(|x| x.0 == "lpi_top_share_ratio"));
    // Without health the step comes from the latest report.
    let telemetry = Telemetry::new(ephemeral("run-h", "dense")).unwrap();
    telemetry.observer().on_run(&report(2, 1, 1, 1));
    let s = parse(&telemetry.render().unwrap());
    assert_eq!(value(&s, "lpi_last_probed_step", &[]), 1400.0);
    assert_eq!(value(&s, "lpi_probe_interval_steps", &[]), 200.0);
    assert!(
        !s.iter().any(|x| x.0 == "lpi_expert_share_ratio"),
        "dense model: no experts"
    );
    assert!(
        !s.iter().any(|x| x.0 == "lpi_dropped_runs_total"),
        "no health attached"
    );
}

#[test]
fn a_taken_port_is_a_typed_error_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Telemetry::new(TelemetryConfig::new("r", "a").with_listen(addr)).unwrap_err();
    assert!(
        matches!(err, TelemetryError::AddrInUse { addr: a, .. } if a == addr),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&addr.to_string()), "{message}");
    assert!(
        message.contains("already in use") && message.contains("listen"),
        "{message}"
    );
}

#[test]
fn default_config_listens_on_9464() {
    let config = TelemetryConfig::default();
    assert_eq!(
        config.listen,
        "127.0.0.1:9464".parse::<SocketAddr>().unwrap()
    );
    let parsed: TelemetryConfig =
        serde_json::from_str(r#"{"run": "x", "listen": "127.0.0.1:0"}"#).unwrap();
    assert_eq!(parsed.run, "x");
    assert_eq!(parsed.arch, "unknown");
    assert_eq!(parsed.listen.port(), 0);
}

#[test]
fn promtool_accepts_the_exposition() {
    let telemetry = Telemetry::new(ephemeral("run-p", "moe-64x64")).unwrap();
    telemetry.attach_health(Arc::new(HookHealth::default()));
    let mut observer = telemetry.observer();
    observer.on_run(&report(64, 64, 40, 20));
    observer.on_failure(&ProbeRunFailure {
        step: 1,
        reason: "x".into(),
    });
    let body = scrape(&telemetry);
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's `prometheus` package (apt-get install -y prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_64_by_64_model_stays_under_the_cardinality_limit() {
    // 64 layers x 64 experts = 4096 expert shares; 1000 relations; 3000 top heads asked for.
    let config = ephemeral("run-c", "moe-64x64")
        .with_top_experts_per_layer(64)
        .with_top_heads(3000)
        .with_max_relations(5000);
    let telemetry = Telemetry::new(config).unwrap();
    let mut observer = telemetry.observer();
    observer.on_run(&report(64, 64, 1000, 3000));
    let text = scrape(&telemetry);
    assert!(!text.contains("otel_metric_overflow"));
    let s = parse(&text);
    for def in ALL {
        let n = s.iter().filter(|x| x.0 == def.name).count();
        assert!(n < 2000, "{}: {n} series", def.name);
        assert!(
            n <= lpi_telemetry::MAX_SERIES_PER_FAMILY,
            "{}: {n} series",
            def.name
        );
    }
    let count = |name: &str| s.iter().filter(|x| x.0 == name).count();
    // 1900 / 64 = 29 experts per layer, the largest ones.
    assert_eq!(count(catalogue::EXPERT_SHARE.name), 64 * 29);
    for layer in ["0", "63"] {
        let experts: Vec<u32> = s
            .iter()
            .filter(|x| x.0 == "lpi_expert_share_ratio" && x.1["layer"] == layer)
            .map(|x| x.1["expert"].parse().unwrap())
            .collect();
        assert_eq!(
            experts.iter().min(),
            Some(&35),
            "the top 29 of 0..64 by share are 35..=63"
        );
    }
    assert_eq!(count(catalogue::LAYER_SHARE.name), 128);
    assert_eq!(count(catalogue::RELATION_HIT.name), 1900);
    assert_eq!(count(catalogue::RELATION_MRR.name), 950);
    assert_eq!(count(catalogue::TOP_HEAD_IMPORTANCE.name), 1900);

    // The default config: 8 experts per layer.
    let telemetry = Telemetry::new(ephemeral("run-c", "moe-64x64")).unwrap();
    telemetry.observer().on_run(&report(64, 64, 10, 10));
    let s = parse(&scrape(&telemetry));
    assert_eq!(
        s.iter().filter(|x| x.0 == "lpi_expert_share_ratio").count(),
        64 * 8
    );
}

/// The README's metric table is generated from the catalogue; regenerate it with
/// `LPI_UPDATE_README=1 cargo test -p lpi-telemetry readme`.
#[test]
fn readme_table_matches_the_catalogue() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let (head, rest) = readme
        .split_once("<!-- metrics:begin -->\n")
        .expect("begin marker");
    let (_, tail) = rest.split_once("<!-- metrics:end -->").expect("end marker");
    let fresh = format!(
        "{head}<!-- metrics:begin -->\n{}<!-- metrics:end -->{tail}",
        catalogue::markdown_table()
    );
    if std::env::var_os("LPI_UPDATE_README").is_some() {
        std::fs::write(path, &fresh).unwrap();
    } else {
        assert!(
            readme == fresh,
            "README.md metric table is stale; rerun with LPI_UPDATE_README=1"
        );
    }
}
