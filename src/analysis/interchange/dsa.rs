//! DSA / large_image annotations: the heatmap as one `griddata` element (HistomicsUI's annotation
//! upload takes the file as it is), and such an element read back as a heatmap.
//!
//! Grid points sit at cell centres in base-level pixels: `origin` is the centre of cell (0, 0) and
//! `dx` = `dy` = the cell edge, `values` row-major, `gridWidth` cells across. Cells where nothing was
//! analysed are 0, which a `heatmap` interpretation draws as nothing.

use std::path::Path;

use serde_json::{Value, json};

use super::InterchangeError;
use crate::analysis::heatmap::Heatmap;
use crate::colormap::Colormap;

/// The annotation document for `heatmap`: `name` (e.g. the model), `description`, colours from
/// `colormap` at five stops, and `user` data kept as is (provenance).
pub fn to_annotation(
    heatmap: &Heatmap,
    name: &str,
    description: &str,
    colormap: Colormap,
    user: Value,
) -> Value {
    let c = heatmap.cell_level0;
    let stops = [0.0, 0.25, 0.5, 0.75, 1.0];
    let colors: Vec<String> = stops
        .iter()
        .map(|&t| {
            let [r, g, b] = colormap.rgb(t);
            // Transparent at 0, so unanalysed cells and low risk leave the slide visible.
            let a = if t == 0.0 { "0" } else { "1" };
            format!("rgba({r}, {g}, {b}, {a})")
        })
        .collect();
    let values: Vec<f64> = heatmap
        .values
        .iter()
        .map(|v| v.map_or(0.0, |p| round6(f64::from(p))))
        .collect();
    json!({
        "name": if name.is_empty() { "Sentinel risk" } else { name },
        "description": description,
        "elements": [{
            "type": "griddata",
            "interpretation": "heatmap",
            "origin": [c / 2.0, c / 2.0, 0],
            "dx": c,
            "dy": c,
            "gridWidth": heatmap.cols,
            "values": values,
            "radius": c,
            "colorRange": colors,
            "rangeValues": stops,
            "normalizeRange": false,
            "label": { "value": "Sentinel risk" },
            "user": user,
        }],
    })
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Reads the first `griddata` element of a DSA annotation file (one annotation, a list of them, or
/// the `{"annotation": …}` wrapper Girder's API returns) as a heatmap over a slide of
/// `slide_dims` level-0 pixels: each cell takes the grid point nearest its centre.
pub fn read(path: &Path, slide_dims: (u64, u64)) -> Result<Heatmap, InterchangeError> {
    let text = std::fs::read_to_string(path).map_err(|e| InterchangeError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let bad = |why: String| InterchangeError::Invalid {
        path: path.to_path_buf(),
        why,
    };
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    parse(&doc, slide_dims).map_err(bad)
}

fn annotations(doc: &Value) -> Vec<&Value> {
    match doc {
        Value::Array(items) => items.iter().flat_map(annotations).collect(),
        Value::Object(o) if o.contains_key("annotation") => annotations(&o["annotation"]),
        Value::Object(o) if o.contains_key("elements") => vec![doc],
        _ => Vec::new(),
    }
}

fn parse(doc: &Value, slide_dims: (u64, u64)) -> Result<Heatmap, String> {
    let (ai, ei, e) = annotations(doc)
        .into_iter()
        .enumerate()
        .flat_map(|(ai, a)| {
            a["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(move |(ei, e)| (ai, ei, e))
        })
        .find(|(_, _, e)| e["type"] == "griddata")
        .ok_or(
            "no griddata element (a DSA heatmap is an annotation with a \"griddata\" element)",
        )?;
    let at = format!("annotation {ai}, element {ei}");
    let number = |key: &str, default: f64| -> Result<f64, String> {
        match e.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or(format!("{at}: \"{key}\" is not a finite number")),
        }
    };
    let dx = number("dx", 1.0)?;
    let dy = number("dy", 1.0)?;
    if dx <= 0.0 || dy <= 0.0 {
        return Err(format!("{at}: \"dx\" and \"dy\" must be positive"));
    }
    if (dx - dy).abs() > 1e-9 * dx.max(dy) {
        return Err(format!(
            "{at}: \"dx\" ({dx}) and \"dy\" ({dy}) differ: only square grid cells are supported"
        ));
    }
    let width = e["gridWidth"].as_u64().filter(|&w| w >= 1).ok_or(format!(
        "{at}: \"gridWidth\" must be a whole number of at least 1"
    ))?;
    let values = e["values"]
        .as_array()
        .ok_or(format!("{at}: \"values\" must be a list of numbers"))?;
    if !(values.len() as u64).is_multiple_of(width) {
        return Err(format!(
            "{at}: {} values are not a whole number of rows of \"gridWidth\" {width}",
            values.len()
        ));
    }
    let values: Vec<f32> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_f64()
                .filter(|x| x.is_finite())
                .map(|x| x.clamp(0.0, 1.0) as f32)
                .ok_or(format!("{at}: value {i} is not a finite number"))
        })
        .collect::<Result<_, _>>()?;
    let height = values.len() as u64 / width;
    let origin = match e.get("origin") {
        None => [0.0, 0.0],
        Some(o) => {
            let o = o
                .as_array()
                .filter(|o| o.len() >= 2)
                .ok_or(format!("{at}: \"origin\" must be [x, y, z]"))?;
            let c = |i: usize| {
                o[i].as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or(format!("{at}: \"origin\" must be [x, y, z]"))
            };
            [c(0)?, c(1)?]
        }
    };
    let mut h = Heatmap::new(slide_dims, dx);
    for r in 0..h.rows {
        for c in 0..h.cols {
            // The grid point nearest this cell's centre.
            let gx = ((f64::from(c) + 0.5) * dx - origin[0]) / dx;
            let gy = ((f64::from(r) + 0.5) * dy - origin[1]) / dy;
            let (gx, gy) = (gx.round(), gy.round());
            if gx >= 0.0 && gy >= 0.0 && (gx as u64) < width && (gy as u64) < height {
                h.set(c, r, values[(gy as u64 * width + gx as u64) as usize]);
            }
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> Heatmap {
        let mut h = Heatmap::new((1000, 700), 100.0);
        h.set(0, 0, 0.25);
        h.set(9, 6, 1.0);
        h.set(4, 3, 0.5);
        h
    }

    #[test]
    fn griddata_points_sit_at_cell_centres_and_read_back() {
        let doc = to_annotation(&map(), "m", "", Colormap::Viridis, json!({}));
        let e = &doc["elements"][0];
        assert_eq!(e["origin"], json!([50.0, 50.0, 0]));
        assert_eq!(
            (e["dx"].as_f64(), e["gridWidth"].as_u64()),
            (Some(100.0), Some(10))
        );
        assert_eq!(e["values"].as_array().map(Vec::len), Some(70));
        assert_eq!(e["values"][3 * 10 + 4], json!(0.5));
        let back = parse(&doc, (1000, 700)).expect("parse");
        assert_eq!(back.get(4, 3), Some(0.5));
        assert_eq!(back.get(9, 6), Some(1.0));
        assert_eq!(back.get(1, 0), Some(0.0), "unanalysed cells come back as 0");
        // Girder's wrapper and lists of annotations are read too.
        let wrapped = json!([{ "_id": "x", "annotation": doc }]);
        assert_eq!(parse(&wrapped, (1000, 700)).expect("wrapped"), back);
    }

    #[test]
    fn an_offset_grid_is_sampled_at_our_cell_centres() {
        // A 2 x 2 grid of 200 px cells with points at (100, 100) ... (300, 300).
        let doc = json!({ "elements": [{ "type": "griddata", "origin": [100, 100, 0], "dx": 200,
            "dy": 200, "gridWidth": 2, "values": [0.1, 0.2, 0.3, 0.4] }] });
        let h = parse(&doc, (400, 400)).expect("parse");
        assert_eq!((h.cols, h.rows, h.cell_level0), (2, 2, 200.0));
        assert_eq!(h.get(1, 1), Some(0.4));
    }

    #[test]
    fn bad_griddata_is_refused_naming_the_element_and_field() {
        let cases = [
            (json!({ "elements": [] }), "no griddata"),
            (
                json!({ "elements": [{ "type": "point" }, { "type": "griddata", "gridWidth": 0, "values": [] }] }),
                "element 1: \"gridWidth\"",
            ),
            (
                json!({ "elements": [{ "type": "griddata", "gridWidth": 2, "values": [1, 2, 3] }] }),
                "3 values",
            ),
            (
                json!({ "elements": [{ "type": "griddata", "gridWidth": 1, "dx": 2, "dy": 3, "values": [1] }] }),
                "square",
            ),
            (
                json!({ "elements": [{ "type": "griddata", "gridWidth": 1, "values": ["a"] }] }),
                "value 0",
            ),
        ];
        for (doc, want) in cases {
            let e = parse(&doc, (10, 10)).expect_err("refused");
            assert!(e.contains(want), "{e} (wanted {want})");
        }
    }
}
