"""The notice as a 公文 (GB/T 9704-2012): the parts around its body, one month at a time.

督查室 sets each part per month (``NoticeIssue``, admin → 月度通报设置); a blank part prints
its default, so a month without settings is still a complete 公文:

- 发文机关标志 (版头, red): 「{发文机关}文件」, 发文机关 being ``conf.NOTICE_ISSUER``;
- 发文字号: as set (until then the page shows the issue number 「2024年第9期」);
- 主送机关: ``DEFAULT_ADDRESSEES`` (the way 杭政办函〔2024〕4号 addresses its readers);
- 成文日期, with the day: as set; blank, the day the notice is 印发 (``issued.issue``
  writes it), and before that the day the month's scheduled check runs (the day after
  the reporting deadline, ``monitoring.checks.milestone_due_at``), the first day the
  month's notice can be written;
- 发文机关署名: ``conf.NOTICE_ISSUER``;
- 版记: 抄送 (``DEFAULT_COPY_TO``), 印发机关 (``DEFAULT_PRINTER``) and 印发日期 (the
  成文日期).

At 印发 the blanks are filled with these defaults (``settle``), so an issued notice keeps
its parts whatever the settings say later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tracker import conf
from tracker.monitoring.checks import milestone_due_at
from tracker.months import date_label
from tracker.reporting.models import (
    DEFAULT_ADDRESSEES,
    DEFAULT_COPY_TO,
    DEFAULT_PRINTER,
    NoticeIssue,
)

#: the text parts ``settle`` fills, in the order the notice prints them
TEXT_PARTS = ("mark", "addressees", "signatory", "copy_to", "printer")


@dataclass(frozen=True)
class NoticeDocument:
    """What a month's notice prints around its body (every part resolved)."""

    mark: str  # 发文机关标志
    doc_number: str  # 发文字号 ("" until set)
    addressees: str  # 主送机关, without the colon
    issued_on: date  # 成文日期
    signatory: str  # 发文机关署名
    copy_to: str  # 抄送机关, without the full stop
    printer: str  # 印发机关
    printed_on: date  # 印发日期

    @property
    def issued_on_label(self) -> str:
        """「2024年12月10日」: GB/T 9704 writes the 成文日期 in Arabic numerals, in full."""
        return date_label(self.issued_on)

    @property
    def printed_on_label(self) -> str:
        """「2024年12月10日印发」, the 版记's last words."""
        return f"{date_label(self.printed_on)}印发"


def default_issued_on(month: date) -> date:
    """The 成文日期 of a notice not yet issued: the day of the month's scheduled check."""
    return milestone_due_at(month).date()


def defaults(month: date) -> dict:
    """Every part's default for ``month`` (what a blank prints)."""
    issuer = conf.NOTICE_ISSUER
    return {
        "mark": f"{issuer}文件",
        "addressees": DEFAULT_ADDRESSEES,
        "signatory": issuer,
        "copy_to": DEFAULT_COPY_TO,
        "printer": DEFAULT_PRINTER,
        "issued_on": default_issued_on(month),
    }


def document_of(month: date, issue: NoticeIssue | None) -> NoticeDocument:
    """The month's parts: the settings, and the defaults where they are blank. No query."""
    base = defaults(month)
    parts = {name: (getattr(issue, name, "") or base[name]) for name in TEXT_PARTS}
    issued_on = (issue.issued_on if issue else None) or base["issued_on"]
    printed_on = (issue.printed_on if issue else None) or issued_on
    doc_number = issue.doc_number if issue else ""
    return NoticeDocument(
        doc_number=doc_number, issued_on=issued_on, printed_on=printed_on, **parts
    )


def settle(record: NoticeIssue) -> None:
    """Write the defaults into ``record``'s blank parts (at 印发; its 成文日期 is set)."""
    doc = document_of(record.month, record)
    for name in TEXT_PARTS:
        if not getattr(record, name):
            setattr(record, name, getattr(doc, name))
    if record.printed_on is None or record.printed_on < doc.issued_on:
        record.printed_on = doc.issued_on  # printed no earlier than written


def settings_key() -> str:
    """The settings the defaults read (part of the cached PDF's fingerprint)."""
    return f"{conf.NOTICE_ISSUER}|{conf.REPORTING_DEADLINE_DAY}|{conf.CHECK_HOUR}"
