//! Helpers shared by the integration tests: a probe-set fixture, and HTTP to the telemetry or
//! to Prometheus.

#![allow(dead_code)] // Each test crate uses its own subset.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use burn_lpi::models::Transformer;
use burn_lpi::models::synthetic::SyntheticFacts;

/// 48 synthetic facts (16 subjects, 4 relations, 12 objects) written as a JSONL probe set into a
/// temporary directory, which also holds the runs.
pub struct Fixture {
    pub facts: SyntheticFacts,
    pub dir: tempfile::TempDir,
    pub probes: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let facts = SyntheticFacts::new(16, 4, 12, 2026);
        let dir = tempfile::tempdir().expect("temp dir");
        let probes = dir.path().join("probes.jsonl");
        std::fs::write(&probes, facts.probe_jsonl()).expect("write probes");
        Self { facts, dir, probes }
    }
}

/// Trains for `steps` AdamW steps from `start` on the facts, calling `after_step` (the hook)
/// after every step; returns the trained model.
pub fn train(
    facts: &SyntheticFacts,
    mut model: Transformer,
    start: u64,
    steps: u64,
    mut after_step: impl FnMut(u64, &Transformer),
) -> Transformer {
    let device = Device::flex().autodiff();
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
    for step in start + 1..=start + steps {
        let loss = model.next_token_loss(facts.batch(step as usize * 32, 32, &device));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
        after_step(step, &model);
    }
    model
}

/// A loopback address with a port that was free a moment ago.
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// GET over HTTP/1.0 (Prometheus then answers without chunked encoding); `None` when the
/// server is not up yet.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.lines().next()?;
    status
        .split(' ')
        .nth(1)
        .is_some_and(|code| code == "200")
        .then(|| body.to_string())
}
