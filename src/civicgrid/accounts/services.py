"""Account writes and login. Each write checks role and scope through `permissions.require`, runs in
one transaction and records an audit entry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from rest_framework.authtoken.models import Token

from civicgrid.accounts.models import User
from civicgrid.accounts.permissions import in_scope, require
from civicgrid.accounts.roles import GRANTABLE_ROLES, ROLE_LEVELS, ROLES_NEEDING_DEPARTMENT, Capability, Role
from civicgrid.audit.models import AuditEntry
from civicgrid.audit.services import audit_record, audit_refusal
from civicgrid.core.errors import DomainError, PermissionDenied, ValidationFailed
from civicgrid.orgunits.models import Department, Level, OrgUnit


class LoginFailed(DomainError):
    code = "login_failed"
    status = 400
    default_message = gettext_lazy("用户名或密码错误")


class AccountLocked(DomainError):
    code = "account_locked"
    status = 403
    default_message = gettext_lazy("账号已被锁定")


class LoginThrottled(DomainError):
    code = "throttled"
    status = 429
    default_message = gettext_lazy("登录失败次数过多，请稍后再试")


_ADDRESS_WINDOW_SECONDS = 15 * 60


def _address_key(source: str) -> str:
    return f"civicgrid:login-failures:{source}"


def login_attempt(*, username: str, password: str, source: str) -> User:
    """Check a password. Repeated failures lock the account for a while and throttle the address.
    The error never says whether the username exists."""
    if cache.get(_address_key(source), 0) >= settings.LOGIN_MAX_FAILURES_PER_ADDRESS:
        audit_refusal(actor=None, action="auth.login", object_repr=username, reason="address_throttled")
        raise LoginThrottled()
    account = User.objects.filter(username=username).first()
    if account is not None and account.is_locked():
        audit_refusal(actor=None, action="auth.login", target=account, reason="locked")
        until = date_format(timezone.localtime(account.locked_until), "Y-m-d H:i")
        raise AccountLocked(_("账号因多次登录失败已被锁定，请于 %(until)s 后重试或联系管理员解锁") % {"until": until})
    user = authenticate(username=username, password=password)
    if user is None:
        try:
            cache.incr(_address_key(source))
        except ValueError:
            cache.set(_address_key(source), 1, _ADDRESS_WINDOW_SECONDS)
        _record_failure(account, username)
        raise LoginFailed(_("用户名或密码错误"))
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None, last_login=timezone.now())
        audit_record(actor=user, action="auth.login", target=user)
    return user


def _record_failure(account: User | None, username: str) -> None:
    with transaction.atomic():
        if account is None:
            audit_record(
                actor=None,
                action="auth.login",
                object_repr=username,
                result=AuditEntry.Result.FAILED,
                detail={"reason": "bad_credentials"},
            )
            return
        User.objects.filter(pk=account.pk).update(failed_logins=F("failed_logins") + 1)
        account = User.objects.select_for_update().get(pk=account.pk)
        detail: dict[str, Any] = {"reason": "bad_credentials", "failures": account.failed_logins}
        if account.failed_logins >= settings.LOGIN_MAX_FAILURES:
            account.locked_until = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
            account.failed_logins = 0
            account.save(update_fields=["locked_until", "failed_logins"])
            detail["locked_until"] = account.locked_until.isoformat()
        audit_record(actor=None, action="auth.login", target=account, result=AuditEntry.Result.FAILED, detail=detail)


def logout_record(*, user: Any) -> None:
    if getattr(user, "is_authenticated", False):
        audit_record(actor=user, action="auth.logout", target=user)


def token_issue(*, user: User) -> str:
    """A fresh API token for the user (the previous one stops working)."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        audit_record(actor=user, action="auth.token_issue", target=user)
    return token.key


def _check_binding(*, actor: Any, role: str, org_unit: OrgUnit, department: Department | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not role:
        errors["role"] = [_("请选择角色")]
        return errors
    if role not in Role.values:
        errors["role"] = [_("角色“%(role)s”无法识别") % {"role": role}]
        return errors
    if role not in GRANTABLE_ROLES.get(actor.role, frozenset()):
        errors["role"] = [_("您不能授予“%(role)s”角色") % {"role": Role(role).label}]
    if org_unit.level not in ROLE_LEVELS[role]:
        allowed = pgettext("list separator", "、").join(str(Level(lv).label) for lv in sorted(ROLE_LEVELS[role]))
        errors["org_unit"] = [_("“%(role)s”只能绑定到：%(levels)s") % {"role": Role(role).label, "levels": allowed}]
    if role in ROLES_NEEDING_DEPARTMENT and department is None:
        errors["department"] = [_("职能部门处置人员必须选择所属部门")]
    if department is not None and not in_scope(actor, department.org_unit):
        errors["department"] = [_("所选部门不在您的辖区内")]
    return errors


def _validate_new_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(fields={"password": [str(m) for m in exc.messages]}) from None


def user_create(
    *,
    actor: Any,
    username: str,
    password: str,
    role: str,
    org_unit: OrgUnit,
    department: Department | None = None,
    full_name: str = "",
    phone: str = "",
) -> User:
    require(actor, Capability.MANAGE_ACCOUNTS, action="accounts.create", unit=org_unit)
    errors = _check_binding(actor=actor, role=role, org_unit=org_unit, department=department)
    username = username.strip()
    if not username:
        errors["username"] = [_("用户名不能为空")]
    elif User.objects.filter(username=username).exists():
        errors["username"] = [_("用户名 %(username)s 已被使用") % {"username": username}]
    if errors:
        audit_refusal(actor=actor, action="accounts.create", object_repr=username, reason="invalid")
        raise ValidationFailed(fields=errors)
    user = User(
        username=username,
        role=role,
        org_unit=org_unit,
        department=department if role in ROLES_NEEDING_DEPARTMENT else None,
        full_name=full_name.strip(),
        phone=phone.strip(),
    )
    _validate_new_password(password, user)
    user.set_password(password)
    user.password_changed_at = timezone.now()
    with transaction.atomic():
        user.save()
        audit_record(
            actor=actor,
            action="accounts.create",
            target=user,
            detail={"role": role, "org_unit": org_unit.code},
        )
    return user


def user_update(
    *,
    actor: Any,
    user: User,
    role: str | None = None,
    org_unit: OrgUnit | None = None,
    department: Department | None = None,
    full_name: str | None = None,
    is_active: bool | None = None,
) -> User:
    """Change an account's role, area, department, name or active flag. Both the account's current
    unit and the new one must lie in the administrator's area."""
    require(actor, Capability.MANAGE_ACCOUNTS, action="accounts.update", unit=user.org_unit, target=user)
    if org_unit is not None:
        require(actor, Capability.MANAGE_ACCOUNTS, action="accounts.update", unit=org_unit, target=user)
    if user.pk == actor.pk and (role not in (None, user.role) or is_active is False):
        audit_refusal(actor=actor, action="accounts.update", target=user, reason="self_change")
        raise PermissionDenied(_("不能修改自己的角色或停用自己的账号"))
    if user.role not in GRANTABLE_ROLES.get(actor.role, frozenset()):
        audit_refusal(actor=actor, action="accounts.update", target=user, reason="role_not_grantable")
        raise PermissionDenied(_("您不能管理“%(role)s”账号") % {"role": user.get_role_display()})
    new_role = role or user.role
    new_unit = org_unit or user.org_unit
    new_department = department if department is not None else user.department
    if new_unit is None:
        raise ValidationFailed(fields={"org_unit": [_("账号必须绑定组织单元")]})
    errors = _check_binding(actor=actor, role=new_role, org_unit=new_unit, department=new_department)
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        before = {"role": locked.role, "org_unit": locked.org_unit_id, "active": locked.is_active}
        locked.role = new_role
        locked.org_unit = new_unit
        locked.department = new_department if new_role in ROLES_NEEDING_DEPARTMENT else None
        if full_name is not None:
            locked.full_name = full_name.strip()
        if is_active is not None:
            locked.is_active = is_active
        locked.save()
        after = {"role": locked.role, "org_unit": locked.org_unit_id, "active": locked.is_active}
        audit_record(actor=actor, action="accounts.update", target=locked, detail={"before": before, "after": after})
        if is_active is False:
            Token.objects.filter(user=locked).delete()
    return locked


def user_unlock(*, actor: Any, user: User) -> User:
    require(actor, Capability.MANAGE_ACCOUNTS, action="accounts.unlock", unit=user.org_unit, target=user)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
        audit_record(actor=actor, action="accounts.unlock", target=user)
    user.refresh_from_db()
    return user


def user_reset_password(*, actor: Any, user: User, new_password: str) -> None:
    require(actor, Capability.MANAGE_ACCOUNTS, action="accounts.reset_password", unit=user.org_unit, target=user)
    _validate_new_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.password_changed_at = timezone.now()
        user.save(update_fields=["password", "password_changed_at"])
        Token.objects.filter(user=user).delete()
        audit_record(actor=actor, action="accounts.reset_password", target=user)


def password_change(*, user: User, old_password: str, new_password: str) -> None:
    if not user.check_password(old_password):
        audit_refusal(actor=user, action="accounts.password_change", target=user, reason="bad_old_password")
        raise ValidationFailed(fields={"old_password": [_("原密码不正确")]})
    _validate_new_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.password_changed_at = timezone.now()
        user.save(update_fields=["password", "password_changed_at"])
        audit_record(actor=user, action="accounts.password_change", target=user)


def user_bootstrap(*, username: str, password: str, role: str, org_unit: OrgUnit, full_name: str = "") -> User:
    """Create an account from the operator's shell (the first district administrator or auditor of a
    new installation). No actor: the operator has the server; the journal records it as a system act."""
    errors: dict[str, list[str]] = {}
    if role not in (Role.DISTRICT_ADMIN, Role.AUDITOR):
        errors["role"] = [_("命令行只能创建区级管理员或审计员，其余账号请由管理员在系统中创建")]
    elif org_unit.level not in ROLE_LEVELS[role]:
        errors["org_unit"] = [_("“%(role)s”只能绑定到区") % {"role": Role(role).label}]
    if not username.strip():
        errors["username"] = [_("用户名不能为空")]
    elif User.objects.filter(username=username.strip()).exists():
        errors["username"] = [_("用户名 %(username)s 已被使用") % {"username": username.strip()}]
    if errors:
        raise ValidationFailed(fields=errors)
    user = User(username=username.strip(), role=role, org_unit=org_unit, full_name=full_name.strip())
    _validate_new_password(password, user)
    user.set_password(password)
    user.password_changed_at = timezone.now()
    with transaction.atomic():
        user.save()
        audit_record(
            actor=None, action="accounts.bootstrap", target=user, detail={"role": role, "org_unit": org_unit.code}
        )
    return user
