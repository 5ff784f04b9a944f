"""Periodic-job benchmark (docs/benchmarks.md): recompute the deadlines and supervision flags of 100,000
open cases.

    .venv/bin/python benchmarks/bench_sweep.py                     # SQLite in a temporary file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python benchmarks/bench_sweep.py

100,000 open cases in every open state are bulk-inserted with report times spread over the last 60 days
(most are therefore overdue). Timed: `deadlines_recompute(only_provisional=False)` (every open case's
current-step deadline on the Chinese working calendar) and then `events_sweep()` (supervision flags for
overdue cases, escalation for those three times over), and a second sweep (idempotent: nothing new).
Baseline in the same run: the same recomputation done case by case with a `save()` each, on 2,000 cases,
extrapolated. Target: recompute + sweep under 30 s.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import resource
import sys
import tempfile
import time

TARGET_SECONDS = 30.0
N = int(os.environ.get("BENCH_CASES", "100000"))


def setup() -> str:
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{os.path.join(tempfile.mkdtemp(prefix='cg-sweep-'), 'b.sqlite3')}"
    os.environ.setdefault("CIVICGRID_ALLOW_DEV_KEY", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connection

    if connection.vendor == "postgresql":
        call_command("flush", "--no-input", verbosity=0)
    call_command("migrate", verbosity=0)
    return connection.vendor


def main() -> int:
    vendor = setup()
    from django.utils import timezone

    from civicgrid.core.workcalendar import calendar_seed_from_package, current_calendar
    from civicgrid.demo.services import divisions_csv_text
    from civicgrid.events.deadlines import step_due
    from civicgrid.events.models import Case, CaseFlag, Category
    from civicgrid.events.services import catalogue_seed, deadlines_recompute, events_sweep
    from civicgrid.events.workflow import State
    from civicgrid.orgunits.models import Department, Level, OrgUnit
    from civicgrid.orgunits.services import orgunits_import

    orgunits_import(text=divisions_csv_text(), actor=None)
    catalogue_seed()
    calendar_seed_from_package()
    district = OrgUnit.objects.get(code="440113000000")
    department = Department.objects.create(code="B-CG", name="城管", kind="urban", org_unit=district)
    communities = list(OrgUnit.objects.filter(level=Level.COMMUNITY))
    categories = list(Category.objects.filter(parent__isnull=False).prefetch_related("limits"))
    rng = random.Random(7)
    now = timezone.now()
    states = [State.REPORTED, State.FILED, State.DISPATCHED, State.ACCEPTED, State.HANDLED]
    rows = []
    for i in range(N):
        state = states[i % len(states)]
        at = now - dt.timedelta(minutes=rng.randrange(60 * 24 * 60))
        category = categories[i % len(categories)]
        community = communities[i % len(communities)]
        rows.append(
            Case(
                number=f"PYB-{i:08d}",
                title="测试",
                description="基准",
                category=category,
                limit=category.limits.all()[0],
                channel="grid_worker",
                state=state,
                org_path=community.path,
                community=community,
                reported_at=at,
                filed_at=at,
                dispatched_at=at,
                accepted_at=at,
                handled_at=at,
                department=department if state in (State.DISPATCHED, State.ACCEPTED, State.HANDLED) else None,
                token=f"t{i:023d}",
            )
        )
    Case.objects.bulk_create(rows, batch_size=5000)
    del rows

    timings = {}
    start = time.perf_counter()
    changed = deadlines_recompute(only_provisional=False)
    timings["recompute"] = time.perf_counter() - start
    start = time.perf_counter()
    first = events_sweep()
    timings["sweep"] = time.perf_counter() - start
    start = time.perf_counter()
    second = events_sweep()
    timings["sweep again (idempotent)"] = time.perf_counter() - start

    # Baseline: one case at a time, a save() each, on a sample.
    calendar = current_calendar()
    sample = list(Case.objects.select_related("limit").order_by("pk")[:2000])
    start = time.perf_counter()
    for case in Case.objects.filter(pk__in=[c.pk for c in sample]).select_related("limit"):
        due = step_due(case, calendar)
        case.due_at, case.due_provisional = due.due_at, due.provisional
        case.save(update_fields=["due_at", "due_provisional"])
    naive = (time.perf_counter() - start) / len(sample) * N

    total = timings["recompute"] + timings["sweep"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database: {vendor}; open cases: {N}; deadlines changed: {changed}")
    print(
        f"sweep 1: supervised {first['supervised']}, escalated {first['escalated']}; "
        f"sweep 2: supervised {second['supervised']}, escalated {second['escalated']}; "
        f"flags: {CaseFlag.objects.count()}"
    )
    for label, seconds in timings.items():
        print(f"{label:<28} {seconds:8.2f} s")
    print(f"{'recompute + sweep':<28} {total:8.2f} s   (target < {TARGET_SECONDS:.0f} s)")
    ratio = naive / timings["recompute"]
    print(f"{'baseline: save() per case':<28} {naive:8.2f} s   (2,000 cases, extrapolated; {ratio:.1f}x the recompute)")
    print(f"peak RSS {rss:.0f} MiB")
    ok = total < TARGET_SECONDS and second["supervised"] == 0 and second["escalated"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
