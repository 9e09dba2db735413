from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save, pre_save


def _ensure_groups(sender, **kwargs):
    from tracker.services.roles import ensure_groups

    ensure_groups()


def _sync_profile(sender, instance, raw=False, **kwargs):
    if raw:
        return
    from tracker.services.roles import sync_user

    sync_user(instance)


class TrackerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tracker"
    verbose_name = "民生实事"

    def ready(self):
        post_migrate.connect(_ensure_groups, sender=self, dispatch_uid="tracker_ensure_groups")
        post_save.connect(
            _sync_profile, sender="tracker.UserProfile", dispatch_uid="tracker_sync_profile"
        )
        from django.contrib.auth import get_user_model

        from tracker.security import revoke_on_user_change

        pre_save.connect(
            revoke_on_user_change, sender=get_user_model(), dispatch_uid="tracker_revoke_tokens"
        )
