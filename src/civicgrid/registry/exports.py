"""Exports of the register: a person search result, or the residents of a house or of a community, as CSV
(UTF-8 with BOM, so that Excel shows the Chinese) or XLSX, with Chinese headers.

Masked by default (440113********001X, 138****8000). An unmasked export is a reveal of every row: it needs
the reveal permission and a reason, and writes one audit entry naming the number of rows, before the
first byte is sent. Every export, masked or not, is itself audited (it is a read of personal information).

Rows are read with `.iterator()` in chunks and written as they come: the CSV is streamed to the client,
the XLSX is built by openpyxl in write-only mode into a file spooled to disk, so memory stays flat."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

from django.db.models import Prefetch, QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability
from civicgrid.audit.services import audit_record
from civicgrid.core import pii
from civicgrid.core.errors import ValidationFailed
from civicgrid.core.idnumbers import DocumentType
from civicgrid.orgunits.models import OrgUnit
from civicgrid.registry import selectors
from civicgrid.registry.models import House, Person, ResidenceRecord
from civicgrid.registry.services import ID_FIELD, PHONE_FIELD

CHUNK = 2000
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
SCOPES = ("search", "house", "community")
HEADERS = [
    gettext_lazy("姓名"),
    gettext_lazy("性别"),
    gettext_lazy("出生日期"),
    gettext_lazy("证件类型"),
    gettext_lazy("证件号码"),
    gettext_lazy("联系电话"),
    gettext_lazy("户籍地"),
    gettext_lazy("来穗人员"),
    gettext_lazy("工作单位"),
    gettext_lazy("居住证"),
    gettext_lazy("现住地址"),
    gettext_lazy("登记日期"),
    gettext_lazy("最近更新"),
]
# A cell that a spreadsheet would run as a formula is written as text (CSV/formula injection).
_FORMULA_START = ("=", "@", "\t", "\r")

Row = tuple[Person, ResidenceRecord | None]


@dataclass(frozen=True)
class ExportSource:
    """What is exported: a label for the file name and the audit, the unit a reveal is checked against,
    the number of rows, and the rows themselves (a fresh iterator per call)."""

    scope: str
    label: str
    unit: OrgUnit | None
    count: int
    rows: Callable[[], Iterator[Row]]


def _records(queryset: QuerySet[ResidenceRecord]) -> Callable[[], Iterator[Row]]:
    def rows() -> Iterator[Row]:
        for record in queryset.iterator(chunk_size=CHUNK):
            yield record.person, record

    return rows


def export_source(
    *, actor: Any, scope: str, q: str = "", house_id: int | None = None, community: str = ""
) -> ExportSource:
    """The rows of an export, read through the register's scoped selectors."""
    if scope == "house":
        if not house_id:
            raise ValidationFailed(fields={"house": [_("请指定要导出的房屋")]})
        house: House = selectors.house_get(actor=actor, house_id=house_id)
        records = selectors.residents_of(actor=actor, house=house)
        return ExportSource("house", str(house), house.building.community, records.count(), _records(records))
    if scope == "community":
        if not community.strip():
            raise ValidationFailed(fields={"community": [_("请选择要导出的社区/村")]})
        unit = selectors.community_get(actor=actor, code=community)
        records = selectors.residents_of(actor=actor, community=unit)
        return ExportSource("community", unit.name, unit, records.count(), _records(records))
    if scope != "search":
        raise ValidationFailed(fields={"scope": [_("导出范围只能是查询结果、房屋或社区")]})
    if not q.strip():
        raise ValidationFailed(fields={"q": [_("请先输入查询内容")]})
    persons = selectors.person_search(actor=actor, q=q, limit=None)
    # A person's address is shown only where it lies in the actor's area.
    here = Prefetch("residences", queryset=selectors.active_residences_in_area(actor=actor), to_attr="here")
    matched = persons.prefetch_related(here)

    def rows() -> Iterator[Row]:
        for person in matched.iterator(chunk_size=CHUNK):
            records = cast(list[ResidenceRecord], getattr(person, "here", []))
            yield person, (records[0] if records else None)

    return ExportSource("search", _("查询结果"), None, persons.count(), rows)


def _text(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    if text.startswith(_FORMULA_START) or (
        text.startswith(("+", "-")) and not text[1:].replace(" ", "").replace("-", "").isdigit()
    ):
        return "'" + text
    return text


def _cells(person: Person, record: ResidenceRecord | None, *, unmasked: bool) -> list[str]:
    if unmasked:
        id_number = pii.decrypt(bytes(person.id_number_enc), field=ID_FIELD)
        phone = pii.decrypt(bytes(person.phone_enc), field=PHONE_FIELD) if person.phone_enc else ""
    else:
        id_number, phone = person.id_masked, person.phone_masked
    address = ""
    if record is not None:
        house = record.house
        address = f"{house.building.community.name}{house.building}{house.room}"
    return [
        _text(v)
        for v in (
            person.name,
            person.get_sex_display() if person.sex else "",
            person.birth_date,
            DocumentType(person.id_type).label if person.id_type in DocumentType.values else person.id_type,
            id_number,
            phone,
            person.hukou_place,
            _("是") if person.is_migrant else _("否"),
            person.employer,
            person.get_permit_status_display(),
            address,
            record.registered_on if record else None,
            record.updated_on if record else None,
        )
    ]


def export_csv(source: ExportSource, *, unmasked: bool) -> Iterator[bytes]:
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow([str(h) for h in HEADERS])
    yield codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for count, (person, record) in enumerate(source.rows(), start=1):
        out.writerow(_cells(person, record, unmasked=unmasked))
        if count % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def export_xlsx(source: ExportSource, *, unmasked: bool) -> IO[bytes]:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(_("实有人口"))
    sheet.append([str(h) for h in HEADERS])
    for person, record in source.rows():
        sheet.append(_cells(person, record, unmasked=unmasked))
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned to the caller
    book.save(out)
    out.seek(0)
    return cast(IO[bytes], out)


def register_export(
    *, actor: Any, source: ExportSource, fmt: str, unmasked: bool = False, reason: str = ""
) -> tuple[Iterable[bytes] | IO[bytes], str, str]:
    """Authorise and audit an export, then return (content, content type, file name). An unmasked one
    needs the reveal permission (refusals audited by `require`) and a reason."""
    if fmt not in FORMATS:
        raise ValidationFailed(fields={"format": [_("只能导出为 CSV 或 XLSX")]})
    detail: dict[str, Any] = {"scope": source.scope, "of": source.label[:100], "format": fmt, "rows": source.count}
    if unmasked:
        require(actor, Capability.REVEAL_PERSONAL_INFO, action="pii.export", unit=source.unit)
        if len(reason.strip()) < 2:
            raise ValidationFailed(fields={"reason": [_("导出完整证件号码和电话须填写事由")]})
        detail["reason"] = reason.strip()[:200]
    audit_record(
        actor=actor,
        action="pii.export" if unmasked else "register.export",
        object_type="registry.person",
        object_repr=source.label[:200],
        detail={**detail, "masked": not unmasked},
    )
    content = export_csv(source, unmasked=unmasked) if fmt == "csv" else export_xlsx(source, unmasked=unmasked)
    stamp = timezone.localdate().strftime("%Y%m%d")
    suffix = _("完整") if unmasked else _("脱敏")
    return content, FORMATS[fmt], f"{_('实有人口')}_{source.label}_{suffix}_{stamp}.{fmt}"


def export_response(
    *, actor: Any, source: ExportSource, fmt: str, unmasked: bool = False, reason: str = ""
) -> HttpResponseBase:
    content, content_type, filename = register_export(
        actor=actor, source=source, fmt=fmt, unmasked=unmasked, reason=reason
    )
    response: HttpResponseBase
    if fmt == "csv":
        response = StreamingHttpResponse(cast(Iterable[bytes], content), content_type=content_type)
    else:
        response = FileResponse(cast(IO[bytes], content), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename) or ""
    response["Cache-Control"] = "no-store"
    return response
