"""Reads of the cache's own configuration for the admin."""

from cache_policies.models import Event, InvalidationRule, Layer

RULE_OFF = "off"  # the grid's value for "no enabled rule": the event leaves the layer alone
# The events whose purges know which answers they removed (model_changed makes a new key space instead).
WARMABLE_EVENTS = (Event.DOCUMENT_CHANGED, Event.DOCUMENT_DELETED, Event.PROMPT_CHANGED)


def rule_grid() -> list[dict]:
    """Every event with, per layer in Layer order, the action its enabled rule takes (or RULE_OFF), and for
    the exact responses of an event that can warm after purge, whether it does (else warm is None)."""
    rules = {(r.event, r.layer): r for r in InvalidationRule.objects.filter(enabled=True)}
    return [
        {"event": event, "label": label, "cells": [
            {"name": f"{event}:{layer}", "action": rules[event, layer].action if (event, layer) in rules else RULE_OFF,
             "warm": _warm_of(rules.get((event, layer))) if layer == Layer.RESPONSE and event in WARMABLE_EVENTS else None}
            for layer in Layer.values
        ]}
        for event, label in Event.choices
    ]


def _warm_of(rule: InvalidationRule | None) -> bool:
    return bool(rule and rule.warm_after_purge)
