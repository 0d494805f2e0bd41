//! A review session and its reads: the case list, the question set, readers and their reading arms
//! (unassisted or AI-assisted), each reader's seeded case order, the assessment per case, locking
//! on submit with amendments as new versions, and blinding (what one reader may see of another).
//! Pure: the store persists these, the GUI drives them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::questions::{Answers, Question};
use crate::annotate::Annotation;

/// An answer category: an index into the session's [`Questions::categories`], which are ordered
/// (so agreement can be weighted). The default question set is the sentinel lymph node's: the
/// constants below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Category(pub u8);

impl Category {
    pub const NONE: Category = Category(0);
    /// Isolated tumour cells: ≤ 0.2 mm.
    pub const ITC: Category = Category(1);
    /// Micrometastasis: > 0.2 mm and ≤ 2 mm.
    pub const MICRO: Category = Category(2);
    /// Macrometastasis: > 2 mm.
    pub const MACRO: Category = Category(3);

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The sentinel-node category the largest deposit's size implies (a consistency hint).
    pub fn for_size_mm(mm: f64) -> Category {
        if mm > 2.0 {
            Category::MACRO
        } else if mm > 0.2 {
            Category::MICRO
        } else if mm > 0.0 {
            Category::ITC
        } else {
            Category::NONE
        }
    }
}

/// What readers are asked per case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Questions {
    /// Ordered answer categories, least to most severe.
    pub categories: Vec<String>,
    /// Categories at or after this index are "positive" (for the AI's AUC and iMRMC truth).
    pub positive_from: u8,
    /// Ask for the largest deposit in mm (measured with the ruler).
    pub size_mm: bool,
    /// Ask for confidence 1-5.
    pub confidence: bool,
    /// Further questions (yes/no, number, choices, text, region), asked after the category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Question>,
}

impl Default for Questions {
    /// Sentinel lymph node: None / ITC / micro / macrometastasis (micro and macro positive),
    /// largest deposit, confidence.
    fn default() -> Self {
        Self {
            categories: [
                "None",
                "Isolated tumour cells",
                "Micrometastasis",
                "Macrometastasis",
            ]
            .map(String::from)
            .to_vec(),
            positive_from: 2,
            size_mm: true,
            confidence: true,
            extra: Vec::new(),
        }
    }
}

impl Questions {
    pub fn all(&self) -> impl Iterator<Item = Category> + '_ {
        (0..self.categories.len()).map(|i| Category(i as u8))
    }

    pub fn label(&self, c: Category) -> &str {
        self.categories
            .get(c.index())
            .map_or("(unknown category)", String::as_str)
    }

    pub fn positive(&self, c: Category) -> bool {
        c.0 >= self.positive_from
    }

    /// Whether these are the sentinel-node questions (whose sizes imply categories).
    pub fn is_sentinel_node(&self) -> bool {
        self.categories == Questions::default().categories
    }

    /// Checks a custom set: at least two categories, at most 255, a positive boundary inside.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.categories.len();
        if !(2..=255).contains(&n) {
            return Err(format!("a question set needs 2 to 255 categories, not {n}"));
        }
        if self.categories.iter().any(|c| c.trim().is_empty()) {
            return Err("category names cannot be empty".into());
        }
        if usize::from(self.positive_from) >= n || self.positive_from == 0 {
            return Err(format!(
                "the first positive category must be one of categories 2 to {n}"
            ));
        }
        super::questions::validate_all(&self.extra)
    }
}

/// Reader id under which an adjudicated consensus is stored (a read like any other: versioned,
/// locked, exported in bundles; never part of the agreement statistics).
pub const CONSENSUS: &str = "consensus";

/// How a reader reads: without the heatmap, or with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Arm {
    Unassisted,
    Assisted,
}

impl Arm {
    /// The arms a reader reads in, as written on the command line and in the session form:
    /// `unassisted`, `assisted` or `both`.
    pub fn parse_set(s: &str) -> Option<Vec<Arm>> {
        match s {
            "unassisted" => Some(vec![Arm::Unassisted]),
            "assisted" => Some(vec![Arm::Assisted]),
            "both" => Some(vec![Arm::Unassisted, Arm::Assisted]),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Arm::Unassisted => "unassisted",
            Arm::Assisted => "AI-assisted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reader {
    pub id: String,
    pub name: String,
    pub initials: String,
    /// The arms this reader reads the case list in.
    pub arms: Vec<Arm>,
}

impl Reader {
    /// A reader with initials taken from the name's words.
    pub fn new(id: &str, name: &str, arms: Vec<Arm>) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            initials: name
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect(),
            arms,
        }
    }
}

/// A slide in the case list: by path and by identity, so a moved file is found again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRef {
    pub id: String,
    pub path: PathBuf,
    /// The slide's identity (as the annotation store keys it).
    pub slide_key: String,
    /// Reference standard where known (for the report's truth column).
    #[serde(default)]
    pub truth: Option<Category>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub name: String,
    pub cases: Vec<CaseRef>,
    pub readers: Vec<Reader>,
    /// Seed of every reader's case order (recorded, so the order can be reproduced).
    pub seed: u64,
    /// What is asked per case (the sentinel-node set unless the session says otherwise).
    #[serde(default)]
    pub questions: Questions,
    /// Days a reader waits between their two arms of the same case (0: none).
    #[serde(default)]
    pub washout_days: u32,
    /// Half the readers of both arms start unassisted, half assisted (split by `seed`).
    #[serde(default)]
    pub counterbalance: bool,
    /// Slide file names stay out of bundles and the report (case numbers instead), and readers'
    /// names out of bundles (reader numbers instead), until the owner unblinds the session.
    #[serde(default)]
    pub blinded: bool,
    /// Who may unblind (the account that created the session).
    #[serde(default)]
    pub owner: String,
    /// When the owner unblinded it (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unblinded_at: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UnblindError {
    #[error("this session is not blinded")]
    NotBlinded,
    #[error("this session was unblinded already")]
    Already,
    #[error("only the session's owner ({owner}) can unblind it, not {user}")]
    NotOwner { owner: String, user: String },
}

impl Session {
    /// Whether names are hidden now (blinded and not yet unblinded).
    pub fn masked(&self) -> bool {
        self.blinded && self.unblinded_at.is_none()
    }

    /// The session as it may leave the owner's workstation: while masked, each case's file is
    /// named by its case id (the extension kept, so the format shows; readers find the slide by
    /// its identity in the folders they search) and each reader is "Reader N". Ids, identities
    /// and everything else are kept, so reads merge back by id.
    pub fn shareable(&self) -> Session {
        let mut s = self.clone();
        if !self.masked() {
            return s;
        }
        for c in &mut s.cases {
            let ext = c.path.extension().map(|e| e.to_string_lossy().into_owned());
            c.path = PathBuf::from(match ext {
                Some(e) => format!("{}.{e}", c.id),
                None => c.id.clone(),
            });
        }
        for (i, r) in s.readers.iter_mut().enumerate() {
            r.name = format!("Reader {}", i + 1);
            r.initials = format!("R{}", i + 1);
        }
        s
    }

    /// How a case's slide is named in shared output: its file name, or "blinded" while masked.
    pub fn slide_name(&self, case: &CaseRef) -> String {
        if self.masked() {
            "blinded".into()
        } else {
            case.path.display().to_string()
        }
    }

    /// Unblinds the session as `user` at Unix time `at`: the owner only, once.
    pub fn unblind(&mut self, user: &str, at: i64) -> Result<(), UnblindError> {
        if !self.blinded {
            return Err(UnblindError::NotBlinded);
        }
        if self.unblinded_at.is_some() {
            return Err(UnblindError::Already);
        }
        if self.owner.is_empty() || self.owner != user {
            return Err(UnblindError::NotOwner {
                owner: self.owner.clone(),
                user: user.to_owned(),
            });
        }
        self.unblinded_at = Some(at);
        Ok(())
    }
}

/// The account this process runs as: a session's owner. `USER`, `LOGNAME` or (Windows)
/// `USERNAME`; where none is set (a service, a container), the account of the process's user id.
/// Found once: the review panel asks every frame, and the fallback reads `/etc/passwd`.
pub fn current_user() -> String {
    static USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    USER.get_or_init(|| {
        ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|u| !u.is_empty())
            .or_else(account_of_uid)
            .unwrap_or_default()
    })
    .clone()
}

#[cfg(unix)]
fn account_of_uid() -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let named = passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    });
    Some(named.unwrap_or_else(|| format!("uid {uid}")))
}

#[cfg(not(unix))]
fn account_of_uid() -> Option<String> {
    None
}

/// A new session over `slides` (path and identity key each) with `readers` given as
/// `Name[:unassisted|assisted|both]` lines; the id is a fresh UUID.
pub fn new_session(
    name: &str,
    readers: &str,
    slides: &[(PathBuf, String)],
    seed: u64,
    questions: Questions,
) -> Result<Session, String> {
    questions.validate()?;
    let name = name.trim();
    if name.is_empty() {
        return Err("the session needs a name".into());
    }
    if slides.is_empty() {
        return Err("the session needs at least one slide".into());
    }
    let mut list = Vec::new();
    for (i, line) in readers
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let (who, arms) = match line.rsplit_once(':') {
            Some((w, a)) => (w.trim(), a.trim()),
            None => (line, "unassisted"),
        };
        let arms = Arm::parse_set(arms).ok_or_else(|| {
            format!(
                "reader line {}: arms \"{arms}\" (unassisted, assisted or both)",
                i + 1
            )
        })?;
        list.push(Reader::new(&format!("reader-{}", i + 1), who, arms));
    }
    if list.is_empty() {
        return Err("the session needs at least one reader".into());
    }
    Ok(Session {
        id: crate::annotate::document::new_id(),
        name: name.to_owned(),
        cases: slides
            .iter()
            .enumerate()
            .map(|(i, (path, key))| CaseRef {
                id: format!("case-{:03}", i + 1),
                path: path.clone(),
                slide_key: key.clone(),
                truth: None,
            })
            .collect(),
        readers: list,
        seed,
        questions,
        washout_days: 0,
        counterbalance: false,
        blinded: true,
        owner: current_user(),
        unblinded_at: None,
    })
}

/// One reader's answer for one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub category: Category,
    /// Largest deposit in mm (measured with the ruler); none when there is none or not asked.
    pub largest_mm: Option<f64>,
    /// 1 (unsure) to 5 (certain); 0 where the question set does not ask.
    pub confidence: u8,
    #[serde(default)]
    pub notes: String,
    /// Answers to the session's further questions, by question id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub answers: Answers,
}

/// What was on screen for how long while reading: a level-0 rectangle at a magnification.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ViewSample {
    /// Seconds since the case was opened.
    pub t: f64,
    /// Seconds this view lasted.
    pub seconds: f64,
    pub rect: [f64; 4],
    pub magnification: f64,
}

/// One version of one reader's read of one case in one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Read {
    pub case_id: String,
    pub reader_id: String,
    pub arm: Arm,
    /// 1 for the first submission; an amendment is a new version, earlier ones are kept.
    pub version: u32,
    pub assessment: Option<Assessment>,
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    pub seconds_on_case: f64,
    #[serde(default)]
    pub view_track: Vec<ViewSample>,
    /// Submitted reads are locked.
    pub submitted: bool,
    /// When it was submitted (Unix seconds): washout is measured from it. Absent in reads made
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReadError {
    #[error("this read is submitted and locked; amend it to change it")]
    Locked,
    #[error("only a submitted read can be amended")]
    NotSubmitted,
    #[error("an assessment is needed before submitting")]
    Incomplete,
    #[error("confidence must be 1 to 5 (0: not asked), not {0}")]
    Confidence(u8),
}

impl Read {
    pub fn new(case_id: &str, reader_id: &str, arm: Arm) -> Self {
        Self {
            case_id: case_id.to_owned(),
            reader_id: reader_id.to_owned(),
            arm,
            version: 1,
            assessment: None,
            annotations: Vec::new(),
            seconds_on_case: 0.0,
            view_track: Vec::new(),
            submitted: false,
            submitted_at: None,
        }
    }

    /// Records the answer (an open read only).
    pub fn answer(&mut self, a: Assessment) -> Result<(), ReadError> {
        if self.submitted {
            return Err(ReadError::Locked);
        }
        if a.confidence > 5 {
            return Err(ReadError::Confidence(a.confidence));
        }
        self.assessment = Some(a);
        Ok(())
    }

    /// Locks the read.
    pub fn submit(&mut self) -> Result<(), ReadError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.submit_at(now)
    }

    /// [`Read::submit`] at Unix time `at`.
    pub fn submit_at(&mut self, at: i64) -> Result<(), ReadError> {
        if self.submitted {
            return Err(ReadError::Locked);
        }
        if self.assessment.is_none() {
            return Err(ReadError::Incomplete);
        }
        self.submitted = true;
        self.submitted_at = Some(at);
        Ok(())
    }

    /// An open copy of this submitted read as the next version (this one stays as history).
    pub fn amend(&self) -> Result<Read, ReadError> {
        if !self.submitted {
            return Err(ReadError::NotSubmitted);
        }
        Ok(Read {
            version: self.version + 1,
            submitted: false,
            submitted_at: None,
            ..self.clone()
        })
    }
}

/// The case order of `reader` in `session`: a Fisher-Yates shuffle seeded from the session's seed
/// and the reader's id, so every reader gets their own order and it can be reproduced.
pub fn reading_order(session: &Session, reader_id: &str) -> Vec<usize> {
    // FNV-1a of the reader id, mixed with the session seed.
    let h = reader_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = fastrand::Rng::with_seed(session.seed ^ h);
    let mut order: Vec<usize> = (0..session.cases.len()).collect();
    rng.shuffle(&mut order);
    order
}

/// The latest version of each (case, reader, arm) among `reads`.
pub fn latest(reads: &[Read]) -> Vec<&Read> {
    let mut out: Vec<&Read> = Vec::new();
    for r in reads {
        match out
            .iter_mut()
            .find(|o| o.case_id == r.case_id && o.reader_id == r.reader_id && o.arm == r.arm)
        {
            Some(o) if o.version < r.version => *o = r,
            Some(_) => {}
            None => out.push(r),
        }
    }
    out
}

/// What `reader` may see of the reads of `case`: their own, and another reader's only once both
/// have submitted this case (blinded by default).
pub fn visible_to<'a>(reads: &'a [Read], reader_id: &str, case_id: &str) -> Vec<&'a Read> {
    let of_case: Vec<&Read> = latest(reads)
        .into_iter()
        .filter(|r| r.case_id == case_id)
        .collect();
    let own_submitted = of_case
        .iter()
        .any(|r| r.reader_id == reader_id && r.submitted);
    of_case
        .into_iter()
        .filter(|r| r.reader_id == reader_id || (own_submitted && r.submitted))
        .collect()
}

/// Adds `dt` seconds of looking at `rect` at `magnification` (at `t` seconds into the case) to
/// `track`: the last sample grows while the view stays put (within a pixel, 1% of magnification);
/// a new view starts a new sample.
pub fn record_view(
    track: &mut Vec<ViewSample>,
    t: f64,
    dt: f64,
    rect: [f64; 4],
    magnification: f64,
) {
    if let Some(last) = track.last_mut() {
        let tol = ((rect[2] - rect[0]) / 1000.0).max(1.0);
        let same_place = last
            .rect
            .iter()
            .zip(rect)
            .all(|(a, b)| (a - b).abs() <= tol);
        let same_mag = (last.magnification - magnification).abs() <= 0.01 * magnification;
        if same_place && same_mag {
            last.seconds += dt;
            return;
        }
    }
    track.push(ViewSample {
        t,
        seconds: dt,
        rect,
        magnification,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(cases: usize) -> Session {
        Session {
            id: "s".into(),
            name: "SLN".into(),
            cases: (0..cases)
                .map(|i| CaseRef {
                    id: format!("c{i}"),
                    path: PathBuf::from(format!("/slides/{i}.svs")),
                    slide_key: format!("k{i}"),
                    truth: None,
                })
                .collect(),
            readers: Vec::new(),
            seed: 42,
            questions: Questions::default(),
            washout_days: 0,
            counterbalance: false,
            blinded: false,
            owner: String::new(),
            unblinded_at: None,
        }
    }

    fn answer(c: Category) -> Assessment {
        Assessment {
            category: c,
            largest_mm: None,
            confidence: 4,
            notes: String::new(),
            answers: Default::default(),
        }
    }

    #[test]
    fn each_reader_has_a_reproducible_order_of_all_cases() {
        let s = session(20);
        let a = reading_order(&s, "reader-a");
        let b = reading_order(&s, "reader-b");
        assert_eq!(a, reading_order(&s, "reader-a"), "reproducible");
        assert_ne!(a, b, "per reader");
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>(), "a permutation");
    }

    #[test]
    fn submitted_reads_lock_and_amendments_are_new_versions() {
        let mut r = Read::new("c0", "a", Arm::Unassisted);
        assert_eq!(r.submit(), Err(ReadError::Incomplete));
        assert_eq!(
            r.answer(Assessment {
                confidence: 9,
                ..answer(Category::MICRO)
            }),
            Err(ReadError::Confidence(9))
        );
        r.answer(answer(Category::MICRO)).expect("open");
        r.submit().expect("complete");
        assert_eq!(r.answer(answer(Category::MACRO)), Err(ReadError::Locked));
        let mut v2 = r.amend().expect("submitted");
        assert_eq!(v2.version, 2);
        v2.answer(answer(Category::MACRO))
            .expect("the amendment is open");
        let all = vec![r.clone(), v2.clone()];
        assert_eq!(latest(&all), vec![&v2]);
        assert_eq!(
            all[0].assessment.as_ref().map(|a| a.category),
            Some(Category::MICRO),
            "history kept"
        );
    }

    #[test]
    fn a_reader_sees_nothing_of_another_until_both_submitted() {
        let mut a = Read::new("c0", "a", Arm::Unassisted);
        a.answer(answer(Category::MACRO)).expect("open");
        a.submit().expect("complete");
        let mut b = Read::new("c0", "b", Arm::Unassisted);
        let reads = vec![a.clone(), b.clone()];
        let seen: Vec<&str> = visible_to(&reads, "b", "c0")
            .iter()
            .map(|r| r.reader_id.as_str())
            .collect();
        assert_eq!(seen, ["b"], "B sees nothing of A before submitting");
        b.answer(answer(Category::MICRO)).expect("open");
        let reads = vec![a.clone(), b.clone()];
        assert_eq!(
            visible_to(&reads, "b", "c0").len(),
            1,
            "answered is not submitted"
        );
        assert_eq!(
            visible_to(&reads, "a", "c0").len(),
            1,
            "A does not see B's open read"
        );
        b.submit().expect("complete");
        let reads = vec![a, b];
        assert_eq!(
            visible_to(&reads, "b", "c0").len(),
            2,
            "both submitted: unblinded"
        );
        assert_eq!(visible_to(&reads, "a", "c0").len(), 2);
        assert!(visible_to(&reads, "a", "c1").is_empty());
    }

    #[test]
    fn view_track_merges_a_still_view_and_splits_on_moves() {
        let mut track = Vec::new();
        let r = [0.0, 0.0, 1000.0, 800.0];
        record_view(&mut track, 0.0, 0.5, r, 10.0);
        record_view(&mut track, 0.5, 0.5, [0.4, 0.0, 1000.4, 800.0], 10.0);
        record_view(&mut track, 1.0, 0.25, [500.0, 0.0, 1500.0, 800.0], 10.0);
        record_view(&mut track, 1.25, 0.25, [500.0, 0.0, 1500.0, 800.0], 20.0);
        assert_eq!(track.len(), 3);
        assert!((track[0].seconds - 1.0).abs() < 1e-12);
        assert_eq!(track[2].magnification, 20.0);
    }

    #[test]
    fn sessions_from_the_form() {
        let slides = vec![(PathBuf::from("/s/a.svs"), "k1".to_owned())];
        let s = new_session(
            " Pilot ",
            "Dr Alpha\nDr Beta: both\n\n",
            &slides,
            9,
            Questions::default(),
        )
        .expect("valid");
        assert_eq!(s.name, "Pilot");
        assert_eq!(s.readers.len(), 2);
        assert_eq!(s.readers[0].arms, [Arm::Unassisted]);
        assert_eq!(s.readers[1].arms, [Arm::Unassisted, Arm::Assisted]);
        assert_eq!(s.readers[1].initials, "DB");
        assert_eq!(s.cases[0].id, "case-001");
        assert!(new_session("x", "Dr A: sometimes", &slides, 1, Questions::default()).is_err());
        assert!(new_session("x", "", &slides, 1, Questions::default()).is_err());
        assert!(new_session("", "Dr A", &slides, 1, Questions::default()).is_err());
        assert!(new_session("x", "Dr A", &[], 1, Questions::default()).is_err());
    }

    #[test]
    fn question_sets_label_order_and_validate() {
        let q = Questions::default();
        assert!(q.is_sentinel_node());
        assert_eq!(q.label(Category::MICRO), "Micrometastasis");
        assert!(q.positive(Category::MICRO) && !q.positive(Category::ITC));
        assert_eq!(q.all().count(), 4);
        let grades = Questions {
            categories: ["benign", "atypical", "suspicious", "malignant"]
                .map(String::from)
                .to_vec(),
            positive_from: 3,
            size_mm: false,
            confidence: true,
            extra: Vec::new(),
        };
        assert!(grades.validate().is_ok() && !grades.is_sentinel_node());
        assert!(grades.positive(Category(3)) && !grades.positive(Category(2)));
        let one = Questions {
            categories: vec!["only".into()],
            ..grades.clone()
        };
        assert!(one.validate().is_err());
        let beyond = Questions {
            positive_from: 4,
            ..grades
        };
        assert!(beyond.validate().is_err());
    }

    #[test]
    fn a_blinded_session_shares_no_names_until_its_owner_unblinds_it() {
        let mut s = session(2);
        s.readers = vec![Reader::new("r1", "Dr Alpha", vec![Arm::Unassisted])];
        s.blinded = true;
        s.owner = "alice".into();
        let shared = s.shareable();
        assert_eq!(shared.cases[0].path, PathBuf::from("c0.svs"));
        assert_eq!(shared.cases[1].slide_key, "k1", "identity kept");
        assert_eq!(shared.readers[0].name, "Reader 1");
        assert_eq!(shared.readers[0].id, "r1", "ids kept: reads merge back");
        assert_eq!(s.slide_name(&s.cases[0]), "blinded");
        assert_eq!(
            s.unblind("bob", 10),
            Err(UnblindError::NotOwner {
                owner: "alice".into(),
                user: "bob".into()
            })
        );
        assert!(s.masked());
        s.unblind("alice", 10).expect("the owner");
        assert!(!s.masked());
        assert_eq!(s.unblind("alice", 11), Err(UnblindError::Already));
        assert_eq!(s.shareable(), s, "unblinded: shared as it is");
        assert_eq!(s.slide_name(&s.cases[0]), "/slides/0.svs");
        let mut open = session(1);
        assert_eq!(open.unblind("alice", 1), Err(UnblindError::NotBlinded));
        open.owner = String::new();
        open.blinded = true;
        assert!(
            open.unblind("", 1).is_err(),
            "an ownerless session stays blinded"
        );
    }

    #[test]
    fn size_implies_category() {
        assert_eq!(Category::for_size_mm(0.1), Category::ITC);
        assert_eq!(Category::for_size_mm(0.2), Category::ITC);
        assert_eq!(Category::for_size_mm(1.5), Category::MICRO);
        assert_eq!(Category::for_size_mm(2.5), Category::MACRO);
        assert_eq!(Category::for_size_mm(0.0), Category::NONE);
    }
}
