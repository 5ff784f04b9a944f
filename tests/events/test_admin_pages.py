"""The administrator pages through the Django test client: the working-day calendar (years and their
source, current and next year loaded or provisional, a year's days, an upload refused line by line with
nothing changed, a valid year loaded, re-seeding), the dispatch rules (create, edit, move, deactivate; the
rule created is the one `dispatch_suggestion` picks) and the time limits (a new version applies to cases
reported from its start, not to earlier ones). Anonymous → login; grid worker → 403 and nothing changed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core import workcalendar
from civicgrid.core.models import CalendarDay, CalendarYear
from civicgrid.events import admin_services, services
from civicgrid.events.models import Case, Category, DispatchRule, TimeLimit
from tests.conftest import DISTRICT, PASSWORD, SHATOU, SHIQIAO
from tests.events.conftest import report

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.events.admin_test_urls")]

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = "events_admin:calendar"
RULES = "events_admin:dispatch-rules"
LIMITS = "events_admin:time-limits"


def client_for(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def html(response: Any) -> str:
    return response.content.decode()


def year_2027_csv() -> str:
    """A plausible 2027 arrangement: every festival named, the fixed-date holidays in, one make-up day."""
    lines = ["date,type,name"]

    def holidays(start: dt.date, n: int, name: str) -> None:
        for i in range(n):
            lines.append(f"{(start + dt.timedelta(days=i)).isoformat()},holiday,{name}")

    holidays(dt.date(2027, 1, 1), 3, "元旦")
    holidays(dt.date(2027, 2, 6), 7, "春节")
    holidays(dt.date(2027, 4, 3), 3, "清明节")
    holidays(dt.date(2027, 5, 1), 5, "劳动节")
    holidays(dt.date(2027, 6, 7), 3, "端午节")
    holidays(dt.date(2027, 9, 15), 1, "中秋节")
    holidays(dt.date(2027, 10, 1), 7, "国庆节")
    lines.append("2027-02-20,workday,调休上班（春节）")  # a Saturday
    return "\n".join(lines) + "\n"


@pytest.fixture
def admin(make_user):
    return make_user(Role.DISTRICT_ADMIN, DISTRICT, username="district_admin")


@pytest.fixture
def worker(make_user):
    return make_user(Role.GRID_WORKER, "440113007003", username="worker")


# --- permission matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [CALENDAR, RULES, LIMITS])
def test_anonymous_is_sent_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.parametrize("name", [CALENDAR, RULES, LIMITS])
def test_grid_worker_gets_403_and_admin_gets_the_page(admin, worker, name):
    response = client_for(worker).get(reverse(name))
    assert response.status_code == 403
    assert "没有执行此操作的权限" in html(response)
    assert client_for(admin).get(reverse(name)).status_code == 200


def test_grid_worker_posts_change_nothing(loop, worker):
    client = client_for(worker)
    years = CalendarYear.objects.count()
    category = Category.objects.get(code="0601")
    limits = TimeLimit.objects.count()
    response = client.post(
        reverse(CALENDAR), {"form": "upload", "file": SimpleUploadedFile("2027.csv", year_2027_csv().encode())}
    )
    assert response.status_code == 403
    assert client.post(reverse(CALENDAR), {"form": "seed"}).status_code == 403
    response = client.post(
        reverse(RULES), {"form": "save", "name": "越权", "category": "0601", "department": loop.department.code}
    )
    assert response.status_code == 403
    response = client.post(
        reverse(LIMITS),
        {"category": category.code, "handle_value": "1", "handle_unit": "hours", "valid_from": "2099-01-01T09:00"},
    )
    assert response.status_code == 403
    assert CalendarYear.objects.count() == years and not CalendarYear.objects.filter(year=2027).exists()
    assert not DispatchRule.objects.exists()
    assert TimeLimit.objects.count() == limits
    assert AuditEntry.objects.filter(actor=worker, result=AuditEntry.Result.DENIED).count() >= 4


# --- calendar -----------------------------------------------------------------------------------------


@time_machine.travel(dt.datetime(2026, 6, 1, 10, 0, tzinfo=SHANGHAI), tick=False)
def test_calendar_page_shows_years_status_and_days(admin):
    workcalendar.calendar_seed_from_package()
    response = client_for(admin).get(reverse(CALENDAR), {"year": "2026"})
    page = html(response)
    assert response.status_code == 200
    assert 'data-testid="status-2026" data-loaded="1"' in page
    assert 'data-testid="status-2027" data-loaded="0"' in page
    assert "暂定" in page and "2027 年的节假日安排尚未导入" in page
    assert "chinese-calendar 软件包" in page
    assert "2026-10-01" in page and "国庆节" in page  # a holiday of the selected year
    assert CalendarDay.objects.filter(date__year=2026, is_workday=True).exists()
    make_up = CalendarDay.objects.filter(date__year=2026, is_workday=True).first()
    assert make_up is not None and make_up.date.isoformat() in page


@time_machine.travel(dt.datetime(2026, 6, 1, 10, 0, tzinfo=SHANGHAI), tick=False)
def test_bad_calendar_file_shows_the_line_and_changes_nothing(admin):
    text = year_2027_csv().replace("2027-06-08,holiday", "2027-13-08,holiday")
    bad_line = text.splitlines().index("2027-13-08,holiday,端午节") + 1
    audits = AuditEntry.objects.filter(action="calendar.load_year").count()
    response = client_for(admin).post(
        reverse(CALENDAR), {"form": "upload", "file": SimpleUploadedFile("2027.csv", text.encode())}
    )
    page = html(response)
    assert response.status_code == 400
    assert "未导入任何数据" in page
    assert f"第 {bad_line} 行" in page and "2027-13-08" in page and "无法识别" in page
    assert not CalendarYear.objects.filter(year=2027).exists()
    assert not CalendarDay.objects.filter(date__year=2027).exists()
    assert AuditEntry.objects.filter(action="calendar.load_year").count() == audits


@time_machine.travel(dt.datetime(2026, 6, 1, 10, 0, tzinfo=SHANGHAI), tick=False)
def test_valid_2027_file_loads_and_the_year_is_no_longer_provisional(admin):
    assert not workcalendar.year_status(2027).loaded
    client = client_for(admin)
    response = client.post(
        reverse(CALENDAR),
        {
            "form": "upload",
            "note": "国办发明电〔2026〕X号",
            "file": SimpleUploadedFile("2027.csv", year_2027_csv().encode()),
        },
    )
    assert response.status_code == 302
    status = workcalendar.year_status(2027)
    assert status.loaded and status.source == CalendarYear.Source.ADMINISTRATOR
    assert status.holidays == 29 and status.make_up_days == 1
    assert AuditEntry.objects.filter(action="calendar.load_year", actor=admin).exists()
    page = html(client.get(response["Location"]))
    assert 'data-testid="status-2027" data-loaded="1"' in page
    assert "管理员导入" in page and "2027-02-20" in page and "国办发明电" in page


def test_json_text_is_accepted_too(admin):
    rows = [dict(zip(("date", "type", "name"), line.split(","), strict=True)) for line in year_2027_csv().split()[1:]]
    response = client_for(admin).post(
        reverse(CALENDAR), {"form": "upload", "text": json.dumps(rows, ensure_ascii=False)}
    )
    assert response.status_code == 302
    assert workcalendar.year_status(2027).loaded


def test_reseed_from_the_package_keeps_administrator_years(admin):
    CalendarYear.objects.all().delete()
    response = client_for(admin).post(reverse(CALENDAR), {"form": "seed"}, follow=True)
    assert response.status_code == 200
    assert set(workcalendar.package_years()) <= set(workcalendar.years_loaded())
    assert "已从软件包" in html(response)
    assert AuditEntry.objects.filter(action="calendar.seed", actor=admin).exists()


# --- dispatch rules -----------------------------------------------------------------------------------


def rule_form(loop, **overrides: str) -> dict[str, str]:
    data = {
        "form": "save",
        "name": "市桥环卫",
        "category": "06",
        "area": SHIQIAO,
        "weekdays": "",
        "time_from": "",
        "time_to": "",
        "department": loop.other_department.code,
    }
    data.update(overrides)
    return data


def test_created_rule_is_picked_by_dispatch_suggestion(loop, admin):
    case = report(loop)
    assert Category.objects.get(code="0601").parent.code == "06"
    assert services.dispatch_suggestion(case) is None
    response = client_for(admin).post(reverse(RULES), rule_form(loop))
    assert response.status_code == 302
    rule = DispatchRule.objects.get()
    assert (rule.order, rule.category.code, rule.area.code, rule.active) == (1, "06", SHIQIAO, True)
    assert services.dispatch_suggestion(Case.objects.get(pk=case.pk)) == rule
    assert AuditEntry.objects.filter(action="events.dispatch_rule.create", actor=admin).count() == 1


def test_rule_validation_errors_are_in_chinese(loop, admin):
    response = client_for(admin).post(
        reverse(RULES),
        rule_form(loop, category="9999", area="NOPE", weekdays="1,8", time_from="09:00", department=""),
    )
    page = html(response)
    assert response.status_code == 400
    assert "分类“9999”不存在" in page
    assert "不是已有的组织单元" in page
    assert "星期应为 1–7" in page
    assert "要么都填，要么都不填" in page
    assert "请选择派往部门" in page
    assert not DispatchRule.objects.exists()


def test_department_must_serve_the_area(loop, admin):
    with pytest.raises(admin_services.ValidationFailed) as refused:
        admin_services.dispatch_rule_save(actor=admin, name="外区", area=SHATOU, department=loop.department.code)
    assert "服务范围不包括" in refused.value.fields["department"][0]


def test_edit_move_and_deactivate(loop, admin):
    client = client_for(admin)
    first = admin_services.dispatch_rule_save(actor=admin, **{k: v for k, v in rule_form(loop).items() if k != "form"})
    second = admin_services.dispatch_rule_save(
        actor=admin,
        name="水务",
        category="",
        area="",
        weekdays="1,2,3",
        time_from="08:30",
        time_to="17:30",
        department=loop.department.code,
    )
    case = report(loop)
    assert services.dispatch_suggestion(case) == first
    # edit
    response = client.get(reverse(RULES), {"edit": second.pk})
    assert 'value="水务"' in html(response)
    response = client.post(
        reverse(RULES),
        rule_form(
            loop,
            rule=str(second.pk),
            name="水务（全天）",
            category="",
            area="",
            department=loop.department.code,
            active="1",
        ),
    )
    assert response.status_code == 302
    second.refresh_from_db()
    assert (second.name, second.weekdays, second.time_from, second.active) == ("水务（全天）", "", None, True)
    # move the second rule up: it now wins
    assert client.post(reverse(RULES), {"form": "move", "rule": second.pk, "direction": "up"}).status_code == 302
    assert list(DispatchRule.objects.order_by("order").values_list("pk", flat=True)) == [second.pk, first.pk]
    assert services.dispatch_suggestion(case) == second
    # moving the top rule up changes nothing
    client.post(reverse(RULES), {"form": "move", "rule": second.pk, "direction": "up"})
    assert list(DispatchRule.objects.order_by("order").values_list("pk", flat=True)) == [second.pk, first.pk]
    # deactivate: the next rule wins again
    assert client.post(reverse(RULES), {"form": "deactivate", "rule": second.pk}).status_code == 302
    assert services.dispatch_suggestion(case) == first
    assert "已停用" in html(client.get(reverse(RULES)))
    actions = set(AuditEntry.objects.filter(actor=admin).values_list("action", flat=True))
    assert {
        "events.dispatch_rule.create",
        "events.dispatch_rule.update",
        "events.dispatch_rule.move",
        "events.dispatch_rule.deactivate",
    } <= actions


# --- time limits --------------------------------------------------------------------------------------


def test_new_time_limit_version_applies_from_valid_from_only(loop, admin):
    # After the test layer's publication (now): a week ahead, at 09:00 Shanghai.
    base = (timezone.localtime(timezone.now(), SHANGHAI) + dt.timedelta(days=7)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    start = base + dt.timedelta(days=1)
    category = Category.objects.get(code="0601")
    old = services.current_limit(category, base)
    assert old is not None
    with time_machine.travel(base, tick=False):
        client = client_for(admin)
        response = client.get(reverse(LIMITS))
        assert 'data-category="0601"' in html(response)
        response = client.post(
            reverse(LIMITS),
            {
                "category": "0601",
                "handle_value": "4",
                "handle_unit": "hours",
                "file_hours": "0.5",
                "dispatch_hours": "0.5",
                "accept_hours": "1",
                "valid_from": start.strftime("%Y-%m-%dT%H:%M"),
            },
        )
        assert response.status_code == 302
        new = TimeLimit.objects.get(category=category, valid_from=start)
        assert (new.handle_value, new.handle_unit, new.created_by) == (4, "hours", admin)
        assert old.pk != new.pk and TimeLimit.objects.filter(pk=old.pk).exists()  # the old version is kept
        assert "待生效" in html(client.get(reverse(LIMITS)))
    with time_machine.travel(base + dt.timedelta(hours=1), tick=False):
        before = report(loop, title="生效前")
    with time_machine.travel(start + dt.timedelta(hours=1), tick=False):
        after = report(loop, title="生效后")
    assert before.limit_id == old.pk
    assert after.limit_id == new.pk
    assert services.current_limit(category, start - dt.timedelta(minutes=1)) == old
    assert services.current_limit(category, start) == new
    assert AuditEntry.objects.filter(action="events.time_limit.add", actor=admin).count() == 1


@time_machine.travel(dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI), tick=False)
def test_time_limit_in_the_past_or_on_a_major_category_is_refused(loop, admin):
    count = TimeLimit.objects.count()
    client = client_for(admin)
    response = client.post(
        reverse(LIMITS),
        {"category": "0601", "handle_value": "0", "handle_unit": "weeks", "valid_from": "2026-03-01T09:00"},
    )
    page = html(response)
    assert response.status_code == 400
    assert "不能早于现在" in page and "处置时限应在 1–999 之间" in page and "单位应为工作小时或工作日" in page
    with pytest.raises(admin_services.ValidationFailed) as refused:
        admin_services.time_limit_add(
            actor=admin,
            category=Category.objects.get(code="06"),
            handle_value=1,
            handle_unit="days",
            valid_from=dt.datetime(2026, 4, 1, tzinfo=SHANGHAI),
        )
    assert "小类" in refused.value.fields["category"][0]
    assert TimeLimit.objects.count() == count
