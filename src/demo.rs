//! The bundled demo slide: generated on first use into the user's data directory, so the
//! repository carries no large binary.

use std::path::PathBuf;

use crate::synth::{SynthFormat, SynthReport, SynthSpec, write_slide};

/// Sentinel's per-user data directory (`$SENTINEL_DATA_DIR`, else the platform's data dir).
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SENTINEL_DATA_DIR") {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("org", "Sentinel", "sentinel")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("sentinel"))
}

/// The demo slide's specification: a 10 x 7.5 mm lymph-node-like section scanned at 40x.
pub fn demo_spec() -> SynthSpec {
    let mut spec = SynthSpec::new(40_000, 30_000, SynthFormat::Svs);
    spec.seed = 2026;
    spec
}

pub fn demo_slide_path() -> PathBuf {
    data_dir().join("demo").join("sentinel-demo-40x.svs")
}

/// Returns the demo slide, generating it first if it is absent. `progress` sees 0..1.
pub fn ensure_demo_slide(
    progress: impl FnMut(f64),
) -> anyhow::Result<(PathBuf, Option<SynthReport>)> {
    let path = demo_slide_path();
    if path.is_file() {
        return Ok((path, None));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let report = write_slide(&demo_spec(), &path, progress)?;
    Ok((path, Some(report)))
}
