"""The one place a service asks "may this actor do this here?". A refusal is written to the audit
journal and raised as a domain error; nothing else happens."""

from __future__ import annotations

from typing import Any

from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.audit.services import audit_refusal
from civicgrid.core.errors import NotAuthenticated, OutOfScope, PermissionDenied
from civicgrid.orgunits.models import Level, OrgUnit


def scope_unit(actor: Any) -> OrgUnit | None:
    """The unit whose subtree an account works in. A grid worker bound to a grid works the register and
    the events of the grid's community (neighbouring grids share houses, streets and cases)."""
    root = getattr(actor, "org_unit", None)
    if root is not None and root.level == Level.GRID and root.parent_id is not None:
        return root.parent
    return root


def in_scope(actor: Any, unit: OrgUnit | None) -> bool:
    """True when the unit lies in the actor's working area (see `scope_unit`)."""
    if unit is None:
        return True
    root = scope_unit(actor)
    return root is not None and unit.is_within(root)


def require(
    actor: Any, capability: Capability, *, action: str, unit: OrgUnit | None = None, target: Any = None
) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        audit_refusal(actor=actor, action=action, target=target, reason="not_authenticated")
        raise NotAuthenticated()
    if not has_capability(actor, capability):
        audit_refusal(actor=actor, action=action, target=target, reason=f"missing:{capability}")
        raise PermissionDenied()
    if not in_scope(actor, unit):
        audit_refusal(
            actor=actor,
            action=action,
            target=target,
            reason="out_of_scope",
            detail={"unit": unit.code if unit else ""},
        )
        raise OutOfScope()
