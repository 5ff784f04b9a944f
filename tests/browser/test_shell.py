"""The web shell in a real browser: login per demo account, navigation per role, area scoping,
lockout, language switch, phone layout, logout and the htmx search on the org page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from civicgrid.demo.services import DISTRICT_CODE, SHILOU_CODE, SHIQIAO_CODE

from .conftest import DESKTOP, PHONE

# The demo accounts (civicgrid.demo.services.demo_accounts) and their roles; the first test checks that
# this table still covers exactly the shipped list.
ACCOUNTS = {
    "qu_admin": "district_admin",
    "shiqiao_admin": "town_admin",
    "shilou_admin": "town_admin",
    "shiqiao_clerk": "community_clerk",
    "wgy_shiqiao": "grid_worker",
    "wgy_shilou": "grid_worker",
    "qu_dispatcher": "dispatcher",
    "shiqiao_dispatcher": "dispatcher",
    "cg_handler": "dept_handler",
    "sq_pcs_handler": "dept_handler",
    "qu_supervisor": "supervisor",
    "qu_auditor": "auditor",
}
EVERYONE_NAV = ["工作台", "组织架构", "职能部门"]
ACCOUNTS_NAV_ROLES = {"district_admin", "town_admin", "auditor"}  # see 账号管理
AUDIT_NAV_ROLES = {"district_admin", "auditor"}  # see 审计日志
OUT_OF_AREA = "不在您的辖区内"


def _bound_unit(username: str) -> Any:
    from civicgrid.accounts.models import User

    return User.objects.select_related("org_unit").get(username=username).org_unit


def _first_community(town_code: str) -> str:
    from civicgrid.orgunits.models import Level, OrgUnit

    return OrgUnit.objects.filter(parent__code=town_code, level=Level.COMMUNITY).order_by("code").first().code


def _foreign_codes(unit_code: str) -> list[str]:
    """Org unit codes the account bound to `unit_code` must not be able to open."""
    if unit_code == DISTRICT_CODE:
        return ["440106000000"]  # 天河区: outside Panyu, so outside every Panyu account's area
    town = unit_code[:9] + "000"
    other_town = SHILOU_CODE if town == SHIQIAO_CODE else SHIQIAO_CODE
    codes = [_first_community(other_town)]
    if unit_code != town:  # a community account may not open its own town either
        codes.append(town)
    return codes


def _nav(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("nav.mainnav a").all_inner_texts()]


def _no_horizontal_overflow(page: Any, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url}: page is {scroll_width}px wide in a {width}px viewport"


def test_demo_accounts_are_all_covered(db: Any) -> None:
    from civicgrid.demo.services import demo_accounts
    from tests.conftest import ensure_divisions

    ensure_divisions()  # an earlier transactional test may have flushed the database
    assert {a.username: str(a.role) for a in demo_accounts()} == ACCOUNTS


@pytest.mark.parametrize("username", list(ACCOUNTS))
def test_account_home_navigation_and_area(
    username: str, demo: dict[str, Any], page: Any, login: Any, screenshot: Any
) -> None:
    account = demo[username]
    role = ACCOUNTS[username]
    own_unit = _bound_unit(username)  # a grid worker's grid falls back to its community without the layer

    login(page, username)

    assert urlsplit(page.url).path == "/", page.url
    assert page.locator("[data-testid=scope-unit]").inner_text().strip() == own_unit.name
    assert account.full_name in page.locator("[data-testid=whoami]").inner_text()
    nav = _nav(page)
    for label in EVERYONE_NAV:
        assert label in nav, f"{username} ({role}) should see {label}: {nav}"
    assert ("账号管理" in nav) == (role in ACCOUNTS_NAV_ROLES), f"{username} ({role}): {nav}"
    assert ("审计日志" in nav) == (role in AUDIT_NAV_ROLES), f"{username} ({role}): {nav}"
    assert page.locator("nav.mainnav a.active").inner_text().strip() == "工作台"
    _no_horizontal_overflow(page, DESKTOP["width"])
    screenshot(page, f"home_desktop_{username}")

    # Units outside the account's area cannot be opened: an error, and the page stays on the own unit.
    for code in _foreign_codes(account.unit_code):
        page.goto(f"/org/?unit={code}")
        error = page.locator(".messages li.msg-error")
        assert OUT_OF_AREA in error.inner_text(), f"{username} opened {code}"
        assert page.locator("[data-testid=current-unit]").inner_text().strip() == own_unit.name
        assert code not in page.locator("[data-testid=orgunit-table]").inner_text()


def test_town_admin_sees_only_own_area(demo: dict[str, Any], page: Any, login: Any, screenshot: Any) -> None:
    login(page, "shiqiao_admin")
    shilou_community = _first_community(SHILOU_CODE)

    page.goto(f"/org/?unit={shilou_community}")
    assert OUT_OF_AREA in page.locator(".messages li.msg-error").inner_text()
    assert page.locator("[data-testid=current-unit]").inner_text().strip() == "市桥街道"
    table = page.locator("[data-testid=orgunit-table]").inner_text()
    assert _first_community(SHIQIAO_CODE) in table
    assert SHILOU_CODE[:9] not in table

    # Only the town's own units are offered on the home page.
    page.goto("/")
    chips = page.locator(".chips a").all_inner_texts()
    assert chips, "市桥街道 has communities"
    for href in page.locator(".chips a").evaluate_all("els => els.map(e => e.getAttribute('href'))"):
        assert f"unit={SHIQIAO_CODE[:9]}" in href

    # The account list holds only accounts of 市桥街道.
    page.goto("/accounts/")
    usernames = {u.strip() for u in page.locator("[data-testid=account-table] tbody td.mono").all_inner_texts()}
    expected = {name for name, acc in demo.items() if acc.unit_code.startswith(SHIQIAO_CODE[:9])}
    assert usernames == expected
    assert "shilou_admin" not in usernames and "qu_admin" not in usernames
    screenshot(page, "accounts_desktop_shiqiao_admin")


def test_district_admin_sees_all_accounts(demo: dict[str, Any], page: Any, login: Any, screenshot: Any) -> None:
    login(page, "qu_admin")
    page.goto("/accounts/")
    usernames = {u.strip() for u in page.locator("[data-testid=account-table] tbody td.mono").all_inner_texts()}
    assert usernames == set(ACCOUNTS)
    _no_horizontal_overflow(page, DESKTOP["width"])
    screenshot(page, "accounts_desktop_qu_admin")


def test_shilou_admin_account_list(demo: dict[str, Any], page: Any, login: Any) -> None:
    login(page, "shilou_admin")
    page.goto("/accounts/")
    usernames = {u.strip() for u in page.locator("[data-testid=account-table] tbody td.mono").all_inner_texts()}
    assert usernames == {"shilou_admin", "wgy_shilou"}


def test_pages_of_other_roles_are_refused(demo: dict[str, Any], page: Any, login: Any) -> None:
    login(page, "wgy_shiqiao")
    response = page.goto("/audit/")
    assert response.status == 403
    assert "权限" in page.locator("main").inner_text()  # a Chinese refusal, not a stack trace
    assert page.locator("table").count() == 0


def test_account_page_refused_without_capability(demo: dict[str, Any], page: Any, login: Any) -> None:
    login(page, "wgy_shiqiao")
    response = page.goto("/accounts/")
    assert response.status == 403
    assert "权限" in page.locator("main").inner_text()


def test_login_page(demo: dict[str, Any], new_page: Any, screenshot: Any) -> None:
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = new_page(viewport)
        page.goto("/")  # not signed in: sent to the login page
        assert "/login/" in page.url
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        assert page.locator("h1").inner_text().strip() == "登录"
        _no_horizontal_overflow(page, viewport["width"])
        screenshot(page, f"login_{name}")


def test_wrong_password(demo: dict[str, Any], page: Any, login: Any, screenshot: Any) -> None:
    login(page, "qu_admin", "Wrong#password1")
    assert "/login/" in page.url
    assert page.locator("[data-testid=login-error]").inner_text().strip() == "用户名或密码错误"
    assert page.locator("input[name=username]").input_value() == "qu_admin"
    assert page.locator("[data-testid=scope-unit]").count() == 0
    screenshot(page, "login_desktop_wrong_password")


def test_lockout_after_repeated_failures(
    demo: dict[str, Any], page: Any, new_page: Any, login: Any, screenshot: Any
) -> None:
    limit = settings.LOGIN_MAX_FAILURES
    for _attempt in range(limit):
        login(page, "wgy_shilou", "Wrong#password1")
        assert page.locator("[data-testid=login-error]").is_visible()

    login(page, "wgy_shilou")  # the right password
    assert "/login/" in page.url
    message = page.locator("[data-testid=login-error]").inner_text()
    assert "已被锁定" in message, message
    assert page.locator("[data-testid=scope-unit]").count() == 0
    screenshot(page, "login_desktop_locked")

    # The district admin sees the locked account on the home page.
    admin = new_page()
    login(admin, "qu_admin")
    assert "wgy_shilou" in admin.locator("main").inner_text()


def test_language_switch(demo: dict[str, Any], page: Any, login: Any, screenshot: Any) -> None:
    login(page, "qu_admin")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    with page.expect_navigation():
        page.locator(".langswitch button[value=en]").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("[data-testid=scope-unit]").inner_text().strip() == "番禺区"  # still home
    page.goto("/org/")
    assert page.locator("html").get_attribute("lang") == "en"  # the choice sticks
    screenshot(page, "org_desktop_qu_admin_en")
    with page.expect_navigation():
        page.locator(".langswitch button[value=zh-hans]").click()
    assert page.locator("html").get_attribute("lang") == "zh-hans"


@pytest.mark.parametrize("username", ["qu_admin", "wgy_shiqiao"])
def test_phone_home(username: str, demo: dict[str, Any], new_page: Any, login: Any, screenshot: Any) -> None:
    page = new_page(PHONE)
    login(page, username)
    assert page.locator("[data-testid=scope-unit]").is_visible()
    _no_horizontal_overflow(page, PHONE["width"])

    toggle = page.locator("label.nav-toggle-label")
    nav = page.locator("nav.mainnav")
    assert toggle.is_visible()
    assert nav.is_hidden()
    screenshot(page, f"home_phone_{username}")
    toggle.click()
    assert nav.is_visible()
    _no_horizontal_overflow(page, PHONE["width"])
    screenshot(page, f"home_phone_{username}_menu", full_page=False)
    with page.expect_navigation():
        nav.get_by_role("link", name="组织架构").click()
    assert "/org/" in page.url
    assert page.locator("nav.mainnav").is_hidden()  # closed again on the new page


def test_phone_pages(demo: dict[str, Any], new_page: Any, login: Any, screenshot: Any) -> None:
    page = new_page(PHONE)
    login(page, "qu_admin")
    for path, name in (("/accounts/", "accounts"), ("/org/", "org"), ("/departments/", "departments")):
        page.goto(path)
        _no_horizontal_overflow(page, PHONE["width"])
        screenshot(page, f"{name}_phone_qu_admin")


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_audit_page(
    name: str, viewport: dict[str, int], demo: dict[str, Any], new_page: Any, login: Any, screenshot: Any
) -> None:
    page = new_page(viewport)
    login(page, "qu_auditor")
    page.goto("/audit/")
    assert page.locator("h1").inner_text().strip() == "审计日志"
    assert page.locator("main table tbody tr").count() > 0
    with page.expect_navigation():
        page.get_by_role("button", name="校验哈希链").click()
    assert "哈希链完整" in page.locator("[data-testid=verify-result]").inner_text()
    _no_horizontal_overflow(page, viewport["width"])
    screenshot(page, f"audit_{name}_qu_auditor")


def test_logout(demo: dict[str, Any], page: Any, login: Any) -> None:
    login(page, "shiqiao_clerk")
    assert page.locator("[data-testid=scope-unit]").is_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="退出").click()
    assert page.url.endswith("/login/")
    assert page.locator("input[name=password]").is_visible()
    page.goto("/")
    assert "/login/" in page.url  # the session is gone


def test_org_search_with_htmx(demo: dict[str, Any], page: Any, login: Any, screenshot: Any) -> None:
    login(page, "qu_admin")
    page.goto("/org/")
    table = page.locator("[data-testid=orgunit-table]")
    assert "市桥街道" in table.inner_text()
    page.evaluate("window.__sameDocument = true")

    with page.expect_response(lambda r: "/org/" in r.url and "q=" in r.url) as info:
        page.locator("input[name=q]").fill("石楼")
    response = info.value
    assert response.request.headers.get("hx-request") == "true"
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=orgunit-table]').innerText.includes('市桥街道')"
    )
    assert page.evaluate("window.__sameDocument === true"), "the search reloaded the whole page"
    names = page.locator("[data-testid=orgunit-table] tbody tr td:nth-child(2)").all_inner_texts()
    assert "石楼镇" in names
    assert all("石楼" in n for n in names), names
    assert "q=" in page.url  # hx-push-url keeps the search in the address bar
    assert page.locator("header.topbar").count() == 1  # the fragment did not nest a second page
    screenshot(page, "org_desktop_qu_admin_search")

    page.locator("input[name=q]").fill("不存在的单元名")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=orgunit-table]').innerText.includes('没有匹配的单元')"
    )
    assert page.evaluate("window.__sameDocument === true")


def test_disabling_an_account_asks_first(demo: dict[str, Any], page: Any, login: Any, screenshot: Any) -> None:
    login(page, "qu_admin")
    page.goto("/accounts/")
    row = page.locator("[data-testid=account-table] tbody tr", has_text="wgy_shilou")
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("button", name="停用").click()
    page.wait_for_timeout(300)
    assert dialogs and "wgy_shilou" in dialogs[0]
    assert "正常" in row.inner_text()

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.get_by_role("button", name="停用").click()
    page.locator(".messages li", has_text="已停用 wgy_shilou").wait_for()
    assert len(dialogs) == 2
    assert "已停用" in page.locator("[data-testid=account-table] tbody tr", has_text="wgy_shilou").inner_text()
    assert page.locator("header.topbar").count() == 1
    assert urlsplit(page.url).path == "/accounts/"
    screenshot(page, "accounts_desktop_qu_admin_disabled")
