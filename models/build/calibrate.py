"""Step 3 of the bundled model's build: defines the risk score and its default threshold from data.

Runs in the app's venv (.deps/venv) on the committed `model.onnx` (full precision), over the 89 real
Camelyon16 patches (mpp protocol, the one Sentinel's pipeline reproduces). Nothing here is judged on
the data it was fitted on: every figure reported is out-of-fold under leave-one-slide-out
cross-validation (4 source slides: a fold holds out every patch of one slide), with the whole
procedure (choice of score, Platt fit, threshold choice) redone inside each fold.

  1. Candidate scores from the model's own outputs (the carcinoma class alone, or summed with
     related classes). Inside each fold the candidate with the best training AUC is used.
  2. Platt scaling: P(tumour) = sigmoid(a * logit(score) + b), fitted by maximum likelihood with
     Platt's smoothed targets (the patches are nearly separable; plain maximum likelihood would
     send `a` to infinity).
  3. The operating threshold: the highest calibrated score whose training sensitivity is at least
     90% (a screening aid should miss little); the held-out slide is then scored at it.

The final calibration and threshold are fitted the same way on all 89 patches and written into
model.json; their sensitivity and specificity quoted in model.json and the card are the
cross-validated ones, with Wilson 95% intervals.

    python calibrate.py MODEL_DIR
"""

import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import patches  # noqa: E402
from finish_capricorn import CLASSES, SIZE, roc_auc, run, session  # noqa: E402

TARGET_SENSITIVITY = 0.90
EPS = 1e-7

# Candidate risk scores: sums of class probabilities. Metastatic breast carcinoma is neither colon
# nor skin, so each carcinoma-related class is a candidate alongside the adenocarcinoma class.
CANDIDATES = {
    "adenocarcinoma": ["colorectal adenocarcinoma epithelium"],
    "adenocarcinoma + cancer stroma": ["colorectal adenocarcinoma epithelium", "cancer-associated stroma"],
    "carcinoma classes": [
        "colorectal adenocarcinoma epithelium",
        "basal cell carcinoma",
        "actinic keratoses/IEC",
        "melanoma",
    ],
    "not lymphoid": None,  # 1 - P(lymphocytes) - P(lymphocyte) - P(adipose) - P(background)
}
NOT_LYMPHOID_COMPLEMENT = ["lymphocytes", "lymphocyte", "adipose", "background"]


def candidate_score(probs: np.ndarray, name: str) -> np.ndarray:
    classes = CANDIDATES[name]
    if classes is None:
        idx = [CLASSES.index(c) for c in NOT_LYMPHOID_COMPLEMENT]
        return np.clip(1.0 - probs[:, idx].sum(axis=1), 0.0, 1.0)
    return np.clip(probs[:, [CLASSES.index(c) for c in classes]].sum(axis=1), 0.0, 1.0)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1.0 - EPS)
    return np.log(p / (1.0 - p))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def platt_fit(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(a, b) maximising the likelihood of Platt's smoothed targets (Newton's method)."""
    z = logit(scores)
    n_pos, n_neg = int(labels.sum()), int((labels == 0).sum())
    t = np.where(labels == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    def loss(a, b):
        # Negative log-likelihood, written stably through log(1 + exp(.)).
        m = a * z + b
        return float((np.logaddexp(0, m) - t * m).sum())

    a, b = 1.0, 0.0
    for _ in range(200):
        p = sigmoid(a * z + b)
        g = np.array([((p - t) * z).sum(), (p - t).sum()])
        w = p * (1 - p)
        h = np.array([[(w * z * z).sum(), (w * z).sum()], [(w * z).sum(), w.sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        # Backtracking: a full Newton step overshoots when scores sit at the clip limits.
        scale, before = 1.0, loss(a, b)
        while loss(a - scale * step[0], b - scale * step[1]) > before and scale > 1e-8:
            scale /= 2
        a, b = a - scale * step[0], b - scale * step[1]
        if np.abs(scale * step).max() < 1e-10:
            break
    return float(a), float(b)


def platt_apply(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    return sigmoid(a * logit(scores) + b)


def threshold_for_sensitivity(risk: np.ndarray, labels: np.ndarray, target: float) -> float:
    """The highest threshold t with sensitivity (risk >= t among positives) >= target; halfway to
    the next lower positive score, so the point is not sitting on a training patch."""
    pos = np.sort(risk[labels == 1])[::-1]
    k = int(math.ceil(target * len(pos)))  # need the top k positives at or above t
    t = pos[k - 1]
    below = pos[k] if k < len(pos) else 0.0
    return float((t + below) / 2.0) if below < t else float(t)


def wilson(successes: int, n: int, z: float = 1.959964) -> list[float]:
    if n == 0:
        return [0.0, 1.0]
    p = successes / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, c - h), min(1.0, c + h)]


def fit(probs: np.ndarray, labels: np.ndarray) -> dict:
    """The whole procedure on one training set: candidate, Platt, threshold."""
    aucs = {name: roc_auc(candidate_score(probs, name), labels) for name in CANDIDATES}
    best = max(aucs, key=lambda n: (aucs[n], n == "adenocarcinoma"))  # ties keep the plain class
    raw = candidate_score(probs, best)
    a, b = platt_fit(raw, labels)
    threshold = threshold_for_sensitivity(platt_apply(raw, a, b), labels, TARGET_SENSITIVITY)
    return {"score": best, "training_auc": aucs, "a": a, "b": b, "threshold": threshold}


def main() -> None:
    model_dir = Path(sys.argv[1])
    x, labels, names = patches.load("mpp", SIZE)
    probs = run(session(model_dir / "model.onnx"), x)
    slides = np.array([patches.slide_of(Path(n)) for n in names])

    # ---------------------------------------------------------- leave-one-slide-out
    oof_risk = np.zeros(len(labels))
    oof_flag = np.zeros(len(labels), dtype=bool)
    folds = []
    for held in sorted(set(slides)):
        train, test = slides != held, slides == held
        f = fit(probs[train], labels[train])
        risk = platt_apply(candidate_score(probs[test], f["score"]), f["a"], f["b"])
        oof_risk[test] = risk
        oof_flag[test] = risk >= f["threshold"]
        folds.append(
            {
                "held_out": held,
                "patches": int(test.sum()),
                "tumour": int(labels[test].sum()),
                "score": f["score"],
                "a": f["a"],
                "b": f["b"],
                "threshold": f["threshold"],
                "held_out_flagged_tumour": int((oof_flag & test & (labels == 1)).sum()),
                "held_out_flagged_normal": int((oof_flag & test & (labels == 0)).sum()),
            }
        )
    pos, neg = labels == 1, labels == 0
    tp, tn = int((oof_flag & pos).sum()), int((~oof_flag & neg).sum())
    cross_validated = {
        "method": "leave-one-slide-out (4 folds), score choice, Platt fit and threshold refitted in each fold",
        "auc": roc_auc(oof_risk, labels),
        "sensitivity": tp / int(pos.sum()),
        "sensitivity_ci95": wilson(tp, int(pos.sum())),
        "specificity": tn / int(neg.sum()),
        "specificity_ci95": wilson(tn, int(neg.sum())),
        "brier": float(((oof_risk - labels) ** 2).mean()),
        "brier_uncalibrated": float(((probs[:, CLASSES.index("colorectal adenocarcinoma epithelium")] - labels) ** 2).mean()),
        "reliability": [
            {
                "bin": f"{lo:.1f}-{hi:.1f}",
                "patches": int(m.sum()),
                "mean_predicted": float(oof_risk[m].mean()) if m.any() else None,
                "fraction_tumour": float(labels[m].mean()) if m.any() else None,
            }
            for lo, hi in zip(np.arange(0, 1, 0.2), np.arange(0.2, 1.01, 0.2))
            for m in [(oof_risk >= lo) & ((oof_risk < hi) if hi < 1.0 else (oof_risk <= 1.0))]
        ],
        "folds": folds,
    }
    # The same candidates' AUCs, out-of-fold: does any beat the plain class beyond noise?
    candidates_oof = {}
    for name in CANDIDATES:
        r = np.zeros(len(labels))
        for held in sorted(set(slides)):
            train, test = slides != held, slides == held
            a, b = platt_fit(candidate_score(probs[train], name), labels[train])
            r[test] = platt_apply(candidate_score(probs[test], name), a, b)
        candidates_oof[name] = roc_auc(r, labels)

    final = fit(probs, labels)
    sens, spec = cross_validated["sensitivity"], cross_validated["specificity"]
    (sl, sh), (pl, ph) = cross_validated["sensitivity_ci95"], cross_validated["specificity_ci95"]
    meaning = (
        f"{final['threshold']:.2f}: {sens:.0%} sensitivity (95% CI {sl:.0%}-{sh:.0%}), "
        f"{spec:.0%} specificity ({pl:.0%}-{ph:.0%}) on 89 Camelyon16 patches, leave-one-slide-out"
    )
    # In-sample figures at the final threshold: what `cargo test` recomputes through the Rust
    # pipeline (a check of the pipeline, not an estimate of performance; that is `cross_validated`).
    final_risk = platt_apply(candidate_score(probs, final["score"]), final["a"], final["b"])
    flagged = final_risk >= final["threshold"]
    at_threshold = {
        "true_positives": int((flagged & pos).sum()),
        "true_negatives": int((~flagged & neg).sum()),
        "tumour": int(pos.sum()),
        "normal": int(neg.sum()),
    }
    calibration = {
        "at_threshold_all_patches": at_threshold,
        "score": final["score"],
        "classes": CANDIDATES[final["score"]],
        "method": "platt",
        "a": final["a"],
        "b": final["b"],
        "threshold": final["threshold"],
        "threshold_meaning": meaning,
        "cross_validated": cross_validated,
        "candidates_training_auc_all_patches": final["training_auc"],
        "candidates_auc_leave_one_slide_out": candidates_oof,
        "target_sensitivity": TARGET_SENSITIVITY,
    }

    meta_path = model_dir / "model.json"
    meta = json.loads(meta_path.read_text())
    if final["score"] != "adenocarcinoma":
        raise SystemExit(
            f"the best score is {final['score']!r}; model.json's single risk_class cannot express it: extend the contract first"
        )
    meta["calibration"] = {"method": "platt", "a": round(final["a"], 6), "b": round(final["b"], 6)}
    meta["threshold"] = {"value": round(final["threshold"], 4), "meaning": meaning}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")

    ev_path = model_dir / "evaluation.json"
    ev = json.loads(ev_path.read_text())
    ev["calibration"] = calibration
    ev_path.write_text(json.dumps(ev, indent=2) + "\n")
    print(json.dumps({k: v for k, v in calibration.items() if k != "cross_validated"}, indent=1))
    print(json.dumps({k: v for k, v in cross_validated.items() if k not in ("folds", "reliability")}, indent=1))


if __name__ == "__main__":
    main()
