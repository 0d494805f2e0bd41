//! The regions of a heatmap at or above a threshold as QuPath annotations: each connected region
//! one classified polygon along the tile edges, holes kept, clipped to the slide, with its peak and
//! mean risk and its area as measurements.

use geo::{Area, Coord, LineString, MultiPolygon, Polygon, Rect};
use serde_json::{Value, json};

use crate::analysis::heatmap::Heatmap;

/// The above-threshold cells of `h` merged into polygons (level-0 px, clipped to `slide`).
pub fn regions(h: &Heatmap, threshold: f32, slide: (u64, u64)) -> MultiPolygon<f64> {
    let (sw, sh) = (slide.0 as f64, slide.1 as f64);
    // Runs of hot cells along each row become one rectangle each; the union merges the rows.
    let mut rects: Vec<Polygon<f64>> = Vec::new();
    for r in 0..h.rows {
        let mut c = 0;
        while c < h.cols {
            if !h.get(c, r).is_some_and(|p| p >= threshold) {
                c += 1;
                continue;
            }
            let start = c;
            while c < h.cols && h.get(c, r).is_some_and(|p| p >= threshold) {
                c += 1;
            }
            let [x0, y0, _, _] = h.cell_box(start, r);
            let [_, _, x1, y1] = h.cell_box(c - 1, r);
            let (x1, y1) = (x1.min(sw), y1.min(sh));
            if x1 > x0 && y1 > y0 {
                rects.push(Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }).to_polygon());
            }
        }
    }
    if rects.is_empty() {
        return MultiPolygon::new(Vec::new());
    }
    geo::unary_union(&rects)
}

fn ring(ls: &LineString<f64>) -> Vec<[f64; 2]> {
    ls.coords().map(|c| [c.x, c.y]).collect()
}

/// QuPath-importable GeoJSON: one `annotation` feature per region, classified `class_name`, with
/// "Max risk", "Mean risk" (over the cells whose centre lies inside) and "Area µm^2" (where `mpp`
/// is known) as measurements.
pub fn to_geojson(
    h: &Heatmap,
    threshold: f32,
    slide: (u64, u64),
    mpp: Option<f64>,
    class_name: &str,
) -> Value {
    let features: Vec<Value> = regions(h, threshold, slide)
        .0
        .iter()
        .enumerate()
        .map(|(i, poly)| {
            let (mut max, mut sum, mut n) = (f32::MIN, 0.0f64, 0usize);
            let b = geo::BoundingRect::bounding_rect(poly);
            if let Some(b) = b {
                let s = h.cell_level0;
                let c0 = (b.min().x / s).floor().max(0.0) as u32;
                let r0 = (b.min().y / s).floor().max(0.0) as u32;
                let c1 = ((b.max().x / s).ceil() as u32).min(h.cols);
                let r1 = ((b.max().y / s).ceil() as u32).min(h.rows);
                for r in r0..r1 {
                    for c in c0..c1 {
                        let Some(p) = h.get(c, r).filter(|&p| p >= threshold) else {
                            continue;
                        };
                        let centre =
                            geo::Point::new((f64::from(c) + 0.5) * s, (f64::from(r) + 0.5) * s);
                        if geo::Contains::contains(poly, &centre) {
                            max = max.max(p);
                            sum += f64::from(p);
                            n += 1;
                        }
                    }
                }
            }
            let mut rings = vec![ring(poly.exterior())];
            rings.extend(poly.interiors().iter().map(ring));
            let mut measurements = json!({
                "Max risk": max,
                "Mean risk": if n > 0 { sum / n as f64 } else { 0.0 },
            });
            if let Some(m) = mpp {
                measurements["Area µm^2"] = json!(poly.unsigned_area() * m * m);
            }
            json!({
                "type": "Feature",
                "id": format!("region-{}", i + 1),
                "geometry": { "type": "Polygon", "coordinates": rings },
                "properties": {
                    "objectType": "annotation",
                    "name": format!("Risk ≥ {threshold:.2} ({})", i + 1),
                    "classification": { "name": class_name, "color": [200, 0, 0] },
                    "measurements": measurements,
                },
            })
        })
        .collect();
    json!({ "type": "FeatureCollection", "features": features })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 5 x 5 ring of hot cells around a cold centre, and one lone hot cell far away.
    fn ring_map() -> Heatmap {
        let mut h = Heatmap::new((1000, 800), 100.0);
        for r in 1..6 {
            for c in 1..6 {
                let edge = r == 1 || r == 5 || c == 1 || c == 5;
                h.set(c, r, if edge { 0.9 } else { 0.1 });
            }
        }
        h.set(9, 7, 0.7);
        h
    }

    #[test]
    fn a_ring_of_hot_tiles_is_one_polygon_with_a_hole() {
        let m = regions(&ring_map(), 0.5, (1000, 800));
        assert_eq!(m.0.len(), 2);
        let ring =
            m.0.iter()
                .find(|p| p.interiors().len() == 1)
                .expect("a polygon with a hole");
        // 25 cells minus the 9 inside.
        assert!((ring.unsigned_area() - 16.0 * 100.0 * 100.0).abs() < 1e-6);
        assert!((ring.interiors()[0].coords().count()) >= 5);
        let lone =
            m.0.iter()
                .find(|p| p.interiors().is_empty())
                .expect("lone cell");
        // Cell (9, 7) reaches y = 800: the slide's edge, so nothing is clipped, but its area is one cell.
        assert!((lone.unsigned_area() - 10_000.0).abs() < 1e-6);
    }

    #[test]
    fn cells_past_the_slide_edge_are_clipped() {
        let mut h = Heatmap::new((950, 750), 100.0);
        h.set(9, 7, 0.9);
        let m = regions(&h, 0.5, (950, 750));
        assert!((m.unsigned_area() - 50.0 * 50.0).abs() < 1e-6);
    }

    #[test]
    fn features_carry_class_and_measurements() {
        let g = to_geojson(&ring_map(), 0.5, (1000, 800), Some(0.5), "Tumor");
        let f = g["features"].as_array().expect("features");
        assert_eq!(f.len(), 2);
        let ring = f
            .iter()
            .find(|f| f["geometry"]["coordinates"].as_array().map(Vec::len) == Some(2))
            .expect("ring with hole");
        assert_eq!(ring["properties"]["classification"]["name"], "Tumor");
        assert_eq!(ring["properties"]["objectType"], "annotation");
        let m = &ring["properties"]["measurements"];
        assert!((m["Max risk"].as_f64().expect("max") - 0.9).abs() < 1e-6);
        assert!((m["Mean risk"].as_f64().expect("mean") - 0.9).abs() < 1e-6);
        // 16 cells of 50 µm.
        assert!((m["Area µm^2"].as_f64().expect("area") - 16.0 * 2500.0).abs() < 1e-6);
        assert!(
            to_geojson(&Heatmap::new((10, 10), 5.0), 0.5, (10, 10), None, "T")["features"]
                .as_array()
                .is_some_and(Vec::is_empty)
        );
    }
}
