//! Exact, batched Gated-LPI attribution of FFN/expert neurons and attention heads on burn tensors.
//!
//! A model that implements [`Attributable`] hands over its residuals, head outputs, FFN
//! coefficients and routing at the probe positions ([`ModelCapture`]); [`GatedLpi`] turns them
//! into one log-probability-increase score per neuron and head ([`GatedLpiScores`]), named by
//! [`UnitId`]. The method and its switches are described in DESIGN.md section 2 and on
//! [`GatedLpiConfig`].
//!
//! ```no_run
//! # fn demo<M: lpi_attribution::Attributable>(model: &M, device: &burn::tensor::Device)
//! # -> Result<(), lpi_attribution::AttributionError> {
//! use lpi_attribution::{GatedLpiConfig, ProbeBatch};
//!
//! // "The capital of France is" -> " Paris", already tokenised.
//! let probes = ProbeBatch::from_prompts(vec![vec![464, 3139, 286, 4881, 318]], vec![6342])?;
//! let scores = GatedLpiConfig::new().init().attribute(model, &probes, device)?;
//! let profile = scores.neuron_profile(); // mean over probes, one value per neuron
//! # Ok(()) }
//! ```

mod capture;
mod config;
mod error;
mod gated_lpi;
mod knowledge;
pub mod lse;
mod naive;
mod unit;

pub use capture::{
    Attributable, FfnCapture, FinalNorm, HeadMasking, LayerCapture, ModelCapture, ProbeBatch,
    Readout,
};
pub use config::{
    GatePlacement, GatedLpiConfig, LseKernel, NeuronBaseline, NormStatistic, ProbeReduction,
    TargetChoice,
};
pub use error::AttributionError;
pub use gated_lpi::{GatedLpi, GatedLpiScores, PerProbeScores};
pub use knowledge::GoldReadout;
pub use naive::{NaiveScores, naive_gated_lpi};
pub use unit::{ParseUnitIdError, UnitId, UnitLayout};
