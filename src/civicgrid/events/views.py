"""Grid-event pages: the workbench of each role, the grid worker's report form, the event centre's phone
intake, the case page (the whole timeline and the actions the current user may take) and the map.

Views parse input, read through `events.selectors`, write through `events.services`, and render. A
refused read (another area, a missing case) is left to the domain-error middleware; a refused write is
shown on the page with everything the user typed kept."""

from __future__ import annotations

import datetime as dt
import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from civicgrid.accounts import selectors as account_selectors
from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.audit.services import audit_refusal
from civicgrid.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from civicgrid.core.labels import choice_label
from civicgrid.core.workcalendar import WorkCalendar, current_calendar
from civicgrid.events import attachments, feedback, selectors, services
from civicgrid.events.deadlines import handle_limit_hours
from civicgrid.events.models import Attachment, Case, Channel, Evaluation
from civicgrid.events.workflow import OPEN_STATES, TRANSITIONS, Action, State
from civicgrid.orgunits.models import Level

CRS_CHOICES = [
    ("wgs84", gettext_lazy("WGS-84（GPS、天地图）")),
    ("gcj02", gettext_lazy("GCJ-02（高德、腾讯地图）")),
]
REPORT_FIELDS = ("major", "category", "title", "description", "address", "lon", "lat", "crs")
PHONE_FIELDS = (*REPORT_FIELDS, "reporter_name", "reporter_phone", "community")
# The file input of the report form and of handling: photos (and PDF documents), several at once.
PHOTO_FIELD = "photos"
PHOTO_ACCEPT = "image/jpeg,image/png,image/webp,application/pdf"
MAX_FILES = 9
# Moves whose form carries the photo field (self-handling needs at least one photo).
PHOTO_ACTIONS = frozenset({Action.HANDLE, Action.SELF_HANDLE})

# What the note of each move is called on the case page ("" = an optional remark).
REASON_LABELS: dict[str, Any] = {
    Action.FILE: gettext_lazy("立案意见（可选）"),
    Action.REJECT: gettext_lazy("不予立案的原因"),
    Action.DISPATCH: gettext_lazy("派遣意见（与派遣规则不同时必填）"),
    Action.ACCEPT: gettext_lazy("备注（可选）"),
    Action.RETURN: gettext_lazy("退回原因（为何不属本部门职责）"),
    Action.HANDLE: gettext_lazy("处置情况"),
    Action.VERIFY: gettext_lazy("核查意见（可选）"),
    Action.REWORK: gettext_lazy("返工原因（核查未通过的情况）"),
    Action.CANCEL: gettext_lazy("撤销原因"),
    Action.MERGE: gettext_lazy("合并原因（如重复事件的编号）"),
    Action.REOPEN: gettext_lazy("重新办理的原因"),
    Action.SELF_HANDLE: gettext_lazy("处置情况"),
}
# Moves that end a case without handling it: offered folded away under "其他操作".
SECONDARY_ACTIONS = frozenset({Action.CANCEL, Action.MERGE})
# Moves that stop the case going on normally: shown as a plain (not primary) button.
NEGATIVE_ACTIONS = frozenset({Action.REJECT, Action.RETURN, Action.REWORK, Action.CANCEL, Action.MERGE})


def _user(request: HttpRequest) -> User:
    """The signed-in account (every view here is behind login_required)."""
    return cast(User, request.user)


# --- display helpers ---------------------------------------------------------------------------------


def hours_text(hours: float | None, calendar: WorkCalendar | None = None) -> str:
    """Working time for people: minutes under an hour, working days from a day up."""
    if hours is None:
        return ""
    calendar = calendar or current_calendar()
    day = calendar.hours.day_length.total_seconds() / 3600
    if abs(hours) < 1:
        minutes = round(abs(hours) * 60)
        return ngettext("%(n)s 分钟", "%(n)s 分钟", minutes) % {"n": minutes}
    hours = round(abs(hours), 1)  # to six minutes: 6.99 h left of a 7 h day reads as one day
    if hours >= day:
        days = hours / day
        shown = f"{days:.0f}" if math.isclose(days, round(days), abs_tol=0.05) else f"{days:.1f}"
        return ngettext("%(n)s 个工作日", "%(n)s 个工作日", 1 if shown == "1" else 2) % {"n": shown}
    shown = f"{hours:.0f}" if math.isclose(hours, round(hours), abs_tol=0.05) else f"{hours:.1f}"
    return ngettext("%(n)s 工作小时", "%(n)s 工作小时", 1 if shown == "1" else 2) % {"n": shown}


def _local(moment: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    return timezone.localtime(moment).strftime(fmt) if moment else ""


@dataclass
class Row:
    """A list row: the case and its deadline as the list shows it."""

    case: Case
    due: str
    provisional: bool
    overdue: bool
    remaining: str
    url: str = ""
    state_label: str = ""


_NUMBER_SLOT = "PY-NUMBER-SLOT"


def _rows(cases: list[Case], now: dt.datetime) -> list[Row]:
    calendar = current_calendar()
    # One reverse() for the page rather than one per row (URL reversing is most of a row's rendering).
    case_url = reverse("events:case", args=[_NUMBER_SLOT])
    rows = []
    for case in cases:
        due = case.due_at if case.state in OPEN_STATES else None
        remaining = ""
        overdue = bool(due and due < now)
        if due is not None:
            left = calendar.working_duration(now, due).hours if due > now else calendar.working_duration(due, now).hours
            remaining = (
                _("超期 %(t)s") % {"t": hours_text(left, calendar)}
                if overdue
                else _("剩余 %(t)s") % {"t": hours_text(left, calendar)}
            )
        url = case_url.replace(_NUMBER_SLOT, case.number)
        label = choice_label(State, case.state)
        rows.append(Row(case, _local(due), bool(due and case.due_provisional), overdue, remaining, url, label))
    return rows


# --- the workbench -----------------------------------------------------------------------------------

FILTER_NAMES = ("state", "category", "unit", "overdue", "q")


def _filters(query: QueryDict) -> selectors.CaseFilters:
    return selectors.CaseFilters(
        state=query.get("state", "").strip(),
        category=query.get("category", "").strip(),
        unit=query.get("unit", "").strip(),
        overdue=query.get("overdue") in ("1", "on", "true"),
        q=query.get("q", "").strip()[:60],
    )


def _filter_params(filters: selectors.CaseFilters) -> dict[str, str]:
    params = {"state": filters.state, "category": filters.category, "unit": filters.unit, "q": filters.q}
    if filters.overdue:
        params["overdue"] = "1"
    return {k: v for k, v in params.items() if v}


def _query(**params: str) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v})


# Buttons a role finds above its workbench: (url name, label).
HEAD_LINKS: dict[str, list[tuple[str, Any]]] = {
    Role.GRID_WORKER: [("events:new", gettext_lazy("上报事件"))],
    Role.DISPATCHER: [("events:phone", gettext_lazy("电话受理")), ("events:map", gettext_lazy("事件地图"))],
    Role.SUPERVISOR: [("events:map", gettext_lazy("事件地图"))],
}


@login_required
def workbench(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    now = timezone.now()
    tabs = selectors.workbench_tabs(actor=user)
    filters = _filters(request.GET)
    tab_key = request.GET.get("tab") or tabs[0].key
    problem = ""
    try:
        page = selectors.workbench_page(
            actor=user, tab=tab_key, filters=filters, after=request.GET.get("after") or None, now=now
        )
    except (ValidationFailed, NotFound) as exc:
        problem = "；".join([str(m) for msgs in exc.fields.values() for m in msgs] or [str(exc.message)])
        filters = selectors.CaseFilters()
        page = selectors.workbench_page(actor=user, now=now)
    known = {} if filters.active else {page.tab.key: page.count}  # the list's own count, already known
    counts = selectors.workbench_counts(actor=user, now=now, known=known)
    params = _filter_params(filters)
    tab_links = [
        {
            "key": tab.key,
            "label": tab.label,
            "count": counts[tab.key],
            "active": tab.key == page.tab.key,
            "url": _query(tab=tab.key, **params),
        }
        for tab in tabs
    ]
    context = {
        "tabs": tab_links,
        "tab": page.tab,
        "page": page,
        "rows": _rows(page.rows, now),
        "filters": filters,
        "filtered": filters.active,
        "next_url": _query(tab=page.tab.key, **params, after=page.next_cursor) if page.next_cursor else "",
        "first_url": _query(tab=page.tab.key, **params) if request.GET.get("after") else "",
        "problem": problem,
        "states": [("open", _("在办（全部未结）")), *State.choices],
        "categories": selectors.category_tree(),
        "units": selectors.filter_units(actor=user) if user.role != Role.GRID_WORKER else [],
        "show_department": user.role != Role.DEPARTMENT_HANDLER,
        "head_links": [(reverse(name), label) for name, label in HEAD_LINKS.get(user.role, [])],
    }
    htmx = request.headers.get("HX-Request") == "true"
    response = render(request, "events/_workbench_body.html" if htmx else "events/workbench.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- intake: the grid worker's report, the event centre's phone call ---------------------------------


@dataclass
class FormState:
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def fail(self, exc: DomainError, known: tuple[str, ...]) -> None:
        self.general.insert(0, str(exc.message))
        for name, problems in exc.fields.items():
            if name in ("file", "attachments"):  # the refusal of an upload belongs next to the photo field
                name = PHOTO_FIELD
            target = self.errors.setdefault(name, []) if name in known else self.general
            target.extend(str(p) for p in problems)


def _uploads(request: HttpRequest, form: FormState) -> list[UploadedFile]:
    """The files posted in the photo field, each checked before anything is written (the same checks
    `attachments.attachment_add` repeats when storing); problems go next to the field."""
    files = [f for f in request.FILES.getlist(PHOTO_FIELD) if f.name]
    if len(files) > MAX_FILES:
        form.errors.setdefault(PHOTO_FIELD, []).append(_("一次最多上传 %(n)s 个文件") % {"n": MAX_FILES})
        return files
    for upload in files:
        try:
            attachments.attachment_check(upload)
        except ValidationFailed as exc:
            form.errors.setdefault(PHOTO_FIELD, []).extend(str(m) for m in exc.fields.get("file", [str(exc.message)]))
    return files


def _discard_files(added: list[Attachment]) -> None:
    """Remove the stored files of attachments whose rows were rolled back (their database rows went with
    the transaction; the storage is not transactional)."""
    store = storages["default"]
    for attachment in added:
        for name in (attachment.storage_name, attachment.public_name, attachment.thumbnail_name):
            if name:
                store.delete(name)


def _add_files(user: User, case: Case, files: list[UploadedFile], stage: str, added: list[Attachment]) -> None:
    for upload in files:
        added.append(attachments.attachment_add(actor=user, case=case, upload=upload, stage=stage))


def _point(values: dict[str, str], form: FormState, *, required: bool) -> tuple[float | None, float | None, str]:
    lon_text, lat_text = values.get("lon", ""), values.get("lat", "")
    crs = values.get("crs") or "wgs84"
    if crs not in dict(CRS_CHOICES):
        form.errors.setdefault("crs", []).append(_("请选择坐标系"))
    if not lon_text and not lat_text:
        if required:
            form.errors.setdefault("lon", []).append(_("请在地图上点选位置，或填写经纬度"))
        return None, None, crs
    coords: list[float] = []
    for name, text in (("lon", lon_text), ("lat", lat_text)):
        try:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
        except ValueError:
            form.errors.setdefault(name, []).append(_("请填写数字，如 113.3645"))
            continue
        coords.append(value)
    if len(coords) != 2:
        return None, None, crs
    lon, lat = coords
    if not (73 <= lon <= 136 and 3 <= lat <= 54):
        form.errors.setdefault("lon", []).append(_("经纬度不在中国范围内，是否填反了？"))
        return None, None, crs
    return lon, lat, crs


def _intake(request: HttpRequest, *, channel: str) -> HttpResponse:
    user = _user(request)
    phone = channel == Channel.PHONE
    role = Role.DISPATCHER if phone else Role.GRID_WORKER
    if user.role != role:
        audit_refusal(actor=user, action="events.report", reason=f"page_for:{role}")
        raise PermissionDenied(
            _("只有事件中心派遣员可以受理电话") if phone else _("只有网格员可以在此上报事件；群众反映请走电话受理")
        )
    names = PHONE_FIELDS if phone else REPORT_FIELDS
    form = FormState(values={"crs": "wgs84"})
    communities = (
        list(account_selectors.orgunit_list(actor=user, level=Level.COMMUNITY).order_by("code")) if phone else []
    )
    status = 200
    if request.method == "POST":
        form.values = {name: request.POST.get(name, "").strip() for name in names}
        lon, lat, crs = _point(form.values, form, required=not phone)
        files = _uploads(request, form)
        if not form.values["title"]:
            form.errors.setdefault("title", []).append(_("请填写标题"))
        if not form.values["description"]:
            form.errors.setdefault("description", []).append(_("请描述事件情况"))
        category = None
        if not form.values["category"]:
            form.errors.setdefault("category", []).append(_("请选择事件小类"))
        else:
            try:
                category = selectors.category_get(code=form.values["category"])
            except ValidationFailed as exc:
                form.errors.setdefault("category", []).extend(str(m) for m in exc.fields["category"])
        community = None
        if phone and form.values.get("community"):
            try:
                community = account_selectors.orgunit_get_visible(actor=user, code=form.values["community"])
            except DomainError as exc:
                form.errors.setdefault("community", []).append(str(exc.message))
        if form.errors or category is None:
            form.general.insert(0, str(ValidationFailed.default_message))
        else:
            added: list[Attachment] = []
            try:
                with transaction.atomic():  # a refused photo leaves no half-created case behind
                    case = services.case_report(
                        actor=user,
                        report=services.Report(
                            title=form.values["title"],
                            description=form.values["description"],
                            category=category,
                            channel=channel,
                            lon=lon,
                            lat=lat,
                            crs=crs,
                            address=form.values["address"],
                            reporter_name=form.values.get("reporter_name", ""),
                            reporter_phone=form.values.get("reporter_phone", ""),
                        ),
                        community=community,
                    )
                    _add_files(user, case, files, Action.REPORT, added)
            except DomainError as exc:
                _discard_files(added)
                form.fail(exc, (*names, PHOTO_FIELD))
                status = exc.status
            else:
                messages.success(
                    request,
                    _("已%(what)s，事件编号 %(number)s")
                    % {"what": _("受理") if phone else _("上报"), "number": case.number},
                )
                return redirect("events:case", number=case.number)
        status = status if status != 200 else 400
    scope = account_selectors.scope_root(user)
    community_unit = scope.parent if scope.level == Level.GRID and scope.parent else scope
    grids_params = {"community": community_unit.code} if community_unit.level == Level.COMMUNITY else {}
    if scope.level == Level.TOWN:
        grids_params = {"town": scope.code}
    return render(
        request,
        "events/intake.html",
        {
            "phone": phone,
            "f": form,
            "categories": selectors.category_tree(),
            "crs_choices": CRS_CHOICES,
            "communities": communities,
            "scope": community_unit,
            "grids_url": reverse("api:grid-list") + "?" + urlencode({**grids_params, "simplify_m": "2"}),
            "locate_url": reverse("api:events-locate"),
            "tile_url": settings.MAP_TILE_URL,
            "photo_accept": PHOTO_ACCEPT,
            "max_files": MAX_FILES,
            "max_mb": attachments.max_bytes() // 1048576,
        },
        status=status,
    )


@login_required
def report_new(request: HttpRequest) -> HttpResponse:
    return _intake(request, channel=Channel.GRID_WORKER)


@login_required
def phone_intake(request: HttpRequest) -> HttpResponse:
    return _intake(request, channel=Channel.PHONE)


# --- the case page -----------------------------------------------------------------------------------


def _department(case: Case, code: str) -> Any:
    if not code:
        return None
    for department in selectors.dispatch_departments(case=case):
        if department.code == code:
            return department
    raise ValidationFailed(fields={"department": [_("该部门不服务该事件所在区域")]})


def _version(post: QueryDict) -> int | None:
    try:
        return int(post.get("version", ""))
    except ValueError:
        return None


def _hours(post: QueryDict) -> Decimal:
    try:
        amount = Decimal(post.get("amount", "").strip())
    except InvalidOperation:
        raise ValidationFailed(fields={"amount": [_("请填写延期时长")]}) from None
    if not amount.is_finite():
        raise ValidationFailed(fields={"amount": [_("请填写延期时长")]})
    if post.get("unit") == "days":
        day = Decimal(str(current_calendar().hours.day_length.total_seconds() / 3600))
        return (amount * day).quantize(Decimal("0.01"))
    return amount.quantize(Decimal("0.01"))


def _act(request: HttpRequest, user: User, case: Case) -> str:
    """Carry out the posted form; returns the message to show. Domain errors propagate."""
    post = request.POST
    which = post.get("form", "")
    version = _version(post)
    if version is not None and version != case.version and which != "transition":
        raise Conflict(_("该事件已被他人处理，请刷新后查看最新状态"))
    if which == "transition":
        action = post.get("action", "")
        if action not in TRANSITIONS:
            raise ValidationFailed(fields={"action": [_("未知操作")]})
        department = _department(case, post.get("department", "").strip()) if action == Action.DISPATCH else None
        files = [f for f in request.FILES.getlist(PHOTO_FIELD) if f.name] if action in PHOTO_ACTIONS else []
        if len(files) > MAX_FILES:
            raise ValidationFailed(fields={PHOTO_FIELD: [_("一次最多上传 %(n)s 个文件") % {"n": MAX_FILES}]})
        if files:
            # Refusals are decided (and journalled) before the transaction, so that they are committed.
            services.refuse_if_not_allowed(TRANSITIONS[action], user, case)
        added: list[Attachment] = []
        try:
            with transaction.atomic() if files else nullcontext():  # the photos and the move stand or fall together
                _add_files(user, case, files, action, added)
                done = services.case_transition(
                    actor=user,
                    case=case,
                    action=action,
                    reason=post.get("reason", ""),
                    department=department,
                    expected_version=version,
                    attachments=len(added),
                )
        except BaseException:
            _discard_files(added)
            raise
        label = Action(action).label
        if action == Action.DISPATCH and done.department is not None:
            return _("已派遣至 %(department)s") % {"department": done.department.name}
        return _("已%(action)s：事件现为“%(state)s”") % {"action": label, "state": State(done.state).label}
    if which == "extension_request":
        hours = _hours(post)
        services.extension_request(actor=user, case=case, hours=hours, reason=post.get("reason", ""))
        return _("已提交延期申请（%(t)s），等待审批") % {"t": hours_text(float(hours))}
    if which == "extension_decide":
        decision = post.get("decision", "")
        if decision not in ("approve", "deny"):
            raise ValidationFailed(fields={"decision": [_("请选择批准或驳回")]})
        services.extension_decide(actor=user, case=case, approve=decision == "approve", note=post.get("note", ""))
        return _("已批准延期") if decision == "approve" else _("已驳回延期申请")
    if which == "merge":
        number = post.get("main", "").strip()
        if not number:
            raise ValidationFailed(fields={"main": [_("请选择或填写主事件编号")]})
        try:
            main = selectors.case_get(actor=user, number=number)
        except NotFound:
            missing = _("找不到事件 %(number)s，或不在您的辖区内") % {"number": number}
            raise ValidationFailed(fields={"main": [missing]}) from None
        merged = feedback.case_merge(actor=user, duplicate=case, main=main, reason=post.get("reason", ""))
        return _("已合并到事件 %(number)s") % {"number": merged.duplicate_of.number if merged.duplicate_of else number}
    if which == "reopen_decide":
        decision = post.get("decision", "")
        if decision not in ("approve", "deny"):
            raise ValidationFailed(fields={"decision": [_("请选择同意或驳回")]})
        feedback.reopen_decide(actor=user, case=case, approve=decision == "approve", reason=post.get("reason", ""))
        return _("已同意重新办理，事件退回处置部门") if decision == "approve" else _("已驳回重新办理申请")
    raise ValidationFailed(fields={"form": [_("未知操作")]})


@login_required
def case_page(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    case = selectors.case_get(actor=user, number=number)
    form = FormState()
    failed = ""
    status = 200
    if request.method == "POST":
        names = ("action", "reason", "department", "amount", "unit", "main")
        form.values = {k: request.POST.get(k, "").strip() for k in names}
        form.values["note"] = request.POST.get("note", "").strip()
        which = request.POST.get("form", "")
        failed = which + ":" + (request.POST.get("main", "") if which == "merge" else request.POST.get("action", ""))
        try:
            message = _act(request, user, case)
        except DomainError as exc:
            form.fail(exc, ("reason", "department", "amount", "note", "decision", "main", PHOTO_FIELD))
            status = exc.status
            case = selectors.case_get(actor=user, number=number)
        else:
            messages.success(request, message)
            try:
                selectors.case_get(actor=user, number=number)
            except NotFound:  # e.g. returned by the department: no longer its case
                return redirect("events:workbench")
            return redirect("events:case", number=number)
    return render(request, "events/case.html", _case_context(user, case, form, failed), status=status)


def _case_context(user: User, case: Case, form: FormState, failed: str) -> dict[str, Any]:
    now = timezone.now()
    calendar = current_calendar()
    actions = selectors.case_actions(actor=user, case=case)
    forms = []
    departments: list[Any] = []
    suggestion = None
    suggestion_basis = ""
    for transition in actions.transitions:
        if transition.service:  # reopening and merging have their own forms (their services need more)
            continue
        if transition.action == Action.DISPATCH:
            departments = selectors.dispatch_departments(case=case)
            proposal = services.dispatch_proposal(case)
            suggestion, suggestion_basis = proposal.department, proposal.basis
        key = f"transition:{transition.action}"
        forms.append(
            {
                "action": transition.action,
                "label": Action(transition.action).label,
                "reason_label": REASON_LABELS.get(transition.action, _("说明（可选）")),
                "needs_reason": transition.needs_reason,
                "secondary": transition.action in SECONDARY_ACTIONS,
                "negative": transition.action in NEGATIVE_ACTIONS,
                "failed": key == failed,
                "photos": transition.action in PHOTO_ACTIONS,
                "needs_photo": transition.needs_attachment,
            }
        )
    timeline = [
        {
            "entry": entry,
            "took": hours_text(entry.took_hours, calendar),
            "limit": hours_text(entry.limit_hours, calendar),
            "hours": hours_text(float(entry.hours), calendar) if entry.hours else "",
        }
        for entry in selectors.case_timeline(case=case)
    ]
    primary = [f for f in forms if not f["secondary"]]
    merge_allowed = any(t.action == Action.MERGE for t in actions.transitions)
    duplicates = _duplicates(user, case, failed) if merge_allowed else []
    merge_failed = failed.startswith("merge:") and not any(d["failed"] for d in duplicates)
    extension_flag = selectors.extension_request_pending(case=case) if actions.extension_decide else None
    current = selectors.case_current_step(case=case, now=now, calendar=calendar)
    handle_due_provisional = selectors.deadline_provisional(case.accepted_at, case.handle_due_at, calendar)
    return {
        "case": case,
        "timeline": timeline,
        "current": current,
        "current_limit": hours_text(current.limit_hours, calendar) if current else "",
        "current_used": hours_text(current.used_hours, calendar) if current else "",
        "handle_limit": hours_text(handle_limit_hours(case.limit, calendar) + float(case.extension_hours), calendar),
        "handle_due_provisional": handle_due_provisional,
        "forms": primary,
        "reason_label": primary[0]["reason_label"] if len(primary) == 1 else _("办理意见"),
        "reason_hint": (
            _("%(actions)s时必须填写") % {"actions": "、".join(str(f["label"]) for f in primary if f["needs_reason"])}
            if len(primary) > 1 and any(f["needs_reason"] for f in primary)
            else ""
        ),
        "primary_failed": any(f["failed"] for f in primary),
        "secondary_forms": [f for f in forms if f["secondary"] and f["action"] != Action.MERGE],
        "secondary_open": any(f["failed"] for f in forms if f["secondary"]) or merge_failed,
        "merge_allowed": merge_allowed,
        "merge_failed": merge_failed,
        "primary_photos": any(f["photos"] for f in primary),
        "primary_needs_photo": any(f["needs_photo"] for f in primary),
        "photo_accept": PHOTO_ACCEPT,
        "max_files": MAX_FILES,
        "attachment_groups": _attachment_groups(case),
        "duplicates": duplicates,
        "merged_into": case.duplicate_of,
        "merged_duplicates": list(case.duplicates.order_by("reported_at", "id")),
        **_evaluation_context(user, case, actions),
        "departments": departments,
        "suggestion": suggestion,
        "suggestion_basis": suggestion_basis,
        "extension": actions,
        "extension_flag": extension_flag,
        "extension_flag_hours": (
            hours_text(float(extension_flag.hours), calendar) if extension_flag and extension_flag.hours else ""
        ),
        "extension_failed": failed.split(":")[0],
        "f": form,
        "is_open": case.state in OPEN_STATES,
        "map_grids_url": (
            reverse("api:grid-list") + "?" + urlencode({"community": case.community.code, "simplify_m": "2"})
            if case.community
            else ""
        ),
        "tile_url": settings.MAP_TILE_URL,
    }


def _attachment_groups(case: Case) -> list[dict[str, Any]]:
    """The case's files grouped by the stage they were added at, in the order of the loop."""
    order = {value: i for i, value in enumerate(Action.values)}
    groups: dict[str, list[Attachment]] = {}
    for attachment in case.attachments.order_by("uploaded_at", "id"):
        groups.setdefault(attachment.stage, []).append(attachment)
    return [
        {
            "stage": stage,
            "label": Action(stage).label if stage in order else _("其他"),
            "photos": [a for a in files if a.kind == Attachment.Kind.PHOTO and a.thumbnail_name],
            "documents": [a for a in files if a.kind != Attachment.Kind.PHOTO or not a.thumbnail_name],
        }
        for stage, files in sorted(groups.items(), key=lambda item: order.get(item[0], len(order)))
    ]


def _duplicates(user: User, case: Case, failed: str) -> list[dict[str, Any]]:
    """Possible duplicates for the event centre while the case waits to be filed or dispatched."""
    if user.role != Role.DISPATCHER or case.state not in (State.REPORTED, State.FILED):
        return []
    found = feedback.duplicate_candidates(case, scope=selectors.case_scope(actor=user))
    return [
        {
            "case": candidate.case,
            "distance": f"{candidate.distance_m:.0f}" if candidate.distance_m is not None else "",
            "failed": failed == f"merge:{candidate.case.number}",
        }
        for candidate in found
    ]


def _evaluation_context(user: User, case: Case, actions: selectors.CaseActions) -> dict[str, Any]:
    """The reporter's evaluation, what became of a reopening request, and whether this user decides it:
    a supervisor of the area may deny any pending request, and approve it while it stands (the "reopen"
    move of the table is offered: a negative evaluation asked within the window)."""
    evaluation = Evaluation.objects.filter(case=case).first()
    status = feedback.reopen_status(case) if evaluation is not None and evaluation.reopen_requested else None
    unit = getattr(user, "org_unit", None)
    decides = bool(
        status is not None
        and status.state == "pending"
        and user.role == Role.SUPERVISOR
        and unit is not None
        and case.org_path.startswith(unit.path)
    )
    return {
        "evaluation": evaluation,
        "stars": "★" * evaluation.rating + "☆" * (5 - evaluation.rating) if evaluation else "",
        "reopen": status,
        "reopen_decide": decides,
        "reopen_approvable": decides and any(t.action == Action.REOPEN for t in actions.transitions),
    }


# --- the map -----------------------------------------------------------------------------------------

MAP_SHOW = [
    ("open", gettext_lazy("全部在办")),
    ("overdue", gettext_lazy("已超期")),
    ("supervised", gettext_lazy("督办中")),
    ("escalated", gettext_lazy("已升级")),
]


@login_required
def case_map(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    selectors.case_scope(actor=user)  # refuses roles that do not work with events
    scope = account_selectors.scope_root(user)
    show = request.GET.get("show", "overdue" if user.role == Role.SUPERVISOR else "open")
    if show not in dict(MAP_SHOW):
        show = "open"
    grids: dict[str, str] = {"simplify_m": "5"}
    if scope.level == Level.TOWN:
        grids["town"] = scope.code
    elif scope.level in (Level.COMMUNITY, Level.GRID):
        grids["community"] = scope.code if scope.level == Level.COMMUNITY else (scope.parent_code or scope.code)
    return render(
        request,
        "events/map.html",
        {
            "show": show,
            "show_choices": MAP_SHOW,
            "scope": scope,
            "data_url": reverse("api:events-map") + "?" + urlencode({"show": show}),
            "grids_url": reverse("api:grid-list") + "?" + urlencode(grids),
            "case_url": reverse("events:case", kwargs={"number": "NUMBER"}),
            "tile_url": settings.MAP_TILE_URL,
            "counts": selectors.workbench_counts(actor=user) if user.role == Role.SUPERVISOR else {},
        },
    )
