from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save, pre_save


def _ensure_groups(sender, **kwargs):
    from tracker.accounts.roles import ensure_groups  # the apps are loaded by now

    ensure_groups()


def _sync_profile(sender, instance, raw=False, **kwargs):
    if raw:
        return
    from tracker.accounts.roles import sync_user  # the apps are loaded by now

    sync_user(instance)


# Third-party apps shown in the admin whose labels have no zh-hans translation
# (django-axes ships none, django-rest-knox's model has no verbose_name): named here, at
# start-up, so the admin reads in one language. Meta is not touched, so no migrations.
THIRD_PARTY_LABELS = {
    "axes": ("登录防护", {"accessattempt": "登录失败记录", "accesslog": "登录记录",
                          "accessfailurelog": "登录失败日志"}),
    "knox": ("API 令牌", {"authtoken": "API 令牌"}),
}  # fmt: skip


def _name_third_party_apps(apps) -> None:
    for label, (app_name, models) in THIRD_PARTY_LABELS.items():
        try:
            config = apps.get_app_config(label)
        except LookupError:
            continue
        config.verbose_name = app_name
        for model in config.get_models():
            name = models.get(model._meta.model_name)
            if name:
                model._meta.verbose_name = model._meta.verbose_name_plural = name


class TrackerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tracker"
    verbose_name = "民生实事"

    def ready(self):
        _name_third_party_apps(self.apps)
        post_migrate.connect(_ensure_groups, sender=self, dispatch_uid="tracker_ensure_groups")
        post_save.connect(
            _sync_profile, sender="tracker.UserProfile", dispatch_uid="tracker_sync_profile"
        )
        from django.contrib.auth import get_user_model  # the apps are loaded by now

        from tracker.accounts.security import revoke_on_user_change  # the apps are loaded by now
        from tracker.monitoring import current  # the apps are loaded by now
        from tracker.notifications import receivers  # the apps are loaded by now
        from tracker.progress import plan_dependents  # the apps are loaded by now
        from tracker.review import plan_dependents as review_dependents  # the apps are loaded

        current.connect()
        receivers.connect()
        plan_dependents.connect()
        review_dependents.connect()

        pre_save.connect(
            revoke_on_user_change, sender=get_user_model(), dispatch_uid="tracker_revoke_tokens"
        )
