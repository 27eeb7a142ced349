"""Django's `check`, with this app's Redis configuration checks turned on (cache_policies/checks.py)."""

from django.core.management.commands import check

from cache_policies.checks import redis_checks_asked


class Command(check.Command):
    def handle(self, *app_labels, **options):
        with redis_checks_asked():
            return super().handle(*app_labels, **options)
