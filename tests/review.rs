//! Review sessions between two workstations (two data directories): blinded reads, bundle
//! hand-over both ways, merging without duplicates or losses, and refusal of damaged bundles.

use std::path::PathBuf;

use sentinel::review::bundle::{self, BundleError};
use sentinel::review::session::{
    Arm, Assessment, CaseRef, Category, Read, Reader, Session, latest, visible_to,
};
use sentinel::store::Store;
use sentinel::store::{ImportError, import_bundle};

fn session() -> Session {
    Session {
        id: "sln-2026".into(),
        name: "Sentinel nodes, pilot".into(),
        cases: (0..3)
            .map(|i| CaseRef {
                id: format!("case-{i}"),
                path: PathBuf::from(format!("/slides/node-{i}.svs")),
                slide_key: format!("quickhash1:{i:064}"),
                truth: None,
            })
            .collect(),
        readers: vec![
            Reader {
                id: "a".into(),
                name: "Dr A".into(),
                initials: "A".into(),
                arms: vec![Arm::Unassisted],
            },
            Reader {
                id: "b".into(),
                name: "Dr B".into(),
                initials: "B".into(),
                arms: vec![Arm::Unassisted],
            },
        ],
        seed: 2026,
        questions: Default::default(),
        washout_days: 0,
        counterbalance: false,
        blinded: false,
        owner: String::new(),
        unblinded_at: None,
    }
}

fn submitted(case: &str, reader: &str, category: Category) -> Read {
    let mut r = Read::new(case, reader, Arm::Unassisted);
    r.answer(Assessment {
        category,
        largest_mm: None,
        confidence: 3,
        notes: String::new(),
        answers: Default::default(),
    })
    .expect("open");
    r.submit().expect("complete");
    r
}

#[test]
fn two_workstations_exchange_reads_without_duplicates_or_losses() {
    let (ws_a, ws_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let mut store_a = Store::in_data_dir(ws_a.path()).expect("store A");
    let mut store_b = Store::in_data_dir(ws_b.path()).expect("store B");
    let s = session();
    store_a.save_review_session(&s).expect("save");

    // A reads and submits all three cases on workstation A.
    for (i, c) in [Category::NONE, Category::MICRO, Category::MACRO]
        .into_iter()
        .enumerate()
    {
        store_a
            .save_read(&s.id, &submitted(&format!("case-{i}"), "a", c))
            .expect("save");
    }
    let a_reads = store_a.reads(&s.id).expect("reads");
    let to_b = bundle::write(
        &s,
        &a_reads,
        vec![bundle::attachment("notes/a.txt", b"read on ws A")],
    );

    // B imports, and is blinded from A until B submits.
    let report = import_bundle(&mut store_b, ws_b.path(), &to_b).expect("import");
    assert_eq!(
        (report.reads_added, report.cases_added, report.readers_added),
        (3, 3, 2)
    );
    assert!(ws_b.path().join("review/sln-2026/notes/a.txt").is_file());
    let on_b = store_b.reads(&s.id).expect("reads");
    assert!(
        visible_to(&on_b, "b", "case-1").is_empty(),
        "B sees nothing of A yet"
    );
    store_b
        .save_read(&s.id, &submitted("case-1", "b", Category::ITC))
        .expect("save");
    let on_b = store_b.reads(&s.id).expect("reads");
    assert_eq!(visible_to(&on_b, "b", "case-1").len(), 2, "both submitted");

    // The same bundle again changes nothing.
    let again = import_bundle(&mut store_b, ws_b.path(), &to_b).expect("import");
    assert_eq!((again.reads_added, again.reads_present), (0, 3));
    assert_eq!(store_b.reads(&s.id).expect("reads").len(), 4);

    // B's reads go back to A; A ends with everything, once.
    let b_only: Vec<Read> = store_b
        .reads(&s.id)
        .expect("reads")
        .into_iter()
        .filter(|r| r.reader_id == "b")
        .collect();
    let to_a = bundle::write(&s, &b_only, Vec::new());
    let back = import_bundle(&mut store_a, ws_a.path(), &to_a).expect("import");
    assert_eq!(back.reads_added, 1);
    let on_a = store_a.reads(&s.id).expect("reads");
    assert_eq!(on_a.len(), 4);
    assert_eq!(
        store_a.reads(&s.id).expect("reads"),
        store_b.reads(&s.id).expect("reads"),
        "both workstations hold the same reads"
    );

    // A conflicting copy of a version (amended on both sides) is kept as a new version.
    let mut v2_a = on_a[0].amend().expect("submitted");
    v2_a.assessment.as_mut().expect("answered").notes = "amended on A".into();
    v2_a.submit().expect("complete");
    let mut v2_b = on_a[0].amend().expect("submitted");
    v2_b.assessment.as_mut().expect("answered").notes = "amended on B".into();
    v2_b.submit().expect("complete");
    store_a.save_read(&s.id, &v2_a).expect("save");
    let r = import_bundle(
        &mut store_a,
        ws_a.path(),
        &bundle::write(&s, &[v2_b], Vec::new()),
    )
    .expect("import");
    assert_eq!(r.reads_renumbered, 1);
    let versions: Vec<u32> = store_a
        .reads(&s.id)
        .expect("reads")
        .iter()
        .filter(|x| x.case_id == on_a[0].case_id && x.reader_id == on_a[0].reader_id)
        .map(|x| x.version)
        .collect();
    assert_eq!(versions, [1, 2, 3], "nothing lost");
    assert_eq!(latest(&store_a.reads(&s.id).expect("reads")).len(), 4);
}

#[test]
fn damaged_or_escaping_bundles_change_nothing() {
    let ws = tempfile::tempdir().expect("dir");
    let mut store = Store::in_data_dir(ws.path()).expect("store");
    let s = session();
    let text = bundle::write(&s, &[submitted("case-0", "a", Category::MACRO)], Vec::new());

    let tampered = text.replace("\"category\":3", "\"category\":0");
    assert_ne!(tampered, text, "the edit changes the answer");
    assert!(matches!(
        import_bundle(&mut store, ws.path(), &tampered),
        Err(ImportError::Bundle(BundleError::Checksum))
    ));
    let truncated = text.get(..text.len() - 40).expect("ASCII text");
    assert!(matches!(
        import_bundle(&mut store, ws.path(), truncated),
        Err(ImportError::Bundle(BundleError::Unreadable { .. }))
    ));
    let escaping = bundle::write(&s, &[], vec![bundle::attachment("../../../evil.sh", b"rm")]);
    assert!(matches!(
        import_bundle(&mut store, ws.path(), &escaping),
        Err(ImportError::Bundle(BundleError::PathEscape(_)))
    ));
    let mut odd = s.clone();
    odd.id = "../x".into();
    let escaping_id = bundle::write(&odd, &[], vec![bundle::attachment("a.txt", b"x")]);
    assert!(import_bundle(&mut store, ws.path(), &escaping_id).is_err());
    assert!(
        store.review_sessions().expect("sessions").is_empty(),
        "nothing merged"
    );
    let outside = ws.path().parent().expect("parent").join("evil.sh");
    assert!(!outside.exists());
}

/// A bundle written by the release before bundle version 2 (tests/fixtures/review-bundle-v1.json,
/// made with `sentinel review export`) still imports, and its checksum still guards it.
#[test]
fn a_bundle_written_by_the_previous_release_still_imports() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/review-bundle-v1.json");
    let text = std::fs::read_to_string(&path).expect("fixture");
    assert!(
        text.contains("\"version\": 1"),
        "the fixture is a version-1 bundle"
    );
    let ws = tempfile::tempdir().expect("dir");
    let mut store = Store::in_data_dir(ws.path()).expect("store");
    import_bundle(&mut store, ws.path(), &text).expect("imports");
    let sessions = store.review_sessions().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].name, "SLN pilot (fixture)");
    assert_eq!(sessions[0].readers.len(), 2);
    let edited = text.replace("A. Reader", "Z. Reader");
    assert!(matches!(bundle::read(&edited), Err(BundleError::Checksum)));
}

/// An attachment that cannot be written (here two that clash: a file and a folder of one name)
/// once failed after the session and reads were committed; staged first, it now fails before
/// anything is merged, and leaves nothing behind. A killed import's staging folder is removed
/// by the next import.
#[test]
fn an_import_whose_attachments_cannot_be_written_changes_nothing() {
    let ws = tempfile::tempdir().expect("dir");
    let mut store = Store::in_data_dir(ws.path()).expect("store");
    let s = session();
    let clash = bundle::write(
        &s,
        &[submitted("case-0", "a", Category::MACRO)],
        vec![
            bundle::attachment("x", b"1"),
            bundle::attachment("x/y", b"2"),
        ],
    );
    assert!(matches!(
        import_bundle(&mut store, ws.path(), &clash),
        Err(ImportError::Io { .. })
    ));
    assert!(
        store.review_sessions().expect("sessions").is_empty(),
        "nothing merged"
    );
    let review = ws.path().join("review");
    let left: Vec<_> = std::fs::read_dir(&review).expect("ls").flatten().collect();
    assert!(left.is_empty(), "nothing left: {left:?}");

    // A staging folder of a process that is gone, then a good import.
    let stale = review.join(".import-4294967-1");
    std::fs::create_dir_all(stale.join("thumbs")).expect("dir");
    let good = bundle::write(
        &s,
        &[submitted("case-0", "a", Category::MACRO)],
        vec![bundle::attachment("thumbs/case-0.png", b"png")],
    );
    import_bundle(&mut store, ws.path(), &good).expect("imports");
    assert!(!stale.exists(), "the killed import's leftovers are removed");
    let placed = review.join(&s.id).join("thumbs/case-0.png");
    assert_eq!(std::fs::read(&placed).expect("attachment in place"), b"png");
    assert_eq!(store.review_sessions().expect("sessions").len(), 1);
}

/// A blinded session leaves the owner's workstation without file names or readers' names; the
/// reader's workstation finds each case's slide by its identity in the folders it searches; the
/// reads come back and merge under the owner's names; the report withholds file names until the
/// owner unblinds the session.
#[test]
fn a_blinded_session_travels_without_names_until_the_owner_unblinds_it() {
    use sentinel::review::{materials, report};
    let owner_dir = tempfile::tempdir().expect("temp dir");
    let reader_dir = tempfile::tempdir().expect("temp dir");
    let slides = tempfile::tempdir().expect("temp dir");
    // The slide as the owner has it, and as a reader has it: another name, another folder.
    let spec = sentinel::synth::SynthSpec::new(1024, 768, sentinel::synth::SynthFormat::Tiff);
    let owner_path = slides.path().join("S26-12345 A1 patient Doe.tif");
    sentinel::synth::write_slide(&spec, &owner_path, |_| {}).expect("fixture");
    let key = sentinel::slide::open(&owner_path)
        .expect("open")
        .id()
        .to_string();
    let reader_folder = slides.path().join("reader");
    std::fs::create_dir_all(&reader_folder).expect("dir");
    std::fs::copy(&owner_path, reader_folder.join("x.tif")).expect("copy");
    let mut s = session();
    s.cases.truncate(1);
    s.cases[0].path = owner_path.clone();
    s.cases[0].slide_key = key.clone();
    s.blinded = true;
    s.owner = "pi".into();
    let mut owner = Store::in_data_dir(owner_dir.path()).expect("store");
    owner.save_review_session(&s).expect("save");

    let text = bundle::write(&s, &[], Vec::new());
    for secret in ["S26-12345", "Doe", "Dr A", "Dr B"] {
        assert!(!text.contains(secret), "{secret} is in the blinded bundle");
    }
    let mut reader = Store::in_data_dir(reader_dir.path()).expect("store");
    import_bundle(&mut reader, reader_dir.path(), &text).expect("import");
    let theirs = reader.review_session(&s.id).expect("read").expect("there");
    assert_eq!(theirs.cases[0].path, PathBuf::from("case-0.tif"));
    assert_eq!(theirs.readers[0].name, "Reader 1");
    let found = materials::open_case_slide(
        &theirs.cases[0].path,
        &theirs.cases[0].slide_key,
        std::slice::from_ref(&reader_folder),
        "case 1",
    )
    .expect("found by identity");
    assert_eq!(found.path(), reader_folder.join("x.tif"));
    assert!(
        materials::open_case_slide(
            &theirs.cases[0].path,
            "quickhash1:00",
            &[reader_folder],
            "case 1"
        )
        .is_err(),
        "only the slide with the case's identity"
    );

    // The reader's reads come back; the owner's session keeps its names.
    let read = submitted("case-0", "a", Category::MICRO);
    reader.save_read(&s.id, &read).expect("save");
    let back = bundle::write(&theirs, std::slice::from_ref(&read), Vec::new());
    import_bundle(&mut owner, owner_dir.path(), &back).expect("import");
    let here = owner.review_session(&s.id).expect("read").expect("there");
    assert_eq!(here.cases[0].path, owner_path);
    assert_eq!(here.readers[0].name, "Dr A");
    let reads = owner.reads(&s.id).expect("reads");
    assert_eq!(reads.len(), 1);

    let html = |s: &Session| {
        let r = report::build(s, &reads, &Default::default());
        (
            report::html(&r, &[], &Default::default()),
            report::reads_csv(s, &reads),
        )
    };
    let (page, csv) = html(&here);
    assert!(page.contains("Blinded:") && page.contains("(pi) unblinds"));
    assert!(!page.contains("S26-12345") && !csv.contains("S26-12345"));
    assert!(csv.contains(",case-0,blinded,a,"), "{csv}");
    let mut unblinded = here.clone();
    assert!(unblinded.unblind("someone else", 1).is_err());
    unblinded.unblind("pi", 1_800_000_000).expect("the owner");
    owner.save_review_session(&unblinded).expect("save");
    let (page, csv) = html(&unblinded);
    assert!(page.contains("S26-12345") && csv.contains("S26-12345"));
    assert!(
        page.contains("unblinded by pi on 2027-01-15"),
        "the date is stated"
    );
    assert!(bundle::write(&unblinded, &[], Vec::new()).contains("S26-12345"));
}

/// The report as people see it: a whole study (four readers in both arms, truth, AI scores,
/// further questions, heatmaps for the coverage audit) rendered by headless Chromium; the
/// screenshot must show the figures: ROC curves, shaded confusion tables and the coverage maps
/// with hot-spots seen (green) and missed (orange). Chromium is installed by ./setup.
#[test]
fn the_report_renders_in_a_real_browser_with_its_figures() {
    use sentinel::analysis::heatmap::Heatmap;
    use sentinel::review::questions::{Answer, parse_lines};
    use sentinel::review::report;
    use sentinel::review::session::ViewSample;
    use std::collections::HashMap;

    let mut s = session();
    s.cases = (0..10)
        .map(|i| CaseRef {
            id: format!("case-{i:02}"),
            path: PathBuf::from(format!("/slides/node-{i}.svs")),
            slide_key: format!("quickhash1:{i:064}"),
            truth: Some(if i % 2 == 0 {
                Category::MACRO
            } else {
                Category::NONE
            }),
        })
        .collect();
    s.readers = (0..4)
        .map(|i| {
            Reader::new(
                &format!("r{i}"),
                &format!("Dr {i}"),
                vec![Arm::Unassisted, Arm::Assisted],
            )
        })
        .collect();
    s.questions.extra = parse_lines("yes/no: Extranodal extension?").expect("valid");
    let mut reads = Vec::new();
    let mut heatmaps = HashMap::new();
    let mut ai = HashMap::new();
    for (ci, c) in s.cases.iter().enumerate() {
        let positive = ci % 2 == 0;
        // A heatmap with two hot-spots, left and right.
        let mut map = Heatmap::new((8000, 4000), 500.0);
        for r in 0..8 {
            for col in 0..16 {
                map.set(col, r, 0.1);
            }
        }
        map.set(2, 3, 0.9);
        map.set(3, 3, 0.85);
        map.set(12, 5, 0.95);
        heatmaps.insert(c.id.clone(), (map, 0.25));
        ai.insert(
            c.id.clone(),
            if positive { 0.8 } else { 0.3 } + ci as f64 * 0.01,
        );
        for (ri, reader) in s.readers.iter().enumerate() {
            for arm in [Arm::Unassisted, Arm::Assisted] {
                // Assisted readers are right more often; each reader errs on other cases.
                let wrong = (ci + ri) % if arm == Arm::Assisted { 7 } else { 3 } == 0;
                let category = match (positive != wrong, ri % 2) {
                    (true, 0) => Category::MACRO,
                    (true, _) => Category::MICRO,
                    (false, 0) => Category::NONE,
                    (false, _) => Category::ITC,
                };
                let mut r = Read::new(&c.id, &reader.id, arm);
                r.view_track = vec![ViewSample {
                    t: 0.0,
                    seconds: 10.0,
                    rect: [0.0, 0.0, 4000.0, 4000.0],
                    magnification: if ri == 0 { 2.0 } else { 20.0 },
                }];
                let mut answers = std::collections::BTreeMap::new();
                answers.insert("q1".to_owned(), Answer::YesNo(positive));
                r.answer(Assessment {
                    category,
                    largest_mm: None,
                    confidence: 3,
                    notes: String::new(),
                    answers,
                })
                .expect("open");
                r.submit_at(1_800_000_000 + 86_400 * 30 * i64::from(arm == Arm::Assisted))
                    .expect("complete");
                reads.push(r);
            }
        }
    }
    let built = report::build(&s, &reads, &ai);
    assert!(built.mrmc.is_ok(), "{:?}", built.mrmc.as_ref().err());
    let coverage = report::coverage(&reads, &heatmaps, 0.5);
    let html = report::html(&built, &coverage, &HashMap::new());
    for needle in [
        "<svg",
        "Coverage maps",
        "class=\"missed\"",
        "class=\"seen\"",
        "Further questions",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(!html.contains("<script"), "no scripts");

    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).expect("write");
    let shot = dir.path().join("report.png");
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1280,7000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs (./setup installs it)");
    assert!(
        shot.is_file(),
        "chromium made no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&shot).expect("png").to_rgb8();
    let _ = img.save(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("review-report.png"));
    assert_eq!(img.dimensions(), (1280, 7000));
    let count = |rgb: [u8; 3]| {
        img.pixels()
            .filter(|p| (0..3).all(|i| p.0[i].abs_diff(rgb[i]) <= 12))
            .count()
    };
    // The hot-spot boxes: 10 cases x 8 reads, the left hot-spot seen by readers 1-3, every one
    // missed by reader 0 (who never zoomed in), the right one missed by all.
    let (seen, missed) = (count([0x2f, 0x9e, 0x44]), count([0xf0, 0x8c, 0x00]));
    assert!(
        seen > 500 && missed > seen,
        "seen {seen} px, missed {missed} px"
    );
    let white = count([255, 255, 255]);
    assert!(white < 1280 * 7000 * 95 / 100, "not a blank page");
}
