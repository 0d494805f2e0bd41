//! The bundled demo slide: generated on first use into the user's data directory from the real
//! tissue compiled into the binary, so the repository carries no large binary and the demo works
//! wherever the binary is installed.

use std::path::PathBuf;

use crate::synth::node_demo::{node_spec, write_node_slide};
use crate::synth::{PyramidReport, SynthSpec};

use crate::paths::data_dir;

/// The demo slide's specification: a 5.8 x 4.4 mm lymph-node section at 40x (0.243 µm/px) with a
/// macrometastasis and a small deposit, quilted from real Camelyon16 H&E.
pub fn demo_spec() -> SynthSpec {
    node_spec(24_000, 18_000, 2026)
}

/// The file name says what it is: a new generator gets a new name, so an old demo is not reused.
pub fn demo_slide_path() -> PathBuf {
    data_dir().join("demo").join("sentinel-demo-node-40x.svs")
}

/// Returns the demo slide, generating it first if it is absent. `progress` sees 0..1.
pub fn ensure_demo_slide(
    progress: impl FnMut(f64),
) -> anyhow::Result<(PathBuf, Option<PyramidReport>)> {
    let path = demo_slide_path();
    if path.is_file() {
        return Ok((path, None));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        // The synthetic demo of earlier releases (hundreds of MB) is ours and replaced by this one.
        for old in [
            "sentinel-demo-40x.svs",
            "sentinel-demo-40x.svs.truth.geojson",
        ] {
            let _ = std::fs::remove_file(dir.join(old));
        }
    }
    let (report, _) = write_node_slide(&demo_spec(), &path, progress)?;
    Ok((path, Some(report)))
}
