"""The navigation each role sees: data, so later domain apps add their entries in one place."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from civicgrid.accounts.roles import Capability, has_capability

# (url name, label, capability needed — or any of several — or None for every signed-in user)
NAVIGATION: list[tuple[str, Any, Capability | tuple[Capability, ...] | None]] = [
    ("web:home", _("工作台"), None),
    ("events:workbench", _("网格事件"), Capability.VIEW_EVENTS),
    ("registry:search", _("实有人口房屋"), Capability.VIEW_REGISTER),
    ("registry:rentals", _("出租房屋"), Capability.VIEW_REGISTER),
    ("registry:export", _("人口导出"), Capability.VIEW_REGISTER),
    ("registry_imports:list", _("批量导入"), Capability.IMPORT_REGISTER),
    ("quality:issues", _("数据质量"), Capability.WORK_QUALITY_QUEUES),
    ("quality:spotchecks", _("抽查"), (Capability.RECORD_SPOT_CHECKS, Capability.DRAW_SPOT_CHECKS)),
    ("geo:map", _("网格地图"), Capability.VIEW_MAP),
    ("geo:layers", _("图层版本"), Capability.VIEW_MAP),
    ("web:orgunits", _("组织架构"), Capability.VIEW_ORGUNITS),
    ("web:departments", _("职能部门"), Capability.VIEW_ORGUNITS),
    ("web:accounts", _("账号管理"), Capability.VIEW_ACCOUNTS),
    ("web:audit", _("审计日志"), Capability.VIEW_AUDIT),
    ("events_admin:calendar", _("工作日历"), Capability.MANAGE_CALENDAR),
    ("events_admin:dispatch-rules", _("派遣规则"), Capability.MANAGE_DEPARTMENTS),
    ("events_admin:time-limits", _("处置时限"), Capability.MANAGE_DEPARTMENTS),
    ("events_admin:catalogue", _("事件分类"), Capability.MANAGE_DEPARTMENTS),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    current = request.resolver_match.view_name if request.resolver_match else ""
    items = [
        {"url": reverse(name), "label": label, "active": name == current}
        for name, label, capability in NAVIGATION
        if capability is None
        or any(has_capability(user, c) for c in (capability if isinstance(capability, tuple) else (capability,)))
    ]
    return {"nav_items": items}
