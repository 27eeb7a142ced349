"""Hit/miss counters per layer, in Redis time buckets.

A request collects its events in a StatsRecorder and submits them at the end: they are summed
in-process and written by a background thread every FLUSH_SECONDS, one Lua call per time
bucket, so counting costs a request no round trip at all. Readers in this process flush first;
a worker flushes when it exits. Trade-off: a worker killed with SIGKILL loses its last
FLUSH_SECONDS of counts.
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

import atexit
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


from cache_policies import keys, redis_client
from cache_policies.models import Outcome

MINUTE_TTL = 24 * 3600
HOUR_TTL = 30 * 86400
OUTCOMES = tuple(Outcome.values)
SIMILARITY_BUCKET = 0.02
QUESTIONS_KEPT = 1000
FLUSH_SECONDS = 0.1
# Upper bounds in seconds: from a Redis round trip (sub-millisecond) to an LLM call (seconds).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def latency_bucket(seconds: float) -> str:
    return next((f"{bound:g}" for bound in LATENCY_BUCKETS if seconds <= bound), "+Inf")


_FLUSH_LUA = """
local n_fields, n_sims, n_questions = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local at = 8
for i = 1, n_fields do
  local name, amount = ARGV[at], tonumber(ARGV[at + 1])
  redis.call('HINCRBY', KEYS[1], name, amount)
  redis.call('HINCRBY', KEYS[2], name, amount)
  redis.call('HINCRBY', KEYS[3], name, amount)
  at = at + 2
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
for i = 1, n_sims do
  redis.call('HINCRBY', KEYS[4], ARGV[at], tonumber(ARGV[at + 1]))
  at = at + 2
end
for i = 1, n_questions do
  redis.call('ZINCRBY', KEYS[5], tonumber(ARGV[at + 1]), ARGV[at])
  redis.call('HSETNX', KEYS[6], ARGV[at], ARGV[at + 2])
  at = at + 3
end
if n_questions > 0 then
  -- The texts go with their ranks: trimmed together, both stay at QUESTIONS_KEPT however many distinct
  -- questions arrive. HDEL in slices: unpack() of thousands of names would overflow Lua's stack.
  local excess = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[3])
  if excess > 0 then
    local gone = redis.call('ZRANGE', KEYS[5], 0, excess - 1)
    for first = 1, #gone, 500 do
      redis.call('HDEL', KEYS[6], unpack(gone, first, math.min(first + 499, #gone)))
    end
    redis.call('ZREMRANGEBYRANK', KEYS[5], 0, excess - 1)
  end
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
class _Bucket:
    """Counts summed for one (minute, hour) pair, waiting to be written."""

    fields: Counter = field(default_factory=Counter)
    similarity: Counter = field(default_factory=Counter)
    questions: dict[str, list] = field(default_factory=dict)  # digest -> [count, text]

    def args(self) -> list:
        args = [MINUTE_TTL, HOUR_TTL, QUESTIONS_KEPT, HOUR_TTL, len(self.fields), len(self.similarity), len(self.questions)]
        for name, amount in self.fields.items():
            args += [name, amount]
        for bucket, amount in self.similarity.items():
            args += [bucket, amount]
        for digest, (count, text) in self.questions.items():
            args += [digest, count, text]
        return args


def _write(buckets: dict[tuple[int, int], _Bucket]) -> None:
    if not buckets:
        return

    def write(r):
        script = _flush_script(r)
        # One call per bucket, not a pipeline: a flush rarely holds more than one (a minute's turn),
        # and a direct call reloads the script itself on a master that never saw it (after a failover).
        for (minute, hour), bucket in buckets.items():
            keys_ = [keys.stats_minute_key(epoch_minute=minute), keys.stats_hour_key(epoch_hour=hour),
                     keys.stats_total_key(), keys.stats_similarity_key(), keys.stats_questions_rank_key(),
                     keys.stats_questions_text_key()]
            script(keys=keys_, args=bucket.args())

    redis_client.call(write)


class _Pending:
    """This process's counts not yet in Redis, and the thread that writes them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.writing = threading.Lock()
        self.buckets: dict[tuple[int, int], _Bucket] = {}
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def add(self, recorder: "StatsRecorder", now: float) -> None:
        with self.lock:
            if self.pid != os.getpid():  # forked (a gunicorn worker): the parent's thread is not ours
                self.buckets, self.thread, self.pid = {}, None, os.getpid()
                self.writing = threading.Lock()
            recorder.into(self.buckets.setdefault((int(now // 60), int(now // 3600)), _Bucket()))
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="stats-flush", daemon=True)
                self.thread.start()

    def flush(self) -> None:
        # One writer at a time, so a caller of flush_pending() also waits for a write the
        # background thread has already taken out of `buckets` but not yet finished.
        with self.writing:
            with self.lock:
                buckets, self.buckets = self.buckets, {}
            _write(buckets)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()


_pending = _Pending()
atexit.register(_pending.flush)


def flush_pending() -> None:
    """Write this process's pending counts now (readers call it so they see their own requests)."""
    _pending.flush()


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

    def into(self, bucket: _Bucket) -> None:
        bucket.fields.update(self.fields)
        if self.similarity is not None:
            bucket.similarity[f"{self.similarity // SIMILARITY_BUCKET * SIMILARITY_BUCKET:.2f}"] += 1
        if self.question is not None:
            digest, text = self.question
            bucket.questions.setdefault(digest, [0, text[:300]])[0] += 1

    def submit(self, *, now: float | None = None) -> None:
        """Hand the counts to the background writer (no I/O on the request's path)."""
        if self.fields:
            _pending.add(self, time.time() if now is None else now)

    def flush(self, *, now: float | None = None) -> None:
        """Write these counts now, in one round trip."""
        if not self.fields:
            return
        now = time.time() if now is None else now
        bucket = _Bucket()
        self.into(bucket)
        _write({(int(now // 60), int(now // 3600)): bucket})
