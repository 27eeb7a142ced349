"""Operator actions on the cache: the admin, the cache_purge command and the purge API call these."""

from django.db import transaction

from cache_policies import freshness, keys, layers, redis_client
from cache_policies.calibration import Derived, budget_floor
from cache_policies.models import (
    Action, CachedQuestion, CachePolicy, Event, InvalidationRule, Layer, SemanticVerdict, Verdict,
)
from cache_policies.policies import policy_namespace_bump
from cache_policies.selectors import RULE_OFF
from cache_policies.verification import verdict_decide


def layer_purge(*, layer: str) -> int:
    """Drop a whole layer by bumping its namespace; returns the new namespace version."""
    version = policy_namespace_bump(layer=layer)
    if layer in (Layer.RETRIEVAL, Layer.RESPONSE, Layer.SEMANTIC):
        # Their namespaces are part of every semantic index row's namespace: all rows are now unreachable.
        CachedQuestion.objects.all().delete()
    return version


def all_purge() -> dict[str, int]:
    return {layer: layer_purge(layer=layer) for layer in Layer.values}


def question_purge(*, question: str) -> int:
    """Remove every cached entry for one question (all scopes), in every layer.

    Its keys come from the question's tag set (every entry joins it when stored) and its semantic index rows.
    """
    freshness.subjects_mark(subjects=[freshness.question_subject(question)])  # holds whatever the tag set lost
    tag = keys.question_dependents_key(text=question)
    doomed = [m.decode() for m in redis_client.call(lambda r: r.smembers(tag), default=set())]
    entries = CachedQuestion.objects.filter(question=keys.normalize_text(question))
    doomed += [e.response_key for e in entries] + [e.retrieval_key for e in entries if e.retrieval_key]
    entries.delete()
    removed = layers.entries_delete(keys_to_delete=sorted(set(doomed)))
    layers.entries_delete(keys_to_delete=[tag])
    return removed


def rule_set(*, event: str, layer: str, action: str) -> str | None:
    """Set what an event does to a layer (RULE_OFF: nothing, the rule kept but disabled); a sentence if it changed."""
    rule = InvalidationRule.objects.filter(event=event, layer=layer).first()
    current = rule.action if rule and rule.enabled else RULE_OFF
    if current == action:
        return None
    if action == RULE_OFF:
        InvalidationRule.objects.filter(pk=rule.pk).update(enabled=False)
    else:
        InvalidationRule.objects.update_or_create(event=event, layer=layer, defaults={"action": action, "enabled": True})
    return f"{Event(event).label} → {Layer(layer).label}: {_action_label(current)} → {_action_label(action)}."


def rule_warm_set(*, event: str, warm: bool) -> str | None:
    """Whether the event's exact-responses rule answers the removed questions again; a sentence if it changed.
    Only an enabled rule that removes dependents has questions to warm: others are left as they are."""
    changed = InvalidationRule.objects.filter(
        event=event, layer=Layer.RESPONSE, action=Action.DEPENDENTS, enabled=True
    ).exclude(warm_after_purge=warm).update(warm_after_purge=warm)
    if not changed:
        return None
    return f"{Event(event).label} → {Layer.RESPONSE.label}: warm after purge {'on' if warm else 'off'}."


def _action_label(action: str) -> str:
    return "off" if action == RULE_OFF else Action(action).label.lower()


def semantic_threshold_apply(*, derived: Derived, max_wrong_rate: float) -> CachePolicy:
    """Store a threshold derived from the wrong-answer budget, and how it was derived (the save tells every worker)."""
    policy = CachePolicy.objects.get(layer=Layer.SEMANTIC)
    policy.max_wrong_rate = max_wrong_rate
    policy.similarity_threshold = derived.threshold
    policy.threshold_derivation = (
        f"{derived.threshold:.2f} derived from {derived.pairs} labelled pairs for a budget of {max_wrong_rate:.1%}: "
        f"{derived.served} served, {derived.wrong} wrong, wrong share at most {derived.wrong_upper:.1%} (Wilson 95 %)."
    )
    policy.save()
    return policy


def semantic_verdict_record(
    *, question: str, cached_question: str, response_key: str, similarity: float, answer_similarity: float,
    sources_agree: bool,
) -> SemanticVerdict:
    """Store a verified semantic hit's verdict: from a wrong one on, the lookup refuses the entry to its
    neighbourhood, and the served question's own entries (its alias of the wrong answer) are purged, through the
    change ledger, so a Redis that missed the delete still never serves the alias."""
    verdict = verdict_decide(sources_agree=sources_agree, answer_similarity=answer_similarity)
    # The verdict and the floor it sets land together: a job retried after the floor failed records it once.
    with transaction.atomic():
        row = SemanticVerdict.objects.create(
            question=question[:2000], cached_question=cached_question, response_key=response_key,
            similarity=similarity, answer_similarity=answer_similarity, sources_agree=sources_agree, verdict=verdict,
        )
        semantic_budget_floor_update()
    if verdict == Verdict.WRONG:
        question_purge(question=question)
    return row


def semantic_budget_floor(*, max_wrong_rate: float) -> float | None:
    """The serving floor the verdicts stored now set for a budget (calibration.budget_floor)."""
    verdicts = SemanticVerdict.objects.values_list("similarity", "verdict")
    return budget_floor(verdicts=[(s, v == Verdict.WRONG) for s, v in verdicts], max_wrong_rate=max_wrong_rate)


def semantic_budget_floor_update() -> float | None:
    """Set the semantic policy's budget floor from the verdicts (after one is stored or deleted); every worker
    reads it within a second. The policy row is the truth: a Redis that lost the stamp still learns it
    through the change ledger."""
    with transaction.atomic():
        policy = CachePolicy.objects.select_for_update().filter(layer=Layer.SEMANTIC).first()
        if policy is None:  # a migration keeps the row; without it nothing is served semantically
            return None
        floor = semantic_budget_floor(max_wrong_rate=policy.max_wrong_rate)
        if floor != policy.budget_floor:
            policy.budget_floor = floor
            policy.save(update_fields=["budget_floor", "updated_at"])
    return floor
