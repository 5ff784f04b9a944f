"""Bulk imports of the register: one job per uploaded file, its dry-run report and its commit.

A job keeps what the user needs to decide and what the audit needs to know afterwards: the file's name,
size, SHA-256, format and encoding, the column mapping found, the counts, and the problems (row, column,
problem in Chinese). The file itself is kept only between the dry run and the commit, encrypted (see
`registry.imports`); the job row and its problems stay as the record of the import."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from civicgrid.orgunits.models import OrgUnit


class ImportJob(models.Model):
    class Status(models.TextChoices):
        VALIDATED = "validated", _("已预检")
        REJECTED = "rejected", _("文件无法读取")
        COMMITTED = "committed", _("已导入")
        FAILED = "failed", _("导入未执行")

    class Mode(models.TextChoices):
        ALL_OR_NOTHING = "all_or_nothing", _("全部无误才导入")
        VALID_ONLY = "valid_only", _("只导入无误的行")

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("上传人"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    scope = models.ForeignKey(
        OrgUnit, verbose_name=_("导入范围"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    org_path = models.CharField(max_length=255, db_index=True)
    created_at = models.DateTimeField(_("上传时间"), auto_now_add=True)
    filename = models.CharField(_("文件名"), max_length=255)
    size = models.BigIntegerField(_("文件大小（字节）"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    file_format = models.CharField(_("格式"), max_length=8, blank=True)
    encoding = models.CharField(_("编码"), max_length=20, blank=True)
    options = models.JSONField(_("选项"), default=dict, blank=True)
    columns = models.JSONField(_("列对应"), default=dict, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.VALIDATED)
    total_rows = models.PositiveIntegerField(_("数据行"), default=0)
    valid_rows = models.PositiveIntegerField(_("无误的行"), default=0)
    error_rows = models.PositiveIntegerField(_("有问题的行"), default=0)
    problem_count = models.PositiveIntegerField(_("问题数"), default=0)
    summary = models.JSONField(_("统计"), default=dict, blank=True)
    mode = models.CharField(_("导入方式"), max_length=16, choices=Mode.choices, blank=True)
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("导入人"), on_delete=models.PROTECT, null=True, related_name="+"
    )
    committed_at = models.DateTimeField(_("导入时间"), null=True, blank=True)
    seconds = models.FloatField(_("用时（秒）"), default=0)
    stored_file = models.CharField(max_length=255, blank=True)
    source_path = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("批量导入")
        verbose_name_plural = _("批量导入")

    def __str__(self) -> str:
        return f"#{self.pk} {self.filename}"


class ImportProblem(models.Model):
    """One problem of one row (row 0: the whole file). `phase` tells the dry run from the commit, which
    checks every row again against the register as it is then."""

    class Phase(models.TextChoices):
        DRY_RUN = "dry_run", _("预检")
        COMMIT = "commit", _("导入")

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="problems")
    phase = models.CharField(max_length=8, choices=Phase.choices)
    row = models.PositiveIntegerField(_("行号"))
    column = models.CharField(_("列"), max_length=60, blank=True)
    problem = models.CharField(_("问题"), max_length=300)

    class Meta:
        ordering = ["row", "id"]
        verbose_name = _("导入问题")
        verbose_name_plural = _("导入问题")
        indexes = [models.Index(fields=["job", "phase", "row"], name="import_problem_job_idx")]

    def __str__(self) -> str:
        return f"{self.row}:{self.column} {self.problem}"
