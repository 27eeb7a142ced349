"""Cache-aside reads and writes for the four layers. Redis failures read as misses.

Values: embeddings as raw float32 bytes; retrievals and responses as JSON. Nothing pickled.
Each write of an entry and its dependency tags goes in one MULTI, so no entry exists
without the tags that invalidate it.
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
    """Store value under key and add key to every dependency tag set, atomically."""
    data = json.dumps(value, separators=(",", ":"))

    def write(r):
        pipe = r.pipeline(transaction=True)
        pipe.set(key, data, ex=policy.ttl)
        for tag in tag_keys:
            pipe.sadd(tag, key)
            if policy.ttl:
                # A tag set must outlive the entries it points at; stale members are harmless.
                pipe.expire(tag, policy.ttl + 3600, gt=True)
                pipe.expire(tag, policy.ttl + 3600, nx=True)
            else:
                pipe.persist(tag)
        pipe.execute()
        return True

    return bool(redis_client.call(write, default=False))


def entries_delete(*, keys_to_delete: list[str]) -> int:
    if not keys_to_delete:
        return 0
    return int(redis_client.call(lambda r: r.unlink(*keys_to_delete), default=0))
