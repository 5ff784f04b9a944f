"""Spot checks (抽查, DOMAIN §4): a supervisor draws a random, reproducible sample of houses in an area,
stratified by community; an inspector records per house what was found; people found but not registered
can be registered on the spot; registration rates per community, town and district, per month and year.

**The sample.** For each community of the area (ordered by code) the candidate houses are the register's
houses of that community, sorted by id; `min(per_community, available)` are drawn with
`random.Random(f"{seed}:{community code}")`. The seed is stored with the check, so the same seed and the
same register state give the same sample — and because every community has its own generator, a house
added in one community does not change the sample of another. `spotcheck_sample` recomputes a sample
without writing anything (to show that a stored check is what its seed says).

**What is counted.** A sampled house counts once it is visited and found (`house_found`); it is
found-and-registered when the inspector confirms the register's entry for it (`house_registered`).
Each person found living there is recorded; whether the register had them is *computed*, not taken from
the form: with a document number the person is looked up through the blind index and must have had a
residence at that house on the day of the visit; without one, a resident of the same name registered
there on that day is required (and the inspector may still say "not registered"). A person registered
on the spot stays `was_registered=False` — the rate counts what the inspector found.

**Rates** are ratios of sums (DOMAIN §7): registration rate = Σ found-and-registered ÷ Σ found over every
check of the period (a check belongs to the year and month it was drawn for); the year figure sums the
months' numerators and denominators — it is never the average of the monthly rates. Targets: houses
≥ 95 %, migrants (来穗人员) ≥ 90 % (settings `SPOTCHECK_HOUSE_TARGET`, `SPOTCHECK_MIGRANT_TARGET`, in percent).
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.accounts.selectors import scope_root
from civicgrid.audit.services import audit_record
from civicgrid.core import labels, pii
from civicgrid.core.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from civicgrid.core.idnumbers import DocumentType, IdNumberError, parse_document, parse_resident_id
from civicgrid.orgunits.models import Level, OrgUnit
from civicgrid.registry import addresses, services
from civicgrid.registry.models import House, ResidenceRecord, SpotCheck, SpotCheckHouse, SpotCheckPerson

MAX_PER_COMMUNITY = 200
MAX_SEED = 2**62
DRAW_LEVELS = (Level.DISTRICT, Level.TOWN, Level.COMMUNITY)
RATE_LEVELS = (Level.COMMUNITY, Level.TOWN, Level.DISTRICT)


# --- the sample ----------------------------------------------------------------------------------------


def communities_of(area: OrgUnit) -> QuerySet[OrgUnit]:
    return OrgUnit.objects.filter(level=Level.COMMUNITY, path__startswith=area.path, active=True).order_by("code")


def spotcheck_sample(*, area: OrgUnit, per_community: int, seed: int) -> list[tuple[OrgUnit, list[int]]]:
    """The houses a check with this seed draws from the register as it is now: per community (by code),
    the sorted ids of the drawn houses. Pure: reads the register, writes nothing."""
    sample = []
    for community in communities_of(area):
        candidates = list(House.objects.filter(org_path=community.path).order_by("pk").values_list("pk", flat=True))
        if not candidates:
            continue
        rng = random.Random(f"{seed}:{community.code}")  # noqa: S311 — reproducible sampling, not a secret
        sample.append((community, sorted(rng.sample(candidates, min(per_community, len(candidates))))))
    return sample


def spotcheck_draw(
    *,
    actor: Any,
    area: OrgUnit,
    per_community: int,
    seed: int | None = None,
    year: int | None = None,
    month: int | None = None,
    title: str = "",
) -> SpotCheck:
    """Draw a stratified random sample of houses in `area` and store it with its seed."""
    require(actor, Capability.DRAW_SPOT_CHECKS, action="spotcheck.draw", unit=area)
    today = timezone.localdate()
    year = year or today.year
    month = month or today.month
    errors: dict[str, list[str]] = {}
    if area.level not in DRAW_LEVELS:
        errors["area"] = [_("抽查范围应为区、镇街或社区")]
    if not 1 <= per_community <= MAX_PER_COMMUNITY:
        errors["per_community"] = [_("每社区抽取户数应在 1 到 %(max)s 之间") % {"max": MAX_PER_COMMUNITY}]
    if not 2000 <= year <= today.year + 1:
        errors["year"] = [_("年度不正确")]
    if not 1 <= month <= 12:
        errors["month"] = [_("月份应在 1 到 12 之间")]
    if seed is not None and not 0 <= seed < MAX_SEED:
        errors["seed"] = [_("随机种子应为 0 到 %(max)s 之间的整数") % {"max": MAX_SEED - 1}]
    title = title.strip() or _("%(year)s年%(month)s月 %(area)s 入户抽查") % {
        "year": year,
        "month": month,
        "area": area.name,
    }
    if len(title) > 100:
        errors["title"] = [_("名称不能超过 100 字")]
    if errors:
        raise ValidationFailed(fields=errors)
    if seed is None:
        seed = secrets.randbelow(MAX_SEED)
    with transaction.atomic():
        sample = spotcheck_sample(area=area, per_community=per_community, seed=seed)
        if not sample:
            raise ValidationFailed(
                fields={"area": [_("%(area)s 范围内没有登记的房屋，无法抽查") % {"area": area.name}]}
            )
        check = SpotCheck.objects.create(
            area=area,
            seed=seed,
            per_community=per_community,
            year=year,
            month=month,
            title=title,
            created_by=actor,
        )
        SpotCheckHouse.objects.bulk_create(
            [
                SpotCheckHouse(spot_check=check, house_id=house_id, community=community, org_path=community.path)
                for community, house_ids in sample
                for house_id in house_ids
            ],
            batch_size=1000,
        )
        audit_record(
            actor=actor,
            action="spotcheck.draw",
            target=check,
            detail={
                "area": area.code,
                "seed": seed,
                "per_community": per_community,
                "period": f"{year}-{month:02d}",
                "communities": len(sample),
                "houses": sum(len(ids) for _c, ids in sample),
            },
        )
    return check


# --- reads ---------------------------------------------------------------------------------------------


def _root(actor: Any, *capabilities: Capability) -> OrgUnit:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAuthenticated()
    if not any(has_capability(actor, c) for c in capabilities):
        raise PermissionDenied()
    return scope_root(actor)


def _check_visible(root: OrgUnit) -> Q:
    """A check is visible when its area lies in the actor's area, or when it has houses there (a town
    supervisor sees the part of a district-wide check that lies in the town)."""
    in_area = SpotCheckHouse.objects.filter(spot_check=OuterRef("pk"), org_path__startswith=root.path)
    return Q(area__path__startswith=root.path) | Q(Exists(in_area))


def spotcheck_list(*, actor: Any, year: int | None = None) -> QuerySet[SpotCheck]:
    """Checks visible to those who draw or record them (not to the grid workers whose work is checked:
    a sample known in advance would be registered in advance)."""
    root = _root(actor, Capability.DRAW_SPOT_CHECKS, Capability.RECORD_SPOT_CHECKS)
    in_scope = Q(houses__org_path__startswith=root.path)
    queryset = (
        SpotCheck.objects.filter(_check_visible(root))
        .select_related("area", "created_by")
        .annotate(
            item_count=Count("houses", filter=in_scope),
            visited_count=Count("houses", filter=in_scope & Q(houses__house_found__isnull=False)),
        )
        .order_by("-year", "-month", "-id")
    )
    if year:
        queryset = queryset.filter(year=year)
    return queryset


def spotcheck_get(*, actor: Any, check_id: int) -> SpotCheck:
    check = spotcheck_list(actor=actor).filter(pk=check_id).first()
    if check is None:
        raise NotFound(_("抽查不存在或不在您的辖区内"))
    return check


def spotcheck_items(*, actor: Any, check: SpotCheck, community: str | None = None) -> QuerySet[SpotCheckHouse]:
    """The check's houses in the actor's area, grouped by community (ordered by community code)."""
    root = _root(actor, Capability.DRAW_SPOT_CHECKS, Capability.RECORD_SPOT_CHECKS)
    queryset = SpotCheckHouse.objects.filter(spot_check=check, org_path__startswith=root.path)
    if community:
        queryset = queryset.filter(community__code=community)
    return (
        queryset.select_related("house", "house__building", "community", "inspector")
        .prefetch_related(Prefetch("persons", queryset=SpotCheckPerson.objects.order_by("id")))
        .order_by("community__code", "house__building__road", "house__building__door_number", "house__room", "id")
    )


def spotcheck_item_get(*, actor: Any, check: SpotCheck, item_id: int) -> SpotCheckHouse:
    item = spotcheck_items(actor=actor, check=check).filter(pk=item_id).first()
    if item is None:
        raise NotFound(_("抽查房屋不存在或不在您的辖区内"))
    return item


def house_residents_on(*, house: House, on: dt.date) -> QuerySet[ResidenceRecord]:
    """Residences of the house on a given day (registered by then, not cancelled before)."""
    return (
        ResidenceRecord.objects.filter(house=house, registered_on__lte=on)
        .filter(Q(state=ResidenceRecord.State.ACTIVE) | Q(cancelled_on__gt=on))
        .select_related("person")
    )


# --- recording a visit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundPerson:
    """A person the inspector found living in the house. `is_migrant`: the inspector's answer (来穗人员);
    when the register has the person, the register's value is used; when not given, derived from a
    resident ID's region code. `was_registered`: the inspector's statement, used only to say "not
    registered" where the name alone matches a registered resident (namesakes)."""

    name: str
    id_type: str = DocumentType.RESIDENT_ID
    id_number: str = ""
    is_migrant: bool | None = None
    was_registered: bool | None = None


def _found_rows(
    item: SpotCheckHouse, persons: list[FoundPerson], on: dt.date, skip_person_ids: set[int]
) -> list[SpotCheckPerson]:
    errors: dict[str, list[str]] = {}
    rows: list[SpotCheckPerson] = []
    residents = list(house_residents_on(house=item.house, on=on))
    registered_ids = {r.person_id for r in residents}
    seen_documents: set[tuple[str, str]] = set()
    for index, found in enumerate(persons):
        name = found.name.strip()
        if not name:
            errors[f"persons.{index}.name"] = [_("请填写姓名")]
            continue
        if len(name) > 60:
            errors[f"persons.{index}.name"] = [_("姓名过长")]
            continue
        person = None
        masked = ""
        is_migrant = found.is_migrant
        if found.id_number.strip():
            id_type = found.id_type or DocumentType.RESIDENT_ID
            try:
                number = parse_document(id_type, found.id_number, field=f"persons.{index}.id_number")
            except IdNumberError as exc:
                errors[exc.field] = [str(exc)]
                continue
            if (id_type, number) in seen_documents:
                errors[f"persons.{index}.id_number"] = [_("同一证件重复填写")]
                continue
            seen_documents.add((id_type, number))
            masked = pii.mask_id_number(number)
            person = services.find_person(id_type=id_type, id_number=number)
            was_registered = person is not None and person.pk in registered_ids
            if is_migrant is None and id_type == DocumentType.RESIDENT_ID:
                is_migrant = not addresses.is_guangzhou(parse_resident_id(number).region_code)
        else:
            namesakes = [r.person for r in residents if r.person.name == name]
            person = namesakes[0] if len(namesakes) == 1 else None
            was_registered = bool(namesakes) and found.was_registered is not False
            masked = person.id_masked if person is not None else ""
        if person is not None:
            if person.pk in skip_person_ids:
                continue  # already on the record as registered on the spot
            if person.pk in registered_ids:
                is_migrant = person.is_migrant
        rows.append(
            SpotCheckPerson(
                item=item,
                person=person,
                name=name,
                id_masked=masked,
                is_migrant=bool(is_migrant),
                was_registered=was_registered,
            )
        )
    if errors:
        raise ValidationFailed(fields=errors)
    return rows


def spotcheck_record_house(
    *,
    actor: Any,
    item: SpotCheckHouse,
    house_found: bool,
    house_registered: bool | None = None,
    persons: list[FoundPerson] | None = None,
    note: str = "",
    visited_on: dt.date | None = None,
) -> SpotCheckHouse:
    """Record (or correct) what the inspector found at a sampled house. A correction replaces the list of
    persons found, except those already registered on the spot."""
    require(actor, Capability.RECORD_SPOT_CHECKS, action="spotcheck.record", target=item, unit=item.community)
    visited_on = visited_on or timezone.localdate()
    persons = persons or []
    errors: dict[str, list[str]] = {}
    if visited_on > timezone.localdate():
        errors["visited_on"] = [_("走访日期不能晚于今天")]
    if visited_on < item.spot_check.created_at.astimezone(timezone.get_current_timezone()).date():
        errors["visited_on"] = [_("走访日期不能早于抽取日期")]
    if house_found and house_registered is None:
        errors["house_registered"] = [_("请填写房屋是否已登记且信息属实")]
    if not house_found and persons:
        errors["persons"] = [_("房屋不存在时不能填写居住人员")]
    if len(note) > 300:
        errors["note"] = [_("备注不能超过 300 字")]
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        locked = SpotCheckHouse.objects.select_for_update().select_related("house", "spot_check").get(pk=item.pk)
        kept = list(locked.persons.filter(registered_on_spot=True))
        if not house_found and kept:
            raise Conflict(_("该户已有现场补登的人员，不能改为“房屋不存在”"))
        rows = _found_rows(locked, persons, visited_on, {p.person_id for p in kept if p.person_id})
        before = _summary(locked)
        locked.persons.filter(registered_on_spot=False).delete()
        SpotCheckPerson.objects.bulk_create(rows)
        locked.house_found = house_found
        locked.house_registered = house_registered if house_found else None
        locked.note = note.strip()
        locked.visited_on = visited_on
        locked.inspector = actor
        locked.save(update_fields=["house_found", "house_registered", "note", "visited_on", "inspector"])
        audit_record(
            actor=actor,
            action="spotcheck.record",
            target=locked,
            detail={
                "check": locked.spot_check_id,
                "house": locked.house_id,
                "before": before,
                "after": _summary(locked),
            },
        )
    return locked


def _summary(item: SpotCheckHouse) -> dict[str, Any]:
    """What an audit entry keeps of a visit: the answers and counts, no names or numbers."""
    persons = list(item.persons.all()) if item.pk else []
    return {
        "house_found": item.house_found,
        "house_registered": item.house_registered,
        "visited_on": item.visited_on,
        "persons": len(persons),
        "registered": sum(1 for p in persons if p.was_registered),
        "migrants": sum(1 for p in persons if p.is_migrant),
        "on_spot": sum(1 for p in persons if p.registered_on_spot),
    }


def spotcheck_register_on_spot(
    *,
    actor: Any,
    item: SpotCheckHouse,
    person_input: services.PersonInput,
    found: SpotCheckPerson | None = None,
    on: dt.date | None = None,
) -> SpotCheckPerson:
    """Register a person found but not registered, through the ordinary residence service (journal and
    audit apply), and mark them registered on the spot. Needs both recording spot checks and registering
    residents in the house's community (a supervisor without the latter asks the community to register)."""
    require(actor, Capability.RECORD_SPOT_CHECKS, action="spotcheck.register_on_spot", target=item, unit=item.community)
    require(actor, Capability.REGISTER_RESIDENTS, action="spotcheck.register_on_spot", target=item, unit=item.community)
    if found is not None and found.item_id != item.pk:
        raise ValidationFailed(fields={"found": [_("该人员不属于这户抽查记录")]})
    if found is not None and (found.was_registered or found.registered_on_spot):
        raise Conflict(_("%(name)s 抽查时已登记或已现场补登") % {"name": found.name})
    with transaction.atomic():
        locked = SpotCheckHouse.objects.select_for_update().select_related("house").get(pk=item.pk)
        if locked.house_found is not True:
            raise ValidationFailed(fields={"item": [_("请先记录走访结果（房屋存在）后再现场补登")]})
        record = services.residence_register(
            actor=actor,
            person=person_input,
            house=locked.house,
            on=on or locked.visited_on or timezone.localdate(),
            source="spotcheck",
        )
        subject = record.person
        if found is None:
            candidates = [
                p
                for p in locked.persons.filter(was_registered=False, registered_on_spot=False)
                if p.person_id == subject.pk or (p.person_id is None and p.name == subject.name)
            ]
            found = candidates[0] if len(candidates) == 1 else None
        if found is None:
            found = SpotCheckPerson(item=locked, name=subject.name, is_migrant=subject.is_migrant, was_registered=False)
        found.person = subject
        found.id_masked = subject.id_masked
        found.registered_on_spot = True
        found.save()
        audit_record(
            actor=actor,
            action="spotcheck.register_on_spot",
            target=locked,
            detail={"check": locked.spot_check_id, "house": locked.house_id, "residence": record.pk},
        )
    return found


# --- rates ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """A rate kept as numerator and denominator, so that roll-ups sum both (never average the rates)."""

    numerator: int = 0
    denominator: int = 0

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.numerator + other.numerator, self.denominator + other.denominator)

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None

    @property
    def percent(self) -> float | None:
        rate = self.rate
        return None if rate is None else float(rate * 100)

    def met(self, target_percent: int) -> bool | None:
        rate = self.rate
        return None if rate is None else rate >= Fraction(target_percent, 100)


@dataclass(frozen=True)
class Figures:
    houses: Ratio = Ratio()
    migrants: Ratio = Ratio()

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.houses + other.houses, self.migrants + other.migrants)


@dataclass
class RateRow:
    unit: OrgUnit
    house_target: int = 95
    migrant_target: int = 90
    total: Figures = Figures()  # the period: the month asked for, or the year (the sum over its months)
    months: dict[int, Figures] = field(default_factory=dict)

    @property
    def houses_met(self) -> bool | None:
        return self.total.houses.met(self.house_target)

    @property
    def migrants_met(self) -> bool | None:
        return self.total.migrants.met(self.migrant_target)

    def add(self, month: int, figures: Figures) -> None:
        self.months[month] = self.months.get(month, Figures()) + figures
        self.total = self.total + figures


@dataclass
class RateTable:
    level: str
    year: int
    month: int | None
    rows: list[RateRow]
    area: RateRow
    house_target: int
    migrant_target: int

    @property
    def month_numbers(self) -> list[int]:
        return sorted({m for row in self.rows for m in row.months})

    @property
    def month_columns(self) -> list[tuple[int, str]]:
        return [(m, str(labels.MONTHS[m])) for m in self.month_numbers]

    @property
    def period(self) -> str:
        return labels.period_label(self.year, self.month)


def targets() -> tuple[int, int]:
    return (
        int(getattr(settings, "SPOTCHECK_HOUSE_TARGET", 95)),
        int(getattr(settings, "SPOTCHECK_MIGRANT_TARGET", 90)),
    )


def registration_rates(*, actor: Any, level: str, year: int, month: int | None = None) -> RateTable:
    """Registration rates of the spot checks of a year (or one month) in the actor's area, per unit of
    `level` (community, town or district), with the monthly figures and the area's total. Every figure
    is a ratio of sums."""
    root = _root(actor, Capability.DRAW_SPOT_CHECKS, Capability.RECORD_SPOT_CHECKS, Capability.VIEW_REGISTER)
    if root.level == Level.GRID and root.parent is not None:
        root = root.parent
    errors: dict[str, list[str]] = {}
    if level not in RATE_LEVELS:
        errors["level"] = [_("统计层级应为社区、镇街或区")]
    if month is not None and not 1 <= month <= 12:
        errors["month"] = [_("月份应在 1 到 12 之间")]
    if errors:
        raise ValidationFailed(fields=errors)

    houses = SpotCheckHouse.objects.filter(org_path__startswith=root.path, spot_check__year=year, house_found=True)
    migrants = SpotCheckPerson.objects.filter(
        item__org_path__startswith=root.path, item__spot_check__year=year, item__house_found=True, is_migrant=True
    )
    if month is not None:
        houses = houses.filter(spot_check__month=month)
        migrants = migrants.filter(item__spot_check__month=month)
    cells: dict[tuple[int, int], Figures] = defaultdict(Figures)
    for row in (
        houses.values("community_id", "spot_check__month")
        .annotate(found=Count("id"), registered=Count("id", filter=Q(house_registered=True)))
        .order_by()
    ):
        key = (row["community_id"], row["spot_check__month"])
        cells[key] = cells[key] + Figures(houses=Ratio(row["registered"], row["found"]))
    for row in (
        migrants.values("item__community_id", "item__spot_check__month")
        .annotate(found=Count("id"), registered=Count("id", filter=Q(was_registered=True)))
        .order_by()
    ):
        key = (row["item__community_id"], row["item__spot_check__month"])
        cells[key] = cells[key] + Figures(migrants=Ratio(row["registered"], row["found"]))

    # Roll each community up to its unit of the requested level (or to the actor's own unit when the
    # level is above it): sums of numerators and of denominators.
    house_target, migrant_target = targets()
    units = {u.path: u for u in OrgUnit.objects.filter(level=level, path__startswith=root.path)}
    communities = dict(OrgUnit.objects.filter(pk__in={c for c, _m in cells}).values_list("pk", "path"))
    rows: dict[int, RateRow] = {}
    area = RateRow(unit=root, house_target=house_target, migrant_target=migrant_target)
    for (community_id, month_number), figures in sorted(cells.items()):
        path = communities[community_id]
        unit = next((units[p] for p in _prefixes(path) if p in units), root)
        target_row = rows.setdefault(
            unit.pk, RateRow(unit=unit, house_target=house_target, migrant_target=migrant_target)
        )
        target_row.add(month_number, figures)
        area.add(month_number, figures)
    return RateTable(
        level=level,
        year=year,
        month=month,
        rows=sorted(rows.values(), key=lambda r: r.unit.code),
        area=area,
        house_target=house_target,
        migrant_target=migrant_target,
    )


def _prefixes(path: str) -> list[str]:
    """ "a/b/c/" → ["a/", "a/b/", "a/b/c/"]."""
    parts = [p for p in path.split("/") if p]
    return ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def spotcheck_verify(*, check: SpotCheck) -> dict[str, Any]:
    """Redraw a stored check from its seed against the register as it is now. `matches` is True when the
    stored sample is exactly what the seed gives; houses added or removed since the draw show up in
    `added`/`missing` (of the communities concerned only)."""
    stored: dict[int, set[int]] = defaultdict(set)
    for community_id, house_id in check.houses.values_list("community_id", "house_id"):
        stored[community_id].add(house_id)
    redrawn = {
        c.pk: set(ids)
        for c, ids in spotcheck_sample(area=check.area, per_community=check.per_community, seed=check.seed)
    }
    communities = sorted(set(stored) | set(redrawn))
    missing = sorted(h for c in communities for h in stored.get(c, set()) - redrawn.get(c, set()))
    added = sorted(h for c in communities for h in redrawn.get(c, set()) - stored.get(c, set()))
    return {"matches": not missing and not added, "missing": missing, "added": added}
