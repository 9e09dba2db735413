"""Load a year's plan from its reviewed YAML fixture (``fixtures/plan_<year>.yaml``).

The fixture keeps the published text beside the structured numbers (quota cells
exactly as printed, milestone sentences verbatim) so it can be read against the
gazette; this module turns it into rows.

- Everything is validated before anything is written; a bad file raises
  ``PlanFileError`` listing every problem in Chinese and changes nothing.
- Loading is an upsert on natural keys (district code, agency name, year,
  category order, project 序号, indicator order, quota cell, milestone order):
  loading the same file twice writes nothing, not even history rows; an edited
  file updates in place. Progress reports are never touched; an indicator that
  already has progress cannot be dropped from the file.
- Writes go through simple_history's bulk helpers so every change keeps who
  and when.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import yaml
from django.db import transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from tracker.models import (
    Agency,
    Category,
    District,
    Indicator,
    Milestone,
    PlanYear,
    Project,
    Quota,
)
from tracker.months import month_end

from .quantities import QuantityError, is_empty, parse_quantity

# Cooperating-unit phrases that name district governments rather than an agency.
DISTRICT_GOVERNMENT_RE = re.compile(
    r"(各区、县\(市\)政府|相关区、县\(市\)政府|相关区\(市\)政府|各区政府\(管委会\)|各区政府|相关区政府)"
)
MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")


class PlanFileError(Exception):
    """The plan file cannot be loaded; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("计划文件有误，未载入任何数据：\n" + "\n".join(self.problems))


@dataclass
class LoadSummary:
    plan_year: PlanYear | None = None
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(+self.created or +self.updated or +self.deleted)

    def describe(self) -> str:
        if not self.changed:
            return "无变化"
        parts = []
        counters = (("新增", self.created), ("更新", self.updated), ("删除", self.deleted))
        for label, counter in counters:
            items = "，".join(f"{k} {v}" for k, v in sorted(counter.items()) if v)
            if items:
                parts.append(f"{label}：{items}")
        return "；".join(parts)


# --- reading and normalising ---------------------------------------------------


def read_plan_file(path) -> dict:
    path = Path(path)
    if not path.exists():
        raise PlanFileError([f"找不到计划文件：{path}"])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PlanFileError([f"计划文件不是有效的 UTF-8 YAML：{exc}"]) from exc
    if not isinstance(data, dict):
        raise PlanFileError(["计划文件的顶层应为映射（plan_year、projects 等字段）"])
    return data


def normalize_person(text: str) -> str:
    """「方 毅」→「方毅」 (a typesetting gap); 「漆宪忠 邓伟民」→「漆宪忠、邓伟民」 (two people)."""
    parts = str(text or "").split()
    if len(parts) > 1 and all(len(p) == 1 for p in parts):
        return "".join(parts)
    return "、".join(parts)


def split_cooperating(text: str) -> list[str]:
    """Named agencies in a 配合单位 cell; district-government phrases are left out."""
    body = DISTRICT_GOVERNMENT_RE.sub("、", str(text or ""))
    names = [re.sub(r"\s+", "", n) for n in re.split(r"[、,，;；]", body)]
    return [n for n in names if n]


def parse_due(value, year: int) -> date:
    """``2024-06`` → 2024-06-30 (month end); ``2024-05-18`` stays that day."""
    if isinstance(value, date):
        return value
    match = MONTH_RE.match(str(value).strip())
    if not match:
        raise ValueError(f"日期「{value}」应写成 YYYY-MM 或 YYYY-MM-DD")
    y, m, d = int(match.group(1)), int(match.group(2)), match.group(3)
    if y != year:
        raise ValueError(f"日期「{value}」不在 {year} 年度内")
    return date(y, m, int(d)) if d else month_end(date(y, m, 1))


@dataclass
class _Spec:
    """The validated, normalised content of one plan file."""

    year: int
    plan_fields: dict
    districts: list[dict]
    agencies: dict  # canonical name -> {"aliases": [...], "full_name": ...}
    categories: list[str]
    projects: list[dict]


def _build_spec(data: dict) -> _Spec:
    problems: list[str] = []
    year = data.get("plan_year")
    if not isinstance(year, int):
        raise PlanFileError(["缺少 plan_year（年度，例如 2024）"])

    districts = data.get("districts") or []
    district_names = [d.get("name") for d in districts]
    if not districts:
        problems.append("缺少 districts（区、县(市)列表，按任务分解表列序）")
    kinds = {k for k, _ in District.Kind.choices}
    for d in districts:
        if d.get("kind") not in kinds:
            problems.append(f"区、县(市)「{d.get('name')}」的类型「{d.get('kind')}」无效")

    alias_to_name: dict[str, str] = {}
    agencies: dict[str, dict] = {}
    for a in data.get("agencies") or []:
        agencies[a["name"]] = {
            "aliases": list(a.get("aliases") or []),
            "full_name": a.get("full_name", ""),
        }
        for alias in agencies[a["name"]]["aliases"]:
            alias_to_name[alias] = a["name"]

    def agency_name(raw: str) -> str:
        name = re.sub(r"\s+", "", raw)
        name = alias_to_name.get(name, name)
        agencies.setdefault(name, {"aliases": [], "full_name": ""})
        return name

    categories = list(data.get("categories") or [])
    projects = []
    seen_seq = set()
    for p in data.get("projects") or []:
        seq = p.get("seq")
        where = f"序号{seq}"
        if seq in seen_seq:
            problems.append(f"{where}：序号重复")
        seen_seq.add(seq)
        if not (isinstance(p.get("category"), int) and 1 <= p["category"] <= len(categories)):
            problems.append(f"{where}：类别「{p.get('category')}」不在 categories 列表中")
        try:
            deadline = parse_due(p.get("deadline"), year)
        except ValueError as exc:
            problems.append(f"{where}：预计完成时间{exc}")
            deadline = None
        lead = agency_name(p.get("lead_agency", ""))
        if p.get("lead_agency_in_breakdown"):
            lead2 = agency_name(p["lead_agency_in_breakdown"])
            if lead2 != lead:
                problems.append(
                    f"{where}：附件1 牵头单位「{lead}」与附件2「{lead2}」不是同一单位"
                    "（如为同一单位的不同写法，请在 agencies 中登记别名）"
                )
        indicators = []
        for order, ind in enumerate(p.get("indicators") or [], start=1):
            indicators.append(_indicator_spec(ind, order, where, district_names, problems))
        milestones = _milestone_specs(p, indicators, year, where, problems)
        projects.append(
            {
                "seq": seq,
                "category": p.get("category"),
                "name": str(p.get("name", "")).strip(),
                "name_in_breakdown": str(p.get("name_in_breakdown", "") or "").strip(),
                "city_leader": normalize_person(p.get("city_leader", "")),
                "lead_agency": lead,
                "lead_agency_leader": normalize_person(p.get("lead_agency_leader", "")),
                "cooperating_text": str(p.get("cooperating", "") or "").strip(),
                "cooperating": [agency_name(n) for n in split_cooperating(p.get("cooperating"))],
                "deadline": deadline,
                "work_plan": str(p.get("work_plan", "")).strip(),
                "notes": str(p.get("notes", "") or "").strip(),
                "indicators": indicators,
                "milestones": milestones,
            }
        )
    if problems:
        raise PlanFileError(problems)
    plan_fields = {
        "title": data.get("title", ""),
        "document_number": data.get("document_number", ""),
        "source": data.get("source", ""),
        "published_on": data.get("published_on") or None,
        "notes": str(data.get("notes", "") or "").strip(),
        "acknowledged_findings": list(data.get("acknowledged") or []),
    }
    if isinstance(plan_fields["published_on"], str):
        plan_fields["published_on"] = date.fromisoformat(plan_fields["published_on"])
    return _Spec(year, plan_fields, districts, agencies, categories, projects)


def _indicator_spec(ind, order, where, district_names, problems) -> dict:
    where = f"{where} 第{order}个量化目标「{ind.get('label')}」"
    unit = str(ind.get("unit", "") or "")
    kind = ind.get("kind")
    scope = ind.get("scope", Indicator.Scope.DISTRICTS)
    if kind not in Indicator.Kind.values:
        problems.append(f"{where}：类型「{kind}」无效，应为 {'/'.join(Indicator.Kind.values)}")
    if scope not in Indicator.Scope.values:
        problems.append(f"{where}：分解方式「{scope}」无效")
    target_text = str(ind.get("target", "") or "").strip()
    target = None
    if kind != Indicator.Kind.QUALITATIVE:
        try:
            target = parse_quantity(target_text, unit).value
        except QuantityError as exc:
            problems.append(f"{where}：年度目标{exc}")
    quotas = {}
    cells = ind.get("quotas")
    if scope == Indicator.Scope.DISTRICTS and kind != Indicator.Kind.QUALITATIVE:
        if not isinstance(cells, list) or len(cells) != len(district_names):
            problems.append(
                f"{where}：quotas 应按列序列出 {len(district_names)} 个单元格"
                f"（{'、'.join(map(str, district_names))}），实际 "
                f"{len(cells) if isinstance(cells, list) else 0} 个"
            )
            cells = []
        for name, cell in zip(district_names, cells, strict=False):
            if is_empty(cell):
                continue
            try:
                quantity = parse_quantity(cell, unit)
            except QuantityError as exc:
                problems.append(f"{where} {name}：{exc}")
                continue
            quotas[name] = {
                "value": quantity.value,
                "new_value": quantity.first,
                "upgrade_value": quantity.second,
                "published_text": str(cell).strip(),
            }
    elif cells:
        problems.append(f"{where}：全市整体完成或定性的目标不应有分解任务")
    if any(q["upgrade_value"] is not None for q in quotas.values()):
        # 序号26: 「5(4)个」 is 5 new + 4 upgraded; a plain 「6个」 in the same row is all new.
        for q in quotas.values():
            if q["upgrade_value"] is None:
                q["new_value"], q["upgrade_value"] = q["value"], Decimal(0)
    note = str(ind.get("breakdown_note", "") or "").strip()
    if ind.get("breakdown_name"):
        note = (note + "\n" if note else "") + f"附件2 单列为：{ind['breakdown_name']}"
    return {
        "order": order,
        "label": str(ind.get("label", "")).strip(),
        "unit": unit,
        "kind": kind,
        "scope": scope,
        "target_value": target,
        "target_text": target_text,
        "breakdown_note": note,
        "quotas": quotas,
    }


def _milestone_specs(p, indicators, year, where, problems) -> list[dict]:
    """One row per (sentence, target); qualitative sentences give one row each."""
    rows = []
    by_order = {ind["order"]: ind for ind in indicators}
    for index, m in enumerate(p.get("milestones") or []):
        try:
            due = parse_due(m.get("due"), year)
        except ValueError as exc:
            problems.append(f"{where} 进度节点{index + 1}：{exc}")
            continue
        text = str(m.get("text", "")).strip()
        if not text:
            problems.append(f"{where} 进度节点{index + 1}：缺少原文 text")
        targets = m.get("targets") or []
        if not targets:
            ind = m.get("indicator")
            if ind is not None and ind not in by_order:
                problems.append(f"{where} 进度节点「{text}」：没有第{ind}个量化目标")
            rows.append(
                {
                    "order": index * 100,
                    "due_date": due,
                    "indicator": ind,
                    "kind": Milestone.Kind.QUALITATIVE,
                    "value": None,
                    "value_text": "",
                    "text": text,
                }
            )
            continue
        k = 0
        for t in targets:
            refs = list(by_order) if t.get("indicator") == "all" else [t.get("indicator")]
            kind = t.get("kind")
            if kind not in Milestone.Kind.values or kind == Milestone.Kind.QUALITATIVE:
                problems.append(f"{where} 进度节点「{text}」：数值类型「{kind}」无效")
                continue
            for ref in refs:
                ind = by_order.get(ref)
                if ind is None:
                    problems.append(f"{where} 进度节点「{text}」：没有第{ref}个量化目标")
                    continue
                value_text = str(t.get("value", "")).strip()
                try:
                    value = _milestone_value(value_text, kind, ind["unit"])
                except QuantityError as exc:
                    problems.append(f"{where} 进度节点「{text}」：{exc}")
                    continue
                rows.append(
                    {
                        "order": index * 100 + k,
                        "due_date": due,
                        "indicator": ref,
                        "kind": kind,
                        "value": value,
                        "value_text": str(t.get("published") or value_text),
                        "text": text,
                    }
                )
                k += 1
    return rows


def _milestone_value(text: str, kind: str, unit: str) -> Decimal:
    if kind in (Milestone.Kind.PERCENT, Milestone.Kind.LEVEL) or text.endswith("%"):
        return parse_quantity(text, "%").value
    return parse_quantity(text, unit).value


# --- writing -------------------------------------------------------------------


def load_plan(source, *, user=None) -> LoadSummary:
    """Load (or update in place) the plan in ``source`` (a path or a parsed dict)."""
    data = source if isinstance(source, dict) else read_plan_file(source)
    spec = _build_spec(data)
    summary = LoadSummary()
    with transaction.atomic():
        _Writer(spec, summary, user).run()
    return summary


class _Writer:
    def __init__(self, spec: _Spec, summary: LoadSummary, user):
        self.spec = spec
        self.summary = summary
        self.user = user

    def run(self):
        districts = self._districts()
        agencies = self._agencies()
        plan_year = self._plan_year()
        self.summary.plan_year = plan_year
        categories = self._categories(plan_year)
        projects = self._projects(plan_year, categories, agencies)
        indicators = self._indicators(projects)
        self._quotas(indicators, districts)
        self._milestones(projects, indicators)

    # generic upsert: compare, then bulk-create / bulk-update with history
    def _sync(self, model, existing: dict, wanted: dict, build, label):
        new, changed, fields = [], [], set()
        for key, values in wanted.items():
            obj = existing.get(key)
            if obj is None:
                new.append(build(key, values))
                continue
            diff = [f for f, v in values.items() if getattr(obj, f) != v]
            if diff:
                for f in diff:
                    setattr(obj, f, values[f])
                fields.update(diff)
                changed.append(obj)
        if new:
            bulk_create_with_history(new, model, default_user=self.user)
            self.summary.created[label] += len(new)
        if changed:
            bulk_update_with_history(changed, model, sorted(fields), default_user=self.user)
            self.summary.updated[label] += len(changed)
        return new, changed

    def _delete(self, queryset, label):
        count = 0
        for obj in queryset:  # one by one so each deletion is kept in history
            if self.user is not None:
                obj._history_user = self.user
            obj.delete()
            count += 1
        if count:
            self.summary.deleted[label] += count

    def _districts(self) -> dict[str, District]:
        existing = {d.code: d for d in District.objects.all()}
        wanted = {
            d["code"]: {"name": d["name"], "kind": d["kind"], "order": i}
            for i, d in enumerate(self.spec.districts)
        }
        # Move orders out of the way first so reordering never trips the unique index.
        moving = [d for c, d in existing.items() if c in wanted and d.order != wanted[c]["order"]]
        if moving:
            top = max(d.order for d in existing.values()) + 1
            for offset, d in enumerate(moving):
                District.objects.filter(pk=d.pk).update(order=top + offset + 1000)
                d.order = top + offset + 1000
        self._sync(District, existing, wanted, lambda k, v: District(code=k, **v), "区、县(市)")
        return {d.name: d for d in District.objects.all()}

    def _agencies(self) -> dict[str, Agency]:
        existing = {a.name: a for a in Agency.objects.all()}
        wanted = {}
        for name, info in self.spec.agencies.items():
            current = existing.get(name)
            merged = sorted(set(info["aliases"]) | set(current.aliases if current else []))
            full_name = info["full_name"] or (current.full_name if current else "")
            wanted[name] = {"aliases": merged, "full_name": full_name}
        self._sync(Agency, existing, wanted, lambda k, v: Agency(name=k, **v), "单位")
        return {a.name: a for a in Agency.objects.filter(name__in=wanted)}

    def _plan_year(self) -> PlanYear:
        existing = {p.year: p for p in PlanYear.objects.filter(year=self.spec.year)}
        wanted = {self.spec.year: self.spec.plan_fields}
        self._sync(PlanYear, existing, wanted, lambda k, v: PlanYear(year=k, **v), "年度")
        return PlanYear.objects.get(year=self.spec.year)

    def _categories(self, plan_year) -> dict[int, Category]:
        existing = {c.order: c for c in plan_year.categories.all()}
        wanted = {i: {"name": n} for i, n in enumerate(self.spec.categories, start=1)}
        # Renames that swap names would trip the unique name index: clear them first.
        clash = [c for o, c in existing.items() if o in wanted and c.name != wanted[o]["name"]]
        for c in clash:
            Category.objects.filter(pk=c.pk).update(name=f"__renaming_{c.pk}")
            c.name = f"__renaming_{c.pk}"
        self._sync(
            Category,
            existing,
            wanted,
            lambda k, v: Category(plan_year=plan_year, order=k, **v),
            "类别",
        )
        self._delete(plan_year.categories.exclude(order__in=wanted), "类别")
        return {c.order: c for c in plan_year.categories.all()}

    def _projects(self, plan_year, categories, agencies) -> dict[int, Project]:
        existing = {p.seq: p for p in plan_year.projects.all()}
        wanted = {}
        for p in self.spec.projects:
            wanted[p["seq"]] = {
                "category_id": categories[p["category"]].pk,
                "name": p["name"],
                "name_in_breakdown": p["name_in_breakdown"],
                "city_leader": p["city_leader"],
                "lead_agency_id": agencies[p["lead_agency"]].pk,
                "lead_agency_leader": p["lead_agency_leader"],
                "cooperating_text": p["cooperating_text"],
                "deadline": p["deadline"],
                "work_plan": p["work_plan"],
                "notes": p["notes"],
            }
        self._sync(
            Project,
            existing,
            wanted,
            lambda k, v: Project(plan_year=plan_year, seq=k, **v),
            "项目",
        )
        stale = plan_year.projects.exclude(seq__in=wanted)
        self._refuse_if_reported(Indicator.objects.filter(project__in=stale), "项目")
        self._delete(stale, "项目")
        projects = {p.seq: p for p in plan_year.projects.prefetch_related("cooperating_agencies")}
        for p in self.spec.projects:
            project = projects[p["seq"]]
            want = {agencies[n].pk for n in p["cooperating"]}
            if {a.pk for a in project.cooperating_agencies.all()} != want:
                project.cooperating_agencies.set(want)
                self.summary.updated["配合单位"] += 1
        return projects

    def _indicators(self, projects) -> dict[tuple[int, int], Indicator]:
        existing = {
            (i.project.seq, i.order): i
            for i in Indicator.objects.filter(project__in=projects.values()).select_related(
                "project"
            )
        }
        wanted = {}
        for p in self.spec.projects:
            for ind in p["indicators"]:
                wanted[(p["seq"], ind["order"])] = {
                    k: ind[k]
                    for k in ("label", "unit", "kind", "scope", "target_value", "target_text")
                } | {"breakdown_note": ind["breakdown_note"]}
        self._sync(
            Indicator,
            existing,
            wanted,
            lambda k, v: Indicator(project=projects[k[0]], order=k[1], **v),
            "量化目标",
        )
        stale = [i.pk for key, i in existing.items() if key not in wanted]
        if stale:
            self._refuse_if_reported(Indicator.objects.filter(pk__in=stale), "量化目标")
            self._delete(Indicator.objects.filter(pk__in=stale), "量化目标")
        return {
            (i.project.seq, i.order): i
            for i in Indicator.objects.filter(project__in=projects.values()).select_related(
                "project"
            )
        }

    def _quotas(self, indicators, districts):
        existing = {
            (q.indicator_id, q.district_id): q
            for q in Quota.objects.filter(indicator__in=indicators.values())
        }
        wanted = {}
        for p in self.spec.projects:
            for ind in p["indicators"]:
                indicator = indicators[(p["seq"], ind["order"])]
                for name, q in ind["quotas"].items():
                    wanted[(indicator.pk, districts[name].pk)] = q
        self._sync(
            Quota,
            existing,
            wanted,
            lambda k, v: Quota(indicator_id=k[0], district_id=k[1], **v),
            "分解任务",
        )
        stale = [q.pk for key, q in existing.items() if key not in wanted]
        if stale:
            self._delete(Quota.objects.filter(pk__in=stale), "分解任务")

    def _milestones(self, projects, indicators):
        existing = {
            (m.project_id, m.order): m
            for m in Milestone.objects.filter(project__in=projects.values())
        }
        wanted = {}
        for p in self.spec.projects:
            project = projects[p["seq"]]
            for m in p["milestones"]:
                ind = indicators[(p["seq"], m["indicator"])] if m["indicator"] else None
                wanted[(project.pk, m["order"])] = {
                    "indicator_id": ind.pk if ind else None,
                    "district_id": None,
                    "due_date": m["due_date"],
                    "kind": m["kind"],
                    "value": m["value"],
                    "value_text": m["value_text"],
                    "text": m["text"],
                }
        self._sync(
            Milestone,
            existing,
            wanted,
            lambda k, v: Milestone(project_id=k[0], order=k[1], **v),
            "进度节点",
        )
        stale = [m.pk for key, m in existing.items() if key not in wanted]
        if stale:
            self._delete(Milestone.objects.filter(pk__in=stale), "进度节点")

    @staticmethod
    def _refuse_if_reported(indicators, what):
        from tracker.models import ProgressReport

        reported = (
            ProgressReport.objects.filter(indicator__in=indicators)
            .values_list("indicator__project__seq", "indicator__label")
            .distinct()
        )
        if reported:
            names = "、".join(f"序号{s}「{label}」" for s, label in reported)
            raise PlanFileError([f"{names} 已有进度填报，不能从计划文件中删除该{what}"])
