//! A slide whose microns per pixel are given by the user: for files that record none (many generic
//! TIFFs, JPEG 2000 exports) or record a wrong value. Everything else is the wrapped slide's.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Level, RgbaImage, SlideError, SlideId, SlideSource};

pub struct WithMpp {
    inner: Box<dyn SlideSource>,
    mpp: (f64, f64),
}

impl WithMpp {
    /// `mpp` is level 0's, the same both ways; it must be positive and finite.
    pub fn new(inner: Box<dyn SlideSource>, mpp: f64) -> Result<Self, SlideError> {
        if !(mpp.is_finite() && mpp > 0.0) {
            return Err(SlideError::Corrupt {
                path: inner.path().to_path_buf(),
                reason: format!("{mpp} is not a positive number of microns per pixel"),
            });
        }
        Ok(Self {
            inner,
            mpp: (mpp, mpp),
        })
    }
}

impl SlideSource for WithMpp {
    fn path(&self) -> &Path {
        self.inner.path()
    }
    fn id(&self) -> &SlideId {
        self.inner.id()
    }
    fn levels(&self) -> &[Level] {
        self.inner.levels()
    }
    fn mpp(&self) -> Option<(f64, f64)> {
        Some(self.mpp)
    }
    fn objective_power(&self) -> Option<f64> {
        self.inner.objective_power()
    }
    fn vendor(&self) -> &str {
        self.inner.vendor()
    }
    fn properties(&self) -> &BTreeMap<String, String> {
        self.inner.properties()
    }
    fn associated_image_names(&self) -> &[String] {
        self.inner.associated_image_names()
    }
    fn associated_image(&self, name: &str) -> Result<RgbaImage, SlideError> {
        self.inner.associated_image(name)
    }
    fn read_region(
        &self,
        level: usize,
        x: i64,
        y: i64,
        width: u32,
        height: u32,
    ) -> Result<RgbaImage, SlideError> {
        self.inner.read_region(level, x, y, width, height)
    }
    fn read_region_reduced(
        &self,
        level: usize,
        x: i64,
        y: i64,
        width: u32,
        height: u32,
        factor: u32,
    ) -> Result<RgbaImage, SlideError> {
        self.inner
            .read_region_reduced(level, x, y, width, height, factor)
    }
    fn reader(&self) -> &'static str {
        self.inner.reader()
    }
}
