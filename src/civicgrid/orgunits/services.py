"""Writes to the tree: CSV import of a division list, departments."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability
from civicgrid.audit.services import audit_record
from civicgrid.core.errors import ValidationFailed
from civicgrid.orgunits.models import (
    KIND_LEVEL,
    PARENT_LEVEL,
    PATH_SEPARATOR,
    Department,
    Kind,
    Level,
    OrgUnit,
)

REQUIRED_COLUMNS = ("code", "name", "level", "parent_code")
CODE_PATTERN = re.compile(r"^[0-9A-Za-z]{2,32}$")
DEPARTMENT_CODE_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{1,31}$")
# The CSV's level column names a kind (street, village, …); each kind sits at one level.
CSV_KINDS = {kind.value: kind for kind in Kind}


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    problem: str

    def __str__(self) -> str:
        if self.row == 0:
            return self.problem
        return _("第 %(row)s 行，%(column)s 列：%(problem)s") % {
            "row": self.row,
            "column": self.column,
            "problem": self.problem,
        }


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    code: str
    name: str
    kind: Kind
    parent_code: str


def _read_rows(text: str, errors: list[RowError]) -> list[_Row]:
    try:
        return _parse_rows(text, errors)
    except csv.Error as exc:
        errors.append(RowError(0, "-", _("CSV 格式错误：%(error)s") % {"error": exc}))  # row 0: the file as a whole
        return []


def _parse_rows(text: str, errors: list[RowError]) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        errors.append(RowError(1, ",".join(missing), _("缺少必需的列（需要 code,name,level,parent_code）")))
        return []
    rows: list[_Row] = []
    for raw in reader:
        line = reader.line_num
        record = {k.strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in raw.items() if k}
        code, name, level, parent_code = (record[c] for c in REQUIRED_COLUMNS)
        if not CODE_PATTERN.match(code):
            errors.append(RowError(line, "code", _("代码“%(code)s”格式不正确（2–32 位字母或数字）") % {"code": code}))
            continue
        if not name:
            errors.append(RowError(line, "name", _("名称为空")))
            continue
        kind = CSV_KINDS.get(level)
        if kind is None:
            allowed = pgettext("list separator", "、").join(CSV_KINDS)
            problem = _("层级“%(level)s”无法识别（可用：%(allowed)s）") % {"level": level, "allowed": allowed}
            errors.append(RowError(line, "level", problem))
            continue
        rows.append(_Row(line, code, name, kind, parent_code))
    if not rows and not errors:
        errors.append(RowError(1, "-", _("文件中没有数据行")))
    return rows


def _check_tree(rows: list[_Row], errors: list[RowError]) -> dict[str, OrgUnit]:
    """Every rule checked against the file and the stored tree together; returns the stored units."""
    seen: dict[str, int] = {}
    for row in rows:
        if row.code in seen:
            problem = _("代码 %(code)s 与第 %(line)s 行重复") % {"code": row.code, "line": seen[row.code]}
            errors.append(RowError(row.line, "code", problem))
        else:
            seen[row.code] = row.line
    wanted = {r.code for r in rows} | {r.parent_code for r in rows if r.parent_code}
    stored = {u.code: u for u in OrgUnit.objects.filter(code__in=wanted)}
    in_file = {r.code: r for r in rows}
    for row in rows:
        level = KIND_LEVEL[row.kind]
        existing = stored.get(row.code)
        if existing is not None and existing.level != level:
            problem = _("代码 %(code)s 已存在且层级为 %(level)s") % {
                "code": row.code,
                "level": existing.get_level_display(),
            }
            errors.append(RowError(row.line, "level", problem))
        expected_parent = PARENT_LEVEL.get(Level(level))
        if expected_parent is None:  # a district: its parent (a city) lies outside the platform
            continue
        if not row.parent_code:
            errors.append(RowError(row.line, "parent_code", _("缺少上级代码")))
            continue
        parent_row = in_file.get(row.parent_code)
        parent_level = (
            KIND_LEVEL[parent_row.kind] if parent_row else getattr(stored.get(row.parent_code), "level", None)
        )
        if parent_level is None:
            problem = _("上级代码 %(code)s 不存在") % {"code": row.parent_code}
            errors.append(RowError(row.line, "parent_code", problem))
        elif parent_level != expected_parent:
            errors.append(
                RowError(
                    row.line,
                    "level",
                    _("%(level)s的上级应为%(expected)s，而 %(parent)s 是%(actual)s")
                    % {
                        "level": Level(level).label,
                        "expected": Level(expected_parent).label,
                        "parent": row.parent_code,
                        "actual": Level(parent_level).label,
                    },
                )
            )
    return stored


def orgunits_import(*, text: str, actor: Any, source_name: str = "", dry_run: bool = False) -> ImportResult:
    """Import a division list (code,name,level,parent_code). Validates every row first; any error
    imports nothing. Re-importing the same file changes nothing."""
    if actor is not None:
        require(actor, Capability.MANAGE_ORGUNITS, action="orgunits.import")
    result = ImportResult()
    rows = _read_rows(text.lstrip("\ufeff"), result.errors)
    stored = _check_tree(rows, result.errors) if rows else {}
    if result.errors or dry_run:
        return result
    # Parents before children: order by level depth.
    order = {Level.DISTRICT: 0, Level.TOWN: 1, Level.COMMUNITY: 2, Level.GRID: 3}
    rows.sort(key=lambda r: order[Level(KIND_LEVEL[r.kind])])
    with transaction.atomic():
        units = dict(stored)
        for row in rows:
            parent = units.get(row.parent_code) if PARENT_LEVEL.get(Level(KIND_LEVEL[row.kind])) else None
            path = (parent.path if parent else "") + row.code + PATH_SEPARATOR
            depth = (parent.depth + 1) if parent else 0
            values: dict[str, Any] = {
                "name": row.name,
                "level": KIND_LEVEL[row.kind],
                "kind": row.kind,
                "parent": parent,
                "parent_code": row.parent_code,
                "path": path,
                "depth": depth,
            }
            unit = units.get(row.code)
            if unit is None:
                unit = OrgUnit.objects.create(code=row.code, **values)
                result.created += 1
            elif any(getattr(unit, k) != v for k, v in values.items()):
                if unit.path != path:
                    _move_subtree(unit, path, depth)
                for key, value in values.items():
                    setattr(unit, key, value)
                unit.save()
                result.updated += 1
            else:
                result.unchanged += 1
            units[row.code] = unit
        audit_record(
            actor=actor,
            action="orgunits.import",
            object_type="orgunits.orgunit",
            object_repr=source_name[:200],
            detail={"created": result.created, "updated": result.updated, "unchanged": result.unchanged},
        )
    return result


def _move_subtree(unit: OrgUnit, new_path: str, new_depth: int) -> None:
    """Rewrite the paths of a unit's descendants when it moves."""
    shift = new_depth - unit.depth
    descendants = OrgUnit.objects.filter(path__startswith=unit.path).exclude(pk=unit.pk)
    for child in descendants:
        child.path = new_path + child.path[len(unit.path) :]
        child.depth += shift
    OrgUnit.objects.bulk_update(descendants, ["path", "depth"])


def department_create(
    *,
    actor: Any,
    code: str,
    name: str,
    kind: str,
    org_unit: OrgUnit,
    serves: Iterable[OrgUnit],
    phone: str = "",
) -> Department:
    require(actor, Capability.MANAGE_DEPARTMENTS, action="departments.create", unit=org_unit)
    errors: dict[str, list[str]] = {}
    if not DEPARTMENT_CODE_PATTERN.match(code):
        errors["code"] = [_("代码格式不正确（2–32 位字母、数字、连字符或下划线）")]
    elif Department.objects.filter(code=code).exists():
        errors["code"] = [_("部门代码 %(code)s 已存在") % {"code": code}]
    if not name.strip():
        errors["name"] = [_("名称不能为空")]
    if kind not in Department.Kind.values:
        errors["kind"] = [_("部门类别“%(kind)s”无法识别") % {"kind": kind}]
    served = list(serves)
    if not served:
        errors["serves"] = [_("至少选择一个服务的组织单元")]
    elif any(not u.is_within(org_unit) for u in served):
        errors["serves"] = [_("服务范围必须在部门所属单元之内")]
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        department = Department.objects.create(code=code, name=name.strip(), kind=kind, org_unit=org_unit, phone=phone)
        department.serves.set(served)
        audit_record(
            actor=actor,
            action="departments.create",
            target=department,
            detail={"serves": [u.code for u in served]},
        )
    return department
