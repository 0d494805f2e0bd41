//! The release bundle and the Debian package run without the source checkout: `./package` packs
//! the binary these tests run, the bundle is unpacked into an empty temporary prefix, and every
//! command runs there with a clean environment (no `SENTINEL_*`, no `LD_LIBRARY_PATH`, `HOME` and
//! the working directory elsewhere). From a prefix outside the checkout's `target/` folder the
//! binary never looks in the checkout (`paths::checkout`), so what it finds is what it shipped:
//! `--version` must name the prefix for OpenSlide, ONNX Runtime and the model. Then `info` on a
//! real slide, `analyze` with the bundled model (the same scores as from the checkout), `doctor`,
//! and a scripted screenshot under Xvfb. The same for the `.deb`, installed with `dpkg -i` into
//! this machine and removed again.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The tarball and the .deb, built once per test binary.
fn packages() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dist-{}", std::process::id()));
        let o = Command::new(root.join("package"))
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_sentinel"))
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run ./package");
        assert!(
            o.status.success(),
            "./package failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        println!("{}", String::from_utf8_lossy(&o.stdout));
        let version = env!("CARGO_PKG_VERSION");
        let tar = out.join(format!("sentinel-{version}-linux-x86_64.tar.gz"));
        let deb = out.join(format!("sentinel_{version}_amd64.deb"));
        assert!(tar.is_file() && deb.is_file(), "{}", out.display());
        (tar, deb)
    })
}

/// Runs `exe` with a clean environment: a fresh `HOME`, no `SENTINEL_*`, no library path, in a
/// working directory outside the checkout.
fn run_clean(exe: &Path, home: &Path, args: &[&std::ffi::OsStr]) -> Output {
    std::fs::create_dir_all(home).expect("home");
    Command::new(exe)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .current_dir(home)
        .output()
        .expect("run sentinel")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `analyze --json` of `slide` into `out`: (max, top-10 mean, tiles).
fn scores(exe: &Path, home: &Path, slide: &Path, out: &Path) -> (f64, f64, u64) {
    let o = run_clean(
        exe,
        home,
        &[
            "analyze".as_ref(),
            slide.as_os_str(),
            "--json".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    (
        line["max"].as_f64().expect("max"),
        line["top_k_mean"].as_f64().expect("top_k_mean"),
        line["tiles"].as_u64().expect("tiles"),
    )
}

/// What every installed copy must do, with `prefix` the folder holding `bin/` (the unpacked
/// bundle, or `/usr`).
fn check_installed(prefix: &Path, scratch: &Path) {
    let exe = prefix.join("bin/sentinel");
    let home = scratch.join("home");
    let slide = common::shared_data().join("slides/CMU-1-Small-Region.svs");

    let o = run_clean(&exe, &home, &["--version".as_ref()]);
    assert!(o.status.success(), "{}", text(&o));
    let version = String::from_utf8_lossy(&o.stdout).into_owned();
    println!("{version}");
    assert!(version.starts_with(&format!("sentinel {}", env!("CARGO_PKG_VERSION"))));
    let lib = prefix.join("lib/sentinel");
    for (line, place) in [
        ("OpenSlide 4.", lib.join("libopenslide.so.1")),
        ("ONNX Runtime 1.", lib.clone()),
        ("model ", prefix.join("share/sentinel/models/capricorn-crc")),
    ] {
        let l = version
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("no {line:?} line in\n{version}"));
        assert!(
            l.contains(&*place.to_string_lossy()),
            "{l:?} is not from {}",
            place.display()
        );
    }

    let o = run_clean(
        &exe,
        &home,
        &["info".as_ref(), "--json".as_ref(), slide.as_os_str()],
    );
    assert!(o.status.success(), "{}", text(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64()),
        (Some(2220), Some(2967)),
        "{info}"
    );

    // The same scores as the checkout's binary with the checkout's model.
    let installed = scores(&exe, &home, &slide, &scratch.join("analyses"));
    let reference = scores(
        Path::new(env!("CARGO_BIN_EXE_sentinel")),
        &scratch.join("home-checkout"),
        &slide,
        &scratch.join("analyses-checkout"),
    );
    println!("installed {installed:?}, checkout {reference:?}");
    assert_eq!(installed, reference);

    let o = run_clean(&exe, &home, &["doctor".as_ref()]);
    let report = text(&o);
    assert!(o.status.success(), "{report}");
    assert!(
        report.contains("as shipped") && report.contains("CPU inference"),
        "{report}"
    );

    let shot = scratch.join("screenshot.png");
    let o = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(&exe)
        .arg(&slide)
        .arg("--screenshot")
        .arg(&shot)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &home)
        .env("WGPU_BACKEND", "vulkan")
        .current_dir(&home)
        .output()
        .expect("xvfb-run");
    assert!(o.status.success(), "{}", text(&o));
    let img = image::open(&shot).expect("screenshot").to_rgb8();
    assert!(img.width() >= 1000 && img.height() >= 600);
    // Tissue is on screen: many pixels are far from white and from the UI's greys.
    let stained = img
        .pixels()
        .filter(|p| i32::from(p[0]) - i32::from(p[1]) > 30)
        .count();
    assert!(stained > 10_000, "{stained} pinkish pixels");
}

#[test]
fn the_bundle_runs_from_an_empty_prefix() {
    let (tar, _) = packages();
    let scratch = tempfile::tempdir().expect("scratch");
    let prefix = scratch.path().join("prefix");
    std::fs::create_dir_all(&prefix).expect("prefix");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&prefix)
        .arg("-xzf")
        .arg(tar)
        .status()
        .expect("tar");
    assert!(st.success());
    let top = prefix.join(format!("sentinel-{}", env!("CARGO_PKG_VERSION")));
    for f in [
        "bin/sentinel",
        "lib/sentinel/libopenslide.so.1",
        "lib/sentinel/libonnxruntime.so",
        "share/sentinel/models/capricorn-crc/model.onnx",
        "share/applications/org.sentinel.Sentinel.desktop",
        "share/icons/hicolor/scalable/apps/sentinel.svg",
        "share/mime/packages/sentinel.xml",
        "share/doc/sentinel/LICENSES",
        "share/doc/sentinel/openslide-licenses/COPYING.LESSER",
    ] {
        assert!(top.join(f).exists(), "{f} missing from the bundle");
    }
    check_installed(&top, scratch.path());
}

#[test]
fn the_debian_package_installs_runs_and_removes() {
    let (_, deb) = packages();
    let sudo: &[&str] = if std::env::var("USER").as_deref() == Ok("root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"))
    {
        &[]
    } else {
        &["sudo", "-n"]
    };
    let dpkg = |args: &[&std::ffi::OsStr]| {
        let mut c = match sudo.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg("dpkg");
                c
            }
            None => Command::new("dpkg"),
        };
        c.args(args).output().expect("dpkg")
    };
    let already = dpkg(&["-s".as_ref(), "sentinel".as_ref()]);
    assert!(
        !already.status.success(),
        "a sentinel package is already installed here; this test installs and removes its own"
    );
    let o = dpkg(&["-i".as_ref(), deb.as_os_str()]);
    assert!(o.status.success(), "dpkg -i: {}", text(&o));
    let scratch = tempfile::tempdir().expect("scratch");
    let result = std::panic::catch_unwind(|| {
        assert!(Path::new("/usr/share/applications/org.sentinel.Sentinel.desktop").is_file());
        assert!(Path::new("/usr/share/mime/packages/sentinel.xml").is_file());
        check_installed(Path::new("/usr"), scratch.path());
    });
    let o = dpkg(&["-r".as_ref(), "sentinel".as_ref()]);
    assert!(o.status.success(), "dpkg -r: {}", text(&o));
    assert!(!Path::new("/usr/bin/sentinel").exists());
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
