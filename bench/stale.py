"""Stale hits beside fresh ones, in-process, on the same entries: what serve-stale-while-revalidate costs a reader.

Each question is asked cold, then timed as an exact hit `repeats` times; then its entry is aged (its
fresh_until moved into the past, as a passed TTL would) and its refresh claimed in the bench's name, so the
timed stale reads are what every reader but the first pays (the first also queues one job: one INSERT), and
no refresh job is left in the developer's queue.
"""

import time

from bench.latency import in_process_ask
from bench.percentiles import ratio, summary
from cache_policies import keys, redis_client
from cache_policies.models import Layer, Outcome
from qa.pipeline import request_begin


def _aged(question: str) -> None:
    req = request_begin(question=question)
    key, codec = req.response_key, req.response.codec
    value = codec.decode(redis_client.connection().get(key) or b"")
    if value is None:
        return
    value["fresh_until"] = time.time() - 1
    conn = redis_client.connection()
    conn.set(key, codec.encode(value), keepttl=True)
    conn.set(keys.refresh_key(key=key), "bench", ex=300)


def _walls(questions: list[str], repeats: int, expected: Outcome) -> tuple[list[float], dict[str, int]]:
    walls, outcomes = [], {}
    for _ in range(repeats):
        for question in questions:
            outcome, timings = in_process_ask(question)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome == expected:
                walls.append(timings["wall"])
    return walls, outcomes


def stale_run(*, questions: list[str], repeats: int = 5) -> dict:
    for question in questions:
        in_process_ask(question)  # cold: the entries
    fresh, fresh_outcomes = _walls(questions, repeats, Outcome.HIT)
    for question in questions:
        _aged(question)
    stale, stale_outcomes = _walls(questions, repeats, Outcome.STALE)
    fresh_summary, stale_summary = summary(fresh), summary(stale)
    return {"fresh_hit": {**fresh_summary, "outcomes": fresh_outcomes},
            "stale_hit": {**stale_summary, "outcomes": stale_outcomes},
            "stale_over_fresh_p50": ratio(stale_summary["p50"], fresh_summary["p50"]), "layer": Layer.RESPONSE.value}
