"""The one state machine of a figure: a cell-month (indicator × district × month).

States (derived from the stored rows, never stored twice)::

    empty ──填报──▶ filed ──上报──▶ submitted ──审核通过──▶ approved ──整月通过──▶ locked
                                   ▲   │                    │                  │  ▲
                                   │   └──退回(原因)──▶ returned ◀──退回(原因)──┘  │
                                   └──────────更正后上报─────┘                  解锁(原因)
                                                                                 ▼  │重新锁定
                                                                              unlocked

- a figure is ``filed`` once a ``ProgressReport`` exists and ``submitted`` once its month
  is 已上报 (a ``CellReview`` in 待审核); ``approved`` and ``locked`` are **frozen**: no
  value, deletion or 佐证材料 changes until the lead agency returns it (退回, with a
  reason) or 督查室 unlocks it (解锁, with a reason);
- ``unlocked`` (approved, unlocked by 督查室) takes changes until 督查室 relocks it or the
  lead agency returns it;
- four eyes: the approver is never the figure's last editor (``reported_by``): the last
  editor cannot approve, and the approver cannot edit an unlocked figure it approved.

``TRANSITIONS`` is the table (docs/review.md prints the same); ``check`` is the one
question every write path asks: the one write path (``progress.writes``: API, 本月填报,
admin grid and form, Excel), deletes, the review workflow (approve / return / unlock /
relock, one cell or many), 佐证材料 and 原因说明. Who may act at all (roles and scope)
stays with ``tracker.accounts.permissions``; this module answers "in this state, may
this happen?" and refuses in Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from django.db import models
from django.db.models import Q

from tracker.months import month_label
from tracker.progress.models import CellReview, CellState, ProgressReport


class Figure(models.TextChoices):
    EMPTY = "empty", "未填报"
    FILED = "filed", "已填报"
    SUBMITTED = "submitted", "待审核"
    RETURNED = "returned", "退回"
    APPROVED = "approved", "审核通过"
    LOCKED = "locked", "已锁定"
    UNLOCKED = "unlocked", "已解锁"


class Do(StrEnum):
    WRITE = "write"  # create or change the value (note, correction) of the figure
    DELETE = "delete"
    SUBMIT = "submit"  # the district's month 已上报 (cell by cell)
    APPROVE = "approve"
    RETURN = "return"
    UNLOCK = "unlock"
    RELOCK = "relock"
    EVIDENCE = "evidence"  # add or remove 佐证材料
    EXPLAIN = "explain"  # write the first 原因说明 of the cell's month
    REEXPLAIN = "reexplain"  # rewrite it


E, F, S, R, A, L, U = (Figure.EMPTY, Figure.FILED, Figure.SUBMITTED, Figure.RETURNED,
                       Figure.APPROVED, Figure.LOCKED, Figure.UNLOCKED)  # fmt: skip
FROZEN = frozenset({A, L})


@dataclass(frozen=True)
class Transition:
    sources: frozenset
    target: Figure | None  # None: the state does not change
    who: str
    reason: str = ""  # what reason the action needs ("" none)


_REPORTERS = "区、县(市)本区；牵头单位所牵头项目；督查室"
_CORRECTION = "累计数减少须勾选「更正」并填写本次更正的原因（每次更正各自填写）"

TRANSITIONS: dict[Do, Transition] = {
    Do.WRITE: Transition(frozenset({E, F, S, R, U}), None, _REPORTERS, _CORRECTION),
    Do.DELETE: Transition(frozenset({F, S, R}), E, "督查室"),
    Do.SUBMIT: Transition(frozenset({F, R}), S, "区、县(市)本区（整月上报）"),
    Do.APPROVE: Transition(frozenset({S}), A, "该项目牵头单位，且不是该数据的最后修改人"),
    Do.RETURN: Transition(frozenset({S, A, U}), R, "该项目牵头单位", "退回原因"),
    Do.UNLOCK: Transition(frozenset({L}), U, "督查室", "解锁原因"),
    Do.RELOCK: Transition(frozenset({A, U}), L, "督查室"),
    Do.EVIDENCE: Transition(frozenset({F, S, R, U}), None, "可修改该数据的单位"),
    Do.EXPLAIN: Transition(frozenset(Figure), None, "区、县(市)；市级整体指标为牵头单位"),
    Do.REEXPLAIN: Transition(frozenset({E, F, S, R, U}), None, "同上"),
}  # fmt: skip


class Refused(Exception):
    """The machine refuses; ``str(exc)`` is the Chinese message. Nothing changed."""


@dataclass(frozen=True)
class Cell:
    """What the machine knows of one cell-month."""

    indicator_id: int
    district_id: int
    month: date
    state: Figure
    last_editor_id: int | None = None  # who last wrote the figure (``reported_by``)
    reviewer_id: int | None = None  # who approved or returned it (``reviewed_by``)


def state_of(report: ProgressReport | None, review: CellReview | None) -> Figure:
    """The figure's state from its report (or None) and its review row (or None)."""
    if review is not None:
        if review.locked:
            return L
        if review.state == CellState.APPROVED:
            return U if review.unlock_reason else A
        if report is not None:
            return R if review.state == CellState.RETURNED else S
    return E if report is None else F


def review_q(*states: Figure) -> Q:
    """The ``CellReview`` rows whose cells are in one of ``states`` (reviewed states only:
    submitted, returned, approved, locked, unlocked)."""
    parts = {
        S: Q(state=CellState.PENDING, locked=False),
        R: Q(state=CellState.RETURNED, locked=False),
        A: Q(state=CellState.APPROVED, locked=False, unlock_reason=""),
        U: Q(state=CellState.APPROVED, locked=False) & ~Q(unlock_reason=""),
        L: Q(locked=True),
    }
    q = Q(pk__in=[])
    for state in states:
        q |= parts.get(state, Q(pk__in=[]))
    return q


def frozen_cells(indicator_ids, district_ids) -> set[tuple[int, int, date]]:
    """(indicator, district, month) of the frozen (approved or locked) cells among these;
    one query. The entry page and the workbooks show them read-only."""
    return set(
        CellReview.objects.filter(
            review_q(*FROZEN), indicator_id__in=indicator_ids, district_id__in=district_ids
        ).values_list("indicator_id", "district_id", "month")
    )


def cells(keys) -> dict[tuple[int, int, date], Cell]:
    """``Cell`` for each (indicator_id, district_id, month) in ``keys``; 2 queries."""
    keys = set(keys)
    if not keys:
        return {}
    ids = {i for i, _, _ in keys}
    dids = {d for _, d, _ in keys}
    months = {m for _, _, m in keys}
    reports = {
        (r.indicator_id, r.district_id, r.month): r
        for r in ProgressReport.objects.filter(
            indicator_id__in=ids, district_id__in=dids, month__in=months
        ).only("indicator_id", "district_id", "month", "reported_by_id")
    }
    reviews = reviews_of(ids, dids, months)
    found = {}
    for key in keys:
        report = reports.get(key)
        editor = report.reported_by_id if report is not None else None
        review = reviews.get(key)
        reviewer = review.reviewed_by_id if review is not None else None
        found[key] = Cell(*key, state_of(report, review), editor, reviewer)
    return found


def reviews_of(indicator_ids, district_ids, months=None) -> dict[tuple[int, int, date], CellReview]:
    """The review rows of these cells, by (indicator, district, month); one query."""
    qs = CellReview.objects.filter(indicator_id__in=indicator_ids, district_id__in=district_ids)
    if months is not None:
        qs = qs.filter(month__in=months)
    qs = qs.only(
        "indicator_id", "district_id", "month", "state", "locked", "unlock_reason", "reviewed_by_id"
    )
    return {(c.indicator_id, c.district_id, c.month): c for c in qs}


def cell_of(indicator_id: int, district_id: int, month: date) -> Cell:
    key = (indicator_id, district_id, month)
    return cells([key])[key]


# --- the question every write path asks ---------------------------------------------------


def can(user, action: Do, cell: Cell) -> bool:
    try:
        check(user, action, cell)
    except Refused:
        return False
    return True


def check(user, action: Do, cell: Cell, *, what: str = "该数据") -> None:
    """Refuse (``Refused``, in Chinese) ``action`` by ``user`` on ``cell`` in its state.
    ``what`` names the cell in the message (「上城区2024年6月的「…」」)."""
    action = Do(action)
    state = cell.state
    if state not in TRANSITIONS[action].sources:
        raise Refused(refusal(action, state, what))
    me = getattr(user, "pk", None)
    if action == Do.WRITE and state == U and me is not None and cell.reviewer_id == me:
        raise Refused(  # four eyes the other way: the approver does not edit its approval
            f"{what}由您审核通过，解锁后不能由您本人修改（审核人不能是最后修改人）；"
            "请由填报单位修改，或将其退回"
        )
    if action == Do.APPROVE and me is not None and cell.last_editor_id == me:
        raise Refused(
            f"{what}的最后修改人是您本人，不能由您审核通过（审核人不能是最后修改人）；"
            "请由本单位其他人员审核，或退回填报单位"
        )


def refusal(action: Do, state: Figure, what: str) -> str:
    """The Chinese message for ``action`` refused in ``state``."""
    verb = {
        Do.WRITE: "修改",
        Do.DELETE: "删除",
        Do.EVIDENCE: "上传或删除佐证材料",
        Do.REEXPLAIN: "修改原因说明",
    }.get(action)
    if verb and state == L:
        return f"{what}已审核并锁定，不能{verb}；如确需{verb}，请联系市政府督查室说明原因后解锁"
    if verb and state == A:
        return f"{what}已审核通过，不能{verb}；如需{verb}，请由牵头单位退回或由市政府督查室解锁"
    if action == Do.DELETE and state == E:
        return f"{what}尚未填报，没有可删除的数据"
    if action == Do.DELETE:
        return f"{what}{state.label}，不能删除；如需删除，请由牵头单位退回后再删除"
    if action == Do.EVIDENCE:
        return f"{what}尚未填报，请先填报数值再上传佐证材料"
    if action == Do.SUBMIT:
        return f"{what}{state.label}，不能上报"
    if action == Do.APPROVE:
        if state in (E, F):
            return f"{what}{'尚未填报' if state == E else '尚未上报'}，不能审核"
        if state == R:
            return f"{what}已退回，须由填报单位更正后重新上报才能审核"
        return f"{what}已{state.label}，无需重复审核"
    if action == Do.RETURN:
        if state == L:
            return f"{what}已审核并锁定，须先由市政府督查室解锁才能退回"
        if state == R:
            return f"{what}已退回，无需重复退回"
        return f"{what}{'尚未填报' if state == E else '尚未上报'}，不能退回"
    if action == Do.UNLOCK:
        return f"{what}未锁定，无需解锁"
    if action == Do.RELOCK:
        return f"{what}未审核通过，不能锁定"
    return f"{what}当前状态为「{state.label}」，不能进行此操作"


def describe(district_name: str, label: str, month: date) -> str:
    """How messages name a cell: 「上城区2024年6月的「…」」."""
    return f"{district_name}{month_label(month)}的「{label}」"
