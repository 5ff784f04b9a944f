"""Register import benchmark (docs/benchmarks.md): a 1,000,000-row resident CSV through the dry run and
the commit of `civicgrid.registry.imports`, against a row-by-row baseline in the same run.

    .venv/bin/python benchmarks/bench_import.py                  # embedded SQLite in a temporary file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cg_import .venv/bin/python benchmarks/bench_import.py

The database is emptied and migrated first (use a database of its own). Set-up, not timed: the Panyu
division list (276 communities) and the demo grid layer (3,000 grids) are loaded through their services,
and a CSV of `--rows` residents is generated deterministically (seed 2026): valid resident IDs with correct
check characters (about 1% passports), about 67 thousand buildings spread over the 276 communities with a
WGS-84 point inside the community's boundary (so every new building is really stamped with a grid), about
6 houses a building and 2–3 persons a house, rows grouped by building as the towns' spreadsheets are,
mobile numbers mostly (some landlines, a few blank), the usual Chinese headers, UTF-8 with BOM.

Timed, each in a fresh child process so that its peak RSS (`resource.getrusage`) is its own:

1. the dry run (`import_validate(path=...)`): every row checked, nothing written;
2. the commit (`import_commit(mode="all_or_nothing")`): every row checked again, encrypted, blind-indexed,
   stamped and inserted in one transaction — the figure the target is about;
3. the same file imported again (dry run and commit): nothing may change.

Baseline in the same run, on a sample of `--baseline` other rows of the same generator (their own IDs and
addresses): a row-by-row loop over the ordinary services (`building_get_or_create`, `house_get_or_create`,
`residence_register`, each its own transaction with its audit entry), and a plain ORM loop (`clean_person`,
`get_or_create` for the building and house, then `Person(...).save()`, `ResidenceRecord(...).save()`,
`ResidenceAction(...).save()` per row, in one transaction). Rows/s of each are extrapolated per row.

Exits 1 if a target is missed: ≥50,000 rows/s on PostgreSQL or ≥20,000 on SQLite for the commit, ≥50×
the ORM loop, peak RSS of the import under 500 MB.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_ROWS_PER_S = {"postgresql": 50_000, "sqlite": 20_000}
TARGET_SPEEDUP = 50
TARGET_RSS_MB = 500
SEED = 2026

HEADERS = [
    "序号",
    "姓名",
    "性别",
    "证件类型",
    "公民身份号码",
    "出生日期",
    "联系电话",
    "户籍地址",
    "服务处所",
    "居住证",
    "镇(街)",
    "社区(村)",
    "街路巷",
    "门(楼)牌号",
    "楼栋",
    "房号",
    "房屋用途",
    "登记日期",
    "经度",
    "纬度",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰文辉俊峰海燕小龙子豪梓涵一诺欣怡浩然雨轩"
REGIONS = [
    ("440113", "广东省广州市番禺区"),
    ("440103", "广东省广州市荔湾区"),
    ("440106", "广东省广州市天河区"),
    ("440882", "广东省雷州市"),
    ("441523", "广东省陆河县"),
    ("360426", "江西省德安县"),
    ("430524", "湖南省隆回县"),
    ("450881", "广西壮族自治区桂平市"),
    ("522422", "贵州省大方县"),
    ("512501", "四川省"),
    ("420117", "湖北省武汉市新洲区"),
    ("410221", "河南省杞县"),
]
ROADS = [
    "兴业路",
    "市桥路",
    "大北路",
    "环城路",
    "繁华路",
    "东涌路",
    "德兴路",
    "桥东路",
    "光明北路",
    "西丽路",
    "南大路",
    "金山大道",
    "福德路",
    "清河路",
]
EMPLOYERS = ["番禺某电子厂", "广州某物流有限公司", "个体经营", "某餐饮店", "某建筑工程公司", "无", "学生", ""]
USES = ["出租", "出租", "自住", "自住", "自住", "商用", "混合"]
PERMITS = ["有效", "无", "无", "已申请", ""]


def setup_django() -> str:
    if not os.environ.get("DATABASE_URL"):
        path = os.path.join(tempfile.mkdtemp(prefix="cg-bench-"), "bench.sqlite3")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("CIVICGRID_ALLOW_DEV_KEY", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.settings")
    import django

    django.setup()
    from django.db import connection

    return connection.vendor


def prepare_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        call_command("migrate", verbosity=0)
        call_command("flush", "--no-input", verbosity=0)
    call_command("migrate", verbosity=0)
    from civicgrid.demo.services import demo_grid_layer, divisions_csv_text
    from civicgrid.orgunits.services import orgunits_import

    orgunits_import(text=divisions_csv_text(), actor=None, source_name="panyu_divisions.csv")
    demo_grid_layer()


def _communities() -> list[tuple[str, str, str, object]]:
    """(code, name, town name, boundary) of every community, in code order."""
    import shapely

    from civicgrid.geo.models import AreaBoundary
    from civicgrid.geo.selectors import layer_current
    from civicgrid.orgunits.models import Level, OrgUnit

    layer = layer_current()
    assert layer is not None
    shapes = {
        code: shapely.from_wkb(bytes(geometry))
        for code, geometry in AreaBoundary.objects.filter(layer=layer, org_unit__level=Level.COMMUNITY).values_list(
            "org_unit__code", "geometry"
        )
    }
    return [
        (code, name, town, shapes[code])
        for code, name, town in OrgUnit.objects.filter(level=Level.COMMUNITY)
        .order_by("code")
        .values_list("code", "name", "parent__name")
    ]


def _points_in(shape: object, count: int, rng: random.Random) -> list[tuple[float, float]]:
    import numpy as np
    import shapely

    minx, miny, maxx, maxy = shapely.bounds(shape)
    points: list[tuple[float, float]] = []
    generator = np.random.default_rng(rng.randrange(1 << 30))
    while len(points) < count:
        xs = generator.uniform(minx, maxx, count * 4)
        ys = generator.uniform(miny, maxy, count * 4)
        inside = shapely.contains_xy(shape, xs, ys)
        points.extend(zip(xs[inside].round(6).tolist(), ys[inside].round(6).tolist(), strict=True))
    return points[:count]


def resident_id(region: str, index: int, rng: random.Random) -> str:
    """A valid resident ID, unique per index: the birth date and sequence are spread from the index."""
    import datetime as dt

    from civicgrid.core.idnumbers import resident_id_check_char

    born = dt.date(1950, 1, 1) + dt.timedelta(days=index % 21_900)
    sequence = (index // 21_900) % 1000
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + resident_id_check_char(first17)


def generate_csv(path: Path, rows: int, *, seed: int = SEED, start: int = 0) -> dict[str, int]:
    """Write `rows` residents; `start` offsets the identity numbers and addresses (for the baseline's own
    sample). Deterministic for a given seed."""
    rng = random.Random(seed + start)
    communities = _communities()
    persons_per_building = 15
    buildings = max(1, rows // persons_per_building + 1)
    per_community = buildings // len(communities) + 1
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        out = csv.writer(file)
        out.writerow(HEADERS)
        written = 0
        building_count = 0
        house_count = 0
        for code, name, town, shape in communities:
            if written >= rows:
                break
            points = _points_in(shape, per_community, rng)
            short = name.removesuffix("居民委员会").replace("村民委员会", "村")
            community_cell = code if rng.random() < 0.1 else short
            for b, (lon, lat) in enumerate(points):
                if written >= rows:
                    break
                building_count += 1
                road = ROADS[(b + start) % len(ROADS)]
                door = f"{(start // 1000) + b // 3 + 1}号"
                block = f"{'ABC'[b % 3]}栋"
                for floor in range(1, 4):
                    for unit in range(1, 3):
                        if written >= rows:
                            break
                        house_count += 1
                        room = f"{floor}0{unit}"
                        use = USES[rng.randrange(len(USES))]
                        for _person in range(rng.choice((2, 2, 3, 3))):
                            if written >= rows:
                                break
                            index = start + written
                            region, hukou = REGIONS[index % len(REGIONS)]
                            passport = index % 97 == 0
                            if passport:
                                number, id_type, sex, birth = f"E{index:08d}", "护照", "", ""
                            else:
                                number = resident_id(region, index, rng)
                                id_type = "居民身份证" if rng.random() < 0.8 else ""
                                sex = "男" if int(number[16]) % 2 else "女"
                                birth = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
                            roll = rng.random()
                            if roll < 0.93:
                                phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
                            elif roll < 0.97:
                                phone = f"{rng.randrange(2 * 10**7, 9 * 10**7)}"
                            else:
                                phone = ""
                            given = GIVEN[rng.randrange(len(GIVEN))] + (
                                GIVEN[rng.randrange(len(GIVEN))] if rng.random() < 0.7 else ""
                            )
                            out.writerow(
                                [
                                    written + 1,
                                    SURNAMES[rng.randrange(len(SURNAMES))] + given,
                                    sex,
                                    id_type,
                                    number,
                                    birth,
                                    phone,
                                    hukou,
                                    EMPLOYERS[rng.randrange(len(EMPLOYERS))],
                                    PERMITS[rng.randrange(len(PERMITS))],
                                    town,
                                    community_cell,
                                    road,
                                    door,
                                    block,
                                    room,
                                    use,
                                    f"2025-{1 + index % 12:02d}-{1 + index % 28:02d}",
                                    f"{lon:.6f}",
                                    f"{lat:.6f}",
                                ]
                            )
                            written += 1
    return {"rows": written, "buildings": building_count, "houses": house_count}


# --- steps run in child processes -------------------------------------------------------------------


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_server() -> float | None:
    """CPU seconds of this connection's PostgreSQL backend (same machine), or None."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def step_import(path: str, mode: str) -> dict[str, object]:
    from civicgrid.registry import imports

    started, cpu = time.perf_counter(), _cpu_self()
    job = imports.import_validate(actor=None, path=path, filename=Path(path).name)
    dry, dry_cpu = time.perf_counter() - started, _cpu_self() - cpu
    shown = list(job.problems.values_list("row", "column", "problem")[:5])
    assert job.status == "validated" and not job.error_rows, (job.status, shown)
    rss_dry = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    server = _cpu_server()
    started, cpu = time.perf_counter(), _cpu_self()
    job = imports.import_commit(actor=None, job=job, mode=mode)
    commit, commit_cpu = time.perf_counter() - started, _cpu_self() - cpu
    server_after = _cpu_server()
    shown = list(job.problems.values_list("row", "column", "problem")[:5])
    assert job.status == "committed", (job.status, shown)
    return {
        "rows": job.total_rows,
        "errors": job.error_rows,
        "dry_run_s": dry,
        "dry_run_cpu_s": dry_cpu,
        "commit_s": commit,
        "commit_cpu_s": commit_cpu,
        "commit_server_cpu_s": None if server is None or server_after is None else server_after - server,
        "dry_run": job.summary.get("dry_run"),
        "commit": job.summary.get("commit"),
        "rss_after_dry_run_mb": rss_dry,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _baseline_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def step_baseline_services(path: str) -> dict[str, object]:
    """The ordinary services, row by row."""
    import datetime as dt

    from civicgrid.orgunits.models import OrgUnit
    from civicgrid.registry import imports, services

    rows = _baseline_rows(Path(path))
    units = {u.code: u for u in OrgUnit.objects.filter(level="community")}
    by_name = {k: u for u in units.values() for k in imports._community_keys(u.name)}
    started = time.perf_counter()
    for row in rows:
        community = units.get(row["社区(村)"]) or by_name[imports._value_key(row["社区(村)"])]
        building = services.building_get_or_create(
            actor=None,
            community=community,
            road=row["街路巷"],
            door_number=row["门(楼)牌号"],
            name=row["楼栋"],
            lon=float(row["经度"]),
            lat=float(row["纬度"]),
        )
        house = services.house_get_or_create(
            actor=None, building=building, room=row["房号"], use=imports.USES[imports._value_key(row["房屋用途"])]
        )
        services.residence_register(
            actor=None,
            person=services.PersonInput(
                id_type=imports.ID_TYPES.get(imports._value_key(row["证件类型"]), "resident_id"),
                id_number=row["公民身份号码"],
                name=row["姓名"],
                sex=imports.SEXES.get(imports._value_key(row["性别"]), ""),
                phone=row["联系电话"],
                hukou_place=row["户籍地址"],
                employer=row["服务处所"],
                permit_status=imports.PERMITS.get(imports._value_key(row["居住证"]), ""),
            ),
            house=house,
            on=dt.date.fromisoformat(row["登记日期"]),
            source="import",
        )
    return {"rows": len(rows), "seconds": time.perf_counter() - started}


def step_baseline_orm(path: str) -> dict[str, object]:
    """A plain ORM loop: validate, get_or_create the building and house, save() person, record, action."""
    import datetime as dt

    from django.db import transaction

    from civicgrid.orgunits.models import OrgUnit
    from civicgrid.registry import addresses, imports, services
    from civicgrid.registry.models import Building, House, Person, ResidenceAction, ResidenceRecord

    rows = _baseline_rows(Path(path))
    units = {u.code: u for u in OrgUnit.objects.filter(level="community")}
    by_name = {k: u for u in units.values() for k in imports._community_keys(u.name)}
    started = time.perf_counter()
    with transaction.atomic():
        for row in rows:
            community = units.get(row["社区(村)"]) or by_name[imports._value_key(row["社区(村)"])]
            clean = services.clean_person(
                services.PersonInput(
                    id_type=imports.ID_TYPES.get(imports._value_key(row["证件类型"]), "resident_id"),
                    id_number=row["公民身份号码"],
                    name=row["姓名"],
                    sex=imports.SEXES.get(imports._value_key(row["性别"]), ""),
                    phone=row["联系电话"],
                    hukou_place=row["户籍地址"],
                    employer=row["服务处所"],
                    permit_status=imports.PERMITS.get(imports._value_key(row["居住证"]), ""),
                )
            )
            key = addresses.building_key(community.code, row["街路巷"], row["门(楼)牌号"], row["楼栋"])
            building, _created = Building.objects.get_or_create(
                address_key=key,
                defaults={
                    "community": community,
                    "road": row["街路巷"],
                    "door_number": row["门(楼)牌号"],
                    "name": row["楼栋"],
                    "lon": float(row["经度"]),
                    "lat": float(row["纬度"]),
                    "org_path": community.path,
                },
            )
            house, _created = House.objects.get_or_create(
                address_key=addresses.house_key(key, row["房号"]),
                defaults={"building": building, "room": row["房号"], "org_path": community.path},
            )
            person = Person(**services.person_values(clean))
            person.save()
            on = dt.date.fromisoformat(row["登记日期"])
            record = ResidenceRecord(
                person=person, house=house, registered_on=on, updated_on=on, org_path=house.org_path
            )
            record.save()
            ResidenceAction(record=record, kind="register", on=on, source="import").save()
    return {"rows": len(rows), "seconds": time.perf_counter() - started}


def step_check(path: str) -> dict[str, object]:
    """Counts after the import, and no identity number or phone of the file in clear text anywhere in the
    person table (every row read raw, every 18-character number and mobile number in it looked up)."""
    import re

    from django.db import connection

    from civicgrid.registry.models import Building, BuildingStamp, House, Person, ResidenceAction, ResidenceRecord

    counts: dict[str, object] = {
        "persons": Person.objects.count(),
        "buildings": Building.objects.count(),
        "buildings_with_grid": Building.objects.filter(grid__isnull=False).count(),
        "building_stamps": BuildingStamp.objects.count(),
        "houses": House.objects.count(),
        "records": ResidenceRecord.objects.count(),
        "actions": ResidenceAction.objects.filter(source="import").count(),
    }
    secrets = set()
    with Path(path).open(encoding="utf-8-sig", newline="") as file:
        for values in csv.DictReader(file):
            secrets.add(values["公民身份号码"])
            if values["联系电话"]:
                secrets.add(values["联系电话"])
    # Whole tokens only: digits inside a hex blind index or an escaped blob are not a number.
    pattern = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dX]|1\d{10}|\d{8})(?![0-9A-Za-z])")
    found = 0
    last = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT * FROM registry_person WHERE id > %s ORDER BY id LIMIT 50000", [last])
            rows = cursor.fetchall()
            if not rows:
                break
            last = rows[-1][0]
            hits = [token for token in pattern.findall(repr(rows)) if token in secrets]
            if hits:
                print("clear text:", hits[:5], file=sys.stderr)
            found += len(hits)
    assert not found, f"{found} identity numbers or phones of the file in clear text in registry_person"
    counts["clear_text_found"] = found
    return counts


def step_floor(rows: int) -> dict[str, object]:
    """The floor of any import into this schema on this machine: the rows the import writes for `rows`
    residents (buildings and houses in the generator's proportions, persons, residence records, register
    actions), made up in advance with values of the real sizes (54-byte blobs, 32-character indexes), written
    in one transaction exactly as the import writes them (COPY on PostgreSQL, `executemany` on SQLite), the
    foreign keys and unique constraints checked, then rolled back. Nothing is read, checked, encrypted or
    stamped, and the tuples are made outside the timed part, in chunks: so no import can be faster."""
    import datetime as dt
    import hashlib

    from django.db import connection, transaction

    from civicgrid.orgunits.models import OrgUnit
    from civicgrid.registry.models import Building, House, Person, ResidenceAction, ResidenceRecord

    community = OrgUnit.objects.filter(level="community").order_by("code").first()
    assert community is not None
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    on = dt.date(2026, 10, 1)
    sqlite = connection.vendor == "sqlite"
    stamp = now.isoformat(" ") if sqlite else now
    day = on.isoformat() if sqlite else on
    chunk = 50_000
    tables = {
        Building: "id, community_id, road, door_number, name, address_key, lon, lat, org_path, created_at",
        House: 'id, building_id, room, address_key, "use", org_path, updated_at',
        Person: "id, id_type, id_number_enc, id_blind, id_masked, name, sex, birth_date, phone_enc, phone_blind, "
        "phone_masked, hukou_place, hukou_region, is_migrant, employer, permit_status, created_at, updated_at",
        ResidenceRecord: "id, person_id, house_id, state, registered_on, updated_on, exception_reason, org_path, "
        "version",
        ResidenceAction: 'id, record_id, kind, "at", "on", actor_id, data, source',
    }

    def digest(kind: str, i: int) -> str:
        return hashlib.md5(f"{kind}{i}".encode(), usedforsecurity=False).hexdigest()

    def made(start: int, stop: int) -> dict[Any, list[tuple[Any, ...]]]:
        path = community.path
        out: dict[Any, list[tuple[Any, ...]]] = {model: [] for model in tables}
        for i in range(start, stop):
            if i % 15 == 0:
                out[Building].append(
                    (i // 15 + 1, community.pk, "路", str(i), "", digest("b", i)[:40], 113.3, 22.9, path, stamp)
                )
            if i % 5 in (0, 3):
                out[House].append(
                    (i // 5 * 2 + (i % 5 == 3) + 1, i // 15 + 1, str(i), digest("h", i)[:40], "rented", path, stamp)
                )
            out[Person].append(
                (
                    i + 1,
                    "resident_id",
                    os.urandom(54),
                    digest("p", i),
                    "440113********001X",
                    "张三",
                    "M",
                    "1990-01-01" if sqlite else dt.date(1990, 1, 1),
                    os.urandom(33),
                    digest("t", i),
                    "138****8000",
                    "广东省广州市番禺区",
                    "440113",
                    True,
                    "",
                    "none",
                    stamp,
                    stamp,
                )
            )
            out[ResidenceRecord].append((i + 1, i + 1, (i // 5) * 2 + 1, "active", day, day, "", path, 1))
            out[ResidenceAction].append(
                (i + 1, i + 1, "register", stamp, day, None, f'{{"import_job": 1, "row": {i + 2}}}', "import")
            )
        return out

    seconds = 0.0
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                if sqlite:
                    cursor.execute("PRAGMA cache_size = -131072")
                raw = cursor.cursor
                for start in range(0, rows, chunk):
                    batch = made(start, min(rows, start + chunk))
                    started = time.perf_counter()
                    for model, columns in tables.items():
                        table = model._meta.db_table
                        if sqlite:
                            marks = ", ".join("?" * len(columns.split(",")))
                            raw.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch[model])  # noqa: S608
                        else:
                            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                                for row in batch[model]:
                                    copy.write_row(row)
                    if not sqlite:
                        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                    seconds += time.perf_counter() - started
                if sqlite:
                    started = time.perf_counter()
                    cursor.execute("PRAGMA foreign_key_check")
                    assert not cursor.fetchall()
                    seconds += time.perf_counter() - started
            raise _RolledBack
    except _RolledBack:
        pass
    return {"rows": rows, "seconds": seconds}


class _RolledBack(Exception):
    pass


def child(step: str, args: list[str]) -> dict[str, Any]:
    """Run a step in a fresh interpreter; returns its JSON result."""
    command = [sys.executable, __file__, "--step", step, *args]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), check=False)  # noqa: S603
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"step {step} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=2_000)
    parser.add_argument("--mode", default="all_or_nothing")
    parser.add_argument("--keep", help="write the generated CSV to this path and keep it")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()
    vendor = setup_django()
    if options.step:
        result: dict[str, object] = {
            "import": lambda: step_import(options.args[0], options.args[1]),
            "services": lambda: step_baseline_services(options.args[0]),
            "orm": lambda: step_baseline_orm(options.args[0]),
            "check": lambda: step_check(options.args[0]),
            "floor": lambda: step_floor(int(options.args[0])),
        }[options.step]()
        print(json.dumps(result, default=str))
        return 0

    print(f"database: {vendor}; rows: {options.rows:,}; baseline sample: {options.baseline:,}")
    started = time.perf_counter()
    prepare_database()
    workdir = Path(tempfile.mkdtemp(prefix="cg-import-"))
    main_csv = Path(options.keep) if options.keep else workdir / "residents.csv"
    shape = generate_csv(main_csv, options.rows)
    sample_services = workdir / "baseline_services.csv"
    sample_orm = workdir / "baseline_orm.csv"
    generate_csv(sample_services, options.baseline, start=50_000_000)
    generate_csv(sample_orm, options.baseline, start=60_000_000)
    size_mb = main_csv.stat().st_size / 1024 / 1024
    print(f"set-up and CSV generation: {time.perf_counter() - started:.1f} s; CSV {size_mb:.1f} MiB, {shape}")

    floor_run = child("floor", [str(options.rows)])
    services_run = child("services", [str(sample_services)])
    orm_run = child("orm", [str(sample_orm)])
    first = child("import", [str(main_csv), options.mode])
    again = child("import", [str(main_csv), options.mode])
    check = child("check", [str(main_csv)])

    rows = int(first["rows"])
    commit_s, dry_s = float(first["commit_s"]), float(first["dry_run_s"])
    commit_rate = rows / commit_s
    services_rate = int(services_run["rows"]) / float(services_run["seconds"])
    orm_rate = int(orm_run["rows"]) / float(orm_run["seconds"])
    table = [
        ("dry run (`import_validate`)", rows, dry_s),
        (f"**commit** (`import_commit`, {options.mode})", rows, commit_s),
        ("dry run + commit", rows, dry_s + commit_s),
        ("same file again: dry run", rows, float(again["dry_run_s"])),
        ("same file again: commit", rows, float(again["commit_s"])),
        ("baseline: services row by row", int(services_run["rows"]), float(services_run["seconds"])),
        ("baseline: ORM save() loop", int(orm_run["rows"]), float(orm_run["seconds"])),
        ("floor: the same rows made up in advance, only written (rolled back)", rows, float(floor_run["seconds"])),
    ]
    print()
    print("| step | rows | seconds | rows/s |")
    print("|---|---:|---:|---:|")
    for label, count, seconds in table:
        print(f"| {label} | {count:,} | {seconds:.1f} | {count / seconds:,.0f} |")
    print()
    print(f"speed-up of the commit: {commit_rate / orm_rate:,.0f}× the ORM loop, ", end="")
    print(f"{commit_rate / services_rate:,.0f}× the services loop")
    floor_rate = rows / float(floor_run["seconds"])
    print(f"floor: writing alone {floor_rate:,.0f} rows/s = {floor_rate / orm_rate:,.0f}× the ORM loop; ", end="")
    print(f"the commit reaches {commit_rate / floor_rate:.0%} of it")
    print(f"peak RSS of the import process: {float(first['peak_rss_mb']):.0f} MiB ", end="")
    print(f"(after the dry run {float(first['rss_after_dry_run_mb']):.0f} MiB); ", end="")
    print(f"re-import {float(again['peak_rss_mb']):.0f} MiB")
    print(f"CPU seconds of the import process: dry run {float(first['dry_run_cpu_s']):.1f}, ", end="")
    print(f"commit {float(first['commit_cpu_s']):.1f}", end="")
    if first.get("commit_server_cpu_s") is not None:
        print(f"; PostgreSQL backend during the commit {float(first['commit_server_cpu_s']):.1f}", end="")
    print(f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"first import: {first['commit']}")
    print(f"re-import: {again['commit']}")
    print(f"register after: {check}")

    failures = []
    target = TARGET_ROWS_PER_S[vendor]
    if commit_rate < target:
        failures.append(f"commit {commit_rate:,.0f} rows/s < {target:,}")
    if commit_rate / orm_rate < TARGET_SPEEDUP:
        failures.append(f"speed-up {commit_rate / orm_rate:.0f}× < {TARGET_SPEEDUP}×")
    if float(first["peak_rss_mb"]) >= TARGET_RSS_MB:
        failures.append(f"peak RSS {float(first['peak_rss_mb']):.0f} MiB ≥ {TARGET_RSS_MB}")
    again_commit: dict[str, int] = again["commit"] or {}
    if again_commit.get("persons_created") or again_commit.get("residences_registered"):
        failures.append(f"re-import changed the register: {again_commit}")
    for failure in failures:
        print("TARGET MISSED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    raise SystemExit(main())
