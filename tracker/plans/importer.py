"""Draft a plan file from the published tables (``import_plan FILE.xlsx``).

The result is a plan file *for review*: every cell is kept as printed, the work
plan's sentences are parsed into milestones, and ``review`` lists each sentence
or cell the importer could not read or had to guess. A person checks the list,
edits the file and then runs ``load_plan``.

Reporting units and agency spellings are matched against the registered ones
(the database) and, if given, a reference plan file (``--reference``): its units'
codes and labels and its agencies' aliases. An unknown column gets a code to fill
in and a review item.

Rules for the work plan (附件1 「工作计划和进度安排」), see ``parse_work_plan``:

- sentences end at 「;」「；」「。」; a 「[标题]」 prefix ties the following sentences
  to the target whose name contains the title; a clause opening with a date
  (「6月底前」) starts a new milestone, other clauses belong to the one before;
- dates: 「N月底」「N月」「N月份」 → month end; 「N月前」 → the month before (as the
  2024 file reads it); 「N月M日」 → that day; 「N月—M月每月…」 → one monthly amount per
  month; a sentence with 「N月底」 anywhere takes the first such month;
- numbers: 「x%」 is a percentage of the annual target (a level for a rate
  target; a stage for 「启动」); an amount in a target's unit (「不少于100个」「859 万人」)
  is a cumulative amount of the target with that unit (the one whose annual target
  it equals if several share the unit); 「平均每月 N」 is a reference pace;
  「进场施工」 amounts are stages; 「过半」 is 50%;
- completion words without a number (「全面完成」「基本完成」「确保完成目标任务」
  「完成全部…」「所有…完工」) mean 100%, and so does any 「完成/完工/建成/开放/公布」
  sentence dated in the deadline month — listed in the review as a guess;
- a percentage or completion word in a project with several targets and no
  「[标题]」 applies to all of them (``indicator: all``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import pairwise

from django.db.models import Q

from tracker.formats import plain
from tracker.plans.loader import (
    PlanFileError,
    _build_spec,
    column_order_problems,
    unit_problems,
)
from tracker.plans.published_tables import PublishedTables
from tracker.plans.quantities import QuantityError, is_empty, parse_quantity
from tracker.plans.reference import Agency, District, PlanColumn

NUM = r"\d+(?:\.\d+)?"
DATE_RANGE_RE = re.compile(r"(\d{1,2})\s*月\s*[—\-–~至到]\s*(\d{1,2})\s*月")
DAY_RE = re.compile(r"(\d{1,2})\s*月\s*(\d{1,2})\s*日")
MONTH_END_RE = re.compile(r"(\d{1,2})\s*月\s*底")
MONTH_BEFORE_RE = re.compile(r"(\d{1,2})\s*月\s*前")
MONTH_RE = re.compile(r"(\d{1,2})\s*月(?!\s*\d)")
LEADING_DATE_RE = re.compile(r"^(?:[（(]?\s*)?(?:\d{1,2}\s*月|确保\s*\d{1,2}\s*月)")
PERCENT_RE = re.compile(rf"({NUM})\s*%")
COMPLETION_PHRASES = (
    "全面完成",
    "基本完成",
    "确保完成目标任务",
    "完成目标任务",
    "完成全部",
    "全部完成",
    "完成所有",
    "所有项目完工",
)
COMPLETION_WORDS = ("完成", "完工", "建成", "开放", "公布")
STAGE_WORDS = ("启动", "进场施工")
DEADLINE_RE = re.compile(r"(\d{1,2})\s*月\s*(\d{1,2}\s*日)?")


@dataclass
class Review:
    items: list[str] = field(default_factory=list)

    def add(self, where: str, what: str):
        self.items.append(f"{where}：{what}")


@dataclass
class ImportResult:
    plan: dict
    review: list[str]


# --- work-plan sentences → milestones -------------------------------------------


def _due_of(segment: str, year: int) -> tuple[str | None, list[int]]:
    """The milestone date of ``segment`` as ``YYYY-MM[-DD]`` and months of a range."""
    if m := DAY_RE.search(segment):
        return f"{year}-{int(m.group(1)):02d}-{int(m.group(2)):02d}", []
    if m := MONTH_END_RE.search(segment):
        return f"{year}-{int(m.group(1)):02d}", []
    if m := DATE_RANGE_RE.search(segment):
        first, last = int(m.group(1)), int(m.group(2))
        return f"{year}-{last:02d}", list(range(first, last + 1))
    if m := MONTH_BEFORE_RE.search(segment):
        month = int(m.group(1)) - 1
        return (f"{year}-{month:02d}" if month >= 1 else f"{year}-01"), []
    if m := MONTH_RE.search(segment):
        return f"{year}-{int(m.group(1)):02d}", []
    return None, []


def _segments(sentence: str) -> list[str]:
    """Clauses of a sentence grouped so that each group opens with a date."""
    clauses = [c.strip() for c in re.split(r"[,，]", sentence) if c.strip()]
    groups: list[list[str]] = []
    for clause in clauses:
        if not groups or LEADING_DATE_RE.match(clause):
            groups.append([clause])
        else:
            groups[-1].append(clause)
    return [",".join(g) for g in groups]


def _amount_re(units: list[str]):
    alternatives = "|".join(re.escape(u) for u in sorted(set(units), key=len, reverse=True) if u)
    if not alternatives:
        return None
    return re.compile(rf"({NUM})\s*(万)?\s*(?:余\s*)?({alternatives})")


NUMBERED_TITLE_RE = re.compile(
    r"(^|[;；。\s])[（(]?\d{1,2}\s*[)）.、．]\s*([^\d:：;；。,，\[\]][^:：;；。,，\[\]]{0,29})[:：]"
)


def parse_work_plan(
    work_plan: str, indicators: list[dict], deadline: str | None, year: int, where: str, review
) -> list[dict]:
    """Milestones (plan-file form) from one project's 「工作计划和进度安排」. Without a printed
    deadline the last month the work plan names is where 「建成」「完成」 mean 100%."""
    milestones: list[dict] = []
    section: int | None = None
    several = len(indicators) > 1
    # 「1.老旧小区改造:」 is a title like 「[老旧小区改造]」.
    text = NUMBERED_TITLE_RE.sub(r"\1[\2]", work_plan.strip())
    if deadline is None:
        dues = [d for d, _ in (_due_of(seg, year) for seg in re.split(r"[;；。,，]", text)) if d]
        deadline = max(dues, default=f"{year}-12")
    parts = re.split(r"(\[[^\]]+\])", text)
    sentences: list[tuple[int | None, str]] = []
    for part in parts:
        if part.startswith("[") and part.endswith("]"):
            title = part[1:-1]
            section = _indicator_for_title(title, indicators)
            if section is None:
                review.add(where, f"小标题「{title}」对不上任何量化目标，其后的节点未指定目标")
            continue
        for sentence in re.split(r"[;；。]", part):
            if sentence.strip():
                sentences.append((section, sentence.strip()))
    for section, sentence in sentences:
        for segment in _segments(sentence):
            due, months = _due_of(segment, year)
            if due is None:
                if milestones:
                    milestones[-1]["text"] += "。" + segment
                else:
                    review.add(where, f"句子「{segment}」没有日期，未作为进度节点")
                continue
            targets, guessed = _targets(segment, indicators, section, several, due, deadline)
            if months and targets and all(t["kind"] == "monthly" for t in targets):
                for month in months:
                    milestones.append(
                        {"due": f"{year}-{month:02d}", "text": segment, "targets": targets}
                    )
                continue
            entry = {"due": due, "text": segment}
            if targets:
                entry["targets"] = targets
            elif section is not None:
                entry["indicator"] = section
            milestones.append(entry)
            if guessed:
                review.add(where, f"「{segment}」{guessed}，请核对")
            elif early := _early_full_amount(targets, indicators, due, deadline):
                review.add(
                    where,
                    f"「{segment}」的「{early}」已达年度目标，却早于完成时间：如指方案、清单等"
                    "准备工作，请改为定性节点（删去 targets），否则请核对",
                )
    return milestones


def _early_full_amount(targets, indicators, due: str, deadline: str) -> str:
    """An amount that already reaches the annual target months before the deadline
    (序号29 「3月底前完成100条公交线路方案」): more likely a plan than the work done."""
    if due[:7] >= deadline[:7]:
        return ""
    for t in targets:
        ref = t["indicator"]
        if t["kind"] != "absolute" or not isinstance(ref, int):
            continue
        goal = indicators[ref - 1].get("target_value")
        try:
            value = parse_quantity(t["value"], indicators[ref - 1]["unit"]).value
        except QuantityError:
            continue
        if goal and value >= goal:
            return t["value"]
    return ""


def _indicator_for_title(title: str, indicators: list[dict]) -> int | None:
    title = re.sub(r"\s+", "", title)
    for i, ind in enumerate(indicators, start=1):
        target = re.sub(r"\s+", "", str(ind["target"]))
        if ind["label"] in title or title in ind["label"] or (target and target in title):
            return i
    return None


def _targets(segment, indicators, section, several, due, deadline):
    """The numeric targets a milestone segment names, and why if it was a guess."""
    out: list[dict] = []
    guessed = ""
    numeric = [i for i, ind in enumerate(indicators, 1) if ind["kind"] != "qualitative"]
    if not numeric:
        return out, guessed
    every = section if section else ("all" if several and len(numeric) > 1 else numeric[0])
    units = [ind["unit"] for ind in indicators if ind["kind"] == "cumulative"]
    amount_re = _amount_re(units)
    used_spans = []
    pace = "平均每月" in segment
    monthly = "每月" in segment and DATE_RANGE_RE.search(segment) is not None
    if amount_re:
        for m in amount_re.finditer(segment):
            value = Decimal(m.group(1)) * (10000 if m.group(2) else 1)
            unit = m.group(3)
            context = segment[max(0, m.start() - 6) : m.end() + 12]
            ref = section or _indicator_for_amount(value, unit, indicators, context)
            before = segment[max(0, m.start() - 8) : m.start()]
            if pace:
                kind = "pace"
            elif monthly:
                kind = "monthly"
            elif any(w in before for w in STAGE_WORDS):
                kind = "stage"
            else:
                kind = "absolute"
            printed = f"{m.group(1)}{m.group(2) or ''}{unit}"
            entry = {"indicator": ref, "kind": kind, "value": printed}
            if printed != re.sub(r"\s+", "", m.group(0)):
                entry["published"] = re.sub(r"\s+", "", m.group(0))
            out.append(entry)
            used_spans.append(m.span())
    for m in PERCENT_RE.finditer(segment):
        before = segment[max(0, m.start() - 8) : m.start()]
        ref = section or every
        level = _is_level(ref, indicators)
        kind = (
            "level" if level else ("stage" if any(w in before for w in STAGE_WORDS) else "percent")
        )
        out.append({"indicator": ref, "kind": kind, "value": f"{m.group(1)}%"})
    if len({t["kind"] for t in out}) > 1:
        guessed = (
            "一句含多个不同类型的数值（"
            + "、".join(f"{t['value']}→{t['kind']}" for t in out)
            + "），请确认各自是完成量、阶段性数量还是比例"
        )
    if out:
        return out, guessed
    if "过半" in segment:
        return [
            {"indicator": section or every, "kind": "percent", "value": "50%"}
        ], "「过半」按 50% 理解"
    if "全部启动" in segment:
        out.append({"indicator": section or every, "kind": "stage", "value": "100%"})
    phrase = next((p for p in COMPLETION_PHRASES if p in segment), None)
    if phrase is None and due[:7] == deadline[:7] and any(w in segment for w in COMPLETION_WORDS):
        phrase = "截止月的完成表述"
    if phrase:
        ref = section or every
        kind = "level" if _is_level(ref, indicators) else "percent"
        out.append({"indicator": ref, "kind": kind, "value": "100%"})
        guessed = f"按完成 100% 理解（依据：{phrase}）"
    return out, guessed


def _shared_pairs(label: str, text: str) -> int:
    """How many two-character pieces of ``label`` occur in ``text`` (a crude word match
    that needs no dictionary)."""
    pairs = {label[i : i + 2] for i in range(len(label) - 1)}
    return sum(1 for p in pairs if p in text and not re.search(r"\d", p))


def _is_level(ref, indicators) -> bool:
    if ref == "all":
        return all(ind["kind"] == "level" for ind in indicators)
    return indicators[ref - 1]["kind"] == "level"


def _indicator_for_amount(value: Decimal, unit: str, indicators, context: str = "") -> int:
    """The target an amount in a milestone belongs to: among those with its unit, the one
    whose label the words around it name (「6条线路优化调整」 → 优化调整线路), else the one
    whose annual target it equals, else the first."""
    candidates = [i for i, ind in enumerate(indicators, 1) if ind["unit"] == unit]
    if len(candidates) > 1 and context:
        scores = {i: _shared_pairs(indicators[i - 1]["label"], context) for i in candidates}
        best = max(scores.values())
        if best > 1 and list(scores.values()).count(best) == 1:
            return next(i for i, v in scores.items() if v == best)
    for i in candidates:
        if indicators[i - 1].get("target_value") == value:
            return i
    return candidates[0] if candidates else 1


# --- the tables → a plan file ----------------------------------------------------


@dataclass
class Registry:
    """Known units (label → code, kind) and agency aliases, from DB and a reference."""

    units: dict = field(default_factory=dict)  # label -> {"code", "name", "kind"}
    aliases: dict = field(default_factory=dict)  # alias -> canonical name
    agencies: list = field(default_factory=list)

    @classmethod
    def build(
        cls, reference: dict | None = None, use_db: bool = True, issuer: str | None = None
    ) -> Registry:
        """With ``issuer``, only that issuer's units count as registered (a 彭山区 column of
        眉山's plan is never matched or compared with 杭州's 萧山区)."""
        reg = cls()
        if use_db:
            districts = District.objects.all()
            columns = PlanColumn.objects.select_related("district")
            if issuer:
                columns = columns.filter(plan__issuer=issuer)
                districts = districts.filter(
                    Q(plan_columns__plan__issuer=issuer)
                    | Q(merged_plan_columns__plan__issuer=issuer)
                ).distinct()
            for d in districts:
                reg.units[d.name] = {"code": d.code, "name": d.name, "kind": d.kind}
            for c in columns:
                d = c.district
                reg.units.setdefault(c.label, {"code": d.code, "name": d.name, "kind": d.kind})
            for a in Agency.objects.exclude(aliases=[]):
                reg.agencies.append({"name": a.name, "aliases": list(a.aliases)})
        if reference:
            for d in reference.get("districts") or []:
                entry = {"code": d["code"], "name": d["name"], "kind": d["kind"]}
                reg.units.setdefault(d["name"], entry)
                reg.units.setdefault(d.get("label") or d["name"], entry)
            for a in reference.get("agencies") or []:
                reg.agencies.append({k: a[k] for k in ("name", "full_name", "aliases") if k in a})
        for a in reg.agencies:
            for alias in a.get("aliases") or []:
                reg.aliases[alias] = a["name"]
        return reg

    def closest(self, label: str) -> list[str]:
        """Registered names closest to ``label`` (best first): one containing the other, or
        spelled alike (difflib), at most three."""
        names = list(self.units)
        contained = [n for n in names if label in n or n in label]
        alike = difflib.get_close_matches(label, names, n=3, cutoff=0.6)
        return list(dict.fromkeys([*contained, *alike]))[:3]

    def canonical(self, name: str) -> str:
        name = re.sub(r"\s+", "", name)
        return self.aliases.get(name, name)


KIND_SUFFIXES = (
    ("风景名胜区", "scenic_area"),
    ("开发区", "development_zone"),
    ("新区", "development_zone"),
    ("科技城", "development_zone"),
    ("园区", "development_zone"),
    ("示范区", "development_zone"),
    ("街道", "subdistrict"),
    ("镇", "township"),
    ("乡", "township"),
    ("区", "district"),
    ("县", "county"),
    ("市", "county_city"),
)


def guess_kind(label: str) -> str:
    """A unit kind from how its name ends: 「临空经济示范区」 开发区, 「北山街道」 街道 …"""
    if label.startswith("市本级") or label in ("市级", "市直"):
        return "city"
    return next((kind for suffix, kind in KIND_SUFFIXES if label.endswith(suffix)), "district")


def _deadline(text: str, year: int) -> str | None:
    m = DEADLINE_RE.search(text or "")
    if not m:
        return None
    return f"{year}-{int(m.group(1)):02d}"


def _unit_of(target: str, name: str, review, where, header_unit: str = ""):
    """(kind, unit, amount, direction) of a printed target: 「83%」 a level, 「—」
    qualitative, else an amount; 「低于4.3%」「控制在…以内」 are ceilings, 「1万例以上」 the
    amount 1万例 as a floor. A bare number takes the unit printed in the header."""
    text = str(target).strip()
    if is_empty(text):
        return "qualitative", "", text, "floor"
    amount, direction = read_bound(text)
    if direction == "floor" and _ceiling_in_name(name, amount):
        direction = "ceiling"
    amount = _with_unit(amount, header_unit)
    if direction == "ceiling":
        review.add(
            where,
            f"量化目标「{text}」按上限理解（direction: ceiling，不超过 {amount}），请核对",
        )
    if amount.endswith("%"):
        return "level", "%", amount, direction
    try:
        q = parse_quantity(amount)
    except QuantityError:
        review.add(where, f"量化目标「{text}」不是数量，按定性目标处理")
        return "qualitative", "", text, direction
    # 「20 条(城乡公交)」 names a sub-type: the unit is 条; 「500 套(间)」 keeps 套(间).
    unit = re.sub(r"\([^)]{2,}\)$", "", q.unit).strip()
    if not unit:
        number = re.escape(re.sub(r"\s*万\s*$", "", amount).strip())
        m = re.search(rf"{number}\s*万?\s*([^\d\s,，、%]{{1,2}})", re.sub(r"\s+", " ", name))
        unit = m.group(1) if m else ""
        review.add(where, f"量化目标「{text}」没有单位，按项目名称取「{unit or '（未知）'}」")
    return "cumulative", unit, amount, direction


def import_tables(
    tables: PublishedTables,
    *,
    year: int,
    registry: Registry,
    issuer: str | None = None,
    check_load: bool = False,
) -> ImportResult:
    """The plan file drafted from ``tables`` and its review list. ``check_load`` (the
    command; needs the database) also validates the draft as ``load_plan`` would and lists
    each refusal, so nothing blocks the load that the list does not name."""
    review = Review()
    meta = tables.metadata or {}
    columns = _columns(tables, registry, review, meta.get("plan", {}).get("districts"))

    # 附件1: projects in order; category number and name merged down.
    categories: list[str] = []
    responsibility = []
    previous = None
    for n, row in enumerate(tables.responsibility, start=1):
        _number, category, *rest = row.cells
        if not category:
            if previous:
                review.add(
                    f"责任清单第{n}个项目「{rest[0]}」",
                    f"类别为空，已按上一项目归入「{categories[previous - 1]}」，请核对",
                )
            else:
                review.add(
                    f"责任清单第{n}个项目「{rest[0]}」",
                    "类别为空，已暂归入第1类，请填写类别",
                )
        elif category not in categories:
            categories.append(category)
        number = categories.index(category) + 1 if category else (previous or 1)
        previous = number
        responsibility.append((number, rest))
    if not categories:
        categories = ["未分类"]
        review.add("责任清单", "没有任何类别，已暂填「未分类」，请按公报填写类别")

    # 附件2: rows grouped by 序号 (merged down, repeated or left blank on continuation rows),
    # with the 序号16 trap undone.
    groups: list[dict] = []
    for row in tables.breakdown:
        if groups and not row.seq:
            groups[-1]["rows"].append(row)
            review.add(
                f"序号{groups[-1]['seq']}",
                f"「{row.target or row.name}」一行序号为空，按该项目的续行读取，请核对",
            )
        elif groups and row.seq == groups[-1]["seq"]:
            groups[-1]["rows"].append(row)
        else:
            groups.append({"seq": row.seq, "rows": [row]})
    for prev, group in pairwise(groups):
        first = group["rows"][0]
        blank = not first.note and all(c == "" for c in first.cells)
        donor = prev["rows"][-1]
        if (
            blank
            and len(prev["rows"]) > 1
            and donor.target.replace(" ", "") == first.target.replace(" ", "")
        ):
            prev["rows"].pop()
            first.cells = donor.cells
            review.add(
                f"序号{group['seq']}",
                f"分解数印在序号{prev['seq']} 下（「{donor.target}」一行，本行空白），已归入序号"
                f"{group['seq']}，请核对",
            )

    if len(groups) != len(responsibility):
        review.add(
            "两表",
            f"责任清单有 {len(responsibility)} 个项目，任务分解表有 {len(groups)} 个，"
            "按顺序对应，请核对",
        )
    saved = {p.get("seq"): p for p in meta.get("projects", [])}
    projects = []
    for index, (group, (category, cells)) in enumerate(
        zip(groups, responsibility, strict=False), start=1
    ):
        seq = int(group["seq"]) if group["seq"].isdigit() else index
        project = _project(
            tables, group, category, cells, seq, year, registry, review, saved.get(seq)
        )
        projects.append(project)
    plan = {
        "format_version": 2,
        "plan_year": year,
        "issuer": issuer or meta.get("plan", {}).get("issuer") or guessed_issuer(tables),
        "title": re.sub(r"(责任清单|任务分解表)$", "", tables.responsibility_title).strip(),
        "agencies": registry.agencies,
        "districts": columns,
        "categories": categories,
        "projects": projects,
    }
    if not plan["issuer"]:
        del plan["issuer"]
    saved_plan = meta.get("plan", {})
    for field_name in PLAN_FIELDS:  # the exporter's copy of what the tables do not print
        if saved_plan.get(field_name) not in (None, "", []):
            plan[field_name] = saved_plan[field_name]
    if check_load:
        for problem in load_blockers(plan):
            review.add("载入时将被拒绝", problem)
    return ImportResult(plan, review.items)


def load_blockers(plan: dict) -> list[str]:
    """What ``load_plan`` would refuse in ``plan`` as written (validated, nothing written)."""
    try:
        spec = _build_spec(plan)  # copied there: keys are derived on the copy
    except PlanFileError as exc:
        return list(exc.problems)
    return unit_problems(spec) + column_order_problems(spec)


PLAN_FIELDS = (
    "format_version",
    "document_number",
    "source",
    "published_on",
    "notes",
    "acknowledged",
)


def _columns(tables, registry, review, saved) -> list[dict]:
    """The plan's ``districts`` from the header: registered units by name (or the exporter's
    saved column list when the header is unchanged); an unknown one gets a placeholder code
    and a review item naming the closest units of the same issuer."""
    if saved and [c.get("label") or c["name"] for c in saved] == tables.labels:
        return saved
    if not tables.labels:
        review.add(
            "任务分解表",
            "没有填报单位列（市本级或各区、县(市)）：各量化目标按全市整体（scope: city）"
            "读取，请核对是否漏了表头",
        )
    columns = []
    for i, label in enumerate(tables.labels, start=1):
        known = registry.units.get(label)
        if known is None:
            near = registry.closest(label)
            kind = guess_kind(label)
            hint = f"（相近的已登记单位：{'、'.join(near)}）" if near else ""
            review.add(
                f"第{i}列「{label}」",
                f"不是已登记的单位{hint}，已暂填代码 unit-{i}、类型 {kind}（按名称推测），"
                "请改为正式代码并核对类型",
            )
            column = {"code": f"unit-{i}", "name": label, "kind": kind}
            if not near:  # nothing alike among this issuer's units: a new unit, not a typo
                column["new_unit"] = True
            columns.append(column)
            continue
        entry = {"code": known["code"], "name": known["name"], "kind": known["kind"]}
        if known["name"] != label:
            entry["label"] = label
        columns.append(entry)
    return columns


def _project(tables, group, category, cells, seq, year, registry, review, saved) -> dict:
    name, city_leader, lead, leader, cooperating, deadline_text, work_plan = cells
    where = f"序号{seq}"
    key = (saved or {}).get("key") or f"P{seq}"
    project: dict = {"key": key, "seq": seq, "category": category, "name": name}
    breakdown_name = group["rows"][0].name
    if re.sub(r"\s+", "", breakdown_name) != re.sub(r"\s+", "", name):
        project["name_in_breakdown"] = breakdown_name
    project["city_leader"] = city_leader
    leads = [registry.canonical(n) for n in re.split(r"[、,，]", lead) if n.strip()]
    project["lead_agency"] = leads if len(leads) > 1 else (leads[0] if leads else "")
    lead2 = registry.canonical(group["rows"][0].lead)
    if lead2 and lead2 not in leads:
        project["lead_agency_in_breakdown"] = group["rows"][0].lead
        review.add(
            where,
            f"附件1 牵头单位「{lead}」与附件2「{group['rows'][0].lead}」写法不同；"
            "如为同一单位请在 agencies 中登记别名",
        )
    project["lead_agency_leader"] = leader
    project["cooperating"] = cooperating
    deadline = _deadline(deadline_text, year)
    if deadline is None and not (saved and saved.get("deadline_assumed")):
        review.add(where, f"没有预计完成时间（「{deadline_text}」），按 {year} 年底载入")
    project["deadline"] = deadline
    project["deadline_text"] = deadline_text
    project["work_plan"] = work_plan
    if saved and saved.get("notes"):
        project["notes"] = saved["notes"]
    saved_indicators = (saved or {}).get("indicators") or []
    indicators = []
    for n, r in enumerate(group["rows"], start=1):
        ind = _indicator(tables, r, n, group, name, key, review, where)
        if n <= len(saved_indicators):
            ind |= {k: v for k, v in saved_indicators[n - 1].items() if k in SAVED_INDICATOR_KEYS}
            if ind.get("scope") == "city":
                ind.pop("quotas", None)
        indicators.append(ind)
    if saved and saved.get("work_plan") == work_plan and "milestones" in saved:
        project["milestones"] = saved["milestones"]  # the reviewed milestones, unchanged text
    else:
        if saved and "milestones" in saved:
            review.add(
                where,
                "工作计划和进度安排与导出时不同，进度节点已按新文字重新解析（原审核结果未沿用），"
                "请核对",
            )
        project["milestones"] = parse_work_plan(
            work_plan, indicators, deadline, year, where, review
        )
        for m, milestone in enumerate(project["milestones"], start=1):
            milestone["key"] = f"{key}-M{m}"
    project["indicators"] = [
        {k: v for k, v in ind.items() if k != "target_value"} for ind in indicators
    ]
    return project


#: What the exporter's hidden sheet restores on an indicator the tables cannot say.
SAVED_INDICATOR_KEYS = ("key", "label", "unit", "kind", "scope", "direction", "deadline")


def _indicator(tables, r, n, group, name, key, review, where) -> dict:
    kind, unit, target, direction = _unit_of(r.target, name, review, where, tables.target_unit)
    label = _label(target, name, r.name, len(group["rows"]))
    ind: dict = {"key": f"{key}-T{n}", "label": label, "unit": unit, "kind": kind,
                 "scope": "districts", "target": target or "—"}  # fmt: skip
    if direction == "ceiling":
        ind["direction"] = "ceiling"
    if r.note:
        ind["scope"] = "city"
        ind["breakdown_note"] = r.note
    elif kind == "qualitative" or not tables.labels:
        ind["scope"] = "city"
    else:
        units = tables.column_units or [""] * len(r.cells)
        ind["quotas"] = [
            _with_unit(c, col_unit or tables.target_unit) or "—"
            for c, col_unit in zip(r.cells, units, strict=False)
        ]
        for label, cell in zip(tables.labels, ind["quotas"], strict=False):
            if is_empty(cell):
                continue
            try:
                parse_quantity(cell, unit)
            except QuantityError as exc:
                review.add(where, f"{label}「{cell}」：{exc}")
    if r is not group["rows"][0] and r.name and r.name != group["rows"][0].name:
        ind["breakdown_name"] = r.name
    try:
        ind_value = parse_quantity(target, unit).value if kind != "qualitative" else None
    except QuantityError:
        ind_value = None
    if r.total and not is_empty(r.total):
        _check_total(r, ind, unit, ind_value, tables.total_label, review, where)
    return ind | {"target_value": ind_value}


def _check_total(r, ind, unit, ind_value, label, review, where):
    """A printed 合计/全市 cell: the target when none is printed, else it must agree."""
    try:
        total = parse_quantity(_with_unit(r.total, unit), unit).value
    except QuantityError:
        review.add(where, f"{label}「{r.total}」不是数量，未核对")
        return
    if ind_value is None and ind["kind"] == "qualitative":
        return
    if ind_value is not None and total != ind_value:
        review.add(
            where,
            f"{label}「{r.total}」与量化目标「{ind['target']}」不一致，请核对以哪个为准",
        )


def _with_unit(cell: str, unit: str) -> str:
    """A bare number under a header that prints the unit (「上城区(人)」): 「12」 → 「12人」."""
    cell = str(cell or "").strip()
    if unit and BARE_NUMBER_RE.fullmatch(cell):
        return cell + unit
    return cell


BARE_NUMBER_RE = re.compile(rf"{NUM}(?:\s*\(\s*{NUM}\s*\))?\s*万?")
CEILING_PREFIXES = ("低于", "不高于", "不超过", "小于", "控制在", "降至", "降低到")
FLOOR_PREFIXES = ("不少于", "不低于", "至少", "超过", "达到", "力争")
BOUND_RE = re.compile(
    rf"^(?P<before>{'|'.join(CEILING_PREFIXES + FLOOR_PREFIXES)})?\s*(?P<body>.*?)\s*"
    r"(?P<after>以内|以下|以上)?$"
)


def read_bound(text: str) -> tuple[str, str]:
    """「低于4.3%」 → (「4.3%」, ceiling); 「1万例以上」 → (「1万例」, floor): the amount and
    whether it is a ceiling (低于、不高于、控制在…以内、以下) or a floor (the default)."""
    m = BOUND_RE.match(str(text or "").strip())
    if not m or not m.group("body"):
        return str(text or "").strip(), "floor"
    ceiling = m.group("before") in CEILING_PREFIXES or m.group("after") in ("以内", "以下")
    return m.group("body"), "ceiling" if ceiling else "floor"


def _ceiling_in_name(name: str, target: str) -> bool:
    """「城镇登记失业率低于4.3%」 with the target printed as 「4.3%」."""
    number = re.match(rf"\s*({NUM})", target or "")
    if not number:
        return False
    n = re.escape(number.group(1))
    text = re.sub(r"\s+", "", name or "")
    return bool(
        re.search(rf"(?:{'|'.join(CEILING_PREFIXES)}){n}", text)
        or re.search(rf"{n}[^，,、;；。]{{0,4}}?(?:以内|以下)", text)
    )


def _label(target: str, name: str, row_name: str, rows: int) -> str:
    """A short label: the part of the project name that carries this target's number."""
    source = row_name or name
    number = re.match(r"\s*(\d+(?:\.\d+)?)", str(target) or "")
    parts = [p for p in re.split(r"[,，、]", source) if p.strip()]
    if number and rows > 1:
        for p in parts:
            if number.group(1) in p.replace(" ", "") or _wan(number.group(1)) in p.replace(" ", ""):
                return _strip_number(p)
    return _strip_number(parts[0] if parts else source)


def _wan(number: str) -> str:
    value = Decimal(number) / 10000
    return f"{plain(value)}万"


def _strip_number(text: str) -> str:
    """「新增养老床位300张」 → 新增养老床位; 「城镇登记失业率低于4.3%」 → 城镇登记失业率 (the
    bound word goes with the number: it is the target's direction, not its name)."""
    out = re.sub(r"\s*\d+(?:\.\d+)?\s*万?\s*[^\s\d,，、“”\"]{0,3}$", "", text.strip())
    out = re.sub(rf"(?:{'|'.join(CEILING_PREFIXES + FLOOR_PREFIXES)})$", "", out.strip())
    return re.sub(r"\s+", "", out) or re.sub(r"\s+", "", text)


ISSUER_RE = re.compile(r"^((?:[\u4e00-\u9fff]{2,7}?(?:省|市|区|县|自治州|盟))+)")


def guessed_issuer(tables: PublishedTables) -> str | None:
    """「2024年杭州市民生实事项目责任清单」 → 杭州市人民政府; None when the title names no
    place (the command then asks for ``--issuer``)."""
    title = re.sub(r"20\d\d\s*年(度)?", "", tables.responsibility_title or tables.breakdown_title)
    m = ISSUER_RE.match(re.sub(r"\s+", "", title))
    return f"{m.group(1)}人民政府" if m else None


def guessed_year(tables: PublishedTables) -> int | None:
    m = re.search(r"(20\d\d)\s*年", tables.responsibility_title + tables.breakdown_title)
    return int(m.group(1)) if m else None


def today_year() -> int:
    return date.today().year


__all__ = ["ImportResult", "Registry", "guessed_issuer", "guessed_year", "import_tables"]
