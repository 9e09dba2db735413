"""Compare plan files by what they mean (quotas and numeric milestones), not by text."""

import copy
from collections import Counter
from pathlib import Path

from tracker.plans.loader import _build_spec

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED_XLSX = ROOT / "fixtures" / "plan_2024_published.xlsx"
GAZETTE_TEXT = ROOT.parent / "shared" / "seeds" / "003_ccd5309b306f7828.txt"


def quota_cells(data) -> dict:
    """(seq, indicator, unit code) → (value, new, upgrade) as the loader reads them."""
    spec = _build_spec(copy.deepcopy(data))
    return {
        (p["seq"], ind["order"], code): (q["value"], q["new_value"], q["upgrade_value"])
        for p in spec.projects
        for ind in p["indicators"]
        for code, q in ind["quotas"].items()
    }


def numeric_milestones(data) -> Counter:
    """(seq, indicator, due date, kind, value) of every numeric milestone row."""
    spec = _build_spec(copy.deepcopy(data))
    return Counter(
        (p["seq"], m["indicator"], m["due_date"], m["kind"], m["value"])
        for p in spec.projects
        for m in p["milestones"]
        if m["kind"] != "qualitative"
    )


def milestone_texts(data) -> dict:
    """(seq, indicator, due date, kind, value) → the sentence it was read from."""
    spec = _build_spec(copy.deepcopy(data))
    return {
        (p["seq"], m["indicator"], m["due_date"], m["kind"], m["value"]): m["text"]
        for p in spec.projects
        for m in p["milestones"]
    }
