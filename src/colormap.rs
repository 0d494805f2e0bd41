//! Colour maps for the heatmap: perceptually ordered (viridis, magma) and high-contrast (turbo).
//! Polynomial fits of the published tables (viridis/magma: Matt Zucker's fits of the matplotlib
//! maps; turbo: Google's own polynomial approximation), evaluated into 256-entry sRGB tables that
//! the GPU samples and the legend draws from: one source for both.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Colormap {
    #[default]
    Viridis,
    Magma,
    Turbo,
    /// Blue, white, red (ColorBrewer RdBu's ends): signed differences, white at 0.5. Not offered
    /// for the risk map; the comparison overlay uses it.
    Diverging,
}

impl Colormap {
    /// The maps offered for the risk.
    pub const ALL: [Colormap; 3] = [Colormap::Viridis, Colormap::Magma, Colormap::Turbo];
    /// Every map the overlay can be asked to draw (the GPU keeps a table of each).
    pub const EVERY: [Colormap; 4] = [
        Colormap::Viridis,
        Colormap::Magma,
        Colormap::Turbo,
        Colormap::Diverging,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Magma => "magma",
            Colormap::Turbo => "turbo",
            Colormap::Diverging => "diverging",
        }
    }

    /// sRGB colour of `t` in 0..=1 (clamped).
    pub fn rgb(self, t: f64) -> [u8; 3] {
        let t = t.clamp(0.0, 1.0);
        let c = match self {
            Colormap::Viridis => poly6(&VIRIDIS, t),
            Colormap::Magma => poly6(&MAGMA, t),
            Colormap::Turbo => turbo(t),
            Colormap::Diverging => diverging(t),
        };
        c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
    }

    /// 256 RGBA8 entries (sRGB), entry i for t = i / 255.
    pub fn table(self) -> Vec<u8> {
        (0..256)
            .flat_map(|i| {
                let [r, g, b] = self.rgb(f64::from(i) / 255.0);
                [r, g, b, 255]
            })
            .collect()
    }
}

const VIRIDIS: [[f64; 3]; 7] = [
    [
        0.277_727_327_223_417_7,
        0.005_407_344_544_966_578,
        0.334_099_805_335_306_1,
    ],
    [
        0.105_093_043_108_577_4,
        1.404_613_529_898_575,
        1.384_590_162_594_685,
    ],
    [
        -0.330_861_828_725_556_3,
        0.214_847_559_468_213,
        0.095_095_163_028_236_59,
    ],
    [
        -4.634_230_498_983_486,
        -5.799_100_973_351_585,
        -19.332_440_956_279_87,
    ],
    [
        6.228_269_936_347_081,
        14.179_933_366_805_09,
        56.690_552_600_681_05,
    ],
    [
        4.776_384_997_670_288,
        -13.745_145_377_746_01,
        -65.353_032_633_372_34,
    ],
    [
        -5.435_455_855_934_631,
        4.645_852_612_178_535,
        26.312_435_249_583_2,
    ],
];

const MAGMA: [[f64; 3]; 7] = [
    [
        -0.002_136_485_053_939_582,
        -0.000_749_655_052_795_221,
        -0.005_386_127_855_323_933,
    ],
    [
        0.251_660_540_737_164_2,
        0.677_523_243_683_766_8,
        2.494_026_599_312_351,
    ],
    [
        8.353_717_279_216_625,
        -3.577_719_514_958_484,
        0.314_467_903_013_257_3,
    ],
    [
        -27.668_733_085_768_66,
        14.264_730_780_965_33,
        -13.649_213_188_139_22,
    ],
    [
        52.176_139_812_340_68,
        -27.943_606_071_683_51,
        12.944_169_442_383_94,
    ],
    [
        -50.768_525_364_735_88,
        29.046_582_821_272_91,
        4.234_152_993_845_98,
    ],
    [
        18.655_705_065_918_83,
        -11.489_773_519_977_11,
        -5.601_961_508_734_096,
    ],
];

fn poly6(c: &[[f64; 3]; 7], t: f64) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (ch, o) in out.iter_mut().enumerate() {
        *o = c.iter().rev().fold(0.0, |acc, k| acc * t + k[ch]);
    }
    out
}

fn turbo(x: f64) -> [f64; 3] {
    let v4 = [1.0, x, x * x, x * x * x];
    let v2 = [v4[2] * v4[2], v4[2] * v4[3]];
    let dot = |a: [f64; 4], b: [f64; 2]| {
        a.iter().zip(v4).map(|(k, v)| k * v).sum::<f64>() + b[0] * v2[0] + b[1] * v2[1]
    };
    [
        dot(
            [0.135_721_38, 4.615_392_60, -42.660_322_58, 132.131_082_34],
            [-152.942_393_96, 59.286_379_43],
        ),
        dot(
            [0.091_402_61, 2.194_188_39, 4.842_966_58, -14.185_033_33],
            [4.277_298_57, 2.829_566_04],
        ),
        dot(
            [0.106_673_30, 12.641_946_08, -60.582_048_36, 110.362_767_71],
            [-89.903_109_12, 27.348_249_73],
        ),
    ]
}

/// Linear in sRGB from blue (0) through near-white (0.5) to red (1).
fn diverging(t: f64) -> [f64; 3] {
    const BLUE: [f64; 3] = [33.0, 102.0, 172.0];
    const WHITE: [f64; 3] = [247.0, 247.0, 247.0];
    const RED: [f64; 3] = [178.0, 24.0, 43.0];
    let (a, b, u) = if t < 0.5 {
        (BLUE, WHITE, t * 2.0)
    } else {
        (WHITE, RED, t * 2.0 - 1.0)
    };
    [0, 1, 2].map(|i| (a[i] + (b[i] - a[i]) * u) / 255.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
    }

    #[test]
    fn ends_match_the_published_maps() {
        // matplotlib's viridis/magma and Google's turbo at 0, 0.5 and 1.
        let cases = [
            (
                Colormap::Viridis,
                [[68, 1, 84], [33, 145, 140], [253, 231, 37]],
            ),
            (
                Colormap::Magma,
                [[0, 0, 4], [183, 55, 121], [252, 253, 191]],
            ),
            (Colormap::Turbo, [[48, 18, 59], [164, 252, 60], [122, 4, 3]]),
        ];
        for (map, [lo, mid, hi]) in cases {
            // Google's turbo polynomial is a looser fit (up to ~30/255 off, at the dark end) than
            // the viridis/magma fits; it keeps turbo's order of hues, which is what it is for.
            let tol = if map == Colormap::Turbo { 32 } else { 6 };
            for (t, want) in [(0.0, lo), (0.5, mid), (1.0, hi)] {
                let got = map.rgb(t);
                assert!(
                    close(got, want, tol),
                    "{} at {t}: {got:?}, want {want:?}",
                    map.name()
                );
            }
        }
    }

    #[test]
    fn viridis_gets_lighter_monotonically() {
        let luma = |c: [u8; 3]| {
            0.2126 * f64::from(c[0]) + 0.7152 * f64::from(c[1]) + 0.0722 * f64::from(c[2])
        };
        let t = Colormap::Viridis.table();
        let l: Vec<f64> = t.chunks(4).map(|c| luma([c[0], c[1], c[2]])).collect();
        assert!(
            l.windows(2).all(|w| w[1] >= w[0] - 0.5),
            "viridis luminance must rise"
        );
        assert_eq!(t.len(), 1024);
    }

    #[test]
    fn the_diverging_map_is_white_at_agreement_and_signed_either_side() {
        let d = Colormap::Diverging;
        assert_eq!(d.rgb(0.5), [247, 247, 247]);
        let [r0, _, b0] = d.rgb(0.0);
        let [r1, _, b1] = d.rgb(1.0);
        assert!(b0 > r0 && r1 > b1, "blue below, red above");
        assert!(!Colormap::ALL.contains(&d), "not offered for risk");
    }
}
