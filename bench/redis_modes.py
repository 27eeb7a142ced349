"""One Valkey vs a 3-master Redis Cluster on the same machine: what a cluster costs an exact hit.

Each mode runs in a subprocess of its own (the Redis settings are read once, at start) against a
private server: it caches the questions once, then times exact hits in-process and counts, per hit,
the client's round trips (socket writes: a pipeline is one per node it touches) and the commands the
servers processed. Stats are written by a background thread and count too, spread over the hits.
Two shared cores cannot show the scale-out; the point is the price per request, and the memory per
cached answer that the README's sizing arithmetic starts from.

    python -m bench.redis_modes QUESTIONS HITS   (the probe; prints one JSON line)
"""

import json
import os
import subprocess
import sys
import time

from bench.percentiles import ratio, summary

PROBE_TIMEOUT = 900


def redis_modes_run(*, questions: int, hits: int, log=print) -> dict:
    from django.conf import settings

    from tests.servers import Cluster, Valkey

    common = {"DATABASE_URL": settings.DATABASE_URL, "REDIS_SENTINELS": ""}
    results = {}
    log(f"redis modes: {hits} exact hits on one Valkey")
    with Valkey() as valkey:
        results["standalone"] = _probe({**common, "REDIS_URL": valkey.url(), "REDIS_CLUSTER_NODES": ""}, questions, hits)
    log(f"redis modes: {hits} exact hits on a 3-master, 3-replica cluster")
    with Cluster() as cluster:
        results["cluster"] = _probe({**common, "REDIS_URL": "", "REDIS_CLUSTER_NODES": cluster.nodes_setting()}, questions, hits)
    one, many = results["standalone"], results["cluster"]
    results["cluster_over_standalone"] = {
        "p50": ratio(many["latency"]["p50"], one["latency"]["p50"]),
        "hits_per_second": ratio(many["hits_per_second"], one["hits_per_second"]),
    }
    return results


def _probe(env: dict, questions: int, hits: int) -> dict:
    from django.conf import settings

    from bench.sandbox import PREFIX

    env = {**os.environ, **env, "DJANGO_SETTINGS_MODULE": "ragsite.settings", "REDIS_KEY_PREFIX": PREFIX,
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-m", "bench.redis_modes", str(questions), str(hits)],
                          env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"probe failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class _RoundTrips:
    """Counts socket writes of every redis-py connection in this process (one per request or pipeline)."""

    def __init__(self):
        from redis.connection import AbstractConnection

        self.count = 0
        original = AbstractConnection.send_packed_command

        def counted(connection, command, check_health=True):
            self.count += 1
            return original(connection, command, check_health)

        AbstractConnection.send_packed_command = counted


def _commands_processed(conn) -> int:
    """Commands every master has processed (the INFO asking for it counts one per master)."""
    if hasattr(conn, "get_primaries"):  # a RedisCluster: INFO goes to one node unless told otherwise
        per_node = conn.info("stats", target_nodes=conn.PRIMARIES).values()
    else:
        per_node = [conn.info("stats")]
    return sum(int(node["total_commands_processed"]) for node in per_node)


def probe(*, questions: int, hits: int) -> dict:
    from cache_policies import redis_client
    from bench.memory import layer_memory
    from bench.questions import QUESTIONS
    from bench.sandbox import bench_purge
    from cache_policies.stats import flush_pending
    from qa.pipeline import question_answer

    texts = [q.question for q in QUESTIONS[:questions]]
    bench_purge()
    for text in texts:
        question_answer(question=text)  # the cold pass: every question cached
    flush_pending()
    conn = redis_client.connection()
    trips, commands_before, samples = _RoundTrips(), _commands_processed(conn), []
    started = time.perf_counter()
    for i in range(hits):
        start = time.perf_counter()
        answer = question_answer(question=texts[i % len(texts)])
        samples.append((time.perf_counter() - start) * 1000)
        if answer.cache["response"] != "hit":
            raise RuntimeError(f"expected an exact hit, got {answer.cache['response']}")
    elapsed = time.perf_counter() - started
    flush_pending()
    measured = {
        "hits": hits,
        "latency": summary(samples),
        "hits_per_second": round(hits / elapsed, 1),
        "round_trips_per_hit": round(trips.count / hits, 2),
        "commands_per_hit": round((_commands_processed(conn) - commands_before) / hits, 2),
        "memory": layer_memory(),
    }
    bench_purge()
    return measured


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(probe(questions=int(sys.argv[1]), hits=int(sys.argv[2]))))
