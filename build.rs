//! Embeds an rpath to the OpenSlide library that openslide-sys linked against, so `cargo run`
//! and `cargo test` find it at run time with no `LD_LIBRARY_PATH`.
//!
//! The library is found through pkg-config: `./setup` writes `.deps/openslide/lib/pkgconfig/openslide.pc`
//! (pointing at the openslide-bin wheel) and `.cargo/config.toml` puts it on `PKG_CONFIG_PATH`.
//! A user with their own OpenSlide 4 sets `PKG_CONFIG_PATH` to its `openslide.pc` instead.

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    match pkg_config::Config::new()
        .cargo_metadata(false)
        .atleast_version("4.0")
        .probe("openslide")
    {
        Ok(lib) => {
            for dir in &lib.link_paths {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            }
        }
        Err(e) => println!(
            "cargo:warning=OpenSlide 4 not found through pkg-config ({e}); run ./setup or set PKG_CONFIG_PATH"
        ),
    }
}
