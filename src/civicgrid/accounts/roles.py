"""Roles and what each may do, as data.

A capability names something a role may do; the scope (which units) always comes from the account's
org unit: a user acts only inside its subtree. Later domain apps add their capabilities here."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from civicgrid.orgunits.models import Level


class Role(models.TextChoices):
    DISTRICT_ADMIN = "district_admin", _("区级管理员")
    TOWN_ADMIN = "town_admin", _("镇街管理员")
    COMMUNITY_CLERK = "community_clerk", _("社区工作站人员")
    GRID_WORKER = "grid_worker", _("网格员")
    DISPATCHER = "dispatcher", _("事件中心派遣员")
    DEPARTMENT_HANDLER = "dept_handler", _("职能部门处置人员")
    SUPERVISOR = "supervisor", _("督办人员")
    AUDITOR = "auditor", _("审计员")


class Capability(StrEnum):
    MANAGE_ACCOUNTS = "manage_accounts"
    MANAGE_ORGUNITS = "manage_orgunits"
    MANAGE_DEPARTMENTS = "manage_departments"
    VIEW_ORGUNITS = "view_orgunits"
    VIEW_ACCOUNTS = "view_accounts"
    VIEW_AUDIT = "view_audit"
    VERIFY_AUDIT = "verify_audit"
    REVEAL_PERSONAL_INFO = "reveal_personal_info"
    VIEW_MAP = "view_map"
    MANAGE_GRID_LAYERS = "manage_grid_layers"
    VIEW_REGISTER = "view_register"
    REGISTER_RESIDENTS = "register_residents"
    RECORD_RESIDENCE_EXCEPTION = "record_residence_exception"
    IMPORT_REGISTER = "import_register"
    WORK_QUALITY_QUEUES = "work_quality_queues"
    DRAW_SPOT_CHECKS = "draw_spot_checks"
    RECORD_SPOT_CHECKS = "record_spot_checks"
    VIEW_EVENTS = "view_events"
    MANAGE_CALENDAR = "manage_calendar"


ALL_ROLES = frozenset(Role)

CAPABILITIES: dict[Capability, frozenset[str]] = {
    Capability.MANAGE_ACCOUNTS: frozenset({Role.DISTRICT_ADMIN, Role.TOWN_ADMIN}),
    Capability.MANAGE_ORGUNITS: frozenset({Role.DISTRICT_ADMIN}),
    Capability.MANAGE_DEPARTMENTS: frozenset({Role.DISTRICT_ADMIN}),
    Capability.VIEW_ORGUNITS: ALL_ROLES,
    Capability.VIEW_ACCOUNTS: frozenset({Role.DISTRICT_ADMIN, Role.TOWN_ADMIN, Role.AUDITOR}),
    Capability.VIEW_AUDIT: frozenset({Role.AUDITOR, Role.DISTRICT_ADMIN}),
    Capability.VERIFY_AUDIT: frozenset({Role.AUDITOR}),
    Capability.REVEAL_PERSONAL_INFO: frozenset({Role.COMMUNITY_CLERK, Role.TOWN_ADMIN}),
    Capability.VIEW_MAP: ALL_ROLES,
    Capability.MANAGE_GRID_LAYERS: frozenset({Role.DISTRICT_ADMIN}),
    # The register: community workstations and grid workers register; towns oversee.
    Capability.VIEW_REGISTER: frozenset(
        {Role.DISTRICT_ADMIN, Role.TOWN_ADMIN, Role.COMMUNITY_CLERK, Role.GRID_WORKER, Role.SUPERVISOR}
    ),
    Capability.REGISTER_RESIDENTS: frozenset({Role.TOWN_ADMIN, Role.COMMUNITY_CLERK, Role.GRID_WORKER}),
    Capability.RECORD_RESIDENCE_EXCEPTION: frozenset({Role.TOWN_ADMIN, Role.COMMUNITY_CLERK}),
    Capability.IMPORT_REGISTER: frozenset({Role.TOWN_ADMIN, Role.COMMUNITY_CLERK}),
    Capability.WORK_QUALITY_QUEUES: frozenset({Role.TOWN_ADMIN, Role.COMMUNITY_CLERK}),
    Capability.DRAW_SPOT_CHECKS: frozenset({Role.DISTRICT_ADMIN, Role.TOWN_ADMIN, Role.SUPERVISOR}),
    Capability.RECORD_SPOT_CHECKS: frozenset({Role.SUPERVISOR, Role.TOWN_ADMIN, Role.COMMUNITY_CLERK}),
    Capability.VIEW_EVENTS: frozenset(
        {
            Role.DISTRICT_ADMIN,
            Role.TOWN_ADMIN,
            Role.GRID_WORKER,
            Role.DISPATCHER,
            Role.DEPARTMENT_HANDLER,
            Role.SUPERVISOR,
        }
    ),
    Capability.MANAGE_CALENDAR: frozenset({Role.DISTRICT_ADMIN}),
}

# The levels at which an account of each role may be bound.
ROLE_LEVELS: dict[str, frozenset[str]] = {
    Role.DISTRICT_ADMIN: frozenset({Level.DISTRICT}),
    Role.TOWN_ADMIN: frozenset({Level.TOWN}),
    Role.COMMUNITY_CLERK: frozenset({Level.COMMUNITY}),
    Role.GRID_WORKER: frozenset({Level.COMMUNITY, Level.GRID}),
    Role.DISPATCHER: frozenset({Level.DISTRICT, Level.TOWN}),
    Role.DEPARTMENT_HANDLER: frozenset({Level.DISTRICT, Level.TOWN}),
    Role.SUPERVISOR: frozenset({Level.DISTRICT, Level.TOWN}),
    Role.AUDITOR: frozenset({Level.DISTRICT}),
}

# Which roles an administrator may grant (always within the administrator's own subtree).
GRANTABLE_ROLES: dict[str, frozenset[str]] = {
    Role.DISTRICT_ADMIN: ALL_ROLES,
    Role.TOWN_ADMIN: frozenset(
        {Role.COMMUNITY_CLERK, Role.GRID_WORKER, Role.DISPATCHER, Role.DEPARTMENT_HANDLER, Role.SUPERVISOR}
    ),
}

ROLES_NEEDING_DEPARTMENT = frozenset({Role.DEPARTMENT_HANDLER})


def has_capability(user: Any, capability: Capability) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.role in CAPABILITIES[capability]
