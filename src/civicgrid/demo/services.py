"""The demo data set: the real Panyu division list, a realistic set of departments, and one account
per role. Deterministic and idempotent: running it twice changes nothing."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass
from importlib import resources

from django.db import transaction

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


def demo_load(*, grid_layer: bool = True) -> list[DemoAccount]:
    """Load (or refresh) the demo data set and return the demo accounts. Without the grid layer, the
    grid worker bound to a grid is bound to that grid's community instead."""
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
    return accounts


def _unit_or_parent(code: str) -> OrgUnit:
    unit = OrgUnit.objects.filter(code=code).first()
    return unit if unit is not None else OrgUnit.objects.get(code=code[:12])


def _town_prefix(town_code: str) -> str:
    """Short department code prefix per town: SQ for 市桥 (440113007000), else T + the town number."""
    return "SQ" if town_code == SHIQIAO_CODE else f"T{town_code[6:9]}"
