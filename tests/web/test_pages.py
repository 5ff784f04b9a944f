"""Server-rendered pages per role, health, offline API docs and the two languages."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from tests.conftest import DISTRICT, SHATOU_COMMUNITY, SHIQIAO, SHIQIAO_COMMUNITY

pytestmark = pytest.mark.django_db

NAV = {"组织架构": "/org/", "职能部门": "/departments/", "账号管理": "/accounts/", "审计日志": "/audit/"}
ROLE_NAV = {
    Role.DISTRICT_ADMIN: {"组织架构", "职能部门", "账号管理", "审计日志"},
    Role.TOWN_ADMIN: {"组织架构", "职能部门", "账号管理"},
    Role.AUDITOR: {"组织架构", "职能部门", "账号管理", "审计日志"},
    Role.GRID_WORKER: {"组织架构", "职能部门"},
}


@pytest.mark.parametrize(
    ("role", "unit_code"),
    [
        (Role.DISTRICT_ADMIN, DISTRICT),
        (Role.TOWN_ADMIN, SHIQIAO),
        (Role.AUDITOR, DISTRICT),
        (Role.GRID_WORKER, SHIQIAO_COMMUNITY),
    ],
)
def test_home_shows_the_role_its_area_and_its_navigation(client, make_user, role, unit_code):
    user = make_user(role, unit_code)
    client.force_login(user)
    html = client.get(reverse("web:home")).content.decode()
    assert f'data-testid="scope-unit">{user.org_unit.name}<' in html
    shown = {label for label, href in NAV.items() if f'href="{href}"' in html}
    assert shown == ROLE_NAV[role]


def test_home_for_a_handler_shows_the_department(client, make_user, department):
    client.force_login(make_user(Role.DEPARTMENT_HANDLER, DISTRICT, department=department))
    html = client.get(reverse("web:home")).content.decode()
    assert "我的部门" in html and department.name in html


def test_pages_need_login(client):
    for name in ("web:home", "web:orgunits", "web:departments", "web:accounts", "web:audit"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_org_page_stays_in_the_area(client, make_user):
    client.force_login(make_user(Role.TOWN_ADMIN, SHIQIAO))
    html = client.get(reverse("web:orgunits"), {"unit": SHATOU_COMMUNITY}).content.decode()
    assert "不在您的辖区内" in html and 'data-testid="current-unit">市桥街道<' in html
    rows = client.get(reverse("web:orgunits"), {"q": "社区"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in rows  # htmx gets the table only
    assert re.findall(r"44011300\d{4}", rows) and all(
        c.startswith("440113007") for c in re.findall(r"4401130\d{5}", rows)
    )


def test_accounts_page_creates_and_reports_errors_by_field(client, make_user):
    client.force_login(make_user(Role.TOWN_ADMIN, SHIQIAO))
    bad = client.post(
        reverse("web:accounts"),
        {"username": "w1", "password": "short", "role": "grid_worker", "org_unit": SHIQIAO_COMMUNITY},
    )
    assert bad.status_code == 400 and "至少" in bad.content.decode()
    assert not User.objects.filter(username="w1").exists()
    ok = client.post(
        reverse("web:accounts"),
        {
            "username": "w1",
            "password": "Zx9#kLm2pQ7w",
            "role": "grid_worker",
            "org_unit": SHIQIAO_COMMUNITY,
            "full_name": "王五",
        },
    )
    assert ok.status_code == 302
    assert User.objects.get(username="w1").org_unit.code == SHIQIAO_COMMUNITY


def test_account_actions_respect_the_area(client, make_user):
    admin = make_user(Role.TOWN_ADMIN, SHIQIAO)
    other = make_user(Role.GRID_WORKER, SHATOU_COMMUNITY)
    client.force_login(admin)
    client.post(reverse("web:account-action", args=[other.pk, "disable"]))
    assert User.objects.get(pk=other.pk).is_active


def test_audit_page_for_the_auditor_with_verification(client, make_user):
    client.force_login(make_user(Role.AUDITOR, DISTRICT))
    html = client.get(reverse("web:audit"), {"verify": "1"}).content.decode()
    assert "哈希链完整" in html
    client.force_login(make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY))
    assert client.get(reverse("web:audit")).status_code == 403


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_healthz_reports_a_dead_database(client, monkeypatch):
    from django.db.backends.base.base import BaseDatabaseWrapper

    def broken(self, *args, **kwargs):
        raise RuntimeError("database is down")

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", broken)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "down"


def test_api_docs_work_offline(client, make_user):
    client.force_login(make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY))
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/orgunits/" in schema.content.decode()
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs)
    assert assets and all(not a.startswith(("http://", "https://", "//")) for a in assets), assets


def test_chinese_by_default_and_english_on_request(client):
    html = client.get(reverse("web:login")).content.decode()
    assert '<html lang="zh-hans">' in html and "登录" in html
    client.post(reverse("set_language"), {"language": "en", "next": "/login/"})
    html = client.get(reverse("web:login")).content.decode()
    assert '<html lang="en">' in html and "Log in" in html and "用户名" not in html


def test_security_headers(client):
    response = client.get(reverse("web:login"))
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_writes_and_reveals_are_in_the_journal(client, make_user):
    admin = make_user(Role.TOWN_ADMIN, SHIQIAO)
    client.force_login(admin)
    client.post(
        reverse("web:accounts"),
        {"username": "w2", "password": "Zx9#kLm2pQ7w", "role": "grid_worker", "org_unit": SHIQIAO_COMMUNITY},
        REMOTE_ADDR="192.0.2.7",
    )
    entry = AuditEntry.objects.get(action="accounts.create", object_repr="w2")
    assert entry.actor_id == admin.pk and entry.source == "192.0.2.7" and entry.channel == "web"
