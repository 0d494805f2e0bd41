//! QuPath-compatible GeoJSON: a FeatureCollection of Features with `properties.objectType:
//! "annotation"`, `properties.classification {name, color}` and level-0 pixel coordinates, as
//! QuPath 0.4/0.5 exports and imports them. Rectangles and ellipses are written as polygons (as
//! QuPath writes its own); an axis-aligned four-corner polygon reads back as a rectangle.
//!
//! Import reads the whole file before returning anything: a malformed file yields an error that
//! names the line and column (syntax) or the feature (content), and no annotations.

use serde_json::{Map, Value, json};

use super::document::{Annotation, Class, new_id};
use super::shape::{Point, Shape};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GeoJsonError {
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Structure(String),
    #[error("feature {index}{id}: {message}")]
    Feature {
        index: usize,
        /// ` (id …)` where the feature has one.
        id: String,
        message: String,
    },
}

/// What an import found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Imported {
    pub annotations: Vec<Annotation>,
    /// Classes named by the file, with the file's colours, in order of first use.
    pub classes: Vec<Class>,
    /// Features that are not annotations (QuPath detections, cells, tiles): skipped.
    pub skipped: usize,
}

/// The GeoJSON text of `annotations` (classes looked up in `classes` for their colours).
pub fn export(annotations: &[Annotation], classes: &[Class]) -> String {
    let features: Vec<Value> = annotations.iter().map(|a| feature(a, classes)).collect();
    let doc = json!({ "type": "FeatureCollection", "features": features });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn feature(a: &Annotation, classes: &[Class]) -> Value {
    let mut properties = Map::new();
    properties.insert("objectType".into(), json!("annotation"));
    if !a.name.is_empty() {
        properties.insert("name".into(), json!(a.name));
    }
    if !a.comment.is_empty() {
        properties.insert("description".into(), json!(a.comment));
    }
    if let Some(name) = &a.class {
        let color = classes
            .iter()
            .find(|c| &c.name == name)
            .map_or([128, 128, 128], |c| c.color);
        properties.insert(
            "classification".into(),
            json!({ "name": name, "color": color }),
        );
    }
    properties.insert("isLocked".into(), json!(false));
    json!({
        "type": "Feature",
        "id": a.id,
        "geometry": geometry(&a.shape),
        "properties": properties,
    })
}

fn closed(ring: &[Point]) -> Vec<Point> {
    let mut r = ring.to_vec();
    if let Some(&first) = ring.first() {
        r.push(first);
    }
    r
}

/// The GeoJSON geometry of a shape (rectangles and ellipses as their outline polygon).
pub fn geometry(shape: &Shape) -> Value {
    match shape {
        Shape::Rectangle { .. } | Shape::Ellipse { .. } => {
            json!({ "type": "Polygon", "coordinates": [closed(&shape.outline())] })
        }
        Shape::Area { polygons } => {
            let rings =
                |p: &Vec<Vec<Point>>| -> Vec<Vec<Point>> { p.iter().map(|r| closed(r)).collect() };
            if polygons.len() == 1 {
                json!({ "type": "Polygon", "coordinates": rings(&polygons[0]) })
            } else {
                let all: Vec<Vec<Vec<Point>>> = polygons.iter().map(rings).collect();
                json!({ "type": "MultiPolygon", "coordinates": all })
            }
        }
        Shape::Points { points } => json!({ "type": "MultiPoint", "coordinates": points }),
        Shape::Line { points } => json!({ "type": "LineString", "coordinates": points }),
    }
}

/// Parses GeoJSON text: a FeatureCollection, a single Feature, or an array of Features (QuPath
/// writes all three).
pub fn import(text: &str) -> Result<Imported, GeoJsonError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| GeoJsonError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let features: Vec<&Value> = match &doc {
        Value::Array(list) => list.iter().collect(),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("FeatureCollection") => o
                .get("features")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    GeoJsonError::Structure("FeatureCollection without a \"features\" array".into())
                })?
                .iter()
                .collect(),
            Some("Feature") => vec![&doc],
            Some(other) => {
                return Err(GeoJsonError::Structure(format!(
                    "top-level \"type\" is \"{other}\"; expected FeatureCollection or Feature"
                )));
            }
            None => {
                return Err(GeoJsonError::Structure(
                    "top-level object has no \"type\"".into(),
                ));
            }
        },
        _ => {
            return Err(GeoJsonError::Structure(
                "expected a FeatureCollection, a Feature or an array of Features".into(),
            ));
        }
    };
    let mut out = Imported::default();
    for (index, f) in features.iter().enumerate() {
        let id = f.get("id").and_then(Value::as_str);
        let fail = |message: String| GeoJsonError::Feature {
            index,
            id: id.map(|i| format!(" (id {i})")).unwrap_or_default(),
            message,
        };
        if f.get("type").and_then(Value::as_str) != Some("Feature") {
            return Err(fail("\"type\" is not \"Feature\"".into()));
        }
        let props = f.get("properties").and_then(Value::as_object);
        let object_type = props
            .and_then(|p| p.get("objectType"))
            .and_then(Value::as_str)
            .unwrap_or("annotation");
        if object_type != "annotation" {
            out.skipped += 1;
            continue;
        }
        let shape = parse_geometry(f.get("geometry").unwrap_or(&Value::Null)).map_err(fail)?;
        if shape.is_degenerate() {
            return Err(fail(
                "the geometry is empty (no area, length or point left)".into(),
            ));
        }
        let text = |key: &str| {
            props
                .and_then(|p| p.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let class = match props.and_then(|p| p.get("classification")) {
            None | Some(Value::Null) => None,
            Some(c) => Some(parse_class(c).map_err(|m| fail(format!("classification: {m}")))?),
        };
        if let Some(c) = &class
            && !out.classes.iter().any(|k| k.name == c.name)
        {
            out.classes.push(c.clone());
        }
        out.annotations.push(Annotation {
            id: id.map_or_else(new_id, str::to_owned),
            shape,
            class: class.map(|c| c.name),
            name: text("name"),
            comment: text("description"),
        });
    }
    Ok(out)
}

fn parse_class(c: &Value) -> Result<Class, String> {
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .ok_or("no \"name\"")?
        .to_owned();
    let color = if let Some(rgb) = c.get("color").and_then(Value::as_array) {
        let ch: Vec<u8> = rgb
            .iter()
            .filter_map(Value::as_u64)
            .filter_map(|v| u8::try_from(v).ok())
            .collect();
        if ch.len() != 3 || rgb.len() != 3 {
            return Err("\"color\" must be three integers 0-255".into());
        }
        [ch[0], ch[1], ch[2]]
    } else if let Some(packed) = c.get("colorRGB").and_then(Value::as_i64) {
        // QuPath before 0.4: packed (A)RGB in a signed 32-bit integer.
        let v = packed as u32;
        [(v >> 16) as u8, (v >> 8) as u8, v as u8]
    } else {
        [128, 128, 128]
    };
    Ok(Class { name, color })
}

fn point(v: &Value, path: &str) -> Result<Point, String> {
    let a = v
        .as_array()
        .filter(|a| a.len() >= 2)
        .ok_or_else(|| format!("{path}: a position must be [x, y]"))?;
    let x = a[0].as_f64();
    let y = a[1].as_f64();
    match (x, y) {
        (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
            let max = crate::annotate::shape::MAX_COORDINATE;
            if x.abs() > max || y.abs() > max {
                return Err(format!(
                    "{path}: position [{x}, {y}] is beyond any slide (at most {max:e} px)"
                ));
            }
            Ok([x, y])
        }
        _ => Err(format!("{path}: a position must be two numbers")),
    }
}

fn points(v: &Value, path: &str) -> Result<Vec<Point>, String> {
    v.as_array()
        .ok_or_else(|| format!("{path}: expected an array of positions"))?
        .iter()
        .enumerate()
        .map(|(i, p)| point(p, &format!("{path}[{i}]")))
        .collect()
}

fn ring(v: &Value, path: &str) -> Result<Vec<Point>, String> {
    let mut r = points(v, path)?;
    if r.len() > 1 && r.first() == r.last() {
        r.pop();
    }
    if r.len() < 3 {
        return Err(format!(
            "{path}: a polygon ring needs at least 3 distinct positions, found {}",
            r.len()
        ));
    }
    Ok(r)
}

fn polygon(v: &Value, path: &str) -> Result<Vec<Vec<Point>>, String> {
    let rings = v
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("{path}: a polygon is a non-empty array of rings"))?;
    rings
        .iter()
        .enumerate()
        .map(|(i, r)| ring(r, &format!("{path}[{i}]")))
        .collect()
}

fn parse_geometry(g: &Value) -> Result<Shape, String> {
    let kind = g
        .get("type")
        .and_then(Value::as_str)
        .ok_or("geometry: missing or without \"type\"")?;
    let coords = g.get("coordinates").unwrap_or(&Value::Null);
    let at = "geometry.coordinates";
    match kind {
        "Polygon" => {
            let p = polygon(coords, at)?;
            if p.len() == 1
                && let Some(r) = as_rectangle(&p[0])
            {
                return Ok(r);
            }
            Ok(Shape::Area { polygons: vec![p] })
        }
        "MultiPolygon" => {
            let list = coords
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| format!("{at}: a MultiPolygon needs at least one polygon"))?;
            Ok(Shape::Area {
                polygons: list
                    .iter()
                    .enumerate()
                    .map(|(i, p)| polygon(p, &format!("{at}[{i}]")))
                    .collect::<Result<_, _>>()?,
            })
        }
        "Point" => Ok(Shape::Points {
            points: vec![point(coords, at)?],
        }),
        "MultiPoint" => {
            let p = points(coords, at)?;
            if p.is_empty() {
                return Err(format!("{at}: a MultiPoint needs at least one position"));
            }
            Ok(Shape::Points { points: p })
        }
        "LineString" => {
            let p = points(coords, at)?;
            if p.len() < 2 {
                return Err(format!("{at}: a LineString needs at least 2 positions"));
            }
            Ok(Shape::Line { points: p })
        }
        other => Err(format!(
            "geometry type \"{other}\" is not supported (Polygon, MultiPolygon, Point, MultiPoint, LineString are)"
        )),
    }
}

/// An axis-aligned rectangle given as four corners in order, if `ring` is one.
fn as_rectangle(ring: &[Point]) -> Option<Shape> {
    if ring.len() != 4 {
        return None;
    }
    let aligned = (0..4).all(|i| {
        let (a, b) = (ring[i], ring[(i + 1) % 4]);
        a[0] == b[0] || a[1] == b[1]
    });
    let r = Shape::rectangle(ring[0], ring[2]);
    (aligned && !r.is_degenerate()).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotate::document::default_classes;

    #[test]
    fn qupath_classes_old_and_new() {
        let c = parse_class(&json!({"name": "Tumor", "color": [200, 0, 0]})).expect("valid");
        assert_eq!(c.color, [200, 0, 0]);
        // -3670016 = 0xFFC80000: QuPath 0.2's packed ARGB for (200, 0, 0).
        let c = parse_class(&json!({"name": "Tumor", "colorRGB": -3670016})).expect("valid");
        assert_eq!(c.color, [200, 0, 0]);
        assert!(parse_class(&json!({"name": "X", "color": [300, 0, 0]})).is_err());
    }

    #[test]
    fn a_rectangle_is_written_as_a_closed_polygon_and_read_back_as_a_rectangle() {
        let a = Annotation::new(
            Shape::rectangle([10.0, 20.0], [110.0, 70.0]),
            Some("Stroma".into()),
        );
        let text = export(std::slice::from_ref(&a), &default_classes());
        let v: Value = serde_json::from_str(&text).expect("valid");
        let ring = &v["features"][0]["geometry"]["coordinates"][0];
        assert_eq!(ring.as_array().expect("valid").len(), 5);
        assert_eq!(ring[0], ring[4]);
        assert_eq!(
            v["features"][0]["properties"]["classification"],
            json!({"name": "Stroma", "color": [150, 200, 150]})
        );
        let back = import(&text).expect("valid");
        assert_eq!(back.annotations, vec![a]);
    }

    #[test]
    fn errors_name_the_place() {
        match import("{\"type\": \"FeatureCollection\",\n \"features\": [,]}") {
            Err(GeoJsonError::Syntax { line: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
        let bad = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": "a", "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": {}},
            {"type": "Feature", "id": "b", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}, "properties": {}}
        ]});
        let e = import(&bad.to_string()).expect_err("an error");
        assert_eq!(
            e.to_string(),
            "feature 1 (id b): geometry.coordinates[0]: a polygon ring needs at least 3 distinct positions, found 2"
        );
        let e = import(
            r#"{"type": "Feature", "geometry": {"type": "GeometryCollection", "geometries": []}}"#,
        )
        .expect_err("an error");
        assert!(
            e.to_string()
                .starts_with("feature 0: geometry type \"GeometryCollection\""),
            "{e}"
        );
    }
}
