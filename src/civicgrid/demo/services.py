"""The demo data set: the real Panyu division list, a realistic set of departments, and one account
per role. Deterministic and idempotent: running it twice changes nothing."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

from django.db import transaction
from django.utils import timezone

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.audit.services import audit_record
from civicgrid.geo.models import LayerVersion
from civicgrid.geo.services import boundaries_import, layer_import, layer_publish
from civicgrid.geo.synthetic import SyntheticPartition, load_panyu_inputs, synthetic_partition
from civicgrid.orgunits.models import Department, Level, OrgUnit
from civicgrid.orgunits.services import orgunits_import

DEMO_PASSWORD = "Panyu#2026demo"  # noqa: S105 - printed by the demo, never used outside it
DISTRICT_CODE = "440113000000"
SHIQIAO_CODE = "440113007000"  # 市桥街道
SHILOU_CODE = "440113105000"  # 石楼镇

# District bureaus that serve the whole district.
DISTRICT_DEPARTMENTS = [
    ("PY-CG", "番禺区城市管理和综合执法局", Department.Kind.URBAN_MANAGEMENT, "020-84600001"),
    ("PY-ZJ", "番禺区住房和城乡建设局", Department.Kind.HOUSING, "020-84600002"),
    ("PY-XF", "番禺区消防救援大队", Department.Kind.FIRE, "020-84600119"),
    ("PY-SJ", "番禺区市场监督管理局", Department.Kind.MARKET, "020-84600003"),
    ("PY-SW", "番禺区水务局", Department.Kind.WATER, "020-84600004"),
    ("PY-JT", "番禺区交通运输局", Department.Kind.TRANSPORT, "020-84600005"),
    ("PY-HB", "广州市生态环境局番禺分局", Department.Kind.ENVIRONMENT, "020-84600006"),
    ("PY-RQ", "番禺区燃气管理办公室", Department.Kind.GAS, "020-84600007"),
    ("PY-MZ", "番禺区民政局", Department.Kind.CIVIL_AFFAIRS, "020-84600008"),
    ("PY-YJ", "番禺区应急管理局", Department.Kind.EMERGENCY, "020-84600009"),
]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    full_name: str
    role: str
    unit_code: str
    department_code: str | None = None


def _first_community(town_code: str) -> str:
    unit = OrgUnit.objects.filter(parent__code=town_code, level=Level.COMMUNITY).order_by("code").first()
    if unit is None:
        raise RuntimeError(f"town {town_code} has no communities in the shipped division list")
    return unit.code


def demo_accounts() -> list[DemoAccount]:
    shiqiao_community = _first_community(SHIQIAO_CODE)
    shilou_community = _first_community(SHILOU_CODE)
    return [
        DemoAccount("qu_admin", "陈志明", Role.DISTRICT_ADMIN, DISTRICT_CODE),
        DemoAccount("shiqiao_admin", "李敏", Role.TOWN_ADMIN, SHIQIAO_CODE),
        DemoAccount("shilou_admin", "何伟", Role.TOWN_ADMIN, SHILOU_CODE),
        DemoAccount("shiqiao_clerk", "黄丽", Role.COMMUNITY_CLERK, shiqiao_community),
        DemoAccount("wgy_shiqiao", "梁小红", Role.GRID_WORKER, f"{shiqiao_community}001"),
        DemoAccount("wgy_shilou", "冯建国", Role.GRID_WORKER, shilou_community),
        DemoAccount("qu_dispatcher", "周婷", Role.DISPATCHER, DISTRICT_CODE),
        DemoAccount("shiqiao_dispatcher", "吴强", Role.DISPATCHER, SHIQIAO_CODE),
        DemoAccount("cg_handler", "郑浩", Role.DEPARTMENT_HANDLER, DISTRICT_CODE, "PY-CG"),
        DemoAccount("sq_pcs_handler", "罗军", Role.DEPARTMENT_HANDLER, SHIQIAO_CODE, "SQ-PCS"),
        DemoAccount("qu_supervisor", "谢芳", Role.SUPERVISOR, DISTRICT_CODE),
        DemoAccount("qu_auditor", "林静", Role.AUDITOR, DISTRICT_CODE),
    ]


DEMO_LAYER_EFFECTIVE_FROM = dt.date(2026, 7, 1)


@functools.cache
def _demo_partition() -> SyntheticPartition:
    outline, towns = load_panyu_inputs()
    return synthetic_partition(outline=outline, towns=towns)


def demo_grid_layer() -> LayerVersion:
    """Publish the synthetic grid layer (with community boundaries) through the real import, check and
    publish services, unless a layer is already published. Clearly labelled: not official boundaries."""
    current = LayerVersion.objects.filter(status=LayerVersion.Status.PUBLISHED).first()
    if current is not None:
        return current
    partition = _demo_partition()
    grids = partition.feature_collection("grid")
    names = dict(OrgUnit.objects.filter(level=Level.COMMUNITY).values_list("code", "name"))
    for feature in grids["features"]:
        code = feature["properties"]["code"]
        community = feature["properties"]["parent_code"]
        short = names[community].removesuffix("居民委员会").removesuffix("村民委员会").removesuffix("委员会")
        feature["properties"]["name"] = f"{short}第{int(code[-3:])}网格"
        # An invented but plausible household estimate (grids are usually 300–500 households).
        feature["properties"]["households"] = 260 + int(hashlib.sha256(code.encode()).hexdigest()[:4], 16) % 300
    layer = layer_import(
        actor=None,
        data=json.dumps(grids, ensure_ascii=False).encode(),
        filename="panyu_synthetic_grids.geojson",
        name="番禺区综合网格（合成演示）",
        synthetic=True,
        note=f"{partition.notice}（种子 {partition.seed}）",
    )
    communities = partition.feature_collection("community")
    boundaries_import(
        actor=None, layer=layer, data=json.dumps(communities).encode(), filename="panyu_synthetic_communities.geojson"
    )
    return layer_publish(actor=None, layer=layer, effective_from=DEMO_LAYER_EFFECTIVE_FROM)


def divisions_csv_text() -> str:
    return (resources.files("civicgrid.orgunits") / "data" / "panyu_divisions.csv").read_text(encoding="utf-8")


def demo_load(*, grid_layer: bool = True, samples: bool = True) -> list[DemoAccount]:
    """Load (or refresh) the demo data set and return the demo accounts. Without the grid layer, the
    grid worker bound to a grid is bound to that grid's community instead. `samples` adds invented
    residents and grid events (tests that build their own data leave them out)."""
    result = orgunits_import(text=divisions_csv_text(), actor=None, source_name="panyu_divisions.csv")
    if result.errors:  # the shipped list is checked by the tests; this would be a packaging error
        raise RuntimeError("; ".join(str(e) for e in result.errors))
    if grid_layer:
        demo_grid_layer()
    with transaction.atomic():
        district = OrgUnit.objects.get(code=DISTRICT_CODE)
        towns = list(OrgUnit.objects.filter(level=Level.TOWN).order_by("code"))
        for code, name, kind, phone in DISTRICT_DEPARTMENTS:
            department, created = Department.objects.get_or_create(
                code=code, defaults={"name": name, "kind": kind, "org_unit": district, "phone": phone}
            )
            if created:
                department.serves.set([district])
                audit_record(actor=None, action="departments.create", target=department, detail={"demo": True})
        for index, town in enumerate(towns, start=1):
            short = town.name.removesuffix("街道").removesuffix("镇")
            for suffix, label, kind in (
                ("PCS", "派出所", Department.Kind.POLICE),
                ("CGZD", "综合行政执法队", Department.Kind.URBAN_MANAGEMENT),
            ):
                code = f"{_town_prefix(town.code)}-{suffix}"
                department, created = Department.objects.get_or_create(
                    code=code,
                    defaults={
                        "name": f"{short}{label}",
                        "kind": kind,
                        "org_unit": town,
                        "phone": f"020-846{index:02d}{'110' if suffix == 'PCS' else '120'}",
                    },
                )
                if created:
                    department.serves.set([town])
                    audit_record(actor=None, action="departments.create", target=department, detail={"demo": True})
        accounts = demo_accounts()
        for account in accounts:
            if User.objects.filter(username=account.username).exists():
                continue
            user = User(
                username=account.username,
                full_name=account.full_name,
                role=account.role,
                org_unit=_unit_or_parent(account.unit_code),
                department=(Department.objects.get(code=account.department_code) if account.department_code else None),
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
            audit_record(actor=None, action="accounts.create", target=user, detail={"demo": True})
    if grid_layer and samples:
        demo_register()
        demo_spot_check()
        demo_events()
    return accounts


# --- invented register and event data, through the real services -------------------------------------

SURNAMES = "陈李黄张梁何吴罗郑林谢周冯邓曾刘杨许朱叶"
GIVEN = ["伟", "芳", "敏", "强", "丽", "军", "静", "磊", "洋", "艳", "勇", "杰", "娟", "涛", "明", "超", "霞", "平"]
# Household registration places of the invented residents: Guangzhou (4401xx) and elsewhere (migrants).
REGIONS = ["440113", "440106", "440104", "360426", "430102", "450103", "510104", "441402", "445102", "350102"]
ROADS = ["德兴路", "东兴路", "环城中路", "繁华路", "西丽路"]


def _demo_id(index: int) -> str:
    from civicgrid.core.idnumbers import resident_id_check_char

    region = REGIONS[index % len(REGIONS)]
    birth = dt.date(1965, 1, 1) + dt.timedelta(days=(index * 3571) % 18000)
    sequence = f"{(index * 7) % 999 + 1:03d}"
    first17 = f"{region}{birth:%Y%m%d}{sequence}"
    return first17 + resident_id_check_char(first17)


def demo_register(*, persons: int = 120) -> None:
    """Invented residents of a few houses in the first communities of 市桥街道, registered by the demo
    community clerk through the ordinary services (so the journal, encryption and audit are real)."""
    from civicgrid.registry.models import Person
    from civicgrid.registry.services import (
        PersonInput,
        building_get_or_create,
        house_get_or_create,
        rental_register,
        residence_register,
    )

    if Person.objects.exists():
        return
    clerk = User.objects.get(username="shiqiao_clerk")
    community = _unit_or_parent(clerk.org_unit.code if clerk.org_unit else "")
    grids = list(OrgUnit.objects.filter(parent=community, level=Level.GRID).order_by("code"))
    import shapely

    from civicgrid.geo.models import GridFeature
    from civicgrid.geo.selectors import layer_current

    layer = layer_current()
    points = []
    if layer is not None:
        for feature in GridFeature.objects.filter(layer=layer, grid_unit__in=grids).order_by("code"):
            point = shapely.point_on_surface(shapely.from_wkb(bytes(feature.geometry)))
            points.append((point.x, point.y))
    houses = []
    for b in range(10):
        lon, lat = points[b % len(points)] if points else (None, None)
        building = building_get_or_create(
            actor=clerk,
            community=community,
            road=ROADS[b % len(ROADS)],
            door_number=f"{(b + 1) * 2}号",
            name=f"{b % 3 + 1}栋",
            lon=lon,
            lat=lat,
        )
        for room in ("101", "201", "302"):
            use = "rented" if (b + int(room[0])) % 2 else "self"
            houses.append(
                house_get_or_create(
                    actor=clerk, building=building, room=room, use=use, rooms=3, floor_area=Decimal("68.5")
                )
            )
    for index, house in enumerate(h for h in houses if h.use == "rented"):
        rental_register(
            actor=clerk,
            house=house,
            start=dt.date(2025, 3, 1),
            landlord_person=PersonInput(
                id_type="resident_id",
                id_number=_demo_id(9000 + index),
                name=f"{SURNAMES[index % 20]}{GIVEN[index % 18]}房东",
            ),
        )
    today = timezone.localdate()
    for index in range(persons):
        name = (
            SURNAMES[index % len(SURNAMES)] + GIVEN[(index * 7) % len(GIVEN)] + (GIVEN[index % 5] if index % 3 else "")
        )
        residence_register(
            actor=clerk,
            house=houses[index % len(houses)],
            person=PersonInput(
                id_type="resident_id",
                id_number=_demo_id(index),
                name=name,
                phone=f"13{index % 10}{(index * 7919) % 100000000:08d}",
                employer="番禺某电子厂" if index % 4 else "",
                permit_status="valid" if index % 2 else "none",
            ),
            on=today - dt.timedelta(days=(index * 13) % 400),
            source="demo",
        )


def demo_spot_check() -> None:
    """A spot check of 市桥街道's first community, drawn by the town administrator (seed 2026) and visited by
    the community clerk, so that the registration-rate page has figures: the inspector finds the register's
    residents everywhere, except a newly arrived tenant not yet registered in one house and a house whose
    registration does not match what was found in another."""
    from civicgrid.registry.models import SpotCheck
    from civicgrid.registry.spotchecks import FoundPerson, house_residents_on, spotcheck_draw, spotcheck_record_house

    if SpotCheck.objects.exists():
        return
    admin = User.objects.get(username="shiqiao_admin")
    clerk = User.objects.get(username="shiqiao_clerk")
    community = _unit_or_parent(clerk.org_unit.code if clerk.org_unit else "")
    check = spotcheck_draw(actor=admin, area=community, per_community=6, seed=2026)
    today = timezone.localdate()
    for index, item in enumerate(check.houses.select_related("house").order_by("pk")):
        found = [FoundPerson(name=r.person.name) for r in house_residents_on(house=item.house, on=today)]
        if index == 1:
            found.append(FoundPerson(name="刘新", id_number=_demo_id(5003), was_registered=False))
        spotcheck_record_house(
            actor=clerk,
            item=item,
            house_found=True,
            house_registered=index != 3,
            persons=found,
            note="新租客尚未登记" if index == 1 else "",
        )


def demo_events() -> None:
    """A few dozen grid events in every state of the loop, by the demo accounts, with dispatch rules."""
    from civicgrid.events import services as events
    from civicgrid.events.models import Case, Category, DispatchRule

    if Case.objects.exists():
        return
    reporter = User.objects.get(username="wgy_shiqiao")
    dispatcher = User.objects.get(username="shiqiao_dispatcher")
    handlers = {"PY-CG": User.objects.get(username="cg_handler"), "SQ-PCS": User.objects.get(username="sq_pcs_handler")}
    departments = {code: Department.objects.get(code=code) for code in handlers}
    shiqiao = OrgUnit.objects.get(code=SHIQIAO_CODE)
    if not DispatchRule.objects.exists():
        DispatchRule.objects.create(
            order=10,
            name="市容环境 → 区城管局",
            category=Category.objects.get(code="06"),
            department=departments["PY-CG"],
        )
        DispatchRule.objects.create(
            order=20,
            name="市桥：乱停放 → 市桥派出所",
            category=Category.objects.get(code="0803"),
            area=shiqiao,
            department=departments["SQ-PCS"],
        )
    grid = reporter.org_unit
    import shapely

    from civicgrid.geo.models import GridFeature
    from civicgrid.geo.selectors import layer_current

    layer = layer_current()
    feature = GridFeature.objects.filter(layer=layer, grid_unit=grid).first() if layer else None
    if feature is None:
        return
    polygon = shapely.from_wkb(bytes(feature.geometry))
    rng = __import__("random").Random(20261125)
    min_x, min_y, max_x, max_y = polygon.bounds
    plan = [  # (category, title, how far along the loop)
        ("0601", "德兴路口垃圾堆积", 6),
        ("0602", "楼道乱张贴小广告", 1),
        ("0803", "机动车占用消防通道停放", 3),
        ("0604", "人行道乱堆建筑材料", 4),
        ("0601", "垃圾桶满溢未清运", 5),
        ("0803", "小区门口车辆乱停放", 2),
        ("0603", "占道经营水果摊", 0),
        ("0601", "绿化带内积存垃圾", 6),
        ("0602", "电线杆乱涂写", 4),
        ("0604", "楼下堆放废旧家具", 3),
    ]
    for category_code, title, steps in plan:
        for _attempt in range(20):
            x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
            if polygon.contains(shapely.Point(x, y)):
                break
        case = events.case_report(
            actor=reporter,
            report=events.Report(
                title=title,
                description=f"{title}，请尽快处理。",
                category=Category.objects.get(code=category_code),
                channel="grid_worker",
                lon=x,
                lat=y,
            ),
        )
        department = departments["SQ-PCS"] if category_code == "0803" else departments["PY-CG"]
        handler = handlers[department.code]
        script: list[tuple[User, str, dict[str, Any]]] = [
            (dispatcher, "file", {}),
            (dispatcher, "dispatch", {"department": department}),
            (handler, "accept", {}),
            (handler, "handle", {"reason": "已到现场处置完毕"}),
            (reporter, "verify", {}),
        ]
        for actor, action, kwargs in script[: min(steps, 5)]:
            case = events.case_transition(actor=actor, case=case, action=action, **kwargs)


def _unit_or_parent(code: str) -> OrgUnit:
    unit = OrgUnit.objects.filter(code=code).first()
    return unit if unit is not None else OrgUnit.objects.get(code=code[:12])


def _town_prefix(town_code: str) -> str:
    """Short department code prefix per town: SQ for 市桥 (440113007000), else T + the town number."""
    return "SQ" if town_code == SHIQIAO_CODE else f"T{town_code[6:9]}"
