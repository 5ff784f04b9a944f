"""Administrator services for the event catalogue: dispatch rules (ordered, first match wins), new
versions of a category's time limits (a case keeps the version it was filed under, so old versions are
never edited), and the categories themselves (two levels; codes, names, defaults, activation; the rules are
at the catalogue section below). District administrators only; every write is audited, every refusal
too (`require`). The administrator's reads of the catalogue are here as well, behind the same check."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability
from civicgrid.audit.services import audit_record
from civicgrid.core.errors import NotFound, ValidationFailed
from civicgrid.events.models import Case, Category, DispatchRule, TimeLimit
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
        errors["category"] = [_("分类“%(code)s”不存在") % {"code": text}]
    return found


def _area(value: Any, errors: dict[str, list[str]]) -> OrgUnit | None:
    if _blank(value):
        return None
    if isinstance(value, OrgUnit):
        return value
    text = str(value).strip()
    found = OrgUnit.objects.filter(code=text).first()
    if found is None:
        errors["area"] = [_("区域“%(code)s”不是已有的组织单元（请填写单元代码，如 440113007000）") % {"code": text}]
    return found


def _department(value: Any, errors: dict[str, list[str]]) -> Department | None:
    if _blank(value):
        errors["department"] = [_("请选择派往部门")]
        return None
    if isinstance(value, Department):
        return value
    text = str(value).strip()
    found = Department.objects.filter(code=text).first()
    if found is None and text.isdigit():
        found = Department.objects.filter(pk=int(text)).first()
    if found is None:
        errors["department"] = [_("部门“%(code)s”不存在") % {"code": text}]
    return found


def _weekdays(value: Any, errors: dict[str, list[str]]) -> str:
    text = re.sub(r"[\s，、]+", ",", str(value or "")).strip(",")
    if not text:
        return ""
    if not _WEEKDAYS.match(text):
        errors["weekdays"] = [_("星期应为 1–7 的数字，用逗号分隔，如“1,2,3”（1 为星期一，7 为星期日）")]
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
        errors[name] = [_("时间格式应为 HH:MM，如 08:30")]
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
        errors["name"] = [_("请填写规则名称")]
    elif len(name) > 100:
        errors["name"] = [_("名称不能超过 100 个字")]
    category = _category(fields.get("category", rule.category if rule else None), errors)
    area = _area(fields.get("area", rule.area if rule else None), errors)
    department = _department(fields.get("department", rule.department if rule else None), errors)
    weekdays = _weekdays(fields.get("weekdays", rule.weekdays if rule else ""), errors)
    time_from = _time(fields.get("time_from", rule.time_from if rule else None), "time_from", errors)
    time_to = _time(fields.get("time_to", rule.time_to if rule else None), "time_to", errors)
    if "time_from" not in errors and "time_to" not in errors:
        if (time_from is None) != (time_to is None):
            errors["time_to" if time_to is None else "time_from"] = [_("开始时间和结束时间要么都填，要么都不填")]
        elif time_from is not None and time_to is not None and time_from >= time_to:
            errors["time_to"] = [_("结束时间应晚于开始时间")]
    if department is not None and "area" not in errors:
        served = list(department.serves.all())
        if area is not None and not any(area.is_within(unit) for unit in served):
            errors["department"] = [
                _("%(department)s的服务范围不包括%(area)s") % {"department": department.name, "area": area.name}
            ]
        elif area is None and not served:
            errors["department"] = [_("%(department)s尚未配置服务范围") % {"department": department.name}]
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
        raise ValidationFailed(fields={"direction": [_("方向应为上移或下移")]})
    with transaction.atomic():
        rules = _renumber()
        index = next((i for i, item in enumerate(rules) if item.pk == rule.pk), None)
        if index is None:
            raise ValidationFailed(fields={"rule": [_("规则不存在")]})
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
        errors[name] = [_("请填写数字（工作小时）")]
        return default
    if not number.is_finite() or number <= 0 or number >= 1000:
        errors[name] = [_("应为大于 0、小于 1000 的工作小时数")]
    elif number != number.quantize(Decimal("0.01")):
        errors[name] = [_("最多保留两位小数")]
    return number


def _handle_value(value: Any, errors: dict[str, list[str]]) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors["handle_value"] = [_("处置时限应为正整数")]
        return 0
    if not 1 <= number <= 999:
        errors["handle_value"] = [_("处置时限应在 1–999 之间")]
    return number


def _handle_unit(unit: Any, errors: dict[str, list[str]]) -> str:
    if unit not in TimeLimit.Unit.values:
        errors["handle_unit"] = [_("单位应为工作小时或工作日")]
    return str(unit or "")


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
        errors["category"] = [_("时限只能设置在事件小类上")]
    value = _handle_value(handle_value, errors)
    _handle_unit(handle_unit, errors)
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
        errors["valid_from"] = [_("请填写生效时间")]
    elif timezone.is_naive(valid_from):
        errors["valid_from"] = [_("生效时间缺少时区")]
    elif valid_from < now.replace(second=0, microsecond=0):
        errors["valid_from"] = [_("生效时间不能早于现在（已报案件按原时限办理，不能追溯修改）")]
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


# --- the catalogue: major and minor categories ---------------------------------------------------------
#
# Codes follow the seed (`events.catalogue`): a major category has two digits ("06"), a minor one its
# major's code and two more digits ("0601"). A code is free to change until it is used: a minor's once any
# case was filed under it (cases, exports and Open311 clients quote it), a major's once it has minor
# categories (theirs begin with it). The parent of a category never changes.
#
# Deactivating hides a category from every intake form (the grid worker's, the phone operator's, the
# public form and Open311 list active categories under active majors only) and from new dispatch rules;
# cases already filed under it keep it and go on through the workflow. A major with active minors is
# deactivated only together with them (`with_minors=True`: one transaction, an audit entry for each), so an
# active minor never sits under an inactive major; for the same reason a minor is reactivated, or created,
# only under an active major. Reactivating a major leaves its minors as they are.

CATEGORY_FIELDS = ("code", "name", "sort", "default_department_kind", "self_fixable", "active")
_CODE_PART = re.compile(r"^(0[1-9]|[1-9][0-9])$")
_MAX_SORT = 9999


@dataclass(frozen=True)
class CatalogueEntry:
    """A category as the administrator sees it: for a minor one the time limit in force and those to come;
    for a major one its minor categories."""

    category: Category
    kind_label: str
    current: TimeLimit | None = None
    upcoming: list[TimeLimit] = field(default_factory=list)
    versions: list[TimeLimit] = field(default_factory=list)  # newest first
    children: list[CatalogueEntry] = field(default_factory=list)
    code_locked: bool = False

    @property
    def level(self) -> str:
        return "minor" if self.category.parent_id else "major"


def _kind_label(kind: str) -> str:
    return str(dict(Department.Kind.choices).get(kind, kind)) if kind else ""


def _entry(category: Category, now: dt.datetime, **extra: Any) -> CatalogueEntry:
    versions = sorted(category.limits.all(), key=lambda v: v.valid_from, reverse=True)
    return CatalogueEntry(
        category=category,
        kind_label=_kind_label(category.default_department_kind),
        current=next((v for v in versions if v.valid_from <= now), None),
        upcoming=sorted((v for v in versions if v.valid_from > now), key=lambda v: v.valid_from),
        versions=versions,
        **extra,
    )


def catalogue_tree(*, actor: Any, now: dt.datetime) -> list[CatalogueEntry]:
    """Every major category (active or not) with its minor ones, in catalogue order: three queries."""
    _require(actor, "events.category.view")
    categories = list(Category.objects.prefetch_related("limits").order_by("sort", "code"))
    minors: dict[int, list[CatalogueEntry]] = {}
    for c in categories:
        if c.parent_id is not None:
            minors.setdefault(c.parent_id, []).append(_entry(c, now))
    return [_entry(major, now, children=minors.get(major.pk, [])) for major in categories if major.parent_id is None]


def category_in_use(category: Category) -> bool:
    """Whether the category's code is fixed: a minor one with a case, a major one with minor categories."""
    if category.parent_id is None:
        return category.children.exists()
    return Case.objects.filter(category=category).exists()


def category_get(*, actor: Any, code: str) -> Category:
    """A category by code, active or not, for an administrator."""
    _require(actor, "events.category.view")
    found = Category.objects.select_related("parent").filter(code=str(code).strip()).first()
    if found is None:
        raise NotFound(_("事件分类“%(code)s”不存在") % {"code": code})
    return found


def category_detail(*, actor: Any, code: str, now: dt.datetime) -> CatalogueEntry:
    category = category_get(actor=actor, code=code)
    children = [_entry(c, now) for c in category.children.prefetch_related("limits").order_by("sort", "code")]
    return _entry(category, now, children=children, code_locked=category_in_use(category))


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "on", "yes"}
    return bool(value)


def _code(value: Any, *, parent: Category | None, errors: dict[str, list[str]], own: Category | None = None) -> str:
    code = unicodedata.normalize("NFKC", str(value or "")).strip()
    if not code:
        errors["code"] = [_("请填写代码")]
    elif parent is None and not _CODE_PART.match(code):
        errors["code"] = [_("代码“%(code)s”格式有误：大类代码应为两位数字（01–99），如“11”") % {"code": code}]
    elif parent is not None and not (code.startswith(parent.code) and _CODE_PART.match(code[len(parent.code) :])):
        errors["code"] = [
            _("代码“%(code)s”格式有误：小类代码应为所属大类代码“%(major)s”加两位数字（01–99），如“%(example)s”")
            % {"code": code, "major": parent.code, "example": f"{parent.code}01"}
        ]
    else:
        others = Category.objects.exclude(pk=own.pk) if own else Category.objects.all()
        taken = others.filter(code=code).first()
        if taken is not None:
            errors["code"] = [_("代码“%(code)s”已被“%(name)s”使用") % {"code": code, "name": taken.name}]
    return code


def _name(value: Any, *, parent: Category | None, errors: dict[str, list[str]], own: Category | None = None) -> str:
    name = str(value or "").strip()
    if not name:
        errors["name"] = [_("请填写名称")]
    elif len(name) > 60:
        errors["name"] = [_("名称不能超过 60 个字")]
    elif (
        (Category.objects.exclude(pk=own.pk) if own else Category.objects.all())
        .filter(parent=parent, name=name)
        .exists()
    ):
        errors["name"] = [
            _("大类“%(major)s”下已有名为“%(name)s”的小类") % {"major": parent.name, "name": name}
            if parent
            else _("已有名为“%(name)s”的大类") % {"name": name}
        ]
    return name


def _sort(value: Any, errors: dict[str, list[str]], *, default: int) -> int:
    if _blank(value):
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if not 0 <= number <= _MAX_SORT:
        errors["sort"] = [_("排序应为 0–%(max)d 的整数，小的在前") % {"max": _MAX_SORT}]
        return default
    return number


def _kind(value: Any, errors: dict[str, list[str]]) -> str:
    kind = str(value or "").strip()
    if kind and kind not in Department.Kind.values:
        errors["default_department_kind"] = [_("默认处置部门类别“%(kind)s”不存在") % {"kind": kind}]
    return kind


def _category_snapshot(category: Category) -> dict[str, Any]:
    return {
        "code": category.code,
        "name": category.name,
        "parent": category.parent.code if category.parent else "",
        "sort": category.sort,
        "default_department_kind": category.default_department_kind,
        "self_fixable": category.self_fixable,
        "active": category.active,
    }


def category_create(
    *,
    actor: Any,
    code: Any,
    name: Any,
    parent: Category | None = None,
    sort: Any = None,
    default_department_kind: Any = "",
    self_fixable: Any = False,
    handle_value: Any = None,
    handle_unit: Any = None,
) -> Category:
    """Create a major category (no parent) or a minor one under an active major. A minor one needs its first
    handling time limit (`handle_value` in `handle_unit`, working days or hours), in force from now; its
    filing, dispatch and acceptance limits start at one working hour (change them by a new version)."""
    _require(actor, "events.category.create", target=parent)
    if parent is not None and parent.parent_id is not None:
        raise ValidationFailed(fields={"major": [_("“%(code)s”是小类：小类只能建在大类下") % {"code": parent.code}]})
    if parent is not None and not parent.active:
        raise ValidationFailed(fields={"major": [_("所属大类“%(name)s”已停用，请先启用") % {"name": parent.name}]})
    errors: dict[str, list[str]] = {}
    new_code = _code(code, parent=parent, errors=errors)
    new_name = _name(name, parent=parent, errors=errors)
    kind = _kind(default_department_kind, errors)
    fixable = _bool(self_fixable)
    if parent is None and fixable:
        errors["self_fixable"] = [_("“网格员可自行处置”只适用于事件小类")]
    value, unit = 0, ""
    if parent is not None:
        if _blank(handle_value):
            errors["handle_value"] = [_("新建小类须填写处置时限")]
        else:
            value = _handle_value(handle_value, errors)
        unit = _handle_unit(handle_unit, errors)
    siblings = Category.objects.filter(parent=parent)
    last = siblings.order_by("-sort").values_list("sort", flat=True).first()
    position = _sort(sort, errors, default=min(_MAX_SORT, last + 1) if last is not None else 0)
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        if parent is not None:
            parent = Category.objects.select_for_update().get(pk=parent.pk)
            if not parent.active:  # deactivated meanwhile
                raise ValidationFailed(
                    fields={"major": [_("所属大类“%(name)s”已停用，请先启用") % {"name": parent.name}]}
                )
        try:
            with transaction.atomic():
                category = Category.objects.create(
                    code=new_code,
                    name=new_name,
                    parent=parent,
                    sort=position,
                    default_department_kind=kind,
                    self_fixable=fixable,
                )
        except IntegrityError:  # the same code created meanwhile
            raise ValidationFailed(fields={"code": [_("代码“%(code)s”已被使用") % {"code": new_code}]}) from None
        audit_record(
            actor=actor,
            action="events.category.create",
            target=category,
            detail={"after": _category_snapshot(category)},
        )
        if parent is not None:
            time_limit_add(
                actor=actor, category=category, handle_value=value, handle_unit=unit, valid_from=timezone.now()
            )
    return category


def category_update(*, actor: Any, category: Category, with_minors: Any = False, **fields: Any) -> Category:
    """Edit what is given of code, name, sort, default_department_kind, self_fixable, active; keep the rest.
    The code is refused once fixed (see `category_in_use`). Deactivating a major with active minors needs
    `with_minors=True` and deactivates them with it. Time limits change by a new version
    (`time_limit_add`), never here."""
    _require(actor, "events.category.update", target=category)
    unknown = set(fields) - set(CATEGORY_FIELDS)
    if unknown:
        raise TypeError(f"unknown category fields: {sorted(unknown)}")
    cascade = _bool(with_minors)
    with transaction.atomic():
        # Locks in one order everywhere: the major first, then its minors.
        parent = Category.objects.select_for_update().get(pk=category.parent_id) if category.parent_id else None
        category = Category.objects.select_for_update().get(pk=category.pk)
        category.parent = parent
        before = _category_snapshot(category)
        errors: dict[str, list[str]] = {}
        if "code" in fields:
            wanted = unicodedata.normalize("NFKC", str(fields["code"] or "")).strip()
            if wanted != category.code:
                if category_in_use(category):
                    errors["code"] = [
                        _("代码不能修改：该大类下已有小类，小类代码以大类代码开头（代码仍为“%(code)s”）")
                        % {"code": category.code}
                        if parent is None
                        else _("代码不能修改：已有事件使用该分类（代码仍为“%(code)s”）；可修改名称，或停用后另建分类")
                        % {"code": category.code}
                    ]
                else:
                    category.code = _code(wanted, parent=parent, errors=errors, own=category)
        if "name" in fields:
            category.name = _name(fields["name"], parent=parent, errors=errors, own=category)
        if "sort" in fields:
            category.sort = _sort(fields["sort"], errors, default=category.sort)
        if "default_department_kind" in fields:
            category.default_department_kind = _kind(fields["default_department_kind"], errors)
        if "self_fixable" in fields:
            category.self_fixable = _bool(fields["self_fixable"])
            if parent is None and category.self_fixable:
                errors["self_fixable"] = [_("“网格员可自行处置”只适用于事件小类")]
        minors: list[Category] = []
        if "active" in fields:
            active = _bool(fields["active"])
            if active and not category.active and parent is not None and not parent.active:
                errors["active"] = [_("所属大类“%(name)s”已停用：请先启用大类，再启用其小类") % {"name": parent.name}]
            if not active and category.active and parent is None:
                minors = list(Category.objects.select_for_update().filter(parent=category, active=True))
                if minors and not cascade:
                    errors["active"] = [
                        _("大类“%(name)s”下还有 %(n)d 个启用的小类：请先停用这些小类，或选择同时停用其下全部小类")
                        % {"name": category.name, "n": len(minors)}
                    ]
            category.active = active
        if errors:
            raise ValidationFailed(fields=errors)
        after = _category_snapshot(category)
        if after == before:
            return category
        category.save()
        audit_record(
            actor=actor, action="events.category.update", target=category, detail={"before": before, "after": after}
        )
        for minor in minors:
            minor.active = False
            minor.save(update_fields=["active"])
            audit_record(
                actor=actor,
                action="events.category.update",
                target=minor,
                detail={"active": False, "with_major": category.code},
            )
    return category
