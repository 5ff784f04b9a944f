"""Reads behind the API's attachment, evaluation and administrator endpoints that `events.selectors` does
not offer yet. Each read that a user sees authorises first (the case through `selectors.case_get`, the
administrator lists through `require`, with the refusal audited), then fetches; API views call these
rather than `.objects`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability, Role
from civicgrid.audit.services import audit_refusal
from civicgrid.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicgrid.core.models import CalendarDay, CalendarYear
from civicgrid.events import admin_services, selectors
from civicgrid.events.models import Attachment, Case, Category, DispatchRule, Evaluation, TimeLimit
from civicgrid.events.workflow import Action

# --- attachments --------------------------------------------------------------------------------------


def case_attachments(*, case: Case) -> list[Attachment]:
    """The files of a case the caller already reads (`selectors.case_get`), in the order they came."""
    return list(case.attachments.select_related("uploaded_by").order_by("uploaded_at", "id"))


def attachments_for_transition(*, actor: Any, case: Case, ids: Iterable[int], action: str) -> list[Attachment]:
    """Files uploaded beforehand that a move cites (e.g. the photo of self-handling): each must be a file
    of this case that the actor uploaded at that move's stage."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    found = {a.pk: a for a in case.attachments.filter(pk__in=wanted, uploaded_by_id=actor.pk, stage=action)}
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise ValidationFailed(
            fields={
                "attachment_ids": [
                    _("附件 %(ids)s 不是您在“%(stage)s”环节为该事件上传的文件")
                    % {"ids": "、".join(str(pk) for pk in missing), "stage": Action(action).label}
                ]
            }
        )
    return [found[pk] for pk in wanted]


# --- evaluation ---------------------------------------------------------------------------------------


def case_evaluation(*, case: Case) -> Evaluation | None:
    return Evaluation.objects.filter(case=case).first()


# --- duplicates ---------------------------------------------------------------------------------------


def require_merge_allowed(*, actor: Any, case: Case) -> None:
    """Duplicate suggestions are for whoever may merge this case (the event centre of its area, while it
    is open), as on the case page; others are refused, and the refusal is journalled."""
    if not any(t.action == Action.MERGE for t in selectors.case_actions(actor=actor, case=case).transitions):
        audit_refusal(actor=actor, action="events.duplicates", target=case, reason="merge_not_allowed")
        raise PermissionDenied(_("只有事件中心派遣员可以查看和合并本辖区在办事件的疑似重复事件"))


# --- dispatch rules -----------------------------------------------------------------------------------


def dispatch_rules_visible(*, actor: Any) -> list[DispatchRule]:
    require(actor, admin_services.CAPABILITY, action="events.dispatch_rule.view")
    return list(DispatchRule.objects.select_related("category", "area", "department").order_by("order", "id"))


def dispatch_rule_get(*, actor: Any, rule_id: int) -> DispatchRule:
    require(actor, admin_services.CAPABILITY, action="events.dispatch_rule.view")
    rule = DispatchRule.objects.select_related("category", "area", "department").filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(_("派遣规则 %(id)s 不存在") % {"id": rule_id})
    return rule


# --- time limits --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeLimitRow:
    category: Category
    current: TimeLimit | None
    upcoming: list[TimeLimit] = field(default_factory=list)
    versions: list[TimeLimit] = field(default_factory=list)  # newest first


def time_limit_rows(*, actor: Any, now: dt.datetime, category: str = "") -> list[TimeLimitRow]:
    """Each minor category with the version in force, those still to come, and all its versions."""
    require(actor, admin_services.CAPABILITY, action="events.time_limit.view")
    minors = Category.objects.filter(parent__isnull=False).select_related("parent").prefetch_related("limits")
    if category:
        minors = minors.filter(code=category)
        if not minors.exists():
            raise ValidationFailed(fields={"category": [_("事件小类“%(code)s”不存在") % {"code": category}]})
    rows = []
    for minor in minors.order_by("parent__sort", "parent__code", "sort", "code"):
        versions = sorted(minor.limits.all(), key=lambda v: v.valid_from, reverse=True)
        rows.append(
            TimeLimitRow(
                category=minor,
                current=next((v for v in versions if v.valid_from <= now), None),
                upcoming=sorted((v for v in versions if v.valid_from > now), key=lambda v: v.valid_from),
                versions=versions,
            )
        )
    return rows


def time_limit_category(*, code: str) -> Category:
    """The category a new time-limit version is for (the service checks that it is a minor one)."""
    found = Category.objects.filter(code=code.strip()).select_related("parent").first() if code.strip() else None
    if found is None:
        message = _("事件小类“%(code)s”不存在") % {"code": code} if code.strip() else _("请选择事件小类")
        raise ValidationFailed(fields={"category": [message]})
    return found


# --- the working calendar -----------------------------------------------------------------------------


def calendar_years(*, actor: Any) -> list[CalendarYear]:
    require(actor, Capability.MANAGE_CALENDAR, action="calendar.view")
    return list(CalendarYear.objects.select_related("loaded_by").order_by("year"))


def calendar_days(*, actor: Any, year: int) -> list[CalendarDay]:
    """The special days stored for a year: holidays and make-up working days."""
    require(actor, Capability.MANAGE_CALENDAR, action="calendar.view")
    return list(CalendarDay.objects.filter(date__year=year).order_by("date"))


def reopen_decidable(*, actor: Any, case: Case, status: str) -> bool:
    """Whether this actor decides the case's pending reopening request (a supervisor of its area)."""
    unit = getattr(actor, "org_unit", None)
    return bool(
        status == "pending"
        and getattr(actor, "role", None) == Role.SUPERVISOR
        and unit is not None
        and case.org_path.startswith(unit.path)
    )
