"""Redis Cluster behind django-redis (REDIS_CLUSTER_NODES): a connection factory and a client class.

django-redis has no cluster client (its issue #606); this is the approach users take there, made
whole. The factory hands out one process-wide redis-py RedisCluster, which keeps the slot map and
follows MOVED/ASK redirections; the client class fixes the DefaultClient methods that assume one
server. Failures stay where they are handled today: redis_client.call's circuit breaker.

    CACHES["default"]["OPTIONS"] = {
        "CLIENT_CLASS": "cache_policies.redis_cluster.ClusterClient",
        "CONNECTION_FACTORY": "cache_policies.redis_cluster.ClusterConnectionFactory",
        "CLUSTER_NODES": [("10.0.0.1", 6379), ("10.0.0.2", 6379)],
    }
"""

import threading
from typing import Any

from django_redis.client import DefaultClient
from django_redis.exceptions import ConnectionInterrupted
from django_redis.pool import ConnectionFactory
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.commands.core import ScriptCommands
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.retry import Retry


class ScriptingClusterPipeline(ClusterPipeline):
    """A cluster pipeline that may queue EVALSHA.

    redis-py blocks EVALSHA in cluster pipelines, yet routes it by its keys exactly as it does EVAL,
    which it allows. Every script of ours touches keys of one slot, so it is as safe as a one-key
    command, and the rate limit's check can share the request's pipeline (one round trip per node).
    """

    evalsha = ScriptCommands.evalsha


class WholeClusterRedis(RedisCluster):
    """RedisCluster whose KEYS and DBSIZE ask every master, not one chosen node.

    redis-py sends KEYS to a single default node; over a cluster that silently answers a third of
    the truth. KEYS stays an operator's and a test's tool (the site itself never calls it).
    """

    COMMAND_FLAGS = {**RedisCluster.COMMAND_FLAGS, "KEYS": RedisCluster.PRIMARIES, "DBSIZE": RedisCluster.PRIMARIES}

    def pipeline(self, transaction=None, shard_hint=None) -> ScriptingClusterPipeline:
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)
        # Same object, one method unblocked: cheaper to keep in step with redis-py than its constructor.
        pipe.__class__ = ScriptingClusterPipeline
        return pipe

    def execute_command(self, *args, **kwargs):
        # "No node reachable" is a RedisClusterException, not a RedisError: raised as is, it would
        # slip past django-redis's IGNORE_EXCEPTIONS and the speed layer's miss-on-failure.
        try:
            return super().execute_command(*args, **kwargs)
        except RedisClusterException as exc:
            raise RedisConnectionError(str(exc)) from exc


class ClusterConnectionFactory(ConnectionFactory):
    # One RedisCluster per process and node list: django-redis builds a client per cache access,
    # and each RedisCluster holds a slot map and a pool per node that must not be rebuilt each time.
    _clusters: dict[tuple, RedisCluster] = {}
    _lock = threading.Lock()

    def connect(self, url: str) -> RedisCluster:
        nodes = tuple(tuple(node) for node in self.options["CLUSTER_NODES"])
        with self._lock:
            if nodes not in self._clusters:
                self._clusters[nodes] = self._cluster(nodes)
            return self._clusters[nodes]

    def _cluster(self, nodes: tuple) -> RedisCluster:
        timeout = self.options.get("SOCKET_TIMEOUT")
        try:
            return WholeClusterRedis(
                startup_nodes=[ClusterNode(host, port) for host, port in nodes],
                socket_timeout=timeout,
                socket_connect_timeout=self.options.get("SOCKET_CONNECT_TIMEOUT", timeout),
                # One retry after re-reading the slot map (a failover, a moved slot); more would only
                # make a request wait on a dead node. Redirections (MOVED/ASK) do not count as retries.
                retry=Retry(NoBackoff(), 1),
                **self.pool_cls_kwargs,
            )
        except RedisClusterException as exc:
            # Not a RedisError: callers that treat Redis failures as misses would see a crash instead.
            raise RedisConnectionError(f"no node of the Redis Cluster answered: {exc}") from exc

    def disconnect(self, connection: RedisCluster) -> None:
        connection.disconnect_connection_pools()


class ClusterClient(DefaultClient):
    """DefaultClient on one RedisCluster; methods that would send multi-key commands to one node are redone."""

    def __init__(self, server, params: dict[str, Any], backend) -> None:
        # LOCATION names the cluster only for display; the nodes come from OPTIONS["CLUSTER_NODES"].
        super().__init__(server, params, backend)
        self._server, self._clients = self._server[:1], [None]

    def get_client(self, write: bool = True, tried=None) -> RedisCluster:
        # Building the client asks a node for the slot map, outside the try of every DefaultClient
        # method: raise what django-redis's IGNORE_EXCEPTIONS (and redis_client.call) expect.
        try:
            return super().get_client(write=write, tried=tried)
        except RedisError as exc:
            raise ConnectionInterrupted(connection=None) from exc

    def get_many(self, keys, version: int | None = None, client=None) -> dict:
        """MGET must stay in one slot; mget_nonatomic splits the keys per slot and asks each node."""
        client = client or self.get_client(write=False)
        by_key = {self.make_key(k, version=version): k for k in keys}
        if not by_key:
            return {}
        try:
            values = client.mget_nonatomic(list(by_key))
        except RedisError as exc:
            raise ConnectionInterrupted(connection=client) from exc
        return {by_key[key]: self.decode(value) for key, value in zip(by_key, values) if value is not None}
