"""Writing to the audit journal. Every service that writes, and every reveal of personal information,
calls `audit_record` in the same transaction as the change it records."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from civicgrid.audit.models import AuditChainHead, AuditEntry
from civicgrid.core import context

GENESIS_HASH = "0" * 64


def _chain_key() -> bytes:
    key = getattr(settings, "AUDIT_CHAIN_KEY", "") or settings.SECRET_KEY
    return hashlib.sha256(("civicgrid-audit:" + key).encode()).digest()


def entry_digest(entry: AuditEntry) -> str:
    """HMAC-SHA-256 over the previous hash and every recorded field, in a canonical form."""
    payload = [
        entry.seq,
        entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        entry.actor_id,
        entry.actor_username,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.object_repr,
        entry.source,
        entry.channel,
        entry.result,
        entry.detail,
        entry.prev_hash,
    ]
    message = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hmac.new(_chain_key(), message.encode("utf-8"), hashlib.sha256).hexdigest()


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None, "" if actor is None else "anonymous"
    return actor.pk, actor.get_username()


def audit_record(
    *,
    actor: Any,
    action: str,
    target: Any = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    result: str = AuditEntry.Result.OK,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry. Joins the caller's transaction, so the entry stands or falls with the change."""
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = object_id or str(target.pk)
        object_repr = object_repr or str(target)[:200]
    actor_id, actor_username = _actor_fields(actor)
    ctx = context.current()
    with transaction.atomic():
        head, _created = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        entry = AuditEntry(
            seq=head.last_seq + 1,
            at=timezone.now(),
            actor_id=actor_id,
            actor_username=actor_username,
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr[:200],
            source=ctx.source[:64],
            channel=ctx.channel,
            result=result,
            detail=json.loads(json.dumps(detail or {}, default=str)),
            prev_hash=head.last_hash,
        )
        entry.hash = entry_digest(entry)
        entry.save()
        head.last_seq = entry.seq
        head.last_hash = entry.hash
        head.save(update_fields=["last_seq", "last_hash"])
    return entry


def audit_refusal(*, actor: Any, action: str, target: Any = None, reason: str, **kwargs: Any) -> None:
    """Record a refused attempt. Services check permission before they open their own transaction, so
    the refusal is committed even though the refused change never happens."""
    audit_record(
        actor=actor,
        action=action,
        target=target,
        result=AuditEntry.Result.DENIED,
        detail={"reason": reason, **kwargs.pop("detail", {})},
        **kwargs,
    )
