//! `sentinel bench`: benchmarks that print figures.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use sentinel::analysis::model::Device;
use sentinel::bench::{self, tiles::TileBenchSpec};
use sentinel::synth::{SynthFormat, SynthSpec, write_slide};

use super::{parse_size, progress_printer};

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Scripted viewer run (open, 20 jumps at 20x/40x, 10 s pan) in a real window; prints timings.
    Viewer {
        /// Slide to view (default: the cached 100000x80000 synthetic SVS).
        #[arg(long)]
        slide: Option<PathBuf>,
        #[arg(long, value_parser = parse_size, default_value = "1920x1080")]
        window: [f32; 2],
        #[arg(long, default_value_t = 10.0)]
        pan_seconds: f64,
        /// Magnifications to pan at (each pan starts at the same place on tissue).
        #[arg(long, value_delimiter = ',', default_values_t = [40.0f64])]
        pan_magnifications: Vec<f64>,
        /// A GeoJSON of annotations (e.g. from `bench cells`): after the bare pans it is imported
        /// and the pans run again with it drawn.
        #[arg(long)]
        annotations: Option<PathBuf>,
    },
    /// Writes a QuPath GeoJSON of synthetic detections on a slide's tissue: cell outlines and
    /// point annotations (the input of `bench viewer --annotations`).
    Cells {
        /// Slide whose tissue they cover (default: the cached 100000x80000 synthetic SVS).
        #[arg(long)]
        slide: Option<PathBuf>,
        /// Where to write (default: beside the benchmark slide).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 100_000)]
        cells: usize,
        #[arg(long, default_value_t = 1_000_000)]
        points: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Analysis tiles/s: Sentinel end-to-end against decode only, model only and a Python pipeline.
    Analysis {
        /// Slide to analyse (default: the cached 100000x80000 synthetic SVS).
        #[arg(long)]
        slide: Option<PathBuf>,
        /// Model directory (default: the bundled model).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Device::Cpu)]
        device: Device,
        #[arg(long)]
        full_precision: bool,
        /// Tissue tiles to run: a run of consecutive ones from the middle of the slide.
        #[arg(long, default_value_t = 512)]
        tiles: usize,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// CPU threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Batch sizes to try for the Python pipeline; its best counts.
        #[arg(long, value_delimiter = ',', default_values_t = [8usize, 16, 32])]
        python_batches: Vec<usize>,
        /// Skip the Python pipeline.
        #[arg(long)]
        no_python: bool,
        #[arg(long)]
        json: bool,
    },
    /// Random 256x256 tile reads at levels 0 and 1 with 1 and N threads, against raw OpenSlide and openslide-python.
    Tiles {
        /// Slide to read (default: a cached 100000x80000 synthetic SVS, generated on first use).
        #[arg(long)]
        slide: Option<PathBuf>,
        #[arg(long, default_value_t = 3000)]
        reads: usize,
        /// Thread counts to run (default: 1 and all cores).
        #[arg(long, value_delimiter = ',')]
        threads: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_values_t = [0usize, 1])]
        levels: Vec<usize>,
        /// Skip the openslide-python comparison.
        #[arg(long)]
        no_python: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(which: BenchCmd) -> anyhow::Result<()> {
    match which {
        BenchCmd::Tiles {
            slide,
            reads,
            threads,
            levels,
            no_python,
            json,
        } => bench_tiles(slide, reads, threads, levels, no_python, json),
        BenchCmd::Viewer {
            slide,
            window,
            pan_seconds,
            pan_magnifications,
            annotations,
        } => bench_viewer(
            slide,
            window,
            sentinel::bench::viewer::ViewerBenchSpec {
                pan_seconds,
                pan_magnifications,
                annotations,
                ..Default::default()
            },
        ),
        BenchCmd::Cells {
            slide,
            out,
            cells,
            points,
            seed,
        } => bench_cells(slide, out, cells, points, seed),
        BenchCmd::Analysis {
            slide,
            model,
            device,
            full_precision,
            tiles,
            batch,
            threads,
            python_batches,
            no_python,
            json,
        } => {
            let python = usable_python(no_python, "the Python pipeline");
            let spec = bench::analysis::AnalysisBenchSpec {
                slide: match slide {
                    Some(s) => s,
                    None => default_bench_slide()?,
                },
                model_dir: match model {
                    Some(m) => m,
                    None => sentinel::paths::model_dir()?,
                },
                device,
                full_precision,
                tiles,
                batch,
                threads: threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                python,
                python_batches,
            };
            bench_analysis(&spec, json)
        }
    }
}

/// The 100000 x 80000 synthetic SVS the benchmarks share (generated once, cached).
fn default_bench_slide() -> anyhow::Result<PathBuf> {
    let dir = bench::bench_data_dir();
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let path = dir.join("synthetic-100000x80000-seed1.svs");
    if !path.is_file() {
        eprintln!("generating {} (once; cached)", path.display());
        let spec = SynthSpec::new(100_000, 80_000, SynthFormat::Svs);
        let r = write_slide(&spec, &path, progress_printer("synth"))?;
        eprintln!(
            "\ngenerated in {:.1} s ({:.1} MB)",
            r.seconds,
            r.file_bytes as f64 / 1e6
        );
    }
    Ok(path)
}

fn bench_cells(
    slide: Option<PathBuf>,
    out: Option<PathBuf>,
    cells: usize,
    points: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let slide = match slide {
        Some(s) => s,
        None => default_bench_slide()?,
    };
    let out = out.unwrap_or_else(|| {
        bench::bench_data_dir().join(format!("cells-{cells}-points-{points}-seed{seed}.geojson"))
    });
    let source = sentinel::slide::open(&slide)?;
    let overview = sentinel::slide::read_overview(source.as_ref(), 2048)?;
    let extent = source.dimensions();
    let downsample = extent.0 as f64 / f64::from(overview.width);
    let mpp = source.mpp().map(|m| m.0);
    let mask =
        sentinel::analysis::tissue::TissueMask::from_image(&overview, downsample, mpp, 50_000.0);
    let spec = sentinel::synth::cells::CellSpec {
        cells,
        points,
        seed,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let annotations = sentinel::synth::cells::generate(
        &sentinel::synth::cells::TissueMask {
            width: mask.width,
            height: mask.height,
            tissue: &mask.tissue,
            extent,
        },
        &spec,
    );
    anyhow::ensure!(
        !annotations.is_empty(),
        "{}: no tissue found to put cells on",
        slide.display()
    );
    let classes = sentinel::annotate::default_classes();
    let text = sentinel::annotate::geojson::export(&annotations, &classes);
    sentinel::fsutil::write_atomic(&out, text.as_bytes())
        .with_context(|| out.display().to_string())?;
    println!(
        "{}: {cells} cell outlines and {points} points in {} annotations on {} ({:.1} MB, {:.1} s)",
        out.display(),
        annotations.len(),
        slide.display(),
        text.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn bench_viewer(
    slide: Option<PathBuf>,
    window: [f32; 2],
    spec: sentinel::bench::viewer::ViewerBenchSpec,
) -> anyhow::Result<()> {
    let slide = match slide {
        Some(s) => s,
        None => default_bench_slide()?,
    };
    // A fresh data folder: the annotations a run imports must not pile up in the next run.
    let data_dir = std::env::temp_dir().join(format!("sentinel-bench-data-{}", std::process::id()));
    let launch = sentinel::app::Launch {
        slide: Some(slide),
        goto: None,
        screenshot: None,
        budgets: sentinel::viewer::Budgets::default(),
        data_dir: data_dir.clone(),
        bench: Some(spec),
        heatmap: sentinel::app::LaunchHeatmap::Off,
        compare: None,
        annotations: None,
        layer: Default::default(),
    };
    let result = super::gui::open_window(launch, window, super::gui::Window::Benchmark).map(|_| ());
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

fn bench_analysis(spec: &bench::analysis::AnalysisBenchSpec, json: bool) -> anyhow::Result<()> {
    use bench::analysis::{DECODE, DECODE_OPENSLIDE, DECODE_REDUCED, END_TO_END, MODEL, PYTHON};

    println!(
        "analysis of {} consecutive tissue tiles of {} ({} threads)",
        spec.tiles,
        spec.slide.display(),
        spec.threads
    );
    println!(
        "{:<26} {:>6} {:>7} {:>9} {:>9}",
        "pipeline", "batch", "tiles", "seconds", "tiles/s"
    );
    let report = bench::analysis::run(spec, |r| {
        println!(
            "{:<26} {:>6} {:>7} {:>9.2} {:>9.1}",
            r.pipeline, r.batch, r.tiles, r.seconds, r.tiles_per_s
        );
    })?;
    println!(
        "model {} on {}, read at level {}; the slide has {} tissue tiles",
        report.onnx.display(),
        report.provider,
        report.level,
        report.tissue_tiles
    );
    if let (Some(e2e), Some(decode), Some(model)) = (
        report.rate(END_TO_END),
        report.rate(DECODE),
        report.rate(MODEL),
    ) {
        let bound = decode.min(model);
        println!(
            "end-to-end = {:.1}% of the slower bound ({}: {bound:.1} tiles/s)",
            100.0 * e2e / bound,
            if model < decode { "model" } else { "decode" }
        );
        if let Some(py) = report.rate(PYTHON) {
            println!(
                "end-to-end = {:.2}x the Python pipeline's best ({py:.1} tiles/s)",
                e2e / py
            );
        }
    }
    if let (Some(d), Some(o)) = (report.rate(DECODE), report.rate(DECODE_OPENSLIDE)) {
        println!("decode only: {:.2}x reading through OpenSlide", d / o);
    }
    if let (Some(r), Some(d)) = (report.rate(DECODE_REDUCED), report.rate(DECODE)) {
        println!(
            "reduced-size decoding (tiles at 1/{}): {:.2}x full size",
            report.reduction,
            r / d
        );
    }
    if let (Some(r), Some(s)) = (report.reduced_vs_full, report.shifted_vs_full) {
        println!(
            "risk change over {} tiles, reduced vs full-size decoding: mean {:.5}, p99 {:.5}, max \
             {:.5}; the model's own noise (tiles one reduced pixel off): mean {:.5}, p99 {:.5}, max {:.5}",
            r.tiles, r.mean_abs, r.p99_abs, r.max_abs, s.mean_abs, s.p99_abs, s.max_abs
        );
    }
    if let Some(gap) = report.python_score_gap {
        println!("mean |score difference| Sentinel vs Python: {gap:.1e}");
    }
    if json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

fn bench_tiles(
    slide: Option<PathBuf>,
    reads: usize,
    threads: Vec<usize>,
    levels: Vec<usize>,
    no_python: bool,
    json: bool,
) -> anyhow::Result<()> {
    let slide = match slide {
        Some(s) => s,
        None => default_bench_slide()?,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if threads.is_empty() {
        if cores > 1 { vec![1, cores] } else { vec![1] }
    } else {
        threads
    };
    let spec = TileBenchSpec {
        slide: slide.clone(),
        levels,
        threads,
        reads,
        seed: 42,
        python: usable_python(no_python, "openslide-python"),
    };
    println!(
        "tile reads of {}x{} px from {} ({} cores)",
        bench::tiles::TILE,
        bench::tiles::TILE,
        slide.display(),
        cores
    );
    println!(
        "{:<26} {:>5} {:>9} {:>7} {:>7} {:>9} {:>10} {:>8}",
        "reader", "level", "grid", "threads", "tiles", "seconds", "tiles/s", "MP/s"
    );
    let grid = |aligned: bool| if aligned { "aligned" } else { "unaligned" };
    let rows = bench::tiles::run(&spec, |r| {
        println!(
            "{:<26} {:>5} {:>9} {:>7} {:>7} {:>9.3} {:>10.0} {:>8.1}",
            r.reader,
            r.level,
            grid(r.aligned),
            r.threads,
            r.tiles,
            r.seconds,
            r.tiles_per_s,
            r.mp_per_s
        );
    })?;
    println!();
    for &level in &spec.levels {
        for aligned in [true, false] {
            for &t in &spec.threads {
                let get = |name: &str| {
                    rows.iter()
                        .find(|r| {
                            r.reader.starts_with(name)
                                && r.level == level
                                && r.threads == t
                                && r.aligned == aligned
                        })
                        .map(|r| r.tiles_per_s)
                };
                let Some(raw) = get("openslide (raw") else {
                    continue;
                };
                let mut line = format!("level {level}, {}, {t} thread(s):", grid(aligned));
                if let Some(v) = get("sentinel via") {
                    line += &format!(" via OpenSlide {:.2}x raw OpenSlide;", v / raw);
                }
                match get("sentinel direct") {
                    Some(d) => {
                        line += &format!(" direct {:.2}x raw OpenSlide", d / raw);
                        if let Some(p) = get("openslide-python") {
                            line += &format!(", {:.2}x openslide-python", d / p);
                        }
                    }
                    None => line += " no direct path for this slide (OpenSlide reads it)",
                }
                println!("{line}");
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string(&rows)?);
    }
    Ok(())
}

/// The project venv's Python for a benchmark's peer, unless `--no-python`; where there is none,
/// says which peer is skipped and why.
fn usable_python(no_python: bool, peer: &str) -> Option<PathBuf> {
    if no_python {
        return None;
    }
    match bench::project_python() {
        Ok(p) if p.is_file() => Some(p),
        Ok(p) => {
            eprintln!(
                "note: {} not found (run ./setup); skipping {peer}",
                p.display()
            );
            None
        }
        Err(e) => {
            eprintln!("note: {e}; skipping {peer}");
            None
        }
    }
}
