"""Hit/miss counters per layer: a durable roll-up in PostgreSQL (stats_store.py), fed from each process.

A request collects its events in a StatsRecorder and submits them at the end: they are summed
in-process and written by a background thread every FLUSH_SECONDS, one transaction per flush,
so counting costs a request no round trip at all. Readers in this process flush first; a
worker flushes when it exits. Trade-off: a worker killed with SIGKILL loses its last
FLUSH_SECONDS of counts. Nothing is counted in Redis, so eviction, FLUSHALL or a restart of
Redis never loses a count, and every reader sees the same numbers.
Rows per minute (kept 24 h), per hour (kept 30 days) and a running total (kept for ever) of:
    <layer>:<outcome>            count (outcome: hit, semantic_hit, stale, miss, bypass, error, off)
    <layer>:<outcome>:us         summed latency in microseconds
    saved:ms / saved:tokens / saved:usd_micro / requests / errors
and, in the running total only (for /metrics and the similarity chart):
    <layer>:<outcome>:le:<s>     latency histogram: events whose latency falls in the bucket ending at <s>
                                 seconds (not cumulative; "+Inf" for the last)
    similarity:<bucket>          semantic hits per similarity bucket
The "most repeated questions" ranking is the one thing kept in Redis: a recent, best-effort view.
"""

import atexit
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings

from cache_policies import keys, redis_client, stats_store
from cache_policies.models import Outcome, StatsPeriod

logger = logging.getLogger(__name__)
OUTCOMES = tuple(Outcome.values)
SIMILARITY_BUCKET = 0.02
QUESTIONS_KEPT = 1000
QUESTIONS_TTL = 30 * 86400
# Other processes' counts reach the readers within this; each flush is one small transaction per process.
FLUSH_SECONDS = 0.5
# Upper bounds in seconds: from a Redis round trip (sub-millisecond) to an LLM call (seconds).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TOTAL_ONLY = (":le:", "similarity:")


def latency_bucket(seconds: float) -> str:
    return next((f"{bound:g}" for bound in LATENCY_BUCKETS if seconds <= bound), "+Inf")


def _rows(fields: Counter) -> Counter:
    """The roll-up rows counters summed per (namespace, minute, name) add to: their minute, their hour and
    the running total. Done when they are written, not per request: a request's counts only join the sums."""
    rows = Counter()
    for (namespace, minute, name), amount in fields.items():
        rows[(namespace, StatsPeriod.TOTAL.value, 0, name)] += amount
        if not any(part in name for part in TOTAL_ONLY):
            rows[(namespace, StatsPeriod.MINUTE.value, minute, name)] += amount
            rows[(namespace, StatsPeriod.HOUR.value, minute // 60, name)] += amount
    return rows


_QUESTIONS_LUA = """
local n_questions = tonumber(ARGV[3])
local at = 4
for i = 1, n_questions do
  redis.call('ZINCRBY', KEYS[1], tonumber(ARGV[at + 1]), ARGV[at])
  redis.call('HSETNX', KEYS[2], ARGV[at], ARGV[at + 2])
  at = at + 3
end
-- The texts go with their ranks: trimmed together, both stay at QUESTIONS_KEPT however many distinct
-- questions arrive. HDEL in slices: unpack() of thousands of names would overflow Lua's stack.
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if excess > 0 then
  local gone = redis.call('ZRANGE', KEYS[1], 0, excess - 1)
  for first = 1, #gone, 500 do
    redis.call('HDEL', KEYS[2], unpack(gone, first, math.min(first + 499, #gone)))
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""
_script = None


def _questions_script(r):
    # register_script runs EVALSHA and reloads the script itself after a server restart.
    global _script
    if _script is None:
        _script = r.register_script(_QUESTIONS_LUA)
    return _script


def _questions_write(questions: dict[str, list]) -> None:
    if not questions:
        return
    args = [QUESTIONS_KEPT, QUESTIONS_TTL, len(questions)]
    for digest, (count, text) in questions.items():
        args += [digest, count, text]
    ranking = [keys.stats_questions_rank_key(), keys.stats_questions_text_key()]
    redis_client.call(lambda r: _questions_script(r)(keys=ranking, args=args))


@dataclass
class _Counts:
    """Counts summed in one process, waiting to be written."""

    rows: Counter = field(default_factory=Counter)  # stats_store.Row -> amount (kept from a failed write)
    fields: Counter = field(default_factory=Counter)  # (namespace, minute, name) -> amount, summed requests
    questions: dict[str, list] = field(default_factory=dict)  # digest -> [count, text]

    def rows_all(self) -> Counter:
        rows = Counter(self.rows)
        rows.update(_rows(self.fields))
        return rows


class _Pending:
    """This process's counts not yet in the roll-up, and the thread that writes them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.writing = threading.Lock()
        self.counts = _Counts()
        self.unconfirmed: stats_store.Batch | None = None
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def add(self, recorder: "StatsRecorder", now: float) -> None:
        with self.lock:
            if self.pid != os.getpid():  # forked (a gunicorn worker): the parent's thread is not ours
                self.counts, self.unconfirmed, self.thread, self.pid = _Counts(), None, None, os.getpid()
                self.writing = threading.Lock()
            recorder.into(self.counts, now=now)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="stats-flush", daemon=True)
                self.thread.start()

    def flush(self) -> bool:
        # One writer at a time, so a caller of flush_pending() also waits for a write the
        # background thread has already taken out of `counts` but not yet finished.
        with self.writing:
            with self.lock:
                counts, self.counts = self.counts, _Counts()
            _questions_write(counts.questions)
            return self._durable_write(counts.rows_all())

    def _durable_write(self, rows: Counter) -> bool:
        # At most one batch is in doubt at a time. It is retried unchanged, under its id, before
        # anything newer: were newer counts added to it, an earlier attempt that did commit would
        # make the retry a no-op and lose them. Newer counts wait in `counts`, pruned to what is kept.
        for _ in range(2):
            if self.unconfirmed is None:
                if not rows:
                    return True
                self.unconfirmed, rows = stats_store.Batch(rows), Counter()
            if not stats_store.batch_apply(batch=self.unconfirmed):
                with self.lock:
                    self.counts.rows = stats_store.rows_prune(self.counts.rows + rows, now=time.time())
                return False
            self.unconfirmed = None
        return True

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # the writer must outlive any one flush; what it held is retried
                logger.exception("stats flush failed")


_pending = _Pending()
atexit.register(_pending.flush)


def flush_pending() -> bool:
    """Write this process's pending counts now (readers call it so they see their own requests).

    False when the database could not take them: they stay pending and are retried.
    """
    return _pending.flush()


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

    def into(self, counts: _Counts, *, now: float) -> None:
        fields = dict(self.fields)
        if self.similarity is not None:
            fields[f"similarity:{self.similarity // SIMILARITY_BUCKET * SIMILARITY_BUCKET:.2f}"] = 1
        # Under this site's key prefix, taken now: the bench counts apart even when its counts are written later.
        namespace, minute = settings.REDIS_KEY_PREFIX, int(now // 60)
        counts.fields.update({(namespace, minute, name): amount for name, amount in fields.items()})
        if self.question is not None:
            digest, text = self.question
            counts.questions.setdefault(digest, [0, text[:300]])[0] += 1

    def submit(self, *, now: float | None = None) -> None:
        """Hand the counts to the background writer (no I/O on the request's path)."""
        if self.fields:
            _pending.add(self, time.time() if now is None else now)

    def flush(self, *, now: float | None = None) -> bool:
        """Write these counts now, in one transaction (False if the database could not take them)."""
        if not self.fields:
            return True
        counts = _Counts()
        self.into(counts, now=time.time() if now is None else now)
        _questions_write(counts.questions)
        return stats_store.batch_apply(batch=stats_store.Batch(counts.rows_all()))
