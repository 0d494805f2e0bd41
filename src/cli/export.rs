//! `sentinel export`: annotation regions as images, all or nothing.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;

use sentinel::slide;

use super::progress_printer;

#[derive(clap::Args)]
pub struct ExportArgs {
    pub slide: PathBuf,
    #[arg(long)]
    pub annotations: PathBuf,
    /// Only annotations of this class.
    #[arg(long)]
    pub class: Option<String>,
    /// Pyramid level to export at (default 0).
    #[arg(long, conflicts_with = "mpp")]
    pub level: Option<usize>,
    /// Resolution in µm per pixel: the coarsest level at least this fine.
    #[arg(long)]
    pub mpp: Option<f64>,
    #[arg(long)]
    pub out: PathBuf,
    /// Also write each shape's binary mask (`*-mask.png`).
    #[arg(long)]
    pub mask: bool,
    /// Burn in every annotation's outline (and the heatmap given with --heatmap).
    #[arg(long)]
    pub overlay: bool,
    /// With --overlay: a stored analysis of this slide (`*.heatmap.json`).
    #[arg(long, requires = "overlay")]
    pub heatmap: Option<PathBuf>,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    use sentinel::region::{Overlay, RegionRequest, export_region};

    let s = slide::open(&args.slide)?;
    let placement = sentinel::annotate::Placement::new(s.dimensions(), s.mpp(), s.properties());
    // Each region is placed on the slide (and refused when off it) by the exporter below.
    let imported = sentinel::annotate::import_file_placed(&args.annotations, Some(&placement))?;
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
