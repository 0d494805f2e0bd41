use std::path::PathBuf;

/// Why a slide could not be opened or read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SlideError {
    #[error("{path}: no such file")]
    NotFound { path: PathBuf },

    #[error("{path}: not a regular file")]
    NotAFile { path: PathBuf },

    #[error("{path}: cannot read the file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },

    #[error("{path}: not a slide format OpenSlide {version} recognises")]
    Unsupported { path: PathBuf, version: String },

    /// The format was recognised but the file is damaged (truncated, bad offsets, undecodable tiles).
    #[error("{path}: corrupt or truncated slide: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    #[error("{path}: level {level} does not exist (the slide has {count} levels)")]
    NoSuchLevel {
        path: PathBuf,
        level: usize,
        count: usize,
    },

    #[error("{path}: region of {width}x{height} pixels is too large to read at once")]
    RegionTooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
    },

    #[error("{path}: no associated image named {name:?}")]
    NoSuchAssociatedImage { path: PathBuf, name: String },
}
