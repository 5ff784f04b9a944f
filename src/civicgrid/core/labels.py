"""Labels of choices, cheaply."""

from __future__ import annotations

from django.db import models


def choice_label(choices: type[models.TextChoices], value: str) -> str:
    """What a model's `get_FOO_display()` gives for one value. That method rebuilds the whole list of
    choices, translating every label, on each call: in a list of 30 rows it cost more than the rest of the
    row. An unknown value is shown as it is, as `get_FOO_display()` does."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value
