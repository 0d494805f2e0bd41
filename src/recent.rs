//! Recently opened slides, persisted as JSON in the data directory (saved off the UI thread).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const MAX_RECENT: usize = 10;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecentFiles {
    pub paths: Vec<PathBuf>,
}

impl RecentFiles {
    /// Loads the list; a missing or unreadable file gives an empty list (it is only a convenience).
    pub fn load(file: &Path) -> Self {
        std::fs::read(file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Puts `path` first, without duplicates, keeping at most ten. The caller passes a canonical
    /// path (the opener thread makes it, so the UI thread touches no file).
    pub fn add(&mut self, path: &Path) {
        self.paths.retain(|p| p != path);
        self.paths.insert(0, path.to_path_buf());
        self.paths.truncate(MAX_RECENT);
    }

    /// Writes the list atomically on a background thread.
    pub fn save_in_background(&self, file: PathBuf) {
        let Ok(bytes) = serde_json::to_vec_pretty(self) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("save-recent".into())
            .spawn(move || {
                if let Some(dir) = file.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                if let Err(e) = crate::fsutil::write_atomic(&file, &bytes) {
                    tracing::warn!("cannot save recent files to {}: {e}", file.display());
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the thread that saves recent files: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_recent_first_without_duplicates_and_bounded() {
        let mut r = RecentFiles::default();
        for i in 0..12 {
            r.add(Path::new(&format!("/nonexistent/{i}.svs")));
        }
        r.add(Path::new("/nonexistent/5.svs"));
        assert_eq!(r.paths.len(), MAX_RECENT);
        assert_eq!(r.paths[0], PathBuf::from("/nonexistent/5.svs"));
        assert_eq!(r.paths.iter().filter(|p| p.ends_with("5.svs")).count(), 1);
    }

    #[test]
    fn round_trips_through_disk() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("recent.json");
        let mut r = RecentFiles::default();
        r.add(Path::new("/nonexistent/a.svs"));
        std::fs::write(&file, serde_json::to_vec(&r).expect("json")).expect("write");
        assert_eq!(RecentFiles::load(&file), r);
        std::fs::write(&file, b"{ not json").expect("write");
        assert_eq!(RecentFiles::load(&file), RecentFiles::default());
    }
}
