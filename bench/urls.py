"""Production's URLconf plus the floor views under ``/bench/floor/`` (benchmark only)."""

from django.urls import include, path

from bench import floors
from config.urls import handler403, handler404, handler500
from config.urls import urlpatterns as production

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns = [path("bench/floor/", include(floors.urlpatterns)), *production]
