//! Heatmaps in other tools' formats: ASAP likelihood maps (pyramidal TIFF), DSA / large_image
//! `griddata` annotations, QuPath contour GeoJSON, and the comparison of an imported map with
//! Sentinel's own. Each reader turns a foreign map into a [`Heatmap`] on a grid anchored at the
//! slide origin, so it draws, samples and compares like one of ours.

pub mod asap;
pub mod compare;
pub mod contours;
pub mod dsa;

use std::path::{Path, PathBuf};

use crate::analysis::heatmap::Heatmap;

#[derive(Debug, thiserror::Error)]
pub enum InterchangeError {
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {why}", path.display())]
    Invalid { path: PathBuf, why: String },
}

/// A heatmap read from another tool's file.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignHeatmap {
    /// What to call it in the panel: the file name.
    pub name: String,
    /// "ASAP likelihood map" or "DSA griddata".
    pub format: &'static str,
    /// Shared: the GUI compares and draws it on other threads without copying it.
    pub heatmap: std::sync::Arc<Heatmap>,
}

/// Reads an ASAP likelihood map (`.tif`/`.tiff`) or a DSA annotation (`.json`) for a slide of
/// `slide_dims` level-0 pixels, choosing by the file's first bytes.
pub fn read_foreign(
    path: &Path,
    slide_dims: (u64, u64),
) -> Result<ForeignHeatmap, InterchangeError> {
    let mut head = [0u8; 4];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| InterchangeError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        f.read(&mut head).map_err(|e| InterchangeError::Io {
            path: path.to_path_buf(),
            source: e,
        })?
    };
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let is_tiff = n == 4 && matches!(&head[..2], b"II" | b"MM");
    if is_tiff {
        Ok(ForeignHeatmap {
            name,
            format: "ASAP likelihood map",
            heatmap: std::sync::Arc::new(asap::read(path, slide_dims)?),
        })
    } else {
        Ok(ForeignHeatmap {
            name,
            format: "DSA griddata",
            heatmap: std::sync::Arc::new(dsa::read(path, slide_dims)?),
        })
    }
}

/// The level-0 size of one pixel of a `map`-sized image laid over a `slide`-sized one. Tools size
/// their maps by an integer downsample, rounded either way (2220 px at 256 px per value is 8 or
/// 9 values), so an integer that explains both axes is taken, a power of two first; otherwise the
/// plain ratio, when both axes agree on it.
pub fn grid_step(slide: (u64, u64), map: (u64, u64)) -> Result<f64, String> {
    let (sw, sh) = slide;
    let (mw, mh) = map;
    if mw == 0 || mh == 0 || sw == 0 || sh == 0 {
        return Err("empty image".into());
    }
    let fits = |s: u64, m: u64, d: u64| s / d == m || s.div_ceil(d) == m;
    let lo = (sw / (mw + 1)).max(1);
    // Rounded up, m values cover up to s / (m - 1) px each.
    let hi = if mw > 1 { sw.div_ceil(mw - 1) } else { sw };
    let ratio = (sw as f64 / mw as f64 + sh as f64 / mh as f64) / 2.0;
    let candidates: Vec<u64> = (lo..=hi)
        .take(1 << 20)
        .filter(|&d| fits(sw, mw, d) && fits(sh, mh, d))
        .collect();
    if let Some(&d) = candidates.iter().find(|d| d.is_power_of_two()) {
        return Ok(d as f64);
    }
    if let Some(&d) = candidates.iter().min_by(|a, b| {
        (**a as f64 - ratio)
            .abs()
            .total_cmp(&(**b as f64 - ratio).abs())
    }) {
        return Ok(d as f64);
    }
    let (rx, ry) = (sw as f64 / mw as f64, sh as f64 / mh as f64);
    if (rx - ry).abs() <= 0.02 * rx.max(ry) {
        Ok(ratio)
    } else {
        Err(format!(
            "its shape does not match the slide's {sw} x {sh} px (a map of another slide?)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_steps_are_the_integer_downsample_that_explains_both_axes() {
        assert_eq!(grid_step((1000, 700), (1000, 700)), Ok(1.0));
        // One value per 256 px tile, truncated or rounded up.
        assert_eq!(grid_step((2220, 2967), (8, 11)), Ok(256.0));
        assert_eq!(grid_step((2220, 2967), (9, 12)), Ok(256.0));
        // A slide level's own size.
        assert_eq!(grid_step((100_000, 80_000), (6_250, 5_000)), Ok(16.0));
        assert_eq!(grid_step((100_001, 80_003), (1_563, 1_251)), Ok(64.0));
        // A non-integer factor both axes agree on.
        let s = grid_step((1000, 1000), (300, 300)).expect("ratio");
        assert!((s - 3.333).abs() < 0.01, "{s}");
        let e = grid_step((1000, 700), (700, 1000)).expect_err("rotated");
        assert!(e.contains("1000 x 700"), "{e}");
    }
}
