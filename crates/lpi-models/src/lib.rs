//! Reference dense and Mixture-of-Experts decoder transformers in burn that expose Gated-LPI
//! captures.
//!
//! [`TransformerConfig`] builds a [`Transformer`] (RMSNorm or OLMo's non-parametric LayerNorm,
//! RoPE, optional QK-norm, dense SwiGLU or OLMoE-style MoE FFN, untied unembedding). It trains with
//! burn's optimizers like any burn module and implements [`lpi_attribution::Attributable`].
//! [`Ablation`] zeroes chosen neurons and heads in its forward pass.
//!
//! ```
//! use burn::tensor::{Device, Int, Tensor};
//! use lpi_models::{MoeConfig, TransformerConfig};
//!
//! let device = Device::flex();
//! let model = TransformerConfig::new(64, 32, 2, 4, 48, 16)
//!     .with_moe(Some(MoeConfig::new(4, 2)))
//!     .init(&device);
//! let tokens = Tensor::<2, Int>::from_ints([[1, 2, 3]], &device);
//! assert_eq!(model.forward(tokens).dims(), [1, 3, 64]);
//! ```

mod ablation;
mod capture;
pub mod synthetic;
mod transformer;

pub use ablation::Ablation;
pub use transformer::{
    Attention, DecoderLayer, Ffn, MoeConfig, MoeFfn, NonParametricLayerNorm, Norm, NormKind,
    RopeTables, SwiGlu, Transformer, TransformerConfig,
};
