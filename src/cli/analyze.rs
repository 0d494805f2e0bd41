//! `sentinel analyze`: the model over each slide's tissue, heatmaps stored and summarised.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;

use sentinel::analysis::model::Device;
use sentinel::slide;

#[derive(clap::Args)]
pub struct AnalyzeArgs {
    #[arg(required = true)]
    pub slides: Vec<PathBuf>,
    /// Model directory: model.onnx + model.json, or a WSInfer folder (model.onnx + config.json)
    /// as it is; default: the bundled model.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The class whose probability is the risk, for a WSInfer folder (which names none); else
    /// its sentinel-risk-class.json.
    #[arg(long, value_name = "NAME")]
    pub risk_class: Option<String>,
    /// Where heatmaps are stored (default: the data directory's analyses folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where inference runs: auto tries TensorRT, then CUDA, then the CPU.
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    pub device: Device,
    /// On the CPU, run the model's full-precision file even where it ships a faster variant.
    #[arg(long)]
    pub full_precision: bool,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Risk at or above which a tile counts as positive (areas, hot-spots); default: the
    /// model's measured operating point (its model.json `threshold`), else 0.5.
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Microns per pixel of level 0, for slides that record none (or a wrong value).
    #[arg(long)]
    pub mpp: Option<f64>,
    /// One JSON object per slide on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write the heatmap as these formats beside the sidecar.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub export: Vec<sentinel::analysis::pipeline::ExportFormat>,
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    use sentinel::analysis::{
        model::{LoadOptions, Model},
        pipeline,
        runner::RunOptions,
    };

    let AnalyzeArgs {
        slides,
        model: model_dir,
        risk_class,
        out,
        device,
        full_precision,
        batch,
        threshold,
        mpp,
        json,
        export,
    } = args;
    let export = &export[..];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model_dir = match model_dir {
        Some(d) => d,
        None => sentinel::paths::model_dir()?,
    };
    let mut model = Model::load_with(
        &model_dir,
        risk_class.as_deref(),
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
