"""The preview of a plan load (``PlanChangeSet``): every addition, change and removal of a
project, target, quota and milestone, matched by key, with the stored data each touches.

A change that would delete or reinterpret stored data carries a ``risk``; the loader
refuses the whole load until it is confirmed with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracker.plans.dependents import describe as describe_counts

ADD, CHANGE, REMOVE = "新增", "修改", "删除"


@dataclass
class Change:
    action: str  # ADD, CHANGE or REMOVE
    entity: str  # 年度, 类别, 计划列, 项目, 量化目标, 分解任务, 进度节点
    key: str  # 2024, 3, shangcheng, P25, P25-T1, P25-T1@shangcheng, P25-M1
    project_key: str  # empty for the plan's own changes (年度, 类别, 计划列)
    title: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (label, old, new)
    touches: dict[str, int] = field(default_factory=dict)
    risk: str = ""  # why it needs --confirm (empty: safe)

    def line(self) -> str:
        text = f"{self.action}{self.entity} {self.key}「{self.title}」"
        if self.fields:
            text += "：" + "；".join(f"{label} {old or '（空）'} → {new or '（空）'}"
                                    for label, old, new in self.fields)  # fmt: skip
        if self.touches:
            text += f"（涉及已存数据：{describe_counts(self.touches)}）"
        if self.risk:
            text += f" 【需确认：{self.risk}】"
        return text


@dataclass
class PlanChangeSet:
    """What loading a file would do to the stored plan; nothing is written to build it."""

    year: int
    issuer: str
    exists: bool  # the plan is already stored (with projects)
    keyed: bool  # the file carries every key (else they were derived from positions)
    changes: list[Change] = field(default_factory=list)
    project_titles: dict[str, str] = field(default_factory=dict)  # key → 「序号25 …」
    derived_keys: list[str] = field(default_factory=list)  # 「序号25 第1个量化目标 → P25-T1」
    #: the stored rows compared (the loader's writer reuses them when nothing changed)
    stored: object = field(default=None, repr=False, compare=False)

    @property
    def risky(self) -> list[Change]:
        return [c for c in self.changes if c.risk]

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.risky)

    def __bool__(self) -> bool:
        return bool(self.changes)

    @property
    def by_key(self) -> list[Change]:
        """The changes of rows matched by key (projects and what hangs on them), not the
        plan's own (年度, 类别 by order, 计划列 by unit)."""
        return [c for c in self.changes if c.project_key]

    @property
    def same_rows(self) -> bool:
        """No row comes or goes (a project, target, quota, milestone, category or column):
        the stored rows compared are the rows the load writes to (their fields may change)."""
        return all(c.action == CHANGE for c in self.changes)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[f"{c.action}{c.entity}"] = out.get(f"{c.action}{c.entity}", 0) + 1
        return out

    def lines(self) -> list[str]:
        """The preview, grouped by project, in Chinese."""
        if not self.changes:
            return ["无变化"]
        out = []
        by_project: dict[str, list[Change]] = {}
        for c in self.changes:
            by_project.setdefault(c.project_key, []).append(c)
        for key, changes in by_project.items():
            if key:
                out.append(f"项目 {key} {self.project_titles.get(key, '')}".rstrip())
            else:
                out.append("计划（年度、类别、计划列）")
            out.extend(f"  {c.line()}" for c in changes)
        summary = "，".join(f"{k} {v}" for k, v in self.counts().items())
        out.append(f"合计：{summary}")
        if self.risky:
            out.append(
                f"其中 {len(self.risky)} 项会删除或改变已存数据的含义，"
                '须确认并说明原因后才会写入（load_plan … --confirm --reason "…"）。'
            )
        return out

    def describe(self) -> str:
        return "\n".join(self.lines())
