//! One SVG chart per scenario, drawn with plotters: four panels, one bar
//! per run — requests/s, latency (p50, p90, p99), peak threads, peak RSS.
//!
//! Text is written as SVG `<text>` in the generic `sans-serif` family, which
//! every SVG renderer maps to a font it has: the chart depends on no font
//! file being installed, here or on the reader's machine.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::cli::{Mode, RunSpec, ServerSpec};
use crate::runner::RunResult;
use crate::stats;

/// Size of the whole chart in pixels: four panels in a 2 × 2 grid.
const SIZE: (u32, u32) = (1100, 720);

/// Size of the whole chart when it has more than [`MAX_BARS_SIDE_BY_SIDE`]
/// bars: the four panels one above the other, each the full width, so
/// that the labels under the bars do not run into each other.
const TALL_SIZE: (u32, u32) = (1100, 1400);

/// The most bars a half-width panel labels legibly.
const MAX_BARS_SIDE_BY_SIDE: usize = 8;

/// The font family of every text: generic, so no font file is needed.
const FONT: &str = "sans-serif";

/// One colour per stage (01-07), the same in every panel and chart, then
/// one for a `--url` server, one for nginx and one (grey) for the ceilings.
const STAGE_COLOURS: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0x00, 0x96, 0x39),
    RGBColor(0x9d, 0x9d, 0x9d),
];

/// The colour of a run's bars.
fn colour(spec: &RunSpec) -> RGBColor {
    let index = match &spec.server {
        ServerSpec::Stage(stage) => usize::from(stage.number) - 1,
        ServerSpec::Url(_) => 7,
        ServerSpec::Nginx => 8,
        ServerSpec::Ka | ServerSpec::Spawn => 9,
    };
    STAGE_COLOURS[index.min(STAGE_COLOURS.len() - 1)]
}

/// Shades for p50, p90 and p99 in the latency panel.
const PERCENTILE_COLOURS: [RGBColor; 3] = [
    RGBColor(0x9e, 0xc5, 0xe8),
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0x1d, 0x35, 0x57),
];

/// Writes the chart of `results` (the runs of one scenario) to `path`, with
/// `title` above the four panels.
///
/// # Errors
/// A message if the file cannot be written or nothing is to be drawn.
pub fn write_svg(path: &Path, title: &str, results: &[RunResult]) -> Result<(), String> {
    if results.is_empty() {
        return Err("no results to chart".to_owned());
    }
    let labels = bar_labels(results);
    let colours: Vec<RGBColor> = results.iter().map(|result| colour(&result.spec)).collect();

    let tall = results.len() > MAX_BARS_SIDE_BY_SIDE;
    let root = SVGBackend::new(path, if tall { TALL_SIZE } else { SIZE }).into_drawing_area();
    let fail = |error: &dyn std::fmt::Display| format!("drawing {}: {error}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let root = root.titled(title, (FONT, 20)).map_err(|e| fail(&e))?;
    let panels = root.split_evenly(if tall { (4, 1) } else { (2, 2) });

    let rates: Vec<f64> = results.iter().map(|r| r.requests_per_second).collect();
    bar_panel(
        &panels[0],
        "requests/s (2xx)",
        &labels,
        &rates,
        &colours,
        |v| stats::format_count(v.round() as u64),
    )
    .map_err(|e| fail(&e))?;

    latency_panel(&panels[1], &labels, results).map_err(|e| fail(&e))?;

    let threads: Vec<f64> = results
        .iter()
        .map(|r| r.peaks.map_or(0.0, |peaks| peaks.threads as f64))
        .collect();
    bar_panel(
        &panels[2],
        "server threads (peak)",
        &labels,
        &threads,
        &colours,
        |v| format!("{v:.0}"),
    )
    .map_err(|e| fail(&e))?;

    let memory: Vec<f64> = results
        .iter()
        .map(|r| r.peaks.map_or(0.0, |peaks| peaks.rss_kib as f64 / 1024.0))
        .collect();
    bar_panel(
        &panels[3],
        "server RSS, MiB (peak)",
        &labels,
        &memory,
        &colours,
        |v| format!("{v:.1}"),
    )
    .map_err(|e| fail(&e))?;

    root.present().map_err(|e| fail(&e))
}

/// The label under each bar: the stage, plus whatever else varies between
/// the runs of this chart (`ka` keep-alive, `c64` connections, `t4` pool
/// threads, `K2` slow clients, `i` with the idle connections), so that no
/// two bars look alike.
pub fn bar_labels(results: &[RunResult]) -> Vec<String> {
    let specs: Vec<&RunSpec> = results.iter().map(|result| &result.spec).collect();
    let varies =
        |key: &dyn Fn(&RunSpec) -> String| specs.iter().any(|spec| key(spec) != key(specs[0]));
    let show_connections = varies(&|spec| spec.connections.to_string());
    // Stages 01-02 have no pool: only pool sizes that differ count.
    let pools: Vec<u32> = specs.iter().filter_map(|spec| spec.pool).collect();
    let show_pool = pools.iter().any(|&pool| pool != pools[0]);
    let show_slow = varies(&|spec| spec.slow_clients.to_string());
    let show_mode = specs.iter().any(|spec| spec.mode == Mode::KeepAlive);
    let show_idle = varies(&|spec| spec.idle.to_string());
    specs
        .iter()
        .map(|spec| {
            let mut label = spec.server_label();
            if show_mode && spec.mode == Mode::KeepAlive {
                label.push_str(" ka");
            }
            if show_connections {
                label.push_str(&format!(" c{}", spec.connections));
            }
            if show_pool {
                if let Some(pool) = spec.pool {
                    label.push_str(&format!(" t{pool}"));
                }
            }
            if show_slow {
                label.push_str(&format!(" K{}", spec.slow_clients));
            }
            if show_idle && spec.idle > 0 {
                label.push_str(" i");
            }
            label
        })
        .collect()
}

/// The last index of an integer axis with `count` positions. plotters'
/// integer ranges include their end, so `0..count - 1` has `count` bars.
fn last_index(count: usize) -> usize {
    count.saturating_sub(1)
}

/// The top of a value axis: a little above the highest bar, leaving room
/// for its label; 1 when every value is 0.
fn axis_top(values: impl Iterator<Item = f64>) -> f64 {
    let highest = values.fold(0.0, f64::max);
    if highest > 0.0 { highest * 1.15 } else { 1.0 }
}

/// A panel with one bar per run, its value written above it.
fn bar_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    labels: &[String],
    values: &[f64],
    colours: &[RGBColor],
    format: impl Fn(f64) -> String,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let format = &format;
    let count = values.len();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (0..last_index(count)).into_segmented(),
            0.0..axis_top(values.iter().copied()),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        // More label slots than bars: an integer axis never steps by less
        // than 1, so every bar gets its label.
        .x_labels(count + 2)
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(index) => labels.get(*index).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|value| format(*value))
        .label_style((FONT, 12))
        .draw()?;
    chart.draw_series(
        Histogram::vertical(&chart)
            .margin(6)
            .style_func(|value, _| match value {
                SegmentValue::Exact(index) | SegmentValue::CenterOf(index) => {
                    colours.get(*index).copied().unwrap_or(BLACK).filled()
                }
                SegmentValue::Last => BLACK.filled(),
            })
            .data(values.iter().copied().enumerate()),
    )?;
    let above = TextStyle::from((FONT, 11)).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(values.iter().enumerate().map(|(index, &value)| {
        Text::new(
            format(value),
            (SegmentValue::CenterOf(index), value),
            above.clone(),
        )
    }))?;
    Ok(())
}

/// The latency panel: for each run three bars side by side, p50, p90 and
/// p99 in ms. A run without a single 2xx response has no bars; its label
/// says `no 2xx`.
fn latency_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    labels: &[String],
    results: &[RunResult],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    // Each run takes four slots on the x axis: p50, p90, p99 and a gap.
    const SLOTS: usize = 4;
    let percentiles: Vec<Option<[f64; 3]>> = results
        .iter()
        .map(|result| {
            result.latency.map(|latency| {
                [latency.p50_us, latency.p90_us, latency.p99_us].map(|us| us as f64 / 1000.0)
            })
        })
        .collect();
    // Extra headroom for the legend in the upper left corner.
    let top = axis_top(percentiles.iter().flatten().flatten().copied()) * 1.2;
    let slots = results.len() * SLOTS;

    let mut chart = ChartBuilder::on(area)
        .caption("latency, ms (p50, p90, p99 of 2xx)", (FONT, 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d((0..last_index(slots - 1)).into_segmented(), 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(slots + 2)
        // The run's label sits under its middle bar, p90.
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(slot) if slot % SLOTS == 1 => {
                labels.get(slot / SLOTS).cloned().unwrap_or_default()
            }
            _ => String::new(),
        })
        .y_label_formatter(&|value| format!("{value:.1}"))
        .label_style((FONT, 12))
        .draw()?;

    for (which, (name, colour)) in ["p50", "p90", "p99"]
        .into_iter()
        .zip(PERCENTILE_COLOURS)
        .enumerate()
    {
        let bars = percentiles
            .iter()
            .enumerate()
            .filter_map(|(run, values)| values.map(|values| (run * SLOTS + which, values[which])));
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .margin(1)
                    .style(colour.filled())
                    .data(bars),
            )?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    let above = TextStyle::from((FONT, 11)).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(percentiles.iter().enumerate().map(|(run, values)| {
        // Above the p99 bar, the tallest of the three.
        let slot = run * SLOTS + 2;
        let text = match results[run].latency {
            Some(latency) => stats::format_ms(latency.p99_us),
            None => "no 2xx".to_owned(),
        };
        let height = values.map_or(0.0, |values| values[2]);
        Text::new(text, (SegmentValue::CenterOf(slot), height), above.clone())
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 12))
        .draw()?;
    Ok(())
}
