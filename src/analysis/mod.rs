//! Tiled deep-learning analysis: the ONNX Runtime loader, the model contract (`model.json` +
//! `model.onnx`) that every model, bundled or user-supplied, goes through, the tissue mask and tile
//! grid, the inference runner, the heatmap with its summary, stored results and exports.

pub mod export;
pub mod figure;
pub mod heatmap;
pub mod interchange;
pub mod job;
pub mod model;
pub mod order;
pub mod result;
pub mod runner;
pub mod runtime;
pub mod tissue;
pub mod wsinfer;

pub mod pipeline;
