"""`manage.py check` warnings about a Redis configuration that weakens a guarantee.

Tagged "ragsite_redis" (`check --tag ragsite_redis` for these alone). They ask Redis for its INFO (within
REDIS_SOCKET_TIMEOUT), so they answer only when the operator runs `check` itself (this app's check command,
management/commands/check.py, turns them on), or `check --deploy`; the checks Django runs before `migrate`,
`runserver` and other commands skip them, so those never pay a Redis round trip.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.core import checks

from cache_policies.redis_advice import Level, redis_advice
from cache_policies.redis_health import redis_health

_MESSAGES = {Level.INFO: checks.Info, Level.WARNING: checks.Warning}
_asked = ContextVar("redis_checks_asked", default=False)


@contextmanager
def redis_checks_asked():
    """Within it, the Redis checks ask Redis (the check command)."""
    token = _asked.set(True)
    try:
        yield
    finally:
        _asked.reset(token)


@checks.register("ragsite_redis")
def redis_configuration_check(app_configs=None, include_deployment_checks=False, **kwargs) -> list[checks.CheckMessage]:
    if not (_asked.get() or include_deployment_checks):
        return []
    return [
        _MESSAGES[advice.level](advice.message, hint=advice.hint, id=advice.id)
        for advice in redis_advice(health=redis_health())
    ]
