"""Suppression on many random tables (every small cell hidden, no line with a single hidden cell) and the audit
journal through the CLI and into the store."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.privacy.audit import AuditLog
from workbench.privacy.suppress import COMPLEMENTARY, SUPPRESSED, apply_mask, suppression_mask


@pytest.mark.parametrize("seed", range(40))
def test_no_small_cell_survives_and_none_can_be_recomputed(seed):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(2, 8), rng.integers(2, 6)
    counts = pd.DataFrame(rng.choice([0, 1, 3, 7, 9, 10, 12, 25, 40, 120], size=(rows, cols),
                                     p=[.05, .05, .05, .1, .05, .1, .15, .2, .15, .1]))
    mask = suppression_mask(counts)
    n = counts.to_numpy()
    assert mask.to_numpy()[(n > 0) & (n < 10)].all()
    hidden = mask.to_numpy()
    assert ((hidden.sum(axis=1) != 1) | (hidden.sum(axis=1) == 0)).all()
    assert ((hidden.sum(axis=0) != 1) | (hidden.sum(axis=0) == 0)).all()
    shown = apply_mask(counts, mask)
    assert set(shown.to_numpy()[hidden].tolist()) <= {SUPPRESSED, COMPLEMENTARY}


def test_a_table_without_small_cells_is_untouched():
    counts = pd.DataFrame({"a": [10, 40], "b": [0, 33]})
    assert not suppression_mask(counts).to_numpy().any()


def test_audit_cli_lists_and_imports(run_cli, tmp_path, store):
    journal = tmp_path / "audit.jsonl"
    log = AuditLog(journal)
    log.record("psy_wang", "psychology_teacher", "view_psychology", "S-0d154f", {"app": "psychology_dashboard"})
    log.record("li_t", "head_teacher", "refused", "class_dashboard", {"query": "class=G7C2"})
    with pytest.raises(ValueError, match="unknown audit action"):
        log.record("x", "parent", "peek", "S-1")
    store.close()
    out = run_cli("audit", "--journal", journal, "--store", store.path, "--json")
    rows = json.loads(out.stdout)
    assert sorted((r["user_name"], r["action"]) for r in rows) == [("li_t", "refused"), ("psy_wang", "view_psychology")]
    text = run_cli("audit", "--journal", journal, "--store", store.path, "--user", "psy_wang").stdout
    assert "查看心理/情绪数据" in text and "S-0d154f" in text and "li_t" not in text
    assert "2 entries moved" in run_cli("audit", "--journal", journal, "--store", store.path, "--import").stdout
    assert journal.read_text() == ""
    rows = json.loads(run_cli("audit", "--journal", journal, "--store", store.path, "--json").stdout)
    assert {r["action"] for r in rows} == {"refused", "view_psychology"}       # now from audit_log
