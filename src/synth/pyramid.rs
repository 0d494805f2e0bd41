//! Pixel plumbing for the streaming pyramid: box downsampling, cutting tiles out of bands, JPEG.

use rayon::prelude::*;

use super::scene::BACKGROUND;

/// Downsamples packed RGB `src` (`width` x `rows`) by `factor` with a box filter. Edge blocks
/// average only the pixels that exist, so a level is always `ceil(previous / factor)` in size.
pub fn box_downsample(
    src: &[u8],
    width: usize,
    rows: usize,
    factor: usize,
) -> (Vec<u8>, usize, usize) {
    let (ow, oh) = (width.div_ceil(factor), rows.div_ceil(factor));
    let mut out = vec![0u8; ow * oh * 3];
    out.par_chunks_mut(ow * 3)
        .enumerate()
        .for_each(|(oy, line)| {
            let y0 = oy * factor;
            let y1 = (y0 + factor).min(rows);
            for ox in 0..ow {
                let x0 = ox * factor;
                let x1 = (x0 + factor).min(width);
                let mut sum = [0u32; 3];
                for y in y0..y1 {
                    let row = &src[(y * width + x0) * 3..(y * width + x1) * 3];
                    for px in row.chunks_exact(3) {
                        sum[0] += u32::from(px[0]);
                        sum[1] += u32::from(px[1]);
                        sum[2] += u32::from(px[2]);
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)) as u32;
                for c in 0..3 {
                    line[ox * 3 + c] = ((sum[c] + n / 2) / n) as u8;
                }
            }
        });
    (out, ow, oh)
}

/// Copies tile column `col` of a band (`width` x `rows` RGB) into a `tile` x `tile` buffer,
/// padding with glass. Returns the tile and whether it is all glass.
pub fn cut_tile(
    band: &[u8],
    width: usize,
    rows: usize,
    col: usize,
    tile: usize,
) -> (Vec<u8>, bool) {
    let mut out = vec![0u8; tile * tile * 3];
    super::scene::fill_background(&mut out);
    let x0 = col * tile;
    let x1 = (x0 + tile).min(width);
    let mut all_glass = true;
    for y in 0..rows.min(tile) {
        let src = &band[(y * width + x0) * 3..(y * width + x1) * 3];
        all_glass &= src.chunks_exact(3).all(|p| p == BACKGROUND);
        out[y * tile * 3..y * tile * 3 + src.len()].copy_from_slice(src);
    }
    (out, all_glass)
}

/// Encodes packed RGB as a baseline JFIF JPEG with 4:2:0 chroma subsampling (the TIFF side declares
/// YCbCr with 2x2 subsampling to match).
pub fn encode_jpeg(rgb: &[u8], width: usize, height: usize, quality: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(width * height / 4);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    // Sizes are bounded by the tile size (<= u16::MAX) and the buffer matches them, so encoding
    // into memory cannot fail; an empty tile would still be a readable (blank) error on read.
    if let Err(e) = encoder.encode(
        rgb,
        width as u16,
        height as u16,
        jpeg_encoder::ColorType::Rgb,
    ) {
        tracing::error!("JPEG encoding failed: {e}");
    }
    out
}

/// Resizes packed RGB to fit within `max_side`, by box averaging (never upscales).
pub fn fit_within(
    src: &[u8],
    width: usize,
    height: usize,
    max_side: usize,
) -> (Vec<u8>, usize, usize) {
    let factor = width.max(height).div_ceil(max_side).max(1);
    if factor == 1 {
        return (src.to_vec(), width, height);
    }
    box_downsample(src, width, height, factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_downsample_averages_and_keeps_edges() {
        // 5x1 image: values 0, 4, 8, 12 | 100 → 2 output pixels: mean(0,4,8,12)=6, then 100 alone.
        let src: Vec<u8> = [0u8, 4, 8, 12, 100]
            .iter()
            .flat_map(|&v| [v, v, v])
            .collect();
        let (out, w, h) = box_downsample(&src, 5, 1, 4);
        assert_eq!((w, h), (2, 1));
        assert_eq!(out, vec![6, 6, 6, 100, 100, 100]);
    }

    #[test]
    fn cut_tile_pads_with_glass() {
        let band = vec![10u8; 300 * 2 * 3];
        let (tile, glass) = cut_tile(&band, 300, 2, 1, 256);
        assert!(!glass);
        assert_eq!(&tile[..3], &[10, 10, 10]);
        // Column 44 of tile 1 is x = 300: outside the image.
        assert_eq!(&tile[44 * 3..45 * 3], &BACKGROUND);
        // Row 2 is outside the band.
        assert_eq!(&tile[2 * 256 * 3..2 * 256 * 3 + 3], &BACKGROUND);
    }
}
