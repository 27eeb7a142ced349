"""Who may see whether an answer came from the cache (X-Cache, Server-Timing, timings and cache report).

Anyone who sees it can learn whether a question was asked before; EXPOSE_CACHE_STATUS=false keeps
it for staff only.
"""

from django.conf import settings

HIDDEN_ANSWER_FIELDS = ("cache", "timings_ms")


def cache_status_visible(*, user) -> bool:
    return settings.EXPOSE_CACHE_STATUS or user.is_staff


def answer_public_dict(*, answer_dict: dict) -> dict:
    return {field: value for field, value in answer_dict.items() if field not in HIDDEN_ANSWER_FIELDS}
