from django.contrib import admin
from django.urls import path

admin.site.site_header = "民生实事 tracker"
admin.site.site_title = "民生实事 tracker"
admin.site.index_title = "民生实事项目管理"

urlpatterns = [
    path("admin/", admin.site.urls),
]
