"""The issue's targets, read off the results. Reported, never asserted: a miss is a finding."""

from dataclasses import dataclass

EMBEDDING_BYTES_TARGET = 1.7 * 1024


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    unit: str
    goal: str
    met: bool | None  # None: not measured in this run


def _check(name: str, value, unit: str, goal: str, test) -> Target:
    return Target(name, value, unit, goal, None if value is None else bool(test(value)))


def _get(data: dict, *path, default=None):
    for part in path:
        if not isinstance(data, (dict, list)):
            return default
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return default
    return data


def targets_evaluate(results: dict) -> list[Target]:
    local, openai = _get(results, "profiles", "local", default={}), _get(results, "profiles", "openai", default={})
    top = _get(local, "throughput", -1, default={})
    scale = _get(results, "semantic_scale", "sizes", default=[])
    largest = scale[-1] if scale else {}
    common = [row for row in scale if "naive" in row]
    moved = {row["size"]: row for row in _get(results, "displacement", "sizes", default=[])}
    found = [
        *[_check(f"exact hit over HTTP, p50 vs bare DRF p50 (concurrency {c['concurrency']})", c.get("p50_over_bare"), "×", "≤ 1.5×",
                 lambda v: v <= 1.5) for c in _get(local, "throughput", default=[])],
        _check(f"exact-hit throughput vs bare DRF (concurrency {top.get('concurrency', '-')})", _get(top, "rps_share_of_bare"), "of bare", "≥ 0.60", lambda v: v >= 0.6),
        _check("local: cold p50 / exact-hit p50, in-process", _get(local, "in_process", "speedup", "exact_wall"), "×", "≥ 10×", lambda v: v >= 10),
        _check("local: cold p50 / exact-hit p50, over HTTP", _get(local, "http", "speedup", "exact_wall"), "×", "≥ 10×", lambda v: v >= 10),
        _check("openai: cold p50 / exact-hit p50, in-process", _get(openai, "in_process", "speedup", "exact_wall"), "×", "≥ 100×", lambda v: v >= 100),
        _check("openai: cold p50 / exact-hit p50, over HTTP", _get(openai, "http", "speedup", "exact_wall"), "×", "≥ 100×", lambda v: v >= 100),
        *[_check(f"openai: semantic hit p50, {where.replace('_', '-')}", _get(openai, where, "phases", "semantic", "stages", "wall", "p50"),
                 "ms", "≤ 50 ms", lambda v: v <= 50) for where in ("in_process", "http")],  # #11
        _check(f"semantic lookup p50 at {largest.get('size')} rows", _get(largest, "pgvector", "near", "p50"), "ms", "≤ 2.5 ms", lambda v: v <= 2.5),  # #11
        _check(f"pgvector vs naive Redis scan at {common[-1]['size'] if common else '-'} rows", _get(common, -1, "naive_over_pgvector"), "×", "≥ 1000×", lambda v: v >= 1000),
        _check("change-ledger read per request, p50 in-process (part of every hit)", _get(local, "ledger_read", "p50"), "ms", "reported",
               lambda v: True),
        _check("displacement check of an edit at 100,000 cached questions (database time)", _get(moved, 100000, "edit", "database_ms_p50"),
               "ms", "≤ 200 ms", lambda v: v <= 200),
        _check("displacement check of a new 81-chunk document at 1,000,000 (database time)", _get(moved, 1000000, "new_document", "database_ms_p50"),
               "ms", "completes", lambda v: True),
        _check("local: extractive answer generation p50 (cold, in-process)", _get(local, "in_process", "phases", "cold", "stages", "generate", "p50"), "ms", "≤ 5 ms", lambda v: v <= 5),
        _check("openai: stale hit p50 / fresh exact-hit p50, in-process", _get(openai, "stale", "stale_over_fresh_p50"), "×",
               "reported", lambda v: True),
        _check("semantic guard bytes per chunk (sentence vectors), over the chunk's own vector",
               _get(results, "guard_storage", "guard_over_chunk_vector"), "×", "≤ 2×", lambda v: v <= 2),
        _check("Redis bytes per cached 384-d embedding (p50)", _get(local, "memory", "embedding", "bytes", "p50"), "B", "≤ 1.7 KB (1741 B)", lambda v: v <= EMBEDDING_BYTES_TARGET),
    ]
    for profile, data in (("local", local), ("openai", openai)):
        for where in ("in_process", "http"):
            stampede = _get(data, f"stampede_{where}")
            if stampede:
                found.append(_check(f"{profile}: LLM calls for {stampede['threads']} concurrent cold questions, {where.replace('_', '-')}",
                                    stampede["llm_calls"], "calls", "exactly 1", lambda v: v == 1))
    return found
