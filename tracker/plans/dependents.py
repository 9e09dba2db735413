"""What stored data hangs on a plan's targets, cells and milestones, asked without
importing the packages that store it.

Plans sit below progress and review, yet a plan change must show the reports,
completions, reviews and explanations it touches before anything is written. The packages
above register a counter here in ``TrackerConfig.ready`` (``register``); the loader's
preview asks ``touched`` and never names their models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Dependent:
    """One kind of stored data (「进度填报」) and how to count it.

    ``cells(indicator_ids)`` gives ``{(indicator_id, district_id): n}`` for every cell of
    those targets; ``milestones(milestone_ids)`` gives ``{milestone_id: n}``. Either may be
    None when the data does not hang there.
    """

    label: str
    cells: Callable[[list[int]], dict] | None = None
    milestones: Callable[[list[int]], dict] | None = None


_REGISTRY: dict[str, Dependent] = {}


def register(dependent: Dependent) -> None:
    """Called once per kind of data, from ``TrackerConfig.ready`` (idempotent)."""
    _REGISTRY[dependent.label] = dependent


def registered() -> list[Dependent]:
    return list(_REGISTRY.values())


class Touched:
    """Counts per label, by cell and by milestone, for one preview. Asked on first use
    (a few queries): a reload that changes nothing never counts anything."""

    def __init__(self, indicator_ids: Iterable[int], milestone_ids: Iterable[int]):
        self.indicator_ids = sorted(set(indicator_ids))
        self.milestone_ids = sorted(set(milestone_ids))

    @cached_property
    def cells(self) -> dict[str, Counter]:
        return {
            dep.label: Counter(dep.cells(self.indicator_ids))
            for dep in registered()
            if dep.cells is not None and self.indicator_ids
        }

    @cached_property
    def milestones(self) -> dict[str, Counter]:
        return {
            dep.label: Counter(dep.milestones(self.milestone_ids))
            for dep in registered()
            if dep.milestones is not None and self.milestone_ids
        }

    def of_cell(self, indicator_id, district_id) -> dict[str, int]:
        return _nonzero({k: c.get((indicator_id, district_id), 0) for k, c in self.cells.items()})

    def of_indicator(self, indicator_id) -> dict[str, int]:
        return _nonzero(
            {
                label: sum(n for (i, _d), n in counts.items() if i == indicator_id)
                for label, counts in self.cells.items()
            }
        )

    def of_milestone(self, milestone_id) -> dict[str, int]:
        return _nonzero({k: c.get(milestone_id, 0) for k, c in self.milestones.items()})


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def touched(indicator_ids: Iterable[int], milestone_ids: Iterable[int]) -> Touched:
    """Every registered count for these targets' cells and these milestones."""
    return Touched(indicator_ids, milestone_ids)


def total(counts: dict[str, int]) -> int:
    return sum(counts.values())


def describe(counts: dict[str, int]) -> str:
    """「进度填报 12 条、审核 3 条」, or empty."""
    return "、".join(f"{label} {n} 条" for label, n in counts.items() if n)
