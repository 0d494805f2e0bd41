//! Where Sentinel finds what it needs at run time: the user's data folder, the bundled model, the
//! ONNX Runtime library and the benchmark inputs. The one place that knows; nothing else reads
//! `CARGO_MANIFEST_DIR`.
//!
//! Search order for the model and ONNX Runtime (the README's "Where Sentinel looks"):
//! 1. an environment override (`SENTINEL_MODEL_DIR`, `SENTINEL_ONNXRUNTIME`);
//! 2. beside the executable: `<exe>/../share/sentinel/` and `<exe>/../lib/sentinel/` (the release
//!    bundle and the Debian package);
//! 3. each of `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`) + `/sentinel/`;
//! 4. the user data folder (`SENTINEL_DATA_DIR`, else `$XDG_DATA_HOME/sentinel`);
//! 5. the source checkout (`models/`, `.deps/venv`), only for an executable that `cargo` built
//!    inside that checkout's `target/` folder (`cargo run`, tests), and only in builds with the
//!    default `checkout` feature: the release bundle is built without it, so an installed binary
//!    never looks there.
//!
//! Every "not found" names each place searched.

use std::path::{Path, PathBuf};

/// The bundled model's folder name.
pub const MODEL_NAME: &str = "capricorn-crc";
pub const MODEL_DIR_ENV: &str = "SENTINEL_MODEL_DIR";
pub const ONNXRUNTIME_ENV: &str = "SENTINEL_ONNXRUNTIME";
pub const DATA_DIR_ENV: &str = "SENTINEL_DATA_DIR";

/// Something Sentinel needs was in none of the places it looks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} not found; looked in {}. {hint}", list(tried))]
pub struct NotFound {
    pub what: &'static str,
    pub tried: Vec<PathBuf>,
    pub hint: &'static str,
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "no place".into();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The user's data folder: settings, annotations, reviews, stored heatmaps, the demo slide.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV) {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("org", "Sentinel", "sentinel")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("sentinel"))
}

/// The folder of the running executable (symbolic links resolved, so a link in `/usr/local/bin`
/// to a bundle elsewhere finds the bundle).
fn exe_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    exe.parent().map(Path::to_path_buf)
}

/// `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`), each with `sentinel` appended.
fn xdg_data_dirs() -> Vec<PathBuf> {
    xdg_data_dirs_from(std::env::var("XDG_DATA_DIRS").ok().as_deref())
}

/// [`xdg_data_dirs`] for a given value of the variable: relative entries are ignored, as the
/// XDG Base Directory specification says.
fn xdg_data_dirs_from(value: Option<&str>) -> Vec<PathBuf> {
    value
        .filter(|v| !v.is_empty())
        .unwrap_or("/usr/local/share:/usr/share")
        .split(':')
        .filter(|d| Path::new(d).is_absolute())
        .map(|d| Path::new(d).join("sentinel"))
        .collect()
}

/// The source checkout this executable was built in, when it runs from that checkout's `target/`
/// folder (`cargo run`, `cargo test`); `None` for an installed copy, and always in builds without
/// the `checkout` feature.
pub fn checkout() -> Option<PathBuf> {
    #[cfg(feature = "checkout")]
    {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|t| if t.is_absolute() { t } else { root.join(t) })
            .unwrap_or_else(|| root.join("target"));
        let exe = exe_dir()?;
        let target = target.canonicalize().unwrap_or(target);
        exe.starts_with(&target).then(|| root.to_path_buf())
    }
    #[cfg(not(feature = "checkout"))]
    {
        None
    }
}

/// The places a shared-data item `relative` (e.g. `models/capricorn-crc`) may be, in search
/// order, after any override.
fn share_candidates(relative: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(exe) = exe_dir() {
        out.push(exe.join("../share/sentinel").join(relative));
    }
    out.extend(xdg_data_dirs().into_iter().map(|d| d.join(relative)));
    out.push(data_dir().join(relative));
    out
}

/// The bundled model's folder (the one holding `model.json`).
pub fn model_dir() -> Result<PathBuf, NotFound> {
    if let Some(dir) = std::env::var_os(MODEL_DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let mut tried = share_candidates(&format!("models/{MODEL_NAME}"));
    if let Some(root) = checkout() {
        tried.push(root.join("models").join(MODEL_NAME));
    }
    match tried.iter().find(|d| d.join("model.json").is_file()) {
        Some(d) => Ok(clean(d)),
        None => Err(NotFound {
            what: "the bundled model (model.json)",
            tried,
            hint: "Reinstall Sentinel, or set SENTINEL_MODEL_DIR to a model folder",
        }),
    }
}

/// The ONNX Runtime shared library (`libonnxruntime.so*`).
pub fn onnxruntime() -> Result<PathBuf, NotFound> {
    if let Some(p) = std::env::var_os(ONNXRUNTIME_ENV) {
        return Ok(PathBuf::from(p));
    }
    let mut tried = Vec::new();
    if let Some(exe) = exe_dir() {
        tried.push(exe.join("../lib/sentinel"));
    }
    tried.extend(xdg_data_dirs().into_iter().map(|d| d.join("lib")));
    tried.push(data_dir().join("lib"));
    if let Some(root) = checkout() {
        // The venv that ./setup fills from PyPI (onnxruntime, or onnxruntime-gpu).
        let venv_lib = root.join(".deps/venv/lib");
        let capi: Vec<PathBuf> = std::fs::read_dir(&venv_lib)
            .into_iter()
            .flatten()
            .flatten()
            .map(|python| python.path().join("site-packages/onnxruntime/capi"))
            .collect();
        if capi.is_empty() {
            tried.push(venv_lib);
        } else {
            tried.extend(capi);
        }
    }
    for dir in &tried {
        if let Some(lib) = newest_onnxruntime_in(dir) {
            return Ok(clean(&lib));
        }
    }
    Err(NotFound {
        what: "ONNX Runtime (libonnxruntime.so)",
        tried,
        hint: "Reinstall Sentinel, run ./setup in a source checkout, or set \
               SENTINEL_ONNXRUNTIME=/path/to/libonnxruntime.so",
    })
}

/// The highest-versioned `libonnxruntime.so*` in `dir`.
fn newest_onnxruntime_in(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// Where benchmark inputs (large synthetic slides) are cached: `SENTINEL_BENCH_DIR`, else the
/// checkout's `target/bench-data`, else the data folder's `bench-data`.
pub fn bench_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SENTINEL_BENCH_DIR") {
        return PathBuf::from(d);
    }
    match checkout() {
        Some(root) => root.join("target/bench-data"),
        None => data_dir().join("bench-data"),
    }
}

/// The benchmark peers (Python scripts in `benches/`) and the Python that runs them: they are
/// developer tools and live in the source checkout only.
pub fn bench_peers() -> Result<(PathBuf, PathBuf), NotFound> {
    match checkout() {
        Some(root) => Ok((root.join(".deps/venv/bin/python"), root.join("benches"))),
        None => Err(NotFound {
            what: "the benchmark peers (benches/*.py and the project venv)",
            tried: Vec::new(),
            hint: "They are part of the source checkout: run `cargo run --release -- bench ...` there",
        }),
    }
}

/// `a/bin/../lib/x` as `a/lib/x` (links resolved), so messages and `--version` read plainly.
fn clean(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests run from the checkout's target folder: the checkout is found, and the bundled model
    /// and ONNX Runtime come from it (no bundle is installed on the build machine).
    #[test]
    fn a_test_binary_finds_its_checkout_and_the_bundled_model() {
        let root = checkout().expect("tests run inside the checkout's target folder");
        assert!(root.join("Cargo.toml").is_file());
        let model = model_dir().expect("model");
        assert!(model.join("model.json").is_file(), "{}", model.display());
    }

    #[test]
    fn not_found_lists_every_place_searched() {
        let e = NotFound {
            what: "the bundled model (model.json)",
            tried: vec![PathBuf::from("/a/share"), PathBuf::from("/b/share")],
            hint: "Reinstall Sentinel",
        };
        assert_eq!(
            e.to_string(),
            "the bundled model (model.json) not found; looked in /a/share, /b/share. Reinstall Sentinel"
        );
    }

    #[test]
    fn xdg_data_dirs_default_and_relative_entries() {
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            xdg_data_dirs_from(None),
            p(&["/usr/local/share/sentinel", "/usr/share/sentinel"])
        );
        assert_eq!(xdg_data_dirs_from(Some("")), xdg_data_dirs_from(None));
        assert_eq!(
            xdg_data_dirs_from(Some("/opt/x/share:relative/share:/usr/share")),
            p(&["/opt/x/share/sentinel", "/usr/share/sentinel"])
        );
    }
}
