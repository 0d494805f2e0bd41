//! The store's tests: durability, damaged rows, concurrency, the store thread.

use super::thread::describe_changes;
use super::*;
use crate::annotate::Shape;
use crate::annotate::{Annotation, Change, default_classes};
use crate::review::session::Session;

fn spawn_named<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .expect("spawn")
}

fn rect(x: f64) -> Annotation {
    Annotation::new(Shape::rectangle([x, 0.0], [x + 5.0, 5.0]), None)
}

fn noop() -> std::sync::Arc<dyn Fn() + Send + Sync> {
    std::sync::Arc::new(|| {})
}

#[test]
fn a_damaged_row_is_skipped_and_reported_and_the_rest_stays_usable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::in_data_dir(dir.path()).expect("store");
    let session = |id: &str| Session {
        id: id.into(),
        name: format!("session {id}"),
        cases: Vec::new(),
        readers: Vec::new(),
        seed: 1,
        questions: Default::default(),
        washout_days: 0,
        counterbalance: false,
        blinded: false,
        owner: String::new(),
        unblinded_at: None,
    };
    store.save_review_session(&session("good")).expect("save");
    store
        .db
        .execute(
            "INSERT INTO review_sessions (id, json) VALUES ('bad', '{\"id\": 3')",
            [],
        )
        .expect("insert a damaged row");
    let sessions = store.review_sessions().expect("the store stays usable");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, "good");
    let skipped = store.take_skipped();
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].starts_with("review_sessions bad:"),
        "{skipped:?}"
    );
    // A merge into the good session still works with the damaged row present.
    let report = store.merge_review(&session("good"), &[]).expect("merge");
    assert_eq!(report.cases_added, 0);
}

/// An annotation row whose shape no tool makes (radii 1e18: the outline burner and the
/// coverage maths would loop over it) is skipped and reported like an unparsable one.
#[test]
fn an_annotation_row_with_an_impossible_shape_is_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::in_data_dir(dir.path()).expect("store");
    for (id, shape) in [
        ("ok", r#"{"kind":"rectangle","min":[0,0],"max":[5,5]}"#),
        (
            "huge",
            r#"{"kind":"ellipse","centre":[1,1],"radii":[1e18,1e18]}"#,
        ),
        ("empty", r#"{"kind":"area","polygons":[]}"#),
    ] {
        let json = format!(r#"{{"id":"{id}","shape":{shape},"class":null}}"#);
        store
            .db
            .execute(
                "INSERT INTO annotations (slide, id, seq, json) VALUES ('k', ?1, 0, ?2)",
                [id, json.as_str()],
            )
            .expect("insert");
    }
    let kept = store.annotations("k").expect("the store stays usable");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, "ok");
    let skipped = store.take_skipped();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped.iter().any(|s| s.contains("not within")),
        "{skipped:?}"
    );
}

/// Merges of the same session from two connections at once: each reads and writes inside
/// its own write transaction, so no merge overwrites another's additions.
#[test]
fn concurrent_merges_of_one_session_lose_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = Session {
        id: "s".into(),
        name: "shared".into(),
        cases: Vec::new(),
        readers: Vec::new(),
        seed: 1,
        questions: Default::default(),
        washout_days: 0,
        counterbalance: false,
        blinded: false,
        owner: String::new(),
        unblinded_at: None,
    };
    Store::in_data_dir(dir.path())
        .expect("store")
        .save_review_session(&base)
        .expect("save");
    let threads: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|who| {
            let (dir, base) = (dir.path().to_path_buf(), base.clone());
            spawn_named(format!("merge-{who}"), move || {
                let mut store = Store::in_data_dir(&dir).expect("store");
                for i in 0..300 {
                    let mut s = base.clone();
                    s.readers = vec![crate::review::session::Reader::new(
                        &format!("{who}{i}"),
                        &format!("Reader {who}{i}"),
                        vec![crate::review::session::Arm::Unassisted],
                    )];
                    store.merge_review(&s, &[]).expect("merge");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let store = Store::in_data_dir(dir.path()).expect("store");
    let merged = store.review_session("s").expect("read").expect("session");
    assert_eq!(
        merged.readers.len(),
        600,
        "every reader of both workstations"
    );
}

/// Annotations an earlier release stored under `path:<path>` (slides without a quickhash) are
/// adopted by the slide's identity once, and never into a key that has its own.
#[test]
fn legacy_path_keys_are_adopted_by_the_identity() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::in_data_dir(dir.path()).expect("store");
    let p = Path::new("/slides/scan.tiff");
    store
        .apply(
            "path:/slides/scan.tiff",
            p,
            &[Change::Upsert(rect(1.0)), Change::Upsert(rect(2.0))],
        )
        .expect("old");
    assert_eq!(
        store
            .adopt_legacy("content1:ab", "path:/slides/scan.tiff")
            .expect("adopt"),
        2
    );
    assert_eq!(store.annotations("content1:ab").expect("read").len(), 2);
    assert!(
        store
            .annotations("path:/slides/scan.tiff")
            .expect("read")
            .is_empty()
    );
    store
        .apply("path:/slides/scan.tiff", p, &[Change::Upsert(rect(3.0))])
        .expect("old again");
    assert_eq!(
        store
            .adopt_legacy("content1:ab", "path:/slides/scan.tiff")
            .expect("adopt"),
        0
    );
    assert_eq!(store.annotations("content1:ab").expect("read").len(), 2);
}

#[cfg(unix)]
#[test]
fn a_new_store_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("sentinel-data");
    let mut store = Store::in_data_dir(&data).expect("store");
    store
        .apply("k", Path::new("/s.svs"), &[Change::Upsert(rect(0.0))])
        .expect("write, so the WAL exists");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("sentinel.db")), 0o600, "the database");
    let wal = data.join("sentinel.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600, "its write-ahead log");
    }
}

#[test]
fn store_thread_is_joined_with_every_queued_change_on_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut t = StoreThread::start(dir.path().to_path_buf(), noop());
    let path = dir.path().join("s.svs");
    for i in 0..300 {
        t.apply("k", &path, vec![Change::Upsert(rect(f64::from(i)))]);
    }
    // Exit right after queueing: shutdown waits for the queue, bounded.
    t.shutdown(std::time::Duration::from_secs(60))
        .expect("joined in time");
    let store = Store::in_data_dir(dir.path()).expect("reopen");
    assert_eq!(store.annotations("k").expect("read").len(), 300);
    // Nothing runs any more: a late change is answered as not saved, never left pending.
    t.apply("k", &path, vec![Change::Upsert(rect(1e4))]);
    let events = t.poll();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StoreEvent::SaveFailed { seq: 301, .. })),
        "{events:?}"
    );
    assert_eq!(t.pending(), 0);
}

#[test]
fn a_change_that_cannot_be_saved_is_named_not_left_saving() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The data directory is a file: the store cannot open, its thread ends.
    let data = dir.path().join("not-a-dir");
    std::fs::write(&data, b"x").expect("write");
    let mut t = StoreThread::start(data, noop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !t.poll().iter().any(|e| matches!(e, StoreEvent::Failed(_))) {
        assert!(std::time::Instant::now() < deadline, "no failure reported");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // The thread is gone once it has reported; give it the moment to drop its receiver.
    std::thread::sleep(std::time::Duration::from_millis(50));
    t.apply(
        "k",
        Path::new("/slides/a.svs"),
        vec![Change::Upsert(rect(0.0))],
    );
    let events = t.poll();
    let message = events
        .iter()
        .find_map(|e| match e {
            StoreEvent::SaveFailed { seq: 1, message } => Some(message.clone()),
            _ => None,
        })
        .expect("the failed change is reported");
    assert!(message.contains("change 1"), "{message}");
    assert_eq!(t.pending(), 0, "nothing left \"Saving…\"");
    assert!(!t.all_saved());
    assert_eq!(t.failed(), 1);
}

#[test]
fn failed_changes_name_what_they_were() {
    let d = describe_changes(
        &[
            Change::Upsert(rect(0.0)),
            Change::Upsert(rect(1.0)),
            Change::Delete("x".into()),
        ],
        Path::new("/s/a.svs"),
    );
    assert_eq!(d, "2 annotation(s) saved, 1 deleted on /s/a.svs");
}

#[test]
fn changes_persist_in_order_across_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("sentinel.db");
    let (a, b, c) = (rect(0.0), rect(10.0), rect(20.0));
    {
        let mut s = Store::open(&db).expect("open");
        assert_eq!(s.classes().expect("classes"), default_classes());
        let slide = Path::new("/slides/x.svs");
        s.apply(
            "k1",
            slide,
            &[Change::Upsert(a.clone()), Change::Upsert(b.clone())],
        )
        .expect("save");
        s.apply(
            "k1",
            slide,
            &[Change::Upsert(c.clone()), Change::Delete(a.id.clone())],
        )
        .expect("save");
        let mut b2 = b.clone();
        b2.name = "renamed".into();
        s.apply("k1", slide, &[Change::Upsert(b2)]).expect("save");
        s.apply("k2", slide, &[Change::Upsert(a.clone())])
            .expect("save");
        let mut classes = default_classes();
        classes.truncate(2);
        s.apply("k1", slide, &[Change::Classes(classes)])
            .expect("save");
    }
    let s = Store::open(&db).expect("reopen");
    let k1 = s.annotations("k1").expect("load");
    assert_eq!(k1.iter().map(|x| &x.id).collect::<Vec<_>>(), [&b.id, &c.id]);
    assert_eq!(
        k1[0].name, "renamed",
        "an edit keeps its place in the order"
    );
    assert_eq!(s.annotations("k2").expect("load"), vec![a]);
    assert_eq!(s.classes().expect("classes").len(), 2);
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("sentinel.db");
    std::fs::write(
        &db,
        b"this is not SQLite, just some text long enough to have a header....",
    )
    .expect("write");
    let e = Store::open(&db).err().expect("refused");
    assert!(e.to_string().contains("sentinel.db"), "{e}");
    assert!(e.to_string().contains("not a database"), "{e}");
}

#[test]
fn connections_opening_and_writing_at_once_all_succeed() {
    // The GUI opens one connection per panel at start-up; before schema set-up waited for
    // the write lock, the second one failed with "database is locked".
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("sentinel.db");
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let db = db.clone();
            spawn_named(format!("writer-{i}"), move || {
                let mut s = Store::open(&db)?;
                for k in 0..20 {
                    let a = rect(f64::from(i * 100 + k));
                    s.apply("k", Path::new("/x.svs"), &[Change::Upsert(a)])?;
                }
                Ok::<(), StoreError>(())
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread").expect("open and write");
    }
    let s = Store::open(&db).expect("open");
    assert_eq!(s.annotations("k").expect("load").len(), 120);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("sentinel.db");
    Connection::open(&db)
        .and_then(|c| c.pragma_update(None, "user_version", 99))
        .expect("prepare");
    assert!(matches!(
        Store::open(&db),
        Err(StoreError::Newer { found: 99, .. })
    ));
}

/// The app runs one store thread: the annotation and review panels are clients of it, each with
/// its own events and acknowledgements; the last client to shut down joins the thread.
#[test]
fn two_clients_share_one_store_thread_and_each_gets_its_own_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut annotations = StoreThread::start(dir.path().to_path_buf(), noop());
    let mut review = annotations.connect(noop());
    let path = dir.path().join("s.svs");
    for i in 0..20 {
        annotations.apply("k", &path, vec![Change::Upsert(rect(f64::from(i)))]);
    }
    review.load_review(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (mut review_events, mut annotation_events) = (Vec::new(), Vec::new());
    while annotations.pending() > 0 || review_events.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no answers");
        annotation_events.extend(annotations.poll());
        review_events.extend(review.poll());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(annotations.all_saved());
    assert!(
        review_events
            .iter()
            .all(|e| matches!(e, StoreEvent::Review { .. })),
        "the review client sees only its own answers: {review_events:?}"
    );
    assert!(
        annotation_events
            .iter()
            .all(|e| matches!(e, StoreEvent::Saved { .. })),
        "{annotation_events:?}"
    );
    assert_eq!(review.pending(), 0);
    // The first client out leaves the thread running for the other.
    annotations
        .shutdown(std::time::Duration::from_secs(20))
        .expect("first");
    review.save_read(
        "no-such-session",
        crate::review::session::Read::new("c", "r", crate::review::session::Arm::Unassisted),
    );
    review
        .shutdown(std::time::Duration::from_secs(20))
        .expect("last, joined");
    assert_eq!(
        review.pending(),
        0,
        "its change was answered before it let go"
    );
    let store = Store::in_data_dir(dir.path()).expect("reopen");
    assert_eq!(store.annotations("k").expect("read").len(), 20);
}

/// A client connected after the store failed to open says why, at once.
#[test]
fn a_client_of_a_store_that_failed_reports_the_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("not-a-dir");
    std::fs::write(&data, b"x").expect("write");
    let mut first = StoreThread::start(data, noop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !first
        .poll()
        .iter()
        .any(|e| matches!(e, StoreEvent::Failed(_)))
    {
        assert!(std::time::Instant::now() < deadline, "no failure reported");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut second = first.connect(noop());
    let events = second.poll();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StoreEvent::Failed(m) if m.contains("cannot be saved"))),
        "{events:?}"
    );
}
