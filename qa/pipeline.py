"""question → embed → retrieve → generate, through the four cache layers. Every stage timed.

Order of the layers on the way in: exact response (no embedding needed), then under a
single-flight lock: embedding, retrieval, semantic response, and finally the LLM.
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.utils import timezone

from cache_policies import keys, layers, semantic, singleflight
from cache_policies.layers import Access
from cache_policies.models import Scope
from cache_policies.policies import Policy, all_policies
from cache_policies.pricing import usd_for
from cache_policies.stats import StatsRecorder
from qa import retrieval
from qa.providers import embedder, generator
from qa.providers.base import Generation, Passage
from qa.selectors import active_prompt_template


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
        return {"hit": "HIT", "semantic_hit": "SEMANTIC-HIT"}.get(self.cache["response"], "MISS")


@dataclass
class _Request:
    """One question's journey: its policies, keys, timings and what each layer did."""

    question: str
    mode: str
    policies: dict[str, Policy]
    user_id: int | None
    template: str
    kb_version: int
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=lambda: {"embed": 0.0, "retrieve": 0.0, "generate": 0.0})
    status: dict[str, str] = field(default_factory=dict)
    similarity: float | None = None
    stats: StatsRecorder = field(default_factory=StatsRecorder)

    def access(self, layer: str) -> Access:
        return Access.of(policy=self.policies[layer], mode=self.mode)

    def scope(self) -> str:
        """One scope for an answer's exact key and its semantic index entry: per user if either layer says so.

        Mixed scopes leaked: a per-user response layer with a shared semantic one served one user's answer
        to another through the semantic index.
        """
        per_user = Scope.PER_USER in (self.policies["response"].scope, self.policies["semantic"].scope)
        return keys.scope_part(user_id=self.user_id, per_user=per_user)

    def note(self, layer: str, outcome: str, seconds: float = 0.0) -> None:
        reported = {"bypass": "miss" if self.mode == "no-cache" else "off"}.get(outcome, outcome)
        self.status[layer] = reported
        self.stats.layer(layer, outcome, seconds)

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + (time.perf_counter() - start) * 1000


_TEMPLATE = {"part": "", "read_at": -1.0}
TEMPLATE_REFRESH_SECONDS = 0.5


def _template_part(gen) -> str:
    if gen.provider != "openai":
        return "tpl-none"  # the extractive answerer reads no prompt template
    # Held in-process like the policies: an exact hit should not wait on a database query.
    if time.monotonic() - _TEMPLATE["read_at"] > TEMPLATE_REFRESH_SECONDS:
        template = active_prompt_template()
        _TEMPLATE.update(part=f"tpl-{template.name}.{template.version}", read_at=time.monotonic())
    return _TEMPLATE["part"]


def template_forget() -> None:
    _TEMPLATE["read_at"] = -1.0


def _response_key(req: _Request, gen) -> str:
    return keys.response_key(
        namespace=req.policies["response"].namespace_version, kb_version=req.kb_version,
        provider=gen.provider, model=gen.model, template=req.template, top_k=settings.RETRIEVAL_TOP_K,
        scope=req.scope(), text=req.question,
    )


def _request(*, question: str, mode: str, user_id: int | None, gen, started: float) -> _Request:
    policies = all_policies()
    return _Request(
        question=question, mode=mode, policies=policies, user_id=user_id,
        template=_template_part(gen), kb_version=policies["retrieval"].namespace_version, started=started,
    )


def _embedding_key(req: _Request, emb) -> str:
    return keys.embedding_key(
        namespace=req.policies["embedding"].namespace_version, provider=emb.provider, model=emb.model, text=req.question
    )


def _retrieval_key(req: _Request, emb) -> str:
    return keys.retrieval_key(
        namespace=req.policies["retrieval"].namespace_version, kb_version=req.kb_version, embedding_model=emb.model,
        top_k=settings.RETRIEVAL_TOP_K, text=req.question,
    )


def _document_tags(document_ids) -> list[str]:
    return [keys.dependents_key(document_id=int(d)) for d in set(document_ids)]


def question_answer(*, question: str, user_id: int | None = None, cache_mode: str = "default") -> Answer:
    started = time.perf_counter()
    gen = generator()
    req = _request(question=question, mode=cache_mode, user_id=user_id, gen=gen, started=started)
    req.stats.question = (keys.text_hash(question), keys.normalize_text(question))
    resp_key = _response_key(req, gen)
    try:
        return _question_answer(req, gen, resp_key)
    except Exception:
        req.stats.add("errors")
        raise
    finally:
        req.stats.add("requests")
        req.stats.submit()


def _question_answer(req: _Request, gen, resp_key: str) -> Answer:
    cached = _response_lookup(req, resp_key)
    if cached is not None:
        return _from_cache(req, cached, resp_key)
    if not req.access("response").read:
        return _answer_fresh(req, gen, resp_key)
    timeout = req.policies["response"].lock_timeout_seconds
    with singleflight.leadership(key=resp_key, timeout=timeout) as lead:
        if not lead:
            cached = singleflight.wait_for(key=resp_key, read=lambda: layers.json_get(key=resp_key), timeout=timeout)
        if cached is None:
            return _answer_fresh(req, gen, resp_key)
    req.note("response", "hit")
    return _from_cache(req, cached, resp_key)


def _response_lookup(req: _Request, resp_key: str) -> dict | None:
    if not req.access("response").read:
        return None
    start = time.perf_counter()
    cached = layers.json_get(key=resp_key)
    if cached is not None:
        req.note("response", "hit", time.perf_counter() - start)
    return cached


def _from_cache(req: _Request, cached: dict, resp_key: str) -> Answer:
    for layer in ("embedding", "retrieval"):
        req.status.setdefault(layer, "off")
    total = (time.perf_counter() - req.started) * 1000
    tokens = cached.get("prompt_tokens", 0) + cached.get("completion_tokens", 0)
    req.stats.saved(
        ms=max(0.0, cached.get("cost_ms", 0) - total), tokens=tokens,
        usd=usd_for(model=cached.get("model", ""), prompt=cached.get("prompt_tokens", 0), completion=cached.get("completion_tokens", 0)),
    )
    return _answer(req, answer=cached["answer"], sources=cached["sources"], resp_key=resp_key,
                   provider=cached.get("provider", ""), model=cached.get("model", ""))


def _answer(req: _Request, *, answer: str, sources: list[dict], resp_key: str, provider: str, model: str) -> Answer:
    req.timings["total"] = (time.perf_counter() - req.started) * 1000
    cache = {
        "embedding": req.status.get("embedding", "off"),
        "retrieval": req.status.get("retrieval", "off"),
        "response": req.status.get("response", "off"),
        "similarity": round(req.similarity, 4) if req.similarity is not None else None,
        "key": keys.short_id(resp_key),
    }
    timings = {name: round(ms, 2) for name, ms in req.timings.items()}
    return Answer(answer=answer, sources=sources, timings_ms=timings, cache=cache, provider=provider, model=model)


def _answer_fresh(req: _Request, gen, resp_key: str) -> Answer:
    vector = _embedding(req)
    passages, ret_key = _retrieval(req, vector)
    served = _semantic_lookup(req, vector, passages, resp_key)
    if served is not None:
        return served
    with req.stage("generate"):
        generation = gen.generate(question=req.question, passages=passages, embedding=vector)
    sources = _sources(passages)
    if not req.status.get("response"):
        # A miss costs what the whole request cost before the answer existed.
        req.note("response", "miss" if req.policies["response"].enabled else "off", time.perf_counter() - req.started)
    _response_store(req, gen, generation, passages, sources, resp_key, ret_key, vector)
    return _answer(req, answer=generation.text, sources=sources, resp_key=resp_key, provider=gen.provider, model=generation.model)


def _fenced(key: str, passages: list[Passage]) -> bool:
    """Keep a just-stored entry only if its documents did not change meanwhile.

    Race: a request that read a document before an edit may store its entry after the
    edit's purge ran. Checking versions after the store closes it: an edit that commits
    later finds the entry through its tags, one that committed earlier shows up here.
    """
    if retrieval.passages_current(passages=passages):
        return True
    layers.entries_delete(keys_to_delete=[key])
    return False


def _sources(passages: list[Passage]) -> list[dict]:
    return [
        {"document": p.document_slug, "title": p.document_title, "chunk_id": p.chunk_id, "score": round(p.score, 4)}
        for p in passages
    ]


def _embedding(req: _Request) -> np.ndarray:
    emb = embedder()
    policy = req.policies["embedding"]
    access = req.access("embedding")
    key = _embedding_key(req, emb)
    with req.stage("embed"):
        start = time.perf_counter()
        vector = layers.embedding_get(key=key, dimensions=emb.dimensions) if access.read else None
        if vector is not None:
            req.note("embedding", "hit", time.perf_counter() - start)
            return vector
        vector = emb.embed([keys.normalize_text(req.question)])[0]
        if access.write:
            layers.embedding_set(key=key, vector=vector, policy=policy)
        req.note("embedding", "miss" if access.read else access.status_when_skipped(policy), time.perf_counter() - start)
    return vector


def _retrieval(req: _Request, vector: np.ndarray) -> tuple[list[Passage], str]:
    emb = embedder()
    policy = req.policies["retrieval"]
    access = req.access("retrieval")
    key = _retrieval_key(req, emb)
    with req.stage("retrieve"):
        start = time.perf_counter()
        cached = layers.json_get(key=key) if access.read else None
        passages = retrieval.passages_by_ids(scored_ids=[tuple(c) for c in cached["chunks"]]) if cached else None
        if passages is not None:
            req.note("retrieval", "hit", time.perf_counter() - start)
            return passages, key
        passages = retrieval.chunk_search(embedding=vector, k=settings.RETRIEVAL_TOP_K)
        if access.write and passages:
            stored = layers.json_set_with_dependents(
                key=key, value={"chunks": [[p.chunk_id, p.score] for p in passages]}, policy=policy,
                tag_keys=_document_tags(p.document_id for p in passages),
            )
            if stored:
                _fenced(key, passages)
        req.note("retrieval", "miss" if access.read else access.status_when_skipped(policy), time.perf_counter() - start)
    return passages, key


def _semantic_namespace(req: _Request) -> str:
    gen = generator()
    return keys.semantic_namespace(
        namespace=req.policies["semantic"].namespace_version,
        response_namespace=req.policies["response"].namespace_version, kb_version=req.kb_version,
        provider=gen.provider, model=gen.model, template=req.template, top_k=settings.RETRIEVAL_TOP_K,
    )


def _semantic_lookup(req: _Request, vector: np.ndarray, passages: list[Passage], resp_key: str) -> Answer | None:
    policy = req.policies["semantic"]
    if not req.access("semantic").read or not req.access("response").write:
        return None
    start = time.perf_counter()
    for candidate in semantic.candidates_nearest(
        namespace=_semantic_namespace(req), scope=req.scope(), embedding=vector,
        threshold=policy.similarity_threshold,
    ):
        # The index row's scope should match its key's; a row written under older, mixed scopes may not.
        if candidate.entry.response_key == resp_key or keys.response_key_scope(candidate.entry.response_key) != req.scope():
            continue
        if semantic.guard_rejection(
            candidate=candidate, question=req.question, passages=passages, policy=policy, embedding=vector
        ):
            continue
        cached = layers.json_get(key=candidate.entry.response_key)
        if cached is None:
            semantic.entries_prune(response_keys=[candidate.entry.response_key])
            continue
        req.similarity = candidate.similarity
        req.stats.similarity = candidate.similarity
        # Alias the answer under this question's exact key (with the same dependency tags),
        # so a repeat is an exact hit and single-flight followers find it.
        layers.json_set_with_dependents(
            key=resp_key, value=cached, policy=req.policies["response"],
            tag_keys=_document_tags(cached.get("document_versions", {})),
        )
        req.note("response", "semantic_hit", time.perf_counter() - start)
        req.stats.layer("semantic", "hit", time.perf_counter() - start)
        return _from_cache(req, cached, resp_key)
    req.stats.layer("semantic", "miss", time.perf_counter() - start)
    return None


def _response_store(req, gen, generation: Generation, passages, sources, resp_key, ret_key, vector) -> None:
    access = req.access("response")
    if not access.write or not generation.text.strip() or not passages:
        return
    value = {
        "answer": generation.text,
        "sources": sources,
        "provider": gen.provider,
        "model": generation.model,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "cost_ms": round((time.perf_counter() - req.started) * 1000, 2),
        "created_at": timezone.now().isoformat(),
        "document_versions": {str(p.document_id): p.document_version for p in passages},
    }
    tags = _document_tags(p.document_id for p in passages)
    if gen.provider == "openai":
        tags.append(keys.template_dependents_key(template=req.template))
    stored = layers.json_set_with_dependents(key=resp_key, value=value, policy=req.policies["response"], tag_keys=tags)
    if stored and not _fenced(resp_key, passages):
        return
    if stored and req.policies["semantic"].enabled:
        semantic.question_index(
            namespace=_semantic_namespace(req), scope=req.scope(), question=keys.normalize_text(req.question),
            embedding=vector, response_key=resp_key, retrieval_key=ret_key, passages=passages,
            policy=req.policies["response"],
        )


def question_keys(*, question: str) -> list[str]:
    """The shared-scope keys a question's entries live under now (for a targeted purge)."""
    gen, emb = generator(), embedder()
    req = _request(question=question, mode="default", user_id=None, gen=gen, started=time.perf_counter())
    return [_response_key(req, gen), _retrieval_key(req, emb), _embedding_key(req, emb)]
