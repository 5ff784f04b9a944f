"""The event catalogue as a district administrator keeps it: the tree page (major → minor, each minor's
limit in force, default department kind, on-the-spot flag, state), creating a major and a minor category
(the minor with its first time-limit version), editing, codes (the seed's format, unique, a minor's under
its major's, fixed once used), deactivation (gone from the intake forms, existing cases untouched; a major
only with its minors), the same through the API with its schema; anyone else is refused, audited, and
nothing changes. A case filed before a limit change keeps the limit it was filed under."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core.errors import PermissionDenied
from civicgrid.events import admin_services, services
from civicgrid.events.models import Case, Category, TimeLimit
from civicgrid.events.workflow import Action, State
from tests.conftest import DISTRICT, PASSWORD
from tests.events.conftest import report
from tests.events.test_api import api_for, error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.events.admin_test_urls")]

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAGE = "events_admin:catalogue"
API = "/api/events/catalogue/categories/"


@pytest.fixture
def admin(make_user):
    return make_user(Role.DISTRICT_ADMIN, DISTRICT, username="district_admin")


def client_for(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def html(response: Any) -> str:
    return response.content.decode()


def snapshot() -> list[tuple[Any, ...]]:
    return list(
        Category.objects.order_by("code").values_list(
            "code", "name", "parent_id", "sort", "default_department_kind", "self_fixable", "active"
        )
    )


def fields(response: Any) -> dict[str, list[str]]:
    return error(response, 400, "invalid").get("fields", {})


def intake_codes(user: Any) -> str:
    return html(client_for(user).get(reverse("events:new")))


# --- the page -----------------------------------------------------------------------------------------


def test_page_shows_the_tree_with_limits_kinds_flags_and_state(loop, admin):
    page = html(client_for(admin).get(reverse(PAGE)))
    assert 'data-testid="major" data-category="06"' in page and "市容环境" in page
    row = page.split('data-testid="minor-row" data-category="0601"')[1].split("</tr>")[0]
    assert "暴露垃圾、积存垃圾" in row and "1 工作日" in row and "城市管理" in row
    assert "可" in row and "启用" in row  # self-fixable, active
    gas = page.split('data-testid="minor-row" data-category="0302"')[1].split("</tr>")[0]
    assert "4 工作小时" in gas and "否" in gas
    # majors come in catalogue order, each minor under its own major
    assert page.index('data-category="01"') < page.index('data-category="0101"') < page.index('data-category="02"')


def test_create_a_major_and_a_minor_through_the_page(loop, admin):
    client = client_for(admin)
    response = client.post(reverse(PAGE), {"form": "create", "major": "", "code": "11", "name": "应急管理"})
    assert response.status_code == 302, html(response)
    major = Category.objects.get(code="11")
    assert major.parent is None and major.active and major.sort == Category.objects.get(code="10").sort + 1
    response = client.post(
        reverse(PAGE),
        {
            "form": "create",
            "major": "11",
            "code": "1101",
            "name": "应急物资储备点缺失",
            "default_department_kind": "emergency",
            "self_fixable": "1",
            "handle_value": "4",
            "handle_unit": "hours",
        },
    )
    assert response.status_code == 302, html(response)
    minor = Category.objects.get(code="1101")
    assert (minor.parent, minor.default_department_kind, minor.self_fixable, minor.sort) == (
        major,
        "emergency",
        True,
        0,
    )
    limit = TimeLimit.objects.get(category=minor)
    assert (limit.handle_value, limit.handle_unit, limit.created_by) == (4, "hours", admin)
    assert limit.valid_from <= timezone.now()
    assert services.current_limit(minor, timezone.now()) == limit
    created = AuditEntry.objects.filter(action="events.category.create", actor=admin)
    assert created.count() == 2
    assert AuditEntry.objects.filter(action="events.time_limit.add", actor=admin).count() == 1
    page = html(client.get(reverse(PAGE)))
    assert 'data-category="1101"' in page and "4 工作小时" in page
    assert 'value="1101"' in intake_codes(loop.collector)  # offered to grid workers straight away


def test_a_minor_needs_its_first_time_limit(loop, admin):
    before = snapshot()
    response = client_for(admin).post(
        reverse(PAGE), {"form": "create", "major": "06", "code": "0605", "name": "绿化带毁损", "handle_unit": "weeks"}
    )
    page = html(response)
    assert response.status_code == 400
    assert "新建小类须填写处置时限" in page and "单位应为工作小时或工作日" in page
    assert snapshot() == before


def test_bad_codes_are_refused_in_chinese_naming_the_field(loop, admin):
    client = client_for(admin)
    before = snapshot()
    cases = [
        ({"major": "", "code": "6"}, "代码“6”格式有误：大类代码应为两位数字（01–99）"),
        ({"major": "", "code": "00"}, "大类代码应为两位数字"),
        ({"major": "", "code": "AB"}, "大类代码应为两位数字"),
        ({"major": "", "code": "06"}, "代码“06”已被“市容环境”使用"),
        ({"major": "06", "code": "0701"}, "小类代码应为所属大类代码“06”加两位数字（01–99），如“0601”"),
        ({"major": "06", "code": "06001"}, "小类代码应为所属大类代码“06”"),
        ({"major": "06", "code": "0601"}, "代码“0601”已被“暴露垃圾、积存垃圾”使用"),
        ({"major": "06", "code": ""}, "请填写代码"),
    ]
    for data, message in cases:
        response = client.post(
            reverse(PAGE),
            {"form": "create", "name": "新分类", "handle_value": "1", "handle_unit": "days", **data},
        )
        assert response.status_code == 400, data
        assert message in html(response), (data, message)
    # full-width digits are read as digits
    response = client.post(
        reverse(PAGE),
        {
            "form": "create",
            "major": "06",
            "code": "０６０５",
            "name": "绿化带毁损",
            "handle_value": "2",
            "handle_unit": "days",
        },
    )
    assert response.status_code == 302 and Category.objects.filter(code="0605").exists()
    assert len(snapshot()) == len(before) + 1


def test_edit_through_the_page(loop, admin):
    client = client_for(admin)
    page = html(client.get(reverse(PAGE), {"edit": "0603"}))
    assert 'value="占道经营"' in page and 'name="code" value="0603" maxlength="16">' in page  # not used yet
    response = client.post(
        reverse(PAGE),
        {
            "form": "save",
            "category": "0603",
            "code": "0609",
            "name": "占道经营、店外经营",
            "sort": "9",
            "default_department_kind": "police",
            "self_fixable": "1",
            "active": "1",
        },
    )
    assert response.status_code == 302, html(response)
    edited = Category.objects.get(code="0609")
    assert (edited.name, edited.sort, edited.default_department_kind, edited.self_fixable, edited.active) == (
        "占道经营、店外经营",
        9,
        "police",
        True,
        True,
    )
    assert not Category.objects.filter(code="0603").exists()
    entry = AuditEntry.objects.get(action="events.category.update", actor=admin)
    assert entry.detail["before"]["code"] == "0603" and entry.detail["after"]["code"] == "0609"
    response = client.post(
        reverse(PAGE), {"form": "save", "category": "0609", "code": "0609", "name": "", "default_department_kind": "x"}
    )
    page = html(response)
    assert response.status_code == 400 and "请填写名称" in page and "默认处置部门类别“x”不存在" in page
    assert Category.objects.get(code="0609").name == "占道经营、店外经营"


def test_code_is_fixed_once_a_case_uses_the_category(loop, admin):
    case = report(loop, code="0601")
    client = client_for(admin)
    page = html(client.get(reverse(PAGE), {"edit": "0601"}))
    assert "已有事件使用该分类，代码不能修改" in page and "readonly" in page
    response = client.post(
        reverse(PAGE),
        {"form": "save", "category": "0601", "code": "0609", "name": "暴露垃圾", "active": "1", "self_fixable": "1"},
    )
    assert response.status_code == 400
    assert "代码不能修改：已有事件使用该分类（代码仍为“0601”）" in html(response)
    problems = fields(api_for(admin).patch(f"{API}0601/", {"code": "0609"}, format="json"))
    assert list(problems) == ["code"] and problems["code"][0].startswith("代码不能修改")
    # a major's code is fixed by its minors (theirs begin with it)
    problems = fields(api_for(admin).patch(f"{API}06/", {"code": "16"}, format="json"))
    assert "该大类下已有小类" in problems["code"][0]
    category = Category.objects.get(code="0601")
    assert category.name == "暴露垃圾、积存垃圾" and Case.objects.get(pk=case.pk).category == category
    # the rest may still change
    response = api_for(admin).patch(f"{API}0601/", {"code": "0601", "name": "暴露垃圾"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "暴露垃圾"
    assert response.json()["code_locked"] is True


# --- deactivation -------------------------------------------------------------------------------------


def test_a_deactivated_category_leaves_the_intake_forms_and_keeps_its_cases(loop, admin):
    case = report(loop, code="0601")
    assert 'value="0601"' in intake_codes(loop.collector)
    response = client_for(admin).post(reverse(PAGE), {"form": "deactivate", "category": "0601"})
    assert response.status_code == 302
    assert Category.objects.get(code="0601").active is False
    assert 'value="0601"' not in intake_codes(loop.collector)
    assert 'value="0602"' in intake_codes(loop.collector)
    listed = [c["code"] for m in api_for(loop.collector).get("/api/events/categories/").json() for c in m["children"]]
    assert "0601" not in listed and "0602" in listed
    refused = client_for(loop.collector).post(
        reverse("events:new"),
        {
            "major": "06",
            "category": "0601",
            "title": "垃圾",
            "description": "又有垃圾",
            "lon": loop.point[0],
            "lat": loop.point[1],
        },
    )
    assert refused.status_code == 400 and Case.objects.count() == 1
    # the case filed under it goes on as before
    assert client_for(loop.collector).get(reverse("events:case", args=[case.number])).status_code == 200
    filed = services.case_transition(actor=loop.dispatcher, case=Case.objects.get(pk=case.pk), action=Action.FILE)
    assert filed.state == State.FILED and filed.category.code == "0601" and filed.limit_id == case.limit_id
    # still on the administrator's page, marked, and can come back
    page = html(client_for(admin).get(reverse(PAGE)))
    assert "已停用" in page.split('data-category="0601"')[1].split("</tr>")[0]
    assert client_for(admin).post(reverse(PAGE), {"form": "activate", "category": "0601"}).status_code == 302
    assert 'value="0601"' in intake_codes(loop.collector)


def test_a_major_is_deactivated_only_with_its_minors(loop, admin):
    minors = set(Category.objects.filter(parent__code="06").values_list("code", flat=True))
    problems = fields(api_for(admin).patch(f"{API}06/", {"active": False}, format="json"))
    assert problems["active"] == [
        f"大类“市容环境”下还有 {len(minors)} 个启用的小类：请先停用这些小类，或选择同时停用其下全部小类"
    ]
    assert Category.objects.get(code="06").active
    # the page's edit form says the same
    response = client_for(admin).post(
        reverse(PAGE), {"form": "save", "category": "06", "code": "06", "name": "市容环境"}
    )
    assert response.status_code == 400 and "个启用的小类" in html(response)
    response = api_for(admin).patch(f"{API}06/", {"active": False, "with_minors": True}, format="json")
    assert response.status_code == 200, response.content.decode()
    assert response.json()["active"] is False and all(m["active"] is False for m in response.json()["minors"])
    assert not Category.objects.filter(parent__code="06", active=True).exists()
    updates = AuditEntry.objects.filter(action="events.category.update", actor=admin)
    assert updates.count() == 1 + len(minors)
    page = intake_codes(loop.collector)
    assert 'value="06"' not in page and not any(f'value="{code}"' in page for code in minors)
    # a minor cannot come back, nor be created, under an inactive major
    problems = fields(api_for(admin).patch(f"{API}0601/", {"active": True}, format="json"))
    assert problems["active"] == ["所属大类“市容环境”已停用：请先启用大类，再启用其小类"]
    problems = fields(
        api_for(admin).post(
            API, {"major": "06", "code": "0605", "name": "x", "handle_value": 1, "handle_unit": "days"}, format="json"
        )
    )
    assert problems["major"] == ["所属大类“市容环境”已停用，请先启用"]
    # reactivating the major leaves its minors as they are
    assert api_for(admin).patch(f"{API}06/", {"active": True}, format="json").json()["active"] is True
    assert not Category.objects.filter(parent__code="06", active=True).exists()
    assert api_for(admin).patch(f"{API}0601/", {"active": True}, format="json").json()["active"] is True


# --- permissions --------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse(PAGE))
    assert response.status_code == 302 and "login" in response["Location"]
    error(api_for().get(API), 401, "not_authenticated")


def test_others_are_refused_audited_and_change_nothing(loop, admin):
    before = snapshot()
    limits = TimeLimit.objects.count()
    new_minor = {"major": "06", "code": "0605", "name": "绿化带毁损", "handle_value": "2", "handle_unit": "days"}
    for user in (loop.collector, loop.dispatcher, loop.supervisor, loop.handler):
        client = client_for(user)
        assert client.get(reverse(PAGE)).status_code == 403
        assert client.post(reverse(PAGE), {"form": "create", **new_minor}).status_code == 403
        assert (
            client.post(reverse(PAGE), {"form": "save", "category": "0601", "code": "0601", "name": "改名"}).status_code
            == 403
        )
        assert client.post(reverse(PAGE), {"form": "deactivate", "category": "0601"}).status_code == 403
        error(api_for(user).get(API), 403, "permission_denied")
        error(api_for(user).get(f"{API}0601/"), 403, "permission_denied")
        error(api_for(user).post(API, new_minor, format="json"), 403, "permission_denied")
        error(api_for(user).patch(f"{API}0601/", {"active": False}, format="json"), 403, "permission_denied")
        denied = set(
            AuditEntry.objects.filter(actor=user, result=AuditEntry.Result.DENIED).values_list("action", flat=True)
        )
        assert {"events.category.view", "events.category.create"} <= denied
    assert snapshot() == before and TimeLimit.objects.count() == limits
    assert not AuditEntry.objects.filter(
        action__in=["events.category.create", "events.category.update"], result=AuditEntry.Result.OK
    ).exists()
    with pytest.raises(PermissionDenied):
        admin_services.category_update(actor=loop.dispatcher, category=Category.objects.get(code="0601"), active=False)
    assert Category.objects.get(code="0601").active


# --- the API ------------------------------------------------------------------------------------------


def test_create_read_and_edit_through_the_api(loop, admin):
    tree = api_for(admin).get(API).json()
    major = next(m for m in tree if m["code"] == "03")
    assert major["level"] == "major" and major["name"] == "燃气"
    leak = next(m for m in major["minors"] if m["code"] == "0302")
    assert leak["current_limit"]["handle_value"] == 4 and leak["current_limit"]["handle_unit"] == "hours"
    assert (leak["default_department_kind"], leak["default_department_kind_label"], leak["self_fixable"]) == (
        "gas",
        "燃气",
        False,
    )

    problems = fields(api_for(admin).post(API, {"major": "03", "code": "0403", "name": ""}, format="json"))
    assert "所属大类代码“03”" in problems["code"][0] and problems["name"] == ["请填写名称"]
    assert problems["handle_value"] == ["新建小类须填写处置时限"]
    assert fields(api_for(admin).post(API, {"major": "99", "code": "9901", "name": "x"}, format="json"))["major"] == [
        "所属大类“99”不存在"
    ]
    assert "0303" not in {c.code for c in Category.objects.all()}

    response = api_for(admin).post(
        API,
        {"major": "03", "code": "0303", "name": "燃气报警器缺失", "handle_value": 3, "handle_unit": "days"},
        format="json",
    )
    assert response.status_code == 201, response.content.decode()
    body = response.json()
    assert body["level"] == "minor" and body["major"] == {"code": "03", "name": "燃气"}
    assert body["current_limit"]["handle_value"] == 3 and len(body["limits"]) == 1 and body["code_locked"] is False
    assert body["default_department_kind"] == "" and body["sort"] == 2

    response = api_for(admin).post(API, {"code": "12", "name": "食品安全", "sort": "12"}, format="json")
    assert response.status_code == 201 and response.json()["level"] == "major" and response.json()["minors"] == []
    assert fields(api_for(admin).post(API, {"code": "13", "name": "食品安全"}, format="json"))["name"] == [
        "已有名为“食品安全”的大类"
    ]
    assert fields(api_for(admin).post(API, {"code": "13", "name": "x", "self_fixable": True}, format="json"))[
        "self_fixable"
    ] == ["“网格员可自行处置”只适用于事件小类"]

    edited = api_for(admin).patch(
        f"{API}0303/", {"name": "燃气报警器缺失或失效", "default_department_kind": "fire", "sort": 7}, format="json"
    )
    assert edited.status_code == 200, edited.content.decode()
    assert (edited.json()["name"], edited.json()["default_department_kind"], edited.json()["sort"]) == (
        "燃气报警器缺失或失效",
        "fire",
        7,
    )
    assert edited.json()["self_fixable"] is False  # what is not given is kept
    assert fields(api_for(admin).patch(f"{API}0303/", {"sort": "-1"}, format="json"))["sort"] == [
        "排序应为 0–9999 的整数，小的在前"
    ]
    renamed = api_for(admin).patch(f"{API}0303/", {"code": "0309"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["code"] == "0309"
    assert api_for(admin).get(f"{API}0309/").json()["name"] == "燃气报警器缺失或失效"
    error(api_for(admin).get(f"{API}0303/"), 404, "not_found")
    assert {"events.category.create", "events.category.update", "events.time_limit.add"} <= set(
        AuditEntry.objects.filter(actor=admin).values_list("action", flat=True)
    )


def test_openapi_documents_the_catalogue_endpoints(loop, client):
    client.force_login(loop.dispatcher)
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert {"get", "post"} <= set(paths[API])
    assert {"get", "patch"} <= set(paths[API + "{code}/"])


# --- versioned limits ---------------------------------------------------------------------------------


def test_a_case_keeps_the_limit_it_was_filed_under(loop, admin):
    # After the test layer's publication (now): a week ahead, at 09:00 Shanghai.
    base = (timezone.localtime(timezone.now(), SHANGHAI) + dt.timedelta(days=7)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    with time_machine.travel(base, tick=False):
        response = api_for(admin).post(
            API,
            {"major": "06", "code": "0605", "name": "绿化带毁损", "handle_value": 2, "handle_unit": "days"},
            format="json",
        )
        assert response.status_code == 201, response.content.decode()
        first = TimeLimit.objects.get(category__code="0605")
    with time_machine.travel(base + dt.timedelta(hours=1), tick=False):
        before = report(loop, code="0605", title="改前")
        admin_services.time_limit_add(
            actor=admin,
            category=Category.objects.get(code="0605"),
            handle_value=8,
            handle_unit="hours",
            valid_from=base + dt.timedelta(days=1),
        )
        row = html(client_for(admin).get(reverse(PAGE))).split('data-category="0605"')[1].split("</tr>")[0]
        assert "2 工作日" in row and f"{(base + dt.timedelta(days=1)):%Y-%m-%d} 09:00 起 8 工作小时" in row
    with time_machine.travel(base + dt.timedelta(days=1, hours=1), tick=False):
        after = report(loop, code="0605", title="改后")
        # the administrator's edit of the category leaves the versions alone
        api_for(admin).patch(f"{API}0605/", {"name": "绿化带、树木毁损"}, format="json")
        current = api_for(admin).get(f"{API}0605/").json()["current_limit"]
    before = Case.objects.select_related("limit").get(pk=before.pk)
    after = Case.objects.select_related("limit").get(pk=after.pk)
    assert before.limit == first and (before.limit.handle_value, before.limit.handle_unit) == (2, "days")
    assert (after.limit.handle_value, after.limit.handle_unit) == (8, "hours")
    assert current["handle_value"] == 8
    assert TimeLimit.objects.filter(category__code="0605").count() == 2
