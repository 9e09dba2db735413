"""Entering monthly progress: the one validation and write path for admin, API and Excel.

``submit(user, entries)`` checks every entry, then writes all of them or none
(``ProgressRejected`` carries every problem, each with its row and a Chinese message
that says what to fix). Checks, in order, per entry:

- the indicator and district exist, and the user may report that district on that
  project (``Scope.can_report``): lead agencies every district of their projects,
  districts their own district only;
- the indicator has numbers (qualitative targets are reported as milestone completion);
- the district has a quota for the indicator (city-wide indicators such as 序号12 are
  reported on 市本级 only);
- the month lies in the plan year and is not in the future (the current month is
  allowed: a figure as of today);
- the value is a number (a unit, if typed, must be the indicator's unit), non-negative,
  and for rates (保障率, 开通率) within 0–100;
- the figure's state allows a change (``progress.lifecycle``: approved and locked
  figures are frozen until 退回 or 解锁);
- cumulative counts never decrease: not below the latest earlier month, not above the
  next later month already reported, unless marked as a correction with a reason —
  each correction its own reason (the reason stored with the last correction is refused
  for a new value);
- a value above ``OVER_QUOTA_CONFIRM_RATIO`` × quota (default 3) needs ``confirmed``;
- concurrency: an entry carrying ``expected_version`` (0 = "the cell was empty when I
  loaded it") is refused if the stored row changed since; the rows are locked
  (``select_for_update``) for the check so the second of two writers is told, never
  silently overwritten.

Writes go through simple_history's bulk helpers, so every created or changed row gets a
history record with the acting user and a reason (the source: 管理后台, API, Excel 导入).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from tracker import conf
from tracker import formats as fmt
from tracker.accounts.permissions import Action, may, scope_for
from tracker.formats import plain
from tracker.months import first_of_month, month_label, parse_month
from tracker.plans.models import Indicator, Quota
from tracker.plans.quantities import QuantityError, is_counted_unit, parse_quantity
from tracker.plans.reference import District, PlanYear
from tracker.plans.units import city_unit_ids, may_report, sort_units
from tracker.progress import lifecycle
from tracker.progress.models import MilestoneCompletion, ProgressReport
from tracker.progress.signals import figures_changed

MAX_TEXT = 500  # notes and reasons: characters (a note is a sentence, not a document)
MAX_VALUE = Decimal("999999999999")  # fits DecimalField(max_digits=16, decimal_places=4)
HUNDRED = Decimal(100)


class Source:
    ADMIN = "管理后台填报"
    API = "API 填报"
    EXCEL = "Excel 导入"
    MONTHLY_PAGE = "本月填报"


@dataclass
class Entry:
    """One cell to write: a district's cumulative value of an indicator as of a month end."""

    indicator_id: int | None
    district_id: int | None
    month: date | str | None
    value: object
    note: str = ""
    is_correction: bool = False
    correction_reason: str = ""
    expected_version: int | None = None
    confirmed: bool = False
    row: int | None = None  # the caller's row number, for messages (Excel row, form row)


@dataclass(frozen=True)
class EntryError:
    row: int | None
    field: str
    message: str
    code: str = "invalid"

    def __str__(self):
        return self.message if self.row is None else f"第 {self.row} 行：{self.message}"


class ProgressRejected(Exception):
    """Nothing was written; ``errors`` says why, entry by entry."""

    def __init__(self, errors: list[EntryError]):
        self.errors = errors
        super().__init__("；".join(str(e) for e in errors))

    @property
    def needs_confirmation_only(self) -> bool:
        return bool(self.errors) and all(e.code == "confirm" for e in self.errors)


@dataclass
class SubmitResult:
    created: list[ProgressReport] = field(default_factory=list)
    updated: list[ProgressReport] = field(default_factory=list)
    unchanged: list[ProgressReport] = field(default_factory=list)

    @property
    def reports(self) -> list[ProgressReport]:
        return self.created + self.updated + self.unchanged


def over_quota_ratio() -> Decimal:
    return conf.OVER_QUOTA_CONFIRM_RATIO


def parse_value(raw, indicator: Indicator) -> Decimal:
    """A number, or a number with the indicator's own unit (「120 个」, 「83%」)."""
    if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValueError("请填写数值")
    if isinstance(raw, int | Decimal | float):
        try:
            value = Decimal(str(raw))
        except InvalidOperation as exc:
            raise ValueError(f"「{raw}」不是有效数字") from exc
    else:
        text = str(raw).strip().replace(",", "").replace("，", "")
        if text.startswith("-") or text.startswith("－"):
            raise ValueError("累计值不能为负数")
        unit = fmt.base_unit(indicator)
        try:
            quantity = parse_quantity(text, unit or None, strict=True)
        except QuantityError as exc:
            raise ValueError(_quantity_message(exc, text, unit)) from exc
        if quantity.is_split:
            raise ValueError(f"「{text}」请填写一个累计数，不要用括号拆分")
        value = quantity.value
    if not value.is_finite():
        raise ValueError(f"「{raw}」不是有效数字")
    if value < 0:
        raise ValueError("累计值不能为负数")
    if value > MAX_VALUE:
        raise ValueError(f"数值 {plain(value)} 过大")
    if value != value.quantize(Decimal("0.0001")):
        raise ValueError("最多保留 4 位小数")
    counted = not indicator.is_level and is_counted_unit(indicator.unit)
    if counted and value != value.to_integral_value():
        raise ValueError(f"「{indicator.unit}」是计数单位，应填写整数，收到 {plain(value)}")
    return value


def _quantity_message(exc: QuantityError, text: str, unit: str | None) -> str:
    """One message for a typed value that is not a number (not both 「数字加单位」 and
    「只能填写数字」): what was typed and what to type instead."""
    message = str(exc)
    if "不是数量" in message:
        example = f"，例如「120」或「120{unit}」" if unit else "，例如「120」"
        return f"「{text}」不是数字，只能填写数字{example}"
    return message


def text_too_long(text, what: str) -> str | None:
    """The message for a note or reason over ``MAX_TEXT`` characters, else None."""
    length = len(str(text or "").strip())
    if length > MAX_TEXT:
        return f"{what}最多 {MAX_TEXT} 个字，当前 {length} 个字，请精简后再提交"
    return None


class _Context:
    """Everything the checks need, read in a fixed number of queries."""

    def __init__(self, entries: list[Entry], *, lock: bool):
        indicator_ids = {e.indicator_id for e in entries if isinstance(e.indicator_id, int)}
        district_ids = {e.district_id for e in entries if isinstance(e.district_id, int)}
        self.indicators = Indicator.objects.select_related(
            "project__plan_year", "project__lead_agency"
        ).in_bulk(indicator_ids)
        self.districts = District.objects.in_bulk(district_ids)
        self.city_units = city_unit_ids(  # only the plans of city-wide targets here
            {
                i.project.plan_year_id
                for i in self.indicators.values()
                if i.scope == Indicator.Scope.CITY
            }
        )
        self.quotas = {
            (q.indicator_id, q.district_id): q.value
            for q in Quota.objects.filter(indicator_id__in=indicator_ids).only(
                "indicator_id", "district_id", "value"
            )
        }
        reports = ProgressReport.objects.filter(
            indicator_id__in=indicator_ids, district_id__in=district_ids
        ).select_related("reported_by")
        if lock:
            reports = reports.select_for_update(of=("self",))
        self.reports: dict[tuple[int, int], dict[date, ProgressReport]] = defaultdict(dict)
        for report in reports:
            self.reports[(report.indicator_id, report.district_id)][report.month] = report
        # The figure's state (approved and locked are frozen): ``progress.lifecycle``.
        self.reviews = lifecycle.reviews_of(indicator_ids, district_ids)


def _check(scope, entries: list[Entry], ctx: _Context, today: date, user=None) -> tuple[list, list]:
    """Return (errors, [(entry, indicator, district, month, value)] for valid entries)."""
    errors: list[EntryError] = []
    valid = []
    seen: dict[tuple, int | None] = {}
    current_month = first_of_month(today)
    for entry in entries:
        row = entry.row

        def fail(field_name, message, code="invalid", row=row):
            errors.append(EntryError(row, field_name, message, code))

        indicator = ctx.indicators.get(entry.indicator_id)
        district = ctx.districts.get(entry.district_id)
        if indicator is None:
            fail("indicator", "量化目标不存在，请从列表中选择")
            continue
        if district is None:
            fail("district", "未知的区、县(市)，请从列表中选择")
            continue
        project = indicator.project
        if not scope.can_report(indicator, district):
            fail("district", f"您无权填报{district.name}在「{project.name}」上的进度")
            continue
        if indicator.kind == Indicator.Kind.QUALITATIVE:
            fail("indicator", f"「{indicator.label}」为定性目标，没有数值进度，请填报节点完成情况")
            continue
        quota = ctx.quotas.get((indicator.pk, district.pk))
        city_unit = ctx.city_units.get(project.plan_year_id)
        if not may_report(indicator, district.pk, city_unit=city_unit, has_quota=quota is not None):
            if indicator.scope == Indicator.Scope.CITY:
                fail("district", f"「{indicator.label}」不分解到区、县(市)，只能按市本级填报")
            else:
                fail("district", f"{district.name}在「{indicator.label}」上没有分解任务，不能填报")
            continue
        if indicator.scope == Indicator.Scope.CITY:
            quota = indicator.target_value
        try:
            month = entry.month if isinstance(entry.month, date) else parse_month(entry.month)
            month = first_of_month(month)
        except (ValueError, TypeError):
            fail("month", f"月份格式应为 YYYY-MM，例如 2024-06，收到「{entry.month}」")
            continue
        year = project.plan_year.year
        if month.year != year:
            fail("month", f"{month_label(month)}不在{year}年计划年度内，请填报{year}年1—12月")
            continue
        if month > current_month:
            now = month_label(current_month)
            fail("month", f"不能填报未来月份（{month_label(month)}），当前为{now}")
            continue
        key = (indicator.pk, district.pk, month)
        existing = ctx.reports[(indicator.pk, district.pk)].get(month)
        review = ctx.reviews.get(key)
        state = lifecycle.state_of(existing, review)
        reviewer = review.reviewed_by_id if review is not None else None
        try:
            lifecycle.check(
                user,
                lifecycle.Do.WRITE,
                lifecycle.Cell(*key, state, reviewer_id=reviewer),
                what=lifecycle.describe(district.name, indicator.label, month),
            )
        except lifecycle.Refused as exc:
            fail("month", str(exc), "locked")
            continue
        if key in seen:
            where = f"（与第 {seen[key]} 行重复）" if seen[key] else ""
            cell = f"{district.name}{month_label(month)}的「{indicator.label}」"
            fail("month", f"{cell}重复填报{where}")
            continue
        seen[key] = row
        try:
            value = parse_value(entry.value, indicator)
        except ValueError as exc:
            fail("value", str(exc))
            continue
        unit = fmt.base_unit(indicator)
        if indicator.is_level and value > HUNDRED:
            fail("value", f"「{indicator.label}」是比率，应在 0—100 之间，收到 {plain(value)}")
            continue
        if entry.is_correction and not (entry.correction_reason or "").strip():
            fail("correction_reason", "标记为更正时须填写更正原因")
            continue
        too_long = text_too_long(entry.note, "备注") or text_too_long(
            entry.correction_reason, "更正原因"
        )
        if too_long:
            fail("note" if "备注" in too_long else "correction_reason", too_long)
            continue
        reason = (entry.correction_reason or "").strip()
        if (
            entry.is_correction
            and existing is not None
            and existing.correction_reason
            and reason == existing.correction_reason
            and value != existing.value
        ):  # each correction carries its own reason, never the one stored with the last
            fail(
                "correction_reason",
                f"本次更正须填写本次的更正原因（「{reason[:50]}」是上次更正时填写的原因）",
                "correction",
            )
            continue
        if entry.expected_version is not None:
            stored = existing.version if existing else 0
            if stored != entry.expected_version:
                if existing is None:
                    fail("version", "该数据已被删除，请刷新后重新填报", "conflict")
                else:
                    who = existing.reported_by or "他人"
                    when = timezone.localtime(existing.reported_at).strftime("%Y-%m-%d %H:%M")
                    fail(
                        "version",
                        f"{district.name}{month_label(month)}的数据已被{who}于{when}修改为 "
                        f"{plain(existing.value)}，请刷新后重新填报",
                        "conflict",
                    )
                continue
        valid.append((entry, indicator, district, month, value, quota, unit))
    # Cumulative counts never go down, judged on the stored values with this batch applied.
    merged: dict[tuple[int, int], dict[date, Decimal]] = {}
    for _entry, indicator, district, month, value, _quota, _unit in valid:
        cell = (indicator.pk, district.pk)
        if cell not in merged:
            merged[cell] = {m: r.value for m, r in ctx.reports[cell].items()}
        merged[cell][month] = value
    for entry, indicator, district, month, value, quota, unit in valid:
        if indicator.kind == Indicator.Kind.CUMULATIVE and not entry.is_correction:
            series = merged[(indicator.pk, district.pk)]
            before = [m for m in series if m < month]
            after = [m for m in series if m > month]
            hint = "；如确需更正，请勾选「更正」并填写原因"
            if before and series[max(before)] > value:
                m = max(before)
                errors.append(
                    EntryError(
                        entry.row,
                        "value",
                        f"累计值 {fmt.with_unit(plain(value), unit)} 小于{month_label(m)}已填报的 "
                        f"{fmt.with_unit(plain(series[m]), unit)}，累计数不能减少{hint}",
                        "decrease",
                    )
                )
                continue
            if after and series[min(after)] < value:
                m = min(after)
                errors.append(
                    EntryError(
                        entry.row,
                        "value",
                        f"累计值 {fmt.with_unit(plain(value), unit)} 大于{month_label(m)}已填报的 "
                        f"{fmt.with_unit(plain(series[m]), unit)}，累计数不能减少{hint}",
                        "decrease",
                    )
                )
                continue
        ratio = over_quota_ratio()
        if (
            indicator.kind == Indicator.Kind.CUMULATIVE
            and quota
            and value > quota * ratio
            and not entry.confirmed
        ):
            errors.append(
                EntryError(
                    entry.row,
                    "value",
                    f"{district.name}填报 {fmt.with_unit(plain(value), unit)}，"
                    f"超过任务数 {fmt.with_unit(plain(quota), unit)} 的 "
                    f"{plain(ratio)} 倍，请核实；确认无误请勾选「确认超额」后再提交",
                    "confirm",
                )
            )
    errors.sort(key=lambda e: -1 if e.row is None else e.row)
    return errors, [v[:5] for v in valid]


def validate(user, entries: list[Entry], *, today: date | None = None) -> list[EntryError]:
    """Every problem with ``entries`` (empty when all may be written). Writes nothing."""
    today = today or timezone.localdate()
    errors, _ = _check(scope_for(user), entries, _Context(entries, lock=False), today, user)
    return errors


def submit(
    user,
    entries: list[Entry],
    *,
    source: str = Source.ADMIN,
    today: date | None = None,
) -> SubmitResult:
    """Validate and write ``entries`` all-or-nothing; raise ``ProgressRejected`` otherwise."""
    if not entries:
        raise ProgressRejected([EntryError(None, "entries", "没有可提交的数据")])
    today = today or timezone.localdate()
    scope = scope_for(user)
    result = SubmitResult()
    try:
        with transaction.atomic():
            ctx = _Context(entries, lock=True)
            errors, ok = _check(scope, entries, ctx, today, user)
            if errors:
                raise ProgressRejected(errors)
            now = timezone.now()
            actor = user if getattr(user, "is_authenticated", False) else None
            fields = {"value", "note", "is_correction", "correction_reason"}
            for entry, indicator, district, month, value in ok:
                report = ctx.reports[(indicator.pk, district.pk)].get(month)
                values = {
                    "value": value,
                    "note": (entry.note or "").strip(),
                    "is_correction": bool(entry.is_correction),
                    "correction_reason": (entry.correction_reason or "").strip()
                    if entry.is_correction
                    else "",
                }
                if report is None:
                    result.created.append(
                        ProgressReport(
                            indicator=indicator,
                            district=district,
                            month=month,
                            reported_by=actor,
                            version=1,
                            **values,
                        )
                    )
                elif any(getattr(report, k) != v for k, v in values.items()):
                    for name, v in values.items():
                        setattr(report, name, v)
                    report.version += 1
                    report.reported_by = actor
                    report.reported_at = now
                    result.updated.append(report)
                else:
                    result.unchanged.append(report)
            if result.created:
                bulk_create_with_history(
                    result.created,
                    ProgressReport,
                    default_user=actor,
                    default_change_reason=source,
                )
            if result.updated:
                bulk_update_with_history(
                    result.updated,
                    ProgressReport,
                    sorted(fields | {"version", "reported_by", "reported_at"}),
                    default_user=actor,
                    default_change_reason=source,
                )
            announce_changes([*result.created, *result.updated])
    except IntegrityError as exc:
        # Another writer created the same cell between our check and our insert.
        raise ProgressRejected(
            [EntryError(None, "version", "数据已被他人同时填报，请刷新后重新填报", "conflict")]
        ) from exc
    return result


def delete_report(user, report: ProgressReport, *, reason: str = "") -> None:
    """Only the supervision office deletes progress, and only where the state machine
    lets it (not approved, locked or unlocked: 退回 first); the deletion stays in history."""
    if not may(user, Action.DELETE, report):
        raise ProgressRejected([EntryError(None, "report", "只有市政府督查室可以删除进度数据")])
    cell = lifecycle.cell_of(report.indicator_id, report.district_id, report.month)
    what = lifecycle.describe(report.district.name, report.indicator.label, report.month)
    try:
        lifecycle.check(user, lifecycle.Do.DELETE, cell, what=what)
    except lifecycle.Refused as exc:
        raise ProgressRejected([EntryError(None, "month", str(exc), "locked")]) from exc
    report._history_user = user
    report._change_reason = reason or "删除"
    with transaction.atomic():
        report.delete()
        announce_changes([report])


def announce_changes(reports) -> None:
    """``figures_changed`` for these reports' cells from their earliest month (one signal
    per year), inside the writing transaction: the stored evaluation is re-evaluated
    before it commits."""
    by_year = defaultdict(list)
    for r in reports:
        by_year[r.month.year].append(r)
    for group in by_year.values():
        figures_changed.send(
            sender=ProgressReport,
            cells={(r.indicator_id, r.district_id) for r in group},
            month=min(r.month for r in group),
        )


# --- qualitative milestones -----------------------------------------------------------


def milestone_districts(project) -> list[District]:
    """Who reports a project's milestones: the districts with a quota on one of its
    indicators, or the plan's 市本级 column alone for a city-only project (in the plan's
    column order, ``plan_units``)."""
    return milestone_districts_of([project])[project.pk]


def milestone_districts_of(projects) -> dict[int, list[District]]:
    """``milestone_districts`` for many projects at once (3 queries + 2 per plan): each in
    its plan's column order, a city-only project on its plan's 市本级 column."""
    projects = list(projects)
    by_project: dict[int, list[District]] = {p.pk: [] for p in projects}
    pairs = (
        Quota.objects.filter(indicator__project_id__in=list(by_project))
        .values_list("indicator__project_id", "district_id")
        .distinct()
    )
    wanted: dict[int, set[int]] = {}
    for project_id, district_id in pairs:
        wanted.setdefault(project_id, set()).add(district_id)
    bare = [p for p in projects if p.pk not in wanted]
    city = city_unit_ids({p.plan_year_id for p in bare}) if bare else {}
    for p in bare:
        if city.get(p.plan_year_id):
            wanted[p.pk] = {city[p.plan_year_id]}
    everyone = {d for ds in wanted.values() for d in ds}
    districts = {d.pk: d for d in District.objects.filter(pk__in=everyone)}
    orders = {
        plan.pk: plan.column_order()
        for plan in PlanYear.objects.filter(pk__in={p.plan_year_id for p in projects})
    }
    for p in projects:
        chosen = [districts[d] for d in wanted.get(p.pk, ()) if d in districts]
        by_project[p.pk] = sort_units(orders[p.plan_year_id], chosen)
    return by_project


def check_milestone(
    user,
    milestone,
    district,
    *,
    done: bool,
    done_on: date | None = None,
    note: str = "",
    today: date | None = None,
) -> list[str]:
    """Every problem with recording this completion (empty when it may be written)."""
    today = today or timezone.localdate()
    errors = []
    project = milestone.project
    if milestone.kind != milestone.Kind.QUALITATIVE:
        errors.append("只有定性节点填报完成情况；数值节点由月度进度自动判断")
    if not scope_for(user).can_report_project(project, district):
        errors.append(f"您无权填报{district.name}在「{project.name}」上的节点完成情况")
    elif district.pk not in {d.pk for d in milestone_districts(project)}:
        errors.append(f"{district.name}在「{project.name}」上没有分解任务，不能填报节点完成情况")
    if done and done_on is None:
        errors.append("已完成的节点须填写完成日期")
    if done_on is not None:
        if isinstance(done_on, datetime):
            done_on = done_on.date()
        if done_on > today:
            errors.append(f"完成日期 {done_on:%Y-%m-%d} 不能晚于今天")
        elif done_on.year != project.plan_year.year:
            errors.append(f"完成日期应在{project.plan_year.year}年内")
    if not done and done_on is not None:
        errors.append("未完成的节点不应填写完成日期")
    too_long = text_too_long(note, "备注")
    if too_long:
        errors.append(too_long)
    return errors


def record_milestone(
    user,
    milestone,
    district,
    *,
    done: bool,
    done_on: date | None = None,
    note: str = "",
    today: date | None = None,
    source: str = Source.ADMIN,
) -> MilestoneCompletion:
    """Record that ``district`` has (or has not) completed a qualitative milestone."""
    errors = check_milestone(
        user, milestone, district, done=done, done_on=done_on, note=note, today=today
    )
    if errors:
        raise ProgressRejected([EntryError(None, "milestone", e) for e in errors])
    if isinstance(done_on, datetime):
        done_on = done_on.date()
    with transaction.atomic():
        completion = (
            MilestoneCompletion.objects.select_for_update()
            .filter(milestone=milestone, district=district)
            .first()
        ) or MilestoneCompletion(milestone=milestone, district=district)
        completion.done, completion.done_on, completion.note = done, done_on, (note or "").strip()
        completion.reported_by = user
        completion._history_user = user
        completion._change_reason = source
        completion.save()
    return completion
