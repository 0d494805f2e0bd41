//! `sentinel info`, `synth` and `region`: one slide in, text or pixels out.

use std::path::PathBuf;

use anyhow::Context;

use sentinel::info::SlideInfo;
use sentinel::slide;
use sentinel::synth::{SynthFormat, SynthSpec, write_slide};

use super::progress_printer;

#[derive(clap::Args)]
pub struct InfoArgs {
    pub slide: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also list every property.
    #[arg(long)]
    pub properties: bool,
}

#[derive(clap::Args)]
pub struct SynthArgs {
    pub out: PathBuf,
    #[arg(long, default_value_t = 8192)]
    pub width: u64,
    #[arg(long, default_value_t = 6144)]
    pub height: u64,
    #[arg(long, value_enum, default_value_t = SynthFormat::Svs)]
    pub format: SynthFormat,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Microns per pixel at level 0 (0.25 = 40x, 0.5 = 20x).
    #[arg(long, default_value_t = 0.25)]
    pub mpp: f64,
    #[arg(long, default_value_t = 256)]
    pub tile_size: u32,
    #[arg(long, default_value_t = 85)]
    pub quality: u8,
}

#[derive(clap::Args)]
pub struct RegionArgs {
    pub slide: PathBuf,
    /// Level-0 x of the top-left corner.
    #[arg(long, default_value_t = 0)]
    pub x: i64,
    /// Level-0 y of the top-left corner.
    #[arg(long, default_value_t = 0)]
    pub y: i64,
    #[arg(long, default_value_t = 0)]
    pub level: usize,
    #[arg(long, default_value_t = 1024)]
    pub width: u32,
    #[arg(long, default_value_t = 1024)]
    pub height: u32,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn info(args: InfoArgs) -> anyhow::Result<()> {
    let InfoArgs {
        slide,
        json,
        properties,
    } = args;
    let s = slide::open(&slide)?;
    let info = SlideInfo::of(s.as_ref());
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", info.to_text(properties));
    }
    Ok(())
}

pub fn synth(args: SynthArgs) -> anyhow::Result<()> {
    let SynthArgs {
        out,
        width,
        height,
        format,
        seed,
        mpp,
        tile_size,
        quality,
    } = args;
    let spec = SynthSpec {
        width,
        height,
        format,
        seed,
        mpp,
        tile_size,
        jpeg_quality: quality,
        description: None,
    };
    let report = write_slide(&spec, &out, progress_printer("synth"))?;
    eprintln!();
    println!(
        "wrote {} ({:.1} MB, {} levels, {} of {} tiles with tissue) in {:.1} s; truth in {}",
        report.path.display(),
        report.file_bytes as f64 / 1e6,
        report.levels.len(),
        report.tiles_encoded,
        report.tiles_total,
        report.seconds,
        report.truth_path.display()
    );
    Ok(())
}

pub fn region(args: RegionArgs) -> anyhow::Result<()> {
    let RegionArgs {
        slide,
        x,
        y,
        level,
        width,
        height,
        out,
    } = args;
    let s = slide::open(&slide)?;
    // Bounded by the slide, not per side: no region holds more pixels than its level.
    if let Some(l) = s.levels().get(level)
        && u64::from(width) * u64::from(height) > (l.width_px * l.height_px).max(1)
    {
        anyhow::bail!(
            "a {width}x{height} px region holds more pixels than level {level} itself \
             ({}x{} px): nothing to gain from reading it",
            l.width_px,
            l.height_px
        );
    }
    let img = s.read_region(level, x, y, width, height)?;
    let (w, h) = (img.width, img.height);
    sentinel::fsutil::write_png(&out, w, h, img.pixels)
        .with_context(|| out.display().to_string())?;
    println!("wrote {} ({w}x{h} at level {level})", out.display());
    Ok(())
}
