"""Which policy fields each layer's admin form shows, grouped, and what each one changes for users."""

from cache_policies.models import Layer

_NAMESPACE = ("Drop everything", {"fields": ("namespace_version",), "classes": ("collapse",)})

_FIELDSETS = {
    Layer.EMBEDDING: (("Caching", {"fields": ("layer", "enabled", "ttl_seconds")}), _NAMESPACE),
    Layer.RETRIEVAL: (("Caching", {"fields": ("layer", "enabled", "ttl_seconds")}), _NAMESPACE),
    Layer.RESPONSE: (
        ("Caching", {"fields": ("layer", "enabled", "ttl_seconds", "stale_seconds", "scope")}),
        ("Concurrent identical questions", {"fields": ("lock_timeout_seconds",)}),
        _NAMESPACE,
    ),
    # A cached question lives as long as the exact response it points to: the semantic layer has no TTL.
    Layer.SEMANTIC: (
        ("Matching", {"fields": ("layer", "enabled", "scope", "similarity_threshold")}),
        ("Wrong-answer budget", {"fields": ("max_wrong_rate", "budget_floor", "threshold_derivation", "verify_share")}),
        ("False-hit guard", {"fields": ("guard_min_overlap", "guard_contrast", "guard_min_evidence", "guard_min_alignment",
                                         "guard_alignment_below", "guard_off_topic_similarity")}),
        _NAMESPACE,
    ),
}

_HELP = {
    Layer.EMBEDDING: {
        "enabled": "On: a question asked before skips the embedding model (milliseconds locally, an API call "
        "with OpenAI). Off: every question is embedded again.",
        "ttl_seconds": "How long a question's vector is kept. A vector never goes stale (a model change is a new "
        "key space), so a long TTL only costs Redis memory.",
        "namespace_version": "Part of every embedding key: raising it drops every cached vector at once.",
    },
    Layer.RETRIEVAL: {
        "enabled": "On: a question asked before skips the vector search. Off: every question searches pgvector.",
        "ttl_seconds": "How long a question's retrieved chunks are kept. Editing a document drops the entries "
        "that used it at once, so the TTL bounds memory rather than freshness.",
        "namespace_version": "Part of every retrieval, response and semantic key (the knowledge-base version): "
        "raising it drops all three layers at once.",
    },
    Layer.RESPONSE: {
        "enabled": "On: the same question again (ignoring case and spacing) is answered from Redis in about a "
        "millisecond. Off: every question is answered afresh, and the semantic layer stops too.",
        "ttl_seconds": "How long an answer is served again. Document edits drop the answers that used them "
        "anyway; a shorter TTL mostly matters while the prompt or model is being tuned.",
        "scope": "Shared: an answer cached for one user is served to everyone. Per user: each user gets "
        "their own (choose this if answers ever depend on who asks).",
        "stale_seconds": "After the TTL, the old answer is still served at once for this long (X-Cache: STALE) "
        "while one background job answers the question again, so a popular answer never falls off a cliff. "
        "Off: the first ask after the TTL waits for a new answer. An answer that a document, template or model "
        "change removed is never served stale.",
        "lock_timeout_seconds": "When many people ask the same new question at once, the others wait this "
        "long for the first answer instead of each paying for their own.",
        "namespace_version": "Part of every response key: raising it drops every cached answer at once.",
    },
    Layer.SEMANTIC: {
        "enabled": "On: a reworded question close to one already answered gets that answer, if the guard "
        "below agrees. Cached questions expire with their exact answer (the Response TTL).",
        "scope": "Shared: a reworded question may get an answer cached for another user. Per user: only "
        "the user's own earlier questions count.",
        "similarity_threshold": "Higher: fewer reworded questions are served from the cache, and fewer wrong "
        "answers. Lower: more hits, each still checked by the guard.",
        "max_wrong_rate": "Your budget: the share of served semantic hits that may be wrong (0.01 = 1 in 100). "
        "manage.py semantic_eval --pairs FILE --split --apply derives the loosest similarity threshold whose "
        "wrong share, measured on half the labelled pairs, is within it with 95 % confidence, and stores it above. "
        "Between derivations the verified hits keep it (see verified share): while they show the budget broken, "
        "semantic hits are served only above the budget floor below. Editing the budget sets that floor again at once.",
        "budget_floor": "Set from the verified hits, never by hand: while the wrong share they measure is above the "
        "budget with 95 % confidence, semantic hits are served only above this similarity, the lowest above which "
        "it no longer is. Empty: the verified hits do not show the budget broken. Deleting a wrong verdict you "
        "disagree with sets it again.",
        "threshold_derivation": "How the similarity threshold was derived from the budget; empty once the threshold "
        "is set by hand.",
        "verify_share": "The share of served semantic hits answered again in the background, without the cache, "
        "and compared with the answer served (0.05 = 1 in 20; each costs one answer). A hit found wrong stops its "
        "cached answer being served to questions as far from it, and the stats page shows the measured wrong share "
        "beside the budget. 0 turns verification off.",
        "guard_min_overlap": "The share of the cached answer's sources the new question must also retrieve "
        "(0 turns this check off).",
        "guard_contrast": "Refuse a cached answer when the questions differ in a negation, a number, an "
        "operator or one swapped word ('uppercase' vs 'lowercase'), swap opposites ('and' vs 'or'), run the other "
        "way ('Celsius to Fahrenheit' vs 'Fahrenheit to Celsius') or one adds a narrowing qualifier ('slicing' vs "
        "'slicing with a negative step').",
        "guard_min_evidence": "How well the sentence that best answers one question must answer the other, "
        "relative to its own best (0 turns this check off).",
        "guard_min_alignment": "How well every content word of one question must be matched by some word of the "
        "other (local MiniLM word vectors, read in context): 'catch several exceptions' is refused for 'raise a "
        "new exception', 'catch multiple exceptions' is served. Higher refuses more, rewordings too (0 turns "
        "this check off).",
        "guard_alignment_below": "A question whose best retrieved passage scores below this is off the knowledge "
        "base's topics. There, sources agree by chance and prove nothing, so word alignment and the off-topic "
        "similarity decide instead of the sources and evidence checks; in the domain those two decide. 1 treats "
        "every question as off-topic.",
        "guard_off_topic_similarity": "The similarity a cached question must reach for an off-topic question "
        "(above). General paraphrases ('Why is the sky blue?' / 'What makes the sky look blue?') score 0.8-1.0; "
        "lower serves more rewordings and more wrong answers.",
        "namespace_version": "Part of every semantic key: raising it forgets every cached question at once.",
    },
}


def layer_fieldsets(*, layer: str) -> tuple:
    return _FIELDSETS[layer]


def layer_help(*, layer: str) -> dict[str, str]:
    return _HELP[layer]
