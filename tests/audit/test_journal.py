"""The audit journal is append-only and tamper-evident: verification passes on an untouched journal and
names the entry after one row is edited, deleted or cut from the end."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AppendOnlyError, AuditEntry
from civicgrid.audit.selectors import audit_verify
from civicgrid.audit.services import audit_record
from civicgrid.core import context
from tests.conftest import SHIQIAO

pytestmark = pytest.mark.django_db


@pytest.fixture
def journal(make_user):
    actor = make_user(Role.TOWN_ADMIN, SHIQIAO)
    with context.bound("10.1.2.3", "web"):
        for index in range(6):
            audit_record(
                actor=actor,
                action="test.write",
                object_type="test.thing",
                object_id=str(index),
                detail={"n": index, "名称": "市桥"},
            )
    return list(AuditEntry.objects.filter(action="test.write").order_by("seq"))


def raw_sql(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_entries_record_actor_time_action_object_source_and_result(journal):
    entry = journal[-1]
    assert entry.actor_username.startswith("town_admin")
    assert entry.action == "test.write" and entry.object_id == "5" and entry.result == "ok"
    assert entry.source == "10.1.2.3" and entry.channel == "web"
    assert entry.at is not None and entry.prev_hash == journal[-2].hash
    assert [e.seq for e in journal] == list(range(journal[0].seq, journal[0].seq + 6))


def test_untouched_journal_verifies(journal, capsys):
    report = audit_verify()
    assert report.ok and report.checked == AuditEntry.objects.count()
    call_command("verify_audit")
    assert "审计日志完整" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("action", "test.harmless"),
        ("actor_username", "someone_else"),
        ("source", "127.0.0.1"),
        ("result", "denied"),
    ],
)
def test_an_edited_row_is_named(journal, column, value):
    victim = journal[3]
    raw_sql(f"UPDATE audit_auditentry SET {column} = %s WHERE seq = %s", [value, victim.seq])
    report = audit_verify()
    assert not report.ok
    assert [p.seq for p in report.problems] == [victim.seq]
    with pytest.raises(CommandError, match="哈希链被破坏"):
        call_command("verify_audit")


def test_an_edited_detail_is_named(journal):
    victim = journal[2]
    raw_sql("UPDATE audit_auditentry SET detail = %s WHERE seq = %s", ['{"n": 99, "名称": "市桥"}', victim.seq])
    assert [p.seq for p in audit_verify().problems] == [victim.seq]


def test_a_deleted_row_is_named(journal, capsys):
    victim = journal[2]
    raw_sql("DELETE FROM audit_auditentry WHERE seq = %s", [victim.seq])
    report = audit_verify()
    assert not report.ok
    assert report.problems[0].seq == victim.seq + 1
    assert "缺失" in report.problems[0].problem
    with pytest.raises(CommandError):
        call_command("verify_audit")
    assert f"#{victim.seq + 1}" in capsys.readouterr().err


def test_rows_cut_from_the_end_are_detected(journal):
    raw_sql("DELETE FROM audit_auditentry WHERE seq = %s", [journal[-1].seq])
    report = audit_verify()
    assert not report.ok and "链头记录" in report.problems[-1].problem


def test_a_rewritten_hash_does_not_hide_an_edit(journal):
    """Recomputing a plain SHA-256 is not enough: the chain is keyed (HMAC) with a key outside the DB."""
    import hashlib

    victim = journal[1]
    forged = hashlib.sha256(b"forged").hexdigest()
    raw_sql("UPDATE audit_auditentry SET action = 'x', hash = %s WHERE seq = %s", [forged, victim.seq])
    assert victim.seq in {p.seq for p in audit_verify().problems}


def test_the_application_cannot_update_or_delete_entries(journal):
    entry = journal[0]
    entry.action = "changed"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(seq=entry.seq).update(action="changed")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    assert audit_verify().ok
