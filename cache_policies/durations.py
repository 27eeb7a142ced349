"""TTLs as people write them ("1 day", "15 min", "1h 30m") and read them back, instead of raw seconds."""

from django import forms
from django.core.exceptions import ValidationError
from pytimeparse import parse

NO_EXPIRY = "no expiry"
OFF = "off"
PRESETS = ("1 min", "15 min", "1 hour", "1 day", "7 days", "30 days", NO_EXPIRY)
GRACE_PRESETS = (OFF, "1 min", "15 min", "1 hour", "1 day")  # a stale window: what 0 means is "off"
_ZERO_WORDS = {NO_EXPIRY: (NO_EXPIRY, "never", "none"), OFF: (OFF, "none", "never", "0 s")}
_UNITS = (("day", 86400), ("hour", 3600), ("min", 60), ("s", 1))


def duration_parse(text: str, *, zero: str = NO_EXPIRY) -> int:
    """Whole seconds; 0 for the zero word ("no expiry", or "off" for a stale window) or "0".
    Raises ValueError naming what was not understood."""
    text = text.strip().lower()
    if text in _ZERO_WORDS[zero]:
        return 0
    if text.isdigit():  # bare seconds, as the field used to take
        return int(text)
    seconds = parse(text)
    if seconds is None or seconds < 0:
        raise ValueError(f'"{text}" is not a duration: write e.g. "90 s", "15 min", "1 hour", "1 day 12 h" or "{zero}"')
    return round(seconds)


def duration_format(seconds: int, *, zero: str = NO_EXPIRY) -> str:
    """Every unit, so the text parses back to the same seconds: 86400 → "1 day", 5400 → "1 hour 30 min"."""
    if not seconds:
        return zero
    parts = []
    for name, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            plural = "s" if count > 1 and name in ("day", "hour") else ""
            parts.append(f"{count} {name}{plural}")
    return " ".join(parts)


class DurationInput(forms.TextInput):
    """A text box offering the presets (an HTML datalist) while accepting any duration."""

    template_name = "cache_policies/duration_input.html"

    def __init__(self, *, zero: str = NO_EXPIRY, **kwargs):
        super().__init__(**kwargs)
        self.zero = zero

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, {**(attrs or {}), "list": f"{name}-presets"})
        context["presets"] = GRACE_PRESETS if self.zero == OFF else PRESETS
        return context

    def format_value(self, value):
        return duration_format(value, zero=self.zero) if isinstance(value, int) else value


class DurationField(forms.Field):
    def __init__(self, *, zero: str = NO_EXPIRY, **kwargs):
        self.zero = zero
        super().__init__(widget=DurationInput(zero=zero), **kwargs)

    def to_python(self, value) -> int:
        if isinstance(value, int):
            return value
        if value in (None, "") and not self.required:
            return 0  # left empty: the zero word's meaning ("off" for a stale window)
        try:
            return duration_parse(value or "", zero=self.zero)
        except ValueError as error:
            raise ValidationError(str(error), code="invalid") from error
