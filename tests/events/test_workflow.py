"""The closed loop: every transition of the table walked, every forbidden one refused with state and
history unchanged, and each 采办分离 rule shown refused."""

from __future__ import annotations

import pytest

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core.errors import Conflict, ValidationFailed
from civicgrid.events import feedback, selectors, services
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


def evaluate_badly(loop, case):
    """The collector rates the closed case 1 star and asks for it to be reopened (the only way in)."""
    feedback.evaluation_submit(case=case, rating=1, comment="没有处理好", by_user=loop.collector, reopen_requested=True)
    return Case.objects.get(pk=case.pk)


# How a fresh case reaches each state through the real services: (action, who, keyword arguments).
PATHS = {
    State.REPORTED: [],
    State.FILED: [(Action.FILE, "dispatcher")],
    State.DISPATCHED: [(Action.FILE, "dispatcher"), (Action.DISPATCH, "dispatcher")],
    State.ACCEPTED: [(Action.FILE, "dispatcher"), (Action.DISPATCH, "dispatcher"), (Action.ACCEPT, "handler")],
    State.RETURNED: [(Action.FILE, "dispatcher"), (Action.DISPATCH, "dispatcher"), (Action.RETURN, "handler")],
    State.HANDLED: [
        (Action.FILE, "dispatcher"),
        (Action.DISPATCH, "dispatcher"),
        (Action.ACCEPT, "handler"),
        (Action.HANDLE, "handler"),
    ],
    State.CLOSED: [
        (Action.FILE, "dispatcher"),
        (Action.DISPATCH, "dispatcher"),
        (Action.ACCEPT, "handler"),
        (Action.HANDLE, "handler"),
        (Action.VERIFY, "collector"),
    ],
}
WHO = {"collecting": "collector", "centre": "dispatcher", "handling": "handler", "reopen_decision": "supervisor"}


def drive_to(loop, state):
    case = report(loop)
    for action, who in PATHS[state]:
        kwargs = {"department": loop.department} if action == Action.DISPATCH else {}
        case = go(loop, case, action, who, **kwargs)
    assert case.state == state
    return case


def perform(loop, case, transition):
    """The move, by an actor of its side, through the service that makes it."""
    actor = getattr(loop, WHO[transition.side])
    if transition.action == Action.MERGE:
        return feedback.case_merge(actor=actor, duplicate=case, main=report(loop), reason="重复上报")
    if transition.action == Action.REOPEN:
        return feedback.reopen_decide(actor=actor, case=evaluate_badly(loop, case), approve=True, reason="属实")
    kwargs = {"reason": "说明"} if transition.needs_reason else {}
    if transition.action == Action.DISPATCH:
        kwargs["department"] = loop.department
    if transition.needs_attachment:
        kwargs["attachments"] = 1
    return services.case_transition(actor=actor, case=case, action=transition.action, **kwargs)


def test_every_edge_of_the_table_walked(loop):
    """Every (source state, action) of `workflow.TRANSITIONS`, each on a fresh case brought to the source
    state through the services: the target state is reached with exactly one new history row. A new edge
    in the table without a way here fails the last assertion."""
    table = {(source, action) for action, t in TRANSITIONS.items() for source in t.sources}
    walked = set()
    for action, transition in TRANSITIONS.items():
        for source in sorted(transition.sources):
            case = drive_to(loop, source)
            rows = CaseHistory.objects.filter(case=case).count()
            done = perform(loop, case, transition)
            row = Case.objects.get(pk=case.pk)
            assert (done.state, row.state) == (transition.target, transition.target), (source, action)
            assert CaseHistory.objects.filter(case=case).count() == rows + 1, (source, action)
            last = CaseHistory.objects.filter(case=case).latest("seq")
            assert (last.action, last.from_state, last.to_state) == (action, source, transition.target)
            walked.add((source, action))
    assert walked == table
    assert len(table) == 24  # the table as designed (DOMAIN §5); change with it, deliberately


def test_one_case_round_the_loop_keeps_its_history(loop):
    case = report(loop)
    case = go(loop, case, Action.FILE, "dispatcher")
    case = go(loop, case, Action.DISPATCH, "dispatcher", department=loop.department)
    assert case.department == loop.department and case.state == State.DISPATCHED
    case = go(loop, case, Action.RETURN, "handler")
    assert case.state == State.RETURNED and case.department is None
    case = go(loop, case, Action.DISPATCH, "dispatcher", department=loop.department)
    case = go(loop, case, Action.ACCEPT, "handler")
    assert case.handler == loop.handler and case.handle_due_at is not None
    case = go(loop, case, Action.RETURN, "handler")  # returned after accepting, too
    assert case.state == State.RETURNED and case.handler is None and case.accepted_at is None
    case = go(loop, case, Action.DISPATCH, "dispatcher", department=loop.department)
    case = go(loop, case, Action.ACCEPT, "handler")
    case = go(loop, case, Action.HANDLE, "handler")
    case = go(loop, case, Action.REWORK, "collector")
    assert case.state == State.DISPATCHED
    case = go(loop, case, Action.ACCEPT, "handler")
    case = go(loop, case, Action.HANDLE, "handler")
    case = go(loop, case, Action.VERIFY, "peer")  # a worker of the same grid may verify
    assert case.state == State.CLOSED and case.closed_at is not None and case.due_at is None
    case = feedback.reopen_decide(actor=loop.supervisor, case=evaluate_badly(loop, case), approve=True, reason="属实")
    assert case.state == State.DISPATCHED
    actions = list(CaseHistory.objects.filter(case=case).values_list("action", flat=True))
    assert actions == [
        "report",
        "file",
        "dispatch",
        "return",
        "dispatch",
        "accept",
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
    states[State.MERGED] = feedback.case_merge(
        actor=loop.dispatcher, duplicate=report(loop), main=report(loop), reason="重复"
    )
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
            "department_worker",  # a grid worker of the case's grid who belongs to the handling department
            "处置部门的人员不能核查",
        ),
        (
            "not even the collector, when they belong to the handling department",
            "handled_reported_by_department_worker",
            Action.VERIFY,
            "department_worker",
            "处置部门的人员不能核查",
        ),
        ("a department never closes its own case", "handled", Action.VERIFY, "handler", "采集方"),
        ("verification by a worker of another grid", "handled", Action.VERIFY, "stranger", "同一网格"),
        ("another department cannot accept", "dispatched", Action.ACCEPT, "other_handler", "未派遣给您所在的部门"),
        ("only the event centre dispatches", "filed", Action.DISPATCH, "handler", "事件中心"),
        ("the collector cannot file their own report", "reported", Action.FILE, "collector", "事件中心"),
    ],
)
def test_separation_rules_refused(loop, make_user, rule, setup, action, who, words):
    loop.department_worker = make_user(
        Role.GRID_WORKER, loop.grid, department=loop.department, username="department_worker"
    )
    case = report(loop, by=loop.department_worker if setup.endswith("by_department_worker") else None)
    if setup == "handler_reported":
        case = go(
            loop, go(loop, case, Action.FILE, "dispatcher"), Action.DISPATCH, "dispatcher", department=loop.department
        )
        Case.objects.filter(pk=case.pk).update(reporter=loop.handler)
    elif setup in ("handled", "handled_reported_by_department_worker", "dispatched", "filed"):
        case = go(loop, case, Action.FILE, "dispatcher")
        if setup != "filed":
            case = go(loop, case, Action.DISPATCH, "dispatcher", department=loop.department)
        if setup.startswith("handled"):
            case = go(loop, go(loop, case, Action.ACCEPT, "handler"), Action.HANDLE, "handler")
    before = snapshot(case)
    denied = AuditEntry.objects.filter(result="denied").count()
    with pytest.raises(services.TransitionRefused, match=words):
        services.case_transition(
            actor=getattr(loop, who), case=case, action=action, reason="x", department=loop.department
        )
    assert snapshot(case) == before, rule
    assert AuditEntry.objects.filter(result="denied").count() == denied + 1
    # What the page and the API offer agrees with what the service refuses.
    fresh = Case.objects.get(pk=case.pk)
    assert action not in {t.action for t in selectors.case_actions(actor=getattr(loop, who), case=fresh).transitions}


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
