from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tracker import conf


class Command(BaseCommand):
    help = "创建（如不存在）嵌入式演示环境的超级用户；用户名和密码可由环境变量指定。"

    def add_arguments(self, parser):
        parser.add_argument("--username", default=conf.ADMIN_USER)
        parser.add_argument("--password", default=conf.ADMIN_PASSWORD)

    def handle(self, *args, username, password, **options):
        if not settings.EMBEDDED_DEMO:
            raise CommandError(
                "生产环境（非 SQLite 数据库或 DJANGO_SECURE=1）不创建演示账号；"
                "请用 python manage.py createsuperuser 创建管理员。"
            )
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
