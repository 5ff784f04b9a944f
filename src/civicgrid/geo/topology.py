"""Topology checks of a grid layer, vectorised with Shapely 2. Pure functions: geometries in, problems
out. Areas are measured in CGCS2000 / Gauss-Kruger (EPSG:4547) metres.

Problem messages are translated with gettext when the check runs. They are stored as produced
(`TopologyProblem.message`), so a stored report stays in the language of whoever ran the check.

Checks: every polygon valid; grids do not overlap beyond a tolerance; the grids of a community cover it
without gaps; no grid sticks out of its community; no slivers (tiny or needle-thin polygons)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from shapely.geometry.base import BaseGeometry

from civicgrid.geo import crs


@dataclass(frozen=True)
class TopologyConfig:
    overlap_tolerance_m2: float = 1.0
    gap_tolerance_m2: float = 1.0
    outside_tolerance_m2: float = 1.0
    # Pieces of overlap, gap or overhang no wider than this (metres) are digitising noise along a shared
    # edge (a vertex a millimetre off over a long border), not a problem a person must fix.
    width_tolerance_m: float = 0.1
    sliver_min_area_m2: float = 200.0
    # Polsby-Popper compactness 4πA/P²: 1 for a circle, ~0.785 for a square; below this a polygon is a needle.
    sliver_min_compactness: float = 0.02


@dataclass(frozen=True)
class GridInput:
    key: str  # the grid's code (or proposed code in a draft)
    community: str  # community org unit code
    geometry: BaseGeometry  # WGS-84


@dataclass
class Problem:
    kind: str  # invalid | overlap | gap | outside_parent | sliver | no_boundary
    severity: str  # error | warning
    keys: list[str]
    community: str
    message: str
    area_m2: float = 0.0
    lon: float | None = None
    lat: float | None = None
    geometry: BaseGeometry | None = None  # WGS-84, for the map


@dataclass
class TopologyReport:
    problems: list[Problem] = field(default_factory=list)
    grids: int = 0
    communities: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for problem in self.problems:
            out[problem.kind] += 1
        return dict(out)


# GEOS's validity reasons, in the user's language.
_REASONS = {
    "Ring Self-intersection": gettext_lazy("边界环自相交"),
    "Self-intersection": gettext_lazy("边界自相交"),
    "Too few points": gettext_lazy("顶点太少"),
    "Hole lies outside shell": gettext_lazy("内环（洞）位于外环之外"),
    "Nested holes": gettext_lazy("内环相互嵌套"),
    "Interior is disconnected": gettext_lazy("多边形内部被分割成不连通的部分"),
    "Nested shells": gettext_lazy("外环相互嵌套"),
    "Duplicate Rings": gettext_lazy("存在重复的环"),
    "Invalid Coordinate": gettext_lazy("坐标无效（非数字或无穷大）"),
    "Ring is not closed": gettext_lazy("边界环未闭合"),
}


def describe_invalid(geometry: BaseGeometry) -> str:
    """Why a polygon is invalid, in the user's language, with the location GEOS reports (lon lat)."""
    reason = shapely.is_valid_reason(geometry) or ""
    head, _sep, where = reason.partition("[")
    text = str(_REASONS.get(head.strip(), head.strip() or _("无效几何")))
    return _("%(reason)s（位置 %(where)s）") % {"reason": text, "where": where.rstrip("]")} if where else text


def _significant(pieces: np.ndarray, area_tolerance: float, width_tolerance: float) -> np.ndarray:
    """Mask of the pieces (EPSG:4547) larger than the area tolerance that are also wider than the width
    tolerance somewhere: eroding by half the width leaves something."""
    areas = shapely.area(pieces)
    mask = areas > area_tolerance
    if width_tolerance > 0 and mask.any():
        eroded = shapely.buffer(pieces[mask], -width_tolerance / 2)
        mask[np.flatnonzero(mask)] = ~shapely.is_empty(eroded)
    return mask


def _locate(problem_geom_projected: BaseGeometry) -> tuple[float, float, BaseGeometry]:
    """A representative point and the WGS-84 geometry of a problem area given in EPSG:4547."""
    wgs = crs.from_projected(np.asarray([problem_geom_projected], dtype=object))[0]
    point = shapely.point_on_surface(wgs)
    return float(point.x), float(point.y), wgs


def check_layer(
    grids: Sequence[GridInput],
    boundaries: dict[str, BaseGeometry] | None = None,
    config: TopologyConfig | None = None,
) -> TopologyReport:
    config = config or TopologyConfig()
    boundaries = boundaries or {}
    report = TopologyReport(grids=len(grids), communities=len({g.community for g in grids}))
    if not grids:
        return report
    keys = [g.key for g in grids]
    geoms_wgs = np.asarray([g.geometry for g in grids], dtype=object)
    projected = crs.to_projected(geoms_wgs)

    # 1. Validity. Later checks use a repaired copy so that one bad polygon does not hide the others.
    valid = shapely.is_valid(projected)
    for index in np.flatnonzero(~valid).tolist():
        reason = describe_invalid(geoms_wgs[index])
        point = shapely.point_on_surface(shapely.make_valid(geoms_wgs[index]))
        report.problems.append(
            Problem(
                "invalid",
                "error",
                [keys[index]],
                grids[index].community,
                _("网格 %(code)s 不是有效多边形：%(reason)s") % {"code": keys[index], "reason": reason},
                0.0,
                float(point.x),
                float(point.y),
            )
        )
    if not valid.all():
        projected = projected.copy()
        projected[~valid] = shapely.make_valid(projected[~valid])
    areas = shapely.area(projected)

    # 2. Overlaps: candidate pairs from an STRtree, intersection areas vectorised.
    tree = shapely.STRtree(projected)
    left, right = tree.query(projected, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if left.size:
        intersections = shapely.intersection(projected[left], projected[right])
        overlap_areas = shapely.area(intersections)
        real = _significant(intersections, config.overlap_tolerance_m2, config.width_tolerance_m)
        for i, j, geom, area, is_real in zip(
            left.tolist(), right.tolist(), intersections, overlap_areas, real, strict=True
        ):
            if is_real:
                lon, lat, wgs = _locate(geom)
                report.problems.append(
                    Problem(
                        "overlap",
                        "error",
                        [keys[i], keys[j]],
                        grids[i].community,
                        _("网格 %(code)s 与 %(other)s 重叠 %(area).1f 平方米")
                        % {"code": keys[i], "other": keys[j], "area": area},
                        float(area),
                        lon,
                        lat,
                        wgs,
                    )
                )

    # 3. Slivers: tiny or needle-thin polygons.
    perimeters = shapely.length(projected)
    with np.errstate(divide="ignore", invalid="ignore"):
        compactness = np.where(perimeters > 0, 4 * np.pi * areas / perimeters**2, 0.0)
    for index in np.flatnonzero(
        (areas < config.sliver_min_area_m2) | (compactness < config.sliver_min_compactness)
    ).tolist():
        point = shapely.point_on_surface(geoms_wgs[index])
        report.problems.append(
            Problem(
                "sliver",
                "error",
                [keys[index]],
                grids[index].community,
                _("网格 %(code)s 疑似碎片：面积 %(area).1f 平方米，紧凑度 %(compactness).3f")
                % {"code": keys[index], "area": areas[index], "compactness": compactness[index]},
                float(areas[index]),
                float(point.x),
                float(point.y),
                geoms_wgs[index],
            )
        )

    # 4. Per community: gaps, and grids sticking out of the community boundary.
    by_community: dict[str, list[int]] = defaultdict(list)
    for position, grid in enumerate(grids):
        by_community[grid.community].append(position)
    boundary_codes = [c for c in by_community if c in boundaries]
    projected_boundaries = dict(
        zip(
            boundary_codes,
            crs.to_projected(np.asarray([boundaries[c] for c in boundary_codes], dtype=object)),
            strict=True,
        )
    )
    for community, members in by_community.items():
        union = shapely.union_all(projected[members])
        parent = projected_boundaries.get(community)
        if parent is None:
            report.problems.append(
                Problem(
                    "no_boundary",
                    "warning",
                    [keys[i] for i in members[:3]],
                    community,
                    _("社区 %(community)s 没有边界数据：只检查网格之间的缝隙，未检查是否超出社区")
                    % {"community": community},
                )
            )
            gaps = _holes(union)
        else:
            gaps = shapely.difference(parent, union)
            outside = shapely.difference(projected[members], parent)
            outside_areas = shapely.area(outside)
            real = _significant(outside, config.outside_tolerance_m2, config.width_tolerance_m)
            for index, geom, area, is_real in zip(members, outside, outside_areas, real, strict=True):
                if is_real:
                    lon, lat, wgs = _locate(geom)
                    report.problems.append(
                        Problem(
                            "outside_parent",
                            "error",
                            [keys[index]],
                            community,
                            _("网格 %(code)s 超出社区 %(community)s 边界 %(area).1f 平方米")
                            % {"code": keys[index], "community": community, "area": area},
                            float(area),
                            lon,
                            lat,
                            wgs,
                        )
                    )
        parts = shapely.get_parts(gaps)
        real = _significant(parts, config.gap_tolerance_m2, config.width_tolerance_m)
        for part, is_real in zip(parts, real, strict=True):
            area = float(shapely.area(part))
            if is_real:
                lon, lat, wgs = _locate(part)
                report.problems.append(
                    Problem(
                        "gap",
                        "error",
                        [],
                        community,
                        _("社区 %(community)s 内有 %(area).1f 平方米未被任何网格覆盖")
                        % {"community": community, "area": area},
                        area,
                        lon,
                        lat,
                        wgs,
                    )
                )
    return report


def _holes(union: BaseGeometry) -> BaseGeometry:
    """The interior holes of a union of grids: the gaps when no community boundary is known."""
    holes: list[shapely.Polygon] = []
    for polygon in shapely.get_parts(union):
        if isinstance(polygon, shapely.Polygon):
            holes.extend(shapely.Polygon(ring) for ring in polygon.interiors)
    return shapely.GeometryCollection(holes) if holes else shapely.GeometryCollection()
