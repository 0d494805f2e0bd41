//! Sentinel: a whole-slide pathology viewer with tiled deep-learning analysis.
//!
//! See `ARCHITECTURE.md` for the map of modules and the data flow.

pub mod analysis;
pub mod annotate;
pub mod app;
pub mod bench;
pub mod colormap;
pub mod demo;
pub mod diagnose;
pub mod error;
pub mod export_names;
pub mod fsutil;
pub mod info;
pub mod paths;
pub mod prefs;
pub mod recent;
pub mod region;
pub mod review;
pub mod slide;
pub mod store;
pub mod synth;
pub mod task;
pub mod tiff_writer;
pub mod tiles;
pub mod ui;
pub mod view;
pub mod viewer;
