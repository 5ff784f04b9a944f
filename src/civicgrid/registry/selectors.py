"""Scoped reads of the register: search, house and person pages, lists."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.accounts.selectors import scope_root
from civicgrid.core import pii
from civicgrid.core.errors import NotFound, PermissionDenied
from civicgrid.core.idnumbers import DocumentType, IdNumberError, parse_resident_id
from civicgrid.orgunits.models import OrgUnit
from civicgrid.registry.models import House, Person, ResidenceAction, ResidenceRecord

RESIDENT_ID = re.compile(r"^\d{17}[\dXx]$|^\d{15}$")
MASKED_ID = re.compile(r"^(\d{6})\*+(\d{3}[\dXx])$")


def _root_path(actor: Any) -> str:
    if not has_capability(actor, Capability.VIEW_REGISTER):
        raise PermissionDenied()
    root = scope_root(actor)
    # A grid worker bound to a grid works the register of the grid's community.
    if root.level == "grid" and root.parent is not None:
        root = root.parent
    return root.path


def houses_visible(*, actor: Any) -> QuerySet[House]:
    return House.objects.filter(org_path__startswith=_root_path(actor))


def persons_visible(*, actor: Any) -> QuerySet[Person]:
    """Persons with any residence record (current or past) in the actor's area."""
    path = _root_path(actor)
    return Person.objects.filter(
        Exists(ResidenceRecord.objects.filter(person=OuterRef("pk"), org_path__startswith=path))
    )


def person_search(*, actor: Any, q: str, limit: int = 50) -> QuerySet[Person]:
    """A full identity number is looked up through the blind index; a masked one (440113********001X)
    by its visible parts; anything else by name or phone suffix."""
    q = q.strip()
    queryset = persons_visible(actor=actor)
    if RESIDENT_ID.match(q):
        try:
            number = parse_resident_id(q).number
        except IdNumberError:
            return queryset.none()
        return queryset.filter(
            id_type=DocumentType.RESIDENT_ID, id_blind=pii.blind_index(number, kind=DocumentType.RESIDENT_ID)
        )
    masked = MASKED_ID.match(q)
    if masked:
        return queryset.filter(id_masked__startswith=masked.group(1), id_masked__endswith=masked.group(2).upper())[
            :limit
        ]
    if q.isdigit() and len(q) == 11:
        return queryset.filter(phone_blind=pii.blind_index(q, kind="phone"))
    if not q:
        return queryset.none()
    return queryset.filter(name__startswith=q).order_by("name")[:limit]


def house_search(*, actor: Any, q: str = "", community: str | None = None, limit: int = 50) -> QuerySet[House]:
    queryset = houses_visible(actor=actor).select_related("building", "building__community", "building__grid")
    if community:
        queryset = queryset.filter(building__community__code=community)
    # Every word must match some part of the address: "德兴路 12号 301" or "德兴路12号".
    for term in q.split():
        queryset = queryset.filter(
            Q(building__road__contains=term)
            | Q(building__door_number__startswith=term)
            | Q(building__name__contains=term)
            | Q(room__startswith=term)
            | Q(building__road__startswith=term.rstrip("0123456789号"))
            & Q(building__door_number__startswith=term[len(term.rstrip("0123456789号")) :] or term)
        )
    return queryset.annotate(
        residents=Count("residences", filter=Q(residences__state=ResidenceRecord.State.ACTIVE))
    ).order_by("building__road", "building__door_number", "room")[:limit]


def house_get(*, actor: Any, house_id: int) -> House:
    house = (
        houses_visible(actor=actor)
        .select_related("building", "building__community", "building__community__parent", "building__grid")
        .filter(pk=house_id)
        .first()
    )
    if house is None:
        raise NotFound("房屋不存在或不在您的辖区内")
    return house


def house_residences(*, house: House) -> QuerySet[ResidenceRecord]:
    return (
        house.residences.select_related("person")
        .prefetch_related(Prefetch("actions", queryset=ResidenceAction.objects.select_related("actor")))
        .order_by("state", "-registered_on")
    )


def person_get(*, actor: Any, person_id: int) -> Person:
    person = persons_visible(actor=actor).filter(pk=person_id).first()
    if person is None:
        raise NotFound("人员不存在或不在您的辖区内")
    return person


def person_residences(*, person: Person) -> QuerySet[ResidenceRecord]:
    return (
        person.residences.select_related("house", "house__building", "house__building__community")
        .prefetch_related(Prefetch("actions", queryset=ResidenceAction.objects.select_related("actor")))
        .order_by("-registered_on")
    )


def person_area_units(*, person: Person) -> list[OrgUnit]:
    """The communities of the person's active residences (or of the latest one): where the person
    'belongs' for permission checks."""
    records = list(person.residences.select_related("house__building__community").order_by("state", "-registered_on"))
    active = [r for r in records if r.state == ResidenceRecord.State.ACTIVE] or records[:1]
    return [r.house.building.community for r in active]


def record_get(*, actor: Any, record_id: int) -> ResidenceRecord:
    record = (
        ResidenceRecord.objects.filter(org_path__startswith=_root_path(actor), pk=record_id)
        .select_related("person", "house", "house__building", "house__building__community")
        .first()
    )
    if record is None:
        raise NotFound("居住登记不存在或不在您的辖区内")
    return record
