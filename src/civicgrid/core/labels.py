"""Labels of choices, cheaply."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext, gettext_lazy


def choice_label(choices: type[models.TextChoices], value: str) -> str:
    """What a model's `get_FOO_display()` gives for one value. That method rebuilds the whole list of
    choices, translating every label, on each call: in a list of 30 rows it cost more than the rest of the
    row. An unknown value is shown as it is, as `get_FOO_display()` does."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


# A month of the year as tables and menus name it ("3月" in Chinese, "Mar" in English).
MONTHS = {
    1: gettext_lazy("1月"),
    2: gettext_lazy("2月"),
    3: gettext_lazy("3月"),
    4: gettext_lazy("4月"),
    5: gettext_lazy("5月"),
    6: gettext_lazy("6月"),
    7: gettext_lazy("7月"),
    8: gettext_lazy("8月"),
    9: gettext_lazy("9月"),
    10: gettext_lazy("10月"),
    11: gettext_lazy("11月"),
    12: gettext_lazy("12月"),
}


def period_label(year: int, month: int | None = None) -> str:
    """ "2026年3月" / "Mar 2026", or the year alone: "2026年" / "2026"."""
    if month is None:
        return gettext("%(year)s年") % {"year": year}
    return gettext("%(year)s年%(month)s") % {"year": year, "month": MONTHS[month]}
