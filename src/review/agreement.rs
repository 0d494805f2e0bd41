//! Agreement statistics for second-reader review: percent agreement, Cohen's kappa (unweighted and
//! linearly weighted) with its large-sample standard error, Fleiss' kappa for three or more
//! readers, ROC AUC of a score against a reader with the Hanley-McNeil standard error, and Dice /
//! IoU between two readers' regions. Pure; checked in the tests against published worked examples
//! and statsmodels 0.15.
//!
//! Confidence intervals are 95%, normal-approximation (kappa ± 1.96 SE) except for Fleiss' kappa,
//! whose interval is a seeded percentile bootstrap over cases (the published large-sample variance
//! holds only under the null hypothesis of chance agreement).

use geo::{Area, BooleanOps, MultiPolygon};

use crate::annotate::Shape;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    /// Standard error (NaN where none is defined).
    pub se: f64,
    pub ci: (f64, f64),
}

impl Estimate {
    fn normal(value: f64, se: f64) -> Self {
        Self {
            value,
            se,
            ci: (value - Z95 * se, value + Z95 * se),
        }
    }
}

/// How disagreements count in Cohen's kappa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Any disagreement counts fully.
    Unweighted,
    /// Agreement weight 1 - |i - j| / (k - 1) for ordered categories.
    Linear,
}

/// Cases rated i by reader A and j by reader B, as a k x k table of counts.
pub fn confusion(a: &[usize], b: &[usize], k: usize) -> Vec<Vec<f64>> {
    let mut t = vec![vec![0.0; k]; k];
    for (&i, &j) in a.iter().zip(b) {
        if i < k && j < k {
            t[i][j] += 1.0;
        }
    }
    t
}

/// The share of cases on the diagonal.
pub fn percent_agreement(table: &[Vec<f64>]) -> Option<f64> {
    let n: f64 = table.iter().flatten().sum();
    (n > 0.0).then(|| (0..table.len()).map(|i| table[i][i]).sum::<f64>() / n)
}

/// Cohen's kappa of a k x k table with the Fleiss-Cohen-Everitt (1969) large-sample standard
/// error (as SAS and statsmodels compute it). `None` when the table is empty or chance agreement
/// is already perfect (kappa undefined).
pub fn cohen_kappa(table: &[Vec<f64>], weights: Weights) -> Option<Estimate> {
    let k = table.len();
    let n: f64 = table.iter().flatten().sum();
    if k == 0 || n <= 0.0 {
        return None;
    }
    let w = |i: usize, j: usize| -> f64 {
        match weights {
            Weights::Unweighted => f64::from(u8::from(i == j)),
            Weights::Linear if k > 1 => 1.0 - (i as f64 - j as f64).abs() / (k - 1) as f64,
            Weights::Linear => 1.0,
        }
    };
    let p: Vec<Vec<f64>> = table
        .iter()
        .map(|r| r.iter().map(|c| c / n).collect())
        .collect();
    let row: Vec<f64> = p.iter().map(|r| r.iter().sum()).collect();
    let col: Vec<f64> = (0..k).map(|j| p.iter().map(|r| r[j]).sum()).collect();
    let mut po = 0.0;
    let mut pe = 0.0;
    for i in 0..k {
        for j in 0..k {
            po += w(i, j) * p[i][j];
            pe += w(i, j) * row[i] * col[j];
        }
    }
    if (1.0 - pe).abs() < 1e-12 {
        return None;
    }
    let kappa = (po - pe) / (1.0 - pe);
    // w̄_i. = Σ_j p_.j w_ij and w̄_.j = Σ_i p_i. w_ij.
    let wr: Vec<f64> = (0..k)
        .map(|i| (0..k).map(|j| col[j] * w(i, j)).sum())
        .collect();
    let wc: Vec<f64> = (0..k)
        .map(|j| (0..k).map(|i| row[i] * w(i, j)).sum())
        .collect();
    let mut a = 0.0;
    for i in 0..k {
        for j in 0..k {
            a += p[i][j] * (w(i, j) - (wr[i] + wc[j]) * (1.0 - kappa)).powi(2);
        }
    }
    let var = (a - (kappa - pe * (1.0 - kappa)).powi(2)) / ((1.0 - pe).powi(2) * n);
    let e = Estimate::normal(kappa, var.max(0.0).sqrt());
    // Kappa lives in [-1, 1]; so does its interval.
    Some(Estimate {
        ci: (e.ci.0.max(-1.0), e.ci.1.min(1.0)),
        ..e
    })
}

/// Fleiss' kappa of `counts[case][category]` = how many readers put the case in the category (every
/// case rated by the same number of readers, at least two). The interval is a percentile bootstrap
/// over cases (`resamples`, seeded for reproducibility).
pub fn fleiss_kappa(counts: &[Vec<f64>], resamples: usize, seed: u64) -> Option<Estimate> {
    let value = fleiss_point(counts)?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut boot: Vec<f64> = (0..resamples)
        .filter_map(|_| {
            let sample: Vec<Vec<f64>> = (0..counts.len())
                .map(|_| counts[rng.usize(0..counts.len())].clone())
                .collect();
            fleiss_point(&sample)
        })
        .collect();
    if boot.len() < 2 {
        return Some(Estimate {
            value,
            se: f64::NAN,
            ci: (f64::NAN, f64::NAN),
        });
    }
    boot.sort_by(f64::total_cmp);
    let mean = boot.iter().sum::<f64>() / boot.len() as f64;
    let se =
        (boot.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / (boot.len() - 1) as f64).sqrt();
    let at = |q: f64| boot[((q * (boot.len() - 1) as f64).round() as usize).min(boot.len() - 1)];
    Some(Estimate {
        value,
        se,
        ci: (at(0.025), at(0.975)),
    })
}

fn fleiss_point(counts: &[Vec<f64>]) -> Option<f64> {
    let cases = counts.len() as f64;
    let k = counts.first()?.len();
    let raters: f64 = counts[0].iter().sum();
    let uneven = counts
        .iter()
        .any(|r| r.len() != k || (r.iter().sum::<f64>() - raters).abs() > 1e-9);
    if raters < 2.0 || uneven {
        return None;
    }
    let p_bar = counts
        .iter()
        .map(|r| (r.iter().map(|c| c * c).sum::<f64>() - raters) / (raters * (raters - 1.0)))
        .sum::<f64>()
        / cases;
    let pe: f64 = (0..k)
        .map(|j| {
            let pj = counts.iter().map(|r| r[j]).sum::<f64>() / (cases * raters);
            pj * pj
        })
        .sum();
    if (1.0 - pe).abs() < 1e-12 {
        return None;
    }
    Some((p_bar - pe) / (1.0 - pe))
}

/// ROC AUC of `scores` for telling positives from negatives (ties count half), with the Hanley and
/// McNeil (1982) standard error. `None` without at least one of each.
pub fn roc_auc(scores: &[(f64, bool)]) -> Option<Estimate> {
    let pos: Vec<f64> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
    let neg: Vec<f64> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in &pos {
        for q in &neg {
            wins += if p > q {
                1.0
            } else if p == q {
                0.5
            } else {
                0.0
            };
        }
    }
    let (n1, n2) = (pos.len() as f64, neg.len() as f64);
    let a = wins / (n1 * n2);
    let q1 = a / (2.0 - a);
    let q2 = 2.0 * a * a / (1.0 + a);
    let var = (a * (1.0 - a) + (n1 - 1.0) * (q1 - a * a) + (n2 - 1.0) * (q2 - a * a)) / (n1 * n2);
    let e = Estimate::normal(a, var.max(0.0).sqrt());
    Some(Estimate {
        ci: (e.ci.0.max(0.0), e.ci.1.min(1.0)),
        ..e
    })
}

/// Overlap of two readers' regions (each the union of their shapes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overlap {
    pub dice: f64,
    pub iou: f64,
    /// Level-0 px² of A, B and A ∩ B.
    pub area_a: f64,
    pub area_b: f64,
    pub intersection: f64,
}

fn union_of(shapes: &[Shape]) -> MultiPolygon<f64> {
    shapes
        .iter()
        .filter_map(Shape::to_multipolygon)
        .fold(MultiPolygon(Vec::new()), |acc, m| acc.union(&m))
}

/// Dice and IoU of the areas covered by `a` and by `b`; `None` when neither covers anything.
pub fn overlap(a: &[Shape], b: &[Shape]) -> Option<Overlap> {
    let (ua, ub) = (union_of(a), union_of(b));
    let (area_a, area_b) = (ua.unsigned_area(), ub.unsigned_area());
    if area_a + area_b <= 0.0 {
        return None;
    }
    let intersection = ua.intersection(&ub).unsigned_area();
    Some(Overlap {
        dice: 2.0 * intersection / (area_a + area_b),
        iou: intersection / (area_a + area_b - intersection),
        area_a,
        area_b,
        intersection,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Fleiss, Levin & Paik, Statistical Methods for Rates and Proportions (3rd ed., 2003),
    /// section 18.1: two psychiatrists, 100 patients, diagnoses psychotic / neurotic / organic.
    /// kappa = 0.676 as published; SE and the linearly weighted kappa as statsmodels 0.15
    /// `cohens_kappa` reports (0.08770, 0.72222, 0.08430).
    fn psychiatric() -> Vec<Vec<f64>> {
        vec![
            vec![75.0, 1.0, 4.0],
            vec![5.0, 4.0, 1.0],
            vec![0.0, 0.0, 10.0],
        ]
    }

    #[test]
    fn cohen_kappa_matches_fleiss_levin_paik_and_statsmodels() {
        let k = cohen_kappa(&psychiatric(), Weights::Unweighted).expect("defined");
        assert!(close(k.value, 0.676_470_588, 1e-9), "{k:?}");
        assert!(close(k.se, 0.087_702_953_5, 1e-9), "{k:?}");
        assert!(close(k.ci.0, 0.504_575_958, 1e-8) && close(k.ci.1, 0.848_365_218, 1e-8));
        let w = cohen_kappa(&psychiatric(), Weights::Linear).expect("defined");
        assert!(close(w.value, 0.722_222_222, 1e-9), "{w:?}");
        assert!(close(w.se, 0.084_300_953_9, 1e-9), "{w:?}");
        assert!(close(
            percent_agreement(&psychiatric()).expect("n > 0"),
            0.89,
            1e-12
        ));
    }

    #[test]
    fn cohen_kappa_two_by_two() {
        // Wikipedia "Cohen's kappa", worked example: 50 grant proposals, 20 yes/yes, 5 yes/no,
        // 10 no/yes, 15 no/no: po = 0.7, pe = 0.5, kappa = 0.4 (statsmodels SE 0.126996).
        let t = confusion(
            &[vec![0; 25], vec![1; 25]].concat(),
            &[vec![0; 20], vec![1; 5], vec![0; 10], vec![1; 15]].concat(),
            2,
        );
        assert_eq!(t, vec![vec![20.0, 5.0], vec![10.0, 15.0]]);
        let k = cohen_kappa(&t, Weights::Unweighted).expect("defined");
        assert!(
            close(k.value, 0.4, 1e-12) && close(k.se, 0.126_996_063, 1e-8),
            "{k:?}"
        );
        // All cases in one category: chance agreement is perfect and kappa undefined.
        assert!(cohen_kappa(&[vec![5.0, 0.0], vec![0.0, 0.0]], Weights::Unweighted).is_none());
    }

    #[test]
    fn fleiss_kappa_matches_the_published_example() {
        // Wikipedia "Fleiss' kappa", worked example: 10 cases, 14 raters, 5 categories;
        // kappa = 0.210 (statsmodels fleiss_kappa: 0.2099307044).
        let counts: Vec<Vec<f64>> = [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
        .iter()
        .map(|r| r.iter().map(|&c| f64::from(c)).collect())
        .collect();
        let k = fleiss_kappa(&counts, 2000, 7).expect("defined");
        assert!(close(k.value, 0.209_930_704_4, 1e-9), "{k:?}");
        assert!(k.ci.0 < k.value && k.value < k.ci.1, "{k:?}");
        assert_eq!(
            fleiss_kappa(&counts, 2000, 7),
            Some(k),
            "seeded: reproducible"
        );
        // Every case needs the same readers and categories.
        assert!(fleiss_kappa(&[vec![1.0, 1.0], vec![3.0, 0.0]], 10, 1).is_none());
        assert!(fleiss_kappa(&[vec![1.0, 1.0], vec![2.0]], 10, 1).is_none());
    }

    #[test]
    fn auc_matches_hanley_and_mcneil() {
        // Hanley & McNeil, Radiology 143:29-36 (1982), table 1: CT ratings (1-5) of 58 normal and
        // 51 abnormal patients; AUC 0.893 with SE 0.032.
        let mut s = Vec::new();
        for (rating, normal, abnormal) in
            [(1, 33, 3), (2, 6, 2), (3, 6, 2), (4, 11, 11), (5, 2, 33)]
        {
            s.extend(std::iter::repeat_n((f64::from(rating), false), normal));
            s.extend(std::iter::repeat_n((f64::from(rating), true), abnormal));
        }
        let auc = roc_auc(&s).expect("both classes");
        assert!(close(auc.value, 0.893_171_061_5, 1e-9), "{auc:?}");
        assert!(close(auc.se, 0.032, 0.0006), "{auc:?}");
        assert!(roc_auc(&[(0.3, true)]).is_none());
    }

    #[test]
    fn dice_and_iou_of_overlapping_regions() {
        let a = [Shape::rectangle([0.0, 0.0], [10.0, 10.0])];
        // B: two boxes, one half over A, one elsewhere.
        let b = [
            Shape::rectangle([5.0, 0.0], [15.0, 10.0]),
            Shape::rectangle([100.0, 100.0], [110.0, 110.0]),
        ];
        let o = overlap(&a, &b).expect("areas");
        assert!(close(o.intersection, 50.0, 1e-9));
        assert!(close(o.dice, 2.0 * 50.0 / 300.0, 1e-12));
        assert!(close(o.iou, 50.0 / 250.0, 1e-12));
        // A reader's overlapping shapes count once.
        let twice = [a[0].clone(), a[0].clone()];
        assert!(close(overlap(&twice, &a).expect("areas").dice, 1.0, 1e-12));
        assert!(overlap(&[], &[]).is_none());
    }
}
