"""Inline plan data and reports for the lag-engine tests (mirrors seed projects)."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from tests.factories import DistrictFactory, MilestoneFactory, QuotaFactory
from tracker.months import month_end, parse_month
from tracker.plans.models import Milestone
from tracker.plans.reference import District
from tracker.progress.models import ProgressReport

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    """An aware datetime in Asia/Shanghai."""
    return datetime(*args, tzinfo=SHANGHAI)


def milestone(
    indicator, month, kind=Milestone.Kind.QUALITATIVE, value=None, *, text="", own=True, order=0
):
    """A milestone of ``indicator``'s project; ``own=False`` makes it project-wide."""
    return MilestoneFactory(
        indicator=indicator if own else None,
        project=indicator.project,
        due_date=month_end(date(2024, month, 1)),
        kind=kind,
        value=None if value is None else Decimal(value),
        value_text="" if value is None else str(value),
        text=text or f"{month}月底节点",
        order=order or indicator.order * 1000 + month * 10 + (0 if own else 1),
    )


def percent_plan(indicator):
    """3月底确定点位 (project-wide); 6月底 30%; 9月底 60%; 11月底 100%.

    City curve as a share of target: Mar 0, Apr 10, May 20, Jun 30 (checkpoint),
    Jul 40, Aug 50, Sep 60 (checkpoint), Oct 80, Nov 100 (checkpoint).
    """
    milestone(indicator, 3, own=False, text="3月底前确定项目点位")
    milestone(indicator, 6, Milestone.Kind.PERCENT, 30, text="6月底前完成30%")
    milestone(indicator, 9, Milestone.Kind.PERCENT, 60, text="9月底前完成60%")
    milestone(indicator, 11, Milestone.Kind.PERCENT, 100, text="11月底全面完成")


def late_start_plan(indicator):
    """序号1 style: 3月底确定点位, 6月底招标, 9月底完成50%, 11月底全面完成."""
    milestone(indicator, 3, own=False, text="3月底前确定项目点位")
    milestone(indicator, 6, own=False, text="6月底前开展招标")
    milestone(indicator, 9, Milestone.Kind.PERCENT, 50, text="9月底前完成50%")
    milestone(indicator, 11, Milestone.Kind.PERCENT, 100, text="11月底全面完成")


def add_districts(indicator, n, *, quota=50, start=200):
    """``n`` more districts with a quota on ``indicator``."""
    out = []
    for i in range(n):
        d = DistrictFactory(code=f"extra{start + i}", name=f"测试区{start + i}", order=start + i)
        QuotaFactory(indicator=indicator, district=d, value=Decimal(quota))
        out.append(d)
    return out


def city_district():
    return DistrictFactory(code="shibenji", name="市本级", kind=District.Kind.CITY, order=0)


def report(indicator, district, month: str, value, *, filed: datetime | None = None):
    """A cumulative report for ``month`` ("YYYY-MM"), first filed at ``filed``
    (default: the 3rd of the next month, on time)."""
    m = parse_month(month)
    filed = filed or local(m.year + (m.month == 12), m.month % 12 + 1, 3, 10)
    obj, _ = ProgressReport.objects.update_or_create(
        indicator=indicator, district=district, month=m, defaults={"value": Decimal(value)}
    )
    ProgressReport.objects.filter(pk=obj.pk).update(created_at=filed, reported_at=filed)
    return obj
