//! What `sentinel --version` and `sentinel doctor` report: the versions of Sentinel, OpenSlide and
//! ONNX Runtime and where each was loaded from, and a list of checks (GPU adapter, execution
//! providers, data folder, bundled model) that each say what to fix.

use std::path::{Path, PathBuf};

/// Sentinel's own version and the commit it was built from.
pub fn sentinel_version() -> String {
    format!(
        "sentinel {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("SENTINEL_GIT_COMMIT")
    )
}

/// The file a shared library named `stem` (e.g. "libopenslide") was mapped from in this process,
/// read from `/proc/self/maps`.
pub fn loaded_library(stem: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| {
            Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(stem) && n.contains(".so"))
        })
        .map(PathBuf::from)
}

/// OpenSlide's version and the library file in use.
pub fn openslide() -> (String, Option<PathBuf>) {
    let version = openslide_rs::OpenSlide::version().unwrap_or_else(|e| format!("unknown ({e})"));
    (version, loaded_library("libopenslide"))
}

/// ONNX Runtime's version (from its build information) and the library file, loading it.
pub fn onnxruntime() -> Result<(String, PathBuf), String> {
    let path = crate::analysis::runtime::find_library().map_err(|e| e.to_string())?;
    let info = crate::analysis::runtime::build_info().map_err(|e| e.to_string())?;
    let path = path.canonicalize().unwrap_or(path);
    Ok((onnxruntime_version(&path, &info), path))
}

/// "1.31.1": from the library's file name (`libonnxruntime.so.1.31.1`, links resolved), else from
/// its build information's release branch ("git-branch=rel-1.31.1"), else that whole text.
fn onnxruntime_version(library: &Path, info: &str) -> String {
    let from_name = library
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split_once(".so."))
        .map(|(_, v)| v)
        .filter(|v| v.split('.').all(|p| p.parse::<u32>().is_ok()));
    let from_branch = || {
        info.split(|c: char| c == ',' || c.is_whitespace())
            .find_map(|part| part.strip_prefix("git-branch=rel-"))
    };
    from_name
        .or_else(from_branch)
        .map_or_else(|| info.trim().to_owned(), str::to_owned)
}

/// The text of `sentinel --version`.
pub fn version_report() -> String {
    let mut out = sentinel_version();
    let (osl, osl_path) = openslide();
    out.push_str(&format!(
        "\nOpenSlide {osl} ({})",
        osl_path.map_or_else(|| "linked in".into(), |p| p.display().to_string())
    ));
    match onnxruntime() {
        Ok((v, p)) => out.push_str(&format!("\nONNX Runtime {v} ({})", p.display())),
        Err(e) => out.push_str(&format!("\nONNX Runtime: {e}")),
    }
    match crate::paths::model_dir() {
        Ok(d) => out.push_str(&format!("\nmodel {}", d.display())),
        Err(e) => out.push_str(&format!("\nmodel: {e}")),
    }
    out.push_str(&format!("\ndata {}", crate::paths::data_dir().display()));
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, with a limit worth knowing (software rendering, CPU-only inference).
    Note,
    /// Something does not work.
    Fail,
}

/// One line of `sentinel doctor`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub what: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about it, when the status is not Ok.
    pub fix: Option<String>,
}

impl Check {
    fn new(what: &'static str, status: Status, detail: impl Into<String>) -> Self {
        Self {
            what,
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Every check, in the order printed.
pub fn doctor() -> Vec<Check> {
    let mut checks = vec![openslide_check()];
    checks.extend(onnxruntime_checks());
    checks.push(gpu_check());
    checks.push(data_dir_check(&crate::paths::data_dir()));
    checks.push(model_check());
    checks
}

fn openslide_check() -> Check {
    let (version, path) = openslide();
    let at = path.map_or_else(|| "linked in".into(), |p| p.display().to_string());
    if version.starts_with('4') {
        Check::new("OpenSlide", Status::Ok, format!("{version} ({at})"))
    } else {
        Check::new("OpenSlide", Status::Fail, format!("{version} ({at})"))
            .fix("Sentinel needs OpenSlide 4: reinstall Sentinel, or run ./setup in a checkout")
    }
}

/// ONNX Runtime itself, then each execution provider: compiled into this build, and able to run
/// the bundled model.
fn onnxruntime_checks() -> Vec<Check> {
    use crate::analysis::model::{Device, LoadOptions, Model};
    use ort::ep::ExecutionProvider;

    let (version, path) = match onnxruntime() {
        Ok(v) => v,
        Err(e) => {
            return vec![
                Check::new("ONNX Runtime", Status::Fail, e)
                    .fix("reinstall Sentinel, or set SENTINEL_ONNXRUNTIME to libonnxruntime.so"),
            ];
        }
    };
    let mut out = vec![Check::new(
        "ONNX Runtime",
        Status::Ok,
        format!("{version} ({})", path.display()),
    )];
    let model = crate::paths::model_dir();
    let compiled = [
        ("CUDA", ort::ep::CUDA::is_available(), Device::Cuda),
        (
            "TensorRT",
            ort::ep::TensorRT::is_available(),
            Device::Tensorrt,
        ),
    ];
    let mut gpu = false;
    for (name, available, device) in compiled {
        let what = if name == "CUDA" {
            "CUDA provider"
        } else {
            "TensorRT provider"
        };
        match available {
            Ok(true) => {
                let started = model.as_ref().map_err(ToString::to_string).and_then(|dir| {
                    Model::load(
                        dir,
                        LoadOptions {
                            threads: 1,
                            device,
                            full_precision: true,
                        },
                    )
                    .map_err(|e| e.to_string())
                });
                match started {
                    Ok(_) => {
                        gpu = true;
                        out.push(Check::new(what, Status::Ok, "runs the bundled model"));
                    }
                    Err(e) => out.push(
                        Check::new(
                            what,
                            Status::Note,
                            format!("in this build, cannot start: {e}"),
                        )
                        .fix(format!(
                            "{name} needs an NVIDIA GPU with its driver and the {name} libraries \
                                 that onnxruntime-gpu names (see the README's GPU section)"
                        )),
                    ),
                }
            }
            Ok(false) => out.push(
                Check::new(
                    what,
                    Status::Note,
                    "not in this ONNX Runtime build (CPU only)",
                )
                .fix(
                    "for an NVIDIA GPU: pip install onnxruntime-gpu, then set SENTINEL_ONNXRUNTIME \
                     to its libonnxruntime.so (see the README's GPU section)",
                ),
            ),
            Err(e) => out.push(Check::new(what, Status::Fail, e.to_string())),
        }
    }
    let cpu = model
        .map_err(|e| e.to_string())
        .and_then(|dir| Model::load(&dir, LoadOptions::cpu(1)).map_err(|e| e.to_string()));
    out.push(match cpu {
        Ok(_) => Check::new(
            "CPU inference",
            if gpu { Status::Ok } else { Status::Note },
            if gpu {
                "runs the bundled model (a GPU provider is used first)"
            } else {
                "runs the bundled model; analysis runs on the CPU"
            },
        ),
        Err(e) => Check::new("CPU inference", Status::Fail, e)
            .fix("reinstall Sentinel, or check SENTINEL_MODEL_DIR and SENTINEL_ONNXRUNTIME"),
    });
    out
}

/// The graphics adapters wgpu sees (what the viewer renders with).
fn gpu_check() -> Check {
    use egui_wgpu::wgpu;
    // The backends the viewer uses (Vulkan here; `WGPU_BACKEND` chooses others): probing GL too
    // only logs EGL errors on machines without it.
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(wgpu::Adapter::get_info).collect();
    let list = infos
        .iter()
        .map(|i| format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type))
        .collect::<Vec<_>>()
        .join("; ");
    if infos.is_empty() {
        return Check::new("Graphics adapter", Status::Fail, "none found").fix(
            "install a Vulkan driver: your GPU's, or Mesa's software one \
             (apt install mesa-vulkan-drivers libvulkan1)",
        );
    }
    let hardware = infos.iter().any(|i| {
        matches!(
            i.device_type,
            wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu
        )
    });
    if hardware {
        Check::new("Graphics adapter", Status::Ok, list)
    } else {
        Check::new("Graphics adapter", Status::Note, format!("software only: {list}")).fix(
            "the viewer works but draws on the CPU; install your GPU's Vulkan driver for smoother panning",
        )
    }
}

/// The data folder: present (or creatable), private, writable.
pub fn data_dir_check(dir: &Path) -> Check {
    const WHAT: &str = "Data folder";
    if !dir.exists() {
        return Check::new(
            WHAT,
            Status::Ok,
            format!("{} (created on first use, private)", dir.display()),
        );
    }
    let probe = dir.join(format!(".sentinel-doctor-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"") {
        return Check::new(
            WHAT,
            Status::Fail,
            format!("{}: not writable: {e}", dir.display()),
        )
        .fix(format!(
            "make it yours and writable: chmod u+rwx {}",
            dir.display()
        ));
    }
    let _ = std::fs::remove_file(&probe);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).map_or(0, |m| m.permissions().mode() & 0o777);
        if mode & 0o077 != 0 {
            return Check::new(
                WHAT,
                Status::Fail,
                format!(
                    "{} is readable by others (mode {mode:o}); it holds reader names, reads and notes",
                    dir.display()
                ),
            )
            .fix(format!("chmod 700 {}", dir.display()));
        }
    }
    Check::new(
        WHAT,
        Status::Ok,
        format!("{} (private, writable)", dir.display()),
    )
}

/// The bundled model: found, and the very files this build shipped (its hash).
fn model_check() -> Check {
    const WHAT: &str = "Bundled model";
    let dir = match crate::paths::model_dir() {
        Ok(d) => d,
        Err(e) => return Check::new(WHAT, Status::Fail, e.to_string()).fix("reinstall Sentinel"),
    };
    let hash =
        crate::analysis::result::files_hash(&[&dir.join("model.onnx"), &dir.join("model.json")]);
    let shipped = env!("SENTINEL_MODEL_SHA256");
    match hash {
        Ok(h) if h == shipped => Check::new(
            WHAT,
            Status::Ok,
            format!("{} (SHA-256 {}…, as shipped)", dir.display(), short(&h)),
        ),
        Ok(h) if std::env::var_os(crate::paths::MODEL_DIR_ENV).is_some() => Check::new(
            WHAT,
            Status::Note,
            format!(
                "{} (SHA-256 {}…): SENTINEL_MODEL_DIR names another model than the one shipped",
                dir.display(),
                short(&h)
            ),
        ),
        Ok(h) => Check::new(
            WHAT,
            Status::Fail,
            format!(
                "{}: SHA-256 {}… differs from the shipped {}…: the files are damaged or replaced",
                dir.display(),
                short(&h),
                short(shipped)
            ),
        )
        .fix("reinstall Sentinel"),
        Err(e) => Check::new(WHAT, Status::Fail, format!("{}: {e}", dir.display()))
            .fix("reinstall Sentinel"),
    }
}

/// The first 12 characters of a hex digest.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnxruntime_version_comes_from_the_file_name_or_the_release_branch() {
        let info = "ORT Build Info: git-branch=HEAD, git-commit-id=6af1a93, build type=Release";
        let lib = Path::new("/x/capi/libonnxruntime.so.1.31.1");
        assert_eq!(onnxruntime_version(lib, info), "1.31.1");
        let link = Path::new("/x/lib/libonnxruntime.so");
        assert_eq!(
            onnxruntime_version(
                link,
                "ORT Build Info: git-branch=rel-1.32.0, build type=Release"
            ),
            "1.32.0"
        );
        assert_eq!(onnxruntime_version(link, info), info);
    }

    #[cfg(unix)]
    #[test]
    fn a_data_folder_others_can_read_fails_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path().join("data");
        assert_eq!(
            data_dir_check(&d).status,
            Status::Ok,
            "absent: made on first use"
        );
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let c = data_dir_check(&d);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.fix, Some(format!("chmod 700 {}", d.display())));
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        assert_eq!(data_dir_check(&d).status, Status::Ok);
    }

    /// In this test process OpenSlide is linked in: /proc/self/maps names its file.
    #[test]
    fn the_loaded_openslide_is_found_with_its_version() {
        let (version, path) = openslide();
        assert!(version.starts_with("4."), "{version}");
        let path = path.expect("mapped");
        assert!(
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libopenslide.so")),
            "{}",
            path.display()
        );
    }
}
