"""The append-only, hash-chained audit journal.

Each entry carries the HMAC of its own content chained to the previous entry's hash, so an edited,
inserted or deleted row breaks the chain at that point (`civicgrid verify_audit`). The application has
no path that updates or deletes a row: `save()` refuses an existing row, and the queryset refuses
`update()` and `delete()`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class AppendOnlyError(RuntimeError):
    pass


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("The audit journal is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The audit journal is append-only.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError("The audit journal is append-only.")


class AuditEntry(models.Model):
    class Result(models.TextChoices):
        OK = "ok", _("成功")
        DENIED = "denied", _("拒绝")
        FAILED = "failed", _("失败")

    seq = models.BigIntegerField(_("序号"), unique=True)
    at = models.DateTimeField(_("时间"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_username = models.CharField(_("操作人"), max_length=150, blank=True)
    action = models.CharField(_("操作"), max_length=80, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=80, blank=True)
    object_id = models.CharField(_("对象标识"), max_length=64, blank=True)
    object_repr = models.CharField(_("对象"), max_length=200, blank=True)
    source = models.CharField(_("来源地址"), max_length=64, blank=True)
    channel = models.CharField(_("渠道"), max_length=16, blank=True)
    result = models.CharField(_("结果"), max_length=8, choices=Result.choices)
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        verbose_name = _("审计记录")
        verbose_name_plural = pgettext_lazy("plural", "审计记录")
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id} {self.result}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("The audit journal is append-only.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The audit journal is append-only.")


class AuditChainHead(models.Model):
    """One row: the last sequence number and hash. Locked while appending so the chain stays linear,
    and compared by verification so that removing entries from the end is detected too."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        verbose_name = _("审计链头")

    def __str__(self) -> str:
        return f"#{self.last_seq} {self.last_hash[:12]}"
