"""Reading and verifying the audit journal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.audit.models import AuditChainHead, AuditEntry
from civicgrid.audit.services import GENESIS_HASH, entry_digest
from civicgrid.core.errors import PermissionDenied


@dataclass
class ChainProblem:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"#{self.seq}: {self.problem}"


@dataclass
class ChainReport:
    checked: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_verify(*, batch_size: int = 5000) -> ChainReport:
    """Walk the whole chain in sequence order and report every break: an edited entry (its hash no
    longer matches its content), a deleted or inserted entry (a gap in the sequence or a broken link),
    and entries removed from the end (the chain head records more than is there)."""
    report = ChainReport()
    expected_prev = GENESIS_HASH
    expected_seq = 1
    last_seq = 0
    queryset = AuditEntry.objects.order_by("seq")
    for entry in queryset.iterator(chunk_size=batch_size):
        report.checked += 1
        if entry.seq != expected_seq:
            report.problems.append(
                ChainProblem(
                    entry.seq,
                    _("记录 #%(first)s–#%(last)s 缺失（已被删除）") % {"first": expected_seq, "last": entry.seq - 1},
                )
            )
        if entry.prev_hash != expected_prev:
            report.problems.append(ChainProblem(entry.seq, _("与上一条记录的链接已断开")))
        if entry_digest(entry) != entry.hash:
            report.problems.append(ChainProblem(entry.seq, _("内容与其哈希值不符（已被修改）")))
        expected_prev = entry.hash
        expected_seq = entry.seq + 1
        last_seq = entry.seq
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.last_seq != last_seq or head.last_hash != expected_prev):
        report.problems.append(
            ChainProblem(
                head.last_seq,
                _("哈希链止于 #%(last)s，但链头记录为 #%(head)s") % {"last": last_seq, "head": head.last_seq},
            )
        )
    return report


def audit_entry_list(*, actor: Any, filters: dict[str, str] | None = None) -> QuerySet[AuditEntry]:
    """The journal for those allowed to read it (auditors and district administrators)."""
    if not has_capability(actor, Capability.VIEW_AUDIT):
        raise PermissionDenied()
    queryset = AuditEntry.objects.select_related("actor").order_by("-seq")
    filters = filters or {}
    if filters.get("action"):
        queryset = queryset.filter(action__startswith=filters["action"])
    if filters.get("actor"):
        queryset = queryset.filter(actor_username=filters["actor"])
    if filters.get("result"):
        queryset = queryset.filter(result=filters["result"])
    if filters.get("object_type"):
        queryset = queryset.filter(object_type=filters["object_type"])
    return queryset
