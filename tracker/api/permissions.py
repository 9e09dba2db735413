"""Who may call the API: a user with a role; anonymous reads of public views when the
published read-only mode (``conf.PUBLIC_READ_ONLY``) is on."""

from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

from tracker import conf
from tracker.accounts.permissions import LEADER_READ_ONLY, scope_for


def public_mode() -> bool:
    return conf.PUBLIC_READ_ONLY


class TrackerPermission(permissions.BasePermission):
    message = "请先登录，且账号须分配角色（督查室、牵头单位、区、县(市)或领导）"

    def has_permission(self, request, view):
        if request.user and request.user.is_authenticated:
            scope = scope_for(request.user)
            if (
                scope.is_leader
                and request.method not in permissions.SAFE_METHODS
                and not getattr(view, "leader_may_write", False)
            ):
                raise PermissionDenied(LEADER_READ_ONLY)
            return scope.role is not None
        return (
            getattr(view, "public", False)
            and public_mode()
            and request.method in permissions.SAFE_METHODS
        )


class DocsPermission(permissions.BasePermission):
    """The OpenAPI schema and Swagger UI: a user with a role, or anyone in published
    read-only mode (``SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]``)."""

    message = "接口文档需要登录后查看"

    def has_permission(self, request, view):
        if request.user and request.user.is_authenticated:
            return scope_for(request.user).role is not None
        return public_mode()
