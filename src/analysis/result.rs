//! A finished (or partial) analysis with its provenance, stored as a JSON sidecar so reopening a
//! slide shows its heatmap at once, and so a different model or different parameters never reuse
//! a stale one.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::heatmap::{Heatmap, Summary};

/// What a stored result depends on: if any of it changes, the result is not reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The slide's identity ([`crate::slide::SlideId::provenance_hash`]): OpenSlide's quickhash-1
    /// where the format has one, else `content1:<hex>`.
    pub slide_hash: String,
    /// SHA-256 of the ONNX file that ran and model.json.
    pub model_hash: String,
    pub model_name: String,
    pub model_version: String,
    pub tile_level0: f64,
    pub min_tissue_fraction: f64,
    pub threshold: f32,
    pub top_k: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisResult {
    pub format: u32,
    pub slide: PathBuf,
    pub provenance: Provenance,
    pub heatmap: Heatmap,
    pub summary: Summary,
    /// Tissue area from the tissue mask, mm².
    pub tissue_area_mm2: f64,
    pub complete: bool,
}

pub const FORMAT: u32 = 1;

/// SHA-256 (hex) over the contents of `files`, in order.
pub fn files_hash(files: &[&Path]) -> std::io::Result<String> {
    let mut h = Sha256::new();
    for path in files {
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(format!("{:x}", h.finalize()))
}

/// `OUT/<slide identity>.heatmap.json`: two slides of one name never share a result, and another
/// slide written over the same path never finds this one. The slide's name is inside (`slide`).
pub fn sidecar_path(out_dir: &Path, slide: &crate::slide::SlideId) -> PathBuf {
    out_dir.join(format!("{}.heatmap.json", slide.file_stem()))
}

/// Where earlier releases stored a slide's result: `OUT/<slide file name>.heatmap.json`. Still
/// read (a result found there is used only if its provenance names this very slide), never written.
pub fn legacy_sidecar_path(out_dir: &Path, slide: &Path) -> PathBuf {
    let mut name = slide.file_name().unwrap_or_default().to_os_string();
    name.push(".heatmap.json");
    out_dir.join(name)
}

impl AnalysisResult {
    /// Loads a stored result if it exists, parses, and matches `provenance`; anything else is a
    /// miss (a damaged sidecar is only a cache and is recomputed, with a warning).
    pub fn load_matching(path: &Path, provenance: &Provenance) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        match serde_json::from_slice::<AnalysisResult>(&bytes) {
            Ok(r) if r.format == FORMAT && r.complete && &r.provenance == provenance => Some(r),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(
                    "{}: ignoring a damaged stored analysis: {e}",
                    path.display()
                );
                None
            }
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(path, &bytes)
    }
}
