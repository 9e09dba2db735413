"""``python manage.py setup_roles``: (re)create the role groups and re-sync every user."""

from django.core.management.base import BaseCommand

from tracker.accounts.models import UserProfile
from tracker.accounts.roles import ensure_groups, sync_user


class Command(BaseCommand):
    help = "创建或更新 督查室 / 牵头单位 / 区、县(市) 三个用户组及其权限，并按用户角色重新归组"

    def handle(self, *args, **options):
        groups = ensure_groups()
        profiles = UserProfile.objects.select_related("user")
        for profile in profiles:
            sync_user(profile)
        for group in groups.values():
            self.stdout.write(f"{group.name}：{group.permissions.count()} 项权限")
        self.stdout.write(f"已同步 {profiles.count()} 个用户")
