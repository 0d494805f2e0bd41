//! Annotations: shapes in level-0 slide coordinates with classes, names and comments; undoable
//! edits; interchange with QuPath (GeoJSON), ASAP and Aperio ImageScope (XML).

pub mod document;
pub mod geojson;
pub mod shape;
pub mod tool;
pub mod xml;

pub use document::{Annotation, Change, Class, Document, Edit, default_classes};
pub use shape::{Measures, Point, Shape};

/// Reads annotations from QuPath GeoJSON, or ASAP / ImageScope XML (`.xml`); the error names the
/// file and the place in it.
pub fn import_file(path: &std::path::Path) -> Result<geojson::Imported, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let is_xml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
    if is_xml {
        xml::import(&text).map_err(|e| format!("{}: {e}", path.display()))
    } else {
        geojson::import(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}
