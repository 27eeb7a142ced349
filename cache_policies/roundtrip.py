"""A request's first round trip to Redis: every read an exact hit needs, pipelined into one.

An exact hit used to wait on Redis twice: once for the rate limit, once for the answer. Each part
that needs Redis at the start of a request contributes a Command (the throttle its EVALSHA, the
response layer its GET; a freshness check could add its token read) and all go in one pipeline.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cache_policies import ratelimit, redis_client


@dataclass(frozen=True)
class Command:
    """queue(pipe) adds exactly one command to the pipeline; take(reply) receives its reply (None when
    Redis failed: read it as a miss, or as allowed) and may raise to refuse the request."""

    queue: Callable[[Any], None]
    take: Callable[[Any], None]


def round_trip(commands: Sequence[Command]) -> None:
    """Run every command in one pipelined round trip, then hand each its reply, in order."""
    if not commands:
        return

    def build(pipe) -> None:
        for command in commands:
            command.queue(pipe)

    # pipeline_execute loads the rate limit's script if this Redis forgot it (a restart, a failover).
    replies = redis_client.call(lambda r: ratelimit.pipeline_execute(r, build)) or [None] * len(commands)
    for command, reply in zip(commands, replies):
        command.take(reply)
