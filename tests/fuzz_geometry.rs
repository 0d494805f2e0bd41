//! Randomised tests of the geometry loops that export regions: outline burning, mask rows and the
//! placement of a region on the slide. Shapes mix coordinates on the image with hostile ones
//! (1e18, NaN, a million pixels away), the cases that once hung `export --overlay` for ever.
//! Asserted for every case: no panic, a bounded time, nothing drawn outside a shape's own reach,
//! masks equal to a plain even-odd point-in-polygon test, and placements inside the slide.
//!
//! Budget: `SENTINEL_FUZZ_CASES` cases per property (default 300). A long run:
//! `SENTINEL_FUZZ_CASES=200000 SENTINEL_FUZZ_SEED=$RANDOM cargo test --release --test fuzz_geometry`.

use std::time::{Duration, Instant};

use sentinel::annotate::{Point, Shape};
use sentinel::region::{Overlay, Placement, burn, mask_row, placement};

/// Far above what one case on a small image takes (microseconds): only a loop driven by the
/// coordinates rather than the image (the bug this guards against) gets near it.
const PER_CASE: Duration = Duration::from_secs(2);

/// Runs `f` on a thread and fails the test if it has not finished within [`PER_CASE`] (a hang
/// is a failure with the case named, not a test run that never ends).
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("fuzz-case".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn");
    match rx.recv_timeout(PER_CASE) {
        Ok(v) => v,
        Err(_) => panic!("{what}: not finished after {PER_CASE:?}"),
    }
}

fn cases() -> usize {
    std::env::var("SENTINEL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn rng() -> fastrand::Rng {
    let seed = std::env::var("SENTINEL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261129);
    println!("seed {seed}");
    fastrand::Rng::with_seed(seed)
}

/// A coordinate: mostly near the image (0..span), sometimes hostile.
fn coordinate(rng: &mut fastrand::Rng, span: f64) -> f64 {
    match rng.u8(0..20) {
        0 => 1e18,
        1 => -1e18,
        2 => 1e6 * if rng.bool() { 1.0 } else { -1.0 },
        3 => f64::NAN,
        _ => rng.f64() * span * 1.4 - span * 0.2,
    }
}

fn point(rng: &mut fastrand::Rng, span: f64) -> Point {
    [coordinate(rng, span), coordinate(rng, span)]
}

fn shape(rng: &mut fastrand::Rng, span: f64) -> Shape {
    let n = rng.usize(1..12);
    match rng.u8(0..5) {
        0 => Shape::rectangle(point(rng, span), point(rng, span)),
        1 => Shape::Ellipse {
            centre: point(rng, span),
            radii: [coordinate(rng, span).abs(), coordinate(rng, span).abs()],
        },
        2 => Shape::Area {
            polygons: vec![vec![(0..n + 2).map(|_| point(rng, span)).collect()]],
        },
        3 => Shape::Points {
            points: (0..n).map(|_| point(rng, span)).collect(),
        },
        _ => Shape::Line {
            points: (0..n + 1).map(|_| point(rng, span)).collect(),
        },
    }
}

/// Burning any shape into a small image takes bounded time, and a shape whose box lies more than
/// the outline's width off the image leaves every pixel alone.
#[test]
fn burning_outlines_is_bounded_by_the_image_whatever_the_coordinates() {
    let mut rng = rng();
    let started = Instant::now();
    for case in 0..cases() {
        let (w, h) = (rng.u32(1..80), rng.u32(1..80));
        let ds = [0.25, 1.0, 4.0, 32.0][rng.usize(0..4)];
        let origin = [rng.f64() * 200.0, rng.f64() * 200.0];
        let span = 200.0 + f64::from(w.max(h)) * ds;
        let s = shape(&mut rng, span);
        let outlines = [(s.clone(), [255, 0, 0])];
        let rgb = bounded(&format!("case {case}: burning {s:?}"), move || {
            let overlay = Overlay {
                outlines: &outlines,
                heatmap: None,
            };
            let mut rgb = vec![0u8; (w * h * 3) as usize];
            burn(&mut rgb, w, h, origin, ds, &overlay);
            rgb
        });
        let b = s.bbox();
        let px = |v: f64, o: f64| (v - o) / ds;
        let off = px(b[2], origin[0]) < -3.0
            || px(b[3], origin[1]) < -3.0
            || px(b[0], origin[0]) > f64::from(w) + 3.0
            || px(b[1], origin[1]) > f64::from(h) + 3.0;
        if off {
            assert!(
                rgb.iter().all(|v| *v == 0),
                "case {case}: {s:?} lies off the {w}x{h} image and still drew on it"
            );
        }
        // A point well inside the image is always marked.
        if let Shape::Points { points } = &s {
            for p in points {
                let (x, y) = (px(p[0], origin[0]), px(p[1], origin[1]));
                if x >= 1.0 && y >= 1.0 && x < f64::from(w) - 1.0 && y < f64::from(h) - 1.0 {
                    let i = (y as usize * w as usize + x as usize) * 3;
                    assert_eq!(rgb[i], 255, "case {case}: point {p:?} not drawn");
                }
            }
        }
    }
    println!("{} burn cases in {:?}", cases(), started.elapsed());
}

/// Even-odd point in polygon by ray casting, the textbook way.
fn inside(rings: &[Vec<Point>], p: Point) -> bool {
    let mut odd = false;
    for r in rings {
        for i in 0..r.len() {
            let (a, b) = (r[i], r[(i + 1) % r.len()]);
            if (a[1] > p[1]) != (b[1] > p[1]) {
                let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
                if p[0] < x {
                    odd = !odd;
                }
            }
        }
    }
    odd
}

/// Mask rows agree with a plain point-in-polygon test at every pixel centre (rings with holes
/// and self-intersections included), and rows of rings reaching 1e18 take bounded time.
#[test]
fn mask_rows_match_point_in_polygon_and_stay_bounded() {
    let mut rng = rng();
    let started = Instant::now();
    let mut checked = 0usize;
    for case in 0..cases() {
        let w = rng.usize(1..120);
        let ds = [0.5, 1.0, 3.0][rng.usize(0..3)];
        let span = w as f64 * ds;
        let hostile = rng.u8(0..4) == 0;
        let rings: Vec<Vec<Point>> = (0..rng.usize(1..4))
            .map(|_| {
                (0..rng.usize(3..10))
                    .map(|_| {
                        if hostile {
                            point(&mut rng, span)
                        } else {
                            [rng.f64() * span, rng.f64() * span]
                        }
                    })
                    .collect()
            })
            .collect();
        for k in 0..8 {
            let y = (k as f64 + rng.f64()) * span / 8.0;
            let r = rings.clone();
            let row = bounded(&format!("case {case}: mask row of {rings:?}"), move || {
                let mut row = vec![7u8; w];
                mask_row(&r, 0.0, y, ds, &mut row);
                row
            });
            assert!(row.iter().all(|v| *v == 0 || *v == 255), "case {case}");
            if hostile {
                continue;
            }
            for (i, v) in row.iter().enumerate() {
                let centre = [(i as f64 + 0.5) * ds, y];
                assert_eq!(
                    *v == 255,
                    inside(&rings, centre),
                    "case {case}: pixel {i} of row y={y}, rings {rings:?}"
                );
                checked += 1;
            }
        }
    }
    println!(
        "{} mask cases, {checked} pixels checked, in {:?}",
        cases(),
        started.elapsed()
    );
}

/// A region's placement is inside the slide or refused: never a box beyond it, never empty.
#[test]
fn placements_stay_on_the_slide() {
    let mut rng = rng();
    for case in 0..cases() * 10 {
        let dims = (rng.u64(1..100_000), rng.u64(1..100_000));
        let span = dims.0.max(dims.1) as f64;
        let (a, b) = (point(&mut rng, span), point(&mut rng, span));
        let bbox = [
            a[0].min(b[0]),
            a[1].min(b[1]),
            a[0].max(b[0]),
            a[1].max(b[1]),
        ];
        let (w, h) = (dims.0 as f64, dims.1 as f64);
        let within = |c: [f64; 4]| {
            c.iter().all(|v| v.is_finite())
                && c[0] >= 0.0
                && c[1] >= 0.0
                && c[2] <= w
                && c[3] <= h
                && c[2] > c[0]
                && c[3] > c[1]
        };
        match placement(bbox, dims) {
            Placement::Inside => assert!(within(bbox), "case {case}: {bbox:?} in {dims:?}"),
            Placement::Clipped(cut) => {
                assert!(
                    within(cut),
                    "case {case}: {bbox:?} cut to {cut:?} in {dims:?}"
                );
                assert!(!within(bbox), "case {case}: {bbox:?} was inside");
            }
            Placement::Outside => assert!(
                !bbox.iter().all(|v| v.is_finite())
                    || bbox[2] <= 0.0
                    || bbox[3] <= 0.0
                    || bbox[0] >= w
                    || bbox[1] >= h
                    || bbox[2] <= bbox[0]
                    || bbox[3] <= bbox[1],
                "case {case}: {bbox:?} overlaps the {dims:?} slide and was refused"
            ),
        }
    }
}
