"""``{% matrix_cells row month %}``: the cells of one row of the 区县×指标 matrix.

The matrix page renders 14 × 70 cells, each with its tooltip and link; as template markup
(six ``amount`` filters, ``pct``, ``whole_pct`` and ``cell_href`` per cell) that was most
of the page's time. This tag writes the same HTML in Python — each amount formatted
once, the same filters and link called as functions — and is tested equal, cell by
cell, to the template markup it replaces (``tests/test_matrix_cells.py``).
"""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from tracker import formats as fmt
from tracker.formats import show_amount
from tracker.templatetags.entry_tags import cell_href

register = template.Library()

BLANK = '<td class="cell blank"></td>'


def _escaped_label(status: str, label) -> str:
    """A status's label, translated and escaped once per language (a page has ~1 000
    cells and six statuses; each lazy label otherwise resolves its translation anew)."""
    key = (get_language(), status)
    text = _LABELS.get(key)
    if text is None:
        _LABELS[key] = text = escape(label)
    return text


_LABELS: dict[tuple, str] = {}


def matrix_cell(context, c, indicator, month) -> str:
    """One cell's ``<td>`` (``c``: a matrix cell, or None for a district without a quota)."""
    if not c:
        return BLANK
    label = _escaped_label(c.status, c.status_label)
    actual = escape(show_amount(indicator, c.actual))
    quota = escape(show_amount(indicator, c.quota))
    expected = escape(show_amount(indicator, c.expected))
    completion = c.completion_pct
    shown = "·" if completion is None else escape(fmt.whole_percent(completion))
    href = escape(cell_href(context, indicator, c.district_id, c.status, month))
    risk = " risk" if c.at_risk else ""
    return (
        f'<td class="cell {escape(c.colour)}{risk}" data-status="{escape(c.status)}" '
        f'title="{label}：累计完成 {actual} / 任务数 {quota}；序时应达 {expected}；'
        f'完成率 {escape(fmt.percent(completion, 1))}"><a href="{href}" '
        f'aria-label="{label}：累计完成 {actual} / 任务数 {quota}，序时应达 {expected}">'
        f"{shown}</a></td>"
    )


@register.simple_tag(takes_context=True)
def matrix_cells(context, row, month):
    indicator = row.indicator
    return mark_safe("".join(matrix_cell(context, c, indicator, month) for c in row.cells))
