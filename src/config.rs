//! The hook and its live telemetry from one config.

use burn::config::Config;
use lpi_hook::{HookError, LpiHook, LpiHookConfig, ProbedModel};
use lpi_probes::ProbeTokenizer;
use lpi_telemetry::{DEFAULT_RUN_LABEL, Telemetry, TelemetryConfig, TelemetryError};

/// The hook's config and, optionally, its telemetry's: what a training script needs to build
/// one [`LpiHook`] that also serves `/metrics` (and pushes OTLP). A burn [`Config`], so it
/// saves and loads as JSON.
///
/// The telemetry's `q` label is always the hook's `q`, and a `run` label left at its default
/// becomes the run directory's name.
///
/// ```no_run
/// use burn_lpi::{LpiConfig, LpiHookConfig};
/// use burn_lpi::telemetry::TelemetryConfig;
/// # use burn_lpi::models::TransformerConfig;
/// # fn main() -> Result<(), burn_lpi::BuildError> {
/// # let model = TransformerConfig::new(64, 32, 2, 4, 64, 8).init(&burn::tensor::Device::flex());
/// let config = LpiConfig::new(
///     LpiHookConfig::new("probes.jsonl".into(), "runs/moe-7".into())
///         .with_tokenizer(Some("tokenizer.json".into())),
/// )
/// .with_telemetry(Some(TelemetryConfig::new("moe-7", "moe-8x4")));
/// // A taken /metrics port or a bad probe file fails here, before training starts.
/// let mut hook = config.build(&model)?;
/// // ... hook.after_step(&model) after every optimizer step ...
/// hook.finish(); // also stops the telemetry
/// # Ok(())
/// # }
/// ```
#[derive(Config, Debug)]
pub struct LpiConfig {
    /// The hook.
    pub hook: LpiHookConfig,
    /// Live telemetry (`/metrics`, OTLP push); `None`: the hook only writes its run directory.
    #[config(default = "None")]
    pub telemetry: Option<TelemetryConfig>,
}

/// Why [`LpiConfig::build`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The telemetry could not start (a `/metrics` port in use, bad OTLP settings).
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// The hook could not be built (probes, run directory, config).
    #[error(transparent)]
    Hook(#[from] HookError),
}

impl LpiConfig {
    /// Starts the telemetry (binding `/metrics` first, so a taken port fails before anything
    /// else), builds the hook with the config's `tokenizer` and attaches the telemetry to it;
    /// the telemetry stops when the hook finishes.
    ///
    /// # Errors
    /// [`BuildError::Telemetry`] or [`BuildError::Hook`]; nothing is left running.
    pub fn build<M: ProbedModel>(self, model: &M) -> Result<LpiHook, BuildError> {
        self.build_hook(|hook| LpiHook::new(hook, model))
    }

    /// [`Self::build`] with the caller's tokenizer.
    ///
    /// # Errors
    /// As [`Self::build`].
    pub fn build_with_tokenizer<M: ProbedModel>(
        self,
        tokenizer: &dyn ProbeTokenizer,
        model: &M,
    ) -> Result<LpiHook, BuildError> {
        self.build_hook(|hook| LpiHook::with_tokenizer(hook, tokenizer, model))
    }

    /// The telemetry config as the hook will use it (`q` and `run` filled in from the hook's).
    pub fn telemetry_config(&self) -> Option<TelemetryConfig> {
        let mut telemetry = self.telemetry.clone()?;
        telemetry.q = self.hook.q;
        if telemetry.run == DEFAULT_RUN_LABEL
            && let Some(name) = self.hook.run_dir.file_name()
        {
            telemetry.run = name.to_string_lossy().into_owned();
        }
        Some(telemetry)
    }

    fn build_hook(
        self,
        build: impl FnOnce(LpiHookConfig) -> Result<LpiHook, HookError>,
    ) -> Result<LpiHook, BuildError> {
        let telemetry = self.telemetry_config().map(Telemetry::new).transpose()?;
        let mut hook = build(self.hook)?;
        if let Some(telemetry) = telemetry {
            telemetry.attach(&mut hook);
        }
        Ok(hook)
    }
}
