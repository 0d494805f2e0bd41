//! The `sentinel` command line: the clap types and the dispatch; one file per command family.
//! With no subcommand it opens the viewer (on the demo slide when no slide is given). `anyhow`
//! lives here, at the binary's edge, and nowhere in the library.

mod analyze;
mod bench;
mod doctor;
mod export;
mod gui;
mod review;
mod slide;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sentinel",
    disable_version_flag = true,
    about = "Whole-slide pathology viewer",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Print the version, the git commit, and OpenSlide's and ONNX Runtime's versions and where
    /// each was loaded from.
    #[arg(short = 'V', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    gui: gui::GuiArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Describe a slide: vendor, levels, mpp, objective power, associated images.
    Info(slide::InfoArgs),
    /// Write a synthetic H&E slide (pyramidal tiled JPEG TIFF) and its ground truth (.truth.geojson).
    Synth(slide::SynthArgs),
    /// Read a region of a slide and save it as PNG.
    Region(slide::RegionArgs),
    /// Run a model over the tissue of each slide; save heatmaps (reused while slide, model and
    /// parameters are unchanged) and print a summary per slide.
    Analyze(analyze::AnalyzeArgs),
    /// Export the regions of annotations (QuPath GeoJSON, ASAP or ImageScope XML) as images: PNG
    /// when small, pyramidal TIFF when large; optionally with masks and burned-in outlines.
    Export(export::ExportArgs),
    /// Second-reader review sessions: create, list, hand over (bundles), report.
    Review {
        #[command(subcommand)]
        which: review::ReviewCmd,
    },
    /// Check this installation: OpenSlide, ONNX Runtime and its GPU providers, the graphics
    /// adapter, the data folder's permissions and the bundled model; say what to fix.
    Doctor,
    /// Benchmarks; they print figures.
    Bench {
        #[command(subcommand)]
        which: bench::BenchCmd,
    },
}

/// Parses the command line and runs it; errors are printed with their causes.
pub fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            // Each cause once: library errors quote their cause in their own message too.
            let chain = e.chain().map(|c| c as &(dyn std::error::Error + 'static));
            eprintln!("error: {}", sentinel::error::report_chain(chain));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.version {
        println!("{}", sentinel::diagnose::version_report());
        return Ok(ExitCode::SUCCESS);
    }
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        None => gui::run(cli.gui),
        Some(Cmd::Info(a)) => done(slide::info(a)),
        Some(Cmd::Synth(a)) => done(slide::synth(a)),
        Some(Cmd::Region(a)) => done(slide::region(a)),
        Some(Cmd::Analyze(a)) => done(analyze::run(a)),
        Some(Cmd::Export(a)) => done(export::run(&a)),
        Some(Cmd::Review { which }) => done(review::run(which)),
        Some(Cmd::Doctor) => done(doctor::run()),
        Some(Cmd::Bench { which }) => done(bench::run(which)),
    }
}

/// A progress callback that redraws one line on a terminal and stays quiet otherwise.
pub(crate) fn progress_printer(what: &'static str) -> impl FnMut(f64) {
    let tty = std::io::stderr().is_terminal();
    let mut last = -1i64;
    move |f: f64| {
        let pct = (f * 100.0) as i64;
        if tty && pct != last {
            last = pct;
            eprint!("\r{what}: {pct:3}%");
        }
    }
}

pub(crate) fn parse_size(s: &str) -> Result<[f32; 2], String> {
    let (w, h) = s.split_once('x').ok_or("expected WxH")?;
    let w: f32 = w.parse().map_err(|e| format!("bad width: {e}"))?;
    let h: f32 = h.parse().map_err(|e| format!("bad height: {e}"))?;
    if w < 200.0 || h < 150.0 {
        return Err("the window must be at least 200x150".into());
    }
    Ok([w, h])
}
