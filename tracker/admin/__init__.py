"""Admin, split by area: plan data, progress entry, people, alerts.

Every ModelAdmin here filters through ``Model.objects.for_user(request.user)``.
"""

from . import alerts, notice, people, plan, progress, review  # noqa: F401
