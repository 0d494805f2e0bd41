//! Finding and loading ONNX Runtime (`ort` with `load-dynamic`: nothing is downloaded at build time).
//!
//! Search order: `$SENTINEL_ONNXRUNTIME` (a path to `libonnxruntime.so*`), then the project venv
//! that `./setup` fills from PyPI (`onnxruntime`, or `onnxruntime-gpu` where there is a GPU).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The environment variable that points Sentinel at a user's own ONNX Runtime library.
pub const LIBRARY_ENV: &str = "SENTINEL_ONNXRUNTIME";

#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime not found: run ./setup (it installs onnxruntime into .deps/venv), or set {LIBRARY_ENV}=/path/to/libonnxruntime.so"
    )]
    NotFound,
    #[error(
        "{path}: cannot load ONNX Runtime: {reason} (is it 1.31 or newer? set {LIBRARY_ENV} to another copy)"
    )]
    Load { path: PathBuf, reason: String },
}

/// Where the library is, without loading it.
pub fn find_library() -> Result<PathBuf, RuntimeError> {
    if let Some(p) = std::env::var_os(LIBRARY_ENV) {
        return Ok(PathBuf::from(p));
    }
    let venv_lib = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/venv/lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&venv_lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| python.path().join("site-packages/onnxruntime/capi"))
        .flat_map(|capi| std::fs::read_dir(capi).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    found.sort();
    found.pop().ok_or(RuntimeError::NotFound)
}

/// The process-wide ONNX Runtime environment, loaded on first use.
pub fn environment() -> Result<&'static ort::environment::Environment, RuntimeError> {
    static ENV: OnceLock<Result<ort::environment::Environment, RuntimeError>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = find_library()?;
        if !path.is_file() {
            return Err(RuntimeError::Load {
                path,
                reason: "no such file".into(),
            });
        }
        let load_error = |e: &dyn std::fmt::Display| RuntimeError::Load {
            path: path.clone(),
            reason: e.to_string(),
        };
        ort::init_from(&path)
            .map_err(|e| load_error(&e))?
            .with_name("sentinel")
            .build()
            .map_err(|e| load_error(&e))
    })
    .as_ref()
    .map_err(Clone::clone)
}
