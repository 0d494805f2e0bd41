//! Benchmarks run by `sentinel bench ...`. They print figures; nothing here asserts a speed.

pub mod tiles;
pub mod viewer;

use std::path::PathBuf;

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
