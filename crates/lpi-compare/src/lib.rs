//! Probe-run series of several models side by side: the paper's three patterns (the top-1%
//! share of positive updates, the consolidation step, and the HIT@10 drop when the most
//! important heads are masked against random heads) as a table and PNG plots over training
//! steps.
//!
//! ```no_run
//! use lpi_compare::{Comparison, Series};
//!
//! let comparison = Comparison::new(vec![
//!     Series::load("moe", "runs/compare/moe")?,
//!     Series::load("dense", "runs/compare/dense")?,
//! ])?;
//! for path in comparison.write("runs/compare")? {
//!     println!("wrote {}", path.display());
//! }
//! # Ok::<(), lpi_compare::CompareError>(())
//! ```
//!
//! [`Comparison::write`] writes `comparison.md` (the summary table, the findings against the
//! paper, every probe run), `comparison.json` (the same, for programs), `comparison.png` (all
//! four plots) and one PNG per plot: `backbone.png`, `consolidation.png`, `robustness.png` and
//! `knowledge.png`.

mod comparison;
mod error;
mod markdown;
mod plot;
mod series;

pub use comparison::{
    BACKBONE_SHARE, BRITTLE_DROP, Comparison, ComparisonReport, Finding, OUTPUT_FILES, ROBUST_DROP,
};
pub use error::CompareError;
pub use series::{Architecture, MaskingSummary, Series, SeriesSummary};
