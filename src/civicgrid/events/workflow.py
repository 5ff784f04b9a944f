"""The grid-event closed loop (DOMAIN §5) as data: states, and one table of transitions saying who may
move a case from which states to which, and what each move needs. `services.case_transition` is the
only code that changes a case's state, and it reads this table.

采办分离 (separation of collecting and handling) is enforced by the `side` of each transition:
- "collecting": the collector, or a grid worker of the case's grid (or community) — never the handling
  department;
- "centre": the event centre (dispatchers) of the case's town or the district;
- "handling": the department the case is dispatched to — never the collector;
- "reopen_decision": a supervisor of the case's area deciding a pending reopening request, which the
  reporter's negative evaluation made within the window after closing (`feedback.reopen_decide`).

Two moves need more than a row of the table holds, and a transition that names a `service` is made only
by that service (`services.case_transition` refuses or delegates it): reopening is the supervisor's
approval of a reopening request (`feedback.reopen_decide`), and merging needs the main case the duplicate
is linked to (`feedback.case_merge`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class State(models.TextChoices):
    REPORTED = "reported", _("已上报")
    FILED = "filed", _("已立案")
    REJECTED = "rejected", _("不予立案")
    SELF_HANDLED = "self_handled", _("自行处置")
    DISPATCHED = "dispatched", _("已派遣")
    ACCEPTED = "accepted", _("处置中")
    RETURNED = "returned", _("已退回")
    HANDLED = "handled", _("已处置待核查")
    CLOSED = "closed", _("已结案")
    CANCELLED = "cancelled", _("已撤销")
    MERGED = "merged", _("已合并")


OPEN_STATES = frozenset({State.REPORTED, State.FILED, State.DISPATCHED, State.ACCEPTED, State.RETURNED, State.HANDLED})
FINAL_STATES = frozenset({State.REJECTED, State.SELF_HANDLED, State.CLOSED, State.CANCELLED, State.MERGED})


class Action(models.TextChoices):
    REPORT = "report", _("上报")
    FILE = "file", _("立案")
    REJECT = "reject", _("不予立案")
    SELF_HANDLE = "self_handle", _("自行处置")
    DISPATCH = "dispatch", _("派遣")
    ACCEPT = "accept", _("签收")
    RETURN = "return", _("退回")
    HANDLE = "handle", _("处置反馈")
    VERIFY = "verify", _("核查结案")
    REWORK = "rework", _("返工")
    CANCEL = "cancel", _("撤销")
    MERGE = "merge", _("合并")
    REOPEN = "reopen", _("重新办理")


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str
    side: str  # collecting | centre | handling | reopen_decision
    needs_reason: bool = False
    needs_attachment: bool = False
    service: str = ""  # the one service that makes this move ("" = the generic `case_transition`)


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition(Action.FILE, frozenset({State.REPORTED}), State.FILED, "centre"),
        Transition(Action.REJECT, frozenset({State.REPORTED}), State.REJECTED, "centre", needs_reason=True),
        Transition(
            Action.SELF_HANDLE, frozenset({State.REPORTED}), State.SELF_HANDLED, "collecting", needs_attachment=True
        ),
        Transition(Action.DISPATCH, frozenset({State.FILED, State.RETURNED}), State.DISPATCHED, "centre"),
        Transition(Action.ACCEPT, frozenset({State.DISPATCHED}), State.ACCEPTED, "handling"),
        Transition(
            Action.RETURN, frozenset({State.DISPATCHED, State.ACCEPTED}), State.RETURNED, "handling", needs_reason=True
        ),
        Transition(Action.HANDLE, frozenset({State.ACCEPTED}), State.HANDLED, "handling", needs_reason=True),
        Transition(Action.VERIFY, frozenset({State.HANDLED}), State.CLOSED, "collecting"),
        Transition(Action.REWORK, frozenset({State.HANDLED}), State.DISPATCHED, "collecting", needs_reason=True),
        Transition(Action.CANCEL, frozenset(OPEN_STATES), State.CANCELLED, "centre", needs_reason=True),
        Transition(
            Action.MERGE, frozenset(OPEN_STATES), State.MERGED, "centre", needs_reason=True, service="case_merge"
        ),
        Transition(
            Action.REOPEN,
            frozenset({State.CLOSED}),
            State.DISPATCHED,
            "reopen_decision",
            needs_reason=True,
            service="reopen_decide",
        ),
    )
}


def allowed_actions(state: str) -> list[Transition]:
    """The transitions leaving a state (before role and area are considered)."""
    return [t for t in TRANSITIONS.values() if state in t.sources]
