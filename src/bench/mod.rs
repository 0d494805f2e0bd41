//! Benchmarks run by `sentinel bench ...`. They print figures; nothing here asserts a speed.

pub mod analysis;
pub mod tiles;
pub mod viewer;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where benchmark inputs (large synthetic slides) are cached between runs.
pub fn bench_data_dir() -> PathBuf {
    std::env::var_os("SENTINEL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data"))
}

/// The project's Python venv made by `./setup` (benchmark peers run there).
pub fn project_python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps/venv/bin/python")
}

/// A script shipped in `benches/`.
pub fn bench_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(name)
}

/// Runs `benches/<script>` with `python`, the JSON of `job` on its stdin, and parses its stdout as
/// JSON. The error is the script's stderr (or why it could not run).
pub fn run_python<J: serde::Serialize, R: serde::de::DeserializeOwned>(
    python: &Path,
    script: &str,
    job: &J,
) -> Result<R, String> {
    let mut child = Command::new(python)
        .arg(bench_script(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    let payload = serde_json::to_vec(job).map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&payload).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{script}: bad output: {e}"))
}
