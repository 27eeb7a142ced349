"""The Redis Cluster client (REDIS_CLUSTER_NODES): django-redis's cache API and the speed layer's
failure handling on a real 3-master, 3-replica cluster."""

import os
import subprocess
import sys

import pytest
from django_redis.cache import RedisCache

from cache_policies.redis_cluster import ClusterConnectionFactory
from tests.servers import BASE_DIR, Cluster, free_port

# Not marked redis: they start clusters of their own, whatever Redis the run is configured with.
pytestmark = [pytest.mark.slow]


def cluster_cache(nodes: list[tuple[str, int]]) -> RedisCache:
    host, port = nodes[0]
    return RedisCache(f"redis://{host}:{port}/0", {
        "KEY_PREFIX": "rag-cluster-test",
        "OPTIONS": {
            "CLIENT_CLASS": "cache_policies.redis_cluster.ClusterClient",
            "CONNECTION_FACTORY": "cache_policies.redis_cluster.ClusterConnectionFactory",
            "CLUSTER_NODES": nodes,
            "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
            "SOCKET_TIMEOUT": 0.5,
            "IGNORE_EXCEPTIONS": True,
        },
    })


@pytest.fixture(scope="module")
def cluster():
    with Cluster() as running:
        yield running


@pytest.fixture
def cache(cluster):
    cache = cluster_cache([("127.0.0.1", node.port) for node in cluster.masters])
    cache.clear()
    yield cache
    cache.clear()


def test_it_reads_and_writes_many_keys_spread_over_every_master(cache, cluster):
    values = {f"question-{i}": i for i in range(30)}
    cache.set_many(values)

    assert cache.get_many([*values, "never-set"]) == values
    assert all(node.client().dbsize() > 0 for node in cluster.masters), "30 keys land on all three masters"


def test_it_lists_and_counts_keys_on_every_master(cache):
    cache.set_many({f"k{i}": i for i in range(12)})
    redis = cache.client.get_client()

    assert len(redis.keys("rag-cluster-test:*")) == 12
    assert redis.dbsize() == 12
    assert sorted(cache.keys("k*")) == sorted(f"k{i}" for i in range(12))


def test_it_deletes_keys_of_different_slots_and_clears_every_master(cache, cluster):
    cache.set_many({"a": 1, "b": 2, "c": 3})
    assert cache.delete_many(["a", "b"]) == 2
    assert cache.get_many(["a", "b", "c"]) == {"c": 3}

    cache.clear()
    assert sum(node.client().dbsize() for node in cluster.masters) == 0


def test_it_hands_out_one_cluster_client_per_process(cache):
    assert cache.client.get_client() is cluster_cache(cache.client._options["CLUSTER_NODES"]).client.get_client()


def test_it_reads_as_a_miss_when_no_node_answers():
    cache = cluster_cache([("127.0.0.1", free_port())])

    assert cache.get("anything", "miss") == "miss"
    assert cache.set("anything", 1) is None


def test_it_raises_a_redis_error_the_speed_layer_reads_as_a_miss():
    from redis.exceptions import ConnectionError

    factory = ClusterConnectionFactory({"CLUSTER_NODES": [("127.0.0.1", free_port())], "SOCKET_TIMEOUT": 0.2})
    with pytest.raises(ConnectionError, match="no node of the Redis Cluster answered"):
        factory.connect("redis://unused")


@pytest.mark.parametrize("other", [{"REDIS_URL": "redis://127.0.0.1:6379/0"}, {"REDIS_SENTINELS": "127.0.0.1:26379"}])
def test_it_refuses_a_cluster_mixed_with_another_redis_setting(other):
    env = {**os.environ, "REDIS_URL": "", "REDIS_SENTINELS": "", "REDIS_CLUSTER_NODES": "127.0.0.1:7000", **other}
    result = subprocess.run([sys.executable, "-c", "import ragsite.settings"], env=env, cwd=BASE_DIR,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "Set one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES, not several" in result.stderr


def test_it_names_the_variable_when_a_node_is_not_host_and_port():
    env = {**os.environ, "REDIS_URL": "", "REDIS_CLUSTER_NODES": "127.0.0.1"}
    result = subprocess.run([sys.executable, "-c", "import ragsite.settings"], env=env, cwd=BASE_DIR,
                            capture_output=True, text=True, timeout=60)

    assert "REDIS_CLUSTER_NODES must be host:port pairs" in result.stderr
