//! Reading a review session in the GUI (egui_kittest): start, answer, submit, next; the read is
//! stored with its time and view track, the other reader stays hidden until this one submits, and
//! the unassisted arm hides the heatmap.

mod common;

use std::path::PathBuf;

use egui_kittest::kittest::Queryable;
use sentinel::review::session::{
    Arm, Assessment, CaseRef, Category, Read, Reader, Session, ViewSample,
};
use sentinel::store::Store;

use common::run_until;

/// A session of one case on `slide`, one reader ("a", unassisted), the default questions, not
/// blinded.
fn one_case_session(id: &str, slide: &std::path::Path) -> Session {
    Session {
        id: id.into(),
        name: id.into(),
        cases: vec![CaseRef {
            id: "case-1".into(),
            path: slide.to_path_buf(),
            slide_key: sentinel::slide::open(slide).expect("open").id().to_string(),
            truth: None,
        }],
        readers: vec![Reader::new("a", "Dr Alpha", vec![Arm::Unassisted])],
        seed: 5,
        questions: Default::default(),
        washout_days: 0,
        counterbalance: false,
        blinded: false,
        owner: String::new(),
        unblinded_at: None,
    }
}

#[test]
fn start_answer_submit_next_with_blinding() {
    let data = common::shared_data();
    let cmu = data.join("slides/CMU-1-Small-Region.svs");
    let synth = common::svs().path.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let key = |p: &PathBuf| {
        let s = sentinel::slide::open(p).expect("open");
        s.id().to_string()
    };
    let session = Session {
        id: "gui-session".into(),
        name: "GUI pilot".into(),
        cases: vec![
            CaseRef {
                id: "case-1".into(),
                path: cmu.clone(),
                slide_key: key(&cmu),
                truth: None,
            },
            CaseRef {
                id: "case-2".into(),
                path: synth.clone(),
                slide_key: key(&synth),
                truth: None,
            },
        ],
        readers: vec![
            Reader {
                id: "a".into(),
                name: "Dr Alpha".into(),
                initials: "DA".into(),
                arms: vec![Arm::Unassisted],
            },
            Reader {
                id: "b".into(),
                name: "Dr Beta".into(),
                initials: "DB".into(),
                arms: vec![Arm::Unassisted],
            },
        ],
        seed: 11,
        questions: Default::default(),
        washout_days: 0,
        counterbalance: false,
        blinded: false,
        owner: String::new(),
        unblinded_at: None,
    };
    let first = &session.cases[sentinel::review::session::reading_order(&session, "a")[0]];
    let (first_id, first_path) = (first.id.clone(), first.path.clone());
    {
        let mut store = Store::in_data_dir(dir.path()).expect("store");
        store.save_review_session(&session).expect("save");
        // Dr Beta has already submitted every case.
        for c in &session.cases {
            let mut r = Read::new(&c.id, "b", Arm::Unassisted);
            r.answer(Assessment {
                category: Category::MACRO,
                largest_mm: Some(3.0),
                confidence: 5,
                notes: String::new(),
                answers: Default::default(),
            })
            .expect("open");
            r.submit().expect("complete");
            store.save_read(&session.id, &r).expect("save");
        }
    }
    let mut h = common::app_harness(&cmu, dir.path(), egui::vec2(1200.0, 800.0));
    h.state_mut().set_review_panel(true);
    run_until(&mut h, "the sessions", |a| {
        a.review().is_loaded() && a.slide_view().is_some()
    });

    h.get_by_label("Start reading").click();
    run_until(&mut h, "the first case", |a| {
        a.slide_view().is_some_and(|v| v.slide.path() == first_path) && a.annotations().is_loaded()
    });
    assert_eq!(
        h.state().review().current_case().map(|c| c.1.to_owned()),
        Some(first_id.clone())
    );
    assert_eq!(h.state().review().reading_arm(), Some(Arm::Unassisted));
    for _ in 0..5 {
        h.step();
    }
    assert!(
        h.state().review().view_track_len() > 0,
        "the view is recorded"
    );
    assert!(
        h.query_by_label_contains("Dr Beta").is_none(),
        "blinded before submitting"
    );
    // Blinded: no file name anywhere (the status bar names the case), no properties panel
    // (file names, barcodes) even when asked for, and no recent files.
    h.state_mut().set_properties_panel(true);
    h.step();
    h.step();
    for name in ["CMU-1-Small-Region", "svs-4096x3072"] {
        assert!(
            h.query_by_label_contains(name).is_none(),
            "{name} is shown while reading"
        );
    }
    assert!(
        h.query_by_label("Case 1 of 2").is_some(),
        "the status bar names the case"
    );
    assert!(
        h.query_by_label("vendor").is_none(),
        "the properties panel stays hidden"
    );
    // The picture for people, once the case is bound and its tiles are in.
    run_until(&mut h, "the case on screen", |a| {
        a.review_binding().is_ok() && a.slide_view().is_some_and(|v| v.stats.complete())
    });
    for name in ["CMU-1-Small-Region", "svs-4096x3072"] {
        assert!(h.query_by_label_contains(name).is_none(), "{name} is shown");
    }
    let _ = h.render().map(|img| {
        img.save(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("blinded-read.png"))
    });
    h.state_mut().set_properties_panel(false);

    // The case had no stored analysis, so one runs (hidden: this is the unassisted arm).
    run_until(&mut h, "the case's analysis", |a| {
        matches!(
            a.analysis().state,
            sentinel::ui::analysis_panel::RunState::Done { .. }
        )
    });
    assert!(
        !h.state().analysis().style.visible,
        "hidden in the unassisted arm"
    );
    // Replace it by a heatmap with one hot cell the reader never zooms into: the audit must
    // report exactly that one.
    let dims = h.state().slide_view().expect("view").slide.dimensions();
    let mut map = sentinel::analysis::heatmap::Heatmap::new(dims, 448.0);
    map.set(1, 1, 0.95);
    map.set(2, 3, 0.1);
    h.state_mut().analysis_mut().set_heatmap(map);
    h.get_by_label("Micrometastasis").click();
    h.step();
    h.get_by_label("Submit").click();
    run_until(&mut h, "the save", |a| {
        a.review()
            .reads()
            .iter()
            .any(|r| r.reader_id == "a" && r.submitted)
            && a.review().all_saved()
    });
    h.step();
    h.get_by_label_contains("Dr Beta (unassisted): Macrometastasis");
    h.get_by_label_contains("Coverage audit: 1 high-scoring region(s) never viewed at 10x");
    assert_eq!(
        h.state().review().audit_regions(),
        vec![[448.0, 448.0, 896.0, 896.0]],
        "outlined on the slide"
    );

    let store = Store::in_data_dir(dir.path()).expect("store");
    let mine: Vec<Read> = store
        .reads(&session.id)
        .expect("reads")
        .into_iter()
        .filter(|r| r.reader_id == "a")
        .collect();
    assert_eq!(mine.len(), 1);
    assert!(mine[0].submitted);
    assert_eq!(mine[0].case_id, first_id);
    assert_eq!(
        mine[0].assessment.as_ref().map(|a| a.category),
        Some(Category::MICRO)
    );
    assert!(mine[0].seconds_on_case > 0.0 && !mine[0].view_track.is_empty());

    // Amend: a new version opens; the submitted one stays.
    h.get_by_label("Amend").click();
    h.step();
    h.get_by_label("Macrometastasis").click();
    h.step();
    h.get_by_label("Submit").click();
    run_until(&mut h, "the amendment", |a| {
        a.review()
            .reads()
            .iter()
            .any(|r| r.reader_id == "a" && r.version == 2 && r.submitted)
            && a.review().all_saved()
    });
    let versions: Vec<(u32, Option<Category>)> = Store::in_data_dir(dir.path())
        .expect("store")
        .reads(&session.id)
        .expect("reads")
        .iter()
        .filter(|r| r.reader_id == "a")
        .map(|r| (r.version, r.assessment.as_ref().map(|a| a.category)))
        .collect();
    assert_eq!(
        versions,
        [(1, Some(Category::MICRO)), (2, Some(Category::MACRO))]
    );

    h.get_by_label("Next case").click();
    run_until(&mut h, "the second case", |a| {
        a.slide_view().is_some_and(|v| v.slide.path() != first_path)
    });
    assert_ne!(
        h.state().review().current_case().map(|c| c.1.to_owned()),
        Some(first_id)
    );
    assert!(
        h.query_by_label_contains("Dr Beta").is_none(),
        "blinded again on the new case"
    );
}

#[test]
fn adjudication_shows_both_readers_and_records_the_consensus() {
    use sentinel::annotate::{Annotation, Shape};
    let data = common::shared_data();
    let cmu = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let key = {
        let s = sentinel::slide::open(&cmu).expect("open");
        s.id().to_string()
    };
    let session = Session {
        id: "adj".into(),
        name: "Adjudication".into(),
        cases: vec![CaseRef {
            id: "case-1".into(),
            path: cmu.clone(),
            slide_key: key,
            truth: None,
        }],
        readers: vec![
            Reader {
                id: "a".into(),
                name: "Dr Alpha".into(),
                initials: "DA".into(),
                arms: vec![Arm::Unassisted],
            },
            Reader {
                id: "b".into(),
                name: "Dr Beta".into(),
                initials: "DB".into(),
                arms: vec![Arm::Unassisted],
            },
        ],
        seed: 3,
        questions: Default::default(),
        washout_days: 0,
        counterbalance: false,
        blinded: false,
        owner: String::new(),
        unblinded_at: None,
    };
    {
        let mut store = Store::in_data_dir(dir.path()).expect("store");
        store.save_review_session(&session).expect("save");
        for (reader, cat, x) in [("a", Category::MICRO, 400.0), ("b", Category::MACRO, 900.0)] {
            let mut r = Read::new("case-1", reader, Arm::Unassisted);
            r.annotations = vec![Annotation::new(
                Shape::rectangle([x, 800.0], [x + 300.0, 1200.0]),
                Some("Tumor".into()),
            )];
            if reader == "a" {
                // Dr Alpha looked closely at the top-left quarter only, longest at its corner.
                r.view_track = vec![
                    ViewSample {
                        t: 0.0,
                        seconds: 4.0,
                        rect: [0.0, 0.0, 2220.0, 2967.0],
                        magnification: 2.0,
                    },
                    ViewSample {
                        t: 4.0,
                        seconds: 6.0,
                        rect: [0.0, 0.0, 1110.0, 1480.0],
                        magnification: 20.0,
                    },
                    ViewSample {
                        t: 10.0,
                        seconds: 6.0,
                        rect: [0.0, 0.0, 555.0, 740.0],
                        magnification: 40.0,
                    },
                ];
            }
            r.answer(Assessment {
                category: cat,
                largest_mm: None,
                confidence: 4,
                notes: String::new(),
                answers: Default::default(),
            })
            .expect("open");
            r.submit().expect("complete");
            store.save_read(&session.id, &r).expect("save");
        }
    }
    let mut h = common::app_harness(&cmu, dir.path(), egui::vec2(1200.0, 800.0));
    h.state_mut().set_review_panel(true);
    run_until(&mut h, "the session and its reads", |a| {
        a.review().reads().len() == 2 && a.slide_view().is_some()
    });
    h.get_by_label("Adjudicate case-1").click();
    run_until(&mut h, "the case", |a| {
        a.review().adjudication_overlay().len() == 2
            && a.annotations().is_loaded()
            && !a.is_opening()
    });
    h.get_by_label_contains("Dr Alpha (unassisted): Micrometastasis");
    h.get_by_label_contains("Dr Beta (unassisted): Macrometastasis");
    let overlay = h.state().review().adjudication_overlay();
    assert_eq!(overlay.len(), 2, "both readers' outlines");
    assert_ne!(overlay[0].1, overlay[1].1, "in distinct colours");
    run_until(&mut h, "the tiles", |a| {
        a.slide_view()
            .is_some_and(|v| v.stats.complete() && v.stats.pending == 0)
    });
    let image = h.render().expect("render");
    let _ = image.save(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("adjudication.png"));

    // Dr Alpha's dwell: only readers with a view track offer one; it covers where they looked.
    assert!(h.query_by_label_contains("Dwell of Dr Beta").is_none());
    h.get_by_label("Dwell of Dr Alpha (unassisted)").click();
    run_until(&mut h, "the dwell map", |a| {
        a.analysis().dwell_key().is_some()
    });
    h.step();
    let dwelt = h.render().expect("render");
    let _ = dwelt.save(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dwell.png"));
    let (canvas, _) = h.state().layout();
    let canvas = canvas.expect("canvas");
    let view = h.state().slide_view().expect("slide").view;
    let at = |img: &image::RgbaImage, x: f64, y: f64| {
        let s = view.screen_from_slide([x, y]);
        let p = canvas.min + egui::vec2(s[0] as f32, s[1] as f32);
        *img.get_pixel(p.x as u32, p.y as u32)
    };
    // Looked at closely: changed; the bottom-right quarter, seen only at 2x: untouched.
    assert_ne!(
        at(&image, 300.0, 400.0),
        at(&dwelt, 300.0, 400.0),
        "dwelt corner drawn"
    );
    assert_ne!(
        at(&image, 800.0, 1100.0),
        at(&dwelt, 800.0, 1100.0),
        "dwelt quarter drawn"
    );
    assert_eq!(
        at(&image, 1800.0, 2500.0),
        at(&dwelt, 1800.0, 2500.0),
        "never looked at closely: no overlay"
    );
    h.get_by_label("Dwell of Dr Alpha (unassisted)").click();
    run_until(&mut h, "the dwell map gone", |a| {
        a.analysis().dwell_key().is_none()
    });

    h.get_by_label("Macrometastasis").click();
    h.step();
    h.get_by_label("Record consensus").click();
    run_until(&mut h, "the consensus", |a| {
        a.review().all_saved()
            && a.review()
                .reads()
                .iter()
                .any(|r| r.reader_id == "consensus")
    });
    let stored: Vec<Read> = Store::in_data_dir(dir.path())
        .expect("store")
        .reads(&session.id)
        .expect("reads")
        .into_iter()
        .filter(|r| r.reader_id == sentinel::review::session::CONSENSUS)
        .collect();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].submitted);
    assert_eq!(
        stored[0].assessment.as_ref().map(|a| a.category),
        Some(Category::MACRO)
    );
}

#[test]
fn bundles_import_from_the_panel_and_damaged_ones_are_refused() {
    let data = common::shared_data();
    let cmu = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let session = Session {
        id: "from-elsewhere".into(),
        name: "Imported".into(),
        cases: vec![CaseRef {
            id: "case-1".into(),
            path: cmu.clone(),
            slide_key: "k".into(),
            truth: None,
        }],
        readers: vec![Reader {
            id: "a".into(),
            name: "Dr Alpha".into(),
            initials: "DA".into(),
            arms: vec![Arm::Unassisted],
        }],
        seed: 1,
        questions: Default::default(),
        washout_days: 0,
        counterbalance: false,
        blinded: false,
        owner: String::new(),
        unblinded_at: None,
    };
    let mut r = Read::new("case-1", "a", Arm::Unassisted);
    r.answer(Assessment {
        category: Category::ITC,
        largest_mm: Some(0.1),
        confidence: 2,
        notes: String::new(),
        answers: Default::default(),
    })
    .expect("open");
    r.submit().expect("complete");
    let text = sentinel::review::bundle::write(&session, &[r], Vec::new());
    let mut h = common::app_harness(&cmu, dir.path(), egui::vec2(1200.0, 800.0));
    h.state_mut().set_review_panel(true);
    run_until(&mut h, "the sessions", |a| a.review().is_loaded());
    let tampered = text.replace("\"category\":1", "\"category\":3");
    assert_ne!(tampered, text, "the edit changes the answer");
    h.state_mut().review_mut().import_text(tampered);
    run_until(&mut h, "the refusal", |a| a.review().error().is_some());
    assert!(
        h.state()
            .review()
            .error()
            .is_some_and(|e| e.contains("checksum"))
    );
    assert!(h.state().review().sessions().is_empty(), "nothing merged");
    h.state_mut().review_mut().import_text(text);
    run_until(&mut h, "the session", |a| {
        !a.review().sessions().is_empty() && a.review().reads().len() == 1
    });
    h.get_by_label_contains("Imported: 1 read(s) added");
}

#[test]
fn a_session_made_in_the_panel_can_be_read_at_once() {
    let data = common::shared_data();
    let cmu = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = common::app_harness(&cmu, dir.path(), egui::vec2(1200.0, 800.0));
    h.state_mut().set_review_panel(true);
    run_until(&mut h, "the (empty) session list", |a| {
        a.review().is_loaded()
    });
    h.get_by_label_contains("No review sessions yet");
    // A bad form is refused with its reason; a good one is created, saved and selected.
    h.state_mut()
        .review_mut()
        .create_session("Pilot", "", vec![cmu.clone()], Default::default());
    run_until(&mut h, "the refusal", |a| a.review().error().is_some());
    assert!(
        h.state()
            .review()
            .error()
            .is_some_and(|e| e.contains("reader"))
    );
    h.get_by_label("Dismiss").click();
    h.run_steps(3);
    // A question set of its own: three grades, no size asked.
    let grades = sentinel::review::session::Questions {
        categories: ["benign", "atypical", "malignant"]
            .map(String::from)
            .to_vec(),
        positive_from: 2,
        size_mm: false,
        confidence: true,
        extra: Vec::new(),
    };
    // Washout and arm order, set in the form's widgets.
    h.get_by_label("New session").click();
    h.run_steps(2);
    h.get_by_label("Counterbalance arm order").click();
    h.get_by_label("washout").set_value_accesskit(21.0);
    h.run_steps(2);
    h.state_mut().review_mut().create_session(
        "Pilot",
        "Dr Alpha\nDr Beta: both",
        vec![cmu.clone()],
        grades.clone(),
    );
    run_until(&mut h, "the new session", |a| {
        a.review().sessions().len() == 1
    });
    let s = h.state().review().sessions()[0].clone();
    assert_eq!(s.questions, grades);
    assert_eq!((s.washout_days, s.counterbalance), (21, true));
    assert_eq!(s.readers.len(), 2);
    assert_eq!(s.readers[1].arms, [Arm::Unassisted, Arm::Assisted]);
    let slide = sentinel::slide::open(&cmu).expect("open");
    assert_eq!(s.cases[0].slide_key, slide.id().to_string());
    assert_eq!(
        Store::in_data_dir(dir.path())
            .expect("store")
            .review_sessions()
            .expect("list"),
        vec![s],
        "saved"
    );
    h.get_by_label("Start reading").click();
    run_until(&mut h, "the first case", |a| {
        a.review().current_case().is_some()
    });
    // The form asks this session's questions.
    h.get_by_label("malignant");
    assert!(h.query_by_label("Micrometastasis").is_none());
    assert!(h.query_by_label_contains("largest deposit").is_none());
}

/// A read belongs to its case's slide: while another slide is on screen (the case's is still
/// opening, is missing, or its recorded path now holds another slide) nothing is recorded and
/// Submit does nothing; the case's slide found in an added search folder binds the read.
#[test]
fn a_read_is_bound_to_its_case_slide_and_a_wrong_slide_is_refused() {
    let data = common::shared_data();
    let cmu = data.join("slides/CMU-1-Small-Region.svs");
    let synth = common::svs().path.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    // The case was recorded on the synthetic slide; its recorded path now holds CMU-1, and the
    // slide itself moved to another folder under the same name.
    let recorded = dir.path().join("slides/case.svs");
    let moved = dir.path().join("moved");
    std::fs::create_dir_all(recorded.parent().expect("dir")).expect("dir");
    std::fs::create_dir_all(&moved).expect("dir");
    std::fs::copy(&cmu, &recorded).expect("copy");
    std::fs::copy(&synth, moved.join("case.svs")).expect("copy");
    let synth_key = {
        let s = sentinel::slide::open(&synth).expect("open");
        s.id().to_string()
    };
    let session = Session {
        id: "bound".into(),
        name: "Bound reads".into(),
        cases: vec![CaseRef {
            id: "case-1".into(),
            path: recorded.clone(),
            slide_key: synth_key,
            truth: None,
        }],
        readers: vec![Reader {
            id: "a".into(),
            name: "Dr Alpha".into(),
            initials: "DA".into(),
            arms: vec![Arm::Unassisted],
        }],
        seed: 3,
        questions: Default::default(),
        washout_days: 0,
        counterbalance: false,
        blinded: false,
        owner: String::new(),
        unblinded_at: None,
    };
    Store::in_data_dir(dir.path())
        .expect("store")
        .save_review_session(&session)
        .expect("save");
    let mut h = common::app_harness(&cmu, dir.path(), egui::vec2(1200.0, 800.0));
    h.state_mut().set_review_panel(true);
    run_until(&mut h, "the sessions", |a| {
        a.review().is_loaded() && a.slide_view().is_some()
    });
    h.get_by_label("Start reading").click();
    h.step();
    assert!(
        h.state().review_binding().is_err(),
        "CMU-1 is on screen, not the case's slide"
    );
    run_until(&mut h, "the refusal", |a| {
        a.review_binding()
            .is_err_and(|e| e.contains("now holds another slide"))
    });
    assert!(
        h.state()
            .slide_view()
            .is_some_and(|v| v.slide.path() == cmu.as_path()),
        "the wrong slide was not opened as the case"
    );
    h.get_by_label("OK").click(); // the error dialog
    h.step();
    h.get_by_label("Micrometastasis").click();
    h.step();
    h.get_by_label("Submit").click();
    for _ in 0..5 {
        h.step();
    }
    assert!(
        !h.state().review().reads().iter().any(|r| r.submitted),
        "nothing submitted for a slide that is not the case's"
    );
    assert_eq!(h.state().review().view_track_len(), 0, "nothing recorded");

    h.state_mut().review_mut().add_search_folder(moved.clone());
    let found = moved.join("case.svs");
    run_until(&mut h, "the case's slide from the search folder", |a| {
        a.slide_view()
            .is_some_and(|v| v.slide.path() == found.as_path())
            && a.review_binding().is_ok()
    });
    for _ in 0..5 {
        h.step();
    }
    assert!(h.state().review().view_track_len() > 0, "now recorded");
    h.get_by_label("Submit").click();
    run_until(&mut h, "the submitted read", |a| {
        a.review().reads().iter().any(|r| r.submitted) && a.review().all_saved()
    });
}

/// Washout: a case this reader read in the other arm a day ago is not offered in a 14-day
/// washout; the panel says when it opens, and the next case is offered instead.
#[test]
fn a_case_read_in_the_other_arm_is_not_offered_before_the_washout_ends() {
    let data = common::shared_data();
    let cmu = data.join("slides/CMU-1-Small-Region.svs");
    let synth = common::svs().path.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let key = |p: &PathBuf| sentinel::slide::open(p).expect("open").id().to_string();
    let session = Session {
        id: "washout".into(),
        name: "Crossover".into(),
        cases: vec![
            CaseRef {
                id: "case-1".into(),
                path: cmu.clone(),
                slide_key: key(&cmu),
                truth: None,
            },
            CaseRef {
                id: "case-2".into(),
                path: synth.clone(),
                slide_key: key(&synth),
                truth: None,
            },
        ],
        readers: vec![Reader {
            id: "a".into(),
            name: "Dr Alpha".into(),
            initials: "DA".into(),
            arms: vec![Arm::Unassisted, Arm::Assisted],
        }],
        seed: 5,
        questions: Default::default(),
        washout_days: 14,
        counterbalance: false,
        blinded: false,
        owner: String::new(),
        unblinded_at: None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    {
        let mut store = Store::in_data_dir(dir.path()).expect("store");
        store.save_review_session(&session).expect("save");
        // Case 1, AI-assisted, submitted a day ago.
        let mut r = Read::new("case-1", "a", Arm::Assisted);
        r.answer(Assessment {
            category: Category::MICRO,
            largest_mm: None,
            confidence: 4,
            notes: String::new(),
            answers: Default::default(),
        })
        .expect("open");
        r.submit_at(now - 86_400).expect("submit");
        store.save_read(&session.id, &r).expect("save");
    }
    let mut h = common::app_harness(&synth, dir.path(), egui::vec2(1200.0, 800.0));
    h.state_mut().set_review_panel(true);
    run_until(&mut h, "the session", |a| {
        a.review().is_loaded() && a.slide_view().is_some() && !a.review().reads().is_empty()
    });
    // The reader's arms: unassisted is selected first (the order given).
    h.get_by_label("Start reading").click();
    run_until(&mut h, "a case", |a| a.review().current_case().is_some());
    assert_eq!(
        h.state().review().current_case().map(|c| c.1.to_owned()),
        Some("case-2".to_owned()),
        "case 1 is in its washout"
    );
    let order = sentinel::review::session::reading_order(&session, "a");
    let number = order
        .iter()
        .position(|&i| i == 0)
        .expect("case 1 in the order")
        + 1;
    let opens = sentinel::review::washout::utc(now - 86_400 + 14 * 86_400);
    let line = format!("Case {number} opens on {opens} (washout since its other arm)");
    assert_eq!(h.state().review().held_back(), std::slice::from_ref(&line));
    h.step();
    assert!(
        h.query_by_label(&line).is_some(),
        "the panel says when it opens"
    );
}

/// Further questions: each kind has its widget, a wrong answer is refused with the reason, and a
/// submitted read keeps every answer, written to the reads CSV and the report.
#[test]
fn every_question_kind_is_answered_saved_and_exported() {
    use egui::Key;
    use egui_kittest::kittest::NodeT as _;
    use sentinel::annotate::Shape;
    use sentinel::review::questions::{Answer, parse_lines};

    let data = common::shared_data();
    let cmu = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let extra = parse_lines(
        "yes/no: Lymphovascular invasion?\n\
         number 0..100 %: Tumour cellularity\n\
         choice Low | Intermediate | High: Grade\n\
         multiple Capsular | Extranodal | Sinus: Involvement\n\
         text: Comments\n\
         region polygon: Outline the largest deposit\n\
         region point: Mark the most suspicious focus",
    )
    .expect("valid");
    let questions = sentinel::review::session::Questions {
        extra,
        ..Default::default()
    };
    let session = Session {
        questions,
        ..one_case_session("questions", &cmu)
    };
    Store::in_data_dir(dir.path())
        .expect("store")
        .save_review_session(&session)
        .expect("save");
    let mut h = common::app_harness(&cmu, dir.path(), egui::vec2(1200.0, 1300.0));
    h.state_mut().set_review_panel(true);
    run_until(&mut h, "the sessions", |a| a.review().is_loaded());
    h.get_by_label("Start reading").click();
    run_until(&mut h, "the case", |a| {
        a.review_binding().is_ok() && a.slide_view().is_some_and(|v| v.stats.complete())
    });
    // Nothing drawn yet: the region answers cannot be taken.
    assert!(
        h.get_by_label("Use the last drawn polygon")
            .accesskit_node()
            .is_disabled(),
        "nothing to take before drawing"
    );
    // Draw a polygon (G, three clicks, Enter) and a point (., one click) on the slide.
    let canvas = h.state().layout().0.expect("canvas");
    let c = canvas.center();
    h.key_press(Key::G);
    h.run_steps(2);
    for d in [
        egui::vec2(-100.0, -60.0),
        egui::vec2(80.0, -50.0),
        egui::vec2(0.0, 90.0),
    ] {
        common::click(&mut h, c + d);
    }
    h.key_press(Key::Enter);
    h.run_steps(2);
    h.key_press(Key::Period);
    h.run_steps(2);
    common::click(&mut h, c + egui::vec2(150.0, 120.0));
    h.key_press(Key::Enter);
    h.run_steps(2);
    assert_eq!(h.state().annotations().document().items().len(), 2, "drawn");

    h.get_by_label("Micrometastasis").click();
    h.get_by_label("yes").click();
    h.get_by_label("Tumour cellularity").focus();
    h.run_steps(1);
    h.get_by_label("Tumour cellularity").type_text("150");
    h.get_by_label("High").click();
    h.get_by_label("Capsular").click();
    h.get_by_label("Sinus").click();
    h.get_by_label("Comments").focus();
    h.run_steps(1);
    h.get_by_label("Comments").type_text("subcapsular deposit");
    h.run_steps(2);
    h.get_by_label("Use the last drawn polygon").click();
    h.get_by_label("Use the last drawn point").click();
    h.run_steps(2);
    h.get_by_label_contains("area set (3 vertices)");
    h.get_by_label_contains("1 point(s) set");
    // The form as a reader sees it (written for people; nothing is compared).
    if let Ok(img) = h.render() {
        let _ =
            img.save(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("questions-form.png"));
    }
    // Out of range: refused, naming the question; nothing is stored.
    h.get_by_label("Submit").click();
    h.run_steps(2);
    assert!(
        h.state()
            .review()
            .error()
            .is_some_and(|e| e.contains("Tumour cellularity") && e.contains("outside 0..100")),
        "{:?}",
        h.state().review().error()
    );
    assert!(!h.state().review().reads().iter().any(|r| r.submitted));
    h.get_by_label("Dismiss").click();
    h.run_steps(2);
    h.get_by_label("Tumour cellularity")
        .set_text_value_accesskit("55");
    h.run_steps(2);
    h.get_by_label("Submit").click();
    run_until(&mut h, "the submitted read", |a| {
        a.review().reads().iter().any(|r| r.submitted) && a.review().all_saved()
    });

    let store = Store::in_data_dir(dir.path()).expect("store");
    let reads = store.reads(&session.id).expect("reads");
    let answers = &reads[0].assessment.as_ref().expect("answered").answers;
    assert_eq!(answers["q1"], Answer::YesNo(true));
    assert_eq!(answers["q2"], Answer::Number(55.0));
    assert_eq!(answers["q3"], Answer::Choice("High".into()));
    assert_eq!(
        answers["q4"],
        Answer::Choices(vec!["Capsular".into(), "Sinus".into()])
    );
    assert_eq!(answers["q5"], Answer::Text("subcapsular deposit".into()));
    let drawn = h.state().annotations().document().items().to_vec();
    assert_eq!(answers["q6"], Answer::Region(drawn[0].shape.clone()));
    assert!(
        matches!(&answers["q7"], Answer::Region(Shape::Points { points }) if points.len() == 1)
    );

    let csv = sentinel::review::report::reads_csv(&session, &reads);
    let mut lines = csv.lines();
    let head = lines.next().expect("header");
    assert!(
        head.ends_with(
            ",Lymphovascular invasion?,Tumour cellularity (%),Grade,Involvement,Comments,\
             Outline the largest deposit,Mark the most suspicious focus"
        ),
        "{head}"
    );
    let row = lines.next().expect("row");
    assert!(
        row.contains(",yes,55,High,Capsular; Sinus,subcapsular deposit,\"{\"\"coordinates\"\""),
        "{row}"
    );
    let report = sentinel::review::report::build(&session, &reads, &Default::default());
    let html = sentinel::review::report::html(&report, &[], &Default::default());
    for needle in [
        "<h2>Further questions</h2>",
        "<h3>Lymphovascular invasion?</h3>",
        "unassisted: yes in 1 of 1 (100%)",
        "median 55 %",
        "Low: 0, Intermediate: 0, High: 1",
        "<th>a<br>unassisted</th>",
        "<td>3 vertices</td>",
    ] {
        assert!(html.contains(needle), "{needle} is not in the report");
    }
}

/// A blinded session says so in the panel; only its owner can unblind it, and the unblinding is
/// saved.
#[test]
fn only_the_owner_unblinds_a_session() {
    use egui_kittest::kittest::NodeT as _;
    let data = common::shared_data();
    let cmu = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut session = Session {
        blinded: true,
        owner: "someone-else".into(),
        ..one_case_session("blind", &cmu)
    };
    let mut store = Store::in_data_dir(dir.path()).expect("store");
    store.save_review_session(&session).expect("save");
    let mut h = common::app_harness(&cmu, dir.path(), egui::vec2(1200.0, 900.0));
    h.state_mut().set_review_panel(true);
    run_until(&mut h, "the sessions", |a| a.review().is_loaded());
    h.get_by_label_contains("Blinded: slide file names");
    assert!(
        h.get_by_label("Unblind session")
            .accesskit_node()
            .is_disabled(),
        "another account cannot unblind"
    );
    drop(h);

    session.owner = sentinel::review::session::current_user();
    store.save_review_session(&session).expect("save");
    let mut h = common::app_harness(&cmu, dir.path(), egui::vec2(1200.0, 900.0));
    h.state_mut().set_review_panel(true);
    run_until(&mut h, "the sessions", |a| a.review().is_loaded());
    h.get_by_label("Unblind session").click();
    run_until(&mut h, "the unblinding saved", |a| {
        a.review().all_saved() && a.review().sessions().iter().all(|s| !s.masked())
    });
    let saved = store.review_session("blind").expect("read").expect("there");
    assert!(saved.unblinded_at.is_some() && !saved.masked());
    // The frame that took the saved session may have drawn the panel before it did: one more.
    h.step();
    assert!(h.query_by_label("Unblind session").is_none());
}
