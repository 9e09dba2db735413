"""Alerts become episodes (issue 12): one row per (indicator, district, kind) instead of
one per month, with a flip per status change and what recipients were told.

No production database exists yet, so the old per-month alert rows (and the digests
that referenced them) are dropped rather than converted; the next check re-derives the
episodes from the stored statuses (``LagEvaluation``), marking nothing as told.
"""

import datetime
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def drop_old_alerts(apps, schema_editor):
    """Per-month alert rows cannot be turned into episodes faithfully: drop them."""
    for name in ("Delivery", "Notification", "HistoricalLagAlert", "LagAlert"):
        apps.get_model("tracker", name).objects.all().delete()


class Migration(migrations.Migration):
    # The deletion commits on its own first: PostgreSQL refuses ALTER TABLE on a table
    # with pending (deferred) foreign-key trigger events in the same transaction.
    atomic = False
    dependencies = [
        ("tracker", "0002_i16_plans"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_old_alerts, migrations.RunPython.noop, atomic=True),
        migrations.CreateModel(
            name="LagAlertFlip",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField(verbose_name="依据月份")),
                ("old_status", models.CharField(blank=True, max_length=20, verbose_name="原状态")),
                (
                    "new_status",
                    models.CharField(
                        choices=[
                            ("open", "待处理"),
                            ("acknowledged", "已确认"),
                            ("escalated", "已升级"),
                            ("resolved", "已解除"),
                            ("superseded", "已撤销（数据更正）"),
                        ],
                        max_length=20,
                        verbose_name="新状态",
                    ),
                ),
                (
                    "at",
                    models.DateTimeField(default=django.utils.timezone.now, verbose_name="时间"),
                ),
                ("why", models.CharField(blank=True, max_length=200, verbose_name="原因")),
            ],
            options={
                "verbose_name": "预警状态变化",
                "verbose_name_plural": "预警状态变化",
                "ordering": ["alert", "at", "pk"],
            },
        ),
        migrations.RemoveConstraint(
            model_name="lagalert",
            name="lag_alert_unique_key",
        ),
        migrations.RemoveField(
            model_name="historicallagalert",
            name="notified_revision",
        ),
        migrations.RemoveField(
            model_name="historicallagalert",
            name="revision",
        ),
        migrations.RemoveField(
            model_name="lagalert",
            name="notified_revision",
        ),
        migrations.RemoveField(
            model_name="lagalert",
            name="revision",
        ),
        migrations.AddField(
            model_name="contact",
            name="webhook_format",
            field=models.CharField(
                choices=[
                    ("json", "通用 JSON"),
                    ("dingtalk", "钉钉/浙政钉机器人"),
                    ("wecom", "企业微信机器人"),
                ],
                default="json",
                help_text="通用 JSON，或钉钉/浙政钉、企业微信群机器人（Markdown 消息）",
                max_length=20,
                verbose_name="Webhook 格式",
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="last_error_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="最近错误时间"),
        ),
        migrations.AddField(
            model_name="historicalcontact",
            name="webhook_format",
            field=models.CharField(
                choices=[
                    ("json", "通用 JSON"),
                    ("dingtalk", "钉钉/浙政钉机器人"),
                    ("wecom", "企业微信机器人"),
                ],
                default="json",
                help_text="通用 JSON，或钉钉/浙政钉、企业微信群机器人（Markdown 消息）",
                max_length=20,
                verbose_name="Webhook 格式",
            ),
        ),
        migrations.AddField(
            model_name="historicallagalert",
            name="last_month",
            field=models.DateField(
                default=datetime.date(2024, 1, 1),
                help_text="数字和说明所依据的月份",
                verbose_name="最近评估月份",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="historicallagalert",
            name="notified_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="最近通知时间"),
        ),
        migrations.AddField(
            model_name="historicallagalert",
            name="notified_level",
            field=models.PositiveSmallIntegerField(
                choices=[(0, "区、县(市)"), (1, "牵头单位"), (2, "市政府督查室")],
                default=0,
                verbose_name="已通知督办层级",
            ),
        ),
        migrations.AddField(
            model_name="historicallagalert",
            name="notified_state",
            field=models.CharField(
                blank=True,
                choices=[("", "未通知"), ("open", "已通知（未解除）"), ("closed", "已通知解除")],
                default="",
                max_length=10,
                verbose_name="已通知状态",
            ),
        ),
        migrations.AddField(
            model_name="lagalert",
            name="last_month",
            field=models.DateField(
                default=datetime.date(2024, 1, 1),
                help_text="数字和说明所依据的月份",
                verbose_name="最近评估月份",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="lagalert",
            name="notified_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="最近通知时间"),
        ),
        migrations.AddField(
            model_name="lagalert",
            name="notified_level",
            field=models.PositiveSmallIntegerField(
                choices=[(0, "区、县(市)"), (1, "牵头单位"), (2, "市政府督查室")],
                default=0,
                verbose_name="已通知督办层级",
            ),
        ),
        migrations.AddField(
            model_name="lagalert",
            name="notified_state",
            field=models.CharField(
                blank=True,
                choices=[("", "未通知"), ("open", "已通知（未解除）"), ("closed", "已通知解除")],
                default="",
                max_length=10,
                verbose_name="已通知状态",
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="open_count",
            field=models.PositiveIntegerField(default=0, verbose_name="仍未解除"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="last_error",
            field=models.TextField(
                blank=True, help_text="成功后仍保留，便于排查", verbose_name="最近错误"
            ),
        ),
        migrations.AlterField(
            model_name="historicallagalert",
            name="month",
            field=models.DateField(
                help_text="成为问题的第一个月（该月第一天）", verbose_name="开始月份"
            ),
        ),
        migrations.AlterField(
            model_name="lagalert",
            name="month",
            field=models.DateField(
                help_text="成为问题的第一个月（该月第一天）", verbose_name="开始月份"
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="alerts",
            field=models.ManyToManyField(
                blank=True,
                related_name="notifications",
                to="tracker.lagalert",
                verbose_name="所含预警（有变化的）",
            ),
        ),
        migrations.AddIndex(
            model_name="lagalert",
            index=models.Index(
                fields=["indicator", "district", "kind"], name="tracker_lag_indicat_36b7bf_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="lagalert",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ("open", "acknowledged", "escalated"))),
                fields=("indicator", "district", "kind"),
                name="lag_alert_one_open_episode",
            ),
        ),
        migrations.AddField(
            model_name="lagalertflip",
            name="alert",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="flips",
                to="tracker.lagalert",
                verbose_name="预警",
            ),
        ),
    ]
