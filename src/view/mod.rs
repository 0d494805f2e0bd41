//! Viewport math: slide <-> screen transforms, zoom, level choice and magnification.
//! Pure: no egui, no I/O. Slide coordinates are level-0 pixels in f64; screen coordinates are
//! points relative to the view's top-left corner.

mod animation;
pub mod link;
pub use animation::Animation;

/// Zooming in beyond level 0 stops at this many screen pixels per slide pixel.
pub const MAX_PIXEL_MAGNIFICATION: f64 = 2.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    /// Slide point (level-0 px) at the centre of the view.
    pub centre: [f64; 2],
    /// Screen points per level-0 pixel.
    pub zoom: f64,
    /// View size in points.
    pub size: [f64; 2],
    /// Physical pixels per point (display scaling).
    pub pixels_per_point: f64,
}

/// An axis-aligned rectangle [x0, x1) x [y0, y1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    pub fn width(&self) -> f64 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> f64 {
        self.y1 - self.y0
    }
    pub fn centre(&self) -> [f64; 2] {
        [(self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0]
    }
}

impl Viewport {
    /// A view of `size` points showing the whole slide of `slide_size` level-0 pixels.
    pub fn fit(slide_size: (u64, u64), size: [f64; 2], pixels_per_point: f64) -> Self {
        let mut v = Self {
            centre: [slide_size.0 as f64 / 2.0, slide_size.1 as f64 / 2.0],
            zoom: 1.0,
            size,
            pixels_per_point,
        };
        v.zoom = v.fit_zoom(slide_size);
        v
    }

    /// The zoom at which the whole slide fits the view with a small margin.
    pub fn fit_zoom(&self, slide_size: (u64, u64)) -> f64 {
        let (w, h) = (slide_size.0.max(1) as f64, slide_size.1.max(1) as f64);
        0.95 * (self.size[0] / w).min(self.size[1] / h)
    }

    /// Screen pixels per level-0 pixel.
    pub fn zoom_px(&self) -> f64 {
        self.zoom * self.pixels_per_point
    }

    pub fn screen_from_slide(&self, p: [f64; 2]) -> [f64; 2] {
        [
            (p[0] - self.centre[0]) * self.zoom + self.size[0] / 2.0,
            (p[1] - self.centre[1]) * self.zoom + self.size[1] / 2.0,
        ]
    }

    pub fn slide_from_screen(&self, s: [f64; 2]) -> [f64; 2] {
        [
            (s[0] - self.size[0] / 2.0) / self.zoom + self.centre[0],
            (s[1] - self.size[1] / 2.0) / self.zoom + self.centre[1],
        ]
    }

    /// The slide area (level-0 px) the view shows.
    pub fn visible(&self) -> Rect {
        let a = self.slide_from_screen([0.0, 0.0]);
        let b = self.slide_from_screen(self.size);
        Rect {
            x0: a[0],
            y0: a[1],
            x1: b[0],
            y1: b[1],
        }
    }

    /// Moves the view by a screen-space drag of `delta` points (content follows the pointer).
    pub fn pan_screen(&mut self, delta: [f64; 2]) {
        self.centre[0] -= delta[0] / self.zoom;
        self.centre[1] -= delta[1] / self.zoom;
    }

    /// Multiplies the zoom by `factor`, keeping the slide point under `anchor` (screen) fixed.
    pub fn zoom_around(&mut self, anchor: [f64; 2], factor: f64, limits: ZoomLimits) {
        let before = self.slide_from_screen(anchor);
        self.zoom = limits.clamp(self.zoom * factor);
        let after = self.slide_from_screen(anchor);
        self.centre[0] += before[0] - after[0];
        self.centre[1] += before[1] - after[1];
    }

    /// Keeps part of the slide in view (at least a tenth of the view overlaps it) so the user
    /// cannot lose it, while still letting a small slide sit anywhere on screen.
    pub fn clamp_centre(&mut self, slide_size: (u64, u64)) {
        self.centre = self.clamped_centre(self.centre, slide_size);
    }

    /// `centre` limited as [`Self::clamp_centre`] does, at this view's zoom.
    pub fn clamped_centre(&self, centre: [f64; 2], slide_size: (u64, u64)) -> [f64; 2] {
        let half = [
            self.size[0] / 2.0 / self.zoom,
            self.size[1] / 2.0 / self.zoom,
        ];
        let dims = [slide_size.0 as f64, slide_size.1 as f64];
        let mut out = centre;
        for i in 0..2 {
            out[i] = out[i].clamp(-half[i] * 0.9, dims[i] + half[i] * 0.9);
        }
        out
    }
}

/// The zoom range for a slide: from a quarter of "fit" to [`MAX_PIXEL_MAGNIFICATION`] screen
/// pixels per slide pixel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoomLimits {
    pub min: f64,
    pub max: f64,
}

impl ZoomLimits {
    pub fn for_view(view: &Viewport, slide_size: (u64, u64)) -> Self {
        let max = MAX_PIXEL_MAGNIFICATION / view.pixels_per_point;
        let min = (view.fit_zoom(slide_size) * 0.25).min(max);
        Self { min, max }
    }
    pub fn clamp(&self, zoom: f64) -> f64 {
        zoom.clamp(self.min, self.max)
    }
}

/// The level to draw at `zoom_px` screen pixels per level-0 pixel: the coarsest level that still
/// has at least one level pixel per screen pixel (never magnified, so never soft), or level 0 when
/// zoomed in beyond it. `downsamples` are finest first.
pub fn level_for_zoom(downsamples: &[f64], zoom_px: f64) -> usize {
    let want = 1.0 / zoom_px;
    let mut best = 0;
    for (i, &ds) in downsamples.iter().enumerate() {
        // A hair of tolerance so that exactly 1:1 on a level picks that level.
        if ds <= want * (1.0 + 1e-6) {
            best = i;
        }
    }
    best
}

/// Objective magnification of level 0: the recorded objective power, else derived from mpp
/// (10 µm/px per 1x: 0.25 µm/px ~ 40x), else unknown.
pub fn base_magnification(objective_power: Option<f64>, mpp: Option<f64>) -> Option<f64> {
    objective_power
        .filter(|p| *p > 0.0)
        .or_else(|| mpp.filter(|m| *m > 0.0).map(|m| 10.0 / m))
}

/// Magnification presets offered in the toolbar.
pub const MAGNIFICATION_PRESETS: [f64; 6] = [1.25, 2.5, 5.0, 10.0, 20.0, 40.0];

/// The on-screen magnification at `zoom_px` for a slide scanned at `base` (e.g. 40x).
pub fn magnification(base: f64, zoom_px: f64) -> f64 {
    base * zoom_px
}

/// The screen-pixel zoom that shows magnification `mag` on a slide scanned at `base`.
pub fn zoom_px_for_magnification(base: f64, mag: f64) -> f64 {
    mag / base
}

/// A "nice" scale-bar length (1, 2 or 5 x 10^n µm) that is at most `max_um` long.
pub fn nice_length_um(max_um: f64) -> f64 {
    if max_um <= 0.0 || !max_um.is_finite() {
        return 0.0;
    }
    let exp = max_um.log10().floor();
    let base = 10f64.powf(exp);
    for m in [5.0, 2.0, 1.0] {
        if m * base <= max_um {
            return m * base;
        }
    }
    base
}

/// "250 µm", "1 mm", "2.5 mm".
pub fn format_length_um(um: f64) -> String {
    if um >= 1000.0 {
        let mm = um / 1000.0;
        if (mm - mm.round()).abs() < 1e-9 {
            format!("{mm:.0} mm")
        } else {
            format!("{mm} mm")
        }
    } else if um >= 1.0 {
        format!("{um:.0} µm")
    } else {
        format!("{um} µm")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> Viewport {
        Viewport {
            centre: [5000.0, 4000.0],
            zoom: 0.5,
            size: [800.0, 600.0],
            pixels_per_point: 1.0,
        }
    }

    #[test]
    fn transforms_round_trip() {
        let v = view();
        let p = [1234.5, 987.25];
        let s = v.screen_from_slide(p);
        let back = v.slide_from_screen(s);
        assert!((back[0] - p[0]).abs() < 1e-9 && (back[1] - p[1]).abs() < 1e-9);
        assert_eq!(v.screen_from_slide(v.centre), [400.0, 300.0]);
        let r = v.visible();
        assert_eq!((r.width(), r.height()), (1600.0, 1200.0));
        assert_eq!(r.centre(), v.centre);
    }

    #[test]
    fn zoom_keeps_the_anchor_fixed() {
        let mut v = view();
        let anchor = [100.0, 500.0];
        let under = v.slide_from_screen(anchor);
        v.zoom_around(
            anchor,
            3.0,
            ZoomLimits {
                min: 0.01,
                max: 10.0,
            },
        );
        assert!((v.zoom - 1.5).abs() < 1e-12);
        let after = v.slide_from_screen(anchor);
        assert!((after[0] - under[0]).abs() < 1e-9 && (after[1] - under[1]).abs() < 1e-9);
    }

    #[test]
    fn zoom_is_clamped() {
        let mut v = view();
        v.zoom_around(
            [0.0, 0.0],
            1000.0,
            ZoomLimits {
                min: 0.01,
                max: 2.0,
            },
        );
        assert_eq!(v.zoom, 2.0);
    }

    #[test]
    fn pan_moves_content_with_the_pointer() {
        let mut v = view();
        let p = v.slide_from_screen([200.0, 200.0]);
        v.pan_screen([50.0, -20.0]);
        let s = v.screen_from_slide(p);
        assert!((s[0] - 250.0).abs() < 1e-9 && (s[1] - 180.0).abs() < 1e-9);
    }

    #[test]
    fn clamping_keeps_part_of_the_slide_in_view() {
        let mut v = view();
        v.centre = [1e9, -1e9];
        v.clamp_centre((10_000, 8_000));
        let r = v.visible();
        assert!(
            r.x0 < 10_000.0 && r.y1 > 0.0,
            "the view still overlaps the slide: {r:?}"
        );
        let mut w = view();
        w.centre = [-100.0, 50.0];
        w.clamp_centre((10_000, 8_000));
        assert_eq!(
            w.centre,
            [-100.0, 50.0],
            "a centre just off the slide is allowed"
        );
    }

    #[test]
    fn fit_shows_the_whole_slide() {
        let v = Viewport::fit((100_000, 80_000), [1920.0, 1080.0], 1.0);
        let r = v.visible();
        assert!(r.x0 < 0.0 && r.x1 > 100_000.0 && r.y0 < 0.0 && r.y1 > 80_000.0);
    }

    #[test]
    fn level_choice_never_magnifies_a_level() {
        let ds = [1.0, 4.0, 16.0, 64.0];
        assert_eq!(level_for_zoom(&ds, 2.0), 0);
        assert_eq!(level_for_zoom(&ds, 1.0), 0);
        assert_eq!(level_for_zoom(&ds, 0.99), 0);
        assert_eq!(level_for_zoom(&ds, 0.25), 1);
        assert_eq!(level_for_zoom(&ds, 0.2), 1);
        assert_eq!(level_for_zoom(&ds, 1.0 / 16.0), 2);
        assert_eq!(level_for_zoom(&ds, 0.001), 3);
        // Non-integer downsamples as real pyramids have them.
        assert_eq!(level_for_zoom(&[1.0, 4.000_3, 15.979], 0.25), 0);
        assert_eq!(level_for_zoom(&[1.0, 4.000_3, 15.979], 0.249), 1);
    }

    #[test]
    fn magnification_follows_objective_or_mpp() {
        assert_eq!(base_magnification(Some(20.0), Some(0.5)), Some(20.0));
        assert_eq!(base_magnification(None, Some(0.25)), Some(40.0));
        assert_eq!(base_magnification(None, None), None);
        assert_eq!(magnification(40.0, 0.25), 10.0);
        assert_eq!(zoom_px_for_magnification(40.0, 10.0), 0.25);
    }

    #[test]
    fn scale_bar_lengths_are_round() {
        assert_eq!(nice_length_um(730.0), 500.0);
        assert_eq!(nice_length_um(0.3), 0.2);
        assert_eq!(nice_length_um(2500.0), 2000.0);
        assert_eq!(nice_length_um(100.0), 100.0);
        assert_eq!(format_length_um(2000.0), "2 mm");
        assert_eq!(format_length_um(2500.0), "2.5 mm");
        assert_eq!(format_length_um(50.0), "50 µm");
    }
}
