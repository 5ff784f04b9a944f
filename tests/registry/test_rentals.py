"""Rentals and landlords (issue #4 point 2): register, update and end a letting through the API and the
house page; a landlord person found in the register by document number, or an organisation by its USCC;
the derived under-5 m² group-renting flag; one active rental per house; area scoping."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core.errors import Conflict, ValidationFailed
from civicgrid.registry import rentals, services
from civicgrid.registry.models import House, Landlord, Person, Rental
from tests.conftest import SHATOU_COMMUNITY
from tests.registry.conftest import person

pytestmark = pytest.mark.django_db

USCC = "91440300568520498A"
BAD_USCC = "91110000600037341N"
LANDLORD_ID = "110102199101010078"


@pytest.fixture
def api(clerk: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(clerk)
    return client


@pytest.fixture
def small_house(clerk: Any, house: House) -> House:
    return services.house_update(actor=clerk, house=house, floor_area=Decimal("20"))


def _org(**extra: Any) -> dict[str, Any]:
    return {"landlord": {"kind": "org", "org_name": "番禺某物业公司", "uscc": USCC}, "start": "2026-01-01", **extra}


def _snapshot() -> tuple[Any, ...]:
    return (
        list(Rental.objects.order_by("pk").values_list("pk", "active", "tenants", "group_reasons", "end")),
        Landlord.objects.count(),
        Person.objects.count(),
    )


# --- landlords ---------------------------------------------------------------------------------------


def test_an_organisation_landlord_is_named_by_its_credit_code(api: APIClient, house: House) -> None:
    response = api.post(reverse("api:house-rental", args=[house.pk]), _org(tenants=2), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["landlord"] == {"kind": "org", "name": "番禺某物业公司", "document": USCC, "phone_masked": ""}
    assert body["active"] and body["tenants"] == 2 and body["start"] == "2026-01-01" and body["end"] is None
    landlord = Landlord.objects.get()
    assert landlord.kind == "org" and landlord.uscc == USCC and landlord.person is None
    assert House.objects.get(pk=house.pk).use == "rented"
    entry = AuditEntry.objects.get(action="register.rental")
    assert entry.detail["landlord"] == "org" and entry.object_id == str(body["id"])
    # Lower case and spaces are normalised; the same organisation is one landlord.
    listed = api.get(reverse("api:house-rental", args=[house.pk])).json()
    assert listed["active"]["id"] == body["id"] and listed["past"] == []


def test_a_bad_credit_code_is_refused_in_chinese_naming_the_field(api: APIClient, house: House) -> None:
    before = _snapshot()
    bad = _org()
    bad["landlord"]["uscc"] = BAD_USCC
    response = api.post(reverse("api:house-rental", args=[house.pk]), bad, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert "校验位错误，应为 L" in response.json()["fields"]["landlord_uscc"][0]
    short = _org()
    short["landlord"].update(uscc="9144030056852049", org_name="")
    fields = api.post(reverse("api:house-rental", args=[house.pk]), short, format="json").json()["fields"]
    assert "18 位" in fields["landlord_uscc"][0] and "单位名称" in fields["landlord_org_name"][0]
    assert _snapshot() == before


def test_a_person_landlord_is_found_in_the_register_by_document_number(
    api: APIClient, clerk: Any, house: House, other_house: House
) -> None:
    registered = services.residence_register(
        actor=clerk, person=person(LANDLORD_ID, name="王五"), house=other_house, on=dt.date(2026, 1, 5)
    ).person
    persons = Person.objects.count()
    body = {"landlord": {"id_number": LANDLORD_ID.lower()[:-1] + "8"}, "start": "2026-02-01", "tenants": 1}
    response = api.post(reverse("api:house-rental", args=[house.pk]), body, format="json")
    assert response.status_code == 201, response.json()
    landlord = response.json()["landlord"]
    assert landlord == {
        "kind": "person",
        "name": "王*",
        "document": "110102********0078",
        "phone_masked": "138****8000",
    }
    assert "王五" not in response.content.decode() and LANDLORD_ID not in response.content.decode()
    assert Person.objects.count() == persons and Landlord.objects.get().person_id == registered.pk


def test_an_unknown_landlord_needs_a_name_and_is_then_registered(api: APIClient, house: House) -> None:
    body: dict[str, Any] = {"landlord": {"id_number": LANDLORD_ID}, "start": "2026-02-01"}
    refused = api.post(reverse("api:house-rental", args=[house.pk]), body, format="json")
    assert refused.status_code == 400 and "请填写房东姓名" in refused.json()["fields"]["landlord_name"][0]
    bad_id = {"landlord": {"id_number": "36042619910102009X", "name": "赵六"}, "start": "2026-02-01"}
    assert (
        "校验位"
        in api.post(reverse("api:house-rental", args=[house.pk]), bad_id, format="json").json()["fields"][
            "landlord_id_number"
        ][0]
    )
    assert not Person.objects.exists() and not Rental.objects.exists()
    body["landlord"]["name"] = "赵六"
    created = api.post(reverse("api:house-rental", args=[house.pk]), body, format="json")
    assert created.status_code == 201 and created.json()["landlord"]["name"] == "赵*"
    assert services.find_person(id_type="resident_id", id_number=LANDLORD_ID) is not None


# --- group renting -----------------------------------------------------------------------------------


def test_under_five_square_metres_per_person_is_derived_and_explained(api: APIClient, small_house: House) -> None:
    url = reverse("api:house-rental", args=[small_house.pk])
    created = api.post(url, _org(tenants=5), format="json").json()
    assert created["group_renting"] is True and created["area_per_person"] == "4.00"
    assert created["group_reasons"] == [{"code": "under_5m2", "label": "人均居住面积不足 5 平方米"}]
    assert created["group_explanation"] == "人均居住面积 4.00 ㎡（建筑面积 20.00 ㎡ ÷ 5 人），不足 5 ㎡"

    update = reverse("api:rental-update", args=[created["id"]])
    four = api.post(update, {"tenants": 4}, format="json").json()
    assert four["group_renting"] is False and four["group_reasons"] == [] and "不低于 5 ㎡" in four["group_explanation"]
    # An officer's finding stands on its own, whatever the area.
    found = api.post(update, {"group_reasons": ["room_in_room", "hourly"]}, format="json").json()
    assert found["group_renting"] is True and [r["code"] for r in found["group_reasons"]] == ["room_in_room", "hourly"]
    # The derived reason cannot be ticked by hand.
    ticked = api.post(update, {"group_reasons": ["under_5m2"]}, format="json")
    assert ticked.status_code == 400 and "group_reasons" in str(ticked.json()["fields"])
    six = api.post(update, {"tenants": 6, "group_reasons": []}, format="json").json()
    assert [r["code"] for r in six["group_reasons"]] == ["under_5m2"]


def test_the_flag_follows_the_floor_area_and_is_unknown_without_it(clerk: Any, house: House) -> None:
    rental = services.rental_register(
        actor=clerk,
        house=house,
        start=dt.date(2026, 1, 1),
        tenants=3,
        landlord=services.LandlordInput(kind="org", org_name="某公司", uscc=USCC),
    )
    assert rental.group_renting is False  # no floor area: not judged
    assert "未登记建筑面积" in rentals.assess_group_renting(floor_area=None, tenants=3).explanation()
    services.house_update(actor=clerk, house=house, floor_area=Decimal("14.99"))
    rental.refresh_from_db()
    assert rental.group_renting and rental.group_reasons == ["under_5m2"]
    services.house_update(actor=clerk, house=house, floor_area=Decimal("15"))
    rental.refresh_from_db()
    assert not rental.group_renting and rental.group_reasons == []
    # Compared before rounding: 24.99 ㎡ for 5 people shows as 5.00 but is under.
    edge = rentals.assess_group_renting(floor_area=Decimal("24.99"), tenants=5)
    assert edge.under_threshold is True and str(edge.per_person) == "5.00"


# --- one active rental, update, end ------------------------------------------------------------------


def test_a_house_has_one_active_rental_and_an_ended_one_stays_in_its_history(
    api: APIClient, clerk: Any, house: House
) -> None:
    url = reverse("api:house-rental", args=[house.pk])
    first = api.post(url, _org(), format="json").json()
    second = api.post(url, _org(start="2026-03-01"), format="json")
    assert second.status_code == 409 and "已有有效的出租登记" in second.json()["message"]
    assert Rental.objects.count() == 1
    with pytest.raises(Conflict):
        services.rental_register(
            actor=clerk,
            house=house,
            start=dt.date(2026, 3, 1),
            landlord=services.LandlordInput(kind="org", org_name="另一公司", uscc="91110000600037341L"),
        )

    end_url = reverse("api:rental-end", args=[first["id"]])
    no_reason = api.post(end_url, {"reason": ""}, format="json")
    assert no_reason.status_code == 400 and "退租原因" in no_reason.json()["fields"]["reason"][0]
    early = api.post(end_url, {"reason": "租约到期", "on": "2025-12-31"}, format="json")
    assert early.status_code == 400 and "不能早于起租日期" in early.json()["fields"]["on"][0]
    ended = api.post(end_url, {"reason": "租约到期", "on": "2026-02-28"}, format="json").json()
    assert ended["active"] is False and ended["ended_on"] == "2026-02-28" and ended["end_reason"] == "租约到期"
    assert api.post(end_url, {"reason": "再退"}, format="json").status_code == 409
    assert api.post(reverse("api:rental-update", args=[first["id"]]), {"tenants": 2}, format="json").status_code == 409

    again = api.post(url, _org(start="2026-03-01"), format="json")
    assert again.status_code == 201
    listed = api.get(url).json()
    assert listed["active"]["id"] == again.json()["id"] and [r["id"] for r in listed["past"]] == [first["id"]]
    actions = list(AuditEntry.objects.filter(action__startswith="register.rental").values_list("action", flat=True))
    assert actions == ["register.rental", "register.rental_end", "register.rental"]


def test_update_checks_the_term(api: APIClient, house: House) -> None:
    created = api.post(reverse("api:house-rental", args=[house.pk]), _org(end="2026-12-31"), format="json").json()
    update = reverse("api:rental-update", args=[created["id"]])
    bad = api.post(update, {"end": "2025-01-01"}, format="json")
    assert bad.status_code == 400 and "到期日期不能早于起租日期" in bad.json()["fields"]["end"][0]
    assert api.post(update, {"tenants": 0}, format="json").json()["fields"]["tenants"]
    open_ended = api.post(update, {"end": None, "tenants": 3}, format="json").json()
    assert open_ended["end"] is None and open_ended["tenants"] == 3
    before = AuditEntry.objects.filter(action="register.rental_update").last()
    assert before is not None and before.detail["after"]["tenants"] == 3


# --- scoping -----------------------------------------------------------------------------------------


def test_rentals_are_scoped_to_the_area(api: APIClient, clerk: Any, make_user: Any, house: House) -> None:
    created = api.post(reverse("api:house-rental", args=[house.pk]), _org(tenants=2), format="json").json()
    before = _snapshot()
    outsider = APIClient()
    outsider.force_authenticate(make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY))
    assert outsider.get(reverse("api:house-rental", args=[house.pk])).status_code == 404
    assert outsider.post(reverse("api:house-rental", args=[house.pk]), _org(), format="json").status_code == 404
    assert (
        outsider.post(reverse("api:rental-update", args=[created["id"]]), {"tenants": 9}, format="json").status_code
        == 404
    )
    end = outsider.post(reverse("api:rental-end", args=[created["id"]]), {"reason": "x"}, format="json")
    assert end.status_code == 404
    assert outsider.get(reverse("api:rental-list")).json()["results"] == []
    assert [r["id"] for r in api.get(reverse("api:rental-list")).json()["results"]] == [created["id"]]
    assert api.get(reverse("api:rental-list"), {"group_renting": "true"}).json()["results"] == []
    # A role that reads the register but does not register: refused, audited.
    viewer = APIClient()
    viewer.force_authenticate(make_user(Role.SUPERVISOR, "440113007000"))
    assert (
        viewer.post(reverse("api:rental-update", args=[created["id"]]), {"tenants": 9}, format="json").status_code
        == 403
    )
    assert AuditEntry.objects.filter(action="register.rental_update", result="denied").exists()
    assert _snapshot() == before
    with pytest.raises(ValidationFailed):
        services.rental_register(actor=clerk, house=house, start=dt.date(2026, 1, 1))


# --- the house page ----------------------------------------------------------------------------------


def _page_rental(**extra: str) -> dict[str, Any]:
    data = {
        "landlord_kind": "person",
        "landlord_id_type": "resident_id",
        "landlord_id_number": LANDLORD_ID,
        "landlord_name": "王五",
        "landlord_phone": "13600136000",
        "landlord_org_name": "",
        "landlord_uscc": "",
        "start": "2026-01-01",
        "end": "2027-12-31",
        "tenants": "5",
        "group_reasons": ["balcony"],
    }
    data.update(extra)
    return data


def test_the_house_page_registers_updates_and_ends_a_rental(client: Any, clerk: Any, small_house: House) -> None:
    client.force_login(clerk)
    page = reverse("registry:house", args=[small_house.pk])
    assert 'data-testid="rental-form"' in client.get(page).content.decode()
    response = client.post(reverse("registry:rental-register", args=[small_house.pk]), _page_rental(), follow=True)
    html = response.content.decode()
    assert response.status_code == 200 and "已登记出租" in html
    card = html[html.index('data-testid="rental"') : html.index('data-testid="residents"')]
    assert "王*" in card and "110102********0078" in card and "136****6000" in card
    assert "王五" not in card and LANDLORD_ID not in card and "13600136000" not in card
    assert "群租" in card and "阳台、厨房、卫生间住人" in card and "人均居住面积不足 5 平方米" in card
    assert "人均居住面积 4.00 ㎡（建筑面积 20.00 ㎡ ÷ 5 人），不足 5 ㎡" in card
    assert 'data-testid="rental-form"' not in card and 'data-testid="rental-update-form"' in card

    rental = Rental.objects.get()
    update = {"start": "2026-01-01", "end": "", "tenants": "2", "group_reasons": []}
    html = client.post(reverse("registry:rental-update", args=[rental.pk]), update, follow=True).content.decode()
    rental.refresh_from_db()
    assert rental.tenants == 2 and not rental.group_renting and rental.end is None
    assert "不定期" in html and "不低于 5 ㎡" in html
    ended = client.post(reverse("registry:rental-end", args=[rental.pk]), {"reason": "租约到期", "on": "2026-03-01"})
    assert ended.status_code == 302
    html = client.get(page).content.decode()
    assert "没有有效的出租登记" in html and "租约到期" in html and 'data-testid="past-rentals"' in html


def test_a_rejected_rental_form_keeps_the_input_and_names_the_field(client: Any, clerk: Any, house: House) -> None:
    client.force_login(clerk)
    bad = _page_rental(landlord_kind="org", landlord_org_name="番禺某物业公司", landlord_uscc=BAD_USCC)
    response = client.post(reverse("registry:rental-register", args=[house.pk]), bad)
    html = response.content.decode()
    assert response.status_code == 400 and "校验位错误，应为 L" in html and BAD_USCC in html
    no_start = client.post(reverse("registry:rental-register", args=[house.pk]), _page_rental(start=""))
    assert no_start.status_code == 400 and "请填写日期" in no_start.content.decode()
    assert not Rental.objects.exists()


def test_the_rental_list_page_is_scoped_and_filters_group_renting(
    client: Any, clerk: Any, make_user: Any, small_house: House, other_house: House
) -> None:
    services.rental_register(
        actor=clerk,
        house=small_house,
        start=dt.date(2026, 1, 1),
        tenants=6,
        landlord=services.LandlordInput(kind="org", org_name="甲公司", uscc=USCC),
    )
    services.rental_register(
        actor=clerk,
        house=other_house,
        start=dt.date(2026, 1, 1),
        landlord=services.LandlordInput(id_number=LANDLORD_ID, name="王五"),
    )
    client.force_login(clerk)
    html = client.get(reverse("registry:rentals")).content.decode()
    assert "甲公司" in html and "王*" in html and "王五" not in html
    group = client.get(reverse("registry:rentals"), {"group": "1"}).content.decode()
    assert "甲公司" in group and "王*" not in group
    assert 'href="/register/rentals/"' in html  # in the navigation
    client.force_login(make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY))
    assert "甲公司" not in client.get(reverse("registry:rentals")).content.decode()
