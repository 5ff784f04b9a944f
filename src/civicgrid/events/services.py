"""Writes to grid events. `case_transition` is the one function that changes a case's state: it checks
the transition table, the actor's role and area, and the 采办分离 rules, locks the case, appends to the
status history and the audit journal in one transaction. Intake (`case_report`) and the periodic sweep
(supervision and escalation) are here too."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.accounts.roles import Role
from civicgrid.audit.services import audit_record, audit_refusal
from civicgrid.core import pii
from civicgrid.core.errors import Conflict, NotAuthenticated, OutOfScope, PermissionDenied, ValidationFailed
from civicgrid.core.workcalendar import current_calendar
from civicgrid.events.deadlines import step_due
from civicgrid.events.models import Case, CaseFlag, CaseHistory, Category, Channel, DispatchRule, TimeLimit
from civicgrid.events.workflow import OPEN_STATES, TRANSITIONS, Action, State, Transition
from civicgrid.orgunits.models import PATH_SEPARATOR, Department, Level, OrgUnit

PHONE_FIELD = "case.reporter_phone"


# --- who may act: the sides of the closed loop -----------------------------------------------------------


def _in_area(actor: Any, case: Case) -> bool:
    unit = getattr(actor, "org_unit", None)
    return unit is not None and case.org_path.startswith(unit.path)


def _in_handling_department(actor: Any, case: Case) -> bool:
    return bool(case.department_id) and getattr(actor, "department_id", None) == case.department_id


def _collecting_side(actor: Any, case: Case) -> bool:
    """The collector, or a grid worker of the case's grid (or, for a worker bound to a community, of that
    community). Never anyone of the handling department."""
    if actor.role != Role.GRID_WORKER or _in_handling_department(actor, case):
        return False
    return actor.pk == case.reporter_id or _in_area(actor, case)


def _reopen_pending(case: Case) -> bool:
    from civicgrid.events import feedback  # feedback builds on this module

    return feedback.reopen_request_pending(case) is not None


def _side_allows(side: str, actor: Any, case: Case) -> tuple[bool, str]:
    """(allowed, refusal reason). The reason names which rule refused, for the audit journal."""
    if side == "collecting":
        if actor.role != Role.GRID_WORKER:
            return False, "not_collecting_side"
        if _in_handling_department(actor, case):
            return False, "verifier_in_handling_department"
        return (_collecting_side(actor, case), "not_collector_or_same_grid")
    if side == "centre":
        if actor.role != Role.DISPATCHER:
            return False, "not_event_centre"
        return (_in_area(actor, case), "out_of_scope")
    if side == "handling":
        if actor.role != Role.DEPARTMENT_HANDLER:
            return False, "not_handling_department"
        if case.department_id is None or actor.department_id != case.department_id:
            return False, "other_department"
        if actor.pk == case.reporter_id:
            return False, "handler_is_collector"
        return True, ""
    if side == "reopen_decision":
        if actor.role != Role.SUPERVISOR:
            return False, "not_supervisor"
        if not _in_area(actor, case):
            return False, "out_of_scope"
        return (_reopen_pending(case), "no_reopen_request")
    return False, "unknown_side"


class TransitionRefused(PermissionDenied):
    code = "transition_refused"


class InvalidTransition(Conflict):
    code = "invalid_transition"


REFUSAL_MESSAGES = {
    "not_collecting_side": gettext_lazy("只有采集方（上报的网格员或同网格网格员）可以执行此操作"),
    "not_collector_or_same_grid": gettext_lazy("只有上报该事件的网格员或同一网格的网格员可以核查（采办分离）"),
    "not_event_centre": gettext_lazy("只有事件中心派遣员可以执行此操作"),
    "not_handling_department": gettext_lazy("只有被派遣的职能部门可以执行此操作"),
    "other_department": gettext_lazy("该事件未派遣给您所在的部门"),
    "handler_is_collector": gettext_lazy("采办分离：上报该事件的人不能处置该事件"),
    "verifier_in_handling_department": gettext_lazy("采办分离：处置部门的人员不能核查本部门处置的事件"),
    "not_supervisor": gettext_lazy("只有督办人员可以执行此操作"),
    "no_reopen_request": (
        gettext_lazy(
            "重新办理须由反映人在结案后规定期限内作出不满意评价并申请，再经督办人员审批；该事件没有待审批的重新办理申请"
        )
    ),
    "out_of_scope": gettext_lazy("该事件不在您的辖区内"),
}


# --- intake --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    title: str
    description: str
    category: Category
    channel: str
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address: str = ""
    reporter_name: str = ""
    reporter_phone: str = ""


def _next_number(now: dt.datetime) -> str:
    day = timezone.localtime(now).strftime("%Y%m%d")
    prefix = f"PY{day}"
    last = Case.objects.filter(number__startswith=prefix).aggregate(m=Max("number"))["m"]
    sequence = int(last[len(prefix) + 1 :]) + 1 if last else 1
    return f"{prefix}-{sequence:06d}"


def current_limit(category: Category, at: dt.datetime) -> TimeLimit | None:
    return category.limits.filter(valid_from__lte=at).order_by("-valid_from").first()


def _locate(report: Report) -> dict[str, Any]:
    from civicgrid.geo.crs import transform_point
    from civicgrid.geo.selectors import layer_current, stamp_point

    if report.lon is None or report.lat is None:
        return {}
    lon, lat = report.lon, report.lat
    if report.crs != "wgs84":
        lon, lat = transform_point(lon, lat, src=report.crs, dst="wgs84")
    values: dict[str, Any] = {"lon": lon, "lat": lat}
    layer = layer_current()
    if layer is not None:
        stamp = stamp_point(layer=layer, x=lon, y=lat)
        units = {
            u.code: u
            for u in OrgUnit.objects.filter(code__in=[c for c in (stamp.grid, stamp.community, stamp.town) if c])
        }
        values.update(
            layer=layer,
            grid=units.get(stamp.grid or ""),
            community=units.get(stamp.community or ""),
            town=units.get(stamp.town or ""),
        )
    return values


def case_report(*, actor: Any, report: Report, community: OrgUnit | None = None) -> Case:
    """Take in a report from any channel. The location (GCJ-02 or WGS-84) is stamped with its grid; a
    report without a location needs the community it concerns."""
    errors: dict[str, list[str]] = {}
    if not report.title.strip():
        errors["title"] = [_("请填写标题")]
    if not report.description.strip():
        errors["description"] = [_("请描述事件情况")]
    if report.category.parent_id is None:
        errors["category"] = [_("请选择事件小类")]
    if report.channel not in Channel.values:
        errors["channel"] = [_("渠道“%(channel)s”无法识别") % {"channel": report.channel}]
    if report.channel == Channel.GRID_WORKER and getattr(actor, "role", None) != Role.GRID_WORKER:
        errors["channel"] = [_("只有网格员可以以网格员渠道上报")]
    if (report.lon is None) != (report.lat is None):
        errors["lon"] = [_("经度和纬度需同时填写")]
    phone = ""
    if report.reporter_phone:
        from civicgrid.registry.services import clean_phone

        try:
            phone = clean_phone(report.reporter_phone)
        except ValidationFailed as exc:
            errors["reporter_phone"] = exc.fields.get("phone", [_("联系电话格式不正确")])
    if errors:
        raise ValidationFailed(fields=errors)
    where = _locate(report)
    if report.lon is not None and not where.get("grid") and where.get("layer") is not None:
        raise ValidationFailed(fields={"lon": [_("该位置不在番禺区任何网格内，请核对坐标或坐标系")]})
    place = where.get("grid") or where.get("community") or community
    if place is None:
        raise ValidationFailed(fields={"community": [_("请在地图上选点或选择所在社区")]})
    if place.level == Level.COMMUNITY and community is not None:
        where.setdefault("community", community)
        where.setdefault("town", community.parent)
    if getattr(actor, "is_authenticated", False) and actor.role == Role.GRID_WORKER:
        unit = actor.org_unit
        scope = unit.parent if unit.level == Level.GRID and unit.parent else unit
        if not place.path.startswith(scope.path):
            audit_refusal(actor=actor, action="events.report", reason="out_of_scope")
            raise OutOfScope(_("网格员只能上报本社区内的事件"))
    now = timezone.now()
    with transaction.atomic():
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    case = Case.objects.create(
                        number=_next_number(now),
                        title=report.title.strip()[:100],
                        description=report.description.strip(),
                        category=report.category,
                        limit=current_limit(report.category, now),
                        channel=report.channel,
                        state=State.REPORTED,
                        address=report.address.strip()[:200],
                        org_path=place.path,
                        reported_at=now,
                        reporter=actor if getattr(actor, "is_authenticated", False) else None,
                        reporter_name=report.reporter_name.strip()[:60],
                        reporter_phone_enc=pii.encrypt(phone, field=PHONE_FIELD) if phone else None,
                        reporter_phone_masked=pii.mask_phone(phone) if phone else "",
                        token=secrets.token_urlsafe(18)[:24],
                        **where,
                    )
                break
            except IntegrityError:
                continue
        else:
            raise Conflict(_("案件编号冲突，请重试"))
        _set_due(case)
        case.save(update_fields=["due_at", "due_provisional", "step_started_at", "step_limit_hours", "escalate_at"])
        CaseHistory.objects.create(
            case=case,
            seq=1,
            action=Action.REPORT,
            from_state="",
            to_state=State.REPORTED,
            actor=case.reporter,
            actor_label=_label(who := _who(actor, report)),
            at=now,
            data={"channel": report.channel, **who},
        )
        audit_record(actor=actor, action="events.report", target=case, detail={"channel": report.channel})
    return case


PUBLIC_ROLE = "public"


def _who(actor: Any, report: Report | None = None) -> dict[str, str]:
    """Who acted, as codes kept in the history row's data: the name and role at the time."""
    if getattr(actor, "is_authenticated", False):
        return {"actor_name": actor.display_name, "actor_role": actor.role}
    return {"actor_name": report.reporter_name if report and report.reporter_name else "", "actor_role": PUBLIC_ROLE}


def actor_text(name: str, role: str) -> str:
    """ "name（role）" in the active language; the public's reporters are "群众（公众）" when unnamed."""
    if role == PUBLIC_ROLE:
        return _("%(name)s（%(role)s）") % {"name": name or _("群众"), "role": _("公众")}
    return _("%(name)s（%(role)s）") % {"name": name, "role": Role(role).label}


def _label(who: dict[str, str]) -> str:
    """The history row's recorded label, in the default language whatever the actor's."""
    with translation.override(settings.LANGUAGE_CODE):
        return actor_text(who["actor_name"], who["actor_role"])


def _set_due(case: Case, calendar: Any = None) -> None:
    due = step_due(case, calendar)
    same_step = case.step_started_at is not None and case.step_started_at == due.start
    already_escalated = same_step and case.escalate_at is None and case.escalation_level > 0
    case.due_at, case.due_provisional = due.due_at, due.provisional
    case.step_started_at, case.step_limit_hours = due.start, due.limit_hours
    # A step that was already escalated keeps no escalation time until the next step starts.
    case.escalate_at = None if already_escalated else due.escalate_at
    if case.state == State.ACCEPTED:
        case.handle_due_at = due.due_at


# --- dispatch rules -----------------------------------------------------------------------------------


def dispatch_suggestion(case: Case, at: dt.datetime | None = None) -> DispatchRule | None:
    """The first active rule matching the case's category (minor or its major), area and time."""
    at = timezone.localtime(at or timezone.now())
    for rule in DispatchRule.objects.filter(active=True).select_related("category", "area", "department"):
        if rule.category_id and rule.category_id not in (case.category_id, case.category.parent_id):
            continue
        if rule.area is not None and not case.org_path.startswith(rule.area.path):
            continue
        if rule.weekdays and str(at.isoweekday()) not in rule.weekdays.split(","):
            continue
        if rule.time_from and rule.time_to and not (rule.time_from <= at.time() <= rule.time_to):
            continue
        return rule
    return None


@dataclass(frozen=True)
class DispatchProposal:
    """Where a case would go if the dispatcher chose nothing: the first matching rule's department, else
    the department of the category's default kind nearest to the case's place. `basis` is "rule",
    "category_kind", or "" (no proposal: the dispatcher chooses)."""

    department: Department | None
    rule: DispatchRule | None = None
    basis: str = ""


def _department_of_kind(case: Case) -> Department | None:
    """The active department of the category's `default_department_kind` that serves the case's place,
    the nearest level first (the grid, then its community, its town, the district). Two departments of
    the kind serving the same nearest unit make no proposal: the dispatcher chooses between them."""
    parent = case.category.parent
    kind = case.category.default_department_kind or (parent.default_department_kind if parent else "")
    if not kind:
        return None
    codes = [code for code in case.org_path.split(PATH_SEPARATOR) if code]
    serving = Department.objects.filter(active=True, kind=kind, serves__code__in=codes).annotate(
        served=F("serves__code")
    )
    by_depth: dict[int, dict[int, Department]] = {}
    for department in serving:
        by_depth.setdefault(codes.index(department.served), {})[department.pk] = department
    if not by_depth:
        return None
    nearest = by_depth[max(by_depth)]
    return next(iter(nearest.values())) if len(nearest) == 1 else None


def dispatch_proposal(case: Case, at: dt.datetime | None = None) -> DispatchProposal:
    """The dispatch suggestion: the first matching dispatch rule, else the category's default kind of
    department serving the case's area (nearest level first), else none (the dispatcher's choice)."""
    rule = dispatch_suggestion(case, at)
    if rule is not None:
        return DispatchProposal(rule.department, rule, "rule")
    department = _department_of_kind(case)
    if department is not None:
        return DispatchProposal(department, None, "category_kind")
    return DispatchProposal(None)


# --- the one state-changing service -----------------------------------------------------------------


def _known(action: str) -> Transition:
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise ValidationFailed(fields={"action": [_("未知操作“%(action)s”") % {"action": action}]})
    return transition


def _require_actor(actor: Any, case: Case, transition: Transition) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        audit_refusal(actor=actor, action=f"events.{transition.action}", target=case, reason="not_authenticated")
        raise NotAuthenticated()


def case_transition(
    *,
    actor: Any,
    case: Case,
    action: str,
    reason: str = "",
    department: Department | None = None,
    expected_version: int | None = None,
    attachments: int = 0,
    data: dict[str, Any] | None = None,
) -> Case:
    """Move a case along the closed loop. Refusals change nothing and are audited.

    The moves the table reserves to a service (`Transition.service`) are not made here. A reopening is
    the supervisor's approval of a pending reopening request: the side check has made sure there is one
    (a negative evaluation within the window), and the move is delegated to `feedback.reopen_decide`. A
    merge needs the main case the duplicate is linked to, which only `feedback.case_merge` takes: refused."""
    transition = _known(action)
    _require_actor(actor, case, transition)
    refuse_if_not_allowed(transition, actor, case)
    if transition.service == "reopen_decide":
        from civicgrid.events import feedback  # feedback builds on this module

        return feedback.reopen_decide(
            actor=actor, case=case, approve=True, reason=reason, expected_version=expected_version
        )
    if transition.service:
        raise ValidationFailed(
            fields={"main": [_("合并须指定主事件：请通过“合并”功能选择或填写主事件编号，不能直接改为“已合并”")]}
        )
    return _move(
        actor=actor,
        case=case,
        transition=transition,
        reason=reason,
        department=department,
        expected_version=expected_version,
        attachments=attachments,
        data=data,
    )


def case_transition_by_service(
    *,
    actor: Any,
    case: Case,
    action: str,
    reason: str,
    main: Case | None = None,
    expected_version: int | None = None,
    data: dict[str, Any] | None = None,
) -> Case:
    """The moves reserved to a service, for that service only: "reopen" by `feedback.reopen_decide`
    (approving a pending request: the side of the move requires one) and "merge" by `feedback.case_merge`
    (with the main case, linked in the same write). The checks of `case_transition` apply."""
    transition = _known(action)
    if not transition.service:
        raise ValueError(f"{action} is made through case_transition")
    _require_actor(actor, case, transition)
    refuse_if_not_allowed(transition, actor, case)
    if transition.action == Action.MERGE and main is None:
        raise ValidationFailed(fields={"main": [_("请选择或填写主事件编号")]})
    return _move(
        actor=actor,
        case=case,
        transition=transition,
        reason=reason,
        department=None,
        expected_version=expected_version,
        attachments=0,
        data=data,
        main=main,
    )


def _move(
    *,
    actor: Any,
    case: Case,
    transition: Transition,
    reason: str,
    department: Department | None,
    expected_version: int | None,
    attachments: int,
    data: dict[str, Any] | None,
    main: Case | None = None,
) -> Case:
    """Check the inputs, lock the case, decide again under the lock, write the move, its history row and
    its audit entry in one transaction."""
    _check_inputs(transition, case, actor, reason, department, attachments)
    now = timezone.now()
    with transaction.atomic():
        locked = Case.objects.select_for_update(of=("self",)).select_related("limit", "category").get(pk=case.pk)
        if expected_version is not None and locked.version != expected_version:
            raise Conflict(_("该事件已被他人处理，请刷新后查看最新状态"))
        if locked.state not in transition.sources or not _side_allows(transition.side, actor, locked)[0]:
            refused = locked  # the case changed since it was read: decide again outside the transaction
        else:
            refused = None
            before = step_due(locked)
            from_state = locked.state
            extra = _apply(locked, transition, actor, now, department, main)
            locked.state = transition.target
            locked.version += 1
            _set_due(locked)
            locked.save()
            seq = (CaseHistory.objects.filter(case=locked).aggregate(m=Max("seq"))["m"] or 0) + 1
            step_hours = None
            if before.start is not None:
                step_hours = round(current_calendar().working_duration(before.start, now).hours, 2)
            CaseHistory.objects.create(
                case=locked,
                seq=seq,
                action=transition.action,
                from_state=from_state,
                to_state=transition.target,
                actor=actor,
                actor_label=_label(who := _who(actor)),
                department=locked.department,
                at=now,
                note=reason.strip(),
                data={**extra, **(data or {}), **who},
                step_hours=step_hours,
                step_limit_hours=before.limit_hours,
            )
            audit_record(
                actor=actor,
                action=f"events.{transition.action}",
                target=locked,
                detail={"from": from_state, "to": transition.target, **extra},
            )
    if refused is not None:
        refuse_if_not_allowed(transition, actor, refused)
        raise Conflict(_("该事件已被他人处理，请刷新后查看最新状态"))
    return locked


def refuse_if_not_allowed(transition: Transition, actor: Any, case: Case) -> None:
    """Wrong state first (the clearer message), then the side of the loop; each refusal is audited."""
    if case.state not in transition.sources:
        audit_refusal(
            actor=actor,
            action=f"events.{transition.action}",
            target=case,
            reason="invalid_state",
            detail={"state": case.state},
        )
        raise InvalidTransition(
            _("事件当前状态为“%(state)s”，不能执行“%(action)s”")
            % {"state": State(case.state).label, "action": Action(transition.action).label}
        )
    allowed, why = _side_allows(transition.side, actor, case)
    if not allowed:
        audit_refusal(actor=actor, action=f"events.{transition.action}", target=case, reason=why)
        raise TransitionRefused(REFUSAL_MESSAGES.get(why, _("您不能执行此操作")))


def _check_inputs(
    transition: Transition, case: Case, actor: Any, reason: str, department: Department | None, attachments: int
) -> None:
    errors: dict[str, list[str]] = {}
    if transition.needs_reason and not reason.strip():
        errors["reason"] = [_("请填写说明或原因")]
    if transition.needs_attachment and attachments < 1:
        errors["attachments"] = [_("自行处置需上传处置后照片")]
    if transition.action == Action.SELF_HANDLE:
        if not case.category.self_fixable:
            errors["action"] = [_("该类事件不允许网格员自行处置")]
        elif case.reporter_id != actor.pk:
            errors["action"] = [_("只有上报人可以自行处置")]
    if transition.action == Action.DISPATCH:
        proposal = dispatch_proposal(case)
        chosen = department or proposal.department
        if chosen is None:
            errors["department"] = [_("没有匹配的派遣规则，也没有该类事件默认的服务部门，请选择处置部门")]
        elif proposal.rule and department and department.pk != proposal.rule.department_id and not reason.strip():
            errors["reason"] = [
                _("改派到与规则（%(department)s）不同的部门，请说明理由")
                % {"department": proposal.rule.department.name}
            ]
        elif not case.org_path.startswith(tuple(u.path for u in chosen.serves.all())):
            errors["department"] = [_("%(department)s 不服务该事件所在区域") % {"department": chosen.name}]
    if errors:
        raise ValidationFailed(fields=errors)


def _apply(
    case: Case, transition: Transition, actor: Any, now: dt.datetime, department: Department | None, main: Case | None
) -> dict[str, Any]:
    """Timestamps and assignments of each move; returns what the history should record."""
    extra: dict[str, Any] = {}
    action = transition.action
    if action == Action.FILE:
        case.filed_at = now
    elif action == Action.DISPATCH:
        proposal = dispatch_proposal(case)
        chosen = department or proposal.department
        if chosen is None:  # unreachable: _check_inputs refused this
            raise ValidationFailed(fields={"department": [_("请选择处置部门")]})
        case.department = chosen
        case.handler = None
        case.dispatched_at = now
        case.extension_pending = False
        extra = {
            "department": chosen.code,
            "rule": proposal.rule.pk if proposal.rule else None,
            "basis": proposal.basis,
            "override": bool(proposal.department and chosen.pk != proposal.department.pk),
        }
    elif action == Action.ACCEPT:
        case.accepted_at = now
        case.handler = actor
    elif action == Action.RETURN:
        extra = {"department": case.department.code if case.department else None}
        case.department = None
        case.handler = None
        case.accepted_at = None
    elif action == Action.HANDLE:
        case.handled_at = now
    elif action == Action.REWORK:
        case.dispatched_at = now
        case.accepted_at = None
        case.handled_at = None
        case.handler = None
    elif action in (Action.VERIFY, Action.SELF_HANDLE):
        case.closed_at = now
    elif action == Action.REOPEN:
        case.dispatched_at = now
        case.accepted_at = case.handled_at = case.closed_at = None
    elif action == Action.MERGE:
        if main is None:  # unreachable: case_transition_by_service refused this
            raise ValidationFailed(fields={"main": [_("请选择或填写主事件编号")]})
        case.duplicate_of = main
        extra = {"main": main.number}
    if transition.target not in OPEN_STATES:
        case.supervised = False
    return extra


# --- flags: extension, supervision, escalation, evaluation ------------------------------------------


def extension_request(*, actor: Any, case: Case, hours: Decimal, reason: str) -> CaseFlag:
    allowed, why = _side_allows("handling", actor, case)
    if not allowed:
        audit_refusal(actor=actor, action="events.extension_request", target=case, reason=why)
        raise TransitionRefused(REFUSAL_MESSAGES.get(why, _("您不能申请延期")))
    if not reason.strip():
        raise ValidationFailed(fields={"reason": [_("请说明延期理由")]})
    if hours <= 0 or hours > 21 * 7:
        raise ValidationFailed(fields={"hours": [_("延期时长应在 0 到 21 个工作日之间")]})
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.state != State.ACCEPTED:
            raise InvalidTransition(_("只有处置中的事件可以申请延期"))
        if locked.extension_pending:
            raise Conflict(_("已有待审批的延期申请"))
        locked.extension_pending = True
        locked.version += 1
        locked.save(update_fields=["extension_pending", "version", "updated_at"])
        flag = CaseFlag.objects.create(
            case=locked,
            kind=CaseFlag.Kind.EXTENSION_REQUEST,
            at=timezone.now(),
            actor=actor,
            hours=hours,
            note=reason.strip()[:300],
        )
        audit_record(actor=actor, action="events.extension_request", target=locked, detail={"hours": str(hours)})
    return flag


def extension_decide(*, actor: Any, case: Case, approve: bool, note: str = "") -> Case:
    """The event centre (or a supervisor) decides; an approval moves the handling deadline."""
    if getattr(actor, "role", None) not in (Role.DISPATCHER, Role.SUPERVISOR) or not _in_area(actor, case):
        audit_refusal(actor=actor, action="events.extension_decide", target=case, reason="not_centre_or_supervisor")
        raise TransitionRefused(_("只有事件中心或督办人员可以审批延期"))
    with transaction.atomic():
        locked = Case.objects.select_for_update(of=("self",)).select_related("limit").get(pk=case.pk)
        if not locked.extension_pending:
            raise Conflict(_("没有待审批的延期申请"))
        request = locked.flags.filter(kind=CaseFlag.Kind.EXTENSION_REQUEST).order_by("-at").first()
        hours = request.hours if request and request.hours else Decimal(0)
        locked.extension_pending = False
        if approve:
            locked.extension_hours += hours
            _set_due(locked)
        locked.version += 1
        locked.save()
        kind = CaseFlag.Kind.EXTENSION_APPROVED if approve else CaseFlag.Kind.EXTENSION_DENIED
        CaseFlag.objects.create(
            case=locked, kind=kind, at=timezone.now(), actor=actor, hours=hours, note=note.strip()[:300]
        )
        audit_record(
            actor=actor,
            action="events.extension_decide",
            target=locked,
            detail={"approve": approve, "hours": str(hours)},
        )
    return locked


SWEEP_LOCK = 0x1317_0002  # PostgreSQL advisory lock: one sweep at a time, so that its counts are exact


def events_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The periodic job: overdue open cases get a supervision flag; those three times over their step's
    limit escalate one level (once per step: `escalate_at` is cleared when it fires and set again only
    when the next step starts). Idempotent: each flag's key names the case's step. Set-based, whatever the
    number of cases: two INSERT … SELECT for the flags, then one UPDATE that writes each case once (every
    write of a case maintains all of its indexes)."""
    from django.db import connection

    # In UTC: SQLite compares the raw parameters as text against the stored UTC values.
    now = (now or timezone.now()).astimezone(dt.UTC)
    case_table, flag_table = Case._meta.db_table, CaseFlag._meta.db_table
    open_states = sorted(OPEN_STATES)
    in_open = f"state IN ({', '.join(['%s'] * len(open_states))})"
    if connection.vendor == "postgresql":
        epoch = "COALESCE(FLOOR(EXTRACT(EPOCH FROM step_started_at))::bigint, 0)::text"
        insert, conflict = "INSERT INTO", "ON CONFLICT DO NOTHING"
    else:
        epoch = "CAST(COALESCE(CAST(strftime('%%s', step_started_at) AS INTEGER), 0) AS TEXT)"
        insert, conflict = "INSERT OR IGNORE INTO", ""
    overdue = "due_at < %s AND NOT supervised"
    due_to_escalate = "escalate_at < %s"
    columns = "(case_id, kind, at, actor_id, automatic, level, hours, note, key)"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SWEEP_LOCK])
        # (On SQLite this first write takes the database's write lock for the transaction.)
        cursor.execute(
            f"{insert} {flag_table} {columns} "  # noqa: S608
            f"SELECT id, %s, %s, NULL, %s, 0, NULL, %s, %s || state || ':' || {epoch} FROM {case_table} "
            f"WHERE {in_open} AND {overdue} {conflict}",
            [CaseFlag.Kind.SUPERVISE, now, True, "超过时限，系统自动督办", "supervise:", *open_states, now],
        )
        cursor.execute(
            f"{insert} {flag_table} {columns} "  # noqa: S608
            f"SELECT id, %s, %s, NULL, %s, escalation_level + 1, NULL, %s, %s || state || ':' || {epoch} "
            f"FROM {case_table} WHERE {in_open} AND {due_to_escalate} {conflict}",
            [CaseFlag.Kind.ESCALATE, now, True, "超过时限三倍，升级至上一级督办", "escalate:", *open_states, now],
        )
        cursor.execute(
            f"SELECT COALESCE(SUM(CASE WHEN {overdue} THEN 1 ELSE 0 END), 0), "  # noqa: S608
            f"COALESCE(SUM(CASE WHEN {due_to_escalate} THEN 1 ELSE 0 END), 0) FROM {case_table} "
            f"WHERE {in_open} AND (({overdue}) OR {due_to_escalate})",
            [now, now, *open_states, now, now],
        )
        supervised, escalated = cursor.fetchone()
        cursor.execute(
            f"UPDATE {case_table} SET "  # noqa: S608
            f"supervised = CASE WHEN due_at < %s THEN %s ELSE supervised END, "
            f"escalation_level = escalation_level + CASE WHEN {due_to_escalate} THEN 1 ELSE 0 END, "
            f"escalate_at = CASE WHEN {due_to_escalate} THEN NULL ELSE escalate_at END "
            f"WHERE {in_open} AND (({overdue}) OR {due_to_escalate})",
            [now, True, now, now, *open_states, now, now],
        )
    counts = {"supervised": int(supervised), "escalated": int(escalated)}
    counts["checked"] = counts["supervised"] + counts["escalated"]
    return counts


_DEADLINE_COLUMNS = ("due_at", "due_provisional", "handle_due_at", "step_started_at", "step_limit_hours", "escalate_at")


def _bulk_set_deadlines(cases: list[Any]) -> None:
    """Write the deadline columns of many cases at once. PostgreSQL: one UPDATE … FROM unnest(arrays);
    SQLite (in-process): executemany. (Django's bulk_update compiles a CASE per batch whose cost grows
    quadratically with the batch.)"""
    from django.db import connection

    table = Case._meta.db_table
    rows = [(*(getattr(c, col) for col in _DEADLINE_COLUMNS), c.pk) for c in cases]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            columns = [list(column) for column in zip(*rows, strict=True)]
            cursor.execute(
                f"UPDATE {table} AS c SET due_at = v.due_at, due_provisional = v.due_provisional, "  # noqa: S608
                "handle_due_at = v.handle_due_at, step_started_at = v.step_started_at, "
                "step_limit_hours = v.step_limit_hours, escalate_at = v.escalate_at "
                "FROM unnest(%s::timestamptz[], %s::boolean[], %s::timestamptz[], %s::timestamptz[], "
                "%s::float8[], %s::timestamptz[], %s::bigint[]) "
                "AS v(due_at, due_provisional, handle_due_at, step_started_at, step_limit_hours, escalate_at, id) "
                "WHERE c.id = v.id",
                columns,
            )
        else:
            assignments = ", ".join(f"{col} = %s" for col in _DEADLINE_COLUMNS)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", rows)  # noqa: S608


def catalogue_seed() -> int:
    """Load the seed catalogue where it is missing (the migration does this on install; tests that flush
    the database call it again). Returns the number of categories created."""
    from civicgrid.events.catalogue import CATALOGUE

    valid_from = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    created_count = 0
    for sort, (major_code, major_name, minors) in enumerate(CATALOGUE):
        major, created = Category.objects.get_or_create(code=major_code, defaults={"name": major_name, "sort": sort})
        created_count += created
        for minor_sort, (code, name, kind, value, unit, self_fixable) in enumerate(minors):
            minor, created = Category.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "parent": major,
                    "default_department_kind": kind,
                    "self_fixable": self_fixable,
                    "sort": minor_sort,
                },
            )
            if created:
                created_count += 1
                TimeLimit.objects.create(category=minor, valid_from=valid_from, handle_value=value, handle_unit=unit)
    return created_count


_RECOMPUTE_FIELDS = (
    "pk",
    "state",
    "limit_id",
    "reported_at",
    "filed_at",
    "updated_at",
    "dispatched_at",
    "accepted_at",
    "handled_at",
    "extension_hours",
    "step_started_at",
    "escalate_at",
    "escalation_level",
    "due_at",
    "due_provisional",
    "handle_due_at",
)


def deadlines_recompute(*, only_provisional: bool = False, batch_size: int = 10_000) -> int:
    """Recompute the current step's deadline of open cases (after a calendar year is loaded, provisional
    deadlines become final and may move). Reads plain rows (no model instances) and writes in bulk.
    Returns the number of cases whose deadline changed."""
    from types import SimpleNamespace

    calendar = current_calendar(refresh=True)
    limits = {limit.pk: limit for limit in TimeLimit.objects.all()}
    changed_total = 0
    last = 0
    queryset = Case.objects.filter(state__in=OPEN_STATES)
    if only_provisional:
        queryset = queryset.filter(due_provisional=True)
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk").values_list(*_RECOMPUTE_FIELDS)[:batch_size])
        if not rows:
            return changed_total
        last = rows[-1][0]
        changed: list[Any] = []
        for row in rows:
            case = SimpleNamespace(**dict(zip(_RECOMPUTE_FIELDS, row, strict=True)))
            case.limit = limits.get(case.limit_id)
            before = (case.due_at, case.due_provisional, case.handle_due_at, case.escalate_at)
            _set_due(case, calendar)  # type: ignore[arg-type]
            if (case.due_at, case.due_provisional, case.handle_due_at, case.escalate_at) != before:
                changed.append(case)
        if changed:
            with transaction.atomic():
                _bulk_set_deadlines(changed)
            changed_total += len(changed)


def recompute_after_calendar_load(year: int) -> int:
    """Hook: when an administrator loads a year's holiday arrangement, provisional deadlines become final."""
    return deadlines_recompute(only_provisional=True)
