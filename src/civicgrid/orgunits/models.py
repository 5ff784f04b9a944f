"""The district tree (district → town/street → community/village → grid) and functional departments.

Each unit stores its materialised path of codes ("440113000000/440113007000/…/"), so a subtree is one
indexed prefix query, as DHIS2 does; `depth` is the number of levels above it."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Level(models.TextChoices):
    DISTRICT = "district", _("区")
    TOWN = "town", _("镇街")
    COMMUNITY = "community", _("社区/村")
    GRID = "grid", _("网格")


# Which level may hang under which: data, so that a later level (e.g. special grids) is one line.
PARENT_LEVEL = {
    Level.TOWN: Level.DISTRICT,
    Level.COMMUNITY: Level.TOWN,
    Level.GRID: Level.COMMUNITY,
}


class Kind(models.TextChoices):
    DISTRICT = "district", _("区")
    STREET = "street", _("街道")
    TOWN = "town", _("镇")
    COMMUNITY = "community", _("社区")
    VILLAGE = "village", _("村")
    COMPREHENSIVE_GRID = "grid", _("综合网格")
    SPECIAL_GRID = "special_grid", _("专属网格")


KIND_LEVEL = {
    Kind.DISTRICT: Level.DISTRICT,
    Kind.STREET: Level.TOWN,
    Kind.TOWN: Level.TOWN,
    Kind.COMMUNITY: Level.COMMUNITY,
    Kind.VILLAGE: Level.COMMUNITY,
    Kind.COMPREHENSIVE_GRID: Level.GRID,
    Kind.SPECIAL_GRID: Level.GRID,
}

PATH_SEPARATOR = "/"


class OrgUnit(models.Model):
    code = models.CharField(_("代码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    level = models.CharField(_("层级"), max_length=16, choices=Level.choices, db_index=True)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    parent_code = models.CharField(_("上级代码"), max_length=32, blank=True)
    path = models.CharField(max_length=255)
    depth = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["path"]
        verbose_name = _("组织单元")
        verbose_name_plural = pgettext_lazy("plural", "组织单元")
        indexes = [
            models.Index(fields=["path"], name="orgunit_path_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    def is_within(self, other: OrgUnit) -> bool:
        """True when this unit is `other` or lies below it."""
        return self.path.startswith(other.path)


class Department(models.Model):
    """A functional department (职能部门) that handles cases in the units it serves."""

    class Kind(models.TextChoices):
        URBAN_MANAGEMENT = "urban", _("城市管理")
        HOUSING = "housing", _("住房和城乡建设")
        FIRE = "fire", _("消防救援")
        POLICE = "police", _("公安派出所")
        MARKET = "market", _("市场监督管理")
        WATER = "water", _("水务")
        TRANSPORT = "transport", _("交通运输")
        ENVIRONMENT = "environment", _("生态环境")
        GAS = "gas", _("燃气")
        CIVIL_AFFAIRS = "civil", _("民政")
        HEALTH = "health", _("卫生健康")
        EMERGENCY = "emergency", _("应急管理")
        JUSTICE = "justice", _("司法")
        OTHER = "other", _("其他")

    code = models.CharField(_("代码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    org_unit = models.ForeignKey(
        OrgUnit,
        verbose_name=_("所属单元"),
        on_delete=models.PROTECT,
        related_name="departments",
        help_text=_("部门所在的层级：区级部门或镇街部门。"),
    )
    serves = models.ManyToManyField(OrgUnit, verbose_name=_("服务范围"), related_name="served_by")
    phone = models.CharField(_("值班电话"), max_length=32, blank=True)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = pgettext_lazy("singular", "职能部门")
        verbose_name_plural = _("职能部门")

    def __str__(self) -> str:
        return self.name
