//! The content of a synthetic slide: tissue islands, holes, tumour regions and an H&E-like stain model.
//!
//! All geometry is in level-0 pixels; all biological sizes are in microns and converted with the
//! slide's mpp, so a 0.25 µm/px slide shows the same tissue as a 0.5 µm/px one, just sharper.

use super::noise::{fbm2, hash2, unit, value_noise};

/// Plain glass, where there is no tissue.
pub const BACKGROUND: [u8; 3] = [242, 241, 244];

/// A star-shaped region: radius `r0 * (1 + Σ a_k cos(kθ + φ_k))` around a centre.
#[derive(Debug, Clone)]
pub struct Blob {
    pub cx: f64,
    pub cy: f64,
    pub r0: f64,
    /// (harmonic k, amplitude, phase)
    pub harmonics: Vec<(f64, f64, f64)>,
}

/// How a blob covers an axis-aligned box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    Outside,
    Inside,
    Partial,
}

impl Blob {
    fn random(rng: &mut fastrand::Rng, cx: f64, cy: f64, r0: f64, roughness: f64) -> Self {
        let harmonics = (2..=6)
            .map(|k| {
                let amp = roughness * rng.f64() / f64::from(k);
                (f64::from(k), amp, rng.f64() * std::f64::consts::TAU)
            })
            .collect();
        Self {
            cx,
            cy,
            r0,
            harmonics,
        }
    }

    fn amplitude_sum(&self) -> f64 {
        self.harmonics.iter().map(|h| h.1.abs()).sum()
    }

    pub fn r_min(&self) -> f64 {
        self.r0 * (1.0 - self.amplitude_sum())
    }

    pub fn r_max(&self) -> f64 {
        self.r0 * (1.0 + self.amplitude_sum())
    }

    pub fn radius_at(&self, theta: f64) -> f64 {
        let wobble: f64 = self
            .harmonics
            .iter()
            .map(|(k, a, phi)| a * (k * theta + phi).cos())
            .sum();
        self.r0 * (1.0 + wobble)
    }

    /// Whether the point (pixel centre) lies inside.
    #[inline]
    pub fn contains(&self, x: f64, y: f64) -> bool {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let d2 = dx * dx + dy * dy;
        let (rmin, rmax) = (self.r_min(), self.r_max());
        if d2 <= rmin * rmin {
            return true;
        }
        if d2 > rmax * rmax {
            return false;
        }
        d2.sqrt() <= self.radius_at(dy.atan2(dx))
    }

    /// Conservative classification of the box [x0, x1) x [y0, y1).
    pub fn cover(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> Cover {
        let nx = self.cx.clamp(x0, x1) - self.cx;
        let ny = self.cy.clamp(y0, y1) - self.cy;
        let nearest = (nx * nx + ny * ny).sqrt();
        let fx = (x0 - self.cx).abs().max((x1 - self.cx).abs());
        let fy = (y0 - self.cy).abs().max((y1 - self.cy).abs());
        let farthest = (fx * fx + fy * fy).sqrt();
        if nearest > self.r_max() {
            Cover::Outside
        } else if farthest < self.r_min() {
            Cover::Inside
        } else {
            Cover::Partial
        }
    }

    /// The outline as a closed polygon of `n` vertices (first vertex not repeated).
    pub fn outline(&self, n: usize) -> Vec<[f64; 2]> {
        (0..n)
            .map(|i| {
                let theta = std::f64::consts::TAU * i as f64 / n as f64;
                let r = self.radius_at(theta);
                [self.cx + r * theta.cos(), self.cy + r * theta.sin()]
            })
            .collect()
    }
}

/// The whole synthetic specimen.
#[derive(Debug, Clone)]
pub struct Scene {
    pub width: u64,
    pub height: u64,
    pub mpp: f64,
    pub seed: u64,
    pub islands: Vec<Blob>,
    /// Fat and sinus spaces inside the tissue (no tissue there); never overlap a tumour.
    pub holes: Vec<Blob>,
    /// Ground-truth tumour regions, each entirely inside one island.
    pub tumours: Vec<Blob>,
}

/// What a box of pixels needs: nothing (all glass), or the blobs that may touch it.
struct BoxPlan<'a> {
    islands: Vec<&'a Blob>,
    holes: Vec<&'a Blob>,
    tumours: Vec<&'a Blob>,
    all_tissue: bool,
}

impl Scene {
    /// Lays out islands, holes and tumours for a `width` x `height` slide, deterministically from `seed`.
    pub fn new(width: u64, height: u64, mpp: f64, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let (w, h) = (width as f64, height as f64);
        let long_is_x = w >= h;
        let (long, short) = if long_is_x { (w, h) } else { (h, w) };
        let count = ((long / short).round() as usize).clamp(1, 3) + rng.usize(0..2);
        let cell = long / count as f64;

        let mut islands = Vec::new();
        for i in 0..count {
            let along = cell * (i as f64 + 0.5) + (rng.f64() - 0.5) * cell * 0.15;
            let across = short * (0.5 + (rng.f64() - 0.5) * 0.12);
            let (cx, cy) = if long_is_x {
                (along, across)
            } else {
                (across, along)
            };
            let mut blob = Blob::random(&mut rng, cx, cy, 1.0, 0.45);
            // Largest r0 whose outline stays inside the slide (and its cell) with a margin.
            let room = (cell * 0.5).min(short * 0.5) * 0.92;
            let room = room.min(cx.min(w - cx) * 0.95).min(cy.min(h - cy) * 0.95);
            blob.r0 = room / (1.0 + blob.amplitude_sum()) * (0.8 + 0.2 * rng.f64());
            islands.push(blob);
        }

        let tumour_count = 1 + rng.usize(0..3);
        let mut tumours = Vec::new();
        for _ in 0..tumour_count {
            let host = &islands[rng.usize(0..islands.len())];
            let host_rmin = host.r_min();
            let angle = rng.f64() * std::f64::consts::TAU;
            let dist = host_rmin * 0.35 * rng.f64();
            let mut t = Blob::random(
                &mut rng,
                host.cx + dist * angle.cos(),
                host.cy + dist * angle.sin(),
                1.0,
                0.35,
            );
            // Keep the whole tumour inside the island's inner circle.
            let max_r = (host_rmin - dist) * 0.9;
            t.r0 = (host.r0 * (0.2 + 0.15 * rng.f64())).min(max_r) / (1.0 + t.amplitude_sum());
            tumours.push(t);
        }

        let mut holes = Vec::new();
        for island in &islands {
            let rmin = island.r_min();
            for _ in 0..rng.usize(1..5) {
                let angle = rng.f64() * std::f64::consts::TAU;
                let dist = rmin * 0.75 * rng.f64().sqrt();
                let mut hole = Blob::random(
                    &mut rng,
                    island.cx + dist * angle.cos(),
                    island.cy + dist * angle.sin(),
                    1.0,
                    0.5,
                );
                hole.r0 = rmin * (0.03 + 0.07 * rng.f64());
                let clear = tumours.iter().all(|t| {
                    let d = ((t.cx - hole.cx).powi(2) + (t.cy - hole.cy).powi(2)).sqrt();
                    d > t.r_max() + hole.r_max()
                });
                if clear {
                    holes.push(hole);
                }
            }
        }

        Self {
            width,
            height,
            mpp,
            seed,
            islands,
            holes,
            tumours,
        }
    }

    /// Whether level-0 pixel (`x`, `y`) shows tissue.
    pub fn is_tissue(&self, x: f64, y: f64) -> bool {
        self.islands.iter().any(|b| b.contains(x, y))
            && !self.holes.iter().any(|b| b.contains(x, y))
    }

    /// Whether level-0 pixel (`x`, `y`) shows tumour.
    pub fn is_tumour(&self, x: f64, y: f64) -> bool {
        self.tumours.iter().any(|b| b.contains(x, y))
    }

    fn plan(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> Option<BoxPlan<'_>> {
        let mut plan = BoxPlan {
            islands: Vec::new(),
            holes: Vec::new(),
            tumours: Vec::new(),
            all_tissue: false,
        };
        for island in &self.islands {
            match island.cover(x0, y0, x1, y1) {
                Cover::Outside => {}
                Cover::Inside => plan.all_tissue = true,
                Cover::Partial => plan.islands.push(island),
            }
        }
        if !plan.all_tissue && plan.islands.is_empty() {
            return None;
        }
        plan.holes = self
            .holes
            .iter()
            .filter(|b| b.cover(x0, y0, x1, y1) != Cover::Outside)
            .collect();
        plan.tumours = self
            .tumours
            .iter()
            .filter(|b| b.cover(x0, y0, x1, y1) != Cover::Outside)
            .collect();
        Some(plan)
    }

    /// Renders level-0 pixels [x0, x0+w) x [y0, y0+h) as packed RGB into `out` (w*h*3 bytes).
    /// Pixels outside the slide are background. Returns whether any pixel is tissue.
    pub fn render(&self, x0: u64, y0: u64, w: u32, h: u32, out: &mut [u8]) -> bool {
        debug_assert_eq!(out.len(), w as usize * h as usize * 3);
        let (fx0, fy0) = (x0 as f64, y0 as f64);
        let Some(plan) = self.plan(fx0, fy0, fx0 + f64::from(w), fy0 + f64::from(h)) else {
            fill_background(out);
            return false;
        };
        let shader = Shader::new(self.mpp, self.seed);
        let mut any = false;
        for row in 0..h {
            let y = y0 + u64::from(row);
            let py = y as f64 + 0.5;
            for col in 0..w {
                let x = x0 + u64::from(col);
                let i = (row as usize * w as usize + col as usize) * 3;
                let px = x as f64 + 0.5;
                let tissue = x < self.width
                    && y < self.height
                    && (plan.all_tissue || plan.islands.iter().any(|b| b.contains(px, py)))
                    && !plan.holes.iter().any(|b| b.contains(px, py));
                let rgb = if tissue {
                    any = true;
                    let tumour = plan.tumours.iter().any(|b| b.contains(px, py));
                    shader.tissue(x, y, tumour)
                } else {
                    BACKGROUND
                };
                out[i..i + 3].copy_from_slice(&rgb);
            }
        }
        any
    }
}

pub fn fill_background(out: &mut [u8]) {
    for px in out.chunks_exact_mut(3) {
        px.copy_from_slice(&BACKGROUND);
    }
}

/// Turns stain amounts into colour by Beer-Lambert mixing of haematoxylin and eosin.
struct Shader {
    mpp: f64,
    seed: u64,
}

// Optical density per unit stain, R, G, B: haematoxylin as Ruifrok & Johnston; eosin fitted to
// scanned H&E stroma (about RGB 235, 160, 190 on glass of 242, 241, 244), which absorbs more blue
// than the textbook vector and so reads pink rather than magenta.
const HAEMATOXYLIN: [f32; 3] = [0.65, 0.70, 0.29];
const EOSIN: [f32; 3] = [0.06, 0.85, 0.50];

/// A nucleus found near a pixel: how strongly it covers it (0..1) and its stain profile.
struct NucleusHit {
    weight: f32,
    stain: f32,
}

impl Shader {
    fn new(mpp: f64, seed: u64) -> Self {
        Self { mpp, seed }
    }

    fn tissue(&self, x: u64, y: u64, tumour: bool) -> [u8; 3] {
        // Position in microns.
        let (u, v) = ((x as f64 + 0.5) * self.mpp, (y as f64 + 0.5) * self.mpp);
        let s = self.seed;

        // Large-scale architecture: dense lymphoid areas versus loose stroma.
        let density = fbm2(s ^ 0xA1, u / 260.0, v / 260.0);
        // Collagen fibres: noise stretched along a slowly turning direction.
        let warp = value_noise(s ^ 0xB2, u / 70.0, v / 70.0) * 3.0;
        let fibre = value_noise(
            s ^ 0xC3,
            u / 22.0 + f64::from(warp),
            v / 5.0 + f64::from(warp),
        );

        let (mut h, mut e);
        if tumour {
            // Carcinoma: sheets of large, crowded, pleomorphic, vesicular nuclei in pale cytoplasm.
            h = 0.16 + 0.08 * fibre;
            e = 0.38 + 0.12 * fibre;
            if let Some(n) = self.nuclei(u, v, 13.0, 0.9, (4.2, 6.8), 0.55, true) {
                h += n.weight * n.stain;
                e *= 1.0 - 0.5 * n.weight;
            }
        } else {
            let lymphoid = smoothstep(0.38, 0.62, density);
            h = 0.05 + 0.04 * lymphoid;
            e = (0.22 + 0.42 * fibre) * (1.0 - 0.35 * lymphoid);
            let p = 0.12 + 0.78 * lymphoid;
            if let Some(n) = self.nuclei(u, v, 7.5, p, (2.4, 3.3), 0.85, false) {
                h += n.weight * n.stain;
                e *= 1.0 - 0.6 * n.weight;
            }
        }

        // Small per-pixel grain, like sensor noise and section texture.
        let grain = unit(hash2(s ^ 0xD4, x as i64, y as i64), 1) - 0.5;
        let od = |c: usize| (h * HAEMATOXYLIN[c] + e * EOSIN[c]).max(0.0);
        let mut rgb = [0u8; 3];
        for (c, out) in rgb.iter_mut().enumerate() {
            let value = f32::from(BACKGROUND[c]) * (-od(c)).exp() + grain * 6.0;
            *out = value.clamp(0.0, 255.0) as u8;
        }
        rgb
    }

    /// Looks for a nucleus covering (u, v) µm in a jittered grid of `cell_um` cells, each holding a
    /// nucleus with probability `p`, semi-axes drawn from `radius_um`, axis ratio at least `min_ratio`.
    #[allow(clippy::too_many_arguments)]
    fn nuclei(
        &self,
        u: f64,
        v: f64,
        cell_um: f64,
        p: f32,
        radius_um: (f32, f32),
        min_ratio: f32,
        vesicular: bool,
    ) -> Option<NucleusHit> {
        let (gu, gv) = (u / cell_um, v / cell_um);
        // Radii stay under half a cell, so only the 2x2 cells nearest the point can reach it.
        let (cu, cv) = ((gu - 0.5).floor() as i64, (gv - 0.5).floor() as i64);
        let layer = self.seed ^ if vesicular { 0x7777 } else { 0x3333 };
        let mut best: Option<NucleusHit> = None;
        for (i, j) in [(cu, cv), (cu + 1, cv), (cu, cv + 1), (cu + 1, cv + 1)] {
            let hsh = hash2(layer, i, j);
            if unit(hsh, 0) >= p {
                continue;
            }
            let h2 = hash2(layer ^ 0xFEED, i, j);
            let centre_u = (i as f64 + f64::from(unit(hsh, 1))) * cell_um;
            let centre_v = (j as f64 + f64::from(unit(hsh, 2))) * cell_um;
            let a = radius_um.0 + (radius_um.1 - radius_um.0) * unit(hsh, 3);
            let b = a * (min_ratio + (1.0 - min_ratio) * unit(h2, 0));
            let angle = unit(h2, 1) * std::f32::consts::PI;
            let (du, dv) = ((u - centre_u) as f32, (v - centre_v) as f32);
            let (sin, cos) = angle.sin_cos();
            let (ru, rv) = ((du * cos + dv * sin) / a, (-du * sin + dv * cos) / b);
            let d2 = ru * ru + rv * rv;
            if d2 >= 1.0 {
                continue;
            }
            // Soft edge over the outer ~10% of the radius.
            let weight = ((1.0 - d2) * 5.0).min(1.0);
            // Chromatin is granular, not flat.
            let chromatin = 0.8 + 0.4 * value_noise(layer, u / 0.9, v / 0.9);
            let darkness = (0.9 + 0.8 * unit(h2, 2)) * chromatin;
            let stain = if vesicular {
                // Chromatin along the membrane, pale centre, one prominent nucleolus.
                let rim = 0.55 + 0.6 * d2;
                let (nu, nv) = (
                    du - (unit(h2, 3) - 0.5) * a * 0.6,
                    dv - (unit(hsh, 0) / p - 0.5) * b * 0.6,
                );
                let nucleolus = if nu * nu + nv * nv < 0.8 { 0.7 } else { 0.0 };
                darkness * rim + nucleolus
            } else {
                darkness * 1.25
            };
            if best
                .as_ref()
                .is_none_or(|n| weight * stain > n.weight * n.stain)
            {
                best = Some(NucleusHit { weight, stain });
            }
        }
        best
    }
}

fn smoothstep(lo: f32, hi: f32, x: f32) -> f32 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_outline_matches_membership() {
        let mut rng = fastrand::Rng::with_seed(3);
        let b = Blob::random(&mut rng, 500.0, 400.0, 200.0, 0.4);
        for [x, y] in b.outline(64) {
            // Just inside and just outside each outline vertex, along the ray from the centre.
            let (dx, dy) = (x - b.cx, y - b.cy);
            let len = (dx * dx + dy * dy).sqrt();
            assert!(b.contains(b.cx + dx * (1.0 - 2.0 / len), b.cy + dy * (1.0 - 2.0 / len)));
            assert!(!b.contains(b.cx + dx * (1.0 + 2.0 / len), b.cy + dy * (1.0 + 2.0 / len)));
        }
    }

    #[test]
    fn cover_is_conservative() {
        let mut rng = fastrand::Rng::with_seed(9);
        let b = Blob::random(&mut rng, 1000.0, 1000.0, 300.0, 0.45);
        for by in (0..2000).step_by(64) {
            for bx in (0..2000).step_by(64) {
                let (x0, y0) = (f64::from(bx), f64::from(by));
                let cover = b.cover(x0, y0, x0 + 64.0, y0 + 64.0);
                let inside = (0..64)
                    .step_by(8)
                    .flat_map(|dy| (0..64).step_by(8).map(move |dx| (dx, dy)))
                    .map(|(dx, dy)| b.contains(x0 + f64::from(dx), y0 + f64::from(dy)))
                    .collect::<Vec<_>>();
                match cover {
                    Cover::Inside => assert!(inside.iter().all(|&i| i)),
                    Cover::Outside => assert!(inside.iter().all(|&i| !i)),
                    Cover::Partial => {}
                }
            }
        }
    }

    #[test]
    fn tumours_lie_inside_tissue_and_clear_of_holes() {
        for seed in 0..20 {
            let scene = Scene::new(40_000, 30_000, 0.25, seed);
            assert!(!scene.tumours.is_empty());
            for t in &scene.tumours {
                for [x, y] in t.outline(90) {
                    assert!(
                        scene.is_tissue(x, y),
                        "seed {seed}: tumour vertex off tissue"
                    );
                }
                assert!(scene.is_tumour(t.cx, t.cy));
            }
            for i in &scene.islands {
                assert!(i.cx - i.r_max() >= 0.0 && i.cx + i.r_max() <= 40_000.0);
                assert!(i.cy - i.r_max() >= 0.0 && i.cy + i.r_max() <= 30_000.0);
            }
        }
    }

    #[test]
    fn tissue_looks_like_h_and_e() {
        let scene = Scene::new(8_000, 6_000, 0.25, 1);
        let t = &scene.tumours[0];
        let (tx, ty) = (t.cx as u64 - 128, t.cy as u64 - 128);
        let mut tumour = vec![0u8; 256 * 256 * 3];
        assert!(scene.render(tx, ty, 256, 256, &mut tumour));
        let mean = |buf: &[u8]| {
            let n = (buf.len() / 3) as f64;
            let mut m = [0.0; 3];
            for px in buf.chunks_exact(3) {
                for c in 0..3 {
                    m[c] += f64::from(px[c]) / n;
                }
            }
            m
        };
        let mt = mean(&tumour);
        // Stained tissue: darker than glass, red and blue above green (pink/purple, not grey).
        assert!(
            mt[1] < 200.0 && mt[0] > mt[1] && mt[2] > mt[1],
            "tumour mean {mt:?}"
        );
        // Not flat: real texture.
        let var = tumour
            .chunks_exact(3)
            .map(|p| (f64::from(p[1]) - mt[1]).powi(2))
            .sum::<f64>()
            / (256.0 * 256.0);
        assert!(var.sqrt() > 15.0, "tumour texture std {}", var.sqrt());

        let mut glass = vec![0u8; 64 * 64 * 3];
        assert!(!scene.render(0, 0, 64, 64, &mut glass));
        assert!(glass.chunks_exact(3).all(|p| p == BACKGROUND));
    }
}
