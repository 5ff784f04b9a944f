"""The grid API: versions, import with feature errors, publish, export, GeoJSON grids, lookup, stamping;
and the pages."""

from __future__ import annotations

import json

import pytest
import shapely
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from civicgrid.accounts.roles import Role
from civicgrid.geo import crs as crs_module
from civicgrid.geo.models import LayerVersion
from tests.conftest import DISTRICT, SHIQIAO
from tests.geo.conftest import COMMUNITIES

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(make_user):
    api = APIClient()
    api.force_authenticate(make_user(Role.DISTRICT_ADMIN, DISTRICT))
    return api


@pytest.fixture
def layer_id(admin_api, layer_bytes, boundary_bytes):
    response = admin_api.post(
        "/api/layers/", {"file": SimpleUploadedFile("g.geojson", layer_bytes), "name": "V1"}, format="multipart"
    )
    assert response.status_code == 201, response.content
    layer = response.json()
    assert layer["status"] == "draft" and layer["features"] == 30
    response = admin_api.post(
        f"/api/layers/{layer['id']}/boundaries/",
        {"file": SimpleUploadedFile("b.geojson", boundary_bytes)},
        format="multipart",
    )
    assert response.json() == {"imported": 3}
    checked = admin_api.post(f"/api/layers/{layer['id']}/check/").json()
    assert checked["check_summary"]["ok"] is True
    published = admin_api.post(f"/api/layers/{layer['id']}/publish/", {"effective_from": "2026-07-01"}, format="json")
    assert published.status_code == 200 and published.json()["number"] == 1
    return layer["id"]


def test_import_errors_come_back_per_feature(admin_api):
    bad = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"code": "x"},
                    "geometry": {"type": "Point", "coordinates": [113.3, 22.9]},
                },
            ],
        }
    ).encode()
    response = admin_api.post("/api/layers/", {"file": SimpleUploadedFile("bad.geojson", bad)}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "layer_file_rejected" and "未导入任何数据" in body["message"]
    assert body["errors"][0]["feature"] == 1 and "Polygon" in body["errors"][0]["problem"]
    assert not LayerVersion.objects.exists()


def test_grids_as_geojson_with_filters(admin_api, layer_id):
    body = admin_api.get("/api/grids/").json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 30
    assert body["layer"]["number"] == 1
    props = body["features"][0]["properties"]
    assert {"code", "name", "community_code", "community_name", "town_code", "town_name", "workers"} <= set(props)
    one = admin_api.get("/api/grids/", {"community": COMMUNITIES[0]}).json()
    assert 0 < len(one["features"]) < 30
    assert all(f["properties"]["community_code"] == COMMUNITIES[0] for f in one["features"])
    assert len(admin_api.get("/api/grids/", {"town": SHIQIAO}).json()["features"]) == 30
    assert len(admin_api.get("/api/grids/", {"bbox": "100,10,101,11"}).json()["features"]) == 0
    response = admin_api.get("/api/grids/", {"date": "2026-01-01"})
    assert response.status_code == 400 and "layer" in response.json()["fields"]
    response = admin_api.get("/api/grids/", {"bbox": "1,2,3"})
    assert response.status_code == 400 and "bbox" in response.json()["fields"]


def test_grids_in_another_system(admin_api, layer_id):
    wgs = admin_api.get("/api/grids/").json()["features"][0]["geometry"]["coordinates"][0][0]
    gcj = admin_api.get("/api/grids/", {"crs": "gcj02"}).json()["features"][0]["geometry"]["coordinates"][0][0]
    expected = crs_module.transform_point(wgs[0], wgs[1], src="wgs84", dst="gcj02")
    assert abs(gcj[0] - expected[0]) < 1e-9 and abs(gcj[1] - expected[1]) < 1e-9


def test_point_lookup(admin_api, layer_id, small_partition):
    code = sorted(small_partition.grids)[3]
    point = shapely.point_on_surface(small_partition.grids[code])
    body = admin_api.get("/api/grids/lookup/", {"lon": point.x, "lat": point.y}).json()
    assert body["grid"] == code and body["outside"] is False and body["town"] == SHIQIAO
    assert body["community_name"].endswith("委员会")
    gx, gy = crs_module.transform_point(point.x, point.y, src="wgs84", dst="bd09")
    assert admin_api.get("/api/grids/lookup/", {"lon": gx, "lat": gy, "crs": "bd09"}).json()["grid"] == code
    outside = admin_api.get("/api/grids/lookup/", {"lon": 113.0, "lat": 23.5}).json()
    assert outside["outside"] is True and outside["grid"] is None
    bad = admin_api.get("/api/grids/lookup/", {"lon": "east", "lat": 22.9})
    assert bad.status_code == 400 and "lon" in bad.json()["fields"]
    bad = admin_api.get("/api/grids/lookup/", {"lon": 113.3, "lat": 22.9, "crs": "EPSG:3857"})
    assert bad.status_code == 400 and "不支持的坐标系" in bad.json()["fields"]["crs"][0]


def test_bulk_stamp(admin_api, layer_id, small_partition):
    codes = sorted(small_partition.grids)
    points = [list(shapely.point_on_surface(small_partition.grids[c]).coords[0]) for c in codes] + [[0.0, 0.0]]
    body = admin_api.post("/api/grids/stamp/", {"points": points}, format="json").json()
    assert body["grids"] == [*codes, None]
    assert body["towns"][0] == SHIQIAO
    bad = admin_api.post("/api/grids/stamp/", {"points": [[1, 2, 3]]}, format="json")
    assert bad.status_code == 400 and "points" in bad.json()["fields"]


def test_export_download_and_lineage(admin_api, layer_id):
    response = admin_api.get(f"/api/layers/{layer_id}/export/", {"format": "shapefile", "crs": "epsg4547"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "grids_v1_epsg4547.zip" in response["Content-Disposition"]
    bad = admin_api.get(f"/api/layers/{layer_id}/export/", {"format": "kml"})
    assert bad.status_code == 400 and "format" in bad.json()["fields"]
    assert admin_api.get(f"/api/layers/{layer_id}/lineage/").json() == []


def test_publishing_twice_is_a_conflict(admin_api, layer_id):
    response = admin_api.post(f"/api/layers/{layer_id}/publish/")
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_grid_worker_sees_only_their_community(make_user, admin_api, layer_id, small_partition):
    code = sorted(small_partition.grids)[0]
    worker = make_user(Role.GRID_WORKER, code)  # bound to the grid unit created at publication
    api = APIClient()
    api.force_authenticate(worker)
    features = api.get("/api/grids/").json()["features"]
    community = small_partition.grid_community[code]
    assert features and all(f["properties"]["community_code"] == community for f in features)
    mine = next(f for f in features if f["properties"]["code"] == code)
    assert mine["properties"]["workers"] == [worker.full_name]
    assert api.post("/api/layers/", {}, format="multipart").status_code in (400, 403)
    response = api.post(f"/api/layers/{layer_id}/draft/")
    assert response.status_code == 403


def test_pages(client, make_user, layer_id):
    client.force_login(make_user(Role.DISTRICT_ADMIN, DISTRICT))
    html = client.get("/map/").content.decode()
    assert 'id="map"' in html and "leaflet.js" in html and "/static/vendor/leaflet/" in html
    layers = client.get("/layers/").content.decode()
    assert "V1" in layers and "导入图层文件" in layers
    detail = client.get(f"/layers/{layer_id}/").content.decode()
    assert "拓扑检查结果" in detail and "grids_" not in detail
    bad = client.post("/layers/", {"file": SimpleUploadedFile("bad.geojson", b"{}")})
    assert bad.status_code == 400 and "未导入任何数据" in bad.content.decode()
