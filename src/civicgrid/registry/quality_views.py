"""Pages: the data-quality queues and the spot checks. Views parse input, call selectors and services, and
render; nothing else."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civicgrid.accounts.models import User
from civicgrid.accounts.permissions import in_scope
from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.accounts.selectors import orgunit_get_visible, orgunit_list, scope_root
from civicgrid.core import labels
from civicgrid.core.errors import DomainError, NotAuthenticated, PermissionDenied
from civicgrid.core.idnumbers import DocumentType
from civicgrid.orgunits.models import Level
from civicgrid.registry import quality, spotchecks
from civicgrid.registry.models import QualityIssue
from civicgrid.registry.services import PersonInput

DECISIONS = [
    (QualityIssue.Status.CONFIRMED, QualityIssue.Status.CONFIRMED.label),
    (QualityIssue.Status.DISMISSED, QualityIssue.Status.DISMISSED.label),
    (QualityIssue.Status.RESOLVED, QualityIssue.Status.RESOLVED.label),
]
PERSON_FIELD = re.compile(r"^persons-(\d+)-name$")
BLANK_PERSON_ROWS = 4


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _error_page(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return render(request, "web/error.html", {"message": exc.message}, status=exc.status)


def _int(value: str | None, default: int | None = None) -> int | None:
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        return default


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _errors(exc: DomainError) -> dict[str, list[str]]:
    return {k: [str(m) for m in v] for k, v in exc.fields.items()} or {"general": [str(exc.message)]}


# --- quality queues ------------------------------------------------------------------------------------


@login_required
def quality_issues(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    params = {k: request.GET.get(k, "").strip() for k in ("kind", "status", "community", "q")}
    kind = params["kind"] if params["kind"] in QualityIssue.Kind.values else QualityIssue.Kind.DUPLICATE_PERSON
    status = params["status"] or QualityIssue.Status.OPEN
    try:
        counts = quality.quality_issue_counts(actor=user)
        issues = quality.quality_issue_list(
            actor=user,
            kind=kind,
            status=None if status == "all" else status,
            community=params["community"] or None,
            q=params["q"] or None,
        )
    except DomainError as exc:
        return _error_page(request, exc)
    page = Paginator(issues, 50).get_page(request.GET.get("page"))
    context = {
        "kind": kind,
        "status": status,
        "params": params,
        "tabs": [(value, label, counts[value]) for value, label in QualityIssue.Kind.choices],
        "statuses": QualityIssue.Status.choices,
        "decisions": DECISIONS,
        "transitions": quality.TRANSITIONS,
        "page": page,
        "communities": orgunit_list(actor=user, level=Level.COMMUNITY).order_by("code")[:400],
        "last_scan": quality.quality_last_scan(),
        "next": request.get_full_path(),
    }
    template = "registry/quality_rows.html" if request.headers.get("HX-Request") else "registry/quality.html"
    return render(request, template, context)


@login_required
@require_POST
def quality_decide(request: HttpRequest, issue_id: int) -> HttpResponse:
    user = _user(request)
    htmx = bool(request.headers.get("HX-Request"))
    errors: dict[str, list[str]] = {}
    try:
        issue = quality.quality_issue_get(actor=user, issue_id=issue_id)
    except DomainError as exc:
        return _error_page(request, exc)
    try:
        issue = quality.quality_decide(
            actor=user, issue=issue, status=request.POST.get("status", ""), note=request.POST.get("note", "")
        )
    except DomainError as exc:
        errors = _errors(exc)
        issue = quality.quality_issue_get(actor=user, issue_id=issue_id)
    if htmx:
        return render(
            request,
            "registry/quality_row.html",
            {"issue": issue, "errors": errors, "decisions": DECISIONS, "transitions": quality.TRANSITIONS},
        )
    if errors:
        messages.error(request, "；".join(m for msgs in errors.values() for m in msgs))
    else:
        messages.success(request, _("已记录处理结果：%(status)s") % {"status": issue.get_status_display()})
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("quality:issues")
    return redirect(target)


# --- spot checks ---------------------------------------------------------------------------------------


@login_required
def spotcheck_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    can_draw = has_capability(user, Capability.DRAW_SPOT_CHECKS)
    today = timezone.localdate()
    form: dict[str, str] = {"year": str(today.year), "month": str(today.month), "per_community": "5"}
    form_errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = {k: request.POST.get(k, "").strip() for k in ("area", "per_community", "seed", "year", "month", "title")}
        try:
            area = orgunit_get_visible(actor=user, code=form["area"] or scope_root(user).code)
            check = spotchecks.spotcheck_draw(
                actor=user,
                area=area,
                per_community=_int(form["per_community"], 0) or 0,
                seed=_int(form["seed"]),
                year=_int(form["year"]),
                month=_int(form["month"]),
                title=form["title"],
            )
        except (NotAuthenticated, PermissionDenied) as exc:
            return _error_page(request, exc)  # refused (and audited) by the service
        except DomainError as exc:
            form_errors = _errors(exc)
        else:
            messages.success(
                request,
                _("已抽取“%(title)s”：%(n)d 户，随机种子 %(seed)d")
                % {"title": check.title, "n": check.houses.count(), "seed": check.seed},
            )
            return redirect("quality:spotcheck", check_id=check.pk)
    try:
        checks = spotchecks.spotcheck_list(actor=user, year=_int(request.GET.get("year")))
    except DomainError as exc:
        return _error_page(request, exc)
    areas = orgunit_list(actor=user).exclude(level=Level.GRID).order_by("path")[:400] if can_draw else []
    return render(
        request,
        "registry/spotcheck_list.html",
        {
            "page": Paginator(checks, 30).get_page(request.GET.get("page")),
            "can_draw": can_draw,
            "form": form,
            "form_errors": form_errors,
            "areas": areas,
            "year_filter": request.GET.get("year", ""),
        },
        status=400 if form_errors else 200,
    )


@login_required
def spotcheck_detail(request: HttpRequest, check_id: int) -> HttpResponse:
    user = _user(request)
    try:
        check = spotchecks.spotcheck_get(actor=user, check_id=check_id)
        items = list(
            spotchecks.spotcheck_items(actor=user, check=check, community=request.GET.get("community") or None)
        )
    except DomainError as exc:
        return _error_page(request, exc)
    groups: dict[int, dict[str, Any]] = {}
    for item in items:
        group = groups.setdefault(
            item.community_id, {"community": item.community, "items": [], "visited": 0, "found": 0, "registered": 0}
        )
        group["items"].append(item)
        group["visited"] += item.house_found is not None
        group["found"] += item.house_found is True
        group["registered"] += item.house_found is True and item.house_registered is True
    verify = spotchecks.spotcheck_verify(check=check) if request.GET.get("verify") else None
    return render(
        request,
        "registry/spotcheck_detail.html",
        {"check": check, "groups": list(groups.values()), "verify": verify},
    )


def _found_persons(post: Any) -> list[spotchecks.FoundPerson]:
    indices = sorted(int(m.group(1)) for key in post if (m := PERSON_FIELD.match(key)))
    persons = []
    for i in indices:
        name = post.get(f"persons-{i}-name", "").strip()
        number = post.get(f"persons-{i}-id_number", "").strip()
        if not name and not number:
            continue
        migrant = post.get(f"persons-{i}-is_migrant", "")
        persons.append(
            spotchecks.FoundPerson(
                name=name,
                id_type=post.get(f"persons-{i}-id_type", "") or DocumentType.RESIDENT_ID,
                id_number=number,
                is_migrant=None if migrant == "" else migrant == "1",
                was_registered=False if post.get(f"persons-{i}-unregistered") else None,
            )
        )
    return persons


@login_required
def spotcheck_item(request: HttpRequest, check_id: int, item_id: int) -> HttpResponse:
    user = _user(request)
    try:
        check = spotchecks.spotcheck_get(actor=user, check_id=check_id)
        item = spotchecks.spotcheck_item_get(actor=user, check=check, item_id=item_id)
    except DomainError as exc:
        return _error_page(request, exc)
    record_errors: dict[str, list[str]] = {}
    register_errors: dict[str, list[str]] = {}
    register_form: dict[str, str] = {}
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "record":
                found = request.POST.get("house_found", "")
                registered = request.POST.get("house_registered", "")
                spotchecks.spotcheck_record_house(
                    actor=user,
                    item=item,
                    house_found=found == "1",
                    house_registered=None if registered == "" else registered == "1",
                    persons=_found_persons(request.POST) if found == "1" else [],
                    note=request.POST.get("note", ""),
                    visited_on=_date(request.POST.get("visited_on")),
                )
                messages.success(request, _("已记录走访结果"))
            elif action == "register":
                register_form = {
                    k: request.POST.get(k, "").strip()
                    for k in ("found", "id_type", "id_number", "name", "phone", "hukou_place", "employer")
                }
                found_person = item.persons.filter(pk=_int(register_form["found"]) or 0).first()
                spotchecks.spotcheck_register_on_spot(
                    actor=user,
                    item=item,
                    person_input=PersonInput(
                        id_type=register_form["id_type"] or DocumentType.RESIDENT_ID,
                        id_number=register_form["id_number"],
                        name=register_form["name"],
                        phone=register_form["phone"],
                        hukou_place=register_form["hukou_place"],
                        employer=register_form["employer"],
                    ),
                    found=found_person,
                )
                messages.success(request, _("已现场补登 %(name)s") % {"name": register_form["name"]})
            else:
                messages.error(request, _("未知操作"))
        except DomainError as exc:
            if action == "register":
                register_errors = _errors(exc)
            else:
                record_errors = _errors(exc)
        else:
            return redirect("quality:spotcheck-item", check_id=check.pk, item_id=item.pk)
        item = spotchecks.spotcheck_item_get(actor=user, check=check, item_id=item_id)
    persons = list(item.persons.all())
    editable = [p for p in persons if not p.registered_on_spot]
    on = item.visited_on or timezone.localdate()
    can_register = has_capability(user, Capability.REGISTER_RESIDENTS) and in_scope(user, item.community)
    return render(
        request,
        "registry/spotcheck_item.html",
        {
            "check": check,
            "item": item,
            "persons": persons,
            "person_rows": [
                {"index": i, "name": p.name, "masked": p.id_masked, "is_migrant": p.is_migrant, "id_type": ""}
                for i, p in enumerate(editable)
            ]
            + [
                {"index": i, "name": "", "masked": "", "is_migrant": None, "id_type": ""}
                for i in range(len(editable), len(editable) + BLANK_PERSON_ROWS)
            ],
            "unregistered": [p for p in persons if not p.was_registered and not p.registered_on_spot],
            "residents": list(spotchecks.house_residents_on(house=item.house, on=on)),
            "can_record": has_capability(user, Capability.RECORD_SPOT_CHECKS) and in_scope(user, item.community),
            "can_register": can_register,
            "document_types": DocumentType.choices,
            "record_errors": record_errors,
            "register_errors": register_errors,
            "register_form": register_form,
            "today": timezone.localdate().isoformat(),
        },
        status=400 if record_errors or register_errors else 200,
    )


@login_required
def spotcheck_rates(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    today = timezone.localdate()
    level = request.GET.get("level") or Level.COMMUNITY
    year = _int(request.GET.get("year"), today.year) or today.year
    month = _int(request.GET.get("month"))
    try:
        table = spotchecks.registration_rates(actor=user, level=level, year=year, month=month)
    except DomainError as exc:
        return _error_page(request, exc)
    return render(
        request,
        "registry/spotcheck_rates.html",
        {
            "table": table,
            "levels": [(lv, Level(lv).label) for lv in spotchecks.RATE_LEVELS],
            "years": list(range(today.year, today.year - 6, -1)),
            "months": [(m, str(label)) for m, label in labels.MONTHS.items()],
        },
    )
