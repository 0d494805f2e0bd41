//! What a review session needs from disk: finding a case's slide again (by path, else by file name
//! in the folders given, always checked against the slide's identity), its stored AI score, and a
//! thumbnail with the readers' annotations for the report.

use std::path::{Path, PathBuf};

use super::session::Read;
use crate::annotate::Shape;
use crate::slide::SlideSource;

/// Opens the slide of a case: at `path` if that file is still the slide recorded as `key`, else
/// the file of the same name in one of `search` that is. Each candidate is opened once and the
/// opened slide is returned (no second open). Runs off the UI thread. The error says why,
/// naming the case (`label`): missing, or another slide at its path.
pub fn open_case_slide(
    path: &Path,
    key: &str,
    search: &[PathBuf],
    label: &str,
) -> Result<Box<dyn SlideSource>, String> {
    // Identities shortened for people: 12 hex digits tell slides apart.
    let short = |id: &str| match id.split_once(':') {
        Some((kind, hex)) => format!("{kind}:{}", hex.get(..12).unwrap_or(hex)),
        None => id.to_owned(),
    };
    let mut other = None;
    if path.is_file() {
        match crate::slide::open(path) {
            Ok(s) if s.id().matches_key(s.path(), key) => return Ok(s),
            Ok(s) => other = Some(short(s.id().as_str())),
            Err(e) => other = Some(format!("unreadable: {e}")),
        }
    }
    if let Some(name) = path.file_name() {
        for dir in search {
            let p = dir.join(name);
            if p.is_file()
                && let Ok(s) = crate::slide::open(&p)
                && s.id().matches_key(s.path(), key)
            {
                return Ok(s);
            }
        }
    }
    // A blinded session's bundle names the case, not the file: then any file of the same format
    // in the folders given is tried, and only the slide with the case's identity is taken.
    if let Some(found) = search_by_identity(path, key, search) {
        return Ok(found);
    }
    let mut label = label.to_owned();
    if let Some(first) = label.get(..1) {
        label.replace_range(..1, &first.to_uppercase());
    }
    let folders = if search.is_empty() {
        "no folder to search was given".to_owned()
    } else {
        format!("not found in {} folder(s) searched", search.len())
    };
    Err(match other {
        Some(found) => format!(
            "{label}'s slide: {} now holds another slide ({}, not {}); it is refused. \
             Locate the case's slide: add the folder that holds it ({folders})",
            path.display(),
            found,
            short(key)
        ),
        None => format!(
            "{label}'s slide is missing: {} ({folders}); locate it: add the folder that holds it",
            path.display()
        ),
    })
}

/// The file in `search` (not in subfolders) with the extension of `path` whose slide is `key`.
fn search_by_identity(path: &Path, key: &str, search: &[PathBuf]) -> Option<Box<dyn SlideSource>> {
    let ext = path.extension()?.to_ascii_lowercase();
    for dir in search {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| p.extension().map(|e| e.to_ascii_lowercase()) == Some(ext.clone()))
            .collect();
        files.sort();
        for p in files {
            if let Ok(s) = crate::slide::open(&p)
                && s.id().matches_key(s.path(), key)
            {
                return Some(s);
            }
        }
    }
    None
}

/// The stored, complete analysis of `slide` in `analyses_dir`, if it is of this very slide: its
/// heatmap (for the coverage audit) and summary (the maximum is the slide's AI score).
pub fn stored_analysis(
    slide: &dyn SlideSource,
    analyses_dir: &Path,
) -> Option<crate::analysis::result::AnalysisResult> {
    use crate::analysis::result::{AnalysisResult, legacy_sidecar_path, sidecar_path};
    let hash = slide.id().provenance_hash();
    [
        sidecar_path(analyses_dir, slide.id()),
        legacy_sidecar_path(analyses_dir, slide.path()),
    ]
    .iter()
    .find_map(|p| {
        let bytes = std::fs::read(p).ok()?;
        let r: AnalysisResult = serde_json::from_slice(&bytes).ok()?;
        (r.complete && r.provenance.slide_hash == hash).then_some(r)
    })
}

/// Distinct outline colours for readers, in order.
pub const READER_COLOURS: [[u8; 3]; 6] = [
    [230, 25, 75],
    [0, 130, 200],
    [60, 180, 75],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
];

/// A PNG of the slide's overview (at most `max_side` px) with each read's annotations outlined in
/// its reader's colour (`reader_index` maps a reader id to a colour slot).
pub fn thumbnail(
    slide: &dyn SlideSource,
    reads: &[&Read],
    reader_index: impl Fn(&str) -> usize,
    max_side: u32,
) -> Option<Vec<u8>> {
    let ov = crate::slide::read_overview(slide, max_side).ok()?;
    let (w, h) = (ov.width, ov.height);
    let mut rgb: Vec<u8> = ov
        .pixels
        .chunks_exact(4)
        .flat_map(|p| {
            if p[3] == 0 {
                [255, 255, 255]
            } else {
                [p[0], p[1], p[2]]
            }
        })
        .collect();
    let ds = slide.dimensions().0 as f64 / f64::from(w.max(1));
    let outlines: Vec<(Shape, [u8; 3])> = reads
        .iter()
        .flat_map(|r| {
            let c = READER_COLOURS[reader_index(&r.reader_id) % READER_COLOURS.len()];
            r.annotations.iter().map(move |a| (a.shape.clone(), c))
        })
        .collect();
    crate::region::burn(
        &mut rgb,
        w,
        h,
        [0.0, 0.0],
        ds,
        &crate::region::Overlay {
            outlines: &outlines,
            heatmap: None,
        },
    );
    let img = image::RgbImage::from_raw(w, h, rgb)?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .ok()?;
    Some(png)
}
