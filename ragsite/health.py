"""Health endpoints for a load balancer.

/healthz: the process answers (no I/O at all).
/readyz: can this process answer questions? PostgreSQL and Redis are probed, and the JSON says
which is down. Redis down: ready but degraded (answers are computed uncached). PostgreSQL down:
still ready, degraded, while this process holds its policies and Redis serves cached answers;
503 only when nothing can be answered.
"""

from django.db import DatabaseError, InterfaceError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from cache_policies import redis_client
from cache_policies.policies import policies_held


@never_cache
def healthz(request):
    return JsonResponse({"status": "alive"})


def _database_up() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except (DatabaseError, InterfaceError):
        # The failed connection must not stay with this thread: the next request connects afresh.
        connection.close_if_unusable_or_obsolete()
        return False
    return True


def _redis_up() -> bool:
    # Asked even while the circuit is open (an open circuit would report down without asking), and through
    # redis_client.call, so that an answer closes the circuit: once /readyz says "up", requests use Redis
    # again (and the purges it missed are replayed) rather than waiting out REDIS_RETRY_AFTER.
    return bool(redis_client.call(lambda redis: redis.ping(), default=False, even_if_open=True))


@never_cache
def readyz(request):
    database, redis = _database_up(), _redis_up()
    answerable = database or (redis and policies_held())
    state = "ready" if database and redis else "degraded" if answerable else "unavailable"
    body = {"status": state, "database": "up" if database else "down", "redis": "up" if redis else "down"}
    if not database:
        body["serving"] = "cached answers only" if answerable else "nothing"
    return JsonResponse(body, status=200 if answerable else 503)
