//! ASAP XML (import and export) and Aperio ImageScope XML (import). Both hold level-0 pixel
//! coordinates. The file is parsed whole into elements that remember their line before anything is
//! interpreted, so an error names the line and nothing is imported from a malformed file.
//!
//! ASAP has no holes: on export a hole becomes its own polygon in the group "Holes" (the convention
//! of Camelyon16's exclusion group). ImageScope's negative regions (`NegativeROA="1"`) are holes
//! cut from the positive regions of their layer.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::document::{Annotation, Class, new_id};
use super::geojson::Imported;
use super::shape::{Point, Shape};

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: {message}")]
pub struct XmlError {
    pub line: usize,
    pub message: String,
}

/// One XML element with its attributes, children and the line it starts on.
#[derive(Debug, Clone, Default)]
pub(super) struct Elem {
    pub(super) name: String,
    attrs: Vec<(String, String)>,
    pub(super) children: Vec<Elem>,
    /// The element's own text (entities resolved), for formats that keep values in text (NDPA).
    pub(super) text: String,
    pub(super) line: usize,
}

impl Elem {
    pub(super) fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn child(&self, name: &str) -> Option<&Elem> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(super) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Elem> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub(super) fn fail(&self, message: impl Into<String>) -> XmlError {
        XmlError {
            line: self.line,
            message: message.into(),
        }
    }

    pub(super) fn number(&self, key: &str) -> Result<f64, XmlError> {
        let v = self
            .attr(key)
            .ok_or_else(|| self.fail(format!("<{}> has no {key}", self.name)))?;
        // Some writers use a decimal comma.
        let x = v
            .trim()
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| self.fail(format!("<{}> {key}=\"{v}\" is not a number", self.name)))?;
        let max = crate::annotate::shape::MAX_COORDINATE;
        if x.abs() > max {
            return Err(self.fail(format!(
                "<{}> {key}=\"{v}\" is beyond any slide (at most {max:e} px)",
                self.name
            )));
        }
        Ok(x)
    }
}

/// Byte offsets of the newlines, so that the line of any byte is a binary search (counting from
/// the start for every element made a 40,000-vertex file take 26 s).
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        Self(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The 1-based line holding byte `byte`.
    fn line(&self, byte: u64) -> usize {
        self.0.partition_point(|&nl| (nl as u64) < byte) + 1
    }
}

pub(super) fn parse(text: &str) -> Result<Elem, XmlError> {
    let lines = LineIndex::new(text);
    let line_of = |_: &str, byte: u64| lines.line(byte);
    // Strict, as an XML parser is: what is not well-formed imports nothing.
    if let Some(at) = text.find('\0') {
        return Err(XmlError {
            line: line_of(text, at as u64),
            message: "a NUL character: not an XML file".into(),
        });
    }
    let mut reader = quick_xml::Reader::from_str(text);
    // Text is kept whole (NDPA titles hold entities between words); readers trim what they use.
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Elem> = vec![Elem::default()];
    let open = |e: &BytesStart<'_>, line: usize| -> Result<Elem, XmlError> {
        let mut attrs = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| XmlError {
                line,
                message: err.to_string(),
            })?;
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| XmlError {
                    line,
                    message: err.to_string(),
                })?;
            if value
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            {
                return Err(XmlError {
                    line,
                    message: format!(
                        "attribute {} holds a control character (e.g. &#0;)",
                        a.key.as_ref()
                    ),
                });
            }
            attrs.push((a.key.as_ref().to_owned(), value.into_owned()));
        }
        Ok(Elem {
            name: e.name().as_ref().to_owned(),
            attrs,
            children: Vec::new(),
            text: String::new(),
            line,
        })
    };
    loop {
        let before = reader.buffer_position();
        let event = reader.read_event().map_err(|e| XmlError {
            line: line_of(text, reader.error_position()),
            message: e.to_string(),
        })?;
        // The event starts after any whitespace that was skipped before it.
        let start = text
            .get(before as usize..)
            .map_or(0, |rest| rest.len() - rest.trim_start().len());
        let line = line_of(text, before + start as u64);
        match event {
            Event::Start(e) => stack.push(open(&e, line)?),
            Event::Empty(e) => {
                let el = open(&e, line)?;
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| XmlError {
                    line,
                    message: "closing tag without an opening one".into(),
                })?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => {
                        return Err(XmlError {
                            line,
                            message: "closing tag without an opening one".into(),
                        });
                    }
                }
            }
            Event::Eof => break,
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    let enc = enc.to_ascii_lowercase();
                    if !matches!(enc.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii") {
                        return Err(XmlError {
                            line,
                            message: format!(
                                "declared encoding {enc:?}: only UTF-8 files are read (save it as UTF-8)"
                            ),
                        });
                    }
                }
            }
            Event::Text(t) if stack.len() > 1 => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(AsRef::<str>::as_ref(&t));
                }
            }
            Event::GeneralRef(r) if stack.len() > 1 => {
                let c = match AsRef::<str>::as_ref(&r) {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    _ => r.resolve_char_ref().ok().flatten(),
                };
                let c = c.ok_or_else(|| XmlError {
                    line,
                    message: format!("unknown entity &{};", AsRef::<str>::as_ref(&r)),
                })?;
                if let Some(el) = stack.last_mut() {
                    el.text.push(c);
                }
            }
            Event::Text(t) if stack.len() == 1 && !AsRef::<str>::as_ref(&t).trim().is_empty() => {
                return Err(XmlError {
                    line,
                    message: "text outside the root element".into(),
                });
            }
            Event::CData(_) | Event::GeneralRef(_) if stack.len() == 1 => {
                return Err(XmlError {
                    line,
                    message: "content outside the root element".into(),
                });
            }
            _ => {}
        }
    }
    if stack.len() != 1 {
        let open = stack
            .last()
            .map(|e| (e.name.clone(), e.line))
            .unwrap_or_default();
        return Err(XmlError {
            line: line_of(text, text.len() as u64),
            message: format!(
                "the file ends inside <{}> (opened on line {})",
                open.0, open.1
            ),
        });
    }
    let doc = stack.pop().unwrap_or_default();
    // Everything after a first root was once ignored, annotations included.
    if let Some(second) = doc.children.get(1) {
        return Err(XmlError {
            line: second.line,
            message: format!(
                "a second root element <{}>: an XML file has exactly one",
                second.name
            ),
        });
    }
    doc.children.into_iter().next().ok_or(XmlError {
        line: 1,
        message: "no root element".into(),
    })
}

/// Imports ASAP or ImageScope XML, told apart by the root element.
pub fn import(text: &str) -> Result<Imported, XmlError> {
    let root = parse(text)?;
    match root.name.as_str() {
        "ASAP_Annotations" => import_asap(&root),
        "Annotations" => import_imagescope(&root),
        other => Err(root.fail(format!(
            "root element <{other}> is neither ASAP's <ASAP_Annotations> nor ImageScope's <Annotations>"
        ))),
    }
}

pub(super) fn hex_color(s: &str) -> Option<[u8; 3]> {
    let h = s.trim().trim_start_matches('#');
    if h.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

pub(super) fn bbox_of(points: &[Point]) -> (Point, Point) {
    let mut min = [f64::INFINITY; 2];
    let mut max = [f64::NEG_INFINITY; 2];
    for p in points {
        min = [min[0].min(p[0]), min[1].min(p[1])];
        max = [max[0].max(p[0]), max[1].max(p[1])];
    }
    (min, max)
}

fn add_class(classes: &mut Vec<Class>, name: &str, color: Option<[u8; 3]>) {
    match classes.iter_mut().find(|c| c.name == name) {
        Some(c) => {
            if let Some(col) = color {
                c.color = col;
            }
        }
        None => classes.push(Class {
            name: name.to_owned(),
            color: color.unwrap_or([128, 128, 128]),
        }),
    }
}

fn import_asap(root: &Elem) -> Result<Imported, XmlError> {
    let mut out = Imported::default();
    if let Some(groups) = root.child("AnnotationGroups") {
        for g in groups.all("Group") {
            let name = g
                .attr("Name")
                .ok_or_else(|| g.fail("<Group> has no Name"))?;
            add_class(&mut out.classes, name, g.attr("Color").and_then(hex_color));
        }
    }
    let Some(list) = root.child("Annotations") else {
        return Ok(out);
    };
    for a in list.all("Annotation") {
        let mut coords: Vec<(f64, Point)> = Vec::new();
        for (i, c) in a
            .child("Coordinates")
            .map(|c| c.all("Coordinate").collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let order = c.number("Order").unwrap_or(i as f64);
            coords.push((order, [c.number("X")?, c.number("Y")?]));
        }
        coords.sort_by(|x, y| x.0.total_cmp(&y.0));
        let points: Vec<Point> = coords.into_iter().map(|(_, p)| p).collect();
        let kind = a.attr("Type").unwrap_or("Polygon");
        let need = |n: usize| -> Result<(), XmlError> {
            if points.len() < n {
                Err(a.fail(format!(
                    "a {kind} annotation needs at least {n} coordinate(s), found {}",
                    points.len()
                )))
            } else {
                Ok(())
            }
        };
        let shape = match kind {
            "Rectangle" => {
                need(2)?;
                let (min, max) = bbox_of(&points);
                Shape::Rectangle { min, max }
            }
            "Dot" | "PointSet" => {
                need(1)?;
                Shape::Points { points }
            }
            "Measurement" => {
                need(2)?;
                Shape::Line { points }
            }
            "Polygon" | "Spline" => {
                need(3)?;
                Shape::polygon(points)
            }
            other => return Err(a.fail(format!("annotation type \"{other}\" is not supported"))),
        };
        let class = a
            .attr("PartOfGroup")
            .filter(|g| !g.is_empty() && *g != "None")
            .map(str::to_owned);
        if let Some(c) = &class {
            add_class(&mut out.classes, c, None);
        }
        if shape.is_degenerate() {
            return Err(a.fail("the annotation's geometry is empty"));
        }
        out.annotations.push(Annotation {
            id: new_id(),
            shape,
            class,
            name: a.attr("Name").unwrap_or_default().to_owned(),
            comment: String::new(),
        });
    }
    Ok(out)
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// ASAP XML for `annotations`, with the classes in use as groups.
pub fn export_asap(annotations: &[Annotation], classes: &[Class]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<ASAP_Annotations>\n\t<Annotations>\n");
    let mut holes = false;
    let mut write = |name: &str, kind: &str, group: &str, color: [u8; 3], points: &[Point]| {
        out.push_str(&format!(
            "\t\t<Annotation Name=\"{}\" Type=\"{kind}\" PartOfGroup=\"{}\" Color=\"#{:02X}{:02X}{:02X}\">\n\t\t\t<Coordinates>\n",
            esc(name),
            esc(group),
            color[0],
            color[1],
            color[2]
        ));
        for (i, p) in points.iter().enumerate() {
            out.push_str(&format!(
                "\t\t\t\t<Coordinate Order=\"{i}\" X=\"{}\" Y=\"{}\" />\n",
                p[0], p[1]
            ));
        }
        out.push_str("\t\t\t</Coordinates>\n\t\t</Annotation>\n");
    };
    for (k, a) in annotations.iter().enumerate() {
        let group = a.class.as_deref().unwrap_or("None");
        let color = a
            .class
            .as_ref()
            .and_then(|c| classes.iter().find(|x| &x.name == c))
            .map_or([244, 250, 88], |c| c.color);
        let name = if a.name.is_empty() {
            format!("Annotation {k}")
        } else {
            a.name.clone()
        };
        match &a.shape {
            Shape::Rectangle { .. } => write(&name, "Rectangle", group, color, &a.shape.vertices()),
            Shape::Ellipse { .. } => write(&name, "Polygon", group, color, &a.shape.outline()),
            Shape::Area { polygons } => {
                for p in polygons {
                    write(&name, "Polygon", group, color, &p[0]);
                    for h in &p[1..] {
                        holes = true;
                        write(&format!("{name} hole"), "Polygon", "Holes", color, h);
                    }
                }
            }
            Shape::Points { points } => {
                let kind = if points.len() == 1 { "Dot" } else { "PointSet" };
                write(&name, kind, group, color, points);
            }
            Shape::Line { points } => write(&name, "Measurement", group, color, points),
        }
    }
    out.push_str("\t</Annotations>\n\t<AnnotationGroups>\n");
    let mut groups: Vec<&Class> = classes
        .iter()
        .filter(|c| {
            annotations
                .iter()
                .any(|a| a.class.as_ref() == Some(&c.name))
        })
        .collect();
    let hole_class = Class {
        name: "Holes".into(),
        color: [64, 64, 64],
    };
    if holes {
        groups.push(&hole_class);
    }
    for c in groups {
        out.push_str(&format!(
            "\t\t<Group Name=\"{}\" PartOfGroup=\"None\" Color=\"#{:02X}{:02X}{:02X}\">\n\t\t\t<Attributes />\n\t\t</Group>\n",
            esc(&c.name),
            c.color[0],
            c.color[1],
            c.color[2]
        ));
    }
    out.push_str("\t</AnnotationGroups>\n</ASAP_Annotations>\n");
    out
}

fn import_imagescope(root: &Elem) -> Result<Imported, XmlError> {
    let mut out = Imported::default();
    for layer in root.all("Annotation") {
        // LineColor is a Windows COLORREF: 0x00BBGGRR.
        let color = layer
            .attr("LineColor")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map(|v| [v as u8, (v >> 8) as u8, (v >> 16) as u8]);
        let layer_name = layer.attr("Name").filter(|n| !n.trim().is_empty());
        let mut positives: Vec<(Shape, String, Option<String>, usize)> = Vec::new();
        let mut negatives: Vec<Shape> = Vec::new();
        for region in layer
            .child("Regions")
            .map(|r| r.all("Region").collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let vertices: Vec<Point> = region
                .child("Vertices")
                .map(|v| v.all("Vertex").collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(|v| Ok([v.number("X")?, v.number("Y")?]))
                .collect::<Result<_, XmlError>>()?;
            let kind = region.attr("Type").unwrap_or("0").trim();
            let need = |n: usize| -> Result<(), XmlError> {
                if vertices.len() < n {
                    Err(region.fail(format!(
                        "a region of type {kind} needs at least {n} vertices, found {}",
                        vertices.len()
                    )))
                } else {
                    Ok(())
                }
            };
            let shape = match kind {
                "1" => {
                    need(2)?;
                    let (min, max) = bbox_of(&vertices);
                    Shape::Rectangle { min, max }
                }
                "2" => {
                    need(2)?;
                    let (min, max) = bbox_of(&vertices);
                    Shape::ellipse_in(min, max)
                }
                "3" | "4" => {
                    need(2)?;
                    Shape::Line { points: vertices }
                }
                _ => {
                    need(3)?;
                    Shape::polygon(vertices)
                }
            };
            let text = region.attr("Text").unwrap_or_default().to_owned();
            if region.attr("NegativeROA").map(str::trim) == Some("1") && shape.is_area() {
                negatives.push(shape);
            } else {
                let class = layer_name
                    .map(str::to_owned)
                    .or_else(|| (!text.trim().is_empty()).then(|| text.trim().to_owned()));
                positives.push((shape, text, class, region.line));
            }
        }
        for (mut shape, text, class, line) in positives {
            for n in &negatives {
                let b = (shape.bbox(), n.bbox());
                let overlaps =
                    b.0[0] < b.1[2] && b.1[0] < b.0[2] && b.0[1] < b.1[3] && b.1[1] < b.0[3];
                if overlaps
                    && shape.is_area()
                    && let Some(cut) = shape.combine(n, true)
                {
                    shape = cut;
                }
            }
            if let Some(c) = &class {
                add_class(&mut out.classes, c, color);
            }
            if shape.is_degenerate() {
                return Err(XmlError {
                    line,
                    message: "the region's geometry is empty (its negative regions cover it)"
                        .into(),
                });
            }
            out.annotations.push(Annotation {
                id: new_id(),
                shape,
                class,
                name: text,
                comment: String::new(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_finds_each_bytes_line() {
        let text = "a\nbc\n\nd";
        let idx = LineIndex::new(text);
        let lines: Vec<usize> = (0..text.len() as u64).map(|b| idx.line(b)).collect();
        assert_eq!(lines, vec![1, 1, 2, 2, 2, 3, 4]);
    }

    /// What an XML parser rejects imports nothing (each once imported with exit 0).
    #[test]
    fn malformed_xml_is_refused_not_half_read() {
        let body = r#"<ASAP_Annotations><Annotations><Annotation Name="a" Type="Polygon" PartOfGroup="Tumor"><Coordinates><Coordinate Order="0" X="0" Y="0"/><Coordinate Order="1" X="10" Y="0"/><Coordinate Order="2" X="10" Y="10"/></Coordinates></Annotation></Annotations></ASAP_Annotations>"#;
        let ok = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}");
        assert_eq!(import(&ok).expect("UTF-8 declared").annotations.len(), 1);
        for (bad, why) in [
            (
                format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n{body}"),
                "encoding",
            ),
            (body.replace("Name=\"a\"", "Name=\"a\0\""), "NUL"),
            // quick-xml refuses &#0; itself; other control characters are refused here.
            (body.replace("Name=\"a\"", "Name=\"a&#0;\""), "character"),
            (
                body.replace("Name=\"a\"", "Name=\"a&#27;[31m\""),
                "control character",
            ),
            (format!("<![CDATA[x]]>{body}"), "outside the root"),
            (format!("stray text {body}"), "outside the root"),
        ] {
            let e = import(&bad).expect_err(why);
            assert!(e.message.contains(why), "{why}: {e}");
        }
    }

    /// A file with two roots once imported the first root's annotations and dropped the rest,
    /// with exit 0.
    #[test]
    fn a_second_root_refuses_the_file_naming_its_line() {
        let one = r#"<ASAP_Annotations><Annotations><Annotation Name="a" Type="Polygon" PartOfGroup="Tumor"><Coordinates><Coordinate Order="0" X="0" Y="0"/><Coordinate Order="1" X="10" Y="0"/><Coordinate Order="2" X="10" Y="10"/></Coordinates></Annotation></Annotations></ASAP_Annotations>"#;
        assert_eq!(import(one).expect("one root").annotations.len(), 1);
        let two = format!("{one}\n{one}");
        let e = import(&two).expect_err("two roots");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("second root"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        let e = import("<ASAP_Annotations>\n<Annotations>\n<Annotation Type=\"Polygon\">\n<Coordinates>\n<Coordinate Order=\"0\" X=\"1\" Y=\"oops\" />\n</Coordinates></Annotation></Annotations></ASAP_Annotations>")
            .expect_err("bad number");
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("Y=\"oops\""), "{e}");
        let e = import("<ASAP_Annotations>\n<Annotations>\n").expect_err("truncated");
        assert!(e.message.contains("ends inside <Annotations>"), "{e}");
        let e = import("<svg></svg>").expect_err("not ours");
        assert!(e.message.contains("<svg>"), "{e}");
    }

    #[test]
    fn asap_colours_and_types() {
        assert_eq!(hex_color("#F4FA58"), Some([0xF4, 0xFA, 0x58]));
        assert_eq!(hex_color("red"), None);
        let text = r##"<?xml version="1.0"?>
<ASAP_Annotations>
  <Annotations>
    <Annotation Name="A" Type="Rectangle" PartOfGroup="Tumor" Color="#F4FA58">
      <Coordinates>
        <Coordinate Order="2" X="30" Y="40" />
        <Coordinate Order="0" X="10" Y="20" />
        <Coordinate Order="1" X="30" Y="20" />
        <Coordinate Order="3" X="10" Y="40" />
      </Coordinates>
    </Annotation>
    <Annotation Name="B" Type="Dot" PartOfGroup="None" Color="#F4FA58">
      <Coordinates><Coordinate Order="0" X="5" Y="6" /></Coordinates>
    </Annotation>
  </Annotations>
  <AnnotationGroups>
    <Group Name="Tumor" PartOfGroup="None" Color="#C80000"><Attributes /></Group>
  </AnnotationGroups>
</ASAP_Annotations>"##;
        let got = import(text).expect("valid");
        assert_eq!(
            got.annotations[0].shape,
            Shape::rectangle([10.0, 20.0], [30.0, 40.0])
        );
        assert_eq!(got.annotations[0].class.as_deref(), Some("Tumor"));
        assert_eq!(got.annotations[1].class, None);
        assert_eq!(
            got.classes,
            vec![Class {
                name: "Tumor".into(),
                color: [200, 0, 0]
            }]
        );
    }
}
