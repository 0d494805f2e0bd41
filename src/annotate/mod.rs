//! Annotations: shapes in level-0 slide coordinates with classes, names and comments; undoable
//! edits; interchange with QuPath (GeoJSON), ASAP and Aperio ImageScope (XML), and import of
//! Hamamatsu NDP.view annotations (NDPA).

pub mod dense;
pub mod document;
pub mod geojson;
pub mod ndpa;
pub mod shape;
pub mod tool;
pub mod xml;

pub use document::{Annotation, Change, Class, Document, Edit, default_classes};
pub use shape::{Measures, Point, Shape};

/// Why an annotation file imports nothing; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    GeoJson {
        path: std::path::PathBuf,
        #[source]
        source: geojson::GeoJsonError,
    },
    #[error("{path}: {source}")]
    Xml {
        path: std::path::PathBuf,
        #[source]
        source: xml::XmlError,
    },
    #[error("{path}: {why}")]
    NotPlaceable {
        path: std::path::PathBuf,
        why: String,
    },
    #[error(
        "{path}: annotation {index}{name} lies wholly outside this {width}x{height} px slide (its box \
         is {x0:.0},{y0:.0} to {x1:.0},{y1:.0}); is the file for another slide, level or scan? \
         Nothing was imported",
        name = if name.is_empty() { String::new() } else { format!(" \"{name}\"") },
        x0 = bbox[0], y0 = bbox[1], x1 = bbox[2], y1 = bbox[3]
    )]
    OffSlide {
        path: std::path::PathBuf,
        /// 1-based.
        index: usize,
        name: String,
        bbox: [f64; 4],
        width: u64,
        height: u64,
    },
}

/// The open slide, as imports place annotations on it: its size, and where NDP.view's
/// slide-centred nanometres land on it (or why they cannot).
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub dims: (u64, u64),
    pub ndpa: Result<ndpa::NdpaFrame, String>,
}

impl Placement {
    pub fn new(
        dims: (u64, u64),
        mpp: Option<(f64, f64)>,
        properties: &std::collections::BTreeMap<String, String>,
    ) -> Self {
        Self {
            dims,
            ndpa: ndpa::NdpaFrame::from_properties(dims, mpp, properties),
        }
    }
}

fn has_extension(path: &std::path::Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Reads annotations from QuPath GeoJSON, or ASAP / ImageScope XML (`.xml`); the error names the
/// file and the place in it. NDP.view's `.ndpa` needs the slide: see [`import_file_for_slide`].
pub fn import_file(path: &std::path::Path) -> Result<geojson::Imported, ImportError> {
    import_file_placed(path, None)
}

/// [`import_file`] with the open slide, which places NDPA files; no check that the annotations
/// fall on it (callers that place regions check each themselves).
pub fn import_file_placed(
    path: &std::path::Path,
    slide: Option<&Placement>,
) -> Result<geojson::Imported, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if has_extension(path, "ndpa") {
        let frame = match slide.map(|s| &s.ndpa) {
            Some(Ok(f)) => f,
            Some(Err(why)) => {
                return Err(ImportError::NotPlaceable {
                    path: path.to_path_buf(),
                    why: why.clone(),
                });
            }
            None => {
                return Err(ImportError::NotPlaceable {
                    path: path.to_path_buf(),
                    why: "NDP.view annotations are placed by their slide: open the NDPI first"
                        .into(),
                });
            }
        };
        return ndpa::import(&text, frame).map_err(|source| ImportError::Xml {
            path: path.to_path_buf(),
            source,
        });
    }
    if has_extension(path, "xml") {
        xml::import(&text).map_err(|source| ImportError::Xml {
            path: path.to_path_buf(),
            source,
        })
    } else {
        geojson::import(&text).map_err(|source| ImportError::GeoJson {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// [`import_file`] for a slide of `dims` level-0 px: a file with an annotation wholly outside the
/// slide (its box does not touch it: coordinates of another scan, level or slide) imports
/// nothing, and the error names the annotation and its box. Annotations partly off the slide are
/// kept, as drawn ones may be.
pub fn import_file_for_slide(
    path: &std::path::Path,
    slide: &Placement,
) -> Result<geojson::Imported, ImportError> {
    let dims = slide.dims;
    let imported = import_file_placed(path, Some(slide))?;
    if let Some((i, a)) = first_off_slide(&imported.annotations, dims) {
        return Err(ImportError::OffSlide {
            path: path.to_path_buf(),
            index: i + 1,
            name: a.name.clone(),
            bbox: a.shape.bbox(),
            width: dims.0,
            height: dims.1,
        });
    }
    Ok(imported)
}

/// The first annotation whose bounding box does not touch the `dims` slide, with its index.
pub fn first_off_slide(list: &[Annotation], dims: (u64, u64)) -> Option<(usize, &Annotation)> {
    let (w, h) = (dims.0 as f64, dims.1 as f64);
    list.iter().enumerate().find(|(_, a)| {
        let [x0, y0, x1, y1] = a.shape.bbox();
        x1 < 0.0 || y1 < 0.0 || x0 > w || y0 > h
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_annotation_wholly_off_the_slide_refuses_the_import() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("a.geojson");
        let doc = Document::default();
        let list = [
            Annotation::new(Shape::rectangle([10.0, 10.0], [50.0, 50.0]), None),
            // Partly off: kept.
            Annotation::new(Shape::rectangle([900.0, 10.0], [1100.0, 50.0]), None),
            // A million px away: refused.
            Annotation::new(
                Shape::rectangle([1_000_000.0, 0.0], [1_000_500.0, 400.0]),
                None,
            ),
        ];
        std::fs::write(&file, geojson::export(&list, doc.classes())).expect("write");
        let slide = Placement::new((1000, 800), None, &Default::default());
        let e = import_file_for_slide(&file, &slide)
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("annotation 3") && e.contains("1000x800 px") && e.contains("1000000,0"),
            "{e}"
        );
        std::fs::write(&file, geojson::export(&list[..2], doc.classes())).expect("write");
        let ok = import_file_for_slide(&file, &slide).expect("on the slide");
        assert_eq!(ok.annotations.len(), 2);
    }
}
