"""Shared answer streams: the single-flight leader publishes an answer's events to a Redis Stream while
it generates, and the followers of the same question read them live.

    leader:    XADD stream MAXLEN ~ MAX_EVENTS * event=delta data={...}   (and EXPIRE stream STREAM_TTL)
               ...
               XADD stream * end=1                                          (then it releases the lock)
    followers: XREAD COUNT 500 STREAMS stream <last id>                    (from 0: every event, in order)

Events are opaque here (a name and a JSON text): what they mean is the product's business. The
stream is keyed by the response key and the leader's lock token (keys.answer_stream_key), so a
follower never reads an earlier leader's stream. A follower that sees no new event checks that its
leader still holds the lock; if it does not, and no end marker follows, the leader died (LeaderLost),
and the caller falls back the way single-flight does.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass

from cache_policies import keys, redis_client, singleflight

# A long answer is a few thousand pieces; MAXLEN only bounds a runaway stream. The publisher
# sends at most MAX_EVENTS events (the rest joined into the last), so followers that start
# reading late still find the first one.
MAX_EVENTS = 5000
STREAM_TTL = 60  # seconds after the last event: the entry (or a retry) serves later readers
# Followers poll rather than XREAD BLOCK: a blocked read holds one of the process's pooled connections
# (64) for its length and must fit in REDIS_SOCKET_TIMEOUT (0.25 s); fifty followers would take the
# pool from the hits. 20-50 ms between reads is below what a reader notices in a growing answer.
POLL_SECONDS = 0.02
POLL_MAX_SECONDS = 0.05
_END = "end"


class LeaderLost(Exception):
    """The leader stopped holding the lock without ending its stream (its process died)."""


@dataclass(frozen=True)
class StreamEvent:
    name: str
    data: str  # JSON text


class Publisher:
    """The leader's side: append events, then end(). Redis failures drop events (followers then time out)."""

    def __init__(self, *, key: str, leader: str):
        self.stream = keys.answer_stream_key(key=key, leader=leader)
        self._sent = 0
        self._held: list[StreamEvent] = []

    def publish(self, event: StreamEvent) -> None:
        if self._sent >= MAX_EVENTS - 2:
            self._held.append(event)  # past the bound: kept for end(), so nothing a follower needs is trimmed
            return
        self._add({"event": event.name, "data": event.data})

    def end(self) -> None:
        for event in self._held:
            self._add({"event": event.name, "data": event.data}, bounded=False)
        self._add({_END: "1"}, bounded=False)

    def _add(self, fields: dict, *, bounded: bool = True) -> None:
        def add(r):
            pipe = r.pipeline(transaction=False)
            pipe.xadd(self.stream, fields, maxlen=MAX_EVENTS if bounded else None, approximate=True)
            pipe.expire(self.stream, STREAM_TTL)
            pipe.execute()

        redis_client.call(add)
        self._sent += 1


def events_follow(*, key: str, leader: str, idle_timeout: float) -> Iterator[StreamEvent]:
    """The leader's events as they come, until its end marker.

    Raises LeaderLost when the leader's lock is gone (or taken by another) with no end marker,
    and AnswerPending when no event came for idle_timeout seconds while the leader lived.
    """
    stream, last = keys.answer_stream_key(key=key, leader=leader), "0"
    deadline, pause = time.monotonic() + idle_timeout, POLL_SECONDS
    while True:
        batch = _read(stream, last)
        if not batch:
            if singleflight.leader_of(key=key) != leader:
                # It may have ended and released between our read and our check: read once more.
                if not (batch := _read(stream, last)):
                    raise LeaderLost(f"the leader of {keys.short_id(key)} is gone")
            elif time.monotonic() > deadline:
                raise singleflight.AnswerPending(f"No part of the answer came for {idle_timeout:g} s; retry shortly.")
            else:
                time.sleep(pause)
                pause = min(pause * 1.5, POLL_MAX_SECONDS)
                continue
        deadline, pause = time.monotonic() + idle_timeout, POLL_SECONDS
        for last, fields in batch:
            if _END.encode() in fields:
                return
            yield StreamEvent(name=fields[b"event"].decode(), data=fields[b"data"].decode())


def _read(stream: str, last) -> list:
    """New entries after last: [(id, {field: value})]; [] when there are none or Redis did not answer."""
    reply = redis_client.call(lambda r: r.xread({stream: last}, count=500))
    return reply[0][1] if reply else []
