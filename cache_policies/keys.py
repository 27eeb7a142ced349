"""Every Redis key ragsite writes is built here, from parts that explain themselves.

    rag:emb:v1:local:all-minilm-l6-v2:<sha256>
    rag:ret:v1:kb1:all-minilm-l6-v2:k5of20n40r3:<sha256>
    rag:resp:v1:kb1:extractive:extractive-v1:tpl-default.3:k5of20n40r3:shared:<sha256>
    rag:dep:doc:12 / rag:dep:tpl:tpl-default.3 / rag:dep:q:<sha256>     (tag sets of the keys above)
    rag:stream:<sha256 of response key and leader token>                (a shared answer stream, a Redis Stream)
    rag:stats:{stats}:questions / rag:stats:{stats}:question-text     (the most asked questions; counts live in PostgreSQL)

User input never forms key text: questions enter as a sha256 of their normalized form.
"""

import hashlib
import re
import unicodedata

from django.conf import settings

from cache_policies.models import Layer

_UNSAFE = re.compile(r"[^a-z0-9._-]+")
# The part after the prefix that names a layer's entries.
_LAYER_PART = {Layer.EMBEDDING: "emb", Layer.RETRIEVAL: "ret", Layer.RESPONSE: "resp"}
_PART_LAYER = {part: layer for layer, part in _LAYER_PART.items()}


def _part(value: object) -> str:
    return _UNSAFE.sub("-", str(value).lower()).strip("-") or "none"


def _key(*parts: object) -> str:
    return ":".join([settings.REDIS_KEY_PREFIX, *(_part(p) for p in parts)])


def normalize_text(text: str) -> str:
    """The form two questions must share to be 'the same question' for the exact layers."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.split()).rstrip("?!. ")


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode()).hexdigest()


def embedding_key(*, namespace: int, provider: str, model: str, text: str) -> str:
    return _key(_LAYER_PART[Layer.EMBEDDING], f"v{namespace}", provider, model, text_hash(text))


def retrieval_part(*, top_k: int, pool: int, rank: int, named_pool: int | None = None) -> str:
    """How passages are chosen: "k5of20n40r3" is the best 5 of the 20 nearest chunks (of the 40 nearest for a
    question that names code), reranked by version 3 of the rank."""
    drawn, named = max(pool, top_k), max(named_pool or pool, top_k)
    return f"k{top_k}{f'of{drawn}' if drawn > top_k else ''}{f'n{named}' if named != drawn else ''}r{rank}"


def retrieval_key(*, namespace: int, kb_version: int, embedding_model: str, retrieval: str, text: str) -> str:
    return _key(_LAYER_PART[Layer.RETRIEVAL], f"v{namespace}", f"kb{kb_version}", embedding_model, retrieval, text_hash(text))


def response_key(
    *, namespace: int, kb_version: int, provider: str, model: str, template: str, retrieval: str, scope: str, text: str
) -> str:
    return _key(_LAYER_PART[Layer.RESPONSE], f"v{namespace}", f"kb{kb_version}", provider, model, template, retrieval, scope, text_hash(text))


def semantic_namespace(*, namespace: int, response_namespace: int, kb_version: int, provider: str, model: str, template: str, retrieval: str) -> str:
    """Which cached questions may answer each other: same models, template, parameters and versions."""
    return _key("sem", f"v{namespace}", f"r{response_namespace}", f"kb{kb_version}", provider, model, template, retrieval)


# The scope part of an answer every asker shares (a layer that is not per user).
SHARED_SCOPE = "shared"


def scope_part(*, user_id: int | None, per_user: bool) -> str:
    if not per_user:
        return SHARED_SCOPE
    if user_id is None:
        # Not "shared": answers cached while the layer was shared must not reach anyone once it is per user.
        return "anon"
    return "u" + hashlib.sha256(f"{settings.SECRET_KEY}:{user_id}".encode()).hexdigest()[:16]


def response_key_scope(key: str) -> str:
    """The scope part of a response key (the part before the question's hash)."""
    return key.rsplit(":", 2)[-2]


def lock_key(*, key: str) -> str:
    return _key("lock", hashlib.sha256(key.encode()).hexdigest()[:32])


def refresh_key(*, key: str) -> str:
    """Held by the one request that queued the refresh of key's stale entry (serve-stale-while-revalidate)."""
    return _key("refresh", hashlib.sha256(key.encode()).hexdigest()[:32])


def lock_attempts_key(*, key: str) -> str:
    """How many requests took the single-flight lock for key within its lock timeout."""
    return _key("lock-attempts", hashlib.sha256(key.encode()).hexdigest()[:32])


def answer_stream_key(*, key: str, leader: str) -> str:
    """The Redis Stream of the answer under response key `key` that the single-flight leader `leader` generates.

    One per leadership, not per question: a follower must never read an earlier computation's
    stream (written before an invalidation) while a new leader has not yet started its own.
    """
    return _key("stream", hashlib.sha256(f"{key}\n{leader}".encode()).hexdigest()[:32])


def dependents_key(*, document_id: int) -> str:
    """A set of the retrieval and response keys built from this document's chunks."""
    return _key("dep", "doc", document_id)


def template_dependents_key(*, template: str) -> str:
    return _key("dep", "tpl", template)


def question_dependents_key(*, text: str) -> str:
    """A set of every key (any layer, any scope) cached for this question: what a targeted purge removes."""
    return _key("dep", "q", text_hash(text))


def template_part(*, name: str, version: int) -> str:
    """The prompt template's part of a response key: an edit (a new version) is a new key space."""
    return _part(f"tpl-{name}.{version}")


def throttle_key(*, scope: str, ident: str) -> str:
    """The log of a client's recent requests; ident (a user id or an address) enters as a sha256."""
    return _key("throttle", scope, hashlib.sha256(ident.encode()).hexdigest()[:24])


def policy_stamp_key() -> str:
    return _key("policy-stamp")


def layer_of(key: str) -> Layer | None:
    """The layer whose entry key is (None for tags, locks, stats and keys of another prefix)."""
    prefix, _, rest = key.partition(":")
    return _PART_LAYER.get(rest.partition(":")[0]) if prefix == settings.REDIS_KEY_PREFIX else None


def layer_pattern(*, layer: Layer | None = None, kind: str | None = None) -> str:
    """A SCAN pattern for every key of a layer (or of a kind: "dep", "stats", "lock")."""
    return f"{settings.REDIS_KEY_PREFIX}:{_LAYER_PART[layer] if layer else kind}:*"


# --- stats: the question ranking (see stats.py; the counters are in PostgreSQL) -

def _stats_key(*parts: object) -> str:
    # One hash tag for both keys: the flush script writes the ranks and their texts together, and a
    # script's keys must share one slot on a Redis Cluster.
    return ":".join([settings.REDIS_KEY_PREFIX, "stats", "{stats}", *(_part(p) for p in parts)])


def stats_questions_rank_key() -> str:
    return _stats_key("questions")


def stats_questions_text_key() -> str:
    return _stats_key("question-text")


def short_id(key: str) -> str:
    """What the API shows of a key: enough to correlate, nothing to reverse."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]
