"""Administrator pages: the working-day calendar, the event catalogue, the dispatch rules and the time
limits. District administrators only: the services check the role (and audit refusals); a refusal is the
403 page."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.accounts.models import User
from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability
from civicgrid.core import workcalendar
from civicgrid.core.errors import DomainError, ValidationFailed
from civicgrid.core.models import CalendarDay, CalendarYear
from civicgrid.events import admin_services
from civicgrid.events.models import Category, DispatchRule, TimeLimit
from civicgrid.orgunits.models import Department

MAX_UPLOAD = 1_000_000


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _general(exc: DomainError) -> dict[str, list[str]]:
    errors = {key: [str(m) for m in value] for key, value in exc.fields.items()}
    if not errors:
        errors["general"] = [str(exc.message)]
    return errors


# --- working-day calendar ------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


@login_required
def calendar_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    require(user, Capability.MANAGE_CALENDAR, action="calendar.view")
    errors: list[str] = []
    upload_error = ""
    form = {"year": request.POST.get("year", ""), "note": request.POST.get("note", ""), "text": ""}
    if request.method == "POST" and request.POST.get("form") == "seed":
        seed = workcalendar.calendar_seed_from_package(actor=user, refresh=True)
        if seed.seeded:
            messages.success(
                request,
                _("已从软件包（chinesecalendar %(version)s）写入 %(n)d 个年度：%(years)s")
                % {
                    "version": seed.package_version,
                    "n": len(seed.seeded),
                    "years": "、".join(str(y) for y in seed.seeded),
                },
            )
        else:
            messages.info(request, _("软件包中的年度均已是最新，未作更改"))
        if seed.kept:
            messages.info(
                request,
                _("管理员导入的年度保持不变：%(years)s") % {"years": "、".join(str(y) for y in seed.kept)},
            )
        return redirect("events_admin:calendar")
    if request.method == "POST" and request.POST.get("form") == "upload":
        upload = request.FILES.get("file")
        text = request.POST.get("text", "")
        fmt = None
        if upload is not None:
            if upload.size is not None and upload.size > MAX_UPLOAD:
                upload_error = _("文件过大（不超过 1 MB）")
            else:
                raw = upload.read()
                try:
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    try:
                        text = raw.decode("gb18030")
                    except UnicodeDecodeError:
                        upload_error = _("无法识别文件编码（请保存为 UTF-8）")
                name = (upload.name or "").lower()
                fmt = "json" if name.endswith(".json") else "csv" if name.endswith(".csv") else None
        else:
            form["text"] = text
        year = _int(form["year"]) if form["year"].strip() else None
        if form["year"].strip() and year is None:
            upload_error = _("年份应为四位数字")
        if not upload_error and not text.strip():
            upload_error = _("请选择日历文件（CSV 或 JSON），或粘贴文件内容")
        if not upload_error:
            try:
                result = workcalendar.calendar_load_text(actor=user, text=text, year=year, fmt=fmt, note=form["note"])
            except workcalendar.CalendarRejected as exc:
                errors = [str(e) for e in exc.errors][:300]
            else:
                messages.success(
                    request,
                    _("已导入 %(year)d 年工作日历：放假 %(h)d 天，调休上班 %(m)d 天，%(c)d 天的工作/休息状态有变化")
                    % {
                        "year": result.year,
                        "h": result.holidays,
                        "m": result.make_up_days,
                        "c": len(result.changed_dates),
                    },
                )
                return redirect(f"{request.path}?year={result.year}")
    today = timezone.localdate()
    loaded = list(CalendarYear.objects.select_related("loaded_by").order_by("year"))
    selected = _int(request.GET.get("year")) or today.year
    days = list(CalendarDay.objects.filter(date__year=selected).order_by("date"))
    failed = bool(errors or upload_error)
    return render(
        request,
        "events/admin_calendar.html",
        {
            "loaded": loaded,
            "statuses": [workcalendar.year_status(today.year), workcalendar.year_status(today.year + 1)],
            "selected": selected,
            "selected_status": workcalendar.year_status(selected),
            "holidays": [d for d in days if not d.is_workday],
            "make_up_days": [d for d in days if d.is_workday],
            "fallback": sorted(workcalendar.fixed_holidays(selected).items()),
            "year_choices": sorted({*(y.year for y in loaded), today.year, today.year + 1, selected}),
            "errors": errors,
            "upload_error": upload_error,
            "form": form,
        },
        status=400 if failed else 200,
    )


# --- dispatch rules -----------------------------------------------------------------------------------


def _rule_form(rule: DispatchRule | None) -> dict[str, str]:
    if rule is None:
        return {
            "name": "",
            "category": "",
            "area": "",
            "weekdays": "",
            "time_from": "",
            "time_to": "",
            "department": "",
        }
    return {
        "id": str(rule.pk),
        "name": rule.name,
        "category": rule.category.code if rule.category else "",
        "area": rule.area.code if rule.area else "",
        "weekdays": rule.weekdays,
        "time_from": rule.time_from.strftime("%H:%M") if rule.time_from else "",
        "time_to": rule.time_to.strftime("%H:%M") if rule.time_to else "",
        "department": rule.department.code,
        "active": "1" if rule.active else "",
    }


def _rule(value: Any) -> DispatchRule | None:
    pk = _int(value)
    return DispatchRule.objects.filter(pk=pk).first() if pk else None


@login_required
def dispatch_rules_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    require(user, admin_services.CAPABILITY, action="events.dispatch_rule.view")
    form_errors: dict[str, list[str]] = {}
    editing = _rule(request.GET.get("edit"))
    form = _rule_form(editing)
    if request.method == "POST":
        kind = request.POST.get("form", "")
        rule = _rule(request.POST.get("rule"))
        if kind in ("move", "deactivate", "activate") and rule is None:
            messages.error(request, _("规则不存在"))
            return redirect("events_admin:dispatch-rules")
        if kind == "move" and rule is not None:
            admin_services.dispatch_rule_move(actor=user, rule=rule, direction=request.POST.get("direction", ""))
            return redirect("events_admin:dispatch-rules")
        if kind in ("deactivate", "activate") and rule is not None:
            admin_services.dispatch_rule_deactivate(actor=user, rule=rule, active=kind == "activate")
            messages.success(
                request,
                (_("已停用规则“%(name)s”") if kind == "deactivate" else _("已启用规则“%(name)s”"))
                % {"name": rule.name},
            )
            return redirect("events_admin:dispatch-rules")
        if kind == "save":
            editing = rule
            form = {name: request.POST.get(name, "").strip() for name in admin_services.RULE_FIELDS}
            form["active"] = "1" if request.POST.get("active") else ""
            if rule is not None:
                form["id"] = str(rule.pk)
            fields: dict[str, Any] = {k: v for k, v in form.items() if k != "id"}
            fields["active"] = bool(form["active"]) if rule is not None else True
            try:
                saved = admin_services.dispatch_rule_save(actor=user, rule=rule, **fields)
            except ValidationFailed as exc:
                form_errors = _general(exc)
            else:
                messages.success(
                    request,
                    (_("已修改规则“%(name)s”") if rule else _("已新增规则“%(name)s”")) % {"name": saved.name},
                )
                return redirect("events_admin:dispatch-rules")
    rules = list(DispatchRule.objects.select_related("category", "area", "department").order_by("order", "id"))
    return render(
        request,
        "events/admin_dispatch_rules.html",
        {
            "rules": rules,
            "editing": editing,
            "form": form,
            "form_errors": form_errors,
            "categories": Category.objects.filter(active=True).select_related("parent").order_by("code"),
            "departments": Department.objects.order_by("code"),
        },
        status=400 if form_errors else 200,
    )


# --- time limits --------------------------------------------------------------------------------------


def _parse_datetime(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@login_required
def time_limits_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    require(user, admin_services.CAPABILITY, action="events.time_limit.view")
    form_errors: dict[str, list[str]] = {}
    form = {
        "category": request.GET.get("category", ""),
        "handle_value": "",
        "handle_unit": TimeLimit.Unit.DAYS,
        "file_hours": "1",
        "dispatch_hours": "1",
        "accept_hours": "1",
        "valid_from": "",
    }
    if request.method == "POST":
        form = {name: request.POST.get(name, "").strip() for name in form}
        category = Category.objects.filter(code=form["category"]).first()
        valid_from = _parse_datetime(form["valid_from"]) if form["valid_from"] else None
        if category is None:
            form_errors = {"category": [_("请选择事件小类")]}
        elif form["valid_from"] and valid_from is None:
            form_errors = {"valid_from": [_("生效时间格式应为 YYYY-MM-DD HH:MM")]}
        else:
            try:
                limit = admin_services.time_limit_add(
                    actor=user,
                    category=category,
                    handle_value=form["handle_value"],
                    handle_unit=form["handle_unit"],
                    valid_from=valid_from,
                    file_hours=form["file_hours"],
                    dispatch_hours=form["dispatch_hours"],
                    accept_hours=form["accept_hours"],
                )
            except ValidationFailed as exc:
                form_errors = _general(exc)
            else:
                messages.success(
                    request,
                    _("已为“%(category)s”新增时限版本，自 %(at)s 起报送的事件适用")
                    % {
                        "category": category.name,
                        "at": timezone.localtime(limit.valid_from).strftime("%Y-%m-%d %H:%M"),
                    },
                )
                return redirect("events_admin:time-limits")
    now = timezone.now()
    categories = list(Category.objects.select_related("parent").prefetch_related("limits").order_by("sort", "code"))
    minors: dict[int, list[Category]] = {}
    for c in categories:
        if c.parent_id is not None:
            minors.setdefault(c.parent_id, []).append(c)
    groups = []
    for major in (c for c in categories if c.parent_id is None):
        rows = []
        for minor in minors.get(major.pk, []):
            versions = sorted(minor.limits.all(), key=lambda v: v.valid_from, reverse=True)
            in_force = next((v for v in versions if v.valid_from <= now), None)
            upcoming = sorted((v for v in versions if v.valid_from > now), key=lambda v: v.valid_from)
            rows.append({"category": minor, "current": in_force, "upcoming": upcoming, "versions": len(versions)})
        groups.append({"major": major, "rows": rows})
    return render(
        request,
        "events/admin_time_limits.html",
        {
            "groups": groups,
            "form": form,
            "form_errors": form_errors,
            "units": TimeLimit.Unit.choices,
            "minor_categories": [c for c in categories if c.parent_id is not None],
            "now_local": timezone.localtime(now).strftime("%Y-%m-%dT%H:%M"),
        },
        status=400 if form_errors else 200,
    )


# --- the catalogue: major and minor categories ---------------------------------------------------------

NEW_CATEGORY_FIELDS = (
    "major",
    "code",
    "name",
    "sort",
    "default_department_kind",
    "self_fixable",
    "handle_value",
    "handle_unit",
)


def _category_form(category: Category | None, major: str = "") -> dict[str, str]:
    if category is None:
        return dict.fromkeys(NEW_CATEGORY_FIELDS, "") | {"major": major, "handle_unit": TimeLimit.Unit.DAYS}
    return {
        "original": category.code,
        "code": category.code,
        "name": category.name,
        "sort": str(category.sort),
        "default_department_kind": category.default_department_kind,
        "self_fixable": "1" if category.self_fixable else "",
        "active": "1" if category.active else "",
        "with_minors": "",
    }


def _catalogue_category(user: User, code: str) -> Category | None:
    if not code.strip():
        return None
    try:
        return admin_services.category_get(actor=user, code=code)
    except DomainError:
        return None


@login_required
def catalogue_page(request: HttpRequest) -> HttpResponse:
    """The catalogue as a tree (major → minor, with each minor's limit in force), a form to create a major or
    a minor category (a minor one with its first time limit) and, with `?edit=<code>`, one to edit."""
    user = _user(request)
    require(user, admin_services.CAPABILITY, action="events.category.view")
    form_errors: dict[str, list[str]] = {}
    editing = _catalogue_category(user, request.GET.get("edit", ""))
    form = _category_form(editing, major=request.GET.get("major", "").strip())
    if request.method == "POST":
        kind = request.POST.get("form", "")
        category = _catalogue_category(user, request.POST.get("category", ""))
        if kind in ("save", "deactivate", "activate") and category is None:
            messages.error(request, _("事件分类不存在"))
            return redirect("events_admin:catalogue")
        if kind in ("deactivate", "activate") and category is not None:
            try:
                admin_services.category_update(
                    actor=user,
                    category=category,
                    active=kind == "activate",
                    with_minors=bool(request.POST.get("with_minors")),
                )
            except ValidationFailed as exc:
                for message in _general(exc).values():
                    messages.error(request, " ".join(message))
            else:
                messages.success(
                    request,
                    (_("已停用“%(name)s”") if kind == "deactivate" else _("已启用“%(name)s”"))
                    % {"name": category.name},
                )
            return redirect("events_admin:catalogue")
        if kind == "create":
            form = {name: request.POST.get(name, "").strip() for name in NEW_CATEGORY_FIELDS}
            parent = _catalogue_category(user, form["major"])
            if form["major"] and parent is None:
                form_errors = {"major": [_("所属大类“%(code)s”不存在") % {"code": form["major"]}]}
            else:
                try:
                    created = admin_services.category_create(
                        actor=user,
                        parent=parent,
                        **{k: v for k, v in form.items() if k != "major"},
                    )
                except ValidationFailed as exc:
                    form_errors = _general(exc)
                else:
                    messages.success(
                        request,
                        (_("已新增小类“%(name)s”") if parent else _("已新增大类“%(name)s”")) % {"name": created.name},
                    )
                    return redirect("events_admin:catalogue")
        if kind == "save" and category is not None:
            editing = category
            form = {name: request.POST.get(name, "").strip() for name in admin_services.CATEGORY_FIELDS}
            form |= {"original": category.code, "with_minors": "1" if request.POST.get("with_minors") else ""}
            for flag in ("self_fixable", "active"):
                form[flag] = "1" if request.POST.get(flag) else ""
            try:
                saved = admin_services.category_update(
                    actor=user,
                    category=category,
                    with_minors=bool(form["with_minors"]),
                    **{name: form[name] for name in admin_services.CATEGORY_FIELDS},
                )
            except ValidationFailed as exc:
                form_errors = _general(exc)
            else:
                messages.success(request, _("已保存“%(code)s %(name)s”") % {"code": saved.code, "name": saved.name})
                return redirect("events_admin:catalogue")
    now = timezone.now()
    tree = admin_services.catalogue_tree(actor=user, now=now)
    detail = admin_services.category_detail(actor=user, code=editing.code, now=now) if editing else None
    return render(
        request,
        "events/admin_catalogue.html",
        {
            "tree": tree,
            "editing": editing,
            "code_locked": detail.code_locked if detail else False,
            "active_minors": sum(1 for c in detail.children if c.category.active) if detail else 0,
            "form": form,
            "form_errors": form_errors,
            "majors": [entry.category for entry in tree],
            "kinds": Department.Kind.choices,
            "units": TimeLimit.Unit.choices,
        },
        status=400 if form_errors else 200,
    )
