//! Linked views: two panes that pan and zoom together. They stay on the same place of the tissue
//! at the same scale, measured in micrometres (so two slides of one case scanned at different
//! resolutions still line up), plus an offset the user sets by moving one pane while unlinked
//! (serial sections are never cut at the same spot of the glass).

use super::Viewport;

/// Micrometres per level-0 pixel of each of two slides, as a link uses them: both real where both
/// slides say, else one pixel counts as one unit on both sides (no mixing of µm and pixels).
pub fn link_scales(a: Option<(f64, f64)>, b: Option<(f64, f64)>) -> ([f64; 2], [f64; 2]) {
    let ok = |m: (f64, f64)| m.0.is_finite() && m.1.is_finite() && m.0 > 0.0 && m.1 > 0.0;
    match (a, b) {
        (Some(a), Some(b)) if ok(a) && ok(b) => ([a.0, a.1], [b.0, b.1]),
        _ => ([1.0, 1.0], [1.0, 1.0]),
    }
}

/// Where `follower` goes when `driver` leads: centre and zoom (screen points per level-0 pixel
/// of the follower's slide). `offset` is the follower's centre minus the driver's, in µm.
pub fn follow(
    driver: &Viewport,
    driver_mpp: [f64; 2],
    follower_mpp: [f64; 2],
    offset: [f64; 2],
) -> ([f64; 2], f64) {
    let centre = [
        (driver.centre[0] * driver_mpp[0] + offset[0]) / follower_mpp[0],
        (driver.centre[1] * driver_mpp[1] + offset[1]) / follower_mpp[1],
    ];
    // The same µm per screen point on both sides.
    let zoom = driver.zoom * follower_mpp[0] / driver_mpp[0];
    (centre, zoom)
}

/// The offset (µm) that keeps `b` where it is relative to `a`: linking two panes keeps what each
/// shows, and from then on they move together.
pub fn offset_between(a: &Viewport, a_mpp: [f64; 2], b: &Viewport, b_mpp: [f64; 2]) -> [f64; 2] {
    [
        b.centre[0] * b_mpp[0] - a.centre[0] * a_mpp[0],
        b.centre[1] * b_mpp[1] - a.centre[1] * a_mpp[1],
    ]
}

/// Whether a view moved (centre or zoom) between two frames.
pub fn moved(before: &Viewport, after: &Viewport) -> bool {
    before.centre != after.centre || before.zoom != after.zoom
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(centre: [f64; 2], zoom: f64) -> Viewport {
        Viewport {
            centre,
            zoom,
            size: [800.0, 600.0],
            pixels_per_point: 1.0,
        }
    }

    #[test]
    fn the_same_slide_follows_exactly() {
        let (a, b) = link_scales(Some((0.25, 0.25)), Some((0.25, 0.25)));
        let (c, z) = follow(&view([1000.0, 2000.0], 0.5), a, b, [0.0, 0.0]);
        assert_eq!((c, z), ([1000.0, 2000.0], 0.5));
    }

    #[test]
    fn slides_at_other_resolutions_show_the_same_micrometres() {
        // A 40x (0.25 µm/px) H&E and a 20x (0.5 µm/px) IHC of one block.
        let (he, ihc) = link_scales(Some((0.25, 0.25)), Some((0.5, 0.5)));
        let lead = view([4000.0, 8000.0], 1.0);
        let (c, z) = follow(&lead, he, ihc, [0.0, 0.0]);
        assert_eq!(c, [2000.0, 4000.0], "1 mm, 2 mm on both");
        assert_eq!(z, 2.0, "one screen point is 0.25 µm on both");
        // And back: the round trip is the identity.
        let (back, bz) = follow(&view(c, z), ihc, he, [0.0, 0.0]);
        assert_eq!((back, bz), (lead.centre, lead.zoom));
    }

    #[test]
    fn an_offset_set_while_unlinked_is_kept() {
        let (a, b) = link_scales(Some((0.5, 0.5)), Some((0.5, 0.5)));
        let left = view([100.0, 100.0], 1.0);
        let right = view([300.0, 50.0], 1.0);
        let off = offset_between(&left, a, &right, b);
        assert_eq!(off, [100.0, -25.0]);
        let (c, _) = follow(&left, a, b, off);
        assert_eq!(c, right.centre, "linking does not move either pane");
        let (c, _) = follow(&view([200.0, 100.0], 1.0), a, b, off);
        assert_eq!(c, [400.0, 50.0], "then they pan together");
        // Driven the other way: the negated offset.
        let neg = [-off[0], -off[1]];
        let (c, _) = follow(&right, b, a, neg);
        assert_eq!(c, left.centre);
    }

    #[test]
    fn without_both_resolutions_pixels_link_pixels() {
        assert_eq!(link_scales(Some((0.25, 0.25)), None), ([1.0; 2], [1.0; 2]));
        assert_eq!(
            link_scales(Some((0.0, 0.25)), Some((0.5, 0.5))),
            ([1.0; 2], [1.0; 2])
        );
        assert!(moved(&view([0.0, 0.0], 1.0), &view([0.0, 0.0], 1.5)));
        assert!(!moved(&view([1.0, 2.0], 1.0), &view([1.0, 2.0], 1.0)));
    }
}
