"""An issued notice is a record (issue 28).

Until 督查室 印发 (issues) a month's 通报, the notice page, PDF and xlsx are live: built
from the stored evaluations each time, and they say so (「实时数据，尚未印发」). ``issue``
freezes what goes out: the figures (``snapshot``, the notice's whole rendered context as
JSON), the page body, the PDF and the xlsx, each stamped
「本通报于 X 印发，数据截至 Y，此后更正不影响已印发内容」. From then on the notice's page and
downloads serve the stored record, whatever is corrected later; the live figures stay a
click away in the month's other pages.

The snapshot is generic (``freeze``): every field and property of the ``Notice`` and what
it holds, so a later layout (the 公文 of issue 32) can read it without a schema of its own.
An issued notice is not re-issued: a correction goes into the next month's notice. Its
公文 parts (版头, 主送, 署名, 版记…) are written into the record at 印发 where they were
blank (``document.settle``), and the snapshot holds them too (``Notice.document``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import models, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.functional import Promise

from tracker.formats import plain
from tracker.monitoring.models import LagEvaluation
from tracker.months import format_month, moment_label
from tracker.plans.selection import choose_plan
from tracker.reporting.document import settle
from tracker.reporting.models import NoticeIssue
from tracker.reporting.notice import LIVE_STAMP, Notice, notice, notice_context_defaults
from tracker.reporting.notice_files import notice_workbook, render_pdf

SNAPSHOT_VERSION = 1  # bump when ``freeze`` changes what it writes
_DEPTH = 6  # a notice → a line → its district / explanation → their fields


class NotIssuable(ValueError):
    """Why a notice cannot be issued, in Chinese."""


@dataclass(frozen=True)
class Stamp:
    """What an issued notice says about itself."""

    issued_at: datetime
    data_as_of: datetime | None

    @property
    def text(self) -> str:
        as_of = when_label(self.data_as_of) if self.data_as_of else "印发时"
        return (
            f"本通报于 {when_label(self.issued_at)} 印发，数据截至 {as_of}，"
            "此后更正不影响已印发内容。"
        )


def when_label(value: datetime) -> str:
    """「2024年10月10日 09:30」 in the local time zone."""
    return moment_label(timezone.localtime(value), year=True)


def stamp_text(issue: NoticeIssue | None) -> str:
    """The line the notice prints about itself: issued, or live."""
    if issue is not None and issue.is_issued:
        return Stamp(issue.issued_at, issue.data_as_of).text
    return LIVE_STAMP


def issued_for(month: date, plan=None) -> NoticeIssue | None:
    """The month's issued notice, if it was issued for ``plan`` (None: the default plan,
    the one the notice pages show without ``?plan=``)."""
    issue = (
        NoticeIssue.objects.filter(month=month, issued_at__isnull=False)
        .defer("snapshot", "pdf", "xlsx")
        .first()
    )
    if issue is None:
        return None
    if plan is not None and issue.plan_year_id not in (None, plan.pk):
        return None
    return issue


def data_as_of(month: date, plan=None) -> datetime | None:
    """When the month's stored evaluations (the notice's figures) were last computed."""
    rows = LagEvaluation.objects.filter(month=month)
    if plan is not None:
        rows = rows.filter(indicator__project__plan_year=plan)
    return rows.aggregate(t=Max("evaluated_at"))["t"]


def issue(month: date, user, *, plan=None) -> NoticeIssue:
    """印发 the month's notice: render it once more and keep what was rendered. ``plan``
    defaults to the plan the notice pages show (``plans.selection.choose_plan``).
    Raises ``NotIssuable`` (nothing changes) when there is no notice or it was issued."""
    month = month.replace(day=1)
    if plan is None:
        plan = choose_plan({}, month).plan
    with transaction.atomic():
        record, _created = NoticeIssue.objects.select_for_update().get_or_create(month=month)
        if record.is_issued:
            raise NotIssuable(
                f"{format_month(month)} 的通报已于 {when_label(record.issued_at)} 印发"
            )
        data = notice(month, plan)
        if data is None:
            raise NotIssuable(f"{format_month(month)} 没有进度检查结果，无法印发通报")
        now = timezone.now()
        record.issued_at = now
        record.issued_by = user
        record.plan_year = plan
        record.data_as_of = data_as_of(month, plan)
        if record.issued_on is None:
            record.issued_on = timezone.localdate(now)  # 成文日期: the day it went out
        settle(record)  # the 公文 parts as they go out, whatever the defaults become
        data.issue = record
        stamp = Stamp(now, record.data_as_of)
        record.snapshot = {
            "version": SNAPSHOT_VERSION,
            "stamp": stamp.text,
            "context": freeze({**notice_context_defaults(), "notice": data}),
        }
        record.body_html = render_body(data, stamp.text)
        record.pdf = render_pdf(data, stamp=stamp.text)
        record.xlsx = notice_workbook(data, stamp=stamp.text)
        record.save()
    return record


def render_body(data: Notice, stamp: str) -> str:
    """The notice page's body as issued (the page wraps it in the site's frame)."""
    return render_to_string(
        "dashboard/_notice_body.html",
        {
            **notice_context_defaults(),
            "notice": data,
            "month": data.month,
            "month_text": format_month(data.month),
            "notice_stamp": stamp,
            "issued": True,
        },
    )


def freeze(value, depth: int = 0):
    """``value`` as JSON: decimals as plain strings (``formats.plain``), dates in ISO,
    model rows as their fields, dataclasses as their fields and properties."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Promise):
        return str(value)
    if depth >= _DEPTH:
        return str(value)
    if isinstance(value, dict):
        return {str(k): freeze(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [freeze(v, depth + 1) for v in value]
    if isinstance(value, models.Model):
        return _model(value, depth)
    if dataclasses.is_dataclass(value):
        return _object(value, depth)
    return str(value)


def _model(row: models.Model, depth: int) -> dict:
    out = {"pk": row.pk, "text": str(row)}
    for f in row._meta.concrete_fields:
        if isinstance(f, models.BinaryField | models.JSONField) or f.name == "body_html":
            continue
        out[f.attname] = freeze(getattr(row, f.attname), depth + 1)
    return out


def _object(obj, depth: int) -> dict:
    out = {f.name: freeze(getattr(obj, f.name), depth + 1) for f in dataclasses.fields(obj)}
    for name in dir(type(obj)):
        if name.startswith("_") or name in out:
            continue
        if isinstance(getattr(type(obj), name, None), property):
            out[name] = freeze(getattr(obj, name), depth + 1)
    return out
