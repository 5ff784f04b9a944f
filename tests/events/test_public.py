"""The public side: an anonymous citizen report with a tracking link, the tracking page (no staff names, no
personal data), the evaluation with its request to reopen decided by a supervisor, the honeypot and the
per-address limit; and duplicates suggested and merged with their history kept."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import time_machine
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import ExifTags, Image

from civicgrid.audit.models import AuditEntry
from civicgrid.core.errors import Conflict, NotAuthenticated, PermissionDenied, ValidationFailed
from civicgrid.events import feedback, services
from civicgrid.events.models import Attachment, Case, CaseFlag, CaseHistory, Category, Channel, Evaluation
from civicgrid.events.workflow import Action, State
from civicgrid.geo.crs import transform_point
from tests.events.conftest import report
from tests.events.test_attachments import jpeg_with_gps

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.events.public_test_urls")]

COMMUNITY = "440113007003"  # 德兴社区, first community of the test layer


@pytest.fixture(autouse=True)
def _fresh(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    yield
    cache.clear()


def form(loop, **overrides):
    data = {
        "category": str(Category.objects.get(code="0601").pk),
        "description": "德兴路口垃圾两天未清运\n气味很大",
        "lon": f"{loop.point[0]:.7f}",
        "lat": f"{loop.point[1]:.7f}",
        "crs": "wgs84",
        "community": "",
        "address": "德兴路 12 号对面",
        "reporter_name": "王小明",
        "reporter_phone": "13800138000",
        "homepage": "",
    }
    data.update(overrides)
    return data


def submit(client, data, address="203.0.113.5"):
    return client.post("/report/", data, REMOTE_ADDR=address)


def citizen_case(client, loop, **overrides) -> Case:
    response = submit(client, form(loop, **overrides))
    assert response.status_code == 302, response.content.decode()[:2000]
    token = re.fullmatch(r"/track/([\w-]+)/\?submitted=1", response["Location"]).group(1)
    return Case.objects.get(token=token)


def walk_to_closed(loop, case: Case) -> Case:
    case = services.case_transition(actor=loop.dispatcher, case=case, action=Action.FILE)
    case = services.case_transition(
        actor=loop.dispatcher, case=case, action=Action.DISPATCH, department=loop.department
    )
    case = services.case_transition(actor=loop.handler, case=case, action=Action.ACCEPT)
    case = services.case_transition(
        actor=loop.handler, case=case, action=Action.HANDLE, reason="内部备注：已由张队长清运"
    )
    return services.case_transition(actor=loop.collector, case=case, action=Action.VERIFY)


# --- the report form ------------------------------------------------------------------------------------


def test_form_lists_minor_categories_by_major_and_communities(loop, client):
    html = client.get("/report/").content.decode()
    assert '<optgroup label="市容环境">' in html and "暴露垃圾、积存垃圾" in html
    assert '<optgroup label="市桥街道">' in html and "德兴社区" in html
    assert 'name="homepage"' in html and 'enctype="multipart/form-data"' in html


def test_anonymous_report_with_photo_and_tracking_link(loop, client):
    photo = SimpleUploadedFile("现场.jpg", jpeg_with_gps(), content_type="image/jpeg")
    response = submit(client, {**form(loop), "photo": photo})
    assert response.status_code == 302
    case = Case.objects.get()
    assert response["Location"] == f"/track/{case.token}/?submitted=1"
    assert case.channel == Channel.CITIZEN and case.reporter is None and case.state == State.REPORTED
    assert case.grid.code == loop.grid and case.title == "德兴路口垃圾两天未清运"
    assert case.reporter_name == "王小明" and case.reporter_phone_masked == "138****8000"
    assert b"13800138000" not in bytes(case.reporter_phone_enc)
    attachment = Attachment.objects.get(case=case)
    assert attachment.stage == "report" and attachment.uploaded_by is None and attachment.public_name
    entry = AuditEntry.objects.filter(action="events.report").latest("seq")
    assert entry.actor_username == "anonymous"
    # The success page: the tracking number and the private link.
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and case.number in html and f"/track/{case.token}/" in html
    assert 'data-testid="submitted"' in html and page["Referrer-Policy"] == "same-origin"
    # The photo is shown through its public copy, without GPS.
    photo_url = f"/track/{case.token}/photos/{attachment.pk}/public/"
    assert photo_url in html
    image = Image.open(io.BytesIO(b"".join(client.get(photo_url).streaming_content)))
    assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_report_in_gcj02_and_by_community(loop, client):
    lon, lat = transform_point(loop.point[0], loop.point[1], src="wgs84", dst="gcj02")
    case = citizen_case(
        client, loop, lon=f"{lon:.8f}", lat=f"{lat:.8f}", crs="gcj02", reporter_name="", reporter_phone=""
    )
    assert abs(case.lon - loop.point[0]) < 1e-6 and abs(case.lat - loop.point[1]) < 1e-6
    assert case.grid.code == loop.grid and case.reporter_name == "" and case.reporter_phone_masked == ""
    by_community = citizen_case(client, loop, lon="", lat="", community=COMMUNITY)
    assert by_community.grid is None and by_community.community.code == COMMUNITY
    assert by_community.org_path.endswith(f"{COMMUNITY}/") and by_community.lon is None


def test_invalid_reports_change_nothing(loop, client):
    response = submit(client, form(loop, category="", description="", lon="", lat=""))
    html = response.content.decode()
    assert response.status_code == 400 and "请选择问题类别" in html and "请描述您看到的问题" in html
    assert "请使用当前位置" in html
    response = submit(client, form(loop, reporter_phone="12345"))
    assert response.status_code == 400 and "联系电话“12345”格式不正确" in response.content.decode()
    response = submit(client, form(loop, lon="abc"))
    assert response.status_code == 400 and "经度" in response.content.decode()
    pdf = SimpleUploadedFile("photo.jpg", b"%PDF-1.4\n%%EOF\n", content_type="image/jpeg")
    response = submit(client, {**form(loop), "photo": pdf})
    assert response.status_code == 400 and "“photo.jpg”" in response.content.decode()
    major = Category.objects.get(code="06")
    assert submit(client, form(loop, category=str(major.pk))).status_code == 400
    assert not Case.objects.exists() and not Attachment.objects.exists()


def test_honeypot_refuses_quietly(loop, client):
    response = submit(client, form(loop, homepage="http://spam.example"))
    assert response.status_code == 400 and not Case.objects.exists()


def test_rate_limit_per_address(loop, client, settings):
    settings.EVENTS_PUBLIC_REPORTS_PER_HOUR = 2
    assert submit(client, form(loop)).status_code == 302
    assert submit(client, form(loop, description="")).status_code == 400  # failed attempts do not count
    assert submit(client, form(loop)).status_code == 302
    response = submit(client, form(loop))
    assert response.status_code == 429 and "频繁" in response.content.decode()
    assert Case.objects.count() == 2
    assert submit(client, form(loop), address="198.51.100.7").status_code == 302  # another address
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1, minutes=1)):
        cache.clear()  # the local-memory cache ignores time-machine; expiry is the cache's job
        assert submit(client, form(loop)).status_code == 302


# --- the tracking page ------------------------------------------------------------------------------------


def test_tracking_page_shows_no_staff_names_or_personal_data(loop, client):
    case = citizen_case(client, loop)
    walk_to_closed(loop, case)
    html = client.get(f"/track/{case.token}/").content.decode()
    assert case.number in html and "已结案" in html
    for label in ("已收到您的反映", "已立案", "已派遣至职能部门", "职能部门已签收，正在处置", "核查通过，已结案"):
        assert label in html
    for secret in (
        "王小明",
        "王*",
        "13800138000",
        "138****8000",
        "张队长",
        "内部备注",
        "测试",
        "collector",
        "dispatcher",
    ):
        assert secret not in html, secret
    assert client.get("/track/doesnotexist00000000000/").status_code == 404


def test_evaluation_after_closing_once(loop, client):
    case = citizen_case(client, loop)
    url = f"/track/{case.token}/evaluate/"
    response = client.post(url, {"rating": "5", "comment": "很好"})
    assert response.status_code == 409 and not Evaluation.objects.exists()  # not closed yet
    assert 'name="rating"' not in client.get(f"/track/{case.token}/").content.decode()
    walk_to_closed(loop, case)
    assert 'name="rating"' in client.get(f"/track/{case.token}/").content.decode()
    assert client.post(url, {"rating": "9"}).status_code == 400
    response = client.post(url, {"rating": "5", "comment": "处理很及时"})
    assert response.status_code == 302 and response["Location"] == f"/track/{case.token}/"
    evaluation = Evaluation.objects.get(case=case)
    assert evaluation.rating == 5 and evaluation.comment == "处理很及时" and evaluation.by_user is None
    assert not evaluation.reopen_requested and not CaseFlag.objects.filter(case=case).exists()
    html = client.get(f"/track/{case.token}/").content.decode()
    assert "处理很及时" in html and "感谢您的评价" in html and 'name="rating"' not in html
    assert "★★★★★" in html
    response = client.post(url, {"rating": "1"})
    assert response.status_code == 409 and "已评价过" in response.content.decode()
    assert Evaluation.objects.get(case=case).rating == 5


def test_evaluation_needs_the_token_or_the_reporter(loop):
    case = walk_to_closed(loop, report(loop))
    with pytest.raises(NotAuthenticated):
        feedback.evaluation_submit(case=case, rating=3, comment="", reopen_requested=False, token="wrong")
    with pytest.raises(PermissionDenied):
        feedback.evaluation_submit(case=case, rating=3, comment="", by_user=loop.peer, reopen_requested=False)
    assert not Evaluation.objects.exists()
    evaluation = feedback.evaluation_submit(
        case=case, rating=4, comment="", by_user=loop.collector, reopen_requested=False
    )
    assert evaluation.by_user == loop.collector


def test_reopen_request_rules(loop, client):
    case = walk_to_closed(loop, citizen_case(client, loop))
    url = f"/track/{case.token}/evaluate/"
    response = client.post(url, {"rating": "3", "reopen_requested": "1"})
    assert response.status_code == 400 and "2 星及以下" in response.content.decode()
    with time_machine.travel(case.closed_at + dt.timedelta(days=16)):
        html = client.get(f"/track/{case.token}/").content.decode()
        assert 'name="reopen_requested"' not in html
        response = client.post(url, {"rating": "1", "reopen_requested": "1"})
        assert response.status_code == 400 and "15 天" in response.content.decode()
    assert not Evaluation.objects.exists() and not CaseFlag.objects.exists()


def request_reopen(client, loop) -> Case:
    case = walk_to_closed(loop, citizen_case(client, loop))
    assert 'name="reopen_requested"' in client.get(f"/track/{case.token}/").content.decode()
    response = client.post(
        f"/track/{case.token}/evaluate/", {"rating": "1", "comment": "垃圾还在", "reopen_requested": "1"}
    )
    assert response.status_code == 302
    flag = CaseFlag.objects.get(case=case)
    assert flag.kind == CaseFlag.Kind.REOPEN_REQUEST and flag.note == "垃圾还在" and flag.actor is None
    html = client.get(f"/track/{case.token}/").content.decode()
    assert "等待督办人员审核" in html and "★☆☆☆☆" in html
    return Case.objects.get(pk=case.pk)


def test_reopen_approved_by_a_supervisor(loop, client):
    case = request_reopen(client, loop)
    history = list(CaseHistory.objects.filter(case=case).values_list("seq", "action"))
    for wrong in (loop.dispatcher, loop.collector):
        with pytest.raises(PermissionDenied):
            feedback.reopen_decide(actor=wrong, case=case, approve=True, reason="同意")
        assert AuditEntry.objects.filter(
            action="events.reopen_decide", actor_id=wrong.pk, result=AuditEntry.Result.DENIED
        ).exists()
    assert Case.objects.get(pk=case.pk).state == State.CLOSED
    assert list(CaseHistory.objects.filter(case=case).values_list("seq", "action")) == history
    with pytest.raises(ValidationFailed):
        feedback.reopen_decide(actor=loop.supervisor, case=case, approve=True, reason=" ")
    reopened = feedback.reopen_decide(actor=loop.supervisor, case=case, approve=True, reason="群众反映属实")
    assert reopened.state == State.DISPATCHED and reopened.department == loop.department
    last = CaseHistory.objects.filter(case=case).latest("seq")
    assert last.action == Action.REOPEN and last.actor == loop.supervisor and last.note == "群众反映属实"
    assert last.data["reopen_request"] == CaseFlag.objects.get(case=case).pk
    assert feedback.reopen_status(reopened).state == "approved"
    html = client.get(f"/track/{case.token}/").content.decode()
    assert "根据您的评价重新办理" in html and "重新办理申请已批准" in html and "已派遣" in html
    with pytest.raises(Conflict):
        feedback.reopen_decide(actor=loop.supervisor, case=reopened, approve=True, reason="再次")


def test_reopen_denied_by_a_supervisor(loop, client):
    case = request_reopen(client, loop)
    denied = feedback.reopen_decide(actor=loop.supervisor, case=case, approve=False, reason="已现场核实处置到位")
    assert denied.state == State.CLOSED
    flag = CaseFlag.objects.get(case=case, kind=CaseFlag.Kind.REOPEN_DENIED)
    assert flag.actor == loop.supervisor and flag.note == "已现场核实处置到位"
    assert feedback.reopen_status(denied).state == "denied"
    assert not CaseHistory.objects.filter(case=case, action=Action.REOPEN).exists()
    html = client.get(f"/track/{case.token}/").content.decode()
    assert "未获批准" in html and "已现场核实" not in html  # the supervisor's reason stays internal
    with pytest.raises(Conflict):
        feedback.reopen_decide(actor=loop.supervisor, case=denied, approve=True, reason="改为同意")
    assert Case.objects.get(pk=case.pk).state == State.CLOSED


def test_no_decision_without_a_request(loop):
    case = walk_to_closed(loop, report(loop))
    with pytest.raises(Conflict):
        feedback.reopen_decide(actor=loop.supervisor, case=case, approve=True, reason="主动重办")
    assert Case.objects.get(pk=case.pk).state == State.CLOSED


# --- duplicates -----------------------------------------------------------------------------------------


def report_at(loop, dlon: float = 0.0, *, code: str = "0601", title: str = "垃圾堆积"):
    return services.case_report(
        actor=loop.collector,
        report=services.Report(
            title=title,
            description="垃圾未清运",
            category=Category.objects.get(code=code),
            channel="grid_worker",
            lon=loop.point[0] + dlon,
            lat=loop.point[1],
        ),
    )


def test_duplicates_suggested(loop, settings):
    old = report_at(loop)
    with time_machine.travel(timezone.now() + dt.timedelta(days=10)):
        main = report_at(loop)
        near = report_at(loop, 0.0005)  # about 51 m east
        far = report_at(loop, 0.002)  # about 205 m east
        other_category = report_at(loop, code="0602")
        closed = walk_to_closed(loop, report_at(loop))
        new = report_at(loop)
    found = feedback.duplicate_candidates(new)
    assert [c.case for c in found] == [main, near]
    assert found[0].distance_m == 0.0 and 45 < found[1].distance_m < 56
    wider = {c.case for c in feedback.duplicate_candidates(new, radius_m=300, days=30)}
    assert wider == {main, near, far, old}
    assert other_category not in wider and closed not in wider
    elsewhere = Case.objects.exclude(pk=near.pk)
    assert [c.case for c in feedback.duplicate_candidates(new, scope=elsewhere)] == [main]
    settings.EVENTS_DUPLICATE_RADIUS_M = 10
    assert [c.case for c in feedback.duplicate_candidates(new)] == [main]


def test_duplicates_without_a_point_by_community(loop, client):
    first = citizen_case(client, loop, lon="", lat="", community=COMMUNITY)
    second = citizen_case(client, loop, lon="", lat="", community=COMMUNITY)
    found = feedback.duplicate_candidates(second)
    assert [c.case for c in found] == [first] and found[0].distance_m is None


def test_merge_keeps_history(loop, client):
    main = report_at(loop)
    duplicate = citizen_case(client, loop)
    duplicate = services.case_transition(actor=loop.dispatcher, case=duplicate, action=Action.FILE)
    assert [c.case for c in feedback.duplicate_candidates(duplicate)] == [main]
    before = list(CaseHistory.objects.filter(case=duplicate).order_by("seq").values_list("seq", "action", "at"))
    merged = feedback.case_merge(actor=loop.dispatcher, duplicate=duplicate, main=main, reason="同一堆垃圾")
    assert merged.state == State.MERGED and merged.duplicate_of == main
    row = Case.objects.get(pk=duplicate.pk)
    assert row.state == State.MERGED and row.duplicate_of_id == main.pk
    after = list(CaseHistory.objects.filter(case=duplicate).order_by("seq").values_list("seq", "action", "at"))
    assert after[: len(before)] == before and [a for _s, a, _t in after] == ["report", "file", "merge"]
    last = CaseHistory.objects.filter(case=duplicate).latest("seq")
    assert last.data["main"] == main.number and last.note == "同一堆垃圾"
    assert list(main.duplicates.all()) == [row]
    assert Case.objects.get(pk=main.pk).state == State.REPORTED
    assert AuditEntry.objects.filter(action="events.merge_into", object_id=str(main.pk)).exists()
    # No longer suggested; the reporter's page says where it went.
    assert row not in {c.case for c in feedback.duplicate_candidates(main)}
    html = client.get(f"/track/{row.token}/").content.decode()
    assert "合并办理" in html and main.number in html


def test_merge_refusals_change_nothing(loop):
    main = report_at(loop)
    duplicate = report_at(loop)
    third = report_at(loop)
    with pytest.raises(ValidationFailed):
        feedback.case_merge(actor=loop.dispatcher, duplicate=duplicate, main=duplicate, reason="自身")
    with pytest.raises(PermissionDenied):
        feedback.case_merge(actor=loop.collector, duplicate=duplicate, main=main, reason="网格员")
    assert AuditEntry.objects.filter(action="events.merge", actor_id=loop.collector.pk, result="denied").exists()
    with pytest.raises(NotAuthenticated):
        feedback.case_merge(actor=None, duplicate=duplicate, main=main, reason="匿名")
    assert Case.objects.get(pk=duplicate.pk).state == State.REPORTED
    feedback.case_merge(actor=loop.dispatcher, duplicate=duplicate, main=main, reason="重复")
    duplicate = Case.objects.get(pk=duplicate.pk)
    with pytest.raises(ValidationFailed):  # into a case that is itself merged
        feedback.case_merge(actor=loop.dispatcher, duplicate=third, main=duplicate, reason="链式")
    with pytest.raises(Conflict):  # a merged case cannot be merged again
        feedback.case_merge(actor=loop.dispatcher, duplicate=duplicate, main=third, reason="再次")
    assert Case.objects.get(pk=third.pk).state == State.REPORTED and Case.objects.get(pk=third.pk).duplicate_of is None
    assert Case.objects.get(pk=duplicate.pk).duplicate_of_id == main.pk
    assert CaseHistory.objects.filter(case=third).count() == 1
