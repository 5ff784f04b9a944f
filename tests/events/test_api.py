"""The event API: workbench tabs and keyset lists, intake (grid worker in WGS-84 or GCJ-02, phone intake),
the case with its timeline and allowed actions, transitions, extensions, the catalogue, point lookup and
the map; the error shape, area scoping, and refusals that change nothing. The OpenAPI schema documents it
all without warnings."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from civicgrid.audit.models import AuditEntry
from civicgrid.events import services
from civicgrid.events.models import Case, CaseHistory
from civicgrid.events.workflow import Action, State
from civicgrid.geo.crs import transform_point
from tests.conftest import SHIQIAO_COMMUNITY
from tests.events.conftest import report

pytestmark = pytest.mark.django_db

CASES = "/api/events/cases/"


def api_for(user: Any = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content.decode()
    body = response.json()
    assert body["code"] == code and isinstance(body["message"], str) and body["message"]
    return body


def act(user: Any, case: Case, action: str, **data: Any) -> Any:
    return api_for(user).post(f"{CASES}{case.number}/transitions/", {"action": action, **data}, format="json")


def test_anonymous_gets_401_in_the_error_shape(loop):
    error(api_for().get(CASES), 401, "not_authenticated")
    error(api_for().post(CASES, {}, format="json"), 401, "not_authenticated")


def test_workbench_tabs_and_keyset_pages(loop):
    made = [report(loop, title=f"事件{i}") for i in range(5)]
    body = api_for(loop.dispatcher).get("/api/events/workbench/").json()
    assert body["role"] == "dispatcher"
    tabs = {t["key"]: t for t in body["tabs"]}
    assert tabs["to_file"]["count"] == 5 and tabs["to_file"]["capped"] is False and tabs["to_dispatch"]["count"] == 0

    seen: list[str] = []
    url = f"{CASES}?tab=to_file&page_size=2"
    while url:
        page = api_for(loop.dispatcher).get(url).json()
        assert page["count"] == 5 and page["tab"] == "to_file"
        seen += [row["number"] for row in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(c.number for c in made) and len(seen) == 5
    row = api_for(loop.dispatcher).get(f"{CASES}?tab=to_file&q={made[0].number}").json()["results"]
    assert [r["number"] for r in row] == [made[0].number]
    assert row[0]["state"] == "reported" and row[0]["category"]["code"] == "0601" and row[0]["overdue"] is False

    error(api_for(loop.dispatcher).get(f"{CASES}?tab=nope"), 400, "invalid")
    error(api_for(loop.dispatcher).get(f"{CASES}?after=garbage&tab=to_file"), 400, "invalid")
    error(api_for(loop.dispatcher).get(f"{CASES}?unit=440113008001"), 404, "not_found")  # another town
    # The handler's lists hold only its department's cases: none yet.
    assert api_for(loop.handler).get(CASES).json()["results"] == []


def test_grid_worker_reports_with_gcj02_and_dispatcher_takes_a_call(loop):
    gx, gy = transform_point(loop.point[0], loop.point[1], src="wgs84", dst="gcj02")
    response = api_for(loop.collector).post(
        CASES,
        {
            "category": "0601",
            "title": "垃圾堆积",
            "description": "两天未清运",
            "lon": gx,
            "lat": gy,
            "crs": "gcj02",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == "grid_worker" and body["grid"]["code"] == loop.grid
    assert abs(body["lon"] - loop.point[0]) < 1e-5 and abs(body["lat"] - loop.point[1]) < 1e-5
    assert [e["code"] for e in body["timeline"]] == ["report"]
    assert body["current_step"]["label"] == "立案"
    # The collector does not file; a self-fixable category may be handled on the spot, with a photo.
    assert [(a["action"], a["needs_attachment"]) for a in body["actions"]] == [("self_handle", True)]

    phone = api_for(loop.dispatcher).post(
        CASES,
        {
            "category": "0803",
            "title": "车辆乱停",
            "description": "来电反映小区门口车辆乱停",
            "community": SHIQIAO_COMMUNITY,
            "reporter_name": "陈先生",
            "reporter_phone": "13800138000",
        },
        format="json",
    )
    assert phone.status_code == 201, phone.content
    assert phone.json()["channel"] == "phone" and phone.json()["reporter_phone_masked"] == "138****8000"
    assert "13800138000" not in phone.content.decode()
    assert {a["action"] for a in phone.json()["actions"]} >= {"file", "reject", "cancel"}

    # Refusals: a minor category is needed; a handler is no grid worker; phone intake is the centre's.
    body = error(
        api_for(loop.collector).post(CASES, {"category": "06", "title": "x", "description": "y"}), 400, "invalid"
    )
    assert "category" in body["fields"]
    error(
        api_for(loop.handler).post(
            CASES, {"category": "0601", "title": "x", "description": "y", "lon": loop.point[0], "lat": loop.point[1]}
        ),
        400,
        "invalid",
    )
    error(
        api_for(loop.collector).post(
            CASES,
            {"category": "0601", "title": "x", "description": "y", "channel": "phone", "community": SHIQIAO_COMMUNITY},
        ),
        400,
        "invalid",
    )
    assert Case.objects.count() == 2


def test_the_loop_through_the_api(loop):
    case = report(loop)
    detail = api_for(loop.dispatcher).get(f"{CASES}{case.number}/").json()
    assert detail["version"] == 1 and detail["dispatch"] is None
    assert act(loop.dispatcher, case, "file", expected_version=1).status_code == 200
    detail = api_for(loop.dispatcher).get(f"{CASES}{case.number}/").json()
    assert loop.department.code in [d["code"] for d in detail["dispatch"]["departments"]]
    # No rule: the category's default kind of department nearest the case is proposed.
    assert detail["dispatch"]["suggested"] == loop.department.code
    assert detail["dispatch"]["basis"] == "category_kind"
    error(act(loop.dispatcher, case, "dispatch", department="NOPE"), 400, "invalid")
    body = act(loop.dispatcher, case, "dispatch", department=loop.department.code).json()
    assert body["state"] == "dispatched" and body["department"]["code"] == loop.department.code

    assert act(loop.handler, case, "accept").status_code == 200
    response = api_for(loop.handler).post(
        f"{CASES}{case.number}/extension/", {"hours": "3.5", "reason": "等待材料"}, format="json"
    )
    assert response.status_code == 201 and response.json()["extension_pending"] is True
    extension = api_for(loop.supervisor).get(f"{CASES}{case.number}/").json()["extension"]
    assert extension["can_decide"] and extension["pending"]["reason"] == "等待材料"
    error(
        api_for(loop.handler).post(f"{CASES}{case.number}/extension/decision/", {"approve": True}, format="json"),
        403,
        "transition_refused",
    )
    decided = api_for(loop.dispatcher).post(
        f"{CASES}{case.number}/extension/decision/", {"approve": True, "note": "同意"}, format="json"
    )
    assert decided.status_code == 200 and decided.json()["extension_hours"] == "3.50"

    assert act(loop.handler, case, "handle", reason="已处置").status_code == 200
    closed = act(loop.collector, case, "verify").json()
    assert closed["state"] == "closed" and closed["current_step"] is None
    codes = [e["code"] for e in closed["timeline"]]
    assert codes == ["report", "file", "dispatch", "accept", "ext_request", "ext_approved", "handle", "verify"]
    steps = {e["code"]: e for e in closed["timeline"]}
    assert steps["file"]["limit_hours"] == 1.0 and steps["file"]["took_hours"] is not None
    assert steps["handle"]["limit_hours"] == 7 * 1 + 3.5  # one working day plus the approved extension
    assert steps["handle"]["actor"].startswith("测试dept_handler") and steps["dispatch"]["department"]


def test_refusals_are_audited_and_change_nothing(loop):
    case = services.case_transition(actor=loop.dispatcher, case=report(loop), action=Action.FILE)

    def snapshot() -> tuple[Any, ...]:
        row = Case.objects.get(pk=case.pk)
        return row.state, row.version, CaseHistory.objects.filter(case=case).count()

    before = snapshot()
    denied = AuditEntry.objects.filter(result="denied").count()
    error(act(loop.collector, case, "dispatch", department=loop.department.code), 403, "transition_refused")
    assert AuditEntry.objects.filter(result="denied").count() == denied + 1
    error(act(loop.handler, case, "accept"), 404, "not_found")  # not its department's case: invisible
    error(act(loop.stranger, case, "verify"), 404, "not_found")
    error(act(loop.dispatcher, case, "verify"), 409, "invalid_transition")
    error(act(loop.dispatcher, case, "dispatch", department=loop.department.code, expected_version=1), 409, "conflict")
    error(act(loop.dispatcher, case, "cancel"), 400, "invalid")  # a reason is needed
    error(act(loop.dispatcher, case, "fly"), 400, "invalid")
    assert snapshot() == before


def test_catalogue_locate_and_map(loop):
    categories = api_for(loop.collector).get("/api/events/categories/").json()
    assert categories[0]["code"] == "01" and categories[0]["children"][0]["code"] == "0101"

    inside = api_for(loop.collector).get(f"/api/events/locate/?lon={loop.point[0]}&lat={loop.point[1]}").json()
    assert inside["grid"] == loop.grid and inside["in_area"] is True and inside["outside"] is False
    gx, gy = transform_point(loop.point[0], loop.point[1], src="wgs84", dst="gcj02")
    converted = api_for(loop.collector).get(f"/api/events/locate/?lon={gx}&lat={gy}&crs=gcj02").json()
    assert abs(converted["lon"] - loop.point[0]) < 1e-6 and converted["grid"] == loop.grid
    assert (
        api_for(loop.stranger).get(f"/api/events/locate/?lon={loop.point[0]}&lat={loop.point[1]}").json()["in_area"]
        is False
    )
    assert api_for(loop.collector).get("/api/events/locate/?lon=100&lat=10").json()["outside"] is True
    error(api_for(loop.collector).get("/api/events/locate/?lon=x&lat=1"), 400, "invalid")
    error(api_for(loop.collector).get("/api/events/locate/?lon=1&lat=1&crs=bd09"), 400, "invalid")

    case = report(loop)
    data = api_for(loop.supervisor).get("/api/events/map/").json()
    assert data["type"] == "FeatureCollection" and [f["id"] for f in data["features"]] == [case.number]
    feature = data["features"][0]
    assert feature["geometry"]["coordinates"] == [round(case.lon, 7), round(case.lat, 7)]
    assert feature["properties"]["state"] == State.REPORTED and feature["properties"]["url"].endswith(
        f"/events/{case.number}/"
    )
    assert api_for(loop.supervisor).get("/api/events/map/?show=overdue").json()["features"] == []
    assert api_for(loop.other_handler).get("/api/events/map/").json()["features"] == []
    error(api_for(loop.supervisor).get("/api/events/map/?show=everything"), 400, "invalid")


def test_openapi_documents_the_event_api(loop, client):
    client.force_login(loop.dispatcher)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in (
        "/api/events/workbench/",
        "/api/events/cases/",
        "/api/events/cases/{number}/",
        "/api/events/cases/{number}/transitions/",
        "/api/events/cases/{number}/extension/",
        "/api/events/cases/{number}/extension/decision/",
        "/api/events/categories/",
        "/api/events/locate/",
        "/api/events/map/",
    ):
        assert path in schema["paths"], path
    assert "post" in schema["paths"]["/api/events/cases/"]
    detail = schema["components"]["schemas"]["CaseDetail"]["properties"]
    assert {"timeline", "current_step", "actions", "extension", "dispatch", "version"} <= set(detail)


def test_list_rows_are_the_declared_serializer_field_for_field(loop):
    """The list's row shortcut (CaseRowSerializer.to_representation) gives exactly what the declared fields
    give through DRF's ordinary path, for cases with and without department, deadline and grid."""
    from rest_framework import serializers as drf

    from civicgrid.events.api.views import CaseRowSerializer

    first = report(loop)
    act(loop.dispatcher, first, "file", expected_version=1)
    act(loop.dispatcher, first, "dispatch", department=loop.department.code)
    second = report(loop)
    cases = Case.objects.select_related("category__parent", "grid", "community", "department").filter(
        pk__in=[first.pk, second.pk]
    )
    assert len(cases) == 2
    for case in cases:
        serializer = CaseRowSerializer(context={"now": timezone.now()})
        fast = serializer.to_representation(case)
        generic = drf.ModelSerializer.to_representation(serializer, case)
        assert fast == dict(generic), case.number
        assert list(fast) == list(generic)
