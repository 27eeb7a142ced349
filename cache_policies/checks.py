"""`manage.py check --deploy` warnings about a Redis configuration that weakens a guarantee.

A deploy check, tagged "ragsite_redis": it asks Redis for its INFO (within REDIS_SOCKET_TIMEOUT),
so it runs when an operator checks a deployment (`check --deploy`, or `check --deploy --tag
ragsite_redis` for these alone), not before every migrate, runserver or test run.
"""

from django.core import checks

from cache_policies.redis_advice import Level, redis_advice
from cache_policies.redis_health import redis_health

_MESSAGES = {Level.INFO: checks.Info, Level.WARNING: checks.Warning}


@checks.register("ragsite_redis", deploy=True)
def redis_configuration_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return [
        _MESSAGES[advice.level](advice.message, hint=advice.hint, id=advice.id)
        for advice in redis_advice(health=redis_health())
    ]
