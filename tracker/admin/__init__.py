"""Admin, split by area: plan data, progress entry, people, alerts, login locks.

Every ModelAdmin here builds on ``base.ScopedAdmin``, which asks
``tracker.accounts.permissions.restrict(user, action)`` for every page and write.
"""

from tracker.admin import (  # noqa: F401
    alerts,
    notice,
    people,
    plan,
    progress,
    review,
    security,
    supervision,
)
