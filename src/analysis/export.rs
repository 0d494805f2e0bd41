//! Heatmap exports: a CSV table (one row per analysed tile) and QuPath-compatible GeoJSON (one
//! square feature per tile, level-0 pixel coordinates, probability as a measurement).

use serde_json::json;

use super::heatmap::Heatmap;

/// `x,y,width,height,risk,class_probability` in level-0 pixels, one line per analysed tile,
/// row-major: `risk` is what the heatmap shows (calibrated where the model says how),
/// `class_probability` the model's raw output for the risk class (empty where it was not kept).
pub fn to_csv(h: &Heatmap) -> String {
    let mut out = String::from("x,y,width,height,risk,class_probability\n");
    for row in 0..h.rows {
        for col in 0..h.cols {
            if let Some(p) = h.get(col, row) {
                let [x0, y0, x1, y1] = h.cell_box(col, row);
                let raw = h
                    .raw(col, row)
                    .map(|r| format!("{r:.6}"))
                    .unwrap_or_default();
                out.push_str(&format!("{x0},{y0},{},{},{p:.6},{raw}\n", x1 - x0, y1 - y0));
            }
        }
    }
    out
}

/// A FeatureCollection QuPath imports: each analysed tile a `tile` object with a "Risk"
/// measurement, classified "Tumor" when at or above `threshold` (else unclassified).
pub fn to_geojson(h: &Heatmap, threshold: f32) -> serde_json::Value {
    let mut features = Vec::new();
    for row in 0..h.rows {
        for col in 0..h.cols {
            let Some(p) = h.get(col, row) else { continue };
            let [x0, y0, x1, y1] = h.cell_box(col, row);
            let mut properties = json!({
                "objectType": "tile",
                "measurements": { "Risk": p },
            });
            if p >= threshold {
                properties["classification"] = json!({ "name": "Tumor", "color": [200, 0, 0] });
            }
            features.push(json!({
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
                },
                "properties": properties,
            }));
        }
    }
    json!({ "type": "FeatureCollection", "features": features })
}

/// The heatmap as RGBA, one pixel per tile in `colormap`, transparent where nothing was analysed.
pub fn to_rgba(h: &Heatmap, colormap: crate::colormap::Colormap) -> Vec<u8> {
    h.values
        .iter()
        .flat_map(|v| match v {
            Some(p) => {
                let [r, g, b] = colormap.rgb(f64::from(*p));
                [r, g, b, 255]
            }
            None => [0, 0, 0, 0],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> Heatmap {
        let mut h = Heatmap::new((300, 200), 100.0);
        h.set(0, 0, 0.25);
        h.set_scored(2, 1, 0.75, 0.4);
        h
    }

    #[test]
    fn csv_lists_analysed_tiles_in_slide_coordinates() {
        assert_eq!(
            to_csv(&map()),
            "x,y,width,height,risk,class_probability\n0,0,100,100,0.250000,\n200,100,100,100,0.750000,0.400000\n"
        );
    }

    #[test]
    fn geojson_tiles_are_closed_squares_with_risk() {
        let g = to_geojson(&map(), 0.5);
        let f = g["features"].as_array().expect("features");
        assert_eq!(f.len(), 2);
        assert_eq!(f[1]["geometry"]["coordinates"][0][0], json!([200.0, 100.0]));
        assert_eq!(f[1]["geometry"]["coordinates"][0][2], json!([300.0, 200.0]));
        assert_eq!(f[1]["geometry"]["coordinates"][0][4], json!([200.0, 100.0]));
        assert_eq!(f[1]["properties"]["measurements"]["Risk"], json!(0.75));
        assert_eq!(f[1]["properties"]["classification"]["name"], "Tumor");
        assert!(f[0]["properties"].get("classification").is_none());
        assert_eq!(f[0]["properties"]["objectType"], "tile");
    }
}
