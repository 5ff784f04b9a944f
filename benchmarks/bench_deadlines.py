"""Deadline benchmark (docs/benchmarks.md): 100,000 deadlines on the Chinese working-day calendar.

    .venv/bin/python benchmarks/bench_deadlines.py [--deadlines 100000] [--repeat 3]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python benchmarks/bench_deadlines.py

Through `civicgrid.core.workcalendar` on a migrated database (the migration seeds 2004–2026 from
chinese-calendar), seeded random cases as the events app has them: a start moment between 2025-01-01 and
2027-12-31 (a third of them in 2027, not loaded: provisional) and a limit of 1 working hour (file,
dispatch, accept) or 1–5 working days (handle). Measured, best of `--repeat`:

- seeding 2004–2026 from the package from an empty calendar (`calendar_seed_from_package`, bulk writes);
- the first deadline of a cold process cache (reads the years it touches);
- 100,000 deadlines on one `current_calendar(refresh=True)` (what a batch recomputation does);
- 100,000 deadlines through the module functions (`add_working_days`, a cache check per call);
- 100,000 `working_duration` (how long a step took);
- baseline in the same run: a naive loop that walks day by day and period by period with one query per
  day (`CalendarDay` by date), on a sample, extrapolated to `--deadlines`. The sample's naive results
  must equal the fast ones.

Target: 100,000 deadlines in well under 30 s (the events app recomputes 100,000 open cases' deadlines
and flags within 30 s). Exits 1 if the batch takes 3 s or more.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta

TARGET_SECONDS = 3.0  # a tenth of the events app's budget for recomputing everything
SEED = 20261125
NAIVE_SAMPLE = 1_000


def setup_django() -> str:
    if not os.environ.get("DATABASE_URL"):
        path = os.path.join(tempfile.mkdtemp(prefix="cg-bench-"), "bench.sqlite3")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("CIVICGRID_ALLOW_DEV_KEY", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connection

    call_command("migrate", verbosity=0)
    return connection.vendor


def cases(count: int) -> list[tuple[datetime, int, float]]:
    """(start, working days or 0, working hours) per case."""
    from civicgrid.core.workcalendar import SHANGHAI

    rng = random.Random(SEED)
    first = datetime(2025, 1, 1, tzinfo=SHANGHAI)
    span = int((datetime(2028, 1, 1, tzinfo=SHANGHAI) - first).total_seconds())
    out = []
    for _ in range(count):
        start = first + timedelta(seconds=rng.randrange(span))
        if rng.random() < 0.5:
            out.append((start, 0, 1.0))
        else:
            out.append((start, rng.randint(1, 5), 0.0))
    return out


def naive_deadline(start: datetime, days: int, hours: float) -> datetime:
    """The baseline: one query per day walked, office periods walked one by one."""
    from civicgrid.core.models import CalendarDay
    from civicgrid.core.workcalendar import SHANGHAI, WorkingHours, fixed_holidays

    periods = WorkingHours.from_settings().periods
    remaining = days * timedelta(hours=7) + timedelta(hours=hours)
    moment = start.astimezone(SHANGHAI)
    day = moment.date()
    while True:
        stored = CalendarDay.objects.filter(date=day).values_list("is_workday", flat=True).first()
        if stored is None:
            loaded = day.year <= 2026
            working = day.weekday() < 5 and (loaded or day not in fixed_holidays(day.year))
        else:
            working = stored
        if working:
            for opens, closes in periods:
                begin = max(datetime.combine(day, opens, tzinfo=SHANGHAI), moment)
                end = datetime.combine(day, closes, tzinfo=SHANGHAI)
                if begin >= end:
                    continue
                if end - begin >= remaining:
                    return begin + remaining
                remaining -= end - begin
        day += timedelta(days=1)
        moment = datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI)


def best(repeat: int, fn):  # type: ignore[no-untyped-def]
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deadlines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    vendor = setup_django()
    from civicgrid.core import workcalendar as wc
    from civicgrid.core.models import CalendarYear

    n = args.deadlines
    work = cases(n)

    def seed() -> None:
        CalendarYear.objects.all().delete()
        wc.calendar_seed_from_package()

    seed_s, _ = best(args.repeat, seed)

    def cold() -> None:
        wc.forget_cache()
        wc.add_working_days(work[0][0], 3)

    cold_s, _ = best(args.repeat, cold)

    def batch() -> list[wc.Deadline]:
        calendar = wc.current_calendar(refresh=True)
        return [
            calendar.add_working_days(start, days) if days else calendar.add_working_hours(start, hours)
            for start, days, hours in work
        ]

    batch_s, deadlines = best(args.repeat, batch)

    def module_calls() -> None:
        for start, days, hours in work:
            wc.add_working_days(start, days) if days else wc.add_working_hours(start, hours)

    module_s, _ = best(args.repeat, module_calls)

    def durations() -> None:
        calendar = wc.current_calendar(refresh=True)
        for (start, _days, _hours), deadline in zip(work, deadlines, strict=True):
            calendar.working_duration(start, deadline.at)

    duration_s, _ = best(args.repeat, durations)

    sample = work[:NAIVE_SAMPLE]
    started = time.perf_counter()
    naive = [naive_deadline(start, days, hours) for start, days, hours in sample]
    naive_s = (time.perf_counter() - started) * n / len(sample)
    mismatches = sum(1 for a, b in zip(naive, deadlines, strict=False) if a != b.at)
    provisional = sum(1 for d in deadlines if d.provisional)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    today = datetime.now(tz=wc.SHANGHAI).date().isoformat()
    print(f"{vendor}, Python {platform.python_version()}, {os.cpu_count()} CPU, {today}")
    print(f"{'step':<58} {'s':>8} {'per s':>12}")
    rows = [
        ("seed 2004–2026 from chinese-calendar (771 rows)", seed_s, None),
        ("first deadline, cold cache", cold_s, None),
        (f"{n:,} deadlines, one calendar (batch)", batch_s, n / batch_s),
        (f"{n:,} deadlines, module functions", module_s, n / module_s),
        (f"{n:,} working_duration", duration_s, n / duration_s),
        (f"baseline: naive, query per day ({len(sample):,} → {n:,})", naive_s, n / naive_s),
    ]
    for label, seconds, rate in rows:
        print(f"{label:<58} {seconds:>8.3f} {'' if rate is None else f'{rate:,.0f}':>12}")
    print(f"provisional (start or deadline in 2027): {provisional:,} of {n:,}")
    print(f"naive vs fast on the sample: {mismatches} mismatches; speed-up {naive_s / batch_s:,.0f}×")
    print(f"peak RSS {peak_mib:.0f} MiB")
    ok = mismatches == 0 and batch_s < TARGET_SECONDS
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
