//! The `sentinel` command line. With no subcommand it opens the viewer (on the demo slide when no
//! slide is given).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use sentinel::analysis::model::Device;
use sentinel::bench::{self, tiles::TileBenchSpec};
use sentinel::info::SlideInfo;
use sentinel::slide;
use sentinel::synth::{SynthFormat, SynthSpec, write_slide};

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
    gui: GuiArgs,
}

#[derive(clap::Args)]
struct GuiArgs {
    /// Slide to open (default: the bundled demo slide, generated on first run).
    slide: Option<PathBuf>,
    /// Centre the view on this level-0 pixel, "X,Y".
    #[arg(long, value_parser = parse_point)]
    at: Option<[f64; 2]>,
    /// On-screen magnification (e.g. 20 for 20x).
    #[arg(long)]
    mag: Option<f64>,
    /// Save what the window shows once every visible tile is at full resolution, then exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// With --screenshot: show the slide's stored heatmap (the bundled model's) and the analysis
    /// panel; fails if none is stored.
    #[arg(long, requires = "screenshot", conflicts_with = "analyze")]
    heatmap: bool,
    /// With --screenshot: analyse the slide first (or reuse its stored heatmap), then show it.
    #[arg(long, requires = "screenshot")]
    analyze: bool,
    /// Window size in points, "WxH".
    #[arg(long, value_parser = parse_size, default_value = "1600x1000")]
    window: [f32; 2],
    /// RAM for decoded tiles, MB.
    #[arg(long, default_value_t = 192)]
    tile_cache_mb: usize,
    /// GPU memory for tile textures, MB.
    #[arg(long, default_value_t = 160)]
    texture_cache_mb: usize,
    /// Texture bytes uploaded per frame at most, MB.
    #[arg(long, default_value_t = 24)]
    upload_mb_per_frame: usize,
}

impl GuiArgs {
    fn budgets(&self) -> sentinel::viewer::Budgets {
        sentinel::viewer::Budgets {
            cpu_bytes: self.tile_cache_mb.max(16) << 20,
            gpu_bytes: self.texture_cache_mb.max(16) << 20,
            upload_bytes_per_frame: self.upload_mb_per_frame.max(1) << 20,
            ..Default::default()
        }
    }
}

fn parse_point(s: &str) -> Result<[f64; 2], String> {
    let (x, y) = s.split_once(',').ok_or("expected X,Y")?;
    let x: f64 = x.trim().parse().map_err(|e| format!("bad X: {e}"))?;
    let y: f64 = y.trim().parse().map_err(|e| format!("bad Y: {e}"))?;
    Ok([x, y])
}

fn parse_size(s: &str) -> Result<[f32; 2], String> {
    let (w, h) = s.split_once('x').ok_or("expected WxH")?;
    let w: f32 = w.parse().map_err(|e| format!("bad width: {e}"))?;
    let h: f32 = h.parse().map_err(|e| format!("bad height: {e}"))?;
    if w < 200.0 || h < 150.0 {
        return Err("the window must be at least 200x150".into());
    }
    Ok([w, h])
}

#[derive(Subcommand)]
enum Cmd {
    /// Describe a slide: vendor, levels, mpp, objective power, associated images.
    Info {
        slide: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also list every property.
        #[arg(long)]
        properties: bool,
    },
    /// Write a synthetic H&E slide (pyramidal tiled JPEG TIFF) and its ground truth (.truth.geojson).
    Synth {
        out: PathBuf,
        #[arg(long, default_value_t = 8192)]
        width: u64,
        #[arg(long, default_value_t = 6144)]
        height: u64,
        #[arg(long, value_enum, default_value_t = SynthFormat::Svs)]
        format: SynthFormat,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Microns per pixel at level 0 (0.25 = 40x, 0.5 = 20x).
        #[arg(long, default_value_t = 0.25)]
        mpp: f64,
        #[arg(long, default_value_t = 256)]
        tile_size: u32,
        #[arg(long, default_value_t = 85)]
        quality: u8,
    },
    /// Read a region of a slide and save it as PNG.
    Region {
        slide: PathBuf,
        /// Level-0 x of the top-left corner.
        #[arg(long, default_value_t = 0)]
        x: i64,
        /// Level-0 y of the top-left corner.
        #[arg(long, default_value_t = 0)]
        y: i64,
        #[arg(long, default_value_t = 0)]
        level: usize,
        #[arg(long, default_value_t = 1024)]
        width: u32,
        #[arg(long, default_value_t = 1024)]
        height: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a model over the tissue of each slide; save heatmaps (reused while slide, model and
    /// parameters are unchanged) and print a summary per slide.
    Analyze {
        #[arg(required = true)]
        slides: Vec<PathBuf>,
        /// Model directory (model.onnx + model.json); default: the bundled model.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Where heatmaps are stored (default: the data directory's analyses folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where inference runs: auto tries TensorRT, then CUDA, then the CPU.
        #[arg(long, value_enum, default_value_t = Device::Auto)]
        device: Device,
        /// On the CPU, run the model's full-precision file even where it ships a faster variant.
        #[arg(long)]
        full_precision: bool,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// Risk at or above which a tile counts as positive (areas, hot-spots); default: the
        /// model's measured operating point (its model.json `threshold`), else 0.5.
        #[arg(long)]
        threshold: Option<f32>,
        /// Microns per pixel of level 0, for slides that record none (or a wrong value).
        #[arg(long)]
        mpp: Option<f64>,
        /// One JSON object per slide on stdout.
        #[arg(long)]
        json: bool,
        /// Also write the heatmap as these formats beside the sidecar.
        #[arg(long, value_enum, value_delimiter = ',')]
        export: Vec<sentinel::analysis::pipeline::ExportFormat>,
    },
    /// Export the regions of annotations (QuPath GeoJSON, ASAP or ImageScope XML) as images: PNG
    /// when small, pyramidal TIFF when large; optionally with masks and burned-in outlines.
    Export(ExportArgs),
    /// Second-reader review sessions: create, list, hand over (bundles), report.
    Review {
        #[command(subcommand)]
        which: ReviewCmd,
    },
    /// Check this installation: OpenSlide, ONNX Runtime and its GPU providers, the graphics
    /// adapter, the data folder's permissions and the bundled model; say what to fix.
    Doctor,
    /// Benchmarks; they print figures.
    Bench {
        #[command(subcommand)]
        which: BenchCmd,
    },
}

#[derive(Subcommand)]
enum ReviewCmd {
    /// Create a session over SLIDES.
    New {
        #[arg(long)]
        name: String,
        /// A reader as ID:NAME[:ARMS], ARMS = unassisted, assisted or both (default unassisted).
        #[arg(long = "reader", required = true)]
        readers: Vec<String>,
        /// Seed of the readers' case orders (default: from the clock, and recorded).
        #[arg(long)]
        seed: Option<u64>,
        /// Answer categories, least to most severe (default: the sentinel-node set: None,
        /// isolated tumour cells, micrometastasis, macrometastasis).
        #[arg(long, value_delimiter = ',')]
        categories: Vec<String>,
        /// 1-based number of the first positive category (with --categories).
        #[arg(long, default_value_t = 2)]
        positive_from: u8,
        /// Do not ask for the largest deposit's size.
        #[arg(long)]
        no_size: bool,
        /// Do not ask for confidence.
        #[arg(long)]
        no_confidence: bool,
        #[arg(required = true)]
        slides: Vec<PathBuf>,
    },
    /// The sessions in the data directory.
    List,
    /// Write a session (or one reader's reads) as one bundle file.
    Export {
        session: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        reader: Option<String>,
    },
    /// Merge a bundle from another workstation.
    Import { bundle: PathBuf },
    /// CSV (all reads, and iMRMC's long format) and an HTML report.
    Report {
        session: String,
        #[arg(long)]
        out: PathBuf,
        /// Folders to look in for slides that moved.
        #[arg(long)]
        search: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Scripted viewer run (open, 20 jumps at 20x/40x, 10 s pan) in a real window; prints timings.
    Viewer {
        /// Slide to view (default: the cached 100000x80000 synthetic SVS).
        #[arg(long)]
        slide: Option<PathBuf>,
        #[arg(long, value_parser = parse_size, default_value = "1920x1080")]
        window: [f32; 2],
        #[arg(long, default_value_t = 10.0)]
        pan_seconds: f64,
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.version {
        println!("{}", sentinel::diagnose::version_report());
        return Ok(ExitCode::SUCCESS);
    }
    match cli.command {
        None => run_gui(cli.gui),
        Some(cmd) => run_command(cmd).map(|()| ExitCode::SUCCESS),
    }
}

fn run_gui(args: GuiArgs) -> anyhow::Result<ExitCode> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI32, Ordering};

    if args.mag.is_some_and(|m| !(m.is_finite() && m > 0.0)) {
        anyhow::bail!("--mag must be a positive number");
    }
    let goto = match (args.at, args.mag) {
        (None, None) => None,
        (at, mag) => Some(sentinel::app::GoTo {
            centre: at.unwrap_or([f64::NAN, f64::NAN]),
            magnification: mag,
        }),
    };
    let launch = sentinel::app::Launch {
        budgets: args.budgets(),
        slide: args.slide,
        goto,
        screenshot: args.screenshot,
        data_dir: sentinel::paths::data_dir(),
        bench: None,
        heatmap: if args.analyze {
            sentinel::app::LaunchHeatmap::Analyze
        } else if args.heatmap {
            sentinel::app::LaunchHeatmap::Stored
        } else {
            sentinel::app::LaunchHeatmap::Off
        },
    };
    let exit = Arc::new(AtomicI32::new(0));
    let app_exit = Arc::clone(&exit);
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Sentinel")
            .with_inner_size(args.window)
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "Sentinel",
        options,
        Box::new(move |cc| {
            Ok(Box::new(sentinel::app::SentinelApp::new(
                cc, launch, app_exit,
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    Ok(match exit.load(Ordering::SeqCst) {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

fn run_command(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Info {
            slide,
            json,
            properties,
        } => {
            let s = slide::open(&slide)?;
            let info = SlideInfo::of(s.as_ref());
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", info.to_text(properties));
            }
            Ok(())
        }
        Cmd::Synth {
            out,
            width,
            height,
            format,
            seed,
            mpp,
            tile_size,
            quality,
        } => {
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
        Cmd::Region {
            slide,
            x,
            y,
            level,
            width,
            height,
            out,
        } => {
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
        Cmd::Analyze {
            slides,
            model,
            out,
            device,
            full_precision,
            batch,
            threshold,
            mpp,
            json,
            export,
        } => analyze(
            slides,
            model,
            out,
            device,
            full_precision,
            batch,
            threshold,
            mpp,
            json,
            &export,
        ),
        Cmd::Export(args) => export_regions(&args),
        Cmd::Review { which } => review(which),
        Cmd::Doctor => doctor(),
        Cmd::Bench { which } => match which {
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
            } => bench_viewer(slide, window, pan_seconds),
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
                    threads: threads.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    }),
                    python,
                    python_batches,
                };
                bench_analysis(&spec, json)
            }
        },
    }
}

/// A progress callback that redraws one line on a terminal and stays quiet otherwise.
fn progress_printer(what: &'static str) -> impl FnMut(f64) {
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

#[allow(clippy::too_many_arguments)]
fn analyze(
    slides: Vec<PathBuf>,
    model_dir: Option<PathBuf>,
    out: Option<PathBuf>,
    device: Device,
    full_precision: bool,
    batch: usize,
    threshold: Option<f32>,
    mpp: Option<f64>,
    json: bool,
    export: &[sentinel::analysis::pipeline::ExportFormat],
) -> anyhow::Result<()> {
    use sentinel::analysis::{
        model::{LoadOptions, Model},
        pipeline,
        runner::RunOptions,
    };

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model_dir = match model_dir {
        Some(d) => d,
        None => sentinel::paths::model_dir()?,
    };
    let mut model = Model::load(
        &model_dir,
        LoadOptions {
            threads: cores,
            device,
            full_precision,
        },
    )?;
    eprintln!(
        "model {} {} on {} ({})",
        model.meta.name,
        model.meta.version,
        model.provider.name(),
        model.onnx.display()
    );
    let out = out.unwrap_or_else(|| sentinel::paths::data_dir().join("analyses"));
    let params = pipeline::Params {
        threshold,
        ..Default::default()
    };
    let options = RunOptions {
        batch,
        reader_threads: cores.max(2),
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut failed = 0;
    for slide_path in slides {
        let result = slide::open(&slide_path)
            .and_then(|s| match mpp {
                Some(m) => Ok(Box::new(slide::WithMpp::new(s, m)?) as Box<dyn slide::SlideSource>),
                None => Ok(s),
            })
            .map_err(anyhow::Error::from)
            .and_then(|s| {
                let tty = std::io::stderr().is_terminal();
                let started = std::time::Instant::now();
                pipeline::analyze_slide(
                    s.as_ref(),
                    &mut model,
                    &out,
                    params,
                    options,
                    None,
                    &cancel,
                    |p| {
                        if let (true, pipeline::Progress::Batch { done, total, .. }) = (tty, p) {
                            let secs = started.elapsed().as_secs_f64();
                            let rate = done as f64 / secs.max(1e-9);
                            let eta = (total - done) as f64 / rate.max(1e-9);
                            eprint!(
                                "\r{}: {done}/{total} tiles, {rate:.0} tiles/s, ETA {eta:.0} s   ",
                                slide_path.display()
                            );
                        }
                    },
                )
                .map_err(anyhow::Error::from)
                .and_then(|(report, result)| {
                    pipeline::export(
                        &result,
                        &report.heatmap,
                        export,
                        sentinel::colormap::Colormap::Viridis,
                        Some(s.as_ref()),
                    )
                    .with_context(|| {
                        format!("exporting the heatmap of {}", report.slide.display())
                    })?;
                    Ok(report)
                })
            });
        match result {
            Ok(r) => {
                if std::io::stderr().is_terminal() {
                    eprintln!();
                }
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!(
                        "{}: max {:.3}, top-10 mean {:.3}, tissue {:.2} mm², above {:.2} {:.2} mm², {} hot-spot(s), {} tiles in {:.1} s{}",
                        r.slide.display(),
                        r.max,
                        r.top_k_mean,
                        r.tissue_area_mm2,
                        r.threshold,
                        r.area_above_threshold_mm2,
                        r.hotspots,
                        r.tiles,
                        r.seconds,
                        if r.reused {
                            " (stored result reused)"
                        } else {
                            ""
                        }
                    );
                    if let Some(m) = &r.threshold_meaning {
                        println!("  threshold {m}");
                    }
                    for w in &r.warnings {
                        println!("  warning: {w}");
                    }
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} slide(s) could not be analysed");
    }
    Ok(())
}

fn review(cmd: ReviewCmd) -> anyhow::Result<()> {
    use sentinel::review::{bundle, materials, report, session};
    use sentinel::store::Store;

    let data_dir = sentinel::paths::data_dir();
    let mut store = Store::in_data_dir(&data_dir)?;
    let find = |store: &Store, id: &str| -> anyhow::Result<session::Session> {
        store
            .review_session(id)?
            .ok_or_else(|| anyhow::anyhow!("no review session {id} in {}", data_dir.display()))
    };
    match cmd {
        ReviewCmd::New {
            name,
            readers,
            seed,
            categories,
            positive_from,
            no_size,
            no_confidence,
            slides,
        } => {
            let mut questions = session::Questions::default();
            if !categories.is_empty() {
                questions.categories = categories.iter().map(|c| c.trim().to_owned()).collect();
                questions.positive_from = positive_from.saturating_sub(1);
            }
            questions.size_mm &= !no_size;
            questions.confidence &= !no_confidence;
            questions.validate().map_err(anyhow::Error::msg)?;
            let readers = readers
                .iter()
                .map(|spec| {
                    let parts: Vec<&str> = spec.splitn(3, ':').collect();
                    let (id, name) = match parts.as_slice() {
                        [id, name, ..] if !id.is_empty() => (id.to_string(), name.to_string()),
                        _ => anyhow::bail!("--reader {spec}: expected ID:NAME[:ARMS]"),
                    };
                    let arms_text = parts.get(2).copied().unwrap_or("unassisted");
                    let arms = session::Arm::parse_set(arms_text).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--reader {spec}: arms \"{arms_text}\" (unassisted, assisted or both)"
                        )
                    })?;
                    Ok(session::Reader::new(&id, &name, arms))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut cases = Vec::new();
            for (i, path) in slides.iter().enumerate() {
                let s = slide::open(path)?;
                cases.push(session::CaseRef {
                    id: format!("case-{:03}", i + 1),
                    path: std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
                    slide_key: materials::slide_key(s.as_ref()),
                    truth: None,
                });
            }
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            });
            let s = session::Session {
                id: sentinel::annotate::document::new_id(),
                name,
                cases,
                readers,
                seed,
                questions,
            };
            store.save_review_session(&s)?;
            println!(
                "session {} \"{}\": {} case(s), {} reader(s), order seed {}",
                s.id,
                s.name,
                s.cases.len(),
                s.readers.len(),
                s.seed
            );
        }
        ReviewCmd::List => {
            for s in store.review_sessions()? {
                let reads = store.reads(&s.id)?;
                let submitted = session::latest(&reads)
                    .iter()
                    .filter(|r| r.submitted)
                    .count();
                println!(
                    "{}  {}  {} case(s), {} reader(s), {} submitted read(s)",
                    s.id,
                    s.name,
                    s.cases.len(),
                    s.readers.len(),
                    submitted
                );
            }
        }
        ReviewCmd::Export {
            session: id,
            out,
            reader,
        } => {
            let s = find(&store, &id)?;
            let reads: Vec<session::Read> = store
                .reads(&id)?
                .into_iter()
                .filter(|r| reader.as_ref().is_none_or(|x| &r.reader_id == x))
                .collect();
            let text = bundle::write(&s, &reads, Vec::new());
            sentinel::fsutil::write_atomic(&out, text.as_bytes())
                .with_context(|| out.display().to_string())?;
            println!("{}: {} read(s)", out.display(), reads.len());
        }
        ReviewCmd::Import { bundle: path } => {
            let text =
                std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
            let r = bundle::import(&mut store, &data_dir, &text)
                .with_context(|| path.display().to_string())?;
            println!(
                "{}: {} read(s) added, {} already here, {} kept as new versions; {} case(s) and {} reader(s) added",
                path.display(),
                r.reads_added,
                r.reads_present,
                r.reads_renumbered,
                r.cases_added,
                r.readers_added
            );
        }
        ReviewCmd::Report {
            session: id,
            out,
            search,
        } => {
            let s = find(&store, &id)?;
            let reads = store.reads(&id)?;
            let latest: Vec<&session::Read> = session::latest(&reads)
                .into_iter()
                .filter(|r| r.submitted)
                .collect();
            let mut ai = std::collections::HashMap::new();
            let mut heatmaps = std::collections::HashMap::new();
            // The audit uses the stored analyses' own threshold (the model's operating point).
            let mut audit_threshold = sentinel::analysis::model::UNCALIBRATED_THRESHOLD;
            let mut thumbs = std::collections::HashMap::new();
            for c in &s.cases {
                let slide = match materials::open_case_slide(&c.path, &c.slide_key, &search, &c.id)
                {
                    Ok(s) => s,
                    Err(why) => {
                        eprintln!("{why} (use --search)");
                        continue;
                    }
                };
                if let Some(result) =
                    materials::stored_analysis(slide.as_ref(), &data_dir.join("analyses"))
                {
                    ai.insert(c.id.clone(), f64::from(result.summary.max));
                    audit_threshold = result.summary.threshold;
                    let mpp = slide.mpp().map_or(0.25, |m| m.0);
                    heatmaps.insert(c.id.clone(), (result.heatmap, mpp));
                }
                let of_case: Vec<&session::Read> = latest
                    .iter()
                    .copied()
                    .filter(|r| r.case_id == c.id)
                    .collect();
                let index = |r: &str| s.readers.iter().position(|x| x.id == r).unwrap_or(0);
                if let Some(png) = materials::thumbnail(slide.as_ref(), &of_case, index, 480) {
                    thumbs.insert(c.id.clone(), png);
                }
            }
            let rep = report::build(&s, &reads, &ai);
            std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
            for (name, text) in [
                ("reads.csv", report::reads_csv(&s, &reads)),
                ("imrmc.csv", report::imrmc_csv(&s, &reads)),
                (
                    "report.html",
                    report::html(
                        &rep,
                        &report::coverage(&reads, &heatmaps, audit_threshold),
                        &thumbs,
                    ),
                ),
            ] {
                let p = out.join(name);
                sentinel::fsutil::write_atomic(&p, text.as_bytes())
                    .with_context(|| p.display().to_string())?;
                println!("{}", p.display());
            }
        }
    }
    Ok(())
}

#[derive(clap::Args)]
struct ExportArgs {
    slide: PathBuf,
    #[arg(long)]
    annotations: PathBuf,
    /// Only annotations of this class.
    #[arg(long)]
    class: Option<String>,
    /// Pyramid level to export at (default 0).
    #[arg(long, conflicts_with = "mpp")]
    level: Option<usize>,
    /// Resolution in µm per pixel: the coarsest level at least this fine.
    #[arg(long)]
    mpp: Option<f64>,
    #[arg(long)]
    out: PathBuf,
    /// Also write each shape's binary mask (`*-mask.png`).
    #[arg(long)]
    mask: bool,
    /// Burn in every annotation's outline (and the heatmap given with --heatmap).
    #[arg(long)]
    overlay: bool,
    /// With --overlay: a stored analysis of this slide (`*.heatmap.json`).
    #[arg(long, requires = "overlay")]
    heatmap: Option<PathBuf>,
}

fn export_regions(args: &ExportArgs) -> anyhow::Result<()> {
    use sentinel::region::{Overlay, RegionRequest, export_region};

    let s = slide::open(&args.slide)?;
    let imported =
        sentinel::annotate::import_file(&args.annotations).map_err(anyhow::Error::msg)?;
    let level = match (args.level, args.mpp) {
        (Some(l), _) => l,
        (None, Some(m)) if m.is_finite() && m > 0.0 => {
            sentinel::region::level_for_mpp(s.as_ref(), m)
        }
        (None, Some(m)) => anyhow::bail!("--mpp {m} must be a positive number"),
        (None, None) => 0,
    };
    let heatmap = match &args.heatmap {
        None => None,
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| p.display().to_string())?;
            let r: sentinel::analysis::result::AnalysisResult = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a stored analysis", p.display()))?;
            // Matched by identity: a slide without a quickhash has one too (its content id).
            if s.id().provenance_hash() != r.provenance.slide_hash {
                anyhow::bail!("{}: this heatmap belongs to another slide", p.display());
            }
            Some(r.heatmap)
        }
    };
    let color = |name: &Option<String>| {
        name.as_ref()
            .and_then(|n| imported.classes.iter().find(|c| &c.name == n))
            .map_or([255, 255, 0], |c| c.color)
    };
    let outlines: Vec<(sentinel::annotate::Shape, [u8; 3])> = imported
        .annotations
        .iter()
        .map(|a| (a.shape.clone(), color(&a.class)))
        .collect();
    let overlay = args.overlay.then(|| Overlay {
        outlines: &outlines,
        heatmap: heatmap
            .as_ref()
            .map(|h| (h, sentinel::colormap::Colormap::Viridis, 0.2, 0.45)),
    });
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    let mut names = sentinel::export_names::RegionNamer::new(&args.out, &args.slide);
    let chosen: Vec<_> = imported
        .annotations
        .iter()
        .enumerate()
        .filter(|(_, a)| args.class.is_none() || a.class == args.class)
        .collect();
    let areas: Vec<_> = chosen.iter().filter(|(_, a)| a.shape.is_area()).collect();
    if areas.len() < chosen.len() {
        eprintln!(
            "skipping {} point or line annotation(s): they enclose no region",
            chosen.len() - areas.len()
        );
    }
    // Every region is placed on the slide before anything is written: one wholly off it (a scale
    // mistake, say) refuses the export, naming it; one partly off it is cut to the slide.
    let dims = s.dimensions();
    let mut boxes = Vec::with_capacity(areas.len());
    for (i, a) in &areas {
        let describe = || {
            let mut d = format!("annotation {}", i + 1);
            if !a.name.is_empty() {
                d.push_str(&format!(" \"{}\"", a.name));
            }
            if !a.id.is_empty() {
                d.push_str(&format!(" (id {})", a.id));
            }
            d
        };
        let bbox = a.shape.bbox();
        match sentinel::region::placement(bbox, dims) {
            sentinel::region::Placement::Inside => boxes.push(bbox),
            sentinel::region::Placement::Clipped(cut) => {
                eprintln!(
                    "{} reaches beyond the {}x{} px slide: exported clipped to it",
                    describe(),
                    dims.0,
                    dims.1
                );
                boxes.push(cut);
            }
            sentinel::region::Placement::Outside => anyhow::bail!(
                "{}: {} lies wholly outside the {}x{} px slide (its box is {:.0},{:.0} to {:.0},{:.0}); \
                 are its coordinates for another level or scan?",
                args.annotations.display(),
                describe(),
                dims.0,
                dims.1,
                bbox[0],
                bbox[1],
                bbox[2],
                bbox[3]
            ),
        }
    }
    let cancel = std::sync::atomic::AtomicBool::new(false);
    // All or nothing: the regions are written into a staging folder and moved into place once
    // every one is written (an error on the k-th leaves nothing of the first k-1).
    let run = sentinel::export_names::ExportRun::start(&args.out)
        .with_context(|| args.out.display().to_string())?;
    let mut done_all = Vec::new();
    let mut staged = Vec::new();
    for ((i, a), bbox) in areas.into_iter().zip(boxes) {
        let req = RegionRequest {
            bbox,
            level,
            out: run.stage(&names.next(*i, a.class.as_deref(), &a.name)),
            mask: args.mask.then_some(&a.shape),
            overlay,
            png_max_pixels: sentinel::region::PNG_MAX_PIXELS,
        };
        let label = req
            .out
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let done = export_region(s.as_ref(), &req, &cancel, progress_printer("export"))
            .with_context(|| format!("exporting {label}"))?;
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
        staged.push(done.image.clone());
        staged.extend(done.mask.clone());
        done_all.push(done);
    }
    run.commit(&staged)
        .with_context(|| format!("moving the regions into {}", args.out.display()))?;
    let placed = |p: &std::path::Path| args.out.join(p.file_name().unwrap_or_default());
    for done in done_all {
        println!(
            "{}: {}x{} px at level {}{}{}",
            placed(&done.image).display(),
            done.width,
            done.height,
            done.level,
            done.mpp
                .map(|m| format!(" ({m:.3} µm/px)"))
                .unwrap_or_default(),
            done.mask
                .map(|m| format!(", mask {}", placed(&m).display()))
                .unwrap_or_default()
        );
    }
    Ok(())
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

fn bench_viewer(slide: Option<PathBuf>, window: [f32; 2], pan_seconds: f64) -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::AtomicI32;

    let slide = match slide {
        Some(s) => s,
        None => default_bench_slide()?,
    };
    let launch = sentinel::app::Launch {
        slide: Some(slide),
        goto: None,
        screenshot: None,
        budgets: sentinel::viewer::Budgets::default(),
        data_dir: std::env::temp_dir().join("sentinel-bench-data"),
        bench: Some(sentinel::bench::viewer::ViewerBenchSpec {
            pan_seconds,
            ..Default::default()
        }),
        heatmap: sentinel::app::LaunchHeatmap::Off,
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Sentinel benchmark")
            .with_inner_size(window),
        // Frame pacing must not hide the UI thread's own cost.
        wgpu_options: egui_wgpu::WgpuConfiguration {
            surface: egui_wgpu::SurfaceConfig {
                present_mode: egui_wgpu::wgpu::PresentMode::AutoNoVsync,
                ..egui_wgpu::SurfaceConfig::LOW_LATENCY
            },
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "Sentinel benchmark",
        options,
        Box::new(move |cc| {
            Ok(Box::new(sentinel::app::SentinelApp::new(
                cc,
                launch,
                Arc::new(AtomicI32::new(0)),
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

fn bench_analysis(spec: &bench::analysis::AnalysisBenchSpec, json: bool) -> anyhow::Result<()> {
    use bench::analysis::{DECODE, END_TO_END, MODEL, PYTHON};

    println!(
        "analysis of {} consecutive tissue tiles of {} ({} threads)",
        spec.tiles,
        spec.slide.display(),
        spec.threads
    );
    println!(
        "{:<22} {:>6} {:>7} {:>9} {:>9}",
        "pipeline", "batch", "tiles", "seconds", "tiles/s"
    );
    let report = bench::analysis::run(spec, |r| {
        println!(
            "{:<22} {:>6} {:>7} {:>9.2} {:>9.1}",
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
        "{:<26} {:>5} {:>7} {:>7} {:>9} {:>10} {:>8}",
        "reader", "level", "threads", "tiles", "seconds", "tiles/s", "MP/s"
    );
    let rows = bench::tiles::run(&spec, |r| {
        println!(
            "{:<26} {:>5} {:>7} {:>7} {:>9.3} {:>10.0} {:>8.1}",
            r.reader, r.level, r.threads, r.tiles, r.seconds, r.tiles_per_s, r.mp_per_s
        );
    })?;
    println!();
    for &level in &spec.levels {
        for &t in &spec.threads {
            let get = |name: &str| {
                rows.iter()
                    .find(|r| r.reader.starts_with(name) && r.level == level && r.threads == t)
                    .map(|r| r.tiles_per_s)
            };
            if let (Some(raw), Some(ours)) = (get("openslide (raw"), get("sentinel")) {
                let py = get("openslide-python")
                    .map(|p| format!(", {:.2}x openslide-python", ours / p))
                    .unwrap_or_default();
                println!(
                    "level {level}, {t} thread(s): sentinel = {:.1}% of raw OpenSlide{py}",
                    100.0 * ours / raw
                );
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

/// `sentinel doctor`: one line per check, the fix under each that needs one; an error (exit 1) if
/// anything fails.
fn doctor() -> anyhow::Result<()> {
    use sentinel::diagnose::Status;
    println!("{}", sentinel::diagnose::sentinel_version());
    let checks = sentinel::diagnose::doctor();
    for c in &checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Note => "note",
            Status::Fail => "FAIL",
        };
        println!("{mark} {}: {}", c.what, c.detail);
        if let Some(f) = &c.fix {
            println!("     -> {f}");
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}
