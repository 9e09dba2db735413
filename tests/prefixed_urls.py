"""The project's URLs under a prefix: a second URLconf for
``tests/reporting/test_matrix_cells.py``."""

from django.urls import include, path

urlpatterns = [path("prefixed/", include("config.urls"))]
