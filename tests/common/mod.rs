#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sentinel::synth::{SynthFormat, SynthReport, SynthSpec, write_slide};

/// A synthetic slide written once per test binary under Cargo's per-target temp dir.
pub struct Fixture {
    pub path: PathBuf,
    pub spec: SynthSpec,
    pub report: SynthReport,
}

pub fn make(name: &str, spec: SynthSpec) -> Fixture {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("fixture dir");
    let path = dir.join(name);
    let report = write_slide(&spec, &path, |_| {}).expect("write synthetic slide");
    Fixture { path, spec, report }
}

/// 4096 x 3072 SVS at 0.25 µm/px: three levels (4096, 1024, 256 px wide).
pub fn svs() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut spec = SynthSpec::new(4096, 3072, SynthFormat::Svs);
        spec.seed = 7;
        make("svs-4096x3072.svs", spec)
    })
}

/// 3000 x 2000 generic tiled TIFF at 0.5 µm/px (sizes not multiples of the tile size).
pub fn tiff() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut spec = SynthSpec::new(3000, 2000, SynthFormat::Tiff);
        spec.seed = 11;
        spec.mpp = 0.5;
        make("tiff-3000x2000.tiff", spec)
    })
}

/// PSNR in dB between an RGBA image and packed RGB of the same size (alpha ignored).
pub fn psnr_rgba_rgb(rgba: &[u8], rgb: &[u8]) -> f64 {
    assert_eq!(rgba.len() / 4, rgb.len() / 3, "image sizes differ");
    let mut se = 0.0f64;
    for (a, b) in rgba.chunks_exact(4).zip(rgb.chunks_exact(3)) {
        for c in 0..3 {
            let d = f64::from(a[c]) - f64::from(b[c]);
            se += d * d;
        }
    }
    let mse = se / (rgb.len() as f64);
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// The shared test data folder (`../shared/data`); a test that needs it panics where it is absent.
pub fn shared_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    // A test that needs the real slides fails without them rather than passing unseen.
    assert!(
        dir.is_dir(),
        "{} is absent: the real test slides live there (see the README's Testing section)",
        dir.display()
    );
    dir
}

/// The app on `slide` with its data in `data_dir`, in a `size` window, every side panel hidden
/// (tests open the ones they need).
pub fn app_harness(
    slide: &Path,
    data_dir: &Path,
    size: egui::Vec2,
) -> egui_kittest::Harness<'static, sentinel::app::SentinelApp> {
    let launch = sentinel::app::Launch {
        slide: Some(slide.to_path_buf()),
        goto: None,
        screenshot: None,
        budgets: sentinel::viewer::Budgets::default(),
        data_dir: data_dir.to_path_buf(),
        bench: None,
        heatmap: sentinel::app::LaunchHeatmap::Off,
        compare: None,
        annotations: None,
        layer: Default::default(),
    };
    let mut h = egui_kittest::Harness::builder()
        .with_size(size)
        .wgpu()
        .build_eframe(move |cc| {
            sentinel::app::SentinelApp::new(
                cc,
                launch,
                std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0)),
            )
        });
    h.state_mut().set_analysis_panel(false);
    h.state_mut().set_annotation_panel(false);
    h.state_mut().set_review_panel(false);
    h.step();
    h
}

/// A primary-button click at `at` (press, release), then a frame more: two clicks are never a
/// double-click.
pub fn click(h: &mut egui_kittest::Harness<'static, sentinel::app::SentinelApp>, at: egui::Pos2) {
    h.hover_at(at);
    h.step();
    h.drag_at(at);
    h.step();
    h.event(egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.step();
    h.step();
}

/// A primary-button drag from `from` to `to` in four moves.
pub fn drag(
    h: &mut egui_kittest::Harness<'static, sentinel::app::SentinelApp>,
    from: egui::Pos2,
    to: egui::Pos2,
) {
    h.hover_at(from);
    h.step();
    h.drag_at(from);
    h.step();
    for i in 1..=4 {
        h.hover_at(from + (to - from) * (i as f32 / 4.0));
        h.step();
    }
    h.drop_at(to);
    h.step();
    h.step();
}

/// Steps frames until `done` holds (work arrives from other threads in real time), then one more;
/// after 60 s it fails, naming what it waited for and any error the panels show.
pub fn run_until(
    h: &mut egui_kittest::Harness<'static, sentinel::app::SentinelApp>,
    what: &str,
    done: impl Fn(&sentinel::app::SentinelApp) -> bool,
) {
    let start = std::time::Instant::now();
    while !done(h.state()) {
        h.step();
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for {what} (review: {:?}, annotations: {:?}; {} read(s), saved {})",
            h.state().review().error(),
            h.state().annotations().error(),
            h.state().review().reads().len(),
            h.state().review().all_saved()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    h.step();
}

/// ROC AUC of (score, positive) pairs: P(a positive outscores a negative), ties counting half
/// (the app's own `review::agreement::roc_auc`).
pub fn auc(scores: &[(f32, bool)]) -> f64 {
    let wide: Vec<(f64, bool)> = scores.iter().map(|&(s, p)| (f64::from(s), p)).collect();
    sentinel::review::agreement::roc_auc(&wide)
        .expect("positives and negatives")
        .value
}

/// The bundled model, found as an installed or checkout build finds it.
pub fn bundled_model_dir() -> PathBuf {
    sentinel::paths::model_dir().expect("the bundled model")
}

/// The whole tissue of `slide` analysed with `model` and default parameters (batches of 16, two
/// readers, no focus, never cancelled), the result stored in `out`.
pub fn analyze_all(
    slide: &dyn sentinel::slide::SlideSource,
    model: &mut sentinel::analysis::model::Model,
    out: &Path,
) -> Result<
    (
        sentinel::analysis::pipeline::SlideReport,
        sentinel::analysis::result::AnalysisResult,
    ),
    sentinel::analysis::runner::AnalysisError,
> {
    sentinel::analysis::pipeline::analyze_slide(
        slide,
        model,
        out,
        sentinel::analysis::pipeline::Params::default(),
        sentinel::analysis::runner::RunOptions {
            batch: 16,
            reader_threads: 2,
        },
        None,
        &std::sync::atomic::AtomicBool::new(false),
        |_| {},
    )
}

/// The names of the files in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Builds the test models once per test binary (with the project venv that ./setup makes).
pub fn test_models() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".deps/venv/bin/python");
        assert!(
            python.is_file(),
            "{} is absent: run ./setup",
            python.display()
        );
        let out =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("models-{}", std::process::id()));
        let st = std::process::Command::new(&python)
            .arg(root.join("models/build/make_test_models.py"))
            .arg(&out)
            .status()
            .expect("run make_test_models.py");
        assert!(st.success(), "make_test_models.py failed");
        out
    })
}
