"""Server-rendered dashboard pages, and the login/logout pages they send people to."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("matrix/", views.matrix, name="matrix"),
    path("matrix/<int:indicator_id>/<int:district_id>/", views.cell, name="cell"),
    path("ranking/", views.ranking, name="ranking"),
    path("districts/<slug:code>/", views.district, name="district"),
    path("projects/<int:seq>/", views.project, name="project"),
    path("my/", views.my_work, name="my_work"),
    path("notice/", views.notice_latest, name="notice_latest"),
    path("notice/<str:month>/", views.notice, name="notice"),
    path("notice/<str:month>/xlsx/", views.notice_xlsx, name="notice_xlsx"),
    path("notice/<str:month>/pdf/", views.notice_pdf, name="notice_pdf"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
