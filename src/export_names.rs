//! File names for exported regions, built in one place: the slide's whole name sanitised once
//! (dots included, so no later `with_extension` can cut it short), a running number, the class and
//! a length-bounded annotation name; a name that is taken (in this run or on disk) gets a suffix,
//! never an overwrite.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Longest sanitised part, in characters (annotation names can be whole sentences).
const PART_MAX_CHARS: usize = 40;
/// Longest base name in bytes: leaves room for "-mask.png" and a suffix under NAME_MAX (255).
const BASE_MAX_BYTES: usize = 200;

/// `text` with every character that is not a letter, digit, '-' or '_' replaced by '_', at most
/// `max_chars` characters.
pub fn sanitise(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Truncates to at most `max` bytes on a character boundary.
fn truncate_bytes(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Names the regions of one export run into `dir`.
pub struct RegionNamer {
    dir: PathBuf,
    stem: String,
    used: HashSet<String>,
}

impl RegionNamer {
    /// For regions of the slide at `slide` (its file name minus the final extension, sanitised).
    pub fn new(dir: &Path, slide: &Path) -> Self {
        let stem = slide
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            dir: dir.to_path_buf(),
            stem: sanitise(&stem, 120),
            used: HashSet::new(),
        }
    }

    /// The base path (no extension) of region number `index`: `<slide>-<index>[-<class>][-<name>]`,
    /// unique in this run and not yet on disk with any of the extensions an export writes.
    pub fn next(&mut self, index: usize, class: Option<&str>, name: &str) -> PathBuf {
        let mut base = format!("{}-{index:03}", self.stem);
        for part in [class.unwrap_or(""), name] {
            if !part.is_empty() {
                base.push('-');
                base.push_str(&sanitise(part, PART_MAX_CHARS));
            }
        }
        let base = truncate_bytes(base, BASE_MAX_BYTES);
        let taken = |b: &str, used: &HashSet<String>| {
            used.contains(b)
                || ["png", "tif"]
                    .iter()
                    .any(|ext| self.dir.join(format!("{b}.{ext}")).exists())
                || self.dir.join(format!("{b}-mask.png")).exists()
        };
        let mut candidate = base.clone();
        let mut k = 2;
        while taken(&candidate, &self.used) {
            candidate = format!("{base}-{k}");
            k += 1;
        }
        self.used.insert(candidate.clone());
        self.dir.join(candidate)
    }
}

/// One export run, all or nothing: files are written into a staging folder inside the output
/// folder and moved into place by [`ExportRun::commit`] once every region is written. A run that
/// fails or is dropped leaves nothing; staging folders of runs that were killed are removed when
/// the next run starts.
pub struct ExportRun {
    dir: PathBuf,
    staging: PathBuf,
    committed: bool,
}

const STAGING_PREFIX: &str = ".sentinel-export-";

impl ExportRun {
    pub fn start(dir: &Path) -> std::io::Result<Self> {
        Ok(Self {
            staging: crate::fsutil::new_staging_dir(dir, STAGING_PREFIX)?,
            dir: dir.to_path_buf(),
            committed: false,
        })
    }

    /// Where to write the file whose final base path is `base` (from [`RegionNamer::next`]).
    pub fn stage(&self, base: &Path) -> PathBuf {
        self.staging.join(base.file_name().unwrap_or_default())
    }

    /// Moves the staged files into the output folder; returns their final paths.
    pub fn commit(mut self, staged: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
        let mut out = Vec::with_capacity(staged.len());
        for f in staged {
            let target = self.dir.join(f.file_name().unwrap_or_default());
            std::fs::rename(f, &target)?;
            out.push(target);
        }
        self.committed = true;
        let _ = std::fs::remove_dir_all(&self.staging);
        Ok(out)
    }
}

impl Drop for ExportRun {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// `base` with `suffix` appended to its file name (`base` + ".png", "-mask.png"): unlike
/// `with_extension`, never replaces part of a name that holds a dot.
pub fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut name = base.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    base.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_slide_names_keep_every_region_apart() {
        let dir = tempfile::tempdir().expect("dir");
        let slide = Path::new("/slides/TCGA-AA-3562-01Z-00-DX1.8a2b5c7d-1e2f.svs");
        let mut n = RegionNamer::new(dir.path(), slide);
        let a = n.next(0, Some("Tumor"), "");
        let b = n.next(1, Some("Tumor"), "");
        assert_ne!(a, b);
        let name = a.file_name().expect("name").to_string_lossy().into_owned();
        assert_eq!(name, "TCGA-AA-3562-01Z-00-DX1_8a2b5c7d-1e2f-000-Tumor");
        // Adding an extension keeps the whole name.
        assert_eq!(
            with_suffix(&a, ".png").file_name().expect("name"),
            "TCGA-AA-3562-01Z-00-DX1_8a2b5c7d-1e2f-000-Tumor.png"
        );
        let mut m = RegionNamer::new(dir.path(), Path::new("colon_mpp0.5.tiff"));
        assert_eq!(
            m.next(3, None, "").file_name().expect("name"),
            "colon_mpp0_5-003"
        );
    }

    #[test]
    fn an_export_run_is_all_or_nothing_and_cleans_up_after_killed_runs() {
        let dir = tempfile::tempdir().expect("dir");
        let out = dir.path().join("regions");
        // A run killed earlier (its process is gone) left a staging folder.
        let dead = out.join(format!("{STAGING_PREFIX}4294967-1"));
        std::fs::create_dir_all(&dead).expect("dir");
        std::fs::write(dead.join("x.tif.partial"), b"half").expect("write");
        let run = ExportRun::start(&out).expect("start");
        assert!(!dead.exists(), "the killed run's leftovers are removed");
        let a = run.stage(&out.join("s-000"));
        std::fs::write(with_suffix(&a, ".png"), b"png").expect("write");
        // Dropped without commit (an error on a later region): nothing appears.
        drop(run);
        assert_eq!(std::fs::read_dir(&out).expect("ls").count(), 0);

        let run = ExportRun::start(&out).expect("start");
        let staged = [
            with_suffix(&run.stage(&out.join("s-000")), ".png"),
            with_suffix(&run.stage(&out.join("s-001")), ".png"),
        ];
        for f in &staged {
            std::fs::write(f, b"png").expect("write");
        }
        let placed = run.commit(&staged).expect("commit");
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .expect("ls")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["s-000.png", "s-001.png"]);
        assert_eq!(placed[1], out.join("s-001.png"));
    }

    #[test]
    fn names_are_bounded_sanitised_and_never_reused() {
        let dir = tempfile::tempdir().expect("dir");
        let mut n = RegionNamer::new(dir.path(), Path::new("s.svs"));
        // Non-ASCII and hostile names: no separators, bounded length.
        let long = "Ø".repeat(500) + "/../etc";
        let p = n.next(0, Some("Tumör/x"), &long);
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        assert!(name.len() <= BASE_MAX_BYTES, "{} bytes", name.len());
        assert!(name.starts_with("s-000-Tumör_x-ØØ"), "{name}");
        assert!(!name.contains('/') && !name.contains(".."));
        // The same parts twice in a run: a suffix, not the same file.
        let a = n.next(1, Some("T"), "x");
        let b = n.next(1, Some("T"), "x");
        assert_ne!(a, b);
        assert!(b.to_string_lossy().ends_with("-2"));
        // A file already on disk is not overwritten either.
        std::fs::write(dir.path().join("s-002-T.png"), b"old").expect("write");
        let mut fresh = RegionNamer::new(dir.path(), Path::new("s.svs"));
        assert_eq!(
            fresh.next(2, Some("T"), "").file_name().expect("name"),
            "s-002-T-2"
        );
    }
}
