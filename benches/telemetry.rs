//! The telemetry's cost to training and its `/metrics` latency under load, in real training runs.
//!
//! Trains the tiny MoE (d=64, 2 layers, 4 experts top-2) on 256 synthetic facts with the hook
//! probing every 20 steps, alternating runs with the telemetry attached (built by `LpiConfig`)
//! and without it, and reports:
//!
//! - hand-over: the training thread's time per probe run beyond the probe's own device work
//!   (step counting, cadence, the host copy's hand-over to the worker, which records the run
//!   into the telemetry), with and without the telemetry; target at most 1 ms;
//! - `/metrics` latency: a load generator on loopback sends `GET /metrics` at 100 requests/s on
//!   one keep-alive connection for the whole training run (open loop: each request's latency
//!   is counted from the time it was due, so a slow answer also delays the ones behind it),
//!   and once more for a few seconds after training; p50, p99 and max; target p99 at most 5 ms.
//!   The tiny model's exposition is small, so the same load also runs against a telemetry
//!   holding the report of a 64-layer x 64-expert model (41 relations, default caps), re-recorded
//!   every second (far more often than probe runs come), during one more training run; and the
//!   time of one fresh rendering of it (the server renders again only when something changed).
//!
//! ```text
//! cargo bench --bench telemetry
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use burn_lpi::LpiConfig;
use burn_lpi::hook::{HealthSnapshot, LpiHook, ProbeRunObserver};
use burn_lpi::models::Transformer;
use burn_lpi::telemetry::{Telemetry, TelemetryConfig};

mod common;
use common::Setup;

/// The telemetry tests' full probe-run report of a model of any shape.
#[path = "../crates/lpi-telemetry/tests/common/mod.rs"]
mod report_fixture;

const STEPS: u64 = 3000;
const EVERY: u64 = 20;
const REPEATS: usize = 3;
const RATE_PER_S: u32 = 100;
const IDLE: Duration = Duration::from_secs(5);

/// Trains `STEPS` steps with the hook; returns its counters once it has handled every run.
fn train(setup: &Setup, hook: &mut LpiHook) -> HealthSnapshot {
    setup.train(STEPS, |model| hook.after_step(model));
    hook.flush();
    hook.health()
}

/// One keep-alive HTTP/1.1 connection to `/metrics`.
struct Scraper {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Scraper {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect to /metrics");
        stream.set_nodelay(true).expect("nodelay");
        let writer = stream.try_clone().expect("clone the stream");
        Self {
            addr,
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// One GET; returns the body's length.
    fn get(&mut self) -> usize {
        write!(
            self.writer,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.addr
        )
        .expect("send");
        let mut status = String::new();
        self.reader.read_line(&mut status).expect("status line");
        assert!(status.contains(" 200 "), "/metrics answered {status:?}");
        let mut length = None;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().ok();
            }
        }
        let length = length.expect("/metrics answers with a content-length");
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        length
    }
}

/// Open-loop load at `RATE_PER_S` until `stop` is set: each request's latency is measured from
/// the time it was due. Returns the latencies and the last body's size.
fn load(addr: SocketAddr, stop: &AtomicBool) -> (Vec<Duration>, usize) {
    let mut scraper = Scraper::connect(addr);
    let interval = Duration::from_secs(1) / RATE_PER_S;
    let start = Instant::now();
    let (mut latencies, mut bytes) = (Vec::new(), 0);
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let due = start + interval * i;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        bytes = scraper.get();
        latencies.push(due.elapsed());
    }
    (latencies, bytes)
}

/// Runs `load` on its own thread while `work` runs, then stops it.
fn under_load<T>(addr: SocketAddr, work: impl FnOnce() -> T) -> (T, Vec<Duration>, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let generator = {
        let stop = stop.clone();
        thread::spawn(move || load(addr, &stop))
    };
    let out = work();
    stop.store(true, Ordering::Relaxed);
    let (latencies, bytes) = generator.join().expect("the load generator");
    (out, latencies, bytes)
}

/// Median, 99th percentile and maximum of `xs`, `what` being what was timed.
fn percentiles(mut xs: Vec<Duration>, what: &str) -> String {
    xs.sort();
    let at = |q: f64| xs[((xs.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} {what}",
        at(0.5),
        at(0.99),
        at(1.0),
        xs.len()
    )
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let setup = Setup::new();
    let shape: Transformer = setup.model_config().init(&Device::flex());
    let hook = |name: String, listen: Option<SocketAddr>| {
        let config = setup.hook_config(&name, EVERY);
        let telemetry = listen.map(|addr| TelemetryConfig::new("bench", "moe").with_listen(addr));
        LpiConfig::new(config)
            .with_telemetry(telemetry)
            .build_with_tokenizer(&setup.tokenizer, &shape)
            .expect("hook builds")
    };
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
    };
    let per_run =
        |h: &HealthSnapshot| (h.training_thread - h.probe_work).as_secs_f64() / h.runs as f64;

    let (mut with, mut without) = (Vec::new(), Vec::new());
    let (mut training_latencies, mut idle_latencies, mut bytes) = (Vec::new(), Vec::new(), 0);
    for repeat in 0..REPEATS {
        // Alternate the order so drift in the machine's speed does not favour one variant.
        for telemetry in [repeat % 2 == 0, repeat % 2 == 1] {
            if !telemetry {
                let health = train(&setup, &mut hook(format!("without-{repeat}"), None));
                without.push(per_run(&health));
                continue;
            }
            let addr = free_port();
            let mut hooked = hook(format!("with-{repeat}"), Some(addr));
            let (health, latencies, size) = under_load(addr, || train(&setup, &mut hooked));
            training_latencies.extend(latencies);
            // The telemetry lives as long as the hook: measure it once more, idle.
            let ((), idle, _) = under_load(addr, || thread::sleep(IDLE));
            idle_latencies.extend(idle);
            drop(hooked);
            bytes = size;
            with.push(per_run(&health));
            println!(
                "repeat {repeat}: {} probe runs, hand-over {:.1} us per run with telemetry",
                health.runs,
                1e6 * per_run(&health)
            );
        }
    }
    // A 64 x 64 model's series, scraped while the tiny model trains (its hook without telemetry).
    let large = Telemetry::new(
        TelemetryConfig::new("bench-64x64", "moe-64x64")
            .with_listen("127.0.0.1:0".parse().unwrap()),
    )
    .expect("telemetry");
    let large_report = report_fixture::report(64, 64, 41, 20);
    let mut observer = large.observer();
    observer.on_run(&large_report);
    let stop = Arc::new(AtomicBool::new(false));
    let recorder = {
        let (stop, report) = (stop.clone(), large_report.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_secs(1));
                observer.on_run(&report);
            }
        })
    };
    let (_, large_latencies, large_bytes) = under_load(large.local_addr(), || {
        train(&setup, &mut hook("large".into(), None))
    });
    stop.store(true, Ordering::Relaxed);
    recorder.join().expect("the recorder");
    // A rendering right after a probe run (nothing cached), idle.
    let mut observer = large.observer();
    let fresh: Vec<Duration> = (0..50)
        .map(|_| {
            observer.on_run(&large_report);
            let started = Instant::now();
            large.render().expect("render");
            started.elapsed()
        })
        .collect();
    large.shutdown();

    println!();
    println!(
        "{STEPS} steps, probes every {EVERY} steps (256 probes), median of {REPEATS} runs each:"
    );
    println!(
        "  training-thread cost per probe run beyond its device work: {:.1} us with telemetry, {:.1} us without (target <= 1 ms)",
        1e6 * median(with),
        1e6 * median(without)
    );
    println!("  /metrics ({bytes} bytes) at {RATE_PER_S} requests/s:");
    println!(
        "    while training: {} (target p99 <= 5 ms)",
        percentiles(training_latencies, "requests")
    );
    println!(
        "    after training, hook idle: {}",
        percentiles(idle_latencies, "requests")
    );
    println!(
        "  /metrics of a 64-layer x 64-expert model ({large_bytes} bytes) at {RATE_PER_S} requests/s while training, a new report every second: {}",
        percentiles(large_latencies, "requests")
    );
    println!(
        "    a fresh rendering of it (after a probe run, idle): {}",
        percentiles(fresh, "renderings")
    );
}
