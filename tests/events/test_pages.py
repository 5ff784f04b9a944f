"""The event pages through the Django test client: each role's workbench (tabs, counts, filters, keyset
pages, the htmx partial), the grid worker's report form (WGS-84 and GCJ-02), the event centre's phone
intake, the case page walked through the whole loop by form posts, and the permission matrix (anonymous →
login, wrong role → refused, other area → not found, right role → works; refused attempts change
nothing). Deadlines in a year whose holidays are not loaded are shown as 暂定."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from civicgrid.core.errors import ValidationFailed
from civicgrid.events import feedback, selectors, services
from civicgrid.events.models import Attachment, Case, CaseFlag, CaseHistory
from civicgrid.events.workflow import Action, State
from civicgrid.geo.crs import transform_point
from tests.conftest import PASSWORD, SHIQIAO, SHIQIAO_COMMUNITY
from tests.events.conftest import report

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def html(response: Any) -> str:
    return response.content.decode()


def case_url(case: Case) -> str:
    return reverse("events:case", kwargs={"number": case.number})


def state_of(case: Case) -> tuple[str, int, int]:
    row = Case.objects.get(pk=case.pk)
    return row.state, row.version, CaseHistory.objects.filter(case=case).count()


def post_action(client: Client, case: Case, action: str, **data: str) -> Any:
    fresh = Case.objects.get(pk=case.pk)
    return client.post(case_url(case), {"form": "transition", "action": action, "version": str(fresh.version), **data})


def numbers(response: Any) -> list[str]:
    return re.findall(r'data-testid="case-row" data-number="([^"]+)"', html(response))


# --- workbenches --------------------------------------------------------------------------------------


def test_each_role_sees_its_own_tabs_with_counts(loop):
    reported = report(loop, title="待立案的")
    filed = services.case_transition(actor=loop.dispatcher, case=report(loop, title="待派遣的"), action=Action.FILE)
    dispatched = services.case_transition(
        actor=loop.dispatcher,
        case=services.case_transition(actor=loop.dispatcher, case=report(loop, title="已派遣的"), action=Action.FILE),
        action=Action.DISPATCH,
        department=loop.department,
    )

    page = client_for(loop.dispatcher).get(reverse("events:workbench"))
    assert page.status_code == 200
    text = html(page)
    for label in ("待立案", "待派遣", "退回待改派", "延期待审批", "辖区全部"):
        assert label in text
    assert numbers(page) == [reported.number]  # the first tab: to file
    assert re.search(r'data-testid="count-to_file">1<', text)
    assert re.search(r'data-testid="count-to_dispatch">1<', text)
    assert re.search(r'data-testid="count-all">3<', text)
    assert numbers(client_for(loop.dispatcher).get(reverse("events:workbench") + "?tab=to_dispatch")) == [filed.number]

    inbox = client_for(loop.handler).get(reverse("events:workbench"))
    assert numbers(inbox) == [dispatched.number]
    assert "待签收" in html(inbox) and "处置中" in html(inbox)
    assert numbers(client_for(loop.other_handler).get(reverse("events:workbench"))) == []

    mine = client_for(loop.collector).get(reverse("events:workbench"))
    assert set(numbers(mine)) == {reported.number, filed.number, dispatched.number}
    assert "我的上报" in html(mine) and "待核查" in html(mine)
    # A worker of another community sees none of them.
    assert numbers(client_for(loop.stranger).get(reverse("events:workbench"))) == []


def test_supervisor_lists_overdue_supervised_and_escalated(loop):
    case = report(loop)
    late = Case.objects.get(pk=case.pk).due_at + dt.timedelta(days=3)
    with time_machine.travel(late):
        services.events_sweep()
        client = client_for(loop.supervisor)
        overdue = client.get(reverse("events:workbench"))
        assert numbers(overdue) == [case.number]
        assert "超期" in html(overdue)
        assert numbers(client.get(reverse("events:workbench") + "?tab=supervised")) == [case.number]
        assert numbers(client.get(reverse("events:workbench") + "?tab=escalated")) == [case.number]
        data = client.get(reverse("api:events-map") + "?show=escalated").json()
        assert [f["id"] for f in data["features"]] == [case.number]
        assert client.get(reverse("events:map")).status_code == 200


def test_htmx_requests_get_only_the_list(loop):
    case = report(loop)
    client = client_for(loop.dispatcher)
    response = client.get(reverse("events:workbench") + "?tab=to_file", headers={"HX-Request": "true"})
    body = html(response)
    assert response.status_code == 200 and "<html" not in body and 'id="workbench-body"' in body
    assert "HX-Request" in response["Vary"]
    assert numbers(response) == [case.number]


def test_filters_and_keyset_pages(loop, monkeypatch):
    made = [report(loop, title=f"事件{i:02d}") for i in range(7)]
    police = report(loop, code="0803", title="乱停车")
    client = client_for(loop.dispatcher)
    url = reverse("events:workbench")
    assert numbers(client.get(url + "?category=08")) == [police.number]  # a major category takes its minors
    assert numbers(client.get(url + "?category=0803")) == [police.number]
    assert numbers(client.get(url + f"?q={made[3].number}")) == [made[3].number]
    assert numbers(client.get(url + "?q=乱停")) == [police.number]
    assert numbers(client.get(url + f"?unit={SHIQIAO_COMMUNITY}"))  # a unit inside the area
    refused = client.get(url + "?unit=440113008001")  # another town: the list falls back and says why
    assert refused.status_code == 200 and "不在您的辖区内" in html(refused)

    monkeypatch.setattr(selectors, "PAGE_SIZE", 3)
    monkeypatch.setattr(selectors, "COUNT_CAP", 5)
    seen: list[str] = []
    target = url + "?tab=to_file"
    while target:
        page = client.get(target)
        seen += numbers(page)
        found = re.search(r'href="(\?[^"]*after=[^"]+)" hx-get', html(page))
        target = url + found.group(1).replace("&amp;", "&") if found else ""
    assert len(seen) == 8 and len(set(seen)) == 8  # every case once, most urgent (earliest deadline) first
    due = [Case.objects.get(number=n).due_at for n in seen]
    assert due == sorted(due)
    assert re.search(r'data-testid="count-to_file">5\+<', html(client.get(url)))
    # A list narrowed by a filter counts to its own, lower cap.
    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 2)
    narrowed = html(client.get(url + "?tab=to_file&state=reported"))
    assert re.search(r'data-testid="list-count">[^<]*2\+', narrowed)
    assert re.search(r'data-testid="count-to_file">5\+<', narrowed)


# --- intake -------------------------------------------------------------------------------------------


def report_form(loop, **overrides: str) -> dict[str, str]:
    data = {
        "major": "06",
        "category": "0601",
        "title": "路口垃圾堆积",
        "description": "德兴路与环城路交界处垃圾两天未清运",
        "address": "德兴路 12 号旁",
        "lon": f"{loop.point[0]:.7f}",
        "lat": f"{loop.point[1]:.7f}",
        "crs": "wgs84",
    }
    data.update(overrides)
    return data


def test_grid_worker_reports_in_wgs84_and_gcj02(loop):
    client = client_for(loop.collector)
    assert client.get(reverse("events:new")).status_code == 200
    response = client.post(reverse("events:new"), report_form(loop))
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == case_url(case)
    assert case.channel == "grid_worker" and case.reporter == loop.collector and case.grid.code == loop.grid
    assert case.state == State.REPORTED

    gx, gy = transform_point(loop.point[0], loop.point[1], src="wgs84", dst="gcj02")
    client.post(reverse("events:new"), report_form(loop, lon=f"{gx:.8f}", lat=f"{gy:.8f}", crs="gcj02"))
    second = Case.objects.exclude(pk=case.pk).get()
    assert abs(second.lon - loop.point[0]) < 1e-5 and abs(second.lat - loop.point[1]) < 1e-5  # stored in WGS-84
    assert second.grid.code == loop.grid

    page = client.get(case_url(second))
    assert "路口垃圾堆积" in html(page) and second.number in html(page)


def test_report_form_keeps_input_and_explains(loop):
    client = client_for(loop.collector)
    response = client.post(reverse("events:new"), report_form(loop, category="", lon="", lat=""))
    assert response.status_code == 400
    body = html(response)
    assert "请选择事件小类" in body and "请在地图上点选位置" in body
    assert "德兴路与环城路交界处垃圾两天未清运" in body  # nothing typed is lost
    assert not Case.objects.exists()
    # A point in another community is refused (the worker reports only in their own community).
    stranger_point = report_form(loop)
    response = client_for(loop.stranger).post(reverse("events:new"), stranger_point)
    assert response.status_code == 403, html(response)
    assert "本社区" in html(response)
    assert not Case.objects.exists()


def test_only_grid_workers_report_and_only_dispatchers_take_calls(loop, client):
    assert client.get(reverse("events:new")).status_code == 302  # anonymous: to the login page
    assert client_for(loop.dispatcher).get(reverse("events:new")).status_code == 403
    assert client_for(loop.handler).post(reverse("events:new"), report_form(loop)).status_code == 403
    assert client_for(loop.collector).get(reverse("events:phone")).status_code == 403
    assert not Case.objects.exists()


def test_phone_intake_with_a_community_and_no_point(loop):
    client = client_for(loop.dispatcher)
    page = client.get(reverse("events:phone"))
    assert page.status_code == 200 and "来电号码" in html(page)
    response = client.post(
        reverse("events:phone"),
        report_form(
            loop,
            lon="",
            lat="",
            community=SHIQIAO_COMMUNITY,
            reporter_name="陈先生",
            reporter_phone="13800138000",
            category="0803",
            title="小区门口车辆乱停",
        ),
    )
    case = Case.objects.get()
    assert response.status_code == 302
    assert case.channel == "phone" and case.community.code == SHIQIAO_COMMUNITY and case.grid is None
    assert case.reporter_phone_masked == "138****8000"
    body = html(client.get(case_url(case)))
    assert "138****8000" in body and "13800138000" not in body and "电话受理" in body


# --- the case page ------------------------------------------------------------------------------------


def timeline_actions(response: Any) -> list[str]:
    return re.findall(r'data-testid="timeline-entry" data-action="([^"]+)"', html(response))


def test_the_whole_loop_through_the_case_page(loop):
    case = report(loop)
    dispatcher, handler, collector, supervisor = (
        client_for(loop.dispatcher),
        client_for(loop.handler),
        client_for(loop.collector),
        client_for(loop.supervisor),
    )
    page = dispatcher.get(case_url(case))
    assert 'data-testid="do-file"' in html(page) and 'data-testid="do-reject"' in html(page)
    assert 'data-testid="do-file"' not in html(collector.get(case_url(case)))  # the collector does not file

    assert post_action(dispatcher, case, "file").status_code == 302
    page = dispatcher.get(case_url(case))
    assert 'data-testid="department"' in html(page) and loop.department.name in html(page)
    assert post_action(dispatcher, case, "dispatch", department=loop.department.code).status_code == 302
    assert Case.objects.get(pk=case.pk).department == loop.department

    assert post_action(handler, case, "accept").status_code == 302
    response = handler.post(
        case_url(case),
        {"form": "extension_request", "amount": "1", "unit": "days", "reason": "需协调环卫车辆", "version": "4"},
    )
    assert response.status_code == 302, html(response)
    assert CaseFlag.objects.get(case=case, kind="ext_request").hours == 7
    page = supervisor.get(case_url(case))
    assert 'data-testid="extension-decide-form"' in html(page) and "需协调环卫车辆" in html(page)
    fresh = Case.objects.get(pk=case.pk)
    response = supervisor.post(
        case_url(case), {"form": "extension_decide", "decision": "approve", "version": str(fresh.version)}
    )
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).extension_hours == 7

    assert post_action(handler, case, "handle", reason="已清运完毕").status_code == 302
    page = collector.get(case_url(case))
    assert 'data-testid="do-verify"' in html(page) and 'data-testid="do-rework"' in html(page)
    assert post_action(collector, case, "verify", reason="现场已清理干净").status_code == 302
    assert Case.objects.get(pk=case.pk).state == State.CLOSED

    page = supervisor.get(case_url(case))
    assert timeline_actions(page) == [
        "report",
        "file",
        "dispatch",
        "accept",
        "ext_request",
        "ext_approved",
        "handle",
        "verify",
    ]
    body = html(page)
    assert "已清运完毕" in body and "现场已清理干净" in body and loop.department.name in body
    assert body.count('data-testid="step-time"') == 5  # file, dispatch, accept, handle, verify: used / limit
    assert "时限 1 工作小时" in body
    # Reopening is not an ordinary move: only a pending request from a negative evaluation is decided.
    assert 'data-testid="do-reopen"' not in body and 'data-testid="reopen-decide-form"' not in body
    assert 'data-testid="timeline-current"' not in body
    before = state_of(case)
    response = post_action(supervisor, case, "reopen", reason="主动重办")
    assert response.status_code == 403 and "没有待审批的重新办理申请" in html(response)
    assert state_of(case) == before


def test_refusals_on_the_case_page_change_nothing(loop):
    case = services.case_transition(actor=loop.dispatcher, case=report(loop), action=Action.FILE)
    before = state_of(case)
    # The handler has no business with a filed case that is not theirs: it reads as missing.
    assert client_for(loop.handler).get(case_url(case)).status_code == 404
    assert post_action(client_for(loop.handler), case, "dispatch", department=loop.department.code).status_code == 404
    # A worker of another community cannot see it either.
    assert client_for(loop.stranger).get(case_url(case)).status_code == 404
    # The collector can see it but not dispatch it: refused on the page, with the reason.
    response = post_action(client_for(loop.collector), case, "dispatch", department=loop.department.code)
    assert response.status_code == 403 and "事件中心" in html(response)
    # A reason is required to cancel.
    response = post_action(client_for(loop.dispatcher), case, "cancel", reason="")
    assert response.status_code == 400 and "请填写说明或原因" in html(response)
    assert state_of(case) == before
    # A stale page: someone else acted first.
    response = client_for(loop.dispatcher).post(
        case_url(case), {"form": "transition", "action": "dispatch", "version": "1", "department": loop.department.code}
    )
    assert response.status_code == 409 and "已被他人处理" in html(response)
    assert state_of(case) == before
    # Anonymous: to the login page.
    assert Client().get(case_url(case)).status_code == 302


def test_a_returned_case_leaves_the_department_and_goes_back_to_the_centre(loop):
    case = services.case_transition(
        actor=loop.dispatcher,
        case=services.case_transition(actor=loop.dispatcher, case=report(loop), action=Action.FILE),
        action=Action.DISPATCH,
        department=loop.department,
    )
    response = post_action(client_for(loop.handler), case, "return", reason="不属本部门职责")
    assert response.status_code == 302 and response["Location"] == reverse("events:workbench")
    returned = client_for(loop.dispatcher).get(reverse("events:workbench") + "?tab=returned")
    assert numbers(returned) == [case.number]
    page = client_for(loop.dispatcher).get(case_url(case))
    assert "不属本部门职责" in html(page) and loop.department.name in html(page)  # who returned it, and why


def test_deadlines_in_an_unloaded_year_are_provisional(loop):
    # 31 December after office hours: the filing deadline falls on the first working day of next year,
    # whose holiday arrangement is not loaded.
    with time_machine.travel(dt.datetime(2026, 12, 31, 18, 0, tzinfo=dt.UTC)):
        case = report(loop)
        assert Case.objects.get(pk=case.pk).due_provisional
        client = client_for(loop.dispatcher)
        assert "暂定" in html(client.get(reverse("events:workbench")))
        page = html(client.get(case_url(case)))
        assert 'data-testid="current-due"' in page
        due = re.search(r'data-testid="current-due">(.*?)</dd>', page, re.S)
        assert due and "暂定" in due.group(1)
    ordinary = report(loop)
    page = html(client_for(loop.dispatcher).get(case_url(ordinary)))
    due = re.search(r'data-testid="current-due">(.*?)</dd>', page, re.S)
    assert due and "暂定" not in due.group(1)


def test_scope_of_reads(loop, make_user):
    case = report(loop)
    assert client_for(loop.supervisor).get(case_url(case)).status_code == 200
    assert client_for(loop.peer).get(case_url(case)).status_code == 200  # same grid
    other_town = make_user("supervisor", "440113008000", username="shatou_supervisor")
    assert client_for(other_town).get(case_url(case)).status_code == 404
    assert numbers(client_for(other_town).get(reverse("events:workbench") + "?tab=all")) == []
    assert client_for(make_user("town_admin", SHIQIAO)).get(case_url(case)).status_code == 200
    # Roles without events in their work see neither the case nor a workbench.
    for role, unit in (("community_clerk", SHIQIAO_COMMUNITY), ("auditor", "440113000000")):
        other = client_for(make_user(role, unit))
        assert other.get(case_url(case)).status_code == 403
        assert other.get(reverse("events:workbench")).status_code == 403
        assert other.get(reverse("events:map")).status_code == 403


# --- photos, duplicates, evaluation --------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media: Any) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()) if media.exists() else []


def photo(name: str = "现场.jpg") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(out, "JPEG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


def test_report_with_photos_stores_them_and_shows_thumbnails(loop, media):
    client = client_for(loop.collector)
    page = html(client.get(reverse("events:new")))
    assert 'enctype="multipart/form-data"' in page and 'name="photos" multiple' in page
    assert 'accept="image/jpeg,image/png,image/webp,application/pdf"' in page
    response = client.post(reverse("events:new"), {**report_form(loop), "photos": [photo("a.jpg"), photo("b.jpg")]})
    case = Case.objects.get()
    assert response.status_code == 302, html(response)
    stored = list(Attachment.objects.filter(case=case).order_by("id"))
    assert [(a.name, a.stage, a.kind) for a in stored] == [("a.jpg", "report", "photo"), ("b.jpg", "report", "photo")]
    assert all(a.uploaded_by == loop.collector and a.thumbnail_name for a in stored)

    body = html(client.get(case_url(case)))
    assert body.count('data-testid="thumbnail"') == 2 and 'data-stage="report"' in body
    thumb = reverse("events_public:attachment-variant", kwargs={"attachment_id": stored[0].pk, "variant": "thumb"})
    original = reverse("events_public:attachment", kwargs={"attachment_id": stored[0].pk})
    assert f'src="{thumb}"' in body and f'href="{original}"' in body
    served = client.get(thumb)
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    # The department sees the photos once the case is dispatched to it; another community's worker never.
    assert client_for(loop.stranger).get(thumb).status_code == 404


def test_a_refused_file_leaves_no_case_behind_and_keeps_the_input(loop, media):
    client = client_for(loop.collector)
    fake = SimpleUploadedFile("x.jpg", PDF, content_type="image/jpeg")
    response = client.post(reverse("events:new"), {**report_form(loop), "photos": [photo("ok.jpg"), fake]})
    assert response.status_code == 400
    body = html(response)
    assert "x.jpg" in body and 'data-testid="photos-error"' in body
    assert "德兴路与环城路交界处垃圾两天未清运" in body and "路口垃圾堆积" in body and "德兴路 12 号旁" in body
    assert not Case.objects.exists() and not Attachment.objects.exists()
    assert stored_files(media) == []


def test_a_file_refused_while_storing_rolls_the_case_back(loop, media, monkeypatch):
    """Should the store refuse after the report was written (the checks passed), nothing is kept."""
    from civicgrid.events import attachments

    real = attachments.attachment_add
    calls = []

    def second_refused(**kwargs: Any) -> Any:
        calls.append(kwargs["upload"].name)
        if len(calls) == 2:
            raise ValidationFailed(fields={"file": ["文件“b.jpg”无法保存"]})
        return real(**kwargs)

    monkeypatch.setattr(attachments, "attachment_add", second_refused)
    client = client_for(loop.dispatcher)
    form = report_form(loop, community=SHIQIAO_COMMUNITY, reporter_name="陈先生")
    response = client.post(reverse("events:phone"), {**form, "photos": [photo("a.jpg"), photo("b.jpg")]})
    assert response.status_code == 400
    assert "b.jpg" in html(response) and "陈先生" in html(response)
    assert not Case.objects.exists() and not Attachment.objects.exists()
    assert stored_files(media) == []  # the first photo's files went with the rollback


def test_self_handling_with_a_photo_closes_the_case(loop, media):
    case = report(loop, code="0201", title="消防通道堵塞")  # a category grid workers may handle themselves
    client = client_for(loop.collector)
    page = html(client.get(case_url(case)))
    assert 'data-testid="do-self_handle"' in page and 'name="photos"' in page
    assert 'data-testid="do-self_handle"' not in html(client_for(loop.peer).get(case_url(case)))  # the reporter only
    assert 'data-testid="do-self_handle"' not in html(
        client.get(case_url(report(loop, code="0603")))
    )  # 占道经营: not self-fixable

    response = post_action(client, case, "self_handle", reason="已现场劝离")
    assert response.status_code == 400 and "自行处置需上传处置后照片" in html(response)
    assert Case.objects.get(pk=case.pk).state == State.REPORTED

    response = post_action(client, case, "self_handle", reason="已现场劝离", photos=photo("after.jpg"))
    assert response.status_code == 302, html(response)
    assert Case.objects.get(pk=case.pk).state == State.SELF_HANDLED
    assert Attachment.objects.get(case=case).stage == "self_handle"
    body = html(client.get(case_url(case)))
    assert 'data-stage="self_handle"' in body and 'data-testid="thumbnail"' in body


def test_handling_feedback_with_photos_and_a_refused_photo_changes_nothing(loop, media):
    case = services.case_transition(actor=loop.dispatcher, case=report(loop), action=Action.FILE)
    case = services.case_transition(
        actor=loop.dispatcher, case=case, action=Action.DISPATCH, department=loop.department
    )
    case = services.case_transition(actor=loop.handler, case=case, action=Action.ACCEPT)
    client = client_for(loop.handler)
    assert 'name="photos"' in html(client.get(case_url(case)))
    before = state_of(case)
    bad = SimpleUploadedFile("x.jpg", PDF, content_type="image/jpeg")
    response = post_action(client, case, "handle", reason="已清运", photos=[photo("a.jpg"), bad])
    assert response.status_code == 400 and "x.jpg" in html(response) and "已清运" in html(response)
    assert state_of(case) == before and not Attachment.objects.exists() and stored_files(media) == []

    assert post_action(client, case, "handle", reason="已清运", photos=photo("done.jpg")).status_code == 302
    assert Case.objects.get(pk=case.pk).state == State.HANDLED
    assert Attachment.objects.get(case=case).stage == "handle"


def test_merge_into_a_duplicate_from_the_case_page(loop):
    main = report(loop, title="路口垃圾")
    duplicate = report(loop, title="路口垃圾又反映")
    other = report(loop, code="0803", title="乱停车")  # another category: not a candidate
    client = client_for(loop.dispatcher)
    page = html(client.get(case_url(duplicate)))
    assert re.findall(r'data-testid="duplicate" data-number="([^"]+)"', page) == [main.number]
    assert other.number not in page and "合并到此事件" in page
    assert "合并到此事件" not in html(client_for(loop.collector).get(case_url(duplicate)))  # dispatchers only

    before = state_of(duplicate)
    response = client.post(
        case_url(duplicate), {"form": "merge", "main": main.number, "reason": " ", "version": str(before[1])}
    )
    assert response.status_code == 400 and "请填写说明或原因" in html(response)
    assert state_of(duplicate) == before

    response = client.post(
        case_url(duplicate), {"form": "merge", "main": main.number, "reason": "同一处垃圾", "version": str(before[1])}
    )
    assert response.status_code == 302, html(response)
    merged = Case.objects.get(pk=duplicate.pk)
    assert merged.state == State.MERGED and merged.duplicate_of_id == main.pk
    body = html(client.get(case_url(duplicate)))
    assert 'data-testid="merged-into"' in body and f'href="{case_url(main)}"' in body and "已合并到" in body
    body = html(client.get(case_url(main)))
    assert 'data-testid="merged-duplicates"' in body and f'href="{case_url(duplicate)}"' in body


def closed_with_reopen_request(loop) -> Case:
    case = services.case_transition(actor=loop.dispatcher, case=report(loop), action=Action.FILE)
    case = services.case_transition(
        actor=loop.dispatcher, case=case, action=Action.DISPATCH, department=loop.department
    )
    case = services.case_transition(actor=loop.handler, case=case, action=Action.ACCEPT)
    case = services.case_transition(actor=loop.handler, case=case, action=Action.HANDLE, reason="已清运")
    case = services.case_transition(actor=loop.collector, case=case, action=Action.VERIFY)
    feedback.evaluation_submit(case=case, rating=1, comment="垃圾还在", by_user=loop.collector, reopen_requested=True)
    return Case.objects.get(pk=case.pk)


def test_reopen_approved_from_the_case_page(loop):
    case = closed_with_reopen_request(loop)
    page = html(client_for(loop.dispatcher).get(case_url(case)))
    assert "★☆☆☆☆" in page and "垃圾还在" in page and "待督办人员审批" in page
    assert 'data-testid="reopen-decide-form"' not in page  # supervisors decide
    client = client_for(loop.supervisor)
    page = html(client.get(case_url(case)))
    assert 'data-testid="reopen-decide-form"' in page and 'data-testid="do-reopen-approve"' in page
    assert 'data-testid="do-reopen"' not in page  # the decision form, not a second way to reopen

    version = str(Case.objects.get(pk=case.pk).version)
    response = client.post(case_url(case), {"form": "reopen_decide", "decision": "approve", "version": version})
    assert response.status_code == 400 and "请填写审批意见" in html(response)
    assert Case.objects.get(pk=case.pk).state == State.CLOSED

    response = client.post(
        case_url(case), {"form": "reopen_decide", "decision": "approve", "reason": "属实", "version": version}
    )
    assert response.status_code == 302, html(response)
    assert Case.objects.get(pk=case.pk).state == State.DISPATCHED
    body = html(client.get(case_url(case)))
    assert "已同意，重新办理" in body and 'data-testid="reopen-decide-form"' not in body


def test_reopen_denied_from_the_case_page(loop):
    case = closed_with_reopen_request(loop)
    client = client_for(loop.supervisor)
    version = str(Case.objects.get(pk=case.pk).version)
    response = client.post(
        case_url(case), {"form": "reopen_decide", "decision": "deny", "reason": "现场已核实清理", "version": version}
    )
    assert response.status_code == 302, html(response)
    assert Case.objects.get(pk=case.pk).state == State.CLOSED
    assert CaseFlag.objects.filter(case=case, kind=CaseFlag.Kind.REOPEN_DENIED, note="现场已核实清理").exists()
    body = html(client.get(case_url(case)))
    assert "已驳回" in body and 'data-testid="reopen-decide-form"' not in body


def test_pages_make_a_bounded_number_of_queries(loop, django_assert_max_num_queries):
    """No query per row: a workbench page and a case page cost the same with 3 cases or 30."""
    cases = [report(loop, title=f"事件{i}") for i in range(30)]
    case = services.case_transition(actor=loop.dispatcher, case=cases[0], action=Action.FILE)
    client = client_for(loop.dispatcher)
    client.get(reverse("events:workbench"))  # warm the calendar and the session
    with django_assert_max_num_queries(16):
        assert len(numbers(client.get(reverse("events:workbench") + "?tab=all"))) == 30
    with django_assert_max_num_queries(16):
        assert client.get(case_url(case)).status_code == 200


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (0.05, "3 分钟"),
        (0.999, "60 分钟"),
        (1, "1 工作小时"),
        (3.5, "3.5 工作小时"),
        (6.99, "1 个工作日"),
        (7, "1 个工作日"),
        (10.5, "1.5 个工作日"),
        (21, "3 个工作日"),
    ],
)
def test_working_time_reads_naturally(hours, text):
    from civicgrid.core.workcalendar import WorkCalendar
    from civicgrid.events.views import hours_text

    assert hours_text(hours, WorkCalendar(lambda year: None)) == text


def test_the_timeline_names_each_actor_with_the_role_in_the_readers_language(loop):
    case = services.case_transition(actor=loop.dispatcher, case=report(loop), action=Action.FILE)
    client = client_for(loop.dispatcher)
    page = html(client.get(case_url(case)))
    dispatcher, collector = loop.dispatcher.display_name, loop.collector.display_name
    assert f"{dispatcher}（事件中心派遣员）" in page and f"{collector}（网格员）" in page
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = html(client.get(case_url(case)))
    assert f"{dispatcher} (Incident center dispatcher)" in page and f"{collector} (Grid worker)" in page
    # A row recorded before roles were kept as codes shows its label as it was recorded.
    CaseHistory.objects.filter(case=case, action=Action.FILE).update(data={}, actor_label="旧记录（事件中心派遣员）")
    assert "旧记录（事件中心派遣员）" in html(client.get(case_url(case)))


def test_the_recorded_actor_label_is_in_the_default_language_whatever_the_actors(loop):
    from django.utils import translation

    with translation.override("en"):
        case = services.case_transition(actor=loop.dispatcher, case=report(loop), action=Action.FILE)
    row = CaseHistory.objects.get(case=case, action=Action.FILE)
    assert row.actor_label == f"{loop.dispatcher.display_name}（事件中心派遣员）"
