"""Rate limits for /api/ask: one INCR per request in a fixed window, instead of DRF's
read-modify-write of a JSON history (two round trips and a race between workers).

While Redis is down the rate can't be counted: requests go through rather than all failing.
"""

import hashlib
import time

from rest_framework.throttling import SimpleRateThrottle

from cache_policies import keys, redis_client


class _WindowThrottle(SimpleRateThrottle):
    def identity(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        if self.rate is None or (ident := self.identity(request)) is None:
            return True
        window = int(time.time() // self.duration)
        key = keys.throttle_key(scope=self.scope, ident=hashlib.sha256(ident.encode()).hexdigest()[:24], window=window)

        def count(r):
            pipe = r.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, self.duration + 1, nx=True)
            return pipe.execute()[0]

        seen = redis_client.call(count)
        self._wait = self.duration - (time.time() % self.duration)
        return seen is None or seen <= self.num_requests

    def wait(self) -> float:
        return self._wait

    def get_cache_key(self, request, view):  # unused: allow_request keys the window itself
        return None


class AskAnonThrottle(_WindowThrottle):
    scope = "ask_anon"

    def identity(self, request):
        # get_ident honours REST_FRAMEWORK["NUM_PROXIES"]: X-Forwarded-For is only trusted behind a proxy.
        return None if request.user.is_authenticated else self.get_ident(request)


class AskUserThrottle(_WindowThrottle):
    scope = "ask_user"

    def identity(self, request):
        return str(request.user.pk) if request.user.is_authenticated else None
