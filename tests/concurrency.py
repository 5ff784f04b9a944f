"""Run one operation from many threads at once, each with its own database connection (PostgreSQL tests
marked `django_db(transaction=True)`), and collect how each attempt ended."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection

from civicgrid.core.errors import Conflict


def race(work: Callable[[int], Any], workers: int = 10) -> list[str]:
    """Call `work(i)` for i in range(workers) from as many threads released together by a barrier. Each
    outcome is "won", "conflict:<message>" (a `Conflict`, the clear refusal a user sees) or
    "error:<type>:<message>" (anything else: a failure of the code under test)."""
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
            result = "won"
        except Conflict as exc:
            result = f"conflict:{exc.message}"
        except Exception as exc:  # anything else is a failure of the test
            result = f"error:{type(exc).__name__}:{exc}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes
