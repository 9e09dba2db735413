"""``python -m bench.lag --districts N --indicators M --months 12``: lag-check benchmark.

Builds a synthetic plan (M cumulative indicators, each split over N districts, on a
30/60/100% plan) and M × N × months monthly reports in a *scratch* database (the test
database of the configured backend, named by ``--database-name``; its schema is built
by the migrations, as deployed), then measures one month:

- ``evaluate_month``: wall time, queries, peak Python memory (tracemalloc, separate run),
  given the plan read once for it and the floor (the plan's read is printed apart);
- the whole ``run_lag_check`` (statuses stored, alerts with history, digests recorded,
  nothing sent; cells streamed by indicator batches and not kept): wall time, queries,
  and where the time goes (``Phases``: evaluate, store the statuses, sync the
  episodes, record the digests);
- the floor: one bare SQL statement computing the same statuses (latest report per
  cell with a window function, the expected fraction per indicator inlined), timed,
  with the number of cells on which it agrees with the engine; and the write floor, the
  same statement as one ``INSERT … SELECT … ON CONFLICT`` into the statuses table;
- peak RSS of the process (``resource.getrusage``) right after the whole check.

January to the month before are checked first, untimed, each as of its own check day
(``--before previous``: the month before only), so streaks and alerts look like a real
run. On PostgreSQL the data is loaded with COPY; 3000 × 60 × 12 takes a few minutes.
"""

import os
import random
import resource
import time
import tracemalloc
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from tracker.months import add_months
from tracker.plans.trajectory import expected_curve, load_indicator_plans

CURVE_MILESTONES = ((6, 30), (9, 60), (11, 100))  # 3月底 qualitative, then percent


class QueryCounter:
    """Counts statements; with ``BENCH_SLOW_SQL=1`` also times them (the slowest printed)."""

    def __init__(self):
        self.count = 0
        self.times: dict[str, float] = {}

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = sql[:90]
            self.times[key] = self.times.get(key, 0) + time.perf_counter() - start


@contextmanager
def measured():
    counter = QueryCounter()
    result = {}
    with connection.execute_wrapper(counter):
        start = time.perf_counter()
        yield result
        result["seconds"] = time.perf_counter() - start
    result["queries"] = counter.count
    if os.environ.get("BENCH_SLOW_SQL"):
        for sql, seconds in sorted(counter.times.items(), key=lambda x: -x[1])[:8]:
            print(f"    {seconds:7.2f} s  {sql}")


class Phases:
    """The whole check's time split by step: the steps ``run_lag_check`` calls through
    ``tracker.monitoring.checks`` are wrapped with timers while the block runs (this
    command only; the service is not instrumented)."""

    STEPS = {
        "evaluate_month": "评估",
        "save_evaluation": "存储状态",
        "sync_alerts": "同步预警（含历史、翻转）",
        "record_news": "生成通知（含标记已告知）",
    }

    def __init__(self):
        self.seconds = dict.fromkeys(self.STEPS, 0.0)

    @contextmanager
    def timing(self):
        from tracker.monitoring import checks as alerts

        real = {name: getattr(alerts, name) for name in self.STEPS}

        def timed(name):
            def call(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return real[name](*args, **kwargs)
                finally:
                    self.seconds[name] += time.perf_counter() - start

            return call

        for name in self.STEPS:
            setattr(alerts, name, timed(name))
        try:
            yield self
        finally:
            for name, function in real.items():
                setattr(alerts, name, function)

    def line(self, base: float, total: float) -> str:
        """Each step's time (÷ ``base``), then the rest of ``total``: reading the plan,
        the month's lock, the run's row and the commit."""
        parts = [(label, self.seconds[name]) for name, label in self.STEPS.items()]
        parts.append(("其余（读计划、加锁、提交）", total - sum(self.seconds.values())))
        return "，".join(f"{label} {sec:.2f} s（{sec / base:.1f}×）" for label, sec in parts)


class Command(BaseCommand):
    help = "在临时数据库中构造指定规模的计划与填报数据，测量一个月预警检查的耗时、查询数和内存。"

    def add_arguments(self, parser):
        parser.add_argument("--districts", type=int, default=100)
        parser.add_argument("--indicators", type=int, default=10)
        parser.add_argument("--months", type=int, default=12, help="填报数据覆盖的月数")
        parser.add_argument("--month", type=int, default=6, help="计时检查的月份（1—12）")
        parser.add_argument("--seed", type=int, default=2024)
        parser.add_argument("--database-name", default="bench_lag", help="临时数据库名")
        parser.add_argument("--keep", action="store_true", help="保留临时数据库以便复查")
        parser.add_argument(
            "--before",
            choices=("all", "previous"),
            default="all",
            help="计时前已检查的月份：all 为当年此前各月（按月例行检查的情形），"
            "previous 仅上月（年中首次检查后的下一个月）",
        )

    def handle(self, *args, **o):
        if not 2 <= o["month"] <= 12 or not 1 <= o["months"] <= 12:
            raise CommandError("--month 应在 2—12 之间，--months 应在 1—12 之间")
        if o["districts"] < 1 or o["indicators"] < 1:
            raise CommandError("--districts 和 --indicators 至少为 1")
        db = connection.settings_dict
        db.setdefault("TEST", {})["NAME"] = (
            o["database_name"] if connection.vendor != "sqlite" else None
        )
        old_name = db["NAME"]
        self.stdout.write(f"临时数据库（{connection.vendor}）创建中…")
        connection.creation.create_test_db(
            verbosity=0, autoclobber=True, serialize=False, keepdb=o["keep"]
        )
        try:
            self._run(o)
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=o["keep"])

    # --- data --------------------------------------------------------------------------

    def _run(self, o):
        n, m, months = o["districts"], o["indicators"], o["months"]
        started = time.perf_counter()
        self._build(n, m, months, o["seed"])
        build_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        self.stdout.write(
            f"数据：{n} 个区 × {m} 个指标 × {months} 个月 = {n * m * months} 条填报，"
            f"构造用时 {time.perf_counter() - started:.1f} s"
        )
        from tracker.monitoring.checks import run_lag_check
        from tracker.monitoring.evaluation import evaluate_month

        month = date(2024, o["month"], 1)
        as_of = self._check_day(o["month"])
        # The months before are checked first, untimed, each as of its own check day, as
        # the monthly schedule does (``--before previous``: the month before only).
        first = 1 if o["before"] == "all" else o["month"] - 1
        before = time.perf_counter()
        for mm in range(first, o["month"]):
            earlier = date(2024, mm, 1)
            run_lag_check(earlier, as_of=self._check_day(mm), deliver=False, keep_cells=False)
        self.stdout.write(
            f"此前已检查 2024-{first:02d} 至 2024-{o['month'] - 1:02d}（各按其检查日，"
            f"不计时，用时 {time.perf_counter() - before:.1f} s）"
        )

        # The whole check first, as the scheduled task runs it (cells streamed by batches,
        # not kept): its peak RSS is read before this command holds a month of cells.
        phases = Phases()
        with measured() as check_stats, phases.timing():
            result = run_lag_check(
                month, as_of=as_of, deliver=False, keep_cells=False,
                notify=not os.environ.get("BENCH_NO_DIGESTS"),
            )  # fmt: skip
        check_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        # The plan (curves, milestones, quotas) is read once and given to the floor and
        # to evaluate_month alike: both figures compare the same work on the same input.
        with measured() as plan_stats:
            plans = load_indicator_plans(year=month.year)
        with measured() as floor_stats:
            floor = self._floor(month, as_of, plans)
        with measured() as write_stats:
            written = self._write_floor(month, as_of, plans)

        with measured() as ev_stats:
            evaluation = evaluate_month(month, as_of=as_of, plans=plans)
        cells = len(evaluation.cells)
        del evaluation
        tracemalloc.start()
        evaluation = evaluate_month(month, as_of=as_of, plans=plans)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        engine = {(c.indicator_id, c.district_id): str(c.status) for c in evaluation.cells}
        del evaluation
        agree = sum(1 for key, status in floor if engine.get(key) == status)

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        counts = result.evaluation.status_counts()
        base = floor_stats["seconds"]
        w = self.stdout.write
        w(f"检查月份 {month:%Y-%m}（数据库 {connection.vendor}，{cells} 个单元）")
        w(
            f"  evaluate_month      {ev_stats['seconds']:8.2f} s  {ev_stats['queries']:4d} 次查询"
            f"  {ev_stats['seconds'] / base:5.1f}× 下限  Python 峰值内存 {peak / 2**20:.1f} MiB"
        )
        w(
            f"  run_lag_check 全程  {check_stats['seconds']:8.2f} s  "
            f"{check_stats['queries']:4d} 次查询  {check_stats['seconds'] / base:5.1f}× 下限  "
            f"预警 {result.changes.counts()}，通知 {len(result.notifications)} 份"
        )
        w(f"    其中：{phases.line(base, check_stats['seconds'])}")
        w(
            f"  裸 SQL 下限         {base:8.2f} s  "
            f"{floor_stats['queries']:4d} 次查询  与引擎一致 {agree}/{len(floor)}"
        )
        w(
            f"  读取计划            {plan_stats['seconds']:8.2f} s  "
            f"{plan_stats['queries']:4d} 次查询  （下限与 evaluate_month 共用，均不计入）"
        )
        w(
            f"  写入下限            {write_stats['seconds']:8.2f} s  "
            f"{write_stats['queries']:4d} 次查询  （INSERT … SELECT … ON CONFLICT，{written} 行）"
        )
        w("  状态分布：" + "，".join(f"{k.label} {v}" for k, v in sorted(counts.items())))
        w(
            f"  进程最大常驻内存：构造数据后 {build_rss:.0f} MiB，检查后 {check_rss:.0f} MiB，"
            f"全部结束时 {maxrss:.0f} MiB"
        )

    def _build(self, n, m, months, seed):
        from tracker.accounts.models import Role
        from tracker.notifications.models import Contact
        from tracker.plans.models import Indicator, Milestone, Project, Quota
        from tracker.plans.reference import Agency, Category, District, PlanYear
        from tracker.progress.models import ProgressReport

        rng = random.Random(seed)
        plan_year = PlanYear.objects.create(year=2024, title="基准测试计划")
        category = Category.objects.create(plan_year=plan_year, order=1, name="基准类别")
        agencies = Agency.objects.bulk_create(
            [Agency(name=f"基准单位{i}") for i in range(max(1, m // 3))]
        )
        districts = District.objects.bulk_create(
            [
                District(code=f"b{i}", name=f"基准区{i}", kind=District.Kind.DISTRICT, order=i + 1)
                for i in range(n)
            ],
            batch_size=1000,
        )
        projects = Project.objects.bulk_create(
            [
                Project(
                    plan_year=plan_year,
                    category=category,
                    seq=i + 1,
                    key=f"P{i + 1}",
                    name=f"基准项目{i + 1}",
                    city_leader="市领导",
                    lead_agency=agencies[i % len(agencies)],
                    lead_agency_leader="分管领导",
                    deadline=date(2024, 11, 30),
                    work_plan="3月底确定点位；6月底30%；9月底60%；11月底全面完成",
                )
                for i in range(m)
            ]
        )
        quotas = {
            (p.pk, d.pk): rng.randint(10, 500) for p in projects for d in districts
        }  # keyed by project while indicators are created
        indicators = Indicator.objects.bulk_create(
            [
                Indicator(
                    project=p,
                    order=1,
                    key=f"{p.key}-T1",
                    label=f"基准指标{p.seq}",
                    unit="个",
                    target_value=Decimal(sum(quotas[(p.pk, d.pk)] for d in districts)),
                    kind=Indicator.Kind.CUMULATIVE,
                )
                for p in projects
            ]
        )
        milestones = []
        for p, ind in zip(projects, indicators, strict=True):
            milestones.append(
                Milestone(
                    project=p,
                    key=f"{p.key}-M1",
                    due_date=date(2024, 3, 31),
                    kind="qualitative",
                    text="确定点位",
                )
            )
            for k, (mm, pct) in enumerate(CURVE_MILESTONES, start=1):
                due = add_months(date(2024, mm, 1), 1) - timedelta(days=1)
                milestones.append(
                    Milestone(
                        project=p,
                        indicator=ind,
                        due_date=due,
                        kind="percent",
                        value=Decimal(pct),
                        text=f"{mm}月底完成{pct}%",
                        order=k,
                        key=f"{p.key}-M{k + 1}",
                    )
                )
        Milestone.objects.bulk_create(milestones)
        quota_rows = [
            (ind.pk, d.pk, quotas[(p.pk, d.pk)])
            for p, ind in zip(projects, indicators, strict=True)
            for d in districts
        ]
        self._load(
            Quota,
            ["indicator_id", "district_id", "value", "published_text"],
            ((*row, "") for row in quota_rows),
        )

        any_plan = next(iter(load_indicator_plans(plan_year).values()))
        curve = [p.fraction or 0 for p in expected_curve(any_plan)]  # same for every indicator
        report_rows = self._reports(rng, quota_rows, curve, months)
        self._load(
            ProgressReport,
            [
                "indicator_id", "district_id", "month", "value", "note", "is_correction",
                "correction_reason", "reported_at", "created_at", "version",
            ],
            report_rows,
        )  # fmt: skip
        if connection.vendor != "postgresql":  # bulk_create stamped auto_now(_add) fields
            for mm in range(1, months + 1):
                filed = self._filed(mm)
                ProgressReport.objects.filter(month=date(2024, mm, 1)).update(
                    created_at=filed, reported_at=filed
                )
        Contact.objects.bulk_create(
            [Contact(name=a.name, role=Role.AGENCY, agency=a, email="a@bench.cn") for a in agencies]
            + [
                Contact(name=d.name, role=Role.DISTRICT, district=d, email="d@bench.cn")
                for d in districts
            ],
            batch_size=1000,
        )

    @staticmethod
    def _reports(rng, quota_rows, curve, months):
        """Per cell a profile: most on pace, some behind, a few far behind, some silent."""
        for indicator_id, district_id, quota in quota_rows:
            r = rng.random()
            if r < 0.70:
                factor = rng.uniform(0.97, 1.2)
            elif r < 0.85:
                factor = rng.uniform(0.72, 0.88)
            elif r < 0.95:
                factor = rng.uniform(0.3, 0.6)
            else:
                factor = rng.uniform(0.9, 1.1)
            silent = r >= 0.95
            value = 0
            for mm in range(1, months + 1):
                value = max(value, round(quota * float(curve[mm - 1]) * factor))
                if silent and rng.random() < 0.5:
                    continue  # this month not reported
                filed = Command._filed(mm)
                yield (
                    indicator_id, district_id, date(2024, mm, 1), value, "", False, "",
                    filed, filed, 1,
                )  # fmt: skip

    @staticmethod
    def _check_day(mm):
        """The scheduled check of month ``mm``: the 6th of the next month, 9:00."""
        return timezone.make_aware(datetime(2024 + mm // 12, mm % 12 + 1, 6, 9))

    @staticmethod
    def _filed(mm):
        """Reports for month ``mm`` are filed on the 3rd of the next month (on time)."""
        return timezone.make_aware(datetime(2024 + mm // 12, mm % 12 + 1, 3, 10))

    @staticmethod
    def _load(model, columns, rows):
        table = model._meta.db_table
        if connection.vendor == "postgresql":
            cols = ", ".join(columns)
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        batch = []
        for row in rows:
            values = dict(zip(columns, row, strict=True))
            batch.append(model(**values))
            if len(batch) >= 5000:
                model.objects.bulk_create(batch)
                batch = []
        if batch:
            model.objects.bulk_create(batch)

    # --- the floor ---------------------------------------------------------------------

    def _floor(self, month, as_of, plans):
        """One statement: latest report per cell, compared with quota × city fraction."""
        sql, params = self._floor_sql(month, as_of, plans)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [((i, d), s) for i, d, s, *_rest in cursor.fetchall()]

    def _write_floor(self, month, as_of, plans):
        """The write floor: one ``INSERT … SELECT … ON CONFLICT`` storing the floor's
        statuses (with quota, actual and reported month) as ``LagEvaluation`` rows."""
        select, params = self._floor_sql(month, as_of, plans)
        table = "tracker_lagevaluation"
        sql = f"""
        INSERT INTO {table} (indicator_id, district_id, status, quota, actual, reported_month,
            month, on_time, is_checkpoint, at_risk, streak, run_number, evaluated_at)
        SELECT f.*, %s, false, false, false, 0, 0, %s FROM ({select}) f WHERE true
        ON CONFLICT (indicator_id, district_id, month) DO UPDATE SET
            status = excluded.status, quota = excluded.quota, actual = excluded.actual,
            reported_month = excluded.reported_month, evaluated_at = excluded.evaluated_at
        """
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(sql, [month, adapt(timezone.now()), *params])
            return cursor.rowcount

    def _floor_sql(self, month, as_of, plans):
        from tracker.calendar import reporting_deadline
        from tracker.monitoring.rules import Thresholds

        t = Thresholds.from_settings()
        values, params = [], []
        for pk, plan in plans.items():
            point = expected_curve(plan)[month.month - 1]
            values.append("(%s, %s, %s)")
            params += [pk, float(point.fraction or 0), 1 if point.is_checkpoint else 0]
        deadline = reporting_deadline(month)
        adapt = connection.ops.adapt_datetimefield_value
        sql = f"""
        WITH fr(indicator_id, frac, chk) AS (VALUES {", ".join(values)}),
        latest AS (
            SELECT r.indicator_id, r.district_id, r.value, r.month, r.created_at,
                   ROW_NUMBER() OVER (
                       PARTITION BY r.indicator_id, r.district_id ORDER BY r.month DESC
                   ) AS rn
            FROM tracker_progressreport r
            WHERE r.month <= %s AND r.created_at <= %s
        )
        SELECT q.indicator_id, q.district_id,
            CASE
                WHEN q.value * fr.frac <= 0 THEN 'not_due'
                WHEN l.value IS NULL OR l.month <> %s OR l.created_at > %s THEN 'not_reported'
                WHEN (q.value * fr.frac - l.value) * 100 / q.value > %s THEN 'seriously_behind'
                WHEN (q.value * fr.frac - l.value) * 100 / q.value >= %s THEN
                    CASE WHEN fr.chk = 1 THEN 'seriously_behind' ELSE 'behind' END
                ELSE 'on_track'
            END,
            q.value, l.value, l.month
        FROM tracker_quota q
        JOIN fr ON fr.indicator_id = q.indicator_id
        LEFT JOIN latest l
            ON l.indicator_id = q.indicator_id AND l.district_id = q.district_id AND l.rn = 1
        WHERE q.value > 0
        """
        params += [month, adapt(as_of), month, adapt(deadline), float(t.red), float(t.yellow)]
        return sql, params


def run(argv=None) -> None:
    """``python -m bench.lag …``: the command under the benchmark's settings."""
    import os
    import sys

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    Command().run_from_argv(["bench.lag", "bench_lag", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    run()
