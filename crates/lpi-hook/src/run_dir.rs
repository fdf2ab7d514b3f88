//! The run directory: the series state (written atomically), the append-only history and the
//! full-profile snapshots. Its layout and formats are documented in the crate docs.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use lpi_attribution::UnitLayout;
use lpi_stats::{Consolidation, PositiveUpdates};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::{SafeTensors, serialize};
use serde::{Deserialize, Serialize};

use crate::analysis::{KeptProfile, Series};
use crate::error::HookError;
use crate::report::ProbeRunReport;

const STATE_FILE: &str = "state.safetensors";
/// The run directory's history: one JSON report per probe run ([`read_history`]).
pub const HISTORY_FILE: &str = "history.jsonl";
const SNAPSHOT_DIR: &str = "snapshots";
const STATE_KEY: &str = "state";
/// Value of the `format` metadata key of snapshots.
pub const SNAPSHOT_FORMAT: &str = "lpi-profile/1";
const STATE_FORMAT: u32 = 1;

/// The counters of a series, stored as JSON in the state file's metadata.
#[derive(Debug, Serialize, Deserialize)]
struct SeriesMeta {
    format: u32,
    layers: usize,
    experts: usize,
    neurons_per_expert: usize,
    heads: usize,
    runs: u64,
    previous_step: Option<u64>,
    reference_step: Option<u64>,
    updates_runs: u64,
    consolidation: Consolidation,
}

/// A snapshot read back: the full profiles of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Optimizer step of the run.
    pub step: u64,
    /// Run index in the series.
    pub run: u64,
    /// The model's units.
    pub layout: UnitLayout,
    /// Neuron profile, canonical order.
    pub neurons: Vec<f32>,
    /// Head profile, canonical order.
    pub heads: Vec<f32>,
}

/// The hook's directory.
#[derive(Debug, Clone)]
pub(crate) struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates the directory (and `snapshots/`) and checks that it is writable.
    pub(crate) fn create(path: &Path) -> Result<Self, HookError> {
        let err = |source| HookError::RunDir {
            path: path.to_path_buf(),
            source,
        };
        fs::create_dir_all(path.join(SNAPSHOT_DIR)).map_err(err)?;
        let probe = path.join(".write-test");
        fs::write(&probe, b"ok").map_err(err)?;
        fs::remove_file(&probe).map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the state file with the series as it stands.
    pub(crate) fn save_series(&self, series: &Series) -> io::Result<()> {
        let layout = series.layout;
        let meta = SeriesMeta {
            format: STATE_FORMAT,
            layers: layout.layers,
            experts: layout.experts,
            neurons_per_expert: layout.neurons_per_expert,
            heads: layout.heads,
            runs: series.runs,
            previous_step: series.previous.as_ref().map(|p| p.step),
            reference_step: series.reference.as_ref().map(|p| p.step),
            updates_runs: series.updates.runs(),
            consolidation: series.consolidation.clone(),
        };
        let mut tensors: Vec<(String, Dtype, Vec<u8>, Vec<usize>)> = Vec::new();
        let mut add = |name: &str, values: &[f32]| {
            tensors.push((
                name.to_string(),
                Dtype::F32,
                f32_bytes(values),
                vec![values.len()],
            ));
        };
        if let Some(p) = &series.previous {
            add("previous.neurons", &p.neurons);
            add("previous.heads", &p.heads);
        }
        if let Some(r) = &series.reference {
            add("reference.neurons", &r.neurons);
            add("reference.heads", &r.heads);
        }
        let accumulated = series.updates.accumulated();
        tensors.push((
            "updates.accumulated".to_string(),
            Dtype::F64,
            f64_bytes(accumulated),
            vec![accumulated.len()],
        ));
        let metadata = HashMap::from([(
            STATE_KEY.to_string(),
            serde_json::to_string(&meta).map_err(io::Error::other)?,
        )]);
        let bytes = serialize_tensors(&tensors, metadata)?;
        write_atomically(&self.path.join(STATE_FILE), &bytes)
    }

    /// The saved series, if the directory has one. `Ok(None)` for a fresh directory.
    pub(crate) fn load_series(&self) -> Result<Option<Series>, HookError> {
        let path = self.path.join(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(HookError::RunDir { path, source: e }),
        };
        let bad = |reason: String| HookError::State {
            path: path.clone(),
            reason,
        };
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let meta_json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(STATE_KEY))
            .ok_or_else(|| bad(format!("no `{STATE_KEY}` metadata")))?;
        let meta: SeriesMeta = serde_json::from_str(meta_json).map_err(|e| bad(e.to_string()))?;
        if meta.format != STATE_FORMAT {
            return Err(bad(format!(
                "state format {} (this version reads {STATE_FORMAT})",
                meta.format
            )));
        }
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let read_bytes = |name: &str, dtype: Dtype| -> Result<Option<&[u8]>, HookError> {
            match tensors.tensor(name) {
                Ok(view) if view.dtype() == dtype => Ok(Some(view.data())),
                Ok(view) => Err(bad(format!(
                    "tensor `{name}` is {:?}, not {dtype:?}",
                    view.dtype()
                ))),
                Err(safetensors::SafeTensorError::TensorNotFound(_)) => Ok(None),
                Err(e) => Err(bad(format!("tensor `{name}`: {e}"))),
            }
        };
        let read = |name: &str| Ok::<_, HookError>(read_bytes(name, Dtype::F32)?.map(f32_values));
        let layout = UnitLayout {
            layers: meta.layers,
            experts: meta.experts,
            neurons_per_expert: meta.neurons_per_expert,
            heads: meta.heads,
        };
        let kept = |step: Option<u64>, prefix: &str| -> Result<Option<KeptProfile>, HookError> {
            let Some(step) = step else {
                return Ok(None);
            };
            let (Some(neurons), Some(heads)) = (
                read(&format!("{prefix}.neurons"))?,
                read(&format!("{prefix}.heads"))?,
            ) else {
                return Err(bad(format!(
                    "the `{prefix}` profile of step {step} is missing"
                )));
            };
            if neurons.len() != layout.num_neurons() || heads.len() != layout.num_heads() {
                return Err(bad(format!("`{prefix}` profile does not match the layout")));
            }
            Ok(Some(KeptProfile::new(step, neurons, heads, &layout)))
        };
        let previous = kept(meta.previous_step, "previous")?;
        let reference = kept(meta.reference_step, "reference")?;
        let accumulated: Vec<f64> = read_bytes("updates.accumulated", Dtype::F64)?
            .map(f64_values)
            .unwrap_or_default();
        let updates = PositiveUpdates::from_parts(
            accumulated,
            previous
                .as_ref()
                .map(|p| p.neurons.clone())
                .unwrap_or_default(),
            meta.updates_runs,
        )
        .map_err(|e| bad(format!("positive updates: {e}")))?;
        Ok(Some(Series {
            layout,
            runs: meta.runs,
            previous,
            reference,
            updates,
            consolidation: meta.consolidation,
        }))
    }

    /// Appends one report to the history.
    /// A failed write (a full disk) is cut back off, so the next append starts on a fresh line.
    pub(crate) fn append_history(&self, report: &ProbeRunReport) -> io::Result<()> {
        let mut line = serde_json::to_vec(report).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join(HISTORY_FILE))?;
        let before = file.metadata()?.len();
        let written = file.write_all(&line).and_then(|()| file.sync_data());
        if written.is_err() {
            let _ = file.set_len(before);
        }
        written
    }

    /// The history of the first `runs` runs, rewritten without torn or surplus lines.
    pub(crate) fn load_history(&self, runs: u64) -> Result<Vec<ProbeRunReport>, HookError> {
        let path = self.path.join(HISTORY_FILE);
        let mut history = read_history(&self.path)?;
        // Lines of runs the state never recorded (a crash between the two writes).
        history.retain(|report| report.run <= runs);
        let mut text = Vec::new();
        for report in &history {
            text.extend(serde_json::to_vec(report).map_err(|e| HookError::State {
                path: path.clone(),
                reason: e.to_string(),
            })?);
            text.push(b'\n');
        }
        write_atomically(&path, &text).map_err(|source| HookError::RunDir { path, source })?;
        Ok(history)
    }

    /// Removes the state, history and snapshots of an earlier series.
    pub(crate) fn clear(&self) -> Result<(), HookError> {
        let remove = |name: &str, is_dir: bool| {
            let path = self.path.join(name);
            let removed = if is_dir {
                fs::remove_dir_all(&path).and_then(|()| fs::create_dir(&path))
            } else {
                fs::remove_file(&path)
            };
            match removed {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    Err(HookError::RunDir { path, source: e })
                }
                _ => Ok(()),
            }
        };
        remove(STATE_FILE, false)?;
        remove(HISTORY_FILE, false)?;
        remove(SNAPSHOT_DIR, true)
    }

    /// Writes the full profiles of run `run` (kept by the series) as a snapshot; returns its
    /// path.
    pub(crate) fn write_snapshot(
        &self,
        run: u64,
        profile: &KeptProfile,
        layout: UnitLayout,
        probes: usize,
        reduction: &str,
    ) -> io::Result<PathBuf> {
        let tensors = vec![
            (
                "neurons".to_string(),
                Dtype::F32,
                f32_bytes(&profile.neurons),
                vec![layout.layers, layout.experts, layout.neurons_per_expert],
            ),
            (
                "heads".to_string(),
                Dtype::F32,
                f32_bytes(&profile.heads),
                vec![layout.layers, layout.heads],
            ),
        ];
        let metadata = HashMap::from([
            ("format".to_string(), SNAPSHOT_FORMAT.to_string()),
            ("step".to_string(), profile.step.to_string()),
            ("run".to_string(), run.to_string()),
            ("probes".to_string(), probes.to_string()),
            ("reduction".to_string(), reduction.to_string()),
        ]);
        let path = self
            .path
            .join(SNAPSHOT_DIR)
            .join(format!("step-{:010}.safetensors", profile.step));
        write_atomically(&path, &serialize_tensors(&tensors, metadata)?)?;
        Ok(path)
    }
}

/// Reads the history of the run directory `run_dir`: one report per probe run, in order. A last
/// line torn by a crash is left out; any other unreadable line is an error naming it.
pub fn read_history(run_dir: impl AsRef<Path>) -> Result<Vec<ProbeRunReport>, HookError> {
    let path = run_dir.as_ref().join(HISTORY_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(HookError::RunDir { path, source }),
    };
    let lines: Vec<&[u8]> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut history = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_slice::<ProbeRunReport>(line) {
            Ok(report) => history.push(report),
            Err(_) if i + 1 == lines.len() && !bytes.ends_with(b"\n") => break,
            Err(e) => {
                return Err(HookError::State {
                    path: path.clone(),
                    reason: format!("line {}: {e}", i + 1),
                });
            }
        }
    }
    Ok(history)
}

/// Reads a snapshot written by the hook.
pub fn read_snapshot(path: impl AsRef<Path>) -> Result<Snapshot, HookError> {
    let path = path.as_ref();
    let bad = |reason: String| HookError::State {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = fs::read(path).map_err(|source| HookError::RunDir {
        path: path.to_path_buf(),
        source,
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(SNAPSHOT_FORMAT) {
        return Err(bad(format!("not a `{SNAPSHOT_FORMAT}` snapshot")));
    }
    let number = |key: &str| -> Result<u64, HookError> {
        meta.get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(format!("metadata `{key}` missing or not a number")))
    };
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let neurons = tensors.tensor("neurons").map_err(|e| bad(e.to_string()))?;
    let heads = tensors.tensor("heads").map_err(|e| bad(e.to_string()))?;
    let (&[layers, experts, neurons_per_expert], &[_, head_count]) =
        (neurons.shape(), heads.shape())
    else {
        return Err(bad("tensor shapes are not [L, E, n] and [L, H]".into()));
    };
    Ok(Snapshot {
        step: number("step")?,
        run: number("run")?,
        layout: UnitLayout {
            layers,
            experts,
            neurons_per_expert,
            heads: head_count,
        },
        neurons: f32_values(neurons.data()),
        heads: f32_values(heads.data()),
    })
}

fn serialize_tensors(
    tensors: &[(String, Dtype, Vec<u8>, Vec<usize>)],
    metadata: HashMap<String, String>,
) -> io::Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(name, dtype, bytes, shape)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (name.as_str(), view))
                .map_err(io::Error::other)
        })
        .collect::<io::Result<Vec<_>>>()?;
    serialize(views, Some(metadata)).map_err(io::Error::other)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    // Make the rename itself durable.
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f64_values(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8-byte chunks")))
        .collect()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
