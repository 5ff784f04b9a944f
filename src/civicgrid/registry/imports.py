"""Bulk import of the register from the spreadsheets towns actually send.

**Files.** CSV in UTF-8 (with or without BOM) or GB18030 (a superset of GBK and GB2312): the encoding is
found by decoding the first megabyte as UTF-8 and falling back to GB18030, and the report says which was
used. XLSX through openpyxl in read-only mode with formulas kept (`data_only=False`), so a formula cell is
reported instead of silently importing a cached value. The format is decided by the file's first bytes,
not its name. A title row or two above the header is skipped: the header is the first of the first 20 rows
that names at least three known columns. `COLUMNS` lists the headers accepted for each field.

**Two steps.** `import_validate` (the dry run) reads every row, checks it exactly as the commit will —
person (`services.clean_person`), address, community in the actor's area, duplicates within the file, the
one-active-residence rule against the register — and keeps the outcome as an `ImportJob` with its problems
(row, column, problem, in the user's language), downloadable as CSV or XLSX. `import_commit` reads the file
again, checks every row again against the register as it is then, and writes: `all_or_nothing` in one
transaction that is rolled back if any row has a problem, `valid_only` skipping the rows with problems.
Rows that are already in the register (same document number, already active at the same address) change
nothing, so importing a file twice is the same as importing it once.

**Fast path.** Rows are read in batches and handled in chunks of `CHUNK_ROWS`, column by column: resident
ID numbers are checked with numpy for the whole chunk, and only rows that are not plainly valid go through
`clean_person` (which gives the exact messages); `fast_clean_person` is tested to agree with `clean_person`
wherever it answers. Identity numbers and phones are encrypted and indexed with `pii.encrypt_many` /
`pii.blind_index_many`, new buildings are stamped with `geo.selectors.stamp_points` against the current
layer, and buildings, houses, persons, residence records and their register actions are written per chunk
with their primary keys allocated up front (sequence values on PostgreSQL; on SQLite the import holds the
write lock, so the next free ids). PostgreSQL gets COPY data formatted here and streamed by a thread while
the next chunk is checked, with the foreign keys checked as each COPY ends; SQLite gets `executemany`. The
existing rows of a chunk are found with one query per table; for a large file the register's keys are read
once first, so that only possible hits are looked up, and on PostgreSQL stale statistics are refreshed
before and after (see docs/benchmarks.md for what each of these saves). One audit entry records each dry
run, commit and report download (who, which file by SHA-256, what mode, the counts); register actions
carry the job and the row number.

**Memory.** Rows are streamed and dropped after their chunk. What grows with the file is the set of
document numbers seen (for duplicates: 8-byte keys and 4-byte row numbers in sorted numpy runs), during the
dry run the keys of buildings and houses that would be created, and for a large file the register's keys;
problems kept are capped at `MAX_PROBLEMS` (all are counted). On SQLite the commit gives the connection a
larger page cache (`SQLITE_CACHE_KIB`) for its transaction.

**Concurrency.** One commit runs at a time (an advisory lock on PostgreSQL, the write lock on SQLite). A
person registered by a clerk while the file is being imported makes the commit fail cleanly — nothing
written, the job `failed`, ready to run again — rather than register anyone twice. Pages and the API run the
steps within the request; a file of a million rows is for the `import_register` command.

**The file between the steps.** An uploaded file is kept under `DATA_DIR/imports`, sealed with the
personal-information key (AES-256-GCM in 1 MiB blocks, each bound to the job and its position), and deleted
after a successful commit or after `FILE_TTL`. An XLSX file is unsealed into an anonymous temporary file
while it is read (the zip format needs random access). A file given by path (the management command) is not
copied: its SHA-256 is checked again at commit.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import os
import re
import struct
import sys
import tempfile
import threading
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Model, Q, QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.accounts.selectors import scope_root
from civicgrid.audit.models import AuditEntry
from civicgrid.audit.services import audit_record
from civicgrid.core import pii
from civicgrid.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from civicgrid.core.idnumbers import RESIDENT_ID_CHECK_CHARS, RESIDENT_ID_WEIGHTS, DocumentType
from civicgrid.orgunits.models import Level, OrgUnit
from civicgrid.registry import addresses
from civicgrid.registry.models import (
    Building,
    BuildingStamp,
    House,
    HouseUse,
    Person,
    ResidenceAction,
    ResidenceRecord,
)
from civicgrid.registry.models_imports import ImportJob, ImportProblem
from civicgrid.registry.services import ID_FIELD, PHONE_FIELD, CleanPerson, PersonInput, clean_person

CHUNK_ROWS = 10_000
MAX_PROBLEMS = 100_000
HEADER_SCAN_ROWS = 20
SNIFF_BYTES = 1 << 20
STORE_BLOCK = 1 << 20
FILE_TTL = dt.timedelta(days=2)
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
SOURCE_IMPORT = "import"

Mode = ImportJob.Mode
Status = ImportJob.Status
Phase = ImportProblem.Phase

# How the counts of a dry run and of a commit are labelled (keys of `ImportJob.summary["dry_run"|"commit"]`).
COUNT_LABELS: dict[str, Any] = {
    "new": gettext_lazy("新登记（新人员）"),
    "register": gettext_lazy("新登记（已有人员）"),
    "updated": gettext_lazy("已在住，信息有更新"),
    "unchanged": gettext_lazy("已在住，无变化"),
    "buildings_created": gettext_lazy("新建建筑物"),
    "buildings_located": gettext_lazy("补充坐标的建筑物"),
    "houses_created": gettext_lazy("新建房屋"),
    "persons_created": gettext_lazy("新建人员"),
    "persons_changed": gettext_lazy("更新人员信息"),
    "residences_registered": gettext_lazy("新增居住登记"),
}


# --- columns ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    field: str
    label: str  # the usual header, used when the column is missing
    aliases: tuple[str, ...]
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", ("姓名",), required=True),
    Column("id_type", "证件类型", ("证件类型", "证件种类")),
    Column("id_number", "证件号码", ("证件号码", "身份证号", "身份证号码", "公民身份号码", "证件号"), required=True),
    Column("sex", "性别", ("性别",)),
    Column("birth_date", "出生日期", ("出生日期",)),
    Column("phone", "联系电话", ("联系电话", "手机号码", "电话", "手机号", "手机", "联系方式")),
    Column("hukou_place", "户籍地", ("户籍地", "户籍地址", "户籍地详址")),
    Column("employer", "工作单位", ("工作单位", "服务处所")),
    Column("permit_status", "居住证", ("居住证", "居住证状态")),
    Column("town", "镇街", ("镇街", "镇(街)", "街镇", "镇街道", "所属镇街")),
    Column("community", "社区", ("社区", "社区(村)", "村居", "村(社区)", "所属社区", "社区名称"), required=True),
    Column("road", "路街巷", ("路", "街路巷", "路街巷", "路/街/巷", "街路巷名称"), required=True),
    Column("door_number", "门牌号", ("门牌号", "门(楼)牌号", "门楼牌号"), required=True),
    Column("building", "楼栋", ("楼栋", "栋", "楼栋号")),
    Column("room", "房号", ("房号", "室", "房间号", "室号")),
    Column("use", "房屋用途", ("房屋用途",)),
    Column("registered_on", "登记日期", ("登记日期", "入住日期")),
    Column("lon", "经度", ("经度",)),
    Column("lat", "纬度", ("纬度",)),
    Column("crs", "坐标系", ("坐标系",)),
)
COLUMN_BY_FIELD = {c.field: c for c in COLUMNS}
_REQUIRED_MARKS = re.compile(r"^[*＊]+|[*＊]+$|[(（]必填[)）]$")


def header_key(text: Any) -> str:
    """A header as compared: NFKC (full-width brackets become ASCII), no whitespace, no required-field
    marks ("*姓名", "姓名（必填）")."""
    value = "".join(unicodedata.normalize("NFKC", str(text or "")).split())
    return _REQUIRED_MARKS.sub("", value)


_ALIAS_FIELD = {header_key(alias): column.field for column in COLUMNS for alias in column.aliases}


def _value_key(text: str) -> str:
    return addresses.normalise(text)


class _Lookup:
    """A value map read through `_value_key`, memoised on the raw cell text (cells repeat a lot)."""

    def __init__(self, table: dict[str, str]):
        self.table = table
        self.memo: dict[str, str | None] = {}

    def get(self, raw: str) -> str | None:
        try:
            return self.memo[raw]
        except KeyError:
            if len(self.memo) > 10_000:
                self.memo.clear()
            found = self.memo[raw] = self.table.get(_value_key(raw))
            return found


def _choices(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {_value_key(word): code for word, code in pairs}


ID_TYPES = _choices(
    [(str(label), code) for code, label in DocumentType.choices]
    + [(code, code) for code in DocumentType.values]
    + [
        ("身份证", DocumentType.RESIDENT_ID),
        ("二代身份证", DocumentType.RESIDENT_ID),
        ("居民身份证号码", DocumentType.RESIDENT_ID),
        ("港澳通行证", DocumentType.HK_MACAU_PERMIT),
        ("回乡证", DocumentType.HK_MACAU_PERMIT),
        ("台胞证", DocumentType.TAIWAN_PERMIT),
        ("台湾居民来往大陆通行证", DocumentType.TAIWAN_PERMIT),
        ("港澳台居住证", DocumentType.RESIDENCE_PERMIT),
        ("永久居留证", DocumentType.FOREIGN_PERMANENT),
        ("外国人永久居留证", DocumentType.FOREIGN_PERMANENT),
    ]
)
SEXES = _choices([("男", "M"), ("女", "F"), ("男性", "M"), ("女性", "F"), ("M", "M"), ("F", "F")])
PERMITS = _choices(
    [(str(label), code) for code, label in Person.PermitStatus.choices]
    + [(code, code) for code in Person.PermitStatus.values]
    + [
        ("无", Person.PermitStatus.NONE),
        ("否", Person.PermitStatus.NONE),
        ("未办", Person.PermitStatus.NONE),
        ("申请中", Person.PermitStatus.APPLIED),
        ("办理中", Person.PermitStatus.APPLIED),
        ("有", Person.PermitStatus.VALID),
        ("是", Person.PermitStatus.VALID),
        ("已办理", Person.PermitStatus.VALID),
        ("已办", Person.PermitStatus.VALID),
        ("过期", Person.PermitStatus.EXPIRED),
    ]
)
USES = _choices(
    [(str(label), code) for code, label in HouseUse.choices]
    + [(code, code) for code in HouseUse.values]
    + [
        ("出租屋", HouseUse.RENTED),
        ("租住", HouseUse.RENTED),
        ("商铺", HouseUse.COMMERCIAL),
        ("经营", HouseUse.COMMERCIAL),
        ("闲置", HouseUse.VACANT),
        ("三合一场所", HouseUse.THREE_IN_ONE),
    ]
)
CRS_WORDS = _choices(
    [
        ("WGS-84", "wgs84"),
        ("WGS84", "wgs84"),
        ("CGCS2000", "wgs84"),
        ("2000", "wgs84"),
        ("GPS", "wgs84"),
        ("GCJ-02", "gcj02"),
        ("GCJ02", "gcj02"),
        ("高德", "gcj02"),
        ("腾讯", "gcj02"),
        ("火星坐标", "gcj02"),
        ("BD-09", "bd09"),
        ("BD09", "bd09"),
        ("百度", "bd09"),
    ]
)
_PERMIT_VALUES = frozenset(Person.PermitStatus.values)
_ACTIVE = str(ResidenceRecord.State.ACTIVE)
_RESIDENT = str(DocumentType.RESIDENT_ID)
_MAX_LENGTHS = {"road": 100, "door_number": 30, "building": 60, "room": 30}
# Mainland China, generously: a coordinate outside is a typing error or swapped columns.
_LON_RANGE = (73.0, 136.0)
_LAT_RANGE = (3.0, 54.0)


# --- results ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    row: int  # 0: the file as a whole
    column: str
    problem: str


class ImportFileError(DomainError):
    """The file cannot be read as a register spreadsheet at all (the job records it as rejected)."""

    code = "import_file_rejected"
    status = 400


class _Abort(Exception):
    """Raised inside the commit transaction to roll it back."""


# --- the sealed store ---------------------------------------------------------------------------------

_MAGIC = b"CGIMP1\n"
_BLOCK_HEAD = struct.Struct(">IB")  # sealed length, final flag


def store_dir() -> Path:
    path = Path(settings.DATA_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _aad(token: str, index: int, final: bool) -> bytes:
    return f"civicgrid-import|{token}|{index}|{int(final)}".encode("ascii")


class _SealedWriter:
    """Writes a file in AES-256-GCM blocks under the current personal-information key."""

    def __init__(self, path: Path, token: str):
        ring = pii.keyring()
        self._cipher = ring.ciphers[ring.current_id]
        self._token = token
        self._index = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        key_id = ring.current_id.encode("ascii")
        self._file.write(_MAGIC + bytes([len(key_id)]) + key_id)

    def _block(self, data: bytes, final: bool) -> None:
        nonce = os.urandom(pii.NONCE_BYTES)
        sealed = self._cipher.encrypt(nonce, data, _aad(self._token, self._index, final))
        self._file.write(_BLOCK_HEAD.pack(len(sealed), int(final)) + nonce + sealed)
        self._index += 1

    def write(self, data: bytes) -> None:
        for start in range(0, len(data), STORE_BLOCK):
            self._block(data[start : start + STORE_BLOCK], False)

    def close(self) -> None:
        self._block(b"", True)
        self._file.close()


class _SealedReader(io.RawIOBase):
    """Reads back what `_SealedWriter` wrote; a tampered, truncated or misplaced block raises."""

    def __init__(self, path: Path, token: str):
        super().__init__()
        self._file = path.open("rb")
        self._token = token
        self._index = 0
        self._buffer = b""
        self._done = False
        head = self._file.read(len(_MAGIC) + 1)
        if len(head) != len(_MAGIC) + 1 or not head.startswith(_MAGIC):
            raise ImportFileError(_("保存的导入文件已损坏，请重新上传"))
        key_id = self._file.read(head[-1]).decode("ascii", "replace")
        cipher = pii.keyring().ciphers.get(key_id)
        if cipher is None:
            raise ImportFileError(_("保存的导入文件的密钥已不可用，请重新上传"))
        self._cipher = cipher

    def readable(self) -> bool:
        return True

    def _next_block(self) -> None:
        head = self._file.read(_BLOCK_HEAD.size + pii.NONCE_BYTES)
        if len(head) < _BLOCK_HEAD.size + pii.NONCE_BYTES:
            raise ImportFileError(_("保存的导入文件不完整，请重新上传"))
        length, final = _BLOCK_HEAD.unpack(head[: _BLOCK_HEAD.size])
        nonce = head[_BLOCK_HEAD.size :]
        sealed = self._file.read(length)
        try:
            self._buffer = self._cipher.decrypt(nonce, sealed, _aad(self._token, self._index, bool(final)))
        except Exception:  # InvalidTag: tampered, truncated or from another job
            raise ImportFileError(_("保存的导入文件已损坏，请重新上传")) from None
        self._index += 1
        self._done = bool(final)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._buffer and not self._done:
            self._next_block()
        count = min(len(view), len(self._buffer))
        view[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def purge_stored_files(*, older_than: dt.timedelta = FILE_TTL) -> int:
    """Delete sealed upload copies older than `older_than` (their jobs keep the report). Returns how many."""
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    for path in store_dir().glob("*.sealed"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    if removed:
        ImportJob.objects.filter(stored_file__endswith=".sealed").exclude(
            stored_file__in=[p.name for p in store_dir().glob("*.sealed")]
        ).update(stored_file="")
    return removed


# --- reading the file ---------------------------------------------------------------------------------

# Rows are read in batches: their numbers in the file, their cells as text, and the problems of single
# cells (formula, error value, lost precision) by row number and column.
Batch = tuple[list[int], list[list[str]], dict[int, dict[int, str]]]
READ_ROWS = 10_000


@dataclass
class _Opened:
    file_format: str
    encoding: str
    batches: Iterator[Batch]


def _encoding_label(encoding: str) -> str:
    return {"utf-8-sig": _("UTF-8（带 BOM）"), "utf-8": "UTF-8", "gb18030": _("GB18030（兼容 GBK）")}[encoding]


def sniff_format(head: bytes, filename: str) -> str:
    """'csv' or 'xlsx' from the first bytes (the name only decides for an empty file)."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(_("不支持旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV 后再上传"))
    if not head:
        raise ImportFileError(_("文件是空的（0 字节）"))
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise ImportFileError(_("Excel 文件已损坏或不是 .xlsx 格式"))
    return "csv"


def sniff_encoding(head: bytes) -> str:
    """'utf-8-sig', 'utf-8' or 'gb18030' for CSV text, or ImportFileError."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or head[:200].count(b"\x00") > 10:
        raise ImportFileError(_("文件是 UTF-16 编码（Excel 的“Unicode 文本”），请另存为“CSV UTF-8（逗号分隔）”"))
    if b"\x00" in head:
        raise ImportFileError(_("文件含有二进制内容，不是 CSV 文本文件"))
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    raise ImportFileError(_("无法识别文件编码：请另存为 UTF-8 或 GBK（GB18030）编码的 CSV"))


def _csv_batches(stream: IO[bytes], encoding: str) -> Iterator[Batch]:
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    number = 0
    reader: Any = None
    try:
        first = text.readline()
        dialect = "excel-tab" if first.count("\t") > first.count(",") else "excel"
        reader = csv.reader(itertools.chain((first,), text) if first else text, dialect=dialect)
        while rows := list(itertools.islice(reader, READ_ROWS)):
            yield list(range(number + 1, number + 1 + len(rows))), rows, {}
            number += len(rows)
    except UnicodeDecodeError:
        line = reader.line_num + 1 if reader is not None else 1
        raise ImportFileError(
            _("第 %(row)d 行附近的内容不是 %(encoding)s 编码，文件中的编码不一致：请另存为 UTF-8 编码的 CSV")
            % {"row": line, "encoding": _encoding_label(encoding)}
        ) from None
    except csv.Error as exc:
        line = reader.line_num if reader is not None else 1
        raise ImportFileError(_("第 %(row)d 行不是有效的 CSV：%(error)s") % {"row": line, "error": exc}) from None


_FORMULA = "formula"
_ERROR = "error"
_PRECISION = "precision"


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_batches(stream: IO[bytes]) -> Iterator[Batch]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(stream, read_only=True, data_only=False)
    except Exception as exc:  # a broken zip, missing parts, bad XML: openpyxl raises many kinds
        raise ImportFileError(_("Excel 文件已损坏或不是 .xlsx 格式")) from exc
    try:
        if not book.worksheets:
            raise ImportFileError(_("Excel 文件中没有工作表"))
        sheet = book.worksheets[0]
        numbers: list[int] = []
        rows: list[list[str]] = []
        flagged: dict[int, dict[int, str]] = {}
        for number, cells in enumerate(sheet.iter_rows(min_row=1, min_col=1), start=1):
            texts: list[str] = []
            flags: dict[int, str] = {}
            for index, cell in enumerate(cells):
                value = cell.value
                kind = cell.data_type
                if kind == "f":
                    flags[index] = _FORMULA
                    texts.append("")
                elif kind == "e":
                    flags[index] = _ERROR + ":" + str(value)
                    texts.append("")
                else:
                    if isinstance(value, float) and abs(value) >= 1e15:
                        flags[index] = _PRECISION
                    texts.append(_cell_text(value))
            numbers.append(number)
            rows.append(texts)
            if flags:
                flagged[number] = flags
            if len(rows) >= READ_ROWS:
                yield numbers, rows, flagged
                numbers, rows, flagged = [], [], {}
        if rows:
            yield numbers, rows, flagged
    except ImportFileError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
        raise ImportFileError(_("Excel 文件已损坏或不是 .xlsx 格式")) from exc
    finally:
        book.close()


class _Source:
    """The bytes of a job, re-openable: a path given by an operator, or the sealed copy of an upload."""

    def __init__(self, job: ImportJob):
        self.job = job

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        job = self.job
        if job.source_path:
            with Path(job.source_path).open("rb") as file:
                yield file
            return
        if not job.stored_file:
            raise ImportFileError(_("预检时保存的文件已过期或被清理，请重新上传"))
        path = store_dir() / job.stored_file
        if not path.exists():
            raise ImportFileError(_("预检时保存的文件已过期或被清理，请重新上传"))
        raw = _SealedReader(path, str(job.token))
        try:
            yield cast(IO[bytes], io.BufferedReader(raw, buffer_size=STORE_BLOCK))
        finally:
            raw.close()

    @contextlib.contextmanager
    def rows(self) -> Iterator[_Opened]:
        with self.open() as stream:
            head = stream.read(SNIFF_BYTES)
        file_format = sniff_format(head, self.job.filename)
        if file_format == "xlsx":
            with self.open() as stream, _seekable(stream, self.job) as seekable:
                yield _Opened("xlsx", "", _xlsx_batches(seekable))
            return
        encoding = sniff_encoding(head)
        with self.open() as stream:
            yield _Opened("csv", encoding, _csv_batches(stream, encoding))


@contextlib.contextmanager
def _seekable(stream: IO[bytes], job: ImportJob) -> Iterator[IO[bytes]]:
    if job.source_path:
        yield stream
        return
    with tempfile.TemporaryFile(dir=store_dir()) as plain:
        while block := stream.read(STORE_BLOCK):
            plain.write(block)
        plain.seek(0)
        yield cast(IO[bytes], plain)


# --- values -------------------------------------------------------------------------------------------

_DATE_FORMS = (
    re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)


def parse_date(text: str) -> dt.date:
    """2026-03-01, 2026/3/1, 2026.3.1, 2026年3月1日, 20260301 (a time after the date is ignored)."""
    value = unicodedata.normalize("NFKC", text).strip()
    for form in _DATE_FORMS:
        match = form.fullmatch(value)
        if match:
            try:
                return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                break
    raise ValueError(_("日期“%(value)s”无法识别（请填写如 2026-03-01）") % {"value": text})


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)
_WEIGHTS = np.array(RESIDENT_ID_WEIGHTS, dtype=np.int32)
_CHECK_BYTES = np.frombuffer(RESIDENT_ID_CHECK_CHARS.encode("ascii"), dtype=np.uint8)


def check_resident_ids(
    numbers: Sequence[str], *, today: dt.date
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """For canonical 18-character ASCII numbers: (valid, birth date as YYYYMMDD, male), vectorised with the
    rules of `idnumbers.parse_resident_id` (digits, check character, a real date from 1900 to `today`)."""
    count = len(numbers)
    if not count:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    raw = np.frombuffer("".join(numbers).encode("ascii"), dtype=np.uint8).reshape(count, 18)
    head = raw[:, :17]
    last = raw[:, 17]
    ok = ((head >= 48) & (head <= 57)).all(axis=1) & (((last >= 48) & (last <= 57)) | (last == 88))
    digits = head.astype(np.int32) - 48
    ok &= _CHECK_BYTES[(digits @ _WEIGHTS) % 11] == last
    year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + (leap & (month == 2))
    ymd = year.astype(np.int64) * 10000 + month * 100 + day
    today_ymd = today.year * 10000 + today.month * 100 + today.day
    ok &= month_ok & (day >= 1) & (day <= days) & (year >= 1900) & (ymd <= today_ymd)
    return ok, ymd, digits[:, 16] % 2 == 1


def _plain_phone(phone: str) -> bool:
    """ASCII digits only, which `services.clean_phone` returns unchanged: 7–12 digits, a mobile number if
    11. Anything else (dashes, spaces, full-width digits) goes through `clean_phone`."""
    return 7 <= len(phone) <= 12 and phone.isascii() and phone.isdigit() and (len(phone) != 11 or phone[0] == "1")


def fast_clean_person(data: PersonInput, *, today: dt.date) -> CleanPerson | None:
    """`clean_person` for the plain case (a canonical resident ID, a phone of plain digits or none, stated sex
    and birth date agreeing), or None: then `clean_person` decides. One row at a time, for the tests; the
    import runs the same rules column-wise in `_Pass._persons`."""
    number = data.id_number
    if (data.id_type or _RESIDENT) != _RESIDENT or len(number) != 18 or not number.isascii():
        return None
    ok, ymd, male = check_resident_ids([number], today=today)
    if not ok[0]:
        return None
    born = dt.date(int(ymd[0]) // 10000, int(ymd[0]) // 100 % 100, int(ymd[0]) % 100)
    sex = "M" if male[0] else "F"
    name = data.name.strip()
    permit = data.permit_status or Person.PermitStatus.NONE
    if (
        not name
        or len(name) > 60
        or data.sex not in ("", sex)
        or data.birth_date not in (None, born)
        or (data.phone and not _plain_phone(data.phone))
        or permit not in _PERMIT_VALUES
        or data.hukou_region
    ):
        return None
    region = number[:6]
    return CleanPerson(
        id_type=_RESIDENT,
        id_number=number,
        name=name,
        sex=sex,
        birth_date=born,
        phone=data.phone,
        hukou_place=data.hukou_place.strip()[:120],
        hukou_region=region,
        is_migrant=not addresses.is_guangzhou(region),
        employer=data.employer.strip()[:120],
        permit_status=permit,
    )


# --- communities --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Community:
    pk: int
    code: str
    name: str
    path: str
    town_code: str
    town_name: str


_COMMITTEE = (
    ("居民委员会", "社区"),
    ("社区居委会", "社区"),
    ("居委会", "社区"),
    ("村民委员会", "村"),
    ("村委会", "村"),
)


def _community_keys(name: str) -> set[str]:
    """The names a community is known by: 德兴社区居民委员会, 德兴社区, 德兴; 沙北村民委员会, 沙北村, 沙北;
    河村村民委员会, 河村, 河村村."""
    key = _value_key(name)
    keys = {key}
    for suffix, kind in _COMMITTEE:
        if key.endswith(suffix) and len(key) > len(suffix):
            stripped = key[: -len(suffix)]  # 德兴社区, 沙北, 河村 (of 河村村民委员会)
            core = stripped.removesuffix(kind) or stripped
            keys.update({stripped, stripped + kind, core, core + kind})
            break
    return keys


def _typed_key(text: str) -> str:
    """How a typed community name is looked up: committee suffixes shortened (沙北村委会 → 沙北村)."""
    key = _value_key(text)
    for suffix, kind in _COMMITTEE:
        if key.endswith(suffix) and len(key) > len(suffix):
            core = key[: -len(suffix)].removesuffix(kind) or key[: -len(suffix)]
            return core + kind
    return key


def _town_short(name: str) -> str:
    for suffix in ("街道办事处", "街道", "镇人民政府", "镇"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class _Communities:
    """Finds the community of a row by 12-digit code or by name (full or short, e.g. 德兴社区), with the
    town (镇街) to tell apart communities of the same name; and checks it lies in the actor's area."""

    def __init__(self, root_path: str):
        self.root_path = root_path
        self.by_code: dict[str, _Community] = {}
        self.by_name: dict[str, list[_Community]] = {}
        rows = OrgUnit.objects.filter(level=Level.COMMUNITY).values_list(
            "pk", "code", "name", "path", "parent__code", "parent__name"
        )
        for pk, code, name, path, town_code, town_name in rows:
            community = _Community(pk, code, name, path, town_code or "", town_name or "")
            self.by_code[code] = community
            for key in _community_keys(name):
                self.by_name.setdefault(key, []).append(community)
        self.cache: dict[tuple[str, str], tuple[_Community | None, str]] = {}
        # Every unit's level, so that resolving never queries (the writer thread may hold the connection).
        self.levels = dict(OrgUnit.objects.values_list("code", "level"))

    def _town_matches(self, community: _Community, town: str) -> bool:
        key = _value_key(town)
        return key in {
            _value_key(community.town_code),
            _value_key(community.town_name),
            _value_key(_town_short(community.town_name)),
        }

    def resolve(self, town: str, value: str) -> tuple[_Community | None, str]:
        """(community, "") or (None, problem)."""
        cache_key = (town, value)
        found = self.cache.get(cache_key)
        if found is None:
            found = self._resolve(town, value)
            self.cache[cache_key] = found
        return found

    def _resolve(self, town: str, value: str) -> tuple[_Community | None, str]:
        text = value.strip()
        if not text:
            return None, _("请填写社区")
        code = _value_key(text)
        community: _Community | None
        if code.isdigit() and len(code) == 12:
            community = self.by_code.get(code)
            if community is None:
                level = self.levels.get(code)
                if level is not None:
                    return None, _("“%(value)s”是%(level)s，不是社区/村") % {
                        "value": text,
                        "level": Level(level).label,
                    }
                return None, _("社区代码“%(value)s”不存在") % {"value": text}
        else:
            candidates = self.by_name.get(code) or self.by_name.get(_typed_key(text), [])
            if town.strip() and len(candidates) > 1:
                candidates = [c for c in candidates if self._town_matches(c, town)] or candidates
            if not candidates:
                return None, _("社区“%(value)s”不存在") % {"value": text}
            if len(candidates) > 1:
                return None, _("社区名称“%(value)s”在多个镇街都有，请填写镇街或 12 位社区代码") % {"value": text}
            community = candidates[0]
        if town.strip() and not self._town_matches(community, town):
            return None, _("社区“%(community)s”不属于镇街“%(town)s”") % {"community": text, "town": town.strip()}
        if not community.path.startswith(self.root_path):
            return None, _("社区“%(value)s”不在您的辖区内") % {"value": text}
        return community, ""


# --- keys seen in this file ---------------------------------------------------------------------------


class SeenKeys:
    """64-bit keys with the row of their first occurrence, kept as sorted numpy runs merged like a binary
    counter: 12 bytes a key, a lookup costs one binary search per run (at most log2 of the chunks)."""

    def __init__(self) -> None:
        self._runs: list[tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32]]] = []

    def __len__(self) -> int:
        return sum(len(keys) for keys, _rows in self._runs)

    def first_rows(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """The row of each key's first occurrence, 0 for keys not seen."""
        found = np.zeros(len(keys), dtype=np.int64)
        for run_keys, run_rows in self._runs:
            at = np.minimum(np.searchsorted(run_keys, keys), len(run_keys) - 1)
            hit = run_keys[at] == keys
            found[hit] = run_rows[at[hit]]
        return found

    def add(self, keys: npt.NDArray[np.uint64], rows: npt.NDArray[np.uint32]) -> None:
        """Add keys not seen before."""
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        merged_keys, merged_rows = keys[order], rows[order]
        while self._runs and len(self._runs[-1][0]) <= len(merged_keys):
            run_keys, run_rows = self._runs.pop()
            merged_keys = np.concatenate([run_keys, merged_keys])
            merged_rows = np.concatenate([run_rows, merged_rows])
            order = np.argsort(merged_keys, kind="stable")
            merged_keys, merged_rows = merged_keys[order], merged_rows[order]
        self._runs.append((merged_keys, merged_rows))


def _key64(hexdigest: str) -> int:
    return int(hexdigest[:16], 16)


def _keys64(hexdigests: Sequence[str]) -> npt.NDArray[np.uint64]:
    return np.fromiter((int(h[:16], 16) for h in hexdigests), dtype=np.uint64, count=len(hexdigests))


PRELOAD_BYTES = 4 * 1024 * 1024  # from about 25,000 rows


class _RegisterKeys:
    """The keys already in the register — persons' blind indexes, buildings' and houses' address keys —
    read once when a file is large, so that each chunk asks the database only about keys that may be there
    (none at all when a first file fills an empty register). Keys the import adds are added here too.
    12 bytes a key; a 64-bit collision only costs a lookup that finds nothing."""

    COLUMNS: dict[type[Model], str] = {Person: "id_blind", Building: "address_key", House: "address_key"}

    def __init__(self) -> None:
        self.sets: dict[type[Model], SeenKeys] = {}
        for model, column in self.COLUMNS.items():
            self.sets[model] = SeenKeys()
            table, quoted = model._meta.db_table, _quoted(model, column)
            last = 0
            with connection.cursor() as cursor:
                while True:
                    cursor.execute(
                        f'SELECT "id", {quoted} FROM "{table}" WHERE "id" > %s ORDER BY "id" LIMIT 100000',  # noqa: S608
                        [last],
                    )
                    rows = cursor.fetchall()
                    if not rows:
                        break
                    self.add(model, [value for _pk, value in rows])
                    last = rows[-1][0]

    def maybe(self, model: type[Model], values: Sequence[str]) -> list[str]:
        """The values that may already be in the table."""
        if not values:
            return []
        hits = self.sets[model].first_rows(_keys64(values)) > 0
        return [value for value, hit in zip(values, hits.tolist(), strict=True) if hit]

    def add(self, model: type[Model], values: Sequence[str]) -> None:
        if not values:
            return
        keys = np.unique(_keys64(values))
        fresh = keys[self.sets[model].first_rows(keys) == 0]
        self.sets[model].add(fresh, np.ones(len(fresh), dtype=np.uint32))


# --- reading and writing in bulk ---------------------------------------------------------------------


ANALYZE_AFTER_ROWS = 20_000


def _analyze_after(job: ImportJob) -> None:
    """After a large import on PostgreSQL, refresh the statistics of the tables it filled, so that searches
    and the next import are planned for the tables as they now are (autovacuum would get there later)."""
    counts = job.summary.get("commit") or {}
    written = sum(int(counts.get(key, 0)) for key in ("persons_created", "houses_created", "residences_registered"))
    if connection.vendor != "postgresql" or written < ANALYZE_AFTER_ROWS:
        return
    with connection.cursor() as cursor:
        for model in (Person, Building, House, ResidenceRecord, ResidenceAction):
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')


def _refresh_statistics() -> None:
    """PostgreSQL plans the chunks' key lookups from the tables' statistics. Right after a bulk load (or
    with autovacuum off) there are none, and it then filters a scan instead of probing the unique index:
    seconds per chunk instead of milliseconds. A large import first refreshes statistics that are missing
    or stale (ANALYZE samples the table: under a second for millions of rows)."""
    if connection.vendor != "postgresql":
        return
    tables = [model._meta.db_table for model in (Person, Building, House, ResidenceRecord)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_live_tup, n_mod_since_analyze, last_analyze IS NULL AND last_autoanalyze IS NULL"
            " FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [tables],
        )
        for table, live, modified, never in cursor.fetchall():
            if never or modified > max(1000, live // 5):
                cursor.execute(f'ANALYZE "{table}"')


def _quoted(model: type[Model], name: str) -> str:
    return '"' + str(cast(Any, model._meta.get_field(name)).column) + '"'


def _rows_in(
    model: type[Model],
    fields: Sequence[str],
    key: str,
    values: Sequence[Any],
    *,
    where: dict[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """`SELECT fields FROM model WHERE key IN values [AND where]`, in slices (an array parameter on
    PostgreSQL); the ORM's per-parameter work is too slow for chunks of this size."""
    if not values:
        return []
    table = f'"{model._meta.db_table}"'
    select = ", ".join(_quoted(model, name) for name in fields)
    conditions = "".join(f"{_quoted(model, name)} = %s AND " for name in where or {})
    params = list((where or {}).values())
    out: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Slices of 2,000 keys: with more, the planner starts to prefer a scan to the index probes.
            for start in range(0, len(values), 2000):
                cursor.execute(
                    f"SELECT {select} FROM {table} WHERE {conditions}{_quoted(model, key)} = ANY(%s)",  # noqa: S608
                    [*params, list(values[start : start + 2000])],
                )
                out.extend(cursor.fetchall())
            return out
        for start in range(0, len(values), 5000):
            part = list(values[start : start + 5000])
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(
                f"SELECT {select} FROM {table} WHERE {conditions}{_quoted(model, key)} IN ({marks})",  # noqa: S608
                [*params, *part],
            )
            out.extend(cursor.fetchall())
    return out


class _Writer:
    """Inserts rows with their primary keys given: COPY on PostgreSQL (sent by a thread while the next chunk
    is checked), executemany on SQLite. Column names come from the models, values are passed in the order of
    `fields`, already in the form the database takes (dates as ISO text on SQLite)."""

    def __init__(self) -> None:
        self.vendor = connection.vendor
        self._next: dict[type[Model], int] = {}
        self._sequences: dict[type[Model], str] = {}
        self._iso: dict[dt.date, str] = {}
        self._ops = connection.ops
        self._pending: list[tuple[type[Model], tuple[str, ...], Sequence[Sequence[Any]]]] = []
        # PostgreSQL: ids drawn from each table's sequence ahead of need, so that a chunk gets its ids
        # while the rows of the one before are still being sent (no query, no wait).
        self._pools: dict[type[Model], list[int]] = {}
        self._formatting: Any = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def date(self, value: dt.date | None) -> Any:
        if value is None or self.vendor == "postgresql":
            return value
        text = self._iso.get(value)
        if text is None:
            if len(self._iso) > 100_000:
                self._iso.clear()
            text = self._iso[value] = value.isoformat()
        return text

    def datetime(self, value: dt.datetime) -> Any:
        if self.vendor == "postgresql":
            return value
        return self._ops.adapt_datetimefield_value(value)

    def allocate(self, model: type[Model], count: int) -> list[int]:
        if not count:
            return []
        if self.vendor == "postgresql":
            pool = self._pools.setdefault(model, [])
            if len(pool) < count:
                self.wait()  # the connection is the writer thread's until its rows are in
                self._top_up(model, count)
            taken, self._pools[model] = pool[:count], pool[count:]
            return taken
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if model not in self._next:
                cursor.execute(f'SELECT COALESCE(MAX("id"), 0) FROM "{table}"')  # noqa: S608 - model metadata
                highest = cursor.fetchone()[0]
                cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
                row = cursor.fetchone()
                self._next[model] = max(highest, row[0] if row else 0) + 1
        start = self._next[model]
        self._next[model] = start + count
        return list(range(start, start + count))

    def _top_up(self, model: type[Model], count: int) -> None:
        """Draw ids from the model's sequence until `count` are pooled (the connection must be free)."""
        pool = self._pools.setdefault(model, [])
        missing = count - len(pool)
        if missing <= 0:
            return
        with connection.cursor() as cursor:
            sequence = self._sequences.get(model)
            if sequence is None:
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table])
                sequence = self._sequences[model] = cursor.fetchone()[0]
            cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, missing])
            pool.extend(row[0] for row in cursor.fetchall())

    def reserve(self, counts: dict[type[Model], int]) -> None:
        """Pool ids for the next chunk (PostgreSQL; the connection must be free). An import leaves at most a
        chunk's worth of each sequence unused, as a rolled-back one leaves all it drew."""
        if self.vendor == "postgresql":
            for model, count in counts.items():
                self._top_up(model, count)

    def insert(self, model: type[Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Queue rows for the next `flush`."""
        if rows:
            self._pending.append((model, tuple(fields), rows))

    def flush(self, ahead: dict[type[Model], int] | None = None) -> None:
        """Write the queued rows. On PostgreSQL the COPY data is formatted here (psycopg's C formatter, into
        memory, while the rows before are still being sent), then, once the connection is free, the ids of
        the next chunk are drawn (`ahead`) and a thread streams the data to the server, which parses and
        indexes it while this thread reads and checks the next chunk: the thread only waits on the socket,
        without the GIL. Any query of the pass waits for it first (`wait`), so only one thread uses the
        connection at a time. On SQLite the rows are written here: `executemany` needs the GIL for every
        row's parameters, so a thread would not overlap with the checks."""
        batches, self._pending = self._pending, []
        if self.vendor != "postgresql":
            if batches:
                connection.ensure_connection()
                with connection.wrap_database_errors:
                    for model, fields, rows in batches:
                        connection.connection.executemany(self._statement(model, fields), rows)
            return
        from psycopg.copy import Copy, FileWriter

        payloads = []
        if batches:
            connection.ensure_connection()
            if self._formatting is None:  # a cursor of its own, never executed: only its type adapters are used
                self._formatting = connection.connection.cursor()
            for model, fields, rows in batches:
                buffer = io.BytesIO()
                with Copy(self._formatting, writer=FileWriter(buffer)) as formatter:
                    write = formatter.write_row
                    for row in rows:
                        write(row)
                payloads.append((self._statement(model, fields), buffer.getvalue()))
        self.wait()
        self.reserve(ahead or {})
        if not payloads:
            return
        raw = connection.connection

        def send() -> None:
            try:
                with connection.wrap_database_errors, raw.cursor() as cursor:
                    for statement, payload in payloads:
                        with cursor.copy(statement) as copy:
                            copy.write(payload)
            except BaseException as exc:  # handed to the pass by `wait`
                self._error = exc

        self._thread = threading.Thread(target=send, name="register-import-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Wait for the rows in flight and let go of the formatting cursor."""
        try:
            self.wait()
        finally:
            if self._formatting is not None:
                self._formatting.close()
                self._formatting = None

    def wait(self) -> None:
        """Wait for the rows in flight; their error, if any, is raised here."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _statement(self, model: type[Model], fields: Sequence[str]) -> str:
        columns = ", ".join(_quoted(model, name) for name in fields)
        table = f'"{model._meta.db_table}"'
        if self.vendor == "postgresql":
            return f"COPY {table} ({columns}) FROM STDIN"
        return f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['?'] * len(fields))})"  # noqa: S608


# --- one pass over the file ---------------------------------------------------------------------------


@dataclass
class _Chunk:
    numbers: list[int]
    cells: list[list[str]]
    flags: list[tuple[int, dict[int, str]]]  # position in the chunk, problems of single cells
    columns: list[tuple[str, ...]] | None = None

    def column(self, index: int) -> Sequence[str]:
        if self.columns is None:
            self.columns = list(zip(*self.cells, strict=False))  # rows are padded to the header's width
        return self.columns[index]


class _Pass:
    """One pass over a job's file: the dry run (`write=False`) or the commit."""

    def __init__(self, *, job: ImportJob, actor: Any, write: bool, stop_writing_on_error: bool):
        self.job = job
        self.register_keys = None
        if job.size >= PRELOAD_BYTES:
            _refresh_statistics()
            self.register_keys = _RegisterKeys()
        self.actor = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
        self.write = write
        self.stop_writing_on_error = stop_writing_on_error
        self.today = timezone.localdate()
        self.now = timezone.now()
        root_path = ""
        if actor is not None:
            root = scope_root(actor)
            root_path = root.path
        self.root_path = root_path
        self.communities = _Communities(root_path)
        self.seen_people = SeenKeys()
        self.seen_buildings = SeenKeys()
        self.seen_houses = SeenKeys()
        self.problems: list[Problem] = []
        self.problem_count = 0
        self.error_rows = 0
        self.total_rows = 0
        self.counts: Counter[str] = Counter()
        self.headers: list[str] = []
        self.index: dict[str, int] = {}
        self.ignored: list[str] = []
        self.default_crs = str(job.options.get("crs") or "wgs84")
        self.file_problem: Problem | None = None
        self.writer = _Writer() if write else None
        self.layer: Any = None
        self.grid_ids: dict[str, int] = {}
        if write:
            from civicgrid.geo.selectors import layer_current, layer_index

            self.layer = layer_current()
            if self.layer is not None:
                self.grid_ids = dict(OrgUnit.objects.filter(level=Level.GRID).values_list("code", "pk"))
                layer_index(self.layer)  # built now: no query while the writer thread holds the connection
        self._dates: dict[int, dt.date] = {}
        self._date_texts: dict[str, dt.date | str] = {}
        self.id_types, self.sexes, self.permits, self.uses = (
            _Lookup(ID_TYPES),
            _Lookup(SEXES),
            _Lookup(PERMITS),
            _Lookup(USES),
        )
        self._building_keys: dict[tuple[str, str, str, str], str] = {}
        self._house_keys: dict[tuple[str, str], str] = {}
        # The buildings and houses of the last two chunks written: key -> (id, lon) / (id, org_path).
        self._recent_buildings: dict[str, tuple[int, float | None]] = {}
        self._recent_houses: dict[str, tuple[int, str]] = {}
        self._last_buildings: dict[str, tuple[int, float | None]] = {}
        self._last_houses: dict[str, tuple[int, str]] = {}

    # -- problems

    def problem(self, row: int, field: str, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(row, self.header_of(field), message))

    def header_of(self, field: str) -> str:
        index = self.index.get(field)
        if index is not None:
            return self.headers[index]
        column = COLUMN_BY_FIELD.get(field)
        return column.label if column else field

    @property
    def writing(self) -> bool:
        return self.write and not (self.stop_writing_on_error and self.problem_count)

    # -- the header

    def find_header(self, batches: Iterator[Batch]) -> Batch:
        """Consume rows up to the header; returns the rest of the batch it was in, or ImportFileError."""
        scanned = 0
        for numbers, rows, flags in batches:
            for position, cells in enumerate(rows):
                scanned += 1
                keys = [header_key(cell) for cell in cells]
                known = [key for key in keys if key in _ALIAS_FIELD]
                if len(set(known)) >= 3:
                    self._set_header(cells, keys)
                    return numbers[position + 1 :], rows[position + 1 :], flags
                if scanned >= HEADER_SCAN_ROWS:
                    break
            if scanned >= HEADER_SCAN_ROWS:
                break
        if not scanned:
            raise ImportFileError(_("文件是空的"))
        raise ImportFileError(
            _("找不到表头：前 %(n)d 行中没有包含“姓名”“证件号码”“社区”等列名的行（也可能是文件编码不正确）")
            % {"n": HEADER_SCAN_ROWS}
        )

    def _set_header(self, cells: list[str], keys: list[str]) -> None:
        self.headers = [str(cell).strip() for cell in cells]
        for position, key in enumerate(keys):
            field = _ALIAS_FIELD.get(key)
            if field is None:
                if key:
                    self.ignored.append(self.headers[position])
                continue
            if field in self.index:
                self.ignored.append(self.headers[position])
                continue
            self.index[field] = position
        missing = [column for column in COLUMNS if column.required and column.field not in self.index]
        if missing:
            raise ImportFileError(
                "；".join(
                    _("缺少必填列“%(label)s”（可用的列名：%(aliases)s）")
                    % {"label": column.label, "aliases": "、".join(column.aliases)}
                    for column in missing
                ),
                missing=[column.label for column in missing],
            )
        if ("lon" in self.index) != ("lat" in self.index):
            raise ImportFileError(_("经度和纬度两列需同时提供"))

    # -- the rows

    def run(self, batches: Iterator[Batch]) -> None:
        try:
            self._run(batches)
            if self.writer is not None:
                self.writer.wait()
        finally:
            if self.writer is not None:  # never leave the thread writing while the transaction ends
                with contextlib.suppress(Exception):
                    self.writer.close()

    def _run(self, batches: Iterator[Batch]) -> None:
        rest = self.find_header(batches)
        width = len(self.headers)
        numbers: list[int] = []
        rows: list[list[str]] = []
        flags: dict[int, dict[int, str]] = {}
        for batch_numbers, batch_rows, batch_flags in itertools.chain((rest,), batches):
            for number, cells in zip(batch_numbers, batch_rows, strict=True):
                if len(cells) < width:
                    cells.extend([""] * (width - len(cells)))
                if any(cells) or number in batch_flags:
                    numbers.append(number)
                    rows.append(cells)
            flags.update(batch_flags)
            while len(rows) >= CHUNK_ROWS:
                self.chunk(self._chunk_of(numbers[:CHUNK_ROWS], rows[:CHUNK_ROWS], flags))
                del numbers[:CHUNK_ROWS], rows[:CHUNK_ROWS]
        if rows:
            self.chunk(self._chunk_of(numbers, rows, flags))
        if not self.total_rows:
            raise ImportFileError(_("文件没有数据行"))

    @staticmethod
    def _chunk_of(numbers: list[int], rows: list[list[str]], flags: dict[int, dict[int, str]]) -> _Chunk:
        if not flags:
            return _Chunk(numbers, rows, [])
        cell_flags = [(i, flags.pop(number)) for i, number in enumerate(numbers) if number in flags]
        return _Chunk(numbers, rows, cell_flags)

    def date(self, text: str) -> dt.date | str:
        """The date of a cell, or the problem (memoised: the same dates recur)."""
        found = self._date_texts.get(text)
        if found is None:
            if len(self._date_texts) > 100_000:
                self._date_texts.clear()
            try:
                found = parse_date(text)
            except ValueError as exc:
                found = str(exc)
            self._date_texts[text] = found
        return found

    def column(self, chunk: _Chunk, field: str) -> Sequence[str]:
        index = self.index.get(field)
        if index is None:
            return [""] * len(chunk.cells)
        return chunk.column(index)

    def chunk(self, chunk: _Chunk) -> None:
        n = len(chunk.cells)
        self.total_rows += n
        numbers = chunk.numbers
        bad = bytearray(n)
        errors: list[tuple[int, str, str]] = []

        def fail(i: int, field: str, message: str) -> None:
            bad[i] = 1
            errors.append((i, field, message))

        field_of = {index: field for field, index in self.index.items()}
        for i, flags in chunk.flags:
            for index, flag in flags.items():
                field = field_of.get(index)
                if field is None:
                    continue
                if flag == _FORMULA:
                    fail(i, field, _("单元格含公式，请粘贴为数值"))
                elif flag.startswith(_ERROR):
                    fail(i, field, _("单元格是错误值 %(value)s") % {"value": flag.split(":", 1)[1]})
                elif flag == _PRECISION and field in ("id_number", "phone"):
                    fail(i, field, _("数字位数过多，Excel 已丢失末几位：请把该列设为文本格式后重新填写"))

        # A row with a formula or error cell is reported for that cell only: its other checks would only
        # repeat the problem (an empty name, a missing number).
        flagged = {i for i, _flags in chunk.flags if bad[i]}
        people = self._persons(chunk, fail, flagged)
        places = self._places(chunk, fail, flagged)

        # Duplicates within the file: the later row names the first.
        blinds = people["blind"]
        with_id = [i for i in range(n) if blinds[i] is not None]
        if with_id:
            keys = np.array([_key64(blinds[i]) for i in with_id], dtype=np.uint64)
            rows = np.array([numbers[i] for i in with_id], dtype=np.uint32)
            earlier = self.seen_people.first_rows(keys)
            first_in_chunk: dict[int, int] = {}
            fresh = np.zeros(len(with_id), dtype=bool)
            for j, i in enumerate(with_id):
                key = int(keys[j])
                first = int(earlier[j]) or first_in_chunk.get(key, 0)
                if first:
                    fail(i, "id_number", _("与第 %(row)d 行的证件号码重复") % {"row": first})
                else:
                    first_in_chunk[key] = numbers[i]
                    fresh[j] = True
            self.seen_people.add(keys[fresh], rows[fresh])

        # The register as it is: persons already there and where they are active. A lookup must see the
        # rows of the chunk before, so it waits for them; a chunk that can refer to nothing already in the
        # register (the register's keys say so) does not, and is checked and formatted while they are sent.
        good = [i for i in range(n) if not bad[i]]
        if self.writer is not None and self._may_refer_to_register(good, people, places):
            self.writer.wait()
        existing = self._existing_persons([(people["id_type"][i], blinds[i]) for i in good])
        active = self._active_residences([p[0] for p in existing.values()])
        outcome: list[str] = [""] * n
        changes: list[dict[str, Any] | None] = [None] * n
        person_ids: list[int | None] = [None] * n
        record_ids: list[int | None] = [None] * n
        conflicts: list[tuple[int, int]] = []
        known = [i for i in good if (people["id_type"][i], blinds[i]) in existing and people["phone"][i]]
        for i, value in zip(
            known, pii.blind_index_many([people["phone"][i] for i in known], kind="phone"), strict=True
        ):
            people["phone_blind"][i] = value
        for i in good:
            found = existing.get((people["id_type"][i], blinds[i]))
            if found is None:
                outcome[i] = "new"
                continue
            person_ids[i] = found[0]
            records = active.get(found[0], [])
            here = next((r for r in records if r[1] == places["house_key"][i]), None)
            changed = self._person_changes(found, people, i)
            changes[i] = changed
            if here is not None:
                outcome[i] = "updated" if changed else "unchanged"
                record_ids[i] = here[0]
                continue
            elsewhere = next((r for r in records if not r[2]), None)
            if elsewhere is not None:
                conflicts.append((i, elsewhere[3]))
                continue
            outcome[i] = "register"
        if conflicts:
            where = self._house_places([house for _i, house in conflicts])
            for i, house in conflicts:
                fail(
                    i,
                    "id_number",
                    _("该人员已在%(place)s登记在住：请先注销原登记，或由社区/镇街工作人员记录多处居住的例外")
                    % {"place": where.get(house, _("其他房屋"))},
                )

        for i, field, message in errors:
            self.problem(numbers[i], field, message)
        self.error_rows += sum(bad)
        for i in range(n):
            if not bad[i]:
                self.counts[outcome[i]] += 1

        ok = [i for i in range(n) if not bad[i]]
        if self.writing:
            self._write(chunk, ok, people, places, outcome, changes, person_ids, record_ids)
        elif not self.write:
            self._predict(ok, places, outcome)

    # -- persons

    def _persons(self, chunk: _Chunk, fail: Callable[[int, str, str], None], flagged: set[int]) -> dict[str, Any]:
        n = len(chunk.cells)
        names = self.column(chunk, "name")
        id_numbers = self.column(chunk, "id_number")
        raw_types = self.column(chunk, "id_type")
        raw_sexes = self.column(chunk, "sex")
        raw_births = self.column(chunk, "birth_date")
        phones = self.column(chunk, "phone")
        places = self.column(chunk, "hukou_place")
        employers = self.column(chunk, "employer")
        raw_permits = self.column(chunk, "permit_status")

        types: list[str] = [_RESIDENT] * n
        sexes: list[str] = [""] * n
        births: list[dt.date | None] = [None] * n
        permits: list[str] = [""] * n
        usable = bytearray(b"\x01" * n)
        for i in flagged:
            usable[i] = 0
        if "id_type" in self.index:
            for i, value in enumerate(raw_types):
                if value.strip():
                    found = self.id_types.get(value)
                    if found is None:
                        fail(i, "id_type", _("证件类型“%(value)s”无法识别") % {"value": value})
                        usable[i] = 0
                    else:
                        types[i] = found
        if "sex" in self.index:
            for i, value in enumerate(raw_sexes):
                if value.strip():
                    sex = self.sexes.get(value)
                    if sex is None:
                        fail(i, "sex", _("性别“%(value)s”无法识别（应为男或女）") % {"value": value})
                        usable[i] = 0
                    else:
                        sexes[i] = sex
        if "birth_date" in self.index:
            for i, value in enumerate(raw_births):
                if value.strip():
                    born_or_problem = self.date(value)
                    if isinstance(born_or_problem, str):
                        fail(i, "birth_date", born_or_problem)
                        usable[i] = 0
                    else:
                        births[i] = born_or_problem
        if "permit_status" in self.index:
            for i, value in enumerate(raw_permits):
                if value.strip():
                    permit = self.permits.get(value)
                    if permit is None:
                        fail(
                            i,
                            "permit_status",
                            _("居住证“%(value)s”无法识别（可填：无、已申请、有效、已过期）") % {"value": value},
                        )
                        usable[i] = 0
                    else:
                        permits[i] = permit

        # Resident IDs in canonical form are checked for the whole chunk at once, then the other fields of
        # those rows; every other row goes through `clean_person`, which gives the exact messages.
        out_number: list[str | None] = [None] * n
        out_sex = [""] * n
        out_birth: list[dt.date | None] = [None] * n
        out_name = [name.strip() for name in names]
        candidates = [
            i
            for i in range(n)
            if usable[i] and types[i] == _RESIDENT and len(id_numbers[i]) == 18 and id_numbers[i].isascii()
        ]
        if candidates:
            valid, ymd, male = check_resident_ids([id_numbers[i] for i in candidates], today=self.today)
            dates = self._dates
            for i, ok, code, is_male in zip(candidates, valid.tolist(), ymd.tolist(), male.tolist(), strict=True):
                if not ok:
                    continue
                name, phone = out_name[i], phones[i]
                sex = "M" if is_male else "F"
                born = dates.get(code)
                if born is None:
                    born = dates[code] = dt.date(code // 10000, code // 100 % 100, code % 100)
                if (
                    name
                    and len(name) <= 60
                    and sexes[i] in ("", sex)
                    and births[i] in (None, born)
                    and (
                        not phone
                        or (
                            7 <= len(phone) <= 12
                            and phone.isdigit()
                            and phone.isascii()
                            and (len(phone) != 11 or phone[0] == "1")
                        )
                    )
                ):
                    out_number[i], out_sex[i], out_birth[i] = id_numbers[i], sex, born
        out_phone = list(phones)
        out_place = [place.strip()[:120] for place in places]
        out_employer = [employer.strip()[:120] for employer in employers]
        out_region = [number[:6] for number in id_numbers]
        out_migrant = [not region.startswith("4401") for region in out_region]
        none_permit = str(Person.PermitStatus.NONE)
        out_permit = [permit or none_permit for permit in permits]
        for i in range(n):
            if not usable[i] or out_number[i] is not None:
                continue
            try:
                clean = clean_person(
                    PersonInput(
                        id_type=types[i],
                        id_number=id_numbers[i],
                        name=names[i],
                        sex=sexes[i],
                        birth_date=births[i],
                        phone=phones[i],
                        hukou_place=places[i],
                        employer=employers[i],
                        permit_status=permits[i],
                    )
                )
            except ValidationFailed as exc:
                for field, messages in exc.fields.items():
                    for message in messages:
                        fail(i, field if field in self.index or field in COLUMN_BY_FIELD else "id_number", message)
                continue
            out_number[i] = clean.id_number
            out_name[i] = clean.name
            out_sex[i] = clean.sex
            out_birth[i] = clean.birth_date
            out_phone[i] = clean.phone
            out_place[i] = clean.hukou_place
            out_region[i] = clean.hukou_region
            out_migrant[i] = clean.is_migrant
            out_employer[i] = clean.employer
            out_permit[i] = clean.permit_status
            types[i] = clean.id_type

        blind: list[str | None] = [None] * n
        by_type: dict[str, list[int]] = {}
        for kind in set(types):
            by_type[kind] = [i for i in range(n) if out_number[i] is not None and types[i] == kind]
        for kind, members in by_type.items():
            for i, value in zip(
                members,
                pii.blind_index_many([cast(str, out_number[i]) for i in members], kind=kind),
                strict=True,
            ):
                blind[i] = value
        return {
            "id_type": types,
            "number": out_number,
            "name": out_name,
            "sex": out_sex,
            "birth_date": out_birth,
            "phone": out_phone,
            "hukou_place": out_place,
            "hukou_region": out_region,
            "is_migrant": out_migrant,
            "employer": out_employer,
            "permit_status": out_permit,
            "permit_stated": permits,
            "blind": blind,
            "phone_blind": [""] * n,
        }

    # -- addresses

    def _places(self, chunk: _Chunk, fail: Callable[[int, str, str], None], flagged: set[int]) -> dict[str, Any]:
        n = len(chunk.cells)
        towns = self.column(chunk, "town")
        communities = self.column(chunk, "community")
        roads = self.column(chunk, "road")
        doors = self.column(chunk, "door_number")
        buildings = self.column(chunk, "building")
        rooms = self.column(chunk, "room")
        raw_uses = self.column(chunk, "use")
        raw_dates = self.column(chunk, "registered_on")
        lons = self.column(chunk, "lon")
        lats = self.column(chunk, "lat")
        crss = self.column(chunk, "crs")
        if flagged:
            report = fail

            def fail(i: int, field: str, message: str) -> None:  # a flagged row only reports its cell
                if i not in flagged:
                    report(i, field, message)

        resolve = self.communities.resolve
        found = [resolve(town, community) for town, community in zip(towns, communities, strict=True)]
        community_of: list[_Community | None] = [community for community, _problem in found]
        for i in [i for i in range(n) if community_of[i] is None]:
            fail(i, "community", found[i][1])
        roads = [road.strip() for road in roads]
        doors = [door.strip() for door in doors]
        buildings = [building.strip() for building in buildings]
        rooms = [room.strip() for room in rooms]
        for i in [i for i in range(n) if not roads[i]]:
            fail(i, "road", _("路/街/巷不能为空"))
        for i in [i for i in range(n) if not doors[i]]:
            fail(i, "door_number", _("门牌号不能为空"))
        for i in [
            i
            for i in range(n)
            if len(roads[i]) > 100 or len(doors[i]) > 30 or len(buildings[i]) > 60 or len(rooms[i]) > 30
        ]:
            for field, value in (
                ("road", roads[i]),
                ("door_number", doors[i]),
                ("building", buildings[i]),
                ("room", rooms[i]),
            ):
                if len(value) > _MAX_LENGTHS[field]:
                    fail(
                        i,
                        field,
                        _("%(label)s过长（最多 %(n)d 个字）")
                        % {"label": self.header_of(field), "n": _MAX_LENGTHS[field]},
                    )
        uses = [str(HouseUse.SELF_OCCUPIED)] * n
        if "use" in self.index:
            for i, raw in enumerate(raw_uses):
                if raw and raw.strip():
                    use = self.uses.get(raw)
                    if use is None:
                        fail(
                            i,
                            "use",
                            _("房屋用途“%(value)s”无法识别（可填：自住、出租、商用、空置、混合、三合一）")
                            % {"value": raw},
                        )
                    else:
                        uses[i] = use
        dates = [self.today] * n
        if "registered_on" in self.index:
            for i, raw in enumerate(raw_dates):
                if raw and raw.strip():
                    on = self.date(raw)
                    if isinstance(on, str):
                        fail(i, "registered_on", on)
                    else:
                        if on > self.today:
                            fail(i, "registered_on", _("登记日期不能晚于今天"))
                        dates[i] = on
        points: list[tuple[float, float, str] | None] = [None] * n
        if "lon" in self.index:
            located = [i for i in range(n) if lons[i] or lats[i]]
            try:  # the usual case, every cell a plain number: parsed and range-checked at once
                xs = np.array([lons[i] for i in located], dtype=np.float64)
                ys = np.array([lats[i] for i in located], dtype=np.float64)
                plain = (xs >= _LON_RANGE[0]) & (xs <= _LON_RANGE[1]) & (ys >= _LAT_RANGE[0]) & (ys <= _LAT_RANGE[1])
                if "crs" in self.index and any(crss[i].strip() for i in located):
                    raise ValueError("coordinate systems per row")
            except ValueError:
                plain = np.zeros(len(located), dtype=bool)
                xs = ys = np.zeros(len(located))
            crs = self.default_crs
            for j, (i, ok) in enumerate(zip(located, plain.tolist(), strict=True)):
                if ok:
                    points[i] = (float(xs[j]), float(ys[j]), crs)
                elif lons[i].strip() or lats[i].strip():
                    points[i] = self._point(i, lons[i], lats[i], crss[i], fail)
        building_keys = [""] * n
        house_keys = [""] * n
        known_buildings, known_houses = self._building_keys, self._house_keys
        for i in range(n):
            community, road, door = community_of[i], roads[i], doors[i]
            if community is None or not road or not door:
                continue
            where = (community.code, road, door, buildings[i])
            building_key = known_buildings.get(where)
            if building_key is None:
                if len(known_buildings) > 4 * CHUNK_ROWS:
                    known_buildings.clear()
                building_key = known_buildings[where] = addresses.building_key(*where)
            house_key = known_houses.get((building_key, rooms[i]))
            if house_key is None:
                if len(known_houses) > 4 * CHUNK_ROWS:
                    known_houses.clear()
                house_key = known_houses[(building_key, rooms[i])] = addresses.house_key(building_key, rooms[i])
            building_keys[i], house_keys[i] = building_key, house_key
        return {
            "community": community_of,
            "road": roads,
            "door_number": doors,
            "building": buildings,
            "room": rooms,
            "use": uses,
            "on": dates,
            "point": points,
            "building_key": building_keys,
            "house_key": house_keys,
        }

    def _point(
        self, i: int, lon_text: str, lat_text: str, crs_text: str, fail: Callable[[int, str, str], None]
    ) -> tuple[float, float, str] | None:
        if not lon_text.strip() or not lat_text.strip():
            fail(i, "lon" if not lon_text.strip() else "lat", _("经度和纬度需同时填写"))
            return None
        try:
            lon, lat = float(lon_text), float(lat_text)
        except ValueError:
            values = []
            for field, text in (("lon", lon_text), ("lat", lat_text)):
                try:
                    values.append(float(unicodedata.normalize("NFKC", text).strip()))
                except ValueError:
                    fail(i, field, _("“%(value)s”不是数字") % {"value": text})
                    return None
            lon, lat = values
        if not (_LON_RANGE[0] <= lon <= _LON_RANGE[1] and _LAT_RANGE[0] <= lat <= _LAT_RANGE[1]):
            fail(
                i,
                "lon",
                _("坐标（%(lon)s，%(lat)s）不在中国境内，请检查经纬度是否填反") % {"lon": lon_text, "lat": lat_text},
            )
            return None
        crs = self.default_crs
        if crs_text.strip():
            found = CRS_WORDS.get(_value_key(crs_text))
            if found is None:
                fail(
                    i,
                    "crs",
                    _("坐标系“%(value)s”无法识别（可填：WGS-84、CGCS2000、GCJ-02、BD-09）") % {"value": crs_text},
                )
                return None
            crs = found
        return lon, lat, crs

    # -- the register

    def _may_refer_to_register(
        self, good: list[int], people: dict[str, list[Any]], places: dict[str, list[Any]]
    ) -> bool:
        """Whether a row of the chunk may name a person, building or house already in the register (other
        than the buildings and houses of the last two chunks, whose ids the pass keeps)."""
        if self.register_keys is None:
            return True
        blinds = [people["blind"][i] for i in good if people["blind"][i] is not None]
        if self.register_keys.maybe(Person, blinds):
            return True
        for model, field, recent in (
            (Building, "building_key", self._recent_buildings),
            (House, "house_key", self._recent_houses),
        ):
            keys = list({places[field][i] for i in good if places[field][i]})
            if any(key not in recent for key in self.register_keys.maybe(model, keys)):
                return True
        return False

    def _existing_persons(self, keys: list[tuple[str, str | None]]) -> dict[tuple[str, str], tuple[Any, ...]]:
        """Persons already registered: (id, blind, name, hukou place, region, migrant, employer, permit,
        phone blind) by (document type, blind index)."""
        by_type: dict[str, list[str]] = {}
        for kind, blind in keys:
            if blind is not None:
                by_type.setdefault(kind, []).append(blind)
        found: dict[tuple[str, str], tuple[Any, ...]] = {}
        fields = (
            "id",
            "id_blind",
            "name",
            "hukou_place",
            "hukou_region",
            "is_migrant",
            "employer",
            "permit_status",
            "phone_blind",
        )
        for kind, blinds in by_type.items():
            if self.register_keys is not None:
                blinds = self.register_keys.maybe(Person, blinds)
            for row in _rows_in(Person, fields, "id_blind", blinds, where={"id_type": kind}):
                found[(kind, row[1])] = row
        return found

    def _active_residences(self, person_ids: list[int]) -> dict[int, list[tuple[int, str, str, int, int]]]:
        """Active records per person: (record id, house key, exception reason, house id, version)."""
        active: dict[int, list[tuple[int, str, str, int, int]]] = {}
        if not person_ids:
            return active
        # Filtered on the state here, not in SQL: SQLite would otherwise pick the (state, updated_on) index.
        records = [
            row[:5]
            for row in _rows_in(
                ResidenceRecord, ("person", "id", "house", "exception_reason", "version", "state"), "person", person_ids
            )
            if row[5] == _ACTIVE
        ]
        keys = dict(_rows_in(House, ("id", "address_key"), "id", sorted({r[2] for r in records})))
        for person_id, record_id, house_id, reason, version in records:
            active.setdefault(person_id, []).append((record_id, keys[house_id], reason, house_id, version))
        return active

    def _house_places(self, house_ids: list[int]) -> dict[int, str]:
        """How a conflicting house is named: its address inside the actor's area, else only that it is
        elsewhere (the other area's addresses are not this actor's to see)."""
        places: dict[int, str] = {}
        houses = House.objects.filter(pk__in=set(house_ids)).select_related("building", "building__community")
        for house in houses:
            if house.org_path.startswith(self.root_path):
                places[house.pk] = f"{house.building.community.name}{house.building}{house.room}"
            else:
                places[house.pk] = _("辖区外的房屋")
        return places

    @staticmethod
    def _person_changes(found: tuple[Any, ...], people: dict[str, list[Any]], i: int) -> dict[str, Any]:
        """What this row would change on a person already registered, as `services._upsert_person` decides
        (a blank cell changes nothing; the residence permit only when the file states it)."""
        (_pk, _blind, name, place, region, migrant, employer, permit, phone_blind) = found
        changed: dict[str, Any] = {}
        current = {
            "name": name,
            "hukou_place": place,
            "hukou_region": region,
            "is_migrant": migrant,
            "employer": employer,
        }
        for field, value in current.items():
            new = people[field][i]
            if new not in ("", None) and value != new:
                changed[field] = new
        if people["permit_stated"][i] and people["permit_status"][i] != permit:
            changed["permit_status"] = people["permit_status"][i]
        phone = people["phone"][i]
        if phone and people["phone_blind"][i] != phone_blind:
            changed["phone"] = phone
        return changed

    def _predict(self, ok: list[int], places: dict[str, list[Any]], outcome: list[str]) -> None:
        """Dry run: count the buildings and houses the commit would create."""
        for name, seen, model in (
            ("building_key", self.seen_buildings, Building),
            ("house_key", self.seen_houses, House),
        ):
            keys = sorted({places[name][i] for i in ok if outcome[i] in ("new", "register")})
            if not keys:
                continue
            maybe = keys if self.register_keys is None else self.register_keys.maybe(model, keys)
            existing = {row[0] for row in _rows_in(model, ("address_key",), "address_key", maybe)}
            fresh = [k for k in keys if k not in existing]
            if not fresh:
                continue
            values = np.array([_key64(k) for k in fresh], dtype=np.uint64)
            values = np.unique(values)
            unseen = values[seen.first_rows(values) == 0]
            seen.add(unseen, np.ones(len(unseen), dtype=np.uint32))
            self.counts[f"{model.__name__.lower()}s_created"] += len(unseen)

    # -- writing

    def _write(
        self,
        chunk: _Chunk,
        ok: list[int],
        people: dict[str, list[Any]],
        places: dict[str, list[Any]],
        outcome: list[str],
        changes: list[dict[str, Any] | None],
        person_ids: list[int | None],
        record_ids: list[int | None],
    ) -> None:
        writer = cast(_Writer, self.writer)
        numbers = chunk.numbers
        now = writer.datetime(self.now)
        job_id = self.job.pk
        actor_id = self.actor.pk if self.actor is not None else None
        moving = [i for i in ok if outcome[i] in ("new", "register")]

        # Buildings: find those that exist, create the others (stamped), give points to old ones without.
        building_ids: dict[str, int] = {}
        building_paths: dict[str, str] = {}
        wanted: dict[str, int] = {}
        for i in moving:
            wanted.setdefault(places["building_key"][i], i)
        keys = list(wanted)
        no_point: list[str] = []
        maybe = keys if self.register_keys is None else self.register_keys.maybe(Building, keys)
        recent = self._recent_buildings
        known = [(key, *recent[key]) for key in maybe if key in recent]
        chunk_buildings: dict[str, tuple[int, float | None]] = {}  # this chunk's, kept for the next
        for key, pk, lon in known + _rows_in(
            Building, ("address_key", "id", "lon"), "address_key", [key for key in maybe if key not in recent]
        ):
            building_ids[key] = pk
            chunk_buildings[key] = (pk, lon)
            if lon is None:
                no_point.append(key)
        new_keys = [k for k in keys if k not in building_ids]
        new_ids = writer.allocate(Building, len(new_keys))
        if self.register_keys is not None:
            self.register_keys.add(Building, new_keys)
        points = [self._wgs84(places["point"][wanted[k]]) for k in new_keys]
        stamps = self._stamp(points)
        layer_id = self.layer.pk if self.layer is not None else None
        building_rows = []
        stamp_rows = []
        for key, pk, point, grid_id in zip(new_keys, new_ids, points, stamps, strict=True):
            i = wanted[key]
            community = places["community"][i]
            stamped = layer_id if point is not None and layer_id is not None else None
            building_rows.append(
                (
                    pk,
                    community.pk,
                    places["road"][i],
                    places["door_number"][i],
                    places["building"][i],
                    key,
                    point[0] if point else None,
                    point[1] if point else None,
                    grid_id if stamped else None,
                    stamped,
                    community.path,
                    now,
                )
            )
            if stamped:
                stamp_rows.append((pk, stamped, grid_id, now))
            building_ids[key] = pk
            chunk_buildings[key] = (pk, point[0] if point else None)
        writer.insert(
            Building,
            (
                "id",
                "community",
                "road",
                "door_number",
                "name",
                "address_key",
                "lon",
                "lat",
                "grid",
                "stamped_layer",
                "org_path",
                "created_at",
            ),
            building_rows,
        )
        writer.insert(BuildingStamp, ("building", "layer", "grid", "stamped_at"), stamp_rows)
        self.counts["buildings_created"] += len(building_rows)
        located: list[tuple[str, tuple[float, float]]] = []
        for key in no_point:
            point = self._wgs84(places["point"][wanted[key]])
            if point is not None:
                located.append((key, point))
        if located:
            writer.wait()  # ORM queries: the connection must be free
            for (key, (lon, lat)), grid_id in zip(located, self._stamp([p for _k, p in located]), strict=True):
                chunk_buildings[key] = (building_ids[key], lon)
                Building.objects.filter(pk=building_ids[key]).update(
                    lon=lon, lat=lat, grid_id=grid_id if layer_id else None, stamped_layer_id=layer_id
                )
                if layer_id is not None:
                    BuildingStamp.objects.update_or_create(
                        building_id=building_ids[key], layer_id=layer_id, defaults={"grid_id": grid_id}
                    )
            self.counts["buildings_located"] += len(located)
        building_paths.update({k: places["community"][wanted[k]].path for k in keys})

        # Houses.
        house_ids: dict[str, int] = {}
        house_paths: dict[str, str] = {}
        wanted_houses: dict[str, int] = {}
        for i in moving:
            wanted_houses.setdefault(places["house_key"][i], i)
        keys = list(wanted_houses)
        maybe = keys if self.register_keys is None else self.register_keys.maybe(House, keys)
        recent_houses = self._recent_houses
        known_houses = [(key, *recent_houses[key]) for key in maybe if key in recent_houses]
        for key, pk, path in known_houses + _rows_in(
            House, ("address_key", "id", "org_path"), "address_key", [key for key in maybe if key not in recent_houses]
        ):
            house_ids[key] = pk
            house_paths[key] = path
        new_keys = [k for k in keys if k not in house_ids]
        new_ids = writer.allocate(House, len(new_keys))
        if self.register_keys is not None:
            self.register_keys.add(House, new_keys)
        house_rows = []
        for key, pk in zip(new_keys, new_ids, strict=True):
            i = wanted_houses[key]
            path = building_paths[places["building_key"][i]]
            house_rows.append(
                (
                    pk,
                    building_ids[places["building_key"][i]],
                    places["room"][i],
                    key,
                    places["use"][i],
                    path,
                    now,
                )
            )
            house_ids[key] = pk
            house_paths[key] = path
        writer.insert(House, ("id", "building", "room", "address_key", "use", "org_path", "updated_at"), house_rows)
        self.counts["houses_created"] += len(house_rows)

        # Persons: create the new ones, update what the file changes on the others.
        new_people = [i for i in moving if outcome[i] == "new"]
        ids = writer.allocate(Person, len(new_people))
        if self.register_keys is not None:
            self.register_keys.add(Person, [people["blind"][i] for i in new_people])
        numbers_plain = [cast(str, people["number"][i]) for i in new_people]
        id_encrypted = pii.encrypt_many(numbers_plain, field=ID_FIELD)
        with_phone = [i for i in new_people if people["phone"][i]]
        phone_plain = [people["phone"][i] for i in with_phone]
        phone_encrypted = dict(zip(with_phone, pii.encrypt_many(phone_plain, field=PHONE_FIELD), strict=True))
        phone_blind = dict(zip(with_phone, pii.blind_index_many(phone_plain, kind="phone"), strict=True))
        mask_id, mask_phone = _mask_id, _mask_phone
        date = writer.date
        person_rows = []
        for pk, i, number, encrypted in zip(ids, new_people, numbers_plain, id_encrypted, strict=True):
            phone = people["phone"][i]
            person_rows.append(
                (
                    pk,
                    people["id_type"][i],
                    encrypted,
                    people["blind"][i],
                    mask_id(number, people["id_type"][i]),
                    people["name"][i],
                    people["sex"][i],
                    date(people["birth_date"][i]),
                    phone_encrypted.get(i),
                    phone_blind.get(i, ""),
                    mask_phone(phone) if phone else "",
                    people["hukou_place"][i],
                    people["hukou_region"][i],
                    people["is_migrant"][i],
                    people["employer"][i],
                    people["permit_status"][i],
                    now,
                    now,
                )
            )
            person_ids[i] = pk
        writer.insert(
            Person,
            (
                "id",
                "id_type",
                "id_number_enc",
                "id_blind",
                "id_masked",
                "name",
                "sex",
                "birth_date",
                "phone_enc",
                "phone_blind",
                "phone_masked",
                "hukou_place",
                "hukou_region",
                "is_migrant",
                "employer",
                "permit_status",
                "created_at",
                "updated_at",
            ),
            person_rows,
        )
        self.counts["persons_created"] += len(person_rows)
        changed_people = [i for i in ok if changes[i]]
        if changed_people:
            writer.wait()  # ORM queries: the connection must be free
        for i in changed_people:
            self._update_person(cast(int, person_ids[i]), cast(dict[str, Any], changes[i]))
        self.counts["persons_changed"] += len(changed_people)

        # Residence records and their register actions.
        record_ids_new = writer.allocate(ResidenceRecord, len(moving))
        action_ids = writer.allocate(ResidenceAction, len(moving))
        record_rows = []
        action_rows: list[tuple[Any, ...]] = []
        register_kind, active = str(ResidenceAction.Kind.REGISTER), _ACTIVE
        for record_id, action_id, i in zip(record_ids_new, action_ids, moving, strict=True):
            on = date(places["on"][i])
            house_key = places["house_key"][i]
            record_rows.append(
                (record_id, person_ids[i], house_ids[house_key], active, on, on, "", house_paths[house_key], 1)
            )
            changed = changes[i]
            if changed:
                data = json.dumps(
                    {"import_job": job_id, "row": numbers[i], "person_changed": _shown(changed)}, ensure_ascii=False
                )
            else:
                data = f'{{"import_job": {job_id}, "row": {numbers[i]}}}'
            action_rows.append(
                (
                    action_id,
                    record_id,
                    register_kind,
                    now,
                    on,
                    actor_id,
                    data,
                    SOURCE_IMPORT,
                )
            )
        writer.insert(
            ResidenceRecord,
            (
                "id",
                "person",
                "house",
                "state",
                "registered_on",
                "updated_on",
                "exception_reason",
                "org_path",
                "version",
            ),
            record_rows,
        )
        self.counts["residences_registered"] += len(record_rows)

        # Already living here with something changed: an update action on the record.
        updates = [i for i in ok if outcome[i] == "updated"]
        if updates:
            writer.wait()  # ORM queries: the connection must be free
            today = date(self.today)
            ResidenceRecord.objects.filter(pk__in=[record_ids[i] for i in updates]).update(
                version=F("version") + 1, updated_on=self.today
            )
            for i, action_id in zip(updates, writer.allocate(ResidenceAction, len(updates)), strict=True):
                changed_data = {
                    "import_job": job_id,
                    "row": numbers[i],
                    "changed": _shown(cast(dict[str, Any], changes[i])),
                }
                action_rows.append(
                    (
                        action_id,
                        record_ids[i],
                        ResidenceAction.Kind.UPDATE.value,
                        now,
                        today,
                        actor_id,
                        json.dumps(changed_data, ensure_ascii=False),
                        SOURCE_IMPORT,
                    )
                )
        writer.insert(ResidenceAction, ("id", "record", "kind", "at", "on", "actor", "data", "source"), action_rows)
        # Keep the ids of this chunk's buildings and houses (the next chunk often continues the last
        # building), and draw the next chunk's ids while the connection is free.
        chunk_houses = {key: (house_ids[key], house_paths[key]) for key in house_ids}
        self._recent_buildings = {**self._last_buildings, **chunk_buildings}
        self._recent_houses = {**self._last_houses, **chunk_houses}
        self._last_buildings, self._last_houses = chunk_buildings, chunk_houses
        writer.flush(ahead=dict.fromkeys((Building, House, Person, ResidenceRecord, ResidenceAction), CHUNK_ROWS))

    def _wgs84(self, point: tuple[float, float, str] | None) -> tuple[float, float] | None:
        if point is None:
            return None
        lon, lat, crs = point
        if crs == "wgs84":
            return lon, lat
        from civicgrid.geo.crs import transform_point

        return transform_point(lon, lat, src=crs, dst="wgs84")

    def _stamp(self, points: list[tuple[float, float] | None]) -> list[int | None]:
        """The grid org unit under each point in the current layer (None: no point, no layer, outside)."""
        grids: list[int | None] = [None] * len(points)
        located = [j for j, p in enumerate(points) if p is not None]
        if self.layer is None or not located:
            return grids
        from civicgrid.geo.selectors import stamp_points

        xs = np.array([cast(tuple[float, float], points[j])[0] for j in located])
        ys = np.array([cast(tuple[float, float], points[j])[1] for j in located])
        indices, entry = stamp_points(layer=self.layer, xs=xs, ys=ys)
        for j, index in zip(located, indices.tolist(), strict=True):
            grids[j] = self.grid_ids.get(entry.codes[index]) if index >= 0 else None
        return grids

    def _update_person(self, pk: int, changed: dict[str, Any]) -> None:
        values = {k: v for k, v in changed.items() if k != "phone"}
        if "phone" in changed:
            phone = changed["phone"]
            values["phone_enc"] = pii.encrypt(phone, field=PHONE_FIELD)
            values["phone_blind"] = pii.blind_index(phone, kind="phone")
            values["phone_masked"] = pii.mask_phone(phone)
        Person.objects.filter(pk=pk).update(**values, updated_at=self.now)


def _mask_id(number: str, id_type: str) -> str:
    """`pii.mask_id_number`, with its resident-ID case inlined (a canonical number from `clean_person`)."""
    if id_type == _RESIDENT and len(number) == 18:
        return number[:6] + "********" + number[14:]
    return pii.mask_id_number(number)


def _mask_phone(phone: str) -> str:
    """`pii.mask_phone`, with the plain mobile number inlined."""
    if len(phone) == 11 and phone[0] == "1" and phone.isdigit() and phone.isascii():
        return phone[:3] + "****" + phone[7:]
    return pii.mask_phone(phone)


def _shown(changed: dict[str, Any]) -> dict[str, str]:
    """Changes as recorded in the journal: a phone only masked."""
    return {k: (pii.mask_phone(v) if k == "phone" else str(v)) for k, v in changed.items()}


# --- services -----------------------------------------------------------------------------------------


def _authorize(actor: Any, action: str) -> None:
    if actor is not None:
        require(actor, Capability.IMPORT_REGISTER, action=action)


def _max_bytes() -> int:
    return int(getattr(settings, "REGISTER_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def _human_size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _save_problems(job: ImportJob, phase: str, problems: list[Problem]) -> None:
    ImportProblem.objects.filter(job=job, phase=phase).delete()
    ImportProblem.objects.bulk_create(
        [
            ImportProblem(job=job, phase=phase, row=p.row, column=p.column[:60], problem=str(p.problem)[:300])
            for p in problems
        ],
        batch_size=2000,
    )


def _receive(job: ImportJob, *, data: bytes | None, file: IO[bytes] | Iterable[bytes] | None) -> None:
    """Seal an upload into the store while hashing it."""
    digest = hashlib.sha256()
    size = 0
    name = f"{job.token}.sealed"
    writer = _SealedWriter(store_dir() / name, str(job.token))
    limit = _max_bytes()
    try:
        blocks: Iterable[bytes]
        if data is not None:
            blocks = [data]
        elif hasattr(file, "chunks"):
            blocks = file.chunks(STORE_BLOCK)  # type: ignore[union-attr]
        elif hasattr(file, "read"):
            reader = cast(IO[bytes], file)
            blocks = iter(lambda: reader.read(STORE_BLOCK), b"")
        else:
            blocks = cast(Iterable[bytes], file)
        for block in blocks:
            size += len(block)
            if size > limit:
                raise ImportFileError(
                    _("文件过大（超过 %(limit)s）：请拆分后分批导入，或由管理员使用命令行导入")
                    % {"limit": _human_size(limit)}
                )
            digest.update(block)
            writer.write(block)
    except BaseException:
        writer.close()
        (store_dir() / name).unlink(missing_ok=True)
        raise
    writer.close()
    job.stored_file = name
    job.sha256 = digest.hexdigest()
    job.size = size


def _hash_path(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while block := file.read(STORE_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _scope_of(actor: Any) -> OrgUnit | None:
    return scope_root(actor) if actor is not None else OrgUnit.objects.filter(depth=0).order_by("code").first()


SQLITE_CACHE_KIB = 128 * 1024


@contextlib.contextmanager
def _sqlite_cache() -> Iterator[None]:
    """On SQLite, a page cache big enough for the indexes a large import touches at random (blind indexes,
    address keys): with the default 2 MiB, inserts slow down several-fold as the tables grow."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


@contextlib.contextmanager
def _immediate_constraints() -> Iterator[None]:
    """On PostgreSQL, check the foreign keys as each COPY ends instead of all at COMMIT: the same work, but
    done while this process prepares the next chunk rather than after the last one."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


# While the writer thread sends COPY data it needs the GIL back each time the socket drains; with the
# default switch interval (5 ms) it waits that long behind the checks of the next chunk, and the server
# waits for the data. Measured on 200,000 rows on PostgreSQL: 11.8 s with 5 ms, 10.6 s with 0.5 ms.
WRITER_SWITCH_INTERVAL = 0.0005


@contextlib.contextmanager
def _prompt_writer_thread(write: bool) -> Iterator[None]:
    if not write or connection.vendor != "postgresql":
        yield
        return
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, WRITER_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _run_pass(job: ImportJob, actor: Any, *, write: bool, stop_writing_on_error: bool = False) -> _Pass:
    run = _Pass(job=job, actor=actor, write=write, stop_writing_on_error=stop_writing_on_error)
    try:
        with _Source(job).rows() as opened, _prompt_writer_thread(write):
            job.file_format = opened.file_format
            job.encoding = opened.encoding
            run.run(opened.batches)
    except ImportFileError as exc:
        run.file_problem = Problem(0, "", str(exc.message))
    return run


def _job_fields(job: ImportJob, run: _Pass) -> None:
    job.columns = {
        "mapped": {run.headers[i]: f for f, i in sorted(run.index.items(), key=lambda item: item[1])},
        "ignored": run.ignored,
    }
    job.total_rows = run.total_rows
    job.error_rows = run.error_rows
    job.valid_rows = run.total_rows - run.error_rows
    job.problem_count = run.problem_count + (1 if run.file_problem else 0)


def import_validate(
    *,
    actor: Any,
    filename: str,
    data: bytes | None = None,
    file: IO[bytes] | Iterable[bytes] | None = None,
    path: str | Path | None = None,
    crs: str = "wgs84",
) -> ImportJob:
    """The dry run: read and check every row of an uploaded file (`data` or `file`) or of a file on the
    server (`path`, for the management command) and keep the report as a job. Nothing in the register
    changes. File-level problems (unreadable, empty, missing columns) make a rejected job, not an error."""
    _authorize(actor, "register.import.validate")
    if sum(x is not None for x in (data, file, path)) != 1:
        raise ValidationFailed(fields={"file": [_("请选择要导入的文件")]})
    crs_value = CRS_WORDS.get(_value_key(crs), "") if crs else "wgs84"
    if not crs_value:
        raise ValidationFailed(fields={"crs": [_("坐标系“%(value)s”无法识别") % {"value": crs}]})
    purge_stored_files()
    scope = _scope_of(actor)
    started = time.perf_counter()
    job = ImportJob(
        created_by=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
        scope=scope,
        org_path=scope.path if scope is not None else "",
        filename=Path(filename or "upload").name[:255],
        options={"crs": crs_value},
    )
    file_problem: Problem | None = None
    if path is not None:
        source = Path(path).resolve()
        job.source_path = str(source)
        try:
            job.sha256, job.size = _hash_path(source)
        except OSError as exc:
            raise ValidationFailed(fields={"path": [_("无法读取文件：%(error)s") % {"error": exc.strerror}]}) from None
    else:
        try:
            _receive(job, data=data, file=file)
        except ImportFileError as exc:
            file_problem = Problem(0, "", str(exc.message))
            job.sha256 = job.sha256 or ""
    run: _Pass | None = None
    if file_problem is None:
        run = _run_pass(job, actor, write=False)
        file_problem = run.file_problem
        _job_fields(job, run)
        job.summary = {"dry_run": dict(+run.counts)}
    job.status = Status.REJECTED if file_problem else Status.VALIDATED
    if file_problem:
        job.problem_count = max(job.problem_count, 1)
    earlier = (
        ImportJob.objects.filter(sha256=job.sha256, status=Status.COMMITTED).order_by("-committed_at").first()
        if job.sha256
        else None
    )
    if earlier is not None:
        committed_at = (
            timezone.localtime(earlier.committed_at).isoformat(timespec="minutes") if earlier.committed_at else ""
        )
        job.summary["same_file_committed"] = {"job": earlier.pk, "at": committed_at}
    job.seconds = round(time.perf_counter() - started, 3)
    with transaction.atomic():
        job.save()
        problems = ([file_problem] if file_problem else []) + (run.problems if run is not None else [])
        _save_problems(job, Phase.DRY_RUN, problems)
        audit_record(
            actor=actor,
            action="register.import.validate",
            target=job,
            result=AuditEntry.Result.FAILED if file_problem else AuditEntry.Result.OK,
            detail=_audit_detail(job),
        )
    if job.status == Status.REJECTED:
        _discard_file(job)
    return job


def _audit_detail(job: ImportJob) -> dict[str, Any]:
    return {
        "filename": job.filename,
        "sha256": job.sha256,
        "size": job.size,
        "format": job.file_format,
        "encoding": job.encoding,
        "mode": job.mode,
        "rows": job.total_rows,
        "valid_rows": job.valid_rows,
        "error_rows": job.error_rows,
        "problems": job.problem_count,
        "counts": job.summary.get("commit") or job.summary.get("dry_run") or {},
    }


def _discard_file(job: ImportJob) -> None:
    if job.stored_file:
        (store_dir() / job.stored_file).unlink(missing_ok=True)
        ImportJob.objects.filter(pk=job.pk).update(stored_file="")
        job.stored_file = ""


def import_commit(*, actor: Any, job: ImportJob, mode: str = Mode.ALL_OR_NOTHING) -> ImportJob:
    """Import a checked file. Every row is checked again against the register as it is now.
    `all_or_nothing`: one transaction, rolled back if any row has a problem (the job is then `failed`
    with the problems, and nothing in the register changed). `valid_only`: rows with problems are skipped
    and reported, the others are imported."""
    _authorize(actor, "register.import.commit")
    if mode not in Mode.values:
        raise ValidationFailed(fields={"mode": [_("导入方式应为“全部无误才导入”或“只导入无误的行”")]})
    if actor is not None:
        job = import_job_get(actor=actor, job_id=job.pk)
    if job.status == Status.COMMITTED:
        raise Conflict(_("该文件已导入（任务 #%(job)d），无需重复导入") % {"job": job.pk})
    if job.status == Status.REJECTED:
        raise Conflict(_("该文件未通过预检，无法导入，请修正后重新上传"))
    if job.source_path:
        try:
            sha256, _size = _hash_path(Path(job.source_path))
        except OSError:
            sha256 = ""
        if sha256 != job.sha256:
            raise Conflict(_("文件在预检之后被修改或移走（SHA-256 不一致），请重新预检"))
    started = time.perf_counter()
    run: _Pass | None = None
    failure: Problem | None = None
    try:
        with transaction.atomic():
            locked = ImportJob.objects.select_for_update().get(pk=job.pk)
            if locked.status == Status.COMMITTED:
                raise Conflict(_("该文件已导入（任务 #%(job)d），无需重复导入") % {"job": job.pk})
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:  # one register import at a time
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x1317_0001])
            with _sqlite_cache(), _immediate_constraints():
                run = _run_pass(job, actor, write=True, stop_writing_on_error=mode == Mode.ALL_OR_NOTHING)
            if run.file_problem is not None or (mode == Mode.ALL_OR_NOTHING and run.problem_count):
                raise _Abort()
            job.status = Status.COMMITTED
            job.mode = mode
            job.committed_by = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
            job.committed_at = timezone.now()
            _job_fields(job, run)
            job.summary = {**job.summary, "commit": dict(+run.counts)}
            job.seconds = round(time.perf_counter() - started, 3)
            job.save()
            _save_problems(job, Phase.COMMIT, run.problems)
            audit_record(actor=actor, action="register.import.commit", target=job, detail=_audit_detail(job))
    except _Abort:
        failure = run.file_problem if run is not None else None
    except IntegrityError:
        failure = Problem(0, "", _("导入期间登记数据被他人同时修改，未导入任何数据，请重新导入"))
    if job.status == Status.COMMITTED:
        _discard_file(job)
        _analyze_after(job)
        return job
    # Nothing was written: record why, outside the rolled-back transaction.
    job.refresh_from_db()
    job.status = Status.FAILED
    job.mode = mode
    if run is not None:
        _job_fields(job, run)
        job.summary = {**job.summary, "commit": {}}
    job.seconds = round(time.perf_counter() - started, 3)
    with transaction.atomic():
        job.save()
        problems = ([failure] if failure else []) + (run.problems if run is not None else [])
        if failure:
            job.problem_count += 1
            job.save(update_fields=["problem_count"])
        _save_problems(job, Phase.COMMIT, problems)
        audit_record(
            actor=actor,
            action="register.import.commit",
            target=job,
            result=AuditEntry.Result.FAILED,
            detail=_audit_detail(job),
        )
    return job


# --- reads --------------------------------------------------------------------------------------------


def import_jobs_visible(*, actor: Any) -> QuerySet[ImportJob]:
    """Jobs uploaded in the actor's area (by anyone there) for those who may import."""
    if not has_capability(actor, Capability.IMPORT_REGISTER):
        raise PermissionDenied()
    root = scope_root(actor)
    return ImportJob.objects.filter(Q(org_path__startswith=root.path) | Q(created_by=actor)).select_related(
        "created_by", "committed_by"
    )


def import_job_get(*, actor: Any, job_id: int) -> ImportJob:
    job = import_jobs_visible(actor=actor).filter(pk=job_id).first()
    if job is None:
        raise NotFound(_("导入任务不存在或不在您的辖区内"))
    return job


def import_problems(*, job: ImportJob, phase: str | None = None) -> QuerySet[ImportProblem]:
    """The problems of the job's latest step (the commit's once it ran), in row order."""
    if phase is None:
        phase = Phase.COMMIT if job.status in (Status.COMMITTED, Status.FAILED) else Phase.DRY_RUN
    return job.problems.filter(phase=phase).order_by("row", "id")


REPORT_HEADERS = ("行号", "列", "问题")


def report_rows(*, job: ImportJob, phase: str | None = None) -> Iterator[tuple[Any, str, str]]:
    """(row, column, problem) for the error report, the file as a whole as row "文件"."""
    for row, column, problem in (
        import_problems(job=job, phase=phase).values_list("row", "column", "problem").iterator(chunk_size=2000)
    ):
        yield (row if row else _("文件")), column, problem


def report_csv(*, job: ImportJob, phase: str | None = None) -> Iterator[bytes]:
    """The error report as CSV, UTF-8 with BOM (so that Excel opens it as UTF-8), streamed."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow([_(h) for h in REPORT_HEADERS])
    yield codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(report_rows(job=job, phase=phase), start=1):
        out.writerow(row)
        if count % 1000 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def report_xlsx(*, job: ImportJob, phase: str | None = None) -> IO[bytes]:
    """The error report as an XLSX workbook (write-only mode, spooled to disk when large)."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(_("导入问题"))
    sheet.append([_(h) for h in REPORT_HEADERS])
    for row in report_rows(job=job, phase=phase):
        sheet.append(list(row))
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned to the caller
    book.save(out)
    out.seek(0)
    return cast(IO[bytes], out)


REPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def can_commit(job: ImportJob) -> bool:
    """Checked and not yet imported, with the file still at hand."""
    return job.status in (Status.VALIDATED, Status.FAILED) and bool(job.stored_file or job.source_path)


def report_response(*, actor: Any, job: ImportJob, fmt: str) -> HttpResponseBase:
    """The error report as a download (CSV streamed; XLSX from a spooled file)."""
    content, content_type, filename = report_file(actor=actor, job=job, fmt=fmt)
    response: HttpResponseBase
    if fmt == "csv":
        response = StreamingHttpResponse(cast(Iterable[bytes], content), content_type=content_type)
    else:
        response = FileResponse(cast(IO[bytes], content), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename) or ""
    return response


def report_file(*, actor: Any, job: ImportJob, fmt: str) -> tuple[Iterable[bytes] | IO[bytes], str, str]:
    """The error report to download: (content, content type, file name). The download is audited: the
    problems quote cells of the file."""
    if fmt not in REPORT_FORMATS:
        raise ValidationFailed(fields={"format": [_("问题清单只能下载为 CSV 或 XLSX")]})
    content: Iterable[bytes] | IO[bytes] = report_csv(job=job) if fmt == "csv" else report_xlsx(job=job)
    audit_record(actor=actor, action="register.import.report", target=job, detail={"format": fmt})
    stem = Path(job.filename).stem or "import"
    return content, REPORT_FORMATS[fmt], f"{stem}_问题清单_{job.pk}.{fmt}"
