"""The semantic lookup at scale: candidates_nearest over N cached questions, vs the naive Redis scan.

pgvector side: a TEMPORARY table named like CachedQuestion's shadows it for this connection only
(pg_temp comes first on the search path), so the unchanged candidates_nearest runs its real query
against N synthetic rows, with the same HNSW and btree indexes, while nobody else's semantic lookups
see them, and cleaning up is a DROP instead of deleting 100k rows from the shared HNSW index (whose
vacuum would then rebuild graph edges for minutes on the two shared cores). Its temp_buffers are set
to the server's shared_buffers, so the rows compete for as much cache as the real table's would.

Naive side, as tutorials write it: every embedding stored as raw float32 under its own Redis key;
a lookup SCANs the keys, GETs each one and computes the cosine in numpy.
"""

import time
from collections.abc import Iterator

import numpy as np
from django.db import connection
from django.utils import timezone
from pgvector.psycopg.register import register_vector_info
from psycopg.types import TypeInfo

from cache_policies import redis_client
from bench.percentiles import ratio, summary
from bench.sandbox import PREFIX, keys_delete
from cache_policies.pgvector_binary import binary_cursor
from cache_policies.semantic import NEAREST_SQL, candidates_nearest, nearest_params

DIMENSIONS = 384
TABLE = "cache_policies_cachedquestion"
NAMESPACE = f"{PREFIX}:synthetic"
SCOPE = "shared"
THRESHOLD = 0.75
NEAR_NOISE = 0.02  # per-dimension noise on a stored vector: cosine ≈ 0.93, a paraphrase-like neighbour
NAIVE_BYTES_PER_KEY = 1800  # MEMORY USAGE of a 1536-byte string under a short key, rounded up
COPY_COLUMNS = (
    ("id", "int8"), ("namespace", "varchar"), ("scope", "varchar"), ("question", "text"), ("embedding", "vector"),
    ("response_key", "varchar"), ("retrieval_key", "varchar"), ("chunk_ids", "int8[]"), ("document_ids", "int8[]"),
    ("kth_score", "float8"), ("rank_floor", "float8"), ("slack", "int2"), ("created_at", "timestamptz"),
    ("expires_at", "timestamptz"),
)


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def query_vectors(rng: np.random.Generator, stored: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """"near": a perturbed stored vector (the lookup finds a candidate); "far": a random one (it finds none)."""
    near = stored[rng.integers(len(stored), size=n)] + rng.standard_normal((n, DIMENSIONS)).astype(np.float32) * NEAR_NOISE
    return {"near": near / np.linalg.norm(near, axis=1, keepdims=True), "far": unit_vectors(rng, n)}


# --- pgvector ------------------------------------------------------------------

def shadow_table_create() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_buffers")
        # temp_buffers can only change before the session's first temporary table.
        cursor.execute(f"SET temp_buffers = '{cursor.fetchone()[0]}'")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        # The site's statement_timeout (15 s) is for requests; an HNSW build over 100k rows takes longer.
        cursor.execute("SET statement_timeout = 0")
        cursor.execute(f"CREATE TEMPORARY TABLE {TABLE} (LIKE public.{TABLE})")


def shadow_table_drop() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{TABLE}")
        cursor.execute("RESET statement_timeout")


def shadow_rows_add(vectors: np.ndarray, *, first_id: int) -> None:
    """COPY rows in, with no index on the table: one HNSW insert per row would take minutes."""
    _shadow_indexes_drop()
    raw = connection.connection
    now = timezone.now()
    with raw.cursor() as cursor:
        register_vector_info(cursor, TypeInfo.fetch(raw, "vector"))
        columns = ", ".join(name for name, _ in COPY_COLUMNS)
        with cursor.copy(f"COPY pg_temp.{TABLE} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([kind for _, kind in COPY_COLUMNS])
            for offset, vector in enumerate(vectors):
                n = first_id + offset
                copy.write_row((n, NAMESPACE, SCOPE, f"synthetic question {n}", vector,
                                f"{NAMESPACE}:resp:{n}", "", [n], [n % 79], 0.5, 0.75, 15, now, None))


def _shadow_indexes_drop() -> None:
    with connection.cursor() as cursor:
        # This session's temporary schema only: another bench session's shadow table is its own.
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s AND schemaname = "
                       "(SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema())", [TABLE])
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX pg_temp."{name}"')


def shadow_indexes_build() -> float:
    """Build the real table's indexes on the shadow, in bulk; seconds taken."""
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s", [TABLE])
        for (definition,) in cursor.fetchall():
            head, _, tail = definition.partition(f" ON public.{TABLE} ")
            cursor.execute(f"CREATE {'UNIQUE ' if 'UNIQUE' in head else ''}INDEX ON pg_temp.{TABLE} {tail}")
        cursor.execute(f"ANALYZE pg_temp.{TABLE}")
    return time.perf_counter() - start


def shadow_sizes() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT pg_table_size('pg_temp.{TABLE}'), "
            f"(SELECT sum(pg_relation_size(indexrelid)) FROM pg_index WHERE indrelid = 'pg_temp.{TABLE}'::regclass "
            f" AND indexrelid::regclass::text LIKE '%%embedding%%')"
        )
        heap, hnsw = cursor.fetchone()
    return {"heap_bytes": int(heap), "hnsw_bytes": int(hnsw or 0)}


def pgvector_server_ms(queries: np.ndarray) -> list[float]:
    """The database's own planning + execution time of candidates_nearest's statement (EXPLAIN ANALYZE of it, with
    the same binary parameters): the rest of a lookup's time is the client's (sending the vector, reading the rows)."""
    timings = []
    for query in queries:
        params = nearest_params(namespace=NAMESPACE, scope=SCOPE, embedding=query)
        with binary_cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {NEAREST_SQL}", params, prepare=False)
            plan = cursor.fetchone()[0]
        plan = plan[0] if isinstance(plan, list) else plan
        timings.append(float(plan["Planning Time"]) + float(plan["Execution Time"]))
    return timings


def pgvector_lookups(queries: np.ndarray) -> list[float]:
    timings = []
    for query in queries:
        start = time.perf_counter()
        candidates_nearest(namespace=NAMESPACE, scope=SCOPE, embedding=query, threshold=THRESHOLD)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


# --- naive Redis scan -------------------------------------------------------------

def naive_key(n: int) -> str:
    return f"{PREFIX}:naive:{n}"


def naive_store(vectors: np.ndarray, *, first_id: int) -> None:
    conn = redis_client.connection()
    for start in range(0, len(vectors), 1000):
        pipe = conn.pipeline(transaction=False)
        for offset, vector in enumerate(vectors[start : start + 1000]):
            pipe.set(naive_key(first_id + start + offset), vector.tobytes())
        pipe.execute()


def naive_nearest(query: np.ndarray) -> tuple[bytes | None, float]:
    conn = redis_client.connection()
    best, best_similarity = None, -1.0
    for key in conn.scan_iter(match=f"{PREFIX}:naive:*", count=1000):
        vector = np.frombuffer(conn.get(key), dtype=np.float32)
        similarity = float(np.dot(query, vector) / (np.linalg.norm(query) * np.linalg.norm(vector)))
        if similarity > best_similarity:
            best, best_similarity = key, similarity
    return best, best_similarity


def naive_lookups(queries: np.ndarray) -> list[float]:
    timings = []
    for query in queries:
        start = time.perf_counter()
        naive_nearest(query)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def naive_fits(n: int) -> bool:
    """Whether n more vectors stay well inside maxmemory, so LRU eviction never touches the developer's keys."""
    memory = redis_client.connection().info("memory")
    limit = memory.get("maxmemory") or memory.get("total_system_memory", 0)
    return memory["used_memory"] + n * NAIVE_BYTES_PER_KEY < limit / 2


# --- the run -------------------------------------------------------------------------

def shadow_grown(stored: np.ndarray, sizes: list[int], *, log, what: str) -> Iterator[int]:
    """The shadow table grown to each size in turn, from stored's first rows; dropped when the loop ends."""
    loaded = 0
    shadow_table_create()
    try:
        for size in sorted(sizes):
            log(f"{what}: {size:,} rows")
            shadow_rows_add(stored[loaded:size], first_id=loaded + 1)
            loaded = size
            yield size
    finally:
        shadow_table_drop()


def scale_run(*, sizes: list[int], queries: int, naive_max: int, naive_queries: int, log, seed: int = 11) -> dict:
    rng = np.random.default_rng(seed)
    stored = unit_vectors(rng, max(sizes))
    results, naive_loaded = [], 0
    try:
        for size in shadow_grown(stored, sizes, log=log, what="semantic lookup"):
            row = {"size": size, "index_build_s": round(shadow_indexes_build(), 2), **shadow_sizes()}
            probes = query_vectors(rng, stored[:size], queries)
            pgvector_lookups(probes["near"][:5])  # the first lookups read the index into the buffers
            row["pgvector"] = {kind: summary(pgvector_lookups(vectors)) for kind, vectors in probes.items()}
            # Probes of their own: the lookups above already read their probes' part of the index into the buffers,
            # and at 100k rows the index and the table (410 MB) outgrow the default 128 MB of them.
            row["pgvector"]["near_server"] = summary(pgvector_server_ms(query_vectors(rng, stored[:size], 20)["near"]))
            if size <= naive_max and naive_fits(size - naive_loaded):
                naive_store(stored[naive_loaded:size], first_id=naive_loaded + 1)
                naive_loaded = size
                row["naive"] = summary(naive_lookups(probes["near"][:naive_queries]))
                row["naive_over_pgvector"] = ratio(row["naive"]["p50"], row["pgvector"]["near"]["p50"])
            results.append(row)
    finally:
        keys_delete(pattern=f"{PREFIX}:naive:*")
    return {"threshold": THRESHOLD, "queries": queries, "naive_queries": naive_queries, "sizes": results}
