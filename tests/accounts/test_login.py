"""Login: throttling per address, lock-out per account, idle expiry, password complexity, audit."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

from civicgrid.accounts import services
from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from tests.conftest import PASSWORD, SHIQIAO_COMMUNITY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()


def post_login(client, username, password):
    return client.post(reverse("web:login"), {"username": username, "password": password})


def test_login_succeeds_and_is_audited(client, make_user):
    user = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    response = post_login(client, user.username, PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("web:home")
    assert AuditEntry.objects.filter(action="auth.login", object_id=str(user.pk), result="ok").exists()


def test_wrong_password_is_refused_in_chinese_without_saying_whether_the_user_exists(client, make_user):
    user = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    wrong = post_login(client, user.username, "nope")
    unknown = post_login(client, "no_such_user", "nope")
    assert wrong.status_code == unknown.status_code == 400
    assert "用户名或密码错误" in wrong.content.decode() and "用户名或密码错误" in unknown.content.decode()
    assert AuditEntry.objects.filter(action="auth.login", result="failed").count() == 2


def test_repeated_failures_lock_the_account(client, make_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    user = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    for _ in range(3):
        post_login(client, user.username, "wrong")
    user.refresh_from_db()
    assert user.is_locked()
    response = post_login(client, user.username, PASSWORD)
    assert response.status_code == 400 and "已被锁定" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="auth.login", result="denied", detail__reason="locked").exists()


def test_success_resets_the_failure_count(client, make_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    user = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    post_login(client, user.username, "wrong")
    post_login(client, user.username, "wrong")
    post_login(client, user.username, PASSWORD)
    client.logout()
    post_login(client, user.username, "wrong")
    user.refresh_from_db()
    assert not user.is_locked() and user.failed_logins == 1


def test_an_address_is_throttled_across_usernames(client, make_user, settings):
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 4
    user = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    for index in range(4):
        post_login(client, f"guess{index}", "wrong")
    response = post_login(client, user.username, PASSWORD)
    assert response.status_code == 400 and "稍后再试" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_administrator_unlocks(make_user, settings):
    settings.LOGIN_MAX_FAILURES = 1
    worker = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    with pytest.raises(services.LoginFailed):
        services.login_attempt(username=worker.username, password="x", source="t")
    with pytest.raises(services.AccountLocked):
        services.login_attempt(username=worker.username, password=PASSWORD, source="t")
    admin = make_user(Role.TOWN_ADMIN, "440113007000")
    services.user_unlock(actor=admin, user=worker)
    assert services.login_attempt(username=worker.username, password=PASSWORD, source="t") == worker


def test_disabled_accounts_cannot_log_in(client, make_user):
    user = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert post_login(client, user.username, PASSWORD).status_code == 400


def test_sessions_expire_when_idle(client, make_user, settings):
    user = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    post_login(client, user.username, PASSWORD)
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_TIMEOUT_MINUTES * 60
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    # Activity renews the idle timer, at most once a minute (so most requests write nothing).
    assert client.get(reverse("web:home")).status_code == 200
    first = Session.objects.get().expire_date
    assert client.get(reverse("web:home")).status_code == 200
    assert Session.objects.get().expire_date == first
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=settings.SESSION_RENEW_SECONDS + 5)):
        assert client.get(reverse("web:home")).status_code == 200
    assert Session.objects.get().expire_date > first
    # Age the session past the idle timeout in the store itself.

    Session.objects.update(expire_date=timezone.now())
    response = client.get(reverse("web:home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("web:login"))


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("short1A!", False),
        ("alllowercaseletters", False),
        ("lowerUPPERonly", False),
        ("Lower1upper", True),
        ("低位1upper!安全", True),
        ("1234567890", False),
    ],
)
def test_password_complexity(password, ok):
    if ok:
        validate_password(password)
    else:
        with pytest.raises(ValidationError):
            validate_password(password)


def test_logout_is_a_post_and_audited(client, make_user):
    user = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    client.force_login(user)
    assert client.get(reverse("web:logout")).status_code == 405
    assert client.post(reverse("web:logout")).status_code == 302
    assert AuditEntry.objects.filter(action="auth.logout", object_id=str(user.pk)).exists()
    assert client.get(reverse("web:home")).status_code == 302


def test_create_admin_bootstraps_a_new_installation(monkeypatch):
    import io

    from django.core.management import CommandError, call_command

    monkeypatch.setattr("sys.stdin", io.StringIO("Boot#strap2026\n"))
    call_command(
        "create_admin", "--username", "first_admin", "--unit", "440113000000", "--password-stdin", stdout=io.StringIO()
    )
    admin = User.objects.get(username="first_admin")
    assert admin.role == Role.DISTRICT_ADMIN and admin.check_password("Boot#strap2026")
    assert AuditEntry.objects.filter(action="accounts.bootstrap", object_id=str(admin.pk)).exists()
    monkeypatch.setattr("sys.stdin", io.StringIO("weak\n"))
    with pytest.raises(CommandError, match="password"):
        call_command("create_admin", "--username", "second", "--unit", "440113000000", "--password-stdin")
    with pytest.raises(CommandError, match="只能绑定到区"):
        monkeypatch.setattr("sys.stdin", io.StringIO("Boot#strap2026\n"))
        call_command("create_admin", "--username", "third", "--unit", "440113007000", "--password-stdin")
    assert not User.objects.filter(username__in=["second", "third"]).exists()
