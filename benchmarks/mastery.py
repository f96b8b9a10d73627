"""Mastery benchmark: BKT next-answer AUC on the DKT paper's ASSISTments 2009 split, beside pyBKT.

Fits on the training students of ../shared/data/assistments2009/piech_dkt_split (3,361 students,
407,967 attempts) and predicts every answer of the test students (856 students, 117,567 attempts)
before it is seen. Prints AUC and fit time for plain BKT and BKT with forgetting (ours), and for
pyBKT 1.4.3 on the same split when it is available in ``benchmarks/_work/venv-pybkt`` (pyBKT needs
numpy < 2.4 and scikit-learn < 1.8, so it lives in its own environment, never in the project's).

Published: BKT 0.73 and BKT+forgets 0.83 on ASSISTments 2009 (Khajah, Lindsey & Mozer, EDM 2016).
Goals: AUC ≥ 0.75; ours no slower than pyBKT.
Run: ``make bench`` or ``.venv/bin/python benchmarks/mastery.py``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.knowledge.bkt import BKT  # noqa: E402

SPLIT = ROOT.parent / "shared" / "data" / "assistments2009" / "piech_dkt_split"
PYBKT_PY = ROOT / "benchmarks" / "_work" / "venv-pybkt" / "bin" / "python"


def read_triples(path: Path) -> pd.DataFrame:
    """The 3-line DKT format: attempts; skill ids; correctness — one student per block."""
    lines = path.read_text().splitlines()
    rows = []
    for b in range(0, len(lines) - 2, 3):
        if not lines[b].strip():
            continue
        skills = [x for x in lines[b + 1].strip().split(",") if x != ""]
        correct = [x for x in lines[b + 2].strip().split(",") if x != ""]
        rows += [(b // 3, s, t, int(c)) for t, (s, c) in enumerate(zip(skills, correct))]
    return pd.DataFrame(rows, columns=["student", "kp", "order", "correct"])


PYBKT_SCRIPT = r"""
import json, sys, time, pandas as pd
from pyBKT.models import Model
from sklearn.metrics import roc_auc_score
tr, te, forgets = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2]), sys.argv[3] == "1"
cols = {"user_id": "student", "skill_name": "kp", "correct": "correct", "order_id": "row"}
m = Model(seed=0, num_fits=1)
t = time.perf_counter(); m.fit(data=tr, defaults=cols, forgets=forgets); fit = time.perf_counter() - t
p = m.predict(data=te)
print(json.dumps({"auc": roc_auc_score(te["correct"], p["correct_predictions"]), "fit": fit}))
"""


def run_pybkt(train: pd.DataFrame, test: pd.DataFrame, forgets: bool) -> dict | None:
    if not PYBKT_PY.exists():
        return None
    work = ROOT / "benchmarks" / "_work"
    for name, df in (("pybkt_train.csv", train), ("pybkt_test.csv", test)):
        df.assign(row=range(len(df)), kp=df["kp"].astype(str)).to_csv(work / name, index=False)
    out = subprocess.run([str(PYBKT_PY), "-c", PYBKT_SCRIPT, str(work / "pybkt_train.csv"), str(work / "pybkt_test.csv"),
                          "1" if forgets else "0"], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"pyBKT failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    train, test = read_triples(SPLIT / "builder_train.csv"), read_triples(SPLIT / "builder_test.csv")
    print(f"ASSISTments 2009 (DKT split): train {train.student.nunique():,} students / {len(train):,} attempts, "
          f"test {test.student.nunique():,} / {len(test):,}")
    print(f"{'model':34}{'AUC':>8}{'fit s':>9}")
    results = {}
    for label, forgets in (("workbench BKT", False), ("workbench BKT + forgetting", True)):
        t0 = time.perf_counter()
        model = BKT(forgets=forgets).fit(train)
        fit = time.perf_counter() - t0
        auc = roc_auc_score(test["correct"], model.predict_proba(test))
        results[forgets] = (auc, fit)
        print(f"{label:34}{auc:8.4f}{fit:9.1f}")
    for label, forgets in (("pyBKT 1.4.3", False), ("pyBKT 1.4.3 + forgets", True)):
        ref = run_pybkt(train, test, forgets)
        if ref is None:
            print(f"{label:34}{'(not available: make bench builds benchmarks/_work/venv-pybkt)':>40}")
            continue
        ours = results[forgets]
        print(f"{label:34}{ref['auc']:8.4f}{ref['fit']:9.1f}   fit ratio ours / pyBKT: {ours[1] / ref['fit']:.2f}x "
              f"(goal <= 1.00x) {'OK' if ours[1] <= ref['fit'] else 'ABOVE GOAL'}")
    best = max(a for a, _ in results.values())
    print(f"best next-answer AUC {best:.4f} (goal >= 0.75) {'OK' if best >= 0.75 else 'BELOW GOAL'}")


if __name__ == "__main__":
    main()
