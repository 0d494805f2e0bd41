//! `sentinel review`: second-reader sessions from the command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use sentinel::slide;

#[derive(Subcommand)]
pub enum ReviewCmd {
    /// Create a session over SLIDES.
    New {
        #[arg(long)]
        name: String,
        /// A reader as ID:NAME[:ARMS], ARMS = unassisted, assisted or both (default unassisted).
        #[arg(long = "reader", required = true)]
        readers: Vec<String>,
        /// Seed of the readers' case orders (default: from the clock, and recorded).
        #[arg(long)]
        seed: Option<u64>,
        /// Answer categories, least to most severe (default: the sentinel-node set: None,
        /// isolated tumour cells, micrometastasis, macrometastasis).
        #[arg(long, value_delimiter = ',')]
        categories: Vec<String>,
        /// 1-based number of the first positive category (with --categories).
        #[arg(long, default_value_t = 2)]
        positive_from: u8,
        /// Do not ask for the largest deposit's size.
        #[arg(long)]
        no_size: bool,
        /// Do not ask for confidence.
        #[arg(long)]
        no_confidence: bool,
        /// Days a reader waits between their two arms of the same case.
        #[arg(long, default_value_t = 0)]
        washout_days: u32,
        /// Half the readers of both arms start unassisted, half assisted (split by the seed).
        #[arg(long)]
        counterbalance: bool,
        /// A further question, e.g. "yes/no: Necrosis?", "number 0..100 %: Tumour cellularity",
        /// "choice Low | High: Grade", "multiple A | B: Patterns", "text: Comments",
        /// "region polygon: Outline the largest deposit" (repeat for more; prefix "optional").
        #[arg(long = "question")]
        questions: Vec<String>,
        /// Show slide file names in bundles and the report, and readers' names in bundles, from
        /// the start (by default they are hidden until the owner runs `review unblind`).
        #[arg(long)]
        unblinded: bool,
        #[arg(required = true)]
        slides: Vec<PathBuf>,
    },
    /// The sessions in the data directory.
    List,
    /// Write a session (or one reader's reads) as one bundle file.
    Export {
        session: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        reader: Option<String>,
    },
    /// Merge a bundle from another workstation.
    Import { bundle: PathBuf },
    /// Unblind a session (its owner only): slide file names appear in bundles and the report,
    /// and readers' names in bundles, from now on.
    Unblind { session: String },
    /// CSV (all reads, and iMRMC's long format) and an HTML report.
    Report {
        session: String,
        #[arg(long)]
        out: PathBuf,
        /// Folders to look in for slides that moved.
        #[arg(long)]
        search: Vec<PathBuf>,
    },
}

pub fn run(cmd: ReviewCmd) -> anyhow::Result<()> {
    use sentinel::review::{bundle, materials, report, session};
    use sentinel::store::Store;

    let data_dir = sentinel::paths::data_dir();
    let mut store = Store::in_data_dir(&data_dir)?;
    let find = |store: &Store, id: &str| -> anyhow::Result<session::Session> {
        store
            .review_session(id)?
            .ok_or_else(|| anyhow::anyhow!("no review session {id} in {}", data_dir.display()))
    };
    match cmd {
        ReviewCmd::New {
            name,
            readers,
            seed,
            categories,
            positive_from,
            no_size,
            no_confidence,
            washout_days,
            counterbalance,
            questions: further,
            unblinded,
            slides,
        } => {
            let mut questions = session::Questions::default();
            if !categories.is_empty() {
                questions.categories = categories.iter().map(|c| c.trim().to_owned()).collect();
                questions.positive_from = positive_from.saturating_sub(1);
            }
            questions.size_mm &= !no_size;
            questions.confidence &= !no_confidence;
            questions.extra = sentinel::review::questions::parse_lines(&further.join("\n"))
                .map_err(|e| anyhow::anyhow!("--question: {e}"))?;
            questions.validate().map_err(anyhow::Error::msg)?;
            let readers = readers
                .iter()
                .map(|spec| {
                    let parts: Vec<&str> = spec.splitn(3, ':').collect();
                    let (id, name) = match parts.as_slice() {
                        [id, name, ..] if !id.is_empty() => (id.to_string(), name.to_string()),
                        _ => anyhow::bail!("--reader {spec}: expected ID:NAME[:ARMS]"),
                    };
                    let arms_text = parts.get(2).copied().unwrap_or("unassisted");
                    let arms = session::Arm::parse_set(arms_text).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--reader {spec}: arms \"{arms_text}\" (unassisted, assisted or both)"
                        )
                    })?;
                    Ok(session::Reader::new(&id, &name, arms))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut cases = Vec::new();
            for (i, path) in slides.iter().enumerate() {
                let s = slide::open(path)?;
                cases.push(session::CaseRef {
                    id: format!("case-{:03}", i + 1),
                    path: std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
                    slide_key: s.id().to_string(),
                    truth: None,
                });
            }
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            });
            let s = session::Session {
                id: sentinel::annotate::document::new_id(),
                name,
                cases,
                readers,
                seed,
                questions,
                washout_days,
                counterbalance,
                blinded: !unblinded,
                owner: session::current_user(),
                unblinded_at: None,
            };
            store.save_review_session(&s)?;
            println!(
                "session {} \"{}\": {} case(s), {} reader(s), order seed {}",
                s.id,
                s.name,
                s.cases.len(),
                s.readers.len(),
                s.seed
            );
        }
        ReviewCmd::List => {
            for s in store.review_sessions()? {
                let reads = store.reads(&s.id)?;
                let submitted = session::latest(&reads)
                    .iter()
                    .filter(|r| r.submitted)
                    .count();
                println!(
                    "{}  {}  {} case(s), {} reader(s), {} submitted read(s)",
                    s.id,
                    s.name,
                    s.cases.len(),
                    s.readers.len(),
                    submitted
                );
            }
        }
        ReviewCmd::Export {
            session: id,
            out,
            reader,
        } => {
            let s = find(&store, &id)?;
            let reads: Vec<session::Read> = store
                .reads(&id)?
                .into_iter()
                .filter(|r| reader.as_ref().is_none_or(|x| &r.reader_id == x))
                .collect();
            let text = bundle::write(&s, &reads, Vec::new());
            sentinel::fsutil::write_atomic(&out, text.as_bytes())
                .with_context(|| out.display().to_string())?;
            println!("{}: {} read(s)", out.display(), reads.len());
        }
        ReviewCmd::Unblind { session: id } => {
            let mut s = find(&store, &id)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            s.unblind(&session::current_user(), now)
                .with_context(|| format!("session {id}"))?;
            store.save_review_session(&s)?;
            println!("session {} \"{}\" is unblinded", s.id, s.name);
        }
        ReviewCmd::Import { bundle: path } => {
            let text =
                std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
            let r = sentinel::store::import_bundle(&mut store, &data_dir, &text)
                .with_context(|| path.display().to_string())?;
            println!(
                "{}: {} read(s) added, {} already here, {} kept as new versions; {} case(s) and {} reader(s) added",
                path.display(),
                r.reads_added,
                r.reads_present,
                r.reads_renumbered,
                r.cases_added,
                r.readers_added
            );
        }
        ReviewCmd::Report {
            session: id,
            out,
            search,
        } => {
            let s = find(&store, &id)?;
            let reads = store.reads(&id)?;
            let latest: Vec<&session::Read> = session::latest(&reads)
                .into_iter()
                .filter(|r| r.submitted)
                .collect();
            let mut ai = std::collections::HashMap::new();
            let mut heatmaps = std::collections::HashMap::new();
            // The audit uses the stored analyses' own threshold (the model's operating point).
            let mut audit_threshold = sentinel::analysis::model::UNCALIBRATED_THRESHOLD;
            let mut thumbs = std::collections::HashMap::new();
            for c in &s.cases {
                let slide = match materials::open_case_slide(&c.path, &c.slide_key, &search, &c.id)
                {
                    Ok(s) => s,
                    Err(why) => {
                        eprintln!("{why} (use --search)");
                        continue;
                    }
                };
                if let Some(result) =
                    materials::stored_analysis(slide.as_ref(), &data_dir.join("analyses"))
                {
                    ai.insert(c.id.clone(), f64::from(result.summary.max));
                    audit_threshold = result.summary.threshold;
                    let mpp = slide.mpp().map_or(0.25, |m| m.0);
                    heatmaps.insert(c.id.clone(), (result.heatmap, mpp));
                }
                let of_case: Vec<&session::Read> = latest
                    .iter()
                    .copied()
                    .filter(|r| r.case_id == c.id)
                    .collect();
                let index = |r: &str| s.readers.iter().position(|x| x.id == r).unwrap_or(0);
                if let Some(png) = materials::thumbnail(slide.as_ref(), &of_case, index, 480) {
                    thumbs.insert(c.id.clone(), png);
                }
            }
            let rep = report::build(&s, &reads, &ai);
            std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
            for (name, text) in [
                ("reads.csv", report::reads_csv(&s, &reads)),
                ("imrmc.csv", report::imrmc_csv(&s, &reads)),
                (
                    "view-track.csv",
                    sentinel::review::behaviour::view_track_csv(&s, &reads),
                ),
                (
                    "report.html",
                    report::html(
                        &rep,
                        &report::coverage(&reads, &heatmaps, audit_threshold),
                        &thumbs,
                    ),
                ),
            ] {
                let p = out.join(name);
                sentinel::fsutil::write_atomic(&p, text.as_bytes())
                    .with_context(|| p.display().to_string())?;
                println!("{}", p.display());
            }
        }
    }
    Ok(())
}
