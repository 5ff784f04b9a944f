"""The rest of the event API: attachments (upload checked by content, list, the original with its EXIF for
staff, the public copy and thumbnail without), self-handling and handling with files (in the same
multipart request, or uploaded first and cited by id), the reporter's evaluation (signed in, or by the
tracking token) and the supervisor's reopening decision, duplicate suggestions and merging, and the
administrators' dispatch rules, time-limit versions and working-day calendar. Each: success, refusal
(with nothing changed), a bad input with its Chinese message naming the field; the schema lists them."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import ExifTags, Image

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core.models import CalendarDay, CalendarYear
from civicgrid.events import services
from civicgrid.events.models import (
    Attachment,
    Case,
    CaseFlag,
    CaseHistory,
    Category,
    DispatchRule,
    Evaluation,
    TimeLimit,
)
from civicgrid.events.workflow import Action, State
from tests.conftest import DISTRICT, SHIQIAO
from tests.events.conftest import report
from tests.events.test_admin_pages import year_2027_csv
from tests.events.test_api import api_for, error
from tests.events.test_attachments import PDF, jpeg_with_gps

pytestmark = pytest.mark.django_db

CASES = "/api/events/cases/"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def admin(make_user):
    return make_user(Role.DISTRICT_ADMIN, DISTRICT, username="district_admin")


def stored_files(media: Any) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()) if media.exists() else []


def photo(name: str = "现场.jpg", data: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data if data is not None else jpeg_with_gps(), content_type="image/jpeg")


def content(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def state_of(case: Case) -> tuple[str, int, int]:
    row = Case.objects.get(pk=case.pk)
    return row.state, row.version, CaseHistory.objects.filter(case=case).count()


def fields(response: Any, status: int, code: str) -> dict[str, list[str]]:
    body = error(response, status, code)
    return body.get("fields", {})


def upload(user: Any, case: Case, file: Any, stage: str = "") -> Any:
    return api_for(user).post(f"{CASES}{case.number}/attachments/", {"file": file, "stage": stage}, format="multipart")


def closed(loop: Any, case: Case) -> Case:
    case = services.case_transition(actor=loop.dispatcher, case=case, action=Action.FILE)
    case = services.case_transition(
        actor=loop.dispatcher, case=case, action=Action.DISPATCH, department=loop.department
    )
    case = services.case_transition(actor=loop.handler, case=case, action=Action.ACCEPT)
    case = services.case_transition(actor=loop.handler, case=case, action=Action.HANDLE, reason="内部备注：已清运")
    return services.case_transition(actor=loop.collector, case=case, action=Action.VERIFY)


# --- attachments --------------------------------------------------------------------------------------


def test_upload_list_and_fetch_attachments_with_the_pages_access_and_exif_rules(loop, media):
    case = report(loop)
    data = jpeg_with_gps()
    response = upload(loop.collector, case, photo("现场.jpg", data), stage="report")
    assert response.status_code == 201, response.content.decode()
    body = response.json()
    assert body["kind"] == "photo" and body["stage"] == "report" and body["stage_label"] == "上报"
    assert body["name"] == "现场.jpg" and body["content_type"] == "image/jpeg" and body["size"] == len(data)
    assert body["url"] == f"/api/events/attachments/{body['id']}/"
    assert body["thumbnail_url"].endswith("/thumb/") and body["public_url"].endswith("/public/")

    listed = api_for(loop.dispatcher).get(f"{CASES}{case.number}/attachments/")
    assert listed.status_code == 200 and [a["id"] for a in listed.json()] == [body["id"]]
    assert listed.json()[0]["uploaded_by"].startswith("测试")

    # The original is evidence, with its GPS position, for staff who see the case; each fetch journalled.
    original = api_for(loop.supervisor).get(body["url"])
    assert original.status_code == 200 and content(original) == data and original["Content-Type"] == "image/jpeg"
    assert original["X-Content-Type-Options"] == "nosniff"
    assert AuditEntry.objects.filter(action="events.attachment_view", actor_id=loop.supervisor.pk).exists()
    public = Image.open(io.BytesIO(content(api_for(loop.collector).get(body["public_url"]))))
    assert not public.getexif().get_ifd(ExifTags.IFD.GPSInfo) and len(public.getexif()) == 0
    thumb = api_for(loop.collector).get(body["thumbnail_url"])
    assert thumb.status_code == 200 and Image.open(io.BytesIO(content(thumb))).size == (240, 320)
    error(api_for(loop.collector).get(f"/api/events/attachments/{body['id']}/nonsense/"), 404, "not_found")

    # Out of reach reads as missing (and the refusal is journalled); anonymous is 401.
    for user in (loop.handler, loop.stranger, loop.other_handler):
        error(api_for(user).get(body["url"]), 404, "not_found")
        error(api_for(user).get(f"{CASES}{case.number}/attachments/"), 404, "not_found")
        assert AuditEntry.objects.filter(
            action="events.attachment_view", actor_id=user.pk, result=AuditEntry.Result.DENIED
        ).exists()
    error(api_for().get(body["url"]), 401, "not_authenticated")
    # Dispatched to the department: now its handlers see the case's files.
    case = services.case_transition(actor=loop.dispatcher, case=case, action=Action.FILE)
    services.case_transition(actor=loop.dispatcher, case=case, action=Action.DISPATCH, department=loop.department)
    assert api_for(loop.handler).get(body["url"]).status_code == 200


def test_upload_refusals_store_nothing(loop, admin, media):
    case = report(loop)
    # A district administrator sees the case but is no working side of the loop.
    body = error(upload(admin, case, photo()), 403, "permission_denied")
    assert body["message"] == "您不能为该事件上传附件"
    error(upload(loop.stranger, case, photo()), 404, "not_found")
    error(upload(None, case, photo()), 401, "not_authenticated")
    problems = fields(upload(loop.collector, case, SimpleUploadedFile("x.jpg", PDF, "image/jpeg")), 400, "invalid")
    assert "x.jpg" in problems["file"][0] and "PDF" in problems["file"][0]
    problems = fields(api_for(loop.collector).post(f"{CASES}{case.number}/attachments/", {}), 400, "invalid")
    assert problems["file"] == ["请选择要上传的照片或文件"]
    problems = fields(upload(loop.collector, case, photo(), stage="fly"), 400, "invalid")
    assert "stage" in problems
    assert not Attachment.objects.exists() and stored_files(media) == []


# --- self-handling and handling with files ------------------------------------------------------------


def transition(user: Any, case: Case, action: str, **data: Any) -> Any:
    return api_for(user).post(f"{CASES}{case.number}/transitions/", {"action": action, **data}, format="multipart")


def test_self_handling_with_the_photos_in_the_same_request(loop, media):
    case = report(loop, code="0201", title="消防通道堵塞")  # grid workers may fix it on the spot
    before = state_of(case)
    problems = fields(transition(loop.collector, case, "self_handle", reason="已劝离"), 400, "invalid")
    assert problems["attachments"] == ["自行处置需上传处置后照片"]
    bad = SimpleUploadedFile("坏.jpg", PDF, content_type="image/jpeg")
    problems = fields(
        transition(loop.collector, case, "self_handle", reason="已劝离", files=[photo("a.jpg"), bad]), 400, "invalid"
    )
    assert "坏.jpg" in problems["files"][0]
    # A worker of the same grid is on the collecting side, but only the reporter self-handles: the photo
    # stored before the service refused goes with the rollback.
    problems = fields(transition(loop.peer, case, "self_handle", reason="已劝离", files=[photo()]), 400, "invalid")
    assert problems["action"] == ["只有上报人可以自行处置"]
    error(transition(loop.dispatcher, case, "self_handle", files=[photo()]), 403, "transition_refused")
    assert state_of(case) == before and not Attachment.objects.exists() and stored_files(media) == []

    response = transition(loop.collector, case, "self_handle", reason="已劝离", files=[photo("after.jpg")])
    assert response.status_code == 200, response.content.decode()
    assert response.json()["state"] == State.SELF_HANDLED
    assert [(a.name, a.stage) for a in Attachment.objects.filter(case=case)] == [("after.jpg", "self_handle")]


def test_self_handling_citing_photos_uploaded_first(loop, media):
    case = report(loop, code="0201", title="消防通道堵塞")
    at_report = upload(loop.collector, case, photo("before.jpg"), stage="report").json()
    by_peer = upload(loop.peer, case, photo("peer.jpg"), stage="self_handle").json()
    before = state_of(case)
    for cited in (at_report, by_peer):  # another stage; someone else's file
        problems = fields(
            api_for(loop.collector).post(
                f"{CASES}{case.number}/transitions/",
                {"action": "self_handle", "attachment_ids": [cited["id"]]},
                format="json",
            ),
            400,
            "invalid",
        )
        assert problems["attachment_ids"] == [f"附件 {cited['id']} 不是您在“自行处置”环节为该事件上传的文件"]
    problems = fields(
        api_for(loop.dispatcher).post(
            f"{CASES}{case.number}/transitions/", {"action": "file", "attachment_ids": [at_report["id"]]}, format="json"
        ),
        400,
        "invalid",
    )
    assert problems["attachment_ids"] == ["“立案”不附带附件"]
    assert state_of(case) == before

    mine = upload(loop.collector, case, photo("after.jpg"), stage="self_handle").json()
    response = api_for(loop.collector).post(
        f"{CASES}{case.number}/transitions/",
        {"action": "self_handle", "reason": "已清理", "attachment_ids": [mine["id"]]},
        format="json",
    )
    assert response.status_code == 200, response.content.decode()
    assert response.json()["state"] == State.SELF_HANDLED


def test_handling_feedback_with_photos(loop, media):
    case = services.case_transition(actor=loop.dispatcher, case=report(loop), action=Action.FILE)
    case = services.case_transition(
        actor=loop.dispatcher, case=case, action=Action.DISPATCH, department=loop.department
    )
    case = services.case_transition(actor=loop.handler, case=case, action=Action.ACCEPT)
    response = transition(loop.handler, case, "handle", reason="已清运", files=[photo("done.jpg"), photo("b.jpg")])
    assert response.status_code == 200, response.content.decode()
    assert response.json()["state"] == State.HANDLED
    assert sorted(Attachment.objects.filter(case=case).values_list("stage", flat=True)) == ["handle", "handle"]


# --- evaluation and reopening -------------------------------------------------------------------------


def evaluate(user: Any, case: Case, **data: Any) -> Any:
    return api_for(user).post(f"{CASES}{case.number}/evaluation/", data, format="json")


def test_the_signed_in_reporter_evaluates_and_a_supervisor_reopens(loop):
    case = closed(loop, report(loop))
    url = f"{CASES}{case.number}/evaluation/"
    mine = api_for(loop.collector).get(url).json()
    assert mine["can_evaluate"] is True and mine["evaluation"] is None and mine["reopen"]["state"] == ""
    assert api_for(loop.dispatcher).get(url).json()["can_evaluate"] is False

    body = error(evaluate(loop.peer, case, rating=4), 403, "permission_denied")
    assert body["message"] == "只有反映人可以评价该事件"
    assert fields(evaluate(loop.collector, case, rating=9), 400, "invalid")["rating"] == ["请选择 1 到 5 星的满意度"]
    problems = fields(evaluate(loop.collector, case, rating=3, reopen_requested=True), 400, "invalid")
    assert "2 星及以下" in problems["reopen_requested"][0]
    error(evaluate(loop.stranger, case, rating=1), 404, "not_found")
    assert not Evaluation.objects.exists()

    response = evaluate(loop.collector, case, rating=1, comment="垃圾还在", reopen_requested=True)
    assert response.status_code == 201, response.content.decode()
    body = response.json()
    assert body["evaluation"]["rating"] == 1 and body["evaluation"]["by"] == "reporter"
    assert body["reopen"]["state"] == "pending" and body["reopen"]["note"] == "垃圾还在"
    assert body["can_evaluate"] is False and body["can_decide"] is False
    error(evaluate(loop.collector, case, rating=5), 409, "conflict")
    assert api_for(loop.supervisor).get(url).json()["can_decide"] is True

    decide = f"{CASES}{case.number}/reopen/decision/"
    before = state_of(case)
    error(
        api_for(loop.dispatcher).post(decide, {"approve": True, "reason": "同意"}, format="json"),
        403,
        "transition_refused",
    )
    problems = fields(api_for(loop.supervisor).post(decide, {"approve": True}, format="json"), 400, "invalid")
    assert problems["reason"] == ["请填写审批意见"]
    assert state_of(case) == before
    response = api_for(loop.supervisor).post(decide, {"approve": True, "reason": "群众反映属实"}, format="json")
    assert response.status_code == 200, response.content.decode()
    assert (
        response.json()["state"] == State.DISPATCHED and response.json()["department"]["code"] == loop.department.code
    )
    assert api_for(loop.supervisor).get(url).json()["reopen"]["state"] == "approved"
    error(api_for(loop.supervisor).post(decide, {"approve": True, "reason": "再次"}, format="json"), 409, "conflict")


def citizen_case(loop: Any) -> Case:
    return services.case_report(
        actor=AnonymousUser(),
        report=services.Report(
            title="垃圾堆积",
            description="路口垃圾两天未清运",
            category=Category.objects.get(code="0601"),
            channel="citizen",
            lon=loop.point[0],
            lat=loop.point[1],
        ),
    )


def test_a_citizen_evaluates_with_the_tracking_token(loop):
    case = citizen_case(loop)
    url = f"/api/events/track/{case.token}/evaluation/"
    error(api_for().post(url, {"rating": 5}, format="json"), 409, "conflict")  # not closed yet
    case = closed(loop, case)
    body = api_for().get(url).json()
    assert body["number"] == case.number and body["state"] == "closed" and body["can_evaluate"] is True
    error(api_for().get(f"/api/events/track/{'x' * 24}/evaluation/"), 404, "not_found")
    error(api_for().post(f"/api/events/track/{'x' * 24}/evaluation/", {"rating": 5}, format="json"), 404, "not_found")
    assert "rating" in fields(api_for().post(url, {"rating": "很好"}, format="json"), 400, "invalid")
    assert not Evaluation.objects.exists()

    response = api_for().post(url, {"rating": 2, "comment": "没处理干净", "reopen_requested": True}, format="json")
    assert response.status_code == 201, response.content.decode()
    assert response.json()["reopen_state"] == "pending" and response.json()["evaluation"]["by"] == "token"
    assert Evaluation.objects.get(case=case).by_user is None
    decided = api_for(loop.supervisor).post(
        f"{CASES}{case.number}/reopen/decision/", {"approve": False, "reason": "已现场核实处置到位"}, format="json"
    )
    assert decided.status_code == 200 and decided.json()["state"] == State.CLOSED
    assert CaseFlag.objects.filter(case=case, kind=CaseFlag.Kind.REOPEN_DENIED).exists()
    tracked = api_for().get(url)
    assert tracked.json()["reopen_state"] == "denied"
    text = tracked.content.decode()
    assert "已现场核实" not in text and "内部备注" not in text and "测试" not in text  # nothing internal leaves


# --- duplicates and merging ---------------------------------------------------------------------------


def test_duplicates_are_suggested_to_the_centre_and_merged(loop):
    main = report(loop, title="路口垃圾")
    duplicate = report(loop, title="路口垃圾又反映")
    report(loop, code="0803", title="乱停车")  # another category: not a candidate
    url = f"{CASES}{duplicate.number}/duplicates/"
    body = api_for(loop.dispatcher).get(url).json()
    assert [(r["case"]["number"], r["distance_m"]) for r in body["results"]] == [(main.number, 0.0)]
    assert body["radius_m"] == 100 and body["days"] == 7
    assert api_for(loop.dispatcher).get(url + "?radius_m=5&days=1").json()["radius_m"] == 5
    assert "radius_m" in fields(api_for(loop.dispatcher).get(url + "?radius_m=far"), 400, "invalid")
    assert fields(api_for(loop.dispatcher).get(url + "?days=0"), 400, "invalid")["days"] == [
        "days 应为 1 到 365 之间的数字"
    ]
    error(api_for(loop.collector).get(url), 403, "permission_denied")
    assert AuditEntry.objects.filter(action="events.duplicates", actor_id=loop.collector.pk).exists()
    error(api_for(loop.stranger).get(url), 404, "not_found")

    merge = f"{CASES}{duplicate.number}/merge/"
    before = state_of(duplicate)
    error(
        api_for(loop.collector).post(merge, {"main": main.number, "reason": "重复"}, format="json"),
        403,
        "transition_refused",
    )
    problems = fields(
        api_for(loop.dispatcher).post(merge, {"main": "NOPE", "reason": "重复"}, format="json"), 400, "invalid"
    )
    assert problems["main"] == ["找不到事件 NOPE，或不在您的辖区内"]
    problems = fields(
        api_for(loop.dispatcher).post(merge, {"main": duplicate.number, "reason": "x"}, format="json"), 400, "invalid"
    )
    assert problems["main"] == ["不能将事件合并到其自身"]
    assert fields(api_for(loop.dispatcher).post(merge, {"main": main.number}, format="json"), 400, "invalid")["reason"]
    stale = {"main": main.number, "reason": "重复", "expected_version": before[1] + 1}
    error(api_for(loop.dispatcher).post(merge, stale, format="json"), 409, "conflict")
    assert state_of(duplicate) == before

    response = api_for(loop.dispatcher).post(merge, {"main": main.number, "reason": "同一处垃圾"}, format="json")
    assert response.status_code == 200, response.content.decode()
    assert response.json()["state"] == State.MERGED and response.json()["merged_into"] == main.number
    assert api_for(loop.dispatcher).get(f"{CASES}{main.number}/").json()["merged_duplicates"] == [duplicate.number]
    assert api_for(loop.dispatcher).get(f"{CASES}{main.number}/duplicates/").json()["results"] == []


# --- administrators: dispatch rules, time limits, calendar --------------------------------------------


RULES = "/api/events/dispatch-rules/"


def test_dispatch_rules(loop, admin):
    for user in (loop.dispatcher, loop.supervisor):
        error(api_for(user).get(RULES), 403, "permission_denied")
        error(
            api_for(user).post(RULES, {"name": "x", "department": loop.department.code}, format="json"),
            403,
            "permission_denied",
        )
    error(api_for().get(RULES), 401, "not_authenticated")
    assert not DispatchRule.objects.exists()
    problems = fields(api_for(admin).post(RULES, {}, format="json"), 400, "invalid")
    assert problems["name"] == ["请填写规则名称"] and problems["department"] == ["请选择派往部门"]
    problems = fields(
        api_for(admin).post(
            RULES, {"name": "夜间", "department": loop.department.code, "time_from": "8点"}, format="json"
        ),
        400,
        "invalid",
    )
    assert problems["time_from"] == ["时间格式应为 HH:MM，如 08:30"]
    assert not DispatchRule.objects.exists()

    response = api_for(admin).post(
        RULES,
        {"name": "市桥市容", "category": "06", "area": SHIQIAO, "department": loop.department.code},
        format="json",
    )
    assert response.status_code == 201, response.content.decode()
    rule = response.json()
    assert rule["order"] == 1 and rule["active"] is True and rule["category"]["code"] == "06"
    case = services.case_transition(actor=loop.dispatcher, case=report(loop), action=Action.FILE)
    assert (
        api_for(loop.dispatcher).get(f"{CASES}{case.number}/").json()["dispatch"]["suggested"] == loop.department.code
    )

    second = (
        api_for(admin).post(RULES, {"name": "水务", "department": loop.other_department.code}, format="json").json()
    )
    moved = api_for(admin).post(f"{RULES}{second['id']}/move/", {"direction": "up"}, format="json").json()
    assert [r["name"] for r in moved] == ["水务", "市桥市容"]
    assert fields(
        api_for(admin).post(f"{RULES}{second['id']}/move/", {"direction": "left"}, format="json"), 400, "invalid"
    )["direction"] == ["方向应为上移或下移"]
    error(
        api_for(loop.dispatcher).post(f"{RULES}{second['id']}/move/", {"direction": "down"}, format="json"),
        403,
        "permission_denied",
    )

    edited = api_for(admin).patch(f"{RULES}{rule['id']}/", {"active": False, "weekdays": "1，2、3"}, format="json")
    assert edited.status_code == 200 and edited.json()["active"] is False and edited.json()["weekdays"] == "1,2,3"
    assert edited.json()["name"] == "市桥市容"  # what is not given is kept
    problems = fields(api_for(admin).patch(f"{RULES}{rule['id']}/", {"weekdays": "9"}, format="json"), 400, "invalid")
    assert "1–7" in problems["weekdays"][0]
    error(
        api_for(loop.dispatcher).patch(f"{RULES}{rule['id']}/", {"active": True}, format="json"),
        403,
        "permission_denied",
    )
    assert DispatchRule.objects.get(pk=rule["id"]).active is False
    assert api_for(admin).get(f"{RULES}{rule['id']}/").json()["weekdays"] == "1,2,3"
    error(api_for(admin).get(f"{RULES}999999/"), 404, "not_found")


LIMITS = "/api/events/time-limits/"


def test_time_limit_versions(loop, admin):
    rows = api_for(admin).get(LIMITS).json()
    row = next(r for r in rows if r["category"]["code"] == "0601")
    assert row["major"]["code"] == "06" and row["current"]["handle_value"] >= 1 and row["upcoming"] == []
    assert "category" in fields(api_for(admin).get(LIMITS + "?category=nope"), 400, "invalid")
    error(api_for(loop.supervisor).get(LIMITS), 403, "permission_denied")

    count = TimeLimit.objects.count()
    later = (timezone.now() + dt.timedelta(days=1)).isoformat()
    new = {"category": "0601", "handle_value": 3, "handle_unit": "days", "valid_from": later}
    error(api_for(loop.dispatcher).post(LIMITS, new, format="json"), 403, "permission_denied")
    past = {**new, "valid_from": (timezone.now() - dt.timedelta(days=1)).isoformat()}
    assert "不能早于现在" in fields(api_for(admin).post(LIMITS, past, format="json"), 400, "invalid")["valid_from"][0]
    problems = fields(api_for(admin).post(LIMITS, {**new, "category": "06"}, format="json"), 400, "invalid")
    assert problems["category"] == ["时限只能设置在事件小类上"]
    problems = fields(
        api_for(admin).post(LIMITS, {**new, "handle_value": 0, "handle_unit": "weeks"}, format="json"), 400, "invalid"
    )
    assert problems["handle_value"] == ["处置时限应在 1–999 之间"] and problems["handle_unit"] == [
        "单位应为工作小时或工作日"
    ]
    assert TimeLimit.objects.count() == count

    response = api_for(admin).post(LIMITS, {**new, "accept_hours": "0.5"}, format="json")
    assert response.status_code == 201, response.content.decode()
    assert response.json()["handle_value"] == 3 and response.json()["accept_hours"] == "0.50"
    row = api_for(admin).get(LIMITS + "?category=0601").json()[0]
    assert [v["id"] for v in row["upcoming"]] == [response.json()["id"]] and len(row["versions"]) == 2


CALENDAR = "/api/events/calendar/"


def test_working_calendar(loop, admin):
    body = api_for(admin).get(CALENDAR).json()
    assert 2026 in [y["year"] for y in body["years"]] and body["current"]["year"] == timezone.localdate().year
    year = api_for(admin).get(f"{CALENDAR}2026/").json()
    assert year["status"]["loaded"] is True and year["status"]["source"] == "chinese-calendar"
    assert any(d["name"].startswith("国庆") for d in year["holidays"]) and year["make_up_days"]
    assert api_for(admin).get(f"{CALENDAR}2027/").json()["status"]["provisional"] is True
    for user in (loop.dispatcher, loop.supervisor):
        error(api_for(user).get(CALENDAR), 403, "permission_denied")
        error(api_for(user).put(f"{CALENDAR}2027/", {"days": []}, format="json"), 403, "permission_denied")
        error(api_for(user).post(f"{CALENDAR}seed/", {}, format="json"), 403, "permission_denied")

    csv_file = SimpleUploadedFile("2027.csv", year_2027_csv().encode(), content_type="text/csv")
    dry = api_for(admin).post(f"{CALENDAR}import/", {"file": csv_file, "dry_run": "true"}, format="multipart")
    assert dry.status_code == 201, dry.content.decode()
    assert dry.json()["year"] == 2027 and dry.json()["dry_run"] is True and dry.json()["make_up_days"] == 1
    assert not CalendarYear.objects.filter(year=2027).exists()
    assert fields(api_for(admin).post(f"{CALENDAR}import/", {"text": " "}, format="json"), 400, "invalid")["file"]

    bad = api_for(admin).put(
        f"{CALENDAR}2027/", {"days": [{"date": "2027-13-01", "type": "holiday", "name": "元旦"}]}, format="json"
    )
    problems = fields(bad, 400, "calendar_rejected")
    assert problems["rows"] and problems["rows"][0].startswith("第 1 行")
    assert not CalendarDay.objects.filter(date__year=2027).exists()

    lines = [line.split(",") for line in year_2027_csv().strip().splitlines()[1:]]
    days = [{"date": d, "type": t, "name": n} for d, t, n in lines]
    response = api_for(admin).put(f"{CALENDAR}2027/", {"days": days, "note": "国务院办公厅通知"}, format="json")
    assert response.status_code == 200, response.content.decode()
    assert response.json()["holidays"] == len(days) - 1 and response.json()["replaced"] == ""
    status = api_for(admin).get(f"{CALENDAR}2027/").json()["status"]
    assert status["loaded"] is True and status["source"] == "administrator" and status["note"] == "国务院办公厅通知"

    seeded = api_for(admin).post(f"{CALENDAR}seed/", {}, format="json")
    assert seeded.status_code == 200 and seeded.json()["seeded"] == []  # the fixture seeded it already
    assert CalendarYear.objects.get(year=2027).source == "administrator"


# --- the schema ---------------------------------------------------------------------------------------


def test_openapi_documents_the_new_endpoints(loop, client):
    client.force_login(loop.dispatcher)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    expected = {
        "/api/events/cases/{number}/attachments/": {"get", "post"},
        "/api/events/attachments/{attachment_id}/": {"get"},
        "/api/events/attachments/{attachment_id}/{variant}/": {"get"},
        "/api/events/cases/{number}/evaluation/": {"get", "post"},
        "/api/events/track/{token}/evaluation/": {"get", "post"},
        "/api/events/cases/{number}/reopen/decision/": {"post"},
        "/api/events/cases/{number}/duplicates/": {"get"},
        "/api/events/cases/{number}/merge/": {"post"},
        "/api/events/dispatch-rules/": {"get", "post"},
        "/api/events/dispatch-rules/{rule_id}/": {"get", "patch"},
        "/api/events/dispatch-rules/{rule_id}/move/": {"post"},
        "/api/events/time-limits/": {"get", "post"},
        "/api/events/calendar/": {"get"},
        "/api/events/calendar/{year}/": {"get", "put"},
        "/api/events/calendar/import/": {"post"},
        "/api/events/calendar/seed/": {"post"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    upload = paths["/api/events/cases/{number}/attachments/"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    moves = paths["/api/events/cases/{number}/transitions/"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(moves)
    multipart = schema["components"]["schemas"]["CaseTransitionUploadRequest"]["properties"]
    assert multipart["files"]["items"]["format"] == "binary" and "attachment_ids" in multipart
    assert "image/jpeg" in paths["/api/events/attachments/{attachment_id}/"]["get"]["responses"]["200"]["content"]
    detail = schema["components"]["schemas"]["CaseDetail"]["properties"]
    assert {"merged_into", "merged_duplicates"} <= set(detail)
