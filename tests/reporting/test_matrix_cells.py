"""The matrix page's cells written by ``{% matrix_cells %}`` are the HTML the template
markup it replaced wrote: the page's table rendered both ways on the simulated year, for
督查室, a lead agency and a district (whose red cells link to 本月填报), equal."""

import re
from pathlib import Path

import pytest
import time_machine
from django.template import engines

from tests.dashboard_helpers import SEPT, simulated_year

TEMPLATE = "tracker/templates/dashboard/matrix.html"
OLD_CELLS = (  # the markup before the tag, verbatim
    "{% for c in row.cells %}{% if c %}"
    '<td class="cell {{ c.colour }}{% if c.at_risk %} risk{% endif %}" '
    'data-status="{{ c.status }}" title="{{ c.status_label }}：累计完成 '
    "{{ c.actual|amount:row.indicator }} / 任务数 {{ c.quota|amount:row.indicator }}；"
    '序时应达 {{ c.expected|amount:row.indicator }}；完成率 {{ c.completion_pct|pct }}">'
    '<a href="{% cell_href row.indicator c.district_id c.status month %}" '
    'aria-label="{{ c.status_label }}：累计完成 {{ c.actual|amount:row.indicator }} / '
    "任务数 {{ c.quota|amount:row.indicator }}，序时应达 "
    '{{ c.expected|amount:row.indicator }}">{% if c.completion_pct is not None %}'
    "{{ c.completion_pct|whole_pct }}{% else %}·{% endif %}</a></td>"
    '{% else %}<td class="cell blank"></td>{% endif %}{% endfor %}'
)


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


def table(html: str) -> str:
    return re.search(r'<table class="matrix".*?</table>', html, re.S).group(0)


@pytest.mark.parametrize("who", ["supervisor", "agency", "chunan_user"])
def test_matrix_cells_tag_writes_the_old_markup(year, db, client, who):
    client.force_login(getattr(year, who))
    with time_machine.travel("2024-10-08 10:00 +0800", tick=False):
        response = client.get(f"/matrix/?month={SEPT}")
        assert response.status_code == 200
        source = Path(TEMPLATE).read_text(encoding="utf-8")
        assert "{% matrix_cells row month %}" in source
        old = engines["django"].from_string(
            source.replace("{% matrix_cells row month %}", OLD_CELLS)
        )
        context = response.context[0].flatten()
        before = old.render(context, response.wsgi_request)
    ours = table(response.content.decode())
    assert ours == table(before)
    assert ours.count('<td class="cell ') > 20 and 'data-status="seriously_behind"' in ours
    if who == "chunan_user":  # its red cells link to 本月填报
        assert "/report/" in ours


def test_cached_cell_paths_follow_the_urlconf_in_effect(settings):
    """The matrix's reversed paths are cached per URLconf: a changed ROOT_URLCONF (as
    tests and the benchmark's floors set it) reverses anew instead of reusing a path."""
    from tracker.templatetags.entry_tags import _path

    plain = _path("dashboard:cell", 1, 2)
    settings.ROOT_URLCONF = "tests.prefixed_urls"
    assert _path("dashboard:cell", 1, 2) == "/prefixed" + plain
