"""Summaries of latency samples (milliseconds)."""

import numpy as np


def summary(values_ms: list[float]) -> dict:
    if not values_ms:
        return {"n": 0, "p50": None, "p95": None, "mean": None}
    values = np.asarray(values_ms, dtype=float)
    return {
        "n": len(values),
        "p50": round(float(np.percentile(values, 50)), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
        "mean": round(float(values.mean()), 3),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)
