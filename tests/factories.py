"""Small factories for inline test data (the real 2024 plan has its own fixture)."""

from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from tracker.accounts.models import Role, UserProfile
from tracker.formats import plain
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.reference import Agency, Category, District, PlanYear
from tracker.progress.models import ProgressReport


class PlanYearFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanYear
        django_get_or_create = ("year",)

    year = 2024
    title = "市政府民生实事项目"


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    plan_year = factory.SubFactory(PlanYearFactory)
    order = factory.Sequence(lambda n: n + 1)
    name = factory.Sequence(lambda n: f"类别{n + 1}")


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"市测试局{n}")


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = District
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"d{n}")
    name = factory.Sequence(lambda n: f"测试区{n}")
    kind = District.Kind.DISTRICT
    order = factory.Sequence(lambda n: n + 100)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    plan_year = factory.SubFactory(PlanYearFactory)
    category = factory.SubFactory(CategoryFactory, plan_year=factory.SelfAttribute("..plan_year"))
    seq = factory.Sequence(lambda n: n + 1)
    name = factory.Sequence(lambda n: f"测试项目{n + 1}")
    city_leader = "市领导"
    lead_agency = factory.SubFactory(AgencyFactory)
    lead_agency_leader = "分管领导"
    deadline = date(2024, 11, 30)
    work_plan = "3月底前确定点位; 9月底前完成50%; 11月底全面完成。"


class IndicatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Indicator

    project = factory.SubFactory(ProjectFactory)
    order = 1
    label = factory.Sequence(lambda n: f"指标{n + 1}")
    unit = "个"
    target_value = Decimal(100)
    target_text = "100个"
    kind = Indicator.Kind.CUMULATIVE
    scope = Indicator.Scope.DISTRICTS


class QuotaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quota

    indicator = factory.SubFactory(IndicatorFactory)
    district = factory.SubFactory(DistrictFactory)
    value = Decimal(50)
    published_text = factory.LazyAttribute(lambda o: f"{plain(o.value)}个")


class MilestoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Milestone

    indicator = factory.SubFactory(IndicatorFactory)
    project = factory.SelfAttribute("indicator.project")
    due_date = date(2024, 9, 30)
    kind = Milestone.Kind.PERCENT
    value = Decimal(50)
    value_text = "50%"
    text = "9月底前完成50%"


class ProgressReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProgressReport

    indicator = factory.SubFactory(IndicatorFactory)
    district = factory.SubFactory(DistrictFactory)
    month = date(2024, 6, 1)
    value = Decimal(10)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pass-1234-word")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def make_user(username, role=None, agency=None, district=None, leader_name="", **extra):
    """A staff user with a tracker role (None for a user with no profile)."""
    user = UserFactory(username=username, **extra)
    if role is not None:
        UserProfile.objects.create(
            user=user, role=role, agency=agency, district=district, leader_name=leader_name
        )
    return user


__all__ = [
    "AgencyFactory",
    "CategoryFactory",
    "DistrictFactory",
    "IndicatorFactory",
    "MilestoneFactory",
    "PlanYearFactory",
    "ProgressReportFactory",
    "ProjectFactory",
    "QuotaFactory",
    "Role",
    "UserFactory",
    "make_user",
]
