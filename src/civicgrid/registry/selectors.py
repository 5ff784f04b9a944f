"""Scoped reads of the register: search, house and person pages, lists."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.accounts.selectors import scope_root
from civicgrid.core import pii
from civicgrid.core.errors import NotFound, PermissionDenied
from civicgrid.core.idnumbers import DocumentType, IdNumberError, parse_document
from civicgrid.core.idnumbers import normalise as normalise_document
from civicgrid.orgunits.models import OrgUnit
from civicgrid.registry.models import House, Person, Rental, ResidenceAction, ResidenceRecord

RESIDENT_ID = re.compile(r"^\d{17}[\dXx]$|^\d{15}$")
MASKED_ID = re.compile(r"^(\d{6})\*+(\d{3}[\dXx])$")
DOCUMENT_LIKE = re.compile(r"[A-Z0-9]{5,30}", re.ASCII)


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


def document_candidates(q: str) -> list[tuple[str, str]]:
    """The (document type, normalised number) pairs that `q` could be: every supported type whose format
    check accepts it. Only text of ASCII letters and digits with at least one digit is a candidate (a
    name never is); a resident ID that fails its check digit is still tried as the other types."""
    text = normalise_document(q)
    if not DOCUMENT_LIKE.fullmatch(text) or not any(c.isdigit() for c in text):
        return []
    found: list[tuple[str, str]] = []
    for doc_type in DocumentType.values:
        try:
            number = parse_document(doc_type, text)
        except IdNumberError:
            continue
        found.append((doc_type, number))
    return found


def looks_like_document(q: str) -> bool:
    return bool(document_candidates(q))


def person_search(*, actor: Any, q: str, limit: int | None = 50) -> QuerySet[Person]:
    """A document number of any supported type (resident ID, passport, permits, ...) is looked up exactly
    through the blind index of each type its format allows; a masked resident ID (440113********001X) by
    its visible parts; an 11-digit mobile number exactly; anything else by name prefix."""
    q = q.strip()
    queryset = persons_visible(actor=actor)
    masked = MASKED_ID.match(q)
    if masked:
        return queryset.filter(id_masked__startswith=masked.group(1), id_masked__endswith=masked.group(2).upper())[
            :limit
        ]
    if not q:
        return queryset.none()
    exact = Q()
    for doc_type, number in document_candidates(q):
        exact |= Q(id_type=doc_type, id_blind=pii.blind_index(number, kind=doc_type))
    if q.isdigit() and len(q) == 11:
        exact |= Q(phone_blind=pii.blind_index(q, kind="phone"))
    if exact:
        return queryset.filter(exact).order_by("pk")[:limit]
    if RESIDENT_ID.match(q):  # looks like a resident ID but is none of the types
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
        raise NotFound(_("房屋不存在或不在您的辖区内"))
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
        raise NotFound(_("人员不存在或不在您的辖区内"))
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
        raise NotFound(_("居住登记不存在或不在您的辖区内"))
    return record


# --- rentals ------------------------------------------------------------------------------------------


def _rentals(queryset: QuerySet[Rental]) -> QuerySet[Rental]:
    return queryset.select_related(
        "landlord", "landlord__person", "house", "house__building", "house__building__community"
    )


def house_rental_active(*, house: House) -> Rental | None:
    return _rentals(Rental.objects.filter(house=house, active=True)).first()


def house_rentals_past(*, house: House) -> QuerySet[Rental]:
    return _rentals(Rental.objects.filter(house=house, active=False)).order_by("-ended_on", "-pk")


def rentals_visible(*, actor: Any, group_renting: bool | None = None, active: bool = True) -> QuerySet[Rental]:
    queryset = Rental.objects.filter(org_path__startswith=_root_path(actor), active=active)
    if group_renting is not None:
        queryset = queryset.filter(group_renting=group_renting)
    return _rentals(queryset).order_by("house__building__road", "house__building__door_number", "house__room", "pk")


def rental_get(*, actor: Any, rental_id: int) -> Rental:
    rental = _rentals(Rental.objects.filter(org_path__startswith=_root_path(actor), pk=rental_id)).first()
    if rental is None:
        raise NotFound(_("出租登记不存在或不在您的辖区内"))
    return rental


# --- exports ------------------------------------------------------------------------------------------


def residents_of(
    *, actor: Any, house: House | None = None, community: OrgUnit | None = None
) -> QuerySet[ResidenceRecord]:
    """The active residence records of a house or of a community (either in the actor's area), for an
    export: ordered by house, no limit (the caller streams them)."""
    path = _root_path(actor)
    queryset = ResidenceRecord.objects.filter(org_path__startswith=path, state=ResidenceRecord.State.ACTIVE)
    if house is not None:
        queryset = queryset.filter(house=house)
    elif community is not None:
        queryset = queryset.filter(org_path__startswith=community.path)
    return queryset.select_related("person", "house", "house__building", "house__building__community").order_by(
        "house__building__road", "house__building__door_number", "house__room", "pk"
    )


def active_residences_in_area(*, actor: Any) -> QuerySet[ResidenceRecord]:
    """The actor's area's active records (an export shows a person's address only where it is in the area)."""
    return ResidenceRecord.objects.filter(
        org_path__startswith=_root_path(actor), state=ResidenceRecord.State.ACTIVE
    ).select_related("house", "house__building", "house__building__community")


def community_get(*, actor: Any, code: str) -> OrgUnit:
    """A community (or village) of the actor's register area; one outside looks like a missing one."""
    path = _root_path(actor)
    community = OrgUnit.objects.filter(code=code.strip(), level="community", path__startswith=path).first()
    if community is None:
        raise NotFound(_("社区不存在或不在您的辖区内"))
    return community
