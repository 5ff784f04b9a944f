"""Server-rendered pages. Views parse input, call selectors and services, and render; nothing else."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.password_validation import password_validators_help_texts
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civicgrid.accounts import selectors as account_selectors
from civicgrid.accounts import services as account_services
from civicgrid.accounts.models import User
from civicgrid.accounts.roles import GRANTABLE_ROLES, Capability, Role, has_capability
from civicgrid.audit.models import AuditEntry
from civicgrid.audit.selectors import audit_entry_list, audit_verify
from civicgrid.core import context
from civicgrid.core.errors import DomainError
from civicgrid.orgunits.models import Level
from civicgrid.orgunits.selectors import departments_serving, orgunit_ancestors


def _user(request: HttpRequest) -> User:
    """The signed-in account (views that call this are behind login_required)."""
    return cast(User, request.user)


def _page(request: HttpRequest, queryset: Any, per_page: int = 50) -> Any:
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:home")
    error = ""
    username = ""
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        try:
            user = account_services.login_attempt(
                username=username, password=request.POST.get("password", ""), source=context.current().source
            )
        except DomainError as exc:
            error = str(exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            target = request.POST.get("next") or request.GET.get("next") or ""
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
                target = reverse("web:home")
            return redirect(target)
    return render(
        request,
        "web/login.html",
        {"error": error, "username": username, "next": request.GET.get("next", "")},
        status=400 if error else 200,
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    account_services.logout_record(user=request.user)
    logout(request)
    return redirect("web:login")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    unit = account_selectors.scope_root(user)
    summary = account_selectors.orgunit_summary(actor=user)
    context_data: dict[str, Any] = {
        "unit": unit,
        "ancestors": orgunit_ancestors(unit=unit),
        "summary": [(Level(level).label, count) for level, count in summary.items() if count],
        "children": account_selectors.orgunit_list(actor=user).filter(parent=unit)[:60],
        "departments": departments_serving(unit=unit).select_related("org_unit")[:30],
    }
    if has_capability(user, Capability.VIEW_ACCOUNTS):
        accounts = account_selectors.user_list(actor=user)
        context_data["account_counts"] = {
            "total": accounts.count(),
            "inactive": accounts.filter(is_active=False).count(),
            "locked": sum(1 for a in accounts.exclude(locked_until=None) if a.is_locked()),
        }
        context_data["locked_accounts"] = [a for a in accounts.exclude(locked_until=None) if a.is_locked()][:10]
    if has_capability(user, Capability.VIEW_AUDIT):
        entries = audit_entry_list(actor=user)
        context_data["recent_refusals"] = entries.exclude(result=AuditEntry.Result.OK)[:10]
    if user.department is not None:
        context_data["department"] = user.department
        context_data["department_serves"] = user.department.serves.order_by("path")[:60]
    return render(request, "web/home.html", context_data)


@login_required
def orgunits(request: HttpRequest) -> HttpResponse:
    user = request.user
    root = account_selectors.scope_root(user)
    code = request.GET.get("unit") or root.code
    try:
        unit = account_selectors.orgunit_get_visible(actor=user, code=code)
    except DomainError as exc:
        messages.error(request, str(exc.message))
        unit = root
    query = request.GET.get("q", "").strip()
    if query:
        units = account_selectors.orgunit_list(actor=user, q=query)
    else:
        units = account_selectors.orgunit_list(actor=user).filter(parent=unit)
    ancestors = [a for a in orgunit_ancestors(unit=unit) if a.is_within(root)]
    template = "web/_orgunit_rows.html" if request.headers.get("HX-Request") else "web/orgunits.html"
    return render(
        request,
        template,
        {"unit": unit, "ancestors": ancestors, "page": _page(request, units), "q": query},
    )


@login_required
def departments(request: HttpRequest) -> HttpResponse:
    items = account_selectors.department_list(actor=request.user).prefetch_related("serves")
    return render(request, "web/departments.html", {"page": _page(request, items)})


@login_required
def accounts(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form_errors: dict[str, list[str]] = {}
    form: dict[str, str] = {}
    if request.method == "POST":
        form = {k: request.POST.get(k, "").strip() for k in ("username", "full_name", "role", "org_unit", "department")}
        try:
            org_unit = account_selectors.orgunit_get_visible(actor=user, code=form["org_unit"])
            department = (
                account_selectors.department_list(actor=user).filter(code=form["department"]).first()
                if form["department"]
                else None
            )
            created = account_services.user_create(
                actor=user,
                username=form["username"],
                password=request.POST.get("password", ""),
                role=form["role"],
                org_unit=org_unit,
                department=department,
                full_name=form["full_name"],
            )
        except DomainError as exc:
            form_errors = exc.fields or {"general": [str(exc.message)]}
        else:
            messages.success(
                request,
                _("已创建账号 %(username)s（%(role)s）")
                % {"username": created.username, "role": created.get_role_display()},
            )
            return redirect("web:accounts")
    role_filter = request.GET.get("role") or None
    users = account_selectors.user_list(actor=user, role=role_filter, q=request.GET.get("q") or None)
    can_manage = has_capability(user, Capability.MANAGE_ACCOUNTS)
    return render(
        request,
        "web/accounts.html",
        {
            "page": _page(request, users),
            "roles": Role.choices,
            "grantable": [(r, Role(r).label) for r in Role if r in GRANTABLE_ROLES.get(user.role, frozenset())],
            "can_manage": can_manage,
            "form": form,
            "form_errors": form_errors,
            "departments": account_selectors.department_list(actor=user) if can_manage else [],
            "unit_options": (
                account_selectors.orgunit_list(actor=user).exclude(level=Level.GRID)[:500] if can_manage else []
            ),
            "role_filter": role_filter or "",
            "q": request.GET.get("q", ""),
        },
        status=400 if form_errors else 200,
    )


@login_required
@require_POST
def account_action(request: HttpRequest, user_id: int, action: str) -> HttpResponse:
    try:
        target = account_selectors.user_get_visible(actor=request.user, user_id=user_id)
        if action == "unlock":
            account_services.user_unlock(actor=request.user, user=target)
            messages.success(request, _("已解锁 %(username)s") % {"username": target.username})
        elif action in ("disable", "enable"):
            account_services.user_update(actor=request.user, user=target, is_active=action == "enable")
            done = _("已启用 %(username)s") if action == "enable" else _("已停用 %(username)s")
            messages.success(request, done % {"username": target.username})
        else:
            messages.error(request, _("未知操作"))
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect("web:accounts")


@login_required
def audit(request: HttpRequest) -> HttpResponse:
    filters = {k: request.GET.get(k, "") for k in ("action", "actor", "result")}
    try:
        entries = audit_entry_list(actor=request.user, filters=filters)
    except DomainError as exc:
        return render(request, "web/error.html", {"message": exc.message}, status=exc.status)
    report = None
    if request.GET.get("verify") and has_capability(request.user, Capability.VERIFY_AUDIT):
        report = audit_verify()
    return render(
        request,
        "web/audit.html",
        {
            "page": _page(request, entries),
            "filters": filters,
            "results": AuditEntry.Result.choices,
            "report": report,
            "can_verify": has_capability(request.user, Capability.VERIFY_AUDIT),
        },
    )


@login_required
def password(request: HttpRequest) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            account_services.password_change(
                user=_user(request),
                old_password=request.POST.get("old_password", ""),
                new_password=request.POST.get("new_password", ""),
            )
        except DomainError as exc:
            errors = exc.fields or {"general": [str(exc.message)]}
        else:
            from django.contrib.auth import update_session_auth_hash

            update_session_auth_hash(request, _user(request))
            messages.success(request, _("密码已修改"))
            return redirect("web:home")
    return render(
        request,
        "web/password.html",
        {"errors": errors, "password_help": password_validators_help_texts()},
        status=400 if errors else 200,
    )


def error_404(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "web/error.html", {"message": _("页面不存在")}, status=404)


def error_403(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "web/error.html", {"message": _("您没有权限访问该页面")}, status=403)


def error_500(request: HttpRequest) -> HttpResponse:
    return render(request, "web/error.html", {"message": _("服务器内部错误，请稍后重试")}, status=500)
