"""Versioned grid layers.

A layer version is a complete set of grids for the district. A draft is imported (or edited), checked
and then published; publishing fixes codes (编码固定): a grid that survives keeps its code, new grids get
the next free code of their community, a retired code is never issued again, and splits and merges are
recorded as lineage edges. Geometries are stored as WKB in WGS-84 lon/lat with their bounding box, so the
same code runs on SQLite and PostgreSQL without PostGIS."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.orgunits.models import OrgUnit


class LayerVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("草稿")
        PUBLISHED = "published", _("现行")
        SUPERSEDED = "superseded", _("已被替代")
        DISCARDED = "discarded", _("已废弃")

    number = models.PositiveIntegerField(_("版本号"), null=True, blank=True, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    note = models.TextField(_("说明"), blank=True)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    synthetic = models.BooleanField(_("合成数据（非官方边界）"), default=False)
    source_name = models.CharField(_("来源文件"), max_length=200, blank=True)
    source_crs = models.CharField(_("来源坐标系"), max_length=32, blank=True)
    based_on = models.ForeignKey(
        "self", verbose_name=_("基于版本"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    effective_from = models.DateField(_("生效日期"), null=True, blank=True)
    effective_until = models.DateField(_("失效日期"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    checked_at = models.DateTimeField(_("检查时间"), null=True, blank=True)
    check_summary = models.JSONField(_("检查结果"), default=dict, blank=True)

    class Meta:
        ordering = ["-number", "-created_at"]
        verbose_name = pgettext_lazy("singular", "图层版本")
        verbose_name_plural = _("图层版本")

    def __str__(self) -> str:
        label = f"V{self.number}" if self.number else str(_("草稿"))
        return f"{label} {self.name}"

    @property
    def editable(self) -> bool:
        return self.status == self.Status.DRAFT


class GridKind(models.TextChoices):
    COMPREHENSIVE = "grid", _("综合网格")
    SPECIAL = "special_grid", _("专属网格")


class GridFeature(models.Model):
    """One grid polygon in one layer version."""

    layer = models.ForeignKey(LayerVersion, on_delete=models.CASCADE, related_name="features")
    code = models.CharField(_("网格编码"), max_length=32, blank=True, db_index=True)
    proposed_code = models.CharField(_("文件中的编码"), max_length=32, blank=True)
    name = models.CharField(_("网格名称"), max_length=100)
    kind = models.CharField(_("网格类型"), max_length=16, choices=GridKind.choices, default=GridKind.COMPREHENSIVE)
    community = models.ForeignKey(OrgUnit, verbose_name=_("所属社区"), on_delete=models.PROTECT, related_name="+")
    grid_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("网格单元"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    geometry = models.BinaryField(_("几何（WKB，WGS-84）"))
    min_x = models.FloatField()
    min_y = models.FloatField()
    max_x = models.FloatField()
    max_y = models.FloatField()
    area_m2 = models.FloatField(_("面积（平方米）"))
    households = models.PositiveIntegerField(_("估计户数"), null=True, blank=True)
    source_index = models.PositiveIntegerField(_("文件中的序号"), default=0)

    class Meta:
        ordering = ["code", "proposed_code"]
        verbose_name = _("网格")
        verbose_name_plural = pgettext_lazy("plural", "网格")
        indexes = [
            models.Index(fields=["layer", "min_x", "max_x"], name="gridfeature_bbox_x"),
            models.Index(fields=["layer", "community"], name="gridfeature_layer_community"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["layer", "code"], condition=~models.Q(code=""), name="gridfeature_unique_code_per_layer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code or self.proposed_code} {self.name}"


class AreaBoundary(models.Model):
    """The boundary of a community or town in a layer version, used to check that grids cover their
    parent without gaps and do not stick out of it."""

    layer = models.ForeignKey(LayerVersion, on_delete=models.CASCADE, related_name="boundaries")
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    geometry = models.BinaryField()
    area_m2 = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["layer", "org_unit"], name="boundary_unique_per_layer")]
        verbose_name = _("区域边界")
        verbose_name_plural = pgettext_lazy("plural", "区域边界")

    def __str__(self) -> str:
        return f"{self.org_unit.code}@{self.layer_id}"


class GridCode(models.Model):
    """Every grid code ever issued. A retired code stays here so it is never issued again."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("使用中")
        RETIRED = "retired", pgettext_lazy("grid code", "已停用")

    code = models.CharField(_("网格编码"), max_length=32, unique=True)
    community = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    sequence = models.PositiveIntegerField(_("序号"))
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    issued_in = models.ForeignKey(LayerVersion, on_delete=models.PROTECT, related_name="+")
    retired_in = models.ForeignKey(LayerVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["code"]
        verbose_name = _("网格编码")
        verbose_name_plural = pgettext_lazy("plural", "网格编码")

    def __str__(self) -> str:
        return self.code


class GridLineage(models.Model):
    """How the grids of a version descend from those of the version before: one edge per
    (old code, new code) pair that share area, with the kind of change."""

    class Kind(models.TextChoices):
        RESHAPED = "reshaped", _("边界调整")
        SPLIT = "split", _("拆分")
        MERGED = "merged", _("合并")
        REPLACED = "replaced", _("重划")

    layer = models.ForeignKey(LayerVersion, on_delete=models.CASCADE, related_name="lineage")
    from_code = models.CharField(_("原网格"), max_length=32)
    to_code = models.CharField(_("新网格"), max_length=32)
    kind = models.CharField(_("变化类型"), max_length=16, choices=Kind.choices)
    share_of_old = models.FloatField(_("占原网格比例"))
    share_of_new = models.FloatField(_("占新网格比例"))

    class Meta:
        ordering = ["from_code", "to_code"]
        verbose_name = _("网格沿革")
        verbose_name_plural = pgettext_lazy("plural", "网格沿革")

    def __str__(self) -> str:
        return f"{self.from_code}→{self.to_code} ({self.kind})"


class TopologyProblem(models.Model):
    class Kind(models.TextChoices):
        INVALID = "invalid", _("无效多边形")
        OVERLAP = "overlap", _("网格重叠")
        GAP = "gap", _("社区内缝隙")
        OUTSIDE_PARENT = "outside_parent", _("超出所属社区")
        SLIVER = "sliver", _("碎片多边形")
        NO_BOUNDARY = "no_boundary", _("缺少社区边界")

    class Severity(models.TextChoices):
        ERROR = "error", _("错误")
        WARNING = "warning", _("警告")

    layer = models.ForeignKey(LayerVersion, on_delete=models.CASCADE, related_name="problems")
    kind = models.CharField(_("问题类型"), max_length=16, choices=Kind.choices)
    severity = models.CharField(_("级别"), max_length=8, choices=Severity.choices)
    codes = models.JSONField(_("涉及网格"), default=list)
    community = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lon = models.FloatField(_("经度"), null=True)
    lat = models.FloatField(_("纬度"), null=True)
    area_m2 = models.FloatField(_("面积（平方米）"), default=0)
    geometry = models.BinaryField(null=True, blank=True)
    message = models.CharField(_("说明"), max_length=300)

    class Meta:
        ordering = ["severity", "kind", "id"]
        verbose_name = _("拓扑问题")
        verbose_name_plural = pgettext_lazy("plural", "拓扑问题")

    def __str__(self) -> str:
        return self.message
