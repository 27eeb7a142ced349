"""Serve-stale-while-revalidate: an entry past its TTL, within the policy's stale_seconds, is served at
once, and one request across all workers queues its refresh (the product's job runs it).

The claim is a SET NX on the entry's refresh key for the policy's lock timeout: the first stale read
takes it and queues the job; the others serve the stale entry and queue nothing. If the job fails (or
its queueing does), the claim lapses and the next stale read queues it again, so a refresh is delayed,
never lost for good, and never run twice at once. Staleness is only for time: an entry a change removed
is refused by its stamp (freshness.py) whether it is stale or not.
"""

import math
import os

from cache_policies import keys, redis_client


def refresh_claim(*, key: str, seconds: float) -> bool:
    """Whether this request is the one to queue key's refresh (False too when Redis did not answer)."""
    claim = keys.refresh_key(key=key)
    return bool(redis_client.call(lambda r: r.set(claim, os.getpid(), nx=True, ex=max(1, math.ceil(seconds)))))


def refresh_release(*, key: str) -> None:
    """Give the claim back (the job could not be queued): the next stale read tries again."""
    redis_client.call(lambda r: r.delete(keys.refresh_key(key=key)))
