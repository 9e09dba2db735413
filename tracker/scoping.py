"""Compatibility home of the scope: the rule now lives in ``tracker.permissions``.

``scope_for(user)`` and ``Scope`` are re-exported so existing imports keep working;
new code asks ``tracker.permissions.restrict(user, action, queryset)`` (or
``Model.objects.restrict(user, action)``).
"""

from tracker.permissions import NO_SCOPE, SUPERVISION_SCOPE, Scope, scope_for

__all__ = ["NO_SCOPE", "SUPERVISION_SCOPE", "Scope", "scope_for"]
