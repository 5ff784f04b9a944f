"""Exports (issue #4 point 4): CSV (UTF-8 with BOM, Chinese headers) and XLSX of a search result, a house's
or a community's residents. Masked by default (read back, no clear number anywhere); an unmasked export
needs the reveal permission and a reason and is audited with the number of rows; area-scoped."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from typing import Any

import openpyxl
import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.registry import services
from civicgrid.registry.models import House
from tests.conftest import SHATOU_COMMUNITY, SHIQIAO_COMMUNITY
from tests.registry.conftest import person

pytestmark = pytest.mark.django_db

IDS = ("360426199101010071", "110102199101010078")
PHONES = ("13800138000", "13900139000")
MASKED = ("360426********0071", "110102********0078")
HEADER = ["姓名", "性别", "出生日期", "证件类型", "证件号码", "联系电话", "户籍地", "来穗人员", "工作单位", "居住证"]


@pytest.fixture
def residents(clerk: Any, house: House) -> House:
    services.residence_register(actor=clerk, person=person(IDS[0], name="张三"), house=house, on=dt.date(2026, 3, 1))
    services.residence_register(
        actor=clerk,
        person=services.PersonInput(id_type="resident_id", id_number=IDS[1], name="张四", phone=PHONES[1]),
        house=house,
        on=dt.date(2026, 3, 2),
    )
    return house


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(data[len(codecs.BOM_UTF8) :].decode("utf-8"))))


def _xlsx_text(data: bytes) -> list[list[str]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return [
        ["" if v is None else str(v) for v in row]
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
    ]


def _no_clear_numbers(text: str) -> None:
    for clear in (*IDS, *PHONES):
        assert clear not in text, clear


def test_the_default_csv_export_of_a_house_is_masked(client: Any, clerk: Any, residents: House) -> None:
    client.force_login(clerk)
    response = client.post(reverse("registry:export"), {"scope": "house", "house": residents.pk, "format": "csv"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    data = _body(response)
    rows = _csv_rows(data)
    assert rows[0][: len(HEADER)] == HEADER and rows[0][-3:] == ["现住地址", "登记日期", "最近更新"]
    assert sorted(r[0] for r in rows[1:]) == ["张三", "张四"]
    assert {r[4] for r in rows[1:]} == set(MASKED) and {r[5] for r in rows[1:]} == {"138****8000", "139****9000"}
    assert all(r[3] == "居民身份证" and "德兴路12号" in r[10] for r in rows[1:])
    _no_clear_numbers(data.decode("utf-8"))
    entry = AuditEntry.objects.get(action="register.export")
    assert entry.detail["rows"] == 2 and entry.detail["masked"] is True and entry.detail["scope"] == "house"


def test_the_default_xlsx_export_of_a_community_is_masked(client: Any, clerk: Any, residents: House) -> None:
    client.force_login(clerk)
    response = client.post(
        reverse("registry:export"), {"scope": "community", "community": SHIQIAO_COMMUNITY, "format": "xlsx"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = _xlsx_text(_body(response))
    assert rows[0][: len(HEADER)] == HEADER and len(rows) == 3
    assert {r[4] for r in rows[1:]} == set(MASKED)
    _no_clear_numbers("\n".join("\t".join(r) for r in rows))


def test_a_search_result_is_exported_through_the_api(clerk: Any, residents: House) -> None:
    api = APIClient()
    api.force_authenticate(clerk)
    response = api.post(reverse("api:register-export"), {"scope": "search", "q": "张", "format": "xlsx"}, format="json")
    assert response.status_code == 200
    rows = _xlsx_text(_body(response))
    assert sorted(r[0] for r in rows[1:]) == ["张三", "张四"]
    _no_clear_numbers(str(rows))
    assert AuditEntry.objects.get(action="register.export").detail["rows"] == 2
    # Only the matches: a name that matches one person exports one row.
    one = api.post(reverse("api:register-export"), {"scope": "search", "q": "张四"}, format="json")
    assert [r[0] for r in _csv_rows(_body(one))[1:]] == ["张四"]


def test_an_unmasked_export_needs_the_permission_and_a_reason(
    client: Any, clerk: Any, make_user: Any, residents: House
) -> None:
    worker = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)  # reads the register, may not reveal
    client.force_login(worker)
    form = {"scope": "house", "house": residents.pk, "format": "csv", "unmasked": "1", "reason": "核查"}
    refused = client.post(reverse("registry:export"), form)
    assert refused.status_code == 403
    _no_clear_numbers(refused.content.decode())
    denial = AuditEntry.objects.get(action="pii.export")
    assert denial.result == AuditEntry.Result.DENIED and denial.actor_id == worker.pk
    # The page offers no unmasked export to whom may not reveal.
    assert 'name="unmasked"' not in client.get(reverse("registry:house", args=[residents.pk])).content.decode()

    client.force_login(clerk)
    no_reason = client.post(reverse("registry:export"), {**form, "reason": ""})
    assert no_reason.status_code == 400 and "须填写事由" in no_reason.content.decode()
    api = APIClient()
    api.force_authenticate(clerk)
    body = {"scope": "community", "community": SHIQIAO_COMMUNITY, "unmasked": True, "reason": ""}
    api_refused = api.post(reverse("api:register-export"), body, format="json")
    assert api_refused.status_code == 400 and "事由" in api_refused.json()["fields"]["reason"][0]
    assert not AuditEntry.objects.filter(action="pii.export", result=AuditEntry.Result.OK).exists()


def test_an_unmasked_export_is_audited_with_the_number_of_rows(client: Any, clerk: Any, residents: House) -> None:
    client.force_login(clerk)
    form = {"scope": "house", "house": residents.pk, "format": "csv", "unmasked": "1", "reason": "派出所协查"}
    response = client.post(reverse("registry:export"), form)
    assert response.status_code == 200
    rows = _csv_rows(_body(response))
    assert {r[4] for r in rows[1:]} == set(IDS) and {r[5] for r in rows[1:]} == set(PHONES)
    entry = AuditEntry.objects.get(action="pii.export", result=AuditEntry.Result.OK)
    assert entry.actor_id == clerk.pk and entry.detail["rows"] == 2 and entry.detail["reason"] == "派出所协查"
    assert entry.detail["masked"] is False and entry.detail["format"] == "csv"
    xlsx = client.post(reverse("registry:export"), {**form, "format": "xlsx"})
    assert {r[4] for r in _xlsx_text(_body(xlsx))[1:]} == set(IDS)
    assert AuditEntry.objects.filter(action="pii.export", result=AuditEntry.Result.OK).count() == 2


def test_exports_are_scoped_to_the_area(client: Any, make_user: Any, residents: House) -> None:
    client.force_login(make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY))
    house = client.post(reverse("registry:export"), {"scope": "house", "house": residents.pk})
    assert house.status_code == 404
    community = client.post(reverse("registry:export"), {"scope": "community", "community": SHIQIAO_COMMUNITY})
    assert community.status_code == 404
    search = client.post(reverse("registry:export"), {"scope": "search", "q": "张"})
    assert search.status_code == 200 and len(_csv_rows(_body(search))) == 1  # the header only
    own = client.post(reverse("registry:export"), {"scope": "community", "community": SHATOU_COMMUNITY})
    assert len(_csv_rows(_body(own))) == 1
    assert not AuditEntry.objects.filter(action="register.export", detail__rows__gt=0).exists()


def test_a_spreadsheet_formula_in_a_name_is_written_as_text(client: Any, clerk: Any, house: House) -> None:
    services.residence_register(
        actor=clerk, person=person(IDS[0], name="=HYPERLINK(1)"), house=house, on=dt.date(2026, 3, 1)
    )
    client.force_login(clerk)
    csv_rows = _csv_rows(_body(client.post(reverse("registry:export"), {"scope": "house", "house": house.pk})))
    assert csv_rows[1][0] == "'=HYPERLINK(1)"
    xlsx = _body(client.post(reverse("registry:export"), {"scope": "house", "house": house.pk, "format": "xlsx"}))
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    cell = book.worksheets[0]["A2"]
    assert cell.data_type == "s" and cell.value == "'=HYPERLINK(1)"


def test_the_export_page_and_forms(client: Any, clerk: Any, residents: House) -> None:
    client.force_login(clerk)
    page = client.get(reverse("registry:export")).content.decode()
    assert 'data-testid="export-form"' in page and SHIQIAO_COMMUNITY in page and 'name="unmasked"' in page
    assert 'href="/register/export/"' in page  # in the navigation
    house_page = client.get(reverse("registry:house", args=[residents.pk])).content.decode()
    assert 'value="house"' in house_page
    results = client.post(reverse("registry:search"), {"q": "张"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="search-export"' in results
    # An identity number is never echoed into an export form.
    by_id = client.post(reverse("registry:search"), {"q": IDS[0]}, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="search-export"' not in by_id and IDS[0] not in by_id
