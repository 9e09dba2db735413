"""Month and day labels: one home (``tracker.months``), as people write them — never
zero-padded (「2024年9月底」, not 「2024年09月底」) — in code and in templates alike."""

from datetime import date
from pathlib import Path

from django.template import Context, Template

from tracker.months import (
    clamp_to_year,
    date_label,
    month_end_label,
    month_label,
    short_date_label,
    short_month_end_label,
    short_month_label,
)

ROOT = Path(__file__).resolve().parents[2]
SEPT = date(2024, 9, 1)


def test_labels_are_written_as_people_write_them():
    assert month_label(SEPT) == "2024年9月"
    assert month_end_label(SEPT) == "2024年9月底"
    assert short_month_label(SEPT) == "9月"
    assert short_month_end_label(date(2024, 9, 30)) == "9月底"
    assert date_label(date(2024, 9, 5)) == "2024年9月5日"
    assert short_date_label(date(2024, 12, 5)) == "12月5日"


def test_the_template_filters_are_the_same_labels():
    html = Template(
        "{% load tracker_tags %}{{ m|month_end_label }} {{ m|month_label }} "
        "{{ d|date_label }} {{ d|short_date_label }} {{ m|short_month_label }} "
        "{{ none|month_label }}|"
    ).render(Context({"m": SEPT, "d": date(2024, 10, 8), "none": None}))
    assert html == "2024年9月底 2024年9月 2024年10月8日 10月8日 9月 |"


def test_the_year_clamp():
    assert clamp_to_year(date(2026, 3, 1), 2024) == date(2024, 12, 1)
    assert clamp_to_year(date(2023, 3, 1), 2024) == date(2024, 1, 1)
    assert clamp_to_year(SEPT, 2024) == SEPT


def test_no_code_or_template_writes_a_month_label_by_hand():
    """Zero-padded or hand-made month labels are gone from the tracker (the integrity
    check wrote 「2024年09月底」), and 「2024-09」 is ``format_month``'s."""
    offenders = []
    for path in [*ROOT.glob("tracker/**/*.py"), *ROOT.glob("tracker/templates/**/*.html")]:
        if path.name == "months.py" or "migrations" in path.parts:
            continue
        text = path.read_text()
        needles = ("%Y年", "%m月", "年%", "月}底", ".month }}月", 'date:"Y年', 'date:"n', ":%Y-%m}")
        for needle in needles:
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []
