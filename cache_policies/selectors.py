"""Reads of the cache's own configuration for the admin."""

from cache_policies.models import Event, InvalidationRule, Layer

RULE_OFF = "off"  # the grid's value for "no enabled rule": the event leaves the layer alone


def rule_grid() -> list[dict]:
    """Every event with, per layer in Layer order, the action its enabled rule takes (or RULE_OFF)."""
    actions = {(r.event, r.layer): r.action for r in InvalidationRule.objects.filter(enabled=True)}
    return [
        {"event": event, "label": label, "cells": [
            {"name": f"{event}:{layer}", "action": actions.get((event, layer), RULE_OFF)} for layer in Layer.values
        ]}
        for event, label in Event.choices
    ]
