"""Open311 GeoReport v2 as a client uses it: list services in XML and JSON, post a request with an api_key,
read it back by id and by token, follow it through the closed loop, list with the spec's filters; and
every error in the spec's format with its HTTP status, the refused posts changing nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import xml.etree.ElementTree as ET

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from civicgrid.audit.models import AuditEntry
from civicgrid.events import services
from civicgrid.events.models import ApiClient, Case
from civicgrid.events.open311 import api_client_create
from civicgrid.events.workflow import Action, State
from civicgrid.orgunits.models import OrgUnit
from tests.conftest import SHATOU, SHIQIAO
from tests.events.conftest import report

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.events.open311_test_urls")]

BASE = "/open311/v2"
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"


def as_xml(response):
    assert response["Content-Type"] == XML_TYPE
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)  # noqa: S314  (our own server's output, in a test)


def as_json(response):
    assert response["Content-Type"] == JSON_TYPE
    return json.loads(response.content.decode("utf-8"))


def xml_records(root, item):
    """[{tag: text}] of the root's items, the way a client flattens the spec's XML."""
    return [{child.tag: child.text for child in element} for element in root.findall(item)]


def assert_errors(response, status, fmt="json", words=""):
    assert response.status_code == status
    if fmt == "xml":
        root = as_xml(response)
        assert root.tag == "errors"
        errors = xml_records(root, "error")
        assert errors and all(e["code"] == str(status) for e in errors)
    else:
        errors = as_json(response)
        assert errors and all(set(e) == {"code", "description"} and e["code"] == status for e in errors)
    assert words in " ".join(str(e["description"]) for e in errors)
    return errors


@pytest.fixture
def key(loop):
    _client, key = api_client_create(actor=None, name="12345 热线", area=OrgUnit.objects.get(code=SHIQIAO))
    return key


def instant(text):
    """A W3C datetime of the API: whole seconds, in +08:00."""
    assert text.endswith("+08:00"), text
    return dt.datetime.fromisoformat(text)


def seconds(value):
    return value.replace(microsecond=0)


def post(client, key, fmt="json", **fields):
    data = {
        "api_key": key,
        "service_code": "0601",
        "lat": "",
        "long": "",
        "description": "德兴路口垃圾两天未清运\n气味很大",
        "address_string": "德兴路 12 号对面",
        "first_name": "小明",
        "last_name": "王",
        "phone": "13800138000",
        "email": "wang@example.com",
        "device_id": "device-1",
        "account_id": "acct-9",
        "media_url": "https://example.com/photo.jpg",
        "attribute[SIZE]": "large",
    }
    data.update(fields)
    return client.post(f"{BASE}/requests.{fmt}", data)


def point(loop):
    return {"lat": str(loop.point[1]), "long": str(loop.point[0])}


def go(loop, case, action, who, **kwargs):
    return services.case_transition(actor=getattr(loop, who), case=case, action=action, **kwargs)


# --- the client flow --------------------------------------------------------------------------------------


def test_client_flow(client, loop, key):
    # 1. The service list in XML and JSON, the same services.
    root = as_xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    listed = xml_records(root, "service")
    garbage = next(s for s in listed if s["service_code"] == "0601")
    assert garbage["service_name"] == "暴露垃圾、积存垃圾" and garbage["group"] == "市容环境"
    assert garbage["metadata"] == "false" and garbage["type"] == "realtime"
    assert "市容环境" in garbage["keywords"] and "暴露垃圾" in garbage["keywords"]
    assert "1 个工作日" in garbage["description"]
    as_list = as_json(client.get(f"{BASE}/services.json"))
    assert [s["service_code"] for s in as_list] == [s["service_code"] for s in listed]
    assert "01" not in {s["service_code"] for s in as_list}  # major categories are groups, not services
    assert as_list[0]["metadata"] is False
    definition = as_xml(client.get(f"{BASE}/services/0601.xml"))
    assert definition.tag == "service_definition" and definition.findtext("service_code") == "0601"
    assert definition.find("attributes") is not None and len(definition.find("attributes")) == 0
    assert as_json(client.get(f"{BASE}/services/0601.json")) == {"service_code": "0601", "attributes": []}

    # 2. Post a request (JSON answer), then another (XML answer).
    response = post(client, key, jurisdiction_id="panyu.gz.gov.cn", **point(loop))
    assert response.status_code == 201, response.content
    [created] = as_json(response)
    assert set(created) == {"service_request_id", "token", "service_notice", "account_id"}
    assert created["account_id"] is None and "不保存电子邮箱" in created["service_notice"]
    case = Case.objects.get(number=created["service_request_id"])
    assert case.token == created["token"] and case.channel == "open311" and case.state == State.REPORTED
    assert case.grid.code == loop.grid and case.reporter is None
    assert case.reporter_name == "王小明" and case.reporter_phone_masked == "138****8000"
    assert case.title == "德兴路口垃圾两天未清运" and case.address == "德兴路 12 号对面"
    stored = " ".join(str(v) for v in Case.objects.filter(pk=case.pk).values().get().values())
    assert "wang@example.com" not in stored and "device-1" not in stored and "acct-9" not in stored
    entry = AuditEntry.objects.filter(action="events.report", object_id=str(case.pk)).get()
    assert entry.channel == "open311"
    response = post(client, key, fmt="xml", **point(loop))
    assert response.status_code == 201
    [second] = xml_records(as_xml(response), "request")
    assert second["service_request_id"].startswith("PY") and second["token"]

    # 3. Read it by id (XML and JSON) and by token.
    [request] = xml_records(as_xml(client.get(f"{BASE}/requests/{case.number}.xml")), "request")
    assert request["status"] == "open" and request["status_notes"] == "已上报"
    assert request["service_code"] == "0601" and request["service_name"] == "暴露垃圾、积存垃圾"
    assert request["description"] == "德兴路口垃圾两天未清运\n气味很大"
    assert instant(request["requested_datetime"]) == seconds(case.reported_at)
    assert instant(request["updated_datetime"]) == seconds(case.updated_at)
    assert instant(request["expected_datetime"]) == seconds(case.due_at)
    assert float(request["lat"]) == pytest.approx(loop.point[1]) and float(request["long"]) == pytest.approx(
        loop.point[0]
    )
    assert request["agency_responsible"] is None and request["address"] == "德兴路 12 号对面"
    [same] = as_json(client.get(f"{BASE}/requests/{case.number}.json"))
    assert same["service_request_id"] == case.number and same["lat"] == pytest.approx(loop.point[1])
    assert "media_url" not in same and "token" not in same
    for body in (client.get(f"{BASE}/requests/{case.number}.xml").content, json.dumps(same).encode()):
        text = body.decode("utf-8")
        assert "王小明" not in text and "138" not in text and case.token not in text
    by_token = as_json(client.get(f"{BASE}/tokens/{case.token}.json"))
    assert by_token == [{"service_request_id": case.number, "token": case.token}]
    [tokened] = xml_records(as_xml(client.get(f"{BASE}/tokens/{case.token}.xml")), "request")
    assert tokened == {"service_request_id": case.number, "token": case.token}

    # 4. Follow it: accepted by the department (the handling deadline), then closed with the feedback.
    case = go(loop, case, Action.FILE, "dispatcher")
    case = go(loop, case, Action.DISPATCH, "dispatcher", department=loop.department)
    case = go(loop, case, Action.ACCEPT, "handler")
    [request] = as_json(client.get(f"{BASE}/requests/{case.number}.json"))
    assert request["status"] == "open" and request["status_notes"] == "处置中"
    assert request["agency_responsible"] == "市桥综合行政执法队"
    assert instant(request["expected_datetime"]) == seconds(case.handle_due_at)
    case = go(loop, case, Action.HANDLE, "handler", reason="垃圾已清运，现场已冲洗")
    case = go(loop, case, Action.VERIFY, "collector")
    [request] = xml_records(as_xml(client.get(f"{BASE}/requests/{case.number}.xml")), "request")
    # Staff notes may name people: the public status note is the state's fixed wording only.
    assert request["status"] == "closed" and request["status_notes"] == "已结案"
    assert "垃圾已清运" not in json.dumps(request, ensure_ascii=False)
    assert request["expected_datetime"] is None
    assert instant(request["updated_datetime"]) == seconds(case.closed_at)

    # 5. List with filters.
    rows = as_json(client.get(f"{BASE}/requests.json", {"status": "closed"}))
    assert [r["service_request_id"] for r in rows] == [case.number]
    rows = xml_records(as_xml(client.get(f"{BASE}/requests.xml", {"status": "open"})), "request")
    assert [r["service_request_id"] for r in rows] == [second["service_request_id"]]


# --- filters ------------------------------------------------------------------------------------------------


def test_list_filters(client, loop):
    now = timezone.now()
    garbage = report(loop)  # 0601, open
    lamp = report(loop, code="0901")
    old = report(loop, code="0901")
    Case.objects.filter(pk=old.pk).update(reported_at=now - dt.timedelta(days=100))
    rejected = go(loop, report(loop), Action.REJECT, "dispatcher", reason="重复上报")

    def ids(**params):
        return {r["service_request_id"] for r in as_json(client.get(f"{BASE}/requests.json", params))}

    recent = {garbage.number, lamp.number, rejected.number}
    assert ids() == recent  # default: the last 90 days
    assert ids(status="open") == {garbage.number, lamp.number}
    assert ids(status="closed") == {rejected.number}
    assert ids(status="open,closed") == recent
    assert ids(service_code="0901") == {lamp.number}
    assert ids(service_code="0601,0901") == recent
    assert ids(service_code="0601") == {garbage.number, rejected.number}
    assert ids(service_code="0601", status="closed") == {rejected.number}
    start = (now - dt.timedelta(days=120)).isoformat()
    assert ids(start_date=start, end_date=(now - dt.timedelta(days=60)).isoformat()) == {old.number}
    assert ids(start_date="2000-01-01", end_date="2000-02-01") == set()
    # the service_request_id list overrides every other argument, including the 90-day default
    assert ids(service_request_id=f"{old.number},{lamp.number}", status="closed") == {old.number, lamp.number}
    assert ids(service_request_id="PY00000000-000000") == set()
    # empty optional arguments are the same as absent ones; jurisdiction_id may be given
    assert ids(status="", service_code="", jurisdiction_id="panyu.gz.gov.cn") == recent
    # an offset whose '+' was left unencoded in the query string still parses
    day = timezone.localtime(now).date()
    url = f"{BASE}/requests.json?start_date={day}T00:00:00+08:00&end_date={day}T23:59:59+08:00"
    assert {r["service_request_id"] for r in as_json(client.get(url))} == recent
    [row] = [r for r in as_json(client.get(f"{BASE}/requests.json")) if r["service_request_id"] == rejected.number]
    assert row["status"] == "closed" and row["status_notes"] == "不予立案"
    assert row["address"] == f"{garbage.community.name}, {garbage.town.name}"


def test_list_is_newest_first_and_limited(client, loop, monkeypatch):
    from civicgrid.events import open311

    cases = [report(loop) for _ in range(3)]
    monkeypatch.setattr(open311, "MAX_REQUESTS", 2)
    rows = as_json(client.get(f"{BASE}/requests.json"))
    assert [r["service_request_id"] for r in rows] == [cases[2].number, cases[1].number]


# --- errors -------------------------------------------------------------------------------------------------


def test_api_key_errors_are_403_and_change_nothing(client, loop, key):
    before = Case.objects.count()
    assert_errors(post(client, "wrong-key-123", fmt="xml", **point(loop)), 403, "xml", "api_key")
    assert_errors(post(client, key[:8] + "x" * 30, **point(loop)), 403, words="api_key")  # right prefix, wrong key
    assert_errors(post(client, "", **point(loop)), 403, words="api_key")
    data = {"service_code": "0601", "description": "x", **point(loop)}
    assert_errors(client.post(f"{BASE}/requests.json", data), 403, words="api_key")  # no api_key at all
    ApiClient.objects.update(active=False)
    assert_errors(post(client, key, **point(loop)), 403, words="api_key")
    assert Case.objects.count() == before
    refusals = AuditEntry.objects.filter(action="events.open311_report", result="denied")
    assert [e.detail["reason"] for e in refusals.order_by("seq")] == [
        "invalid_api_key",
        "invalid_api_key",
        "missing_api_key",
        "missing_api_key",
        "inactive_api_key",
    ]
    assert {e.channel for e in refusals} == {"open311"}
    assert not any(key in json.dumps(e.detail) for e in refusals)


def test_a_key_posts_only_in_its_area(client, loop):
    _client, shatou_key = api_client_create(actor=None, name="沙头", area=OrgUnit.objects.get(code=SHATOU))
    assert_errors(post(client, shatou_key, **point(loop)), 403, words="沙头街道")
    assert not Case.objects.exists()
    refusal = AuditEntry.objects.get(action="events.open311_report", result="denied")
    assert refusal.detail == {"reason": "out_of_scope", "grid": loop.grid}


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"service_code": "9999"}, 404, "service_code"),
        ({"service_code": "06"}, 404, "service_code"),  # a major category is a group, not a service
        ({"service_code": ""}, 400, "service_code"),
        ({"description": ""}, 400, "description"),
        ({"description": "   "}, 400, "description"),
        ({"description": "长" * 4001}, 400, "4000"),
        ({"lat": "", "long": ""}, 400, "location required"),
        ({"lat": "", "long": "", "address_string": ""}, 400, "location required"),
        ({"lat": "22.95", "long": ""}, 400, "lat 和 long"),
        ({"lat": "abc"}, 400, "lat"),
        ({"lat": "95"}, 400, "lat"),
        ({"lat": "nan"}, 400, "lat"),
        ({"lat": "40.0", "long": "116.4"}, 400, "lat/long"),  # Beijing: in no grid of the district
        ({"phone": "12345"}, 400, "phone"),
        ({"jurisdiction_id": "sfgov.org"}, 404, "jurisdiction_id"),
    ],
)
def test_bad_posts_are_refused_in_the_spec_format(client, loop, key, fields, status, words):
    data = {**point(loop), **fields}
    assert_errors(post(client, key, **data), status, "json", words)
    assert_errors(post(client, key, fmt="xml", **data), status, "xml", words)
    assert not Case.objects.exists()


def test_missing_description_and_location_are_both_reported(client, loop, key):
    errors = assert_errors(post(client, key, description="", address_string=""), 400)
    assert len(errors) == 2


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("requests/PY20000101-000001.xml", 404, "service_request_id"),
        ("requests/PY20000101-000001.json", 404, "service_request_id"),
        ("tokens/no-such-token.json", 404, "token"),
        ("services/9999.xml", 404, "service_code"),
        ("services/06.json", 404, "service_code"),
        ("services.json?jurisdiction_id=sfgov.org", 404, "jurisdiction_id"),
        ("requests.json?status=pending", 400, "status"),
        ("requests.json?start_date=yesterday", 400, "start_date"),
        ("requests.json?start_date=2026-01-01T00:00:00", 400, "时区"),
        ("requests.json?start_date=2026-01-01&end_date=2026-06-01", 400, "90"),
        ("requests.json?start_date=2026-02-01&end_date=2026-01-01", 400, "start_date"),
        ("nothing.json", 404, ""),
        ("services", 404, ""),
        ("services.html", 404, ""),
    ],
)
def test_bad_reads_are_refused_in_the_spec_format(client, loop, path, status, words):
    fmt = "xml" if ".json" not in path else "json"
    assert_errors(client.get(f"{BASE}/{path}"), status, fmt, words)


def test_post_needs_no_csrf_token(loop, key):
    from django.test import Client

    browserless = Client(enforce_csrf_checks=True)
    assert post(browserless, key, **point(loop)).status_code == 201


def test_wrong_method(client, loop):
    response = client.post(f"{BASE}/services.json")
    assert_errors(response, 405)
    assert "GET" in response["Allow"]
    response = client.delete(f"{BASE}/requests.xml")
    assert_errors(response, 405, "xml")


def test_xml_strips_characters_xml_cannot_carry(client, loop, key):
    response = post(client, key, description="井盖\x0b缺失 <b>&</b>", **point(loop))
    number = as_json(response)[0]["service_request_id"]
    [row] = xml_records(as_xml(client.get(f"{BASE}/requests/{number}.xml")), "request")
    assert row["description"] == "井盖缺失 <b>&</b>"


# --- the command ----------------------------------------------------------------------------------------------


def test_create_api_client_command(client, loop):
    out = io.StringIO()
    call_command("create_api_client", "--name", "12345 热线", "--jurisdiction", SHIQIAO, stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    registered = ApiClient.objects.get()
    assert registered.key_prefix == key[:8] and registered.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert registered.jurisdiction.code == SHIQIAO and registered.active and key not in registered.key_hash
    assert AuditEntry.objects.filter(action="events.api_client_create", object_id=str(registered.pk)).exists()
    assert post(client, key, **point(loop)).status_code == 201

    call_command("create_api_client", "--name", "试运行", "--jurisdiction", SHIQIAO, "--dry-run", stdout=io.StringIO())
    assert ApiClient.objects.count() == 1
    with pytest.raises(CommandError, match="不存在"):
        call_command("create_api_client", "--name", "x", "--jurisdiction", "999", stdout=io.StringIO())
