from django.contrib import admin
from django.urls import include, path

from tracker.dashboard.views import favicon

admin.site.site_header = "民生实事 tracker"
admin.site.site_title = "民生实事 tracker"
admin.site.index_title = "民生实事项目管理"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("tracker.api.urls")),
    path("", include("tracker.dashboard.urls")),
    # Browsers ask for /favicon.ico on pages without an icon link (the admin's): our icon.
    path("favicon.ico", favicon, name="favicon"),
]

# Chinese error pages in the dashboard's look (dashboard and admin), JSON under /api/.
handler403 = "tracker.dashboard.errors.permission_denied"
handler404 = "tracker.dashboard.errors.page_not_found"
handler500 = "tracker.dashboard.errors.server_error"
