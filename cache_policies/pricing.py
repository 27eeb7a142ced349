"""What a cached answer saved, from the editable ModelPrice table (held in-process for a minute)."""

from decimal import Decimal

from cache_policies.held import Held
from cache_policies.models import ModelPrice

REFRESH_SECONDS = 60


def _prices_load() -> dict[str, tuple[Decimal, Decimal]]:
    return {p.model: (p.usd_per_1k_prompt_tokens, p.usd_per_1k_completion_tokens) for p in ModelPrice.objects.all()}


# With the database down and nothing loaded yet, a hit counts no money saved rather than failing.
_prices = Held(_prices_load, refresh=REFRESH_SECONDS, default={})


def usd_for(*, model: str, prompt: int, completion: int) -> float:
    prompt_price, completion_price = _prices.get().get(model, (Decimal(0), Decimal(0)))
    return float(prompt_price * prompt / 1000 + completion_price * completion / 1000)


def prices_changed() -> None:
    _prices.forget()
