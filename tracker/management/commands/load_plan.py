import getpass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tracker.plans.integrity import check_plan, unacknowledged
from tracker.plans.loader import (
    PlanChangeRefused,
    PlanFileError,
    load_plan,
    read_plan_file,
    write_keys,
)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a container
        return "未知"


class Command(BaseCommand):
    help = (
        "载入（或就地更新）一个民生实事计划文件，例如 fixtures/plan_2024.yaml；"
        "按 key 对应项目、量化目标和进度节点，先显示变更预览；会删除或改变已存数据含义的变更"
        "须 --confirm --reason 确认。计划以发布机关 + 年度区分，重复载入不产生变化。"
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="计划文件（YAML）路径")
        parser.add_argument(
            "--reorder",
            action="store_true",
            help="允许重新载入已有计划时调整列序（默认拒绝，以免列对调让数字移到别的单位）",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="只显示变更预览（新增、修改、删除及涉及的已存数据），不写入",
        )
        parser.add_argument(
            "--confirm",
            action="store_true",
            help="确认会删除或改变已存数据含义的变更（须同时用 --reason 说明原因）",
        )
        parser.add_argument("--reason", default="", help="变更原因，记入修改历史")
        parser.add_argument(
            "--user",
            default="",
            help="记入修改历史的用户名（默认不关联用户，记为「命令行」及系统用户名）",
        )
        parser.add_argument(
            "--derive-keys",
            action="store_true",
            help="按文件当前的序号和次序为缺少 key 的项目、量化目标和进度节点写入 key（改写文件），"
            "并显示与已载入计划的差异；不载入",
        )

    def handle(self, *args, path, reorder, dry_run, confirm, reason, user, derive_keys, **options):
        reason = reason.strip()
        if confirm and not reason:
            raise CommandError('--confirm 须同时用 --reason "…" 说明原因，原因记入修改历史。')
        account = None
        if user:
            account = get_user_model().objects.filter(username=user).first()
            if account is None:
                raise CommandError(f"找不到用户「{user}」。请用已有的用户名，或不写 --user。")
        try:
            if derive_keys:
                derived = write_keys(path)
                if derived:
                    self.stdout.write(f"已在 {path} 中写入 {len(derived)} 个 key：")
                    for line in derived:
                        self.stdout.write(f"  {line}")
                else:
                    self.stdout.write(f"{path} 已有全部 key，未改动。")
                dry_run = True
            if dry_run:
                summary = load_plan(read_plan_file(path), reorder=reorder, dry_run=True)
                self._preview(summary.changes)
                return
            history_reason = self._history_reason(path, reason, account)
            summary = load_plan(
                path, user=account, reorder=reorder, confirm=confirm, reason=history_reason
            )
        except PlanChangeRefused as exc:
            if exc.changes:
                self._preview(exc.changes)
            raise CommandError(str(exc)) from exc
        except PlanFileError as exc:
            raise CommandError(str(exc)) from exc
        plan_year = summary.plan_year
        self.stdout.write(f"{plan_year}：{summary.describe()}")
        if summary.changed and summary.changes:
            for line in summary.changes.lines():
                self.stdout.write(f"  {line}")
        for warning in summary.warnings:
            self.stdout.write(self.style.WARNING(f"请核对：{warning}"))
        findings = check_plan(plan_year)
        problems = unacknowledged(findings)
        acknowledged = len(findings) - len(problems)
        self.stdout.write(
            f"完整性检查：{len(problems)} 个问题，{acknowledged} 个已确认的原文不一致"
            "（详见 python manage.py check_plan）"
        )

    def _preview(self, changes):
        where = "已载入的计划" if changes.exists else "（尚未载入，将新建）"
        self.stdout.write(f"变更预览：{changes.year}年计划（{changes.issuer}）{where}")
        if not changes.keyed:
            self.stdout.write(
                self.style.WARNING(
                    f"文件缺少 {len(changes.derived_keys)} 个 key，以下按位置推导"
                    "（load_plan … --derive-keys 写入文件）"
                )
            )
        for line in changes.lines():
            self.stdout.write(f"  {line}")

    @staticmethod
    def _history_reason(path, reason, account) -> str:
        """「载入计划文件 plan_2024.yaml：原因（命令行，系统用户 deploy）」 in every history row."""
        who = "" if account else f"（命令行，系统用户 {_os_user()}）"
        return f"载入计划文件 {Path(path).name}" + (f"：{reason}" if reason else "") + who
