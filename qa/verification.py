"""Verification of served semantic hits: a sample of them is answered again, in a background job, without any
cache, and the fresh answer is compared with the one served (the rule and the sample are cache_policies/verification.py).

The payload is JSON: the served question, the answer and sources served, and the entry they came from. Everything
the job needs travels in it, so the verdict never depends on a Redis entry surviving until the job runs.
"""

import logging
from dataclasses import asdict, dataclass

from django_tasks import task

from cache_policies.models import SemanticVerdict
from cache_policies.services import semantic_verdict_record
from cache_policies.verification import sources_agree
from qa import providers
from qa.uncached import question_answer_uncached

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedHit:
    """A semantic hit as it was served: what the job compares a fresh answer with."""

    question: str
    answer: str
    documents: list[str]  # the cited documents' slugs, in citation order
    cached_question: str
    response_key: str  # the entry served
    similarity: float


@task()
def semantic_hit_verify_job(*, question: str, answer: str, documents: list[str], cached_question: str,
                            response_key: str, similarity: float) -> str:
    hit = ServedHit(question=question, answer=answer, documents=documents, cached_question=cached_question,
                    response_key=response_key, similarity=similarity)
    return semantic_hit_verify(hit=hit).verdict


def semantic_hit_verify(*, hit: ServedHit) -> SemanticVerdict:
    """Answer the served question again, embedding → retrieval → generate with no cache read or written, and
    store whether the served answer was the same."""
    fresh = question_answer_uncached(question=hit.question)
    served_vector, fresh_vector = providers.embedder().embed([hit.answer, fresh.generation.text])
    return semantic_verdict_record(
        question=hit.question, cached_question=hit.cached_question, response_key=hit.response_key,
        similarity=hit.similarity, answer_similarity=float(served_vector @ fresh_vector),
        sources_agree=sources_agree(
            served=hit.documents, fresh=list(dict.fromkeys(p.document_slug for p in fresh.passages)),
        ),
    )


def semantic_hit_queue(*, hit: ServedHit) -> bool:
    """Queue the hit's verification (its answer is already decided); whether it was queued."""
    try:
        semantic_hit_verify_job.enqueue(**asdict(hit))
    except Exception:
        # The answer is served either way; one unverified hit only makes the sample a little smaller.
        logger.exception("could not queue the verification of a semantic hit")
        return False
    return True
