"""Ten workers race to dispatch, accept or close the same case on PostgreSQL: exactly one transition
wins, the rest get a clear conflict error, and the history has no duplicate or lost entry."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from civicgrid.core.errors import Conflict
from civicgrid.events import services
from civicgrid.events.models import Case, CaseHistory
from civicgrid.events.workflow import Action
from tests.events.conftest import report

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
WORKERS = 10


def race(case_id: int, action: str, actor, **kwargs) -> list[str]:
    """Run the same transition from WORKERS threads at once (each its own database connection)."""
    barrier = threading.Barrier(WORKERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            case = Case.objects.get(pk=case_id)
            barrier.wait(timeout=30)
            services.case_transition(actor=actor, case=case, action=action, **kwargs)
            result = "won"
        except Conflict as exc:
            result = f"conflict:{exc.message}"
        except Exception as exc:  # anything else is a failure of the test
            result = f"error:{type(exc).__name__}:{exc}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


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
    outcomes = race(case.pk, step, actor, **kwargs)
    assert len(outcomes) == WORKERS
    assert outcomes.count("won") == 1, outcomes
    losers = [o for o in outcomes if o != "won"]
    assert all(o.startswith("conflict:") for o in losers), losers
    assert all(("不能执行" in o) or ("已被他人处理" in o) for o in losers), losers
    history = list(CaseHistory.objects.filter(case=case).order_by("seq").values_list("seq", "action"))
    assert len(history) == history_before + 1
    assert [seq for seq, _ in history] == list(range(1, len(history) + 1))  # no gap, no duplicate
    assert history[-1][1] == step
