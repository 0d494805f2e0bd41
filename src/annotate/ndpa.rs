//! Hamamatsu NDP.view annotations (`.ndpa`): XML whose coordinates are nanometres from the centre
//! of the glass slide, not pixels. The NDPI records where its image sits relative to that centre
//! (`hamamatsu.XOffsetFromSlideCentre` / `YOffsetFromSlideCentre`, nm), so a point lands at
//! `(x_nm - x_offset) / (1000 * mpp_x) + width / 2` (and likewise for y) in level-0 pixels.
//!
//! Each `<ndpviewstate>` holds one `<annotation>`: `freehand` (a polygon when `<closed>` is 1, a
//! polyline otherwise; a rectangle when NDP.view drew it as one), `circle` (centre and radius),
//! `pointer` (an arrow: a two-point line), `linearmeasure` (a ruler) and `pin` (a point). The
//! state's `<title>` becomes the name and `<details>` the comment.

use super::document::{Annotation, new_id};
use super::geojson::Imported;
use super::shape::{Point, Shape};
use super::xml::{Elem, XmlError, bbox_of, parse};

/// How NDPA's slide-centred nanometres map onto one slide's level-0 pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NdpaFrame {
    pub dims: (u64, u64),
    /// µm per level-0 pixel.
    pub mpp: (f64, f64),
    /// The image centre's offset from the slide centre, nm.
    pub offset_nm: (f64, f64),
}

impl NdpaFrame {
    /// The frame of a slide with these properties (OpenSlide's names), or why there is none.
    pub fn from_properties(
        dims: (u64, u64),
        mpp: Option<(f64, f64)>,
        properties: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let mpp = mpp
            .ok_or("NDPA coordinates are in nanometres, and this slide records no µm per pixel")?;
        let offset = |key: &str| -> Result<f64, String> {
            properties
                .get(key)
                .ok_or(format!(
                    "NDPA coordinates are relative to the glass slide's centre, and this slide has no {key} (NDPA files belong to NDPI slides)"
                ))?
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or(format!("this slide's {key} is not a number"))
        };
        Ok(Self {
            dims,
            mpp,
            offset_nm: (
                offset("hamamatsu.XOffsetFromSlideCentre")?,
                offset("hamamatsu.YOffsetFromSlideCentre")?,
            ),
        })
    }

    /// Level-0 pixel of a point given in NDPA nanometres.
    pub fn to_pixels(&self, x_nm: f64, y_nm: f64) -> Point {
        [
            (x_nm - self.offset_nm.0) / (1000.0 * self.mpp.0) + self.dims.0 as f64 / 2.0,
            (y_nm - self.offset_nm.1) / (1000.0 * self.mpp.1) + self.dims.1 as f64 / 2.0,
        ]
    }
}

fn value(e: &Elem, name: &str) -> Result<f64, XmlError> {
    let c = e
        .child(name)
        .ok_or_else(|| e.fail(format!("<{}> has no <{name}>", e.name)))?;
    c.text
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| c.fail(format!("<{name}> is not a number: {:?}", c.text.trim())))
}

/// Reads an NDPA document onto the slide described by `frame`; nothing is imported from a file
/// with any error, which names its line.
pub fn import(text: &str, frame: &NdpaFrame) -> Result<Imported, XmlError> {
    let root = parse(text)?;
    if root.name != "annotations" {
        return Err(root.fail(format!(
            "root element <{}> is not NDP.view's <annotations>",
            root.name
        )));
    }
    let mut out = Imported::default();
    for state in root.all("ndpviewstate") {
        if let Some(f) = state.child("coordformat")
            && !f.text.trim().eq_ignore_ascii_case("nanometers")
        {
            return Err(f.fail(format!(
                "coordinates in {:?}: only nanometers are known",
                f.text.trim()
            )));
        }
        let Some(a) = state.child("annotation") else {
            continue;
        };
        let at = |e: &Elem, x: &str, y: &str| -> Result<Point, XmlError> {
            Ok(frame.to_pixels(value(e, x)?, value(e, y)?))
        };
        let kind = a.attr("type").unwrap_or_default();
        let shape = match kind {
            "freehand" => {
                let points: Vec<Point> = a
                    .child("pointlist")
                    .map(|l| l.all("point").map(|p| at(p, "x", "y")).collect())
                    .transpose()?
                    .unwrap_or_default();
                let closed = a.child("closed").is_none_or(|c| c.text.trim() != "0");
                let rectangle = a.attr("displayname") == Some("AnnotateRectangle")
                    || a.child("specialtype")
                        .is_some_and(|s| s.text.trim() == "rectangle");
                let need = if closed { 3 } else { 2 };
                if points.len() < need {
                    return Err(a.fail(format!(
                        "a freehand annotation needs at least {need} points, found {}",
                        points.len()
                    )));
                }
                if rectangle {
                    let (min, max) = bbox_of(&points);
                    Shape::Rectangle { min, max }
                } else if closed {
                    Shape::polygon(points)
                } else {
                    Shape::Line { points }
                }
            }
            "circle" => {
                let r = value(a, "radius")?;
                if r <= 0.0 {
                    return Err(a.fail("a circle's <radius> must be positive"));
                }
                Shape::Ellipse {
                    centre: at(a, "x", "y")?,
                    radii: [r / (1000.0 * frame.mpp.0), r / (1000.0 * frame.mpp.1)],
                }
            }
            "pointer" | "linearmeasure" => Shape::Line {
                points: vec![at(a, "x1", "y1")?, at(a, "x2", "y2")?],
            },
            "pin" => Shape::Points {
                points: vec![at(a, "x", "y")?],
            },
            other => {
                return Err(a.fail(format!(
                    "annotation type {other:?} is not supported (freehand, circle, pointer, linearmeasure and pin are)"
                )));
            }
        };
        if shape.is_degenerate() {
            return Err(a.fail("the annotation's geometry is empty"));
        }
        // Nanometres far off this slide become pixels beyond any slide: refused as the other
        // importers refuse them.
        shape
            .check()
            .map_err(|why| a.fail(format!("on this slide, {why}")))?;
        let text_of = |name: &str| {
            state
                .child(name)
                .map(|t| t.text.trim().to_owned())
                .unwrap_or_default()
        };
        out.annotations.push(Annotation {
            id: new_id(),
            shape,
            class: None,
            name: text_of("title"),
            comment: text_of("details"),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> NdpaFrame {
        NdpaFrame {
            dims: (1000, 800),
            mpp: (0.25, 0.5),
            offset_nm: (1_000_000.0, -2_000.0),
        }
    }

    #[test]
    fn nanometres_from_the_slide_centre_become_pixels() {
        let f = frame();
        // The image centre sits at the offset.
        assert_eq!(f.to_pixels(1_000_000.0, -2_000.0), [500.0, 400.0]);
        // 250 nm is one pixel across at 0.25 µm/px; 500 nm one pixel down at 0.5.
        assert_eq!(f.to_pixels(1_000_250.0, -1_500.0), [501.0, 401.0]);
    }

    #[test]
    fn each_shape_type_and_its_errors() {
        let doc = r#"<?xml version="1.0"?>
<annotations>
  <ndpviewstate id="1"><title>A &amp; B</title><details>note</details><coordformat>nanometers</coordformat>
    <annotation type="circle"><x>1000000</x><y>-2000</y><radius>2500</radius></annotation>
  </ndpviewstate>
  <ndpviewstate id="2"><title>open</title>
    <annotation type="freehand"><closed>0</closed><pointlist>
      <point><x>1000000</x><y>-2000</y></point><point><x>1002500</x><y>-2000</y></point>
    </pointlist></annotation>
  </ndpviewstate>
  <ndpviewstate id="3"><title>arrow</title>
    <annotation type="pointer"><x1>1000000</x1><y1>-2000</y1><x2>1000250</x2><y2>-1500</y2></annotation>
  </ndpviewstate>
</annotations>"#;
        let got = import(doc, &frame()).expect("import");
        assert_eq!(got.annotations.len(), 3);
        let c = &got.annotations[0];
        assert_eq!((c.name.as_str(), c.comment.as_str()), ("A & B", "note"));
        assert_eq!(
            c.shape,
            Shape::Ellipse {
                centre: [500.0, 400.0],
                radii: [10.0, 5.0]
            }
        );
        assert_eq!(
            got.annotations[1].shape,
            Shape::Line {
                points: vec![[500.0, 400.0], [510.0, 400.0]]
            }
        );
        assert_eq!(
            got.annotations[2].shape,
            Shape::Line {
                points: vec![[500.0, 400.0], [501.0, 401.0]]
            }
        );
        for (bad, want) in [
            (
                doc.replace("<radius>2500", "<radius>x2500"),
                "line 4: <radius> is not a number",
            ),
            (
                doc.replace("\"circle\"", "\"ruler\""),
                "line 4: annotation type \"ruler\"",
            ),
            (
                doc.replace("<x1>1000000</x1>", ""),
                "line 12: <annotation> has no <x1>",
            ),
            (doc.replace("nanometers", "pixels"), "only nanometers"),
            (
                doc.replace(
                    "<x>1000000</x><y>-2000</y><radius>",
                    "<x>1e30</x><y>-2000</y><radius>",
                ),
                "line 4: on this slide, position",
            ),
            (
                doc.replace("annotations>", "Annotations>"),
                "<Annotations> is not NDP.view's",
            ),
        ] {
            let e = import(&bad, &frame()).expect_err(want).to_string();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
    }

    #[test]
    fn a_slide_without_offsets_or_mpp_says_why() {
        let props = std::collections::BTreeMap::new();
        let e = NdpaFrame::from_properties((10, 10), Some((0.25, 0.25)), &props)
            .expect_err("no offsets");
        assert!(e.contains("hamamatsu.XOffsetFromSlideCentre"), "{e}");
        let e = NdpaFrame::from_properties((10, 10), None, &props).expect_err("no mpp");
        assert!(e.contains("µm per pixel"), "{e}");
    }
}
