"""A sliding-window rate limit in one Lua call: at most `limit` requests in any `period` seconds.

A fixed window let a client spend its rate twice across a boundary (1,000 questions in 35 s on a
600/minute limit); a log of the last period's request times cannot. The log is a sorted set scored by
Redis's own clock (one clock for every app server) and trimmed on each call. Refused requests are not
logged, so a client that keeps hammering gets in again as its old requests age out.

The check is one EVALSHA, so it can share a pipeline (one round trip) with the request's other reads:
queue it with `check_queue`, read its reply with `wait_from`. While Redis is down nothing can be
counted, and requests go through rather than all failing.
"""

import hashlib
import math

from redis.exceptions import NoScriptError

from cache_policies import redis_client

# Replies 0 when the request is allowed (and logged), else the milliseconds until the oldest logged
# request leaves the window. The member is the microsecond time plus the count, unique even for two
# calls in one microsecond.
SCRIPT = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local period_us = tonumber(ARGV[2]) * 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_us - period_us)
local count = redis.call('ZCARD', KEYS[1])
if count < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_us, now[1] .. string.format('%06d', tonumber(now[2])) .. '-' .. count)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 1000 + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil((tonumber(oldest[2]) + period_us - now_us) / 1000))
"""
SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


def check_queue(pipe, *, key: str, limit: int, period: int) -> None:
    """Queue the check on a pipeline; run it with `pipeline_execute`, read its reply with `wait_from`."""
    pipe.evalsha(SHA, 1, key, limit, period)


def wait_from(reply) -> float:
    """Seconds until the client may try again: 0.0 when allowed, or when the reply is missing (Redis down)."""
    return reply / 1000 if isinstance(reply, int) else 0.0


def pipeline_execute(r, build) -> list:
    """Run build(pipe) on a fresh pipeline; loads the script once if this Redis does not know it yet.

    Loading on demand (not SCRIPT EXISTS before each call, as redis-py's Script does) keeps a check at
    one round trip. A restarted or failed-over Redis has forgotten its scripts: the retry covers it.
    """
    for attempt in (1, 2):
        pipe = r.pipeline(transaction=False)
        build(pipe)
        replies = pipe.execute(raise_on_error=False)
        if attempt == 2 or not any(isinstance(reply, NoScriptError) for reply in replies):
            break
        r.script_load(SCRIPT)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


def rate_check(*, key: str, limit: int, period: int) -> float:
    """Log one request under key; the seconds to wait before retrying (0.0: allowed)."""
    replies = redis_client.call(
        lambda r: pipeline_execute(r, lambda pipe: check_queue(pipe, key=key, limit=limit, period=period))
    )
    return wait_from(replies[0]) if replies else 0.0


def retry_after(wait: float) -> int:
    """Whole seconds for a Retry-After header (never 0 for a refused request)."""
    return max(1, math.ceil(wait))
