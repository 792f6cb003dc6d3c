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
use crate::stats::{format_count, format_ms};

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
/// one for nginx and one (grey) for the ceilings.
const STAGE_COLOURS: [RGBColor; 9] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0x00, 0x96, 0x39),
    RGBColor(0x9d, 0x9d, 0x9d),
];

/// The colour of a run's bars.
fn colour(spec: &RunSpec) -> RGBColor {
    let index = match &spec.server {
        ServerSpec::Stage(stage) => usize::from(stage.number) - 1,
        ServerSpec::Nginx => 7,
        ServerSpec::Ka | ServerSpec::Spawn => 8,
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
    let tall = results.len() > MAX_BARS_SIDE_BY_SIDE;
    let root = SVGBackend::new(path, if tall { TALL_SIZE } else { SIZE }).into_drawing_area();
    let fail = |error: &dyn std::fmt::Display| format!("drawing {}: {error}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let root = root.titled(title, (FONT, 20)).map_err(|e| fail(&e))?;
    let panels = root.split_evenly(if tall { (4, 1) } else { (2, 2) });

    let one = |value: &dyn Fn(&RunResult) -> Option<f64>| -> Vec<Option<Vec<f64>>> {
        results
            .iter()
            .map(|r| Some(vec![value(r).unwrap_or(0.0)]))
            .collect()
    };
    let by_server = |run: usize, _| colour(&results[run].spec);
    let by_percentile = |_, series: usize| PERCENTILE_COLOURS[series];
    let latency: Vec<Option<Vec<f64>>> = (results.iter())
        .map(|r| {
            r.latency.map(|l| {
                [l.p50_us, l.p90_us, l.p99_us]
                    .map(|us| us as f64 / 1000.0)
                    .to_vec()
            })
        })
        .collect();
    let count = |value: f64| format_count(value.round() as u64);
    let rates = one(&|r| Some(r.requests_per_second));
    let threads = one(&|r| r.peaks.map(|p| p.threads as f64));
    let memory = one(&|r| r.peaks.map(|p| p.rss_kib as f64 / 1024.0));
    let ms = |value: f64| format_ms((value * 1000.0).round() as u64);
    let drawn = [
        panel(
            &panels[0],
            "requests/s (2xx)",
            &labels,
            &rates,
            &by_server,
            &[],
            &count,
        ),
        panel(
            &panels[1],
            "latency, ms (p50, p90, p99 of 2xx)",
            &labels,
            &latency,
            &by_percentile,
            &["p50", "p90", "p99"],
            &ms,
        ),
        panel(
            &panels[2],
            "server threads (peak)",
            &labels,
            &threads,
            &by_server,
            &[],
            &|v| {
                // Whole threads on the bars, halves between the ticks.
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            },
        ),
        panel(
            &panels[3],
            "server RSS, MiB (peak)",
            &labels,
            &memory,
            &by_server,
            &[],
            &|v| format!("{v:.1}"),
        ),
    ];
    drawn
        .into_iter()
        .collect::<Result<(), _>>()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

/// The label under each bar: the stage, plus whatever else varies between
/// the runs of this chart (`ka` keep-alive, `t4` pool threads, `K2` slow
/// clients, `i` with the idle connections), so that no two bars look alike.
fn bar_labels(results: &[RunResult]) -> Vec<String> {
    let specs: Vec<&RunSpec> = results.iter().map(|result| &result.spec).collect();
    let varies =
        |key: &dyn Fn(&RunSpec) -> String| specs.iter().any(|spec| key(spec) != key(specs[0]));
    // Stages 01-02 have no pool: only pool sizes that differ count.
    let pools: Vec<u32> = specs.iter().filter_map(|spec| spec.pool).collect();
    let show_pool = pools.iter().any(|&pool| pool != pools[0]);
    let show_slow = varies(&|spec| spec.slow_clients.to_string());
    let show_mode = specs.iter().any(|spec| spec.mode == Mode::KeepAlive);
    let show_idle = varies(&|spec| spec.idle.to_string());
    specs
        .iter()
        .map(|spec| {
            let mut label = spec.server.label();
            if show_mode && spec.mode == Mode::KeepAlive {
                label.push_str(" ka");
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

/// A panel with, for each run, a group of bars side by side (one per
/// series; `groups[run]` is `None` for a run without a 2xx response), the
/// run's label under the group and the last bar's value written above it.
/// With more than one series, each group is followed by a gap and a legend
/// names the series.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    labels: &[String],
    groups: &[Option<Vec<f64>>],
    colour: &dyn Fn(usize, usize) -> RGBColor,
    legend: &[&str],
    format: &dyn Fn(f64) -> String,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let series = legend.len().max(1);
    let slots = if series > 1 { series + 1 } else { 1 };
    let highest = groups
        .iter()
        .flatten()
        .flatten()
        .copied()
        .fold(0.0, f64::max);
    // Room above the tallest bar for its label, and for the legend.
    let top = if highest > 0.0 {
        highest * if series > 1 { 1.4 } else { 1.15 }
    } else {
        1.0
    };
    let last_slot = (groups.len() * slots).saturating_sub(1 + usize::from(series > 1));
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d((0..last_slot).into_segmented(), 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        // More label slots than bars: an integer axis never steps by less
        // than 1, so every group gets its label, under its middle bar.
        .x_labels(groups.len() * slots + 2)
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(slot) if slot % slots == series / 2 => {
                labels.get(slot / slots).cloned().unwrap_or_default()
            }
            _ => String::new(),
        })
        .y_label_formatter(&|value| format(*value))
        .label_style((FONT, 12))
        .draw()?;
    for (which, name) in (0..series).zip(legend.iter().map(Some).chain([None])) {
        let bars = (groups.iter().enumerate())
            .filter_map(|(run, values)| Some((run * slots + which, *values.as_ref()?.get(which)?)));
        let style = move |value: &SegmentValue<usize>, _: &f64| match value {
            SegmentValue::Exact(slot) | SegmentValue::CenterOf(slot) => {
                colour(slot / slots, which).filled()
            }
            SegmentValue::Last => BLACK.filled(),
        };
        let drawn = chart.draw_series(
            Histogram::vertical(&chart)
                .margin(if series > 1 { 1 } else { 6 })
                .style_func(style)
                .data(bars),
        )?;
        if let Some(name) = name {
            let fill = colour(0, which).filled();
            drawn
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], fill));
        }
    }
    let above = TextStyle::from((FONT, 11)).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(groups.iter().enumerate().map(|(run, values)| {
        let value = values.as_ref().and_then(|values| values.last().copied());
        let text = value.map_or_else(|| "no 2xx".to_owned(), format);
        let slot = SegmentValue::CenterOf(run * slots + series - 1);
        Text::new(text, (slot, value.unwrap_or(0.0)), above.clone())
    }))?;
    if series > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 12))
            .draw()?;
    }
    Ok(())
}
