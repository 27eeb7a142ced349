"""A document change's displacement check at scale: the database time of invalidation._displaced_entries.

The same TEMPORARY shadow table as the semantic phase (bench/semantic_scale.py) holds N synthetic cached
questions, each with a k-th retrieved score of KTH; a few of them lie close to the changed chunks
(cosine about 0.6 > KTH), so each probe really finds questions to drop. Timed, as EXPLAIN ANALYZE of the
statements the unchanged function sends (plan + execute, summed):

- edit: a change that adds EDIT_CHUNKS new chunks (a paragraph rewritten); the document's unchanged chunks
  are not compared (qa/signals.py), which is the point of the design;
- new document: NEW_DOCUMENT_CHUNKS new chunks, all compared (the worst case: a large document at once).

No HNSW index is built: the check is an exact scan, by design (see DISPLACEMENT_BATCH), so the phase runs
at a million rows in the time the rows take to load.
"""

import time

import numpy as np
from django.db import connection

from bench.semantic_scale import TABLE, shadow_grown, unit_vectors
from cache_policies.invalidation import _displaced_entries

KTH = 0.5  # what shadow_rows_add gives every row
EDIT_CHUNKS = 2
NEW_DOCUMENT_CHUNKS = 81  # the measured document
NEAR_PER_PROBE = 8
DOCUMENT_ID = 10_000_000  # no synthetic row cites it


def _chunks_near(rng: np.random.Generator, stored: np.ndarray, n: int) -> tuple[np.ndarray, set[int]]:
    """n chunk vectors; the first NEAR_PER_PROBE sit at cosine ~0.6 from a stored question (row id = index + 1)."""
    near = min(n, NEAR_PER_PROBE)
    rows = rng.choice(len(stored), size=near, replace=False)
    mixed = stored[rows] * 0.6 + unit_vectors(rng, near) * 0.8
    chunks = np.vstack([mixed / np.linalg.norm(mixed, axis=1, keepdims=True), unit_vectors(rng, n - near)])
    return chunks.astype(np.float32), {int(r) + 1 for r in rows}


def _database_ms(chunks: np.ndarray) -> tuple[float, int, int]:
    """(summed plan + execute ms of the check's statements, statements, rows found)."""
    statements = []

    def capture(execute, sql, params, many, context):
        if "unnest" in sql:
            statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        found = _displaced_entries(document_id=DOCUMENT_ID, chunk_vectors=chunks)
    total = 0.0
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
            plan = plan[0] if isinstance(plan, list) else plan
            total += float(plan["Planning Time"]) + float(plan["Execution Time"])
    return total, len(statements), len(found)


def _probe(rng: np.random.Generator, stored: np.ndarray, n_chunks: int, repeats: int) -> dict:
    timings, found, expected, statements, wall = [], 0, 0, 0, []
    for _ in range(repeats):
        chunks, near_rows = _chunks_near(rng, stored, n_chunks)
        start = time.perf_counter()
        ms, statements, rows = _database_ms(chunks)
        wall.append((time.perf_counter() - start) * 1000)
        timings.append(ms)
        found, expected = found + rows, expected + len(near_rows)
    return {"chunks": n_chunks, "statements": statements, "database_ms_p50": round(float(np.median(timings)), 1),
            "database_ms_max": round(max(timings), 1), "found": found, "planted": expected, "repeats": repeats}


def displacement_run(*, sizes: list[int], log, repeats: int = 3, seed: int = 23) -> dict:
    rng = np.random.default_rng(seed)
    results = []
    stored = unit_vectors(rng, max(sizes))
    for size in shadow_grown(stored, sizes, log=log, what="displacement check"):
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE pg_temp.{TABLE}")
        results.append({
            "size": size,
            "edit": _probe(rng, stored[:size], EDIT_CHUNKS, repeats),
            "new_document": _probe(rng, stored[:size], NEW_DOCUMENT_CHUNKS, 1 if size > 100_000 else repeats),
        })
    return {"kth_score": KTH, "sizes": results}
