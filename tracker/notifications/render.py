"""What a digest says: its text, its markdown for group robots and its JSON payload,
with links back to the site (``SITE_URL``)."""

from __future__ import annotations

from collections import Counter
from datetime import date

from tracker import conf
from tracker.formats import base_unit, plain
from tracker.monitoring.models import LagAlert
from tracker.months import date_label, format_month, month_end_label, month_label
from tracker.notifications.models import Contact

SEVERITY_LABEL = {"red": "红色", "yellow": "黄色", "info": "提示"}
NEWS_ORDER = ("opened", "escalated", "resolved", "superseded")
NEWS_LABEL = {"opened": "新增预警", "escalated": "预警升级", "resolved": "已解除",
              "superseded": "已撤销（数据更正）"}  # fmt: skip


def site_url(path: str) -> str:
    """``conf.SITE_URL`` + ``path`` (a page of the dashboard)."""
    return conf.SITE_URL.rstrip("/") + path


def site_link() -> str:
    """Where recipients read the still-open alerts (我的待办)."""
    return site_url("/my/")


# get_kind_display / get_level_display without a model method call per alert and digest
KIND_LABEL = dict(LagAlert.Kind.choices)
LEVEL_LABEL = dict(LagAlert.Level.choices)


def _label(labels: dict, value) -> str:
    return str(labels.get(value, value))


def _tags(a: LagAlert) -> str:
    """「红·进度滞后·已升级至牵头单位」; once per alert a check (kept on the instance: the
    alert is in several digests, each rendered twice, text and markdown)."""
    text = getattr(a, "_tags", None)
    if text is None:
        tags = [SEVERITY_LABEL[a.severity], _label(KIND_LABEL, a.kind)]
        if a.supervised:  # the engine's proposal; 督查室 decides the 交办 (supervision)
            tags.insert(0, "建议挂牌督办")
        elif a.level > LagAlert.Level.DISTRICT:
            tags.append(f"已升级至{_label(LEVEL_LABEL, a.level)}")
        a._tags = text = "·".join(tags)
    return text


def _explanation(alert: LagAlert) -> str:
    """The district's 原因说明 / 整改措施 / 计划追赶完成时间 for the alert's cell, as one
    line ("" when none was written; see ``review.explanations``)."""
    x = getattr(alert, "explanation", None)
    if x is None:
        return ""
    d = x.catch_up_by
    return f"原因说明：{x.reason}；整改措施：{x.measures}；计划追赶完成时间：{date_label(d)}"


def _sections(alerts: list[LagAlert]):
    for kind in NEWS_ORDER:
        items = [a for a in alerts if a.news_kind == kind]
        if items:
            yield kind, items


def render_digest(
    contact: Contact, month: date, alerts: list[LagAlert], still_open: int = 0
) -> tuple[str, str]:
    """Subject and plain-text body of a digest, in Chinese: the news, then the count of
    episodes still open with a link."""
    counts = Counter(a.news_kind for a in alerts)
    summary = "、".join(f"{NEWS_LABEL[k]} {counts[k]} 项" for k in NEWS_ORDER if counts[k])
    subject = f"【民生实事】{month_label(month)}进度预警变化：{summary}"
    lines = [f"{contact.name}：", "", f"根据截至{month_end_label(month)}的进度："]
    for kind, items in _sections(alerts):
        lines += ["", f"{NEWS_LABEL[kind]}（{len(items)} 项）："]
        for i, a in enumerate(items, start=1):
            lines.append(f"{i}. 【{_tags(a)}】序号{a.indicator.project.seq} {a.message}")
            if kind != "resolved" and _explanation(a):
                lines.append(f"   {_explanation(a)}")
    lines += [
        "",
        f"目前仍未解除的预警共 {still_open} 项（不再逐条重复），详见 {site_link()}",
        "请登录民生实事跟踪系统查看详情，并在预警中确认处理情况。",
    ]
    return subject, "\n".join(lines)


def render_markdown(
    subject: str, contact: Contact, month: date, alerts: list[LagAlert], still_open: int
) -> str:
    """The digest as robot-webhook markdown (钉钉/浙政钉, 企业微信)."""
    lines = [f"### {subject}", f"{contact.name}："]
    for kind, items in _sections(alerts):
        lines.append(f"#### {NEWS_LABEL[kind]}（{len(items)} 项）")
        lines += [
            f"- **{_tags(a)}** 序号{a.indicator.project.seq} {a.message}"
            + (f"（{_explanation(a)}）" if kind != "resolved" and _explanation(a) else "")
            for a in items
        ]
    lines.append(f"> 目前仍未解除 {still_open} 项，[查看详情]({site_link()})")
    return "\n\n".join(lines)


def digest_payload(
    contact: Contact, month: date, run_number: int, alerts: list[LagAlert], still_open: int = 0
):
    """The generic webhook body: the same digest as structured data."""
    return {
        "type": "minsheng.lag_digest",
        "month": f"{format_month(month)}",
        "run": run_number,
        "recipient": {"id": contact.pk, "name": contact.name, "role": contact.role},
        "still_open": still_open,
        "link": site_link(),
        "alerts": [_alert_item(a) for a in alerts],
    }


def _alert_item(a: LagAlert) -> dict:
    """One alert as the digest payload lists it. An alert is in several digests (its
    district's, its lead agency's, 督查室's): its item is built once a check and shared
    (``_digest_item`` on the instance; the news and explanation are set before)."""
    item = getattr(a, "_digest_item", None)
    if item is not None:
        return item

    def num(v):
        return None if v is None else plain(v)

    a._digest_item = item = {
        "id": a.pk,
        "news": a.news_kind,
        "project_seq": a.indicator.project.seq,
        "project": a.indicator.project.name,
        "indicator": a.indicator.label,
        "unit": base_unit(a.indicator),  # the unit its figures are in
        "district": a.district.name,
        "kind": a.kind,
        "severity": a.severity,
        "status": a.status,
        "since": format_month(a.month),
        "level": _label(LEVEL_LABEL, a.level),
        "supervised": a.supervised,
        "streak": a.streak,
        "quota": num(a.quota),
        "expected": num(a.expected),
        "actual": num(a.actual),
        "gap_points": num(a.gap_points),
        "forecast": num(a.forecast),
        "message": a.message,
        "explanation": None
        if getattr(a, "explanation", None) is None
        else {
            "month": f"{format_month(a.explanation.month)}",
            "reason": a.explanation.reason,
            "measures": a.explanation.measures,
            "catch_up_by": a.explanation.catch_up_by.isoformat(),
        },
    }
    return item
