//! Tells the linker where OpenSlide is found at run time, and records the git commit and the
//! bundled model's hash for `sentinel --version` and `sentinel doctor`.
//!
//! With the default `checkout` feature (`cargo run`, tests) the rpath is the directory of the
//! OpenSlide library that openslide-sys linked against, found through pkg-config: `./setup`
//! writes `.deps/openslide/lib/pkgconfig/openslide.pc` (pointing at the openslide-bin wheel) and
//! `.cargo/config.toml` puts it on `PKG_CONFIG_PATH`. A user with their own OpenSlide 4 sets
//! `PKG_CONFIG_PATH` to its `openslide.pc` instead.
//!
//! Without it (`./package`, the release bundle and the Debian package) the rpath is only
//! `$ORIGIN/../lib/sentinel`, where the bundle ships the library: no path of the build machine is
//! in the binary.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=build.rs");
    let checkout = std::env::var_os("CARGO_FEATURE_CHECKOUT").is_some();
    println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN/../lib/sentinel");
    match pkg_config::Config::new()
        .cargo_metadata(false)
        .atleast_version("4.0")
        .probe("openslide")
    {
        Ok(lib) if checkout => {
            for dir in &lib.link_paths {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            }
        }
        Ok(_) => {}
        Err(e) => println!(
            "cargo:warning=OpenSlide 4 not found through pkg-config ({e}); run ./setup or set PKG_CONFIG_PATH"
        ),
    }
    git_commit();
    model_hash();
}

/// `SENTINEL_MODEL_SHA256`: the bundled model's hash as `analysis::result::files_hash` computes it
/// (model.onnx, then model.json), so `sentinel doctor` can tell an intact install from a damaged
/// or replaced one.
fn model_hash() {
    use sha2::{Digest, Sha256};
    let dir = Path::new("models/capricorn-crc");
    let mut h = Sha256::new();
    for f in ["model.onnx", "model.json"] {
        let path = dir.join(f);
        println!("cargo:rerun-if-changed={}", path.display());
        match std::fs::read(&path) {
            Ok(bytes) => h.update(&bytes),
            Err(e) => {
                println!("cargo:warning={}: {e}", path.display());
                println!("cargo:rustc-env=SENTINEL_MODEL_SHA256=unknown");
                return;
            }
        }
    }
    println!("cargo:rustc-env=SENTINEL_MODEL_SHA256={:x}", h.finalize());
}

/// `SENTINEL_GIT_COMMIT`: the checkout's commit, or "unknown" outside a git checkout.
fn git_commit() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SENTINEL_GIT_COMMIT={commit}");
    // Rebuilt when HEAD moves (a commit, a checkout).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = Path::new(&dir);
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", dir.join(head).display());
        }
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("packed-refs").display()
        );
    }
}
