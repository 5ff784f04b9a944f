"""Scoped reads. Every list a user sees is cut to the user's subtree here; other apps use
`scope_filter` to cut their own querysets the same way."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext as _

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.core.errors import NotAuthenticated, NotFound, PermissionDenied
from civicgrid.orgunits.models import Department, Level, OrgUnit

M = TypeVar("M", bound=Model)


def scope_root(actor: Any) -> OrgUnit:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAuthenticated()
    if actor.org_unit_id is None:
        raise PermissionDenied(_("账号未绑定组织单元，请联系管理员"))
    return actor.org_unit


def scope_filter(queryset: QuerySet[M], *, actor: Any, path_field: str = "org_unit__path") -> QuerySet[M]:
    """Cut any queryset whose rows hang off an org unit down to the actor's subtree."""
    root = scope_root(actor)
    return queryset.filter(**{f"{path_field}__startswith": root.path})


def orgunit_list(
    *, actor: Any, level: str | None = None, within: str | None = None, q: str | None = None
) -> QuerySet[OrgUnit]:
    if not has_capability(actor, Capability.VIEW_ORGUNITS):
        raise PermissionDenied()
    queryset = scope_filter(OrgUnit.objects.select_related("parent"), actor=actor, path_field="path")
    if within:
        queryset = queryset.filter(path__contains=f"{within}/")
    if level:
        queryset = queryset.filter(level=level)
    if q:
        queryset = queryset.filter(Q(name__contains=q) | Q(code__startswith=q))
    return queryset


def orgunit_get_visible(*, actor: Any, code: str) -> OrgUnit:
    """One unit, if the actor may see it. Out-of-area units look the same as missing ones."""
    unit = orgunit_list(actor=actor).filter(code=code).first()
    if unit is None:
        raise NotFound(_("组织单元 %(code)s 不存在或不在您的辖区内") % {"code": code})
    return unit


def orgunit_summary(*, actor: Any) -> dict[str, int]:
    """How many units of each level the actor's area holds."""
    units = orgunit_list(actor=actor)
    return {level: units.filter(level=level).count() for level in Level.values}


def department_list(*, actor: Any) -> QuerySet[Department]:
    """Departments that sit in the actor's area, serve any unit of it, or serve a unit above it (a
    district bureau serves every community), and the actor's own department."""
    root = scope_root(actor)
    above = [code for code in root.path.split("/") if code]
    queryset = Department.objects.filter(
        Q(org_unit__path__startswith=root.path) | Q(serves__path__startswith=root.path) | Q(serves__code__in=above)
    )
    if actor.department_id:
        queryset = queryset | Department.objects.filter(pk=actor.department_id)
    return queryset.select_related("org_unit").distinct().order_by("code")


def user_list(*, actor: Any, role: str | None = None, q: str | None = None) -> QuerySet[User]:
    if not has_capability(actor, Capability.VIEW_ACCOUNTS):
        raise PermissionDenied()
    queryset = scope_filter(User.objects.select_related("org_unit", "department"), actor=actor)
    if role:
        queryset = queryset.filter(role=role)
    if q:
        queryset = queryset.filter(Q(username__icontains=q) | Q(full_name__contains=q))
    return queryset


def user_get_visible(*, actor: Any, user_id: int) -> User:
    user = user_list(actor=actor).filter(pk=user_id).first()
    if user is None:
        raise NotFound(_("账号不存在或不在您的辖区内"))
    return user
