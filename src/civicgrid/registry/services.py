"""Writes to the register. Every write checks role and area, runs in one transaction, appends to the
residence action journal where a residence changes, and records an audit entry. Reveals of personal
information need a permission and a reason and are audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability
from civicgrid.audit.services import audit_record
from civicgrid.core import pii
from civicgrid.core.errors import Conflict, NotFound, ValidationFailed
from civicgrid.core.idnumbers import DocumentType, IdNumberError, agreement_problems, parse_document, parse_resident_id
from civicgrid.geo.models import LayerVersion
from civicgrid.orgunits.models import Level, OrgUnit
from civicgrid.registry import addresses, rentals
from civicgrid.registry.models import (
    Building,
    BuildingStamp,
    House,
    HouseUse,
    Landlord,
    Person,
    Rental,
    ResidenceAction,
    ResidenceRecord,
)

ID_FIELD = "person.id_number"
PHONE_FIELD = "person.phone"


# --- persons -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonInput:
    """What a clerk or an import row says about a person. Only `id_type`, `id_number` and `name` are
    required; birth date and sex come from a resident ID when not given, and must agree with it."""

    id_type: str
    id_number: str
    name: str
    sex: str = ""
    birth_date: dt.date | None = None
    phone: str = ""
    hukou_place: str = ""
    hukou_region: str = ""
    employer: str = ""
    permit_status: str = ""


@dataclass(frozen=True)
class CleanPerson:
    id_type: str
    id_number: str
    name: str
    sex: str
    birth_date: dt.date | None
    phone: str
    hukou_place: str
    hukou_region: str
    is_migrant: bool
    employer: str
    permit_status: str


def clean_phone(phone: str) -> str:
    digits = "".join(c for c in addresses.normalise(phone) if c.isdigit() or c == "-")
    if not digits:
        return ""
    plain = digits.replace("-", "")
    if not (7 <= len(plain) <= 12):
        raise ValidationFailed(fields={"phone": [_("联系电话“%(phone)s”格式不正确") % {"phone": phone}]})
    if len(plain) == 11 and not plain.startswith("1"):
        raise ValidationFailed(fields={"phone": [_("手机号码“%(phone)s”格式不正确") % {"phone": phone}]})
    return digits


def clean_person(data: PersonInput) -> CleanPerson:
    """Validate and normalise; every problem is named by its field, in Chinese."""
    errors: dict[str, list[str]] = {}
    name = data.name.strip()
    if not name:
        errors["name"] = [_("姓名不能为空")]
    elif len(name) > 60:
        errors["name"] = [_("姓名过长")]
    id_type = data.id_type or DocumentType.RESIDENT_ID
    if id_type not in DocumentType.values:
        errors["id_type"] = [_("证件类型“%(value)s”无法识别") % {"value": data.id_type}]
    number = ""
    sex, birth_date, region = data.sex, data.birth_date, data.hukou_region
    try:
        if id_type == DocumentType.RESIDENT_ID:
            parsed = parse_resident_id(data.id_number)
            number = parsed.number
            problems = agreement_problems(parsed, birth_date=data.birth_date, sex=data.sex or None)
            if problems:
                errors.setdefault("id_number", []).extend(problems)
            sex, birth_date = parsed.sex, parsed.birth_date
            region = region or parsed.region_code
        elif id_type in DocumentType.values:
            number = parse_document(id_type, data.id_number)
    except IdNumberError as exc:
        errors.setdefault("id_number", []).append(str(exc))
    phone = ""
    try:
        phone = clean_phone(data.phone)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    if sex and sex not in Person.Sex.values:
        errors["sex"] = [_("性别“%(value)s”无法识别") % {"value": sex}]
    permit = data.permit_status or Person.PermitStatus.NONE
    if permit not in Person.PermitStatus.values:
        errors["permit_status"] = [_("居住证状态“%(value)s”无法识别") % {"value": data.permit_status}]
    if errors:
        raise ValidationFailed(fields=errors)
    region = (region or "")[:6]
    return CleanPerson(
        id_type=id_type,
        id_number=number,
        name=name,
        sex=sex or "",
        birth_date=birth_date,
        phone=phone,
        hukou_place=data.hukou_place.strip()[:120],
        hukou_region=region,
        is_migrant=bool(region) and not addresses.is_guangzhou(region),
        employer=data.employer.strip()[:120],
        permit_status=permit,
    )


def person_values(clean: CleanPerson) -> dict[str, Any]:
    """Model field values, with the identity number and phone encrypted, indexed and masked."""
    values: dict[str, Any] = {
        "id_type": clean.id_type,
        "id_number_enc": pii.encrypt(clean.id_number, field=ID_FIELD),
        "id_blind": pii.blind_index(clean.id_number, kind=clean.id_type),
        "id_masked": pii.mask_id_number(clean.id_number),
        "name": clean.name,
        "sex": clean.sex,
        "birth_date": clean.birth_date,
        "hukou_place": clean.hukou_place,
        "hukou_region": clean.hukou_region,
        "is_migrant": clean.is_migrant,
        "employer": clean.employer,
        "permit_status": clean.permit_status,
        "phone_enc": None,
        "phone_blind": "",
        "phone_masked": "",
    }
    if clean.phone:
        values["phone_enc"] = pii.encrypt(clean.phone, field=PHONE_FIELD)
        values["phone_blind"] = pii.blind_index(clean.phone, kind="phone")
        values["phone_masked"] = pii.mask_phone(clean.phone)
    return values


def find_person(*, id_type: str, id_number: str) -> Person | None:
    """Exact lookup through the blind index (the number itself is never in a query)."""
    return Person.objects.filter(id_type=id_type, id_blind=pii.blind_index(id_number, kind=id_type)).first()


def _upsert_person(clean: CleanPerson) -> tuple[Person, dict[str, Any]]:
    """Create the person, or update the attributes that the new statement changes (returned)."""
    values = person_values(clean)
    person = Person.objects.select_for_update().filter(id_type=clean.id_type, id_blind=values["id_blind"]).first()
    if person is None:
        return Person.objects.create(**values), {"created": True}
    changed: dict[str, Any] = {}
    for field in ("name", "hukou_place", "hukou_region", "is_migrant", "employer", "permit_status"):
        if values[field] not in ("", None) and getattr(person, field) != values[field]:
            changed[field] = values[field]
            setattr(person, field, values[field])
    if clean.phone and person.phone_blind != values["phone_blind"]:
        person.phone_enc, person.phone_blind, person.phone_masked = (
            values["phone_enc"],
            values["phone_blind"],
            values["phone_masked"],
        )
        changed["phone"] = values["phone_masked"]
    if changed:
        person.save()
    return person, changed


# --- buildings and houses ------------------------------------------------------------------------------


def _community(actor: Any, community: OrgUnit, action: str, capability: Capability) -> None:
    if community.level != Level.COMMUNITY:
        raise ValidationFailed(fields={"community": [_("%(name)s 不是社区/村") % {"name": community.name}]})
    if actor is not None:
        require(actor, capability, action=action, unit=community)


def stamp_building(building: Building, layer: Any = None) -> None:
    """Stamp a building with the grid under its point in the current (or given) layer version, keeping
    the stamp in the building's history."""
    from civicgrid.geo.selectors import layer_current, stamp_point

    layer = layer or layer_current()
    if layer is None or building.lon is None or building.lat is None:
        return
    stamp = stamp_point(layer=layer, x=building.lon, y=building.lat)
    grid = OrgUnit.objects.filter(code=stamp.grid).first() if stamp.grid else None
    building.grid, building.stamped_layer = grid, layer
    Building.objects.filter(pk=building.pk).update(grid=grid, stamped_layer=layer)
    BuildingStamp.objects.update_or_create(building=building, layer=layer, defaults={"grid": grid})


def building_get_or_create(
    *,
    actor: Any,
    community: OrgUnit,
    road: str,
    door_number: str,
    name: str = "",
    lon: float | None = None,
    lat: float | None = None,
    crs: str = "wgs84",
) -> Building:
    _community(actor, community, "register.building", Capability.REGISTER_RESIDENTS)
    errors: dict[str, list[str]] = {}
    if not road.strip():
        errors["road"] = [_("路/街/巷不能为空")]
    if not door_number.strip():
        errors["door_number"] = [_("门牌号不能为空")]
    if (lon is None) != (lat is None):
        errors["lon"] = [_("经度和纬度需同时填写")]
    elif lon is not None and lat is not None and not (73 <= lon <= 136 and 3 <= lat <= 54):
        errors["lon"] = [_("坐标不在中国范围内（经度 73–136，纬度 3–54），请检查是否填反或坐标系有误")]
    if errors:
        raise ValidationFailed(fields=errors)
    if lon is not None and lat is not None and crs != "wgs84":
        from civicgrid.geo.crs import transform_point

        lon, lat = transform_point(lon, lat, src=crs, dst="wgs84")
    key = addresses.building_key(community.code, road, door_number, name)
    with transaction.atomic():
        building, created = Building.objects.get_or_create(
            address_key=key,
            defaults={
                "community": community,
                "road": road.strip(),
                "door_number": door_number.strip(),
                "name": name.strip(),
                "lon": lon,
                "lat": lat,
                "org_path": community.path,
            },
        )
        if not created and lon is not None and building.lon is None:
            building.lon, building.lat = lon, lat
            building.save(update_fields=["lon", "lat"])
            created = True
        if created:
            stamp_building(building)
            audit_record(
                actor=actor,
                action="register.building",
                target=building,
                detail={"grid": building.grid.code if building.grid else None},
            )
    return building


def house_get_or_create(
    *,
    actor: Any,
    building: Building,
    room: str = "",
    use: str = HouseUse.SELF_OCCUPIED,
    rooms: int | None = None,
    floor_area: Decimal | None = None,
) -> House:
    _community(actor, building.community, "register.house", Capability.REGISTER_RESIDENTS)
    if use not in HouseUse.values:
        raise ValidationFailed(fields={"use": [_("房屋用途“%(value)s”无法识别") % {"value": use}]})
    key = addresses.house_key(building.address_key, room)
    with transaction.atomic():
        house, created = House.objects.get_or_create(
            address_key=key,
            defaults={
                "building": building,
                "room": room.strip(),
                "use": use,
                "rooms": rooms,
                "floor_area": floor_area,
                "org_path": building.org_path,
            },
        )
        if created:
            audit_record(actor=actor, action="register.house", target=house)
    return house


def house_update(
    *,
    actor: Any,
    house: House,
    use: str | None = None,
    rooms: int | None = None,
    floor_area: Decimal | None = None,
) -> House:
    _community(actor, house.building.community, "register.house_update", Capability.REGISTER_RESIDENTS)
    if use is not None and use not in HouseUse.values:
        raise ValidationFailed(fields={"use": [_("房屋用途“%(value)s”无法识别") % {"value": use}]})
    with transaction.atomic():
        locked = House.objects.select_for_update().get(pk=house.pk)
        before = {"use": locked.use, "rooms": locked.rooms, "floor_area": str(locked.floor_area)}
        if use is not None:
            locked.use = use
        if rooms is not None:
            locked.rooms = rooms
        if floor_area is not None:
            locked.floor_area = floor_area
        locked.save()
        # The under-5 m² flag of the active letting follows the floor area.
        rental = Rental.objects.select_for_update().filter(house=locked, active=True).first()
        if rental is not None:
            rental.house = locked
            _apply_group(rental, rentals.recorded_reasons(list(rental.group_reasons)))
            rental.save(update_fields=["group_reasons", "group_renting"])
        audit_record(
            actor=actor,
            action="register.house_update",
            target=locked,
            detail={
                "before": before,
                "after": {"use": locked.use, "rooms": locked.rooms, "floor_area": str(locked.floor_area)},
            },
        )
    return locked


# --- rentals and landlords ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LandlordInput:
    """Who lets the house. A person is found in the register by document number (through the blind
    index); one not yet registered is added when a name is given. An organisation is named by its unified
    social credit code (GB 32100 check) and name."""

    kind: str = "person"
    id_type: str = DocumentType.RESIDENT_ID
    id_number: str = ""
    name: str = ""
    phone: str = ""
    org_name: str = ""
    uscc: str = ""


def _clean_reasons(reasons: list[str] | None, errors: dict[str, list[str]]) -> list[str]:
    chosen = list(dict.fromkeys(reasons or []))
    if rentals.UNDER_5M2 in chosen:
        errors.setdefault("group_reasons", []).append(
            _("“人均居住面积不足 5 平方米”由系统根据建筑面积和承租人数自动判定，无需勾选")
        )
    unknown = [r for r in chosen if r not in Rental.GroupReason.values]
    if unknown:
        errors.setdefault("group_reasons", []).append(
            _("群租情形“%(value)s”无法识别") % {"value": pgettext("list separator", "、").join(unknown)}
        )
    return [r for r in chosen if r in rentals.RECORDED_REASONS]


def _check_tenants(tenants: int | None, errors: dict[str, list[str]]) -> None:
    if tenants is not None and not 0 < tenants <= 500:
        errors["tenants"] = [_("承租人数应为 1–500 之间的整数")]


def _landlord_clean(landlord: LandlordInput, errors: dict[str, list[str]]) -> tuple[str, Any]:
    """Check the landlord part without writing: ("org", (uscc, name)) or ("person", Person | CleanPerson)."""
    from civicgrid.core.idnumbers import parse_uscc

    if landlord.kind == Landlord.Kind.ORGANISATION:
        uscc = ""
        try:
            uscc = parse_uscc(landlord.uscc, field="landlord_uscc")
        except IdNumberError as exc:
            errors["landlord_uscc"] = [str(exc.message)]
        if not landlord.org_name.strip():
            errors["landlord_org_name"] = [_("单位房东需填写单位名称")]
        elif len(landlord.org_name.strip()) > 120:
            errors["landlord_org_name"] = [_("单位名称过长（最多 120 字）")]
        return "org", (uscc, landlord.org_name.strip())
    if landlord.kind != Landlord.Kind.PERSON:
        errors["landlord_kind"] = [_("请选择房东类型（个人或单位）")]
        return "person", None
    id_type = landlord.id_type or DocumentType.RESIDENT_ID
    if id_type not in DocumentType.values:
        errors["landlord_id_type"] = [_("证件类型“%(value)s”无法识别") % {"value": landlord.id_type}]
        return "person", None
    try:
        number = parse_document(id_type, landlord.id_number, field="landlord_id_number")
    except IdNumberError as exc:
        errors["landlord_id_number"] = [str(exc.message)]
        return "person", None
    found = find_person(id_type=id_type, id_number=number)
    if found is not None:
        return "person", found  # a registered person is used as registered: nothing of theirs is changed
    if not landlord.name.strip():
        errors["landlord_name"] = [_("登记簿中没有该证件号码的人员：如房东尚未登记，请填写房东姓名")]
        return "person", None
    try:
        clean = clean_person(PersonInput(id_type=id_type, id_number=number, name=landlord.name, phone=landlord.phone))
    except ValidationFailed as exc:
        errors.update({f"landlord_{k}": v for k, v in exc.fields.items()})
        return "person", None
    return "person", clean


def _landlord_save(kind: str, value: Any) -> Landlord:
    if kind == "org":
        uscc, name = value
        landlord, created = Landlord.objects.get_or_create(
            uscc=uscc, defaults={"kind": Landlord.Kind.ORGANISATION, "org_name": name}
        )
        if not created and landlord.org_name != name:
            landlord.org_name = name  # the organisation's current name, as the officer read it
            landlord.save(update_fields=["org_name"])
        return landlord
    person = value if isinstance(value, Person) else _upsert_person(value)[0]
    landlord, _created = Landlord.objects.get_or_create(person=person, defaults={"kind": Landlord.Kind.PERSON})
    return landlord


def _landlord_from_legacy(
    landlord_person: PersonInput | None, landlord_org_name: str, landlord_uscc: str
) -> LandlordInput | None:
    if landlord_uscc or landlord_org_name:
        return LandlordInput(kind=Landlord.Kind.ORGANISATION, org_name=landlord_org_name, uscc=landlord_uscc)
    if landlord_person is not None:
        return LandlordInput(
            kind=Landlord.Kind.PERSON,
            id_type=landlord_person.id_type,
            id_number=landlord_person.id_number,
            name=landlord_person.name,
            phone=landlord_person.phone,
        )
    return None


def _rental_snapshot(rental: Rental) -> dict[str, Any]:
    return {
        "start": str(rental.start),
        "end": str(rental.end) if rental.end else None,
        "tenants": rental.tenants,
        "group_reasons": list(rental.group_reasons),
    }


def rental_register(
    *,
    actor: Any,
    house: House,
    start: dt.date,
    landlord: LandlordInput | None = None,
    end: dt.date | None = None,
    tenants: int | None = None,
    group_reasons: list[str] | None = None,
    landlord_person: PersonInput | None = None,
    landlord_org_name: str = "",
    landlord_uscc: str = "",
) -> Rental:
    """Register the letting of a house: landlord, period, tenants and the recorded group-renting reasons
    (the under-5 m² one is derived). A house has one active rental: end it before registering another.
    (`landlord_person`/`landlord_org_name`/`landlord_uscc` are the older way of naming the landlord.)"""
    _community(actor, house.building.community, "register.rental", Capability.REGISTER_RESIDENTS)
    landlord = landlord or _landlord_from_legacy(landlord_person, landlord_org_name, landlord_uscc)
    errors: dict[str, list[str]] = {}
    recorded = _clean_reasons(group_reasons, errors)
    _check_tenants(tenants, errors)
    if end is not None and end < start:
        errors["end"] = [_("到期日期不能早于起租日期")]
    kind, value = "person", None
    if landlord is None:
        errors["landlord"] = [_("请填写房东（个人证件号码，或单位统一社会信用代码）")]
    else:
        kind, value = _landlord_clean(landlord, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    try:
        with transaction.atomic():
            locked = House.objects.select_for_update().get(pk=house.pk)
            if Rental.objects.filter(house=locked, active=True).exists():
                raise Conflict(_("该房屋已有有效的出租登记：请修改现有登记，或先办理退租再登记新的出租"))
            owner = _landlord_save(kind, value)
            assessment = rentals.assess_group_renting(floor_area=locked.floor_area, tenants=tenants)
            reasons = rentals.group_reasons(recorded=recorded, assessment=assessment)
            rental = Rental.objects.create(
                house=locked,
                landlord=owner,
                start=start,
                end=end,
                tenants=tenants,
                group_renting=bool(reasons),
                group_reasons=reasons,
                org_path=locked.org_path,
            )
            if locked.use not in (HouseUse.RENTED, HouseUse.MIXED, HouseUse.THREE_IN_ONE):
                House.objects.filter(pk=locked.pk).update(use=HouseUse.RENTED)
            audit_record(
                actor=actor,
                action="register.rental",
                target=rental,
                detail={"landlord": owner.kind, **_rental_snapshot(rental)},
            )
    except IntegrityError:
        raise Conflict(_("该房屋的出租登记刚被他人修改，请刷新后重试")) from None
    return rental


_UNSET: Any = object()


def rental_update(
    *,
    actor: Any,
    rental: Rental,
    start: dt.date | None = None,
    end: dt.date | None = _UNSET,
    tenants: int | None = _UNSET,
    group_reasons: list[str] | None = None,
) -> Rental:
    """Change an active rental's period, tenants or recorded reasons; the derived flag is recomputed.
    An argument left out keeps its value (`end=None` makes the letting open-ended)."""
    _community(actor, rental.house.building.community, "register.rental_update", Capability.REGISTER_RESIDENTS)
    errors: dict[str, list[str]] = {}
    recorded = _clean_reasons(group_reasons, errors) if group_reasons is not None else None
    if tenants is not _UNSET:
        _check_tenants(tenants, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        locked = Rental.objects.select_for_update(of=("self",)).select_related("house").get(pk=rental.pk)
        if not locked.active:
            raise Conflict(_("该出租登记已退租，不能修改"))
        before = _rental_snapshot(locked)
        if start is not None:
            locked.start = start
        if end is not _UNSET:
            locked.end = end
        if tenants is not _UNSET:
            locked.tenants = tenants
        if locked.end is not None and locked.end < locked.start:
            raise ValidationFailed(fields={"end": [_("到期日期不能早于起租日期")]})
        if recorded is None:
            recorded = rentals.recorded_reasons(list(locked.group_reasons))
        _apply_group(locked, recorded)
        locked.save()
        audit_record(
            actor=actor,
            action="register.rental_update",
            target=locked,
            detail={"before": before, "after": _rental_snapshot(locked)},
        )
    return locked


def _apply_group(rental: Rental, recorded: list[str]) -> None:
    assessment = rentals.assess_group_renting(floor_area=rental.house.floor_area, tenants=rental.tenants)
    rental.group_reasons = rentals.group_reasons(recorded=recorded, assessment=assessment)
    rental.group_renting = bool(rental.group_reasons)


def rental_end(*, actor: Any, rental: Rental, on: dt.date | None = None, reason: str = "") -> Rental:
    """退租: the letting ended on a date, for a reason. The record stays, inactive."""
    _community(actor, rental.house.building.community, "register.rental_end", Capability.REGISTER_RESIDENTS)
    on = on or timezone.localdate()
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = [_("请填写退租原因（如：租约到期）")]
    if on > timezone.localdate():
        errors["on"] = [_("退租日期不能晚于今天")]
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        locked = Rental.objects.select_for_update(of=("self",)).get(pk=rental.pk)
        if not locked.active:
            raise Conflict(_("该出租登记已退租"))
        if on < locked.start:
            raise ValidationFailed(
                fields={"on": [_("退租日期不能早于起租日期（%(start)s）") % {"start": locked.start}]}
            )
        locked.active = False
        locked.ended_on = on
        locked.end_reason = reason.strip()[:200]
        locked.save(update_fields=["active", "ended_on", "end_reason"])
        audit_record(
            actor=actor,
            action="register.rental_end",
            target=locked,
            detail={"on": str(on), "reason": locked.end_reason},
        )
    return locked


# --- residence: register, update, cancel --------------------------------------------------------------


def _replayed(txn_id: str | None) -> ResidenceRecord | None:
    """A retried request (same client transaction id) returns the record it already produced."""
    if not txn_id:
        return None
    action = ResidenceAction.objects.select_related("record").filter(txn_id=txn_id).first()
    return action.record if action else None


def residence_register(
    *,
    actor: Any,
    person: PersonInput,
    house: House,
    on: dt.date | None = None,
    txn_id: str | None = None,
    source: str = "web",
) -> ResidenceRecord:
    """人来登记: register a person arriving at a house."""
    _community(actor, house.building.community, "residence.register", Capability.REGISTER_RESIDENTS)
    on = on or timezone.localdate()
    if on > timezone.localdate():
        raise ValidationFailed(fields={"on": [_("登记日期不能晚于今天")]})
    replay = _replayed(txn_id)
    if replay is not None:
        return replay
    clean = clean_person(person)
    try:
        with transaction.atomic():
            subject, changed = _upsert_person(clean)
            active = list(
                ResidenceRecord.objects.select_for_update()
                .select_related("house__building")
                .filter(person=subject, state=ResidenceRecord.State.ACTIVE)
            )
            here = next((r for r in active if r.house_id == house.pk), None)
            if here is not None:
                raise Conflict(_("%(name)s 已在该房屋登记在住，如信息有变化请使用“更新”") % {"name": subject.name})
            if any(not r.exception_reason for r in active):
                elsewhere = next(r for r in active if not r.exception_reason)
                # Name the other house only if it lies in the actor's own area (privacy).
                from civicgrid.accounts.permissions import in_scope

                where = str(elsewhere.house) if in_scope(actor, elsewhere.house.building.community) else _("其他辖区")
                raise Conflict(
                    _("%(name)s 已在%(place)s登记在住：请先注销原登记，或由社区/镇街工作人员记录多处居住的例外")
                    % {"name": subject.name, "place": where},
                    existing=elsewhere.pk,
                )
            record = ResidenceRecord.objects.create(
                person=subject, house=house, registered_on=on, updated_on=on, org_path=house.org_path
            )
            ResidenceAction.objects.create(
                record=record,
                kind=ResidenceAction.Kind.REGISTER,
                on=on,
                actor=_who(actor),
                data={"person_changed": {k: str(v) for k, v in changed.items()}},
                source=source,
                txn_id=txn_id,
            )
            audit_record(actor=actor, action="residence.register", target=record, detail={"house": house.pk})
    except IntegrityError:
        # Two clerks registering the same person at once: the constraint lets exactly one through.
        raise Conflict(_("该人员的在住登记刚被他人修改，请刷新后重试")) from None
    return record


def _who(actor: Any) -> Any:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _locked_record(record: ResidenceRecord, expected_version: int | None) -> ResidenceRecord:
    locked = ResidenceRecord.objects.select_for_update(of=("self",)).select_related("person", "house").get(pk=record.pk)
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(_("该登记已被他人修改，请刷新后重试"))
    return locked


def residence_update(
    *,
    actor: Any,
    record: ResidenceRecord,
    on: dt.date | None = None,
    phone: str | None = None,
    employer: str | None = None,
    permit_status: str | None = None,
    hukou_place: str | None = None,
    expected_version: int | None = None,
    txn_id: str | None = None,
) -> ResidenceRecord:
    """人在更新: confirm a person still lives here and update what changed."""
    _community(actor, record.house.building.community, "residence.update", Capability.REGISTER_RESIDENTS)
    on = on or timezone.localdate()
    if on > timezone.localdate():
        raise ValidationFailed(fields={"on": [_("更新日期不能晚于今天")]})
    replay = _replayed(txn_id)
    if replay is not None:
        return replay
    errors: dict[str, list[str]] = {}
    clean_phone_value = None
    if phone is not None:
        try:
            clean_phone_value = clean_phone(phone)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if permit_status is not None and permit_status not in Person.PermitStatus.values:
        errors["permit_status"] = [_("居住证状态“%(value)s”无法识别") % {"value": permit_status}]
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        locked = _locked_record(record, expected_version)
        if locked.state != ResidenceRecord.State.ACTIVE:
            raise Conflict(_("该登记已注销，不能更新；如已回来居住请重新登记"))
        if on < locked.updated_on:
            raise ValidationFailed(
                fields={"on": [_("更新日期不能早于上次更新（%(date)s）") % {"date": locked.updated_on}]}
            )
        person = Person.objects.select_for_update().get(pk=locked.person_id)
        changed: dict[str, str] = {}
        for field, value in (("employer", employer), ("permit_status", permit_status), ("hukou_place", hukou_place)):
            if value is not None and getattr(person, field) != value.strip():
                setattr(person, field, value.strip())
                changed[field] = value.strip()
        if clean_phone_value is not None and clean_phone_value:
            blind = pii.blind_index(clean_phone_value, kind="phone")
            if blind != person.phone_blind:
                person.phone_enc = pii.encrypt(clean_phone_value, field=PHONE_FIELD)
                person.phone_blind, person.phone_masked = blind, pii.mask_phone(clean_phone_value)
                changed["phone"] = person.phone_masked
        if changed:
            person.save()
        locked.person = person  # the record returned shows the person as now saved
        locked.updated_on = on
        locked.version += 1
        locked.save(update_fields=["updated_on", "version"])
        ResidenceAction.objects.create(
            record=locked,
            kind=ResidenceAction.Kind.UPDATE,
            on=on,
            actor=_who(actor),
            data={"changed": changed},
            txn_id=txn_id,
        )
        audit_record(actor=actor, action="residence.update", target=locked, detail={"changed": sorted(changed)})
    return locked


def residence_cancel(
    *,
    actor: Any,
    record: ResidenceRecord,
    reason: str,
    on: dt.date | None = None,
    expected_version: int | None = None,
    txn_id: str | None = None,
) -> ResidenceRecord:
    """人走注销: the person moved out."""
    _community(actor, record.house.building.community, "residence.cancel", Capability.REGISTER_RESIDENTS)
    on = on or timezone.localdate()
    if not reason.strip():
        raise ValidationFailed(fields={"reason": [_("请填写注销原因（如：已搬离）")]})
    if on > timezone.localdate():
        raise ValidationFailed(fields={"on": [_("注销日期不能晚于今天")]})
    replay = _replayed(txn_id)
    if replay is not None:
        return replay
    with transaction.atomic():
        locked = _locked_record(record, expected_version)
        if locked.state != ResidenceRecord.State.ACTIVE:
            raise Conflict(_("该登记已注销"))
        if on < locked.registered_on:
            raise ValidationFailed(
                fields={"on": [_("注销日期不能早于登记日期（%(date)s）") % {"date": locked.registered_on}]}
            )
        locked.state = ResidenceRecord.State.CANCELLED
        locked.cancelled_on = on
        locked.updated_on = max(locked.updated_on, on)
        locked.version += 1
        locked.save(update_fields=["state", "cancelled_on", "updated_on", "version"])
        ResidenceAction.objects.create(
            record=locked,
            kind=ResidenceAction.Kind.CANCEL,
            on=on,
            actor=_who(actor),
            data={"reason": reason.strip()},
            txn_id=txn_id,
        )
        audit_record(actor=actor, action="residence.cancel", target=locked, detail={"reason": reason.strip()})
    return locked


def residence_record_exception(
    *, actor: Any, person: Person, house: House, reason: str, on: dt.date | None = None
) -> ResidenceRecord:
    """An officer records that a person really lives at a second house too (e.g. works in two towns)."""
    _community(actor, house.building.community, "residence.exception", Capability.RECORD_RESIDENCE_EXCEPTION)
    if not reason.strip():
        raise ValidationFailed(fields={"reason": [_("请说明多处居住的原因")]})
    on = on or timezone.localdate()
    if on > timezone.localdate():
        raise ValidationFailed(fields={"on": [_("登记日期不能晚于今天")]})
    try:
        with transaction.atomic():
            if ResidenceRecord.objects.filter(person=person, house=house, state=ResidenceRecord.State.ACTIVE).exists():
                raise Conflict(_("%(name)s 已在该房屋登记在住") % {"name": person.name})
            record = ResidenceRecord.objects.create(
                person=person,
                house=house,
                registered_on=on,
                updated_on=on,
                org_path=house.org_path,
                exception_reason=reason.strip()[:200],
            )
            ResidenceAction.objects.create(
                record=record,
                kind=ResidenceAction.Kind.EXCEPTION,
                on=on,
                actor=_who(actor),
                data={"reason": reason.strip()},
            )
            audit_record(actor=actor, action="residence.exception", target=record, detail={"reason": reason.strip()})
    except IntegrityError:
        raise Conflict(_("该人员的在住登记刚被他人修改，请刷新后重试")) from None
    return record


# --- personal information ------------------------------------------------------------------------------


REVEALABLE = {"id_number": ("id_number_enc", ID_FIELD), "phone": ("phone_enc", PHONE_FIELD)}


def person_reveal(*, actor: Any, person: Person, field: str, reason: str) -> str:
    """Show one full value. Needs the permission, the person in the actor's area, and a reason; every
    reveal (and every refusal) is in the audit journal."""
    from civicgrid.registry.selectors import person_area_units

    if field not in REVEALABLE:
        raise ValidationFailed(fields={"field": [_("只能查看证件号码或联系电话")]})
    units = person_area_units(person=person)
    require(
        actor,
        Capability.REVEAL_PERSONAL_INFO,
        action=f"pii.reveal.{field}",
        target=person,
        unit=units[0] if units else None,
    )
    if not reason.strip() or len(reason.strip()) < 2:
        raise ValidationFailed(fields={"reason": [_("请填写查看完整信息的事由")]})
    column, context = REVEALABLE[field]
    blob = getattr(person, column)
    if not blob:
        raise NotFound(_("该人员没有登记此项信息"))
    value = pii.decrypt(bytes(blob), field=context)
    audit_record(actor=actor, action=f"pii.reveal.{field}", target=person, detail={"reason": reason.strip()[:200]})
    return value


# --- re-stamping after a grid layer is published ------------------------------------------------------


def restamp_buildings(layer: LayerVersion, *, batch_size: int = 50_000) -> int:
    """Stamp every building with a point against a newly published layer, keeping the old stamps in the
    history. Vectorised; returns the number of buildings stamped."""
    import numpy as np

    from civicgrid.geo.selectors import stamp_points

    grid_ids = dict(OrgUnit.objects.filter(level=Level.GRID).values_list("code", "pk"))
    total = 0
    last = 0
    while True:
        rows = list(
            Building.objects.filter(pk__gt=last, lon__isnull=False)
            .order_by("pk")
            .values_list("pk", "lon", "lat")[:batch_size]
        )
        if not rows:
            return total
        ids = np.array([r[0] for r in rows])
        indices, entry = stamp_points(layer=layer, xs=np.array([r[1] for r in rows]), ys=np.array([r[2] for r in rows]))
        grids = [grid_ids.get(entry.codes[i]) if i >= 0 else None for i in indices.tolist()]
        with transaction.atomic():
            BuildingStamp.objects.bulk_create(
                [
                    BuildingStamp(building_id=int(b), layer_id=layer.pk, grid_id=g)
                    for b, g in zip(ids, grids, strict=True)
                ],
                batch_size=5000,
                ignore_conflicts=True,
            )
            by_grid: dict[int | None, list[int]] = {}
            for b, g in zip(ids.tolist(), grids, strict=True):
                by_grid.setdefault(g, []).append(b)
            for grid_id, members in by_grid.items():
                for start in range(0, len(members), 900):
                    Building.objects.filter(pk__in=members[start : start + 900]).update(
                        grid_id=grid_id, stamped_layer_id=layer.pk
                    )
        total += len(rows)
        last = rows[-1][0]
