"""Data quality of the register (DOMAIN §4): the scan that finds problems, the queues a clerk works through,
and the decision a clerk records. Nothing here changes the register: a finding is a `QualityIssue`, a
decision is written on the issue and in the audit journal, and any fix goes through the ordinary register
services (update, cancel, record an exception).

**What the scan finds** (each a kind of issue, each with a stable `key` so that re-running the scan does
not duplicate):

- *duplicate_person* — the same human under two person records. Exact duplicates cannot exist (a person is
  unique by document type and blind index), so two signals are used, and each pair of records is one issue
  (key ``p<low id>-p<high id>``):
  1. the same name and birth date (and the same sex where both are known) under different documents — a
     resident ID and a Hong Kong/Macau/Taiwan residence permit of one person, or a resident ID entered
     with a typo in the sequence digits. This is a *suspicion*; namesakes born on the same day exist, and
     the clerk dismisses those;
  2. the same document number under two document types (a resident ID entered as "other", a legacy 15-digit
     number, a permit typed as a passport). Blind indexes are keyed by type, so each number of the few
     non-resident-ID records is decrypted and its blind index recomputed under every *other* type whose
     format it satisfies; every cross-type pair has at least one non-resident-ID side, so the (large)
     resident-ID side is never decrypted for this.
- *dual_active* — a person with more than one active residence. The database forbids a second active
  residence without an exception, so what is found is (a) legacy data imported before the rule, (b)
  persons whose every residence is an "exception" (no main residence), and (c) persons with a recorded
  exception, listed for periodic review: a decided review issue is reopened after
  `REGISTER_EXCEPTION_REVIEW_MONTHS` (default 12). Key: the person and the set of houses, so a changed
  situation is a new issue.
- *over_capacity* — a house with more active residents than its limit: rooms × `persons_per_room`
  (setting `REGISTER_PERSONS_PER_ROOM`, default 2) and floor area ÷ `area_per_person` (setting
  `REGISTER_AREA_PER_PERSON`, default 5 m², the 群租 threshold), the smaller of those whose data exists.
  Every use is checked: a "self-occupied" house with twelve residents is exactly the disguised letting to
  find; a large family is dismissed by the clerk. Key: the house.
- *stale* — an active residence not updated for `stale_months` (`REGISTER_STALE_MONTHS`, default 6).
  Key: the residence record.
- *id_mismatch* — a person with a resident ID whose stored sex or birth date disagrees with the number,
  a stored number that no longer passes the GB 11643 check, or a number that cannot be decrypted. Only
  resident-ID persons with sex or birth date stored and some residence are decrypted, in batches. The
  message names the disagreeing field, never the values read from the number (the masked display hides
  the birth date on purpose). Key: the person.

Persons are placed in the area of their active residence (else their latest one); a finding about a
person with no residence at all is in nobody's area and is not raised.

**Re-running.** A finding whose issue exists refreshes it (`last_seen_at`, message, detail); its status is
kept, except that a *resolved* issue found again is reopened (the problem came back) and a decided
exception review is reopened when its review is due. An *open* issue that the scan no longer finds is
closed as resolved by the system (`decided_by` empty, note "复查时已不存在（系统自动关闭）"): the problem went
away, typically because a clerk fixed the register. Decided issues that are no longer found are left as
they were. Every superseded decision is kept in `detail["history"]`; every decision and every scan run is
in the audit journal — one entry per run, since the decryption is an internal system read.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.accounts.selectors import scope_root
from civicgrid.audit.models import AuditEntry
from civicgrid.audit.services import audit_record, audit_refusal
from civicgrid.core import pii
from civicgrid.core.errors import Conflict, NotAuthenticated, NotFound, OutOfScope, PermissionDenied, ValidationFailed
from civicgrid.core.idnumbers import DocumentType, IdNumberError, parse_document, parse_resident_id
from civicgrid.registry.models import House, Person, QualityIssue, ResidenceRecord
from civicgrid.registry.services import ID_FIELD

Kind = QualityIssue.Kind
Status = QualityIssue.Status

AUTO_CLOSE_NOTE = "复查时已不存在（系统自动关闭）"
REOPEN_NOTE = "复查时再次发现"
REVIEW_NOTE = "例外登记到期复核"
BATCH = 2000
KEY_LENGTH = 80

# Which decision may follow which (the state of an issue is its latest decision).
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.OPEN: frozenset({Status.CONFIRMED, Status.DISMISSED, Status.RESOLVED}),
    Status.CONFIRMED: frozenset({Status.RESOLVED, Status.DISMISSED}),
    Status.DISMISSED: frozenset({Status.CONFIRMED}),
    Status.RESOLVED: frozenset(),
}

SEX_LABELS = {"M": "男", "F": "女"}


# --- findings ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    key: str
    org_path: str
    message: str
    person_id: int | None = None
    house_id: int | None = None
    other_org_path: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class KindResult:
    found: int = 0
    created: int = 0
    refreshed: int = 0
    reopened: int = 0
    closed: int = 0


@dataclass
class ScanResult:
    at: dt.datetime
    dry_run: bool
    kinds: dict[str, KindResult]
    decrypted: int = 0
    undecryptable: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "decrypted": self.decrypted,
            "undecryptable": self.undecryptable,
            "kinds": {kind: vars(result) for kind, result in self.kinds.items()},
        }


@dataclass
class _Reads:
    """Counts of personal information read during one scan (for the one audit entry)."""

    decrypted: int = 0
    undecryptable: list[int] = field(default_factory=list)


def months_before(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _chunks(items: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _short_key(prefix: str, parts: Iterable[int]) -> str:
    key = prefix + "-".join(str(p) for p in parts)
    if len(key) <= KEY_LENGTH:
        return key
    return prefix + "s" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:32]


def _home_paths(person_ids: Iterable[int]) -> dict[int, str]:
    """The area of each person: the path of an active residence (the oldest without an exception first),
    else of the latest residence."""
    homes: dict[int, str] = {}
    best: dict[int, tuple[int, int, int, int]] = {}
    for batch in _chunks(sorted(set(person_ids))):
        rows = ResidenceRecord.objects.filter(person_id__in=batch).values_list(
            "pk", "person_id", "state", "exception_reason", "registered_on", "org_path"
        )
        for pk, person_id, state, exception, registered_on, path in rows:
            if state == ResidenceRecord.State.ACTIVE:
                rank = (0, 1 if exception else 0, registered_on.toordinal(), pk)
            else:
                rank = (1, 0, -registered_on.toordinal(), -pk)
            if person_id not in best or rank < best[person_id]:
                best[person_id], homes[person_id] = rank, path
    return homes


def _persons_with_residence() -> QuerySet[Person]:
    return Person.objects.filter(Exists(ResidenceRecord.objects.filter(person=OuterRef("pk"))))


def _doc_label(id_type: str) -> str:
    try:
        return str(DocumentType(id_type).label)
    except ValueError:
        return id_type


def _decrypt(blob: Any, person_id: int, reads: _Reads) -> str | None:
    try:
        value = pii.decrypt(bytes(blob), field=ID_FIELD)
    except (pii.PiiError, TypeError):
        reads.undecryptable.append(person_id)
        return None
    reads.decrypted += 1
    return value


# --- detectors -----------------------------------------------------------------------------------------


def find_duplicate_persons(reads: _Reads) -> list[Finding]:
    pairs: dict[tuple[int, int], list[str]] = defaultdict(list)
    info: dict[int, tuple[str, str, str]] = {}

    # 1. Same name and birth date, different document (one correlated, indexed query; no PI read).
    twin = Person.objects.filter(name=OuterRef("name"), birth_date=OuterRef("birth_date")).exclude(pk=OuterRef("pk"))
    rows = (
        Person.objects.exclude(birth_date=None)
        .filter(Exists(twin))
        .order_by("name", "birth_date", "pk")
        .values_list("pk", "name", "birth_date", "sex", "id_type", "id_masked")
    )
    groups: dict[tuple[str, dt.date], list[tuple[int, str]]] = defaultdict(list)
    for pk, name, birth_date, sex, id_type, masked in rows:
        if birth_date is not None:
            groups[(name, birth_date)].append((pk, sex))
        info[pk] = (name, id_type, masked)
    for members in groups.values():
        for i, (a, sex_a) in enumerate(members):
            for b, sex_b in members[i + 1 :]:
                if sex_a and sex_b and sex_a != sex_b:
                    continue
                pairs[(min(a, b), max(a, b))].append("name_birth")

    # 2. One document number under two types: decrypt the non-resident-ID records only.
    wanted: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))  # type → blind → person ids
    others = (
        Person.objects.exclude(id_type=DocumentType.RESIDENT_ID)
        .order_by("pk")
        .values_list("pk", "id_type", "id_number_enc")
        .iterator(chunk_size=BATCH)
    )
    for pk, own_type, blob in others:
        number = _decrypt(blob, pk, reads)
        if number is None:
            continue
        for other_type in DocumentType.values:
            if other_type == own_type:
                continue
            try:
                canonical = parse_document(other_type, number)
            except IdNumberError:
                continue
            wanted[other_type][pii.blind_index(canonical, kind=other_type)].append(pk)
    for other_type, blinds in wanted.items():
        for batch in _chunks(list(blinds)):
            for pk, blind, name, id_type, masked in Person.objects.filter(
                id_type=other_type, id_blind__in=batch
            ).values_list("pk", "id_blind", "name", "id_type", "id_masked"):
                info[pk] = (name, id_type, masked)
                for other in blinds[blind]:
                    if other != pk:
                        pairs[(min(pk, other), max(pk, other))].append("same_number")
    missing = {pid for pair in pairs for pid in pair} - set(info)
    for pk, name, id_type, masked in Person.objects.filter(pk__in=missing).values_list(
        "pk", "name", "id_type", "id_masked"
    ):
        info[pk] = (name, id_type, masked)

    homes = _home_paths(pid for pair in pairs for pid in pair)
    findings = []
    for (a, b), reasons in sorted(pairs.items()):
        path_a, path_b = homes.get(a, ""), homes.get(b, "")
        if not path_a and not path_b:
            continue
        (name_a, type_a, masked_a), (name_b, type_b, masked_b) = info[a], info[b]
        detail = {
            "persons": [a, b],
            "reasons": sorted(set(reasons)),
            "names": [name_a, name_b],
            "id_types": [type_a, type_b],
            "masked": [masked_a, masked_b],
        }
        findings.append(
            Finding(
                key=f"p{a}-p{b}",
                org_path=path_a or path_b,
                other_org_path=path_b if path_a and path_b != path_a else "",
                person_id=a,
                message=_render(Kind.DUPLICATE_PERSON, detail)[:300],
                detail=detail,
            )
        )
    return findings


def find_dual_active() -> list[Finding]:
    active = ResidenceRecord.objects.filter(state=ResidenceRecord.State.ACTIVE)
    multi = active.values("person_id").annotate(n=Count("id")).filter(n__gt=1).values("person_id")
    rows = (
        active.filter(person_id__in=multi)
        .order_by("person_id", "registered_on", "id")
        .values_list(
            "pk", "person_id", "person__name", "house_id", "exception_reason", "registered_on", "updated_on", "org_path"
        )
    )
    by_person: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_person[row[1]].append(row)
    findings = []
    for person_id, records in by_person.items():
        plain = [r for r in records if not r[4]]
        primary = plain[0] if plain else records[0]
        other_path = next((r[7] for r in records if r[7] != primary[7]), "")
        detail = {
            "name": records[0][2],
            "review": len(plain) == 1,  # one main residence and recorded exceptions: reviewed periodically
            "without_exception": len(plain),
            "residences": [
                {
                    "record": r[0],
                    "house": r[3],
                    "exception_reason": r[4],
                    "registered_on": r[5].isoformat(),
                    "updated_on": r[6].isoformat(),
                }
                for r in records
            ],
        }
        findings.append(
            Finding(
                key=_short_key(f"p{person_id}:h", sorted(r[3] for r in records)),
                org_path=primary[7],
                other_org_path=other_path,
                person_id=person_id,
                house_id=primary[3],
                message=_render(Kind.DUAL_ACTIVE, detail)[:300],
                detail=detail,
            )
        )
    return findings


def find_over_capacity(*, persons_per_room: int, area_per_person: Decimal) -> list[Finding]:
    decimal: Any = DecimalField(max_digits=12, decimal_places=2)
    houses = (
        House.objects.filter(Q(rooms__gt=0) | Q(floor_area__gt=0))
        .annotate(residents=Count("residences", filter=Q(residences__state=ResidenceRecord.State.ACTIVE)))
        .filter(residents__gt=0)
        .annotate(
            room_limit=ExpressionWrapper(F("rooms") * Value(persons_per_room), output_field=IntegerField()),
            area_needed=ExpressionWrapper(Cast("residents", decimal) * Value(area_per_person), output_field=decimal),
        )
        .filter(Q(rooms__gt=0, residents__gt=F("room_limit")) | Q(floor_area__gt=0, area_needed__gt=F("floor_area")))
        .order_by("pk")
        .values_list("pk", "residents", "rooms", "floor_area", "org_path", "use")
    )
    findings = []
    for pk, residents, rooms, floor_area, path, use in houses:
        limits: list[tuple[int, str]] = []
        if rooms:
            limits.append((rooms * persons_per_room, "rooms"))
        if floor_area:
            limits.append((int(Decimal(floor_area) // area_per_person), "area"))
        limit, basis_kind = min(limits)
        detail: dict[str, Any] = {
            "residents": residents,
            "limit": limit,
            "rooms": rooms,
            "floor_area": str(floor_area) if floor_area is not None else None,
            "use": use,
            "basis_kind": basis_kind,
            "persons_per_room": persons_per_room,
            "area_per_person": str(area_per_person),
        }
        detail["basis"] = _capacity_basis(detail)
        findings.append(
            Finding(
                key=f"h{pk}", org_path=path, house_id=pk, message=_render(Kind.OVER_CAPACITY, detail), detail=detail
            )
        )
    return findings


def find_stale(*, stale_months: int, today: dt.date) -> list[Finding]:
    cutoff = months_before(today, stale_months)
    rows = (
        ResidenceRecord.objects.filter(state=ResidenceRecord.State.ACTIVE, updated_on__lt=cutoff)
        .order_by("pk")
        .values_list("pk", "person_id", "person__name", "house_id", "updated_on", "org_path")
        .iterator(chunk_size=BATCH)
    )
    findings = []
    for pk, person_id, name, house_id, updated_on, path in rows:
        detail = {"record": pk, "updated_on": updated_on.isoformat(), "months": stale_months, "name": name}
        findings.append(
            Finding(
                key=f"r{pk}",
                org_path=path,
                person_id=person_id,
                house_id=house_id,
                message=_render(Kind.STALE, detail),
                detail=detail,
            )
        )
    return findings


def find_id_mismatch(reads: _Reads) -> list[Finding]:
    rows = (
        _persons_with_residence()
        .filter(id_type=DocumentType.RESIDENT_ID)
        .filter(Q(sex__in=["M", "F"]) | Q(birth_date__isnull=False))
        .order_by("pk")
        .values_list("pk", "name", "id_number_enc", "sex", "birth_date")
        .iterator(chunk_size=BATCH)
    )
    problems: dict[int, tuple[str, list[str]]] = {}
    for pk, name, blob, sex, birth_date in rows:
        number = _decrypt(blob, pk, reads)
        if number is None:
            continue
        try:
            parsed = parse_resident_id(number)
        except IdNumberError:
            problems[pk] = (name, ["number"])
            continue
        fields = []
        if sex and sex != parsed.sex:
            fields.append("sex")
        if birth_date is not None and birth_date != parsed.birth_date:
            fields.append("birth_date")
        if fields:
            problems[pk] = (name, fields)
    undecryptable = set(reads.undecryptable)
    if undecryptable:
        for pk, name in Person.objects.filter(pk__in=undecryptable).values_list("pk", "name"):
            problems[pk] = (name, ["undecryptable"])
    homes = _home_paths(problems)
    findings = []
    for pk, (name, fields) in sorted(problems.items()):
        if pk not in homes:
            continue
        detail = {"fields": fields, "name": name}
        findings.append(
            Finding(
                key=f"p{pk}",
                org_path=homes[pk],
                person_id=pk,
                message=_render(Kind.ID_MISMATCH, detail)[:300],
                detail=detail,
            )
        )
    return findings


# --- the sentences ---------------------------------------------------------------------------------------
#
# Each finding's sentence is rendered from its kind and detail. The detectors store it in Chinese (the scan
# runs them in the default language) as `QualityIssue.message`: the scan compares it to refresh issues and
# the queue searches it. A reader in another language gets the same sentence rendered again (`issue_text`).


def _capacity_basis(detail: Mapping[str, Any]) -> str:
    """How an over-capacity limit was reached: rooms × persons a room, or floor area ÷ area a person."""
    if detail["basis_kind"] == "rooms":
        return _("%(rooms)s 间 × 每间 %(per_room)s 人") % {
            "rooms": detail["rooms"],
            "per_room": detail["persons_per_room"],
        }
    return _("%(area)s㎡ ÷ 人均 %(per_person)s㎡") % {
        "area": detail["floor_area"],
        "per_person": detail["area_per_person"],
    }


def _render(kind: str, detail: Mapping[str, Any]) -> str:
    """The sentence of an issue in the active language. Raises KeyError, TypeError or ValueError when the
    detail lacks what the sentence needs (an issue stored before the detail carried it)."""
    if kind == Kind.DUPLICATE_PERSON:
        (name_a, name_b), (type_a, type_b), (masked_a, masked_b) = detail["names"], detail["id_types"], detail["masked"]
        doc_a, doc_b = _doc_label(type_a), _doc_label(type_b)
        if "same_number" in detail["reasons"]:
            why = _("同一证件号码分别以“%(doc_a)s”和“%(doc_b)s”登记") % {"doc_a": doc_a, "doc_b": doc_b}
        else:
            why = _("姓名、出生日期相同而证件不同")
        return _("%(name_a)s（%(doc_a)s %(masked_a)s）与 %(name_b)s（%(doc_b)s %(masked_b)s）：%(why)s") % {
            "name_a": name_a,
            "doc_a": doc_a,
            "masked_a": masked_a,
            "name_b": name_b,
            "doc_b": doc_b,
            "masked_b": masked_b,
            "why": why,
        }
    if kind == Kind.DUAL_ACTIVE:
        plain = int(detail["without_exception"])
        if plain > 1:
            why = _("%(count)s 处在住登记均未记录例外（违反一人一处在住规则，多为历史导入数据）") % {"count": plain}
        elif plain == 0:
            why = _("各处在住登记均为例外登记，缺少主要居住地")
        else:
            why = _("已记录多处居住的例外，需定期复核")
        return _("%(name)s 同时在 %(count)s 处房屋登记在住：%(why)s") % {
            "name": detail["name"],
            "count": len(detail["residences"]),
            "why": why,
        }
    if kind == Kind.OVER_CAPACITY:
        return _("在住 %(residents)s 人，超过上限 %(limit)s 人（%(basis)s）") % {
            "residents": detail["residents"],
            "limit": detail["limit"],
            "basis": _capacity_basis(detail),
        }
    if kind == Kind.STALE:
        return _("%(name)s 的居住登记自 %(since)s 起未更新（超过 %(months)s 个月）") % {
            "name": detail["name"],
            "since": detail["updated_on"],
            "months": detail["months"],
        }
    if kind == Kind.ID_MISMATCH:
        fields = list(detail["fields"])
        if fields == ["number"]:
            problem = _("证件号码未通过身份证号码校验（可能为历史数据录入错误）")
        elif fields == ["undecryptable"]:
            problem = _("证件号码无法解密（密钥缺失或数据损坏），请联系系统管理员")
        else:
            words = {
                "sex": pgettext("mismatched field", "性别"),
                "birth_date": pgettext("mismatched field", "出生日期"),
            }
            problem = _("登记的%(fields)s与身份证号码不一致") % {
                "fields": pgettext("list separator", "、").join(words[f] for f in fields)
            }
        return _("%(name)s：%(problem)s") % {"name": detail["name"], "problem": problem}
    raise KeyError(kind)


def issue_text(issue: QualityIssue) -> str:
    """What an issue says, in the reader's language: the stored (Chinese) message for a Chinese reader,
    else the sentence rendered from the kind and detail — or the stored message when the detail lacks what
    the sentence needs (issues stored before the detail carried the values)."""
    language = get_language() or settings.LANGUAGE_CODE
    if language.lower().startswith("zh"):
        return issue.message
    detail = issue.detail if isinstance(issue.detail, Mapping) else {}
    try:
        return _render(issue.kind, detail)
    except (KeyError, TypeError, ValueError):
        return issue.message


# --- the scan ------------------------------------------------------------------------------------------


def _history_entry(issue: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "status": issue["status"],
        "by": issue["decided_by__username"] or "",
        "at": issue["decided_at"].isoformat() if issue["decided_at"] else None,
        "note": issue["decision_note"],
    }


def _sync(
    kind: str,
    findings: list[Finding],
    *,
    now: dt.datetime,
    dry_run: bool,
    review_before: dt.datetime | None = None,
) -> KindResult:
    """Bring the issues of one kind in line with this scan's findings (see the module docstring)."""
    result = KindResult(found=len(findings))
    by_key = {f.key: f for f in findings}
    existing = {
        row["key"]: row
        for row in QualityIssue.objects.filter(kind=kind).values(
            "pk", "key", "status", "message", "decided_at", "decided_by__username", "decision_note"
        )
    }
    new = [f for key, f in by_key.items() if key not in existing]
    seen = [existing[key] for key in by_key if key in existing]
    gone = [row["pk"] for key, row in existing.items() if key not in by_key and row["status"] == Status.OPEN]
    reopen = []
    for row in seen:
        finding = by_key[row["key"]]
        if row["status"] == Status.RESOLVED:
            reopen.append((row, REOPEN_NOTE))
        elif (
            review_before is not None
            and finding.detail.get("review")
            and row["status"] in (Status.CONFIRMED, Status.DISMISSED)
            and row["decided_at"] is not None
            and row["decided_at"] < review_before
        ):
            reopen.append((row, REVIEW_NOTE))
    reopened_pks = {row["pk"] for row, _note in reopen}
    changed = [row for row in seen if by_key[row["key"]].message != row["message"] and row["pk"] not in reopened_pks]
    result.created, result.refreshed, result.reopened, result.closed = len(new), len(changed), len(reopen), len(gone)
    if dry_run:
        return result

    QualityIssue.objects.bulk_create(
        [
            QualityIssue(
                kind=kind,
                key=f.key,
                person_id=f.person_id,
                house_id=f.house_id,
                org_path=f.org_path,
                other_org_path=f.other_org_path,
                message=f.message,
                detail=f.detail,
                detected_at=now,
                last_seen_at=now,
            )
            for f in new
        ],
        batch_size=1000,
    )
    for batch in _chunks([row["pk"] for row in seen], 5000):
        QualityIssue.objects.filter(pk__in=batch).update(last_seen_at=now)
    for batch in _chunks(changed, 500):
        issues = QualityIssue.objects.in_bulk([row["pk"] for row in batch])
        for row in batch:
            issue, finding = issues[row["pk"]], by_key[row["key"]]
            issue.message, issue.org_path, issue.other_org_path = (
                finding.message,
                finding.org_path,
                finding.other_org_path,
            )
            issue.person_id, issue.house_id = finding.person_id, finding.house_id
            issue.detail = {**finding.detail, "history": issue.detail.get("history", [])}
        QualityIssue.objects.bulk_update(
            list(issues.values()), ["message", "org_path", "other_org_path", "person", "house", "detail"]
        )
    for row, note in reopen:
        issue = QualityIssue.objects.select_for_update().get(pk=row["pk"])
        finding = by_key[row["key"]]
        history = [*issue.detail.get("history", []), _history_entry(row)]
        issue.detail = {**finding.detail, "history": history, "reopened": note}
        issue.message, issue.org_path, issue.other_org_path = finding.message, finding.org_path, finding.other_org_path
        issue.status, issue.decided_by, issue.decided_at, issue.decision_note = Status.OPEN, None, None, ""
        issue.save()
    for batch in _chunks(gone, 5000):
        QualityIssue.objects.filter(pk__in=batch, status=Status.OPEN).update(
            status=Status.RESOLVED, decided_by=None, decided_at=now, decision_note=AUTO_CLOSE_NOTE
        )
    return result


def quality_scan(
    *,
    actor: Any = None,
    stale_months: int | None = None,
    persons_per_room: int | None = None,
    area_per_person: Decimal | None = None,
    review_months: int | None = None,
    kinds: Iterable[str] | None = None,
    dry_run: bool = False,
) -> ScanResult:
    """Scan the whole register and bring the queues up to date. Run by the nightly `scan_quality` command
    (actor None, the system) or by an account that works the queues. One audit entry per run records
    how many identity numbers were decrypted."""
    if actor is not None:
        if not getattr(actor, "is_authenticated", False):
            audit_refusal(actor=actor, action="quality.scan", reason="not_authenticated")
            raise NotAuthenticated()
        if not has_capability(actor, Capability.WORK_QUALITY_QUEUES):
            audit_refusal(actor=actor, action="quality.scan", reason=f"missing:{Capability.WORK_QUALITY_QUEUES}")
            raise PermissionDenied()
    stale_months = stale_months if stale_months is not None else getattr(settings, "REGISTER_STALE_MONTHS", 6)
    persons_per_room = (
        persons_per_room if persons_per_room is not None else getattr(settings, "REGISTER_PERSONS_PER_ROOM", 2)
    )
    area_per_person = Decimal(
        area_per_person if area_per_person is not None else str(getattr(settings, "REGISTER_AREA_PER_PERSON", 5))
    )
    review_months = (
        review_months if review_months is not None else getattr(settings, "REGISTER_EXCEPTION_REVIEW_MONTHS", 12)
    )
    errors: dict[str, list[str]] = {}
    if stale_months < 1:
        errors["stale_months"] = [_("未更新月数至少为 1")]
    if persons_per_room < 1:
        errors["persons_per_room"] = [_("每间居住人数上限至少为 1")]
    if area_per_person <= 0:
        errors["area_per_person"] = [_("人均面积须大于 0")]
    selected = list(kinds) if kinds is not None else list(Kind.values)
    unknown = [k for k in selected if k not in Kind.values]
    if unknown:
        errors["kinds"] = [_("未知的问题类型：%(kinds)s") % {"kinds": pgettext("list separator", "、").join(unknown)}]
    if errors:
        raise ValidationFailed(fields=errors)

    now = timezone.now()
    today = timezone.localdate()
    reads = _Reads()
    settings_used = {
        "stale_months": stale_months,
        "persons_per_room": persons_per_room,
        "area_per_person": str(area_per_person),
        "review_months": review_months,
    }
    try:
        detected: dict[str, list[Finding]] = {}
        # Findings are stored and compared in the default language, whoever runs the scan (the reader's
        # language is applied when they are shown: `issue_text`).
        with translation.override(settings.LANGUAGE_CODE):
            if Kind.DUPLICATE_PERSON in selected:
                detected[Kind.DUPLICATE_PERSON] = find_duplicate_persons(reads)
            if Kind.DUAL_ACTIVE in selected:
                detected[Kind.DUAL_ACTIVE] = find_dual_active()
            if Kind.OVER_CAPACITY in selected:
                detected[Kind.OVER_CAPACITY] = find_over_capacity(
                    persons_per_room=persons_per_room, area_per_person=area_per_person
                )
            if Kind.STALE in selected:
                detected[Kind.STALE] = find_stale(stale_months=stale_months, today=today)
            if Kind.ID_MISMATCH in selected:
                detected[Kind.ID_MISMATCH] = find_id_mismatch(reads)
        review_before = timezone.make_aware(
            dt.datetime.combine(months_before(today, review_months), dt.time.min), timezone.get_current_timezone()
        )
        with transaction.atomic():
            result = ScanResult(
                at=now,
                dry_run=dry_run,
                kinds={
                    kind: _sync(
                        kind,
                        findings,
                        now=now,
                        dry_run=dry_run,
                        review_before=review_before if kind == Kind.DUAL_ACTIVE else None,
                    )
                    for kind, findings in detected.items()
                },
                decrypted=reads.decrypted,
                undecryptable=len(reads.undecryptable),
            )
            audit_record(
                actor=actor,
                action="quality.scan",
                object_type="registry.qualityissue",
                object_repr="数据质量扫描" + ("（试运行）" if dry_run else ""),
                detail={**result.as_dict(), "settings": settings_used},
            )
    except Exception:
        # The identity numbers were read even if the run failed: that read is recorded too.
        audit_record(
            actor=actor,
            action="quality.scan",
            object_type="registry.qualityissue",
            result=AuditEntry.Result.FAILED,
            detail={"decrypted": reads.decrypted, "dry_run": dry_run, "settings": settings_used},
        )
        raise
    return result


# --- queues (reads) ------------------------------------------------------------------------------------


def _queue_path(actor: Any) -> str:
    if not has_capability(actor, Capability.WORK_QUALITY_QUEUES):
        if actor is None or not getattr(actor, "is_authenticated", False):
            raise NotAuthenticated()
        raise PermissionDenied()
    return scope_root(actor).path


def _in_area(path: str) -> Q:
    return Q(org_path__startswith=path) | Q(other_org_path__startswith=path, other_org_path__gt="")


def quality_issue_list(
    *,
    actor: Any,
    kind: str | None = None,
    status: str | None = Status.OPEN,
    community: str | None = None,
    q: str | None = None,
) -> QuerySet[QualityIssue]:
    """The queue: issues in the actor's area (either of an issue's two areas), newest first."""
    queryset = QualityIssue.objects.filter(_in_area(_queue_path(actor)))
    if kind:
        queryset = queryset.filter(kind=kind)
    if status:
        queryset = queryset.filter(status=status)
    if community:
        queryset = queryset.filter(Q(org_path__contains=f"{community}/") | Q(other_org_path__contains=f"{community}/"))
    if q and q.strip():
        queryset = queryset.filter(message__contains=q.strip())
    # Related rows are fetched for the page only (a join before the sort would touch every issue in the area).
    return queryset.prefetch_related("person", "house__building__community", "decided_by").order_by(
        "-last_seen_at", "-id"
    )


def quality_issue_counts(*, actor: Any) -> dict[str, dict[str, int]]:
    """{kind: {status: n, ..., "total": n}} for the actor's area, every kind and status present."""
    counts: dict[str, dict[str, int]] = {kind: dict.fromkeys([*Status.values, "total"], 0) for kind in Kind.values}
    rows = (
        QualityIssue.objects.filter(_in_area(_queue_path(actor)))
        .values("kind", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        if row["kind"] in counts:
            counts[row["kind"]][row["status"]] = row["n"]
            counts[row["kind"]]["total"] += row["n"]
    return counts


def quality_issue_get(*, actor: Any, issue_id: int) -> QualityIssue:
    issue = quality_issue_list(actor=actor, status=None).filter(pk=issue_id).first()
    if issue is None:
        raise NotFound(_("问题不存在或不在您的辖区内"))
    return issue


def quality_last_scan() -> dt.datetime | None:
    """When the scan last saw anything (the queues are as fresh as this)."""
    latest = QualityIssue.objects.order_by("-last_seen_at").values_list("last_seen_at", flat=True).first()
    return latest


# --- decisions (writes) --------------------------------------------------------------------------------


def _require_issue(actor: Any, issue: QualityIssue, action: str) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        audit_refusal(actor=actor, action=action, target=issue, reason="not_authenticated")
        raise NotAuthenticated()
    if not has_capability(actor, Capability.WORK_QUALITY_QUEUES):
        audit_refusal(actor=actor, action=action, target=issue, reason=f"missing:{Capability.WORK_QUALITY_QUEUES}")
        raise PermissionDenied()
    root = getattr(actor, "org_unit", None)
    paths = [p for p in (issue.org_path, issue.other_org_path) if p]
    if root is None or not any(p.startswith(root.path) for p in paths):
        audit_refusal(actor=actor, action=action, target=issue, reason="out_of_scope", detail={"path": issue.org_path})
        raise OutOfScope()


def quality_decide(*, actor: Any, issue: QualityIssue, status: str, note: str) -> QualityIssue:
    """Record a clerk's decision on an issue: confirmed (the problem is real and is being fixed through the
    register services), dismissed (checked, the register is right), resolved (fixed). The register itself
    is never touched here."""
    action = "quality.decide"
    _require_issue(actor, issue, action)
    errors: dict[str, list[str]] = {}
    if status not in (Status.CONFIRMED, Status.DISMISSED, Status.RESOLVED):
        errors["status"] = [_("请选择处理结果：核实属实、核实无误或已整改")]
    note = (note or "").strip()
    if len(note) < 2:
        errors["note"] = [_("请填写处理说明")]
    elif len(note) > 300:
        errors["note"] = [_("处理说明不能超过 300 字")]
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        locked = QualityIssue.objects.select_for_update().get(pk=issue.pk)
        if status not in TRANSITIONS[locked.status]:
            raise Conflict(
                _("该问题当前为“%(current)s”，不能改为“%(new)s”")
                % {"current": locked.get_status_display(), "new": Status(status).label},
                current=locked.status,
            )
        before = locked.status
        history = list(locked.detail.get("history", []))
        if locked.decided_at is not None:
            history.append(
                {
                    "status": locked.status,
                    "by": locked.decided_by.get_username() if locked.decided_by else "",
                    "at": locked.decided_at.isoformat(),
                    "note": locked.decision_note,
                }
            )
        locked.detail = {**locked.detail, "history": history}
        locked.status, locked.decided_by, locked.decided_at, locked.decision_note = status, actor, timezone.now(), note
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "detail"])
        audit_record(
            actor=actor,
            action=action,
            target=locked,
            detail={"kind": locked.kind, "before": before, "after": status, "note": note},
        )
    return locked
