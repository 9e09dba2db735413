"""One scoping mechanism for every view: ``Model.objects.restrict(user, action)``.

Each scoped model names the lookup path to its owning agency
(``scope_agency_path``) and, where rows belong to one district, to that district
(``scope_district_path``). ``tracker.accounts.permissions`` turns a user and an action into a
filter; ``for_user(user)`` is ``restrict(user, "view")``.
"""

from django.db import models

from tracker.accounts.permissions import restrict


class ScopedQuerySet(models.QuerySet):
    def restrict(self, user, action="view"):
        return restrict(user, action, self)

    def for_user(self, user):
        return self.restrict(user, "view")
