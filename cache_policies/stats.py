"""Hit/miss counters per layer, in Redis time buckets, written in one pipelined round trip.

A request collects its events in a StatsRecorder and flushes them once at the end.
Buckets: per minute (kept 24 h) and per hour (kept 30 days), each a hash of integer fields
so HINCRBY stays atomic across workers:
    <layer>:<outcome>            count (outcome: hit, semantic_hit, miss, bypass, error, off)
    <layer>:<outcome>:us         summed latency in microseconds
    <layer>:<outcome>:le:<s>     latency histogram: events whose latency falls in the bucket ending at <s>
                                 seconds (not cumulative; "+Inf" for the last)
    saved:ms / saved:tokens / saved:usd_micro / requests / errors
plus the same fields in a running-total hash without expiry, so /metrics can serve counters
that only ever go up.
"""

import time
from dataclasses import dataclass, field

from django.conf import settings

from cache_policies import redis_client

MINUTE_TTL = 24 * 3600
HOUR_TTL = 30 * 86400
OUTCOMES = ("hit", "semantic_hit", "miss", "bypass", "error", "off")
SIMILARITY_BUCKET = 0.02
QUESTIONS_KEPT = 1000
# Upper bounds in seconds: from a Redis round trip (sub-millisecond) to an LLM call (seconds).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _prefix() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:stats"


def minute_bucket_key(*, epoch_minute: int) -> str:
    return f"{_prefix()}:m:{epoch_minute}"


def hour_bucket_key(*, epoch_hour: int) -> str:
    return f"{_prefix()}:h:{epoch_hour}"


def total_key() -> str:
    return f"{_prefix()}:total"


def latency_bucket(seconds: float) -> str:
    return next((f"{bound:g}" for bound in LATENCY_BUCKETS if seconds <= bound), "+Inf")


def similarity_histogram_key() -> str:
    return f"{_prefix()}:similarity"


def questions_rank_key() -> str:
    return f"{_prefix()}:questions"


def questions_text_key() -> str:
    return f"{_prefix()}:question-text"


# One command and one reply per request: a pipeline of ~30 HINCRBYs cost more to parse
# (in Python) than everything else an exact cache hit does.
_FLUSH_LUA = """
local n = tonumber(ARGV[8])
for i = 0, n - 1 do
  local name, amount = ARGV[9 + 2 * i], tonumber(ARGV[10 + 2 * i])
  redis.call('HINCRBY', KEYS[1], name, amount)
  redis.call('HINCRBY', KEYS[2], name, amount)
  redis.call('HINCRBY', KEYS[3], name, amount)
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
if ARGV[5] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[5], 1) end
if ARGV[6] ~= '' then
  redis.call('ZINCRBY', KEYS[5], 1, ARGV[6])
  redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -tonumber(ARGV[3]) - 1)
  redis.call('HSETNX', KEYS[6], ARGV[6], ARGV[7])
  redis.call('EXPIRE', KEYS[6], ARGV[4])
end
return 1
"""
_script = None


def _flush_script(r):
    # register_script runs EVALSHA and reloads the script itself after a server restart.
    global _script
    if _script is None:
        _script = r.register_script(_FLUSH_LUA)
    return _script


@dataclass
class StatsRecorder:
    fields: dict[str, int] = field(default_factory=dict)
    similarity: float | None = None
    question: tuple[str, str] | None = None  # (hash, text)

    def add(self, name: str, amount: int = 1) -> None:
        self.fields[name] = self.fields.get(name, 0) + amount

    def layer(self, layer: str, outcome: str, seconds: float = 0.0) -> None:
        self.add(f"{layer}:{outcome}")
        self.add(f"{layer}:{outcome}:us", int(seconds * 1_000_000))
        self.add(f"{layer}:{outcome}:le:{latency_bucket(seconds)}")

    def saved(self, *, ms: float, tokens: int, usd: float) -> None:
        self.add("saved:ms", int(ms))
        self.add("saved:tokens", tokens)
        self.add("saved:usd_micro", int(usd * 1_000_000))

    def flush(self, *, now: float | None = None) -> None:
        if not self.fields:
            return
        now = time.time() if now is None else now
        minute_key = minute_bucket_key(epoch_minute=int(now // 60))
        hour_key = hour_bucket_key(epoch_hour=int(now // 3600))

        similarity = "" if self.similarity is None else f"{self.similarity // SIMILARITY_BUCKET * SIMILARITY_BUCKET:.2f}"
        digest, text = self.question or ("", "")
        keys_ = [minute_key, hour_key, total_key(), similarity_histogram_key(), questions_rank_key(), questions_text_key()]
        args = [MINUTE_TTL, HOUR_TTL, QUESTIONS_KEPT, HOUR_TTL, similarity, digest, text[:300], len(self.fields)]
        for name, amount in self.fields.items():
            args += [name, amount]

        def write(r):
            return _flush_script(r)(keys=keys_, args=args, client=r)

        redis_client.call(write)
