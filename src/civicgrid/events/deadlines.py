"""Deadlines of a case's current step, in working time on the Chinese calendar (core.workcalendar).

Limits (DOMAIN §5): file within 1 working hour of the report, dispatch within 1 working hour of filing,
accept within 1 working hour of dispatch, handle within the category's limit (working hours or days,
plus approved extensions), verify within `EVENTS_VERIFY_HOURS` working hours of the feedback. The case
keeps the limit version it was filed under."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from civicgrid.core.workcalendar import WorkCalendar, current_calendar
from civicgrid.events.models import Case, TimeLimit
from civicgrid.events.workflow import State


@dataclass(frozen=True)
class StepDue:
    start: dt.datetime | None
    limit_hours: float | None
    due_at: dt.datetime | None
    provisional: bool
    escalate_at: dt.datetime | None = None  # three times the limit: the case escalates one level


def handle_limit_hours(limit: TimeLimit | None, calendar: WorkCalendar) -> float:
    if limit is None:
        return 5 * (calendar.hours.day_length.total_seconds() / 3600)
    if limit.handle_unit == TimeLimit.Unit.DAYS:
        return float(limit.handle_value) * (calendar.hours.day_length.total_seconds() / 3600)
    return float(limit.handle_value)


def step_due(case: Case, calendar: WorkCalendar | None = None) -> StepDue:
    """The start, limit and deadline of the step the case is in now (None for final states)."""
    calendar = calendar or current_calendar()
    limit = case.limit
    state = case.state
    start: dt.datetime | None
    if state == State.REPORTED:
        start, hours = case.reported_at, float(limit.file_hours) if limit else 1.0
    elif state in (State.FILED, State.RETURNED):
        start = case.filed_at if state == State.FILED else case.updated_at
        hours = float(limit.dispatch_hours) if limit else 1.0
    elif state == State.DISPATCHED:
        start, hours = case.dispatched_at, float(limit.accept_hours) if limit else 1.0
    elif state == State.ACCEPTED:
        start = case.accepted_at
        hours = handle_limit_hours(limit, calendar) + float(case.extension_hours)
    elif state == State.HANDLED:
        start, hours = case.handled_at, float(getattr(settings, "EVENTS_VERIFY_HOURS", 7))
    else:
        return StepDue(None, None, None, False)
    if start is None:
        return StepDue(None, hours, None, False)
    deadline = calendar.add_working_hours(start, hours)
    escalation = calendar.add_working_hours(start, 3 * hours)
    return StepDue(start, hours, deadline.at, deadline.provisional, escalation.at)
