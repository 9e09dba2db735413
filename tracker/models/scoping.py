"""One scoping mechanism for every view: ``Model.objects.for_user(user)``.

Each scoped model names the lookup path to its owning agency
(``scope_agency_path``) and, where rows belong to one district, to that district
(``scope_district_path``). ``tracker.scoping.Scope`` turns a user into a filter.
"""

from django.db import models


class ScopedQuerySet(models.QuerySet):
    def for_user(self, user):
        from tracker.scoping import scope_for

        return scope_for(user).apply(self)
