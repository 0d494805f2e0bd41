//! Annotations: shapes in level-0 slide coordinates with classes, names and comments; undoable
//! edits; interchange with QuPath (GeoJSON), ASAP and Aperio ImageScope (XML).

pub mod document;
pub mod geojson;
pub mod shape;
pub mod tool;
pub mod xml;

pub use document::{Annotation, Change, Class, Document, Edit, default_classes};
pub use shape::{Measures, Point, Shape};
