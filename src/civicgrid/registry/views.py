"""Register pages: search, house, person, and the registration forms.

Views parse input, read through `registry.selectors`, write through `registry.services`, and render. A
refused action (wrong role, outside the area) is left to the domain-error middleware: the 403/404 page,
with the refusal audited by `require`. A form whose input is rejected is rendered again with everything
the user typed kept and each message next to its field.

Full identity numbers and phones never go into a URL: the search posts its box (an htmx live search that
pushes only harmless terms into the address bar), and a reveal is shown once on the response to its POST,
never stored in the session and never cached."""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_http_methods, require_POST

from civicgrid.accounts import selectors as account_selectors
from civicgrid.accounts.models import User
from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.core import pii
from civicgrid.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from civicgrid.core.idnumbers import DocumentType, IdNumberError, parse_document
from civicgrid.geo.crs import in_china_point
from civicgrid.orgunits.models import Level, OrgUnit
from civicgrid.registry import exports, rentals, selectors, services
from civicgrid.registry.models import House, HouseUse, Landlord, Person, Rental, ResidenceAction, ResidenceRecord

SEARCH_LIMIT = 50
_LONG_DIGITS = re.compile(r"\d{7,}")  # a phone or identity number: never pushed into the address bar

CRS_CHOICES = [
    ("wgs84", gettext_lazy("GPS、天地图（WGS-84）")),
    ("gcj02", gettext_lazy("高德、腾讯地图（GCJ-02）")),
    ("bd09", gettext_lazy("百度地图（BD-09）")),
]
ADDRESS_FIELDS = ("community", "road", "door_number", "building", "room", "use", "lon", "lat", "crs")
HOUSE_FIELDS = (*ADDRESS_FIELDS, "rooms", "floor_area")
PERSON_FIELDS = (
    "id_type",
    "id_number",
    "name",
    "sex",
    "birth_date",
    "phone",
    "hukou_place",
    "employer",
    "permit_status",
    "on",
)
UPDATE_FIELDS = ("phone", "employer", "permit_status", "on")
CANCEL_FIELDS = ("reason", "on")
EXCEPTION_FIELDS = ("id_type", "id_number", "reason", "on")
REVEAL_FIELDS = ("field", "reason")
LANDLORD_FIELDS = (
    "landlord_kind",
    "landlord_id_type",
    "landlord_id_number",
    "landlord_name",
    "landlord_phone",
    "landlord_org_name",
    "landlord_uscc",
)
RENTAL_UPDATE_FIELDS = ("start", "end", "tenants")
RENTAL_FIELDS = (*LANDLORD_FIELDS, *RENTAL_UPDATE_FIELDS)
RENTAL_END_FIELDS = ("reason", "on")
EXPORT_FIELDS = ("scope", "q", "house", "community", "format", "reason")

FIELD_LABELS: dict[str, Any] = {
    "name": gettext_lazy("姓名"),
    "phone": gettext_lazy("联系电话"),
    "employer": gettext_lazy("工作单位"),
    "permit_status": gettext_lazy("居住证"),
    "hukou_place": gettext_lazy("户籍地"),
    "hukou_region": gettext_lazy("户籍地区划代码"),
    "is_migrant": gettext_lazy("来穗人员"),
}


def _user(request: HttpRequest) -> User:
    """The signed-in account (every view here is behind login_required)."""
    return cast(User, request.user)


# --- form state and input parsing -------------------------------------------------------------------


@dataclass
class FormState:
    """One form on a page: the values as typed, problems by field, problems of the whole form, the
    transaction id of this rendering (a double submit registers once), and whether it is shown open."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    txn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    open: bool = False

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.general)

    def add(self, name: str, message: Any) -> None:
        self.errors.setdefault(name, []).append(str(message))
        self.open = True

    def fail(self, exc: DomainError, fields: Iterable[str]) -> None:
        """Put a rejected submission's messages next to their fields; the rest on top of the form."""
        known = set(fields)
        self.general.insert(0, str(exc.message))
        for name, problems in exc.fields.items():
            target = self.errors.setdefault(name, []) if name in known else self.general
            target.extend(str(p) for p in problems)
        if isinstance(exc, Conflict):
            self.general.append(_("页面已显示最新信息，您填写的内容已保留，请核对后重新提交。"))
        self.open = True

    def invalid(self) -> None:
        """Problems found before any service was asked: the common heading on top of the form."""
        self.general.insert(0, str(ValidationFailed.default_message))
        self.open = True

    def messages(self) -> list[str]:
        return [*self.general, *(m for problems in self.errors.values() for m in problems)]


def _values(post: QueryDict, names: Iterable[str]) -> dict[str, str]:
    return {name: post.get(name, "").strip() for name in names}


def _txn(post: QueryDict) -> str | None:
    return post.get("txn_id", "").strip()[:64] or None


def _version(post: QueryDict) -> int | None:
    raw = post.get("expected_version", "").strip()
    return int(raw) if raw.isdigit() else None


def _date(state: FormState, name: str) -> dt.date | None:
    """An optional business date (YYYY-MM-DD, not in the future)."""
    raw = state.values.get(name, "")
    if not raw:
        return None
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        state.add(name, _("日期格式应为 YYYY-MM-DD"))
        return None
    if value > timezone.localdate():
        state.add(name, _("日期不能晚于今天"))
    return value


def _any_date(state: FormState, name: str, *, required: bool = False) -> dt.date | None:
    """A date that may lie in the future (a letting's term)."""
    raw = state.values.get(name, "")
    if not raw:
        if required:
            state.add(name, _("请填写日期"))
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        state.add(name, _("日期格式应为 YYYY-MM-DD"))
        return None


def _int(state: FormState, name: str, *, maximum: int) -> int | None:
    raw = state.values.get(name, "")
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) <= maximum:
        state.add(name, _("请填写 1–%(max)d 之间的整数") % {"max": maximum})
        return None
    return int(raw)


def _decimal(state: FormState, name: str) -> Decimal | None:
    raw = state.values.get(name, "")
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or not Decimal(0) < value < Decimal(1_000_000):
        state.add(name, _("请填写大于 0 的面积数字，如 45.5"))
        return None
    return value.quantize(Decimal("0.01"))


def _float(state: FormState, name: str) -> float | None:
    raw = state.values.get(name, "")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        state.add(name, _("请填写数字，如 113.3645"))
        return None


@dataclass(frozen=True)
class Address:
    community: OrgUnit | None
    road: str
    door_number: str
    building: str
    room: str
    use: str
    lon: float | None
    lat: float | None
    crs: str


def _communities(user: User) -> list[OrgUnit]:
    """The communities the user may register in: the own one, or those of the user's area."""
    root = account_selectors.scope_root(user)
    if root.level == Level.GRID and root.parent is not None:
        return [root.parent]
    if root.level == Level.COMMUNITY:
        return [root]
    return list(account_selectors.orgunit_list(actor=user, level=Level.COMMUNITY).order_by("path"))


def _address(state: FormState, communities: list[OrgUnit]) -> Address:
    """Parse the address part of a form. The required fields are also checked by the services; they are
    checked here too so that every problem of the form is shown at once."""
    v = state.values
    community = next((c for c in communities if c.code == v["community"]), None)
    if community is None:
        state.add("community", _("请选择社区/村"))
    if not v["road"]:
        state.add("road", _("路/街/巷不能为空"))
    if not v["door_number"]:
        state.add("door_number", _("门牌号不能为空"))
    if v["use"] not in HouseUse.values:
        state.add("use", _("请选择房屋用途"))
    if v["crs"] not in {value for value, _label in CRS_CHOICES}:
        state.add("crs", _("请选择坐标系"))
    lon, lat = _float(state, "lon"), _float(state, "lat")
    if (lon is None) != (lat is None) and not state.errors.get("lon") and not state.errors.get("lat"):
        state.add("lon", _("经度和纬度需同时填写"))
    elif lon is not None and lat is not None and not in_china_point(lon, lat):
        state.add("lon", _("坐标不在中国境内：请检查经度、纬度是否填反（番禺约为经度 113.4、纬度 22.9）"))
    return Address(
        community=community,
        road=v["road"],
        door_number=v["door_number"],
        building=v["building"],
        room=v["room"],
        use=v["use"],
        lon=lon,
        lat=lat,
        crs=v["crs"] or "wgs84",
    )


def _person_input(state: FormState) -> services.PersonInput:
    """The person part of a form, checked by the service's own validation (nothing is written)."""
    v = state.values
    person = services.PersonInput(
        id_type=v["id_type"],
        id_number=v["id_number"],
        name=v["name"],
        sex=v["sex"],
        birth_date=_date(state, "birth_date"),
        phone=v["phone"],
        hukou_place=v["hukou_place"],
        employer=v["employer"],
        permit_status=v["permit_status"],
    )
    try:
        services.clean_person(person)
    except ValidationFailed as exc:
        for name, problems in exc.fields.items():
            for problem in problems:
                state.add(name if name in PERSON_FIELDS else "id_number", problem)
    return person


def _house_at(user: User, address: Address, *, rooms: int | None = None, floor_area: Decimal | None = None) -> House:
    assert address.community is not None  # noqa: S101 - _address reported a missing community
    building = services.building_get_or_create(
        actor=user,
        community=address.community,
        road=address.road,
        door_number=address.door_number,
        name=address.building,
        lon=address.lon,
        lat=address.lat,
        crs=address.crs,
    )
    return services.house_get_or_create(
        actor=user, building=building, room=address.room, use=address.use, rooms=rooms, floor_area=floor_area
    )


def _choices() -> dict[str, Any]:
    return {
        "id_types": DocumentType.choices,
        "sexes": Person.Sex.choices,
        "permits": Person.PermitStatus.choices,
        "uses": HouseUse.choices,
        "crs_choices": CRS_CHOICES,
        "today": timezone.localdate().isoformat(),
    }


def _new_person_state(**extra: str) -> FormState:
    return FormState(
        values={
            "id_type": DocumentType.RESIDENT_ID,
            "permit_status": Person.PermitStatus.NONE,
            "on": timezone.localdate().isoformat(),
            **extra,
        }
    )


# --- search -------------------------------------------------------------------------------------------


def _is_identifier(q: str) -> bool:
    """A full or masked identity number or a mobile number: a person search only."""
    return bool(selectors.RESIDENT_ID.match(q) or selectors.MASKED_ID.match(q) or (q.isdigit() and len(q) == 11))


def _search_url(q: str) -> str:
    base = reverse("registry:search")
    if not q or _LONG_DIGITS.search(q) or selectors.looks_like_document(q):
        return base
    return f"{base}?{urlencode({'q': q})}"


def _login_required_htmx(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """login_required, except that an htmx request of an expired session sends the whole window to the
    login page (HX-Redirect) instead of swapping the login page into the results."""
    protected = login_required(view)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.headers.get("HX-Request") and not request.user.is_authenticated:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = redirect_to_login(reverse("registry:search"))["Location"]
            return response
        return protected(request, *args, **kwargs)

    return wrapper


@_login_required_htmx
@require_http_methods(["GET", "POST"])
def search(request: HttpRequest) -> HttpResponse:
    """One box: a full identity number (exact, through the blind index), a masked one, a name (prefix),
    a mobile number, or part of an address. Persons and houses of the user's area."""
    user = _user(request)
    source = request.POST if request.method == "POST" else request.GET
    q = source.get("q", "").strip()[:100]
    persons = list(selectors.person_search(actor=user, q=q, limit=SEARCH_LIMIT))  # also the permission check
    houses: list[House] = []
    if q and not _is_identifier(q):
        houses = list(selectors.house_search(actor=user, q=q, limit=SEARCH_LIMIT))
    context = {
        "q": q,
        "persons": persons,
        "houses": houses,
        "limit": SEARCH_LIMIT,
        "identifier": bool(q) and _is_identifier(q),
        "can_register": has_capability(user, Capability.REGISTER_RESIDENTS),
        "can_reveal": has_capability(user, Capability.REVEAL_PERSONAL_INFO),
        "export": FormState(values={"format": "csv", "reason": ""}),
        # A name or address search can be exported; an identity or phone number is never echoed into the page.
        "exportable": bool(q) and not _is_identifier(q) and not selectors.looks_like_document(q),
    }
    if request.headers.get("HX-Request"):
        response = render(request, "registry/_search_results.html", context)
        response["HX-Push-Url"] = _search_url(q)
        return response
    return render(request, "registry/search.html", context)


# --- house page ---------------------------------------------------------------------------------------


@dataclass
class ResidentRow:
    record: ResidenceRecord
    update: FormState
    cancel: FormState


def _label(name: str) -> str:
    return str(FIELD_LABELS.get(name, name))


def _shown(name: str, value: Any) -> str:
    if name == "permit_status" and value in Person.PermitStatus.values:
        return str(Person.PermitStatus(value).label)
    if name == "is_migrant":
        return _("是") if str(value) == "True" else _("否")
    return str(value) if value not in ("", None) else "—"


def _changes(changed: dict[str, Any]) -> str:
    return pgettext("sentence separator", "；").join(
        _("%(label)s：%(value)s") % {"label": _label(k), "value": _shown(k, v)}
        for k, v in changed.items()
        if k != "created"
    )


def action_summary(action: ResidenceAction) -> str:
    """One line for the journal: what the action did, in the reader's language."""
    data = action.data or {}
    if action.kind == ResidenceAction.Kind.REGISTER:
        changed = data.get("person_changed") or {}
        if "created" in changed:
            return _("新登记人员")
        detail = _changes(changed)
        return _("人员已在登记簿中，信息更新：%(changes)s") % {"changes": detail} if detail else _("人员已在登记簿中")
    if action.kind == ResidenceAction.Kind.UPDATE:
        return _changes(data.get("changed") or {}) or _("确认在住，信息无变化")
    if action.kind in (ResidenceAction.Kind.CANCEL, ResidenceAction.Kind.EXCEPTION):
        return _("原因：%(reason)s") % {"reason": data.get("reason", "—")}
    return ""


def _reasons(post: QueryDict) -> list[str]:
    return [r for r in post.getlist("group_reasons") if r]


def _rental_values(rental: Rental) -> dict[str, str]:
    return {
        "start": rental.start.isoformat(),
        "end": rental.end.isoformat() if rental.end else "",
        "tenants": str(rental.tenants or ""),
        "group_reasons": ",".join(rentals.recorded_reasons(list(rental.group_reasons))),
    }


def landlord_shown(landlord: Landlord) -> dict[str, str]:
    """The landlord as shown anywhere: a person masked (name, document, phone), an organisation in full."""
    if landlord.kind == Landlord.Kind.ORGANISATION or landlord.person is None:
        return {"kind": landlord.kind, "name": landlord.org_name, "document": landlord.uscc, "phone": ""}
    person = landlord.person
    return {
        "kind": landlord.kind,
        "name": pii.mask_name(person.name),
        "document": person.id_masked,
        "phone": person.phone_masked,
    }


def _reason_labels(rental: Rental) -> list[str]:
    return [str(Rental.GroupReason(r).label) for r in rental.group_reasons if r in Rental.GroupReason.values]


def _render_house(
    request: HttpRequest, house: House, *, states: dict[str, FormState] | None = None, status: int = 200
) -> HttpResponse:
    user = _user(request)
    states = dict(states or {})
    today = timezone.localdate().isoformat()
    records = list(selectors.house_residences(house=house))
    residents: list[ResidentRow] = []
    former: list[dict[str, Any]] = []
    for record in records:
        if record.state == ResidenceRecord.State.ACTIVE:
            person = record.person
            update = states.pop(f"update-{record.pk}", None) or FormState(
                values={"phone": "", "employer": person.employer, "permit_status": person.permit_status, "on": today}
            )
            cancel = states.pop(f"cancel-{record.pk}", None) or FormState(values={"reason": "", "on": today})
            residents.append(ResidentRow(record=record, update=update, cancel=cancel))
        else:
            reason = next(
                (a.data.get("reason", "") for a in reversed(list(record.actions.all())) if a.kind == "cancel"), ""
            )
            former.append({"record": record, "reason": reason})
    actions = sorted(
        ((a, r.person) for r in records for a in r.actions.all()), key=lambda pair: (pair[0].at, pair[0].pk)
    )
    history = [{"action": a, "person": p, "summary": action_summary(a)} for a, p in reversed(actions)]
    arrival = states.pop("arrival", None) or _new_person_state()
    exception = states.pop("exception", None) or FormState(
        values={"id_type": DocumentType.RESIDENT_ID, "id_number": "", "reason": "", "on": today}
    )
    states_export = states.pop("export", None) or FormState(values={"format": "csv", "reason": ""})
    rental = selectors.house_rental_active(house=house)
    rental_new = states.pop("rental", None) or FormState(
        values={"landlord_kind": Landlord.Kind.PERSON, "landlord_id_type": DocumentType.RESIDENT_ID, "start": today}
    )
    rental_edit = rental_end = None
    if rental is not None:  # else a refused edit of a rental ended meanwhile: its messages on top
        rental_edit = states.pop("rental-update", None) or FormState(values=_rental_values(rental))
        rental_end = states.pop("rental-end", None) or FormState(values={"reason": "", "on": today})
    # A form whose record is no longer listed (e.g. cancelled meanwhile by someone else): its messages on top.
    page_errors = [message for state in states.values() for message in state.messages()]
    community = house.building.community
    return render(
        request,
        "registry/house.html",
        {
            "house": house,
            "building": house.building,
            "community": community,
            "town": community.parent,
            "grid": house.building.grid,
            "residents": residents,
            "former": former,
            "history": history,
            "rental": rental,
            "landlord": landlord_shown(rental.landlord) if rental else None,
            "rental_reasons": _reason_labels(rental) if rental else [],
            "assessment": rentals.assess_group_renting(floor_area=house.floor_area, tenants=rental.tenants)
            if rental
            else None,
            "past_rentals": [
                {"rental": r, "landlord": landlord_shown(r.landlord)} for r in selectors.house_rentals_past(house=house)
            ],
            "rental_new": rental_new,
            "rental_edit": rental_edit,
            "rental_end": rental_end,
            "landlord_kinds": Landlord.Kind.choices,
            "recorded_reasons": [
                (c, label) for c, label in Rental.GroupReason.choices if c in rentals.RECORDED_REASONS
            ],
            "area_threshold": rentals.area_per_person_threshold(),
            "export": states_export,
            "can_reveal": has_capability(user, Capability.REVEAL_PERSONAL_INFO),
            "arrival": arrival,
            "exception": exception,
            "page_errors": page_errors,
            "can_register": has_capability(user, Capability.REGISTER_RESIDENTS),
            "can_except": has_capability(user, Capability.RECORD_RESIDENCE_EXCEPTION),
            **_choices(),
        },
        status=status,
    )


@login_required
def house(request: HttpRequest, house_id: int) -> HttpResponse:
    return _render_house(request, selectors.house_get(actor=_user(request), house_id=house_id))


@login_required
@require_POST
def residence_update(request: HttpRequest, record_id: int) -> HttpResponse:
    """人在更新: phone, employer, residence permit, as of a date; guarded by the record's version."""
    user = _user(request)
    record = selectors.record_get(actor=user, record_id=record_id)
    community = record.house.building.community
    require(user, Capability.REGISTER_RESIDENTS, action="residence.update", unit=community, target=record)
    state = FormState(values=_values(request.POST, UPDATE_FIELDS), open=True)
    on = _date(state, "on")
    status = 400
    if state.has_errors:
        state.invalid()
    else:
        v = state.values
        try:
            services.residence_update(
                actor=user,
                record=record,
                on=on,
                phone=v["phone"],
                employer=v["employer"],
                permit_status=v["permit_status"] or None,
                expected_version=_version(request.POST),
                txn_id=_txn(request.POST),
            )
        except (ValidationFailed, Conflict, NotFound) as exc:
            state.fail(exc, UPDATE_FIELDS)
            status = exc.status
        else:
            messages.success(request, _("已更新 %(name)s 的居住登记") % {"name": record.person.name})
            return redirect("registry:house", house_id=record.house_id)
    house_ = selectors.house_get(actor=user, house_id=record.house_id)
    return _render_house(request, house_, states={f"update-{record.pk}": state}, status=status)


@login_required
@require_POST
def residence_cancel(request: HttpRequest, record_id: int) -> HttpResponse:
    """人走注销: the reason and the date of leaving; guarded by the record's version."""
    user = _user(request)
    record = selectors.record_get(actor=user, record_id=record_id)
    community = record.house.building.community
    require(user, Capability.REGISTER_RESIDENTS, action="residence.cancel", unit=community, target=record)
    state = FormState(values=_values(request.POST, CANCEL_FIELDS), open=True)
    on = _date(state, "on")
    if not state.values["reason"]:
        state.add("reason", _("请填写注销原因（如：已搬离）"))
    status = 400
    if state.has_errors:
        state.invalid()
    else:
        try:
            services.residence_cancel(
                actor=user,
                record=record,
                reason=state.values["reason"],
                on=on,
                expected_version=_version(request.POST),
                txn_id=_txn(request.POST),
            )
        except (ValidationFailed, Conflict, NotFound) as exc:
            state.fail(exc, CANCEL_FIELDS)
            status = exc.status
        else:
            messages.success(request, _("已注销 %(name)s 的居住登记") % {"name": record.person.name})
            return redirect("registry:house", house_id=record.house_id)
    house_ = selectors.house_get(actor=user, house_id=record.house_id)
    return _render_house(request, house_, states={f"cancel-{record.pk}": state}, status=status)


@login_required
@require_POST
def house_arrival(request: HttpRequest, house_id: int) -> HttpResponse:
    """人来登记 at this house."""
    user = _user(request)
    house_ = selectors.house_get(actor=user, house_id=house_id)
    require(user, Capability.REGISTER_RESIDENTS, action="residence.register", unit=house_.building.community)
    state = FormState(values=_values(request.POST, PERSON_FIELDS), open=True)
    person_input = _person_input(state)
    on = _date(state, "on")
    states = {"arrival": state}
    status = 400
    if state.has_errors:
        state.invalid()
    else:
        try:
            record = services.residence_register(
                actor=user, person=person_input, house=house_, on=on, txn_id=_txn(request.POST), source="web"
            )
        except (ValidationFailed, Conflict, NotFound) as exc:
            state.fail(exc, PERSON_FIELDS)
            status = exc.status
            if exc.extra.get("existing") and has_capability(user, Capability.RECORD_RESIDENCE_EXCEPTION):
                state.general.append(_("如该人员确实同时在此居住，可在下方“记录多处居住例外”中说明原因。"))
                v = state.values
                states["exception"] = FormState(
                    values={"id_type": v["id_type"], "id_number": v["id_number"], "reason": "", "on": v["on"]},
                    open=True,
                )
        else:
            messages.success(
                request,
                _("已登记 %(name)s（%(id)s）在此居住") % {"name": record.person.name, "id": record.person.id_masked},
            )
            return redirect("registry:house", house_id=house_.pk)
    return _render_house(request, house_, states=states, status=status)


def _find_person(state: FormState) -> Person | None:
    """The person with this document (exact, through the blind index), wherever they live: the officer
    records that someone registered elsewhere also lives here."""
    id_type = state.values["id_type"] or DocumentType.RESIDENT_ID
    try:
        number = parse_document(id_type, state.values["id_number"], field="id_number")
    except IdNumberError as exc:
        state.add("id_type" if exc.field == "document_type" else "id_number", exc.message)
        return None
    person = services.find_person(id_type=id_type, id_number=number)
    if person is None:
        state.add("id_number", _("登记簿中没有该证件号码的人员：请使用“人来登记”"))
    return person


@login_required
@require_POST
def house_exception(request: HttpRequest, house_id: int) -> HttpResponse:
    """记录多处居住例外: a person registered at another house also really lives here."""
    user = _user(request)
    house_ = selectors.house_get(actor=user, house_id=house_id)
    require(user, Capability.RECORD_RESIDENCE_EXCEPTION, action="residence.exception", unit=house_.building.community)
    state = FormState(values=_values(request.POST, EXCEPTION_FIELDS), open=True)
    on = _date(state, "on")
    if not state.values["reason"]:
        state.add("reason", _("请说明多处居住的原因"))
    subject = _find_person(state)
    status = 400
    if state.has_errors or subject is None:
        state.invalid()
    else:
        try:
            services.residence_record_exception(
                actor=user, person=subject, house=house_, reason=state.values["reason"], on=on
            )
        except (ValidationFailed, Conflict, NotFound) as exc:
            state.fail(exc, EXCEPTION_FIELDS)
            status = exc.status
        else:
            messages.success(request, _("已记录 %(name)s 在此居住的例外") % {"name": subject.name})
            return redirect("registry:house", house_id=house_.pk)
    return _render_house(request, house_, states={"exception": state}, status=status)


# --- new registration and new house -------------------------------------------------------------------


def _form_page(
    request: HttpRequest, template: str, state: FormState, communities: list[OrgUnit], **extra: Any
) -> HttpResponse:
    status = extra.pop("status", 200)
    return render(
        request,
        template,
        {
            "f": state,
            "communities": communities,
            "fixed_community": communities[0] if len(communities) == 1 else None,
            **_choices(),
            **extra,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    """人来登记 at an address: the building and house are found or created, then the person registered."""
    user = _user(request)
    if request.method == "GET" and not has_capability(user, Capability.REGISTER_RESIDENTS):
        raise PermissionDenied()
    if request.method == "POST":
        require(user, Capability.REGISTER_RESIDENTS, action="residence.register")
    communities = _communities(user)
    fixed = communities[0].code if len(communities) == 1 else ""
    if request.method == "GET":
        state = _new_person_state(community=fixed, use=HouseUse.SELF_OCCUPIED, crs="wgs84")
        return _form_page(request, "registry/register.html", state, communities)
    state = FormState(values=_values(request.POST, (*ADDRESS_FIELDS, *PERSON_FIELDS)))
    if fixed:
        state.values["community"] = fixed
    address = _address(state, communities)
    person_input = _person_input(state)
    on = _date(state, "on")
    if state.has_errors:
        state.invalid()
        return _form_page(request, "registry/register.html", state, communities, status=400)
    saved: House | None = None
    try:
        saved = _house_at(user, address)
        record = services.residence_register(
            actor=user, person=person_input, house=saved, on=on, txn_id=_txn(request.POST), source="web"
        )
    except (ValidationFailed, Conflict, NotFound) as exc:
        state.fail(exc, (*ADDRESS_FIELDS, *PERSON_FIELDS))
        # The house may have been saved before the person was refused: say so, and link to it.
        return _form_page(request, "registry/register.html", state, communities, saved_house=saved, status=exc.status)
    messages.success(
        request, _("已登记 %(name)s（%(id)s）在此居住") % {"name": record.person.name, "id": record.person.id_masked}
    )
    return redirect("registry:house", house_id=record.house_id)


@login_required
@require_http_methods(["GET", "POST"])
def house_new(request: HttpRequest) -> HttpResponse:
    """Register a house (and its building) without a resident, e.g. a vacant or commercial one."""
    user = _user(request)
    if request.method == "GET" and not has_capability(user, Capability.REGISTER_RESIDENTS):
        raise PermissionDenied()
    if request.method == "POST":
        require(user, Capability.REGISTER_RESIDENTS, action="register.house")
    communities = _communities(user)
    fixed = communities[0].code if len(communities) == 1 else ""
    if request.method == "GET":
        state = FormState(values={"community": fixed, "use": HouseUse.SELF_OCCUPIED, "crs": "wgs84"})
        return _form_page(request, "registry/house_new.html", state, communities)
    state = FormState(values=_values(request.POST, HOUSE_FIELDS))
    if fixed:
        state.values["community"] = fixed
    address = _address(state, communities)
    rooms = _int(state, "rooms", maximum=500)
    floor_area = _decimal(state, "floor_area")
    if state.has_errors:
        state.invalid()
        return _form_page(request, "registry/house_new.html", state, communities, status=400)
    try:
        saved = _house_at(user, address, rooms=rooms, floor_area=floor_area)
    except (ValidationFailed, Conflict, NotFound) as exc:
        state.fail(exc, HOUSE_FIELDS)
        return _form_page(request, "registry/house_new.html", state, communities, status=exc.status)
    differs = (
        saved.use != address.use
        or (rooms is not None and saved.rooms != rooms)
        or (floor_area is not None and saved.floor_area != floor_area)
    )
    if differs:
        # The address was registered before with other particulars: nothing is overwritten silently.
        messages.warning(request, _("该房屋此前已登记，原有信息未作修改，请核对。"))
    else:
        messages.success(request, _("已保存房屋：%(address)s") % {"address": saved})
    return redirect("registry:house", house_id=saved.pk)


# --- person page and reveal ---------------------------------------------------------------------------


def _render_person(
    request: HttpRequest,
    person_: Person,
    *,
    reveal: FormState | None = None,
    revealed: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    records = list(selectors.person_residences(person=person_))
    visible = set(
        selectors.houses_visible(actor=user).filter(pk__in=[r.house_id for r in records]).values_list("pk", flat=True)
    )
    rows = [
        {
            "record": r,
            "visible": r.house_id in visible,
            "actions": [{"action": a, "summary": action_summary(a)} for a in reversed(list(r.actions.all()))]
            if r.house_id in visible
            else [],
        }
        for r in records
    ]
    fields = [("id_number", _("证件号码"))]
    if person_.phone_masked:
        fields.append(("phone", _("联系电话")))
    return render(
        request,
        "registry/person.html",
        {
            "person": person_,
            "rows": rows,
            "can_reveal": has_capability(user, Capability.REVEAL_PERSONAL_INFO),
            "reveal": reveal or FormState(values={"field": "id_number", "reason": ""}),
            "reveal_fields": fields,
            "revealed": revealed,
        },
        status=status,
    )


@login_required
def person(request: HttpRequest, person_id: int) -> HttpResponse:
    return _render_person(request, selectors.person_get(actor=_user(request), person_id=person_id))


@login_required
@require_POST
def person_reveal(request: HttpRequest, person_id: int) -> HttpResponse:
    """查看完整信息: one full value, with a reason, audited by the service; shown on this response only."""
    user = _user(request)
    person_ = selectors.person_get(actor=user, person_id=person_id)
    state = FormState(values=_values(request.POST, REVEAL_FIELDS), open=True)
    try:
        value = services.person_reveal(
            actor=user, person=person_, field=state.values["field"], reason=state.values["reason"]
        )
    except (ValidationFailed, NotFound) as exc:  # a refusal (403) is the error page, audited
        state.fail(exc, REVEAL_FIELDS)
        response = _render_person(request, person_, reveal=state, status=exc.status)
    else:
        label = _("证件号码") if state.values["field"] == "id_number" else _("联系电话")
        revealed = {"label": label, "value": value, "reason": state.values["reason"]}
        fresh = FormState(values={"field": state.values["field"], "reason": ""})
        response = _render_person(request, person_, reveal=fresh, revealed=revealed)
    response["Cache-Control"] = "no-store"
    return response


# --- rentals ------------------------------------------------------------------------------------------


def _landlord_input(state: FormState) -> services.LandlordInput:
    v = state.values
    return services.LandlordInput(
        kind=v["landlord_kind"] or Landlord.Kind.PERSON,
        id_type=v["landlord_id_type"] or DocumentType.RESIDENT_ID,
        id_number=v["landlord_id_number"],
        name=v["landlord_name"],
        phone=v["landlord_phone"],
        org_name=v["landlord_org_name"],
        uscc=v["landlord_uscc"],
    )


@login_required
@require_POST
def rental_register(request: HttpRequest, house_id: int) -> HttpResponse:
    """出租登记: the landlord (a person found by document number, or an organisation by USCC), the term,
    the tenants and the group-renting reasons an officer found."""
    user = _user(request)
    house_ = selectors.house_get(actor=user, house_id=house_id)
    require(user, Capability.REGISTER_RESIDENTS, action="register.rental", unit=house_.building.community)
    state = FormState(values=_values(request.POST, RENTAL_FIELDS), open=True)
    reasons = _reasons(request.POST)
    state.values["group_reasons"] = ",".join(reasons)
    start = _any_date(state, "start", required=True)
    end = _any_date(state, "end")
    tenants = _int(state, "tenants", maximum=500)
    status = 400
    if state.has_errors or start is None:
        state.invalid()
    else:
        try:
            services.rental_register(
                actor=user,
                house=house_,
                landlord=_landlord_input(state),
                start=start,
                end=end,
                tenants=tenants,
                group_reasons=reasons,
            )
        except (ValidationFailed, Conflict, NotFound) as exc:
            state.fail(exc, (*RENTAL_FIELDS, "group_reasons"))
            status = exc.status
        else:
            messages.success(request, _("已登记出租：%(house)s") % {"house": house_})
            return redirect("registry:house", house_id=house_.pk)
    return _render_house(request, house_, states={"rental": state}, status=status)


@login_required
@require_POST
def rental_update(request: HttpRequest, rental_id: int) -> HttpResponse:
    """Change the term, the number of tenants or the recorded group-renting reasons."""
    user = _user(request)
    rental = selectors.rental_get(actor=user, rental_id=rental_id)
    require(user, Capability.REGISTER_RESIDENTS, action="register.rental_update", unit=rental.house.building.community)
    state = FormState(values=_values(request.POST, RENTAL_UPDATE_FIELDS), open=True)
    reasons = _reasons(request.POST)
    state.values["group_reasons"] = ",".join(reasons)
    start = _any_date(state, "start", required=True)
    end = _any_date(state, "end")
    tenants = _int(state, "tenants", maximum=500)
    status = 400
    if state.has_errors:
        state.invalid()
    else:
        try:
            services.rental_update(
                actor=user, rental=rental, start=start, end=end, tenants=tenants, group_reasons=reasons
            )
        except (ValidationFailed, Conflict, NotFound) as exc:
            state.fail(exc, (*RENTAL_UPDATE_FIELDS, "group_reasons"))
            status = exc.status
        else:
            messages.success(request, _("已修改出租登记"))
            return redirect("registry:house", house_id=rental.house_id)
    house_ = selectors.house_get(actor=user, house_id=rental.house_id)
    return _render_house(request, house_, states={"rental-update": state}, status=status)


@login_required
@require_POST
def rental_end(request: HttpRequest, rental_id: int) -> HttpResponse:
    """退租: the date and the reason; the rental stays in the house's history."""
    user = _user(request)
    rental = selectors.rental_get(actor=user, rental_id=rental_id)
    require(user, Capability.REGISTER_RESIDENTS, action="register.rental_end", unit=rental.house.building.community)
    state = FormState(values=_values(request.POST, RENTAL_END_FIELDS), open=True)
    on = _date(state, "on")
    if not state.values["reason"]:
        state.add("reason", _("请填写退租原因（如：租约到期）"))
    status = 400
    if state.has_errors:
        state.invalid()
    else:
        try:
            services.rental_end(actor=user, rental=rental, on=on, reason=state.values["reason"])
        except (ValidationFailed, Conflict, NotFound) as exc:
            state.fail(exc, RENTAL_END_FIELDS)
            status = exc.status
        else:
            messages.success(request, _("已办理退租：%(house)s") % {"house": rental.house})
            return redirect("registry:house", house_id=rental.house_id)
    house_ = selectors.house_get(actor=user, house_id=rental.house_id)
    return _render_house(request, house_, states={"rental-end": state}, status=status)


@login_required
def rental_list(request: HttpRequest) -> HttpResponse:
    """出租房屋: the active rentals of the user's area, group renting first if asked, landlords masked."""
    user = _user(request)
    group = request.GET.get("group", "")
    queryset = selectors.rentals_visible(actor=user, group_renting=True if group == "1" else None)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    rows = [
        {
            "rental": r,
            "landlord": landlord_shown(r.landlord),
            "reasons": _reason_labels(r),
            "assessment": rentals.assess_group_renting(floor_area=r.house.floor_area, tenants=r.tenants),
        }
        for r in page.object_list
    ]
    return render(request, "registry/rentals.html", {"rows": rows, "page": page, "group": group == "1"})


# --- exports ------------------------------------------------------------------------------------------


def _export_page(request: HttpRequest, state: FormState, *, status: int = 200) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "registry/export.html",
        {
            "f": state,
            "communities": _communities(user),
            "can_reveal": has_capability(user, Capability.REVEAL_PERSONAL_INFO),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def export(request: HttpRequest) -> HttpResponseBase:
    """导出: a search result, a house's or a community's residents, as CSV or XLSX. Masked unless the user
    asks for the full numbers, has the permission and gives a reason (audited with the number of rows).
    Posted, so that a searched identity number never goes into a URL."""
    user = _user(request)
    if request.method == "GET":
        if not has_capability(user, Capability.VIEW_REGISTER):
            raise PermissionDenied()
        return _export_page(request, FormState(values={"scope": "community", "format": "csv", "reason": ""}))
    state = FormState(values=_values(request.POST, EXPORT_FIELDS), open=True)
    v = state.values
    house_id = int(v["house"]) if v["house"].isdigit() else None
    unmasked = request.POST.get("unmasked") == "1"
    try:
        source = exports.export_source(
            actor=user, scope=v["scope"] or "community", q=v["q"], house_id=house_id, community=v["community"]
        )
        return exports.export_response(
            actor=user, source=source, fmt=v["format"] or "csv", unmasked=unmasked, reason=v["reason"]
        )
    except ValidationFailed as exc:  # a refusal (403) or a missing house (404) is the error page
        state.fail(exc, EXPORT_FIELDS)
        if v["scope"] == "house" and house_id is not None:
            house_ = selectors.house_get(actor=user, house_id=house_id)
            return _render_house(request, house_, states={"export": state}, status=exc.status)
        return _export_page(request, state, status=exc.status)
