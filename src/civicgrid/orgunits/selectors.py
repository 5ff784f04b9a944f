"""Tree reads that know nothing of users. Scoped reads for a user live in `accounts.selectors`."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from civicgrid.core.errors import NotFound
from civicgrid.orgunits.models import PATH_SEPARATOR, Department, OrgUnit


def orgunit_get(*, code: str) -> OrgUnit:
    try:
        return OrgUnit.objects.select_related("parent").get(code=code)
    except OrgUnit.DoesNotExist:
        raise NotFound(_("组织单元 %(code)s 不存在") % {"code": code}) from None


def orgunit_subtree(*, root: OrgUnit, level: str | None = None, include_root: bool = True) -> QuerySet[OrgUnit]:
    """The root and everything below it: one indexed prefix query on the materialised path."""
    queryset = OrgUnit.objects.filter(path__startswith=root.path)
    if not include_root:
        queryset = queryset.exclude(pk=root.pk)
    if level:
        queryset = queryset.filter(level=level)
    return queryset


def orgunit_ancestors(*, unit: OrgUnit) -> list[OrgUnit]:
    """From the top of the tree down to the unit's parent."""
    codes = [code for code in unit.path.split(PATH_SEPARATOR) if code][:-1]
    by_code = {u.code: u for u in OrgUnit.objects.filter(code__in=codes)}
    return [by_code[c] for c in codes if c in by_code]


def orgunit_roots() -> QuerySet[OrgUnit]:
    return OrgUnit.objects.filter(parent__isnull=True)


def departments_serving(*, unit: OrgUnit) -> QuerySet[Department]:
    """Departments that serve the unit or any unit above it."""
    codes = [code for code in unit.path.split(PATH_SEPARATOR) if code]
    return Department.objects.filter(serves__code__in=codes, active=True).distinct()
