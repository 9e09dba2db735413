"""Load a plan from its reviewed YAML file (``fixtures/plan_<year>.yaml``).

A plan is identified by its issuer and year (``issuer`` defaults to 杭州市人民政府),
and owns its columns: the file's ``districts`` list is *this plan's* header, in
its order. Loading it never renames, re-kinds or re-orders a unit another plan
uses: units keep their identity through ``code``; a plan printing another label
says so with ``label``; a name that only approximately matches a registered unit
is refused (a typo such as 拱墅县 for 拱墅区) unless ``new_unit: true`` says it is
a new unit. Reloading a plan whose columns come in another order is refused
unless ``reorder=True`` (a header check against swapped columns).

The file is validated against ``tracker/plans/plan.schema.json`` first:
unknown keys (a misspelled ``cooperatng``), missing fields and wrong types are
refused with a Chinese message naming the project and the field.

The fixture keeps the published text beside the structured numbers (quota cells
exactly as printed, milestone sentences verbatim) so it can be read against the
gazette; this module turns it into rows.

- Everything is validated before anything is written; a bad file raises
  ``PlanFileError`` listing every problem in Chinese and changes nothing.
- Projects, targets and milestones are matched by their ``key`` (P25, P25-T1,
  P25-M1), never by position; quotas by (target key, unit code); units by code,
  agencies by name, categories by order. Loading the same file twice writes
  nothing, not even history rows; an edited file updates in place. A file without
  keys loads only into an empty plan (keys derived from positions, ``derive_keys``)
  or when it reads exactly as the stored plan.
- Before writing, ``change_set`` builds the preview (``PlanChangeSet``) with the stored
  data each change touches (``tracker.plans.dependents``). A change that would delete
  or reinterpret stored data is refused unless confirmed with a reason. Progress
  reports are never deleted: a target with reports cannot be dropped.
- Writes go through simple_history's bulk helpers so every change keeps who, when
  and why; afterwards ``plan_changed`` is sent inside the transaction.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

import jsonschema_rs
import yaml
from django.db import transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from tracker.formats import plain
from tracker.memory import cyclic_gc_paused
from tracker.months import month_end
from tracker.plans import dependents
from tracker.plans.changes import ADD, CHANGE, REMOVE, Change, PlanChangeSet
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.quantities import QuantityError, is_empty, parse_quantity
from tracker.plans.reference import DEFAULT_ISSUER, Agency, Category, District, PlanColumn, PlanYear
from tracker.plans.signals import plan_changed

# Cooperating-unit phrases that name district governments rather than an agency.
DISTRICT_GOVERNMENT_RE = re.compile(
    r"(各区、县\(市\)政府|相关区、县\(市\)政府|相关区\(市\)政府|各区政府\(管委会\)|各区政府|相关区政府)"
)
LOCAL_PLACE_SUFFIXES = ("街道", "镇", "乡", "社区", "村", "街道办事处")
MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")
SCHEMA_PATH = Path(__file__).resolve().parent / "plan.schema.json"
CURRENT_FORMAT_VERSION = 2


class PlanFileError(Exception):
    """The plan file cannot be loaded; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("计划文件有误，未载入任何数据：\n" + "\n".join(self.problems))


class PlanChangeRefused(PlanFileError):
    """The load would delete or reinterpret stored data and was not confirmed."""

    def __init__(self, changes: PlanChangeSet, problems=None):
        self.changes = changes
        super().__init__(
            problems
            or [
                f"以下 {len(changes.risky)} 项变更会删除或改变已存数据的含义，未确认，"
                "未写入任何数据。请核对预览（load_plan … --dry-run）；确需变更，请用 "
                'load_plan … --confirm --reason "原因" 载入，原因记入修改历史：',
                *(f"  {c.line()}" for c in changes.risky),
            ]
        )


@dataclass
class LoadSummary:
    plan_year: PlanYear | None = None
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)
    warnings: list = field(default_factory=list)
    changes: PlanChangeSet | None = None  # the preview the load was checked against

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


#: libyaml's safe loader when PyYAML has it (the pure-Python one is ten times slower: most
#: of a reload of the 2024 plan), else the pure-Python one; both read the same documents
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_plan_file(path) -> dict:
    path = Path(path)
    if not path.exists():
        raise PlanFileError([f"找不到计划文件：{path}。请检查路径。"])
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = ""
        try:
            raw.decode("gb18030")
            hint = "（看起来是 GBK/GB18030 编码）"
        except UnicodeDecodeError:
            pass
        raise PlanFileError(
            [
                f"计划文件 {path.name} 不是 UTF-8 编码{hint}，第 {exc.start + 1} 个字节无法读取。"
                "请在编辑器中以「UTF-8」另存后再载入。"
            ]
        ) from exc
    try:
        data = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark else ""
        raise PlanFileError(
            [
                f"计划文件 {path.name} {where}不是有效的 YAML（{getattr(exc, 'problem', '')}）。"
                "请检查缩进、冒号和引号：含逗号或冒号的文字请加引号。"
            ]
        ) from exc
    if not isinstance(data, dict):
        raise PlanFileError(["计划文件的顶层应为映射（plan_year、projects 等字段）"])
    return data


# --- the JSON Schema, with errors in Chinese -----------------------------------

FIELD_LABELS = {
    "format_version": "格式版本",
    "plan_year": "年度",
    "issuer": "发布机关",
    "title": "名称",
    "districts": "列（填报单位）",
    "categories": "类别",
    "projects": "项目",
    "seq": "序号",
    "category": "类别",
    "name": "名称",
    "code": "代码",
    "kind": "类型",
    "label": "表头",
    "merged": "合并列",
    "city_leader": "分管市领导",
    "lead_agency": "牵头单位",
    "lead_agency_leader": "牵头单位分管领导",
    "cooperating": "配合单位",
    "deadline": "预计完成时间",
    "work_plan": "工作计划和进度安排",
    "indicators": "量化目标",
    "milestones": "进度节点",
    "target": "年度目标",
    "quotas": "分解任务",
    "unit": "单位",
    "scope": "分解方式",
    "due": "节点日期",
    "text": "原文",
    "targets": "节点数值",
    "value": "数值",
    "indicator": "量化目标序次",
    "key": "标识",
    "direction": "方向",
}


@cache
def plan_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def plan_validator():
    """The schema compiled once per process (jsonschema-rs: the 2024 file validates in
    under a millisecond, where the pure-Python jsonschema took a fifth of a reload)."""
    return jsonschema_rs.Draft202012Validator(plan_schema())


#: jsonschema-rs's error kinds whose schema keyword is not their name in lower camel case
KEYWORDS = {"Constant": "const", "OneOfNotValid": "oneOf", "OneOfMultipleValid": "oneOf"}


def _keyword(kind) -> str:
    """The schema keyword an error broke (``AdditionalProperties`` → additionalProperties)."""
    name = type(kind).__name__
    return KEYWORDS.get(name) or name[:1].lower() + name[1:]


def _plain_data(value):
    """YAML turns unquoted 2024-05-18 into a date; the schema speaks JSON."""
    if isinstance(value, dict):
        return {str(k) if k is not None else "null": _plain_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_data(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _schema_at(path) -> dict:
    """The part of the plan schema at ``path`` (a validation error's ``schema_path``)."""
    node = plan_schema()
    for step in path:
        node = node[step]
    return node


def _where(data: dict, path) -> str:
    """「序号3 第1个量化目标」 for a path inside the file."""
    parts = []
    path = list(path)
    node = data
    i = 0
    while i < len(path):
        key = path[i]
        if key == "projects" and i + 1 < len(path) and isinstance(path[i + 1], int):
            project = node["projects"][path[i + 1]]
            seq = project.get("seq") if isinstance(project, dict) else None
            parts.append(f"序号{seq}" if seq is not None else f"第{path[i + 1] + 1}个项目")
            node = project
            i += 2
            continue
        if key == "districts" and i + 1 < len(path) and isinstance(path[i + 1], int):
            parts.append(f"第{path[i + 1] + 1}列")
            node = node["districts"][path[i + 1]]
            i += 2
            continue
        if key in ("indicators", "milestones", "targets") and i + 1 < len(path):
            label = {"indicators": "量化目标", "milestones": "进度节点", "targets": "节点数值"}[key]
            parts.append(f"第{path[i + 1] + 1}个{label}")
            node = node[key][path[i + 1]]
            i += 2
            continue
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
        i += 1
    return " ".join(parts) or "文件顶层"


def _field_path(path) -> str:
    keys = [k for k in path if isinstance(k, str)]
    if not keys:
        return ""
    key = keys[-1]
    return f"字段「{key}」（{FIELD_LABELS[key]}）" if key in FIELD_LABELS else f"字段「{key}」"


def schema_problems(data) -> list[str]:
    """Every way ``data`` breaks the plan-file schema, as Chinese sentences."""
    plain = _plain_data(data)
    try:
        errors = list(plan_validator().iter_errors(plain))
    except ValueError:  # a YAML value JSON has no type for (!!binary, !!set)
        return ["计划文件含有无法识别的取值（如二进制或集合）。请只用文字、数字、日期和列表。"]
    problems = []
    for error in sorted(errors, key=lambda e: list(map(str, e.instance_path))):
        where = _where(plain, error.instance_path)
        field_name = _field_path(error.instance_path)
        detail = error.kind.as_dict()
        kind = _keyword(error.kind)
        if kind == "additionalProperties":
            parent = _schema_at(error.schema_path[:-1])
            allowed = sorted(parent.get("properties", {}))
            for key in detail["unexpected"]:
                close = difflib.get_close_matches(key, allowed, n=1)
                tip = f"是否想写「{close[0]}」？" if close else ""
                problems.append(
                    f"{where}：未知字段「{key}」。{tip}请改为以下字段之一："
                    f"{'、'.join(allowed)}；计划文件不接受其他字段（含逗号的文字请加引号）。"
                )
        elif kind == "required":
            key = detail["property"]
            label = FIELD_LABELS.get(key, key)
            problems.append(f"{where}：缺少必填字段「{key}」（{label}）。请补上后再载入。")
        elif kind in ("enum", "const"):
            options = detail["options"] if kind == "enum" else [detail["expected_value"]]
            problems.append(
                f"{where} {field_name}：取值「{error.instance}」无效。"
                f"请改为 {'、'.join(map(str, options))} 之一。"
            )
        elif kind == "pattern":
            hint = (
                "YYYY-MM 或 YYYY-MM-DD"
                if "\\d{4}" in detail["pattern"]
                else ("小写字母、数字和连字符")
            )
            problems.append(f"{where} {field_name}：「{error.instance}」格式不对，请写成 {hint}。")
        elif kind in ("type", "oneOf"):
            problems.append(
                f"{where} {field_name}：「{error.instance}」的类型不对。"
                "请按 README「计划文件格式」填写（文字、数字或列表）。"
            )
        elif kind in ("minItems", "minLength"):
            problems.append(f"{where} {field_name}：不能为空。请填写内容。")
        else:
            problems.append(
                f"{where} {field_name}：不符合计划文件格式（{kind}）。"
                "请对照 README「计划文件格式」修改。"
            )
    return problems


def normalize_person(text) -> str:
    """「方 毅」→「方毅」 (a typesetting gap); 「漆宪忠 邓伟民」→「漆宪忠、邓伟民」 (two people).

    A list of people is joined with 「、」.
    """
    if isinstance(text, list):
        return "、".join(normalize_person(t) for t in text)
    parts = str(text or "").split()
    if len(parts) > 1 and all(len(p) == 1 for p in parts):
        return "".join(parts)
    return "、".join(parts)


def split_cooperating(text: str) -> list[str]:
    """Named agencies in a 配合单位 cell; district-government phrases are left out."""
    body = DISTRICT_GOVERNMENT_RE.sub("、", str(text or ""))
    names = [re.sub(r"\s+", "", n) for n in re.split(r"[、,，;；]", body)]
    # 「各街道、镇」「北山街道」 are the places doing the work, not agencies to register.
    return [n for n in names if n and not n.endswith(LOCAL_PLACE_SUFFIXES)]


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
    if not 1 <= m <= 12:
        raise ValueError(f"日期「{value}」的月份应在 1—12 之间")
    try:
        return date(y, m, int(d)) if d else month_end(date(y, m, 1))
    except ValueError:
        raise ValueError(f"日期「{value}」不存在（{m}月没有{d}日）") from None


@dataclass
class _Spec:
    """The validated, normalised content of one plan file."""

    year: int
    issuer: str
    plan_fields: dict
    columns: list[dict]  # {code, name, kind, label, new_unit, merged: [unit, ...]}
    agencies: dict  # canonical name -> {"aliases": [...], "full_name": ...}
    categories: list[str]
    projects: list[dict]
    warnings: list[str] = field(default_factory=list)
    keyed: bool = True  # the file carried every key (else derived from positions)
    derived_keys: list[str] = field(default_factory=list)

    def units(self):
        """Every unit the file names: column units first, then merged ones."""
        for column in self.columns:
            yield column
            yield from column["merged"]


def _columns_spec(raw_columns, problems) -> list[dict]:
    columns, seen_codes, seen_labels = [], {}, {}
    for i, d in enumerate(raw_columns, start=1):
        merged = [
            {"code": u["code"], "name": u["name"].strip(), "kind": u["kind"],
             "new_unit": bool(u.get("new_unit")), "label": u["name"].strip()}
            for u in d.get("merged") or []
        ]  # fmt: skip
        column = {
            "code": d["code"],
            "name": d["name"].strip(),
            "kind": d["kind"],
            "label": str(d.get("label") or d["name"]).strip(),
            "new_unit": bool(d.get("new_unit")),
            "merged": merged,
        }
        for unit in (column, *merged):
            if unit["code"] in seen_codes:
                problems.append(
                    f"第{i}列「{column['label']}」：代码 {unit['code']} 与"
                    f"第{seen_codes[unit['code']]}列重复。每个填报单位在一个计划中只能出现一次，请删除重复的列。"
                )
            seen_codes[unit["code"]] = i
        if column["label"] in seen_labels:
            problems.append(
                f"第{i}列「{column['label']}」：表头与第{seen_labels[column['label']]}列重复。"
                "请核对表头。"
            )
        seen_labels[column["label"]] = i
        columns.append(column)
    return columns


def _build_spec(data: dict, *, owned: bool = False) -> _Spec:
    """The load's view of ``data``; keys are derived in place, so a caller's dict is
    copied first (``owned``: just read from the file, nobody else holds it)."""
    problems = schema_problems(data)
    if problems:
        raise PlanFileError(problems)
    if not owned:
        data = copy.deepcopy(data)
    derived = derive_keys(data)
    problems.extend(duplicate_key_problems(data))
    year = data["plan_year"]
    issuer = str(data.get("issuer") or DEFAULT_ISSUER).strip()
    columns = _columns_spec(data["districts"], problems)
    labels = [c["label"] for c in columns]
    codes = [c["code"] for c in columns]
    warnings: list[str] = []

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
            problems.append(f"{where}：序号重复。每个项目的序号应唯一，请改正。")
        seen_seq.add(seq)
        if not 1 <= p["category"] <= len(categories):
            problems.append(
                f"{where} 字段「category」（类别）：{p['category']} 不在 categories 列表中"
                f"（共 {len(categories)} 个类别）。请填写类别的序次。"
            )
        if p.get("deadline") in (None, ""):
            deadline = date(year, 12, 31)
            deadline_assumed = True
            warnings.append(f"{where}：原文未写预计完成时间，按 {year} 年底载入，请核对。")
        else:
            deadline_assumed = False
            try:
                deadline = parse_due(p.get("deadline"), year)
            except ValueError as exc:
                problems.append(f"{where} 字段「deadline」（预计完成时间）：{exc}。请改正。")
                deadline = None
        leads = p["lead_agency"] if isinstance(p["lead_agency"], list) else [p["lead_agency"]]
        lead_names = []
        for raw in leads:
            name = agency_name(raw)
            if name not in lead_names:
                lead_names.append(name)
        if p.get("lead_agency_in_breakdown"):
            lead2 = agency_name(p["lead_agency_in_breakdown"])
            if lead2 not in lead_names:
                problems.append(
                    f"{where} 字段「lead_agency」（牵头单位）：附件1「{lead_names[0]}」与附件2"
                    f"「{lead2}」不是同一单位。如为同一单位的不同写法，请在 agencies 中登记别名。"
                )
        indicators = []
        for order, ind in enumerate(p.get("indicators") or [], start=1):
            indicators.append(_indicator_spec(ind, order, where, labels, codes, year, problems))
        milestones = _milestone_specs(p, indicators, year, where, problems)
        projects.append(
            {
                "seq": seq,
                "key": p["key"],
                "category": p.get("category"),
                "name": str(p.get("name", "")).strip(),
                "name_in_breakdown": str(p.get("name_in_breakdown", "") or "").strip(),
                "city_leader": normalize_person(p.get("city_leader", "")),
                "lead_agency": lead_names[0],
                "co_lead_agencies": lead_names[1:],
                "lead_agency_leader": normalize_person(p.get("lead_agency_leader", "")),
                "cooperating_text": str(p.get("cooperating", "") or "").strip(),
                "cooperating": [agency_name(n) for n in split_cooperating(p.get("cooperating"))],
                "deadline": deadline,
                "deadline_assumed": deadline_assumed,
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
        "format_version": data.get("format_version", 1),
    }
    if isinstance(plan_fields["published_on"], str):
        plan_fields["published_on"] = date.fromisoformat(plan_fields["published_on"])
    return _Spec(
        year, issuer, plan_fields, columns, agencies, categories, projects, warnings,
        keyed=not derived, derived_keys=derived,
    )  # fmt: skip


KEY_PREFIX = {"indicators": "T", "milestones": "M"}
KEY_LABEL = {"indicators": "量化目标", "milestones": "进度节点"}


def _free_key(base: str, used: set[str], letter: str | None = None) -> str:
    """``base`` if unused; otherwise the next number after the highest used (P25-T3)."""
    if base not in used:
        return base
    if letter is None:  # a project: P25 → P25a, P25b …
        for suffix in "abcdefghijklmnopqrstuvwxyz":
            if base + suffix not in used:
                return base + suffix
        raise PlanFileError([f"无法为「{base}」推导 key，请手工填写。"])
    prefix = base.rsplit(letter, 1)[0] + letter
    numbers = [
        int(k[len(prefix) :]) for k in used if k.startswith(prefix) and k[len(prefix) :].isdigit()
    ]
    return f"{prefix}{max(numbers, default=0) + 1}"


def derive_keys(data: dict) -> list[str]:
    """Fill in every missing key of a parsed plan file, in place; say which.

    Deterministic and positional, as the migration derived the stored ones: a project is
    「P」+ its 序号, its targets and milestone sentences 「P25-T1」「P25-M1」 by their order
    in the file. A position already taken by a key written in the file gets the next free
    number instead, so a new row never takes an existing row's identity.
    """
    derived = []
    projects = [p for p in data.get("projects") or [] if isinstance(p, dict)]
    used_projects = {p["key"] for p in projects if p.get("key")}
    for p in projects:
        if not p.get("key"):
            p["key"] = _free_key(f"P{p.get('seq')}", used_projects)
            used_projects.add(p["key"])
            derived.append(f"序号{p.get('seq')} → {p['key']}")
        for name, letter in KEY_PREFIX.items():
            items = [x for x in p.get(name) or [] if isinstance(x, dict)]
            used = {x["key"] for x in items if x.get("key")}
            for i, item in enumerate(items, start=1):
                if item.get("key"):
                    continue
                item["key"] = _free_key(f"{p['key']}-{letter}{i}", used, letter)
                used.add(item["key"])
                derived.append(f"序号{p.get('seq')} 第{i}个{KEY_LABEL[name]} → {item['key']}")
    return derived


def write_keys(path) -> list[str]:
    """Write the derived keys into the plan file itself, keeping its layout and comments.

    Each key goes in as the first entry of its mapping (「- key: P25」 before 「seq: 25」,
    「{key: P25-M1, due: …}」 in a flow mapping), found through the YAML node positions, so
    the rest of the text stays byte for byte. Returns what was derived (empty: nothing to do).
    """
    path = Path(path)
    data = read_plan_file(path)
    problems = schema_problems(data)
    if problems:
        raise PlanFileError(problems)
    keyed = copy.deepcopy(data)
    derived = derive_keys(keyed)
    if not derived:
        return []
    text = path.read_bytes().decode("utf-8-sig")
    root = yaml.compose(text)
    inserts = []  # (offset, text)

    def mapping_items(node):
        return {k.value: v for k, v in node.value}

    def key_insert(node, key):
        mark = node.start_mark
        if node.flow_style:
            inserts.append((mark.index + 1, f"key: {key}, "))
        else:
            inserts.append((mark.index, f"key: {key}\n" + " " * mark.column))

    projects = mapping_items(root).get("projects")
    for p_node, p in zip(projects.value, keyed["projects"], strict=True):
        items = mapping_items(p_node)
        if "key" not in items:
            key_insert(p_node, p["key"])
        for name in KEY_PREFIX:
            seq_node = items.get(name)
            if seq_node is None:
                continue
            for node, item in zip(seq_node.value, p[name], strict=True):
                if "key" not in mapping_items(node):
                    key_insert(node, item["key"])
    for offset, insert in sorted(inserts, reverse=True):
        text = text[:offset] + insert + text[offset:]
    if yaml.load(text, Loader=SAFE_LOADER) != keyed:  # never write a file that reads differently
        raise PlanFileError([f"无法把 key 写入 {path.name}（格式特殊），请手工填写。"])
    path.write_text(text, encoding="utf-8")
    return derived


def duplicate_key_problems(data: dict) -> list[str]:
    """Keys are unique within the plan, for each kind of row."""
    problems = []
    seen: dict[tuple[str, str], str] = {}
    for p in data.get("projects") or []:
        rows = [("项目", p.get("key"), f"序号{p.get('seq')}")]
        for name in KEY_PREFIX:
            rows += [
                (KEY_LABEL[name], x.get("key"), f"序号{p.get('seq')} 第{i}个{KEY_LABEL[name]}")
                for i, x in enumerate(p.get(name) or [], start=1)
            ]
        for what, key, where in rows:
            if (what, key) in seen:
                problems.append(
                    f"{where} 字段「key」（标识）：「{key}」与{seen[(what, key)]}重复。"
                    "key 在一个计划内必须唯一；新增的行请删去 key（载入时自动编号）或另起一个。"
                )
            seen.setdefault((what, key), where)
    return problems


def _indicator_spec(ind, order, where, labels, codes, year, problems) -> dict:
    where = f"{where} 第{order}个量化目标「{ind.get('label')}」"
    unit = str(ind.get("unit", "") or "")
    kind = ind.get("kind")
    scope = ind.get("scope", Indicator.Scope.DISTRICTS)
    deadline = None
    if ind.get("deadline"):
        try:
            deadline = parse_due(ind["deadline"], year)
        except ValueError as exc:
            problems.append(f"{where} 字段「deadline」（本目标完成时间）：{exc}。请改正。")
    target_text = str(ind.get("target", "") or "").strip()
    target = None
    if kind != Indicator.Kind.QUALITATIVE:
        try:
            target = parse_quantity(target_text, unit).value
        except QuantityError as exc:
            problems.append(f"{where} 字段「target」（年度目标）：{exc}")
    quotas = {}
    cells = ind.get("quotas")
    if scope == Indicator.Scope.DISTRICTS and kind != Indicator.Kind.QUALITATIVE:
        if not isinstance(cells, list) or len(cells) != len(labels):
            problems.append(
                f"{where} 字段「quotas」（分解任务）：应按列序列出 {len(labels)} 个单元格"
                f"（{'、'.join(map(str, labels))}），实际 "
                f"{len(cells) if isinstance(cells, list) else 0} 个。"
                "请补齐或删去多余的单元格（空白写「—」），并核对列表 districts 与各行是否一致。"
            )
            cells = []
        for label, code, cell in zip(labels, codes, cells, strict=False):
            if is_empty(cell):
                continue
            try:
                quantity = parse_quantity(cell, unit)
            except QuantityError as exc:
                problems.append(f"{where} 字段「quotas」（分解任务）{label}：{exc}")
                continue
            quotas[code] = {
                "value": quantity.value,
                "new_value": quantity.first,
                "upgrade_value": quantity.second,
                "published_text": str(cell).strip(),
            }
    elif cells and not all(is_empty(c) for c in cells):
        problems.append(
            f"{where} 字段「quotas」（分解任务）：全市整体完成或定性的目标不应有分解任务。"
            "请删去 quotas，或把 scope 改为 districts。"
        )
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
        "key": ind["key"],
        "direction": ind.get("direction", Indicator.Direction.FLOOR),
        "label": str(ind.get("label", "")).strip(),
        "unit": unit,
        "kind": kind,
        "scope": scope,
        "target_value": target,
        "target_text": target_text,
        "breakdown_note": note,
        "deadline": deadline,
        "quotas": quotas,
    }


def _milestone_specs(p, indicators, year, where, problems) -> list[dict]:
    """One row per (sentence, target); qualitative sentences give one row each."""
    rows = []
    by_order = {ind["order"]: ind for ind in indicators}
    by_key = {ind["key"]: ind["order"] for ind in indicators}

    def order_of(ref):
        """A target named by its order (1) or, surviving a reorder, by its key (P25-T1)."""
        return by_key.get(ref, ref) if isinstance(ref, str) and ref != "all" else ref

    for index, m in enumerate(p.get("milestones") or []):
        try:
            due = parse_due(m.get("due"), year)
        except ValueError as exc:
            problems.append(
                f"{where} 第{index + 1}个进度节点 字段「due」（节点日期）：{exc}。请改正。"
            )
            continue
        text = str(m.get("text", "")).strip()
        if not text:
            problems.append(f"{where} 进度节点{index + 1}：缺少原文 text")
        targets = m.get("targets") or []
        if not targets:
            ind = order_of(m.get("indicator"))
            if ind is not None and ind not in by_order:
                problems.append(
                    f"{where} 进度节点「{text}」字段「indicator」："
                    f"没有第{ind}个量化目标。请改正序次。"
                )
            rows.append(
                {
                    "order": index * 100,
                    "key": m["key"],
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
            refs = list(by_order) if t.get("indicator") == "all" else [order_of(t.get("indicator"))]
            kind = t.get("kind")
            if kind not in Milestone.Kind.values or kind == Milestone.Kind.QUALITATIVE:
                problems.append(f"{where} 进度节点「{text}」：数值类型「{kind}」无效")
                continue
            for ref in refs:
                ind = by_order.get(ref)
                if ind is None:
                    problems.append(
                        f"{where} 进度节点「{text}」字段「targets」："
                        f"没有第{ref}个量化目标。请改正序次。"
                    )
                    continue
                value_text = str(t.get("value", "")).strip()
                try:
                    value = _milestone_value(value_text, kind, ind["unit"])
                except QuantityError as exc:
                    problems.append(f"{where} 进度节点「{text}」字段「value」（数值）：{exc}")
                    continue
                rows.append(
                    {
                        "order": index * 100 + k,
                        "key": m["key"] if k == 0 else f"{m['key']}.{k + 1}",
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


def load_plan(
    source, *, user=None, reorder=False, confirm=False, reason="", dry_run=False
) -> LoadSummary:
    """Load (or update in place) the plan in ``source`` (a path or a parsed dict).

    Rows are matched by key. The preview (``summary.changes``) is computed first; a change
    that would delete or reinterpret stored data is refused unless ``confirm`` is given with
    a ``reason``. ``dry_run`` computes the preview and writes nothing. ``reorder`` allows
    reloading an existing plan with its columns in another order. ``user`` and ``reason``
    go into every history row; after the write ``plan_changed`` is sent inside the
    transaction.
    """
    with cyclic_gc_paused():  # the file's dicts and the rows read go by reference counting
        return _load_plan(source, user, reorder, confirm, reason, dry_run)


def _load_plan(source, user, reorder, confirm, reason, dry_run) -> LoadSummary:
    owned = not isinstance(source, dict)
    spec = _build_spec(read_plan_file(source) if owned else source, owned=owned)
    summary = LoadSummary(warnings=list(spec.warnings))
    reason = str(reason or "").strip()
    with transaction.atomic():
        problems = unit_problems(spec) + column_order_problems(spec, reorder=reorder)
        if problems:
            raise PlanFileError(problems)
        changes = change_set(spec)
        summary.changes = changes
        summary.plan_year = changes.stored.plan  # read by change_set in this transaction
        if dry_run:
            return summary
        if changes.by_key and changes.exists and not spec.keyed:
            raise PlanChangeRefused(changes, keyless_problems(spec))
        if changes.needs_confirmation and not confirm:
            raise PlanChangeRefused(changes)
        if confirm and not reason:
            raise PlanFileError(['确认变更时必须说明原因（--reason "…"），原因记入修改历史。'])
        writer = _Writer(
            spec, summary, user, reason or None, reuse=changes.stored if changes.same_rows else None
        )
        writer.run()
        if summary.changed:
            indicator_ids = writer.affected_indicators(changes)
            plan_changed.send(
                sender=PlanYear,
                plan=summary.plan_year,
                indicator_ids=indicator_ids,
                project_ids=writer.affected_projects(changes),
                cells=writer.affected_cells(changes, indicator_ids),
            )
    return summary


def preview(source, *, reorder=False) -> PlanChangeSet:
    """What loading ``source`` would change, with the stored data each change touches.

    Writes nothing. The admin upload and ``load_plan --dry-run`` show this before a write.
    """
    return load_plan(source, reorder=reorder, dry_run=True).changes


def keyless_problems(spec: _Spec) -> list[str]:
    shown = "；".join(spec.derived_keys[:5]) + ("……" if len(spec.derived_keys) > 5 else "")
    return [
        f"{spec.year}年计划（{spec.issuer}）已载入，而计划文件缺少 key（标识）：{shown}。"
        "没有 key 只能按位置对应，调换次序或错列会让已填报的数字改变含义，因此不予载入。"
        "请运行 python manage.py load_plan 文件 --derive-keys：按文件当前的序号和次序写入 key"
        "（项目 P序号，量化目标 P序号-T序次，进度节点 P序号-M序次），并显示与已载入计划的差异；"
        "核对无误后再载入。"
    ]


# --- the preview ----------------------------------------------------------------------


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= 40 else text[:38] + "……"


PROJECT_FIELDS = {
    "seq": "序号", "name": "名称", "category": "类别", "lead_agency": "牵头单位",
    "city_leader": "分管市领导", "lead_agency_leader": "牵头单位分管领导",
    "name_in_breakdown": "任务分解表中的名称", "cooperating_text": "配合单位",
    "deadline": "预计完成时间", "work_plan": "工作计划和进度安排", "notes": "整理说明",
}  # fmt: skip
INDICATOR_FIELDS = {
    "project": "所属项目", "order": "序次", "label": "指标", "unit": "单位", "kind": "类型",
    "scope": "分解方式", "direction": "方向", "target_value": "年度目标",
    "target_text": "量化目标（原文）", "breakdown_note": "分解说明", "deadline": "本目标完成时间",
}  # fmt: skip
PLAN_FIELDS = {
    "title": "名称", "document_number": "文号", "source": "出处", "published_on": "印发日期",
    "notes": "整理说明", "acknowledged_findings": "已确认的原文不一致",
    "format_version": "计划文件格式版本",
}  # fmt: skip
COLUMN_FIELDS = {"order": "列序", "label": "表头（原文）", "merged": "合并单位"}
#: A target's fields whose change makes its stored figures mean something else.
REINTERPRETING = ("project", "unit", "kind", "scope", "direction")
QUOTA_FIELDS = {"value": "任务数", "new_value": "其中新增", "upgrade_value": "其中提升",
                "published_text": "原文"}  # fmt: skip
MILESTONE_FIELDS = {
    "project": "所属项目", "indicator": "量化目标", "due_date": "节点日期", "kind": "类型",
    "value": "数值", "value_text": "数值（原文）", "text": "节点内容", "order": "序次",
}  # fmt: skip
MILESTONE_REINTERPRETING = ("project", "indicator", "due_date", "kind", "value")


#: Coded values shown by their Chinese labels in the preview (「方向 不低于 → 不高于」).
CHOICE_LABELS = {
    "kind": {**dict(Indicator.Kind.choices), **dict(Milestone.Kind.choices)},
    "scope": dict(Indicator.Scope.choices),
    "direction": dict(Indicator.Direction.choices),
}


def _shown(field_name, value) -> str:
    if field_name in CHOICE_LABELS:
        return CHOICE_LABELS[field_name].get(value) or _text(value)
    if isinstance(value, list):  # the plan's acknowledged findings
        return _text("、".join(map(str, value)))
    return _text(value)


def _diff(labels: dict, old: dict, new: dict) -> list[tuple[str, str, str]]:
    return [
        (label, _shown(f, old[f]), _shown(f, new[f]))
        for f, label in labels.items()
        if old[f] != new[f]
    ]


def _stored_rows(plan, projects: dict) -> tuple[dict, dict, dict]:
    """The plan's targets, quotas and milestones keyed as the preview compares them. The
    related rows come from the maps already read (``projects``, the targets, the units),
    not from a join per row: a reload reads each row once. 3 queries (4 with quotas)."""
    if plan is None:
        return {}, {}, {}
    by_pk = {p.pk: p for p in projects.values()}
    indicators = list(Indicator.objects.filter(project__plan_year=plan))
    for i in indicators:
        i.project = by_pk[i.project_id]
    targets = {i.pk: i for i in indicators}
    quotas = list(Quota.objects.filter(indicator__project__plan_year=plan))
    units = District.objects.in_bulk({q.district_id for q in quotas}) if quotas else {}
    for q in quotas:
        q.indicator, q.district = targets[q.indicator_id], units[q.district_id]
    milestones = list(Milestone.objects.filter(project__plan_year=plan))
    for m in milestones:
        m.project = by_pk[m.project_id]
        m.indicator = targets.get(m.indicator_id) if m.indicator_id else None
    return (
        {i.key: i for i in indicators},
        {(q.indicator.key, q.district.code): q for q in quotas},
        {m.key: m for m in milestones},
    )


def _plan_changes(spec: _Spec, plan, categories: dict, columns: dict, add) -> None:
    """The plan's own fields, its categories (by order) and its columns (by unit): what
    the writer would change there, so the preview never says 无变化 before a rename.
    Labels only: no stored figure changes meaning (a column's quotas are compared as
    quotas), so none needs confirming."""
    old = {f: getattr(plan, f) for f in PLAN_FIELDS}
    fields = _diff(PLAN_FIELDS, old, spec.plan_fields)
    if fields:
        add(Change(CHANGE, "年度", str(spec.year), "", _text(plan.title), fields))
    wanted = dict(enumerate(spec.categories, start=1))
    for order, name in wanted.items():
        stored = categories.get(order)
        if stored is None:
            add(Change(ADD, "类别", str(order), "", _text(name)))
        elif stored.name != name:
            add(Change(CHANGE, "类别", str(order), "", _text(name), [("名称", stored.name, name)]))
    for order, stored in categories.items():
        if order not in wanted:
            add(Change(REMOVE, "类别", str(order), "", _text(stored.name)))
    for i, column in enumerate(spec.columns):
        stored = columns.get(column["code"])
        if stored is None:
            add(Change(ADD, "计划列", column["code"], "", _text(column["label"])))
            continue
        new = {
            "order": str(i + 1),
            "label": column["label"],
            "merged": "、".join(sorted(u["code"] for u in column["merged"])),
        }
        old = {
            "order": str(stored.order + 1),
            "label": stored.label,
            "merged": "、".join(sorted(d.code for d in stored.merged_units.all())),
        }
        fields = _diff(COLUMN_FIELDS, old, new)
        if fields:
            add(Change(CHANGE, "计划列", column["code"], "", _text(column["label"]), fields))
    wanted_codes = {c["code"] for c in spec.columns}
    for code, stored in columns.items():
        if code not in wanted_codes:
            add(Change(REMOVE, "计划列", code, "", _text(stored.label)))


def _count_touches(asks) -> None:
    """Each change's ``touches`` (the stored data hanging on its row) and its ``risk``
    (when it touches any), counted in one go for the changed and removed rows only: a
    few corrections do not count the data of the whole plan."""
    if not asks:
        return
    touched = dependents.touched(
        {key[0] for _c, (what, *key), _r in asks if what != "milestone"},
        {key[0] for _c, (what, *key), _r in asks if what == "milestone"},
    )
    for change, (what, *key), risk_if_touched in asks:
        change.touches = getattr(touched, f"of_{what}")(*key)
        change.risk = risk_if_touched if change.touches else ""


def change_set(spec: _Spec) -> PlanChangeSet:
    """Compare the file with the stored plan, row by row and key by key (read only)."""
    plan = PlanYear.objects.filter(issuer=spec.issuer, year=spec.year).first()
    stored_projects = {
        p.key: p
        for p in (
            plan.projects.select_related("category", "lead_agency").prefetch_related(
                "cooperating_agencies", "co_lead_agencies"
            )
            if plan
            else []
        )
    }
    stored_indicators, stored_quotas, stored_milestones = _stored_rows(plan, stored_projects)
    stored_categories = {c.order: c for c in plan.categories.all()} if plan else {}
    stored_columns = (
        {
            c.district.code: c
            for c in plan.columns.select_related("district").prefetch_related("merged_units")
        }
        if plan
        else {}
    )
    result = PlanChangeSet(
        year=spec.year,
        issuer=spec.issuer,
        exists=bool(stored_projects),
        keyed=spec.keyed,
        derived_keys=list(spec.derived_keys),
        stored=_StoredRows(
            stored_projects,
            stored_indicators,
            stored_quotas,
            stored_milestones,
            plan,
            stored_categories,
            stored_columns,
        ),
    )
    for p in stored_projects.values():
        result.project_titles[p.key] = f"序号{p.seq}「{_text(p.name)}」"
    for p in spec.projects:
        result.project_titles[p["key"]] = f"序号{p['seq']}「{_text(p['name'])}」"

    def add(change: Change):
        result.changes.append(change)

    #: (change, what it touches, its risk when it touches stored data): counted at the end,
    #: for the changed and removed rows only (``_count_touches``)
    asks: list[tuple[Change, tuple, str]] = []

    def add_touching(change: Change, ask: tuple, risk_if_touched: str = ""):
        add(change)
        asks.append((change, ask, risk_if_touched))

    if plan is not None:  # a new plan's year, categories and columns come with its projects
        _plan_changes(spec, plan, stored_categories, stored_columns, add)

    wanted_indicators, wanted_milestones, wanted_quotas = {}, {}, {}
    for p in spec.projects:
        new = {
            "seq": p["seq"], "name": p["name"], "category": p["category"],
            "lead_agency": p["lead_agency"], "city_leader": p["city_leader"],
            "lead_agency_leader": p["lead_agency_leader"],
            "name_in_breakdown": p["name_in_breakdown"],
            "cooperating_text": p["cooperating_text"], "deadline": p["deadline"],
            "work_plan": p["work_plan"], "notes": p["notes"],
        }  # fmt: skip
        stored = stored_projects.get(p["key"])
        if stored is None:
            add(Change(ADD, "项目", p["key"], p["key"], f"序号{p['seq']} {_text(p['name'])}"))
        else:
            old = {
                f: getattr(stored, f)
                for f in PROJECT_FIELDS
                if f not in ("category", "lead_agency")
            }
            old |= {"category": stored.category.order, "lead_agency": stored.lead_agency.name}
            fields = _diff(PROJECT_FIELDS, old, new)
            if fields:
                add(Change(CHANGE, "项目", p["key"], p["key"], _text(p["name"]), fields))
        by_order = {ind["order"]: ind for ind in p["indicators"]}
        for ind in p["indicators"]:
            wanted_indicators[ind["key"]] = (p, ind)
            for code, q in ind["quotas"].items():
                wanted_quotas[(ind["key"], code)] = (p, ind, q)
        for m in p["milestones"]:
            target = by_order.get(m["indicator"]) if m["indicator"] else None
            wanted_milestones[m["key"]] = (p, m, target["key"] if target else None)

    for key, (p, ind) in wanted_indicators.items():
        stored = stored_indicators.get(key)
        title = f"{ind['label']}（{ind['target_text'] or '—'}）"
        if stored is None:
            add(Change(ADD, "量化目标", key, p["key"], title))
            continue
        new = {f: ind[f] for f in INDICATOR_FIELDS if f != "project"} | {"project": p["key"]}
        old = {f: getattr(stored, f) for f in INDICATOR_FIELDS if f != "project"}
        old["project"] = stored.project.key
        fields = _diff(INDICATOR_FIELDS, old, new)
        if not fields:
            continue
        risky = [INDICATOR_FIELDS[f] for f in REINTERPRETING if old[f] != new[f]]
        add_touching(
            Change(CHANGE, "量化目标", key, p["key"], title, fields),
            ("indicator", stored.pk),
            f"{'、'.join(risky)}改变，已存的数字将按新的含义计算" if risky else "",
        )
    for key, stored in stored_indicators.items():
        if key not in wanted_indicators:
            add_touching(
                Change(REMOVE, "量化目标", key, stored.project.key, stored.label),
                ("indicator", stored.pk),
                "删除量化目标将删除或丢失其已存数据",
            )

    codes_to_labels = {c["code"]: c["label"] for c in spec.columns}
    for (ikey, code), (p, ind, q) in wanted_quotas.items():
        stored = stored_quotas.get((ikey, code))
        title = f"{ind['label']} · {codes_to_labels.get(code, code)}"
        if stored is None:
            add(
                Change(
                    ADD,
                    "分解任务",
                    f"{ikey}@{code}",
                    p["key"],
                    title,
                    [("任务数", "", q["published_text"])],
                )
            )
            continue
        old = {f: getattr(stored, f) for f in QUOTA_FIELDS}
        fields = _diff(QUOTA_FIELDS, old, q)
        if fields:
            add_touching(
                Change(CHANGE, "分解任务", f"{ikey}@{code}", p["key"], title, fields),
                ("cell", stored.indicator_id, stored.district_id),
                "任务数改变，已填报数字的完成率和状态随之改变"
                if old["value"] != q["value"]
                else "",
            )
    for (ikey, code), stored in stored_quotas.items():
        if (ikey, code) not in wanted_quotas:
            title = f"{stored.indicator.label} · {stored.district.name}"
            fields = [("任务数", stored.published_text or _text(stored.value), "")]
            add_touching(
                Change(
                    REMOVE,
                    "分解任务",
                    f"{ikey}@{code}",
                    _project_key(ikey, stored_indicators),
                    title,
                    fields,
                ),
                ("cell", stored.indicator_id, stored.district_id),
                "删除该单位的任务数后，其已填报的数字将不再计入",
            )

    for key, (p, m, ikey) in wanted_milestones.items():
        stored = stored_milestones.get(key)
        title = f"{_text(m['text'])}"
        if stored is None:
            add(Change(ADD, "进度节点", key, p["key"], title))
            continue
        new = {f: m[f] for f in MILESTONE_FIELDS if f not in ("project", "indicator")}
        new |= {"project": p["key"], "indicator": ikey}
        old = {f: getattr(stored, f) for f in MILESTONE_FIELDS if f not in ("project", "indicator")}
        old |= {
            "project": stored.project.key,
            "indicator": stored.indicator.key if stored.indicator else None,
        }
        fields = _diff(MILESTONE_FIELDS, old, new)
        if not fields:
            continue
        risky = [MILESTONE_FIELDS[f] for f in MILESTONE_REINTERPRETING if old[f] != new[f]]
        add_touching(
            Change(CHANGE, "进度节点", key, p["key"], title, fields),
            ("milestone", stored.pk),
            f"{'、'.join(risky)}改变，已登记的完成情况将对应新的节点" if risky else "",
        )
    for key, stored in stored_milestones.items():
        if key not in wanted_milestones:
            add_touching(
                Change(REMOVE, "进度节点", key, stored.project.key, _text(stored.text)),
                ("milestone", stored.pk),
                "删除进度节点将删除其已登记的完成情况",
            )
    _count_touches(asks)

    for key, stored in stored_projects.items():
        if key not in {p["key"] for p in spec.projects}:
            touches = {}
            for change in result.changes:
                if (
                    change.project_key == key
                    and change.action == REMOVE
                    and change.entity in ("量化目标", "进度节点")
                ):
                    for label, n in change.touches.items():
                        touches[label] = touches.get(label, 0) + n
            risk = "删除项目将删除其已存数据" if touches else ""
            add(
                Change(
                    REMOVE,
                    "项目",
                    key,
                    key,
                    f"序号{stored.seq} {_text(stored.name)}",
                    [],
                    touches,
                    risk,
                )
            )
    order: dict[str, int] = {}
    for p in [*(p["key"] for p in spec.projects), *stored_projects]:  # the file's order first
        order.setdefault(p, len(order))
    order[""] = -1  # the plan's own changes (年度, 类别, 计划列) first
    rank = {
        "年度": -3,
        "类别": -2,
        "计划列": -1,
        "项目": 0,
        "量化目标": 1,
        "分解任务": 2,
        "进度节点": 3,
    }
    result.changes.sort(key=lambda c: (order.get(c.project_key, 10**6), rank[c.entity]))
    return result


def _project_key(indicator_key: str, stored_indicators: dict) -> str:
    return stored_indicators[indicator_key].project.key


def _approximately(a: str, b: str) -> bool:
    """「拱墅县」~「拱墅区」, 「西湖风景名胜区」~「杭州西湖风景名胜区」; 「西湖区」 is not
    approximately 「西湖风景名胜区」."""
    if a == b:
        return False
    if a in b or b in a:
        return True
    if len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) <= 1:
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def unit_problems(spec: _Spec) -> list[str]:
    """A file's units against the registered ones: codes keep names; no near-miss names."""
    registered = {d.code: d for d in District.objects.all()}
    by_name = {d.name: d for d in registered.values()}
    problems = []
    for i, column in enumerate(spec.columns, start=1):
        for unit in (column, *column["merged"]):
            where = f"第{i}列「{column['label']}」"
            known = registered.get(unit["code"])
            if known is not None:
                if known.name != unit["name"]:
                    problems.append(
                        f"{where} 字段「name」：代码 {unit['code']} 已登记为「{known.name}」，"
                        f"文件写作「{unit['name']}」。如是笔误请改回「{known.name}」；如本计划表头"
                        f"另有印法，请写 name: {known.name} 并加 label: {unit['name']}。"
                        "载入一个计划不会改动其他计划的单位名称。"
                    )
                if known.kind != unit["kind"]:
                    problems.append(
                        f"{where} 字段「kind」：代码 {unit['code']} 已登记为类型"
                        f"「{known.get_kind_display()}」，文件写作「{unit['kind']}」。请改正。"
                    )
                continue
            same = by_name.get(unit["name"])
            if same is not None:
                problems.append(
                    f"{where} 字段「code」：名称「{unit['name']}」已登记为代码 {same.code}，"
                    f"文件写作 {unit['code']}。请改用代码 {same.code}。"
                )
                continue
            near = [d for d in registered.values() if _approximately(unit["name"], d.name)]
            if near and not unit["new_unit"]:
                names = "、".join(f"「{d.name}」（代码 {d.code}）" for d in near)
                problems.append(
                    f"{where} 字段「name」：「{unit['name']}」与已登记的{names}相近但不相同。"
                    "如是同一单位，请用其代码和登记名称（表头印法写在 label）；"
                    "如确为新单位，请加 new_unit: true。"
                )
    return problems


def column_order_problems(spec: _Spec, *, reorder=False) -> list[str]:
    """Header check: reloading a plan must keep its column order (swapped columns)."""
    if reorder:
        return []
    plan = PlanYear.objects.filter(issuer=spec.issuer, year=spec.year).first()
    if plan is None:
        return []
    stored = list(plan.columns.order_by("order").values_list("district__code", "label"))
    wanted = [c["code"] for c in spec.columns]
    if not stored or [c for c, _ in stored] == wanted:
        return []
    if sorted(c for c, _ in stored) != sorted(wanted):
        return []  # columns added or dropped: a deliberate edit, checked cell by cell
    moved = [
        f"第{i}列 原为「{label}」，文件为「{spec.columns[i - 1]['label']}」"
        for i, (code, label) in enumerate(stored, start=1)
        if code != wanted[i - 1]
    ]
    return [
        f"{spec.year}年计划（{spec.issuer}）字段「districts」：列序与已载入的计划不同（"
        + "；".join(moved)
        + "）。分解任务按列序读取，列对调会让数字移到别的单位。请核对表头与各行单元格；"
        "若原表确实调整了列序，请用 load_plan --reorder 载入。"
    ]


@dataclass
class _StoredRows:
    """The plan's rows as ``change_set`` read them (keyed as it compares them)."""

    projects: dict
    indicators: dict
    quotas: dict
    milestones: dict
    plan: PlanYear | None = None
    categories: dict = field(default_factory=dict)  # order → Category
    columns: dict = field(default_factory=dict)  # unit code → PlanColumn (merged units read)


class _Writer:
    def __init__(self, spec: _Spec, summary: LoadSummary, user, reason=None, reuse=None):
        self.spec = spec
        self.summary = summary
        self.user = user
        self.reason = reason
        #: ``change_set``'s rows of a stored plan, when no row comes or goes (``same_rows``):
        #: the writer compares, moves and updates them in place instead of reading them
        #: again (read in this transaction, they are what it would read)
        self.reuse: _StoredRows | None = reuse if reuse is not None and reuse.plan else None
        self.indicators: dict[str, Indicator] = {}
        self.projects: dict[str, Project] = {}

    def affected_indicators(self, changes: PlanChangeSet) -> list[int] | None:
        """The stored targets all of whose cells may now evaluate differently (None: all):
        a target, project or milestone changed. A changed quota alone moves only its own
        cell (``affected_cells``)."""
        if not changes.exists:
            return None
        keys = {c.key for c in changes.changes if c.entity == "量化目标"}
        by_project = {c.project_key for c in changes.changes if c.entity in ("项目", "进度节点")}
        return sorted(
            i.pk for key, i in self.indicators.items() if key in keys or i.project.key in by_project
        )

    def affected_cells(self, changes: PlanChangeSet, indicator_ids) -> list[tuple[int, int]]:
        """(indicator_id, district_id) of the quotas changed, added or removed, outside
        the targets re-evaluated whole (``affected_indicators``): a reload correcting a
        few quotas re-evaluates those cells, not every district of their targets."""
        if indicator_ids is None:
            return []
        whole = set(indicator_ids)
        codes = dict(District.objects.values_list("code", "pk"))
        cells = set()
        for c in changes.changes:
            if c.entity != "分解任务":
                continue
            target_key, _, code = c.key.partition("@")
            indicator = self.indicators.get(target_key)
            if indicator is None or indicator.pk in whole or code not in codes:
                continue
            cells.add((indicator.pk, codes[code]))
        return sorted(cells)

    def affected_projects(self, changes: PlanChangeSet) -> list[int]:
        keys = {c.project_key for c in changes.changes if c.entity == "进度节点"}
        return sorted(p.pk for key, p in self.projects.items() if key in keys)

    def run(self):
        districts = self._districts()
        agencies = self._agencies()
        plan_year = self._plan_year()
        self.summary.plan_year = plan_year
        self._columns(plan_year, districts)
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
            bulk_create_with_history(
                new, model, default_user=self.user, default_change_reason=self.reason
            )
            self.summary.created[label] += len(new)
        if changed:
            bulk_update_with_history(
                changed,
                model,
                sorted(fields),
                default_user=self.user,
                default_change_reason=self.reason,
            )
            self.summary.updated[label] += len(changed)
        return new, changed

    @staticmethod
    def _park(model, objs, field_name, start):
        """Move rows whose position changes out of the way of the unique position index
        (a swap of two targets' order would trip it); the sync then writes the new one."""
        for offset, obj in enumerate(objs):
            value = start + offset
            model.objects.filter(pk=obj.pk).update(**{field_name: value})
            setattr(obj, field_name, value)

    def _delete(self, queryset, label):
        count = 0
        for obj in queryset:  # one by one so each deletion is kept in history
            if self.user is not None:
                obj._history_user = self.user
            if self.reason:
                obj._change_reason = self.reason
            obj.delete()
            count += 1
        if count:
            self.summary.deleted[label] += count

    def _districts(self) -> dict[str, District]:
        """Register the file's new units; registered units are never changed here.

        A new unit's default display order follows the registered ones (on an empty
        database: the file's column order).
        """
        existing = {d.code: d for d in District.objects.all()}
        top = max((d.order for d in existing.values()), default=-1)
        new = {}
        for unit in self.spec.units():
            if unit["code"] not in existing and unit["code"] not in new:
                top += 1
                new[unit["code"]] = {"name": unit["name"], "kind": unit["kind"], "order": top}
        if not new:  # nothing registered: the units just read are the units
            return existing
        self._sync(District, {}, new, lambda k, v: District(code=k, **v), "填报单位")
        return {d.code: d for d in District.objects.all()}

    def _columns(self, plan, districts):
        if self.reuse:  # the preview read them, merged units included
            existing = self.reuse.columns
        else:
            existing = {
                c.district.code: c
                for c in plan.columns.select_related("district").prefetch_related("merged_units")
            }
        wanted = {
            c["code"]: {"order": i, "label": c["label"], "district_id": districts[c["code"]].pk}
            for i, c in enumerate(self.spec.columns)
        }
        stale = [c.pk for k, c in existing.items() if k not in wanted]
        if stale:
            self._delete(PlanColumn.objects.filter(pk__in=stale), "计划列")
        # Move orders out of the way first so reordering never trips the unique index.
        moving = [c for k, c in existing.items() if k in wanted and c.order != wanted[k]["order"]]
        for offset, c in enumerate(moving):
            PlanColumn.objects.filter(pk=c.pk).update(order=1000 + offset)
            c.order = 1000 + offset
        self._sync(
            PlanColumn,
            {k: c for k, c in existing.items() if k in wanted},
            wanted,
            lambda k, v: PlanColumn(plan=plan, **v),
            "计划列",
        )
        for spec in self.spec.columns:
            want = {districts[u["code"]].pk for u in spec["merged"]}
            column = existing.get(spec["code"])
            have = {d.pk for d in column.merged_units.all()} if column else set()
            if have != want:
                column = column or plan.columns.get(district__code=spec["code"])
                column.merged_units.set(want)
                self.summary.updated["合并列"] += 1

    def _agencies(self) -> dict[str, Agency]:
        existing = {a.name: a for a in Agency.objects.all()}
        wanted = {}
        for name, info in self.spec.agencies.items():
            current = existing.get(name)
            merged = sorted(set(info["aliases"]) | set(current.aliases if current else []))
            full_name = info["full_name"] or (current.full_name if current else "")
            wanted[name] = {"aliases": merged, "full_name": full_name}
        new, _changed = self._sync(
            Agency, existing, wanted, lambda k, v: Agency(name=k, **v), "单位"
        )
        if not new:  # the rows read above, updated in place
            return {name: existing[name] for name in wanted}
        return {a.name: a for a in Agency.objects.filter(name__in=wanted)}

    def _plan_year(self) -> PlanYear:
        spec = self.spec
        if self.reuse:
            existing = {spec.year: self.reuse.plan}
        else:
            existing = {
                p.year: p for p in PlanYear.objects.filter(year=spec.year, issuer=spec.issuer)
            }
        wanted = {spec.year: spec.plan_fields}
        new, _changed = self._sync(
            PlanYear,
            existing,
            wanted,
            lambda k, v: PlanYear(year=k, issuer=spec.issuer, **v),
            "年度",
        )
        if not new:  # the row read above, updated in place
            return existing[spec.year]
        return PlanYear.objects.get(year=spec.year, issuer=spec.issuer)

    def _categories(self, plan_year) -> dict[int, Category]:
        if self.reuse:
            existing = self.reuse.categories
        else:
            existing = {c.order: c for c in plan_year.categories.all()}
        wanted = {i: {"name": n} for i, n in enumerate(self.spec.categories, start=1)}
        # Renames that swap names would trip the unique name index: clear them first.
        clash = [c for o, c in existing.items() if o in wanted and c.name != wanted[o]["name"]]
        for c in clash:
            Category.objects.filter(pk=c.pk).update(name=f"__renaming_{c.pk}")
            c.name = f"__renaming_{c.pk}"
        new, _changed = self._sync(
            Category,
            existing,
            wanted,
            lambda k, v: Category(plan_year=plan_year, order=k, **v),
            "类别",
        )
        if set(existing) - set(wanted):
            self._delete(plan_year.categories.exclude(order__in=wanted), "类别")
        if not new and set(existing) == set(wanted):  # the rows read above, updated in place
            return existing
        return {c.order: c for c in plan_year.categories.all()}

    def _projects(self, plan_year, categories, agencies) -> dict[str, Project]:
        with_agencies = plan_year.projects.prefetch_related(
            "cooperating_agencies", "co_lead_agencies"
        )
        existing = self.reuse.projects if self.reuse else {p.key: p for p in with_agencies}
        wanted = {}
        for p in self.spec.projects:
            wanted[p["key"]] = {
                "seq": p["seq"],
                "category_id": categories[p["category"]].pk,
                "name": p["name"],
                "name_in_breakdown": p["name_in_breakdown"],
                "city_leader": p["city_leader"],
                "lead_agency_id": agencies[p["lead_agency"]].pk,
                "lead_agency_leader": p["lead_agency_leader"],
                "cooperating_text": p["cooperating_text"],
                "deadline": p["deadline"],
                "deadline_assumed": p["deadline_assumed"],
                "work_plan": p["work_plan"],
                "notes": p["notes"],
            }
        stale = [p.pk for k, p in existing.items() if k not in wanted]  # every stored project
        if stale:
            self._refuse_if_reported(Indicator.objects.filter(project__in=stale), "项目")
            self._delete(Project.objects.filter(pk__in=stale), "项目")
        moving = [p for k, p in existing.items() if k in wanted and p.seq != wanted[k]["seq"]]
        self._park(Project, moving, "seq", 20000)
        new, changed = self._sync(
            Project,
            {k: p for k, p in existing.items() if k in wanted},
            wanted,
            lambda k, v: Project(plan_year=plan_year, key=k, **v),
            "项目",
        )
        if new or changed or moving or len(existing) != len(wanted):
            projects = {p.key: p for p in with_agencies.all()}  # read again: rows came or went
        else:  # an unchanged reload reuses the rows read above
            projects = existing
        for p in self.spec.projects:
            project = projects[p["key"]]
            want = {agencies[n].pk for n in p["cooperating"]}
            if {a.pk for a in project.cooperating_agencies.all()} != want:
                project.cooperating_agencies.set(want)
                self.summary.updated["配合单位"] += 1
            want = {agencies[n].pk for n in p["co_lead_agencies"]}
            if {a.pk for a in project.co_lead_agencies.all()} != want:
                project.co_lead_agencies.set(want)
                self.summary.updated["其他牵头单位"] += 1
        self.projects = projects
        return projects

    def _stored_indicators(self, projects) -> dict[str, Indicator]:
        return {
            i.key: i
            for i in Indicator.objects.filter(project__in=projects.values()).select_related(
                "project"
            )
        }

    def _indicators(self, projects) -> dict[str, Indicator]:
        existing = self.reuse.indicators if self.reuse else self._stored_indicators(projects)
        wanted = {}
        for p in self.spec.projects:
            for ind in p["indicators"]:
                wanted[ind["key"]] = {
                    k: ind[k]
                    for k in (
                        "order", "label", "unit", "kind", "scope", "direction",
                        "target_value", "target_text", "breakdown_note", "deadline",
                    )
                } | {"project_id": projects[p["key"]].pk}  # fmt: skip
        stale = [i.pk for key, i in existing.items() if key not in wanted]
        if stale:
            self._refuse_if_reported(Indicator.objects.filter(pk__in=stale), "量化目标")
            self._delete(Indicator.objects.filter(pk__in=stale), "量化目标")
        kept = {k: i for k, i in existing.items() if k in wanted}
        moving = [
            i
            for k, i in kept.items()
            if (i.project_id, i.order) != (wanted[k]["project_id"], wanted[k]["order"])
        ]
        self._park(Indicator, moving, "order", 1000)
        new, changed = self._sync(
            Indicator, kept, wanted, lambda k, v: Indicator(key=k, **v), "量化目标"
        )
        # read again only when rows came, went or moved (an unchanged reload reuses them)
        same = not (new or changed or stale or moving)
        self.indicators = kept if same else self._stored_indicators(projects)
        return self.indicators

    def _quotas(self, indicators, districts):
        existing = {
            (q.indicator_id, q.district_id): q
            for q in (
                self.reuse.quotas.values()
                if self.reuse
                else Quota.objects.filter(indicator__in=indicators.values())
            )
        }
        wanted, shared = {}, {}
        merged = {
            c["code"]: [districts[u["code"]].pk for u in c["merged"]] for c in self.spec.columns
        }
        for p in self.spec.projects:
            for ind in p["indicators"]:
                indicator = indicators[ind["key"]]
                for code, q in ind["quotas"].items():
                    key = (indicator.pk, districts[code].pk)
                    wanted[key] = q
                    shared[key] = set(merged[code])
        stale = [q.pk for key, q in existing.items() if key not in wanted]
        if stale:
            self._delete(Quota.objects.filter(pk__in=stale), "分解任务")
        self._sync(
            Quota,
            {k: q for k, q in existing.items() if k in wanted},
            wanted,
            lambda k, v: Quota(indicator_id=k[0], district_id=k[1], **v),
            "分解任务",
        )
        if (
            any(shared.values())
            or Quota.shared_with.through.objects.filter(
                quota__indicator__in=indicators.values()
            ).exists()
        ):
            quotas = Quota.objects.filter(indicator__in=indicators.values()).prefetch_related(
                "shared_with"
            )
            for q in quotas:
                want = shared.get((q.indicator_id, q.district_id), set())
                if {d.pk for d in q.shared_with.all()} != want:
                    q.shared_with.set(want)
                    self.summary.updated["合并列分解任务"] += 1

    def _milestones(self, projects, indicators):
        existing = (
            self.reuse.milestones
            if self.reuse
            else {m.key: m for m in Milestone.objects.filter(project__in=projects.values())}
        )
        wanted = {}
        for p in self.spec.projects:
            project = projects[p["key"]]
            by_order = {ind["order"]: ind["key"] for ind in p["indicators"]}
            for m in p["milestones"]:
                ind = indicators[by_order[m["indicator"]]] if m["indicator"] else None
                wanted[m["key"]] = {
                    "project_id": project.pk,
                    "order": m["order"],
                    "indicator_id": ind.pk if ind else None,
                    "district_id": None,
                    "due_date": m["due_date"],
                    "kind": m["kind"],
                    "value": m["value"],
                    "value_text": m["value_text"],
                    "text": m["text"],
                }
        stale = [m.pk for key, m in existing.items() if key not in wanted]
        if stale:
            self._delete(Milestone.objects.filter(pk__in=stale), "进度节点")
        kept = {k: m for k, m in existing.items() if k in wanted}
        moving = [
            m
            for k, m in kept.items()
            if (m.project_id, m.order) != (wanted[k]["project_id"], wanted[k]["order"])
        ]
        self._park(Milestone, moving, "order", 30000)
        self._sync(Milestone, kept, wanted, lambda k, v: Milestone(key=k, **v), "进度节点")

    @staticmethod
    def _refuse_if_reported(indicators, what):
        # Through the reverse relation (ProgressReport.indicator, related_name "reports"):
        # plans sit below progress and ask the ORM what hangs on a target.
        reported = (
            indicators.filter(reports__isnull=False)
            .order_by("project__seq", "order")
            .values_list("project__seq", "label")
            .distinct()
        )
        if reported:
            names = "、".join(f"序号{s}「{label}」" for s, label in reported)
            raise PlanFileError([f"{names} 已有进度填报，不能从计划文件中删除该{what}"])
