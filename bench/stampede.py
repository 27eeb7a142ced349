"""A stampede: `threads` identical cold questions at once. Single-flight should let exactly one reach the LLM."""

import threading
import time
from collections import Counter
from collections.abc import Callable

from django.db import connections


def stampede_run(*, ask: Callable[[str], tuple[str, dict]], question: str, threads: int, llm_calls: Callable[[], int]) -> dict:
    """ask(question) from `threads` threads released together; llm_calls() reads the LLM call counter."""
    barrier = threading.Barrier(threads)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def one():
        barrier.wait()
        try:
            outcome, _ = ask(question)
        except Exception as exc:  # a failed request is a result to report, not a crash of the bench
            outcome = f"error: {type(exc).__name__}"
        finally:
            connections.close_all()
        with lock:
            outcomes[outcome] += 1

    before = llm_calls()
    started = time.perf_counter()
    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {
        "threads": threads,
        "llm_calls": llm_calls() - before,
        "outcomes": dict(outcomes),
        "seconds": round(time.perf_counter() - started, 2),
    }
