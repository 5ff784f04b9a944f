"""Scoped reads of grid events: the workbench lists of each role (tabs with bounded counts, filters,
keyset pages), one case with its whole timeline, what the current user may do to it, and the map of a
supervisor's cases.

Scope (who sees which cases):
- a grid worker: the cases they reported, and the cases of their grid (or community, if bound to one);
- a department handler: the cases dispatched to their department (current assignment);
- everyone else who may view events (dispatchers, supervisors, administrators): the cases of their org
  unit's subtree, by the materialised `org_path` prefix.
A case outside the scope reads as missing.

Built for a table of millions: every list filters on indexed columns (`state`, `due_at`, `department`,
`reporter`, `grid`, `org_path` prefix, `supervised`), reads one page by keyset (never OFFSET), and counts
at most `COUNT_CAP + 1` rows (a list narrowed by filters, `FILTERED_COUNT_CAP + 1`: its matches can be
sparse among the tab's rows, and a count of them is found only by reading past the rest)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.accounts.roles import Capability, Role, has_capability
from civicgrid.accounts.selectors import orgunit_get_visible, scope_root
from civicgrid.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicgrid.core.workcalendar import WorkCalendar, current_calendar
from civicgrid.events.deadlines import step_due
from civicgrid.events.models import Case, CaseFlag, CaseHistory, Category, DispatchRule
from civicgrid.events.services import (
    PUBLIC_ROLE,
    DispatchProposal,
    _in_area,
    _side_allows,
    actor_text,
    dispatch_proposal,
    dispatch_suggestion,
)
from civicgrid.events.workflow import OPEN_STATES, Action, State, Transition, allowed_actions
from civicgrid.orgunits.models import PATH_SEPARATOR, Department

COUNT_CAP = 999
# In one order, as the partial index of open cases names them (SQLite matches an index's condition by its text).
OPEN_STATE_LIST = sorted(OPEN_STATES)
FILTERED_COUNT_CAP = 199
PAGE_SIZE = 30
MAP_LIMIT = 2000

# --- scope -------------------------------------------------------------------------------------------


def case_scope(*, actor: Any) -> QuerySet[Case]:
    """Every case the actor may read (see the module docstring)."""
    root = scope_root(actor)
    if not has_capability(actor, Capability.VIEW_EVENTS):
        raise PermissionDenied()
    cases = Case.objects.all()
    if actor.role == Role.DEPARTMENT_HANDLER:
        return cases.filter(department_id=actor.department_id) if actor.department_id else cases.none()
    if actor.role == Role.GRID_WORKER:
        return cases.filter(Q(reporter_id=actor.pk) | Q(org_path__startswith=root.path))
    return cases.filter(org_path__startswith=root.path)


def _area(actor: Any) -> Q:
    return Q(org_path__startswith=scope_root(actor).path)


# --- workbench tabs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tab:
    """One list of a workbench: its rows (a filter over indexed columns) and their order.
    `order` is "due" (most urgent first), "reported" (newest first) or "id" (newest first)."""

    key: str
    label: Any
    rows: Callable[[Any, dt.datetime], Q]
    order: str = "due"
    hint: Any = ""


def _mine(actor: Any, now: dt.datetime) -> Q:
    return Q(reporter_id=actor.pk)


def _to_verify(actor: Any, now: dt.datetime) -> Q:
    # A disjunction of two indexed conditions (not `state AND (reporter OR area)`), so that each side is
    # found through its own index.
    return Q(state=State.HANDLED, reporter_id=actor.pk) | (Q(state=State.HANDLED) & _area(actor))


def _in_state(state: str) -> Callable[[Any, dt.datetime], Q]:
    return lambda actor, now: Q(state=state) & _area(actor)


def _department_in(*states: str) -> Callable[[Any, dt.datetime], Q]:
    def rows(actor: Any, now: dt.datetime) -> Q:
        if not actor.department_id:
            return Q(pk__in=[])  # a handler without a department has nothing to handle
        return Q(department_id=actor.department_id, state__in=states)

    return rows


def _extension_pending(actor: Any, now: dt.datetime) -> Q:
    return Q(state=State.ACCEPTED, extension_pending=True) & _area(actor)


def _overdue(actor: Any, now: dt.datetime) -> Q:
    return Q(state__in=OPEN_STATE_LIST, due_at__lt=now) & _area(actor)


def _supervised(actor: Any, now: dt.datetime) -> Q:
    return Q(supervised=True) & _area(actor)


def _escalated(actor: Any, now: dt.datetime) -> Q:
    # Escalation only happens to overdue open cases, which the same sweep supervises, and `supervised` is
    # cleared only when a case leaves the open states: so the open escalated cases are exactly these, and
    # the `supervised` index finds them.
    return Q(supervised=True, escalation_level__gt=0) & _area(actor)


def _open(actor: Any, now: dt.datetime) -> Q:
    return Q(state__in=OPEN_STATE_LIST) & _area(actor)


def _all_in_area(actor: Any, now: dt.datetime) -> Q:
    return _area(actor)


TAB_EXTENSION = Tab(
    "extension", gettext_lazy("延期待审批"), _extension_pending, hint=gettext_lazy("职能部门申请延期，待审批")
)
TAB_ALL = Tab("all", gettext_lazy("辖区全部"), _all_in_area, order="reported")
TAB_OVERDUE = Tab("overdue", gettext_lazy("已超期"), _overdue, hint=gettext_lazy("当前环节已超过时限的在办事件"))

WORKBENCHES: dict[str, list[Tab]] = {
    Role.GRID_WORKER: [
        Tab("mine", gettext_lazy("我的上报"), _mine, order="reported"),
        Tab("verify", gettext_lazy("待核查"), _to_verify, hint=gettext_lazy("职能部门已反馈，请到现场核查")),
    ],
    Role.DISPATCHER: [
        Tab("to_file", gettext_lazy("待立案"), _in_state(State.REPORTED)),
        Tab("to_dispatch", gettext_lazy("待派遣"), _in_state(State.FILED)),
        Tab("returned", gettext_lazy("退回待改派"), _in_state(State.RETURNED)),
        TAB_EXTENSION,
        TAB_ALL,
    ],
    Role.DEPARTMENT_HANDLER: [
        Tab("inbox", gettext_lazy("待签收"), _department_in(State.DISPATCHED)),
        Tab("handling", gettext_lazy("处置中"), _department_in(State.ACCEPTED)),
        Tab("done", gettext_lazy("已反馈"), _department_in(State.HANDLED, State.CLOSED), order="id"),
    ],
    Role.SUPERVISOR: [
        TAB_OVERDUE,
        Tab("supervised", gettext_lazy("督办中"), _supervised),
        Tab("escalated", gettext_lazy("已升级"), _escalated),
        TAB_EXTENSION,
        TAB_ALL,
    ],
}
DEFAULT_WORKBENCH = [Tab("open", gettext_lazy("在办"), _open, order="reported"), TAB_OVERDUE, TAB_ALL]


def workbench_tabs(*, actor: Any) -> list[Tab]:
    scope_root(actor)
    if not has_capability(actor, Capability.VIEW_EVENTS):
        raise PermissionDenied()
    return WORKBENCHES.get(actor.role, DEFAULT_WORKBENCH)


def _tab(actor: Any, key: str | None) -> Tab:
    tabs = workbench_tabs(actor=actor)
    if not key:
        return tabs[0]
    for tab in tabs:
        if tab.key == key:
            return tab
    raise ValidationFailed(fields={"tab": [_("未知的列表“%(tab)s”") % {"tab": key}]})


@dataclass(frozen=True)
class BoundedCount:
    value: int
    capped: bool  # there are more than `value`

    def __str__(self) -> str:
        return f"{self.value}+" if self.capped else str(self.value)


def bounded_count(queryset: QuerySet[Case], cap: int | None = None) -> BoundedCount:
    """COUNT over at most cap + 1 rows: constant work however large the table."""
    cap = cap or COUNT_CAP
    n = queryset.order_by().values("pk")[: cap + 1].count()
    return BoundedCount(min(n, cap), n > cap)


def workbench_counts(
    *, actor: Any, now: dt.datetime | None = None, known: dict[str, BoundedCount] | None = None
) -> dict[str, BoundedCount]:
    """Each tab's number of cases (without the list filters), bounded; `known` counts are not asked again."""
    now = now or timezone.now()
    known = known or {}
    return {
        tab.key: known[tab.key] if tab.key in known else bounded_count(Case.objects.filter(tab.rows(actor, now)))
        for tab in workbench_tabs(actor=actor)
    }


# --- filters and keyset pages ------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilters:
    state: str = ""
    category: str = ""  # a major or minor category code
    unit: str = ""  # an org unit code inside the actor's area
    overdue: bool = False
    q: str = ""  # a case number (or its start), else words of the title

    @property
    def active(self) -> bool:
        return bool(self.state or self.category or self.unit or self.overdue or self.q)


def _apply_filters(queryset: QuerySet[Case], *, actor: Any, filters: CaseFilters, now: dt.datetime) -> QuerySet[Case]:
    if filters.state:
        if filters.state == "open":
            queryset = queryset.filter(state__in=OPEN_STATES)
        elif filters.state in State.values:
            queryset = queryset.filter(state=filters.state)
        else:
            raise ValidationFailed(fields={"state": [_("未知状态“%(state)s”") % {"state": filters.state}]})
    if filters.category:
        category = Category.objects.filter(code=filters.category).first()
        if category is None:
            raise ValidationFailed(fields={"category": [_("未知分类“%(code)s”") % {"code": filters.category}]})
        if category.parent_id is None:
            queryset = queryset.filter(category__parent_id=category.pk)
        else:
            queryset = queryset.filter(category_id=category.pk)
    if filters.unit:
        unit = orgunit_get_visible(actor=actor, code=filters.unit)
        queryset = queryset.filter(org_path__startswith=unit.path)
    if filters.overdue:
        queryset = queryset.filter(state__in=OPEN_STATES, due_at__lt=now)
    q = filters.q.strip()
    if q:
        upper = q.upper()
        if upper.startswith("PY") and len(upper) >= 4:
            queryset = queryset.filter(number__startswith=upper)
        else:
            queryset = queryset.filter(title__contains=q)
    return queryset


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ORDER_FIELD = {"due": "due_at", "reported": "reported_at", "id": "id"}


def _encode(row: Case, order: str) -> str:
    if order == "id":
        return str(row.pk)
    value: dt.datetime = getattr(row, _ORDER_FIELD[order])
    return f"{(value - _EPOCH) // dt.timedelta(microseconds=1)}.{row.pk}"


def _decode(cursor: str, order: str) -> tuple[dt.datetime | None, int]:
    try:
        if order == "id":
            return None, int(cursor)
        micros, pk = cursor.split(".")
        return _EPOCH + dt.timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, OverflowError):
        raise ValidationFailed(fields={"after": [_("翻页参数无效，请回到第一页")]}) from None


def _keyset(queryset: QuerySet[Case], order: str, after: str | None) -> QuerySet[Case]:
    """Order by the tab's column then id; `after` continues after the row the cursor names."""
    column = _ORDER_FIELD[order]
    ascending = order == "due"
    if order == "due":
        queryset = queryset.filter(due_at__isnull=False)  # open states always have a deadline (_set_due)
    if after:
        value, pk = _decode(after, order)
        if value is None:
            queryset = queryset.filter(pk__lt=pk)
        # (column, id) after (value, pk); the leading range on the column alone lets an index start there.
        elif ascending:
            queryset = queryset.filter(**{f"{column}__gte": value}).filter(Q(**{f"{column}__gt": value}) | Q(pk__gt=pk))
        else:
            queryset = queryset.filter(**{f"{column}__lte": value}).filter(Q(**{f"{column}__lt": value}) | Q(pk__lt=pk))
    if order == "id":
        return queryset.order_by("-pk")
    return queryset.order_by(column, "pk") if ascending else queryset.order_by(f"-{column}", "-pk")


ROW_RELATED = ("category", "category__parent", "grid", "community", "department")


@dataclass(frozen=True)
class CasePage:
    tab: Tab
    rows: list[Case]
    count: BoundedCount  # rows of the tab with the filters, bounded
    next_cursor: str | None


def workbench_page(
    *,
    actor: Any,
    tab: str | None = None,
    filters: CaseFilters | None = None,
    after: str | None = None,
    size: int | None = None,
    now: dt.datetime | None = None,
) -> CasePage:
    """One page of a workbench tab, with the filters, after the cursor."""
    now = now or timezone.now()
    chosen = _tab(actor, tab)
    filters = filters or CaseFilters()
    size = max(1, min(size or PAGE_SIZE, 200))
    queryset = _apply_filters(Case.objects.filter(chosen.rows(actor, now)), actor=actor, filters=filters, now=now)
    # Two narrow steps: the page's ids (one index walk, no joins to mislead the planner), then those rows
    # with what the list shows.
    ids = list(_keyset(queryset, chosen.order, after).values_list("pk", flat=True)[: size + 1])
    more = len(ids) > size
    ids = ids[:size]
    found = Case.objects.select_related(*ROW_RELATED).defer("description", "reporter_phone_enc", "token").in_bulk(ids)
    rows = [found[pk] for pk in ids if pk in found]
    return CasePage(
        tab=chosen,
        rows=rows,
        count=bounded_count(queryset, FILTERED_COUNT_CAP if filters.active else None),
        next_cursor=_encode(rows[-1], chosen.order) if more and rows else None,
    )


def filter_units(*, actor: Any) -> list[tuple[str, str]]:
    """The units one level below the actor's own (towns for the district, communities for a town…)."""
    from civicgrid.accounts.selectors import orgunit_list

    root = scope_root(actor)
    return list(orgunit_list(actor=actor).filter(parent=root).order_by("code").values_list("code", "name")[:400])


# --- the catalogue -----------------------------------------------------------------------------------


def category_tree() -> list[tuple[Category, list[Category]]]:
    """Active major categories with their active minor ones, in catalogue order."""
    categories = list(Category.objects.filter(active=True).order_by("sort", "code"))
    majors = [c for c in categories if c.parent_id is None]
    return [(major, [c for c in categories if c.parent_id == major.pk]) for major in majors]


def category_get(*, code: str) -> Category:
    category = Category.objects.select_related("parent").filter(code=code, active=True).first()
    if category is None:
        raise ValidationFailed(fields={"category": [_("请选择事件小类")]})
    return category


# --- one case ----------------------------------------------------------------------------------------

CASE_RELATED = (
    "category",
    "category__parent",
    "limit",
    "grid",
    "community",
    "town",
    "department",
    "reporter",
    "handler",
)


def case_get(*, actor: Any, number: str) -> Case:
    """One case by its number, if the actor may read it (else NotFound, like a missing one)."""
    case = case_scope(actor=actor).select_related(*CASE_RELATED).filter(number=number).first()
    if case is None:
        raise NotFound(_("事件 %(number)s 不存在或不在您的辖区内") % {"number": number})
    return case


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the timeline: a step of the closed loop (with its working time against its limit) or a
    flag (supervision, escalation, extension)."""

    kind: str  # "step" | "flag"
    code: str  # the action or flag kind
    label: str
    at: dt.datetime
    actor: str
    note: str = ""
    state_label: str = ""
    department: str = ""
    took_hours: float | None = None
    limit_hours: float | None = None
    automatic: bool = False
    hours: Decimal | None = None

    @property
    def over_limit(self) -> bool:
        return self.took_hours is not None and self.limit_hours is not None and self.took_hours > self.limit_hours


@dataclass(frozen=True)
class CurrentStep:
    """The step the case is in now: since when, its limit, its deadline, the time used so far."""

    label: str
    start: dt.datetime
    limit_hours: float | None
    due_at: dt.datetime | None
    provisional: bool
    used_hours: float
    overdue: bool


STEP_LABELS = {
    State.REPORTED: gettext_lazy("立案"),
    State.FILED: gettext_lazy("派遣"),
    State.RETURNED: gettext_lazy("改派"),
    State.DISPATCHED: gettext_lazy("签收"),
    State.ACCEPTED: gettext_lazy("处置"),
    State.HANDLED: gettext_lazy("核查"),
}


DEPARTMENT_STEPS = frozenset({Action.DISPATCH, Action.ACCEPT, Action.RETURN, Action.HANDLE})


def _department_names(codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(Department.objects.filter(code__in=codes).values_list("code", "name"))


def history_actor(row: CaseHistory) -> str:
    """Who acted on a step, in the reader's language: the name and role recorded with the step (rows
    recorded before the role was kept as a code show their label as recorded)."""
    role = row.data.get("actor_role")
    if role != PUBLIC_ROLE and role not in Role.values:
        return row.actor_label
    return actor_text(row.data.get("actor_name") or "", role)


def case_timeline(*, case: Case) -> list[TimelineEntry]:
    """The status history and the flags of a case, in time order."""
    history = list(CaseHistory.objects.filter(case=case).select_related("department").order_by("seq"))
    flags = list(CaseFlag.objects.filter(case=case).select_related("actor").order_by("at", "id"))
    returned = {
        str(h.data.get("department")) for h in history if h.action == Action.RETURN and h.data.get("department")
    }
    names = _department_names(returned)
    entries: list[tuple[dt.datetime, int, TimelineEntry]] = []
    for row in history:
        # The department a step concerns: where it was dispatched, or which department accepted, handled or
        # returned it (a verification by the collecting side concerns none).
        department = row.department.name if row.department and row.action in DEPARTMENT_STEPS else ""
        if row.action == Action.RETURN:
            department = names.get(str(row.data.get("department") or ""), "")
        entries.append(
            (
                row.at,
                0,
                TimelineEntry(
                    kind="step",
                    code=row.action,
                    label=str(Action(row.action).label) if row.action in Action.values else row.action,
                    at=row.at,
                    actor=history_actor(row),
                    note=row.note,
                    state_label=str(State(row.to_state).label) if row.to_state in State.values else row.to_state,
                    department=department,
                    took_hours=row.step_hours,
                    limit_hours=row.step_limit_hours,
                ),
            )
        )
    for flag in flags:
        if flag.automatic or flag.actor is None:
            who = _("系统")
        else:
            who = actor_text(flag.actor.display_name, flag.actor.role)
        entries.append(
            (
                flag.at,
                1,
                TimelineEntry(
                    kind="flag",
                    code=flag.kind,
                    label=str(CaseFlag.Kind(flag.kind).label) if flag.kind in CaseFlag.Kind.values else flag.kind,
                    at=flag.at,
                    actor=who,
                    note=flag.note,
                    automatic=flag.automatic,
                    hours=flag.hours,
                ),
            )
        )
    entries.sort(key=lambda item: (item[0], item[1]))
    return [entry for _at, _order, entry in entries]


def case_current_step(
    *, case: Case, now: dt.datetime | None = None, calendar: WorkCalendar | None = None
) -> CurrentStep | None:
    """Where an open case stands against the limit of its current step (None for a final state)."""
    if case.state not in OPEN_STATES:
        return None
    calendar = calendar or current_calendar()
    now = now or timezone.now()
    due = step_due(case, calendar)
    if due.start is None:
        return None
    used = calendar.working_duration(due.start, now) if now > due.start else None
    return CurrentStep(
        label=str(STEP_LABELS.get(State(case.state), "")),
        start=due.start,
        limit_hours=due.limit_hours,
        due_at=due.due_at,
        provisional=due.provisional,
        used_hours=round(used.hours, 2) if used else 0.0,
        overdue=due.due_at is not None and due.due_at < now,
    )


def deadline_provisional(
    start: dt.datetime | None, due: dt.datetime | None, calendar: WorkCalendar | None = None
) -> bool:
    """True when a deadline crosses a year whose holiday arrangement is not loaded."""
    if start is None or due is None:
        return False
    calendar = calendar or current_calendar()
    first = timezone.localtime(start).year
    last = timezone.localtime(due).year
    return any(not calendar.is_loaded(year) for year in range(first, last + 1))


# --- what the actor may do to a case -----------------------------------------------------------------


@dataclass(frozen=True)
class CaseActions:
    transitions: list[Transition] = field(default_factory=list)
    extension_request: bool = False
    extension_decide: bool = False

    @property
    def any(self) -> bool:
        return bool(self.transitions or self.extension_request or self.extension_decide)


def case_actions(*, actor: Any, case: Case) -> CaseActions:
    """The moves of the transition table leaving the case's state that the actor's side of the loop may
    make (a dry run of the checks `case_transition` repeats under lock), and the extension forms."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return CaseActions()
    transitions = []
    for transition in allowed_actions(case.state):
        if not _side_allows(transition.side, actor, case)[0]:
            continue
        if transition.action == Action.SELF_HANDLE and (not case.category.self_fixable or case.reporter_id != actor.pk):
            continue
        transitions.append(transition)
    request = case.state == State.ACCEPTED and not case.extension_pending and _side_allows("handling", actor, case)[0]
    decide = (
        case.extension_pending
        and getattr(actor, "role", None) in (Role.DISPATCHER, Role.SUPERVISOR)
        and _in_area(actor, case)
    )
    return CaseActions(transitions=transitions, extension_request=bool(request), extension_decide=bool(decide))


def dispatch_departments(*, case: Case) -> list[Department]:
    """Departments that serve the case's place (the unit itself or a unit above it)."""
    codes = [code for code in case.org_path.split(PATH_SEPARATOR) if code]
    return list(Department.objects.filter(serves__code__in=codes, active=True).distinct().order_by("code"))


def dispatch_rule(*, case: Case) -> DispatchRule | None:
    return dispatch_suggestion(case)


def dispatch_proposal_for(*, case: Case) -> DispatchProposal:
    """Where the case would go if the dispatcher chose nothing: a rule, else the category's default kind of
    department nearest the case."""
    return dispatch_proposal(case)


def extension_request_pending(*, case: Case) -> CaseFlag | None:
    if not case.extension_pending:
        return None
    return case.flags.filter(kind=CaseFlag.Kind.EXTENSION_REQUEST).select_related("actor").order_by("-at").first()


# --- where a point is ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """A point as the report form sees it: its WGS-84 position, its grid in the current layer, and
    whether it lies in the actor's area (a grid worker's area is their community)."""

    lon: float
    lat: float
    outside: bool
    in_area: bool
    grid: str | None = None
    grid_name: str = ""
    community: str | None = None
    community_name: str = ""
    town: str | None = None
    town_name: str = ""


def locate_point(*, actor: Any, lon: float, lat: float, crs: str = "wgs84") -> Located:
    from civicgrid.geo.crs import transform_point
    from civicgrid.geo.selectors import layer_current, stamp_point
    from civicgrid.orgunits.models import Level, OrgUnit

    root = scope_root(actor)
    if not has_capability(actor, Capability.VIEW_EVENTS):
        raise PermissionDenied()
    if crs not in ("wgs84", "gcj02"):
        raise ValidationFailed(fields={"crs": [_("坐标系应为 wgs84 或 gcj02")]})
    if crs != "wgs84":
        lon, lat = transform_point(lon, lat, src=crs, dst="wgs84")
    layer = layer_current()
    if layer is None:
        raise ValidationFailed(fields={"lon": [_("尚未发布网格图层，无法按坐标确定网格")]})
    stamp = stamp_point(layer=layer, x=lon, y=lat)
    if stamp.outside:
        return Located(lon=lon, lat=lat, outside=True, in_area=False)
    codes = [c for c in (stamp.grid, stamp.community, stamp.town) if c]
    units = {u.code: u for u in OrgUnit.objects.filter(code__in=codes)}
    place = units.get(stamp.grid or "") or units.get(stamp.community or "")
    area = root.parent if root.level == Level.GRID and root.parent is not None else root
    return Located(
        lon=lon,
        lat=lat,
        outside=False,
        in_area=place is not None and place.path.startswith(area.path),
        grid=stamp.grid,
        grid_name=units[stamp.grid].name if stamp.grid in units else "",
        community=stamp.community,
        community_name=units[stamp.community].name if stamp.community in units else "",
        town=stamp.town,
        town_name=units[stamp.town].name if stamp.town in units else "",
    )


# --- the map -----------------------------------------------------------------------------------------

MAP_TABS = ("open", "overdue", "supervised", "escalated")


def case_map_geojson(
    *, actor: Any, show: str = "open", crs: str = "wgs84", limit: int = MAP_LIMIT, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Open cases of the actor's area that have a location, as GeoJSON points (WGS-84 unless asked),
    most urgent first, at most `limit`."""
    now = now or timezone.now()
    rows: dict[str, Callable[[Any, dt.datetime], Q]] = {
        "open": _open,
        "overdue": _overdue,
        "supervised": _supervised,
        "escalated": _escalated,
    }
    if show not in rows:
        raise ValidationFailed(fields={"show": [_("可选：%(values)s") % {"values": ", ".join(MAP_TABS)}]})
    base = case_scope(actor=actor)
    queryset = (
        base.filter(rows[show](actor, now), lon__isnull=False, lat__isnull=False, due_at__isnull=False)
        .select_related("category")
        .only(
            "number",
            "title",
            "state",
            "lon",
            "lat",
            "due_at",
            "due_provisional",
            "supervised",
            "escalation_level",
            "category__name",
        )
        .order_by("due_at", "pk")
    )
    cases = list(queryset[: limit + 1])
    truncated = len(cases) > limit
    cases = cases[:limit]
    xs = [float(c.lon or 0) for c in cases]  # the query excluded cases without a location
    ys = [float(c.lat or 0) for c in cases]
    if crs != "wgs84" and cases:
        from civicgrid.geo.crs import transform

        tx, ty = transform(xs, ys, src="wgs84", dst=crs)
        xs, ys = [float(v) for v in tx], [float(v) for v in ty]
    features = [
        {
            "type": "Feature",
            "id": case.number,
            "geometry": {"type": "Point", "coordinates": [round(float(x), 7), round(float(y), 7)]},
            "properties": {
                "number": case.number,
                "title": case.title,
                "category": case.category.name,
                "state": case.state,
                "state_label": str(State(case.state).label),
                "due_at": timezone.localtime(case.due_at).isoformat() if case.due_at else None,
                "due_provisional": case.due_provisional,
                "overdue": bool(case.due_at and case.due_at < now),
                "supervised": case.supervised,
                "escalation_level": case.escalation_level,
            },
        }
        for case, x, y in zip(cases, xs, ys, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features, "truncated": truncated, "show": show}
