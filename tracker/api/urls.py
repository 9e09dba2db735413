from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from tracker.api import completeness, health, views
from tracker.api.tokens import AuthTokenViewSet

router = DefaultRouter()
router.include_format_suffixes = False  # one URL per view: fewer to guard
router.register("plan-years", views.PlanYearViewSet, basename="planyear")
router.register("categories", views.CategoryViewSet, basename="category")
router.register("agencies", views.AgencyViewSet, basename="agency")
router.register("districts", views.DistrictViewSet, basename="district")
router.register("projects", views.ProjectViewSet, basename="project")
router.register("indicators", views.IndicatorViewSet, basename="indicator")
router.register("quotas", views.QuotaViewSet, basename="quota")
router.register("progress", views.ProgressReportViewSet, basename="progress")
router.register("alerts", views.LagAlertViewSet, basename="alert")
router.register("auth/tokens", AuthTokenViewSet, basename="authtoken")

app_name = "api"
urlpatterns = [
    path("v1/", include(router.urls)),
    path("v1/", include("tracker.api.review")),  # issue 15: explain, submit, review, attach
    path("v1/", include("tracker.api.supervision")),  # issue 32: 挂牌督办
    path("v1/auth/token/", views.TokenView.as_view(), name="token"),
    path("v1/summary/overview/", views.OverviewView.as_view(), name="summary-overview"),
    path("v1/summary/ranking/", views.RankingView.as_view(), name="summary-ranking"),
    path(
        "v1/summary/agency-ranking/",
        views.AgencyRankingView.as_view(),
        name="summary-agency-ranking",
    ),
    path(
        "v1/summary/districts/<slug:code>/", views.ScorecardView.as_view(), name="summary-district"
    ),
    path("v1/completeness/", completeness.CompletenessView.as_view(), name="completeness"),
    path("health/", health.health, name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (no inline script: CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
