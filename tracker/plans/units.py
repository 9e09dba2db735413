"""A plan's reporting units, in the plan's own order: the one home for it.

Each plan (``PlanYear``) lists its own columns (``PlanColumn``): the units it breaks its
targets down to, in the order it prints them, with the label it prints. Every read side
(dashboard, API, notice, exports, notifications, simulation, what is due, the lag check's
市本级) asks here instead of sorting by ``District.order`` or looking for "the" 市本级:

- ``plan_columns(plan)``: the columns in order, each with its primary unit (the one the
  quota is stored on) and the other units of a merged column (「海曙、江东、江北」 sharing
  one number). 2 queries.
- ``unit_order(plan)``: district id → the plan's column position (merged units share
  their column's; ``PlanYear.column_order``, 1 query); ``sort_units`` sorts districts by
  it (units outside the plan last, by their default order, then name).
- ``city_unit_id(plan)``: the plan's 市本级 column (kind ``city``), which reports its
  city-wide (``Indicator.Scope.CITY``) targets; None for a plan without one (a 区's own
  plan over its 街道). ``city_unit_ids(plan_ids)`` does it for several plans in 1 query.
- ``may_report(indicator, district_id, ...)``: the one rule of which units report a
  target — a city-wide target its plan's 市本级 column only, a split target each unit
  with a quota for it (``progress.due``'s SQL is the same rule, set-based, through
  ``city_unit_expression``).
- ``column_position(plan_ref, district_ref)`` / ``column_label(...)``: the same order and
  printed label as SQL expressions, to ``order_by``/``annotate`` a query without an extra
  query (``plan_ref`` a plan id or ``OuterRef("indicator__project__plan_year_id")``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Case, Exists, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce

from tracker.plans.reference import District, PlanColumn, PlanYear

OUTSIDE = 10_000  # position of a unit that is not a column of the plan

__all__ = [
    "Column",
    "city_unit_expression",
    "city_unit_id",
    "city_unit_ids",
    "column_label",
    "column_position",
    "merged_labels",
    "plan_columns",
    "sort_units",
    "unit_order",
]


@dataclass(frozen=True)
class Column:
    """One column of a plan: its position, printed label, primary unit and merged units."""

    order: int
    label: str
    district: District
    merged: tuple[District, ...] = ()

    @property
    def units(self) -> tuple[District, ...]:
        return (self.district, *self.merged)

    @property
    def is_merged(self) -> bool:
        return bool(self.merged)

    @property
    def units_text(self) -> str:
        """「海曙区、江东区、江北区」: the registered names of every unit sharing the column."""
        return "、".join(d.name for d in self.units)


def plan_columns(plan: PlanYear | int | None) -> list[Column]:
    """The plan's columns in its order (2 queries); [] for no plan."""
    if plan is None:
        return []
    plan_id = plan if isinstance(plan, int) else plan.pk
    columns = (
        PlanColumn.objects.filter(plan_id=plan_id)
        .select_related("district")
        .prefetch_related("merged_units")
        .order_by("order")
    )
    return [
        Column(
            order=c.order,
            label=c.label,
            district=c.district,
            merged=tuple(sorted(c.merged_units.all(), key=lambda d: (d.order, d.name))),
        )
        for c in columns
    ]


def unit_order(plan: PlanYear | None) -> dict[int, int]:
    """district id → the plan's column position (``PlanYear.column_order``); {} for none."""
    return plan.column_order() if plan is not None else {}


def sort_units(order: dict[int, int], districts: Iterable) -> list:
    """``districts`` (District rows, or objects with ``district``/``district_id``) in the
    plan's column order given by ``order`` (``unit_order``); units outside it last."""

    def key(item):
        district = getattr(item, "district", item)
        pk = getattr(item, "district_id", None) or district.pk
        return (
            order.get(pk, OUTSIDE),
            getattr(district, "order", 0),
            getattr(district, "name", ""),
        )

    return sorted(districts, key=key)


def column_position(plan_ref, district_ref=None):
    """SQL: the unit's column position in the plan (a merged unit: its column's; a unit
    outside the plan: ``OUTSIDE``). ``district_ref`` defaults to ``OuterRef("pk")``."""
    district_ref = OuterRef("pk") if district_ref is None else district_ref
    own = PlanColumn.objects.filter(plan_id=plan_ref, district_id=district_ref)
    merged = PlanColumn.objects.filter(plan_id=plan_ref, merged_units=district_ref)
    return Coalesce(
        Subquery(own.values("order")[:1]),
        Subquery(merged.values("order")[:1]),
        Value(OUTSIDE),
        output_field=IntegerField(),
    )


def column_label(plan_ref, district_ref=None):
    """SQL: the label the plan prints over the unit's column (「西溪、灵隐」), or None."""
    district_ref = OuterRef("pk") if district_ref is None else district_ref
    own = PlanColumn.objects.filter(plan_id=plan_ref, district_id=district_ref)
    return Subquery(own.values("label")[:1])


def city_unit_ids(plan_ids: Iterable[int]) -> dict[int, int]:
    """plan id → its 市本级 unit: a column of kind ``city``, first by column order. A plan
    with columns but none of kind ``city`` (a 区's plan over its 街道) has none; a plan with
    no columns at all (made before plans had columns, or by hand) uses the registered
    市本级. 1 query (+1 only for a plan without columns)."""
    plan_ids = set(plan_ids) - {None}
    out: dict[int, int] = {}
    with_columns: set[int] = set()
    for plan_id, district_id, kind in (
        PlanColumn.objects.filter(plan_id__in=plan_ids)
        .order_by("plan_id", "order")
        .values_list("plan_id", "district_id", "district__kind")
    ):
        with_columns.add(plan_id)
        if kind == District.Kind.CITY:
            out.setdefault(plan_id, district_id)
    bare = plan_ids - with_columns
    if bare:
        registered = (
            District.objects.filter(kind=District.Kind.CITY)
            .order_by("order")
            .values_list("pk", flat=True)
            .first()
        )
        if registered is not None:
            out.update(dict.fromkeys(bare, registered))
    return out


def city_unit_expression(plan_ref=None):
    """SQL: ``city_unit_ids``' rule for the plan at ``plan_ref`` (default
    ``OuterRef("project__plan_year_id")``, for an Indicator query): its first column of kind
    ``city``; for a plan without any column, the registered 市本级; else NULL."""
    plan_ref = OuterRef("project__plan_year_id") if plan_ref is None else plan_ref
    columns = PlanColumn.objects.filter(plan_id=plan_ref)
    own = columns.filter(district__kind=District.Kind.CITY).order_by("order")
    registered = District.objects.filter(kind=District.Kind.CITY).order_by("order")
    return Case(
        When(Exists(columns), then=Subquery(own.values("district_id")[:1])),
        default=Subquery(registered.values("pk")[:1]),
        output_field=IntegerField(),
    )


def city_unit_id(plan: PlanYear | int | None) -> int | None:
    """The plan's 市本级 unit, or None when the plan has no city column. 1 query."""
    if plan is None:
        return None
    plan_id = plan if isinstance(plan, int) else plan.pk
    return city_unit_ids([plan_id]).get(plan_id)


def merged_labels(plan: PlanYear | None) -> dict[int, str]:
    """primary unit id → the printed label of its merged column (only merged columns)."""
    return {c.district.pk: c.label for c in plan_columns(plan) if c.is_merged}


def may_report(indicator, district_id: int, *, city_unit: int | None, has_quota: bool) -> bool:
    """May ``district_id`` report ``indicator`` at all (whoever the user is)? A city-wide
    target (``Scope.CITY``) is reported by its plan's 市本级 column (``city_unit``, from
    ``city_unit_id``) and no other unit; a target split over units by each unit with a
    quota for it."""
    if indicator.scope == indicator.Scope.CITY:
        return city_unit is not None and district_id == city_unit
    return has_quota
