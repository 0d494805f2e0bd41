//! The further questions in the report: per question a summary per arm (yes share, number
//! range and median, option counts, how many drew a region) and every submitted answer per case.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::questions::{Answer, Question, QuestionKind, answer_text};
use super::session::{Arm, Read, Session, latest};

/// The latest submitted answers to `q`, as (case, reader, arm, answer).
fn answers<'a>(q: &Question, current: &[&'a Read]) -> Vec<(&'a str, &'a str, Arm, &'a Answer)> {
    current
        .iter()
        .filter_map(|r| {
            let a = r.assessment.as_ref()?.answers.get(&q.id)?;
            Some((r.case_id.as_str(), r.reader_id.as_str(), r.arm, a))
        })
        .collect()
}

/// One line summing up `given` (the answers of one arm).
pub fn summary(q: &Question, given: &[&Answer]) -> String {
    let n = given.len();
    if n == 0 {
        return "no answers".into();
    }
    match &q.kind {
        QuestionKind::YesNo => {
            let yes = given
                .iter()
                .filter(|a| matches!(a, Answer::YesNo(true)))
                .count();
            format!(
                "yes in {yes} of {n} ({:.0}%)",
                100.0 * yes as f64 / n as f64
            )
        }
        QuestionKind::Number { unit, .. } => {
            let mut v: Vec<f64> = given
                .iter()
                .filter_map(|a| match a {
                    Answer::Number(x) => Some(*x),
                    _ => None,
                })
                .collect();
            v.sort_by(f64::total_cmp);
            let Some((&lo, &hi)) = v.first().zip(v.last()) else {
                return "no answers".into();
            };
            let m = v.len();
            let median = if m % 2 == 1 {
                v[m / 2]
            } else {
                (v[m / 2 - 1] + v[m / 2]) / 2.0
            };
            format!("median {median} {unit}, range {lo}–{hi} ({m} answers)")
        }
        QuestionKind::SingleChoice { options } | QuestionKind::MultipleChoice { options } => {
            let count = |o: &String| {
                given
                    .iter()
                    .filter(|a| match a {
                        Answer::Choice(c) => c == o,
                        Answer::Choices(cs) => cs.contains(o),
                        _ => false,
                    })
                    .count()
            };
            let parts: Vec<String> = options
                .iter()
                .map(|o| format!("{o}: {}", count(o)))
                .collect();
            format!("{} ({n} answers)", parts.join(", "))
        }
        QuestionKind::FreeText => format!("{n} written"),
        QuestionKind::Region { shape } => format!("{n} {}(s) drawn", shape.label()),
    }
}

/// The report section; empty when the session asks nothing beyond the category.
pub fn html(session: &Session, reads: &[Read], esc: fn(&str) -> String) -> String {
    let questions = &session.questions.extra;
    if questions.is_empty() {
        return String::new();
    }
    let current: Vec<&Read> = latest(reads).into_iter().filter(|r| r.submitted).collect();
    let mut h = String::from("<h2>Further questions</h2>");
    for q in questions {
        let all = answers(q, &current);
        let _ = write!(h, "<h3>{}</h3><ul>", esc(&q.prompt));
        for arm in [Arm::Unassisted, Arm::Assisted] {
            let given: Vec<&Answer> = all.iter().filter(|x| x.2 == arm).map(|x| x.3).collect();
            if !given.is_empty() {
                let _ = write!(h, "<li>{}: {}</li>", arm.label(), esc(&summary(q, &given)));
            }
        }
        h.push_str("</ul>");
        // A row per case, a column per reader and arm (the unassisted read first).
        let mut columns: Vec<(&str, Arm)> = all.iter().map(|x| (x.1, x.2)).collect();
        columns.sort_by_key(|(r, arm)| (*r, *arm == Arm::Assisted));
        columns.dedup();
        h.push_str("<table><tr><th>case</th>");
        for (reader, arm) in &columns {
            let _ = write!(h, "<th>{}<br>{}</th>", esc(reader), arm.label());
        }
        h.push_str("</tr>");
        let mut per_case: BTreeMap<&str, BTreeMap<(&str, bool), String>> = BTreeMap::new();
        for (case, reader, arm, a) in &all {
            let text = match a {
                // The geometry itself is in the CSV; here what it is and how big.
                Answer::Region(s) => format!("{} vertices", s.outline().len()),
                other => answer_text(q, other),
            };
            per_case
                .entry(case)
                .or_default()
                .insert((reader, *arm == Arm::Assisted), text);
        }
        for (case, cells) in per_case {
            let _ = write!(h, "<tr><td>{}</td>", esc(case));
            for (reader, arm) in &columns {
                let cell = cells.get(&(*reader, *arm == Arm::Assisted));
                let _ = write!(h, "<td>{}</td>", esc(cell.map_or("", String::as_str)));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::questions::parse_lines;

    #[test]
    fn summaries_count_what_was_answered() {
        let qs = parse_lines(
            "yes/no: LVI?\nnumber 0..100 %: Cellularity\nmultiple A | B | C: Patterns\nregion point: Focus",
        )
        .expect("valid");
        let yes = [
            Answer::YesNo(true),
            Answer::YesNo(false),
            Answer::YesNo(true),
        ];
        assert_eq!(
            summary(&qs[0], &yes.iter().collect::<Vec<_>>()),
            "yes in 2 of 3 (67%)"
        );
        let nums = [
            Answer::Number(40.0),
            Answer::Number(10.0),
            Answer::Number(90.0),
            Answer::Number(20.0),
        ];
        assert_eq!(
            summary(&qs[1], &nums.iter().collect::<Vec<_>>()),
            "median 30 %, range 10–90 (4 answers)"
        );
        let multi = [
            Answer::Choices(vec!["A".into(), "C".into()]),
            Answer::Choices(vec!["C".into()]),
        ];
        assert_eq!(
            summary(&qs[2], &multi.iter().collect::<Vec<_>>()),
            "A: 1, B: 0, C: 2 (2 answers)"
        );
        assert_eq!(summary(&qs[3], &[]), "no answers");
    }
}
