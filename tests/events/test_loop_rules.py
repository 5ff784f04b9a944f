"""Rules of the closed loop beyond the transition table: reopening only through the supervisor's decision
on a negative evaluation's request within the window, merging only with a main case, the dispatch
proposal (rules on weekday, time and grid; the category's default kind of department as the fallback),
refused extensions, supervision before escalation, the periodic command, and provisional deadlines made
final when their year's calendar is loaded."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from rest_framework.test import APIClient

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core import workcalendar as wc
from civicgrid.core.errors import Conflict, ValidationFailed
from civicgrid.core.workcalendar import SHANGHAI
from civicgrid.events import feedback, selectors, services
from civicgrid.events.models import Case, CaseFlag, CaseHistory, DispatchRule
from civicgrid.events.workflow import Action, State
from civicgrid.orgunits.models import Department, OrgUnit
from tests.conftest import DISTRICT, SHIQIAO
from tests.events.conftest import report

pytestmark = pytest.mark.django_db

CASES = "/api/events/cases/"


def snapshot(case: Case) -> tuple[Any, ...]:
    row = Case.objects.get(pk=case.pk)
    history = list(CaseHistory.objects.filter(case=case).order_by("seq").values_list("seq", "action"))
    return row.state, row.version, row.department_id, row.duplicate_of_id, history


def walk(loop: Any, case: Case, *steps: str) -> Case:
    who = {"file": "dispatcher", "dispatch": "dispatcher", "accept": "handler", "handle": "handler"}
    for action in steps:
        kwargs: dict[str, Any] = {"department": loop.department} if action == Action.DISPATCH else {}
        if action == Action.HANDLE:
            kwargs["reason"] = "已处置"
        actor = getattr(loop, who.get(action, "collector"))
        case = services.case_transition(actor=actor, case=case, action=action, **kwargs)
    return case


def closed(loop: Any) -> Case:
    return walk(loop, report(loop), "file", "dispatch", "accept", "handle", "verify")


def offered(actor: Any, case: Case) -> set[str]:
    return {t.action for t in selectors.case_actions(actor=actor, case=Case.objects.get(pk=case.pk)).transitions}


def api_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- reopening: only the supervisor's decision on a negative evaluation's request -------------------------


def test_reopen_through_the_generic_transition_is_refused_without_a_request(loop):
    case = closed(loop)
    before = snapshot(case)
    denied = AuditEntry.objects.filter(action="events.reopen", result="denied").count()
    with pytest.raises(services.TransitionRefused, match="没有待审批的重新办理申请"):
        services.case_transition(actor=loop.supervisor, case=case, action=Action.REOPEN, reason="主动重办")
    assert snapshot(case) == before
    assert AuditEntry.objects.filter(action="events.reopen", result="denied").count() == denied + 1
    assert Action.REOPEN not in offered(loop.supervisor, case)
    # A satisfied reporter's evaluation asks for nothing: still refused.
    feedback.evaluation_submit(case=case, rating=4, comment="", by_user=loop.collector, reopen_requested=False)
    with pytest.raises(services.TransitionRefused, match="不满意评价"):
        services.case_transition(actor=loop.supervisor, case=case, action=Action.REOPEN, reason="主动重办")
    assert snapshot(case) == before and Action.REOPEN not in offered(loop.supervisor, case)


def test_reopen_through_the_generic_transition_is_the_decision_on_a_pending_request(loop):
    case = closed(loop)
    feedback.evaluation_submit(case=case, rating=2, comment="没处理", by_user=loop.collector, reopen_requested=True)
    request = CaseFlag.objects.get(case=case, kind=CaseFlag.Kind.REOPEN_REQUEST)
    assert Action.REOPEN in offered(loop.supervisor, case)
    assert Action.REOPEN not in offered(loop.dispatcher, case)
    with pytest.raises(services.TransitionRefused, match="督办"):
        services.case_transition(actor=loop.dispatcher, case=case, action=Action.REOPEN, reason="x")
    with pytest.raises(ValidationFailed):
        services.case_transition(actor=loop.supervisor, case=case, action=Action.REOPEN, reason=" ")
    reopened = services.case_transition(actor=loop.supervisor, case=case, action=Action.REOPEN, reason="属实")
    assert reopened.state == State.DISPATCHED and reopened.department == loop.department
    last = CaseHistory.objects.filter(case=case).latest("seq")
    assert last.action == Action.REOPEN and last.data["reopen_request"] == request.pk
    assert feedback.reopen_status(reopened).state == "approved"
    # Once: the request is decided, the next close cannot be reopened with it.
    reclosed = walk(loop, reopened, "accept", "handle", "verify")
    with pytest.raises(services.TransitionRefused, match="没有待审批的重新办理申请"):
        services.case_transition(actor=loop.supervisor, case=reclosed, action=Action.REOPEN, reason="再次")


def test_reopen_refused_after_a_denial_and_outside_the_window(loop):
    denied_case = closed(loop)
    feedback.evaluation_submit(case=denied_case, rating=1, comment="", by_user=loop.collector, reopen_requested=True)
    feedback.reopen_decide(actor=loop.supervisor, case=denied_case, approve=False, reason="现场已核实")
    before = snapshot(denied_case)
    with pytest.raises(services.TransitionRefused):
        services.case_transition(actor=loop.supervisor, case=denied_case, action=Action.REOPEN, reason="改判")
    assert snapshot(denied_case) == before

    # A request that was not made within the window after closing (here: the case's closing is older
    # than the request by more than the window) cannot be approved, only denied.
    late = closed(loop)
    feedback.evaluation_submit(case=late, rating=1, comment="", by_user=loop.collector, reopen_requested=True)
    window = feedback.reopen_window_days()
    Case.objects.filter(pk=late.pk).update(closed_at=late.closed_at - dt.timedelta(days=window + 1))
    late = Case.objects.get(pk=late.pk)
    before = snapshot(late)
    assert feedback.reopen_status(late).state == "pending" and feedback.reopen_request_pending(late) is None
    assert Action.REOPEN not in offered(loop.supervisor, late)
    with pytest.raises(services.TransitionRefused):
        services.case_transition(actor=loop.supervisor, case=late, action=Action.REOPEN, reason="x")
    with pytest.raises(Conflict, match=f"{window} 天内"):
        feedback.reopen_decide(actor=loop.supervisor, case=late, approve=True, reason="x")
    assert snapshot(late) == before
    denied = feedback.reopen_decide(actor=loop.supervisor, case=late, approve=False, reason="超过期限")
    assert denied.state == State.CLOSED and feedback.reopen_status(denied).state == "denied"


def test_the_dedicated_path_checks_too(loop):
    """`case_transition_by_service` is no back door: reopening still needs the pending request."""
    case = closed(loop)
    before = snapshot(case)
    with pytest.raises(services.TransitionRefused):
        services.case_transition_by_service(actor=loop.supervisor, case=case, action=Action.REOPEN, reason="x")
    with pytest.raises(ValidationFailed):
        services.case_transition_by_service(
            actor=loop.dispatcher, case=report(loop), action=Action.MERGE, reason="x"
        )  # no main case
    with pytest.raises(ValueError, match="case_transition"):
        services.case_transition_by_service(actor=loop.dispatcher, case=case, action=Action.FILE, reason="x")
    assert snapshot(case) == before


# --- merging: only with the main case ---------------------------------------------------------------------


def test_merge_through_the_generic_transition_needs_the_main_case(loop):
    main, duplicate = report(loop), report(loop)
    before = snapshot(duplicate)
    with pytest.raises(ValidationFailed) as exc:
        services.case_transition(actor=loop.dispatcher, case=duplicate, action=Action.MERGE, reason="重复")
    assert "主事件" in exc.value.fields["main"][0]
    assert snapshot(duplicate) == before
    merged = feedback.case_merge(actor=loop.dispatcher, duplicate=duplicate, main=main, reason="重复")
    row = Case.objects.get(pk=duplicate.pk)
    assert merged.state == row.state == State.MERGED and row.duplicate_of_id == main.pk
    last = CaseHistory.objects.filter(case=duplicate).latest("seq")
    assert last.action == Action.MERGE and last.data["main"] == main.number


def test_the_api_offers_and_refuses_reopen_and_merge_as_the_services_do(loop):
    case = closed(loop)
    url = f"{CASES}{case.number}/"
    actions = {a["action"] for a in api_for(loop.supervisor).get(url).json()["actions"]}
    assert Action.REOPEN not in actions
    response = api_for(loop.supervisor).post(f"{url}transitions/", {"action": "reopen", "reason": "x"}, format="json")
    assert response.status_code == 403 and "没有待审批的重新办理申请" in response.json()["message"]
    assert Case.objects.get(pk=case.pk).state == State.CLOSED

    feedback.evaluation_submit(case=case, rating=1, comment="", by_user=loop.collector, reopen_requested=True)
    actions = {a["action"] for a in api_for(loop.supervisor).get(url).json()["actions"]}
    assert Action.REOPEN in actions
    response = api_for(loop.supervisor).post(
        f"{url}transitions/", {"action": "reopen", "reason": "属实"}, format="json"
    )
    assert response.status_code == 200, response.content.decode()
    assert Case.objects.get(pk=case.pk).state == State.DISPATCHED

    duplicate = report(loop)
    before = snapshot(duplicate)
    response = api_for(loop.dispatcher).post(
        f"{CASES}{duplicate.number}/transitions/", {"action": "merge", "reason": "重复"}, format="json"
    )
    assert response.status_code == 400 and "main" in response.json()["fields"]
    assert snapshot(duplicate) == before


# --- dispatch: rules on time and grid, then the category's kind of department ---------------------------


def beijing(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_dispatch_rules_match_on_weekday_and_time_window(loop):
    case = walk(loop, report(loop), "file")
    weekend = DispatchRule.objects.create(
        order=1, name="周末→水务所值班", weekdays="6,7", department=loop.other_department
    )
    evening = DispatchRule.objects.create(
        order=2,
        name="夜间→水务所",
        time_from=dt.time(18, 0),
        time_to=dt.time(23, 59),
        department=loop.other_department,
    )
    daytime = DispatchRule.objects.create(order=3, name="其余→执法队", department=loop.department)
    saturday_morning, monday_evening, monday_morning = (
        beijing("2026-12-05 10:00"),
        beijing("2026-12-07 19:00"),
        beijing("2026-12-07 10:00"),
    )
    assert services.dispatch_suggestion(case, at=saturday_morning) == weekend
    assert services.dispatch_suggestion(case, at=monday_evening) == evening
    assert services.dispatch_suggestion(case, at=monday_morning) == daytime
    assert services.dispatch_suggestion(case, at=beijing("2026-12-07 17:59")) == daytime  # just before
    # The service applies the rule of the moment of dispatch.
    with time_machine.travel(saturday_morning, tick=False):
        done = services.case_transition(actor=loop.dispatcher, case=case, action=Action.DISPATCH)
    assert done.department == loop.other_department
    history = CaseHistory.objects.filter(case=case, action=Action.DISPATCH).get()
    assert history.data["rule"] == weekend.pk and history.data["basis"] == "rule"


def test_dispatch_rules_match_on_a_grid(loop, small_partition):
    from tests.geo.conftest import COMMUNITIES

    case = walk(loop, report(loop), "file")
    other_grid = sorted(c for c in small_partition.grids if c.startswith(COMMUNITIES[0]) and c != loop.grid)[0]
    DispatchRule.objects.create(
        order=1, name="邻近网格", area=OrgUnit.objects.get(code=other_grid), department=loop.other_department
    )
    ours = DispatchRule.objects.create(
        order=2, name="本网格", area=OrgUnit.objects.get(code=loop.grid), department=loop.department
    )
    assert case.grid.code == loop.grid
    assert services.dispatch_suggestion(case) == ours
    assert services.dispatch_proposal(case).basis == "rule"


def department(code: str, kind: str, unit: str, *, active: bool = True) -> Department:
    made = Department.objects.create(
        code=code, name=code, kind=kind, org_unit=OrgUnit.objects.get(code=SHIQIAO), active=active
    )
    made.serves.set([OrgUnit.objects.get(code=unit)])
    return made


def test_without_a_rule_the_category_kind_department_nearest_the_case(loop):
    case = walk(loop, report(loop), "file")  # 0601: the catalogue's default kind is urban management
    assert case.category.default_department_kind == Department.Kind.URBAN_MANAGEMENT
    assert services.dispatch_suggestion(case) is None  # no rule
    # The town's urban department serves it (the fixture's); a district-wide one is farther away.
    department("PY-CG", "urban", DISTRICT)
    department("SQ-SW2", "water", case.grid.code)  # nearer, but of another kind
    proposal = services.dispatch_proposal(case)
    assert (proposal.department, proposal.rule, proposal.basis) == (loop.department, None, "category_kind")
    # A community-level one is nearer still; an inactive grid-level one does not count.
    community = department("DX-CG", "urban", case.community.code)
    department("DX-CG-OLD", "urban", case.grid.code, active=False)
    assert services.dispatch_proposal(case).department == community
    # The proposal comes before the dispatcher's choice: dispatching without one uses it.
    done = services.case_transition(actor=loop.dispatcher, case=case, action=Action.DISPATCH)
    assert done.department == community
    history = CaseHistory.objects.filter(case=case, action=Action.DISPATCH).get()
    assert history.data == {
        "department": "DX-CG",
        "rule": None,
        "basis": "category_kind",
        "override": False,
        "actor_name": loop.dispatcher.display_name,
        "actor_role": loop.dispatcher.role,
    }


def test_a_rule_wins_over_the_category_kind_and_ambiguity_leaves_the_choice(loop):
    case = walk(loop, report(loop), "file")
    rule = DispatchRule.objects.create(order=1, name="全部→水务所", department=loop.other_department)
    assert services.dispatch_proposal(case).department == loop.other_department
    rule.active = False
    rule.save()
    assert services.dispatch_proposal(case).department == loop.department
    department("SQ-CG2", "urban", SHIQIAO)  # two urban departments serve the town: no guess
    assert services.dispatch_proposal(case).department is None
    with pytest.raises(ValidationFailed) as exc:
        services.case_transition(actor=loop.dispatcher, case=case, action=Action.DISPATCH)
    assert "请选择处置部门" in exc.value.fields["department"][0]
    # A category whose kind no department here has: the dispatcher chooses.
    police = walk(loop, report(loop, code="0803"), "file")
    assert services.dispatch_proposal(police).department is None


def test_the_case_page_shows_the_category_default(loop):
    from django.test import Client
    from django.urls import reverse

    from tests.conftest import PASSWORD

    case = walk(loop, report(loop), "file")
    client = Client()
    assert client.login(username=loop.dispatcher.username, password=PASSWORD)
    body = client.get(reverse("events:case", kwargs={"number": case.number})).content.decode()
    assert "按事件类别默认派往服务该区域的 市桥综合行政执法队" in body
    assert f'<option value="{loop.department.code}" selected>' in body


# --- extensions, supervision, the periodic command ------------------------------------------------------


def test_an_extension_request_refused(loop):
    case = walk(loop, report(loop, code="0101"), "file", "dispatch", "accept")
    due = case.handle_due_at
    services.extension_request(actor=loop.handler, case=case, hours=Decimal(14), reason="需协调业主")
    assert Case.objects.get(pk=case.pk).extension_pending
    with pytest.raises(services.TransitionRefused):
        services.extension_decide(actor=loop.collector, case=case, approve=False)
    refused = services.extension_decide(actor=loop.supervisor, case=case, approve=False, note="理由不充分")
    row = Case.objects.get(pk=case.pk)
    assert not refused.extension_pending and not row.extension_pending
    assert row.extension_hours == 0 and row.handle_due_at == due and row.due_at == due
    flag = CaseFlag.objects.get(case=case, kind=CaseFlag.Kind.EXTENSION_DENIED)
    assert flag.actor == loop.supervisor and flag.note == "理由不充分" and flag.hours == 14
    assert AuditEntry.objects.filter(action="events.extension_decide", detail__approve=False).exists()
    with pytest.raises(Conflict, match="没有待审批"):
        services.extension_decide(actor=loop.supervisor, case=case, approve=True)
    assert Case.objects.get(pk=case.pk).extension_hours == 0
    # The department may ask again, with new reasons.
    services.extension_request(actor=loop.handler, case=case, hours=Decimal(7), reason="业主出差")
    assert Case.objects.get(pk=case.pk).extension_pending


def test_overdue_under_three_times_the_limit_is_supervised_not_escalated(loop):
    case = report(loop)
    assert case.due_at < case.escalate_at
    late = case.due_at + dt.timedelta(minutes=1)
    assert late < case.escalate_at
    counts = services.events_sweep(now=late)
    row = Case.objects.get(pk=case.pk)
    assert counts["supervised"] == 1 and counts["escalated"] == 0
    assert row.supervised and row.escalation_level == 0 and row.escalate_at == case.escalate_at
    assert CaseFlag.objects.filter(case=case, kind=CaseFlag.Kind.SUPERVISE, automatic=True).count() == 1
    assert not CaseFlag.objects.filter(case=case, kind=CaseFlag.Kind.ESCALATE).exists()
    # At three times the limit it escalates, once.
    counts = services.events_sweep(now=case.escalate_at + dt.timedelta(minutes=1))
    assert counts == {"supervised": 0, "escalated": 1, "checked": 1}
    assert Case.objects.get(pk=case.pk).escalation_level == 1


def test_the_events_sweep_command_is_idempotent(loop):
    overdue = report(loop)
    Case.objects.filter(pk=overdue.pk).update(reported_at=overdue.reported_at - dt.timedelta(days=10))
    services.deadlines_recompute(only_provisional=False)
    fresh = report(loop)
    out = io.StringIO()
    call_command("events_sweep", stdout=out)
    assert "新督办 1 件" in out.getvalue() and "升级 1 件" in out.getvalue()
    flags = list(CaseFlag.objects.order_by("pk").values_list("case_id", "kind", "key"))
    assert {(case_id, kind) for case_id, kind, _key in flags} == {
        (overdue.pk, CaseFlag.Kind.SUPERVISE),
        (overdue.pk, CaseFlag.Kind.ESCALATE),
    }
    again = io.StringIO()
    call_command("events_sweep", stdout=again)
    assert "新督办 0 件" in again.getvalue() and "升级 0 件" in again.getvalue()
    assert list(CaseFlag.objects.order_by("pk").values_list("case_id", "kind", "key")) == flags
    row = Case.objects.get(pk=overdue.pk)
    assert row.supervised and row.escalation_level == 1
    assert not Case.objects.get(pk=fresh.pk).supervised


# --- provisional deadlines become final when their year is loaded -----------------------------------------


ARRANGEMENT_2027_SPRING = """date,type,name
2027-01-01,holiday,元旦
2027-02-05,holiday,春节
2027-02-06,holiday,春节
2027-02-07,holiday,春节
2027-02-08,holiday,春节
2027-02-09,holiday,春节
2027-02-10,holiday,春节
2027-02-11,holiday,春节
2027-02-20,workday,调休上班
2027-04-05,holiday,清明节
2027-05-01,holiday,劳动节
2027-05-02,holiday,劳动节
2027-05-03,holiday,劳动节
2027-06-09,holiday,端午节
2027-09-15,holiday,中秋节
2027-10-01,holiday,国庆节
2027-10-02,holiday,国庆节
2027-10-03,holiday,国庆节
"""


def test_a_provisional_deadline_is_recomputed_when_its_year_is_loaded(
    loop, make_user, django_capture_on_commit_callbacks
):
    assert not wc.year_status(2027).loaded
    # Thursday evening before the 2027 Spring Festival: the fallback calendar knows nothing of it.
    with time_machine.travel(beijing("2027-02-04 20:00"), tick=False):
        case = report(loop)
    assert case.due_provisional
    assert case.due_at.astimezone(SHANGHAI).date() == dt.date(2027, 2, 5)  # Friday, by the fallback
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    rows, errors = wc.parse_calendar_text(ARRANGEMENT_2027_SPRING)
    assert not errors
    with django_capture_on_commit_callbacks(execute=True):
        wc.calendar_load_year(actor=admin, year=2027, rows=rows)
    row = Case.objects.get(pk=case.pk)
    assert not row.due_provisional
    assert row.due_at.astimezone(SHANGHAI).date() == dt.date(2027, 2, 12)  # after the holiday
    assert row.due_at == wc.current_calendar(refresh=True).add_working_hours(case.reported_at, 1).at
