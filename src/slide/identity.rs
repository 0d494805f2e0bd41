//! A slide's identity: what every per-slide record (annotations, analyses, review cases, bundles,
//! heatmap overlays) is keyed by, so that a record always belongs to the slide it names. Computed
//! once when the slide is opened; never the path, so a moved or copied slide keeps its records and
//! a different slide at the same path never inherits them.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Level;

/// OpenSlide's hash of a slide's properties and its smallest level's tiles.
pub const QUICKHASH_PROPERTY: &str = "openslide.quickhash-1";

/// How an identity made from OpenSlide's quickhash starts.
const QUICKHASH_PREFIX: &str = "quickhash1:";

/// Bytes sampled from the file for slides without a quickhash: `SAMPLES` pieces of `SAMPLE`
/// bytes, evenly spaced from the start to the end (both included).
const SAMPLES: u64 = 16;
const SAMPLE: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SlideId(String);

impl SlideId {
    /// `quickhash1:<hex>` (OpenSlide's quickhash where the format has one), else
    /// `content1:<hex>`: SHA-256 of the properties, the level geometry, the file size and
    /// 16 x 64 KiB of the file's bytes, evenly spaced.
    pub fn compute(
        path: &Path,
        properties: &BTreeMap<String, String>,
        levels: &[Level],
    ) -> std::io::Result<Self> {
        if let Some(q) = properties.get(QUICKHASH_PROPERTY) {
            return Ok(Self(format!("{QUICKHASH_PREFIX}{q}")));
        }
        let mut h = Sha256::new();
        for (k, v) in properties {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        for l in levels {
            h.update(l.width_px.to_le_bytes());
            h.update(l.height_px.to_le_bytes());
        }
        let mut file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        h.update(size.to_le_bytes());
        let mut buf = vec![0u8; SAMPLE as usize];
        let last = size.saturating_sub(SAMPLE);
        for i in 0..SAMPLES {
            let offset = last * i / (SAMPLES - 1);
            file.seek(SeekFrom::Start(offset))?;
            let n = read_up_to(&mut file, &mut buf)?;
            h.update(&buf[..n]);
        }
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self(format!("content1:{hex}")))
    }

    /// The identity an analysis provenance names (see [`Self::provenance_hash`]).
    pub fn from_provenance_hash(hash: &str) -> Self {
        if hash.contains(':') {
            Self(hash.to_owned())
        } else {
            Self(format!("{QUICKHASH_PREFIX}{hash}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key an earlier release used for this slide at `path` where it differs from today's:
    /// `path:<path>` for slides without a quickhash (quickhash keys are unchanged).
    pub fn legacy_key(&self, path: &Path) -> Option<String> {
        (!self.0.starts_with(QUICKHASH_PREFIX)).then(|| format!("path:{}", path.display()))
    }

    /// Whether `key` (recorded by this release, or by an earlier one as [`Self::legacy_key`])
    /// names this slide at `path`.
    pub fn matches_key(&self, path: &Path, key: &str) -> bool {
        key == self.0 || self.legacy_key(path).is_some_and(|l| l == key)
    }

    /// The identity as a file name part ("quickhash1-<hex>").
    pub fn file_stem(&self) -> String {
        self.0.replace(':', "-")
    }

    /// The value stored in analysis provenance: the bare quickhash for quickhash slides (as
    /// results were always stored), else the whole identity.
    pub fn provenance_hash(&self) -> &str {
        self.0.strip_prefix(QUICKHASH_PREFIX).unwrap_or(&self.0)
    }
}

impl std::fmt::Display for SlideId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of this release and of earlier ones (`path:` for slides without a quickhash) name
    /// the slide; another slide's key does not.
    #[test]
    fn keys_of_this_and_earlier_releases_match_the_slide() {
        let p = Path::new("/slides/a.tif");
        let content = SlideId("content1:ab".into());
        assert_eq!(content.legacy_key(p), Some("path:/slides/a.tif".into()));
        assert!(content.matches_key(p, "content1:ab"));
        assert!(content.matches_key(p, "path:/slides/a.tif"));
        assert!(!content.matches_key(Path::new("/slides/b.tif"), "path:/slides/a.tif"));
        let quick = SlideId::from_provenance_hash("ff");
        assert_eq!(quick.as_str(), "quickhash1:ff");
        assert_eq!(quick.legacy_key(p), None, "quickhash keys never changed");
        assert!(!quick.matches_key(p, "path:/slides/a.tif"));
    }

    fn level() -> Vec<Level> {
        vec![Level {
            width_px: 100,
            height_px: 50,
            downsample: 1.0,
            tile_size_px: None,
        }]
    }

    #[test]
    fn quickhash_wins_and_content_ids_follow_the_bytes_not_the_path() {
        let dir = tempfile::tempdir().expect("dir");
        let mut props = BTreeMap::new();
        props.insert(QUICKHASH_PROPERTY.to_owned(), "abc".to_owned());
        let a = dir.path().join("a.tiff");
        std::fs::write(&a, vec![7u8; 300_000]).expect("write");
        assert_eq!(
            SlideId::compute(&a, &props, &level()).expect("id").as_str(),
            "quickhash1:abc"
        );
        let none = BTreeMap::new();
        let id_a = SlideId::compute(&a, &none, &level()).expect("id");
        assert!(id_a.as_str().starts_with("content1:"));
        // The same bytes elsewhere: the same slide.
        let b = dir.path().join("other/b.tiff");
        std::fs::create_dir_all(b.parent().expect("dir")).expect("dir");
        std::fs::copy(&a, &b).expect("copy");
        assert_eq!(SlideId::compute(&b, &none, &level()).expect("id"), id_a);
        // Another slide written over the same path: another identity.
        let mut other = vec![7u8; 300_000];
        other[150_000] = 8;
        std::fs::write(&a, other).expect("write");
        assert_ne!(SlideId::compute(&a, &none, &level()).expect("id"), id_a);
        assert_eq!(id_a.file_stem(), id_a.as_str().replace(':', "-"));
    }
}
