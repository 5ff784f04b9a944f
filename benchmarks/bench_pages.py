"""Page benchmark (docs/benchmarks.md): the case page and the workbench lists of every role, through the
whole Django stack, with 1,000,000 cases in the database. Target: p99 under 100 ms for each.

    .venv/bin/python benchmarks/bench_pages.py                   # SQLite in a temporary file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_pages .venv/bin/python benchmarks/bench_pages.py

The database is emptied and migrated first (use a database of its own). Set-up, not timed except as the
load time: the Panyu division list (276 communities), the demo grid layer (3,000 grids), the demo
departments (10 district bureaus serving the district, a police station and a law-enforcement team per
town) and the demo accounts, through the demo services; then one grid worker per grid, two more handlers
per department and a dispatcher per town (bulk-created, no password), a few dispatch rules, and
`--cases` cases written straight to the tables (PostgreSQL: COPY; SQLite: executemany), every case with
its full status history (1–6 `CaseHistory` rows along the path of its state, with the working time of
each step against its limit) and flags (supervision of overdue open cases, escalation, pending
extension requests, past supervision of some closed ones). Cases are spread over the 3,000 grids
(uneven: gamma-distributed weights) and over three years; about 88% are in a final state, the open ones
are recent with a stale tail, and the deadlines of open cases come from `step_due` on the real working
calendar. Then `VACUUM (ANALYZE)` on PostgreSQL (`ANALYZE` on SQLite).

Timed: requests through Django's test `Client` (in-process, no network, `force_login`, HTTPS as behind
the proxy) for one account per role — a grid worker bound to a grid and one bound to a community, the
Shiqiao and the district dispatcher, the district urban-management bureau's handler, the district
supervisor — on each role's workbench page (`/events/`: the default tab's first page and its next page by
the keyset cursor; a second tab with a filter, first and next page; one or two more tabs, first page; and
page `--deep-page` of the largest tab by its cursor), the same lists through the API
(`/api/events/cases/`, plus the tab counts of `/api/events/workbench/`), and the case page
(`/events/<number>/` and `/api/events/cases/<number>/`) for `--case-pages` random cases the account may
see. Every request is timed with `time.perf_counter` after a warm-up; p50/p95/p99/max are nearest-rank.
Beside the wall time, the CPU time of this process per request (`time.process_time`: Django, and SQLite
itself) and, on PostgreSQL, the mean CPU time of the database backend per request (from /proc; the run
keeps one connection, `DB_CONN_MAX_AGE=3600` unless set), so that the work of a request can be told from
the waiting on a shared machine. A title search (`q=`) of the district dispatcher, one word that matches
and one that does not, is timed too but is not part of the target set.

Baseline in the same run, timed the same way and rendered with the same templates: the naive workbench
(Django's `Paginator`: an exact COUNT(*) of the list and OFFSET to the same deep page, and exact COUNT(*)
for every tab) and the naive case page (the case read without `select_related`, the timeline without
`select_related`, so every related row is its own query: N+1). The deep keyset page and the OFFSET page
must show the same cases; the naive case page the same timeline; the HTML and the API list the same rows.
The slowest SELECT of one probed request per endpoint is EXPLAINed (ANALYZE, BUFFERS) when it takes more
than `--explain-ms`.

Exits 1 if any request of the target set has p99 >= 100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import random
import re
import resource
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import urlencode

TARGET_MS = 100.0
SEED = 2026
YEARS = 3
CHUNK = 10_000
ROW = re.compile(r'data-testid="case-row" data-number="([^"]+)"')
TIMELINE_ENTRY = 'data-testid="timeline-entry"'

# The URLconf of this run: the project's URLs plus the two naive pages (filled in by main()).
urlpatterns: list[Any] = []


# --- set-up ------------------------------------------------------------------------------------------


def setup_django() -> str:
    if not os.environ.get("DATABASE_URL"):
        path = os.path.join(tempfile.mkdtemp(prefix="cg-pages-"), "bench.sqlite3")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("CIVICGRID_ALLOW_DEV_KEY", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.settings")
    # Keep one PostgreSQL connection for the whole run (the default reconnects after 60 s) so that the
    # backend's CPU time can be read per series; a reconnect costs a few ms once a minute either way.
    os.environ.setdefault("DB_CONN_MAX_AGE", "3600")
    import django

    django.setup()
    from django.db import connection

    return connection.vendor


def prepare_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        call_command("migrate", verbosity=0)
        call_command("flush", "--no-input", verbosity=0)
    call_command("migrate", verbosity=0)
    from civicgrid.core.workcalendar import calendar_seed_from_package
    from civicgrid.demo.services import demo_load
    from civicgrid.events.services import catalogue_seed

    catalogue_seed()  # flush removed the migration's seed
    calendar_seed_from_package()
    demo_load(grid_layer=True, samples=False)


@dataclass
class People:
    """Who does what, by id, for the generator."""

    grid_worker: dict[int, int]  # grid id -> its grid worker
    community_worker: dict[int, int]  # community id -> a worker bound to the community (the demo's one)
    dispatchers: dict[int, int]  # town id -> the town's dispatcher
    district_dispatcher: int
    handlers: dict[int, list[int]]  # department id -> its handlers
    labels: dict[int, str]  # user id -> "name（role）" as the history records it


def make_people() -> People:
    from civicgrid.accounts.models import User
    from civicgrid.accounts.roles import Role
    from civicgrid.events.models import Category, DispatchRule
    from civicgrid.orgunits.models import Department, Level, OrgUnit

    surnames = "陈李黄张梁何吴罗郑林谢周冯邓曾刘杨许朱叶"
    given = ["伟", "芳", "敏", "强", "丽", "军", "静", "磊", "洋", "艳", "勇", "杰", "娟", "涛", "明", "超"]
    rng = random.Random(SEED)
    existing = {u.org_unit_id for u in User.objects.filter(role=Role.GRID_WORKER)}
    new: list[User] = []
    for grid_id, code in OrgUnit.objects.filter(level=Level.GRID).order_by("code").values_list("id", "code"):
        if grid_id not in existing:
            name = rng.choice(surnames) + rng.choice(given) + rng.choice(given)
            new.append(User(username=f"wgy{code}", full_name=name, role=Role.GRID_WORKER, org_unit_id=grid_id))
    for town_id, code in OrgUnit.objects.filter(level=Level.TOWN).values_list("id", "code"):
        if not User.objects.filter(role=Role.DISPATCHER, org_unit_id=town_id).exists():
            name = rng.choice(surnames) + rng.choice(given)
            new.append(User(username=f"pq{code}", full_name=name, role=Role.DISPATCHER, org_unit_id=town_id))
    for department in Department.objects.all():
        for n in (1, 2):
            name = rng.choice(surnames) + rng.choice(given)
            new.append(
                User(
                    username=f"cz-{department.code.lower()}-{n}",
                    full_name=name,
                    role=Role.DEPARTMENT_HANDLER,
                    org_unit_id=department.org_unit_id,
                    department=department,
                )
            )
    for user in new:
        user.set_unusable_password()
    User.objects.bulk_create(new, batch_size=1000)

    # A few dispatch rules, as a district has (the case page of a filed case evaluates them).
    if not DispatchRule.objects.exists():
        departments = {d.code: d for d in Department.objects.all()}
        shiqiao = OrgUnit.objects.get(code="440113007000")
        for order, (name, category, area, department) in enumerate(
            [
                ("市桥：乱停放 → 市桥派出所", "0803", shiqiao, "SQ-PCS"),
                ("市容环境 → 区城管局", "06", None, "PY-CG"),
                ("消防 → 区消防救援大队", "02", None, "PY-XF"),
                ("燃气 → 区燃气办", "03", None, "PY-RQ"),
                ("水务 → 区水务局", "07", None, "PY-SW"),
            ],
            start=1,
        ):
            found = Category.objects.filter(code=category).first()
            if found is not None and department in departments:
                DispatchRule.objects.create(
                    order=order * 10, name=name, category=found, area=area, department=departments[department]
                )

    users = list(User.objects.select_related("org_unit").all())
    labels = {u.pk: f"{u.display_name}（{u.get_role_display()}）" for u in users}
    grid_worker = {u.org_unit_id: u.pk for u in users if u.role == Role.GRID_WORKER and u.org_unit.level == Level.GRID}
    community_worker = {
        u.org_unit_id: u.pk for u in users if u.role == Role.GRID_WORKER and u.org_unit.level == Level.COMMUNITY
    }
    dispatchers = {u.org_unit_id: u.pk for u in users if u.role == Role.DISPATCHER and u.org_unit.level == Level.TOWN}
    district_dispatcher = next(u.pk for u in users if u.role == Role.DISPATCHER and u.org_unit.level == Level.DISTRICT)
    handlers: dict[int, list[int]] = {}
    for u in users:
        if u.role == Role.DEPARTMENT_HANDLER and u.department_id:
            handlers.setdefault(u.department_id, []).append(u.pk)
    return People(grid_worker, community_worker, dispatchers, district_dispatcher, handlers, labels)


# --- the generator -----------------------------------------------------------------------------------

# Share of each state over the whole table (final states dominate a table built over three years).
STATE_WEIGHTS = {
    "closed": 0.80,
    "self_handled": 0.04,
    "rejected": 0.025,
    "cancelled": 0.01,
    "merged": 0.005,
    "reported": 0.010,
    "filed": 0.008,
    "returned": 0.002,
    "dispatched": 0.015,
    "accepted": 0.060,
    "handled": 0.025,
}
# Mean age (days) of the open cases of each state; 15% of the open cases are a stale backlog (30–365 days).
OPEN_MEAN_AGE_DAYS = {
    "reported": 0.25,
    "filed": 0.35,
    "returned": 1.0,
    "dispatched": 0.5,
    "accepted": 5.0,
    "handled": 1.5,
}
PATHS = {
    "reported": ["report"],
    "filed": ["report", "file"],
    "returned": ["report", "file", "dispatch", "return"],
    "dispatched": ["report", "file", "dispatch"],
    "accepted": ["report", "file", "dispatch", "accept"],
    "handled": ["report", "file", "dispatch", "accept", "handle"],
    "closed": ["report", "file", "dispatch", "accept", "handle", "verify"],
    "rejected": ["report", "reject"],
    "self_handled": ["report", "self_handle"],
    "cancelled": ["report", "file", "cancel"],
    "merged": ["report", "merge"],
}
# How long each move typically comes after the previous one (seconds, uniform).
STEP_SECONDS = {
    "file": (300, 7200),
    "dispatch": (300, 10800),
    "accept": (600, 28800),
    "return": (3600, 86400),
    "handle": (7200, 4 * 86400),
    "verify": (3600, 2 * 86400),
    "reject": (600, 10800),
    "self_handle": (600, 3600),
    "cancel": (3600, 3 * 86400),
    "merge": (600, 10800),
}
NOTES = {
    "file": "",
    "reject": "经核实不属于网格事件受理范围",
    "return": "不属本部门职责，请改派",
    "handle": "已到现场处置完毕，恢复正常",
    "verify": "现场核查，已处置到位",
    "self_handle": "网格员现场劝导，已整改",
    "cancel": "反映人撤回",
    "merge": "与已受理事件重复",
}
CHANNELS = (["grid_worker", "phone", "citizen", "open311"], [0.70, 0.20, 0.08, 0.02])
ROADS = ["德兴路", "东兴路", "环城中路", "繁华路", "西丽路", "大北路", "桥兴大道", "清河路", "兴业大道", "沙头街"]
WHAT = ["，影响居民出行", "，群众反映强烈", "，已持续多日", "，存在安全隐患", "，请尽快处理"]


@dataclass
class World:
    """The reference data the generator draws from."""

    grids: list[tuple[int, int, int, str, float, float]]  # (grid id, community id, town id, path, lon, lat)
    grid_weights: list[float]
    town_short: dict[int, str]
    categories: list[Any]  # minor categories, with .limit (their TimeLimit) and .major_code
    category_weights: list[float]
    departments_for: dict[tuple[str, int], list[int]]  # (kind, town id) -> department ids
    dept_code: dict[int, str]
    layer_id: int


def make_world() -> World:
    import numpy as np
    import shapely

    from civicgrid.events.models import Category
    from civicgrid.geo.models import GridFeature
    from civicgrid.geo.selectors import layer_current
    from civicgrid.orgunits.models import Department, Level, OrgUnit

    layer = layer_current()
    assert layer is not None
    units = {u.code: u for u in OrgUnit.objects.all()}
    shapes = dict(GridFeature.objects.filter(layer=layer).values_list("code", "geometry"))
    grids = []
    for code, unit in sorted(units.items()):
        if unit.level != Level.GRID or code not in shapes:
            continue
        community = units[unit.parent_code]
        point = shapely.point_on_surface(shapely.from_wkb(bytes(shapes[code])))
        grids.append((unit.pk, community.pk, community.parent_id, unit.path, point.x, point.y))
    assert len(grids) > 1000, f"only {len(grids)} grids with a shape"
    generator = np.random.default_rng(SEED)
    grid_weights = generator.gamma(2.0, 1.0, len(grids)).tolist()
    towns = {u.pk: u.name.removesuffix("街道").removesuffix("镇") for u in units.values() if u.level == Level.TOWN}
    categories = list(Category.objects.filter(parent__isnull=False).select_related("parent").prefetch_related("limits"))
    for category in categories:
        category.limit = category.limits.all()[0]
    category_weights = generator.dirichlet([1.0] * len(categories)).tolist()
    departments_for: dict[tuple[str, int], list[int]] = {}
    district_by_kind: dict[str, list[int]] = {}
    town_by_kind: dict[tuple[str, int], list[int]] = {}
    codes = {}
    for department in Department.objects.select_related("org_unit"):
        codes[department.pk] = department.code
        if department.org_unit.level == Level.DISTRICT:
            district_by_kind.setdefault(department.kind, []).append(department.pk)
        else:
            town_by_kind.setdefault((department.kind, department.org_unit_id), []).append(department.pk)
    fallback = district_by_kind["urban"]
    for kind in {c.default_department_kind for c in categories}:
        for town in towns:
            choices = district_by_kind.get(kind, []) + town_by_kind.get((kind, town), [])
            departments_for[(kind, town)] = choices or fallback
    return World(grids, grid_weights, towns, categories, category_weights, departments_for, codes, layer.pk)


@dataclass
class LoadStats:
    cases: int = 0
    history: int = 0
    flags: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def generate(n: int, world: World, people: People, stats: LoadStats) -> Iterator[tuple[list, list, list]]:
    """Chunks of (case rows, history rows, flag rows) as dicts keyed by attname, ids assigned."""
    import numpy as np
    from django.utils import timezone

    from civicgrid.core import pii
    from civicgrid.core.workcalendar import current_calendar
    from civicgrid.events.deadlines import handle_limit_hours, step_due
    from civicgrid.events.services import PHONE_FIELD

    calendar = current_calendar(refresh=True)
    generator = np.random.default_rng(SEED + 1)
    rng = random.Random(SEED + 2)
    now = timezone.now().replace(microsecond=0)
    day = 86400.0
    states = list(STATE_WEIGHTS)
    weights = np.array([STATE_WEIGHTS[s] for s in states])
    state_idx = generator.choice(len(states), size=n, p=weights / weights.sum())
    ages = generator.uniform(1 * day, YEARS * 365 * day, size=n)
    for i, state in enumerate(states):
        if state not in OPEN_MEAN_AGE_DAYS:
            continue
        where = np.flatnonzero(state_idx == i)
        fresh = generator.exponential(OPEN_MEAN_AGE_DAYS[state] * day, size=len(where))
        stale = generator.uniform(30 * day, 365 * day, size=len(where))
        ages[where] = np.where(generator.random(len(where)) < 0.85, fresh, stale)
    order = np.argsort(-ages)  # oldest first: ids and numbers follow the report time
    state_idx, ages = state_idx[order], ages[order]
    grid_idx = generator.choice(len(world.grids), size=n, p=np.array(world.grid_weights) / sum(world.grid_weights))
    cat_idx = generator.choice(len(world.categories), size=n, p=world.category_weights)
    channel_idx = generator.choice(len(CHANNELS[0]), size=n, p=CHANNELS[1])
    per_day: dict[str, int] = {}
    flag_id = 0
    history_id = 0
    for start in range(0, n, CHUNK):
        cases: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        flags: list[dict[str, Any]] = []
        phones: list[tuple[dict[str, Any], str]] = []
        for i in range(start, min(start + CHUNK, n)):
            case_id = i + 1
            state = states[state_idx[i]]
            grid_id, community_id, town_id, path, lon, lat = world.grids[grid_idx[i]]
            category = world.categories[cat_idx[i]]
            limit = category.limit
            channel = CHANNELS[0][channel_idx[i]]
            reported = now - dt.timedelta(microseconds=int(ages[i] * 1e6) + rng.randrange(1_000_000))
            local_day = timezone.localtime(reported).strftime("%Y%m%d")
            per_day[local_day] = per_day.get(local_day, 0) + 1
            dispatcher = people.dispatchers.get(town_id, people.district_dispatcher)
            if rng.random() < 0.2:
                dispatcher = people.district_dispatcher
            reporter = dispatcher if channel == "phone" else None  # phone intake: the dispatcher reports
            if channel == "grid_worker":
                reporter = people.grid_worker.get(grid_id)
                if community_id in people.community_worker and rng.random() < 0.2:
                    reporter = people.community_worker[community_id]
            kind = category.default_department_kind
            department = rng.choice(world.departments_for[(kind, town_id)])
            handler = rng.choice(people.handlers[department])
            # The moves, spaced by typical durations and squeezed to end before now.
            actions = PATHS[state]
            offsets = [0.0]
            for action in actions[1:]:
                low, high = STEP_SECONDS[action]
                offsets.append(offsets[-1] + rng.uniform(low, high))
            age = (now - reported).total_seconds()
            if offsets[-1] > age * 0.95:
                offsets = [o * age * 0.95 / offsets[-1] for o in offsets]
            at = [reported + dt.timedelta(seconds=o) for o in offsets]
            moments = dict(zip(actions, at, strict=True))
            address = f"{world.town_short[town_id]}{rng.choice(ROADS)}{rng.randrange(1, 300)}号"
            case: dict[str, Any] = {
                "id": case_id,
                "number": f"PY{local_day}-{per_day[local_day]:06d}",
                "title": f"{address}{category.name}"[:100],
                "description": f"{address}附近{category.name}{rng.choice(WHAT)}。",
                "category_id": category.pk,
                "limit_id": limit.pk,
                "channel": channel,
                "state": state,
                "lon": round(lon + rng.uniform(-0.0008, 0.0008), 7),
                "lat": round(lat + rng.uniform(-0.0008, 0.0008), 7),
                "address": address,
                "grid_id": grid_id,
                "community_id": community_id,
                "town_id": town_id,
                "layer_id": world.layer_id,
                "org_path": path,
                "reporter_id": reporter,
                "reporter_name": "",
                "reporter_phone_enc": None,
                "reporter_phone_masked": "",
                "token": f"bench{case_id:019d}",
                "department_id": None,
                "handler_id": None,
                "duplicate_of_id": rng.randrange(1, case_id) if state == "merged" and case_id > 1 else None,
                "reported_at": reported,
                "filed_at": moments.get("file"),
                "dispatched_at": moments.get("dispatch"),
                "accepted_at": moments.get("accept"),
                "handled_at": moments.get("handle"),
                "closed_at": moments.get("verify") or moments.get("self_handle"),
                "due_at": None,
                "handle_due_at": None,
                "due_provisional": False,
                "step_started_at": None,
                "step_limit_hours": None,
                "escalate_at": None,
                "extension_hours": Decimal("0.00"),
                "extension_pending": False,
                "supervised": False,
                "escalation_level": 0,
                "version": len(actions),
                "updated_at": at[-1],
            }
            if channel == "phone":
                phone = f"13{rng.randrange(10**9):09d}"
                case["reporter_name"] = rng.choice("陈李黄张梁何吴罗") + "先生"
                case["reporter_phone_masked"] = pii.mask_phone(phone)
                phones.append((case, phone))
            if "dispatch" in moments and state != "returned":
                case["department_id"] = department
            if "accept" in moments:
                case["handler_id"] = handler
                handle_due = calendar.add_working_hours(moments["accept"], handle_limit_hours(limit, calendar))
                case["handle_due_at"] = handle_due.at
            # The history: one row per move, with the working time of the step it ended against its limit.
            step_limit = {
                "file": float(limit.file_hours),
                "reject": float(limit.file_hours),
                "self_handle": float(limit.file_hours),
                "merge": float(limit.file_hours),
                "dispatch": float(limit.dispatch_hours),
                "cancel": float(limit.dispatch_hours),
                "accept": float(limit.accept_hours),
                "return": float(limit.accept_hours),
                "handle": handle_limit_hours(limit, calendar),
                "verify": 7.0,
            }
            actors = {
                "report": reporter,
                "file": dispatcher,
                "reject": dispatcher,
                "dispatch": dispatcher,
                "cancel": dispatcher,
                "merge": dispatcher,
                "accept": handler,
                "return": handler,
                "handle": handler,
                "verify": reporter if channel == "grid_worker" else people.grid_worker.get(grid_id),
                "self_handle": reporter,
            }
            previous = None
            for seq, (action, moment) in enumerate(zip(actions, at, strict=True), start=1):
                history_id += 1
                actor = actors[action]
                data: dict[str, Any] = {}
                if action == "report":
                    data = {"channel": channel}
                elif action == "dispatch":
                    data = {"department": world.dept_code[department], "rule": None, "override": False}
                elif action == "return":
                    data = {"department": world.dept_code[department]}
                took = None
                if previous is not None:
                    took = round(calendar.working_duration(previous, moment).hours, 2)
                history.append(
                    {
                        "id": history_id,
                        "case_id": case_id,
                        "seq": seq,
                        "action": action,
                        "from_state": "" if seq == 1 else TO_STATE[actions[seq - 2]],
                        "to_state": TO_STATE[action],
                        "actor_id": actor,
                        "actor_label": people.labels[actor] if actor else "群众（公众）",
                        "department_id": department if action in ("dispatch", "accept", "handle", "verify") else None,
                        "at": moment,
                        "note": NOTES.get(action, ""),
                        "data": json.dumps(data, ensure_ascii=False),
                        "step_hours": took,
                        "step_limit_hours": step_limit.get(action) if previous is not None else None,
                    }
                )
                previous = moment
            # Open cases: the current step's deadline as the services keep it, and the sweep's flags.
            if state in OPEN_MEAN_AGE_DAYS:
                due = step_due(SimpleNamespace(limit=limit, **case), calendar)
                case.update(
                    due_at=due.due_at,
                    due_provisional=due.provisional,
                    step_started_at=due.start,
                    step_limit_hours=due.limit_hours,
                    escalate_at=due.escalate_at,
                )
                if state == "accepted":
                    case["handle_due_at"] = due.due_at
                step_key = f"{state}:{int(due.start.timestamp()) if due.start else 0}"
                if due.due_at is not None and due.due_at < now:
                    case["supervised"] = True
                    flag_id += 1
                    flags.append(
                        _flag(flag_id, case_id, "supervise", min(now, due.due_at + dt.timedelta(minutes=4)), None)
                        | {"automatic": True, "key": f"supervise:{step_key}", "note": "超过时限，系统自动督办"}
                    )
                if due.escalate_at is not None and due.escalate_at < now:
                    case.update(escalation_level=1, escalate_at=None)
                    flag_id += 1
                    flags.append(
                        _flag(flag_id, case_id, "escalate", min(now, due.escalate_at + dt.timedelta(minutes=4)), None)
                        | {"automatic": True, "level": 1, "key": f"escalate:{step_key}", "note": "超过时限三倍"}
                    )
                if state == "accepted" and rng.random() < 0.03:
                    case["extension_pending"] = True
                    case["version"] += 1
                    flag_id += 1
                    asked = moments["accept"] + (now - moments["accept"]) / 2
                    flags.append(
                        _flag(flag_id, case_id, "ext_request", asked, handler)
                        | {"hours": Decimal("14.00"), "note": "需协调多个部门，申请延期两个工作日"}
                    )
            elif state == "closed" and rng.random() < 0.10:
                flag_id += 1
                moment = moments["dispatch"] + (moments["accept"] - moments["dispatch"]) / 2
                flags.append(
                    _flag(flag_id, case_id, "supervise", moment, None)
                    | {"automatic": True, "key": f"supervise:dispatched:{int(moment.timestamp())}"}
                    | {"note": "超过时限，系统自动督办"}
                )
            cases.append(case)
        if phones:
            for (case, _phone), blob in zip(
                phones, pii.encrypt_many([p for _c, p in phones], field=PHONE_FIELD), strict=True
            ):
                case["reporter_phone_enc"] = blob
        stats.cases += len(cases)
        stats.history += len(history)
        stats.flags += len(flags)
        yield cases, history, flags


TO_STATE = {
    "report": "reported",
    "file": "filed",
    "reject": "rejected",
    "self_handle": "self_handled",
    "dispatch": "dispatched",
    "accept": "accepted",
    "return": "returned",
    "handle": "handled",
    "verify": "closed",
    "cancel": "cancelled",
    "merge": "merged",
}


def _flag(flag_id: int, case_id: int, kind: str, at: dt.datetime, actor: int | None) -> dict[str, Any]:
    return {
        "id": flag_id,
        "case_id": case_id,
        "kind": kind,
        "at": at,
        "actor_id": actor,
        "automatic": False,
        "level": 0,
        "hours": None,
        "note": "",
        "key": "",
    }


class Writer:
    """Rows (dicts keyed by attname) into a model's table: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, model: Any) -> None:
        from django.db import connection

        self.vendor = connection.vendor
        self.table = model._meta.db_table
        self.fields = [(f.attname, f.column) for f in model._meta.concrete_fields]
        columns = ", ".join(connection.ops.quote_name(column) for _attname, column in self.fields)
        if self.vendor == "postgresql":
            self.sql = f"COPY {connection.ops.quote_name(self.table)} ({columns}) FROM STDIN"
        else:
            marks = ", ".join(["%s"] * len(self.fields))
            self.sql = f"INSERT INTO {connection.ops.quote_name(self.table)} ({columns}) VALUES ({marks})"  # noqa: S608

    def _sqlite_value(self, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return str(value.astimezone(dt.UTC).replace(tzinfo=None))  # what Django stores: naive UTC
        if isinstance(value, Decimal):
            return str(value)
        return value

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        from django.db import connection, transaction

        names = [attname for attname, _column in self.fields]
        missing = set(names) - set(rows[0]) if rows else set()
        assert not missing, f"{self.table}: the generator does not fill {sorted(missing)}"
        with transaction.atomic(), connection.cursor() as cursor:
            if self.vendor == "postgresql":
                with cursor.cursor.copy(self.sql) as copy:
                    for row in rows:
                        copy.write_row([row[name] for name in names])
            else:
                convert = self._sqlite_value
                cursor.executemany(self.sql, [[convert(row[name]) for name in names] for row in rows])


def load_cases(n: int, world: World, people: People) -> LoadStats:
    from django.core.management.color import no_style
    from django.db import connection

    from civicgrid.events.models import Case, CaseFlag, CaseHistory

    stats = LoadStats()
    writers = (Writer(Case), Writer(CaseHistory), Writer(CaseFlag))
    started = time.perf_counter()
    generating = 0.0
    fast_path = False
    if connection.vendor == "postgresql":
        # The generator guarantees every reference (checked below), so the foreign-key triggers are skipped
        # during the COPY, as pg_restore --disable-triggers does.
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            fast_path = bool(cursor.fetchone()[0])  # else COPY with the triggers
            if fast_path:
                cursor.execute("SET session_replication_role = replica")
    try:
        chunks = generate(n, world, people, stats)
        while True:
            mark = time.perf_counter()
            chunk = next(chunks, None)
            generating += time.perf_counter() - mark
            if chunk is None:
                break
            for writer, rows in zip(writers, chunk, strict=True):
                if rows:
                    writer.write(rows)
            done = stats.cases
            if done % 100_000 == 0:
                print(f"  … {done:,} cases, {stats.history:,} history rows ({time.perf_counter() - started:.0f} s)")
    finally:
        if fast_path:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Case, CaseHistory, CaseFlag]):
            cursor.execute(sql)
    stats.seconds["generate (Python)"] = generating
    stats.seconds["generate + write"] = time.perf_counter() - started
    if fast_path:
        mark = time.perf_counter()
        check_references([Case, CaseHistory, CaseFlag])
        stats.seconds["check references"] = time.perf_counter() - mark
    mark = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for model in (Case, CaseHistory, CaseFlag):
                cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")
            cursor.execute("ANALYZE")
        else:
            cursor.execute("ANALYZE")
    stats.seconds["VACUUM (ANALYZE)" if connection.vendor == "postgresql" else "ANALYZE"] = time.perf_counter() - mark
    return stats


def check_references(models: Sequence[Any]) -> None:
    """Every foreign key written by COPY points at a row (the triggers were off)."""
    from django.db import connection

    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in models:
            for f in model._meta.concrete_fields:
                if not f.is_relation:
                    continue
                target = f.related_model._meta
                cursor.execute(
                    f"SELECT count(*) FROM {quote(model._meta.db_table)} t WHERE t.{quote(f.column)} IS NOT NULL "  # noqa: S608
                    f"AND NOT EXISTS (SELECT 1 FROM {quote(target.db_table)} r "
                    f"WHERE r.{quote(target.pk.column)} = t.{quote(f.column)})"
                )
                dangling = cursor.fetchone()[0]
                assert dangling == 0, f"{model._meta.db_table}.{f.column}: {dangling} dangling references"


# --- the naive pages (baseline) ----------------------------------------------------------------------


def naive_timeline(*, case: Any) -> list[Any]:
    """`selectors.case_timeline` without select_related: each step's department, each returned
    department's name and each flag's actor is its own query (N+1)."""
    from django.utils.translation import gettext as _

    from civicgrid.events import selectors
    from civicgrid.events.models import CaseFlag, CaseHistory
    from civicgrid.events.workflow import Action, State
    from civicgrid.orgunits.models import Department

    entries = []
    for row in CaseHistory.objects.filter(case=case).order_by("seq"):
        department = row.department.name if row.department_id and row.action in selectors.DEPARTMENT_STEPS else ""
        if row.action == Action.RETURN:
            found = Department.objects.filter(code=str(row.data.get("department") or "")).first()
            department = found.name if found else ""
        entry = selectors.TimelineEntry(
            kind="step",
            code=row.action,
            label=str(Action(row.action).label),
            at=row.at,
            actor=row.actor_label,
            note=row.note,
            state_label=str(State(row.to_state).label),
            department=department,
            took_hours=row.step_hours,
            limit_hours=row.step_limit_hours,
        )
        entries.append((row.at, 0, entry))
    for flag in CaseFlag.objects.filter(case=case).order_by("at", "id"):
        actor = flag.actor  # a query per flag
        who = _("系统") if flag.automatic or actor is None else f"{actor.display_name}（{actor.get_role_display()}）"
        entry = selectors.TimelineEntry(
            kind="flag",
            code=flag.kind,
            label=str(CaseFlag.Kind(flag.kind).label),
            at=flag.at,
            actor=who,
            note=flag.note,
            automatic=flag.automatic,
            hours=flag.hours,
        )
        entries.append((flag.at, 1, entry))
    entries.sort(key=lambda item: (item[0], item[1]))
    return [entry for _at, _order, entry in entries]


def naive_case_page(request: Any, number: str) -> Any:
    """The case page of `events.views.case_page`, read the naive way."""
    from django.shortcuts import render

    from civicgrid.core.errors import NotFound
    from civicgrid.events import selectors, views

    case = selectors.case_scope(actor=request.user).filter(number=number).first()  # no select_related
    if case is None:
        raise NotFound(number)
    with mock.patch.object(selectors, "case_timeline", naive_timeline):
        context = views._case_context(request.user, case, views.FormState(), "")
    return render(request, "events/case.html", context)


def naive_workbench(request: Any) -> Any:
    """The workbench of `events.views.workbench`, paginated the naive way: Django's Paginator (an exact
    COUNT(*) of the list, then OFFSET) and an exact COUNT(*) for every tab."""
    from django.core.paginator import Paginator
    from django.shortcuts import render
    from django.urls import reverse
    from django.utils import timezone
    from django.utils.translation import gettext as _

    from civicgrid.accounts.roles import Role
    from civicgrid.events import selectors, views
    from civicgrid.events.models import Case
    from civicgrid.events.workflow import State

    user = request.user
    now = timezone.now()
    tabs = selectors.workbench_tabs(actor=user)
    filters = views._filters(request.GET)
    key = request.GET.get("tab") or tabs[0].key
    tab = next(t for t in tabs if t.key == key)
    queryset = selectors._apply_filters(Case.objects.filter(tab.rows(user, now)), actor=user, filters=filters, now=now)
    if tab.order == "due":
        queryset = queryset.filter(due_at__isnull=False).order_by("due_at", "pk")
    elif tab.order == "reported":
        queryset = queryset.order_by("-reported_at", "-pk")
    else:
        queryset = queryset.order_by("-pk")
    queryset = queryset.select_related(*selectors.ROW_RELATED).defer("description", "reporter_phone_enc", "token")
    paginator = Paginator(queryset, selectors.PAGE_SIZE)
    number = int(request.GET.get("page") or 1)
    page = paginator.page(number)
    counts = {t.key: selectors.BoundedCount(Case.objects.filter(t.rows(user, now)).count(), False) for t in tabs}
    params = views._filter_params(filters)
    context = {
        "tabs": [
            {
                "key": t.key,
                "label": t.label,
                "count": counts[t.key],
                "active": t.key == tab.key,
                "url": views._query(tab=t.key, **params),
            }
            for t in tabs
        ],
        "tab": tab,
        "page": SimpleNamespace(tab=tab, count=selectors.BoundedCount(paginator.count, False)),
        "rows": views._rows(list(page.object_list), now),
        "filters": filters,
        "filtered": filters.active,
        "next_url": views._query(tab=tab.key, **params, page=str(number + 1)) if page.has_next() else "",
        "first_url": views._query(tab=tab.key, **params) if number > 1 else "",
        "problem": "",
        "states": [("open", _("在办（全部未结）")), *State.choices],
        "categories": selectors.category_tree(),
        "units": selectors.filter_units(actor=user) if user.role != Role.GRID_WORKER else [],
        "show_department": user.role != Role.DEPARTMENT_HANDLER,
        "head_links": [(reverse(name), label) for name, label in views.HEAD_LINKS.get(user.role, [])],
    }
    return render(request, "events/workbench.html", context)


def install_urls() -> None:
    from django.conf import settings
    from django.contrib.auth.decorators import login_required
    from django.urls import include, path

    urlpatterns[:] = [
        path("bench/naive/events/", login_required(naive_workbench)),
        path("bench/naive/events/<str:number>/", login_required(naive_case_page)),
        path("", include(settings.ROOT_URLCONF)),
    ]
    settings.ROOT_URLCONF = __name__


# --- measuring ---------------------------------------------------------------------------------------


@dataclass
class Series:
    role: str
    endpoint: str
    samples: list[float]  # wall seconds per request
    cpu: list[float]  # CPU seconds of this process per request (Django, and SQLite itself)
    server_cpu: float | None = None  # PostgreSQL backend CPU seconds per request (mean), if measurable
    queries: int | None = None
    db_ms: float | None = None  # time in the database of one probed request
    slowest_ms: float | None = None  # its slowest SELECT
    slowest_sql: str = ""
    target: bool = True  # counts against the 100 ms target (the baselines and the search do not)

    def pct(self, p: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.samples if values is None else values)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000

    def row(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "endpoint": self.endpoint,
            "n": len(self.samples),
            "p50": self.pct(50),
            "p95": self.pct(95),
            "p99": self.pct(99),
            "max": max(self.samples) * 1000,
            "cpu_p50": self.pct(50, self.cpu),
            "server_cpu_mean": None if self.server_cpu is None else self.server_cpu * 1000,
            "queries": self.queries,
            "db_ms": self.db_ms,
            "slowest_select_ms": self.slowest_ms,
            "target": self.target,
        }


@dataclass
class RoleSpec:
    label: str
    username: str
    filtered: dict[str, str]  # a second tab with a filter (first page and the next)
    deep_tab: str  # the largest tab, for the deep page
    extra: list[dict[str, str]] = field(default_factory=list)  # more lists, first page only
    search: list[dict[str, str]] = field(default_factory=list)  # title searches: reported, not in the target


def backend_cpu() -> tuple[int, float] | None:
    """(pid, CPU seconds) of this connection's PostgreSQL backend, read from /proc (same machine)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.series: list[Series] = []
        self.loads: list[float] = []
        self.explained: dict[str, tuple[float, str]] = {}

    def get(self, client: Any, url: str) -> Any:
        response = client.get(url, secure=True)
        if response.status_code != 200:
            raise AssertionError(f"{url}: {response.status_code} {response.content[:300]!r}")
        return response

    def probe(self, client: Any, url: str) -> tuple[int, float, float, str]:
        """One untimed request with its queries: (count, ms in the database, slowest SELECT ms, its SQL)."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            self.get(client, url)
        queries = captured.captured_queries
        total = sum(float(q["time"]) for q in queries) * 1000
        selects = [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
        if not selects:
            return len(queries), total, 0.0, ""
        slowest = max(selects, key=lambda q: float(q["time"]))
        return len(queries), total, float(slowest["time"]) * 1000, slowest["sql"]

    def time_urls(self, client: Any, role: str, endpoint: str, urls: Sequence[str], *, target: bool = True) -> Series:
        self.loads.append(os.getloadavg()[0])
        for url in urls[: self.args.warmup]:
            self.get(client, url)
        # As civicgrid/wsgi.py does once at start-up: what is loaded for good (here also the caches the
        # warm-up filled) is kept out of the collector's full passes.
        gc.collect()
        gc.freeze()
        samples, cpu = [], []
        before = backend_cpu()
        for url in urls:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(url, secure=True)
            samples.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            if response.status_code != 200:
                raise AssertionError(f"{url}: {response.status_code}")
        after = backend_cpu()
        server = (after[1] - before[1]) / len(urls) if before and after and before[0] == after[0] else None
        queries, db_ms, slowest_ms, slowest_sql = self.probe(client, urls[0])
        series = Series(role, endpoint, samples, cpu, server, queries, db_ms, slowest_ms, slowest_sql, target)
        self.series.append(series)
        if slowest_ms >= self.args.explain_ms and slowest_sql not in self.explained:
            self.explained[slowest_sql] = (slowest_ms, explain(slowest_sql))
        r = series.row()
        server_text = "" if server is None else f" +db {r['server_cpu_mean']:5.1f}"
        print(
            f"  {role:<24} {endpoint:<44} n={r['n']:<5} p50 {r['p50']:6.1f} p95 {r['p95']:6.1f} "
            f"p99 {r['p99']:6.1f} max {r['max']:6.1f} ms | cpu {r['cpu_p50']:5.1f}{server_text} | "
            f"q={queries} db {db_ms:.0f} ms, slowest {slowest_ms:.0f} ms",
            flush=True,
        )
        return series

    def repeat(self, url: str) -> list[str]:
        return [url] * self.args.list_requests


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(" | ".join(str(c) for c in row) for row in cursor.fetchall())


def _url(base: str, **params: str) -> str:
    params = {k: v for k, v in params.items() if v}
    return base + ("?" + urlencode(params) if params else "")


def deep_cursor(user: Any, tab_key: str, page: int) -> tuple[str | None, int]:
    """The keyset cursor that opens page `page` of a tab (the last row of the page before), found with an
    untimed OFFSET query; and the page actually used (the last page if the tab is shorter)."""
    from civicgrid.events import selectors
    from civicgrid.events.models import Case

    tab = selectors._tab(user, tab_key)
    queryset = Case.objects.filter(tab.rows(user, dt.datetime.now(dt.UTC)))
    total = queryset.count()
    page = max(1, min(page, math.ceil(total / selectors.PAGE_SIZE)))
    if page == 1:
        return None, 1
    ordered = selectors._keyset(queryset, tab.order, None)
    row = ordered.only("pk", "reported_at", "due_at")[(page - 1) * selectors.PAGE_SIZE - 1]
    return selectors._encode(row, tab.order), page


def sample_cases(user: Any, count: int, n_cases: int, rng: random.Random) -> list[str]:
    """`count` random case numbers the user may see (all of them if fewer)."""
    from civicgrid.events import selectors

    scope = selectors.case_scope(actor=user)
    total = scope.count()
    if total <= 50_000:
        numbers = list(scope.order_by("pk").values_list("number", flat=True))
        rng.shuffle(numbers)
        return numbers[:count]
    found: list[str] = []
    seen: set[int] = set()
    while len(found) < count:
        ids = [rng.randrange(1, n_cases + 1) for _ in range(5000)]
        ids = [i for i in ids if i not in seen]
        seen.update(ids)
        found.extend(scope.filter(pk__in=ids).values_list("number", flat=True))
    rng.shuffle(found)
    return found[:count]


def measure_role(bench: Bench, spec: RoleSpec, n_cases: int) -> dict[str, Any]:
    from django.test import Client

    from civicgrid.accounts.models import User
    from civicgrid.events import selectors
    from civicgrid.events.models import Case

    args = bench.args
    user = User.objects.select_related("org_unit", "department").get(username=spec.username)
    client = Client()
    client.force_login(user)
    role = spec.label
    tabs = selectors.workbench_tabs(actor=user)
    now = dt.datetime.now(dt.UTC)
    sizes = {t.key: Case.objects.filter(t.rows(user, now)).count() for t in tabs}
    scope = selectors.case_scope(actor=user).count()
    print(f"\n{role} ({spec.username}, {user.org_unit.name}): scope {scope:,}; tabs {sizes}", flush=True)

    # Lists: first page and the next one by the cursor, for the default tab and a filtered second tab.
    def pages(name: str, params: dict[str, str], *, follow: bool = True, target: bool = True) -> None:
        api = bench.get(client, _url("/api/events/cases/", **params)).json()
        html = bench.get(client, _url("/events/", **params)).content.decode()
        assert ROW.findall(html) == [r["number"] for r in api["results"]], f"{name}: HTML and API rows differ"
        for kind, base in (("page", "/events/"), ("api", "/api/events/cases/")):
            bench.time_urls(client, role, f"{kind} {name} p1", bench.repeat(_url(base, **params)), target=target)
        if follow and api["next_cursor"]:
            after = {**params, "after": api["next_cursor"]}
            for kind, base in (("page", "/events/"), ("api", "/api/events/cases/")):
                bench.time_urls(client, role, f"{kind} {name} p2", bench.repeat(_url(base, **after)), target=target)

    def name_of(params: dict[str, str]) -> str:
        return "&".join(f"{k}={v}" for k, v in params.items())

    pages(f"tab={tabs[0].key}", {})
    pages(name_of(spec.filtered), spec.filtered)
    for params in spec.extra:
        pages(name_of(params), params, follow=False)
    for params in spec.search:
        pages(name_of(params), params, follow=False, target=False)
    bench.time_urls(client, role, "api workbench (tab counts)", bench.repeat("/api/events/workbench/"))

    # The deep page: by the keyset cursor, and the naive OFFSET page with exact counts (baseline).
    cursor, page = deep_cursor(user, spec.deep_tab, args.deep_page)
    deep = {"tab": spec.deep_tab, "after": cursor or ""}
    keyset_rows = ROW.findall(bench.get(client, _url("/events/", **deep)).content.decode())
    naive_url = _url("/bench/naive/events/", tab=spec.deep_tab, page=str(page))
    naive_rows = ROW.findall(bench.get(client, naive_url).content.decode())
    assert keyset_rows == naive_rows and keyset_rows, f"{role}: keyset page {page} differs from the OFFSET page"
    label = f"{spec.deep_tab} page {page:,}"
    fast = bench.time_urls(client, role, f"page {label} (keyset)", bench.repeat(_url("/events/", **deep)))
    bench.time_urls(client, role, f"api {label} (keyset)", bench.repeat(_url("/api/events/cases/", **deep)))
    naive = bench.time_urls(
        client, role, f"baseline {label} (OFFSET + COUNT)", [naive_url] * args.naive_requests, target=False
    )

    # The case page for random visible cases, and the naive one on the first of them (baseline).
    rng = random.Random(f"{SEED}:{spec.username}")
    numbers = sample_cases(user, args.case_pages, n_cases, rng)
    for number in numbers[: args.warmup]:
        bench.get(client, f"/events/{number}/")
        bench.get(client, f"/api/events/cases/{number}/")
    for number in numbers[:20]:
        real = bench.get(client, f"/events/{number}/").content.decode().count(TIMELINE_ENTRY)
        slow = bench.get(client, f"/bench/naive/events/{number}/").content.decode().count(TIMELINE_ENTRY)
        assert real == slow and real > 0, f"{number}: timeline {real} vs naive {slow}"
    case_page = bench.time_urls(client, role, "case page", [f"/events/{n}/" for n in numbers])
    bench.time_urls(client, role, "api case", [f"/api/events/cases/{n}/" for n in numbers])
    naive_case = bench.time_urls(
        client,
        role,
        "baseline case page (N+1)",
        [f"/bench/naive/events/{n}/" for n in numbers[: args.naive_case_pages]],
        target=False,
    )
    return {
        "role": role,
        "username": spec.username,
        "scope": scope,
        "tabs": sizes,
        "deep": {"tab": spec.deep_tab, "page": page, "keyset": fast.row(), "naive": naive.row()},
        "case": {"fast": case_page.row(), "naive": naive_case.row(), "pages": len(numbers)},
    }


def dataset_summary() -> dict[str, Any]:
    from django.db.models import Count

    from civicgrid.events.models import Case, CaseFlag, CaseHistory
    from civicgrid.events.workflow import OPEN_STATES

    states = dict(Case.objects.order_by().values_list("state").annotate(n=Count("pk")).order_by("-n"))
    return {
        "cases": sum(states.values()),
        "history": CaseHistory.objects.count(),
        "flags": CaseFlag.objects.count(),
        "states": states,
        "open": sum(n for state, n in states.items() if state in OPEN_STATES),
        "supervised": Case.objects.filter(supervised=True).count(),
        "escalated": Case.objects.filter(supervised=True, escalation_level__gt=0).count(),
        "extension_pending": Case.objects.filter(extension_pending=True).count(),
    }


def write_markdown(path: str, series: Sequence[Series]) -> None:
    lines = [
        "| role | request | n | p50 | p95 | p99 | max | CPU app | CPU db | queries |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in series:
        r = s.row()
        server = "—" if r["server_cpu_mean"] is None else f"{r['server_cpu_mean']:.1f}"
        p99 = f"**{r['p99']:.1f}**" if s.target else f"{r['p99']:.1f}"
        lines.append(
            f"| {r['role']} | {r['endpoint']} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | {p99} | "
            f"{r['max']:.1f} | {r['cpu_p50']:.1f} | {server} | {r['queries']} |"
        )
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


ROLES = [
    RoleSpec("grid worker (grid)", "wgy_shiqiao", {"tab": "mine", "state": "closed"}, "mine", [{"tab": "verify"}]),
    RoleSpec("grid worker (community)", "wgy_shilou", {"tab": "mine", "category": "06"}, "mine", [{"tab": "verify"}]),
    RoleSpec(
        "dispatcher (town)",
        "shiqiao_dispatcher",
        {"tab": "all", "unit": "COMMUNITY"},
        "all",
        [{"tab": "to_dispatch"}, {"tab": "extension"}],
    ),
    RoleSpec(
        "dispatcher (district)",
        "qu_dispatcher",
        {"tab": "all", "unit": "440113007000", "category": "06"},
        "all",
        [{"tab": "returned"}, {"tab": "extension"}],
        search=[{"tab": "all", "q": "井盖"}, {"tab": "all", "q": "无此内容"}],
    ),
    RoleSpec("department handler", "cg_handler", {"tab": "done", "category": "06"}, "done", [{"tab": "handling"}]),
    RoleSpec(
        "supervisor (district)",
        "qu_supervisor",
        {"tab": "supervised", "unit": "440113007000"},
        "all",
        [{"tab": "escalated"}, {"tab": "extension"}],
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--case-pages", type=int, default=1000, help="random cases opened per role")
    parser.add_argument("--list-requests", type=int, default=200, help="timed requests per list endpoint")
    parser.add_argument("--naive-requests", type=int, default=20, help="timed naive deep pages per role")
    parser.add_argument("--naive-case-pages", type=int, default=200, help="timed naive case pages per role")
    parser.add_argument("--deep-page", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--explain-ms", type=float, default=20.0, help="EXPLAIN a slowest query above this")
    parser.add_argument("--roles", default="", help="comma-separated usernames (default: all)")
    parser.add_argument("--reuse", action="store_true", help="keep a database this script already loaded")
    parser.add_argument("--json", default="", help="write the results here")
    parser.add_argument("--markdown", default="", help="write the per-endpoint table here")
    args = parser.parse_args()

    warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers.base")
    vendor = setup_django()
    from django.db import connection
    from django.test.utils import override_settings

    from civicgrid.events.models import Case
    from civicgrid.orgunits.models import Level, OrgUnit

    load_before = os.getloadavg()
    started = time.perf_counter()
    reused = args.reuse and Case.objects.count() == args.cases
    if reused:
        stats = LoadStats()
        print(f"reusing the loaded database ({args.cases:,} cases)")
    else:
        prepare_database()
        setup_seconds = time.perf_counter() - started
        people = make_people()
        world = make_world()
        print(f"set-up {time.perf_counter() - started:.1f} s; loading {args.cases:,} cases …", flush=True)
        stats = load_cases(args.cases, world, people)
        stats.seconds = {"divisions, grid layer, departments, accounts": setup_seconds, **stats.seconds}
    load_seconds = time.perf_counter() - started
    rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The loading left millions of objects in this process that a server worker would not hold; without
    # this, the collector's full passes over them (100-200 ms each) land in random requests.
    gc.collect()
    gc.freeze()

    # Production settings, as the test suite runs them: DEBUG off, static files from the finders (no
    # collected manifest here); requests are made as HTTPS so the SSL redirect does not apply.
    override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
    install_urls()
    bench = Bench(args)
    community = OrgUnit.objects.filter(parent__code="440113007000", level=Level.COMMUNITY).order_by("code")[0]
    chosen = [r for r in ROLES if not args.roles or r.username in args.roles.split(",")]
    results = []
    measure_started = time.perf_counter()
    for spec in chosen:
        if spec.filtered.get("unit") == "COMMUNITY":
            spec.filtered = {**spec.filtered, "unit": community.code}
        results.append(measure_role(bench, spec, args.cases))
    measure_seconds = time.perf_counter() - measure_started
    load_after = os.getloadavg()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    summary = dataset_summary()
    print(f"\ndatabase: {vendor} ({connection.settings_dict['NAME']})")
    print(
        f"cases {summary['cases']:,}; history rows {summary['history']:,}; flags {summary['flags']:,}; "
        f"open {summary['open']:,} (supervised {summary['supervised']:,}, escalated {summary['escalated']:,}, "
        f"extension pending {summary['extension_pending']:,})"
    )
    print("states: " + ", ".join(f"{k} {v:,}" for k, v in summary["states"].items()))
    print(
        f"load {'(reused)' if reused else ''} {load_seconds:.1f} s: "
        + "; ".join(f"{k} {v:.1f} s" for k, v in stats.seconds.items())
    )
    print(f"measuring {measure_seconds:.0f} s; peak RSS {rss:.0f} MiB (after loading {rss_load:.0f} MiB)")
    print(
        f"load average (1 min) on {os.cpu_count()} CPUs: {load_before[0]:.2f} before loading, during measuring "
        f"{min(bench.loads):.2f}–{max(bench.loads):.2f} (mean {sum(bench.loads) / len(bench.loads):.2f}), "
        f"{load_after[0]:.2f} at the end"
    )
    print("\nbaselines (p50 / p99 ms):")
    for result in results:
        deep, case = result["deep"], result["case"]
        print(
            f"  {result['role']:<24} {deep['tab']} page {deep['page']:,}: keyset {deep['keyset']['p50']:.1f} / "
            f"{deep['keyset']['p99']:.1f}, OFFSET + COUNT {deep['naive']['p50']:.1f} / {deep['naive']['p99']:.1f} "
            f"({deep['naive']['p50'] / deep['keyset']['p50']:.1f}×); case page {case['fast']['p50']:.1f} / "
            f"{case['fast']['p99']:.1f} ({case['fast']['queries']} queries), N+1 {case['naive']['p50']:.1f} / "
            f"{case['naive']['p99']:.1f} ({case['naive']['queries']} queries, "
            f"{case['naive']['p50'] / case['fast']['p50']:.1f}×)"
        )
    missed = [s for s in bench.series if s.target and s.pct(99) >= TARGET_MS]
    worst = max((s for s in bench.series if s.target), key=lambda s: s.pct(99))
    print(f"\nworst p99 of the target set: {worst.role}, {worst.endpoint}: {worst.pct(99):.1f} ms (target < 100 ms)")
    for s in missed:
        print(f"MISSED: {s.role}, {s.endpoint}: p99 {s.pct(99):.1f} ms")
    for s in bench.series:
        if not s.target and not s.endpoint.startswith("baseline") and s.pct(99) >= TARGET_MS:
            print(f"outside the target set, over 100 ms: {s.role}, {s.endpoint}: p99 {s.pct(99):.1f} ms")
    if bench.explained:
        print(f"\nslowest SELECT of a request above {args.explain_ms:.0f} ms (probe), with its plan:")
        for sql, (ms, plan) in bench.explained.items():
            print(f"\n[{ms:.0f} ms] {sql}\n{plan}")
    if args.markdown:
        write_markdown(args.markdown, bench.series)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "vendor": vendor,
                    "dataset": summary,
                    "load_seconds": load_seconds,
                    "load_steps": stats.seconds,
                    "rss_mb": rss,
                    "rss_after_load_mb": rss_load,
                    "loadavg": {"before": load_before, "during": bench.loads, "after": load_after},
                    "series": [s.row() for s in bench.series],
                    "roles": results,
                    "explained": bench.explained,
                },
                out,
                ensure_ascii=False,
                indent=1,
                default=str,
            )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
