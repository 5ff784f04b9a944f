"""After the loop and beside it: the reporter's evaluation of a closed case (综合评价) with its request to
reopen, the supervisor's decision on that request, and duplicates (nearby open cases of the same category)
with merging.

- `evaluation_submit`: once per case, after closing, by the reporter (a signed-in collector) or the holder
  of the case's tracking token (a citizen). A rating of 2 or less may ask for the case to be reopened,
  within `EVENTS_REOPEN_WINDOW_DAYS` of closing; the request is a `CaseFlag` (REOPEN_REQUEST).
- `reopen_decide`: a supervisor of the case's area approves (the case goes back to the department through
  `services.case_transition_by_service(action="reopen")`) or denies (a REOPEN_DENIED flag with the
  reason). Approval needs the request to stand (`reopen_request_pending`): a negative evaluation (2 stars
  or less) asked for it within the window after closing, and it is neither denied nor approved yet. This
  is the only way a closed case reopens: `services.case_transition(action="reopen")` comes here.
- `duplicate_candidates`: open cases of the same category reported within `EVENTS_DUPLICATE_DAYS` (default
  7) and `EVENTS_DUPLICATE_RADIUS_M` metres (default 100): a bounding box on longitude/latitude narrows the
  query, the geodesic distance on the WGS-84 ellipsoid decides. A case without a point is compared with
  the cases of its community that have no point either.
- `case_merge`: the duplicate moves to "merged" (its history stays its own, with the merge as its last
  row) and points at the main case, in one write (`services.case_transition_by_service`); the generic
  `case_transition` refuses "merge", which has no main case.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from pyproj import Geod

from civicgrid.accounts.roles import Role
from civicgrid.audit.services import audit_record, audit_refusal
from civicgrid.core.errors import Conflict, NotAuthenticated, PermissionDenied, ValidationFailed
from civicgrid.events import services
from civicgrid.events.models import Case, CaseFlag, CaseHistory, Evaluation
from civicgrid.events.workflow import OPEN_STATES, TRANSITIONS, Action, State

_GEOD = Geod(ellps="WGS84")
_METRES_PER_DEGREE_LAT = 110_574.0  # the shortest degree of latitude (at the equator): a safe bbox bound
_METRES_PER_DEGREE_LON_EQUATOR = 111_320.0


def _authenticated(actor: Any) -> bool:
    return actor is not None and bool(getattr(actor, "is_authenticated", False))


def _supervisor_of(actor: Any, case: Case) -> bool:
    unit = getattr(actor, "org_unit", None)
    return (
        _authenticated(actor)
        and actor.role == Role.SUPERVISOR
        and unit is not None
        and case.org_path.startswith(unit.path)
    )


def reopen_window_days() -> int:
    return int(getattr(settings, "EVENTS_REOPEN_WINDOW_DAYS", 15))


# --- evaluation and reopening -------------------------------------------------------------------------


def reopen_allowed(case: Case, *, now: dt.datetime | None = None) -> bool:
    """Whether a (negative) evaluation may still ask for this closed case to be reopened."""
    if case.state != State.CLOSED or case.closed_at is None:
        return False
    return (now or timezone.now()) <= case.closed_at + dt.timedelta(days=reopen_window_days())


def evaluation_submit(
    *,
    case: Case,
    rating: int,
    comment: str,
    by_user: Any = None,
    reopen_requested: bool,
    token: str = "",
) -> Evaluation:
    """The reporter's rating (1–5) of a closed case, once. `by_user` is the signed-in reporter; a citizen
    presents the case's tracking `token` instead. A rating of 2 or less may request reopening within the
    window; the request waits for a supervisor (`reopen_decide`)."""
    is_reporter = _authenticated(by_user) and by_user.pk == case.reporter_id
    holds_token = bool(token) and secrets.compare_digest(case.token, token)
    actor = by_user if _authenticated(by_user) else AnonymousUser()
    if not (is_reporter or holds_token):
        audit_refusal(actor=actor, action="events.evaluate", target=case, reason="not_reporter")
        if not _authenticated(by_user):
            raise NotAuthenticated()
        raise PermissionDenied(_("只有反映人可以评价该事件"))
    errors: dict[str, list[str]] = {}
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        errors["rating"] = [_("请选择 1 到 5 星的满意度")]
    comment = comment.strip()
    if len(comment) > 300:
        errors["comment"] = [_("评价内容不能超过 300 字")]
    if reopen_requested and not errors and rating > 2:
        errors["reopen_requested"] = [_("只有“不满意”（2 星及以下）的评价可以申请重新办理")]
    if errors:
        raise ValidationFailed(fields=errors)
    now = timezone.now()
    try:
        with transaction.atomic():
            locked = Case.objects.select_for_update().get(pk=case.pk)
            if locked.state != State.CLOSED:
                raise Conflict(_("事件当前状态为“%(state)s”，结案后才能评价") % {"state": State(locked.state).label})
            if Evaluation.objects.filter(case=locked).exists():
                raise Conflict(_("该事件已评价过，不能重复评价"))
            if reopen_requested and not reopen_allowed(locked, now=now):
                raise ValidationFailed(
                    fields={
                        "reopen_requested": [
                            _("已超过结案后 %(days)d 天，不能再申请重新办理") % {"days": reopen_window_days()}
                        ]
                    }
                )
            evaluation = Evaluation.objects.create(
                case=locked,
                rating=rating,
                comment=comment,
                by_user=by_user if is_reporter else None,
                at=now,
                reopen_requested=reopen_requested,
            )
            if reopen_requested:
                CaseFlag.objects.create(
                    case=locked,
                    kind=CaseFlag.Kind.REOPEN_REQUEST,
                    at=now,
                    actor=by_user if is_reporter else None,
                    note=(comment or "评价不满意，申请重新办理")[:300],
                    key=f"reopen_request:{evaluation.pk}",
                )
            audit_record(
                actor=actor,
                action="events.evaluate",
                target=locked,
                detail={
                    "rating": rating,
                    "reopen_requested": reopen_requested,
                    "by": "reporter" if is_reporter else "token",
                },
            )
    except IntegrityError:  # a simultaneous second submission lost the race for the one-to-one row
        raise Conflict(_("该事件已评价过，不能重复评价")) from None
    return evaluation


@dataclass(frozen=True)
class ReopenStatus:
    request: CaseFlag | None
    state: str  # "" (none) | pending | approved | denied


def reopen_status(case: Case) -> ReopenStatus:
    """The latest reopening request of a case and what became of it."""
    request = case.flags.filter(kind=CaseFlag.Kind.REOPEN_REQUEST).order_by("-at", "-id").first()
    if request is None:
        return ReopenStatus(None, "")
    if case.flags.filter(kind=CaseFlag.Kind.REOPEN_DENIED, key=f"reopen_denied:{request.pk}").exists():
        return ReopenStatus(request, "denied")
    if CaseHistory.objects.filter(case=case, action=Action.REOPEN, at__gte=request.at).exists():
        return ReopenStatus(request, "approved")
    return ReopenStatus(request, "pending")


def reopen_request_pending(case: Case) -> CaseFlag | None:
    """The reopening request a supervisor may approve now, if any: the latest request of a closed case,
    neither denied nor approved, made by the case's negative evaluation (2 stars or less) within
    `EVENTS_REOPEN_WINDOW_DAYS` of closing."""
    if case.state != State.CLOSED or case.closed_at is None:
        return None
    status = reopen_status(case)
    if status.state != "pending" or status.request is None:
        return None
    evaluation = Evaluation.objects.filter(case=case).first()
    if (
        evaluation is None
        or not evaluation.reopen_requested
        or evaluation.rating > 2
        or status.request.key != f"reopen_request:{evaluation.pk}"
        or status.request.at > case.closed_at + dt.timedelta(days=reopen_window_days())
    ):
        return None
    return status.request


def reopen_decide(*, actor: Any, case: Case, approve: bool, reason: str, expected_version: int | None = None) -> Case:
    """A supervisor of the case's area decides a pending reopening request: approve sends the case back
    to handling (action "reopen", made only here); deny records REOPEN_DENIED with the reason."""
    if not _authenticated(actor):
        audit_refusal(actor=actor, action="events.reopen_decide", target=case, reason="not_authenticated")
        raise NotAuthenticated()
    if not _supervisor_of(actor, case):
        why = "not_supervisor" if actor.role != Role.SUPERVISOR else "out_of_scope"
        audit_refusal(actor=actor, action="events.reopen_decide", target=case, reason=why)
        raise services.TransitionRefused(services.REFUSAL_MESSAGES[why])
    if not reason.strip():
        raise ValidationFailed(fields={"reason": [_("请填写审批意见")]})
    with transaction.atomic():
        locked = Case.objects.select_for_update(of=("self",)).get(pk=case.pk)
        if expected_version is not None and locked.version != expected_version:
            raise Conflict(_("该事件已被他人处理，请刷新后查看最新状态"))
        status = reopen_status(locked)
        if status.state != "pending" or status.request is None:
            raise Conflict(_("该事件没有待审批的重新办理申请"))
        if approve:
            if reopen_request_pending(locked) is None:
                raise Conflict(
                    _("该申请不是结案后 %(days)d 天内的不满意评价提出的，不能重新办理，只能驳回")
                    % {"days": reopen_window_days()}
                )
            return services.case_transition_by_service(
                actor=actor,
                case=locked,
                action=Action.REOPEN,
                reason=reason,
                data={"reopen_request": status.request.pk},
            )
        CaseFlag.objects.create(
            case=locked,
            kind=CaseFlag.Kind.REOPEN_DENIED,
            at=timezone.now(),
            actor=actor,
            note=reason.strip()[:300],
            key=f"reopen_denied:{status.request.pk}",
        )
        locked.version += 1
        locked.save(update_fields=["version", "updated_at"])
        audit_record(
            actor=actor,
            action="events.reopen_decide",
            target=locked,
            detail={"approve": False, "request": status.request.pk},
        )
    return locked


# --- duplicates -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateCandidate:
    case: Case
    distance_m: float | None  # None when neither case has a point (same community)


def duplicate_radius_m() -> float:
    return float(getattr(settings, "EVENTS_DUPLICATE_RADIUS_M", 100))


def duplicate_days() -> int:
    return int(getattr(settings, "EVENTS_DUPLICATE_DAYS", 7))


def duplicate_candidates(
    case: Case,
    *,
    radius_m: float | None = None,
    days: int | None = None,
    limit: int = 20,
    scope: QuerySet[Case] | None = None,
) -> list[DuplicateCandidate]:
    """Open cases of the same category reported within `days` before this one (or after it) and within
    `radius_m` metres, nearest first. A page showing them to a user passes that user's `scope` (e.g.
    `selectors.case_scope(actor=user)`): near a boundary a candidate may lie outside the user's area."""
    radius = duplicate_radius_m() if radius_m is None else float(radius_m)
    age = duplicate_days() if days is None else int(days)
    queryset = (
        (Case.objects.all() if scope is None else scope)
        .filter(
            category_id=case.category_id,
            state__in=OPEN_STATES,
            duplicate_of__isnull=True,
            reported_at__gte=case.reported_at - dt.timedelta(days=age),
        )
        .exclude(pk=case.pk)
        .select_related("category")
    )
    if case.lon is None or case.lat is None:
        same_place = queryset.filter(lon__isnull=True, org_path=case.org_path).order_by("-reported_at")[:limit]
        return [DuplicateCandidate(c, None) for c in same_place]
    dlat = radius / _METRES_PER_DEGREE_LAT
    cos_lat = max(math.cos(math.radians(min(abs(case.lat) + dlat, 89.9))), 1e-6)
    dlon = radius / (_METRES_PER_DEGREE_LON_EQUATOR * cos_lat)
    nearby = list(
        queryset.filter(
            lon__gte=case.lon - dlon,
            lon__lte=case.lon + dlon,
            lat__gte=case.lat - dlat,
            lat__lte=case.lat + dlat,
        )
    )
    if not nearby:
        return []
    _az, _back, distances = _GEOD.inv(
        [case.lon] * len(nearby), [case.lat] * len(nearby), [c.lon for c in nearby], [c.lat for c in nearby]
    )
    found = [
        DuplicateCandidate(c, round(float(d), 1)) for c, d in zip(nearby, distances, strict=True) if float(d) <= radius
    ]
    found.sort(key=lambda item: (item.distance_m or 0.0, -item.case.reported_at.timestamp()))
    return found[:limit]


def case_merge(*, actor: Any, duplicate: Case, main: Case, reason: str) -> Case:
    """Merge a duplicate into the main case: the duplicate is closed as "merged" by the event centre
    (its history kept, the merge appended) and linked to the main case. Not into itself, nor into a case
    that is merged, rejected or cancelled; the main case must be in the actor's area too."""
    if duplicate.pk == main.pk:
        raise ValidationFailed(fields={"main": [_("不能将事件合并到其自身")]})
    if main.state == State.MERGED or main.duplicate_of_id is not None:
        raise ValidationFailed(
            fields={"main": [_("事件 %(number)s 已合并到其他事件，请选择其主事件") % {"number": main.number}]}
        )
    if main.state in (State.REJECTED, State.CANCELLED):
        raise ValidationFailed(
            fields={
                "main": [
                    _("事件 %(number)s 已%(state)s，不能作为主事件")
                    % {"number": main.number, "state": State(main.state).label}
                ]
            }
        )
    if not _authenticated(actor):
        audit_refusal(actor=actor, action="events.merge", target=duplicate, reason="not_authenticated")
        raise NotAuthenticated()
    # Refusals are decided (and journalled) before the transaction, so that they are committed.
    services.refuse_if_not_allowed(TRANSITIONS[Action.MERGE], actor, duplicate)
    unit = getattr(actor, "org_unit", None)
    if unit is None or not main.org_path.startswith(unit.path):
        audit_refusal(actor=actor, action="events.merge", target=main, reason="out_of_scope")
        raise services.TransitionRefused(services.REFUSAL_MESSAGES["out_of_scope"])
    with transaction.atomic():
        locked_main = Case.objects.select_for_update(of=("self",)).get(pk=main.pk)
        if locked_main.state == State.MERGED or locked_main.duplicate_of_id is not None:
            raise Conflict(_("事件 %(number)s 刚刚被合并到其他事件，请刷新后重试") % {"number": main.number})
        merged = services.case_transition_by_service(
            actor=actor, case=duplicate, action=Action.MERGE, reason=reason, main=locked_main
        )
        audit_record(
            actor=actor,
            action="events.merge_into",
            target=locked_main,
            detail={"duplicate": merged.number},
        )
    return merged
