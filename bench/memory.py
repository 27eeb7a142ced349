"""Redis memory per cached entry, per layer: MEMORY USAGE of the entries the pipeline really wrote."""

from cache_policies import redis_client
from bench.percentiles import summary
from bench.sandbox import PREFIX

# The key part after the prefix that names each kind of entry (see cache_policies/keys.py).
KINDS = {"embedding": "emb", "retrieval": "ret", "response": "resp", "dependency tags": "dep", "stats": "stats"}


def layer_memory() -> dict:
    conn = redis_client.connection()
    report = {}
    for kind, part in KINDS.items():
        usage = [conn.memory_usage(key, samples=0) for key in conn.scan_iter(match=f"{PREFIX}:{part}:*", count=1000)]
        usage = [u for u in usage if u is not None]
        report[kind] = {"entries": len(usage), "total_bytes": sum(usage), "bytes": summary(usage)}
    return report
