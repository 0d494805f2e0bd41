//! Sentinel: a whole-slide pathology viewer with tiled deep-learning analysis.
//!
//! See `ARCHITECTURE.md` for the map of modules and the data flow.

pub mod bench;
pub mod demo;
pub mod fsutil;
pub mod info;
pub mod slide;
pub mod synth;
