"""The register REST API: area scoping, masking, the audited reveal, the residence lifecycle with client
transaction ids, Chinese errors naming the field, document-number search, and the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core.idnumbers import resident_id_check_char
from civicgrid.registry import services
from civicgrid.registry.models import House, Person, ResidenceAction, ResidenceRecord
from tests.conftest import SHATOU_COMMUNITY, SHIQIAO, SHIQIAO_COMMUNITY
from tests.registry.conftest import person

pytestmark = pytest.mark.django_db

FULL_ID = "360426199101010071"
MASKED_ID = "360426********0071"
PHONE = "13800138000"
MASKED_PHONE = "138****8000"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def record(clerk: Any, house: House) -> ResidenceRecord:
    return services.residence_register(actor=clerk, person=person(), house=house, on=dt.date(2026, 3, 1))


@pytest.fixture
def outsider(make_user: Any) -> Any:
    """A community clerk of another town (沙头街道)."""
    return make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY)


def _snapshot() -> tuple[Any, ...]:
    return (
        list(ResidenceRecord.objects.order_by("pk").values_list("pk", "state", "version", "updated_on")),
        list(ResidenceAction.objects.values_list("pk", flat=True)),
        list(Person.objects.order_by("pk").values_list("pk", "employer", "phone_blind")),
        House.objects.count(),
    )


# --- login, scoping, masking ---------------------------------------------------------------------------


def test_every_register_endpoint_needs_login(api: APIClient, record: ResidenceRecord) -> None:
    before = _snapshot()
    reads = [
        reverse("api:person-search") + "?q=张",
        reverse("api:person-detail", args=[record.person_id]),
        reverse("api:house-list"),
        reverse("api:house-detail", args=[record.house_id]),
    ]
    for url in reads:
        assert api.get(url).status_code == 401, url
    writes = [
        reverse("api:person-reveal", args=[record.person_id]),
        reverse("api:residence-register"),
        reverse("api:residence-update", args=[record.pk]),
        reverse("api:residence-cancel", args=[record.pk]),
    ]
    for url in writes:
        assert api.post(url, {}, format="json").status_code == 401, url
    assert _snapshot() == before


def test_reads_are_masked_and_scoped_to_the_area(
    api: APIClient, clerk: Any, outsider: Any, record: ResidenceRecord
) -> None:
    api.force_authenticate(clerk)
    found = api.get(reverse("api:person-search"), {"q": FULL_ID})
    assert found.status_code == 200
    (hit,) = found.json()
    assert hit["id"] == record.person_id and hit["id_masked"] == MASKED_ID and hit["phone_masked"] == MASKED_PHONE
    detail = api.get(reverse("api:person-detail", args=[record.person_id]))
    house = api.get(reverse("api:house-detail", args=[record.house_id]))
    houses = api.get(reverse("api:house-list"), {"q": "德兴路"})
    assert [h["id"] for h in houses.json()] == [record.house_id] and houses.json()[0]["residents"] == 1
    for response in (found, detail, house, houses):
        body = response.content.decode()
        assert FULL_ID not in body and PHONE not in body
        assert "id_number_enc" not in body and "phone_blind" not in body
    assert detail.json()["residences"][0]["person"]["id_masked"] == MASKED_ID
    assert house.json()["residences"][0]["actions"][0]["kind"] == "register"

    # A clerk of another town: nothing found, and the objects look like missing ones.
    api.force_authenticate(outsider)
    for q in (FULL_ID, MASKED_ID, "张", PHONE):
        response = api.get(reverse("api:person-search"), {"q": q})
        assert response.status_code == 200 and response.json() == [], q
    assert api.get(reverse("api:house-list"), {"q": "德兴路"}).json() == []
    for url in (
        reverse("api:person-detail", args=[record.person_id]),
        reverse("api:house-detail", args=[record.house_id]),
    ):
        response = api.get(url)
        assert response.status_code == 404 and response.json()["code"] == "not_found", url
        assert "辖区" in response.json()["message"]


def test_a_role_without_the_register_is_refused(api: APIClient, make_user: Any, record: ResidenceRecord) -> None:
    api.force_authenticate(make_user(Role.DISPATCHER, SHIQIAO))
    response = api.get(reverse("api:person-search"), {"q": "张"})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


# --- reveal ------------------------------------------------------------------------------------------


def test_reveal_needs_the_permission_and_a_reason_and_is_audited(
    api: APIClient, clerk: Any, make_user: Any, outsider: Any, record: ResidenceRecord
) -> None:
    url = reverse("api:person-reveal", args=[record.person_id])
    worker = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)  # sees the register, may not reveal
    api.force_authenticate(worker)
    refused = api.post(url, {"field": "id_number", "reason": "核查"}, format="json")
    assert refused.status_code == 403 and FULL_ID not in refused.content.decode()
    denial = AuditEntry.objects.get(action="pii.reveal.id_number")
    assert denial.result == AuditEntry.Result.DENIED and denial.actor_id == worker.pk

    api.force_authenticate(clerk)
    no_reason = api.post(url, {"field": "id_number", "reason": ""}, format="json")
    assert no_reason.status_code == 400 and "事由" in no_reason.json()["fields"]["reason"][0]
    bad_field = api.post(url, {"field": "name", "reason": "核查身份"}, format="json")
    assert bad_field.status_code == 400 and "field" in bad_field.json()["fields"]
    assert not AuditEntry.objects.filter(action__startswith="pii.reveal", result=AuditEntry.Result.OK).exists()

    shown = api.post(url, {"field": "id_number", "reason": "派出所协查"}, format="json")
    assert shown.status_code == 200 and shown.json() == {"value": FULL_ID}
    phone = api.post(url, {"field": "phone", "reason": "联系本人"}, format="json")
    assert phone.json() == {"value": PHONE}
    entries = AuditEntry.objects.filter(result=AuditEntry.Result.OK, action__startswith="pii.reveal").order_by("seq")
    assert [(e.action, e.detail["reason"], e.actor_id) for e in entries] == [
        ("pii.reveal.id_number", "派出所协查", clerk.pk),
        ("pii.reveal.phone", "联系本人", clerk.pk),
    ]
    assert all(e.object_id == str(record.person_id) for e in entries)

    api.force_authenticate(outsider)
    assert api.post(url, {"field": "id_number", "reason": "核查"}, format="json").status_code == 404


# --- lifecycle ---------------------------------------------------------------------------------------


def _register_body(**person_extra: Any) -> dict[str, Any]:
    return {
        "person": {"id_number": "110102199101010078", "name": "李四", "phone": "13900139000", **person_extra},
        "address": {"community": SHIQIAO_COMMUNITY, "road": "德兴路", "door_number": "20号", "room": "502"},
        "on": "2026-03-02",
        "txn_id": "client-txn-1",
    }


def test_register_update_cancel_through_the_api_and_replays_are_no_ops(api: APIClient, clerk: Any) -> None:
    api.force_authenticate(clerk)
    created = api.post(reverse("api:residence-register"), _register_body(), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    record_id = body["id"]
    assert body["state"] == "active" and body["version"] == 1 and body["person"]["id_masked"] == "110102********0078"
    assert "110102199101010078" not in created.content.decode()
    # The same request again (a retry after a lost response): the same record, nothing new.
    again = api.post(reverse("api:residence-register"), _register_body(), format="json")
    assert again.status_code == 201 and again.json()["id"] == record_id
    assert ResidenceRecord.objects.count() == 1 and ResidenceAction.objects.count() == 1

    update_url = reverse("api:residence-update", args=[record_id])
    update = {"on": "2026-04-01", "employer": "番禺某厂", "expected_version": 1, "txn_id": "client-txn-2"}
    updated = api.post(update_url, update, format="json")
    assert updated.status_code == 200 and updated.json()["version"] == 2
    assert updated.json()["person"]["employer"] == "番禺某厂" and updated.json()["updated_on"] == "2026-04-01"
    replay = api.post(update_url, update, format="json")
    assert replay.status_code == 200 and replay.json()["version"] == 2
    assert ResidenceAction.objects.filter(kind="update").count() == 1
    # A stale version is a conflict, not an overwrite.
    stale = api.post(update_url, {"employer": "别的厂", "expected_version": 1}, format="json")
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"

    cancel_url = reverse("api:residence-cancel", args=[record_id])
    cancel = {"reason": "已搬离", "on": "2026-05-01", "expected_version": 2, "txn_id": "client-txn-3"}
    cancelled = api.post(cancel_url, cancel, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["cancelled_on"] == "2026-05-01"
    assert api.post(cancel_url, cancel, format="json").json()["state"] == "cancelled"
    assert list(ResidenceAction.objects.order_by("pk").values_list("kind", flat=True)) == [
        "register",
        "update",
        "cancel",
    ]
    late = api.post(update_url, {"employer": "又一厂"}, format="json")
    assert late.status_code == 409 and "已注销" in late.json()["message"]
    journal = api.get(reverse("api:house-detail", args=[cancelled.json()["house_id"]])).json()
    assert [a["kind"] for a in journal["residences"][0]["actions"]] == ["register", "update", "cancel"]


def test_writes_outside_the_area_or_role_change_nothing(
    api: APIClient, outsider: Any, make_user: Any, record: ResidenceRecord
) -> None:
    before = _snapshot()
    api.force_authenticate(outsider)
    body = _register_body()
    del body["address"]
    body["house"] = record.house_id
    assert api.post(reverse("api:residence-register"), body, format="json").status_code == 404
    other_address = _register_body()
    assert api.post(reverse("api:residence-register"), other_address, format="json").status_code == 404
    assert api.post(reverse("api:residence-update", args=[record.pk]), {}, format="json").status_code == 404
    cancel = {"reason": "已搬离"}
    assert api.post(reverse("api:residence-cancel", args=[record.pk]), cancel, format="json").status_code == 404
    api.force_authenticate(make_user(Role.SUPERVISOR, SHIQIAO))  # reads the register, does not register
    refused = api.post(reverse("api:residence-cancel", args=[record.pk]), cancel, format="json")
    assert refused.status_code == 403
    assert _snapshot() == before


def test_errors_are_in_chinese_and_name_the_field(api: APIClient, clerk: Any, record: ResidenceRecord) -> None:
    api.force_authenticate(clerk)
    bad_id = api.post(reverse("api:residence-register"), _register_body(id_number="36042619910102009X"), format="json")
    assert bad_id.status_code == 400 and bad_id.json()["code"] == "invalid"
    assert "校验位错误" in bad_id.json()["fields"]["id_number"][0]
    missing = _register_body()
    del missing["person"]["name"]
    no_name = api.post(reverse("api:residence-register"), missing, format="json")
    assert no_name.status_code == 400 and "必填" in no_name.json()["fields"]["person.name"][0]
    no_house = _register_body()
    del no_house["address"]
    assert "房屋" in api.post(reverse("api:residence-register"), no_house, format="json").json()["fields"]["house"][0]
    phone = api.post(reverse("api:residence-update", args=[record.pk]), {"phone": "12345"}, format="json")
    assert phone.status_code == 400 and "联系电话" in phone.json()["fields"]["phone"][0]
    future = api.post(reverse("api:residence-update", args=[record.pk]), {"on": "2999-01-01"}, format="json")
    assert "不能晚于今天" in future.json()["fields"]["on"][0]
    no_reason = api.post(reverse("api:residence-cancel", args=[record.pk]), {"reason": ""}, format="json")
    assert no_reason.status_code == 400 and "注销原因" in no_reason.json()["fields"]["reason"][0]
    assert ResidenceRecord.objects.get(pk=record.pk).state == "active"


# --- search by any document type ---------------------------------------------------------------------


def _gb11643(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


@pytest.mark.parametrize(
    ("id_type", "number", "typed"),
    [
        ("passport", "E12345678", "e12345678"),
        ("passport", "G1234567", " G 1234567 "),
        ("hk_macau_permit", "H12345678", "h12345678"),
        ("taiwan_permit", "12345678", "12345678"),
        ("residence_permit", _gb11643("81000019910101007"), _gb11643("81000019910101007")),
        ("foreign_permanent", _gb11643("93301219900101001"), _gb11643("93301219900101001")),
        ("foreign_permanent", "USA330000910101", "usa330000910101"),
    ],
)
def test_search_finds_every_document_type_by_its_exact_number(
    api: APIClient, clerk: Any, house: House, id_type: str, number: str, typed: str
) -> None:
    services.residence_register(
        actor=clerk,
        person=services.PersonInput(id_type=id_type, id_number=number, name="Smith John"),
        house=house,
        on=dt.date(2026, 3, 1),
    )
    api.force_authenticate(clerk)
    (hit,) = api.get(reverse("api:person-search"), {"q": typed}).json()
    assert hit["id_type"] == id_type and hit["name"] == "Smith John" and number not in hit["id_masked"]
    # One character off finds nothing (an exact lookup, not a prefix), and a name still searches by name.
    assert api.get(reverse("api:person-search"), {"q": number[:-1] + ("0" if number[-1] != "0" else "1")}).json() == []
    assert [p["name"] for p in api.get(reverse("api:person-search"), {"q": "Smith"}).json()] == ["Smith John"]


def test_a_document_number_never_goes_into_the_address_bar(client: Any, clerk: Any, house: House) -> None:
    services.residence_register(
        actor=clerk,
        person=services.PersonInput(id_type="passport", id_number="E1234A", name="Anna"),
        house=house,
        on=dt.date(2026, 3, 1),
    )
    client.force_login(clerk)
    url = reverse("registry:search")
    response = client.post(url, {"q": "E1234A"}, HTTP_HX_REQUEST="true")
    assert response["HX-Push-Url"] == url and "Anna" in response.content.decode()


# --- OpenAPI -------------------------------------------------------------------------------------------


def test_the_schema_lists_the_register_paths(client: Any, clerk: Any) -> None:
    client.force_login(clerk)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/register/persons/",
        "/api/register/persons/{person_id}/",
        "/api/register/persons/{person_id}/reveal/",
        "/api/register/houses/",
        "/api/register/houses/{house_id}/",
        "/api/register/residences/",
        "/api/register/residences/{record_id}/update/",
        "/api/register/residences/{record_id}/cancel/",
        "/api/register/houses/{house_id}/rental/",
        "/api/register/rentals/",
        "/api/register/rentals/{rental_id}/update/",
        "/api/register/rentals/{rental_id}/end/",
        "/api/register/exports/",
    ):
        assert path in paths, path
    assert "post" in paths["/api/register/residences/"] and "get" in paths["/api/register/persons/"]
    assert "text/csv" in paths["/api/register/exports/"]["post"]["responses"]["200"]["content"]
