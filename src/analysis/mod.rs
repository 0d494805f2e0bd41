//! Tiled deep-learning analysis: the ONNX Runtime loader, the model contract (`model.json` +
//! `model.onnx`) that every model, bundled or user-supplied, goes through, the tissue mask and tile
//! grid, the inference runner, the heatmap with its summary, stored results and exports.

pub mod export;
pub mod figure;
pub mod heatmap;
pub mod job;
pub mod model;
pub mod order;
pub mod result;
pub mod runner;
pub mod runtime;
pub mod tissue;

pub mod pipeline;

/// The model shipped in the repository (`models/capricorn-crc`, see its MODEL_CARD.md).
pub fn bundled_model_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/capricorn-crc")
}
