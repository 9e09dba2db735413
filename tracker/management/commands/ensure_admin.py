import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "创建（如不存在）本地演示用的超级用户；用户名和密码可由环境变量指定。"

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("TRACKER_ADMIN_USER", "admin"))
        parser.add_argument(
            "--password", default=os.environ.get("TRACKER_ADMIN_PASSWORD", "minsheng-2024")
        )

    def handle(self, *args, username, password, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"已创建超级用户 {username}")
        else:
            self.stdout.write(f"超级用户 {username} 已存在，未修改密码")
