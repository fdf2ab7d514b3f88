//! Statistics of importance profiles: plain Rust on host `f32` slices, no burn.
//!
//! A *profile* is a `&[f32]` with one signed importance value per unit (an FFN/expert neuron or an
//! attention head) in canonical unit order. The *positive part* of a value is `max(x, 0)`. This crate
//! computes the statistics of DESIGN.md section 2.4:
//!
//! - concentration ([`summarize`], [`lorenz_curve`], [`group_shares`]): top-q positive share,
//!   normalised entropy and Gini coefficient of the positive parts, each group's (layer's, expert's)
//!   share of the positive mass;
//! - rank stability between two profiles ([`RankedProfile`], [`spearman`], [`top_k_jaccard`],
//!   [`rank_biased_overlap`], [`stability`], [`group_spearman`]);
//! - accumulated positive updates ([`PositiveUpdates`]);
//! - the consolidation step ([`Consolidation`]).
//!
//! Inputs must be finite (the attribution produces finite values); this is checked with
//! `debug_assert!` only, because the checks would cost as much as some of the statistics.
//!
//! Sorting is the expensive part, so a profile is ranked once ([`RankedProfile::new`]) and the ranking
//! is reused for its summary, its Lorenz curve and every comparison against it.
//!
//! ```
//! use lpi_stats::{RankedProfile, default_rbo_persistence, stability, top_k_count};
//!
//! let previous = [0.9_f32, 0.0, 0.3, -0.1, 0.5, 0.0];
//! let current = [1.0_f32, 0.0, 0.2, -0.2, 0.6, 0.1];
//! let (prev, cur) = (RankedProfile::new(&previous), RankedProfile::new(&current));
//!
//! let summary = cur.summary(0.2);
//! assert_eq!(summary.positive_units, 4);
//! assert!((summary.top_share - 1.6 / 1.9).abs() < 1e-6); // top 2 of 6 units hold (1.0 + 0.6) of 1.9
//!
//! let k = top_k_count(current.len(), 0.34); // 3 units
//! let s = stability(&cur, &prev, k, default_rbo_persistence(k));
//! assert_eq!(s.jaccard, 1.0); // same top-3 set {0, 4, 2}
//! assert!(s.spearman > 0.8 && s.rbo > 0.8);
//! ```

mod concentration;
mod consolidation;
mod error;
mod ranking;
mod updates;

pub use concentration::{
    LorenzPoint, ProfileSummary, group_shares, lorenz_curve, summarize, top_k_count,
};
pub use consolidation::Consolidation;
pub use error::StatsError;
pub use ranking::{
    GroupRanks, RankedProfile, Stability, default_rbo_persistence, group_spearman,
    group_spearman_slices, rank_biased_overlap, spearman, stability, top_k_jaccard,
};
pub use updates::PositiveUpdates;
