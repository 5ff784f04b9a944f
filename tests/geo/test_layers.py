"""The layer cycle through the services: import a draft, check, publish with fixed codes, export, adjust
(split and merge) and publish again; bad files import nothing."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import shapefile
import shapely
from shapely.geometry import Polygon, box, shape

from civicgrid.accounts.roles import Role
from civicgrid.core.errors import OutOfScope, PermissionDenied, ValidationFailed
from civicgrid.geo import crs as crs_module
from civicgrid.geo import formats, selectors, services
from civicgrid.geo.exports import layer_export_bytes
from civicgrid.geo.models import GridCode, GridFeature, GridLineage, LayerVersion
from civicgrid.orgunits.models import OrgUnit
from tests.conftest import DISTRICT, SHIQIAO
from tests.geo.conftest import COMMUNITIES, feature_collection, grids_geojson

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    return make_user(Role.DISTRICT_ADMIN, DISTRICT)


@pytest.fixture
def published(admin, layer_bytes, boundary_bytes):
    draft = services.layer_import(actor=admin, data=layer_bytes, filename="grids.geojson", name="V1")
    services.boundaries_import(actor=admin, layer=draft, data=boundary_bytes, filename="communities.geojson")
    return services.layer_publish(actor=admin, layer=draft)


def geoms_by_code(layer):
    return {f.code: shapely.from_wkb(bytes(f.geometry)) for f in layer.features.all()}


def max_vertex_difference(a, b) -> float:
    """Same vertex count, and no vertex of one farther than this (degrees) from the other's outline."""
    assert shapely.get_num_coordinates(a) == shapely.get_num_coordinates(b)
    return float(shapely.hausdorff_distance(a, b))


def test_import_check_publish(admin, published, small_partition):
    layer = published
    assert layer.status == LayerVersion.Status.PUBLISHED and layer.number == 1
    assert layer.features.count() == len(small_partition.grids)
    assert set(geoms_by_code(layer)) == set(small_partition.grids)  # the file's codes are fixed
    assert GridCode.objects.count() == len(small_partition.grids)
    grid_units = OrgUnit.objects.filter(level="grid")
    assert grid_units.count() == len(small_partition.grids)
    unit = grid_units.first()
    assert unit.parent.code in COMMUNITIES and unit.path == f"{DISTRICT}/{SHIQIAO}/{unit.parent.code}/{unit.code}/"
    assert selectors.layer_current() == layer
    assert layer.check_summary["ok"] is True and layer.problems.filter(severity="error").count() == 0


@pytest.mark.parametrize("fmt", ["geojson", "shapefile", "csv"])
@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09", "epsg4547"])
def test_export_every_format_and_system(published, fmt, crs):
    content = layer_export_bytes(published, fmt, crs)
    assert content
    if fmt == "shapefile":
        archive = zipfile.ZipFile(io.BytesIO(content))
        names = set(archive.namelist())
        assert {"grids_v1.shp", "grids_v1.shx", "grids_v1.dbf", "grids_v1.cpg"} <= names
        assert ("grids_v1.prj" in names) == (crs in ("wgs84", "epsg4547"))


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09", "epsg4547"])
def test_round_trip_geojson_draft_publish_export_keeps_geometry_and_codes(admin, published, crs):
    """GeoJSON → draft → publish → export reproduces every geometry within 1e-7° and every code."""
    exported = layer_export_bytes(published, "geojson", crs)
    again = services.layer_import(actor=admin, data=exported, filename="export.geojson", name="again")
    assert again.source_crs == crs
    services.boundaries_import(
        actor=admin,
        layer=again,
        data=formats.write_geojson(
            [
                formats.ExportFeature(b.org_unit.code, "", "", "", None, shapely.from_wkb(bytes(b.geometry)))
                for b in published.boundaries.select_related("org_unit")
            ]
        ),
        filename="b.geojson",
    )
    republished = services.layer_publish(actor=admin, layer=again)
    before, after = geoms_by_code(published), geoms_by_code(republished)
    assert set(after) == set(before)
    worst = max(max_vertex_difference(before[c], after[c]) for c in before)
    assert worst < 1e-7, worst
    summary = republished.check_summary["publish"]
    assert summary["kept"] == len(before) and summary["issued"] == 0 and summary["retired"] == 0
    round_trip = json.loads(layer_export_bytes(republished, "geojson", "wgs84"))
    assert {f["properties"]["code"] for f in round_trip["features"]} == set(before)


def test_shapefile_round_trip(admin, published):
    exported = layer_export_bytes(published, "shapefile", "epsg4547")
    again = services.layer_import(actor=admin, data=exported, filename="grids.zip", name="shp")
    assert again.source_crs == "epsg4547"
    before = geoms_by_code(published)
    after = {f.proposed_code: shapely.from_wkb(bytes(f.geometry)) for f in again.features.all()}
    assert set(after) == set(before)
    assert max(max_vertex_difference(before[c], after[c]) for c in before) < 1e-7
    names = {f.proposed_code: f.name for f in again.features.all()}
    assert all(n.startswith("测试网格") for n in names.values())


def test_split_and_merge_keep_every_other_code_and_record_lineage(admin, published):
    base = geoms_by_code(published)
    codes = sorted(base)
    community = COMMUNITIES[0]
    in_community = [c for c in codes if c.startswith(community)]
    # Split the first grid in two along its centroid's meridian.
    split_code = in_community[0]
    polygon = base[split_code]
    cx = polygon.centroid.x
    min_x, min_y, max_x, max_y = polygon.bounds
    west = shapely.intersection(polygon, box(min_x - 1, min_y - 1, cx, max_y + 1))
    east = shapely.intersection(polygon, box(cx, min_y - 1, max_x + 1, max_y + 1))
    # Merge two neighbouring grids of the same community.
    a = in_community[1]
    b = next(c for c in in_community[2:] if shapely.intersection(base[a], base[c]).length > 0)
    merged = shapely.union(base[a], base[b])
    draft = services.layer_draft_from(actor=admin, base=published, name="adjustment")
    features = {f.proposed_code: f for f in draft.features.all()}
    services.feature_update(actor=admin, feature=features[split_code], geometry=west)
    services.feature_update(actor=admin, feature=features[a], geometry=merged)
    services.feature_delete(actor=admin, feature=features[b])
    source = features[split_code]
    GridFeature.objects.create(
        layer=draft,
        proposed_code="",
        name="新拆分网格",
        kind=source.kind,
        community=source.community,
        geometry=shapely.to_wkb(east),
        min_x=east.bounds[0],
        min_y=east.bounds[1],
        max_x=east.bounds[2],
        max_y=east.bounds[3],
        area_m2=1.0,
    )
    v2 = services.layer_publish(actor=admin, layer=draft)
    after = geoms_by_code(v2)
    untouched = set(codes) - {split_code, a, b}
    assert untouched <= set(after)  # every other code kept
    assert split_code not in after and a not in after and b not in after
    new_codes = set(after) - untouched
    assert len(new_codes) == 3  # two halves of the split + the merged grid
    top = max(int(c[-3:]) for c in in_community)
    assert all(int(c[-3:]) > top for c in new_codes)  # never reused, after the highest ever issued
    edges = {(e.from_code, e.to_code): e.kind for e in GridLineage.objects.filter(layer=v2)}
    merged_code = next(
        c for c in new_codes if after[c].equals_exact(merged, 1e-9) or abs(after[c].area - merged.area) < 1e-12
    )
    assert edges[(a, merged_code)] == "merged" and edges[(b, merged_code)] == "merged"
    split_children = {to for (frm, to), kind in edges.items() if frm == split_code}
    assert len(split_children) == 2 and all(edges[(split_code, c)] == "split" for c in split_children)
    assert set(GridCode.objects.filter(status="retired").values_list("code", flat=True)) == {split_code, a, b}
    assert not OrgUnit.objects.get(code=split_code).active
    published.refresh_from_db()
    assert published.status == LayerVersion.Status.SUPERSEDED and published.effective_until is not None
    # Earlier versions stay queryable.
    assert set(geoms_by_code(published)) == set(codes)


def test_publishing_refuses_topology_errors_and_changes_nothing(admin, layer_bytes, boundary_bytes):
    draft = services.layer_import(actor=admin, data=layer_bytes, filename="g.geojson", name="bad")
    services.boundaries_import(actor=admin, layer=draft, data=boundary_bytes, filename="b.geojson")
    first = draft.features.order_by("proposed_code").first()
    grown = shapely.buffer(shapely.from_wkb(bytes(first.geometry)), 0.002)  # overlaps neighbours, sticks out
    services.feature_update(actor=admin, feature=first, geometry=grown)
    with pytest.raises(ValidationFailed, match="拓扑检查未通过"):
        services.layer_publish(actor=admin, layer=draft)
    draft.refresh_from_db()
    assert draft.status == LayerVersion.Status.DRAFT and draft.number is None
    assert not GridCode.objects.exists() and not OrgUnit.objects.filter(level="grid").exists()
    report = services.layer_check(actor=admin, layer=draft)
    kinds = report.counts()
    assert kinds.get("overlap", 0) >= 1 and kinds.get("outside_parent", 0) >= 1
    problem = draft.problems.filter(kind="overlap").first()
    assert first.proposed_code in problem.codes and problem.lon is not None and problem.area_m2 > 1
    assert "重叠" in problem.message


def test_gaps_and_slivers_are_found(admin, layer_bytes, boundary_bytes):
    draft = services.layer_import(actor=admin, data=layer_bytes, filename="g.geojson", name="gap")
    services.boundaries_import(actor=admin, layer=draft, data=boundary_bytes, filename="b.geojson")
    victim = draft.features.order_by("proposed_code").first()
    services.feature_delete(actor=admin, feature=victim)
    report = services.layer_check(actor=admin, layer=draft)
    gaps = [p for p in report.problems if p.kind == "gap"]
    assert len(gaps) == 1 and abs(gaps[0].area_m2 - victim.area_m2) / victim.area_m2 < 0.01


def test_without_boundaries_the_check_says_so(admin, layer_bytes):
    draft = services.layer_import(actor=admin, data=layer_bytes, filename="g.geojson", name="nb")
    report = services.layer_check(actor=admin, layer=draft)
    assert report.ok
    assert {p.kind for p in report.problems} == {"no_boundary"}
    assert all(p.severity == "warning" for p in report.problems)


def test_gcj02_input_is_stored_as_wgs84(admin, small_partition):
    document = grids_geojson(small_partition)
    wgs = {f["properties"]["code"]: shape(f["geometry"]) for f in document["features"]}
    gcj = formats.transform_geometries(list(wgs.values()), src="wgs84", dst="gcj02")
    for feature, geom in zip(document["features"], gcj, strict=True):
        feature["geometry"] = shapely.geometry.mapping(geom)
    layer = services.layer_import(
        actor=admin, data=json.dumps(document).encode(), filename="gcj.geojson", name="gcj", crs="gcj02"
    )
    stored = {f.proposed_code: shapely.from_wkb(bytes(f.geometry)) for f in layer.features.all()}
    assert max(max_vertex_difference(wgs[c], stored[c]) for c in wgs) < 1e-7


SQUARE = box(113.36, 22.94, 113.361, 22.941)
C = COMMUNITIES[0]


@pytest.mark.parametrize(
    ("case", "features", "words"),
    [
        ("not a polygon", [({"code": C + "001", "parent_code": C}, shapely.Point(113.36, 22.94))], "应为 Polygon"),
        (
            "self-intersecting ring",
            [
                (
                    {"code": C + "001", "parent_code": C},
                    Polygon([(113.36, 22.94), (113.37, 22.95), (113.37, 22.94), (113.36, 22.95)]),
                )
            ],
            "自相交",
        ),
        ("missing code", [({"parent_code": C}, SQUARE)], "缺少网格编码"),
        ("missing parent", [({"code": C + "001"}, SQUARE)], "缺少所属社区编码"),
        ("unknown parent", [({"code": "440113999999001", "parent_code": "440113999999"}, SQUARE)], "不存在"),
        ("parent not a community", [({"code": SHIQIAO + "001", "parent_code": SHIQIAO}, SQUARE)], "不是社区"),
        (
            "duplicate code",
            [
                ({"code": C + "001", "parent_code": C}, SQUARE),
                ({"code": C + "001", "parent_code": C}, box(113.37, 22.94, 113.371, 22.941)),
            ],
            "重复",
        ),
        ("code of another community", [({"code": COMMUNITIES[1] + "001", "parent_code": C}, SQUARE)], "不符"),
        ("no geometry", [({"code": C + "001", "parent_code": C}, None)], "缺少几何"),
        ("bad households", [({"code": C + "001", "parent_code": C, "households": "很多"}, SQUARE)], "户数"),
        (
            "projected coordinates read as lon/lat",
            [({"code": C + "001", "parent_code": C}, box(443000, 2536000, 443500, 2536500))],
            "不在中国范围内",
        ),
    ],
)
def test_bad_features_are_named_and_nothing_is_imported(admin, case, features, words):
    good = ({"code": C + "009", "parent_code": C}, box(113.38, 22.94, 113.381, 22.941))
    with pytest.raises(services.LayerFileRejected) as exc:
        services.layer_import(
            actor=admin, data=feature_collection([good, *features]), filename="bad.geojson", name=case
        )
    texts = [str(e) for e in exc.value.errors]
    assert any(words in t for t in texts), texts
    assert all(t.startswith("第 ") for t in texts)
    assert exc.value.errors[0].index >= 2  # the good first feature is not blamed
    assert not LayerVersion.objects.exists() and not GridFeature.objects.exists()


@pytest.mark.parametrize(
    ("case", "data", "filename", "words"),
    [
        ("broken zip", b"PK\x03\x04 this is not really a zip", "grids.zip", "不是有效的 zip"),
        ("zip without shp", None, "grids.zip", "没有 .shp"),
        ("empty file", b"", "grids.geojson", "是空的"),
        ("not json", b"{not json", "grids.geojson", "不是有效的 GeoJSON"),
        (
            "unknown crs",
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                    "features": [],
                }
            ).encode(),
            "g.geojson",
            "不支持的坐标系",
        ),
        ("no features", json.dumps({"type": "FeatureCollection", "features": []}).encode(), "g.geojson", "没有要素"),
    ],
)
def test_bad_files_are_refused(admin, case, data, filename, words):
    if data is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("readme.txt", "no shapefile here")
        data = buffer.getvalue()
    with pytest.raises(services.LayerFileRejected) as exc:
        services.layer_import(actor=admin, data=data, filename=filename, name=case)
    assert any(words in str(e) for e in exc.value.errors), [str(e) for e in exc.value.errors]
    assert not LayerVersion.objects.exists()


def gbk_shapefile(properties: list[dict], geoms: list, *, cpg: bool) -> bytes:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    writer = shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON, encoding="gbk")
    writer.field("网格编码", "C", size=20)
    writer.field("网格名称", "C", size=60)
    writer.field("社区编码", "C", size=20)
    for props, geom in zip(properties, geoms, strict=True):
        writer.poly([list(shapely.orient_polygons(geom, exterior_cw=True).exterior.coords)])
        writer.record(props["code"], props["name"], props["parent"])
    writer.close()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("网格.shp", shp.getvalue())
        archive.writestr("网格.shx", shx.getvalue())
        archive.writestr("网格.dbf", dbf.getvalue())
        if cpg:
            archive.writestr("网格.cpg", "GBK")
    return buffer.getvalue()


@pytest.mark.parametrize("cpg", [False, True])
def test_gbk_shapefile_without_cpg_is_read(admin, cpg):
    data = gbk_shapefile(
        [
            {"code": C + "001", "name": "德兴第一网格", "parent": C},
            {"code": C + "002", "name": "德兴第二网格", "parent": C},
        ],
        [SQUARE, box(113.361, 22.94, 113.362, 22.941)],
        cpg=cpg,
    )
    layer = services.layer_import(actor=admin, data=data, filename="网格.zip", name="gbk")
    assert sorted(layer.features.values_list("name", flat=True)) == ["德兴第一网格", "德兴第二网格"]


def test_permissions_and_scope(make_user, layer_bytes, published):
    town_admin = make_user(Role.TOWN_ADMIN, SHIQIAO)
    with pytest.raises(PermissionDenied):
        services.layer_import(actor=town_admin, data=layer_bytes, filename="g.geojson", name="x")
    with pytest.raises(PermissionDenied):
        services.layer_draft_from(actor=town_admin, base=published, name="x")
    assert LayerVersion.objects.count() == 1
    # Drafts are not visible to those who cannot manage layers.
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    draft = services.layer_draft_from(actor=admin, base=published, name="adj")
    assert draft not in selectors.layer_list(actor=town_admin)
    worker = make_user(Role.GRID_WORKER, "440113008001")  # 沙头: outside the layer's communities
    assert selectors.grid_features(actor=worker, layer=published).count() == 0
    feature = draft.features.first()
    with pytest.raises(OutOfScope):
        services.feature_update(actor=make_user(Role.DISTRICT_ADMIN, "440113008001"), feature=feature, name="x")


def test_stamping_against_the_published_layer(published, small_partition):
    codes = sorted(small_partition.grids)
    points = np.array([shapely.point_on_surface(small_partition.grids[c]).coords[0] for c in codes])
    indices, entry = selectors.stamp_points(layer=published, xs=points[:, 0], ys=points[:, 1])
    assert [entry.codes[i] for i in indices] == codes
    outside = selectors.stamp_point(layer=published, x=100.0, y=30.0)
    assert outside.outside and outside.grid is None
    gx, gy = crs_module.transform(points[:1, 0], points[:1, 1], src="wgs84", dst="gcj02")
    stamp = selectors.stamp_point(layer=published, x=float(gx[0]), y=float(gy[0]), crs="gcj02")
    assert stamp.grid == codes[0] and stamp.community == small_partition.grid_community[codes[0]]
    assert stamp.town == SHIQIAO
