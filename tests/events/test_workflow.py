"""The closed loop: every transition of the table walked, every forbidden one refused with state and
history unchanged, and each 采办分离 rule shown refused."""

from __future__ import annotations

import pytest

from civicgrid.audit.models import AuditEntry
from civicgrid.core.errors import Conflict, ValidationFailed
from civicgrid.events import services
from civicgrid.events.models import Case, CaseHistory
from civicgrid.events.workflow import TRANSITIONS, Action, State
from tests.events.conftest import report

pytestmark = pytest.mark.django_db


def snapshot(case):
    row = Case.objects.get(pk=case.pk)
    return (
        row.state,
        row.version,
        row.department_id,
        list(CaseHistory.objects.filter(case=case).values_list("seq", "action", "to_state")),
    )


def go(loop, case, action, who, **kwargs):
    actor = getattr(loop, who)
    if TRANSITIONS[action].needs_reason:
        kwargs.setdefault("reason", "说明")
    return services.case_transition(actor=actor, case=case, action=action, **kwargs)


def test_report_is_stamped_and_timed(loop):
    case = report(loop)
    assert case.state == State.REPORTED and case.grid.code == loop.grid and case.town.code == "440113007000"
    assert case.number.startswith("PY") and case.limit is not None and case.due_at > case.reported_at
    assert CaseHistory.objects.get(case=case).action == Action.REPORT


def test_every_transition_walked(loop):
    case = report(loop)
    case = go(loop, case, Action.FILE, "dispatcher")
    case = go(loop, case, Action.DISPATCH, "dispatcher", department=loop.department)
    assert case.department == loop.department and case.state == State.DISPATCHED
    case = go(loop, case, Action.RETURN, "handler")
    assert case.state == State.RETURNED and case.department is None
    case = go(loop, case, Action.DISPATCH, "dispatcher", department=loop.department)
    case = go(loop, case, Action.ACCEPT, "handler")
    assert case.handler == loop.handler and case.handle_due_at is not None
    case = go(loop, case, Action.HANDLE, "handler")
    case = go(loop, case, Action.REWORK, "collector")
    assert case.state == State.DISPATCHED
    case = go(loop, case, Action.ACCEPT, "handler")
    case = go(loop, case, Action.HANDLE, "handler")
    case = go(loop, case, Action.VERIFY, "peer")  # a worker of the same grid may verify
    assert case.state == State.CLOSED and case.closed_at is not None and case.due_at is None
    case = go(loop, case, Action.REOPEN, "supervisor")
    assert case.state == State.DISPATCHED
    actions = list(CaseHistory.objects.filter(case=case).values_list("action", flat=True))
    assert actions == [
        "report",
        "file",
        "dispatch",
        "return",
        "dispatch",
        "accept",
        "handle",
        "rework",
        "accept",
        "handle",
        "verify",
        "reopen",
    ]
    steps = CaseHistory.objects.filter(case=case, action="accept").first()
    assert steps.step_limit_hours == 1.0 and steps.step_hours is not None
    # The other exits.
    rejected = go(loop, report(loop), Action.REJECT, "dispatcher")
    assert rejected.state == State.REJECTED
    self_handled = go(loop, report(loop), Action.SELF_HANDLE, "collector", attachments=1)
    assert self_handled.state == State.SELF_HANDLED
    cancelled = go(loop, go(loop, report(loop), Action.FILE, "dispatcher"), Action.CANCEL, "dispatcher")
    assert cancelled.state == State.CANCELLED
    merged = go(loop, report(loop), Action.MERGE, "dispatcher")
    assert merged.state == State.MERGED


WHO = {"collecting": "collector", "centre": "dispatcher", "handling": "handler", "supervision": "supervisor"}


def cases_in_every_state(loop):
    """One case per reachable state, built through the service."""
    states = {}
    c = report(loop)
    states[State.REPORTED] = c
    c = go(loop, report(loop), Action.FILE, "dispatcher")
    states[State.FILED] = c
    d = go(
        loop,
        go(loop, report(loop), Action.FILE, "dispatcher"),
        Action.DISPATCH,
        "dispatcher",
        department=loop.department,
    )
    states[State.DISPATCHED] = d
    a = go(
        loop,
        go(
            loop,
            go(loop, report(loop), Action.FILE, "dispatcher"),
            Action.DISPATCH,
            "dispatcher",
            department=loop.department,
        ),
        Action.ACCEPT,
        "handler",
    )
    states[State.ACCEPTED] = a
    r = go(
        loop,
        go(
            loop,
            go(loop, report(loop), Action.FILE, "dispatcher"),
            Action.DISPATCH,
            "dispatcher",
            department=loop.department,
        ),
        Action.RETURN,
        "handler",
    )
    states[State.RETURNED] = r
    h = go(
        loop,
        go(
            loop,
            go(
                loop,
                go(loop, report(loop), Action.FILE, "dispatcher"),
                Action.DISPATCH,
                "dispatcher",
                department=loop.department,
            ),
            Action.ACCEPT,
            "handler",
        ),
        Action.HANDLE,
        "handler",
    )
    states[State.HANDLED] = h
    states[State.CLOSED] = go(
        loop,
        go(
            loop,
            go(
                loop,
                go(
                    loop,
                    go(loop, report(loop), Action.FILE, "dispatcher"),
                    Action.DISPATCH,
                    "dispatcher",
                    department=loop.department,
                ),
                Action.ACCEPT,
                "handler",
            ),
            Action.HANDLE,
            "handler",
        ),
        Action.VERIFY,
        "collector",
    )
    states[State.REJECTED] = go(loop, report(loop), Action.REJECT, "dispatcher")
    states[State.SELF_HANDLED] = go(loop, report(loop), Action.SELF_HANDLE, "collector", attachments=1)
    states[State.CANCELLED] = go(loop, report(loop), Action.CANCEL, "dispatcher")
    states[State.MERGED] = go(loop, report(loop), Action.MERGE, "dispatcher")
    return states


def test_every_forbidden_transition_is_refused_and_changes_nothing(loop):
    states = cases_in_every_state(loop)
    assert set(states) == set(State.values)
    refused = 0
    for state, case in states.items():
        for action, transition in TRANSITIONS.items():
            if state in transition.sources:
                continue
            before = snapshot(case)
            with pytest.raises(Conflict, match="不能执行"):
                go(loop, case, action, WHO[transition.side], department=loop.department, attachments=1)
            assert snapshot(case) == before
            refused += 1
    assert refused == sum(len(State.values) - len(t.sources) for t in TRANSITIONS.values())


@pytest.mark.parametrize(
    ("rule", "setup", "action", "who", "words"),
    [
        ("the handler is never the collector", "handler_reported", Action.ACCEPT, "handler", "采办分离"),
        (
            "verification is by the collecting side, never the handler's department",
            "handled",
            Action.VERIFY,
            "handler",
            "采集方",
        ),
        ("a department never closes its own case", "handled", Action.VERIFY, "handler", "采集方"),
        ("verification by a worker of another grid", "handled", Action.VERIFY, "stranger", "同一网格"),
        ("another department cannot accept", "dispatched", Action.ACCEPT, "other_handler", "未派遣给您所在的部门"),
        ("only the event centre dispatches", "filed", Action.DISPATCH, "handler", "事件中心"),
        ("the collector cannot file their own report", "reported", Action.FILE, "collector", "事件中心"),
    ],
)
def test_separation_rules_refused(loop, rule, setup, action, who, words):
    case = report(loop)
    if setup == "handler_reported":
        case = go(
            loop, go(loop, case, Action.FILE, "dispatcher"), Action.DISPATCH, "dispatcher", department=loop.department
        )
        Case.objects.filter(pk=case.pk).update(reporter=loop.handler)
    elif setup in ("handled", "dispatched", "filed"):
        case = go(loop, case, Action.FILE, "dispatcher")
        if setup != "filed":
            case = go(loop, case, Action.DISPATCH, "dispatcher", department=loop.department)
        if setup == "handled":
            case = go(loop, go(loop, case, Action.ACCEPT, "handler"), Action.HANDLE, "handler")
    before = snapshot(case)
    denied = AuditEntry.objects.filter(result="denied").count()
    with pytest.raises(services.TransitionRefused, match=words):
        services.case_transition(
            actor=getattr(loop, who), case=case, action=action, reason="x", department=loop.department
        )
    assert snapshot(case) == before, rule
    assert AuditEntry.objects.filter(result="denied").count() == denied + 1


def test_reasons_and_photos_are_required(loop):
    case = go(loop, report(loop), Action.FILE, "dispatcher")
    with pytest.raises(ValidationFailed) as exc:
        services.case_transition(actor=loop.dispatcher, case=case, action=Action.CANCEL)
    assert "reason" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        services.case_transition(actor=loop.collector, case=report(loop), action=Action.SELF_HANDLE)
    assert "attachments" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        services.case_transition(
            actor=loop.collector, case=report(loop, code="0101"), action=Action.SELF_HANDLE, attachments=1
        )
    assert "不允许网格员自行处置" in exc.value.fields["action"][0]


def test_stale_version_is_a_conflict(loop):
    case = go(loop, report(loop), Action.FILE, "dispatcher")
    with pytest.raises(Conflict, match="已被他人处理"):
        services.case_transition(
            actor=loop.dispatcher,
            case=case,
            action=Action.DISPATCH,
            department=loop.department,
            expected_version=case.version - 1,
        )
    assert Case.objects.get(pk=case.pk).state == State.FILED


def test_dispatch_rules_pick_and_overriding_needs_a_reason(loop):
    from civicgrid.events.models import DispatchRule

    DispatchRule.objects.create(
        order=1,
        name="市容环境→市桥执法队",
        category=report(loop).category.parent,
        area=loop.department.org_unit,
        department=loop.department,
    )
    case = go(loop, report(loop), Action.FILE, "dispatcher")
    assert services.dispatch_suggestion(case).department == loop.department
    with pytest.raises(ValidationFailed) as exc:
        services.case_transition(
            actor=loop.dispatcher, case=case, action=Action.DISPATCH, department=loop.other_department
        )
    assert "reason" in exc.value.fields
    dispatched = services.case_transition(actor=loop.dispatcher, case=case, action=Action.DISPATCH)
    assert dispatched.department == loop.department
    history = CaseHistory.objects.filter(case=case, action="dispatch").get()
    assert history.data["override"] is False and history.data["rule"] is not None


def test_sweep_supervises_and_escalates_once(loop):
    import datetime as dt

    from django.utils import timezone

    from civicgrid.events.models import CaseFlag

    case = report(loop)
    # Reported long ago: the 1-working-hour filing limit is far exceeded (more than three times).
    Case.objects.filter(pk=case.pk).update(reported_at=timezone.now() - dt.timedelta(days=10))
    services.deadlines_recompute(only_provisional=False)
    first = services.events_sweep()
    second = services.events_sweep()
    case.refresh_from_db()
    assert first["supervised"] == 1 and first["escalated"] == 1
    assert second["supervised"] == 0 and second["escalated"] == 0  # idempotent
    assert case.supervised and case.escalation_level == 1
    assert CaseFlag.objects.filter(case=case, kind="supervise", automatic=True).count() == 1
    assert CaseFlag.objects.filter(case=case, kind="escalate").count() == 1
    fresh = report(loop)
    services.events_sweep()
    fresh.refresh_from_db()
    assert not fresh.supervised


def test_extension_moves_the_handling_deadline(loop):
    from decimal import Decimal

    case = go(
        loop,
        go(
            loop,
            go(loop, report(loop, code="0101"), Action.FILE, "dispatcher"),
            Action.DISPATCH,
            "dispatcher",
            department=loop.department,
        ),
        Action.ACCEPT,
        "handler",
    )
    due = case.handle_due_at
    services.extension_request(actor=loop.handler, case=case, hours=Decimal(14), reason="需协调业主")
    with pytest.raises(Conflict):
        services.extension_request(actor=loop.handler, case=case, hours=Decimal(7), reason="再次申请")
    with pytest.raises(services.TransitionRefused):
        services.extension_decide(actor=loop.handler, case=case, approve=True)
    case = services.extension_decide(actor=loop.dispatcher, case=case, approve=True, note="同意")
    assert case.handle_due_at > due and case.extension_hours == 14
    hours = services.current_calendar().working_duration(due, case.handle_due_at).hours
    assert abs(hours - 14) < 0.01
