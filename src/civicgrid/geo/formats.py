"""Reading and writing grid layer files: GeoJSON (RFC 7946), ESRI Shapefile (zipped) and CSV with WKT.

Reading returns raw features in the file's coordinate system together with that system's name; the
import service validates and converts them. Every problem names the feature (its number in the file and,
where known, its code) and is written in the language of the request (gettext)."""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import shapefile  # pyshp
import shapely
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from civicgrid.geo import crs as crs_module

MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class FeatureError:
    index: int  # 1-based feature number in the file; 0 = the file as a whole
    field: str
    problem: str
    code: str = ""

    def __str__(self) -> str:
        if self.index == 0:
            return self.problem
        values = {"index": self.index, "code": self.code, "field": self.field, "problem": self.problem}
        if self.code:
            return _("第 %(index)s 个要素（%(code)s），%(field)s：%(problem)s") % values
        return _("第 %(index)s 个要素，%(field)s：%(problem)s") % values


class LayerFileError(Exception):
    def __init__(self, errors: Sequence[FeatureError]):
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors[:5]))


@dataclass
class RawFeature:
    index: int
    properties: dict[str, Any]
    geometry: BaseGeometry | None
    geometry_error: str = ""


@dataclass
class LayerFile:
    features: list[RawFeature]
    crs: str
    encoding: str = "utf-8"
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExportFeature:
    code: str
    name: str
    parent_code: str
    kind: str
    households: int | None
    geometry: BaseGeometry  # WGS-84
    extra: dict[str, Any] = field(default_factory=dict)


# --- reading -----------------------------------------------------------------------------------------


def read_layer_file(data: bytes, filename: str, *, crs: str | None = None) -> LayerFile:
    """Read a GeoJSON or zipped Shapefile. `crs` is the user's choice, used when the file names none."""
    if not data:
        raise LayerFileError([FeatureError(0, "file", _("文件“%(file)s”是空的") % {"file": filename})])
    if len(data) > MAX_FILE_BYTES:
        problem = _("文件“%(file)s”超过 %(mb)s MB") % {"file": filename, "mb": MAX_FILE_BYTES // 2**20}
        raise LayerFileError([FeatureError(0, "file", problem)])
    suffix = PurePosixPath(filename.lower()).suffix
    if data[:4] == b"PK\x03\x04" or suffix == ".zip":
        return read_shapefile_zip(data, filename, crs=crs)
    if suffix in (".geojson", ".json", "") or data.lstrip()[:1] == b"{":
        return read_geojson(data, filename, crs=crs)
    problem = _("无法识别“%(file)s”的格式：请上传 GeoJSON 或 Shapefile（zip）") % {"file": filename}
    raise LayerFileError([FeatureError(0, "file", problem)])


def crs_error_text(exc: ValueError) -> str:
    """`crs.parse_crs`'s refusal in the user's language. Its messages are all "不支持的坐标系：<what>";
    the part after the colon names the system and needs no translation."""
    text = str(exc)
    prefix = "不支持的坐标系："
    what = text[len(prefix) :] if text.startswith(prefix) else text
    if what == "（空）":
        what = pgettext("empty value", "（空）")
    return _("不支持的坐标系：%(crs)s") % {"crs": what}


def _parse_crs_or_fail(value: str, filename: str) -> str:
    try:
        return crs_module.parse_crs(value)
    except ValueError as exc:
        problem = _("%(file)s：%(problem)s") % {"file": filename, "problem": crs_error_text(exc)}
        raise LayerFileError([FeatureError(0, "crs", problem)]) from None


def _decode_geometry(index: int, geometry: Any) -> tuple[BaseGeometry | None, str]:
    if geometry is None:
        return None, _("缺少几何")
    try:
        geom = shape(geometry)
    except Exception as exc:  # malformed coordinates of any kind
        return None, _("几何无法解析（%(error)s）") % {"error": f"{type(exc).__name__}: {exc}"}
    return geom, ""


def read_geojson(data: bytes, filename: str, *, crs: str | None = None) -> LayerFile:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = _("%(file)s 不是有效的 GeoJSON：%(error)s") % {"file": filename, "error": exc}
        raise LayerFileError([FeatureError(0, "file", problem)]) from None
    if not isinstance(document, dict):
        raise LayerFileError([FeatureError(0, "file", _("%(file)s 不是 GeoJSON 对象") % {"file": filename})])
    kind = document.get("type")
    if kind == "FeatureCollection":
        raw_features = document.get("features")
    elif kind == "Feature":
        raw_features = [document]
    else:
        problem = _("%(file)s 的类型为“%(kind)s”，应为 FeatureCollection") % {"file": filename, "kind": kind}
        raise LayerFileError([FeatureError(0, "file", problem)])
    # RFC 7946 has no "crs" member and means WGS-84; older files (and some Chinese tools) still carry
    # one, which we honour. Otherwise the user's choice applies, then WGS-84.
    named = document.get("crs")
    source_crs = "wgs84"
    if isinstance(named, dict):
        name = (named.get("properties") or {}).get("name") or ""
        source_crs = _parse_crs_or_fail(str(name), filename)
    elif crs:
        source_crs = _parse_crs_or_fail(crs, filename)
    if not isinstance(raw_features, list) or not raw_features:
        raise LayerFileError([FeatureError(0, "file", _("%(file)s 中没有要素") % {"file": filename})])
    features = []
    for index, raw in enumerate(raw_features, start=1):
        if not isinstance(raw, dict) or raw.get("type") != "Feature":
            features.append(RawFeature(index, {}, None, _("不是 GeoJSON Feature")))
            continue
        properties = raw.get("properties") or {}
        geom, error = _decode_geometry(index, raw.get("geometry"))
        features.append(RawFeature(index, dict(properties) if isinstance(properties, dict) else {}, geom, error))
    return LayerFile(features, source_crs)


def _zip_members(data: bytes, filename: str) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = {}
        for info in archive.infolist():
            if info.is_dir() or info.filename.startswith("__MACOSX"):
                continue
            if info.file_size > MAX_FILE_BYTES:
                problem = _("%(file)s 中的 %(member)s 过大") % {"file": filename, "member": info.filename}
                raise LayerFileError([FeatureError(0, "file", problem)])
            members[info.filename] = archive.read(info)
        return members
    except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as exc:
        problem = _("%(file)s 不是有效的 zip 压缩包（%(error)s）") % {"file": filename, "error": exc}
        raise LayerFileError([FeatureError(0, "file", problem)]) from None


def _pick(members: dict[str, bytes], stem: str, ext: str) -> bytes | None:
    for name, content in members.items():
        path = PurePosixPath(name)
        if str(path.with_suffix("")).lower() == stem and path.suffix.lower() == ext:
            return content
    return None


def _detect_dbf_encoding(dbf: bytes, cpg: bytes | None) -> str:
    """The .cpg names the encoding when present. Chinese GIS data often comes without one, in GBK: if
    the attribute bytes are not valid UTF-8, read them as GB18030 (a superset of GBK)."""
    if cpg:
        declared = cpg.decode("ascii", "ignore").strip().lower()
        aliases = {
            "utf-8": "utf-8",
            "utf8": "utf-8",
            "65001": "utf-8",
            "936": "gb18030",
            "gbk": "gb18030",
            "gb2312": "gb18030",
            "gb18030": "gb18030",
            "cp936": "gb18030",
        }
        if declared in aliases:
            return aliases[declared]
    header_length = int.from_bytes(dbf[8:10], "little") if len(dbf) >= 10 else 0
    body = dbf[header_length:]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def read_shapefile_zip(data: bytes, filename: str, *, crs: str | None = None) -> LayerFile:
    members = _zip_members(data, filename)
    shp_names = [n for n in members if n.lower().endswith(".shp")]
    if not shp_names:
        raise LayerFileError([FeatureError(0, "file", _("%(file)s 中没有 .shp 文件") % {"file": filename})])
    if len(shp_names) > 1:
        names = pgettext("list separator", "、").join(shp_names)
        problem = _("%(file)s 中有多个 .shp 文件：%(names)s") % {"file": filename, "names": names}
        raise LayerFileError([FeatureError(0, "file", problem)])
    stem = str(PurePosixPath(shp_names[0]).with_suffix("")).lower()
    shp, shx, dbf = (_pick(members, stem, ext) for ext in (".shp", ".shx", ".dbf"))
    missing = [ext for ext, content in ((".shx", shx), (".dbf", dbf)) if content is None]
    if missing:
        names = pgettext("list separator", "、").join(missing)
        problem = _("%(file)s 缺少 %(names)s 文件") % {"file": filename, "names": names}
        raise LayerFileError([FeatureError(0, "file", problem)])
    if shp is None or dbf is None:  # unreachable: both were checked above; keeps the types exact
        raise LayerFileError([FeatureError(0, "file", _("%(file)s 缺少 .shp 或 .dbf 文件") % {"file": filename})])
    prj = _pick(members, stem, ".prj")
    source_crs = "wgs84"
    if prj:
        source_crs = _parse_crs_or_fail(prj.decode("utf-8", "replace"), filename)
    elif crs:
        source_crs = _parse_crs_or_fail(crs, filename)
    encoding = _detect_dbf_encoding(dbf, _pick(members, stem, ".cpg"))
    try:
        reader = shapefile.Reader(
            shp=io.BytesIO(shp), shx=io.BytesIO(shx or b""), dbf=io.BytesIO(dbf), encoding=encoding
        )
        field_names = [f[0] for f in reader.fields[1:]]
        features = []
        for index, record in enumerate(reader.iterShapeRecords(), start=1):
            properties = dict(zip(field_names, list(record.record), strict=False))
            geo = record.shape.__geo_interface__ if record.shape.shapeType != shapefile.NULL else None
            geom, error = _decode_geometry(index, geo)
            features.append(RawFeature(index, properties, geom, error))
    except (shapefile.ShapefileException, UnicodeDecodeError, ValueError, struct.error) as exc:
        problem = _("%(file)s 中的 Shapefile 已损坏（%(error)s）") % {"file": filename, "error": exc}
        raise LayerFileError([FeatureError(0, "file", problem)]) from None
    if not features:
        raise LayerFileError([FeatureError(0, "file", _("%(file)s 中没有要素") % {"file": filename})])
    notes = [] if prj else [_("%(file)s 没有 .prj 文件，按 %(crs)s 读取") % {"file": filename, "crs": source_crs}]
    return LayerFile(features, source_crs, encoding, notes)


# --- converting --------------------------------------------------------------------------------------


def transform_geometries(geoms: Sequence[BaseGeometry], *, src: str, dst: str) -> list[BaseGeometry]:
    """Convert geometries between supported systems, all coordinates in one vectorised call."""
    if src == dst or not geoms:
        return list(geoms)
    array = np.asarray(geoms, dtype=object)

    def convert(coords: np.ndarray) -> np.ndarray:
        xs, ys = crs_module.transform(coords[:, 0], coords[:, 1], src=src, dst=dst)
        return np.column_stack([xs, ys])

    return list(shapely.transform(array, convert))


# --- writing -----------------------------------------------------------------------------------------


def _oriented(geom: BaseGeometry, *, exterior_cw: bool) -> BaseGeometry:
    return shapely.orient_polygons(geom, exterior_cw=exterior_cw)


def write_geojson(
    features: Iterable[ExportFeature], *, crs: str = "wgs84", metadata: dict[str, Any] | None = None
) -> bytes:
    """RFC 7946 FeatureCollection (counter-clockwise exteriors). A non-WGS-84 system is named in a
    `crs` member so that the file says what it holds (RFC 7946 readers assume WGS-84)."""
    items = list(features)
    geoms = transform_geometries([f.geometry for f in items], src="wgs84", dst=crs)
    out = []
    for feature, geom in zip(items, geoms, strict=True):
        properties = {
            "code": feature.code,
            "name": feature.name,
            "parent_code": feature.parent_code,
            "kind": feature.kind,
            "households": feature.households,
            **feature.extra,
        }
        out.append(
            {"type": "Feature", "properties": properties, "geometry": mapping(_oriented(geom, exterior_cw=False))}
        )
    document: dict[str, Any] = {"type": "FeatureCollection", "features": out}
    if crs != "wgs84":
        document["crs"] = {"type": "name", "properties": {"name": crs_module.crs_label(crs)}}
    if metadata:
        document["metadata"] = metadata
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write_shapefile_zip(features: Iterable[ExportFeature], *, crs: str = "wgs84", stem: str = "grids") -> bytes:
    """A zipped Shapefile with UTF-8 attributes (.cpg says so) and a .prj where the system has a WKT."""
    items = list(features)
    geoms = transform_geometries([f.geometry for f in items], src="wgs84", dst=crs)
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    writer = shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON, encoding="utf-8")
    writer.field("CODE", "C", size=32)
    writer.field("NAME", "C", size=254)
    writer.field("PARENT", "C", size=32)
    writer.field("KIND", "C", size=16)
    writer.field("HOUSEHOLD", "N", size=10, decimal=0)
    for feature, geom in zip(items, geoms, strict=True):
        rings: list[list[tuple[float, float]]] = []
        for polygon in getattr(_oriented(geom, exterior_cw=True), "geoms", [geom]):
            polygon = _oriented(polygon, exterior_cw=True)
            rings.append([tuple(c) for c in polygon.exterior.coords])
            rings.extend([tuple(c) for c in ring.coords] for ring in polygon.interiors)
        writer.poly(rings)
        writer.record(feature.code, feature.name, feature.parent_code, feature.kind, feature.households)
    writer.close()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}.shp", shp.getvalue())
        archive.writestr(f"{stem}.shx", shx.getvalue())
        archive.writestr(f"{stem}.dbf", dbf.getvalue())
        archive.writestr(f"{stem}.cpg", "UTF-8")
        wkt = crs_module.crs_wkt(crs)
        if wkt:
            archive.writestr(f"{stem}.prj", wkt)
    return buffer.getvalue()


def write_csv(features: Iterable[ExportFeature], *, crs: str = "wgs84") -> bytes:
    """CSV with a WKT geometry column, UTF-8 with BOM so that spreadsheet software shows the Chinese."""
    items = list(features)
    geoms = transform_geometries([f.geometry for f in items], src="wgs84", dst=crs)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["code", "name", "parent_code", "kind", "households", "crs", "wkt"])
    for feature, geom in zip(items, geoms, strict=True):
        writer.writerow(
            [
                feature.code,
                feature.name,
                feature.parent_code,
                feature.kind,
                "" if feature.households is None else feature.households,
                crs,
                shapely.to_wkt(geom, rounding_precision=-1),
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
