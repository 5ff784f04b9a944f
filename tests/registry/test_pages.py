"""The register's pages: search, house, person, the registration forms and the reveal, through the Django
test client. Every write form is checked along the permission matrix (anonymous → login, wrong role →
refused, other area → not found, right role → works); a refused attempt changes nothing."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.urls import reverse

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.registry import services
from civicgrid.registry.models import Building, House, Person, ResidenceAction, ResidenceRecord
from tests.conftest import SHATOU_COMMUNITY, SHIQIAO, SHIQIAO_COMMUNITY
from tests.registry.conftest import person

pytestmark = pytest.mark.django_db

FULL_ID = "360426199101010071"
MASKED_ID = "360426********0071"
PHONE = "13800138000"
MASKED_PHONE = "138****8000"


@pytest.fixture
def record(clerk: Any, house: House) -> ResidenceRecord:
    return services.residence_register(actor=clerk, person=person(), house=house, on=dt.date(2026, 3, 1))


def _html(response: Any) -> str:
    return response.content.decode()


def _snapshot() -> tuple[Any, ...]:
    """What a refused write must leave untouched."""
    return (
        list(ResidenceRecord.objects.order_by("pk").values_list("pk", "state", "version", "updated_on")),
        list(ResidenceAction.objects.values_list("pk", flat=True)),
        list(Person.objects.order_by("pk").values_list("pk", "employer", "phone_blind")),
        Building.objects.count(),
        House.objects.count(),
    )


def _register_post(**overrides: str) -> dict[str, str]:
    data = {
        "community": SHIQIAO_COMMUNITY,
        "road": "德兴路",
        "door_number": "20号",
        "building": "B栋",
        "room": "502",
        "use": "rented",
        "lon": "",
        "lat": "",
        "crs": "wgs84",
        "id_type": "resident_id",
        "id_number": "110102199101010078",
        "name": "李四",
        "sex": "",
        "birth_date": "",
        "phone": "13900139000",
        "hukou_place": "北京市西城区",
        "employer": "番禺某厂",
        "permit_status": "applied",
        "on": "2026-03-02",
        "txn_id": "form-render-1",
    }
    data.update(overrides)
    return data


# --- login and roles -----------------------------------------------------------------------------------


def test_every_page_and_action_needs_login(client: Any, record: ResidenceRecord) -> None:
    before = _snapshot()
    pages = [
        reverse("registry:search"),
        reverse("registry:register"),
        reverse("registry:house-new"),
        reverse("registry:house", args=[record.house_id]),
        reverse("registry:person", args=[record.person_id]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    actions = [
        (reverse("registry:residence-update", args=[record.pk]), {"employer": "x", "expected_version": "1"}),
        (reverse("registry:residence-cancel", args=[record.pk]), {"reason": "已搬离"}),
        (reverse("registry:house-arrival", args=[record.house_id]), _register_post()),
        (reverse("registry:house-exception", args=[record.house_id]), {"id_number": FULL_ID, "reason": "x"}),
        (reverse("registry:person-reveal", args=[record.person_id]), {"field": "id_number", "reason": "核实"}),
        (reverse("registry:register"), _register_post()),
    ]
    for url, data in actions:
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
        assert FULL_ID not in _html(response)
    assert _snapshot() == before


def test_an_expired_session_sends_the_live_search_to_the_login_page(client: Any) -> None:
    response = client.post(reverse("registry:search"), {"q": "张"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and not response.content
    assert response["HX-Redirect"].startswith("/login/?next=")


def test_roles_without_the_register_are_refused(client: Any, make_user: Any, record: ResidenceRecord) -> None:
    client.force_login(make_user(Role.DISPATCHER, SHIQIAO))
    for url in (
        reverse("registry:search"),
        reverse("registry:house", args=[record.house_id]),
        reverse("registry:person", args=[record.person_id]),
        reverse("registry:register"),
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "权限" in _html(response) and MASKED_ID not in _html(response)


# --- search --------------------------------------------------------------------------------------------


def test_search_finds_by_full_masked_name_phone_and_address(client: Any, clerk: Any, record: ResidenceRecord) -> None:
    client.force_login(clerk)
    url = reverse("registry:search")
    for q in (FULL_ID, MASKED_ID, "张", PHONE):
        response = client.post(url, {"q": q}, HTTP_HX_REQUEST="true")
        html = _html(response)
        assert response.status_code == 200 and "<html" not in html, q  # htmx gets the results only
        assert reverse("registry:person", args=[record.person_id]) in html, q
        assert MASKED_ID in html and FULL_ID not in html and PHONE not in html, q
    # Identity and phone numbers never go into the address bar; names and addresses do.
    assert client.post(url, {"q": FULL_ID}, HTTP_HX_REQUEST="true")["HX-Push-Url"] == url
    assert client.post(url, {"q": PHONE}, HTTP_HX_REQUEST="true")["HX-Push-Url"] == url
    assert client.post(url, {"q": "张"}, HTTP_HX_REQUEST="true")["HX-Push-Url"] == f"{url}?q=%E5%BC%A0"

    for q in ("德兴路", "12号", "A栋"):
        html = _html(client.post(url, {"q": q}, HTTP_HX_REQUEST="true"))
        assert reverse("registry:house", args=[record.house_id]) in html, q
        assert "1 人在住" in html
    # A link (GET) renders the whole page with the results.
    page = _html(client.get(url, {"q": MASKED_ID}))
    assert "<html" in page and "实有人口房屋查询" in page and "张三" in page
    assert "没有匹配" in _html(client.post(url, {"q": "不存在的人"}, HTTP_HX_REQUEST="true"))


def test_search_stays_in_the_area(client: Any, make_user: Any, record: ResidenceRecord) -> None:
    client.force_login(make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY))
    url = reverse("registry:search")
    for q in (FULL_ID, MASKED_ID, "张", PHONE, "德兴路"):
        html = _html(client.post(url, {"q": q}, HTTP_HX_REQUEST="true"))
        assert "张三" not in html and "德兴路" not in html, q
        assert reverse("registry:house", args=[record.house_id]) not in html


# --- house page ----------------------------------------------------------------------------------------


def test_house_page_shows_the_address_residents_and_history(client: Any, clerk: Any, record: ResidenceRecord) -> None:
    services.residence_update(actor=clerk, record=record, employer="番禺某厂", on=dt.date(2026, 4, 1))
    client.force_login(clerk)
    html = _html(client.get(reverse("registry:house", args=[record.house_id])))
    for text in ("市桥街道", "德兴社区", "德兴路12号", "A栋", "301", "出租", MASKED_ID, MASKED_PHONE, "番禺某厂"):
        assert text in html, text
    assert FULL_ID not in html and PHONE not in html
    assert "2026-03-01" in html and "2026-04-01" in html  # registered on, last updated
    assert "新登记人员" in html and "工作单位：番禺某厂" in html and clerk.display_name in html  # the journal
    for form in ("update-form", "cancel-form", "arrival-form", "exception-form"):
        assert f'data-testid="{form}"' in html, form
    assert f'name="expected_version" value="{record.version + 1}"' in html
    txn_ids = re.findall(r'name="txn_id" value="([0-9a-f]{32})"', html)
    assert len(txn_ids) == 3 and len(set(txn_ids)) == 3  # a fresh transaction id per form and rendering


def test_house_page_shows_the_active_rental_with_the_landlord_masked(client: Any, clerk: Any, house: House) -> None:
    landlord = services.PersonInput(
        id_type="resident_id", id_number="110102199101010078", name="王五一", phone="13600136000"
    )
    services.rental_register(actor=clerk, house=house, start=dt.date(2026, 1, 1), landlord_person=landlord)
    client.force_login(clerk)
    html = _html(client.get(reverse("registry:house", args=[house.pk])))
    rental = html[html.index('data-testid="rental"') : html.index('data-testid="residents"')]
    assert "王**" in rental and "110102********0078" in rental and "136****6000" in rental
    assert "2026-01-01" in rental and "不定期" in rental
    assert "王五一" not in html and "110102199101010078" not in html and "13600136000" not in html


def test_house_page_read_only_roles_see_no_forms(client: Any, make_user: Any, record: ResidenceRecord) -> None:
    client.force_login(make_user(Role.SUPERVISOR, SHIQIAO))
    html = _html(client.get(reverse("registry:house", args=[record.house_id])))
    assert "张三" in html and MASKED_ID in html
    assert "update-form" not in html and "arrival-form" not in html and "exception-form" not in html
    client.force_login(make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY))
    html = _html(client.get(reverse("registry:house", args=[record.house_id])))
    assert "update-form" in html and "arrival-form" in html and "exception-form" not in html


def test_house_and_person_pages_of_another_area_are_not_found(
    client: Any, make_user: Any, record: ResidenceRecord
) -> None:
    client.force_login(make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY))
    for url in (reverse("registry:house", args=[record.house_id]), reverse("registry:person", args=[record.person_id])):
        response = client.get(url)
        assert response.status_code == 404 and "不在您的辖区内" in _html(response)
        assert "张三" not in _html(response)


# --- update and cancel ---------------------------------------------------------------------------------


def test_update_then_cancel_through_the_forms(client: Any, clerk: Any, record: ResidenceRecord) -> None:
    client.force_login(clerk)
    house_url = reverse("registry:house", args=[record.house_id])
    update = {
        "phone": "13700137000",
        "employer": "新单位",
        "permit_status": "valid",
        "on": "2026-05-01",
        "expected_version": "1",
        "txn_id": "u-1",
    }
    response = client.post(reverse("registry:residence-update", args=[record.pk]), update)
    assert response.status_code == 302 and response["Location"] == house_url
    # The same form submitted twice (a double tap) updates once.
    client.post(reverse("registry:residence-update", args=[record.pk]), update)
    record.refresh_from_db()
    assert record.version == 2 and record.updated_on == dt.date(2026, 5, 1)
    assert record.actions.filter(kind="update").count() == 1
    subject = Person.objects.get(pk=record.person_id)
    assert subject.employer == "新单位" and subject.permit_status == "valid" and subject.phone_masked == "137****7000"
    html = _html(client.get(house_url))
    assert "已更新 张三 的居住登记" in html and "137****7000" in html

    cancel_url = reverse("registry:residence-cancel", args=[record.pk])
    missing = client.post(cancel_url, {"reason": "", "expected_version": "2"})
    assert missing.status_code == 400 and "请填写注销原因" in _html(missing)
    record.refresh_from_db()
    assert record.state == "active"

    cancel = {"reason": "已搬离", "on": "2026-06-01", "expected_version": "2", "txn_id": "c-1"}
    response = client.post(cancel_url, cancel)
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.state == "cancelled" and record.cancelled_on == dt.date(2026, 6, 1)
    html = _html(client.get(house_url))
    assert 'data-testid="former"' in html and "已搬离" in html and "当前没有在住人员" in html


def test_a_stale_update_is_a_conflict_and_keeps_what_was_typed(
    client: Any, clerk: Any, record: ResidenceRecord
) -> None:
    services.residence_update(actor=clerk, record=record, employer="别人改的", expected_version=1)
    client.force_login(clerk)
    response = client.post(
        reverse("registry:residence-update", args=[record.pk]),
        {"phone": "", "employer": "我填的单位", "permit_status": "none", "on": "", "expected_version": "1"},
    )
    html = _html(response)
    assert response.status_code == 409
    assert "已被他人修改" in html and "您填写的内容已保留" in html
    assert 'value="我填的单位"' in html  # nothing typed is lost
    assert 'name="expected_version" value="2"' in html  # the form now carries the current version
    assert Person.objects.get(pk=record.person_id).employer == "别人改的"


def test_updating_a_residence_someone_else_cancelled_says_so(client: Any, clerk: Any, record: ResidenceRecord) -> None:
    services.residence_cancel(actor=clerk, record=record, reason="已搬离")
    client.force_login(clerk)
    response = client.post(
        reverse("registry:residence-update", args=[record.pk]),
        {"employer": "x", "permit_status": "none", "expected_version": "1"},
    )
    html = _html(response)
    assert response.status_code == 409 and "已被他人修改" in html  # shown on top: the form is gone
    assert "当前没有在住人员" in html and Person.objects.get(pk=record.person_id).employer == ""


def test_update_errors_are_shown_next_to_the_field(client: Any, clerk: Any, record: ResidenceRecord) -> None:
    client.force_login(clerk)
    response = client.post(
        reverse("registry:residence-update", args=[record.pk]),
        {"phone": "12345", "employer": "x", "permit_status": "none", "on": "2026-02-30", "expected_version": "1"},
    )
    html = _html(response)
    assert response.status_code == 400
    assert "日期格式应为 YYYY-MM-DD" in html and 'value="12345"' in html
    response = client.post(
        reverse("registry:residence-update", args=[record.pk]),
        {"phone": "12345", "employer": "x", "permit_status": "none", "on": "", "expected_version": "1"},
    )
    assert response.status_code == 400 and "联系电话“12345”格式不正确" in _html(response)
    assert record.actions.count() == 1


@pytest.mark.parametrize("action", ["update", "cancel"])
def test_update_and_cancel_permission_matrix(client: Any, make_user: Any, record: ResidenceRecord, action: str) -> None:
    url = reverse(f"registry:residence-{action}", args=[record.pk])
    data = {"employer": "x", "permit_status": "none", "reason": "已搬离", "expected_version": "1"}
    before = _snapshot()
    client.force_login(make_user(Role.SUPERVISOR, SHIQIAO))  # sees the register, may not write
    assert client.post(url, data).status_code == 403
    assert AuditEntry.objects.filter(action=f"residence.{action}", result="denied").count() == 1
    client.force_login(make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY))
    assert client.post(url, data).status_code == 404
    assert _snapshot() == before
    client.force_login(make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY))
    assert client.post(url, data).status_code == 302
    assert _snapshot() != before


# --- arrival and exception on the house page ------------------------------------------------------------


def test_arrival_at_a_house_and_the_exception_for_a_second_house(
    client: Any, clerk: Any, record: ResidenceRecord, other_house: House
) -> None:
    client.force_login(clerk)
    arrival = reverse("registry:house-arrival", args=[other_house.pk])
    data = _register_post(id_number=FULL_ID, name="张三")
    response = client.post(arrival, data)
    html = _html(response)
    assert response.status_code == 409 and "已在" in html and "记录多处居住例外" in html
    assert f'value="{FULL_ID}"' in html  # typed values kept, and carried into the exception form
    assert html.count(f'value="{FULL_ID}"') == 2
    assert ResidenceRecord.objects.filter(house=other_house).count() == 0

    exception = reverse("registry:house-exception", args=[other_house.pk])
    missing = client.post(exception, {"id_type": "resident_id", "id_number": FULL_ID, "reason": ""})
    assert missing.status_code == 400 and "请说明多处居住的原因" in _html(missing)
    unknown = client.post(exception, {"id_type": "resident_id", "id_number": "44011320141005001X", "reason": "x"})
    assert unknown.status_code == 400 and "没有该证件号码的人员" in _html(unknown)
    response = client.post(exception, {"id_type": "resident_id", "id_number": FULL_ID, "reason": "两地工作"})
    assert response.status_code == 302
    assert ResidenceRecord.objects.filter(person_id=record.person_id, state="active").count() == 2
    html = _html(client.get(reverse("registry:house", args=[other_house.pk])))
    assert "多处居住例外" in html and "两地工作" in html

    newcomer = client.post(arrival, _register_post(txn_id="arrival-1"))
    assert newcomer.status_code == 302
    client.post(arrival, _register_post(txn_id="arrival-1"))  # a retried submit registers once
    assert ResidenceRecord.objects.filter(house=other_house, person__name="李四").count() == 1


def test_arrival_and_exception_permission_matrix(
    client: Any, make_user: Any, record: ResidenceRecord, other_house: House
) -> None:
    arrival = reverse("registry:house-arrival", args=[other_house.pk])
    exception = reverse("registry:house-exception", args=[other_house.pk])
    reason = {"id_type": "resident_id", "id_number": FULL_ID, "reason": "两地工作"}
    before = _snapshot()
    client.force_login(make_user(Role.SUPERVISOR, SHIQIAO))
    assert client.post(arrival, _register_post()).status_code == 403
    assert client.post(exception, reason).status_code == 403
    client.force_login(make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY))  # registers, but records no exception
    response = client.post(exception, reason)
    assert response.status_code == 403 and "权限" in _html(response)
    client.force_login(make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY))
    assert client.post(arrival, _register_post()).status_code == 404
    assert client.post(exception, reason).status_code == 404
    assert _snapshot() == before
    assert AuditEntry.objects.filter(action="residence.exception", result="denied").count() == 2
    client.force_login(make_user(Role.TOWN_ADMIN, SHIQIAO))
    assert client.post(exception, reason).status_code == 302


# --- the registration form -----------------------------------------------------------------------------


def test_register_form_creates_the_house_and_the_residence_once(client: Any, clerk: Any) -> None:
    client.force_login(clerk)
    page = _html(client.get(reverse("registry:register")))
    assert 'data-testid="fixed-community"' in page and "德兴社区" in page  # a clerk's own community, fixed
    response = client.post(reverse("registry:register"), _register_post())
    assert response.status_code == 302
    client.post(reverse("registry:register"), _register_post())  # the same rendering submitted twice
    record = ResidenceRecord.objects.get()
    assert response["Location"] == reverse("registry:house", args=[record.house_id])
    assert record.person.name == "李四" and record.person.permit_status == "applied"
    assert record.registered_on == dt.date(2026, 3, 2) and record.house.use == "rented"
    assert str(record.house) == "德兴路20号B栋502" and ResidenceAction.objects.count() == 1
    assert record.house.building.community.code == SHIQIAO_COMMUNITY


def test_register_form_shows_errors_by_field_and_keeps_the_input(client: Any, clerk: Any) -> None:
    client.force_login(clerk)
    data = _register_post(road="", id_number="11010219910101007X", name="", lon="113.36", lat="", phone="12")
    response = client.post(reverse("registry:register"), data)
    html = _html(response)
    assert response.status_code == 400
    expected = ("部分字段填写有误", "路/街/巷不能为空", "校验", "姓名不能为空", "经度和纬度需同时填写", "格式不正确")
    for message in expected:
        assert message in html, message
    for kept in ('value="20号"', 'value="B栋"', 'value="11010219910101007X"', 'value="北京市西城区"', 'value="113.36"'):
        assert kept in html, kept
    assert '<option value="applied" selected>' in html
    assert not Building.objects.exists() and not House.objects.exists() and not Person.objects.exists()
    swapped = client.post(reverse("registry:register"), _register_post(lon="22.94", lat="113.36"))
    assert swapped.status_code == 400 and "经度、纬度是否填反" in _html(swapped)
    future = client.post(reverse("registry:register"), _register_post(on="2999-01-01"))
    assert future.status_code == 400 and "日期不能晚于今天" in _html(future)
    assert not Building.objects.exists()


def test_register_form_for_a_town_offers_its_communities_only(client: Any, make_user: Any) -> None:
    admin = make_user(Role.TOWN_ADMIN, SHIQIAO)
    client.force_login(admin)
    html = _html(client.get(reverse("registry:register")))
    codes = set(re.findall(r'<option value="(\d{12})"', html))
    assert SHIQIAO_COMMUNITY in codes and all(code.startswith(SHIQIAO[:9]) for code in codes)
    response = client.post(reverse("registry:register"), _register_post(community=SHATOU_COMMUNITY))
    assert response.status_code == 400 and "请选择社区/村" in _html(response)
    assert client.post(reverse("registry:register"), _register_post()).status_code == 302


def test_register_form_permission_matrix(client: Any, make_user: Any) -> None:
    for role, unit in ((Role.SUPERVISOR, SHIQIAO), (Role.DISTRICT_ADMIN, "440113000000"), (Role.AUDITOR, SHIQIAO)):
        client.force_login(make_user(role, unit))
        assert client.get(reverse("registry:register")).status_code == 403, role
        assert client.post(reverse("registry:register"), _register_post()).status_code == 403, role
        assert client.get(reverse("registry:house-new")).status_code == 403, role
    assert not Building.objects.exists() and not Person.objects.exists()
    assert AuditEntry.objects.filter(action="residence.register", result="denied").count() == 3
    # A clerk of another community cannot pick this one: the form offers only the own community.
    client.force_login(make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY))
    assert client.post(reverse("registry:register"), _register_post()).status_code == 302
    assert Building.objects.get().community.code == SHATOU_COMMUNITY


def test_house_form_registers_a_house_without_residents(client: Any, clerk: Any, house: House) -> None:
    client.force_login(clerk)
    data = {
        "road": "德兴路",
        "door_number": "30号",
        "building": "",
        "room": "",
        "use": "vacant",
        "rooms": "3",
        "floor_area": "88.5",
        "lon": "",
        "lat": "",
        "crs": "wgs84",
    }
    response = client.post(reverse("registry:house-new"), data)
    assert response.status_code == 302
    created = House.objects.get(building__door_number="30号")
    assert created.use == "vacant" and created.rooms == 3 and str(created.floor_area) == "88.50"
    bad = client.post(reverse("registry:house-new"), {**data, "rooms": "three", "floor_area": "-1"})
    assert bad.status_code == 400 and "整数" in _html(bad) and "面积" in _html(bad)
    # The same address with other particulars: nothing is overwritten, and the clerk is told.
    again = client.post(reverse("registry:house-new"), {**data, "use": "commercial"}, follow=True)
    assert "此前已登记" in _html(again)
    assert House.objects.get(pk=created.pk).use == "vacant"


# --- person page and reveal ----------------------------------------------------------------------------


def test_person_page_shows_masked_details_and_history(client: Any, clerk: Any, record: ResidenceRecord) -> None:
    client.force_login(clerk)
    html = _html(client.get(reverse("registry:person", args=[record.person_id])))
    assert "张三" in html and MASKED_ID in html and MASKED_PHONE in html and "1991" in html
    assert FULL_ID not in html and PHONE not in html and "1991-01-01" not in html
    assert reverse("registry:house", args=[record.house_id]) in html and "在住" in html
    assert 'data-testid="reveal-form"' in html


def test_reveal_shows_the_value_once_and_audits_it(client: Any, clerk: Any, record: ResidenceRecord) -> None:
    client.force_login(clerk)
    url = reverse("registry:person-reveal", args=[record.person_id])
    missing = client.post(url, {"field": "id_number", "reason": ""})
    assert missing.status_code == 400 and "请填写查看完整信息的事由" in _html(missing)
    assert FULL_ID not in _html(missing)

    response = client.post(url, {"field": "id_number", "reason": "核实身份"})
    html = _html(response)
    assert response.status_code == 200 and FULL_ID in html and "已记入审计日志" in html
    assert "no-store" in response["Cache-Control"]
    assert all(FULL_ID not in str(value) for value in client.session.values())
    assert FULL_ID not in _html(client.get(reverse("registry:person", args=[record.person_id])))  # shown once
    phone = client.post(url, {"field": "phone", "reason": "联系本人"})
    assert PHONE in _html(phone)
    entries = AuditEntry.objects.filter(action__startswith="pii.reveal.", result="ok").order_by("seq")
    assert [(e.action, e.detail["reason"]) for e in entries] == [
        ("pii.reveal.id_number", "核实身份"),
        ("pii.reveal.phone", "联系本人"),
    ]


def test_reveal_permission_matrix(client: Any, make_user: Any, record: ResidenceRecord) -> None:
    url = reverse("registry:person-reveal", args=[record.person_id])
    data = {"field": "id_number", "reason": "想看看"}
    grid_worker = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    client.force_login(grid_worker)
    page = _html(client.get(reverse("registry:person", args=[record.person_id])))
    assert "张三" in page and "reveal-form" not in page  # no form without the permission
    response = client.post(url, data)
    assert response.status_code == 403 and FULL_ID not in _html(response)
    denied = AuditEntry.objects.get(action="pii.reveal.id_number", result="denied")
    assert denied.actor_username == grid_worker.username
    client.force_login(make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY))
    response = client.post(url, data)
    assert response.status_code == 404 and FULL_ID not in _html(response)
    assert not AuditEntry.objects.filter(action__startswith="pii.reveal.", result="ok").exists()
    client.force_login(make_user(Role.TOWN_ADMIN, SHIQIAO))
    assert FULL_ID in _html(client.post(url, data))
