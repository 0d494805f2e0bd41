//! The viewer's launch: `sentinel [SLIDE] [--at X,Y --mag M --screenshot PNG ...]`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::parse_size;

#[derive(clap::Args)]
pub struct GuiArgs {
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
    /// Import another tool's heatmap over the slide (an ASAP likelihood map TIFF or a DSA
    /// griddata JSON), to compare with Sentinel's.
    #[arg(long, value_name = "FILE")]
    compare: Option<PathBuf>,
    /// Import these annotations (QuPath GeoJSON, ASAP or ImageScope XML, NDP.view NDPA) once the
    /// slide opens; they are saved with the slide's own.
    #[arg(long, value_name = "FILE")]
    annotations: Option<PathBuf>,
    /// Which map the overlay shows at launch.
    #[arg(long, value_enum, default_value_t = sentinel::ui::heatmap_compare::Layer::Sentinel)]
    layer: sentinel::ui::heatmap_compare::Layer,
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

pub fn run(args: GuiArgs) -> anyhow::Result<ExitCode> {
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
        compare: args.compare,
        annotations: args.annotations,
        layer: args.layer,
        heatmap: if args.analyze {
            sentinel::app::LaunchHeatmap::Analyze
        } else if args.heatmap {
            sentinel::app::LaunchHeatmap::Stored
        } else {
            sentinel::app::LaunchHeatmap::Off
        },
    };
    open_window(launch, args.window, Window::Viewer)
}

/// The window the app runs in.
#[derive(Clone, Copy, PartialEq)]
pub enum Window {
    /// The user's viewer: files can be dropped on it.
    Viewer,
    /// `bench viewer`: no vsync, so frame pacing does not hide the UI thread's own cost.
    Benchmark,
}

/// Opens the app's window on `launch` and runs it until it closes; the exit code is the app's
/// (a scripted screenshot that failed, say).
pub fn open_window(
    launch: sentinel::app::Launch,
    size: [f32; 2],
    window: Window,
) -> anyhow::Result<ExitCode> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI32, Ordering};

    let title = match window {
        Window::Viewer => "Sentinel",
        Window::Benchmark => "Sentinel benchmark",
    };
    let mut options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size(size)
            .with_drag_and_drop(window == Window::Viewer),
        ..Default::default()
    };
    if window == Window::Benchmark {
        options.wgpu_options = egui_wgpu::WgpuConfiguration {
            surface: egui_wgpu::SurfaceConfig {
                present_mode: egui_wgpu::wgpu::PresentMode::AutoNoVsync,
                ..egui_wgpu::SurfaceConfig::LOW_LATENCY
            },
            ..Default::default()
        };
    }
    let exit = Arc::new(AtomicI32::new(0));
    let app_exit = Arc::clone(&exit);
    eframe::run_native(
        title,
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
