"""The background half of serve-stale-while-revalidate: a stale answer's refresh, as a job.

A request that served a stale answer and won the claim (cache_policies/refresh.py) queues it; the job
worker answers the question again over the stale entry. The payload is JSON (the question and the user
whose scope the entry is in); the queue is PostgreSQL's, so a refresh outlives the worker that queued it.
"""

import logging

from django_tasks import task

from cache_policies.refresh import refresh_claim, refresh_release

logger = logging.getLogger(__name__)


@task()
def answer_refresh(*, question: str, user_id: int | None = None) -> str:
    from qa.pipeline import question_refresh

    return question_refresh(question=question, user_id=user_id).value


def refresh_queue(*, question: str, user_id: int | None, key: str, guard_seconds: float) -> bool:
    """Queue the refresh of key's stale entry, once across all workers; whether this call queued it."""
    if not refresh_claim(key=key, seconds=guard_seconds):
        return False
    try:
        answer_refresh.enqueue(question=question, user_id=user_id)
    except Exception:
        # The stale answer is still served; the next stale read queues the refresh again.
        refresh_release(key=key)
        logger.exception("could not queue the refresh of a stale answer")
        return False
    return True
