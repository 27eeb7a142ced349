"""Redis's own view of itself (INFO, and CONFIG's save), for the stats page, /api/stats, /metrics and the checks.

One call through redis_client.call, within REDIS_SOCKET_TIMEOUT: with Redis down it is up=False, never an error.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from redis.exceptions import ResponseError

from cache_policies import redis_client


@dataclass(frozen=True)
class RedisHealth:
    up: bool
    embedded: bool
    location: str
    server: str = ""
    version: str = ""
    used_memory: int = 0
    maxmemory: int = 0
    maxmemory_policy: str = ""
    evicted_keys: int = 0
    expired_keys: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    persistence: bool = False  # RDB snapshots or an append-only file: a restart reloads old entries

    @property
    def memory_ratio(self) -> float | None:
        return self.used_memory / self.maxmemory if self.maxmemory else None

    @property
    def keyspace_hit_ratio(self) -> float | None:
        lookups = self.keyspace_hits + self.keyspace_misses
        return self.keyspace_hits / lookups if lookups else None



def _location() -> str:
    """Where Redis is, without any password the URL carries."""
    parts = urlsplit(settings.REDIS_URL)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _info_read(r) -> tuple[dict, str]:
    info = r.info()
    try:
        save = r.config_get("save")
    except ResponseError:  # CONFIG renamed or refused, as on many managed services
        save = {}
    return info, str(save.get("save", "")) if isinstance(save, dict) else ""


def redis_health() -> RedisHealth:
    """Redis's INFO, within the client's socket timeout; up=False when it does not answer."""
    read = redis_client.call(_info_read)
    where = {"embedded": settings.EMBEDDED_REDIS, "location": _location()}
    if read is None:
        return RedisHealth(up=False, **where)
    info, save = read
    return RedisHealth(
        up=True,
        **where,
        server="valkey" if "valkey_version" in info else "redis",
        version=str(info.get("valkey_version") or info.get("redis_version", "")),
        used_memory=int(info.get("used_memory", 0)),
        maxmemory=int(info.get("maxmemory", 0)),
        maxmemory_policy=str(info.get("maxmemory_policy", "")),
        evicted_keys=int(info.get("evicted_keys", 0)),
        expired_keys=int(info.get("expired_keys", 0)),
        keyspace_hits=int(info.get("keyspace_hits", 0)),
        keyspace_misses=int(info.get("keyspace_misses", 0)),
        persistence=bool(save.strip()) or int(info.get("aof_enabled", 0)) == 1,
    )
