from __future__ import annotations

import pytest

from civicgrid.accounts.roles import Role
from civicgrid.registry import services
from tests.conftest import SHIQIAO_COMMUNITY
from tests.geo.conftest import small_partition  # noqa: F401  (shared fixture)

VALID_IDS = ["44011320141005001X", "360426199101010071", "110102199101010078"]


@pytest.fixture
def clerk(make_user):
    return make_user(Role.COMMUNITY_CLERK, SHIQIAO_COMMUNITY)


@pytest.fixture
def house(clerk, unit):
    building = services.building_get_or_create(
        actor=clerk, community=unit(SHIQIAO_COMMUNITY), road="德兴路", door_number="12号", name="A栋"
    )
    return services.house_get_or_create(actor=clerk, building=building, room="301", use="rented")


@pytest.fixture
def other_house(clerk, unit):
    building = services.building_get_or_create(
        actor=clerk, community=unit(SHIQIAO_COMMUNITY), road="德兴路", door_number="14号"
    )
    return services.house_get_or_create(actor=clerk, building=building, room="102")


def person(number: str = "360426199101010071", name: str = "张三", **extra) -> services.PersonInput:
    return services.PersonInput(id_type="resident_id", id_number=number, name=name, phone="13800138000", **extra)
