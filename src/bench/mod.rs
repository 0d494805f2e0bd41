//! Benchmarks run by `sentinel bench ...`. They print figures; nothing here asserts a speed.

pub mod analysis;
pub mod tiles;
pub mod viewer;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where benchmark inputs (large synthetic slides) are cached between runs.
pub fn bench_data_dir() -> PathBuf {
    crate::paths::bench_data_dir()
}

/// The project's Python venv made by `./setup` (benchmark peers run there).
pub fn project_python() -> Result<PathBuf, crate::paths::NotFound> {
    crate::paths::bench_peers().map(|(python, _)| python)
}

/// A script shipped in `benches/`.
pub fn bench_script(name: &str) -> Result<PathBuf, crate::paths::NotFound> {
    crate::paths::bench_peers().map(|(_, dir)| dir.join(name))
}

/// Runs `benches/<script>` with `python`, the JSON of `job` on its stdin, and parses its stdout as
/// JSON. The error is the script's stderr (or why it could not run).
pub fn run_python<J: serde::Serialize, R: serde::de::DeserializeOwned>(
    python: &Path,
    script: &str,
    job: &J,
) -> Result<R, String> {
    let path = bench_script(script).map_err(|e| e.to_string())?;
    let mut child = Command::new(python)
        .arg(path)
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
