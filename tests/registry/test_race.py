"""Ten clerks act on the same person, record or house at once on PostgreSQL: exactly one registration,
cancellation or letting is stored, every other clerk gets a clear refusal, and the journal has neither a
duplicate nor a lost action."""

from __future__ import annotations

import datetime as dt

import pytest

from civicgrid.registry import services
from civicgrid.registry.models import Landlord, Person, Rental, ResidenceAction, ResidenceRecord
from tests.concurrency import race
from tests.conftest import SHIQIAO_COMMUNITY
from tests.registry.conftest import person

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
WORKERS = 10


def houses(clerk, unit, count: int) -> list:
    community = unit(SHIQIAO_COMMUNITY)
    return [
        services.house_get_or_create(
            actor=clerk,
            building=services.building_get_or_create(
                actor=clerk, community=community, road="德兴路", door_number=f"{20 + i}号"
            ),
            room="101",
            use="rented",
        )
        for i in range(count)
    ]


def refused(outcomes: list[str]) -> list[str]:
    assert len(outcomes) == WORKERS
    assert outcomes.count("won") == 1, outcomes
    losers = [o for o in outcomes if o != "won"]
    assert all(o.startswith("conflict:") for o in losers), losers
    return losers


@pytest.mark.parametrize("known", [False, True], ids=["new person", "person already in the register"])
def test_one_person_registered_at_ten_houses_at_once_lives_at_one(clerk, unit, known):
    targets = houses(clerk, unit, WORKERS)
    if known:  # registered once, then moved out: the person row exists and is locked by each clerk
        record = services.residence_register(actor=clerk, person=person(), house=targets[0])
        services.residence_cancel(actor=clerk, record=record, reason="已搬离")
    before = ResidenceAction.objects.count()
    losers = refused(
        race(lambda i: services.residence_register(actor=clerk, person=person(), house=targets[i]), WORKERS)
    )
    assert all(("已在" in o and "登记在住" in o) or "刚被他人修改" in o for o in losers), losers
    assert Person.objects.count() == 1
    active = ResidenceRecord.objects.filter(state=ResidenceRecord.State.ACTIVE)
    assert active.count() == 1
    assert ResidenceAction.objects.count() == before + 1
    assert list(ResidenceAction.objects.filter(record=active.get()).values_list("kind", flat=True)) == ["register"]


def test_a_departure_cancelled_by_ten_clerks_at_once_is_cancelled_once(clerk, unit):
    (house,) = houses(clerk, unit, 1)
    record = services.residence_register(actor=clerk, person=person(), house=house)
    losers = refused(
        race(
            lambda i: services.residence_cancel(
                actor=clerk, record=ResidenceRecord.objects.get(pk=record.pk), reason=f"已搬离（{i}）"
            ),
            WORKERS,
        )
    )
    assert all("已注销" in o for o in losers), losers
    record.refresh_from_db()
    assert record.state == ResidenceRecord.State.CANCELLED and record.version == 2
    kinds = list(ResidenceAction.objects.filter(record=record).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["register", "cancel"]


def test_a_house_let_by_ten_clerks_at_once_has_one_active_rental(clerk, unit):
    (house,) = houses(clerk, unit, 1)
    landlord = services.LandlordInput(kind="org", org_name="番禺测试物业管理有限公司", uscc="91440300568520498A")
    losers = refused(
        race(
            lambda i: services.rental_register(
                actor=clerk, house=house, start=dt.date(2026, 1, 1 + i), tenants=2, landlord=landlord
            ),
            WORKERS,
        )
    )
    assert all("已有有效的出租登记" in o or "刚被他人修改" in o for o in losers), losers
    assert Rental.objects.filter(house=house, active=True).count() == 1
    assert Rental.objects.count() == 1 and Landlord.objects.count() == 1  # the landlord not duplicated either
