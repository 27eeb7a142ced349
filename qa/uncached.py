"""An answer computed as a miss computes it, reading and writing no cache: for the checks that compare against it
(verification of served semantic hits, answer_eval)."""

from dataclasses import dataclass

from django.conf import settings

from cache_policies.keys import normalize_text
from qa import local_space, providers, retrieval
from qa.providers.base import Generation, Passage
from qa.selectors import active_prompt_template


@dataclass(frozen=True)
class Uncached:
    passages: list[Passage]
    generation: Generation


def question_answer_uncached(*, question: str) -> Uncached:
    """embedding → retrieval → generate, with the active template when the generator uses one."""
    generator = providers.generator()
    vector = providers.embedder().embed([normalize_text(question)])[0]
    passages = retrieval.passages_retrieve(question=question, embedding=vector, k=settings.RETRIEVAL_TOP_K).passages
    template = active_prompt_template() if generator.uses_template else None
    # The answerer's sentence vectors are MiniLM's: so is the question's vector it compares them with.
    local = vector if providers.in_local_space(providers.embedder()) else local_space.question_vector(question=question)
    generation = generator.generate(question=question, passages=passages, embedding=local, template=template)
    return Uncached(passages=passages, generation=generation)
