"""Production's URLconf plus the floor views under ``/bench/floor/`` (benchmark only)."""

from django.urls import include, path

from config.urls import handler403, handler404, handler500
from config.urls import urlpatterns as production

from . import floors

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns = [path("bench/floor/", include(floors.urlpatterns)), *production]
