"""What an edit of a cache policy changes for users, in words the admin shows after a save."""

from cache_policies.durations import OFF, duration_format
from cache_policies.models import CachePolicy, Layer

# Workers re-read the policies' version stamp every half second (policies.STAMP_CHECK_SECONDS).
_EVERYWHERE = "within 1 s on all workers"

# field: (label, effect). The label follows the layer's name: "Response TTL", "Semantic similarity threshold".
_EFFECTS = {
    "enabled": ("on/off", f"{_EVERYWHERE}; entries already stored stay in Redis until their TTL ends"),
    "ttl_seconds": ("TTL", f"applies to new entries {_EVERYWHERE}; existing entries keep their TTL"),
    "scope": ("scope", f"{_EVERYWHERE}; answers stored under the other scope are no longer served"),
    "namespace_version": ("namespace version", f"every entry stored before is dropped {_EVERYWHERE}"),
    "similarity_threshold": ("similarity threshold", f"applies to the next lookups {_EVERYWHERE}"),
    "guard_min_overlap": ("guard: sources overlap", f"applies to the next lookups {_EVERYWHERE}"),
    "guard_contrast": ("guard: contrast check", f"applies to the next lookups {_EVERYWHERE}"),
    "guard_min_evidence": ("guard: evidence agreement", f"applies to the next lookups {_EVERYWHERE}"),
    "guard_min_alignment": ("guard: word alignment", f"applies to the next lookups {_EVERYWHERE}"),
    "guard_alignment_below": ("guard: off-topic below passage score", f"applies to the next lookups {_EVERYWHERE}"),
    "guard_off_topic_similarity": ("guard: off-topic similarity", f"applies to the next lookups {_EVERYWHERE}"),
    "max_wrong_rate": ("wrong-answer budget", f"the budget floor is set again from the verified hits {_EVERYWHERE}; "
                       "the similarity threshold changes with the next derivation (semantic_eval --split --apply)"),
    "verify_share": ("verified share", f"applies to the next semantic hits {_EVERYWHERE}"),
    "lock_timeout_seconds": ("single-flight wait", f"applies to the next misses {_EVERYWHERE}"),
    "stale_seconds": ("stale window", f"applies to answers stored from now on {_EVERYWHERE}; answers stored "
                      "before keep the window they were stored with"),
}
_LAYER_NAMES = {Layer.EMBEDDING: "Embedding", Layer.RETRIEVAL: "Retrieval", Layer.RESPONSE: "Response",
                Layer.SEMANTIC: "Semantic"}


def _shown(field: str, value) -> str:
    if field == "ttl_seconds":
        return duration_format(value)
    if field == "stale_seconds":
        return duration_format(value, zero=OFF)
    if field == "lock_timeout_seconds":
        return f"{value:g} s"
    if field in ("max_wrong_rate", "verify_share"):
        return f"{value:.1%}"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def policy_change_summary(*, layer: str, before: dict, after: CachePolicy) -> list[str]:
    """One sentence per changed field, e.g. "Response TTL 1 day → 1 hour: applies to new entries …"."""
    sentences = []
    for field, (label, effect) in _EFFECTS.items():
        old, new = before.get(field), getattr(after, field)
        if field in before and old != new:
            sentences.append(f"{_LAYER_NAMES[layer]} {label} {_shown(field, old)} → {_shown(field, new)}: {effect}.")
    return sentences


def budget_floor_summary(*, floor: float | None) -> str:
    """What the verified hits now set, after a budget edit or a deleted verdict."""
    if floor is None:
        return "Semantic budget floor: none, the verified hits do not show the budget broken."
    return (f"Semantic budget floor {floor:.2f}: the verified hits show the budget broken at or below it, so semantic "
            f"hits are served only above it, {_EVERYWHERE}.")
