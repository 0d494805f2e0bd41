//! The real slides in ../shared/data open with the vendor, geometry and mpp that OpenSlide 4 reports.
//! DICOM needs OpenSlide 4: this is what proves the build links the right library.

mod common;

use sentinel::slide::{OpenSlideSource, SlideSource, openslide_version};

struct Expect {
    file: &'static str,
    vendor: &'static str,
    size: (u64, u64),
    levels: usize,
    mpp: Option<f64>,
    associated: &'static [&'static str],
}

const SLIDES: &[Expect] = &[
    Expect {
        file: "CMU-1-Small-Region.svs",
        vendor: "aperio",
        size: (2220, 2967),
        levels: 1,
        mpp: Some(0.499),
        associated: &["label", "macro", "thumbnail"],
    },
    Expect {
        file: "TCGA-CR-7395-01A-01-TS1-jp2k.svs",
        vendor: "aperio",
        size: (4443, 3567),
        levels: 2,
        mpp: None,
        associated: &[],
    },
    Expect {
        file: "hamamatsu-fluorescence-DAPI.ndpi",
        vendor: "hamamatsu",
        size: (3968, 4864),
        levels: 7,
        mpp: Some(0.2282),
        associated: &["macro"],
    },
    Expect {
        file: "dicom-wsi-jpeg.dcm",
        vendor: "dicom",
        size: (957, 715),
        levels: 1,
        mpp: Some(16.783),
        associated: &[],
    },
    Expect {
        file: "dicom-wsi-jpeg2000.dcm",
        vendor: "dicom",
        size: (957, 715),
        levels: 1,
        mpp: Some(16.783),
        associated: &[],
    },
    Expect {
        file: "camelyon16-tumor_001-level5.tif",
        vendor: "generic-tiff",
        size: (3072, 7168),
        levels: 1,
        mpp: None,
        associated: &[],
    },
];

#[test]
fn linked_against_openslide_4() {
    assert!(
        openslide_version().starts_with("4."),
        "{}",
        openslide_version()
    );
}

#[test]
fn real_slides_open_with_expected_metadata_and_pixels() {
    let data = common::shared_data();
    for e in SLIDES {
        let path = data.join("slides").join(e.file);
        let s = OpenSlideSource::open(&path).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(s.vendor(), e.vendor, "{}", e.file);
        assert_eq!(s.dimensions(), e.size, "{}", e.file);
        assert_eq!(s.level_count(), e.levels, "{}", e.file);
        match (e.mpp, s.mpp()) {
            (Some(want), Some((x, y))) => {
                assert!(
                    (x - want).abs() < 1e-3 && (y - want).abs() < 1e-3,
                    "{}: mpp {x} {y}",
                    e.file
                )
            }
            (None, None) => {}
            (want, got) => panic!("{}: mpp {want:?} vs {got:?}", e.file),
        }
        for name in e.associated {
            assert!(
                s.associated_image_names().iter().any(|n| n == name),
                "{}: no {name}",
                e.file
            );
        }
        // The centre of the slide is not empty: some pixels are opaque and not all alike.
        let (w, h) = e.size;
        let img = s
            .read_region(0, (w / 2) as i64 - 64, (h / 2) as i64 - 64, 128, 128)
            .expect("read");
        assert!(
            img.pixels.chunks_exact(4).any(|p| p[3] == 255),
            "{}: centre transparent",
            e.file
        );
        let first = img.pixel(0, 0);
        assert!(
            img.pixels.chunks_exact(4).any(|p| p != first),
            "{}: centre is flat",
            e.file
        );
    }
}
