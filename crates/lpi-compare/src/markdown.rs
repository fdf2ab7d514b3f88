//! `comparison.md`: the summary table, the findings against the paper, and every probe run.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::comparison::{Comparison, ComparisonReport};
use crate::series::SeriesSummary;

/// A fraction as a percentage with one decimal (`0.6412` -> `64.1%`).
pub(crate) fn percent(fraction: f64) -> String {
    format!("{:.1}%", 100.0 * fraction)
}

/// A fraction as a whole percentage (`0.45` -> `45%`).
pub(crate) fn whole_percent(fraction: f64) -> String {
    format!("{:.0}%", 100.0 * fraction)
}

/// `top 1%` for q = 0.01.
pub(crate) fn top_q(q: f64) -> String {
    format!("top {}%", 100.0 * q)
}

fn or_dash<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or("–".to_string(), show)
}

/// The whole document.
pub(crate) fn render(comparison: &Comparison, report: &ComparisonReport) -> String {
    let mut md = String::new();
    let names: Vec<&str> = report.series.iter().map(|s| s.name.as_str()).collect();
    let _ = writeln!(md, "# Knowledge attribution: {}\n", names.join(" vs "));
    for (series, summary) in comparison.series().iter().zip(&report.series) {
        let from = series
            .run_dir
            .as_ref()
            .map_or(String::new(), |d| format!(" from `{}`", d.display()));
        let _ = writeln!(
            md,
            "- `{}`{from}: {}, {} FFN/expert neurons, {} heads; {} probe runs, steps {}–{}",
            summary.name,
            summary.architecture,
            summary.neurons,
            summary.heads,
            summary.runs,
            summary.first_step,
            summary.last_step
        );
    }
    let _ = writeln!(
        md,
        "\nq = {}, consolidation: Spearman stability against the previous run >= {} for {} runs in a row.\n",
        report.q, report.tau, report.consolidation_window
    );
    summary_table(&mut md, report);
    if !report.findings.is_empty() {
        let _ = writeln!(md, "\n## Against the paper\n");
        for f in &report.findings {
            let _ = writeln!(
                md,
                "- **{}: {}.** Paper: {}. Here: {}.",
                f.pattern,
                f.verdict(),
                f.paper,
                f.observed
            );
        }
    }
    let _ = writeln!(md, "\n## Every probe run\n");
    run_table(&mut md, comparison, report.q);
    md
}

fn summary_table(md: &mut String, report: &ComparisonReport) {
    let top = top_q(report.q);
    let row = |md: &mut String, label: &str, cell: &dyn Fn(&SeriesSummary) -> String| {
        let cells: Vec<String> = report.series.iter().map(cell).collect();
        let _ = writeln!(md, "| {label} | {} |", cells.join(" | "));
    };
    let header: Vec<&str> = report.series.iter().map(|s| s.name.as_str()).collect();
    let _ = writeln!(md, "| | {} |", header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(header.len()));
    row(md, "HIT@10, first → last run", &|s| {
        format!(
            "{} → {}",
            percent(s.hit_at_10_first),
            percent(s.hit_at_10_last)
        )
    });
    row(
        md,
        &format!("**1. Backbone:** {top} share of positive updates"),
        &|s| or_dash(s.positive_updates_top_share, percent),
    );
    row(md, &format!("{top} share of positive importance"), &|s| {
        percent(s.positive_top_share)
    });
    row(md, "normalised entropy of positive importance", &|s| {
        format!("{:.3}", s.entropy)
    });
    row(md, "**2. Consolidation step**", &|s| {
        or_dash(s.consolidation_step, |step| step.to_string())
    });
    row(md, "stability vs previous run, last / highest", &|s| {
        format!(
            "{} / {}",
            or_dash(s.stability_last, |v| format!("{v:.3}")),
            or_dash(s.stability_max, |v| format!("{v:.3}"))
        )
    });
    row(
        md,
        "**3. Robustness:** HIT@10 drop, top heads masked: mean over runs (last run)",
        &|s| {
            or_dash(s.masking.as_ref(), |m| {
                format!(
                    "{} ({}); top {} of {}, {} runs",
                    or_dash(m.mean_top_drop, percent),
                    or_dash(m.top_drop, percent),
                    m.heads_masked,
                    s.heads,
                    m.measured_runs
                )
            })
        },
    );
    row(
        md,
        "HIT@10 drop, as many random heads masked: mean (last run)",
        &|s| {
            or_dash(s.masking.as_ref(), |m| {
                format!(
                    "{} ({})",
                    or_dash(m.mean_random_drop, percent),
                    or_dash(m.random_drop, percent)
                )
            })
        },
    );
}

fn run_table(md: &mut String, comparison: &Comparison, q: f64) {
    let steps: BTreeSet<u64> = comparison
        .series()
        .iter()
        .flat_map(|s| s.history.iter().map(|r| r.step))
        .collect();
    let columns = [
        "HIT@10".to_string(),
        format!("{} of updates", top_q(q)),
        "stability".to_string(),
        "top-heads drop".to_string(),
        "random drop".to_string(),
    ];
    let mut header = vec!["step".to_string()];
    for s in comparison.series() {
        header.extend(columns.iter().map(|c| format!("{} {c}", s.name)));
    }
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
    for step in steps {
        let mut cells = vec![step.to_string()];
        for s in comparison.series() {
            match s.history.iter().find(|r| r.step == step) {
                Some(r) => {
                    let rb = r.robustness.as_ref();
                    cells.push(percent(r.readouts.overall.hit_at_10));
                    cells.push(or_dash(r.positive_updates_top_share, percent));
                    cells.push(or_dash(r.vs_previous, |v| format!("{:.3}", v.spearman)));
                    cells.push(or_dash(rb.and_then(|rb| rb.top_drop), percent));
                    cells.push(or_dash(rb.and_then(|rb| rb.random_drop), percent));
                }
                None => cells.extend(std::iter::repeat_n("–".to_string(), columns.len())),
            }
        }
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
}
