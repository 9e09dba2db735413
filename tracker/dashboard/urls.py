"""Server-rendered dashboard pages, and the login/logout pages they send people to."""

from django.contrib.auth import views as auth_views
from django.urls import path

from tracker.dashboard import (
    completeness,
    entry,
    evidence,
    review,
    supervision,
    views,
    work,
    workbook,
)

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("matrix/", views.matrix, name="matrix"),
    path("matrix/<int:indicator_id>/<int:district_id>/", views.cell, name="cell"),
    path("ranking/", views.ranking, name="ranking"),
    path("districts/<slug:code>/", views.district, name="district"),
    path("projects/<int:seq>/", views.project, name="project"),
    path("my/", work.my_work, name="my_work"),
    path("report/", entry.report_current, name="report_current"),
    path("report/<str:month>/", entry.report, name="report"),
    path("notice/", views.notice_latest, name="notice_latest"),
    path("notice/<str:month>/", views.notice, name="notice"),
    path("notice/<str:month>/xlsx/", views.notice_xlsx, name="notice_xlsx"),
    path("notice/<str:month>/pdf/", views.notice_pdf, name="notice_pdf"),
    # explain and review (issue 15): tracker/dashboard/review.py
    path("review/", review.review_states, name="review_states"),
    path("review/act/", review.review_act, name="review_act"),
    path("review/bulk/", review.review_bulk, name="review_bulk"),
    path(
        "review/indicator/<int:indicator_id>/<str:month>/",
        review.review_indicator,
        name="review_indicator",
    ),
    path("review/<slug:code>/<str:month>/", review.review_month, name="review_month"),
    path(
        "matrix/<int:indicator_id>/<int:district_id>/explain/",
        review.explain_cell,
        name="explain_cell",
    ),
    # the district's month (issue 14): workbooks, tracker/dashboard/workbook.py
    path("report/<str:month>/xlsx/", workbook.report_xlsx, name="report_xlsx"),
    path("report/<str:month>/upload/", workbook.report_upload, name="report_upload"),
    # 佐证材料 in the browser (issue 30): tracker/dashboard/evidence.py
    path("attachments/add/", evidence.attachment_add, name="attachment_add"),
    path("attachments/<int:pk>/", evidence.attachment, name="attachment"),
    path("attachments/<int:pk>/remove/", evidence.attachment_remove, name="attachment_remove"),
    path("completeness/", completeness.completeness, name="completeness"),
    # 挂牌督办 (issue 32): tracker/dashboard/supervision.py
    path("supervision/", supervision.supervision_list, name="supervision_list"),
    path("supervision/assign/", supervision.supervision_assign, name="supervision_assign"),
    path("supervision/<int:pk>/", supervision.supervision_item, name="supervision_item"),
    path(
        "supervision/attachments/<int:pk>/",
        supervision.supervision_attachment,
        name="supervision_attachment",
    ),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
