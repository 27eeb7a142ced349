"""question → embed → retrieve → generate, through the four cache layers. Every stage timed.

    exact → (single-flight) embedding → retrieval → semantic → generate → store

The exact response layer needs no embedding, so it goes first; a miss takes the single-flight
lock, so concurrent identical misses wait for one computation. Each layer is a CacheLayer that
records its own outcome; this module only says in which order they are asked.
"""

import logging
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from cache_policies import freshness, held, invalidation, keys, semantic, singleflight, verification
from cache_policies.held import Held
from cache_policies.layers import CacheLayer, JsonCodec, Report, VectorCodec, entries_delete
from cache_policies.models import Layer, Outcome, Scope
from cache_policies.policies import all_policies
from cache_policies.pricing import usd_for
from cache_policies.roundtrip import Command, round_trip
from cache_policies.semantic import LocalView, PoolBounds
from qa import local_space, providers, retrieval, stale
from qa.models import PromptTemplate
from qa.providers.base import Generation, Passage
from qa.providers.word_vectors import word_vectors
from qa.selectors import active_prompt_template
from qa.services import chunk_sentence_vectors
from qa.verification import ServedHit, semantic_hit_queue

logger = logging.getLogger(__name__)

X_CACHE = {Outcome.HIT: "HIT", Outcome.SEMANTIC_HIT: "SEMANTIC-HIT", Outcome.STALE: "STALE"}
REPORTED_LAYERS = (Layer.EMBEDDING, Layer.RETRIEVAL, Layer.RESPONSE)
# Held in-process like the policies: an exact hit should not wait on a database query.
active_template = Held(active_prompt_template, refresh=0.5)


@dataclass
class Answer:
    answer: str
    sources: list[dict]
    timings_ms: dict[str, float]
    cache: dict
    provider: str
    model: str

    def as_dict(self) -> dict:
        return {"answer": self.answer, "sources": self.sources, "timings_ms": self.timings_ms, "cache": self.cache}

    @property
    def x_cache(self) -> str:
        return X_CACHE.get(self.cache[Layer.RESPONSE], "MISS")


def question_answer(
    *, question: str, user_id: int | None = None, cache_mode: str = "default", first_trip: Sequence[Command] = ()
) -> Answer:
    """first_trip: the caller's reads (a rate limit) to send with the exact lookup, in one round trip;
    one of them may refuse the request by raising, before anything is counted."""
    req = request_begin(question=question, user_id=user_id, cache_mode=cache_mode, first_trip=first_trip)
    try:
        try:
            answer = _answer(req)
        except DatabaseError as error:
            answer = _rescued(req, error)
    except Exception:
        request_end(req, failed=True)
        raise
    request_end(req, failed=False)
    return answer


def question_warm(*, question: str) -> Outcome:
    """Answer a question into the shared cache ahead of its askers, as question_answer would (keys, stamps,
    single-flight), but uncounted: its stats are never submitted, as explain's are not, so warming is no traffic.

    The response layer's outcome: HIT (it was cached already), MISS or SEMANTIC_HIT (it is cached now), or
    OFF when there is no shared answer to warm (the layer is off, or answers are cached per user).
    """
    req = request_begin(question=question)
    if not req.response.policy.enabled or req.scope != keys.SHARED_SCOPE:
        return Outcome.OFF
    _answer(req)
    return req.report.status_of(Layer.RESPONSE)


def question_refresh(*, question: str, user_id: int | None = None) -> Outcome:
    """Answer a question again over its stale entry (the background half of serve-stale-while-revalidate):
    every layer recomputed and stored, as `cache: no-cache` does, and uncounted, as warming is."""
    req = request_begin(question=question, user_id=user_id, cache_mode="no-cache")
    _fresh(req)
    return req.report.status_of(Layer.RESPONSE)


def request_begin(
    *, question: str, user_id: int | None = None, cache_mode: str = "default", first_trip: Sequence[Command] = ()
) -> "_Request":
    """A question's request, its exact lookup sent in one round trip with the caller's reads, while the
    change ledger is read: an exact hit waits on the slower of PostgreSQL and Redis, not on both.

    The keys are built from held policies and template before the ledger's reply is in; if that reply
    (or another thread's) brought marks, those values may have been dropped since, so the request is
    built again from the reloaded ones, and reads its answer afresh under the new keys."""
    generation = freshness.ledger.generation
    req = _Request(question=question, mode=cache_mode, user_id=user_id)
    read = freshness.ledger.read_started()
    try:
        round_trip([*first_trip, *req.first_trip()])
    finally:
        seq = read.result()  # drained even when the round trip refused the request
    if freshness.ledger.generation != generation:
        req = _Request(question=question, mode=cache_mode, user_id=user_id)
    req.seq = seq
    return req


def request_end(req: "_Request", *, failed: bool) -> None:
    """Count the request (and its failure) in the stats."""
    if failed:
        req.report.stats.add("errors")
    req.report.stats.add("requests")
    req.report.stats.submit()


def response_cached(req: "_Request"):
    """The request's cached answer, if it may read one. While PostgreSQL is down a miss can only be a 503,
    so a Redis circuit opened by one slow reply (seconds on a loaded host) is asked anyway: a cached answer
    beats an error. Shared by the JSON and the streamed paths."""
    cached = req.response.get(req.response_key)
    if cached is None and held.database.is_open:
        cached = req.response.get(req.response_key, even_if_open=True)
    return cached


def _answer(req: "_Request") -> Answer:
    cached = response_cached(req)
    if cached is not None:
        return _served(req, cached)
    if not req.response.access.read:
        return _fresh(req)
    timeout = req.response.policy.lock_timeout_seconds
    with singleflight.turn(key=req.response_key, read=lambda: req.response.peek(req.response_key), timeout=timeout) as cached:
        if cached is None:
            return _fresh(req)
    req.response.record(Outcome.HIT)
    return _served(req, cached)


def _rescued(req: "_Request", error: DatabaseError) -> Answer:
    """PostgreSQL failed during this request (after response_cached looked): ask Redis once more for the
    answer, whatever its circuit says."""
    cached = req.response.get(req.response_key, even_if_open=True)
    if cached is None:
        raise error
    return _served(req, cached)


@dataclass(frozen=True)
class Context:
    """What an answer is generated from, or the answer a semantic hit already gave (then only `served` and
    `local` are known: with an API embedder, the lookup ran before the API was asked)."""

    vector: np.ndarray | None
    passages: list[Passage]
    bounds: PoolBounds | None  # what a new chunk must beat to change the passages
    served: "Answer | None"
    local: LocalView  # the question in MiniLM's space: what the semantic guard and sentence vectors compare


def _fresh(req: "_Request") -> Answer:
    context = answer_context(req)
    if context.served is not None:
        return context.served
    with retrieval_refused_if_unanswered(req, context):
        with req.stage("generate"):
            generation = req.gen.generate(question=req.question, passages=context.passages,
                                          embedding=context.local.embedding, template=req.template)
        return answer_generated(req, generation=generation, context=context)


@contextmanager
def retrieval_refused_if_unanswered(req: "_Request", context: "Context"):
    """A retrieval this request stored is indexed with its answer (answer_generated): the index is how a new
    document finds what it displaces. When the generation fails (or a streamed one is left, or the index
    write fails), the stored retrieval has no row, so it is marked out of date in the ledger and never read;
    the next ask retrieves afresh. One write per failed answer, in PostgreSQL, so it holds whatever Redis
    forgets."""
    try:
        yield
    except BaseException:
        stored = req.retrieval.access.write and req.report.status_of(Layer.RETRIEVAL) != Outcome.HIT
        if stored and context.passages:
            _retrieval_refuse(req)
        raise


def _retrieval_refuse(req: "_Request") -> None:
    try:
        freshness.subjects_mark(subjects=[freshness.entry_subject(req.retrieval_key)])
    except DatabaseError as error:
        # PostgreSQL failed too: drop the entry from Redis instead, if it can be reached.
        logger.warning("could not mark an unanswered retrieval out of date, deleting it: %s", error)
        entries_delete(keys_to_delete=[req.retrieval_key])


def answer_context(req: "_Request") -> Context:
    """embedding → retrieval → semantic: everything before the generator runs. With an API embedder the semantic
    lookup comes first, in MiniLM's space (qa/local_space.py): a semantic hit makes no API call."""
    local = None
    if local_space.decided_first(req.emb):
        local = _local_view(req)
        if served := _semantic_lookup(req, local):
            return Context(vector=None, passages=[], bounds=None, served=served, local=local)
    with req.stage("embed"):
        vector = req.embedding.get_or_compute(
            req.embedding_key, lambda: req.emb.embed([req.text])[0], tags=lambda v: req.tags([], document_ids=()),
        )
    with req.stage("retrieve"):
        ranked = req.retrieval.get_or_compute(
            req.retrieval_key,
            lambda: retrieval.passages_retrieve(question=req.question, embedding=vector, k=settings.RETRIEVAL_TOP_K),
            load=lambda stored: retrieval.ranked_load(stored=stored), dump=lambda r: _ranked_dump(req, r),
            tags=lambda r: req.tags(r.passages),
        )
    served = None
    if local is None:
        local = LocalView(embedding=vector, passages=ranked.passages)
        served = _semantic_lookup(req, local)
    return Context(vector=vector, passages=ranked.passages, bounds=ranked.bounds, served=served, local=local)


def _local_view(req: "_Request") -> LocalView:
    """The question in MiniLM's space, timed as the embedding and retrieval stages it adds to."""
    with req.stage("embed"):
        vector = local_space.question_vector(question=req.question)
    with req.stage("retrieve"):
        passages = local_space.question_passages(question=req.question, vector=vector, emb=req.emb)
    return LocalView(embedding=vector, passages=passages)


def answer_generated(req: "_Request", *, generation: Generation, context: Context) -> Answer:
    """Record the miss and store the complete answer (only a complete one ever reaches this)."""
    if not req.response.recorded():
        # A miss costs what the whole request cost before the answer existed.
        req.response.record(req.miss_outcome(), req.elapsed())
    stored = _response_store(req, generation, context)
    # The layers that hold an entry of this question now (the retrieval's may be older, or a hit).
    holding = [layer.policy for layer, holds in ((req.response, stored), (req.retrieval, req.retrieval.access.write))
               if holds]
    if holding and context.passages:
        _question_index(req, context, kept=max(holding, key=lambda p: p.kept_for or float("inf")))
    return req.answer(
        answer=generation.text, sources=_sources(context.passages), provider=req.gen.provider, model=generation.model
    )


def answer_served(req: "_Request", cached: dict) -> Answer:
    """An answer from a cached entry, its savings counted."""
    return _served(req, cached)


def answer_sources(passages: list[Passage]) -> list[dict]:
    return _sources(passages)


class _Request:
    """One question's journey: providers, template, policies and keys resolved once, and its layers."""

    def __init__(self, *, question: str, mode: str, user_id: int | None):
        self.started = time.perf_counter()
        self.seq: int | None = None  # the ledger sequence new values are stamped with (request_begin sets it)
        self.question, self.text = question, keys.normalize_text(question)
        self.emb, self.gen = providers.embedder(), providers.generator()
        self.space = local_space.space_of(self.emb)
        self.policies = all_policies()  # first: with PostgreSQL down, the request fails here, after one connect timeout
        if _models_observe(emb=self.emb, gen=self.gen):
            self.policies = all_policies()  # the model_changed rules may have bumped namespaces
        self.template: PromptTemplate | None = active_template.get() if self.gen.uses_template else None
        self.user_id = user_id
        self.report = Report(mode=mode)
        self.report.stats.question = (keys.text_hash(question), self.text)
        self.timings = {"embed": 0.0, "retrieve": 0.0, "generate": 0.0}
        self.similarity: float | None = None
        self.response = self._layer(Layer.RESPONSE, JsonCodec(), outcome_of=_response_outcome)
        self._keys_build()

    # The other layers and keys are built when first used: an exact hit, most requests, never uses them.
    @cached_property
    def embedding(self) -> CacheLayer:
        # A question's vector depends on the model only, which is in its key: nothing to check.
        return self._layer(Layer.EMBEDDING, VectorCodec(dimensions=self.emb.dimensions), checked=False)

    @cached_property
    def retrieval(self) -> CacheLayer:
        return self._layer(Layer.RETRIEVAL, JsonCodec())

    @cached_property
    def semantic(self) -> CacheLayer:
        return CacheLayer(layer=Layer.SEMANTIC, policy=self.policies[Layer.SEMANTIC], report=self.report,
                          codec=JsonCodec(), reported=False)

    def _layer(self, layer: Layer, codec, *, checked: bool = True, **options) -> CacheLayer:
        current = (lambda value: freshness.ledger.current(value.get("stamp"))) if checked else (lambda value: True)
        return CacheLayer(layer=layer, policy=self.policies[layer], report=self.report, codec=codec, current=current,
                          **options)

    def _scope(self) -> str:
        """One scope for an answer's exact key and its semantic index entry: per user if either layer says so.

        Mixed scopes leaked: a per-user response layer with a shared semantic one served one user's answer
        to another through the semantic index.
        """
        per_user = Scope.PER_USER in (self.policies[Layer.RESPONSE].scope, self.policies[Layer.SEMANTIC].scope)
        return keys.scope_part(user_id=self.user_id, per_user=per_user)

    def _namespace(self, layer: Layer) -> int:
        return self.policies[layer].namespace_version

    def _keys_build(self) -> None:
        self.scope = self._scope()
        self.retrieval_part = keys.retrieval_part(
            top_k=settings.RETRIEVAL_TOP_K, pool=settings.RETRIEVAL_POOL, named_pool=settings.RETRIEVAL_POOL_NAMED,
            rank=retrieval.RANK_VERSION)
        self.template_part = (
            keys.template_part(name=self.template.name, version=self.template.version) if self.template else "tpl-none"
        )
        self.response_key = keys.response_key(
            namespace=self._namespace(Layer.RESPONSE), kb_version=self._namespace(Layer.RETRIEVAL),
            provider=self.gen.provider, model=self.gen.model, template=self.template_part,
            retrieval=self.retrieval_part, scope=self.scope, text=self.question,
        )

    @cached_property
    def embedding_key(self) -> str:
        return keys.embedding_key(
            namespace=self._namespace(Layer.EMBEDDING), provider=self.emb.provider, model=self.emb.model, text=self.question
        )

    @cached_property
    def retrieval_key(self) -> str:
        return keys.retrieval_key(
            namespace=self._namespace(Layer.RETRIEVAL), kb_version=self._namespace(Layer.RETRIEVAL),
            embedding_model=self.emb.model, retrieval=self.retrieval_part, text=self.question,
        )

    @cached_property
    def semantic_namespace(self) -> str:
        return keys.semantic_namespace(
            namespace=self._namespace(Layer.SEMANTIC), response_namespace=self._namespace(Layer.RESPONSE),
            kb_version=self._namespace(Layer.RETRIEVAL), provider=self.gen.provider, model=self.gen.model,
            template=self.template_part, retrieval=self.retrieval_part,
        )

    def tags(self, passages: list[Passage], document_ids=None) -> list[str]:
        """The dependency sets an entry joins: its documents', its template's and its question's."""
        ids = {int(d) for d in document_ids} if document_ids is not None else {p.document_id for p in passages}
        tags = [keys.dependents_key(document_id=d) for d in ids] + [keys.question_dependents_key(text=self.question)]
        if self.template:
            tags.append(keys.template_dependents_key(template=self.template_part))
        return tags

    def stamp(self, passages: list[Passage], key: str) -> dict | None:
        """What an entry built from passages carries: the ledger sequence this request started at,
        its documents, itself (a displacement aims at the entry) and its question (a purge does)."""
        subjects = [freshness.document_subject(p.document_id) for p in passages]
        subjects += [freshness.entry_subject(key), freshness.question_subject(self.question)]
        return freshness.stamp(seq=self.seq, subjects=subjects)

    def first_trip(self) -> list[Command]:
        return [self.response.get_command(self.response_key)] if self.response.access.read else []

    def miss_outcome(self) -> Outcome:
        return Outcome.MISS if self.response.policy.enabled else Outcome.OFF

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] += (time.perf_counter() - start) * 1000

    def answer(self, *, answer: str, sources: list[dict], provider: str, model: str) -> Answer:
        self.timings["total"] = self.elapsed() * 1000
        cache = {layer.value: self.report.status_of(layer).value for layer in REPORTED_LAYERS}
        cache["similarity"] = round(self.similarity, 4) if self.similarity is not None else None
        cache["key"] = keys.short_id(self.response_key)
        timings = {name: round(ms, 2) for name, ms in self.timings.items()}
        return Answer(answer=answer, sources=sources, timings_ms=timings, cache=cache, provider=provider, model=model)


def _models_observe(*, emb, gen) -> bool:
    """First use of models in this process: the cache applies model_changed if they differ from the last ones seen."""
    return settings.MODEL_CHANGED_FIRES and invalidation.models_observe(models={"embedding": f"{emb.provider}:{emb.model}", "llm": f"{gen.provider}:{gen.model}"})


def _stale(cached: dict) -> bool:
    """Past its TTL, in the grace the policy's stale_seconds gave it (Redis keeps it that much longer)."""
    fresh_until = cached.get("fresh_until")
    return isinstance(fresh_until, (int, float)) and time.time() > fresh_until


def _response_outcome(cached: dict) -> Outcome:
    return Outcome.STALE if _stale(cached) else Outcome.HIT


def _served(req: _Request, cached: dict) -> Answer:
    if req.report.status_of(Layer.RESPONSE) == Outcome.STALE:
        stale.refresh_queue(question=req.question, user_id=req.user_id, key=req.response_key,
                            guard_seconds=req.response.policy.lock_timeout_seconds)
    prompt, completion = cached.get("prompt_tokens", 0), cached.get("completion_tokens", 0)
    req.report.stats.saved(
        ms=max(0.0, cached.get("cost_ms", 0) - req.elapsed() * 1000), tokens=prompt + completion,
        usd=usd_for(model=cached.get("model", ""), prompt=prompt, completion=completion),
    )
    return req.answer(answer=cached["answer"], sources=cached["sources"], provider=cached.get("provider", ""),
                      model=cached.get("model", ""))


def _ranked_dump(req: _Request, ranked: retrieval.Ranked) -> dict | None:
    stamp = req.stamp(ranked.passages, req.retrieval_key)
    return None if stamp is None else retrieval.ranked_dump(ranked=ranked) | {"stamp": stamp}


def _sources(passages: list[Passage]) -> list[dict]:
    return [
        {"document": p.document_slug, "title": p.document_title, "chunk_id": p.chunk_id, "score": round(p.score, 4)}
        for p in passages
    ]


def _semantic_lookup(req: _Request, local: LocalView) -> Answer | None:
    if not req.semantic.access.read or not req.response.access.write:
        return None
    start = time.perf_counter()
    for candidate in semantic.candidates_nearest(
        namespace=req.semantic_namespace, scope=req.scope, embedding=local.embedding,
        threshold=req.semantic.policy.similarity_threshold, space=req.space,
    ):
        # The index row's scope should match its key's; a row written under older, mixed scopes may not.
        if candidate.entry.response_key == req.response_key or keys.response_key_scope(candidate.entry.response_key) != req.scope:
            continue
        if semantic.guard_rejection(
            candidate=candidate, question=req.question, passages=local.passages, policy=req.semantic.policy,
            embedding=local.embedding, sentence_vectors=chunk_sentence_vectors, word_vectors=word_vectors,
        ):
            continue
        cached = req.response.peek(candidate.entry.response_key)
        if cached is None:
            semantic.entries_prune(response_keys=[candidate.entry.response_key])
            continue
        if _stale(cached):
            continue  # only an exact repeat is served stale (and refreshed); a paraphrase waits for fresh
        req.similarity = req.report.stats.similarity = candidate.similarity
        # Alias the answer under this question's exact key (with the same dependency tags and the same
        # stamp: what removes the original removes the alias), so a repeat is an exact hit and
        # single-flight followers find it.
        alias = {**cached, "stamp": freshness.stamp_extended(
            cached.get("stamp"), subjects=[freshness.question_subject(req.question)])}
        req.response.store(req.response_key, alias, tags=req.tags([], cached.get("document_versions", {})))
        req.response.record(Outcome.SEMANTIC_HIT, time.perf_counter() - start)
        req.semantic.record(Outcome.HIT, time.perf_counter() - start)
        served = _served(req, cached)
        _verification_queue(req, candidate, served)
        return served
    req.semantic.record(Outcome.MISS, time.perf_counter() - start)
    return None


def _verification_queue(req: _Request, candidate: semantic.Candidate, served: Answer) -> None:
    """Queue a sample of served semantic hits for verification: the job, not this request, answers again."""
    shared = req.scope == keys.SHARED_SCOPE
    if not verification.verification_due(policy=req.semantic.policy, mode=req.report.mode, shared=shared):
        return
    semantic_hit_queue(hit=ServedHit(
        question=req.question, answer=served.answer, documents=list(dict.fromkeys(s["document"] for s in served.sources)),
        cached_question=candidate.entry.question, response_key=candidate.entry.response_key,
        similarity=candidate.similarity,
    ))


def _response_store(req: _Request, generation: Generation, context: Context) -> bool:
    passages = context.passages
    stamp = req.stamp(passages, req.response_key)
    if not req.response.access.write or not generation.text.strip() or not passages or stamp is None:
        return False
    value = {
        "answer": generation.text,
        "sources": _sources(passages),
        "provider": req.gen.provider,
        "model": generation.model,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "cost_ms": round(req.elapsed() * 1000, 2),
        "created_at": timezone.now().isoformat(),
        "document_versions": {str(p.document_id): p.document_version for p in passages},
        "stamp": stamp,
    }
    policy = req.response.policy
    if policy.stale_seconds and policy.ttl:
        value["fresh_until"] = round(time.time() + policy.ttl, 3)
    return req.response.store(req.response_key, value, tags=req.tags(passages))


def _question_index(req: _Request, context: Context, *, kept) -> None:
    """Index the question, whether or not semantic lookups are on: the index is also how a new document
    finds the cached answers and retrievals it displaces (cache_policies.invalidation). The row lives as
    long as the entries of kept's layer (no TTL: as long as they do)."""
    semantic.question_index(
        namespace=req.semantic_namespace, scope=req.scope, question=req.text, embedding=context.vector,
        response_key=req.response_key, retrieval_key=req.retrieval_key, passages=context.passages,
        bounds=context.bounds, policy=kept, local=local_space.indexed_view(view=context.local, emb=req.emb),
    )
    # A document that changed after this request read the ledger looked for the answers it displaces before
    # this row existed: what the request stored may rest on a pool the new text would change. Refused
    # (the next ask recomputes); after the row is written, so a change that commits later finds the row.
    if req.seq is not None and freshness.documents_changed_since(seq=req.seq):
        freshness.subjects_mark(subjects=[freshness.entry_subject(req.response_key),
                                          freshness.entry_subject(req.retrieval_key)])


@dataclass(frozen=True)
class QuestionKeys:
    """Where a question's entries live now, for one user: what "explain" looks up."""

    policies: dict
    embedding: str
    retrieval: str
    response: str
    semantic_namespace: str
    scope: str
    template: PromptTemplate | None


def question_keys(*, question: str, user_id: int | None = None) -> QuestionKeys:
    freshness.ledger.sync()  # first: a change's mark may drop the held policies or template the keys come from
    req = _Request(question=question, mode="default", user_id=user_id)  # its stats are never submitted
    return QuestionKeys(
        policies=req.policies, embedding=req.embedding_key, retrieval=req.retrieval_key, response=req.response_key,
        semantic_namespace=req.semantic_namespace, scope=req.scope, template=req.template,
    )
