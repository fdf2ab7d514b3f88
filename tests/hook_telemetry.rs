//! The hook built with its telemetry from one `LpiConfig`: a taken `/metrics` port fails before
//! anything else is built, scrapers that stall never hold up training or the other scrapers,
//! and the telemetry stops with the hook.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use burn::config::Config;
use burn::tensor::Device;
use burn_lpi::hook::LpiHookConfig;
use burn_lpi::models::{MoeConfig, Transformer, TransformerConfig};
use burn_lpi::probes::WordTokenizer;
use burn_lpi::telemetry::{TelemetryConfig, TelemetryError};
use burn_lpi::{BuildError, LpiConfig};

mod common;
use common::{Fixture, free_port, http_get, train};

impl Fixture {
    fn model(&self) -> Transformer {
        let device = Device::flex().autodiff();
        device.seed(5);
        TransformerConfig::new(self.facts.vocab_size(), 32, 2, 4, 32, 8)
            .with_moe(Some(MoeConfig::new(4, 2)))
            .init(&device)
    }

    fn config(&self, run: &str, listen: SocketAddr) -> LpiConfig {
        let hook = LpiHookConfig::new(self.probes.clone(), self.dir.path().join(run))
            .with_every_n_steps(5)
            .with_leading_space(false);
        LpiConfig::new(hook)
            .with_telemetry(Some(TelemetryConfig::new(run, "moe").with_listen(listen)))
    }
}

/// The value of the unlabelled-but-for-run/arch series `name` in an exposition text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(&format!("{name}{{")))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[test]
fn a_taken_port_fails_before_the_hook_is_built() {
    let fixture = Fixture::new();
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().unwrap();
    let config = fixture.config("taken", addr);
    let run_dir = config.hook.run_dir.clone();
    let err = config
        .build_with_tokenizer(
            &WordTokenizer::new(fixture.facts.vocabulary()),
            &fixture.model(),
        )
        .expect_err("the port is taken");
    assert!(
        matches!(
            &err,
            BuildError::Telemetry(TelemetryError::AddrInUse { addr: a, .. }) if *a == addr
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&addr.to_string()) && message.contains("listen"),
        "the message names the address and what to set: {message}"
    );
    assert!(
        !run_dir.exists(),
        "the hook was not built: its run directory was not created"
    );
}

#[test]
fn the_config_saves_and_loads_as_json() {
    let fixture = Fixture::new();
    let config = fixture.config("saved", "127.0.0.1:9555".parse().unwrap());
    let path = fixture.dir.path().join("lpi.json");
    config.save(&path).expect("save");
    let loaded = LpiConfig::load(&path).expect("load");
    assert_eq!(loaded.telemetry, config.telemetry);
    assert_eq!(loaded.hook.run_dir, config.hook.run_dir);
    assert_eq!(loaded.hook.every_n_steps, 5);
}

#[test]
fn stalled_scrapers_never_hold_up_training() {
    let fixture = Fixture::new();
    let listen = free_port();
    let model = fixture.model();
    let mut hook = fixture
        .config("stalled", listen)
        .build_with_tokenizer(&WordTokenizer::new(fixture.facts.vocabulary()), &model)
        .expect("hook and telemetry build");

    // Scrapers that open a connection and stall: half send an unfinished request, half ask
    // for /metrics and never read the answer.
    let stalled: Vec<TcpStream> = (0..64)
        .map(|i| {
            let mut stream = TcpStream::connect(listen).expect("connect");
            let request = if i % 2 == 0 {
                "GET /metrics HTTP/1.1\r\nHost: x\r\n".to_string()
            } else {
                format!("GET /metrics HTTP/1.1\r\nHost: {listen}\r\n\r\n")
            };
            stream.write_all(request.as_bytes()).expect("send");
            stream
        })
        .collect();

    train(&fixture.facts, model, 0, 40, |_, m| hook.after_step(m));
    // A worker held up by the telemetry would have dropped runs (queue of 8), not waited.
    hook.flush();
    let health = hook.health();
    assert_eq!((health.runs, health.dropped), (8, 0), "{health:?}");

    // A well-behaved scraper is still served, with the hook's counters.
    let text = http_get(listen, "/metrics").expect("/metrics answers beside stalled scrapers");
    assert_eq!(sample(&text, "lpi_probe_runs_total"), Some(8.0));
    assert_eq!(sample(&text, "lpi_last_probed_step"), Some(40.0));

    // Finishing the hook stops the telemetry even with the stalled connections still open.
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(hook.finish());
    });
    let health = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("finish returns while scrapers stall");
    assert_eq!(health.runs, 8);
    assert!(
        TcpStream::connect(listen).is_err(),
        "/metrics still served after the hook finished"
    );
    drop(stalled);
}
