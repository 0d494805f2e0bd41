//! The coverage audit as a small map per read: the slide's extent, the model's high-scoring
//! cells (red), what the reader looked at at 10x or more (blue), and each hot-spot boxed, green
//! where the reader saw its peak and orange where they never did. Inline SVG for the report.

use std::fmt::Write as _;

use super::coverage::peak_seen;
use super::report::esc;
use crate::analysis::heatmap::Heatmap;

/// Width of one map in CSS pixels.
pub const MAP_W: f64 = 180.0;

/// Rows of cells are drawn this much taller than a cell, so that anti-aliasing leaves no light
/// seam between them (each group is translucent as a whole: the overlap does not show).
const ROW_OVERLAP: f64 = 0.5;

/// Colours, shared with the legend.
pub const HOT: &str = "#d7301f";
pub const LOOKED: &str = "#2b6cb0";
pub const SEEN: &str = "#2f9e44";
pub const MISSED: &str = "#f08c00";

/// The small map of one read of a case whose heatmap is `map`; `seen` are the cells the read
/// looked at closely ([`viewed_cells`](super::coverage::viewed_cells)).
pub fn svg(map: &Heatmap, seen: &[bool], threshold: f32, mpp: f64, title: &str) -> String {
    let s = map.cell_level0;
    let (w0, h0) = (f64::from(map.cols) * s, f64::from(map.rows) * s);
    let k = MAP_W / w0.max(1.0);
    let height = (h0 * k).max(1.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"covmap\" width=\"{MAP_W:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {MAP_W:.1} {height:.1}\" role=\"img\"><title>{}</title>\
         <rect x=\"0.5\" y=\"0.5\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f4f4f4\" stroke=\"#999\"/>",
        esc(title),
        MAP_W - 1.0,
        height - 1.0
    );
    // High-scoring cells, then the cells whose centre was on screen at 10x or more; each group
    // is translucent as a whole so overlapping rows and views do not darken.
    let (cols, rows, cell) = (map.cols, map.rows, s * k);
    out.push_str(&format!("<g fill=\"{HOT}\" opacity=\"0.55\">"));
    out.push_str(&runs(cols, rows, cell, |c, r| {
        map.get(c, r).is_some_and(|v| v >= threshold)
    }));
    out.push_str("</g>");
    out.push_str(&format!("<g fill=\"{LOOKED}\" opacity=\"0.4\">"));
    out.push_str(&runs(cols, rows, cell, |c, r| {
        seen[(r * cols + c) as usize]
    }));
    out.push_str("</g>");
    for h in map.hotspots_where(threshold, mpp, |_, _| true) {
        let looked = peak_seen(map, seen, &h);
        let b = h.bbox;
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            if looked { "seen" } else { "missed" },
            b[0] * k - 1.5,
            b[1] * k - 1.5,
            (b[2] - b[0]) * k + 3.0,
            (b[3] - b[1]) * k + 3.0,
            if looked { SEEN } else { MISSED },
        );
    }
    out.push_str("</svg>");
    out
}

/// The cells of a `cols` x `rows` grid (cells `cell` px square) where `on` holds, as one
/// `<rect>` per run along a row: fewer elements, the same picture.
fn runs(cols: u32, rows: u32, cell: f64, on: impl Fn(u32, u32) -> bool) -> String {
    let mut out = String::new();
    for r in 0..rows {
        let mut c = 0;
        while c < cols {
            if !on(c, r) {
                c += 1;
                continue;
            }
            let start = c;
            while c < cols && on(c, r) {
                c += 1;
            }
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                f64::from(start) * cell,
                f64::from(r) * cell,
                f64::from(c - start) * cell,
                cell + ROW_OVERLAP
            );
        }
    }
    out
}

/// The key under the maps.
pub fn legend_html() -> String {
    let swatch = |c: &str, fill: bool| {
        if fill {
            format!(
                "<span style=\"display:inline-block;width:12px;height:12px;background:{c};opacity:.6\"></span>"
            )
        } else {
            format!(
                "<span style=\"display:inline-block;width:10px;height:10px;border:2px solid {c}\"></span>"
            )
        }
    };
    format!(
        "<p class=\"covkey\">{} model score at or above the threshold &nbsp; {} viewed at 10x or more &nbsp; {} hot-spot whose peak was viewed &nbsp; {} hot-spot never viewed closely</p>",
        swatch(HOT, true),
        swatch(LOOKED, true),
        swatch(SEEN, false),
        swatch(MISSED, false)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::coverage::{CLOSE_LOOK_MAG, viewed_cells};
    use crate::review::session::ViewSample;

    #[test]
    fn a_map_boxes_seen_and_missed_hotspots() {
        // 8 x 4 cells of 100 px; two hot-spots, the reader zoomed into the left one only.
        let mut map = Heatmap::new((800, 400), 100.0);
        for r in 0..4 {
            for c in 0..8 {
                map.set(c, r, 0.1);
            }
        }
        map.set(1, 1, 0.9);
        map.set(2, 1, 0.8);
        map.set(6, 2, 0.95);
        let track = [ViewSample {
            t: 0.0,
            seconds: 5.0,
            rect: [0.0, 0.0, 400.0, 400.0],
            magnification: 20.0,
        }];
        let seen = viewed_cells(&map, &track, CLOSE_LOOK_MAG);
        let svg = svg(&map, &seen, 0.5, 0.25, "case <1>");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title>case &lt;1&gt;</title>"));
        assert_eq!(svg.matches("class=\"seen\"").count(), 1);
        assert_eq!(svg.matches("class=\"missed\"").count(), 1);
        // The two hot cells of row 1 are one run: 2 cells of 22.5 px at 180/800 px per px.
        assert!(
            svg.contains("<rect x=\"22.5\" y=\"22.5\" width=\"45.0\" height=\"23.0\"/>"),
            "{svg}"
        );
        // The viewed area: 4 columns of every row, each row one run.
        let looked = svg
            .split(&format!("fill=\"{LOOKED}\""))
            .nth(1)
            .expect("group");
        let group = looked.split("</g>").next().expect("group");
        assert_eq!(group.matches("<rect").count(), 4);
        assert!(group.contains("width=\"90.0\""));
        // Nothing viewed closely: both missed.
        let far = [ViewSample {
            magnification: 2.0,
            ..track[0]
        }];
        assert_eq!(
            super::svg(
                &map,
                &viewed_cells(&map, &far, CLOSE_LOOK_MAG),
                0.5,
                0.25,
                "x"
            )
            .matches("class=\"missed\"")
            .count(),
            2
        );
    }
}
