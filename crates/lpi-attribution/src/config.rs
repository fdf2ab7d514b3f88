//! The switches of Gated-LPI. Each open choice of the method (DESIGN.md 2.2) is one switch; the
//! first variant of each is the documented default.

use burn::config::Config;

/// Where the MoE router gate enters the score.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum GatePlacement {
    /// The gate scales the neuron's vector before it is added: `v = g a w` (default).
    InsidePerturbation,
    /// The ungated vector `a w` is scored and the log-probability increase is multiplied by `g`.
    OutsideLog,
}

/// Which final-norm statistic reads out the perturbed residual.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum NormStatistic {
    /// Frozen at its value on the model's real final residual, as in the LPI code (default):
    /// residual -> logits is affine.
    Fixed,
    /// Recomputed on `h + v` (and on `h` for the baseline): the norm as the model would apply it.
    Recomputed,
}

/// Which token's log-probability is scored.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum TargetChoice {
    /// The probe's gold target token (default).
    Gold,
    /// The model's own top-1 prediction at the probe position, as in the LPI code.
    ModelTop1,
}

/// Which residual an FFN neuron's vector is added to. Heads always use the layer input.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum NeuronBaseline {
    /// The residual after the attention sub-layer, which the FFN actually writes into (default).
    PostAttention,
    /// The residual entering the layer.
    LayerInput,
}

/// How per-probe scores become one profile.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum ProbeReduction {
    /// Mean over probes (default).
    Mean,
    /// Sum over probes.
    Sum,
}

/// How the vocabulary log-sum-exp of every (probe, unit) pair is evaluated.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum LseKernel {
    /// The fused CPU kernel on the flex backend, burn tensor operations elsewhere (default).
    Auto,
    /// The fused CPU kernel (`lse` module): host memory, vectorised, multi-threaded.
    Fused,
    /// burn tensor operations on the device, chunked to `max_chunk_bytes`.
    Tensor,
}

/// Configuration of a Gated-LPI computation.
#[derive(Config, Debug)]
pub struct GatedLpiConfig {
    /// Where the router gate enters.
    #[config(default = "GatePlacement::InsidePerturbation")]
    pub gate: GatePlacement,
    /// Which final-norm statistic reads out perturbed residuals.
    #[config(default = "NormStatistic::Fixed")]
    pub norm_statistic: NormStatistic,
    /// Which token is scored.
    #[config(default = "TargetChoice::Gold")]
    pub target: TargetChoice,
    /// Which residual FFN neurons perturb.
    #[config(default = "NeuronBaseline::PostAttention")]
    pub baseline: NeuronBaseline,
    /// How probes are combined into a profile.
    #[config(default = "ProbeReduction::Mean")]
    pub reduction: ProbeReduction,
    /// How the exact log-sum-exp is evaluated.
    #[config(default = "LseKernel::Auto")]
    pub kernel: LseKernel,
    /// Bound on the working memory of one chunk of units, in bytes: the unit columns
    /// (`units x vocab` floats) and, on the tensor kernel, the perturbed logits
    /// (`probes x units x vocab` floats). Default 256 MiB.
    #[config(default = 268_435_456)]
    pub max_chunk_bytes: usize,
    /// Keep every probe's score, not only the reduced profile (`probes x units` floats).
    #[config(default = false)]
    pub keep_per_probe: bool,
}
