"""The one scoping method: what each persona's querysets contain."""

from datetime import date
from decimal import Decimal

from tracker.plans.models import Indicator, Project, Quota
from tracker.progress.models import ProgressReport


def _report(indicator, district):
    return ProgressReport.objects.create(
        indicator=indicator, district=district, month=date(2024, 6, 1), value=Decimal(5)
    )


def test_supervisor_sees_everything(personas):
    p = personas
    for ind in (p.indicator_a, p.indicator_b):
        for d in (p.district_a, p.district_b):
            _report(ind, d)
    assert ProgressReport.objects.for_user(p.supervisor).count() == 4
    assert Project.objects.for_user(p.supervisor).count() == 2


def test_agency_sees_only_projects_it_leads(personas):
    p = personas
    for ind in (p.indicator_a, p.indicator_b):
        _report(ind, p.district_a)
    assert list(Project.objects.for_user(p.agency_a_user)) == [p.project_a]
    assert list(Indicator.objects.for_user(p.agency_a_user)) == [p.indicator_a]
    assert {r.indicator for r in ProgressReport.objects.for_user(p.agency_a_user)} == {
        p.indicator_a
    }
    assert Quota.objects.for_user(p.agency_b_user).filter(indicator=p.indicator_a).count() == 0


def test_district_reads_whole_plan_but_only_its_own_rows(personas):
    p = personas
    for d in (p.district_a, p.district_b):
        _report(p.indicator_a, d)
    assert Project.objects.for_user(p.district_a_user).count() == 2
    assert {q.district for q in Quota.objects.for_user(p.district_a_user)} == {p.district_a}
    assert [r.district for r in ProgressReport.objects.for_user(p.district_b_user)] == [
        p.district_b
    ]


def test_user_without_role_sees_nothing(personas):
    _report(personas.indicator_a, personas.district_a)
    assert not ProgressReport.objects.for_user(personas.outsider).exists()
    assert not Project.objects.for_user(personas.outsider).exists()
