"""Explain and review (issue 15): what people do to a figure and its state.

- ``explain``: 原因说明 / 整改措施 / 计划追赶完成时间 for a cell the lag check found 黄, 红,
  未按时填报 or at risk, by the district (the lead agency for city-level indicators);
  writing again updates it (history keeps the old).
- ``submit_month``: a district marks its month 已上报, only once every due cell (each
  numeric indicator with a quota for it in that year) is filled. Cells go to 待审核;
  cells returned earlier go back to 待审核 (the district corrected them).
- ``review_cell`` / ``approve_cells`` / ``return_cells``: the project's lead agency
  approves (审核通过) or returns (退回, each cell its own reason) one cell or many, all
  or nothing. Only a submitted figure is approved, never by its last editor (four eyes);
  a submitted, approved or unlocked one may be returned. The month's state follows:
  any cell returned → 部分退回; every cell approved → 已审核 and every cell locked.
- ``unlock`` / ``relock``: only 督查室, with a reason, a cell or a whole district-month.
  Changes after an unlock are ordinary progress changes, so the lag check's stale-month
  rule re-evaluates that month and the alert episodes decide what is news.

The figure's state machine (which action from which state, the Chinese refusals) is
``tracker.progress.lifecycle``; every function here asks it. The stored rows
(``MonthSubmission``, ``CellReview``, which figures count) are ``tracker.progress``;
佐证材料 are ``review.attachments``.

``allow(user, action, ...)`` is the one permission check here; it asks
``tracker.accounts.permissions`` (``allowed`` / ``restrict`` / ``may``) like every other
caller. A 退回 notifies the district (``signals.figure_returned``, recorded by
notifications). Every refusal is ``ReviewRejected`` with a Chinese message, and changes
nothing. Every write records who, when and why in history.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from tracker.accounts.permissions import Action as P
from tracker.accounts.permissions import allowed, may, restrict, scope_for
from tracker.choices import PROBLEM_STATUSES
from tracker.monitoring.models import LagEvaluation
from tracker.months import first_of_month, month_label
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.progress import lifecycle
from tracker.progress.due import due_indicators
from tracker.progress.lifecycle import Do
from tracker.progress.models import (
    CellReview,
    CellState,
    MonthState,
    MonthSubmission,
    ProgressReport,
)
from tracker.progress.signals import figures_changed
from tracker.progress.state import count_only_reviewed
from tracker.review.models import Explanation
from tracker.review.signals import figure_returned


class ReviewRejected(Exception):
    """Refused; nothing changed. ``str(exc)`` is the Chinese message for the user;
    ``errors`` lists ``(cell_id or None, message)`` for a bulk decision."""

    def __init__(self, message: str, errors=None):
        super().__init__(message)
        self.errors = list(errors) if errors else [(None, message)]


MAX_REASON = 500  # characters, as ``progress.writes.MAX_TEXT``


def ask(user, action, cell: lifecycle.Cell, what: str) -> None:
    """The state machine's answer as a ``ReviewRejected`` (``progress.lifecycle.check``)."""
    try:
        lifecycle.check(user, action, cell, what=what)
    except lifecycle.Refused as exc:
        raise ReviewRejected(str(exc)) from exc


class Action:
    EXPLAIN = "explain"
    SUBMIT = "submit"
    REVIEW = "review"
    UNLOCK = "unlock"
    ATTACH = "attach"


def allow(
    user,
    action: str,
    *,
    indicator: Indicator | None = None,
    district=None,
    cell: CellReview | None = None,
    report: ProgressReport | None = None,
) -> None:
    """The one permission check of this module; raise ``ReviewRejected`` when refused.

    Which rows: ``tracker.accounts.permissions`` (the POLICIES table and ``restrict``/``may``),
    like every other caller. On top of the scope, the issue names who acts:

    - explain: whoever sees the cell's lag evaluation and may add explanations — a
      district for itself; for city-level indicators (市本级) only the lead agency.
    - submit: the district itself (a month's 已上报 is the district's word).
    - review: the lead agency of the cell's project (``may(user, "review", cell)``);
      a district never reviews its own figures.
    - unlock / relock: ``change`` on cell reviews — 督查室 only.
    - attach: whoever may change the report (``may(user, "change", report)``).
    """
    scope = scope_for(user)
    ok = False
    if action == Action.EXPLAIN:
        ok = (
            allowed(user, P.ADD, Explanation)
            and restrict(user, P.VIEW, LagEvaluation.objects.all())
            .filter(indicator=indicator, district=district)
            .exists()
            and (not scope.is_agency or indicator.scope == Indicator.Scope.CITY)
        )
    elif action == Action.SUBMIT:
        ok = allowed(user, P.ADD, MonthSubmission) and (
            scope.is_supervision or (scope.is_district and district.pk == scope.district_id)
        )
    elif action == Action.REVIEW:
        ok = not scope.is_district and may(user, P.REVIEW, cell)
    elif action == Action.UNLOCK:
        ok = allowed(user, P.CHANGE, CellReview)
    elif action == Action.ATTACH:
        ok = may(user, P.CHANGE, report)
    if not ok:
        raise ReviewRejected(_DENIED.get(action, "您无权进行此操作"))


_DENIED = {
    Action.EXPLAIN: "只有本区、县(市)（市级整体指标为牵头单位）可以填写原因说明",
    Action.SUBMIT: "只有本区、县(市)可以上报本地区的月度数据",
    Action.REVIEW: "只有该项目的牵头单位可以审核",
    Action.UNLOCK: "只有市政府督查室可以解锁或重新锁定",
    Action.ATTACH: "您无权为该填报上传或删除佐证材料",
}


def stamp_history(obj, user, reason: str):
    obj._history_user = user if getattr(user, "is_authenticated", False) else None
    obj._change_reason = reason
    return obj


# --- explanations ----------------------------------------------------------------------


def needs_explanation(indicator, district, month: date) -> bool:
    """Is the cell 黄, 红, 未按时填报 or at risk of missing its deadline in ``month``
    (as the last lag check found it)?"""
    return LagEvaluation.objects.filter(
        Q(status__in=PROBLEM_STATUSES) | Q(at_risk=True),
        indicator=indicator,
        district=district,
        month=first_of_month(month),
    ).exists()


def explain(
    user,
    indicator: Indicator,
    district: District,
    month: date,
    *,
    reason: str,
    measures: str,
    catch_up_by: date,
) -> Explanation:
    """Write (or rewrite) the explanation of a cell the lag check found lagging."""
    allow(user, Action.EXPLAIN, indicator=indicator, district=district)
    month = first_of_month(month)
    reason, measures = (reason or "").strip(), (measures or "").strip()
    if not reason:
        raise ReviewRejected("请填写原因说明")
    if not measures:
        raise ReviewRejected("请填写整改措施")
    if catch_up_by is None or catch_up_by < month:
        raise ReviewRejected(f"计划追赶完成时间不能早于{month_label(month)}")
    if not needs_explanation(indicator, district, month):
        raise ReviewRejected(
            f"{district.name}{month_label(month)}的「{indicator.label}」未滞后、未逾期，无需说明原因"
        )
    with transaction.atomic():
        item = (
            Explanation.objects.select_for_update()
            .filter(indicator=indicator, district=district, month=month)
            .first()
        ) or Explanation(indicator=indicator, district=district, month=month)
        if item.pk is not None:  # a rewrite: not on a frozen (approved, locked) figure
            what = lifecycle.describe(district.name, indicator.label, month)
            ask(user, Do.REEXPLAIN, lifecycle.cell_of(indicator.pk, district.pk, month), what)
        item.reason, item.measures, item.catch_up_by = reason, measures, catch_up_by
        item.written_by = user
        stamp_history(item, user, "填写原因说明").save()
    return item


# --- submission and review --------------------------------------------------------------


def submit_month(user, district: District, month: date) -> MonthSubmission:
    """Mark the district's month 已上报 once everything due is filled."""
    allow(user, Action.SUBMIT, district=district)
    month = first_of_month(month)
    due = due_indicators(district, month)
    if not due:
        raise ReviewRejected(f"{district.name}{month_label(month)}没有需要上报的指标")
    filled = set(
        ProgressReport.objects.filter(
            district=district, month=month, indicator__in=due
        ).values_list("indicator_id", flat=True)
    )
    missing = [i for i in due if i.pk not in filled]
    if missing:
        names = "、".join(f"「{i.label}」" for i in missing[:10])
        more = f"等 {len(missing)} 项" if len(missing) > 10 else ""
        raise ReviewRejected(f"{month_label(month)}尚未填报：{names}{more}，填齐后才能上报")
    with transaction.atomic():
        actor = user if getattr(user, "is_authenticated", False) else None
        submission = (
            MonthSubmission.objects.select_for_update()
            .filter(district=district, month=month)
            .first()
        )
        if submission is None:
            submission = MonthSubmission(district=district, month=month, state=MonthState.SUBMITTED)
            submission.submitted_by, submission.submitted_at = actor, timezone.now()
            stamp_history(submission, user, "上报").save()
        elif submission.state == MonthState.APPROVED:
            raise ReviewRejected(f"{district.name}{month_label(month)}已审核，无需再次上报")
        elif submission.state == MonthState.SUBMITTED:
            raise ReviewRejected(f"{district.name}{month_label(month)}已上报，正在等待审核")
        else:
            submission.submitted_by, submission.submitted_at = actor, timezone.now()
        existing = {c.indicator_id: c for c in submission.cells.select_for_update()}
        new = [
            CellReview(submission=submission, indicator=i, district=district, month=month)
            for i in due
            if i.pk not in existing
        ]
        reopened = [c for c in existing.values() if c.state == CellState.RETURNED]
        for cell in reopened:
            cell.state, cell.reason = CellState.PENDING, ""
        if new:
            bulk_create_with_history(
                new, CellReview, default_user=actor, default_change_reason="上报"
            )
        if reopened:
            bulk_update_with_history(
                reopened,
                CellReview,
                ["state", "reason"],
                default_user=actor,
                default_change_reason="更正后重新上报",
            )
        _refresh_state(submission, user, "上报")
    return submission


def _refresh_state(submission: MonthSubmission, user, reason: str) -> None:
    """Derive the district-month state from its cells (saved, with history, when it
    changes); lock every cell once all pass."""
    states = list(submission.cells.values_list("state", flat=True))
    if CellState.RETURNED in states:
        state = MonthState.PARTLY_RETURNED
    elif states and all(s == CellState.APPROVED for s in states):
        state = MonthState.APPROVED
    else:
        state = MonthState.SUBMITTED
    if state != submission.state:  # one history row per change of state
        submission.state = state
        stamp_history(submission, user, reason).save()
    if state == MonthState.APPROVED:
        _set_lock(submission.cells.filter(locked=False), True, user, "审核通过，本月锁定")


def review_cell(user, cell: CellReview, *, approve: bool, reason: str = "") -> CellReview:
    """审核通过 or 退回 (with a reason) one cell; the state machine decides."""
    return _decide(user, [(cell, approve, reason)])[0]


def approve_cells(user, cells) -> list[CellReview]:
    """审核通过 many cells (``CellReview`` rows or their ids) in one go, all or nothing
    (every refusal is listed in ``ReviewRejected.errors``)."""
    return _decide(user, [(c, True, "") for c in cells])


def return_cells(user, cells_with_reasons) -> list[CellReview]:
    """退回 many cells, each ``(cell or id, reason)`` with its own reason; all or nothing."""
    return _decide(user, [(c, False, r) for c, r in cells_with_reasons])


def _decide(user, decisions) -> list[CellReview]:
    """Approve or return ``(cell, approve, reason)`` all or nothing: the permission
    (the project's lead agency), the machine (``progress.lifecycle``: only a submitted
    figure is approved, four eyes, only a submitted or approved one is returned) and a
    reason for every 退回 are checked for every cell before anything is written.
    Queries: a fixed number plus one per district-month touched."""
    decisions = [(getattr(c, "pk", c), bool(a), (r or "").strip()) for c, a, r in decisions]
    if not decisions:
        raise ReviewRejected("请选择要审核的指标")
    if any(len(reason) > MAX_REASON for _, _, reason in decisions):
        raise ReviewRejected(f"退回原因最多 {MAX_REASON} 个字")
    wanted = {pk: (approve, reason) for pk, approve, reason in decisions}
    if len(wanted) != len(decisions):
        raise ReviewRejected("同一指标在一次审核中只能出现一次")
    scope = scope_for(user)
    with transaction.atomic():
        rows = list(
            CellReview.objects.select_for_update(of=("self",))
            .select_related("submission", "indicator", "district")
            .filter(pk__in=wanted)
            .order_by("pk")
        )
        may_review = set()
        if not scope.is_district:
            may_review = set(
                restrict(user, P.REVIEW, CellReview.objects.filter(pk__in=wanted)).values_list(
                    "pk", flat=True
                )
            )
        figures = lifecycle.cells((c.indicator_id, c.district_id, c.month) for c in rows)
        errors = []
        if len(rows) != len(wanted):
            errors.append((None, "所选指标不存在或已被删除，请刷新后重试"))
        unexplained = [
            f"{c.district.name}「{c.indicator.label}」"
            for c in rows
            if not wanted[c.pk][0] and not wanted[c.pk][1]
        ]
        if unexplained:  # name them: the page has one reason box per row
            message = f"退回时须填写退回原因（逐项）：{'、'.join(unexplained[:10])}未填写"
            raise ReviewRejected(message, errors=[(None, message)])
        for cell in rows:
            approve, reason = wanted[cell.pk]
            what = lifecycle.describe(cell.district.name, cell.indicator.label, cell.month)
            if cell.pk not in may_review:
                errors.append((cell.pk, _DENIED[Action.REVIEW]))  # no names outside scope
                continue
            figure = figures[(cell.indicator_id, cell.district_id, cell.month)]
            try:
                lifecycle.check(user, Do.APPROVE if approve else Do.RETURN, figure, what=what)
            except lifecycle.Refused as exc:
                errors.append((cell.pk, str(exc)))
        if errors:
            messages = list(dict.fromkeys(m for _, m in errors))
            raise ReviewRejected("；".join(messages) + "；本次未做任何修改", errors=errors)
        now = timezone.now()
        for cell in rows:
            approve, reason = wanted[cell.pk]
            cell.state = CellState.APPROVED if approve else CellState.RETURNED
            cell.reason = "" if approve else reason
            cell.unlock_reason = ""  # a new decision ends an unlock (history keeps it)
            cell.reviewed_by, cell.reviewed_at = user, now
            stamp_history(cell, user, "审核通过" if approve else f"退回：{reason}")
        bulk_update_with_history(  # one history row per cell, each with its own reason
            rows,
            CellReview,
            ["state", "reason", "unlock_reason", "reviewed_by", "reviewed_at"],
            default_user=user if getattr(user, "is_authenticated", False) else None,
        )
        for submission in {c.submission_id: c.submission for c in rows}.values():
            _refresh_state(submission, user, "审核")
        if count_only_reviewed():  # the decision changes which figures count
            _announce(rows)
        for cell in rows:  # the district hears once: recorded here, sent after commit
            if cell.state == CellState.RETURNED:
                figure_returned.send(sender=CellReview, cell=cell, reviewer=user)
    by_pk = {c.pk: c for c in rows}
    return [by_pk[pk] for pk, _, _ in decisions]


# --- locks ------------------------------------------------------------------------------


def _set_lock(cells, locked: bool, user, reason: str) -> int:
    cells = list(cells)
    for cell in cells:
        cell.locked = locked
        cell.unlock_reason = "" if locked else reason
    if cells:
        bulk_update_with_history(
            cells,
            CellReview,
            ["locked", "unlock_reason"],
            default_user=user if getattr(user, "is_authenticated", False) else None,
            default_change_reason=reason,
        )
        if count_only_reviewed():  # only then can a review row change what counts
            _announce(cells)
    return len(cells)


def _announce(cells) -> None:
    """``figures_changed`` for these review cells, inside the transaction: the stored
    evaluation of the cells (and of the months after) is re-evaluated before it commits.
    One signal per year."""
    for year in {c.month.year for c in cells}:
        group = [c for c in cells if c.month.year == year]
        figures_changed.send(
            sender=CellReview,
            cells={(c.indicator_id, c.district_id) for c in group},
            month=min(c.month for c in group),
        )


def _targets(cell: CellReview | None, submission: MonthSubmission | None):
    if (cell is None) == (submission is None):
        raise ValueError("pass exactly one of cell or submission")
    if cell is not None:
        return CellReview.objects.select_for_update().filter(pk=cell.pk)
    return CellReview.objects.select_for_update().filter(submission=submission)


def _sources(action: Do):
    """The review rows the machine lets ``action`` start from."""
    return lifecycle.review_q(*lifecycle.TRANSITIONS[action].sources)


def unlock(user, *, reason: str, cell=None, submission=None) -> int:
    """督查室 unlocks a cell or a whole district-month, with a reason."""
    allow(user, Action.UNLOCK)
    reason = (reason or "").strip()
    if not reason:
        raise ReviewRejected("解锁须填写原因")
    with transaction.atomic():
        cells = _targets(cell, submission).filter(_sources(Do.UNLOCK))
        return _set_lock(cells, False, user, reason)


def relock(user, *, cell=None, submission=None) -> int:
    """督查室 locks again what was unlocked (approved cells only)."""
    allow(user, Action.UNLOCK)
    with transaction.atomic():
        cells = _targets(cell, submission).filter(_sources(Do.RELOCK))
        return _set_lock(cells, True, user, "重新锁定")
