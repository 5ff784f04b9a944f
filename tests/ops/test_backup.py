"""Backup and restore, for real, on whichever database the suite runs on (SQLite or PostgreSQL).

Restoring replaces the whole database, so these tests commit for real (`transaction=True`); the
database is flushed after each one and `ensure_divisions()` reloads the org units for the next."""

from __future__ import annotations

import base64
import builtins
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from civicgrid.accounts.models import User
from civicgrid.audit.models import AuditChainHead, AuditEntry
from civicgrid.audit.selectors import audit_verify
from civicgrid.audit.services import audit_record
from civicgrid.ops import backup as backup_module
from civicgrid.ops.backup import (
    DUMP_NAMES,
    MANIFEST_NAME,
    BackupError,
    BackupManifest,
    backup_create,
    backup_inspect,
    backup_restore,
)
from civicgrid.orgunits.models import OrgUnit
from tests.conftest import SHATOU, SHATOU_COMMUNITY, SHIQIAO_COMMUNITY

REPO = Path(__file__).resolve().parents[2]
transactional = pytest.mark.django_db(transaction=True)


def database_state() -> str:
    """Every row of every table the application knows, in primary-key order."""
    out = io.StringIO()
    call_command("dumpdata", "--indent=0", stdout=out)
    return out.getvalue()


def make_changes(make_user: Callable[..., User], doomed: User, keeper: User) -> None:
    """Delete, add and edit after the backup, including the audit journal."""
    doomed.delete()
    make_user("grid_worker", SHATOU_COMMUNITY, username="newcomer")
    OrgUnit.objects.filter(code=SHATOU).update(name="改过名的街道")
    audit_record(actor=keeper, action="test.after_backup")


@pytest.fixture
def populated(make_user: Callable[..., User]) -> tuple[User, User]:
    keeper = make_user("grid_worker", SHIQIAO_COMMUNITY, username="keeper")
    doomed = make_user("community_clerk", SHIQIAO_COMMUNITY, username="doomed")
    audit_record(actor=keeper, action="test.before_backup", target=doomed)
    audit_record(actor=None, action="test.system", detail={"说明": "备份前的记录"})
    return keeper, doomed


def rewrite_backup(
    source: Path,
    target: Path,
    *,
    manifest: Callable[[dict[str, object]], None] | None = None,
    dump: Callable[[bytes], bytes] | None = None,
    fix_checksum: bool = False,
) -> None:
    """Copy a backup file, editing its manifest and/or dump on the way."""
    with tarfile.open(source, "r:*") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    data = json.loads(members.pop(MANIFEST_NAME))
    (dump_name, dump_bytes), *_ = members.items()
    if dump is not None:
        dump_bytes = dump(dump_bytes)
    if manifest is not None:
        manifest(data)
        dump_name = str(data["dump_name"])
    if fix_checksum:
        data["dump_sha256"] = hashlib.sha256(dump_bytes).hexdigest()
        data["dump_size"] = len(dump_bytes)
    with tarfile.open(target, "w") as tar:
        for name, body in ((MANIFEST_NAME, json.dumps(data).encode()), (dump_name, dump_bytes)):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))


@transactional
def test_round_trip_restores_exactly_and_chain_verifies(
    populated: tuple[User, User], make_user: Callable[..., User], tmp_path: Path
) -> None:
    keeper, doomed = populated
    before = database_state()
    entries = AuditEntry.objects.count()
    head = AuditChainHead.objects.get(pk=1)
    backup = tmp_path / "civicgrid.cgbak"

    out = io.StringIO()
    call_command("backup", "--output", str(backup), stdout=out)
    assert f"已写入备份文件 {backup}" in out.getvalue()
    assert oct(backup.stat().st_mode & 0o777) == oct(0o600)
    assert [p.name for p in tmp_path.iterdir()] == [backup.name]  # no temporary left behind

    manifest = backup_inspect(path=backup)
    assert manifest.engine == connection.vendor
    assert manifest.dump_name == DUMP_NAMES[connection.vendor]
    assert (manifest.audit_entries, manifest.audit_head_seq, manifest.audit_head_hash) == (
        entries,
        head.last_seq,
        head.last_hash,
    )
    assert manifest.format_version == 1 and manifest.app_version == "0.1.0"

    make_changes(make_user, doomed, keeper)
    assert database_state() != before
    assert AuditEntry.objects.count() == entries + 1

    out = io.StringIO()
    call_command("restore", "--input", str(backup), "--yes", stdout=out)
    assert f"已从备份文件 {backup} 恢复数据库" in out.getvalue()
    assert f"审计日志完整：已校验 {entries} 条记录" in out.getvalue()

    assert database_state() == before
    assert set(User.objects.values_list("username", flat=True)) == {"keeper", "doomed"}
    assert OrgUnit.objects.get(code=SHATOU).name != "改过名的街道"
    report = audit_verify()
    assert report.ok and report.checked == entries

    # The restored database takes new writes: sequences and the chain head came back too.
    make_user("grid_worker", SHATOU_COMMUNITY, username="after_restore")
    audit_record(actor=keeper, action="test.after_restore")
    assert audit_verify().ok
    assert AuditChainHead.objects.get(pk=1).last_seq == head.last_seq + 1


@transactional
def test_service_reports_restored_audit_state(
    populated: tuple[User, User], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []
    real_run = subprocess.run

    def spy(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return real_run(command, **kwargs)

    monkeypatch.setattr(backup_module.subprocess, "run", spy)
    backup = tmp_path / "b.cgbak"
    entries = AuditEntry.objects.count()
    created = backup_create(output=backup)
    audit_record(actor=None, action="test.after_backup")
    asked: list[BackupManifest] = []

    def confirm(manifest: BackupManifest) -> bool:
        asked.append(manifest)
        return True

    result = backup_restore(path=backup, confirm=confirm)

    assert asked == [created.manifest]
    assert result.audit.ok and result.matches_manifest
    assert result.audit_entries == created.manifest.audit_entries == entries
    if connection.vendor == "postgresql":
        dump, listing, restore = commands
        assert Path(dump[0]).name == "pg_dump" and {"--format=custom", "--no-owner"} <= set(dump)
        assert Path(listing[0]).name == "pg_restore" and "--list" in listing
        flags = {"--clean", "--if-exists", "--no-owner", "--single-transaction"}
        assert Path(restore[0]).name == "pg_restore" and flags <= set(restore)
    else:
        assert commands == []  # SQLite: the online backup API, no external program


def test_pg_connection_settings_go_through_the_environment() -> None:
    """pg_dump/pg_restore get the password (and every other connection setting) through libpq's
    environment variables, never on the command line where `ps` would show it."""

    class Stub:
        settings_dict: ClassVar[dict[str, Any]] = {
            "NAME": "civicgrid",
            "HOST": "db.internal",
            "PORT": "5433",
            "USER": "civicgrid",
            "PASSWORD": "s3cret-pass",
            "OPTIONS": {"sslmode": "verify-full", "assume_role": "civicgrid_owner", "pool": False},
        }

    env, extra = backup_module._pg_environment(Stub())  # type: ignore[arg-type]
    assert env["PGPASSWORD"] == "s3cret-pass"
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGSSLMODE"]) == (
        "db.internal",
        "5433",
        "civicgrid",
        "verify-full",
    )
    assert extra == ["--role=civicgrid_owner"]
    assert "s3cret-pass" not in " ".join(extra)


@transactional
def test_backup_refuses_to_overwrite_without_force(populated: tuple[User, User], tmp_path: Path) -> None:
    backup = tmp_path / "b.cgbak"
    backup.write_bytes(b"precious")

    with pytest.raises(CommandError, match=re.escape(f"备份文件 {backup} 已存在；如需覆盖请加 --force")):
        call_command("backup", "--output", str(backup), stdout=io.StringIO())
    assert backup.read_bytes() == b"precious"

    call_command("backup", "--output", str(backup), "--force", stdout=io.StringIO())
    assert backup_inspect(path=backup).audit_entries == AuditEntry.objects.count()


@transactional
def test_backup_into_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"目录 .* 不存在"):
        backup_create(output=tmp_path / "nowhere" / "b.cgbak")


def _corrupt_garbage(good: Path, bad: Path) -> None:
    bad.write_bytes(b"this is not a backup file at all\n" * 100)


def _corrupt_truncated(good: Path, bad: Path) -> None:
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])


def _corrupt_dump_bytes(good: Path, bad: Path) -> None:
    def flip(body: bytes) -> bytes:
        middle = len(body) // 2
        return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]

    rewrite_backup(good, bad, dump=flip)


def _corrupt_manifest_json(good: Path, bad: Path) -> None:
    with tarfile.open(good, "r:*") as tar:
        dump = next(m for m in tar.getmembers() if m.name != MANIFEST_NAME)
        body = tar.extractfile(dump).read()  # type: ignore[union-attr]
    with tarfile.open(bad, "w") as tar:
        for name, content in ((MANIFEST_NAME, b"{not json"), (dump.name, body)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def _wrong_format_version(good: Path, bad: Path) -> None:
    rewrite_backup(good, bad, manifest=lambda m: m.update(format_version=99))


@transactional
@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_corrupt_garbage, "已损坏或不完整"),
        (_corrupt_truncated, "已损坏或不完整"),
        (_corrupt_dump_bytes, "校验失败"),
        (_corrupt_manifest_json, "无法解析"),
        (_wrong_format_version, "格式版本 99 不受支持"),
    ],
    ids=["garbage", "truncated", "dump-bytes-flipped", "manifest-not-json", "format-version"],
)
def test_damaged_backup_is_refused_and_database_untouched(
    populated: tuple[User, User],
    make_user: Callable[..., User],
    tmp_path: Path,
    corrupt: Callable[[Path, Path], None],
    message: str,
) -> None:
    keeper, doomed = populated
    good, bad = tmp_path / "good.cgbak", tmp_path / "bad.cgbak"
    backup_create(output=good)
    corrupt(good, bad)
    make_changes(make_user, doomed, keeper)
    changed = database_state()

    with pytest.raises(CommandError, match=message) as excinfo:
        call_command("restore", "--input", str(bad), "--yes", stdout=io.StringIO())
    assert str(bad) in str(excinfo.value)
    with pytest.raises(CommandError, match=message):
        call_command("restore", "--input", str(bad), "--dry-run", stdout=io.StringIO())

    assert database_state() == changed
    assert audit_verify().ok


@transactional
def test_backup_from_other_engine_is_refused(populated: tuple[User, User], tmp_path: Path) -> None:
    good, foreign = tmp_path / "good.cgbak", tmp_path / "foreign.cgbak"
    backup_create(output=good)
    other = "postgresql" if connection.vendor == "sqlite" else "sqlite"
    rewrite_backup(
        good,
        foreign,
        manifest=lambda m: m.update(engine=other, dump_name=DUMP_NAMES[other]),
        fix_checksum=True,
    )
    audit_record(actor=None, action="test.after_backup")
    before = database_state()

    with pytest.raises(CommandError, match="不能恢复到不同类型的数据库") as excinfo:
        call_command("restore", "--input", str(foreign), "--yes", stdout=io.StringIO())
    assert str(foreign) in str(excinfo.value)
    assert database_state() == before


@transactional
def test_declined_confirmation_changes_nothing(
    populated: tuple[User, User], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = tmp_path / "b.cgbak"
    backup_create(output=backup)
    audit_record(actor=None, action="test.after_backup")
    before = database_state()
    prompts: list[str] = []

    def answer_no(prompt: str = "") -> str:
        prompts.append(prompt)
        return "no"

    monkeypatch.setattr(builtins, "input", answer_no)

    out = io.StringIO()
    with pytest.raises(CommandError, match="已取消"):
        call_command("restore", "--input", str(backup), stdout=out)

    assert prompts and "即将用以下备份替换当前数据库" in out.getvalue()
    assert database_state() == before


@pytest.mark.postgres
@transactional
def test_postgresql_restore_refused_while_other_sessions_are_connected(
    populated: tuple[User, User], tmp_path: Path
) -> None:
    """pg_restore --clean would wait forever on the running application's locks: refuse instead."""
    backup = tmp_path / "b.cgbak"
    backup_create(output=backup)
    audit_record(actor=None, action="test.after_backup")
    before = database_state()
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        with pytest.raises(CommandError, match="还有 1 个其他会话连接着数据库") as excinfo:
            call_command("restore", "--input", str(backup), "--yes", stdout=io.StringIO())
    finally:
        other.close()
    assert str(backup) in str(excinfo.value)
    assert database_state() == before


@transactional
def test_backup_and_restore_inside_a_transaction_are_refused(populated: tuple[User, User], tmp_path: Path) -> None:
    from django.db import transaction

    backup = tmp_path / "b.cgbak"
    backup_create(output=backup)
    with transaction.atomic(), pytest.raises(BackupError, match="不能在数据库事务中"):
        backup_restore(path=backup)
    with transaction.atomic(), pytest.raises(BackupError, match="不能在数据库事务中写备份文件"):
        backup_create(output=tmp_path / "other.cgbak")


def test_commands_round_trip_on_a_sqlite_file(tmp_path: Path) -> None:
    """The installed `civicgrid` command against a SQLite file in WAL mode: the path a production
    SQLite deployment takes (the in-process tests above use the test run's database)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG"}
    }
    env.update(
        CIVICGRID_HOME=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'civicgrid.sqlite3'}",
        SECRET_KEY="backup-test-key-0123456789abcdefghijklmnopqrstuvwxyz",
        PII_KEYS="k1:" + base64.b64encode(b"p" * 32).decode(),
        PII_INDEX_KEY=base64.b64encode(b"q" * 32).decode(),
        NODE_MODULES_DIR=str(REPO / "node_modules"),
        PYTHONPATH=str(REPO / "src"),
    )
    env.pop("CIVICGRID_ALLOW_DEV_KEY", None)

    def civicgrid(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "civicgrid", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def shell(code: str) -> str:
        done = civicgrid("shell", "--no-imports", "-c", code)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    count = (
        "from civicgrid.audit.models import AuditEntry; from civicgrid.accounts.models import User; "
        "print(AuditEntry.objects.count(), sorted(User.objects.values_list('username', flat=True)))"
    )
    backup = tmp_path / "backups" / "nightly.cgbak"
    backup.parent.mkdir()
    done = civicgrid("backup", "--output", str(backup))  # before migrate: nothing to back up
    assert done.returncode != 0 and "请先运行 civicgrid migrate" in done.stderr
    assert list(backup.parent.iterdir()) == []

    assert civicgrid("migrate", "-v0").returncode == 0
    shell(
        "from civicgrid.audit.services import audit_record; from civicgrid.accounts.models import User; "
        "User.objects.create_user('alice', role='auditor'); User.objects.create_user('bob', role='auditor'); "
        "audit_record(actor=None, action='test.one'); audit_record(actor=None, action='test.two')"
    )
    assert shell(count) == "2 ['alice', 'bob']"

    done = civicgrid("backup", "--output", str(backup))
    assert done.returncode == 0, done.stderr
    shell(
        "from civicgrid.audit.services import audit_record; from civicgrid.accounts.models import User; "
        "User.objects.filter(username='bob').delete(); User.objects.create_user('carol', role='auditor'); "
        "audit_record(actor=None, action='test.three')"
    )
    assert shell(count) == "3 ['alice', 'carol']"

    done = civicgrid("restore", "--input", str(backup))  # no --yes and no answer: cancelled
    assert done.returncode != 0 and "已取消" in done.stderr
    assert shell(count) == "3 ['alice', 'carol']"

    done = civicgrid("restore", "--input", str(backup), "--yes")
    assert done.returncode == 0, done.stderr
    assert "审计日志完整：已校验 2 条记录" in done.stdout
    assert shell(count) == "2 ['alice', 'bob']"
    done = civicgrid("verify-audit")
    assert done.returncode == 0, done.stderr
