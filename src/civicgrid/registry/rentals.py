"""The group-renting (群租) rule of a letting, as a pure function: no database, no actor.

Under 5 m² of floor area per person (setting `REGISTER_AREA_PER_PERSON`, default 5, the same threshold the
quality scan uses) is derived from the house's floor area and the rental's number of tenants; it is never
recorded by hand. The other reasons (rooms inside rooms, balcony rooms, hourly/daily letting) are what an
officer found and records."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

UNDER_5M2 = "under_5m2"
RECORDED_REASONS = ("room_in_room", "balcony", "hourly")


def area_per_person_threshold() -> Decimal:
    return Decimal(str(getattr(settings, "REGISTER_AREA_PER_PERSON", 5)))


@dataclass(frozen=True)
class GroupAssessment:
    """`under_threshold` is None when it cannot be judged (no floor area or no number of tenants)."""

    under_threshold: bool | None
    per_person: Decimal | None
    threshold: Decimal
    floor_area: Decimal | None
    tenants: int | None

    def explanation(self) -> str:
        """The reason in words, shown next to the flag."""
        if self.floor_area is None:
            return _("房屋未登记建筑面积，无法判定人均居住面积")
        if not self.tenants:
            return _("未填写承租人数，无法判定人均居住面积")
        assert self.per_person is not None  # noqa: S101 - both inputs are present
        values: dict[str, Any] = {
            "per_person": self.per_person,
            "area": self.floor_area,
            "tenants": self.tenants,
            "threshold": self.threshold,
        }
        if self.under_threshold:
            return (
                _("人均居住面积 %(per_person)s ㎡（建筑面积 %(area)s ㎡ ÷ %(tenants)s 人），不足 %(threshold)s ㎡")
                % values
            )
        return (
            _("人均居住面积 %(per_person)s ㎡（建筑面积 %(area)s ㎡ ÷ %(tenants)s 人），不低于 %(threshold)s ㎡")
            % values
        )


def assess_group_renting(
    *, floor_area: Decimal | None, tenants: int | None, threshold: Decimal | None = None
) -> GroupAssessment:
    threshold = threshold if threshold is not None else area_per_person_threshold()
    if floor_area is None or not tenants:
        return GroupAssessment(None, None, threshold, floor_area, tenants)
    area = Decimal(floor_area)
    per_person = (area / Decimal(tenants)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    # Compared unrounded: 24.99 ㎡ for 5 people is under 5 even though it shows as 5.00.
    return GroupAssessment(area < threshold * tenants, per_person, threshold, area, tenants)


def group_reasons(*, recorded: list[str], assessment: GroupAssessment) -> list[str]:
    """Every reason in force, the derived one first, in a stable order."""
    reasons = [UNDER_5M2] if assessment.under_threshold else []
    return reasons + [r for r in RECORDED_REASONS if r in recorded]


def recorded_reasons(reasons: list[str]) -> list[str]:
    return [r for r in reasons if r != UNDER_5M2]
