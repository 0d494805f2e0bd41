//! The review report: per-case answers and agreement, agreement statistics per reading arm
//! (percent agreement, Cohen's kappa for two readers, Fleiss' kappa for more, with 95% CIs), Dice
//! between readers' tumour annotations, the AI's slide score against each reader, the
//! discrepancy list; written as CSV (wide, and the long format iMRMC reads) and as one
//! self-contained HTML page. Pure apart from the caller-supplied thumbnails.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::agreement::{
    Estimate, Overlap, Weights, cohen_kappa, confusion, fleiss_kappa, overlap, percent_agreement,
    roc_auc,
};
use super::questions::{Answer, QuestionKind, answer_text};
use super::session::{Arm, Category, Read, Session, latest};

/// Class name whose annotations count as a reader's tumour outline for Dice / IoU.
pub const TUMOUR_CLASS: &str = "Tumor";

#[derive(Debug, Clone, PartialEq)]
pub struct ArmAgreement {
    pub arm: Arm,
    pub readers: Vec<String>,
    /// Cases every one of these readers has submitted.
    pub cases: usize,
    pub percent: Option<f64>,
    /// Two readers: unweighted and linearly weighted Cohen's kappa.
    pub cohen: Option<Estimate>,
    pub cohen_linear: Option<Estimate>,
    /// Three or more readers.
    pub fleiss: Option<Estimate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    pub case_id: String,
    pub slide: String,
    /// (reader, arm) -> category of the latest submitted read.
    pub answers: BTreeMap<(String, String), Category>,
    pub agree: bool,
    /// Between the first two readers with tumour annotations on this case (same arm).
    pub dice: Option<Overlap>,
    pub ai_score: Option<f64>,
    /// The adjudicated consensus, where one was recorded.
    pub consensus: Option<Category>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub session: Session,
    pub rows: Vec<CaseRow>,
    pub agreement: Vec<ArmAgreement>,
    /// (reader, arm, AUC of the AI's slide score for the reader's "metastasis" calls).
    pub ai_vs_reader: Vec<(String, Arm, Option<Estimate>)>,
    /// Assisted against unassisted (OR-Hillis), or why it cannot be computed.
    pub mrmc: Result<super::mrmc_study::MrmcSection, String>,
    /// The washout set and kept, and the arm order (HTML paragraph).
    pub washout: String,
    /// The further questions' answers (HTML section; empty when none are asked).
    pub further: String,
}

fn arm_name(a: Arm) -> String {
    a.label().to_owned()
}

/// The category of the latest submitted read of (`case`, `reader`, `arm`) among `current`.
fn category_of(current: &[&Read], case: &str, reader: &str, arm: Arm) -> Option<Category> {
    current
        .iter()
        .find(|r| r.case_id == case && r.reader_id == reader && r.arm == arm)
        .and_then(|r| r.assessment.as_ref())
        .map(|a| a.category)
}

/// (reader, arm) -> category of every submitted answer to `case`.
fn answers_of(
    session: &Session,
    current: &[&Read],
    case: &str,
) -> BTreeMap<(String, String), Category> {
    let mut answers = BTreeMap::new();
    for r in &session.readers {
        for &arm in &r.arms {
            if let Some(cat) = category_of(current, case, &r.id, arm) {
                answers.insert((r.id.clone(), arm_name(arm)), cat);
            }
        }
    }
    answers
}

/// Whether every arm's readers gave the same answer.
fn agrees(answers: &BTreeMap<(String, String), Category>) -> bool {
    let mut per_arm: HashMap<&String, Vec<Category>> = HashMap::new();
    for ((_, arm), cat) in answers {
        per_arm.entry(arm).or_default().push(*cat);
    }
    per_arm.values().all(|v| v.windows(2).all(|w| w[0] == w[1]))
}

/// The cases whose submitted answers differ within an arm (the adjudication list): the report's
/// discrepancies without its statistics, cheap enough for every frame of the review panel.
pub fn discrepancies(session: &Session, reads: &[Read]) -> Vec<String> {
    let current: Vec<&Read> = latest(reads).into_iter().filter(|r| r.submitted).collect();
    session
        .cases
        .iter()
        .filter(|c| !agrees(&answers_of(session, &current, &c.id)))
        .map(|c| c.id.clone())
        .collect()
}

/// Builds the report from every version of every read (the latest submitted one counts) and the
/// AI's slide-level score per case id, where there is one.
pub fn build(session: &Session, reads: &[Read], ai: &HashMap<String, f64>) -> Report {
    let current: Vec<&Read> = latest(reads).into_iter().filter(|r| r.submitted).collect();
    let category = |case: &str, reader: &str, arm: Arm| category_of(&current, case, reader, arm);
    let mut rows = Vec::new();
    for c in &session.cases {
        let answers = answers_of(session, &current, &c.id);
        let agree = agrees(&answers);
        let tumour = |r: &&&Read| {
            r.annotations
                .iter()
                .filter(|a| a.class.as_deref() == Some(TUMOUR_CLASS))
                .map(|a| a.shape.clone())
                .collect::<Vec<_>>()
        };
        let with_outlines: Vec<&&Read> = current
            .iter()
            .filter(|r| r.case_id == c.id && !tumour(r).is_empty())
            .collect();
        let dice = with_outlines.iter().enumerate().find_map(|(i, a)| {
            with_outlines[i + 1..]
                .iter()
                .find(|b| b.arm == a.arm && b.reader_id != a.reader_id)
                .and_then(|b| overlap(&tumour(a), &tumour(b)))
        });
        rows.push(CaseRow {
            case_id: c.id.clone(),
            slide: session.slide_name(c),
            answers,
            agree,
            dice,
            ai_score: ai.get(&c.id).copied(),
            consensus: category(&c.id, super::session::CONSENSUS, Arm::Unassisted),
        });
    }

    let mut agreement = Vec::new();
    for arm in [Arm::Unassisted, Arm::Assisted] {
        let readers: Vec<String> = session
            .readers
            .iter()
            .filter(|r| r.arms.contains(&arm))
            .map(|r| r.id.clone())
            .collect();
        if readers.len() < 2 {
            continue;
        }
        // Cases every reader of the arm has submitted.
        let complete: Vec<Vec<Category>> = session
            .cases
            .iter()
            .filter_map(|c| {
                readers
                    .iter()
                    .map(|r| category(&c.id, r, arm))
                    .collect::<Option<Vec<_>>>()
            })
            .collect();
        let k = session.questions.categories.len();
        let (percent, cohen, cohen_linear, fleiss) = if readers.len() == 2 {
            let a: Vec<usize> = complete.iter().map(|v| v[0].index()).collect();
            let b: Vec<usize> = complete.iter().map(|v| v[1].index()).collect();
            let t = confusion(&a, &b, k);
            (
                percent_agreement(&t),
                cohen_kappa(&t, Weights::Unweighted),
                cohen_kappa(&t, Weights::Linear),
                None,
            )
        } else {
            let counts: Vec<Vec<f64>> = complete
                .iter()
                .map(|v| {
                    let mut row = vec![0.0; k];
                    for c in v {
                        row[c.index()] += 1.0;
                    }
                    row
                })
                .collect();
            let all_same = complete
                .iter()
                .filter(|v| v.windows(2).all(|w| w[0] == w[1]))
                .count();
            let percent = (!complete.is_empty()).then(|| all_same as f64 / complete.len() as f64);
            (
                percent,
                None,
                None,
                fleiss_kappa(&counts, 2000, session.seed),
            )
        };
        agreement.push(ArmAgreement {
            arm,
            readers,
            cases: complete.len(),
            percent,
            cohen,
            cohen_linear,
            fleiss,
        });
    }

    let mut ai_vs_reader = Vec::new();
    for r in &session.readers {
        for &arm in &r.arms {
            let pairs: Vec<(f64, bool)> = session
                .cases
                .iter()
                .filter_map(|c| {
                    Some((
                        *ai.get(&c.id)?,
                        session.questions.positive(category(&c.id, &r.id, arm)?),
                    ))
                })
                .collect();
            ai_vs_reader.push((r.id.clone(), arm, roc_auc(&pairs)));
        }
    }
    Report {
        session: session.clone(),
        mrmc: super::mrmc_study::study(session, &current),
        washout: super::washout::html(session, reads, esc),
        further: super::answers_report::html(session, reads, esc),
        rows,
        agreement,
        ai_vs_reader,
    }
}

/// One read's coverage audit: high-scoring regions never viewed at 10x or more.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageRow {
    pub reader: String,
    pub arm: Arm,
    pub case_id: String,
    pub unviewed: usize,
    /// The map's hot-spots whose peak the reader looked at closely, and all of them.
    pub hotspots_viewed: usize,
    pub hotspots: usize,
    /// The read's small coverage map (inline SVG).
    pub map_svg: String,
}

/// The coverage audit of every submitted read whose case has a heatmap (`heatmaps`: case id ->
/// heatmap and the slide's level-0 µm per pixel), in every arm alike.
pub fn coverage(
    reads: &[Read],
    heatmaps: &HashMap<String, (crate::analysis::heatmap::Heatmap, f64)>,
    threshold: f32,
) -> Vec<CoverageRow> {
    latest(reads)
        .into_iter()
        .filter(|r| r.submitted)
        .filter_map(|r| {
            let (map, mpp) = heatmaps.get(&r.case_id)?;
            // What the read looked at closely, once for its counts and its map.
            let seen =
                super::coverage::viewed_cells(map, &r.view_track, super::coverage::CLOSE_LOOK_MAG);
            let (hotspots_viewed, hotspots) =
                super::coverage::hotspots_viewed_in(map, &seen, threshold, *mpp);
            let title = format!("{}, {} ({})", r.case_id, r.reader_id, r.arm.label());
            Some(CoverageRow {
                hotspots_viewed,
                hotspots,
                map_svg: super::coverage_map::svg(map, &seen, threshold, *mpp, &title),
                reader: r.reader_id.clone(),
                arm: r.arm,
                case_id: r.case_id.clone(),
                unviewed: super::coverage::unviewed_in(map, &seen, threshold, *mpp).len(),
            })
        })
        .collect()
}

/// A text field for CSV: quoted where needed, and neutralised as OWASP recommends when it starts
/// with a character a spreadsheet reads as a formula (`=`, `+`, `-`, `@`, tab, CR): a leading `'`
/// (names and notes can come from another workstation's bundle). Numbers are written as numbers,
/// not through here.
pub(super) fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Every version of every read, one per line.
pub fn reads_csv(session: &Session, reads: &[Read]) -> String {
    let mut out = String::from(
        "session,case,slide,reader,arm,version,submitted,category,largest_mm,confidence,seconds_on_case,views,annotations,notes",
    );
    // A column per further question, headed by its prompt (and unit).
    let extra = &session.questions.extra;
    for q in extra {
        let head = match &q.kind {
            QuestionKind::Number { unit, .. } if !unit.is_empty() => {
                format!("{} ({unit})", q.prompt)
            }
            _ => q.prompt.clone(),
        };
        let _ = write!(out, ",{}", csv_field(&head));
    }
    out.push('\n');
    for r in reads {
        let slide = session
            .cases
            .iter()
            .find(|c| c.id == r.case_id)
            .map(|c| session.slide_name(c))
            .unwrap_or_default();
        let a = r.assessment.as_ref();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{:.1},{},{},{}",
            csv_field(&session.id),
            csv_field(&r.case_id),
            csv_field(&slide),
            csv_field(&r.reader_id),
            r.arm.label(),
            r.version,
            r.submitted,
            a.map(|a| session.questions.label(a.category))
                .unwrap_or_default(),
            a.and_then(|a| a.largest_mm)
                .map(|m| format!("{m}"))
                .unwrap_or_default(),
            a.map(|a| a.confidence.to_string()).unwrap_or_default(),
            r.seconds_on_case,
            r.view_track.len(),
            r.annotations.len(),
            csv_field(a.map(|a| a.notes.as_str()).unwrap_or_default()),
        );
        out.pop();
        for q in extra {
            out.push(',');
            match a.and_then(|a| a.answers.get(&q.id)) {
                // Numbers as numbers (a negative one is not a formula).
                Some(Answer::Number(v)) => out.push_str(&v.to_string()),
                Some(x) => out.push_str(&csv_field(&answer_text(q, x))),
                None => {}
            }
        }
        out.push('\n');
    }
    out
}

/// The long format iMRMC reads: a study description (N0, N1, NR, NM), then after `BEGIN DATA:`
/// one `reader,case,modality,score` row per submitted read (score: the category's rank 0-3) and a
/// `-1,case,0,truth` row per case whose reference standard is known (truth 1 = a positive
/// category of the session's question set: micro- or macrometastasis by default).
pub fn imrmc_csv(session: &Session, reads: &[Read]) -> String {
    let current: Vec<&Read> = latest(reads)
        .into_iter()
        .filter(|r| r.submitted && r.reader_id != super::session::CONSENSUS)
        .collect();
    let known: Vec<(&str, bool)> = session
        .cases
        .iter()
        .filter_map(|c| Some((c.id.as_str(), session.questions.positive(c.truth?))))
        .collect();
    let n1 = known.iter().filter(|k| k.1).count();
    let mut modalities: Vec<&str> = current.iter().map(|r| r.arm.label()).collect();
    modalities.sort_unstable();
    modalities.dedup();
    let mut readers: Vec<&str> = current.iter().map(|r| r.reader_id.as_str()).collect();
    readers.sort_unstable();
    readers.dedup();
    let mut out = format!(
        "Sentinel review session {} ({})\nN0={}\nN1={}\nNR={}\nNM={}\nBEGIN DATA:\n",
        session.id,
        session.name,
        known.len() - n1,
        n1,
        readers.len(),
        modalities.len()
    );
    for (case, truth) in &known {
        let _ = writeln!(out, "-1,{case},0,{}", u8::from(*truth));
    }
    for r in current {
        if let Some(a) = &r.assessment {
            let _ = writeln!(
                out,
                "{},{},{},{}",
                r.reader_id,
                r.case_id,
                r.arm.label(),
                a.category.index()
            );
        }
    }
    out
}

/// Each pair of readers' answers in each arm as a shaded confusion table (at most 6 pairs per arm),
/// over the cases both answered.
fn confusion_tables(report: &Report) -> String {
    let s = &report.session;
    let labels: Vec<String> = s.questions.categories.clone();
    let k = labels.len();
    let mut h = String::new();
    for a in &report.agreement {
        let arm = a.arm.label();
        let mut pairs = 0;
        for (i, ra) in a.readers.iter().enumerate() {
            for rb in a.readers.iter().skip(i + 1) {
                if pairs == 6 {
                    continue;
                }
                pairs += 1;
                let mut table = vec![vec![0.0; k]; k];
                for row in &report.rows {
                    let get = |r: &String| row.answers.get(&(r.clone(), arm.to_owned()));
                    if let (Some(x), Some(y)) = (get(ra), get(rb))
                        && x.index() < k
                        && y.index() < k
                    {
                        table[x.index()][y.index()] += 1.0;
                    }
                }
                let name = |id: &String| {
                    s.readers
                        .iter()
                        .find(|r| &r.id == id)
                        .map_or(id.clone(), |r| r.name.clone())
                };
                h.push_str(&super::figures::confusion_table(
                    &format!("{} (rows) against {} (columns), {arm}", name(ra), name(rb)),
                    &labels,
                    &table,
                ));
            }
        }
    }
    if h.is_empty() {
        return h;
    }
    format!("<h3>Readers' answers against each other</h3><div class=\"figures\">{h}</div>")
}

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn est(e: &Option<Estimate>) -> String {
    match e {
        Some(e) if e.ci.0.is_finite() => {
            format!("{:.3} (95% CI {:.3} to {:.3})", e.value, e.ci.0, e.ci.1)
        }
        Some(e) => format!("{:.3}", e.value),
        None => "n/a".into(),
    }
}

/// The coverage audit as small maps: a row per case, a map per reader and arm.
fn coverage_maps(coverage: &[CoverageRow]) -> String {
    if coverage.is_empty() {
        return String::new();
    }
    let mut by_case: BTreeMap<&str, Vec<&CoverageRow>> = BTreeMap::new();
    for c in coverage {
        by_case.entry(&c.case_id).or_default().push(c);
    }
    let mut h = String::from("<h3>Coverage maps</h3>");
    h.push_str(&super::coverage_map::legend_html());
    for (case, mut rows) in by_case {
        // Per reader, the unassisted read first.
        rows.sort_by_key(|r| (r.reader.clone(), r.arm == Arm::Assisted));
        let _ = write!(
            h,
            "<h4 style=\"margin:.8em 0 .3em\">{}</h4><div style=\"display:flex;flex-wrap:wrap;gap:10px\">",
            esc(case)
        );
        for r in rows {
            let _ = write!(
                h,
                "<figure style=\"margin:0;width:180px;font-size:12px\">{}<figcaption>{} ({}): {} of {} hot-spot(s) seen</figcaption></figure>",
                r.map_svg,
                esc(&r.reader),
                r.arm.label(),
                r.hotspots_viewed,
                r.hotspots
            );
        }
        h.push_str("</div>");
    }
    h
}

/// One self-contained HTML page; `thumbnails` maps case ids to PNG bytes (embedded as data URIs).
pub fn html(
    report: &Report,
    coverage: &[CoverageRow],
    thumbnails: &HashMap<String, Vec<u8>>,
) -> String {
    let s = &report.session;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Review: {name}</title><style>\
         body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #bbb;padding:4px 8px;text-align:left}}th{{background:#eee}}\
         .disagree{{background:#fde2e0}}img{{max-width:240px;max-height:180px}}</style></head><body>\
         <h1>Review session: {name}</h1><p>{cases} case(s), {readers} reader(s); session {id}, order seed {seed}.</p>",
        name = esc(&s.name),
        cases = s.cases.len(),
        readers = s.readers.len(),
        id = esc(&s.id),
        seed = s.seed
    );
    if s.masked() {
        let _ = write!(
            h,
            "<p class=\"blinded\"><b>Blinded:</b> slide file names are withheld until the session's owner ({}) unblinds it.</p>",
            esc(&s.owner)
        );
    } else if let Some(at) = s.unblinded_at {
        let _ = write!(
            h,
            "<p>Blinded while read; unblinded by {} on {}.</p>",
            esc(&s.owner),
            super::washout::utc(at)
        );
    }
    h.push_str("<h2>Agreement</h2><table><tr><th>arm</th><th>readers</th><th>cases</th><th>percent agreement</th><th>Cohen's kappa</th><th>linearly weighted kappa</th><th>Fleiss' kappa</th></tr>");
    for a in &report.agreement {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            a.arm.label(),
            esc(&a.readers.join(", ")),
            a.cases,
            a.percent
                .map_or("n/a".into(), |p| format!("{:.1}%", 100.0 * p)),
            est(&a.cohen),
            est(&a.cohen_linear),
            est(&a.fleiss)
        );
    }
    h.push_str("</table>");
    h.push_str(&confusion_tables(report));
    h.push_str(&super::mrmc_study::html(&report.mrmc, esc));
    h.push_str(&report.washout);
    h.push_str(&report.further);
    h.push_str("<h2>AI slide score against each reader</h2><table><tr><th>reader</th><th>arm</th><th>ROC AUC for the reader's metastasis calls</th></tr>");
    for (r, arm, auc) in &report.ai_vs_reader {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(r),
            arm.label(),
            est(auc)
        );
    }
    h.push_str("</table><h2>Coverage audit</h2><p>High-scoring regions (model score at or above 0.5) each reader never viewed at 10x or more, per case; the heatmap was hidden in the unassisted arm.</p><table><tr><th>reader</th><th>arm</th><th>cases audited</th><th>cases with unviewed regions</th><th>unviewed regions</th><th>AI hot-spots looked at (peak seen at 10x or more)</th></tr>");
    // Per reader, the unassisted arm first.
    let mut per: BTreeMap<(String, bool), [usize; 5]> = BTreeMap::new();
    for c in coverage {
        let e = per
            .entry((c.reader.clone(), c.arm == Arm::Assisted))
            .or_default();
        e[0] += 1;
        e[1] += usize::from(c.unviewed > 0);
        e[2] += c.unviewed;
        e[3] += c.hotspots_viewed;
        e[4] += c.hotspots;
    }
    for ((reader, assisted), [n, with, total, looked, hot]) in per {
        let arm = if assisted {
            Arm::Assisted
        } else {
            Arm::Unassisted
        }
        .label();
        let share = if hot > 0 {
            format!(
                "{looked} of {hot} ({:.0}%)",
                100.0 * looked as f64 / hot as f64
            )
        } else {
            "none in these maps".into()
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{arm}</td><td>{n}</td><td>{with}</td><td>{total}</td><td>{share}</td></tr>",
            esc(&reader)
        );
    }
    h.push_str("</table>");
    h.push_str(&coverage_maps(coverage));
    h.push_str("<h2>Cases</h2><table><tr><th>case</th><th>slide</th><th>answers</th><th>Dice / IoU</th><th>AI score</th><th>thumbnail</th></tr>");
    for row in &report.rows {
        let answers: Vec<String> = row
            .answers
            .iter()
            .map(|((r, arm), c)| format!("{} ({arm}): {}", esc(r), esc(s.questions.label(*c))))
            .collect();
        let thumb = thumbnails.get(&row.case_id).map_or_else(
            || "slide not available".to_owned(),
            |png| {
                use base64::Engine as _;
                format!(
                    "<img alt=\"{}\" src=\"data:image/png;base64,{}\">",
                    esc(&row.case_id),
                    base64::engine::general_purpose::STANDARD.encode(png)
                )
            },
        );
        let _ = write!(
            h,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if row.agree { "" } else { "disagree" },
            esc(&row.case_id),
            esc(&row.slide),
            {
                let mut a = answers.join("<br>");
                if let Some(c) = row.consensus {
                    let _ = write!(a, "<br><b>consensus: {}</b>", esc(s.questions.label(c)));
                }
                a
            },
            row.dice
                .map_or("n/a".into(), |d| format!("{:.3} / {:.3}", d.dice, d.iou)),
            row.ai_score.map_or("n/a".into(), |a| format!("{a:.3}")),
            thumb
        );
    }
    h.push_str("</table><h2>Discrepancies</h2><ul>");
    for row in report.rows.iter().filter(|r| !r.agree) {
        let _ = write!(h, "<li>{}</li>", esc(&row.case_id));
    }
    h.push_str("</ul></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_text_fields_cannot_become_formulas() {
        assert_eq!(csv_field("=1+2"), "'=1+2");
        assert_eq!(csv_field("@SUM(A1:A9)"), "'@SUM(A1:A9)");
        assert_eq!(csv_field("-2+3"), "'-2+3");
        assert_eq!(csv_field("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(csv_field("\t=1"), "'\t=1");
        assert_eq!(
            csv_field("=A1,B1"),
            "\"'=A1,B1\"",
            "neutralised, then quoted"
        );
        assert_eq!(csv_field("plain notes"), "plain notes");
        assert_eq!(csv_field("a \"quote\""), "\"a \"\"quote\"\"\"");
    }
    use crate::annotate::{Annotation, Shape};
    use crate::review::session::{Assessment, CaseRef, Reader};
    use std::path::PathBuf;

    fn session(readers: &[&str]) -> Session {
        Session {
            id: "s".into(),
            name: "pilot".into(),
            cases: (0..4)
                .map(|i| CaseRef {
                    id: format!("c{i}"),
                    path: PathBuf::from(format!("/s/{i}.svs")),
                    slide_key: format!("k{i}"),
                    truth: Some(if i % 2 == 0 {
                        Category::NONE
                    } else {
                        Category::MACRO
                    }),
                })
                .collect(),
            readers: readers
                .iter()
                .map(|r| Reader {
                    id: (*r).into(),
                    name: (*r).into(),
                    initials: (*r).into(),
                    arms: vec![Arm::Unassisted],
                })
                .collect(),
            seed: 1,
            questions: Default::default(),
            washout_days: 0,
            counterbalance: false,
            blinded: false,
            owner: String::new(),
            unblinded_at: None,
        }
    }

    fn read(case: usize, reader: &str, c: Category) -> Read {
        let mut r = Read::new(&format!("c{case}"), reader, Arm::Unassisted);
        r.answer(Assessment {
            category: c,
            largest_mm: None,
            confidence: 3,
            notes: "a, \"quoted\" note".into(),
            answers: Default::default(),
        })
        .expect("open");
        r.submit().expect("complete");
        r
    }

    #[test]
    fn two_readers_kappa_dice_ai_and_discrepancies() {
        let (none, itc, micro, mac) = (
            Category::NONE,
            Category::ITC,
            Category::MICRO,
            Category::MACRO,
        );
        let s = session(&["a", "b"]);
        let mut reads = vec![
            read(0, "a", none),
            read(1, "a", mac),
            read(2, "a", none),
            read(3, "a", micro),
            read(0, "b", none),
            read(1, "b", mac),
            read(2, "b", itc),
            read(3, "b", micro),
        ];
        let outline = |x: f64| {
            vec![Annotation::new(
                Shape::rectangle([x, 0.0], [x + 10.0, 10.0]),
                Some(TUMOUR_CLASS.into()),
            )]
        };
        reads[1].annotations = outline(0.0);
        reads[5].annotations = outline(5.0);
        let ai: HashMap<String, f64> = [("c0", 0.1), ("c1", 0.9), ("c2", 0.2), ("c3", 0.8)]
            .map(|(k, v)| (k.to_owned(), v))
            .into();
        let r = build(&s, &reads, &ai);
        let arm = &r.agreement[0];
        assert_eq!(arm.cases, 4);
        assert_eq!(arm.percent, Some(0.75));
        // Pairs (None,None), (mac,mac), (None,itc), (micro,micro): po = 0.75; marginals
        // A = (1/2, 0, 1/4, 1/4), B = (1/4, 1/4, 1/4, 1/4), so pe = 0.25 and kappa = 2/3.
        let k = arm.cohen.expect("defined");
        assert!((k.value - 2.0 / 3.0).abs() < 1e-12, "{k:?}");
        assert!(k.ci.1 <= 1.0, "the interval stays within kappa's range");
        assert!(arm.fleiss.is_none());
        assert!(!r.rows[2].agree && r.rows[0].agree);
        let d = r.rows[1].dice.expect("both outlined case 1");
        assert!((d.dice - 0.5).abs() < 1e-12);
        // The AI separates a's metastasis calls (c1, c3) from the rest perfectly.
        assert_eq!(r.ai_vs_reader[0].2.map(|e| e.value), Some(1.0));
        let page = html(&r, &[], &HashMap::new());
        assert!(page.contains("<li>c2</li>") && !page.contains("<li>c0</li>"));
        // The confusion table: (None, None), (None, ITC), (micro, micro), (macro, macro).
        assert!(page.contains("<caption>a (rows) against b (columns), unassisted</caption>"));
        assert_eq!(page.matches(">1</td>").count(), 4, "{page}");
        assert_eq!(page.matches(">0</td>").count(), 12);
        assert_eq!(discrepancies(&s, &reads), ["c2"]);
        let csv = reads_csv(&s, &reads);
        assert_eq!(csv.lines().count(), 9);
        assert!(csv.contains("\"a, \"\"quoted\"\" note\""), "CSV quoting");
        let long = imrmc_csv(&s, &reads);
        assert!(
            long.contains("N0=2\nN1=2\nNR=2\nNM=1\nBEGIN DATA:\n-1,c0,0,0\n-1,c1,0,1\n"),
            "{long}"
        );
        assert!(long.contains("\nb,c2,unassisted,1\n"), "{long}");
    }

    #[test]
    fn coverage_is_audited_per_read_in_every_arm() {
        use crate::analysis::heatmap::Heatmap;
        use crate::review::session::ViewSample;
        let mut map = Heatmap::new((1000, 1000), 100.0);
        map.set(5, 5, 0.9);
        let heatmaps: HashMap<String, (Heatmap, f64)> = [("c0".to_owned(), (map, 0.25))].into();
        let mut looked = read(0, "a", Category::MACRO);
        looked.view_track = vec![ViewSample {
            t: 0.0,
            seconds: 3.0,
            rect: [400.0, 400.0, 700.0, 700.0],
            magnification: 20.0,
        }];
        let glanced = read(0, "b", Category::NONE);
        let rows = coverage(&[looked, glanced], &heatmaps, 0.5);
        let by: Vec<(&str, usize, usize, usize)> = rows
            .iter()
            .map(|r| (r.reader.as_str(), r.unviewed, r.hotspots_viewed, r.hotspots))
            .collect();
        assert_eq!(by, [("a", 0, 1, 1), ("b", 1, 0, 1)]);
        let page = html(
            &build(&session(&["a", "b"]), &[], &HashMap::new()),
            &rows,
            &HashMap::new(),
        );
        assert!(
            page.contains(
                "<tr><td>b</td><td>unassisted</td><td>1</td><td>1</td><td>1</td><td>0 of 1 (0%)</td></tr>"
            ) && page.contains("<td>1 of 1 (100%)</td>"),
            "{page}"
        );
    }

    #[test]
    fn a_custom_question_set_labels_and_splits_positives() {
        let mut s = session(&["a", "b"]);
        s.questions = crate::review::session::Questions {
            categories: ["benign", "atypical", "malignant"]
                .map(String::from)
                .to_vec(),
            positive_from: 2,
            size_mm: false,
            confidence: false,
            extra: Vec::new(),
        };
        s.cases.truncate(2);
        s.cases[0].truth = Some(Category(0));
        s.cases[1].truth = Some(Category(2));
        let reads = vec![
            read(0, "a", Category(1)),
            read(1, "a", Category(2)),
            read(0, "b", Category(1)),
            read(1, "b", Category(2)),
        ];
        let r = build(&s, &reads, &HashMap::new());
        assert_eq!(r.agreement[0].percent, Some(1.0));
        let page = html(&r, &[], &HashMap::new());
        assert!(page.contains("a (unassisted): atypical") && page.contains("malignant"));
        assert!(!page.contains("Micrometastasis"));
        let long = imrmc_csv(&s, &reads);
        assert!(
            long.contains("N0=1\nN1=1\n") && long.contains("-1,c1,0,1"),
            "{long}"
        );
    }

    #[test]
    fn three_readers_use_fleiss_kappa() {
        let (none, itc, micro, mac) = (
            Category::NONE,
            Category::ITC,
            Category::MICRO,
            Category::MACRO,
        );
        let s = session(&["a", "b", "c"]);
        let mut reads = Vec::new();
        for (case, cats) in [
            [none, none, none],
            [mac, mac, micro],
            [none, itc, none],
            [micro, micro, micro],
        ]
        .iter()
        .enumerate()
        {
            for (reader, c) in ["a", "b", "c"].iter().zip(cats) {
                reads.push(read(case, reader, *c));
            }
        }
        let r = build(&s, &reads, &HashMap::new());
        let arm = &r.agreement[0];
        assert!(arm.cohen.is_none());
        assert_eq!(arm.percent, Some(0.5));
        assert!(arm.fleiss.is_some());
    }
}
