//! Washout and arm order in a crossover reader study: a reader's second reading of a case (in the
//! other arm) is not offered until `washout_days` after their first was submitted, and where the
//! session counterbalances, half the readers of both arms start unassisted (the split follows the
//! session's recorded seed). Pure: the clock is an argument.

use std::fmt::Write as _;

use super::session::{Arm, Read, Session, latest};

pub const DAY_S: i64 = 86_400;

/// The arm `reader` reads first when the session counterbalances and they read both arms: the
/// readers of both arms in a seeded shuffle alternate, unassisted first for the even places.
pub fn first_arm(session: &Session, reader: &str) -> Option<Arm> {
    if !session.counterbalance {
        return None;
    }
    let mut both: Vec<&str> = session
        .readers
        .iter()
        .filter(|r| r.arms.contains(&Arm::Assisted) && r.arms.contains(&Arm::Unassisted))
        .map(|r| r.id.as_str())
        .collect();
    both.sort_unstable();
    fastrand::Rng::with_seed(session.seed ^ 0x5eed_a4a5).shuffle(&mut both);
    let place = both.iter().position(|r| *r == reader)?;
    Some(if place % 2 == 0 {
        Arm::Unassisted
    } else {
        Arm::Assisted
    })
}

fn other(arm: Arm) -> Arm {
    match arm {
        Arm::Assisted => Arm::Unassisted,
        Arm::Unassisted => Arm::Assisted,
    }
}

/// Whether a case may be read now in an arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Open,
    /// The washout since the other arm's reading ends at this Unix time.
    Waiting {
        opens_at: i64,
    },
    /// The reader's first arm (counterbalanced) must read this case first.
    FirstArmFirst(Arm),
}

/// When the reader's earliest submitted read of `case` in `arm` was submitted.
fn submitted_at(reads: &[Read], reader: &str, case: &str, arm: Arm) -> Option<i64> {
    reads
        .iter()
        .filter(|r| r.reader_id == reader && r.case_id == case && r.arm == arm && r.submitted)
        .filter_map(|r| r.submitted_at)
        .min()
}

/// Whether `reader` may read `case` in `arm` at Unix time `now`.
pub fn availability(
    session: &Session,
    reads: &[Read],
    reader: &str,
    case: &str,
    arm: Arm,
    now: i64,
) -> Availability {
    let before = other(arm);
    let first_done = latest(reads)
        .iter()
        .any(|r| r.reader_id == reader && r.case_id == case && r.arm == before && r.submitted);
    if first_arm(session, reader) == Some(before) && !first_done {
        return Availability::FirstArmFirst(before);
    }
    // A read already begun in this arm stays open (it was offered when it began).
    let begun = reads
        .iter()
        .any(|r| r.reader_id == reader && r.case_id == case && r.arm == arm);
    if session.washout_days > 0 && !begun {
        // A first reading submitted before timestamps were kept counts as long ago.
        if let Some(t) = submitted_at(reads, reader, case, before) {
            let opens_at = t + i64::from(session.washout_days) * DAY_S;
            if now < opens_at {
                return Availability::Waiting { opens_at };
            }
        }
    }
    Availability::Open
}

/// Days between a reader's first submitted readings of a case in the two arms, for every
/// (reader, case) read in both with timestamps: (reader, case, days).
pub fn intervals(session: &Session, reads: &[Read]) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    for r in &session.readers {
        for c in &session.cases {
            let a = submitted_at(reads, &r.id, &c.id, Arm::Unassisted);
            let b = submitted_at(reads, &r.id, &c.id, Arm::Assisted);
            if let (Some(a), Some(b)) = (a, b) {
                out.push((
                    r.id.clone(),
                    c.id.clone(),
                    (a - b).abs() as f64 / DAY_S as f64,
                ));
            }
        }
    }
    out
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian; days-from-civil inverted).
pub fn utc(t: i64) -> String {
    let (days, secs) = (t.div_euclid(DAY_S), t.rem_euclid(DAY_S));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// The report's paragraph: the washout set, the intervals kept, and each reader's first arm.
pub fn html(session: &Session, reads: &[Read], esc: fn(&str) -> String) -> String {
    let mut h = String::from("<h2>Washout and arm order</h2><p>");
    let gaps = intervals(session, reads);
    if session.washout_days > 0 {
        let _ = write!(
            h,
            "Washout set: {} day(s) between a reader's two arms of a case. ",
            session.washout_days
        );
    } else {
        h.push_str("No washout set. ");
    }
    if gaps.is_empty() {
        h.push_str("No case was read in both arms with timestamps.");
    } else {
        let mut days: Vec<f64> = gaps.iter().map(|g| g.2).collect();
        days.sort_by(f64::total_cmp);
        let median = days[days.len() / 2];
        let short = days
            .iter()
            .filter(|d| **d < f64::from(session.washout_days))
            .count();
        let _ = write!(
            h,
            "Actual intervals over {} case reading(s) in both arms: shortest {:.1} days, median {:.1}, longest {:.1}; {} shorter than the washout.",
            days.len(),
            days[0],
            median,
            days[days.len() - 1],
            short
        );
    }
    if session.counterbalance {
        let order: Vec<String> = session
            .readers
            .iter()
            .filter_map(|r| {
                first_arm(session, &r.id).map(|a| format!("{} starts {}", esc(&r.name), a.label()))
            })
            .collect();
        let _ = write!(
            h,
            " Arm order counterbalanced (seed {}): {}.",
            session.seed,
            order.join(", ")
        );
    }
    h.push_str("</p>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::session::{Assessment, Category};

    fn session(readers: &str, washout_days: u32, counterbalance: bool) -> Session {
        let mut s = crate::review::session::new_session(
            "s",
            readers,
            &[
                ("/s/a.svs".into(), "a".into()),
                ("/s/b.svs".into(), "b".into()),
            ],
            42,
            Default::default(),
        )
        .expect("session");
        s.washout_days = washout_days;
        s.counterbalance = counterbalance;
        s
    }

    fn submitted(case: &str, reader: &str, arm: Arm, at: i64) -> Read {
        let mut r = Read::new(case, reader, arm);
        r.answer(Assessment {
            category: Category::NONE,
            largest_mm: None,
            confidence: 3,
            notes: String::new(),
            answers: Default::default(),
        })
        .expect("answer");
        r.submit_at(at).expect("submit");
        r
    }

    #[test]
    fn the_second_arm_of_a_case_waits_out_the_washout() {
        let s = session("Ann:both", 14, false);
        let t0 = 1_800_000_000;
        let reads = [submitted("case-001", "reader-1", Arm::Assisted, t0)];
        let at = |now| availability(&s, &reads, "reader-1", "case-001", Arm::Unassisted, now);
        let opens_at = t0 + 14 * DAY_S;
        assert_eq!(at(t0 + DAY_S), Availability::Waiting { opens_at });
        assert_eq!(at(opens_at), Availability::Open);
        // Another case, or the same arm again, is not held back.
        assert_eq!(
            availability(&s, &reads, "reader-1", "case-002", Arm::Unassisted, t0),
            Availability::Open
        );
        assert_eq!(utc(opens_at), "2027-01-29 08:00 UTC");
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn counterbalancing_splits_readers_and_holds_the_second_arm_back() {
        let s = session("A:both\nB:both\nC:both\nD:both\nE:unassisted", 0, true);
        let firsts: Vec<Option<Arm>> = s.readers.iter().map(|r| first_arm(&s, &r.id)).collect();
        let unassisted = firsts
            .iter()
            .filter(|a| **a == Some(Arm::Unassisted))
            .count();
        let assisted = firsts.iter().filter(|a| **a == Some(Arm::Assisted)).count();
        assert_eq!((unassisted, assisted), (2, 2), "{firsts:?}");
        assert_eq!(firsts[4], None, "one arm only: no order");
        // The same seed, the same split.
        assert_eq!(
            firsts,
            s.readers
                .iter()
                .map(|r| first_arm(&s, &r.id))
                .collect::<Vec<_>>()
        );
        let r = s
            .readers
            .iter()
            .find(|r| first_arm(&s, &r.id) == Some(Arm::Assisted))
            .expect("an assisted-first reader");
        assert_eq!(
            availability(&s, &[], &r.id, "case-001", Arm::Unassisted, 0),
            Availability::FirstArmFirst(Arm::Assisted)
        );
        let done = [submitted("case-001", &r.id, Arm::Assisted, 5)];
        assert_eq!(
            availability(&s, &done, &r.id, "case-001", Arm::Unassisted, 6),
            Availability::Open
        );
    }

    #[test]
    fn the_report_states_the_intervals_kept() {
        let s = session("Ann:both", 14, false);
        let t0 = 1_800_000_000;
        let reads = [
            submitted("case-001", "reader-1", Arm::Assisted, t0),
            submitted("case-001", "reader-1", Arm::Unassisted, t0 + 15 * DAY_S),
            submitted("case-002", "reader-1", Arm::Assisted, t0),
            submitted("case-002", "reader-1", Arm::Unassisted, t0 + 10 * DAY_S),
        ];
        let gaps = intervals(&s, &reads);
        assert_eq!(gaps.len(), 2);
        let page = html(&s, &reads, |x| x.to_owned());
        assert!(
            page.contains(
                "shortest 10.0 days, median 15.0, longest 15.0; 1 shorter than the washout"
            ),
            "{page}"
        );
    }
}
