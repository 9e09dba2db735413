"""Stable keys for projects, targets and milestones (P25, P25-T1, P25-M1), and a target's
direction. Stored plans get their keys derived once from today's positions, exactly as
``tracker.plans.loader.derive_keys`` derives them for a file without keys: a project from
its 序号, a target from its order, a milestone from the sentence it was read from (the
loader stores sentence i's rows with order i*100+k; rows after the first get 「.k+1」)."""

from django.db import migrations, models


def derive_keys(apps, schema_editor):
    Project = apps.get_model("tracker", "Project")
    Indicator = apps.get_model("tracker", "Indicator")
    Milestone = apps.get_model("tracker", "Milestone")
    seqs = dict(Project.objects.values_list("pk", "seq"))
    for pk, seq in seqs.items():
        Project.objects.filter(pk=pk).update(key=f"P{seq}")
    for pk, project_id, order in Indicator.objects.values_list("pk", "project_id", "order"):
        Indicator.objects.filter(pk=pk).update(key=f"P{seqs[project_id]}-T{order}")
    for pk, project_id, order in Milestone.objects.values_list("pk", "project_id", "order"):
        sentence, row = divmod(order, 100)
        suffix = f".{row + 1}" if row else ""
        Milestone.objects.filter(pk=pk).update(key=f"P{seqs[project_id]}-M{sentence + 1}{suffix}")


class Migration(migrations.Migration):
    dependencies = [
        ("tracker", "0011_a2_issued_notice"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalindicator",
            name="direction",
            field=models.CharField(
                choices=[("floor", "不低于（下限）"), ("ceiling", "不高于（上限）")],
                default="floor",
                help_text="不低于：达到或超过任务数为完成；不高于：如「失业率低于4.3%」，不超过为完成",
                max_length=10,
                verbose_name="方向",
            ),
        ),
        migrations.AddField(
            model_name="historicalindicator",
            name="key",
            field=models.CharField(
                default="",
                blank=True,
                help_text="计划文件中的 key（如 P25-T1），在计划内唯一，调整次序后不变。留空则按次序生成",
                max_length=40,
                verbose_name="标识",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="historicalmilestone",
            name="key",
            field=models.CharField(
                default="",
                blank=True,
                help_text="计划文件中节点的 key（如 P25-M1）；一句话给出多个数值时，其余为 P25-M1.2 …留空则按序次生成",
                max_length=40,
                verbose_name="标识",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="historicalproject",
            name="key",
            field=models.CharField(
                default="",
                blank=True,
                help_text="计划文件中的 key（如 P25），调整序号或次序后不变；载入时按它对应。留空则按序号生成",
                max_length=40,
                verbose_name="标识",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="indicator",
            name="direction",
            field=models.CharField(
                choices=[("floor", "不低于（下限）"), ("ceiling", "不高于（上限）")],
                default="floor",
                help_text="不低于：达到或超过任务数为完成；不高于：如「失业率低于4.3%」，不超过为完成",
                max_length=10,
                verbose_name="方向",
            ),
        ),
        migrations.AddField(
            model_name="indicator",
            name="key",
            field=models.CharField(
                default="",
                blank=True,
                help_text="计划文件中的 key（如 P25-T1），在计划内唯一，调整次序后不变。留空则按次序生成",
                max_length=40,
                verbose_name="标识",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="milestone",
            name="key",
            field=models.CharField(
                default="",
                blank=True,
                help_text="计划文件中节点的 key（如 P25-M1）；一句话给出多个数值时，其余为 P25-M1.2 …留空则按序次生成",
                max_length=40,
                verbose_name="标识",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="project",
            name="key",
            field=models.CharField(
                default="",
                blank=True,
                help_text="计划文件中的 key（如 P25），调整序号或次序后不变；载入时按它对应。留空则按序号生成",
                max_length=40,
                verbose_name="标识",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(derive_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="indicator",
            constraint=models.UniqueConstraint(
                fields=("project", "key"), name="indicator_unique_key"
            ),
        ),
        migrations.AddConstraint(
            model_name="milestone",
            constraint=models.UniqueConstraint(
                fields=("project", "key"), name="milestone_unique_key"
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.UniqueConstraint(
                fields=("plan_year", "key"), name="project_unique_key"
            ),
        ),
    ]
