//! What a user sets once and expects to find again: brush size, hidden classes, the heatmap's
//! colour map and opacity, which panels are open. Stored as `preferences.json` in the data folder,
//! read at start, written off the UI thread whenever something changes (and on exit).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::colormap::Colormap;
use crate::task::{Poll, Task, Wake};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preferences {
    /// Brush radius in screen points.
    pub brush_pt: f32,
    /// Fill annotation areas.
    pub fill: bool,
    /// Annotation classes hidden on the canvas, sorted.
    pub hidden_classes: Vec<String>,
    pub heatmap_colormap: Colormap,
    pub heatmap_opacity: f32,
    pub heatmap_smooth: bool,
    pub show_analysis: bool,
    pub show_annotations: bool,
    pub show_review: bool,
    pub show_properties: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        let style = crate::viewer::heatmap_layer::HeatmapStyle::default();
        Self {
            brush_pt: 12.0,
            fill: true,
            hidden_classes: Vec::new(),
            heatmap_colormap: style.colormap,
            heatmap_opacity: style.opacity,
            heatmap_smooth: style.smooth,
            show_analysis: true,
            show_annotations: true,
            show_review: false,
            show_properties: false,
        }
    }
}

impl Preferences {
    pub fn file_in(data_dir: &Path) -> PathBuf {
        data_dir.join("preferences.json")
    }

    /// The stored preferences; a missing file gives the defaults, and so does a damaged one (with
    /// a warning: preferences are a convenience, never a reason not to start). Values out of range
    /// are brought back into it.
    pub fn load(file: &Path) -> Self {
        let prefs = match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice::<Preferences>(&bytes).unwrap_or_else(|e| {
                tracing::warn!("{}: ignoring damaged preferences: {e}", file.display());
                Preferences::default()
            }),
            Err(_) => Preferences::default(),
        };
        prefs.sanitized()
    }

    fn sanitized(mut self) -> Self {
        let d = Preferences::default();
        if !(self.brush_pt.is_finite() && (1.0..=200.0).contains(&self.brush_pt)) {
            self.brush_pt = d.brush_pt;
        }
        if !(self.heatmap_opacity.is_finite() && (0.0..=1.0).contains(&self.heatmap_opacity)) {
            self.heatmap_opacity = d.heatmap_opacity;
        }
        self.hidden_classes.sort();
        self.hidden_classes.dedup();
        self
    }
}

/// Writes preferences as they change, one write at a time, never on the UI thread.
pub struct PrefsSaver {
    file: PathBuf,
    saved: Preferences,
    writing: Option<Task<()>>,
    wake: Wake,
}

impl PrefsSaver {
    /// `loaded` is what is on disk now.
    pub fn new(file: PathBuf, loaded: Preferences, wake: Wake) -> Self {
        Self {
            file,
            saved: loaded,
            writing: None,
            wake,
        }
    }

    /// Called every frame with the preferences in effect: starts a write when they differ from
    /// the last written and no write is under way (the next frame after it catches up).
    pub fn update(&mut self, now: &Preferences) {
        if let Some(t) = &mut self.writing {
            if matches!(t.poll(), Poll::Pending) {
                return;
            }
            self.writing = None;
        }
        if *now == self.saved {
            return;
        }
        let (file, prefs) = (self.file.clone(), now.clone());
        match Task::spawn("save-preferences", self.wake.clone(), move || {
            write(&file, &prefs)
        }) {
            Ok(t) => {
                self.writing = Some(t);
                self.saved = now.clone();
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }

    /// On exit: waits for a write under way, then writes `now` if it is not on disk yet.
    pub fn flush(&mut self, now: &Preferences) {
        if let Some(mut t) = self.writing.take() {
            let _ = t.wait(std::time::Duration::from_secs(5));
        }
        if *now != self.saved {
            write(&self.file, now);
            self.saved = now.clone();
        }
    }
}

fn write(file: &Path, prefs: &Preferences) {
    let result = serde_json::to_vec_pretty(prefs)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::fsutil::write_atomic(file, &bytes)
        });
    if let Err(e) = result {
        tracing::warn!("cannot save preferences to {}: {e}", file.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn missing_damaged_and_out_of_range_files_give_usable_preferences() {
        let dir = tempfile::tempdir().expect("dir");
        let file = Preferences::file_in(dir.path());
        assert_eq!(Preferences::load(&file), Preferences::default());
        std::fs::write(&file, b"{ not json").expect("write");
        assert_eq!(Preferences::load(&file), Preferences::default());
        std::fs::write(
            &file,
            br#"{"brush_pt": 1e9, "heatmap_opacity": -3, "hidden_classes": ["b", "a", "b"], "show_review": true}"#,
        )
        .expect("write");
        let p = Preferences::load(&file);
        assert_eq!(p.brush_pt, Preferences::default().brush_pt);
        assert_eq!(p.heatmap_opacity, Preferences::default().heatmap_opacity);
        assert_eq!(p.hidden_classes, ["a", "b"]);
        assert!(p.show_review, "a field that is fine is kept");
    }

    #[test]
    fn changes_are_written_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let file = Preferences::file_in(dir.path());
        let mut saver = PrefsSaver::new(file.clone(), Preferences::default(), Arc::new(|| {}));
        let mut p = Preferences {
            heatmap_colormap: Colormap::Magma,
            brush_pt: 30.0,
            ..Default::default()
        };
        saver.update(&p);
        p.show_properties = true;
        // A write is under way: the second change waits for it, and flush writes it.
        saver.update(&p);
        saver.flush(&p);
        assert_eq!(Preferences::load(&file), p);
    }
}
