"""Redis memory per cached entry, per layer: MEMORY USAGE of the entries the pipeline really wrote."""

from bench.percentiles import summary
from cache_policies import keys, redis_client
from cache_policies.models import Layer

# How each kind of entry's keys are found (under the bench's own key prefix, set by bench_settings()).
KINDS = {
    **{layer.value: {"layer": layer} for layer in (Layer.EMBEDDING, Layer.RETRIEVAL, Layer.RESPONSE)},
    "dependency tags": {"kind": "dep"}, "stats": {"kind": "stats"},
}


def layer_memory() -> dict:
    conn = redis_client.connection()
    report = {}
    for kind, pattern in KINDS.items():
        usage = [conn.memory_usage(key, samples=0) for key in conn.scan_iter(match=keys.layer_pattern(**pattern), count=1000)]
        usage = [u for u in usage if u is not None]
        report[kind] = {"entries": len(usage), "total_bytes": sum(usage), "bytes": summary(usage)}
    return report
