//! Every way a slide file can be bad gets its own error naming the file; nothing panics or hangs.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use sentinel::slide::{OpenSlideSource, SlideError, SlideSource};

/// Opens on another thread and fails the test if that takes more than 20 s (a hang).
fn open_within_deadline(path: &Path) -> Result<OpenSlideSource, SlideError> {
    let (tx, rx) = mpsc::channel();
    let p = path.to_path_buf();
    std::thread::Builder::new()
        .name("open-bad-file".into())
        .spawn(move || {
            let _ = tx.send(OpenSlideSource::open(&p));
        })
        .expect("spawn");
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("opening {} hung", path.display()))
}

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn expect_err(path: &Path) -> SlideError {
    match open_within_deadline(path) {
        Ok(_) => panic!("{} opened but should not have", path.display()),
        Err(e) => {
            assert!(
                e.to_string().contains(&path.display().to_string()),
                "error does not name the file: {e}"
            );
            e
        }
    }
}

#[test]
fn missing_file() {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-slide.svs");
    assert!(matches!(expect_err(&p), SlideError::NotFound { .. }));
}

#[test]
fn directory() {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).to_path_buf();
    assert!(matches!(expect_err(&p), SlideError::NotAFile { .. }));
}

#[test]
fn empty_file() {
    let p = scratch("empty.svs", b"");
    assert!(matches!(expect_err(&p), SlideError::Empty { .. }));
}

#[test]
fn unsupported_formats() {
    let mut rng = fastrand::Rng::with_seed(1);
    let noise: Vec<u8> = (0..100_000).map(|_| rng.u8(..)).collect();
    let png = {
        let img = image::RgbaImage::from_pixel(8, 8, image::Rgba([1, 2, 3, 255]));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .expect("png");
        out
    };
    for (name, bytes) in [
        ("noise.svs", noise.as_slice()),
        ("notes.txt", b"not a slide\n".as_slice()),
        ("picture.png", png.as_slice()),
    ] {
        let p = scratch(name, bytes);
        let e = expect_err(&p);
        assert!(matches!(e, SlideError::Unsupported { .. }), "{name}: {e}");
        assert!(e.to_string().contains("OpenSlide 4."), "{e}");
    }
}

#[test]
fn truncated_slides_say_truncated() {
    let f = common::svs();
    let bytes = std::fs::read(&f.path).expect("read");
    for (name, keep) in [
        ("cut-header.svs", 10),
        ("cut-half.svs", bytes.len() / 2),
        ("cut-tail.svs", bytes.len() - 64),
    ] {
        let p = scratch(name, &bytes[..keep]);
        let e = expect_err(&p);
        match &e {
            SlideError::Corrupt { reason, .. } => {
                assert!(reason.contains("truncated"), "{name}: {e}")
            }
            other => panic!("{name}: expected Corrupt, got {other}"),
        }
    }
}

#[test]
fn truncated_real_svs_says_truncated() {
    // A real scanner file cut at 60%: its first directory sits past the cut.
    let data = common::shared_data();
    let src = data.join("slides/CMU-1-Small-Region.svs");
    let bytes = std::fs::read(&src).expect("read");
    let p = scratch("cmu-cut.svs", &bytes[..bytes.len() * 6 / 10]);
    let e = expect_err(&p);
    assert!(
        matches!(&e, SlideError::Corrupt { reason, .. } if reason.contains("truncated")),
        "{e}"
    );
}

#[test]
fn damaged_tile_data_fails_on_read_with_the_reason() {
    let f = common::svs();
    let mut bytes = std::fs::read(&f.path).expect("read");
    // Overwrite tile data (not the directories, which sit at the end) with garbage.
    let mut rng = fastrand::Rng::with_seed(3);
    for b in &mut bytes[20_000..400_000] {
        *b = rng.u8(..);
    }
    let p = scratch("damaged.svs", &bytes);
    let s = open_within_deadline(&p).expect("the structure is intact, so it opens");
    let e = s
        .read_region(0, 0, 0, 4096, 3072)
        .expect_err("damaged tiles cannot decode");
    assert!(matches!(e, SlideError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("damaged.svs"), "{e}");
}

#[test]
fn bad_requests_on_a_good_slide() {
    let s = OpenSlideSource::open(&common::svs().path).expect("open");
    assert!(matches!(
        s.read_region(3, 0, 0, 10, 10),
        Err(SlideError::NoSuchLevel {
            level: 3,
            count: 3,
            ..
        })
    ));
    assert!(matches!(
        s.associated_image("overview"),
        Err(SlideError::NoSuchAssociatedImage { .. })
    ));
    assert!(matches!(
        s.read_region(0, 0, 0, 100_000, 100_000),
        Err(SlideError::RegionTooLarge { .. })
    ));
}
