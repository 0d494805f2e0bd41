//! Smooth transitions between views: centre moves and zoom changes ease exponentially towards a
//! target (zoom in log space, so zooming 10x feels as fast as zooming 2x).

use super::Viewport;

/// An in-progress move of the view towards `target_centre` / `target_zoom`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Animation {
    pub target_centre: [f64; 2],
    pub target_zoom: f64,
}

/// Time constant of the easing, seconds: after this long ~63% of the way is done.
const TAU_S: f64 = 0.06;

impl Animation {
    pub fn to(centre: [f64; 2], zoom: f64) -> Self {
        Self {
            target_centre: centre,
            target_zoom: zoom,
        }
    }

    /// Advances `view` by `dt` seconds; returns true when the target is reached (and snaps to it).
    pub fn step(&self, view: &mut Viewport, dt: f64) -> bool {
        let k = 1.0 - (-dt.max(0.0) / TAU_S).exp();
        let lz = view.zoom.ln() + (self.target_zoom.ln() - view.zoom.ln()) * k;
        view.zoom = lz.exp();
        for i in 0..2 {
            view.centre[i] += (self.target_centre[i] - view.centre[i]) * k;
        }
        // Done when the remaining error is below a screen pixel and a tenth of a percent of zoom.
        let err_px = ((self.target_centre[0] - view.centre[0]).abs()
            + (self.target_centre[1] - view.centre[1]).abs())
            * view.zoom;
        let done = err_px < 0.25 && (view.zoom / self.target_zoom - 1.0).abs() < 1e-3;
        if done {
            view.centre = self.target_centre;
            view.zoom = self.target_zoom;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_and_snaps() {
        let mut v = Viewport {
            centre: [0.0, 0.0],
            zoom: 0.01,
            size: [800.0, 600.0],
            pixels_per_point: 1.0,
        };
        let a = Animation::to([5000.0, 3000.0], 1.0);
        let mut frames = 0;
        while !a.step(&mut v, 1.0 / 60.0) {
            frames += 1;
            assert!(frames < 200, "animation does not converge");
        }
        assert_eq!(v.centre, [5000.0, 3000.0]);
        assert_eq!(v.zoom, 1.0);
        // Smooth: it takes several frames, not one.
        assert!(frames > 5, "{frames}");
    }
}
