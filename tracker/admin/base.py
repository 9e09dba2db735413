"""The one ModelAdmin every tracker admin builds on: ``ScopedAdmin``.

Every permission question goes to ``tracker.permissions`` (``restrict(user, action)``):
the changelist and object pages show ``restrict(user, "view")``; add, change and delete
ask for their own action on the object; foreign-key choices are narrowed to what the
user may view. An object outside the user's scope is as good as missing (404).

simple-history's pages are third-party views, so they are scoped here too:

- ``history/`` (the list of versions) — 404 unless a version of the object is in the
  user's view scope;
- ``history/<version>/`` (one version's form) — 404 unless *that version* is in the
  user's view scope (a row that changed owner does not leak its earlier owner's data);
- POSTing that form (simple-history's revert) — only where ``revert_allowed`` (plan
  data, whose edits have no other write path) and only with the ``change`` action on
  both the live row and the version. Progress and alert rows are written by their
  services, so a revert would bypass validation: refused (403) for everyone.

``change_action`` names the action the change form stands for: an alert's change form
records an acknowledgement, so ``LagAlertAdmin`` sets it to ``"acknowledge"``.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin
from simple_history.exceptions import NotHistoricalModelError
from simple_history.utils import get_history_model_for_model

from tracker.permissions import Action, allowed, may, restrict


class ScopedAdmin(SimpleHistoryAdmin):
    list_select_related: tuple | bool = ()
    change_action: str = Action.CHANGE
    revert_allowed = False

    # -- rows -------------------------------------------------------------------------

    def get_queryset(self, request):
        queryset = restrict(request.user, Action.VIEW, self.model._default_manager.all())
        if self.list_select_related and self.list_select_related is not True:
            queryset = queryset.select_related(*self.list_select_related)
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def _may(self, request, action, obj) -> bool:
        if obj is None:
            return allowed(request.user, action, self.model)
        return may(request.user, action, obj)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        """Missing and out-of-scope objects are a plain 404 (Django redirects to the index
        with a message, which a crawler cannot tell from a success)."""
        raise Http404

    # -- Django's permission hooks -------------------------------------------------------

    def has_module_permission(self, request):
        return allowed(request.user, Action.VIEW, self.model)

    def has_view_permission(self, request, obj=None):
        return self._may(request, Action.VIEW, obj)

    def has_add_permission(self, request):
        return allowed(request.user, Action.ADD, self.model)

    def has_change_permission(self, request, obj=None):
        return self._may(request, self.change_action, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may(request, Action.DELETE, obj)

    def has_view_history_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def has_change_history_permission(self, request, obj=None):
        return self.revert_allowed and self.has_change_permission(request, obj)

    # -- simple-history's views ---------------------------------------------------------

    def _versions(self, request, action, object_id, version_id=None):
        try:
            history = get_history_model_for_model(self.model)
        except NotHistoricalModelError:  # e.g. login locks: Django's own log page
            if version_id is not None:
                return self.model._default_manager.none()
            return restrict(request.user, action, self.model._default_manager.all()).filter(
                pk=object_id
            )
        versions = history.objects.filter(**{self.model._meta.pk.attname: object_id})
        if version_id is not None:
            versions = versions.filter(history_id=version_id)
        return restrict(request.user, action, versions)

    @staticmethod
    def _id(value) -> str:
        if not str(value).isdigit():
            raise Http404
        return str(value)

    def history_view(self, request, object_id, extra_context=None):
        object_id = self._id(object_id)
        if not self._versions(request, Action.VIEW, object_id).exists():
            raise Http404
        if not hasattr(self.model, "history"):
            return admin.ModelAdmin.history_view(self, request, object_id, extra_context)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        object_id, version_id = self._id(object_id), self._id(version_id)
        if not self._versions(request, Action.VIEW, object_id, version_id).exists():
            raise Http404
        if request.method not in ("GET", "HEAD"):
            live = self.get_queryset(request).filter(pk=object_id).first()
            if (
                not self.revert_allowed
                or live is None
                or not may(request.user, self.change_action, live)
                or not self._versions(request, self.change_action, object_id, version_id).exists()
            ):
                raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None):
        return not self.has_change_history_permission(request, obj)

    # -- choices ------------------------------------------------------------------------

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            related = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = restrict(request.user, Action.VIEW, related)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            related = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = restrict(request.user, Action.VIEW, related)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class PlanAdmin(ScopedAdmin):
    """Plan and reference data (the policy lets only 督查室 edit): reverting a version
    from history is an ordinary edit here, so it is allowed to those who may change."""

    revert_allowed = True


class ScopedInline(admin.TabularInline):
    """An inline showing only rows the user may view, editable as the policy says."""

    extra = 0

    def get_queryset(self, request):
        return restrict(request.user, Action.VIEW, super().get_queryset(request))

    def has_add_permission(self, request, obj=None):
        return allowed(request.user, Action.ADD, self.model)

    def has_change_permission(self, request, obj=None):
        return allowed(request.user, Action.CHANGE, self.model)

    def has_delete_permission(self, request, obj=None):
        return allowed(request.user, Action.DELETE, self.model)

    def has_view_permission(self, request, obj=None):
        return allowed(request.user, Action.VIEW, self.model)
