"""Key rotation for the register's personal information: re-encrypt under the current key, and rebuild
the blind index when the index key changes. Idempotent and resumable (batches, each its own transaction)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from civicgrid.audit.services import audit_record
from civicgrid.core import pii
from civicgrid.registry.models import Person
from civicgrid.registry.services import ID_FIELD, PHONE_FIELD


@dataclass
class RotationResult:
    checked: int = 0
    reencrypted: int = 0
    reindexed: int = 0


def rotate_pii_keys(*, old_index_key: str = "", batch_size: int = 2000, dry_run: bool = False) -> RotationResult:
    """Operator action (no actor): one audit entry for the run."""
    result = RotationResult()
    old_key = pii.decode_key(old_index_key, what="--old-index-key") if old_index_key else None
    last = 0
    while True:
        batch = list(Person.objects.filter(pk__gt=last).order_by("pk")[:batch_size])
        if not batch:
            break
        last = batch[-1].pk
        with transaction.atomic():
            for person in batch:
                result.checked += 1
                fields: list[str] = []
                id_blob = bytes(person.id_number_enc)
                if pii.needs_reencryption(id_blob):
                    person.id_number_enc = pii.reencrypt(id_blob, field=ID_FIELD)
                    fields.append("id_number_enc")
                if person.phone_enc and pii.needs_reencryption(bytes(person.phone_enc)):
                    person.phone_enc = pii.reencrypt(bytes(person.phone_enc), field=PHONE_FIELD)
                    fields.append("phone_enc")
                if fields:
                    result.reencrypted += 1
                if old_key is not None:
                    number = pii.decrypt(bytes(person.id_number_enc), field=ID_FIELD)
                    if person.id_blind == pii.blind_index_with(old_key, number, kind=person.id_type):
                        person.id_blind = pii.blind_index(number, kind=person.id_type)
                        fields.append("id_blind")
                    if person.phone_enc:
                        phone = pii.decrypt(bytes(person.phone_enc), field=PHONE_FIELD)
                        if person.phone_blind == pii.blind_index_with(old_key, phone, kind="phone"):
                            person.phone_blind = pii.blind_index(phone, kind="phone")
                            fields.append("phone_blind")
                    if "id_blind" in fields or "phone_blind" in fields:
                        result.reindexed += 1
                if fields and not dry_run:
                    person.save(update_fields=fields)
    if not dry_run:
        audit_record(
            actor=None,
            action="pii.rotate_keys",
            object_type="registry.person",
            detail={"checked": result.checked, "reencrypted": result.reencrypted, "reindexed": result.reindexed},
        )
    return result
