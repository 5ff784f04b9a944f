"""Shared fixtures. The Panyu division list is loaded once per test database (it is what the product
ships) and each test runs in a transaction on top of it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings

os.environ.setdefault("CIVICGRID_ALLOW_DEV_KEY", "1")

from civicgrid.accounts.models import User
from civicgrid.core import workcalendar
from civicgrid.orgunits.models import Department, OrgUnit

PASSWORD = "Test#pass2026"
DISTRICT = "440113000000"
SHIQIAO = "440113007000"  # 市桥街道
SHATOU = "440113008000"  # 沙头街道
SHIQIAO_COMMUNITY = "440113007003"  # 德兴社区
SHATOU_COMMUNITY = "440113008001"


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """Browser tests run last: their live server keeps a database session open until the end of the run,
    and the restore tests rightly refuse to restore while another session is connected.

    A test marked `postgres` needs PostgreSQL (locking, sessions). On any other database it fails
    loudly instead of skipping; the SQLite pass of scripts/test.sh deselects them with -m "not postgres"
    and the PostgreSQL pass runs them."""
    from django.db import connection

    items.sort(key=lambda item: item.get_closest_marker("browser") is not None or "/tests/browser/" in str(item.path))
    if connection.vendor == "postgresql":
        return
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.usefixtures("_require_postgres"))


@pytest.fixture
def _require_postgres() -> None:
    pytest.fail("this test needs PostgreSQL: run it with DATABASE_URL=postgres://… (scripts/test.sh does)")


def ensure_divisions() -> None:
    """Load the shipped Panyu list unless it is there (transactional tests flush the database)."""
    from civicgrid.demo.services import divisions_csv_text
    from civicgrid.orgunits.services import orgunits_import

    if not OrgUnit.objects.exists():
        result = orgunits_import(text=divisions_csv_text(), actor=None, source_name="panyu_divisions.csv")
        assert not result.errors, result.errors


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    with django_db_blocker.unblock():
        ensure_divisions()


@pytest.fixture(autouse=True)
def _test_settings(settings):  # type: ignore[no-untyped-def]
    """The suite runs the production settings (DEBUG off) over plain HTTP on loopback, so no redirect to
    HTTPS, and static files come from the finders rather than a collected manifest. PBKDF2 at production
    strength costs ~0.4 s a hash; tests that are not about hashing use MD5."""
    settings.SECURE_SSL_REDIRECT = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_work_calendar() -> None:
    """The calendar is cached per process for a few seconds; a test that loaded a year (rolled back with
    its transaction) must not leave that year loaded for the next test."""
    workcalendar.forget_cache()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts in the default language (Chinese): a request in English leaves English active in
    the thread, which would otherwise carry over into the next test's service calls."""
    from django.utils import translation

    with translation.override(settings.LANGUAGE_CODE):
        yield


@pytest.fixture
def unit(db) -> Callable[[str], OrgUnit]:  # type: ignore[no-untyped-def]
    ensure_divisions()
    return lambda code: OrgUnit.objects.get(code=code)


@pytest.fixture
def department(db) -> Department:  # type: ignore[no-untyped-def]
    ensure_divisions()
    district = OrgUnit.objects.get(code=DISTRICT)
    dept = Department.objects.create(code="T-CG", name="测试城管局", kind="urban", org_unit=district)
    dept.serves.set([district])
    return dept


@pytest.fixture
def make_user(db) -> Callable[..., User]:  # type: ignore[no-untyped-def]
    ensure_divisions()
    counter = {"n": 0}

    def make(role: str, unit_code: str, *, department: Department | None = None, username: str = "") -> User:
        counter["n"] += 1
        user = User(
            username=username or f"{role}_{counter['n']}",
            role=role,
            org_unit=OrgUnit.objects.get(code=unit_code),
            department=department,
            full_name=f"测试{role}",
        )
        user.set_password(PASSWORD)
        user.save()
        return user

    return make
