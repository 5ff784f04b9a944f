"""System checks: configuration that must be right before the platform serves anyone."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured


@register()
def personal_information_keys(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Without PII keys (and outside development) nothing in the register can be read or written."""
    from civicgrid.core import pii

    try:
        pii.check_configuration()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="civicgrid.E001")]
    return []
