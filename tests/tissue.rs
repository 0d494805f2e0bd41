//! The tissue mask and model-tile grid against a synthetic slide whose tissue is known exactly.

mod common;

use sentinel::analysis::tissue::{TissueMask, plan_grid};
use sentinel::slide::{OpenSlideSource, SlideSource, read_overview};

#[test]
fn mask_matches_the_generated_tissue_and_the_grid_covers_the_tumours() {
    let f = common::svs();
    let slide = OpenSlideSource::open(&f.path).expect("open");
    let overview = read_overview(&slide, 512).expect("overview");
    let (w, _) = slide.dimensions();
    let ds = w as f64 / f64::from(overview.width);
    let mpp = slide.mpp().map(|m| m.0);
    let mask = TissueMask::from_image(&overview, ds, mpp, 20_000.0);
    let scene = &f.report.scene;

    let (mut agree, mut total, mut truth_tissue) = (0usize, 0usize, 0usize);
    for my in 0..mask.height {
        for mx in 0..mask.width {
            let (x, y) = ((f64::from(mx) + 0.5) * ds, (f64::from(my) + 0.5) * ds);
            let truth = scene.is_tissue(x, y);
            truth_tissue += usize::from(truth);
            agree += usize::from(truth == mask.at(x, y));
            total += 1;
        }
    }
    let agreement = agree as f64 / total as f64;
    assert!(truth_tissue > total / 10, "the fixture has tissue");
    assert!(
        agreement > 0.97,
        "mask agrees with the generated tissue on {:.1}% of pixels",
        agreement * 100.0
    );

    // A 224 px model tile at 0.5 µm/px is 448 level-0 pixels at 0.25 µm/px.
    let tile = 448.0;
    let grid = plan_grid(&mask, slide.dimensions(), tile, 0.1);
    assert!(!grid.is_empty());
    for t in &scene.tumours {
        let (col, row) = ((t.cx / tile) as u32, (t.cy / tile) as u32);
        assert!(
            grid.iter().any(|g| g.col == col && g.row == row),
            "tumour centre tile ({col},{row}) not planned"
        );
    }
    for g in &grid {
        assert!(mask.fraction(g.x, g.y, g.x + g.size, g.y + g.size) >= 0.1);
    }
    // Glass-only tiles are skipped: the grid is much smaller than the slide's full grid.
    let all = (4096.0f64 / tile).ceil() * (3072.0f64 / tile).ceil();
    assert!(
        (grid.len() as f64) < all * 0.8,
        "{} of {all} tiles planned",
        grid.len()
    );
}
