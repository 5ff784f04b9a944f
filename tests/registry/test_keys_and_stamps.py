"""Key rotation of the register's personal information, and buildings re-stamped when a new grid layer
is published (the old stamp kept in the history)."""

from __future__ import annotations

import base64
import json

import pytest
import shapely
from django.core.management import call_command

from civicgrid.accounts.roles import Role
from civicgrid.core import pii
from civicgrid.geo import services as geo_services
from civicgrid.registry import selectors, services
from civicgrid.registry.models import Building, BuildingStamp, Person
from tests.conftest import DISTRICT
from tests.geo.conftest import COMMUNITIES, grids_geojson
from tests.registry.conftest import person

pytestmark = pytest.mark.django_db

K1 = "k1:" + base64.b64encode(b"1" * 32).decode()
K2 = "k2:" + base64.b64encode(b"2" * 32).decode()
INDEX1 = base64.b64encode(b"i" * 32).decode()
INDEX2 = base64.b64encode(b"j" * 32).decode()


def test_rotating_the_encryption_and_index_keys(settings, clerk, house):
    settings.PII_KEYS, settings.PII_INDEX_KEY = K1, INDEX1
    services.residence_register(actor=clerk, person=person(), house=house)
    subject = Person.objects.get()
    assert pii.key_id_of(bytes(subject.id_number_enc)) == "k1"
    settings.PII_KEYS, settings.PII_INDEX_KEY = f"{K2},{K1}", INDEX2
    assert list(selectors.person_search(actor=clerk, q="360426199101010071")) == []  # index key changed
    call_command("rotate_pii_keys", "--old-index-key", INDEX1, stdout=None)
    subject.refresh_from_db()
    assert pii.key_id_of(bytes(subject.id_number_enc)) == "k2"
    assert pii.key_id_of(bytes(subject.phone_enc)) == "k2"
    settings.PII_KEYS = K2  # the old key can now be removed
    assert pii.decrypt(bytes(subject.id_number_enc), field=services.ID_FIELD) == "360426199101010071"
    assert list(selectors.person_search(actor=clerk, q="360426199101010071")) == [subject]
    assert list(selectors.person_search(actor=clerk, q="13800138000")) == [subject]
    call_command("rotate_pii_keys", stdout=None)  # idempotent: nothing left to do
    subject.refresh_from_db()
    assert pii.key_id_of(bytes(subject.id_number_enc)) == "k2"


def test_buildings_are_stamped_and_restamped_on_publication(
    make_user, unit, small_partition, django_capture_on_commit_callbacks
):
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    document = grids_geojson(small_partition)
    with django_capture_on_commit_callbacks(execute=True):
        draft = geo_services.layer_import(
            actor=admin, data=json.dumps(document).encode(), filename="g.geojson", name="V1"
        )
        v1 = geo_services.layer_publish(actor=admin, layer=draft)
    code = sorted(c for c in small_partition.grids if c.startswith(COMMUNITIES[0]))[0]
    point = shapely.point_on_surface(small_partition.grids[code])
    clerk = make_user(Role.COMMUNITY_CLERK, COMMUNITIES[0])
    building = services.building_get_or_create(
        actor=clerk, community=unit(COMMUNITIES[0]), road="测试路", door_number="1号", lon=point.x, lat=point.y
    )
    assert building.grid.code == code and building.stamped_layer == v1
    # V2: the same geometry but that grid split in two halves; the building falls in one of them.
    draft2 = geo_services.layer_draft_from(actor=admin, base=v1, name="V2")
    feature = draft2.features.get(proposed_code=code)
    polygon = small_partition.grids[code]
    west = shapely.intersection(polygon, shapely.box(-180, -90, point.x, 90))
    east = shapely.intersection(polygon, shapely.box(point.x, -90, 180, 90))
    geo_services.feature_update(actor=admin, feature=feature, geometry=west)
    from civicgrid.geo.models import GridFeature

    GridFeature.objects.create(
        layer=draft2,
        proposed_code="",
        name="拆分",
        kind=feature.kind,
        community=feature.community,
        geometry=shapely.to_wkb(east),
        min_x=east.bounds[0],
        min_y=east.bounds[1],
        max_x=east.bounds[2],
        max_y=east.bounds[3],
        area_m2=1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        v2 = geo_services.layer_publish(actor=admin, layer=draft2)
    building = Building.objects.get(pk=building.pk)
    assert building.stamped_layer == v2 and building.grid.code != code
    history = dict(BuildingStamp.objects.filter(building=building).values_list("layer_id", "grid__code"))
    assert history == {v1.pk: code, v2.pk: building.grid.code}
