"""The permission matrix for every account write: anonymous, wrong role, wrong area, right role.
Forbidden cases also assert that nothing changed and that the refusal was audited."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from civicgrid.accounts import selectors, services
from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core.errors import NotAuthenticated, OutOfScope, PermissionDenied, ValidationFailed
from civicgrid.orgunits.models import Department
from civicgrid.orgunits.services import department_create, orgunits_import
from tests.conftest import DISTRICT, SHATOU, SHATOU_COMMUNITY, SHIQIAO, SHIQIAO_COMMUNITY

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "Neu#Passwort2026"
HUADU = "code,name,level,parent_code\n440114000000,花都区,district,440100000000\n"


def snapshot():
    return list(User.objects.order_by("pk").values_list("pk", "username", "role", "org_unit_id", "is_active"))


@pytest.fixture
def actors(make_user):
    return {
        "anonymous": AnonymousUser(),
        "wrong_role": make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY),
        "wrong_area": make_user(Role.TOWN_ADMIN, SHATOU),
        "right": make_user(Role.TOWN_ADMIN, SHIQIAO),
    }


EXPECTED = {
    "anonymous": NotAuthenticated,
    "wrong_role": PermissionDenied,
    "wrong_area": OutOfScope,
    "right": None,
}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_create_account_matrix(who, actors, unit):
    actor = actors[who]
    before = snapshot()
    denied_before = AuditEntry.objects.filter(result="denied").count()
    call = lambda: services.user_create(  # noqa: E731
        actor=actor,
        username="new_worker",
        password=NEW_PASSWORD,
        role=Role.GRID_WORKER,
        org_unit=unit(SHIQIAO_COMMUNITY),
        full_name="新网格员",
    )
    if EXPECTED[who] is None:
        user = call()
        assert user.org_unit.code == SHIQIAO_COMMUNITY and user.check_password(NEW_PASSWORD)
        entry = AuditEntry.objects.filter(action="accounts.create", object_id=str(user.pk)).get()
        assert entry.result == "ok" and entry.actor_id == actor.pk
    else:
        with pytest.raises(EXPECTED[who]):
            call()
        assert snapshot() == before
        assert AuditEntry.objects.filter(result="denied").count() == denied_before + 1


@pytest.mark.parametrize("who", list(EXPECTED))
def test_update_account_matrix(who, actors, make_user):
    target = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    actor = actors[who]
    before = snapshot()
    if EXPECTED[who] is None:
        services.user_update(actor=actor, user=target, is_active=False)
        target.refresh_from_db()
        assert target.is_active is False
    else:
        with pytest.raises(EXPECTED[who]):
            services.user_update(actor=actor, user=target, is_active=False)
        assert snapshot() == before


@pytest.mark.parametrize("who", list(EXPECTED))
def test_unlock_and_reset_matrix(who, actors, make_user):
    target = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    User.objects.filter(pk=target.pk).update(failed_logins=3)
    password_before = User.objects.get(pk=target.pk).password
    actor = actors[who]
    if EXPECTED[who] is None:
        services.user_unlock(actor=actor, user=target)
        services.user_reset_password(actor=actor, user=target, new_password=NEW_PASSWORD)
        target.refresh_from_db()
        assert target.failed_logins == 0 and target.check_password(NEW_PASSWORD)
    else:
        with pytest.raises(EXPECTED[who]):
            services.user_unlock(actor=actor, user=target)
        with pytest.raises(EXPECTED[who]):
            services.user_reset_password(actor=actor, user=target, new_password=NEW_PASSWORD)
        target.refresh_from_db()
        assert target.failed_logins == 3 and target.password == password_before


def test_moving_an_account_needs_both_areas(actors, make_user, unit):
    target = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    with pytest.raises(OutOfScope):
        services.user_update(actor=actors["right"], user=target, org_unit=unit(SHATOU_COMMUNITY))
    target.refresh_from_db()
    assert target.org_unit.code == SHIQIAO_COMMUNITY


def test_town_admin_cannot_grant_district_roles_or_bind_wrong_levels(actors, unit):
    admin = actors["right"]
    with pytest.raises(ValidationFailed) as exc:
        services.user_create(
            actor=admin, username="x1", password=NEW_PASSWORD, role=Role.AUDITOR, org_unit=unit(SHIQIAO)
        )
    assert "role" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        services.user_create(
            actor=admin,
            username="x2",
            password=NEW_PASSWORD,
            role=Role.COMMUNITY_CLERK,
            org_unit=unit(SHIQIAO),
        )
    assert "社区/村" in exc.value.fields["org_unit"][0]
    with pytest.raises(ValidationFailed) as exc:
        services.user_create(
            actor=admin,
            username="x3",
            password=NEW_PASSWORD,
            role=Role.DEPARTMENT_HANDLER,
            org_unit=unit(SHIQIAO),
        )
    assert "department" in exc.value.fields
    assert not User.objects.filter(username__in=["x1", "x2", "x3"]).exists()


def test_weak_password_is_refused_naming_the_field(actors, unit):
    with pytest.raises(ValidationFailed) as exc:
        services.user_create(
            actor=actors["right"],
            username="weak",
            password="password123",
            role=Role.GRID_WORKER,
            org_unit=unit(SHIQIAO_COMMUNITY),
        )
    assert "password" in exc.value.fields
    assert not User.objects.filter(username="weak").exists()


def test_admin_cannot_demote_or_disable_themselves(make_user):
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    with pytest.raises(PermissionDenied):
        services.user_update(actor=admin, user=admin, is_active=False)
    admin.refresh_from_db()
    assert admin.is_active


@pytest.mark.parametrize("who", list(EXPECTED))
def test_department_create_matrix(who, make_user, unit):
    # A second district on the same platform gives the district administrator a "wrong area".
    orgunits_import(text=HUADU, actor=None)
    actor = {
        "anonymous": lambda: AnonymousUser(),
        "wrong_role": lambda: make_user(Role.TOWN_ADMIN, SHIQIAO),
        "wrong_area": lambda: make_user(Role.DISTRICT_ADMIN, "440114000000"),
        "right": lambda: make_user(Role.DISTRICT_ADMIN, DISTRICT),
    }[who]()
    before = Department.objects.count()
    call = lambda: department_create(  # noqa: E731
        actor=actor,
        code="SQ-SW",
        name="市桥水务所",
        kind="water",
        org_unit=unit(SHIQIAO),
        serves=[unit(SHIQIAO)],
    )
    if EXPECTED[who] is None:
        assert call().serves.get().code == SHIQIAO
    else:
        with pytest.raises(EXPECTED[who]):
            call()
        assert Department.objects.count() == before


def test_division_import_needs_the_district_administrator(make_user):
    town_admin = make_user(Role.TOWN_ADMIN, SHIQIAO)
    with pytest.raises(PermissionDenied):
        orgunits_import(text="code,name,level,parent_code\n", actor=town_admin)


def test_scoped_selectors_see_only_the_subtree(make_user):
    shiqiao_admin = make_user(Role.TOWN_ADMIN, SHIQIAO)
    make_user(Role.GRID_WORKER, SHATOU_COMMUNITY, username="other_area_worker")
    mine = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY, username="my_worker")
    visible = set(selectors.user_list(actor=shiqiao_admin).values_list("username", flat=True))
    assert "my_worker" in visible and "other_area_worker" not in visible
    units = selectors.orgunit_list(actor=shiqiao_admin)
    assert units.count() == 37 and all(u.path.startswith(f"{DISTRICT}/{SHIQIAO}/") for u in units)
    with pytest.raises(Exception, match="不在您的辖区内"):
        selectors.orgunit_get_visible(actor=shiqiao_admin, code=SHATOU_COMMUNITY)
    worker_units = selectors.orgunit_list(actor=mine)
    assert list(worker_units.values_list("code", flat=True)) == [SHIQIAO_COMMUNITY]
