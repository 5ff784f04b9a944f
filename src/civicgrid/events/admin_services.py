"""Administrator services for the event catalogue: dispatch rules (ordered, first match wins) and new
versions of a category's time limits (a case keeps the version it was filed under, so old versions are
never edited). District administrators only; every write is audited, every refusal too (`require`)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability
from civicgrid.audit.services import audit_record
from civicgrid.core.errors import ValidationFailed
from civicgrid.events.models import Category, DispatchRule, TimeLimit
from civicgrid.orgunits.models import Department, OrgUnit

CAPABILITY = Capability.MANAGE_DEPARTMENTS
_WEEKDAYS = re.compile(r"^[1-7](,[1-7])*$")
RULE_FIELDS = ("name", "category", "area", "weekdays", "time_from", "time_to", "department", "active")


def _require(actor: Any, action: str, target: Any = None) -> None:
    require(actor, CAPABILITY, action=action, target=target)


# --- dispatch rules -----------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _category(value: Any, errors: dict[str, list[str]]) -> Category | None:
    if _blank(value):
        return None
    if isinstance(value, Category):
        return value
    text = str(value).strip()
    found = Category.objects.filter(code=text).first()
    if found is None and text.isdigit():
        found = Category.objects.filter(pk=int(text)).first()
    if found is None:
        errors["category"] = [f"分类“{text}”不存在"]
    return found


def _area(value: Any, errors: dict[str, list[str]]) -> OrgUnit | None:
    if _blank(value):
        return None
    if isinstance(value, OrgUnit):
        return value
    text = str(value).strip()
    found = OrgUnit.objects.filter(code=text).first()
    if found is None:
        errors["area"] = [f"区域“{text}”不是已有的组织单元（请填写单元代码，如 440113007000）"]
    return found


def _department(value: Any, errors: dict[str, list[str]]) -> Department | None:
    if _blank(value):
        errors["department"] = ["请选择派往部门"]
        return None
    if isinstance(value, Department):
        return value
    text = str(value).strip()
    found = Department.objects.filter(code=text).first()
    if found is None and text.isdigit():
        found = Department.objects.filter(pk=int(text)).first()
    if found is None:
        errors["department"] = [f"部门“{text}”不存在"]
    return found


def _weekdays(value: Any, errors: dict[str, list[str]]) -> str:
    text = re.sub(r"[\s，、]+", ",", str(value or "")).strip(",")
    if not text:
        return ""
    if not _WEEKDAYS.match(text):
        errors["weekdays"] = ["星期应为 1–7 的数字，用逗号分隔，如“1,2,3”（1 为星期一，7 为星期日）"]
        return text
    days = sorted({int(d) for d in text.split(",")})
    return ",".join(str(d) for d in days)


def _time(value: Any, name: str, errors: dict[str, list[str]]) -> dt.time | None:
    if _blank(value):
        return None
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(str(value).strip())
    except ValueError:
        errors[name] = ["时间格式应为 HH:MM，如 08:30"]
        return None


def _rule_snapshot(rule: DispatchRule) -> dict[str, Any]:
    return {
        "order": rule.order,
        "name": rule.name,
        "category": rule.category.code if rule.category else "",
        "area": rule.area.code if rule.area else "",
        "weekdays": rule.weekdays,
        "time_from": rule.time_from.isoformat() if rule.time_from else "",
        "time_to": rule.time_to.isoformat() if rule.time_to else "",
        "department": rule.department.code,
        "active": rule.active,
    }


def dispatch_rule_save(*, actor: Any, rule: DispatchRule | None = None, **fields: Any) -> DispatchRule:
    """Create a rule (placed last) or edit one. Fields: name, category (code or pk, major or minor; blank
    = any), area (unit code; blank = everywhere), weekdays ("1,2,3"; blank = any day), time_from and
    time_to (both or neither), department (code or pk; it must serve the area), active."""
    action = "events.dispatch_rule.update" if rule else "events.dispatch_rule.create"
    _require(actor, action, target=rule)
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown dispatch rule fields: {sorted(unknown)}")
    errors: dict[str, list[str]] = {}
    name = str(fields.get("name", rule.name if rule else "") or "").strip()
    if not name:
        errors["name"] = ["请填写规则名称"]
    elif len(name) > 100:
        errors["name"] = ["名称不能超过 100 个字"]
    category = _category(fields.get("category", rule.category if rule else None), errors)
    area = _area(fields.get("area", rule.area if rule else None), errors)
    department = _department(fields.get("department", rule.department if rule else None), errors)
    weekdays = _weekdays(fields.get("weekdays", rule.weekdays if rule else ""), errors)
    time_from = _time(fields.get("time_from", rule.time_from if rule else None), "time_from", errors)
    time_to = _time(fields.get("time_to", rule.time_to if rule else None), "time_to", errors)
    if "time_from" not in errors and "time_to" not in errors:
        if (time_from is None) != (time_to is None):
            errors["time_to" if time_to is None else "time_from"] = ["开始时间和结束时间要么都填，要么都不填"]
        elif time_from is not None and time_to is not None and time_from >= time_to:
            errors["time_to"] = ["结束时间应晚于开始时间"]
    if department is not None and "area" not in errors:
        served = list(department.serves.all())
        if area is not None and not any(area.is_within(unit) for unit in served):
            errors["department"] = [f"{department.name}的服务范围不包括{area.name}"]
        elif area is None and not served:
            errors["department"] = [f"{department.name}尚未配置服务范围"]
    active = fields.get("active", rule.active if rule else True)
    if isinstance(active, str):
        active = active.strip().lower() in {"1", "true", "on", "yes"}
    if errors or department is None:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        before = _rule_snapshot(rule) if rule else None
        if rule is None:
            last = DispatchRule.objects.order_by("-order").values_list("order", flat=True).first() or 0
            rule = DispatchRule(order=last + 1)
        else:
            rule = DispatchRule.objects.select_for_update().get(pk=rule.pk)
        rule.name, rule.category, rule.area, rule.department = name, category, area, department
        rule.weekdays, rule.time_from, rule.time_to, rule.active = weekdays, time_from, time_to, bool(active)
        rule.save()
        audit_record(actor=actor, action=action, target=rule, detail={"before": before, "after": _rule_snapshot(rule)})
    return rule


def _renumber() -> list[DispatchRule]:
    rules = list(DispatchRule.objects.select_for_update().order_by("order", "id"))
    changed = []
    for index, item in enumerate(rules, start=1):
        if item.order != index:
            item.order = index
            changed.append(item)
    if changed:
        DispatchRule.objects.bulk_update(changed, ["order"])
    return rules


def dispatch_rule_move(*, actor: Any, rule: DispatchRule, direction: str) -> DispatchRule:
    """Swap a rule with its neighbour above ("up") or below ("down"); at either end nothing changes."""
    _require(actor, "events.dispatch_rule.move", target=rule)
    if direction not in ("up", "down"):
        raise ValidationFailed(fields={"direction": ["方向应为上移或下移"]})
    with transaction.atomic():
        rules = _renumber()
        index = next((i for i, item in enumerate(rules) if item.pk == rule.pk), None)
        if index is None:
            raise ValidationFailed(fields={"rule": ["规则不存在"]})
        other = index - 1 if direction == "up" else index + 1
        if not 0 <= other < len(rules):
            return rules[index]
        moved, neighbour = rules[index], rules[other]
        moved.order, neighbour.order = neighbour.order, moved.order
        DispatchRule.objects.bulk_update([moved, neighbour], ["order"])
        audit_record(
            actor=actor,
            action="events.dispatch_rule.move",
            target=moved,
            detail={"direction": direction, "order": moved.order, "swapped_with": neighbour.pk},
        )
    return moved


def dispatch_rule_deactivate(*, actor: Any, rule: DispatchRule, active: bool = False) -> DispatchRule:
    """Stop (or, with active=True, resume) using a rule. Rules are never deleted: the audit names them."""
    action = "events.dispatch_rule.activate" if active else "events.dispatch_rule.deactivate"
    _require(actor, action, target=rule)
    with transaction.atomic():
        rule = DispatchRule.objects.select_for_update().get(pk=rule.pk)
        if rule.active != active:
            rule.active = active
            rule.save(update_fields=["active"])
            audit_record(actor=actor, action=action, target=rule, detail={"name": rule.name})
    return rule


# --- time limits --------------------------------------------------------------------------------------


def _hours(value: Any, name: str, errors: dict[str, list[str]], *, default: Decimal) -> Decimal:
    if _blank(value):
        return default
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors[name] = ["请填写数字（工作小时）"]
        return default
    if not number.is_finite() or number <= 0 or number >= 1000:
        errors[name] = ["应为大于 0、小于 1000 的工作小时数"]
    elif number != number.quantize(Decimal("0.01")):
        errors[name] = ["最多保留两位小数"]
    return number


def time_limit_add(
    *,
    actor: Any,
    category: Category,
    handle_value: Any,
    handle_unit: str,
    valid_from: dt.datetime | None,
    file_hours: Any = None,
    dispatch_hours: Any = None,
    accept_hours: Any = None,
) -> TimeLimit:
    """Add a new version of a minor category's limits, in force from `valid_from` (not in the past).
    Cases already reported keep their version; cases reported from `valid_from` on get this one."""
    _require(actor, "events.time_limit.add", target=category)
    errors: dict[str, list[str]] = {}
    if category.parent_id is None:
        errors["category"] = ["时限只能设置在事件小类上"]
    value = 0
    try:
        value = int(str(handle_value).strip())
    except (TypeError, ValueError):
        errors["handle_value"] = ["处置时限应为正整数"]
    else:
        if not 1 <= value <= 999:
            errors["handle_value"] = ["处置时限应在 1–999 之间"]
    if handle_unit not in TimeLimit.Unit.values:
        errors["handle_unit"] = ["单位应为工作小时或工作日"]
    hours = {
        name: _hours(raw, name, errors, default=Decimal(1))
        for name, raw in (
            ("file_hours", file_hours),
            ("dispatch_hours", dispatch_hours),
            ("accept_hours", accept_hours),
        )
    }
    now = timezone.now()
    if valid_from is None:
        errors["valid_from"] = ["请填写生效时间"]
    elif timezone.is_naive(valid_from):
        errors["valid_from"] = ["生效时间缺少时区"]
    elif valid_from < now.replace(second=0, microsecond=0):
        errors["valid_from"] = ["生效时间不能早于现在（已报案件按原时限办理，不能追溯修改）"]
    if errors or valid_from is None:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        previous = (
            TimeLimit.objects.filter(category=category, valid_from__lte=valid_from).order_by("-valid_from").first()
        )
        limit = TimeLimit.objects.create(
            category=category,
            valid_from=valid_from,
            handle_value=value,
            handle_unit=handle_unit,
            created_by=actor,
            **hours,
        )
        audit_record(
            actor=actor,
            action="events.time_limit.add",
            target=limit,
            detail={
                "category": category.code,
                "valid_from": valid_from.isoformat(),
                "handle": f"{value} {handle_unit}",
                **{name: str(amount) for name, amount in hours.items()},
                "previous": previous.pk if previous else None,
            },
        )
    return limit
