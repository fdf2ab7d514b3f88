//! Watch knowledge form inside a burn model while it trains.
//!
//! `burn-lpi` computes Gated-LPI, a log-probability-increase attribution gated by the MoE router,
//! for every FFN/expert neuron and attention head of a language model over a probe set of
//! relational facts, and turns the importance profile into time series while the model trains.
//! This facade re-exports the parts:
//!
//! - [`hook`]: the training hook ([`LpiHook`]) and its run directory;
//! - [`probes`]: probe sets, validation, tokenisation and knowledge readouts;
//! - [`stats`]: statistics of importance profiles (concentration, entropy, stability);
//! - [`telemetry`]: Prometheus export of every probe run (a hook observer and a /metrics server);
//! - [`attribution`]: the capture trait, the batched exact Gated-LPI and its naive reference;
//! - [`models`]: reference dense and MoE transformers that implement the capture trait;
//! - [`compare`]: several models' probe-run series side by side (the paper's three patterns as a
//!   table and PNG plots);
//! - [`corpus`]: the demo's embedded training data (real-entity facts in English prose) and
//!   tokenizer.
//!
//! [`LpiConfig`] builds the hook and its telemetry from one config: the one call a training
//! script needs before its loop.

mod config;

pub use config::{BuildError, LpiConfig};
pub use lpi_attribution as attribution;
pub use lpi_compare as compare;
pub use lpi_corpus as corpus;
pub use lpi_hook as hook;
pub use lpi_models as models;
pub use lpi_probes as probes;
pub use lpi_stats as stats;
pub use lpi_telemetry as telemetry;

pub use lpi_attribution::{
    Attributable, AttributionError, GatedLpi, GatedLpiConfig, GatedLpiScores, HeadMasking,
    ProbeBatch, UnitId, UnitLayout,
};
pub use lpi_hook::{LpiHook, LpiHookConfig, ProbeRunObserver, ProbeRunReport, SharedHook};
