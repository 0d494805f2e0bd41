//! Loading ONNX Runtime (`ort` with `load-dynamic`: nothing is downloaded at build time). Where
//! the library is found is [`crate::paths::onnxruntime`]'s business.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The environment variable that points Sentinel at a user's own ONNX Runtime library.
pub const LIBRARY_ENV: &str = crate::paths::ONNXRUNTIME_ENV;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    NotFound(#[from] crate::paths::NotFound),
    #[error(
        "{path}: cannot load ONNX Runtime: {reason} (is it 1.31 or newer? set {LIBRARY_ENV} to another copy)"
    )]
    Load { path: PathBuf, reason: String },
}

/// Where the library is, without loading it.
pub fn find_library() -> Result<PathBuf, RuntimeError> {
    Ok(crate::paths::onnxruntime()?)
}

/// What ONNX Runtime reports of its build (version, git commit), once it is loaded.
pub fn build_info() -> Result<String, RuntimeError> {
    environment()?;
    Ok(ort::info().to_owned())
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
