"""The public side of grid events, without login (DOMAIN §5, 信息收集 by citizens and 综合评价):

- ``/report/``: a citizen reports a problem: a minor category (grouped by major), a description, where
  (a point in WGS-84 or GCJ-02, or a community picked from the list), optionally a name, a phone and one
  photo. Anonymous reports are allowed. A hidden honeypot field and a per-address limit
  (`EVENTS_PUBLIC_REPORTS_PER_HOUR`, default 10, counted in the cache) keep scripts out.
- ``/track/<token>/``: the private tracking page the reporter gets: the case number, its state, a public
  timeline (no staff names, no notes, no personal data), the public photos (EXIF removed), and after
  closing the evaluation form (1–5 stars, a comment, and for 2 stars or less within
  `EVENTS_REOPEN_WINDOW_DAYS` a request to reopen).

Views parse, call the reads below or the services, and render.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from civicgrid.core.errors import DomainError, NotFound, ValidationFailed
from civicgrid.core.middleware import client_address
from civicgrid.events import attachments, feedback, services
from civicgrid.events.models import Case, CaseHistory, Category, Channel
from civicgrid.events.workflow import Action, State
from civicgrid.orgunits.models import Level, OrgUnit

HONEYPOT = "homepage"
CRS_CHOICES = [("wgs84", gettext_lazy("WGS-84（手机定位、GPS）")), ("gcj02", gettext_lazy("GCJ-02（高德、腾讯地图）"))]
RATE_WINDOW_SECONDS = 3600

# What the reporter sees of each step: fixed wording, never the staff's notes or names.
PUBLIC_STEPS: dict[str, Any] = {
    Action.REPORT: gettext_lazy("已收到您的反映"),
    Action.FILE: gettext_lazy("已立案"),
    Action.REJECT: gettext_lazy("经核实不予立案"),
    Action.SELF_HANDLE: gettext_lazy("网格员已现场处置"),
    Action.DISPATCH: gettext_lazy("已派遣至职能部门"),
    Action.ACCEPT: gettext_lazy("职能部门已签收，正在处置"),
    Action.RETURN: gettext_lazy("正在重新派遣"),
    Action.HANDLE: gettext_lazy("职能部门已处置，等待核查"),
    Action.VERIFY: gettext_lazy("核查通过，已结案"),
    Action.REWORK: gettext_lazy("核查未通过，返工处置"),
    Action.CANCEL: gettext_lazy("已撤销"),
    Action.MERGE: gettext_lazy("与同一问题的其他反映合并办理"),
    Action.REOPEN: gettext_lazy("根据您的评价重新办理"),
}


# --- reads for the public pages (nothing here is scoped to a user: only public data leaves) -------------


def category_groups() -> list[tuple[Category, list[Category]]]:
    """Active minor categories under their active major ones, in catalogue order."""
    minors = Category.objects.filter(active=True, parent__isnull=False, parent__active=True).select_related("parent")
    groups: dict[int, tuple[Category, list[Category]]] = {}
    for minor in minors.order_by("parent__sort", "parent__code", "sort", "code"):
        if minor.parent is None:  # filtered out above; for the type checker
            continue
        groups.setdefault(minor.parent.pk, (minor.parent, []))[1].append(minor)
    return list(groups.values())


def category_get_public(pk: str) -> Category | None:
    if not pk.isdigit():
        return None
    return Category.objects.filter(pk=int(pk), active=True, parent__isnull=False).select_related("parent").first()


def community_groups() -> list[tuple[OrgUnit, list[OrgUnit]]]:
    """Active communities and villages under their towns/streets."""
    units = OrgUnit.objects.filter(active=True, level__in=[Level.TOWN, Level.COMMUNITY]).order_by("path")
    towns: dict[int, tuple[OrgUnit, list[OrgUnit]]] = {}
    communities: list[OrgUnit] = []
    for unit in units:
        if unit.level == Level.TOWN:
            towns[unit.pk] = (unit, [])
        else:
            communities.append(unit)
    for community in communities:
        if community.parent_id in towns:
            towns[community.parent_id][1].append(community)
    return [group for group in towns.values() if group[1]]


def community_get_public(code: str) -> OrgUnit | None:
    if not code:
        return None
    return OrgUnit.objects.filter(code=code, level=Level.COMMUNITY, active=True).select_related("parent").first()


def case_get_by_token(token: str) -> Case:
    case = Case.objects.select_related("category", "duplicate_of").filter(token=token).first() if token else None
    if case is None:
        raise NotFound(_("未找到该反映，请核对查询链接"))
    return case


@dataclass(frozen=True)
class PublicStep:
    at: Any
    label: Any


def case_public_timeline(case: Case) -> list[PublicStep]:
    rows = CaseHistory.objects.filter(case=case).order_by("seq").values_list("action", "at")
    return [PublicStep(at=at, label=PUBLIC_STEPS.get(action, Action(action).label)) for action, at in rows]


# --- rate limit -------------------------------------------------------------------------------------------


def reports_per_hour() -> int:
    return int(getattr(settings, "EVENTS_PUBLIC_REPORTS_PER_HOUR", 10))


def _rate_key(address: str) -> str:
    return "events:public-report:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def _rate_exceeded(address: str) -> bool:
    return int(cache.get(_rate_key(address), 0)) >= reports_per_hour()


def _rate_count(address: str) -> None:
    key = _rate_key(address)
    if not cache.add(key, 1, timeout=RATE_WINDOW_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=RATE_WINDOW_SECONDS)


# --- the report form --------------------------------------------------------------------------------------

FIELDS = ("category", "description", "address", "lon", "lat", "crs", "community", "reporter_name", "reporter_phone")


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _title(description: str, category: Category | None) -> str:
    first = description.strip().splitlines()[0].strip() if description.strip() else ""
    if first:
        return first[:30] + ("…" if len(first) > 30 else "")
    return category.name if category else ""


def _report_page(
    request: HttpRequest, values: dict[str, str], errors: dict[str, list[str]], status: int = 200
) -> HttpResponse:
    general = [m for key in ("general", "title", "channel", "file") for m in errors.get(key, [])]
    response = render(
        request,
        "events/public_report.html",
        {
            "values": values,
            "errors": errors,
            "general": general,
            "category_groups": category_groups(),
            "community_groups": community_groups(),
            "crs_choices": CRS_CHOICES,
            "honeypot": HONEYPOT,
        },
        status=status,
    )
    response["X-Robots-Tag"] = "noindex"
    return response


@require_http_methods(["GET", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    values = dict.fromkeys(FIELDS, "")
    values["crs"] = "wgs84"
    if request.method != "POST":
        return _report_page(request, values, {})
    values.update({name: request.POST.get(name, "").strip() for name in FIELDS})
    if request.POST.get(HONEYPOT, "").strip():
        return _report_page(request, values, {"general": [_("提交失败，请刷新页面后重试")]}, status=400)
    address = client_address(request)
    if _rate_exceeded(address):
        message = _("提交过于频繁，请一小时后再试；紧急情况请拨打 12345 热线")
        return _report_page(request, values, {"general": [message]}, status=429)

    errors: dict[str, list[str]] = {}
    category = category_get_public(values["category"])
    if category is None:
        errors["category"] = [_("请选择问题类别")]
    lon = lat = None
    if values["lon"] or values["lat"]:
        lon, lat = _float(values["lon"]), _float(values["lat"])
        if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            errors["lon"] = [_("请填写有效的经度和纬度（十进制度数）")]
            lon = lat = None
    if values["crs"] not in dict(CRS_CHOICES):
        errors["crs"] = [_("请选择坐标系")]
    community = community_get_public(values["community"])
    if values["community"] and community is None:
        errors["community"] = [_("请从列表中选择社区")]
    if lon is None and community is None and "lon" not in errors and "community" not in errors:
        errors["community"] = [_("请使用当前位置、填写坐标，或选择所在社区")]
    if not values["description"]:
        errors["description"] = [_("请描述您看到的问题")]
    elif len(values["description"]) > 2000:
        errors["description"] = [_("描述不能超过 2000 字")]
    photo = request.FILES.get("photo")
    if photo is not None:
        try:
            checked = attachments.attachment_check(photo)
        except ValidationFailed as exc:
            errors["photo"] = exc.fields.get("file", [str(exc.message)])
        else:
            if checked.kind != "photo":
                errors["photo"] = [_("只能上传照片（JPEG、PNG 或 WebP）")]
    if errors or category is None:
        return _report_page(request, values, errors, status=400)

    anonymous = AnonymousUser()  # the public form always reports as a citizen, whoever is signed in
    try:
        with transaction.atomic():
            case = services.case_report(
                actor=anonymous,
                report=services.Report(
                    title=_title(values["description"], category),
                    description=values["description"],
                    category=category,
                    channel=Channel.CITIZEN,
                    lon=lon,
                    lat=lat,
                    crs=values["crs"],
                    address=values["address"],
                    reporter_name=values["reporter_name"],
                    reporter_phone=values["reporter_phone"],
                ),
                community=community,
            )
            if photo is not None:
                attachments.attachment_add(
                    actor=anonymous, case=case, upload=photo, stage=Action.REPORT, token=case.token
                )
    except ValidationFailed as exc:
        fields = dict(exc.fields)
        if "file" in fields:
            fields["photo"] = fields.pop("file")
        if not fields:
            fields = {"general": [str(exc.message)]}
        return _report_page(request, values, fields, status=400)
    except DomainError as exc:
        return _report_page(request, values, {"general": [str(exc.message)]}, status=exc.status)
    _rate_count(address)
    return redirect(reverse("events_public:track", args=[case.token]) + "?submitted=1")


# --- the tracking page --------------------------------------------------------------------------------


def _track_page(
    request: HttpRequest,
    case: Case,
    *,
    eval_errors: dict[str, list[str]] | None = None,
    eval_values: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    evaluation = getattr(case, "evaluation", None)  # None when the reverse one-to-one row is missing
    track_path = reverse("events_public:track", args=[case.token])
    photos = [
        {
            "name": a.name,
            "url": reverse("events_public:track-photo", args=[case.token, a.pk, "public"]),
            "thumb": reverse("events_public:track-photo", args=[case.token, a.pk, "thumb"]),
        }
        for a in attachments.attachment_list_public(case=case)
    ]
    main = case.duplicate_of
    context = {
        "case": case,
        "state_label": State(case.state).label,
        "timeline": case_public_timeline(case),
        "photos": photos,
        "evaluation": evaluation,
        "can_evaluate": case.state == State.CLOSED and evaluation is None,
        "reopen_allowed": feedback.reopen_allowed(case),
        "reopen_window_days": feedback.reopen_window_days(),
        "reopen": feedback.reopen_status(case),
        "main": {"number": main.number, "state_label": State(main.state).label} if main is not None else None,
        "submitted": request.GET.get("submitted") == "1",
        "track_url": request.build_absolute_uri(track_path),
        "eval_errors": eval_errors or {},
        "eval_values": eval_values or {},
        "stars": [5, 4, 3, 2, 1],  # the choices, best first
        "star_slots": [1, 2, 3, 4, 5],  # the drawn rating, left to right
    }
    response = render(request, "events/public_track.html", context, status=status)
    # The URL holds the token: never send it to another site. Not "no-referrer", which would make browsers
    # send "Origin: null" with the evaluation form and fail the CSRF origin check.
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def track(request: HttpRequest, token: str) -> HttpResponse:
    return _track_page(request, case_get_by_token(token))


@require_POST
def track_evaluate(request: HttpRequest, token: str) -> HttpResponse:
    case = case_get_by_token(token)
    values = {
        "rating": request.POST.get("rating", "").strip(),
        "comment": request.POST.get("comment", "").strip(),
        "reopen_requested": "1" if request.POST.get("reopen_requested") else "",
    }
    user = request.user
    by_user = user if user.is_authenticated and user.pk == case.reporter_id else None
    try:
        feedback.evaluation_submit(
            case=case,
            rating=int(values["rating"]) if values["rating"].isdigit() else 0,
            comment=values["comment"],
            by_user=by_user,
            reopen_requested=bool(values["reopen_requested"]),
            token=token,
        )
    except DomainError as exc:
        errors = dict(exc.fields) or {"general": [str(exc.message)]}
        return _track_page(request, case_get_by_token(token), eval_errors=errors, eval_values=values, status=exc.status)
    if values["reopen_requested"]:
        messages.success(request, _("感谢您的评价。重新办理申请已提交，将由督办人员审核。"))
    else:
        messages.success(request, _("感谢您的评价。"))
    return redirect("events_public:track", token=token)
