//! `sentinel info`: what a slide is, in the same terms as `openslide-show-properties`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::slide::SlideSource;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LevelInfo {
    pub level: usize,
    pub width: u64,
    pub height: u64,
    pub downsample: f64,
    pub tile_width: Option<u32>,
    pub tile_height: Option<u32>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssociatedInfo {
    pub name: String,
    pub width: Option<u64>,
    pub height: Option<u64>,
}

/// Everything `sentinel info` reports about a slide.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SlideInfo {
    pub path: String,
    pub vendor: String,
    /// Which reader decodes the pixels.
    pub reader: String,
    pub width: u64,
    pub height: u64,
    pub levels: Vec<LevelInfo>,
    pub mpp_x: Option<f64>,
    pub mpp_y: Option<f64>,
    pub objective_power: Option<f64>,
    pub associated_images: Vec<AssociatedInfo>,
    pub quickhash: Option<String>,
    pub properties: BTreeMap<String, String>,
}

impl SlideInfo {
    pub fn of(slide: &dyn SlideSource) -> Self {
        let props = slide.properties();
        let (width, height) = slide.dimensions();
        let dim = |name: &str, axis: &str| {
            props
                .get(&format!("openslide.associated.{name}.{axis}"))
                .and_then(|v| v.parse().ok())
        };
        Self {
            path: slide.path().display().to_string(),
            vendor: slide.vendor().to_owned(),
            reader: slide.reader().to_owned(),
            width,
            height,
            levels: slide
                .levels()
                .iter()
                .enumerate()
                .map(|(i, l)| LevelInfo {
                    level: i,
                    width: l.width_px,
                    height: l.height_px,
                    downsample: l.downsample,
                    tile_width: l.tile_size_px.map(|t| t.0),
                    tile_height: l.tile_size_px.map(|t| t.1),
                })
                .collect(),
            mpp_x: slide.mpp().map(|m| m.0),
            mpp_y: slide.mpp().map(|m| m.1),
            objective_power: slide.objective_power(),
            associated_images: slide
                .associated_image_names()
                .iter()
                .map(|n| AssociatedInfo {
                    name: n.clone(),
                    width: dim(n, "width"),
                    height: dim(n, "height"),
                })
                .collect(),
            quickhash: props.get(crate::slide::QUICKHASH_PROPERTY).cloned(),
            properties: props.clone(),
        }
    }

    /// Human-readable summary (properties are listed with `--properties` / in JSON).
    pub fn to_text(&self, with_properties: bool) -> String {
        let mut s = String::new();
        let opt =
            |v: Option<f64>, unit: &str| v.map_or("unknown".to_owned(), |v| format!("{v}{unit}"));
        let _ = writeln!(s, "slide:            {}", self.path);
        let _ = writeln!(s, "vendor:           {}", self.vendor);
        let _ = writeln!(s, "read by:          {}", self.reader);
        let _ = writeln!(s, "dimensions:       {} x {} px", self.width, self.height);
        let _ = writeln!(
            s,
            "mpp:              {} x {}",
            opt(self.mpp_x, " µm/px"),
            opt(self.mpp_y, " µm/px")
        );
        let _ = writeln!(s, "objective power:  {}", opt(self.objective_power, "x"));
        if let (Some(mx), Some(my)) = (self.mpp_x, self.mpp_y) {
            let _ = writeln!(
                s,
                "physical size:    {:.2} x {:.2} mm",
                self.width as f64 * mx / 1000.0,
                self.height as f64 * my / 1000.0
            );
        }
        let _ = writeln!(s, "levels:           {}", self.levels.len());
        for l in &self.levels {
            let tile = match (l.tile_width, l.tile_height) {
                (Some(w), Some(h)) => format!("tiles {w}x{h}"),
                _ => "untiled".to_owned(),
            };
            let _ = writeln!(
                s,
                "  [{}] {:>7} x {:<7} downsample {:>9.3}  {tile}",
                l.level, l.width, l.height, l.downsample
            );
        }
        if self.associated_images.is_empty() {
            let _ = writeln!(s, "associated:       none");
        } else {
            let _ = writeln!(s, "associated:");
            for a in &self.associated_images {
                match (a.width, a.height) {
                    (Some(w), Some(h)) => {
                        let _ = writeln!(s, "  {:<10} {w} x {h}", a.name);
                    }
                    _ => {
                        let _ = writeln!(s, "  {}", a.name);
                    }
                }
            }
        }
        if let Some(q) = &self.quickhash {
            let _ = writeln!(s, "quickhash-1:      {q}");
        }
        if with_properties {
            let _ = writeln!(s, "properties:");
            for (k, v) in &self.properties {
                let _ = writeln!(s, "  {k} = '{v}'");
            }
        }
        s
    }
}
