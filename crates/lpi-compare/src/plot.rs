//! PNG plots over training steps, one line per series: the three patterns and the knowledge
//! readout, drawn with plotters into a memory buffer and encoded with `png`. The text uses an
//! embedded font (Go Regular, BSD-3-Clause: `fonts/LICENSE-Go-font`), so no system font is
//! needed.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::comparison::{BACKBONE_SHARE, BRITTLE_DROP, ROBUST_DROP};
use crate::markdown::{top_q, whole_percent};
use crate::series::Series;

/// The embedded font's family name.
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../fonts/Go-Regular.ttf");
static REGISTER: Once = Once::new();

/// Okabe-Ito colours (distinguishable with colour-blindness), one per series.
const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
];
const GREY: RGBColor = RGBColor(120, 120, 120);

/// A figure a comparison writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Figure {
    /// All four panels in a 2x2 grid.
    Overview,
    /// Pattern 1: top-q share of positive updates (and of positive importance).
    Backbone,
    /// Pattern 2: stability against the previous run, tau and the consolidation steps.
    Consolidation,
    /// Pattern 3: HIT@10 drop with the top heads masked, next to random heads.
    Robustness,
    /// HIT@10 over steps.
    Knowledge,
}

/// The PNG files and what they show.
pub(crate) const FIGURES: [(&str, Figure); 5] = [
    ("comparison.png", Figure::Overview),
    ("backbone.png", Figure::Backbone),
    ("consolidation.png", Figure::Consolidation),
    ("robustness.png", Figure::Robustness),
    ("knowledge.png", Figure::Knowledge),
];

/// One line of a panel.
struct Line {
    label: String,
    colour: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// A horizontal or vertical reference line.
enum Rule {
    /// At this y, with a label.
    Level(f64, String),
    /// At this step, in a series' colour.
    Step(f64, RGBColor),
}

/// One plot: lines over steps, a y range, reference rules.
struct Panel {
    title: String,
    y_label: String,
    percent: bool,
    y_range: (f64, f64),
    lines: Vec<Line>,
    rules: Vec<Rule>,
    legend: SeriesLabelPosition,
}

/// Renders `figure` for `series` as PNG bytes.
pub(crate) fn render(series: &[Series], figure: Figure) -> Result<Vec<u8>, String> {
    REGISTER.call_once(|| {
        // The bytes are a valid font (a test renders text with it); should registration ever
        // fail, plotters reports the missing font when drawing, which becomes the error.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
    let panels = match figure {
        Figure::Overview => vec![
            backbone(series),
            consolidation(series),
            robustness(series),
            knowledge(series),
        ],
        Figure::Backbone => vec![backbone(series)],
        Figure::Consolidation => vec![consolidation(series)],
        Figure::Robustness => vec![robustness(series)],
        Figure::Knowledge => vec![knowledge(series)],
    };
    let (width, height) = if panels.len() == 1 {
        (900, 560)
    } else {
        (1600, 1100)
    };
    let mut pixels = vec![0u8; width * height * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width as u32, height as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = if panels.len() == 1 {
            vec![root.clone()]
        } else {
            root.split_evenly((2, 2))
        };
        for (area, panel) in areas.iter().zip(&panels) {
            draw(area, panel).map_err(|e| format!("drawing `{}`: {e}", panel.title))?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    encode(&pixels, width as u32, height as u32)
}

fn encode(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(png_bytes)
}

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

fn steps_of(
    series: &Series,
    value: impl Fn(&lpi_hook::ProbeRunReport) -> Option<f64>,
) -> Vec<(f64, f64)> {
    series
        .history
        .iter()
        .filter_map(|r| value(r).map(|v| (r.step as f64, v)))
        .collect()
}

/// The bottom of a y axis that starts at 0 unless a value is negative.
fn floor(lines: &[Line]) -> f64 {
    lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::min)
}

fn backbone(series: &[Series]) -> Panel {
    let top = top_q(series[0].q);
    let mut lines = Vec::new();
    for (i, s) in series.iter().enumerate() {
        lines.push(Line {
            label: format!("{}: of positive updates", s.name),
            colour: colour(i),
            dashed: false,
            points: steps_of(s, |r| r.positive_updates_top_share),
        });
        lines.push(Line {
            label: format!("{}: of positive importance", s.name),
            colour: colour(i),
            dashed: true,
            points: steps_of(s, |r| Some(r.neurons.top_share)),
        });
    }
    Panel {
        title: format!("1. Backbone: {top} of neurons' share"),
        y_label: "share".into(),
        percent: true,
        y_range: (0.0, 1.0),
        lines,
        rules: vec![Rule::Level(
            BACKBONE_SHARE,
            format!("paper: MoE > {}", whole_percent(BACKBONE_SHARE)),
        )],
        legend: SeriesLabelPosition::UpperRight,
    }
}

fn consolidation(series: &[Series]) -> Panel {
    let tau = series[0].tau;
    let mut lines = Vec::new();
    let mut rules = vec![Rule::Level(tau, format!("tau = {tau}"))];
    for (i, s) in series.iter().enumerate() {
        lines.push(Line {
            label: format!("{}: Spearman vs previous run", s.name),
            colour: colour(i),
            dashed: false,
            points: steps_of(s, |r| r.vs_previous.map(|v| v.spearman)),
        });
        if let Some(step) = s.last().consolidation_step {
            rules.push(Rule::Step(step as f64, colour(i)));
        }
    }
    Panel {
        title: "2. Consolidation: rank stability of the neuron profile".into(),
        y_label: "Spearman rho".into(),
        percent: false,
        y_range: (floor(&lines), 1.0),
        lines,
        rules,
        legend: SeriesLabelPosition::LowerRight,
    }
}

fn robustness(series: &[Series]) -> Panel {
    let mut lines = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let heads = s
            .history
            .iter()
            .find_map(|r| r.robustness.as_ref().map(|rb| rb.top_heads.len()))
            .unwrap_or(0);
        lines.push(Line {
            label: format!("{}: top {heads} heads masked", s.name),
            colour: colour(i),
            dashed: false,
            points: steps_of(s, |r| r.robustness.as_ref().and_then(|rb| rb.top_drop)),
        });
        lines.push(Line {
            label: format!("{}: {heads} random heads masked", s.name),
            colour: colour(i),
            dashed: true,
            points: steps_of(s, |r| r.robustness.as_ref().and_then(|rb| rb.random_drop)),
        });
    }
    Panel {
        title: "3. Robustness: relative HIT@10 drop under head masking".into(),
        y_label: "HIT@10 drop".into(),
        percent: true,
        y_range: (floor(&lines), 1.0),
        lines,
        rules: vec![
            Rule::Level(
                ROBUST_DROP,
                format!("paper: MoE < {}", whole_percent(ROBUST_DROP)),
            ),
            Rule::Level(
                BRITTLE_DROP,
                format!("paper: dense > {}", whole_percent(BRITTLE_DROP)),
            ),
        ],
        legend: SeriesLabelPosition::UpperRight,
    }
}

fn knowledge(series: &[Series]) -> Panel {
    let lines = series
        .iter()
        .enumerate()
        .map(|(i, s)| Line {
            label: format!("{}: HIT@10", s.name),
            colour: colour(i),
            dashed: false,
            points: steps_of(s, |r| Some(r.readouts.overall.hit_at_10)),
        })
        .collect();
    Panel {
        title: "Knowledge: HIT@10 on held-out probe templates".into(),
        y_label: "HIT@10".into(),
        percent: true,
        y_range: (0.0, 1.0),
        lines,
        rules: Vec::new(),
        legend: SeriesLabelPosition::LowerRight,
    }
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let max_step = panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let (low, high) = panel.y_range;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..max_step * 1.02, low..high)?;
    let percent = panel.percent;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .x_desc("optimizer step")
        .y_desc(panel.y_label.as_str())
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| {
            if percent {
                format!("{:.0}%", 100.0 * y)
            } else {
                format!("{y:.2}")
            }
        })
        .draw()?;
    for rule in &panel.rules {
        match rule {
            Rule::Level(y, label) => {
                chart.draw_series(DashedLineSeries::new(
                    [(0.0, *y), (max_step * 1.02, *y)],
                    6,
                    6,
                    GREY.stroke_width(1),
                ))?;
                // Just above the rule.
                chart.draw_series(std::iter::once(Text::new(
                    label.clone(),
                    (max_step * 0.01, *y + (high - low) * 0.035),
                    (FONT, 14).into_font().color(&GREY),
                )))?;
            }
            Rule::Step(step, colour) => {
                chart.draw_series(DashedLineSeries::new(
                    [(*step, low), (*step, high)],
                    3,
                    4,
                    colour.stroke_width(2),
                ))?;
            }
        }
    }
    // A series that never measured a quantity gets no line and no legend entry.
    for line in panel.lines.iter().filter(|l| !l.points.is_empty()) {
        let style = line.colour.stroke_width(if line.dashed { 2 } else { 3 });
        let points = line.points.clone();
        let drawn = if line.dashed {
            chart.draw_series(DashedLineSeries::new(points, 8, 5, style))?
        } else {
            chart.draw_series(LineSeries::new(points, style))?
        };
        let legend_style = style;
        let dashed = line.dashed;
        drawn.label(line.label.as_str()).legend(
            move |(x, y)| -> DynElement<'static, DB, (i32, i32)> {
                if dashed {
                    DashedPathElement::new([(x, y), (x + 22, y)], 6, 4, legend_style).into_dyn()
                } else {
                    PathElement::new([(x, y), (x + 22, y)], legend_style).into_dyn()
                }
            },
        );
        chart.draw_series(
            line.points
                .iter()
                .map(|&p| Circle::new(p, 3, line.colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(panel.legend.clone())
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .draw()?;
    Ok(())
}
