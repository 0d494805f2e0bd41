//! The demo slide made of real tissue: a lymph-node-like section quilted from real Camelyon16 H&E
//! (normal node, and metastatic carcinoma inside known outlines), at the patches' own 40x
//! resolution, with a feathered tissue edge. The outlines are the ground truth written beside it.

use std::path::Path;
use std::sync::Mutex;

use serde_json::json;

use super::quilt::{Exemplar, QuiltParams, Quilter};
use super::scene::{BACKGROUND, Blob, Cover};
use super::{Painter, PyramidReport, SynthError, SynthFormat, SynthSpec, write_painted};

/// The real tissue, in the binary so that the demo needs no file from the source checkout
/// (CC0 Camelyon16 patches; see assets/demo-tissue/SOURCES.md).
const NODE_ATLAS: &[u8] = include_bytes!("../../assets/demo-tissue/node.jpg");
const TUMOUR_ATLAS: &[u8] = include_bytes!("../../assets/demo-tissue/tumour.jpg");
/// The patches' resolution (Camelyon16 level 0).
pub const DEMO_MPP: f64 = 0.243;
const PATCH_EDGE: usize = 256;

const NODE: usize = 0;
const TUMOUR: usize = 1;
/// Width of the soft edge between tissue and glass, pixels.
const FEATHER: f64 = 4.0;

/// Where the node and its metastases lie in a `width` x `height` slide (level-0 px).
#[derive(Debug, Clone)]
pub struct NodeLayout {
    pub width: u64,
    pub height: u64,
    pub node: Blob,
    pub metastases: Vec<Blob>,
}

impl NodeLayout {
    /// A node filling most of the slide, a macrometastasis in its upper left and a small deposit
    /// in its lower right, with seeded irregular outlines; sizes scale with the slide.
    pub fn new(width: u64, height: u64, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let (w, h) = (width as f64, height as f64);
        let s = w.min(h);
        let blob = |rng: &mut fastrand::Rng, cx: f64, cy: f64, r0: f64, elong: f64, rough: f64| {
            let mut harmonics = vec![(2.0, elong, rng.f64() * 0.3)];
            harmonics.extend((3..=7).map(|k| {
                let k = f64::from(k);
                (
                    k,
                    rough * (0.5 + rng.f64()) / k,
                    rng.f64() * std::f64::consts::TAU,
                )
            }));
            Blob {
                cx,
                cy,
                r0,
                harmonics,
            }
        };
        // Elongated along x (phase near 0): a bean-shaped node section.
        let node = blob(&mut rng, w / 2.0, h / 2.0, 0.40 * s, 0.16, 0.10);
        let metastases = vec![
            blob(&mut rng, w * 0.36, h * 0.40, 0.13 * s, 0.10, 0.25),
            blob(&mut rng, w * 0.66, h * 0.64, 0.045 * s, 0.05, 0.20),
        ];
        Self {
            width,
            height,
            node,
            metastases,
        }
    }

    /// Which tissue a quilting block centred at (x, y) copies: tumour inside a metastasis, node
    /// elsewhere inside (or just outside, under the feathered edge) the node, nothing on glass.
    pub fn tissue_at(&self, x: f64, y: f64, margin: f64) -> Option<usize> {
        if self.metastases.iter().any(|m| m.contains(x, y)) {
            return Some(TUMOUR);
        }
        (self.node_distance(x, y) > -margin).then_some(NODE)
    }

    /// Approximate signed distance to the node's outline (positive inside), pixels.
    fn node_distance(&self, x: f64, y: f64) -> f64 {
        let (dx, dy) = (x - self.node.cx, y - self.node.cy);
        self.node.radius_at(dy.atan2(dx)) - (dx * dx + dy * dy).sqrt()
    }

    /// Whether a level-0 point lies in a metastasis (the ground truth).
    pub fn is_tumour(&self, x: f64, y: f64) -> bool {
        self.metastases.iter().any(|m| m.contains(x, y))
    }

    /// QuPath-compatible GeoJSON: each metastasis a "Tumor" polygon, the node outline "Tissue".
    pub fn truth_geojson(&self) -> serde_json::Value {
        let ring = |b: &Blob| {
            let mut pts: Vec<[f64; 2]> = b.outline(512);
            pts.push(pts[0]);
            pts
        };
        let feature = |class: &str, color: [u8; 3], b: &Blob| {
            json!({
                "type": "Feature",
                "geometry": { "type": "Polygon", "coordinates": [ring(b)] },
                "properties": {
                    "objectType": "annotation",
                    "classification": { "name": class, "color": color },
                }
            })
        };
        let mut features: Vec<_> = self
            .metastases
            .iter()
            .map(|m| feature("Tumor", [200, 0, 0], m))
            .collect();
        features.push(feature("Tissue", [20, 160, 60], &self.node));
        json!({ "type": "FeatureCollection", "features": features })
    }
}

/// Level-0 pixels of the demo: the quilted tissue under the node's feathered outline, glass
/// elsewhere. The writer asks for bands in order; quilting advances with them.
pub struct NodePainter<F> {
    layout: NodeLayout,
    quilter: Mutex<Quilter<F>>,
}

/// Decodes an embedded JPEG atlas of real patches.
fn exemplar(jpeg: &[u8], block: usize) -> Result<Exemplar, SynthError> {
    let invalid = |e: String| SynthError::Invalid(format!("demo tissue atlas: {e}"));
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .map_err(|e| invalid(e.to_string()))?
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    Exemplar::from_atlas(img.as_raw(), w, h, PATCH_EDGE, block).map_err(invalid)
}

/// The painter of a demo section of `layout`'s size.
pub fn node_painter(
    layout: NodeLayout,
    seed: u64,
) -> Result<NodePainter<impl Fn(f64, f64) -> Option<usize> + Send>, SynthError> {
    let p = QuiltParams::default();
    let sources = vec![
        exemplar(NODE_ATLAS, p.block)?,
        exemplar(TUMOUR_ATLAS, p.block)?,
    ];
    let for_label = layout.clone();
    // Quilting starts several blocks out under the glass: the first blocks of a region have little
    // to match and are picked almost at random (vessels, fat), and that must not be the visible
    // edge (it made the edge score high: mean risk 0.31 on edge tiles with one block of margin).
    let margin = 4.0 * p.block as f64;
    let label = move |x: f64, y: f64| for_label.tissue_at(x, y, margin);
    let quilter = Quilter::new(
        sources,
        label,
        layout.width as usize,
        layout.height as usize,
        p,
        seed,
    );
    Ok(NodePainter {
        layout,
        quilter: Mutex::new(quilter),
    })
}

impl<F: Fn(f64, f64) -> Option<usize> + Send> Painter for NodePainter<F> {
    fn paint(&self, x0: u64, y0: u64, w: u32, h: u32, out: &mut [u8]) -> bool {
        let (wu, hu) = (w as usize, h as usize);
        let mut tissue = vec![false; wu * hu];
        let mut rgb = vec![0u8; wu * hu * 3];
        let node = &self.layout.node;
        let (fx0, fy0) = (x0 as f64, y0 as f64);
        let cover = node.cover(
            fx0 - FEATHER,
            fy0 - FEATHER,
            fx0 + f64::from(w) + FEATHER,
            fy0 + f64::from(h) + FEATHER,
        );
        if cover == Cover::Outside {
            super::scene::fill_background(out);
            return false;
        }
        {
            // A poisoned lock means another tile's painting panicked; the writer fails anyway.
            let Ok(mut q) = self.quilter.lock() else {
                super::scene::fill_background(out);
                return false;
            };
            q.read(x0 as usize, y0 as usize, wu, hu, &mut rgb, &mut tissue);
        }
        let mut any = false;
        for i in 0..wu * hu {
            let (x, y) = (fx0 + (i % wu) as f64 + 0.5, fy0 + (i / wu) as f64 + 0.5);
            let alpha = if cover == Cover::Inside {
                1.0
            } else {
                (self.layout.node_distance(x, y) / FEATHER * 0.5 + 0.5).clamp(0.0, 1.0)
            };
            let alpha = if tissue[i] { alpha } else { 0.0 };
            for k in 0..3 {
                let t = f64::from(rgb[i * 3 + k]);
                let g = f64::from(BACKGROUND[k]);
                out[i * 3 + k] = (alpha * t + (1.0 - alpha) * g).round() as u8;
            }
            any |= alpha > 0.0;
        }
        any
    }
}

/// The demo section's specification: `width` x `height` px of 40x (0.243 µm/px) Aperio SVS.
pub fn node_spec(width: u64, height: u64, seed: u64) -> SynthSpec {
    let mut spec = SynthSpec::new(width, height, SynthFormat::Svs);
    spec.mpp = DEMO_MPP;
    spec.seed = seed;
    spec.jpeg_quality = 90;
    spec
}

/// Writes a real-tissue node section to `path` (a pyramidal SVS with label and macro) and its
/// ground truth beside it (`<slide>.truth.geojson`).
pub fn write_node_slide(
    spec: &SynthSpec,
    path: &Path,
    progress: impl FnMut(f64),
) -> Result<(PyramidReport, NodeLayout), SynthError> {
    let layout = NodeLayout::new(spec.width, spec.height, spec.seed);
    let painter = node_painter(layout.clone(), spec.seed)?;
    let written = write_painted(spec, &painter, path, progress)?;
    let truth = super::truth_path_for(path);
    let bytes = serde_json::to_vec_pretty(&layout.truth_geojson()).map_err(|e| SynthError::Io {
        path: truth.clone(),
        source: std::io::Error::other(e),
    })?;
    crate::fsutil::write_atomic(&truth, &bytes).map_err(|source| SynthError::Io {
        path: truth.clone(),
        source,
    })?;
    Ok((written, layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_puts_metastases_inside_the_node() {
        let l = NodeLayout::new(8000, 6000, 5);
        for m in &l.metastases {
            assert!(
                l.node_distance(m.cx, m.cy) > m.r_max(),
                "a deposit reaches past the node"
            );
            assert_eq!(l.tissue_at(m.cx, m.cy, 0.0), Some(TUMOUR));
            assert!(l.is_tumour(m.cx, m.cy));
        }
        assert_eq!(l.tissue_at(10.0, 10.0, 0.0), None, "the corner is glass");
        let truth = l.truth_geojson();
        let f = truth["features"].as_array().expect("features");
        assert_eq!(f.len(), 3);
        assert_eq!(f[0]["properties"]["classification"]["name"], "Tumor");
    }

    #[test]
    fn painted_tissue_is_real_texture_and_glass_is_background() {
        let l = NodeLayout::new(2048, 1536, 9);
        let painter = node_painter(l.clone(), 9).expect("atlases decode");
        let mut out = vec![0u8; 256 * 256 * 3];
        // The band holding the node's centre: tissue, not plain colour.
        let (cx, cy) = (
            (l.node.cx as u64 / 256) * 256,
            (l.node.cy as u64 / 256) * 256,
        );
        for y in (0..cy).step_by(256) {
            let mut skip = vec![0u8; 256 * 256 * 3];
            painter.paint(cx, y, 256, 256, &mut skip);
        }
        assert!(painter.paint(cx, cy, 256, 256, &mut out));
        let lum: Vec<f64> = out
            .chunks_exact(3)
            .map(|p| f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2]))
            .collect();
        let mean = lum.iter().sum::<f64>() / lum.len() as f64;
        let var = lum.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / lum.len() as f64;
        assert!(
            var.sqrt() > 20.0,
            "texture expected, got a flat field (sd {})",
            var.sqrt()
        );
        // A corner tile of a later band is glass.
        let mut corner = vec![0u8; 256 * 256 * 3];
        assert!(!painter.paint(1792, 1280, 256, 256, &mut corner));
        assert!(corner.chunks_exact(3).all(|p| p == BACKGROUND));
    }
}
