"""Ten workers race to dispatch, accept or close the same case on PostgreSQL: exactly one transition
wins, the rest get a clear conflict error, and the history has no duplicate or lost entry."""

from __future__ import annotations

import pytest

from civicgrid.events import services
from civicgrid.events.models import Case, CaseHistory
from civicgrid.events.workflow import Action
from tests.concurrency import race
from tests.events.conftest import report

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
WORKERS = 10


@pytest.mark.parametrize("step", ["dispatch", "accept", "verify"])
def test_exactly_one_of_ten_wins(loop, step):
    case = report(loop)
    case = services.case_transition(actor=loop.dispatcher, case=case, action=Action.FILE)
    if step in ("accept", "verify"):
        case = services.case_transition(
            actor=loop.dispatcher, case=case, action=Action.DISPATCH, department=loop.department
        )
    if step == "verify":
        case = services.case_transition(actor=loop.handler, case=case, action=Action.ACCEPT)
        case = services.case_transition(actor=loop.handler, case=case, action=Action.HANDLE, reason="已清理")
    actor = {"dispatch": loop.dispatcher, "accept": loop.handler, "verify": loop.collector}[step]
    kwargs = {"department": loop.department} if step == "dispatch" else {}
    history_before = CaseHistory.objects.filter(case=case).count()
    # Each worker loads the case itself, as each clerk's request does.
    outcomes = race(
        lambda _i: services.case_transition(actor=actor, case=Case.objects.get(pk=case.pk), action=step, **kwargs),
        WORKERS,
    )
    assert len(outcomes) == WORKERS
    assert outcomes.count("won") == 1, outcomes
    losers = [o for o in outcomes if o != "won"]
    assert all(o.startswith("conflict:") for o in losers), losers
    assert all(("不能执行" in o) or ("已被他人处理" in o) for o in losers), losers
    history = list(CaseHistory.objects.filter(case=case).order_by("seq").values_list("seq", "action"))
    assert len(history) == history_before + 1
    assert [seq for seq, _ in history] == list(range(1, len(history) + 1))  # no gap, no duplicate
    assert history[-1][1] == step
