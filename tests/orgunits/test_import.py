"""The division list import: the shipped Panyu list, another district's list, and every bad-file case,
each of which imports nothing."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicgrid.audit.models import AuditEntry
from civicgrid.demo.services import divisions_csv_text
from civicgrid.orgunits.models import Level, OrgUnit
from civicgrid.orgunits.selectors import orgunit_ancestors, orgunit_subtree
from civicgrid.orgunits.services import orgunits_import
from tests.conftest import SHIQIAO

pytestmark = pytest.mark.django_db

HEADER = "code,name,level,parent_code\n"
OTHER_DISTRICT = (
    HEADER
    + "440114000000,花都区,district,440100000000\n"
    + "440114001000,新华街道,street,440114000000\n"
    + "440114102000,花东镇,town,440114000000\n"
    + "440114001001,公益社区居委会,community,440114001000\n"
    + "440114102201,花东村委会,village,440114102000\n"
)


def test_panyu_list_has_every_unit_with_correct_parents(unit):
    assert OrgUnit.objects.filter(level=Level.DISTRICT).count() == 1
    assert OrgUnit.objects.filter(level=Level.TOWN).count() == 16
    assert OrgUnit.objects.filter(level=Level.COMMUNITY).count() == 276
    assert OrgUnit.objects.count() == 293  # the CSV has 294 lines: a header and 293 units
    # Every parent matches the shipped file, and each path is the chain of codes.
    rows = [line.split(",") for line in divisions_csv_text().strip().splitlines()[1:]]
    by_code = {u.code: u for u in OrgUnit.objects.select_related("parent")}
    for code, _name, level, parent_code in rows:
        stored = by_code[code]
        if level == "district":
            assert stored.parent is None
        else:
            assert stored.parent.code == parent_code
            assert stored.path == stored.parent.path + code + "/"


def test_subtree_of_a_town_is_exactly_its_communities(unit):
    shiqiao = unit(SHIQIAO)
    expected = {line.split(",")[0] for line in divisions_csv_text().splitlines()[1:] if line.endswith("," + SHIQIAO)}
    subtree = orgunit_subtree(root=shiqiao, level=Level.COMMUNITY)
    assert {u.code for u in subtree} == expected
    assert len(expected) == 36
    assert set(orgunit_subtree(root=shiqiao).values_list("code", flat=True)) == expected | {SHIQIAO}
    community = subtree.first()
    assert [a.code for a in orgunit_ancestors(unit=community)] == ["440113000000", SHIQIAO]


def test_reimporting_the_same_list_changes_nothing(unit):
    before = list(OrgUnit.objects.values_list("code", "name", "path", "parent_id"))
    result = orgunits_import(text=divisions_csv_text(), actor=None)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 293)
    assert list(OrgUnit.objects.values_list("code", "name", "path", "parent_id")) == before


def test_another_district_in_the_same_shape_imports(unit):
    result = orgunits_import(text=OTHER_DISTRICT, actor=None, source_name="huadu.csv")
    assert not result.errors
    assert result.created == 5
    huadu = OrgUnit.objects.get(code="440114000000")
    assert orgunit_subtree(root=huadu).count() == 5
    assert OrgUnit.objects.get(code="440114102201").parent.code == "440114102000"
    entry = AuditEntry.objects.filter(action="orgunits.import").last()
    assert entry.object_repr == "huadu.csv" and entry.detail["created"] == 5


BAD_FILES = {
    "unknown parent": (
        HEADER + "440114000000,花都区,district,440100000000\n440114001000,新华街道,street,440199000000\n",
        "parent_code",
        "不存在",
    ),
    "duplicate code": (
        HEADER + "440114000000,花都区,district,440100000000\n"
        "440114001000,新华街道,street,440114000000\n"
        "440114001000,新华街道二,street,440114000000\n",
        "code",
        "重复",
    ),
    "wrong level under parent": (
        HEADER + "440114000000,花都区,district,440100000000\n440114001001,公益社区,community,440114000000\n",
        "level",
        "上级应为",
    ),
    "unknown level": (HEADER + "440114000000,花都区,county,440100000000\n", "level", "无法识别"),
    "missing column": ("code,name,parent_code\n440114000000,花都区,440100000000\n", "level", "缺少必需的列"),
    "empty file": ("", "code", "缺少必需的列"),
    "header only": (HEADER, "-", "没有数据行"),
    "bad code": (HEADER + "4401 14,花都区,district,440100000000\n", "code", "格式不正确"),
    "empty name": (HEADER + "440114000000,,district,440100000000\n", "name", "名称为空"),
    "existing code at another level": (
        HEADER + "440113007000,市桥街道,community,440113000000\n",
        "level",
        "已存在",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_gets_a_row_error_and_imports_nothing(case, unit):
    text, column, words = BAD_FILES[case]
    before = list(OrgUnit.objects.order_by("code").values_list("code", "name", "path"))
    audit_before = AuditEntry.objects.count()
    result = orgunits_import(text=text, actor=None)
    assert result.errors, case
    assert any(e.column.startswith(column.split(",")[0]) or column in e.column for e in result.errors), result.errors
    assert any(words in str(e) for e in result.errors), [str(e) for e in result.errors]
    assert str(result.errors[0]).startswith("第 ")
    assert list(OrgUnit.objects.order_by("code").values_list("code", "name", "path")) == before
    assert AuditEntry.objects.count() == audit_before


def test_one_bad_row_among_good_ones_imports_nothing(unit):
    text = OTHER_DISTRICT + "440114102299,坏村,village,440114999000\n"
    result = orgunits_import(text=text, actor=None)
    assert [e.row for e in result.errors] == [7]
    assert not OrgUnit.objects.filter(code__startswith="440114").exists()


def test_command_reports_errors_and_imports_nothing(tmp_path, unit):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_FILES["duplicate code"][0], encoding="gbk")
    with pytest.raises(CommandError, match="未导入任何数据"):
        call_command("import_orgunits", str(path))
    assert not OrgUnit.objects.filter(code__startswith="440114").exists()


def test_command_reads_gbk_and_dry_run_writes_nothing(tmp_path, unit, capsys):
    path = tmp_path / "huadu.csv"
    path.write_bytes(OTHER_DISTRICT.encode("gb18030"))
    call_command("import_orgunits", str(path), "--dry-run")
    assert "校验通过" in capsys.readouterr().out
    assert not OrgUnit.objects.filter(code__startswith="440114").exists()
    call_command("import_orgunits", str(path))
    assert OrgUnit.objects.get(code="440114001001").name == "公益社区居委会"


def test_moving_a_unit_rewrites_its_subtree_paths(unit):
    orgunits_import(text=OTHER_DISTRICT, actor=None)
    moved = OTHER_DISTRICT.replace(
        "440114001001,公益社区居委会,community,440114001000",
        "440114001001,公益社区居委会,community,440114102000",
    )
    result = orgunits_import(text=moved, actor=None)
    assert result.updated == 1
    community = OrgUnit.objects.get(code="440114001001")
    assert community.path == "440114000000/440114102000/440114001001/"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list('0123456789,\n"abc区街道村 ')) | st.characters(), max_size=300))
def test_any_text_yields_errors_or_a_valid_import_never_a_crash(unit, text):
    before = OrgUnit.objects.count()
    result = orgunits_import(text=HEADER + text, actor=None, dry_run=True)
    assert isinstance(result.errors, list)
    assert OrgUnit.objects.count() == before
