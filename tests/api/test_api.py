"""The API: session and token authentication, one error shape, area scoping, offline docs."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from tests.conftest import DISTRICT, PASSWORD, SHATOU, SHATOU_COMMUNITY, SHIQIAO, SHIQIAO_COMMUNITY

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()


def assert_error_shape(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_token_authentication_flow(api, make_user):
    user = make_user(Role.TOWN_ADMIN, SHIQIAO)
    response = api.post("/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api.get("/api/me/").json()
    assert me["username"] == user.username and me["org_unit"] == SHIQIAO and me["role"] == Role.TOWN_ADMIN


def test_bad_credentials_on_the_token_endpoint(api, make_user):
    user = make_user(Role.TOWN_ADMIN, SHIQIAO)
    body = assert_error_shape(
        api.post("/api/auth/token/", {"username": user.username, "password": "x"}, format="json"),
        400,
        "login_failed",
    )
    assert body["message"] == "用户名或密码错误"
    body = assert_error_shape(api.post("/api/auth/token/", {"username": user.username}, format="json"), 400, "invalid")
    assert "password" in body["fields"]


def test_anonymous_gets_401_in_the_error_shape(api):
    assert_error_shape(api.get("/api/orgunits/"), 401, "not_authenticated")
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error_shape(api.get("/api/orgunits/"), 401, "authentication_failed")


def test_orgunits_are_scoped_to_the_user(api, make_user):
    api.force_authenticate(make_user(Role.TOWN_ADMIN, SHIQIAO))
    body = api.get("/api/orgunits/", {"page_size": 500}).json()
    assert body["count"] == 37
    assert {u["code"] for u in body["results"]} >= {SHIQIAO, SHIQIAO_COMMUNITY}
    assert SHATOU not in {u["code"] for u in body["results"]}
    assert_error_shape(api.get(f"/api/orgunits/{SHATOU_COMMUNITY}/"), 404, "not_found")
    subtree = api.get(f"/api/orgunits/{SHIQIAO}/subtree/", {"level": "community", "page_size": 500}).json()
    assert subtree["count"] == 36
    detail = api.get(f"/api/orgunits/{SHIQIAO_COMMUNITY}/").json()
    assert [a["code"] for a in detail["ancestors"]] == [DISTRICT, SHIQIAO]


def test_district_admin_sees_every_town(api, make_user):
    api.force_authenticate(make_user(Role.DISTRICT_ADMIN, DISTRICT))
    assert api.get("/api/orgunits/", {"level": "town"}).json()["count"] == 16
    assert api.get(f"/api/orgunits/{DISTRICT}/subtree/", {"page_size": 1}).json()["count"] == 293


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("anonymous", 401, "not_authenticated"),
        ("wrong_role", 403, "permission_denied"),
        ("wrong_area", 403, "out_of_scope"),
        ("right", 201, None),
    ],
)
def test_create_user_matrix_through_the_api(api, make_user, who, status, code):
    actors = {
        "anonymous": None,
        "wrong_role": lambda: make_user(Role.SUPERVISOR, SHIQIAO),
        "wrong_area": lambda: make_user(Role.TOWN_ADMIN, SHATOU),
        "right": lambda: make_user(Role.TOWN_ADMIN, SHIQIAO),
    }
    if actors[who]:
        api.force_authenticate(actors[who]())
    if who == "wrong_area":
        # The unit lies outside the admin's area, so it is not even visible.
        status, code = 404, "not_found"
    before = User.objects.count()
    response = api.post(
        "/api/users/",
        {
            "username": "api_worker",
            "password": "Xq7#mLp2vR9t",
            "role": "grid_worker",
            "org_unit": SHIQIAO_COMMUNITY,
        },
        format="json",
    )
    if code:
        assert_error_shape(response, status, code)
        assert User.objects.count() == before
    else:
        assert response.status_code == 201 and response.json()["org_unit"] == SHIQIAO_COMMUNITY
        assert User.objects.count() == before + 1


def test_validation_errors_name_the_fields(api, make_user):
    api.force_authenticate(make_user(Role.TOWN_ADMIN, SHIQIAO))
    body = assert_error_shape(
        api.post("/api/users/", {"username": "", "role": "nonsense", "org_unit": SHIQIAO}, format="json"),
        400,
        "invalid",
    )
    assert {"username", "role", "password"} <= set(body["fields"])
    body = assert_error_shape(
        api.post(
            "/api/users/",
            {
                "username": "clerk1",
                "password": "Clerk#2026pass",
                "role": "community_clerk",
                "org_unit": SHIQIAO,
            },
            format="json",
        ),
        400,
        "invalid",
    )
    assert "org_unit" in body["fields"]


def test_user_patch_and_unlock_are_scoped(api, make_user):
    admin = make_user(Role.TOWN_ADMIN, SHIQIAO)
    mine = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    other = make_user(Role.GRID_WORKER, SHATOU_COMMUNITY)
    api.force_authenticate(admin)
    assert api.patch(f"/api/users/{mine.pk}/", {"is_active": False}, format="json").json()["is_active"] is False
    assert_error_shape(api.patch(f"/api/users/{other.pk}/", {"is_active": False}, format="json"), 404, "not_found")
    assert User.objects.get(pk=other.pk).is_active
    assert api.post(f"/api/users/{mine.pk}/unlock/").status_code == 200
    assert_error_shape(api.post(f"/api/users/{other.pk}/unlock/"), 404, "not_found")


def test_audit_api_is_for_auditors(api, make_user):
    api.force_authenticate(make_user(Role.TOWN_ADMIN, SHIQIAO))
    assert_error_shape(api.get("/api/audit/entries/"), 403, "permission_denied")
    assert_error_shape(api.get("/api/audit/verify/"), 403, "permission_denied")
    auditor = make_user(Role.AUDITOR, DISTRICT)
    api.force_authenticate(auditor)
    entries = api.get("/api/audit/entries/", {"result": "denied"}).json()
    assert entries["count"] >= 1 and all(e["result"] == "denied" for e in entries["results"])
    verify = api.get("/api/audit/verify/").json()
    assert verify["ok"] is True and verify["checked"] == AuditEntry.objects.count()


def test_the_openapi_schema_generates_without_warnings_or_errors(tmp_path):
    """drf-spectacular's own validation of the whole schema: a warning means a client generator would get
    an unnamed or wrong type somewhere (an enum name collision, an unresolvable serializer)."""
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    assert out.stat().st_size > 10_000
