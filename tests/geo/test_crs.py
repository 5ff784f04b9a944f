"""Coordinate systems: DOMAIN §2 vectors, round trips, the outside-China rule, EPSG:4547, areas, parsing."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.geo import crs
from civicgrid.geo.crs import (
    area_m2,
    crs_label,
    crs_wkt,
    from_projected,
    in_china,
    parse_crs,
    to_projected,
    transform,
    transform_point,
)

# DOMAIN §2 (lat, lng) → (lat, lng). DOMAIN asks for 1e-6°; the formulas reproduce the published digits.
WGS_TO_GCJ = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
]
GCJ_TO_BD = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))  # (lng, lat) → (lng, lat)
VECTOR_TOL = 1e-9
ROUND_TRIP_TOL = 1e-8  # DOMAIN: 1e-6°; the iteration stops at 1e-9°

GEOGRAPHIC = ["wgs84", "gcj02", "bd09"]
ALL = [*GEOGRAPHIC, "epsg4547"]

china_lon = st.floats(min_value=73.0, max_value=135.0)
china_lat = st.floats(min_value=1.0, max_value=55.0)


@pytest.mark.parametrize(("wgs", "gcj"), WGS_TO_GCJ)
def test_wgs_to_gcj_vectors(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    (lat, lng), (glat, glng) = wgs, gcj
    x, y = transform([lng], [lat], src="wgs84", dst="gcj02")
    assert x[0] == pytest.approx(glng, abs=VECTOR_TOL)
    assert y[0] == pytest.approx(glat, abs=VECTOR_TOL)
    assert transform_point(lng, lat, src="wgs84", dst="gcj02") == pytest.approx((glng, glat), abs=VECTOR_TOL)


def test_wgs_to_gcj_vectors_in_one_array() -> None:
    lats, lngs = np.array([w for w, _ in WGS_TO_GCJ]).T
    glats, glngs = np.array([g for _, g in WGS_TO_GCJ]).T
    x, y = transform(lngs, lats, src="wgs84", dst="gcj02")
    np.testing.assert_allclose(x, glngs, rtol=0, atol=VECTOR_TOL)
    np.testing.assert_allclose(y, glats, rtol=0, atol=VECTOR_TOL)
    # and back: the iterative inverse recovers the WGS-84 input
    wx, wy = transform(glngs, glats, src="gcj02", dst="wgs84")
    np.testing.assert_allclose(wx, lngs, rtol=0, atol=ROUND_TRIP_TOL)
    np.testing.assert_allclose(wy, lats, rtol=0, atol=ROUND_TRIP_TOL)


def test_gcj_to_bd_vector_and_back() -> None:
    (lng, lat), (blng, blat) = GCJ_TO_BD
    x, y = transform(lng, lat, src="gcj02", dst="bd09")
    assert (float(x), float(y)) == pytest.approx((blng, blat), abs=VECTOR_TOL)
    assert transform_point(lng, lat, src="gcj02", dst="bd09") == pytest.approx((blng, blat), abs=VECTOR_TOL)
    # Baidu's published inverse is off by ~1e-6°; ours is refined to an exact inverse.
    assert transform_point(blng, blat, src="bd09", dst="gcj02") == pytest.approx((lng, lat), abs=ROUND_TRIP_TOL)
    x, y = transform(blng, blat, src="bd09", dst="gcj02")
    assert (float(x), float(y)) == pytest.approx((lng, lat), abs=ROUND_TRIP_TOL)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(china_lon, china_lat), min_size=1, max_size=50), st.sampled_from(["gcj02", "bd09"]))
def test_round_trip_through_gcj_and_bd(points: list[tuple[float, float]], via: str) -> None:
    lon, lat = np.array(points).T
    x, y = transform(lon, lat, src="wgs84", dst=via)
    assert np.all(np.hypot(x - lon, y - lat) > 1e-4)  # it did move
    back_x, back_y = transform(x, y, src=via, dst="wgs84")
    assert np.max(np.abs(back_x - lon)) < ROUND_TRIP_TOL
    assert np.max(np.abs(back_y - lat)) < ROUND_TRIP_TOL


@settings(max_examples=50, deadline=None)
@given(china_lon, china_lat, st.sampled_from(ALL), st.sampled_from(ALL))
def test_vector_and_scalar_paths_agree(lon: float, lat: float, src: str, dst: str) -> None:
    if src == "epsg4547":  # start from a point of the same place in metres
        lon, lat = transform_point(lon, lat, src="wgs84", dst="epsg4547")
    x, y = transform([lon], [lat], src=src, dst=dst)
    sx, sy = transform_point(lon, lat, src=src, dst=dst)
    tol = 1e-4 if dst == "epsg4547" else 1e-9  # metres or degrees
    assert x[0] == pytest.approx(sx, abs=tol)
    assert y[0] == pytest.approx(sy, abs=tol)


OUTSIDE_CHINA = [
    (-0.1276, 51.5072),  # London
    (-74.006, 40.7128),  # New York
    (139.6917, 35.6895),  # Tokyo, east of 137.8347
    (151.2093, -33.8688),  # Sydney
    (100.0, 0.5),  # south of 0.8293
    (71.9, 39.0),  # west of 72.004
    (120.0, 56.0),  # north of 55.8271
]


@pytest.mark.parametrize("src", GEOGRAPHIC)
@pytest.mark.parametrize("dst", GEOGRAPHIC)
def test_outside_china_unchanged(src: str, dst: str) -> None:
    lon, lat = np.array(OUTSIDE_CHINA).T
    x, y = transform(lon, lat, src=src, dst=dst)
    np.testing.assert_array_equal(x, lon)
    np.testing.assert_array_equal(y, lat)
    for px, py in OUTSIDE_CHINA:
        assert transform_point(px, py, src=src, dst=dst) == (px, py)


def test_mixed_inside_and_outside() -> None:
    lon = np.array([113.4, -0.1276, 121.5, 139.69])
    lat = np.array([22.9, 51.5072, 31.2, 35.69])
    assert in_china(lon, lat).tolist() == [True, False, True, False]
    x, y = transform(lon, lat, src="wgs84", dst="bd09")
    assert x[1] == lon[1] and y[1] == lat[1] and x[3] == lon[3] and y[3] == lat[3]
    assert abs(x[0] - lon[0]) > 1e-3 and abs(x[2] - lon[2]) > 1e-3


def test_nan_and_shapes() -> None:
    lon = np.array([[113.4, np.nan], [121.5, 113.0]])
    lat = np.array([[22.9, 22.9], [np.nan, 23.0]])
    before = lon.copy()
    for dst in ALL:
        x, y = transform(lon, lat, src="wgs84", dst=dst)
        assert x.shape == y.shape == (2, 2)
        assert np.isnan(x[0, 1]) and np.isnan(y[1, 0])
        assert np.isfinite(x[1, 1]) and np.isfinite(y[1, 1])
    np.testing.assert_array_equal(lon, before)  # inputs untouched
    x, y = transform(113.4, 22.9, src="wgs84", dst="gcj02")
    assert x.shape == () and y.shape == ()
    x, y = transform([], [], src="gcj02", dst="wgs84")
    assert x.size == 0 and y.size == 0
    with pytest.raises(ValueError, match="形状不一致"):
        transform([1.0, 2.0], [1.0], src="wgs84", dst="gcj02")


def test_same_system_is_a_copy() -> None:
    lon = np.array([113.4])
    x, _ = transform(lon, [22.9], src="wgs84", dst="EPSG:4490")
    x[0] = 0.0
    assert lon[0] == 113.4


def test_epsg4547_axis_order_and_round_trip() -> None:
    # On the central meridian the easting is the false easting, and the equator is northing 0.
    assert transform_point(114.0, 0.0, src="wgs84", dst="epsg4547") == pytest.approx((500000.0, 0.0), abs=1e-6)
    e, n = transform_point(113.4, 22.9, src="cgcs2000", dst="EPSG:4547")
    assert 400000 < e < 500000 and 2_500_000 < n < 2_600_000  # x = easting, y = northing
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(113.2, 113.65, 1000), rng.uniform(22.75, 23.08, 1000)
    x, y = transform(lon, lat, src="wgs84", dst="epsg4547")
    back_x, back_y = transform(x, y, src="epsg4547", dst="wgs84")
    assert np.max(np.abs(back_x - lon)) < 1e-9 and np.max(np.abs(back_y - lat)) < 1e-9


def test_epsg4547_from_gcj_goes_through_wgs() -> None:
    lon, lat = np.array([113.4, 113.5]), np.array([22.9, 23.0])
    wx, wy = transform(lon, lat, src="gcj02", dst="wgs84")
    ex, ey = transform(wx, wy, src="wgs84", dst="epsg4547")
    x, y = transform(lon, lat, src="gcj02", dst="epsg4547")
    np.testing.assert_allclose(x, ex, rtol=0, atol=1e-6)
    np.testing.assert_allclose(y, ey, rtol=0, atol=1e-6)
    gx, gy = transform(x, y, src="epsg4547", dst="gcj02")
    np.testing.assert_allclose(gx, lon, rtol=0, atol=ROUND_TRIP_TOL)
    np.testing.assert_allclose(gy, lat, rtol=0, atol=ROUND_TRIP_TOL)


def geodesic_area(geom: shapely.Polygon) -> float:
    """On the ellipsoid, no projection. Geod wants holes wound against the shell."""
    area, _ = pyproj.Geod(ellps="GRS80").geometry_area_perimeter(shapely.orient_polygons(geom))
    return abs(area)


def test_area_of_a_square_near_panyu() -> None:
    square = shapely.box(113.35, 22.93, 113.36, 22.94)
    expected = geodesic_area(square)
    assert expected == pytest.approx(1.0e6 * 1.13, rel=0.05)  # ~1.03 km × 1.11 km
    (got,) = area_m2([square])
    assert got == pytest.approx(expected, rel=1e-3)


def test_area_of_several_geometries_with_a_hole() -> None:
    outer = shapely.Polygon(
        [(113.30, 22.90), (113.34, 22.90), (113.34, 22.94), (113.30, 22.94)],
        holes=[[(113.31, 22.91), (113.33, 22.91), (113.33, 22.93), (113.31, 22.93)]],
    )
    multi = shapely.MultiPolygon([shapely.box(113.5, 23.0, 113.51, 23.01), shapely.box(113.52, 23.0, 113.53, 23.01)])
    geoms = np.array([outer, multi], dtype=object)
    areas = area_m2(geoms)
    assert areas.shape == (2,)
    for geom, area in zip(geoms, areas, strict=True):
        assert area == pytest.approx(geodesic_area(geom), rel=1e-3)
    # GCJ-02 input is taken back to WGS-84 first (the offset is not rigid: it changes areas by ~0.3% here)
    as_wgs = shapely.transform(geoms, lambda c: np.column_stack(transform(c[:, 0], c[:, 1], src="gcj02", dst="wgs84")))
    assert area_m2(geoms, src="gcj02") == pytest.approx(area_m2(as_wgs), rel=1e-12)


def test_to_projected() -> None:
    projected = to_projected(np.array([shapely.box(113.35, 22.93, 113.36, 22.94)], dtype=object))
    xmin, ymin, xmax, ymax = shapely.bounds(projected[0])
    assert 400000 < xmin < xmax < 500000 and 2_500_000 < ymin < ymax < 2_600_000
    assert to_projected(projected, src="epsg4547")[0] is projected[0]
    back = from_projected(projected)
    assert shapely.bounds(back[0]) == pytest.approx((113.35, 22.93, 113.36, 22.94), abs=1e-9)
    in_gcj = from_projected(projected, dst="gcj02")
    assert shapely.bounds(in_gcj[0])[0] > 113.35 + 1e-3  # GCJ-02 is shifted east here
    assert from_projected(projected, dst="epsg4547")[0] is projected[0]


@pytest.mark.parametrize("name", ALL)
def test_labels_and_wkt_read_back(name: str) -> None:
    assert parse_crs(crs_label(name)) == name
    wkt = crs_wkt(name)
    if name in ("gcj02", "bd09"):
        assert wkt is None  # no WKT definition exists for the offset systems
    else:
        assert wkt is not None and wkt.startswith(("GEOGCS[", "PROJCS["))
        assert parse_crs(wkt) == name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("wgs84", "wgs84"),
        ("WGS-84", "wgs84"),
        ("CGCS2000", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("epsg:4490", "wgs84"),
        ("4490", "wgs84"),
        ("urn:ogc:def:crs:EPSG::4490", "wgs84"),
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("BD-09", "bd09"),
        ("bd09", "bd09"),
        ("epsg4547", "epsg4547"),
        ("EPSG:4547", "epsg4547"),
    ],
)
def test_parse_names(text: str, name: str) -> None:
    assert parse_crs(text) == name


def test_parse_codes_objects_and_wkt() -> None:
    assert parse_crs(4326) == "wgs84"
    assert parse_crs(4547) == "epsg4547"
    assert parse_crs(pyproj.CRS.from_epsg(4490)) == "wgs84"
    assert parse_crs(pyproj.CRS.from_epsg(4547).to_wkt()) == "epsg4547"
    assert parse_crs(pyproj.CRS.from_epsg(4547).to_wkt("WKT1_GDAL")) == "epsg4547"  # axis order differs
    assert parse_crs(pyproj.CRS.from_epsg(4490).to_wkt()) == "wgs84"


ESRI_PRJ_4547 = (
    'PROJCS["CGCS2000_3_Degree_GK_CM_114E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",'
    'DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],'
    'PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",114.0],PARAMETER["Scale_Factor",1.0],'
    'PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]'
)


def test_parse_esri_prj() -> None:
    assert parse_crs(ESRI_PRJ_4547) == "epsg4547"
    with pytest.raises(ValueError, match="不支持的坐标系：CGCS2000 / 3-degree Gauss-Kruger CM 117E（EPSG:4548）"):
        parse_crs(ESRI_PRJ_4547.replace("114", "117"))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("foo", "foo"),
        ("EPSG:3857", "EPSG:3857"),
        (3857, "EPSG:3857"),
        ("", "（空）"),
        ("EPSG:999999", "EPSG:999999"),
    ],
)
def test_parse_unknown(value: str | int, shown: str) -> None:
    with pytest.raises(ValueError, match="不支持的坐标系") as excinfo:
        parse_crs(value)
    assert shown in str(excinfo.value)


def test_parse_unknown_in_transform() -> None:
    with pytest.raises(ValueError, match="不支持的坐标系：mars"):
        transform([113.0], [23.0], src="mars", dst="wgs84")
    with pytest.raises(ValueError, match="不支持的坐标系"):
        parse_crs(True)


def test_registry() -> None:
    assert list(crs.SUPPORTED_CRS) == ["wgs84", "gcj02", "bd09", "epsg4547"]
    assert crs.SUPPORTED_CRS["epsg4547"].epsg == 4547
    assert not crs.SUPPORTED_CRS["epsg4547"].geographic
    assert math.isclose(crs.INVERSE_TOLERANCE_DEG, 1e-9)
