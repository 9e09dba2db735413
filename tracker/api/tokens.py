"""Listing and revoking API tokens (see ``tracker.api.auth``): your own, or as 督查室
anyone's. Kept apart from ``auth`` because DRF imports that module while loading its
settings, before its own view classes exist."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import NotFound

from tracker.accounts.permissions import Action, restrict
from tracker.api.fields import ModelSerializer


class AuthTokenSerializer(ModelSerializer):
    key = serializers.CharField(source="token_key", read_only=True, help_text="令牌前缀，用于撤销")
    username = serializers.CharField(source="user.username", read_only=True)
    current = serializers.SerializerMethodField(help_text="是否为本次请求所用的令牌")

    class Meta:
        model = AuthToken
        fields = ("key", "username", "created", "expiry", "current")

    def get_current(self, obj) -> bool:
        auth = self.context["request"].auth
        return isinstance(auth, AuthToken) and auth.digest == obj.digest


@extend_schema(tags=["auth"])
class AuthTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your own tokens (督查室: everyone's, ``?username=`` to filter); DELETE revokes one."""

    leader_may_write = True  # revoking one's own token is not a write to the tracker's data

    serializer_class = AuthTokenSerializer
    lookup_field = "token_key"
    lookup_value_regex = "[A-Za-z0-9]+"

    queryset = AuthToken.objects.none()  # for the schema

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuthToken.objects.none()
        user = self.request.user
        own = AuthToken.objects.filter(user=user)
        everyone = restrict(user, Action.DELETE, AuthToken.objects.all())
        tokens = (own | everyone).filter(expiry__gt=timezone.now()).select_related("user")
        username = self.request.query_params.get("username")
        if username:
            tokens = tokens.filter(user__username=username)
        return tokens.order_by("-created")

    def get_object(self):
        token = self.get_queryset().filter(token_key=self.kwargs["token_key"]).first()
        if token is None:
            raise NotFound("令牌不存在或无权撤销")
        return token
