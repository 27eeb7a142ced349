"""Rate limits for every path that can reach a provider: /api/ask, the ask form and document writes.

One sliding-window check per request (cache_policies.ratelimit: one Lua call in Redis). The ask form
and /api/ask draw on the same budget, so switching paths earns a client nothing.
"""

from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

from cache_policies import keys, ratelimit
from cache_policies.roundtrip import Command


class _SlidingThrottle(SimpleRateThrottle):
    def identity(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        self._wait = 0.0
        if self.rate is None or (ident := self.identity(request)) is None:
            return True
        key = keys.throttle_key(scope=self.scope, ident=ident)
        self._wait = ratelimit.rate_check(key=key, limit=self.num_requests, period=self.duration)
        return self._wait == 0.0

    def first_trip_command(self, request) -> Command | None:
        """The check as part of the request's first round trip to Redis; its reply raises Throttled if refused."""
        if self.rate is None or (ident := self.identity(request)) is None:
            return None
        key = keys.throttle_key(scope=self.scope, ident=ident)

        def take(reply) -> None:
            if wait := ratelimit.wait_from(reply):
                raise Throttled(wait=wait)

        return Command(queue=lambda pipe: ratelimit.check_queue(pipe, key=key, limit=self.num_requests, period=self.duration), take=take)

    def wait(self) -> float:
        return self._wait

    def get_cache_key(self, request, view):  # unused: allow_request keys the log itself
        return None


class AskAnonThrottle(_SlidingThrottle):
    scope = "ask_anon"

    def identity(self, request):
        # get_ident honours REST_FRAMEWORK["NUM_PROXIES"]: X-Forwarded-For is only trusted behind a proxy.
        return None if request.user.is_authenticated else self.get_ident(request)


class AskUserThrottle(_SlidingThrottle):
    scope = "ask_user"

    def identity(self, request):
        return str(request.user.pk) if request.user.is_authenticated else None


class DocumentWriteThrottle(_SlidingThrottle):
    """Document writes embed text: staff and tokens get a budget of their own."""

    scope = "document_write"

    def identity(self, request):
        # Only staff may write (permissions run before throttles), so every writer is signed in.
        return str(request.user.pk) if request.user.is_authenticated else None


ASK_THROTTLES = (AskAnonThrottle, AskUserThrottle)


def ask_wait(request) -> float:
    """Seconds until this client may ask again (0.0: now), for pages outside DRF (the ask form)."""
    refused = [throttle for throttle in (cls() for cls in ASK_THROTTLES) if not throttle.allow_request(request, None)]
    return max((throttle.wait() for throttle in refused), default=0.0)
