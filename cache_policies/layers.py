"""Cache-aside reads and writes for the four layers. Redis failures read as misses.

Values: embeddings as raw float32 bytes; retrievals and responses as JSON. Nothing pickled.
An entry is written only after its dependency tags (json_set_with_dependents says why that
order, not a MULTI, is what keeps it findable on a Redis Cluster).
"""

import json
from dataclasses import dataclass

import numpy as np

from cache_policies import keys, redis_client
from cache_policies.policies import Policy

MODES = ("default", "no-cache", "no-store")


@dataclass(frozen=True)
class Access:
    """What a request may do with a layer, from its policy and the request's cache mode."""

    read: bool
    write: bool

    @classmethod
    def of(cls, *, policy: Policy, mode: str) -> "Access":
        if not policy.enabled or mode == "no-store":
            return cls(read=False, write=False)
        return cls(read=mode == "default", write=True)

    def status_when_skipped(self, policy: Policy) -> str:
        return "off" if not policy.enabled else "bypass"


# --- embeddings: raw float32 -------------------------------------------------

def embedding_get(*, key: str, dimensions: int) -> np.ndarray | None:
    raw = redis_client.call(lambda r: r.get(key))
    if raw is None or len(raw) != dimensions * 4:
        return None
    return np.frombuffer(raw, dtype=np.float32)


def embedding_set(*, key: str, vector: np.ndarray, policy: Policy) -> None:
    data = np.asarray(vector, dtype=np.float32).tobytes()
    redis_client.call(lambda r: r.set(key, data, ex=policy.ttl))


# --- JSON entries (retrieval, response) ---------------------------------------

def json_get(*, key: str) -> dict | None:
    raw = redis_client.call(lambda r: r.get(key))
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def json_set_with_dependents(*, key: str, value: dict, policy: Policy, tag_keys: list[str]) -> bool:
    """Store value under key after adding key to every dependency tag set: no entry without its tags.

    The tags and the entry may sit in different hash slots (on different masters in a cluster), so
    no MULTI or script can write them together. Order does it instead: the entry is written only
    once every tag write was acknowledged. A failure or a crash in between leaves tag members
    pointing at nothing, which an invalidation deletes harmlessly; it never leaves an entry that
    an invalidation cannot find. An invalidation running between the two writes is the version
    fence's case (the caller checks document versions after this returns).
    """
    data = json.dumps(value, separators=(",", ":"))

    def write(r):
        if tag_keys:
            tags_add(r, tags=tag_keys, member=key, policy=policy)
        return bool(r.set(key, data, ex=policy.ttl))

    return bool(redis_client.call(write, default=False))


def tags_add(r, *, tags: list[str], member: str, policy: Policy) -> None:
    """Add member to every tag set, each set kept at least as long as the entries it points at."""
    # Not a transaction: each set is one key of its own slot, and the pipeline is only a batch.
    pipe = r.pipeline(transaction=False)
    for tag in tags:
        pipe.sadd(tag, member)
        if policy.ttl:
            # A tag set must outlive the entries it points at; stale members are harmless.
            pipe.expire(tag, policy.ttl + 3600, gt=True)
            pipe.expire(tag, policy.ttl + 3600, nx=True)
        else:
            pipe.persist(tag)
    pipe.execute()


def entries_delete(*, keys_to_delete: list[str]) -> int:
    if not keys_to_delete:
        return 0
    return int(redis_client.call(lambda r: r.unlink(*keys_to_delete), default=0))
