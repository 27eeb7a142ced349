import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from qa.models import Document


def try_this(*, url: str, username: str, password: str) -> str:
    return f"""
Try this:
  Ask a question   {url}/
  From a shell     curl -s {url}/api/ask -H 'Content-Type: application/json' \\
                     -d '{{"question": "What is the difference between a list and a tuple?"}}'
  Admin            {url}/admin/  user {username!r}  password {password!r}
  Cache stats      {url}/stats/  (as the admin)
"""


class Command(BaseCommand):
    help = "Create the staff user (DJANGO_SUPERUSER_* or a demo one) and load the sample knowledge base if empty."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where the site will be served.")

    def handle(self, *args, url, **options):
        username, password = self._ensure_superuser()
        if not Document.objects.exists():
            call_command("ingest", "--sample", verbosity=options["verbosity"])
        self.stdout.write(try_this(url=url.rstrip("/"), username=username, password=password))

    def _ensure_superuser(self) -> tuple[str, str]:
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or self._demo_password()
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True, "is_superuser": True})
        if created or not user.check_password(password):
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save()
        return username, password

    def _demo_password(self) -> str:
        # Kept under ./var so every `make run` prints the same credentials.
        path = settings.VAR_DIR / "admin-password"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(12))
        return path.read_text().strip()
