//! Second-reader review: agreement statistics between readers (and between a reader and the
//! model's slide-level score).

pub mod agreement;
pub mod answers_report;
pub mod behaviour;
pub mod bundle;
pub mod coverage;
pub mod coverage_map;
pub mod figures;
pub mod materials;
pub mod mrmc;
pub mod mrmc_study;
pub mod questions;
pub mod report;
pub mod session;
pub mod washout;
