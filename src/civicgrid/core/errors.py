"""Domain errors. Services raise these; the API exception handler and the web views map them to
responses. Each has a stable machine `code` and a human `message` in the user's language."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "error"
    status = 400
    default_message: Any = _("请求无法完成。")

    def __init__(self, message: Any = None, *, fields: dict[str, list[str]] | None = None, **extra: Any):
        self.message = message if message is not None else self.default_message
        self.fields = fields or {}
        self.extra = extra
        super().__init__(str(self.message))


class ValidationFailed(DomainError):
    code = "invalid"
    status = 400
    default_message = _("部分字段填写有误。")


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401
    default_message = _("请先登录。")


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    default_message = _("您没有执行此操作的权限。")


class OutOfScope(PermissionDenied):
    code = "out_of_scope"
    default_message = _("该对象不在您的辖区内。")


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _("未找到。")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = _("该记录已被他人同时修改，请刷新后重试。")
