"""A small published layer under 市桥街道, a department that serves it, and one account per side of the
closed loop."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import shapely

from civicgrid.accounts.roles import Role
from civicgrid.events import services
from civicgrid.events.models import Category
from civicgrid.geo import services as geo_services
from civicgrid.orgunits.models import Department, OrgUnit
from tests.conftest import DISTRICT, SHIQIAO
from tests.geo.conftest import COMMUNITIES, grids_geojson, small_partition  # noqa: F401  (shared fixture)


@pytest.fixture
def loop(db, make_user, small_partition):  # noqa: F811
    services.catalogue_seed()  # transactional tests flush the migration's seed
    from civicgrid.core.workcalendar import calendar_seed_from_package

    calendar_seed_from_package()
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    draft = geo_services.layer_import(
        actor=admin, data=json.dumps(grids_geojson(small_partition)).encode(), filename="g.geojson", name="V1"
    )
    geo_services.layer_publish(actor=admin, layer=draft)
    grids = sorted(c for c in small_partition.grids if c.startswith(COMMUNITIES[0]))
    other_community_grid = sorted(c for c in small_partition.grids if c.startswith(COMMUNITIES[1]))[0]
    town = OrgUnit.objects.get(code=SHIQIAO)
    department = Department.objects.create(code="SQ-CG", name="市桥综合行政执法队", kind="urban", org_unit=town)
    department.serves.set([town])
    other_department = Department.objects.create(code="SQ-SW", name="市桥水务所", kind="water", org_unit=town)
    other_department.serves.set([town])
    point = shapely.point_on_surface(small_partition.grids[grids[0]])
    return SimpleNamespace(
        grid=grids[0],
        point=(point.x, point.y),
        collector=make_user(Role.GRID_WORKER, grids[0], username="collector"),
        peer=make_user(Role.GRID_WORKER, grids[0], username="peer"),
        stranger=make_user(Role.GRID_WORKER, other_community_grid, username="stranger"),
        dispatcher=make_user(Role.DISPATCHER, SHIQIAO, username="dispatcher"),
        handler=make_user(Role.DEPARTMENT_HANDLER, SHIQIAO, department=department, username="handler"),
        other_handler=make_user(
            Role.DEPARTMENT_HANDLER, SHIQIAO, department=other_department, username="other_handler"
        ),
        supervisor=make_user(Role.SUPERVISOR, SHIQIAO, username="supervisor"),
        department=department,
        other_department=other_department,
    )


def report(loop, *, code: str = "0601", by=None, title: str = "垃圾堆积") -> object:
    return services.case_report(
        actor=by or loop.collector,
        report=services.Report(
            title=title,
            description="德兴路口垃圾两天未清运",
            category=Category.objects.get(code=code),
            channel="grid_worker",
            lon=loop.point[0],
            lat=loop.point[1],
        ),
    )
