"""A question answered as a stream of events (POST /api/ask/stream), through the same cache layers.

    meta   {"sources", "cache", "stream": "replay" | "generated" | "shared"}
    delta  {"text"}             the answer is every delta's text joined
    done   {"timings_ms"}
    error  {"detail", "code"}   the body a JSON error would have had; the stream ends

- A hit is replayed in a few deltas, so clients read one protocol whatever the cache did.
- A miss takes the single-flight lock. The leader generates in a thread of its own and publishes
  every event to a Redis Stream (cache_policies/shared_stream.py); every request for the question,
  the leader's own included, reads that stream. A client that disconnects stops only its reading:
  the generation others wait on goes on, and only a complete answer is ever stored.
- A leader that fails or dies before a follower has sent any text is taken over once, as in
  single-flight; a follower that already sent part of an answer ends with answer_interrupted.
- Without a shared cache (Redis unreachable, or a request that may not read it) the answer is
  generated inline for this request alone; a disconnect stops it, and nothing is stored.
"""

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.db import connections

from cache_policies import shared_stream, singleflight
from cache_policies.models import Layer, Outcome
from cache_policies.roundtrip import Command
from qa import pipeline
from qa.exposure import answer_public_dict
from qa.providers.base import Streamed
from ragsite.errors import api_exception_handler

logger = logging.getLogger(__name__)
REPLAY_PIECES = 4


@dataclass(frozen=True)
class Event:
    name: str
    data: dict

    def encode(self) -> bytes:
        return f"event: {self.name}\ndata: {json.dumps(self.data, separators=(',', ':'))}\n\n".encode()


class _Slot:
    """One of the process's slots for long requests (singleflight.slot_take), held by a stream and, when it
    leads, by its generation thread too: freed when both are done, so a client that hangs up does not
    free a slot while the generation it started still runs."""

    def __init__(self, semaphore: threading.BoundedSemaphore):
        self._semaphore, self._holders, self._lock = semaphore, 1, threading.Lock()

    def share(self) -> None:
        with self._lock:
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                self._semaphore.release()


class _Hold:
    """What a streamed request holds: its slot, and its stats, counted by its stream when it closes or by
    the generation thread it was handed to."""

    def __init__(self, req, slot: _Slot | None):
        self.req, self.slot, self.by_producer = req, slot, False


class AnswerStream:
    """One answer's events as SSE bytes. The server calls close() when the client is done or gone: that frees
    this request's slot and ends its reading, never a generation that other requests are reading."""

    def __init__(self, events: Iterator[Event], *, hold: _Hold, public: bool = False):
        """public: strip the cache report and timings (EXPOSE_CACHE_STATUS off, an anonymous client)."""
        self._events, self._hold, self._public = events, hold, public
        self.failed = self._closed = False

    def __iter__(self) -> "AnswerStream":
        return self

    def __next__(self) -> bytes:
        event = next(self._events)
        self.failed = self.failed or event.name == "error"
        if self._public:
            event = Event(event.name, answer_public_dict(answer_dict=event.data))
        return event.encode()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._events.close()
        if self._hold.slot is not None:
            self._hold.slot.release()
        if not self._hold.by_producer:
            pipeline.request_end(self._hold.req, failed=self.failed)


def question_stream(
    *, question: str, user_id: int | None = None, cache_mode: str = "default", first_trip: Sequence[Command] = (),
    public: bool = False,
) -> AnswerStream:
    """The answer's events. Raises before the first one, as question_answer would: refused by a rate limit,
    the database down, or AnswerPending when this process has no slot left for a long request."""
    req = pipeline.request_begin(question=question, user_id=user_id, cache_mode=cache_mode, first_trip=first_trip)
    cached = pipeline.response_cached(req)
    if cached is not None:
        # A replay is as short as a JSON hit: it takes no slot, so hits stream even when streams are at their cap.
        return AnswerStream(_answer_events(pipeline.answer_served(req, cached), "replay"), hold=_Hold(req, None),
                            public=public)
    hold = _Hold(req, _Slot(singleflight.slot_take()))
    if not req.response.access.read:
        return AnswerStream(_guarded(_generated(req)), hold=hold, public=public)
    claim = singleflight.claim(key=req.response_key, timeout=req.response.policy.lock_timeout_seconds)
    return AnswerStream(_guarded(_shared(req, claim, hold)), hold=hold, public=public)


def replay_pieces(text: str, *, pieces: int = REPLAY_PIECES) -> list[str]:
    """text in about `pieces` parts cut between words; "".join() gives it back."""
    words = text.split(" ")
    size = max(1, -(-len(words) // pieces))
    return [" ".join(words[i : i + size]) + (" " if i + size < len(words) else "") for i in range(0, len(words), size)]


def _answer_events(answer: pipeline.Answer, stream: str) -> Iterator[Event]:
    yield Event("meta", {"sources": answer.sources, "cache": answer.cache, "stream": stream})
    for piece in replay_pieces(answer.answer):
        yield Event("delta", {"text": piece})
    yield Event("done", {"timings_ms": answer.timings_ms})


def _generated(req) -> Iterator[Event]:
    """The answer as it is generated: embedding → retrieval → semantic → the generator's pieces → store."""
    context = pipeline.answer_context(req)
    if context.served is not None:
        yield from _answer_events(context.served, "replay")
        return
    meta = {"sources": pipeline.answer_sources(context.passages), "cache": _report(req).cache, "stream": "generated"}
    with pipeline.retrieval_refused_if_unanswered(req, context):  # a client may leave at any yield
        yield Event("meta", meta)
        streamed = Streamed(req.gen.stream(question=req.question, passages=context.passages,
                                           embedding=context.local.embedding, template=req.template))
        with req.stage("generate"):
            for piece in streamed:
                yield Event("delta", {"text": piece})
        answer = pipeline.answer_generated(req, generation=streamed.generation, context=context)
    yield Event("done", {"timings_ms": answer.timings_ms})


def _report(req) -> pipeline.Answer:
    """The request's cache report and timings so far (a miss not yet recorded reads as the miss it will be)."""
    answer = req.answer(answer="", sources=[], provider="", model="")
    if not req.response.recorded():
        answer.cache[Layer.RESPONSE.value] = req.miss_outcome().value
    return answer


def _guarded(events: Iterator[Event]) -> Iterator[Event]:
    """Any failure once the stream has begun becomes its last event."""
    try:
        yield from events
    except Exception as exc:
        yield _error(exc)


def _error(exc: Exception) -> Event:
    if isinstance(exc, _Interrupted):
        return Event("error", {"detail": str(exc), "code": "answer_interrupted"})
    response = api_exception_handler(exc, {})
    if response is None:
        logger.exception("streamed answer failed", exc_info=exc)
        return Event("error", {"detail": "The answer failed; please try again.", "code": "internal_error"})
    return Event("error", {"detail": str(response.data.get("detail", "")), "code": response.data.get("code", "error")})


class _Interrupted(Exception):
    """The leader stopped after this request had sent part of its answer: it cannot switch to another's."""


class _LeaderFailed(Exception):
    """The leader's generation ended in an error."""


def _shared(req, claim: singleflight.Claim, hold: _Hold) -> Iterator[Event]:
    """Lead or follow; after a leader that failed or died before any text was sent, take over (at most once)."""
    follower = _Follower(req)
    timeout = req.response.policy.lock_timeout_seconds

    def peek():
        return req.response.peek(req.response_key)

    while True:
        if not claim.reachable:
            yield from _generated(req)
            return
        if claim.lock is not None or claim.leader is None:
            # Taken, or free again: the leader before may have stored the answer meanwhile.
            if (cached := peek()) is not None:
                singleflight.release(claim.lock)
                req.response.record(Outcome.HIT)
                yield from _answer_events(pipeline.answer_served(req, cached), "replay")
                return
        if claim.lock is not None:
            _produce_start(req, claim, hold)
        elif claim.leader is None:
            claim = singleflight.claim_after_leader(key=req.response_key, timeout=timeout, read=peek)
            continue
        try:
            yield from follower.events(leader=claim.leader, own=claim.lock is not None)
            return
        except (shared_stream.LeaderLost, _LeaderFailed):
            if follower.sent:
                raise _Interrupted("The answer stopped before it was complete; please ask again.") from None
            claim = singleflight.claim_after_leader(key=req.response_key, timeout=timeout, read=peek)


def _produce_start(req, claim: singleflight.Claim, hold: _Hold) -> None:
    hold.by_producer = True
    hold.slot.share()
    publisher = shared_stream.Publisher(key=req.response_key, leader=claim.leader)
    threading.Thread(target=_produce, args=(req, claim.lock, publisher, hold.slot), daemon=True,
                     name="answer-stream").start()


def _produce(req, lock, publisher: shared_stream.Publisher, slot: _Slot) -> None:
    """The leader's generation, published event by event; it ends (and is stored) whoever is still reading."""
    failed = False
    try:
        with singleflight.leading(lock):
            for event in _guarded(_generated(req)):
                failed = failed or event.name == "error"
                publisher.publish(shared_stream.StreamEvent(name=event.name, data=json.dumps(event.data)))
            publisher.end()  # before the lock goes: followers that see it gone read the end marker
            if not failed:
                singleflight.computations_forget(key=req.response_key)
    finally:
        pipeline.request_end(req, failed=failed)
        slot.release()
        connections.close_all()  # this thread's own connection


class _Follower:
    """Reads a leader's stream as this request's own answer: its own cache report (a hit) and timings."""

    def __init__(self, req):
        self.req = req
        self.sent = False  # whether any of the answer's text went to the client

    def events(self, *, leader: str, own: bool) -> Iterator[Event]:
        timeout = self.req.response.policy.lock_timeout_seconds
        meta = None
        for raw in shared_stream.events_follow(key=self.req.response_key, leader=leader, idle_timeout=timeout):
            event = Event(raw.name, json.loads(raw.data))
            if own:
                yield event
                continue
            if event.name == "meta":
                meta = event.data  # held until text follows: a takeover before it would send its own
                continue
            if event.name == "error" and not self.sent:
                raise _LeaderFailed(event.data.get("detail", ""))
            if meta is not None:
                yield self._meta(meta)
                meta = None
            self.sent = self.sent or event.name == "delta"
            yield self._done() if event.name == "done" else event

    def _meta(self, leader_meta: dict) -> Event:
        self.req.response.record(Outcome.HIT)  # served another request's computation, as a single-flight follower
        return Event("meta", {**leader_meta, "cache": _report(self.req).cache, "stream": "shared"})

    def _done(self) -> Event:
        cached = self.req.response.peek(self.req.response_key)
        answer = pipeline.answer_served(self.req, cached) if cached is not None else _report(self.req)
        return Event("done", {"timings_ms": answer.timings_ms})
