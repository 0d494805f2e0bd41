//! Reading behaviour as data: each read's view track as CSV (time, centre, magnification, visible
//! rectangle), and where a reader dwelt at high power as a grid the risk map's shader can draw.
//! Pure.

use std::fmt::Write as _;

use super::coverage::CLOSE_LOOK_MAG;
use super::session::{Read, Session, ViewSample, latest};
use crate::analysis::heatmap::Heatmap;

/// One line per view of every latest submitted read: when it began (seconds since the case
/// opened), how long it lasted, its centre and magnification and the level-0 rectangle on screen.
pub fn view_track_csv(session: &Session, reads: &[Read]) -> String {
    let mut out = String::from(
        "session,case,reader,arm,version,t_s,seconds,centre_x,centre_y,magnification,x0,y0,x1,y1\n",
    );
    for r in latest(reads).into_iter().filter(|r| r.submitted) {
        for v in &r.view_track {
            let [x0, y0, x1, y1] = v.rect;
            let _ = writeln!(
                out,
                "{},{},{},{},{},{:.3},{:.3},{:.1},{:.1},{:.2},{:.1},{:.1},{:.1},{:.1}",
                super::report::csv_field(&session.id),
                super::report::csv_field(&r.case_id),
                super::report::csv_field(&r.reader_id),
                r.arm.label(),
                r.version,
                v.t,
                v.seconds,
                (x0 + x1) / 2.0,
                (y0 + y1) / 2.0,
                v.magnification,
                x0,
                y0,
                x1,
                y1
            );
        }
    }
    out
}

/// Seconds spent with each cell's centre on screen at `CLOSE_LOOK_MAG` or more, on a grid of
/// `cell` level-0 px over a slide of `dims`, scaled so the longest dwell is 1 (cells never
/// looked at closely are left empty, so the overlay shows only where the reader looked).
/// Returns the grid and the longest dwell in seconds.
pub fn dwell(dims: (u64, u64), cell: f64, track: &[ViewSample]) -> (Heatmap, f64) {
    let mut h = Heatmap::new(dims, cell);
    let mut seconds = vec![0.0f64; h.values.len()];
    for v in track.iter().filter(|v| v.magnification >= CLOSE_LOOK_MAG) {
        // Cells whose centre (c + 0.5) * cell lies in [x0, x1).
        let first = |lo: f64| ((lo / cell) - 0.5).ceil().max(0.0) as u32;
        let end = |hi: f64, n: u32| (((hi / cell) - 0.5).ceil().max(0.0) as u32).min(n);
        for r in first(v.rect[1])..end(v.rect[3], h.rows) {
            for c in first(v.rect[0])..end(v.rect[2], h.cols) {
                seconds[(r * h.cols + c) as usize] += v.seconds.max(0.0);
            }
        }
    }
    let longest = seconds.iter().copied().fold(0.0, f64::max);
    if longest > 0.0 {
        for (v, s) in h.values.iter_mut().zip(&seconds) {
            *v = (*s > 0.0).then(|| (s / longest) as f32);
        }
    }
    (h, longest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::session::{Arm, Assessment, Category};

    fn view(t: f64, seconds: f64, rect: [f64; 4], magnification: f64) -> ViewSample {
        ViewSample {
            t,
            seconds,
            rect,
            magnification,
        }
    }

    #[test]
    fn dwell_counts_seconds_at_high_power_under_each_cell_centre() {
        let track = [
            view(0.0, 5.0, [0.0, 0.0, 1000.0, 1000.0], 2.0), // low power: ignored
            view(5.0, 3.0, [0.0, 0.0, 250.0, 250.0], 20.0),  // cells (0..2, 0..2)
            view(8.0, 1.0, [100.0, 100.0, 400.0, 200.0], 10.0), // cells (1..3, 1)
        ];
        let (h, longest) = dwell((1000, 1000), 100.0, &track);
        assert_eq!(longest, 4.0);
        assert_eq!(h.get(1, 1), Some(1.0), "3 s + 1 s");
        assert_eq!(h.get(0, 0), Some(0.75));
        assert_eq!(h.get(3, 1), Some(0.25));
        assert_eq!(h.get(5, 5), None, "seen only at 2x");
        let (none, zero) = dwell((1000, 1000), 100.0, &track[..1]);
        assert_eq!((none.values.iter().flatten().count(), zero), (0, 0.0));
    }

    #[test]
    fn view_tracks_export_one_line_per_view_of_submitted_reads() {
        let session = crate::review::session::new_session(
            "s",
            "Ann:both",
            &[("/s/a.svs".into(), "k".into())],
            1,
            Default::default(),
        )
        .expect("session");
        let mut r = Read::new("case-001", "reader-1", Arm::Assisted);
        r.view_track = vec![
            view(0.0, 2.5, [0.0, 0.0, 4000.0, 3000.0], 1.25),
            view(2.5, 4.0, [1000.0, 1000.0, 1200.0, 1100.0], 20.0),
        ];
        r.answer(Assessment {
            category: Category::NONE,
            largest_mm: None,
            confidence: 3,
            notes: String::new(),
            answers: Default::default(),
        })
        .expect("answer");
        let open = r.clone();
        r.submit().expect("submit");
        let csv = view_track_csv(&session, &[r]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(
            lines[2].ends_with(",case-001,reader-1,AI-assisted,1,2.500,4.000,1100.0,1050.0,20.00,1000.0,1000.0,1200.0,1100.0"),
            "{}",
            lines[2]
        );
        assert_eq!(
            view_track_csv(&session, &[open]).lines().count(),
            1,
            "not submitted"
        );
    }
}
