"""The register's screens in Chromium, as the demo community clerk, on a desktop and on a phone: register a
person through the form, find them by masked ID in the live search, open the house page, update then cancel
the residence, and reveal the full ID with a reason. Every page is checked for horizontal overflow and
photographed."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import DESKTOP, PHONE

FULL_ID = "360426199101010071"
MASKED_ID = "360426********0071"


def _no_horizontal_overflow(page: Any, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url}: page is {scroll_width}px wide in a {width}px viewport"


def _submit(page: Any, form: Any, button: str) -> None:
    with page.expect_navigation():
        form.get_by_role("button", name=button, exact=True).click()


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_clerk_registers_finds_updates_cancels_and_reveals(
    name: str, viewport: dict[str, int], demo: dict[str, Any], new_page: Any, login: Any, screenshot: Any
) -> None:
    from civicgrid.registry.models import Person, ResidenceAction, ResidenceRecord

    width = viewport["width"]
    page = new_page(viewport)
    login(page, "shiqiao_clerk")

    # The registration form: the clerk's own community is fixed; a first try with mistakes keeps the input.
    page.goto("/register/new/")
    form = page.locator("[data-testid=register-form]")
    assert form.locator("[data-testid=fixed-community]").input_value() == "德兴社区居民委员会"
    form.locator("input[name=road]").fill("德兴路")
    form.locator("input[name=door_number]").fill("12号")
    form.locator("input[name=building]").fill("A栋")
    form.locator("input[name=room]").fill("301")
    form.locator("select[name=use]").select_option("rented")
    form.locator("input[name=id_number]").fill("360426199101010072")  # wrong check digit
    form.locator("input[name=name]").fill("张三")
    form.locator("input[name=phone]").fill("13800138000")
    form.locator("input[name=hukou_place]").fill("江西省赣州市")
    form.locator("input[name=employer]").fill("番禺某电子厂")
    form.locator("select[name=permit_status]").select_option("applied")
    _submit(page, page.locator("[data-testid=register-form]"), "登记")
    form = page.locator("[data-testid=register-form]")
    assert "校验" in form.locator("input[name=id_number] ~ .error").first.inner_text()
    assert form.locator("input[name=road]").input_value() == "德兴路"  # nothing typed is lost
    assert form.locator("input[name=employer]").input_value() == "番禺某电子厂"
    assert not Person.objects.exists()
    _no_horizontal_overflow(page, width)
    screenshot(page, f"register_{name}_errors")

    form.locator("input[name=id_number]").fill(FULL_ID)
    _submit(page, form, "登记")
    assert "/register/houses/" in page.url
    assert f"已登记 张三（{MASKED_ID}）在此居住" in page.locator(".messages").inner_text()
    house_url = page.url
    record = ResidenceRecord.objects.get()
    assert record.person.name == "张三" and record.state == "active"

    # Live search by masked ID: results replace in place, the masked ID may go into the address bar.
    page.goto("/register/")
    page.evaluate("window.__sameDocument = true")
    with page.expect_response(lambda r: r.url.endswith("/register/") and r.request.method == "POST") as info:
        page.locator("input[name=q]").fill(MASKED_ID)
    assert info.value.request.headers.get("hx-request") == "true"
    persons = page.locator("[data-testid=person-results]")
    persons.get_by_role("link", name="张三").wait_for()
    assert page.evaluate("window.__sameDocument === true"), "the search reloaded the whole page"
    assert MASKED_ID in persons.inner_text()
    assert "q=" in page.url and FULL_ID not in page.url
    _no_horizontal_overflow(page, width)
    screenshot(page, f"register_search_{name}")

    # The full number finds the person too, but never reaches the address bar.
    with page.expect_response(lambda r: r.url.endswith("/register/") and r.request.method == "POST"):
        page.locator("input[name=q]").fill(FULL_ID)
    page.wait_for_function("() => !location.search.includes('q=')")
    assert persons.get_by_role("link", name="张三").is_visible()
    assert FULL_ID not in page.url

    # From the person to the house page.
    with page.expect_navigation():
        persons.get_by_role("link", name="张三").click()
    assert page.locator("[data-testid=person-title]").inner_text().startswith("张三")
    with page.expect_navigation():
        page.locator("[data-testid=residence-history] a.resident-name").first.click()
    assert page.url == house_url
    assert "德兴路12号A栋301" in page.locator("[data-testid=house-title]").inner_text()
    resident = page.locator("[data-testid=resident]")
    assert MASKED_ID in resident.inner_text() and "138****8000" in resident.inner_text()
    _no_horizontal_overflow(page, width)
    screenshot(page, f"register_house_{name}")

    # 人在更新: open the resident's forms, change the employer and the phone.
    resident.locator("summary").click()
    update = resident.locator("[data-testid=update-form]")
    assert update.locator("input[name=employer]").input_value() == "番禺某电子厂"
    update.locator("input[name=employer]").fill("番禺某物流公司")
    update.locator("input[name=phone]").fill("13700137000")
    update.locator("select[name=permit_status]").select_option("valid")
    _no_horizontal_overflow(page, width)
    screenshot(page, f"register_house_{name}_update_form")
    _submit(page, update, "保存更新")
    assert "已更新 张三 的居住登记" in page.locator(".messages").inner_text()
    resident = page.locator("[data-testid=resident]")
    assert resident.locator("[data-testid=resident-employer]").inner_text() == "番禺某物流公司"
    assert resident.locator("[data-testid=resident-phone]").inner_text() == "137****7000"

    # 人走注销: the reason is required; then the person moves to the former residents.
    resident.locator("summary").click()
    cancel = resident.locator("[data-testid=cancel-form]")
    cancel.locator("input[name=reason]").fill("已搬离，回老家")
    _submit(page, cancel, "注销登记")
    assert "已注销 张三 的居住登记" in page.locator(".messages").inner_text()
    assert page.locator("[data-testid=resident]").count() == 0
    assert "已搬离，回老家" in page.locator("[data-testid=former]").inner_text()
    history = page.locator("[data-testid=history] tbody tr")
    assert history.count() == 3
    assert "黄丽" in page.locator("[data-testid=history]").inner_text()  # who did it
    assert list(ResidenceAction.objects.order_by("pk").values_list("kind", flat=True)) == [
        "register",
        "update",
        "cancel",
    ]
    _no_horizontal_overflow(page, width)
    screenshot(page, f"register_house_{name}_history")

    # 查看完整信息 with a reason: shown once on the response, not in the URL, and audited.
    with page.expect_navigation():
        page.locator("[data-testid=former] a").first.click()
    reveal = page.locator("[data-testid=reveal-form]")
    reveal.locator("select[name=field]").select_option("id_number")
    reveal.locator("input[name=reason]").fill("核实身份，办理居住证")
    _submit(page, reveal, "查看完整信息")
    assert page.locator("[data-testid=revealed-value]").inner_text().strip() == FULL_ID
    assert "已记入审计日志" in page.locator("[data-testid=revealed]").inner_text()
    assert FULL_ID not in page.url and "reveal" in page.url
    _no_horizontal_overflow(page, width)
    screenshot(page, f"register_person_{name}_revealed")
    page.goto(page.url.replace("reveal/", ""))
    assert FULL_ID not in page.locator("main").inner_text()  # gone once the page is left

    from civicgrid.audit.models import AuditEntry

    entry = AuditEntry.objects.get(action="pii.reveal.id_number", result="ok")
    assert entry.detail["reason"] == "核实身份，办理居住证" and entry.actor_username == "shiqiao_clerk"


def test_phone_search_and_empty_pages_fit(demo: dict[str, Any], new_page: Any, login: Any, screenshot: Any) -> None:
    """The search page before any search, and the house form, on a phone; an expired session."""
    page = new_page(PHONE)
    login(page, "shiqiao_clerk")
    page.goto("/register/")
    assert page.locator("[data-testid=search-empty]").is_visible()
    _no_horizontal_overflow(page, PHONE["width"])
    screenshot(page, "register_search_phone_empty")
    page.goto("/register/houses/new/")
    _no_horizontal_overflow(page, PHONE["width"])
    screenshot(page, "register_house_new_phone")

    # A session that expired while the page was open: the live search goes to the login page as a whole
    # page, rather than showing the login form inside the results.
    page.goto("/register/")
    kept = [c for c in page.context.cookies() if c["name"] != "sessionid"]  # the CSRF cookie outlives a session
    page.context.clear_cookies()
    page.context.add_cookies(kept)
    page.locator("input[name=q]").fill("张")
    page.wait_for_url("**/login/?next=/register/")
    assert page.locator("header.topbar").count() == 1 and page.locator("input[name=password]").is_visible()


def test_a_located_house_is_stamped_with_its_grid(
    demo_with_grids: dict[str, Any], new_page: Any, login: Any, screenshot: Any
) -> None:
    """With the (synthetic) grid layer published, a registration with a point shows the grid it falls in,
    and a letting shows its landlord masked."""
    import datetime as dt

    from shapely import wkb

    from civicgrid.geo.models import GridFeature
    from civicgrid.registry import services
    from civicgrid.registry.models import House

    feature = GridFeature.objects.filter(community__code="440113007003", layer__status="published").first()
    assert feature is not None
    point = wkb.loads(bytes(feature.geometry)).representative_point()

    page = new_page(DESKTOP)
    login(page, "shiqiao_clerk")
    page.goto("/register/new/")
    form = page.locator("[data-testid=register-form]")
    form.locator("input[name=road]").fill("富华西路")
    form.locator("input[name=door_number]").fill("8号")
    form.locator("input[name=room]").fill("1201")
    form.locator("input[name=lon]").fill(f"{point.x:.6f}")
    form.locator("input[name=lat]").fill(f"{point.y:.6f}")
    form.locator("input[name=id_number]").fill("44011320141005001X")
    form.locator("input[name=name]").fill("陈小明")
    _submit(page, form, "登记")
    assert "已登记 陈小明" in page.locator(".messages").inner_text()
    grid = page.locator("[data-testid=house-grid]")
    assert feature.name in grid.inner_text() and feature.code in grid.inner_text()
    assert f"layer={feature.layer_id}" in grid.get_by_role("link").get_attribute("href")

    house = House.objects.get(room="1201")
    clerk = demo_with_grids["shiqiao_clerk"]
    from civicgrid.accounts.models import User

    services.rental_register(
        actor=User.objects.get(username=clerk.username),
        house=house,
        start=dt.date(2026, 1, 1),
        landlord_person=services.PersonInput(id_type="resident_id", id_number="110102199101010078", name="王五"),
    )
    page.reload()
    rental = page.locator("[data-testid=rental]").inner_text()
    assert "王*" in rental and "110102********0078" in rental and "王五" not in rental
    _no_horizontal_overflow(page, DESKTOP["width"])
    screenshot(page, "register_house_desktop_grid_rental")
    phone = new_page(PHONE)
    login(phone, "shiqiao_clerk")
    phone.goto(page.url)
    _no_horizontal_overflow(phone, PHONE["width"])
    screenshot(phone, "register_house_phone_grid_rental")
