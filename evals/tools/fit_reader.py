"""Fit the extractive reader's scoring weights and calibrate its answerability threshold.

Reproduces ``assistant/answer/reader_weights.json`` from the development sets only::

    python evals/tools/reader_dev.py cache evals/rare_earths.yaml evals/rare_earths_extra.yaml \
        evals/covid_qa_dev.yaml evals/covid_qa_nearmiss.yaml
    python evals/tools/fit_reader.py [--write]

1. For every answerable case, the reader's candidate units of its cached retrieval are labelled:
   a unit is positive when it holds a key fact (or, for a case with an answer span, at least 60%
   of the span's content words).
2. A linear model over :data:`assistant.answer.scoring.FEATURES` is fitted to those labels
   (each question weighs the same, whatever its number of units): by default listwise (the
   softmax share of a question's positive units, what the unit that leads an answer needs), then
   calibrated to a probability (``--loss pointwise``: a plain logistic model); first in cross-validation by
   document group (articles; the rare-earth sets as one group each) to report how well the ranking
   carries to documents the fit never saw, then on everything.
3. The ``support`` threshold is calibrated on answerable against unanswerable cases: the script
   prints the curve (refusals against false refusals per threshold) and picks the threshold that
   maximises, averaged over the sets, refusals minus twice the false refusals, among the
   thresholds that refuse at most 10% of any set's answerable questions.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SETS = ["rare_earths", "rare_earths_extra", "covid_qa_dev", "covid_qa_nearmiss", "rare_earths_leaveout"]
EMB_CACHE = ROOT / "evals/out/dev-cache/embeddings.pkl"
# the near-miss set's answerable questions repeat the COVID-QA set's: they train answerability only
RANKING_SKIP = {"covid_qa_nearmiss"}
MAX_FALSE_REFUSALS = 0.10  # no development set may lose more answerable questions than this
SET_BALANCE = float(__import__("os").environ.get("SET_BALANCE", "0.5"))


class CachingEmbedder:
    """The real embedder with a persistent text -> vector cache (fitting embeds many units)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cache: dict[str, np.ndarray] = pickle.loads(EMB_CACHE.read_bytes()) if EMB_CACHE.exists() else {}
        self.new = 0

    def query(self, text: str) -> list[float]:
        return list(self.encode_cached([text])[0])

    def encode_cached(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.inner.encode(missing), strict=True):
                self.cache[t] = np.asarray(v, dtype=np.float32)
            self.new += len(missing)
        return np.stack([self.cache[t] for t in texts])

    def save(self) -> None:
        if self.new:
            EMB_CACHE.write_bytes(pickle.dumps(self.cache))


def labels_for(case: Any, span: str | None, units: list[Any]) -> np.ndarray:
    from assistant.answer.text import STOPWORDS
    from assistant.evals.metrics import fact_found, tokens

    if span:
        want = [t for t in dict.fromkeys(tokens(span)) if t not in STOPWORDS]
        out = []
        for u in units:
            have = set(tokens(u.text))
            share = sum(t in have for t in want) / len(want) if want else 0.0
            out.append(share >= 0.6 or fact_found(span, u.text))
        return np.array(out, dtype=bool)
    return np.array([any(fact_found(f, u.text) for f in case.key_facts) for u in units], dtype=bool)


def collect(embedder: CachingEmbedder, weights: Any) -> list[dict[str, Any]]:
    from assistant.answer.reader import read
    from assistant.evals.dataset import load_eval_sets

    rows: list[dict[str, Any]] = []
    for name in SETS:
        path = ROOT / f"evals/{name}.yaml"
        if not path.exists():  # a set made by leave_out.py lives beside its cache
            path = ROOT / f"evals/out/dev-cache/{name}.yaml"
        cache = ROOT / f"evals/out/dev-cache/{name}.pkl"
        if not cache.exists():
            print(f"skip {name}: no cached retrievals (run reader_dev.py cache)", file=sys.stderr)
            continue
        data = pickle.loads(cache.read_bytes())["retrievals"]
        spans = {c.get("id"): c.get("answer_span") for c in yaml.safe_load(path.read_text()) or []}
        for case in load_eval_sets(path):
            standalone, retrieval = data[case.id]
            reading = read(standalone, retrieval, embedder, weights.model_copy(update={"embedded": 400}))
            group = case.source_doc_ids[0] if name.startswith("covid") and case.source_doc_ids else name
            row = {
                "set": name,
                "id": case.id,
                "answerable": case.answerable,
                "group": group,
                "reading": reading,
                "unknown": retrieval.unknown_specifics,
            }
            if reading is not None and case.answerable:
                row["labels"] = labels_for(case, spans.get(case.id), reading.units)
            rows.append(row)
        print(f"{name}: {sum(r['set'] == name for r in rows)} cases", file=sys.stderr)
    embedder.save()
    return rows


def fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression (scipy's L-BFGS; no scikit-learn needed)."""
    from scipy.optimize import minimize

    _n, d = X.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, b = theta[:d], theta[d]
        z = X @ coef + b
        p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
        eps = 1e-9
        ll = -(w * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))).sum() / w.sum()
        reg = 0.5 * l2 * (coef @ coef) / w.sum()
        g = X.T @ (w * (p - y)) / w.sum() + l2 * coef / w.sum()
        return ll + reg, np.concatenate([g, [(w * (p - y)).sum() / w.sum()]])

    res = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B")
    return res.x[:d], float(res.x[d])


def fit_listwise(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    q: np.ndarray,
    l2: float = 1.0,
) -> tuple[np.ndarray, float]:
    """A linear ranking fitted listwise, then calibrated.

    The ranking maximises, per question, the softmax probability mass of its positive units (what
    selection uses: the unit that leads); a question weighs the sum of its units' weights, and one
    without a positive unit is left out. A one-dimensional logistic model of the labels over that
    score (Platt scaling, same weights) then makes it a probability, so thresholds keep their
    meaning: the result is one coefficient vector and intercept, like :func:`fit`'s.
    """
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    order = np.argsort(q, kind="stable")
    X, y, w, q = X[order], y[order], w[order], q[order]
    pos = y > 0.5
    has_pos = np.zeros(int(q.max()) + 1, dtype=bool)
    has_pos[q[pos]] = True
    keep = has_pos[q]
    Xr, pr, qr = X[keep], pos[keep], q[keep]
    starts = np.flatnonzero(np.r_[True, qr[1:] != qr[:-1]])
    rep = np.diff(np.r_[starts, len(qr)])
    segment = np.repeat(np.arange(len(starts)), rep)
    qw = np.add.reduceat(w[keep], starts)
    qw = qw * len(qw) / qw.sum()

    def loss(coef: np.ndarray) -> tuple[float, np.ndarray]:
        s = Xr @ coef
        lse_all = np.array([logsumexp(s[a : a + n]) for a, n in zip(starts, rep, strict=True)])
        lse_pos = np.array([logsumexp(s[a : a + n][pr[a : a + n]]) for a, n in zip(starts, rep, strict=True)])
        ll = -(qw * (lse_pos - lse_all)).sum() / qw.sum()
        p_all = np.exp(s - lse_all[segment])
        p_pos = np.where(pr, np.exp(s - lse_pos[segment]), 0.0)
        g_s = qw[segment] * (p_all - p_pos) / qw.sum()
        reg = 0.5 * l2 * (coef @ coef) / len(qw)
        return ll + reg, Xr.T @ g_s + l2 * coef / len(qw)

    res = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B")
    if not res.success:
        print(f"listwise fit: {res.message}", file=sys.stderr)
    (a,), b = fit((X @ res.x)[:, None], y, w, l2=0.0)
    return res.x * a, b


def design(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y, w, q = [], [], [], []
    used = [r for r in rows if "labels" in r and r["labels"].any() and r["set"] not in RANKING_SKIP]
    per_set: dict[str, int] = {}
    for r in used:
        per_set[r["set"]] = per_set.get(r["set"], 0) + 1
    for k, r in enumerate(used):
        f = r["reading"].features[0]
        X.append(f)
        y.append(r["labels"].astype(float))
        # positives and negatives of a question weigh half each; a question weighs
        # SET_BALANCE-wise between "each question the same" (0) and "each set the same" (1)
        pos = r["labels"].sum()
        neg = len(r["labels"]) - pos
        share = per_set[r["set"]] ** -SET_BALANCE
        w.append(share * np.where(r["labels"], 0.5 / pos, 0.5 / max(1, neg)))
        q.append(np.full(len(f), k))
    W = np.concatenate(w)
    return np.vstack(X), np.concatenate(y), W * len(used) / W.sum(), np.concatenate(q)


def ranking_quality(rows: list[dict[str, Any]], coef: np.ndarray, b: float) -> dict[str, float]:
    top1 = top3 = n = 0
    for r in rows:
        if "labels" not in r or not r["labels"].any():
            continue
        s = r["reading"].features[0] @ coef + b
        order = np.argsort(-s)
        top1 += bool(r["labels"][order[0]])
        top3 += bool(r["labels"][order[:3]].any())
        n += 1
    if not n:
        return {"n": 0}
    return {"top1": round(top1 / n, 3), "top3": round(top3 / n, 3), "n": n}


def main() -> None:
    from assistant import Assistant, Settings
    from assistant.answer.answerability import assess
    from assistant.answer.scoring import FEATURES, probability
    from assistant.answer.weights import WEIGHTS_FILE, ReaderWeights

    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="write reader_weights.json")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument(
        "--loss",
        choices=("pointwise", "listwise"),
        default="listwise",
        help="pointwise: each unit's label; listwise: which unit of a question ranks first",
    )
    args = ap.parse_args()

    weights = ReaderWeights.load()
    assistant = Assistant.open(ROOT / "indexes/default", Settings())
    embedder = CachingEmbedder(assistant.embedder)
    rows = collect(embedder, weights)
    X, y, w, q = design(rows)

    def ranking_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, float]:
        if args.loss == "pointwise":
            return fit(X, y, w, args.l2)
        return fit_listwise(X, y, w, q, args.l2)

    print(
        f"{len(X)} units, {int(y.sum())} positive, {len({r['id'] for r in rows if 'labels' in r})} questions"
    )

    # cross-validation by document group
    groups = sorted({r["group"] for r in rows if "labels" in r})
    folds = [groups[i::5] for i in range(5)]
    held: list[dict[str, Any]] = []
    for fold in folds:
        train = [r for r in rows if r["group"] not in fold]
        test = [r for r in rows if r["group"] in fold]
        Xt, yt, wt, qt = design(train)
        coef, b = ranking_fit(Xt, yt, wt, qt)
        held.append({"coef": coef, "b": b, "test": test})
    for name in SETS:
        tops = [
            ranking_quality([r for r in h["test"] if r["set"] == name], h["coef"], h["b"])
            for h in held
            if any(r["set"] == name and "labels" in r for r in h["test"])
        ]
        if tops:
            n = sum(t["n"] for t in tops)
            print(
                f"cv {name}: top1 {sum(t['top1'] * t['n'] for t in tops) / n:.3f} "
                f"top3 {sum(t['top3'] * t['n'] for t in tops) / n:.3f} (n={n})"
            )

    coef, b = ranking_fit(X, y, w, q)
    fitted = weights.model_copy(
        update={
            "coefficients": {f: round(float(c), 4) for f, c in zip(FEATURES, coef, strict=True)},
            "intercept": round(b, 4),
        }
    )
    for name in SETS:
        print(f"fit {name}: {ranking_quality([r for r in rows if r['set'] == name], coef, b)}")
    print(json.dumps(fitted.coefficients, indent=1))

    # answerability: recompute probabilities with the fitted weights, then fit a second logistic
    # model on answerable against unanswerable cases over the best unit's features
    from assistant.answer.answerability import ANSWERABILITY_FEATURES, aspect_features, eligible

    for r in rows:
        if r["reading"] is not None:
            r["reading"].prob = np.stack([probability(f, fitted) for f in r["reading"].features])
    AX, Ay, Aw, Aset = [], [], [], []
    counts: dict[tuple[str, bool], int] = {}
    for r in rows:
        if r["reading"] is not None:
            counts[(r["set"], r["answerable"])] = counts.get((r["set"], r["answerable"]), 0) + 1
    for r in rows:
        reading = r["reading"]
        if reading is None:
            continue
        ok = eligible(reading, 0)
        if not ok.any():
            continue
        best = int(np.argmax(np.where(ok, reading.prob[0], -1.0)))
        AX.append(aspect_features(reading, 0, best))
        Ay.append(float(r["answerable"]))
        Aw.append(1.0 / counts[(r["set"], r["answerable"])])
        Aset.append(r["set"])
    AX, Ay, Aw = np.array(AX), np.array(Ay), np.array(Aw)
    Aw = Aw * len(Aw) / Aw.sum()  # mean weight 1: the L2 penalty means the same as in the ranking fit
    acoef, ab = fit(AX, Ay, Aw, args.l2)
    fitted = fitted.model_copy(
        update={
            "answerability": {
                f: round(float(c), 4) for f, c in zip(ANSWERABILITY_FEATURES, acoef, strict=True)
            },
            "answerability_intercept": round(ab, 4),
        }
    )
    print("answerability:", json.dumps(fitted.answerability))
    # cross-validated answerability probabilities (5 folds by case) for an honest curve
    rng = np.random.default_rng(0)
    fold = rng.integers(0, 5, len(AX))
    cv_p = np.zeros(len(AX))
    for k in range(5):
        c, b0 = fit(AX[fold != k], Ay[fold != k], Aw[fold != k], args.l2)
        cv_p[fold == k] = 1 / (1 + np.exp(-(AX[fold == k] @ c + b0)))
    for t in np.round(np.arange(0.3, 0.81, 0.05), 2):
        parts = []
        for name in SETS:
            m = np.array([x == name for x in Aset])
            un, an = m & (Ay == 0), m & (Ay == 1)
            parts.append(
                f"{name}: refused {np.mean(cv_p[un] < t) if un.any() else float('nan'):.2f} "
                f"false {np.mean(cv_p[an] < t):.2f}"
            )
        print(f"cv answerability {t:.2f}: " + "  ".join(parts))
    curve = []
    for t in np.round(np.arange(0.05, 0.96, 0.05), 2):
        trial = fitted.model_copy(update={"support": float(t)})
        out = {}
        for name in SETS:
            ans = [r for r in rows if r["set"] == name and r["answerable"]]
            un = [r for r in rows if r["set"] == name and not r["answerable"]]

            def refused(r: dict[str, Any], trial: Any = trial) -> bool:
                return r["reading"] is None or not any(s.supported for s in assess(r["reading"], trial))

            out[name] = (
                round(sum(map(refused, un)) / len(un), 3) if un else None,
                round(sum(map(refused, ans)) / len(ans), 3) if ans else None,
            )
        curve.append((float(t), out))
        print(f"support {t:.2f}: " + "  ".join(f"{n}: refused {a} false {f}" for n, (a, f) in out.items()))

    def utility(entry: tuple[float, dict[str, Any]]) -> float:
        # a false refusal costs an analyst an answer the documents hold: twice a missed refusal
        vals = [(a or 0.0) - 2 * (f or 0.0) for a, f in entry[1].values() if a is not None]
        return sum(vals) / len(vals)

    def allowed(entry: tuple[float, dict[str, Any]]) -> bool:
        return all((f or 0.0) <= MAX_FALSE_REFUSALS for _a, f in entry[1].values())

    best_t = max([c for c in curve if allowed(c)] or curve, key=utility)[0]
    print(f"chosen support threshold: {best_t}")
    fitted = fitted.model_copy(update={"support": best_t})
    if args.write:
        WEIGHTS_FILE.write_text(json.dumps(fitted.model_dump(), indent=2) + "\n")
        (ROOT / "evals/out/answerability_curve.json").write_text(json.dumps(curve, indent=1))
        print(f"wrote {WEIGHTS_FILE}")


if __name__ == "__main__":
    main()
