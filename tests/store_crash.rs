//! A killed process never loses an acknowledged edit: a child process saves annotations one
//! transaction at a time and prints an acknowledgement after each `Store::apply` returns; the
//! parent kills it (SIGKILL) at an arbitrary moment mid-stream, then reopens the database and finds
//! every acknowledged annotation, intact. Three rounds on the same database, so each also recovers
//! from the previous kill. (A custom harness: the child is this same binary run with `--child`.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use sentinel::annotate::{Annotation, Change, Shape};
use sentinel::store::Store;

const SLIDE_KEY: &str = "crash-test-slide";

fn child(db: &Path) {
    let mut store = Store::open(db).expect("open the store");
    let start = store.annotations(SLIDE_KEY).expect("load").len();
    for n in start.. {
        let x = n as f64 * 10.0;
        let mut a = Annotation::new(
            Shape::polygon(
                (0..200)
                    .map(|i| [x + f64::from(i), f64::from(i % 7)])
                    .collect(),
            ),
            Some("Tumor".into()),
        );
        a.name = format!("edit {n}");
        store
            .apply(
                SLIDE_KEY,
                Path::new("/slides/crash.svs"),
                &[Change::Upsert(a.clone())],
            )
            .expect("save");
        println!("ack {}", a.id);
    }
}

fn round(db: &Path, kill_after: usize) -> usize {
    let exe = std::env::current_exe().expect("this test binary");
    let mut proc = Command::new(exe)
        .arg("--child")
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let out = proc.stdout.take().expect("child stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(out).lines() {
        let line = line.expect("read the child");
        if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.to_owned());
        }
        if acked.len() == kill_after {
            proc.kill().expect("kill the child");
            break;
        }
    }
    let status = proc.wait().expect("reap the child");
    assert!(!status.success(), "the child was killed, not finished");
    let store = Store::open(db).expect("reopen after the kill");
    let saved = store.annotations(SLIDE_KEY).expect("every record readable");
    for id in &acked {
        let a = saved
            .iter()
            .find(|a| &a.id == id)
            .unwrap_or_else(|| panic!("acknowledged edit {id} was lost"));
        assert!(matches!(&a.shape, Shape::Area { polygons } if polygons[0][0].len() == 200));
    }
    saved.len()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("store_crash: test");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("sentinel.db");
    let mut total = 0;
    for (i, kill_after) in [57usize, 123, 200].into_iter().enumerate() {
        let before = total;
        total = round(&db, kill_after);
        assert!(total >= before + kill_after, "round {i}: {total} saved");
        println!(
            "round {i}: killed after {kill_after} acknowledged saves; {total} annotations on disk, none lost"
        );
    }
    println!("test store_crash ... ok");
}
