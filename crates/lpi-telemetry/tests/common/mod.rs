//! Helpers shared by the integration tests: a full probe-run report, a raw HTTP GET and a
//! parser for the Prometheus text exposition.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use lpi_hook::{ProbeRunReport, ProfileSummary, Robustness, Stability, UnitScore};
use lpi_probes::{KnowledgeReadout, Readouts};

pub fn readout(probes: usize, base: f64) -> KnowledgeReadout {
    KnowledgeReadout {
        probes,
        hit_at_1: base,
        hit_at_10: (base * 2.0).min(1.0),
        mrr: base * 1.5,
        mean_gold_logprob: -3.0 + base,
    }
}

/// A report of a `layers` x `experts` model (experts 1: dense) with every optional part set.
pub fn report(layers: usize, experts: usize, relations: usize, heads: usize) -> ProbeRunReport {
    let summary = |top: f64| ProfileSummary {
        units: 4096,
        positive_mass: 12.5,
        positive_units: 3000,
        top_share: top,
        entropy: 0.83,
        gini: 0.41,
    };
    let experts_total = layers * experts;
    ProbeRunReport {
        run: 7,
        step: 1400,
        unix_time_s: 1_780_000_000.25,
        probe_seconds: 0.375,
        analysis_seconds: 0.0625,
        every_n_steps: 200,
        probes: 96,
        readouts: Readouts {
            overall: readout(96, 0.25),
            per_relation: (0..relations)
                .map(|r| {
                    (
                        format!("rel_{r}"),
                        readout(8, 0.125 + r as f64 / (4.0 * relations as f64)),
                    )
                })
                .collect(),
        },
        neurons: summary(0.1875),
        heads: summary(0.3125),
        positive_updates_top_share: Some(0.21875),
        vs_previous: Some(Stability {
            spearman: 0.9375,
            jaccard: 0.75,
            rbo: 0.8125,
        }),
        vs_reference: Some(Stability {
            spearman: -0.125,
            jaccard: 0.25,
            rbo: 0.375,
        }),
        reference_step: Some(600),
        layer_stability: Some(
            (0..layers)
                .map(|l| 0.5 + l as f64 / (4.0 * layers as f64))
                .collect(),
        ),
        layer_share: (0..layers).map(|l| (l + 1) as f64 / 1000.0).collect(),
        expert_share: (experts > 1).then(|| {
            (0..experts_total)
                .map(|i| (i % experts) as f64 / experts_total as f64)
                .collect()
        }),
        head_layer_share: (0..layers).map(|l| (l + 2) as f64 / 1000.0).collect(),
        top_heads: (0..heads)
            .map(|h| UnitScore {
                unit: format!("l{}.h{}", h % layers.max(1), h),
                score: 2.5 - h as f32 / 64.0,
            })
            .collect(),
        top_neurons: vec![UnitScore {
            unit: "l0.e0.n3".into(),
            score: 1.0,
        }],
        lorenz: vec![(0.0, 0.0), (1.0, 1.0)],
        consolidation_step: Some(1000),
        stability_streak: 4,
        drifted: false,
        robustness: Some(Robustness {
            top_heads: vec!["l0.h1".into()],
            random_heads: vec!["l1.h0".into()],
            hit_at_10: 0.5,
            hit_at_10_top_masked: 0.25,
            hit_at_10_random_masked: 0.4375,
            top_drop: Robustness::relative_drop(0.5, 0.25),
            random_drop: Robustness::relative_drop(0.5, 0.4375),
        }),
    }
}

/// GET `path` over a real TCP connection; returns (status line, headers, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to /metrics");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete HTTP response");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    assert!(
        !headers
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "expected a plain body"
    );
    (status.to_string(), headers.to_string(), body.to_string())
}

pub type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the samples of a text exposition (labels values without escapes, as ours are).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let rest = rest.strip_suffix('}').expect("closing brace");
                    let labels = rest
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("key=\"value\"");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            (name, labels, value)
        })
        .collect()
}
