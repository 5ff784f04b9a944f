"""The grid map in Chromium: the synthetic Panyu layer drawn with Leaflet, no internet, click for details;
and a draft's topology problems on the map."""

from __future__ import annotations

from typing import Any

import shapely

from tests.browser.conftest import PHONE


def test_map_shows_the_synthetic_panyu_grids(
    demo_with_grids: dict[str, Any], page: Any, login: Any, screenshot: Any
) -> None:
    external: list[str] = []
    page.on(
        "request",
        lambda r: (
            external.append(r.url) if not r.url.startswith(("http://localhost", "http://127.0.0.1", "data:")) else None
        ),
    )
    login(page, "qu_admin")
    page.goto("/map/")
    page.locator("#map[data-loaded]").wait_for(state="attached", timeout=30_000)  # CSP: no eval
    assert page.locator("#map").get_attribute("data-loaded") == "3000"
    assert "合成边界" in page.locator("[data-testid=synthetic-notice]").inner_text()
    assert page.locator("#legend li").count() == 16
    assert page.locator(".leaflet-container").count() == 1
    # Click the middle of the map: some grid is selected and its details are shown.
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    info = page.locator("[data-testid=grid-info]")
    info.locator("dl").wait_for()
    text = info.inner_text()
    assert "网格编码" in text and "440113" in text
    screenshot(page, "map_district_admin")
    assert external == [], external  # everything is served locally


def test_grid_worker_map_is_their_community(
    demo_with_grids: dict[str, Any], new_page: Any, login: Any, screenshot: Any
) -> None:
    page = new_page(PHONE)
    login(page, "wgy_shiqiao")
    page.goto("/map/")
    page.locator("#map[data-loaded]").wait_for(state="attached", timeout=30_000)  # CSP: no eval
    count = int(page.locator("#map").get_attribute("data-loaded"))
    assert 3 <= count <= 20
    assert page.locator("#legend li").count() == 1
    screenshot(page, "map_grid_worker_phone")


def test_draft_problems_are_drawn(demo_with_grids: dict[str, Any], page: Any, login: Any, screenshot: Any) -> None:
    from civicgrid.accounts.models import User
    from civicgrid.geo import services
    from civicgrid.geo.models import LayerVersion

    admin = User.objects.get(username="qu_admin")
    draft = services.layer_draft_from(actor=admin, base=LayerVersion.objects.get(number=1), name="调整演练")
    feature = draft.features.order_by("proposed_code").first()
    grown = shapely.buffer(shapely.from_wkb(bytes(feature.geometry)), 0.003)
    services.feature_update(actor=admin, feature=feature, geometry=grown)
    login(page, "qu_admin")
    page.goto(f"/layers/{draft.pk}/")
    page.locator("[data-testid=check-button]").click()
    page.wait_for_load_state()
    assert "拓扑检查发现" in page.locator(".messages").inner_text()
    assert page.locator("[data-testid=problem-table] tbody tr").count() >= 2
    screenshot(page, "layer_draft_problems")
    page.goto(f"/map/?layer={draft.pk}")
    page.locator("#map[data-problems]").wait_for(state="attached", timeout=30_000)
    assert int(page.locator("#map").get_attribute("data-problems")) >= 2
    screenshot(page, "map_draft_problems")
