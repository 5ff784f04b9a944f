"""Whole-database backup and restore for SQLite and PostgreSQL.

A backup file is a tar archive holding two members, in this order:

* `manifest.json`: format version, engine, creation time, application version, the dump's size and
  SHA-256, and the audit journal's entry count and chain head at the moment of the dump;
* the dump itself: `database.sqlite3` (a page-for-page copy made with SQLite's online backup API,
  consistent even while the application writes in WAL mode; the archive is gzip-compressed) or
  `database.pgdump` (`pg_dump --format=custom --no-owner`, taken inside the same snapshot that the
  manifest's audit figures were read from; already compressed, so the archive is not).

A restore refuses a file whose manifest is missing or malformed, whose engine differs from the
configured database, or whose dump does not match its checksum, before touching the database; then
replaces the whole database and verifies the audit chain. The management commands `backup` and
`restore` are thin wrappers over `backup_create`, `backup_inspect` and `backup_restore`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

import civicgrid
from civicgrid.audit.models import AuditChainHead, AuditEntry
from civicgrid.audit.selectors import ChainReport, audit_verify
from civicgrid.audit.services import GENESIS_HASH
from civicgrid.core.errors import DomainError

FORMAT_NAME = "civicgrid-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DUMP_NAMES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
ENGINE_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
_MANIFEST_MAX_BYTES = 64 * 1024
_CHUNK = 1024 * 1024
# How long a SQLite restore waits for other connections to let go of the database file.
SQLITE_RESTORE_BUSY_SECONDS = 30
_PG_SETTING_ENV = {"HOST": "PGHOST", "PORT": "PGPORT", "USER": "PGUSER", "PASSWORD": "PGPASSWORD"}
# libpq connection options that Django passes through OPTIONS, and the environment variable that
# carries each one to pg_dump/pg_restore.
_PG_OPTION_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "options": "PGOPTIONS",
}


class BackupError(DomainError):
    code = "backup_failed"
    status = 400


class RestoreCancelled(BackupError):
    code = "restore_cancelled"


class _DatabaseBusy(Exception):
    pass


@dataclass(frozen=True)
class BackupManifest:
    engine: str
    created_at: str
    app_version: str
    database: str
    dump_name: str
    dump_size: int
    dump_sha256: str
    audit_entries: int
    audit_head_seq: int
    audit_head_hash: str
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        data = {"format": FORMAT_NAME, **asdict(self)}
        return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")

    @property
    def engine_label(self) -> str:
        return ENGINE_LABELS.get(self.engine, self.engine)


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: BackupManifest


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    manifest: BackupManifest
    audit: ChainReport
    audit_entries: int
    audit_head_hash: str

    @property
    def matches_manifest(self) -> bool:
        """The restored journal holds exactly what the manifest says was backed up."""
        return (
            self.audit_entries == self.manifest.audit_entries and self.audit_head_hash == self.manifest.audit_head_hash
        )


# --- Backup ----------------------------------------------------------------------------------------


def backup_create(*, output: Path, force: bool = False) -> BackupResult:
    """Write a backup of the database to `output`: built in a temporary file in the same directory
    and moved into place at the end, so `output` is either absent or a complete backup. An existing
    `output` is refused unless `force`."""
    output = Path(output)
    connection = connections[DEFAULT_DB_ALIAS]
    engine = _engine(connection)
    if connection.in_atomic_block:
        # SQLite copies through this connection and would include its uncommitted changes.
        raise BackupError(_("不能在数据库事务中写备份文件 %(file)s。") % {"file": output})
    if output.is_dir():
        raise BackupError(_("备份文件 %(file)s 是一个目录，请指定文件路径。") % {"file": output})
    if output.exists() and not force:
        raise BackupError(_("备份文件 %(file)s 已存在；如需覆盖请加 --force。") % {"file": output})
    if not output.parent.is_dir():
        raise BackupError(
            _("无法写入备份文件 %(file)s：目录 %(directory)s 不存在。") % {"file": output, "directory": output.parent}
        )

    try:
        with tempfile.TemporaryDirectory(prefix=".civicgrid-backup-", dir=output.parent) as work:
            dump = Path(work) / DUMP_NAMES[engine]
            if engine == "sqlite":
                audit = _sqlite_dump(connection=connection, dump=dump)
            else:
                audit = _pg_dump(connection=connection, dump=dump)
            manifest = BackupManifest(
                engine=engine,
                created_at=datetime.now(tz=UTC).isoformat(timespec="seconds"),
                app_version=civicgrid.__version__,
                database=_database_label(connection),
                dump_name=dump.name,
                dump_size=dump.stat().st_size,
                dump_sha256=_sha256(dump),
                audit_entries=audit[0],
                audit_head_seq=audit[1],
                audit_head_hash=audit[2],
            )
            archive = Path(work) / "backup.tar"
            _write_archive(archive=archive, manifest=manifest, dump=dump, compress=engine == "sqlite")
            _move_into_place(source=archive, target=output, force=force)
    except OSError as exc:
        raise BackupError(
            _("无法写入备份文件 %(file)s：%(error)s") % {"file": output, "error": exc.strerror or exc}
        ) from exc
    return BackupResult(path=output, manifest=manifest)


def _sqlite_dump(*, connection: BaseDatabaseWrapper, dump: Path) -> tuple[int, int, str]:
    """Copy the live database page by page. The copy is one read transaction of the source, so it is
    consistent even while other connections write (WAL mode)."""
    connection.ensure_connection()
    target = sqlite3.connect(dump)
    try:
        connection.connection.backup(target)
    except sqlite3.Error as exc:
        raise BackupError(
            _("无法备份 SQLite 数据库 %(database)s：%(error)s")
            % {"database": _database_label(connection), "error": exc}
        ) from exc
    finally:
        target.close()
    copy = sqlite3.connect(dump)
    try:
        return _audit_state(copy.cursor(), quote=connection.ops.quote_name)
    except sqlite3.Error as exc:
        raise _unmigrated(connection, exc) from exc
    finally:
        copy.close()


def _pg_dump(*, connection: BaseDatabaseWrapper, dump: Path) -> tuple[int, int, str]:
    """Run pg_dump inside a snapshot exported from a repeatable-read transaction in which the audit
    figures for the manifest are read: the figures describe exactly what the dump contains."""
    pg_dump = _pg_tool("pg_dump")
    env, extra = _pg_environment(connection)
    snapshot_conn = connection.get_new_connection(connection.get_connection_params())
    try:
        snapshot_conn.autocommit = True
        cursor = snapshot_conn.cursor()
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        try:
            audit = _audit_state(cursor, quote=connection.ops.quote_name)
        except connection.Database.Error as exc:  # type: ignore[attr-defined]
            raise _unmigrated(connection, exc) from exc
        command = [
            pg_dump,
            "--format=custom",
            "--no-owner",
            f"--snapshot={snapshot}",
            f"--file={dump}",
            *extra,
            f"--dbname={connection.settings_dict['NAME']}",
        ]
        completed = subprocess.run(  # noqa: S603 - fixed program, arguments from our own settings
            command, env=env, capture_output=True, text=True, check=False
        )
        cursor.execute("COMMIT")
    finally:
        snapshot_conn.close()
    if completed.returncode != 0:
        raise BackupError(
            _("pg_dump 备份数据库 %(database)s 失败：%(output)s")
            % {"database": connection.settings_dict["NAME"], "output": _tail(completed.stderr)}
        )
    return audit


def _audit_state(cursor: Any, *, quote: Callable[[str], str]) -> tuple[int, int, str]:
    """(entry count, head sequence, head hash) of the audit journal, read through a DB-API cursor."""
    cursor.execute(f"SELECT COUNT(*) FROM {quote(AuditEntry._meta.db_table)}")  # noqa: S608 - table name
    entries = int(cursor.fetchone()[0])
    cursor.execute(
        f"SELECT last_seq, last_hash FROM {quote(AuditChainHead._meta.db_table)} WHERE id = 1"  # noqa: S608
    )
    head = cursor.fetchone()
    if head is None:
        return entries, 0, GENESIS_HASH
    return entries, int(head[0]), str(head[1])


def _unmigrated(connection: BaseDatabaseWrapper, exc: Exception) -> BackupError:
    problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    name = _database_label(connection)
    return BackupError(
        _("数据库 %(database)s 中读不到审计日志（%(problem)s）：请先运行 civicgrid migrate。")
        % {"database": name, "problem": problem}
    )


def _write_archive(*, archive: Path, manifest: BackupManifest, dump: Path, compress: bool) -> None:
    body = manifest.to_json()
    mtime = time.time()
    with tarfile.open(archive, "w:gz" if compress else "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(body)
        info.mtime = mtime
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(body))
        info = tarfile.TarInfo(dump.name)
        info.size = manifest.dump_size
        info.mtime = mtime
        info.mode = 0o600
        with dump.open("rb") as handle:
            tar.addfile(info, handle)
    with archive.open("rb") as handle:
        os.fsync(handle.fileno())


def _move_into_place(*, source: Path, target: Path, force: bool) -> None:
    """Atomically give `source` the name `target`. Without `force`, a hard link makes the no-overwrite
    check and the rename one step, so a file created meanwhile is not clobbered either."""
    os.chmod(source, 0o600)  # a backup holds personal data
    if force:
        os.replace(source, target)
    else:
        try:
            os.link(source, target)
        except FileExistsError:
            raise BackupError(_("备份文件 %(file)s 已存在；如需覆盖请加 --force。") % {"file": target}) from None
        except OSError:
            # File systems without hard links: check, then rename (a tiny window, but still atomic).
            if target.exists():
                raise BackupError(_("备份文件 %(file)s 已存在；如需覆盖请加 --force。") % {"file": target}) from None
            os.replace(source, target)
    with contextlib.suppress(OSError):
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


# --- Reading and checking a backup file -----------------------------------------------------------


def backup_inspect(*, path: Path) -> BackupManifest:
    """Check a backup file completely without touching the database: readable archive, well-formed
    manifest, engine matching the configured database, dump matching its size and checksum."""
    path = Path(path)
    engine = _engine(connections[DEFAULT_DB_ALIAS])
    with tempfile.TemporaryDirectory(prefix="civicgrid-restore-") as work:
        manifest, dump = _unpack(path=path, engine=engine, work_dir=Path(work))
        _check_dump(path=path, manifest=manifest, dump=dump)
    return manifest


def _unpack(*, path: Path, engine: str, work_dir: Path) -> tuple[BackupManifest, Path]:
    """Read the manifest, refuse a wrong engine before reading further, then extract the dump into
    `work_dir` while hashing it."""
    if not path.is_file():
        raise BackupError(_("备份文件 %(file)s 不存在或不是普通文件。") % {"file": path})
    try:
        with tarfile.open(path, "r:*") as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST_NAME or not member.isfile():
                raise BackupError(
                    _("备份文件 %(file)s 不是 CivicGrid 备份文件：缺少 %(manifest)s。")
                    % {"file": path, "manifest": MANIFEST_NAME}
                )
            if member.size > _MANIFEST_MAX_BYTES:
                raise BackupError(
                    _("备份文件 %(file)s 的 %(manifest)s 过大，文件已损坏。")
                    % {"file": path, "manifest": MANIFEST_NAME}
                )
            manifest = _parse_manifest(path=path, raw=_read_member(tar, member).read())
            if manifest.engine != engine:
                raise BackupError(
                    _(
                        "备份文件 %(file)s 来自 %(engine)s 数据库，"
                        "当前配置的数据库是 %(current)s，不能恢复到不同类型的数据库。"
                    )
                    % {"file": path, "engine": manifest.engine_label, "current": ENGINE_LABELS.get(engine, engine)}
                )
            member = tar.next()
            if member is None or member.name != manifest.dump_name or not member.isfile():
                raise BackupError(
                    _("备份文件 %(file)s 不完整：缺少数据库转储 %(dump)s。")
                    % {"file": path, "dump": manifest.dump_name}
                )
            dump = work_dir / manifest.dump_name
            digest = hashlib.sha256()
            size = 0
            with dump.open("wb") as out:
                source = _read_member(tar, member)
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if tar.next() is not None:
                raise BackupError(
                    _("备份文件 %(file)s 含有多余的内容，不是 CivicGrid 生成的备份文件。") % {"file": path}
                )
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise BackupError(
            _("备份文件 %(file)s 已损坏或不完整，无法读取（%(error)s）。") % {"file": path, "error": exc}
        ) from exc
    except OSError as exc:
        raise BackupError(
            _("无法读取备份文件 %(file)s：%(error)s") % {"file": path, "error": exc.strerror or exc}
        ) from exc
    if size != manifest.dump_size or digest.hexdigest() != manifest.dump_sha256:
        raise BackupError(
            _("备份文件 %(file)s 校验失败：数据库转储的 SHA-256 校验和与清单不符，文件已损坏或被篡改。")
            % {"file": path}
        )
    return manifest, dump


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    handle = tar.extractfile(member)
    if handle is None:  # pragma: no cover - isfile() was checked
        raise tarfile.TarError(f"cannot read {member.name}")
    return handle


def _parse_manifest(*, path: Path, raw: bytes) -> BackupManifest:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(
            _("备份文件 %(file)s 的清单 %(manifest)s 无法解析：%(error)s")
            % {"file": path, "manifest": MANIFEST_NAME, "error": exc}
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise BackupError(_("备份文件 %(file)s 不是 CivicGrid 备份文件：清单格式不对。") % {"file": path})
    if data.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            _(
                "备份文件 %(file)s 的格式版本 %(version)s 不受支持（本程序支持版本 %(supported)s），"
                "请用生成它的 CivicGrid 版本恢复。"
            )
            % {"file": path, "version": repr(data.get("format_version")), "supported": FORMAT_VERSION}
        )
    fields = {
        "engine": str,
        "created_at": str,
        "app_version": str,
        "database": str,
        "dump_name": str,
        "dump_size": int,
        "dump_sha256": str,
        "audit_entries": int,
        "audit_head_seq": int,
        "audit_head_hash": str,
    }
    for name, kind in fields.items():
        if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
            raise BackupError(_("备份文件 %(file)s 的清单缺少或写错了字段 %(field)s。") % {"file": path, "field": name})
    if data["engine"] not in DUMP_NAMES or data["dump_name"] != DUMP_NAMES[data["engine"]]:
        raise BackupError(
            _("备份文件 %(file)s 的清单写明的数据库类型 %(engine)s 不受支持。")
            % {"file": path, "engine": repr(data["engine"])}
        )
    return BackupManifest(**{name: data[name] for name in fields}, format_version=FORMAT_VERSION)


def _check_dump(*, path: Path, manifest: BackupManifest, dump: Path) -> None:
    """Beyond the checksum: the dump must be readable by the tool that restores it."""
    if manifest.engine == "sqlite":
        try:
            check = sqlite3.connect(dump)
            try:
                result = check.execute("PRAGMA integrity_check").fetchone()
            finally:
                check.close()
        except sqlite3.Error as exc:
            raise BackupError(
                _("备份文件 %(file)s 中的 SQLite 数据库无法打开：%(error)s") % {"file": path, "error": exc}
            ) from exc
        if result is None or result[0] != "ok":
            raise BackupError(
                _("备份文件 %(file)s 中的 SQLite 数据库未通过完整性检查：%(result)s") % {"file": path, "result": result}
            )
    else:
        completed = subprocess.run(  # noqa: S603 - fixed program, our own temporary file
            [_pg_tool("pg_restore"), "--list", str(dump)], capture_output=True, text=True, check=False
        )
        if completed.returncode != 0:
            raise BackupError(
                _("备份文件 %(file)s 中的 PostgreSQL 转储无法读取：%(output)s")
                % {"file": path, "output": _tail(completed.stderr)}
            )


# --- Restore ---------------------------------------------------------------------------------------


def backup_restore(
    *,
    path: Path,
    confirm: Callable[[BackupManifest], bool] | None = None,
) -> RestoreResult:
    """Replace the database with the contents of the backup file `path`, then verify the audit
    chain. The file is checked completely first; `confirm` (if given) is asked after the checks and
    before anything is changed, and a refusal raises `RestoreCancelled`.

    Stop the application first. PostgreSQL: refused while other sessions are connected to the
    database. SQLite: gives up if other connections keep the file busy for
    `SQLITE_RESTORE_BUSY_SECONDS`."""
    path = Path(path)
    connection = connections[DEFAULT_DB_ALIAS]
    engine = _engine(connection)
    if connection.in_atomic_block:
        raise BackupError(_("不能在数据库事务中从备份文件 %(file)s 恢复数据库。") % {"file": path})
    with tempfile.TemporaryDirectory(prefix="civicgrid-restore-") as work:
        manifest, dump = _unpack(path=path, engine=engine, work_dir=Path(work))
        _check_dump(path=path, manifest=manifest, dump=dump)
        if engine == "postgresql":
            _pg_check_alone(connection=connection, path=path)
        if confirm is not None and not confirm(manifest):
            raise RestoreCancelled(_("已取消从备份文件 %(file)s 恢复，数据库未作任何改动。") % {"file": path})
        if engine == "sqlite":
            _sqlite_restore(connection=connection, dump=dump, path=path)
        else:
            _pg_restore(connection=connection, dump=dump, path=path)
    report = audit_verify()
    head = AuditChainHead.objects.filter(pk=1).first()
    return RestoreResult(
        path=path,
        manifest=manifest,
        audit=report,
        audit_entries=AuditEntry.objects.count(),
        audit_head_hash=head.last_hash if head is not None else GENESIS_HASH,
    )


def _sqlite_restore(*, connection: BaseDatabaseWrapper, dump: Path, path: Path) -> None:
    """Copy the dump into the live database with the backup API. A file database is written through
    a connection of its own after Django's is closed; an in-memory database (tests) exists only in
    the live connection, so it is the target."""
    if connection.is_in_memory_db():  # type: ignore[attr-defined]
        connection.ensure_connection()
        target = connection.connection
        own_target = False
    else:
        connection.close()
        target = sqlite3.connect(connection.settings_dict["NAME"], timeout=SQLITE_RESTORE_BUSY_SECONDS)
        own_target = True

    def give_up_when_busy(status: int, remaining: int, total: int) -> None:
        # Called after every step; the step itself already waited for the busy timeout.
        if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise _DatabaseBusy

    source = sqlite3.connect(dump)
    try:
        source.backup(target, progress=give_up_when_busy)
    except _DatabaseBusy:
        raise BackupError(
            _(
                "无法从备份文件 %(file)s 恢复："
                "SQLite 数据库 %(database)s 正被其他进程使用，"
                "请先停止 CivicGrid 服务（systemctl stop civicgrid）。"
                "数据库未改动。"
            )
            % {"file": path, "database": _database_label(connection)}
        ) from None
    except sqlite3.Error as exc:
        raise BackupError(
            _("从备份文件 %(file)s 恢复 SQLite 数据库失败：%(error)s") % {"file": path, "error": exc}
        ) from exc
    finally:
        source.close()
        if own_target:
            target.close()


def _pg_restore(*, connection: BaseDatabaseWrapper, dump: Path, path: Path) -> None:
    """pg_restore in one transaction: either the whole backup replaces the database or nothing
    changes. Django's connection is closed first (and after, so no stale session state survives)."""
    pg_restore = _pg_tool("pg_restore")
    env, extra = _pg_environment(connection)
    connection.close()
    command = [
        pg_restore,
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        *extra,
        f"--dbname={connection.settings_dict['NAME']}",
        str(dump),
    ]
    completed = subprocess.run(  # noqa: S603 - fixed program, arguments from our own settings
        command, env=env, capture_output=True, text=True, check=False
    )
    connection.close()
    if completed.returncode != 0:
        raise BackupError(
            _("从备份文件 %(file)s 恢复 PostgreSQL 数据库 %(database)s 失败，数据库未改动。pg_restore 报告：%(output)s")
            % {"file": path, "database": connection.settings_dict["NAME"], "output": _tail(completed.stderr)}
        )


def _pg_check_alone(*, connection: BaseDatabaseWrapper, path: Path) -> None:
    """pg_restore --clean drops every table; a session of the running application would hold locks
    that make it wait indefinitely (pg_dump archives reset lock_timeout), so refuse up front."""
    with connection.cursor() as cursor:
        cursor.execute(
            # Other roles' rows hide backend_type from an unprivileged user; autovacuum has no user.
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND usename IS NOT NULL "
            "AND coalesce(backend_type, 'client backend') = 'client backend'"
        )
        others = int(cursor.fetchone()[0])
    if others:
        raise BackupError(
            ngettext(
                "无法从备份文件 %(file)s 恢复：还有 %(n)d 个其他会话连接着数据库 %(database)s。"
                "请先停止 CivicGrid 服务（systemctl stop civicgrid）和其他连接该数据库的程序。数据库未改动。",
                "无法从备份文件 %(file)s 恢复：还有 %(n)d 个其他会话连接着数据库 %(database)s。"
                "请先停止 CivicGrid 服务（systemctl stop civicgrid）和其他连接该数据库的程序。数据库未改动。",
                others,
            )
            % {"file": path, "n": others, "database": connection.settings_dict["NAME"]}
        )


# --- Helpers ---------------------------------------------------------------------------------------


def _engine(connection: BaseDatabaseWrapper) -> str:
    if connection.vendor not in DUMP_NAMES:
        raise BackupError(
            _("不支持备份 %(engine)s 数据库：仅支持 SQLite 和 PostgreSQL。") % {"engine": connection.vendor}
        )
    return str(connection.vendor)


def _database_label(connection: BaseDatabaseWrapper) -> str:
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite":
        return _("(内存数据库)") if connection.is_in_memory_db() else Path(name).name  # type: ignore[attr-defined]
    return name


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            _("找不到 %(command)s 命令：请安装与服务器版本一致的 PostgreSQL 客户端（postgresql-client）。")
            % {"command": name}
        )
    return found


def _pg_environment(connection: BaseDatabaseWrapper) -> tuple[dict[str, str], list[str]]:
    """Connection settings for pg_dump/pg_restore as libpq environment variables, so the password
    never appears on a command line; plus command-line options that have no variable."""
    settings = connection.settings_dict
    env = dict(os.environ)
    for key, variable in _PG_SETTING_ENV.items():
        if settings.get(key):
            env[variable] = str(settings[key])
    options = settings.get("OPTIONS") or {}
    for option, variable in _PG_OPTION_ENV.items():
        if options.get(option) not in (None, ""):
            env[variable] = str(options[option])
    extra = [f"--role={options['assume_role']}"] if options.get("assume_role") else []
    return env, extra


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _tail(text: str, *, lines: int = 8) -> str:
    return " | ".join(line for line in text.strip().splitlines()[-lines:]) or _("（无输出）")


def iter_summary(manifest: BackupManifest) -> Iterator[str]:
    """Human-readable lines describing a backup, for the commands."""
    yield _("创建时间：%(created)s（程序版本 %(version)s）") % {
        "created": manifest.created_at,
        "version": manifest.app_version,
    }
    yield _("数据库：%(engine)s %(database)s") % {"engine": manifest.engine_label, "database": manifest.database}
    yield _("转储：%(dump)s，%(size)s 字节，SHA-256 %(sha256)s") % {
        "dump": manifest.dump_name,
        "size": manifest.dump_size,
        "sha256": manifest.dump_sha256,
    }
    yield (
        _("审计日志：%(entries)s 条，链头 #%(seq)s %(hash)s…")
        % {"entries": manifest.audit_entries, "seq": manifest.audit_head_seq, "hash": manifest.audit_head_hash[:16]}
    )
