"""Why a question hits or misses: each layer's entry, the semantic candidates and their guard checks,
the policy that decides and the answer that would be served.

Read-only by design: nothing is written to Redis or the semantic index and nothing is counted in the
stats, so an operator can explain a question as often as they like without changing what they look at.
"""

from dataclasses import asdict, dataclass, field

import numpy as np
from django.conf import settings

from cache_policies import keys, layers, semantic
from cache_policies.layers import JsonCodec, VectorCodec
from cache_policies.durations import duration_format
from cache_policies.models import Layer
from cache_policies.semantic import LocalView
from qa import local_space, retrieval
from qa.models import Chunk, Document
from qa.pipeline import QuestionKeys, question_keys
from qa.providers import embedder, generator
from qa.providers.base import Passage
from qa.providers.word_vectors import word_vectors
from qa.services import chunk_sentence_vectors


@dataclass
class LayerEntry:
    layer: str
    key: str  # short id, as the ask page shows it
    enabled: bool
    present: bool | None  # None: Redis is down
    ttl_left: str  # "2 hours 3 min", "no expiry", "–"
    documents: list[dict] = field(default_factory=list)  # {"slug", "tagged"}: tagged = its edit would drop the entry


@dataclass
class SemanticCandidate:
    question: str
    similarity: float
    checks: list[dict]  # {"name", "passed", "detail"}
    answer_present: bool
    would_serve: bool
    answer: str = ""  # the cached answer, for the candidate that would be served


@dataclass
class Explanation:
    question: str
    layers: list[LayerEntry]
    candidates: list[SemanticCandidate]
    decision: str  # "response", "semantic" or "generate"
    policy: str  # which policy made the decision, in words
    answer: str
    answer_source: str

    def as_dict(self) -> dict:
        return asdict(self)


def _ttl_left(state: layers.EntryState | None) -> str:
    if state is None or not state.present:
        return "–"
    return duration_format(state.ttl_seconds or 0)


def _slugs(document_ids) -> dict[int, str]:
    return dict(Document.objects.filter(id__in={int(d) for d in document_ids}).values_list("id", "slug"))


def _entry(layer: str, key: str, enabled: bool, document_ids=()) -> LayerEntry:
    slugs = _slugs(document_ids)
    tags = {keys.dependents_key(document_id=d): slug for d, slug in slugs.items()}
    state = layers.entry_inspect(key=key, tag_keys=list(tags))
    documents = [{"slug": slug, "tagged": bool(state and state.tagged.get(tag))} for tag, slug in tags.items()]
    present = None if state is None else state.present
    return LayerEntry(layer, keys.short_id(key), enabled, present, _ttl_left(state), documents)


def _json(key: str) -> dict | None:
    raw = layers.entry_get(key=key)
    return JsonCodec().decode(raw) if raw is not None else None


def _cached_retrieval(found: QuestionKeys) -> list[Passage] | None:
    cached = _json(found.retrieval)
    ranked = retrieval.ranked_load(stored=cached) if cached else None
    return ranked.passages if ranked else None


def _vector(found: QuestionKeys, question: str) -> np.ndarray:
    emb = embedder()
    raw = layers.entry_get(key=found.embedding)
    cached = VectorCodec(dimensions=emb.dimensions).decode(raw) if raw is not None else None
    return cached if cached is not None else emb.embed([keys.normalize_text(question)])[0]


def _layer_entries(found: QuestionKeys, passages: list[Passage]) -> list[LayerEntry]:
    response = _json(found.response) or {}
    cached_chunks = [c[0] for c in (_json(found.retrieval) or {}).get("chunks", [])]
    retrieval_docs = Chunk.objects.filter(id__in=cached_chunks).values_list("document_id", flat=True)
    enabled = {layer: policy.enabled for layer, policy in found.policies.items()}
    return [
        _entry(Layer.EMBEDDING, found.embedding, enabled[Layer.EMBEDDING]),
        _entry(Layer.RETRIEVAL, found.retrieval, enabled[Layer.RETRIEVAL], retrieval_docs),
        _entry(Layer.RESPONSE, found.response, enabled[Layer.RESPONSE], response.get("document_versions", {})),
    ]


def _candidates(found: QuestionKeys, question: str, local: LocalView):
    policy = found.policies[Layer.SEMANTIC]
    if not policy.enabled:
        return []
    explained = []
    for candidate in semantic.candidates_nearest(
        namespace=found.semantic_namespace, scope=found.scope, embedding=local.embedding,
        threshold=policy.similarity_threshold, space=local_space.space_of(embedder()),
    ):
        # As the pipeline does: never its own key, nor a row whose answer lives in another scope.
        if candidate.entry.response_key == found.response or keys.response_key_scope(candidate.entry.response_key) != found.scope:
            continue
        checks = list(semantic.guard_checks(
            candidate=candidate, question=question, passages=local.passages, policy=policy, embedding=local.embedding,
            sentence_vectors=chunk_sentence_vectors, word_vectors=word_vectors,
        ))
        cached = _json(candidate.entry.response_key)
        serves = all(c.passed for c in checks) and cached is not None and not any(c.would_serve for c in explained)
        explained.append(SemanticCandidate(
            candidate.entry.question, round(candidate.similarity, 4), [asdict(c) for c in checks],
            cached is not None, serves, cached["answer"] if serves else "",
        ))
    return explained


def _decision(found: QuestionKeys, entries: list[LayerEntry], candidates: list[SemanticCandidate]) -> tuple[str, str]:
    response, semantic_policy = found.policies[Layer.RESPONSE], found.policies[Layer.SEMANTIC]
    if not response.enabled:
        return "generate", "Exact responses is off: every question is answered afresh (and the semantic layer with it)."
    if entries[-1].present:
        return "response", f"Exact responses: this question was answered before; the answer lives {entries[-1].ttl_left} more."
    if served := next((c for c in candidates if c.would_serve), None):
        return "semantic", (f"Semantic responses: \"{served.question}\" is {served.similarity:.2f} similar "
                            f"(threshold {semantic_policy.similarity_threshold:.2f}) and passed every guard check.")
    if not semantic_policy.enabled:
        return "generate", "No exact answer, and Semantic responses is off."
    why = "no cached question is close enough" if not candidates else "no candidate passed the guard"
    return "generate", f"No exact answer and {why} (Semantic responses, threshold {semantic_policy.similarity_threshold:.2f})."


def _answer(found, decision, candidates, question, passages, local: LocalView) -> tuple[str, str]:
    if decision == "response":
        return (_json(found.response) or {}).get("answer", ""), "the exact response cache"
    if decision == "semantic":
        served = next(c for c in candidates if c.would_serve)
        return served.answer, f'the cached answer to "{served.question}"'
    gen = generator()
    if gen.provider != "extractive":
        # A paid call is not worth an explanation: say who would answer instead.
        return "", f"{gen.provider} {gen.model} would be asked (not called by explain)"
    generation = gen.generate(question=question, passages=passages, embedding=local.embedding, template=found.template)
    return generation.text, f"{gen.provider} (generated now, not stored)"


def question_explain(*, question: str, user_id: int | None = None) -> Explanation:
    found = question_keys(question=question, user_id=user_id)
    vector = _vector(found, question)
    passages = _cached_retrieval(found) or retrieval.passages_retrieve(
        question=question, embedding=vector, k=settings.RETRIEVAL_TOP_K).passages
    entries = _layer_entries(found, passages)
    # Decided as the pipeline decides: in MiniLM's space, which is the embedder's own when it is MiniLM.
    emb = embedder()
    local = (local_space.question_view(question=question, emb=emb) if local_space.decided_first(emb)
             else LocalView(embedding=vector, passages=passages))
    candidates = _candidates(found, question, local)
    decision, policy = _decision(found, entries, candidates)
    answer, source = _answer(found, decision, candidates, question, passages, local)
    return Explanation(question, entries, candidates, decision, policy, answer, source)
