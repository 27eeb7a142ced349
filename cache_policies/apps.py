from django.apps import AppConfig


class CachePoliciesConfig(AppConfig):
    name = "cache_policies"
    verbose_name = "Cache policies"

    def ready(self):
        from cache_policies import checks, invalidation  # noqa: F401  (checks registers itself)

        invalidation.connect()
