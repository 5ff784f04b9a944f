"""Orchestration of a move that carries files, for the API (the case page does the same in
`events.views._act`): the files posted with the move are stored and the move is made in one transaction,
so both stand or fall together; files uploaded beforehand (`POST …/attachments/`) may be cited by id
instead. The checks stay in the services: `attachments.attachment_add` checks and stores each file,
`services.case_transition` checks the move (self-handling needs at least one file)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from civicgrid.core.errors import ValidationFailed
from civicgrid.events import attachments, services
from civicgrid.events.api import reads
from civicgrid.events.models import Attachment, Case
from civicgrid.events.workflow import TRANSITIONS, Action
from civicgrid.orgunits.models import Department

# Moves that take files, and how many one request may carry (as the case page's form).
FILE_ACTIONS = frozenset({Action.HANDLE, Action.SELF_HANDLE})
MAX_FILES = 9


def _discard(added: list[Attachment]) -> None:
    """Remove the stored files of attachments whose rows were rolled back (storage is not transactional)."""
    store = storages["default"]
    for attachment in added:
        for name in (attachment.storage_name, attachment.public_name, attachment.thumbnail_name):
            if name:
                store.delete(name)


def case_transition_with_files(
    *,
    actor: Any,
    case: Case,
    action: str,
    reason: str = "",
    department: Department | None = None,
    expected_version: int | None = None,
    files: Sequence[UploadedFile] = (),
    attachment_ids: Sequence[int] = (),
) -> Case:
    if action not in FILE_ACTIONS:
        label = Action(action).label if action in Action.values else action
        for name, given in (("files", files), ("attachment_ids", attachment_ids)):
            if given:
                raise ValidationFailed(fields={name: [_("“%(action)s”不附带附件") % {"action": label}]})
    if len(files) > MAX_FILES:
        raise ValidationFailed(fields={"files": [_("一次最多上传 %(n)s 个文件") % {"n": MAX_FILES}]})
    if files or attachment_ids:
        # Refusals are decided (and journalled) before anything is stored, so that they are committed.
        services.refuse_if_not_allowed(TRANSITIONS[action], actor, case)
    cited = reads.attachments_for_transition(actor=actor, case=case, ids=attachment_ids, action=action)
    added: list[Attachment] = []
    try:
        with transaction.atomic() if files else nullcontext():
            for upload in files:
                added.append(attachments.attachment_add(actor=actor, case=case, upload=upload, stage=action))
            return services.case_transition(
                actor=actor,
                case=case,
                action=action,
                reason=reason,
                department=department,
                expected_version=expected_version,
                attachments=len(added) + len(cited),
            )
    except ValidationFailed as exc:
        _discard(added)
        if "file" not in exc.fields:
            raise
        fields = {("files" if name == "file" else name): msgs for name, msgs in exc.fields.items()}
        raise ValidationFailed(exc.message, fields=fields) from exc
    except BaseException:
        _discard(added)
        raise
