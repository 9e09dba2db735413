"""``python -m bench.save [--rounds 7] [--requests 10]``: the save path and its re-evaluation.

Builds a scratch database (SQLite under ``var/``, or with ``DATABASE_URL`` set the test
database of that server, named by ``--database-name``) with the 2024 plan and a simulated
year through September, then measures, in one run:

1. **A district's whole month** (淳安县, every cell it reports, 49 on the 2024 plan) saved
   through the one write path (``progress.writes.submit``), once with the re-evaluation of
   its stored cells (``monitoring.current``, the receiver of ``figures_changed``) and once
   without it (the receiver disconnected), alternately, ``--rounds`` times each; for
   September (the last evaluated month: one month re-evaluated) and for June (June to
   September re-evaluated). Prints the medians and the ratio beside its floor (≤ 1.5×).
2. **The save request with 4 concurrent users**: four districts post their whole month
   to the 本月填报 page (``/report/2024-09/``, Django's test client, one thread and one
   database connection each) ``--requests`` times each, at the same time. Prints p50/p95.
3. **A quota correction**: one quota changed and ``plans.signals.plan_changed`` sent for
   its indicator (every stored month of its cells re-evaluated). Then **reloading the
   whole 2024 plan** (``load_plan`` of the file: unchanged, with one quota of every target
   corrected, and restored) beside one scheduled check of September (``run_lag_check``),
   alternately, floor ≤ 1.0× for the file reloaded as it is; the reloads carrying
   corrections, and every target's cells re-evaluated with no result changed, for
   reference.

The figures move with the machine's load; compare the ratios measured in the same run.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from statistics import median

from django.core.management.base import BaseCommand
from django.db import connection, connections

ROOT = Path(__file__).resolve().parent.parent
SAVE_FLOOR = 1.5  # re-evaluation on: at most this × the same saves without it
QUOTA_FLOOR = 1.0  # seconds: one quota correction re-evaluates its cells well under this


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def _verdict(met: bool) -> str:
    return "达标" if met else "未达标"


class Command(BaseCommand):
    help = __doc__.split("\n")[0]

    def add_arguments(self, parser):
        parser.add_argument("--rounds", type=int, default=7)
        parser.add_argument("--requests", type=int, default=10)
        parser.add_argument("--database-name", default="bench_save")
        parser.add_argument("--seed", type=int, default=2024)

    def handle(self, *args, **o):
        db = connection.settings_dict
        if connection.vendor == "sqlite":  # a file: the concurrent users share it
            scratch = ROOT / "var" / "bench_save.sqlite3"
            scratch.parent.mkdir(exist_ok=True)
            scratch.unlink(missing_ok=True)
            db.setdefault("TEST", {})["NAME"] = str(scratch)
            db.setdefault("OPTIONS", {})["timeout"] = 60
        else:
            db.setdefault("TEST", {})["NAME"] = o["database_name"]
        old_name = db["NAME"]
        self.stdout.write(f"临时数据库（{connection.vendor}）创建中…")
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            self._run(o)
        finally:
            connections.close_all()
            connection.creation.destroy_test_db(old_name, verbosity=0)

    # --- data ----------------------------------------------------------------------------

    def _build(self, seed):
        from tracker.accounts.models import Role, UserProfile
        from tracker.demo.simulation import simulate_year
        from tracker.plans.loader import load_plan, read_plan_file

        started = time.perf_counter()
        plan = load_plan(read_plan_file(ROOT / "fixtures" / "plan_2024.yaml")).plan_year
        simulate_year(2024, seed=seed, through=date(2024, 9, 1))
        from django.contrib.auth import get_user_model

        from tracker.plans.reference import District

        users = []
        for name in ("淳安县", "临安区", "建德市", "桐庐县"):
            district = District.objects.get(name=name)
            user = get_user_model().objects.create_user(f"bench-{district.code}", password="x")
            UserProfile.objects.create(user=user, role=Role.DISTRICT, district=district)
            users.append((user, district))
        self.stdout.write(
            f"数据：2024 年计划，模拟至 9 月，用时 {time.perf_counter() - started:.1f} s"
        )
        return plan, users

    def _entries(self, user, district, month: date, up: bool):
        """Every cell the district reports for ``month``, each changed by one (up or
        down from its current value, within its limits), marked 更正 so any value is
        accepted; its reason names the direction (a correction must not repeat the reason
        stored with the last one, and the saves alternate up and down)."""
        from tracker.progress.models import ProgressReport
        from tracker.progress.workbooks import month_sheet
        from tracker.progress.writes import Entry

        sheet = month_sheet(user, month, district_id=district.pk)
        current = {
            (r.indicator_id, r.district_id): r.value
            for r in ProgressReport.objects.filter(district=district, month=month)
        }
        reason = "基准测试（调高）" if up else "基准测试（调低）"
        entries = []
        for row in sheet.rows:
            if row.locked:
                continue
            now = current.get((row.indicator.pk, row.district.pk), Decimal(0))
            value = now + 1 if up else now - 1
            if value < 0 or (row.indicator.is_level and value > 100):
                value = now - 1 if up else now + 1
            entries.append(Entry(
                row.indicator.pk, row.district.pk, month, str(value), is_correction=True,
                correction_reason=reason, confirmed=True, row=row.number,
            ))  # fmt: skip
        return sheet, entries

    # --- the measurements -------------------------------------------------------------

    def _run(self, o):
        from tracker.monitoring import current
        from tracker.progress.signals import figures_changed

        plan, users = self._build(o["seed"])
        chunan_user, chunan = users[0]

        from tracker.progress.writes import Source, submit

        self.stdout.write("\n1. 淳安县整月保存（一次提交全部单元格）")
        for month in (date(2024, 9, 1), date(2024, 6, 1)):
            times = {"on": [], "off": []}
            for _round in range(o["rounds"]):
                for mode in ("off", "on"):  # up, then back down: every save changes every cell
                    _sheet, entries = self._entries(chunan_user, chunan, month, mode == "off")
                    if mode == "off":
                        figures_changed.disconnect(dispatch_uid="tracker_reevaluate_figures")
                    try:
                        start = time.perf_counter()
                        result = submit(chunan_user, entries, source=Source.MONTHLY_PAGE)
                        times[mode].append(time.perf_counter() - start)
                    finally:
                        current.connect()
                    assert len(result.updated) + len(result.created) == len(entries)
            on, off = median(times["on"]), median(times["off"])
            ratio = on / off
            fastest = min(times["on"]) / min(times["off"])
            self.stdout.write(
                f"  {month.month} 月（{len(entries)} 格，重新评估 {month.month}—9 月）："
                f"不重新评估 {_ms(off)}，重新评估 {_ms(on)}（中位数），"
                f"比值 {ratio:.2f}×（底线 ≤ {SAVE_FLOOR}×）{_verdict(ratio <= SAVE_FLOOR)}；"
                f"最快一次之比 {fastest:.2f}×"
            )
        self._concurrent(users, o["requests"])
        self._quota(plan, chunan)

    def _concurrent(self, users, requests):
        from django.test import Client

        from tracker.months import format_month

        month = date(2024, 9, 1)
        self.stdout.write(f"\n2. 4 个区县同时整月保存（本月填报页面，各 {requests} 次）")
        forms = {}
        for user, district in users:
            variants = []
            for up in (True, False):
                sheet, entries = self._entries(user, district, month, up)
                keys = {(r.indicator.pk, r.district.pk): r.key for r in sheet.rows}
                data = {}
                for e in entries:
                    k = keys[(e.indicator_id, e.district_id)]
                    data.update({
                        f"value-{k}": e.value, f"correction-{k}": "on",
                        f"reason-{k}": e.correction_reason, f"confirm-{k}": "on",
                    })  # fmt: skip
                variants.append(data)
            forms[user.pk] = variants
        connections.close_all()
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        url = f"/report/{format_month(month)}/"

        def user_loop(user):
            client = Client(HTTP_HOST="127.0.0.1")
            client.force_login(user)
            for i in range(requests):
                start = time.perf_counter()
                response = client.post(url, forms[user.pk][i % 2])
                took = time.perf_counter() - start
                with lock:
                    latencies.append(took)
                    if response.status_code not in (200, 302):
                        errors.append(str(response.status_code))
            connections.close_all()

        threads = [threading.Thread(target=user_loop, args=(u,)) for u, _d in users]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        latencies.sort()
        p50 = latencies[len(latencies) // 2]
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        self.stdout.write(
            f"  {len(latencies)} 次保存，用时 {wall:.1f} s：p50 {_ms(p50)}，p95 {_ms(p95)}"
            + (f"；出错 {len(errors)} 次（{', '.join(sorted(set(errors)))}）" if errors else "")
        )

    def _quota(self, plan, chunan):
        from tracker.monitoring.checks import run_lag_check
        from tracker.monitoring.current import on_plan_changed
        from tracker.plans.models import Quota
        from tracker.plans.signals import plan_changed

        self.stdout.write("\n3. 计划更正")
        quota = (
            Quota.objects.filter(district=chunan, indicator__project__plan_year=plan, value__gt=0)
            .order_by("indicator_id")
            .first()
        )
        times = []
        for i in range(6):  # up and down: the plan ends as the file has it
            quota.value += 1 if i % 2 == 0 else -1
            start = time.perf_counter()
            quota.save()
            plan_changed.send(
                sender=Quota, plan=plan, indicator_ids=[quota.indicator_id], project_ids=[]
            )
            times.append(time.perf_counter() - start)
        took = median(times)
        self.stdout.write(
            f"  一个任务数更正（该指标各区县 1—9 月重新评估）：{_ms(took)}"
            f"（底线 < {QUOTA_FLOOR:.0f} s）{_verdict(took < QUOTA_FLOOR)}"
        )
        self._reload(plan, on_plan_changed, run_lag_check)

    def _reload(self, plan, on_plan_changed, run_lag_check, rounds: int = 5):
        """The whole 2024 file loaded again (``load_plan``: read, validate, compare, write,
        re-evaluate), unchanged and with one quota of every target corrected, beside one
        scheduled check of September (``run_lag_check``, alerts and digests included),
        alternately; and every target's cells re-evaluated (what a file changing every
        target sends). Medians of wall time and of this process's CPU time."""
        from tracker.plans.loader import load_plan, read_plan_file
        from tracker.plans.models import Quota

        path = ROOT / "fixtures" / "plan_2024.yaml"
        corrected, n = _corrected(read_plan_file(path))
        runs = {
            "reload": lambda: load_plan(path),
            "corrected": lambda: load_plan(corrected, confirm=True, reason="基准测试：任务数更正"),
            "restored": lambda: load_plan(path, confirm=True, reason="基准测试：恢复原文"),
            "whole": lambda: on_plan_changed(Quota, plan=plan, indicator_ids=None, project_ids=[]),
            "check": lambda: run_lag_check(date(2024, 9, 1)),
        }
        wall: dict[str, list[float]] = {k: [] for k in runs}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        for _round in range(rounds):
            for name, call in runs.items():
                w, c = time.perf_counter(), time.process_time()
                call()
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
        check_wall, check_cpu = median(wall["check"]), median(cpu["check"])
        labels = {
            "reload": "重新载入 2024 年计划文件（未改动）",
            "corrected": f"重新载入（{n} 个任务数更正，各一格重新评估）",
            "restored": f"重新载入（{n} 个任务数改回）",
            "whole": "整个计划全部指标重新评估（1—9 月，无结果变化）",
        }
        self.stdout.write(
            f"  一次定时检查（9 月，含预警和汇总）：{_ms(check_wall)}，CPU {_ms(check_cpu)}"
        )
        for name, label in labels.items():
            ratio = median(wall[name]) / check_wall
            # The floor is for reloading the plan file. A file carrying corrections does, in
            # addition, what they do (history, their cells re-evaluated): shown beside it.
            floor = name == "reload"
            verdict = f"（底线 ≤ 1.0×）{_verdict(ratio <= 1.0)}" if floor else ""
            self.stdout.write(
                f"  {label}：{_ms(median(wall[name]))}，CPU {_ms(median(cpu[name]))}，"
                f"为定时检查的 {ratio:.2f}×（CPU {median(cpu[name]) / check_cpu:.2f}×）{verdict}"
            )


def _corrected(data: dict) -> tuple[dict, int]:
    """``data`` with the first positive quota of every target one unit higher."""
    import copy

    data = copy.deepcopy(data)
    n = 0
    for project in data["projects"]:
        for target in project.get("indicators") or []:
            quotas = target.get("quotas")
            for i, text in enumerate(quotas if isinstance(quotas, list) else []):
                number, _, unit = str(text).partition(" ")
                try:
                    value = Decimal(number)
                except ArithmeticError:
                    continue
                if value > 1:
                    quotas[i] = f"{value + 1} {unit}".strip()
                    n += 1
                    break
    return data, n


def run(argv=None) -> None:
    """``python -m bench.save …``: the command under the benchmark's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    Command().run_from_argv(["bench.save", "bench_save", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    run()
