//! The report's figures as inline SVG (no scripts, no external resources): empirical ROC curves
//! per reader and arm, and a forest plot of each reader's AUC difference between the arms with the
//! MRMC interval. Pure: numbers in, markup out.

use std::fmt::Write as _;

/// The empirical ROC curve of `ratings` against `truth`: (false-positive rate, true-positive
/// rate) from (0, 0) to (1, 1), one point per distinct rating (ties move diagonally).
pub fn roc_points(ratings: &[f64], truth: &[bool]) -> Vec<(f64, f64)> {
    let pos = truth.iter().filter(|t| **t).count() as f64;
    let neg = truth.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return Vec::new();
    }
    let mut cuts: Vec<f64> = ratings.iter().copied().filter(|r| r.is_finite()).collect();
    cuts.sort_by(|a, b| b.total_cmp(a));
    cuts.dedup();
    let mut out = vec![(0.0, 0.0)];
    for c in cuts {
        let (mut tp, mut fp) = (0.0, 0.0);
        for (r, t) in ratings.iter().zip(truth) {
            if *r >= c {
                if *t {
                    tp += 1.0;
                } else {
                    fp += 1.0;
                }
            }
        }
        out.push((fp / neg, tp / pos));
    }
    if out.last() != Some(&(1.0, 1.0)) {
        out.push((1.0, 1.0));
    }
    out
}

const W: f64 = 300.0;
const PAD: f64 = 40.0;

use super::report::esc;

/// One curve of an ROC figure.
pub struct Curve {
    pub label: String,
    pub rgb: [u8; 3],
    pub dashed: bool,
    /// (1 - specificity, sensitivity), from (0, 0) to (1, 1).
    pub points: Vec<(f64, f64)>,
}

/// ROC curves with a legend.
pub fn roc_svg(title: &str, curves: &[Curve]) -> String {
    let size = W + 2.0 * PAD;
    let legend_h = 16.0 * curves.len() as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\">\
         <title>{t}</title><rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"white\"/>",
        w = size + 280.0,
        h = size.max(legend_h + 2.0 * PAD),
        t = esc(title)
    );
    let x = |f: f64| PAD + f * W;
    let y = |t: f64| PAD + (1.0 - t) * W;
    // Frame, chance diagonal, ticks.
    let _ = write!(
        s,
        "<rect x=\"{PAD}\" y=\"{PAD}\" width=\"{W}\" height=\"{W}\" fill=\"none\" stroke=\"#444\"/>\
         <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"4 4\"/>",
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0)
    );
    for t in [0.0, 0.5, 1.0] {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{t}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{t}</text>",
            x(t),
            PAD + W + 14.0,
            PAD - 4.0,
            y(t) + 4.0
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">1 − specificity</text>\
         <text x=\"12\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 12 {})\">sensitivity</text>",
        PAD + W / 2.0,
        PAD + W + 30.0,
        PAD + W / 2.0,
        PAD + W / 2.0
    );
    for (i, c) in curves.iter().enumerate() {
        let (label, [r, g, b], dashed) = (&c.label, c.rgb, c.dashed);
        let points: Vec<String> = c
            .points
            .iter()
            .map(|(f, t)| format!("{:.1},{:.1}", x(*f), y(*t)))
            .collect();
        let dash = if dashed {
            " stroke-dasharray=\"6 3\""
        } else {
            ""
        };
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"rgb({r},{g},{b})\" stroke-width=\"2\"{dash}><title>{}</title></polyline>",
            points.join(" "),
            esc(label)
        );
        let ly = PAD + 16.0 * i as f64;
        let _ = write!(
            s,
            "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"rgb({r},{g},{b})\" stroke-width=\"2\"{dash}/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            size + 4.0,
            size + 24.0,
            size + 28.0,
            ly + 4.0,
            esc(label)
        );
    }
    s.push_str("</svg>");
    s
}

/// A forest plot: each reader's difference as a dot, the reader-averaged difference with its
/// interval as a bar below, and the zero line.
pub fn forest_svg(title: &str, readers: &[(String, f64)], overall: (f64, f64, f64)) -> String {
    let row = 22.0;
    let h = PAD + row * (readers.len() as f64 + 2.0) + 30.0;
    let (left, width) = (150.0, 300.0);
    let lo = readers
        .iter()
        .map(|r| r.1)
        .chain([overall.1, 0.0])
        .fold(f64::INFINITY, f64::min);
    let hi = readers
        .iter()
        .map(|r| r.1)
        .chain([overall.2, 0.0])
        .fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(1e-6) * 1.1;
    let mid = (hi + lo) / 2.0;
    let x = |v: f64| left + ((v - mid) / span + 0.5) * width;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\">\
         <title>{t}</title><rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"white\"/>",
        w = left + width + 30.0,
        t = esc(title)
    );
    let _ = write!(
        s,
        "<line x1=\"{z}\" y1=\"{PAD}\" x2=\"{z}\" y2=\"{}\" stroke=\"#888\" stroke-dasharray=\"3 3\"/>",
        h - 30.0,
        z = x(0.0)
    );
    for (i, (name, d)) in readers.iter().enumerate() {
        let y = PAD + row * (i as f64 + 0.5);
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>\
             <circle cx=\"{:.1}\" cy=\"{y}\" r=\"4\" fill=\"#1f77b4\"><title>{}: {d:+.3}</title></circle>",
            left - 8.0,
            y + 4.0,
            esc(name),
            x(*d),
            esc(name)
        );
    }
    let y = PAD + row * (readers.len() as f64 + 1.0);
    let (est, a, b) = overall;
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" text-anchor=\"end\">all readers (95% CI)</text>\
         <line class=\"ci\" x1=\"{:.1}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\" stroke=\"#d62728\" stroke-width=\"3\"/>\
         <rect x=\"{:.1}\" y=\"{}\" width=\"8\" height=\"8\" fill=\"#d62728\"><title>{est:+.3} ({a:+.3} to {b:+.3})</title></rect>",
        left - 8.0,
        y + 4.0,
        x(a),
        x(b),
        x(est) - 4.0,
        y - 4.0
    );
    // Tick labels at the ends and at zero, unless zero would crowd an end's label.
    let ticks = [lo, 0.0, hi];
    for (i, v) in ticks.into_iter().enumerate() {
        let crowded = i == 1 && (x(0.0) - x(lo) < 40.0 || x(hi) - x(0.0) < 40.0);
        if crowded {
            continue;
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{v:+.2}</text>",
            x(v),
            h - 12.0
        );
    }
    s.push_str("</svg>");
    s
}

/// A confusion matrix between two readers as a table whose cells are shaded by their count
/// (darker: more cases), agreement on the diagonal outlined.
pub fn confusion_table(title: &str, labels: &[String], table: &[Vec<f64>]) -> String {
    let max = table.iter().flatten().copied().fold(0.0, f64::max).max(1.0);
    let mut h = format!(
        "<table class=\"confusion\"><caption>{}</caption><tr><th></th>",
        esc(title)
    );
    for l in labels {
        let _ = write!(h, "<th>{}</th>", esc(l));
    }
    h.push_str("</tr>");
    for (i, row) in table.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><th>{}</th>",
            esc(labels.get(i).map_or("", String::as_str))
        );
        for (j, v) in row.iter().enumerate() {
            // White to a deep blue by count; text turns white on dark cells.
            let t = v / max;
            let shade = |lo: f64, hi: f64| (lo + (hi - lo) * t).round() as u8;
            let (r, g, b) = (shade(255.0, 31.0), shade(255.0, 80.0), shade(255.0, 160.0));
            let ink = if t > 0.55 { "white" } else { "black" };
            let border = if i == j { "border:2px solid #222;" } else { "" };
            let _ = write!(
                h,
                "<td style=\"background:rgb({r},{g},{b});color:{ink};text-align:center;{border}\">{v}</td>"
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn well_formed(svg: &str) {
        let mut r = quick_xml::Reader::from_str(svg);
        loop {
            match r.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed: {e}\n{svg}"),
            }
        }
    }

    #[test]
    fn confusion_tables_shade_by_count_and_mark_the_diagonal() {
        let labels = ["None".to_owned(), "Macro <".to_owned()];
        let t = confusion_table("a vs b", &labels, &[vec![4.0, 1.0], vec![0.0, 2.0]]);
        well_formed(&t);
        assert!(t.contains("Macro &lt;"));
        // The largest count is the darkest, with white text; zero is white.
        assert!(t.contains(
            "background:rgb(31,80,160);color:white;text-align:center;border:2px solid #222;\">4"
        ));
        assert!(t.contains("background:rgb(255,255,255);color:black;text-align:center;\">0"));
        assert_eq!(t.matches("border:2px").count(), 2, "the diagonal");
    }

    #[test]
    fn roc_points_step_through_each_rating() {
        let pts = roc_points(&[3.0, 2.0, 2.0, 1.0], &[true, true, false, false]);
        assert_eq!(pts, vec![(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
        assert!(roc_points(&[1.0], &[true]).is_empty(), "no negatives");
    }

    #[test]
    fn figures_are_well_formed_svg_with_a_mark_per_curve_and_reader() {
        let roc = roc_svg(
            "ROC <readers>",
            &[
                Curve {
                    label: "A, unassisted".into(),
                    rgb: [31, 119, 180],
                    dashed: true,
                    points: vec![(0.0, 0.0), (0.2, 0.8), (1.0, 1.0)],
                },
                Curve {
                    label: "A, assisted".into(),
                    rgb: [31, 119, 180],
                    dashed: false,
                    points: vec![(0.0, 0.0), (0.1, 0.9), (1.0, 1.0)],
                },
            ],
        );
        well_formed(&roc);
        assert_eq!(roc.matches("<polyline").count(), 2);
        assert!(roc.contains("ROC &lt;readers&gt;") && !roc.contains("<script"));
        let forest = forest_svg(
            "AUC difference",
            &[("A".into(), 0.05), ("B & C".into(), -0.01)],
            (0.02, -0.03, 0.07),
        );
        well_formed(&forest);
        assert_eq!(forest.matches("<circle").count(), 2);
        // The interval's ends straddle zero: its bar crosses the zero line.
        let attr = |name: &str| -> f64 {
            let at = forest.find("class=\"ci\"").expect("ci bar");
            let rest = forest.get(at..).expect("rest");
            let start = rest.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
            let tail = rest.get(start..).expect("tail");
            tail.get(..tail.find('"').expect("quote"))
                .expect("value")
                .parse()
                .expect("number")
        };
        // x(v) = 150 + ((v - mid) / span + 0.5) * 300 with mid 0.02 and span 0.10 * 1.1.
        let zero = 150.0 + ((0.0 - 0.02) / (0.10 * 1.1) + 0.5) * 300.0;
        assert!(
            attr("x1") < zero && zero < attr("x2"),
            "{} {zero} {}",
            attr("x1"),
            attr("x2")
        );
    }
}
