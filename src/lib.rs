//! Watch knowledge form inside a burn model while it trains.
//!
//! `burn-lpi` computes Gated-LPI, a log-probability-increase attribution gated by the MoE router,
//! for every FFN/expert neuron and attention head of a language model over a probe set of
//! relational facts. This facade re-exports the parts:
//!
//! - [`attribution`]: the capture trait, the batched exact Gated-LPI and its naive reference;
//! - [`models`]: reference dense and MoE transformers that implement the capture trait.

pub use lpi_attribution as attribution;
pub use lpi_models as models;

pub use lpi_attribution::{
    Attributable, AttributionError, GatedLpi, GatedLpiConfig, GatedLpiScores, ProbeBatch, UnitId,
    UnitLayout,
};
