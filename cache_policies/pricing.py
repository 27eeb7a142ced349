"""What a cached answer saved, from the editable ModelPrice table (held in-process for a minute)."""

import time
from decimal import Decimal

from cache_policies.models import ModelPrice

_CACHE: dict = {"at": 0.0, "prices": {}}
REFRESH_SECONDS = 60


def _prices() -> dict[str, tuple[Decimal, Decimal]]:
    if time.monotonic() - _CACHE["at"] > REFRESH_SECONDS:
        _CACHE["prices"] = {
            p.model: (p.usd_per_1k_prompt_tokens, p.usd_per_1k_completion_tokens) for p in ModelPrice.objects.all()
        }
        _CACHE["at"] = time.monotonic()
    return _CACHE["prices"]


def usd_for(*, model: str, prompt: int, completion: int) -> float:
    prompt_price, completion_price = _prices().get(model, (Decimal(0), Decimal(0)))
    return float(prompt_price * prompt / 1000 + completion_price * completion / 1000)


def prices_changed() -> None:
    _CACHE["at"] = 0.0
