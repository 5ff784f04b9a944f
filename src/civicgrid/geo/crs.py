"""Coordinate systems (DOMAIN §2).

The platform stores one system, WGS-84 / CGCS2000 longitude-latitude (at this precision EPSG:4326 and
EPSG:4490 are the same), and converts at the edges:

- ``gcj02``: the GCJ-02 offset used by Amap, Tencent and most phone SDKs, with the published formulas
  (a = 6378245.0, ee = 0.00669342162296594323) and an iterative inverse;
- ``bd09``: Baidu's BD-09, a further offset of GCJ-02 (x_pi = π·3000/180), also with an iterative inverse;
- ``epsg4547``: CGCS2000 / 3-degree Gauss-Kruger CM 114E, in metres, for areas and distances (through pyproj,
  always in x = easting, y = northing order whatever the EPSG axis order says).

Points outside China (the customary rectangle lon 72.004–137.8347, lat 0.8293–55.8271) are returned
unchanged by every GCJ-02 and BD-09 conversion; the rectangle is judged on the input coordinates.

Everything works on numpy arrays in x/y = longitude/latitude (or easting/northing) order; ``transform_point``
is the scalar convenience. Inputs are never modified.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, cast

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from django.utils.translation import gettext_lazy
from pyproj.exceptions import CRSError

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
GeometryArray = npt.NDArray[np.object_]

CrsName = Literal["wgs84", "gcj02", "bd09", "epsg4547"]
WGS84: Final = "wgs84"
GCJ02: Final = "gcj02"
BD09: Final = "bd09"
EPSG4547: Final = "epsg4547"


@dataclass(frozen=True)
class CrsInfo:
    name: CrsName
    label: StrOrPromise  # for people, in the request's language
    epsg: int | None
    geographic: bool


SUPPORTED_CRS: Final[Mapping[CrsName, CrsInfo]] = MappingProxyType(
    {
        WGS84: CrsInfo(WGS84, gettext_lazy("WGS-84 / CGCS2000 经纬度"), 4326, geographic=True),
        GCJ02: CrsInfo(GCJ02, gettext_lazy("GCJ-02 国测局坐标（高德、腾讯）"), None, geographic=True),
        BD09: CrsInfo(BD09, gettext_lazy("BD-09 百度坐标"), None, geographic=True),
        EPSG4547: CrsInfo(
            EPSG4547, gettext_lazy("CGCS2000 3度带高斯-克吕格 中央经线114°E（EPSG:4547）"), 4547, geographic=False
        ),
    }
)

# Spellings accepted for each system, compared after lower-casing and dropping spaces, "-" and "_".
_ALIASES: Final[Mapping[str, CrsName]] = MappingProxyType(
    {
        "wgs84": WGS84,
        "wgs1984": WGS84,
        "cgcs2000": WGS84,
        "4326": WGS84,
        "epsg:4326": WGS84,
        "4490": WGS84,
        "epsg:4490": WGS84,
        "gcj02": GCJ02,
        "bd09": BD09,
        "bd09ll": BD09,
        "epsg4547": EPSG4547,
        "4547": EPSG4547,
        "epsg:4547": EPSG4547,
    }
)
_EPSG_NAMES: Final[Mapping[int, CrsName]] = MappingProxyType({4326: WGS84, 4490: WGS84, 4547: EPSG4547})
# The geographic system pyproj projects from: CGCS2000 itself, so the pipeline has no datum step at all.
_GEOGRAPHIC_EPSG: Final = 4490

# GCJ-02 constants (Krasovsky ellipsoid) and the BD-09 rotation constant.
_A: Final = 6378245.0
_EE: Final = 0.00669342162296594323
_X_PI: Final = math.pi * 3000.0 / 180.0
# The customary "outside China" rectangle.
CHINA_LON_MIN: Final = 72.004
CHINA_LON_MAX: Final = 137.8347
CHINA_LAT_MIN: Final = 0.8293
CHINA_LAT_MAX: Final = 55.8271
# Iterative inverses (GCJ-02 → WGS-84, BD-09 → GCJ-02): stop when the forward image of the estimate is within
# this many degrees (~0.1 mm) of the target. DOMAIN asks for 1e-6°; each round gains about three orders of
# magnitude, so the stricter bound costs at most one more round.
INVERSE_TOLERANCE_DEG: Final = 1e-9
INVERSE_MAX_ROUNDS: Final = 30
# Arrays are converted in slices of this many points, so the temporaries stay in the CPU cache.
_CHUNK: Final = 1 << 15


# ---------------------------------------------------------------------------------------------- parsing


def parse_crs(value: str | int | pyproj.CRS) -> CrsName:
    """One of the supported names for user input: a name or alias ("wgs84", "cgcs2000", "gcj02", "bd09",
    "epsg4547"), an EPSG code ("EPSG:4490", 4547), or anything pyproj reads (WKT from a .prj file, a URN).
    Raises ValueError with a Chinese message naming the system otherwise. The message is deliberately not
    translated here: `formats.crs_error_text` parses its fixed "不支持的坐标系：" prefix and translates it."""
    if isinstance(value, str):
        name = _ALIASES.get(value) or _ALIASES.get(re.sub(r"[\s_\-]", "", value).lower())
        if name is not None:
            return name
        return _parse_crs_text(value.strip())
    if isinstance(value, bool):
        raise ValueError(f"不支持的坐标系：{value!r}")
    if isinstance(value, int):
        if value in _EPSG_NAMES:
            return _EPSG_NAMES[value]
        raise ValueError(f"不支持的坐标系：EPSG:{value}")
    if isinstance(value, pyproj.CRS):
        return _crs_name(value)
    raise ValueError(f"不支持的坐标系：{value!r}")


@lru_cache(maxsize=64)
def _parse_crs_text(text: str) -> CrsName:
    if not text:
        raise ValueError("不支持的坐标系：（空）")
    try:
        crs = pyproj.CRS.from_user_input(text)
    except CRSError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ValueError(f"不支持的坐标系：{shown}") from None
    return _crs_name(crs)


def _crs_name(crs: pyproj.CRS) -> CrsName:
    epsg = crs.to_epsg()
    if epsg is not None and epsg in _EPSG_NAMES:
        return _EPSG_NAMES[epsg]
    if epsg is None:
        # GDAL-style WKT1 declares easting/northing while EPSG:4547 says northing/easting, which drops PROJ's
        # identification confidence to "similar name"; axis order does not matter here (x/y order always).
        for code, name in _EPSG_NAMES.items():
            if _same_ignoring_axis_order(crs, _epsg_crs(code)):
                return name
    suffix = f"（EPSG:{epsg}）" if epsg is not None else ""
    raise ValueError(f"不支持的坐标系：{crs.name}{suffix}")


def _same_ignoring_axis_order(crs: pyproj.CRS, ref: pyproj.CRS) -> bool:
    """Same datum, and for projected systems the same method and parameters in metres."""
    if crs.equals(ref, ignore_axis_order=True):
        return True
    if not (crs.is_projected and ref.is_projected):
        return False
    base, ref_base = crs.geodetic_crs, ref.geodetic_crs
    op, ref_op = crs.coordinate_operation, ref.coordinate_operation
    if base is None or ref_base is None or op is None or ref_op is None:
        return False
    if not base.equals(ref_base, ignore_axis_order=True) or op.method_code != ref_op.method_code:
        return False
    if any(axis.unit_name != "metre" for axis in crs.axis_info):
        return False
    params = {param.code: float(param.value) * param.unit_conversion_factor for param in op.params}
    ref_params = {param.code: float(param.value) * param.unit_conversion_factor for param in ref_op.params}
    return params.keys() == ref_params.keys() and all(
        math.isclose(params[code], value, rel_tol=1e-12, abs_tol=1e-9) for code, value in ref_params.items()
    )


@cache
def _epsg_crs(code: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(code)


def crs_label(value: str | int) -> str:
    """How a file names the system, for the "crs" member of a GeoJSON file: an OGC URN where one exists
    (CRS84 is WGS-84 in longitude/latitude order), else our name. `parse_crs` reads every label back."""
    name = parse_crs(value)
    if name == WGS84:
        return "urn:ogc:def:crs:OGC:1.3:CRS84"
    if name == EPSG4547:
        return "urn:ogc:def:crs:EPSG::4547"
    return name


def crs_wkt(value: str | int) -> str | None:
    """ESRI-style WKT for a Shapefile's .prj, or None for GCJ-02 and BD-09, which have no WKT definition."""
    epsg = SUPPORTED_CRS[parse_crs(value)].epsg
    if epsg is None:
        return None
    wkt = _epsg_crs(epsg).to_wkt("WKT1_ESRI")
    if wkt is None:  # pragma: no cover - PROJ writes ESRI WKT for both systems
        raise ValueError(f"无法生成坐标系描述：EPSG:{epsg}")
    return wkt


# ------------------------------------------------------------------------------------------- transform


def transform(xs: npt.ArrayLike, ys: npt.ArrayLike, *, src: str | int, dst: str | int) -> tuple[FloatArray, FloatArray]:
    """Convert coordinates from `src` to `dst` (anything `parse_crs` accepts). x/y are longitude/latitude for
    geographic systems and easting/northing in metres for EPSG:4547. Returns new float64 arrays of the input
    shape; NaN stays NaN."""
    source, target = parse_crs(src), parse_crs(dst)
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x 与 y 的形状不一致：{x.shape} 与 {y.shape}")
    shape = x.shape
    x, y = x.reshape(-1), y.reshape(-1)  # views where possible: every step below writes to new arrays
    if source == target:
        x, y = x.copy(), y.copy()
    else:
        if source == EPSG4547:
            x, y = _project(x, y, inverse=True)
            source = WGS84
        if source != target:
            geographic_target = WGS84 if target == EPSG4547 else target
            if source != geographic_target:
                x, y = _offset_in_china(x, y, _KERNEL_CHAINS[(source, geographic_target)])
            if target == EPSG4547:
                x, y = _project(x, y, inverse=False)
    return x.reshape(shape), y.reshape(shape)


def transform_point(x: float, y: float, *, src: str | int, dst: str | int) -> tuple[float, float]:
    """Scalar `transform`, written with `math` on plain floats (no numpy overhead for one point)."""
    source, target = parse_crs(src), parse_crs(dst)
    x, y = float(x), float(y)
    if source == target:
        return x, y
    if source == EPSG4547:
        x, y = _transformer(inverse=True).transform(x, y)
        source = WGS84
    geographic_target = WGS84 if target == EPSG4547 else target
    if source != geographic_target and in_china_point(x, y):
        for step in _SCALAR_CHAINS[(source, geographic_target)]:
            x, y = step(x, y)
    if target == EPSG4547:
        x, y = _transformer(inverse=False).transform(x, y)
    return float(x), float(y)


def in_china(xs: npt.ArrayLike, ys: npt.ArrayLike) -> BoolArray:
    """True where the point is inside the rectangle the GCJ-02 offset applies to (NaN → False)."""
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    return (x >= CHINA_LON_MIN) & (x <= CHINA_LON_MAX) & (y >= CHINA_LAT_MIN) & (y <= CHINA_LAT_MAX)


def in_china_point(x: float, y: float) -> bool:
    return CHINA_LON_MIN <= x <= CHINA_LON_MAX and CHINA_LAT_MIN <= y <= CHINA_LAT_MAX


# --------------------------------------------------------------------------------------------- geometry


def to_projected(geometries: npt.ArrayLike, *, src: str | int = WGS84) -> GeometryArray:
    """Shapely geometries (an array, a list or one geometry) converted to EPSG:4547 metres."""
    source = parse_crs(src)
    geoms = np.asarray(geometries, dtype=object)
    if source == EPSG4547:
        return geoms

    def to_4547(coords: FloatArray) -> FloatArray:
        px, py = transform(coords[:, 0], coords[:, 1], src=source, dst=EPSG4547)
        return np.column_stack((px, py))

    return cast(GeometryArray, np.asarray(shapely.transform(geoms, to_4547), dtype=object))


def from_projected(geometries: npt.ArrayLike, *, dst: str | int = WGS84) -> GeometryArray:
    """The inverse of `to_projected`: EPSG:4547 geometries converted to `dst` (WGS-84 by default)."""
    target = parse_crs(dst)
    geoms = np.asarray(geometries, dtype=object)
    if target == EPSG4547:
        return geoms

    def from_4547(coords: FloatArray) -> FloatArray:
        px, py = transform(coords[:, 0], coords[:, 1], src=EPSG4547, dst=target)
        return np.column_stack((px, py))

    return cast(GeometryArray, np.asarray(shapely.transform(geoms, from_4547), dtype=object))


def area_m2(geometries: npt.ArrayLike, *, src: str | int = WGS84) -> FloatArray:
    """Areas in square metres on the EPSG:4547 plane (scale error under 0.02% across Panyu, which lies
    within 0.8° of the central meridian)."""
    return cast(FloatArray, np.asarray(shapely.area(to_projected(geometries, src=src)), dtype=np.float64))


# ------------------------------------------------------------------------------------- vector kernels
#
# The offset is a sum of sines of x = lon − 105 and y = lat − 35 at angles π·v/30, π·v/12, π·v/3, π·v,
# 2π·v and 6π·v. All six are multiples of t = π·v/60 (2t, 5t, 20t, 60t, 120t, 360t), so one sin/cos pair
# per axis gives them all by the double- and triple-angle identities; numpy's sin costs ~20 ns a value here
# and the arithmetic ~1 ns, so this is ~2.5× cheaper than 12 sin calls. The rounding it adds is ~1e-17°.


def _harmonics(v: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """sin(πv/30), sin(πv/12), sin(πv/3), sin(πv), sin(2πv), sin(6πv)."""
    t = v * (math.pi / 60.0)
    s1, c1 = np.sin(t), np.cos(t)
    s2, c2 = 2.0 * s1 * c1, 1.0 - 2.0 * s1 * s1  # 2t = πv/30
    s4, c4 = 2.0 * s2 * c2, 1.0 - 2.0 * s2 * s2
    s5, c5 = s4 * c1 + c4 * s1, c4 * c1 - s4 * s1  # 5t = πv/12
    s10, c10 = 2.0 * s5 * c5, 1.0 - 2.0 * s5 * s5
    s20, c20 = 2.0 * s10 * c10, 1.0 - 2.0 * s10 * s10  # 20t = πv/3
    s60, c60 = s20 * (3.0 - 4.0 * s20 * s20), c20 * (4.0 * c20 * c20 - 3.0)  # 60t = πv
    s120 = 2.0 * s60 * c60  # 120t = 2πv
    s360 = s120 * (3.0 - 4.0 * s120 * s120)  # 360t = 6πv
    return s2, s5, s20, s60, s120, s360


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 offset (Δlon, Δlat) in degrees at WGS-84 points, without the outside-China test."""
    x = lon - 105.0
    y = lat - 35.0
    x30, x12, x3, x1, x2, x6 = _harmonics(x)
    y30, y12, y3, y1, _, _ = _harmonics(y)
    root = np.sqrt(np.abs(x))
    xy = 0.1 * x * y
    common = (40.0 / 3.0) * (x6 + x2)  # (20 sin 6πx + 20 sin 2πx)·2/3
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + xy + 0.2 * root + common
    dlat += (40.0 / 3.0) * y1 + (80.0 / 3.0) * y3 + (320.0 / 3.0) * y12 + (640.0 / 3.0) * y30
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + xy + 0.1 * root + common
    dlon += (40.0 / 3.0) * x1 + (80.0 / 3.0) * x3 + 100.0 * x12 + 200.0 * x30
    s = np.sin(lat * (math.pi / 180.0))
    s2 = s * s
    magic = 1.0 - _EE * s2
    sqrt_magic = np.sqrt(magic)
    cos_lat = np.sqrt(1.0 - s2)  # latitude is within 0.8–55.8°, so the cosine is positive
    dlat *= (180.0 / (_A * (1.0 - _EE) * math.pi)) * (magic * sqrt_magic)
    dlon *= (180.0 / (_A * math.pi)) * sqrt_magic / cos_lat
    return dlon, dlat


def _wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_bd_published(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_published(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Baidu's published approximate inverse: off by up to 2e-6° (~0.2 m), so only a first guess."""
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


Kernel = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]


def _invert(forward: Kernel, tx: FloatArray, ty: FloatArray, gx: FloatArray, gy: FloatArray) -> None:
    """Solve forward(g) = t from the guess g in place: g -= forward(g) − t, per point, until each point's
    residual is below INVERSE_TOLERANCE_DEG (at most INVERSE_MAX_ROUNDS rounds)."""
    active = np.arange(tx.size)
    for _ in range(INVERSE_MAX_ROUNDS):
        cx, cy = gx[active], gy[active]
        fx, fy = forward(cx, cy)
        ex, ey = fx - tx[active], fy - ty[active]
        gx[active] = cx - ex
        gy[active] = cy - ey
        active = active[np.maximum(np.abs(ex), np.abs(ey)) >= INVERSE_TOLERANCE_DEG]
        if active.size == 0:
            return


def _gcj_to_wgs(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_offset(lon, lat)
    wx, wy = lon - dlon, lat - dlat
    _invert(_wgs_to_gcj, lon, lat, wx, wy)
    return wx, wy


def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj_to_bd_published(lon, lat)


def _bd_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    gx, gy = _bd_to_gcj_published(lon, lat)
    _invert(_gcj_to_bd_published, lon, lat, gx, gy)
    return gx, gy


_KERNEL_CHAINS: Final[Mapping[tuple[CrsName, CrsName], tuple[Kernel, ...]]] = MappingProxyType(
    {
        (WGS84, GCJ02): (_wgs_to_gcj,),
        (WGS84, BD09): (_wgs_to_gcj, _gcj_to_bd),
        (GCJ02, WGS84): (_gcj_to_wgs,),
        (GCJ02, BD09): (_gcj_to_bd,),
        (BD09, GCJ02): (_bd_to_gcj,),
        (BD09, WGS84): (_bd_to_gcj, _gcj_to_wgs),
    }
)


def _offset_in_china(x: FloatArray, y: FloatArray, chain: tuple[Kernel, ...]) -> tuple[FloatArray, FloatArray]:
    """Apply the kernels in order to the points inside China (judged on the input), slice by slice."""
    inside = in_china(x, y)
    if inside.all():
        index = None
        sx, sy = x, y
        out_x, out_y = np.empty_like(x), np.empty_like(y)
    else:
        index = np.flatnonzero(inside)
        sx, sy = x[index], y[index]
        out_x, out_y = x.copy(), y.copy()
    rx, ry = np.empty_like(sx), np.empty_like(sy)
    for start in range(0, sx.size, _CHUNK):
        cx, cy = sx[start : start + _CHUNK], sy[start : start + _CHUNK]
        for kernel in chain:
            cx, cy = kernel(cx, cy)
        rx[start : start + _CHUNK] = cx
        ry[start : start + _CHUNK] = cy
    if index is None:
        return rx, ry
    out_x[index] = rx
    out_y[index] = ry
    return out_x, out_y


@cache
def _transformer(*, inverse: bool) -> pyproj.Transformer:
    """CGCS2000 lon/lat ↔ EPSG:4547 easting/northing. pyproj Transformers are thread-safe (≥3.1)."""
    if inverse:
        return pyproj.Transformer.from_crs(4547, _GEOGRAPHIC_EPSG, always_xy=True)
    return pyproj.Transformer.from_crs(_GEOGRAPHIC_EPSG, 4547, always_xy=True)


def _project(x: FloatArray, y: FloatArray, *, inverse: bool) -> tuple[FloatArray, FloatArray]:
    out_x, out_y = x.copy(), y.copy()
    _transformer(inverse=inverse).transform(out_x, out_y, inplace=True)
    return out_x, out_y


# ------------------------------------------------------------------------------------- scalar kernels
# Straight transcriptions of the published formulas on floats; the tests check the vector kernels above
# against them.

ScalarKernel = Callable[[float, float], tuple[float, float]]


def _gcj_offset_scalar(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    common = (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + common
    dlat += (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + common
    dlon += (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * pi)
    return dlon, dlat


def _wgs_to_gcj_scalar(lon: float, lat: float) -> tuple[float, float]:
    dlon, dlat = _gcj_offset_scalar(lon, lat)
    return lon + dlon, lat + dlat


def _invert_scalar(forward: ScalarKernel, tx: float, ty: float, gx: float, gy: float) -> tuple[float, float]:
    for _ in range(INVERSE_MAX_ROUNDS):
        fx, fy = forward(gx, gy)
        ex, ey = fx - tx, fy - ty
        gx, gy = gx - ex, gy - ey
        if max(abs(ex), abs(ey)) < INVERSE_TOLERANCE_DEG:
            break
    return gx, gy


def _gcj_to_wgs_scalar(lon: float, lat: float) -> tuple[float, float]:
    return _invert_scalar(_wgs_to_gcj_scalar, lon, lat, lon, lat)


def _gcj_to_bd_scalar(lon: float, lat: float) -> tuple[float, float]:
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _bd_to_gcj_scalar(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return _invert_scalar(_gcj_to_bd_scalar, lon, lat, z * math.cos(theta), z * math.sin(theta))


_SCALAR_CHAINS: Final[Mapping[tuple[CrsName, CrsName], tuple[ScalarKernel, ...]]] = MappingProxyType(
    {
        (WGS84, GCJ02): (_wgs_to_gcj_scalar,),
        (WGS84, BD09): (_wgs_to_gcj_scalar, _gcj_to_bd_scalar),
        (GCJ02, WGS84): (_gcj_to_wgs_scalar,),
        (GCJ02, BD09): (_gcj_to_bd_scalar,),
        (BD09, GCJ02): (_bd_to_gcj_scalar,),
        (BD09, WGS84): (_bd_to_gcj_scalar, _gcj_to_wgs_scalar),
    }
)
