//! Tiled deep-learning analysis (work in progress, issue 4): the ONNX Runtime loader and the model
//! contract (`model.json` + `model.onnx`) that every model, bundled or user-supplied, goes through.

pub mod export;
pub mod heatmap;
pub mod model;
pub mod result;
pub mod runner;
pub mod runtime;
pub mod tissue;

pub mod pipeline;
