"""One grid event from report to closing through the web pages of four demo users, each in their own
browser context: the grid worker reports on a phone (category, location on the map and typed in GCJ-02),
the 市桥 event centre files and dispatches to 市桥派出所, its handler accepts and asks for more time, the
district supervisor approves the extension (and sees the case on the map), the handler gives feedback, and
the grid worker verifies and closes. The timeline shows every step with who did it. Every page is checked
for horizontal overflow and photographed (the grid worker's pages on a phone and on a desktop)."""

from __future__ import annotations

from typing import Any

from civicgrid.demo.services import SHIQIAO_CODE

from .conftest import DESKTOP, PHONE

TITLE = "德兴路口机动车乱停放堵塞通道"
STEPS = ["report", "file", "dispatch", "accept", "ext_request", "ext_approved", "handle", "verify"]


def _no_horizontal_overflow(page: Any, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url}: page is {scroll_width}px wide in a {width}px viewport"


def _worker_shots(page: Any, screenshot: Any, name: str) -> None:
    """The grid worker's page on the phone it is used on, and on a desktop."""
    _no_horizontal_overflow(page, PHONE["width"])
    screenshot(page, f"events_{name}_phone")
    page.set_viewport_size(DESKTOP)
    page.wait_for_timeout(300)  # let Leaflet redraw its canvas at the new size
    _no_horizontal_overflow(page, DESKTOP["width"])
    screenshot(page, f"events_{name}_desktop")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)


def _act(page: Any, action: str, reason: str = "") -> None:
    form = page.locator("[data-testid=action-form]")
    if reason:
        form.locator("textarea[name=reason]").fill(reason)
    with page.expect_navigation():
        form.locator(f"[data-testid=do-{action}]").click()


def _timeline(page: Any) -> list[str]:
    return page.locator("[data-testid=timeline-entry]").evaluate_all("els => els.map(e => e.dataset.action)")


def _open_from_workbench(page: Any, tab: str, number: str) -> None:
    page.goto(f"/events/?tab={tab}")
    row = page.locator(f"[data-testid=case-row][data-number='{number}']")
    with page.expect_navigation():
        row.get_by_role("link").first.click()
    assert page.locator("[data-testid=case-number]").inner_text() == number


def test_one_case_from_report_to_closing_by_four_users(
    demo_with_grids: dict[str, Any], new_page: Any, login: Any, screenshot: Any
) -> None:
    from shapely import wkb

    from civicgrid.core.workcalendar import calendar_seed_from_package
    from civicgrid.events.models import Case
    from civicgrid.events.services import catalogue_seed
    from civicgrid.geo.crs import transform_point
    from civicgrid.geo.models import GridFeature

    catalogue_seed()  # the live server's database is flushed between tests: seed what migrations seeded
    calendar_seed_from_package()
    worker_grid = GridFeature.objects.get(layer__status="published", code=f"{_first_community()}001")
    point = wkb.loads(bytes(worker_grid.geometry)).representative_point()
    gcj_lon, gcj_lat = transform_point(point.x, point.y, src="wgs84", dst="gcj02")

    # --- 1. The grid worker reports on a phone ---------------------------------------------------------
    worker = new_page(PHONE)
    login(worker, "wgy_shiqiao")
    worker.goto("/events/")
    assert worker.locator("[data-testid=tab-mine]").is_visible()
    assert worker.locator("[data-testid=empty]").is_visible(), worker.locator("#workbench-body").inner_html()
    _worker_shots(worker, screenshot, "01_worker_workbench_empty")
    with worker.expect_navigation():
        worker.get_by_role("link", name="上报事件").click()
    form = worker.locator("[data-testid=report-form]")
    worker.locator("#pick-map[data-loaded]").wait_for(state="attached", timeout=20_000)
    assert int(worker.locator("#pick-map").get_attribute("data-loaded")) >= 3  # the community's grids
    form.locator("#major").select_option("08")  # 道路交通: the minor list follows the major one
    assert form.locator("#category optgroup[data-major='01']").evaluate("g => g.hidden")
    form.locator("#category").select_option("0803")
    form.locator("input[name=title]").fill(TITLE)
    form.locator("textarea[name=description]").fill("德兴路 18 号门前两辆小车长期停放，堵塞消防通道，影响居民出行。")
    # A point picked on the map fills the coordinates (WGS-84)…
    worker.locator("#pick-map").click()
    assert form.locator("#lon").input_value() and form.locator("#crs").input_value() == "wgs84"
    # …and a point typed from a phone map app in GCJ-02 is looked up in the worker's own grid.
    form.locator("#crs").select_option("gcj02")
    form.locator("#lon").fill(f"{gcj_lon:.7f}")
    form.locator("#lat").fill(f"{gcj_lat:.7f}")
    form.locator("#lat").dispatch_event("change")
    status = worker.locator("[data-testid=pick-status]")
    worker.wait_for_function("() => document.getElementById('pick-map').dataset.grid", timeout=10_000)
    assert worker_grid.name in status.inner_text() and "所在网格" in status.inner_text()
    form.locator("input[name=address]").fill("德兴路 18 号")
    _worker_shots(worker, screenshot, "02_worker_report_form")
    with worker.expect_navigation():
        form.get_by_role("button", name="上报", exact=True).click()
    assert "已上报，事件编号" in worker.locator(".messages").inner_text()
    number = worker.locator("[data-testid=case-number]").inner_text()
    case = Case.objects.get(number=number)
    assert case.grid is not None and case.grid.code == worker_grid.code and case.channel == "grid_worker"
    assert abs(case.lon - point.x) < 1e-5 and abs(case.lat - point.y) < 1e-5  # stored in WGS-84
    assert worker.locator("[data-testid=case-state]").inner_text() == "已上报"
    assert worker.locator("[data-testid=case-actions]").count() == 0  # nothing for the collector to do now
    worker.locator("#case-map[data-loaded]").wait_for(state="attached", timeout=10_000)
    _worker_shots(worker, screenshot, "03_worker_case_reported")

    # --- 2. The 市桥 event centre files and dispatches -------------------------------------------------
    dispatcher = new_page(DESKTOP)
    login(dispatcher, "shiqiao_dispatcher")
    dispatcher.goto("/events/")
    assert dispatcher.locator("[data-testid=count-to_file]").inner_text() == "1"
    assert dispatcher.locator(f"[data-testid=case-row][data-number='{number}']").is_visible()
    _no_horizontal_overflow(dispatcher, DESKTOP["width"])
    screenshot(dispatcher, "events_04_dispatcher_workbench")
    # Tabs and filters swap the list in place (htmx), without reloading the page.
    dispatcher.evaluate("window.__sameDocument = true")
    dispatcher.locator("[data-testid=tab-all]").click()
    dispatcher.locator("#workbench-body[data-tab=all]").wait_for()
    dispatcher.locator("select[name=category]").select_option("06")  # 市容环境: not ours
    dispatcher.locator("[data-testid=empty]").wait_for()
    dispatcher.locator("select[name=category]").select_option("08")
    dispatcher.locator(f"[data-testid=case-row][data-number='{number}']").wait_for()
    assert dispatcher.evaluate("window.__sameDocument === true"), "the workbench reloaded the whole page"
    assert "tab=all" in dispatcher.url and "category=08" in dispatcher.url
    _open_from_workbench(dispatcher, "to_file", number)
    _act(dispatcher, "file", "情况属实，予以立案")
    assert dispatcher.locator("[data-testid=case-state]").inner_text() == "已立案"
    department = dispatcher.locator("[data-testid=department]")
    # No dispatch rule matches: the category's default kind of department nearest the case is proposed.
    proposed = department.locator("option:checked")
    assert proposed.inner_text() == "市桥派出所（类别默认）", proposed.inner_text()
    department.select_option(value=proposed.get_attribute("value"))
    _no_horizontal_overflow(dispatcher, DESKTOP["width"])
    screenshot(dispatcher, "events_05_dispatcher_dispatch_form")
    _act(dispatcher, "dispatch", "机动车乱停放，属派出所职责")
    assert "已派遣至 市桥派出所" in dispatcher.locator(".messages").inner_text()
    assert dispatcher.locator("[data-testid=case-department]").inner_text() == "市桥派出所"
    screenshot(dispatcher, "events_06_dispatcher_dispatched")

    # --- 3. 市桥派出所 accepts and asks for one more working day ------------------------------------------
    handler = new_page(DESKTOP)
    login(handler, "sq_pcs_handler")
    handler.goto("/events/")
    row = handler.locator(f"[data-testid=case-row][data-number='{number}']")
    assert "剩余" in row.inner_text()  # the inbox shows the deadline and the time left
    _no_horizontal_overflow(handler, DESKTOP["width"])
    screenshot(handler, "events_07_handler_inbox")
    _open_from_workbench(handler, "inbox", number)
    _act(handler, "accept")
    assert handler.locator("[data-testid=case-state]").inner_text() == "处置中"
    handler.locator("summary", has_text="申请延期").click()
    extension = handler.locator("[data-testid=extension-request-form]")
    extension.locator("input[name=amount]").fill("1")
    extension.locator("textarea[name=reason]").fill("车主联系不上，需协调交警拖移")
    with handler.expect_navigation():
        extension.locator("[data-testid=do-extension-request]").click()
    assert "已提交延期申请" in handler.locator(".messages").inner_text()
    screenshot(handler, "events_08_handler_extension_requested")

    # --- 4. The district supervisor approves the extension and sees the case on the map -----------------
    supervisor = new_page(DESKTOP)
    login(supervisor, "qu_supervisor")
    supervisor.goto("/events/?tab=extension")
    assert supervisor.locator("[data-testid=count-extension]").inner_text() == "1"
    _no_horizontal_overflow(supervisor, DESKTOP["width"])
    screenshot(supervisor, "events_09_supervisor_extensions")
    supervisor.goto("/events/map/?show=open")
    supervisor.locator("#events-map[data-loaded]").wait_for(state="attached", timeout=30_000)
    assert supervisor.locator("#events-map").get_attribute("data-loaded") == "1"
    supervisor.locator("#events-map[data-grids]").wait_for(state="attached", timeout=30_000)
    supervisor.wait_for_timeout(300)  # the view settles on the single case
    box = supervisor.locator("#events-map").bounding_box()
    supervisor.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the case, centred
    info = supervisor.locator("[data-testid=map-info]")
    info.locator("[data-testid=map-open-case]").wait_for()
    assert number in info.inner_text() and "处置中" in info.inner_text()
    _no_horizontal_overflow(supervisor, DESKTOP["width"])
    screenshot(supervisor, "events_10_supervisor_map")
    _open_from_workbench(supervisor, "extension", number)
    decide = supervisor.locator("[data-testid=extension-decide-form]")
    assert "车主联系不上" in decide.inner_text()
    assert "申请延期 1 个工作日" in decide.inner_text()
    decide.locator("textarea[name=note]").fill("同意延期一个工作日")
    screenshot(supervisor, "events_10b_supervisor_extension_form")
    with supervisor.expect_navigation():
        decide.locator("[data-testid=do-extension-approve]").click()
    assert "已批准延期" in supervisor.locator(".messages").inner_text()
    screenshot(supervisor, "events_11_supervisor_approved")

    # --- 5. The handler gives feedback ------------------------------------------------------------------
    handler.reload()
    _act(handler, "handle", "已联系车主将车辆移走，并在路口设置禁停提示，通道恢复畅通。")
    assert handler.locator("[data-testid=case-state]").inner_text() == "已处置待核查"
    screenshot(handler, "events_12_handler_feedback")

    # --- 6. The grid worker verifies on site and closes -----------------------------------------------------
    worker.goto("/events/")
    assert worker.locator("[data-testid=count-verify]").inner_text() == "1"
    worker.locator("[data-testid=tab-verify]").click()
    worker.locator("#workbench-body[data-tab=verify]").wait_for()
    assert worker.locator(f"[data-testid=case-row][data-number='{number}']").is_visible()
    _worker_shots(worker, screenshot, "13_worker_to_verify")
    _open_from_workbench(worker, "verify", number)
    assert worker.locator("[data-testid=do-rework]").is_visible()
    _act(worker, "verify", "现场核查：车辆已移走，通道畅通")
    assert worker.locator("[data-testid=case-state]").inner_text() == "已结案"

    # The whole timeline, with who did each step and its time against its limit.
    assert _timeline(worker) == STEPS
    timeline = worker.locator("[data-testid=timeline]").inner_text()
    for name in ("梁小红", "吴强", "罗军", "谢芳"):
        assert name in timeline, name
    assert "市桥派出所" in timeline and "时限 1 工作小时" in timeline
    assert worker.locator("[data-testid=step-time]").count() == 5
    assert worker.locator("[data-testid=timeline-current]").count() == 0
    _worker_shots(worker, screenshot, "14_worker_closed_timeline")

    closed = Case.objects.get(number=number)
    assert closed.state == "closed" and closed.department.code == "SQ-PCS" and closed.extension_hours == 7
    assert closed.town.code == SHIQIAO_CODE


def _first_community() -> str:
    from civicgrid.demo.services import _first_community as first

    return first(SHIQIAO_CODE)


def test_phone_intake_and_a_report_with_mistakes(
    demo_with_grids: dict[str, Any], new_page: Any, login: Any, screenshot: Any
) -> None:
    """The event centre records a phone call without a point (the community instead); a grid worker's
    report with mistakes keeps what was typed and says what is wrong, on a phone."""
    from civicgrid.events.models import Case
    from civicgrid.events.services import catalogue_seed

    catalogue_seed()
    dispatcher = new_page(DESKTOP)
    login(dispatcher, "shiqiao_dispatcher")
    dispatcher.goto("/events/")
    with dispatcher.expect_navigation():
        dispatcher.get_by_role("link", name="电话受理").click()
    form = dispatcher.locator("[data-testid=report-form]")
    form.locator("#category").select_option("0501")  # 邻里纠纷: the major list follows the minor one
    assert form.locator("#major").input_value() == "05"
    form.locator("input[name=title]").fill("楼上住户深夜噪音")
    form.locator("textarea[name=description]").fill("来电反映德兴社区某楼栋楼上住户连续多晚深夜噪音，影响休息。")
    form.locator("input[name=reporter_name]").fill("陈先生")
    form.locator("input[name=reporter_phone]").fill("13800138000")
    form.locator("select[name=community]").select_option(_first_community())
    _no_horizontal_overflow(dispatcher, DESKTOP["width"])
    screenshot(dispatcher, "events_phone_intake_form")
    with dispatcher.expect_navigation():
        form.get_by_role("button", name="受理", exact=True).click()
    assert "已受理，事件编号" in dispatcher.locator(".messages").inner_text()
    facts = dispatcher.locator("[data-testid=case-facts]").inner_text()
    assert "电话受理" in facts and "138****8000" in facts and "13800138000" not in facts
    assert dispatcher.locator("[data-testid=do-file]").is_visible()  # the centre files it next
    screenshot(dispatcher, "events_phone_intake_case")
    case = Case.objects.get()
    assert case.channel == "phone" and case.grid is None and case.community.code == _first_community()

    worker = new_page(PHONE)
    login(worker, "wgy_shiqiao")
    worker.goto("/events/new/")
    form = worker.locator("[data-testid=report-form]")
    form.locator("input[name=title]").fill("井盖破损")
    with worker.expect_navigation():
        form.get_by_role("button", name="上报", exact=True).click()
    form = worker.locator("[data-testid=report-form]")
    errors = form.inner_text()
    assert "请选择事件小类" in errors and "请在地图上点选位置" in errors and "请描述事件情况" in errors
    assert form.locator("input[name=title]").input_value() == "井盖破损"
    _no_horizontal_overflow(worker, PHONE["width"])
    screenshot(worker, "events_report_errors_phone")
    assert Case.objects.count() == 1
