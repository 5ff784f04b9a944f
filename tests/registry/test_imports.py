"""Bulk import of the register: the ID check digit, the files towns send (CSV in UTF-8 or GB18030, XLSX)
and every way they go wrong, the dry run, the two commit modes, idempotent re-import, the one-active rule,
and that a failed import leaves the register exactly as it was. Files are built in the tests."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import openpyxl
import pytest
import shapely
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core.errors import NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from civicgrid.core.idnumbers import IdNumberError, parse_resident_id, resident_id_check_char
from civicgrid.geo import services as geo_services
from civicgrid.registry import imports, services
from civicgrid.registry.models import Building, BuildingStamp, House, Person, ResidenceAction, ResidenceRecord
from civicgrid.registry.models_imports import ImportJob, ImportProblem
from tests.conftest import DISTRICT, SHATOU_COMMUNITY, SHIQIAO, SHIQIAO_COMMUNITY
from tests.geo.conftest import COMMUNITIES, grids_geojson
from tests.registry.conftest import person

pytestmark = pytest.mark.django_db

HEADERS = ["姓名", "证件类型", "身份证号码", "性别", "联系电话", "镇街", "社区", "街路巷", "门牌号", "楼栋", "房号"]
VALID = ["44011320141005001X", "360426199101010071", "110102199101010078"]
INVALID_CHECK = "36042619910102009X"
INVALID_MONTH = "360426199113010079"


def rid(sequence: int, born: str = "19910101", region: str = "360426") -> str:
    first17 = f"{region}{born}{sequence:03d}"
    return first17 + resident_id_check_char(first17)


def row(number: str, name: str = "张三", **cells: str) -> dict[str, str]:
    values = {
        "姓名": name,
        "证件类型": "居民身份证",
        "身份证号码": number,
        "性别": "",
        "联系电话": "13800138000",
        "镇街": "市桥街道",
        "社区": "德兴社区",
        "街路巷": "德兴路",
        "门牌号": "12号",
        "楼栋": "A栋",
        "房号": "301",
    }
    values.update(cells)
    return values


def csv_bytes(rows: list[dict[str, str]], *, headers: list[str] = HEADERS, encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for values in rows:
        writer.writerow([values.get(h, "") for h in headers])
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]], *, title: str | None = None, formula_at: tuple[int, int] | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
    sheet.append(HEADERS)
    for values in rows:
        sheet.append(values)
    if formula_at:
        sheet.cell(row=formula_at[0], column=formula_at[1], value="=CONCATENATE(A3,B3)")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_row(values: dict[str, str]) -> list[Any]:
    return [values.get(h, "") for h in HEADERS]


@pytest.fixture
def clerk(make_user):
    return make_user(Role.COMMUNITY_CLERK, SHIQIAO_COMMUNITY)


@pytest.fixture(autouse=True)
def _store(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def validate(actor: Any, data: bytes, filename: str = "登记表.csv", **kwargs: Any) -> ImportJob:
    return imports.import_validate(actor=actor, data=data, filename=filename, **kwargs)


def problems(job: ImportJob, phase: str | None = None) -> list[tuple[int, str, str]]:
    return list(imports.import_problems(job=job, phase=phase).values_list("row", "column", "problem"))


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the register's tables (what a failed import must leave exactly as it was)."""
    tables = {}
    for model in (Building, BuildingStamp, House, Person, ResidenceRecord, ResidenceAction):
        fields = [f.attname for f in model._meta.concrete_fields]
        tables[model.__name__] = [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in values)
            for values in model.objects.order_by("pk").values_list(*fields)
        ]
    return tables


# --- the ID check digit (DOMAIN §3) ------------------------------------------------------------------


def test_resident_id_vectors_of_domain_section_3():
    today = dt.date(2026, 11, 25)
    valid, ymd, male = imports.check_resident_ids([*VALID, INVALID_CHECK, INVALID_MONTH], today=today)
    assert valid.tolist() == [True, True, True, False, False]
    assert ymd[:3].tolist() == [20141005, 19910101, 19910101]
    assert male[:3].tolist() == [True, True, True]  # the 17th digits 1, 7, 7 are odd
    assert [resident_id_check_char(n[:17]) for n in VALID] == ["X", "1", "8"]
    assert resident_id_check_char(INVALID_CHECK[:17]) != "X"


def test_the_check_digit_and_the_month_are_reported_on_their_row(clerk):
    job = validate(clerk, csv_bytes([row(VALID[1]), row(INVALID_CHECK, "李四"), row(INVALID_MONTH, "王五")]))
    assert job.status == "validated" and job.total_rows == 3 and job.valid_rows == 1 and job.error_rows == 2
    found = problems(job)
    assert found[0][:2] == (3, "身份证号码") and "校验位错误" in found[0][2]
    assert found[1][:2] == (4, "身份证号码") and "13 月" in found[1][2]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet="0123456789X", min_size=18, max_size=18))
def test_vectorised_check_agrees_with_parse_resident_id(number):
    today = dt.date(2026, 11, 25)
    try:
        expected = parse_resident_id(number, today=today)
    except IdNumberError:
        expected = None
    valid, ymd, male = imports.check_resident_ids([number], today=today)
    assert bool(valid[0]) == (expected is not None)
    if expected is not None:
        assert int(ymd[0]) == int(expected.birth_date.strftime("%Y%m%d"))
        assert ("M" if male[0] else "F") == expected.sex


_people = st.builds(
    services.PersonInput,
    id_type=st.sampled_from(["", "resident_id", "passport"]),
    id_number=st.one_of(
        st.sampled_from([*VALID, INVALID_CHECK, INVALID_MONTH, "44011320141005001x", " 360426199101010071"]),
        st.integers(0, 999).map(rid),
        st.text(alphabet="0123456789X", min_size=17, max_size=18),
    ),
    name=st.sampled_from(["张三", " 李四 ", "", "王" * 61]),
    sex=st.sampled_from(["", "M", "F"]),
    birth_date=st.sampled_from([None, dt.date(1991, 1, 1), dt.date(2014, 10, 5)]),
    phone=st.sampled_from(["", "13800138000", "1380013800", "020-84600001", "１３８００１３８０００", "23800138000"]),
    hukou_place=st.sampled_from(["", " 江西省德安县 "]),
    employer=st.sampled_from(["", "某厂"]),
    permit_status=st.sampled_from(["", "none", "valid", "bogus"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_people)
def test_the_fast_path_agrees_with_clean_person_wherever_it_answers(data):
    fast = imports.fast_clean_person(data, today=dt.date.today())  # noqa: DTZ011 - clean_person uses today too
    if fast is None:
        return
    assert fast == services.clean_person(data)


@pytest.mark.parametrize("number", [*VALID, "110102199101010078"])
@pytest.mark.parametrize("phone", ["13800138000", "020-84600001", "84600001", ""])
def test_inlined_masks_agree_with_pii(number, phone):
    from civicgrid.core import pii

    assert imports._mask_id(number, "resident_id") == pii.mask_id_number(number)
    if phone:
        assert imports._mask_phone(phone) == pii.mask_phone(phone)


# --- good files ----------------------------------------------------------------------------------------


def test_dry_run_writes_nothing_and_commit_registers(clerk):
    rows = [row(rid(1)), row(rid(2), "李四", 房号="302"), row(rid(3), "王五", 楼栋="B栋", 联系电话="")]
    job = validate(clerk, csv_bytes(rows))
    assert job.status == "validated" and job.encoding == "utf-8-sig" and job.file_format == "csv"
    assert job.summary["dry_run"] == {"new": 3, "buildings_created": 2, "houses_created": 3}
    assert not Person.objects.exists() and not Building.objects.exists()
    assert job.columns["mapped"]["身份证号码"] == "id_number"
    job = imports.import_commit(actor=clerk, job=job, mode="all_or_nothing")
    assert job.status == "committed" and job.committed_by == clerk
    assert job.summary["commit"]["persons_created"] == 3 and job.summary["commit"]["residences_registered"] == 3
    assert Person.objects.count() == 3 and House.objects.count() == 3 and Building.objects.count() == 2
    record = ResidenceRecord.objects.select_related("person", "house__building").get(person__name="李四")
    assert record.state == "active" and record.house.room == "302" and record.org_path.endswith(SHIQIAO_COMMUNITY + "/")
    assert record.house.building.community.code == SHIQIAO_COMMUNITY
    assert record.person.sex == "F" and record.person.birth_date == dt.date(1991, 1, 1) and record.person.is_migrant
    action = ResidenceAction.objects.get(record=record)
    assert action.kind == "register" and action.source == "import" and action.actor == clerk
    assert action.data == {"import_job": job.pk, "row": 3}
    # The imported person is found like any other, by the blind index.
    from civicgrid.registry import selectors

    assert list(selectors.person_search(actor=clerk, q=rid(2))) == [record.person]
    # One audit entry for the dry run and one for the commit, naming the file by its SHA-256.
    entries = AuditEntry.objects.filter(action__startswith="register.import.").order_by("seq")
    assert [e.action for e in entries] == ["register.import.validate", "register.import.commit"]
    assert entries[1].detail["sha256"] == job.sha256 and entries[1].detail["rows"] == 3
    assert entries[1].actor == clerk
    assert not job.stored_file  # the sealed copy is deleted once imported


def test_houses_and_persons_match_the_ordinary_services(clerk, unit):
    """An imported row lands exactly where `residence_register` would have put it (same address keys)."""
    building = services.building_get_or_create(
        actor=clerk, community=unit(SHIQIAO_COMMUNITY), road="德兴路", door_number="12号", name="A栋"
    )
    house = services.house_get_or_create(actor=clerk, building=building, room="301")
    job = validate(clerk, csv_bytes([row(rid(5), 街路巷=" 德兴路 ", 门牌号="１２号", 楼栋="a栋")]))
    assert job.summary["dry_run"] == {"new": 1}
    job = imports.import_commit(actor=clerk, job=job)
    assert ResidenceRecord.objects.get().house == house and House.objects.count() == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_utf8_and_gbk_with_or_without_bom(clerk, encoding):
    job = validate(clerk, csv_bytes([row(rid(1), "欧阳娜娜")], encoding=encoding))
    assert job.status == "validated" and job.valid_rows == 1, problems(job)
    assert job.encoding == {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig"}.get(encoding, "gb18030")
    imports.import_commit(actor=clerk, job=job)
    assert Person.objects.get().name == "欧阳娜娜"


def test_usual_chinese_headers_title_rows_codes_and_values(clerk):
    headers = [
        "序号",
        "*姓名",
        "证件类型",
        "公民身份号码",
        "性别",
        "出生日期",
        "手机号码",
        "户籍地址",
        "服务处所",
        "居住证",
        "镇（街）",
        "社区（村）",
        "路街巷",
        "门（楼）牌号",
        "栋",
        "室",
        "房屋用途",
        "入住日期",
        "备注",
    ]
    text = io.StringIO()
    text.write("番禺区实有人口登记表（2026年）\n")
    out = csv.writer(text)
    out.writerow(headers)
    out.writerow(
        [
            *("1", "张三", "身份证", VALID[1], "男", "1991年1月1日", "13900139000", "江西省德安县", "某厂", "有效"),
            *("市桥", SHIQIAO_COMMUNITY, "德兴路", "8号", "", "", "出租", "2026/3/1", "无"),
        ]
    )
    out.writerow(
        [
            *("2", "JOHN SMITH", "护照", "E12345678", "M", "", "", "", "", "无"),
            *("", "东兴社区居民委员会", "东兴路", "1号", "", "201", "自住", "", ""),
        ]
    )
    job = validate(clerk, text.getvalue().encode("utf-8"))
    assert job.status == "validated", problems(job)
    assert job.error_rows == 1 and "不在您的辖区内" in problems(job)[0][2]  # 东兴社区 is not the clerk's
    assert "序号" in job.columns["ignored"] and "备注" in job.columns["ignored"]
    town_admin_job = validate(None, text.getvalue().encode("utf-8"))
    assert town_admin_job.error_rows == 0, problems(town_admin_job)
    imports.import_commit(actor=None, job=town_admin_job)
    zhang = Person.objects.get(name="张三")
    assert zhang.permit_status == "valid" and zhang.hukou_place == "江西省德安县" and zhang.employer == "某厂"
    record = ResidenceRecord.objects.get(person=zhang)
    assert record.registered_on == dt.date(2026, 3, 1) and record.house.use == "rented"
    john = Person.objects.get(name="JOHN SMITH")
    assert john.id_type == "passport" and john.sex == "M" and not john.is_migrant


def test_xlsx_with_title_row_is_read_like_csv(clerk):
    data = xlsx_bytes([xlsx_row(row(rid(1))), xlsx_row(row(rid(2), "李四"))], title="德兴社区登记表")
    job = validate(clerk, data, filename="登记表.xlsx")
    assert job.status == "validated" and job.file_format == "xlsx" and job.valid_rows == 2, problems(job)
    imports.import_commit(actor=clerk, job=job)
    assert Person.objects.count() == 2


def test_points_are_converted_and_buildings_stamped_with_the_current_layer(clerk, make_user, small_partition):
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    draft = geo_services.layer_import(
        actor=admin, data=json.dumps(grids_geojson(small_partition)).encode(), filename="g.geojson", name="V1"
    )
    layer = geo_services.layer_publish(actor=admin, layer=draft, effective_from=dt.date(2020, 1, 1))
    code = sorted(c for c in small_partition.grids if c.startswith(COMMUNITIES[0]))[0]
    point = shapely.point_on_surface(small_partition.grids[code])
    from civicgrid.geo.crs import transform_point

    gcj = transform_point(point.x, point.y, src="wgs84", dst="gcj02")
    headers = [*HEADERS, "经度", "纬度", "坐标系"]
    rows = [
        row(rid(1), 经度=f"{point.x:.7f}", 纬度=f"{point.y:.7f}"),
        row(rid(2), 门牌号="14号", 经度=f"{gcj[0]:.7f}", 纬度=f"{gcj[1]:.7f}", 坐标系="GCJ-02"),
        row(rid(3), 门牌号="16号", 经度="113.36", 纬度=""),
        row(rid(4), 门牌号="18号", 经度="22.94", 纬度="113.36"),
    ]
    job = validate(clerk, csv_bytes(rows, headers=headers))
    assert [p[:2] for p in problems(job)] == [(4, "纬度"), (5, "经度")]
    job = imports.import_commit(actor=clerk, job=job, mode="valid_only")
    assert job.status == "committed" and job.summary["commit"]["residences_registered"] == 2
    for door in ("12号", "14号"):
        building = Building.objects.get(door_number=door)
        assert building.grid is not None and building.grid.code == code and building.stamped_layer == layer
        assert abs(building.lon - point.x) < 1e-5 and abs(building.lat - point.y) < 1e-5
        assert BuildingStamp.objects.get(building=building).grid == building.grid


# --- bad files -------------------------------------------------------------------------------------------


def file_problem(job: ImportJob) -> str:
    assert job.status == "rejected"
    found = problems(job)
    assert found and found[0][0] == 0
    return found[0][2]


def test_wrong_encoding_is_a_file_level_problem(clerk):
    assert "UTF-16" in file_problem(validate(clerk, csv_bytes([row(rid(1))], encoding="utf-16")))
    mixed = csv_bytes([row(rid(1))], encoding="utf-8") + b"\xff\xfe\x80,,\n"
    assert "编码" in file_problem(validate(clerk, mixed))
    assert not ImportProblem.objects.filter(row__gt=0).exists() and not Person.objects.exists()


def test_an_encoding_change_after_the_first_megabyte_is_reported(clerk, monkeypatch):
    monkeypatch.setattr(imports, "SNIFF_BYTES", 200)
    data = csv_bytes([row(rid(i)) for i in range(1, 8)], encoding="utf-8") + "李四".encode("gbk") + b"\n"
    assert "编码不一致" in file_problem(validate(clerk, data))


def test_missing_required_column_names_the_column(clerk):
    headers = [h for h in HEADERS if h != "门牌号"]
    message = file_problem(validate(clerk, csv_bytes([row(rid(1))], headers=headers)))
    assert "缺少必填列“门牌号”" in message and "门(楼)牌号" in message


def test_a_file_without_any_known_header(clerk):
    assert "找不到表头" in file_problem(validate(clerk, b"a,b,c\n1,2,3\n"))


def test_empty_files(clerk):
    assert "文件是空的" in file_problem(validate(clerk, b""))
    assert "没有数据行" in file_problem(validate(clerk, csv_bytes([])))
    assert "没有数据行" in file_problem(validate(clerk, csv_bytes([]) + b",,,,\n\n"))


def test_a_zero_byte_or_corrupt_xlsx(clerk):
    assert "空" in file_problem(validate(clerk, b"", filename="登记表.xlsx"))
    good = xlsx_bytes([xlsx_row(row(rid(1)))])
    assert "已损坏" in file_problem(validate(clerk, good[:200], filename="登记表.xlsx"))
    assert "已损坏" in file_problem(validate(clerk, b"not a zip file at all", filename="登记表.xlsx"))
    assert ".xls" in file_problem(validate(clerk, b"\xd0\xcf\x11\xe0" + b"\0" * 100, filename="old.xls"))


def test_a_formula_cell_is_a_row_problem(clerk):
    data = xlsx_bytes([xlsx_row(row(rid(1))), xlsx_row(row(rid(2), "李四"))], formula_at=(3, 1))
    job = validate(clerk, data, filename="登记表.xlsx")
    assert job.status == "validated" and job.valid_rows == 1
    assert problems(job) == [(3, "姓名", "单元格含公式，请粘贴为数值")]


def test_an_id_number_stored_as_an_excel_number(clerk):
    values = xlsx_row(row(rid(1)))
    values[2] = 440113201410050011
    job = validate(clerk, xlsx_bytes([values]), filename="登记表.xlsx")
    assert problems(job)[0][:2] == (2, "身份证号码") and "文本格式" in problems(job)[0][2]


def test_bad_id_unknown_community_and_other_row_problems(clerk):
    rows = [
        row("12345"),
        row(rid(2), 社区="不存在社区"),
        row(rid(3), 社区=SHIQIAO),
        row(rid(4), 社区=SHATOU_COMMUNITY, 镇街=""),
        row(rid(5), 门牌号=""),
        row(rid(7), 性别="女"),
        row(rid(6), 联系电话="12345"),
        row(rid(8), 姓名=""),
        row(rid(9), 证件类型="驾驶证"),
        row(rid(10), 镇街="沙头街道"),
    ]
    job = validate(clerk, csv_bytes(rows))
    assert job.valid_rows == 0 and job.error_rows == 10
    by_row = {r: (c, p) for r, c, p in problems(job)}
    assert by_row[2][0] == "身份证号码" and "18 位" in by_row[2][1]
    assert by_row[3] == ("社区", "社区“不存在社区”不存在")
    assert "不是社区/村" in by_row[4][1]
    assert "不在您的辖区内" in by_row[5][1]
    assert by_row[6] == ("门牌号", "门牌号不能为空")
    assert by_row[7][0] == "身份证号码" and "性别" in by_row[7][1]
    assert by_row[8][0] == "联系电话"
    assert by_row[9] == ("姓名", "姓名不能为空")
    assert by_row[10][0] == "证件类型"
    assert "不属于镇街" in by_row[11][1]


def test_duplicate_rows_name_the_first_even_across_chunks(clerk, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    rows = [row(rid(1)), row(rid(2)), row(rid(3)), row(rid(1), "张三丰"), row(rid(2))]
    job = validate(clerk, csv_bytes(rows))
    assert problems(job) == [
        (5, "身份证号码", "与第 2 行的证件号码重复"),
        (6, "身份证号码", "与第 3 行的证件号码重复"),
    ]
    job = imports.import_commit(actor=clerk, job=job, mode="valid_only")
    assert job.status == "committed" and Person.objects.count() == 3


def test_a_registration_date_in_the_future(clerk):
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()  # noqa: DTZ011
    job = validate(clerk, csv_bytes([row(rid(1), 登记日期=tomorrow)], headers=[*HEADERS, "登记日期"]))
    assert problems(job)[0][1:] == ("登记日期", "登记日期不能晚于今天")


# --- the register as it is ----------------------------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(clerk):
    data = csv_bytes([row(rid(i), 房号=f"30{i}") for i in range(1, 6)])
    imports.import_commit(actor=clerk, job=validate(clerk, data))
    before = snapshot()
    again = validate(clerk, data)
    assert again.summary["dry_run"] == {"unchanged": 5} and again.summary["same_file_committed"]["job"]
    again = imports.import_commit(actor=clerk, job=again)
    assert again.status == "committed" and again.summary["commit"] == {"unchanged": 5}
    assert snapshot() == before


def test_changed_details_update_the_person_and_journal_it(clerk):
    imports.import_commit(actor=clerk, job=validate(clerk, csv_bytes([row(rid(1))])))
    record = ResidenceRecord.objects.get()
    job = validate(clerk, csv_bytes([row(rid(1), 联系电话="13900139000")]))
    assert job.summary["dry_run"] == {"updated": 1}
    imports.import_commit(actor=clerk, job=job)
    record.refresh_from_db()
    assert record.version == 2 and record.person.phone_masked == "139****9000"
    update = ResidenceAction.objects.get(record=record, kind="update")
    assert update.data["changed"] == {"phone": "139****9000"} and update.source == "import"


def test_a_person_active_elsewhere_is_a_row_problem(clerk, house, other_house):
    services.residence_register(actor=clerk, person=person(rid(1)), house=other_house)
    services.residence_register(actor=clerk, person=person(rid(2)), house=house)
    # Row 2 lives at 德兴路14号 already (other_house); row 3 is already at the file's address (house).
    job = validate(clerk, csv_bytes([row(rid(1)), row(rid(2)), row(rid(3))]))
    found = problems(job)
    assert len(found) == 1 and found[0][0] == 2 and "已在德兴社区居民委员会德兴路14号102登记在住" in found[0][2]
    assert job.summary["dry_run"] == {"unchanged": 1, "new": 1}
    job = imports.import_commit(actor=clerk, job=job, mode="valid_only")
    assert ResidenceRecord.objects.filter(state="active").count() == 3


def test_the_large_file_path_with_preloaded_register_keys(clerk, house, other_house, monkeypatch):
    """Files from a few megabytes on read the register's keys once and look up only possible hits: the
    outcome must be the same — existing houses reused, a building shared by rows of different chunks
    created once, a person active elsewhere refused, a re-import unchanged."""
    monkeypatch.setattr(imports, "PRELOAD_BYTES", 0)
    monkeypatch.setattr(imports, "CHUNK_ROWS", 3)
    services.residence_register(actor=clerk, person=person(rid(7)), house=other_house)
    rows = [row(rid(i), 门牌号="12号", 楼栋="A栋", 房号="301" if i < 3 else f"{i}02") for i in range(1, 7)]
    rows.append(row(rid(7)))
    job = validate(clerk, csv_bytes(rows))
    assert job.error_rows == 1 and problems(job)[0][0] == 8
    assert job.summary["dry_run"]["new"] == 6 and job.summary["dry_run"]["houses_created"] == 4
    assert "buildings_created" not in job.summary["dry_run"]  # 德兴路12号A栋 is the `house` fixture's
    job = imports.import_commit(actor=clerk, job=job, mode="valid_only")
    assert job.summary["commit"]["houses_created"] == 4 and job.summary["commit"]["residences_registered"] == 6
    assert Building.objects.filter(road="德兴路", door_number="12号").count() == 1
    assert ResidenceRecord.objects.filter(house=house, state="active").count() == 2
    before = snapshot()
    again = imports.import_commit(actor=clerk, job=validate(clerk, csv_bytes(rows[:6])))
    assert again.summary["commit"] == {"unchanged": 6} and snapshot() == before


def test_a_house_named_again_chunks_later_is_the_same_house(clerk, monkeypatch):
    """An empty register filled by a large file: a chunk that names nothing already in the register is
    written without waiting for the chunk before, the buildings and houses of the last chunks are known
    by id, and a house named again after them is found in the register — never created twice."""
    monkeypatch.setattr(imports, "PRELOAD_BYTES", 0)
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    # Chunks of two rows: 20号 101 in chunks 1 and 5 (its building and house out of the last two chunks'
    # memory by then), 21号 in chunks 3 to 5.
    places = [("20号", "101"), ("20号", "101"), ("20号", "102"), ("20号", "103"), ("21号", "101")]
    places += [("21号", "104"), ("21号", "105"), ("21号", "106"), ("20号", "101"), ("21号", "107")]
    rows = [row(rid(i + 1), 门牌号=door, 房号=room) for i, (door, room) in enumerate(places)]
    job = imports.import_commit(actor=clerk, job=validate(clerk, csv_bytes(rows)), mode="all_or_nothing")
    assert job.status == "committed", problems(job)
    assert job.summary["commit"]["residences_registered"] == 10
    assert Building.objects.count() == 2 and House.objects.count() == 8
    assert ResidenceRecord.objects.filter(house__building__door_number="20号", house__room="101").count() == 3
    assert ResidenceAction.objects.count() == 10 and Person.objects.count() == 10
    before = snapshot()
    again = imports.import_commit(actor=clerk, job=validate(clerk, csv_bytes(rows)))
    assert again.summary["commit"] == {"unchanged": 10} and snapshot() == before


def test_a_failed_import_leaves_the_register_exactly_as_it_was(clerk, other_house, monkeypatch):
    """The dry run passes; then someone registers row 4's person elsewhere. The commit writes the first
    chunks, meets the conflict in a later one, and rolls everything back."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    rows = [row(rid(i), 房号=f"{i}01") for i in range(1, 7)]
    job = validate(clerk, csv_bytes(rows))
    assert job.error_rows == 0
    services.residence_register(actor=clerk, person=person(rid(4)), house=other_house)
    before = snapshot()
    failed = imports.import_commit(actor=clerk, job=job, mode="all_or_nothing")
    assert failed.status == "failed" and failed.error_rows == 1
    assert [p[0] for p in problems(failed)] == [5]
    assert snapshot() == before
    assert AuditEntry.objects.filter(action="register.import.commit", result="failed").count() == 1
    # The file is kept: the clerk can import the valid rows instead.
    assert imports.can_commit(failed)
    done = imports.import_commit(actor=clerk, job=failed, mode="valid_only")
    assert done.status == "committed" and done.summary["commit"]["residences_registered"] == 5


def test_an_error_while_writing_rolls_everything_back(clerk, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    job = validate(clerk, csv_bytes([row(rid(i), 房号=f"{i}01") for i in range(1, 6)]))
    before = snapshot()
    calls = {"n": 0}
    original = imports._Writer.insert

    def insert(self, model, fields, rows):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if model is ResidenceAction and calls["n"] > 12:
            from django.db import IntegrityError

            raise IntegrityError("simulated")
        return original(self, model, fields, rows)

    monkeypatch.setattr(imports._Writer, "insert", insert)
    failed = imports.import_commit(actor=clerk, job=job, mode="valid_only")
    assert failed.status == "failed" and "未导入任何数据" in problems(failed)[0][2]
    assert snapshot() == before


def test_all_or_nothing_refuses_a_file_with_problems_and_valid_only_takes_the_rest(clerk):
    job = validate(clerk, csv_bytes([row(rid(1)), row(INVALID_CHECK), row(rid(3))]))
    before = snapshot()
    failed = imports.import_commit(actor=clerk, job=job, mode="all_or_nothing")
    assert failed.status == "failed" and snapshot() == before
    done = imports.import_commit(actor=clerk, job=failed, mode="valid_only")
    assert done.status == "committed" and Person.objects.count() == 2
    with pytest.raises(Exception, match="已导入"):
        imports.import_commit(actor=clerk, job=done, mode="valid_only")


def test_no_identity_number_or_phone_in_clear_text(clerk):
    job = validate(clerk, csv_bytes([row(VALID[0], 联系电话="13912345678")]))
    sealed = (imports.store_dir() / job.stored_file).read_bytes()
    assert VALID[0].encode() not in sealed and "德兴路".encode() not in sealed
    imports.import_commit(actor=clerk, job=job)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM registry_person")
        dump = repr(cursor.fetchall())
    for secret in (VALID[0], "440113201410050", "13912345678", "2345678"):
        assert secret not in dump
    subject = Person.objects.get()
    assert subject.id_masked == "440113********001X" and subject.phone_masked == "139****5678"
    assert services.person_reveal(actor=clerk, person=subject, field="id_number", reason="核实") == VALID[0]


def test_a_tampered_sealed_file_is_refused(clerk):
    job = validate(clerk, csv_bytes([row(rid(1))]))
    stored = imports.store_dir() / job.stored_file
    blob = bytearray(stored.read_bytes())
    blob[-5] ^= 1
    stored.write_bytes(bytes(blob))
    failed = imports.import_commit(actor=clerk, job=job)
    assert failed.status == "failed" and "已损坏" in problems(failed)[0][2] and not Person.objects.exists()


# --- who may import ------------------------------------------------------------------------------------


def test_permission_matrix(make_user, clerk):
    data = csv_bytes([row(rid(1))])
    from django.contrib.auth.models import AnonymousUser

    for actor, error in (
        (AnonymousUser(), NotAuthenticated),
        (make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY), PermissionDenied),
        (make_user(Role.DISTRICT_ADMIN, DISTRICT), PermissionDenied),
    ):
        with pytest.raises(error):
            validate(actor, data)
    assert not ImportJob.objects.exists()
    job = validate(clerk, data)
    outsider = make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY)
    with pytest.raises(NotFound):
        imports.import_commit(actor=outsider, job=job)
    assert not Person.objects.exists()
    # The town above sees the job and may commit it.
    town = make_user(Role.TOWN_ADMIN, SHIQIAO)
    assert imports.import_job_get(actor=town, job_id=job.pk) == job
    assert imports.import_commit(actor=town, job=job).status == "committed"
    assert AuditEntry.objects.filter(action="register.import.validate", result="denied").count() == 3


def test_an_out_of_area_actor_cannot_smuggle_rows_in(make_user):
    outsider = make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY)
    job = validate(outsider, csv_bytes([row(rid(1))]))
    assert job.error_rows == 1 and "不在您的辖区内" in problems(job)[0][2]
    assert imports.import_commit(actor=outsider, job=job).status == "failed"
    assert not Person.objects.exists()
    with pytest.raises(ValidationFailed):
        imports.import_commit(actor=outsider, job=job, mode="everything")


# --- API, pages, command -------------------------------------------------------------------------------


def test_api_upload_report_and_commit(client, clerk, make_user):
    client.force_login(clerk)
    upload = io.BytesIO(csv_bytes([row(rid(1)), row(INVALID_CHECK, "李四")]))
    upload.name = "登记表.csv"
    response = client.post(reverse("api:import-list"), {"file": upload})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "validated" and body["error_rows"] == 1 and body["can_commit"]
    expected = f"校验位错误，应为 {resident_id_check_char(INVALID_CHECK[:17])}"
    assert body["problems"] == [{"row": 3, "column": "身份证号码", "problem": expected}]
    job_id = body["id"]
    report = client.get(reverse("api:import-report", args=[job_id]), {"format": "csv"})
    assert report.status_code == 200 and "attachment" in report["Content-Disposition"]
    text = b"".join(report.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [["行号", "列", "问题"], ["3", "身份证号码", expected]]
    report = client.get(reverse("api:import-report", args=[job_id]), {"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(report.streaming_content))).active
    assert [[c.value for c in r] for r in sheet.iter_rows()][1] == [3, "身份证号码", expected]
    assert client.get(reverse("api:import-report", args=[job_id]), {"format": "pdf"}).status_code == 400
    response = client.post(reverse("api:import-commit", args=[job_id]), {"mode": "all_or_nothing"}, "application/json")
    assert response.status_code == 200 and response.json()["status"] == "failed" and not Person.objects.exists()
    response = client.post(reverse("api:import-commit", args=[job_id]), {"mode": "valid_only"}, "application/json")
    assert response.json()["status"] == "committed" and Person.objects.count() == 1
    assert client.get(reverse("api:import-list")).json()[0]["id"] == job_id
    client.force_login(make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY))
    assert client.get(reverse("api:import-list")).status_code == 403
    assert client.get(reverse("api:import-detail", args=[job_id])).status_code == 403
    client.force_login(make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY))
    assert client.get(reverse("api:import-detail", args=[job_id])).status_code == 404


def test_pages_upload_review_download_and_commit(client, clerk):
    assert client.get(reverse("registry_imports:list")).status_code == 302  # login first
    client.force_login(clerk)
    page = client.get(reverse("registry_imports:list"))
    assert page.status_code == 200 and "上传并预检" in page.content.decode()
    upload = io.BytesIO(csv_bytes([row(rid(1)), row(rid(1), "张三丰")], encoding="gb18030"))
    upload.name = "德兴社区.csv"
    response = client.post(reverse("registry_imports:list"), {"file": upload, "crs": "wgs84"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("registry_imports:detail", args=[job.pk])
    html = client.get(response["Location"]).content.decode()
    assert "与第 2 行的证件号码重复" in html and "gb18030" in html
    assert "下载问题清单" in html and "确认导入" in html
    download = client.get(reverse("registry_imports:report", args=[job.pk, "csv"]))
    assert download.status_code == 200
    response = client.post(reverse("registry_imports:commit", args=[job.pk]), {"mode": "valid_only"}, follow=True)
    html = response.content.decode()
    assert "已导入" in html and Person.objects.count() == 1
    assert "确认导入" not in html
    empty = client.post(reverse("registry_imports:list"), {})
    assert empty.status_code == 400 and "请选择要导入的文件" in empty.content.decode()


def test_pages_refuse_those_who_may_not_import(client, make_user):
    client.force_login(make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY))
    assert client.get(reverse("registry_imports:list")).status_code == 403


def test_management_command_dry_run_and_commit(tmp_path, clerk):
    source = tmp_path / "登记表.csv"
    source.write_bytes(csv_bytes([row(rid(1)), row(INVALID_CHECK)]))
    out = io.StringIO()
    call_command("import_register", str(source), "--dry-run", "--user", clerk.username, stdout=out)
    assert "2 行，无误 1 行" in out.getvalue() and not Person.objects.exists()
    report = tmp_path / "问题.csv"
    call_command("import_register", str(source), "--mode", "valid_only", "--report", str(report), stdout=out)
    assert Person.objects.count() == 1 and "校验位错误" in report.read_text(encoding="utf-8-sig")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="未导入"):
        call_command("import_register", str(source), stdout=io.StringIO())
    source.write_bytes(b"")
    with pytest.raises(CommandError, match="无法导入"):
        call_command("import_register", str(source), stdout=io.StringIO())
