/// A straight-alpha RGBA8 image, rows top to bottom, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// The largest region one `read_region` call may allocate (RGBA bytes): a damaged or mistaken
/// request is an error, not an attempt at many gigabytes.
const MAX_REGION_BYTES: u64 = 1 << 31;

/// Refuses a region of `width` x `height` larger than [`MAX_REGION_BYTES`] (every reader checks
/// before it allocates).
pub(super) fn check_region_size(
    path: &std::path::Path,
    width: u32,
    height: u32,
) -> Result<(), super::SlideError> {
    if u64::from(width) * u64::from(height) * 4 > MAX_REGION_BYTES {
        return Err(super::SlideError::RegionTooLarge {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    Ok(())
}

/// [`super::SlideSource::read_region_reduced`] for readers without reduced decoding: the region
/// read at full size, each `factor` x `factor` block averaged (colour weighted by alpha, so the
/// transparent outside of a slide does not darken its edge).
pub fn read_reduced_by_averaging<S: super::SlideSource + ?Sized>(
    slide: &S,
    level: usize,
    x: i64,
    y: i64,
    width: u32,
    height: u32,
    factor: u32,
) -> Result<RgbaImage, super::SlideError> {
    let f = factor.max(1);
    let (fw, fh) = (width.saturating_mul(f), height.saturating_mul(f));
    check_region_size(slide.path(), fw, fh)?;
    let full = slide.read_region(level, x, y, fw, fh)?;
    if f == 1 {
        return Ok(full);
    }
    let mut out = RgbaImage::transparent(width, height);
    let n = u64::from(f * f);
    for oy in 0..height {
        for ox in 0..width {
            let mut sum = [0u64; 4];
            for dy in 0..f {
                let row = (oy * f + dy) as usize * fw as usize;
                for dx in 0..f {
                    let i = (row + (ox * f + dx) as usize) * 4;
                    let a = u64::from(full.pixels[i + 3]);
                    for (s, &v) in sum.iter_mut().zip(&full.pixels[i..i + 3]) {
                        *s += u64::from(v) * a;
                    }
                    sum[3] += a;
                }
            }
            let o = (oy as usize * width as usize + ox as usize) * 4;
            let alpha = sum[3];
            for (d, s) in out.pixels[o..o + 3].iter_mut().zip(sum) {
                *d = (s + alpha / 2).checked_div(alpha).unwrap_or(0) as u8;
            }
            out.pixels[o + 3] = ((alpha + n / 2) / n) as u8;
        }
    }
    Ok(out)
}

impl RgbaImage {
    /// A fully transparent image.
    pub fn transparent(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            pixels: vec![0; width as usize * height as usize * 4],
        }
    }

    /// The RGBA value at (`x`, `y`).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [
            self.pixels[i],
            self.pixels[i + 1],
            self.pixels[i + 2],
            self.pixels[i + 3],
        ]
    }
}

impl std::fmt::Debug for RgbaImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbaImage({}x{})", self.width, self.height)
    }
}

/// Converts OpenSlide's premultiplied ARGB (native-endian `u32` per pixel) to straight RGBA, in place.
///
/// Almost every pixel of a slide is opaque, where this is a byte swizzle; the division only runs on
/// the translucent edge pixels, so the conversion costs a fraction of a JPEG decode.
pub(crate) fn premultiplied_argb_to_rgba_in_place(buf: &mut [u8]) {
    for px in buf.chunks_exact_mut(4) {
        let argb = u32::from_ne_bytes([px[0], px[1], px[2], px[3]]);
        let a = argb >> 24;
        let (mut r, mut g, mut b) = ((argb >> 16) & 0xff, (argb >> 8) & 0xff, argb & 0xff);
        if a != 255 && a != 0 {
            r = (r * 255 + a / 2) / a;
            g = (g * 255 + a / 2) / a;
            b = (b * 255 + a / 2) / a;
        }
        px[0] = r.min(255) as u8;
        px[1] = g.min(255) as u8;
        px[2] = b.min(255) as u8;
        px[3] = a as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_pixels_are_swizzled() {
        let argb: u32 = 0xff_10_20_30;
        let mut buf = argb.to_ne_bytes().to_vec();
        premultiplied_argb_to_rgba_in_place(&mut buf);
        assert_eq!(buf, [0x10, 0x20, 0x30, 0xff]);
    }

    #[test]
    fn translucent_pixels_are_unpremultiplied() {
        // 50% alpha, premultiplied red of 64 means straight red of about 128.
        let argb: u32 = (128 << 24) | (64 << 16);
        let mut buf = argb.to_ne_bytes().to_vec();
        premultiplied_argb_to_rgba_in_place(&mut buf);
        assert_eq!(buf, [128, 0, 0, 128]);
    }

    #[test]
    fn transparent_pixels_stay_zero() {
        let mut buf = 0u32.to_ne_bytes().to_vec();
        premultiplied_argb_to_rgba_in_place(&mut buf);
        assert_eq!(buf, [0, 0, 0, 0]);
    }
}
