//! A review session's reads as an MRMC study: the readers who read both arms, the cases every one
//! of them submitted in both arms whose truth is known (the session's reference standard, else the
//! adjudicated consensus), ratings = the category's rank, calls = a positive category. Then the
//! OR-Hillis analysis of assisted minus unassisted for the AUC, sensitivity and specificity.

use std::fmt::Write as _;

use super::mrmc::{self, Mrmc};
use super::session::{Arm, CONSENSUS, Category, Read, Session};

/// The MRMC section of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct MrmcSection {
    pub readers: Vec<String>,
    pub cases: usize,
    pub positives: usize,
    /// Cases whose truth came from the consensus read (no reference standard recorded).
    pub from_consensus: usize,
    /// Reader names, in the order of `ratings`' readers.
    pub names: Vec<String>,
    /// `ratings[arm][reader][case]` (arm 0 assisted) and `truth[case]`, for the ROC figure.
    pub ratings: [Vec<Vec<f64>>; 2],
    pub truth: Vec<bool>,
    /// Assisted (arm 0) against unassisted (arm 1).
    pub auc: Result<Mrmc, String>,
    pub sensitivity: Result<Mrmc, String>,
    pub specificity: Result<Mrmc, String>,
}

/// The study in `current` (latest submitted reads), or why there is none.
pub fn study(session: &Session, current: &[&Read]) -> Result<MrmcSection, String> {
    let category = |case: &str, reader: &str, arm: Arm| -> Option<Category> {
        current
            .iter()
            .find(|r| r.case_id == case && r.reader_id == reader && r.arm == arm)
            .and_then(|r| r.assessment.as_ref())
            .map(|a| a.category)
    };
    let readers: Vec<&str> = session
        .readers
        .iter()
        .filter(|r| r.arms.contains(&Arm::Assisted) && r.arms.contains(&Arm::Unassisted))
        .map(|r| r.id.as_str())
        .collect();
    if readers.len() < 2 {
        return Err(format!(
            "{} reader(s) read both arms; an MRMC comparison needs at least 2",
            readers.len()
        ));
    }
    let mut truth = Vec::new();
    let mut from_consensus = 0;
    // [arm][reader][case]: arm 0 assisted, arm 1 unassisted.
    let mut ratings: [Vec<Vec<f64>>; 2] = [
        vec![Vec::new(); readers.len()],
        vec![Vec::new(); readers.len()],
    ];
    for c in &session.cases {
        let Some(t) = c
            .truth
            .or_else(|| category(&c.id, CONSENSUS, Arm::Unassisted))
        else {
            continue;
        };
        let mut all = Vec::with_capacity(2 * readers.len());
        for arm in [Arm::Assisted, Arm::Unassisted] {
            for r in &readers {
                all.push(category(&c.id, r, arm));
            }
        }
        let Some(all) = all.into_iter().collect::<Option<Vec<Category>>>() else {
            continue;
        };
        from_consensus += usize::from(c.truth.is_none());
        truth.push(session.questions.positive(t));
        for (i, cat) in all.into_iter().enumerate() {
            ratings[i / readers.len()][i % readers.len()].push(f64::from(cat.0));
        }
    }
    let positives = truth.iter().filter(|t| **t).count();
    if truth.is_empty() {
        return Err("no case has a known truth (reference standard or consensus) and reads by every reader in both arms".into());
    }
    let calls = ratings.clone().map(|arm| {
        arm.into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|x| f64::from(u8::from(session.questions.positive(Category(x as u8)))))
                    .collect()
            })
            .collect::<Vec<Vec<f64>>>()
    });
    let run = |r: &[Vec<Vec<f64>>; 2], fom: mrmc::Fom| {
        mrmc::analyse(r, &truth, fom).map_err(|e| e.to_string())
    };
    let names = readers
        .iter()
        .map(|id| {
            session
                .readers
                .iter()
                .find(|r| r.id == *id)
                .map_or((*id).to_owned(), |r| r.name.clone())
        })
        .collect();
    Ok(MrmcSection {
        names,
        auc: run(&ratings, mrmc::auc),
        ratings,
        truth: truth.clone(),
        readers: readers.iter().map(|r| (*r).to_owned()).collect(),
        cases: truth.len(),
        positives,
        from_consensus,
        sensitivity: run(&calls, mrmc::sensitivity),
        specificity: run(&calls, mrmc::specificity),
    })
}

/// An estimate with its interval clipped to what the figure can be (`[lo, hi]`): the normal
/// approximation of a proportion near 1 reaches past it, which no reader reads as meaningful.
fn ci(e: &mrmc::TEstimate, lo: f64, hi: f64) -> String {
    format!(
        "{:.3} ({:.3} to {:.3})",
        e.value,
        e.ci.0.clamp(lo, hi),
        e.ci.1.clamp(lo, hi)
    )
}

fn p_value(p: f64) -> String {
    if p < 0.0001 {
        "&lt; 0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

/// The section as HTML (a table and what it rests on).
pub fn html(section: &Result<MrmcSection, String>, esc: fn(&str) -> String) -> String {
    let mut h = String::from("<h2>MRMC: assisted against unassisted</h2>");
    let s = match section {
        Err(why) => {
            let _ = write!(h, "<p>No MRMC analysis: {}.</p>", esc(why));
            return h;
        }
        Ok(s) => s,
    };
    let _ = write!(
        h,
        "<p>Obuchowski–Rockette with Hillis's degrees of freedom, readers and cases random, jackknife covariances (validated against the published Van Dyke analysis). {} readers ({}), {} cases ({} positive) read by all of them in both arms; truth from the reference standard{}. Ratings are the category's rank; sensitivity and specificity count a positive category as a positive call.</p>",
        s.readers.len(),
        esc(&s.readers.join(", ")),
        s.cases,
        s.positives,
        if s.from_consensus > 0 {
            format!(", or the consensus read for {} case(s)", s.from_consensus)
        } else {
            String::new()
        }
    );
    h.push_str("<table><tr><th>figure of merit</th><th>unassisted (95% CI)</th><th>assisted (95% CI)</th><th>assisted − unassisted (95% CI)</th><th>p</th><th>df</th></tr>");
    for (name, r) in [
        ("ROC AUC", &s.auc),
        ("sensitivity", &s.sensitivity),
        ("specificity", &s.specificity),
    ] {
        match r {
            Ok(m) => {
                let _ = write!(
                    h,
                    "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
                    ci(&m.arms[1], 0.0, 1.0),
                    ci(&m.arms[0], 0.0, 1.0),
                    ci(&m.difference, -1.0, 1.0),
                    p_value(m.p),
                    m.difference.df
                );
            }
            Err(e) => {
                let _ = write!(
                    h,
                    "<tr><td>{name}</td><td colspan=\"5\">n/a: {}</td></tr>",
                    esc(e)
                );
            }
        }
    }
    h.push_str("</table>");
    if let Ok(m) = &s.auc {
        h.push_str(&figures_html(s, m));
    }
    h
}

/// ROC curves per reader and arm, and the forest plot of the per-reader AUC differences.
fn figures_html(s: &MrmcSection, m: &Mrmc) -> String {
    use super::figures::{forest_svg, roc_points, roc_svg};
    let colours = super::materials::READER_COLOURS;
    let mut curves = Vec::new();
    for (j, name) in s.names.iter().enumerate() {
        let c = colours[j % colours.len()];
        for (arm, label, dashed) in [(1, "unassisted", true), (0, "assisted", false)] {
            curves.push(super::figures::Curve {
                label: format!("{name}, {label} (AUC {:.3})", m.foms[arm][j]),
                rgb: c,
                dashed,
                points: roc_points(&s.ratings[arm][j], &s.truth),
            });
        }
    }
    let diffs: Vec<(String, f64)> = s
        .names
        .iter()
        .enumerate()
        .map(|(j, n)| (n.clone(), m.foms[0][j] - m.foms[1][j]))
        .collect();
    let d = &m.difference;
    format!(
        "<div class=\"figures\">{}{}</div><p>ROC curves: dashed unassisted, solid assisted, one colour per reader. Forest plot: each reader's AUC assisted minus unassisted, and the reader-averaged difference with its MRMC 95% CI.</p>",
        roc_svg("ROC curves per reader and arm", &curves),
        forest_svg(
            "AUC difference per reader (assisted − unassisted)",
            &diffs,
            (d.value, d.ci.0, d.ci.1)
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::session::{Assessment, CaseRef, Reader};

    fn session(arms: Vec<Arm>) -> Session {
        Session {
            id: "s".into(),
            name: "study".into(),
            cases: (0..12)
                .map(|i| CaseRef {
                    id: format!("c{i}"),
                    path: format!("/s/{i}.svs").into(),
                    slide_key: format!("k{i}"),
                    // Case 11's truth comes from the consensus read.
                    truth: (i != 11).then_some(if i % 2 == 0 {
                        Category::NONE
                    } else {
                        Category::MACRO
                    }),
                })
                .collect(),
            readers: ["a", "b", "c"]
                .iter()
                .map(|r| Reader {
                    id: (*r).into(),
                    name: (*r).into(),
                    initials: (*r).into(),
                    arms: arms.clone(),
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

    fn read(case: usize, reader: &str, arm: Arm, c: u8) -> Read {
        let mut r = Read::new(&format!("c{case}"), reader, arm);
        r.answer(Assessment {
            category: Category(c),
            largest_mm: None,
            confidence: 3,
            notes: String::new(),
            answers: Default::default(),
        })
        .expect("open");
        r.submit().expect("submit");
        r
    }

    /// Assisted readers call every positive (reader a also one negative, rated as high as the
    /// positives); unassisted, reader a misses one positive, b two, c three.
    fn reads() -> Vec<Read> {
        let mut out = vec![read(11, CONSENSUS, Arm::Unassisted, 3)];
        for (ri, r) in ["a", "b", "c"].iter().enumerate() {
            for case in 0..12 {
                let positive = case % 2 == 1;
                let assisted = if positive || (case == 4 && ri == 0) {
                    3
                } else {
                    0
                };
                let missed = positive && case / 2 <= ri;
                let unassisted = if positive && !missed {
                    2
                } else {
                    u8::from(case % 4 == 0)
                };
                out.push(read(case, r, Arm::Assisted, assisted));
                out.push(read(case, r, Arm::Unassisted, unassisted));
            }
        }
        out
    }

    #[test]
    fn a_session_read_in_both_arms_is_analysed_with_consensus_filling_missing_truth() {
        let s = session(vec![Arm::Unassisted, Arm::Assisted]);
        let reads = reads();
        let current: Vec<&Read> = reads.iter().collect();
        let m = study(&s, &current).expect("a study");
        assert_eq!(
            (m.readers.len(), m.cases, m.positives, m.from_consensus),
            (3, 12, 6, 1)
        );
        let auc = m.auc.as_ref().expect("AUC");
        // Assisted: perfect but for reader a's false positive tied with the 6 positives (3/36 of
        // reader a's pairs, 1/36 of the mean).
        assert!(
            (auc.arms[0].value - (1.0 - 1.0 / 36.0)).abs() < 1e-9,
            "{:?}",
            auc.arms
        );
        assert!(auc.difference.value > 0.0, "assisted minus unassisted");
        let sens = m.sensitivity.as_ref().expect("sensitivity");
        assert_eq!(sens.arms[0].value, 1.0);
        assert!(sens.arms[1].value < 1.0);
        let html = html(&Ok(m.clone()), |s| s.to_owned());
        assert!(html.contains("MRMC: assisted against unassisted") && html.contains("ROC AUC"));
        // The figures: 3 readers x 2 arms of ROC curves, 3 dots in the forest plot.
        assert_eq!(html.matches("<svg").count(), 2);
        assert_eq!(html.matches("<polyline").count(), 6);
        assert_eq!(html.matches("<circle").count(), 3);
        if let Some(dir) = std::env::var_os("SENTINEL_FIGURES_OUT") {
            // For looking at: the section as a page.
            let _ = std::fs::write(
                std::path::Path::new(&dir).join("mrmc-section.html"),
                format!("<!doctype html><meta charset=\"utf-8\"><body>{html}</body>"),
            );
        }
        assert!(
            html.contains("or the consensus read for 1 case(s)"),
            "{html}"
        );
        let spec = m.specificity.as_ref().expect("specificity");
        assert!((spec.arms[0].value - (5.0 / 6.0 + 2.0) / 3.0).abs() < 1e-9);
        assert!(
            spec.difference.value < 0.0,
            "assisted reader a's false positive"
        );
    }

    #[test]
    fn a_session_without_both_arms_says_why() {
        let s = session(vec![Arm::Unassisted]);
        let reads = reads();
        let current: Vec<&Read> = reads.iter().collect();
        let e = study(&s, &current).expect_err("one arm");
        assert!(e.contains("0 reader(s) read both arms"), "{e}");
        let html = html(&Err(e), |s| s.to_owned());
        assert!(html.contains("No MRMC analysis: 0 reader(s) read both arms"));
    }
}
