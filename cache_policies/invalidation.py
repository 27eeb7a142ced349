"""What goes when something changes. The product calls these after its transaction commits,
with plain data (ids, template parts, chunk vectors): this module knows nothing of its models.

A document change removes exactly:
  - the retrieval and response entries whose retrieved chunks came from it (dependency tags);
  - cached answers the changed text could now displace: questions whose retrieval would now choose
    other passages, because a new chunk enters their pool of nearest chunks (found in pgvector) and
    outranks their last passage, or pushes one out of the pool (semantic.PoolBounds);
  - its rows in the semantic index.
Everything else keeps hitting. A purge that cannot reach Redis is kept in PostgreSQL and
replayed when Redis answers again.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.db import DatabaseError, connection, transaction
from django.db.models.signals import post_delete, post_save
from pgvector.django import VectorField

from cache_policies import freshness, keys, redis_client
from cache_policies.held import Held
from cache_policies.models import Action, CachedQuestion, Event, InvalidationRule, Layer, PendingInvalidation, SeenModel
from cache_policies.policies import policy_namespace_bump
from cache_policies.stats_selectors import question_texts

logger = logging.getLogger(__name__)

# The layers whose entries join document and template tag sets.
TAGGED_LAYERS = {Layer.RETRIEVAL, Layer.RESPONSE}


def rules_for(*, event: str) -> dict[str, str]:
    return dict(InvalidationRule.objects.filter(event=event, enabled=True).values_list("layer", "action"))


def _rules_apply(*, event: str) -> set[str]:
    """Bump the namespace of every layer the event drops whole; return the layers it purges by dependents."""
    rules = rules_for(event=event)
    for layer, action in rules.items():
        if action == Action.WHOLE_LAYER:
            policy_namespace_bump(layer=layer)
    return {layer for layer, action in rules.items() if action == Action.DEPENDENTS}


def _purge_tagged(*, tag: str, layers: set[str], removed: "Removed | None" = None) -> int | None:
    """Delete the members of a tag set that belong to the given layers; None if Redis is down.
    removed, if given, collects the questions of the shared answers deleted."""

    def purge(r):
        members = [m.decode() for m in r.smembers(tag)]
        doomed = [m for m in members if keys.layer_of(m) in layers]
        if removed is not None:
            removed.questions_find(response_keys=doomed)
        if doomed:
            # The members live in other slots than the tag: UNLINK is split per slot (per node in a
            # cluster). Members leave the tag only after their entries are gone, so a failure in
            # between leaves them listed, to be deleted by the next invalidation or a replay.
            r.unlink(*doomed)
            r.srem(tag, *doomed)
        CachedQuestion.objects.filter(response_key__in=doomed).delete()
        return len(doomed)

    return redis_client.call(purge, even_if_open=True)


# Given a question (as cached), its vector and indexes into NewChunks.vectors: each of those chunks' rank
# for the question, as a retrieval ranks its pool. The product supplies it.
ChunkRank = Callable[[str, np.ndarray, list[int]], list[float]]


@dataclass(frozen=True)
class NewChunks:
    """A document's chunks that are new in a change (all of them, when unknown): a chunk the document
    already had was there when every cached answer was retrieved, so it displaces none."""

    vectors: np.ndarray
    rank: ChunkRank | None = None  # None: any chunk that enters a question's pool displaces its answer


# Given document_id, its NewChunks.
ChunkVectors = Callable[..., NewChunks]


# The cached questions whose retrieval pool a new chunk enters, with the chunks (1-based, per statement) that do.
_ENTERING_SQL = """
    SELECT q.id, array_agg(c.i) FROM cache_policies_cachedquestion q,
        unnest(%s::vector[]) WITH ORDINALITY AS c(embedding, i)
    WHERE NOT (%s = ANY(q.document_ids)) AND 1 - (q.embedding <=> c.embedding) > q.kth_score
    GROUP BY q.id
"""
# Ranks are sums of rounded cosines: a new chunk this close to the last passage displaces it.
RANK_TOLERANCE = 1e-4
# Chunks compared per statement. The check is exact (a scan; the approximate HNSW index found under half of
# the displaced questions on the bench's synthetic rows): each statement reads every cached question once, and
# each chunk adds its distances. An edit compares only its new chunks (one statement); a large new document is
# split so that no statement nears the statement timeout, even at a million cached questions (make bench).
DISPLACEMENT_BATCH = 32


def _displaced_entries(
    *, document_id: int, chunk_vectors: np.ndarray, rank: ChunkRank | None = None
) -> list[CachedQuestion]:
    """Cached questions whose passages the given new chunks change (semantic.PoolBounds): a chunk enters
    their pool and outranks their last passage, or more chunks enter than their slack. Without rank,
    every question whose pool a chunk enters."""
    field = VectorField()
    vectors = [field.get_prep_value(np.asarray(v, dtype=np.float32)) for v in chunk_vectors]
    entering: dict[int, list[int]] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(vectors), DISPLACEMENT_BATCH):
            cursor.execute(_ENTERING_SQL, [vectors[start : start + DISPLACEMENT_BATCH], document_id])
            for question_id, chunks in cursor.fetchall():
                entering.setdefault(question_id, []).extend(start + i - 1 for i in chunks)
    if not entering:
        return []
    candidates = {q.id: q for q in CachedQuestion.objects.filter(id__in=entering)}
    outranked = {i for i, q in candidates.items() if rank is None or _outranked(q, entering[i], rank)}
    within = {i: len(entering[i]) for i in candidates if i not in outranked}
    return [candidates[i] for i in outranked] + _slack_spend(entries=candidates, entering=within)


def _outranked(question: CachedQuestion, chunks: list[int], rank: ChunkRank) -> bool:
    ranks = rank(question.question, np.asarray(question.embedding, dtype=np.float32), chunks)
    return max(ranks) >= question.rank_floor - RANK_TOLERANCE


_SLACK_SPEND_SQL = """
    UPDATE cache_policies_cachedquestion SET slack = slack - %s WHERE id = ANY(%s) AND slack >= %s RETURNING id
"""


def _slack_spend(*, entries: dict[int, CachedQuestion], entering: dict[int, int]) -> list[CachedQuestion]:
    """Take the chunks that entered a question's pool without outranking its passages off its slack, in
    one statement per count (two changes at once cannot both spend it); returns those it no longer covers.

    The questions that keep their answer have a cached retrieval whose pool is now out of date: marked,
    so that a later miss retrieves afresh and indexes the question with its new bounds.
    """
    kept: set[int] = set()
    with connection.cursor() as cursor:
        for count in set(entering.values()):
            ids = [question_id for question_id, n in entering.items() if n == count]
            cursor.execute(_SLACK_SPEND_SQL, [count, ids, count])
            kept.update(row[0] for row in cursor.fetchall())
    if kept:
        freshness.subjects_mark(subjects=[freshness.entry_subject(entries[i].retrieval_key)
                                          for i in kept if entries[i].retrieval_key])
    return [entries[i] for i in entering if i not in kept]


def _entries_delete(*, entries: list[CachedQuestion], layers: set[str], removed: "Removed | None" = None) -> int | None:
    doomed = []
    if Layer.RESPONSE in layers:
        doomed += [e.response_key for e in entries]
        if removed is not None:
            removed.questions_find(response_keys=doomed)
    if Layer.RETRIEVAL in layers:
        doomed += [e.retrieval_key for e in entries if e.retrieval_key]
    if not doomed:
        return 0
    # Marked first: the entries stay refused even if Redis misses this delete or brings them back.
    freshness.subjects_mark(subjects=[freshness.entry_subject(key) for key in doomed])
    deleted = redis_client.call(lambda r: r.unlink(*doomed), even_if_open=True)
    if deleted is not None:
        CachedQuestion.objects.filter(id__in=[e.id for e in entries]).delete()
    return deleted


class Removed:
    """The questions of the shared answers a purge deleted, for a rule that warms after purge: read from
    the semantic index before its rows go, else from the stats' counted texts (same sha256 as the key's)."""

    def __init__(self):
        self.questions: dict[str, str] = {}  # response key -> normalized question

    def questions_find(self, *, response_keys: list[str]) -> None:
        shared = [k for k in response_keys if keys.layer_of(k) == Layer.RESPONSE
                  and keys.response_key_scope(k) == keys.SHARED_SCOPE]
        self.questions |= dict(CachedQuestion.objects.filter(response_key__in=shared).values_list("response_key", "question"))
        unknown = {key.rsplit(":", 1)[-1]: key for key in shared if key not in self.questions}
        texts = question_texts(digests=list(unknown)) if unknown else {}
        self.questions |= {unknown[digest]: text for digest, text in texts.items()}


def _removed_for_warming(*, event: str) -> Removed | None:
    warm = InvalidationRule.objects.filter(
        event=event, layer=Layer.RESPONSE, action=Action.DEPENDENTS, enabled=True, warm_after_purge=True
    ).exists()
    return Removed() if warm else None


@dataclass
class Purge:
    """What an invalidation removed, and the questions to answer again (its rule warms after purge)."""

    tagged: int = 0
    displaced: int = 0
    semantic_rows: int = 0
    warm: list[str] = field(default_factory=list)


def document_invalidate(*, document_id: int, event: str, chunk_vectors: ChunkVectors) -> Purge:
    """Apply the rules for a document event."""
    dependents = _rules_apply(event=event)
    removed = _removed_for_warming(event=event)
    tagged = _purge_tagged(tag=keys.dependents_key(document_id=document_id), layers=dependents & TAGGED_LAYERS,
                           removed=removed)
    displaced = 0
    if event == Event.DOCUMENT_CHANGED and dependents & TAGGED_LAYERS:
        # No cached question, nothing to displace: skip reading the document's vectors (a bulk ingest).
        new = chunk_vectors(document_id=document_id) if CachedQuestion.objects.exists() else None
        entries = _displaced_entries(document_id=document_id, chunk_vectors=new.vectors, rank=new.rank) if new else []
        displaced = _entries_delete(entries=entries, layers=dependents, removed=removed)
    semantic_rows = 0
    if Layer.SEMANTIC in dependents:
        semantic_rows, _ = CachedQuestion.objects.filter(document_ids__contains=[document_id]).delete()
    if tagged is None or displaced is None:
        PendingInvalidation.objects.create(event=event, document_id=document_id)
        logger.warning("redis down: invalidation of document %s kept for replay", document_id)
    warm = sorted(set(removed.questions.values())) if removed else []
    return Purge(tagged=tagged or 0, displaced=displaced or 0, semantic_rows=semantic_rows, warm=warm)


def template_invalidate(*, template_part: str) -> Purge:
    layers = _rules_apply(event=Event.PROMPT_CHANGED)
    removed = _removed_for_warming(event=Event.PROMPT_CHANGED)
    tag = keys.template_dependents_key(template=template_part)
    tagged = _purge_tagged(tag=tag, layers=layers & TAGGED_LAYERS, removed=removed) or 0
    return Purge(tagged=tagged, warm=sorted(set(removed.questions.values())) if removed else [])


# What this process already compared with PostgreSQL: one query per process and models, not per request.
_models_checked = Held(dict, refresh=float("inf"))
MODEL_CHECK_RETRY_SECONDS = 30.0


def models_observe(*, models: dict[str, str]) -> bool:
    """Record the model each role (embedding, llm) runs with; if another one ran before, fire model_changed.

    Called on first use in each process. The row lock makes one worker of many fire it.
    """
    checked = _models_checked.get()
    key = tuple(sorted(models.items()))
    if checked.get(key, 0.0) is True or time.monotonic() < checked.get(key, 0.0):
        return False
    try:
        changed = _models_record(models=models)
    except DatabaseError:
        # PostgreSQL down: answer anyway (the model is in every key), and do not pay a connect timeout per request.
        logger.warning("could not compare the models with the last ones seen; retrying in %ss", MODEL_CHECK_RETRY_SECONDS)
        checked[key] = time.monotonic() + MODEL_CHECK_RETRY_SECONDS
        return False
    checked[key] = True
    return changed


def _models_record(*, models: dict[str, str]) -> bool:
    changed = False
    with transaction.atomic():
        for role, model in models.items():
            seen, created = SeenModel.objects.select_for_update().get_or_create(role=role, defaults={"model": model})
            if not created and seen.model != model:
                logger.warning("%s model changed from %s to %s: applying the model_changed rules", role, seen.model, model)
                seen.model = model
                seen.save()
                changed = True
        if changed:
            _model_rules_apply()
    return changed


def _model_rules_apply() -> None:
    # Entries built with the old model are already out of reach (the model is part of every key);
    # "whole layer" also bumps the namespace, and the semantic index rows of the old model go.
    semantic_action = rules_for(event=Event.MODEL_CHANGED).get(Layer.SEMANTIC)
    _rules_apply(event=Event.MODEL_CHANGED)
    if semantic_action in (Action.DEPENDENTS, Action.WHOLE_LAYER):
        CachedQuestion.objects.all().delete()


def pending_replay(*, chunk_vectors: ChunkVectors) -> int:
    """Replay purges that could not reach Redis (called when the circuit closes again)."""
    replayed = 0
    for pending in PendingInvalidation.objects.order_by("id"):
        if pending.document_id is not None:
            document_invalidate(document_id=pending.document_id, event=pending.event, chunk_vectors=chunk_vectors)
        pending.delete()
        replayed += 1
    return replayed


# --- this app's own models --------------------------------------------------------

def _on_policy_saved(sender, **kwargs):
    from cache_policies.policies import policies_changed

    policies_changed()


def _on_price_saved(sender, **kwargs):
    from cache_policies.pricing import prices_changed

    prices_changed()


def pending_replay_safely(*, chunk_vectors: ChunkVectors) -> None:
    """pending_replay for a recovery hook: a replay failure must not break the request that noticed recovery."""
    try:
        pending_replay(chunk_vectors=chunk_vectors)
    except Exception:
        logger.exception("pending invalidation replay failed")


def connect() -> None:
    from cache_policies.models import CachePolicy, ModelPrice

    post_save.connect(_on_policy_saved, sender=CachePolicy, dispatch_uid="rag-policy-saved")
    post_delete.connect(_on_policy_saved, sender=CachePolicy, dispatch_uid="rag-policy-deleted")
    post_save.connect(_on_price_saved, sender=ModelPrice, dispatch_uid="rag-price-saved")
